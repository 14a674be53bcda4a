//! `bud_trace!` … `bud_fatal!`, `bud_log!`, `bud_span!` and `bud_exception!`: parsing (`LogInput`) apart from
//! code generation (`expand`).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token};

use crate::args::{self, ArgSpec, ArgType, ArgValue, Seen};
use crate::capture::{self, NamedArg, internal};
use crate::gate::{Gate, Gated};
use crate::level::Level;
use crate::template;

/// Which macro is expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A log at a level fixed by the macro's name (`bud_info!` → `Info`).
    Log(Level),
    /// `bud_log!(level, …)`.
    LogAt,
    /// `bud_span!`.
    Span,
    /// `bud_exception!(error, …)`.
    Exception,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Log(level) => level.macro_name(),
            Kind::LogAt => "bud_log!",
            Kind::Span => "bud_span!",
            Kind::Exception => "bud_exception!",
        }
    }

    /// The options this macro accepts.
    fn options(self) -> &'static [&'static str] {
        match self {
            Kind::Span => &["_tags", "_span_name", "_level", "_parent", "_links"],
            Kind::Log(_) | Kind::LogAt | Kind::Exception => &["_tags", "_parent"],
        }
    }

    fn example(self) -> &'static str {
        match self {
            Kind::LogAt => "bud_log!(Level::Warn, \"user {user_id} logged in\")",
            Kind::Exception => "bud_exception!(&err, \"request {request_id} failed\")",
            Kind::Span => "bud_span!(\"processing {count} items\")",
            _ => "bud_info!(\"user {user_id} logged in\")",
        }
    }
}

/// The parsed input of a log or span macro.
pub(crate) struct LogInput {
    instance: Option<Expr>,
    level: Option<Expr>,
    error: Option<Expr>,
    template: LitStr,
    parsed: template::Template,
    args: Vec<NamedArg>,
    options: Options,
}

#[derive(Default)]
struct Options {
    tags: Vec<LitStr>,
    span_name: Option<LitStr>,
    level: Option<LevelOption>,
    parent: Option<Expr>,
    links: Vec<Expr>,
}

enum LevelOption {
    Named(Level, Span),
    Expr(Expr),
}

/// Every option of the log and span macros (which of them a macro takes: [`Kind::options`]).
const OPTIONS: [ArgSpec; 5] = [
    ArgSpec::new("_tags", ArgType::Strs, "`_tags` expects an array of string literals, e.g. `_tags = [\"billing\"]`")
        .element("`_tags` expects string literals, e.g. `_tags = [\"billing\"]`"),
    ArgSpec::new("_span_name", ArgType::Str, "`_span_name` expects a string literal, e.g. `_span_name = \"chat\"`"),
    ArgSpec::new("_level", ArgType::Level { or_expr: true }, "`_level` expects a level, e.g. `_level = \"debug\"`"),
    ArgSpec::new("_parent", ArgType::Expr, "`_parent` expects a context or a span, e.g. `_parent = &request_span`"),
    ArgSpec::new(
        "_links",
        ArgType::Exprs,
        "`_links` expects an array of spans or span contexts, e.g. `_links = [&other]`",
    ),
];

impl LogInput {
    pub(crate) fn parse(input: ParseStream<'_>, kind: Kind) -> syn::Result<LogInput> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                format!("missing template: `{}` needs a string literal, e.g. `{}`", kind.name(), kind.example()),
            ));
        }
        let mut instance = None;
        let mut level = None;
        let mut error = None;
        if input.peek(LitStr) && matches!(kind, Kind::LogAt | Kind::Exception) {
            let what = if kind == Kind::LogAt { "a level" } else { "the error to record" };
            return Err(input.error(format!(
                "`{}` takes {what} before the template: `{}`",
                kind.name(),
                kind.example()
            )));
        }
        if !input.peek(LitStr) {
            let first: Expr = input.parse()?;
            if input.peek(Token![=>]) {
                input.parse::<Token![=>]>()?;
                instance = Some(first);
            } else {
                Self::leading_argument(input, kind, first, &mut level, &mut error)?;
            }
        }
        if kind == Kind::LogAt && level.is_none() {
            let first: Expr = input.parse()?;
            Self::leading_argument(input, kind, first, &mut level, &mut error)?;
        }
        if kind == Kind::Exception && error.is_none() {
            let first: Expr = input.parse()?;
            Self::leading_argument(input, kind, first, &mut level, &mut error)?;
        }
        if (kind == Kind::LogAt && level.is_none()) || (kind == Kind::Exception && error.is_none()) {
            return Err(input.error(format!("expected arguments like `{}`", kind.example())));
        }
        let template: LitStr = input.parse().map_err(|err| {
            syn::Error::new(
                err.span(),
                format!(
                    "expected a string literal template, e.g. `{}`: templates are checked at compile time",
                    kind.example()
                ),
            )
        })?;
        // The template is checked before the arguments: its errors explain the arguments' (`"{}", 42`).
        let parsed = template::parse(&template)?;

        let mut args: Vec<NamedArg> = Vec::new();
        let mut options = Options::default();
        let mut seen_options = Seen::default();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let name: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                let name_string = name.to_string();
                if name_string.starts_with('_') {
                    seen_options.first(&name, |option| format!("duplicate option `{option}`"))?;
                    Self::parse_option(input, kind, &name, &mut options)?;
                } else {
                    if args.iter().any(|arg| arg.name == name_string) {
                        return Err(syn::Error::new(
                            name.span(),
                            format!("duplicate argument `{name_string}`: each value can be given once"),
                        ));
                    }
                    let expr: Expr = input.parse()?;
                    let literal = match &expr {
                        Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(literal), .. }) => Some(literal.clone()),
                        _ => None,
                    };
                    args.push(NamedArg {
                        name: name_string,
                        name_span: name.span(),
                        expr: capture::expr_tokens(&expr),
                        literal,
                    });
                }
            } else {
                let expr: Expr = input.parse()?;
                let name = shorthand_name(&expr).ok_or_else(|| {
                    syn::Error::new(
                        expr.span(),
                        "expected `name = value` or a variable (`order`, `order.id`) to record as an attribute",
                    )
                })?;
                if args.iter().any(|arg| arg.name == name) {
                    return Err(syn::Error::new(
                        expr.span(),
                        format!("duplicate argument `{name}`: each value can be given once"),
                    ));
                }
                args.push(NamedArg { name, name_span: expr.span(), expr: capture::expr_tokens(&expr), literal: None });
            }
        }
        Ok(LogInput { instance, level, error, template, parsed, args, options })
    }

    fn leading_argument(
        input: ParseStream<'_>,
        kind: Kind,
        first: Expr,
        level: &mut Option<Expr>,
        error: &mut Option<Expr>,
    ) -> syn::Result<()> {
        match kind {
            Kind::LogAt if level.is_none() => *level = Some(first),
            Kind::Exception if error.is_none() => *error = Some(first),
            _ => {
                return Err(syn::Error::new(
                    first.span(),
                    format!(
                        "expected a string literal template, e.g. `{}`: templates are checked at compile time",
                        kind.example()
                    ),
                ));
            }
        }
        input.parse::<Token![,]>().map_err(|err| {
            syn::Error::new(err.span(), format!("expected `,` and a template, e.g. `{}`", kind.example()))
        })?;
        Ok(())
    }

    fn parse_option(input: ParseStream<'_>, kind: Kind, name: &Ident, options: &mut Options) -> syn::Result<()> {
        let option = name.to_string();
        let Some(spec) = OPTIONS.iter().find(|spec| spec.name == option && kind.options().contains(&spec.name)) else {
            let message = if OPTIONS.iter().any(|spec| spec.name == option) {
                format!("`{option}` does not apply to `{}`: it accepts {}", kind.name(), list(kind.options()))
            } else {
                format!("unknown option `{option}`: `{}` accepts {}", kind.name(), list(kind.options()))
            };
            return Err(syn::Error::new(name.span(), message));
        };
        // Each option has a value type of its own (see `OPTIONS`).
        match args::parse_value(input, spec)? {
            ArgValue::Strs(tags) => options.tags = tags,
            ArgValue::Str(span_name) => options.span_name = Some(span_name),
            ArgValue::Level(level, span) => options.level = Some(LevelOption::Named(level, span)),
            ArgValue::LevelExpr(expr) => options.level = Some(LevelOption::Expr(expr)),
            ArgValue::Expr(parent) => options.parent = Some(parent),
            ArgValue::Exprs(links) => options.links = links,
            ArgValue::Flag | ArgValue::Bool(_) | ArgValue::Names(_) => {}
        }
        Ok(())
    }
}

fn list(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
    quoted.join(", ")
}

/// `order` → `order`, `order.id` → `order.id`; anything else is not a shorthand.
fn shorthand_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().map(Ident::to_string),
        Expr::Field(field) => {
            let base = shorthand_name(&field.base)?;
            let member = match &field.member {
                syn::Member::Named(ident) => ident.to_string(),
                syn::Member::Unnamed(index) => index.index.to_string(),
            };
            Some(format!("{base}.{member}"))
        }
        _ => None,
    }
}

/// Expands a parsed macro.
pub(crate) fn expand(input: LogInput, kind: Kind) -> syn::Result<TokenStream> {
    let list = internal("__bud_attrs");
    let captured = capture::capture(&input.template, &input.parsed, &input.args, &[], &list);
    let obs = internal("__bud_obs");
    let level = internal("__bud_level");
    let callsite = internal("__bud_callsite");

    let level_expr = match (kind, &input.level, &input.options.level) {
        (Kind::Log(level), _, _) => {
            let variant = level.variant(Span::call_site());
            quote!(::budobserve::Level::#variant)
        }
        (Kind::LogAt, Some(expr), _) => quote_spanned!(expr.span()=> #expr),
        (Kind::Exception, _, _) => quote!(::budobserve::Level::Error),
        (_, _, Some(LevelOption::Named(level, span))) => {
            let variant = level.variant(*span);
            quote!(::budobserve::Level::#variant)
        }
        (_, _, Some(LevelOption::Expr(expr))) => quote_spanned!(expr.span()=> #expr),
        _ => quote!(::budobserve::Level::Info),
    };
    let template_literal = &input.template;
    let span_name = match &input.options.span_name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let tags = &input.options.tags;
    let parent = input.options.parent.as_ref().map(
        |expr| quote_spanned!(expr.span()=> .parent(::budobserve::__private::ParentContext::parent_context(#expr))),
    );
    let links = input.options.links.iter().map(|expr| {
        quote_spanned!(expr.span()=>
            .link(::budobserve::__private::LinkTarget::link_context(#expr), ::std::vec::Vec::new())
        )
    });
    let Captured { bindings, defer, formatted, attributes, count } = captured;
    let tag_slot = usize::from(!tags.is_empty());
    let callsite_block = capture::callsite(
        &callsite,
        &quote!(#template_literal),
        &capture::fixed_message(&input.template, &input.parsed),
        &span_name,
        &quote!(::core::line!()),
        &quote!(::core::option::Option::None),
        tags,
    );

    // The error of `bud_exception!` is evaluated first, inside the level check like every argument.
    let span = internal("__bud_span");
    let (error_binding, record) = match kind {
        Kind::Exception => {
            let error = internal("__bud_error");
            let expr = input.error.as_ref().map(ToTokens::to_token_stream).unwrap_or_default();
            let error_span = input.error.as_ref().map_or_else(Span::call_site, Spanned::span);
            let record = quote_spanned!(error_span=>
                (&&&&::budobserve::__private::Wrap(#error)).__bud_error_kind().record(#span, #error)
            );
            (
                quote!(let #error = &(#expr);),
                quote!(|#span: &mut ::budobserve::BudSpan| {
                    #[allow(clippy::needless_borrow)]
                    #record;
                }),
            )
        }
        _ => (TokenStream::new(), quote!(|_: &mut ::budobserve::BudSpan| {})),
    };
    let has_options = input.options.parent.is_some() || !input.options.links.is_empty();
    let message_binding = internal("__bud_message");
    let message_and_list =
        capture::message_and_list(&defer, &formatted, count + tag_slot, &obs, &list, &message_binding, &attributes);
    // Without `_parent`/`_links`, straight to the span; with them, through the options builder.
    let start = match (kind, has_options) {
        (Kind::Span, false) => quote!(#obs.__span(#callsite, #level, #message_binding, #list, false)),
        (Kind::Span, true) => {
            quote!(#obs.__options(#callsite, #level, #message_binding, #list) #parent #(#links)* .start())
        }
        (_, false) => quote!(#obs.__log(#callsite, #level, #message_binding, #list, #record)),
        (_, true) => quote!(#obs.__options(#callsite, #level, #message_binding, #list) #parent .log_with(#record)),
    };
    let body = quote! {
        #error_binding
        #bindings
        #message_and_list
        #start
    };
    let gated = Gate {
        callsite: &callsite,
        instance: input.instance.as_ref(),
        level: level_expr,
        gated: if kind == Kind::Span { Gated::Span { new_trace: false } } else { Gated::Log },
        options: has_options,
        body,
    }
    .expand();
    Ok(quote! {{
        #[allow(unused_imports)]
        use ::budobserve::__private::kinds::*;
        #callsite_block
        #gated
    }})
}

use capture::Captured;

/// `__bud_format!`: the message alone, as the log macros format it (for benchmarks and tests of formatting).
pub(crate) fn expand_format(input: LogInput) -> TokenStream {
    let list = internal("__bud_unused");
    let Captured { bindings, formatted, .. } =
        capture::capture(&input.template, &input.parsed, &input.args, &[], &list);
    quote! {{
        #[allow(unused_imports)]
        use ::budobserve::__private::kinds::*;
        #bindings
        #formatted
    }}
}

/// Parses with the kind known (syn's `Parse` has no context).
pub(crate) fn parse_input(tokens: proc_macro::TokenStream, kind: Kind) -> syn::Result<LogInput> {
    syn::parse::Parser::parse(|input: ParseStream<'_>| LogInput::parse(input, kind), tokens)
}

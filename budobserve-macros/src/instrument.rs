//! `#[instrument]`: the attribute's arguments are parsed into [`InstrumentArgs`] (in one place), then
//! [`expand`] writes the span around the function.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Block, Expr, FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Stmt, Type};

use crate::args::{self, ArgSpec, ArgType, ArgValue, Wording};
use crate::capture::{self, ExtraValue, internal};
use crate::gate::{Gate, Gated};
use crate::level::Level;
use crate::template;

const ARGUMENTS: &str =
    "`msg_template`, `span_name`, `tags`, `level`, `extract_args`, `record_return`, `new_trace`, `allow_generator`";

/// The arguments `#[instrument]` accepts.
const ARGS: [ArgSpec; 8] = [
    ArgSpec::new(
        "msg_template",
        ArgType::Str,
        "`msg_template` expects a value like `msg_template = \"chat with {model}\"`",
    )
    .example("`msg_template = \"chat with {model}\"`"),
    ArgSpec::new("span_name", ArgType::Str, "`span_name` expects a value like `span_name = \"chat\"`")
        .example("`span_name = \"chat\"`"),
    ArgSpec::new("tags", ArgType::Strs, "`tags` expects a value like `tags = [\"llm\"]`").example("`tags = [\"llm\"]`"),
    ArgSpec::new("level", ArgType::Level { or_expr: false }, "`level` expects a value like `level = \"debug\"`")
        .example("`level = \"debug\"`"),
    ArgSpec::new(
        "extract_args",
        ArgType::NamesOrBool,
        "`extract_args` expects `true`, `false` or a list of argument names like `[request, user_id]`",
    )
    .element("`extract_args` lists argument names, like `[request, user_id]`")
    .example("`extract_args = [request, user_id]`"),
    ArgSpec::new("record_return", ArgType::Flag, ""),
    ArgSpec::new("new_trace", ArgType::Flag, ""),
    ArgSpec::new("allow_generator", ArgType::Flag, ""),
];

const WORDING: Wording = Wording {
    not_a_name: "expected an argument of `#[instrument]`: one of `msg_template`, `span_name`, `tags`, `level`, \
                 `extract_args`, `record_return`, `new_trace`, `allow_generator`",
    unknown: |key| match tracing_spelling(key) {
        Some(instead) => format!("`{key}` is an argument of `tracing`'s `#[instrument]`; here, {instead}"),
        None => format!("unknown argument `{key}` of `#[instrument]`: expected one of {ARGUMENTS}"),
    },
    duplicate: |key| format!("duplicate argument `{key}`: give it once"),
    missing_equals: |key, example| format!("expected `=` after `{key}`, e.g. {example}"),
};

/// What to write instead of an argument of `tracing`'s `#[instrument]`.
fn tracing_spelling(key: &str) -> Option<&'static str> {
    Some(match key {
        "skip" | "skip_all" => {
            "name the arguments to record with `extract_args = [a, b]` (`extract_args = []` records none); the others \
             are skipped"
        }
        "ret" => "write `record_return` to record the returned value",
        "err" => "remove it: an `Err` is recorded by itself (status error, an `exception` event)",
        "name" => "write `span_name = \"…\"` (or `msg_template = \"…\"` for the message)",
        "fields" => {
            "the arguments are recorded by `extract_args`, constant labels by `tags = [\"…\"]`; record other values \
             inside the function (`bud_info!`, `bud_span!`)"
        }
        "target" => "remove it: the target is the module path, which level directives match",
        "parent" | "follows_from" => "remove it: the span's parent is the current span; `new_trace` starts a trace",
        _ => return None,
    })
}

/// Which arguments become attributes.
#[derive(Default)]
enum ExtractArgs {
    /// Every argument but `self` whose value has an attribute form (the default).
    #[default]
    All,
    None,
    /// These, each of which must have an attribute form.
    Only(Vec<Ident>),
}

/// The parsed arguments of `#[instrument(…)]`.
#[derive(Default)]
pub(crate) struct InstrumentArgs {
    msg_template: Option<LitStr>,
    span_name: Option<LitStr>,
    tags: Vec<LitStr>,
    level: Option<(Level, Span)>,
    extract_args: ExtractArgs,
    /// `record_return`, where it was written.
    record_return: Option<proc_macro2::Span>,
    new_trace: bool,
    allow_generator: bool,
}

impl Parse for InstrumentArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut parsed = InstrumentArgs::default();
        for arg in args::parse_list(input, &ARGS, &WORDING)? {
            // Each argument's value has the type its spec in `ARGS` gives.
            match (arg.name.to_string().as_str(), arg.value) {
                ("msg_template", ArgValue::Str(template)) => parsed.msg_template = Some(template),
                ("span_name", ArgValue::Str(name)) => parsed.span_name = Some(name),
                ("tags", ArgValue::Strs(tags)) => parsed.tags = tags,
                ("level", ArgValue::Level(level, span)) => parsed.level = Some((level, span)),
                ("extract_args", ArgValue::Bool(all)) => {
                    parsed.extract_args = if all { ExtractArgs::All } else { ExtractArgs::None };
                }
                ("extract_args", ArgValue::Names(names)) => parsed.extract_args = ExtractArgs::Only(names),
                ("record_return", _) => parsed.record_return = Some(arg.name.span()),
                ("new_trace", _) => parsed.new_trace = true,
                ("allow_generator", _) => parsed.allow_generator = true,
                _ => {}
            }
        }
        Ok(parsed)
    }
}

/// Expands `#[instrument(args)]` on `item`.
pub(crate) fn expand(args: InstrumentArgs, item: TokenStream) -> syn::Result<TokenStream> {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(err) => {
            if looks_like_function(&item) && has_body(&item) {
                // A body that does not parse: leave it to rustc, which reports the real error.
                return Ok(item);
            }
            let message = if looks_like_function(&item) {
                "`#[instrument]` needs a function with a body".to_owned()
            } else {
                "`#[instrument]` applies to functions and methods".to_owned()
            };
            return Err(syn::Error::new(err.span(), message));
        }
    };
    Ok(Instrumentation::new(args, function)?.expand())
}

/// A function to instrument, checked against its arguments: what its span is named and records.
struct Instrumentation {
    args: InstrumentArgs,
    function: ItemFn,
    /// The template as tokens: the literal, or `Calling <module>::<fn>` built with `module_path!()`.
    template_tokens: TokenStream,
    template: template::Template,
    literal: LitStr,
    /// The arguments recorded as attributes.
    extras: Vec<ExtraValue>,
}

impl Instrumentation {
    /// Checks the signature, the template's placeholders and `extract_args` against the function.
    fn new(args: InstrumentArgs, function: ItemFn) -> syn::Result<Instrumentation> {
        check_signature(&function, &args)?;
        let fn_name = function.sig.ident.to_string();
        let arguments = argument_names(&function);
        let has_self = function.sig.receiver().is_some();

        // The template: given (its placeholders must be arguments), or `Calling <module>::<fn>`.
        let (template_tokens, template, literal) = match &args.msg_template {
            Some(literal) => {
                let template = template::parse(literal)?;
                for hole in &template.holes {
                    let root = hole.root();
                    let known = arguments.iter().any(|(name, _)| name == root) || (root == "self" && has_self);
                    if !known {
                        let names: Vec<String> = arguments.iter().map(|(name, _)| format!("`{name}`")).collect();
                        let listed = if names.is_empty() { "it has none".to_owned() } else { names.join(", ") };
                        let guess = crate::args::closest(root, arguments.iter().map(|(name, _)| name.as_str()))
                            .map(|name| format!("; did you mean `{{{}}}`?", hole.key().replacen(root, name, 1)))
                            .unwrap_or_default();
                        return Err(syn::Error::new(
                            hole.span,
                            format!(
                                "`{{{}}}` is not an argument of `{fn_name}`: a template of `#[instrument]` can use the \
                                 function's arguments ({listed}){guess}",
                                hole.key()
                            ),
                        ));
                    }
                }
                (literal.to_token_stream(), template, literal.clone())
            }
            None => {
                let literal = LitStr::new(&format!("Calling {fn_name}"), function.sig.ident.span());
                let tokens = quote!(::core::concat!("Calling ", ::core::module_path!(), "::", #fn_name));
                let template = template::parse(&LitStr::new("", Span::call_site()))?;
                (tokens, template, literal)
            }
        };

        let extras: Vec<ExtraValue> = match &args.extract_args {
            ExtractArgs::All => arguments
                .iter()
                .map(|(name, span)| ExtraValue {
                    key: name.clone(),
                    expr: ident_tokens(name, *span),
                    span: *span,
                    strict: false,
                })
                .collect(),
            ExtractArgs::None => Vec::new(),
            ExtractArgs::Only(names) => {
                let mut extras = Vec::new();
                for name in names {
                    let key = name.to_string();
                    if key == "self" {
                        return Err(syn::Error::new(
                            name.span(),
                            "`self` is never extracted: name its fields in the template",
                        ));
                    }
                    if !arguments.iter().any(|(arg, _)| *arg == key) {
                        let names: Vec<String> = arguments.iter().map(|(name, _)| format!("`{name}`")).collect();
                        let guess = crate::args::closest(&key, arguments.iter().map(|(name, _)| name.as_str()))
                            .map(|name| format!("; did you mean `{name}`?"))
                            .unwrap_or_default();
                        return Err(syn::Error::new(
                            name.span(),
                            format!(
                                "`{key}` is not an argument of `{fn_name}` (its arguments: {}){guess}",
                                names.join(", ")
                            ),
                        ));
                    }
                    extras.push(ExtraValue { key, expr: quote!(#name), span: name.span(), strict: true });
                }
                extras
            }
        };
        Ok(Instrumentation { args, function, template_tokens, template, literal, extras })
    }

    /// The function with its span.
    fn expand(self) -> TokenStream {
        let Instrumentation { args, function, template_tokens, template, literal, extras } = self;
        let fn_name = function.sig.ident.to_string();
        let list = internal("__bud_attrs");
        let captured = capture::capture(&literal, &template, &[], &extras, &list);
        let capture::Captured { bindings, attributes, count, .. } = captured;
        // `code.function`, and the tags when there are any.
        let tag_slot = usize::from(!args.tags.is_empty());
        // Without a template of its own, the message is the default template, which has no placeholders: the export
        // side writes it from the callsite.
        let (defer, formatted) = if args.msg_template.is_some() {
            captured_message(&literal, &template)
        } else {
            (quote!(true), quote!(::std::borrow::Cow::Borrowed(#template_tokens)))
        };
        let message_binding = internal("__bud_message");
        let obs = internal("__bud_obs");
        let level = internal("__bud_level");
        let callsite = internal("__bud_callsite");
        let span = internal("__bud_span");
        let (level_value, level_span) = args.level.unwrap_or((Level::Info, Span::call_site()));
        let level_variant = level_value.variant(level_span);
        let span_name = match &args.span_name {
            Some(name) => quote!(::core::option::Option::Some(#name)),
            None => quote!(::core::option::Option::None),
        };
        let tags = &args.tags;
        let new_trace = args.new_trace;
        let line = quote_spanned!(function.sig.ident.span()=> ::core::line!());
        let fixed_message = match &args.msg_template {
            Some(literal) => capture::fixed_message(literal, &template),
            None => quote!(::core::option::Option::Some(#template_tokens)),
        };
        let callsite_block = capture::callsite(
            &callsite,
            &template_tokens,
            &fixed_message,
            &span_name,
            &line,
            &quote!(::core::option::Option::Some(#fn_name)),
            tags,
        );

        let message_and_list =
            capture::message_and_list(&defer, &formatted, count + tag_slot, &obs, &list, &message_binding, &attributes);
        // Each branch yields the span itself (no `Option<BudSpan>` in between, no rebinding after): the span is built
        // in place, never copied on the way.
        let gated = Gate {
            callsite: &callsite,
            instance: None,
            level: quote!(::budobserve::Level::#level_variant),
            gated: Gated::Span { new_trace },
            options: false,
            body: quote! {
                #bindings
                #message_and_list
                #obs.__span(#callsite, #level, #message_binding, #list, #new_trace)
            },
        }
        .expand();
        let start_span = quote! {
            #[allow(unused_mut)]
            let mut #span = {
                #[allow(unused_imports)]
                use ::budobserve::__private::kinds::*;
                #callsite_block
                #gated
            };
        };

        let body = wrap_body(&function, &args, &span);
        let ItemFn { attrs, vis, sig, .. } = &function;
        quote! {
            #(#attrs)*
            #vis #sig {
                #start_span
                #body
            }
        }
    }
}

/// Whether the message of a given template is deferred, and the message formatted (the same generation as the log
/// macros).
fn captured_message(literal: &LitStr, template: &template::Template) -> (TokenStream, TokenStream) {
    let list = internal("__bud_unused");
    let captured = capture::capture(literal, template, &[], &[], &list);
    (captured.defer, captured.formatted)
}

fn ident_tokens(name: &str, span: Span) -> TokenStream {
    let ident = Ident::new(name, span);
    quote!(#ident)
}

fn looks_like_function(item: &TokenStream) -> bool {
    item.clone().into_iter().any(|tree| matches!(&tree, TokenTree::Ident(ident) if ident == "fn"))
}

fn has_body(item: &TokenStream) -> bool {
    matches!(item.clone().into_iter().last(), Some(TokenTree::Group(group)) if group.delimiter() == proc_macro2::Delimiter::Brace)
}

fn check_signature(function: &ItemFn, args: &InstrumentArgs) -> syn::Result<()> {
    let sig = &function.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "`#[instrument]` cannot apply to a `const fn`: spans are recorded at run time; remove `const` or instrument \
             the callers",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new(
            unsafety.span,
            "`#[instrument]` does not apply to an `unsafe fn`: instrument a safe function that calls it, or start a \
             span with `bud_span!` inside it",
        ));
    }
    if sig.asyncness.is_none()
        && !args.allow_generator
        && let Some(bound) = lazy_return(&sig.output)
    {
        let span = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.output.span(),
        };
        return Err(syn::Error::new(
            span,
            format!(
                "`#[instrument]` would end the span when `{}` returns, before its `impl {bound}` is consumed: add \
                 `allow_generator` to time only the call, or start a span where the items are produced",
                sig.ident
            ),
        ));
    }
    Ok(())
}

/// `Iterator`/`Stream` (and kin) when the function returns `impl` one of them.
fn lazy_return(output: &ReturnType) -> Option<String> {
    let ReturnType::Type(_, ty) = output else { return None };
    let Type::ImplTrait(impl_trait) = ty.as_ref() else { return None };
    impl_trait.bounds.iter().find_map(|bound| match bound {
        syn::TypeParamBound::Trait(trait_bound) => {
            let name = trait_bound.path.segments.last()?.ident.to_string();
            (name.ends_with("Iterator") || name.ends_with("Stream")).then_some(name)
        }
        _ => None,
    })
}

fn returns_impl_future(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else { return false };
    let Type::ImplTrait(impl_trait) = ty.as_ref() else { return false };
    impl_trait.bounds.iter().any(|bound| match bound {
        syn::TypeParamBound::Trait(trait_bound) => {
            trait_bound.path.segments.last().is_some_and(|s| s.ident == "Future" || s.ident == "IntoFuture")
        }
        _ => false,
    })
}

/// The typed arguments bound to a plain name (`self` and patterns excluded), with their spans.
fn argument_names(function: &ItemFn) -> Vec<(String, Span)> {
    function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => match typed.pat.as_ref() {
                Pat::Ident(pat) if pat.subpat.is_none() => Some((pat.ident.to_string(), pat.ident.span())),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// Whether the return type can be written inside the body (no `impl Trait`).
fn nameable(output: &ReturnType) -> Option<TokenStream> {
    match output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) => {
            let tokens = ty.to_token_stream();
            let has_impl = tokens_contain_impl(tokens.clone());
            (!has_impl).then_some(tokens)
        }
    }
}

fn tokens_contain_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => tokens_contain_impl(group.stream()),
        _ => false,
    })
}

/// The statements that record an `Err` (and, with `record_return`, the return value) when the function completes.
fn on_complete(args: &InstrumentArgs, span: &Ident, out: &Ident) -> TokenStream {
    let err = internal("__bud_err");
    let ok = internal("__bud_ok");
    let list = internal("__bud_return");
    let record_return = args.record_return.map(|written| {
        let ok = crate::capture::located(&ok, written);
        quote! {
            #[allow(clippy::needless_borrow)]
            if let ::core::option::Option::Some(#ok) =
                (&::budobserve::__private::Wrap(#out)).__bud_result_kind().ok(#out)
            {
                let mut #list = ::budobserve::__private::AttributeList::with_capacity(1);
                #[allow(clippy::needless_borrow)]
                (&&&&::budobserve::__private::Wrap(#ok)).__bud_attr_kind().record(&mut #list, "return", #ok);
                #span.set_attributes(#list.into_values());
            }
        }
    });
    quote! {
        #[allow(unused_imports)]
        use ::budobserve::__private::kinds::*;
        #[allow(clippy::needless_borrow)]
        if let ::core::option::Option::Some(#err) = (&::budobserve::__private::Wrap(#out)).__bud_result_kind().err(#out) {
            #[allow(clippy::needless_borrow)]
            (&&&&::budobserve::__private::Wrap(#err)).__bud_error_kind().record(#span, #err);
        }
        #record_return
    }
}

/// Lints the generated scaffolding may trip in the user's crate.
fn allow_lints() -> TokenStream {
    quote!(#[allow(
        unknown_lints,
        unreachable_code,
        clippy::diverging_sub_expression,
        clippy::empty_loop,
        clippy::let_unit_value,
        clippy::let_with_type_underscore,
        clippy::needless_return,
        clippy::unreachable,
        clippy::redundant_closure_call
    )])
}

/// The body, run with the span current, its result recorded on the span.
fn wrap_body(function: &ItemFn, args: &InstrumentArgs, span: &Ident) -> TokenStream {
    let block = &function.block;
    let out = internal("__bud_out");
    let allow = allow_lints();
    let complete = on_complete(args, span, &out);
    let return_type = nameable(&function.sig.output);
    // Points type errors of the body at the declared return type rather than at the generated code.
    let fake_return = return_type.as_ref().map(|ty| {
        let fake = internal("__bud_fake_return");
        quote_spanned!(function.sig.output.span()=>
            #allow
            if false {
                let #fake: #ty = loop {};
                return #fake;
            }
        )
    });

    if function.sig.asyncness.is_some() {
        return quote! {
            ::budobserve::__private::instrument_fn(
                async move {
                    #fake_return
                    #block
                },
                #span,
                |#span: &mut ::budobserve::BudSpan, #out| { #complete },
            )
            .await
        };
    }
    if let Some((statements, boxed_async)) = async_trait_body(block) {
        // `#[async_trait]` already turned the method into `Box::pin(async move { … })`: instrument that future.
        return quote! {
            #(#statements)*
            ::std::boxed::Box::pin(::budobserve::__private::instrument_fn(
                #boxed_async,
                #span,
                |#span: &mut ::budobserve::BudSpan, #out| { #complete },
            ))
        };
    }
    let entered = internal("__bud_entered");
    let closure = match &return_type {
        Some(ty) => quote!(#allow (move || -> #ty #block)()),
        None => quote!(#allow (move || #block)()),
    };
    if returns_impl_future(&function.sig.output) {
        let future = internal("__bud_future");
        return quote! {
            let #future = {
                let #entered = #span.enter();
                #closure
            };
            ::budobserve::__private::instrument_fn(
                #future,
                #span,
                |#span: &mut ::budobserve::BudSpan, #out| { #complete },
            )
        };
    }
    let value = internal("__bud_value");
    let recorded = if return_type.is_some() {
        quote! {
            {
                let #out = &#value;
                let #span = &mut #span;
                #complete
            }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        #[allow(clippy::let_and_return)]
        let #value = {
            let #entered = #span.enter();
            #closure
        };
        #recorded
        // The span ends when the function's locals drop, after the value is computed (a `drop(span)` here would
        // move it first: a copy of the whole span).
        #value
    }
}

/// `(statements before, the async block)` when the body ends in `Box::pin(async move { … })`.
fn async_trait_body(block: &Block) -> Option<(Vec<&Stmt>, &Expr)> {
    let (last, before) = block.stmts.split_last()?;
    let Stmt::Expr(Expr::Call(call), None) = last else { return None };
    let Expr::Path(path) = call.func.as_ref() else { return None };
    let segments: Vec<String> = path.path.segments.iter().map(|s| s.ident.to_string()).collect();
    let is_box_pin = segments.ends_with(&["Box".to_owned(), "pin".to_owned()]);
    if !is_box_pin || call.args.len() != 1 {
        return None;
    }
    let argument = call.args.first()?;
    matches!(argument, Expr::Async(_)).then(|| (before.iter().collect(), argument))
}

//! Code shared by every macro that records values: binding each value once, formatting the message, recording
//! the attributes.
//!
//! Every value is bound once, by reference, in the order the arguments were written and then in template order;
//! the bindings, the message and the attributes are all emitted inside the caller's level check, so a disabled log
//! evaluates nothing.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{Expr, Ident, LitStr};

use crate::template::{FmtTrait, Template};

/// A named argument of a macro (`name = expr`, or the shorthand `name`).
pub(crate) struct NamedArg {
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) expr: TokenStream,
    /// The value when it is a string literal: recorded as a static string, without a copy.
    pub(crate) literal: Option<LitStr>,
}

/// A value recorded as an attribute though not in the template (an extracted function argument).
pub(crate) struct ExtraValue {
    pub(crate) key: String,
    pub(crate) expr: TokenStream,
    pub(crate) span: Span,
    /// Whether a value with no attribute form is a compile error (named by the user) or skipped (by default).
    pub(crate) strict: bool,
}

/// The generated pieces.
pub(crate) struct Captured {
    /// `let` statements binding every value.
    pub(crate) bindings: TokenStream,
    /// A `bool` expression: whether the message only shows recorded values and is left to be rendered from them
    /// on the export side (see the runtime's callsite completion).
    pub(crate) defer: TokenStream,
    /// An expression of type `Cow<'static, str>`: the message formatted here, always.
    pub(crate) formatted: TokenStream,
    /// Statements adding attributes to the list bound to `list`.
    pub(crate) attributes: TokenStream,
    /// How many attributes at most.
    pub(crate) count: usize,
}

pub(crate) fn internal(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// `ident` (one of the macro's own) where the user wrote `span`: an error about the value it holds points there.
pub(crate) fn located(ident: &Ident, span: Span) -> Ident {
    Ident::new(&ident.to_string(), Span::mixed_site().located_at(span))
}

/// The statements that bind `message` to an `Option<Cow<'static, str>>` (`None` when deferred) and `list` to an
/// attribute list sized for `count` recorded attributes, BudObserve's own and the message, for the instance `obs`.
pub(crate) fn message_and_list(
    captured_defer: &TokenStream,
    formatted: &TokenStream,
    count: usize,
    obs: &Ident,
    list: &Ident,
    message: &Ident,
    attributes: &TokenStream,
) -> TokenStream {
    let defer = internal("__bud_defer");
    quote! {
        let #defer: bool = #captured_defer;
        let mut #list = #obs.__attributes(
            #count + ::budobserve::__private::ADDED_ATTRIBUTES + if #defer { 0 } else { 1 }
        );
        #attributes
        let #message: ::core::option::Option<::std::borrow::Cow<'static, str>> =
            if #defer { ::core::option::Option::None } else { ::core::option::Option::Some(#formatted) };
    }
}

/// Generates the bindings, message and attributes of `template` with `named` arguments and `extras`.
pub(crate) fn capture(
    literal: &LitStr,
    template: &Template,
    named: &[NamedArg],
    extras: &[ExtraValue],
    list: &Ident,
) -> Captured {
    let mut bindings = TokenStream::new();
    let mut attributes = TokenStream::new();
    let mut recorded: HashSet<String> = HashSet::new();
    let mut count = 0;

    let named_bindings: Vec<Ident> = (0..named.len()).map(|i| internal(&format!("__bud_a{i}"))).collect();
    for (arg, binding) in named.iter().zip(&named_bindings) {
        let expr = &arg.expr;
        bindings.extend(quote_spanned!(arg.name_span=> #[allow(clippy::needless_borrow)] let #binding = &(#expr);));
    }
    let named_index = |name: &str| named.iter().position(|arg| arg.name == name);

    // Holes: one binding per distinct path, one attribute per distinct key.
    let mut path_bindings: Vec<(String, Ident)> = Vec::new();
    let mut format_args = Vec::new();
    let mut bounded_args = Vec::new();
    // Whether the export side renders the message exactly as `format!` would here: each hole's attribute must
    // display as the value does (no format spec; `{x:?}` records the `Debug` text itself). `None`: it cannot.
    let mut deferrable: Option<Vec<(Ident, TokenStream)>> = Some(Vec::new());
    let mut hole_forms: HashMap<String, (FmtTrait, &str)> = HashMap::new();
    for (index, hole) in template.holes.iter().enumerate() {
        let key = hole.key();
        let form = (hole.trait_kind, hole.spec.as_str());
        let same_form = *hole_forms.entry(key.clone()).or_insert(form) == form;
        let binding = match path_bindings.iter().find(|(k, _)| *k == key) {
            Some((_, binding)) => binding.clone(),
            None => {
                let binding = match named_index(hole.root()) {
                    Some(i) if hole.path.len() == 1 => named_bindings[i].clone(),
                    Some(i) => {
                        let binding = internal(&format!("__bud_h{index}"));
                        let root = &named_bindings[i];
                        let fields = field_tokens(&hole.path[1..], hole.span);
                        bindings.extend(quote_spanned!(hole.span=> #[allow(clippy::needless_borrow)] let #binding = &#root #fields;));
                        binding
                    }
                    None => {
                        let binding = internal(&format!("__bud_h{index}"));
                        let root = root_tokens(hole.root(), hole.span);
                        let fields = field_tokens(&hole.path[1..], hole.span);
                        bindings.extend(quote_spanned!(hole.span=> #[allow(clippy::needless_borrow)] let #binding = &#root #fields;));
                        binding
                    }
                };
                path_bindings.push((key.clone(), binding.clone()));
                binding
            }
        };
        let arg_name = format_ident!("__bud_h{}", index);
        let shown = match hole.trait_kind {
            FmtTrait::Display => {
                // The kind is bound apart: a statement can carry the lint allowance (the receiver's extra
                // references are the point of the dispatch, not a needless borrow).
                let kind = internal(&format!("__bud_s{index}"));
                bindings.extend(quote_spanned!(hole.span=>
                    #[allow(clippy::needless_borrow)]
                    let #kind = (&&&&::budobserve::__private::Wrap(#binding)).__bud_show_kind();
                ));
                let value = located(&binding, hole.span);
                quote_spanned!(hole.span=> #kind.show(#value))
            }
            FmtTrait::Debug | FmtTrait::Other => quote!(#binding),
        };
        format_args.push(quote!(#arg_name = #shown));
        // For a message longer than a value may be in one: each value formatted with its own spec, then bounded
        // (`__private::Bounded`), the rule of every message.
        let spec =
            LitStr::new(&if hole.spec.is_empty() { "{}".to_owned() } else { format!("{{:{}}}", hole.spec) }, hole.span);
        bounded_args.push(quote!(#arg_name = ::budobserve::__private::Bounded(::std::format_args!(#spec, #shown))));
        let literal = named_index(&key).and_then(|i| named[i].literal.as_ref());
        let defers = match (hole.trait_kind, hole.spec.as_str(), literal) {
            _ if !same_form => None,
            (FmtTrait::Debug, "?", _) | (FmtTrait::Display, "", Some(_)) => Some(None),
            (FmtTrait::Display, "", None) => {
                let check = internal(&format!("__bud_d{index}"));
                let statement = quote_spanned!(hole.span=>
                    #[allow(clippy::needless_borrow)]
                    let #check: bool = (&&&&::budobserve::__private::Wrap(#binding)).__bud_attr_kind().defers(#binding);
                );
                Some(Some((check, statement)))
            }
            _ => None,
        };
        match (defers, &mut deferrable) {
            (Some(check), Some(checks)) => checks.extend(check),
            _ => deferrable = None,
        }

        if recorded.insert(key.clone()) {
            count += 1;
            let literal = named_index(&key).and_then(|i| named[i].literal.as_ref());
            attributes.extend(match (hole.trait_kind, literal) {
                (FmtTrait::Debug, _) => quote_spanned!(hole.span=> #list.push_debug(#key, #binding);),
                (_, Some(literal)) => quote!(#list.push_static(#key, #literal);),
                // A shown value has an attribute form whenever it can be shown: the show check is its one error.
                (FmtTrait::Display, None) => record_lenient(&binding, &key, list, hole.span),
                (FmtTrait::Other, None) => record_strict(&binding, &key, list, hole.span),
            });
        }
    }

    // Named arguments not in the template as themselves are attributes too, unless the template uses them only
    // through field paths (`{order.id}` with `order = …` records `order.id`, not the whole order).
    for (arg, binding) in named.iter().zip(&named_bindings) {
        let only_as_root = template.holes.iter().any(|h| h.root() == arg.name && h.path.len() > 1);
        if only_as_root || !recorded.insert(arg.name.clone()) {
            continue;
        }
        count += 1;
        let key = &arg.name;
        attributes.extend(match &arg.literal {
            Some(literal) => quote!(#list.push_static(#key, #literal);),
            None => record_strict(binding, key, list, arg.name_span),
        });
    }

    for (i, extra) in extras.iter().enumerate() {
        if !recorded.insert(extra.key.clone()) {
            continue;
        }
        count += 1;
        let binding = internal(&format!("__bud_x{i}"));
        let expr = &extra.expr;
        let key = &extra.key;
        bindings.extend(quote_spanned!(extra.span=> #[allow(clippy::needless_borrow)] let #binding = &#expr;));
        attributes.extend(if extra.strict {
            record_strict(&binding, key, list, extra.span)
        } else {
            quote_spanned!(extra.span=>
                #[allow(clippy::needless_borrow)]
                (&&&&::budobserve::__private::Wrap(#binding)).__bud_arg_kind().record(&mut #list, #key, #binding);
            )
        });
    }

    // A template with nothing to format is its own message, with no allocation.
    let formatted = if template.holes.is_empty() {
        let text = unescaped(literal, template);
        quote!(::std::borrow::Cow::<'static, str>::Borrowed(#text))
    } else {
        // A message no longer than a value may be holds no value to cut: formatted once, as `format!` would. A
        // longer one is formatted again with each value bounded.
        let format_string = LitStr::new(&template.format_string, literal.span());
        let message_format = LitStr::new(&template.message_format, literal.span());
        let message = internal("__bud_message");
        quote!({
            let #message = ::std::format!(#format_string #(, #format_args)*);
            ::std::borrow::Cow::<'static, str>::Owned(if #message.len() <= ::budobserve::__private::MESSAGE_VALUE_LIMIT {
                #message
            } else {
                ::std::format!(#message_format #(, #bounded_args)*)
            })
        })
    };
    // Whether the message is left to the export side is known at compile time (the checks are constants once the
    // kinds are resolved), so the formatting branch not taken is compiled out.
    let defer = match deferrable {
        Some(checks) if checks.is_empty() => quote!(true),
        Some(checks) => {
            let (names, statements): (Vec<Ident>, Vec<TokenStream>) = checks.into_iter().unzip();
            quote!({
                #(#statements)*
                #(#names)&&*
            })
        }
        None => quote!(false),
    };
    Captured { bindings, defer, formatted, attributes, count }
}

/// Records a value whose lack of an attribute form another check reports.
fn record_lenient(binding: &Ident, key: &str, list: &Ident, span: Span) -> TokenStream {
    quote_spanned!(span=>
        #[allow(clippy::needless_borrow)]
        (&&&&::budobserve::__private::Wrap(#binding)).__bud_arg_kind().record(&mut #list, #key, #binding);
    )
}

fn record_strict(binding: &Ident, key: &str, list: &Ident, span: Span) -> TokenStream {
    let binding = located(binding, span);
    quote_spanned!(span=>
        #[allow(clippy::needless_borrow)]
        (&&&&::budobserve::__private::Wrap(#binding)).__bud_attr_kind().record(&mut #list, #key, #binding);
    )
}

/// The first segment of a path in a template: a variable of the caller (`self` included), resolved where the
/// macro was written.
fn root_tokens(root: &str, span: Span) -> TokenStream {
    if root == "self" {
        quote_spanned!(span=> self)
    } else {
        let ident = Ident::new(root, span);
        quote!(#ident)
    }
}

fn field_tokens(fields: &[String], span: Span) -> TokenStream {
    let mut tokens = TokenStream::new();
    for field in fields {
        let member: syn::Member = match field.parse::<u32>() {
            Ok(index) => syn::Member::Unnamed(syn::Index { index, span }),
            Err(_) => syn::Member::Named(Ident::new(field, span)),
        };
        tokens.extend(quote!(.#member));
    }
    tokens
}

/// An expression as tokens, for `NamedArg::expr`.
pub(crate) fn expr_tokens(expr: &Expr) -> TokenStream {
    quote!(#expr)
}

/// The text of a template without placeholders.
fn unescaped(literal: &LitStr, template: &Template) -> LitStr {
    LitStr::new(&template.format_string.replace("{{", "{").replace("}}", "}"), literal.span())
}

/// The `Option<&'static str>` message of a template without placeholders (its text, braces unescaped).
pub(crate) fn fixed_message(literal: &LitStr, template: &Template) -> TokenStream {
    if template.holes.is_empty() {
        let text = unescaped(literal, template);
        quote!(::core::option::Option::Some(#text))
    } else {
        quote!(::core::option::Option::None)
    }
}

/// `let <binding>: &'static Callsite = …;` — the static sits in a block of its own, where no user expression can
/// name it (items are not hygienic).
pub(crate) fn callsite(
    binding: &Ident,
    template: &TokenStream,
    fixed_message: &TokenStream,
    name: &TokenStream,
    line: &TokenStream,
    function: &TokenStream,
    tags: &[LitStr],
) -> TokenStream {
    quote! {
        let #binding: &'static ::budobserve::__private::Callsite = {
            static CALLSITE: ::budobserve::__private::Callsite = ::budobserve::__private::Callsite {
                template: #template,
                fixed_message: #fixed_message,
                name: #name,
                file: ::core::file!(),
                line: #line,
                module_path: ::core::module_path!(),
                function: #function,
                tags: &[#(#tags),*],
                id: ::budobserve::__private::CallsiteId::new(),
                interest: ::budobserve::__private::Interest::new(),
            };
            &CALLSITE
        };
    }
}

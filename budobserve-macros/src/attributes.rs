//! `#[derive(BudAttributes)]`: the struct's and fields' `#[bud(…)]` options are parsed into [`StructOptions`] and
//! [`FieldOptions`], then [`expand`] writes the `BudAttributes` impl.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr};

use crate::args::{self, Arg, ArgSpec, ArgType, ArgValue, Wording};
use crate::capture::internal;

const FIELD_OPTIONS: &str = "`rename = \"…\"`, `key = \"…\"`, `skip`, `redact`, `flatten`, `json`, `display`, `debug`";

#[derive(Default)]
struct StructOptions {
    prefix: Option<LitStr>,
}

/// How a field is recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// By its type: fields, native value, JSON.
    Value,
    Skip,
    Redact,
    Flatten,
    Json,
    Display,
    Debug,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Value => "value",
            Mode::Skip => "skip",
            Mode::Redact => "redact",
            Mode::Flatten => "flatten",
            Mode::Json => "json",
            Mode::Display => "display",
            Mode::Debug => "debug",
        }
    }
}

struct FieldOptions {
    mode: Mode,
    mode_span: Span,
    rename: Option<LitStr>,
    key: Option<LitStr>,
}

/// The options of `#[bud(…)]` on a struct.
const STRUCT_ARGS: [ArgSpec; 1] =
    [ArgSpec::new("prefix", ArgType::Str, "`prefix` expects a string literal, e.g. `prefix = \"http.request\"`")
        .example("`prefix = \"http.request\"`")];

const STRUCT_WORDING: Wording = Wording {
    not_a_name: "unknown option on a struct: `#[bud(…)]` on a struct accepts `prefix = \"…\"`",
    unknown: |_| "unknown option on a struct: `#[bud(…)]` on a struct accepts `prefix = \"…\"`".to_owned(),
    duplicate: |name| format!("duplicate option `{name}`"),
    missing_equals: |name, example| format!("expected `=` after `{name}`, e.g. {example}"),
};

/// The options of `#[bud(…)]` on a field.
const FIELD_ARGS: [ArgSpec; 8] = [
    ArgSpec::new("rename", ArgType::Str, "`rename` expects a string literal, e.g. `rename = \"model\"`")
        .example("`rename = \"model\"`"),
    ArgSpec::new("key", ArgType::Str, "`key` expects a string literal, e.g. `key = \"gen_ai.request.model\"`")
        .example("`key = \"gen_ai.request.model\"`"),
    ArgSpec::new("skip", ArgType::Flag, ""),
    ArgSpec::new("redact", ArgType::Flag, ""),
    ArgSpec::new("flatten", ArgType::Flag, ""),
    ArgSpec::new("json", ArgType::Flag, ""),
    ArgSpec::new("display", ArgType::Flag, ""),
    ArgSpec::new("debug", ArgType::Flag, ""),
];

const FIELD_WORDING: Wording = Wording {
    not_a_name: "unknown field option: expected one of `rename = \"…\"`, `key = \"…\"`, `skip`, `redact`, `flatten`, \
                 `json`, `display`, `debug`",
    unknown: |name| format!("unknown field option `{name}`: expected one of {FIELD_OPTIONS}"),
    duplicate: |name| format!("duplicate option `{name}`"),
    missing_equals: |name, example| format!("expected `=` after `{name}`, e.g. {example}"),
};

/// The options given in every `#[bud(…)]` of `attrs`, in order.
fn bud_args(attrs: &[Attribute], specs: &[ArgSpec], wording: &Wording) -> syn::Result<Vec<Arg>> {
    let mut all = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("bud")) {
        all.extend(attr.parse_args_with(|input: ParseStream<'_>| args::parse_list(input, specs, wording))?);
    }
    Ok(all)
}

fn parse_struct_options(attrs: &[Attribute]) -> syn::Result<StructOptions> {
    let mut options = StructOptions::default();
    for arg in bud_args(attrs, &STRUCT_ARGS, &STRUCT_WORDING)? {
        let ArgValue::Str(prefix) = arg.value else { continue };
        if options.prefix.is_some() {
            return Err(syn::Error::new(arg.name.span(), "duplicate option `prefix`"));
        }
        if prefix.value().is_empty() || prefix.value().ends_with('.') {
            return Err(syn::Error::new(
                prefix.span(),
                "`prefix` must be a non-empty key without a trailing dot, e.g. `prefix = \"http.request\"`",
            ));
        }
        options.prefix = Some(prefix);
    }
    Ok(options)
}

fn parse_field_options(attrs: &[Attribute], field_span: Span) -> syn::Result<FieldOptions> {
    let mut options = FieldOptions { mode: Mode::Value, mode_span: field_span, rename: None, key: None };
    for Arg { name: ident, value } in bud_args(attrs, &FIELD_ARGS, &FIELD_WORDING)? {
        let name = ident.to_string();
        // `rename` and `key` take a string; the others are flags choosing how the field is recorded.
        if let ArgValue::Str(value) = value {
            if value.value().is_empty() {
                return Err(syn::Error::new(value.span(), format!("`{name}` cannot be empty")));
            }
            let slot = if name == "rename" { &mut options.rename } else { &mut options.key };
            if slot.is_some() {
                return Err(syn::Error::new(ident.span(), format!("duplicate option `{name}`")));
            }
            *slot = Some(value);
            if options.rename.is_some() && options.key.is_some() {
                return Err(syn::Error::new(
                    ident.span(),
                    "`rename` and `key` cannot be combined: `rename` changes the field's name under the prefix, \
                     `key` gives the whole key",
                ));
            }
            continue;
        }
        let mode = match name.as_str() {
            "skip" => Mode::Skip,
            "redact" => Mode::Redact,
            "flatten" => Mode::Flatten,
            "json" => Mode::Json,
            "display" => Mode::Display,
            _ => Mode::Debug,
        };
        if options.mode == mode {
            return Err(syn::Error::new(ident.span(), format!("duplicate option `{name}`")));
        }
        if options.mode != Mode::Value {
            return Err(syn::Error::new(
                ident.span(),
                format!(
                    "`{}` and `{name}` cannot be combined: choose one way to record the field",
                    options.mode.name()
                ),
            ));
        }
        options.mode = mode;
        options.mode_span = ident.span();
    }
    if matches!(options.mode, Mode::Skip | Mode::Flatten) {
        let named = options.rename.as_ref().or(options.key.as_ref());
        if let Some(named) = named {
            return Err(syn::Error::new(
                named.span(),
                format!("a `{}` field has no key of its own: remove `rename`/`key`", options.mode.name()),
            ));
        }
    }
    Ok(options)
}

/// Expands the derive.
pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => &fields.named,
            Fields::Unnamed(_) | Fields::Unit => {
                return Err(syn::Error::new(
                    name.span(),
                    "`BudAttributes` can only be derived for structs with named fields: each field's name is its \
                     attribute key",
                ));
            }
        },
        Data::Enum(data) => {
            return Err(syn::Error::new(
                data.enum_token.span,
                "`BudAttributes` cannot be derived for an enum: derive `serde::Serialize` to record it as JSON",
            ));
        }
        Data::Union(data) => {
            return Err(syn::Error::new(data.union_token.span, "`BudAttributes` cannot be derived for a union"));
        }
    };
    let struct_options = parse_struct_options(&input.attrs)?;
    let prefix = internal("__bud_prefix");
    let list = internal("__bud_list");
    let value = internal("__bud_value");

    let mut statements = TokenStream::new();
    for field in fields {
        let Some(ident) = &field.ident else { continue };
        let options = parse_field_options(&field.attrs, ident.span())?;
        let field_name = ident.to_string();
        let field_name = field_name.strip_prefix("r#").unwrap_or(&field_name);
        let key = match (&options.key, &options.rename, &struct_options.prefix) {
            (Some(key), _, _) => quote!(#key),
            (None, rename, Some(struct_prefix)) => {
                let part = rename.as_ref().map_or_else(|| field_name.to_owned(), LitStr::value);
                let full = LitStr::new(&format!("{}.{part}", struct_prefix.value()), ident.span());
                quote!(#full)
            }
            (None, rename, None) => {
                let part = rename.as_ref().map_or_else(|| field_name.to_owned(), LitStr::value);
                quote!(::budobserve::__private::field_key(#prefix, #part))
            }
        };
        let span = field.ty.span();
        let mode_span = options.mode_span;
        statements.extend(match options.mode {
            Mode::Skip => TokenStream::new(),
            // Reading the field marks it used: recording it (as the marker) is a use, as for any other field.
            Mode::Redact => quote_spanned!(mode_span=> let _ = &self.#ident; #list.push_redacted(#key);),
            Mode::Json => quote_spanned!(span=> #list.push_json(#key, &self.#ident);),
            Mode::Display => quote_spanned!(span=> #list.push_display(#key, &self.#ident);),
            Mode::Debug => quote_spanned!(span=> #list.push_debug(#key, &self.#ident);),
            Mode::Flatten => {
                let nested_prefix = match &struct_options.prefix {
                    Some(struct_prefix) => quote!(#struct_prefix),
                    None => quote!(#prefix),
                };
                quote_spanned!(span=>
                    ::budobserve::BudAttributes::record_attributes(&self.#ident, #nested_prefix, #list);
                )
            }
            Mode::Value => {
                let at_field = crate::capture::located(&value, span);
                quote_spanned!(span=> {
                    #[allow(clippy::needless_borrow)]
                    let #value = &self.#ident;
                    #[allow(clippy::needless_borrow)]
                    (&&&&::budobserve::__private::Wrap(#value)).__bud_attr_kind().record(#list, #key, #at_field);
                })
            }
        });
    }

    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        // Not `#[automatically_derived]`: recording a field is a real use of it, so the compiler's dead-code
        // analysis should count it (it ignores derived impls).
        impl #impl_generics ::budobserve::BudAttributes for #name #type_generics #where_clause {
            fn record_attributes(
                &self,
                #prefix: &'static str,
                #list: &mut ::budobserve::AttributeList,
            ) {
                #[allow(unused_imports)]
                use ::budobserve::__private::kinds::*;
                let _ = #prefix;
                #statements
            }
        }
    })
}

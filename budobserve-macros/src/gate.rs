//! The gate every log and span macro and `#[instrument]` generate, in one place: nothing of the call is evaluated
//! until the level, the instance and the head sampler say it is recorded.
//!
//! Without an explicit instance, one relaxed atomic load (`__maybe_enabled`) decides first whether the level can
//! be on at all; then the current instance's level and configuration (`__enabled`); then the head sampler, before
//! any argument is evaluated (with `_parent`/`_links`, the options path decides with the explicit parent).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Expr;
use syn::spanned::Spanned;

use crate::capture::internal;

/// What the gate opens on.
#[derive(Clone, Copy)]
pub(crate) enum Gated {
    /// A span: a span that records nothing stands for it when closed. `new_trace`: the sampler decides for a root.
    Span { new_trace: bool },
    /// A log: nothing happens when closed.
    Log,
}

/// One gate (see the [module](self)).
pub(crate) struct Gate<'a> {
    /// The instance given as `obs =>`; the current one otherwise.
    pub(crate) instance: Option<&'a Expr>,
    /// The binding of the call site (`&'static Callsite`), declared before the gate.
    pub(crate) callsite: &'a proc_macro2::Ident,
    /// The level's expression (of type `budobserve::Level`).
    pub(crate) level: TokenStream,
    pub(crate) gated: Gated,
    /// The call has `_parent`/`_links`: sampling is left to the options path.
    pub(crate) options: bool,
    /// What runs when the gate opens; it sees `__bud_obs` (the instance) and `__bud_level`.
    pub(crate) body: TokenStream,
}

impl Gate<'_> {
    pub(crate) fn expand(self) -> TokenStream {
        let Gate { instance, callsite, level: level_expr, gated, options, body } = self;
        let obs = internal("__bud_obs");
        let level = internal("__bud_level");
        let dropped = internal("__bud_dropped");
        let disabled = match gated {
            Gated::Span { .. } => quote!(else { ::budobserve::__private::disabled_span() }),
            Gated::Log => TokenStream::new(),
        };
        let checked = match (gated, options) {
            (_, true) => quote!(if #obs.__enabled(#callsite, #level) { #body } #disabled),
            (Gated::Span { new_trace }, false) => quote! {
                if #obs.__enabled(#callsite, #level) {
                    match #obs.__sample_span(#new_trace) {
                        ::core::option::Option::Some(#dropped) => #dropped,
                        ::core::option::Option::None => { #body }
                    }
                } #disabled
            },
            (Gated::Log, false) => quote!(if #obs.__enabled(#callsite, #level) && #obs.__sample_log() { #body }),
        };
        match instance {
            None => quote! {
                let #level: ::budobserve::Level = #level_expr;
                if ::budobserve::__private::__maybe_enabled(#callsite, #level) {
                    let #obs = ::budobserve::__private::current();
                    #checked
                } #disabled
            },
            Some(expr) => {
                let instance = quote_spanned!(expr.span()=> let #obs: &::budobserve::BudObserve = &(#expr););
                quote! {
                    #instance
                    let #level: ::budobserve::Level = #level_expr;
                    #checked
                }
            }
        }
    }
}

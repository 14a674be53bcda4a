//! Procedural macros of BudObserve, re-exported by the `budobserve` crate: use them from there.
//!
//! - `bud_trace!` … `bud_fatal!`, `bud_log!`, `bud_span!`, `bud_exception!`: logs and spans with message templates
//!   checked at compile time;
//! - `#[instrument]`: a span around a function;
//! - `#[derive(BudAttributes)]`: a struct whose fields are recorded as attributes.
//!
//! See the `budobserve` crate for the grammar of each.

#![deny(missing_docs)]

mod args;
mod attributes;
mod capture;
mod gate;
mod instrument;
mod level;
mod log;
mod template;

use proc_macro::TokenStream;

use crate::level::Level;
use crate::log::Kind;

fn expand_log(input: TokenStream, kind: Kind) -> TokenStream {
    match log::parse_input(input, kind).and_then(|parsed| log::expand(parsed, kind)) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Writes a log at the trace level (1). See `budobserve::bud_info!` for the syntax.
#[proc_macro]
pub fn bud_trace(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Log(Level::Trace))
}

/// Writes a log at the debug level (5). See `budobserve::bud_info!` for the syntax.
#[proc_macro]
pub fn bud_debug(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Log(Level::Debug))
}

/// Writes a log at the info level (9).
#[proc_macro]
pub fn bud_info(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Log(Level::Info))
}

/// Writes a log at the notice level (10). See `budobserve::bud_info!` for the syntax.
#[proc_macro]
pub fn bud_notice(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Log(Level::Notice))
}

/// Writes a log at the warn level (13). See `budobserve::bud_info!` for the syntax.
#[proc_macro]
pub fn bud_warn(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Log(Level::Warn))
}

/// Writes a log at the error level (17). See `budobserve::bud_info!` for the syntax.
#[proc_macro]
pub fn bud_error(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Log(Level::Error))
}

/// Writes a log at the fatal level (21). See `budobserve::bud_info!` for the syntax.
#[proc_macro]
pub fn bud_fatal(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Log(Level::Fatal))
}

/// Writes a log at a level given first: `bud_log!(Level::Warn, "…")`.
#[proc_macro]
pub fn bud_log(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::LogAt)
}

/// Starts a span and returns it: `let span = bud_span!("processing {count} items");`.
#[proc_macro]
pub fn bud_span(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Span)
}

/// Writes an error log recording an error: `bud_exception!(&err, "request {request_id} failed")`.
#[proc_macro]
pub fn bud_exception(input: TokenStream) -> TokenStream {
    expand_log(input, Kind::Exception)
}

// The examples need `budobserve`, which depends on this crate: they run as doctests of `budobserve`.
#[cfg_attr(not(doctest), doc = include_str!("../docs/instrument.md"))]
#[proc_macro_attribute]
pub fn instrument(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let result = syn::parse::<instrument::InstrumentArgs>(args).and_then(|args| instrument::expand(args, item2));
    match result {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            // Keep the function so that its callers still compile; the error says what to fix.
            let mut tokens: proc_macro2::TokenStream = err.to_compile_error();
            tokens.extend(proc_macro2::TokenStream::from(item));
            tokens.into()
        }
    }
}

/// Records a struct's fields as attributes: `#[derive(BudAttributes)]`, options in `#[bud(…)]`.
#[proc_macro_derive(BudAttributes, attributes(bud))]
pub fn derive_bud_attributes(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input).and_then(attributes::expand) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Formats a template exactly as the log macros format their message, and returns the `String`. Not part of the
/// API: it exists so that formatting can be measured and tested alone.
#[doc(hidden)]
#[proc_macro]
pub fn __bud_format(input: TokenStream) -> TokenStream {
    match log::parse_input(input, Kind::Log(Level::Info)) {
        Ok(parsed) => log::expand_format(parsed).into(),
        Err(err) => err.to_compile_error().into(),
    }
}

//! The levels a macro can name, checked at compile time.

use proc_macro2::Span;
use syn::{Ident, LitStr};

/// A level of `budobserve::Level`, as the macros name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Notice,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// Each level, with the names a string literal may give it (`"warning"` is `Warn`).
    const NAMES: [(&'static str, Level); 8] = [
        ("trace", Level::Trace),
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("notice", Level::Notice),
        ("warn", Level::Warn),
        ("warning", Level::Warn),
        ("error", Level::Error),
        ("fatal", Level::Fatal),
    ];

    /// The level a string literal names (`"debug"`, any case), or an error listing the names.
    pub(crate) fn from_literal(literal: &LitStr) -> syn::Result<Level> {
        let value = literal.value().to_ascii_lowercase();
        match Level::NAMES.iter().find(|(name, _)| *name == value) {
            Some((_, level)) => Ok(*level),
            None => Err(syn::Error::new(
                literal.span(),
                format!(
                    "unknown level {:?}: expected one of \"trace\", \"debug\", \"info\", \"notice\", \"warn\", \
                     \"error\", \"fatal\"",
                    literal.value()
                ),
            )),
        }
    }

    /// The variant of `budobserve::Level` (`Debug`), spanned at `span`.
    pub(crate) fn variant(self, span: Span) -> Ident {
        let name = match self {
            Level::Trace => "Trace",
            Level::Debug => "Debug",
            Level::Info => "Info",
            Level::Notice => "Notice",
            Level::Warn => "Warn",
            Level::Error => "Error",
            Level::Fatal => "Fatal",
        };
        Ident::new(name, span)
    }

    /// The log macro of this level (`bud_debug!`).
    pub(crate) fn macro_name(self) -> &'static str {
        match self {
            Level::Trace => "bud_trace!",
            Level::Debug => "bud_debug!",
            Level::Info => "bud_info!",
            Level::Notice => "bud_notice!",
            Level::Warn => "bud_warn!",
            Level::Error => "bud_error!",
            Level::Fatal => "bud_fatal!",
        }
    }
}

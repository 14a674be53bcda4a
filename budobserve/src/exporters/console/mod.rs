//! The console exporter: one readable line per span start and per log, indented by nesting depth.
//!
//! ```text
//! 06:31:07.412 handling request [api]
//! 06:31:07.412   user 42 logged in
//! 06:31:07.413   processing 3 items
//! 06:31:07.415     quota at 93.5%
//! 06:31:07.416     request failed
//!                    std::io::Error: connection reset
//! ```
//!
//! Times are UTC, `HH:MM:SS.mmm`. With colors, errors and fatals are red, warnings yellow, timestamps dimmed.
//! Recorded exceptions (type, message, backtrace when captured) are printed under their log, or under a span
//! when it ends. Styles ([`ConsoleStyle`]): `simple`, `indented`, `show-parents` (default); `verbose` adds the
//! code location, level and attributes under each line.

mod format;
mod options;
mod processor;

pub use self::options::{ColorChoice, ConsoleOptions, ConsoleStyle, ConsoleWriter};
pub use self::processor::ConsoleProcessor;

//! Where spans go: the console, and the pipeline every exporter sits behind.

pub mod console;
pub(crate) mod processor;

pub use console::{ColorChoice, ConsoleOptions, ConsoleProcessor, ConsoleWriter};

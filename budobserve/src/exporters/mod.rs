//! Where spans go: the console, the batch processor behind every exporter, and the pipeline in front of them.

pub(crate) mod batch;
pub mod console;
#[cfg(feature = "otlp")]
pub mod otlp;
pub(crate) mod processor;

pub use batch::{BatchOptions, ExportStats};
pub use console::{ColorChoice, ConsoleOptions, ConsoleProcessor, ConsoleStyle, ConsoleWriter};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpConfig, OtlpProtocol};

//! Where spans go: the console, the batch processor behind every exporter, and the pipeline in front of them.

pub(crate) mod batch;
#[cfg(feature = "clickhouse")]
pub mod budmetrics;
pub mod console;
pub(crate) mod executor;
pub(crate) mod failure;
pub(crate) mod loss;
pub mod otlp;
pub(crate) mod prepare;
pub(crate) mod processor;

pub use batch::BatchOptions;
pub use console::{ColorChoice, ConsoleOptions, ConsoleProcessor, ConsoleStyle, ConsoleWriter};
pub use loss::ExportStats;
pub use otlp::{OtlpConfig, OtlpProtocol};

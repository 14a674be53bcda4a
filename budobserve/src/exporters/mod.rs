//! Where spans go: the console, the batch processor behind every exporter, and the pipeline in front of them.

pub(crate) mod batch;
#[cfg(feature = "clickhouse")]
pub mod budmetrics;
pub mod console;
#[cfg(feature = "otlp")]
pub mod otlp;
pub(crate) mod processor;

pub use batch::{BatchOptions, ExportStats};
pub use console::{ColorChoice, ConsoleOptions, ConsoleProcessor, ConsoleStyle, ConsoleWriter};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpConfig, OtlpProtocol};

/// Checks and normalises the base address of a backend: `http://` (or `https://` when `tls`, which the
/// `tls_feature` feature turns on), with a host, no trailing `/`.
#[cfg(any(feature = "otlp", feature = "clickhouse"))]
pub(crate) fn normalise_url(
    url: &str,
    tls: bool,
    tls_feature: &str,
    port: u16,
) -> Result<String, std::borrow::Cow<'static, str>> {
    let url = url.trim().trim_end_matches('/');
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if let Some(rest) = url.strip_prefix("https://") {
        if !tls {
            return Err(format!("an `http://` address (`https://` needs BudObserve's `{tls_feature}` feature)").into());
        }
        rest
    } else {
        return Err(format!("an `http://` or `https://` address, e.g. `http://localhost:{port}`").into());
    };
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("an address with a host, e.g. `http://localhost:{port}`").into());
    }
    Ok(url.to_owned())
}

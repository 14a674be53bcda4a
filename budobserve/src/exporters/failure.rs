//! Why an export failed, as the transport saw it: the backend's answer (its status and the message of its body),
//! a connection that could not be made or broke, or a timeout.
//!
//! An exporter's `export` returns only an `OTelSdkError`, whose text the OTLP exporter reduces to "status code: 500"
//! or "network error". BudObserve's transports (the OTLP/HTTP client, the ClickHouse client) therefore report what
//! they saw on the thread that exports ([`report`]), and the batch processor's worker — the thread that polls the
//! export — takes it ([`take`]) when the export fails, to count the loss under its cause and print the backend's
//! own words. An exporter of the user's reports nothing: its failures are counted as [`Failure::Other`].

#![cfg_attr(
    not(any(feature = "otlp", feature = "clickhouse")),
    allow(dead_code, reason = "the readers of backends' answers serve the OTLP and ClickHouse transports")
)]

use std::cell::RefCell;
use std::fmt;

/// Why an export failed. Each text names the backend (the transport writes it: "the OTLP receiver answered HTTP
/// 503 Service Unavailable", "ClickHouse http://ch:8123 (metrics.otel_traces) unreachable: …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The backend answered with an error: who answered what (`HTTP 500 …`, `gRPC Unavailable`), and its message.
    Rejected { status: String, message: String },
    /// No connection could be made, or it broke before the answer (refused, reset, no such host).
    Unreachable(String),
    /// No answer within the export timeout.
    TimedOut(String),
    /// Anything else (encoding, a request too large, an exporter of the user's): the exporter's error text.
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Rejected { status, message } => write!(f, "{status}: {message}"),
            Failure::Unreachable(text) | Failure::TimedOut(text) | Failure::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Failure {}

thread_local! {
    /// The last failure a transport saw on this thread, while an export runs.
    static LAST: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Records what the transport saw for the request it just sent (`None`: it succeeded, after earlier attempts may
/// have failed).
pub(crate) fn report(failure: Option<Failure>) {
    // A thread being torn down has no export to report to.
    let _ = LAST.try_with(|last| *last.borrow_mut() = failure);
}

/// What the transport of the export that just failed on this thread saw, if it reported anything.
pub(crate) fn take() -> Option<Failure> {
    LAST.try_with(|last| last.borrow_mut().take()).ok().flatten()
}

/// A failure no transport reported: the exporter's error text (without the SDK's "Operation failed" prefix).
pub(crate) fn from_sdk_error(err: &opentelemetry_sdk::error::OTelSdkError) -> Failure {
    match err {
        opentelemetry_sdk::error::OTelSdkError::InternalFailure(text) => Failure::Other(text.clone()),
        other => Failure::Other(other.to_string()),
    }
}

/// The gRPC code of an OTLP/gRPC exporter's error text (`… export failed with gRPC code: Unavailable: …`), as a
/// failure: the gRPC client reports nothing itself.
#[cfg(feature = "otlp-grpc")]
pub(crate) fn from_grpc_error(text: &str) -> Option<Failure> {
    const WHO: &str = "the OTLP/gRPC receiver";
    let (_, rest) = text.split_once("gRPC code: ")?;
    let (code, detail) = rest.split_once(": ").unwrap_or((rest, ""));
    let detail = one_line(detail, MESSAGE_LIMIT);
    Some(match code {
        "DeadlineExceeded" => Failure::TimedOut(format!("{WHO} did not answer in time ({code}: {detail})")),
        "Unavailable" if detail != NO_MESSAGE => Failure::Unreachable(format!("{WHO} is unreachable: {detail}")),
        _ => Failure::Rejected { status: format!("{WHO} answered gRPC {code}"), message: detail },
    })
}

/// The most bytes of a backend's message shown.
const MESSAGE_LIMIT: usize = 500;

const NO_MESSAGE: &str = "(no message)";

/// The message of an error response's body: an OTLP `google.rpc.Status` (protobuf, as OTLP/HTTP answers errors),
/// else its text; on one line, at most 500 bytes.
pub(crate) fn body_message(content_type: Option<&str>, body: &[u8]) -> String {
    let protobuf = content_type.is_some_and(|t| t.contains("protobuf"));
    if protobuf && let Some(message) = status_message(body) {
        return one_line(&message, MESSAGE_LIMIT);
    }
    match std::str::from_utf8(body) {
        Ok(text) => one_line(text, MESSAGE_LIMIT),
        Err(_) => format!("({} bytes of {})", body.len(), content_type.unwrap_or("an unknown type")),
    }
}

/// `text` on one line (runs of whitespace and control characters made one space), cut to at most `max` bytes at a
/// character boundary (`…` marking the cut).
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let line = text.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty());
    let line = line.collect::<Vec<_>>().join(" ");
    if line.is_empty() { NO_MESSAGE.to_owned() } else { crate::text::truncate(&line, max).into_owned() }
}

/// Field 2 (`message`) of a protobuf `google.rpc.Status`; `None` when the bytes are not one.
fn status_message(mut body: &[u8]) -> Option<String> {
    let mut message = None;
    while !body.is_empty() {
        let key = varint(&mut body)?;
        match key & 7 {
            0 => {
                varint(&mut body)?;
            }
            2 => {
                let len = usize::try_from(varint(&mut body)?).ok()?;
                let field = body.get(..len)?;
                body = &body[len..];
                if key >> 3 == 2 {
                    message = Some(String::from_utf8_lossy(field).into_owned());
                }
            }
            _ => return None,
        }
    }
    message
}

fn varint(body: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = body.split_first()?;
        *body = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A reqwest error of a request to `who` as a failure: timed out, or unreachable (no connection, or it broke), with
/// the error's causes and without its URL (it may carry credentials).
#[cfg(any(feature = "otlp", feature = "clickhouse"))]
pub(crate) fn from_reqwest(who: &str, err: reqwest::Error) -> Failure {
    let timeout = err.is_timeout();
    let text = with_causes(&err.without_url());
    if timeout {
        Failure::TimedOut(format!("{who} did not answer in time: {text}"))
    } else {
        Failure::Unreachable(format!("{who} is unreachable: {text}"))
    }
}

/// A backend's address as failure texts name it: scheme, host and port — never credentials (`user:password@`), a
/// path or a query, which may carry secrets.
pub(crate) fn address(url: &str) -> String {
    let (scheme, rest) = url.trim().split_once("://").unwrap_or(("http", url.trim()));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}")
}

/// An error's text followed by its causes' (a cause the text already ends with is not repeated), on one line.
pub(crate) fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    use std::fmt::Write as _;
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    one_line(&text, MESSAGE_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `google.rpc.Status { code, message }` as OTLP/HTTP receivers send it.
    fn status(code: u8, message: &str) -> Vec<u8> {
        let mut body = vec![0x08, code, 0x12, u8::try_from(message.len()).unwrap_or(0)];
        body.extend_from_slice(message.as_bytes());
        body
    }

    #[test]
    fn addresses_keep_scheme_host_and_port_only() {
        for (url, expected) in [
            ("http://collector:4318/v1/traces", "http://collector:4318"),
            ("http://user:s3cret@clickhouse:8123", "http://clickhouse:8123"),
            ("https://k:p@q@[::1]:8443/db?password=x#f", "https://[::1]:8443"),
            ("http://gateway?token=abc", "http://gateway"),
            (" ch:8123 ", "http://ch:8123"),
        ] {
            assert_eq!(address(url), expected, "{url}");
        }
    }

    #[test]
    fn a_backend_message_is_read_from_its_status_or_its_text() {
        let body = status(8, "rate limit of tenant t-1 exceeded");
        assert_eq!(body_message(Some("application/x-protobuf"), &body), "rate limit of tenant t-1 exceeded");
        assert_eq!(
            body_message(Some("text/plain"), b"Code: 62. DB::Exception:\n Syntax error"),
            "Code: 62. DB::Exception: Syntax error"
        );
        assert_eq!(body_message(None, b""), "(no message)");
        assert_eq!(
            body_message(Some("application/octet-stream"), &[0xff, 0xfe]),
            "(2 bytes of application/octet-stream)"
        );
        // Not a Status after all: shown as text when it is some.
        assert_eq!(body_message(Some("application/x-protobuf"), b"plain words"), "plain words");
        assert_eq!(body_message(None, "x\u{0}y\u{1b}[31mz".as_bytes()), "x y [31mz");
        // At most 500 bytes, cut at a character, marked.
        assert_eq!(body_message(None, "é".repeat(2000).as_bytes()).chars().count(), 251);
    }

    #[cfg(feature = "otlp-grpc")]
    #[test]
    fn grpc_codes_map_to_causes() {
        let refused =
            "TonicTracesClient export failed with gRPC code: Unavailable: tcp connect error: Connection refused";
        assert_eq!(
            from_grpc_error(refused).map(|f| f.to_string()),
            Some("the OTLP/gRPC receiver is unreachable: tcp connect error: Connection refused".into())
        );
        assert!(matches!(
            from_grpc_error("TonicTracesClient export failed with gRPC code: DeadlineExceeded"),
            Some(Failure::TimedOut(_))
        ));
        assert_eq!(
            from_grpc_error("TonicTracesClient export failed with gRPC code: Unavailable"),
            Some(Failure::Rejected {
                status: "the OTLP/gRPC receiver answered gRPC Unavailable".into(),
                message: NO_MESSAGE.into()
            })
        );
        assert_eq!(from_grpc_error("something else"), None);
    }

    #[test]
    fn a_report_is_taken_once_and_cleared_by_a_success() {
        report(Some(Failure::TimedOut("slow".into())));
        assert_eq!(take(), Some(Failure::TimedOut("slow".into())));
        assert_eq!(take(), None);
        report(Some(Failure::TimedOut("first attempt".into())));
        report(None);
        assert_eq!(take(), None);
    }
}

//! Scrubbing: secrets never leave the process.
//!
//! Every span is scrubbed once before the console, a processor or an exporter sees it — on the export worker's
//! thread for exporters added with `span_exporter` (and OTLP), on the caller's thread for the console and for
//! processors added as such. What is scrubbed: span attributes, event attributes (exceptions included), link
//! attributes, and the attributes and body of OpenTelemetry log records.
//!
//! - An attribute (or JSON object key) whose **name** matches a pattern has its whole value replaced.
//! - A **string value** that contains a match is replaced whole — unless the value is just the matched word
//!   (`"password"` alone says nothing secret). JSON strings (`{…}`, `[…]`) are parsed, scrubbed recursively (keys
//!   and string leaves) and written back.
//! - Values that look like secrets whatever their name are replaced even under [safe keys](SAFE_KEYS), which are
//!   safe by name only: passwords in connection URLs, `Bearer`/`Basic` credentials, JWTs, PEM private keys,
//!   provider keys (GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, Hugging Face, Google, AWS), session cookies,
//!   secrets in query strings, command-line flags and SQL `PASSWORD '…'` literals — each a named rule, whose name
//!   is the redaction's. An exception message that embeds a token is scrubbed; a SQL text that mentions a
//!   `password` column is not.
//! - The message (`budobserve_msg`) shows the redaction: rendered on the export side from scrubbed values, or, when
//!   the caller formatted it, with every scrubbed value replaced in it.
//!
//! The replacement names the pattern, never the secret: `[Scrubbed due to 'api key']`. A scrubbed span carries
//! `budobserve_scrubbed`, the list of the paths that were replaced (`attributes.password`,
//! `attributes.body.user.token`, `events.exception.exception.message`, …). A [callback](ScrubbingConfig::callback)
//! sees every match and may keep the value, replace it with its own text, or let it be redacted.

mod keys;
mod logs;
mod options;
mod patterns;
mod scrubber;

pub use self::options::{
    ALWAYS_REDACTED_HEADERS, SAFE_KEYS, ScrubAction, ScrubCallback, ScrubMatch, ScrubbingConfig, header_value,
};
pub(crate) use self::scrubber::Scrubber;
pub use crate::error::PatternError;

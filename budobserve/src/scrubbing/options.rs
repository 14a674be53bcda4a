//! What a user configures of scrubbing, and the keys and headers with fixed rules.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::constants::{self, dapr, db, gen_ai, http};

/// What a [callback](ScrubbingConfig::callback) decides of a match.
///
/// ```
/// use budobserve::scrubbing::{ScrubAction, ScrubbingConfig};
///
/// let scrubbing = ScrubbingConfig::new().callback(|found| {
///     if found.pattern == "session" && found.path == "attributes.session_id_count" {
///         ScrubAction::Keep                                  // a count, not a secret
///     } else if found.path.starts_with("attributes.http.request.header.") {
///         ScrubAction::Replace("<header redacted>".into())
///     } else {
///         ScrubAction::Redact
///     }
/// });
/// # drop(scrubbing);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrubAction {
    /// Leave the value as it is (an allow-listed key).
    Keep,
    /// Replace the value with BudObserve's text, `[Scrubbed due to '<pattern>']`.
    Redact,
    /// Replace the value with this text.
    Replace(String),
}

/// A match the scrubber is about to redact, as a [callback](ScrubbingConfig::callback) sees it.
///
/// ```
/// use budobserve::scrubbing::{ScrubAction, ScrubbingConfig};
///
/// let _scrubbing = ScrubbingConfig::new().callback(|found| {
///     // found.path: `attributes.user.password`; found.pattern: `password`; found.value: the value as text.
///     if found.path == "attributes.password_policy" { ScrubAction::Keep } else { ScrubAction::Redact }
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ScrubMatch<'a> {
    /// Where: `attributes.user.password`, `events.exception.exception.message`, `log.body`, …
    pub path: &'a str,
    /// The value, as text.
    pub value: &'a str,
    /// The name of the pattern that matched (`password`, `api key`, `bearer token`, …).
    pub pattern: &'a str,
}

/// A callback deciding what happens to a match.
///
/// ```
/// use std::sync::Arc;
///
/// use budobserve::scrubbing::{ScrubAction, ScrubCallback};
///
/// let keep_counts: ScrubCallback =
///     Arc::new(|found| if found.path.ends_with("_count") { ScrubAction::Keep } else { ScrubAction::Redact });
/// # drop(keep_counts);
/// ```
pub type ScrubCallback = Arc<dyn Fn(&ScrubMatch<'_>) -> ScrubAction + Send + Sync>;

/// How scrubbing is configured ([`ConfigBuilder::scrubbing_options`](crate::ConfigBuilder::scrubbing_options)).
///
/// ```
/// use budobserve::scrubbing::{ScrubAction, ScrubbingConfig};
///
/// let scrubbing = ScrubbingConfig::new()
///     .extra_pattern("tenant secret", r"tenant[_-]?secret")     // another name that marks a secret
///     .callback(|found| match found.path {
///         "attributes.session_count" => ScrubAction::Keep,       // a false positive, allowed through
///         _ => ScrubAction::Redact,
///     });
/// let _guard = budobserve::configure().scrubbing_options(scrubbing).console(false).install();
/// ```
#[derive(Clone)]
pub struct ScrubbingConfig {
    pub(crate) enabled: bool,
    pub(crate) extra_patterns: Vec<(String, String)>,
    pub(crate) callback: Option<ScrubCallback>,
}

impl Default for ScrubbingConfig {
    fn default() -> Self {
        ScrubbingConfig { enabled: true, extra_patterns: Vec::new(), callback: None }
    }
}

impl fmt::Debug for ScrubbingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrubbingConfig")
            .field("enabled", &self.enabled)
            .field("extra_patterns", &self.extra_patterns)
            .field("callback", &self.callback.is_some())
            .finish()
    }
}

impl ScrubbingConfig {
    /// On, with the default patterns.
    pub fn new() -> Self {
        Self::default()
    }

    /// Off: nothing is scrubbed (fields marked `#[bud(redact)]` still are).
    pub fn disabled() -> Self {
        ScrubbingConfig { enabled: false, ..Self::default() }
    }

    /// Adds a pattern (a regular expression, matched case-insensitively) under `name`, the name replacements show.
    pub fn extra_pattern(mut self, name: impl Into<String>, regex: impl Into<String>) -> Self {
        self.extra_patterns.push((name.into(), regex.into()));
        self
    }

    /// Called for every match before it is redacted.
    pub fn callback(mut self, callback: impl Fn(&ScrubMatch<'_>) -> ScrubAction + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(callback));
        self
    }
}

/// Keys whose names never match: BudObserve's own (but the message), the code location, and semantic-convention
/// keys that carry no secrets by name. A key ending in `.*` covers its prefix. Safe by name only: their values are
/// still checked for secret material (a password in a URL, a token in a query).
pub const SAFE_KEYS: &[&str] = &[
    constants::SPAN_TYPE,
    constants::LEVEL_NUM,
    constants::MSG_TEMPLATE,
    constants::TAGS,
    constants::JSON_SCHEMA,
    constants::CALLSITE,
    constants::PENDING_PARENT_ID,
    constants::EXCEPTION_CAUSE_INDEX,
    constants::SCRUBBED,
    constants::SCRUBBED_RULES,
    "code.*",
    // The bud context: ids BudMetrics groups by (`bud.api_key_id` names a key, it is not one).
    "bud.*",
    constants::EXCEPTION_TYPE,
    constants::EXCEPTION_STACKTRACE,
    constants::EXCEPTION_ESCAPED,
    http::ROUTE,
    http::REQUEST_METHOD,
    http::RESPONSE_STATUS_CODE,
    http::URL_PATH,
    http::URL_SCHEME,
    http::SERVER_ADDRESS,
    http::SERVER_PORT,
    db::SYSTEM_NAME,
    db::QUERY_TEXT,
    db::OPERATION_NAME,
    db::COLLECTION_NAME,
    db::NAMESPACE,
    db::OPERATION_BATCH_SIZE,
    db::RESPONSE_STATUS_CODE,
    db::RESPONSE_RETURNED_ROWS,
    http::ERROR_TYPE,
    http::NETWORK_PROTOCOL_VERSION,
    dapr::MESSAGING_SYSTEM,
    "gen_ai.usage.*",
    gen_ai::SYSTEM,
    gen_ai::PROVIDER_NAME,
    gen_ai::OPERATION_NAME,
    gen_ai::REQUEST_MODEL,
    gen_ai::RESPONSE_MODEL,
    gen_ai::RESPONSE_ID,
    gen_ai::RESPONSE_FINISH_REASONS,
    gen_ai::REQUEST_MAX_TOKENS,
    gen_ai::REQUEST_TEMPERATURE,
];

/// Headers always redacted by the HTTP integrations, whatever the patterns.
pub const ALWAYS_REDACTED_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie"];

/// A header's value as the HTTP integrations record it: `Authorization`, `Proxy-Authorization`, `Cookie` and
/// `Set-Cookie` always redacted; others kept (the span's scrubbing still checks them).
///
/// ```
/// use budobserve::scrubbing::header_value;
///
/// assert_eq!(header_value("x-tenant", "t-1"), "t-1");
/// assert_ne!(header_value("authorization", "Bearer abc"), "Bearer abc");
/// ```
pub fn header_value<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if ALWAYS_REDACTED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        Cow::Owned(format!("[Scrubbed due to '{}']", name.to_ascii_lowercase()))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_that_carry_credentials_are_always_redacted() {
        assert_eq!(header_value("Authorization", "Bearer abc"), "[Scrubbed due to 'authorization']");
        assert_eq!(header_value("set-cookie", "id=1"), "[Scrubbed due to 'set-cookie']");
        assert_eq!(header_value("content-type", "application/json"), "application/json");
    }
}

//! The patterns that find secrets: words matched against names (and values), shapes matched against values.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use crate::error::PatternError;

/// Patterns matched against names and values (name, regular expression).
const WORD_PATTERNS: &[(&str, &str)] = &[
    ("password", "password"),
    ("passwd", "passwd"),
    ("mysql_pwd", "mysql_pwd"),
    ("secret", "secret"),
    // `author`, `authors` and `authorship` are filtered out after the match (the regex crate has no look-ahead).
    ("auth", "auth"),
    ("credential", "credential"),
    ("private key", "private[._ -]?key"),
    ("api key", "api[._ -]?key"),
    ("session", "session"),
    ("cookie", "cookie"),
    ("social security", "social[._ -]?security"),
    ("credit card", "credit[._ -]?card"),
    ("csrf", "(?:^|[^a-z0-9])csrf(?:[^a-z0-9]|$)"),
    ("xsrf", "(?:^|[^a-z0-9])xsrf(?:[^a-z0-9]|$)"),
    ("jwt", "(?:^|[^a-z0-9])jwt(?:[^a-z0-9]|$)"),
    ("ssn", "(?:^|[^a-z0-9])ssn(?:[^a-z0-9]|$)"),
    ("bud token", "bud[._ -]?token"),
    ("dapr api token", "dapr[._ -]?api[._ -]?token"),
    ("app api token", "x[._ -]?app[._ -]?api[._ -]?token"),
    // `token` in every form of a name: `access_token`, `refresh-token`, `id.token`, `x-amz-security-token`,
    // `accessToken`, `token` itself; but not `tokens`, `token_count`, `max_tokens` or `gen_ai.token.type`. Anchored
    // to a whole identifier, so prose (`"not a token"`) is not redacted for it.
    ("token", "^(?:[a-z0-9._-]*[._-]|[a-z0-9._-]*(?:access|refresh|id|auth|bearer|session|security|api))?token$"),
];

/// Patterns of secret material in values, whatever the name (each a named rule; more specific rules first).
const SHAPE_PATTERNS: &[(&str, &str)] = &[
    ("private key block", r"(?s)-----begin[a-z ]*private key-----.*?(?:-----end[a-z ]*private key-----|$)"),
    ("password in url", r"[a-z][a-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@"),
    ("bearer token", r"bearer\s+[a-z0-9._~+/=-]{8,}"),
    ("basic auth", r"basic\s+[a-z0-9+/]{12,}={0,2}"),
    ("json web token", r"ey[a-z0-9_-]{8,}\.ey[a-z0-9_-]{8,}\.[a-z0-9_-]{8,}"),
    ("github token", r"(?:gh[pousr]_[a-z0-9]{30,}|github_pat_[a-z0-9_]{30,})"),
    ("gitlab token", r"glpat-[a-z0-9_-]{20,}"),
    ("slack token", r"xox[abposr]-[a-z0-9-]{10,}"),
    ("stripe key", r"(?:sk|rk)_(?:live|test)_[a-z0-9]{16,}"),
    ("anthropic key", r"sk-ant-[a-z0-9_-]{20,}"),
    ("api key", r"(?:^|[^a-z0-9])sk-[a-z0-9_-]{16,}"),
    ("hugging face token", r"(?:^|[^a-z0-9])hf_[a-z0-9]{30,}"),
    ("google api key", r"aiza[0-9a-z_-]{35}"),
    ("aws access key", r"(?:^|[^a-z0-9])(?:akia|asia)[0-9a-z]{16}(?:[^a-z0-9]|$)"),
    ("aws secret key", r"secret[._-]?access[._-]?key['\x22]?\s*[=:]\s*['\x22]?[a-z0-9/+]{40}"),
    (
        "session cookie",
        r"(?:^|[^a-z0-9])(?:phpsessid|jsessionid|asp\.net_sessionid|connect\.sid|laravel_session|sessionid|session_id|sid)=[^;\s]+",
    ),
    (
        "secret in query",
        r"(?:^|[^a-z0-9_.-])(?:api[._-]?key|key|access[._-]?token|refresh[._-]?token|id[._-]?token|auth[._-]?token|token|client[._-]?secret|secret|password|passwd|pwd|sig|signature|x-amz-signature|x-amz-security-token|x-goog-signature)=[^&\s#]+",
    ),
    (
        "secret on a command line",
        r"--(?:password|passwd|pass|api-key|apikey|token|auth-token|secret|client-secret)(?:=|\s+)[^\s-]\S*",
    ),
    ("sql password", r"(?:password|identified\s+by)\s+'[^']+'"),
];

#[derive(Clone)]
pub(super) struct Patterns {
    pub(super) names: Vec<String>,
    pub(super) sources: Vec<String>,
    pub(super) set: RegexSet,
    pub(super) each: Vec<Regex>,
}

impl Patterns {
    pub(super) fn new(patterns: impl IntoIterator<Item = (String, String)>) -> Result<Patterns, PatternError> {
        let (names, sources): (Vec<String>, Vec<String>) = patterns.into_iter().unzip();
        let compile = |name: &str, source: &str| {
            Regex::new(&format!("(?i){source}")).map_err(|err| PatternError {
                name: name.to_owned(),
                regex: source.to_owned(),
                reason: err.to_string(),
            })
        };
        let each = names.iter().zip(&sources).map(|(n, s)| compile(n, s)).collect::<Result<Vec<_>, _>>()?;
        let set = RegexSet::new(sources.iter().map(|s| format!("(?i){s}"))).map_err(|err| PatternError {
            name: "(all)".to_owned(),
            regex: String::new(),
            reason: err.to_string(),
        })?;
        Ok(Patterns { names, sources, set, each })
    }

    /// The first pattern that really matches `text` (the `auth` exceptions filtered), and whether the match is the
    /// whole text.
    pub(super) fn find(&self, text: &str) -> Option<(usize, bool)> {
        if !self.set.is_match(text) {
            return None;
        }
        for index in self.set.matches(text).iter() {
            for found in self.each[index].find_iter(text) {
                if self.names[index] == "auth" && is_author(&text[found.end()..]) {
                    continue;
                }
                let core = text.trim().trim_matches(|c: char| !c.is_ascii_alphanumeric());
                let whole =
                    found.as_str().trim_matches(|c: char| !c.is_ascii_alphanumeric()).eq_ignore_ascii_case(core);
                return Some((index, whole));
            }
        }
        None
    }
}

/// Whether what follows `auth` makes it `author`, `authors` or `authorship`.
fn is_author(rest: &str) -> bool {
    let lower = rest.get(..rest.len().min(6)).unwrap_or("").to_ascii_lowercase();
    let word_end = |i: usize| rest.as_bytes().get(i).is_none_or(|b| !b.is_ascii_alphanumeric());
    (lower.starts_with("orship"))
        || (lower.starts_with("ors") && word_end(3))
        || (lower.starts_with("or") && word_end(2))
}

/// Word patterns, shape patterns, and all of them in one set.
pub(super) type Compiled = (Patterns, Patterns, RegexSet);

/// The default patterns, compiled on first use.
pub(super) static DEFAULT_PATTERNS: LazyLock<Result<Compiled, PatternError>> =
    LazyLock::new(|| compile(std::iter::empty()));

pub(super) fn compile(extra: impl Iterator<Item = (String, String)>) -> Result<Compiled, PatternError> {
    let words = WORD_PATTERNS.iter().map(|(n, r)| ((*n).to_owned(), (*r).to_owned())).chain(extra);
    let shapes = SHAPE_PATTERNS.iter().map(|(n, r)| ((*n).to_owned(), (*r).to_owned()));
    let (words, shapes) = (Patterns::new(words)?, Patterns::new(shapes)?);
    // The prefilter drops anchors: a rule anchored to a whole name (`token`) must still let a JSON text that holds
    // such a name through to be parsed and checked key by key.
    let unanchored = |source: &String| {
        let source = source.strip_prefix('^').unwrap_or(source);
        format!("(?i){}", source.strip_suffix('$').unwrap_or(source))
    };
    let any = RegexSet::new(words.sources.iter().chain(&shapes.sources).map(unanchored))
        .map_err(|err| PatternError { name: "(all)".to_owned(), regex: String::new(), reason: err.to_string() })?;
    Ok((words, shapes, any))
}

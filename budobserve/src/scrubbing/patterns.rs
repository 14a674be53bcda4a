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
];

/// Patterns of secret material in values, whatever the name.
const SHAPE_PATTERNS: &[(&str, &str)] = &[
    ("bearer token", r"bearer\s+[a-z0-9._~+/=-]{8,}"),
    ("api key", r"(?:^|[^a-z0-9])sk-[a-z0-9_-]{16,}"),
    ("secret in query", r"(?:api[._-]?key|access[._-]?token|token|secret|password|passwd)=[^&\s#]+"),
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
    let any = RegexSet::new(words.sources.iter().chain(&shapes.sources).map(|s| format!("(?i){s}")))
        .map_err(|err| PatternError { name: "(all)".to_owned(), regex: String::new(), reason: err.to_string() })?;
    Ok((words, shapes, any))
}

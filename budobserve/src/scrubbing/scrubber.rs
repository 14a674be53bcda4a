//! The compiled scrubber of one configuration: what it redacts in spans and log records, and the note it leaves.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;
use regex::RegexSet;

use super::options::{SAFE_KEYS, ScrubAction, ScrubCallback, ScrubMatch, ScrubbingConfig};
use super::patterns::{DEFAULT_PATTERNS, Patterns, compile};
use crate::error::PatternError;
use crate::{callsite, constants, template};

/// Keys whose names never match but whose values are checked for secret material (the message, exception
/// messages).
const VALUE_CHECKED_KEYS: &[&str] = &[constants::MSG, constants::EXCEPTION_MESSAGE];

/// No shape rule matches fewer bytes than this (`key=x`).
const SHORTEST_SHAPE: usize = 5;

/// The start of every redaction (`#[bud(redact)]` fields', and the scrubber's own).
pub(super) const REDACTED_PREFIX: &str = "[Scrubbed due to '";

/// Whether a value is already a redaction (a `#[bud(redact)]` field): it is left as it is.
fn is_redacted(value: &Value) -> bool {
    matches!(value, Value::String(text) if text.as_str().starts_with(REDACTED_PREFIX))
}

/// The template a span's message was rendered from: its `budobserve_msg_template`, or its callsite's.
fn message_template(attributes: &[KeyValue]) -> Option<Cow<'_, str>> {
    match attributes.iter().find(|kv| kv.key.as_str() == constants::MSG_TEMPLATE) {
        Some(template) => Some(template.value.as_str()),
        None => callsite::template(attributes).map(Cow::Borrowed),
    }
}

/// Whether `template` shows a value scrubbed at one of `paths` (`attributes.card`, `attributes.body.user.token`).
fn shows_redacted(template: &str, paths: &[String]) -> bool {
    template::hole_names(template).into_iter().any(|name| {
        paths
            .iter()
            .filter_map(|path| path.strip_prefix("attributes."))
            .any(|path| path == name || path.strip_prefix(name).is_some_and(|rest| rest.starts_with('.')))
    })
}

/// The compiled scrubber of one configuration.
pub(crate) struct Scrubber {
    pub(super) words: Patterns,
    pub(super) shapes: Patterns,
    /// Every pattern in one set: a value none of them matches is left at once (one pass over it).
    pub(super) any: RegexSet,
    callback: Option<ScrubCallback>,
    /// How many times the callback panicked (each time, the value was redacted).
    callback_failures: AtomicU64,
    /// What each attribute name calls for, computed once per name (names repeat: most are static).
    /// This scrubber's number, for the per-thread verdict caches.
    id: u64,
    /// `[Scrubbed due to '<name>']` of each word pattern, shared.
    word_redactions: Vec<StringValue>,
    /// The name of each word pattern and each shape rule, shared by the notes.
    pub(super) word_rules: Vec<StringValue>,
    pub(super) shape_rules: Vec<StringValue>,
}

/// Numbers the scrubbers, so a thread's verdict cache knows whose verdicts it holds.
static SCRUBBERS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Verdicts per attribute name, for one scrubber at a time (no lock on the export worker's path).
    static VERDICTS: RefCell<(u64, HashMap<String, Verdict, BuildFnv>)> =
        const { RefCell::new((0, HashMap::with_hasher(BuildFnv))) };
}

/// FNV-1a: attribute names are short, and SipHash's setup costs more than hashing them.
#[derive(Default, Clone, Copy)]
struct BuildFnv;

struct Fnv(u64);

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;

    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// What an attribute name calls for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Never touched.
    Safe,
    /// The name never matches; the value is checked for secret material only.
    ValueChecked,
    /// The name matches pattern `n` of the word patterns: the value is replaced whole.
    Name(usize),
    /// The value is checked.
    Checked,
}

/// How many names the verdict cache holds at most (names past it are checked each time).
const VERDICTS_CACHED: usize = 4096;

/// Where a value sits, rendered only when something is scrubbed there.
#[derive(Clone, Copy)]
pub(super) enum Path<'a> {
    Text(&'a str),
    Attribute(&'a str, &'a str),
    Item(&'a str, &'a str, usize),
}

impl Path<'_> {
    /// One exactly-sized allocation (`format!` grows its string step by step).
    pub(super) fn render(&self) -> String {
        match self {
            Path::Text(text) => (*text).to_owned(),
            Path::Attribute(prefix, key) => {
                let mut path = String::with_capacity(prefix.len() + 1 + key.len());
                path.push_str(prefix);
                path.push('.');
                path.push_str(key);
                path
            }
            Path::Item(prefix, key, index) => format!("{prefix}.{key}.{index}"),
        }
    }
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber").field("words", &self.words.names).finish_non_exhaustive()
    }
}

/// Where a key sits in the safe lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Safety {
    /// Never touched.
    Safe,
    /// The name never matches; the value is checked for secret material only.
    ValueChecked,
    /// Name and value checked.
    Checked,
}

fn safety(key: &str) -> Safety {
    let safe = SAFE_KEYS.iter().any(|safe| match safe.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *safe,
    });
    if safe {
        Safety::Safe
    } else if VALUE_CHECKED_KEYS.contains(&key) {
        Safety::ValueChecked
    } else {
        Safety::Checked
    }
}

/// What scrubbing one span did.
#[derive(Default)]
pub(super) struct Scrubbed {
    pub(super) paths: Vec<String>,
    /// The rule that matched at each of `paths` (shared texts: noting one allocates nothing).
    pub(super) rules: Vec<StringValue>,
    /// Whether `values` is kept: only a span with a formatted message or an error description needs it.
    remember: bool,
    /// Original string values replaced, with their replacement (to show the redaction in a formatted message).
    pub(super) values: Vec<(String, String)>,
}

/// The rule noted for a message, name or status description that showed values scrubbed elsewhere.
const SHOWS_SCRUBBED: &str = "shows scrubbed values";

impl Scrubbed {
    /// Notes that the value at `path` was replaced because of `rule`.
    pub(super) fn note(&mut self, path: String, rule: StringValue) {
        self.paths.push(path);
        self.rules.push(rule);
    }

    /// The note's two attributes: the paths replaced and, in the same order, the rules that matched.
    pub(super) fn into_note(self) -> [(&'static str, Vec<StringValue>); 2] {
        let paths = self.paths.into_iter().map(StringValue::from).collect();
        [(constants::SCRUBBED, paths), (constants::SCRUBBED_RULES, self.rules)]
    }

    pub(super) fn remember(&mut self, original: &str, replacement: &str) {
        if self.remember {
            self.values.push((original.to_owned(), replacement.to_owned()));
        }
    }
}

impl Scrubber {
    /// The scrubber of `config`; `None` when scrubbing is off.
    pub(crate) fn new(config: &ScrubbingConfig) -> Result<Option<Scrubber>, PatternError> {
        if !config.enabled {
            return Ok(None);
        }
        let (words, shapes, any) = if config.extra_patterns.is_empty() {
            // The default set is compiled once per process (compiling it costs milliseconds); compiled patterns
            // are shared, not copied.
            match &*DEFAULT_PATTERNS {
                Ok(compiled) => compiled.clone(),
                Err(err) => return Err(err.clone()),
            }
        } else {
            compile(config.extra_patterns.iter().cloned())?
        };
        let word_redactions = words
            .names
            .iter()
            .map(|name| StringValue::from(Arc::<str>::from(format!("{REDACTED_PREFIX}{name}']"))))
            .collect();
        let shared = |patterns: &Patterns| -> Vec<StringValue> {
            patterns.names.iter().map(|name| StringValue::from(Arc::<str>::from(name.as_str()))).collect()
        };
        let (word_rules, shape_rules) = (shared(&words), shared(&shapes));
        Ok(Some(Scrubber {
            word_rules,
            shape_rules,
            words,
            shapes,
            any,
            callback: config.callback.clone(),
            callback_failures: AtomicU64::new(0),
            id: SCRUBBERS.fetch_add(1, Ordering::Relaxed),
            word_redactions,
        }))
    }

    /// How many times the callback panicked (counted in [`ExportStats::callback_failures`](crate::ExportStats)).
    pub(crate) fn callback_failures(&self) -> u64 {
        self.callback_failures.load(Ordering::Relaxed)
    }

    /// The replacement for a match of `pattern` at `path`, or `None` to keep the value. A callback that panics
    /// is contained here, on whichever thread scrubs: the value is redacted (scrubbing fails closed), the failure
    /// counted and reported once.
    pub(super) fn decide(&self, path: &str, value: &str, pattern: &str) -> Option<String> {
        let action = match &self.callback {
            Some(callback) => {
                let found = ScrubMatch { path, value, pattern };
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&found))) {
                    Ok(action) => action,
                    Err(_) => {
                        if self.callback_failures.fetch_add(1, Ordering::Relaxed) == 0 {
                            let _ = writeln!(
                                std::io::stderr(),
                                "budobserve: the scrubbing callback panicked at {path}; the value was redacted (and will \
                                 be whenever it panics)"
                            );
                        }
                        ScrubAction::Redact
                    }
                }
            }
            None => ScrubAction::Redact,
        };
        match action {
            ScrubAction::Keep => None,
            ScrubAction::Redact => Some(format!("[Scrubbed due to '{pattern}']")),
            ScrubAction::Replace(text) => Some(text),
        }
    }

    /// Scrubs a span in place (attributes, events, links), then shows the redactions in its formatted message.
    pub(crate) fn scrub_span(&self, span: &mut SpanData) {
        let remember = matches!(span.status, opentelemetry::trace::Status::Error { .. })
            || span.attributes.iter().any(|kv| kv.key.as_str() == constants::MSG);
        let mut done = Scrubbed { remember, ..Scrubbed::default() };
        self.scrub_attributes(&mut span.attributes, "attributes", &mut done);
        self.scrub_route_parameters(&mut span.attributes, &mut done);
        if let Some(name) = self.scrub_message(&span.name, &done) {
            span.name = Cow::Owned(name);
            done.note("name".to_owned(), StringValue::from(SHOWS_SCRUBBED));
        }
        for event in span.events.events.iter_mut() {
            let path = format!("events.{}", event.name);
            self.scrub_attributes(&mut event.attributes, &path, &mut done);
        }
        for (index, link) in span.links.links.iter_mut().enumerate() {
            let path = format!("links.{index}");
            self.scrub_attributes(&mut link.attributes, &path, &mut done);
        }
        if let opentelemetry::trace::Status::Error { description } = &mut span.status
            && let Some(text) = self.scrub_message(description, &done)
        {
            *description = Cow::Owned(text);
            done.note("status.description".to_owned(), StringValue::from(SHOWS_SCRUBBED));
        }
        if let Some(position) = span.attributes.iter().position(|kv| kv.key.as_str() == constants::MSG) {
            // A message that shows a redacted value is rendered again from the scrubbed values: the caller's format
            // spec (`{card:>20}`, `{codes:?}`) may have written it in a form no text replacement would find.
            let rerendered = (!done.paths.is_empty())
                .then(|| message_template(&span.attributes))
                .flatten()
                .filter(|template| shows_redacted(template, &done.paths))
                .map(|template| template::render(&template, &span.attributes));
            let message = &mut span.attributes[position];
            let changed = match rerendered {
                Some(text) => {
                    let text = self.scrub_message(&text, &done).unwrap_or(text);
                    message.value = Value::from(text);
                    true
                }
                None => match self.scrub_message(&message.value.as_str(), &done) {
                    Some(text) => {
                        message.value = Value::from(text);
                        true
                    }
                    None => false,
                },
            };
            if changed {
                done.note(format!("attributes.{}", constants::MSG), StringValue::from(SHOWS_SCRUBBED));
            }
        }
        if done.paths.is_empty() {
            return;
        }
        for (key, values) in done.into_note() {
            span.attributes.push(KeyValue::new(key, Value::Array(Array::String(values))));
        }
    }

    /// Free text (a backend's error message, say) with secret material replaced where it is; `None` when nothing
    /// changed.
    pub(crate) fn scrub_free_text(&self, text: &str) -> Option<String> {
        self.scrub_message(text, &Scrubbed::default())
    }

    /// A formatted message with every scrubbed value replaced in it, and secret material replaced where it is
    /// (the rest of the message stays readable); `None` when nothing changed.
    fn scrub_message(&self, message: &str, done: &Scrubbed) -> Option<String> {
        let mut text = Cow::Borrowed(message);
        for (original, replacement) in &done.values {
            if original.len() >= 3 && text.contains(original.as_str()) {
                text = Cow::Owned(text.replace(original.as_str(), replacement));
            }
        }
        // Bounded: a replacement never matches a pattern again, but a loop must not depend on it.
        for _ in 0..16 {
            let Some((index, _)) = self.shapes.find(&text) else { break };
            let Some(found) = self.shapes.each[index].find(&text) else { break };
            let replacement = format!("{REDACTED_PREFIX}{}']", self.shapes.names[index]);
            let start = found.start() + found.as_str().len()
                - found.as_str().trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).len();
            text = Cow::Owned(format!("{}{replacement}{}", &text[..start], &text[found.end()..]));
        }
        match text {
            Cow::Owned(text) => Some(text),
            Cow::Borrowed(_) => None,
        }
    }

    /// What the attribute name `key` calls for (cached).
    pub(super) fn verdict(&self, key: &str) -> Verdict {
        // A template given at run time may carry data: checked by shape like the message.
        if key == constants::MSG_TEMPLATE {
            return Verdict::ValueChecked;
        }
        // BudObserve's own keys (the message is handled apart) and the code location, without the cache.
        if key.starts_with("budobserve_") || key.starts_with("code.") {
            return Verdict::Safe;
        }
        let cached = VERDICTS.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.0 != self.id {
                *cache = (self.id, HashMap::with_hasher(BuildFnv));
            }
            if let Some(verdict) = cache.1.get(key) {
                return *verdict;
            }
            let verdict = self.compute_verdict(key);
            if cache.1.len() < VERDICTS_CACHED {
                cache.1.insert(key.to_owned(), verdict);
            }
            verdict
        });
        cached.unwrap_or_else(|_| self.compute_verdict(key))
    }

    fn compute_verdict(&self, key: &str) -> Verdict {
        match safety(key) {
            // A safe key is safe by its name only: its value is still checked for secret material.
            Safety::Safe | Safety::ValueChecked => Verdict::ValueChecked,
            Safety::Checked => match self.words.find(key) {
                Some((index, _)) => Verdict::Name(index),
                None => Verdict::Checked,
            },
        }
    }

    fn scrub_attributes(&self, attributes: &mut [KeyValue], prefix: &str, done: &mut Scrubbed) {
        for kv in attributes.iter_mut() {
            let key = kv.key.as_str();
            // The message is handled after the attributes: its scrubbed values are replaced in it.
            if key == constants::MSG || is_redacted(&kv.value) {
                continue;
            }
            let words = match self.verdict(key) {
                Verdict::Safe => continue,
                Verdict::Name(index) if self.callback.is_none() => {
                    // The common case: a shared redaction text, no allocation for it.
                    let redaction = self.word_redactions[index].clone();
                    if let Value::String(original) = &kv.value {
                        done.remember(original.as_str(), redaction.as_str());
                    }
                    kv.value = Value::String(redaction);
                    done.note(Path::Attribute(prefix, key).render(), self.word_rules[index].clone());
                    continue;
                }
                Verdict::Name(index) => {
                    let path = Path::Attribute(prefix, key).render();
                    let text = kv.value.as_str();
                    if let Some(replacement) = self.decide(&path, &text, &self.words.names[index]) {
                        if let Value::String(original) = &kv.value {
                            done.remember(original.as_str(), &replacement);
                        }
                        kv.value = Value::from(replacement);
                        done.note(path, self.word_rules[index].clone());
                    }
                    continue;
                }
                Verdict::ValueChecked => false,
                Verdict::Checked => true,
            };
            match &kv.value {
                Value::String(text) => {
                    if let Some(scrubbed) = self.scrub_text(text.as_str(), Path::Attribute(prefix, key), words, done) {
                        done.remember(text.as_str(), &scrubbed);
                        kv.value = Value::from(scrubbed);
                    }
                }
                Value::Array(Array::String(items)) => {
                    let mut changed = false;
                    let items: Vec<StringValue> = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            match self.scrub_text(item.as_str(), Path::Item(prefix, key, i), words, done) {
                                Some(scrubbed) => {
                                    changed = true;
                                    StringValue::from(scrubbed)
                                }
                                None => item.clone(),
                            }
                        })
                        .collect();
                    if changed {
                        kv.value = Value::Array(Array::String(items));
                    }
                }
                _ => {}
            }
        }
    }

    /// A string value's replacement, `None` to keep it: JSON scrubbed inside, else the whole value when it contains
    /// a match (and is not just the matched word) or secret material.
    pub(super) fn scrub_text(&self, text: &str, path: Path<'_>, words: bool, done: &mut Scrubbed) -> Option<String> {
        // One pass: nothing matches in most values (nor, then, anywhere inside a JSON text).
        // The prefilter: every pattern for a value whose words count, the shapes alone (a smaller set) otherwise —
        // and no shape fits in fewer than `SHORTEST_SHAPE` bytes (`GET`, `http`, `1.1` are never scanned).
        if !words && text.len() < SHORTEST_SHAPE {
            return None;
        }
        let prefilter = if words { &self.any } else { &self.shapes.set };
        if text.starts_with(REDACTED_PREFIX) || !prefilter.is_match(text) {
            return None;
        }
        let trimmed = text.trim_start();
        if words
            && (trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Ok(mut json) = serde_json::from_str::<serde_json::Value>(text)
        {
            let before = done.paths.len();
            self.scrub_json(&mut json, &path.render(), done);
            if done.paths.len() == before {
                return None;
            }
            return serde_json::to_string(&json).ok();
        }
        if let Some((index, _)) = self.shapes.find(text) {
            let path = path.render();
            if let Some(replacement) = self.decide(&path, text, &self.shapes.names[index]) {
                done.note(path, self.shape_rules[index].clone());
                return Some(replacement);
            }
        }
        if words
            && let Some((index, whole)) = self.words.find(text)
            && !whole
        {
            let path = path.render();
            if let Some(replacement) = self.decide(&path, text, &self.words.names[index]) {
                done.note(path, self.word_rules[index].clone());
                return Some(replacement);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_is_not_auth() {
        let scrubber = Scrubber::new(&ScrubbingConfig::new()).unwrap().unwrap();
        for text in ["author", "authors", "Authorship", "the author wrote"] {
            assert_eq!(scrubber.words.find(text), None, "{text}");
        }
        for text in ["auth", "authorization", "oauth_token", "authorized", "auth_header"] {
            assert!(scrubber.words.find(text).is_some(), "{text}");
        }
    }
}

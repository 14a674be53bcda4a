//! OpenTelemetry log records scrubbed like spans: attributes and body, of every value shape.

use std::borrow::Cow;
use std::collections::HashMap;

use opentelemetry::Key;
use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry_sdk::logs::SdkLogRecord;

use super::scrubber::{Path, Scrubbed, Scrubber, Verdict};

impl Scrubber {
    /// Scrubs an OpenTelemetry log record's attributes and body. The SDK's record cannot replace an attribute, so
    /// a record with one to replace is rebuilt from `blank` (an empty record).
    pub(crate) fn scrub_log(&self, record: &mut SdkLogRecord, blank: &SdkLogRecord) {
        let mut done = Scrubbed::default();
        let mut attributes: Vec<(Key, AnyValue)> = Vec::new();
        let mut replaced = false;
        for (key, value) in record.attributes_iter() {
            let path = Path::Attribute("log.attributes", key.as_str());
            // The same verdicts as span attributes (cached per name); the path is written only when used.
            let scrubbed = match self.verdict(key.as_str()) {
                Verdict::Safe => None,
                Verdict::Name(index) => {
                    let path = path.render();
                    self.decide(&path, &any_text(value), &self.words.names[index])
                        .inspect(|_| done.note(path, self.word_rules[index].clone()))
                        .map(AnyValue::from)
                }
                verdict => self.scrub_any(value, &path.render(), verdict == Verdict::Checked, &mut done),
            };
            replaced |= scrubbed.is_some();
            attributes.push((key.clone(), scrubbed.unwrap_or_else(|| value.clone())));
        }
        let body = record.body().and_then(|body| self.scrub_any(body, "log.body", true, &mut done));
        if done.paths.is_empty() {
            return;
        }
        if replaced {
            *record = crate::records::rebuilt(record, blank, attributes);
        }
        if let Some(body) = body {
            record.set_body(body);
        }
        for (key, values) in done.into_note() {
            let values: Vec<AnyValue> = values.into_iter().map(AnyValue::String).collect();
            record.add_attribute(Key::from_static_str(key), AnyValue::ListAny(Box::new(values)));
        }
    }

    /// A log record value of any shape scrubbed (`None` when nothing changed): strings as span attributes' strings,
    /// lists item by item, maps key by key — a key that names a secret has its value replaced, a key that is one
    /// (by shape) is replaced itself.
    fn scrub_any(&self, value: &AnyValue, path: &str, words: bool, done: &mut Scrubbed) -> Option<AnyValue> {
        match value {
            AnyValue::String(text) => self.scrub_text(text.as_str(), Path::Text(path), words, done).map(AnyValue::from),
            AnyValue::ListAny(items) => {
                let scrubbed: Vec<Option<AnyValue>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.scrub_any(item, &format!("{path}.{i}"), words, done))
                    .collect();
                scrubbed.iter().any(Option::is_some).then(|| {
                    let items = items.iter().zip(scrubbed).map(|(item, new)| new.unwrap_or_else(|| item.clone()));
                    AnyValue::ListAny(Box::new(items.collect()))
                })
            }
            AnyValue::Map(map) => {
                let mut changed = false;
                let mut out = HashMap::with_capacity(map.len());
                for (key, item) in map.iter() {
                    // A key that is itself a secret is replaced (its value then scrubbed as any value); a key that
                    // names a secret has its value replaced.
                    if let Some(renamed) = self.scrub_key(key.as_str(), path, done) {
                        changed = true;
                        let item = self.scrub_any(item, &format!("{path}.<key>"), words, done);
                        out.insert(Key::from(renamed), item.unwrap_or_else(|| map[key].clone()));
                        continue;
                    }
                    let item_path = format!("{path}.{}", key.as_str());
                    let (key, item) = if let Some((index, _)) = self.words.find(key.as_str()) {
                        match self.decide(&item_path, &any_text(item), &self.words.names[index]) {
                            Some(replacement) => {
                                done.note(item_path, self.word_rules[index].clone());
                                changed = true;
                                (key.clone(), AnyValue::from(replacement))
                            }
                            None => (key.clone(), item.clone()),
                        }
                    } else {
                        match self.scrub_any(item, &item_path, words, done) {
                            Some(new) => {
                                changed = true;
                                (key.clone(), new)
                            }
                            None => (key.clone(), item.clone()),
                        }
                    };
                    out.insert(key, item);
                }
                changed.then(|| AnyValue::Map(Box::new(out)))
            }
            // Numbers, booleans and bytes carry no text to match.
            _ => None,
        }
    }
}

fn any_text(value: &AnyValue) -> Cow<'_, str> {
    match value {
        AnyValue::String(text) => Cow::Borrowed(text.as_str()),
        other => Cow::Owned(format!("{other:?}")),
    }
}

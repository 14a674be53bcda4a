//! Secrets named by keys rather than found in values: JSON objects (a key that names a secret, a key that is one),
//! route parameters; and metric attribute values. (The JSON schema is built from types: it holds no map key.)

use opentelemetry::{KeyValue, StringValue, Value};

use super::scrubber::{Path, REDACTED_PREFIX, Scrubbed, Scrubber};
use crate::constants::http;

impl Scrubber {
    pub(super) fn scrub_json(&self, json: &mut serde_json::Value, path: &str, done: &mut Scrubbed) {
        match json {
            serde_json::Value::Object(map) => {
                // A key that is itself a secret (a token used as a map key) is replaced first: the paths below
                // name keys, and must not name that one.
                let secret_keys: Vec<String> =
                    map.keys().filter_map(|key| self.shapes.find(key).map(|_| key.clone())).collect();
                for key in secret_keys {
                    if let Some(replacement) = self.scrub_key(&key, path, done)
                        && let Some(value) = map.remove(&key)
                    {
                        map.insert(replacement, value);
                    }
                }
                for (key, value) in map.iter_mut() {
                    let path = format!("{path}.{key}");
                    if !key.starts_with(REDACTED_PREFIX)
                        && let Some((index, _)) = self.words.find(key)
                    {
                        let text = match &*value {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        if let Some(replacement) = self.decide(&path, &text, &self.words.names[index]) {
                            if let serde_json::Value::String(s) = &*value {
                                done.remember(s, &replacement);
                            }
                            *value = serde_json::Value::String(replacement);
                            done.note(path, self.word_rules[index].clone());
                        }
                        continue;
                    }
                    self.scrub_json(value, &path, done);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.scrub_json(item, &format!("{path}.{i}"), done);
                }
            }
            serde_json::Value::String(text) => {
                if let Some(scrubbed) = self.scrub_text(text, Path::Text(path), true, done) {
                    done.remember(text, &scrubbed);
                    *text = scrubbed;
                }
            }
            _ => {}
        }
    }

    /// The values of route parameters whose names call for scrubbing (`/reset/{token}`, `/keys/{api_key}`): no
    /// pattern recognises a random token in a path, but the route names it. Each such segment is replaced in
    /// `url.path` and `url.full`, and remembered so that the message shows the redaction.
    pub(super) fn scrub_route_parameters(&self, attributes: &mut [KeyValue], done: &mut Scrubbed) {
        let Some(route) = attributes.iter().find(|kv| kv.key.as_str() == http::ROUTE).map(|kv| kv.value.as_str())
        else {
            return;
        };
        let secret_segments: Vec<(usize, &str)> = route
            .split('/')
            .enumerate()
            .filter_map(|(i, segment)| {
                let name = segment.strip_prefix('{')?.strip_suffix('}')?.trim_start_matches('*');
                let (index, _) = self.words.find(name)?;
                Some((i, self.words.names[index].as_str()))
            })
            .collect();
        if secret_segments.is_empty() {
            return;
        }
        let Some(path) = attributes.iter().find(|kv| kv.key.as_str() == http::URL_PATH).map(|kv| kv.value.as_str())
        else {
            return;
        };
        let segments: Vec<&str> = path.split('/').collect();
        let found: Vec<(String, &str)> = secret_segments
            .iter()
            .filter_map(|(i, rule)| segments.get(*i).filter(|s| !s.is_empty()).map(|s| ((*s).to_owned(), *rule)))
            .collect();
        drop(route);
        for kv in attributes.iter_mut().filter(|kv| [http::URL_PATH, http::URL_FULL].contains(&kv.key.as_str())) {
            let mut text = kv.value.as_str().into_owned();
            let mut rules = Vec::new();
            for (value, rule) in &found {
                let replacement = format!("{REDACTED_PREFIX}{rule}']");
                let (from, to) = (format!("/{value}"), format!("/{replacement}"));
                if text.contains(&from) {
                    text = text.replace(&from, &to);
                    rules.push(*rule);
                }
            }
            if let Some(rule) = rules.first() {
                done.note(format!("attributes.{}", kv.key.as_str()), StringValue::from((*rule).to_owned()));
                kv.value = Value::from(text);
            }
        }
        for (value, rule) in found {
            done.values.push((format!("/{value}"), format!("/{REDACTED_PREFIX}{rule}']")));
        }
    }

    /// A metric attribute's value redacted when it holds secret material by shape; `None` to keep it.
    #[cfg(feature = "llm")]
    pub(crate) fn metric_value(&self, key: &str, value: &str) -> Option<String> {
        let (index, _) = self.shapes.find(value)?;
        self.decide(&format!("metrics.{key}"), value, &self.shapes.names[index])
    }

    /// A map key that is itself secret material (by shape) replaced, its path noted; `None` to keep it.
    pub(super) fn scrub_key(&self, key: &str, path: &str, done: &mut Scrubbed) -> Option<String> {
        let (index, _) = self.shapes.find(key)?;
        let path = format!("{path}.<key>");
        let replacement = self.decide(&path, key, &self.shapes.names[index])?;
        done.note(path, self.shape_rules[index].clone());
        Some(replacement)
    }
}

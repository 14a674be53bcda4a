//! One value per key: the rule every span, event, link and log record follows before it leaves the process.
//!
//! OTLP requires the keys of an attribute list to be unique, and the SDK's `set_attribute` appends. So the last
//! value written under a key is the one kept: setting an existing key replaces it. The bud context does not
//! overwrite an attribute the span starts with (see `providers::tracer`), so an explicit attribute wins over the
//! context's value of the same key. The JSON schemas of one span (one per batch of values recorded as JSON, the
//! late ones included) are merged into one, which describes exactly the JSON values the span ends up with.

use std::collections::HashSet;

use opentelemetry::logs::AnyValue;
use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::logs::SdkLogRecord;

use crate::constants;
use crate::json_schema;

/// Up to this many attributes, duplicates are confirmed pairwise (no allocation); beyond, with a set.
const PAIRWISE: usize = 24;

/// Makes `attributes`' keys unique, the last value of each key kept (at its place). Returns whether anything was
/// removed.
pub(crate) fn unique(attributes: &mut Vec<KeyValue>) -> bool {
    if !has_duplicates(attributes, |kv| kv.key.as_str()) {
        return false;
    }
    merge_schemas(attributes);
    keep_last(attributes, |kv| &kv.key);
    true
}

/// A log record's attributes with unique keys, the last value of each kept; `None` when they already are.
pub(crate) fn unique_record(record: &SdkLogRecord) -> Option<Vec<(Key, AnyValue)>> {
    let pairs: Vec<(&Key, &AnyValue)> = record.attributes_iter().map(|(key, value)| (key, value)).collect();
    if !has_duplicates(&pairs, |(key, _)| key.as_str()) {
        return None;
    }
    let mut pairs: Vec<(Key, AnyValue)> = pairs.into_iter().map(|(key, value)| (key.clone(), value.clone())).collect();
    keep_last(&mut pairs, |(key, _)| key);
    Some(pairs)
}

/// Removes every item whose key a later item has.
fn keep_last<T>(items: &mut Vec<T>, key: impl Fn(&T) -> &Key) {
    let mut seen: HashSet<Key> = HashSet::with_capacity(items.len());
    let mut keep: Vec<bool> = vec![false; items.len()];
    for (index, item) in items.iter().enumerate().rev() {
        keep[index] = seen.insert(key(item).clone());
    }
    let mut keep = keep.into_iter();
    items.retain(|_| keep.next().unwrap_or(true));
}

/// Whether two items share a key. Each key sets one bit of 128, from its length and two of its bytes; only when two
/// keys set the same bit are keys compared (on the export worker, per span: a span without duplicates, the usual
/// one, costs a pass of a few instructions per key).
fn has_duplicates<T>(items: &[T], key: impl Fn(&T) -> &str) -> bool {
    if items.len() < 2 {
        return false;
    }
    let mut bits: u128 = 0;
    let mut collided = false;
    for item in items {
        let key = key(item).as_bytes();
        let (first, last) = (key.first().copied().unwrap_or(0), key.last().copied().unwrap_or(0));
        let mixed = (key.len() as u32).wrapping_mul(0x9e37_79b9) ^ u32::from(first).wrapping_mul(31) ^ u32::from(last);
        let bit = 1u128 << (mixed.wrapping_mul(0x85eb_ca6b) >> 25);
        collided |= bits & bit != 0;
        bits |= bit;
    }
    if !collided {
        return false;
    }
    if items.len() <= PAIRWISE {
        return items.iter().enumerate().any(|(i, item)| items[i + 1..].iter().any(|other| key(other) == key(item)));
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
    items.iter().any(|item| !seen.insert(key(item)))
}

/// Several `budobserve_json_schema` attributes are merged into the last one.
fn merge_schemas(attributes: &mut [KeyValue]) {
    let schemas: Vec<usize> = attributes
        .iter()
        .enumerate()
        .filter(|(_, kv)| kv.key.as_str() == constants::JSON_SCHEMA)
        .map(|(index, _)| index)
        .collect();
    let Some(&last) = schemas.last() else { return };
    if schemas.len() < 2 {
        return;
    }
    let texts: Vec<String> = schemas.iter().map(|&index| attributes[index].value.as_str().into_owned()).collect();
    if let Some(merged) = json_schema::merge(texts.iter().map(String::as_str)) {
        attributes[last].value = Value::from(merged);
    }
}

/// Keeps in the JSON schema only the properties of attributes the span still has as JSON text (a value replaced
/// by a plain one, or dropped by a limit, leaves the schema with it); no properties left, no schema.
pub(crate) fn prune_schema(attributes: &mut Vec<KeyValue>) {
    let Some(position) = attributes.iter().position(|kv| kv.key.as_str() == constants::JSON_SCHEMA) else { return };
    let text = attributes[position].value.as_str().into_owned();
    let holds_json =
        |key: &str| attributes.iter().any(|kv| kv.key.as_str() == key && matches!(kv.value, Value::String(_)));
    match json_schema::retain(&text, holds_json) {
        Some(schema) if schema != text => attributes[position].value = Value::from(schema),
        Some(_) => {}
        None => {
            attributes.remove(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(attributes: &[KeyValue]) -> Vec<String> {
        attributes.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect()
    }

    #[test]
    fn the_last_value_of_a_key_is_kept() {
        let mut attributes = vec![
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
            KeyValue::new("c", 4),
            KeyValue::new("a", 5),
        ];
        assert!(unique(&mut attributes));
        assert_eq!(keys(&attributes), ["b=2", "c=4", "a=5"]);
        assert!(!unique(&mut attributes));
    }

    #[test]
    fn keys_that_only_look_alike_are_not_duplicates() {
        // Same length, first and last bytes: the prefilter collides, the comparison tells them apart.
        let mut attributes = vec![KeyValue::new("ab_c", 1), KeyValue::new("ax_c", 2), KeyValue::new("ab_c ", 3)];
        assert!(!unique(&mut attributes));
        assert_eq!(attributes.len(), 3);
        let distinct: Vec<KeyValue> = (0..200).map(|i| KeyValue::new(format!("key_{i}"), i)).collect();
        assert!(!has_duplicates(&distinct, |kv| kv.key.as_str()));
    }

    #[test]
    fn long_lists_are_made_unique_too() {
        let mut attributes: Vec<KeyValue> = (0..300).map(|i| KeyValue::new(format!("k{}", i % 100), i)).collect();
        assert!(unique(&mut attributes));
        assert_eq!(attributes.len(), 100);
        assert_eq!(attributes[0], KeyValue::new("k0", 200));
        assert_eq!(attributes[99], KeyValue::new("k99", 299));
    }

    #[test]
    fn schemas_are_merged_and_pruned() {
        let mut attributes = vec![
            KeyValue::new("order", r#"{"id":1}"#),
            KeyValue::new("items", "[1]"),
            KeyValue::new(
                constants::JSON_SCHEMA,
                r#"{"type":"object","properties":{"order":{"type":"object"},"items":{"type":"array"}}}"#,
            ),
            KeyValue::new("return", r#"{"ok":true}"#),
            KeyValue::new("items", 3),
            KeyValue::new(constants::JSON_SCHEMA, r#"{"type":"object","properties":{"return":{"type":"object"}}}"#),
        ];
        assert!(unique(&mut attributes));
        prune_schema(&mut attributes);
        let schema = attributes.iter().find(|kv| kv.key.as_str() == constants::JSON_SCHEMA).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&schema.value.as_str()).unwrap();
        assert_eq!(
            schema,
            serde_json::json!({"type": "object", "properties": {"order": {"type": "object"}, "return": {"type": "object"}}})
        );
        let mut plain =
            vec![KeyValue::new("n", 1), KeyValue::new(constants::JSON_SCHEMA, r#"{"properties":{"n":{}}}"#)];
        prune_schema(&mut plain);
        assert_eq!(plain, [KeyValue::new("n", 1)]);
    }
}

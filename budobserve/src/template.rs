//! The runtime half of message templates.
//!
//! The macros check and format templates at compile time. Templates given to the method API
//! ([`BudObserve::info`](crate::BudObserve::info) and friends) are rendered here from the attributes passed with
//! them, with the same syntax: `{name}` is replaced by the attribute `name`, `{name=}` by `name=<value>`, `{{` and
//! `}}` are literal braces, and a format spec after `:` is honoured for precision (`{ratio:.2}`) and ignored
//! otherwise. A placeholder with no matching attribute is kept as written, so a message never loses text. Each
//! value shown keeps at most 128 characters (its first and last 62 around `...`, Logfire's rule); the attribute
//! itself stays whole.

use std::fmt::Write as _;

use opentelemetry::{KeyValue, Value};

use crate::text::MessageValue;

/// The most characters a value keeps inside a message; a longer one keeps its first and last 62 around `...`.
pub const MESSAGE_VALUE_LIMIT: usize = crate::text::MESSAGE_VALUE_LIMIT;

/// Renders `template` with the values of `attributes`.
///
/// ```
/// use budobserve::KeyValue;
///
/// let message = budobserve::template::render("user {id} in {org}", &[KeyValue::new("id", 42), KeyValue::new("org", "bud")]);
/// assert_eq!(message, "user 42 in bud");
/// ```
pub fn render(template: &str, attributes: &[KeyValue]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let brace = rest.as_bytes()[pos];
        let after = &rest[pos + 1..];
        if after.as_bytes().first() == Some(&brace) {
            // `{{` or `}}`
            out.push(char::from(brace));
            rest = &after[1..];
            continue;
        }
        if brace == b'}' {
            out.push('}');
            rest = after;
            continue;
        }
        let Some(end) = after.find('}') else {
            out.push_str(&rest[pos..]);
            return out;
        };
        render_hole(&mut out, &after[..end], attributes);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The names of a template's placeholders (`{name}`, `{name:spec}`, `{name=}`), in order.
pub(crate) fn hole_names(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(pos) = rest.find(['{', '}']) {
        let brace = rest.as_bytes()[pos];
        let after = &rest[pos + 1..];
        if after.as_bytes().first() == Some(&brace) {
            rest = &after[1..];
            continue;
        }
        if brace == b'}' {
            rest = after;
            continue;
        }
        let Some(end) = after.find('}') else { break };
        let hole = &after[..end];
        let name = hole.split_once(':').map_or(hole, |(name, _)| name).trim();
        names.push(name.strip_suffix('=').unwrap_or(name).trim());
        rest = &after[end + 1..];
    }
    names
}

fn render_hole(out: &mut String, hole: &str, attributes: &[KeyValue]) {
    let (name, spec) = match hole.split_once(':') {
        Some((name, spec)) => (name, Some(spec)),
        None => (hole, None),
    };
    let (name, echo) = match name.trim().strip_suffix('=') {
        Some(name) => (name.trim(), true),
        None => (name.trim(), false),
    };
    // The last value of a key is the one a span keeps (see `unique`).
    let Some(value) = attributes.iter().rev().find(|kv| kv.key.as_str() == name).map(|kv| &kv.value) else {
        out.push('{');
        out.push_str(hole);
        out.push('}');
        return;
    };
    if echo {
        out.push_str(name);
        out.push('=');
    }
    write_value(out, value, spec);
}

/// The largest precision a run-time template may ask of a number: beyond it no digit means anything, and the
/// formatter itself panics past `u16::MAX`.
const MAX_PRECISION: usize = 64;

/// Writes one value, bounded as every value in a message is (see `text::MessageValue`). A precision out of range
/// (`{x:.65536}`) leaves the value unformatted and says so in the message.
fn write_value(out: &mut String, value: &Value, spec: Option<&str>) {
    let digits = spec
        .and_then(|spec| spec.rsplit_once('.'))
        .map(|(_, digits)| digits.trim_end_matches(['f', 'e', '?']))
        .filter(|digits| !digits.is_empty());
    let precision = match digits.map(|digits| digits.parse::<usize>()) {
        None => None,
        Some(Ok(precision)) if precision <= MAX_PRECISION => Some(precision),
        Some(_) => {
            write_plain(out, value);
            out.push_str(" [precision out of range]");
            return;
        }
    };
    match (value, precision) {
        (Value::F64(f), Some(precision)) => {
            let mut bounded = MessageValue::new(out);
            // Writing into a String cannot fail.
            let _ = write!(bounded, "{f:.precision$}");
            let _ = bounded.finish();
        }
        _ => write_plain(out, value),
    }
}

/// Writes a value as its text, bounded.
fn write_plain(out: &mut String, value: &Value) {
    let mut bounded = MessageValue::new(out);
    // Writing into a String cannot fail.
    let _ = match value {
        Value::String(s) => bounded.write_str(s.as_str()),
        value => write!(bounded, "{value}"),
    };
    let _ = bounded.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> Vec<KeyValue> {
        vec![KeyValue::new("user_id", 42), KeyValue::new("name", "ada"), KeyValue::new("ratio", 0.12345)]
    }

    #[test]
    fn names_its_placeholders() {
        assert_eq!(hole_names("user {user_id} paid {amount:>8.2} {{not}} {card=}"), ["user_id", "amount", "card"]);
        assert!(hole_names("no holes {{ here }}").is_empty());
    }

    #[test]
    fn renders_placeholders_and_braces() {
        let cases = [
            ("user {user_id} logged in", "user 42 logged in"),
            ("{name=} and {user_id=}", "name=ada and user_id=42"),
            ("{{literal}} {name}", "{literal} ada"),
            ("ratio {ratio:.2}", "ratio 0.12"),
            ("ratio {ratio:.65536}", "ratio 0.12345 [precision out of range]"),
            ("ratio {ratio:.99999999999999999999999}", "ratio 0.12345 [precision out of range]"),
            ("ratio {ratio:.64}", &format!("ratio {:.64}", 0.12345)[..]),
            ("missing {nope} stays", "missing {nope} stays"),
            ("unclosed {name", "unclosed {name"),
            ("stray } brace", "stray } brace"),
            ("", ""),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, &attrs()), expected, "template {template:?}");
        }
    }
}

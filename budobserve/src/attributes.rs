//! Attribute values: how Rust values become OpenTelemetry attributes, and the [`BudAttributes`] trait.
//!
//! The macros convert every value they record through the first of these that applies to its type:
//!
//! 1. [`BudAttributes`] (usually derived): the value contributes its fields, as `<name>.<field>` attributes;
//! 2. [`NativeValue`]: integers, floats, bools, strings (`&str`, `String`, `Cow<str>`, `char`…), `Option` of
//!    those (`None` is recorded as absent) and slices, arrays and `Vec`s of them (OpenTelemetry arrays);
//! 3. `serde::Serialize`: JSON — strings, numbers and bools stay native, objects and arrays are compact JSON text
//!    whose shape is added to `budobserve_json_schema`;
//! 4. `Display`: its text (errors, addresses, URLs);
//! 5. anything else is a compile error that says what to derive, or to use `{name:?}` (the `Debug` text).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::rc::Rc;
use std::sync::{Arc, LazyLock, RwLock};

use opentelemetry::{Array, KeyValue, StringValue, Value};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::constants;

/// No type is recordable this way: the name the compiler's error gives when a value has no attribute form (none
/// of the conversions [above](self) applies), with what to do about it. It cannot be implemented.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded as a BudObserve attribute",
    label = "this value has no attribute form",
    note = "derive or implement `serde::Serialize` to record it as JSON, or implement `Display` to record its text",
    note = "derive `budobserve::BudAttributes` to record its fields as attributes",
    note = "or write the placeholder as `{{name:?}}` to record its `Debug` text"
)]
pub trait Recordable: sealed::Sealed {}

/// No type is shown this way: the name the compiler's error gives when a placeholder's value can be neither shown
/// nor recorded, with what to do about it. It cannot be implemented.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shown in a BudObserve message",
    label = "this value has no `Display` and no attribute form",
    note = "implement `Display`, derive `serde::Serialize` or `budobserve::BudAttributes`",
    note = "or write the placeholder as `{{name:?}}` to show its `Debug` text"
)]
pub trait Showable: sealed::Sealed {}

mod sealed {
    /// Keeps [`Recordable`](super::Recordable) and [`Showable`](super::Showable) unimplemented.
    pub trait Sealed {}
}

/// A type that records its fields as attributes. Derive it with `#[derive(BudAttributes)]`.
///
/// Passed to a log, a span or an instrumented function under the name `req`, a value records each field as
/// `req.<field>` (or `<prefix>.<field>` with `#[bud(prefix = "…")]`).
///
/// ```
/// use budobserve::{BudAttributes, bud_info};
///
/// #[derive(BudAttributes)]
/// struct Deployment {
///     #[bud(key = "bud.endpoint_id")]
///     endpoint: String,
///     replicas: u32,
///     #[bud(redact)]
///     token: String,
/// }
///
/// let deployment = Deployment { endpoint: "ep-1".into(), replicas: 3, token: "t0k3n".into() };
/// // `bud.endpoint_id`, `deployment.replicas`, and `deployment.token` redacted whatever the scrubbing settings.
/// bud_info!("scaled", deployment);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `BudAttributes`",
    note = "add `#[derive(budobserve::BudAttributes)]` to the struct"
)]
pub trait BudAttributes {
    /// Records the fields into `list`, each key starting with `prefix` (ignored when the type has its own prefix).
    fn record_attributes(&self, prefix: &'static str, list: &mut AttributeList);
}

macro_rules! forward_bud_attributes {
    ($($pointer:ty),*) => {$(
        impl<T: BudAttributes + ?Sized> BudAttributes for $pointer {
            #[inline]
            fn record_attributes(&self, prefix: &'static str, list: &mut AttributeList) {
                (**self).record_attributes(prefix, list);
            }
        }
    )*};
}
forward_bud_attributes!(&T, &mut T, Box<T>, Arc<T>, Rc<T>);

/// A value with a native OpenTelemetry form.
///
/// ```
/// use budobserve::NativeValue;
/// use budobserve::opentelemetry::Value;
///
/// assert_eq!(42_u16.to_value(), Some(Value::I64(42)));
/// assert_eq!(None::<&str>.to_value(), None);                // `None` is no attribute
/// ```
pub trait NativeValue {
    /// Whether the recorded value shows (OpenTelemetry's `Display` of [`Value`]) exactly as the Rust value's
    /// `Display` does, so a message can be rendered from the attribute on the export side. Default `false`.
    const DISPLAYS_AS_VALUE: bool = false;

    /// The value, `None` to record nothing (`Option::None`).
    fn to_value(&self) -> Option<Value>;
}

/// An element type of OpenTelemetry arrays.
///
/// ```
/// use budobserve::NativeValue;
/// use budobserve::opentelemetry::{Array, Value};
///
/// let tags = vec!["a", "b"];                               // a Vec of an element type is an array attribute
/// assert_eq!(tags.to_value(), Some(Value::Array(Array::String(vec!["a".into(), "b".into()]))));
/// ```
pub trait ArrayElement: Sized {
    /// The array of these elements.
    fn to_array(items: &[Self]) -> Array;
}

macro_rules! native_ints {
    ($($t:ty),*) => {$(
        impl NativeValue for $t {
            const DISPLAYS_AS_VALUE: bool = true;

            #[inline]
            fn to_value(&self) -> Option<Value> {
                // Beyond i64, the exact number as text rather than a wrapped or saturated one.
                Some(i64::try_from(*self).map_or_else(|_| Value::String(self.to_string().into()), Value::I64))
            }
        }
        impl ArrayElement for $t {
            fn to_array(items: &[Self]) -> Array {
                match items.iter().map(|i| i64::try_from(*i)).collect::<Result<Vec<i64>, _>>() {
                    Ok(ints) => Array::I64(ints),
                    Err(_) => Array::String(items.iter().map(|i| StringValue::from(i.to_string())).collect()),
                }
            }
        }
    )*};
}
native_ints!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

macro_rules! native_floats {
    ($($t:ty => $exact:literal),*) => {$(
        impl NativeValue for $t {
            const DISPLAYS_AS_VALUE: bool = $exact;

            #[inline]
            fn to_value(&self) -> Option<Value> {
                Some(Value::F64(f64::from(*self)))
            }
        }
        impl ArrayElement for $t {
            fn to_array(items: &[Self]) -> Array {
                Array::F64(items.iter().map(|f| f64::from(*f)).collect())
            }
        }
    )*};
}
// An `f32` widened to `f64` shows more digits than the `f32` does (`0.1` → `0.10000000149011612`).
native_floats!(f32 => false, f64 => true);

impl NativeValue for bool {
    const DISPLAYS_AS_VALUE: bool = true;

    #[inline]
    fn to_value(&self) -> Option<Value> {
        Some(Value::Bool(*self))
    }
}

impl ArrayElement for bool {
    fn to_array(items: &[Self]) -> Array {
        Array::Bool(items.to_vec())
    }
}

macro_rules! native_strings {
    ($($t:ty),*) => {$(
        impl NativeValue for $t {
            const DISPLAYS_AS_VALUE: bool = true;

            #[inline]
            fn to_value(&self) -> Option<Value> {
                Some(Value::String(StringValue::from(self.to_string())))
            }
        }
        impl ArrayElement for $t {
            fn to_array(items: &[Self]) -> Array {
                Array::String(items.iter().map(|s| StringValue::from(s.to_string())).collect())
            }
        }
    )*};
}
native_strings!(String, char, Box<str>, Arc<str>, Rc<str>);

impl NativeValue for str {
    const DISPLAYS_AS_VALUE: bool = true;

    #[inline]
    fn to_value(&self) -> Option<Value> {
        Some(Value::String(StringValue::from(self.to_owned())))
    }
}

impl ArrayElement for &str {
    fn to_array(items: &[Self]) -> Array {
        Array::String(items.iter().map(|s| StringValue::from((*s).to_owned())).collect())
    }
}

impl NativeValue for Cow<'_, str> {
    const DISPLAYS_AS_VALUE: bool = true;

    #[inline]
    fn to_value(&self) -> Option<Value> {
        Some(Value::String(StringValue::from(self.to_string())))
    }
}

impl NativeValue for Value {
    const DISPLAYS_AS_VALUE: bool = true;

    fn to_value(&self) -> Option<Value> {
        Some(self.clone())
    }
}

impl NativeValue for StringValue {
    const DISPLAYS_AS_VALUE: bool = true;

    fn to_value(&self) -> Option<Value> {
        Some(Value::String(self.clone()))
    }
}

impl<T: NativeValue + ?Sized> NativeValue for &T {
    const DISPLAYS_AS_VALUE: bool = T::DISPLAYS_AS_VALUE;

    #[inline]
    fn to_value(&self) -> Option<Value> {
        (**self).to_value()
    }
}

impl<T: NativeValue> NativeValue for Option<T> {
    #[inline]
    fn to_value(&self) -> Option<Value> {
        self.as_ref().and_then(NativeValue::to_value)
    }
}

impl<T: ArrayElement> NativeValue for [T] {
    fn to_value(&self) -> Option<Value> {
        Some(Value::Array(T::to_array(self)))
    }
}

impl<T: ArrayElement> NativeValue for Vec<T> {
    fn to_value(&self) -> Option<Value> {
        Some(Value::Array(T::to_array(self)))
    }
}

impl<T: ArrayElement, const N: usize> NativeValue for [T; N] {
    fn to_value(&self) -> Option<Value> {
        Some(Value::Array(T::to_array(self)))
    }
}

/// The attributes a log or span collects before it starts: values under static keys, and the JSON schema of
/// the values recorded as JSON.
///
/// ```
/// use budobserve::{AttributeList, BudAttributes};
///
/// #[derive(BudAttributes)]
/// struct Job {
///     id: u64,
///     queue: String,
/// }
///
/// let mut list = AttributeList::default();
/// Job { id: 7, queue: "default".into() }.record_attributes("job", &mut list); // what the macros do with `job`
/// # drop(list);
/// ```
#[derive(Debug, Default)]
pub struct AttributeList {
    values: Vec<KeyValue>,
    schema: Option<Map<String, Json>>,
}

/// The value of a field marked `#[bud(redact)]`: exported whatever the scrubbing configuration.
pub const REDACTED: &str = "[Scrubbed due to 'redact']";

impl AttributeList {
    /// An empty list with room for `capacity` attributes.
    pub fn with_capacity(capacity: usize) -> AttributeList {
        AttributeList { values: Vec::with_capacity(capacity), schema: None }
    }

    /// The list of a span or log, sized exactly: the macros pass the number of attributes the span will have
    /// (recorded values, code location, BudObserve's own, static tags), computed at compile time. The exact size
    /// matters: the vector goes to the exporter's thread, which frees it, and an oversized one costs more there.
    #[doc(hidden)]
    #[inline]
    pub fn for_span(attributes: usize) -> AttributeList {
        AttributeList::with_capacity(attributes)
    }

    /// Adds a value.
    #[inline]
    pub fn push(&mut self, key: &'static str, value: Value) {
        self.values.push(KeyValue::new(key, value));
    }

    /// Adds a static string (no copy).
    #[inline]
    pub fn push_static(&mut self, key: &'static str, value: &'static str) {
        self.push(key, Value::String(StringValue::from(value)));
    }

    /// Adds a value unless it is `None`.
    #[inline]
    pub fn push_native<T: NativeValue + ?Sized>(&mut self, key: &'static str, value: &T) {
        if let Some(value) = value.to_value() {
            self.push(key, value);
        }
    }

    /// Adds a value's `Debug` text.
    pub fn push_debug<T: fmt::Debug + ?Sized>(&mut self, key: &'static str, value: &T) {
        self.push(key, Value::String(format!("{value:?}").into()));
    }

    /// Adds a value's `Display` text.
    pub fn push_display<T: fmt::Display + ?Sized>(&mut self, key: &'static str, value: &T) {
        self.push(key, Value::String(value.to_string().into()));
    }

    /// Adds the redaction marker.
    pub fn push_redacted(&mut self, key: &'static str) {
        self.push(key, Value::String(StringValue::from(REDACTED)));
    }

    /// Adds a value as JSON: `null` is recorded as absent; strings, numbers and bools natively; objects and
    /// arrays as compact JSON text, their shape added to the schema. A value that fails to serialize is recorded as
    /// the error's text, so a log is never lost over one attribute.
    pub fn push_json<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        let json = match serde_json::to_value(value) {
            Ok(json) => json,
            Err(err) => {
                self.push(key, Value::String(format!("<unserializable: {err}>").into()));
                return;
            }
        };
        match json {
            Json::Null => {}
            Json::Bool(b) => self.push(key, Value::Bool(b)),
            Json::Number(n) => match n.as_i64() {
                Some(i) => self.push(key, Value::I64(i)),
                None => match n.as_f64() {
                    Some(f) if n.is_f64() => self.push(key, Value::F64(f)),
                    _ => self.push(key, Value::String(n.to_string().into())),
                },
            },
            Json::String(s) => self.push(key, Value::String(s.into())),
            composite => {
                // The schema of the type, never of the data (a map's keys are data): see `json_schema`.
                let schema = crate::json_schema::of(value).unwrap_or_else(|| serde_json::json!({ "type": "object" }));
                self.schema.get_or_insert_with(Map::new).insert(key.to_owned(), schema);
                self.push(key, Value::String(composite.to_string().into()));
            }
        }
    }

    /// Adds the fields of a [`BudAttributes`] value under `prefix`.
    pub fn push_fields<T: BudAttributes + ?Sized>(&mut self, prefix: &'static str, value: &T) {
        value.record_attributes(prefix, self);
    }

    /// The attributes recorded so far.
    pub fn values(&self) -> &[KeyValue] {
        &self.values
    }

    /// The attributes, followed by `budobserve_json_schema` when any value was recorded as JSON.
    #[inline]
    pub fn into_values(mut self) -> Vec<KeyValue> {
        if let Some(properties) = self.schema.take() {
            let schema = serde_json::json!({ "type": "object", "properties": properties });
            self.values.reserve_exact(1);
            self.values.push(KeyValue::new(constants::JSON_SCHEMA, schema.to_string()));
        }
        self.values
    }
}

static KEYS: LazyLock<RwLock<HashMap<(&'static str, &'static str), &'static str>>> = LazyLock::new(Default::default);

/// The key `<prefix>.<name>` as a `&'static str`, built once per pair (both halves are static strings of the
/// program, so the set is bounded); `name` itself when `prefix` is empty.
///
/// ```
/// let key = budobserve::__private::field_key("job", "id");
/// assert_eq!(key, "job.id");
/// assert!(std::ptr::eq(key, budobserve::__private::field_key("job", "id"))); // built once, then reused
/// ```
pub fn field_key(prefix: &'static str, name: &'static str) -> &'static str {
    if prefix.is_empty() {
        return name;
    }
    if let Ok(keys) = KEYS.read()
        && let Some(key) = keys.get(&(prefix, name))
    {
        return key;
    }
    let mut keys = KEYS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    keys.entry((prefix, name)).or_insert_with(|| Box::leak(format!("{prefix}.{name}").into_boxed_str()))
}

/// Renders the fields of a [`BudAttributes`] value, for a message: `{model: "gpt-4o", temperature: 0.2}`.
///
/// ```
/// use std::fmt;
///
/// use budobserve::BudAttributes;
///
/// #[derive(BudAttributes)]
/// struct Request {
///     model: String,
///     temperature: f64,
/// }
///
/// struct Shown<'a>(&'a Request);
///
/// impl fmt::Display for Shown<'_> {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         budobserve::__private::fmt_fields(self.0, f)
///     }
/// }
///
/// let text = Shown(&Request { model: "gpt-4o".into(), temperature: 0.2 }).to_string();
/// assert!(text.contains("gpt-4o") && text.contains("0.2"), "{text}");
/// ```
pub fn fmt_fields<T: BudAttributes + ?Sized>(value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut list = AttributeList::default();
    value.record_attributes("", &mut list);
    let mut out = String::from("{");
    for (i, kv) in list.values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = match &kv.value {
            Value::String(s) => write!(out, "{}: {:?}", kv.key, s.as_str()),
            other => write!(out, "{}: {other}", kv.key),
        };
    }
    out.push('}');
    f.pad(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_values() {
        assert_eq!(42_u8.to_value(), Some(Value::I64(42)));
        assert_eq!(u64::MAX.to_value(), Some(Value::String("18446744073709551615".into())));
        assert_eq!(1.5_f32.to_value(), Some(Value::F64(1.5)));
        assert_eq!("hi".to_value(), Some(Value::String("hi".into())));
        assert_eq!(Some(3).to_value(), Some(Value::I64(3)));
        assert_eq!(None::<i32>.to_value(), None);
        assert_eq!(vec![1, 2].to_value(), Some(Value::Array(Array::I64(vec![1, 2]))));
        assert_eq!(["a", "b"].to_value(), Some(Value::Array(Array::String(vec!["a".into(), "b".into()]))));
    }

    #[test]
    fn json_values_and_schema() {
        let mut list = AttributeList::default();
        list.push_json("order", &serde_json::json!({"id": 7, "items": [{"sku": "a"}], "total": 9.5}));
        list.push_json("plain", &"text");
        list.push_json("none", &Option::<u8>::None);
        let values = list.into_values();
        assert_eq!(values[0], KeyValue::new("order", r#"{"id":7,"items":[{"sku":"a"}],"total":9.5}"#));
        assert_eq!(values[1], KeyValue::new("plain", "text"));
        assert_eq!(values.len(), 3);
        let schema: Json = serde_json::from_str(&values[2].value.as_str()).unwrap();
        assert_eq!(
            schema,
            // A `serde_json::Value` object is a map: its keys are data, never in the schema.
            serde_json::json!({"type": "object", "properties": {"order": {"type": "object"}}})
        );
    }

    #[test]
    fn field_keys_are_built_once() {
        let a = field_key("req", "model");
        let b = field_key("req", "model");
        assert_eq!(a, "req.model");
        assert!(std::ptr::eq(a, b));
        assert_eq!(field_key("", "model"), "model");
    }
}

//! Macro callsites, and the span attributes that come from them.
//!
//! What a macro knows at compile time — its template, code location and function — is the same for every span it
//! starts. The caller's thread writes none of it: a span carries one `budobserve_callsite` marker (the callsite's
//! number, and whether its message is still to be rendered), and the span is *completed* later, on the exporter's
//! thread for the exporters BudObserve batches itself ([`ConfigBuilder::span_exporter`]): the marker is replaced
//! by `code.filepath`, `code.lineno`, `code.namespace`, `code.function`, `budobserve_msg_template` and, when the
//! macro left it to the export side, `budobserve_msg` rendered from the template and the recorded values. Span
//! processors added with [`ConfigBuilder::span_processor`] see complete spans: for them the completion happens
//! on the caller's thread before they run. Either way it writes in place, in room the span's attribute vector
//! reserved when it started. No exporter ever sees a marker.
//!
//! [`ConfigBuilder::span_exporter`]: crate::ConfigBuilder::span_exporter
//! [`ConfigBuilder::span_processor`]: crate::ConfigBuilder::span_processor

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use opentelemetry::{KeyValue, Value};

use crate::constants;
use crate::template;

/// What a macro invocation knows at compile time.
pub struct Callsite {
    /// The message template as written.
    pub template: &'static str,
    /// The message of a template without placeholders (the template, braces unescaped).
    pub fixed_message: Option<&'static str>,
    /// The span name when it is not the template (`_span_name`, `#[instrument(span_name)]`).
    pub name: Option<&'static str>,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
    /// `module_path!()`.
    pub module_path: &'static str,
    /// The instrumented function.
    pub function: Option<&'static str>,
    /// Static tags.
    pub tags: &'static [&'static str],
    /// The callsite's number in the registry, assigned when it first records (`CallsiteId::new()` in a static).
    pub id: CallsiteId,
    /// Whether the level directives let its target record, decided on its first record (`Interest::new()`).
    pub interest: Interest,
}

impl fmt::Debug for Callsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callsite")
            .field("template", &self.template)
            .field("file", &self.file)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A callsite's number: 0 until registered, then its index in the registry plus one.
#[derive(Debug)]
pub struct CallsiteId(AtomicU32);

impl CallsiteId {
    /// Not yet registered.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> CallsiteId {
        CallsiteId(AtomicU32::new(0))
    }
}

/// A call site's decision under the level directives (see `directives`), kept until they change: their version
/// in the high bits, the threshold of the call site's target in the low byte.
#[derive(Debug)]
pub struct Interest(AtomicU64);

impl Interest {
    /// Not decided yet.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Interest {
        Interest(AtomicU64::new(0))
    }

    /// The threshold kept for `version` (never 0), else `resolve`'s, kept.
    #[inline]
    pub(crate) fn threshold(&self, version: u64, resolve: impl FnOnce() -> u8) -> u8 {
        let kept = self.0.load(Ordering::Relaxed);
        if kept >> 8 == version {
            return kept as u8;
        }
        self.decide(version, resolve)
    }

    #[cold]
    #[inline(never)]
    fn decide(&self, version: u64, resolve: impl FnOnce() -> u8) -> u8 {
        let threshold = resolve();
        self.0.store(version << 8 | u64::from(threshold), Ordering::Relaxed);
        threshold
    }
}

/// Every callsite that has recorded, by number. Only appended to (once per callsite); read on the export side.
static REGISTRY: RwLock<Vec<&'static Callsite>> = RwLock::new(Vec::new());

/// How many attributes completing a span can add beyond its marker, which it replaces: the code location (3),
/// the function, the template and the message.
pub(crate) const COMPLETION_ROOM: usize = 5;

impl Callsite {
    /// The marker of a span of this callsite: its number, shifted left once, with the low bit set when the message
    /// is to be rendered on completion.
    #[inline]
    pub(crate) fn marker(&'static self, render_message: bool) -> KeyValue {
        let id = match self.id.0.load(Ordering::Acquire) {
            0 => self.register(),
            id => id,
        };
        KeyValue::new(constants::CALLSITE, (i64::from(id) << 1) | i64::from(render_message))
    }

    #[cold]
    fn register(&'static self) -> u32 {
        let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have registered it while this one waited for the lock.
        let id = self.id.0.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        registry.push(self);
        let id = u32::try_from(registry.len()).unwrap_or(u32::MAX);
        self.id.0.store(id, Ordering::Release);
        id
    }
}

/// The template of a span's callsite, while the span is not completed yet.
pub(crate) fn template(attributes: &[KeyValue]) -> Option<&'static str> {
    let (callsite, _) = resolve(&attributes[marker_position(attributes)?].value)?;
    Some(callsite.template)
}

/// The callsite a marker value names, and whether the message is to be rendered.
fn resolve(marker: &Value) -> Option<(&'static Callsite, bool)> {
    let Value::I64(marker) = *marker else { return None };
    let index = usize::try_from(marker >> 1).ok()?.checked_sub(1)?;
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    registry.get(index).map(|callsite| (*callsite, marker & 1 == 1))
}

fn marker_position(attributes: &[KeyValue]) -> Option<usize> {
    attributes.iter().rposition(|kv| kv.key.as_str() == constants::CALLSITE)
}

/// Replaces a span's callsite marker with the attributes it stands for (nothing to do without one).
pub(crate) fn complete(attributes: &mut Vec<KeyValue>) {
    let Some(position) = marker_position(attributes) else { return };
    let resolved = resolve(&attributes[position].value);
    attributes.remove(position);
    let Some((callsite, render_message)) = resolved else { return };
    let added = 4 + usize::from(callsite.function.is_some()) + usize::from(render_message);
    if attributes.capacity() - attributes.len() < added {
        // On the export side: a new vector of this thread's rather than growing the caller's in place, which
        // would take the caller's allocator arena (its lock) from this thread.
        let mut completed = Vec::with_capacity(attributes.len() + added);
        completed.append(attributes);
        *attributes = completed;
    }
    attributes.extend([
        KeyValue::new(constants::CODE_FILEPATH, callsite.file),
        KeyValue::new(constants::CODE_LINENO, i64::from(callsite.line)),
        KeyValue::new(constants::CODE_NAMESPACE, callsite.module_path),
    ]);
    if let Some(function) = callsite.function {
        attributes.push(KeyValue::new(constants::CODE_FUNCTION, function));
    }
    attributes.push(KeyValue::new(constants::MSG_TEMPLATE, callsite.template));
    if render_message {
        let message = match callsite.fixed_message {
            Some(message) => Value::from(message),
            None => Value::from(template::render(callsite.template, attributes)),
        };
        attributes.push(KeyValue::new(constants::MSG, message));
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::SpanData;

    use super::*;

    static CALLSITE: Callsite = Callsite {
        template: "user {user_id} said {{hi}}",
        fixed_message: None,
        name: None,
        file: "src/handlers.rs",
        line: 42,
        module_path: "service::handlers",
        function: Some("login"),
        tags: &[],
        id: CallsiteId::new(),
        interest: Interest::new(),
    };

    #[test]
    fn completion_replaces_the_marker() {
        let mut attributes = vec![KeyValue::new("user_id", 7), CALLSITE.marker(true), KeyValue::new("after", true)];
        complete(&mut attributes);
        assert_eq!(
            attributes,
            [
                KeyValue::new("user_id", 7),
                KeyValue::new("after", true),
                KeyValue::new(constants::CODE_FILEPATH, "src/handlers.rs"),
                KeyValue::new(constants::CODE_LINENO, 42),
                KeyValue::new(constants::CODE_NAMESPACE, "service::handlers"),
                KeyValue::new(constants::CODE_FUNCTION, "login"),
                KeyValue::new(constants::MSG_TEMPLATE, "user {user_id} said {{hi}}"),
                KeyValue::new(constants::MSG, "user 7 said {hi}"),
            ]
        );
        // Completing again changes nothing.
        let completed = attributes.clone();
        complete(&mut attributes);
        assert_eq!(attributes, completed);
    }

    #[test]
    fn a_message_rendered_by_the_caller_is_kept() {
        let mut attributes =
            vec![KeyValue::new("user_id", 7), KeyValue::new(constants::MSG, "given"), CALLSITE.marker(false)];
        complete(&mut attributes);
        assert_eq!(
            attributes.iter().find(|kv| kv.key.as_str() == constants::MSG).map(|kv| kv.value.as_str()).as_deref(),
            Some("given")
        );
        assert_eq!(attributes.iter().filter(|kv| kv.key.as_str() == constants::MSG).count(), 1);
        assert_eq!(attributes.last(), Some(&KeyValue::new(constants::MSG_TEMPLATE, "user {user_id} said {{hi}}")));
    }

    #[test]
    fn macros_leave_to_the_export_side_what_it_can_render() {
        use opentelemetry_sdk::trace::SimpleSpanProcessor;

        use crate::testing::TestExporter;
        use crate::{BudObserve, EnvSource, bud_info, configure, with_instance};

        // An exporter that is not completing: it sees what the caller's thread wrote.
        let raw = TestExporter::default();
        let config = configure()
            .env(EnvSource::Map(Default::default()))
            .console(false)
            .span_processor_raw(SimpleSpanProcessor::new(raw.clone()))
            .build()
            .expect("valid configuration");
        let observe = BudObserve::new(config);
        // Room for the completion and for scrubbing's note (its paths and its rules).
        assert_eq!(observe.completion_room(), COMPLETION_ROOM + 2);
        with_instance(&observe, || {
            let name = "ada";
            bud_info!("deferred {name}");
            bud_info!("formatted {name:>5}");
        });
        let marker = |span: &SpanData| {
            let position = marker_position(&span.attributes).expect("a marker");
            resolve(&span.attributes[position].value).expect("a registered callsite")
        };
        let deferred = raw.span("deferred {name}");
        assert_eq!(deferred.attributes.len(), 4, "{:?}", deferred.attributes);
        assert!(deferred.attributes.iter().all(|kv| kv.key.as_str() != constants::MSG));
        let (callsite, render) = marker(&deferred);
        assert_eq!((callsite.template, render), ("deferred {name}", true));
        let formatted = raw.span("formatted {name:>5}");
        assert_eq!(attribute(&formatted, constants::MSG), Some(&Value::from("formatted   ada")));
        let (callsite, render) = marker(&formatted);
        assert_eq!((callsite.template, render), ("formatted {name:>5}", false));
    }

    fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
        span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
    }

    #[test]
    fn an_unknown_marker_is_dropped() {
        let mut attributes = vec![KeyValue::new("a", 1), KeyValue::new(constants::CALLSITE, i64::MAX)];
        complete(&mut attributes);
        assert_eq!(attributes, [KeyValue::new("a", 1)]);
        let mut attributes = vec![KeyValue::new(constants::CALLSITE, "not a number")];
        complete(&mut attributes);
        assert!(attributes.is_empty());
    }

    #[test]
    fn an_interest_is_kept_per_version() {
        let interest = Interest::new();
        assert_eq!(interest.threshold(3, || 9), 9);
        assert_eq!(interest.threshold(3, || unreachable!("kept")), 9);
        assert_eq!(interest.threshold(4, || u8::MAX), u8::MAX);
        assert_eq!(interest.threshold(4, || unreachable!("kept")), u8::MAX);
    }
}

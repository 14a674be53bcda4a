//! `#[budobserve::instrument]` on every function shape: attributes, templates, results, errors, nesting.

use std::error::Error;
use std::fmt;
use std::future::Future;

use budobserve::opentelemetry::Value;
use budobserve::opentelemetry::trace::{SpanId, Status};
use budobserve::testing::{self, attribute};
use budobserve::{KeyValue, bud_info};
use serde::Serialize;

#[derive(Serialize, Clone)]
struct ChatRequest {
    model: String,
    max_tokens: u32,
}

/// Has no attribute form: skipped when arguments are extracted by default.
struct Connection;

#[derive(Debug)]
struct UpstreamError;

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream timed out")
    }
}

impl Error for UpstreamError {}

#[derive(Debug)]
struct ChatError {
    source: UpstreamError,
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("chat failed")
    }
}

impl Error for ChatError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

#[budobserve::instrument]
fn add(a: i64, b: i64, _connection: &Connection) -> i64 {
    a + b
}

#[budobserve::instrument(msg_template = "chat with {request.model} ({request.max_tokens} tokens)", record_return, tags = ["llm"], level = "debug", span_name = "chat")]
fn chat(request: &ChatRequest, user_id: u64) -> Result<String, ChatError> {
    if request.max_tokens == 0 {
        return Err(ChatError { source: UpstreamError });
    }
    Ok(format!("hello {user_id}"))
}

#[budobserve::instrument(extract_args = [user], record_return)]
fn greet(user: &str, secret: &str) -> String {
    let _ = secret;
    format!("hi {user}")
}

#[budobserve::instrument(extract_args = false)]
fn nothing_extracted(value: i64) -> i64 {
    value
}

#[test]
fn sync_function_extracts_arguments_and_writes_code_attributes() {
    let capture = testing::capture();
    assert_eq!(capture.run(|| add(2, 3, &Connection)), 5);
    let span = capture.assert_has_span(
        "Calling instrument::add",
        &[
            KeyValue::new("budobserve_msg_template", "Calling instrument::add"),
            KeyValue::new("budobserve_msg", "Calling instrument::add"),
            KeyValue::new("budobserve_span_type", "span"),
            KeyValue::new("budobserve_level_num", 9),
            KeyValue::new("a", 2),
            KeyValue::new("b", 3),
            KeyValue::new("code.function", "add"),
            KeyValue::new("code.namespace", "instrument"),
            KeyValue::new("code.filepath", "tests/tests/instrument.rs"),
        ],
    );
    assert_eq!(attribute(&span, "_connection"), None, "an argument with no attribute form is skipped");
    assert!(matches!(attribute(&span, "code.lineno"), Some(Value::I64(_))));
    assert_eq!(span.status, Status::Unset);
}

#[test]
fn template_record_return_level_tags_and_span_name() {
    let capture = testing::capture();
    let request = ChatRequest { model: "llama".into(), max_tokens: 64 };
    let reply = capture.run(|| chat(&request, 7));
    assert_eq!(reply.ok().as_deref(), Some("hello 7"));
    let span = capture.assert_has_span(
        "chat",
        &[
            KeyValue::new("budobserve_msg_template", "chat with {request.model} ({request.max_tokens} tokens)"),
            KeyValue::new("budobserve_msg", "chat with llama (64 tokens)"),
            KeyValue::new("budobserve_level_num", 5),
            KeyValue::new("request.model", "llama"),
            KeyValue::new("request.max_tokens", 64),
            KeyValue::new("request", r#"{"model":"llama","max_tokens":64}"#),
            KeyValue::new("user_id", 7),
            KeyValue::new("return", "hello 7"),
        ],
    );
    assert_eq!(span.status, Status::Unset, "Ok is untouched");
    assert!(span.events.is_empty());
    let tags = attribute(&span, "budobserve_tags").expect("tags");
    assert_eq!(
        tags.to_string(),
        Value::Array(vec![budobserve::opentelemetry::StringValue::from("llm")].into()).to_string()
    );
}

#[test]
fn err_is_recorded_with_its_chain_and_no_return_value() {
    let capture = testing::capture();
    let request = ChatRequest { model: "llama".into(), max_tokens: 0 };
    assert!(capture.run(|| chat(&request, 7)).is_err());
    let span = capture.assert_span_exception::<ChatError>("chat");
    assert_eq!(span.status, Status::error("chat failed"));
    assert_eq!(attribute(&span, "budobserve_level_num"), Some(&Value::I64(17)));
    assert_eq!(attribute(&span, "return"), None);
    assert_eq!(span.events.len(), 2, "the error and its source");
}

#[test]
fn extract_args_list_and_false() {
    let capture = testing::capture();
    capture.run(|| {
        greet("ada", "hunter2");
        nothing_extracted(5);
    });
    let greet = capture.assert_has_span(
        "Calling instrument::greet",
        &[KeyValue::new("user", "ada"), KeyValue::new("return", "hi ada")],
    );
    assert_eq!(attribute(&greet, "secret"), None);
    let none = capture.span("Calling instrument::nothing_extracted");
    assert_eq!(attribute(&none, "value"), None);
}

#[budobserve::instrument(record_return)]
async fn fetch(id: u32) -> Result<u32, Box<dyn Error + Send + Sync>> {
    tokio::task::yield_now().await;
    bud_info!("fetching {id}");
    if id == 0 {
        return Err(Box::new(ChatError { source: UpstreamError }));
    }
    let doubled = double(id).await;
    Ok(doubled)
}

#[budobserve::instrument]
async fn double(value: u32) -> u32 {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    value * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_nests_across_await_and_records_boxed_errors() {
    let capture = testing::capture();
    // The future that is spawned carries the capture to whatever thread polls it.
    let result = tokio::spawn(capture.run_async(fetch(21))).await.expect("task");
    assert_eq!(result.ok(), Some(42));
    let fetch_span =
        capture.assert_has_span("Calling instrument::fetch", &[KeyValue::new("id", 21), KeyValue::new("return", 42)]);
    let double = capture.assert_has_span("Calling instrument::double", &[KeyValue::new("value", 21)]);
    assert_eq!(double.parent_span_id, fetch_span.span_context.span_id());
    assert_eq!(capture.span("fetching {id}").parent_span_id, fetch_span.span_context.span_id());

    capture.clear();
    let failed = capture.run_async(fetch(0)).await;
    assert!(failed.is_err());
    let span = capture.assert_span_status_error("Calling instrument::fetch");
    let types: Vec<String> = span
        .events
        .iter()
        .filter_map(|e| e.attributes.iter().find(|kv| kv.key.as_str() == "exception.type"))
        .map(|kv| kv.value.to_string())
        .collect();
    assert_eq!(types, ["Box<dyn Error + Send + Sync>"], "by its public path, as written");
    let messages: Vec<String> = span
        .events
        .iter()
        .filter_map(|e| e.attributes.iter().find(|kv| kv.key.as_str() == "exception.message"))
        .map(|kv| kv.value.to_string())
        .collect();
    assert_eq!(messages, ["chat failed", "upstream timed out"]);
}

#[budobserve::instrument]
fn returns_future(value: u32) -> impl Future<Output = Result<u32, String>> {
    async move {
        bud_info!("inside the returned future");
        if value == 0 { Err("zero".to_owned()) } else { Ok(value) }
    }
}

#[tokio::test]
async fn fn_returning_impl_future_spans_until_the_future_completes() {
    let capture = testing::capture();
    let future = capture.run(|| returns_future(3));
    assert!(capture.spans().is_empty(), "the span is open until the future completes");
    assert_eq!(capture.run_async(future).await, Ok(3));
    let span = capture.span("Calling instrument::returns_future");
    assert_eq!(capture.span("inside the returned future").parent_span_id, span.span_context.span_id());

    assert!(capture.run_async(capture.run(|| returns_future(0))).await.is_err());
    let failed = capture.spans_named("Calling instrument::returns_future").pop().expect("second span");
    assert_eq!(failed.status, Status::error("zero"));
}

struct Service {
    name: String,
    calls: u32,
}

impl Service {
    #[budobserve::instrument(msg_template = "{self.name} handles {n}")]
    fn handle(&self, n: u32) -> u32 {
        n + 1
    }

    #[budobserve::instrument]
    fn bump(&mut self) -> u32 {
        self.calls += 1;
        self.calls
    }

    #[budobserve::instrument]
    fn into_name(self) -> String {
        self.name
    }

    #[budobserve::instrument]
    fn create(name: &str) -> Service {
        Service { name: name.to_owned(), calls: 0 }
    }

    #[budobserve::instrument]
    fn name_ref(&self) -> &str {
        &self.name
    }

    #[budobserve::instrument(record_return)]
    async fn async_method(&self, n: u32) -> u32 {
        tokio::task::yield_now().await;
        self.calls + n
    }
}

#[tokio::test]
async fn methods_and_associated_functions() {
    let capture = testing::capture();
    let mut service = capture.run(|| Service::create("svc"));
    capture.run(|| {
        assert_eq!(service.handle(1), 2);
        assert_eq!(service.bump(), 1);
        assert_eq!(service.name_ref(), "svc");
    });
    assert_eq!(capture.run_async(service.async_method(4)).await, 5);
    assert_eq!(capture.run(|| service.into_name()), "svc");

    capture.assert_has_span("Calling instrument::create", &[KeyValue::new("name", "svc")]);
    capture.assert_has_span(
        "{self.name} handles {n}",
        &[KeyValue::new("budobserve_msg", "svc handles 1"), KeyValue::new("self.name", "svc"), KeyValue::new("n", 1)],
    );
    capture.span("Calling instrument::bump");
    capture.span("Calling instrument::name_ref");
    capture.assert_has_span("Calling instrument::async_method", &[KeyValue::new("n", 4), KeyValue::new("return", 5)]);
    capture.span("Calling instrument::into_name");
}

#[budobserve::instrument(record_return)]
fn largest<T>(items: &[T]) -> Option<&T>
where
    T: PartialOrd + Serialize,
{
    items.iter().fold(None, |best, item| match best {
        Some(b) if b >= item => Some(b),
        _ => Some(item),
    })
}

#[test]
fn generic_function_with_where_clause() {
    let capture = testing::capture();
    assert_eq!(capture.run(|| largest(&[3, 9, 4])), Some(&9));
    capture.assert_has_span("Calling instrument::largest", &[KeyValue::new("return", 9)]);
}

trait Greeter {
    fn greet(&self, name: &str) -> String;
}

struct English;

impl Greeter for English {
    #[budobserve::instrument(record_return)]
    fn greet(&self, name: &str) -> String {
        format!("hello {name}")
    }
}

#[async_trait::async_trait]
trait Store {
    async fn load(&self, key: &str) -> Result<String, UpstreamError>;
}

struct MemoryStore;

#[async_trait::async_trait]
impl Store for MemoryStore {
    #[budobserve::instrument(record_return)]
    async fn load(&self, key: &str) -> Result<String, UpstreamError> {
        tokio::task::yield_now().await;
        bud_info!("loading {key}");
        if key.is_empty() { Err(UpstreamError) } else { Ok(key.to_uppercase()) }
    }
}

#[tokio::test]
async fn trait_impls_and_async_trait_methods() {
    let capture = testing::capture();
    capture.run(|| English.greet("ada"));
    capture.assert_has_span(
        "Calling instrument::greet",
        &[KeyValue::new("name", "ada"), KeyValue::new("return", "hello ada")],
    );

    let store: &dyn Store = &MemoryStore;
    // An `#[async_trait]` method starts its span when called (it returns a boxed future).
    let loading = capture.run(|| store.load("k"));
    assert_eq!(capture.run_async(loading).await.ok().as_deref(), Some("K"));
    let load =
        capture.assert_has_span("Calling instrument::load", &[KeyValue::new("key", "k"), KeyValue::new("return", "K")]);
    assert_eq!(capture.span("loading {key}").parent_span_id, load.span_context.span_id());
    capture.clear();
    let failing = capture.run(|| store.load(""));
    assert!(capture.run_async(failing).await.is_err());
    capture.assert_span_exception::<UpstreamError>("Calling instrument::load");
}

#[budobserve::instrument(new_trace)]
fn background_job() {
    bud_info!("job step");
}

#[test]
fn new_trace_starts_a_linked_root() {
    let capture = testing::capture();
    capture.run(|| {
        let _request = budobserve::bud_span!("request").entered();
        background_job();
    });
    let request = capture.span("request");
    let job = capture.span("Calling instrument::background_job");
    assert_eq!(job.parent_span_id, SpanId::INVALID);
    assert_ne!(job.span_context.trace_id(), request.span_context.trace_id());
    assert_eq!(job.links.len(), 1);
    assert_eq!(job.links[0].span_context, request.span_context);
    assert_eq!(capture.span("job step").parent_span_id, job.span_context.span_id());
}

#[budobserve::instrument(allow_generator)]
fn numbers(limit: u32) -> impl Iterator<Item = u32> {
    0..limit
}

#[test]
fn allow_generator_times_only_the_call() {
    let capture = testing::capture();
    let sum: u32 = capture.run(|| numbers(4)).sum();
    assert_eq!(sum, 6);
    capture.assert_has_span("Calling instrument::numbers", &[KeyValue::new("limit", 4)]);
}

#[budobserve::instrument]
fn explodes(code: u32) {
    panic!("exploded with {code}");
}

#[test]
fn panic_inside_an_instrumented_function_is_recorded() {
    let capture = testing::capture();
    let result = std::panic::catch_unwind(|| capture.run(|| explodes(7)));
    assert!(result.is_err());
    let span = capture.assert_span_status_error("Calling instrument::explodes");
    assert_eq!(span.status, Status::error("exploded with 7"));
}

#[budobserve::instrument]
fn fails_with_string(fail: bool) -> Result<(), String> {
    if fail { Err("not allowed".to_owned()) } else { Ok(()) }
}

#[test]
fn display_errors_are_recorded_with_their_text() {
    let capture = testing::capture();
    let _ = capture.run(|| fails_with_string(true));
    let span = capture.assert_span_has_event("Calling instrument::fails_with_string", "exception");
    assert_eq!(span.status, Status::error("not allowed"));
}

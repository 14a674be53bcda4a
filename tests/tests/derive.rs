//! `#[derive(BudAttributes)]`: field options, prefixes, nesting, and use from the macros and `#[instrument]`.

use std::fmt;

use budobserve::opentelemetry::Value;
use budobserve::testing::{self, attribute};
use budobserve::{BudAttributes, KeyValue, bud_exception, bud_info, bud_span};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    role: String,
    content: String,
}

struct Region(&'static str);

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "region:{}", self.0)
    }
}

#[derive(Debug)]
enum Tier {
    Gold,
}

#[derive(BudAttributes)]
struct Usage {
    input_tokens: u32,
    output_tokens: u32,
}

#[derive(BudAttributes)]
#[allow(dead_code, reason = "`api_key` is only ever recorded redacted")]
struct ChatRequest {
    #[bud(key = "gen_ai.request.model")]
    model: String,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    #[bud(skip)]
    messages: Vec<Message>,
    #[bud(redact)]
    api_key: String,
    #[bud(rename = "user")]
    user_id: u64,
    #[bud(json)]
    stop: Vec<String>,
    #[bud(display)]
    region: Region,
    #[bud(debug)]
    tier: Tier,
    usage: Usage,
    #[bud(flatten)]
    extra: Usage,
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "llama-3".into(),
        temperature: Some(0.5),
        max_tokens: None,
        messages: vec![Message { role: "user".into(), content: "secret prompt".into() }],
        api_key: "sk-live-123".into(),
        user_id: 9,
        stop: vec!["\n".into()],
        region: Region("eu"),
        tier: Tier::Gold,
        usage: Usage { input_tokens: 10, output_tokens: 20 },
        extra: Usage { input_tokens: 1, output_tokens: 2 },
    }
}

#[test]
fn fields_become_attributes_under_the_argument_name() {
    let capture = testing::capture();
    let req = request();
    capture.run(|| bud_info!("chat request", req));
    let span = capture.assert_has_span(
        "chat request",
        &[
            KeyValue::new("gen_ai.request.model", "llama-3"),
            KeyValue::new("req.temperature", 0.5),
            KeyValue::new("req.api_key", "[Scrubbed due to 'redact']"),
            KeyValue::new("req.user", 9),
            KeyValue::new("req.stop", "[\"\\n\"]"),
            KeyValue::new("req.region", "region:eu"),
            KeyValue::new("req.tier", "Gold"),
            KeyValue::new("req.usage.input_tokens", 10),
            KeyValue::new("req.usage.output_tokens", 20),
            KeyValue::new("req.input_tokens", 1),
            KeyValue::new("req.output_tokens", 2),
        ],
    );
    assert_eq!(attribute(&span, "req.max_tokens"), None, "None is absent");
    assert_eq!(attribute(&span, "req.messages"), None, "skipped");
    assert_eq!(attribute(&span, "req"), None, "a derived value records its fields, not itself");
    let exported = format!("{:?}", capture.spans());
    assert!(!exported.contains("sk-live-123"), "a redacted field never leaves the process");
    assert!(!exported.contains("secret prompt"));
}

#[derive(BudAttributes)]
#[bud(prefix = "http.request")]
struct HttpRequest {
    method: &'static str,
    #[bud(rename = "header.user_agent")]
    user_agent: String,
}

#[test]
fn struct_prefix_replaces_the_argument_name() {
    let capture = testing::capture();
    let incoming = HttpRequest { method: "GET", user_agent: "curl".into() };
    capture.run(|| bud_info!("request {incoming}", incoming));
    capture.assert_has_span(
        "request {incoming}",
        &[
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.request.header.user_agent", "curl"),
            KeyValue::new(
                "budobserve_msg",
                "request {http.request.method: \"GET\", http.request.header.user_agent: \"curl\"}",
            ),
        ],
    );
}

#[test]
fn message_shows_the_recorded_fields_with_redaction() {
    let capture = testing::capture();
    let usage = Usage { input_tokens: 3, output_tokens: 4 };
    let req = request();
    capture.run(|| bud_info!("usage {usage} for {req.model}", req));
    capture.assert_has_span(
        "usage {usage} for {req.model}",
        &[
            KeyValue::new("budobserve_msg", "usage {input_tokens: 3, output_tokens: 4} for llama-3"),
            KeyValue::new("usage.input_tokens", 3),
            KeyValue::new("req.model", "llama-3"),
        ],
    );
}

#[budobserve::instrument(msg_template = "chat with {req.model}", extract_args = [req])]
fn chat(req: &ChatRequest) -> usize {
    req.messages.len()
}

#[test]
fn instrument_extracts_derived_arguments_field_by_field() {
    let capture = testing::capture();
    let req = request();
    assert_eq!(capture.run(|| chat(&req)), 1);
    let span = capture.assert_has_span(
        "chat with {req.model}",
        &[
            KeyValue::new("budobserve_msg", "chat with llama-3"),
            KeyValue::new("req.model", "llama-3"),
            KeyValue::new("gen_ai.request.model", "llama-3"),
            KeyValue::new("req.api_key", "[Scrubbed due to 'redact']"),
            KeyValue::new("req.usage.output_tokens", 20),
        ],
    );
    assert!(!format!("{:?}", span.attributes).contains("sk-live-123"));
}

#[derive(Debug)]
struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Timeout {}

#[test]
fn exception_macro_records_the_error_at_the_log_time() {
    let capture = testing::capture();
    let attempt = 3;
    let err = Timeout;
    capture.run(|| {
        let _span = bud_span!("calling upstream").entered();
        bud_exception!(&err, "attempt {attempt} failed", _tags = ["retry"]);
    });
    let log = capture.assert_has_span(
        "attempt {attempt} failed",
        &[
            KeyValue::new("budobserve_msg", "attempt 3 failed"),
            KeyValue::new("budobserve_level_num", 17),
            KeyValue::new("attempt", 3),
        ],
    );
    capture.assert_span_exception::<Timeout>("attempt {attempt} failed");
    assert_eq!(log.events[0].timestamp, log.start_time);
    assert_eq!(log.parent_span_id, capture.span("calling upstream").span_context.span_id());
    assert!(matches!(attribute(&log, "code.lineno"), Some(Value::I64(_))));
}

//! The LLM middleware and the `async-openai` adapter against a loopback server answering as OpenAI and Anthropic
//! document: whole JSON answers, server-sent event streams, embeddings, the Responses API, API errors and rate
//! limits, streams cut short and streams dropped by the caller.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use budobserve::constants::{self, bud, gen_ai};
use budobserve::integrations::llm::LlmMiddleware;
use budobserve::opentelemetry::trace::{SpanKind, Status};
use budobserve::opentelemetry::{Array, Value};
use budobserve::opentelemetry_sdk::trace::SpanData;
use budobserve::testing::{self, Capture, attribute};
use budobserve::{BudContext, Level, bud_span};
use common::http::{int, run, serve, text};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::{Value as JsonValue, json};

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

fn sse(events: &[String]) -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = events.iter().map(|e| Ok(Bytes::from(e.clone()))).collect();
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(tokio_stream::iter(chunks))).into_response()
}

fn data(json: JsonValue) -> String {
    format!("data: {json}\n\n")
}

async fn openai(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<JsonValue>) -> Response {
    seen.lock().unwrap().push(headers);
    let model = body["model"].as_str().unwrap_or_default();
    // Rate limited always, or every other request.
    static FLAKY: AtomicUsize = AtomicUsize::new(0);
    if model == "rate-limited" || (model == "flaky" && FLAKY.fetch_add(1, Ordering::Relaxed).is_multiple_of(2)) {
        let error = json!({"error": {"message": "Rate limit reached for gpt-4o on requests per min", "type": "requests", "code": "rate_limit_exceeded"}});
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "0")], Json(error)).into_response();
    }
    if body["stream"] == json!(true) {
        let chunk = |delta: JsonValue, finish: JsonValue| {
            data(
                json!({"id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
            )
        };
        let mut events = vec![
            chunk(json!({"role": "assistant", "content": ""}), JsonValue::Null),
            chunk(json!({"content": "Hel"}), JsonValue::Null),
            chunk(json!({"content": "lo!"}), JsonValue::Null),
        ];
        if model == "cut-short" {
            return sse(&events);
        }
        events.push(chunk(json!({}), json!("stop")));
        events.push(data(
            json!({"id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}}),
        ));
        events.push("data: [DONE]\n\n".to_owned());
        return sse(&events);
    }
    // A gateway's own models answer under their name; the rest as gpt-4o.
    let answered = if model.starts_with("bud-") { model } else { "gpt-4o-2024-08-06" };
    Json(json!({
        "id": "chatcmpl-123", "object": "chat.completion", "created": 1, "model": answered,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "prompt_tokens_details": {"cached_tokens": 4}}
    }))
    .into_response()
}

/// OpenAI's Responses API, whole and streamed (the events it documents, in its order).
async fn responses(Json(body): Json<JsonValue>) -> Response {
    let response = |status: &str, output: JsonValue, usage: JsonValue| {
        json!({"id": "resp_67cc", "object": "response", "created_at": 1, "status": status, "model": "gpt-4o-2024-08-06",
            "output": output, "usage": usage})
    };
    let message = json!([{"type": "message", "id": "msg_67cc", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]}]);
    let usage = json!({"input_tokens": 36, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 123});
    if body["stream"] != json!(true) {
        return Json(response("completed", message, usage)).into_response();
    }
    let event = |name: &str, json: JsonValue| format!("event: {name}\ndata: {json}\n\n");
    sse(&[
        event(
            "response.created",
            json!({"type": "response.created", "response": response("in_progress", json!([]), JsonValue::Null)}),
        ),
        event(
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "message", "id": "msg_67cc", "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        event(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "item_id": "msg_67cc", "output_index": 0, "content_index": 0, "delta": "Hi"}),
        ),
        event(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "item_id": "msg_67cc", "output_index": 0, "content_index": 0, "delta": " there"}),
        ),
        event(
            "response.output_text.done",
            json!({"type": "response.output_text.done", "item_id": "msg_67cc", "output_index": 0, "content_index": 0, "text": "Hi there"}),
        ),
        event(
            "response.completed",
            json!({"type": "response.completed", "response": response("completed", message, usage)}),
        ),
    ])
}

async fn embeddings(Json(_body): Json<JsonValue>) -> Json<JsonValue> {
    Json(json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}))
}

async fn anthropic(Json(body): Json<JsonValue>) -> Response {
    if body["stream"] == json!(true) {
        let event = |name: &str, json: JsonValue| format!("event: {name}\ndata: {json}\n\n");
        return sse(&[
            event(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
                "model": "claude-3-5-sonnet-20241022", "content": [], "stop_reason": null,
                "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5}}}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            event("ping", json!({"type": "ping"})),
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bonjour"}}),
            ),
            event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 15}}),
            ),
            event("message_stop", json!({"type": "message_stop"})),
        ]);
    }
    Json(json!({"id": "msg_02", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 3}}))
    .into_response()
}

async fn provider() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/responses", post(responses))
        .route("/v1/messages", post(anthropic))
        .with_state(Arc::clone(&seen));
    (format!("http://{}", serve(app).await), seen)
}

fn client(middleware: LlmMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new()).with(middleware).build()
}

fn llm_spans(capture: &Capture) -> Vec<SpanData> {
    capture.spans().into_iter().filter(|s| s.instrumentation_scope.name() == "budobserve.llm").collect()
}

fn float(span: &SpanData, key: &str) -> Option<f64> {
    match attribute(span, key) {
        Some(Value::F64(n)) => Some(*n),
        _ => None,
    }
}

fn strings(values: &[&str]) -> Value {
    Value::Array(Array::String(values.iter().map(|v| v.to_string().into()).collect()))
}

fn json_attribute(span: &SpanData, key: &str) -> JsonValue {
    serde_json::from_str(&text(span, key).unwrap_or_default()).unwrap_or(JsonValue::Null)
}

#[test]
fn a_chat_completion_records_parameters_usage_and_shape_not_content() {
    let capture = testing::capture();
    let (answer, headers) = run(&capture, async {
        let (base, seen) = provider().await;
        let client = client(LlmMiddleware::for_instance(capture.observe()).provider("budgateway"));
        let _bud = BudContext::new().project_id("proj-llm").attach();
        let _request = bud_span!("request").entered();
        let body = json!({"model": "gpt-4o", "temperature": 0.2, "max_tokens": 64, "top_p": 0.9, "seed": 7,
            "stop": ["\n\n"], "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "my password is hunter2"}]});
        let answer: JsonValue =
            client.post(format!("{base}/v1/chat/completions")).json(&body).send().await.unwrap().json().await.unwrap();
        let headers = seen.lock().unwrap().pop().unwrap();
        (answer, headers)
    });
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello there!", "the caller gets the answer unchanged");
    let [span] = llm_spans(&capture).try_into().unwrap();
    assert_eq!(span.name, "Chat Completion with gpt-4o");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.parent_span_id, capture.span("request").span_context.span_id());
    assert_eq!(attribute(&span, constants::TAGS), Some(&strings(&["LLM"])));
    for (key, value) in [
        (gen_ai::OPERATION_NAME, "chat"),
        (gen_ai::PROVIDER_NAME, "budgateway"),
        (gen_ai::SYSTEM, "budgateway"),
        (gen_ai::REQUEST_MODEL, "gpt-4o"),
        (gen_ai::RESPONSE_MODEL, "gpt-4o-2024-08-06"),
        (gen_ai::RESPONSE_ID, "chatcmpl-123"),
        (bud::PROJECT_ID, "proj-llm"),
    ] {
        assert_eq!(text(&span, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(float(&span, gen_ai::REQUEST_TEMPERATURE), Some(0.2));
    assert_eq!(float(&span, gen_ai::REQUEST_TOP_P), Some(0.9));
    assert_eq!(int(&span, gen_ai::REQUEST_MAX_TOKENS), Some(64));
    assert_eq!(int(&span, gen_ai::REQUEST_SEED), Some(7));
    assert_eq!(attribute(&span, gen_ai::REQUEST_STOP_SEQUENCES), Some(&strings(&["\n\n"])));
    assert_eq!(attribute(&span, gen_ai::RESPONSE_FINISH_REASONS), Some(&strings(&["stop"])));
    assert_eq!(int(&span, gen_ai::USAGE_INPUT_TOKENS), Some(12));
    assert_eq!(int(&span, gen_ai::USAGE_OUTPUT_TOKENS), Some(5));
    assert_eq!(int(&span, gen_ai::USAGE_TOTAL_TOKENS), Some(17));
    assert_eq!(int(&span, gen_ai::USAGE_CACHE_READ_INPUT_TOKENS), Some(4));
    assert_eq!(
        json_attribute(&span, gen_ai::INPUT_MESSAGES),
        json!([{"role": "system"}, {"role": "user"}]),
        "no content by default"
    );
    assert_eq!(json_attribute(&span, gen_ai::OUTPUT_MESSAGES), json!([{"role": "assistant", "finish_reason": "stop"}]));
    assert!(!format!("{:?}", span.attributes).contains("hunter2"));
    assert_eq!(attribute(&span, gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK), None, "not a stream");
    // gpt-4o: $2.50 per million input tokens, $1.25 cached, $10 output: 8 × 2.5 + 4 × 1.25 + 5 × 10 per million.
    let cost = float(&span, gen_ai::USAGE_COST).expect("a known model has a cost");
    assert_eq!(float(&span, gen_ai::INFERENCE_COST), Some(cost), "the same price under BudMetrics' key");
    assert!((cost - 0.000_075).abs() < 1e-12, "{cost}");

    // The gateway continues the caller's trace, bud context included.
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(traceparent.contains(&span.span_context.span_id().to_string()), "{traceparent}");
    assert!(headers["baggage"].to_str().unwrap().contains("bud.project_id=proj-llm"));
}

#[test]
fn a_stream_reaches_the_caller_unchanged_and_the_span_accumulates_it() {
    let capture = testing::capture();
    let (events, text_seen) = run(&capture, async {
        let (base, _) = provider().await;
        let client = client(LlmMiddleware::for_instance(capture.observe()).record_content(true));
        let body = json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "greet"}]});
        let mut response = client.post(format!("{base}/v1/chat/completions")).json(&body).send().await.unwrap();
        let mut raw = Vec::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            raw.extend_from_slice(&chunk);
        }
        let raw = String::from_utf8(raw).unwrap();
        (raw.matches("data: ").count(), raw.contains("data: [DONE]"))
    });
    assert_eq!((events, text_seen), (6, true), "every event, as the provider sent it");
    let [span] = llm_spans(&capture).try_into().unwrap();
    assert_eq!(span.status, Status::Unset);
    assert_eq!(text(&span, gen_ai::RESPONSE_ID).as_deref(), Some("chatcmpl-9x"));
    assert_eq!(attribute(&span, gen_ai::REQUEST_STREAM), Some(&Value::Bool(true)));
    assert_eq!(attribute(&span, gen_ai::RESPONSE_FINISH_REASONS), Some(&strings(&["stop"])));
    assert_eq!((int(&span, gen_ai::USAGE_INPUT_TOKENS), int(&span, gen_ai::USAGE_OUTPUT_TOKENS)), (Some(12), Some(2)));
    assert!(float(&span, gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK).is_some_and(|t| t > 0.0));
    assert_eq!(attribute(&span, gen_ai::STREAM_INCOMPLETE), None);
    assert_eq!(json_attribute(&span, gen_ai::INPUT_MESSAGES), json!([{"role": "user", "content": "greet"}]));
    assert_eq!(
        json_attribute(&span, gen_ai::OUTPUT_MESSAGES),
        json!([{"role": "assistant", "finish_reason": "stop", "content": "Hello!"}])
    );
}

#[test]
fn streams_cut_short_or_dropped_end_their_span_marked() {
    let capture = testing::capture();
    run(&capture, async {
        let (base, _) = provider().await;
        let client = client(LlmMiddleware::for_instance(capture.observe()).record_content(true));
        // The provider closes the stream before its end.
        let cut = json!({"model": "cut-short", "stream": true, "messages": []});
        let response = client.post(format!("{base}/v1/chat/completions")).json(&cut).send().await.unwrap();
        response.bytes().await.unwrap();
        // The caller stops reading after the first chunk.
        let whole = json!({"model": "gpt-4o", "stream": true, "messages": []});
        let mut response = client.post(format!("{base}/v1/chat/completions")).json(&whole).send().await.unwrap();
        response.chunk().await.unwrap();
        drop(response);
    });
    let spans = llm_spans(&capture);
    assert_eq!(spans.len(), 2);
    let cut = spans.iter().find(|s| s.name == "Chat Completion with cut-short").unwrap();
    assert_eq!(json_attribute(cut, gen_ai::OUTPUT_MESSAGES), json!([{"role": "assistant", "content": "Hello!"}]));
    assert_eq!(attribute(cut, gen_ai::STREAM_INCOMPLETE), Some(&Value::Bool(true)), "no finish reason, no [DONE]");
    let dropped = spans.iter().find(|s| s.name == "Chat Completion with gpt-4o").unwrap();
    assert_eq!(attribute(dropped, gen_ai::STREAM_INCOMPLETE), Some(&Value::Bool(true)));
    assert_eq!(int(dropped, constants::LEVEL_NUM), Some(i64::from(Level::Warn.number())));
}

#[test]
fn anthropic_messages_whole_and_streamed() {
    let capture = testing::capture();
    run(&capture, async {
        let (base, _) = provider().await;
        let client = client(LlmMiddleware::for_instance(capture.observe()));
        for stream in [false, true] {
            let body = json!({"model": "claude-3-5-sonnet-latest", "max_tokens": 256, "stream": stream, "system": "be kind",
                "messages": [{"role": "user", "content": "hello"}]});
            let response = client.post(format!("{base}/v1/messages")).json(&body).send().await.unwrap();
            response.bytes().await.unwrap();
        }
    });
    let spans = llm_spans(&capture);
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(span.name, "Message with claude-3-5-sonnet-latest");
        assert_eq!(text(span, gen_ai::PROVIDER_NAME).as_deref(), Some("anthropic"));
        assert_eq!(text(span, gen_ai::RESPONSE_MODEL).as_deref(), Some("claude-3-5-sonnet-20241022"));
        assert_eq!(attribute(span, gen_ai::RESPONSE_FINISH_REASONS), Some(&strings(&["end_turn"])));
        assert_eq!(int(span, gen_ai::REQUEST_MAX_TOKENS), Some(256));
        assert_eq!(json_attribute(span, gen_ai::INPUT_MESSAGES), json!([{"role": "system"}, {"role": "user"}]));
    }
    let whole: HashMap<&str, Option<i64>> = [
        ("input", int(&spans[0], gen_ai::USAGE_INPUT_TOKENS)),
        ("output", int(&spans[0], gen_ai::USAGE_OUTPUT_TOKENS)),
        ("total", int(&spans[0], gen_ai::USAGE_TOTAL_TOKENS)),
    ]
    .into();
    assert_eq!(whole, [("input", Some(10)), ("output", Some(3)), ("total", Some(13))].into());
    let streamed = &spans[1];
    assert_eq!(text(streamed, gen_ai::RESPONSE_ID).as_deref(), Some("msg_01"));
    assert_eq!(int(streamed, gen_ai::USAGE_INPUT_TOKENS), Some(30), "25 uncached + 5 read from cache");
    assert_eq!(int(streamed, gen_ai::USAGE_OUTPUT_TOKENS), Some(15), "message_delta's usage is the final count");
    assert_eq!(int(streamed, gen_ai::USAGE_CACHE_READ_INPUT_TOKENS), Some(5));
    assert!(float(streamed, gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK).is_some());
    assert_eq!(attribute(streamed, gen_ai::STREAM_INCOMPLETE), None);
}

#[test]
fn embeddings_and_api_errors() {
    let capture = testing::capture();
    let status = run(&capture, async {
        let (base, _) = provider().await;
        let client = client(LlmMiddleware::for_instance(capture.observe()));
        let body = json!({"model": "text-embedding-3-small", "input": "hello"});
        client.post(format!("{base}/v1/embeddings")).json(&body).send().await.unwrap().bytes().await.unwrap();
        let limited = json!({"model": "rate-limited", "messages": [{"role": "user", "content": "hi"}]});
        let response = client.post(format!("{base}/v1/chat/completions")).json(&limited).send().await.unwrap();
        let status = response.status();
        let error: JsonValue = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "rate_limit_exceeded", "the caller still reads the error body");
        status
    });
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let spans = llm_spans(&capture);
    let embeddings = spans.iter().find(|s| s.name == "Embedding Creation with text-embedding-3-small").unwrap();
    assert_eq!(text(embeddings, gen_ai::OPERATION_NAME).as_deref(), Some("embeddings"));
    assert_eq!(int(embeddings, gen_ai::USAGE_INPUT_TOKENS), Some(8));
    assert_eq!(attribute(embeddings, gen_ai::INPUT_MESSAGES), None);

    let limited = spans.iter().find(|s| s.name == "Chat Completion with rate-limited").unwrap();
    assert!(
        matches!(&limited.status, Status::Error { description } if description.contains("Rate limit reached")),
        "{:?}",
        limited.status
    );
    assert_eq!(int(limited, constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));
    assert_eq!(int(limited, constants::http::RESPONSE_STATUS_CODE), Some(429));
    assert_eq!(text(limited, constants::http::ERROR_TYPE).as_deref(), Some("requests"));
    let exception = limited.events.iter().find(|e| e.name == constants::EXCEPTION_EVENT).expect("an exception");
    let message = exception.attributes.iter().find(|kv| kv.key.as_str() == constants::EXCEPTION_MESSAGE).unwrap();
    assert_eq!(message.value.as_str(), "Rate limit reached for gpt-4o on requests per min");
}

#[test]
fn unknown_models_have_no_cost_unless_priced() {
    let capture = testing::capture();
    run(&capture, async {
        let (base, _) = provider().await;
        let body = json!({"model": "bud-custom-7b", "messages": [{"role": "user", "content": "hi"}]});
        for middleware in [
            LlmMiddleware::for_instance(capture.observe()),
            LlmMiddleware::for_instance(capture.observe()).price(
                "bud-custom-7b",
                budobserve::integrations::llm::ModelPrice {
                    input_per_million: 1.0,
                    output_per_million: 2.0,
                    cached_input_per_million: Some(0.5),
                },
            ),
        ] {
            client(middleware)
                .post(format!("{base}/v1/chat/completions"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
    });
    let spans = llm_spans(&capture);
    assert_eq!(spans.len(), 2);
    assert_eq!(text(&spans[0], gen_ai::RESPONSE_MODEL).as_deref(), Some("bud-custom-7b"));
    assert_eq!(attribute(&spans[0], gen_ai::USAGE_COST), None, "never a made-up price");
    assert_eq!(attribute(&spans[0], gen_ai::INFERENCE_COST), None, "never a made-up price");
    let priced = float(&spans[1], gen_ai::USAGE_COST).unwrap();
    assert!((priced - (8.0 * 1.0 + 4.0 * 0.5 + 5.0 * 2.0) / 1e6).abs() < 1e-12, "{priced}");
}

#[test]
fn token_usage_and_duration_are_metrics() {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};

    let exporter = InMemoryMetricExporter::default();
    let capture = testing::capture_with(|b| b.metric_reader(PeriodicReader::builder(exporter.clone()).build()));
    run(&capture, async {
        let (base, _) = provider().await;
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
        let client = client(LlmMiddleware::for_instance(capture.observe()));
        client.post(format!("{base}/v1/chat/completions")).json(&body).send().await.unwrap().bytes().await.unwrap();
    });
    capture.observe().force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let find = |name: &str| {
        metrics.iter().flat_map(|m| m.scope_metrics()).flat_map(|s| s.metrics()).find(|m| m.name() == name)
    };
    let tokens = find("gen_ai.client.token.usage").expect("the token histogram");
    let AggregatedMetrics::U64(MetricData::Histogram(tokens)) = tokens.data() else { panic!("{tokens:?}") };
    let mut by_type: Vec<(String, u64)> = tokens
        .data_points()
        .map(|p| {
            let kind = p.attributes().find(|kv| kv.key.as_str() == "gen_ai.token.type").map(|kv| kv.value.to_string());
            (kind.unwrap_or_default(), p.sum())
        })
        .collect();
    by_type.sort();
    assert_eq!(by_type, [("input".to_owned(), 12), ("output".to_owned(), 5)]);
    let duration = find("gen_ai.client.operation.duration").expect("the duration histogram");
    assert_eq!(duration.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(duration)) = duration.data() else { panic!("{duration:?}") };
    assert_eq!(duration.data_points().map(|p| p.count()).sum::<u64>(), 1);
}

#[test]
fn the_responses_api_whole_and_streamed() {
    let capture = testing::capture();
    run(&capture, async {
        let (base, _) = provider().await;
        let client = client(LlmMiddleware::for_instance(capture.observe()).record_content(true));
        for stream in [false, true] {
            let body = json!({"model": "gpt-4o", "stream": stream, "instructions": "be brief", "max_output_tokens": 100,
                "input": [{"role": "user", "content": "hello"}, {"type": "function_call_output", "call_id": "c1", "output": "42"}]});
            client.post(format!("{base}/v1/responses")).json(&body).send().await.unwrap().bytes().await.unwrap();
        }
    });
    let spans = llm_spans(&capture);
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(span.name, "Responses API with gpt-4o");
        assert_eq!(span.status, Status::Unset);
        assert_eq!(text(span, gen_ai::OPERATION_NAME).as_deref(), Some("chat"));
        assert_eq!(text(span, gen_ai::RESPONSE_ID).as_deref(), Some("resp_67cc"));
        assert_eq!(text(span, gen_ai::RESPONSE_MODEL).as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(int(span, gen_ai::REQUEST_MAX_TOKENS), Some(100));
        assert_eq!(attribute(span, gen_ai::RESPONSE_FINISH_REASONS), Some(&strings(&["completed"])));
        let usage = [gen_ai::USAGE_INPUT_TOKENS, gen_ai::USAGE_OUTPUT_TOKENS, gen_ai::USAGE_TOTAL_TOKENS]
            .map(|key| int(span, key));
        assert_eq!(usage, [Some(36), Some(87), Some(123)]);
        assert_eq!(
            json_attribute(span, gen_ai::INPUT_MESSAGES),
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}, {"type": "function_call_output"}])
        );
        assert_eq!(
            json_attribute(span, gen_ai::OUTPUT_MESSAGES),
            json!([{"role": "assistant", "finish_reason": "completed", "content": "Hi there"}]),
            "the text once, though the stream's last event repeats it whole"
        );
        // gpt-4o: 36 × 2.5 + 87 × 10 per million.
        let cost = float(span, gen_ai::USAGE_COST).unwrap();
        assert!((cost - 0.000_96).abs() < 1e-12, "{cost}");
    }
    assert_eq!(attribute(&spans[0], gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK), None);
    assert!(float(&spans[1], gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK).is_some());
    assert_eq!(attribute(&spans[1], gen_ai::STREAM_INCOMPLETE), None);
}

mod async_openai_client {
    use async_openai::Client;
    use async_openai::config::OpenAIConfig;
    use async_openai::error::OpenAIError;
    use async_openai::types::chat::{
        ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions, CreateChatCompletionRequest,
        CreateChatCompletionRequestArgs,
    };
    use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
    use budobserve::integrations::openai;
    use futures_util::StreamExt;

    use super::*;

    fn chat(model: &str, include_usage: bool) -> CreateChatCompletionRequest {
        let message =
            ChatCompletionRequestUserMessageArgs::default().content("my password is hunter2").build().unwrap();
        let mut request = CreateChatCompletionRequestArgs::default();
        request.model(model).messages([message.into()]).temperature(0.5);
        if include_usage {
            request
                .stream_options(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None });
        }
        request.build().unwrap()
    }

    /// A chat completion, a streamed one and embeddings, as a service makes them: what the caller got.
    async fn conversation(client: &Client<OpenAIConfig>) -> (Option<String>, String, usize) {
        let answer = client.chat().create(chat("gpt-4o", false)).await.unwrap();
        let mut stream = client.chat().create_stream(chat("gpt-4o", true)).await.unwrap();
        let mut streamed = String::new();
        while let Some(chunk) = stream.next().await {
            for choice in chunk.unwrap().choices {
                streamed.push_str(choice.delta.content.as_deref().unwrap_or_default());
            }
        }
        let request =
            CreateEmbeddingRequestArgs::default().model("text-embedding-3-small").input("hello").build().unwrap();
        let embeddings = client.embeddings().create(request).await.unwrap();
        (answer.choices[0].message.content.clone(), streamed, embeddings.data[0].embedding.len())
    }

    fn config(base: &str) -> OpenAIConfig {
        OpenAIConfig::new().with_api_base(format!("{base}/v1")).with_api_key("sk-test")
    }

    #[test]
    fn the_client_is_used_unchanged_and_its_calls_are_llm_spans() {
        let capture = testing::capture();
        let (plain, instrumented, headers) = run(&capture, async {
            let (base, seen) = provider().await;
            let plain = conversation(&Client::with_config(config(&base))).await;
            assert!(llm_spans(&capture).is_empty(), "an uninstrumented client writes nothing");
            let client = openai::instrument_with(
                Client::with_config(config(&base)),
                LlmMiddleware::for_instance(capture.observe()),
                reqwest::Client::new(),
            );
            let _request = bud_span!("request").entered();
            let instrumented = conversation(&client).await;
            let headers = seen.lock().unwrap().clone();
            (plain, instrumented, headers)
        });
        assert_eq!(plain, (Some("Hello there!".to_owned()), "Hello!".to_owned(), 2));
        assert_eq!(instrumented, plain, "the caller gets the same answers");

        let spans = llm_spans(&capture);
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "Chat Completion with gpt-4o",
                "Chat Completion with gpt-4o",
                "Embedding Creation with text-embedding-3-small"
            ]
        );
        let parent = capture.span("request").span_context.span_id();
        assert!(spans.iter().all(|s| s.parent_span_id == parent && s.span_kind == SpanKind::Client));
        let (whole, streamed, embeddings) = (&spans[0], &spans[1], &spans[2]);

        assert_eq!(float(whole, gen_ai::REQUEST_TEMPERATURE), Some(0.5));
        assert_eq!(text(whole, gen_ai::RESPONSE_ID).as_deref(), Some("chatcmpl-123"));
        assert_eq!(
            [gen_ai::USAGE_INPUT_TOKENS, gen_ai::USAGE_OUTPUT_TOKENS].map(|k| int(whole, k)),
            [Some(12), Some(5)]
        );
        let cost = float(whole, gen_ai::USAGE_COST).unwrap();
        assert!((cost - 0.000_075).abs() < 1e-12, "{cost}");
        assert_eq!(json_attribute(whole, gen_ai::INPUT_MESSAGES), json!([{"role": "user"}]));
        assert!(!format!("{spans:?}").contains("hunter2"), "content is off by default");
        assert_eq!(attribute(whole, constants::http::REQUEST_RESEND_COUNT), None);

        assert_eq!(attribute(streamed, gen_ai::REQUEST_STREAM), Some(&Value::Bool(true)));
        assert_eq!(text(streamed, gen_ai::RESPONSE_ID).as_deref(), Some("chatcmpl-9x"));
        assert_eq!(attribute(streamed, gen_ai::RESPONSE_FINISH_REASONS), Some(&strings(&["stop"])));
        assert_eq!(
            [gen_ai::USAGE_INPUT_TOKENS, gen_ai::USAGE_OUTPUT_TOKENS].map(|k| int(streamed, k)),
            [Some(12), Some(2)]
        );
        assert!(float(streamed, gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK).is_some_and(|t| t > 0.0));
        assert_eq!(attribute(streamed, gen_ai::STREAM_INCOMPLETE), None);

        assert_eq!(text(embeddings, gen_ai::OPERATION_NAME).as_deref(), Some("embeddings"));
        assert_eq!(int(embeddings, gen_ai::USAGE_INPUT_TOKENS), Some(8));

        // The instrumented calls carry their span's context; the plain client's do not.
        assert_eq!(headers.len(), 4, "two chat calls by each client (embeddings are answered apart)");
        assert!(headers[..2].iter().all(|h| !h.contains_key("traceparent")));
        for (headers, span) in headers[2..].iter().zip(&spans) {
            let traceparent = headers["traceparent"].to_str().unwrap();
            assert!(traceparent.contains(&span.span_context.span_id().to_string()), "{traceparent}");
            assert_eq!(headers[header::AUTHORIZATION], "Bearer sk-test");
        }
    }

    #[test]
    fn the_clients_retries_are_one_span() {
        let capture = testing::capture();
        let (retried, refused, attempts) = run(&capture, async {
            let (base, seen) = provider().await;
            let client = openai::instrument_with(
                Client::with_config(config(&base)),
                LlmMiddleware::for_instance(capture.observe()),
                reqwest::Client::new(),
            );
            let retried = client.chat().create(chat("flaky", false)).await;
            let refused = client.chat().create(chat("rate-limited", false)).await;
            let attempts: Vec<String> =
                seen.lock().unwrap().iter().map(|h| h["traceparent"].to_str().unwrap().to_owned()).collect();
            (retried, refused, attempts)
        });
        assert_eq!(retried.unwrap().choices[0].message.content.as_deref(), Some("Hello there!"));
        let Err(OpenAIError::ApiError(error)) = refused else { panic!("{refused:?}") };
        assert_eq!(error.status_code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error.api_error.message, "Rate limit reached for gpt-4o on requests per min",
            "the caller's error unchanged"
        );

        let spans = llm_spans(&capture);
        assert_eq!(spans.len(), 2, "one span per call, however many attempts");
        let (retried, refused) = (&spans[0], &spans[1]);
        assert_eq!(retried.status, Status::Unset);
        assert_eq!(int(retried, constants::http::REQUEST_RESEND_COUNT), Some(1));
        assert_eq!(int(retried, gen_ai::USAGE_INPUT_TOKENS), Some(12));
        // Two attempts of the first call, four (three retries) of the second, each with its call's context.
        assert_eq!(attempts.len(), 6);
        for (attempt, span) in attempts.iter().zip([retried, retried, refused, refused, refused, refused]) {
            assert!(attempt.contains(&span.span_context.span_id().to_string()), "{attempt}");
        }
        assert_eq!(int(refused, constants::http::REQUEST_RESEND_COUNT), Some(3));
        assert_eq!(int(refused, constants::http::RESPONSE_STATUS_CODE), Some(429));
        assert_eq!(text(refused, constants::http::ERROR_TYPE).as_deref(), Some("requests"));
        assert_eq!(int(refused, constants::LEVEL_NUM), Some(i64::from(Level::Error.number())));
        let exception = refused.events.iter().find(|e| e.name == constants::EXCEPTION_EVENT).expect("an exception");
        let message = exception.attributes.iter().find(|kv| kv.key.as_str() == constants::EXCEPTION_MESSAGE).unwrap();
        assert_eq!(message.value.as_str(), "Rate limit reached for gpt-4o on requests per min");
    }

    /// The LiteLLM proxy (see `common::litellm`), as the OpenAI client's configuration.
    fn litellm() -> OpenAIConfig {
        let (url, key) = common::litellm::proxy();
        OpenAIConfig::new().with_api_base(url).with_api_key(key)
    }

    #[test]
    fn through_a_litellm_proxy() {
        let capture = testing::capture();
        let (answer, streamed, usage) = run(&capture, async {
            let client = openai::instrument_with(
                Client::with_config(litellm()),
                LlmMiddleware::for_instance(capture.observe()).provider("litellm").record_content(true),
                reqwest::Client::new(),
            );
            let answer = client.chat().create(chat("gpt-4o-mini", false)).await.unwrap();
            let mut stream = client.chat().create_stream(chat("gpt-4o-mini", true)).await.unwrap();
            let (mut streamed, mut usage) = (String::new(), None);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.unwrap();
                usage = chunk.usage.or(usage);
                for choice in chunk.choices {
                    streamed.push_str(choice.delta.content.as_deref().unwrap_or_default());
                }
            }
            (answer, streamed, usage.expect("the proxy reports a stream's usage when asked"))
        });
        let spans = llm_spans(&capture);
        assert_eq!(spans.len(), 2);
        for (span, answer_id) in spans.iter().zip([Some(answer.id.as_str()), None]) {
            assert_eq!(span.name, "Chat Completion with gpt-4o-mini");
            assert_eq!(span.status, Status::Unset);
            assert_eq!(text(span, gen_ai::PROVIDER_NAME).as_deref(), Some("litellm"));
            assert_eq!(text(span, gen_ai::RESPONSE_MODEL).as_deref(), Some("gpt-4o-mini"));
            assert_eq!(attribute(span, gen_ai::RESPONSE_FINISH_REASONS), Some(&strings(&["stop"])));
            assert_eq!(
                json_attribute(span, gen_ai::OUTPUT_MESSAGES),
                json!([{"role": "assistant", "finish_reason": "stop", "content": "Hello from the LiteLLM proxy!"}])
            );
            if let Some(id) = answer_id {
                assert_eq!(text(span, gen_ai::RESPONSE_ID).as_deref(), Some(id));
            }
        }
        let (whole, stream) = (&spans[0], &spans[1]);
        let reported = answer.usage.unwrap();
        assert_eq!(int(whole, gen_ai::USAGE_INPUT_TOKENS), Some(i64::from(reported.prompt_tokens)));
        assert_eq!(int(whole, gen_ai::USAGE_OUTPUT_TOKENS), Some(i64::from(reported.completion_tokens)));
        assert_eq!(streamed, "Hello from the LiteLLM proxy!");
        assert_eq!(int(stream, gen_ai::USAGE_INPUT_TOKENS), Some(i64::from(usage.prompt_tokens)));
        assert_eq!(int(stream, gen_ai::USAGE_OUTPUT_TOKENS), Some(i64::from(usage.completion_tokens)));
        assert!(float(stream, gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK).is_some());
        // gpt-4o-mini: $0.15 per million input tokens, $0.60 output.
        for (span, usage) in [(whole, reported), (stream, usage)] {
            let expected = (f64::from(usage.prompt_tokens) * 0.15 + f64::from(usage.completion_tokens) * 0.6) / 1e6;
            let cost = float(span, gen_ai::USAGE_COST).unwrap();
            assert!((cost - expected).abs() < 1e-12, "{cost} ≠ {expected}");
        }
    }
}

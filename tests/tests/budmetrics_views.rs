//! BudMetrics reads what BudObserve writes: in a ClickHouse holding the collector's tables (each generation's own
//! DDL) and BudMetrics' real views (`tests/sql/budmetrics.sql`, restated from BudMetrics' migration), the spans of
//! a stand-in budgateway (BudObserve writing the spans budgateway writes) and the client-side LLM calls of a
//! BudObserve service (through a real LiteLLM proxy, and through the gateway) come out of BudMetrics' rollups as
//! the per-project figures BudMetrics reports — the calls through the gateway counted once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use axum::routing::post;
use budobserve::exporters::budmetrics::{ClickHouseOptions, CollectorGeneration, llm_usage_statements};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::llm::LlmMiddleware;
use budobserve::opentelemetry::KeyValue;
use budobserve::opentelemetry::trace::SpanKind;
use budobserve::{BatchOptions, BudContext, BudObserve, EnvSource};
use common::clickhouse::{query, rows, shared_url};
use common::collector_ddl;
use reqwest_middleware::ClientBuilder;
use serde_json::{Value as Json, json};

const PROJECT_1: &str = "11111111-1111-4111-8111-111111111111";
const PROJECT_2: &str = "22222222-2222-4222-8222-222222222222";
const ENDPOINT: &str = "33333333-3333-4333-8333-333333333333";
const MODEL: &str = "44444444-4444-4444-8444-444444444444";
/// The inference ids the stand-in gateway gives its two inferences.
const DIRECT_INFERENCE: &str = "55555555-5555-4555-8555-555555555555";
const ROUTED_INFERENCE: &str = "66666666-6666-4666-8666-666666666666";

/// BudMetrics' migration, for `database`: the statements of `tests/sql/budmetrics.sql`.
fn budmetrics_schema(url: &str, database: &str) {
    let sql = include_str!("sql/budmetrics.sql");
    for statement in sql.split("\n;\n") {
        let statement: Vec<&str> = statement.lines().filter(|line| !line.trim_start().starts_with("--")).collect();
        let statement = statement.join("\n").replace("{db}", &format!("`{database}`"));
        if !statement.trim().is_empty() {
            in_database(url, database, &statement);
        }
    }
}

/// Runs `sql` with `database` as the current database (unqualified names are BudMetrics' tables there).
fn in_database(url: &str, database: &str, sql: &str) -> String {
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/?database={database}"))
        .body(sql.to_owned())
        .send()
        .unwrap();
    let status = response.status();
    let text = response.text().unwrap();
    assert!(status.is_success(), "{sql}\n→ {status}: {text}");
    text
}

fn instance(url: &str, database: &str, service: &str, generation: CollectorGeneration) -> BudObserve {
    let clickhouse = ClickHouseOptions::new(url).database(database).collector(generation).create_schema(false);
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name(service)
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .clickhouse(clickhouse)
        .build()
        .unwrap();
    BudObserve::new(config)
}

/// The spans budgateway writes for one inference (names and attribute keys as BudMetrics' view reads them), and
/// the OpenAI answer it sends.
fn gateway_inference(gateway: &BudObserve, inference: &str, project: &str, tokens: (u32, u32), cost: f64) -> Json {
    let mut analytics = gateway
        .span_builder("gateway_analytics")
        .attributes([
            KeyValue::new("gateway_analytics.path", "/v1/chat/completions"),
            KeyValue::new("gateway_analytics.method", "POST"),
            KeyValue::new("gateway_analytics.status_code", 200),
            KeyValue::new("gateway_analytics.country_code", "IN"),
        ])
        .start();
    let handler = gateway
        .span_builder("inference_handler_observability")
        .parent(analytics.context())
        .attributes([
            KeyValue::new("model_inference_details.inference_id", inference.to_owned()),
            KeyValue::new("model_inference_details.project_id", project.to_owned()),
            KeyValue::new("model_inference_details.endpoint_id", ENDPOINT),
            KeyValue::new("model_inference_details.model_id", MODEL),
            KeyValue::new("model_inference_details.is_success", true),
            KeyValue::new("model_inference_details.cost", cost),
            KeyValue::new("model_inference.model_name", "gpt-4o-mini"),
            KeyValue::new("model_inference.model_provider_name", "openai"),
            KeyValue::new("model_inference.input_tokens", i64::from(tokens.0)),
            KeyValue::new("model_inference.output_tokens", i64::from(tokens.1)),
            KeyValue::new("model_inference.response_time_ms", 120),
            KeyValue::new("model_inference.finish_reason", "stop"),
        ])
        .start();
    handler.end();
    analytics.set_attribute(KeyValue::new("gateway_analytics.total_duration_ms", 130));
    analytics.end();
    json!({
        "id": inference,
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "routed"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens.0, "completion_tokens": tokens.1, "total_tokens": tokens.0 + tokens.1},
    })
}

fn chat(model: &str) -> Json {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
}

/// Usage of an OpenAI answer: input and output tokens.
fn usage(answer: &Json) -> (u64, u64) {
    (answer["usage"]["prompt_tokens"].as_u64().unwrap(), answer["usage"]["completion_tokens"].as_u64().unwrap())
}

/// gpt-4o-mini's price in BudObserve's table: $0.15 per million input tokens, $0.60 per million output.
fn gpt_4o_mini(tokens: (u64, u64)) -> f64 {
    (tokens.0 as f64 * 0.15 + tokens.1 as f64 * 0.6) / 1e6
}

#[derive(Debug, PartialEq)]
struct Figures {
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost: f64,
}

fn figures(row: &Json) -> Figures {
    Figures {
        requests: row["requests"].as_u64().unwrap(),
        input_tokens: row["input_tokens"].as_u64().unwrap(),
        output_tokens: row["output_tokens"].as_u64().unwrap(),
        cost: row["cost"].as_f64().unwrap(),
    }
}

fn close(actual: &Figures, expected: &Figures) -> bool {
    actual.requests == expected.requests
        && actual.input_tokens == expected.input_tokens
        && actual.output_tokens == expected.output_tokens
        && (actual.cost - expected.cost).abs() < 1e-12
}

fn budmetrics_counts_client_calls_once(generation: CollectorGeneration, ddl: &[&str; 3]) {
    let url = shared_url();
    let database = format!("v{}_{}", std::process::id(), generation.name().replace('.', "_"));
    collector_ddl::create(&url, &database, ddl);
    budmetrics_schema(&url, &database);
    for statement in llm_usage_statements(&database).unwrap() {
        query(&url, &statement);
    }

    let client = instance(&url, &database, "budapp", generation);
    let gateway = instance(&url, &database, "budgateway", generation);
    // The stand-in gateway: BudObserve's server layer (it joins the caller's trace), an inference per request.
    let server = tokio::runtime::Runtime::new().unwrap();
    let handler_gateway = gateway.clone();
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(move || {
                let gateway = handler_gateway.clone();
                async move { axum::Json(gateway_inference(&gateway, ROUTED_INFERENCE, PROJECT_2, (30, 40), 0.003)) }
            }),
        )
        .layer(ServerLayer::for_instance(&gateway));
    let gateway_url = server.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}/v1")
    });

    // An inference made at the gateway by a caller BudObserve does not trace.
    budobserve::with_instance(&gateway, || {
        gateway_inference(&gateway, DIRECT_INFERENCE, PROJECT_1, (100, 50), 0.002);
    });

    let (litellm, key) = common::litellm::proxy();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let direct = ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::for_instance(&client).provider("litellm"))
        .build();
    let routed = ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::for_instance(&client).provider("budgateway"))
        .build();
    let call = |client: &reqwest_middleware::ClientWithMiddleware, base: &str, project: &str| {
        let _bud = BudContext::new().project_id(project).endpoint_id(ENDPOINT).attach();
        runtime.block_on(async {
            let response = client
                .post(format!("{base}/chat/completions"))
                .bearer_auth(&key)
                .json(&chat("gpt-4o-mini"))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Json>().await.unwrap()
        })
    };
    let p1_calls = [call(&direct, &litellm, PROJECT_1), call(&direct, &litellm, PROJECT_1)];
    let p2_call = call(&direct, &litellm, PROJECT_2);
    let through_gateway = call(&routed, &gateway_url, PROJECT_2);
    assert_eq!(through_gateway["id"], ROUTED_INFERENCE);
    client.force_flush().unwrap();
    gateway.force_flush().unwrap();

    // The call through the gateway: one trace, the client's span and the gateway's, one InferenceFact row.
    let trace = rows(
        &url,
        &format!(
            "SELECT ServiceName, SpanName, SpanKind FROM `{database}`.otel_traces WHERE TraceId = (SELECT TraceId \
             FROM `{database}`.otel_traces WHERE SpanAttributes['gen_ai.provider.name'] = 'budgateway') ORDER BY \
             ServiceName, SpanName"
        ),
    );
    let client_kind = generation.span_kind(&SpanKind::Client);
    let server_kind = generation.span_kind(&SpanKind::Server);
    let internal = generation.span_kind(&SpanKind::Internal);
    assert_eq!(
        trace,
        [
            json!({"ServiceName": "budapp", "SpanName": "Chat Completion with gpt-4o-mini", "SpanKind": client_kind}),
            json!({"ServiceName": "budgateway", "SpanName": "POST /v1/chat/completions", "SpanKind": server_kind}),
            json!({"ServiceName": "budgateway", "SpanName": "gateway_analytics", "SpanKind": internal}),
            json!({"ServiceName": "budgateway", "SpanName": "inference_handler_observability", "SpanKind": internal}),
        ]
    );
    let facts = rows(
        &url,
        &format!(
            "SELECT toString(project_id) AS project, model_provider, cost, input_tokens, output_tokens, is_success \
             FROM `{database}`.InferenceFact ORDER BY project, model_provider, cost"
        ),
    );
    let direct_usage: Vec<(u64, u64)> = p1_calls.iter().chain([&p2_call]).map(usage).collect();
    let fact = |project: &str, provider: &str, cost: f64, tokens: (u64, u64)| {
        json!({"project": project, "model_provider": provider, "cost": cost, "input_tokens": tokens.0,
               "output_tokens": tokens.1, "is_success": true})
    };
    let mut expected_facts = vec![
        fact(PROJECT_1, "litellm", gpt_4o_mini(direct_usage[0]), direct_usage[0]),
        fact(PROJECT_1, "litellm", gpt_4o_mini(direct_usage[1]), direct_usage[1]),
        fact(PROJECT_1, "openai", 0.002, (100, 50)),
        fact(PROJECT_2, "litellm", gpt_4o_mini(direct_usage[2]), direct_usage[2]),
        fact(PROJECT_2, "openai", 0.003, (30, 40)),
    ];
    expected_facts.sort_by(|a, b| {
        (a["project"].as_str(), a["model_provider"].as_str(), a["cost"].as_f64())
            .partial_cmp(&(b["project"].as_str(), b["model_provider"].as_str(), b["cost"].as_f64()))
            .unwrap()
    });
    assert_eq!(facts.len(), expected_facts.len(), "{facts:#?}");
    for (fact, expected) in facts.iter().zip(&expected_facts) {
        assert_eq!(fact["project"], expected["project"]);
        assert_eq!(fact["model_provider"], expected["model_provider"]);
        assert_eq!(
            (fact["input_tokens"].as_u64(), fact["output_tokens"].as_u64()),
            (expected["input_tokens"].as_u64(), expected["output_tokens"].as_u64())
        );
        assert!(
            (fact["cost"].as_f64().unwrap() - expected["cost"].as_f64().unwrap()).abs() < 1e-12,
            "{fact} ≠ {expected}"
        );
        assert_eq!(fact["is_success"], true);
    }

    // BudMetrics' own figures: its ranking of projects by requests over the daily rollup (the TopK query of its
    // design), and tokens and cost per project from the same rollup.
    let per_project = rows(
        &url,
        &format!(
            "SELECT toString(project_id) AS project, SUM(request_count) AS requests, SUM(total_input_tokens) AS \
             input_tokens, SUM(total_output_tokens) AS output_tokens, SUM(total_cost) AS cost FROM \
             `{database}`.InferenceMetrics1d WHERE time_bucket >= toStartOfDay(now()) - INTERVAL 1 DAY GROUP BY \
             project_id ORDER BY requests DESC, project SETTINGS output_format_json_quote_64bit_integers = 0"
        ),
    );
    let p1 = Figures {
        requests: 3,
        input_tokens: 100 + direct_usage[0].0 + direct_usage[1].0,
        output_tokens: 50 + direct_usage[0].1 + direct_usage[1].1,
        cost: 0.002 + gpt_4o_mini(direct_usage[0]) + gpt_4o_mini(direct_usage[1]),
    };
    let p2 = Figures {
        requests: 2,
        input_tokens: 30 + direct_usage[2].0,
        output_tokens: 40 + direct_usage[2].1,
        cost: 0.003 + gpt_4o_mini(direct_usage[2]),
    };
    assert_eq!(per_project.len(), 2, "{per_project:#?}");
    assert_eq!(
        (per_project[0]["project"].as_str(), per_project[1]["project"].as_str()),
        (Some(PROJECT_1), Some(PROJECT_2))
    );
    assert!(close(&figures(&per_project[0]), &p1), "{:?} ≠ {p1:?}", figures(&per_project[0]));
    assert!(close(&figures(&per_project[1]), &p2), "{:?} ≠ {p2:?}", figures(&per_project[1]));
    // The same figures at every grain BudMetrics keeps.
    for rollup in ["InferenceMetrics5m", "InferenceMetrics1h"] {
        let totals = in_database(
            &url,
            &database,
            &format!("SELECT SUM(request_count), SUM(total_input_tokens) FROM {rollup} FORMAT TSV"),
        );
        assert_eq!(totals.trim(), format!("5\t{}", p1.input_tokens + p2.input_tokens), "{rollup}");
    }
}

#[test]
fn budmetrics_counts_client_calls_once_with_the_deployed_collectors_tables() {
    budmetrics_counts_client_calls_once(CollectorGeneration::Contrib0_96, &collector_ddl::CONTRIB_0_96);
}

#[test]
fn budmetrics_counts_client_calls_once_with_the_current_collectors_tables() {
    budmetrics_counts_client_calls_once(CollectorGeneration::Current, &collector_ddl::CURRENT);
}

/// A client LLM span with the values a misbehaving provider or caller leaves: ids that are not UUIDs, negative and
/// overflowing token counts, a NaN price, a status code out of range, finish reasons that are not JSON, an absurd
/// time to first chunk, a model name with quotes and a newline. The shipped view must never fail the insert into
/// `otel_traces` (a failing materialized view fails the insert that feeds it: the spans would be lost); what it
/// cannot read becomes NULL.
#[test]
fn hostile_values_never_fail_the_insert_and_read_as_null() {
    use budobserve::opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};

    let url = shared_url();
    let database = format!("v{}_hostile", std::process::id());
    collector_ddl::create(&url, &database, &collector_ddl::CONTRIB_0_96);
    budmetrics_schema(&url, &database);
    for statement in llm_usage_statements(&database).unwrap() {
        query(&url, &statement);
    }
    let client = instance(&url, &database, "budapp", CollectorGeneration::Contrib0_96);
    let tracer = client.tracer_provider().tracer("budobserve.llm");
    let mut span = tracer
        .span_builder("Chat Completion with gpt'4o")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt\"'4o\nmini"),
            KeyValue::new("bud.project_id", "proj-7'; DROP TABLE InferenceFact; --"),
            KeyValue::new("bud.endpoint_id", ""),
            KeyValue::new("gen_ai.usage.input_tokens", -5),
            KeyValue::new("gen_ai.usage.output_tokens", 99_999_999_999_i64),
            KeyValue::new("gen_ai.inference_cost", f64::NAN),
            KeyValue::new("http.response.status_code", 70_000),
            KeyValue::new("gen_ai.response.finish_reasons", "stop, not JSON"),
            KeyValue::new("gen_ai.response.time_to_first_chunk", 1e30),
        ])
        .start(&tracer);
    span.end();
    // Beside it, the same span with sane values: the conversions that turned the others to NULL read these.
    let mut sane = tracer
        .span_builder("Chat Completion with gpt-4o-mini")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt-4o-mini"),
            KeyValue::new("bud.project_id", PROJECT_1),
            KeyValue::new("bud.endpoint_id", ENDPOINT),
            KeyValue::new("gen_ai.usage.input_tokens", 10),
            KeyValue::new("gen_ai.usage.output_tokens", 20),
            KeyValue::new("gen_ai.inference_cost", 0.0000135),
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("gen_ai.response.finish_reasons", r#"["length"]"#),
            KeyValue::new("gen_ai.response.time_to_first_chunk", 0.25),
        ])
        .start(&tracer);
    sane.end();
    client.force_flush().unwrap();
    assert_eq!(client.export_stats().spans_failed, 0);

    let facts = rows(
        &url,
        &format!(
            "SELECT project_id, endpoint_id, model_name, input_tokens, output_tokens, cost, status_code, \
             finish_reason, ttft_ms, is_success FROM `{database}`.InferenceFact ORDER BY isNull(project_id)"
        ),
    );
    assert_eq!(
        facts,
        [
            json!({
                "project_id": PROJECT_1, "endpoint_id": ENDPOINT, "model_name": "gpt-4o-mini", "input_tokens": 10,
                "output_tokens": 20, "cost": 0.0000135, "status_code": 200, "finish_reason": "length",
                "ttft_ms": 250, "is_success": true,
            }),
            json!({
            "project_id": null, "endpoint_id": null, "model_name": "gpt\"'4o\nmini", "input_tokens": null,
            "output_tokens": null, "cost": null, "status_code": null, "finish_reason": null, "ttft_ms": null,
            "is_success": true,
            }),
        ]
    );
    // The rollups count both calls, the hostile one under no project.
    let requests = in_database(
        &url,
        &database,
        "SELECT isNull(project_id), sum(request_count) FROM InferenceMetrics1d GROUP BY project_id \
         ORDER BY isNull(project_id) FORMAT TSV",
    );
    assert_eq!(requests, "0\t1\n1\t1\n");
}

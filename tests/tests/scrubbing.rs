//! Scrubbing: a table of keys and values that must be redacted or must survive, JSON, arrays, events, links,
//! messages, log records, the console, callbacks — and no secret in any exported byte.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleWriter};
use budobserve::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use budobserve::opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use budobserve::opentelemetry::{Array, Value};
use budobserve::opentelemetry_sdk::logs::{InMemoryLogExporter, SimpleLogProcessor};
use budobserve::scrubbing::{ScrubAction, ScrubbingConfig};
use budobserve::testing::{self, TestExporter, attribute};
use budobserve::{BudAttributes, BudObserve, EnvSource, KeyValue, bud_info};

/// What a case expects: the value kept, or replaced because of the named pattern.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Keep,
    Scrubbed(&'static str),
}

use Expect::{Keep, Scrubbed};

const CASES: &[(&str, &str, Expect)] = &[
    // Names.
    ("password", "hunter2-secret-1", Scrubbed("password")),
    ("passwd", "pw-value-2", Scrubbed("passwd")),
    ("mysql_pwd", "pw-value-3", Scrubbed("mysql_pwd")),
    ("db_password", "pw-value-4", Scrubbed("password")),
    ("client_secret", "pw-value-5", Scrubbed("secret")),
    ("auth", "pw-value-6", Scrubbed("auth")),
    ("auth_token", "pw-value-7", Scrubbed("auth")),
    ("Authorization", "Bearer pw-value-8-abcdef", Scrubbed("auth")),
    ("oauth_state", "pw-value-9", Scrubbed("auth")),
    ("author", "Jane Austen", Keep),
    ("authors", "Austen, Bronte", Keep),
    ("authorship", "single", Keep),
    ("credentials", "pw-value-10", Scrubbed("credential")),
    ("private_key", "pw-value-11", Scrubbed("private key")),
    ("private-key", "pw-value-12", Scrubbed("private key")),
    ("PrivateKey", "pw-value-13", Scrubbed("private key")),
    ("api_key", "pw-value-14", Scrubbed("api key")),
    ("apiKey", "pw-value-15", Scrubbed("api key")),
    ("api.key", "pw-value-16", Scrubbed("api key")),
    ("session_id", "pw-value-17", Scrubbed("session")),
    ("cookie", "pw-value-18", Scrubbed("cookie")),
    ("set_cookie", "pw-value-19", Scrubbed("cookie")),
    ("social_security_number", "pw-value-20", Scrubbed("social security")),
    ("credit_card", "pw-value-21", Scrubbed("credit card")),
    ("creditcard", "pw-value-22", Scrubbed("credit card")),
    ("csrf_token", "pw-value-23", Scrubbed("csrf")),
    ("x_xsrf", "pw-value-24", Scrubbed("xsrf")),
    ("jwt", "pw-value-25", Scrubbed("jwt")),
    ("user_ssn", "pw-value-26", Scrubbed("ssn")),
    ("classname", "Assn", Keep),
    ("jwtx", "not a token", Keep),
    ("bud_token", "pw-value-27", Scrubbed("bud token")),
    ("budtoken", "pw-value-28", Scrubbed("bud token")),
    ("dapr-api-token", "pw-value-29", Scrubbed("dapr api token")),
    ("x-app-api-token", "pw-value-30", Scrubbed("app api token")),
    // Safe keys.
    ("gen_ai.request.model", "gpt-4o", Keep),
    ("http.route", "/sessions/{session_id}", Keep),
    ("db.query.text", "SELECT password FROM users WHERE id = $1", Keep),
    ("url.path", "/v1/auth/login", Keep),
    ("code.function", "check_password", Keep),
    ("bud.api_key_id", "key-id-7", Keep),
    // Values.
    ("note", "my password is pw-value-31", Scrubbed("password")),
    ("field", "password", Keep),
    ("label", "Password:", Keep),
    ("header", "Bearer pw-value-32-abcdefgh", Scrubbed("bearer token")),
    ("url.full", "https://api.example.com/v1?api_key=pw-value-33&page=2", Scrubbed("secret in query")),
    ("query", "page=1&token=pw-value-34", Scrubbed("secret in query")),
    ("upstream", "key sk-proj-pwvalue35ABCDEFGHIJKL", Scrubbed("api key")),
    ("greeting", "hello world", Keep),
    ("status", "ok", Keep),
    ("comment", "the author said hi", Keep),
    ("invalid_json", "{not json, password: pw-value-36}", Scrubbed("password")),
    ("model", "llama-3-8b-instruct", Keep),
];

/// JSON values scrubbed inside: (key, value, a secret that must be gone, text that must remain).
const JSON_CASES: &[(&str, &str, &str, &str)] = &[
    ("body", r#"{"user":{"name":"ada","password":"pw-json-1"}}"#, "pw-json-1", r#""name":"ada""#),
    ("items", r#"[{"api_key":"pw-json-2"},{"ok":1}]"#, "pw-json-2", r#"{"ok":1}"#),
    ("payload", r#"{"text":"Bearer pw-json-3-abcdefgh"}"#, "pw-json-3", r#""text":"#),
    ("nested", r#"{"a":[{"b":{"session":"pw-json-4"}}]}"#, "pw-json-4", r#""a":[{"b":"#),
    ("headers", r#"{"Cookie":"pw-json-5","Accept":"*/*"}"#, "pw-json-5", r#""Accept":"*/*""#),
];

const JSON_KEEP: &[(&str, &str)] = &[("book", r#"{"author":"Austen","title":"Emma"}"#), ("empty", "{}")];

fn secrets() -> Vec<&'static str> {
    let mut secrets: Vec<&str> = CASES
        .iter()
        .filter(|(_, _, expect)| matches!(expect, Scrubbed(_)))
        .map(|(_, value, _)| *value)
        .flat_map(|value| value.split(|c: char| c.is_whitespace() || c == '=' || c == '&'))
        .filter(|part| part.starts_with("pw-") || part.starts_with("sk-"))
        .collect();
    secrets.extend(JSON_CASES.iter().map(|(_, _, secret, _)| *secret));
    secrets.extend(["pw-msg-1", "pw-msg-2", "pw-msg-3", "pw-exc-1", "pw-link-1"]);
    secrets
}

/// Everything the table covers, logged through `observe`.
fn log_everything(observe: &BudObserve) {
    for (i, (key, value, _)) in CASES.iter().enumerate() {
        observe.info(format!("case {i}"), [KeyValue::new(*key, *value)]);
    }
    for (i, (key, value, _, _)) in JSON_CASES.iter().enumerate() {
        observe.info(format!("json {i}"), [KeyValue::new(*key, *value)]);
    }
    for (i, (key, value)) in JSON_KEEP.iter().enumerate() {
        observe.info(format!("json keep {i}"), [KeyValue::new(*key, *value)]);
    }
    observe.info("number under a secret name", [KeyValue::new("session_count", 3), KeyValue::new("retries", 5)]);
    observe.info(
        "array",
        [
            KeyValue::new("list", Value::Array(Array::String(vec!["a".into(), "token=pw-array-1".into()]))),
            KeyValue::new("plain", Value::Array(Array::String(vec!["x".into(), "y".into()]))),
        ],
    );
    budobserve::with_instance(observe, || {
        // Deferred: rendered on completion from the scrubbed value.
        let password = "pw-msg-1";
        bud_info!("login with {password}");
        // Formatted by the caller (a spec): the scrubbed value is replaced in it.
        let secret = "pw-msg-2";
        bud_info!("value {secret:>12}");
    });
    // The method API formats at once.
    observe.info("auth header {h}", [KeyValue::new("h", "Bearer pw-msg-3-abcdefgh")]);
    observe.exception(
        &std::io::Error::other("upstream said: key sk-pwexc1ABCDEFGHIJKLMNOP pw-exc-1"),
        "call failed",
        [],
    );
    observe.exception(&std::io::Error::other("column password is missing"), "schema error", []);
    let linked =
        SpanContext::new(TraceId::from(7_u128), SpanId::from(8_u64), TraceFlags::SAMPLED, true, TraceState::NONE);
    let _linked = observe
        .span_builder("linked")
        .link(linked, vec![KeyValue::new("api_key", "pw-link-1"), KeyValue::new("kind", "follows")])
        .start();
}

fn check_table(spans: &[budobserve::opentelemetry_sdk::trace::SpanData]) {
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}")).clone();
    for (i, (key, value, expect)) in CASES.iter().enumerate() {
        let logged = span(&format!("case {i}"));
        let got = attribute(&logged, key).unwrap_or_else(|| panic!("case {i}: no {key}"));
        let paths = attribute(&logged, "budobserve_scrubbed");
        match expect {
            Keep => {
                assert_eq!(got, &Value::from(*value), "case {i}: {key}={value} must survive");
                assert_eq!(paths, None, "case {i}");
            }
            Scrubbed(pattern) => {
                assert_eq!(got, &Value::from(format!("[Scrubbed due to '{pattern}']")), "case {i}: {key}={value}");
                let expected = Value::Array(Array::String(vec![format!("attributes.{key}").into()]));
                assert_eq!(paths, Some(&expected), "case {i}");
            }
        }
    }
    for (i, (key, _, secret, kept)) in JSON_CASES.iter().enumerate() {
        let logged = span(&format!("json {i}"));
        let text = attribute(&logged, key).unwrap().as_str().into_owned();
        assert!(
            !text.contains(secret) && text.contains(kept) && text.contains("[Scrubbed due to '"),
            "json {i}: {text}"
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }
    for (i, (key, value)) in JSON_KEEP.iter().enumerate() {
        assert_eq!(attribute(&span(&format!("json keep {i}")), key), Some(&Value::from(*value)));
    }
    let numbers = span("number under a secret name");
    assert_eq!(attribute(&numbers, "session_count"), Some(&Value::from("[Scrubbed due to 'session']")));
    assert_eq!(attribute(&numbers, "retries"), Some(&Value::I64(5)));
    let array = span("array");
    assert_eq!(
        attribute(&array, "list"),
        Some(&Value::Array(Array::String(vec!["a".into(), "[Scrubbed due to 'secret in query']".into()])))
    );
    assert_eq!(
        attribute(&array, "budobserve_scrubbed"),
        Some(&Value::Array(Array::String(vec!["attributes.list.1".into()])))
    );
    assert_eq!(
        attribute(&span("login with {password}"), "budobserve_msg"),
        Some(&Value::from("login with [Scrubbed due to 'password']"))
    );
    // Rendered again from the scrubbed value: the padding of the caller's format would show the secret's length.
    assert_eq!(
        attribute(&span("value {secret:>12}"), "budobserve_msg"),
        Some(&Value::from("value [Scrubbed due to 'secret']"))
    );
    assert_eq!(
        attribute(&span("auth header {h}"), "budobserve_msg"),
        Some(&Value::from("auth header [Scrubbed due to 'bearer token']"))
    );
    let failed = span("call failed");
    let event = &failed.events.events[0];
    assert_eq!(attribute_of(&event.attributes, "exception.message"), Some(Value::from("[Scrubbed due to 'api key']")));
    assert_eq!(attribute_of(&event.attributes, "exception.type"), Some(Value::from("std::io::Error")));
    let schema = span("schema error");
    assert_eq!(
        attribute_of(&schema.events.events[0].attributes, "exception.message"),
        Some(Value::from("column password is missing"))
    );
    let linked = span("linked");
    let link = &linked.links.links[0];
    assert_eq!(attribute_of(&link.attributes, "api_key"), Some(Value::from("[Scrubbed due to 'api key']")));
    assert_eq!(attribute_of(&link.attributes, "kind"), Some(Value::from("follows")));
}

fn attribute_of(attributes: &[KeyValue], key: &str) -> Option<Value> {
    attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
}

fn assert_no_secret(bytes: &str) {
    for secret in secrets() {
        assert!(!bytes.contains(secret), "{secret} leaked: {bytes}");
    }
}

#[test]
fn the_table_through_the_test_exporter() {
    let capture = testing::capture();
    log_everything(capture.observe());
    check_table(&capture.spans());
    assert_no_secret(&capture.exported_spans_as_json().to_string());
}

#[test]
fn the_table_through_a_batch_exporter_scrubbed_on_its_thread() {
    let exporter = TestExporter::default();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .console(false)
        .span_exporter(exporter.clone())
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    log_everything(&observe);
    observe.force_flush().unwrap();
    check_table(&exporter.spans());
    assert_no_secret(&format!("{:?}", exporter.spans()));
}

#[test]
fn the_console_prints_scrubbed_values() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let capture = testing::capture_with(|b| {
        b.console(true).console_options(
            ConsoleOptions::new()
                .colors(ColorChoice::Never)
                .include_timestamps(false)
                .verbose(true)
                .writer(ConsoleWriter::Shared(buffer.clone())),
        )
    });
    log_everything(capture.observe());
    let printed = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    assert!(printed.contains("login with [Scrubbed due to 'password']"), "{printed}");
    assert_no_secret(&printed);
}

#[test]
fn log_records_are_scrubbed() {
    let exporter = InMemoryLogExporter::default();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .console(false)
        .log_processor(SimpleLogProcessor::new(exporter.clone()))
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    let logger = observe.logger_provider().logger("app");
    let mut record = logger.create_log_record();
    record.set_body("sent Bearer pw-log-1-abcdefgh upstream".into());
    record.add_attribute("password", "pw-log-2");
    record.add_attribute("user", "ada");
    logger.emit(record);
    let logs = exporter.get_emitted_logs().unwrap();
    let printed = format!("{logs:?}");
    assert!(!printed.contains("pw-log-1") && !printed.contains("pw-log-2"), "{printed}");
    assert!(printed.contains("ada") && printed.contains("[Scrubbed due to 'bearer token']"), "{printed}");
}

#[test]
fn a_callback_allow_lists_and_replaces() {
    let capture = testing::capture_with(|b| {
        b.scrubbing_options(ScrubbingConfig::new().extra_pattern("ticket", "ticket").callback(|found| {
            match (found.path, found.pattern) {
                ("attributes.session_count", _) => ScrubAction::Keep,
                (_, "cookie") => ScrubAction::Replace("<cookie>".to_owned()),
                _ => ScrubAction::Redact,
            }
        }))
    });
    capture.observe().info(
        "allow-listed",
        [
            KeyValue::new("session_count", 3),
            KeyValue::new("cookie", "pw-cb-1"),
            KeyValue::new("ticket_id", "pw-cb-2"),
            KeyValue::new("password", "pw-cb-3"),
        ],
    );
    let span = capture.span("allow-listed");
    assert_eq!(attribute(&span, "session_count"), Some(&Value::I64(3)));
    assert_eq!(attribute(&span, "cookie"), Some(&Value::from("<cookie>")));
    assert_eq!(attribute(&span, "ticket_id"), Some(&Value::from("[Scrubbed due to 'ticket']")));
    assert_eq!(attribute(&span, "password"), Some(&Value::from("[Scrubbed due to 'password']")));
}

#[derive(BudAttributes)]
struct Login {
    user: String,
    #[bud(redact)]
    token: String,
}

#[test]
fn disabled_scrubbing_keeps_values_but_not_redacted_fields() {
    let capture = testing::capture_with(|b| b.scrubbing(false));
    budobserve::with_instance(capture.observe(), || {
        let login = Login { user: "ada".into(), token: "pw-redact-1".into() };
        bud_info!("login", login, password = "visible-when-off");
    });
    let span = capture.span("login");
    assert_eq!(attribute(&span, "password"), Some(&Value::from("visible-when-off")));
    assert_eq!(attribute(&span, "login.user"), Some(&Value::from("ada")));
    assert_eq!(attribute(&span, "login.token"), Some(&Value::from("[Scrubbed due to 'redact']")));
    assert_eq!(attribute(&span, "budobserve_scrubbed"), None);
}

#[test]
fn an_invalid_extra_pattern_is_a_configuration_error() {
    let err = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .scrubbing_options(ScrubbingConfig::new().extra_pattern("broken", "(unclosed"))
        .build()
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "invalid value \"broken: (unclosed\" for option `scrubbing pattern`: expected a valid regular expression"
        ),
        "{err}"
    );
}

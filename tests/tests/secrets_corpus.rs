//! Secrets written the way services write them — credentials by shape under innocent and safe keys — checked where
//! they leave the process: the spans and log records an OTLP/HTTP receiver decodes, and the console's text. And
//! look-alikes that must arrive unchanged.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleWriter};
use budobserve::opentelemetry::Key;
use budobserve::opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use budobserve::opentelemetry::trace::Status;
use budobserve::{BatchOptions, BudObserve, EnvSource, KeyValue, Level, bud_info};
use common::receiver::{Receiver, attr, spans_of};
use opentelemetry_proto::tonic::common::v1::any_value;

/// A secret by shape: the rule that must find it, the value as a service writes it, and the part that must never
/// leave the process.
struct Secret {
    rule: &'static str,
    value: String,
    secret: String,
}

fn secret(rule: &'static str, value: impl Into<String>, secret: impl Into<String>) -> Secret {
    Secret { rule, value: value.into(), secret: secret.into() }
}

/// `n` characters of a fake credential body (letters and digits), distinct per `seed`.
fn body(seed: &str, n: usize) -> String {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".chars().collect();
    let mut out = String::from(seed);
    let mut i = seed.len();
    while out.len() < n {
        out.push(alphabet[(i * 7 + 3) % alphabet.len()]);
        i += 1;
    }
    out.truncate(n);
    out
}

fn secrets() -> Vec<Secret> {
    let mut all = vec![
        secret("password in url", "postgres://app:PgS3cret01x@db.internal:5432/app", "PgS3cret01x"),
        secret("password in url", "redis://:RdS3cret02x@cache:6379/0", "RdS3cret02x"),
        secret("password in url", "mongodb://admin:MgS3cret03x@mongo-0.mongo/admin?replicaSet=rs0", "MgS3cret03x"),
        secret("password in url", "amqp://guest:AqS3cret04x@rabbit:5672/vhost", "AqS3cret04x"),
        secret("password in url", "mysql://root:MyS3cret05x@10.0.0.5/db", "MyS3cret05x"),
        secret("password in url", "https://deploy:HtS3cret06x@git.example.com/org/repo.git", "HtS3cret06x"),
        secret("bearer token", "Bearer BrS3cret07xabcdefgh", "BrS3cret07x"),
        secret("basic auth", "Basic YWRtaW46QnNTM2NyZXQwOHg=", "YWRtaW46QnNTM2NyZXQwOHg"),
        secret(
            "json web token",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.SnRTM2NyZXQwOXhzaWduYXR1cmU",
            "SnRTM2NyZXQwOXhzaWduYXR1cmU",
        ),
        secret("github token", format!("ghp_{}", body("GhS3cret10x", 36)), body("GhS3cret10x", 36)),
        secret("github token", format!("github_pat_{}", body("GpS3cret11x", 60)), body("GpS3cret11x", 60)),
        secret("gitlab token", format!("glpat-{}", body("GlS3cret12x", 20)), body("GlS3cret12x", 20)),
        secret("slack token", format!("xoxb-123456789012-{}", body("SlS3cret13x", 24)), body("SlS3cret13x", 24)),
        secret("stripe key", format!("sk_live_{}", body("StS3cret14x", 24)), body("StS3cret14x", 24)),
        secret("stripe key", format!("rk_test_{}", body("StS3cret15x", 24)), body("StS3cret15x", 24)),
        secret("anthropic key", format!("sk-ant-api03-{}", body("AnS3cret16x", 40)), body("AnS3cret16x", 40)),
        secret("api key", format!("sk-proj-{}", body("OpS3cret17x", 32)), body("OpS3cret17x", 32)),
        secret("api key", format!("sk-{}", body("OpS3cret18x", 40)), body("OpS3cret18x", 40)),
        secret("hugging face token", format!("hf_{}", body("HfS3cret19x", 34)), body("HfS3cret19x", 34)),
        secret("google api key", format!("AIza{}", body("GoS3cret20x", 35)), body("GoS3cret20x", 35)),
        secret(
            "aws access key",
            format!("AKIA{}", body("AWS3CRET21X", 16).to_uppercase()),
            body("AWS3CRET21X", 16).to_uppercase(),
        ),
        secret("aws secret key", format!("aws_secret_access_key={}", body("AsS3cret22x", 40)), body("AsS3cret22x", 40)),
        secret(
            "private key block",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAPkS3cret23x\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEAPkS3cret23x",
        ),
        secret(
            "private key block",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rS3cret24x",
            "b3BlbnNzaC1rS3cret24x",
        ),
        secret("session cookie", "PHPSESSID=PhS3cret25x; path=/; HttpOnly", "PhS3cret25x"),
        secret("session cookie", "theme=dark; JSESSIONID=JsS3cret26x", "JsS3cret26x"),
        secret("session cookie", "connect.sid=s%3ACsS3cret27x.sig", "CsS3cret27x"),
        secret("secret in query", "https://api.example.com/v1/items?key=QkS3cret28x&page=2", "QkS3cret28x"),
        secret("secret in query", "/callback?code=abc&access_token=QaS3cret29x", "QaS3cret29x"),
        secret(
            "secret in query",
            "https://bucket.s3.amazonaws.com/o?X-Amz-Expires=60&X-Amz-Signature=QsS3cret30x",
            "QsS3cret30x",
        ),
        secret("secret in query", "https://cdn.example.com/f.mp4?sig=QgS3cret31x&e=1700000000", "QgS3cret31x"),
        secret("secret in query", "grant_type=refresh_token&refresh_token=QrS3cret32x", "QrS3cret32x"),
        secret("secret in query", "https://idp.example.com/cb#state=1&id_token=QiS3cret33x", "QiS3cret33x"),
        secret("secret in query", "token=QtS3cret34x", "QtS3cret34x"),
        secret("secret on a command line", "pg_dump --password=ClS3cret35x --host db", "ClS3cret35x"),
        secret("secret on a command line", "mysql --user root --password ClS3cret36x app", "ClS3cret36x"),
        secret("secret on a command line", "budctl --api-key ClS3cret37x deploy", "ClS3cret37x"),
        secret("secret on a command line", "worker --token=ClS3cret38x", "ClS3cret38x"),
        secret("sql password", "ALTER USER app WITH PASSWORD 'SqS3cret39x'", "SqS3cret39x"),
        secret("sql password", "CREATE USER bob IDENTIFIED BY 'SqS3cret40x'", "SqS3cret40x"),
    ];
    // Inside longer text: an error message, a log line.
    all.push(secret(
        "password in url",
        "connection to postgres://svc:InS3cret41x@10.1.2.3/orders refused",
        "InS3cret41x",
    ));
    all.push(secret("bearer token", "upstream 401 for Authorization: Bearer InS3cret42xabcdef", "InS3cret42x"));
    all.push(secret("secret in query", "GET https://maps.example.com/geo?q=x&key=InS3cret43x failed", "InS3cret43x"));
    all.push(secret(
        "secret on a command line",
        "spawned `redis-cli -a x --pass InS3cret44x ping` exited 1",
        "InS3cret44x",
    ));
    all.push(secret(
        "json web token",
        format!("token was {}.{}.{}", "eyJ0eXAiOiJKV1QifQ", "eyJpZCI6N30", body("InS3cret45x", 24)),
        body("InS3cret45x", 24),
    ));
    all
}

/// Values that look like secrets but are not: they must arrive as they were.
fn look_alikes() -> Vec<String> {
    let mut all: Vec<String> = [
        "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "d41d8cd98f00b204e9800998ecf8427e",
        "SGVsbG8sIHdvcmxkISBUaGlzIGlzIGEgYmFzZTY0IHBheWxvYWQu",
        "gpt-4o-mini",
        "claude-3-5-sonnet-20241022",
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "https://api.example.com/v1/chat/completions",
        "https://host:8443/path/to/resource?page=2&sort=asc",
        "http://localhost:3500/v1.0/invoke/billing/method/charge",
        "postgres://db.internal:5432/app",
        "redis://cache:6379/0",
        "user@example.com",
        "git@github.com:BudEcosystem/bud-runtime.git",
        "2026-11-29T07:02:41.123456Z",
        "1732863761123456789",
        "SELECT id, name FROM users WHERE id = $1",
        "UPDATE accounts SET last_login = now() WHERE id = $1",
        "not a token",
        "token_count",
        "max_tokens",
        "input_tokens=120 output_tokens=48",
        "the author wrote a book",
        "monkey=banana&key_count=3",
        "/orders/{order_id}/items",
        "Basic plan",
        "bearer of bad news",
        "skip-navigation",
        "sk-short",
        "hf_model",
        "ghp_short",
        "AKIA",
        "-----BEGIN CERTIFICATE-----",
        "--verbose --threads 4",
        "cargo build --release --features otlp",
        "aws_region=us-east-1",
        "PHPSESSID",
        "ALTER USER app SET search_path = public",
    ]
    .map(str::to_owned)
    .to_vec();
    // Ids the platform writes: request ids, span ids.
    all.push("9f8e7d6c5b4a39281706f5e4d3c2b1a0".to_owned());
    all
}

/// The keys a value is written under: an innocent name, and safe names (safe by name only).
const INNOCENT: &str = "detail";
const SAFE: [&str; 4] = ["url.path", "db.query.text", "http.route", "bud.request_id"];

fn configure(endpoint: &str, console: Option<ConsoleOptions>) -> BudObserve {
    let mut builder = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .service_name("secrets-corpus")
        .endpoint(endpoint)
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)).max_queue_size(65_536))
        .export_timeout(Duration::from_secs(5))
        .metrics_interval(Duration::from_secs(3600));
    if let Some(options) = console {
        builder = builder.console(true).console_options(options);
    }
    BudObserve::new(builder.build().unwrap())
}

/// Writes `value` through every exit: an attribute under an innocent key, one under a safe key, the formatted
/// message, an exception's message, the status description, and an OpenTelemetry log record's body.
fn write_everywhere(observe: &BudObserve, case: usize, value: &str) {
    let safe = SAFE[case % SAFE.len()];
    observe.log(
        Level::Info,
        "case {case} said {detail}",
        [
            KeyValue::new("case", case as i64),
            KeyValue::new(INNOCENT, value.to_owned()),
            KeyValue::new(safe, value.to_owned()),
        ],
    );
    let mut span = observe.span_builder("call {case}").attribute(KeyValue::new("case", case as i64)).start();
    span.record_error_message("UpstreamError", value.to_owned());
    span.set_status(Status::error(value.to_owned()));
    drop(span);
    let logger = observe.logger_provider().logger("corpus");
    let mut record = logger.create_log_record();
    record.set_body(value.to_owned().into());
    record.add_attribute("case", case as i64);
    logger.emit(record);
    // The same value as a map key: a JSON attribute and its schema (through the macro), and a log record's map.
    budobserve::with_instance(observe, || {
        let by_key: HashMap<String, i64> = HashMap::from([(value.to_owned(), 1)]);
        bud_info!("case {case} keys", case = case as i64, by_key);
    });
    let mut record = logger.create_log_record();
    let map = HashMap::from([
        (Key::from("detail"), AnyValue::from(value.to_owned())),
        (Key::from(value.to_owned()), AnyValue::from(1)),
    ]);
    record.set_body(AnyValue::Map(Box::new(map)));
    record.add_attribute("items", AnyValue::ListAny(Box::new(vec![AnyValue::from(value.to_owned())])));
    record.add_attribute("case", case as i64);
    record.add_attribute("shape", "map");
    logger.emit(record);
    // A span named at run time, from the value.
    observe.span_builder(format!("fetch {value}")).attribute(KeyValue::new("case", case as i64)).log();
}

fn case_of(attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Option<i64> {
    match attr(attributes, "case") {
        Some(any_value::Value::IntValue(case)) => Some(*case),
        _ => None,
    }
}

fn text(value: Option<&any_value::Value>) -> String {
    match value {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        other => format!("{other:?}"),
    }
}

/// Everything the receiver decoded: spans and log records.
fn decoded(receiver: &Receiver) -> (Vec<opentelemetry_proto::tonic::trace::v1::Span>, String) {
    let spans: Vec<_> = receiver.trace_requests().into_iter().flat_map(spans_of).collect();
    let logs = format!("{:?}", receiver.log_requests());
    (spans, logs)
}

#[test]
fn secrets_never_reach_the_receiver_and_each_is_named_by_its_rule() {
    let receiver = Receiver::start();
    let observe = configure(&receiver.endpoint(), None);
    let secrets = secrets();
    for (case, secret) in secrets.iter().enumerate() {
        write_everywhere(&observe, case, &secret.value);
    }
    observe.force_flush().unwrap();
    let (spans, logs) = decoded(&receiver);
    let everything = format!("{spans:?}{logs}");
    let mut checked = 0;
    for (case, secret) in secrets.iter().enumerate() {
        assert!(!everything.contains(&secret.secret), "case {case} ({}) leaked {:?}", secret.rule, secret.secret);
        let log = spans
            .iter()
            .find(|s| s.name == "case {case} said {detail}" && case_of(&s.attributes) == Some(case as i64))
            .unwrap_or_else(|| panic!("case {case}: no log"));
        let expected = format!("[Scrubbed due to '{}']", secret.rule);
        assert_eq!(text(attr(&log.attributes, INNOCENT)), expected, "case {case}: innocent key");
        assert_eq!(text(attr(&log.attributes, SAFE[case % SAFE.len()])), expected, "case {case}: safe key");
        // The note: each path replaced, and the rule that matched there — never the secret.
        let note = |key: &str| match attr(&log.attributes, key) {
            Some(any_value::Value::ArrayValue(array)) => array.values.iter().map(|v| text(v.value.as_ref())).collect(),
            _ => Vec::new(),
        };
        let (paths, rules): (Vec<String>, Vec<String>) =
            (note("budobserve_scrubbed"), note("budobserve_scrubbed_rules"));
        assert_eq!(paths.len(), rules.len(), "case {case}: {paths:?} {rules:?}");
        let at = paths.iter().position(|p| p == &format!("attributes.{INNOCENT}")).expect("the innocent key noted");
        assert_eq!(rules[at], secret.rule, "case {case}: {paths:?} {rules:?}");
        let message = text(attr(&log.attributes, "budobserve_msg"));
        assert!(message.starts_with(&format!("case {case} said ")) && message.contains(&expected), "{message}");
        let span = spans
            .iter()
            .find(|s| s.name == "call {case}" && case_of(&s.attributes) == Some(case as i64))
            .unwrap_or_else(|| panic!("case {case}: no span"));
        let exception = &span.events[0];
        assert_eq!(text(attr(&exception.attributes, "exception.message")), expected, "case {case}: exception");
        let status = span.status.as_ref().map(|s| s.message.clone()).unwrap_or_default();
        assert!(status.contains(&expected), "case {case}: status {status:?}");
        let keys = spans
            .iter()
            .find(|s| s.name == "case {case} keys" && case_of(&s.attributes) == Some(case as i64))
            .unwrap_or_else(|| panic!("case {case}: no map"));
        let by_key = text(attr(&keys.attributes, "by_key"));
        assert!(by_key.contains(&expected), "case {case}: map key {by_key}");
        // The schema is the type's: a map's keys are never in it.
        let schema = text(attr(&keys.attributes, "budobserve_json_schema"));
        assert!(schema.contains(r#""by_key":{"type":"object","additionalProperties":{"type":"integer"}}"#), "{schema}");
        let named = spans
            .iter()
            .find(|s| {
                !s.name.starts_with("case {case}")
                    && s.name != "call {case}"
                    && case_of(&s.attributes) == Some(case as i64)
            })
            .unwrap_or_else(|| {
                let names: Vec<_> =
                    spans.iter().filter(|s| case_of(&s.attributes) == Some(case as i64)).map(|s| &s.name).collect();
                panic!("case {case}: no run-time name among {names:?}")
            });
        assert!(named.name.contains(&expected), "case {case}: span name {}", named.name);
        checked += 8;
    }
    // The log records: each body replaced, named by its rule.
    let records = receiver.log_records();
    for (case, secret) in secrets.iter().enumerate() {
        let expected = format!("[Scrubbed due to '{}']", secret.rule);
        let of_case = |shape: bool| {
            records
                .iter()
                .find(|r| {
                    case_of(&r.attributes) == Some(case as i64) && attr(&r.attributes, "shape").is_some() == shape
                })
                .unwrap_or_else(|| panic!("case {case}: no log record"))
        };
        let body = text(of_case(false).body.as_ref().and_then(|b| b.value.as_ref()));
        assert_eq!(body, expected, "case {case}: log record body");
        let map = format!("{:?}", of_case(true));
        assert!(map.matches(&expected).count() >= 3, "case {case}: map body, map key and list item: {map}");
        checked += 4;
    }
    assert!(checked >= 250, "{checked} secret cases");
}

#[test]
fn look_alikes_arrive_unchanged_at_the_receiver() {
    let receiver = Receiver::start();
    let observe = configure(&receiver.endpoint(), None);
    let values = look_alikes();
    for (case, value) in values.iter().enumerate() {
        write_everywhere(&observe, case, value);
    }
    observe.force_flush().unwrap();
    let (spans, logs) = decoded(&receiver);
    let mut checked = 0;
    for (case, value) in values.iter().enumerate() {
        let log = spans
            .iter()
            .find(|s| s.name == "case {case} said {detail}" && case_of(&s.attributes) == Some(case as i64))
            .unwrap_or_else(|| panic!("case {case}: no log"));
        assert_eq!(&text(attr(&log.attributes, INNOCENT)), value, "innocent key");
        assert_eq!(&text(attr(&log.attributes, SAFE[case % SAFE.len()])), value, "safe key");
        assert_eq!(text(attr(&log.attributes, "budobserve_msg")), format!("case {case} said {value}"));
        let span = spans.iter().find(|s| s.name == "call {case}" && case_of(&s.attributes) == Some(case as i64));
        let exception = &span.unwrap_or_else(|| panic!("case {case}: no span")).events[0];
        assert_eq!(&text(attr(&exception.attributes, "exception.message")), value, "exception message");
        assert!(attr(&log.attributes, "budobserve_scrubbed").is_none(), "case {case}: {value} noted as scrubbed");
        checked += 4;
    }
    assert!(!logs.contains("[Scrubbed due to '"), "{logs}");
    let records = receiver.log_records();
    for (case, value) in values.iter().enumerate() {
        let record = records.iter().find(|r| case_of(&r.attributes) == Some(case as i64));
        let body = record.and_then(|r| r.body.as_ref()).and_then(|b| b.value.as_ref());
        assert_eq!(&text(body), value, "case {case}: log record body");
        checked += 1;
    }
    assert!(checked >= 100, "{checked} look-alike cases");
}

#[test]
fn the_console_shows_no_secret() {
    let receiver = Receiver::start();
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let console = ConsoleOptions::new()
        .colors(ColorChoice::Never)
        .include_timestamps(false)
        .verbose(true)
        .writer(ConsoleWriter::Shared(buffer.clone()));
    let observe = configure(&receiver.endpoint(), Some(console));
    let secrets = secrets();
    for (case, secret) in secrets.iter().enumerate() {
        write_everywhere(&observe, case, &secret.value);
    }
    observe.force_flush().unwrap();
    let printed = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    for secret in &secrets {
        if let Some(at) = printed.find(&secret.secret) {
            panic!(
                "{} leaked on the console: {}",
                secret.rule,
                &printed[at.saturating_sub(300)..(at + 100).min(printed.len())]
            );
        }
        assert!(printed.contains(&format!("[Scrubbed due to '{}']", secret.rule)), "{}", secret.rule);
    }
}

#[test]
fn a_formatted_message_never_shows_what_the_attribute_hides() {
    let receiver = Receiver::start();
    let observe = configure(&receiver.endpoint(), None);
    budobserve::with_instance(&observe, || {
        let credit_card = 4_111_111_111_111_111_i64;
        bud_info!("charged {credit_card:>20}");
        let old_passwords = vec!["Hunter2Secret", "CorrectHorseSecret"];
        bud_info!("rotated {old_passwords:?}");
        let api_key = "KeyS3cretValue";
        bud_info!("using key {api_key:.6} for {region}", region = "eu-1");
    });
    observe.force_flush().unwrap();
    let (spans, logs) = decoded(&receiver);
    let everything = format!("{spans:?}{logs}");
    for secret in ["4111111111111111", "Hunter2Secret", "CorrectHorseSecret", "KeyS3c"] {
        assert!(!everything.contains(secret), "{secret} leaked: {everything}");
    }
    let message = |name: &str| {
        let span = spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no {name}"));
        text(attr(&span.attributes, "budobserve_msg"))
    };
    assert_eq!(message("charged {credit_card:>20}"), "charged [Scrubbed due to 'credit card']");
    assert_eq!(message("rotated {old_passwords:?}"), "rotated [Scrubbed due to 'password']");
    assert_eq!(message("using key {api_key:.6} for {region}"), "using key [Scrubbed due to 'api key'] for eu-1");
}

#[test]
fn a_panicking_scrubbing_callback_redacts_and_the_export_goes_on() {
    use budobserve::scrubbing::{ScrubAction, ScrubbingConfig};

    let receiver = Receiver::start();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .endpoint(receiver.endpoint())
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .scrubbing_options(ScrubbingConfig::new().callback(|found| {
            assert!(!found.path.ends_with("password"), "the callback fails on passwords");
            ScrubAction::Keep
        }))
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    observe.log(Level::Info, "first", [KeyValue::new("password", "PanicS3cret1")]);
    observe.log(Level::Info, "second", [KeyValue::new("session_id", "kept-by-the-callback")]);
    observe.force_flush().unwrap();
    observe.log(Level::Info, "third", [KeyValue::new("password", "PanicS3cret2")]);
    observe.force_flush().unwrap();
    let (spans, _) = decoded(&receiver);
    let value = |name: &str, key: &str| {
        let span = spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no {name}"));
        text(attr(&span.attributes, key))
    };
    // Fails closed: the value the callback could not decide on is redacted; the worker lives on.
    assert_eq!(value("first", "password"), "[Scrubbed due to 'password']");
    assert_eq!(value("second", "session_id"), "kept-by-the-callback");
    assert_eq!(value("third", "password"), "[Scrubbed due to 'password']");
    assert!(!format!("{spans:?}").contains("PanicS3cret"));
}

#[test]
fn pending_span_records_are_scrubbed_like_their_spans() {
    let receiver = Receiver::start();
    let config = budobserve::configure()
        .env(EnvSource::Map(HashMap::new()))
        .endpoint(receiver.endpoint())
        .batch_options(BatchOptions::new().scheduled_delay(Duration::from_secs(60)))
        .pending_spans(true)
        .export_pending_spans(true)
        .build()
        .unwrap();
    let observe = BudObserve::new(config);
    let dsn = "postgres://app:PendingS3cret@db.internal/app";
    drop(observe.span_builder("connect {dsn}").attribute(KeyValue::new("dsn", dsn)).start());
    observe.force_flush().unwrap();
    let (spans, _) = decoded(&receiver);
    assert!(!format!("{spans:?}").contains("PendingS3cret"), "{spans:?}");
    let types: Vec<String> = spans.iter().map(|s| text(attr(&s.attributes, "budobserve_span_type"))).collect();
    assert_eq!(types.iter().filter(|t| *t == "pending_span").count(), 1, "{types:?}");
    for span in &spans {
        assert_eq!(text(attr(&span.attributes, "dsn")), "[Scrubbed due to 'password in url']");
        assert_eq!(text(attr(&span.attributes, "budobserve_msg")), "connect [Scrubbed due to 'password in url']");
    }
}

/// An argument and a returned field named for tokens, through `#[instrument]`.
#[derive(serde::Serialize)]
struct Grant {
    refresh_token: String,
    expires_in: u32,
}

#[budobserve::instrument(record_return)]
fn exchange(access_token: &str, client_id: &str) -> Grant {
    let _ = (access_token, client_id);
    Grant { refresh_token: "RefreshS3cretValue".to_owned(), expires_in: 3600 }
}

#[test]
fn token_arguments_and_returned_tokens_are_scrubbed() {
    let receiver = Receiver::start();
    let observe = configure(&receiver.endpoint(), None);
    budobserve::with_instance(&observe, || exchange("AccessS3cretValue", "budapp"));
    observe.force_flush().unwrap();
    let (spans, _) = decoded(&receiver);
    let printed = format!("{spans:?}");
    assert!(!printed.contains("AccessS3cretValue") && !printed.contains("RefreshS3cretValue"), "{printed}");
    let span = spans.iter().find(|s| s.name.ends_with("exchange")).expect("the instrumented call");
    assert_eq!(text(attr(&span.attributes, "access_token")), "[Scrubbed due to 'token']");
    assert_eq!(text(attr(&span.attributes, "client_id")), "budapp");
    let returned = text(attr(&span.attributes, "return"));
    assert!(returned.contains(r#""refresh_token":"[Scrubbed due to 'token']""#), "{returned}");
    assert!(returned.contains(r#""expires_in":3600"#), "{returned}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_client_error_does_not_carry_the_key_in_its_url() {
    use budobserve::integrations::reqwest::ClientMiddleware;

    let receiver = Receiver::start();
    let observe = configure(&receiver.endpoint(), None);
    let closed = Receiver::free_address();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ClientMiddleware::for_instance(&observe))
        .build();
    let url = format!("http://{closed}/v1/geocode?address=x&key=UrlKeyS3cretValue");
    let error = client.get(&url).send().await.expect_err("nothing listens there");
    assert!(error.to_string().contains("UrlKeyS3cretValue") || format!("{error:?}").contains("UrlKeyS3cretValue"));
    observe.force_flush().unwrap();
    let (spans, _) = decoded(&receiver);
    let printed = format!("{spans:?}");
    assert!(!printed.contains("UrlKeyS3cretValue"), "{printed}");
    let span = spans.iter().find(|s| s.name == "GET").expect("the client span");
    let exception = span.events.iter().find(|e| e.name == "exception").expect("the error");
    assert!(text(attr(&exception.attributes, "exception.message")).starts_with("[Scrubbed due to '"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_parameter_named_for_a_secret_is_redacted_in_the_path_and_message() {
    use axum::Router;
    use axum::routing::get;
    use budobserve::integrations::axum::ServerLayer;

    let receiver = Receiver::start();
    let observe = configure(&receiver.endpoint(), None);
    let app = Router::new()
        .route("/reset/{token}", get(|| async { "ok" }))
        .route("/users/{user_id}", get(|| async { "ok" }))
        .layer(ServerLayer::for_instance(&observe));
    let addr = common::http::serve(app).await;
    for path in ["/reset/ResetS3cretValue?lang=en", "/users/42"] {
        let answer = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    observe.force_flush().unwrap();
    let (spans, _) = decoded(&receiver);
    assert!(!format!("{spans:?}").contains("ResetS3cretValue"), "{spans:?}");
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no {name}"));
    let reset = span("GET /reset/{token}");
    assert_eq!(text(attr(&reset.attributes, "url.path")), "/reset/[Scrubbed due to 'token']");
    assert_eq!(text(attr(&reset.attributes, "budobserve_msg")), "GET /reset/[Scrubbed due to 'token']");
    // A parameter with an innocent name stays.
    let users = span("GET /users/{user_id}");
    assert_eq!(text(attr(&users.attributes, "url.path")), "/users/42");
    assert_eq!(text(attr(&users.attributes, "budobserve_msg")), "GET /users/42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_attributes_from_data_are_scrubbed_too() {
    use axum::Router;
    use axum::routing::post;
    use budobserve::integrations::llm::LlmMiddleware;

    let receiver = Receiver::start();
    let observe = configure(&receiver.endpoint(), None);
    let key = format!("sk-proj-{}", body("MetricS3cret", 32));
    let answer = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": key,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    });
    let app = Router::new().route("/v1/chat/completions", post(move || async move { axum::Json(answer) }));
    let addr = common::http::serve(app).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::for_instance(&observe).provider("budgateway"))
        .build();
    // A key pasted into the model field by mistake: it reaches the span's and the metrics' attributes.
    let request = serde_json::json!({"model": key, "messages": [{"role": "user", "content": "hello"}]});
    let reply = client.post(format!("http://{addr}/v1/chat/completions")).json(&request).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    observe.force_flush().unwrap();
    let metrics = format!("{:?}", receiver.metric_requests());
    let (spans, _) = decoded(&receiver);
    let secret = body("MetricS3cret", 32);
    assert!(metrics.contains("gen_ai.client.operation.duration"), "{metrics}");
    assert!(!metrics.contains(&secret), "{metrics}");
    assert!(!format!("{spans:?}").contains(&secret), "{spans:?}");
    assert!(metrics.matches("[Scrubbed due to 'api key']").count() >= 2, "request and response models: {metrics}");
}

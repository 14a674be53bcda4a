//! The console exporter: format, indentation, tags, level colors, minimum level.

use std::sync::{Arc, Mutex};

use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleStyle, ConsoleWriter};
use budobserve::{KeyValue, Level, testing};

fn console_capture(options: ConsoleOptions) -> (testing::Capture, Arc<Mutex<Vec<u8>>>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let capture = testing::capture_with(|b| {
        b.console(true).console_options(options.writer(ConsoleWriter::Shared(buffer.clone())))
    });
    (capture, buffer)
}

fn text(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8(buffer.lock().expect("buffer").clone()).expect("utf-8")
}

#[test]
fn prints_one_line_per_span_start_and_log_indented_by_depth() {
    let (capture, buffer) = console_capture(ConsoleOptions::new().colors(ColorChoice::Never));
    let obs = capture.observe();
    {
        let _request = obs.with_tags(["api", "v1"]).span("handling {path}", [KeyValue::new("path", "/chat")]).entered();
        obs.info("user {user_id} logged in", [KeyValue::new("user_id", 42)]);
        {
            let _work = obs.span("processing {count} items", [KeyValue::new("count", 3)]).entered();
            obs.warn("quota at {pct:.1}%", [KeyValue::new("pct", 93.51)]);
            obs.debug("hidden below the console level", []);
        }
        obs.error("failed", []);
    }
    obs.info("done", []);
    assert_eq!(
        text(&buffer),
        "00:00:01.000 handling /chat [api,v1]\n\
         00:00:02.000   user 42 logged in\n\
         00:00:03.000   processing 3 items\n\
         00:00:04.000     quota at 93.5%\n\
         00:00:07.000   failed\n\
         00:00:09.000 done\n"
    );
}

#[test]
fn colors_errors_red_and_warnings_yellow() {
    let (capture, buffer) =
        console_capture(ConsoleOptions::new().colors(ColorChoice::Always).include_timestamps(false));
    let obs = capture.observe();
    obs.warn("careful", []);
    obs.error("broken", []);
    obs.fatal("dead", []);
    obs.info("fine", []);
    assert_eq!(text(&buffer), "\x1b[33mcareful\x1b[0m\n\x1b[31mbroken\x1b[0m\n\x1b[31mdead\x1b[0m\nfine\n");
}

#[test]
fn console_min_level_is_its_own() {
    let (capture, buffer) = console_capture(
        ConsoleOptions::new().colors(ColorChoice::Never).include_timestamps(false).min_level(Level::Trace),
    );
    let obs = capture.observe();
    {
        let _debug_span = obs.span_builder("debug span").level(Level::Debug).start().entered();
        obs.trace("very detailed", []);
    }
    assert_eq!(text(&buffer), "debug span\n  very detailed\n");
    // Everything still reaches the exporter.
    assert_eq!(capture.spans().len(), 2);
}

#[test]
fn spans_below_the_console_level_are_hidden_and_do_not_indent_their_children() {
    let (capture, buffer) = console_capture(ConsoleOptions::new().colors(ColorChoice::Never).include_timestamps(false));
    let obs = capture.observe();
    {
        let _request = obs.span("request", []).entered();
        let _detail = obs.span_builder("debug detail").level(Level::Debug).start().entered();
        obs.info("inside the debug span", []);
    }
    assert_eq!(text(&buffer), "request\n  inside the debug span\n");
}

fn plain(options: ConsoleOptions) -> ConsoleOptions {
    options.colors(ColorChoice::Never).include_timestamps(false)
}

#[test]
fn simple_style_does_not_indent() {
    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()).style(ConsoleStyle::Simple));
    let obs = capture.observe();
    {
        let _request = obs.span("request", []).entered();
        let _step = obs.span("step", []).entered();
        obs.info("inside", []);
    }
    assert_eq!(text(&buffer), "request\nstep\ninside\n");
}

#[test]
fn show_parents_prints_the_context_of_interleaved_traces_again() {
    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()).style(ConsoleStyle::ShowParents));
    let obs = capture.observe();
    let a = obs.span("request a", []);
    let b = obs.span("request b", []);
    let a1 = obs.span_builder("step a1").parent(a.context()).start();
    let b1 = obs.span_builder("step b1").parent(b.context()).start();
    a1.in_scope(|| obs.info("log in a1", []));
    a1.in_scope(|| obs.info("again in a1", []));
    drop((a1, b1, a, b));
    assert_eq!(
        text(&buffer),
        "request a\n\
         request b\n\
         request a\n\
         \x20 step a1\n\
         request b\n\
         \x20 step b1\n\
         request a\n\
         \x20 step a1\n\
         \x20   log in a1\n\
         \x20   again in a1\n"
    );
}

#[test]
fn show_parents_prints_a_spans_line_again_before_its_exceptions() {
    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()));
    let obs = capture.observe();
    let mut a = obs.span("job a", []);
    let b = obs.span("job b", []);
    a.in_scope(|| obs.info("a working", []));
    b.in_scope(|| obs.info("b working", []));
    a.record_exception(&std::io::Error::other("a failed"));
    drop(a);
    b.in_scope(|| obs.info("b still working", []));
    drop(b);
    assert_eq!(
        text(&buffer),
        "job a\n\
         job b\n\
         job a\n\
         \x20 a working\n\
         job b\n\
         \x20 b working\n\
         job a\n\
         \x20 std::io::Error: a failed\n\
         job b\n\
         \x20 b still working\n"
    );
}

#[test]
fn server_and_client_spans_end_with_status_and_duration() {
    use budobserve::opentelemetry::trace::{SpanKind, Status};

    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()));
    let obs = capture.observe();
    {
        let mut server = obs.span_builder("POST /chat").kind(SpanKind::Server).start();
        let _entered = server.enter();
        {
            let mut call = obs.span_builder("POST").kind(SpanKind::Client).start();
            call.set_attribute(KeyValue::new("http.request.method", "POST"));
            call.set_attribute(KeyValue::new("url.full", "https://api.example.com/v1/chat"));
            call.set_attribute(KeyValue::new("http.response.status_code", 503));
            call.set_status(Status::error("upstream overloaded"));
        }
        let query = obs.span_builder("SELECT users").kind(SpanKind::Client).start();
        query.end();
        drop(_entered);
        server.set_attribute(KeyValue::new("http.response.status_code", 500));
        server.record_exception(&std::io::Error::other("no upstream"));
    }
    assert_eq!(
        text(&buffer),
        "POST /chat\n\
         \x20 POST https://api.example.com/v1/chat → 503 in 1.00 s: upstream overloaded\n\
         \x20 SELECT users → ok in 1.00 s\n\
         POST /chat → 500 in 6.00 s: no upstream\n\
         \x20 std::io::Error: no upstream\n"
    );
}

#[test]
fn an_outcome_line_stays_one_line_and_shows_no_secret_of_the_status() {
    use budobserve::opentelemetry::trace::{SpanKind, Status};

    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()));
    let obs = capture.observe();
    let mut call = obs.span_builder("charge").kind(SpanKind::Client).start();
    call.set_status(Status::error(
        "\n  rejected: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0LTEifQ.c2lnbmF0dXJlMTIz \x1b[2J\nsecond line",
    ));
    drop(call);
    let printed = text(&buffer);
    assert_eq!(printed.lines().count(), 1, "{printed:?}");
    assert!(printed.starts_with("charge → error in 1.00 s: rejected: "), "{printed:?}");
    assert!(!printed.contains("eyJzdWIiOiJ0LTEifQ") && !printed.contains('\x1b'), "{printed:?}");
}

#[test]
fn show_parents_dims_the_lines_printed_again() {
    let (capture, buffer) = console_capture(
        ConsoleOptions::new().colors(ColorChoice::Always).include_timestamps(false).style(ConsoleStyle::ShowParents),
    );
    let obs = capture.observe();
    let a = obs.span("a", []);
    let _b = obs.span("b", []);
    a.in_scope(|| obs.warn("w", []));
    assert_eq!(text(&buffer), "a\nb\n\x1b[2ma\x1b[0m\n  \x1b[33mw\x1b[0m\n");
}

#[test]
fn verbose_prints_location_level_and_attributes() {
    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()).verbose(true));
    budobserve::with_instance(capture.observe(), || {
        let user = serde_json::json!({"id": 7, "roles": ["admin"]});
        budobserve::bud_info!("user {user_id} logged in", user_id = 42, profile = user.to_string());
    });
    let line = line!() - 2;
    assert_eq!(
        text(&buffer),
        format!(
            "user 42 logged in\n\
             \x20 │ tests/tests/console.rs:{line} info\n\
             \x20 │ user_id=42\n\
             \x20 │ profile={{\n\
             \x20 │     \"id\": 7,\n\
             \x20 │     \"roles\": [\n\
             \x20 │       \"admin\"\n\
             \x20 │     ]\n\
             \x20 │   }}\n"
        )
    );
}

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn exceptions_print_under_their_log_and_span_without_backtraces() {
    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()));
    let obs = capture.observe();
    {
        let mut span = obs.span("request", []);
        let err = Outer(std::io::Error::other("connection reset"));
        span.in_scope(|| obs.exception(&err, "upstream failed", []));
        span.record_exception(&std::io::Error::other("gave up"));
        let boxed: Box<dyn std::error::Error + Send + Sync> = "no quota left".into();
        span.record_exception(&*boxed);
    }
    // Whatever RUST_BACKTRACE says: errors carry no backtrace unless the configuration asks.
    assert_eq!(
        text(&buffer),
        "request\n\
         \x20 upstream failed\n\
         \x20   console::Outer: request failed\n\
         \x20   caused by: connection reset\n\
         \x20 std::io::Error: gave up\n\
         \x20 dyn Error + Send + Sync: no quota left\n"
    );
    for span in capture.spans() {
        for event in span.events.iter() {
            assert!(event.attributes.iter().all(|kv| kv.key.as_str() != "exception.stacktrace"), "{event:?}");
        }
    }
}

#[test]
fn a_panic_shows_where_it_happened_and_no_frames() {
    let (capture, buffer) = console_capture(plain(ConsoleOptions::new()));
    let obs = capture.observe().clone();
    let line = line!() + 3;
    let unwound = std::panic::catch_unwind(move || {
        let _job = obs.span("job", []).entered();
        panic!("out of slots");
    });
    assert!(unwound.is_err());
    assert_eq!(text(&buffer), format!("job\n  panic: out of slots\n  panicked at tests/tests/console.rs:{line}:9\n"));
}

#[test]
fn backtraces_print_when_asked_with_the_services_frames_first() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let capture = testing::capture_with(|b| {
        b.console(true).error_backtraces(true).console_options(
            plain(ConsoleOptions::new()).backtraces(true).writer(ConsoleWriter::Shared(buffer.clone())),
        )
    });
    capture.observe().span("request", []).record_exception(&std::io::Error::other("gave up"));
    let printed = text(&buffer);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[..2], ["request", "  std::io::Error: gave up"], "{printed}");
    // The first frame is this test's: BudObserve's and the standard library's frames are left out.
    assert!(lines[2].split_once(": ").is_some_and(|(_, f)| f.contains("backtraces_print_when_asked")), "{printed}");
    assert!(lines.iter().all(|l| !l.contains("budobserve::span::")), "{printed}");
    let span = capture.span("request");
    let stacktrace = span.events[0].attributes.iter().find(|kv| kv.key.as_str() == "exception.stacktrace");
    let stacktrace = stacktrace.map(|kv| kv.value.as_str().into_owned());
    assert!(stacktrace.is_some_and(|s| s.contains("budobserve::span::")), "the exporters get the whole backtrace");
}

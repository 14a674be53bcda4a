//! The console exporter: format, indentation, tags, level colors, minimum level.

use std::sync::{Arc, Mutex};

use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleWriter};
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

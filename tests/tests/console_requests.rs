//! The console under real traffic: an axum service on loopback with the server layer, whose handler calls a
//! downstream route through the reqwest middleware, hit by concurrent requests. Server and client spans end with
//! their status and duration, and the default style (`show-parents`) puts every line under its own request's lines
//! however the requests interleave.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleWriter};
use budobserve::integrations::axum::ServerLayer;
use budobserve::integrations::reqwest::ClientMiddleware;
use budobserve::testing::{self, Capture};
use budobserve::{Instrument, bud_info, bud_span};
use common::http::{run, serve};

fn console_capture() -> (Capture, Arc<Mutex<Vec<u8>>>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let options = ConsoleOptions::new()
        .colors(ColorChoice::Never)
        .include_timestamps(false)
        .writer(ConsoleWriter::Shared(buffer.clone()));
    (testing::capture_with(|b| b.console(true).console_options(options)), buffer)
}

fn printed(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
}

fn app(capture: &Capture, base: Arc<Mutex<String>>) -> Router {
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ClientMiddleware::for_instance(capture.observe()))
        .build();
    Router::new()
        .route(
            "/users/{id}",
            get(move |Path(id): Path<u32>| {
                let client = client.clone();
                let base = base.lock().unwrap().clone();
                async move {
                    async {
                        bud_info!("loading {id}");
                        tokio::task::yield_now().await;
                        let status = client.get(format!("{base}/profiles/{id}")).send().await.map(|r| r.status());
                        tokio::task::yield_now().await;
                        bud_info!("loaded {id}");
                        match status {
                            Ok(StatusCode::OK) => (StatusCode::OK, "ok"),
                            _ => (StatusCode::BAD_GATEWAY, "profile missing"),
                        }
                    }
                    .instrument(bud_span!("user {id}"))
                    .await
                }
            }),
        )
        .route(
            "/profiles/{id}",
            get(|Path(id): Path<u32>| async move {
                if id == 3 { (StatusCode::NOT_FOUND, "no profile") } else { (StatusCode::OK, "profile") }
            }),
        )
        .layer(ServerLayer::for_instance(capture.observe()))
}

/// Lines as (depth, text), two spaces a level.
fn lines(text: &str) -> Vec<(usize, &str)> {
    text.lines().map(|l| ((l.len() - l.trim_start().len()) / 2, l.trim_start())).collect()
}

/// The text of a line without its duration (` in 1.23 ms` → ` in …`).
fn without_duration(text: &str) -> String {
    match text.split_once(" in ") {
        Some((head, tail)) => {
            let rest = tail.split_once(": ").map(|(_, reason)| format!(": {reason}")).unwrap_or_default();
            format!("{head} in …{rest}")
        }
        None => text.to_owned(),
    }
}

#[test]
fn concurrent_requests_print_each_line_under_its_own_request_with_status_and_duration() {
    let (capture, buffer) = console_capture();
    let base = Arc::new(Mutex::new(String::new()));
    let (address, statuses) = run(&capture, async {
        let address = serve(app(&capture, base.clone())).await;
        *base.lock().unwrap() = format!("http://{address}");
        let client = reqwest::Client::new();
        let requests = (1..=5).map(|id| {
            let client = client.clone();
            async move { client.get(format!("http://{address}/users/{id}")).send().await.unwrap().status().as_u16() }
        });
        (address, futures_util::future::join_all(requests).await)
    });
    assert_eq!(statuses, [200, 200, 502, 200, 200]);
    let text = printed(&buffer);
    let lines = lines(&text);

    // Every line below the top sits under its parent: the closest line above it one level up.
    for (i, &(depth, line)) in lines.iter().enumerate() {
        if depth == 0 {
            continue;
        }
        let parent = lines[..i].iter().rev().find(|(d, _)| *d < depth).map(|(d, l)| (*d, *l));
        let Some((parent_depth, parent)) = parent else { panic!("line {i} {line:?} has no parent:\n{text}") };
        assert_eq!(parent_depth, depth - 1, "line {i} {line:?}:\n{text}");
        // Lines of a request sit under that request's lines: its logs and client call under its handler's span,
        // the downstream server span under that client call.
        let head = line.split(" → ").next().unwrap_or_default();
        let id = head.split(|c: char| !c.is_ascii_digit()).rfind(|w| !w.is_empty()).unwrap_or_default();
        if line.starts_with("loading ") || line.starts_with("loaded ") || line.starts_with("GET http://") {
            assert_eq!(parent, format!("user {id}"), "line {i} {line:?} under another request's line:\n{text}");
        } else if line.starts_with("GET /profiles/") {
            let call = parent.split(" → ").next().unwrap_or_default();
            assert_eq!(call, format!("GET http://{address}/profiles/{id}"), "line {i} {line:?}:\n{text}");
        } else if line.starts_with("user ") {
            assert!(parent.starts_with(&format!("GET /users/{id}")), "line {i} {line:?}:\n{text}");
        }
    }

    // The outcome of each request, server side and client side: status and duration.
    let outcomes: Vec<String> =
        lines.iter().filter(|(_, l)| l.contains(" → ")).map(|(_, l)| without_duration(l)).collect();
    let count = |wanted: &str| outcomes.iter().filter(|o| *o == wanted).count();
    for id in 1..=5 {
        let (user, profile) = if id == 3 { (502, 404) } else { (200, 200) };
        assert_eq!(count(&format!("GET /users/{id} → {user} in …")), 1, "{text}");
        assert_eq!(count(&format!("GET /profiles/{id} → {profile} in …")), 1, "{text}");
        assert_eq!(count(&format!("GET http://{address}/profiles/{id} → {profile} in …")), 1, "{text}");
    }
    assert_eq!(outcomes.len(), 15, "{text}");
    // Durations are printed as the console writes them.
    assert!(text.lines().filter(|l| l.contains(" → ")).all(|l| l.contains(" ms") || l.ends_with(" s")), "{text}");
}

//! The stand-in for the Dapr sidecar of the Dapr tests (`tests/tests/common/dapr.rs`) as a process of its own, so
//! that `scripts/test.sh` can run `examples/dapr.rs` against it:
//! `dapr_sidecar APP_ID REDIS_URL APP=URL…` serves Dapr's HTTP API on a free loopback port, prints
//! `listening on http://127.0.0.1:PORT`, and serves until it is killed.

#[path = "../tests/common/dapr.rs"]
mod dapr;

/// What the stand-in needs of the tests' HTTP helpers.
mod http {
    use std::net::SocketAddr;

    /// Serves `app` on a free loopback port; returns its address.
    pub async fn serve(app: axum::Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [app_id, redis_url, apps @ ..] = args.as_slice() else {
        eprintln!("usage: dapr_sidecar APP_ID REDIS_URL APP=URL…");
        std::process::exit(2);
    };
    let apps = apps
        .iter()
        .map(|app| {
            let (id, url) = app.split_once('=').unwrap_or_else(|| panic!("not APP=URL: {app}"));
            (id.to_owned(), url.to_owned())
        })
        .collect();
    let sidecar =
        dapr::start(dapr::Sidecar { app_id: app_id.clone(), apps, token: None, redis_url: redis_url.clone() }).await;
    println!("listening on {}", sidecar.url);
    std::future::pending::<()>().await;
}

//! A real ClickHouse engine on loopback for the BudMetrics tests: `scripts/clickhouse_http.py` (ClickHouse's HTTP
//! interface in front of the engine chdb embeds), installed into a cached virtualenv by `scripts/test.sh`.
//!
//! `BUD_OBSERVE_TEST_CLICKHOUSE_URL` names the server `scripts/test.sh` started; without it, the tests start one.
//! `BUD_OBSERVE_TEST_CHDB_PYTHON` names the virtualenv's Python (default `~/.cache/budobserve/chdb/bin/python`).

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A ClickHouse front process this test binary started; killed when dropped, and when the test binary exits
/// (it watches its standard input).
#[derive(Debug)]
pub struct ClickHouse {
    child: Option<Child>,
    port: u16,
    data: PathBuf,
    credentials: Option<(String, String)>,
}

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("BUD_OBSERVE_TEST_CHDB_PYTHON") {
        return python.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    let python = PathBuf::from(home).join(".cache/budobserve/chdb/bin/python");
    assert!(
        python.exists(),
        "no ClickHouse engine: run ./scripts/test.sh (it installs chdb-core into ~/.cache/budobserve/chdb), or set \
         BUD_OBSERVE_TEST_CHDB_PYTHON"
    );
    python
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ClickHouse {
    /// Starts a server on `port` (0: any) with a fresh data directory.
    pub fn start(port: u16, credentials: Option<(&str, &str)>) -> ClickHouse {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let data = std::env::temp_dir().join(format!(
            "budobserve-clickhouse-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data);
        let mut server = ClickHouse {
            child: None,
            port,
            data,
            credentials: credentials.map(|(user, password)| (user.to_owned(), password.to_owned())),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/clickhouse_http.py");
        let mut command = Command::new(python());
        command.arg(script).arg("--data").arg(&self.data).arg("--port").arg(self.port.to_string());
        command.arg("--exit-with-stdin");
        if let Some((user, password)) = &self.credentials {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().rsplit(':').next().and_then(|port| port.parse().ok());
        self.port = port.unwrap_or_else(|| panic!("the ClickHouse front did not start: {line:?}"));
        self.child = Some(child);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (its data stays); [`restart`](Self::restart) brings it back on the same port.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// The server of the round-trip tests: `scripts/test.sh`'s, or one this test binary starts.
pub fn shared_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    static STARTED: OnceLock<ClickHouse> = OnceLock::new();
    SHARED
        .get_or_init(|| match std::env::var("BUD_OBSERVE_TEST_CLICKHOUSE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => STARTED.get_or_init(|| ClickHouse::start(0, None)).url(),
        })
        .clone()
}

/// Runs `sql` (in the body, as `POST /`) and returns what the server answered; panics with its message on an
/// error.
pub fn query(url: &str, sql: &str) -> String {
    let response = reqwest::blocking::Client::new().post(format!("{url}/")).body(sql.to_owned()).send().unwrap();
    let status = response.status();
    let text = response.text().unwrap();
    assert!(status.is_success(), "{sql}\n→ {status}: {text}");
    text
}

/// The rows of a `SELECT`, as JSON objects (`FORMAT JSONEachRow` is appended).
pub fn rows(url: &str, sql: &str) -> Vec<serde_json::Value> {
    query(url, &format!("{sql} FORMAT JSONEachRow")).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

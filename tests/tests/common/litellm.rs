//! The LiteLLM proxy of the LLM tests: the one `scripts/test.sh` starts (its models answer with LiteLLM's mock
//! responses); without it (`cargo test` alone), one this test binary starts with `scripts/litellm.sh`, stopped when
//! the binary exits.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The proxy's URL (the OpenAI API's base: `POST {url}/chat/completions`) and key.
pub fn proxy() -> (String, String) {
    static PROXY: OnceLock<(String, String)> = OnceLock::new();
    PROXY
        .get_or_init(|| match std::env::var("BUD_OBSERVE_TEST_LITELLM_URL") {
            Ok(url) if !url.is_empty() => (url, std::env::var("BUD_OBSERVE_TEST_LITELLM_KEY").unwrap_or_default()),
            _ => start(),
        })
        .clone()
}

/// Starts a proxy through `scripts/litellm.sh` in a shell that stops it when its standard input closes (when this
/// test binary exits); returns its URL and key.
fn start() -> (String, String) {
    // Kept for the life of the test binary: its exit closes the shell's standard input.
    static SHELL: Mutex<Option<Child>> = Mutex::new(None);
    let script = concat!(
        "cleanup=(); trap 'for c in \"${cleanup[@]}\"; do eval \"$c\"; done' EXIT; ",
        "source scripts/litellm.sh; start_litellm; wait_for_litellm >&2; ",
        "echo \"$litellm_url $litellm_key\"; read -r _"
    );
    let mut child = Command::new("bash")
        .args(["-c", script])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    *SHELL.lock().unwrap() = Some(child);
    let (url, key) = line.trim().split_once(' ').unwrap_or_else(|| panic!("the LiteLLM proxy did not start: {line:?}"));
    (url.to_owned(), key.to_owned())
}

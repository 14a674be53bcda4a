//! An instrumented LLM call to an OpenAI-compatible endpoint — OpenAI, budgateway, a LiteLLM proxy — plain and
//! streamed, printed on the console with tokens, finish reasons, time to first chunk and cost.
//!
//! ```sh
//! OPENAI_BASE_URL=http://budgateway:8000/v1 OPENAI_API_KEY=… LLM_MODEL=gpt-4o-mini cargo run --example llm
//! ```
//!
//! Needs an OpenAI-compatible server over plain HTTP (a gateway such as budgateway or a LiteLLM proxy):
//! `OPENAI_BASE_URL` (default `http://127.0.0.1:4000/v1`, LiteLLM's default port), `OPENAI_API_KEY`, and `LLM_MODEL`
//! (default `gpt-4o-mini`). `LLM_PROVIDER` names the gateway in `gen_ai.provider.name`.

use budobserve::bud_span;
use budobserve::exporters::ConsoleOptions;
use budobserve::integrations::llm::LlmMiddleware;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = budobserve::configure()
        .service_name("llm-example")
        .console_options(ConsoleOptions::new().verbose(true))
        .install()?;
    let base = std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:4000/v1".to_owned());
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_default();
    let model = std::env::var("LLM_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let mut middleware = LlmMiddleware::new();
    if let Ok(provider) = std::env::var("LLM_PROVIDER") {
        middleware = middleware.provider(provider);
    }
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(middleware).build();

    let _span = bud_span!("ask {model}").entered();
    let messages = json!([{"role": "user", "content": "Say hello in five words."}]);
    let answer: serde_json::Value = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": model, "messages": messages}))
        .send()
        .await?
        .json()
        .await?;
    let mut out = format!("answer: {}\n", answer["choices"][0]["message"]["content"]);
    let mut stream = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": model, "messages": messages, "stream": true, "stream_options": {"include_usage": true}}))
        .send()
        .await?;
    let mut bytes = 0;
    while let Some(chunk) = stream.chunk().await? {
        bytes += chunk.len();
    }
    out.push_str(&format!("streamed {bytes} bytes\n"));
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}

//! Instrumented LLM calls to an OpenAI-compatible endpoint — OpenAI, budgateway, a LiteLLM proxy — with the
//! `async-openai` client, whole and streamed, printed on the console with tokens, finish reasons, time to first
//! chunk and cost.
//!
//! ```sh
//! OPENAI_BASE_URL=http://budgateway:8000/v1 OPENAI_API_KEY=… LLM_MODEL=gpt-4o-mini cargo run --example llm
//! ```
//!
//! Needs an OpenAI-compatible server over plain HTTP (a gateway such as budgateway or a LiteLLM proxy):
//! `OPENAI_BASE_URL` (default `http://127.0.0.1:4000/v1`, LiteLLM's default port), `OPENAI_API_KEY`, and `LLM_MODEL`
//! (default `gpt-4o-mini`). `LLM_PROVIDER` names the gateway in `gen_ai.provider.name`. Any other reqwest-based
//! client gets the same spans from `budobserve::integrations::llm::LlmMiddleware`.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions, CreateChatCompletionRequestArgs,
};
use budobserve::bud_span;
use budobserve::exporters::ConsoleOptions;
use budobserve::integrations::llm::LlmMiddleware;
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = budobserve::configure()
        .service_name("llm-example")
        .console_options(ConsoleOptions::new().verbose(true))
        .install()?;
    let base = std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:4000/v1".to_owned());
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_default();
    let model = std::env::var("LLM_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let mut llm = LlmMiddleware::new().record_content(true);
    if let Ok(provider) = std::env::var("LLM_PROVIDER") {
        llm = llm.provider(provider);
    }
    // The one instrumentation step; the client is used as always from here on.
    let client = budobserve::integrations::openai::instrument_with(
        Client::with_config(OpenAIConfig::new().with_api_base(base).with_api_key(key)),
        llm,
        reqwest::Client::new(),
    );

    let _span = bud_span!("ask {model}").entered();
    let question = ChatCompletionRequestUserMessageArgs::default().content("Say hello in five words.").build()?;
    let request = CreateChatCompletionRequestArgs::default().model(&model).messages([question.into()]).build()?;
    let answer = client.chat().create(request.clone()).await?;
    let mut out = format!("answer: {}\n", answer.choices[0].message.content.as_deref().unwrap_or_default());

    let mut streamed = request;
    streamed.stream_options =
        Some(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None });
    let mut stream = client.chat().create_stream(streamed).await?;
    out.push_str("streamed: ");
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            out.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    out.push('\n');
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}

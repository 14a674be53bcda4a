//! LLM spans for OpenAI-style and Anthropic APIs, as `reqwest-middleware` middleware (feature `llm`).
//!
//! [`LlmMiddleware`] recognises the requests of any reqwest-based client to OpenAI-style endpoints
//! (`…/chat/completions`, `…/completions`, `…/embeddings`, `…/responses`) — OpenAI itself and every
//! OpenAI-compatible gateway (budgateway, a LiteLLM proxy) — and Anthropic's `…/v1/messages`, and writes one LLM
//! span per call; other requests pass through untouched.
//!
//! ```
//! use budobserve::integrations::llm::LlmMiddleware;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(LlmMiddleware::new().provider("budgateway"))
//!     .build();
//! # drop(client);
//! ```
//!
//! Each span is named like Logfire's (`Chat Completion with gpt-4o`, `Embedding Creation with …`,
//! `Responses API with …`, `Message with claude-…`), tagged `LLM`, and records per the OpenTelemetry gen_ai conventions:
//! `gen_ai.operation.name`, `gen_ai.provider.name` (and `gen_ai.system`), `gen_ai.request.model`, `.temperature`,
//! `.max_tokens`, `.top_p`, `.stop_sequences`, `.seed`, `.stream`, `gen_ai.response.model`, `.id`,
//! `.finish_reasons`, `gen_ai.usage.input_tokens`, `.output_tokens`, `.total_tokens`,
//! `.cache_read.input_tokens`, and for streams `gen_ai.response.time_to_first_chunk` (seconds). Messages are
//! recorded as `gen_ai.input.messages` / `gen_ai.output.messages`: their shape (roles, finish reasons) by default,
//! their content only with [`record_content`](LlmMiddleware::record_content) — and through scrubbing either way.
//! An API error (4xx/5xx, rate limits included) is an error span with the provider's error type and message as
//! an exception. The call's trace context and baggage (the bud context) are injected into the request, so a gateway
//! continues the caller's trace.
//!
//! **Streams** (`text/event-stream`) reach the caller chunk by chunk as before — nothing is buffered — while the
//! span accumulates content, finish reasons and usage (OpenAI's `stream_options.include_usage`, Anthropic's
//! `message_start`/`message_delta`); it ends when the stream ends, and a stream that ends before the provider's
//! end marker (`[DONE]`, `message_stop`, or at least a finish reason), fails, or is dropped by the caller ends it with
//! what was seen, `budobserve_llm_stream_incomplete = true` and level warn.
//!
//! **Cost**: `gen_ai.usage.cost` (US dollars) from the price data of `genai-prices` (Pydantic's, the same Logfire
//! uses), or from a [price](LlmMiddleware::price) configured for a model, and the same figure as
//! `gen_ai.inference_cost`, the key BudMetrics' inference views read; a model neither knows gets no cost
//! attribute — never a made-up price. `gen_ai.client.operation.duration` (seconds) and `gen_ai.client.token.usage`
//! (tokens, by `gen_ai.token.type`) are recorded per call.
//!
//! **The Responses API** (`…/responses`) is recognised apart: `Responses API with {model}`, its `instructions` and
//! `input` items as input messages, the text of its output messages, its usage, its `status` (or why it is
//! `incomplete`) as the finish reason, and its streamed events (`response.output_text.delta`…
//! `response.completed`).
//!
//! Spans are written under the instrumentation scope `budobserve.llm`. The `async-openai` client gets the same
//! spans from [`integrations::openai`](self::openai) (feature `openai`).

mod api;
mod call;
mod cost;
mod middleware;
#[cfg(feature = "openai")]
pub mod openai;
mod request;
mod response;
mod seen;
mod stream;

pub use self::cost::ModelPrice;
pub use self::middleware::{LlmMiddleware, SCOPE};

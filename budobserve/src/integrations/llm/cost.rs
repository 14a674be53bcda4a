//! The cost of a call in US dollars.

use super::seen::Seen;

/// Prices in US dollars per million tokens, for a model the bundled price data does not know or to override it.
///
/// ```
/// use budobserve::integrations::llm::{LlmMiddleware, ModelPrice};
///
/// // A model served by budgateway that the bundled price data does not know: $0.20 in, $0.60 out per million.
/// let price = ModelPrice { input_per_million: 0.2, output_per_million: 0.6, cached_input_per_million: Some(0.05) };
/// let llm = LlmMiddleware::new().price("bud-qwen-2.5-7b", price);
/// # drop(llm);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelPrice {
    /// Per million input tokens (not read from cache).
    pub input_per_million: f64,
    /// Per million output tokens.
    pub output_per_million: f64,
    /// Per million input tokens read from cache (default: the input price).
    pub cached_input_per_million: Option<f64>,
}

/// The cost of the tokens `seen`: at the `configured` price, else from the bundled price data of `genai-prices`;
/// none for a model neither knows (never a made-up price) or without usage.
pub(super) fn usd(configured: Option<&ModelPrice>, provider: &str, model: &str, seen: &Seen) -> Option<f64> {
    let input = seen.input_tokens? as f64;
    let output = seen.output_tokens.unwrap_or(0) as f64;
    let cached = seen.cached_tokens.unwrap_or(0) as f64;
    if let Some(price) = configured {
        let cached_price = price.cached_input_per_million.unwrap_or(price.input_per_million);
        return Some(
            ((input - cached) * price.input_per_million + cached * cached_price + output * price.output_per_million)
                / 1e6,
        );
    }
    let usage = genai_prices::Usage::from([
        (genai_prices::UsageKey::INPUT_TOKENS, input),
        (genai_prices::UsageKey::OUTPUT_TOKENS, output),
        (genai_prices::UsageKey::CACHE_READ_TOKENS, cached),
    ]);
    let mut request = genai_prices::PriceRequest::new(model, &usage);
    if matches!(provider, "openai" | "anthropic") {
        request = request.with_provider_id(provider);
    }
    genai_prices::calculate(&request).ok().map(|price| price.total_price)
}

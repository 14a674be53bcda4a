//! What a response, whole or streamed, reported: usage, finish reasons, content, the time to its first chunk.

use std::time::Instant;

use serde_json::Value as Json;

/// What a response (whole or streamed) reported.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) id: Option<String>,
    pub(super) model: Option<String>,
    pub(super) finish_reasons: Vec<String>,
    pub(super) input_tokens: Option<i64>,
    pub(super) output_tokens: Option<i64>,
    pub(super) total_tokens: Option<i64>,
    pub(super) cached_tokens: Option<i64>,
    pub(super) content: String,
    pub(super) time_to_first_chunk: Option<f64>,
    /// The provider's end marker arrived (`[DONE]`, `message_stop`), or the stream ended after a finish reason.
    pub(super) complete: bool,
}

impl Seen {
    /// Usage of OpenAI (`prompt_tokens`…) or Anthropic (`input_tokens`…) shape. Input tokens count every input
    /// token, cached ones included (Anthropic reports cache reads and writes apart: they are added).
    fn usage(&mut self, usage: &Json, anthropic: bool) {
        let int = |key: &str| usage.get(key).and_then(Json::as_i64);
        if let Some(n) = int("prompt_tokens").or_else(|| int("input_tokens")) {
            let cache = if anthropic {
                int("cache_read_input_tokens").unwrap_or(0) + int("cache_creation_input_tokens").unwrap_or(0)
            } else {
                0
            };
            self.input_tokens = Some(n + cache);
        }
        if let Some(n) = int("completion_tokens").or_else(|| int("output_tokens")) {
            self.output_tokens = Some(n);
        }
        if let Some(n) = int("total_tokens") {
            self.total_tokens = Some(n);
        }
        let cached = usage
            .get("prompt_tokens_details")
            .or_else(|| usage.get("input_tokens_details"))
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Json::as_i64)
            .or_else(|| int("cache_read_input_tokens"));
        if let Some(n) = cached {
            self.cached_tokens = Some(n);
        }
    }

    fn finish_reason(&mut self, reason: &Json) {
        if let Some(reason) = reason.as_str()
            && !self.finish_reasons.iter().any(|r| r == reason)
        {
            self.finish_reasons.push(reason.to_owned());
        }
    }

    /// A whole response body.
    pub(super) fn response(&mut self, json: &Json, anthropic: bool) {
        self.id = json.get("id").and_then(Json::as_str).map(str::to_owned);
        self.model = json.get("model").and_then(Json::as_str).map(str::to_owned);
        if let Some(usage) = json.get("usage") {
            self.usage(usage, anthropic);
        }
        if let Some(Json::Array(choices)) = json.get("choices") {
            for choice in choices {
                self.finish_reason(choice.get("finish_reason").unwrap_or(&Json::Null));
                if let Some(text) = choice
                    .pointer("/message/content")
                    .and_then(Json::as_str)
                    .or_else(|| choice.get("text").and_then(Json::as_str))
                {
                    self.content.push_str(text);
                }
            }
        }
        // Anthropic.
        self.finish_reason(json.get("stop_reason").unwrap_or(&Json::Null));
        if let Some(Json::Array(blocks)) = json.get("content") {
            for block in blocks {
                if let Some(text) = block.get("text").and_then(Json::as_str) {
                    self.content.push_str(text);
                }
            }
        }
        // The Responses API: the text of its output messages.
        self.response_status(json);
        if let Some(Json::Array(items)) = json.get("output") {
            for item in items.iter().filter(|item| item.get("type").and_then(Json::as_str) == Some("message")) {
                if let Some(Json::Array(parts)) = item.get("content") {
                    for part in parts {
                        if let Some(text) = part.get("text").and_then(Json::as_str) {
                            self.content.push_str(text);
                        }
                    }
                }
            }
        }
    }

    /// The Responses API's status as the finish reason: `completed`, `failed`, or why it is `incomplete`
    /// (`max_output_tokens`, `content_filter`).
    fn response_status(&mut self, json: &Json) {
        match json.get("status").and_then(Json::as_str) {
            Some("incomplete") => {
                let reason = json.pointer("/incomplete_details/reason").and_then(Json::as_str).unwrap_or("incomplete");
                self.finish_reason(&Json::String(reason.to_owned()));
            }
            Some(status @ ("completed" | "failed" | "cancelled")) => {
                self.finish_reason(&Json::String(status.to_owned()));
            }
            _ => {}
        }
    }

    /// One event of a stream.
    pub(super) fn event(&mut self, json: &Json, started: Instant) {
        let mut content = false;
        match json.get("type").and_then(Json::as_str) {
            // Anthropic's events.
            Some("message_start") => {
                if let Some(message) = json.get("message") {
                    self.id = message.get("id").and_then(Json::as_str).map(str::to_owned);
                    self.model = message.get("model").and_then(Json::as_str).map(str::to_owned);
                    if let Some(usage) = message.get("usage") {
                        self.usage(usage, true);
                    }
                }
            }
            Some("content_block_delta") => {
                if let Some(text) = json.pointer("/delta/text").and_then(Json::as_str) {
                    self.content.push_str(text);
                    content = true;
                }
            }
            Some("message_delta") => {
                self.finish_reason(json.pointer("/delta/stop_reason").unwrap_or(&Json::Null));
                if let Some(usage) = json.get("usage") {
                    self.usage(usage, true);
                }
            }
            Some("message_stop") => self.complete = true,
            // The Responses API's events.
            Some("response.created" | "response.in_progress") => {
                if let Some(response) = json.get("response") {
                    self.id = response.get("id").and_then(Json::as_str).map(str::to_owned);
                    self.model = response.get("model").and_then(Json::as_str).map(str::to_owned);
                }
            }
            Some("response.output_text.delta" | "response.refusal.delta") => {
                if let Some(text) = json.get("delta").and_then(Json::as_str) {
                    self.content.push_str(text);
                    content = !text.is_empty();
                }
            }
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                if let Some(response) = json.get("response") {
                    // The text arrived in deltas: the final response adds its ids, usage and status.
                    self.id = response.get("id").and_then(Json::as_str).map(str::to_owned).or(self.id.take());
                    self.model = response.get("model").and_then(Json::as_str).map(str::to_owned).or(self.model.take());
                    if let Some(usage) = response.get("usage").filter(|u| !u.is_null()) {
                        self.usage(usage, false);
                    }
                    self.response_status(response);
                }
                self.complete = true;
            }
            Some(kind) if kind.starts_with("response.") => {}
            _ => {
                // OpenAI's chunks.
                if self.id.is_none() {
                    self.id = json.get("id").and_then(Json::as_str).map(str::to_owned);
                }
                if let Some(model) = json.get("model").and_then(Json::as_str) {
                    self.model = Some(model.to_owned());
                }
                if let Some(Json::Array(choices)) = json.get("choices") {
                    for choice in choices {
                        if let Some(text) = choice
                            .pointer("/delta/content")
                            .and_then(Json::as_str)
                            .or_else(|| choice.get("text").and_then(Json::as_str))
                        {
                            self.content.push_str(text);
                            content = content || !text.is_empty();
                        }
                        self.finish_reason(choice.get("finish_reason").unwrap_or(&Json::Null));
                    }
                }
                if let Some(usage) = json.get("usage").filter(|u| !u.is_null()) {
                    self.usage(usage, false);
                }
            }
        }
        if content && self.time_to_first_chunk.is_none() {
            self.time_to_first_chunk = Some(started.elapsed().as_secs_f64());
        }
    }
}

//! Which API a request calls, recognised by its path.

/// What an LLM call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Api {
    /// OpenAI-style chat completions.
    Chat,
    /// OpenAI's Responses API.
    Responses,
    /// OpenAI-style text completions.
    Completion,
    /// OpenAI-style embeddings.
    Embeddings,
    /// Anthropic messages.
    Messages,
}

impl Api {
    pub(super) fn of_path(path: &str) -> Option<Api> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Api::Chat)
        } else if path.ends_with("/responses") {
            Some(Api::Responses)
        } else if path.ends_with("/completions") {
            Some(Api::Completion)
        } else if path.ends_with("/embeddings") {
            Some(Api::Embeddings)
        } else if path.ends_with("/v1/messages") {
            Some(Api::Messages)
        } else {
            None
        }
    }

    pub(super) fn operation(self) -> &'static str {
        match self {
            Api::Chat | Api::Responses | Api::Messages => "chat",
            Api::Completion => "text_completion",
            Api::Embeddings => "embeddings",
        }
    }

    pub(super) fn title(self) -> &'static str {
        match self {
            Api::Chat => "Chat Completion",
            Api::Responses => "Responses API",
            Api::Completion => "Completion",
            Api::Embeddings => "Embedding Creation",
            Api::Messages => "Message",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_recognised_by_path() {
        assert_eq!(Api::of_path("/v1/chat/completions"), Some(Api::Chat));
        assert_eq!(Api::of_path("/openai/deployments/x/chat/completions/"), Some(Api::Chat));
        assert_eq!(Api::of_path("/v1/completions"), Some(Api::Completion));
        assert_eq!(Api::of_path("/v1/embeddings"), Some(Api::Embeddings));
        assert_eq!(Api::of_path("/v1/responses"), Some(Api::Responses));
        assert_eq!(Api::of_path("/v1/messages"), Some(Api::Messages));
        assert_eq!(Api::of_path("/v1/models"), None);
    }
}

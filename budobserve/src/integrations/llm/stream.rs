//! A streamed answer, recorded as the caller reads it.

use std::time::Instant;

use opentelemetry::trace::Status;
use serde_json::Value as Json;

use super::call::Call;
use super::seen::Seen;
use crate::integrations::http::BodyObserver;

/// A stream being read: the events parsed so far; the span ends with the stream, or when it is dropped.
pub(super) struct StreamState {
    pub(super) call: Call,
    pub(super) seen: Seen,
    /// The current, unfinished line.
    pub(super) line: Vec<u8>,
    pub(super) started: Instant,
}

impl StreamState {
    /// Feeds bytes; complete `data:` lines are parsed as events.
    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            } else {
                self.line.push(byte);
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else { return };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            self.seen.complete = true;
            return;
        }
        if let Ok(json) = serde_json::from_slice::<Json>(data) {
            self.seen.event(&json, self.started);
        }
    }

    fn finish(&mut self) {
        let seen = std::mem::take(&mut self.seen);
        self.call.end(seen, true);
    }
}

impl Drop for StreamState {
    fn drop(&mut self) {
        // Dropped before the end: what was seen is recorded, the span marked incomplete (unless the end arrived).
        self.finish();
    }
}

impl BodyObserver for StreamState {
    fn data(&mut self, bytes: &[u8]) {
        self.feed(bytes);
    }

    fn end(&mut self) {
        let rest = std::mem::take(&mut self.line);
        self.line_done(&rest);
        // Ended by the server: complete if the provider's end marker or a finish reason came.
        self.seen.complete = self.seen.complete || !self.seen.finish_reasons.is_empty();
        self.finish();
    }

    fn failed(&mut self, error: &reqwest::Error) {
        if let Some(span) = self.call.timed.span() {
            span.record_error_parts("reqwest::Error", error);
            span.set_status(Status::error(error.to_string()));
        }
        self.finish();
    }
}

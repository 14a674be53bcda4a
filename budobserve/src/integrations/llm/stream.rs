//! A streamed answer, recorded as the caller reads it.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http_body::{Frame, SizeHint};
use opentelemetry::trace::Status;
use serde_json::Value as Json;

use super::response::{Call, Seen};

pin_project_lite::pin_project! {
    pub(super) struct StreamBody {
        #[pin]
        pub(super) inner: reqwest::Body,
        pub(super) state: StreamState,
    }
}

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

impl http_body::Body for StreamBody {
    type Data = bytes::Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, reqwest::Error>>> {
        let this = self.project();
        let poll = this.inner.poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.state.feed(data);
                }
            }
            Poll::Ready(None) => {
                let rest = std::mem::take(&mut this.state.line);
                this.state.line_done(&rest);
                // Ended by the server: complete if the provider's end marker or a finish reason came.
                let seen = &mut this.state.seen;
                seen.complete = seen.complete || !seen.finish_reasons.is_empty();
                this.state.finish();
            }
            Poll::Ready(Some(Err(err))) => {
                if let Some(span) = this.state.call.span.as_mut() {
                    span.record_error_parts("reqwest::Error", err);
                    span.set_status(Status::error(err.to_string()));
                }
                this.state.finish();
            }
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

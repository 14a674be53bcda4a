//! Text helpers shared by exporters and integrations.

use std::borrow::Cow;
use std::fmt;

/// The most characters a value keeps inside a message (Logfire's rule): a longer one keeps its first and last
/// [`MESSAGE_VALUE_HALF`] characters around `...`. The attribute itself stays whole.
pub(crate) const MESSAGE_VALUE_LIMIT: usize = 128;
/// The characters kept at each end of a value cut inside a message.
pub(crate) const MESSAGE_VALUE_HALF: usize = (MESSAGE_VALUE_LIMIT - MESSAGE_VALUE_CUT.len()) / 2;
/// What stands for the middle of a value cut inside a message.
pub(crate) const MESSAGE_VALUE_CUT: &str = "...";

/// Writes one value of a message into `out`, bounded by [`MESSAGE_VALUE_LIMIT`] characters: the first
/// [`MESSAGE_VALUE_HALF`] go through at once, the rest waits in a buffer (only for values that long) until
/// [`finish`](Self::finish) writes it whole, or its last characters after `...`. The one rule of every message:
/// rendered on the export side, on the console, or formatted by the macros on the caller's thread.
pub(crate) struct MessageValue<'a, W: fmt::Write + ?Sized> {
    out: &'a mut W,
    head: usize,
    rest: String,
}

impl<'a, W: fmt::Write + ?Sized> MessageValue<'a, W> {
    pub(crate) fn new(out: &'a mut W) -> Self {
        MessageValue { out, head: 0, rest: String::new() }
    }

    /// Writes what is left of the value.
    pub(crate) fn finish(self) -> fmt::Result {
        if self.rest.is_empty() {
            return Ok(());
        }
        let count = self.rest.chars().count();
        if count <= MESSAGE_VALUE_LIMIT - MESSAGE_VALUE_HALF {
            return self.out.write_str(&self.rest);
        }
        let tail_start = self.rest.char_indices().nth(count - MESSAGE_VALUE_HALF).map_or(0, |(i, _)| i);
        self.out.write_str(MESSAGE_VALUE_CUT)?;
        self.out.write_str(&self.rest[tail_start..])
    }
}

impl<W: fmt::Write + ?Sized> fmt::Write for MessageValue<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.head < MESSAGE_VALUE_HALF && self.rest.is_empty() {
            let room = MESSAGE_VALUE_HALF - self.head;
            // No more bytes than room: no more characters either.
            if text.len() <= room {
                self.head += if text.is_ascii() { text.len() } else { text.chars().count() };
                return self.out.write_str(text);
            }
            // The byte where the head's room ends, or the whole text when it fits.
            let split = match text.char_indices().nth(room) {
                Some((index, _)) => index,
                None => {
                    self.head += text.chars().count();
                    return self.out.write_str(text);
                }
            };
            self.head = MESSAGE_VALUE_HALF;
            self.out.write_str(&text[..split])?;
            self.rest.push_str(&text[split..]);
            return Ok(());
        }
        self.rest.push_str(text);
        Ok(())
    }
}

/// `value` shown as its `Display` text bounded for a message (see [`MessageValue`]).
#[cfg(test)]
fn write_message_value(out: &mut (impl fmt::Write + ?Sized), value: &dyn fmt::Display) -> fmt::Result {
    let mut bounded = MessageValue::new(out);
    fmt::write(&mut bounded, format_args!("{value}"))?;
    bounded.finish()
}

/// `text` cut to at most `max` bytes on a character boundary, `…` marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(value: &str) -> String {
        let mut out = String::new();
        write_message_value(&mut out, &value).unwrap();
        out
    }

    #[test]
    fn message_values_keep_their_ends() {
        assert_eq!(shown("short"), "short");
        let exact = "x".repeat(MESSAGE_VALUE_LIMIT);
        assert_eq!(shown(&exact), exact);
        let long = format!("{}{}{}", "a".repeat(100), "b".repeat(99_800), "c".repeat(100));
        let cut = shown(&long);
        assert_eq!(cut, format!("{}...{}", "a".repeat(62), "c".repeat(62)));
        assert_eq!(cut.chars().count(), 127);
        // Characters, not bytes; written in pieces.
        let wide = "é".repeat(200);
        let mut out = String::new();
        let mut bounded = MessageValue::new(&mut out);
        for piece in ["é".repeat(10), "é".repeat(100), "é".repeat(90)] {
            fmt::Write::write_str(&mut bounded, &piece).unwrap();
        }
        bounded.finish().unwrap();
        assert_eq!(out, format!("{}...{}", "é".repeat(62), "é".repeat(62)));
        assert_eq!(shown(&wide[..130 * 2]), format!("{}...{}", "é".repeat(62), "é".repeat(62)));
        assert_eq!(shown(&"é".repeat(128)), "é".repeat(128));
    }

    #[test]
    #[cfg(any(feature = "clickhouse", feature = "redis", feature = "sqlx"))]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("SELECT 1", 20), "SELECT 1");
        assert_eq!(truncate("SELECT 1", 6), "SELECT…");
        assert_eq!(truncate("héllo", 2), "h…");
    }
}

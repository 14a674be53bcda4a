//! Text helpers shared by exporters and integrations.

use std::borrow::Cow;

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

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("SELECT 1", 20), "SELECT 1");
        assert_eq!(truncate("SELECT 1", 6), "SELECT…");
        assert_eq!(truncate("héllo", 2), "h…");
    }
}

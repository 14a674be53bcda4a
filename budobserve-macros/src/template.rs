//! The one template parser, used by the log and span macros and by `#[instrument]`.
//!
//! A template is a string literal with placeholders: `{name}`, a field path `{order.id}`, `{name=}` (rendered as
//! `name=<value>`), a format spec after `:` (`{pct:.1}`, `{x:?}`, `{id:>8}`), and `{{`/`}}` for literal braces.
//! Everything structural is checked here, so a bad template is one compile error pointing into the literal.

use std::ops::Range;

use proc_macro2::Span;
use syn::LitStr;

/// A parsed template.
#[derive(Debug)]
pub(crate) struct Template {
    pub(crate) holes: Vec<Hole>,
    /// The template as a `format!` string, each placeholder replaced by `{__bud_hN:spec}` (N = index of the hole).
    pub(crate) format_string: String,
    /// The same without the specs (`{__bud_hN}`): the message's format string, each value formatted with its spec
    /// apart and bounded (see `capture`).
    pub(crate) message_format: String,
}

/// One placeholder.
#[derive(Debug)]
pub(crate) struct Hole {
    /// `order.id` → `["order", "id"]`.
    pub(crate) path: Vec<String>,
    /// `{name=}`.
    pub(crate) echo: bool,
    pub(crate) spec: String,
    pub(crate) trait_kind: FmtTrait,
    /// Where the placeholder is, for errors (the literal's span where the compiler cannot point inside it).
    pub(crate) span: Span,
}

impl Hole {
    /// The attribute key: the path joined with dots.
    pub(crate) fn key(&self) -> String {
        self.path.join(".")
    }

    pub(crate) fn root(&self) -> &str {
        &self.path[0]
    }
}

/// Which formatting trait a placeholder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FmtTrait {
    /// No type in the spec.
    Display,
    /// `?`, `x?`, `X?`: the attribute records the `Debug` text too.
    Debug,
    /// `x`, `X`, `o`, `b`, `e`, `E`: the value itself is formatted; the attribute is its native form.
    Other,
}

/// Parses and checks `literal`.
pub(crate) fn parse(literal: &LitStr) -> syn::Result<Template> {
    let text = literal.value();
    let span_of = |range: Range<usize>| subspan(literal, range);
    let mut holes = Vec::new();
    let mut format_string = String::with_capacity(text.len() + 8);
    let mut message_format = String::with_capacity(text.len() + 8);
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                i += 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                i += 2;
            }
            b'}' => {
                return Err(syn::Error::new(
                    span_of(i..i + 1),
                    "unmatched `}` in template: write `}}` for a literal brace",
                ));
            }
            b'{' => {
                format_string.push_str(&text[literal_start..i]);
                message_format.push_str(&text[literal_start..i]);
                let Some(close) = text[i + 1..].find(['}', '{']).map(|p| p + i + 1) else {
                    return Err(syn::Error::new(
                        span_of(i..text.len()),
                        format!(
                            "unclosed placeholder `{}` in template: close it with `}}`, or write `{{{{` for a literal brace",
                            &text[i..]
                        ),
                    ));
                };
                if bytes[close] == b'{' {
                    return Err(syn::Error::new(
                        span_of(i..close + 1),
                        format!(
                            "unclosed placeholder `{}` in template: close it with `}}`, or write `{{{{` for a literal brace",
                            &text[i..close]
                        ),
                    ));
                }
                let hole = parse_hole(&text[i + 1..close], span_of(i..close + 1))?;
                let index = holes.len();
                if hole.echo {
                    format_string.push_str(&hole.key());
                    format_string.push('=');
                    message_format.push_str(&hole.key());
                    message_format.push('=');
                }
                message_format.push_str(&format!("{{__bud_h{index}}}"));
                format_string.push_str(&format!("{{__bud_h{index}"));
                if !hole.spec.is_empty() {
                    format_string.push(':');
                    format_string.push_str(&hole.spec);
                }
                format_string.push('}');
                holes.push(hole);
                i = close + 1;
                literal_start = i;
            }
            _ => i += 1,
        }
    }
    format_string.push_str(&text[literal_start..]);
    message_format.push_str(&text[literal_start..]);
    Ok(Template { holes, format_string, message_format })
}

fn parse_hole(content: &str, span: Span) -> syn::Result<Hole> {
    let (name, spec) = match content.split_once(':') {
        Some((name, spec)) => (name, spec),
        None => (content, ""),
    };
    let (name, echo) = match name.strip_suffix('=') {
        Some(name) => (name, true),
        None => (name, false),
    };
    if name.is_empty() {
        return Err(syn::Error::new(
            span,
            format!(
                "empty placeholder `{{{content}}}`: name the value, e.g. `{{user_id}}` (positional arguments are not supported)"
            ),
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syn::Error::new(
            span,
            format!("positional placeholder `{{{content}}}` is not supported: name the value, e.g. `{{user_id}}`"),
        ));
    }
    let path: Vec<String> = name.split('.').map(str::to_owned).collect();
    let valid = path.iter().enumerate().all(|(i, segment)| {
        is_identifier(segment) || (i > 0 && !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()))
    });
    if !valid {
        return Err(syn::Error::new(
            span,
            format!(
                "invalid placeholder `{{{content}}}`: expected a variable name or a field path like `{{order.id}}`, \
                 optionally followed by `=` and a format spec like `:.2`"
            ),
        ));
    }
    let trait_kind = check_spec(spec).map_err(|message| {
        syn::Error::new(span, format!("invalid format spec `:{spec}` in placeholder `{{{content}}}`: {message}"))
    })?;
    Ok(Hole { path, echo, spec: spec.to_owned(), trait_kind, span })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    s != "_" && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Checks `[[fill]align][sign]['#']['0'][width]['.' precision][type]`, the std grammar without argument-supplied
/// width or precision.
fn check_spec(spec: &str) -> Result<FmtTrait, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let is_align = |c: char| matches!(c, '<' | '^' | '>');
    if chars.len() >= 2 && is_align(chars[1]) {
        i = 2;
    } else if !chars.is_empty() && is_align(chars[0]) {
        i = 1;
    }
    if matches!(chars.get(i), Some('+' | '-')) {
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    digits(&mut i);
    if matches!(chars.get(i), Some('$' | '*')) {
        return Err("width and precision taken from arguments (`$`, `*`) are not supported; write a number".into());
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        if !digits(&mut i) {
            return Err(if matches!(chars.get(i), Some('*')) || chars[i..].contains(&'$') {
                "width and precision taken from arguments (`$`, `*`) are not supported; write a number".into()
            } else {
                "expected digits after `.`, e.g. `:.2`".into()
            });
        }
    }
    if matches!(chars.get(i), Some('$')) {
        return Err("width and precision taken from arguments (`$`, `*`) are not supported; write a number".into());
    }
    let kind: String = chars[i..].iter().collect();
    if kind.contains('$') {
        return Err("width and precision taken from arguments (`$`, `*`) are not supported; write a number".into());
    }
    match kind.as_str() {
        "" => Ok(FmtTrait::Display),
        "?" | "x?" | "X?" => Ok(FmtTrait::Debug),
        "x" | "X" | "o" | "b" | "e" | "E" => Ok(FmtTrait::Other),
        other => Err(format!(
            "unknown format type `{other}`: expected nothing (Display), `?`, `x?`, `X?`, `x`, `X`, `o`, `b`, `e` or `E`"
        )),
    }
}

/// The span of `range` (byte offsets in the literal's value) inside the literal when the compiler can say it, else
/// the literal's. Offsets are shifted by the opening quote; escapes inside the literal are rare in templates, and a
/// wrong guess only moves the caret.
fn subspan(literal: &LitStr, range: Range<usize>) -> Span {
    let token = literal.token();
    let quote = token.to_string().find('"').map_or(1, |q| q + 1);
    token.subspan(range.start + quote..range.end + quote).unwrap_or_else(|| literal.span())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, Span::call_site())
    }

    fn error(s: &str) -> String {
        parse(&lit(s)).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn parses_holes_and_rewrites_the_format_string() {
        let template = parse(&lit("user {user_id} paid {order.total:.2} {{ok}} {ok=} {x:?}")).unwrap();
        let keys: Vec<String> = template.holes.iter().map(Hole::key).collect();
        assert_eq!(keys, ["user_id", "order.total", "ok", "x"]);
        assert_eq!(template.format_string, "user {__bud_h0} paid {__bud_h1:.2} {{ok}} ok={__bud_h2} {__bud_h3:?}");
        assert!(template.holes[2].echo);
        assert_eq!(template.holes[3].trait_kind, FmtTrait::Debug);
        assert_eq!(template.holes[1].trait_kind, FmtTrait::Display);
    }

    #[test]
    fn accepts_std_specs() {
        for spec in ["", ">8", "*^10", "+.3", "#x", "08.2", "<5?", "e", "#X?", "-", "0>4"] {
            assert!(check_spec(spec).is_ok(), "{spec}");
        }
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(error("a {b").starts_with("unclosed placeholder `{b`"));
        assert!(error("a } b").starts_with("unmatched `}`"));
        assert!(error("a {} b").starts_with("empty placeholder `{}`"));
        assert!(error("{0}").starts_with("positional placeholder `{0}`"));
        assert!(error("{a-b}").starts_with("invalid placeholder `{a-b}`"));
        assert!(error("{x:q}").contains("unknown format type `q`"));
        assert!(error("{x:w$}").contains("not supported"));
        assert!(error("{x:.*}").contains("not supported"));
        assert!(error("{x:.}").contains("expected digits after `.`"));
        assert!(error("{a{b}").starts_with("unclosed placeholder `{a`"));
    }
}

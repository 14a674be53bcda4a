//! Inbound W3C headers checked strictly before the SDK's propagators read them: every request and delivery a
//! service receives goes through [`Checked`] (see `baggage::extract`).
//!
//! - `traceparent` (W3C Trace Context, level 1): a version of two lowercase hex digits other than `ff`; for
//!   version `00` exactly `00-<32 hex>-<16 hex>-<2 hex>`, for a higher version the same four fields followed by
//!   nothing or by `-` and more (kept for that version, ignored here); lowercase hex only; neither id all zeros.
//!   Anything else is no parent at all: the request starts a fresh trace (and still gets its server span).
//! - `tracestate` is read only with a valid `traceparent`, and dropped whole when the SDK finds it invalid or it
//!   has more than 32 members.
//! - `baggage` (W3C Baggage): members are read in order while the header stays within 8,192 bytes and 64 members;
//!   a member whose key is not a token, or whose value is not percent-encoded UTF-8 of baggage characters, is
//!   skipped alone.

use opentelemetry::propagation::Extractor;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const BAGGAGE: &str = "baggage";

/// The most bytes of a `baggage` header read, and of members.
const MAX_BAGGAGE_BYTES: usize = 8192;
const MAX_BAGGAGE_MEMBERS: usize = 64;
/// The most members of a `tracestate`.
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// An extractor that hands on only what the W3C specifications accept of `inner`'s headers (see the module).
pub(crate) struct Checked<'a> {
    inner: &'a dyn Extractor,
    traceparent: Option<String>,
    baggage: Option<String>,
}

impl<'a> Checked<'a> {
    pub(crate) fn new(inner: &'a dyn Extractor) -> Checked<'a> {
        let traceparent = inner.get(TRACEPARENT).and_then(traceparent);
        let baggage = inner.get(BAGGAGE).map(baggage).filter(|b| !b.is_empty());
        Checked { inner, traceparent, baggage }
    }
}

impl Extractor for Checked<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key.eq_ignore_ascii_case(TRACEPARENT) {
            self.traceparent.as_deref()
        } else if key.eq_ignore_ascii_case(TRACESTATE) {
            self.traceparent.as_ref()?;
            self.inner.get(key).filter(|state| state.split(',').count() <= MAX_TRACESTATE_MEMBERS)
        } else if key.eq_ignore_ascii_case(BAGGAGE) {
            self.baggage.as_deref()
        } else {
            self.inner.get(key)
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.inner.keys()
    }
}

/// A valid `traceparent`, as version `00` (what the SDK reads); `None` for anything the specification rejects.
fn traceparent(value: &str) -> Option<String> {
    let value = value.trim_matches([' ', '\t']);
    let bytes = value.as_bytes();
    if bytes.len() < 55 {
        return None;
    }
    let version = &value[..2];
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    match (version, bytes.len()) {
        ("00", 55) => {}
        ("00", _) => return None,
        (_, 55) => {}
        (_, _) if bytes[55] == b'-' => {}
        _ => return None,
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let (trace_id, span_id, flags) = (&value[3..35], &value[36..52], &value[53..55]);
    if !is_lower_hex(trace_id) || !is_lower_hex(span_id) || !is_lower_hex(flags) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || span_id.bytes().all(|b| b == b'0') {
        return None;
    }
    Some(format!("00-{trace_id}-{span_id}-{flags}"))
}

fn is_lower_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The valid members of a `baggage` header, in order, within the specification's limits.
fn baggage(value: &str) -> String {
    let mut kept = String::new();
    let mut members = 0;
    for member in value.split(',') {
        if members == MAX_BAGGAGE_MEMBERS {
            break;
        }
        let member = member.trim_matches([' ', '\t']);
        if !valid_member(member) {
            continue;
        }
        let added = member.len() + usize::from(!kept.is_empty());
        if kept.len() + added > MAX_BAGGAGE_BYTES {
            break;
        }
        if !kept.is_empty() {
            kept.push(',');
        }
        kept.push_str(member);
        members += 1;
    }
    kept
}

/// `key=value` (then `;properties`): a token key, and a value of baggage octets or percent-encoded UTF-8.
fn valid_member(member: &str) -> bool {
    let pair = member.split(';').next().unwrap_or_default();
    let Some((key, value)) = pair.split_once('=') else { return false };
    let (key, value) = (key.trim_matches([' ', '\t']), value.trim_matches([' ', '\t']));
    if key.is_empty() || !key.bytes().all(is_token_char) {
        return false;
    }
    value.bytes().all(is_baggage_octet) && percent_decoded_utf8(value)
}

/// RFC 7230's `tchar`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// W3C Baggage's `baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Whether `value`'s `%XX` escapes are well formed and decode to UTF-8.
fn percent_decoded_utf8(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else { return false };
            decoded.push(byte);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn traceparents_follow_the_specification() {
        let valid = format!("00-{TRACE}-{SPAN}-01");
        assert_eq!(traceparent(&valid), Some(valid.clone()));
        assert_eq!(traceparent(&format!(" {valid}\t")), Some(valid.clone()));
        // A higher version: its four fields read, what follows ignored.
        assert_eq!(traceparent(&format!("cc-{TRACE}-{SPAN}-09-extra")), Some(format!("00-{TRACE}-{SPAN}-09")));
        assert_eq!(traceparent(&format!("01-{TRACE}-{SPAN}-01")), Some(valid.clone()));
        for bad in [
            "00-a-b-01".to_owned(),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("0G-{TRACE}-{SPAN}-01"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            format!("00-{TRACE}-{SPAN}-0X"),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00-{TRACE}-{SPAN}01-"),
            format!("00_{TRACE}_{SPAN}_01"),
            format!("cc-{TRACE}-{SPAN}-01extra"),
            format!("00-{}-{SPAN}-01", &TRACE[..31]),
            String::new(),
            "é".repeat(40),
        ] {
            assert_eq!(traceparent(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bad_baggage_members_are_skipped_alone() {
        assert_eq!(baggage("a=1, b = 2 ,c=%E2%9C%93;prop=x"), "a=1,b = 2,c=%E2%9C%93;prop=x");
        assert_eq!(baggage("=novalue,k v=1,ok=1,bad=%ZZ,utf=%C3%28,quote=\"x\",last=9"), "ok=1,last=9");
        assert_eq!(baggage(""), "");
        let many: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
        assert_eq!(baggage(&many.join(",")).split(',').count(), MAX_BAGGAGE_MEMBERS);
        let long = format!("a={},b=2,c=3", "x".repeat(MAX_BAGGAGE_BYTES - 6));
        assert_eq!(baggage(&long), format!("a={},b=2", "x".repeat(MAX_BAGGAGE_BYTES - 6)));
    }
}

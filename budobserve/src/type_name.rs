//! Error type names as people write them: `std::any::type_name` gives the defining path
//! (`std::io::error::Error`, `alloc::boxed::Box<dyn core::error::Error + core::marker::Send + core::marker::Sync>`);
//! `exception.type` carries the public one (`std::io::Error`, `Box<dyn Error + Send + Sync>`).

use std::borrow::Cow;

/// Paths of the standard library's prelude and markers, written without their path.
const SHORT: &[(&str, &str)] = &[
    ("alloc::boxed::Box", "Box"),
    ("alloc::vec::Vec", "Vec"),
    ("alloc::string::String", "String"),
    ("alloc::sync::Arc", "Arc"),
    ("alloc::rc::Rc", "Rc"),
    ("core::option::Option", "Option"),
    ("core::result::Result", "Result"),
    ("core::marker::Send", "Send"),
    ("core::marker::Sync", "Sync"),
    ("core::marker::Unpin", "Unpin"),
    ("core::error::Error", "Error"),
    ("std::error::Error", "Error"),
];

/// `name` with each path in it made public: the standard library's under `std::` (prelude items and markers bare),
/// and a private `error` module left out of the path of a type whose name ends in `Error`.
pub(crate) fn readable(name: &str) -> Cow<'_, str> {
    if !name.contains("::") {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    let mut path_start = None;
    for (i, c) in name.char_indices() {
        let in_path = c.is_alphanumeric() || c == '_' || c == ':';
        match (in_path, path_start) {
            (true, None) => path_start = Some(i),
            (false, Some(start)) => {
                out.push_str(&path(&name[start..i]));
                path_start = None;
                out.push(c);
            }
            (false, None) => out.push(c),
            (true, Some(_)) => {}
        }
    }
    if let Some(start) = path_start {
        out.push_str(&path(&name[start..]));
    }
    Cow::Owned(out)
}

fn path(path: &str) -> Cow<'_, str> {
    if let Some((_, short)) = SHORT.iter().find(|(full, _)| *full == path) {
        return Cow::Borrowed(short);
    }
    let segments: Vec<&str> = path.split("::").collect();
    let [first, middle @ .., last] = segments.as_slice() else { return Cow::Borrowed(path) };
    let std_crate = matches!(*first, "core" | "alloc" | "std");
    let private_error_module = last.ends_with("Error") && middle.last() == Some(&"error");
    if !std_crate && !private_error_module {
        return Cow::Borrowed(path);
    }
    let mut out = String::from(if std_crate { "std" } else { first });
    let kept = if private_error_module { &middle[..middle.len() - 1] } else { middle };
    for segment in kept.iter().chain([last]) {
        out.push_str("::");
        out.push_str(segment);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn type_names_are_written_by_their_public_paths() {
        let cases = [
            ("std::io::error::Error", "std::io::Error"),
            ("core::num::error::ParseIntError", "std::num::ParseIntError"),
            ("core::fmt::Error", "std::fmt::Error"),
            ("alloc::string::FromUtf8Error", "std::string::FromUtf8Error"),
            ("reqwest::error::Error", "reqwest::Error"),
            ("serde_json::error::Error", "serde_json::Error"),
            ("tokio::time::error::Elapsed", "tokio::time::error::Elapsed"),
            ("my_service::api::ApiError", "my_service::api::ApiError"),
            ("anyhow::Error", "anyhow::Error"),
            ("panic", "panic"),
            (
                "alloc::boxed::Box<dyn core::error::Error + core::marker::Send + core::marker::Sync>",
                "Box<dyn Error + Send + Sync>",
            ),
            ("alloc::boxed::Box<dyn core::error::Error>", "Box<dyn Error>"),
            (
                "my_service::Wrapper<alloc::vec::Vec<u8>, sqlx_core::error::Error>",
                "my_service::Wrapper<Vec<u8>, sqlx_core::Error>",
            ),
            ("[u8; 4]", "[u8; 4]"),
            // What else `type_name` writes: closures, qualified paths, lifetimes, non-ASCII names.
            ("my_service::main::{{closure}}", "my_service::main::{{closure}}"),
            ("<my_service::Db as core::ops::Deref>::Target", "<my_service::Db as std::ops::Deref>::Target"),
            ("&'static dyn core::error::Error", "&'static dyn Error"),
            ("ünïcode::error::FehlerError", "ünïcode::FehlerError"),
            ("", ""),
            ("::", "::"),
        ];
        for (raw, expected) in cases {
            assert_eq!(readable(raw), expected, "{raw}");
        }
    }
}

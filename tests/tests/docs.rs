//! The reference documents stay complete: every attribute key the SDK defines is in `docs/api/attributes.md`.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

#[test]
fn every_constant_is_in_the_attribute_reference() {
    let constants = read("budobserve/src/constants.rs");
    let reference = read("docs/api/attributes.md");
    let mut module = "";
    let mut missing = Vec::new();
    for line in constants.lines() {
        if let Some(rest) = line.strip_prefix("pub mod ") {
            module = rest.split_whitespace().next().unwrap_or_default();
        }
        let Some(rest) = line.trim_start().strip_prefix("pub const ") else { continue };
        let name = rest.split(':').next().unwrap_or_default();
        // Internal markers, the scope version, and the environment variables of `env` (listed by variable).
        let internal = ["CALLSITE", "DROPPED_ATTRIBUTES", "SCOPE_VERSION", "API_TOKEN_HEADER"].contains(&name)
            || name.starts_with("ENV_");
        if internal || module == "env" {
            continue;
        }
        if !reference.contains(&format!("| `{name}` |")) {
            missing.push(format!("{module}::{name}"));
        }
    }
    assert!(missing.is_empty(), "not in docs/api/attributes.md: {missing:?}");
}

#[test]
fn every_environment_variable_is_in_the_references() {
    let constants = read("budobserve/src/constants.rs");
    let attributes = read("docs/api/attributes.md");
    let configuration = read("docs/api/configuration.md");
    let variables: Vec<&str> = constants
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("pub const "))
        .filter_map(|rest| rest.split('"').nth(1))
        .filter(|value| value.starts_with("BUD_OBSERVE_") || value.starts_with("OTEL_"))
        .collect();
    assert!(variables.len() > 20, "{variables:?}");
    for variable in variables {
        assert!(attributes.contains(&format!("`{variable}`")), "{variable} not in docs/api/attributes.md");
        assert!(configuration.contains(&format!("`{variable}`")), "{variable} not in docs/api/configuration.md");
    }
}

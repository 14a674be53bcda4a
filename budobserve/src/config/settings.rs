//! The table of the core settings: for each, the builder option, its variables in order of precedence, and its
//! parser. The exporters keep their own tables beside their code (`exporters::otlp`, `exporters::budmetrics`).

use std::borrow::Cow;

use super::setting::{Setting, boolean, key_values, text};
use crate::constants::env;
use crate::conventions::HttpConventions;
use crate::directives::{ACCEPTED, LevelDirectives};
use crate::exporters::console::{ColorChoice, ConsoleStyle};
use crate::level::Level;

pub(crate) const SERVICE_NAME: Setting<String> =
    Setting { option: "service_name", variables: &[env::SERVICE_NAME, env::OTEL_SERVICE_NAME], parse: text };

pub(crate) const SERVICE_VERSION: Setting<String> =
    Setting { option: "service_version", variables: &[env::SERVICE_VERSION], parse: text };

pub(crate) const ENVIRONMENT: Setting<String> =
    Setting { option: "environment", variables: &[env::ENVIRONMENT], parse: text };

pub(crate) const RESOURCE_ATTRIBUTES: Setting<Vec<opentelemetry::KeyValue>> = Setting {
    option: "resource_attribute",
    variables: &[env::RESOURCE_ATTRIBUTES, env::OTEL_RESOURCE_ATTRIBUTES],
    parse: key_values,
};

pub(crate) const RESOURCE_DETECTION: Setting<bool> =
    Setting { option: "resource_detection", variables: &[env::RESOURCE_DETECTION], parse: boolean };

pub(crate) const CONSOLE: Setting<bool> = Setting { option: "console", variables: &[env::CONSOLE], parse: boolean };

pub(crate) const CONSOLE_COLORS: Setting<ColorChoice> =
    Setting { option: "console_options", variables: &[env::CONSOLE_COLORS], parse: color_choice };

pub(crate) const CONSOLE_STYLE: Setting<ConsoleStyle> =
    Setting { option: "console_options", variables: &[env::CONSOLE_STYLE], parse: console_style };

pub(crate) const MIN_LEVEL: Setting<Level> =
    Setting { option: "min_level", variables: &[env::MIN_LEVEL], parse: level };

pub(crate) const LEVELS: Setting<LevelDirectives> =
    Setting { option: "levels", variables: &[env::LEVELS], parse: directives };

pub(crate) const HTTP_CONVENTIONS: Setting<HttpConventions> =
    Setting { option: "http_conventions", variables: &[env::OTEL_SEMCONV_STABILITY_OPT_IN], parse: http_conventions };

pub(crate) const SAMPLE_RATE: Setting<f64> =
    Setting { option: "sample_rate", variables: &[env::SAMPLE_RATE], parse: sample_rate };

/// What a sample rate accepts.
pub(crate) const SAMPLE_RATE_EXPECTED: &str = "a number from 0 (no trace) to 1 (every trace)";

/// Whether `rate` is a fraction of traces (NaN is not).
pub(crate) fn valid_sample_rate(rate: &f64) -> bool {
    (0.0..=1.0).contains(rate)
}

fn sample_rate(value: &str) -> Result<f64, Cow<'static, str>> {
    value.trim().parse::<f64>().ok().filter(valid_sample_rate).ok_or(Cow::Borrowed(SAMPLE_RATE_EXPECTED))
}

/// A list without an HTTP entry leaves the default: its entries are other domains'.
fn http_conventions(value: &str) -> Result<HttpConventions, Cow<'static, str>> {
    Ok(HttpConventions::from_opt_in(value).unwrap_or_default())
}

fn level(value: &str) -> Result<Level, Cow<'static, str>> {
    value.parse::<Level>().map_err(|_| Level::ACCEPTED_NAMES.into())
}

fn directives(value: &str) -> Result<LevelDirectives, Cow<'static, str>> {
    value.parse::<LevelDirectives>().map_err(|error| Cow::Owned(format!("{ACCEPTED} ({error})")))
}

fn color_choice(value: &str) -> Result<ColorChoice, Cow<'static, str>> {
    ColorChoice::parse(value).ok_or(Cow::Borrowed(ColorChoice::ACCEPTED))
}

fn console_style(value: &str) -> Result<ConsoleStyle, Cow<'static, str>> {
    ConsoleStyle::parse(value).ok_or(Cow::Borrowed(ConsoleStyle::ACCEPTED))
}

//! One setting, resolved one way: the builder's value, else the first of its environment variables that is set
//! (`BUD_OBSERVE_*`, then the `OTEL_*` fallback), else its default — with one parse function per setting whose
//! error is the "expected …" text of the [`ConfigError`].

use std::borrow::Cow;
use std::collections::HashMap;

use opentelemetry::KeyValue;

use crate::error::ConfigError;

/// Where environment variables are read from.
///
/// ```
/// use std::collections::HashMap;
///
/// use budobserve::EnvSource;
///
/// let env = EnvSource::Map(HashMap::from([("BUD_OBSERVE_MIN_LEVEL".to_owned(), "loud".to_owned())]));
/// let error = budobserve::configure().env(env).build().unwrap_err();
/// assert!(error.to_string().contains("BUD_OBSERVE_MIN_LEVEL"));
/// ```
#[derive(Clone, Debug, Default)]
pub enum EnvSource {
    /// The process environment.
    #[default]
    Process,
    /// A fixed map (for tests, or to configure from another source); the process environment is not read.
    Map(HashMap<String, String>),
}

impl EnvSource {
    /// The value of `variable`, `None` when unset or empty.
    pub(crate) fn get(&self, variable: &'static str) -> Result<Option<String>, ConfigError> {
        let value = match self {
            EnvSource::Process => match std::env::var(variable) {
                Ok(value) => Some(value),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(raw)) => {
                    return Err(ConfigError::InvalidEnvVar {
                        variable,
                        value: raw.to_string_lossy().into_owned(),
                        expected: "valid UTF-8".into(),
                    });
                }
            },
            EnvSource::Map(map) => map.get(variable).cloned(),
        };
        Ok(value.filter(|v| !v.trim().is_empty()))
    }
}

/// Parses a setting's text; the error is what is accepted.
pub(crate) type Parse<T> = fn(&str) -> Result<T, Cow<'static, str>>;

/// One setting: the builder option it belongs to, its variables in order of precedence, and its parser.
pub(crate) struct Setting<T> {
    /// The builder option, named in errors about a value given there.
    pub(crate) option: &'static str,
    /// `BUD_OBSERVE_*` first, then the standard `OTEL_*` fallbacks.
    pub(crate) variables: &'static [&'static str],
    pub(crate) parse: Parse<T>,
}

impl<T> Setting<T> {
    /// The value of the first of its variables that is set, parsed; an unparsable value is an error naming it.
    pub(crate) fn read_env(&self, env: &EnvSource) -> Result<Option<T>, ConfigError> {
        for &variable in self.variables {
            if let Some(value) = env.get(variable)? {
                return match (self.parse)(&value) {
                    Ok(parsed) => Ok(Some(parsed)),
                    Err(expected) => Err(ConfigError::InvalidEnvVar { variable, value, expected }),
                };
            }
        }
        Ok(None)
    }

    /// The builder's value, else the environment's.
    pub(crate) fn resolve(&self, given: Option<T>, env: &EnvSource) -> Result<Option<T>, ConfigError> {
        match given {
            Some(value) => Ok(Some(value)),
            None => self.read_env(env),
        }
    }

    /// The builder's text, parsed as a variable's would be (an error names the option), else the environment's.
    pub(crate) fn resolve_text(&self, given: Option<String>, env: &EnvSource) -> Result<Option<T>, ConfigError> {
        match given {
            Some(value) => match (self.parse)(&value) {
                Ok(parsed) => Ok(Some(parsed)),
                Err(expected) => Err(ConfigError::InvalidOption { option: self.option, value, expected }),
            },
            None => self.read_env(env),
        }
    }

    /// The builder's value when `valid` accepts it (else an error naming the option and what is accepted), else
    /// the environment's.
    pub(crate) fn resolve_checked(
        &self,
        given: Option<T>,
        env: &EnvSource,
        valid: fn(&T) -> bool,
        expected: &'static str,
    ) -> Result<Option<T>, ConfigError>
    where
        T: std::fmt::Display,
    {
        match given {
            Some(value) if valid(&value) => Ok(Some(value)),
            Some(value) => Err(ConfigError::InvalidOption {
                option: self.option,
                value: value.to_string(),
                expected: expected.into(),
            }),
            None => self.read_env(env),
        }
    }
}

/// Any non-empty text, as given.
pub(crate) fn text(value: &str) -> Result<String, Cow<'static, str>> {
    Ok(value.to_owned())
}

/// What a boolean variable accepts.
pub(crate) const BOOL_EXPECTED: &str = "true or false (also 1/0, yes/no, on/off)";

/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
pub(crate) fn boolean(value: &str) -> Result<bool, Cow<'static, str>> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(BOOL_EXPECTED.into()),
    }
}

/// `key=value,key=value` (white space around entries is ignored; values keep inner `=`).
pub(crate) fn key_values(value: &str) -> Result<Vec<KeyValue>, Cow<'static, str>> {
    let mut pairs = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.split_once('=') {
            Some((key, val)) if !key.trim().is_empty() => {
                pairs.push(KeyValue::new(key.trim().to_owned(), val.trim().to_owned()));
            }
            _ => return Err("comma-separated key=value pairs with non-empty keys".into()),
        }
    }
    Ok(pairs)
}

/// Checks and normalises the base address of a backend: `http://` (or `https://` when `tls`, which the
/// `tls_feature` feature turns on), with a host, no trailing `/`.
pub(crate) fn base_url(url: &str, tls: bool, tls_feature: &str, port: u16) -> Result<String, Cow<'static, str>> {
    let url = url.trim().trim_end_matches('/');
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if let Some(rest) = url.strip_prefix("https://") {
        if !tls {
            return Err(format!("an `http://` address (`https://` needs BudObserve's `{tls_feature}` feature)").into());
        }
        rest
    } else {
        return Err(format!("an `http://` or `https://` address, e.g. `http://localhost:{port}`").into());
    };
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("an address with a host, e.g. `http://localhost:{port}`").into());
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTING: Setting<bool> = Setting { option: "flag", variables: &["BUD_FLAG", "OTEL_FLAG"], parse: boolean };

    fn env(pairs: &[(&str, &str)]) -> EnvSource {
        EnvSource::Map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn the_builder_beats_the_first_variable_beats_the_fallback() {
        let both = env(&[("BUD_FLAG", "on"), ("OTEL_FLAG", "off")]);
        assert_eq!(SETTING.resolve(Some(false), &both), Ok(Some(false)));
        assert_eq!(SETTING.resolve(None, &both), Ok(Some(true)));
        assert_eq!(SETTING.resolve(None, &env(&[("OTEL_FLAG", "off")])), Ok(Some(false)));
        assert_eq!(SETTING.resolve(None, &env(&[("BUD_FLAG", "  ")])), Ok(None));
    }

    #[test]
    fn errors_name_where_the_value_came_from() {
        let from_env = SETTING.resolve(None, &env(&[("OTEL_FLAG", "maybe")]));
        assert_eq!(
            from_env,
            Err(ConfigError::InvalidEnvVar {
                variable: "OTEL_FLAG",
                value: "maybe".to_owned(),
                expected: BOOL_EXPECTED.into()
            })
        );
        let given = SETTING.resolve_text(Some("perhaps".to_owned()), &env(&[]));
        assert_eq!(
            given,
            Err(ConfigError::InvalidOption {
                option: "flag",
                value: "perhaps".to_owned(),
                expected: BOOL_EXPECTED.into()
            })
        );
    }
}

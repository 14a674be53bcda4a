//! The errors of configuration and of the lifecycle, in one place.
//!
//! Each names what was wrong and what is accepted; an error caused by another carries it as its
//! [`source`](std::error::Error::source). Errors of one integration (such as `DaprError`) live with it and wrap
//! these where they come from configuration.

use std::borrow::Cow;
use std::fmt;

use opentelemetry_sdk::error::OTelSdkError;

/// A configuration error: always names what was wrong and what is accepted.
///
/// Its `Debug` output is its message, so that `fn main() -> Result<(), ConfigError>` prints a readable line.
///
/// ```
/// let error = budobserve::configure().sample_rate(1.5).build().unwrap_err();
/// assert!(error.to_string().contains("sample_rate"), "{error}");
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value that cannot be used.
    #[error("invalid value {value:?} in environment variable `{variable}`: expected {expected}")]
    InvalidEnvVar {
        /// The variable.
        variable: &'static str,
        /// The value found.
        value: String,
        /// What is accepted.
        expected: Cow<'static, str>,
    },
    /// An exporter cannot be built from the configuration.
    #[error("cannot export {signal} to {endpoint}: {reason}")]
    Exporter {
        /// `spans`, `metrics` or `logs`.
        signal: &'static str,
        /// The endpoint configured.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// A builder option holds a value that cannot be used.
    #[error("invalid value {value:?} for option `{option}`: expected {expected}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: Cow<'static, str>,
    },
    /// An extra scrubbing pattern is not a valid regular expression.
    #[error(
        "invalid value \"{}: {}\" for option `scrubbing pattern`: expected a valid regular expression ({})",
        source.name,
        source.regex,
        source.reason
    )]
    ScrubbingPattern {
        /// The pattern and why it does not compile.
        #[source]
        source: PatternError,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<PatternError> for ConfigError {
    fn from(source: PatternError) -> ConfigError {
        ConfigError::ScrubbingPattern { source }
    }
}

/// A scrubbing pattern that does not compile.
///
/// ```
/// use budobserve::scrubbing::ScrubbingConfig;
///
/// // An extra pattern that is not a valid regex is an error when the instance is built.
/// let result = budobserve::configure().scrubbing_options(ScrubbingConfig::new().extra_pattern("bad", "(")).build();
/// assert!(result.is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scrubbing pattern `{name}` ({regex:?}): {reason}")]
pub struct PatternError {
    /// The pattern's name.
    pub name: String,
    /// The expression.
    pub regex: String,
    /// Why it does not compile.
    pub reason: String,
}

/// The error of [`BudObserve::force_flush`](crate::BudObserve::force_flush) and
/// [`BudObserve::shutdown`](crate::BudObserve::shutdown): a flush or shutdown that did not finish cleanly.
///
/// ```
/// let obs = budobserve::testing::capture().observe().clone();
/// if let Err(err) = obs.force_flush() {
///     eprintln!("spans may be lost: {err}");               // names the provider and what failed
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the {signal} provider failed to {action}: {source}")]
pub struct LifecycleError {
    /// `traces`, `metrics` or `logs`.
    pub signal: &'static str,
    /// `flush` or `shut down`.
    pub action: &'static str,
    /// The SDK's error.
    #[source]
    pub source: OTelSdkError,
}

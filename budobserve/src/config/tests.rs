//! The configuration's precedence, parsing and errors.

use super::setting::BOOL_EXPECTED;
use super::*;
use crate::constants::env;
use crate::exporters::console::{ColorChoice, ConsoleStyle};
use crate::exporters::otlp::{OtlpConfig, OtlpProtocol};

fn env(pairs: &[(&str, &str)]) -> EnvSource {
    EnvSource::Map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

#[test]
fn argument_beats_env_beats_default() {
    let config = configure()
        .env(env(&[(env::SERVICE_NAME, "from-env"), (env::ENVIRONMENT, "staging")]))
        .service_name("from-arg")
        .build()
        .unwrap();
    assert_eq!(config.service_name(), "from-arg");
    assert_eq!(config.environment(), Some("staging"));
    assert_eq!(config.service_version(), None);
    assert!(config.console_enabled());
    assert_eq!(config.min_level(), Level::Trace);
}

#[test]
fn otel_variables_are_fallbacks() {
    let config = configure()
        .env(env(&[(env::OTEL_SERVICE_NAME, "otel-name"), (env::OTEL_RESOURCE_ATTRIBUTES, "team=llm, region=eu")]))
        .build()
        .unwrap();
    assert_eq!(config.service_name(), "otel-name");
    let resource = config.resource();
    assert_eq!(resource.get(&"team".into()).map(|v| v.to_string()), Some("llm".to_owned()));
    assert_eq!(resource.get(&"region".into()).map(|v| v.to_string()), Some("eu".to_owned()));
    let both = configure().env(env(&[(env::SERVICE_NAME, "bud"), (env::OTEL_SERVICE_NAME, "otel")])).build().unwrap();
    assert_eq!(both.service_name(), "bud");
}

#[test]
fn env_values_are_parsed() {
    let config = configure().env(env(&[(env::CONSOLE, "off"), (env::MIN_LEVEL, "Warning")])).build().unwrap();
    assert!(!config.console_enabled());
    assert_eq!(config.min_level(), Level::Warn);
}

#[test]
fn invalid_env_values_name_the_variable() {
    let err = configure().env(env(&[(env::MIN_LEVEL, "loud")])).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"loud\" in environment variable `BUD_OBSERVE_MIN_LEVEL`: expected trace, debug, info, \
         notice, warn (or warning), error, fatal"
    );
    let err = configure().env(env(&[(env::CONSOLE, "maybe")])).build().unwrap_err();
    assert_eq!(
        err,
        ConfigError::InvalidEnvVar {
            variable: "BUD_OBSERVE_CONSOLE",
            value: "maybe".to_owned(),
            expected: BOOL_EXPECTED.into()
        }
    );
    let err = configure().env(env(&[(env::RESOURCE_ATTRIBUTES, "a=1,oops")])).build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_RESOURCE_ATTRIBUTES", .. }), "{err}");
}

#[test]
fn console_options_do_not_override_the_environment() {
    let off = configure().env(env(&[(env::CONSOLE, "false")])).console_options(ConsoleOptions::new()).build();
    assert!(!off.unwrap().console_enabled());
    let on = configure().env(env(&[])).console_options(ConsoleOptions::new()).build();
    assert!(on.unwrap().console_enabled());
}

#[cfg(feature = "otlp")]
#[test]
fn the_otlp_backend_comes_from_arguments_then_variables() {
    let config = configure()
        .env(env(&[
            (env::ENDPOINT, "http://collector:4318/"),
            (env::TOKEN, "key-1"),
            (env::HEADERS, "x-tenant=t-1, x-team = llm%20ops"),
            (env::OTEL_EXPORTER_OTLP_ENDPOINT, "http://ignored:4318"),
            (env::OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
            (env::OTEL_EXPORTER_OTLP_TIMEOUT, "2500"),
        ]))
        .build()
        .unwrap();
    let backend = config.backend().unwrap();
    assert_eq!(backend.endpoint(), "http://collector:4318");
    assert_eq!(backend.token.as_deref(), Some("key-1"));
    assert_eq!(backend.headers, [("x-tenant".to_owned(), "t-1".to_owned()), ("x-team".into(), "llm ops".into())]);
    assert!(backend.gzip);
    assert_eq!(backend.timeout, Duration::from_millis(2500));
    assert_eq!(backend.protocol(), OtlpProtocol::HttpProtobuf);
    // A backend turns the console's default off; the console can still be asked for.
    assert!(!config.console_enabled());
    assert!(!format!("{config:?}").contains("key-1"));

    let fallback = configure()
        .env(env(&[(env::OTEL_EXPORTER_OTLP_ENDPOINT, "http://otel:4318"), (env::OTEL_EXPORTER_OTLP_HEADERS, "a=b")]))
        .console(true)
        .build()
        .unwrap();
    assert_eq!(fallback.backend().unwrap().endpoint(), "http://otel:4318");
    assert_eq!(fallback.backend().unwrap().headers, [("a".to_owned(), "b".to_owned())]);
    assert!(fallback.console_enabled());

    let argument = configure()
        .env(env(&[(env::ENDPOINT, "http://env:4318"), (env::HEADERS, "a=b")]))
        .endpoint("http://arg:4318")
        .header("c", "d")
        .build()
        .unwrap();
    assert_eq!(argument.backend().unwrap().endpoint(), "http://arg:4318");
    assert_eq!(argument.backend().unwrap().headers, [("c".to_owned(), "d".to_owned())]);
    assert!(configure().env(env(&[])).build().unwrap().backend().is_none());
}

#[cfg(feature = "otlp")]
#[test]
fn invalid_otlp_settings_name_what_is_wrong() {
    let err = configure().env(env(&[(env::ENDPOINT, "collector:4318")])).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"collector:4318\" in environment variable `BUD_OBSERVE_ENDPOINT`: expected an `http://` or \
         `https://` address, e.g. `http://localhost:4318`"
    );
    let err = configure().env(env(&[])).endpoint("ftp://x").build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidOption { option: "endpoint", .. }), "{err}");
    let with_endpoint = |pairs: &[(&'static str, &'static str)]| {
        let mut all = vec![(env::ENDPOINT, "http://c:4318")];
        all.extend_from_slice(pairs);
        configure().env(env(&all)).build().unwrap_err()
    };
    let err = with_endpoint(&[(env::PROTOCOL, "thrift")]);
    assert_eq!(
        err.to_string(),
        "invalid value \"thrift\" in environment variable `BUD_OBSERVE_PROTOCOL`: expected `http/protobuf` or `grpc`"
    );
    assert!(matches!(
        with_endpoint(&[(env::HEADERS, "novalue")]),
        ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_HEADERS", .. }
    ));
    assert!(matches!(
        with_endpoint(&[(env::HEADERS, "a=%zz")]),
        ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_HEADERS", .. }
    ));
    assert!(matches!(
        with_endpoint(&[(env::OTEL_EXPORTER_OTLP_TIMEOUT, "soon")]),
        ConfigError::InvalidEnvVar { variable: "OTEL_EXPORTER_OTLP_TIMEOUT", .. }
    ));
    assert!(matches!(
        with_endpoint(&[(env::OTEL_EXPORTER_OTLP_COMPRESSION, "zstd")]),
        ConfigError::InvalidEnvVar { variable: "OTEL_EXPORTER_OTLP_COMPRESSION", .. }
    ));
    let grpc = configure().env(env(&[(env::ENDPOINT, "http://c:4317"), (env::PROTOCOL, "grpc")])).build();
    if cfg!(feature = "otlp-grpc") {
        assert_eq!(grpc.unwrap().backend().map(OtlpConfig::protocol), Some(OtlpProtocol::Grpc));
    } else {
        assert_eq!(
            grpc.unwrap_err().to_string(),
            "cannot export spans to http://c:4317: OTLP over gRPC needs BudObserve's `otlp-grpc` feature"
        );
    }
    let err = configure().env(env(&[])).endpoint("http://c").header("bad header", "x").build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidOption { option: "header", .. }), "{err}");
}

#[test]
fn console_colors_and_style_come_from_arguments_then_variables() {
    let vars = env(&[(env::CONSOLE_COLORS, "always"), (env::CONSOLE_STYLE, "show-parents")]);
    let config = configure().env(vars.clone()).build().unwrap();
    let options = config.console.as_ref().unwrap();
    assert_eq!((options.colors, options.style), (Some(ColorChoice::Always), Some(ConsoleStyle::ShowParents)));
    let config = configure()
        .env(vars)
        .console_options(ConsoleOptions::new().colors(ColorChoice::Never).style(ConsoleStyle::Simple))
        .build()
        .unwrap();
    let options = config.console.as_ref().unwrap();
    assert_eq!((options.colors, options.style), (Some(ColorChoice::Never), Some(ConsoleStyle::Simple)));

    let err = configure().env(env(&[(env::CONSOLE_STYLE, "fancy")])).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"fancy\" in environment variable `BUD_OBSERVE_CONSOLE_STYLE`: expected `simple`, \
         `indented` or `show-parents`"
    );
    let err = configure().env(env(&[(env::CONSOLE_COLORS, "sometimes")])).build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidEnvVar { variable: "BUD_OBSERVE_CONSOLE_COLORS", .. }), "{err}");
    // Not read when the console is off.
    assert!(configure().env(env(&[(env::CONSOLE, "off"), (env::CONSOLE_STYLE, "fancy")])).build().is_ok());
}

#[test]
fn debug_output_is_the_message() {
    let err = configure().env(env(&[(env::CONSOLE, "maybe")])).build().unwrap_err();
    assert_eq!(format!("{err:?}"), err.to_string());
}

#[test]
fn sample_rate_is_validated() {
    let config = configure().env(env(&[(env::SAMPLE_RATE, "0.25")])).build().unwrap();
    assert_eq!(config.sample_rate(), Some(0.25));
    for bad in ["2", "-0.1", "half", "NaN"] {
        let err = configure().env(env(&[(env::SAMPLE_RATE, bad)])).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value \"{bad}\" in environment variable `BUD_OBSERVE_SAMPLE_RATE`: expected a number \
                 from 0 (no trace) to 1 (every trace)"
            )
        );
    }
    let err = configure().env(env(&[])).sample_rate(1.5).build().unwrap_err();
    assert!(matches!(err, ConfigError::InvalidOption { option: "sample_rate", .. }), "{err}");
}

#[test]
fn resource_has_service_and_environment() {
    let config = configure()
        .env(env(&[]))
        .service_name("budapp")
        .service_version("1.2.3")
        .environment("dev")
        .resource_attribute(KeyValue::new("team", "platform"))
        .build()
        .unwrap();
    let resource = config.resource();
    let get = |key: &str| resource.get(&opentelemetry::Key::from(key.to_owned())).map(|v| v.to_string());
    assert_eq!(get("service.name").as_deref(), Some("budapp"));
    assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
    assert_eq!(get("deployment.environment.name").as_deref(), Some("dev"));
    assert_eq!(get("team").as_deref(), Some("platform"));
    assert_eq!(get("telemetry.sdk.name").as_deref(), Some("budobserve"));
}

#[test]
#[cfg(feature = "otlp")]
fn a_per_signal_endpoint_is_refused_with_the_base_to_give() {
    let error = configure()
        .env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4318/v1/traces")]))
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "invalid value \"http://otel-collector:4318/v1/traces\" in environment variable `OTEL_EXPORTER_OTLP_ENDPOINT`: \
         expected the collector's base address (`http://otel-collector:4318`): `/v1/traces` is a per-signal path, and \
         BudObserve appends `/v1/traces`, `/v1/metrics` and `/v1/logs` itself"
    );
}

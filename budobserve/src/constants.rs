//! Every attribute key and name BudObserve writes, in one place.
//!
//! Keys of the OpenTelemetry semantic conventions are re-exported from `opentelemetry-semantic-conventions`; the
//! SDK's own keys (`budobserve_*`) and the bud-stack context keys (`bud.*`) are defined here.

#![allow(deprecated)] // `code.filepath`, `code.lineno`, `code.namespace` are what Logfire-style backends read.

use opentelemetry_semantic_conventions::attribute as semconv;

/// The message template of a span or log, e.g. `user {user_id} logged in`.
pub const MSG_TEMPLATE: &str = "budobserve_msg_template";
/// The formatted message, e.g. `user 42 logged in`.
pub const MSG: &str = "budobserve_msg";
/// `span`, `log` or `pending_span` (see [`SpanType`](crate::SpanType)).
pub const SPAN_TYPE: &str = "budobserve_span_type";
/// On a `pending_span` record: the id (hex) of the parent of the span it stands for (the record's own parent is
/// that span).
pub const PENDING_PARENT_ID: &str = "budobserve_pending_parent_id";
/// The paths of what scrubbing replaced in a span or log record (a string array; see
/// [`scrubbing`](crate::scrubbing)).
pub const SCRUBBED: &str = "budobserve_scrubbed";
/// The rules that matched, in the order of [`SCRUBBED`]'s paths (`password`, `password in url`, …).
pub const SCRUBBED_RULES: &str = "budobserve_scrubbed_rules";
/// The tags of a span or log (a string array).
pub const TAGS: &str = "budobserve_tags";
/// The JSON schema of the attributes whose values are JSON.
pub const JSON_SCHEMA: &str = "budobserve_json_schema";
/// The level number (see [`Level`](crate::Level)).
pub const LEVEL_NUM: &str = "budobserve_level_num";
/// Internal: the callsite marker of a macro span, replaced before any exporter sees the span (see the
/// callsite completion in the crate's internals). Reserved: do not write it.
pub const CALLSITE: &str = "budobserve_callsite";
/// The `target` of a `tracing` or `log` record, when it differs from its module path (`code.namespace`).
pub const TARGET: &str = "budobserve_target";
/// The position of a cause in an error's source chain (1 = the first `source()`), on `exception` events.
pub const EXCEPTION_CAUSE_INDEX: &str = "budobserve_exception_cause_index";

/// The name of the event that records an error or a panic.
pub const EXCEPTION_EVENT: &str = "exception";
/// `exception.type` (semantic conventions).
pub const EXCEPTION_TYPE: &str = semconv::EXCEPTION_TYPE;
/// `exception.message` (semantic conventions).
pub const EXCEPTION_MESSAGE: &str = semconv::EXCEPTION_MESSAGE;
/// `exception.stacktrace` (semantic conventions).
pub const EXCEPTION_STACKTRACE: &str = semconv::EXCEPTION_STACKTRACE;
/// `exception.escaped` (semantic conventions): true when a panic unwound through the span.
pub const EXCEPTION_ESCAPED: &str = semconv::EXCEPTION_ESCAPED;
/// The `exception.type` of a recorded panic.
pub const PANIC_EXCEPTION_TYPE: &str = "panic";
/// The template (and span name) of the fatal log a panic is reported with (`ConfigBuilder::panic_hook`).
pub const PANIC_TEMPLATE: &str = "panic";
/// `thread.name` (semantic conventions): on a panic's report, the thread that panicked.
pub const THREAD_NAME: &str = semconv::THREAD_NAME;

/// `code.filepath`: the file a log or span was written in.
pub const CODE_FILEPATH: &str = semconv::CODE_FILEPATH;
/// `code.lineno`: the line a log or span was written on.
pub const CODE_LINENO: &str = semconv::CODE_LINENO;
/// `code.namespace`: the module path a log or span was written in.
pub const CODE_NAMESPACE: &str = semconv::CODE_NAMESPACE;
/// `code.function`: the instrumented function.
pub const CODE_FUNCTION: &str = semconv::CODE_FUNCTION;

/// HTTP keys of the semantic conventions, as the HTTP integrations write them.
pub mod http {
    use opentelemetry_semantic_conventions::attribute as semconv;

    /// `http.request.method`: `GET`, `POST`, … or `_OTHER`.
    pub const REQUEST_METHOD: &str = semconv::HTTP_REQUEST_METHOD;
    /// `http.request.method_original`: the method as sent, when it is not a known one.
    pub const REQUEST_METHOD_ORIGINAL: &str = semconv::HTTP_REQUEST_METHOD_ORIGINAL;
    /// `http.response.status_code`.
    pub const RESPONSE_STATUS_CODE: &str = semconv::HTTP_RESPONSE_STATUS_CODE;
    /// `http.route`: the matched route template, e.g. `/users/{id}`.
    pub const ROUTE: &str = semconv::HTTP_ROUTE;
    /// `http.request.header.<name>` (a string array), for the headers asked for.
    pub const REQUEST_HEADER: &str = semconv::HTTP_REQUEST_HEADER;
    /// `http.response.header.<name>` (a string array), for the headers asked for.
    pub const RESPONSE_HEADER: &str = semconv::HTTP_RESPONSE_HEADER;
    /// `http.request.resend_count`: the retry number of a client request.
    pub const REQUEST_RESEND_COUNT: &str = semconv::HTTP_REQUEST_RESEND_COUNT;
    /// `url.path`.
    pub const URL_PATH: &str = semconv::URL_PATH;
    /// `url.query` (scrubbed like every attribute).
    pub const URL_QUERY: &str = semconv::URL_QUERY;
    /// `url.scheme`.
    pub const URL_SCHEME: &str = semconv::URL_SCHEME;
    /// `url.full` (client spans).
    pub const URL_FULL: &str = semconv::URL_FULL;
    /// `url.template` (client spans, when given).
    pub const URL_TEMPLATE: &str = semconv::URL_TEMPLATE;
    /// `server.address`.
    pub const SERVER_ADDRESS: &str = semconv::SERVER_ADDRESS;
    /// `server.port`.
    pub const SERVER_PORT: &str = semconv::SERVER_PORT;
    /// `client.address`.
    pub const CLIENT_ADDRESS: &str = semconv::CLIENT_ADDRESS;
    /// `client.port`: the port the request came from (server spans, when no proxy forwarded it).
    pub const CLIENT_PORT: &str = semconv::CLIENT_PORT;
    /// `user_agent.original`.
    pub const USER_AGENT_ORIGINAL: &str = semconv::USER_AGENT_ORIGINAL;
    /// `network.protocol.version`: `1.1`, `2`, …
    pub const NETWORK_PROTOCOL_VERSION: &str = semconv::NETWORK_PROTOCOL_VERSION;
    /// `error.type`: the status code of a failed request, or the error's kind.
    pub const ERROR_TYPE: &str = semconv::ERROR_TYPE;
    /// A captured request body, as text (client spans, when asked for).
    pub const REQUEST_BODY_TEXT: &str = "http.request.body.text";
    /// A captured response body, as text (client spans, when asked for).
    pub const RESPONSE_BODY_TEXT: &str = "http.response.body.text";
    /// The request id header, read (or generated) and echoed back; recorded as `bud.request_id`.
    pub const REQUEST_ID_HEADER: &str = "x-request-id";
}

/// The HTTP keys of the conventions before the stable ones, written besides them with
/// `OTEL_SEMCONV_STABILITY_OPT_IN=http/dup` or `ConfigBuilder::http_conventions` (see `HttpConventions`).
#[allow(deprecated, reason = "the old keys are the point: services that still write them are grouped with ours")]
pub mod http_old {
    use opentelemetry_semantic_conventions::attribute as semconv;

    /// `http.method`: from `http.request.method` (`http.request.method_original` when it is `_OTHER`).
    pub const HTTP_METHOD: &str = semconv::HTTP_METHOD;
    /// `http.status_code`: from `http.response.status_code`.
    pub const HTTP_STATUS_CODE: &str = semconv::HTTP_STATUS_CODE;
    /// `http.scheme`: from `url.scheme`.
    pub const HTTP_SCHEME: &str = semconv::HTTP_SCHEME;
    /// `http.target`: `url.path` and `url.query` (server spans).
    pub const HTTP_TARGET: &str = semconv::HTTP_TARGET;
    /// `http.host`: `server.address:server.port` (server spans).
    pub const HTTP_HOST: &str = semconv::HTTP_HOST;
    /// `http.url`: from `url.full` (client spans).
    pub const HTTP_URL: &str = semconv::HTTP_URL;
    /// `http.user_agent`: from `user_agent.original`.
    pub const HTTP_USER_AGENT: &str = semconv::HTTP_USER_AGENT;
    /// `http.flavor`: from `network.protocol.version`.
    pub const HTTP_FLAVOR: &str = semconv::HTTP_FLAVOR;
    /// `net.host.name`: from `server.address` (server spans).
    pub const NET_HOST_NAME: &str = semconv::NET_HOST_NAME;
    /// `net.host.port`: from `server.port` (server spans).
    pub const NET_HOST_PORT: &str = semconv::NET_HOST_PORT;
    /// `net.peer.ip`: from `client.address` (server spans).
    pub const NET_PEER_IP: &str = semconv::NET_PEER_IP;
    /// `net.peer.name`: from `server.address` (client spans).
    pub const NET_PEER_NAME: &str = semconv::NET_PEER_NAME;
    /// `net.peer.port`: from `client.port` (server spans) or `server.port` (client spans).
    pub const NET_PEER_PORT: &str = semconv::NET_PEER_PORT;
}

/// Generative-AI keys of the semantic conventions, as the LLM integration writes them.
pub mod gen_ai {
    use opentelemetry_semantic_conventions::attribute as semconv;

    /// `gen_ai.operation.name`: `chat`, `text_completion`, `embeddings`.
    pub const OPERATION_NAME: &str = semconv::GEN_AI_OPERATION_NAME;
    /// `gen_ai.provider.name`: `openai`, `anthropic`, or the configured name of a gateway.
    pub const PROVIDER_NAME: &str = semconv::GEN_AI_PROVIDER_NAME;
    /// `gen_ai.system`: the provider, under its former key (read by older dashboards).
    pub const SYSTEM: &str = semconv::GEN_AI_SYSTEM;
    /// `gen_ai.request.model`.
    pub const REQUEST_MODEL: &str = semconv::GEN_AI_REQUEST_MODEL;
    /// `gen_ai.request.temperature`.
    pub const REQUEST_TEMPERATURE: &str = semconv::GEN_AI_REQUEST_TEMPERATURE;
    /// `gen_ai.request.max_tokens`.
    pub const REQUEST_MAX_TOKENS: &str = semconv::GEN_AI_REQUEST_MAX_TOKENS;
    /// `gen_ai.request.top_p`.
    pub const REQUEST_TOP_P: &str = semconv::GEN_AI_REQUEST_TOP_P;
    /// `gen_ai.request.stop_sequences`.
    pub const REQUEST_STOP_SEQUENCES: &str = semconv::GEN_AI_REQUEST_STOP_SEQUENCES;
    /// `gen_ai.request.seed`.
    pub const REQUEST_SEED: &str = semconv::GEN_AI_REQUEST_SEED;
    /// `gen_ai.request.stream`.
    pub const REQUEST_STREAM: &str = semconv::GEN_AI_REQUEST_STREAM;
    /// `gen_ai.response.model`.
    pub const RESPONSE_MODEL: &str = semconv::GEN_AI_RESPONSE_MODEL;
    /// `gen_ai.response.id`.
    pub const RESPONSE_ID: &str = semconv::GEN_AI_RESPONSE_ID;
    /// `gen_ai.response.finish_reasons`.
    pub const RESPONSE_FINISH_REASONS: &str = semconv::GEN_AI_RESPONSE_FINISH_REASONS;
    /// `gen_ai.response.time_to_first_chunk`: seconds from the request to the first streamed content.
    pub const RESPONSE_TIME_TO_FIRST_CHUNK: &str = semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK;
    /// `gen_ai.usage.input_tokens`.
    pub const USAGE_INPUT_TOKENS: &str = semconv::GEN_AI_USAGE_INPUT_TOKENS;
    /// `gen_ai.usage.output_tokens`.
    pub const USAGE_OUTPUT_TOKENS: &str = semconv::GEN_AI_USAGE_OUTPUT_TOKENS;
    /// `gen_ai.usage.cache_read.input_tokens`: cached input tokens, where the provider reports them.
    pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS;
    /// `gen_ai.usage.cost`: the call's price in US dollars (not in the conventions; Logfire's key).
    pub const USAGE_COST: &str = "gen_ai.usage.cost";
    /// `gen_ai.inference_cost`: the same price, under the key BudMetrics' inference views read.
    pub const INFERENCE_COST: &str = "gen_ai.inference_cost";
    /// `gen_ai.token.type`: `input` or `output` (on the token usage histogram).
    pub const TOKEN_TYPE: &str = semconv::GEN_AI_TOKEN_TYPE;
    /// `gen_ai.usage.total_tokens` (not in the conventions; what the providers report as total).
    pub const USAGE_TOTAL_TOKENS: &str = "gen_ai.usage.total_tokens";
    /// `gen_ai.input.messages`: the request's messages (roles only unless content recording is on).
    pub const INPUT_MESSAGES: &str = semconv::GEN_AI_INPUT_MESSAGES;
    /// `gen_ai.output.messages`: the response's messages (roles and finish reasons only unless content recording
    /// is on).
    pub const OUTPUT_MESSAGES: &str = semconv::GEN_AI_OUTPUT_MESSAGES;
    /// Set on an LLM span whose streamed response ended before the provider's end marker (dropped or failed).
    pub const STREAM_INCOMPLETE: &str = "budobserve_llm_stream_incomplete";
    /// The tag of LLM spans.
    pub const TAG: &str = "LLM";
}

/// Database keys of the semantic conventions, as the database integrations write them.
pub mod db {
    use opentelemetry_semantic_conventions::attribute as semconv;

    /// `db.system.name`: `postgresql`, `redis`, …
    pub const SYSTEM_NAME: &str = semconv::DB_SYSTEM_NAME;
    /// `db.namespace`: the database (PostgreSQL) or the database index (Redis).
    pub const NAMESPACE: &str = semconv::DB_NAMESPACE;
    /// `db.query.text`: the statement as sent (parameterised; truncated).
    pub const QUERY_TEXT: &str = semconv::DB_QUERY_TEXT;
    /// `db.operation.name`: `SELECT`, `GET`, …
    pub const OPERATION_NAME: &str = semconv::DB_OPERATION_NAME;
    /// `db.operation.batch.size`: the commands of a pipeline.
    pub const OPERATION_BATCH_SIZE: &str = semconv::DB_OPERATION_BATCH_SIZE;
    /// `db.collection.name`: the table, where it can be derived.
    pub const COLLECTION_NAME: &str = semconv::DB_COLLECTION_NAME;
    /// `db.response.returned_rows`.
    pub const RESPONSE_RETURNED_ROWS: &str = semconv::DB_RESPONSE_RETURNED_ROWS;
    /// `db.response.status_code`: the database's error code (`23505`, `WRONGTYPE`, …).
    pub const RESPONSE_STATUS_CODE: &str = semconv::DB_RESPONSE_STATUS_CODE;
}

/// Dapr: the attributes of the Dapr integration's spans, and the variables a Dapr app is configured with.
pub mod dapr {
    use opentelemetry_semantic_conventions::attribute as semconv;

    /// The system name of Dapr calls (`rpc.system`), and the `messaging.system`/`db.system.name` of a component
    /// whose type is not known.
    pub const SYSTEM: &str = "dapr";
    /// `dapr.app_id`: the invoked app.
    pub const APP_ID: &str = "dapr.app_id";
    /// `dapr.method`: the invoked method.
    pub const METHOD: &str = "dapr.method";
    /// `dapr.pubsub_name`: the pub/sub component.
    pub const PUBSUB_NAME: &str = "dapr.pubsub_name";
    /// `dapr.store_name`: the state store.
    pub const STORE_NAME: &str = "dapr.store_name";
    /// `dapr.state.keys`: the keys a state operation reads or writes (never the values).
    pub const STATE_KEYS: &str = "dapr.state.keys";
    /// `dapr.bulk.failed_entries`: the events of a bulk publish the sidecar could not publish.
    pub const BULK_FAILED_ENTRIES: &str = "dapr.bulk.failed_entries";
    /// `dapr.subscription.status`: a subscriber's answer to an event, `SUCCESS`, `RETRY` or `DROP`.
    pub const SUBSCRIPTION_STATUS: &str = "dapr.subscription.status";
    /// `rpc.system`.
    pub const RPC_SYSTEM: &str = semconv::RPC_SYSTEM;
    /// `rpc.service`: the invoked app.
    pub const RPC_SERVICE: &str = semconv::RPC_SERVICE;
    /// `rpc.method`: the invoked method.
    pub const RPC_METHOD: &str = semconv::RPC_METHOD;
    /// `messaging.system`: the pub/sub component's type (`kafka`, `redis`), or `dapr`.
    pub const MESSAGING_SYSTEM: &str = semconv::MESSAGING_SYSTEM;
    /// `messaging.destination.name`: the topic.
    pub const MESSAGING_DESTINATION_NAME: &str = semconv::MESSAGING_DESTINATION_NAME;
    /// `messaging.operation.type`: `send` or `process`.
    pub const MESSAGING_OPERATION_TYPE: &str = semconv::MESSAGING_OPERATION_TYPE;
    /// `messaging.operation.name`: `publish` or `process`.
    pub const MESSAGING_OPERATION_NAME: &str = semconv::MESSAGING_OPERATION_NAME;
    /// `messaging.message.id`: the CloudEvent's id.
    pub const MESSAGING_MESSAGE_ID: &str = semconv::MESSAGING_MESSAGE_ID;
    /// `messaging.batch.message_count`: the events of a bulk publish or a bulk delivery.
    pub const MESSAGING_BATCH_MESSAGE_COUNT: &str = semconv::MESSAGING_BATCH_MESSAGE_COUNT;
    /// `cloudevents.event_source`.
    pub const CLOUDEVENTS_SOURCE: &str = semconv::CLOUDEVENTS_EVENT_SOURCE;
    /// `cloudevents.event_type`.
    pub const CLOUDEVENTS_TYPE: &str = semconv::CLOUDEVENTS_EVENT_TYPE;
    /// The header of the Dapr API token (sent, never recorded).
    pub const API_TOKEN_HEADER: &str = "dapr-api-token";
    /// The sidecar's HTTP address (`http://127.0.0.1:3500`).
    pub const ENV_HTTP_ENDPOINT: &str = "DAPR_HTTP_ENDPOINT";
    /// The sidecar's HTTP port on `127.0.0.1`.
    pub const ENV_HTTP_PORT: &str = "DAPR_HTTP_PORT";
    /// The Dapr API token.
    pub const ENV_API_TOKEN: &str = "DAPR_API_TOKEN";
    /// The app's id.
    pub const ENV_APP_ID: &str = "APP_ID";
}

/// How many attributes a span lost before it reached the pipeline (a marker the caller's thread writes when a span
/// starts with more attributes than the limit; the pipeline adds it to the span's dropped count and removes it).
pub const DROPPED_ATTRIBUTES: &str = "budobserve_dropped_attributes";

/// `service.name` (resource).
pub const SERVICE_NAME: &str = semconv::SERVICE_NAME;
/// `service.version` (resource).
pub const SERVICE_VERSION: &str = semconv::SERVICE_VERSION;
/// `deployment.environment.name` (resource).
pub const DEPLOYMENT_ENVIRONMENT_NAME: &str = semconv::DEPLOYMENT_ENVIRONMENT_NAME;

/// Resource keys BudObserve detects (see `resource`).
pub mod resource {
    use opentelemetry_semantic_conventions::attribute as semconv;

    /// A random id per configured instance: tells replicas (and instances) of one service apart.
    pub const SERVICE_INSTANCE_ID: &str = semconv::SERVICE_INSTANCE_ID;
    /// The host's name.
    pub const HOST_NAME: &str = semconv::HOST_NAME;
    /// The host's CPU architecture.
    pub const HOST_ARCH: &str = semconv::HOST_ARCH;
    /// The process id.
    pub const PROCESS_PID: &str = semconv::PROCESS_PID;
    /// `rustc`.
    pub const PROCESS_RUNTIME_NAME: &str = semconv::PROCESS_RUNTIME_NAME;
    /// The version of the compiler that built BudObserve.
    pub const PROCESS_RUNTIME_VERSION: &str = semconv::PROCESS_RUNTIME_VERSION;
    /// The compiler's own description (`rustc 1.95.0 (…)`).
    pub const PROCESS_RUNTIME_DESCRIPTION: &str = semconv::PROCESS_RUNTIME_DESCRIPTION;
    /// The executable's file name.
    pub const PROCESS_EXECUTABLE_NAME: &str = semconv::PROCESS_EXECUTABLE_NAME;
    /// The executable's path.
    pub const PROCESS_EXECUTABLE_PATH: &str = semconv::PROCESS_EXECUTABLE_PATH;
    /// The operating system (`linux`, `darwin`, `windows`…).
    pub const OS_TYPE: &str = semconv::OS_TYPE;
    /// The container the process runs in.
    pub const CONTAINER_ID: &str = semconv::CONTAINER_ID;
    /// The Kubernetes pod.
    pub const K8S_POD_NAME: &str = semconv::K8S_POD_NAME;
    /// The Kubernetes pod's uid.
    pub const K8S_POD_UID: &str = semconv::K8S_POD_UID;
    /// The Kubernetes namespace.
    pub const K8S_NAMESPACE_NAME: &str = semconv::K8S_NAMESPACE_NAME;
    /// The Kubernetes node.
    pub const K8S_NODE_NAME: &str = semconv::K8S_NODE_NAME;
}

/// The instrumentation scope of spans and logs written through a [`BudObserve`](crate::BudObserve) handle.
pub const SCOPE_NAME: &str = "budobserve";
/// The version written with [`SCOPE_NAME`].
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Bud context keys: the keys budgateway puts in W3C baggage and BudMetrics' views read.
pub mod bud {
    /// The project the request belongs to.
    pub const PROJECT_ID: &str = "bud.project_id";
    /// The prompt used.
    pub const PROMPT_ID: &str = "bud.prompt_id";
    /// The version of the prompt used.
    pub const PROMPT_VERSION_ID: &str = "bud.prompt_version_id";
    /// The endpoint (deployment) serving the request.
    pub const ENDPOINT_ID: &str = "bud.endpoint_id";
    /// The model serving the request.
    pub const MODEL_ID: &str = "bud.model_id";
    /// The API key the request came with.
    pub const API_KEY_ID: &str = "bud.api_key_id";
    /// The project of that API key.
    pub const API_KEY_PROJECT_ID: &str = "bud.api_key_project_id";
    /// The user behind the request.
    pub const USER_ID: &str = "bud.user_id";
    /// The cluster serving the request.
    pub const CLUSTER_ID: &str = "bud.cluster_id";
    /// The request id.
    pub const REQUEST_ID: &str = "bud.request_id";
}

/// Environment variables read by [`configure`](crate::configure).
pub mod env {
    /// `service.name` of the resource.
    pub const SERVICE_NAME: &str = "BUD_OBSERVE_SERVICE_NAME";
    /// `service.version` of the resource.
    pub const SERVICE_VERSION: &str = "BUD_OBSERVE_SERVICE_VERSION";
    /// `deployment.environment.name` of the resource.
    pub const ENVIRONMENT: &str = "BUD_OBSERVE_ENVIRONMENT";
    /// Whether the console exporter is on.
    pub const CONSOLE: &str = "BUD_OBSERVE_CONSOLE";
    /// When the console colors: `auto`, `always`, `never`.
    pub const CONSOLE_COLORS: &str = "BUD_OBSERVE_CONSOLE_COLORS";
    /// How the console lays out lines: `simple`, `indented`, `show-parents`.
    pub const CONSOLE_STYLE: &str = "BUD_OBSERVE_CONSOLE_STYLE";
    /// The minimum level of logs and spans.
    pub const MIN_LEVEL: &str = "BUD_OBSERVE_MIN_LEVEL";
    /// Levels per target, `RUST_LOG`-style: `info,my_service::db=debug,hyper=warn`.
    pub const LEVELS: &str = "BUD_OBSERVE_LEVELS";
    /// The fraction of traces recorded, `0` to `1`.
    pub const SAMPLE_RATE: &str = "BUD_OBSERVE_SAMPLE_RATE";
    /// Extra resource attributes, `key=value,key=value`.
    pub const RESOURCE_ATTRIBUTES: &str = "BUD_OBSERVE_RESOURCE_ATTRIBUTES";
    /// The OTLP endpoint (base address: `/v1/traces` etc. are appended). Setting it turns OTLP export on.
    pub const ENDPOINT: &str = "BUD_OBSERVE_ENDPOINT";
    /// A token sent as `Authorization: Bearer <token>`.
    pub const TOKEN: &str = "BUD_OBSERVE_TOKEN";
    /// Extra OTLP headers, `name=value,name=value`.
    pub const HEADERS: &str = "BUD_OBSERVE_HEADERS";
    /// `http/protobuf` (default) or `grpc`.
    pub const PROTOCOL: &str = "BUD_OBSERVE_PROTOCOL";
    /// The ClickHouse HTTP address spans are written to (BudMetrics' `otel_traces`).
    pub const CLICKHOUSE_URL: &str = "BUD_OBSERVE_CLICKHOUSE_URL";
    /// The ClickHouse database of `otel_traces`.
    pub const CLICKHOUSE_DATABASE: &str = "BUD_OBSERVE_CLICKHOUSE_DATABASE";
    /// The ClickHouse user.
    pub const CLICKHOUSE_USER: &str = "BUD_OBSERVE_CLICKHOUSE_USER";
    /// The ClickHouse user's password.
    pub const CLICKHOUSE_PASSWORD: &str = "BUD_OBSERVE_CLICKHOUSE_PASSWORD";
    /// Which collector generation's rows and schema the ClickHouse exporter follows: `0.96` or `current`.
    pub const CLICKHOUSE_COLLECTOR: &str = "BUD_OBSERVE_CLICKHOUSE_COLLECTOR";
    /// The standard OTLP endpoint, a fallback for [`ENDPOINT`].
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// The standard OTLP headers (values may be percent-encoded), a fallback for [`HEADERS`].
    pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
    /// The standard OTLP protocol, a fallback for [`PROTOCOL`].
    pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    /// `gzip` or `none`.
    pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
    /// The OTLP request timeout, in milliseconds.
    pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    /// The standard OpenTelemetry service name, a fallback for [`SERVICE_NAME`].
    pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    /// `http/dup` in its list: HTTP spans carry the old keys besides the stable ones (`HttpConventions`).
    pub const OTEL_SEMCONV_STABILITY_OPT_IN: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";
    /// The standard OpenTelemetry resource attributes, a fallback for [`RESOURCE_ATTRIBUTES`].
    pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
    /// Whether the resource is completed with what BudObserve detects (host, process, container, Kubernetes).
    pub const RESOURCE_DETECTION: &str = "BUD_OBSERVE_RESOURCE_DETECTION";
    /// The most attributes a span keeps (default 128).
    pub const OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT";
    /// The most attributes of anything (a fallback for the span, event and link limits).
    pub const OTEL_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_ATTRIBUTE_COUNT_LIMIT";
    /// The longest string value an attribute keeps, in characters (default unlimited).
    pub const OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT";
    /// The longest string value of a span's attribute (a more specific [`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`]).
    pub const OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT";
    /// The most events a span keeps (default 128).
    pub const OTEL_SPAN_EVENT_COUNT_LIMIT: &str = "OTEL_SPAN_EVENT_COUNT_LIMIT";
    /// The most links a span keeps (default 128).
    pub const OTEL_SPAN_LINK_COUNT_LIMIT: &str = "OTEL_SPAN_LINK_COUNT_LIMIT";
    /// The most attributes an event keeps (default 128).
    pub const OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT";
    /// The most attributes a link keeps (default 128).
    pub const OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT";
    /// Kubernetes' Downward API names for the pod, its uid, namespace and node, in the order they are tried.
    pub const K8S_POD_NAME: [&str; 3] = ["K8S_POD_NAME", "POD_NAME", "OTEL_RESOURCE_ATTRIBUTES_POD_NAME"];
    /// See [`K8S_POD_NAME`].
    pub const K8S_POD_UID: [&str; 3] = ["K8S_POD_UID", "POD_UID", "OTEL_RESOURCE_ATTRIBUTES_POD_UID"];
    /// See [`K8S_POD_NAME`].
    pub const K8S_NAMESPACE_NAME: [&str; 3] = ["K8S_NAMESPACE_NAME", "POD_NAMESPACE", "K8S_NAMESPACE"];
    /// See [`K8S_POD_NAME`].
    pub const K8S_NODE_NAME: [&str; 3] = ["K8S_NODE_NAME", "NODE_NAME", "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME"];
    /// Set in every Kubernetes pod: the pod's name is then the host name unless given.
    pub const KUBERNETES_SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";
    /// The host name, as shells export it.
    pub const HOSTNAME: &str = "HOSTNAME";
}

/// Names of the metrics BudObserve reports about itself.
pub mod metrics {
    /// Spans dropped before export (counter; attribute [`REASON`]).
    pub const SPANS_DROPPED: &str = "budobserve.spans.dropped";
    /// `http.server.request.duration` (histogram, seconds; semantic conventions).
    pub const HTTP_SERVER_REQUEST_DURATION: &str =
        opentelemetry_semantic_conventions::metric::HTTP_SERVER_REQUEST_DURATION;
    /// `gen_ai.client.operation.duration` (histogram, seconds; semantic conventions).
    pub const GEN_AI_CLIENT_OPERATION_DURATION: &str =
        opentelemetry_semantic_conventions::metric::GEN_AI_CLIENT_OPERATION_DURATION;
    /// `gen_ai.client.token.usage` (histogram, tokens; semantic conventions).
    pub const GEN_AI_CLIENT_TOKEN_USAGE: &str = opentelemetry_semantic_conventions::metric::GEN_AI_CLIENT_TOKEN_USAGE;
    /// `db.client.operation.duration` (histogram, seconds; semantic conventions).
    pub const DB_CLIENT_OPERATION_DURATION: &str =
        opentelemetry_semantic_conventions::metric::DB_CLIENT_OPERATION_DURATION;
    /// `http.client.request.duration` (histogram, seconds; semantic conventions).
    pub const HTTP_CLIENT_REQUEST_DURATION: &str =
        opentelemetry_semantic_conventions::metric::HTTP_CLIENT_REQUEST_DURATION;
    /// Why: `queue_full`, `export_failed`, `callback_failed` or `shutdown_deadline`.
    pub const REASON: &str = "reason";
    /// A tokio runtime's worker threads (gauge; `integrations::process::instrument_tokio`).
    pub const TOKIO_WORKERS: &str = "tokio.runtime.workers";
    /// A tokio runtime's tasks alive (gauge).
    pub const TOKIO_ALIVE_TASKS: &str = "tokio.runtime.alive_tasks";
    /// Tasks waiting in a tokio runtime's global queue (gauge).
    pub const TOKIO_GLOBAL_QUEUE_DEPTH: &str = "tokio.runtime.global_queue_depth";
}

-- BudObserve's client-side LLM calls in BudMetrics' usage and cost figures.
--
-- BudMetrics builds its per-project figures from `InferenceFact` (one row per inference) and the rollups its
-- materialized views fill from it (`InferenceMetrics5m`, `1h`, `1d`). Gateway inferences reach `InferenceFact`
-- through BudMetrics' own view over the gateway's `inference_handler_observability` spans. This view adds one
-- row for each LLM call a BudObserve service made itself (`budobserve.llm` client spans), so the same rollups and
-- queries count it: requests, tokens, cost (`gen_ai.inference_cost`, in USD), latency, per project, endpoint, model
-- and API key (the `bud.*` attributes of the bud context).
--
-- A call made through budgateway (`LlmMiddleware::provider("budgateway")`) is not folded: the gateway's own
-- spans, in the same trace (the call's trace context travels with it), already make its row. Its client span is
-- left out by its provider name, whatever order the two services' spans arrive in.
--
-- `{database}` is BudMetrics' database (where `otel_traces` and `InferenceFact` live). Statements are separated
-- by a line holding only `;`.

CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.budobserve_llm_to_inference_fact TO `{database}`.InferenceFact AS
SELECT
    generateUUIDv4() AS id,
    s.TraceId AS trace_id,
    s.SpanId AS span_id,
    CAST(NULL AS Nullable(UUID)) AS inference_id,
    toUUIDOrNull(nullIf(s.SpanAttributes['bud.project_id'], '')) AS project_id,
    toUUIDOrNull(nullIf(s.SpanAttributes['bud.endpoint_id'], '')) AS endpoint_id,
    toUUIDOrNull(nullIf(s.SpanAttributes['bud.model_id'], '')) AS model_id,
    toUUIDOrNull(nullIf(s.SpanAttributes['bud.api_key_id'], '')) AS api_key_id,
    toUUIDOrNull(nullIf(
        if(s.SpanAttributes['bud.api_key_project_id'] != '', s.SpanAttributes['bud.api_key_project_id'],
           s.SpanAttributes['bud.project_id']), '')) AS api_key_project_id,
    nullIf(s.SpanAttributes['bud.user_id'], '') AS user_id,
    toDateTime64(s.Timestamp, 3) AS timestamp,
    toDateTime64(s.Timestamp, 3) AS request_arrival_time,
    toDateTime64(s.Timestamp, 3) AS request_forward_time,
    s.StatusCode NOT IN ('Error', 'STATUS_CODE_ERROR') AS is_success,
    toFloat64OrNull(s.SpanAttributes['gen_ai.inference_cost']) AS cost,
    toUInt16OrNull(s.SpanAttributes['http.response.status_code']) AS status_code,
    nullIf(s.SpanAttributes['error.type'], '') AS error_code,
    nullIf(s.StatusMessage, '') AS error_message,
    nullIf(s.SpanAttributes['error.type'], '') AS error_type,
    if(s.SpanAttributes['gen_ai.response.model'] != '', s.SpanAttributes['gen_ai.response.model'],
       s.SpanAttributes['gen_ai.request.model']) AS model_name,
    s.SpanAttributes['gen_ai.provider.name'] AS model_provider,
    if(s.SpanAttributes['gen_ai.operation.name'] = 'embeddings', 'embedding', 'chat') AS endpoint_type,
    toUInt32OrNull(s.SpanAttributes['gen_ai.usage.input_tokens']) AS input_tokens,
    toUInt32OrNull(s.SpanAttributes['gen_ai.usage.output_tokens']) AS output_tokens,
    toUInt32(least(intDiv(s.Duration, 1000000), 4294967295)) AS response_time_ms,
    -- Seconds to milliseconds; absent, unreadable or out of UInt32's range: NULL.
    CAST(if(toFloat64OrNull(s.SpanAttributes['gen_ai.response.time_to_first_chunk']) * 1000 BETWEEN 0 AND 4294967295,
            round(toFloat64OrNull(s.SpanAttributes['gen_ai.response.time_to_first_chunk']) * 1000), NULL)
         AS Nullable(UInt32)) AS ttft_ms,
    false AS cached,
    CAST(multiIf(
        JSONExtractString(s.SpanAttributes['gen_ai.response.finish_reasons'], 1) = '', NULL,
        JSONExtractString(s.SpanAttributes['gen_ai.response.finish_reasons'], 1) = 'stop', 'stop',
        JSONExtractString(s.SpanAttributes['gen_ai.response.finish_reasons'], 1) = 'length', 'length',
        JSONExtractString(s.SpanAttributes['gen_ai.response.finish_reasons'], 1) IN ('tool_calls', 'tool_call'), 'tool_call',
        JSONExtractString(s.SpanAttributes['gen_ai.response.finish_reasons'], 1) = 'content_filter', 'content_filter',
        'unknown'
    ) AS Nullable(Enum8('stop' = 1, 'length' = 2, 'tool_call' = 3, 'content_filter' = 4, 'unknown' = 5))) AS finish_reason
FROM `{database}`.otel_traces AS s
WHERE s.ScopeName = 'budobserve.llm'
  AND s.SpanKind IN ('Client', 'SPAN_KIND_CLIENT')
  AND s.SpanAttributes['gen_ai.operation.name'] != ''
  AND s.SpanAttributes['gen_ai.provider.name'] != 'budgateway'
;

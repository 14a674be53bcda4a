//! The ClickHouse SQL that folds BudObserve's client-side LLM calls into BudMetrics' usage and cost figures
//! (`usage.sql`, shipped with the crate and tested against BudMetrics' own views).

use std::borrow::Cow;

use super::options::{IDENTIFIER_EXPECTED, identifier};
use crate::error::ConfigError;

/// The SQL, with `{database}` for BudMetrics' database.
const SQL: &str = include_str!("usage.sql");

/// The statements that make BudMetrics count the LLM calls BudObserve services make themselves, for BudMetrics'
/// `database` (where `otel_traces` and `InferenceFact` live): a materialized view from `otel_traces` into
/// `InferenceFact`, so BudMetrics' rollups (`InferenceMetrics5m`, `1h`, `1d`) and every query over them count each
/// call — requests, tokens, cost from `gen_ai.inference_cost`, latency — under the project, endpoint, model, API key and
/// user of its bud context (`bud.project_id`, …).
///
/// A call made through budgateway (an [`LlmMiddleware`](crate::integrations::llm::LlmMiddleware) with
/// `provider("budgateway")`) is left out: its trace joins the gateway's spans, and BudMetrics' own view already
/// makes its row from them. Run the statements once, after BudMetrics' migrations (they need `InferenceFact`), as
/// a user allowed to create views; `CREATE … IF NOT EXISTS` makes a second run harmless.
///
/// ```
/// let statements = budobserve::exporters::budmetrics::llm_usage_statements("metrics")?;
/// assert!(statements[0].starts_with("CREATE MATERIALIZED VIEW IF NOT EXISTS `metrics`.budobserve_llm_to_inference_fact"));
/// # Ok::<(), budobserve::ConfigError>(())
/// ```
pub fn llm_usage_statements(database: &str) -> Result<Vec<String>, ConfigError> {
    if !identifier(database) {
        return Err(ConfigError::InvalidOption {
            option: "clickhouse database",
            value: database.to_owned(),
            expected: Cow::Borrowed(IDENTIFIER_EXPECTED),
        });
    }
    Ok(statements(SQL).map(|statement| statement.replace("{database}", database)).collect())
}

/// The statements of `sql`: the text between lines holding only `;`, without the comment lines.
fn statements(sql: &str) -> impl Iterator<Item = String> {
    sql.split("\n;\n")
        .map(|part| part.lines().filter(|line| !line.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n"))
        .map(|statement| statement.trim().to_owned())
        .filter(|statement| !statement.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{bud, gen_ai, http};

    #[test]
    fn every_attribute_the_sql_reads_is_one_budobserve_writes() {
        let written = [
            bud::PROJECT_ID,
            bud::ENDPOINT_ID,
            bud::MODEL_ID,
            bud::API_KEY_ID,
            bud::API_KEY_PROJECT_ID,
            bud::USER_ID,
            gen_ai::INFERENCE_COST,
            gen_ai::USAGE_INPUT_TOKENS,
            gen_ai::USAGE_OUTPUT_TOKENS,
            gen_ai::RESPONSE_MODEL,
            gen_ai::REQUEST_MODEL,
            gen_ai::PROVIDER_NAME,
            gen_ai::OPERATION_NAME,
            gen_ai::RESPONSE_TIME_TO_FIRST_CHUNK,
            gen_ai::RESPONSE_FINISH_REASONS,
            http::RESPONSE_STATUS_CODE,
            http::ERROR_TYPE,
        ];
        let read: Vec<&str> = SQL
            .split("SpanAttributes['")
            .skip(1)
            .filter_map(|rest| rest.split_once("']").map(|(key, _)| key))
            .collect();
        assert!(read.len() > 20, "{read:?}");
        for key in read {
            assert!(written.contains(&key), "the SQL reads `{key}`, which BudObserve does not write");
        }
    }

    #[test]
    fn the_database_is_checked_and_put_in_every_statement() {
        let statements = llm_usage_statements("bud_metrics").unwrap();
        assert_eq!(statements.len(), 1);
        assert!(!statements[0].contains("{database}") && !statements[0].contains("--"));
        assert_eq!(statements[0].matches("`bud_metrics`.").count(), 3);
        assert!(llm_usage_statements("metrics`; DROP TABLE x").is_err());
    }
}

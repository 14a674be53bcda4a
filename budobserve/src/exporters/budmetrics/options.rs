//! Where and how spans are written to ClickHouse: the options, their variables, and the checked target.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::time::Duration;

use super::schema::{CollectorGeneration, create_statements};
use crate::config::setting::{EnvSource, Setting, base_url, text};
use crate::constants::env;
use crate::error::ConfigError;
use crate::exporters::batch::BatchOptions;

/// The database of BudMetrics' spans.
pub const DEFAULT_DATABASE: &str = "metrics";
/// The table of BudMetrics' spans.
pub const DEFAULT_TABLE: &str = "otel_traces";

/// How rows are encoded on the wire.
///
/// ```
/// use budobserve::exporters::budmetrics::{ClickHouseOptions, InsertFormat};
///
/// // JSON rows: slower to encode, readable in ClickHouse's query log.
/// let _options = ClickHouseOptions::new("http://clickhouse:8123").format(InsertFormat::JsonEachRow);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InsertFormat {
    /// `RowBinaryWithNamesAndTypes`: binary columns after a header of names and types (checked by the server).
    #[default]
    RowBinary,
    /// `JSONEachRow`: one JSON object per row.
    JsonEachRow,
}

impl InsertFormat {
    /// The format's name in ClickHouse.
    pub fn name(self) -> &'static str {
        match self {
            InsertFormat::RowBinary => "RowBinaryWithNamesAndTypes",
            InsertFormat::JsonEachRow => "JSONEachRow",
        }
    }
}

/// Where and how spans are written to ClickHouse. Built with [`ClickHouseOptions::new`]; the database, user and
/// password not given here come from `BUD_OBSERVE_CLICKHOUSE_DATABASE`, `_USER`, `_PASSWORD` when configured
/// through [`ConfigBuilder::clickhouse`](crate::ConfigBuilder::clickhouse).
///
/// ```
/// use std::time::Duration;
///
/// use budobserve::BatchOptions;
/// use budobserve::exporters::budmetrics::{ClickHouseOptions, InsertFormat};
///
/// let clickhouse = ClickHouseOptions::new("http://clickhouse.budmetrics:8123")
///     .credentials("writer", "secret")
///     .ttl(Duration::from_secs(30 * 86_400))              // for the table it creates when missing
///     .format(InsertFormat::RowBinary)
///     .batch_options(BatchOptions::new().max_export_batch_size(4_096).max_queue_size(16_384));
/// let _config = budobserve::configure().clickhouse(clickhouse).build();
/// ```
#[derive(Clone)]
pub struct ClickHouseOptions {
    pub(super) url: String,
    pub(super) database: Option<String>,
    pub(super) table: Option<String>,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) create_schema: bool,
    pub(super) ttl: Option<Duration>,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
    pub(super) format: InsertFormat,
    pub(super) compression: bool,
    pub(super) batch: Option<BatchOptions>,
    pub(super) generation: Option<CollectorGeneration>,
    pub(super) concurrent_inserts: usize,
}

impl fmt::Debug for ClickHouseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseOptions")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("table", &self.table)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("create_schema", &self.create_schema)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("format", &self.format)
            .field("compression", &self.compression)
            .field("batch", &self.batch)
            .field("collector", &self.generation)
            .field("concurrent_inserts", &self.concurrent_inserts)
            .finish()
    }
}

impl ClickHouseOptions {
    /// Spans go to the ClickHouse HTTP interface at `url` (`http://host:8123`; `https://` needs the
    /// `clickhouse-tls` feature), into `metrics.otel_traces`.
    pub fn new(url: impl Into<String>) -> ClickHouseOptions {
        ClickHouseOptions {
            url: url.into(),
            database: None,
            table: None,
            user: None,
            password: None,
            create_schema: true,
            ttl: None,
            timeout: Duration::from_secs(10),
            retries: 3,
            format: InsertFormat::RowBinary,
            compression: false,
            batch: None,
            generation: None,
            concurrent_inserts: 2,
        }
    }

    /// The database (default `metrics`): letters, digits and `_`, not starting with a digit.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    /// The table (default `otel_traces`): letters, digits and `_`, not starting with a digit.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// The user and password (sent as `X-ClickHouse-User` / `X-ClickHouse-Key`; never printed).
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Whether the database and table are created when missing (default on).
    pub fn create_schema(mut self, create: bool) -> Self {
        self.create_schema = create;
        self
    }

    /// How long rows are kept, for the table the exporter creates (`TTL toDateTime(Timestamp) + …`; whole
    /// seconds; default: kept forever).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The longest an export may take, retries included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a failed insert is retried (default 3), within the timeout.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wire format (default [`InsertFormat::RowBinary`]).
    pub fn format(mut self, format: InsertFormat) -> Self {
        self.format = format;
        self
    }

    /// Whether request bodies are gzip-compressed (default off: the CPU of the export thread against bandwidth).
    pub fn compression(mut self, gzip: bool) -> Self {
        self.compression = gzip;
        self
    }

    /// The batching of this exporter (default: the instance's
    /// [`batch_options`](crate::ConfigBuilder::batch_options)). ClickHouse favours fewer, larger inserts (each
    /// insert makes a part on disk): with several service instances writing one table, a larger
    /// [`max_export_batch_size`](BatchOptions::max_export_batch_size) (and a queue to hold it) keeps the parts few;
    /// `BENCHMARKS.md` shows the throughput of 512 and 4,096 spans per insert.
    pub fn batch_options(mut self, options: BatchOptions) -> Self {
        self.batch = Some(options);
        self
    }

    /// Which collector's rows and schema to follow (default [`CollectorGeneration::Contrib0_96`], what the platform
    /// deploys; `BUD_OBSERVE_CLICKHOUSE_COLLECTOR` when not given here). An existing table's column types win over
    /// it (see [`CollectorGeneration`]).
    pub fn collector(mut self, generation: CollectorGeneration) -> Self {
        self.generation = Some(generation);
        self
    }

    /// How many inserts may be in flight at once (default 2, at least 1): while ClickHouse stores one batch, the
    /// next is encoded and sent. ClickHouse runs concurrent inserts into one table (each makes its own part); more
    /// than a few only adds parts to merge.
    pub fn max_concurrent_inserts(mut self, inserts: usize) -> Self {
        self.concurrent_inserts = inserts.max(1);
        self
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The checked settings of an exporter.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) url: String,
    pub(super) database: String,
    pub(super) table: String,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    /// `{url}/?query=INSERT…` and `{url}/?query=` (for the DDL, sent in the body).
    pub(super) insert_url: String,
    /// `CREATE DATABASE`, then the collector's table, lookup table and view.
    pub(super) create_statements: Vec<String>,
    /// Lists the table's columns (`name\ttype` lines).
    pub(super) columns_query: String,
    pub(super) create_schema: bool,
    pub(super) generation: CollectorGeneration,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
    pub(super) format: InsertFormat,
    pub(super) compression: bool,
}

pub(super) const IDENTIFIER_EXPECTED: &str = "a name of letters, digits and `_`, not starting with a digit";

pub(super) fn identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `text` for a URL's query string.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

impl Target {
    /// Checks `options`: the URL, database and table names, the timeout.
    pub(super) fn new(options: ClickHouseOptions) -> Result<Target, ConfigError> {
        let invalid = |option: &'static str, value: &str, expected: Cow<'static, str>| ConfigError::InvalidOption {
            option,
            value: value.to_owned(),
            expected,
        };
        let url = clickhouse_url(&options.url).map_err(|expected| invalid(URL.option, &options.url, expected))?;
        let database = options.database.unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let table = options.table.unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        for (option, name) in [(DATABASE.option, &database), ("clickhouse table", &table)] {
            if !identifier(name) {
                return Err(invalid(option, name, IDENTIFIER_EXPECTED.into()));
            }
        }
        if options.timeout.is_zero() {
            return Err(invalid("clickhouse timeout", "0s", "a timeout above zero".into()));
        }
        let generation = options.generation.unwrap_or_default();
        let insert = format!("INSERT INTO `{database}`.`{table}` FORMAT {}", options.format.name());
        Ok(Target {
            insert_url: format!("{url}/?query={}", percent_encode(&insert)),
            create_statements: std::iter::once(format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
                .chain(create_statements(generation, &database, &table, options.ttl))
                .collect(),
            // The names are identifiers (checked above): nothing to quote.
            columns_query: format!(
                "SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{table}' \
                 ORDER BY position FORMAT TabSeparated"
            ),
            generation,
            url,
            database,
            table,
            user: options.user,
            password: options.password,
            create_schema: options.create_schema,
            timeout: options.timeout,
            retries: options.retries,
            format: options.format,
            compression: options.compression,
        })
    }
}

const URL: Setting<String> =
    Setting { option: "clickhouse url", variables: &[env::CLICKHOUSE_URL], parse: clickhouse_url };
const DATABASE: Setting<String> =
    Setting { option: "clickhouse database", variables: &[env::CLICKHOUSE_DATABASE], parse: database };
const USER: Setting<String> = Setting { option: "clickhouse", variables: &[env::CLICKHOUSE_USER], parse: text };
const PASSWORD: Setting<String> = Setting { option: "clickhouse", variables: &[env::CLICKHOUSE_PASSWORD], parse: text };
const COLLECTOR: Setting<CollectorGeneration> =
    Setting { option: "clickhouse collector", variables: &[env::CLICKHOUSE_COLLECTOR], parse: generation };

fn generation(name: &str) -> Result<CollectorGeneration, Cow<'static, str>> {
    CollectorGeneration::from_name(name).ok_or(Cow::Borrowed(
        "`0.96` (collector-contrib before PR #34799: SPAN_KIND_SERVER, STATUS_CODE_ERROR, Duration Int64) or \
         `current` (Server, Error, Duration UInt64)",
    ))
}

fn clickhouse_url(url: &str) -> Result<String, Cow<'static, str>> {
    base_url(url, cfg!(feature = "clickhouse-tls"), "clickhouse-tls", 8123)
}

fn database(name: &str) -> Result<String, Cow<'static, str>> {
    if identifier(name) { Ok(name.to_owned()) } else { Err(IDENTIFIER_EXPECTED.into()) }
}

/// The ClickHouse options: the builder's, else `BUD_OBSERVE_CLICKHOUSE_URL`'s; the database, user and password not
/// given there from their variables. A value from a variable is checked here, so that an error names it.
pub(crate) fn resolve(
    given: Option<ClickHouseOptions>,
    env: &EnvSource,
) -> Result<Option<ClickHouseOptions>, ConfigError> {
    let mut options = match given {
        Some(options) => options,
        None => match URL.read_env(env)? {
            Some(url) => ClickHouseOptions::new(url),
            None => return Ok(None),
        },
    };
    options.database = DATABASE.resolve(options.database.take(), env)?;
    options.user = USER.resolve(options.user.take(), env)?;
    options.password = PASSWORD.resolve(options.password.take(), env)?;
    options.generation = COLLECTOR.resolve(options.generation.take(), env)?;
    Ok(Some(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_printed() {
        let options = ClickHouseOptions::new("http://ch:8123").credentials("writer", "hunter2");
        let printed = format!("{options:?}");
        assert!(printed.contains("writer") && !printed.contains("hunter2"), "{printed}");
    }
}

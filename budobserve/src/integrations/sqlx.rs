//! PostgreSQL client spans for sqlx (feature `sqlx`).
//!
//! [`InstrumentedPool`] stands where a service used its `PgPool`: queries keep their shape
//! (`sqlx::query(..).fetch_all(&pool)`), transactions are begun from it, connections acquired from it:
//!
//! ```no_run
//! # async fn demo() -> Result<(), sqlx::Error> {
//! use budobserve::integrations::sqlx::InstrumentedPool;
//!
//! let pool = InstrumentedPool::new(sqlx::PgPool::connect("postgres://localhost/app").await?);
//! let rows = sqlx::query("SELECT id FROM users WHERE org = $1").bind(7).fetch_all(&pool).await?;
//! let mut tx = pool.begin().await?;
//! sqlx::query("UPDATE users SET active = true WHERE org = $1").bind(7).execute(&mut tx).await?;
//! tx.commit().await?;
//! # drop(rows);
//! # Ok(()) }
//! ```
//!
//! Each query is a client span named `"{operation} {table}"` when the table can be read from the statement
//! (`SELECT users`), else the operation (`SELECT`), with `db.system.name = "postgresql"`, `db.namespace` (the
//! database), `db.query.text` (the statement as sent — parameters stay `$1`, values are never inlined — cut at
//! [`max_query_length`](InstrumentedPool::max_query_length)), `db.operation.name`, `db.collection.name`,
//! `server.address`, `server.port` and `db.response.returned_rows`. A failed query is an error with the SQLSTATE as
//! `db.response.status_code` and `error.type` (`42601`, `23505`, …). Waiting for a pool connection is a child span
//! `acquire connection` at debug level. `BEGIN`, `COMMIT` and `ROLLBACK` of an [`InstrumentedTransaction`] are
//! spans too. A streamed query's span lasts until its stream ends or is dropped. `db.client.operation.duration`
//! (seconds) is recorded per query. Spans are written under the instrumentation scope `budobserve.sqlx`.
//!
//! Not provided: a SQL commenter (`traceparent` appended to each statement) — a statement text that differs per
//! request defeats sqlx's prepared-statement cache.

use std::borrow::Cow;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_core::future::BoxFuture;
use futures_core::stream::{BoxStream, Stream};
use futures_util::{FutureExt as _, TryStreamExt as _};
use opentelemetry::context::FutureExt as _;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::Status;
use opentelemetry::{Context, KeyValue};
use sqlx::postgres::{PgConnection, PgQueryResult, PgRow, PgStatement, PgTypeInfo, Postgres};
use sqlx::{Describe, Either, Execute, Executor, PgPool};
use sqlx_core::ext::async_stream::TryAsyncStream;

use super::timed::{self, TimedSpan};
use crate::constants::{self, db as keys, http};
use crate::level::Level;
use crate::observe::BudObserve;

/// The instrumentation scope of the spans this integration writes.
pub const SCOPE: &str = "budobserve.sqlx";

/// What every span of one pool shares.
#[derive(Clone)]
struct Shared {
    observe: BudObserve,
    duration: Histogram<f64>,
    /// `db.system.name`, `db.namespace`, `server.address`, `server.port`.
    target: Vec<KeyValue>,
    max_query_length: usize,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("target", &self.target).finish_non_exhaustive()
    }
}

/// A `PgPool` whose queries are spans (see the [module](self)). Cheap to clone, like the pool.
///
/// ```
/// use budobserve::integrations::sqlx::InstrumentedPool;
///
/// async fn connect() -> Result<InstrumentedPool, sqlx::Error> {
///     let pool = sqlx::PgPool::connect("postgres://localhost/budmodel").await?;
///     Ok(InstrumentedPool::new(pool).max_query_length(4096))
/// }
/// # drop(connect);
/// ```
#[derive(Clone, Debug)]
pub struct InstrumentedPool {
    pool: PgPool,
    shared: Arc<Shared>,
}

impl InstrumentedPool {
    /// `pool`, writing to the instance current now.
    pub fn new(pool: PgPool) -> InstrumentedPool {
        InstrumentedPool::for_instance(&crate::current(), pool)
    }

    /// `pool`, writing to `observe`.
    pub fn for_instance(observe: &BudObserve, pool: PgPool) -> InstrumentedPool {
        let (observe, duration) = super::handle::scoped(
            observe,
            SCOPE,
            constants::metrics::DB_CLIENT_OPERATION_DURATION,
            "Duration of database client operations.",
        );
        let options = pool.connect_options();
        let mut target = vec![KeyValue::new(keys::SYSTEM_NAME, "postgresql")];
        if let Some(database) = options.get_database() {
            target.push(KeyValue::new(keys::NAMESPACE, database.to_owned()));
        }
        target.push(KeyValue::new(http::SERVER_ADDRESS, options.get_host().to_owned()));
        target.push(KeyValue::new(http::SERVER_PORT, i64::from(options.get_port())));
        InstrumentedPool { pool, shared: Arc::new(Shared { observe, duration, target, max_query_length: 2048 }) }
    }

    /// The longest `db.query.text` recorded, in bytes (default 2,048; longer statements are cut, `…` marking the
    /// cut).
    pub fn max_query_length(mut self, bytes: usize) -> InstrumentedPool {
        Arc::make_mut(&mut self.shared).max_query_length = bytes;
        self
    }

    /// The pool.
    pub fn inner(&self) -> &PgPool {
        &self.pool
    }

    /// Begins a transaction (a `BEGIN` span).
    pub async fn begin(&self) -> Result<InstrumentedTransaction, sqlx::Error> {
        let (mut timed, context) = self.shared.start_statement("BEGIN");
        let result = self.pool.begin().with_context(context).await;
        finish(&mut timed, result.as_ref().err(), None);
        Ok(InstrumentedConnection { inner: result?, shared: Arc::clone(&self.shared) })
    }

    /// Acquires a connection for several queries (an `acquire connection` span at debug level).
    pub async fn acquire(&self) -> Result<InstrumentedConnection<sqlx::pool::PoolConnection<Postgres>>, sqlx::Error> {
        let connection = self.shared.acquire(&self.pool, Context::current()).await?;
        Ok(InstrumentedConnection { inner: connection, shared: Arc::clone(&self.shared) })
    }
}

/// A connection or transaction whose queries are spans; `&mut` of it is an `Executor`.
///
/// ```
/// use budobserve::integrations::sqlx::InstrumentedPool;
///
/// async fn report(pool: &InstrumentedPool) -> Result<i64, sqlx::Error> {
///     let mut connection = pool.acquire().await?;          // `acquire connection` at debug level
///     sqlx::query("SET statement_timeout = 5000").execute(&mut connection).await?;
///     sqlx::query_scalar("SELECT count(*) FROM reports").fetch_one(&mut connection).await
/// }
/// # drop(report);
/// ```
pub struct InstrumentedConnection<C> {
    inner: C,
    shared: Arc<Shared>,
}

/// A transaction begun with [`InstrumentedPool::begin`]: `COMMIT` and `ROLLBACK` are spans. Dropped without
/// either, sqlx rolls it back.
///
/// ```
/// use budobserve::integrations::sqlx::InstrumentedPool;
///
/// async fn transfer(pool: &InstrumentedPool) -> Result<(), sqlx::Error> {
///     let mut tx = pool.begin().await?;                    // a `BEGIN` span
///     sqlx::query("UPDATE quotas SET used = used + 1 WHERE project = $1").bind("proj-1").execute(&mut tx).await?;
///     tx.commit().await                                    // a `COMMIT` span
/// }
/// # drop(transfer);
/// ```
pub type InstrumentedTransaction = InstrumentedConnection<sqlx::Transaction<'static, Postgres>>;

impl<C> fmt::Debug for InstrumentedConnection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnection").field("target", &self.shared.target).finish_non_exhaustive()
    }
}

impl<C> Deref for InstrumentedConnection<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.inner
    }
}

impl<C> DerefMut for InstrumentedConnection<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.inner
    }
}

impl InstrumentedTransaction {
    /// Commits (a `COMMIT` span).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let (mut timed, context) = self.shared.start_statement("COMMIT");
        let result = self.inner.commit().with_context(context).await;
        finish(&mut timed, result.as_ref().err(), None);
        result
    }

    /// Rolls back (a `ROLLBACK` span).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let (mut timed, context) = self.shared.start_statement("ROLLBACK");
        let result = self.inner.rollback().with_context(context).await;
        finish(&mut timed, result.as_ref().err(), None);
        result
    }
}

/// The operation and table of a statement, as far as its text tells.
fn summarize(sql: &str) -> (String, Option<String>) {
    let mut words = Words::new(sql);
    let operation = words.next().map_or_else(|| "QUERY".to_owned(), |w| w.to_ascii_uppercase());
    let after = match operation.as_str() {
        "SELECT" | "DELETE" => Some("FROM"),
        "INSERT" => Some("INTO"),
        "UPDATE" => None,
        _ => return (operation, None),
    };
    let table = match after {
        None => words.next(),
        Some(keyword) => {
            let mut found = None;
            while let Some(word) = words.next() {
                if words.depth == 0 && word.eq_ignore_ascii_case(keyword) {
                    found = words.next();
                    break;
                }
            }
            found
        }
    };
    let table = table.map(|t| t.trim_matches('"').to_owned()).filter(|t| !t.is_empty() && !t.starts_with('('));
    (operation, table)
}

/// The words of a statement outside string literals, with the parenthesis depth they stand at.
struct Words<'a> {
    rest: &'a str,
    depth: i32,
}

impl<'a> Words<'a> {
    fn new(sql: &'a str) -> Words<'a> {
        Words { rest: sql, depth: 0 }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let mut chars = self.rest.char_indices();
            let (start, c) = chars.next()?;
            match c {
                '(' => {
                    self.depth += 1;
                    self.rest = &self.rest[start + 1..];
                }
                ')' => {
                    self.depth -= 1;
                    self.rest = &self.rest[start + 1..];
                }
                '\'' => {
                    // A string literal: skipped whole ('' escapes a quote).
                    let end = self.rest[1..].find('\'').map_or(self.rest.len(), |i| i + 2);
                    self.rest = &self.rest[end..];
                }
                c if c.is_alphanumeric() || c == '_' || c == '"' || c == '.' => {
                    let end = self
                        .rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '"' || c == '.' || c == '$'))
                        .unwrap_or(self.rest.len());
                    let word = &self.rest[..end];
                    self.rest = &self.rest[end..];
                    return Some(word);
                }
                c => self.rest = &self.rest[c.len_utf8()..],
            }
        }
    }
}

impl Shared {
    /// A timed span for `sql`: its name and attributes from the statement.
    fn start_query(&self, sql: &str) -> (TimedSpan, Context) {
        let (operation, table) = summarize(sql);
        let mut attributes = Vec::with_capacity(self.target.len() + 3);
        attributes.extend(self.target.iter().cloned());
        attributes
            .push(KeyValue::new(keys::QUERY_TEXT, crate::text::truncate(sql, self.max_query_length).into_owned()));
        attributes.push(KeyValue::new(keys::OPERATION_NAME, operation.clone()));
        let name: Cow<'static, str> = match table {
            Some(table) => {
                let name = format!("{operation} {table}");
                attributes.push(KeyValue::new(keys::COLLECTION_NAME, table));
                Cow::Owned(name)
            }
            None => Cow::Owned(operation.clone()),
        };
        let (span, context) = timed::start_client_span(&self.observe, name, attributes);
        (TimedSpan::new(span, &self.duration, metric_attributes(operation)), context)
    }

    /// A timed span for a transaction statement.
    fn start_statement(&self, statement: &'static str) -> (TimedSpan, Context) {
        let mut attributes = Vec::with_capacity(self.target.len() + 2);
        attributes.extend(self.target.iter().cloned());
        attributes.push(KeyValue::new(keys::OPERATION_NAME, statement));
        attributes.push(KeyValue::new(keys::QUERY_TEXT, statement));
        let (span, context) = timed::start_client_span(&self.observe, statement, attributes);
        (TimedSpan::new(span, &self.duration, metric_attributes(statement.to_owned())), context)
    }

    /// A pool connection, its wait a debug-level child span of `parent`.
    async fn acquire(
        &self,
        pool: &PgPool,
        parent: Context,
    ) -> Result<sqlx::pool::PoolConnection<Postgres>, sqlx::Error> {
        let mut span = self.observe.span_builder("acquire connection").level(Level::Debug).parent(parent).start();
        let result = pool.acquire().await;
        if let Err(err) = &result {
            span.set_attribute(KeyValue::new(http::ERROR_TYPE, error_kind(err)));
            span.set_status(Status::error(err.to_string()));
            span.set_level(Level::Error);
        }
        span.end();
        result
    }
}

/// The attributes of `db.client.operation.duration`.
fn metric_attributes(operation: String) -> Vec<KeyValue> {
    vec![KeyValue::new(keys::SYSTEM_NAME, "postgresql"), KeyValue::new(keys::OPERATION_NAME, operation)]
}

/// Ends a query's span (unless ended already): rows, or the error with its SQLSTATE.
fn finish(timed: &mut TimedSpan, error: Option<&sqlx::Error>, rows: Option<u64>) {
    let Some(span) = timed.span() else { return };
    if let Some(rows) = rows {
        span.set_attribute(KeyValue::new(keys::RESPONSE_RETURNED_ROWS, rows as i64));
    }
    if let Some(err) = error {
        let code = match err {
            sqlx::Error::Database(db_err) => db_err.code().map(Cow::into_owned),
            _ => None,
        };
        let kind = code.clone().unwrap_or_else(|| error_kind(err).to_owned());
        timed.fail(kind, code, err.to_string());
    }
    timed.end();
}

/// `error.type` of an sqlx error that carries no SQLSTATE.
fn error_kind(err: &sqlx::Error) -> &'static str {
    match err {
        sqlx::Error::Io(_) => "io",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::Protocol(_) => "protocol",
        sqlx::Error::RowNotFound => "row_not_found",
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode",
        sqlx::Error::Database(_) => "database",
        _ => "sqlx::Error",
    }
}

pin_project_lite::pin_project! {
    /// A query's rows, its span ending with the stream (or when it is dropped).
    struct InstrumentedStream<'e> {
        #[pin]
        inner: BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>,
        state: Option<QueryState>,
        context: Context,
    }
}

/// A streamed query's span and the rows seen; the span ends at the stream's end, its first error, or its drop.
struct QueryState {
    timed: TimedSpan,
    rows: u64,
}

impl QueryState {
    fn end(&mut self, error: Option<&sqlx::Error>) {
        finish(&mut self.timed, error, Some(self.rows));
    }
}

impl Drop for QueryState {
    fn drop(&mut self) {
        self.end(None);
    }
}

impl Stream for InstrumentedStream<'_> {
    type Item = Result<Either<PgQueryResult, PgRow>, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let _entered = this.state.is_some().then(|| this.context.clone().attach());
        let poll = this.inner.poll_next(cx);
        match &poll {
            Poll::Ready(Some(Ok(Either::Right(_)))) => {
                if let Some(state) = this.state {
                    state.rows += 1;
                }
            }
            Poll::Ready(Some(Err(err))) => {
                if let Some(mut state) = this.state.take() {
                    state.end(Some(err));
                }
            }
            Poll::Ready(None) => drop(this.state.take()),
            _ => {}
        }
        poll
    }
}

/// Runs `query` on a connection from `connection` (acquired, or given), in a span.
fn fetch_many<'e, 'q: 'e, E>(
    shared: &Arc<Shared>,
    query: E,
    connection: Source<'e>,
) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
where
    E: 'q + Execute<'q, Postgres>,
{
    let (timed, context) = shared.start_query(query.sql());
    let inner: BoxStream<'e, _> = match connection {
        Source::Pool(pool) => {
            let shared = Arc::clone(shared);
            let parent = context.clone();
            Box::pin(TryAsyncStream::new(move |yielder| async move {
                let mut conn = shared.acquire(&pool, parent).await?;
                let mut rows = conn.fetch_many(query);
                while let Some(row) = rows.try_next().await? {
                    yielder.r#yield(row).await;
                }
                Ok(())
            }))
        }
        Source::Connection(conn) => conn.fetch_many(query),
    };
    let state = QueryState { timed, rows: 0 };
    Box::pin(InstrumentedStream { inner, state: Some(state), context })
}

/// Runs `query` for at most one row, in a span.
fn fetch_optional<'e, 'q: 'e, E>(
    shared: &Arc<Shared>,
    query: E,
    connection: Source<'e>,
) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
where
    E: 'q + Execute<'q, Postgres>,
{
    let (mut timed, context) = shared.start_query(query.sql());
    let shared = Arc::clone(shared);
    async move {
        let result = match connection {
            Source::Pool(pool) => match shared.acquire(&pool, context.clone()).await {
                Ok(mut conn) => conn.fetch_optional(query).with_context(context).await,
                Err(err) => Err(err),
            },
            Source::Connection(conn) => conn.fetch_optional(query).with_context(context).await,
        };
        let rows = result.as_ref().ok().map(|row| u64::from(row.is_some()));
        finish(&mut timed, result.as_ref().err(), rows);
        result
    }
    .boxed()
}

/// Where a query runs.
enum Source<'e> {
    Pool(PgPool),
    Connection(&'e mut PgConnection),
}

impl<'p> Executor<'p> for &'_ InstrumentedPool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        fetch_many(&self.shared, query, Source::Pool(self.pool.clone()))
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        fetch_optional(&self.shared, query, Source::Pool(self.pool.clone()))
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.pool.clone();
        async move { (&pool).prepare_with(sql, parameters).await }.boxed()
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.pool.clone();
        async move { (&pool).describe(sql).await }.boxed()
    }
}

impl<'c, C> Executor<'c> for &'c mut InstrumentedConnection<C>
where
    C: DerefMut<Target = PgConnection> + Send + fmt::Debug,
{
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let InstrumentedConnection { inner, shared } = self;
        fetch_many(shared, query, Source::Connection(inner))
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let InstrumentedConnection { inner, shared } = self;
        fetch_optional(shared, query, Source::Connection(inner))
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.inner).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.inner).describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_summarized_by_operation_and_table() {
        let cases = [
            ("SELECT id, name FROM users WHERE id = $1", ("SELECT", Some("users"))),
            ("select * from public.orders o join items i on true", ("SELECT", Some("public.orders"))),
            ("SELECT (SELECT count(*) FROM a) FROM b", ("SELECT", Some("b"))),
            ("SELECT 'from x' FROM \"Accounts\"", ("SELECT", Some("Accounts"))),
            ("INSERT INTO users (name) VALUES ($1) RETURNING id", ("INSERT", Some("users"))),
            ("UPDATE users SET name = $1", ("UPDATE", Some("users"))),
            ("DELETE FROM sessions WHERE expires < now()", ("DELETE", Some("sessions"))),
            ("SELECT 1", ("SELECT", None)),
            ("CREATE TABLE t (id int)", ("CREATE", None)),
            ("  ", ("QUERY", None)),
        ];
        for (sql, (operation, table)) in cases {
            let (op, tb) = summarize(sql);
            assert_eq!((op.as_str(), tb.as_deref()), (operation, table), "{sql}");
        }
    }
}

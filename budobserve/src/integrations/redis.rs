//! Redis client spans for the `redis` crate's async connections (feature `redis`).
//!
//! [`RedisTracing::instrument`] wraps any async connection — a `MultiplexedConnection`, a `ConnectionManager`, or
//! anything implementing `redis::aio::ConnectionLike` — into one that implements the same trait, so commands
//! (`AsyncCommands`, `redis::cmd(..).query_async`, pipelines) are written as before:
//!
//! ```no_run
//! # async fn demo() -> redis::RedisResult<()> {
//! use budobserve::integrations::redis::RedisTracing;
//! use redis::AsyncCommands as _;
//!
//! let client = redis::Client::open("redis://127.0.0.1:6379/0")?;
//! let mut connection = RedisTracing::new(&client).instrument(client.get_multiplexed_async_connection().await?);
//! let _: () = connection.set("user:42", "alice").await?;
//! # Ok(()) }
//! ```
//!
//! Each command is a client span named after it (`GET`), each pipeline one span named `PIPELINE` (with
//! `db.operation.batch.size`), with `db.system.name = "redis"`, `db.operation.name`, `db.query.text` (the command
//! and its arguments, each cut at [`max_argument_length`](RedisTracing::max_argument_length) and scrubbed like
//! every attribute; the arguments of `AUTH` and `HELLO` are never recorded), `db.namespace` (the database index),
//! `server.address` and `server.port`. An error reply or a failed connection marks the span as an error with the
//! server's code as `db.response.status_code` (`WRONGTYPE`, `NOAUTH`, …) and `error.type`. The trace context is
//! current while a command runs. `db.client.operation.duration` (seconds) is recorded per command or pipeline.
//! Spans are written under the instrumentation scope `budobserve.redis`.

use std::fmt::Write as _;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::metrics::Histogram;
use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, ServerError};

use super::timed::{self, TimedSpan};
use crate::constants::{self, db as keys, http};
use crate::observe::BudObserve;

/// The instrumentation scope of the spans this integration writes.
pub const SCOPE: &str = "budobserve.redis";

/// Commands whose arguments are credentials: recorded as `AUTH ?`.
const SECRET_COMMANDS: [&str; 2] = ["AUTH", "HELLO"];

/// How connections of one Redis client are instrumented (see the [module](self)).
///
/// ```
/// use budobserve::integrations::redis::RedisTracing;
///
/// async fn connect() -> redis::RedisResult<()> {
///     let client = redis::Client::open("redis://127.0.0.1:6379/0")?;
///     let tracing = RedisTracing::new(&client).max_argument_length(64);
///     let _cache = tracing.instrument(client.get_multiplexed_async_connection().await?);
///     Ok(())
/// }
/// # drop(connect);
/// ```
#[derive(Clone, Debug)]
pub struct RedisTracing {
    shared: Arc<Shared>,
}

#[derive(Clone, Debug)]
struct Shared {
    observe: BudObserve,
    duration: Histogram<f64>,
    /// `db.system.name`, `server.address`, `server.port`: the same for every command.
    target: Vec<KeyValue>,
    max_argument_length: usize,
}

impl RedisTracing {
    /// Instrumentation writing to the instance current now, for connections of `client` (its address and
    /// database are recorded).
    pub fn new(client: &redis::Client) -> RedisTracing {
        RedisTracing::for_instance(&crate::current(), client)
    }

    /// Instrumentation writing to `observe`, for connections of `client`.
    pub fn for_instance(observe: &BudObserve, client: &redis::Client) -> RedisTracing {
        let (observe, duration) = super::handle::scoped(
            observe,
            SCOPE,
            constants::metrics::DB_CLIENT_OPERATION_DURATION,
            "Duration of database client operations.",
        );
        let info = client.get_connection_info();
        let mut target = vec![KeyValue::new(keys::SYSTEM_NAME, "redis")];
        match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                target.push(KeyValue::new(http::SERVER_ADDRESS, host.clone()));
                target.push(KeyValue::new(http::SERVER_PORT, i64::from(*port)));
            }
            ConnectionAddr::Unix(path) => {
                target.push(KeyValue::new(http::SERVER_ADDRESS, path.display().to_string()));
            }
            _ => {}
        }
        RedisTracing { shared: Arc::new(Shared { observe, duration, target, max_argument_length: 64 }) }
    }

    /// The longest argument recorded in `db.query.text`, in bytes (default 64; longer ones are cut, `…` marking
    /// the cut).
    pub fn max_argument_length(mut self, bytes: usize) -> RedisTracing {
        Arc::make_mut(&mut self.shared).max_argument_length = bytes;
        self
    }

    /// `connection`, with a span per command and pipeline.
    pub fn instrument<C: ConnectionLike>(&self, connection: C) -> InstrumentedConnection<C> {
        InstrumentedConnection { inner: connection, shared: Arc::clone(&self.shared) }
    }
}

/// An async Redis connection with a span per command and pipeline (see [`RedisTracing::instrument`]).
///
/// ```
/// use budobserve::integrations::redis::RedisTracing;
///
/// async fn counts(client: &redis::Client) -> redis::RedisResult<(i64, i64)> {
///     let mut connection = RedisTracing::new(client).instrument(client.get_multiplexed_async_connection().await?);
///     // One `PIPELINE` span with `db.operation.batch.size = 2`.
///     redis::pipe().incr("hits", 1).incr("misses", 0).query_async(&mut connection).await
/// }
/// # drop(counts);
/// ```
#[derive(Clone, Debug)]
pub struct InstrumentedConnection<C> {
    inner: C,
    shared: Arc<Shared>,
}

impl<C> InstrumentedConnection<C> {
    /// The wrapped connection.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The wrapped connection, instrumentation removed.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

/// A command as `db.query.text` shows it, and its name.
fn command_text(cmd: &Cmd, max_argument_length: usize, out: &mut String) -> String {
    let mut args = cmd.args_iter();
    let name = match args.next() {
        Some(Arg::Simple(name)) => String::from_utf8_lossy(name).to_ascii_uppercase(),
        _ => String::from("UNKNOWN"),
    };
    out.push_str(&name);
    let secret = SECRET_COMMANDS.contains(&name.as_str());
    for arg in args {
        out.push(' ');
        match arg {
            _ if secret => out.push('?'),
            Arg::Simple(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let cut = crate::text::truncate(&text, max_argument_length);
                if cut.is_empty() || cut.contains(char::is_whitespace) {
                    let _ = write!(out, "{cut:?}");
                } else {
                    out.push_str(&cut);
                }
            }
            Arg::Cursor => out.push_str("<cursor>"),
            _ => out.push('?'),
        }
    }
    name
}

impl Shared {
    /// A timed client span for a command (or a pipeline of `batch` commands).
    fn start(&self, name: String, batch: Option<usize>, text: String, db: i64) -> (TimedSpan, opentelemetry::Context) {
        let mut attributes = Vec::with_capacity(self.target.len() + 4);
        attributes.extend(self.target.iter().cloned());
        attributes.push(KeyValue::new(keys::NAMESPACE, db.to_string()));
        attributes.push(KeyValue::new(keys::OPERATION_NAME, name.clone()));
        attributes.push(KeyValue::new(keys::QUERY_TEXT, text));
        if let Some(batch) = batch {
            attributes.push(KeyValue::new(keys::OPERATION_BATCH_SIZE, batch as i64));
        }
        let metric = vec![KeyValue::new(keys::SYSTEM_NAME, "redis"), KeyValue::new(keys::OPERATION_NAME, name.clone())];
        let (span, context) = timed::start_client_span(&self.observe, name, attributes);
        (TimedSpan::new(span, &self.duration, metric), context)
    }
}

/// Ends a command's span: an error reply (which the connection returns as a value) or a failed call marks it.
fn finish(mut timed: TimedSpan, failure: Option<Failure<'_>>) {
    if let Some(failure) = failure {
        let (kind, code, message) = match failure {
            Failure::Reply(reply) => (reply.code().to_owned(), Some(reply.code().to_owned()), reply.to_string()),
            Failure::Call(err) => (format!("{:?}", err.kind()), err.code().map(str::to_owned), err.to_string()),
        };
        timed.fail(kind, code, message);
    }
    timed.end();
}

/// Why a command failed: an error reply of the server, or the call itself.
enum Failure<'a> {
    Reply(&'a ServerError),
    Call(&'a RedisError),
}

impl<'a> Failure<'a> {
    fn of_value(result: &'a Result<redis::Value, RedisError>) -> Option<Failure<'a>> {
        match result {
            Ok(redis::Value::ServerError(reply)) => Some(Failure::Reply(reply)),
            Ok(_) => None,
            Err(err) => Some(Failure::Call(err)),
        }
    }

    /// The first error reply of a pipeline, or its failure.
    fn of_values(result: &'a Result<Vec<redis::Value>, RedisError>) -> Option<Failure<'a>> {
        match result {
            Ok(values) => values.iter().find_map(|value| match value {
                redis::Value::ServerError(reply) => Some(Failure::Reply(reply)),
                _ => None,
            }),
            Err(err) => Some(Failure::Call(err)),
        }
    }
}

impl<C: ConnectionLike + Send> ConnectionLike for InstrumentedConnection<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, redis::Value> {
        let shared = Arc::clone(&self.shared);
        let mut text = String::with_capacity(64);
        let name = command_text(cmd, shared.max_argument_length, &mut text);
        let (timed, context) = shared.start(name, None, text, self.inner.get_db());
        let future = self.inner.req_packed_command(cmd);
        Box::pin(async move {
            let result = future.with_context(context).await;
            finish(timed, Failure::of_value(&result));
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        let shared = Arc::clone(&self.shared);
        let mut text = String::with_capacity(128);
        let mut commands = 0;
        for cmd in pipeline.cmd_iter() {
            if commands > 0 {
                text.push_str("; ");
            }
            command_text(cmd, shared.max_argument_length, &mut text);
            commands += 1;
        }
        let (timed, context) = shared.start("PIPELINE".to_owned(), Some(commands), text, self.inner.get_db());
        let future = self.inner.req_packed_commands(pipeline, offset, count);
        Box::pin(async move {
            let result = future.with_context(context).await;
            finish(timed, Failure::of_values(&result));
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(cmd: &Cmd, max: usize) -> (String, String) {
        let mut out = String::new();
        let name = command_text(cmd, max, &mut out);
        (name, out)
    }

    #[test]
    fn commands_are_recorded_with_cut_arguments_and_no_credentials() {
        assert_eq!(text(redis::cmd("get").arg("user:42"), 64), ("GET".into(), "GET user:42".into()));
        assert_eq!(text(redis::cmd("SET").arg("k").arg("a long value"), 6), ("SET".into(), "SET k \"a long…\"".into()));
        assert_eq!(text(redis::cmd("AUTH").arg("admin").arg("hunter2"), 64), ("AUTH".into(), "AUTH ? ?".into()));
        assert_eq!(text(redis::cmd("HELLO").arg(3).arg("AUTH").arg("u").arg("p"), 64).1, "HELLO ? ? ? ?");
        assert_eq!(text(redis::cmd("SET").arg("k").arg(""), 64).1, "SET k \"\"");
    }
}

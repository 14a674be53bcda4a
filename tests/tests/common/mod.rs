//! Helpers shared by integration tests.

pub mod clickhouse;
pub mod collector_ddl;
pub mod dapr;
pub mod grpc_receiver;
pub mod http;
pub mod litellm;
pub mod raw_backend;
pub mod receiver;

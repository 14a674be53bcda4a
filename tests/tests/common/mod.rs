//! Helpers shared by integration tests.

pub mod grpc_receiver;
pub mod receiver;

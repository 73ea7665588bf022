//! End-to-end: the real function binaries under the Lambda Runtime API emulator, fed the
//! sample events of `events/` as API Gateway would send them, over DynamoDB Local.
//!
//! Needs `TESSERA_BIN_DIR` (the built binaries) and `TESSERA_TEST_DYNAMODB_ENDPOINT`;
//! scripts/test sets both. Each test starts its own stack (fresh key file, fresh table).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod authorizer;
mod cookies;
mod extension;
mod flow;
mod helpers;
mod init;
mod keys;
mod logs;
mod metrics;
mod revocation;

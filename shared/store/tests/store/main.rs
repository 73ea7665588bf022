//! The store contract. `conformance` runs one suite of cases against both adapters; `dynamodb`
//! and `sqlite` hold what only one adapter can show (request counts, lost replies and faults
//! on the wire; two processes on one file).
//!
//! The DynamoDB tests need DynamoDB Local: `scripts/dynamodb-local start` prints the endpoint
//! to export as TESSERA_TEST_DYNAMODB_ENDPOINT, or `scripts/test` does all of it.

// clippy.toml allows these inside #[test] functions; the suite's generic cases and helpers are
// test code too, and a panic in them is a failed assertion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod conformance;
mod dynamodb;
mod faults;
mod helpers;
mod sqlite;

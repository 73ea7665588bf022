//! Black-box tests of `tessera`: the real binary, started as a user starts it, driven over
//! HTTP and through its admin commands. One module per area of docs/API.md, each test named
//! after the row it proves and saying what it gives, does and expects.
//!
//! What is proven here is what only the binary can show: the gateway (routing by the table,
//! the authorizer's 401 and 403, hostile paths, headers and sockets, the upstream), the process
//! (start, restart, signals, logs, bounds) and the admin commands. The contract's rows that the
//! routers answer by themselves are proven in-process by `shared/service`'s tests and are not
//! proven again here.
//!
//! A test where the store matters runs twice: on the embedded SQLite store (`sqlite::`) and on
//! DynamoDB Local (`dynamodb::`, a fresh table per server, endpoint in
//! `TESSERA_TEST_DYNAMODB_ENDPOINT`, which `scripts/test` sets; without it the DynamoDB variants
//! fail and say how to start it). A gateway or process check that does not depend on the store
//! runs once, on SQLite (`sqlite_only!`).

// Helpers outside #[test] functions may fail loudly too: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// Instantiates each `async fn name(backend: Backend)` once per store.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Dynamo).await;
                }
            )*
        }
    };
}

/// Instantiates each `async fn name(backend: Backend)` once, on the embedded store: for what
/// the store does not change.
macro_rules! sqlite_only {
    ($($name:ident),* $(,)?) => {
        mod once {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
    };
}

mod admin;
mod browser;
mod cookies;
mod helpers;
mod hostile;
mod login;
mod logout;
mod metrics;
mod protected;
mod refresh;
mod revocation;
mod serve;
mod sessions;
mod well_known;

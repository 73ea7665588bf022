//! HTTP-level tests of the service, one module per area of docs/API.md, each test named after the
//! row it proves. Requests are REST API proxy events read by lambda_http, as in a Lambda.
//!
//! Every test runs twice: against the embedded SQLite store (`sqlite::`) and against DynamoDB
//! Local (`dynamodb::`, a fresh table per test, endpoint in `TESSERA_TEST_DYNAMODB_ENDPOINT`,
//! which `scripts/test` sets).

// Helpers outside #[test] functions may fail loudly too: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The full-flow tests nest many generic async calls; clippy's layout queries need more depth
// than the default to walk them.
#![recursion_limit = "256"]

/// Instantiates each generic test `async fn name<S: Store>(h: Harness<S>)` once per store.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::sqlite()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::dynamodb().await).await;
                }
            )*
        }
    };
}

mod bodies;
mod cookies;
mod discovery;
mod helpers;
mod keys;
mod login;
mod logout;
mod refresh;
mod requests;
mod secrets;
mod sessions;

//! Black-box tests of `tessera`: the real binary, started as a user starts it, driven over
//! HTTP and through its admin commands. One module per area of docs/API.md, each test named
//! after the row it proves and saying what it gives, does and expects.
//!
//! Every HTTP test runs twice: on the embedded SQLite store (`sqlite::`) and on DynamoDB Local
//! (`dynamodb::`, a fresh table per server, endpoint in `TESSERA_TEST_DYNAMODB_ENDPOINT`, which
//! `scripts/test` sets; without it the DynamoDB variants fail and say how to start it).
//! Process-level checks that do not depend on the store (`--help`, a taken port) run once.

// Helpers outside #[test] functions may fail loudly too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

mod admin;
mod helpers;
mod hostile;
mod login;
mod logout;
mod protected;
mod refresh;
mod serve;
mod sessions;
mod well_known;

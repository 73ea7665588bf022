//! tessera-client against the HTTP contract (docs/API.md), served by the in-process mock in
//! `mock`. Each module is one area of the contract; each test says what it gives, does and
//! expects. Tests that need time to pass run on a paused tokio clock and advance it, so none
//! waits on the wall clock.

// Test helpers outside #[test] functions (the mock server, client builders) may panic: a
// panic there is a failed test, not a crashed request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mock;

mod login;
mod refresh;
mod secrets;
mod single_flight;
mod storage;

use std::time::Duration;

use tessera_client::{Client, Password};

use mock::MockServer;

/// The access-token lifetime the mock grants unless a test needs another (the service default).
pub const TTL: Duration = Duration::from_secs(900);

/// A client of `server` with default settings. Idle pooled connections never time out, so
/// that on a paused clock the only timers are the client's own.
pub fn client_for(server: &MockServer) -> Client {
    builder_for(server).build().unwrap()
}

/// A builder for a client of `server` (see [`client_for`]).
pub fn builder_for(server: &MockServer) -> tessera_client::ClientBuilder {
    let http = tessera_client::reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    Client::builder(server.base_url()).http(http)
}

/// A client of `server` that has logged in as the mock's user.
pub async fn logged_in(server: &MockServer) -> Client {
    let client = client_for(server);
    client
        .login(mock::USERNAME, &Password::new(mock::PASSWORD))
        .await
        .unwrap();
    client
}

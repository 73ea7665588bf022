//! POST /auth/login and /auth/logout, and requests made with the resulting token.

use std::time::Duration;

use serde_json::Value;
use tessera_client::{Error, Password};
use tokio::time::Instant;

use crate::mock::{self, MockServer};
use crate::{TTL, client_for, logged_in};

#[tokio::test]
async fn login_200_keeps_the_pair_and_requests_carry_the_bearer_token() {
    // Given a server and a client that logs in with the right password,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;

    // when it calls the protected route,
    let response = client.get(server.me_url()).await.unwrap();

    // the server accepted its access token, without any refresh.
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["sub"], mock::USERNAME);
    let counters = server.counters();
    assert_eq!(counters.logins, 1);
    assert_eq!(counters.refreshes, 0);
    assert_eq!(counters.unauthorized, 0);
}

#[tokio::test]
async fn login_400_invalid_grant_is_invalid_credentials() {
    // Given a wrong password,
    let server = MockServer::start(TTL);
    let client = client_for(&server);

    // login fails with InvalidCredentials,
    let error = client
        .login(mock::USERNAME, &Password::new("wrong"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidCredentials), "{error:?}");

    // and the client has no session to send requests with.
    let error = client.get(server.me_url()).await.unwrap_err();
    assert!(matches!(error, Error::SignedOut), "{error:?}");
    assert_eq!(server.counters().me_calls, 0);
}

#[tokio::test]
async fn login_429_too_many_attempts_is_locked_with_retry_after() {
    // Given a locked account (429 with Retry-After: 120),
    let server = MockServer::start(TTL);
    server.lock_user(120);
    let client = client_for(&server);

    // login reports the lock and how long to wait, without retrying.
    let error = client
        .login(mock::USERNAME, &Password::new(mock::PASSWORD))
        .await
        .unwrap_err();
    match error {
        Error::Locked { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(120)));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(server.counters().logins, 1);
}

#[tokio::test]
async fn requests_before_any_login_are_signed_out() {
    // Given a client that never logged in,
    let server = MockServer::start(TTL);
    let client = client_for(&server);

    // both the token and a request fail with SignedOut, and nothing reaches the server.
    assert!(matches!(client.access_token().await, Err(Error::SignedOut)));
    assert!(matches!(
        client.get(server.me_url()).await,
        Err(Error::SignedOut)
    ));
    assert_eq!(server.counters(), mock::Counters::default());
}

#[tokio::test]
async fn logout_revokes_the_session_at_the_server_and_forgets_it_locally() {
    // Given a logged-in client,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    assert_eq!(server.live_sessions(), 1);

    // when it logs out,
    client.logout().await.unwrap();

    // the server's session is revoked and the client is signed out;
    assert_eq!(server.counters().logouts, 1);
    assert_eq!(server.live_sessions(), 0);
    assert!(matches!(client.access_token().await, Err(Error::SignedOut)));

    // logging out again is not an error and does not call the server.
    client.logout().await.unwrap();
    assert_eq!(server.counters().logouts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_503_on_logout_is_retried_until_the_session_is_revoked() {
    // Given a logged-in client and a token service that answers 503 with Retry-After: 2 twice,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.fail_next_token_calls(2, Some(2));
    let started = Instant::now();

    // logout succeeds on the third attempt, having waited as asked each time,
    client.logout().await.unwrap();
    assert_eq!(server.counters().logouts, 3);
    assert!(started.elapsed() >= Duration::from_secs(4));

    // and the server's session is revoked.
    assert_eq!(server.live_sessions(), 0);
    assert!(matches!(client.access_token().await, Err(Error::SignedOut)));
}

#[test]
fn a_base_url_that_is_not_http_is_refused() {
    let error = tessera_client::Client::builder("not a url")
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidBaseUrl), "{error:?}");
    let error = tessera_client::Client::builder("ftp://example.com")
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidBaseUrl), "{error:?}");
}

//! POST /auth/refresh: proactive before expiry, reactive on a 401, sign-out on
//! invalid_grant, and retries on 503.
//!
//! Tests that let time pass run on a paused tokio clock (the client's) and advance it; the
//! mock keeps its own clock and is told explicitly when its tokens expire.

use std::time::Duration;

use serde_json::Value;
use tessera_client::{Error, RetryPolicy};
use tokio::time::{Instant, advance};

use crate::mock::MockServer;
use crate::{TTL, builder_for, logged_in};

#[tokio::test(start_paused = true)]
async fn access_token_is_refreshed_proactively_within_the_margin_before_expiry() {
    // Given a 900 s access token and the default 30 s margin,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    let first: Value = client
        .get(server.me_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // nothing is refreshed while the token is far from expiry,
    advance(Duration::from_secs(860)).await;
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    assert_eq!(server.counters().refreshes, 0);

    // but once within 30 s of it the next request refreshes first and uses the new token:
    advance(Duration::from_secs(15)).await;
    let response = client.get(server.me_url()).await.unwrap();
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_ne!(first["jti"], second["jti"]);
    let counters = server.counters();
    assert_eq!(counters.refreshes, 1);
    // the server never had to refuse an access token.
    assert_eq!(counters.unauthorized, 0);
}

#[tokio::test(start_paused = true)]
async fn the_refresh_margin_is_capped_to_half_the_token_lifetime() {
    // Given a 40 s access token: the default 30 s margin would refresh after 10 s, the cap
    // after 20 s.
    let server = MockServer::start(Duration::from_secs(40));
    let client = logged_in(&server).await;

    advance(Duration::from_secs(15)).await;
    client.access_token().await.unwrap();
    assert_eq!(server.counters().refreshes, 0);

    advance(Duration::from_secs(6)).await;
    client.access_token().await.unwrap();
    assert_eq!(server.counters().refreshes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_configured_refresh_margin_is_honoured() {
    // Given a 120 s margin on a 900 s token,
    let server = MockServer::start(TTL);
    let client = builder_for(&server)
        .refresh_margin(Duration::from_secs(120))
        .build()
        .unwrap();
    client
        .login(
            crate::mock::USERNAME,
            &tessera_client::Password::new(crate::mock::PASSWORD),
        )
        .await
        .unwrap();

    advance(Duration::from_secs(770)).await;
    client.access_token().await.unwrap();
    assert_eq!(server.counters().refreshes, 0);

    advance(Duration::from_secs(15)).await;
    client.access_token().await.unwrap();
    assert_eq!(server.counters().refreshes, 1);
}

#[tokio::test]
async fn a_401_from_the_api_refreshes_once_and_retries_the_request_once() {
    // Given a client whose access token the server considers expired although the client
    // does not (its clock says 900 s are not over),
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.expire_access_tokens();

    // a request still succeeds:
    let response = client.get(server.me_url()).await.unwrap();
    assert_eq!(response.status(), 200);

    // the first attempt met a 401, the client refreshed once and sent the request again.
    let counters = server.counters();
    assert_eq!(counters.unauthorized, 1);
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.me_calls, 2);
}

#[tokio::test]
async fn a_second_401_after_the_refresh_is_returned_to_the_caller_not_looped() {
    // Given an API that refuses every access token, fresh ones too,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.reject_all_access_tokens();

    // the caller gets the API's 401 after one refresh and one retry.
    let response = client.get(server.me_url()).await.unwrap();
    assert_eq!(response.status(), 401);
    let counters = server.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.me_calls, 2);
}

#[tokio::test]
async fn a_revoked_session_surfaces_as_signed_out() {
    // Given a session revoked at the server (logout everywhere) and an expired access token,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.revoke_all_sessions();
    server.expire_access_tokens();

    // the refresh meets invalid_grant and the caller is told it is signed out,
    let error = client.get(server.me_url()).await.unwrap_err();
    assert!(matches!(error, Error::SignedOut), "{error:?}");
    assert_eq!(error.to_string(), "signed out: log in again");

    // for good: later calls fail the same way without asking the server again.
    assert!(matches!(client.access_token().await, Err(Error::SignedOut)));
    assert_eq!(server.counters().refreshes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_503_on_refresh_is_retried_after_retry_after_then_succeeds() {
    // Given a token service that answers 503 with Retry-After: 3 twice,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.expire_access_tokens();
    server.fail_next_token_calls(2, Some(3));
    let started = Instant::now();

    // the request succeeds on the third refresh attempt,
    let response = client.get(server.me_url()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.counters().refreshes, 3);
    // having waited as long as asked each time (on the paused clock).
    assert!(started.elapsed() >= Duration::from_secs(6));
    assert_eq!(server.live_sessions(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_503_without_retry_after_is_retried_with_exponential_backoff() {
    // Given two 503s without Retry-After and a 1 s base delay,
    let server = MockServer::start(TTL);
    let client = builder_for(&server)
        .retry(RetryPolicy {
            base_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    client
        .login(
            crate::mock::USERNAME,
            &tessera_client::Password::new(crate::mock::PASSWORD),
        )
        .await
        .unwrap();
    server.expire_access_tokens();
    server.fail_next_token_calls(2, None);
    let started = Instant::now();

    // the client waits at least 1 s, then 2 s, and succeeds.
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    assert_eq!(server.counters().refreshes, 3);
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_503_that_persists_ends_in_unavailable_after_the_bounded_attempts() {
    // Given a token service that keeps answering 503,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.expire_access_tokens();
    server.fail_next_token_calls(100, Some(1));

    // the client gives up after the policy's 4 attempts,
    let error = client.get(server.me_url()).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable), "{error:?}");
    assert_eq!(server.counters().refreshes, 4);

    // and, the session being untouched by a 503, recovers once the service does.
    server.fail_next_token_calls(0, None);
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    assert_eq!(server.counters().refreshes, 5);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_the_policy_allows_is_not_shortened() {
    // Given a 503 asking for 10 minutes (the default policy waits at most 30 s),
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.expire_access_tokens();
    server.fail_next_token_calls(1, Some(600));

    // the client reports Unavailable at once instead of calling back early.
    let error = client.get(server.me_url()).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable), "{error:?}");
    assert_eq!(server.counters().refreshes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_proactive_refresh_keeps_using_the_still_valid_token() {
    // Given a token within its refresh margin and a token service answering 503,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    advance(Duration::from_secs(880)).await;
    server.fail_next_token_calls(1, Some(5));

    // the request goes through with the current token after a single refresh attempt,
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    assert_eq!(server.counters().refreshes, 1);

    // and a later request, once the pause is over, refreshes.
    advance(Duration::from_secs(2)).await;
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    assert_eq!(server.counters().refreshes, 2);
}

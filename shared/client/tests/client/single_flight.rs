//! Single-flight refresh: however many concurrent requests need a refresh, the client makes
//! exactly one refresh call, so the server's reuse detection never revokes its session.

use std::time::Duration;

use tessera_client::Client;
use tokio::task::JoinSet;
use tokio::time::advance;

use crate::mock::MockServer;
use crate::{TTL, logged_in};

const CONCURRENT: usize = 64;

/// Sends `CONCURRENT` `GET /me` at once and returns their statuses (errors fail the test).
async fn concurrent_gets(client: &Client, server: &MockServer) -> Vec<u16> {
    let mut requests = JoinSet::new();
    for _ in 0..CONCURRENT {
        let client = client.clone();
        let url = server.me_url();
        requests.spawn(async move { client.get(url).await.map(|r| r.status().as_u16()) });
    }
    let mut statuses = Vec::new();
    while let Some(joined) = requests.join_next().await {
        statuses.push(joined.unwrap().unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_requests_meeting_a_401_cause_one_refresh_and_no_visible_401() {
    // Given access tokens that expired at the server while the client still trusts them,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.expire_access_tokens();

    // when 64 requests go out at once, every one of them meets a 401,
    let statuses = concurrent_gets(&client, &server).await;

    // yet every caller sees 200,
    assert_eq!(statuses, vec![200; CONCURRENT]);
    // after exactly one refresh, which left the session alive.
    let counters = server.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.reuse_revocations, 0);
    assert_eq!(server.live_sessions(), 1);
}

#[tokio::test(start_paused = true)]
async fn sixty_four_concurrent_requests_across_the_expiry_cause_one_refresh() {
    // Given an access token that has expired on both the client's clock and the server's,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    advance(TTL + Duration::from_secs(1)).await;
    server.expire_access_tokens();

    // 64 concurrent requests all succeed,
    let statuses = concurrent_gets(&client, &server).await;
    assert_eq!(statuses, vec![200; CONCURRENT]);

    // one of them refreshed while the rest waited for its result, so none sent the
    // expired token.
    let counters = server.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.unauthorized, 0);
    assert_eq!(counters.reuse_revocations, 0);
    assert_eq!(server.live_sessions(), 1);
}

#[tokio::test(start_paused = true)]
async fn sixty_four_concurrent_requests_within_the_margin_cause_one_refresh() {
    // Given a token within its refresh margin but still valid,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    advance(Duration::from_secs(880)).await;

    // 64 concurrent requests succeed with one proactive refresh between them.
    let statuses = concurrent_gets(&client, &server).await;
    assert_eq!(statuses, vec![200; CONCURRENT]);
    let counters = server.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.unauthorized, 0);
    assert_eq!(server.live_sessions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_successive_expiries_cause_two_refreshes_and_rotate_the_refresh_token() {
    // Given a client that has already refreshed once after an expiry,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    let first_refresh_token = server.current_refresh_token().unwrap();
    server.expire_access_tokens();
    assert_eq!(
        concurrent_gets(&client, &server).await,
        vec![200; CONCURRENT]
    );
    let second_refresh_token = server.current_refresh_token().unwrap();
    assert_ne!(first_refresh_token, second_refresh_token);

    // a second expiry is met with one more refresh, presenting the rotated token (a spent
    // one would have revoked the session).
    server.expire_access_tokens();
    assert_eq!(
        concurrent_gets(&client, &server).await,
        vec![200; CONCURRENT]
    );
    let counters = server.counters();
    assert_eq!(counters.refreshes, 2);
    assert_eq!(counters.reuse_revocations, 0);
    assert_eq!(server.live_sessions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_callers_reporting_the_same_rejected_token_share_one_refresh() {
    // Given requests sent by other means (not `Client::send`) that all met a 401 with the
    // same token,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    let rejected = client.access_token().await.unwrap();
    server.expire_access_tokens();

    let mut callers = JoinSet::new();
    for _ in 0..CONCURRENT {
        let client = client.clone();
        let rejected = rejected.clone();
        callers.spawn(async move { client.refresh_rejected(&rejected).await });
    }
    let mut fresh = Vec::new();
    while let Some(joined) = callers.join_next().await {
        fresh.push(joined.unwrap().unwrap());
    }

    // every one gets the same new token, from one refresh.
    assert_eq!(server.counters().refreshes, 1);
    assert!(fresh.iter().all(|token| *token == fresh[0]));
    assert!(fresh[0] != rejected);
    assert_eq!(client.access_token().await.unwrap(), fresh[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_whose_caller_gives_up_still_completes_and_keeps_the_session() {
    // Given a refresh that the server carries out but whose answer is slow to come back,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    let gate = server.hold_next_refresh_reply();
    server.expire_access_tokens();
    let request = {
        let client = client.clone();
        let url = server.me_url();
        tokio::spawn(async move { client.get(url).await })
    };
    gate.arrived.notified().await;

    // when the request that started it is abandoned (a timeout, an aborted task),
    request.abort();
    assert!(request.await.unwrap_err().is_cancelled());
    gate.release.notify_one();

    // the refresh still completes and the client keeps the rotated pair: the next request
    // uses it, instead of presenting the spent refresh token and losing the session.
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    let counters = server.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.reuse_revocations, 0);
    assert_eq!(server.live_sessions(), 1);
}

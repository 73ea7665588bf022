//! Logout means logout, on `tessera serve` (docs/API.md, "Revocation at the authorizer"):
//! with `AUTHORIZER_REVOCATION_CHECK=session` the authorizer also requires the token's session
//! to be live, so the next decision after a revocation denies; with the default (`off`) an
//! access token works until its `exp`, as API Gateway's lean authorizer does.
//!
//! The result cache and the micro-cache are off here (`AUTHORIZER_RESULT_TTL=0`,
//! `AUTHORIZER_REVOCATION_CACHE=0`): "the next decision outside the window".

use crate::helpers::{Backend, Outage, ServeOptions, Server, TestUser, Tokens, read_reply};
use crate::hostile::raw;

both_backends!(
    revocation_check_logout_denies_the_next_decision,
    revocation_check_revoke_all_denies_every_session,
    revocation_check_disable_and_set_password_deny,
    revocation_check_reuse_detection_denies_the_survivor,
    revocation_check_off_allows_until_exp,
    revocation_check_64_requests_at_once_and_raw_bytes_keep_ended_and_live_apart,
);

sqlite_only!(revocation_check_cached_allow_is_bounded_by_the_micro_cache,);

const CHECKED: &[(&str, &str)] = &[
    ("AUTHORIZER_REVOCATION_CHECK", "session"),
    ("AUTHORIZER_REVOCATION_CACHE", "0"),
    ("AUTHORIZER_RESULT_TTL", "0"),
];

async fn checked(backend: Backend) -> Server {
    ServeOptions::new(backend).envs(CHECKED).spawn().await
}

async fn me(server: &Server, tokens: &Tokens) -> u16 {
    server.get("/me", Some(&tokens.access)).await.status
}

/// Gives the check on; logs in, calls /me, logs out; expects /me with the same (unexpired)
/// access token to be 401 at once.
async fn revocation_check_logout_denies_the_next_decision(backend: Backend) {
    let server = checked(backend).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;
    assert_eq!(me(&server, &tokens).await, 200);

    assert_eq!(server.logout(&tokens.refresh).await.status, 204);

    assert_eq!(me(&server, &tokens).await, 401);
}

/// Gives the check on and two sessions; "log out everywhere" from one; expects both access
/// tokens refused.
async fn revocation_check_revoke_all_denies_every_session(backend: Backend) {
    let server = checked(backend).await;
    let user = TestUser::generate(&server).await;
    let first = user.login(&server).await;
    let second = user.login(&server).await;

    assert_eq!(
        server
            .delete("/auth/sessions", Some(&first.access))
            .await
            .status,
        204
    );

    assert_eq!(me(&server, &first).await, 401);
    assert_eq!(me(&server, &second).await, 401);
}

/// Gives the check on; an operator disables the user, and for another user sets a new
/// password; expects their access tokens refused.
async fn revocation_check_disable_and_set_password_deny(backend: Backend) {
    let server = checked(backend).await;
    let alice = TestUser::generate(&server).await;
    let bob = TestUser::generate(&server).await;
    let a = alice.login(&server).await;
    let b = bob.login(&server).await;

    server
        .admin(&["user", "disable", &alice.username], None)
        .await
        .assert_success();
    server
        .admin(
            &["user", "set-password", &bob.username, "--password-stdin"],
            Some("a brand new password"),
        )
        .await
        .assert_success();

    assert_eq!(me(&server, &a).await, 401);
    assert_eq!(me(&server, &b).await, 401);
}

/// Gives the check on; the session rotates twice, then its first refresh token comes back
/// (reuse: the session is revoked); expects the latest access token refused.
async fn revocation_check_reuse_detection_denies_the_survivor(backend: Backend) {
    let server = checked(backend).await;
    let user = TestUser::generate(&server).await;
    let first = user.login(&server).await;
    let second = Tokens::from_reply(&server.refresh(&first.refresh).await);
    let third = Tokens::from_reply(&server.refresh(&second.refresh).await);
    assert_eq!(me(&server, &third).await, 200);

    assert_eq!(server.refresh(&first.refresh).await.status, 400);

    assert_eq!(me(&server, &third).await, 401);
}

/// Gives the default (off); logs out; expects the access token still accepted until `exp`
/// (today's behaviour, and the lean authorizer's).
async fn revocation_check_off_allows_until_exp(backend: Backend) {
    let server = ServeOptions::new(backend)
        .envs(&[("AUTHORIZER_RESULT_TTL", "0")])
        .spawn()
        .await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    assert_eq!(server.logout(&tokens.refresh).await.status, 204);

    assert_eq!(me(&server, &tokens).await, 200);
}

/// Gives the check on with a micro-cache of 60 s; a live session is answered from it after a
/// logout (the documented window), while a session never seen before is checked.
async fn revocation_check_cached_allow_is_bounded_by_the_micro_cache(backend: Backend) {
    let server = ServeOptions::new(backend)
        .envs(&[
            ("AUTHORIZER_REVOCATION_CHECK", "session"),
            ("AUTHORIZER_REVOCATION_CACHE", "60"),
            ("AUTHORIZER_RESULT_TTL", "0"),
        ])
        .spawn()
        .await;
    let user = TestUser::generate(&server).await;
    let cached = user.login(&server).await;
    let fresh = user.login(&server).await;
    assert_eq!(me(&server, &cached).await, 200);

    assert_eq!(server.logout(&cached.refresh).await.status, 204);
    assert_eq!(server.logout(&fresh.refresh).await.status, 204);

    assert_eq!(
        me(&server, &cached).await,
        200,
        "inside the micro-cache's window"
    );
    assert_eq!(me(&server, &fresh).await, 401, "never cached: checked");
}

/// Gives the check on over DynamoDB, and the network to it cut; expects /me to fail closed
/// with 500 (an authorizer error, as API Gateway answers), never an allow; then, with the
/// store back, 200.
#[tokio::test]
async fn revocation_check_store_unreachable_fails_closed_with_500() {
    let outage = Outage::start().await;
    let server = ServeOptions::new(Backend::Dynamo)
        .dynamodb_endpoint(&outage.endpoint)
        .envs(CHECKED)
        .spawn()
        .await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    outage.set_cut(true);
    let reply = server.get("/me", Some(&tokens.access)).await;
    outage.set_cut(false);

    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(me(&server, &tokens).await, 200);
    assert!(
        server.stderr().contains("ERROR"),
        "an unreachable store is an operator's problem: {}",
        server.stderr()
    );
}

/// Gives the check on and one user with two sessions, one logged out; 64 requests to /me at
/// once, alternating the two access tokens; then the ended token on a raw socket, alone and
/// beside the live one in a second `Authorization` header; expects every ended request 401
/// and every live one 200 (no cached answer crosses from one session to the other), the raw
/// ones 401, and the user's live sessions exactly as before (a refusal writes nothing).
async fn revocation_check_64_requests_at_once_and_raw_bytes_keep_ended_and_live_apart(
    backend: Backend,
) {
    let server = checked(backend).await;
    let user = TestUser::generate(&server).await;
    let ended = user.login(&server).await;
    let live = user.login(&server).await;
    assert_eq!(server.logout(&ended.refresh).await.status, 204);
    let sessions = server.session_list(&user.username).await;
    assert_eq!(sessions.len(), 1);

    let url = server.url("/me");
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (token, expected) = match i % 2 {
            0 => (ended.access.clone(), 401),
            _ => (live.access.clone(), 200),
        };
        let request = reqwest::Client::new().get(url.clone()).bearer_auth(token);
        requests.spawn(async move { (expected, read_reply(request.send().await.unwrap()).await) });
    }
    for (expected, reply) in requests.join_all().await {
        assert_eq!(reply.status, expected, "{}", reply.body);
    }

    let request = |headers: String| {
        format!("GET /me HTTP/1.1\r\nhost: tessera\r\n{headers}connection: close\r\n\r\n")
    };
    let alone = raw(
        server.addr,
        &request(format!("authorization: Bearer {}\r\n", ended.access)),
    )
    .await;
    let beside_a_live_one = raw(
        server.addr,
        &request(format!(
            "authorization: Bearer {}\r\nauthorization: Bearer {}\r\n",
            live.access, ended.access
        )),
    )
    .await;
    assert_eq!(alone.status, 401, "{alone:?}");
    assert_eq!(beside_a_live_one.status, 401, "{beside_a_live_one:?}");

    assert_eq!(server.session_list(&user.username).await, sessions);
    assert_eq!(me(&server, &live).await, 200);
}

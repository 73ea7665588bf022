//! `POST /auth/refresh` (docs/API.md): rotation, reuse detection, the grace window, and every
//! reason for `invalid_grant`.

use serde_json::json;
use tessera_token::{RefreshClaims, random_id};

use crate::helpers::{
    Backend, Outage, ServeOptions, TestUser, Tokens, assert_not_echoed, assert_oauth_error,
    assert_token_response, decode, eventually, form_encode, spawn_serve, tamper_signature,
    unix_now,
};

both_backends!(
    refresh_answers_200_with_a_new_refresh_token,
    refresh_form_body_answers_200,
    refresh_spent_token_is_invalid_grant_and_revokes_the_session,
    refresh_grace_window_replay_returns_the_identical_successor,
    refresh_grace_window_covers_only_the_immediate_predecessor,
    refresh_access_token_as_refresh_token_is_invalid_grant,
    refresh_tampered_garbage_or_expired_token_is_invalid_grant,
    refresh_unknown_session_is_invalid_grant,
    refresh_token_over_8_kib_is_invalid_grant,
    refresh_missing_field_is_invalid_request,
    refresh_same_token_sent_concurrently_within_grace_gets_one_successor,
    refresh_after_the_idle_timeout_is_invalid_grant,
    refresh_store_unavailable_is_503_and_the_same_token_works_after,
);

/// Gives a logged-in user; refreshes; expects 200 with the token response shape, a refresh
/// token different from the old one, the same session, and a working new access token.
async fn refresh_answers_200_with_a_new_refresh_token(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let first = user.login(&server).await;

    let reply = server.refresh(&first.refresh).await;

    let body = assert_token_response(&reply);
    assert_eq!(body["scope"], "profile");
    let next = Tokens::from_reply(&reply);
    assert_ne!(next.refresh, first.refresh);
    assert_ne!(next.access, first.access);
    assert_eq!(next.sid(), first.sid());
    assert_not_echoed(&reply, &first.refresh);
    let me = server.get("/me", Some(&next.access)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(server.session_list(&user.username).await, vec![first.sid()]);
}

/// Gives a refresh token; refreshes with a form body (`grant_type=refresh_token`), then with a
/// form body without `grant_type` (as README does); expects 200 both times.
async fn refresh_form_body_answers_200(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let first = user.login(&server).await;

    let second = server
        .post_form(
            "/auth/refresh",
            &format!("grant_type=refresh_token&refresh_token={}", first.refresh),
        )
        .await;
    assert_token_response(&second);
    let third = server
        .post_form(
            "/auth/refresh",
            &format!("refresh_token={}", Tokens::from_reply(&second).refresh),
        )
        .await;
    assert_token_response(&third);

    let wrong_grant = server
        .post_form(
            "/auth/refresh",
            &format!(
                "grant_type=password&refresh_token={}",
                Tokens::from_reply(&third).refresh
            ),
        )
        .await;
    assert_oauth_error(&wrong_grant, 400, "unsupported_grant_type");
}

/// Gives REFRESH_REUSE_GRACE=0 (confirmed) and a token R0 rotated to R1; replays R0; expects 400
/// `invalid_grant`, then R1 refused too (the whole session is revoked) and the session gone
/// from `tessera session list` and from GET /auth/sessions.
async fn refresh_spent_token_is_invalid_grant_and_revokes_the_session(backend: Backend) {
    let server = spawn_serve(
        backend,
        &[
            ("REFRESH_REUSE_GRACE", "0"),
            ("REFRESH_REUSE_GRACE_ZERO_CONFIRMED", "true"),
        ],
    )
    .await;
    let user = TestUser::generate(&server).await;
    let r0 = user.login(&server).await;
    let r1 = Tokens::from_reply(&server.refresh(&r0.refresh).await);

    let replay = server.refresh(&r0.refresh).await;

    assert_oauth_error(&replay, 400, "invalid_grant");
    assert_oauth_error(&server.refresh(&r1.refresh).await, 400, "invalid_grant");
    assert!(server.session_list(&user.username).await.is_empty());
    // The access token is still valid until exp (by design), and shows no live session.
    let listed = server.get("/auth/sessions", Some(&r1.access)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["sessions"], json!([]));
}

/// Gives REFRESH_REUSE_GRACE=10 and R0 rotated to R1; replays R0 at once; expects 200 with
/// the byte-identical R1, and R1 still good afterwards (the session survives).
async fn refresh_grace_window_replay_returns_the_identical_successor(backend: Backend) {
    let server = spawn_serve(backend, &[("REFRESH_REUSE_GRACE", "10")]).await;
    let user = TestUser::generate(&server).await;
    let r0 = user.login(&server).await;
    let r1 = Tokens::from_reply(&server.refresh(&r0.refresh).await);

    let replay = server.refresh(&r0.refresh).await;

    assert_token_response(&replay);
    assert_eq!(Tokens::from_reply(&replay).refresh, r1.refresh);
    let r2 = server.refresh(&r1.refresh).await;
    assert_token_response(&r2);
    assert_eq!(server.session_list(&user.username).await, vec![r0.sid()]);
}

/// Gives REFRESH_REUSE_GRACE=10 and R0 -> R1 -> R2; replays R0 (two generations old);
/// expects `invalid_grant` and the session revoked (R2 refused too).
async fn refresh_grace_window_covers_only_the_immediate_predecessor(backend: Backend) {
    let server = spawn_serve(backend, &[("REFRESH_REUSE_GRACE", "10")]).await;
    let user = TestUser::generate(&server).await;
    let r0 = user.login(&server).await;
    let r1 = Tokens::from_reply(&server.refresh(&r0.refresh).await);
    let r2 = Tokens::from_reply(&server.refresh(&r1.refresh).await);

    let replay = server.refresh(&r0.refresh).await;

    assert_oauth_error(&replay, 400, "invalid_grant");
    assert_oauth_error(&server.refresh(&r2.refresh).await, 400, "invalid_grant");
    assert!(server.session_list(&user.username).await.is_empty());
}

/// Gives a valid access token presented as a refresh token; expects 400 `invalid_grant`,
/// and the session untouched (its refresh token still works).
async fn refresh_access_token_as_refresh_token_is_invalid_grant(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    let reply = server.refresh(&tokens.access).await;

    assert_oauth_error(&reply, 400, "invalid_grant");
    assert_not_echoed(&reply, &tokens.access);
    assert_token_response(&server.refresh(&tokens.refresh).await);
}

/// Gives the refresh token with one signature character changed, with its claims changed
/// (sid swapped, signature kept), garbage, and a correctly signed copy that expired an hour
/// ago; expects 400 `invalid_grant` for each and the real token still good.
async fn refresh_tampered_garbage_or_expired_token_is_invalid_grant(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;
    let minter = server.minter();
    let (_, claims) = decode(&tokens.refresh);
    let mut claims: RefreshClaims = serde_json::from_value(claims).unwrap();
    // The minter signs exactly as the server does: the same claims give the same token.
    assert_eq!(
        minter.refresh(&claims),
        tokens.refresh,
        "minter sanity check"
    );

    let tampered_sig = tamper_signature(&tokens.refresh);
    let parts: Vec<&str> = tokens.refresh.split('.').collect();
    let other_claims = {
        use base64::Engine as _;
        let mut c = serde_json::to_value(&claims).unwrap();
        c["sid"] = json!("someone-elses-session");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string())
    };
    let tampered_claims = format!("{}.{}.{}", parts[0], other_claims, parts[2]);
    claims.iat = unix_now() - 7200;
    claims.exp = unix_now() - 3600;
    let expired = minter.refresh(&claims);

    for bad in [
        tampered_sig.as_str(),
        tampered_claims.as_str(),
        "garbage",
        "a.b.c",
        expired.as_str(),
    ] {
        let reply = server.refresh(bad).await;
        assert_oauth_error(&reply, 400, "invalid_grant");
    }
    assert_token_response(&server.refresh(&tokens.refresh).await);
}

/// Gives a correctly signed refresh token for a session that never existed; expects 400
/// `invalid_grant`.
async fn refresh_unknown_session_is_invalid_grant(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;
    let (_, claims) = decode(&tokens.refresh);
    let mut claims: RefreshClaims = serde_json::from_value(claims).unwrap();
    claims.sid = format!("never-{}", random_id());
    claims.jti = random_id();

    let reply = server.refresh(&server.minter().refresh(&claims)).await;

    assert_oauth_error(&reply, 400, "invalid_grant");
}

/// Gives a 9000-byte refresh token (a body well under 16 KiB); expects 400 `invalid_grant`.
async fn refresh_token_over_8_kib_is_invalid_grant(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;
    let oversized = format!("{}{}", tokens.refresh, "A".repeat(9000));

    let reply = server.refresh(&oversized).await;

    assert_oauth_error(&reply, 400, "invalid_grant");
    assert_not_echoed(&reply, &oversized);
}

/// Gives refresh requests without a token, with an empty one, with a non-string one and
/// malformed JSON; expects 400 `invalid_request`.
async fn refresh_missing_field_is_invalid_request(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;

    for body in [
        json!({}),
        json!({"refresh_token": ""}),
        json!({"refresh_token": 42}),
        json!({"token": "x"}),
    ] {
        let reply = server.post_json("/auth/refresh", &body).await;
        assert_oauth_error(&reply, 400, "invalid_request");
    }
    let form = server
        .post_form("/auth/refresh", "grant_type=refresh_token")
        .await;
    assert_oauth_error(&form, 400, "invalid_request");
    let broken = server
        .post_raw(
            "/auth/refresh",
            Some("application/json"),
            b"{\"refresh_token\":".to_vec(),
        )
        .await;
    assert_oauth_error(&broken, 400, "invalid_request");
    let wrong_type = server
        .post_raw(
            "/auth/refresh",
            Some("text/plain"),
            format!("refresh_token={}", form_encode("x.y.z")).into_bytes(),
        )
        .await;
    assert_oauth_error(&wrong_type, 400, "invalid_request");
}

/// Gives a store that cannot answer — on SQLite another process holding the write lock past
/// the busy timeout, on DynamoDB the network to it cut; refreshes; expects 503
/// `temporarily_unavailable` with `Retry-After`, then, with the store back, the very same
/// token refreshes (the session was untouched).
async fn refresh_store_unavailable_is_503_and_the_same_token_works_after(backend: Backend) {
    let outage = match backend {
        Backend::Sqlite => None,
        Backend::Dynamo => Some(Outage::start().await),
    };
    let mut options = ServeOptions::new(backend);
    if let Some(outage) = &outage {
        options = options.dynamodb_endpoint(&outage.endpoint);
    }
    let server = options.spawn().await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    let reply = match &outage {
        None => {
            let db = server.store.data.join("tessera.db");
            let blocker = rusqlite::Connection::open(&db).unwrap();
            blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
            let reply = server.refresh(&tokens.refresh).await;
            blocker.execute_batch("ROLLBACK").unwrap();
            reply
        }
        Some(outage) => {
            outage.set_cut(true);
            let reply = server.refresh(&tokens.refresh).await;
            outage.set_cut(false);
            reply
        }
    };

    assert_oauth_error(&reply, 503, "temporarily_unavailable");
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0);
    assert_token_response(&server.refresh(&tokens.refresh).await);
}

/// Gives the default grace window and one refresh token sent five times at once (a client
/// racing itself); expects five 200s carrying the one identical successor, which then
/// refreshes, and the session alive.
async fn refresh_same_token_sent_concurrently_within_grace_gets_one_successor(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let r0 = user.login(&server).await;

    let replies = refresh_concurrently(&server, &r0.refresh, 5).await;

    let successors: Vec<String> = replies
        .iter()
        .map(|reply| {
            assert_token_response(reply);
            Tokens::from_reply(reply).refresh
        })
        .collect();
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "{successors:?}"
    );
    assert_token_response(&server.refresh(&successors[0]).await);
    assert_eq!(server.session_list(&user.username).await, vec![r0.sid()]);
}

/// Sends the same refresh request `n` times concurrently.
async fn refresh_concurrently(
    server: &crate::helpers::Server,
    token: &str,
    n: usize,
) -> Vec<crate::helpers::Reply> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = server.http.clone();
        let url = server.url("/auth/refresh");
        let body = json!({ "refresh_token": token }).to_string();
        set.spawn(async move {
            let request = http
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            crate::helpers::read_reply(request.send().await.unwrap()).await
        });
    }
    set.join_all().await
}

/// Gives REFRESH_IDLE_TTL=2 and a session left unused; waits (bounded poll of GET
/// /auth/sessions, which lists live sessions only) until it has idled out; expects its
/// refresh token, whose signature is still valid for 30 days, to be refused with
/// `invalid_grant`: the store, not the signature, decides.
async fn refresh_after_the_idle_timeout_is_invalid_grant(backend: Backend) {
    let server = spawn_serve(backend, &[("REFRESH_IDLE_TTL", "2")]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    eventually("the session idles out", || async {
        let list = server.get("/auth/sessions", Some(&tokens.access)).await;
        assert_eq!(list.status, 200, "{}", list.body);
        list.json()["sessions"]
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    let reply = server.refresh(&tokens.refresh).await;

    assert_oauth_error(&reply, 400, "invalid_grant");
}

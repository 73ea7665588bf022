//! The sample events in `events/` (what API Gateway sends each function), through the handler
//! each Lambda function calls: one user's journey across every route of API.md.

use lambda_http::Request;
use tessera_service::handlers;
use tessera_store::Store;

use crate::helpers::*;

store_tests!(every_sample_event_is_answered_by_its_function_handler);

/// Reads a sample event, filling in its placeholders: `usr_`/`sid_`/`jti_PLACEHOLDER` in the
/// authorizer context, then the bare `PLACEHOLDER` (a password or a token) in the body.
fn event(json: &str, user_id: &str, sid: &str, jti: &str, secret: &str) -> Request {
    let json = json
        .replace("usr_PLACEHOLDER", user_id)
        .replace("sid_PLACEHOLDER", sid)
        .replace("jti_PLACEHOLDER", jti)
        .replace("PLACEHOLDER", secret);
    lambda_http::request::from_str(&json).unwrap()
}

const LOGIN: &str = include_str!("../../../../events/rest-login.json");
const LOGIN_FORM: &str = include_str!("../../../../events/rest-login-form.json");
const REFRESH: &str = include_str!("../../../../events/rest-refresh.json");
const REFRESH_FORM: &str = include_str!("../../../../events/rest-refresh-form.json");
const LOGOUT: &str = include_str!("../../../../events/rest-logout.json");
const ME: &str = include_str!("../../../../events/rest-me.json");
const SESSIONS_LIST: &str = include_str!("../../../../events/rest-sessions-list.json");
const SESSIONS_REVOKE: &str = include_str!("../../../../events/rest-sessions-revoke.json");
const SESSIONS_REVOKE_ALL: &str = include_str!("../../../../events/rest-sessions-revoke-all.json");
const JWKS: &str = include_str!("../../../../events/rest-jwks.json");
const OPENID: &str = include_str!("../../../../events/rest-openid-configuration.json");

async fn every_sample_event_is_answered_by_its_function_handler<S: Store>(h: Harness<S>) {
    let s = &h.service;
    let alice = h.add_user("alice", "pw-of-alice", "profile").await;
    let none = |json: &str, secret: &str| event(json, "", "", "", secret);

    // Login, JSON and form: two sessions.
    let resp = TestResponse::from(handlers::login(s, none(LOGIN, "pw-of-alice")).await);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let laptop = resp.tokens();
    let resp = TestResponse::from(handlers::login(s, none(LOGIN_FORM, "pw-of-alice")).await);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let phone = resp.tokens();
    let laptop_session = h.session_of(&laptop.refresh_token).await;
    assert_eq!(laptop_session.user_agent.as_deref(), Some("curl/8.5.0"));
    assert_eq!(laptop_session.source_ip.as_deref(), Some("203.0.113.7"));

    // Refresh, JSON and form.
    let resp = TestResponse::from(handlers::refresh(s, none(REFRESH, &laptop.refresh_token)).await);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let laptop = resp.tokens();
    let resp =
        TestResponse::from(handlers::refresh(s, none(REFRESH_FORM, &phone.refresh_token)).await);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let phone = resp.tokens();

    // The protected routes, with the authorizer context of the laptop's access token.
    let claims = h.access_claims(&laptop.access_token);
    let ctx = |json: &str| event(json, &alice.user_id, &claims.sid, &claims.jti, "");
    let resp = TestResponse::from(handlers::me(ctx(ME)).await);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["sub"], alice.user_id.as_str());
    assert_eq!(resp.json()["jti"], claims.jti.as_str());
    let resp = TestResponse::from(handlers::sessions(s, ctx(SESSIONS_LIST)).await);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["sessions"].as_array().unwrap().len(), 2);

    // Revoke the phone's session (the event names the session in its path parameter).
    let phone_sid = h.refresh_claims(&phone.refresh_token).sid;
    let revoke = event(SESSIONS_REVOKE, &alice.user_id, &phone_sid, &claims.jti, "");
    let resp = TestResponse::from(handlers::sessions(s, revoke).await);
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert!(h.session(&phone_sid).await.revoked);
    assert!(!h.session(&claims.sid).await.revoked);

    // Log out the laptop, then log out everywhere (nothing left, still 204).
    let resp = TestResponse::from(handlers::logout(s, none(LOGOUT, &laptop.refresh_token)).await);
    assert_eq!(resp.status, 204);
    assert!(h.session(&claims.sid).await.revoked);
    let resp = TestResponse::from(handlers::sessions(s, ctx(SESSIONS_REVOKE_ALL)).await);
    assert_eq!(resp.status, 204);

    // Discovery.
    let resp = TestResponse::from(handlers::jwks(s, none(JWKS, "")).await);
    assert_eq!(resp.status, 200);
    assert!(resp.json()["keys"][0]["kid"].is_string());
    let resp = TestResponse::from(handlers::openid_configuration(s, none(OPENID, "")).await);
    assert_eq!(resp.json()["issuer"], ISSUER);

    // And the router sends every event to the same place (the stage is not part of the route).
    let resp = h.call(none(LOGIN, "pw-of-alice")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = h.call(ctx(ME)).await;
    assert_eq!(resp.status, 200);
}

//! Browser apps (docs/API.md, "The refresh token in a cookie"): with
//! `REFRESH_TOKEN_DELIVERY=cookie` the refresh token travels in an HttpOnly cookie, and a
//! request the cookie authenticates must come from an allowed origin and be non-simple, or it
//! is 403 and nothing changes.

use serde_json::{Value, json};
use tessera_service::PublicPrefix;
use tessera_store::Store;

use crate::helpers::{Harness, TestResponse, rest_event};

const APP: &str = "https://app.example.test";
const BOTH_MODE: &[(&str, &str)] = &[
    ("REFRESH_TOKEN_DELIVERY", "both"),
    ("CORS_ALLOW_ORIGIN", APP),
];
const COOKIE_MODE: &[(&str, &str)] = &[
    ("REFRESH_TOKEN_DELIVERY", "cookie"),
    (
        "CORS_ALLOW_ORIGIN",
        "https://app.example.test, https://admin.example.test",
    ),
];

/// Instantiates each `async fn name<S: Store>(h: Harness<S>)` once per store, configured
/// with `$vars`.
macro_rules! configured_tests {
    ($vars:expr => $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::sqlite_with($vars)).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::dynamodb_with($vars).await).await;
                }
            )*
        }
    };
}

mod cookie_mode {
    use super::*;
    configured_tests!(crate::cookies::COOKIE_MODE =>
        login_sets_an_http_only_secure_strict_cookie_and_no_refresh_token_in_the_body,
        refresh_from_the_cookie_rotates_and_sets_the_successor,
        a_cross_site_form_post_is_403_and_nothing_changes,
        a_foreign_origin_is_403_and_nothing_changes,
        no_origin_at_all_is_403_and_nothing_changes,
        logout_from_the_cookie_revokes_and_clears_the_cookie,
        a_refused_refresh_clears_the_cookie,
        a_stolen_cookie_value_replayed_after_the_grace_window_revokes_the_session,
        the_cookie_path_is_the_stage_prefix_of_auth,
    );
}

mod both_mode {
    use super::*;
    configured_tests!(crate::cookies::BOTH_MODE =>
        both_puts_the_token_in_the_body_and_the_cookie,
    );
}

mod body_mode {
    use super::*;
    configured_tests!(&[] => the_default_body_mode_sets_no_cookie_and_ignores_one,);
}

/// The refresh cookie's value and attributes from an answer's `Set-Cookie`.
fn set_cookie(resp: &TestResponse) -> (String, String) {
    let header = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("__Secure-tessera-refresh="))
        .unwrap_or_else(|| panic!("no refresh cookie: {:?}", resp.headers));
    let (pair, attributes) = header.split_once("; ").unwrap();
    let value = pair.split_once('=').unwrap().1.to_owned();
    (value, attributes.to_owned())
}

/// A POST from the browser: the cookie, an origin, and a content type.
fn browser_post(
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    content_type: &str,
    body: &str,
) -> crate::helpers::Request {
    let cookie = format!("__Secure-tessera-refresh={cookie}; theme=dark");
    let mut headers = vec![("cookie", cookie.as_str()), ("content-type", content_type)];
    if let Some(origin) = origin {
        headers.push(("origin", origin));
    }
    rest_event("POST", path, &headers, Some(body), None)
}

async fn log_in<S: Store>(h: &Harness<S>) -> (TestResponse, String) {
    h.add_user("alice", "correct horse battery", "profile")
        .await;
    let resp = h
        .call(rest_event(
            "POST",
            "/auth/login",
            &[("content-type", "application/json"), ("origin", APP)],
            Some(&json!({"username": "alice", "password": "correct horse battery"}).to_string()),
            None,
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let (cookie, _) = set_cookie(&resp);
    (resp, cookie)
}

/// The session as the store holds it, to compare before and after a refused request.
async fn session_state<S: Store>(h: &Harness<S>, access: &str) -> (String, u64, bool) {
    let sid = h.access_claims(access).sid;
    let s = h.session(&sid).await;
    (s.current_hash, s.generation, s.revoked)
}

fn access(resp: &TestResponse) -> String {
    resp.json()["access_token"].as_str().unwrap().to_owned()
}

/// Gives cookie delivery; logs in; expects the refresh token only in a `__Secure-` cookie that
/// is HttpOnly, Secure, SameSite=Strict, Path=/auth, with Max-Age the session's remaining
/// lifetime, and a body without `refresh_token`.
async fn login_sets_an_http_only_secure_strict_cookie_and_no_refresh_token_in_the_body<S: Store>(
    h: Harness<S>,
) {
    let (resp, cookie) = log_in(&h).await;
    let (_, attributes) = set_cookie(&resp);
    let body = resp.json();
    assert_eq!(
        attributes,
        format!(
            "Path=/auth; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
            body["refresh_token_expires_in"]
        )
    );
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(
        h.refresh_claims(&cookie).sid,
        h.access_claims(&access(&resp)).sid
    );
}

/// Gives a logged-in browser; refreshes with only the cookie, from the app's origin, as JSON;
/// expects 200, a new cookie (the successor) and the session one generation on.
async fn refresh_from_the_cookie_rotates_and_sets_the_successor<S: Store>(h: Harness<S>) {
    let (login, cookie) = log_in(&h).await;
    let before = session_state(&h, &access(&login)).await;

    let resp = h
        .call(browser_post(
            "/auth/refresh",
            &cookie,
            Some(APP),
            "application/json",
            "{}",
        ))
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let (next, _) = set_cookie(&resp);
    assert_ne!(next, cookie);
    assert!(resp.json().get("refresh_token").is_none());
    let after = session_state(&h, &access(&resp)).await;
    assert_eq!(after.1, before.1 + 1);
}

/// Gives a logged-in browser; a page on another site submits a form to refresh (the cookie
/// rides along); expects 403 `access_denied` and the session untouched.
async fn a_cross_site_form_post_is_403_and_nothing_changes<S: Store>(h: Harness<S>) {
    let (login, cookie) = log_in(&h).await;
    let before = session_state(&h, &access(&login)).await;
    for origin in ["https://evil.example", APP] {
        let resp = h
            .call(browser_post(
                "/auth/refresh",
                &cookie,
                Some(origin),
                "application/x-www-form-urlencoded",
                "grant_type=refresh_token",
            ))
            .await;
        resp.assert_error(403, "access_denied");
    }
    assert_eq!(session_state(&h, &access(&login)).await, before);
}

/// Gives a logged-in browser; a script on a foreign origin refreshes with the cookie as JSON;
/// expects 403 and the session untouched.
async fn a_foreign_origin_is_403_and_nothing_changes<S: Store>(h: Harness<S>) {
    let (login, cookie) = log_in(&h).await;
    let before = session_state(&h, &access(&login)).await;
    for path in ["/auth/refresh", "/auth/logout"] {
        let resp = h
            .call(browser_post(
                path,
                &cookie,
                Some("https://evil.example"),
                "application/json",
                "{}",
            ))
            .await;
        resp.assert_error(403, "access_denied");
    }
    assert_eq!(session_state(&h, &access(&login)).await, before);
}

/// Gives a logged-in browser; a request with the cookie and neither Origin nor Referer;
/// expects 403 and the session untouched.
async fn no_origin_at_all_is_403_and_nothing_changes<S: Store>(h: Harness<S>) {
    let (login, cookie) = log_in(&h).await;
    let before = session_state(&h, &access(&login)).await;
    let resp = h
        .call(browser_post(
            "/auth/refresh",
            &cookie,
            None,
            "application/json",
            "{}",
        ))
        .await;
    resp.assert_error(403, "access_denied");
    assert_eq!(session_state(&h, &access(&login)).await, before);
}

/// Gives a logged-in browser; logs out with only the cookie; expects 204, the session revoked
/// and the cookie cleared (Max-Age=0).
async fn logout_from_the_cookie_revokes_and_clears_the_cookie<S: Store>(h: Harness<S>) {
    let (login, cookie) = log_in(&h).await;

    let resp = h
        .call(browser_post(
            "/auth/logout",
            &cookie,
            Some(APP),
            "application/json",
            "{}",
        ))
        .await;

    assert_eq!(resp.status, 204, "{}", resp.text());
    let (value, attributes) = set_cookie(&resp);
    assert_eq!(value, "");
    assert!(attributes.contains("Max-Age=0"), "{attributes}");
    assert!(session_state(&h, &access(&login)).await.2, "revoked");
}

/// Gives a cookie that is no refresh token; refreshes; expects 400 `invalid_grant` and the
/// cookie cleared, so the browser stops sending it.
async fn a_refused_refresh_clears_the_cookie<S: Store>(h: Harness<S>) {
    let resp = h
        .call(browser_post(
            "/auth/refresh",
            "not.a.token",
            Some(APP),
            "application/json",
            "{}",
        ))
        .await;
    resp.assert_error(400, "invalid_grant");
    let (value, attributes) = set_cookie(&resp);
    assert_eq!(value, "");
    assert!(attributes.contains("Max-Age=0"), "{attributes}");
}

/// Gives a browser that refreshed, and a thief holding the cookie value before that; the thief
/// replays it after the grace window; expects 400 and the whole session revoked, as in body
/// mode.
async fn a_stolen_cookie_value_replayed_after_the_grace_window_revokes_the_session<S: Store>(
    h: Harness<S>,
) {
    let (login, stolen) = log_in(&h).await;
    let resp = h
        .call(browser_post(
            "/auth/refresh",
            &stolen,
            Some(APP),
            "application/json",
            "{}",
        ))
        .await;
    assert_eq!(resp.status, 200);
    h.advance(crate::helpers::GRACE + 1);

    let replay = h
        .call(browser_post(
            "/auth/refresh",
            &stolen,
            Some(APP),
            "application/json",
            "{}",
        ))
        .await;

    replay.assert_error(400, "invalid_grant");
    assert!(session_state(&h, &access(&login)).await.2, "revoked");
}

/// Gives a request that reached the function through API Gateway's default URL
/// (`/prod/auth/login`, routed as `/auth/login`); logs in; expects the cookie's Path to be
/// `/prod/auth`, so the browser sends it back to `/prod/auth/refresh`.
async fn the_cookie_path_is_the_stage_prefix_of_auth<S: Store>(h: Harness<S>) {
    h.add_user("bob", "correct horse battery", "profile").await;
    let mut req = rest_event(
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        Some(&json!({"username": "bob", "password": "correct horse battery"}).to_string()),
        None,
    );
    req.extensions_mut()
        .insert(PublicPrefix::of("/prod/auth/login", "/auth/login"));

    let resp = h.call(req).await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(set_cookie(&resp).1.starts_with("Path=/prod/auth;"));
}

/// Gives `both`; logs in; expects the refresh token in the body and the same one in the cookie.
async fn both_puts_the_token_in_the_body_and_the_cookie<S: Store>(h: Harness<S>) {
    let (resp, cookie) = log_in(&h).await;
    assert_eq!(resp.json()["refresh_token"], Value::from(cookie));
}

/// Gives the default (body) delivery; logs in, then refreshes with only a cookie; expects no
/// Set-Cookie, and the cookie ignored (400: refresh_token is required).
async fn the_default_body_mode_sets_no_cookie_and_ignores_one<S: Store>(h: Harness<S>) {
    h.add_user("carol", "correct horse battery", "profile")
        .await;
    let tokens = h.login("carol", "correct horse battery").await;
    let resp = h
        .call(browser_post(
            "/auth/refresh",
            &tokens.refresh_token,
            Some(APP),
            "application/json",
            "{}",
        ))
        .await;
    resp.assert_error(400, "invalid_request");
    assert!(resp.headers.get("set-cookie").is_none());
}

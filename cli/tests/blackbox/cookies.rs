//! Browser apps on `tessera serve` (docs/API.md, "The refresh token in a cookie"): cookie
//! delivery, the CSRF rule and CORS with credentials, over real HTTP, with the store checked
//! after every refusal.

use serde_json::json;

use crate::helpers::{Backend, Reply, Server, TestUser, read_reply, spawn_serve};

const APP: &str = "http://127.0.0.1:9";

both_backends!(cookie_mode_refresh_and_logout_ride_on_the_cookie_and_cross_site_requests_are_403,);

sqlite_only!(cookie_mode_a_preflight_is_answered_as_api_gateway_would,);

async fn cookie_server(backend: Backend) -> Server {
    spawn_serve(
        backend,
        &[
            ("REFRESH_TOKEN_DELIVERY", "cookie"),
            ("CORS_ALLOW_ORIGIN", &format!("{APP}, http://127.0.0.1:10")),
        ],
    )
    .await
}

/// The refresh cookie's value from an answer's `Set-Cookie`.
fn cookie_of(reply: &Reply) -> String {
    let header = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Secure-tessera-refresh="))
        .unwrap_or_else(|| panic!("no refresh cookie: {:?}", reply.headers));
    assert!(
        header.ends_with("; HttpOnly; Secure; SameSite=Strict"),
        "{header}"
    );
    header
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap()
}

async fn post(
    server: &Server,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    content_type: &str,
    body: &str,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(server.url(path))
        .header("cookie", format!("__Secure-tessera-refresh={cookie}"))
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    read_reply(request.send().await.unwrap()).await
}

/// Gives serve in cookie mode and a user; logs in from the app's origin; expects the cookie,
/// no `refresh_token` in the body, and CORS with credentials for that origin. Then a
/// cross-site form post, a foreign origin and no origin at all are each 403 with the session
/// untouched; the app's own JSON refresh rotates; its logout clears the cookie and ends the
/// session.
async fn cookie_mode_refresh_and_logout_ride_on_the_cookie_and_cross_site_requests_are_403(
    backend: Backend,
) {
    let server = cookie_server(backend).await;
    let user = TestUser::generate(&server).await;
    let login = read_reply(
        reqwest::Client::new()
            .post(server.url("/auth/login"))
            .header("origin", APP)
            .json(&json!({"username": user.username, "password": user.password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(
        login.json().get("refresh_token").is_none(),
        "{}",
        login.body
    );
    assert_eq!(login.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        login.header("access-control-allow-credentials"),
        Some("true")
    );
    let cookie = cookie_of(&login);
    let sessions = server.session_list(&user.username).await;
    assert_eq!(sessions.len(), 1);

    for (origin, content_type, body) in [
        (
            Some("http://evil.example"),
            "application/x-www-form-urlencoded",
            "grant_type=refresh_token",
        ),
        (
            Some(APP),
            "application/x-www-form-urlencoded",
            "grant_type=refresh_token",
        ),
        (Some("http://evil.example"), "application/json", "{}"),
        (None, "application/json", "{}"),
    ] {
        for path in ["/auth/refresh", "/auth/logout"] {
            let reply = post(&server, path, &cookie, origin, content_type, body).await;
            assert_eq!(
                reply.status, 403,
                "{path} {origin:?} {content_type}: {}",
                reply.body
            );
            assert_eq!(reply.json()["error"], "access_denied");
        }
    }
    assert_eq!(server.session_list(&user.username).await, sessions);

    let refreshed = post(
        &server,
        "/auth/refresh",
        &cookie,
        Some(APP),
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let next = cookie_of(&refreshed);
    assert_ne!(next, cookie);

    let logout = post(
        &server,
        "/auth/logout",
        &next,
        Some(APP),
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(logout.status, 204, "{}", logout.body);
    assert_eq!(cookie_of(&logout), "");
    assert!(server.session_list(&user.username).await.is_empty());
}

/// Gives serve in cookie mode; sends a preflight for POST /auth/refresh from the app's origin
/// and from a foreign one; expects 204 with the methods and headers, the origin echoed with
/// credentials only for the listed one, and `Vary: Origin`.
async fn cookie_mode_a_preflight_is_answered_as_api_gateway_would(backend: Backend) {
    let server = cookie_server(backend).await;
    let preflight = |origin: &'static str| {
        let url = server.url("/auth/refresh");
        async move {
            read_reply(
                reqwest::Client::new()
                    .request(reqwest::Method::OPTIONS, url)
                    .header("origin", origin)
                    .header("access-control-request-method", "POST")
                    .header("access-control-request-headers", "content-type")
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let allowed = preflight(APP).await;
    assert_eq!(allowed.status, 204, "{}", allowed.body);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    assert!(
        allowed
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        allowed
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("content-type")
    );
    assert_eq!(allowed.header("vary"), Some("Origin"));
    let foreign = preflight("http://evil.example").await;
    assert_eq!(foreign.status, 204);
    assert!(foreign.header("access-control-allow-origin").is_none());
}

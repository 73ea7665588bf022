//! Browser apps on `tessera serve` (docs/API.md, "The refresh token in a cookie"): cookie
//! delivery, the CSRF rule and CORS with credentials, over real HTTP, with the store checked
//! after every refusal.

use serde_json::json;

use crate::helpers::{Backend, Reply, Server, TestUser, read_reply, spawn_serve};
use crate::hostile::raw;

const APP: &str = "http://127.0.0.1:9";

both_backends!(
    cookie_mode_refresh_and_logout_ride_on_the_cookie_and_cross_site_requests_are_403,
    cookie_mode_64_cross_site_refreshes_at_once_are_all_403_and_spend_nothing,
);

sqlite_only!(
    cookie_mode_a_preflight_is_answered_as_api_gateway_would,
    cookie_mode_raw_requests_with_two_cookies_or_two_origins_are_refused,
);

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

/// Logs in from the app's origin and returns the refresh cookie's value.
async fn cookie_login(server: &Server, user: &TestUser) -> String {
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
    cookie_of(&login)
}

/// Gives serve in cookie mode and a logged-in browser; 64 cross-site requests (a foreign
/// origin's JSON, a form from the app's origin, no origin at all) carry its cookie to refresh
/// at once; expects every one 403 `access_denied`, the session untouched, and the very same
/// cookie still rotating afterwards (none of them spent it).
async fn cookie_mode_64_cross_site_refreshes_at_once_are_all_403_and_spend_nothing(
    backend: Backend,
) {
    let server = cookie_server(backend).await;
    let user = TestUser::generate(&server).await;
    let cookie = cookie_login(&server, &user).await;
    let sessions = server.session_list(&user.username).await;

    let shapes = [
        (Some("http://evil.example"), "application/json", "{}"),
        (
            Some(APP),
            "application/x-www-form-urlencoded",
            "grant_type=refresh_token",
        ),
        (None, "application/json", "{}"),
    ];
    let url = server.url("/auth/refresh");
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (origin, content_type, body) = shapes[i % shapes.len()];
        let request = reqwest::Client::new()
            .post(url.clone())
            .header("cookie", format!("__Secure-tessera-refresh={cookie}"))
            .header("content-type", content_type)
            .body(body);
        let request = match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        };
        requests.spawn(async move { read_reply(request.send().await.unwrap()).await });
    }
    let replies = requests.join_all().await;

    for reply in &replies {
        assert_eq!(reply.status, 403, "{}", reply.body);
        assert_eq!(reply.json()["error"], "access_denied");
    }
    assert_eq!(server.session_list(&user.username).await, sessions);
    let own = post(
        &server,
        "/auth/refresh",
        &cookie,
        Some(APP),
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
}

/// Gives serve in cookie mode and a logged-in browser; on a raw socket, a refresh carrying two
/// refresh cookies (one planted for another path), and one with two `Origin` headers (the
/// allowed one and a foreign one); expects 400 `invalid_request` and 403 `access_denied`,
/// never a guess between them, and the session untouched.
async fn cookie_mode_raw_requests_with_two_cookies_or_two_origins_are_refused(backend: Backend) {
    let server = cookie_server(backend).await;
    let user = TestUser::generate(&server).await;
    let cookie = cookie_login(&server, &user).await;
    let sessions = server.session_list(&user.username).await;
    let request = |headers: &str| {
        format!(
            "POST /auth/refresh HTTP/1.1\r\nhost: tessera\r\ncontent-type: application/json\r\n\
             content-length: 2\r\n{headers}connection: close\r\n\r\n{{}}"
        )
    };

    let two_cookies = raw(
        server.addr,
        &request(&format!(
            "origin: {APP}\r\ncookie: __Secure-tessera-refresh={cookie}\r\n\
             cookie: __Secure-tessera-refresh=planted\r\n"
        )),
    )
    .await;
    let two_origins = raw(
        server.addr,
        &request(&format!(
            "origin: {APP}\r\norigin: http://evil.example\r\n\
             cookie: __Secure-tessera-refresh={cookie}\r\n"
        )),
    )
    .await;

    assert_eq!(two_cookies.status, 400, "{two_cookies:?}");
    assert!(
        two_cookies.body.contains("invalid_request"),
        "{two_cookies:?}"
    );
    assert_eq!(two_origins.status, 403, "{two_origins:?}");
    assert!(
        two_origins.body.contains("access_denied"),
        "{two_origins:?}"
    );
    assert_eq!(server.session_list(&user.username).await, sessions);
}

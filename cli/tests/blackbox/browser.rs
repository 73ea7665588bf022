//! The browser client in a real browser (README, "In the browser"): the demo page
//! (`clients/browser/demo/`) on one origin, `tessera serve` in cookie mode on another, headless
//! Chromium driven over WebDriver by chromedriver. scripts/test installs both from Debian's
//! packages when they are missing.
//!
//! What only a browser shows: that Chromium keeps a `Secure` `__Secure-` cookie from
//! `http://127.0.0.1` (a secure context) and sends it back cross-origin with credentials, that
//! no script can read it, that concurrent calls and two tabs across an expiry rotate once, and
//! that a revocation elsewhere or a logout signs the page out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{Backend, ServeOptions, Server, TempDir, TestUser, free_addr};

/// A short access token lifetime, so the test can cross an expiry.
const ACCESS_TTL: u64 = 3;

/// The demo's files, served from their own origin (another port: another origin, same site).
async fn static_origin() -> SocketAddr {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/browser");
    let serve = move |uri: axum::http::Uri| {
        let root = root.clone();
        async move {
            let (file, kind) = match uri.path() {
                "/tessera.js" => ("tessera.js", "text/javascript"),
                "/demo/" | "/demo/index.html" => ("demo/index.html", "text/html; charset=utf-8"),
                _ => {
                    return (
                        axum::http::StatusCode::NOT_FOUND,
                        [("content-type", "text/plain")],
                        Vec::new(),
                    );
                }
            };
            let body = std::fs::read(root.join(file)).unwrap();
            (axum::http::StatusCode::OK, [("content-type", kind)], body)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(serve);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: std::process::Child,
    url: String,
    _profile: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser() -> (Driver, Client) {
    let port = free_addr().port();
    let child = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("chromedriver: {e} (scripts/test installs chromium and chromium-driver)")
        });
    let profile = TempDir::new("chromium-profile");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1000,1100",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    // chromedriver takes a moment to listen: retry the session until it does.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no WebDriver session: {last:?}");
}

/// Runs `body` (a JS expression yielding a promise) in the page and returns its value.
async fn run(page: &Client, body: &str) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];\
         Promise.resolve().then(() => {body}).then(done, (e) => done({{thrown: String(e)}}));"
    );
    page.execute_async(&script, vec![]).await.unwrap()
}

/// How many refreshes the server has answered with `outcome` so far (its /metrics).
async fn refreshes(server: &Server, outcome: &str) -> u64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("tessera_requests_total{{use_case=\"refresh\",outcome=\"{outcome}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().unwrap())
}

async fn signed_in(page: &Client, expected: bool) {
    let css = format!("#status[data-signed-in=\"{expected}\"]");
    page.wait().for_element(Locator::Css(&css)).await.unwrap();
}

/// Types into the demo's login form (the username only when given) and waits until the page
/// says it is signed in.
async fn log_in_with_the_form(page: &Client, username: Option<&str>, password: &str) {
    let field = |id| page.find(Locator::Id(id));
    if let Some(username) = username {
        field("username")
            .await
            .unwrap()
            .send_keys(username)
            .await
            .unwrap();
    }
    field("password")
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    field("login").await.unwrap().click().await.unwrap();
    signed_in(page, true).await;
}

/// Waits, in the page, until the access token it holds has expired: a condition polled in the
/// browser (short TTL, bounded by WebDriver's script timeout), not a fixed sleep.
async fn past_expiry(page: &Client) {
    run(
        page,
        "new Promise((resolve) => { const expired = () => Date.now() > window.demo.client.expiresAt \
         ? resolve(true) : setTimeout(expired, 50); expired(); })",
    )
    .await;
}

sqlite_only!(browser_demo_in_cookie_mode_end_to_end,);

/// Gives serve in cookie mode (access tokens of 3 s, no grace window, so any second use of a
/// refresh token is a reuse) and the demo page on another origin; in Chromium: logs in,
/// checks no script sees the refresh token, asks "who am I", saves a screenshot; after an
/// expiry fires 10 calls at once (one refresh); opens a second tab and calls from both across
/// an expiry (one rotation, no reuse); revokes every session from another client (the page
/// signs out at its next refresh); logs in again and out (the cookie is gone).
async fn browser_demo_in_cookie_mode_end_to_end(backend: Backend) {
    let site = static_origin().await;
    let origin = format!("http://{site}");
    let server = ServeOptions::new(backend)
        .envs(&[
            ("REFRESH_TOKEN_DELIVERY", "cookie"),
            ("CORS_ALLOW_ORIGIN", &origin),
            ("ACCESS_TOKEN_TTL", &ACCESS_TTL.to_string()),
            ("REFRESH_REUSE_GRACE", "0"),
            ("REFRESH_REUSE_GRACE_ZERO_CONFIRMED", "true"),
        ])
        .spawn()
        .await;
    let user = TestUser::generate(&server).await;
    let (_driver, page) = browser().await;
    let demo = format!(
        "{origin}/demo/index.html?api={}&background=0",
        server.url("").trim_end_matches('/')
    );

    // Log in through the form.
    page.goto(&demo).await.unwrap();
    run(&page, "window.demo.ready").await;
    log_in_with_the_form(&page, Some(&user.username), &user.password).await;

    // No script can read the refresh token.
    let cookies = page
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert!(
        !cookies.as_str().unwrap_or_default().contains("tessera"),
        "{cookies}"
    );

    // Who am I: the access token from memory, through CORS.
    let me = run(&page, "window.demo.whoami()").await;
    assert_eq!(me["status"], 200, "{me}");
    assert!(me["body"]["sub"].is_string(), "{me}");
    let shot = page.screenshot().await.unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("demo-after-login.png"), shot).unwrap();

    // Ten calls at once across an expiry: one refresh, every call answered.
    let before = refreshes(&server, "rotated").await;
    past_expiry(&page).await;
    let ten = run(
        &page,
        "Promise.all(Array.from({length: 10}, () => window.demo.whoami()))",
    )
    .await;
    let statuses: Vec<&Value> = ten
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert!(statuses.iter().all(|s| **s == 200), "{ten}");
    assert_eq!(refreshes(&server, "rotated").await - before, 1);

    // A second tab resumes from the cookie; then both call across an expiry: one rotation.
    let first = page.window().await.unwrap();
    let second = page.new_window(true).await.unwrap().handle;
    page.switch_to_window(second.clone()).await.unwrap();
    page.goto(&demo).await.unwrap();
    run(&page, "window.demo.ready").await;
    signed_in(&page, true).await;
    past_expiry(&page).await;
    let before = refreshes(&server, "rotated").await;
    run(
        &page,
        "(window.pending = Promise.all([1, 2, 3].map(() => window.demo.whoami())), true)",
    )
    .await;
    page.switch_to_window(first.clone()).await.unwrap();
    let here = run(
        &page,
        "Promise.all([1, 2, 3].map(() => window.demo.whoami()))",
    )
    .await;
    page.switch_to_window(second.clone()).await.unwrap();
    let there = run(&page, "window.pending").await;
    for answers in [&here, &there] {
        assert!(
            answers
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["status"] == 200),
            "{answers}"
        );
    }
    assert_eq!(refreshes(&server, "rotated").await - before, 1);
    assert_eq!(refreshes(&server, "reuse_detected").await, 0);

    // Another client logs the user out everywhere: at its next refresh the page signs out,
    // and so does the other tab.
    let elsewhere = server.login(&user.username, &user.password).await.json();
    let elsewhere = elsewhere["access_token"].as_str().unwrap();
    assert_eq!(
        server
            .delete("/auth/sessions", Some(elsewhere))
            .await
            .status,
        204
    );
    page.switch_to_window(first.clone()).await.unwrap();
    past_expiry(&page).await;
    let after = run(&page, "window.demo.whoami()").await;
    assert_eq!(after["body"], "signed out", "{after}");
    signed_in(&page, false).await;
    page.switch_to_window(second).await.unwrap();
    signed_in(&page, false).await;

    // Log in again, then out: the cookie is cleared, so a refresh carries none at all.
    page.switch_to_window(first).await.unwrap();
    // (The form still holds the username.)
    log_in_with_the_form(&page, None, &user.password).await;
    page.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    signed_in(&page, false).await;
    let probe = format!(
        "fetch('{}', {{method: 'POST', credentials: 'include', \
         headers: {{'Content-Type': 'application/json'}}, body: '{{}}'}}).then((r) => r.json())",
        server.url("/auth/refresh")
    );
    let refused = run(&page, &probe).await;
    assert_eq!(refused["error"], "invalid_request", "{refused}");
    assert!(server.session_list(&user.username).await.is_empty());

    page.close().await.unwrap();
}

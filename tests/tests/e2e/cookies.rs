//! Browser apps on Lambda (docs/API.md, "The refresh token in a cookie"): REST proxy events
//! that carry the stage, as API Gateway's default URL sends them, through the real functions.
//! The cookie's Path must be the public one (`/prod/auth`), or the browser never sends it back.

use serde_json::{Value, json};
use tessera_e2e::events::{self, Encoding, ProxyResponse};
use tessera_e2e::stack::Stack;

use crate::helpers::{Deployment, call};

const APP: &str = "https://app.example.com";

/// `event` with these headers set (in both header maps) and this body.
fn browser(mut event: Value, headers: &[(&str, &str)], body: &str) -> Value {
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
        event["multiValueHeaders"][*name] = json!([value]);
    }
    event["body"] = json!(body);
    event
}

/// The refresh cookie's value and attributes.
fn cookie(response: &ProxyResponse) -> (String, String) {
    let header = response
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no Set-Cookie: {response:?}"));
    let (pair, attributes) = header.split_once("; ").unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, "__Secure-tessera-refresh");
    (value.to_owned(), attributes.to_owned())
}

#[tokio::test]
async fn cookie_delivery_on_a_stage_url_sets_path_prod_auth_and_the_csrf_rule_holds() {
    // Given cookie delivery and one allowed origin, behind API Gateway's default URL (stage prod)
    let stack = Stack::with_config(&[
        ("REFRESH_TOKEN_DELIVERY", "cookie"),
        ("CORS_ALLOW_ORIGIN", APP),
    ])
    .await
    .unwrap();
    let d = Deployment::over(stack).await;
    let (user, _) = d.user().await;

    // When the app logs in
    let login = events::login(Encoding::Json, &user.username, &user.password).unwrap();
    let login = call(
        &d.login,
        &browser(
            login.clone(),
            &[("Origin", APP)],
            login["body"].as_str().unwrap(),
        ),
    )
    .await;

    // Then the refresh token is only in the cookie, for the public path /prod/auth
    assert_eq!(login.status, 200, "{login:?}");
    let (token, attributes) = cookie(&login);
    assert!(
        attributes.starts_with("Path=/prod/auth; Max-Age=")
            && attributes.ends_with("; HttpOnly; Secure; SameSite=Strict"),
        "{attributes}"
    );
    assert!(login.json().unwrap().get("refresh_token").is_none());
    assert_eq!(login.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        login.header("access-control-allow-credentials"),
        Some("true")
    );

    // When a foreign origin, a cross-site form, a request without an origin, then the app
    // itself, refresh with the cookie
    let with_cookie = |origin: &str| {
        let event = events::refresh(Encoding::Json, "unused").unwrap();
        let cookie = format!("__Secure-tessera-refresh={token}");
        browser(
            event,
            &[
                ("Cookie", cookie.as_str()),
                ("Origin", origin),
                ("Content-Type", "application/json"),
            ],
            "{}",
        )
    };
    let cookie_header = format!("__Secure-tessera-refresh={token}");
    let cross_site_form = browser(
        events::refresh(Encoding::Form, "unused").unwrap(),
        &[
            ("Cookie", cookie_header.as_str()),
            ("Origin", "https://evil.example"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "grant_type=refresh_token",
    );
    let no_origin = browser(
        events::refresh(Encoding::Json, "unused").unwrap(),
        &[
            ("Cookie", cookie_header.as_str()),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    let refused = [
        call(&d.refresh, &with_cookie("https://evil.example")).await,
        call(&d.refresh, &cross_site_form).await,
        call(&d.refresh, &no_origin).await,
    ];
    let own = call(&d.refresh, &with_cookie(APP)).await;

    // Then a foreign origin, a cross-site form and a request without an origin are refused
    // before anything changed (the token still rotates after them), and the app's rotates
    for foreign in &refused {
        assert_eq!(foreign.status, 403, "{foreign:?}");
        assert_eq!(foreign.json().unwrap()["error"], "access_denied");
    }
    assert_eq!(own.status, 200, "{own:?}");
    let (next, attributes) = cookie(&own);
    assert_ne!(next, token);
    assert!(attributes.starts_with("Path=/prod/auth;"), "{attributes}");

    // When the app logs out with the new cookie
    let logout = events::logout("unused").unwrap();
    let cookie_header = format!("__Secure-tessera-refresh={next}");
    let logout = browser(
        logout,
        &[
            ("Cookie", cookie_header.as_str()),
            ("Origin", APP),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    let out = call(&d.logout, &logout).await;

    // Then 204, the cookie cleared, and the session can no longer refresh
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(
        cookie(&out),
        (
            String::new(),
            "Path=/prod/auth; Max-Age=0; HttpOnly; Secure; SameSite=Strict".to_owned()
        )
    );
    let after = call(&d.refresh, &with_cookie(APP)).await;
    assert_eq!(after.status, 400, "{after:?}");
}

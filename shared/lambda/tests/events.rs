//! The sample events in `events/` (what API Gateway sends each function), read by lambda_http
//! as the runtime reads them, through this crate's adapter and the router each function runs:
//! one user's journey across every route of docs/API.md. What the adapter must get right is
//! here: the stage in the path, the authorizer context, the request id, the client's address.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt as _;
use serde_json::Value;
use tessera_service::{
    Config, Password, Service, Sessions, hash_password_blocking, login_router, logout_router,
    me_router, refresh_router, sessions_router, well_known_router,
};
use tessera_store::{SessionStore, SqliteStore, User, UserStatus, UserStore};
use tessera_token::{Algorithm, KeySet, SecretValue, random_id};
use tower::ServiceExt as _;

/// Reads a sample event, filling in its placeholders: `usr_`/`sid_`/`jti_PLACEHOLDER` in the
/// authorizer context, then the bare `PLACEHOLDER` (a password or a token) in the body.
fn event(json: &str, user_id: &str, sid: &str, jti: &str, secret: &str) -> lambda_http::Request {
    let json = json
        .replace("usr_PLACEHOLDER", user_id)
        .replace("sid_PLACEHOLDER", sid)
        .replace("jti_PLACEHOLDER", jti)
        .replace("PLACEHOLDER", secret);
    lambda_http::request::from_str(&json).unwrap()
}

/// An answer, read.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn refresh_token(&self) -> String {
        self.json()["refresh_token"].as_str().unwrap().to_owned()
    }

    fn access_token(&self) -> String {
        self.json()["access_token"].as_str().unwrap().to_owned()
    }
}

/// What a function does with one event: the adapter, then its router.
async fn invoke(router: &Router, event: lambda_http::Request) -> Answer {
    let request = tessera_lambda::with_context(event).map(Body::new);
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer { status, body }
}

const LOGIN: &str = include_str!("../../../events/rest-login.json");
const LOGIN_FORM: &str = include_str!("../../../events/rest-login-form.json");
const REFRESH: &str = include_str!("../../../events/rest-refresh.json");
const REFRESH_FORM: &str = include_str!("../../../events/rest-refresh-form.json");
const LOGOUT: &str = include_str!("../../../events/rest-logout.json");
const ME: &str = include_str!("../../../events/rest-me.json");
const SESSIONS_LIST: &str = include_str!("../../../events/rest-sessions-list.json");
const SESSIONS_REVOKE: &str = include_str!("../../../events/rest-sessions-revoke.json");
const SESSIONS_REVOKE_ALL: &str = include_str!("../../../events/rest-sessions-revoke-all.json");
const JWKS: &str = include_str!("../../../events/rest-jwks.json");
const OPENID: &str = include_str!("../../../events/rest-openid-configuration.json");

#[tokio::test]
async fn every_sample_event_is_answered_by_its_functions_router() {
    let dir = std::env::temp_dir().join(format!("tessera-lambda-events-{}", random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("tessera.db")).unwrap();
    let config = Config::from_lookup(|name| match name {
        "ISSUER" => Some("https://auth.example.test/prod".to_owned()),
        "AUDIENCE" => Some("tessera-test-api".to_owned()),
        _ => None,
    })
    .unwrap();
    let keys = KeySet::from_secrets(Algorithm::Es256, &SecretValue::generate(), &[]).unwrap();
    let service = Arc::new(Service::new(config, keys, store.clone()));
    let login = login_router(Arc::clone(&service));
    let refresh = refresh_router(Arc::clone(&service));
    let logout = logout_router(Arc::clone(&service));
    let sessions = sessions_router(Arc::new(Sessions::new(store.clone())));
    let well_known = well_known_router(Arc::clone(&service));
    let me = me_router();
    let now = tessera_service::system_now();
    let alice = User {
        user_id: random_id(),
        username: "alice".to_owned(),
        password_hash: hash_password_blocking(Password::new("pw-of-alice"))
            .await
            .unwrap(),
        scope: "profile".to_owned(),
        status: UserStatus::Active,
        revoked_before: 0,
        created_at: now,
        updated_at: now,
    };
    store.create_user(&alice).await.unwrap();
    let none = |json: &str, secret: &str| event(json, "", "", "", secret);
    let session_of = |token: &str| {
        let claims = service
            .keys()
            .refresh_verifier(tessera_token::RefreshPolicy::new(
                "https://auth.example.test/prod",
            ))
            .verify(token, now)
            .unwrap();
        claims.sid
    };

    // Login, JSON and form: two sessions; the user agent and address come from the event.
    let resp = invoke(&login, none(LOGIN, "pw-of-alice")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let laptop = resp;
    let resp = invoke(&login, none(LOGIN_FORM, "pw-of-alice")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let phone = resp;
    let laptop_session = store
        .get_session(&session_of(&laptop.refresh_token()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(laptop_session.user_agent.as_deref(), Some("curl/8.5.0"));
    assert_eq!(laptop_session.source_ip.as_deref(), Some("203.0.113.7"));

    // Refresh, JSON and form.
    let laptop = invoke(&refresh, none(REFRESH, &laptop.refresh_token())).await;
    assert_eq!(laptop.status, 200, "{}", laptop.text());
    let phone = invoke(&refresh, none(REFRESH_FORM, &phone.refresh_token())).await;
    assert_eq!(phone.status, 200, "{}", phone.text());

    // The protected routes, with the authorizer context of the laptop's access token.
    let claims = service
        .access_verifier()
        .verify(&laptop.access_token(), now)
        .unwrap();
    let ctx = |json: &str| event(json, &alice.user_id, &claims.sid, &claims.jti, "");
    let resp = invoke(&me, ctx(ME)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["sub"], alice.user_id.as_str());
    assert_eq!(resp.json()["jti"], claims.jti.as_str());
    let resp = invoke(&sessions, ctx(SESSIONS_LIST)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["sessions"].as_array().unwrap().len(), 2);

    // Revoke the phone's session (the event names it in its path).
    let phone_sid = session_of(&phone.refresh_token());
    let revoke = event(SESSIONS_REVOKE, &alice.user_id, &phone_sid, &claims.jti, "");
    let resp = invoke(&sessions, revoke).await;
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert!(
        store
            .get_session(&phone_sid)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(
        !store
            .get_session(&claims.sid)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );

    // Log out the laptop, then log out everywhere (nothing left, still 204).
    let resp = invoke(&logout, none(LOGOUT, &laptop.refresh_token())).await;
    assert_eq!(resp.status, 204);
    assert!(
        store
            .get_session(&claims.sid)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    let resp = invoke(&sessions, ctx(SESSIONS_REVOKE_ALL)).await;
    assert_eq!(resp.status, 204);

    // Discovery.
    let resp = invoke(&well_known, none(JWKS, "")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.json()["keys"][0]["kid"].is_string());
    let resp = invoke(&well_known, none(OPENID, "")).await;
    assert_eq!(resp.json()["issuer"], "https://auth.example.test/prod");

    // A protected route without an authorizer context fails closed.
    let resp = invoke(&me, none(ME, "")).await;
    assert_eq!(resp.status, 401);
    let _ = std::fs::remove_dir_all(&dir);
}

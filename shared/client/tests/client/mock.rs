//! A small in-process Tessera: the token endpoints of docs/API.md (login, refresh, logout) and a
//! protected `GET /me`, with knobs the tests turn (expire tokens, answer 503, revoke, lock).
//!
//! It stands in for `tessera serve` until that exists, and follows the contract where the
//! client can tell: opaque random tokens, `Cache-Control: no-store`, OAuth error bodies,
//! refresh-token rotation with strict reuse detection (no grace window: presenting a spent
//! refresh token revokes the session), and 401 + `WWW-Authenticate` for a bad access token.
//!
//! It runs on its own thread and runtime, so a test may pause its own clock without
//! stopping the server, and the server's notion of expiry never depends on the test's.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// The username and password every mock server accepts.
pub const USERNAME: &str = "alice";
/// See [`USERNAME`].
pub const PASSWORD: &str = "correct horse battery staple";

/// A running mock; stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Inner>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Inner {
    access_ttl: Duration,
    users: HashMap<String, MockUser>,
    sessions: HashMap<String, MockSession>,
    /// Every refresh token ever issued, spent or not, to the session it belongs to.
    refresh_tokens: HashMap<String, String>,
    access_tokens: HashMap<String, MockAccess>,
    /// Answer this many token calls (login, refresh or logout) with 503.
    unavailable: u32,
    unavailable_retry_after: Option<u64>,
    /// Refuse every access token, valid or not.
    reject_access: bool,
    /// Hold the answer to the next refresh (after carrying it out) until released.
    refresh_gate: Option<Arc<Gate>>,
    counters: Counters,
    next_id: u64,
}

struct MockUser {
    password: String,
    locked_for: Option<u64>,
}

struct MockSession {
    username: String,
    current_refresh: String,
    revoked: bool,
}

struct MockAccess {
    sid: String,
    jti: String,
    expires_at: Instant,
}

/// Holds back the answer to a refresh that the server has already carried out, as when a
/// reply is lost or the client stops waiting for it.
#[derive(Default)]
pub struct Gate {
    /// Notified once the refresh has been carried out and its answer is held.
    pub arrived: tokio::sync::Notify,
    /// Notify to let the answer go.
    pub release: tokio::sync::Notify,
}

/// What the server saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls to `POST /auth/login`.
    pub logins: usize,
    /// Calls to `POST /auth/refresh`, whatever their outcome.
    pub refreshes: usize,
    /// Calls to `POST /auth/logout`.
    pub logouts: usize,
    /// Calls to `GET /me`.
    pub me_calls: usize,
    /// `GET /me` calls answered 401.
    pub unauthorized: usize,
    /// Sessions revoked because a spent refresh token was presented.
    pub reuse_revocations: usize,
}

impl MockServer {
    /// Starts a server whose access tokens live `access_ttl` (its `expires_in`).
    pub fn start(access_ttl: Duration) -> Self {
        let mut inner = Inner {
            access_ttl,
            ..Inner::default()
        };
        inner.users.insert(
            USERNAME.to_owned(),
            MockUser {
                password: PASSWORD.to_owned(),
                locked_for: None,
            },
        );
        let shared = Arc::new(Mutex::new(inner));
        // Bound before the thread starts: the kernel queues connections from then on, so a
        // test can connect at once without waiting for the server to be "ready".
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app = router(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    result = axum::serve(listener, app) => result.unwrap(),
                    _ = stop => {}
                }
            });
        });
        Self {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The base URL to give `Client::builder`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The protected route's URL.
    pub fn me_url(&self) -> String {
        format!("http://{}/me", self.addr)
    }

    /// What the server has seen so far.
    pub fn counters(&self) -> Counters {
        self.lock().counters
    }

    /// Makes every access token issued so far expired, as if its TTL had run out.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for access in self.lock().access_tokens.values_mut() {
            access.expires_at = now;
        }
    }

    /// Refuses every access token from now on, even fresh ones.
    pub fn reject_all_access_tokens(&self) {
        self.lock().reject_access = true;
    }

    /// Answers the next `n` token calls (login, refresh or logout) with 503, with
    /// `Retry-After: secs` if given.
    pub fn fail_next_token_calls(&self, n: u32, retry_after_secs: Option<u64>) {
        let mut inner = self.lock();
        inner.unavailable = n;
        inner.unavailable_retry_after = retry_after_secs;
    }

    /// Holds the answer to the next refresh until the returned gate is released.
    pub fn hold_next_refresh_reply(&self) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        self.lock().refresh_gate = Some(gate.clone());
        gate
    }

    /// Revokes every session (an administrator's "log out everywhere").
    pub fn revoke_all_sessions(&self) {
        for session in self.lock().sessions.values_mut() {
            session.revoked = true;
        }
    }

    /// Locks the user's account: logins answer 429 with `Retry-After: secs`.
    pub fn lock_user(&self, secs: u64) {
        if let Some(user) = self.lock().users.get_mut(USERNAME) {
            user.locked_for = Some(secs);
        }
    }

    /// Sessions neither revoked nor replaced.
    pub fn live_sessions(&self) -> usize {
        self.lock().sessions.values().filter(|s| !s.revoked).count()
    }

    /// The current refresh token of the one live session, if there is exactly one.
    pub fn current_refresh_token(&self) -> Option<String> {
        let inner = self.lock();
        let mut live = inner.sessions.values().filter(|s| !s.revoked);
        match (live.next(), live.next()) {
            (Some(session), None) => Some(session.current_refresh.clone()),
            _ => None,
        }
    }

    /// Every token the server has issued, and the password: none may appear in a log.
    pub fn secrets(&self) -> Vec<String> {
        let inner = self.lock();
        let mut secrets: Vec<String> = inner.refresh_tokens.keys().cloned().collect();
        secrets.extend(inner.access_tokens.keys().cloned());
        secrets.push(PASSWORD.to_owned());
        secrets
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock().unwrap()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Shared = Arc<Mutex<Inner>>;

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .with_state(shared)
}

impl Inner {
    fn random_token(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        let a = RandomState::new().hash_one(self.next_id);
        let b = RandomState::new().hash_one(self.next_id);
        format!("{prefix}.{a:016x}{b:016x}.{}", self.next_id)
    }

    /// Issues a pair for `sid`: the session's current refresh token becomes the new one.
    fn issue(&mut self, sid: &str) -> Value {
        let access = self.random_token("at");
        let refresh = self.random_token("rt");
        let jti = format!("jti-{}", self.next_id);
        let expires_at = Instant::now() + self.access_ttl;
        self.access_tokens.insert(
            access.clone(),
            MockAccess {
                sid: sid.to_owned(),
                jti,
                expires_at,
            },
        );
        self.refresh_tokens.insert(refresh.clone(), sid.to_owned());
        if let Some(session) = self.sessions.get_mut(sid) {
            session.current_refresh = refresh.clone();
        }
        json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl.as_secs(),
            "refresh_token": refresh,
            "refresh_token_expires_in": 2_592_000,
            "scope": "profile",
        })
    }

    /// The 503 the tests asked for, if any is left.
    fn take_unavailable(&mut self) -> Option<Response> {
        if self.unavailable == 0 {
            return None;
        }
        self.unavailable -= 1;
        let mut response = oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the session store is not answering",
        );
        if let Some(secs) = self.unavailable_retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        Some(response)
    }
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn token_response(body: Value) -> Response {
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The JSON body, if the request declares and carries one.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Option<Value> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json || body.len() > 16 * 1024 {
        return None;
    }
    serde_json::from_slice(body).ok()
}

fn field(body: &Value, name: &str) -> Option<String> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

async fn login(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = shared.lock().unwrap();
    inner.counters.logins += 1;
    let Some((username, password)) = json_body(&headers, &body)
        .and_then(|b| Some((field(&b, "username")?, field(&b, "password")?)))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        );
    };
    if let Some(response) = inner.take_unavailable() {
        return response;
    }
    let Some(user) = inner.users.get(&username) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "invalid username or password",
        );
    };
    if let Some(secs) = user.locked_for {
        let mut response = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "account temporarily locked",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
        return response;
    }
    if user.password != password {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "invalid username or password",
        );
    }
    let sid = inner.random_token("sid");
    inner.sessions.insert(
        sid.clone(),
        MockSession {
            username,
            current_refresh: String::new(),
            revoked: false,
        },
    );
    token_response(inner.issue(&sid))
}

async fn refresh(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (response, gate) = {
        let mut inner = shared.lock().unwrap();
        let response = rotate(&mut inner, &headers, &body);
        (response, inner.refresh_gate.take())
    };
    if let Some(gate) = gate {
        gate.arrived.notify_one();
        gate.release.notified().await;
    }
    response
}

fn rotate(inner: &mut Inner, headers: &HeaderMap, body: &Bytes) -> Response {
    inner.counters.refreshes += 1;
    let Some(presented) = json_body(headers, body).and_then(|b| field(&b, "refresh_token")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required",
        );
    };
    // A 503 leaves the session untouched: the client may retry with the same token.
    if let Some(response) = inner.take_unavailable() {
        return response;
    }
    let invalid_grant = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "invalid refresh token",
        )
    };
    let Some(sid) = inner.refresh_tokens.get(&presented).cloned() else {
        return invalid_grant();
    };
    let Some(session) = inner.sessions.get_mut(&sid) else {
        return invalid_grant();
    };
    if session.revoked {
        return invalid_grant();
    }
    if session.current_refresh != presented {
        // Reuse detection: a spent token means it leaked (or a client refreshed twice).
        session.revoked = true;
        inner.counters.reuse_revocations += 1;
        return invalid_grant();
    }
    token_response(inner.issue(&sid))
}

async fn logout(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = shared.lock().unwrap();
    inner.counters.logouts += 1;
    let Some(presented) = json_body(&headers, &body).and_then(|b| field(&b, "refresh_token"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required",
        );
    };
    if let Some(response) = inner.take_unavailable() {
        return response;
    }
    if let Some(sid) = inner.refresh_tokens.get(&presented).cloned()
        && let Some(session) = inner.sessions.get_mut(&sid)
    {
        session.revoked = true;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn me(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut inner = shared.lock().unwrap();
    inner.counters.me_calls += 1;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = token.and_then(|token| {
        let access = inner.access_tokens.get(token)?;
        let session = inner.sessions.get(&access.sid)?;
        (!inner.reject_access && Instant::now() < access.expires_at).then(|| {
            json!({
                "sub": session.username,
                "sid": access.sid,
                "scope": "profile",
                "jti": access.jti,
            })
        })
    });
    match valid {
        Some(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        None => {
            inner.counters.unauthorized += 1;
            let mut response = (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Unauthorized"})),
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            response
        }
    }
}

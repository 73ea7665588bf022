//! Test harness: a service over a fresh store with a controllable clock, requests as the edge
//! (the Lambda adapter, or serve's gateway) hands them to the routers, and readable responses.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::response::Response;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tessera_service::{
    Caller, ClientIp, Config, Password, RequestId, Service, hash_password_blocking,
};
use tower::ServiceExt as _;

/// A request as the routers receive it.
pub type Request = http::Request<Body>;
use tessera_store::{
    AttemptTicket, LockoutPolicy, LoginAttempt, LoginAttempts, NewSession, RotateOutcome, Rotation,
    Session, SessionCreated, SessionStore, SqliteStore, Store, StoreError, User, UserStatus,
    UserStore,
};
use tessera_token::{
    AccessClaims, Algorithm, KeySet, RefreshClaims, RefreshPolicy, RefreshVerifier, SecretValue,
    random_id,
};

/// The instant every test starts at (unix seconds).
pub const T0: i64 = 1_800_000_000;
pub const ISSUER: &str = "https://auth.example.test/prod";
pub const AUDIENCE: &str = "tessera-test-api";
pub const GRACE: i64 = 10;

/// A service over a store, with its clock in the test's hands.
pub struct Harness<S> {
    pub service: Arc<Service<S>>,
    pub clock: Arc<AtomicI64>,
    refresh_verifier: RefreshVerifier,
    _dir: Option<TempDir>,
}

/// A directory removed when the test ends.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(path: PathBuf) -> Self {
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn config() -> Config {
    config_with(&[])
}

/// The tests' configuration with some variables set as a deployment would set them.
pub fn config_with(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        if let Some((_, value)) = vars.iter().find(|(n, _)| *n == name) {
            return Some((*value).to_owned());
        }
        match name {
            "ISSUER" => Some(ISSUER),
            "AUDIENCE" => Some(AUDIENCE),
            "REFRESH_REUSE_GRACE" => Some("10"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap()
}

/// A service over a fresh SQLite store in its own temporary directory.
pub fn sqlite() -> Harness<SqliteStore> {
    sqlite_with_keys(KeySet::from_secrets(Algorithm::Es256, &SecretValue::generate(), &[]).unwrap())
}

/// A service with the given keys over a fresh SQLite store.
pub fn sqlite_with_keys(keys: KeySet) -> Harness<SqliteStore> {
    let (store, dir) = sqlite_store();
    Harness::with_keys(store, Some(dir), keys)
}

/// A service configured with `vars` (over the tests' defaults) over a fresh SQLite store.
pub fn sqlite_with(vars: &[(&str, &str)]) -> Harness<SqliteStore> {
    let (store, dir) = sqlite_store();
    let keys = KeySet::from_secrets(Algorithm::Es256, &SecretValue::generate(), &[]).unwrap();
    Harness::configured(store, Some(dir), keys, config_with(vars))
}

fn sqlite_store() -> (SqliteStore, TempDir) {
    let dir = std::env::temp_dir().join(format!("tessera-service-test-{}", random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("tessera.db")).unwrap();
    (store, TempDir(dir))
}

/// A service configured with `vars` over a fresh table in DynamoDB Local.
pub async fn dynamodb_with(vars: &[(&str, &str)]) -> Harness<tessera_store::DynamoStore> {
    let store = dynamodb_store().await;
    let keys = KeySet::from_secrets(Algorithm::Es256, &SecretValue::generate(), &[]).unwrap();
    Harness::configured(store, None, keys, config_with(vars))
}

/// A service over a fresh table in DynamoDB Local (`TESSERA_TEST_DYNAMODB_ENDPOINT`).
pub async fn dynamodb() -> Harness<tessera_store::DynamoStore> {
    Harness::new(dynamodb_store().await, None)
}

async fn dynamodb_store() -> tessera_store::DynamoStore {
    let endpoint = std::env::var("TESSERA_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "TESSERA_TEST_DYNAMODB_ENDPOINT is not set: start DynamoDB Local with \
             `scripts/dynamodb-local start` and export its endpoint (scripts/test does both)"
        )
    });
    let table = format!("tessera-service-{}", random_id());
    let store = tessera_store::DynamoStore::from_endpoint(Some(&endpoint), table).await;
    store.create_table().await.unwrap();
    store
}

impl<S> Harness<S> {
    /// A harness with a fresh ES256 key set.
    pub fn new(store: S, dir: Option<TempDir>) -> Self {
        let keys = KeySet::from_secrets(Algorithm::Es256, &SecretValue::generate(), &[]).unwrap();
        Self::with_keys(store, dir, keys)
    }

    pub fn with_keys(store: S, dir: Option<TempDir>, keys: KeySet) -> Self {
        Self::configured(store, dir, keys, config())
    }

    /// A harness with these keys and this configuration.
    pub fn configured(store: S, dir: Option<TempDir>, keys: KeySet, mut config: Config) -> Self {
        config.verify.alg = keys.algorithm();
        let refresh_verifier = keys.refresh_verifier(RefreshPolicy::new(ISSUER));
        let clock = Arc::new(AtomicI64::new(T0));
        let c = Arc::clone(&clock);
        let service = Service::new(config, keys, store)
            .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
        Self {
            service: Arc::new(service),
            clock,
            refresh_verifier,
            _dir: dir,
        }
    }

    /// A harness around a service built elsewhere (its own clock stays in charge).
    pub fn from_service(service: Service<S>) -> Self {
        let refresh_verifier = service.keys().refresh_verifier(RefreshPolicy::new(ISSUER));
        Self {
            service: Arc::new(service),
            clock: Arc::new(AtomicI64::new(T0)),
            refresh_verifier,
            _dir: None,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn store(&self) -> &S {
        self.service.store()
    }

    /// The claims of a refresh token we issued, verified, as of now.
    pub fn refresh_claims(&self, token: &str) -> RefreshClaims {
        self.refresh_verifier.verify(token, self.now()).unwrap()
    }

    /// The claims of an access token we issued, verified, as of now.
    pub fn access_claims(&self, token: &str) -> AccessClaims {
        self.service
            .access_verifier()
            .verify(token, self.now())
            .unwrap()
    }
}

impl<S: Store> Harness<S> {
    /// Creates an active user and returns it.
    pub async fn add_user(&self, username: &str, password: &str, scope: &str) -> User {
        let user = User {
            user_id: random_id(),
            username: username.to_owned(),
            password_hash: hash_password_blocking(Password::new(password))
                .await
                .unwrap(),
            scope: scope.to_owned(),
            status: UserStatus::Active,
            revoked_before: 0,
            created_at: self.now(),
            updated_at: self.now(),
        };
        self.store().create_user(&user).await.unwrap();
        user
    }

    pub async fn user(&self, username: &str) -> User {
        self.store()
            .get_user_by_username(username)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn session(&self, sid: &str) -> Session {
        self.store().get_session(sid).await.unwrap().unwrap()
    }

    /// Whether a session can still refresh, by its own record and its owner's watermark,
    /// without refreshing it.
    pub async fn alive(&self, sid: &str) -> bool {
        let session = self.session(sid).await;
        let owner = self
            .store()
            .get_user_by_username(&session.username)
            .await
            .unwrap();
        session.is_live(self.now()) && session.is_accepted_by(owner.as_ref())
    }

    /// The failed logins counted against a username now (0 without a counter).
    pub async fn attempts(&self, username: &str) -> u32 {
        self.store()
            .get_login_attempts(username)
            .await
            .unwrap()
            .map_or(0, |c| c.attempts)
    }

    /// The session a refresh token belongs to.
    pub async fn session_of(&self, refresh_token: &str) -> Session {
        let sid = self.refresh_claims(refresh_token).sid;
        self.session(&sid).await
    }

    /// Sends a request through the router of every route, as `tessera serve` does.
    pub async fn call(&self, req: Request) -> TestResponse {
        let router = tessera_service::router(Arc::clone(&self.service));
        match router.oneshot(req).await {
            Ok(resp) => TestResponse::read(resp).await,
            Err(never) => match never {},
        }
    }

    /// Logs in with JSON and returns the 200 body.
    pub async fn login(&self, username: &str, password: &str) -> Tokens {
        let resp = self
            .call(post_json(
                "/auth/login",
                json!({"username": username, "password": password}),
            ))
            .await;
        assert_eq!(resp.status, 200, "login: {}", resp.text());
        resp.tokens()
    }

    /// Refreshes with JSON.
    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.call(post_json(
            "/auth/refresh",
            json!({"refresh_token": refresh_token}),
        ))
        .await
    }
}

/// The token fields of a 200 answer.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub body: Value,
}

/// A response, read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    /// Reads a router's answer whole.
    pub async fn read(resp: Response) -> Self {
        let (parts, body) = resp.into_parts();
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes().to_vec(),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn tokens(&self) -> Tokens {
        let body = self.json();
        Tokens {
            access_token: body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
            body,
        }
    }

    /// Asserts an OAuth error answer: status, `error` code, a description, and no caching.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        assert_eq!(
            body.as_object().unwrap().len(),
            2,
            "only error and error_description: {body}"
        );
        self.assert_no_store();
    }

    pub fn assert_no_store(&self) {
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
    }
}

/// A request as the edge hands it to the routers: the path without a stage, the headers, the
/// body, a request id and the client's address in the extensions, and the [`Caller`] when an
/// authorizer context (the fields a Lambda authorizer passes on) is given.
pub fn rest_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    authorizer: Option<Value>,
) -> Request {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut req = builder
        .body(Body::from(body.unwrap_or_default().to_owned()))
        .unwrap();
    let extensions = req.extensions_mut();
    extensions.insert(RequestId(format!("req-{}", random_id())));
    extensions.insert(ClientIp("203.0.113.7".to_owned()));
    if let Some(context) = authorizer {
        let field = |key: &str| context.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(caller) = Caller::from_context(field) {
            extensions.insert(caller);
        }
    }
    req
}

/// The same request with a given request id.
pub fn with_request_id(mut req: Request, id: &str) -> Request {
    req.extensions_mut().insert(RequestId(id.to_owned()));
    req
}

pub fn post_json(path: &str, body: Value) -> Request {
    post_raw(path, "application/json", &body.to_string())
}

pub fn post_form(path: &str, form: &str) -> Request {
    post_raw(
        path,
        "application/x-www-form-urlencoded; charset=UTF-8",
        form,
    )
}

pub fn post_raw(path: &str, content_type: &str, body: &str) -> Request {
    rest_event(
        "POST",
        path,
        &[
            ("content-type", content_type),
            ("user-agent", "test-agent/1.0"),
        ],
        Some(body),
        None,
    )
}

/// The context a REST API Lambda authorizer passes on for an access token.
pub fn authorizer_context(claims: &AccessClaims) -> Value {
    json!({
        "principalId": claims.sub,
        "sub": claims.sub,
        "sid": claims.sid,
        "scope": claims.scope,
        "jti": claims.jti,
        "client_id": claims.client_id,
        "integrationLatency": 0,
    })
}

/// A request to a protected route, as the REST API forwards it after the authorizer allowed it.
pub fn protected(method: &str, path: &str, claims: &AccessClaims) -> Request {
    rest_event(
        method,
        path,
        &[("authorization", "Bearer [elided by the test]")],
        None,
        Some(authorizer_context(claims)),
    )
}

/// `DELETE /auth/sessions/{sid}` after the authorizer allowed it.
pub fn delete_session(sid: &str, claims: &AccessClaims) -> Request {
    rest_event(
        "DELETE",
        &format!("/auth/sessions/{sid}"),
        &[],
        None,
        Some(authorizer_context(claims)),
    )
}

/// How [`Faulty`] misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Delegates every call.
    None,
    /// Every call fails with a retryable error before reaching the store (nothing changes).
    Unavailable,
    /// Every call fails with a non-retryable error (a bug, a missing table).
    Internal,
}

/// A store wrapper that fails on demand, to test 503 and 500 answers.
pub struct Faulty<S> {
    pub inner: S,
    fault: std::sync::Mutex<Fault>,
}

impl<S> Faulty<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            fault: std::sync::Mutex::new(Fault::None),
        }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn check(&self) -> Result<(), StoreError> {
        match *self.fault.lock().unwrap() {
            Fault::None => Ok(()),
            Fault::Unavailable => Err(StoreError::Unavailable {
                retry_after_secs: 2,
                reason: "injected: throttled".to_owned(),
            }),
            Fault::Internal => Err(StoreError::Internal("injected: table missing".to_owned())),
        }
    }
}

impl<S: UserStore> UserStore for Faulty<S> {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_user(user).await
    }
    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.check()?;
        self.inner.get_user_by_username(username).await
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.check()?;
        self.inner.list_users().await
    }
    async fn charge_login_attempt(
        &self,
        username: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LoginAttempt, StoreError> {
        self.check()?;
        self.inner.charge_login_attempt(username, now, policy).await
    }
    async fn settle_failed_login(&self, ticket: &AttemptTicket) -> Result<(), StoreError> {
        self.check()?;
        self.inner.settle_failed_login(ticket).await
    }
    async fn get_login_attempts(
        &self,
        username: &str,
    ) -> Result<Option<LoginAttempts>, StoreError> {
        self.check()?;
        self.inner.get_login_attempts(username).await
    }
    async fn revoke_all_sessions(&self, username: &str, now: i64) -> Result<(), StoreError> {
        self.check()?;
        self.inner.revoke_all_sessions(username, now).await
    }
    async fn set_password(&self, username: &str, hash: &str, now: i64) -> Result<(), StoreError> {
        self.check()?;
        self.inner.set_password(username, hash, now).await
    }
    async fn set_status(
        &self,
        username: &str,
        status: UserStatus,
        now: i64,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.set_status(username, status, now).await
    }
}

impl<S: SessionStore> SessionStore for Faulty<S> {
    async fn create_session(&self, new: &NewSession<'_>) -> Result<SessionCreated, StoreError> {
        self.check()?;
        self.inner.create_session(new).await
    }
    async fn get_session(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        self.check()?;
        self.inner.get_session(sid).await
    }
    async fn get_session_and_user(
        &self,
        sid: &str,
        username: &str,
    ) -> Result<(Option<Session>, Option<User>), StoreError> {
        self.check()?;
        self.inner.get_session_and_user(sid, username).await
    }
    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        self.check()?;
        self.inner.rotate(rotation).await
    }
    async fn revoke_session(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.revoke_session(sid, now).await
    }
    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        self.inner.list_user_sessions(user_id, now).await
    }
}

impl<S> Harness<Faulty<S>> {
    pub fn fault(&self, fault: Fault) {
        self.store().set(fault);
    }
}

impl<S> Harness<S> {
    /// The same harness (store, keys, clock) with these variables set in its configuration.
    pub fn with_env(self, vars: &[(&str, &str)]) -> Self {
        let Harness {
            service,
            clock,
            refresh_verifier,
            _dir,
        } = self;
        let (old, keys, store) = unwrap_arc(service).into_parts();
        let mut config = config_with(vars);
        config.verify.alg = old.verify.alg;
        let c = Arc::clone(&clock);
        let service = Service::new(config, keys, store)
            .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
        Harness {
            service: Arc::new(service),
            clock,
            refresh_verifier,
            _dir,
        }
    }

    /// The same harness with its store wrapped in [`Faulty`].
    pub fn faulty(self) -> Harness<Faulty<S>> {
        let Harness {
            service,
            clock,
            refresh_verifier,
            _dir,
        } = self;
        let (config, keys, store) = unwrap_arc(service).into_parts();
        let c = Arc::clone(&clock);
        let service = Service::new(config, keys, Faulty::new(store))
            .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
        Harness {
            service: Arc::new(service),
            clock,
            refresh_verifier,
            _dir,
        }
    }
}

/// The service out of its `Arc`: a harness holds the only reference between calls.
fn unwrap_arc<T>(shared: Arc<T>) -> T {
    match Arc::try_unwrap(shared) {
        Ok(value) => value,
        Err(_) => panic!("the harness's service is still shared"),
    }
}

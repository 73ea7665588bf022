//! Fixtures: fresh stores, users and sessions, fixed times.

use std::path::{Path, PathBuf};

use tessera_store::{
    DynamoStore, NewSession, Rotation, Session, SessionCreated, SessionStore, SqliteStore, User,
    UserStatus, UserStore,
};

/// A fixed "now" for the tests (2033), so nothing depends on the wall clock and TTL never
/// deletes a test record behind a test's back.
pub const T0: i64 = 2_000_000_000;
pub const DAY: i64 = 86_400;
/// The service's defaults: 30 days absolute, 14 days idle.
pub const ABSOLUTE_TTL: i64 = 30 * DAY;
pub const IDLE_TTL: i64 = 14 * DAY;

const ENDPOINT_VAR: &str = "TESSERA_TEST_DYNAMODB_ENDPOINT";

/// A random suffix (128 bits, base64url: letters, digits, `-` and `_`, all valid in table
/// names, sids, user ids and file names), from the same source as the service's ids.
pub fn random_suffix() -> String {
    tessera_token::random_id()
}

/// A store and whatever must live as long as it.
pub struct Fixture<S> {
    pub store: S,
    _dir: Option<TempDir>,
}

/// A fresh SQLite store in its own temporary folder.
pub async fn sqlite() -> Fixture<SqliteStore> {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("tessera.db")).expect("open sqlite store");
    Fixture {
        store,
        _dir: Some(dir),
    }
}

/// The DynamoDB Local endpoint; a missing variable fails the test (it is not a skip).
pub fn dynamodb_endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: start DynamoDB Local: scripts/dynamodb-local start, \
             or run scripts/test"
        ),
    }
}

/// A DynamoDB store over a fresh table of its own, so tests can run in parallel.
pub async fn dynamo() -> Fixture<DynamoStore> {
    let table = format!("tessera-test-{}", random_suffix());
    let store = DynamoStore::from_endpoint(Some(&dynamodb_endpoint()), table).await;
    store.create_table().await.expect("create table");
    Fixture { store, _dir: None }
}

pub fn user(username: &str) -> User {
    User {
        user_id: format!("user-{}", random_suffix()),
        username: username.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${username}"),
        scope: "read write".to_owned(),
        status: UserStatus::Active,
        revoked_before: 0,
        created_at: T0,
        updated_at: T0,
    }
}

/// The cap the tests create sessions under unless they test the cap.
pub const CAP: u32 = 100;

/// A fresh login session for `user` (as stored: its watermark is copied) at `created_at`,
/// with the service's default lifetimes.
pub fn session(user: &User, created_at: i64) -> Session {
    let sid = format!("sid-{}", random_suffix());
    Session {
        current_hash: format!("{sid}.0"),
        sid,
        user_id: user.user_id.clone(),
        username: user.username.clone(),
        scope: user.scope.clone(),
        client_id: "tessera".to_owned(),
        previous_hash: None,
        rotated_at: None,
        generation: 0,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + ABSOLUTE_TTL,
        idle_expires_at: created_at + IDLE_TTL,
        user_agent: Some("conformance-test/1.0".to_owned()),
        source_ip: Some("192.0.2.10".to_owned()),
        revoked: false,
        watermark: user.revoked_before,
    }
}

/// Creates `session` for `user` (as the login read it) under `cap`, as a login does.
pub async fn open<S: SessionStore>(
    store: &S,
    user: &User,
    session: &Session,
    cap: u32,
) -> SessionCreated {
    store
        .create_session(&NewSession {
            session,
            user,
            max_sessions: cap,
        })
        .await
        .expect("create session")
}

/// Creates `session` for `user`, which must succeed without revoking anything.
pub async fn create<S: SessionStore>(store: &S, user: &User, session: &Session) {
    assert_eq!(
        open(store, user, session, CAP).await,
        SessionCreated::Created { revoked: vec![] }
    );
}

/// The user as stored now.
pub async fn stored_user<S: UserStore>(store: &S, username: &str) -> User {
    store
        .get_user_by_username(username)
        .await
        .expect("read user")
        .expect("user exists")
}

/// Creates a user and one session for it.
pub async fn seed<S: UserStore + SessionStore>(store: &S, username: &str) -> (User, Session) {
    let user = user(username);
    store.create_user(&user).await.expect("create user");
    let session = session(&user, T0);
    create(store, &user, &session).await;
    (user, session)
}

/// A rotation of `presented` to `next` at `now` with the default idle lifetime.
pub fn rotation(sid: &str, presented: &str, next: &str, now: i64, grace_secs: i64) -> Rotation {
    Rotation {
        sid: sid.to_owned(),
        presented_hash: presented.to_owned(),
        next_hash: next.to_owned(),
        now,
        idle_ttl: IDLE_TTL,
        grace_secs,
    }
}

/// A temporary folder removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("tessera-store-{}", random_suffix()));
        std::fs::create_dir_all(&path).expect("create temporary folder");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

//! Tessera in miniature: one shared configuration, one key file, a fresh DynamoDB Local
//! table, and the real function binaries started against them, as a deployment would.

use std::path::{Path, PathBuf};

use tessera_keys::KeyFile;
use tessera_service::{Password, Username};
use tessera_store::{DynamoStore, User, UserStatus, UserStore};
use tessera_token::{AccessClaims, Algorithm, KeySet, SecretValue, random_id};

use crate::E2eError;
use crate::process::{LambdaProcess, binary};

/// The `ISSUER` every function of a [`Stack`] shares.
pub const ISSUER: &str = "https://auth.tessera.test";
/// The `AUDIENCE` every function of a [`Stack`] shares.
pub const AUDIENCE: &str = "tessera-e2e-api";
/// The credentials DynamoDB Local accepts (letters and digits only, any value).
const LOCAL_CREDENTIAL: &str = "tesseralocal";

/// The DynamoDB Local endpoint the tests use: `TESSERA_TEST_DYNAMODB_ENDPOINT`, which
/// scripts/test sets after `scripts/dynamodb-local start`.
pub fn dynamodb_endpoint() -> Result<String, E2eError> {
    std::env::var("TESSERA_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(E2eError::Setup(
            "TESSERA_TEST_DYNAMODB_ENDPOINT is not set: run scripts/test, or start DynamoDB \
             Local with `scripts/dynamodb-local start` and export the endpoint it prints as \
             TESSERA_TEST_DYNAMODB_ENDPOINT",
        ))
}

/// Starts the function binary `name` (from `TESSERA_BIN_DIR`) with `env` on top of the
/// standard Lambda environment, and waits for the end of its init phase.
pub async fn spawn_function(name: &str, env: &[(&str, &str)]) -> Result<LambdaProcess, E2eError> {
    LambdaProcess::spawn(&binary(name)?, env).await
}

/// A user with a fresh random name and password, so tests never collide.
#[derive(Clone)]
pub struct TestUser {
    /// The username, already in normalised form (lower case).
    pub username: String,
    /// The password: 22 characters of letters, digits, `-` and `_`, safe in JSON and forms.
    pub password: String,
    /// The scopes granted, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for TestUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestUser")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("scope", &self.scope)
            .finish()
    }
}

impl TestUser {
    /// A new user with scope `profile`.
    pub fn generate() -> Self {
        Self::with_scope("profile")
    }

    /// A new user with the given scopes.
    pub fn with_scope(scope: &str) -> Self {
        let name: String = random_id()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        Self {
            username: format!("user-{}", name.to_ascii_lowercase()),
            password: random_id(),
            scope: scope.to_owned(),
        }
    }
}

/// The environment one function is started with: the stack's shared configuration, which a
/// test may change for one function.
#[derive(Clone, Debug)]
pub struct Env(Vec<(String, String)>);

impl Env {
    /// Sets `name` (replacing the shared value).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes `name`, as if the template did not set it.
    pub fn unset(mut self, name: &str) -> Self {
        self.0.retain(|(k, _)| k != name);
        self
    }

    /// The pairs, as [`LambdaProcess::spawn`] takes them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// One deployment: a private folder with the key file (mode 0600), a fresh table in
/// DynamoDB Local, and the configuration every function shares. The folder is removed on
/// drop; the table stays in DynamoDB Local (in memory, gone when it stops).
pub struct Stack {
    dir: PathBuf,
    key_file: PathBuf,
    table: String,
    endpoint: String,
    store: DynamoStore,
    env: Env,
}

impl Stack {
    /// A stack with the default configuration (ES256, refresh reuse grace off, so a replayed
    /// refresh token is always a reuse).
    pub async fn start() -> Result<Self, E2eError> {
        Self::with_config(&[]).await
    }

    /// A stack whose shared configuration has `config` on top of the defaults.
    pub async fn with_config(config: &[(&str, &str)]) -> Result<Self, E2eError> {
        let endpoint = dynamodb_endpoint()?;
        let id: String = random_id()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let dir = std::env::temp_dir().join(format!("tessera-e2e-{id}"));
        create_private_dir(&dir)?;
        let key_file = dir.join("keys.json");
        KeyFile::load_or_create(&key_file, Algorithm::Es256)
            .map_err(|e| E2eError::Fixture(format!("key file: {e}")))?;
        let table = format!("tessera-e2e-{id}");
        let store = DynamoStore::from_endpoint(Some(endpoint.as_str()), table.as_str()).await;
        store
            .create_table()
            .await
            .map_err(|e| E2eError::Fixture(format!("create table {table}: {e}")))?;
        let mut env = Env(Vec::new())
            .set("ISSUER", ISSUER)
            .set("AUDIENCE", AUDIENCE)
            .set("ACCESS_TOKEN_ALG", "ES256")
            .set("TOKEN_LEEWAY", "30")
            .set("REFRESH_REUSE_GRACE", "0")
            .set("REFRESH_REUSE_GRACE_ZERO_CONFIRMED", "true")
            .set("TABLE_NAME", &table)
            .set("KEY_FILE", &key_file.to_string_lossy())
            .set("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
            .set("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIAL)
            .set("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIAL)
            .set("AWS_REGION", "us-east-1")
            .set("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in config {
            env = env.set(k, v);
        }
        Ok(Self {
            dir,
            key_file,
            table,
            endpoint,
            store,
            env,
        })
    }

    /// The shared configuration, to change for one function.
    pub fn env(&self) -> Env {
        self.env.clone()
    }

    /// Starts function `name` with the shared configuration.
    pub async fn spawn(&self, name: &str) -> Result<LambdaProcess, E2eError> {
        self.spawn_with(name, &self.env).await
    }

    /// Starts function `name` with `env` (usually [`Stack::env`] with a change).
    pub async fn spawn_with(&self, name: &str, env: &Env) -> Result<LambdaProcess, E2eError> {
        spawn_function(name, &env.pairs()).await
    }

    /// Creates `user` in the table, as `tessera user add` does; returns the user id.
    pub async fn add_user(&self, user: &TestUser) -> Result<String, E2eError> {
        let username = Username::parse(&user.username)
            .map_err(|e| E2eError::Fixture(format!("username: {e}")))?;
        let password = Password::new(user.password.clone());
        let hash = tessera_service::hash_password_blocking(password)
            .await
            .map_err(|e| E2eError::Fixture(format!("hash password: {e}")))?;
        let now = now();
        let record = User {
            user_id: random_id(),
            username: username.as_str().to_owned(),
            password_hash: hash,
            scope: user.scope.clone(),
            status: UserStatus::Active,
            revoked_before: 0,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_user(&record)
            .await
            .map_err(|e| E2eError::Fixture(format!("create user: {e}")))?;
        Ok(record.user_id)
    }

    /// The key file every function reads.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The current root secret in the key file (tests derive hostile keys from it).
    pub fn root_secret(&self) -> Result<SecretValue, E2eError> {
        KeyFile::load(&self.key_file)
            .map(|v| v.current)
            .map_err(|e| E2eError::Fixture(format!("key file: {e}")))
    }

    /// The key set the functions build from the key file.
    pub fn key_set(&self) -> Result<KeySet, E2eError> {
        KeyFile::load(&self.key_file)
            .and_then(|v| v.key_set(Algorithm::Es256))
            .map_err(|e| E2eError::Fixture(format!("key set: {e}")))
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB Local endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The store over the stack's table, to look behind the functions' backs.
    pub fn store(&self) -> &DynamoStore {
        &self.store
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Best effort: the folder is in the temp dir and holds only this stack's key file.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Access token claims that the stack's authorizer accepts: issued now, valid for the
/// default 15 minutes, with a fresh `jti`.
pub fn access_claims(sub: &str, sid: &str, scope: &str, now: i64) -> AccessClaims {
    AccessClaims {
        iss: ISSUER.to_owned(),
        sub: sub.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: random_id(),
        client_id: "tessera".to_owned(),
        sid: sid.to_owned(),
        scope: scope.to_owned(),
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    tessera_service::system_now()
}

fn create_private_dir(dir: &Path) -> Result<(), E2eError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| E2eError::Fixture(format!("create {}: {e}", dir.display())))
}

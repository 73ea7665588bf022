//! Where Tessera's key material comes from, and how it is kept current.
//!
//! Two sources hold the same thing, a current secret value and the previous ones:
//! - a local key file (`tessera serve`, tests), JSON `{"current": "...", "previous": [...]}`,
//!   created with mode 0600 and rotated by rewriting it atomically;
//! - the Secrets Manager secret that template.yaml creates (Lambda): the `AWSCURRENT` and
//!   `AWSPREVIOUS` versions, read through the AWS Parameters and Secrets Lambda Extension on
//!   localhost ([`SecretsExtension`]: plain HTTP, no SDK, no TLS), or through any other
//!   [`VersionSource`] (the HTTP functions plug in the AWS SDK from `tessera-lambda`, so
//!   nothing that depends on this crate links the SDK: the authorizer stays small).
//!
//! [`KeyRing`] builds the [`KeySet`] once at init and rebuilds it when a token names a `kid`
//! it does not know (a rotation happened since init), at most once per interval, so a
//! flood of forged `kid`s cannot turn into a flood of secret reads. A function that signs or
//! serves the JWKS also asks it to re-read the source on a timer
//! ([`KeyRing::refresh_if_due`], every [`DEFAULT_REFRESH_INTERVAL`] unless configured), so a
//! warm instance signs with a rotated key, and stops publishing a retired one, within that
//! bound even when no token ever names the new `kid`.
//!
//! Limits: key material never leaves this crate except inside [`KeySet`]; nothing here logs
//! a secret value, and the error messages name sources, never contents.

mod extension;

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tessera_metrics::{Event, Outcome, UseCase};
use tessera_token::{Algorithm, KeyError, KeySet};

pub use extension::SecretsExtension;
/// Re-exported so a [`VersionSource`] can build [`Versions`] without naming the token crate.
pub use tessera_token::SecretValue;

/// The shortest time between two reloads caused by unknown `kid`s.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// How often a signing function re-reads its keys whatever the tokens say (`KEY_RELOAD_INTERVAL`).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// How many previous versions a rotated key file keeps for verification.
pub const KEEP_PREVIOUS: usize = 2;

/// Why key material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Neither `KEY_SECRET_ARN` nor `KEY_FILE` is set (or `KEY_SECRET_ARN` is, but
    /// `AWS_SESSION_TOKEN`, which the extension requires, is not).
    #[error("no key source: set KEY_SECRET_ARN (Lambda) or KEY_FILE (local key file)")]
    NoSource,
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    File {
        /// The file in question.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The key file exists but is not a key file.
    #[error("key file {0} is malformed (expected {{\"current\": ..., \"previous\": [...]}})")]
    Malformed(PathBuf),
    /// The key file may be read by other users of this machine.
    #[error("key file {0} is readable by group or others: chmod 600 it")]
    Permissions(PathBuf),
    /// Secrets Manager did not answer with the secret.
    #[error("secrets manager: {0}")]
    SecretsManager(String),
    /// The secret's contents do not make a key set for the configured algorithm.
    #[error("key material: {0}")]
    Key(#[from] KeyError),
}

/// A current secret value and the previous ones still trusted for verification.
pub struct Versions {
    /// What new tokens are signed with (`AWSCURRENT`, the file's `current`).
    pub current: SecretValue,
    /// Older values, newest first (`AWSPREVIOUS`, the file's `previous`).
    pub previous: Vec<SecretValue>,
}

impl Versions {
    /// Builds the key set these versions describe.
    pub fn key_set(&self, alg: Algorithm) -> Result<KeySet, KeysError> {
        Ok(KeySet::from_secrets(alg, &self.current, &self.previous)?)
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFileDoc {
    current: String,
    #[serde(default)]
    previous: Vec<String>,
}

/// A local key file.
pub struct KeyFile;

impl KeyFile {
    /// Reads the key file at `path`.
    pub fn load(path: &Path) -> Result<Versions, KeysError> {
        check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::File {
            path: path.to_owned(),
            source,
        })?;
        let doc: KeyFileDoc =
            serde_json::from_str(&text).map_err(|_| KeysError::Malformed(path.to_owned()))?;
        Ok(Versions {
            current: SecretValue::new(doc.current),
            previous: doc.previous.into_iter().map(SecretValue::new).collect(),
        })
    }

    /// Reads the key file, creating it with fresh material for `alg` when it does not exist.
    pub fn load_or_create(path: &Path, alg: Algorithm) -> Result<Versions, KeysError> {
        if path.exists() {
            return Self::load(path);
        }
        let versions = Versions {
            current: fresh_secret(alg)?,
            previous: Vec::new(),
        };
        write_private(path, &versions)?;
        Ok(versions)
    }

    /// Makes fresh material current and keeps the old current (and at most
    /// [`KEEP_PREVIOUS`] in all) for verification, so tokens already issued stay valid.
    pub fn rotate(path: &Path, alg: Algorithm) -> Result<Versions, KeysError> {
        let old = Self::load(path)?;
        let mut previous = vec![old.current];
        previous.extend(old.previous);
        previous.truncate(KEEP_PREVIOUS);
        let versions = Versions {
            current: fresh_secret(alg)?,
            previous,
        };
        write_private(path, &versions)?;
        Ok(versions)
    }
}

fn fresh_secret(alg: Algorithm) -> Result<SecretValue, KeysError> {
    match alg {
        Algorithm::Rs256 => Ok(SecretValue::generate_with_rsa()?),
        _ => Ok(SecretValue::generate()),
    }
}

fn check_private(path: &Path) -> Result<(), KeysError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| KeysError::File {
        path: path.to_owned(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeysError::Permissions(path.to_owned()));
    }
    Ok(())
}

/// Writes the file whole, with mode 0600 from its first byte, and renames it into place so
/// a reader never sees half a key file.
fn write_private(path: &Path, versions: &Versions) -> Result<(), KeysError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| KeysError::File {
        path: path.to_owned(),
        source,
    };
    let doc = KeyFileDoc {
        current: versions.current.expose_secret().to_owned(),
        previous: versions
            .previous
            .iter()
            .map(|v| v.expose_secret().to_owned())
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&doc).map_err(|e| io(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(&json).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Somewhere else that holds the secret's versions (Secrets Manager through the AWS SDK,
/// say). Implemented outside this crate so that its dependencies stay outside too.
pub trait VersionSource: Send + Sync {
    /// Reads the current and previous versions.
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Versions, KeysError>> + Send + '_>>;
}

/// Where a function's key material lives.
pub enum KeySource {
    /// A local key file.
    File(PathBuf),
    /// The Secrets Manager secret, through the Parameters and Secrets Lambda Extension.
    Extension(Box<SecretsExtension>),
    /// Any other source.
    Remote(Box<dyn VersionSource>),
}

impl KeySource {
    /// The source named by the environment: `KEY_SECRET_ARN` (read through the Parameters
    /// and Secrets Lambda Extension) wins over `KEY_FILE`. Read once, at init.
    pub fn from_env() -> Result<Self, KeysError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`KeySource::from_env`], with the variables looked up by `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, KeysError> {
        if let Some(extension) = SecretsExtension::from_lookup(&lookup)? {
            return Ok(KeySource::Extension(Box::new(extension)));
        }
        match lookup("KEY_FILE").filter(|v| !v.trim().is_empty()) {
            Some(path) => Ok(KeySource::File(PathBuf::from(path))),
            None => Err(KeysError::NoSource),
        }
    }

    /// Reads the current and previous versions.
    pub async fn fetch(&self) -> Result<Versions, KeysError> {
        match self {
            KeySource::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || KeyFile::load(&path))
                    .await
                    .map_err(|e| KeysError::SecretsManager(format!("key file task: {e}")))?
            }
            KeySource::Extension(extension) => extension.fetch().await,
            KeySource::Remote(remote) => remote.fetch().await,
        }
    }
}

/// The key set in use, and the means to refresh it after a rotation. Cheap to clone: the
/// clones share one key set and its reload state, so the service and the authorizer of one
/// process see the same keys.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Ring>,
}

struct Ring {
    source: KeySource,
    alg: Algorithm,
    keys: RwLock<Arc<KeySet>>,
    /// When the last reload for an unknown kid happened; `None` before the first, so a
    /// rotation right after start is picked up at once.
    last_reload: tokio::sync::Mutex<Option<Instant>>,
    min_interval: Duration,
    refresh_every: Duration,
    /// When [`KeyRing::refresh_if_due`] next reads the source.
    next_refresh: std::sync::Mutex<Instant>,
}

impl KeyRing {
    /// Loads the key set from `source`: call once, at init.
    pub async fn load(source: KeySource, alg: Algorithm) -> Result<Self, KeysError> {
        let keys = source.fetch().await?.key_set(alg)?;
        Ok(Self {
            inner: Arc::new(Ring {
                source,
                alg,
                keys: RwLock::new(Arc::new(keys)),
                last_reload: tokio::sync::Mutex::new(None),
                min_interval: DEFAULT_RELOAD_INTERVAL,
                refresh_every: DEFAULT_REFRESH_INTERVAL,
                next_refresh: std::sync::Mutex::new(Instant::now() + DEFAULT_REFRESH_INTERVAL),
            }),
        })
    }

    /// Sets the shortest time between two reloads (default [`DEFAULT_RELOAD_INTERVAL`]).
    /// Call it right after [`KeyRing::load`], before the ring is cloned.
    pub fn with_min_interval(mut self, interval: Duration) -> Self {
        if let Some(ring) = Arc::get_mut(&mut self.inner) {
            ring.min_interval = interval;
        }
        self
    }

    /// Sets how often [`KeyRing::refresh_if_due`] re-reads the source (default
    /// [`DEFAULT_REFRESH_INTERVAL`]). Call it right after [`KeyRing::load`], before the ring
    /// is cloned.
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        if let Some(ring) = Arc::get_mut(&mut self.inner) {
            ring.refresh_every = interval;
            if let Ok(mut next) = ring.next_refresh.lock() {
                *next = Instant::now() + interval;
            }
        }
        self
    }

    /// The key set in use now.
    pub fn current(&self) -> Arc<KeySet> {
        match self.inner.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn install(&self, keys: Arc<KeySet>) {
        match self.inner.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    fn refresh_due(&self) -> bool {
        self.inner
            .next_refresh
            .lock()
            .map_or(true, |next| Instant::now() >= *next)
    }

    fn schedule_refresh(&self, after: Duration) {
        if let Ok(mut next) = self.inner.next_refresh.lock() {
            *next = Instant::now() + after;
        }
    }

    /// Re-reads the source when the refresh interval has passed since the last read, and
    /// returns the key set in use afterwards. A failed read keeps the keys in use (they were
    /// good a moment ago), is logged, and is tried again after the reload interval rather
    /// than on every call. Cheap when nothing is due: one lock and a clock read.
    pub async fn refresh_if_due(&self) -> Arc<KeySet> {
        if !self.refresh_due() {
            return self.current();
        }
        // One reader at a time; the others find the refresh done when they get the lock.
        let _reloading = self.inner.last_reload.lock().await;
        if !self.refresh_due() {
            return self.current();
        }
        self.schedule_refresh(self.inner.refresh_every);
        let started = Instant::now();
        match self
            .inner
            .source
            .fetch()
            .await
            .and_then(|v| v.key_set(self.inner.alg))
        {
            Ok(keys) => {
                let keys = Arc::new(keys);
                self.install(Arc::clone(&keys));
                tracing::debug!("key set refreshed on its timer");
                reload_event(Outcome::Reloaded, started);
                keys
            }
            Err(error) => {
                tracing::warn!(%error, "scheduled key refresh failed; keeping the keys in use");
                reload_event(Outcome::ReloadFailed, started);
                self.schedule_refresh(self.inner.min_interval.min(self.inner.refresh_every));
                self.current()
            }
        }
    }

    /// Re-reads the source after a token named an unknown `kid`. Returns the new key set, or
    /// `None` when the last reload was less than the interval ago (the caller then rejects
    /// the token as it would have anyway). A failed read counts as a reload too.
    pub async fn reload_for_unknown_kid(&self) -> Result<Option<Arc<KeySet>>, KeysError> {
        let mut last = self.inner.last_reload.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.inner.min_interval) {
            return Ok(None);
        }
        let started = Instant::now();
        *last = Some(started);
        let read = self
            .inner
            .source
            .fetch()
            .await
            .and_then(|v| v.key_set(self.inner.alg));
        let keys = match read {
            Ok(keys) => Arc::new(keys),
            Err(error) => {
                reload_event(Outcome::ReloadFailed, started);
                return Err(error);
            }
        };
        self.install(Arc::clone(&keys));
        self.schedule_refresh(self.inner.refresh_every);
        tracing::info!("key set reloaded after an unknown kid");
        reload_event(Outcome::Reloaded, started);
        Ok(Some(keys))
    }
}

/// Counts a re-read of the source (on the timer or for an unknown `kid`), whatever came of it.
fn reload_event(outcome: Outcome, started: Instant) {
    tessera_metrics::record(Event::new(UseCase::Keys, outcome, started.elapsed()));
}

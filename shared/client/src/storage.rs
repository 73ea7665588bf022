//! Where the client keeps its token pair between requests (and, with a persistent
//! implementation, between runs).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::secret::{AccessToken, RefreshToken};

/// The token pair the service granted, as the client keeps it.
#[derive(Clone)]
pub struct StoredTokens {
    /// The bearer access token.
    pub access_token: AccessToken,
    /// The refresh token that trades for the next pair (spent once used).
    pub refresh_token: RefreshToken,
    /// When the access token expires, in unix seconds (wall-clock, so it survives a restart).
    pub access_expires_at: i64,
    /// The access token's lifetime as granted (`expires_in`, seconds): the refresh margin
    /// is capped to half of it.
    pub access_lifetime_secs: u64,
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("access_expires_at", &self.access_expires_at)
            .field("access_lifetime_secs", &self.access_lifetime_secs)
            .finish()
    }
}

/// A failure of a [`TokenStorage`] implementation (a file that cannot be written, a locked
/// keychain). Its message must never contain a token.
#[derive(Debug, thiserror::Error)]
#[error("token storage failed: {message}")]
pub struct StorageError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// A storage failure described by a message (lowercase, no token in it).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A storage failure caused by another error (for example an `std::io::Error`).
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Persistence for the client's token pair: memory by default, a file or an OS keychain
/// through an implementation of this trait.
///
/// The client reads the storage once, on first use, and from then on keeps the current pair
/// in memory; it writes after every login and refresh and clears on logout or sign-out. A
/// store must therefore persist every write before returning: a refresh token that was
/// rotated but not saved is spent, and presenting it again after a restart makes the service
/// revoke the session (reuse detection).
pub trait TokenStorage: Send + Sync + 'static {
    /// The saved pair, or `None` when nobody is logged in.
    fn load(&self) -> impl Future<Output = Result<Option<StoredTokens>, StorageError>> + Send;
    /// Replaces the saved pair.
    fn save(&self, tokens: &StoredTokens) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Forgets the saved pair (logout, or the service signed the user out).
    fn clear(&self) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// Keeps the token pair in process memory only: a restart means logging in again.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    tokens: Mutex<Option<StoredTokens>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<StoredTokens>> {
        // A panic while holding this lock cannot leave a half-written pair (assignments are
        // whole), so a poisoned lock is safe to keep using.
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenStorage for MemoryStorage {
    async fn load(&self) -> Result<Option<StoredTokens>, StorageError> {
        Ok(self.slot().clone())
    }

    async fn save(&self, tokens: &StoredTokens) -> Result<(), StorageError> {
        *self.slot() = Some(tokens.clone());
        Ok(())
    }

    async fn clear(&self) -> Result<(), StorageError> {
        *self.slot() = None;
        Ok(())
    }
}

/// A shared store: lets several clients (or the application itself) use one storage.
impl<T: TokenStorage> TokenStorage for std::sync::Arc<T> {
    fn load(&self) -> impl Future<Output = Result<Option<StoredTokens>, StorageError>> + Send {
        T::load(self)
    }

    fn save(&self, tokens: &StoredTokens) -> impl Future<Output = Result<(), StorageError>> + Send {
        T::save(self, tokens)
    }

    fn clear(&self) -> impl Future<Output = Result<(), StorageError>> + Send {
        T::clear(self)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An object-safe view of [`TokenStorage`], so that `Client` need not be generic over it.
pub(crate) trait DynStorage: Send + Sync {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredTokens>, StorageError>>;
    fn save<'a>(&'a self, tokens: &'a StoredTokens) -> BoxFuture<'a, Result<(), StorageError>>;
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>>;
}

impl<T: TokenStorage> DynStorage for T {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredTokens>, StorageError>> {
        Box::pin(TokenStorage::load(self))
    }

    fn save<'a>(&'a self, tokens: &'a StoredTokens) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(TokenStorage::save(self, tokens))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(TokenStorage::clear(self))
    }
}

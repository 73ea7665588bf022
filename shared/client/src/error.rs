//! The client's one error type.

use std::time::Duration;

use crate::storage::StorageError;

/// What can go wrong when logging in, refreshing or sending an authenticated request.
///
/// No variant ever carries a password or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no usable session: never logged in, logged out, or the service refused the
    /// refresh token (`invalid_grant`: revoked, expired, or reused). Log in again.
    #[error("signed out: log in again")]
    SignedOut,
    /// The service refused the username and password (`invalid_grant` on login).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The account is temporarily locked after repeated failed logins (429).
    #[error("account temporarily locked")]
    Locked {
        /// How long the service asked the client to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
    /// The token service stayed unavailable (503) through every retry the policy allows.
    #[error("token service temporarily unavailable")]
    Unavailable,
    /// The request could not be sent or its response not read (connection, timeout, URL).
    #[error("http request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The token service answered something the HTTP contract does not allow.
    #[error("unexpected answer from the token service: {0}")]
    Protocol(String),
    /// The refresh task stopped before it finished (its runtime is shutting down).
    #[error("token refresh was interrupted")]
    RefreshInterrupted,
    /// The base URL given to [`crate::Client::builder`] is not an absolute http(s) URL.
    #[error("invalid base url")]
    InvalidBaseUrl,
    /// The token storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The one error type of the store crate.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record to create exists already (a taken username, a duplicate session id).
    #[error("record already exists")]
    AlreadyExists,
    /// The record to change does not exist.
    #[error("record not found")]
    NotFound,
    /// The store could not answer now (throttling, timeout, connection failure, 5xx, a busy
    /// database); the caller may retry after the hint. A throttled or refused request changed
    /// nothing. A request that timed out after it was sent may have taken effect: for a
    /// rotation, the caller's retry with the same token then lands in the grace window.
    #[error("store temporarily unavailable: {reason}")]
    Unavailable {
        /// How long the caller should wait before retrying, in seconds.
        retry_after_secs: u64,
        /// What went wrong, for the logs.
        reason: String,
    },
    /// A stored record cannot be read back: a missing attribute or a value of the wrong shape.
    /// The message names the attribute.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Anything else: a misconfiguration (missing table, bad credentials) or a bug.
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// True when the same call may succeed if retried later ([`StoreError::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// A retryable error with a short retry hint.
    // Only an adapter meets an outage; without one the ports never build this error.
    #[cfg(any(feature = "dynamodb", feature = "sqlite"))]
    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        StoreError::Unavailable {
            retry_after_secs: 1,
            reason: reason.into(),
        }
    }
}

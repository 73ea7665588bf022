//! The JSON shapes of the HTTP contract (docs/API.md) that the client reads and writes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `POST /auth/login` body. Borrows the password so that no extra copy of it lingers.
#[derive(Serialize)]
pub(crate) struct LoginBody<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

/// `POST /auth/refresh` and `POST /auth/logout` body.
#[derive(Serialize)]
pub(crate) struct RefreshBody<'a> {
    pub refresh_token: &'a str,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// An error response (RFC 6749 §5.2); only the code is read, never echoed in full.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub error: String,
}

/// `Retry-After` as delay-seconds. The HTTP-date form is not used by the service and is
/// treated as absent (the caller then falls back to its own backoff).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

//! The one error type of the service and its one mapping to HTTP.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA, RETRY_AFTER};
use serde_json::json;
#[cfg(feature = "store")]
use tessera_store::StoreError;
#[cfg(feature = "store")]
use tessera_token::TokenError;

/// Everything a use case or handler can answer besides success.
///
/// The `Display` text of a variant is safe to log: no variant carries a password, token,
/// hash or key.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed: bad JSON or form, a missing or empty field, a wrong content type.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The form names a `grant_type` this endpoint does not serve (RFC 6749 §5.2).
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// The credentials or the refresh token are not good: one answer for every reason.
    #[error("invalid grant")]
    InvalidGrant,
    /// The account is locked after repeated failures; try again after `retry_after_secs`.
    #[error("too many attempts, retry after {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// The store could not answer; nothing changed and the client may retry.
    #[error("temporarily unavailable, retry after {retry_after_secs} s")]
    TemporarilyUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after_secs: u64,
    },
    /// The resource does not exist, or is not the caller's.
    #[error("not found")]
    NotFound,
    /// The request body exceeds [`crate::MAX_BODY_BYTES`].
    #[error("request body too large")]
    PayloadTooLarge,
    /// The path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the path accepts, for the `Allow` header.
        allow: &'static str,
    },
    /// A request that the refresh cookie authenticates did not show an allowed origin, or
    /// could have been sent by a cross-site form (the CSRF rule, docs/API.md).
    #[error("cross-site request refused: {0}")]
    CrossSite(&'static str),
    /// A protected route was reached without an authorizer context (fail closed).
    #[error("unauthorized")]
    Unauthorized,
    /// A bug or a broken dependency; the client sees a generic message and the request id.
    #[error("internal error: {0}")]
    Internal(String),
}

#[cfg(feature = "store")]
impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        if err.is_retryable() {
            let retry_after_secs = match &err {
                StoreError::Unavailable {
                    retry_after_secs, ..
                } => (*retry_after_secs).max(1),
                _ => 1,
            };
            Self::TemporarilyUnavailable { retry_after_secs }
        } else {
            Self::Internal(format!("store: {err}"))
        }
    }
}

#[cfg(feature = "store")]
impl From<TokenError> for ServiceError {
    fn from(err: TokenError) -> Self {
        Self::Internal(format!("token: {err}"))
    }
}

/// An error met outside a handler's own flow (an extractor's rejection) is answered with a
/// fresh request id; handlers answer through [`error_response`] with the request's own.
impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        error_response(&self, &tessera_token::random_id())
    }
}

/// Maps an error to its HTTP answer: status, `{"error", "error_description"}` (OAuth 2.0,
/// RFC 6749 §5.2), `Retry-After` where it applies, and `Cache-Control: no-store`.
///
/// This is the only place errors become responses. An internal error is logged here at
/// error level with `request_id`, and the client gets a generic message with that id; every
/// other variant is the client's doing and is logged at debug level at most.
pub fn error_response(err: &ServiceError, request_id: &str) -> Response {
    let (status, code, description): (StatusCode, &str, String) = match err {
        ServiceError::InvalidRequest(why) => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            (*why).to_owned(),
        ),
        ServiceError::UnsupportedGrantType => (
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "the grant_type is not supported by this endpoint".to_owned(),
        ),
        ServiceError::InvalidGrant => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the credentials or the refresh token are invalid, expired or revoked".to_owned(),
        ),
        ServiceError::TooManyAttempts { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed attempts; the account is temporarily locked".to_owned(),
        ),
        ServiceError::TemporarilyUnavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable; retry later".to_owned(),
        ),
        ServiceError::NotFound => (StatusCode::NOT_FOUND, "not_found", "not found".to_owned()),
        ServiceError::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large".to_owned(),
        ),
        ServiceError::MethodNotAllowed { .. } => (
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "method not allowed".to_owned(),
        ),
        ServiceError::CrossSite(why) => (
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("cross-site request refused: {why}"),
        ),
        ServiceError::Unauthorized => {
            // API Gateway's own answer, so clients see one 401 everywhere.
            return crate::gateway::unauthorized();
        }
        ServiceError::Internal(detail) => {
            tracing::error!(request_id, error = %detail, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("internal error (request id {request_id})"),
            )
        }
    };
    if status.is_client_error() {
        tracing::debug!(request_id, %status, code, "request refused");
    }
    let mut resp = json_response(
        status,
        &json!({"error": code, "error_description": description}),
    );
    let headers = resp.headers_mut();
    match err {
        ServiceError::TooManyAttempts { retry_after_secs }
        | ServiceError::TemporarilyUnavailable { retry_after_secs } => {
            headers.insert(RETRY_AFTER, HeaderValue::from((*retry_after_secs).max(1)));
        }
        ServiceError::MethodNotAllowed { allow } => {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        _ => {}
    }
    resp
}

/// A JSON response that no cache may keep (RFC 6749 §5.1): every token endpoint answer,
/// success or error, and every answer about a user's sessions.
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    // Only maps with string keys and plain values are answered: they always serialise.
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(error) => return error_response(&ServiceError::Internal(format!("json: {error}")), ""),
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// An empty response (204) that no cache may keep.
#[cfg(feature = "store")]
pub(crate) fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let headers = resp.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

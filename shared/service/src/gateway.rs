//! The answers API Gateway gives by itself, as template.yaml's gateway responses shape them:
//! one definition, used by `tessera serve`'s gateway layer and by a protected handler reached
//! without a caller, so the local gateway cannot drift from the deployed one.

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use serde_json::json;

/// API Gateway's own body: `{"message": ...}`, plus the request id where the template's
/// DEFAULT_4XX and DEFAULT_5XX responses add it.
fn message(status: StatusCode, message: &str, request_id: Option<&str>) -> Response {
    let body = match request_id {
        Some(id) => json!({ "message": message, "request_id": id }),
        None => json!({ "message": message }),
    };
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// UNAUTHORIZED (401): a missing, malformed, expired or otherwise refused token. RFC 6750's
/// challenge is the signal on which clients refresh.
pub fn unauthorized() -> Response {
    let mut response = message(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    let headers = response.headers_mut();
    headers.insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// ACCESS_DENIED (403): a valid token without the scope the route requires (the
/// authorizer's explicit Deny).
pub fn access_denied() -> Response {
    let mut response = message(
        StatusCode::FORBIDDEN,
        "User is not authorized to access this resource with an explicit deny",
        None,
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
    );
    response
}

/// What a REST API answers for a method and path it does not declare (MISSING_AUTHENTICATION_TOKEN,
/// shaped by the template's DEFAULT_4XX): 403, never a 404 that would map the API for a
/// scanner.
pub fn missing_authentication_token(request_id: &str) -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Missing Authentication Token",
        Some(request_id),
    )
}

/// Any other answer of the gateway itself (DEFAULT_4XX, DEFAULT_5XX): `{"message",
/// "request_id"}`.
pub fn gateway_error(status: StatusCode, text: &str, request_id: &str) -> Response {
    message(status, text, Some(request_id))
}

//! What the edge in front of the handlers tells them, as request extensions: who the
//! authorizer says is calling ([`Caller`]), the request's id ([`RequestId`]) and the client's
//! address ([`ClientIp`]). On Lambda, `tessera-lambda` fills them from the API Gateway request
//! context; under `tessera serve`, the gateway layer does. The handlers read them through
//! extractors and never look at where they came from.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::header::USER_AGENT;
use http::request::Parts;

use crate::ServiceError;

/// What the service records about the client that logs in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientMeta {
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The client's IP address as the edge saw it, if known.
    pub source_ip: Option<String>,
}

/// Who is calling a protected route, as the authorizer in front of it established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user id (`sub` of the access token).
    pub sub: String,
    /// The session id (`sid`).
    pub sid: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: Option<String>,
    /// The access token's id (`jti`).
    pub jti: Option<String>,
    /// The client id (`client_id`).
    pub client_id: Option<String>,
}

impl Caller {
    /// The caller from the authorizer's context fields (`sub`, `sid`, `scope`, `jti`,
    /// `client_id`), as `get` reads them; `None` without a non-empty `sub`, so that a
    /// protected route fails closed.
    pub fn from_context(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let sub = get("sub").filter(|s| !s.is_empty())?;
        Some(Self {
            sub,
            sid: get("sid"),
            scope: get("scope"),
            jti: get("jti"),
            client_id: get("client_id"),
        })
    }
}

/// A protected handler's caller; without one the request never passed an authorizer, and
/// the answer is 401.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Taken, not cloned: the handler is the caller's only reader.
        parts
            .extensions
            .remove::<Caller>()
            .ok_or(ServiceError::Unauthorized)
    }
}

/// The id logs and internal-error answers quote: API Gateway's request id, the Lambda
/// request id, or the local gateway's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// A request without an id (a test calling a router directly) gets a fresh random one.
impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(tessera_token::random_id())))
    }
}

/// The client's IP address as the edge saw it (API Gateway's `sourceIp`, the peer address
/// under `tessera serve`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// What the service records about the client that logs in: the `User-Agent` header and the
/// [`ClientIp`] extension.
impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientMeta {
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            source_ip: parts.extensions.get::<ClientIp>().map(|ip| ip.0.clone()),
        })
    }
}

//! The HTTP surface: one axum [`Router`] per function, on plain `http` types, the same on
//! Lambda (through `tessera-lambda`'s adapter) and under `tessera serve` (merged, behind its
//! gateway layer). Every answer is a response: an error is mapped by [`error_response`] with
//! the request's id. Each handler asks only for what its use case needs: the store capability,
//! the [`Caller`] the authorizer established, the [`RequestId`], the [`ClientMeta`].

use axum::Router;
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use http::StatusCode;
use tracing::Instrument as _;

use crate::context::{Caller, RequestId};
use crate::error::json_response;
use crate::{ServiceError, error_response};

#[cfg(feature = "store")]
mod api;
#[cfg(feature = "store")]
pub use api::*;

/// Runs a handler's body inside a span carrying the request id, and turns its error into the
/// one error answer quoting that id.
pub(crate) async fn respond(
    request_id: &RequestId,
    endpoint: &'static str,
    body: impl Future<Output = Result<Response, ServiceError>>,
) -> Response {
    let span = tracing::info_span!("request", endpoint, request_id = %request_id.0);
    match body.instrument(span.clone()).await {
        Ok(resp) => resp,
        Err(err) => span.in_scope(|| error_response(&err, &request_id.0)),
    }
}

/// 405 with `Allow`, for a declared path and another method.
pub(crate) fn not_allowed<S: Clone + Send + Sync + 'static>(
    methods: MethodRouter<S>,
    allow: &'static str,
) -> MethodRouter<S> {
    methods.fallback(move |id: RequestId| async move {
        error_response(&ServiceError::MethodNotAllowed { allow }, &id.0)
    })
}

/// A function's own router, complete: 404 for a path it does not serve.
pub(crate) fn finish(router: Router) -> Router {
    router.fallback(|id: RequestId| async move { error_response(&ServiceError::NotFound, &id.0) })
}

/// `GET /me`: the authorizer context as the integration sees it (docs/API.md). It reads only
/// the request: the me function needs no key and no store.
async fn me(id: RequestId, caller: Result<Caller, ServiceError>) -> Response {
    /// `/me`'s body; fields in the order the contract prints them.
    #[derive(serde::Serialize)]
    struct Me<'a> {
        jti: Option<&'a str>,
        scope: Option<&'a str>,
        sid: Option<&'a str>,
        sub: &'a str,
    }
    // No span: /me logs nothing, and a span per request is a measurable part of its cost.
    match caller {
        Ok(c) => {
            let me = Me {
                jti: c.jti.as_deref(),
                scope: c.scope.as_deref(),
                sid: c.sid.as_deref(),
                sub: &c.sub,
            };
            json_response(StatusCode::OK, &me)
        }
        Err(error) => error_response(&error, &id.0),
    }
}

pub(crate) fn me_routes() -> Router {
    Router::new().route("/me", not_allowed(get(me), "GET"))
}

/// The me function's router: `GET /me`. Needs nothing but the request.
pub fn me_router() -> Router {
    finish(me_routes())
}

//! What API Gateway's REST API does in front of Tessera's functions, done on one machine
//! (`tessera serve`), as one tower layer around the very routers the functions run
//! ([`tessera_service::router`]):
//!
//! 1. the path is normalised once ([`path`]), and that path is what is routed, authorized
//!    and handed on;
//! 2. the route is looked up in the one route table ([`tessera_service::ROUTES`]); a method
//!    and path it does not declare are answered as a REST API answers them, 403 "Missing
//!    Authentication Token" (or, with an [`Upstream`], proxied there behind the authorizer);
//! 3. a protected route runs the authorizer on the TOKEN event API Gateway would send (or
//!    reuses its answer, [`AuthorizerCache`]) and evaluates the IAM policy as API Gateway does:
//!    401 or 403 with the template's gateway responses, or the [`Caller`] put into the
//!    request's extensions for the handler.
//!
//! [`server::run`] serves it over HTTP/1.1 with every client bounded in time and number.
//! What passes here passes on AWS: the same routes, the same authorizer code, the same answers.
//! The gateway links no store: a revocation check reaches one through the authorizer's port.

mod cache;
pub mod path;
mod policy;
pub mod server;
mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;
use tessera_authorizer::keyring::KeyedAuthorizer;
use tessera_authorizer::{Effect, PolicyResponse, Response as Answer, Unauthorized, Verdict};
use tessera_service::gateway::{
    access_denied, gateway_error, missing_authentication_token, unauthorized,
};
use tessera_service::{Caller, ClientIp, Clock, Cors, RequestId, Route};
use tower::ServiceExt as _;
use tracing::{error, info, warn};

pub use cache::AuthorizerCache;
pub use upstream::{Upstream, UpstreamError, UpstreamLimits};

/// The future one request's answer comes from.
pub type AppFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// The largest body the local gateway reads; Tessera's handlers refuse anything over 16 KiB
/// themselves, this only bounds memory for proxied requests.
const MAX_GATEWAY_BODY: usize = 1024 * 1024;

/// The gateway's state, built once at start.
pub struct Gateway {
    authorizer: KeyedAuthorizer,
    cache: AuthorizerCache,
    upstream: Option<Upstream>,
    body_timeout: Duration,
    clock: Clock,
    next_request: AtomicU64,
    access_log: bool,
    cors: Cors,
}

/// Where an allowed request goes.
enum Target {
    /// Tessera's own routers.
    Tessera,
    /// The user's API.
    Upstream,
}

/// What API Gateway makes of the authorizer's answer for one request.
enum Authorized {
    /// No valid token: 401.
    Unauthorized,
    /// The policy allows this method: the integration runs with this caller.
    Allow(Arc<PolicyResponse>),
    /// The policy does not allow it: 403.
    Deny,
    /// The authorizer could not answer (no keys) or answered what a TOKEN event never gets:
    /// API Gateway reports an authorizer error, 500.
    Failed,
}

impl Gateway {
    /// The gateway in front of Tessera's routers, running `authorizer` as API Gateway would;
    /// a request body not read within `body_timeout` is answered 408.
    pub fn new(
        authorizer: KeyedAuthorizer,
        cache: AuthorizerCache,
        upstream: Option<Upstream>,
        body_timeout: Duration,
        clock: Clock,
    ) -> Self {
        Self {
            authorizer,
            cache,
            upstream,
            body_timeout,
            clock,
            next_request: AtomicU64::new(1),
            access_log: false,
            cors: Cors::default(),
        }
    }

    /// With CORS on (`CORS_ALLOW_ORIGIN`), every answer carries the CORS headers for the
    /// request's origin, and a preflight to a declared path is answered as the template's
    /// REST API answers it (see [`Gateway::preflight`]).
    pub fn with_cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// API Gateway's answer to `OPTIONS` on a declared path when CORS is on: the mock
    /// integration's 204. Anything else (CORS off, an undeclared or abnormal path) is routed
    /// like any request.
    fn preflight(&self, request: &Request, origin: Option<&HeaderValue>) -> Option<Response> {
        if request.method() != http::Method::OPTIONS || !self.cors.is_on() {
            return None;
        }
        let path = path::normalise(request.uri().path()).ok()?;
        let declared = ["GET", "POST", "DELETE"]
            .iter()
            .any(|method| Route::find(method, &path).is_some())
            || (self.upstream.is_some() && !upstream::is_tessera_path(&path));
        declared.then(|| self.cors.preflight(origin)).flatten()
    }

    /// `router` behind this gateway, as the one function [`server::run`] calls with each
    /// request and its peer's address (the source IP the handlers see, [`ClientIp`]).
    pub fn wrap(
        self,
        router: axum::Router,
    ) -> impl Fn(http::Request<hyper::body::Incoming>, SocketAddr) -> AppFuture
    + Clone
    + Send
    + Sync
    + 'static {
        let app = axum::middleware::from_fn_with_state(Arc::new(self), layer);
        let app = tower::Layer::layer(&app, router);
        move |request, peer| {
            let mut request = request.map(Body::new);
            request
                .extensions_mut()
                .insert(ClientIp(peer.ip().to_string()));
            let app = app.clone();
            Box::pin(async move {
                match app.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            })
        }
    }

    /// With `on`, one access line per request (see [`layer`]).
    pub fn with_access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Runs the authorizer on the TOKEN event API Gateway would send (or reuses its answer
    /// for this header, see [`AuthorizerCache`]), and evaluates its policy for this method
    /// as API Gateway would; with `folded`, the policy must also allow that method and path.
    async fn authorize(
        &self,
        authorization: &str,
        method: &str,
        path: &str,
        folded: Option<(&str, &str)>,
    ) -> Authorized {
        let now = (self.clock)();
        let evaluate = |policy: Arc<PolicyResponse>| {
            let allows =
                |method, path| policy.evaluate(&policy::method_arn(method, path)) == Effect::Allow;
            if allows(method, path) && folded.is_none_or(|(method, path)| allows(method, path)) {
                Authorized::Allow(policy)
            } else {
                Authorized::Deny
            }
        };
        if let Some(policy) = self.cache.get(authorization, now) {
            return evaluate(policy);
        }
        let event = policy::token_event_bytes(authorization, method, path);
        let ruling = match self.authorizer.authorize(&event, now).await {
            Ok(ruling) => ruling,
            Err(error) => {
                // No keys, or no session store with the revocation check on: an operator's
                // problem, and a 500, never an allow.
                error!(%error, "authorizer failed");
                return Authorized::Failed;
            }
        };
        ruling.trace();
        match ruling.answer {
            Err(Unauthorized) => Authorized::Unauthorized,
            Ok(Answer::Policy(policy)) => {
                let policy = Arc::new(policy);
                // Only a verified token's answer is reused.
                if matches!(ruling.verdict, Verdict::Allow | Verdict::Forbidden { .. }) {
                    self.cache.insert(authorization, Arc::clone(&policy), now);
                }
                evaluate(policy)
            }
            Ok(Answer::Simple(_)) => {
                warn!("authorizer answered a TOKEN event with a simple response");
                Authorized::Failed
            }
        }
    }

    /// One request through the gateway: normalise, route, authorize, then hand it to Tessera's
    /// routers (`next`) or to the upstream.
    /// One request's answer: a preflight's, or [`Gateway::handle`]'s, with CORS headers for
    /// the request's origin.
    async fn answer(&self, request: Request, next: Next) -> Response {
        if !self.cors.is_on() {
            return self.handle(request, next).await;
        }
        let origin = request.headers().get(http::header::ORIGIN).cloned();
        if let Some(preflight) = self.preflight(&request, origin.as_ref()) {
            return preflight;
        }
        let response = self.handle(request, next).await;
        self.cors.apply(origin.as_ref(), response)
    }

    async fn handle(&self, request: Request, next: Next) -> Response {
        let request_id = local_request_id(self.next_request.fetch_add(1, Ordering::Relaxed));
        let (mut parts, body) = request.into_parts();
        // Normalised once, before anything reads it: the route, the authorizer's method ARN,
        // the handler's request and the upstream URL all use this path and no other.
        let path = match path::normalise(parts.uri.path()) {
            Ok(path) => path,
            Err(error) => {
                return gateway_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Bad request: {error}"),
                    &request_id,
                );
            }
        };
        // A standard method's clone copies a tag, no allocation.
        let method = parts.method.clone();
        let method = method.as_str();
        let (target, protected) = match Route::find(method, &path) {
            Some(route) => (Target::Tessera, route.protected),
            None if self.upstream.is_some() && !upstream::is_tessera_path(&path) => {
                (Target::Upstream, true)
            }
            None => return missing_authentication_token(&request_id),
        };
        // Most requests (every GET) have no body: nothing to read, no timer to arm.
        let body = if axum::body::HttpBody::is_end_stream(&body) {
            Ok(Ok(axum::body::Bytes::new()))
        } else {
            tokio::time::timeout(
                self.body_timeout,
                axum::body::to_bytes(body, MAX_GATEWAY_BODY),
            )
            .await
        };
        let body = match body {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => {
                return gateway_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body too large",
                    &request_id,
                );
            }
            Err(_) => return request_timeout(&request_id),
        };
        let allowed = if protected {
            // Two credentials are no credential: which one a later reader would pick is not
            // the gateway's to guess.
            let authorization =
                match tessera_service::single_header(&parts.headers, http::header::AUTHORIZATION) {
                    Ok(Some(only)) => only.to_str().ok().filter(|v| !v.trim().is_empty()),
                    _ => None,
                };
            // API Gateway answers 401 itself when the identity source is missing.
            let Some(authorization) = authorization else {
                return unauthorized();
            };
            // A case-insensitive upstream reads `/ADMIN/x` as `/admin/x`: the policy must
            // allow both, so upper case cannot dodge a scope rule written in lower case.
            let folded = matches!(target, Target::Upstream)
                .then(|| (method.to_ascii_uppercase(), path::case_folded(&path)))
                .filter(|(m, p)| *m != method || *p != path);
            let folded = folded.as_ref().map(|(m, p)| (m.as_str(), p.as_str()));
            match self.authorize(authorization, method, &path, folded).await {
                Authorized::Unauthorized => return unauthorized(),
                Authorized::Deny => return access_denied(),
                Authorized::Failed => {
                    return gateway_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal server error",
                        &request_id,
                    );
                }
                Authorized::Allow(policy) => Some(policy),
            }
        } else {
            None
        };
        match target {
            Target::Upstream => {
                // Every upstream request is protected, so an allowed one has its policy.
                let (Some(upstream), Some(policy)) = (&self.upstream, &allowed) else {
                    return unauthorized();
                };
                let context = policy.context.entries();
                upstream::proxy(upstream, &parts, &path, body, &context, &request_id).await
            }
            Target::Tessera => {
                let caller = allowed.as_ref().and_then(|policy| {
                    Caller::from_context(|key| {
                        policy
                            .context
                            .entries()
                            .into_iter()
                            .find(|(name, _)| *name == key)
                            .map(|(_, value)| value.to_owned())
                    })
                });
                // Most paths are already normal: only a rewritten one needs a new URI.
                if parts.uri.path() != path {
                    parts.uri = match with_path(&parts.uri, &path) {
                        Some(uri) => uri,
                        None => {
                            return gateway_error(
                                StatusCode::BAD_REQUEST,
                                "Bad request",
                                &request_id,
                            );
                        }
                    };
                }
                parts.extensions.insert(RequestId(request_id));
                if let Some(caller) = caller {
                    parts.extensions.insert(caller);
                }
                next.run(Request::from_parts(parts, Body::from(body))).await
            }
        }
    }
}

/// `local-` and `n` in 16 hex digits: the request id of the local gateway's answers and logs.
fn local_request_id(n: u64) -> String {
    let mut id = String::with_capacity(22);
    id.push_str("local-");
    for shift in (0..16).rev() {
        let digit = u32::try_from((n >> (shift * 4)) & 0xf).unwrap_or(0);
        id.push(char::from_digit(digit, 16).unwrap_or('0'));
    }
    id
}

/// The URI with its path replaced by the normalised one, its query kept.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    Uri::builder().path_and_query(path_and_query).build().ok()
}

/// 408 for a body that did not arrive in time; the connection is closed after it, as the
/// rest of that body can no longer be told apart from the next request.
fn request_timeout(request_id: &str) -> Response {
    let mut response = gateway_error(StatusCode::REQUEST_TIMEOUT, "Request timeout", request_id);
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The layer's function: one request through the gateway, and, with the access log on, its
/// access line (never the query string or a header, which may carry tokens).
async fn layer(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    if !gateway.access_log {
        return gateway.answer(request, next).await;
    }
    let started = Instant::now();
    // Cheap clones (a method token and a shared URI), kept for the log line.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = gateway.answer(request, next).await;
    info!(
        target: "tessera::access",
        method = %method,
        path = %uri.path(),
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_request_id_is_local_and_sixteen_hex_digits() {
        for n in [0, 1, 0xabc, u64::MAX] {
            assert_eq!(local_request_id(n), format!("local-{n:016x}"));
        }
    }
}

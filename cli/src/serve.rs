//! `tessera serve`: every endpoint on one port, behind the real authorizer, answering as
//! the REST API in template.yaml answers.
//!
//! Each HTTP request becomes the REST proxy event API Gateway would send, and goes to the
//! same handlers the Lambda functions run; each protected request first goes through the
//! same authorizer code with the TOKEN event API Gateway would build, and its IAM policy is
//! evaluated as API Gateway evaluates it. What passes here passes on AWS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_authorizer::AuthorizerOutcome;
use tessera_authorizer::keyring::KeyedAuthorizer;
use tessera_service::Service;
use tessera_store::Store;
use tracing::{info, warn};

use crate::gateway::{self, Incoming, PolicyDecision, Route, Target};

/// The largest body the local gateway reads; Tessera's handlers refuse anything over 16 KiB
/// themselves, this only bounds memory for proxied requests.
const MAX_GATEWAY_BODY: usize = 1024 * 1024;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// The prefix of the headers that carry the authorizer context to an upstream API. Incoming
/// headers with it are dropped, so a client cannot pose as someone else.
pub const CONTEXT_HEADER_PREFIX: &str = "x-tessera-";

/// The user's API behind the gateway.
pub struct Upstream {
    /// Base URL, without a trailing slash.
    pub base: String,
    /// One client, reused for every proxied request.
    pub client: reqwest::Client,
}

/// Everything a request needs, built once at start.
pub struct App<S> {
    service: Service<S>,
    authorizer: KeyedAuthorizer,
    upstream: Option<Upstream>,
    next_request: AtomicU64,
}

impl<S: Store + 'static> App<S> {
    /// Builds the app from the service and the same authorizer the Lambda function runs.
    pub fn new(service: Service<S>, authorizer: KeyedAuthorizer, upstream: Option<Upstream>) -> Self {
        Self {
            service,
            authorizer,
            upstream,
            next_request: AtomicU64::new(1),
        }
    }

    /// The axum router: one handler for every path, as the gateway sees them all.
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(handle::<S>).with_state(self)
    }

    /// Runs the authorizer on the TOKEN event API Gateway would send, and evaluates its
    /// policy for this method as API Gateway would.
    async fn authorize(&self, authorization: &str, method: &str, path: &str) -> GatewayVerdict {
        let event = gateway::token_event(authorization, method, path).to_string();
        let decision = self
            .authorizer
            .decide(event.as_bytes(), self.service.now())
            .await;
        match decision.outcome {
            AuthorizerOutcome::Unauthorized => GatewayVerdict::Unauthorized,
            AuthorizerOutcome::Respond(policy) => GatewayVerdict::Policy(gateway::evaluate_policy(
                &policy,
                &gateway::method_arn(method, path),
            )),
        }
    }
}

enum GatewayVerdict {
    Unauthorized,
    Policy(PolicyDecision),
}

async fn handle<S: Store + 'static>(
    State(app): State<Arc<App<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let response = gateway_request(&app, peer, request).await;
    // One line per request; never the query string or a header, which may carry tokens.
    info!(
        target: "tessera::access",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
    );
    response
}

async fn gateway_request<S: Store + 'static>(
    app: &App<S>,
    peer: SocketAddr,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_GATEWAY_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "request body too large",
            );
        }
    };
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let Some(route) = gateway::route(method, path, app.upstream.is_some()) else {
        // No such route: Tessera's router answers (404, or 405 on a known path).
        return forward_to_tessera(app, &parts, &body, peer, &unrouted(path), None).await;
    };
    let decision = if route.protected {
        let authorization = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty());
        // API Gateway answers 401 itself when the identity source is missing.
        let Some(authorization) = authorization else {
            return unauthorized();
        };
        match app.authorize(authorization, method, path).await {
            GatewayVerdict::Unauthorized => return unauthorized(),
            GatewayVerdict::Policy(PolicyDecision::Deny) => return forbidden(),
            GatewayVerdict::Policy(PolicyDecision::Invalid) => {
                warn!("authorizer answered with an unusable policy");
                return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
            }
            GatewayVerdict::Policy(allow) => Some(allow),
        }
    } else {
        None
    };
    match route.target {
        Target::Tessera => {
            forward_to_tessera(app, &parts, &body, peer, &route, decision.as_ref()).await
        }
        Target::Upstream => match (&app.upstream, decision) {
            (Some(upstream), Some(PolicyDecision::Allow { context, .. })) => {
                proxy(upstream, &parts, body, &context).await
            }
            _ => unauthorized(),
        },
    }
}

fn unrouted(path: &str) -> Route {
    Route {
        resource: if path.is_empty() { "/" } else { "/{proxy+}" },
        protected: false,
        target: Target::Tessera,
        path_parameters: Vec::new(),
    }
}

async fn forward_to_tessera<S: Store + 'static>(
    app: &App<S>,
    parts: &http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    route: &Route,
    decision: Option<&PolicyDecision>,
) -> Response {
    let request_id = format!(
        "local-{:016x}",
        app.next_request.fetch_add(1, Ordering::Relaxed)
    );
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    let source_ip = peer.ip().to_string();
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers,
        body,
        source_ip: &source_ip,
        request_id: &request_id,
    };
    let event = gateway::proxy_event(&incoming, route, decision);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(e) => {
            warn!(error = %e, "could not build the proxy request");
            return message(StatusCode::BAD_REQUEST, "Bad request");
        }
    };
    into_axum(app.service.handle(request).await)
}

fn into_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, Body::from(bytes))
}

async fn proxy(
    upstream: &Upstream,
    parts: &http::request::Parts,
    body: axum::body::Bytes,
    context: &serde_json::Map<String, serde_json::Value>,
) -> Response {
    let url = match parts.uri.query() {
        Some(q) => format!("{}{}?{q}", upstream.base, parts.uri.path()),
        None => format!("{}{}", upstream.base, parts.uri.path()),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || n.starts_with(CONTEXT_HEADER_PREFIX) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    for (key, value) in context {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let name = HeaderName::from_bytes(format!("{CONTEXT_HEADER_PREFIX}{key}").as_bytes());
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(&text)) {
            headers.insert(name, value);
        }
    }
    let sent = upstream
        .client
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            warn!(error = %e, "upstream unreachable");
            return message(StatusCode::BAD_GATEWAY, "Bad gateway");
        }
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out_headers.append(name.clone(), value.clone());
        }
    }
    match answer.bytes().await {
        Ok(bytes) => (status, out_headers, bytes).into_response(),
        Err(e) => {
            warn!(error = %e, "upstream answer unreadable");
            message(StatusCode::BAD_GATEWAY, "Bad gateway")
        }
    }
}

/// API Gateway's own shape for its answers: `{"message": ...}`.
fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

/// The UNAUTHORIZED gateway response of template.yaml.
fn unauthorized() -> Response {
    let mut response = message(StatusCode::UNAUTHORIZED, "Unauthorized");
    let headers = response.headers_mut();
    headers.insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// The ACCESS_DENIED gateway response of template.yaml.
fn forbidden() -> Response {
    let mut response = message(
        StatusCode::FORBIDDEN,
        "User is not authorized to access this resource with an explicit deny",
    );
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
    );
    response
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({ "error": code, "error_description": description }).to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    info!("shutting down");
}

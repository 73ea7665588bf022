//! `tessera serve`: every endpoint on one port, behind the real authorizer, answering as
//! the REST API in template.yaml answers.
//!
//! Each HTTP request becomes the REST proxy event API Gateway would send, and goes to the
//! same handlers the Lambda functions run; each protected request first goes through the
//! same authorizer code with the TOKEN event API Gateway would build, and its IAM policy is
//! evaluated as API Gateway evaluates it. What passes here passes on AWS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_authorizer::keyring::KeyedAuthorizer;
use tessera_authorizer::{AuthorizerOutcome, Verdict};
use tessera_service::Service;
use tessera_store::Store;
use tracing::{info, warn};

use crate::gateway::{self, Incoming, PolicyDecision, Route, Target};
use crate::path;

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

/// Whether an incoming header would reach the upstream as a context header. CGI and WSGI
/// servers expose both `x-tessera-sub` and `x-tessera_sub` as `HTTP_X_TESSERA_SUB`, so `_`
/// counts as `-`.
fn is_context_header(name: &str) -> bool {
    name.len() >= CONTEXT_HEADER_PREFIX.len()
        && name
            .bytes()
            .zip(CONTEXT_HEADER_PREFIX.bytes())
            .all(|(n, p)| n.to_ascii_lowercase() == p || (n == b'_' && p == b'-'))
}

/// How long an authorizer answer is reused for the same `Authorization` header, as API
/// Gateway's authorizer cache does: the template's `AuthorizerResultTtl` default. The
/// environment variable `AUTHORIZER_RESULT_TTL` (seconds, 0 to 3600; 0 turns the cache off)
/// sets it, as the template parameter does on AWS.
pub const DEFAULT_AUTHORIZER_RESULT_TTL: i64 = 300;

/// The most answers the authorizer cache holds; bounds its memory (a few MB at most).
const AUTHORIZER_CACHE_ENTRIES: usize = 4096;

/// API Gateway's authorizer cache, made stricter: an answer is reused for the same
/// `Authorization` header only for a token the authorizer verified (allowed, or denied for
/// scope), only until the earlier of the TTL and the token's own `exp` (checked on every
/// hit, so an expired token is never served from the cache, with or without leeway), and
/// its policy is evaluated against each request's method ARN, as API Gateway evaluates a
/// cached policy. Keys rotated away stay accepted for at most the TTL, as on AWS.
pub struct AuthorizerCache {
    ttl: i64,
    entries: Mutex<HashMap<Box<str>, CachedAnswer>>,
}

struct CachedAnswer {
    policy: Arc<serde_json::Value>,
    /// When the authorizer verified the token; a clock that steps back misses.
    verified_at: i64,
    /// Exclusive: the earlier of `verified_at + ttl` and the token's `exp`.
    until: i64,
}

impl AuthorizerCache {
    /// `AUTHORIZER_RESULT_TTL` (seconds, 0 to 3600, default 300; 0 turns the cache off),
    /// read once at start; an invalid value fails the start naming the variable.
    pub fn from_env() -> Result<Self, String> {
        let ttl = match std::env::var("AUTHORIZER_RESULT_TTL") {
            Err(_) => DEFAULT_AUTHORIZER_RESULT_TTL,
            Ok(v) if v.trim().is_empty() => DEFAULT_AUTHORIZER_RESULT_TTL,
            Ok(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|ttl| (0..=3600).contains(ttl))
                .ok_or_else(|| {
                    "AUTHORIZER_RESULT_TTL is invalid: seconds from 0 to 3600".to_owned()
                })?,
        };
        Ok(Self::with_ttl(ttl))
    }

    fn with_ttl(ttl: i64) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, authorization: &str, now: i64) -> Option<Arc<serde_json::Value>> {
        if self.ttl == 0 {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let hit = entries.get(authorization)?;
        (hit.verified_at <= now && now < hit.until).then(|| Arc::clone(&hit.policy))
    }

    fn insert(&self, authorization: &str, policy: Arc<serde_json::Value>, now: i64) {
        if self.ttl == 0 {
            return;
        }
        let Some(exp) = bearer_exp(authorization) else {
            return;
        };
        let until = exp.min(now.saturating_add(self.ttl));
        if now >= until {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= AUTHORIZER_CACHE_ENTRIES {
            entries.retain(|_, answer| now < answer.until);
            if entries.len() >= AUTHORIZER_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            authorization.into(),
            CachedAnswer {
                policy,
                verified_at: now,
                until,
            },
        );
    }
}

/// The `exp` of the token in an `Authorization: Bearer <JWT>` header that the authorizer has
/// just verified; `None` for any other shape (such answers are simply not cached).
fn bearer_exp(authorization: &str) -> Option<i64> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: i64,
    }
    let token = authorization.strip_prefix("Bearer ")?;
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    // A duplicate `exp` is an error here, so the one read is the one the verifier checked.
    serde_json::from_slice::<Exp>(&payload).ok().map(|e| e.exp)
}

/// The user's API behind the gateway.
pub struct Upstream {
    /// Base URL as the URL parser writes it, without a trailing slash.
    pub base: String,
    /// The base URL's path, without a trailing slash (empty for the root).
    pub base_path: String,
    /// One client, reused for every proxied request; it carries the connect and total
    /// timeouts and follows no redirects.
    pub client: reqwest::Client,
    /// The largest answer body passed back; a larger one is a 502.
    pub max_response_bytes: usize,
}

impl Upstream {
    /// The URL for a normalised path and the request's own query, when the URL parser keeps
    /// both byte for byte: what reqwest sends is then exactly base path + path + query, the
    /// path that was authorized. `None` when the parser would rewrite them.
    fn url(&self, path: &str, query: Option<&str>) -> Option<reqwest::Url> {
        let mut text = format!("{}{path}", self.base);
        if let Some(query) = query {
            text.push('?');
            text.push_str(query);
        }
        let url = reqwest::Url::parse(&text).ok()?;
        let kept =
            url.path().strip_prefix(self.base_path.as_str()) == Some(path) && url.query() == query;
        kept.then_some(url)
    }
}

/// Everything a request needs, built once at start.
pub struct App<S> {
    service: Service<S>,
    authorizer: KeyedAuthorizer,
    upstream: Option<Upstream>,
    next_request: AtomicU64,
    cache: AuthorizerCache,
    body_timeout: Duration,
}

impl<S: Store + 'static> App<S> {
    /// Builds the app from the service and the same authorizer the Lambda function runs;
    /// a request body not read within `body_timeout` is answered 408.
    pub fn new(
        service: Service<S>,
        authorizer: KeyedAuthorizer,
        cache: AuthorizerCache,
        upstream: Option<Upstream>,
        body_timeout: Duration,
    ) -> Self {
        Self {
            service,
            authorizer,
            upstream,
            next_request: AtomicU64::new(1),
            cache,
            body_timeout,
        }
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
    ) -> GatewayVerdict {
        let now = self.service.now();
        let arn = gateway::method_arn(method, path);
        let evaluate = |policy: &serde_json::Value| {
            let verdict = gateway::evaluate_policy(policy, &arn);
            match (verdict, folded) {
                (allow @ PolicyDecision::Allow { .. }, Some((method, path))) => {
                    match gateway::evaluate_policy(policy, &gateway::method_arn(method, path)) {
                        PolicyDecision::Allow { .. } => allow,
                        refused => refused,
                    }
                }
                (verdict, _) => verdict,
            }
        };
        if let Some(policy) = self.cache.get(authorization, now) {
            return GatewayVerdict::Policy(evaluate(&policy));
        }
        let event = gateway::token_event_bytes(authorization, method, path);
        let decision = match self.authorizer.decide(&event, now).await {
            Ok(decision) => decision,
            // No keys, no decision: API Gateway answers an authorizer error with 500.
            Err(error) => {
                warn!(%error, "authorizer failed");
                return GatewayVerdict::Policy(PolicyDecision::Invalid);
            }
        };
        match decision.outcome {
            AuthorizerOutcome::Unauthorized => GatewayVerdict::Unauthorized,
            AuthorizerOutcome::Respond(policy) => {
                let verdict = evaluate(&policy);
                // Only a verified token's answer is reused.
                if matches!(decision.verdict, Verdict::Allow | Verdict::Forbidden { .. }) {
                    self.cache.insert(authorization, Arc::new(policy), now);
                }
                GatewayVerdict::Policy(verdict)
            }
        }
    }
}

enum GatewayVerdict {
    Unauthorized,
    Policy(PolicyDecision),
}

/// Answers one request from `peer` as API Gateway and the functions behind it would, and
/// logs it.
pub async fn handle<S: Store + 'static>(
    app: Arc<App<S>>,
    request: http::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> Response {
    let request = request.map(Body::new);
    let started = Instant::now();
    // Cheap clones (a method token and a shared URI), kept for the log line.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = gateway_request(&app, peer, request).await;
    // One line per request; never the query string or a header, which may carry tokens.
    info!(
        target: "tessera::access",
        method = %method,
        path = %uri.path(),
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
    // Normalised once, before anything reads it: the route, the authorizer's method ARN, the
    // integration's event and the upstream URL all use this path and no other.
    let path = match path::normalise(parts.uri.path()) {
        Ok(path) => path,
        Err(error) => return message(StatusCode::BAD_REQUEST, &format!("Bad request: {error}")),
    };
    let body = match tokio::time::timeout(
        app.body_timeout,
        axum::body::to_bytes(body, MAX_GATEWAY_BODY),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "request body too large",
            );
        }
        Err(_) => return request_timeout(),
    };
    let method = parts.method.as_str();
    let Some(route) = gateway::route(method, &path, app.upstream.is_some()) else {
        // No such route: Tessera's router answers (404, or 405 on a known path).
        return forward_to_tessera(app, &parts, &path, &body, peer, &unrouted(&path), None).await;
    };
    let decision = if route.protected {
        // Two credentials are no credential: which one a later reader would pick is not
        // the gateway's to guess.
        let mut values = parts.headers.get_all(http::header::AUTHORIZATION).iter();
        let authorization = match (values.next(), values.next()) {
            (Some(only), None) => only.to_str().ok().filter(|v| !v.trim().is_empty()),
            _ => None,
        };
        // API Gateway answers 401 itself when the identity source is missing.
        let Some(authorization) = authorization else {
            return unauthorized();
        };
        // A case-insensitive upstream reads `/ADMIN/x` as `/admin/x`: the policy must allow
        // both, so upper case cannot dodge a scope rule written in lower case.
        let folded = (route.target == Target::Upstream)
            .then(|| (method.to_ascii_uppercase(), path::case_folded(&path)))
            .filter(|(m, p)| m != method || *p != path);
        let folded = folded.as_ref().map(|(m, p)| (m.as_str(), p.as_str()));
        match app.authorize(authorization, method, &path, folded).await {
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
            forward_to_tessera(app, &parts, &path, &body, peer, &route, decision.as_ref()).await
        }
        Target::Upstream => match (&app.upstream, decision) {
            (Some(upstream), Some(PolicyDecision::Allow { context, .. })) => {
                proxy(upstream, &parts, &path, body, &context).await
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
    path: &str,
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
        path,
        query: parts.uri.query(),
        headers,
        body,
        source_ip: &source_ip,
        request_id: &request_id,
    };
    let request = match gateway::proxy_request(&incoming, route, decision) {
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
    path: &str,
    body: Bytes,
    context: &serde_json::Map<String, serde_json::Value>,
) -> Response {
    let Some(url) = upstream.url(path, parts.uri.query()) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Bad request: the query cannot be forwarded unchanged",
        );
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || is_context_header(n) {
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
    let mut answer = match sent {
        Ok(answer) => answer,
        Err(e) => return upstream_failed(e, "upstream unreachable"),
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out_headers.append(name.clone(), value.clone());
        }
    }
    let limit = upstream.max_response_bytes;
    let too_large = || {
        warn!(limit, "upstream answer too large");
        message(StatusCode::BAD_GATEWAY, "Bad gateway")
    };
    // The declared length is only a hint to refuse early; the count below is the bound.
    if answer
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return too_large();
    }
    let mut bytes = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) if bytes.len().saturating_add(chunk.len()) > limit => {
                return too_large();
            }
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return upstream_failed(e, "upstream answer unreadable"),
        }
    }
    (status, out_headers, bytes).into_response()
}

/// API Gateway's answers to a failed integration: 504 when a connected upstream took too
/// long, else 502 (a connection that failed or timed out included).
fn upstream_failed(error: reqwest::Error, what: &str) -> Response {
    let timed_out = error.is_timeout() && !error.is_connect();
    // Logged without the URL: its query string may carry credentials.
    let error = error.without_url();
    warn!(%error, "{what}");
    if timed_out {
        message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
    } else {
        message(StatusCode::BAD_GATEWAY, "Bad gateway")
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

/// 408 for a body that did not arrive in time; the connection is closed after it, as the
/// rest of that body can no longer be told apart from the next request.
fn request_timeout() -> Response {
    let mut response = message(StatusCode::REQUEST_TIMEOUT, "Request timeout");
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn header(payload: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "Bearer {}.{}.c2ln",
            b64(r#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#),
            b64(payload)
        )
    }

    #[test]
    fn the_cache_reads_exp_only_from_a_plain_bearer_jwt() {
        assert_eq!(bearer_exp(&header(r#"{"exp":1000,"sub":"u"}"#)), Some(1000));
        let plain = header(r#"{"exp":1000}"#);
        assert_eq!(bearer_exp(&plain.replacen("Bearer", "bearer", 1)), None);
        assert_eq!(bearer_exp(&format!("{plain}.x")), None);
        assert_eq!(bearer_exp(&format!("{plain} ")), None);
        assert_eq!(bearer_exp(&header(r#"{"exp":1000,"exp":9999}"#)), None);
        assert_eq!(bearer_exp(&header(r#"{"sub":"u"}"#)), None);
    }

    #[test]
    fn a_cached_answer_ends_at_exp_or_ttl_and_never_serves_an_earlier_clock() {
        let cache = AuthorizerCache::with_ttl(300);
        let token = header(r#"{"exp":1100}"#);
        let policy = Arc::new(serde_json::json!({"principalId": "u"}));
        cache.insert(&token, Arc::clone(&policy), 1000);
        assert_eq!(cache.get(&token, 1000), Some(Arc::clone(&policy)));
        assert_eq!(cache.get(&token, 1099), Some(policy));
        assert_eq!(cache.get(&token, 1100), None, "expired: verify again");
        assert_eq!(cache.get(&token, 999), None, "clock stepped back");
        assert_eq!(cache.get(&header(r#"{"exp":1101}"#), 1000), None);

        let long = header(r#"{"exp":999999}"#);
        cache.insert(&long, Arc::new(serde_json::json!({})), 1000);
        assert!(cache.get(&long, 1299).is_some());
        assert_eq!(cache.get(&long, 1300), None, "ttl over");
    }

    #[test]
    fn a_ttl_of_zero_turns_the_cache_off_and_an_expired_token_is_never_stored() {
        let off = AuthorizerCache::with_ttl(0);
        let token = header(r#"{"exp":1100}"#);
        off.insert(&token, Arc::new(serde_json::json!({})), 1000);
        assert_eq!(off.get(&token, 1000), None);

        let on = AuthorizerCache::with_ttl(300);
        on.insert(&token, Arc::new(serde_json::json!({})), 1100);
        assert_eq!(on.get(&token, 1100), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = AuthorizerCache::with_ttl(300);
        for i in 0..(AUTHORIZER_CACHE_ENTRIES + 10) {
            let token = header(&format!(r#"{{"exp":2000,"jti":"{i}"}}"#));
            cache.insert(&token, Arc::new(serde_json::json!({})), 1000);
        }
        let held = cache.entries.lock().unwrap().len();
        assert!(held <= AUTHORIZER_CACHE_ENTRIES, "{held}");
    }
}

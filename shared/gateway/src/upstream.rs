//! The user's API behind `tessera serve --upstream`: requests the authorizer allowed are
//! forwarded there with the authorizer context in `x-tessera-*` headers, on the normalised
//! path, with bounded time and a bounded answer.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_service::gateway::gateway_error;
use tracing::warn;

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

/// Paths Tessera answers itself; never proxied upstream, whatever the method.
pub(crate) fn is_tessera_path(path: &str) -> bool {
    path == "/me" || path.starts_with("/auth/") || path.starts_with("/.well-known/")
}

/// The user's API behind the gateway.
pub struct Upstream {
    /// Base URL as the URL parser writes it, without a trailing slash.
    base: String,
    /// The base URL's path, without a trailing slash (empty for the root).
    base_path: String,
    /// One client, reused for every proxied request; it carries the connect and total
    /// timeouts and follows no redirects.
    client: reqwest::Client,
    /// The largest answer body passed back; a larger one is a 502.
    max_response_bytes: usize,
}

/// How long the upstream may take, and how much it may answer.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamLimits {
    /// To open a connection.
    pub connect_timeout: Duration,
    /// For the whole exchange; past it the client gets 504.
    pub timeout: Duration,
    /// The largest answer body passed back; a larger one is a 502.
    pub max_response_bytes: usize,
}

/// Why an upstream base URL was refused at start.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// It does not parse as a URL.
    #[error("{base:?} is not a URL: {reason}")]
    NotAUrl {
        /// The URL as given.
        base: String,
        /// What the parser said.
        reason: String,
    },
    /// Not http(s), or with a query or fragment the proxied paths could not extend.
    #[error("{0:?} must be an http or https URL without a query")]
    Unsupported(String),
    /// No HTTP client could be built (no TLS backend, say).
    #[error("{base:?}: no HTTP client: {source}")]
    Client {
        /// The URL as given.
        base: String,
        /// What the client builder said.
        source: reqwest::Error,
    },
}

impl Upstream {
    /// The upstream at `base`, checked now: an absolute http(s) URL without query or
    /// fragment, and its client bounded by `limits`.
    pub fn new(base: &str, limits: UpstreamLimits) -> Result<Self, UpstreamError> {
        let url = reqwest::Url::parse(base).map_err(|e| UpstreamError::NotAUrl {
            base: base.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(UpstreamError::Unsupported(base.to_owned()));
        }
        // A gateway passes redirects back to its client; following them would send the
        // authorizer context to wherever the upstream points.
        let client = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| UpstreamError::Client {
                base: base.to_owned(),
                source,
            })?;
        Ok(Self {
            // The parser's own spelling, so a request URL built on it parses back unchanged.
            base: url.as_str().trim_end_matches('/').to_owned(),
            base_path: url.path().trim_end_matches('/').to_owned(),
            client,
            max_response_bytes: limits.max_response_bytes,
        })
    }

    /// The URL for a normalised path and the request's own query, when the URL parser keeps
    /// both byte for byte: what reqwest sends is then exactly base path + path + query, the
    /// path that was authorized. `None` when the parser would rewrite them.
    pub(crate) fn url(&self, path: &str, query: Option<&str>) -> Option<reqwest::Url> {
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

/// Forwards an allowed request on its normalised `path`, with `context` (the authorizer's)
/// as `x-tessera-*` headers, and passes the answer back.
pub(crate) async fn proxy(
    upstream: &Upstream,
    parts: &http::request::Parts,
    path: &str,
    body: Bytes,
    context: &[(&str, &str)],
    request_id: &str,
) -> Response {
    let Some(url) = upstream.url(path, parts.uri.query()) else {
        return gateway_error(
            StatusCode::BAD_REQUEST,
            "Bad request: the query cannot be forwarded unchanged",
            request_id,
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
        let name = HeaderName::from_bytes(format!("{CONTEXT_HEADER_PREFIX}{key}").as_bytes());
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(value)) {
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
        Err(e) => return upstream_failed(e, "upstream unreachable", request_id),
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
        gateway_error(StatusCode::BAD_GATEWAY, "Bad gateway", request_id)
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
            Err(e) => return upstream_failed(e, "upstream answer unreadable", request_id),
        }
    }
    (status, out_headers, bytes).into_response()
}

/// API Gateway's answers to a failed integration: 504 when a connected upstream took too
/// long, else 502 (a connection that failed or timed out included).
fn upstream_failed(error: reqwest::Error, what: &str, request_id: &str) -> Response {
    let timed_out = error.is_timeout() && !error.is_connect();
    // Logged without the URL: its query string may carry credentials.
    let error = error.without_url();
    warn!(%error, "{what}");
    if timed_out {
        gateway_error(
            StatusCode::GATEWAY_TIMEOUT,
            "Endpoint request timed out",
            request_id,
        )
    } else {
        gateway_error(StatusCode::BAD_GATEWAY, "Bad gateway", request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: UpstreamLimits = UpstreamLimits {
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        max_response_bytes: 1024,
    };

    #[test]
    fn an_http_base_is_kept_as_the_parser_writes_it_without_a_trailing_slash() {
        let upstream = Upstream::new("HTTP://Example.test:8080/api/", LIMITS).unwrap();
        assert_eq!(upstream.base, "http://example.test:8080/api");
        assert_eq!(upstream.base_path, "/api");
        let root = Upstream::new("https://example.test", LIMITS).unwrap();
        assert_eq!(root.base, "https://example.test");
        assert_eq!(root.base_path, "");
        assert_eq!(root.max_response_bytes, 1024);
    }

    #[test]
    fn a_base_that_paths_cannot_extend_is_refused_naming_it() {
        for base in [
            "ftp://example.test/",
            "http://example.test/?q=1",
            "http://example.test/#f",
        ] {
            let error = Upstream::new(base, LIMITS).err().unwrap();
            assert!(matches!(error, UpstreamError::Unsupported(_)), "{base}");
            assert!(error.to_string().contains(base), "{error}");
        }
        let error = Upstream::new("not a url", LIMITS).err().unwrap();
        assert!(matches!(error, UpstreamError::NotAUrl { .. }), "{error}");
        assert!(
            error.to_string().starts_with("\"not a url\" is not a URL"),
            "{error}"
        );
    }
}

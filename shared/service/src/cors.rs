//! CORS for the functions' own answers and for `tessera serve`'s preflight. API Gateway
//! answers preflight requests and adds the headers to its own error responses, but passes a
//! Lambda proxy response through unchanged, so the functions add them themselves when
//! `CORS_ALLOW_ORIGIN` is set (template.yaml's `CorsAllowOrigin`).
//!
//! `CORS_ALLOW_ORIGIN` is `*`, or a comma-separated list of exact origins. One origin is named
//! on every answer; of several, an answer names the request's origin when it is listed (never
//! `*`); either way with `Vary: Origin`. When
//! the refresh token travels in a cookie (`REFRESH_TOKEN_DELIVERY`), also
//! `Access-Control-Allow-Credentials: true`, which `*` can never carry.

use axum::response::Response;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, VARY,
};
use http::{HeaderValue, StatusCode};
use tessera_config::{ConfigError, Vars};

use crate::cookie::RefreshDelivery;

/// The methods and headers a preflight allows: the template's REST API `Cors` block.
pub const ALLOW_METHODS: &str = "GET,POST,DELETE,OPTIONS";
/// See [`ALLOW_METHODS`]; `x-tessera-csrf` is the header a cookie request may send instead of
/// a JSON body.
pub const ALLOW_HEADERS: &str = "Authorization,Content-Type,X-Tessera-Csrf";
/// What a browser client must be able to read: the challenge of a 401, the wait of a 429/503.
const EXPOSE_HEADERS: &str = "Retry-After, WWW-Authenticate";

/// Which origins may read the answers, read once at init; none (the default) adds nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    allowed: Allowed,
    credentials: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Allowed {
    #[default]
    None,
    Any,
    Origins(Vec<HeaderValue>),
}

impl Cors {
    /// Reads `CORS_ALLOW_ORIGIN` (and `REFRESH_TOKEN_DELIVERY`) from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// [`Cors::from_vars`] through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::new(lookup))
    }

    /// Reads `CORS_ALLOW_ORIGIN`: empty or unset is off; otherwise `*` or a comma-separated
    /// list of origins (`https://app.example.com`, no path). `*` with a cookie delivery of the
    /// refresh token is refused: a browser never sends credentials to `*`.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let credentials = RefreshDelivery::from_vars(vars)?.in_cookie();
        let Some(setting) = vars.get("CORS_ALLOW_ORIGIN") else {
            return Ok(Self::default());
        };
        let invalid = |reason: &str| ConfigError::Invalid {
            name: "CORS_ALLOW_ORIGIN",
            reason: reason.to_owned(),
        };
        if setting.trim() == "*" {
            if credentials {
                return Err(invalid(
                    "* cannot be used with REFRESH_TOKEN_DELIVERY=cookie or both: list the origins",
                ));
            }
            return Ok(Self {
                allowed: Allowed::Any,
                credentials,
            });
        }
        let mut origins = Vec::new();
        for origin in setting.split(',').map(str::trim) {
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.contains(char::is_whitespace)
                && origin.split_once("://").is_some_and(|(_, host)| {
                    !host.is_empty() && !host.contains(['/', '?', '#', '@'])
                });
            let value = HeaderValue::from_str(origin).ok().filter(|_| valid);
            let Some(value) = value else {
                return Err(invalid(
                    "*, or origins such as https://app.example.com (no path), comma-separated",
                ));
            };
            origins.push(value);
        }
        Ok(Self {
            allowed: Allowed::Origins(origins),
            credentials,
        })
    }

    /// Whether `origin` is one of the listed origins (`*` lists none: a cookie request is
    /// never accepted from an origin nobody named).
    pub fn allows(&self, origin: &str) -> bool {
        match &self.allowed {
            Allowed::Origins(origins) => origins
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())),
            Allowed::Any | Allowed::None => false,
        }
    }

    /// Whether CORS is on at all.
    pub fn is_on(&self) -> bool {
        self.allowed != Allowed::None
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`, if it may read. One
    /// configured origin is named on every answer, as API Gateway's static header does (it
    /// tells nobody anything new); of several, only the request's own, when listed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match &self.allowed {
            Allowed::None => None,
            Allowed::Any => Some(HeaderValue::from_static("*")),
            Allowed::Origins(origins) => match origins.as_slice() {
                [only] => Some(only.clone()),
                _ => origin
                    .filter(|o| o.to_str().is_ok_and(|o| self.allows(o)))
                    .cloned(),
            },
        }
    }

    /// Adds the CORS headers to `response` for a request from `origin`.
    pub fn apply(&self, origin: Option<&HeaderValue>, mut response: Response) -> Response {
        if !self.is_on() {
            return response;
        }
        let allow = self.allow_origin(origin);
        let headers = response.headers_mut();
        if matches!(self.allowed, Allowed::Origins(_)) {
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(allow) = allow {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
            if self.credentials {
                headers.insert(
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
        response
    }

    /// The answer to a preflight (`OPTIONS`) from `origin`, as API Gateway's mock integration
    /// gives it: 204 with the allowed methods and headers, and the origin only when it may.
    /// `None` when CORS is off (the request is then routed like any other).
    pub fn preflight(&self, origin: Option<&HeaderValue>) -> Option<Response> {
        if !self.is_on() {
            return None;
        }
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        Some(self.apply(origin, response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(value: &str, delivery: &str) -> Result<Cors, ConfigError> {
        let (value, delivery) = (value.to_owned(), delivery.to_owned());
        Cors::from_lookup(move |name| match name {
            "CORS_ALLOW_ORIGIN" => Some(value.clone()),
            "REFRESH_TOKEN_DELIVERY" => Some(delivery.clone()),
            _ => None,
        })
    }

    fn answer(cors: &Cors, origin: &str) -> Response {
        let origin = HeaderValue::from_str(origin).unwrap();
        cors.apply(Some(&origin), Response::new(axum::body::Body::empty()))
    }

    #[test]
    fn unset_adds_nothing() {
        let response = answer(&cors("", "body").unwrap(), "https://app.example.com");
        assert!(response.headers().is_empty());
    }

    #[test]
    fn a_listed_origin_is_echoed_with_vary_and_the_headers_a_browser_must_read() {
        let cors = cors("https://app.example.com, https://admin.example.com", "body").unwrap();
        let response = answer(&cors, "https://admin.example.com");
        let h = response.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://admin.example.com");
        assert_eq!(
            h[ACCESS_CONTROL_EXPOSE_HEADERS],
            "Retry-After, WWW-Authenticate"
        );
        assert_eq!(h[VARY], "Origin");
        assert!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let foreign = answer(&cors, "https://evil.example.com");
        assert!(foreign.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(foreign.headers()[VARY], "Origin");
    }

    #[test]
    fn one_origin_is_named_on_every_answer_as_api_gateways_static_header() {
        let cors = cors("https://app.example.com", "body").unwrap();
        let bare = cors.apply(None, Response::new(axum::body::Body::empty()));
        assert_eq!(
            bare.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert!(cors.allows("https://app.example.com"));
        assert!(!cors.allows("https://evil.example.com"));
    }

    #[test]
    fn cookie_delivery_allows_credentials_and_never_star() {
        let cors = cors("https://app.example.com", "cookie").unwrap();
        let response = answer(&cors, "https://app.example.com");
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let err = super::tests::cors("*", "both").unwrap_err();
        assert_eq!(err.variable(), "CORS_ALLOW_ORIGIN");
    }

    #[test]
    fn star_without_cookies_is_star() {
        let response = answer(&cors("*", "body").unwrap(), "https://any.example");
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }

    #[test]
    fn a_preflight_names_methods_headers_and_only_an_allowed_origin() {
        let cors = cors("https://app.example.com", "cookie").unwrap();
        let origin = HeaderValue::from_static("https://app.example.com");
        let response = cors.preflight(Some(&origin)).unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_METHODS],
            ALLOW_METHODS
        );
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert!(
            super::tests::cors("", "body")
                .unwrap()
                .preflight(Some(&origin))
                .is_none()
        );
    }

    #[test]
    fn a_malformed_origin_fails_at_start_naming_the_variable() {
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://a b",
            "https://app.example.com/path",
            "https://a.example,",
        ] {
            let err = cors(bad, "body").unwrap_err();
            assert!(
                err.to_string().contains("CORS_ALLOW_ORIGIN"),
                "{bad}: {err}"
            );
        }
    }
}

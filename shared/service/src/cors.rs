//! CORS for the functions' own answers. API Gateway answers preflight requests and adds the
//! header to its own error responses, but passes a Lambda proxy response through unchanged,
//! so the functions add `Access-Control-Allow-Origin` themselves when `CORS_ALLOW_ORIGIN` is
//! set (template.yaml's `CorsAllowOrigin`).

use axum::response::Response;
use http::HeaderValue;
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, VARY};
use tessera_config::{ConfigError, Vars};

/// The allowed origin, read once at init; none (the default) adds nothing.
#[derive(Clone, Debug, Default)]
pub struct Cors {
    origin: Option<HeaderValue>,
}

impl Cors {
    /// Reads `CORS_ALLOW_ORIGIN` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `CORS_ALLOW_ORIGIN` through `lookup`: empty or unset is off; otherwise one
    /// origin (`https://app.example.com`) or `*`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let Some(origin) = Vars::new(lookup).get("CORS_ALLOW_ORIGIN") else {
            return Ok(Self::default());
        };
        let origin = origin.as_str();
        let valid = origin == "*"
            || (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.contains(char::is_whitespace)
                && !origin.ends_with('/');
        let invalid = || ConfigError::Invalid {
            name: "CORS_ALLOW_ORIGIN",
            reason: "one origin such as https://app.example.com (no path), or *".into(),
        };
        if !valid {
            return Err(invalid());
        }
        let origin = HeaderValue::from_str(origin).map_err(|_| invalid())?;
        Ok(Self {
            origin: Some(origin),
        })
    }

    /// Adds the CORS headers to `response` when an origin is configured. A browser client
    /// needs to read `Retry-After` (429, 503) and `WWW-Authenticate` (401) too.
    pub fn apply(&self, mut response: Response) -> Response {
        if let Some(origin) = &self.origin {
            let headers = response.headers_mut();
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Retry-After, WWW-Authenticate"),
            );
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(value: &str) -> Result<Cors, ConfigError> {
        let value = value.to_owned();
        Cors::from_lookup(move |name| (name == "CORS_ALLOW_ORIGIN").then(|| value.clone()))
    }

    #[test]
    fn unset_adds_nothing() {
        let response = cors("")
            .unwrap()
            .apply(Response::new(axum::body::Body::empty()));
        assert!(
            response
                .headers()
                .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }

    #[test]
    fn an_origin_is_added_with_the_headers_a_browser_must_read() {
        let response = cors("https://app.example.com")
            .unwrap()
            .apply(Response::new(axum::body::Body::empty()));
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(
            response.headers()[ACCESS_CONTROL_EXPOSE_HEADERS],
            "Retry-After, WWW-Authenticate"
        );
    }

    #[test]
    fn a_malformed_origin_fails_at_start_naming_the_variable() {
        for bad in ["app.example.com", "https://app.example.com/", "https://a b"] {
            let err = cors(bad).unwrap_err();
            assert!(
                err.to_string().contains("CORS_ALLOW_ORIGIN"),
                "{bad}: {err}"
            );
        }
    }
}

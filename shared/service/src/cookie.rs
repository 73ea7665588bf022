//! The refresh token in an HttpOnly cookie, for browser apps (the IETF "OAuth 2.0 for
//! Browser-Based Applications" BCP): the token never reaches JavaScript, and a request that
//! the cookie authenticates must prove it comes from an allowed origin.
//!
//! - [`RefreshDelivery`] (`REFRESH_TOKEN_DELIVERY`): `body` (the default, the token in the JSON
//!   answer), `cookie` (only the cookie), or `both`.
//! - The cookie: [`REFRESH_COOKIE`], `HttpOnly; Secure; SameSite=Strict`, its `Path` the public
//!   prefix of `/auth` ([`PublicPrefix`]: the stage on a default execute-api URL) or
//!   `REFRESH_COOKIE_PATH`, its `Max-Age` the session's remaining absolute lifetime.
//! - [`check_origin`]: what a cookie-authenticated request must show (the CSRF rule).

use std::convert::Infallible;

use axum::extract::FromRequestParts;
#[cfg(feature = "store")]
use http::header::{CONTENT_TYPE, COOKIE, ORIGIN, REFERER};
use http::request::Parts;
#[cfg(feature = "store")]
use http::{HeaderMap, HeaderValue};
use tessera_config::{ConfigError, Vars};

#[cfg(feature = "store")]
use crate::{Cors, ServiceError};

/// The refresh token cookie's name. The `__Secure-` prefix makes a browser refuse it unless
/// it is set `Secure` from a secure origin, so a network attacker cannot plant one.
pub const REFRESH_COOKIE: &str = "__Secure-tessera-refresh";

/// The header a script may send instead of a JSON body to make a request non-simple (a
/// browser then asks the CORS preflight first, which a foreign origin fails).
pub const CSRF_HEADER: &str = "x-tessera-csrf";

/// Where login and refresh put the refresh token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefreshDelivery {
    /// In the JSON answer only (`refresh_token`), as the API has always done.
    #[default]
    Body,
    /// In the cookie only; the JSON answer has no `refresh_token`.
    Cookie,
    /// In both.
    Both,
}

impl RefreshDelivery {
    /// Reads `REFRESH_TOKEN_DELIVERY`: `body` (default), `cookie` or `both`.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        match vars.get("REFRESH_TOKEN_DELIVERY").as_deref() {
            None | Some("body") => Ok(Self::Body),
            Some("cookie") => Ok(Self::Cookie),
            Some("both") => Ok(Self::Both),
            Some(_) => Err(ConfigError::Invalid {
                name: "REFRESH_TOKEN_DELIVERY",
                reason: "body, cookie or both".into(),
            }),
        }
    }

    /// Whether answers carry `refresh_token` in their body.
    pub fn in_body(self) -> bool {
        self != Self::Cookie
    }

    /// Whether answers set the cookie, and requests may present the token through it.
    pub fn in_cookie(self) -> bool {
        self != Self::Body
    }
}

/// Reads `REFRESH_COOKIE_PATH`: unset means "the public prefix of `/auth`"; a value is an
/// absolute path without `;`, `,`, whitespace or control characters.
pub(crate) fn cookie_path_setting<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<Option<String>, ConfigError> {
    let Some(path) = vars.get("REFRESH_COOKIE_PATH") else {
        return Ok(None);
    };
    let valid = path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
    if !valid {
        return Err(ConfigError::Invalid {
            name: "REFRESH_COOKIE_PATH",
            reason: "an absolute path such as /auth, without ';', ',' or spaces".into(),
        });
    }
    Ok(Some(path.trim_end_matches('/').to_owned()).filter(|p| !p.is_empty()))
}

/// The part of the public path in front of the path the routers see: `/prod` when API Gateway's
/// default URL carries the stage (`/prod/auth/refresh` reaches the function as
/// `/auth/refresh`), empty under a custom domain that maps the stage away and under
/// `tessera serve`. The edge puts it into the request's extensions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublicPrefix(pub String);

impl PublicPrefix {
    /// The prefix of `routed` in `public` (`/prod/auth/x` and `/auth/x` give `/prod`), or
    /// none when `public` does not end with `routed`.
    pub fn of(public: &str, routed: &str) -> Self {
        let prefix = public.strip_suffix(routed).unwrap_or_default();
        Self(prefix.trim_end_matches('/').to_owned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PublicPrefix {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<PublicPrefix>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The cookie's `Path`: the configured one, else the public prefix of `/auth`.
#[cfg(feature = "store")]
pub(crate) fn cookie_path(configured: Option<&str>, prefix: &PublicPrefix) -> String {
    match configured {
        Some(path) => path.to_owned(),
        None => format!("{}/auth", prefix.0),
    }
}

/// `Set-Cookie` for a new refresh token that lives `max_age` more seconds.
#[cfg(feature = "store")]
pub(crate) fn set_cookie(
    token: &str,
    max_age: i64,
    path: &str,
) -> Result<HeaderValue, ServiceError> {
    HeaderValue::from_str(&format!(
        "{REFRESH_COOKIE}={token}; Path={path}; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        max_age.max(0)
    ))
    .map_err(|_| ServiceError::Internal("refresh cookie is not a header value".to_owned()))
}

/// `Set-Cookie` that makes the browser forget the refresh cookie.
#[cfg(feature = "store")]
pub(crate) fn clear_cookie(path: &str) -> Result<HeaderValue, ServiceError> {
    set_cookie("", 0, path)
}

/// The refresh token from the request's cookies, if one is there. Two refresh cookies (one
/// planted for another path, say) are refused rather than guessed between.
#[cfg(feature = "store")]
pub(crate) fn refresh_cookie(headers: &HeaderMap) -> Result<Option<String>, ServiceError> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if name != REFRESH_COOKIE {
                continue;
            }
            let value = value.trim_matches('"');
            if found.is_some() {
                return Err(ServiceError::InvalidRequest(
                    "the refresh cookie is sent more than once",
                ));
            }
            found = Some(value.to_owned());
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

/// The CSRF rule for a request that the refresh cookie authenticates: its `Origin` (or,
/// without one, its `Referer`'s origin) is one `CORS_ALLOW_ORIGIN` lists, and it is not a
/// request a cross-site form or `<img>` could send: its body is `application/json`, or it
/// carries [`CSRF_HEADER`]; either makes a browser ask the CORS preflight first. Otherwise 403,
/// before anything is read or changed.
#[cfg(feature = "store")]
pub(crate) fn check_origin(headers: &HeaderMap, cors: &Cors) -> Result<(), ServiceError> {
    let single = |name| {
        crate::single_header(headers, name)
            .ok()
            .flatten()
            .and_then(|v| v.to_str().ok())
    };
    let origin = match single(ORIGIN) {
        Some(origin) => Some(origin.to_owned()),
        None => single(REFERER).and_then(origin_of),
    };
    let Some(origin) = origin else {
        return Err(ServiceError::CrossSite("no Origin or Referer"));
    };
    if !cors.allows(&origin) {
        return Err(ServiceError::CrossSite("the origin is not allowed"));
    }
    let json = single(CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json && headers.get(CSRF_HEADER).is_none() {
        return Err(ServiceError::CrossSite(
            "a cookie-authenticated request must be application/json or carry x-tessera-csrf",
        ));
    }
    Ok(())
}

/// `scheme://host[:port]` of an absolute http(s) URL.
#[cfg(feature = "store")]
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{}://{authority}", scheme.to_ascii_lowercase()))
}

#[cfg(test)]
#[cfg(feature = "store")]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn cors(origins: &str) -> Cors {
        let origins = origins.to_owned();
        Cors::from_lookup(move |name| match name {
            "CORS_ALLOW_ORIGIN" => Some(origins.clone()),
            "REFRESH_TOKEN_DELIVERY" => Some("cookie".to_owned()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_with_path_and_max_age() {
        let value = set_cookie("a.b.c", 3600, "/prod/auth").unwrap();
        assert_eq!(
            value,
            "__Secure-tessera-refresh=a.b.c; Path=/prod/auth; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"
        );
        let cleared = clear_cookie("/auth").unwrap();
        assert!(
            cleared
                .to_str()
                .unwrap()
                .contains("=; Path=/auth; Max-Age=0;")
        );
    }

    #[test]
    fn the_path_is_the_public_prefix_of_auth_unless_configured() {
        let stage = PublicPrefix::of("/prod/auth/refresh", "/auth/refresh");
        assert_eq!(stage.0, "/prod");
        assert_eq!(cookie_path(None, &stage), "/prod/auth");
        assert_eq!(cookie_path(None, &PublicPrefix::default()), "/auth");
        assert_eq!(cookie_path(Some("/api/auth"), &stage), "/api/auth");
        assert_eq!(PublicPrefix::of("/other", "/auth/refresh").0, "");
    }

    #[test]
    fn the_refresh_cookie_is_read_among_others_and_twice_is_refused() {
        let one = headers(&[("cookie", "a=1; __Secure-tessera-refresh=x.y.z; b=2")]);
        assert_eq!(refresh_cookie(&one).unwrap().as_deref(), Some("x.y.z"));
        assert_eq!(
            refresh_cookie(&headers(&[("cookie", "a=1")])).unwrap(),
            None
        );
        let twice = headers(&[
            ("cookie", "__Secure-tessera-refresh=a"),
            ("cookie", "__Secure-tessera-refresh=b"),
        ]);
        assert!(matches!(
            refresh_cookie(&twice),
            Err(ServiceError::InvalidRequest(_))
        ));
    }

    #[test]
    fn only_an_allowed_origin_with_a_non_simple_request_passes() {
        let cors = cors("https://app.example, https://admin.example");
        let json = ("content-type", "application/json");
        let ok = headers(&[("origin", "https://app.example"), json]);
        assert!(check_origin(&ok, &cors).is_ok());
        let by_referer = headers(&[("referer", "https://admin.example/page?x=1"), json]);
        assert!(check_origin(&by_referer, &cors).is_ok());
        let custom = headers(&[
            ("origin", "https://app.example"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-tessera-csrf", "1"),
        ]);
        assert!(check_origin(&custom, &cors).is_ok());
        for refused in [
            headers(&[("origin", "https://evil.example"), json]),
            headers(&[json]),
            headers(&[("origin", "null"), json]),
            headers(&[
                ("origin", "https://app.example"),
                ("content-type", "application/x-www-form-urlencoded"),
            ]),
            headers(&[
                ("origin", "https://app.example"),
                ("content-type", "text/plain"),
            ]),
            headers(&[("referer", "https://app.example.evil.example/"), json]),
        ] {
            assert!(
                matches!(
                    check_origin(&refused, &cors),
                    Err(ServiceError::CrossSite(_))
                ),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn delivery_and_path_settings_parse_or_name_their_variable() {
        let vars = |v: &'static str| {
            Vars::new(move |n: &str| (n == "REFRESH_TOKEN_DELIVERY").then(|| v.to_owned()))
        };
        assert_eq!(
            RefreshDelivery::from_vars(&vars("both")).unwrap(),
            RefreshDelivery::Both
        );
        assert!(RefreshDelivery::from_vars(&vars("jar")).is_err());
        let path = |v: &'static str| {
            Vars::new(move |n: &str| (n == "REFRESH_COOKIE_PATH").then(|| v.to_owned()))
        };
        assert_eq!(
            cookie_path_setting(&path("/api/auth/")).unwrap().as_deref(),
            Some("/api/auth")
        );
        for bad in ["auth", "/a;b", "/a b"] {
            let err = cookie_path_setting(&path(bad)).unwrap_err();
            assert_eq!(err.variable(), "REFRESH_COOKIE_PATH");
        }
    }
}

//! HTTP handlers: `lambda_http::Request` in, `lambda_http::Response<Body>` out, always (an
//! error is an answer, mapped by [`error_response`]). Each handler asks only for the store
//! capability its use case needs.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use tessera_store::{SessionStore, Store};
use tessera_token::MAX_TOKEN_BYTES;
use tracing::Instrument as _;

use crate::error::{json_response, no_content};
use crate::request::{Fields, client_meta, path, request_id};
use crate::{
    Caller, Password, PresentedToken, Service, ServiceError, TokenResponse, Username,
    error_response,
};

/// How clients and CDNs may cache the JWKS and the discovery document: five minutes, short
/// enough that a rotated signing key is picked up quickly.
pub const DISCOVERY_CACHE_CONTROL: &str = "public, max-age=300";

/// Runs a handler's body inside a span carrying the request id, and turns its error into the
/// one error answer quoting that id.
async fn respond(
    req: &Request,
    endpoint: &'static str,
    body: impl Future<Output = Result<Response<Body>, ServiceError>>,
) -> Response<Body> {
    let request_id = request_id(req);
    let span = tracing::info_span!("request", endpoint, %request_id);
    match body.instrument(span.clone()).await {
        Ok(resp) => resp,
        Err(err) => span.in_scope(|| error_response(&err, &request_id)),
    }
}

/// The one error answer outside a handler (routing).
fn answer(req: &Request, err: ServiceError) -> Response<Body> {
    error_response(&err, &request_id(req))
}

fn token_body(t: &TokenResponse) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": t.access_token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": t.expires_in,
            "refresh_token": t.refresh_token.expose_secret(),
            "refresh_token_expires_in": t.refresh_token_expires_in,
            "scope": t.scope,
        }),
    )
}

/// `POST /auth/login`: JSON `{"username", "password"}` or form
/// `grant_type=password&username=..&password=..` -> 200 token response (API.md).
pub async fn login<S: Store>(service: &Service<S>, req: Request) -> Response<Body> {
    respond(&req, "login", async {
        let fields = Fields::parse(&req)?;
        fields.check_grant_type("password")?;
        let username = Username::parse(fields.required("username", "username is required")?)?;
        let password = Password::parse(fields.required("password", "password is required")?)?;
        let now = service.now();
        let tokens = service
            .login(&username, &password, client_meta(&req), now)
            .await?;
        Ok(token_body(&tokens))
    })
    .await
}

/// `POST /auth/refresh`: JSON `{"refresh_token"}` or form
/// `grant_type=refresh_token&refresh_token=..` -> 200 with a new pair (API.md).
pub async fn refresh<S: SessionStore>(service: &Service<S>, req: Request) -> Response<Body> {
    respond(&req, "refresh", async {
        let fields = Fields::parse(&req)?;
        fields.check_grant_type("refresh_token")?;
        let token = fields.required("refresh_token", "refresh_token is required")?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ServiceError::InvalidGrant);
        }
        let token = PresentedToken::new(token);
        let tokens = service.refresh(&token, service.now()).await?;
        Ok(token_body(&tokens))
    })
    .await
}

/// `POST /auth/logout`: JSON `{"refresh_token"}` or the form field (`refresh_token`, or
/// RFC 7009's `token`) -> 204, whatever the token's state (API.md).
pub async fn logout<S: SessionStore>(service: &Service<S>, req: Request) -> Response<Body> {
    respond(&req, "logout", async {
        let fields = Fields::parse(&req)?;
        let token = match fields.get("refresh_token")? {
            Some(t) if !t.is_empty() => t,
            _ => fields.required("token", "refresh_token is required")?,
        };
        // An oversized token cannot be one of ours: nothing to revoke, and nothing to reveal.
        if token.len() <= MAX_TOKEN_BYTES {
            service
                .logout(&PresentedToken::new(token), service.now())
                .await?;
        }
        Ok(no_content())
    })
    .await
}

/// `GET /auth/sessions` (list), `DELETE /auth/sessions/{sid}` (revoke one),
/// `DELETE /auth/sessions` (revoke all): the caller's own sessions only (API.md).
pub async fn sessions<S: Store>(service: &Service<S>, req: Request) -> Response<Body> {
    sessions_in(service.store(), service.now(), req).await
}

/// [`sessions`] over a bare store, at `now`: what the sessions function runs. It needs no
/// key, so that function never reads the signing secret.
pub async fn sessions_in<S: Store>(store: &S, now: i64, req: Request) -> Response<Body> {
    respond(&req, "sessions", async {
        let caller = Caller::from_request(&req).ok_or(ServiceError::Unauthorized)?;
        match (req.method(), session_id(&req)) {
            (&Method::GET, None) => {
                let sessions =
                    crate::sessions::list(store, &caller.sub, caller.sid.as_deref(), now).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "sessions": sessions }),
                ))
            }
            (&Method::DELETE, Some(sid)) => {
                crate::sessions::revoke(store, &caller.sub, &sid, now).await?;
                Ok(no_content())
            }
            (&Method::DELETE, None) => {
                crate::sessions::revoke_all(store, &caller.sub, caller.sid.as_deref(), now).await?;
                Ok(no_content())
            }
            (_, None) => Err(ServiceError::MethodNotAllowed {
                allow: "GET, DELETE",
            }),
            (_, Some(_)) => Err(ServiceError::MethodNotAllowed { allow: "DELETE" }),
        }
    })
    .await
}

/// The `{sid}` of `/auth/sessions/{sid}`: API Gateway's path parameter, else the path itself.
fn session_id(req: &Request) -> Option<String> {
    let from_params = req
        .path_parameters_ref()
        .and_then(|p| p.first("sid"))
        .map(str::to_owned);
    from_params
        .or_else(|| {
            let rest = path(req).strip_prefix("/auth/sessions/")?;
            Some(rest.trim_end_matches('/').to_owned())
        })
        .filter(|sid| !sid.is_empty())
}

/// `GET /me`: the authorizer context as the integration sees it (API.md).
/// It reads only the request: the me function needs no key and no store.
pub async fn me(req: Request) -> Response<Body> {
    respond(&req, "me", async {
        let c = Caller::from_request(&req).ok_or(ServiceError::Unauthorized)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "sub": c.sub, "sid": c.sid, "scope": c.scope, "jti": c.jti }),
        ))
    })
    .await
}

/// A public, cacheable JSON document.
fn public_json(body: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(DISCOVERY_CACHE_CONTROL),
    );
    resp
}

/// `GET /.well-known/jwks.json`: the public access token keys, current first (never a
/// private part, never the refresh key).
pub async fn jwks<S>(service: &Service<S>, req: Request) -> Response<Body> {
    respond(&req, "jwks", async {
        serde_json::to_value(service.published_keys().await.jwks())
            .map(|v| public_json(&v))
            .map_err(|e| ServiceError::Internal(format!("jwks serialisation: {e}")))
    })
    .await
}

/// The discovery document (RFC 8414 / OpenID Connect Discovery): enough for an HTTP API JWT
/// authorizer or any library to find the keys and endpoints.
/// `alg` is the key set's own algorithm, so the document cannot disagree with the JWKS.
pub fn discovery_document(
    config: &crate::Config,
    alg: tessera_token::Algorithm,
) -> serde_json::Value {
    let base = config.issuer_base();
    let alg = alg.as_str();
    json!({
        "issuer": config.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/auth/login"),
        "refresh_endpoint": format!("{base}/auth/refresh"),
        "revocation_endpoint": format!("{base}/auth/logout"),
        "sessions_endpoint": format!("{base}/auth/sessions"),
        "response_types_supported": ["token"],
        "grant_types_supported": ["password", "refresh_token"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "id_token_signing_alg_values_supported": [alg],
        "access_token_signing_alg_values_supported": [alg],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "sid", "scope"],
    })
}

/// `GET /.well-known/openid-configuration`: the discovery document.
pub async fn openid_configuration<S>(service: &Service<S>, _req: Request) -> Response<Body> {
    public_json(&discovery_document(
        service.config(),
        service.published_keys().await.algorithm(),
    ))
}

/// The two `/.well-known` documents, for the jwks function that serves both: 404 for any
/// other path, 405 for a method other than GET.
pub async fn well_known<S>(service: &Service<S>, req: Request) -> Response<Body> {
    let route = path(&req).to_owned();
    match (route.as_str(), req.method()) {
        ("/.well-known/jwks.json", &Method::GET) => jwks(service, req).await,
        ("/.well-known/openid-configuration", &Method::GET) => {
            openid_configuration(service, req).await
        }
        ("/.well-known/jwks.json" | "/.well-known/openid-configuration", _) => {
            not_allowed(&req, "GET")
        }
        _ => answer(&req, ServiceError::NotFound),
    }
}

impl<S: Store> Service<S> {
    /// Dispatches by method and path, for `tessera serve` (one process, every route):
    /// 404 for an unknown path, 405 (with `Allow`) for a known path and a wrong method.
    /// Protected routes expect the authorizer context already attached to the request.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let route = path(&req).to_owned();
        let method = req.method().clone();
        match (route.as_str(), method) {
            ("/auth/login", Method::POST) => login(self, req).await,
            ("/auth/refresh", Method::POST) => refresh(self, req).await,
            ("/auth/logout", Method::POST) => logout(self, req).await,
            ("/auth/login" | "/auth/refresh" | "/auth/logout", _) => not_allowed(&req, "POST"),
            ("/auth/sessions", Method::GET | Method::DELETE) => sessions(self, req).await,
            ("/auth/sessions", _) => not_allowed(&req, "GET, DELETE"),
            (p, Method::DELETE) if is_session_path(p) => sessions(self, req).await,
            (p, _) if is_session_path(p) => not_allowed(&req, "DELETE"),
            ("/.well-known/jwks.json", Method::GET) => jwks(self, req).await,
            ("/.well-known/openid-configuration", Method::GET) => {
                openid_configuration(self, req).await
            }
            ("/me", Method::GET) => me(req).await,
            ("/.well-known/jwks.json" | "/.well-known/openid-configuration" | "/me", _) => {
                not_allowed(&req, "GET")
            }
            _ => answer(&req, ServiceError::NotFound),
        }
    }
}

fn not_allowed(req: &Request, allow: &'static str) -> Response<Body> {
    answer(req, ServiceError::MethodNotAllowed { allow })
}

fn is_session_path(p: &str) -> bool {
    p.strip_prefix("/auth/sessions/")
        .is_some_and(|sid| !sid.is_empty() && !sid.contains('/'))
}

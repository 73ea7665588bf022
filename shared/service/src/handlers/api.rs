//! The routers of the functions that need the store or the keys.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use tessera_store::Store;
use tessera_token::MAX_TOKEN_BYTES;

use super::{finish, me_routes, not_allowed, respond};
use crate::context::{Caller, RequestId};
use crate::cookie::{check_origin, clear_cookie, cookie_path, refresh_cookie, set_cookie};
use crate::error::{json_response, no_content};
use crate::request::Fields;
use crate::{
    ClientMeta, Config, Password, PresentedToken, PublicPrefix, Service, ServiceError,
    TokenResponse, Username,
};

/// How clients and CDNs may cache the JWKS and the discovery document: five minutes, short
/// enough that a rotated signing key is picked up quickly.
pub const DISCOVERY_CACHE_CONTROL: &str = "public, max-age=300";

/// A token answer (RFC 6749 §5.1), with the refresh token where `REFRESH_TOKEN_DELIVERY`
/// puts it: in the body, in the cookie (whose `Path` is the public prefix of `/auth`), or both.
fn token_answer(
    config: &Config,
    t: &TokenResponse,
    prefix: &PublicPrefix,
) -> Result<Response, ServiceError> {
    let delivery = config.refresh_delivery;
    let mut body = json!({
        "access_token": t.access_token.expose_secret(),
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "refresh_token_expires_in": t.refresh_token_expires_in,
        "scope": t.scope,
    });
    if let (true, Some(fields)) = (delivery.in_body(), body.as_object_mut()) {
        fields.insert(
            "refresh_token".to_owned(),
            json!(t.refresh_token.expose_secret()),
        );
    }
    let mut response = json_response(StatusCode::OK, &body);
    if delivery.in_cookie() {
        let path = cookie_path(config.refresh_cookie_path.as_deref(), prefix);
        let cookie = set_cookie(
            t.refresh_token.expose_secret(),
            t.refresh_token_expires_in,
            &path,
        )?;
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The refresh token the cookie presents, when the deployment delivers it there; a request
/// that carries it must pass the CSRF rule ([`check_origin`]) before anything else happens.
fn cookie_token(config: &Config, headers: &HeaderMap) -> Result<Option<String>, ServiceError> {
    if !config.refresh_delivery.in_cookie() {
        return Ok(None);
    }
    let Some(token) = refresh_cookie(headers)? else {
        return Ok(None);
    };
    check_origin(headers, &config.cors)?;
    Ok(Some(token))
}

/// The token from the body's `names` (the first present and non-empty), else the cookie's,
/// else 400.
fn presented<'a>(
    fields: &'a Fields,
    names: &[&str],
    cookie: Option<&'a str>,
) -> Result<&'a str, ServiceError> {
    for name in names {
        if let Some(token) = fields.get(name)?.filter(|t| !t.is_empty()) {
            return Ok(token);
        }
    }
    cookie.ok_or(ServiceError::InvalidRequest("refresh_token is required"))
}

/// In cookie delivery, an answer that ends the browser's hold on its refresh token also clears
/// the cookie: a logout, and a refresh refused with `invalid_grant`.
fn clearing_cookie(config: &Config, prefix: &PublicPrefix, mut response: Response) -> Response {
    if config.refresh_delivery.in_cookie() {
        let path = cookie_path(config.refresh_cookie_path.as_deref(), prefix);
        if let Ok(cookie) = clear_cookie(&path) {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
    }
    response
}

/// `POST /auth/login`: JSON `{"username", "password"}` or form
/// `grant_type=password&username=..&password=..` -> 200 token response (docs/API.md).
/// `grant_type=refresh_token` is a refresh, answered as `POST /auth/refresh` answers it: the
/// discovery document names this route the `token_endpoint`, where an OAuth client sends
/// its refreshes (RFC 6749 §6).
async fn login<S: Store + 'static>(
    State(service): State<Arc<Service<S>>>,
    id: RequestId,
    client: ClientMeta,
    prefix: PublicPrefix,
    headers: HeaderMap,
    fields: Result<Fields, ServiceError>,
) -> Response {
    if let Ok(given) = &fields
        && matches!(given.get("grant_type"), Ok(Some("refresh_token")))
    {
        return refresh(State(service), id, prefix, headers, fields).await;
    }
    respond(&id, "login", async {
        let fields = fields?;
        fields.check_grant_type("password")?;
        let username = Username::parse(fields.required("username", "username is required")?)?;
        let password = Password::parse(fields.required("password", "password is required")?)?;
        let tokens = service
            .login(&username, &password, client, service.now())
            .await?;
        token_answer(service.config(), &tokens, &prefix)
    })
    .await
}

/// `POST /auth/refresh`: JSON `{"refresh_token"}` or form
/// `grant_type=refresh_token&refresh_token=..`, or in cookie delivery the cookie -> 200 with
/// a new pair (docs/API.md).
async fn refresh<S: Store + 'static>(
    State(service): State<Arc<Service<S>>>,
    id: RequestId,
    prefix: PublicPrefix,
    headers: HeaderMap,
    fields: Result<Fields, ServiceError>,
) -> Response {
    let config = service.config();
    let mut refused = false;
    let response = respond(&id, "refresh", async {
        let cookie = cookie_token(config, &headers)?;
        let fields = fields?;
        fields.check_grant_type("refresh_token")?;
        let token = presented(&fields, &["refresh_token"], cookie.as_deref())?;
        if token.len() > MAX_TOKEN_BYTES {
            refused = true;
            return Err(ServiceError::InvalidGrant);
        }
        let token = PresentedToken::new(token);
        let tokens = service.refresh(&token, service.now()).await;
        refused = matches!(tokens, Err(ServiceError::InvalidGrant));
        token_answer(config, &tokens?, &prefix)
    })
    .await;
    if refused {
        clearing_cookie(config, &prefix, response)
    } else {
        response
    }
}

/// `POST /auth/logout`: JSON `{"refresh_token"}` or the form field (`refresh_token`, or
/// RFC 7009's `token`), or in cookie delivery the cookie -> 204, whatever the token's state,
/// and the cookie cleared (docs/API.md).
async fn logout<S: Store + 'static>(
    State(service): State<Arc<Service<S>>>,
    id: RequestId,
    prefix: PublicPrefix,
    headers: HeaderMap,
    fields: Result<Fields, ServiceError>,
) -> Response {
    let config = service.config();
    respond(&id, "logout", async {
        let cookie = cookie_token(config, &headers)?;
        let fields = fields?;
        let token = presented(&fields, &["refresh_token", "token"], cookie.as_deref())?;
        // An oversized token cannot be one of ours: nothing to revoke, and nothing to reveal.
        if token.len() <= MAX_TOKEN_BYTES {
            service
                .logout(&PresentedToken::new(token), service.now())
                .await?;
        }
        Ok(clearing_cookie(config, &prefix, no_content()))
    })
    .await
}

/// What the session routes need: a store and a clock, never a key.
pub trait SessionsState: Send + Sync + 'static {
    /// The store.
    type Store: Store;
    /// The store.
    fn store(&self) -> &Self::Store;
    /// Now, in unix seconds.
    fn now(&self) -> i64;
}

impl<S: Store + 'static> SessionsState for Service<S> {
    type Store = S;
    fn store(&self) -> &S {
        Service::store(self)
    }
    fn now(&self) -> i64 {
        Service::now(self)
    }
}

/// The sessions function's state: the store and a clock, and no key, so that function never
/// reads the signing secret.
pub struct Sessions<S> {
    store: S,
    clock: tessera_config::Clock,
}

impl<S> Sessions<S> {
    /// Over `store`, on the system clock.
    pub fn new(store: S) -> Self {
        Self {
            store,
            clock: tessera_config::system_clock(),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: tessera_config::Clock) -> Self {
        self.clock = clock;
        self
    }
}

impl<S: Store + 'static> SessionsState for Sessions<S> {
    type Store = S;
    fn store(&self) -> &S {
        &self.store
    }
    fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// `GET /auth/sessions`: the caller's live sessions (docs/API.md).
async fn list_sessions<T: SessionsState>(
    State(state): State<Arc<T>>,
    id: RequestId,
    caller: Result<Caller, ServiceError>,
) -> Response {
    respond(&id, "sessions", async {
        let caller = caller?;
        let now = state.now();
        let sessions =
            crate::sessions::list(state.store(), &caller.sub, caller.sid.as_deref(), now).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "sessions": sessions }),
        ))
    })
    .await
}

/// `DELETE /auth/sessions/{sid}`: revokes one of the caller's sessions; 404 for another's.
async fn revoke_session<T: SessionsState>(
    State(state): State<Arc<T>>,
    id: RequestId,
    caller: Result<Caller, ServiceError>,
    Path(sid): Path<String>,
) -> Response {
    respond(&id, "sessions", async {
        let caller = caller?;
        crate::sessions::revoke(state.store(), &caller.sub, &sid, state.now()).await?;
        Ok(no_content())
    })
    .await
}

/// `DELETE /auth/sessions`: log out everywhere.
async fn revoke_all<T: SessionsState>(
    State(state): State<Arc<T>>,
    id: RequestId,
    caller: Result<Caller, ServiceError>,
) -> Response {
    respond(&id, "sessions", async {
        let caller = caller?;
        crate::sessions::revoke_all(
            state.store(),
            &caller.sub,
            caller.sid.as_deref(),
            state.now(),
        )
        .await?;
        Ok(no_content())
    })
    .await
}

/// A public, cacheable JSON document.
fn public_json(body: &serde_json::Value) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body.to_string()));
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
async fn jwks<S: Send + Sync + 'static>(
    State(service): State<Arc<Service<S>>>,
    id: RequestId,
) -> Response {
    respond(&id, "jwks", async {
        serde_json::to_value(service.published_keys().await.jwks())
            .map(|v| public_json(&v))
            .map_err(|e| ServiceError::Internal(format!("jwks serialisation: {e}")))
    })
    .await
}

/// The discovery document (RFC 8414 / OpenID Connect Discovery): enough for an HTTP API JWT
/// authorizer or any library to find the keys and endpoints. `alg` is the key set's own
/// algorithm, so the document cannot disagree with the JWKS.
pub fn discovery_document(
    config: &crate::Config,
    alg: tessera_token::Algorithm,
) -> serde_json::Value {
    let issuer = &config.verify.issuer;
    let base = config.verify.issuer_base();
    let alg = alg.as_str();
    json!({
        "issuer": issuer,
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
async fn openid_configuration<S: Send + Sync + 'static>(
    State(service): State<Arc<Service<S>>>,
) -> Response {
    public_json(&discovery_document(
        service.config(),
        service.published_keys().await.algorithm(),
    ))
}

fn login_routes<S: Store + 'static>(service: Arc<Service<S>>) -> Router {
    Router::new()
        .route("/auth/login", not_allowed(post(login::<S>), "POST"))
        .with_state(service)
}

fn refresh_routes<S: Store + 'static>(service: Arc<Service<S>>) -> Router {
    Router::new()
        .route("/auth/refresh", not_allowed(post(refresh::<S>), "POST"))
        .with_state(service)
}

fn logout_routes<S: Store + 'static>(service: Arc<Service<S>>) -> Router {
    Router::new()
        .route("/auth/logout", not_allowed(post(logout::<S>), "POST"))
        .with_state(service)
}

fn sessions_routes<T: SessionsState>(state: Arc<T>) -> Router {
    Router::new()
        .route(
            "/auth/sessions",
            not_allowed(
                get(list_sessions::<T>).delete(revoke_all::<T>),
                "GET, DELETE",
            ),
        )
        .route(
            "/auth/sessions/{sid}",
            not_allowed(delete(revoke_session::<T>), "DELETE"),
        )
        .with_state(state)
}

fn well_known_routes<S: Send + Sync + 'static>(service: Arc<Service<S>>) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", not_allowed(get(jwks::<S>), "GET"))
        .route(
            "/.well-known/openid-configuration",
            not_allowed(get(openid_configuration::<S>), "GET"),
        )
        .with_state(service)
}

/// The login function's router: `POST /auth/login`.
pub fn login_router<S: Store + 'static>(service: Arc<Service<S>>) -> Router {
    finish(login_routes(service))
}

/// The refresh function's router: `POST /auth/refresh`.
pub fn refresh_router<S: Store + 'static>(service: Arc<Service<S>>) -> Router {
    finish(refresh_routes(service))
}

/// The logout function's router: `POST /auth/logout`.
pub fn logout_router<S: Store + 'static>(service: Arc<Service<S>>) -> Router {
    finish(logout_routes(service))
}

/// The sessions function's router: `GET` and `DELETE /auth/sessions`, `DELETE
/// /auth/sessions/{sid}`; over a [`Sessions`] state it needs no key.
pub fn sessions_router<T: SessionsState>(state: Arc<T>) -> Router {
    finish(sessions_routes(state))
}

/// The jwks function's router: the JWKS and the discovery document.
pub fn well_known_router<S: Send + Sync + 'static>(service: Arc<Service<S>>) -> Router {
    finish(well_known_routes(service))
}

/// Every route of [`crate::ROUTES`] over one service, for `tessera serve`.
pub fn router<S: Store + 'static>(service: Arc<Service<S>>) -> Router {
    finish(
        login_routes(Arc::clone(&service))
            .merge(refresh_routes(Arc::clone(&service)))
            .merge(logout_routes(Arc::clone(&service)))
            .merge(sessions_routes(Arc::clone(&service)))
            .merge(well_known_routes(service))
            .merge(me_routes()),
    )
}

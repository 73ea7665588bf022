//! Tessera's use cases (login, refresh with rotation and reuse detection, logout, session
//! management), their HTTP surface as axum routers on plain `http` types, the route table, and
//! the configuration they read.
//!
//! - [`Config`] is read once at start-up ([`Config::from_env`]); a bad value fails naming the
//!   variable.
//! - [`Service`] holds the configuration, the keys ([`ServiceKeys`]: a fixed key set, or a key
//!   ring that reloads after a rotation), the verifiers (built once per key set) and a store;
//!   its methods are the use cases, with time passed in as unix seconds.
//! - [`handlers`] has one router per function ([`login_router`], [`refresh_router`],
//!   [`logout_router`], [`sessions_router`], [`well_known_router`], [`me_router`]) and
//!   [`router`], all of them, for `tessera serve`. The edge in front (the Lambda adapter, or
//!   serve's gateway layer) puts the [`Caller`], the [`RequestId`] and the [`ClientIp`] into
//!   the request's extensions.
//! - [`ROUTES`] and [`Function::ALL`] are the one route table.
//! - [`ServiceError`] is the one error type and [`error_response`] its one HTTP mapping
//!   (OAuth 2.0 error bodies, `Cache-Control: no-store`); [`gateway`] holds the answers API
//!   Gateway gives by itself.
//!
//! Features: `store` (default) brings the use cases and everything that needs the store and
//! the keys. Without it only the edge remains (the context, the errors, the route table, the
//! me router), which is all the me function links.
//!
//! Limits: no I/O of its own besides the store it is given; it never logs or answers a
//! password, token, hash or key. Protected routes trust the [`Caller`] the edge attached and
//! fail closed without one; they do not verify access tokens themselves.

mod config;
mod context;
mod cookie;
pub mod cors;
mod error;
pub mod gateway;
pub mod handlers;
#[cfg(feature = "store")]
mod observe;
#[cfg(feature = "store")]
mod password;
mod request;
mod routes;
#[cfg(feature = "store")]
mod service;
#[cfg(feature = "store")]
pub mod sessions;
#[cfg(feature = "store")]
mod username;

pub use config::{
    Config, GRACE_ZERO_CONFIRMATION, MAX_ACCESS_TTL_SECS, MAX_LEEWAY_SECS, MAX_REUSE_GRACE_SECS,
    MAX_TTL_SECS,
};
pub use context::{Caller, ClientIp, ClientMeta, RequestId};
pub use cookie::{CSRF_HEADER, PublicPrefix, REFRESH_COOKIE, RefreshDelivery};
pub use cors::Cors;
pub use error::{ServiceError, error_response};
pub use handlers::me_router;
#[cfg(feature = "store")]
pub use handlers::{
    Sessions, SessionsState, login_router, logout_router, refresh_router, router, sessions_router,
    well_known_router,
};
#[cfg(feature = "store")]
pub use password::{
    ARGON2_M_COST_KIB, ARGON2_P_COST, ARGON2_T_COST, HashLimiter, MAX_PASSWORD_BYTES, Password,
    PasswordCheck, Reservation, hash_password, hash_password_blocking, verify_password,
};
pub use request::{Fields, MAX_BODY_BYTES, RepeatedHeader, single_header};
pub use routes::{Function, ROUTES, Route};
#[cfg(feature = "store")]
pub use service::{
    MAX_USER_AGENT_BYTES, PresentedToken, Service, ServiceKeys, TokenResponse, jti_hash,
};
#[cfg(feature = "store")]
pub use sessions::SessionView;
pub use tessera_config::{Clock, ConfigError, system_now};
#[cfg(feature = "store")]
pub use username::{MAX_USERNAME_CHARS, Username};

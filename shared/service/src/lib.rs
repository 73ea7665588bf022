//! Tessera's use cases (login, refresh with rotation and reuse detection, logout, session
//! management), their HTTP handlers over `lambda_http`, and the configuration they read.
//!
//! - [`Config`] is read once at start-up ([`Config::from_env`]); a bad value fails naming the
//!   variable.
//! - [`Service`] holds the configuration, the keys ([`ServiceKeys`]: a fixed key set, or a key
//!   ring that reloads after a rotation), the verifiers (built once per key set) and a store;
//!   its methods are the use cases, with time passed in as unix seconds.
//! - [`handlers`] turn a `lambda_http::Request` into a `Response<Body>`, one function per
//!   endpoint of API.md, and [`Service::handle`] routes all of them for `tessera serve`.
//! - [`ServiceError`] is the one error type and [`error_response`] its one HTTP mapping
//!   (OAuth 2.0 error bodies, `Cache-Control: no-store`).
//!
//! Limits: no I/O of its own besides the store it is given; it never logs or answers a
//! password, token, hash or key. Protected routes trust the authorizer context API Gateway
//! (or `tessera serve`) attached to the request and fail closed without one; they do not
//! verify access tokens themselves.

mod config;
mod cors;
mod dangerous;
mod error;
pub mod handlers;
mod password;
mod request;
mod service;
pub mod sessions;
mod username;

pub use config::{
    Config, ConfigError, GRACE_ZERO_CONFIRMATION, MAX_ACCESS_TTL_SECS, MAX_LEEWAY_SECS,
    MAX_REUSE_GRACE_SECS, MAX_TTL_SECS,
};
pub use cors::Cors;
pub use error::{ServiceError, error_response};
pub use password::{
    ARGON2_M_COST_KIB, ARGON2_P_COST, ARGON2_T_COST, HashLimiter, MAX_PASSWORD_BYTES, Password,
    PasswordCheck, Reservation, hash_password, hash_password_blocking, verify_password,
};
pub use request::{Caller, MAX_BODY_BYTES};
pub use service::{
    ClientMeta, Clock, MAX_USER_AGENT_BYTES, PresentedToken, Service, ServiceKeys, SessionView,
    TokenResponse, jti_hash, system_now,
};
pub use username::{MAX_USERNAME_CHARS, Username};

//! Tessera's Rust client: logs in with a username and password, keeps the token pair, and
//! sends requests with `Authorization: Bearer`, so that an expiring access token never
//! interrupts the user.
//!
//! - The access token is refreshed shortly before it expires (the refresh margin), and again
//!   when the API answers 401; the request is then sent once more.
//! - Refreshes are single-flight: any number of concurrent requests that need one cause one
//!   call to `/auth/refresh`, and the rest use its result. The service rotates refresh tokens
//!   and revokes a session whose spent token is presented again, so two parallel refreshes
//!   would sign the client out; this crate never makes them.
//! - A refused refresh token surfaces as [`Error::SignedOut`]; a 503 from the token service
//!   is retried with backoff, honouring `Retry-After`, a bounded number of times.
//! - Token pairs live in a [`TokenStorage`]: [`MemoryStorage`] by default, or your own for a
//!   file or a keychain.
//! - Passwords and tokens are [`Password`], [`AccessToken`], [`RefreshToken`]: redacted under
//!   `Debug`, never logged, never in an error.
//!
//! Limits: built on `reqwest` (no tower layer yet; other HTTP stacks can use
//! [`Client::access_token`] and [`Client::refresh_rejected`], which keep the guarantees
//! above). Without the `rustls` feature (or a
//! TLS feature enabled on your own `reqwest` dependency) it speaks plain HTTP only. Refreshes
//! are single-flight within one process: two processes sharing one stored token pair would
//! each refresh it, and the second would be treated as reuse.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_client::Error> {
//! use tessera_client::{Client, Password};
//!
//! let client = Client::builder("https://auth.example.com").build()?;
//! client.login("alice", &Password::new("correct horse battery staple")).await?;
//! let me = client.get("https://api.example.com/me").await?;
//! println!("{}", me.status());
//! # Ok(()) }
//! ```

mod client;
mod error;
mod secret;
mod storage;
mod wire;

pub use client::{Client, ClientBuilder, DEFAULT_REFRESH_MARGIN, IntoRequest, RetryPolicy};
pub use error::{Error, Result};
pub use secret::{AccessToken, Password, RefreshToken};
pub use storage::{MemoryStorage, StorageError, StoredTokens, TokenStorage};

/// The `reqwest` this crate is built on, for building requests and clients of the same version.
pub use reqwest;

/// Compiles the README's example as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

//! Tessera's users and refresh sessions: the storage ports the service depends on, and two
//! adapters that implement them with the same semantics.
//!
//! - [`UserStore`] and [`SessionStore`] are the narrow ports; [`Store`] is both. Their methods
//!   return `Send` futures (async fn in traits, Rust 2024), so a service can be generic over
//!   `S: Store` and run its handlers on a multi-threaded runtime.
//! - `DynamoStore` (feature `dynamodb`) keeps everything in one DynamoDB table (key `pk`,
//!   sparse GSI `by_user`, TTL attribute `ttl`). A refresh rotation is one conditional
//!   `UpdateItem`.
//! - `SqliteStore` (feature `sqlite`) keeps everything in one SQLite file for `tessera serve`
//!   and single-machine use; a rotation is one `IMMEDIATE` transaction.
//!
//! Features: none by default. Without a feature the crate is the ports, the records and the
//! error type only, with no AWS SDK, no SQLite and no async runtime, so code generic over
//! [`Store`] links no adapter it does not run on.
//!
//! Revocation of all a user's sessions is a watermark on the user's record: one write however
//! many sessions there are. Each session records the watermark it was created under, its
//! creation is conditional on that watermark still being current (a DynamoDB transaction, or
//! the same SQLite transaction), and every rotation checks the owner's current watermark with
//! a strongly consistent read, so no index's eventual consistency decides a revocation.
//!
//! Login attempts are counted per normalised username, user or not, and charged before the
//! password check in one conditional write ([`UserStore::charge_login_attempt`]).
//!
//! Limits: the store deals in opaque strings. It never sees a token or a password, only the
//! hashes the service computed, and it never reads the clock: every time is passed in as unix
//! seconds, so the caller (and the tests) decide what "now" is. TTL deletion is lazy, so every
//! answer that depends on expiry checks the times itself.

#[cfg(feature = "dynamodb")]
mod dynamo;
mod error;
mod model;
#[cfg(any(feature = "dynamodb", feature = "sqlite"))]
mod rotation;
#[cfg(feature = "sqlite")]
mod sqlite;
mod traits;

#[cfg(feature = "dynamodb")]
pub use dynamo::{BY_USER_INDEX, DynamoStore, RequestCounter, aws_sdk_config};
pub use error::StoreError;
pub use model::{
    AttemptTicket, LockoutPolicy, LoginAttempt, LoginAttempts, MAX_LOCKOUT_STEPS, NewSession,
    RotateOutcome, Rotation, Session, SessionCreated, User, UserStatus,
};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use traits::{SessionStore, Store, UserStore};

/// Amazon Root CA 1 to 4 and Starfield Services Root CA G2 (their cross-signer), PEM: the
/// roots every AWS endpoint's certificate chains to, and the only ones
/// [`aws_sdk_config`]'s client trusts. Without a feature, so that any DynamoDB client
/// (the benchmarks' hand-signed one too) trusts the same five.
pub const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("amazon-roots.pem");

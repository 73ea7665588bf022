//! Tessera's users and refresh sessions: the storage ports the service depends on, and two
//! adapters that implement them with the same semantics.
//!
//! - [`UserStore`] and [`SessionStore`] are the narrow ports; [`Store`] is both. Their methods
//!   return `Send` futures (async fn in traits, Rust 2024), so a service can be generic over
//!   `S: Store` and run its handlers on a multi-threaded runtime.
//! - [`DynamoStore`] keeps everything in one DynamoDB table (key `pk`, sparse GSI `by_user`,
//!   TTL attribute `ttl`). A refresh rotation is one conditional `UpdateItem`.
//! - [`SqliteStore`] keeps everything in one SQLite file for `tessera serve` and single-machine
//!   use; a rotation is one `IMMEDIATE` transaction.
//!
//! Limits: the store deals in opaque strings. It never sees a token or a password, only the
//! hashes the service computed, and it never reads the clock: every time is passed in as unix
//! seconds, so the caller (and the tests) decide what "now" is. TTL deletion is lazy, so every
//! answer that depends on expiry checks the times itself. Revoking all of a user's sessions in
//! DynamoDB reads a GSI, which is eventually consistent: a session created in the same instant
//! may be missed.

mod dynamo;
mod error;
mod model;
mod rotation;
mod sqlite;
mod traits;

pub use dynamo::{BY_USER_INDEX, DynamoStore, RequestCounter};
pub use error::StoreError;
pub use model::{LockoutPolicy, RotateOutcome, Rotation, Session, User, UserStatus};
pub use sqlite::SqliteStore;
pub use traits::{SessionStore, Store, UserStore};

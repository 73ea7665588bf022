//! The storage ports. A handler takes the narrowest one it needs.

use std::future::Future;

use crate::{LockoutPolicy, RotateOutcome, Rotation, Session, StoreError, User, UserStatus};

/// Users and their login counters.
pub trait UserStore: Send + Sync {
    /// Creates a user; [`StoreError::AlreadyExists`] when the username is taken.
    fn create_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this (normalised) username, in one request.
    fn get_user_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// All users, ordered by username.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// Counts one failed login and, from the policy's threshold on, locks the account until
    /// `now + delay`. Returns the user as it is now; [`StoreError::NotFound`] for an unknown
    /// username.
    fn record_login_failure(
        &self,
        username: &str,
        now: i64,
        lock: &LockoutPolicy,
    ) -> impl Future<Output = Result<User, StoreError>> + Send;

    /// Resets the failure counter and the lock after a successful login.
    fn record_login_success(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the password hash, clears the failure counter and the lock, and revokes all
    /// the user's sessions.
    fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the status; [`UserStatus::Disabled`] also revokes all the user's sessions.
    fn set_status(
        &self,
        username: &str,
        status: UserStatus,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Refresh sessions.
pub trait SessionStore: Send + Sync {
    /// Stores a new session, in one request; [`StoreError::AlreadyExists`] for a taken sid.
    fn create_session(
        &self,
        session: &Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The session record, live or not (check [`Session::is_live`]).
    fn get_session(
        &self,
        sid: &str,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Trades the presented token for its successor if, and only if, it is the session's
    /// current token and the session is live; one request on that path. Any other token of
    /// the session revokes it (reuse detection), except the immediate predecessor within the
    /// grace window.
    fn rotate(
        &self,
        rotation: &Rotation,
    ) -> impl Future<Output = Result<RotateOutcome, StoreError>> + Send;

    /// Revokes one session. Idempotent: true if this call revoked it, false if it was revoked
    /// already or does not exist.
    fn revoke_session(
        &self,
        sid: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes all the user's live sessions; returns how many this call revoked.
    fn revoke_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The user's live sessions, newest first.
    fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;
}

/// Everything the service needs: users and sessions.
pub trait Store: UserStore + SessionStore {}

impl<T: UserStore + SessionStore> Store for T {}

//! The storage ports. A handler takes the narrowest one it needs.

use std::future::Future;

use crate::{
    AttemptTicket, LockoutPolicy, LoginAttempt, LoginAttempts, NewSession, RotateOutcome, Rotation,
    Session, SessionCreated, StoreError, User, UserStatus,
};

/// Users, their revocation watermarks, and the failed-login counters of usernames.
pub trait UserStore: Send + Sync {
    /// Creates a user; [`StoreError::AlreadyExists`] when the username is taken.
    fn create_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this (normalised) username, in one strongly consistent read.
    fn get_user_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// All users, ordered by username.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// Charges one login attempt to `username` (a user or not) before its password is
    /// checked, in one atomic write: refused without counting while the counter locks the
    /// username, else counted, and the attempt that reaches the threshold locks it at once.
    fn charge_login_attempt(
        &self,
        username: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> impl Future<Output = Result<LoginAttempt, StoreError>> + Send;

    /// Completes a charged attempt whose password did not match (or whose user is unknown or
    /// disabled). Costs a request only where the charge could not reset a forgotten counter
    /// by itself.
    fn settle_failed_login(
        &self,
        ticket: &AttemptTicket,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The failed-login counter of `username` as stored, if any (for operators and tests).
    fn get_login_attempts(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<LoginAttempts>, StoreError>> + Send;

    /// Replaces the password hash, resets the username's failed-login counter, and revokes
    /// all the user's sessions (moves the watermark), in one write.
    fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the status; [`UserStatus::Disabled`] also revokes all the user's sessions (moves
    /// the watermark) in the same write.
    fn set_status(
        &self,
        username: &str,
        status: UserStatus,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes all the user's sessions by moving the watermark: one write, however many
    /// sessions there are. [`StoreError::NotFound`] for an unknown username.
    fn revoke_all_sessions(
        &self,
        username: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Refresh sessions.
pub trait SessionStore: Send + Sync {
    /// Creates a session at login, atomically with its conditions: the user is still as the
    /// login read it (same watermark, password hash and status), the sid is new, and the
    /// user's live sessions stay within the cap (the oldest are revoked in the same write).
    /// Resets the username's failed-login counter in the same write.
    fn create_session(
        &self,
        new: &NewSession<'_>,
    ) -> impl Future<Output = Result<SessionCreated, StoreError>> + Send;

    /// The session record as stored, live or not (check [`Session::is_live`] and
    /// [`Session::is_accepted_by`]).
    fn get_session(
        &self,
        sid: &str,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// The session `sid` and the user `username` as stored now, both strongly consistent, in
    /// one round trip where the store can (DynamoDB: one `BatchGetItem`): the authorizer's
    /// revocation check, once it knows the session's owner.
    fn get_session_and_user(
        &self,
        sid: &str,
        username: &str,
    ) -> impl Future<Output = Result<(Option<Session>, Option<User>), StoreError>> + Send;

    /// Trades the presented token for its successor if, and only if, it is the session's
    /// current token, the session is live and its owner still accepts it (the watermark has
    /// not moved past it, the user is active). Any other token of the session revokes it
    /// (reuse detection), except the immediate predecessor within the grace window. A session
    /// its owner no longer accepts is revoked and answered [`RotateOutcome::Revoked`].
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

    /// The user's live sessions that the user still accepts, newest first.
    fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;
}

/// Everything the service needs: users and sessions. Owned by what serves requests, so
/// `'static` (a router holds it for the life of the process).
pub trait Store: UserStore + SessionStore + 'static {}

impl<T: UserStore + SessionStore + 'static> Store for T {}

//! The caller's own sessions: list, revoke one, revoke all. These need only the store and
//! the time, never a key, so the sessions function runs without reading the signing secret
//! (least privilege: template.yaml grants it no secret access).

use std::time::Instant;

use tessera_metrics::{Outcome, UseCase};
use tessera_store::{SessionStore, Store, StoreError};

use crate::ServiceError;
use crate::observe::observe;

/// One of a user's live sessions, as the sessions endpoint shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SessionView {
    /// Session id.
    pub sid: String,
    /// Unix seconds of the login.
    pub created_at: i64,
    /// Unix seconds of the last login or refresh.
    pub last_used_at: i64,
    /// Unix seconds of the absolute expiry.
    pub expires_at: i64,
    /// The user agent at login.
    pub user_agent: Option<String>,
    /// The client IP at login.
    pub source_ip: Option<String>,
    /// Whether this is the session of the access token making the request.
    pub current: bool,
}

/// `user_id`'s live sessions, newest first, with `current` set on `current_sid`.
pub async fn list<S: SessionStore>(
    store: &S,
    user_id: &str,
    current_sid: Option<&str>,
    now: i64,
) -> Result<Vec<SessionView>, ServiceError> {
    let sessions = store.list_user_sessions(user_id, now).await?;
    Ok(sessions
        .into_iter()
        // The store already filters (the record and the owner's watermark); checking again
        // costs nothing and keeps another user's session out of the answer even if an index
        // were stale.
        .filter(|s| s.user_id == user_id && s.is_live(now))
        .map(|s| SessionView {
            current: current_sid == Some(s.sid.as_str()),
            sid: s.sid,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            source_ip: s.source_ip,
        })
        .collect())
}

/// Revokes one of `user_id`'s sessions. [`ServiceError::NotFound`] when the session does
/// not exist or belongs to someone else (which is then left untouched). Revoking an
/// already revoked or expired session of one's own succeeds.
pub async fn revoke<S: SessionStore>(
    store: &S,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let started = Instant::now();
    let mut outcome = Outcome::Nothing;
    let result = revoke_one(store, user_id, sid, now, &mut outcome).await;
    observe(UseCase::Revocation, outcome, &result, started);
    result
}

async fn revoke_one<S: SessionStore>(
    store: &S,
    user_id: &str,
    sid: &str,
    now: i64,
    outcome: &mut Outcome,
) -> Result<(), ServiceError> {
    match store.get_session(sid).await? {
        Some(session) if session.user_id == user_id => {
            if store.revoke_session(sid, now).await? {
                *outcome = Outcome::Session;
            }
            tracing::info!(%sid, "session revoked by its owner");
            Ok(())
        }
        _ => Err(ServiceError::NotFound),
    }
}

/// Revokes all of `user_id`'s sessions (log out everywhere) by moving the owner's revocation
/// watermark: one write however many sessions there are, and a login racing it cannot leave
/// a session behind. The watermark lives on the user's record, keyed by username; the
/// caller's own session (one strongly consistent read) names it, else any live session of
/// the user does. A user with no session left has nothing to revoke.
pub async fn revoke_all<S: Store>(
    store: &S,
    user_id: &str,
    current_sid: Option<&str>,
    now: i64,
) -> Result<(), ServiceError> {
    let started = Instant::now();
    let mut outcome = Outcome::Nothing;
    let result = revoke_everywhere(store, user_id, current_sid, now, &mut outcome).await;
    observe(UseCase::Revocation, outcome, &result, started);
    result
}

async fn revoke_everywhere<S: Store>(
    store: &S,
    user_id: &str,
    current_sid: Option<&str>,
    now: i64,
    outcome: &mut Outcome,
) -> Result<(), ServiceError> {
    let mut username = match current_sid {
        Some(sid) => store
            .get_session(sid)
            .await?
            .filter(|s| s.user_id == user_id)
            .map(|s| s.username),
        None => None,
    };
    if username.is_none() {
        username = store
            .list_user_sessions(user_id, now)
            .await?
            .into_iter()
            .find(|s| s.user_id == user_id)
            .map(|s| s.username);
    }
    let Some(username) = username else {
        tracing::info!("log out everywhere: no session left to revoke");
        return Ok(());
    };
    match store.revoke_all_sessions(&username, now).await {
        Ok(()) => {}
        // The user was deleted meanwhile: none of its sessions can refresh any more.
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    *outcome = Outcome::All;
    tracing::info!("all sessions revoked by their owner");
    Ok(())
}

//! The caller's own sessions: list, revoke one, revoke all. These need only the session
//! store and the time, never a key, so the sessions function runs without reading the
//! signing secret (least privilege: template.yaml grants it no secret access).

use tessera_store::SessionStore;

use crate::{ServiceError, SessionView};

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
        // The store already filters; checking again costs nothing and keeps another user's
        // session out of the answer even if an index were stale.
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
    match store.get_session(sid).await? {
        Some(session) if session.user_id == user_id => {
            store.revoke_session(sid, now).await?;
            tracing::info!(%sid, "session revoked by its owner");
            Ok(())
        }
        _ => Err(ServiceError::NotFound),
    }
}

/// Revokes all of `user_id`'s sessions (log out everywhere); returns how many.
pub async fn revoke_all<S: SessionStore>(
    store: &S,
    user_id: &str,
    now: i64,
) -> Result<u32, ServiceError> {
    let count = store.revoke_user_sessions(user_id, now).await?;
    tracing::info!(count, "all sessions revoked by their owner");
    Ok(count)
}

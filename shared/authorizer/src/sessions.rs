//! The revocation check (`AUTHORIZER_REVOCATION_CHECK=session`): a valid token's session must
//! be live. [`LiveSessions`] answers that question; [`StoreSessions`] answers it from any
//! session store (`tessera serve` its own, the checking Lambda authorizer DynamoDB).
//!
//! Staleness is bounded by this process's micro-cache: a live answer is reused for
//! `AUTHORIZER_REVOCATION_CACHE` seconds. An ended answer is kept for good, because an ended
//! session never comes back: a revocation is final, expiry only moves closer, the watermark
//! only moves forward, and a re-created user has another id.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tessera_store::{Session, Store, StoreError, User};

/// Where the authorizer asks whether a session is live. `Ok(false)` for a session that is
/// unknown, revoked, expired or older than its user's revocation watermark, or whose user is
/// gone or disabled.
pub trait LiveSessions: Send + Sync {
    /// Whether `sid` is live at `now` (unix seconds), from strongly consistent reads.
    fn is_live<'a>(
        &'a self,
        sid: &'a str,
        now: i64,
    ) -> Pin<Box<dyn Future<Output = Result<bool, SessionsUnavailable>> + Send + 'a>>;
}

/// The session store could not answer: no decision (API Gateway answers 500), never an allow.
#[derive(Debug, thiserror::Error)]
#[error("session store unavailable: {0}")]
pub struct SessionsUnavailable(pub String);

/// The most sessions one process remembers, in each of its two maps; past it the map is
/// emptied (a fresh read costs one round trip, never a wrong answer).
const MAX_REMEMBERED: usize = 10_000;

/// A session store as [`LiveSessions`]: the session's own record (revoked, expired, idle),
/// then its owner's watermark, status and existence, as a refresh checks them.
///
/// The first question about a session reads the session, then its owner (the token names
/// the session, not the username the user item is keyed by). The owner of a session never
/// changes, so it is remembered, and every later question is one
/// [`SessionStore::get_session_and_user`](tessera_store::SessionStore::get_session_and_user):
/// one round trip on DynamoDB.
pub struct StoreSessions<S> {
    store: S,
    /// sid -> its owner's username.
    owners: Mutex<HashMap<String, String>>,
}

impl<S: Store> StoreSessions<S> {
    /// Asks `store`.
    pub fn new(store: S) -> Self {
        Self {
            store,
            owners: Mutex::new(HashMap::new()),
        }
    }

    async fn read(&self, sid: &str) -> Result<(Option<Session>, Option<User>), StoreError> {
        let known = lock(&self.owners).get(sid).cloned();
        if let Some(username) = known {
            return self.store.get_session_and_user(sid, &username).await;
        }
        let Some(session) = self.store.get_session(sid).await? else {
            return Ok((None, None));
        };
        remember(&self.owners, sid, session.username.clone());
        let owner = self.store.get_user_by_username(&session.username).await?;
        Ok((Some(session), owner))
    }
}

impl<S: Store> LiveSessions for StoreSessions<S> {
    fn is_live<'a>(
        &'a self,
        sid: &'a str,
        now: i64,
    ) -> Pin<Box<dyn Future<Output = Result<bool, SessionsUnavailable>> + Send + 'a>> {
        Box::pin(async move {
            let (session, owner) = self
                .read(sid)
                .await
                .map_err(|e| SessionsUnavailable(e.to_string()))?;
            Ok(session.is_some_and(|s| s.is_live(now) && s.is_accepted_by(owner.as_ref())))
        })
    }
}

/// What this process knows of a session.
#[derive(Clone, Copy)]
enum Known {
    /// Live, and this answer may be reused until then (unix seconds).
    LiveUntil(i64),
    /// Ended for good.
    Ended,
}

/// [`LiveSessions`] behind the micro-cache.
pub(crate) struct SessionCheck {
    sessions: Arc<dyn LiveSessions>,
    cache_secs: i64,
    known: Mutex<HashMap<String, Known>>,
}

impl SessionCheck {
    pub(crate) fn new(sessions: Arc<dyn LiveSessions>, cache_secs: u64) -> Self {
        Self {
            sessions,
            cache_secs: i64::try_from(cache_secs).unwrap_or(i64::MAX),
            known: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn is_live(&self, sid: &str, now: i64) -> Result<bool, SessionsUnavailable> {
        match lock(&self.known).get(sid) {
            Some(Known::Ended) => return Ok(false),
            Some(Known::LiveUntil(until)) if *until > now => return Ok(true),
            _ => {}
        }
        let live = self.sessions.is_live(sid, now).await?;
        let known = if live {
            Known::LiveUntil(now.saturating_add(self.cache_secs))
        } else {
            Known::Ended
        };
        if !live || self.cache_secs > 0 {
            remember(&self.known, sid, known);
        }
        Ok(live)
    }
}

fn lock<T>(map: &Mutex<T>) -> MutexGuard<'_, T> {
    match map.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn remember<V>(map: &Mutex<HashMap<String, V>>, sid: &str, value: V) {
    let mut map = lock(map);
    if map.len() >= MAX_REMEMBERED && !map.contains_key(sid) {
        map.clear();
    }
    map.insert(sid.to_owned(), value);
}

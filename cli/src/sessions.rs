//! The revocation check's question, answered from serve's own store: is this session live?

use std::pin::Pin;
use std::sync::Arc;

use tessera_authorizer::keyring::{LiveSessions, SessionsUnavailable};
use tessera_store::Store;

use crate::setup::AnyStore;

/// The store as the authorizer's [`LiveSessions`].
pub fn live_sessions(store: &AnyStore) -> Arc<dyn LiveSessions> {
    match store {
        AnyStore::Sqlite(s) => Arc::new(StoreSessions(s.clone())),
        AnyStore::Dynamo(d) => Arc::new(StoreSessions(d.clone())),
    }
}

struct StoreSessions<S>(S);

impl<S: Store + 'static> LiveSessions for StoreSessions<S> {
    fn is_live<'a>(
        &'a self,
        sid: &'a str,
        now: i64,
    ) -> Pin<Box<dyn Future<Output = Result<bool, SessionsUnavailable>> + Send + 'a>> {
        Box::pin(async move {
            let unavailable = |e: tessera_store::StoreError| SessionsUnavailable(e.to_string());
            let Some(session) = self.0.get_session(sid).await.map_err(unavailable)? else {
                return Ok(false);
            };
            // The session's own record first (revoked, expired, idle), then its owner's
            // watermark, disabled status and existence, as a refresh checks them.
            if !session.is_live(now) {
                return Ok(false);
            }
            let owner = self
                .0
                .get_user_by_username(&session.username)
                .await
                .map_err(unavailable)?;
            Ok(session.is_accepted_by(owner.as_ref()))
        })
    }
}

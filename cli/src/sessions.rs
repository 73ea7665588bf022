//! The revocation check's question, answered from serve's own store: is this session live?

use std::sync::Arc;

use tessera_authorizer::sessions::{LiveSessions, StoreSessions};

use crate::setup::AnyStore;

/// The store as the authorizer's [`LiveSessions`].
pub fn live_sessions(store: &AnyStore) -> Arc<dyn LiveSessions> {
    match store {
        AnyStore::Sqlite(s) => Arc::new(StoreSessions::new(s.clone())),
        AnyStore::Dynamo(d) => Arc::new(StoreSessions::new(d.clone())),
    }
}

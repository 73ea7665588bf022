//! Token storage: the client writes every new pair, clears on sign-out, and a new client
//! picks up a stored session.

use std::sync::Arc;

use tessera_client::{Error, MemoryStorage, Password, StorageError, TokenStorage};

use crate::mock::{self, MockServer};
use crate::{TTL, builder_for};

#[tokio::test]
async fn the_storage_follows_login_refresh_and_sign_out() {
    // Given a client with a storage the test can read,
    let server = MockServer::start(TTL);
    let storage = Arc::new(MemoryStorage::new());
    let client = builder_for(&server)
        .storage(storage.clone())
        .build()
        .unwrap();

    // after login it holds the session's refresh token,
    client
        .login(mock::USERNAME, &Password::new(mock::PASSWORD))
        .await
        .unwrap();
    let stored = storage.load().await.unwrap().unwrap();
    assert_eq!(
        stored.refresh_token.expose_secret(),
        server.current_refresh_token().unwrap()
    );
    assert_eq!(stored.access_lifetime_secs, TTL.as_secs());

    // after a refresh the rotated one,
    server.expire_access_tokens();
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    let rotated = storage.load().await.unwrap().unwrap();
    assert_ne!(
        rotated.refresh_token.expose_secret(),
        stored.refresh_token.expose_secret()
    );
    assert_eq!(
        rotated.refresh_token.expose_secret(),
        server.current_refresh_token().unwrap()
    );

    // and once the server signs the user out, nothing.
    server.revoke_all_sessions();
    server.expire_access_tokens();
    assert!(matches!(
        client.get(server.me_url()).await,
        Err(Error::SignedOut)
    ));
    assert!(storage.load().await.unwrap().is_none());
}

#[tokio::test]
async fn a_new_client_continues_the_stored_session_without_logging_in() {
    // Given a session stored by one client,
    let server = MockServer::start(TTL);
    let storage = Arc::new(MemoryStorage::new());
    let first = builder_for(&server)
        .storage(storage.clone())
        .build()
        .unwrap();
    first
        .login(mock::USERNAME, &Password::new(mock::PASSWORD))
        .await
        .unwrap();
    drop(first);

    // a client started later on the same storage is logged in already.
    let second = builder_for(&server).storage(storage).build().unwrap();
    assert_eq!(second.get(server.me_url()).await.unwrap().status(), 200);
    assert_eq!(server.counters().logins, 1);
    assert_eq!(server.counters().refreshes, 0);
}

/// A storage that reads nothing and fails every write, like a read-only file.
struct ReadOnlyStorage;

impl TokenStorage for ReadOnlyStorage {
    async fn load(&self) -> Result<Option<tessera_client::StoredTokens>, StorageError> {
        Ok(None)
    }

    async fn save(&self, _: &tessera_client::StoredTokens) -> Result<(), StorageError> {
        Err(StorageError::new("read-only file system"))
    }

    async fn clear(&self) -> Result<(), StorageError> {
        Err(StorageError::new("read-only file system"))
    }
}

#[tokio::test]
async fn a_failing_storage_is_reported_by_login_but_never_breaks_the_session() {
    // Given a storage that cannot be written,
    let server = MockServer::start(TTL);
    let client = builder_for(&server)
        .storage(ReadOnlyStorage)
        .build()
        .unwrap();

    // login says so, but the client holds the pair in memory and can use it,
    let error = client
        .login(mock::USERNAME, &Password::new(mock::PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Storage(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "token storage failed: read-only file system"
    );
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);

    // a refresh whose result cannot be stored still serves the request,
    server.expire_access_tokens();
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    assert_eq!(server.counters().refreshes, 1);

    // and logout still revokes the session at the server before reporting the storage.
    let error = client.logout().await.unwrap_err();
    assert!(matches!(error, Error::Storage(_)), "{error:?}");
    assert_eq!(server.live_sessions(), 0);
}

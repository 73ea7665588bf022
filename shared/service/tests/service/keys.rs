//! Key rotation while running: an instance that meets a refresh token signed with a secret
//! version it has not loaded yet re-reads its key source (reload on unknown kid: docs/ARCHITECTURE.md).

use std::sync::Arc;
use std::time::Duration;

use tessera_keys::{KeyFile, KeyRing, KeySource};
use tessera_service::Service;
use tessera_store::SqliteStore;
use tessera_token::{Algorithm, random_id};

use crate::helpers::*;

#[tokio::test]
async fn refresh_with_a_token_from_a_rotated_secret_reloads_the_key_ring() {
    // Given two instances over one store and one key file: "old" loaded it before a rotation,
    let dir = std::env::temp_dir().join(format!("tessera-keys-test-{}", random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir::new(dir.clone());
    let key_file = dir.join("keys.json");
    KeyFile::load_or_create(&key_file, Algorithm::Es256).unwrap();
    let ring = async |interval| {
        KeyRing::load(KeySource::File(key_file.clone()), Algorithm::Es256)
            .await
            .unwrap()
            .with_min_interval(interval)
    };
    let store = || SqliteStore::open(&dir.join("tessera.db")).unwrap();
    let clock = Arc::new(|| T0);
    let old = Service::new(config(), ring(Duration::ZERO).await, store()).with_clock(clock.clone());
    // "pinned" has just spent the one reload its interval allows.
    let pinned_ring = ring(Duration::from_secs(3600)).await;
    assert!(
        pinned_ring
            .reload_for_unknown_kid()
            .await
            .unwrap()
            .is_some()
    );
    let pinned = Service::new(config(), pinned_ring, store()).with_clock(clock.clone());
    let old_kid_count = old.keys().jwks().keys.len();

    // "new" started after the rotation and issues the user's tokens.
    KeyFile::rotate(&key_file, Algorithm::Es256).unwrap();
    let new = Harness::from_service(
        Service::new(config(), ring(Duration::ZERO).await, store()).with_clock(clock.clone()),
    );
    new.add_user("alice", "pw", "").await;
    let t = new.login("alice", "pw").await;

    // When "old" gets the new refresh token, it reloads and serves it;
    let old = Harness::from_service(old);
    let resp = old.refresh(&t.refresh_token).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        old.service.keys().jwks().keys.len(),
        old_kid_count + 1,
        "current and previous"
    );
    assert!(
        old.service
            .access_verifier()
            .verify(&t.access_token, T0)
            .is_ok()
    );

    // while an instance whose ring may not reload yet refuses it, like any unknown key.
    let pinned = Harness::from_service(pinned);
    let next = resp.tokens();
    pinned
        .refresh(&next.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        new.refresh(&next.refresh_token).await.status,
        200,
        "the token itself is fine"
    );
}

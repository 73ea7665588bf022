//! Key files and the key ring: what `tessera serve` and the functions rely on at init and
//! after a rotation.

// Helpers outside #[test] fns may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use tessera_keys::{KeyFile, KeyRing, KeySource, KeysError};
use tessera_token::{AccessClaims, Algorithm, VerifyError, VerifyPolicy};

/// A key file's path in a folder of its own, removed when the guard drops.
fn scratch(name: &str) -> (Scratch, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "tessera-keys-{}-{}",
        std::process::id(),
        tessera_token::random_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    (Scratch(dir), path)
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn claims(now: i64) -> AccessClaims {
    AccessClaims {
        iss: "https://issuer.test".into(),
        sub: "usr_1".into(),
        aud: "api".into(),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: tessera_token::random_id(),
        client_id: "tessera".into(),
        sid: "sid_1".into(),
        scope: "profile".into(),
    }
}

fn policy() -> VerifyPolicy {
    VerifyPolicy::new("https://issuer.test", "api")
}

const NOW: i64 = 1_800_000_000;

#[test]
fn a_new_key_file_is_created_readable_by_its_owner_only() {
    let (_dir, path) = scratch("keys.json");

    KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();

    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn loading_again_gives_the_same_keys() {
    let (_dir, path) = scratch("keys.json");
    let first = KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();
    let token = first
        .key_set(Algorithm::Es256)
        .unwrap()
        .issue_access(&claims(NOW))
        .unwrap();

    let again = KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();

    let verifier = again
        .key_set(Algorithm::Es256)
        .unwrap()
        .access_verifier(policy());
    assert!(verifier.verify(token.expose_secret(), NOW).is_ok());
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let (_dir, path) = scratch("keys.json");
    KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    assert!(matches!(
        KeyFile::load(&path),
        Err(KeysError::Permissions(_))
    ));
}

#[test]
fn a_malformed_key_file_is_refused_without_echoing_it() {
    let (_dir, path) = scratch("keys.json");
    std::fs::write(&path, "not json but secret-ish").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

    let err = KeyFile::load(&path).err().unwrap();

    assert!(matches!(err, KeysError::Malformed(_)));
    assert!(!err.to_string().contains("secret-ish"));
}

#[test]
fn rotation_signs_with_new_material_and_still_verifies_old_tokens() {
    let (_dir, path) = scratch("keys.json");
    let before = KeyFile::load_or_create(&path, Algorithm::EdDsa).unwrap();
    let old_token = before
        .key_set(Algorithm::EdDsa)
        .unwrap()
        .issue_access(&claims(NOW))
        .unwrap();

    let after = KeyFile::rotate(&path, Algorithm::EdDsa).unwrap();
    let keys = after.key_set(Algorithm::EdDsa).unwrap();

    assert_ne!(
        keys.current_kid().as_str(),
        before
            .key_set(Algorithm::EdDsa)
            .unwrap()
            .current_kid()
            .as_str()
    );
    let verifier = keys.access_verifier(policy());
    assert!(verifier.verify(old_token.expose_secret(), NOW).is_ok());
    assert_eq!(keys.jwks().keys.len(), 2);
}

#[test]
fn rotation_keeps_a_bounded_number_of_previous_versions() {
    let (_dir, path) = scratch("keys.json");
    KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();
    for _ in 0..5 {
        KeyFile::rotate(&path, Algorithm::Es256).unwrap();
    }

    let versions = KeyFile::load(&path).unwrap();

    assert_eq!(versions.previous.len(), tessera_keys::KEEP_PREVIOUS);
}

#[tokio::test]
async fn no_key_source_configured_is_a_clear_error() {
    let err = KeySource::from_lookup(|_| None).err().unwrap();
    assert!(matches!(err, KeysError::NoSource));
}

#[tokio::test]
async fn the_ring_picks_up_a_rotation_when_a_token_names_an_unknown_kid() {
    // Given a running function's key ring, and a rotation done by another process
    let (_dir, path) = scratch("keys.json");
    KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();
    let ring = KeyRing::load(KeySource::File(path.clone()), Algorithm::Es256)
        .await
        .unwrap()
        .with_min_interval(Duration::ZERO);
    let rotated = KeyFile::rotate(&path, Algorithm::Es256).unwrap();
    let new_token = rotated
        .key_set(Algorithm::Es256)
        .unwrap()
        .issue_access(&claims(NOW))
        .unwrap();
    let stale = ring.current().access_verifier(policy());
    assert_eq!(
        stale.verify(new_token.expose_secret(), NOW),
        Err(VerifyError::UnknownKid)
    );

    // When the ring reloads for the unknown kid
    let reloaded = ring.reload_for_unknown_kid().await.unwrap().unwrap();

    // Then the new token verifies
    let fresh = reloaded.access_verifier(policy());
    assert!(fresh.verify(new_token.expose_secret(), NOW).is_ok());
    assert!(
        ring.current()
            .access_verifier(policy())
            .verify(new_token.expose_secret(), NOW)
            .is_ok()
    );
}

#[tokio::test]
async fn reloads_for_unknown_kids_are_rate_limited() {
    // Given a ring that has just loaded
    let (_dir, path) = scratch("keys.json");
    KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();
    let ring = KeyRing::load(KeySource::File(path), Algorithm::Es256)
        .await
        .unwrap();

    // The first unknown kid reloads at once (a rotation may have happened right after
    // start), a second one within the interval does not: forged kids cannot flood the source.
    assert!(ring.reload_for_unknown_kid().await.unwrap().is_some());
    assert!(ring.reload_for_unknown_kid().await.unwrap().is_none());
}

#[tokio::test]
async fn the_ring_refreshes_on_its_timer_without_any_token_asking() {
    // Given a signing function's ring whose refresh interval has passed (zero here), and a
    // rotation done by another process
    let (_dir, path) = scratch("keys.json");
    let first = KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();
    let old_kid = first
        .key_set(Algorithm::Es256)
        .unwrap()
        .current_kid()
        .as_str()
        .to_owned();
    let ring = KeyRing::load(KeySource::File(path.clone()), Algorithm::Es256)
        .await
        .unwrap()
        .with_refresh_interval(Duration::ZERO);
    let rotated = KeyFile::rotate(&path, Algorithm::Es256).unwrap();
    let new_kid = rotated
        .key_set(Algorithm::Es256)
        .unwrap()
        .current_kid()
        .as_str()
        .to_owned();
    assert_ne!(old_kid, new_kid);

    // When the function next signs
    let keys = ring.refresh_if_due().await;

    // Then it signs with the rotated key, and the clones of the ring see it too
    assert_eq!(keys.current_kid().as_str(), new_kid);
    assert_eq!(ring.clone().current().current_kid().as_str(), new_kid);
}

#[tokio::test]
async fn a_refresh_that_is_not_due_reads_nothing_and_a_failed_one_keeps_the_keys() {
    // Given a ring with the default (five minute) interval
    let (_dir, path) = scratch("keys.json");
    let first = KeyFile::load_or_create(&path, Algorithm::Es256).unwrap();
    let kid = first
        .key_set(Algorithm::Es256)
        .unwrap()
        .current_kid()
        .as_str()
        .to_owned();
    let ring = KeyRing::load(KeySource::File(path.clone()), Algorithm::Es256)
        .await
        .unwrap();
    KeyFile::rotate(&path, Algorithm::Es256).unwrap();

    // A refresh before the interval keeps the keys in use
    assert_eq!(ring.refresh_if_due().await.current_kid().as_str(), kid);

    // A due refresh whose source has gone keeps the keys in use as well
    let due = KeyRing::load(KeySource::File(path.clone()), Algorithm::Es256)
        .await
        .unwrap()
        .with_refresh_interval(Duration::ZERO);
    let before = due.current().current_kid().as_str().to_owned();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(due.refresh_if_due().await.current_kid().as_str(), before);
}

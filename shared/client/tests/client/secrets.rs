//! Secrets stay secret: redacted under Debug, absent from errors and from every log line.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tessera_client::{AccessToken, Error, Password, RefreshToken, StoredTokens};

use crate::mock::{self, MockServer};
use crate::{TTL, logged_in};

#[test]
fn password_debug_is_redacted() {
    let password = Password::new("hunter2-hunter2");
    assert_eq!(format!("{password:?}"), "[redacted]");
    assert_eq!(password.expose_secret(), "hunter2-hunter2");
}

#[test]
fn access_token_debug_is_redacted() {
    let token = AccessToken::new("eyJhbGciOiJFUzI1NiJ9.secret.sig");
    assert_eq!(format!("{token:?}"), "[redacted]");
}

#[test]
fn refresh_token_debug_is_redacted() {
    let token = RefreshToken::new("eyJhbGciOiJIUzI1NiJ9.secret.sig");
    assert_eq!(format!("{token:?}"), "[redacted]");
}

#[test]
fn stored_tokens_debug_shows_expiry_but_no_token() {
    let stored = StoredTokens {
        access_token: AccessToken::new("access-secret"),
        refresh_token: RefreshToken::new("refresh-secret"),
        access_expires_at: 1_800_000_000,
        access_lifetime_secs: 900,
    };
    let debug = format!("{stored:?}");
    assert!(!debug.contains("access-secret"), "{debug}");
    assert!(!debug.contains("refresh-secret"), "{debug}");
    assert!(debug.contains("1800000000"), "{debug}");
}

#[tokio::test]
async fn client_debug_and_errors_carry_no_token() {
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    let token = client.access_token().await.unwrap();
    assert!(!format!("{client:?}").contains(token.expose_secret()));

    server.revoke_all_sessions();
    server.expire_access_tokens();
    let error = client.get(server.me_url()).await.unwrap_err();
    assert!(matches!(error, Error::SignedOut));
    for secret in server.secrets() {
        assert!(!format!("{error} {error:?}").contains(&secret));
    }
}

/// Collects everything a `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary (the client's and reqwest's, at TRACE), captured by one
/// global subscriber installed once. A thread-local one (`set_default`) is not enough under
/// plain `cargo test`, where tests share a process: a callsite first hit by another test's
/// thread, with no subscriber there, is cached as "never" by tracing's global interest cache,
/// and its lines would be missed here.
fn captured() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

#[tokio::test]
async fn no_token_or_password_is_ever_logged() {
    // Given every log line captured (other tests' too: none of them may log a secret either),
    let captured = captured();

    // when the client logs in, refreshes on a 401, retries a 503, is signed out, logs in
    // again and logs out,
    let server = MockServer::start(TTL);
    let client = logged_in(&server).await;
    server.expire_access_tokens();
    server.fail_next_token_calls(1, Some(0));
    assert_eq!(client.get(server.me_url()).await.unwrap().status(), 200);
    server.revoke_all_sessions();
    server.expire_access_tokens();
    assert!(client.get(server.me_url()).await.is_err());
    client
        .login(mock::USERNAME, &Password::new(mock::PASSWORD))
        .await
        .unwrap();
    client.logout().await.unwrap();

    // the logs tell the story,
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("refreshing the access token"), "{logs}");
    assert!(
        logs.contains("token service unavailable, retrying"),
        "{logs}"
    );
    assert!(logs.contains("signed out"), "{logs}");
    // but never a token the server issued, nor the password.
    let secrets = server.secrets();
    assert!(secrets.len() >= 6);
    for secret in secrets {
        assert!(!logs.contains(&secret), "a secret was logged");
    }
}

#[test]
fn secrets_compare_by_content() {
    assert_eq!(AccessToken::new("abc"), AccessToken::new("abc"));
    assert_ne!(AccessToken::new("abc"), AccessToken::new("abd"));
    assert_ne!(RefreshToken::new("abc"), RefreshToken::new("abcd"));
}

//! No response body and no log line ever contains a password, a token, a token id or hash,
//! or a password hash (docs/API.md: secrets are types, never logged).

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tessera_service::{ClientMeta, Password, Username, jti_hash};
use tessera_store::Store;

use crate::helpers::*;

store_tests!(no_response_body_or_log_line_contains_a_secret);

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, captured by one global subscriber installed once: a
/// thread-local one (`set_default`) misses lines under plain `cargo test`, where a callsite
/// first hit by another test's thread (with no subscriber there) is cached as "never" by
/// tracing's global interest cache.
fn captured() -> &'static Capture {
    static CAPTURED: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let logs = Capture::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            // Everything our crates say, at every level; other crates (the AWS SDK) at info.
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,tessera_service=trace,tessera_store=trace,tessera_token=trace",
            ))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

async fn no_response_body_or_log_line_contains_a_secret<S: Store>(h: Harness<S>) {
    // Every log line captured (other tests' too: none of them may log a secret either).
    let logs = captured();

    let h = h.faulty();
    let password = "Tr0ub4dor&3-very-secret";
    let wrong_password = "wrong-but-still-secret-42";
    let user = h.add_user("alice", password, "read").await;
    let mut bodies: Vec<String> = Vec::new();
    let mut call = async |req| {
        let resp = h.call(req).await;
        bodies.push(resp.text());
        resp
    };

    // Every path through the service: failures, success, rotation, replay, reuse, logout,
    // lockout, an unavailable and a broken store.
    call(post_json(
        "/auth/login",
        json!({"username": "alice", "password": wrong_password}),
    ))
    .await;
    call(post_json(
        "/auth/login",
        json!({"username": "nobody", "password": wrong_password}),
    ))
    .await;
    call(post_form(
        "/auth/login",
        &format!("grant_type=client_credentials&username=alice&password={wrong_password}"),
    ))
    .await;
    let login = call(post_json(
        "/auth/login",
        json!({"username": "alice", "password": password}),
    ))
    .await
    .tokens();
    let first = call(post_json(
        "/auth/refresh",
        json!({"refresh_token": login.refresh_token}),
    ))
    .await
    .tokens();
    let replay = call(post_json(
        "/auth/refresh",
        json!({"refresh_token": login.refresh_token}),
    ))
    .await
    .tokens();
    h.advance(GRACE + 1);
    call(post_json(
        "/auth/refresh",
        json!({"refresh_token": login.refresh_token}),
    ))
    .await;
    call(post_json(
        "/auth/refresh",
        json!({"refresh_token": login.access_token}),
    ))
    .await;
    call(post_json(
        "/auth/logout",
        json!({"refresh_token": first.refresh_token}),
    ))
    .await;
    let claims = h.access_claims(&login.access_token);
    call(protected("GET", "/auth/sessions", &claims)).await;
    call(protected("GET", "/me", &claims)).await;
    for _ in 0..6 {
        call(post_json(
            "/auth/login",
            json!({"username": "alice", "password": wrong_password}),
        ))
        .await;
    }
    h.fault(Fault::Unavailable);
    call(post_json(
        "/auth/refresh",
        json!({"refresh_token": first.refresh_token}),
    ))
    .await;
    h.fault(Fault::Internal);
    call(post_json(
        "/auth/login",
        json!({"username": "alice", "password": password}),
    ))
    .await;
    call(post_json(
        "/auth/logout",
        json!({"refresh_token": first.refresh_token}),
    ))
    .await;
    h.fault(Fault::None);

    // The use case's result type does not show its tokens either.
    let direct = h
        .service
        .login(
            &Username::parse("alice").unwrap(),
            &Password::new(password),
            ClientMeta::default(),
            h.now() + 10_000,
        )
        .await;
    let debug = format!("{direct:?}");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("login failed"), "the capture works: {logs}");
    assert!(
        logs.contains("internal error"),
        "the broken store was logged: {logs}"
    );

    // Never anywhere: passwords, the password hash, token ids and their hashes.
    let mut never: Vec<String> = vec![
        password.to_owned(),
        wrong_password.to_owned(),
        user.password_hash.clone(),
        user.password_hash.rsplit('$').next().unwrap().to_owned(),
    ];
    let verifier = h
        .service
        .keys()
        .refresh_verifier(tessera_token::RefreshPolicy::new(ISSUER));
    for t in [&login, &first, &replay] {
        let jti = verifier.verify(&t.refresh_token, T0).unwrap().jti;
        never.push(jti_hash(&jti));
        never.push(jti);
    }
    // Only in the token answer that issued them: the tokens, or even just their signatures.
    let mut tokens: Vec<String> = Vec::new();
    for t in [&login, &first, &replay] {
        for token in [&t.access_token, &t.refresh_token] {
            tokens.push(token.clone());
            tokens.push(token.rsplit('.').next().unwrap().to_owned());
        }
    }

    for secret in never.iter().chain(&tokens) {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret in the logs:\n{logs}"
        );
        assert!(
            !debug.contains(secret.as_str()),
            "a secret in Debug: {debug}"
        );
    }
    for body in &bodies {
        for secret in &never {
            assert!(
                !body.contains(secret.as_str()),
                "a secret in a response body: {body}"
            );
        }
        if !body.contains("\"access_token\"") {
            for secret in &tokens {
                assert!(
                    !body.contains(secret.as_str()),
                    "a token in a non-token answer: {body}"
                );
            }
        }
    }
}

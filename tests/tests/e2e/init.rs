//! Functions fail closed at init (STYLE rule 2, DESIGN "fail closed"): a missing key source or
//! an invalid setting stops the function before it answers anything, with an error naming
//! the variable.

use tessera_e2e::E2eError;
use tessera_e2e::events::AuthorizerEvent;
use tessera_e2e::process::LambdaProcess;
use tessera_e2e::stack::Stack;

use crate::helpers::{effects, valid_claims};

/// Asserts that a spawn failed at init and returns what the function said.
fn init_failure(name: &str, spawned: Result<LambdaProcess, E2eError>) -> String {
    match spawned {
        Err(E2eError::InitFailed(message)) => message,
        Err(other) => panic!("{name}: expected an init failure, got {other}"),
        Ok(_) => panic!("{name}: started and polled for events despite its configuration"),
    }
}

#[tokio::test]
async fn the_authorizer_without_a_key_source_fails_at_init_and_never_allows() {
    // Given the authorizer with neither KEY_FILE nor KEY_SECRET_ARN
    let stack = Stack::start().await.unwrap();
    let env = stack.env().unset("KEY_FILE").unset("KEY_SECRET_ARN");

    // When Lambda starts it
    let spawned = stack.spawn_with("tessera-authorizer", &env).await;

    // Then it never gets to answer: were it to poll for events, it must allow nothing
    if let Ok(authorizer) = &spawned {
        let token = stack
            .key_set()
            .unwrap()
            .issue_access(&valid_claims("profile"))
            .unwrap();
        for kind in AuthorizerEvent::ALL {
            let event = kind.bearer(token.expose_secret()).unwrap();
            let outcome = authorizer.invoke(&event).await.unwrap().outcome;
            if let Ok(answer) = outcome.json() {
                assert!(!effects(&answer).contains(&"Allow"), "{kind:?}: {answer}");
                assert_ne!(answer["isAuthorized"], true, "{kind:?}: {answer}");
            }
        }
    }
    // And it fails at init, saying what is missing
    let message = init_failure("tessera-authorizer", spawned);
    assert!(
        message.contains("KEY_FILE") || message.contains("key source"),
        "the init error names the missing key source: {message}"
    );
}

#[tokio::test]
async fn a_function_without_a_key_source_fails_at_init_naming_the_variables() {
    // Given the functions that sign or verify, with neither KEY_FILE nor KEY_SECRET_ARN
    let stack = Stack::start().await.unwrap();
    let env = stack.env().unset("KEY_FILE").unset("KEY_SECRET_ARN");

    // When Lambda starts each
    let mut unnamed = Vec::new();
    for name in [
        "tessera-login",
        "tessera-refresh",
        "tessera-logout",
        "tessera-jwks",
    ] {
        let message = init_failure(name, stack.spawn_with(name, &env).await);
        if !message.contains("KEY_FILE") {
            unnamed.push(message);
        }
    }

    // Then each fails at init, saying which variables would give it keys
    assert!(unnamed.is_empty(), "{unnamed:#?}");
}

#[tokio::test]
async fn a_function_with_an_invalid_access_token_ttl_fails_at_init_naming_the_variable() {
    // Given ACCESS_TOKEN_TTL set to something that is not a number of seconds
    let stack = Stack::start().await.unwrap();
    let env = stack.env().set("ACCESS_TOKEN_TTL", "15m");

    // When Lambda starts each function that reads the configuration
    let mut unnamed = Vec::new();
    for name in [
        "tessera-login",
        "tessera-refresh",
        "tessera-logout",
        "tessera-sessions",
        "tessera-jwks",
    ] {
        let message = init_failure(name, stack.spawn_with(name, &env).await);
        if !message.contains("ACCESS_TOKEN_TTL") {
            unnamed.push(message);
        }
    }

    // Then each fails at init, naming the variable
    assert!(unnamed.is_empty(), "{unnamed:#?}");
}

#[tokio::test]
async fn a_function_without_issuer_fails_at_init_naming_the_variable() {
    // Given no ISSUER
    let stack = Stack::start().await.unwrap();
    let env = stack.env().unset("ISSUER");

    // When Lambda starts functions that need it
    let mut unnamed = Vec::new();
    for name in ["tessera-authorizer", "tessera-login", "tessera-jwks"] {
        let message = init_failure(name, stack.spawn_with(name, &env).await);
        if !message.contains("ISSUER") {
            unnamed.push(message);
        }
    }

    // Then each fails at init, naming the variable
    assert!(unnamed.is_empty(), "{unnamed:#?}");
}

#[tokio::test]
async fn the_authorizer_with_invalid_settings_fails_at_init_naming_the_variable() {
    // Given each authorizer setting with a value it cannot accept
    let stack = Stack::start().await.unwrap();
    let mut unnamed = Vec::new();
    for (name, value) in [
        ("TOKEN_LEEWAY", "61"),
        ("TOKEN_LEEWAY", "soon"),
        ("ACCESS_TOKEN_ALG", "none"),
        ("AUTHORIZER_SCOPE_RULES", "GET /me"),
        ("AUTHORIZER_SCOPE_RULES", "FETCH /me=admin"),
        ("AUTHORIZER_REVOCATION_CHECK", "sometimes"),
        // The lean authorizer reads no store: starting without the check it was asked for
        // would allow what the operator means to deny.
        ("AUTHORIZER_REVOCATION_CHECK", "session"),
    ] {
        // When Lambda starts the authorizer with it
        let env = stack.env().set(name, value);
        let message = init_failure(
            "tessera-authorizer",
            stack.spawn_with("tessera-authorizer", &env).await,
        );
        if !message.contains(name) {
            unnamed.push(format!("{name}={value}: {message}"));
        }
    }

    // Then it fails at init every time, naming the variable
    assert!(unnamed.is_empty(), "{unnamed:#?}");
}

#[tokio::test]
async fn a_key_file_readable_by_others_stops_every_function_that_reads_keys() {
    // Given the key file made readable by group and others
    use std::os::unix::fs::PermissionsExt;
    let stack = Stack::start().await.unwrap();
    std::fs::set_permissions(stack.key_file(), std::fs::Permissions::from_mode(0o644)).unwrap();

    // When Lambda starts each function that reads keys
    let path = stack.key_file().to_string_lossy().into_owned();
    for name in [
        "tessera-authorizer",
        "tessera-login",
        "tessera-refresh",
        "tessera-logout",
        "tessera-jwks",
    ] {
        let message = init_failure(name, stack.spawn(name).await);
        // Then each refuses it at init, naming the file
        assert!(message.contains(&path), "{name}: {message}");
    }
}

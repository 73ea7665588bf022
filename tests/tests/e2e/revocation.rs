//! Revocation at the authorizer (`AUTHORIZER_REVOCATION_CHECK`), with the artefacts the
//! template deploys: with `session` the checking authorizer (`tessera-authorizer-checked`)
//! denies a token whose session ended, on the very next decision once the micro-cache has
//! run out; with `off` the lean authorizer allows it until `exp`, as it always did. A table
//! that cannot answer is a function error (API Gateway: 500), never an allow.

use std::time::Duration;

use serde_json::Value;
use tessera_e2e::events::{self, AuthorizerEvent, Encoding};
use tessera_e2e::process::LambdaProcess;
use tessera_e2e::stack::{Stack, now};
use tessera_store::{UserStatus, UserStore};

use crate::helpers::{Deployment, Tokens, assert_allowed, assert_unauthenticated, call};

const CHECKED: &str = "tessera-authorizer-checked";

/// Every function, the authorizer being the checking one with the check on and a micro-cache
/// of `cache_secs`.
async fn checking(cache_secs: &str) -> Deployment {
    let stack = Stack::start().await.unwrap();
    let env = stack
        .env()
        .set("AUTHORIZER_REVOCATION_CHECK", "session")
        .set("AUTHORIZER_REVOCATION_CACHE", cache_secs);
    Deployment::with_authorizer(stack, CHECKED, &env).await
}

/// The authorizer's answer for `access`, in every event shape: allowed (true) or refused as
/// unauthenticated (false). Anything else (a function error) fails the test.
async fn allowed(authorizer: &LambdaProcess, access: &str, case: &str) -> bool {
    let mut answers = Vec::new();
    for kind in AuthorizerEvent::ALL {
        let outcome = authorizer
            .invoke(&kind.bearer(access).unwrap())
            .await
            .unwrap()
            .outcome;
        let allow = match kind.is_rest() {
            true => outcome.error_message().is_none(),
            false => outcome.json().unwrap()["isAuthorized"] == Value::Bool(true),
        };
        if allow {
            assert_allowed(kind, &outcome, case);
        } else {
            assert_unauthenticated(kind, &outcome, case);
        }
        answers.push(allow);
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "{case}: every event shape answers alike: {answers:?}"
    );
    answers[0]
}

async fn logged_in(d: &Deployment) -> (String, Tokens) {
    let (user, _) = d.user().await;
    let tokens = d.log_in(&user, Encoding::Json).await;
    (user.username, tokens)
}

#[tokio::test]
async fn with_the_check_a_logout_denies_the_next_decision() {
    let d = checking("0").await;
    let (_, tokens) = logged_in(&d).await;
    assert!(allowed(&d.authorizer, &tokens.access, "before logout").await);

    let out = call(&d.logout, &events::logout(&tokens.refresh).unwrap()).await;
    assert_eq!(out.status, 204, "{out:?}");

    assert!(!allowed(&d.authorizer, &tokens.access, "after logout").await);
    let logs = d
        .authorizer
        .logs_when(|l| l.iter().any(|l| l.contains("session_ended")))
        .await
        .unwrap();
    assert!(
        !logs.iter().any(|l| l.contains(&tokens.access)),
        "no token in a log line"
    );
}

#[tokio::test]
async fn with_the_check_revoke_all_denies_every_session_of_the_user() {
    let d = checking("0").await;
    let (user, _) = d.user().await;
    let here = d.log_in(&user, Encoding::Json).await;
    let there = d.log_in(&user, Encoding::Json).await;
    let context = d.authorize(&here.access).await;
    assert!(allowed(&d.authorizer, &there.access, "the other session, before").await);

    let out = call(
        &d.sessions,
        &context.sessions_revoke_all(&here.access).unwrap(),
    )
    .await;
    assert_eq!(out.status, 204, "{out:?}");

    assert!(
        !allowed(
            &d.authorizer,
            &here.access,
            "this session, after revoke-all"
        )
        .await
    );
    assert!(
        !allowed(
            &d.authorizer,
            &there.access,
            "the other session, after revoke-all"
        )
        .await
    );
}

#[tokio::test]
async fn with_the_check_disabling_the_user_or_setting_a_password_denies_at_once() {
    let d = checking("0").await;
    let (disabled, a) = logged_in(&d).await;
    let (reset, b) = logged_in(&d).await;
    assert!(allowed(&d.authorizer, &a.access, "before disable").await);
    assert!(allowed(&d.authorizer, &b.access, "before set-password").await);

    d.stack
        .store()
        .set_status(&disabled, UserStatus::Disabled, now())
        .await
        .unwrap();
    d.stack
        .store()
        .set_password(
            &reset,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
            now(),
        )
        .await
        .unwrap();

    assert!(!allowed(&d.authorizer, &a.access, "after disable").await);
    assert!(!allowed(&d.authorizer, &b.access, "after set-password").await);
}

#[tokio::test]
async fn with_the_check_reuse_detection_denies_the_rotated_access_token() {
    let d = checking("0").await;
    let (_, first) = logged_in(&d).await;
    let second = d.refreshed(&first.refresh).await;
    assert!(allowed(&d.authorizer, &second.access, "after a rotation").await);

    // The spent refresh token again: reuse (the stack's grace is 0), the session is revoked.
    let replay = d.try_refresh(&first.refresh).await;
    assert_eq!(replay.status, 400, "{replay:?}");

    assert!(!allowed(&d.authorizer, &second.access, "after reuse detection").await);
    assert!(!allowed(&d.authorizer, &first.access, "the first access token too").await);
}

#[tokio::test]
async fn with_the_check_a_live_answer_is_reused_only_within_the_cache_window() {
    let d = checking("1").await;
    let (_, tokens) = logged_in(&d).await;
    assert!(allowed(&d.authorizer, &tokens.access, "before logout").await);
    let out = call(&d.logout, &events::logout(&tokens.refresh).unwrap()).await;
    assert_eq!(out.status, 204, "{out:?}");

    // A live answer is reused until the second after the one it was read in ends: at most
    // two seconds from here, after which the very next decision reads again and denies.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(!allowed(&d.authorizer, &tokens.access, "past the cache window").await);
}

#[tokio::test]
async fn without_the_check_a_logged_out_token_is_allowed_until_exp() {
    // The lean authorizer (the default), and the checking binary with the check off.
    let d = Deployment::start().await;
    let checked_off = d.stack.spawn(CHECKED).await.unwrap();
    let (_, tokens) = logged_in(&d).await;

    let out = call(&d.logout, &events::logout(&tokens.refresh).unwrap()).await;
    assert_eq!(out.status, 204, "{out:?}");

    assert!(allowed(&d.authorizer, &tokens.access, "lean, after logout").await);
    assert!(
        allowed(
            &checked_off,
            &tokens.access,
            "checking binary set off, after logout"
        )
        .await
    );
}

#[tokio::test]
async fn with_the_check_an_unreachable_table_fails_closed_as_a_function_error() {
    let d = checking("0").await;
    let (_, tokens) = logged_in(&d).await;
    // Nothing listens on port 9 (discard) of loopback: every read is refused at once.
    let env = d
        .stack
        .env()
        .set("AUTHORIZER_REVOCATION_CHECK", "session")
        .set("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9");
    let cut_off = d.stack.spawn_with(CHECKED, &env).await.unwrap();

    for kind in AuthorizerEvent::ALL {
        let outcome = cut_off
            .invoke(&kind.bearer(&tokens.access).unwrap())
            .await
            .unwrap()
            .outcome;
        let message = outcome.error_message();
        assert!(
            message.is_some() && message.as_deref() != Some("Unauthorized"),
            "{kind:?}: a function error (500), neither an allow nor a 401: {outcome:?}"
        );
    }
    // A token that is not valid needs no read: still a plain refusal.
    assert_unauthenticated(
        AuthorizerEvent::RestToken,
        &cut_off
            .invoke(&AuthorizerEvent::RestToken.bearer("not.a.token").unwrap())
            .await
            .unwrap()
            .outcome,
        "a malformed token with the table down",
    );
    // Logged as an operator's problem, and counted as the outcome error.
    let logs = cut_off
        .logs_when(|l| {
            l.iter().any(|l| l.contains("ERROR"))
                && l.iter().any(|l| l.contains("\"Outcome\":\"error\""))
        })
        .await
        .unwrap();
    assert!(!logs.iter().any(|l| l.contains(&tokens.access)));
}

//! No secret in any log (docs/API.md: errors never echo a password or a
//! token): the whole flow, good and bad requests alike, through every function, then every
//! line each process wrote is searched for every secret it saw.

use tessera_e2e::events::{self, AuthorizerEvent, Encoding};

use crate::helpers::{Deployment, Forger, call, payload, valid_claims};

#[tokio::test]
async fn no_token_password_or_key_appears_in_any_function_log_across_the_full_flow() {
    // Given a deployment and a user
    let d = Deployment::start().await;
    let (user, _) = d.user().await;
    let mut secrets = vec![user.password.clone()];

    // When the whole flow runs: a failed login, logins, /me, sessions, refresh, a replayed
    // refresh token, hostile tokens at the authorizer, logout
    let wrong = events::login(Encoding::Json, &user.username, "wrong-password-e2e").unwrap();
    assert_eq!(call(&d.login, &wrong).await.status, 400);
    secrets.push("wrong-password-e2e".to_owned());
    let first = d.log_in(&user, Encoding::Json).await;
    let other = d.log_in(&user, Encoding::Form).await;
    let context = d.authorize(&first.access).await;
    assert_eq!(
        call(&d.me, &context.me(&first.access).unwrap())
            .await
            .status,
        200
    );
    let list = context.sessions_list(&first.access).unwrap();
    assert_eq!(call(&d.sessions, &list).await.status, 200);
    let second = d.refreshed(&first.refresh).await;
    assert_eq!(d.try_refresh(&first.refresh).await.status, 400);
    assert_eq!(d.try_refresh(&second.refresh).await.status, 400);
    let forger = Forger::new(&d.stack);
    let mut header = forger.header();
    header["typ"] = "JWT".into();
    let wrong_typ = forger.sign(&header, &payload(&valid_claims("profile")));
    let (input, signature) = first.access.rsplit_once('.').unwrap();
    let bad_signature = format!("{input}.{}", &signature[..signature.len() - 2]);
    for token in [&wrong_typ, &bad_signature, &first.refresh, &first.access] {
        for kind in AuthorizerEvent::ALL {
            d.authorizer
                .invoke(&kind.bearer(token).unwrap())
                .await
                .unwrap();
        }
    }
    assert_eq!(call(&d.jwks, &events::jwks().unwrap()).await.status, 200);
    assert_eq!(
        call(&d.logout, &events::logout(&other.refresh).unwrap())
            .await
            .status,
        204
    );
    for tokens in [&first, &other, &second] {
        secrets.push(tokens.access.clone());
        secrets.push(tokens.refresh.clone());
    }
    secrets.push(wrong_typ);
    secrets.push(bad_signature);
    secrets.push(d.stack.root_secret().unwrap().expose_secret().to_owned());

    // Then no log line holds any of them, nor a token's payload or signature on its own
    let mut fragments = Vec::new();
    for secret in &secrets {
        fragments.push(secret.clone());
        if secret.matches('.').count() == 2 {
            fragments.extend(secret.split('.').skip(1).map(str::to_owned));
        }
    }
    let logs = d.logs();
    // (The scan is not vacuous: the denials were logged, with their reasons.)
    assert!(
        d.authorizer
            .logs()
            .iter()
            .any(|l| l.contains("request denied") && l.contains("wrong token type")),
        "the authorizer logs why it denied: {:#?}",
        d.authorizer.logs()
    );
    for (name, lines) in &logs {
        for line in lines {
            for fragment in &fragments {
                assert!(
                    !line.contains(fragment.as_str()),
                    "{name} logged a secret: {line}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_refused_token_is_logged_once_at_info_with_its_reason_and_never_as_an_error() {
    // Given the authorizer as Lambda runs it
    let stack = tessera_e2e::stack::Stack::start().await.unwrap();
    let authorizer = stack.spawn("tessera-authorizer").await.unwrap();

    // When a bad token arrives in every event shape, then an event that is not JSON at all
    // (whose WARN line, written after the others, marks the end of what to read)
    for kind in AuthorizerEvent::ALL {
        let event = kind.bearer("not-a-token").unwrap();
        authorizer.invoke(&event).await.unwrap();
    }
    authorizer.invoke_raw(b"[]".to_vec()).await.unwrap();
    let logs = authorizer
        .logs_when(|lines| lines.iter().any(|l| l.contains("not a json object")))
        .await
        .unwrap_or_else(|e| panic!("{e}: {:#?}", authorizer.logs()));

    // Then each refusal is one INFO line with its reason, and no line is an ERROR: an alarm
    // on ERROR must not fire for every bad token on the internet
    let refusals: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("request denied"))
        .collect();
    assert_eq!(refusals.len(), AuthorizerEvent::ALL.len(), "{logs:#?}");
    assert!(refusals.iter().all(|l| l.contains("INFO")), "{refusals:#?}");
    assert!(
        refusals.iter().all(|l| l.contains("reason")),
        "{refusals:#?}"
    );
    assert!(!logs.iter().any(|l| l.contains("ERROR")), "{logs:#?}");
}

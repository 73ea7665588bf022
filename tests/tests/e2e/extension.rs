//! The authorizer on Lambda reads its keys from the Secrets Manager secret through the
//! Parameters and Secrets Lambda Extension, on the first event (the extension does not
//! answer during init). Here a stand-in extension on loopback serves the stack's secret.

use tessera_e2e::events::AuthorizerEvent;
use tessera_e2e::stack::Stack;

use crate::helpers::{FakeSecretsExtension, assert_allowed, effects, valid_claims};

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tessera/keys-AbCdEf";
const SESSION_TOKEN: &str = "e2e-session-token-IQoJb3JpZ2luX2VjEXAMPLE";

fn extension_env(stack: &Stack, port: u16) -> tessera_e2e::stack::Env {
    stack
        .env()
        .unset("KEY_FILE")
        .set("KEY_SECRET_ARN", SECRET_ARN)
        .set("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .set("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &port.to_string())
}

#[tokio::test]
async fn the_authorizer_reads_its_keys_through_the_secrets_extension_on_the_first_event() {
    // Given an extension serving the stack's secret, and the authorizer pointed at it
    let stack = Stack::start().await.unwrap();
    let root = stack.root_secret().unwrap().expose_secret().to_owned();
    let extension = FakeSecretsExtension::start(Some(root.clone())).await;
    let authorizer = stack
        .spawn_with("tessera-authorizer", &extension_env(&stack, extension.port))
        .await
        .unwrap();
    let token = stack
        .key_set()
        .unwrap()
        .issue_access(&valid_claims("profile"))
        .unwrap();

    // Then init asked the extension nothing
    assert!(
        extension.requests().is_empty(),
        "{:?}",
        extension.requests()
    );

    // When events arrive
    let mut after_first = None;
    for kind in AuthorizerEvent::ALL {
        let event = kind.bearer(token.expose_secret()).unwrap();
        let outcome = authorizer.invoke(&event).await.unwrap().outcome;
        // Then a genuine token is allowed in every shape
        assert_allowed(kind, &outcome, "keys from the extension");
        after_first.get_or_insert(extension.requests().len());
    }

    // And the secret was read once, by its ARN, with the function's session token
    let requests = extension.requests();
    assert_eq!(Some(requests.len()), after_first, "{requests:?}");
    assert!(requests.iter().any(|r| r.stage == "AWSCURRENT"));
    for request in &requests {
        assert_eq!(request.secret_id, SECRET_ARN);
        assert_eq!(request.token.as_deref(), Some(SESSION_TOKEN));
    }
    // And neither the secret nor the session token reached the logs
    for line in authorizer.logs() {
        assert!(!line.contains(&root), "{line}");
        assert!(!line.contains(SESSION_TOKEN), "{line}");
    }
}

#[tokio::test]
async fn the_authorizer_whose_secret_cannot_be_read_allows_nothing() {
    // Given an extension that cannot reach Secrets Manager
    let stack = Stack::start().await.unwrap();
    let extension = FakeSecretsExtension::start(None).await;
    let authorizer = stack
        .spawn_with("tessera-authorizer", &extension_env(&stack, extension.port))
        .await
        .unwrap();
    let token = stack
        .key_set()
        .unwrap()
        .issue_access(&valid_claims("profile"))
        .unwrap();

    for _ in 0..2 {
        for kind in AuthorizerEvent::ALL {
            // When a genuine token arrives
            let event = kind.bearer(token.expose_secret()).unwrap();
            let outcome = authorizer.invoke(&event).await.unwrap().outcome;
            // Then it is never allowed: an error (API Gateway: 500) or a denial
            if let Ok(answer) = outcome.json() {
                assert!(!effects(&answer).contains(&"Allow"), "{kind:?}: {answer}");
                assert_ne!(answer["isAuthorized"], true, "{kind:?}: {answer}");
            }
        }
    }
    // And it did try the extension
    assert!(!extension.requests().is_empty());
}

//! The authorizer as the artefact Lambda runs, under the Runtime API emulator: what only the
//! process can show. Every event shape through the runtime; a refusal as the runtime reports
//! it (REST: the error `Unauthorized`, which API Gateway answers 401; HTTP API 2.0:
//! `{"isAuthorized": false}`); the real clock and the real signature check in the release
//! build; the key source reloaded for an unknown `kid`; the process surviving garbage; scope
//! rules from the environment. Every other way a token can fail (alg none, alg confusion,
//! typ, issuer, audience, nbf, tampering, size, malformed headers) is proven once, in
//! process, for every event kind: `shared/authorizer/tests/authorizer/reject.rs`.

use serde_json::{Value, json};
use tessera_e2e::emulator::Outcome;
use tessera_e2e::events::AuthorizerEvent;
use tessera_e2e::process::LambdaProcess;
use tessera_e2e::stack::{Stack, access_claims, now};
use tessera_token::{Algorithm, KeySet, SecretValue};

use crate::helpers::{
    Forger, assert_allowed, assert_rejected_everywhere, assert_unauthenticated, b64,
    denied_resources, effects, payload, unb64, valid_claims,
};

/// The `methodArn` of the sample REST events.
const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/me";

async fn authorizer(stack: &Stack) -> LambdaProcess {
    stack.spawn("tessera-authorizer").await.unwrap()
}

/// A fresh, genuine access token for `scope`.
fn genuine(stack: &Stack, scope: &str) -> String {
    stack
        .key_set()
        .unwrap()
        .issue_access(&valid_claims(scope))
        .unwrap()
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn a_valid_token_is_allowed_in_every_event_shape_with_the_context() {
    // Given a genuine access token
    let stack = Stack::start().await.unwrap();
    let authorizer = authorizer(&stack).await;
    let claims = valid_claims("profile");
    let token = stack.key_set().unwrap().issue_access(&claims).unwrap();

    for kind in AuthorizerEvent::ALL {
        // When API Gateway asks with it
        let event = kind.bearer(token.expose_secret()).unwrap();
        let outcome = authorizer.invoke(&event).await.unwrap().outcome;

        // Then it is allowed, and the context carries who is calling
        let context = assert_allowed(kind, &outcome, "a valid token");
        assert_eq!(
            context,
            json!({ "sub": claims.sub, "sid": claims.sid, "scope": "profile",
                    "jti": claims.jti, "client_id": "tessera" })
        );
        if kind.is_rest() {
            let policy = outcome.json().unwrap();
            assert_eq!(policy["principalId"], json!(claims.sub));
            let statement = &policy["policyDocument"]["Statement"][0];
            assert_eq!(statement["Action"], "execute-api:Invoke");
            assert_eq!(
                statement["Resource"],
                "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*",
                "the allow covers the whole API, so a cached answer holds for every route"
            );
        }
    }
}

#[tokio::test]
async fn a_missing_authorization_header_is_unauthorized() {
    let stack = Stack::start().await.unwrap();
    let authorizer = authorizer(&stack).await;

    assert_rejected_everywhere(&authorizer, None, "no Authorization header").await;
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    // Given a genuine token that expired beyond the leeway (TOKEN_LEEWAY=30)
    let stack = Stack::start().await.unwrap();
    let authorizer = authorizer(&stack).await;
    let now = now();
    let mut claims = access_claims("usr-e2e", "sid-e2e", "profile", now - 3600);
    claims.exp = now - 120;

    let token = stack.key_set().unwrap().issue_access(&claims).unwrap();

    let value = format!("Bearer {}", token.expose_secret());
    assert_rejected_everywhere(&authorizer, Some(&value), "expired").await;
}

#[tokio::test]
async fn an_unknown_kid_is_unauthorized() {
    // Given a token signed by another deployment's key, and the real key under a made-up kid
    let stack = Stack::start().await.unwrap();
    let authorizer = authorizer(&stack).await;
    let forger = Forger::new(&stack);
    let claims = valid_claims("profile");
    let stranger = KeySet::from_secrets(Algorithm::Es256, &SecretValue::generate(), &[]).unwrap();
    let foreign = stranger.issue_access(&claims).unwrap();
    let mut header = forger.header();
    header["kid"] = json!("not-a-known-kid");
    let made_up = forger.sign(&header, &payload(&claims));
    let mut header = forger.header();
    header.as_object_mut().unwrap().remove("kid");
    let no_kid = forger.sign(&header, &payload(&claims));

    for (case, token) in [
        (
            "another deployment's key",
            foreign.expose_secret().to_owned(),
        ),
        ("made-up kid", made_up),
        ("no kid", no_kid),
    ] {
        let value = format!("Bearer {token}");
        assert_rejected_everywhere(&authorizer, Some(&value), case).await;
    }
}

#[tokio::test]
async fn a_tampered_signature_is_unauthorized() {
    // Given a genuine token whose signature was changed, truncated or dropped
    let stack = Stack::start().await.unwrap();
    let authorizer = authorizer(&stack).await;
    let token = genuine(&stack, "profile");
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut flipped = unb64(signature);
    flipped[10] ^= 0x01;
    let mut last_byte = unb64(signature);
    *last_byte.last_mut().unwrap() ^= 0x80;

    for (case, sig) in [
        ("one bit flipped", b64(&flipped)),
        ("last byte changed", b64(&last_byte)),
        ("truncated", signature[..signature.len() - 4].to_owned()),
        ("empty", String::new()),
        ("doubled", format!("{signature}{signature}")),
    ] {
        let value = format!("Bearer {input}.{sig}");
        assert_rejected_everywhere(&authorizer, Some(&value), case).await;
    }
}

#[tokio::test]
async fn a_garbage_event_is_unauthorized_and_the_authorizer_keeps_serving() {
    // Given events that are not JSON objects of a kind API Gateway sends
    let stack = Stack::start().await.unwrap();
    let authorizer = authorizer(&stack).await;
    let token = genuine(&stack, "profile");
    let bearer = format!("Bearer {token}");

    let mut no_arn = AuthorizerEvent::RestToken.bearer(&token).unwrap();
    no_arn.as_object_mut().unwrap().remove("methodArn");
    let mut bad_arn = AuthorizerEvent::RestRequest.bearer(&token).unwrap();
    bad_arn["methodArn"] = json!("not-an-arn");
    let mut wrong_types = AuthorizerEvent::RestRequest.bearer(&token).unwrap();
    wrong_types["headers"] = json!(format!("Authorization: {bearer}"));
    let json_garbage = [
        ("array", json!([bearer])),
        ("null", Value::Null),
        ("string", json!(bearer)),
        ("empty object", json!({})),
        (
            "unknown type",
            json!({ "type": "WEBSOCKET", "authorizationToken": bearer }),
        ),
        ("no methodArn", no_arn),
        ("unrecognised methodArn", bad_arn),
        ("headers of the wrong type", wrong_types),
    ];

    // When each arrives (JSON of the wrong shape)
    for (case, event) in json_garbage {
        let outcome = authorizer.invoke(&event).await.unwrap().outcome;
        // Then the error Unauthorized
        assert_eq!(
            outcome.error_message().as_deref(),
            Some("Unauthorized"),
            "{case}: {outcome:?}"
        );
    }
    // And bytes that are not JSON at all are an error too, never an answer
    for bytes in [&b"{not json"[..], b"", b"\xff\xfe", b"{\"type\":\"TOKEN\""] {
        let outcome = authorizer.invoke_raw(bytes.to_vec()).await.unwrap().outcome;
        assert!(
            matches!(outcome, Outcome::Error { .. }),
            "{bytes:?}: {outcome:?}"
        );
    }
    // And the process still answers the next, valid event
    let outcome = authorizer
        .invoke(&AuthorizerEvent::RestToken.bearer(&token).unwrap())
        .await
        .unwrap()
        .outcome;
    assert_allowed(AuthorizerEvent::RestToken, &outcome, "after garbage");
}

#[tokio::test]
async fn a_token_without_the_scope_a_route_requires_gets_a_deny_policy_or_false() {
    // Given AUTHORIZER_SCOPE_RULES="GET /me=admin" and a valid token without `admin`
    let stack = Stack::start().await.unwrap();
    let env = stack.env().set("AUTHORIZER_SCOPE_RULES", "GET /me=admin");
    let authorizer = stack.spawn_with("tessera-authorizer", &env).await.unwrap();
    let token = genuine(&stack, "profile");

    for kind in AuthorizerEvent::ALL {
        // When it asks for GET /me
        let outcome = authorizer
            .invoke(&kind.bearer(&token).unwrap())
            .await
            .unwrap()
            .outcome;
        if kind.is_rest() {
            // Then REST: a policy (not 401) whose explicit Deny covers this method (403)
            let policy = outcome.json().unwrap();
            assert!(effects(&policy).contains(&"Deny"), "{kind:?}: {policy}");
            assert!(
                denied_resources(&policy).iter().any(|r| r == METHOD_ARN),
                "{kind:?}: the Deny covers {METHOD_ARN}: {policy}"
            );
        } else {
            // Then HTTP API: not authorized (API Gateway answers 403)
            assert_unauthenticated(kind, &outcome, "missing scope");
        }
    }
}

#[tokio::test]
async fn a_token_with_the_scope_a_route_requires_is_allowed() {
    // Given AUTHORIZER_SCOPE_RULES="GET /me=admin" and a token holding `admin`
    let stack = Stack::start().await.unwrap();
    let env = stack.env().set("AUTHORIZER_SCOPE_RULES", "GET /me=admin");
    let authorizer = stack.spawn_with("tessera-authorizer", &env).await.unwrap();
    let token = genuine(&stack, "profile admin");

    for kind in AuthorizerEvent::ALL {
        let outcome = authorizer
            .invoke(&kind.bearer(&token).unwrap())
            .await
            .unwrap()
            .outcome;
        // Then it is allowed, with no Deny anywhere in a REST policy
        assert_allowed(kind, &outcome, "scope present");
    }
}

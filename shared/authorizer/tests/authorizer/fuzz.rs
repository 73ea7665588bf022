//! Whatever arrives, the authorizer answers and never allows by accident. Random bytes and
//! random header values can never carry a valid signature, so those properties prove that
//! no input panics and that the refusal has the event kind's shape; the properties that
//! prove "never allowed" start from a real, valid token and break one thing around it.

use proptest::prelude::*;
use tessera_authorizer::{AuthorizerOutcome, EventKind, Verdict};

use crate::helpers::*;

fn kinds() -> impl Strategy<Value = EventKind> {
    prop::sample::select(ALL_KINDS.to_vec())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let decision = authorizer().decide(&bytes, NOW);
        prop_assert_ne!(decision.verdict, Verdict::Allow);
    }

    #[test]
    fn a_real_token_in_an_event_without_a_valid_arn_is_never_allowed(
        fields in prop::collection::btree_map(
            prop::sample::select(vec![
                "type", "version", "authorizationToken", "methodArn", "httpMethod", "path",
                "headers", "multiValueHeaders", "requestContext", "routeKey",
            ]),
            prop_oneof![
                any::<String>().prop_map(serde_json::Value::from),
                Just(serde_json::json!("TOKEN")),
                Just(serde_json::json!("REQUEST")),
                Just(serde_json::json!("2.0")),
                Just(serde_json::json!({ "authorization": "Bearer a.b.c" })),
                Just(serde_json::json!(format!("Bearer {}", valid_token()))),
                Just(serde_json::json!({ "authorization": format!("Bearer {}", valid_token()) })),
                Just(serde_json::Value::Null),
            ],
            0..8,
        )
    ) {
        // No field may hold a valid method or route ARN, so no event here is well-formed.
        let event = serde_json::to_vec(&fields).unwrap();
        prop_assert_ne!(authorizer().decide(&event, NOW).verdict, Verdict::Allow);
    }

    #[test]
    fn arbitrary_authorization_values_never_panic_and_get_the_kinds_refusal(kind in kinds(), value in ".{0,200}") {
        let decision = authorizer().decide(&event(kind, Some(&value)), NOW);
        prop_assert!(matches!(decision.verdict, Verdict::Unauthorized(_)));
        if kind == EventKind::HttpV2 {
            prop_assert_eq!(
                decision.outcome,
                AuthorizerOutcome::Respond(serde_json::json!({ "isAuthorized": false }))
            );
        } else {
            prop_assert_eq!(decision.outcome, AuthorizerOutcome::Unauthorized);
        }
    }

    #[test]
    fn a_valid_token_with_any_one_byte_changed_is_never_allowed(
        kind in kinds(),
        index in any::<prop::sample::Index>(),
        byte in prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.".to_vec()
        ),
    ) {
        let token = valid_token();
        let mut bytes = token.clone().into_bytes();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let mutated = String::from_utf8(bytes).unwrap();
        let decision = authorizer().decide(&event_with_token(kind, &mutated), NOW);
        // Base64url's last character carries spare bits; the token crate refuses
        // non-canonical encodings, so no change to the token can keep it valid.
        prop_assert!(matches!(decision.verdict, Verdict::Unauthorized(_)), "{:?}", decision.verdict);
    }
}

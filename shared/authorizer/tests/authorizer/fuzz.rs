//! Whatever arrives, the authorizer answers and never allows by accident: no input panics,
//! and nothing but a valid token in a well-formed event is ever allowed.

use proptest::prelude::*;
use tessera_authorizer::{AuthorizerOutcome, EventKind, Verdict};

use crate::helpers::*;

fn kinds() -> impl Strategy<Value = EventKind> {
    prop::sample::select(ALL_KINDS.to_vec())
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_never_allowed(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let decision = authorizer().decide(&bytes, NOW);
        prop_assert_ne!(decision.verdict, Verdict::Allow);
    }

    #[test]
    fn arbitrary_json_objects_are_never_allowed(
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
                Just(serde_json::Value::Null),
            ],
            0..8,
        )
    ) {
        let event = serde_json::to_vec(&fields).unwrap();
        prop_assert_ne!(authorizer().decide(&event, NOW).verdict, Verdict::Allow);
    }

    #[test]
    fn arbitrary_authorization_values_are_never_allowed(kind in kinds(), value in ".{0,200}") {
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

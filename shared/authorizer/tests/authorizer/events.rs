//! The authorizer tells the event kinds apart from the events themselves, and refuses
//! anything else.

use serde_json::{Value, json};
use tessera_authorizer::{AuthorizerOutcome, DenyReason, EventKind, Verdict};

use crate::helpers::*;

#[test]
fn each_sample_event_is_recognised_as_its_kind() {
    for kind in ALL_KINDS {
        let decision = authorizer().decide(&event_with_token(kind, &valid_token()), NOW);
        assert_eq!(decision.kind, Some(kind));
    }
}

#[test]
fn the_sample_events_carry_the_placeholder_where_api_gateway_puts_the_header() {
    assert_eq!(
        sample(EventKind::RestToken)["authorizationToken"],
        PLACEHOLDER
    );
    assert_eq!(
        sample(EventKind::RestRequest)["headers"]["Authorization"],
        PLACEHOLDER
    );
    assert_eq!(
        sample(EventKind::RestRequest)["multiValueHeaders"]["Authorization"],
        json!([PLACEHOLDER])
    );
    assert_eq!(
        sample(EventKind::HttpV2)["headers"]["authorization"],
        PLACEHOLDER
    );
    assert_eq!(
        sample(EventKind::HttpV2)["identitySource"],
        json!([PLACEHOLDER])
    );
}

fn assert_unauthorized(event: &[u8], reason: DenyReason, what: &str) {
    let decision = authorizer().decide(event, NOW);
    assert_eq!(decision.kind, None, "{what}");
    assert_eq!(decision.verdict, Verdict::Unauthorized(reason), "{what}");
    assert_eq!(decision.outcome, AuthorizerOutcome::Unauthorized, "{what}");
}

#[test]
fn a_garbage_event_is_unauthorized() {
    for kind in ALL_KINDS {
        let whole = event_with_token(kind, &valid_token());
        let truncated = &whole[..whole.len() / 2];
        assert_unauthorized(
            truncated,
            DenyReason::UnparseableEvent,
            &format!("truncated {kind}"),
        );

        // Right kind, wrong types: headers as a string, methodArn as a number.
        let mut wrong_types = serde_json::from_slice::<Value>(&whole).unwrap();
        wrong_types["headers"] = json!(format!("Authorization: Bearer {}", valid_token()));
        wrong_types["methodArn"] = json!(42);
        assert_unauthorized(
            &serde_json::to_vec(&wrong_types).unwrap(),
            DenyReason::UnparseableEvent,
            &format!("mistyped {kind}"),
        );
    }
    let positional = br#"[null, "TOKEN", "Bearer x", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/me"]"#;
    for garbage in [
        &b""[..],
        b"not json",
        b"[]",
        &positional[..],
        b"null",
        b"42",
        b"\"Bearer x\"",
        b"\xff\xfe{}",
    ] {
        assert_unauthorized(
            garbage,
            DenyReason::UnparseableEvent,
            &String::from_utf8_lossy(garbage),
        );
    }
}

#[test]
fn an_event_with_duplicate_fields_is_unauthorized() {
    // Two `type`s could make one parser see TOKEN and another REQUEST: refuse the ambiguity.
    let event = br#"{"type":"TOKEN","type":"REQUEST","authorizationToken":"Bearer x","methodArn":"arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/me"}"#;
    assert_unauthorized(event, DenyReason::UnparseableEvent, "duplicate type");
}

#[test]
fn an_event_of_unknown_kind_is_unauthorized() {
    let token = valid_token();
    let mut cases: Vec<(String, Value)> = Vec::new();
    for kind in ALL_KINDS {
        let base = event_value(kind, Some(&format!("Bearer {token}")));
        for (field, value) in [
            ("type", json!("WEBSOCKET")),
            ("type", json!("token")),
            ("type", json!("request")),
            ("type", Value::Null),
            ("version", json!("3.0")),
            ("version", json!(2.0)),
        ] {
            let mut event = base.clone();
            event[field] = value.clone();
            cases.push((format!("{kind} with {field} = {value}"), event));
        }
    }
    cases.push(("empty object".into(), json!({})));
    cases.push((
        "an http api proxy event, not an authorizer event".into(),
        json!({
            "version": "2.0",
            "routeKey": "GET /me",
            "rawPath": "/me",
            "headers": { "authorization": format!("Bearer {token}") },
            "requestContext": { "http": { "method": "GET", "path": "/me" } },
        }),
    ));
    for (what, event) in cases {
        let bytes = serde_json::to_vec(&event).unwrap();
        let decision = authorizer().decide(&bytes, NOW);
        // `"version": 2.0` (a number) is mistyped rather than unknown; both are denied.
        assert!(
            matches!(
                decision.verdict,
                Verdict::Unauthorized(DenyReason::UnknownEvent | DenyReason::UnparseableEvent)
            ),
            "{what}: {:?}",
            decision.verdict
        );
        assert_eq!(decision.outcome, AuthorizerOutcome::Unauthorized, "{what}");
        assert_eq!(decision.kind, None, "{what}");
    }
}

#[test]
fn escaped_json_strings_in_the_event_are_read_correctly() {
    // API Gateway may escape '/' in JSON; the borrowed parser must still read the values.
    let token = valid_token();
    let event = format!(
        r#"{{"type":"TOKEN","authorizationToken":"Bearer {token}","methodArn":"arn:aws:execute-api:us-east-1:123456789012:abcdef1234\/prod\/GET\/me"}}"#
    );
    let outcome = authorizer().handle(event.as_bytes(), NOW);
    assert_eq!(
        outcome,
        AuthorizerOutcome::Respond(rest_policy("profile", &[]))
    );
}

#[test]
fn an_already_parsed_event_that_is_not_an_object_is_unauthorized() {
    for event in [
        json!([null, "TOKEN", "Bearer x"]),
        json!(null),
        json!("TOKEN"),
    ] {
        let decision = authorizer().decide_value(&event, NOW);
        assert_eq!(
            decision.verdict,
            Verdict::Unauthorized(DenyReason::UnparseableEvent)
        );
        assert_eq!(decision.outcome, AuthorizerOutcome::Unauthorized);
    }
}

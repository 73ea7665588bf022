//! A valid access token is allowed, with the context the integration reads.

use serde_json::json;
use tessera_authorizer::{AuthorizerOutcome, EventKind, Verdict};

use crate::helpers::*;

#[test]
fn rest_token_event_with_a_valid_token_gets_an_allow_policy_for_the_whole_api() {
    // Given the REST TOKEN sample event carrying a token Tessera issued,
    let event = event_with_token(EventKind::RestToken, &valid_token());
    // when the authorizer decides,
    let outcome = authorizer().handle(&event, NOW);
    // then it answers an IAM policy allowing every route of the API and stage, principal = sub.
    assert_eq!(
        outcome,
        AuthorizerOutcome::Respond(rest_policy("profile", &[]))
    );
}

#[test]
fn rest_request_event_with_a_valid_token_gets_an_allow_policy_for_the_whole_api() {
    let event = event_with_token(EventKind::RestRequest, &valid_token());
    let outcome = authorizer().handle(&event, NOW);
    assert_eq!(
        outcome,
        AuthorizerOutcome::Respond(rest_policy("profile", &[]))
    );
}

#[test]
fn http_v2_event_with_a_valid_token_is_authorized_with_context() {
    let event = event_with_token(EventKind::HttpV2, &valid_token());
    let outcome = authorizer().handle(&event, NOW);
    assert_eq!(
        outcome,
        AuthorizerOutcome::Respond(json!({
            "isAuthorized": true,
            "context": expected_context("profile"),
        }))
    );
}

#[test]
fn the_decision_names_the_event_kind_and_allows() {
    for kind in ALL_KINDS {
        let decision = authorizer().decide(&event_with_token(kind, &valid_token()), NOW);
        assert_eq!(decision.kind, Some(kind));
        assert_eq!(decision.verdict, Verdict::Allow, "{kind}");
    }
}

#[test]
fn an_event_already_parsed_as_json_gets_the_same_answer() {
    for kind in ALL_KINDS {
        let bytes = event_with_token(kind, &valid_token());
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            authorizer().handle_value(&value, NOW),
            authorizer().handle(&bytes, NOW)
        );
    }
}

#[test]
fn bearer_scheme_is_case_insensitive_and_extra_spaces_are_tolerated() {
    let token = valid_token();
    for value in [
        format!("bearer {token}"),
        format!("BEARER   {token}"),
        format!(" Bearer {token} "),
    ] {
        for kind in ALL_KINDS {
            let decision = authorizer().decide(&event(kind, Some(&value)), NOW);
            assert_eq!(decision.verdict, Verdict::Allow, "{kind} {value:?}");
        }
    }
}

#[test]
fn rest_request_header_name_is_case_insensitive() {
    let token = valid_token();
    for name in ["authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"] {
        let mut event = event_value(EventKind::RestRequest, None);
        event["headers"][name] = json!(format!("Bearer {token}"));
        event["multiValueHeaders"][name] = json!([format!("Bearer {token}")]);
        let decision = authorizer().decide(&serde_json::to_vec(&event).unwrap(), NOW);
        assert_eq!(decision.verdict, Verdict::Allow, "{name}");
    }
}

#[test]
fn rest_request_with_only_multi_value_headers_is_read_too() {
    let mut event = event_value(
        EventKind::RestRequest,
        Some(&format!("Bearer {}", valid_token())),
    );
    event.as_object_mut().unwrap().remove("headers");
    let decision = authorizer().decide(&serde_json::to_vec(&event).unwrap(), NOW);
    assert_eq!(decision.verdict, Verdict::Allow);
}

#[test]
fn a_token_within_the_clock_leeway_is_allowed() {
    // exp 10 s ago and nbf 10 s ahead are both inside the default 30 s leeway.
    let mut skewed = claims("profile");
    skewed.exp = NOW - 10;
    let mut early = claims("profile");
    early.nbf = NOW + 10;
    for claims in [skewed, early] {
        let decision =
            authorizer().decide(&event_with_token(EventKind::HttpV2, &issue(&claims)), NOW);
        assert_eq!(decision.verdict, Verdict::Allow);
    }
}

#[test]
fn a_token_from_a_previous_key_version_is_allowed_after_rotation() {
    use tessera_token::{Algorithm, KeySet, SecretValue, VerifyPolicy};
    let old = SecretValue::new("the previous root secret of the key set, 32+ bytes");
    let new = SecretValue::new("the current root secret of the key set, also 32+ bytes");
    let before = KeySet::from_secrets(Algorithm::Es256, &old, &[]).unwrap();
    let after = KeySet::from_secrets(Algorithm::Es256, &new, &[old]).unwrap();
    let token = before.issue_access(&claims("profile")).unwrap();
    let authorizer = tessera_authorizer::Authorizer::new(
        after.access_verifier(VerifyPolicy::new(ISSUER, AUDIENCE)),
        tessera_authorizer::ScopeRules::none(),
    );
    for kind in ALL_KINDS {
        let decision = authorizer.decide(&event_with_token(kind, token.expose_secret()), NOW);
        assert_eq!(decision.verdict, Verdict::Allow, "{kind}");
    }
}

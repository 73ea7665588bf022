//! Every way a request can fail to present a valid access token: REST answers 401
//! (`Unauthorized`), HTTP API 2.0 answers `isAuthorized: false`, for every event kind.

use serde_json::json;
use tessera_authorizer::{AuthorizerOutcome, CredentialError, DenyReason, EventKind, Verdict};
use tessera_token::{Algorithm, KeySet, MAX_TOKEN_BYTES, SecretValue, VerifyError};

use crate::helpers::*;

/// One row of the table: a name, the `Authorization` value (`None`: no header) and why
/// it must be refused.
struct Case {
    name: &'static str,
    authorization: Option<String>,
    reason: DenyReason,
}

fn case(name: &'static str, authorization: Option<String>, reason: DenyReason) -> Case {
    Case {
        name,
        authorization,
        reason,
    }
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn cred(e: CredentialError) -> DenyReason {
    DenyReason::Credentials(e)
}

fn token(e: VerifyError) -> DenyReason {
    DenyReason::Token(e)
}

fn tamper_payload(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
            .unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    claims["scope"] = json!("profile admin");
    format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&claims).unwrap()),
        parts[2]
    )
}

fn tamper_signature(token: &str) -> String {
    let sig_start = token.rfind('.').unwrap() + 1;
    let mut bytes = token.as_bytes().to_vec();
    let i = sig_start + 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn all_cases() -> Vec<Case> {
    use CredentialError::*;
    let valid = valid_token();
    let payload = serde_json::to_value(claims("profile")).unwrap();
    let at_jwt = |alg: &str, kid: &str| json!({ "alg": alg, "typ": "at+jwt", "kid": kid });

    let alg_none = format!(
        "{}.",
        signing_input(&at_jwt("none", &current_kid()), &payload)
    );
    let alg_confusion = sign_hs256(
        &public_key_bytes(),
        &at_jwt("HS256", &current_kid()),
        &payload,
    );
    let wrong_typ = sign_with_test_key(
        &json!({ "alg": "ES256", "typ": "JWT", "kid": TEST_KID }),
        &payload,
    );
    let no_typ = sign_with_test_key(&json!({ "alg": "ES256", "kid": TEST_KID }), &payload);
    let mut expired = claims("profile");
    (expired.iat, expired.nbf, expired.exp) = (NOW - 1000, NOW - 1000, NOW - 100);
    let mut not_yet_valid = claims("profile");
    (not_yet_valid.iat, not_yet_valid.nbf, not_yet_valid.exp) = (NOW + 100, NOW + 100, NOW + 1000);
    let mut issued_in_future = claims("profile");
    issued_in_future.iat = NOW + 100;
    let mut wrong_issuer = claims("profile");
    wrong_issuer.iss = "https://evil.example.com".into();
    let mut wrong_audience = claims("profile");
    wrong_audience.aud = "https://other-api.example.com".into();
    let stranger = KeySet::from_secrets(
        Algorithm::Es256,
        &SecretValue::new("a root secret this authorizer has never seen, 32+ bytes"),
        &[],
    )
    .unwrap();
    let unknown_kid = stranger.issue_access(&claims("profile")).unwrap();
    let mut padded = payload.clone();
    padded["pad"] = json!("x".repeat(MAX_TOKEN_BYTES));
    let oversized = sign_with_test_key(&at_jwt("ES256", TEST_KID), &padded);

    vec![
        case("missing header", None, cred(Missing)),
        case("empty header", Some(String::new()), cred(Empty)),
        case("scheme without token", Some("Bearer".into()), cred(Empty)),
        case("scheme and blank", Some("Bearer   ".into()), cred(Empty)),
        case("no scheme", Some(valid.clone()), cred(WrongScheme)),
        case(
            "basic scheme",
            Some("Basic dXNlcjpwYXNzd29yZA==".into()),
            cred(WrongScheme),
        ),
        case(
            "other scheme, valid token",
            Some(format!("Token {valid}")),
            cred(WrongScheme),
        ),
        case(
            "two tokens",
            Some(format!("Bearer {valid} {valid}")),
            cred(NotOneToken),
        ),
        case(
            "comma-separated list",
            Some(format!("Bearer {valid}, Bearer {valid}")),
            cred(NotOneToken),
        ),
        case(
            "quoted token",
            Some(format!("Bearer \"{valid}\"")),
            cred(Malformed),
        ),
        case("oversized", bearer(&oversized), cred(TooLarge)),
        case("not a jwt", bearer("abc"), token(VerifyError::Malformed)),
        case("alg none", bearer(&alg_none), token(VerifyError::AlgNone)),
        case(
            "alg confusion: hs256 keyed with the es256 public key",
            bearer(&alg_confusion),
            token(VerifyError::AlgMismatch),
        ),
        case(
            "wrong typ",
            bearer(&wrong_typ),
            token(VerifyError::WrongType),
        ),
        case(
            "missing typ",
            bearer(&no_typ),
            token(VerifyError::WrongType),
        ),
        case(
            "refresh token as access token",
            bearer(&refresh_token()),
            token(VerifyError::WrongType),
        ),
        case(
            "expired",
            bearer(&issue(&expired)),
            token(VerifyError::Expired),
        ),
        case(
            "not yet valid",
            bearer(&issue(&not_yet_valid)),
            token(VerifyError::NotYetValid),
        ),
        case(
            "issued in the future",
            bearer(&issue(&issued_in_future)),
            token(VerifyError::IssuedInFuture),
        ),
        case(
            "unknown kid",
            bearer(unknown_kid.expose_secret()),
            token(VerifyError::UnknownKid),
        ),
        case(
            "tampered payload",
            bearer(&tamper_payload(&valid)),
            token(VerifyError::BadSignature),
        ),
        case(
            "tampered signature",
            bearer(&tamper_signature(&valid)),
            token(VerifyError::BadSignature),
        ),
        case(
            "wrong issuer",
            bearer(&issue(&wrong_issuer)),
            token(VerifyError::WrongIssuer),
        ),
        case(
            "wrong audience",
            bearer(&issue(&wrong_audience)),
            token(VerifyError::WrongAudience),
        ),
    ]
}

fn expected_denial(kind: EventKind) -> AuthorizerOutcome {
    match kind {
        EventKind::RestToken | EventKind::RestRequest => AuthorizerOutcome::Unauthorized,
        EventKind::HttpV2 => AuthorizerOutcome::Respond(json!({ "isAuthorized": false })),
    }
}

fn assert_all_denied(kind: EventKind) {
    for case in all_cases() {
        // Given the sample event of this kind with the case's Authorization value,
        let event = event(kind, case.authorization.as_deref());
        // when the authorizer decides,
        let decision = authorizer().decide(&event, NOW);
        // then it denies, for the case's reason, in this kind's shape.
        assert_eq!(
            decision.verdict,
            Verdict::Unauthorized(case.reason),
            "{kind}: {}",
            case.name
        );
        assert_eq!(
            decision.outcome,
            expected_denial(kind),
            "{kind}: {}",
            case.name
        );
        assert_eq!(decision.kind, Some(kind));
    }
}

#[test]
fn rest_token_event_without_a_valid_token_is_unauthorized() {
    assert_all_denied(EventKind::RestToken);
}

#[test]
fn rest_request_event_without_a_valid_token_is_unauthorized() {
    assert_all_denied(EventKind::RestRequest);
}

#[test]
fn http_v2_event_without_a_valid_token_is_not_authorized() {
    assert_all_denied(EventKind::HttpV2);
}

#[test]
fn the_oversized_token_really_is_signed_and_over_the_limit() {
    // Guards the "oversized" row: it must be refused for its size, not for a bad signature.
    let case = all_cases()
        .into_iter()
        .find(|c| c.name == "oversized")
        .unwrap();
    let value = case.authorization.unwrap();
    assert!(value.len() > MAX_TOKEN_BYTES + "Bearer ".len());
}

#[test]
fn rest_request_with_two_authorization_headers_is_unauthorized() {
    let token = valid_token();
    let header = format!("Bearer {token}");

    // Two header names differing only in case.
    let mut differing_case = event_value(EventKind::RestRequest, Some(&header));
    differing_case["headers"]["authorization"] = json!(header);
    // One name, two values: API Gateway lists both in multiValueHeaders.
    let mut repeated = event_value(EventKind::RestRequest, Some(&header));
    repeated["multiValueHeaders"]["Authorization"] = json!([header, header]);
    // headers and multiValueHeaders disagree.
    let mut disagreeing = event_value(EventKind::RestRequest, Some(&header));
    disagreeing["multiValueHeaders"]["Authorization"] = json!(["Bearer other.token.value"]);

    for event in [differing_case, repeated, disagreeing] {
        let decision = authorizer().decide(&serde_json::to_vec(&event).unwrap(), NOW);
        assert_eq!(
            decision.verdict,
            Verdict::Unauthorized(cred(CredentialError::Ambiguous))
        );
        assert_eq!(decision.outcome, AuthorizerOutcome::Unauthorized);
    }
}

#[test]
fn http_v2_with_a_repeated_authorization_header_is_not_authorized() {
    // API Gateway joins repeated headers with a comma in payload 2.0.
    let token = valid_token();
    let event = event(
        EventKind::HttpV2,
        Some(&format!("Bearer {token},Bearer {token}")),
    );
    let decision = authorizer().decide(&event, NOW);
    assert_eq!(
        decision.verdict,
        Verdict::Unauthorized(cred(CredentialError::NotOneToken))
    );
    assert_eq!(
        decision.outcome,
        AuthorizerOutcome::Respond(json!({ "isAuthorized": false }))
    );
}

#[test]
fn rest_event_without_a_usable_method_arn_is_unauthorized() {
    for kind in [EventKind::RestToken, EventKind::RestRequest] {
        for arn in [
            None,
            Some("arn:aws:lambda:us-east-1:123456789012:function:x"),
            Some(""),
        ] {
            let mut event = event_value(kind, Some(&format!("Bearer {}", valid_token())));
            match arn {
                Some(arn) => event["methodArn"] = json!(arn),
                None => {
                    event.as_object_mut().unwrap().remove("methodArn");
                }
            }
            let decision = authorizer().decide(&serde_json::to_vec(&event).unwrap(), NOW);
            assert_eq!(
                decision.verdict,
                Verdict::Unauthorized(DenyReason::IncompleteEvent("methodArn"))
            );
            assert_eq!(decision.outcome, AuthorizerOutcome::Unauthorized);
        }
    }
}

#[test]
fn http_v2_event_without_request_context_http_is_not_authorized() {
    let mut event = event_value(
        EventKind::HttpV2,
        Some(&format!("Bearer {}", valid_token())),
    );
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("http");
    let decision = authorizer().decide(&serde_json::to_vec(&event).unwrap(), NOW);
    assert_eq!(
        decision.verdict,
        Verdict::Unauthorized(DenyReason::IncompleteEvent("requestContext.http"))
    );
    assert_eq!(
        decision.outcome,
        AuthorizerOutcome::Respond(json!({ "isAuthorized": false }))
    );
}

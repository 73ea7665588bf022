//! The typed answer (docs/API.md "Authorizer events"): the structs serialise to exactly the
//! bytes of the JSON answer, the typed policy evaluation agrees with IAM's, and the
//! decision's log line is one line without the token.

use serde_json::json;
use tessera_authorizer::{
    Effect, EventKind, LogFormat, PolicyResponse, Response, Ruling, SimpleResponse, Unauthorized,
    Verdict, iam_match,
};

use crate::helpers::*;

const RULES: &str = "GET /admin/*=admin;DELETE /auth/sessions/*=sessions:write";
const REST_KINDS: [EventKind; 2] = [EventKind::RestToken, EventKind::RestRequest];

fn ruling(rules: &str, event: &[u8]) -> Ruling {
    authorizer_with_rules(rules).authorize(event, NOW)
}

fn policy(ruling: &Ruling) -> &PolicyResponse {
    ruling.policy().expect("a REST policy")
}

/// The JSON bytes the function hands API Gateway for this ruling's answer.
fn answer_bytes(ruling: &Ruling) -> Vec<u8> {
    serde_json::to_vec(ruling.answer.as_ref().unwrap()).unwrap()
}

#[test]
fn the_typed_answer_serialises_to_the_bytes_of_the_json_answer() {
    // Given every kind of answer with a body: a plain REST allow, a REST allow and a REST
    // forbid that carry Deny statements, an HTTP API allow and refusal,
    let allow_everywhere = token_with("profile admin sessions:write");
    let profile_only = token_with("profile");
    let cases = [
        (
            event_with_token(EventKind::RestToken, &allow_everywhere),
            rest_policy("profile admin sessions:write", &[]),
        ),
        (
            event_with_token(EventKind::RestRequest, &profile_only),
            rest_policy("profile", &["GET/admin/*", "DELETE/auth/sessions/*"]),
        ),
        (
            event_for_route(EventKind::RestToken, &profile_only, "GET", "/admin/users"),
            rest_policy(
                "profile",
                &["GET/admin/*", "DELETE/auth/sessions/*", "GET/admin/users"],
            ),
        ),
        (
            event_with_token(EventKind::HttpV2, &profile_only),
            json!({ "isAuthorized": true, "context": expected_context("profile") }),
        ),
        (
            event_for_route(EventKind::HttpV2, &profile_only, "GET", "/admin/users"),
            json!({ "isAuthorized": false }),
        ),
        (
            event_with_token(EventKind::HttpV2, "not-a-token"),
            json!({ "isAuthorized": false }),
        ),
    ];
    for (event, expected) in cases {
        // when the authorizer rules,
        let ruling = ruling(RULES, &event);
        // then the typed answer's bytes are the JSON answer's bytes (sorted keys, as a
        // serde_json tree prints them), and its JSON view is that answer too.
        assert_eq!(
            String::from_utf8(answer_bytes(&ruling)).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        assert_eq!(ruling.answer.as_ref().unwrap().to_json(), expected);
    }
}

#[test]
fn a_rest_request_without_a_valid_token_is_the_error_unauthorized() {
    for kind in REST_KINDS {
        let ruling = ruling(RULES, &event_with_token(kind, "not-a-token"));
        assert_eq!(ruling.answer, Err(Unauthorized));
        assert_eq!(Unauthorized.to_string(), "Unauthorized");
    }
}

#[test]
fn the_typed_ruling_and_the_json_decision_agree() {
    let token = token_with("profile");
    for kind in ALL_KINDS {
        for event in [
            event_with_token(kind, &token),
            event_for_route(kind, &token, "GET", "/admin/x"),
            event(kind, None),
        ] {
            let typed = ruling(RULES, &event);
            let decision = authorizer_with_rules(RULES).decide(&event, NOW);
            assert_eq!(decision, typed.clone().into(), "{kind}");
            assert_eq!(decision.verdict, typed.verdict);
        }
    }
}

#[test]
fn policy_evaluation_denies_explicitly_then_allows_then_denies_implicitly() {
    // Given the policy for a token lacking `admin` and `sessions:write`,
    let ruling = ruling(
        RULES,
        &event_with_token(EventKind::RestToken, &token_with("profile")),
    );
    let policy = policy(&ruling);
    let json = ruling.answer.as_ref().unwrap().to_json();
    // then for every method ARN the typed evaluation agrees with IAM's rules (the test's
    // own evaluator): the Deny statements win over the Allow of the whole API,
    let arns = [
        ("GET/me", Effect::Allow),
        ("GET/", Effect::Allow),
        ("POST/auth/logout", Effect::Allow),
        ("GET/admin/users", Effect::Deny),
        ("GET/admin/users/42/roles", Effect::Deny),
        ("POST/admin/users", Effect::Allow),
        ("DELETE/auth/sessions/abc", Effect::Deny),
        ("GET/auth/sessions", Effect::Allow),
    ];
    for (route, effect) in arns {
        let arn = format!("{REST_API}/{route}");
        assert_eq!(policy.evaluate(&arn), effect, "{route}");
        assert_eq!(iam_allows(&json, &arn), effect == Effect::Allow, "{route}");
    }
    // and a method ARN of another API or stage is denied implicitly.
    assert_eq!(
        policy.evaluate("arn:aws:execute-api:us-east-1:123456789012:abcdef1234/test/GET/me"),
        Effect::Deny
    );
    assert_eq!(
        policy.evaluate("arn:aws:execute-api:us-east-1:123456789012:other/prod/GET/me"),
        Effect::Deny
    );
}

#[test]
fn iam_wildcards_match_like_the_reference_evaluator() {
    let patterns = [
        "a/*/c",
        "*",
        "a?c",
        "*/GET/admin/*",
        "x*y*z",
        "",
        "??",
        "a*",
    ];
    let texts = [
        "a/b/c",
        "a/b/x/c",
        "",
        "abc",
        "ac",
        "p/GET/admin/u",
        "xyz",
        "xayaz",
        "a",
    ];
    for pattern in patterns {
        for text in texts {
            assert_eq!(
                iam_match(pattern, text),
                glob(pattern.as_bytes(), text.as_bytes()),
                "{pattern} ~ {text}"
            );
        }
    }
}

#[test]
fn the_context_is_the_verified_tokens_and_the_principal_is_its_sub() {
    let ruling = ruling(
        "",
        &event_with_token(EventKind::RestToken, &token_with("profile")),
    );
    let policy = policy(&ruling);
    assert_eq!(policy.principal_id, "usr_7Hq2mR9x");
    let entries = policy.context.entries();
    assert_eq!(
        serde_json::to_value(policy.context.clone()).unwrap(),
        expected_context("profile")
    );
    assert_eq!(
        entries.map(|(name, _)| name),
        ["client_id", "jti", "scope", "sid", "sub"]
    );
    let v2 = ruling_v2("profile");
    assert_eq!(
        v2,
        Response::Simple(SimpleResponse::authorized(policy.context.clone()))
    );
}

fn ruling_v2(scope: &str) -> Response {
    ruling("", &event_with_token(EventKind::HttpV2, &token_with(scope)))
        .answer
        .unwrap()
}

/// Every log line of `ruling`, in both formats.
fn lines(ruling: &Ruling) -> [String; 2] {
    [LogFormat::Text, LogFormat::Json].map(|format| {
        let mut line = String::new();
        ruling.write_log_line(format, Some("req-1"), &mut line);
        line
    })
}

#[test]
fn the_log_line_is_one_line_with_the_reason_and_never_the_token() {
    // Given a valid token, an expired one and a refresh token, each in every event kind,
    // on an allowed route, a route needing a scope the token lacks, and in mangled headers,
    let mut expired = claims("profile");
    expired.exp = NOW - 3600;
    let tokens = [valid_token(), issue(&expired), refresh_token()];
    let mut all = String::new();
    for token in &tokens {
        for kind in ALL_KINDS {
            // (headers as a string: a parse error, whose serde message would quote it)
            let mut broken = event_value(kind, None);
            broken["headers"] = json!(format!("Bearer {token}"));
            for event in [
                event_with_token(kind, token),
                event_for_route(kind, token, "GET", "/admin/x"),
                event(kind, Some(&format!("Bearer {token} {token}"))),
                event(kind, Some(&format!("Basic {token}"))),
                serde_json::to_vec(&broken).unwrap(),
                format!("{{\"type\": \"{token}\"}}").into_bytes(),
                format!("\"Bearer {token}\"").into_bytes(),
            ] {
                // when the ruling's line is formatted,
                let ruling = ruling(RULES, &event);
                for line in lines(&ruling) {
                    // then it is exactly one line,
                    assert!(line.ends_with('\n'), "{line}");
                    assert_eq!(line.matches('\n').count(), 1, "{line}");
                    all.push_str(&line);
                }
                let json: serde_json::Value = serde_json::from_str(&lines(&ruling)[1]).unwrap();
                assert_eq!(json["requestId"], "req-1");
                assert_eq!(json["level"], ruling.log_level().as_str());
            }
        }
    }
    // naming the reason,
    assert!(all.contains("token expired"), "{all}");
    assert!(all.contains("wrong token type"), "{all}");
    assert!(all.contains("request denied"), "{all}");
    assert!(
        all.contains("token lacks the scope the route requires"),
        "{all}"
    );
    assert!(all.contains("unparseable authorizer event"), "{all}");
    assert!(all.contains("authorizer event of unknown kind"), "{all}");
    // and never a token, nor any one of its segments.
    for token in &tokens {
        for segment in token.split('.') {
            assert!(!all.contains(segment), "a token segment was logged:\n{all}");
        }
    }
}

#[test]
fn refusals_log_at_info_unusable_events_at_warn_and_allows_at_debug() {
    let token = valid_token();
    let cases = [
        (event_with_token(EventKind::RestToken, &token), "DEBUG"),
        (event_with_token(EventKind::RestToken, "x.y.z"), "INFO"),
        (
            event_for_route(EventKind::HttpV2, &token, "GET", "/admin/x"),
            "INFO",
        ),
        (b"[1]".to_vec(), "WARN"),
        (b"{\"type\": 1}".to_vec(), "WARN"),
        (b"{\"type\": \"OTHER\"}".to_vec(), "WARN"),
        (
            br#"{"type": "TOKEN", "authorizationToken": "Bearer x"}"#.to_vec(),
            "WARN",
        ),
    ];
    for (event, level) in cases {
        let ruling = ruling(RULES, &event);
        assert_eq!(ruling.log_level().as_str(), level, "{ruling:?}");
        assert!(lines(&ruling)[0].starts_with(level), "{:?}", lines(&ruling));
    }
}

#[test]
fn a_route_in_the_log_line_is_escaped_so_it_cannot_forge_another_line() {
    // Given a route API Gateway passed through with a newline and a quote in it,
    let event = event_for_route(
        EventKind::HttpV2,
        &valid_token(),
        "GET",
        "/admin/x\n INFO forged \"line\"",
    );
    let ruling = ruling(RULES, &event);
    assert!(matches!(ruling.verdict, Verdict::Forbidden { .. }));
    // then each format keeps it inside one line, escaped.
    for line in lines(&ruling) {
        assert_eq!(line.matches('\n').count(), 1, "{line}");
    }
    let json: serde_json::Value = serde_json::from_str(&lines(&ruling)[1]).unwrap();
    assert_eq!(json["path"], "/admin/x\n INFO forged \"line\"");
    assert_eq!(json["scope"], "admin");
    assert_eq!(json["method"], "GET");
}

fn token_with(scope: &str) -> String {
    issue(&claims(scope))
}

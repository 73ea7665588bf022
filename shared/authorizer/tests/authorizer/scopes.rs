//! Route -> required-scope rules: a valid token without the route's scope gets 403 (REST:
//! a policy denying the route; HTTP API 2.0: `isAuthorized: false`), and REST answers stay
//! correct when API Gateway caches them by token and reuses them for other routes.

use serde_json::json;
use tessera_authorizer::{AuthorizerOutcome, EventKind, Verdict};

use crate::helpers::*;

const RULES: &str = "GET /admin/*=admin;DELETE /auth/sessions/*=sessions:write";
const REST_KINDS: [EventKind; 2] = [EventKind::RestToken, EventKind::RestRequest];

fn token_with(scope: &str) -> String {
    issue(&claims(scope))
}

fn policy_of(outcome: &AuthorizerOutcome) -> &serde_json::Value {
    match outcome {
        AuthorizerOutcome::Respond(policy) => policy,
        AuthorizerOutcome::Unauthorized => panic!("expected a policy, got Unauthorized"),
    }
}

#[test]
fn rest_token_lacking_the_route_scope_gets_a_policy_denying_the_route() {
    for kind in REST_KINDS {
        // Given a valid token with scope `profile` calling GET /admin/users, which needs `admin`,
        let event = event_for_route(kind, &token_with("profile"), "GET", "/admin/users");
        // when the authorizer decides,
        let decision = authorizer_with_rules(RULES).decide(&event, NOW);
        // then it is forbidden: the policy explicitly denies the admin routes, the session
        // routes the token also lacks the scope for, and this very method ARN,
        assert_eq!(
            decision.verdict,
            Verdict::Forbidden {
                missing_scope: "admin".into()
            }
        );
        assert_eq!(
            decision.outcome,
            AuthorizerOutcome::Respond(rest_policy(
                "profile",
                &["GET/admin/*", "DELETE/auth/sessions/*", "GET/admin/users"]
            )),
            "{kind}"
        );
        // and API Gateway, evaluating it, answers 403 for this route.
        let policy = policy_of(&decision.outcome);
        assert!(
            !iam_allows(policy, &format!("{REST_API}/GET/admin/users")),
            "{kind}"
        );
    }
}

#[test]
fn rest_token_with_the_route_scope_is_allowed() {
    for kind in REST_KINDS {
        let event = event_for_route(kind, &token_with("profile admin"), "GET", "/admin/users");
        let decision = authorizer_with_rules(RULES).decide(&event, NOW);
        assert_eq!(decision.verdict, Verdict::Allow, "{kind}");
        // Still denies the session routes, whose scope this token lacks.
        assert_eq!(
            decision.outcome,
            AuthorizerOutcome::Respond(rest_policy("profile admin", &["DELETE/auth/sessions/*"])),
            "{kind}"
        );
        assert!(iam_allows(
            policy_of(&decision.outcome),
            &format!("{REST_API}/GET/admin/users")
        ));
    }
}

#[test]
fn rest_token_with_every_scope_gets_a_plain_allow() {
    let event = event_for_route(
        EventKind::RestToken,
        &token_with("sessions:write profile admin"),
        "DELETE",
        "/auth/sessions/sid_3nV8cL0e",
    );
    let outcome = authorizer_with_rules(RULES).handle(&event, NOW);
    assert_eq!(
        outcome,
        AuthorizerOutcome::Respond(rest_policy("sessions:write profile admin", &[]))
    );
}

#[test]
fn cached_allow_for_a_token_lacking_admin_still_denies_the_admin_route() {
    for kind in REST_KINDS {
        // Given a token without `admin` that first calls GET /me (allowed),
        let event = event_for_route(kind, &token_with("profile"), "GET", "/me");
        let decision = authorizer_with_rules(RULES).decide(&event, NOW);
        assert_eq!(decision.verdict, Verdict::Allow);
        // the Allow answer carries an explicit Deny for the admin route resource,
        let cached = policy_of(&decision.outcome);
        assert_eq!(
            cached["policyDocument"]["Statement"][1],
            json!({
                "Action": "execute-api:Invoke",
                "Effect": "Deny",
                "Resource": [
                    format!("{REST_API}/GET/admin/*"),
                    format!("{REST_API}/DELETE/auth/sessions/*"),
                ],
            })
        );
        // so when API Gateway reuses this cached answer (cache key = the token) for other
        // routes, the admin and session routes stay closed and the rest stay open.
        for (method_and_path, allowed) in [
            ("GET/me", true),
            ("POST/auth/logout", true),
            ("GET/auth/sessions", true),
            ("GET/admin/users", false),
            ("GET/admin/users/42/roles", false),
            ("DELETE/auth/sessions/sid_1", false),
            ("GET/admin", true), // `/admin/*` is the routes below /admin, not /admin itself
        ] {
            let arn = format!("{REST_API}/{method_and_path}");
            assert_eq!(
                iam_allows(cached, &arn),
                allowed,
                "{kind}: {method_and_path}"
            );
            // And the cached answer is exactly what a fresh decision for that route would
            // have enforced.
            let (method, path) = method_and_path.split_once('/').unwrap();
            let fresh = authorizer_with_rules(RULES).decide(
                &event_for_route(kind, &token_with("profile"), method, &format!("/{path}")),
                NOW,
            );
            assert_eq!(
                fresh.verdict == Verdict::Allow,
                allowed,
                "{kind}: {method_and_path}"
            );
        }
    }
}

#[test]
fn rest_allow_is_the_same_answer_whichever_allowed_route_asked() {
    let token = token_with("profile");
    let answers: Vec<AuthorizerOutcome> = [("GET", "/me"), ("POST", "/auth/logout"), ("GET", "/")]
        .iter()
        .map(|(m, p)| {
            authorizer_with_rules(RULES)
                .handle(&event_for_route(EventKind::RestToken, &token, m, p), NOW)
        })
        .collect();
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

#[test]
fn rest_request_whose_path_and_method_arn_disagree_is_denied_if_either_needs_the_scope() {
    // The event's path says /admin/users while its ARN says /me: the rule applies.
    let mut event = event_value(
        EventKind::RestRequest,
        Some(&format!("Bearer {}", token_with("profile"))),
    );
    event["path"] = json!("/admin/users");
    let decision = authorizer_with_rules(RULES).decide(&serde_json::to_vec(&event).unwrap(), NOW);
    assert_eq!(
        decision.verdict,
        Verdict::Forbidden {
            missing_scope: "admin".into()
        }
    );
    // The policy denies the ARN API Gateway will evaluate.
    assert!(!iam_allows(
        policy_of(&decision.outcome),
        &format!("{REST_API}/GET/me")
    ));
}

#[test]
fn http_v2_token_lacking_the_route_scope_is_not_authorized() {
    let event = event_for_route(
        EventKind::HttpV2,
        &token_with("profile"),
        "GET",
        "/admin/users",
    );
    let decision = authorizer_with_rules(RULES).decide(&event, NOW);
    assert_eq!(
        decision.verdict,
        Verdict::Forbidden {
            missing_scope: "admin".into()
        }
    );
    assert_eq!(
        decision.outcome,
        AuthorizerOutcome::Respond(json!({ "isAuthorized": false }))
    );
}

#[test]
fn http_v2_token_with_the_route_scope_is_authorized() {
    let event = event_for_route(
        EventKind::HttpV2,
        &token_with("profile admin"),
        "GET",
        "/admin/users",
    );
    let outcome = authorizer_with_rules(RULES).handle(&event, NOW);
    assert_eq!(
        outcome,
        AuthorizerOutcome::Respond(json!({
            "isAuthorized": true,
            "context": expected_context("profile admin"),
        }))
    );
}

#[test]
fn http_v2_routes_no_rule_covers_need_only_a_valid_token() {
    for (method, path) in [("GET", "/me"), ("POST", "/admin/users"), ("GET", "/admin")] {
        let event = event_for_route(EventKind::HttpV2, &token_with(""), method, path);
        let decision = authorizer_with_rules(RULES).decide(&event, NOW);
        assert_eq!(decision.verdict, Verdict::Allow, "{method} {path}");
    }
}

#[test]
fn http_v2_on_a_named_stage_matches_rules_without_the_stage_prefix() {
    // On stage `prod`, API Gateway sends the path as /prod/admin/users.
    let event = event_for_route_on_stage(
        EventKind::HttpV2,
        &token_with("profile"),
        "GET",
        "/admin/users",
        Some("prod"),
    );
    let decision = authorizer_with_rules(RULES).decide(&event, NOW);
    assert_eq!(
        decision.verdict,
        Verdict::Forbidden {
            missing_scope: "admin".into()
        }
    );
}

#[test]
fn http_v2_doubled_slashes_do_not_slip_past_a_rule() {
    for path in ["//admin/users", "/admin//users", "/admin/users/"] {
        let event = event_for_route(EventKind::HttpV2, &token_with("profile"), "GET", path);
        let decision = authorizer_with_rules(RULES).decide(&event, NOW);
        assert_eq!(
            decision.verdict,
            Verdict::Forbidden {
                missing_scope: "admin".into()
            },
            "{path}"
        );
    }
}

#[test]
fn a_scope_must_match_a_whole_scope_token() {
    for scope in ["administrator", "profile admins", "ADMIN", "admin:read"] {
        let event = event_for_route(EventKind::HttpV2, &token_with(scope), "GET", "/admin/users");
        let decision = authorizer_with_rules(RULES).decide(&event, NOW);
        assert_eq!(
            decision.verdict,
            Verdict::Forbidden {
                missing_scope: "admin".into()
            },
            "{scope}"
        );
    }
}

#[test]
fn the_test_iam_evaluator_matches_resources_like_iam() {
    assert!(glob(b"a/*/*", b"a/GET/"));
    assert!(glob(b"a/*/*", b"a/GET/me/x"));
    assert!(!glob(b"a/GET/admin/*", b"a/GET/admin"));
    assert!(glob(b"a/GET/admin/*", b"a/GET/admin/users"));
    assert!(glob(b"a/?ET/me", b"a/GET/me"));
    assert!(!glob(b"a/GET/me", b"a/GET/me/"));
}

//! An HTTP API caches a Lambda authorizer's simple response under the values of its identity
//! sources and reuses it on every route. These tests take the identity sources DEPLOY.md
//! documents (from the command between its `http-api-authorizer` markers, so the guide and
//! the test cannot drift apart), run a model of that cache in front of the authorizer, and
//! check that scope rules still hold on a cache hit.

use std::collections::HashMap;

use serde_json::{Value, json};
use tessera_authorizer::{Authorizer, AuthorizerOutcome, EventKind};

use crate::helpers::*;

const DEPLOY_MD: &str = include_str!("../../../../DEPLOY.md");
const RULES: &str = "GET /admin/*=admin";

/// The documented `aws apigatewayv2 create-authorizer` command for the HTTP API.
struct Documented {
    identity_sources: Vec<String>,
    ttl_secs: u64,
}

/// The command between the markers, continuation lines joined, split into shell words
/// (single quotes as the shell reads them).
fn documented_command() -> Vec<String> {
    let (_, rest) = DEPLOY_MD
        .split_once("<!-- http-api-authorizer")
        .expect("DEPLOY.md has the <!-- http-api-authorizer --> marker");
    let (block, _) = rest
        .split_once("<!-- /http-api-authorizer -->")
        .expect("DEPLOY.md closes the http-api-authorizer marker");
    let command = block
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with("aws apigatewayv2 create-authorizer"))
        .take_while(|line| !line.starts_with("```"))
        .map(|line| line.trim_end_matches('\\'))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        !command.is_empty(),
        "no create-authorizer command in:\n{block}"
    );
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quote in: {command}");
    if in_word {
        words.push(word);
    }
    words
}

fn documented() -> Documented {
    let words = documented_command();
    let values = |option: &str| -> Vec<String> {
        let start = words
            .iter()
            .position(|w| w == option)
            .unwrap_or_else(|| panic!("the documented command has no {option}: {words:?}"));
        words[start + 1..]
            .iter()
            .take_while(|w| !w.starts_with("--"))
            .cloned()
            .collect()
    };
    let ttl = values("--authorizer-result-ttl-in-seconds");
    assert_eq!(ttl.len(), 1, "{ttl:?}");
    Documented {
        identity_sources: values("--identity-source"),
        ttl_secs: ttl[0].parse().unwrap(),
    }
}

/// The value of one identity source selection expression in a 2.0 event, as API Gateway
/// reads it. An expression this model does not know fails the test rather than being
/// guessed at.
fn identity_value(expression: &str, event: &Value) -> String {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let found = if let Some(name) = expression.strip_prefix("$request.header.") {
        // HTTP API lower-cases header names; selection expressions ignore case.
        event["headers"]
            .as_object()
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| text(v))
    } else if let Some(name) = expression.strip_prefix("$request.querystring.") {
        text(&event["queryStringParameters"][name])
    } else if let Some(name) = expression.strip_prefix("$stageVariables.") {
        text(&event["stageVariables"][name])
    } else if let Some(name) = expression.strip_prefix("$context.") {
        text(&event["requestContext"][name])
    } else {
        panic!("identity source {expression:?} is not a selection expression this model knows")
    };
    // API Gateway answers 401 itself, without calling the authorizer, when one is missing.
    found.unwrap_or_else(|| panic!("identity source {expression:?} is missing from the event"))
}

/// API Gateway's HTTP API authorizer cache in front of an authorizer: one entry per tuple of
/// identity source values, whatever the route, for as long as the TTL (all of one test).
struct HttpApiGateway<'a> {
    authorizer: &'a Authorizer,
    identity_sources: Vec<String>,
    ttl_secs: u64,
    cache: HashMap<Vec<String>, Value>,
}

/// One answer, and whether it came from the cache.
#[derive(Debug, PartialEq)]
struct Served {
    answer: Value,
    cached: bool,
}

impl<'a> HttpApiGateway<'a> {
    fn new(authorizer: &'a Authorizer, identity_sources: &[String], ttl_secs: u64) -> Self {
        Self {
            authorizer,
            identity_sources: identity_sources.to_vec(),
            ttl_secs,
            cache: HashMap::new(),
        }
    }

    fn authorize(&mut self, event: &Value) -> Served {
        let key: Vec<String> = self
            .identity_sources
            .iter()
            .map(|expression| identity_value(expression, event))
            .collect();
        if let Some(answer) = self.cache.get(&key) {
            return Served {
                answer: answer.clone(),
                cached: true,
            };
        }
        let answer = match self.authorizer.handle_value(event, NOW) {
            AuthorizerOutcome::Respond(answer) => answer,
            AuthorizerOutcome::Unauthorized => panic!("a 2.0 event always gets an answer"),
        };
        if self.ttl_secs > 0 {
            self.cache.insert(key, answer.clone());
        }
        Served {
            answer,
            cached: false,
        }
    }
}

/// A 2.0 event for `path` on the route API Gateway matched (`route_key`, as declared).
fn http_event(token: &str, method: &str, path: &str, route_key: &str) -> Value {
    let mut event: Value =
        serde_json::from_slice(&event_for_route(EventKind::HttpV2, token, method, path)).unwrap();
    event["routeKey"] = json!(route_key);
    event["requestContext"]["routeKey"] = json!(route_key);
    event
}

fn allowed(served: &Served) -> bool {
    served.answer["isAuthorized"] == json!(true)
}

#[test]
fn deploy_md_documents_the_route_key_as_an_identity_source_or_no_cache() {
    let doc = documented();
    assert!(
        doc.identity_sources
            .contains(&"$request.header.Authorization".to_owned()),
        "{:?}",
        doc.identity_sources
    );
    assert!(
        doc.ttl_secs == 0
            || doc
                .identity_sources
                .contains(&"$context.routeKey".to_owned()),
        "with a cache, the route key must be part of its key: {:?}, ttl {}",
        doc.identity_sources,
        doc.ttl_secs
    );
}

#[test]
fn http_api_cache_keyed_as_documented_does_not_serve_a_me_true_on_an_admin_route() {
    // Given the documented identity sources, rules `GET /admin/*=admin`, and a token
    // without `admin`,
    let doc = documented();
    let authorizer = authorizer_with_rules(RULES);
    let mut gateway = HttpApiGateway::new(&authorizer, &doc.identity_sources, doc.ttl_secs);
    let token = issue(&claims("profile"));

    // when the token is allowed on GET /me,
    let me = gateway.authorize(&http_event(&token, "GET", "/me", "GET /me"));
    assert!(allowed(&me), "{me:?}");
    assert!(!me.cached);

    // then GET /admin/x is not served that answer: the cache key differs, and the fresh
    // decision is false,
    let admin = gateway.authorize(&http_event(
        &token,
        "GET",
        "/admin/x",
        "GET /admin/{proxy+}",
    ));
    assert_eq!(
        admin,
        Served {
            answer: json!({ "isAuthorized": false }),
            cached: false,
        }
    );

    // while GET /me again is still a cache hit (when caching is on): the cache still works.
    let again = gateway.authorize(&http_event(&token, "GET", "/me", "GET /me"));
    assert!(allowed(&again), "{again:?}");
    assert_eq!(again.cached, doc.ttl_secs > 0);
}

#[test]
fn http_api_cache_keyed_on_the_authorization_header_alone_leaks_a_me_true_to_an_admin_route() {
    // The same requests through a cache keyed as DEPLOY.md used to document: the test can
    // see the bug it guards against.
    let authorizer = authorizer_with_rules(RULES);
    let header_only = ["$request.header.Authorization".to_owned()];
    let mut gateway = HttpApiGateway::new(&authorizer, &header_only, 300);
    let token = issue(&claims("profile"));

    assert!(allowed(
        &gateway.authorize(&http_event(&token, "GET", "/me", "GET /me"))
    ));
    let admin = gateway.authorize(&http_event(
        &token,
        "GET",
        "/admin/x",
        "GET /admin/{proxy+}",
    ));
    assert!(admin.cached && allowed(&admin), "{admin:?}");
    // The authorizer itself would have said no.
    let fresh = authorizer.handle_value(
        &http_event(&token, "GET", "/admin/x", "GET /admin/{proxy+}"),
        NOW,
    );
    assert_eq!(
        fresh,
        AuthorizerOutcome::Respond(json!({ "isAuthorized": false }))
    );
}

//! API Gateway's side of a Lambda authorizer, done locally: the TOKEN event it sends, the
//! method ARN it names, and how it evaluates the IAM policy it gets back (an explicit Deny
//! wins, then an Allow covering the method ARN, else deny).

use serde::Serialize;
#[cfg(test)]
use serde_json::json;
use serde_json::{Map, Value};

/// The REST API stage `tessera serve` pretends to be; it appears in ARNs only (the path the
/// integration sees carries no stage, as with `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`).
pub const STAGE: &str = "local";
pub(crate) const REGION: &str = "local";
pub(crate) const ACCOUNT: &str = "000000000000";
pub(crate) const API_ID: &str = "tessera";

/// The ARN API Gateway names the invoked method with in authorizer events.
pub fn method_arn(method: &str, path: &str) -> String {
    format!(
        "arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}/{}",
        path.trim_start_matches('/')
    )
}

/// The REST API TOKEN authorizer event for a request carrying `authorization`, as the JSON
/// bytes the authorizer reads: serialised straight from borrowed fields, with no
/// intermediate `Value` (this runs on every protected request).
pub fn token_event_bytes(authorization: &str, method: &str, path: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct TokenEvent<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(rename = "authorizationToken")]
        authorization_token: &'a str,
        #[serde(rename = "methodArn")]
        method_arn: &'a str,
    }
    let arn = method_arn(method, path);
    // Serialising borrowed strings cannot fail; if it ever did, an empty event is denied.
    serde_json::to_vec(&TokenEvent {
        kind: "TOKEN",
        authorization_token: authorization,
        method_arn: &arn,
    })
    .unwrap_or_default()
}

/// The REST API TOKEN authorizer event for a request carrying `authorization`.
#[cfg(test)]
pub fn token_event(authorization: &str, method: &str, path: &str) -> Value {
    json!({
        "type": "TOKEN",
        "authorizationToken": authorization,
        "methodArn": method_arn(method, path),
    })
}

/// What API Gateway does with an authorizer's IAM policy.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyDecision {
    /// Allowed: the integration runs with this principal and context.
    Allow {
        /// The policy's `principalId`.
        principal_id: String,
        /// The policy's `context`, passed on as `requestContext.authorizer`.
        context: Map<String, Value>,
    },
    /// Denied (explicitly, or no statement allows the method): 403.
    Deny,
    /// The authorizer's answer is not a usable policy: API Gateway answers 500 (it
    /// reports an authorizer configuration error, not a client error).
    Invalid,
}

/// Evaluates an authorizer's policy against the invoked method as API Gateway does: an
/// explicit Deny matching the ARN wins, then an Allow matching it, else deny.
pub fn evaluate_policy(policy: &Value, method_arn: &str) -> PolicyDecision {
    let Some(principal_id) = policy.get("principalId").and_then(Value::as_str) else {
        return PolicyDecision::Invalid;
    };
    let statements = match policy.pointer("/policyDocument/Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return PolicyDecision::Invalid,
    };
    let mut allowed = false;
    for statement in statements {
        let covers_invoke = strings(statement.get("Action"))
            .iter()
            .any(|a| glob(a, "execute-api:Invoke"));
        let covers_arn = strings(statement.get("Resource"))
            .iter()
            .any(|r| glob(r, method_arn));
        if !(covers_invoke && covers_arn) {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return PolicyDecision::Deny,
            Some("Allow") => allowed = true,
            _ => return PolicyDecision::Invalid,
        }
    }
    if !allowed {
        return PolicyDecision::Deny;
    }
    let context = policy
        .get("context")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    PolicyDecision::Allow {
        principal_id: principal_id.to_owned(),
        context,
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM resource matching: `*` matches any run of characters (slashes included), `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    pi = bp + 1;
                    ti = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    p.iter().skip(pi).all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deny_statement_wins_over_a_wildcard_allow() {
        let arn = method_arn("GET", "/admin/users");
        let policy = json!({
            "principalId": "u",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow",
                 "Resource": format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/*/*")},
                {"Action": "execute-api:Invoke", "Effect": "Deny",
                 "Resource": [format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/GET/admin/*")]}
            ]},
        });
        assert_eq!(evaluate_policy(&policy, &arn), PolicyDecision::Deny);
        assert!(matches!(
            evaluate_policy(&policy, &method_arn("GET", "/me")),
            PolicyDecision::Allow { .. }
        ));
    }

    #[test]
    fn a_policy_that_allows_nothing_here_denies() {
        let policy = json!({
            "principalId": "u",
            "policyDocument": {"Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:x:1:other/*"}
            ]},
        });
        assert_eq!(
            evaluate_policy(&policy, &method_arn("GET", "/me")),
            PolicyDecision::Deny
        );
        assert_eq!(evaluate_policy(&json!({}), "x"), PolicyDecision::Invalid);
    }

    #[test]
    fn iam_wildcards_span_slashes() {
        assert!(glob("a/*/c", "a/b/x/c"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a/*/c", "a/b/d"));
    }

    #[test]
    fn the_token_event_bytes_are_the_token_event() {
        let authorization = "Bearer a.b.c \"quoted\" \\ é";
        let bytes = token_event_bytes(authorization, "GET", "/me");
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, token_event(authorization, "GET", "/me"));
    }
}

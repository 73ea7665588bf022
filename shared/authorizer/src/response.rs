//! The authorizer's answer as typed structs, serialised straight to the JSON API Gateway
//! reads, and the IAM policy evaluation API Gateway applies to a REST answer.
//!
//! Field order is part of the contract: every struct declares its fields in the byte order
//! of their JSON names, so the serialised bytes are exactly those of the `serde_json::Value`
//! tree (whose object keys are sorted) that the authorizer answered before these types
//! existed. The tests hold them equal byte for byte.

use serde::Serialize;
use serde_json::Value;
use tessera_token::AccessClaims;

/// The only IAM action an API Gateway authorizer policy grants or denies.
pub const INVOKE_ACTION: &str = "execute-api:Invoke";

/// The IAM policy language version every answer states.
pub const POLICY_VERSION: &str = "2012-10-17";

/// What the function hands back to API Gateway when it answers with a body (a REST policy
/// or an HTTP API 2.0 simple response). A request without a valid REST token gets no body
/// but the error [`crate::UNAUTHORIZED`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// REST TOKEN and REQUEST (and HTTP API payload 1.0): an IAM policy.
    Policy(PolicyResponse),
    /// HTTP API payload 2.0 with simple responses.
    Simple(SimpleResponse),
}

impl Response {
    /// The answer as a [`serde_json::Value`], for callers that still work on JSON trees.
    /// Costs a tree of allocations: the Lambda function serialises the typed answer instead.
    pub fn to_json(&self) -> Value {
        match self {
            Response::Policy(policy) => policy.to_json(),
            Response::Simple(simple) => simple.to_json(),
        }
    }

    /// The REST policy, when this is one.
    pub fn policy(&self) -> Option<&PolicyResponse> {
        match self {
            Response::Policy(policy) => Some(policy),
            Response::Simple(_) => None,
        }
    }
}

/// The context API Gateway passes to the integration (`requestContext.authorizer`): who is
/// calling, from the verified access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuthorizerContext {
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The token's id.
    pub jti: String,
    /// The token's space-separated scopes.
    pub scope: String,
    /// The refresh session the token belongs to.
    pub sid: String,
    /// The user's stable id.
    pub sub: String,
}

impl AuthorizerContext {
    /// The context for a verified token's claims.
    pub fn from_claims(claims: AccessClaims) -> Self {
        Self {
            client_id: claims.client_id,
            jti: claims.jti,
            scope: claims.scope,
            sid: claims.sid,
            sub: claims.sub,
        }
    }

    /// The context's fields as (name, value) pairs, in the order they are serialised: what
    /// a gateway copies into the integration's `requestContext.authorizer`.
    pub fn entries(&self) -> [(&'static str, &str); 5] {
        [
            ("client_id", &self.client_id),
            ("jti", &self.jti),
            ("scope", &self.scope),
            ("sid", &self.sid),
            ("sub", &self.sub),
        ]
    }
}

/// A REST authorizer's answer: `{"context", "policyDocument", "principalId"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyResponse {
    /// Passed to the integration when the policy allows the request.
    pub context: AuthorizerContext,
    /// The statements API Gateway evaluates against the method ARN.
    #[serde(rename = "policyDocument")]
    pub policy_document: PolicyDocument,
    /// The caller: the token's `sub`.
    #[serde(rename = "principalId")]
    pub principal_id: String,
}

impl PolicyResponse {
    /// What API Gateway does with this answer for a request to `method_arn` (see
    /// [`PolicyDocument::evaluate`]).
    pub fn evaluate(&self, method_arn: &str) -> Effect {
        self.policy_document.evaluate(method_arn)
    }

    /// The answer as a [`serde_json::Value`].
    pub fn to_json(&self) -> Value {
        // A tree of strings always serialises; the fallback is never reached and would deny.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `{"Statement": [..], "Version": "2012-10-17"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyDocument {
    /// The statements, the Allow first.
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
    /// Always [`POLICY_VERSION`].
    #[serde(rename = "Version")]
    pub version: &'static str,
}

impl PolicyDocument {
    /// Evaluates the policy for a request to `method_arn` as API Gateway does: an explicit
    /// Deny whose resource matches wins, then an Allow whose resource matches, else the
    /// implicit deny. Resource patterns use IAM's wildcards, which span slashes (see
    /// [`iam_match`]).
    pub fn evaluate(&self, method_arn: &str) -> Effect {
        let matching = |effect: Effect| {
            self.statement
                .iter()
                .any(|s| s.effect == effect && s.covers(method_arn))
        };
        if matching(Effect::Deny) {
            Effect::Deny
        } else if matching(Effect::Allow) {
            Effect::Allow
        } else {
            Effect::Deny
        }
    }
}

/// One statement: `{"Action", "Effect", "Resource"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// Always [`INVOKE_ACTION`].
    #[serde(rename = "Action")]
    pub action: &'static str,
    /// Allow or Deny.
    #[serde(rename = "Effect")]
    pub effect: Effect,
    /// The method ARN patterns the statement applies to.
    #[serde(rename = "Resource")]
    pub resource: Resource,
}

impl Statement {
    /// Whether this statement applies to invoking `method_arn`.
    pub fn covers(&self, method_arn: &str) -> bool {
        iam_match(self.action, INVOKE_ACTION)
            && self
                .resource
                .patterns()
                .iter()
                .any(|pattern| iam_match(pattern, method_arn))
    }
}

/// A statement's effect, and the outcome of evaluating a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// The request goes to the integration.
    Allow,
    /// API Gateway answers 403.
    Deny,
}

/// A statement's `Resource`: one pattern (the Allow, a string) or a list (the Deny).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    /// `"Resource": "arn:..."`.
    One(String),
    /// `"Resource": ["arn:...", ..]`.
    Many(Vec<String>),
}

impl Resource {
    /// The patterns, however many.
    pub fn patterns(&self) -> &[String] {
        match self {
            Resource::One(one) => std::slice::from_ref(one),
            Resource::Many(many) => many,
        }
    }
}

/// An HTTP API 2.0 simple response: `{"context", "isAuthorized"}`, the context only when
/// authorized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimpleResponse {
    /// Passed to the integration; absent from a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<AuthorizerContext>,
    /// Whether API Gateway lets the request through (false: 403).
    #[serde(rename = "isAuthorized")]
    pub is_authorized: bool,
}

impl SimpleResponse {
    /// `{"isAuthorized": false}`.
    pub fn refused() -> Self {
        Self {
            context: None,
            is_authorized: false,
        }
    }

    /// `{"context": .., "isAuthorized": true}`.
    pub fn authorized(context: AuthorizerContext) -> Self {
        Self {
            context: Some(context),
            is_authorized: true,
        }
    }

    /// The answer as a [`serde_json::Value`].
    pub fn to_json(&self) -> Value {
        // As for the policy: strings and a bool always serialise.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// IAM's wildcard match: `*` matches any run of characters, slashes included, and `?`
/// exactly one character; everything else matches itself, case-sensitively. No allocation;
/// backtracks only to the last `*`, so it is linear in practice and O(len²) at worst.
pub fn iam_match(pattern: &str, text: &str) -> bool {
    let mut p = pattern.chars();
    let mut t = text.chars();
    // Where to resume after a mismatch: the pattern just after the last `*`, and the text
    // from which that `*` is tried one character longer.
    let mut resume: Option<(std::str::Chars<'_>, std::str::Chars<'_>)> = None;
    while let Some(c) = t.clone().next() {
        let mut next = p.clone();
        match next.next() {
            Some('*') => {
                p = next;
                resume = Some((p.clone(), t.clone()));
            }
            Some(expected) if expected == '?' || expected == c => {
                p = next;
                t.next();
            }
            _ => match &mut resume {
                Some((after_star, from)) => {
                    // The `*` swallows one more character; `from` still has one, as it is
                    // never ahead of `t`, which does.
                    from.next();
                    p = after_star.clone();
                    t = from.clone();
                }
                None => return false,
            },
        }
    }
    p.all(|c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_wildcards_span_slashes_and_question_marks_take_one_character() {
        assert!(iam_match("a/*/c", "a/b/x/c"));
        assert!(iam_match("*", ""));
        assert!(iam_match("**", "abc"));
        assert!(iam_match("a?c", "abc"));
        assert!(iam_match("a?c", "a\u{e9}c"), "one character, not one byte");
        assert!(!iam_match("a??c", "a\u{e9}c"));
        assert!(!iam_match("a/*/c", "a/b/d"));
        assert!(!iam_match("a?c", "ac"));
        assert!(!iam_match("abc", "ab"));
        assert!(!iam_match("ab", "abc"));
        assert!(iam_match("*/GET/admin/*", "x/prod/GET/admin/users/1"));
        assert!(!iam_match("*/GET/admin/*", "x/prod/GET/administrator"));
        assert!(iam_match("*a*b*c", "xxaxxbxxbxc"));
    }
}

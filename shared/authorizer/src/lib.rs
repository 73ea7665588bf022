//! API Gateway Lambda authorizer decisions: an authorizer event in, the JSON answer out.
//!
//! [`Authorizer::handle`] takes the raw event API Gateway sends and recognises its kind from
//! the event itself: a REST API TOKEN authorizer, a REST API REQUEST authorizer (and an HTTP
//! API with payload format 1.0, which answers the same way) or an HTTP API with payload
//! format 2.0 and simple responses. It extracts the bearer token (RFC 6750), verifies it
//! with an [`AccessVerifier`], applies optional [`ScopeRules`], and answers:
//!
//! | token                          | REST (TOKEN, REQUEST)                         | HTTP API 2.0                   |
//! |--------------------------------|-----------------------------------------------|--------------------------------|
//! | valid, route allowed           | IAM policy allowing the API (-> integration)  | `{"isAuthorized": true, ..}`   |
//! | valid, lacks the route's scope | IAM policy denying this route (-> 403)        | `{"isAuthorized": false}`      |
//! | missing, malformed, invalid    | [`AuthorizerOutcome::Unauthorized`] (-> 401)  | `{"isAuthorized": false}`      |
//! | event unparseable or unknown   | [`AuthorizerOutcome::Unauthorized`]           | [`AuthorizerOutcome::Unauthorized`] |
//!
//! The context passed to the integration carries `sub`, `sid`, `scope`, `jti` and
//! `client_id`; a REST policy's `principalId` is `sub`.
//!
//! # Fails closed
//! Every error is a deny, and every deny is logged with `tracing` (info for a client's bad
//! credentials, warn for an event this crate cannot use) with its reason, never the token.
//! Nothing here panics.
//!
//! # Safe under authorizer caching
//! A REST authorizer's answer may be cached, keyed by the token alone (TOKEN) or by the
//! identity sources (REQUEST), and then reused for every route of the API and stage. So a
//! REST answer must be right for every route, not only the one that asked:
//! - the Allow statement covers the whole API (`{apiId}/{stage}/*/*`), so a cached answer
//!   does not turn into a 403 on the next route;
//! - when there are scope rules, every answer for a valid token also carries an explicit
//!   Deny statement for the resources of each rule whose scope the token lacks (an Allow
//!   answer included). IAM's explicit Deny wins over the Allow, so a cached answer can never
//!   open a route the token's scopes do not permit, and never closes one they do;
//! - when the route at hand needs a missing scope, its exact `methodArn` is denied too, so
//!   the answer denies it even if the event's own path and the ARN were to disagree. Reused
//!   for another route, that statement changes nothing: the token lacks the scope for this
//!   ARN whichever route asks.
//!
//! An HTTP API 2.0 simple response has no policy to carry such denies: it is one
//! `isAuthorized` for the route that asked. API Gateway caches it per identity source value
//! across every route, so with scope rules the authorizer's identity sources must include
//! `$context.routeKey` (one cached answer per token and route), or its result TTL must be 0.
//! The authorizer cannot see that setting; it logs one warning per process, at the first 2.0
//! event, when rules are configured.
//!
//! A cached answer can outlive a token that expires within the cache TTL: keep the
//! authorizer's TTL well below the access token lifetime.
//!
//! # Limits
//! No I/O, no async runtime, no AWS SDK: the caller reads the event and the clock. The
//! HTTP API 2.0 path needs simple responses enabled (`EnableSimpleResponses`); it reads the
//! token from the `authorization` header only, not from other identity sources.

mod arn;
mod bearer;
mod borrowed;
mod event;
#[cfg(feature = "keyring")]
pub mod keyring;
mod rules;

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use serde_json::{Value, json};
use tessera_token::{AccessClaims, AccessVerifier, VerifyError};
use tracing::{debug, info, warn};

use crate::arn::MethodArn;
use crate::borrowed::Str;
use crate::event::{Event, RawEvent};

pub use crate::bearer::CredentialError;
pub use crate::event::EventKind;
pub use crate::rules::{ScopeRules, ScopeRulesError};

/// The error message a REST authorizer function returns to make API Gateway answer 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// Set once the HTTP API cache warning has been logged. Once per process reaches the
/// operator; after that every 2.0 event pays one relaxed load and nothing else.
static HTTP_API_CACHE_WARNED: AtomicBool = AtomicBool::new(false);

/// What the authorizer function hands back to API Gateway.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthorizerOutcome {
    /// Return this JSON: an IAM policy (REST) or a simple response (HTTP API 2.0).
    Respond(Value),
    /// Return the error [`UNAUTHORIZED`] (`"Unauthorized"`): API Gateway answers 401.
    Unauthorized,
}

/// The authorizer's decision, with the reason behind it, for callers that act on it
/// directly (`tessera serve`) or log it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The event's kind, when it was recognised.
    pub kind: Option<EventKind>,
    /// Why the outcome is what it is.
    pub verdict: Verdict,
    /// The answer for API Gateway.
    pub outcome: AuthorizerOutcome,
}

/// Allow, or which kind of deny.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A valid token that every rule matching the route accepts.
    Allow,
    /// A valid token lacking a scope the route requires (REST: 403 through the policy).
    Forbidden {
        /// The first required scope the token lacks.
        missing_scope: String,
    },
    /// No valid token, or no usable event (REST: 401).
    Unauthorized(DenyReason),
}

/// Why a request was not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// The event is not JSON of the expected shape.
    #[error("unparseable event")]
    UnparseableEvent,
    /// The event is none of the three kinds this authorizer answers.
    #[error("event of unknown kind")]
    UnknownEvent,
    /// A field the decision needs is missing or invalid.
    #[error("event lacks a valid {0}")]
    IncompleteEvent(&'static str),
    /// The request carries no usable bearer token.
    #[error("{0}")]
    Credentials(#[from] CredentialError),
    /// The bearer token did not verify.
    #[error("invalid access token: {0}")]
    Token(#[from] VerifyError),
}

/// Turns authorizer events into answers. Build it once at start-up; it is immutable and
/// `Send + Sync`, one decision per request.
pub struct Authorizer {
    verifier: AccessVerifier,
    rules: ScopeRules,
}

impl Authorizer {
    /// An authorizer accepting access tokens `verifier` accepts, on the routes `rules`
    /// allow for their scopes ([`ScopeRules::none`] for no route rules).
    pub fn new(verifier: AccessVerifier, rules: ScopeRules) -> Self {
        Self { verifier, rules }
    }

    /// The verifier, e.g. to ask [`AccessVerifier::has_kid`] before reloading keys.
    pub fn verifier(&self) -> &AccessVerifier {
        &self.verifier
    }

    /// The route rules in force.
    pub fn rules(&self) -> &ScopeRules {
        &self.rules
    }

    /// Any JSON event API Gateway sends an authorizer -> the answer. `now` is the current
    /// time in unix seconds. Fails closed.
    pub fn handle(&self, event: &[u8], now: i64) -> AuthorizerOutcome {
        self.decide(event, now).outcome
    }

    /// [`Authorizer::handle`] for an event already parsed into a [`serde_json::Value`].
    pub fn handle_value(&self, event: &Value, now: i64) -> AuthorizerOutcome {
        self.decide_value(event, now).outcome
    }

    /// [`Authorizer::handle`], with the verdict and its reason.
    pub fn decide(&self, event: &[u8], now: i64) -> Decision {
        // serde maps a JSON array onto a struct by position; an event is always an object.
        if event.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            warn!("authorizer event is not a json object; denying");
            return unparseable_decision();
        }
        match serde_json::from_slice::<RawEvent<'_>>(event) {
            Ok(raw) => self.decide_raw(raw, now),
            Err(error) => unparseable(&error),
        }
    }

    /// [`Authorizer::decide`] for an event already parsed into a [`serde_json::Value`].
    pub fn decide_value(&self, event: &Value, now: i64) -> Decision {
        if !event.is_object() {
            warn!("authorizer event is not a json object; denying");
            return unparseable_decision();
        }
        match RawEvent::deserialize(event) {
            Ok(raw) => self.decide_raw(raw, now),
            Err(error) => unparseable(&error),
        }
    }

    fn decide_raw(&self, raw: RawEvent<'_>, now: i64) -> Decision {
        match raw.classify() {
            Ok(event) if event.kind == EventKind::HttpV2 => self.decide_http_v2(event, now),
            Ok(event) => self.decide_rest(event, now),
            Err(_) => {
                warn!("authorizer event of unknown kind; denying");
                Decision {
                    kind: None,
                    verdict: Verdict::Unauthorized(DenyReason::UnknownEvent),
                    outcome: AuthorizerOutcome::Unauthorized,
                }
            }
        }
    }

    /// REST TOKEN and REQUEST: an IAM policy, or 401.
    fn decide_rest(&self, event: Event<'_>, now: i64) -> Decision {
        let kind = event.kind;
        let unauthorized = |reason: DenyReason| Decision {
            kind: Some(kind),
            verdict: Verdict::Unauthorized(reason),
            outcome: AuthorizerOutcome::Unauthorized,
        };
        let Some(arn_text) = event.method_arn.as_ref().map(|a| a.as_str()) else {
            warn!(%kind, "authorizer event without methodArn; denying");
            return unauthorized(DenyReason::IncompleteEvent("methodArn"));
        };
        let Some(arn) = MethodArn::parse(arn_text) else {
            warn!(%kind, "authorizer event with an unrecognised methodArn; denying");
            return unauthorized(DenyReason::IncompleteEvent("methodArn"));
        };
        let claims = match self.authenticate(kind, event.credentials, now) {
            Ok(claims) => claims,
            Err(reason) => return unauthorized(reason),
        };

        // The route is checked as both the ARN and the event's own method and path state it;
        // a rule matching either applies.
        let missing = if self.rules.is_empty() {
            None
        } else {
            let arn_path = arn.resource_path();
            let mut routes = vec![(arn.method, arn_path.as_str())];
            if let (Some(method), Some(path)) = (&event.method, &event.path) {
                routes.push((method.as_str(), path.as_str()));
            }
            self.missing_scope(kind, &routes, &claims.scope)
        };

        let mut denied: Vec<String> = self
            .rules
            .unmet(&claims.scope)
            .flat_map(|rule| rule.resources())
            .map(|resource| arn.resource(&resource))
            .collect();
        if missing.is_some() && !denied.iter().any(|r| r == arn_text) {
            denied.push(arn_text.to_owned());
        }
        let verdict = match missing {
            Some(missing_scope) => Verdict::Forbidden { missing_scope },
            None => {
                debug!(%kind, "access token accepted");
                Verdict::Allow
            }
        };
        Decision {
            kind: Some(kind),
            verdict,
            outcome: AuthorizerOutcome::Respond(rest_policy(&arn, &denied, claims)),
        }
    }

    /// HTTP API 2.0: a simple response, `isAuthorized` false for every failure.
    fn decide_http_v2(&self, event: Event<'_>, now: i64) -> Decision {
        let kind = EventKind::HttpV2;
        if !self.rules.is_empty()
            && !HTTP_API_CACHE_WARNED.load(Ordering::Relaxed)
            && !HTTP_API_CACHE_WARNED.swap(true, Ordering::Relaxed)
        {
            // The authorizer never sees its own cache settings, and a cache keyed on the token
            // alone hands one route's `true` to every other route: only an operator can tell.
            warn!(
                %kind,
                "AUTHORIZER_SCOPE_RULES is set and HTTP API caches an authorizer answer per \
                 identity source across all routes: include $context.routeKey in the \
                 authorizer's identity sources or set its result TTL to 0, or a token allowed \
                 on one route is allowed on routes whose scope it lacks"
            );
        }
        let denied = |verdict: Verdict| Decision {
            kind: Some(kind),
            verdict,
            outcome: AuthorizerOutcome::Respond(json!({ "isAuthorized": false })),
        };
        let (Some(method), Some(path)) = (&event.method, &event.path) else {
            warn!(%kind, "authorizer event without requestContext.http method and path; denying");
            return denied(Verdict::Unauthorized(DenyReason::IncompleteEvent(
                "requestContext.http",
            )));
        };
        let claims = match self.authenticate(kind, event.credentials, now) {
            Ok(claims) => claims,
            Err(reason) => return denied(Verdict::Unauthorized(reason)),
        };
        if !self.rules.is_empty() {
            // On a named stage API Gateway keeps the stage in the path (`/prod/admin/x`):
            // rules are checked against the path both with and without it.
            let mut routes = vec![(method.as_str(), path.as_str())];
            if let Some(stage) = &event.stage
                && let Some(unstaged) = strip_stage(path.as_str(), stage.as_str())
            {
                routes.push((method.as_str(), unstaged));
            }
            if let Some(missing_scope) = self.missing_scope(kind, &routes, &claims.scope) {
                return denied(Verdict::Forbidden { missing_scope });
            }
        }
        debug!(%kind, "access token accepted");
        Decision {
            kind: Some(kind),
            verdict: Verdict::Allow,
            outcome: AuthorizerOutcome::Respond(json!({
                "isAuthorized": true,
                "context": context(claims),
            })),
        }
    }

    /// The claims of the request's bearer token, or why there are none (logged).
    fn authenticate(
        &self,
        kind: EventKind,
        credentials: Result<Str<'_>, CredentialError>,
        now: i64,
    ) -> Result<AccessClaims, DenyReason> {
        let result = self.verify_credentials(credentials, now);
        if let Err(reason) = &result {
            info!(%kind, %reason, "request denied: no valid access token");
        }
        result
    }

    fn verify_credentials(
        &self,
        credentials: Result<Str<'_>, CredentialError>,
        now: i64,
    ) -> Result<AccessClaims, DenyReason> {
        let value = credentials?;
        let token = bearer::bearer_token(value.as_str())?;
        Ok(self.verifier.verify(token, now)?)
    }

    /// The first scope one of `routes` requires that `granted` lacks.
    fn missing_scope(
        &self,
        kind: EventKind,
        routes: &[(&str, &str)],
        granted: &str,
    ) -> Option<String> {
        let (method, path, scope) = routes.iter().find_map(|&(method, path)| {
            self.rules
                .missing_scope(method, path, granted)
                .map(|scope| (method, path, scope))
        })?;
        info!(%kind, method, path, scope, "request denied: token lacks the scope the route requires");
        Some(scope.to_owned())
    }
}

fn unparseable(error: &serde_json::Error) -> Decision {
    // Only the position: serde's message can quote the event, and so a token.
    warn!(
        category = ?error.classify(),
        line = error.line(),
        column = error.column(),
        "unparseable authorizer event; denying"
    );
    unparseable_decision()
}

fn unparseable_decision() -> Decision {
    Decision {
        kind: None,
        verdict: Verdict::Unauthorized(DenyReason::UnparseableEvent),
        outcome: AuthorizerOutcome::Unauthorized,
    }
}

/// `/prod/admin/x` on stage `prod` -> `/admin/x`; `None` on `$default` or another prefix.
fn strip_stage<'p>(path: &'p str, stage: &str) -> Option<&'p str> {
    if stage.is_empty() || stage == "$default" {
        return None;
    }
    match path.strip_prefix('/')?.strip_prefix(stage)? {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

/// The context API Gateway passes to the integration.
fn context(claims: AccessClaims) -> Value {
    json!({
        "sub": claims.sub,
        "sid": claims.sid,
        "scope": claims.scope,
        "jti": claims.jti,
        "client_id": claims.client_id,
    })
}

/// The REST answer: Allow the whole API, explicitly Deny `denied`, whatever route asked.
fn rest_policy(arn: &MethodArn<'_>, denied: &[String], claims: AccessClaims) -> Value {
    let mut statements = vec![json!({
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": arn.resource("*/*"),
    })];
    if !denied.is_empty() {
        statements.push(json!({
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Resource": denied,
        }));
    }
    json!({
        "principalId": claims.sub.clone(),
        "policyDocument": { "Version": "2012-10-17", "Statement": statements },
        "context": context(claims),
    })
}

#[cfg(test)]
mod tests {
    use super::strip_stage;

    #[test]
    fn strips_a_named_stage_from_the_front_of_the_path_only() {
        assert_eq!(strip_stage("/prod/admin/x", "prod"), Some("/admin/x"));
        assert_eq!(strip_stage("/prod", "prod"), Some("/"));
        assert_eq!(strip_stage("/prod/", "prod"), Some("/"));
        assert_eq!(strip_stage("/production/x", "prod"), None);
        assert_eq!(strip_stage("/admin/x", "prod"), None);
        assert_eq!(strip_stage("/admin/x", "$default"), None);
        assert_eq!(strip_stage("/admin/x", ""), None);
    }
}

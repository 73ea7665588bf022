//! API Gateway Lambda authorizer decisions: an authorizer event in, the typed answer out.
//!
//! [`Authorizer::authorize`] takes the raw event API Gateway sends and recognises its kind from
//! the event itself: a REST API TOKEN authorizer, a REST API REQUEST authorizer (and an HTTP
//! API with payload format 1.0, which answers the same way) or an HTTP API with payload
//! format 2.0 and simple responses. It extracts the bearer token (RFC 6750), verifies it
//! with an [`AccessVerifier`], applies optional [`ScopeRules`], and answers:
//!
//! | token                          | REST (TOKEN, REQUEST)                          | HTTP API 2.0                   |
//! |--------------------------------|------------------------------------------------|--------------------------------|
//! | valid, route allowed           | [`PolicyResponse`] allowing the API            | `{"isAuthorized": true, ..}`   |
//! | valid, lacks the route's scope | [`PolicyResponse`] denying this route (-> 403) | `{"isAuthorized": false}`      |
//! | missing, malformed, invalid    | the error [`Unauthorized`] (-> 401)            | `{"isAuthorized": false}`      |
//! | event unparseable or unknown   | the error [`Unauthorized`]                     | the error [`Unauthorized`]     |
//!
//! The answer is typed ([`Response`]: [`PolicyResponse`] or [`SimpleResponse`]) and
//! serialises straight to the JSON API Gateway reads; [`PolicyResponse::evaluate`] applies
//! a policy to a method ARN as API Gateway does. The context passed to the integration
//! ([`AuthorizerContext`]) carries `sub`, `sid`, `scope`, `jti` and `client_id`; a REST
//! policy's `principalId` is `sub`. [`Authorizer::decide`] and [`AuthorizerOutcome`] are the
//! same answer as a `serde_json::Value`: the bytes API Gateway reads, as the contract tests
//! compare them.
//!
//! # Fails closed
//! Every error is a deny, with its reason in the [`Ruling`], never the token. The ruling is
//! logged by the caller, once: [`Ruling::write_log_line`] formats it into one buffer (the
//! Lambda function writes that with one `write`), [`Ruling::trace`] sends it through
//! `tracing`. Info for a client's bad credentials, warn for an event this crate cannot use,
//! debug for an allow. Nothing here panics.
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
//! Without the `keyring` feature (the function's side: environment, keys, the log line's
//! write), no I/O, no async runtime, no AWS SDK: the caller reads the event and the clock,
//! and writes the log line ([`Authorizer::decide`], the JSON view, logs through `tracing`
//! itself, as it always did). The HTTP API 2.0 path needs simple responses enabled
//! (`EnableSimpleResponses`); it reads the token from the `authorization` header only, not
//! from other identity sources.

mod arn;
mod bearer;
mod borrowed;
mod event;
#[cfg(feature = "keyring")]
pub mod keyring;
mod log;
mod response;
mod rules;
#[cfg(feature = "sessions")]
pub mod sessions;

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use serde_json::Value;
use tessera_token::{AccessClaims, AccessVerifier, VerifyError};
use tracing::warn;

use crate::arn::MethodArn;
use crate::borrowed::Str;
use crate::event::{Event, RawEvent};
use crate::log::Detail;

pub use crate::bearer::CredentialError;
pub use crate::event::EventKind;
pub use crate::log::LogFormat;
pub use crate::response::{
    AuthorizerContext, Effect, INVOKE_ACTION, POLICY_VERSION, PolicyDocument, PolicyResponse,
    Resource, Response, SimpleResponse, Statement, iam_match,
};
pub use crate::rules::{ScopeRules, ScopeRulesError};

/// The error message a REST authorizer function returns to make API Gateway answer 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// Set once the HTTP API cache warning has been logged. Once per process reaches the
/// operator; after that every 2.0 event pays one relaxed load and nothing else.
static HTTP_API_CACHE_WARNED: AtomicBool = AtomicBool::new(false);

/// The answer for a request without a valid REST token: the function returns this error,
/// whose message is exactly [`UNAUTHORIZED`], and API Gateway answers 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

/// The authorizer's ruling on one event: the answer for API Gateway, typed, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Ruling {
    /// The event's kind, when it was recognised.
    pub kind: Option<EventKind>,
    /// Why the answer is what it is.
    pub verdict: Verdict,
    /// The body to return ([`Response`]), or the error [`Unauthorized`] (REST: 401).
    pub answer: Result<Response, Unauthorized>,
    /// What the log line adds to the verdict (the route, the parse error's position).
    detail: Detail,
}

impl Ruling {
    fn new(
        kind: Option<EventKind>,
        verdict: Verdict,
        answer: Result<Response, Unauthorized>,
    ) -> Self {
        Self {
            kind,
            verdict,
            answer,
            detail: Detail::None,
        }
    }

    /// No valid token, or no usable event, for a REST event or an unknown one: 401.
    fn unauthorized(kind: Option<EventKind>, reason: DenyReason) -> Self {
        Self::new(kind, Verdict::Unauthorized(reason), Err(Unauthorized))
    }

    fn with_detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }

    /// The REST policy, when the answer is one.
    pub fn policy(&self) -> Option<&PolicyResponse> {
        self.answer.as_ref().ok().and_then(Response::policy)
    }

    /// The session id of the verified token this ruling answers with, if any.
    pub fn sid(&self) -> Option<&str> {
        let context = match self.answer.as_ref().ok()? {
            Response::Policy(policy) => &policy.context,
            Response::Simple(simple) => simple.context.as_ref()?,
        };
        context
            .entries()
            .into_iter()
            .find(|(name, _)| *name == "sid")
            .map(|(_, sid)| sid)
            .filter(|sid| !sid.is_empty())
    }

    /// The same event refused because the token's session has ended: 401 for a REST event,
    /// `isAuthorized: false` for an HTTP API one, as for any token that is no longer good.
    pub fn session_ended(self) -> Ruling {
        let verdict = Verdict::Unauthorized(DenyReason::SessionEnded);
        match self.kind {
            Some(EventKind::HttpV2) => Ruling::new(
                self.kind,
                verdict,
                Ok(Response::Simple(SimpleResponse::refused())),
            ),
            kind => Ruling::unauthorized(kind, DenyReason::SessionEnded),
        }
    }
}

/// The [`Ruling`]'s answer as JSON: what the function hands back to API Gateway.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthorizerOutcome {
    /// Return this JSON: an IAM policy (REST) or a simple response (HTTP API 2.0).
    Respond(Value),
    /// Return the error [`UNAUTHORIZED`] (`"Unauthorized"`): API Gateway answers 401.
    Unauthorized,
}

/// A [`Ruling`] with its answer as a [`serde_json::Value`] ([`Authorizer::decide`]): the
/// JSON view of the answer, as tests compare it. Serving code takes the [`Ruling`].
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The event's kind, when it was recognised.
    pub kind: Option<EventKind>,
    /// Why the outcome is what it is.
    pub verdict: Verdict,
    /// The answer for API Gateway.
    pub outcome: AuthorizerOutcome,
}

impl From<Ruling> for Decision {
    fn from(ruling: Ruling) -> Self {
        Self {
            kind: ruling.kind,
            verdict: ruling.verdict,
            outcome: match &ruling.answer {
                Ok(response) => AuthorizerOutcome::Respond(response.to_json()),
                Err(Unauthorized) => AuthorizerOutcome::Unauthorized,
            },
        }
    }
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
    /// The token is valid but its session is not live (revoked, expired, or created before
    /// its user's revocation watermark): only with `AUTHORIZER_REVOCATION_CHECK=session`.
    #[error("the token's session is revoked or expired")]
    SessionEnded,
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

    /// Any JSON event API Gateway sends an authorizer -> the typed answer and its reason.
    /// `now` is the current time in unix seconds. Fails closed; logs nothing (the caller
    /// logs the ruling once, see [`Ruling::write_log_line`] and [`Ruling::trace`]).
    pub fn authorize(&self, event: &[u8], now: i64) -> Ruling {
        // serde maps a JSON array onto a struct by position; an event is always an object.
        if event.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Ruling::unauthorized(None, DenyReason::UnparseableEvent)
                .with_detail(Detail::NotAnObject);
        }
        match serde_json::from_slice::<RawEvent<'_>>(event) {
            Ok(raw) => self.authorize_raw(raw, now),
            Err(error) => unparseable(&error),
        }
    }

    /// [`Authorizer::authorize`] for an event already parsed into a [`serde_json::Value`].
    pub fn authorize_value(&self, event: &Value, now: i64) -> Ruling {
        if !event.is_object() {
            return Ruling::unauthorized(None, DenyReason::UnparseableEvent)
                .with_detail(Detail::NotAnObject);
        }
        match RawEvent::deserialize(event) {
            Ok(raw) => self.authorize_raw(raw, now),
            Err(error) => unparseable(&error),
        }
    }

    /// [`Authorizer::authorize`] with the answer as the JSON API Gateway reads, logged through
    /// `tracing`: the view contract tests compare. Serving code takes the [`Ruling`].
    pub fn decide(&self, event: &[u8], now: i64) -> Decision {
        let ruling = self.authorize(event, now);
        ruling.trace();
        ruling.into()
    }

    /// [`Authorizer::decide`] for an event already parsed into a [`serde_json::Value`].
    pub fn decide_value(&self, event: &Value, now: i64) -> Decision {
        let ruling = self.authorize_value(event, now);
        ruling.trace();
        ruling.into()
    }

    /// [`Authorizer::decide`]'s outcome alone.
    pub fn handle(&self, event: &[u8], now: i64) -> AuthorizerOutcome {
        self.decide(event, now).outcome
    }

    /// [`Authorizer::decide_value`]'s outcome alone.
    pub fn handle_value(&self, event: &Value, now: i64) -> AuthorizerOutcome {
        self.decide_value(event, now).outcome
    }

    fn authorize_raw(&self, raw: RawEvent<'_>, now: i64) -> Ruling {
        match raw.classify() {
            Ok(event) if event.kind == EventKind::HttpV2 => self.authorize_http_v2(event, now),
            Ok(event) => self.authorize_rest(event, now),
            Err(_) => Ruling::unauthorized(None, DenyReason::UnknownEvent),
        }
    }

    /// REST TOKEN and REQUEST: an IAM policy, or 401.
    fn authorize_rest(&self, event: Event<'_>, now: i64) -> Ruling {
        let kind = event.kind;
        let no_arn = || Ruling::unauthorized(Some(kind), DenyReason::IncompleteEvent("methodArn"));
        let Some(arn_text) = event.method_arn.as_ref().map(|a| a.as_str()) else {
            return no_arn();
        };
        let Some(arn) = MethodArn::parse(arn_text) else {
            return no_arn();
        };
        let claims = match self.verify_credentials(event.credentials, now) {
            Ok(claims) => claims,
            Err(reason) => return Ruling::unauthorized(Some(kind), reason),
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
            self.missing_scope(&routes, &claims.scope)
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
        let policy = Ok(Response::Policy(rest_policy(&arn, denied, claims)));
        match missing {
            Some((missing_scope, route)) => {
                Ruling::new(Some(kind), Verdict::Forbidden { missing_scope }, policy)
                    .with_detail(route)
            }
            None => Ruling::new(Some(kind), Verdict::Allow, policy),
        }
    }

    /// HTTP API 2.0: a simple response, `isAuthorized` false for every failure.
    fn authorize_http_v2(&self, event: Event<'_>, now: i64) -> Ruling {
        let kind = Some(EventKind::HttpV2);
        if !self.rules.is_empty()
            && !HTTP_API_CACHE_WARNED.load(Ordering::Relaxed)
            && !HTTP_API_CACHE_WARNED.swap(true, Ordering::Relaxed)
        {
            // The authorizer never sees its own cache settings, and a cache keyed on the token
            // alone hands one route's `true` to every other route: only an operator can tell.
            // Once per process, so it goes through tracing like any start-up message.
            warn!(
                kind = EventKind::HttpV2.as_str(),
                "AUTHORIZER_SCOPE_RULES is set and HTTP API caches an authorizer answer per \
                 identity source across all routes: include $context.routeKey in the \
                 authorizer's identity sources or set its result TTL to 0, or a token allowed \
                 on one route is allowed on routes whose scope it lacks"
            );
        }
        let refused = |verdict: Verdict| {
            Ruling::new(
                kind,
                verdict,
                Ok(Response::Simple(SimpleResponse::refused())),
            )
        };
        let (Some(method), Some(path)) = (&event.method, &event.path) else {
            return refused(Verdict::Unauthorized(DenyReason::IncompleteEvent(
                "requestContext.http",
            )));
        };
        let claims = match self.verify_credentials(event.credentials, now) {
            Ok(claims) => claims,
            Err(reason) => return refused(Verdict::Unauthorized(reason)),
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
            if let Some((missing_scope, route)) = self.missing_scope(&routes, &claims.scope) {
                return refused(Verdict::Forbidden { missing_scope }).with_detail(route);
            }
        }
        Ruling::new(
            kind,
            Verdict::Allow,
            Ok(Response::Simple(SimpleResponse::authorized(
                AuthorizerContext::from_claims(claims),
            ))),
        )
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

    /// The first scope one of `routes` requires that `granted` lacks, with the route that
    /// requires it (for the log line).
    fn missing_scope(&self, routes: &[(&str, &str)], granted: &str) -> Option<(String, Detail)> {
        routes.iter().find_map(|&(method, path)| {
            self.rules
                .missing_scope(method, path, granted)
                .map(|scope| {
                    (
                        scope.to_owned(),
                        Detail::Route {
                            method: method.to_owned(),
                            path: path.to_owned(),
                        },
                    )
                })
        })
    }
}

fn unparseable(error: &serde_json::Error) -> Ruling {
    // Only the position: serde's message can quote the event, and so a token.
    Ruling::unauthorized(None, DenyReason::UnparseableEvent).with_detail(Detail::Parse {
        category: error.classify(),
        line: error.line(),
        column: error.column(),
    })
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

/// The REST answer: Allow the whole API, explicitly Deny `denied`, whatever route asked.
fn rest_policy(arn: &MethodArn<'_>, denied: Vec<String>, claims: AccessClaims) -> PolicyResponse {
    let mut statement = Vec::with_capacity(2);
    statement.push(Statement {
        action: INVOKE_ACTION,
        effect: Effect::Allow,
        resource: Resource::One(arn.resource("*/*")),
    });
    if !denied.is_empty() {
        statement.push(Statement {
            action: INVOKE_ACTION,
            effect: Effect::Deny,
            resource: Resource::Many(denied),
        });
    }
    PolicyResponse {
        principal_id: claims.sub.clone(),
        context: AuthorizerContext::from_claims(claims),
        policy_document: PolicyDocument {
            statement,
            version: POLICY_VERSION,
        },
    }
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

//! The authorizer over a [`KeyRing`]: when a token names a `kid` the loaded keys do not know
//! (the secret was rotated after this process started), the ring reloads, at most once per
//! interval, and the decision is taken again with the new keys. Everything else is the
//! pure [`Authorizer`].
//!
//! Also the authorizer's configuration, read once at init from the same variables as the
//! other functions.

use std::sync::{Arc, RwLock};

use tessera_keys::KeyRing;
use tessera_token::{Algorithm, VerifyError, VerifyPolicy};
use tracing::warn;

use crate::{Authorizer, Decision, DenyReason, ScopeRules, ScopeRulesError, Verdict};

/// What the authorizer reads from its environment.
#[derive(Clone, Debug)]
pub struct AuthorizerConfig {
    /// `ISSUER` (required) and `AUDIENCE` (required), and `TOKEN_LEEWAY` (seconds, default
    /// 30, at most 60).
    pub policy: VerifyPolicy,
    /// `ACCESS_TOKEN_ALG`: ES256 (default), EdDSA, RS256 or HS256.
    pub alg: Algorithm,
    /// `AUTHORIZER_SCOPE_RULES`: route -> required scope rules (default none).
    pub rules: ScopeRules,
}

/// A configuration variable that is missing or invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable's value is not one it accepts.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What it accepts.
        reason: String,
    },
    /// `AUTHORIZER_SCOPE_RULES` does not parse.
    #[error("AUTHORIZER_SCOPE_RULES is invalid: {0}")]
    Rules(#[from] ScopeRulesError),
}

impl AuthorizerConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let issuer = get("ISSUER").ok_or(ConfigError::Missing("ISSUER"))?;
        let audience = get("AUDIENCE").ok_or(ConfigError::Missing("AUDIENCE"))?;
        let mut policy = VerifyPolicy::new(issuer, audience);
        if let Some(leeway) = get("TOKEN_LEEWAY") {
            policy.leeway_secs = leeway
                .trim()
                .parse()
                .ok()
                .filter(|l| *l <= tessera_token::MAX_LEEWAY_SECS)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "TOKEN_LEEWAY",
                    reason: format!("seconds from 0 to {}", tessera_token::MAX_LEEWAY_SECS),
                })?;
        }
        let alg = match get("ACCESS_TOKEN_ALG") {
            Some(alg) => alg.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "ACCESS_TOKEN_ALG",
                reason: "one of ES256, EdDSA, RS256, HS256".into(),
            })?,
            None => Algorithm::default(),
        };
        let rules = match get("AUTHORIZER_SCOPE_RULES") {
            Some(rules) => ScopeRules::parse(&rules)?,
            None => ScopeRules::none(),
        };
        Ok(Self { policy, alg, rules })
    }
}

/// An [`Authorizer`] whose keys follow the [`KeyRing`].
pub struct KeyedAuthorizer {
    ring: KeyRing,
    policy: VerifyPolicy,
    rules: ScopeRules,
    current: RwLock<Arc<Authorizer>>,
}

impl KeyedAuthorizer {
    /// Builds the authorizer from the ring's current keys (once, at init).
    pub fn new(ring: KeyRing, policy: VerifyPolicy, rules: ScopeRules) -> Self {
        let current = Authorizer::new(
            ring.current().access_verifier(policy.clone()),
            rules.clone(),
        );
        Self {
            ring,
            policy,
            rules,
            current: RwLock::new(Arc::new(current)),
        }
    }

    fn current(&self) -> Arc<Authorizer> {
        match self.current.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// [`Authorizer::decide`], with one rate-limited key reload when the token's `kid` is
    /// unknown. A failed or refused reload leaves the first decision (a deny) standing.
    pub async fn decide(&self, event: &[u8], now: i64) -> Decision {
        let decision = self.current().decide(event, now);
        if decision.verdict != Verdict::Unauthorized(DenyReason::Token(VerifyError::UnknownKid)) {
            return decision;
        }
        match self.ring.reload_for_unknown_kid().await {
            Ok(Some(keys)) => {
                let fresh = Arc::new(Authorizer::new(
                    keys.access_verifier(self.policy.clone()),
                    self.rules.clone(),
                ));
                match self.current.write() {
                    Ok(mut slot) => *slot = fresh.clone(),
                    Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
                }
                fresh.decide(event, now)
            }
            Ok(None) => decision,
            Err(error) => {
                warn!(%error, "key reload failed; the token stays denied");
                decision
            }
        }
    }
}

/// The error a REST authorizer function returns so that API Gateway answers 401: its
/// message must be exactly `Unauthorized`.
#[derive(Debug, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

impl KeyedAuthorizer {
    /// The function's whole answer for one event, at the current time: the JSON to return,
    /// or [`Unauthorized`].
    pub async fn answer(&self, event: &[u8]) -> Result<serde_json::Value, Unauthorized> {
        match self.decide(event, unix_now()).await.outcome {
            crate::AuthorizerOutcome::Respond(answer) => Ok(answer),
            crate::AuthorizerOutcome::Unauthorized => Err(Unauthorized),
        }
    }
}

/// Now, in unix seconds. A clock before 1970 reads as 0, which fails every token's `iat`
/// sanity rather than passing it.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

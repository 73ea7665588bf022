//! The authorizer over a [`KeyRing`]: when a token names a `kid` the loaded keys do not know
//! (the secret was rotated after this process started), the ring reloads, at most once per
//! interval, and the decision is taken again with the new keys. Everything else is the
//! pure [`Authorizer`].
//!
//! Also the authorizer's configuration, read once at init from the same variables as the
//! other functions.

use std::sync::{Arc, RwLock};

use tessera_keys::{KeyRing, KeySource, SecretsExtension};
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
    keys: Keys,
    policy: VerifyPolicy,
    rules: ScopeRules,
    current: RwLock<Option<Arc<Authorizer>>>,
}

// One per process: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Keys {
    /// Loaded at init (a key file, or any source that answers during init).
    Ready(KeyRing),
    /// Loaded on the first event: the Parameters and Secrets extension does not answer
    /// during init. A failed load is retried on the next event.
    Lazy {
        source: SecretsExtension,
        alg: Algorithm,
        ring: tokio::sync::OnceCell<KeyRing>,
    },
}

/// The keys could not be loaded, so no decision can be taken: the function answers with an
/// error (API Gateway: 500), never with an allow, and never with a 401 that would send every
/// client to refresh for nothing.
#[derive(Debug, thiserror::Error)]
#[error("authorizer keys unavailable: {0}")]
pub struct KeysUnavailable(#[from] tessera_keys::KeysError);

impl KeyedAuthorizer {
    /// Builds the authorizer from the ring's current keys (once, at init).
    pub fn new(ring: KeyRing, policy: VerifyPolicy, rules: ScopeRules) -> Self {
        let current = Authorizer::new(
            ring.current().access_verifier(policy.clone()),
            rules.clone(),
        );
        Self {
            keys: Keys::Ready(ring),
            policy,
            rules,
            current: RwLock::new(Some(Arc::new(current))),
        }
    }

    /// An authorizer whose keys come through the Parameters and Secrets extension, loaded
    /// on the first event.
    pub fn lazy(
        source: SecretsExtension,
        alg: Algorithm,
        policy: VerifyPolicy,
        rules: ScopeRules,
    ) -> Self {
        Self {
            keys: Keys::Lazy {
                source,
                alg,
                ring: tokio::sync::OnceCell::new(),
            },
            policy,
            rules,
            current: RwLock::new(None),
        }
    }

    async fn ring(&self) -> Result<&KeyRing, KeysUnavailable> {
        match &self.keys {
            Keys::Ready(ring) => Ok(ring),
            Keys::Lazy { source, alg, ring } => Ok(ring
                .get_or_try_init(|| {
                    KeyRing::load(KeySource::Extension(Box::new(source.clone())), *alg)
                })
                .await?),
        }
    }

    fn install(&self, keys: &tessera_token::KeySet) -> Arc<Authorizer> {
        let fresh = Arc::new(Authorizer::new(
            keys.access_verifier(self.policy.clone()),
            self.rules.clone(),
        ));
        match self.current.write() {
            Ok(mut slot) => *slot = Some(fresh.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(fresh.clone()),
        }
        fresh
    }

    async fn current(&self) -> Result<Arc<Authorizer>, KeysUnavailable> {
        let current = match self.current.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        match current {
            Some(authorizer) => Ok(authorizer),
            None => {
                let ring = self.ring().await?;
                Ok(self.install(&ring.current()))
            }
        }
    }

    /// [`Authorizer::decide`], with one rate-limited key reload when the token's `kid` is
    /// unknown. A failed or refused reload leaves the first decision (a deny) standing.
    pub async fn decide(&self, event: &[u8], now: i64) -> Result<Decision, KeysUnavailable> {
        let decision = self.current().await?.decide(event, now);
        if decision.verdict != Verdict::Unauthorized(DenyReason::Token(VerifyError::UnknownKid)) {
            return Ok(decision);
        }
        match self.ring().await?.reload_for_unknown_kid().await {
            Ok(Some(keys)) => Ok(self.install(&keys).decide(event, now)),
            Ok(None) => Ok(decision),
            Err(error) => {
                warn!(%error, "key reload failed; the token stays denied");
                Ok(decision)
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
    /// [`AnswerError::Unauthorized`] (401), or [`AnswerError::Keys`] (a function error: 500).
    pub async fn answer(&self, event: &[u8]) -> Result<serde_json::Value, AnswerError> {
        match self.decide(event, unix_now()).await?.outcome {
            crate::AuthorizerOutcome::Respond(answer) => Ok(answer),
            crate::AuthorizerOutcome::Unauthorized => Err(AnswerError::Unauthorized(Unauthorized)),
        }
    }
}

/// Why the function answers with an error instead of a policy.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No valid token: API Gateway answers 401. The message is exactly `Unauthorized`.
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
    /// No keys to decide with: API Gateway answers 500.
    #[error(transparent)]
    Keys(#[from] KeysUnavailable),
}

/// Now, in unix seconds. A clock before 1970 reads as 0, which fails every token's `iat`
/// sanity rather than passing it.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

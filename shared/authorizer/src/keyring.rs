//! The authorizer as the Lambda function and `tessera serve` run it: configuration read
//! once at init, keys from a [`KeyRing`], and the decision's log line written with one
//! `write`.
//!
//! When a token names a `kid` the loaded keys do not know (the secret was rotated after this
//! process started), the ring reloads, at most once per interval, and the decision is taken
//! again with the new keys. Everything else is the pure [`Authorizer`].
//!
//! [`KeyedAuthorizer::from_env`] builds it all from the environment: [`AuthorizerConfig`]
//! (the shared [`VerifyConfig`], `AUTHORIZER_SCOPE_RULES`, the log format) and the key
//! source: `KEY_SECRET_ARN` through the Parameters and Secrets extension, loaded on the first
//! event (the extension does not answer during init), or `KEY_FILE`, loaded at init. Every
//! start error names the variable at fault.

use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tessera_config::{ConfigError, Vars, VerifyConfig};
use tessera_keys::{KeyRing, KeySource, KeysError, SecretsExtension};
use tessera_metrics::{Event, Outcome, UseCase};
use tessera_token::{Algorithm, VerifyError, VerifyPolicy};
use tracing::level_filters::LevelFilter;
use tracing::warn;

#[cfg(feature = "sessions")]
use crate::sessions::{LiveSessions, SessionCheck, SessionsUnavailable};
use crate::{
    Authorizer, CredentialError, DenyReason, LogFormat, Response, Ruling, ScopeRules, Unauthorized,
    Verdict,
};

/// What the authorizer reads from its environment, once, at init.
#[derive(Clone, Debug)]
pub struct AuthorizerConfig {
    /// `ISSUER`, `AUDIENCE`, `TOKEN_LEEWAY` and `ACCESS_TOKEN_ALG`, as every binary reads them.
    pub verify: VerifyConfig,
    /// `AUTHORIZER_SCOPE_RULES`: route -> required scope rules (default none).
    pub rules: ScopeRules,
    /// `AWS_LAMBDA_LOG_FORMAT`: how the decision's log line is laid out (default text).
    pub log_format: LogFormat,
    /// `AUTHORIZER_REVOCATION_CHECK` and `AUTHORIZER_REVOCATION_CACHE`.
    pub revocation: RevocationCheck,
}

/// Whether a valid token must also have a live session (`AUTHORIZER_REVOCATION_CHECK`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RevocationCheck {
    /// The token alone decides (the default): a revoked session's access token works until
    /// its `exp`.
    #[default]
    Off,
    /// The token's session must be live: not revoked, not expired, not older than its user's
    /// revocation watermark. A live answer is reused for `cache_secs`
    /// (`AUTHORIZER_REVOCATION_CACHE`, default 2, at most 60) by this process.
    Session {
        /// How long a live answer is reused, in seconds.
        cache_secs: u64,
    },
}

impl RevocationCheck {
    /// Reads `AUTHORIZER_REVOCATION_CHECK` (`off`, the default, or `session`) and, for
    /// `session`, `AUTHORIZER_REVOCATION_CACHE`.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        match vars.get("AUTHORIZER_REVOCATION_CHECK").as_deref() {
            None | Some("off") => Ok(Self::Off),
            Some("session") => Ok(Self::Session {
                cache_secs: vars.seconds("AUTHORIZER_REVOCATION_CACHE", 2, 0, 60)?,
            }),
            Some(_) => Err(ConfigError::Invalid {
                name: "AUTHORIZER_REVOCATION_CHECK",
                reason: "off or session".into(),
            }),
        }
    }
}

impl AuthorizerConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads the configuration from `vars`; an error names the variable at fault.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let verify = VerifyConfig::from_vars(vars)?;
        let rules = vars
            .parsed("AUTHORIZER_SCOPE_RULES", |raw| {
                ScopeRules::parse(raw).map_err(|e| e.to_string())
            })?
            .unwrap_or_default();
        Ok(Self {
            verify,
            rules,
            log_format: LogFormat::from_setting(vars.get("AWS_LAMBDA_LOG_FORMAT").as_deref()),
            revocation: RevocationCheck::from_vars(vars)?,
        })
    }
}

/// Why the authorizer cannot start. The message names the variable or the source at fault;
/// it is what Lambda reports as the init error.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A configuration variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No key source is configured, or the key file cannot be loaded.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The session store the revocation check asks cannot be opened.
    #[cfg(feature = "sessions")]
    #[error("session store: {0}")]
    Sessions(String),
}

/// An [`Authorizer`] whose keys follow the [`KeyRing`].
pub struct KeyedAuthorizer {
    keys: Keys,
    policy: VerifyPolicy,
    rules: ScopeRules,
    log_format: LogFormat,
    current: RwLock<Option<Arc<Authorizer>>>,
    #[cfg(feature = "sessions")]
    sessions: Option<SessionCheck>,
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
pub struct KeysUnavailable(#[from] KeysError);

impl KeyedAuthorizer {
    /// The function's whole start: the configuration and the key source from the process
    /// environment (see the module docs). A key file is loaded now; the extension's secret
    /// on the first event.
    pub async fn from_env() -> Result<Self, InitError> {
        Self::from_vars(&Vars::env()).await
    }

    /// [`KeyedAuthorizer::from_env`] with the variables read from `vars`. Refuses
    /// `AUTHORIZER_REVOCATION_CHECK=session`: this start has no session store to ask, and
    /// starting without the check would allow what the operator asked to deny.
    pub async fn from_vars<F: Fn(&str) -> Option<String>>(
        vars: &Vars<F>,
    ) -> Result<Self, InitError> {
        let config = AuthorizerConfig::from_vars(vars)?;
        if config.revocation != RevocationCheck::Off {
            return Err(InitError::Config(ConfigError::Invalid {
                name: "AUTHORIZER_REVOCATION_CHECK",
                reason: "session needs a session store, which this function does not read: \
                         set it to off here, or deploy the checking authorizer"
                    .into(),
            }));
        }
        Self::with_keys(config, vars).await
    }

    /// The checking authorizer's start: [`KeyedAuthorizer::from_vars`], and with
    /// `AUTHORIZER_REVOCATION_CHECK=session` the session store that `connect` opens (called
    /// only then, so `off` starts as the lean function does).
    #[cfg(feature = "sessions")]
    pub async fn from_vars_with_sessions<F, C, Fut>(
        vars: &Vars<F>,
        connect: C,
    ) -> Result<Self, InitError>
    where
        F: Fn(&str) -> Option<String>,
        C: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<dyn LiveSessions>, InitError>>,
    {
        let config = AuthorizerConfig::from_vars(vars)?;
        let revocation = config.revocation;
        let authorizer = Self::with_keys(config, vars).await?;
        Ok(match revocation {
            RevocationCheck::Off => authorizer,
            RevocationCheck::Session { cache_secs } => {
                authorizer.with_sessions(connect().await?, cache_secs)
            }
        })
    }

    /// The authorizer of `config`, its keys from the source `vars` names.
    async fn with_keys<F: Fn(&str) -> Option<String>>(
        config: AuthorizerConfig,
        vars: &Vars<F>,
    ) -> Result<Self, InitError> {
        let source = KeySource::from_lookup(|name| vars.get(name))?;
        let alg = config.verify.alg;
        let authorizer = match source {
            KeySource::Extension(extension) => {
                Self::lazy(*extension, alg, config.verify.access_policy(), config.rules)
            }
            source => Self::new(
                KeyRing::load(source, alg).await?,
                config.verify.access_policy(),
                config.rules,
            ),
        };
        Ok(authorizer.with_log_format(config.log_format))
    }

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
            log_format: LogFormat::default(),
            current: RwLock::new(Some(Arc::new(current))),
            #[cfg(feature = "sessions")]
            sessions: None,
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
            log_format: LogFormat::default(),
            current: RwLock::new(None),
            #[cfg(feature = "sessions")]
            sessions: None,
        }
    }

    /// Lays out [`KeyedAuthorizer::answer`]'s log lines in `format`.
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    #[cfg(feature = "sessions")]
    /// Requires a valid token's session to be live ([`RevocationCheck::Session`]), asking
    /// `sessions`, and reusing a live answer for `cache_secs`.
    pub fn with_sessions(mut self, sessions: Arc<dyn LiveSessions>, cache_secs: u64) -> Self {
        self.sessions = Some(SessionCheck::new(sessions, cache_secs));
        self
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

    /// [`Authorizer::authorize`], with one rate-limited key reload when the token's `kid` is
    /// unknown. A failed or refused reload leaves the first ruling (a deny) standing. Logs
    /// nothing but a failed reload: the caller logs the ruling.
    pub async fn authorize(&self, event: &[u8], now: i64) -> Result<Ruling, Undecided> {
        let started = Instant::now();
        let ruling = self.decide(event, now).await;
        let latency = started.elapsed();
        tessera_metrics::record(match &ruling {
            Ok(ruling) => metric_event(ruling, latency),
            Err(_) => Event::new(UseCase::Authorizer, Outcome::Error, latency),
        });
        ruling
    }

    /// The token's ruling, then, with the session check on, its session's: a valid token
    /// whose session is not live is refused as [`DenyReason::SessionEnded`]; a store that
    /// cannot answer decides nothing (fail closed).
    async fn decide(&self, event: &[u8], now: i64) -> Result<Ruling, Undecided> {
        let ruling = self.decide_token(event, now).await?;
        #[cfg(not(feature = "sessions"))]
        return Ok(ruling);
        #[cfg(feature = "sessions")]
        self.check_session(ruling, now).await
    }

    /// With the session check on, a valid token's session must be live.
    #[cfg(feature = "sessions")]
    async fn check_session(&self, ruling: Ruling, now: i64) -> Result<Ruling, Undecided> {
        let Some(check) = &self.sessions else {
            return Ok(ruling);
        };
        if !matches!(ruling.verdict, Verdict::Allow | Verdict::Forbidden { .. }) {
            return Ok(ruling);
        }
        let live = match ruling.sid() {
            Some(sid) => check.is_live(sid, now).await?,
            None => false,
        };
        Ok(if live { ruling } else { ruling.session_ended() })
    }

    async fn decide_token(&self, event: &[u8], now: i64) -> Result<Ruling, KeysUnavailable> {
        let ruling = self.current().await?.authorize(event, now);
        if ruling.verdict != Verdict::Unauthorized(DenyReason::Token(VerifyError::UnknownKid)) {
            return Ok(ruling);
        }
        match self.ring().await?.reload_for_unknown_kid().await {
            Ok(Some(keys)) => Ok(self.install(&keys).authorize(event, now)),
            Ok(None) => Ok(ruling),
            Err(error) => {
                warn!(%error, "key reload failed; the token stays denied");
                Ok(ruling)
            }
        }
    }

    /// The function's whole answer for one event, at the current time: the typed body to
    /// return, [`AnswerError::Unauthorized`] (401), or [`AnswerError::Undecided`] (a function
    /// error: 500). The ruling's log line, with `request_id`, is written to stdout in one
    /// `write` when the log level lets it through.
    pub async fn answer(&self, event: &[u8], request_id: &str) -> Result<Response, AnswerError> {
        let ruling = self.authorize(event, tessera_config::system_now()).await?;
        write_log_line(&ruling, self.log_format, request_id);
        Ok(ruling.answer?)
    }
}

/// Formats the ruling's line into one buffer and writes it to stdout with one `write`
/// (stdout's lock keeps it whole beside `tracing`'s lines). The level test is one atomic
/// load: the most verbose level the installed subscriber wants.
fn write_log_line(ruling: &Ruling, format: LogFormat, request_id: &str) {
    if LevelFilter::current() < ruling.log_level() {
        return;
    }
    let mut line = String::with_capacity(256);
    ruling.write_log_line(format, Some(request_id), &mut line);
    // A log line that cannot be written must not turn an answer into an error.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// A ruling as a metric: its verdict, and for a refusal the reason, in a few fixed words
/// (never the event's content), so that the `Reason` dimension stays low-cardinality.
pub fn metric_event(ruling: &Ruling, latency: Duration) -> Event {
    let event = |outcome| Event::new(UseCase::Authorizer, outcome, latency);
    match &ruling.verdict {
        Verdict::Allow => event(Outcome::Allow),
        Verdict::Forbidden { .. } => event(Outcome::Deny).with_reason("missing_scope"),
        Verdict::Unauthorized(reason) => {
            let reason = match reason {
                DenyReason::Credentials(CredentialError::Missing) => "missing_token",
                DenyReason::Credentials(_) => "bad_header",
                DenyReason::Token(VerifyError::Expired) => "expired",
                DenyReason::Token(VerifyError::NotYetValid | VerifyError::IssuedInFuture) => {
                    "not_yet_valid"
                }
                DenyReason::Token(VerifyError::BadSignature) => "bad_signature",
                DenyReason::Token(VerifyError::UnknownKid) => "unknown_key",
                DenyReason::Token(VerifyError::WrongIssuer) => "wrong_issuer",
                DenyReason::Token(VerifyError::WrongAudience) => "wrong_audience",
                DenyReason::Token(_) => "malformed_token",
                DenyReason::SessionEnded => "session_ended",
                DenyReason::UnparseableEvent
                | DenyReason::UnknownEvent
                | DenyReason::IncompleteEvent(_) => "bad_event",
            };
            event(Outcome::Unauthorized).with_reason(reason)
        }
    }
}

/// Nothing could be decided: an operator's problem, answered as a function error (500).
#[derive(Debug, thiserror::Error)]
pub enum Undecided {
    /// No keys.
    #[error(transparent)]
    Keys(#[from] KeysUnavailable),
    /// No answer from the session store, with the check on.
    #[cfg(feature = "sessions")]
    #[error(transparent)]
    Sessions(#[from] SessionsUnavailable),
}

/// Why the function answers with an error instead of a body.
#[derive(thiserror::Error)]
pub enum AnswerError {
    /// No valid token: API Gateway answers 401. The message is exactly `Unauthorized`.
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
    /// No keys (or, with the session check, no session store) to decide with: API Gateway
    /// answers 500.
    #[error(transparent)]
    Undecided(#[from] Undecided),
}

// `lambda_runtime` logs a handler error by its Debug text: a refusal must read exactly
// `Unauthorized`, so that `tessera_lambda::init_tracing_with_refusal` can tell it from an
// operator's problem.
impl std::fmt::Debug for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnswerError::Unauthorized(_) => f.write_str(crate::UNAUTHORIZED),
            AnswerError::Undecided(why) => f.debug_tuple("Undecided").field(why).finish(),
        }
    }
}

//! The service's configuration, read once at start-up through `tessera-config` (one error
//! style, naming the variable, in every binary).

use tessera_config::{ConfigError, Vars, VerifyConfig};

use crate::Cors;
use crate::cookie::{RefreshDelivery, cookie_path_setting};
#[cfg(feature = "store")]
use tessera_store::LockoutPolicy;

/// The longest leeway the verifiers accept for `exp`/`nbf` (the token crate's documented
/// maximum): more would keep expired tokens alive.
pub const MAX_LEEWAY_SECS: u64 = tessera_token::MAX_LEEWAY_SECS;
/// The longest reuse grace window: it exists only for a client that sent one token twice at once.
pub const MAX_REUSE_GRACE_SECS: i64 = 300;
/// The longest lifetime any token may have (one year); guards against a mistyped TTL.
pub const MAX_TTL_SECS: i64 = 366 * 24 * 3600;
/// The longest access token lifetime (one day): access tokens cannot be revoked before `exp`.
pub const MAX_ACCESS_TTL_SECS: i64 = 24 * 3600;
/// The variable that must say `true` for `REFRESH_REUSE_GRACE=0` to be accepted.
pub const GRACE_ZERO_CONFIRMATION: &str = "REFRESH_REUSE_GRACE_ZERO_CONFIRMED";

/// Everything the service reads from its environment, parsed and checked once.
///
/// Unset or empty optional variables take their defaults; an invalid value fails with a
/// [`ConfigError`] naming the variable, so a bad deployment fails at start, not per request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `ACCESS_TOKEN_TTL`: access token lifetime in seconds. Default 900 (15 minutes), at most one day.
    pub access_token_ttl: i64,
    /// `REFRESH_TOKEN_TTL`: absolute session lifetime in seconds. Default 2592000 (30 days);
    /// refreshing never extends it.
    pub refresh_token_ttl: i64,
    /// `REFRESH_IDLE_TTL`: a session unused for this long expires. Default 1209600 (14 days).
    pub refresh_idle_ttl: i64,
    /// `REFRESH_REUSE_GRACE`: seconds during which the immediate predecessor of the current
    /// refresh token is answered with the same successor instead of revoking the session: a
    /// client that sent one token twice at once, or retried after a lost reply. Default 30
    /// (above a function timeout of 10 s plus a retry delay); at most 300. 0 turns the window
    /// off and is refused unless `REFRESH_REUSE_GRACE_ZERO_CONFIRMED=true`.
    pub refresh_reuse_grace: i64,
    /// `ISSUER`, `AUDIENCE`, `TOKEN_LEEWAY`, `ACCESS_TOKEN_ALG`: what every binary that
    /// issues or checks tokens agrees on.
    pub verify: VerifyConfig,
    /// `TABLE_NAME`: the DynamoDB table; unset for the embedded store.
    pub table_name: Option<String>,
    /// `CLIENT_ID`: the `client_id` claim of access tokens. Default "tessera".
    pub client_id: String,
    /// `LOGIN_LOCKOUT_THRESHOLD`: failed logins of one username (a user or not) that lock it.
    /// Default 5.
    pub login_lockout_threshold: u32,
    /// `LOGIN_FAILURE_WINDOW`: seconds without a failed login after which a username's
    /// failures are forgotten. Default 900 (15 minutes), 1 to 86400. A successful login
    /// forgets them at once.
    pub login_failure_window: i64,
    /// `MAX_SESSIONS_PER_USER`: live sessions one user may have; a login past it revokes the
    /// oldest. Default 100, 1 to 1000.
    pub max_sessions_per_user: u32,
    /// `KEY_RELOAD_INTERVAL`: seconds between two reads of the key source by a function that
    /// signs or serves the JWKS, so a warm instance picks up a rotation. Default 300, 1 to
    /// 86400.
    pub key_reload_interval: u64,
    /// `LOGIN_MAX_CONCURRENT`: password checks run at once (each holds about 19 MiB while it
    /// runs). Default: the number of CPUs, at least 2; 1 to 256.
    pub login_max_concurrent: usize,
    /// `LOGIN_MAX_QUEUED`: logins that may wait for a password check; one more is answered
    /// 503 with `Retry-After`. Default 256, 0 to 100000.
    pub login_max_queued: usize,
    /// `REFRESH_TOKEN_DELIVERY`: where the refresh token travels: `body` (default), `cookie`
    /// (an HttpOnly cookie only, for browser apps) or `both`.
    pub refresh_delivery: RefreshDelivery,
    /// `REFRESH_COOKIE_PATH`: the cookie's `Path`. Default: the public prefix of `/auth`
    /// (`/prod/auth` on API Gateway's default URL, `/auth` under a custom domain or serve).
    pub refresh_cookie_path: Option<String>,
    /// `CORS_ALLOW_ORIGIN`: the origins a cookie-authenticated request may come from (and
    /// that may read the answers).
    pub cors: Cors,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads the configuration through `lookup` (a variable name -> its value), so tests
    /// need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::new(lookup))
    }

    /// Reads the configuration from `vars`.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let refresh_reuse_grace =
            vars.seconds("REFRESH_REUSE_GRACE", 30, 0, MAX_REUSE_GRACE_SECS)?;
        // Without a grace window, a client that retries a refresh whose reply was lost (a
        // Lambda timeout, a 502 or 504) presents a spent token and is logged out as a thief
        // would be. That trade must be chosen on purpose, never by a stray 0.
        if refresh_reuse_grace == 0 && !vars.flag(GRACE_ZERO_CONFIRMATION, false)? {
            return Err(ConfigError::Invalid {
                name: "REFRESH_REUSE_GRACE",
                reason: format!(
                    "0 turns off the window that makes a retry after a lost reply safe: such a \
                     retry then logs the user out. Set {GRACE_ZERO_CONFIRMATION}=true to accept \
                     that, or use a window of at least a few seconds"
                ),
            });
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Ok(Self {
            access_token_ttl: vars.seconds("ACCESS_TOKEN_TTL", 900, 1, MAX_ACCESS_TTL_SECS)?,
            refresh_token_ttl: vars.seconds("REFRESH_TOKEN_TTL", 2_592_000, 1, MAX_TTL_SECS)?,
            refresh_idle_ttl: vars.seconds("REFRESH_IDLE_TTL", 1_209_600, 1, MAX_TTL_SECS)?,
            refresh_reuse_grace,
            verify: VerifyConfig::from_vars(vars)?,
            table_name: vars.get("TABLE_NAME"),
            client_id: vars
                .get("CLIENT_ID")
                .unwrap_or_else(|| "tessera".to_owned()),
            login_lockout_threshold: vars.count("LOGIN_LOCKOUT_THRESHOLD", 5, 1, 1000)?,
            login_failure_window: vars.seconds("LOGIN_FAILURE_WINDOW", 900, 1, 86_400)?,
            max_sessions_per_user: vars.count("MAX_SESSIONS_PER_USER", 100, 1, 1000)?,
            key_reload_interval: vars.seconds("KEY_RELOAD_INTERVAL", 300, 1, 86_400)?,
            login_max_concurrent: vars.count("LOGIN_MAX_CONCURRENT", cpus.min(256), 1, 256)?,
            login_max_queued: vars.count("LOGIN_MAX_QUEUED", 256, 0, 100_000)?,
            refresh_delivery: RefreshDelivery::from_vars(vars)?,
            refresh_cookie_path: cookie_path_setting(vars)?,
            cors: Cors::from_vars(vars)?,
        })
    }

    /// The lockout policy: `LOGIN_LOCKOUT_THRESHOLD` failures, then 30 s doubling up to 15
    /// min, forgotten after `LOGIN_FAILURE_WINDOW` quiet seconds.
    #[cfg(feature = "store")]
    pub fn lockout_policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            threshold: self.login_lockout_threshold,
            window_secs: self.login_failure_window,
            ..LockoutPolicy::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> =
            [("ISSUER", "https://auth.example"), ("AUDIENCE", "api")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        for (k, v) in vars {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = config(&[]).unwrap();
        assert_eq!(c.access_token_ttl, 900);
        assert_eq!(c.refresh_token_ttl, 2_592_000);
        assert_eq!(c.refresh_idle_ttl, 1_209_600);
        assert_eq!(c.refresh_reuse_grace, 30);
        assert_eq!(c.verify.alg, tessera_token::Algorithm::Es256);
        assert_eq!(c.table_name, None);
        assert_eq!(c.client_id, "tessera");
        assert_eq!(c.verify.leeway_secs, 30);
        assert_eq!(c.login_lockout_threshold, 5);
        #[cfg(feature = "store")]
        assert_eq!(c.lockout_policy().threshold, 5);
        assert_eq!(c.login_failure_window, 900);
        #[cfg(feature = "store")]
        assert_eq!(c.lockout_policy().window_secs, 900);
        assert_eq!(c.max_sessions_per_user, 100);
        assert_eq!(c.key_reload_interval, 300);
        assert!(c.login_max_concurrent >= 2);
        assert_eq!(c.login_max_queued, 256);
    }

    #[test]
    fn a_grace_of_zero_must_be_confirmed() {
        let err = config(&[("REFRESH_REUSE_GRACE", "0")]).unwrap_err();
        assert!(
            err.to_string().contains(GRACE_ZERO_CONFIRMATION),
            "the error names the confirmation: {err}"
        );
        assert!(
            config(&[
                ("REFRESH_REUSE_GRACE", "0"),
                (GRACE_ZERO_CONFIRMATION, "yes")
            ])
            .is_err()
        );
        let confirmed = config(&[
            ("REFRESH_REUSE_GRACE", "0"),
            (GRACE_ZERO_CONFIRMATION, "true"),
        ])
        .unwrap();
        assert_eq!(confirmed.refresh_reuse_grace, 0);
    }

    #[test]
    fn issuer_and_audience_are_required() {
        let err = Config::from_lookup(|n| (n == "AUDIENCE").then(|| "api".to_owned())).unwrap_err();
        assert_eq!(err, ConfigError::Missing { name: "ISSUER" });
        let err = Config::from_lookup(|n| (n == "ISSUER").then(|| "iss".to_owned())).unwrap_err();
        assert_eq!(err, ConfigError::Missing { name: "AUDIENCE" });
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (name, value) in [
            ("ACCESS_TOKEN_TTL", "0"),
            ("ACCESS_TOKEN_TTL", "-5"),
            ("ACCESS_TOKEN_TTL", "15m"),
            ("REFRESH_TOKEN_TTL", "0"),
            ("REFRESH_IDLE_TTL", "x"),
            ("REFRESH_REUSE_GRACE", "-1"),
            ("REFRESH_REUSE_GRACE", "3600"),
            ("TOKEN_LEEWAY", "61"),
            ("LOGIN_LOCKOUT_THRESHOLD", "0"),
            ("LOGIN_FAILURE_WINDOW", "0"),
            ("MAX_SESSIONS_PER_USER", "0"),
            ("MAX_SESSIONS_PER_USER", "1001"),
            ("KEY_RELOAD_INTERVAL", "0"),
            ("LOGIN_MAX_CONCURRENT", "0"),
            ("LOGIN_MAX_QUEUED", "-1"),
            ("ACCESS_TOKEN_ALG", "none"),
            ("ACCESS_TOKEN_ALG", "HS512"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn every_algorithm_is_accepted_and_table_name_is_optional() {
        for (alg, expected) in [
            ("ES256", tessera_token::Algorithm::Es256),
            ("EdDSA", tessera_token::Algorithm::EdDsa),
            ("RS256", tessera_token::Algorithm::Rs256),
            ("HS256", tessera_token::Algorithm::Hs256),
        ] {
            assert_eq!(
                config(&[("ACCESS_TOKEN_ALG", alg)]).unwrap().verify.alg,
                expected
            );
        }
        assert_eq!(
            config(&[("REFRESH_REUSE_GRACE", "1")])
                .unwrap()
                .refresh_reuse_grace,
            1
        );
        assert_eq!(
            config(&[("TABLE_NAME", "t")])
                .unwrap()
                .table_name
                .as_deref(),
            Some("t")
        );
    }
}

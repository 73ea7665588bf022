//! Configuration, read once at start: the one place that turns environment variables into
//! typed settings, with one error type that names the variable at fault, so a bad deployment
//! fails at start with the same words in every binary, never per request.
//!
//! - [`Vars`] reads variables through a lookup (the process environment, or a map in tests).
//!   An unset and an empty variable are the same: templates pass `""` for an optional
//!   parameter.
//! - [`VerifyConfig`] is what every binary that issues or checks tokens agrees on: `ISSUER`,
//!   `AUDIENCE`, `TOKEN_LEEWAY` and `ACCESS_TOKEN_ALG`. The service, the authorizer and the
//!   CLI read it here and nowhere else.
//! - [`Clock`] and [`system_now`]: "now" in unix seconds, read once per request.
//!
//! Limits: no I/O beyond the lookup it is given.

use std::str::FromStr;
use std::sync::Arc;

use tessera_token::{Algorithm, RefreshPolicy, VerifyPolicy};

/// A configuration variable that is missing or invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{name} is required")]
    Missing {
        /// The environment variable.
        name: &'static str,
    },
    /// A variable is set to a value outside what it accepts.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The environment variable.
        name: &'static str,
        /// What the variable accepts.
        reason: String,
    },
}

impl ConfigError {
    /// The variable at fault.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Missing { name } | Self::Invalid { name, .. } => name,
        }
    }
}

/// Variables read through a lookup, trimmed; empty counts as unset.
pub struct Vars<F> {
    lookup: F,
}

/// The process environment as a lookup.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Vars<fn(&str) -> Option<String>> {
    /// The process environment.
    pub fn env() -> Self {
        Self { lookup: env }
    }
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// Variables looked up through `lookup` (a variable name -> its value).
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The trimmed value, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A variable that must be set.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name })
    }

    /// A whole number of seconds from `min` to `max`, `default` when unset.
    pub fn seconds<T>(
        &self,
        name: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        self.ranged(name, default, min, max, "a whole number of seconds")
    }

    /// A whole number (a count, not a duration) from `min` to `max`, `default` when unset.
    pub fn count<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        self.ranged(name, default, min, max, "a whole number")
    }

    fn ranged<T>(
        &self,
        name: &'static str,
        default: T,
        min: T,
        max: T,
        what: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("expected {what} from {min} to {max}, got {raw:?}"),
            }),
        }
    }

    /// `true` or `false` (any case), `default` when unset.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got {other:?}"),
            }),
        }
    }

    /// A value parsed by `parse`, whose error text says what the variable accepts; `None`
    /// when unset.
    pub fn parsed<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name)
            .map(|raw| parse(&raw).map_err(|reason| ConfigError::Invalid { name, reason }))
            .transpose()
    }
}

/// What every binary that issues or checks access tokens must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyConfig {
    /// `ISSUER` (required): the `iss` of every token, and the base URL of the discovery
    /// document.
    pub issuer: String,
    /// `AUDIENCE` (required): the `aud` of every access token.
    pub audience: String,
    /// `TOKEN_LEEWAY`: clock skew allowed when checking `exp`, `nbf` and `iat`, in seconds.
    /// Default 30, at most 60.
    pub leeway_secs: u64,
    /// `ACCESS_TOKEN_ALG`: ES256 (default), EdDSA, RS256 or HS256.
    pub alg: Algorithm,
}

impl VerifyConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads the settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::new(lookup))
    }

    /// Reads the settings from `vars`.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let alg = vars
            .parsed("ACCESS_TOKEN_ALG", |raw| {
                Algorithm::from_str(raw)
                    .map_err(|_| format!("expected one of ES256, EdDSA, RS256, HS256, got {raw:?}"))
            })?
            .unwrap_or_default();
        Ok(Self {
            issuer: vars.required("ISSUER")?,
            audience: vars.required("AUDIENCE")?,
            leeway_secs: vars.seconds("TOKEN_LEEWAY", 30, 0, tessera_token::MAX_LEEWAY_SECS)?,
            alg,
        })
    }

    /// The policy access tokens are verified with.
    pub fn access_policy(&self) -> VerifyPolicy {
        let mut policy = VerifyPolicy::new(self.issuer.clone(), self.audience.clone());
        policy.leeway_secs = self.leeway_secs;
        policy
    }

    /// The policy refresh tokens are verified with.
    pub fn refresh_policy(&self) -> RefreshPolicy {
        let mut policy = RefreshPolicy::new(self.issuer.clone());
        policy.leeway_secs = self.leeway_secs;
        policy
    }

    /// The issuer without a trailing slash, the base of the discovery document's URLs.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}

/// A source of "now" in unix seconds, read once per request.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock in unix seconds.
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(system_now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> Vars<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Vars::new(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn issuer_and_audience_are_required_and_the_rest_defaults() {
        let config = VerifyConfig::from_vars(&vars(&[
            ("ISSUER", "https://a.example/"),
            ("AUDIENCE", "api"),
        ]))
        .unwrap();
        assert_eq!(config.leeway_secs, 30);
        assert_eq!(config.alg, Algorithm::Es256);
        assert_eq!(config.issuer_base(), "https://a.example");
        assert_eq!(config.access_policy().leeway_secs, 30);
        assert_eq!(
            VerifyConfig::from_vars(&vars(&[("AUDIENCE", "api")])),
            Err(ConfigError::Missing { name: "ISSUER" })
        );
        assert_eq!(
            VerifyConfig::from_vars(&vars(&[("ISSUER", "i"), ("AUDIENCE", "  ")])),
            Err(ConfigError::Missing { name: "AUDIENCE" }),
            "empty is unset"
        );
    }

    #[test]
    fn every_invalid_value_names_its_variable() {
        for (name, value) in [
            ("TOKEN_LEEWAY", "61"),
            ("TOKEN_LEEWAY", "-1"),
            ("TOKEN_LEEWAY", "30s"),
            ("ACCESS_TOKEN_ALG", "none"),
            ("ACCESS_TOKEN_ALG", "HS512"),
        ] {
            let err = VerifyConfig::from_vars(&vars(&[
                ("ISSUER", "i"),
                ("AUDIENCE", "a"),
                (name, value),
            ]))
            .unwrap_err();
            assert_eq!(err.variable(), name);
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn counts_seconds_and_flags_parse_within_their_range() {
        let v = vars(&[("N", "7"), ("F", "TRUE"), ("BAD", "maybe")]);
        assert_eq!(v.count("N", 1, 1, 10), Ok(7));
        assert_eq!(v.count("UNSET", 3, 1, 10), Ok(3));
        assert!(v.count("N", 1, 8, 10).is_err());
        assert_eq!(v.flag("F", false), Ok(true));
        assert_eq!(v.flag("UNSET", false), Ok(false));
        assert!(v.flag("BAD", false).is_err());
    }
}

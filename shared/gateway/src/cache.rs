//! API Gateway's authorizer cache, made stricter (see [`AuthorizerCache`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, RwLock};

use tessera_authorizer::PolicyResponse;
use tessera_config::{ConfigError, Vars};

/// How long an authorizer answer is reused for the same `Authorization` header, as API
/// Gateway's authorizer cache does: the template's `AuthorizerResultTtl` default. The
/// environment variable `AUTHORIZER_RESULT_TTL` (seconds, 0 to 3600; 0 turns the cache off)
/// sets it, as the template parameter does on AWS.
pub const DEFAULT_AUTHORIZER_RESULT_TTL: i64 = 300;

/// The most answers the authorizer cache holds; bounds its memory (a few MB at most).
const AUTHORIZER_CACHE_ENTRIES: usize = 4096;

/// API Gateway's authorizer cache, made stricter: an answer is reused for the same
/// `Authorization` header only for a token the authorizer verified (allowed, or denied for
/// scope), only until the earlier of the TTL and the token's own `exp` (checked on every
/// hit, so an expired token is never served from the cache, with or without leeway), and
/// its policy is evaluated against each request's method ARN, as API Gateway evaluates a
/// cached policy. Keys rotated away stay accepted for at most the TTL, as on AWS.
pub struct AuthorizerCache {
    ttl: i64,
    entries: RwLock<HashMap<Box<str>, CachedAnswer, TailHashing>>,
}

struct CachedAnswer {
    policy: Arc<PolicyResponse>,
    /// When the authorizer verified the token; a clock that steps back misses.
    verified_at: i64,
    /// Exclusive: the earlier of `verified_at + ttl` and the token's `exp`.
    until: i64,
}

impl AuthorizerCache {
    /// `AUTHORIZER_RESULT_TTL` (seconds, 0 to 3600, default 300; 0 turns the cache off),
    /// read once at start; an invalid value fails the start naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let ttl = Vars::env().seconds(
            "AUTHORIZER_RESULT_TTL",
            DEFAULT_AUTHORIZER_RESULT_TTL,
            0,
            3600,
        )?;
        Ok(Self::with_ttl(ttl))
    }

    pub(crate) fn with_ttl(ttl: i64) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::default()),
        }
    }

    pub(crate) fn get(&self, authorization: &str, now: i64) -> Option<Arc<PolicyResponse>> {
        if self.ttl == 0 {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let hit = entries.get(authorization)?;
        (hit.verified_at <= now && now < hit.until).then(|| Arc::clone(&hit.policy))
    }

    pub(crate) fn insert(&self, authorization: &str, policy: Arc<PolicyResponse>, now: i64) {
        if self.ttl == 0 {
            return;
        }
        let Some(exp) = bearer_exp(authorization) else {
            return;
        };
        let until = exp.min(now.saturating_add(self.ttl));
        if now >= until {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= AUTHORIZER_CACHE_ENTRIES {
            entries.retain(|_, answer| now < answer.until);
            if entries.len() >= AUTHORIZER_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            authorization.into(),
            CachedAnswer {
                policy,
                verified_at: now,
                until,
            },
        );
    }
}

/// Hashes the last 64 bytes of a key only: an `Authorization` header ends with its token's
/// signature, distinct for every token, and SipHash over the ~700 bytes before it was a
/// measurable part of a cached request. Keys are still compared whole, the hash keeps its
/// per-process random seed, and only verified tokens are ever stored, so no one can fill the
/// map with colliding keys.
#[derive(Default)]
struct TailHashing(RandomState);

impl BuildHasher for TailHashing {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(std::hash::DefaultHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.get(bytes.len().saturating_sub(64)..).unwrap_or(bytes);
        self.0.write(tail);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// The `exp` of the token in an `Authorization: Bearer <JWT>` header that the authorizer has
/// just verified; `None` for any other shape (such answers are simply not cached).
fn bearer_exp(authorization: &str) -> Option<i64> {
    let token = authorization.strip_prefix("Bearer ")?;
    tessera_token::dangerous::exp(token).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use tessera_authorizer::{AuthorizerContext, POLICY_VERSION, PolicyDocument};

    fn answer(sub: &str) -> Arc<PolicyResponse> {
        Arc::new(PolicyResponse {
            context: AuthorizerContext {
                client_id: String::new(),
                jti: String::new(),
                scope: String::new(),
                sid: String::new(),
                sub: sub.to_owned(),
            },
            policy_document: PolicyDocument {
                statement: Vec::new(),
                version: POLICY_VERSION,
            },
            principal_id: sub.to_owned(),
        })
    }

    fn header(payload: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "Bearer {}.{}.c2ln",
            b64(r#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#),
            b64(payload)
        )
    }

    #[test]
    fn the_cache_reads_exp_only_from_a_plain_bearer_jwt() {
        assert_eq!(bearer_exp(&header(r#"{"exp":1000,"sub":"u"}"#)), Some(1000));
        let plain = header(r#"{"exp":1000}"#);
        assert_eq!(bearer_exp(&plain.replacen("Bearer", "bearer", 1)), None);
        assert_eq!(bearer_exp(&format!("{plain}.x")), None);
        assert_eq!(bearer_exp(&format!("{plain} ")), None);
        assert_eq!(bearer_exp(&header(r#"{"exp":1000,"exp":9999}"#)), None);
        assert_eq!(bearer_exp(&header(r#"{"sub":"u"}"#)), None);
    }

    #[test]
    fn a_cached_answer_ends_at_exp_or_ttl_and_never_serves_an_earlier_clock() {
        let cache = AuthorizerCache::with_ttl(300);
        let token = header(r#"{"exp":1100}"#);
        let policy = answer("u");
        cache.insert(&token, Arc::clone(&policy), 1000);
        assert_eq!(cache.get(&token, 1000), Some(Arc::clone(&policy)));
        assert_eq!(cache.get(&token, 1099), Some(policy));
        assert_eq!(cache.get(&token, 1100), None, "expired: verify again");
        assert_eq!(cache.get(&token, 999), None, "clock stepped back");
        assert_eq!(cache.get(&header(r#"{"exp":1101}"#), 1000), None);

        let long = header(r#"{"exp":999999}"#);
        cache.insert(&long, answer("u"), 1000);
        assert!(cache.get(&long, 1299).is_some());
        assert_eq!(cache.get(&long, 1300), None, "ttl over");
    }

    #[test]
    fn a_ttl_of_zero_turns_the_cache_off_and_an_expired_token_is_never_stored() {
        let off = AuthorizerCache::with_ttl(0);
        let token = header(r#"{"exp":1100}"#);
        off.insert(&token, answer("u"), 1000);
        assert_eq!(off.get(&token, 1000), None);

        let on = AuthorizerCache::with_ttl(300);
        on.insert(&token, answer("u"), 1100);
        assert_eq!(on.get(&token, 1100), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = AuthorizerCache::with_ttl(300);
        for i in 0..(AUTHORIZER_CACHE_ENTRIES + 10) {
            let token = header(&format!(r#"{{"exp":2000,"jti":"{i}"}}"#));
            cache.insert(&token, answer("u"), 1000);
        }
        let held = cache.entries.read().unwrap().len();
        assert!(held <= AUTHORIZER_CACHE_ENTRIES, "{held}");
    }
}

//! Passwords: the secret type, Argon2id hashing (OWASP parameters, PHC strings) and
//! verification off the async executor.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::ServiceError;

/// Argon2id memory cost in KiB (OWASP Password Storage Cheat Sheet: m=19456, t=2, p=1).
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id iterations.
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id lanes.
pub const ARGON2_P_COST: u32 = 1;
/// The longest password accepted, in bytes: enough for any passphrase, bounded against abuse.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The hash an unknown user's login is checked against, so that it costs the same time as a
/// wrong password. Its password was 32 random bytes, discarded once hashed,
/// and its parameters are the ones [`hash_password`] uses (a unit test checks that).
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$FkaVa4k/2GqoUQxGjXi+dg$\
xDlXKpZCLq1H+dtyzJKdWcNPkRuNl9dxDHm8e5lWPtI";

tessera_token::redacted_secret! {
    /// A password as the user typed it: reachable only through [`Password::expose_secret`].
    #[derive(Clone)]
    pub struct Password(String);
    /// The password itself. Call it only to hash or verify.
    fn expose_secret -> &str;
}

impl Password {
    /// Wraps a password; its length is checked by [`Password::parse`], not here.
    pub fn new(password: impl Into<String>) -> Self {
        Self(Zeroizing::new(password.into()))
    }

    /// A password from a request: non-empty and at most [`MAX_PASSWORD_BYTES`].
    pub fn parse(password: impl Into<String>) -> Result<Self, ServiceError> {
        let password = Self::new(password);
        if password.0.is_empty() {
            return Err(ServiceError::InvalidRequest("password is required"));
        }
        if password.0.len() > MAX_PASSWORD_BYTES {
            return Err(ServiceError::InvalidRequest("password is too long"));
        }
        Ok(password)
    }
}

fn argon2() -> Result<Argon2<'static>, ServiceError> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(|e| ServiceError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with Argon2id (OWASP parameters) and a fresh 128-bit salt; returns the
/// PHC string. CPU-bound (tens of milliseconds): call it from a blocking context, or use
/// [`hash_password_blocking`] from async code.
pub fn hash_password(password: &Password) -> Result<String, ServiceError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt)
        .map_err(|_| ServiceError::Internal("random salt".to_owned()))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ServiceError::Internal(format!("salt encoding: {e}")))?;
    let hash = argon2()?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| ServiceError::Internal(format!("argon2 hash: {e}")))?;
    Ok(hash.to_string())
}

/// [`hash_password`] on tokio's blocking pool, so the executor keeps serving other requests.
pub async fn hash_password_blocking(password: Password) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?
}

/// What the stored hash says about a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password matches.
    Match,
    /// The password does not match (or the user does not exist).
    Mismatch,
}

/// Verifies `password` against a PHC string on tokio's blocking pool. `None` (an unknown
/// user) verifies against a fixed dummy hash with the same parameters and answers
/// [`PasswordCheck::Mismatch`]: the same work and the same answer as a wrong password.
///
/// The parameters come from the PHC string, so hashes made with older parameters still verify.
pub async fn verify_password(
    password: &Password,
    phc: Option<&str>,
) -> Result<PasswordCheck, ServiceError> {
    verify_password_holding(password, phc, ()).await
}

/// [`verify_password`], holding `guard` (a concurrency permit) until the hash is done: inside
/// the blocking task, so a caller that goes away cannot release it while the hash still runs.
pub(crate) async fn verify_password_holding<G: Send + 'static>(
    password: &Password,
    phc: Option<&str>,
    guard: G,
) -> Result<PasswordCheck, ServiceError> {
    let known = phc.is_some();
    let phc = phc.unwrap_or(DUMMY_PHC).to_owned();
    let password = password.clone();
    let check = tokio::task::spawn_blocking(move || {
        let _held = guard;
        verify_sync(&password, &phc)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("verification task: {e}")))??;
    Ok(if known {
        check
    } else {
        PasswordCheck::Mismatch
    })
}

/// Bounds the password checks that run at once, and the logins that may wait for one.
///
/// Each check holds about 19 MiB and a blocking thread for tens of milliseconds; without a
/// bound, a login flood would start hundreds of them. A login first reserves a place (running
/// or waiting) before anything else, and is answered 503 with `Retry-After` when there is
/// none, so it is never charged a lockout attempt for a check it did not get.
#[derive(Clone, Debug)]
pub struct HashLimiter {
    places: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

/// A reserved place: [`Reservation::verify`] waits for a running slot, then checks.
#[derive(Debug)]
pub struct Reservation {
    _place: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl HashLimiter {
    /// At most `running` checks at once and `queued` more waiting (`running` at least 1).
    pub fn new(running: usize, queued: usize) -> Self {
        let running = running.max(1);
        Self {
            places: Arc::new(Semaphore::new(running.saturating_add(queued))),
            running: Arc::new(Semaphore::new(running)),
        }
    }

    /// Reserves a place, or [`ServiceError::TemporarilyUnavailable`] when every place is taken.
    pub fn reserve(&self) -> Result<Reservation, ServiceError> {
        let place = Arc::clone(&self.places).try_acquire_owned().map_err(|_| {
            tracing::warn!("login refused: every password check slot is taken");
            ServiceError::TemporarilyUnavailable {
                retry_after_secs: 1,
            }
        })?;
        Ok(Reservation {
            _place: place,
            running: Arc::clone(&self.running),
        })
    }
}

impl Reservation {
    /// Waits for a running slot, then verifies as [`verify_password`] does.
    pub async fn verify(
        self,
        password: &Password,
        phc: Option<&str>,
    ) -> Result<PasswordCheck, ServiceError> {
        let permit = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::Internal("password check limiter closed".to_owned()))?;
        verify_password_holding(password, phc, (permit, self)).await
    }
}

fn verify_sync(password: &Password, phc: &str) -> Result<PasswordCheck, ServiceError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| ServiceError::Internal(format!("stored password hash unreadable: {e}")))?;
    match argon2()?.verify_password(password.expose_secret().as_bytes(), &parsed) {
        Ok(()) => Ok(PasswordCheck::Match),
        Err(argon2::password_hash::Error::Password) => Ok(PasswordCheck::Mismatch),
        Err(e) => Err(ServiceError::Internal(format!("argon2 verify: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?}"), "Password([redacted])");
        assert_eq!(p.expose_secret(), "hunter2");
    }

    #[test]
    fn password_parse_refuses_empty_and_oversized() {
        assert!(matches!(
            Password::parse(""),
            Err(ServiceError::InvalidRequest(_))
        ));
        assert!(matches!(
            Password::parse("x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(ServiceError::InvalidRequest(_))
        ));
        assert!(Password::parse("x".repeat(MAX_PASSWORD_BYTES)).is_ok());
    }

    #[test]
    fn hashes_are_argon2id_phc_with_owasp_parameters_and_fresh_salts() {
        let p = Password::new("correct horse battery staple");
        let a = hash_password(&p).unwrap();
        let b = hash_password(&p).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash gets its own salt");
    }

    #[test]
    fn the_dummy_hash_uses_the_same_parameters_as_real_hashes() {
        let real = hash_password(&Password::new("x")).unwrap();
        let params = |phc: &str| phc.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(DUMMY_PHC), params(&real));
        assert!(PasswordHash::new(DUMMY_PHC).is_ok());
    }

    #[tokio::test]
    async fn verify_matches_the_right_password_only() {
        let p = Password::new("correct horse battery staple");
        let phc = hash_password_blocking(p.clone()).await.unwrap();
        assert_eq!(
            verify_password(&p, Some(&phc)).await.unwrap(),
            PasswordCheck::Match
        );
        let wrong = Password::new("Correct horse battery staple");
        assert_eq!(
            verify_password(&wrong, Some(&phc)).await.unwrap(),
            PasswordCheck::Mismatch
        );
    }

    #[tokio::test]
    async fn an_unknown_user_is_a_mismatch_whatever_the_password() {
        for p in ["", "x", "correct horse battery staple"] {
            let check = verify_password(&Password::new(p), None).await.unwrap();
            assert_eq!(check, PasswordCheck::Mismatch);
        }
    }

    #[tokio::test]
    async fn the_limiter_refuses_past_its_places_and_frees_them_when_done() {
        let limiter = HashLimiter::new(1, 1);
        let first = limiter.reserve().unwrap();
        let second = limiter.reserve().unwrap();
        assert!(matches!(
            limiter.reserve(),
            Err(ServiceError::TemporarilyUnavailable {
                retry_after_secs: 1
            })
        ));
        let check = first.verify(&Password::new("x"), None).await.unwrap();
        assert_eq!(check, PasswordCheck::Mismatch);
        drop(second);
        assert!(
            limiter.reserve().is_ok(),
            "places come back once checks end"
        );
    }

    #[tokio::test]
    async fn an_unreadable_stored_hash_is_an_internal_error() {
        let err = verify_password(&Password::new("x"), Some("not a phc"))
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Internal(_)));
    }
}

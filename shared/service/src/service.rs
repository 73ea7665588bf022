//! The use cases: login, refresh, logout and session management.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_keys::KeyRing;
use tessera_metrics::{Outcome, UseCase};
use tessera_store::{
    LockoutPolicy, LoginAttempt, NewSession, RotateOutcome, Rotation, Session, SessionCreated,
    SessionStore, Store, User, UserStatus,
};
use tessera_token::{
    AccessClaims, AccessToken, AccessVerifier, Jti, KeySet, RefreshClaims, RefreshToken,
    RefreshVerifier, VerifyError, random_id,
};
use zeroize::Zeroizing;

use crate::observe::observe;
use crate::password::{HashLimiter, PasswordCheck};
use crate::sessions::SessionView;
use crate::{ClientMeta, Config, Password, ServiceError, Username};
use tessera_config::{Clock, system_now};

/// The longest user agent kept with a session, in bytes; the rest is cut off.
pub const MAX_USER_AGENT_BYTES: usize = 512;

tessera_token::redacted_secret! {
    /// A token as a client presented it (refresh token at refresh or logout).
    #[derive(Clone)]
    pub struct PresentedToken(String);
    /// The compact token, for verification only.
    fn expose_secret -> &str;
}

impl PresentedToken {
    /// Wraps a token taken from a request.
    pub fn new(token: impl Into<String>) -> Self {
        Self(Zeroizing::new(token.into()))
    }
}

/// A successful login or refresh (RFC 6749 §5.1). `Debug` shows no token.
#[derive(Clone, Debug)]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: AccessToken,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The new refresh token (for a grace replay: the same one as the first answer).
    pub refresh_token: RefreshToken,
    /// Seconds until the session, and so the refresh token, expires.
    pub refresh_token_expires_in: i64,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The session id (also in both tokens).
    pub sid: String,
}

/// Where the service's keys come from.
pub enum ServiceKeys {
    /// A key set loaded once (a key file, tests).
    Fixed(Arc<KeySet>),
    /// A key ring (Lambda): when a refresh token names a `kid` this instance does not know
    /// (another instance already signs with a rotated secret), the ring re-reads the secret,
    /// at most once per its interval, and the service rebuilds its verifiers.
    Ring(KeyRing),
}

impl From<KeySet> for ServiceKeys {
    fn from(keys: KeySet) -> Self {
        Self::Fixed(Arc::new(keys))
    }
}

impl From<Arc<KeySet>> for ServiceKeys {
    fn from(keys: Arc<KeySet>) -> Self {
        Self::Fixed(keys)
    }
}

impl From<KeyRing> for ServiceKeys {
    fn from(ring: KeyRing) -> Self {
        Self::Ring(ring)
    }
}

/// One key set and the verifiers built from it, swapped as a whole on a reload.
struct Loaded {
    keys: Arc<KeySet>,
    access: AccessVerifier,
    refresh: RefreshVerifier,
}

impl Loaded {
    fn new(keys: Arc<KeySet>, config: &Config) -> Self {
        let access = keys.access_verifier(config.verify.access_policy());
        let refresh = keys.refresh_verifier(config.verify.refresh_policy());
        Self {
            keys,
            access,
            refresh,
        }
    }
}

/// The token service: configuration, keys, verifiers (built once) and a store.
///
/// `S` is only bounded where a use case needs it: login needs a [`Store`] (users and
/// sessions), refresh, logout and the session endpoints a [`SessionStore`], discovery nothing,
/// so a function links and is granted only what it uses.
pub struct Service<S> {
    config: Config,
    loaded: RwLock<Arc<Loaded>>,
    ring: Option<KeyRing>,
    store: S,
    lockout: LockoutPolicy,
    hashes: HashLimiter,
    clock: Clock,
}

/// `base64url(SHA-256(jti))`: what the store keeps instead of a refresh token id.
pub fn jti_hash(jti: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jti.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl<S> Service<S> {
    /// Builds the service: the verifiers are made once here from the keys (a [`KeySet`], an
    /// `Arc<KeySet>` or a [`KeyRing`]) and the policies in `config`. The keys should have
    /// been loaded for `config.verify.alg`; discovery reports the key set's own.
    pub fn new(config: Config, keys: impl Into<ServiceKeys>, store: S) -> Self {
        let (keys, ring) = match keys.into() {
            ServiceKeys::Fixed(keys) => (keys, None),
            ServiceKeys::Ring(ring) => (ring.current(), Some(ring)),
        };
        let loaded = RwLock::new(Arc::new(Loaded::new(keys, &config)));
        let lockout = config.lockout_policy();
        let hashes = HashLimiter::new(config.login_max_concurrent, config.login_max_queued);
        Self {
            config,
            loaded,
            ring,
            store,
            lockout,
            hashes,
            clock: Arc::new(system_now),
        }
    }

    fn loaded(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(l) => Arc::clone(&l),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn install(&self, fresh: Arc<Loaded>) {
        match self.loaded.write() {
            Ok(mut slot) => *slot = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    /// The keys and verifiers to sign or publish with: with a key ring, re-read on its timer
    /// (`KEY_RELOAD_INTERVAL`) so a warm instance signs with a rotated key, and rebuilt when
    /// the ring's key set changed (also when another user of the same ring reloaded it).
    async fn fresh(&self) -> Arc<Loaded> {
        let loaded = self.loaded();
        let Some(ring) = &self.ring else {
            return loaded;
        };
        let keys = ring.refresh_if_due().await;
        if Arc::ptr_eq(&keys, &loaded.keys) {
            return loaded;
        }
        let fresh = Arc::new(Loaded::new(keys, &self.config));
        self.install(Arc::clone(&fresh));
        fresh
    }

    /// The key set to publish in the JWKS and discovery: refreshed as [`Self::fresh`] says.
    pub async fn published_keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.fresh().await.keys)
    }

    /// Verifies a refresh token as of `at`. A `kid` this instance does not know makes a key
    /// ring re-read the secret (rate-limited by the ring) and the token is checked once more.
    async fn verify_refresh(&self, token: &str, at: i64) -> Result<RefreshClaims, VerifyError> {
        let loaded = self.loaded();
        match loaded.refresh.verify(token, at) {
            Err(VerifyError::UnknownKid) => {}
            other => return other,
        }
        let Some(ring) = &self.ring else {
            return Err(VerifyError::UnknownKid);
        };
        let keys = match ring.reload_for_unknown_kid().await {
            Ok(Some(keys)) => keys,
            Ok(None) => return Err(VerifyError::UnknownKid),
            Err(e) => {
                tracing::warn!(error = %e, "key reload after an unknown kid failed");
                return Err(VerifyError::UnknownKid);
            }
        };
        let fresh = Arc::new(Loaded::new(keys, &self.config));
        let result = fresh.refresh.verify(token, at);
        self.install(fresh);
        result
    }

    /// Replaces the clock (tests use it to step through expiry and grace windows).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, in unix seconds, by the service's clock.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The key set in use now (private keys; never serialise it).
    pub fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.loaded().keys)
    }

    /// The access token verifier built from the key set in use, for an in-process authorizer.
    pub fn access_verifier(&self) -> AccessVerifier {
        self.loaded().access.clone()
    }

    /// Takes the service apart again (to rebuild it around a wrapped store).
    pub fn into_parts(self) -> (Config, ServiceKeys, S) {
        let keys = match self.ring {
            Some(ring) => ServiceKeys::Ring(ring),
            None => ServiceKeys::Fixed(Arc::clone(&self.loaded().keys)),
        };
        (self.config, keys, self.store)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The lockout policy in force.
    pub fn lockout_policy(&self) -> &LockoutPolicy {
        &self.lockout
    }

    /// Issues an access token and a refresh token for `session`, the refresh token with the
    /// given `jti` and `iat` and the session's absolute expiry.
    async fn issue_pair(
        &self,
        session: &Session,
        refresh_jti: String,
        refresh_iat: i64,
        now: i64,
    ) -> Result<TokenResponse, ServiceError> {
        let keys = Arc::clone(&self.fresh().await.keys);
        let access = keys.issue_access(&AccessClaims {
            iss: self.config.verify.issuer.clone(),
            sub: session.user_id.clone(),
            aud: self.config.verify.audience.clone(),
            exp: now + self.config.access_token_ttl,
            iat: now,
            nbf: now,
            jti: Jti::random().into_string(),
            client_id: session.client_id.clone(),
            sid: session.sid.clone(),
            scope: session.scope.clone(),
        })?;
        let refresh = keys.issue_refresh(&RefreshClaims {
            iss: self.config.verify.issuer.clone(),
            sub: session.user_id.clone(),
            sid: session.sid.clone(),
            jti: refresh_jti,
            iat: refresh_iat,
            exp: session.expires_at,
        })?;
        Ok(TokenResponse {
            access_token: access,
            expires_in: self.config.access_token_ttl,
            refresh_token: refresh,
            refresh_token_expires_in: (session.expires_at - now).max(0),
            scope: session.scope.clone(),
            sid: session.sid.clone(),
        })
    }
}

/// How often a login creates its session again after a revocation that changed nothing it
/// checked (a "log out everywhere" that raced it), before giving up.
const LOGIN_CREATE_ATTEMPTS: usize = 3;

impl<S: Store> Service<S> {
    /// Logs a user in. In order: reserve a password check (503 when none is left, before
    /// anything is counted); charge the attempt to the username, user or not, before the
    /// password is checked (429 while it is locked, so at most the threshold's guesses are
    /// ever checked, however many arrive at once); read the user; check the password (an
    /// unknown user costs the same and gets the same answer as a wrong password); then create
    /// the session in one write conditional on the user being as read (the watermark, the
    /// password hash, the status), which also resets the username's counter and enforces the
    /// session cap. On DynamoDB the success path is three requests: the charge, the read, the
    /// transaction.
    pub async fn login(
        &self,
        username: &Username,
        password: &Password,
        client: ClientMeta,
        now: i64,
    ) -> Result<TokenResponse, ServiceError> {
        let started = Instant::now();
        let mut outcome = Outcome::Failure;
        let result = self
            .login_metered(username, password, client, now, &mut outcome)
            .await;
        observe(UseCase::Login, outcome, &result, started);
        result
    }

    #[tracing::instrument(name = "login", skip_all)]
    async fn login_metered(
        &self,
        username: &Username,
        password: &Password,
        client: ClientMeta,
        now: i64,
        outcome: &mut Outcome,
    ) -> Result<TokenResponse, ServiceError> {
        let reservation = self.hashes.reserve()?;
        let ticket = match self
            .store
            .charge_login_attempt(username.as_str(), now, &self.lockout)
            .await?
        {
            LoginAttempt::Admitted(ticket) => ticket,
            LoginAttempt::Locked { retry_after_secs } => {
                *outcome = Outcome::Locked;
                tracing::info!(retry_after_secs, "login refused: username locked");
                return Err(ServiceError::TooManyAttempts { retry_after_secs });
            }
        };
        let user = self.store.get_user_by_username(username.as_str()).await?;
        let check = reservation
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let user = match (user, check) {
            (Some(user), PasswordCheck::Match) if user.status == UserStatus::Active => user,
            (user, check) => {
                // A disabled user with the right password counts as a failure too: refunding
                // it would cost a request the other failures do not, and tell them apart.
                self.store.settle_failed_login(&ticket).await?;
                tracing::info!(
                    known = user.is_some(),
                    disabled = user
                        .as_ref()
                        .is_some_and(|u| u.status != UserStatus::Active)
                        && check == PasswordCheck::Match,
                    failed_attempts = ticket.attempts,
                    "login failed"
                );
                return Err(ServiceError::InvalidGrant);
            }
        };

        let refresh_jti = Jti::random().into_string();
        let mut owner = user;
        for _ in 0..LOGIN_CREATE_ATTEMPTS {
            let session = self.new_session(&owner, &refresh_jti, &client, now);
            let created = self
                .store
                .create_session(&NewSession {
                    session: &session,
                    user: &owner,
                    max_sessions: self.config.max_sessions_per_user,
                })
                .await?;
            match created {
                SessionCreated::Created { revoked } => {
                    *outcome = Outcome::Success;
                    tracing::info!(
                        user_id = %owner.user_id,
                        sid = %session.sid,
                        capped = revoked.len(),
                        "login succeeded"
                    );
                    return self.issue_pair(&session, refresh_jti, now, now).await;
                }
                SessionCreated::UserChanged => {
                    // A revocation landed between the read and the write. Only one that left
                    // the password, the status and the user as they were (a "log out
                    // everywhere") lets this login go on, as a login after it.
                    match self.store.get_user_by_username(username.as_str()).await? {
                        Some(now_stored)
                            if now_stored.user_id == owner.user_id
                                && now_stored.password_hash == owner.password_hash
                                && now_stored.status == UserStatus::Active =>
                        {
                            owner = now_stored;
                        }
                        _ => {
                            self.store.settle_failed_login(&ticket).await?;
                            tracing::info!(
                                user_id = %owner.user_id,
                                "login refused: the user was revoked while it ran"
                            );
                            return Err(ServiceError::InvalidGrant);
                        }
                    }
                }
            }
        }
        Err(ServiceError::TemporarilyUnavailable {
            retry_after_secs: 1,
        })
    }

    fn new_session(
        &self,
        owner: &User,
        refresh_jti: &str,
        client: &ClientMeta,
        now: i64,
    ) -> Session {
        let expires_at = now + self.config.refresh_token_ttl;
        Session {
            sid: random_id(),
            user_id: owner.user_id.clone(),
            username: owner.username.clone(),
            scope: owner.scope.clone(),
            client_id: self.config.client_id.clone(),
            current_hash: jti_hash(refresh_jti),
            previous_hash: None,
            rotated_at: None,
            generation: 0,
            created_at: now,
            last_used_at: now,
            expires_at,
            idle_expires_at: (now + self.config.refresh_idle_ttl).min(expires_at),
            user_agent: client
                .user_agent
                .clone()
                .map(|ua| truncate(ua, MAX_USER_AGENT_BYTES)),
            source_ip: client.source_ip.clone(),
            revoked: false,
            watermark: owner.revoked_before,
        }
    }

    /// Revokes all of `user_id`'s sessions (log out everywhere) by moving the owner's
    /// watermark; see [`crate::sessions::revoke_all`].
    pub async fn revoke_all(
        &self,
        user_id: &str,
        current_sid: Option<&str>,
        now: i64,
    ) -> Result<(), ServiceError> {
        crate::sessions::revoke_all(&self.store, user_id, current_sid, now).await
    }
}

impl<S: SessionStore> Service<S> {
    /// Trades a refresh token for a new pair (rotation with reuse detection): one store
    /// request. The successor's `jti` is derived from the presented one, so a replay within
    /// the grace window gets the byte-identical successor; a spent token revokes the session.
    pub async fn refresh(
        &self,
        token: &PresentedToken,
        now: i64,
    ) -> Result<TokenResponse, ServiceError> {
        let started = Instant::now();
        let mut outcome = Outcome::Invalid;
        let result = self.refresh_metered(token, now, &mut outcome).await;
        observe(UseCase::Refresh, outcome, &result, started);
        result
    }

    #[tracing::instrument(name = "refresh", skip_all)]
    async fn refresh_metered(
        &self,
        token: &PresentedToken,
        now: i64,
        outcome: &mut Outcome,
    ) -> Result<TokenResponse, ServiceError> {
        let claims = self
            .verify_refresh(token.expose_secret(), now)
            .await
            .map_err(|e| {
                tracing::info!(reason = %e, "refresh token refused");
                ServiceError::InvalidGrant
            })?;
        let next_jti = self
            .keys()
            .successor_jti(token.expose_secret(), &claims.jti)
            .into_string();
        let rotation = Rotation {
            sid: claims.sid.clone(),
            presented_hash: jti_hash(&claims.jti),
            next_hash: jti_hash(&next_jti),
            now,
            idle_ttl: self.config.refresh_idle_ttl,
            grace_secs: self.config.refresh_reuse_grace,
        };
        let session = match self.store.rotate(&rotation).await? {
            RotateOutcome::Rotated(session) => {
                *outcome = Outcome::Rotated;
                tracing::info!(sid = %session.sid, generation = session.generation, "refresh rotated");
                session
            }
            RotateOutcome::GraceReplay(session) => {
                *outcome = Outcome::GraceReplay;
                tracing::info!(sid = %session.sid, "refresh replayed within the grace window");
                session
            }
            RotateOutcome::Reused => {
                *outcome = Outcome::ReuseDetected;
                tracing::warn!(sid = %claims.sid, "refresh token reuse: session revoked");
                return Err(ServiceError::InvalidGrant);
            }
            refused @ (RotateOutcome::Revoked
            | RotateOutcome::Expired
            | RotateOutcome::NotFound) => {
                // Revoked covers a session its owner no longer accepts (the watermark moved,
                // the user was disabled): the store revoked it on this very call.
                *outcome = match refused {
                    RotateOutcome::Revoked => Outcome::Revoked,
                    RotateOutcome::Expired => Outcome::Expired,
                    _ => Outcome::Invalid,
                };
                tracing::info!(sid = %claims.sid, outcome = ?refused, "refresh refused");
                return Err(ServiceError::InvalidGrant);
            }
        };
        if session.user_id != claims.sub {
            // Cannot happen with our own signatures; refuse rather than mix two users.
            return Err(ServiceError::Internal(
                "session owner differs from token subject".to_owned(),
            ));
        }
        // Both a fresh rotation and a replay sign {jti: next, iat: rotated_at, exp: expires_at}:
        // HS256 is deterministic, so the replay answers the byte-identical refresh token.
        let iat = session.rotated_at.unwrap_or(now);
        self.issue_pair(&session, next_jti, iat, now).await
    }

    /// Revokes the session of a refresh token (RFC 7009). Idempotent and silent: an unknown,
    /// expired, revoked, malformed or forged token changes nothing and is not an error. A
    /// validly signed token still revokes its session after it expired.
    pub async fn logout(&self, token: &PresentedToken, now: i64) -> Result<(), ServiceError> {
        let started = Instant::now();
        let mut outcome = Outcome::Nothing;
        let result = self.logout_metered(token, now, &mut outcome).await;
        observe(UseCase::Logout, outcome, &result, started);
        result
    }

    #[tracing::instrument(name = "logout", skip_all)]
    async fn logout_metered(
        &self,
        token: &PresentedToken,
        now: i64,
        outcome: &mut Outcome,
    ) -> Result<(), ServiceError> {
        let token = token.expose_secret();
        // The signature, typ and iss must hold, but not the expiry: an expired token is
        // checked again as of its own (signed) `iat`, read unverified only to pick that time.
        let claims = match self.verify_refresh(token, now).await {
            Err(VerifyError::Expired) => match tessera_token::dangerous::iat(token) {
                Ok(iat) => self.verify_refresh(token, iat).await.ok(),
                Err(_) => None,
            },
            other => other.ok(),
        };
        let Some(claims) = claims else {
            tracing::info!("logout with an unverifiable token: nothing to revoke");
            return Ok(());
        };
        let revoked = self.store.revoke_session(&claims.sid, now).await?;
        if revoked {
            *outcome = Outcome::Revoked;
        }
        tracing::info!(sid = %claims.sid, revoked, "logout");
        Ok(())
    }

    /// The live sessions of `user_id`, newest first; `current_sid` marks the caller's own.
    pub async fn list_sessions(
        &self,
        user_id: &str,
        current_sid: Option<&str>,
        now: i64,
    ) -> Result<Vec<SessionView>, ServiceError> {
        crate::sessions::list(&self.store, user_id, current_sid, now).await
    }

    /// Revokes one of `user_id`'s sessions; see [`crate::sessions::revoke`].
    pub async fn revoke_session(
        &self,
        user_id: &str,
        sid: &str,
        now: i64,
    ) -> Result<(), ServiceError> {
        crate::sessions::revoke(&self.store, user_id, sid, now).await
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jti_hash_is_base64url_sha256() {
        // SHA-256("abc") = ba7816bf...; base64url without padding.
        assert_eq!(
            jti_hash("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn presented_token_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", PresentedToken::new("eyJ.secret.sig")),
            "PresentedToken([redacted])"
        );
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert_eq!(truncate("héllo".to_owned(), 2), "h");
        assert_eq!(truncate("hello".to_owned(), 10), "hello");
    }
}

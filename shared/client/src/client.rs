//! The client: login, authenticated requests, and the single-flight refresh behind them.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::Serialize;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::{AccessToken, Password, RefreshToken};
use crate::storage::{DynStorage, MemoryStorage, StoredTokens, TokenStorage};
use crate::wire::{self, ErrorBody, LoginBody, RefreshBody, TokenResponse};

/// The default [`ClientBuilder::refresh_margin`].
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// How the client retries the token service when it answers 503 `temporarily_unavailable`.
///
/// The service promises that a 503 leaves the session untouched, so retrying with the same
/// refresh token is safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (default 4). At least one is always made.
    pub max_attempts: u32,
    /// The first backoff when the service sends no `Retry-After` (default 250 ms); it
    /// doubles with every attempt.
    pub base_delay: Duration,
    /// The longest the client waits between two attempts (default 30 s). A `Retry-After`
    /// longer than this ends the retries at once with [`Error::Unavailable`] rather than
    /// calling back sooner than the service asked.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt + 1`, after `attempt` failures: exponential with
    /// up to 25 % random jitter, so that many clients do not retry in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let delay = exp.min(self.max_delay);
        let jitter_permille = RandomState::new().hash_one(attempt) % 250;
        let jitter = delay.saturating_mul(u32::try_from(jitter_permille).unwrap_or(0)) / 1000;
        (delay + jitter).min(self.max_delay)
    }
}

/// Builds a [`Client`]; start with [`Client::builder`].
pub struct ClientBuilder {
    base_url: String,
    storage: Option<Box<dyn DynStorage>>,
    refresh_margin: Duration,
    http: Option<reqwest::Client>,
    retry: RetryPolicy,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("refresh_margin", &self.refresh_margin)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Where the client keeps its token pair (default: [`MemoryStorage`]).
    pub fn storage(mut self, storage: impl TokenStorage) -> Self {
        self.storage = Some(Box::new(storage));
        self
    }

    /// How long before the access token expires the client refreshes it (default 30 s).
    /// Capped to half the token's lifetime, so a short-lived token is not refreshed on
    /// every request.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The HTTP client for both the token service and the API (default: `reqwest::Client::new()`).
    /// Pass one to set timeouts, proxies or TLS roots.
    pub fn http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// How 503 answers from the token service are retried (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`Error::InvalidBaseUrl`] if the base URL is not an absolute http(s) URL.
    pub fn build(self) -> Result<Client> {
        let base = self.base_url.trim_end_matches('/');
        let endpoint = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}"))
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .ok_or(Error::InvalidBaseUrl)
        };
        Ok(Client {
            inner: Arc::new(Inner {
                login_url: endpoint("/auth/login")?,
                refresh_url: endpoint("/auth/refresh")?,
                logout_url: endpoint("/auth/logout")?,
                base_url: base.to_owned(),
                http: self.http.unwrap_or_default(),
                storage: self
                    .storage
                    .unwrap_or_else(|| Box::new(MemoryStorage::new())),
                refresh_margin: self.refresh_margin,
                retry: self.retry,
                snapshot: Mutex::new(Snapshot::default()),
                refresh_lock: Arc::new(tokio::sync::Mutex::new(())),
            }),
        })
    }
}

/// A Tessera client: logs in, keeps the token pair, and sends requests with
/// `Authorization: Bearer`, refreshing the access token so that its expiry never reaches
/// the caller.
///
/// Cheap to clone; clones share the session. Refreshes are single-flight: however many
/// requests need one at the same moment, the client makes one refresh call and the others
/// wait for its result, so the service's refresh-token reuse detection never revokes the
/// client's own session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    login_url: reqwest::Url,
    refresh_url: reqwest::Url,
    logout_url: reqwest::Url,
    storage: Box<dyn DynStorage>,
    refresh_margin: Duration,
    retry: RetryPolicy,
    /// The current session; only ever locked for a moment, never across an await.
    snapshot: Mutex<Snapshot>,
    /// Held by whoever changes the session over the network (login, refresh, logout) and by
    /// the first load from storage. Waiting on it is how concurrent requests share one refresh.
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct Snapshot {
    /// Whether the storage has been read yet.
    loaded: bool,
    session: Option<Arc<Session>>,
    /// Bumped on every change of `session`. A request remembers the generation its token
    /// came from; if it has moved on by the time the request holds `refresh_lock`, someone
    /// else already refreshed and the request uses that result instead of refreshing again.
    generation: u64,
    /// After a failed proactive refresh, no other proactive attempt before this instant.
    proactive_not_before: Option<Instant>,
}

struct Session {
    access: AccessToken,
    refresh: RefreshToken,
    expires_at: Instant,
    lifetime: Duration,
}

/// Which endpoint a token call went to, for errors and logs.
#[derive(Clone, Copy, Debug)]
enum Grant {
    Login,
    Refresh,
}

impl Grant {
    fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Refresh => "refresh",
        }
    }
}

/// Whether a refresh is needed now or only wise soon.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Urgency {
    /// The token is still valid: one attempt, and a failure other than sign-out is not the
    /// caller's problem yet.
    Proactive,
    /// The token has expired or was refused: retry per the policy, and fail if that fails.
    Required,
}

/// Something [`Client::send`] can send: a `reqwest::Request` or a `reqwest::RequestBuilder`.
pub trait IntoRequest: sealed::Sealed {
    /// Builds the request.
    ///
    /// # Errors
    /// What `reqwest::RequestBuilder::build` returns for a malformed request.
    fn into_request(self) -> Result<reqwest::Request, reqwest::Error>;
}

impl IntoRequest for reqwest::Request {
    fn into_request(self) -> Result<reqwest::Request, reqwest::Error> {
        Ok(self)
    }
}

impl IntoRequest for reqwest::RequestBuilder {
    fn into_request(self) -> Result<reqwest::Request, reqwest::Error> {
        self.build()
    }
}

mod sealed {
    /// Keeps [`super::IntoRequest`] closed to the two reqwest types.
    pub trait Sealed {}
    impl Sealed for reqwest::Request {}
    impl Sealed for reqwest::RequestBuilder {}
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder for a client of the Tessera service at `base_url` (the token endpoints are
    /// `{base_url}/auth/login`, `/auth/refresh` and `/auth/logout`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            storage: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            http: None,
            retry: RetryPolicy::default(),
        }
    }

    /// The HTTP client this client sends with, for building requests to pass to [`Self::send`].
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Logs in with a username and password and keeps (and stores) the token pair,
    /// replacing any session the client had.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for a wrong username or password (or a disabled user),
    /// [`Error::Locked`] while the account is locked, [`Error::Unavailable`] when the service
    /// stays unavailable, [`Error::Storage`] if the pair could not be stored (the client
    /// still holds it in memory), [`Error::Http`] and [`Error::Protocol`].
    pub async fn login(&self, username: &str, password: &Password) -> Result<()> {
        let _guard = self.inner.refresh_lock.lock().await;
        let body = LoginBody {
            username,
            password: password.expose_secret(),
        };
        let started = Instant::now();
        let started_unix = unix_now();
        let grant = self
            .token_call(Grant::Login, &body, Urgency::Required)
            .await?;
        self.install(grant, started, started_unix)
            .await
            .map(|_| ())
            .map_err(|(_, error)| error)
    }

    /// Logs out: forgets the session locally (and in storage) and revokes it at the service.
    /// Doing so when not logged in is not an error.
    ///
    /// # Errors
    /// [`Error::Storage`] if the storage could not be cleared; [`Error::Http`],
    /// [`Error::Unavailable`] or [`Error::Protocol`] if the service could not be told, in
    /// which case the session is forgotten locally all the same and expires at the service
    /// on its own.
    pub async fn logout(&self) -> Result<()> {
        let _guard = self.inner.refresh_lock.lock().await;
        self.load_locked().await?;
        let session = {
            let mut snapshot = self.snapshot();
            snapshot.generation += 1;
            snapshot.session.take()
        };
        let cleared = self.inner.storage.clear().await;
        let Some(session) = session else {
            return cleared.map_err(Error::from);
        };
        // Revoke at the service even if the storage failed: the session must end either way.
        let revoked = self.revoke(&session).await;
        cleared?;
        revoked
    }

    /// `POST /auth/logout` for `session`, retrying 503s per the policy.
    async fn revoke(&self, session: &Session) -> Result<()> {
        let body = RefreshBody {
            refresh_token: session.refresh.expose_secret(),
        };
        let url = &self.inner.logout_url;
        let response = self
            .post_retrying(url, &body, Urgency::Required, "logout")
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Protocol(format!(
                "logout answered {}",
                status.as_u16()
            )));
        }
        tracing::debug!("logged out");
        Ok(())
    }

    /// A valid access token, refreshed first if it is about to expire (or has).
    ///
    /// For callers that attach the token themselves; [`Self::send`] also retries on a 401.
    ///
    /// # Errors
    /// [`Error::SignedOut`] when there is no session or the service ended it;
    /// [`Error::Unavailable`], [`Error::Http`], [`Error::Protocol`] or [`Error::Storage`]
    /// when a needed refresh failed.
    pub async fn access_token(&self) -> Result<AccessToken> {
        self.current_token().await.map(|(token, _)| token)
    }

    /// For requests sent by other means (hyper, a tower stack): the API answered 401 to
    /// `rejected`, a token from [`Self::access_token`]. Returns the token to retry with:
    /// a newer one if the client already has it, otherwise the result of a refresh, which
    /// every concurrent caller with the same rejected token shares (one refresh call).
    /// Retry once; a second 401 is not a reason to call this again.
    ///
    /// # Errors
    /// As for [`Self::access_token`].
    pub async fn refresh_rejected(&self, rejected: &AccessToken) -> Result<AccessToken> {
        self.ensure_loaded().await?;
        let seen = {
            let snapshot = self.snapshot();
            match &snapshot.session {
                None => return Err(Error::SignedOut),
                Some(session) if session.access != *rejected => {
                    return Ok(session.access.clone());
                }
                Some(_) => snapshot.generation,
            }
        };
        self.refresh(seen, Urgency::Required)
            .await
            .map(|(token, _)| token)
    }

    /// `GET url` with the access token: see [`Self::send`].
    ///
    /// # Errors
    /// As for [`Self::send`].
    pub async fn get(&self, url: impl reqwest::IntoUrl) -> Result<reqwest::Response> {
        self.send(self.inner.http.get(url)).await
    }

    /// Sends a request with `Authorization: Bearer <access token>` and returns the response,
    /// whatever its status.
    ///
    /// The token is refreshed first when it is about to expire. If the API still answers
    /// 401, the client refreshes once (sharing the refresh with every other request that got
    /// a 401 for the same token) and sends the request once more; a second 401 is returned
    /// as it is. A request whose body cannot be replayed (a stream) is not sent again: the
    /// token is refreshed for the next request and the 401 returned.
    ///
    /// # Errors
    /// [`Error::SignedOut`] when there is no session or the service ended it (the refresh
    /// token was refused); [`Error::Unavailable`] when a needed refresh kept failing with 503;
    /// [`Error::Http`] when the request could not be built or sent; [`Error::Protocol`] and
    /// [`Error::Storage`] as for a refresh.
    pub async fn send(&self, request: impl IntoRequest) -> Result<reqwest::Response> {
        let mut request = request.into_request()?;
        let replay = request.try_clone();
        let (token, generation) = self.current_token().await?;
        set_bearer(&mut request, &token)?;
        let response = self.inner.http.execute(request).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        tracing::debug!(generation, "api answered 401, refreshing the access token");
        let (token, _) = self.refresh(generation, Urgency::Required).await?;
        let Some(mut replay) = replay else {
            tracing::debug!("request body cannot be replayed, returning the 401");
            return Ok(response);
        };
        set_bearer(&mut replay, &token)?;
        Ok(self.inner.http.execute(replay).await?)
    }

    fn snapshot(&self) -> MutexGuard<'_, Snapshot> {
        // Every write to the snapshot is a plain assignment, so a panic elsewhere while it
        // was held cannot have left it half-updated.
        self.inner
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn margin(&self, session: &Session) -> Duration {
        self.inner.refresh_margin.min(session.lifetime / 2)
    }

    /// The token to send now and the generation it belongs to.
    async fn current_token(&self) -> Result<(AccessToken, u64)> {
        self.ensure_loaded().await?;
        let (session, generation, proactive_not_before) = {
            let snapshot = self.snapshot();
            (
                snapshot.session.clone(),
                snapshot.generation,
                snapshot.proactive_not_before,
            )
        };
        let Some(session) = session else {
            return Err(Error::SignedOut);
        };
        let now = Instant::now();
        if now >= session.expires_at {
            return self.refresh(generation, Urgency::Required).await;
        }
        let due = now + self.margin(&session) >= session.expires_at;
        let backing_off = proactive_not_before.is_some_and(|t| now < t);
        if due && !backing_off {
            // The token is still good: if another task is already refreshing, use it rather
            // than wait; otherwise refresh now so that no request ever meets an expired one.
            if let Ok(guard) = self.inner.refresh_lock.clone().try_lock_owned() {
                match self
                    .spawn_refresh(guard, generation, Urgency::Proactive)
                    .await
                {
                    Ok(fresh) => return Ok(fresh),
                    Err(Error::SignedOut) => return Err(Error::SignedOut),
                    Err(error) => {
                        tracing::warn!(%error, "proactive refresh failed, keeping the current access token");
                    }
                }
            }
        }
        Ok((session.access.clone(), generation))
    }

    /// Refreshes unless the session has moved on from `seen` (then returns the newer token).
    async fn refresh(&self, seen: u64, urgency: Urgency) -> Result<(AccessToken, u64)> {
        let guard = self.inner.refresh_lock.clone().lock_owned().await;
        self.spawn_refresh(guard, seen, urgency).await
    }

    /// Runs the refresh as a task of its own and waits for it. If the caller gives up (a
    /// timeout, an aborted task), the refresh still completes and its result is kept: the
    /// service may already have rotated the refresh token, and dropping its answer would
    /// leave the client holding a spent token, whose next use revokes the session.
    async fn spawn_refresh(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        seen: u64,
        urgency: Urgency,
    ) -> Result<(AccessToken, u64)> {
        let client = self.clone();
        let task = tokio::spawn(async move {
            let result = client.refresh_locked(seen, urgency).await;
            drop(guard);
            result
        });
        task.await.map_err(|_| Error::RefreshInterrupted)?
    }

    /// The refresh proper; the caller holds `refresh_lock`.
    async fn refresh_locked(&self, seen: u64, urgency: Urgency) -> Result<(AccessToken, u64)> {
        let (session, generation) = {
            let snapshot = self.snapshot();
            (snapshot.session.clone(), snapshot.generation)
        };
        let Some(session) = session else {
            return Err(Error::SignedOut);
        };
        if generation != seen {
            tracing::debug!(
                seen,
                generation,
                "token already refreshed by another request"
            );
            return Ok((session.access.clone(), generation));
        }
        tracing::debug!(generation, "refreshing the access token");
        let body = RefreshBody {
            refresh_token: session.refresh.expose_secret(),
        };
        let started = Instant::now();
        let started_unix = unix_now();
        match self.token_call(Grant::Refresh, &body, urgency).await {
            Ok(grant) => match self.install(grant, started, started_unix).await {
                Ok(fresh) => Ok(fresh),
                // The new pair is in memory and works; only a restart would lose it.
                Err((fresh, error)) => {
                    tracing::warn!(%error, "refreshed tokens could not be stored");
                    Ok(fresh)
                }
            },
            Err(Error::SignedOut) => {
                tracing::info!("refresh token refused, signed out");
                {
                    let mut snapshot = self.snapshot();
                    snapshot.session = None;
                    snapshot.generation += 1;
                }
                if let Err(error) = self.inner.storage.clear().await {
                    tracing::warn!(%error, "signed out but the token storage could not be cleared");
                }
                Err(Error::SignedOut)
            }
            Err(error) => {
                if urgency == Urgency::Proactive {
                    // Without this, every request in the refresh window would try (and
                    // fail) again while the service recovers.
                    let pause = self.inner.retry.base_delay.max(Duration::from_secs(1));
                    self.snapshot().proactive_not_before = Some(Instant::now() + pause);
                }
                Err(error)
            }
        }
    }

    /// Reads the storage if nobody has yet.
    async fn ensure_loaded(&self) -> Result<()> {
        if self.snapshot().loaded {
            return Ok(());
        }
        let _guard = self.inner.refresh_lock.lock().await;
        self.load_locked().await
    }

    /// Reads the storage if nobody has yet; the caller holds `refresh_lock`.
    async fn load_locked(&self) -> Result<()> {
        if self.snapshot().loaded {
            return Ok(());
        }
        let stored = self.inner.storage.load().await?;
        let session = stored.map(|stored| {
            let remaining = stored.access_expires_at.saturating_sub(unix_now()).max(0);
            Arc::new(Session {
                expires_at: Instant::now()
                    + Duration::from_secs(u64::try_from(remaining).unwrap_or(0)),
                lifetime: Duration::from_secs(stored.access_lifetime_secs),
                access: stored.access_token,
                refresh: stored.refresh_token,
            })
        });
        let mut snapshot = self.snapshot();
        snapshot.session = session;
        snapshot.generation += 1;
        snapshot.loaded = true;
        Ok(())
    }

    /// Makes `grant` the current session and stores it. On a storage failure the session is
    /// current all the same, and the error comes back with it.
    async fn install(
        &self,
        grant: TokenResponse,
        started: Instant,
        started_unix: i64,
    ) -> std::result::Result<(AccessToken, u64), ((AccessToken, u64), Error)> {
        let lifetime = Duration::from_secs(grant.expires_in);
        let stored = StoredTokens {
            access_token: AccessToken::new(grant.access_token),
            refresh_token: RefreshToken::new(grant.refresh_token),
            access_expires_at: started_unix
                .saturating_add(i64::try_from(grant.expires_in).unwrap_or(i64::MAX)),
            access_lifetime_secs: grant.expires_in,
        };
        let generation = {
            let mut snapshot = self.snapshot();
            snapshot.session = Some(Arc::new(Session {
                access: stored.access_token.clone(),
                refresh: stored.refresh_token.clone(),
                // Measured from before the request was sent, so the client never believes a
                // token lives longer than it does.
                expires_at: started + lifetime,
                lifetime,
            }));
            snapshot.generation += 1;
            snapshot.loaded = true;
            snapshot.proactive_not_before = None;
            snapshot.generation
        };
        let fresh = (stored.access_token.clone(), generation);
        match self.inner.storage.save(&stored).await {
            Ok(()) => Ok(fresh),
            Err(error) => Err((fresh, Error::Storage(error))),
        }
    }

    /// POSTs a grant to the token service, retrying 503s per the policy (a proactive refresh
    /// tries once).
    async fn token_call<B: Serialize + Sync>(
        &self,
        grant: Grant,
        body: &B,
        urgency: Urgency,
    ) -> Result<TokenResponse> {
        let url = match grant {
            Grant::Login => &self.inner.login_url,
            Grant::Refresh => &self.inner.refresh_url,
        };
        let response = self
            .post_retrying(url, body, urgency, grant.as_str())
            .await?;
        let status = response.status();
        match status {
            StatusCode::OK => parse_grant(grant, response).await,
            StatusCode::BAD_REQUEST => {
                let code = response
                    .json::<ErrorBody>()
                    .await
                    .map(|body| body.error)
                    .unwrap_or_default();
                Err(match (code.as_str(), grant) {
                    ("invalid_grant", Grant::Login) => Error::InvalidCredentials,
                    ("invalid_grant", Grant::Refresh) => Error::SignedOut,
                    _ => Error::Protocol(format!(
                        "{} answered 400 {}",
                        grant.as_str(),
                        printable_code(&code)
                    )),
                })
            }
            StatusCode::TOO_MANY_REQUESTS => Err(Error::Locked {
                retry_after: wire::retry_after(response.headers()),
            }),
            _ => Err(Error::Protocol(format!(
                "{} answered {}",
                grant.as_str(),
                status.as_u16()
            ))),
        }
    }

    /// POSTs `body` as JSON to the token service and returns its first answer that is not a
    /// 503. A 503 is retried per the policy, except for a proactive call, which tries once.
    async fn post_retrying<B: Serialize + Sync>(
        &self,
        url: &reqwest::Url,
        body: &B,
        urgency: Urgency,
        call: &'static str,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self
                .inner
                .http
                .post(url.clone())
                .header(ACCEPT, "application/json")
                .json(body)
                .send()
                .await?;
            if response.status() != StatusCode::SERVICE_UNAVAILABLE {
                return Ok(response);
            }
            if urgency == Urgency::Proactive {
                return Err(Error::Unavailable);
            }
            let delay = self.retry_delay(attempt, wire::retry_after(response.headers()))?;
            tracing::warn!(call, attempt, ?delay, "token service unavailable, retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// How long to wait after failed attempt number `attempt`, or [`Error::Unavailable`] when
    /// the policy says to stop.
    fn retry_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Result<Duration> {
        let policy = &self.inner.retry;
        if attempt >= policy.max_attempts {
            tracing::warn!(attempt, "token service unavailable, giving up");
            return Err(Error::Unavailable);
        }
        let delay = retry_after.unwrap_or_else(|| policy.backoff(attempt));
        if delay > policy.max_delay {
            tracing::warn!(
                ?delay,
                "token service asked for a longer wait than allowed, giving up"
            );
            return Err(Error::Unavailable);
        }
        Ok(delay)
    }
}

/// Reads a 200 token response. Parse errors are not passed on: serde's messages can quote
/// the input, which holds tokens.
async fn parse_grant(grant: Grant, response: reqwest::Response) -> Result<TokenResponse> {
    let bytes = Zeroizing::new(response.bytes().await?.to_vec());
    let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|_| {
        Error::Protocol(format!(
            "{} answered a malformed token response",
            grant.as_str()
        ))
    })?;
    if !parsed.token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::Protocol(format!(
            "{} answered token type {}",
            grant.as_str(),
            printable_code(&parsed.token_type)
        )));
    }
    Ok(parsed)
}

/// An OAuth error code or token type, fit for an error message: the contract's codes are
/// short ASCII words, anything else is not echoed.
fn printable_code(code: &str) -> &str {
    if !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        code
    } else {
        "(unrecognised)"
    }
}

fn set_bearer(request: &mut reqwest::Request, token: &AccessToken) -> Result<()> {
    let header = Zeroizing::new(format!("Bearer {}", token.expose_secret()));
    let mut value = HeaderValue::from_str(&header)
        .map_err(|_| Error::Protocol("access token is not a valid header value".into()))?;
    // Tells hyper and HTTP/2's HPACK not to log or index the header.
    value.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

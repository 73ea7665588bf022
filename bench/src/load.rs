//! Load scenarios against `tessera serve`: N keep-alive connections, each a worker that sends
//! one request, waits for its answer and sends the next (closed loop), until a time or a
//! request-count bound is reached.
//!
//! Setup (logging in) happens before the clock starts and is not counted. Latencies are
//! recorded per request in microseconds; a request is an error when it fails at the socket
//! or answers anything but 200.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::cpu::cpu_time;
use crate::http::{Connection, HttpError};

/// What the workers send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `GET /me` with one access token (logged in once, before the clock starts).
    Me,
    /// `POST /auth/refresh`: each worker logs in once, then refreshes with the refresh token
    /// the previous answer gave it, so every request is a legitimate rotation (a spent token
    /// would be reuse detection).
    Refresh,
    /// `POST /auth/login` with the user's password (Argon2 bound by design).
    Login,
    /// `GET /me` with a dummy bearer token of an access token's size, no login: for the
    /// floor server (`tessera-load floor`), an axum server that answers a fixed body.
    Floor,
}

impl Scenario {
    /// The name used on the command line and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Me => "GET /me",
            Self::Refresh => "POST /auth/refresh",
            Self::Login => "POST /auth/login",
            Self::Floor => "GET /me on an empty axum server",
        }
    }
}

/// The credentials of the user the load logs in as.
#[derive(Clone)]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The password. Never printed.
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl Credentials {
    /// Wraps a username and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    fn login_body(&self) -> Vec<u8> {
        serde_json::json!({ "username": self.username, "password": self.password })
            .to_string()
            .into_bytes()
    }
}

/// Bounds and shape of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The server, on a loopback address.
    pub addr: SocketAddr,
    /// What to send.
    pub scenario: Scenario,
    /// Concurrent connections (one worker each).
    pub connections: usize,
    /// Wall-clock bound of the measured phase.
    pub duration: Duration,
    /// Bound on the number of measured requests, over all workers.
    pub max_requests: u64,
    /// The server's process id, to report the CPU time it spent in the measured phase.
    pub server_pid: Option<u32>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Only loopback targets are allowed: this tool must never load someone else's server.
    #[error("refusing to load {0}: only loopback addresses are allowed")]
    NotLoopback(SocketAddr),
    /// A bound is out of range.
    #[error("{0}")]
    Bounds(&'static str),
    /// Logging in before the measured phase failed.
    #[error("setup failed: {0}")]
    Setup(String),
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was sent.
    pub scenario: Scenario,
    /// Connections used.
    pub connections: usize,
    /// Requests answered with 200.
    pub ok: u64,
    /// Requests that failed or answered anything else.
    pub errors: u64,
    /// The first error seen, for diagnosis.
    pub first_error: Option<String>,
    /// Length of the measured phase.
    pub elapsed: Duration,
    /// Latencies of the successful requests, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// CPU time the server spent in the measured phase (setup excluded), if known.
    pub server_cpu: Option<Duration>,
    /// CPU time this process spent in the measured phase, if known.
    pub load_cpu: Option<Duration>,
}

impl Report {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0..=1), microseconds; 0 without samples.
    pub fn quantile_us(&self, q: f64) -> u32 {
        quantile(&self.latencies_us, q)
    }
}

/// The `q` quantile (nearest rank) of sorted samples; 0 when empty.
pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or_default()
}

/// The size of an ES256 access token with Tessera's claims, for the floor's dummy header.
const FLOOR_TOKEN_BYTES: usize = 420;

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: String,
}

#[derive(Default)]
struct WorkerResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

impl WorkerResult {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

/// Logs in on `conn` and returns the token pair.
async fn login(conn: &mut Connection, credentials: &Credentials) -> Result<Tokens, String> {
    let answer = conn
        .send(
            "POST",
            "/auth/login",
            &[("content-type", "application/json")],
            &credentials.login_body(),
        )
        .await
        .map_err(|e| format!("login: {e}"))?;
    if answer.status != 200 {
        return Err(format!(
            "login answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| format!("login answer: {e}"))
}

/// Runs a plan. Setup (connections, logins) happens first and is not measured.
pub async fn run(plan: &Plan, credentials: &Credentials) -> Result<Report, LoadError> {
    if !plan.addr.ip().is_loopback() {
        return Err(LoadError::NotLoopback(plan.addr));
    }
    if plan.connections == 0 || plan.connections > 1024 {
        return Err(LoadError::Bounds("connections must be 1..=1024"));
    }
    if plan.duration.is_zero() || plan.duration > Duration::from_secs(600) {
        return Err(LoadError::Bounds(
            "duration must be within (0, 600] seconds",
        ));
    }
    if plan.max_requests == 0 {
        return Err(LoadError::Bounds("max requests must be at least 1"));
    }

    // Setup: one connection per worker; the refresh workers each start their own session.
    let mut conns = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let conn = Connection::connect(plan.addr)
            .await
            .map_err(|e| LoadError::Setup(format!("connect to {}: {e}", plan.addr)))?;
        conns.push(conn);
    }
    let mut chains: Vec<Option<String>> = vec![None; plan.connections];
    let mut access = String::new();
    match plan.scenario {
        Scenario::Me => {
            let first = conns
                .first_mut()
                .ok_or(LoadError::Bounds("no connection to log in on"))?;
            let tokens = login(first, credentials).await.map_err(LoadError::Setup)?;
            access = format!("Bearer {}", tokens.access_token);
        }
        Scenario::Refresh => {
            for (conn, chain) in conns.iter_mut().zip(chains.iter_mut()) {
                let tokens = login(conn, credentials).await.map_err(LoadError::Setup)?;
                *chain = Some(tokens.refresh_token);
            }
        }
        Scenario::Login => {}
        Scenario::Floor => access = format!("Bearer {}", "x".repeat(FLOOR_TOKEN_BYTES)),
    }

    let server_pid = plan.server_pid.map(|p| p.to_string());
    let server_before = server_pid.as_deref().and_then(cpu_time);
    let load_before = cpu_time("self");
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + plan.duration;
    let access: Arc<str> = access.into();
    let mut workers = tokio::task::JoinSet::new();
    for (conn, chain) in conns.into_iter().zip(chains) {
        let worker = Worker {
            conn,
            addr: plan.addr,
            scenario: plan.scenario,
            credentials: credentials.clone(),
            access: Arc::clone(&access),
            refresh: chain,
            issued: Arc::clone(&issued),
            max_requests: plan.max_requests,
            deadline,
        };
        workers.spawn(worker.run());
    }
    let mut report = Report {
        scenario: plan.scenario,
        connections: plan.connections,
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        server_cpu: None,
        load_cpu: None,
    };
    while let Some(done) = workers.join_next().await {
        let result = done.unwrap_or_else(|e| {
            let mut failed = WorkerResult::default();
            failed.error(format!("worker failed: {e}"));
            failed
        });
        report.ok += result.ok;
        report.errors += result.errors;
        if report.first_error.is_none() {
            report.first_error = result.first_error;
        }
        report.latencies_us.extend(result.latencies_us);
    }
    report.elapsed = started.elapsed();
    let since = |before: Option<Duration>, now: Option<Duration>| {
        now.zip(before)
            .map(|(after, before)| after.saturating_sub(before))
    };
    report.server_cpu = since(server_before, server_pid.as_deref().and_then(cpu_time));
    report.load_cpu = since(load_before, cpu_time("self"));
    report.latencies_us.sort_unstable();
    Ok(report)
}

struct Worker {
    conn: Connection,
    addr: SocketAddr,
    scenario: Scenario,
    credentials: Credentials,
    access: Arc<str>,
    refresh: Option<String>,
    issued: Arc<AtomicU64>,
    max_requests: u64,
    deadline: Instant,
}

impl Worker {
    async fn run(mut self) -> WorkerResult {
        let mut result = WorkerResult {
            latencies_us: Vec::with_capacity(4096),
            ..WorkerResult::default()
        };
        let login_body = self.credentials.login_body();
        let mut body = Vec::with_capacity(512);
        loop {
            if Instant::now() >= self.deadline
                || self.issued.fetch_add(1, Ordering::Relaxed) >= self.max_requests
            {
                return result;
            }
            if self.conn.is_closed() {
                match Connection::connect(self.addr).await {
                    Ok(conn) => self.conn = conn,
                    Err(e) => {
                        result.error(format!("reconnect: {e}"));
                        return result;
                    }
                }
            }
            let sent = Instant::now();
            let answer = match self.scenario {
                Scenario::Me | Scenario::Floor => {
                    self.conn
                        .send("GET", "/me", &[("authorization", &*self.access)], b"")
                        .await
                }
                Scenario::Login => {
                    self.conn
                        .send(
                            "POST",
                            "/auth/login",
                            &[("content-type", "application/json")],
                            &login_body,
                        )
                        .await
                }
                Scenario::Refresh => {
                    let Some(token) = self.refresh.take() else {
                        // The chain broke (an error below): start a new session, unmeasured.
                        match login(&mut self.conn, &self.credentials).await {
                            Ok(tokens) => self.refresh = Some(tokens.refresh_token),
                            Err(e) => {
                                result.error(e);
                                return result;
                            }
                        }
                        continue;
                    };
                    body.clear();
                    body.extend_from_slice(b"grant_type=refresh_token&refresh_token=");
                    body.extend_from_slice(token.as_bytes());
                    self.conn
                        .send(
                            "POST",
                            "/auth/refresh",
                            &[("content-type", "application/x-www-form-urlencoded")],
                            &body,
                        )
                        .await
                }
            };
            let latency = sent.elapsed();
            match answer {
                Ok(answer) if answer.status == 200 => {
                    if self.scenario == Scenario::Refresh {
                        match serde_json::from_slice::<Tokens>(&answer.body) {
                            Ok(tokens) => self.refresh = Some(tokens.refresh_token),
                            Err(e) => {
                                result.error(format!("refresh answer: {e}"));
                                continue;
                            }
                        }
                    }
                    result.ok += 1;
                    result
                        .latencies_us
                        .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                }
                Ok(answer) => result.error(format!(
                    "{} answered {}: {}",
                    self.scenario.as_str(),
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                )),
                Err(HttpError::Closed) if Instant::now() >= self.deadline => return result,
                Err(e) => result.error(format!("{}: {e}", self.scenario.as_str())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&samples, 0.5), 50);
        assert_eq!(quantile(&samples, 0.99), 99);
        assert_eq!(quantile(&samples, 1.0), 100);
        assert_eq!(quantile(&samples, 0.0), 1);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn the_password_never_appears_in_debug_output() {
        let credentials = Credentials::new("bench", "correct horse battery staple");
        let shown = format!("{credentials:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("horse"));
    }

    #[tokio::test]
    async fn a_remote_target_is_refused_before_any_connection() {
        let plan = Plan {
            addr: "192.0.2.1:80".parse().unwrap(),
            scenario: Scenario::Me,
            connections: 1,
            duration: Duration::from_secs(1),
            max_requests: 1,
            server_pid: None,
        };
        let refused = run(&plan, &Credentials::new("a", "b")).await;
        assert!(matches!(refused, Err(LoadError::NotLoopback(_))));
    }
}

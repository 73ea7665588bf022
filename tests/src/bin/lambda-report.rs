//! `lambda-report`: how each Tessera function binary compares with the empty function, the
//! floor every Lambda in Rust pays. For every binary in `TESSERA_BIN_DIR` it reports the
//! median init time (spawn to the first poll for an event), the median and p99 time per
//! invocation, the CPU time the function process spent per invocation (all its threads,
//! from `/proc/<pid>/task/*/schedstat`: what a shared machine disturbs least), its thread
//! count, the peak resident set (`VmHWM`) and the stripped binary size, each also as a ratio
//! to `tessera-empty`, as a Markdown table on stdout.
//!
//! Usage: `lambda-report [--runs N] [--invocations M] [--only NAME,NAME..]` (defaults 5, 200
//! and every function; `--only` always keeps `tessera-empty`, the floor), with
//! `TESSERA_BIN_DIR` (build with `cargo build --release --bins` and point it at
//! `target/release`: debug numbers mean nothing) and `TESSERA_TEST_DYNAMODB_ENDPOINT`
//! (`scripts/dynamodb-local start`).
//!
//! What each function is fed, per invocation:
//! - the authorizer: a REST TOKEN event with a distinct, freshly issued access token every
//!   time, so no cache can flatter it;
//! - the checking authorizer (`AUTHORIZER_REVOCATION_CHECK=session`, its micro-cache off): the
//!   same, every token naming one real session of the shared user, so every invocation reads
//!   the table (one `BatchGetItem` once the first has learnt the session's owner);
//! - login: only [`LOGIN_INVOCATIONS`] per run, as its time is Argon2id's by design;
//! - refresh: the refresh token the previous invocation answered (a real rotation each time);
//! - logout: the same refresh token each time (the first call revokes the session, the rest
//!   revoke it again: the same verification and the same one DynamoDB update);
//! - sessions: the list of the caller's sessions (a new user with one session each run);
//! - jwks, me: their sample events;
//! - the empty function: the authorizer's event, answered with `{}`;
//! - `tessera-empty-read`, the floor of the checking authorizer's read: the empty function
//!   plus that one read (the shared user and a real session of it) per event;
//! - `tessera-sigv4-read` (bench/sigv4-read): the same read as a SigV4-signed request over
//!   hyper and rustls, without the SDK, the design the checking authorizer did not take.
//!
//! Times are wall-clock on this machine, through the emulator on loopback: compare the
//! ratios, not the absolute numbers, with what Lambda reports.
//!
//! When the authorizer is reported, every run also times `AccessVerifier::verify` in this
//! process on as many fresh tokens, and the report ends with the authorizer's budget in the
//! same run: its time per invocation above the empty function's, against 1.3 × that verify
//! (the criterion tables put verify at 1.02–1.07 × the raw signature check). When the checking
//! authorizer is reported too, each of its runs also times, in this process, the read it
//! makes (`get_session_and_user`, DynamoDB Local on loopback) as many times, and the report
//! ends with its budgets: init at most 3 × the empty function's, and per invocation at most
//! the lean authorizer's plus that one round trip.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_e2e::E2eError;
use tessera_e2e::emulator::Outcome;
use tessera_e2e::events::{self, AuthorizerEvent, Encoding, GatewayAuthorizer, ProxyResponse};
use tessera_e2e::process::{LambdaProcess, bin_dir, binary};
use tessera_e2e::stack::{Stack, TestUser, access_claims, now};
use tessera_store::SessionStore;
use tessera_token::{KeySet, VerifyPolicy};

/// Login invocations per run: enough for a median, few enough that Argon2id (tens of
/// milliseconds each, by design) does not dominate the report's running time.
const LOGIN_INVOCATIONS: usize = 5;

/// The binaries reported, the floor first.
const BINARIES: [&str; 11] = [
    "tessera-empty",
    "tessera-authorizer",
    "tessera-authorizer-checked",
    "tessera-empty-read",
    "tessera-sigv4-read",
    "tessera-login",
    "tessera-refresh",
    "tessera-logout",
    "tessera-sessions",
    "tessera-jwks",
    "tessera-me",
];

struct Options {
    runs: usize,
    invocations: usize,
    /// The binaries to report, the floor first.
    binaries: Vec<&'static str>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        runs: 5,
        invocations: 200,
        binaries: BINARIES.to_vec(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive whole number"))
        };
        match arg.as_str() {
            "--runs" => options.runs = number("--runs")?,
            "--invocations" => options.invocations = number("--invocations")?,
            "--only" => {
                let list = args.next().unwrap_or_default();
                options.binaries = only(&list)?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: lambda-report [--runs N] [--invocations M] [--only NAME,NAME..]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// The binaries `--only` names (comma-separated), in report order, the floor always first:
/// a ratio needs its floor measured in the same run.
fn only(list: &str) -> Result<Vec<&'static str>, String> {
    let named: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if let Some(unknown) = named.iter().find(|n| !BINARIES.contains(n)) {
        return Err(format!(
            "--only: unknown function {unknown:?} (one of {})",
            BINARIES.join(", ")
        ));
    }
    Ok(BINARIES
        .iter()
        .copied()
        .filter(|b| *b == BINARIES[0] || named.contains(b))
        .collect())
}

/// Times `AccessVerifier::verify` on `count` fresh tokens, one at a time, into `into`: the
/// floor of the authorizer's budget, measured in the same run as the authorizer.
fn verify_batch(keys: &KeySet, count: usize, into: &mut Vec<Duration>) -> Result<(), E2eError> {
    let now = now();
    let verifier = keys.access_verifier(VerifyPolicy::new(
        tessera_e2e::stack::ISSUER,
        tessera_e2e::stack::AUDIENCE,
    ));
    let tokens = (0..count)
        .map(|_| keys.issue_access(&access_claims("usr-report", "sid-report", "profile", now)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| E2eError::Fixture(format!("issue: {e}")))?;
    for token in &tokens {
        let started = Instant::now();
        let verified = verifier.verify(token.expose_secret(), now);
        into.push(started.elapsed());
        verified.map_err(|e| E2eError::Protocol(format!("a fresh token did not verify: {e}")))?;
    }
    Ok(())
}

/// Whether measuring `name` needs sessions made by the login function.
fn needs_login(name: &str) -> bool {
    matches!(
        name,
        "tessera-refresh"
            | "tessera-logout"
            | "tessera-sessions"
            | "tessera-me"
            | "tessera-authorizer-checked"
            | "tessera-empty-read"
            | "tessera-sigv4-read"
    )
}

/// One binary's measurements over all runs.
#[derive(Default)]
struct Measured {
    init: Vec<Duration>,
    invoke: Vec<Duration>,
    /// Per run: the function's CPU time over the invocation loop, divided by its length.
    cpu: Vec<Duration>,
    threads: Vec<u64>,
    peak_rss_kib: Vec<u64>,
    /// The checking authorizer's read, timed in this process (one per invocation).
    round_trip: Vec<Duration>,
    size_bytes: u64,
    stripped: bool,
}

/// What every run shares: the stack, a user, and a login function to make sessions with
/// (started only when a reported function needs sessions).
struct Fixture {
    stack: Stack,
    keys: KeySet,
    user: TestUser,
    login: Option<LambdaProcess>,
}

impl Fixture {
    async fn start(with_login: bool) -> Result<Self, E2eError> {
        let stack = Stack::start().await?;
        let keys = stack.key_set()?;
        let user = TestUser::generate();
        stack.add_user(&user).await?;
        let login = match with_login {
            true => Some(stack.spawn("tessera-login").await?),
            false => None,
        };
        Ok(Self {
            stack,
            keys,
            user,
            login,
        })
    }

    /// A fresh session of the shared user: its access and refresh tokens.
    async fn session(&self) -> Result<(String, String), E2eError> {
        self.session_of(&self.user).await
    }

    /// The only session of a new user, so a sessions list stays the same size run after run.
    async fn lone_session(&self) -> Result<(String, String), E2eError> {
        let user = TestUser::generate();
        self.stack.add_user(&user).await?;
        self.session_of(&user).await
    }

    async fn session_of(&self, user: &TestUser) -> Result<(String, String), E2eError> {
        let login = self
            .login
            .as_ref()
            .ok_or_else(|| E2eError::Protocol("no login function started for sessions".into()))?;
        let event = events::login(Encoding::Json, &user.username, &user.password)?;
        let body = expect_status(&login.invoke(&event).await?.outcome, 200)?.json()?;
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| E2eError::Protocol(format!("login answer without {name}")))
        };
        Ok((field("access_token")?, field("refresh_token")?))
    }

    /// The context API Gateway passes after the authorizer allowed `access`.
    fn context(&self, access: &str) -> Result<GatewayAuthorizer, E2eError> {
        let claims = self
            .stack
            .key_set()?
            .access_verifier(tessera_token::VerifyPolicy::new(
                tessera_e2e::stack::ISSUER,
                tessera_e2e::stack::AUDIENCE,
            ))
            .verify(access, now())
            .map_err(|e| E2eError::Protocol(format!("login issued a bad token: {e}")))?;
        let policy = serde_json::json!({
            "principalId": claims.sub,
            "context": { "sub": claims.sub, "sid": claims.sid, "scope": claims.scope,
                         "jti": claims.jti, "client_id": claims.client_id },
        });
        GatewayAuthorizer::from_policy(&policy)
    }
}

fn expect_status(outcome: &Outcome, status: u16) -> Result<ProxyResponse, E2eError> {
    let response = ProxyResponse::from_json(&outcome.json()?)?;
    if response.status == status {
        Ok(response)
    } else {
        Err(E2eError::Protocol(format!(
            "expected {status}, got {}: {}",
            response.status, response.body
        )))
    }
}

fn expect_allow(outcome: &Outcome) -> Result<(), E2eError> {
    let policy = outcome.json()?;
    let allowed = policy
        .pointer("/policyDocument/Statement/0/Effect")
        .and_then(Value::as_str)
        == Some("Allow");
    if allowed {
        Ok(())
    } else {
        Err(E2eError::Protocol(format!("expected an Allow: {policy}")))
    }
}

/// Runs `name` once: spawn, the invocation loop, peak RSS.
async fn run_once(
    fixture: &Fixture,
    name: &str,
    invocations: usize,
    into: &mut Measured,
) -> Result<(), E2eError> {
    // Everything a run needs is made before the function starts, so it is not timed.
    let now = now();
    let mut plan: Vec<(Value, u16)> = Vec::new();
    let mut refresh_chain = None;
    match name {
        "tessera-empty" | "tessera-authorizer" => {
            for _ in 0..invocations {
                let claims = access_claims("usr-report", "sid-report", "profile", now);
                let token = fixture
                    .keys
                    .issue_access(&claims)
                    .map_err(|e| E2eError::Fixture(format!("issue: {e}")))?;
                plan.push((AuthorizerEvent::RestToken.bearer(token.expose_secret())?, 0));
            }
        }
        "tessera-login" => {
            let event = events::login(
                Encoding::Json,
                &fixture.user.username,
                &fixture.user.password,
            )?;
            plan = vec![(event, 200); invocations.min(LOGIN_INVOCATIONS)];
        }
        "tessera-refresh" => refresh_chain = Some(fixture.session().await?.1),
        "tessera-logout" => {
            let (_, refresh) = fixture.session().await?;
            plan = vec![(events::logout(&refresh)?, 204); invocations];
        }
        "tessera-sessions" => {
            let (access, _) = fixture.lone_session().await?;
            let event = fixture.context(&access)?.sessions_list(&access)?;
            plan = vec![(event, 200); invocations];
        }
        "tessera-me" => {
            let (access, _) = fixture.session().await?;
            plan = vec![(fixture.context(&access)?.me(&access)?, 200); invocations];
        }
        "tessera-jwks" => plan = vec![(events::jwks()?, 200); invocations],
        "tessera-empty-read" | "tessera-sigv4-read" => {
            plan = vec![(serde_json::json!({}), 0); invocations];
        }
        "tessera-authorizer-checked" => {
            let (access, _) = fixture.session().await?;
            let context = fixture.context(&access)?;
            let (sub, sid) = (
                context.get("sub").unwrap_or_default().to_owned(),
                context.get("sid").unwrap_or_default().to_owned(),
            );
            for _ in 0..invocations {
                let claims = access_claims(&sub, &sid, "profile", now);
                let token = fixture
                    .keys
                    .issue_access(&claims)
                    .map_err(|e| E2eError::Fixture(format!("issue: {e}")))?;
                plan.push((AuthorizerEvent::RestToken.bearer(token.expose_secret())?, 0));
            }
            let store = fixture.stack.store();
            for _ in 0..invocations {
                let started = Instant::now();
                let read = store
                    .get_session_and_user(&sid, &fixture.user.username)
                    .await;
                into.round_trip.push(started.elapsed());
                read.map_err(|e| E2eError::Protocol(format!("the session read: {e}")))?;
            }
        }
        other => return Err(E2eError::Protocol(format!("no plan for {other}"))),
    }

    let function = match name {
        "tessera-authorizer-checked" => {
            let env = fixture
                .stack
                .env()
                .set("AUTHORIZER_REVOCATION_CHECK", "session")
                .set("AUTHORIZER_REVOCATION_CACHE", "0");
            fixture.stack.spawn_with(name, &env).await?
        }
        "tessera-empty-read" | "tessera-sigv4-read" => {
            let (access, _) = fixture.session().await?;
            let sid = fixture
                .context(&access)?
                .get("sid")
                .unwrap_or_default()
                .to_owned();
            let env = fixture
                .stack
                .env()
                .set("READ_SID", &sid)
                .set("READ_USERNAME", &fixture.user.username);
            fixture.stack.spawn_with(name, &env).await?
        }
        _ => fixture.stack.spawn(name).await?,
    };
    into.init.push(function.init);
    let pid = function_pid(&binary(name)?);
    let cpu_before = pid.and_then(cpu_time);
    let loop_length = match refresh_chain {
        Some(_) => invocations,
        None => plan.len(),
    };
    if let Some(mut token) = refresh_chain {
        for _ in 0..invocations {
            let invocation = function
                .invoke(&events::refresh(Encoding::Json, &token)?)
                .await?;
            into.invoke.push(invocation.elapsed);
            let body = expect_status(&invocation.outcome, 200)?.json()?;
            token = body
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| E2eError::Protocol("refresh answer without a token".into()))?;
        }
    } else {
        for (event, status) in &plan {
            let invocation = function.invoke(event).await?;
            into.invoke.push(invocation.elapsed);
            match name {
                "tessera-empty" => {
                    invocation.outcome.json()?;
                }
                "tessera-empty-read" | "tessera-sigv4-read" => {
                    let read = invocation.outcome.json()?;
                    if read != serde_json::json!({ "session": true, "user": true }) {
                        return Err(E2eError::Protocol(format!("the read found {read}")));
                    }
                }
                "tessera-authorizer" | "tessera-authorizer-checked" => {
                    expect_allow(&invocation.outcome)?;
                }
                _ => {
                    expect_status(&invocation.outcome, *status)?;
                }
            }
        }
    }
    if let (Some(before), Some(after)) = (cpu_before, pid.and_then(cpu_time)) {
        let runs = u32::try_from(loop_length.max(1)).unwrap_or(u32::MAX);
        into.cpu.push(after.saturating_sub(before) / runs);
    }
    if let Some(threads) = pid.and_then(thread_count) {
        into.threads.push(threads);
    }
    if let Some(rss) = function.peak_rss_kib() {
        into.peak_rss_kib.push(rss);
    }
    Ok(())
}

/// The pid of this process's child running `binary` (the function just spawned).
fn function_pid(binary: &Path) -> Option<u32> {
    let binary: PathBuf = binary.canonicalize().ok()?;
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces, so read after its `)`.
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
            (ppid == me && exe == binary).then_some(pid)
        })
}

/// The CPU time all threads of `pid` have run so far (the first field of each thread's
/// `schedstat`, in nanoseconds).
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
        total = total.saturating_add(ns);
    }
    Some(Duration::from_nanos(total))
}

/// How many threads `pid` runs (`Threads:` in its status).
fn thread_count(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The binary's size without symbols: its own size when `strip` is unavailable or the
/// release profile already stripped it (`strip = "symbols"`).
fn stripped_size(path: &Path) -> Result<(u64, bool), E2eError> {
    let raw = std::fs::metadata(path)?.len();
    let copy = std::env::temp_dir().join(format!(
        "lambda-report-{}-{}",
        std::process::id(),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let stripped = std::process::Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(path)
        .status()
        .ok()
        .filter(std::process::ExitStatus::success)
        .and_then(|_| std::fs::metadata(&copy).ok())
        .map(|m| m.len());
    let _ = std::fs::remove_file(&copy);
    Ok(match stripped {
        Some(size) => (size.min(raw), true),
        None => (raw, false),
    })
}

fn median_duration(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn percentile_duration(values: &[Duration], pct: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let index = (sorted.len() * pct / 100).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

fn median_u64(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ratio(value: f64, floor: f64) -> String {
    if floor > 0.0 {
        format!("{:.2}×", value / floor)
    } else {
        "–".to_owned()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000_000.0
}

async fn report() -> Result<(), String> {
    let options = options()?;
    bin_dir().map_err(|e| e.to_string())?;
    let with_login = options.binaries.iter().any(|name| needs_login(name));
    for name in options
        .binaries
        .iter()
        .copied()
        .chain(with_login.then_some("tessera-login"))
    {
        binary(name).map_err(|e| e.to_string())?;
    }
    let fixture = Fixture::start(with_login)
        .await
        .map_err(|e| e.to_string())?;

    let mut results = Vec::new();
    for name in options.binaries.iter().copied() {
        let mut measured = Measured::default();
        let (size, stripped) =
            stripped_size(&binary(name).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        measured.size_bytes = size;
        measured.stripped = stripped;
        results.push((name, measured));
    }
    let with_authorizer = options.binaries.contains(&"tessera-authorizer");
    let mut verify = Vec::new();
    // Round robin, so warm-up and drift on a shared machine touch every binary alike.
    for run in 1..=options.runs {
        eprintln!("lambda-report: run {run} of {}", options.runs);
        for (name, measured) in &mut results {
            run_once(&fixture, name, options.invocations, measured)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
        }
        if with_authorizer {
            verify_batch(&fixture.keys, options.invocations, &mut verify)
                .map_err(|e| format!("verify: {e}"))?;
        }
    }

    let floor = results
        .first()
        .map(|(_, m)| {
            (
                ms(median_duration(&m.init)),
                ms(median_duration(&m.invoke)),
                median_u64(&m.peak_rss_kib) as f64,
                m.size_bytes as f64,
                us(median_duration(&m.cpu)),
            )
        })
        .unwrap_or_default();
    println!(
        "Binaries: `{}`; {} runs per function, round robin; {} invocations per run ({} for login).\n",
        std::env::var("TESSERA_BIN_DIR").unwrap_or_default(),
        options.runs,
        options.invocations,
        options.invocations.min(LOGIN_INVOCATIONS),
    );
    println!(
        "| function | init (median) | × empty | per invocation (median) | p99 | × empty | CPU per invocation (median) | × empty | threads | peak RSS | × empty | size (stripped) | × empty |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, m) in &results {
        let init = ms(median_duration(&m.init));
        let invoke = ms(median_duration(&m.invoke));
        let p99 = ms(percentile_duration(&m.invoke, 99));
        let cpu = us(median_duration(&m.cpu));
        let rss = median_u64(&m.peak_rss_kib) as f64;
        let size = m.size_bytes as f64;
        println!(
            "| {name} | {init:.2} ms | {} | {invoke:.3} ms | {p99:.3} ms | {} | {cpu:.1} µs | {} | {} | {:.1} MiB | {} | {:.2} MiB{} | {} |",
            ratio(init, floor.0),
            ratio(invoke, floor.1),
            ratio(cpu, floor.4),
            median_u64(&m.threads),
            rss / 1024.0,
            ratio(rss, floor.2),
            size / (1024.0 * 1024.0),
            if m.stripped { "" } else { " (not stripped)" },
            ratio(size, floor.3),
        );
    }
    println!(
        "\nlogin's time per invocation is Argon2id's (OWASP parameters), by design. \
         The authorizer got a distinct fresh token on every invocation; \
         refresh rotated a real session each time."
    );
    if let Some((_, authorizer)) = results.iter().find(|(n, _)| *n == "tessera-authorizer") {
        let verify = us(median_duration(&verify));
        let above = us(median_duration(&authorizer.invoke)) - floor.1 * 1000.0;
        let cpu_above = us(median_duration(&authorizer.cpu)) - floor.4;
        println!(
            "\nAuthorizer budget, same run: `AccessVerifier::verify` in this process {verify:.1} µs \
             (median of {} fresh tokens). Per invocation the authorizer takes {above:.1} µs more \
             than the empty function = {} verify (budget 1.3×: {}); its CPU per invocation is \
             {cpu_above:.1} µs more = {} verify.",
            options.runs * options.invocations,
            ratio(above, verify),
            if above <= 1.3 * verify {
                "met"
            } else {
                "not met"
            },
            ratio(cpu_above, verify),
        );
    }
    let find = |name: &str| results.iter().find(|(n, _)| *n == name).map(|(_, m)| m);
    if let (Some(lean), Some(checked)) = (
        find("tessera-authorizer"),
        find("tessera-authorizer-checked"),
    ) {
        let init = ms(median_duration(&checked.init));
        let above = us(median_duration(&checked.invoke)) - us(median_duration(&lean.invoke));
        let cpu_above = us(median_duration(&checked.cpu)) - us(median_duration(&lean.cpu));
        let round_trip = us(median_duration(&checked.round_trip));
        println!(
            "\nChecking authorizer budgets, same run: init {init:.2} ms = {} the empty function's \
             (budget 3×: {}). Per invocation {above:.1} µs more than the lean authorizer (CPU \
             {cpu_above:.1} µs more); the same read from this process takes {round_trip:.1} µs \
             (median of {}) = {}.",
            ratio(init, floor.0),
            if init <= 3.0 * floor.0 {
                "met"
            } else {
                "not met"
            },
            checked.round_trip.len(),
            ratio(above, round_trip),
        );
        if let (Some(read), Some(signed)) = (find("tessera-empty-read"), find("tessera-sigv4-read"))
        {
            let sdk = us(median_duration(&read.invoke)) - floor.1 * 1000.0;
            let sdk_cpu = us(median_duration(&read.cpu)) - floor.4;
            let own = us(median_duration(&signed.invoke)) - floor.1 * 1000.0;
            let own_cpu = us(median_duration(&signed.cpu)) - floor.4;
            println!(
                "The read by design, above the empty function: through the SDK {sdk:.1} µs (CPU \
                 {sdk_cpu:.1} µs); signed by hand over hyper and rustls {own:.1} µs (CPU \
                 {own_cpu:.1} µs) = {} of the SDK's time, {} of its CPU.",
                ratio(own, sdk),
                ratio(own_cpu, sdk_cpu),
            );
        }
        if let Some(read) = find("tessera-empty-read") {
            let read_above = us(median_duration(&read.invoke)) - floor.1 * 1000.0;
            let read_cpu = us(median_duration(&read.cpu)) - floor.4;
            println!(
                "One round trip as a function pays it (tessera-empty-read above tessera-empty): \
                 {read_above:.1} µs (CPU {read_cpu:.1} µs); the checking authorizer above the lean \
                 one = {} of it (budget 1×: {}; CPU {}).",
                ratio(above, read_above),
                if above <= read_above {
                    "met"
                } else {
                    "not met"
                },
                ratio(cpu_above, read_cpu),
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match report().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("lambda-report: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

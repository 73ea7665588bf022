//! What Tessera's use cases decide, as metrics, in one vocabulary for every binary.
//!
//! Each decision is one [`Event`]: the [`UseCase`], its [`Outcome`], for the authorizer the
//! reason of a refusal, and how long the decision took. The code that decides calls
//! [`record`]; where the event goes is the binary's choice, made once at start with
//! [`install`]:
//!
//! - on Lambda, [`Emf`]: one CloudWatch Embedded Metric Format line per event on stdout,
//!   which CloudWatch Logs turns into metrics with no API call (namespace [`NAMESPACE`],
//!   metric [`REQUESTS`] by `Stack`, `UseCase` and `Outcome`, and by `Reason` too when there
//!   is one; metric [`LATENCY`] in milliseconds by `Stack` and `UseCase`);
//! - under `tessera serve`, a Prometheus recorder of its own.
//!
//! Without a sink, [`record`] does nothing: a library used on its own reports nothing.
//!
//! Dimensions stay low-cardinality by construction: every value is a `&'static str` from
//! this crate or its caller's code, never a user, a session or a path.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace of every Tessera metric.
pub const NAMESPACE: &str = "Tessera";
/// The count of decisions (CloudWatch unit `Count`).
pub const REQUESTS: &str = "Requests";
/// How long a decision took (CloudWatch unit `Milliseconds`).
pub const LATENCY: &str = "Latency";

/// A use case whose decisions are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UseCase {
    /// The authorizer's decision on an access token.
    Authorizer,
    /// `POST /auth/login`.
    Login,
    /// `POST /auth/refresh`.
    Refresh,
    /// `POST /auth/logout`.
    Logout,
    /// A session ended by its owner: one (`DELETE /auth/sessions/{sid}`) or all of them.
    Revocation,
    /// A re-read of the signing keys (a rotation reaching a warm instance).
    Keys,
}

impl UseCase {
    /// Every use case, in the order the docs list them.
    pub const ALL: [UseCase; 6] = [
        UseCase::Authorizer,
        UseCase::Login,
        UseCase::Refresh,
        UseCase::Logout,
        UseCase::Revocation,
        UseCase::Keys,
    ];

    /// The `UseCase` dimension's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            UseCase::Authorizer => "authorizer",
            UseCase::Login => "login",
            UseCase::Refresh => "refresh",
            UseCase::Logout => "logout",
            UseCase::Revocation => "revocation",
            UseCase::Keys => "keys",
        }
    }

    /// The outcomes this use case reports.
    pub const fn outcomes(self) -> &'static [Outcome] {
        use Outcome::*;
        match self {
            UseCase::Authorizer => &[Allow, Deny, Unauthorized, Error],
            UseCase::Login => &[Success, Failure, Locked, Unavailable, Error],
            UseCase::Refresh => &[
                Rotated,
                GraceReplay,
                ReuseDetected,
                Expired,
                Revoked,
                Invalid,
                Unavailable,
                Error,
            ],
            UseCase::Logout => &[Revoked, Nothing, Unavailable, Error],
            UseCase::Revocation => &[Session, All, Nothing, Unavailable, Error],
            UseCase::Keys => &[Reloaded, ReloadFailed],
        }
    }
}

/// What a use case decided. [`UseCase::outcomes`] says which belong to which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Authorizer: the token is valid and its scopes meet the route's rule.
    Allow,
    /// Authorizer: a valid token without the scope the route requires (403).
    Deny,
    /// Authorizer: no valid token (401); the event's reason says why.
    Unauthorized,
    /// Login: a session was created.
    Success,
    /// Login: wrong username or password, or a disabled user (400 `invalid_grant`).
    Failure,
    /// Login: the username is locked out (429).
    Locked,
    /// Refresh: the token was rotated.
    Rotated,
    /// Refresh: a replay within the grace window got the same successor.
    GraceReplay,
    /// Refresh: a spent token came back; its session is revoked (a stolen-token signal).
    ReuseDetected,
    /// Refresh: the session is past its absolute or idle expiry.
    Expired,
    /// Refresh: the session was revoked. Logout: a live session was revoked.
    Revoked,
    /// Refresh: the token did not verify, or names no session.
    Invalid,
    /// Logout or revocation: there was nothing left to revoke.
    Nothing,
    /// Revocation: one session.
    Session,
    /// Revocation: all of a user's sessions.
    All,
    /// Keys: a new key set was read and is in use.
    Reloaded,
    /// Keys: the re-read failed; the keys in use stay.
    ReloadFailed,
    /// The store or a limit refused for now (503 with `Retry-After`).
    Unavailable,
    /// An internal error (500; for the authorizer, a function error: no keys to decide
    /// with): an operator must look.
    Error,
}

impl Outcome {
    /// The `Outcome` dimension's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Locked => "locked",
            Outcome::Rotated => "rotated",
            Outcome::GraceReplay => "grace_replay",
            Outcome::ReuseDetected => "reuse_detected",
            Outcome::Expired => "expired",
            Outcome::Revoked => "revoked",
            Outcome::Invalid => "invalid",
            Outcome::Nothing => "nothing",
            Outcome::Session => "session",
            Outcome::All => "all",
            Outcome::Reloaded => "reloaded",
            Outcome::ReloadFailed => "reload_failed",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }
}

/// One decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Which use case decided.
    pub use_case: UseCase,
    /// What it decided.
    pub outcome: Outcome,
    /// Why, when the outcome has reasons worth telling apart (the authorizer's refusals):
    /// a fixed `snake_case` word from the caller's code, never anything from the request.
    pub reason: Option<&'static str>,
    /// How long the decision took.
    pub latency: Duration,
}

impl Event {
    /// An event without a reason.
    pub fn new(use_case: UseCase, outcome: Outcome, latency: Duration) -> Self {
        Self {
            use_case,
            outcome,
            reason: None,
            latency,
        }
    }

    /// The same event with a reason.
    pub fn with_reason(self, reason: &'static str) -> Self {
        Self {
            reason: Some(reason),
            ..self
        }
    }
}

/// Where events go.
pub trait Sink: Send + Sync {
    /// Takes one event. Called on the request path: it must not block for long, and it
    /// must never fail the request.
    fn record(&self, event: &Event);
}

static SINK: OnceLock<Box<dyn Sink>> = OnceLock::new();

/// Sends every later [`record`] to `sink`. The first install wins: `false` when a sink was
/// already installed (and `sink` is dropped).
pub fn install(sink: impl Sink + 'static) -> bool {
    SINK.set(Box::new(sink)).is_ok()
}

/// Records one event in the installed sink, if any.
pub fn record(event: Event) {
    if let Some(sink) = SINK.get() {
        sink.record(&event);
    }
}

/// The longest stack name CloudFormation allows.
const MAX_STACK_CHARS: usize = 128;

/// A `Stack` dimension that is not a stack name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("METRICS_STACK is invalid: {0:?} is not a stack name (1 to 128 of A-Z a-z 0-9 and -)")]
pub struct InvalidStack(pub String);

/// CloudWatch Embedded Metric Format, one JSON line per event on stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emf {
    stack: String,
}

impl Emf {
    /// The `Stack` dimension when `METRICS_STACK` is unset (a function run outside the
    /// template).
    pub const DEFAULT_STACK: &'static str = "tessera";

    /// From `METRICS_STACK`'s value (the template sets the stack's name): unset or empty
    /// means [`Emf::DEFAULT_STACK`]. The name is checked here, once, so that every line
    /// written later is valid JSON without escaping.
    pub fn from_setting(value: Option<&str>) -> Result<Self, InvalidStack> {
        let stack = match value.map(str::trim) {
            None | Some("") => Self::DEFAULT_STACK,
            Some(name) => name,
        };
        let valid = stack.len() <= MAX_STACK_CHARS
            && stack
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(InvalidStack(stack.to_owned()));
        }
        Ok(Self {
            stack: stack.to_owned(),
        })
    }

    /// From the environment: [`Emf::from_setting`] of `METRICS_STACK`.
    pub fn from_env() -> Result<Self, InvalidStack> {
        Self::from_setting(std::env::var("METRICS_STACK").ok().as_deref())
    }

    /// Appends `event`'s line, newline included, to `out`, stamped `unix_ms`.
    pub fn write_line(&self, event: &Event, unix_ms: u128, out: &mut String) {
        let reason_dimensions = if event.reason.is_some() {
            r#",["Stack","UseCase","Outcome","Reason"]"#
        } else {
            ""
        };
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            concat!(
                r#"{{"_aws":{{"Timestamp":{ts},"CloudWatchMetrics":["#,
                r#"{{"Namespace":"{ns}","Dimensions":[["Stack","UseCase","Outcome"]{rd}],"#,
                r#""Metrics":[{{"Name":"{requests}","Unit":"Count"}}]}},"#,
                r#"{{"Namespace":"{ns}","Dimensions":[["Stack","UseCase"]],"#,
                r#""Metrics":[{{"Name":"{latency}","Unit":"Milliseconds"}}]}}]}},"#,
                r#""Stack":"{stack}","UseCase":"{use_case}","Outcome":"{outcome}""#,
            ),
            ts = unix_ms,
            ns = NAMESPACE,
            rd = reason_dimensions,
            requests = REQUESTS,
            latency = LATENCY,
            stack = self.stack,
            use_case = event.use_case.as_str(),
            outcome = event.outcome.as_str(),
        );
        if let Some(reason) = event.reason {
            let _ = write!(out, r#","Reason":"{}""#, Word(reason));
        }
        let millis = event.latency.as_secs_f64() * 1000.0;
        let _ = writeln!(out, r#","{REQUESTS}":1,"{LATENCY}":{millis:.3}}}"#);
    }
}

impl Sink for Emf {
    fn record(&self, event: &Event) {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut line = String::with_capacity(512);
        self.write_line(event, unix_ms, &mut line);
        // One write under stdout's lock keeps the line whole beside the log's lines; a
        // metric that cannot be written must not fail the request.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

/// A reason as a JSON string's content: its letters, digits and `_` only, whatever the
/// caller passed, so that the line stays valid JSON.
struct Word(&'static str);

impl std::fmt::Display for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c.is_ascii_alphanumeric() { c } else { '_' })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn line(event: Event) -> Value {
        let emf = Emf::from_setting(Some("my-stack")).unwrap();
        let mut out = String::new();
        emf.write_line(&event, 1_700_000_000_123, &mut out);
        assert!(out.ends_with('\n') && out.matches('\n').count() == 1);
        serde_json::from_str(&out).unwrap()
    }

    #[test]
    fn a_line_is_one_emf_document_with_count_and_latency() {
        let v = line(Event::new(
            UseCase::Refresh,
            Outcome::ReuseDetected,
            Duration::from_micros(1500),
        ));
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_123u64);
        let directives = v["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0]["Namespace"], "Tessera");
        assert_eq!(
            directives[0]["Dimensions"],
            serde_json::json!([["Stack", "UseCase", "Outcome"]])
        );
        assert_eq!(
            directives[0]["Metrics"],
            serde_json::json!([{"Name": "Requests", "Unit": "Count"}])
        );
        assert_eq!(
            directives[1]["Dimensions"],
            serde_json::json!([["Stack", "UseCase"]])
        );
        assert_eq!(
            directives[1]["Metrics"],
            serde_json::json!([{"Name": "Latency", "Unit": "Milliseconds"}])
        );
        assert_eq!(v["Stack"], "my-stack");
        assert_eq!(v["UseCase"], "refresh");
        assert_eq!(v["Outcome"], "reuse_detected");
        assert_eq!(v["Requests"], 1);
        assert_eq!(v["Latency"], 1.5);
        assert!(v.get("Reason").is_none());
    }

    #[test]
    fn a_reason_adds_its_dimension_set_and_cannot_break_the_json() {
        let v = line(
            Event::new(UseCase::Authorizer, Outcome::Unauthorized, Duration::ZERO)
                .with_reason("expired\"},\n"),
        );
        assert_eq!(v["Reason"], "expired____");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1],
            serde_json::json!(["Stack", "UseCase", "Outcome", "Reason"])
        );
    }

    #[test]
    fn the_stack_is_a_stack_name_or_the_default() {
        assert_eq!(Emf::from_setting(None).unwrap().stack, "tessera");
        assert_eq!(Emf::from_setting(Some(" ")).unwrap().stack, "tessera");
        assert_eq!(
            Emf::from_setting(Some("prod-auth")).unwrap().stack,
            "prod-auth"
        );
        for bad in ["a\"b", "a b", "ü", &"x".repeat(129)] {
            let err = Emf::from_setting(Some(bad)).unwrap_err();
            assert!(
                err.to_string().starts_with("METRICS_STACK is invalid"),
                "{err}"
            );
        }
    }

    #[test]
    fn every_outcome_belongs_to_a_use_case_and_every_value_is_a_word() {
        let all: Vec<Outcome> = UseCase::ALL
            .iter()
            .flat_map(|u| u.outcomes().iter().copied())
            .collect();
        for outcome in all.iter() {
            assert!(
                outcome
                    .as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
        for use_case in UseCase::ALL {
            assert!(use_case.as_str().bytes().all(|b| b.is_ascii_lowercase()));
        }
        // Each variant is reachable from some use case (a new one must be listed).
        for outcome in [
            Outcome::Allow,
            Outcome::Deny,
            Outcome::Unauthorized,
            Outcome::Success,
            Outcome::Failure,
            Outcome::Locked,
            Outcome::Rotated,
            Outcome::GraceReplay,
            Outcome::ReuseDetected,
            Outcome::Expired,
            Outcome::Revoked,
            Outcome::Invalid,
            Outcome::Nothing,
            Outcome::Session,
            Outcome::All,
            Outcome::Reloaded,
            Outcome::ReloadFailed,
            Outcome::Unavailable,
            Outcome::Error,
        ] {
            assert!(all.contains(&outcome), "{outcome:?}");
        }
    }
}

//! Wiring for Tessera's Lambda functions, so each `main.rs` stays a few lines: tracing,
//! configuration, state (built once at init), then the runtime.
//!
//! - [`StartError`] is every main's one way to fail at start: its message names the variable
//!   or the source at fault, and that message is what Lambda logs as the init error.
//! - With the `http` feature, [`run`]: a function's router under lambda_http, behind the one
//!   adapter that turns API Gateway's request context into the extensions the handlers read
//!   (the caller, the request id, the client's address), and CORS from `CORS_ALLOW_ORIGIN`.
//! - With the `aws` feature: the HTTP functions' state, the DynamoDB store and the key ring
//!   through the AWS SDK.
//!
//! Limits: init only. Nothing here runs per request. The authorizer function uses this crate
//! without `aws`, so it links no AWS SDK.

use std::fmt;

/// A function could not start. `main` returns it; the runtime prints its `Debug` form, which
/// is the message itself (naming the variable at fault), not a struct dump.
pub struct StartError(String);

impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Every error a start can meet says what is wrong in its Display text; StartError keeps that
// text and nothing else. (StartError has no Display of its own, so this covers every other
// type without overlapping the reflexive From.)
impl<E: fmt::Display> From<E> for StartError {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

/// Structured logs as Lambda expects them: to stdout, no timestamp (CloudWatch adds one),
/// JSON when the function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), at the level
/// Lambda's `ApplicationLogLevel` sets (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`; default
/// INFO). That is `lambda_runtime`'s default subscriber with one difference: the level is one
/// level, not `EnvFilter` directives, which spares every function a regex engine (about
/// 250 KiB of each artefact) for a filter Lambda only ever sets to a level.
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let var = |name| std::env::var(name).ok();
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level)
        .with_writer(std::io::stdout);
    // A subscriber already installed (a test's) stays: `try_init`, and nothing to report.
    let _ = if json {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
}

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "http")]
mod edge;
#[cfg(feature = "aws")]
pub use aws::*;
#[cfg(feature = "http")]
pub use edge::{run, with_context};

//! Wiring for Tessera's Lambda functions, so each `main.rs` stays a few lines: tracing and
//! metrics ([`init_tracing`], [`init_metrics`]), configuration, state (built once at init),
//! then the runtime.
//!
//! - [`StartError`] is every main's one way to fail at start: its message names the variable
//!   or the source at fault, and that message is what Lambda logs as the init error.
//! - With the `http` feature, [`run`]: a function's router under lambda_http, behind the one
//!   adapter that turns API Gateway's request context into the extensions the handlers read
//!   (the caller, the request id, the client's address), and CORS from `CORS_ALLOW_ORIGIN`.
//! - With the `authorizer` feature, [`run_authorizer`]: the authorizer functions' event loop.
//! - With the `aws` feature: the HTTP functions' state, the DynamoDB store and the key ring
//!   through the AWS SDK.
//!
//! Limits: init only. Nothing here runs per request. The authorizer function uses this crate
//! without `aws`, so it links no AWS SDK.

use std::fmt;

#[cfg(feature = "authorizer")]
mod authorizer;
#[cfg(feature = "authorizer")]
pub use authorizer::run_authorizer;

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
    install(None);
}

/// [`init_tracing`] for a function whose refusals are errors by protocol: the authorizer
/// answers a bad token with the error `Unauthorized` (API Gateway's 401). `lambda_runtime`
/// logs every handler error at ERROR, so each token refused anywhere on the internet would
/// page an operator; its line for an error whose text is exactly `refusal` is dropped. The
/// function logs the refusal itself, once, at INFO, with its reason. Every other error, a
/// panic included, stays at ERROR.
pub fn init_tracing_with_refusal(refusal: &'static str) {
    install(Some(refusal));
}

fn install(refusal: Option<&'static str>) {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let var = |name| std::env::var(name).ok();
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    let logs = tracing_subscriber::registry()
        .with(level)
        .with(refusal.map(|message| RefusalIsNotAnError { message }));
    // A subscriber already installed (a test's) stays: `try_init`, and nothing to report.
    let _ = if json {
        logs.with(lines.json()).try_init()
    } else {
        logs.with(lines).try_init()
    };
}

/// Metrics as CloudWatch expects them: every use case's decision as one Embedded Metric
/// Format line on stdout ([`tessera_metrics::Emf`]), which CloudWatch Logs turns into metrics
/// in the `Tessera` namespace with no API call and no permission. `METRICS_STACK` (the
/// template sets the stack's name) is the `Stack` dimension; a value that is not a stack
/// name stops the function at init.
pub fn init_metrics() -> Result<(), StartError> {
    tessera_metrics::install(tessera_metrics::Emf::from_env()?);
    Ok(())
}

/// Vetoes `lambda_runtime`'s ERROR line for a handler error that is a refusal (see
/// [`init_tracing_with_refusal`]).
struct RefusalIsNotAnError {
    message: &'static str,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RefusalIsNotAnError {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR || !meta.target().starts_with("lambda_runtime") {
            return true;
        }
        let mut text = MessageIs {
            expected: self.message,
            matches: false,
        };
        event.record(&mut text);
        !text.matches
    }
}

/// Whether an event's `message` field reads exactly `expected`.
struct MessageIs {
    expected: &'static str,
    matches: bool,
}

impl tracing::field::Visit for MessageIs {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.matches = format!("{value:?}") == self.expected;
        }
    }
}

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "http")]
mod edge;
#[cfg(feature = "aws")]
pub use aws::*;
#[cfg(feature = "http")]
pub use edge::{run, with_context};

//! `GET /metrics` of `tessera serve`: the decisions the Lambda functions report as
//! CloudWatch metrics (`tessera_metrics`), as Prometheus counters and a latency histogram.
//!
//! - `tessera_requests_total{use_case, outcome[, reason]}`: one per decision, the labels
//!   being CloudWatch's `UseCase`, `Outcome` and `Reason` dimensions;
//! - `tessera_latency_seconds{use_case}`: how long each decision took.
//!
//! Answered to loopback clients only (a scraper on the same machine); any other client gets
//! what any unknown path gets. `--no-metrics` turns it off.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tessera_metrics::{Event, Sink};

use crate::error::CliError;

const REQUESTS: &str = "tessera_requests_total";
const LATENCY: &str = "tessera_latency_seconds";
/// From 100 µs (an authorizer decision) to 2.5 s (a login queued behind Argon2id).
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The exporter's view of what was recorded, rendered on each scrape.
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the Prometheus recorder as the process's metrics recorder and the sink of
    /// every use case's events. Once per process.
    pub fn install() -> Result<Self, CliError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY.to_owned()), &LATENCY_BUCKETS)
            .map_err(|e| CliError::Usage(format!("metrics: {e}")))?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder)
            .map_err(|e| CliError::Usage(format!("metrics: {e}")))?;
        metrics::describe_counter!(REQUESTS, "Decisions, by use case and outcome.");
        metrics::describe_histogram!(
            LATENCY,
            metrics::Unit::Seconds,
            "How long each decision took, by use case."
        );
        tessera_metrics::install(Recorder);
        Ok(Self { handle })
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Hands each event to the installed `metrics` recorder.
struct Recorder;

impl Sink for Recorder {
    fn record(&self, event: &Event) {
        let use_case = event.use_case.as_str();
        let outcome = event.outcome.as_str();
        match event.reason {
            Some(reason) => metrics::counter!(
                REQUESTS, "use_case" => use_case, "outcome" => outcome, "reason" => reason
            )
            .increment(1),
            None => metrics::counter!(REQUESTS, "use_case" => use_case, "outcome" => outcome)
                .increment(1),
        }
        metrics::histogram!(LATENCY, "use_case" => use_case).record(event.latency.as_secs_f64());
    }
}

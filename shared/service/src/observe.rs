//! Every use case's decision, counted: one [`Event`] per call (`tessera_metrics`).

use std::time::Instant;

use tessera_metrics::{Event, Outcome, UseCase};

use crate::ServiceError;

/// Records a use case's decision: `decided`, unless the answer is the store's or a limit's
/// 503 or an internal error, which count as such whatever the use case had decided so far.
pub(crate) fn observe<T>(
    use_case: UseCase,
    decided: Outcome,
    result: &Result<T, ServiceError>,
    started: Instant,
) {
    let outcome = match result {
        Err(ServiceError::TemporarilyUnavailable { .. }) => Outcome::Unavailable,
        Err(ServiceError::Internal(_)) => Outcome::Error,
        _ => decided,
    };
    tessera_metrics::record(Event::new(use_case, outcome, started.elapsed()));
}

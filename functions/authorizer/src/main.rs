//! The API Gateway Lambda authorizer: configuration and keys once at init
//! ([`KeyedAuthorizer::from_env`]), then every event (REST TOKEN or REQUEST, or HTTP API 2.0,
//! recognised from the event itself) through the shared authorizer. The raw event bytes go
//! straight to the authorizer's borrowed parser, and the typed answer is serialised straight
//! into the response.
//!
//! Keys: from `KEY_FILE` at init, or from the Secrets Manager secret `KEY_SECRET_ARN` through
//! the Parameters and Secrets Lambda Extension on the first event (the extension does not
//! answer during init). No AWS SDK, no TLS stack, no DynamoDB in this binary.
//!
//! Fails closed: a bad token is the error `Unauthorized` (401, logged once at INFO with its
//! reason, never as an ERROR) or `isAuthorized: false`;
//! missing keys, an event that is not JSON or a panic become a function error, which API
//! Gateway answers with 500, never with an allow.
//!
//! Every decision is also one metric line (CloudWatch Embedded Metric Format): allow, deny or
//! unauthorized with its reason, and the decision's latency.
//!
//! One event at a time, so one thread: the current-thread runtime spares the cross-thread
//! wake-ups a multi-thread runtime pays on every event.

use tessera_authorizer::keyring::KeyedAuthorizer;
use tessera_lambda::{StartError, init_metrics, init_tracing_with_refusal, run_authorizer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), StartError> {
    init_tracing_with_refusal(tessera_authorizer::UNAUTHORIZED);
    init_metrics()?;
    let authorizer = KeyedAuthorizer::from_env().await?;
    Ok(run_authorizer(authorizer).await?)
}

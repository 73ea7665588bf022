//! The API Gateway Lambda authorizer: configuration once at init, then every event (REST
//! TOKEN or REQUEST, or HTTP API 2.0, recognised from the event itself) through the shared
//! authorizer. The raw event bytes go straight to the authorizer's borrowed parser.
//!
//! Keys: from `KEY_FILE` at init, or from the Secrets Manager secret `KEY_SECRET_ARN` through
//! the Parameters and Secrets Lambda Extension on the first event (the extension does not
//! answer during init). No AWS SDK, no TLS stack, no DynamoDB in this binary.
//!
//! Fails closed: a bad token is the error `Unauthorized` (401) or `isAuthorized: false`;
//! missing keys, an event that is not JSON or a panic become a function error, which API
//! Gateway answers with 500, never with an allow.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tessera_authorizer::keyring::{AuthorizerConfig, KeyedAuthorizer};
use tessera_keys::{KeyRing, KeySource};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Init errors are reported by their message, which names the variable at fault.
    let config = AuthorizerConfig::from_env().map_err(|e| e.to_string())?;
    let authorizer = match KeySource::from_env().map_err(|e| e.to_string())? {
        KeySource::Extension(extension) => {
            KeyedAuthorizer::lazy(*extension, config.alg, config.policy, config.rules)
        }
        source => {
            let ring = KeyRing::load(source, config.alg)
                .await
                .map_err(|e| e.to_string())?;
            KeyedAuthorizer::new(ring, config.policy, config.rules)
        }
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        let authorizer = &authorizer;
        async move {
            // API Gateway reads only the message: "Unauthorized" -> 401; anything else -> 500.
            authorizer
                .answer(event.payload.get().as_bytes())
                .await
                .map_err(Error::from)
        }
    }))
    .await
}

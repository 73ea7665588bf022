//! Wiring for Tessera's HTTP Lambda functions, so each `main.rs` stays four lines: tracing,
//! configuration, state (store and keys, built once at init), then `lambda_http::run`.
//!
//! Limits: init only. Nothing here runs per request, and nothing here is used by the
//! authorizer function, which must not link the DynamoDB SDK.

use tessera_keys::{KeyRing, KeySource};
use tessera_service::{Config, Service};
use tessera_store::DynamoStore;

/// Why a function could not start. Lambda reports it as an init error.
#[derive(thiserror::Error)]
pub enum InitError {
    /// A configuration variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] tessera_service::ConfigError),
    /// `TABLE_NAME` is not set, and this function needs the table.
    #[error("TABLE_NAME is required")]
    MissingTable,
    /// The keys could not be loaded.
    #[error("keys: {0}")]
    Keys(#[from] tessera_keys::KeysError),
}

/// `main` returning an error prints its `Debug`: make that the message, which names the
/// variable at fault, rather than a struct dump.
impl std::fmt::Debug for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Structured logs as Lambda expects them (JSON when the function's log format is JSON).
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// The configuration and key ring every function that signs or verifies needs.
pub async fn config_and_keys() -> Result<(Config, KeyRing), InitError> {
    let config = Config::from_env()?;
    let ring = KeyRing::load(KeySource::from_env().await?, config.access_token_alg).await?;
    Ok((config, ring))
}

/// A service over the DynamoDB table named by `TABLE_NAME`. The SDK's own environment
/// settings apply (credentials, region, `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).
pub async fn dynamo_service() -> Result<Service<DynamoStore>, InitError> {
    let (config, ring) = config_and_keys().await?;
    let table = config.table_name.clone().ok_or(InitError::MissingTable)?;
    let store = DynamoStore::from_endpoint(None, table).await;
    Ok(Service::new(config, ring, store))
}

/// The DynamoDB store alone, for the sessions function: it needs no key, so it never reads
/// the signing secret.
pub async fn dynamo_store() -> Result<DynamoStore, InitError> {
    let config = Config::from_env()?;
    let table = config.table_name.ok_or(InitError::MissingTable)?;
    Ok(DynamoStore::from_endpoint(None, table).await)
}

/// A service without a store, for functions that only read keys or the request (jwks, me).
pub async fn keys_only_service() -> Result<Service<()>, InitError> {
    let (config, ring) = config_and_keys().await?;
    Ok(Service::new(config, ring, ()))
}

//! The HTTP functions' state over AWS: the DynamoDB store and the key ring, the secret read
//! through the AWS SDK (these functions link it for DynamoDB anyway).

use std::future::Future;
use std::pin::Pin;

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use tessera_keys::{KeyRing, KeySource, KeysError, SecretValue, VersionSource, Versions};
use tessera_service::{Config, Service};
use tessera_store::{DynamoStore, aws_sdk_config};

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
    /// The AWS clients could not be built.
    #[error("aws: {0}")]
    Aws(#[from] tessera_store::StoreError),
}

/// `main` returning an error prints its `Debug`: make that the message, which names the
/// variable at fault, rather than a struct dump.
impl std::fmt::Debug for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The configuration and key ring every function that signs or verifies needs: the secret
/// named by `KEY_SECRET_ARN` through the AWS SDK (these functions link it for DynamoDB
/// anyway, and unlike the extension it answers during init), else `KEY_FILE`.
pub async fn config_and_keys() -> Result<(Config, KeyRing), InitError> {
    let config = Config::from_env()?;
    let ring = key_ring(&config, None).await?;
    Ok((config, ring))
}

/// The key ring for `config`; the secret is read with `sdk` when there is one, so a function
/// builds one AWS configuration for all its clients.
async fn key_ring(config: &Config, sdk: Option<&SdkConfig>) -> Result<KeyRing, InitError> {
    let source = match std::env::var("KEY_SECRET_ARN") {
        Ok(arn) if !arn.trim().is_empty() => {
            let client = match sdk {
                Some(sdk) => aws_sdk_secretsmanager::Client::new(sdk),
                None => aws_sdk_secretsmanager::Client::new(&aws_sdk_config().await?),
            };
            KeySource::Remote(Box::new(SecretsManagerSdk {
                client,
                secret_id: arn,
            }))
        }
        _ => KeySource::from_env()?,
    };
    // Signing functions re-read the secret on this timer, so a warm instance signs with a
    // rotated key (and the JWKS drops a retired one) within KEY_RELOAD_INTERVAL.
    Ok(KeyRing::load(source, config.verify.alg)
        .await?
        .with_refresh_interval(std::time::Duration::from_secs(config.key_reload_interval)))
}

/// The Secrets Manager secret through the AWS SDK: `AWSCURRENT` and, once rotated,
/// `AWSPREVIOUS`.
struct SecretsManagerSdk {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSdk {
    async fn stage(&self, stage: &'static str) -> Result<Option<String>, KeysError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await;
        match answer {
            Ok(out) => Ok(out.secret_string),
            // A secret that was never rotated has no AWSPREVIOUS version.
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(KeysError::SecretsManager(format!(
                "{stage}: {}",
                e.code().unwrap_or("request failed")
            ))),
        }
    }
}

impl VersionSource for SecretsManagerSdk {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Versions, KeysError>> + Send + '_>> {
        Box::pin(async move {
            // Both stages at once: this is the cold start.
            let (current, previous) =
                tokio::join!(self.stage("AWSCURRENT"), self.stage("AWSPREVIOUS"));
            let current = current?.ok_or_else(|| {
                KeysError::SecretsManager("AWSCURRENT has no secret string".into())
            })?;
            Ok(Versions {
                current: SecretValue::new(current),
                previous: previous?.into_iter().map(SecretValue::new).collect(),
            })
        })
    }
}

/// A service over the DynamoDB table named by `TABLE_NAME`. One AWS configuration
/// ([`aws_sdk_config`]: the Amazon roots only) serves the table and the secret.
pub async fn dynamo_service() -> Result<Service<DynamoStore>, InitError> {
    let config = Config::from_env()?;
    let table = config.table_name.clone().ok_or(InitError::MissingTable)?;
    let sdk = aws_sdk_config().await?;
    let ring = key_ring(&config, Some(&sdk)).await?;
    Ok(Service::new(
        config,
        ring,
        DynamoStore::with_sdk_config(&sdk, table),
    ))
}

/// The DynamoDB store alone, for the sessions function: it needs no key, so it never reads
/// the signing secret.
pub async fn dynamo_store() -> Result<DynamoStore, InitError> {
    let config = Config::from_env()?;
    let table = config.table_name.ok_or(InitError::MissingTable)?;
    Ok(DynamoStore::on_aws(table).await?)
}

/// A service without a store, for functions that only read keys or the request (jwks, me).
pub async fn keys_only_service() -> Result<Service<()>, InitError> {
    let (config, ring) = config_and_keys().await?;
    Ok(Service::new(config, ring, ()))
}

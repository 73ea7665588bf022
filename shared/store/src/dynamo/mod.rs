//! The DynamoDB adapter: users and sessions in one table.
//!
//! Layout: key `pk` (S). Users: `pk = USER#<username>`, with the revocation watermark
//! `revoked_before` and `sessions`, the sids created under the current watermark (the session
//! cap's bookkeeping). Sessions: `pk = SESSION#<sid>`, with `gsi_user` = user id on session
//! items only (the sparse GSI `by_user`, hash `gsi_user`, range `created_at`). Failed-login
//! counters: `pk = LOGIN#<username>`, for any username tried. `ttl` (epoch seconds) is the TTL
//! attribute of sessions and counters. TTL deletes lazily, so every answer that depends on
//! expiry checks the times itself.

mod counter;
mod errors;
mod item;
mod sessions;
mod users;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Intercept, Region, retry::RetryConfig, timeout::TimeoutConfig,
};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValue, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

pub use counter::RequestCounter;
use errors::{classify, internal};
use item::{Item, n, s, session_pk, user_pk};

use crate::{Session, StoreError, User};

/// Name of the sparse GSI on `gsi_user` + `created_at`.
pub const BY_USER_INDEX: &str = "by_user";

/// How often and how long `create_table` polls for the table to become active.
const TABLE_POLL_INTERVAL: Duration = Duration::from_millis(250);
const TABLE_POLL_ATTEMPTS: u32 = 240;

/// Users and sessions in one DynamoDB table. Cheap to clone (the SDK client is shared).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// The AWS configuration of a Lambda function's SDK clients: the SDK's environment
/// (credentials, region, `AWS_ENDPOINT_URL_*`), Tessera's retry (standard mode, 3 attempts)
/// and timeout (3 s per attempt, 8 s per call) settings, and an HTTPS client that trusts the
/// Amazon Trust Services roots only ([`crate::AMAZON_ROOTS_PEM`], compiled in), the roots
/// every AWS service endpoint's certificate chains to. The system trust store, about 150
/// roots read from disk and parsed, is never read: that was most of an SDK client's start.
/// Built once, it serves every client of the function (DynamoDB, Secrets Manager).
///
/// Outside AWS's commercial partition (China, GovCloud, the isolated and sovereign regions),
/// whose endpoints may chain to other roots, the SDK's default client and the system trust
/// store are kept.
pub async fn aws_sdk_config() -> Result<aws_config::SdkConfig, StoreError> {
    let defaults = sdk_defaults();
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok();
    if !amazon_roots_suffice(region.as_deref()) {
        return Ok(defaults.load().await);
    }
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(crate::AMAZON_ROOTS_PEM);
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| StoreError::Internal(format!("the Amazon root certificates: {e}")))?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(tls)
        .build_https();
    Ok(defaults.http_client(http).load().await)
}

/// The SDK's environment (credentials, region, `AWS_ENDPOINT_URL_*`) with Tessera's retry
/// and timeout settings: what every AWS configuration here starts from.
fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
}

/// Whether every endpoint of `region` chains to the Amazon Trust Services roots: true in the
/// commercial partition (and without a region, where the SDK will fail on its own), false for
/// China (`cn-`), GovCloud (`us-gov-`), the isolated (`us-iso`) and the European Sovereign
/// Cloud (`eusc-`) regions.
fn amazon_roots_suffice(region: Option<&str>) -> bool {
    region.is_none_or(|region| {
        !["cn-", "us-gov-", "us-iso", "eusc-"]
            .iter()
            .any(|prefix| region.starts_with(prefix))
    })
}

/// Expression attribute names `#name -> name` for every attribute an expression mentions, so
/// that no attribute can collide with DynamoDB's long list of reserved words (`ttl`, `status`).
pub(crate) fn names<const N: usize>(list: [&str; N]) -> HashMap<String, String> {
    list.into_iter()
        .map(|name| (format!("#{name}"), name.to_owned()))
        .collect()
}

pub(crate) fn values<const N: usize>(
    list: [(&str, AttributeValue); N],
) -> HashMap<String, AttributeValue> {
    list.into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Retries for transient failures (throttling, 5xx, timeouts, connection errors): three
/// attempts with a short backoff, because a caller is waiting on the other end.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(1))
}

/// Bounds every call, retries included, well inside a Lambda's timeout.
fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

impl DynamoStore {
    /// A store over an existing client and table; the client's own retry and timeout
    /// settings apply.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store with Tessera's retry (standard mode, 3 attempts) and timeout (3 s per attempt,
    /// 8 s per call) settings. With an endpoint (DynamoDB Local), static dummy credentials and
    /// region us-east-1; without one, the default region and credential provider chain
    /// (environment, profile, the Lambda role).
    pub async fn from_endpoint(endpoint: Option<&str>, table: impl Into<String>) -> Self {
        let config = match endpoint {
            Some(url) => Self::local_config(url).build(),
            None => aws_sdk_dynamodb::Config::from(&sdk_defaults().load().await),
        };
        Self::new(Client::from_conf(config), table)
    }

    /// A store on AWS whose client trusts the Amazon Trust Services roots only: see
    /// [`aws_sdk_config`].
    pub async fn on_aws(table: impl Into<String>) -> Result<Self, StoreError> {
        Ok(Self::with_sdk_config(&aws_sdk_config().await?, table))
    }

    /// A store on the AWS configuration `shared` (see [`aws_sdk_config`]), which the caller
    /// may share with its other AWS clients.
    pub fn with_sdk_config(shared: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(
            Client::from_conf(aws_sdk_dynamodb::Config::from(shared)),
            table,
        )
    }

    /// The same table through a client that gives up on a call after `limit`, retries
    /// included (each attempt gets half of it): for a caller whose own deadline is shorter
    /// than the usual 8 s, so that a store that does not answer is its error, reported by
    /// it, rather than its caller's timeout.
    pub fn with_call_limit(&self, limit: Duration) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(limit / 2)
            .operation_attempt_timeout(limit / 2)
            .operation_timeout(limit)
            .build();
        let config = self
            .client
            .config()
            .to_builder()
            .timeout_config(timeouts)
            .build();
        Self::new(Client::from_conf(config), self.table.clone())
    }

    /// The client configuration `from_endpoint` uses for a local endpoint, open for additions
    /// (interceptors in tests).
    pub fn local_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            // DynamoDB Local accepts any key made of letters and digits only.
            .credentials_provider(Credentials::new(
                "tesseralocal",
                "tesseralocal",
                None,
                None,
                "tessera-static",
            ))
            .endpoint_url(endpoint)
            .retry_config(retry_config())
            .timeout_config(timeout_config())
    }

    /// The same table through a client with one more interceptor (request counting, fault
    /// injection in tests).
    pub fn with_interceptor(&self, interceptor: impl Intercept + 'static) -> Self {
        let config = self
            .client
            .config()
            .to_builder()
            .interceptor(interceptor)
            .build();
        Self::new(Client::from_conf(config), self.table.clone())
    }

    /// The same table through a client that counts the HTTP requests it sends, per operation.
    pub fn with_request_counter(&self) -> (Self, RequestCounter) {
        let counter = RequestCounter::default();
        (self.with_interceptor(counter.clone()), counter)
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with its GSI if it does not exist, waits (polling, bounded) until it
    /// and the index are active, and enables TTL on `ttl`. Idempotent. For development and
    /// tests; production tables come from the SAM template.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attribute = |name: &str, kind| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(internal)
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(internal)
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(BY_USER_INDEX)
            .key_schema(key("gsi_user", KeyType::Hash)?)
            .key_schema(key("created_at", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(internal)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("gsi_user", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("created_at", ScalarAttributeType::N)?)
            .key_schema(key("pk", KeyType::Hash)?)
            .global_secondary_indexes(index)
            .send()
            .await;
        if let Err(err) = created {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !exists {
                return Err(classify("CreateTable", err));
            }
        }
        self.wait_until_active().await?;
        self.enable_ttl().await
    }

    /// Checks at start that the table exists, so a wrong name or endpoint fails at once
    /// instead of answering 500 to every request: [`StoreError::NotFound`] when it does not.
    pub async fn check_table(&self) -> Result<(), StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Err(StoreError::NotFound)
            }
            Err(err) => Err(classify("DescribeTable", err)),
        }
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        for _ in 0..TABLE_POLL_ATTEMPTS {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| classify("DescribeTable", e))?;
            if let Some(table) = described.table() {
                let table_active = table.table_status() == Some(&TableStatus::Active);
                let indexes_active = table.global_secondary_indexes().iter().all(|index| {
                    index.index_status() == Some(&aws_sdk_dynamodb::types::IndexStatus::Active)
                });
                if table_active && indexes_active {
                    return Ok(());
                }
            }
            tokio::time::sleep(TABLE_POLL_INTERVAL).await;
        }
        Err(StoreError::unavailable(format!(
            "table {} did not become active in time",
            self.table
        )))
    }

    /// Enables TTL. "Already enabled" is success; any other refusal by the service (DynamoDB
    /// Local versions without TTL support) is logged and ignored, because every read checks
    /// expiry itself and TTL only saves storage.
    async fn enable_ttl(&self) -> Result<(), StoreError> {
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name("ttl")
            .build()
            .map_err(internal)?;
        let result = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(spec)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some() => {
                tracing::warn!(
                    table = %self.table,
                    error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err),
                    "could not enable TTL; expired sessions stay until deleted by hand"
                );
                Ok(())
            }
            Err(err) => Err(classify("UpdateTimeToLive", err)),
        }
    }

    /// Pages through a query of the `by_user` index for the user's live sessions (live by
    /// their own record; the owner's watermark is checked by the caller).
    pub(crate) async fn query_live_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let mut sessions = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_USER_INDEX)
                .key_condition_expression("#gsi_user = :user")
                .filter_expression(
                    "#revoked = :false AND #expires_at > :now AND #idle_expires_at > :now",
                )
                .set_expression_attribute_names(Some(names([
                    "gsi_user",
                    "revoked",
                    "expires_at",
                    "idle_expires_at",
                ])))
                .set_expression_attribute_values(Some(values([
                    (":user", s(user_id)),
                    (":false", AttributeValue::Bool(false)),
                    (":now", n(now)),
                ])))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            for item in page.items() {
                sessions.push(Session::try_from(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        // The index is eventually consistent; the filter above and this check agree, and the
        // sort makes the order independent of how DynamoDB breaks ties on created_at.
        sessions.retain(|session| session.user_id == user_id && session.is_live(now));
        sessions.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.sid.cmp(&a.sid))
        });
        Ok(sessions)
    }

    /// Marks a session revoked; true if this call revoked it.
    pub(crate) async fn revoke(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", session_pk(sid))
            .update_expression("SET #revoked = :true, #revoked_at = :now")
            .condition_expression("attribute_exists(#pk) AND #revoked = :false")
            .set_expression_attribute_names(Some(names(["pk", "revoked", "revoked_at"])))
            .set_expression_attribute_values(Some(values([
                (":true", AttributeValue::Bool(true)),
                (":false", AttributeValue::Bool(false)),
                (":now", n(now)),
            ])))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(err) => Err(classify("UpdateItem", err)),
        }
    }

    /// Runs an update on a user item that must exist, returning the user as it is now.
    pub(crate) async fn update_user(
        &self,
        username: &str,
        update: &str,
        attribute_names: HashMap<String, String>,
        attribute_values: HashMap<String, AttributeValue>,
    ) -> Result<User, StoreError> {
        let mut attribute_names = attribute_names;
        attribute_names.insert("#pk".to_owned(), "pk".to_owned());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", user_pk(username))
            .update_expression(update)
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(attribute_names))
            .set_expression_attribute_values(Some(attribute_values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output
                    .attributes()
                    .ok_or_else(|| StoreError::Internal("update returned no user item".into()))?;
                User::try_from(item)
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Err(StoreError::NotFound)
            }
            Err(err) => Err(classify("UpdateItem", err)),
        }
    }

    /// Puts a new item unless its key exists. An existing item that `is_ours` recognises is
    /// this very call's own write, committed on an attempt whose reply was lost: success.
    pub(crate) async fn put_new(
        &self,
        item: Item,
        is_ours: impl Fn(&Item) -> bool,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    if failed.item().is_some_and(&is_ours) {
                        Ok(())
                    } else {
                        Err(StoreError::AlreadyExists)
                    }
                }
                _ => Err(classify("PutItem", err)),
            },
        }
    }
}

/// Whether an existing item carries `value` in attribute `name`.
pub(crate) fn has(item: &Item, name: &str, value: &AttributeValue) -> bool {
    item.get(name) == Some(value)
}

#[cfg(test)]
mod tests {
    use super::amazon_roots_suffice;

    #[test]
    fn only_the_commercial_partition_trusts_the_amazon_roots_alone() {
        for region in ["us-east-1", "eu-west-1", "ap-southeast-5", "il-central-1"] {
            assert!(amazon_roots_suffice(Some(region)), "{region}");
        }
        for region in [
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eusc-de-east-1",
        ] {
            assert!(!amazon_roots_suffice(Some(region)), "{region}");
        }
        assert!(amazon_roots_suffice(None));
    }
}

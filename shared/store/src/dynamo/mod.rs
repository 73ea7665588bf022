//! The DynamoDB adapter: users and sessions in one table.
//!
//! Layout: key `pk` (S). Users: `pk = USER#<username>`. Sessions: `pk = SESSION#<sid>`, with
//! `gsi_user` = user id on session items only (the sparse GSI `by_user`, hash `gsi_user`,
//! range `created_at`), and the TTL attribute `ttl` (epoch seconds). TTL deletes lazily, so
//! every answer that depends on expiry checks the times itself.

mod counter;
mod errors;
mod item;

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

pub use counter::RequestCounter;
use errors::{classify, internal};
use item::{Item, n, s, session_item, session_pk, user_item, user_pk};

use crate::rotation::{Verdict, judge, random_id};
use crate::{
    LockoutPolicy, RotateOutcome, Rotation, Session, SessionStore, StoreError, User, UserStatus,
    UserStore,
};

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

/// Expression attribute names `#name -> name` for every attribute an expression mentions, so
/// that no attribute can collide with DynamoDB's long list of reserved words (`ttl`, `status`).
fn names<const N: usize>(list: [&str; N]) -> HashMap<String, String> {
    list.into_iter()
        .map(|name| (format!("#{name}"), name.to_owned()))
        .collect()
}

fn values<const N: usize>(list: [(&str, AttributeValue); N]) -> HashMap<String, AttributeValue> {
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
            None => {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .retry_config(retry_config())
                    .timeout_config(timeout_config())
                    .load()
                    .await;
                aws_sdk_dynamodb::Config::from(&shared)
            }
        };
        Self::new(Client::from_conf(config), table)
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

    /// Pages through a query of the `by_user` index for the user's live sessions.
    async fn query_live_sessions(
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
    async fn revoke(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
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
    async fn update_user(
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
    async fn put_new(&self, item: Item, is_ours: impl Fn(&Item) -> bool) -> Result<(), StoreError> {
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
fn has(item: &Item, name: &str, value: &AttributeValue) -> bool {
    item.get(name) == Some(value)
}

impl UserStore for DynamoStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let user_id = s(&user.user_id);
        self.put_new(user_item(user), |old| has(old, "user_id", &user_id))
            .await
    }

    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", user_pk(username))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        output.item().map(User::try_from).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut users = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(#pk, :prefix)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":prefix", s(item::USER_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Scan", e))?;
            for item in page.items() {
                users.push(User::try_from(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: i64,
        lock: &LockoutPolicy,
    ) -> Result<User, StoreError> {
        let mut user = self
            .update_user(
                username,
                "ADD #failed_attempts :one",
                names(["failed_attempts"]),
                values([(":one", n(1))]),
            )
            .await?;
        let Some(delay) = lock.delay_secs(user.failed_attempts) else {
            return Ok(user);
        };
        // A second request, only on the locking path: the delay depends on the new count, which
        // an update expression cannot exponentiate. Conditional on the count, so a concurrent
        // failure that counted higher (and locks longer) is never shortened by this one.
        let until = now.saturating_add(delay);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", user_pk(username))
            .update_expression("SET #locked_until = :until")
            .condition_expression("#failed_attempts = :count")
            .set_expression_attribute_names(Some(names(["locked_until", "failed_attempts"])))
            .set_expression_attribute_values(Some(values([
                (":until", n(until)),
                (":count", n(user.failed_attempts)),
            ])))
            .send()
            .await;
        match result {
            Ok(_) => {}
            // A concurrent failure counted higher and sets a lock at least this long.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) => {}
            Err(err) => return Err(classify("UpdateItem", err)),
        }
        user.locked_until = Some(until);
        Ok(user)
    }

    async fn record_login_success(&self, username: &str) -> Result<(), StoreError> {
        self.update_user(
            username,
            "SET #failed_attempts = :zero REMOVE #locked_until",
            names(["failed_attempts", "locked_until"]),
            values([(":zero", n(0))]),
        )
        .await
        .map(drop)
    }

    async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let user = self
            .update_user(
                username,
                "SET #password_hash = :hash, #updated_at = :now, #failed_attempts = :zero \
                 REMOVE #locked_until",
                names([
                    "password_hash",
                    "updated_at",
                    "failed_attempts",
                    "locked_until",
                ]),
                values([
                    (":hash", s(password_hash)),
                    (":now", n(now)),
                    (":zero", n(0)),
                ]),
            )
            .await?;
        // Not atomic with the update above: if this fails the caller sees the error and may
        // repeat the whole call, which is idempotent.
        self.revoke_user_sessions(&user.user_id, now)
            .await
            .map(drop)
    }

    async fn set_status(
        &self,
        username: &str,
        status: UserStatus,
        now: i64,
    ) -> Result<(), StoreError> {
        let user = self
            .update_user(
                username,
                "SET #status = :status, #updated_at = :now",
                names(["status", "updated_at"]),
                values([(":status", s(status.as_str())), (":now", n(now))]),
            )
            .await?;
        if status == UserStatus::Disabled {
            self.revoke_user_sessions(&user.user_id, now).await?;
        }
        Ok(())
    }
}

impl SessionStore for DynamoStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let user_id = s(&session.user_id);
        let current = s(&session.current_hash);
        self.put_new(session_item(session), |old| {
            has(old, "user_id", &user_id) && has(old, "current_hash", &current)
        })
        .await
    }

    async fn get_session(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", session_pk(sid))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        output.item().map(Session::try_from).transpose()
    }

    /// One conditional `UpdateItem`. The idle expiry is written as the raw deadline
    /// `now + idle_ttl` (the expression cannot take a minimum with `expires_at`, which this
    /// call has not read); reading caps it at `expires_at`, and the condition checks both
    /// bounds, so the effective idle expiry is exactly `min(now + idle_ttl, expires_at)`.
    ///
    /// The request id is drawn once per call, before sending, so an SDK retry of a committed
    /// attempt resends the same id and recognises its own write in the old item returned by
    /// the failed condition. The successor hash cannot serve that purpose: it is derived from
    /// the presented token, so a replay of a spent token would compute the same one.
    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let request_id = random_id()?;
        let idle_deadline = rotation.now.saturating_add(rotation.idle_ttl);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", session_pk(&rotation.sid))
            .update_expression(
                "SET #current_hash = :next, #previous_hash = :presented, #rotated_at = :now, \
                 #last_used_at = :now, #idle_expires_at = :idle, \
                 #generation = #generation + :one, #rotation_id = :request, #ttl = :idle",
            )
            .condition_expression(
                "attribute_exists(#pk) AND #current_hash = :presented AND #revoked = :false \
                 AND #expires_at > :now AND #idle_expires_at > :now",
            )
            .set_expression_attribute_names(Some(names([
                "pk",
                "current_hash",
                "previous_hash",
                "rotated_at",
                "last_used_at",
                "idle_expires_at",
                "generation",
                "rotation_id",
                "ttl",
                "revoked",
                "expires_at",
            ])))
            .set_expression_attribute_values(Some(values([
                (":next", s(&rotation.next_hash)),
                (":presented", s(&rotation.presented_hash)),
                (":now", n(rotation.now)),
                (":idle", n(idle_deadline)),
                (":one", n(1)),
                (":request", s(&request_id)),
                (":false", AttributeValue::Bool(false)),
            ])))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(output) => {
                let item = output.attributes().ok_or_else(|| {
                    StoreError::Internal("rotation returned no session item".into())
                })?;
                return Ok(RotateOutcome::Rotated(Session::try_from(item)?));
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().cloned()
                }
                _ => return Err(classify("UpdateItem", err)),
            },
        };
        let session = old.as_ref().map(Session::try_from).transpose()?;
        let ours = old
            .as_ref()
            .and_then(item::rotation_id)
            .is_some_and(|id| id == request_id);
        match judge(session.as_ref(), rotation, ours) {
            Verdict::Answer(outcome) => Ok(outcome),
            Verdict::RevokeAsReused => {
                self.revoke(&rotation.sid, rotation.now).await?;
                tracing::warn!(sid = %rotation.sid, "refresh token reuse detected; session revoked");
                Ok(RotateOutcome::Reused)
            }
            Verdict::Apply => Err(StoreError::Internal(
                "rotation condition failed on the current token of a live session".into(),
            )),
        }
    }

    async fn revoke_session(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        self.revoke(sid, now).await
    }

    async fn revoke_user_sessions(&self, user_id: &str, now: i64) -> Result<u32, StoreError> {
        let mut revoked = 0u32;
        for session in self.query_live_sessions(user_id, now).await? {
            if self.revoke(&session.sid, now).await? {
                revoked = revoked.saturating_add(1);
            }
        }
        Ok(revoked)
    }

    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<Session>, StoreError> {
        self.query_live_sessions(user_id, now).await
    }
}

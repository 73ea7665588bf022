//! Users, their revocation watermark, and the failed-login counters of usernames.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::errors::classify;
use super::item::{self, Item, login_pk, n, s, user_item, user_pk};
use super::{DynamoStore, has, names, values};
use crate::model::{Carry, next_watermark};
use crate::{
    AttemptTicket, LockoutPolicy, LoginAttempt, LoginAttempts, StoreError, User, UserStatus,
    UserStore,
};

/// How often a read-then-conditional-write on one user is tried again when another writer
/// changed the item in between, before giving up as unavailable.
pub(super) const CONTENTION_ATTEMPTS: usize = 5;

/// The condition that the user item's watermark is still `watermark` (absent reads as 0).
pub(super) fn watermark_is(watermark: i64) -> &'static str {
    if watermark == 0 {
        "(attribute_not_exists(#revoked_before) OR #revoked_before = :watermark)"
    } else {
        "#revoked_before = :watermark"
    }
}

fn is_condition_failure(err: &aws_sdk_dynamodb::error::SdkError<UpdateItemError>) -> bool {
    err.as_service_error()
        .is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

impl DynamoStore {
    /// Moves the user's watermark past every session created so far, in one conditional
    /// write that also clears the session list and applies `extra` (`SET` clauses of the
    /// same update, with their names and values). Reads the user first; a concurrent change
    /// in between is retried. Returns the user as it was before.
    async fn move_watermark(
        &self,
        username: &str,
        now: i64,
        extra: &str,
        extra_names: HashMap<String, String>,
        extra_values: HashMap<String, AttributeValue>,
    ) -> Result<User, StoreError> {
        for _ in 0..CONTENTION_ATTEMPTS {
            let user = self
                .get_user_by_username(username)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut attribute_names = names(["pk", "revoked_before", "sessions"]);
            attribute_names.extend(extra_names.clone());
            let mut attribute_values = values([
                (":watermark", n(user.revoked_before)),
                (":next", n(next_watermark(user.revoked_before, now))),
                (":empty", AttributeValue::L(Vec::new())),
            ]);
            attribute_values.extend(extra_values.clone());
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", user_pk(username))
                .update_expression(format!(
                    "SET #revoked_before = :next, #sessions = :empty{extra}"
                ))
                .condition_expression(format!(
                    "attribute_exists(#pk) AND {}",
                    watermark_is(user.revoked_before)
                ))
                .set_expression_attribute_names(Some(attribute_names))
                .set_expression_attribute_values(Some(attribute_values))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(user),
                // Another revocation (or a deletion) came first: read again.
                Err(err) if is_condition_failure(&err) => continue,
                Err(err) => return Err(classify("UpdateItem", err)),
            }
        }
        Err(StoreError::unavailable(format!(
            "user {username} kept changing during a revocation"
        )))
    }

    async fn delete_login_attempts(&self, username: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", login_pk(username))
            .send()
            .await
            .map_err(|e| classify("DeleteItem", e))?;
        Ok(())
    }
}

/// The condition under which one more attempt is counted: no counter, a forgotten one, a
/// count below the threshold, or a count whose lock (`last_at + delay(count)`) has ended.
/// DynamoDB cannot compute `base * 2^k`, so there is one clause per distinct lock duration,
/// each with its deadline already subtracted from `now`. The same rule as
/// [`LockoutPolicy::charge`], which the conformance suite holds both adapters to.
fn admission_condition(
    policy: &LockoutPolicy,
    now: i64,
) -> (String, HashMap<String, AttributeValue>) {
    let mut condition = String::from(
        "attribute_not_exists(#attempts) OR #last_at <= :forgotten OR #attempts < :threshold",
    );
    let mut bindings = values([
        (":forgotten", n(now.saturating_sub(policy.window_secs))),
        (":threshold", n(policy.threshold)),
    ]);
    let steps = policy.steps();
    for (i, (count, delay)) in steps.iter().enumerate() {
        // The last duration is the cap: it holds for every count from its own on.
        let op = if i + 1 == steps.len() { ">=" } else { "=" };
        condition.push_str(&format!(
            " OR (#attempts {op} :count{i} AND #last_at <= :opened{i})"
        ));
        bindings.insert(format!(":count{i}"), n(*count));
        bindings.insert(format!(":opened{i}"), n(now.saturating_sub(*delay)));
    }
    (condition, bindings)
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

    /// One conditional `UpdateItem` that counts the attempt unless the username is locked.
    /// A forgotten counter cannot be reset by the same expression (DynamoDB has no branch),
    /// so the attempt is added to it and the forgotten part is carried in the ticket: a
    /// success deletes the counter anyway, and a failure takes the carry back
    /// ([`UserStore::settle_failed_login`]). Until then the counter reads too high, which can
    /// only refuse more, never admit more.
    async fn charge_login_attempt(
        &self,
        username: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LoginAttempt, StoreError> {
        policy.validate()?;
        let record = tessera_token::random_id();
        // Long enough to outlive the window and the longest lock: DynamoDB then deletes the
        // counters of names nobody tries any more.
        let ttl = now
            .saturating_add(policy.window_secs)
            .saturating_add(policy.max_delay_secs);
        for _ in 0..CONTENTION_ATTEMPTS {
            let (condition, mut bindings) = admission_condition(policy, now);
            bindings.extend(values([
                (":one", n(1)),
                (":now", n(now)),
                (":ttl", n(ttl)),
                (":record", s(&record)),
            ]));
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", login_pk(username))
                .update_expression(
                    "ADD #attempts :one SET #last_at = :now, #ttl = :ttl, \
                     #record = if_not_exists(#record, :record)",
                )
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names([
                    "attempts", "last_at", "ttl", "record",
                ])))
                .set_expression_attribute_values(Some(bindings))
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match result {
                Ok(output) => {
                    let old = output.attributes();
                    let counter = old.map(LoginAttempts::try_from).transpose()?;
                    let (attempts, carry) = match counter {
                        Some(c) if policy.is_forgotten(&c, now) => (
                            1,
                            old.and_then(item::record_id).map(|record| Carry {
                                attempts: c.attempts,
                                record: record.to_owned(),
                            }),
                        ),
                        Some(c) => (c.attempts.saturating_add(1), None),
                        None => (1, None),
                    };
                    return Ok(LoginAttempt::Admitted(AttemptTicket {
                        username: username.to_owned(),
                        attempts,
                        carry,
                    }));
                }
                Err(err) => match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                        let counter = failed.item().map(LoginAttempts::try_from).transpose()?;
                        if let Some(retry_after_secs) =
                            counter.and_then(|c| policy.locked_for(&c, now))
                        {
                            return Ok(LoginAttempt::Locked { retry_after_secs });
                        }
                        // The counter changed between the condition and this read (a reset,
                        // say): judge again.
                    }
                    _ => return Err(classify("UpdateItem", err)),
                },
            }
        }
        Err(StoreError::unavailable(format!(
            "the login counter of {username} kept changing"
        )))
    }

    async fn settle_failed_login(&self, ticket: &AttemptTicket) -> Result<(), StoreError> {
        let Some(carry) = &ticket.carry else {
            return Ok(());
        };
        let negative = -i64::from(carry.attempts);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", login_pk(&ticket.username))
            .update_expression("ADD #attempts :carry")
            // Only the record this attempt was added to: a counter deleted by a success and
            // created again since must not lose counts it never had.
            .condition_expression("#record = :record")
            .set_expression_attribute_names(Some(names(["attempts", "record"])))
            .set_expression_attribute_values(Some(values([
                (":carry", n(negative)),
                (":record", s(&carry.record)),
            ])))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(classify("UpdateItem", err)),
        }
    }

    async fn get_login_attempts(
        &self,
        username: &str,
    ) -> Result<Option<LoginAttempts>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", login_pk(username))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        output.item().map(LoginAttempts::try_from).transpose()
    }

    /// Resets the counter, then replaces the hash and moves the watermark in one write; a
    /// failure after the reset leaves only a reset counter behind, and the call can be
    /// repeated.
    async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.delete_login_attempts(username).await?;
        self.move_watermark(
            username,
            now,
            ", #password_hash = :hash, #updated_at = :now",
            names(["password_hash", "updated_at"]),
            values([(":hash", s(password_hash)), (":now", n(now))]),
        )
        .await
        .map(drop)
    }

    async fn set_status(
        &self,
        username: &str,
        status: UserStatus,
        now: i64,
    ) -> Result<(), StoreError> {
        let status_names = names(["status", "updated_at"]);
        let status_values = values([(":status", s(status.as_str())), (":now", n(now))]);
        match status {
            UserStatus::Disabled => self
                .move_watermark(
                    username,
                    now,
                    ", #status = :status, #updated_at = :now",
                    status_names,
                    status_values,
                )
                .await
                .map(drop),
            UserStatus::Active => self
                .update_user(
                    username,
                    "SET #status = :status, #updated_at = :now",
                    status_names,
                    status_values,
                )
                .await
                .map(drop),
        }
    }

    async fn revoke_all_sessions(&self, username: &str, now: i64) -> Result<(), StoreError> {
        self.move_watermark(username, now, "", HashMap::new(), HashMap::new())
            .await
            .map(drop)
    }
}

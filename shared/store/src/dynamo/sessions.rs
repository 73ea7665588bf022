//! Sessions: creation at login (one transaction with the owner's conditions and the cap),
//! rotation (one conditional update, then one read of the owner), revocation and listing.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::errors::{classify, internal};
use super::item::{
    self, Item, login_pk, n, s, session_item, session_pk, sid_list, user_pk, user_sessions,
};
use super::users::{CONTENTION_ATTEMPTS, watermark_is};
use super::{DynamoStore, names, values};
use crate::rotation::{Verdict, judge};
use crate::{
    NewSession, RotateOutcome, Rotation, Session, SessionCreated, SessionStore, StoreError, User,
    UserStatus, UserStore,
};

/// The most items one `TransactWriteItems` call may hold.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// The most keys one `BatchGetItem` call may read.
const MAX_BATCH_KEYS: usize = 100;

/// What one attempt at the login transaction came to.
enum Attempt {
    /// Committed; these sessions were revoked for the cap.
    Created(Vec<String>),
    /// The user is no longer as the login read it.
    UserChanged,
    /// The user's session list is full (as now stored): prune it and try again.
    AtCap(Vec<String>),
    /// Another transaction touched the same items: try again.
    Conflict,
}

impl DynamoStore {
    /// The one transaction of a login: put the session, append its sid to the owner's list
    /// on the conditions that the owner is as the login read it and the list has room (or,
    /// when pruning, that the list is exactly as read), revoke the cap's victims, and delete
    /// the username's failed-login counter.
    async fn login_transaction(
        &self,
        new: &NewSession<'_>,
        list: Option<(&[String], &[String])>,
        victims: &[String],
    ) -> Result<Attempt, StoreError> {
        let session = new.session;
        let user = new.user;
        let mut conditions = format!(
            "attribute_exists(#pk) AND #user_id = :user_id AND #status = :active \
             AND #password_hash = :hash AND {}",
            watermark_is(user.revoked_before)
        );
        let mut bindings = values([
            (":user_id", s(&user.user_id)),
            (":active", s(UserStatus::Active.as_str())),
            (":hash", s(&user.password_hash)),
            (":watermark", n(user.revoked_before)),
        ]);
        let update = match list {
            // The usual path: room left, so appending commutes with other logins.
            None => {
                conditions
                    .push_str(" AND (attribute_not_exists(#sessions) OR size(#sessions) < :cap)");
                bindings.extend(values([
                    (":cap", n(new.max_sessions.max(1))),
                    (":new", sid_list(std::slice::from_ref(&session.sid))),
                    (":empty", AttributeValue::L(Vec::new())),
                ]));
                "SET #sessions = list_append(if_not_exists(#sessions, :empty), :new)"
            }
            // Pruning: the list is replaced, so it must be exactly the one that was judged.
            Some((seen, next)) => {
                conditions.push_str(" AND #sessions = :seen");
                bindings.extend(values([
                    (":seen", sid_list(seen)),
                    (":next", sid_list(next)),
                ]));
                "SET #sessions = :next"
            }
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(session_item(session)))
                        .condition_expression("attribute_not_exists(#pk)")
                        .expression_attribute_names("#pk", "pk")
                        .build()
                        .map_err(internal)?,
                )
                .build(),
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .key("pk", user_pk(&user.username))
                        .update_expression(update)
                        .condition_expression(conditions)
                        .set_expression_attribute_names(Some(names([
                            "pk",
                            "user_id",
                            "status",
                            "password_hash",
                            "revoked_before",
                            "sessions",
                        ])))
                        .set_expression_attribute_values(Some(bindings))
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()
                        .map_err(internal)?,
                )
                .build(),
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .key("pk", login_pk(&user.username))
                        .build()
                        .map_err(internal)?,
                )
                .build(),
        ];
        for sid in victims {
            items.push(
                TransactWriteItem::builder()
                    .update(revoke_update(&self.table, sid, session.created_at)?)
                    .build(),
            );
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Attempt::Created(victims.to_vec())),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Err(classify("TransactWriteItems", err));
        };
        let reasons = cancelled.cancellation_reasons();
        let failed = |i: usize| {
            reasons
                .get(i)
                .and_then(|r| r.code())
                .filter(|code| *code != "None")
        };
        if failed(0) == Some("ConditionalCheckFailed") {
            return Err(StoreError::AlreadyExists);
        }
        if failed(1) == Some("ConditionalCheckFailed") {
            let Some(now) = reasons.get(1).and_then(|r| r.item()) else {
                return Ok(Attempt::UserChanged);
            };
            let stored = User::try_from(now)?;
            let unchanged = stored.user_id == user.user_id
                && stored.status == UserStatus::Active
                && stored.password_hash == user.password_hash
                && stored.revoked_before == user.revoked_before;
            return Ok(if unchanged {
                Attempt::AtCap(user_sessions(now)?)
            } else {
                Attempt::UserChanged
            });
        }
        let busy = reasons.iter().filter_map(|r| r.code()).any(|code| {
            matches!(
                code,
                "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
            )
        });
        let victim_gone = reasons
            .iter()
            .skip(3)
            .any(|r| r.code() == Some("ConditionalCheckFailed"));
        if busy || victim_gone {
            return Ok(Attempt::Conflict);
        }
        Err(classify("TransactWriteItems", err))
    }

    /// The sessions of `sids` as stored (missing ones, deleted by TTL, are left out), read
    /// strongly consistently in batches.
    async fn sessions_by_sid(
        &self,
        sids: &[String],
    ) -> Result<HashMap<String, Session>, StoreError> {
        let mut found = HashMap::with_capacity(sids.len());
        for chunk in sids.chunks(MAX_BATCH_KEYS) {
            let keys = chunk
                .iter()
                .map(|sid| Item::from([("pk".to_owned(), session_pk(sid))]))
                .collect();
            for item in self.batch_get(keys).await? {
                let session = Session::try_from(&item)?;
                found.insert(session.sid.clone(), session);
            }
        }
        Ok(found)
    }

    /// The items of `keys` (at most [`MAX_BATCH_KEYS`]) that exist, read strongly consistently
    /// in one `BatchGetItem`; keys DynamoDB leaves unprocessed (throttling) are asked again,
    /// a few times, before the read counts as unavailable.
    async fn batch_get(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for _ in 0..CONTENTION_ATTEMPTS {
            if keys.is_empty() {
                return Ok(found);
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(internal)?;
            let mut output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| classify("BatchGetItem", e))?;
            found.extend(
                output
                    .responses
                    .take()
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            keys = output
                .unprocessed_keys
                .take()
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if keys.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::unavailable("items left unread by BatchGetItem"))
        }
    }

    /// The user as stored now, for a rotation to check it still accepts the session.
    async fn owner_of(&self, session: &Session) -> Result<Option<User>, StoreError> {
        self.get_user_by_username(&session.username).await
    }

    /// Confirms an outcome that hands out a token with the owner (one strongly consistent
    /// read); a session the owner no longer accepts is revoked and answered `Revoked`.
    async fn confirm_with_owner(
        &self,
        session: &Session,
        outcome: RotateOutcome,
        now: i64,
    ) -> Result<RotateOutcome, StoreError> {
        let owner = self.owner_of(session).await?;
        if session.is_accepted_by(owner.as_ref()) {
            return Ok(outcome);
        }
        self.revoke(&session.sid, now).await?;
        tracing::info!(sid = %session.sid, "session revoked: its owner's watermark moved past it");
        Ok(RotateOutcome::Revoked)
    }

    /// Judges a rotation against the session as stored (read after a failed condition, or
    /// after an attempt whose outcome is unknown), acting on the verdict.
    async fn judge_stored(
        &self,
        old: Option<&Item>,
        rotation: &Rotation,
        request_id: &str,
        unknown_outcome: bool,
    ) -> Result<RotateOutcome, StoreError> {
        let session = old.map(Session::try_from).transpose()?;
        let ours = old
            .and_then(item::rotation_id)
            .is_some_and(|id| id == request_id);
        match judge(session.as_ref(), rotation, ours) {
            Verdict::Answer(
                outcome @ (RotateOutcome::Rotated(_) | RotateOutcome::GraceReplay(_)),
            ) => match &session {
                Some(session) => {
                    self.confirm_with_owner(session, outcome, rotation.now)
                        .await
                }
                None => Ok(RotateOutcome::NotFound),
            },
            Verdict::Answer(outcome) => Ok(outcome),
            Verdict::RevokeAsReused => {
                self.revoke(&rotation.sid, rotation.now).await?;
                tracing::warn!(sid = %rotation.sid, "refresh token reuse detected; session revoked");
                Ok(RotateOutcome::Reused)
            }
            // The write did not land and the token is still current: the session is untouched,
            // which is exactly what "unavailable, retry with the same token" promises.
            Verdict::Apply if unknown_outcome => Err(StoreError::unavailable(
                "rotation not applied; the session is untouched",
            )),
            Verdict::Apply => Err(StoreError::Internal(
                "rotation condition failed on the current token of a live session".into(),
            )),
        }
    }
}

/// Marks one session revoked, as an update inside a transaction; it must exist, so that a
/// session deleted by TTL meanwhile is never recreated as a bare item.
fn revoke_update(table: &str, sid: &str, now: i64) -> Result<Update, StoreError> {
    Update::builder()
        .table_name(table)
        .key("pk", session_pk(sid))
        .update_expression("SET #revoked = :true, #revoked_at = :now")
        .condition_expression("attribute_exists(#pk)")
        .set_expression_attribute_names(Some(names(["pk", "revoked", "revoked_at"])))
        .set_expression_attribute_values(Some(values([
            (":true", AttributeValue::Bool(true)),
            (":now", n(now)),
        ])))
        .build()
        .map_err(internal)
}

impl SessionStore for DynamoStore {
    /// One `TransactWriteItems` while the owner has room under the cap. At the cap, the
    /// listed sessions are read (one `BatchGetItem`), the dead ones dropped from the list,
    /// and the oldest live ones revoked in the same transaction as the new session.
    async fn create_session(&self, new: &NewSession<'_>) -> Result<SessionCreated, StoreError> {
        let session = new.session;
        if session.user_id != new.user.user_id || session.watermark != new.user.revoked_before {
            return Err(StoreError::Internal(
                "a session must carry its owner's id and watermark as read".into(),
            ));
        }
        let cap = usize::try_from(new.max_sessions.max(1)).unwrap_or(usize::MAX);
        let mut full: Option<Vec<String>> = None;
        for _ in 0..CONTENTION_ATTEMPTS {
            let attempt = match &full {
                None => self.login_transaction(new, None, &[]).await?,
                Some(seen) => {
                    let stored = self.sessions_by_sid(seen).await?;
                    let live: Vec<String> = seen
                        .iter()
                        .filter(|sid| {
                            stored.get(*sid).is_some_and(|s| {
                                s.is_live(session.created_at) && s.is_accepted_by(Some(new.user))
                            })
                        })
                        .cloned()
                        .collect();
                    let excess = (live.len() + 1).saturating_sub(cap);
                    let (victims, kept) = live.split_at(excess.min(live.len()));
                    // Victims beyond what one transaction holds are revoked first, one by
                    // one: they are past the cap either way.
                    let room = MAX_TRANSACTION_ITEMS - 3;
                    let (early, in_transaction) =
                        victims.split_at(victims.len().saturating_sub(room));
                    for sid in early {
                        self.revoke(sid, session.created_at).await?;
                    }
                    let mut next = kept.to_vec();
                    next.push(session.sid.clone());
                    match self
                        .login_transaction(new, Some((seen, &next)), in_transaction)
                        .await?
                    {
                        Attempt::Created(mut revoked) => {
                            let mut all = early.to_vec();
                            all.append(&mut revoked);
                            Attempt::Created(all)
                        }
                        other => other,
                    }
                }
            };
            match attempt {
                Attempt::Created(revoked) => {
                    if !revoked.is_empty() {
                        tracing::info!(
                            user_id = %session.user_id,
                            revoked = revoked.len(),
                            "oldest sessions revoked: the session cap was reached"
                        );
                    }
                    return Ok(SessionCreated::Created { revoked });
                }
                Attempt::UserChanged => return Ok(SessionCreated::UserChanged),
                Attempt::AtCap(list) => full = Some(list),
                Attempt::Conflict => {}
            }
        }
        Err(StoreError::unavailable(
            "the user's sessions kept changing during a login",
        ))
    }

    async fn get_session(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        self.get_session_item(sid)
            .await?
            .as_ref()
            .map(Session::try_from)
            .transpose()
    }

    /// One strongly consistent `BatchGetItem` of both items.
    async fn get_session_and_user(
        &self,
        sid: &str,
        username: &str,
    ) -> Result<(Option<Session>, Option<User>), StoreError> {
        let (session_key, user_key) = (session_pk(sid), user_pk(username));
        let keys = vec![
            Item::from([("pk".to_owned(), session_key.clone())]),
            Item::from([("pk".to_owned(), user_key.clone())]),
        ];
        let (mut session, mut user) = (None, None);
        for found in self.batch_get(keys).await? {
            match found.get("pk") {
                Some(pk) if *pk == session_key => session = Some(Session::try_from(&found)?),
                Some(pk) if *pk == user_key => user = Some(User::try_from(&found)?),
                _ => {
                    return Err(StoreError::Corrupt(
                        "BatchGetItem: an item not asked for".into(),
                    ));
                }
            }
        }
        Ok((session, user))
    }

    /// One conditional `UpdateItem`, then one strongly consistent `GetItem` of the owner:
    /// a session created under a watermark that has since moved is revoked instead of
    /// answered. The idle expiry is written as the raw deadline `now + idle_ttl` (the
    /// expression cannot take a minimum with `expires_at`, which this call has not read);
    /// reading caps it at `expires_at`, and the condition checks both bounds, so the effective
    /// idle expiry is exactly `min(now + idle_ttl, expires_at)`.
    ///
    /// The request id is drawn once per call, before sending, so an SDK retry of a committed
    /// attempt resends the same id and recognises its own write in the old item returned by
    /// the failed condition. The successor hash cannot serve that purpose: it is derived from
    /// the presented token, so a replay of a spent token would compute the same one. When
    /// every attempt failed without an answer (a timeout after sending), one strongly
    /// consistent read settles whether the write landed, so that "unavailable" is answered
    /// only for a session that is untouched.
    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let request_id = tessera_token::random_id();
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
        match result {
            Ok(output) => {
                let item = output.attributes().ok_or_else(|| {
                    StoreError::Internal("rotation returned no session item".into())
                })?;
                let session = Session::try_from(item)?;
                self.confirm_with_owner(
                    &session,
                    RotateOutcome::Rotated(session.clone()),
                    rotation.now,
                )
                .await
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    self.judge_stored(failed.item(), rotation, &request_id, false)
                        .await
                }
                _ => {
                    let error = classify("UpdateItem", err);
                    if !error.is_retryable() {
                        return Err(error);
                    }
                    // The outcome is unknown: read what the table holds and judge that.
                    match self.get_session_item(&rotation.sid).await {
                        Ok(stored) => {
                            self.judge_stored(stored.as_ref(), rotation, &request_id, true)
                                .await
                        }
                        Err(_) => Err(error),
                    }
                }
            },
        }
    }

    async fn revoke_session(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        self.revoke(sid, now).await
    }

    /// The index (eventually consistent) finds the sessions; the owner's watermark, read
    /// strongly consistently, decides which of them are still accepted.
    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let mut sessions = self.query_live_sessions(user_id, now).await?;
        let Some(first) = sessions.first() else {
            return Ok(sessions);
        };
        let owner = self.owner_of(first).await?;
        sessions.retain(|s| s.is_accepted_by(owner.as_ref()));
        Ok(sessions)
    }
}

impl DynamoStore {
    /// The raw session item, strongly consistent.
    async fn get_session_item(&self, sid: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", session_pk(sid))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(output.item)
    }
}

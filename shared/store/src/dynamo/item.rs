//! Item mapping: records to DynamoDB items and back. A missing attribute or a value of the
//! wrong type is [`StoreError::Corrupt`] naming the attribute, never a default.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::{LoginAttempts, Session, StoreError, User};

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) const USER_PREFIX: &str = "USER#";
pub(crate) const SESSION_PREFIX: &str = "SESSION#";
pub(crate) const LOGIN_PREFIX: &str = "LOGIN#";

pub(crate) fn user_pk(username: &str) -> AttributeValue {
    AttributeValue::S(format!("{USER_PREFIX}{username}"))
}

pub(crate) fn session_pk(sid: &str) -> AttributeValue {
    AttributeValue::S(format!("{SESSION_PREFIX}{sid}"))
}

/// The failed-login counter of a normalised username (a user or not).
pub(crate) fn login_pk(username: &str) -> AttributeValue {
    AttributeValue::S(format!("{LOGIN_PREFIX}{username}"))
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Reads typed attributes from one item, naming the item kind and attribute in errors.
struct Reader<'a> {
    item: &'a Item,
    kind: &'static str,
}

impl<'a> Reader<'a> {
    fn missing(&self, name: &str) -> StoreError {
        StoreError::Corrupt(format!("{} item: missing attribute {name}", self.kind))
    }

    fn invalid(&self, name: &str, what: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "{} item: attribute {name} is not {what}",
            self.kind
        ))
    }

    fn opt_s(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.invalid(name, "a string")),
        }
    }

    fn s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)?.ok_or_else(|| self.missing(name))
    }

    fn opt_n<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(name, "a number in range")),
            Some(_) => Err(self.invalid(name, "a number")),
        }
    }

    fn n<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_n(name)?.ok_or_else(|| self.missing(name))
    }

    fn bool(&self, name: &str) -> Result<bool, StoreError> {
        match self.item.get(name) {
            None => Err(self.missing(name)),
            Some(AttributeValue::Bool(v)) => Ok(*v),
            Some(_) => Err(self.invalid(name, "a boolean")),
        }
    }
}

impl TryFrom<&Item> for User {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, Self::Error> {
        let r = Reader { item, kind: "user" };
        Ok(User {
            user_id: r.s("user_id")?,
            username: r.s("username")?,
            password_hash: r.s("password_hash")?,
            scope: r.s("scope")?,
            status: r.s("status")?.parse()?,
            // Absent on users that have never been revoked (and on those created before the
            // watermark existed): the watermark starts at 0.
            revoked_before: r.opt_n("revoked_before")?.unwrap_or(0),
            created_at: r.n("created_at")?,
            updated_at: r.n("updated_at")?,
        })
    }
}

impl TryFrom<&Item> for Session {
    type Error = StoreError;

    /// The stored `idle_expires_at` is the raw sliding deadline `now + idle_ttl` of the last
    /// rotation (DynamoDB cannot compute a minimum in an update expression); the record's idle
    /// expiry is that deadline capped at the absolute expiry.
    fn try_from(item: &Item) -> Result<Self, Self::Error> {
        let r = Reader {
            item,
            kind: "session",
        };
        let expires_at: i64 = r.n("expires_at")?;
        let idle_deadline: i64 = r.n("idle_expires_at")?;
        Ok(Session {
            sid: r.s("sid")?,
            user_id: r.s("user_id")?,
            username: r.s("username")?,
            scope: r.s("scope")?,
            client_id: r.s("client_id")?,
            current_hash: r.s("current_hash")?,
            previous_hash: r.opt_s("previous_hash")?,
            rotated_at: r.opt_n("rotated_at")?,
            generation: r.n("generation")?,
            created_at: r.n("created_at")?,
            last_used_at: r.n("last_used_at")?,
            expires_at,
            idle_expires_at: idle_deadline.min(expires_at),
            user_agent: r.opt_s("user_agent")?,
            source_ip: r.opt_s("source_ip")?,
            revoked: r.bool("revoked")?,
            watermark: r.opt_n("watermark")?.unwrap_or(0),
        })
    }
}

impl TryFrom<&Item> for LoginAttempts {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, Self::Error> {
        let r = Reader {
            item,
            kind: "login attempts",
        };
        Ok(LoginAttempts {
            attempts: r.n("attempts")?,
            last_at: r.n("last_at")?,
        })
    }
}

/// The id of a failed-login counter record: set when the record is created, kept by every
/// later charge, so a correction can tell the record it read from a newer one.
pub(crate) fn record_id(item: &Item) -> Option<&str> {
    match item.get("record") {
        Some(AttributeValue::S(id)) => Some(id),
        _ => None,
    }
}

/// The sids a user item lists: the sessions created under its current watermark, oldest
/// first (the session cap's bookkeeping). Absent is empty.
pub(crate) fn user_sessions(item: &Item) -> Result<Vec<String>, StoreError> {
    match item.get("sessions") {
        None | Some(AttributeValue::Null(true)) => Ok(Vec::new()),
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(sid) => Ok(sid.clone()),
                _ => Err(StoreError::Corrupt(
                    "user item: attribute sessions holds a non-string".into(),
                )),
            })
            .collect(),
        Some(_) => Err(StoreError::Corrupt(
            "user item: attribute sessions is not a list".into(),
        )),
    }
}

/// A list attribute of sids.
pub(crate) fn sid_list(sids: &[String]) -> AttributeValue {
    AttributeValue::L(sids.iter().map(|sid| s(sid.as_str())).collect())
}

/// The request id of the rotation that last wrote this session item, if any.
pub(crate) fn rotation_id(item: &Item) -> Option<&str> {
    match item.get("rotation_id") {
        Some(AttributeValue::S(id)) => Some(id),
        _ => None,
    }
}

pub(crate) fn user_item(user: &User) -> Item {
    Item::from([
        ("pk".to_owned(), user_pk(&user.username)),
        ("user_id".to_owned(), s(&user.user_id)),
        ("username".to_owned(), s(&user.username)),
        ("password_hash".to_owned(), s(&user.password_hash)),
        ("scope".to_owned(), s(&user.scope)),
        ("status".to_owned(), s(user.status.as_str())),
        ("revoked_before".to_owned(), n(user.revoked_before)),
        ("created_at".to_owned(), n(user.created_at)),
        ("updated_at".to_owned(), n(user.updated_at)),
    ])
}

pub(crate) fn session_item(session: &Session) -> Item {
    let idle = session.idle_expires_at.min(session.expires_at);
    let mut item = Item::from([
        ("pk".to_owned(), session_pk(&session.sid)),
        ("sid".to_owned(), s(&session.sid)),
        ("user_id".to_owned(), s(&session.user_id)),
        // Only session items carry gsi_user, which keeps the by_user index sparse.
        ("gsi_user".to_owned(), s(&session.user_id)),
        ("username".to_owned(), s(&session.username)),
        ("scope".to_owned(), s(&session.scope)),
        ("client_id".to_owned(), s(&session.client_id)),
        ("current_hash".to_owned(), s(&session.current_hash)),
        ("generation".to_owned(), n(session.generation)),
        ("created_at".to_owned(), n(session.created_at)),
        ("last_used_at".to_owned(), n(session.last_used_at)),
        ("expires_at".to_owned(), n(session.expires_at)),
        ("idle_expires_at".to_owned(), n(idle)),
        ("revoked".to_owned(), AttributeValue::Bool(session.revoked)),
        ("watermark".to_owned(), n(session.watermark)),
        // TTL follows the idle deadline: an idle session is dead and may be deleted.
        ("ttl".to_owned(), n(idle)),
    ]);
    let optional = [
        ("previous_hash", session.previous_hash.clone().map(s)),
        ("rotated_at", session.rotated_at.map(n)),
        ("user_agent", session.user_agent.clone().map(s)),
        ("source_ip", session.source_ip.clone().map(s)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            sid: "sid-1".into(),
            user_id: "user-1".into(),
            username: "ada".into(),
            scope: "".into(),
            client_id: "tessera".into(),
            current_hash: "h1".into(),
            previous_hash: None,
            rotated_at: None,
            generation: 0,
            created_at: 100,
            last_used_at: 100,
            expires_at: 1000,
            idle_expires_at: 500,
            user_agent: Some("ua".into()),
            source_ip: None,
            revoked: false,
            watermark: 7,
        }
    }

    #[test]
    fn session_round_trips_through_an_item() {
        let original = session();
        let back = Session::try_from(&session_item(&original)).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn a_missing_attribute_is_corrupt_and_named() {
        let mut item = session_item(&session());
        item.remove("current_hash");
        let err = Session::try_from(&item).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(msg) if msg.contains("current_hash")),
            "{err:?}"
        );
    }

    #[test]
    fn a_wrongly_typed_attribute_is_corrupt_and_named() {
        let mut item = user_item(&User {
            user_id: "u".into(),
            username: "ada".into(),
            password_hash: "$argon2id$...".into(),
            scope: "read".into(),
            status: crate::UserStatus::Active,
            revoked_before: 0,
            created_at: 1,
            updated_at: 1,
        });
        item.insert("revoked_before".into(), s("many"));
        let err = User::try_from(&item).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(msg) if msg.contains("revoked_before")),
            "{err:?}"
        );
    }

    #[test]
    fn the_idle_deadline_is_capped_at_the_absolute_expiry_on_read() {
        let mut item = session_item(&session());
        item.insert("idle_expires_at".into(), n(5000));
        let back = Session::try_from(&item).unwrap();
        assert_eq!(back.idle_expires_at, back.expires_at);
    }
}

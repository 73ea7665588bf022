//! The records the store keeps and the inputs and outcomes of a rotation.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// A user who can log in.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable, random id; what access tokens carry as `sub`. Never changes.
    pub user_id: String,
    /// The normalised username (the service normalises; the store compares bytes).
    pub username: String,
    /// Argon2id hash in PHC string format.
    pub password_hash: String,
    /// Granted scopes, space-separated (may be empty).
    pub scope: String,
    /// Whether the user may log in.
    pub status: UserStatus,
    /// Consecutive failed logins since the last success.
    pub failed_attempts: u32,
    /// Unix seconds until which logins are refused, if locked.
    pub locked_until: Option<i64>,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last change by an administrator (password, status).
    pub updated_at: i64,
}

// The password hash is not a secret in the strict sense, but it is an offline-guessing target
// and has no business in logs.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("scope", &self.scope)
            .field("status", &self.status)
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// Whether a user may log in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// May log in.
    #[default]
    Active,
    /// May not log in; all sessions were revoked when the user was disabled.
    Disabled,
}

impl UserStatus {
    /// The stored form: `"active"` or `"disabled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            other => Err(StoreError::Corrupt(format!(
                "unknown user status {other:?}"
            ))),
        }
    }
}

/// When repeated login failures lock an account, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account (default 5).
    pub threshold: u32,
    /// Lock duration at the threshold, in seconds (default 30); doubles with each further failure.
    pub base_delay_secs: i64,
    /// Upper bound of the lock duration, in seconds (default 900).
    pub max_delay_secs: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            base_delay_secs: 30,
            max_delay_secs: 900,
        }
    }
}

impl LockoutPolicy {
    /// The lock duration after `failures` consecutive failures: none below the threshold, then
    /// `base * 2^(failures - threshold)`, capped at `max_delay_secs`.
    pub fn delay_secs(&self, failures: u32) -> Option<i64> {
        if self.threshold == 0 || failures < self.threshold {
            return None;
        }
        let doublings = failures - self.threshold;
        let delay = 1i64
            .checked_shl(doublings)
            .filter(|factor| *factor > 0)
            .and_then(|factor| self.base_delay_secs.checked_mul(factor))
            .unwrap_or(self.max_delay_secs);
        Some(delay.min(self.max_delay_secs))
    }
}

/// A refresh session: one login on one device, followed through its chain of refresh tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Session id (random); refresh and access tokens carry it as `sid`.
    pub sid: String,
    /// The owner's stable user id.
    pub user_id: String,
    /// The owner's username at login.
    pub username: String,
    /// Scopes granted at login, space-separated.
    pub scope: String,
    /// The OAuth client the session was issued to.
    pub client_id: String,
    /// Hash of the `jti` of the one refresh token that may be used next.
    pub current_hash: String,
    /// Hash of the `jti` of the token spent by the last rotation.
    pub previous_hash: Option<String>,
    /// Unix seconds of the last rotation.
    pub rotated_at: Option<i64>,
    /// Number of rotations so far (0 for a fresh login).
    pub generation: u64,
    /// Unix seconds of the login.
    pub created_at: i64,
    /// Unix seconds of the last login or rotation.
    pub last_used_at: i64,
    /// Absolute expiry, unix seconds: no rotation moves it.
    pub expires_at: i64,
    /// Idle expiry, unix seconds: each rotation moves it to `now + idle_ttl`, never past
    /// `expires_at`.
    pub idle_expires_at: i64,
    /// The client's user agent at login.
    pub user_agent: Option<String>,
    /// The client's IP address at login.
    pub source_ip: Option<String>,
    /// Revoked by logout, by an administrator or by reuse detection.
    pub revoked: bool,
}

impl Session {
    /// Whether a refresh token of this session may still be used at `now`: not revoked and
    /// before both the absolute and the idle expiry.
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && now < self.expires_at && now < self.idle_expires_at
    }
}

/// One refresh: trade the presented token for its successor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The session named by the presented token.
    pub sid: String,
    /// Hash of the presented token's `jti`.
    pub presented_hash: String,
    /// Hash of the successor token's `jti`.
    pub next_hash: String,
    /// Unix seconds.
    pub now: i64,
    /// Idle lifetime in seconds: the new idle expiry is `min(now + idle_ttl, expires_at)`.
    pub idle_ttl: i64,
    /// How long after a rotation the immediate predecessor is answered with
    /// [`RotateOutcome::GraceReplay`] instead of being treated as reuse; 0 turns it off.
    pub grace_secs: i64,
}

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The session as it is now (`current_hash` = the successor). Also the answer when this
    /// very call committed on an earlier attempt whose reply was lost (recognised by a per-call
    /// request id written with the update, not by the hash alone).
    Rotated(Session),
    /// The presented token is the immediate predecessor of the current one and the last
    /// rotation is within the grace window: the session is unchanged and the caller re-issues
    /// the current successor.
    GraceReplay(Session),
    /// A spent token was presented: the whole session has now been revoked.
    Reused,
    /// The session was revoked before this call.
    Revoked,
    /// The session is past its absolute or idle expiry (whether or not TTL has deleted it).
    Expired,
    /// No such session.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_debug_redacts_the_password_hash() {
        let user = User {
            user_id: "u1".into(),
            username: "ada".into(),
            password_hash: "$argon2id$v=19$secret-material".into(),
            scope: String::new(),
            status: UserStatus::Active,
            failed_attempts: 0,
            locked_until: None,
            created_at: 0,
            updated_at: 0,
        };
        let printed = format!("{user:?}");
        assert!(printed.contains("[redacted]"), "{printed}");
        assert!(!printed.contains("argon2id"), "{printed}");
    }

    #[test]
    fn lockout_delay_doubles_from_the_threshold_and_is_capped() {
        let policy = LockoutPolicy::default();
        let delays: Vec<_> = (4..=11).map(|f| policy.delay_secs(f)).collect();
        assert_eq!(
            delays,
            [
                None,
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(900),
                Some(900)
            ]
        );
        assert_eq!(policy.delay_secs(u32::MAX), Some(900), "no overflow");
    }

    #[test]
    fn user_status_round_trips_its_stored_form() {
        for status in [UserStatus::Active, UserStatus::Disabled] {
            assert_eq!(status.as_str().parse::<UserStatus>().unwrap(), status);
        }
        assert!(matches!(
            "locked".parse::<UserStatus>(),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_session_is_live_only_before_both_expiries_and_unrevoked() {
        let session = Session {
            sid: "s".into(),
            user_id: "u".into(),
            username: "ada".into(),
            scope: String::new(),
            client_id: "tessera".into(),
            current_hash: "h".into(),
            previous_hash: None,
            rotated_at: None,
            generation: 0,
            created_at: 0,
            last_used_at: 0,
            expires_at: 100,
            idle_expires_at: 50,
            user_agent: None,
            source_ip: None,
            revoked: false,
        };
        assert!(session.is_live(49));
        assert!(!session.is_live(50));
        let revoked = Session {
            revoked: true,
            ..session
        };
        assert!(!revoked.is_live(0));
    }
}

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
    /// The revocation watermark, unix seconds (0: never revoked). Revoking all the user's
    /// sessions (disable, a new password, log out everywhere) moves it to the time of the
    /// revocation, always strictly forward; a session created under an earlier watermark
    /// is dead ([`Session::is_accepted_by`]).
    pub revoked_before: i64,
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
            .field("revoked_before", &self.revoked_before)
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

/// When repeated login failures lock a username, for how long, and when they are forgotten.
///
/// The counter belongs to the normalised username, whether or not such a user exists, so an
/// unknown name answers exactly as a real one does. Every attempt is charged before its
/// password is checked: the attempt that reaches the threshold locks the username at once, so
/// however many guesses arrive together, at most `threshold` of them are ever checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failed attempts that lock the username (default 5).
    pub threshold: u32,
    /// Lock duration at the threshold, in seconds (default 30); doubles with each further
    /// attempt, which is admitted only once the previous lock has ended.
    pub base_delay_secs: i64,
    /// Upper bound of the lock duration, in seconds (default 900).
    pub max_delay_secs: i64,
    /// After this many seconds without a counted attempt the counter is forgotten (default
    /// 900), so one failure now and then can never keep an owner locked out for good.
    pub window_secs: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            base_delay_secs: 30,
            max_delay_secs: 900,
            window_secs: 900,
        }
    }
}

/// The most distinct lock durations a policy may have (`base * 2^k` below the cap, plus the
/// cap): the DynamoDB adapter writes one condition per duration.
pub const MAX_LOCKOUT_STEPS: u32 = 24;

impl LockoutPolicy {
    /// The lock duration after `failures` counted attempts: none below the threshold, then
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

    /// Checks the policy's own consistency; the stores refuse an invalid one.
    pub fn validate(&self) -> Result<(), StoreError> {
        let steps = self.steps().len();
        if self.threshold == 0
            || self.base_delay_secs < 1
            || self.max_delay_secs < self.base_delay_secs
            || self.window_secs < 1
            || steps > MAX_LOCKOUT_STEPS as usize
        {
            return Err(StoreError::Internal(format!(
                "invalid lockout policy {self:?}"
            )));
        }
        Ok(())
    }

    /// The distinct lock durations in order: `(first attempt count with it, delay)`. The last
    /// one applies to every later count as well.
    pub(crate) fn steps(&self) -> Vec<(u32, i64)> {
        let mut steps = Vec::new();
        let mut count = self.threshold.max(1);
        while let Some(delay) = self.delay_secs(count) {
            steps.push((count, delay));
            if delay >= self.max_delay_secs || steps.len() > MAX_LOCKOUT_STEPS as usize {
                break;
            }
            count = count.saturating_add(1);
        }
        steps
    }

    /// Whether the counter as stored has been quiet for the whole window at `now`.
    pub fn is_forgotten(&self, counter: &LoginAttempts, now: i64) -> bool {
        now.saturating_sub(counter.last_at) >= self.window_secs
    }

    /// How many seconds the counter as stored still locks the username at `now`, if it does.
    pub fn locked_for(&self, counter: &LoginAttempts, now: i64) -> Option<u64> {
        if self.is_forgotten(counter, now) {
            return None;
        }
        let delay = self.delay_secs(counter.attempts)?;
        let until = counter.last_at.saturating_add(delay);
        // A request that read the clock just before the attempt that locked (a second boundary
        // crossed between the two) would otherwise be told more than the whole delay.
        (until > now).then(|| u64::try_from((until - now).min(delay)).unwrap_or(1).max(1))
    }

    /// Judges one more attempt against the counter as stored: admitted with the new count, or
    /// locked. A forgotten counter starts again at one.
    // Only SQLite judges in code; DynamoDB states the same rule as a condition expression.
    #[cfg(feature = "sqlite")]
    pub(crate) fn charge(&self, counter: Option<&LoginAttempts>, now: i64) -> Charge {
        match counter {
            Some(c) if !self.is_forgotten(c, now) => match self.locked_for(c, now) {
                Some(retry_after_secs) => Charge::Locked { retry_after_secs },
                None => Charge::Admit {
                    attempts: c.attempts.saturating_add(1),
                },
            },
            _ => Charge::Admit { attempts: 1 },
        }
    }
}

/// The verdict of [`LockoutPolicy::charge`].
#[cfg(feature = "sqlite")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charge {
    /// Count the attempt; the counter becomes `attempts`.
    Admit { attempts: u32 },
    /// Refuse it without counting.
    Locked { retry_after_secs: u64 },
}

/// The failed-login counter of one normalised username, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginAttempts {
    /// Attempts counted since the counter was last reset or forgotten.
    pub attempts: u32,
    /// Unix seconds of the last counted attempt.
    pub last_at: i64,
}

/// The answer to charging a login attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The attempt is counted and may check its password. A failure is then settled with the
    /// ticket ([`crate::UserStore::settle_failed_login`]); a success resets the counter with
    /// the new session ([`crate::SessionStore::create_session`]).
    Admitted(AttemptTicket),
    /// The username is locked: refuse without checking the password.
    Locked {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
}

/// A counted login attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptTicket {
    /// The normalised username the attempt was charged to.
    pub username: String,
    /// The counter after this attempt.
    pub attempts: u32,
    /// What a store that cannot reset a forgotten counter in the same write must take back
    /// when the attempt fails (DynamoDB: the forgotten count it added to).
    pub(crate) carry: Option<Carry>,
}

/// A forgotten count an attempt was added to, and the counter record it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Carry {
    pub(crate) attempts: u32,
    pub(crate) record: String,
}

/// A session to create at login, and the user state its creation is conditional on.
#[derive(Clone, Copy, Debug)]
pub struct NewSession<'a> {
    /// The session; its `watermark` is `user.revoked_before` and its `user_id` `user.user_id`.
    pub session: &'a Session,
    /// The owner as the login read it, whose password hash it checked.
    pub user: &'a User,
    /// The most live sessions the user may have (at least 1); a login past it revokes the
    /// oldest.
    pub max_sessions: u32,
}

/// What creating a session did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCreated {
    /// Created; the username's failed-login counter is reset. `revoked` holds the sids of
    /// the oldest sessions revoked to stay within the cap, oldest first.
    Created {
        /// Sessions revoked for the cap.
        revoked: Vec<String>,
    },
    /// Not created: since the login read the user, the user changed (a revocation moved
    /// the watermark, a new password, disabled, deleted). Nothing was written.
    UserChanged,
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
    /// The owner's revocation watermark ([`User::revoked_before`]) when the session was
    /// created. Creation is conditional on it still being current, so a session is never
    /// created under a watermark that a revocation has already moved past.
    pub watermark: i64,
}

impl Session {
    /// Whether a refresh token of this session may still be used at `now` as far as the
    /// session's own record goes: not revoked and before both the absolute and the idle
    /// expiry. The owner must also accept it ([`Session::is_accepted_by`]).
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && now < self.expires_at && now < self.idle_expires_at
    }

    /// Whether `owner`, the session's user as stored now, still accepts the session: the
    /// user exists, is active, and has not revoked all sessions since this one was created.
    pub fn is_accepted_by(&self, owner: Option<&User>) -> bool {
        owner.is_some_and(|u| {
            u.user_id == self.user_id
                && u.status == UserStatus::Active
                && u.revoked_before <= self.watermark
        })
    }
}

/// The watermark a revocation at `now` moves to: `now`, but always strictly past the
/// previous one, so that every revocation changes it.
#[cfg(any(feature = "dynamodb", feature = "sqlite"))]
pub(crate) fn next_watermark(previous: i64, now: i64) -> i64 {
    now.max(previous.saturating_add(1))
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
            revoked_before: 0,
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
        assert_eq!(
            policy.steps(),
            [(5, 30), (6, 60), (7, 120), (8, 240), (9, 480), (10, 900)]
        );
        assert!(policy.validate().is_ok());
        let too_many_steps = LockoutPolicy {
            base_delay_secs: 1,
            max_delay_secs: i64::MAX,
            ..policy
        };
        assert!(too_many_steps.validate().is_err());
    }

    #[test]
    fn an_attempt_is_admitted_below_the_threshold_and_after_each_lock() {
        let policy = LockoutPolicy::default();
        let at = |attempts, last_at| LoginAttempts { attempts, last_at };
        assert_eq!(policy.charge(None, 100), Charge::Admit { attempts: 1 });
        assert_eq!(
            policy.charge(Some(&at(4, 100)), 100),
            Charge::Admit { attempts: 5 }
        );
        assert_eq!(
            policy.charge(Some(&at(5, 100)), 110),
            Charge::Locked {
                retry_after_secs: 20
            }
        );
        assert_eq!(
            policy.charge(Some(&at(5, 100)), 130),
            Charge::Admit { attempts: 6 }
        );
        assert_eq!(
            policy.charge(Some(&at(6, 100)), 159),
            Charge::Locked {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn a_clock_read_before_the_locking_attempt_is_never_told_more_than_the_delay() {
        let policy = LockoutPolicy::default();
        let locked = LoginAttempts {
            attempts: 5,
            last_at: 1001,
        };
        assert_eq!(policy.locked_for(&locked, 1000), Some(30));
        assert_eq!(policy.locked_for(&locked, 1001), Some(30));
        assert_eq!(policy.locked_for(&locked, 1002), Some(29));
    }

    #[test]
    fn a_quiet_window_forgets_the_counter() {
        let policy = LockoutPolicy::default();
        let locked = LoginAttempts {
            attempts: 20,
            last_at: 1000,
        };
        assert_eq!(policy.locked_for(&locked, 1899), Some(1));
        assert!(policy.is_forgotten(&locked, 1900));
        assert_eq!(policy.locked_for(&locked, 1900), None);
        assert_eq!(
            policy.charge(Some(&locked), 1900),
            Charge::Admit { attempts: 1 }
        );
    }

    #[test]
    fn every_revocation_moves_the_watermark_strictly_forward() {
        assert_eq!(next_watermark(0, 100), 100);
        assert_eq!(next_watermark(100, 100), 101);
        assert_eq!(next_watermark(105, 100), 106);
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
            watermark: 0,
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

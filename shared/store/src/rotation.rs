//! The rotation rules, shared by both adapters so they cannot drift apart.

use crate::{RotateOutcome, Rotation, Session};

/// What to do with a rotation, judged from the session as stored.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "a short-lived value, matched right away; boxing would only add an allocation"
)]
pub(crate) enum Verdict {
    /// The presented token is current and the session live: swap to the successor.
    Apply,
    /// Answer without changing anything.
    Answer(RotateOutcome),
    /// A spent token: revoke the session, then answer [`RotateOutcome::Reused`].
    RevokeAsReused,
}

/// Judges a rotation against the stored session.
///
/// `committed_by_us` is true when the stored record carries this very call's request id:
/// an earlier attempt of the same call committed and only its reply was lost. It is checked
/// after revocation and expiry, so a session revoked in between is never reported as rotated.
pub(crate) fn judge(
    session: Option<&Session>,
    rotation: &Rotation,
    committed_by_us: bool,
) -> Verdict {
    let Some(session) = session else {
        return Verdict::Answer(RotateOutcome::NotFound);
    };
    if session.revoked {
        return Verdict::Answer(RotateOutcome::Revoked);
    }
    if !session.is_live(rotation.now) {
        return Verdict::Answer(RotateOutcome::Expired);
    }
    if committed_by_us {
        return Verdict::Answer(RotateOutcome::Rotated(session.clone()));
    }
    if session.current_hash == rotation.presented_hash {
        return Verdict::Apply;
    }
    if within_grace(session, rotation) {
        return Verdict::Answer(RotateOutcome::GraceReplay(session.clone()));
    }
    Verdict::RevokeAsReused
}

/// The presented token is the one the last rotation spent, and that rotation is recent.
fn within_grace(session: &Session, rotation: &Rotation) -> bool {
    rotation.grace_secs > 0
        && session.previous_hash.as_deref() == Some(rotation.presented_hash.as_str())
        && session
            .rotated_at
            .is_some_and(|at| rotation.now.saturating_sub(at) <= rotation.grace_secs)
}

/// The new idle expiry: slides with use, never past the absolute expiry.
// DynamoDB cannot take this minimum in an update expression: it writes the raw deadline and
// caps it when reading, so only SQLite computes it here.
#[cfg(feature = "sqlite")]
pub(crate) fn next_idle_expiry(rotation: &Rotation, expires_at: i64) -> i64 {
    rotation
        .now
        .saturating_add(rotation.idle_ttl)
        .min(expires_at)
}

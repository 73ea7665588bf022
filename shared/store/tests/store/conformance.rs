//! One suite, both adapters: each case is a generic function over `S: Store`, and the macro at
//! the bottom instantiates every case once for SQLite and once for DynamoDB.

use std::collections::BTreeSet;

use tessera_store::{
    LockoutPolicy, LoginAttempt, LoginAttempts, RotateOutcome, Session, SessionCreated, Store,
    StoreError, UserStatus,
};

use crate::helpers::{CAP, IDLE_TTL, T0, create, open, rotation, seed, session, stored_user, user};

// ---- users ----

/// Given a new user, it reads back exactly; a second user with the same username is refused.
pub async fn users_create_and_get<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();

    assert_eq!(
        store.get_user_by_username("ada").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(store.get_user_by_username("nobody").await.unwrap(), None);

    let impostor = user("ada");
    let err = store.create_user(&impostor).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    assert_eq!(
        store.get_user_by_username("ada").await.unwrap(),
        Some(ada),
        "the first user is kept"
    );
}

/// Given users created in any order, the list holds all of them, ordered by username.
pub async fn users_list_all_by_username<S: Store>(store: &S) {
    let mut created = vec![user("carol"), user("alice"), user("bob")];
    for u in &created {
        store.create_user(u).await.unwrap();
    }
    created.sort_by(|a, b| a.username.cmp(&b.username));

    assert_eq!(store.list_users().await.unwrap(), created);
}

// ---- login attempts ----

/// A policy small enough to walk through: 3 attempts, then 30 s doubling to at most 100 s,
/// forgotten after 1000 quiet seconds.
fn small_policy() -> LockoutPolicy {
    LockoutPolicy {
        threshold: 3,
        base_delay_secs: 30,
        max_delay_secs: 100,
        window_secs: 1000,
    }
}

async fn charge<S: Store>(store: &S, username: &str, now: i64) -> LoginAttempt {
    store
        .charge_login_attempt(username, now, &small_policy())
        .await
        .unwrap()
}

fn admitted(attempt: &LoginAttempt) -> Option<u32> {
    match attempt {
        LoginAttempt::Admitted(ticket) => Some(ticket.attempts),
        LoginAttempt::Locked { .. } => None,
    }
}

/// The threshold's attempts are admitted and the last of them locks at once; each later
/// attempt is admitted only once the lock has ended, and locks for twice as long, capped.
/// A refused attempt changes nothing.
async fn lockout_walk<S: Store>(store: &S, username: &str) {
    let locked = |retry_after_secs| LoginAttempt::Locked { retry_after_secs };
    for expected in 1..=3 {
        assert_eq!(admitted(&charge(store, username, T0).await), Some(expected));
    }
    assert_eq!(charge(store, username, T0).await, locked(30));
    assert_eq!(charge(store, username, T0 + 29).await, locked(1));
    assert_eq!(admitted(&charge(store, username, T0 + 30).await), Some(4));
    assert_eq!(charge(store, username, T0 + 31).await, locked(59));
    assert_eq!(admitted(&charge(store, username, T0 + 90).await), Some(5));
    assert_eq!(
        charge(store, username, T0 + 90).await,
        locked(100),
        "capped"
    );
    assert_eq!(
        store.get_login_attempts(username).await.unwrap(),
        Some(LoginAttempts {
            attempts: 5,
            last_at: T0 + 90
        }),
        "refused attempts are not counted"
    );
}

/// A real user's attempts lock, grow and cap as the policy says.
pub async fn lockout_admits_the_threshold_then_locks_growing<S: Store>(store: &S) {
    store.create_user(&user("eve")).await.unwrap();
    lockout_walk(store, "eve").await;
}

/// An unknown username answers exactly as a real one: the same admissions, the same locks
/// and Retry-After, and nobody is created.
pub async fn lockout_treats_unknown_usernames_like_real_ones<S: Store>(store: &S) {
    lockout_walk(store, "ghost").await;
    assert_eq!(store.get_user_by_username("ghost").await.unwrap(), None);
}

/// After a quiet window the counter is forgotten: the next attempt counts as the first, and
/// once settled the stored counter says so too.
pub async fn lockout_forgets_after_a_quiet_window<S: Store>(store: &S) {
    for _ in 0..3 {
        charge(store, "eve", T0).await;
    }
    assert_eq!(
        charge(store, "eve", T0 + 10).await,
        LoginAttempt::Locked {
            retry_after_secs: 20
        }
    );
    let LoginAttempt::Admitted(ticket) = charge(store, "eve", T0 + 1000).await else {
        panic!("a forgotten counter admits");
    };
    assert_eq!(ticket.attempts, 1);
    store.settle_failed_login(&ticket).await.unwrap();
    assert_eq!(
        store.get_login_attempts("eve").await.unwrap(),
        Some(LoginAttempts {
            attempts: 1,
            last_at: T0 + 1000
        })
    );
    assert_eq!(admitted(&charge(store, "eve", T0 + 1001).await), Some(2));
}

/// A new login session resets the counter; so does a new password.
pub async fn a_login_or_a_new_password_resets_the_counter<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    for _ in 0..2 {
        charge(store, "ada", T0).await;
    }
    create(store, &ada, &session(&ada, T0 + 1)).await;
    assert_eq!(store.get_login_attempts("ada").await.unwrap(), None);

    for _ in 0..3 {
        charge(store, "ada", T0 + 2).await;
    }
    store
        .set_password("ada", "$argon2id$new", T0 + 3)
        .await
        .unwrap();
    assert_eq!(store.get_login_attempts("ada").await.unwrap(), None);
    assert_eq!(admitted(&charge(store, "ada", T0 + 3).await), Some(1));
}

/// 64 attempts at once on a fresh counter: exactly the threshold is admitted, the rest are
/// locked out before any password check.
pub async fn concurrent_attempts_admit_at_most_the_threshold<S: Store + Clone + 'static>(
    store: &S,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let store = store.clone();
        tasks.spawn(async move { charge(&store, "eve", T0).await });
    }
    let outcomes = tasks.join_all().await;
    let admitted = outcomes.iter().filter_map(admitted).count();
    assert_eq!(admitted, 3, "{outcomes:?}");
    assert_eq!(
        store
            .get_login_attempts("eve")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
}

/// 64 attempts at once on a forgotten counter: never more than the threshold admitted, and
/// once every failure is settled the counter holds exactly the admitted attempts.
pub async fn concurrent_attempts_on_a_forgotten_counter_count_exactly<
    S: Store + Clone + 'static,
>(
    store: &S,
) {
    for now in [T0, T0 + 30, T0 + 90] {
        charge(store, "eve", now).await;
    }
    for _ in 0..4 {
        charge(store, "eve", T0 + 90).await;
    }
    let later = T0 + 90 + 1000;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let store = store.clone();
        tasks.spawn(async move {
            let attempt = charge(&store, "eve", later).await;
            if let LoginAttempt::Admitted(ticket) = &attempt {
                store.settle_failed_login(ticket).await.unwrap();
            }
            attempt
        });
    }
    let outcomes = tasks.join_all().await;
    let admitted = outcomes.iter().filter_map(admitted).count();
    assert!((1..=3).contains(&admitted), "{outcomes:?}");
    let stored = store.get_login_attempts("eve").await.unwrap().unwrap();
    assert_eq!(usize::try_from(stored.attempts).unwrap(), admitted);
}

// ---- revocation watermark ----

/// A new password replaces the hash and moves the watermark past every session of the user
/// (and no one else's): their refresh tokens are dead, and a login read before it creates
/// nothing.
pub async fn set_password_revokes_all_the_users_sessions<S: Store>(store: &S) {
    let (ada, first) = seed(store, "ada").await;
    let second = session(&ada, T0 + 1);
    create(store, &ada, &second).await;
    let (_bob, bobs) = seed(store, "bob").await;

    store
        .set_password("ada", "$argon2id$new", T0 + 100)
        .await
        .unwrap();

    let stored = stored_user(store, "ada").await;
    assert_eq!(stored.password_hash, "$argon2id$new");
    assert_eq!(stored.updated_at, T0 + 100);
    assert_eq!(stored.revoked_before, T0 + 100);
    for s in [&first, &second] {
        let r = rotation(&s.sid, &s.current_hash, "next", T0 + 101, 0);
        assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Revoked);
        assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
    }
    assert!(
        store
            .list_user_sessions(&ada.user_id, T0 + 101)
            .await
            .unwrap()
            .is_empty()
    );
    let late = session(&ada, T0 + 101);
    assert_eq!(
        open(store, &ada, &late, CAP).await,
        SessionCreated::UserChanged
    );
    assert_eq!(store.get_session(&late.sid).await.unwrap(), None);

    let r = rotation(&bobs.sid, &bobs.current_hash, "next", T0 + 101, 0);
    assert!(matches!(
        store.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));

    let err = store.set_password("ghost", "x", T0).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// Disabling a user revokes all their sessions; enabling again does not bring them back,
/// and a login of the enabled user (reading the new watermark) works again.
pub async fn disabling_a_user_revokes_all_their_sessions<S: Store>(store: &S) {
    let (ada, s) = seed(store, "ada").await;
    let (_bob, bobs) = seed(store, "bob").await;

    store
        .set_status("ada", UserStatus::Disabled, T0 + 5)
        .await
        .unwrap();
    let stored = stored_user(store, "ada").await;
    assert_eq!(
        (stored.status, stored.updated_at, stored.revoked_before),
        (UserStatus::Disabled, T0 + 5, T0 + 5)
    );
    let disabled = session(&stored, T0 + 5);
    assert_eq!(
        open(store, &stored, &disabled, CAP).await,
        SessionCreated::UserChanged
    );

    store
        .set_status("ada", UserStatus::Active, T0 + 6)
        .await
        .unwrap();
    let enabled = stored_user(store, "ada").await;
    assert_eq!(
        (enabled.status, enabled.revoked_before),
        (UserStatus::Active, T0 + 5)
    );
    let r = rotation(&s.sid, &s.current_hash, "next", T0 + 7, 0);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Revoked);
    let again = session(&enabled, T0 + 7);
    create(store, &enabled, &again).await;
    assert_eq!(
        store
            .list_user_sessions(&ada.user_id, T0 + 8)
            .await
            .unwrap(),
        vec![again]
    );
    let r = rotation(&bobs.sid, &bobs.current_hash, "next", T0 + 8, 0);
    assert!(matches!(
        store.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));

    let err = store
        .set_status("ghost", UserStatus::Disabled, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// Revoking all of a user's sessions is one move of the watermark: every session created
/// before is dead (a refresh and a grace replay are refused and revoke it), the list is
/// empty, other users are untouched; every revocation moves it strictly forward, even twice
/// in one second.
pub async fn revoke_all_moves_the_watermark<S: Store>(store: &S) {
    let (ada, first) = seed(store, "ada").await;
    let second = session(&ada, T0 + 1);
    create(store, &ada, &second).await;
    let r = rotation(&second.sid, &second.current_hash, "h1", T0 + 2, 10);
    assert!(matches!(
        store.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    let (_bob, bobs) = seed(store, "bob").await;

    store.revoke_all_sessions("ada", T0 + 3).await.unwrap();
    assert_eq!(stored_user(store, "ada").await.revoked_before, T0 + 3);
    store.revoke_all_sessions("ada", T0 + 3).await.unwrap();
    assert_eq!(stored_user(store, "ada").await.revoked_before, T0 + 4);

    let replay = rotation(&second.sid, &second.current_hash, "h1", T0 + 5, 10);
    assert_eq!(store.rotate(&replay).await.unwrap(), RotateOutcome::Revoked);
    let current = rotation(&first.sid, &first.current_hash, "h2", T0 + 5, 10);
    assert_eq!(
        store.rotate(&current).await.unwrap(),
        RotateOutcome::Revoked
    );
    assert!(
        store
            .list_user_sessions(&ada.user_id, T0 + 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_user_sessions(&bobs.user_id, T0 + 5)
            .await
            .unwrap(),
        vec![bobs]
    );

    let err = store.revoke_all_sessions("ghost", T0).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// A login that read the user before a revocation creates nothing after it, whatever the
/// revocation was; nothing is written (no session, the failed-login counter kept).
pub async fn a_login_read_before_a_revocation_creates_nothing<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    charge(store, "ada", T0).await;
    for revoke in 0..3 {
        let read = stored_user(store, "ada").await;
        match revoke {
            0 => store.revoke_all_sessions("ada", T0 + 10).await.unwrap(),
            1 => store
                .set_password("ada", "$argon2id$new", T0 + 20)
                .await
                .unwrap(),
            _ => store
                .set_status("ada", UserStatus::Disabled, T0 + 30)
                .await
                .unwrap(),
        }
        let racing = session(&read, T0 + 40);
        assert_eq!(
            open(store, &read, &racing, CAP).await,
            SessionCreated::UserChanged
        );
        assert_eq!(store.get_session(&racing.sid).await.unwrap(), None);
    }
    assert!(
        store
            .list_user_sessions(&ada.user_id, T0 + 40)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .get_login_attempts("ada")
            .await
            .unwrap()
            .map(|c| c.attempts),
        None,
        "the new password reset the counter; no failed login creation touched it"
    );
}

/// Logins loop against one user while an administrator sets a new password (the loop holds
/// the old one) and then disables the user: once each revocation returns, no session of that
/// user can refresh, however the loop's logins interleaved with it.
pub async fn a_login_loop_racing_revocations_leaves_nothing_alive<S: Store + Clone + 'static>(
    store: &S,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let old_hash = ada.password_hash.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (store, stop, old_hash) = (store.clone(), Arc::clone(&stop), old_hash.clone());
        loops.spawn(async move {
            let mut created = Vec::new();
            let mut now = T0;
            while !stop.load(Ordering::Relaxed) {
                now += 1;
                // The attacker's password check: it passes only against the old hash.
                let Some(read) = store.get_user_by_username("ada").await.unwrap() else {
                    continue;
                };
                if read.password_hash != old_hash {
                    continue;
                }
                let s = session(&read, now);
                if let SessionCreated::Created { .. } = open(&store, &read, &s, 1000).await {
                    created.push(s);
                }
            }
            created
        });
    }
    // Let the loops create some sessions first.
    while store
        .list_user_sessions(&ada.user_id, T0 + 1_000_000)
        .await
        .unwrap()
        .len()
        < 4
    {
        tokio::task::yield_now().await;
    }
    store
        .set_password("ada", "$argon2id$changed", T0 + 500)
        .await
        .unwrap();
    let after_password = stored_user(store, "ada").await;
    store
        .set_status("ada", UserStatus::Disabled, T0 + 600)
        .await
        .unwrap();
    // Keep racing a little after the revocations returned.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    let created: Vec<Session> = loops.join_all().await.into_iter().flatten().collect();
    assert!(created.len() >= 4, "the loops created sessions");
    for s in &created {
        assert!(s.watermark < after_password.revoked_before);
        let r = rotation(&s.sid, &s.current_hash, "next", T0 + 700, 10);
        let outcome = store.rotate(&r).await.unwrap();
        assert!(
            matches!(outcome, RotateOutcome::Revoked | RotateOutcome::Expired),
            "session created at {} refreshed after the revocations: {outcome:?}",
            s.created_at
        );
    }
    assert!(
        store
            .list_user_sessions(&ada.user_id, T0 + 700)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- session cap ----

/// Past the cap, a login revokes the oldest live session in the same write; sessions that
/// are already dead do not count, so nothing live is revoked while there is room.
pub async fn the_session_cap_revokes_the_oldest_live_session<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let sessions: Vec<Session> = (0..3).map(|i| session(&ada, T0 + i)).collect();
    for s in &sessions {
        assert_eq!(
            open(store, &ada, s, 3).await,
            SessionCreated::Created { revoked: vec![] }
        );
    }
    let fourth = session(&ada, T0 + 10);
    assert_eq!(
        open(store, &ada, &fourth, 3).await,
        SessionCreated::Created {
            revoked: vec![sessions[0].sid.clone()]
        }
    );
    let r = rotation(&sessions[0].sid, &sessions[0].current_hash, "n", T0 + 11, 0);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Revoked);

    // Log one out: the next login finds room and revokes nothing.
    store
        .revoke_session(&sessions[1].sid, T0 + 12)
        .await
        .unwrap();
    let fifth = session(&ada, T0 + 13);
    assert_eq!(
        open(store, &ada, &fifth, 3).await,
        SessionCreated::Created { revoked: vec![] }
    );
    let listed: Vec<String> = store
        .list_user_sessions(&ada.user_id, T0 + 14)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert_eq!(
        listed,
        [
            fifth.sid.clone(),
            fourth.sid.clone(),
            sessions[2].sid.clone()
        ]
    );
}

/// Logins at once past the cap: every one is created, and exactly the cap stays live.
pub async fn concurrent_logins_keep_the_cap<S: Store + Clone + 'static>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (store, ada) = (store.clone(), ada.clone());
        tasks.spawn(async move { open(&store, &ada, &session(&ada, T0 + i), 5).await });
    }
    let outcomes = tasks.join_all().await;
    let revoked: usize = outcomes
        .iter()
        .map(|o| match o {
            SessionCreated::Created { revoked } => revoked.len(),
            SessionCreated::UserChanged => panic!("the user did not change: {outcomes:?}"),
        })
        .sum();
    assert_eq!(revoked, 3, "{outcomes:?}");
    assert_eq!(
        store
            .list_user_sessions(&ada.user_id, T0 + 20)
            .await
            .unwrap()
            .len(),
        5
    );
}

// ---- sessions ----

/// A created session reads back exactly; an unknown sid is None; a taken sid is refused.
pub async fn sessions_create_and_get<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let s = session(&ada, T0);
    create(store, &ada, &s).await;

    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(s.clone()));
    assert_eq!(store.get_session("sid-unknown").await.unwrap(), None);

    let mut twin = session(&ada, T0 + 1);
    twin.sid = s.sid.clone();
    let err = store
        .create_session(&tessera_store::NewSession {
            session: &twin,
            user: &ada,
            max_sessions: CAP,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(s));

    let stranger = user("stranger");
    let orphan = session(&stranger, T0);
    assert_eq!(
        open(store, &stranger, &orphan, CAP).await,
        SessionCreated::UserChanged,
        "no session for a user that does not exist"
    );
    assert_eq!(store.get_session(&orphan.sid).await.unwrap(), None);
}

/// The session and its owner read together exactly as each reads alone; either may be
/// missing, and a revocation is seen by the very next read.
pub async fn session_and_user_read_together<S: Store>(store: &S) {
    let (ada, s) = seed(store, "ada").await;
    let stored = store.get_user_by_username("ada").await.unwrap();

    assert_eq!(
        store.get_session_and_user(&s.sid, "ada").await.unwrap(),
        (Some(s.clone()), stored.clone())
    );
    assert_eq!(
        store
            .get_session_and_user("sid-unknown", "ada")
            .await
            .unwrap(),
        (None, stored)
    );
    assert_eq!(
        store.get_session_and_user(&s.sid, "nobody").await.unwrap(),
        (Some(s.clone()), None)
    );

    store
        .revoke_all_sessions(&ada.username, T0 + 5)
        .await
        .unwrap();
    let (session, owner) = store.get_session_and_user(&s.sid, "ada").await.unwrap();
    assert!(
        !session.unwrap().is_accepted_by(owner.as_ref()),
        "the watermark moved"
    );
}

/// Presenting the current token swaps it for the successor, bumps the generation and slides
/// the idle expiry; the successor then rotates in turn.
pub async fn rotation_swaps_current_for_successor<S: Store>(store: &S) {
    let (_u, s) = seed(store, "ada").await;

    let r1 = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);
    let RotateOutcome::Rotated(after) = store.rotate(&r1).await.unwrap() else {
        panic!("the current token must rotate");
    };
    let mut expected = s.clone();
    expected.current_hash = "h1".into();
    expected.previous_hash = Some(s.current_hash.clone());
    expected.rotated_at = Some(T0 + 60);
    expected.last_used_at = T0 + 60;
    expected.idle_expires_at = T0 + 60 + IDLE_TTL;
    expected.generation = 1;
    assert_eq!(after, expected);
    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(expected));

    let r2 = rotation(&s.sid, "h1", "h2", T0 + 120, 0);
    let RotateOutcome::Rotated(after) = store.rotate(&r2).await.unwrap() else {
        panic!("the successor must rotate");
    };
    assert_eq!(
        (after.current_hash.as_str(), after.previous_hash.as_deref()),
        ("h2", Some("h1"))
    );
    assert_eq!(after.generation, 2);
    assert!(after.is_live(T0 + 120));
}

/// Rotating an unknown session is NotFound, and creates nothing.
pub async fn rotating_an_unknown_session_is_not_found<S: Store>(store: &S) {
    let r = rotation("sid-unknown", "h0", "h1", T0, 10);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::NotFound);
    assert_eq!(store.get_session("sid-unknown").await.unwrap(), None);
}

/// A spent token (reuse) revokes the whole session: the current token is dead too.
pub async fn reuse_of_a_spent_token_revokes_the_session<S: Store>(store: &S) {
    let (_u, s) = seed(store, "ada").await;
    let r1 = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);
    assert!(matches!(
        store.rotate(&r1).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));

    let replay = rotation(&s.sid, &s.current_hash, "h1", T0 + 3600, 0);
    assert_eq!(store.rotate(&replay).await.unwrap(), RotateOutcome::Reused);

    let stored = store.get_session(&s.sid).await.unwrap().unwrap();
    assert!(stored.revoked);
    assert_eq!(
        stored.current_hash, "h1",
        "reuse revokes, it does not rotate"
    );
    let legit = rotation(&s.sid, "h1", "h2", T0 + 3601, 0);
    assert_eq!(store.rotate(&legit).await.unwrap(), RotateOutcome::Revoked);
}

/// A token that never belonged to the session (current or previous) is reuse as well.
pub async fn an_unknown_token_of_a_session_is_reuse<S: Store>(store: &S) {
    let (_u, s) = seed(store, "ada").await;
    let r = rotation(&s.sid, "forged", "h1", T0 + 60, 10);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Reused);
    assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
}

/// Within the grace window, the immediate predecessor gets GraceReplay with the session
/// unchanged (the caller re-issues the same successor); the current token still rotates.
pub async fn grace_window_replays_the_immediate_predecessor<S: Store>(store: &S) {
    let (_u, s) = seed(store, "ada").await;
    let r1 = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 10);
    let RotateOutcome::Rotated(rotated) = store.rotate(&r1).await.unwrap() else {
        panic!("the current token must rotate");
    };

    let twice = rotation(&s.sid, &s.current_hash, "h1", T0 + 70, 10);
    assert_eq!(
        store.rotate(&twice).await.unwrap(),
        RotateOutcome::GraceReplay(rotated.clone())
    );
    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(rotated));

    let next = rotation(&s.sid, "h1", "h2", T0 + 71, 10);
    assert!(matches!(
        store.rotate(&next).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
}

/// The grace window covers only the immediate predecessor: an older token is reuse.
pub async fn grace_window_does_not_cover_older_tokens<S: Store>(store: &S) {
    let (_u, s) = seed(store, "ada").await;
    let r1 = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 10);
    let r2 = rotation(&s.sid, "h1", "h2", T0 + 61, 10);
    assert!(matches!(
        store.rotate(&r1).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    assert!(matches!(
        store.rotate(&r2).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));

    let oldest = rotation(&s.sid, &s.current_hash, "h1", T0 + 62, 10);
    assert_eq!(store.rotate(&oldest).await.unwrap(), RotateOutcome::Reused);
    assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
}

/// The predecessor after the window has closed is reuse.
pub async fn grace_window_closes<S: Store>(store: &S) {
    let (_u, s) = seed(store, "ada").await;
    let r1 = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 10);
    assert!(matches!(
        store.rotate(&r1).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));

    let late = rotation(&s.sid, &s.current_hash, "h1", T0 + 71, 10);
    assert_eq!(store.rotate(&late).await.unwrap(), RotateOutcome::Reused);
    assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
}

/// With grace 0, even an immediate repeat of the predecessor (same second) is reuse.
pub async fn grace_zero_turns_the_window_off<S: Store>(store: &S) {
    let (_u, s) = seed(store, "ada").await;
    let r1 = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);
    assert!(matches!(
        store.rotate(&r1).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));

    assert_eq!(store.rotate(&r1).await.unwrap(), RotateOutcome::Reused);
    assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
}

/// Past the absolute expiry the record still exists (TTL is lazy) but is not live, and its
/// current token is Expired, not reuse.
pub async fn absolute_expiry_ends_the_session<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let mut s = session(&ada, T0);
    s.expires_at = T0 + 100;
    s.idle_expires_at = T0 + 100;
    create(store, &ada, &s).await;

    let stored = store.get_session(&s.sid).await.unwrap().unwrap();
    assert!(stored.is_live(T0 + 99));
    assert!(!stored.is_live(T0 + 100));
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 100, 10);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Expired);
    let after = store.get_session(&s.sid).await.unwrap().unwrap();
    assert_eq!(
        after, s,
        "an expired session is neither rotated nor revoked"
    );
}

/// Past the idle expiry (but before the absolute one) the session is Expired as well.
pub async fn idle_expiry_ends_the_session<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let mut s = session(&ada, T0);
    s.idle_expires_at = T0 + 50;
    create(store, &ada, &s).await;

    assert!(
        !store
            .get_session(&s.sid)
            .await
            .unwrap()
            .unwrap()
            .is_live(T0 + 50)
    );
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 50, 10);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Expired);
    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(s));
}

/// Each rotation moves the idle expiry to now + idle_ttl, but never past the absolute expiry.
pub async fn idle_expiry_slides_but_never_past_absolute<S: Store>(store: &S) {
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let mut s = session(&ada, T0);
    s.expires_at = T0 + 250;
    s.idle_expires_at = T0 + 100;
    create(store, &ada, &s).await;
    let step = |presented: &str, next: &str, now| {
        let mut r = rotation(&s.sid, presented, next, now, 0);
        r.idle_ttl = 100;
        r
    };

    let RotateOutcome::Rotated(after) = store
        .rotate(&step(&s.current_hash, "h1", T0 + 90))
        .await
        .unwrap()
    else {
        panic!("live session must rotate");
    };
    assert_eq!(after.idle_expires_at, T0 + 190);

    let RotateOutcome::Rotated(after) = store.rotate(&step("h1", "h2", T0 + 180)).await.unwrap()
    else {
        panic!("live session must rotate");
    };
    assert_eq!(
        after.idle_expires_at,
        T0 + 250,
        "capped at the absolute expiry"
    );
    assert_eq!(
        store
            .get_session(&s.sid)
            .await
            .unwrap()
            .unwrap()
            .idle_expires_at,
        T0 + 250
    );

    assert!(matches!(
        store.rotate(&step("h2", "h3", T0 + 249)).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(
        store.rotate(&step("h3", "h4", T0 + 250)).await.unwrap(),
        RotateOutcome::Expired
    );
}

/// Revoking one session is idempotent: true once, then false; unknown sids are false.
pub async fn revoke_one_session_is_idempotent<S: Store>(store: &S) {
    let (ada, s) = seed(store, "ada").await;
    let other = session(&ada, T0 + 1);
    create(store, &ada, &other).await;

    assert!(store.revoke_session(&s.sid, T0 + 10).await.unwrap());
    assert!(!store.revoke_session(&s.sid, T0 + 11).await.unwrap());
    assert!(!store.revoke_session("sid-unknown", T0 + 11).await.unwrap());
    assert_eq!(store.get_session("sid-unknown").await.unwrap(), None);

    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 12, 10);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Revoked);
    assert!(
        !store
            .get_session(&other.sid)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
}

/// The list holds the user's live sessions only, newest first; never another user's.
pub async fn list_user_sessions_live_only_newest_first<S: Store>(store: &S) {
    let (ada, oldest) = seed(store, "ada").await;
    let middle = session(&ada, T0 + 10);
    let newest = session(&ada, T0 + 20);
    let revoked = session(&ada, T0 + 30);
    let mut idle = session(&ada, T0 + 40);
    idle.idle_expires_at = T0 + 50;
    let mut expired = session(&ada, T0 + 41);
    expired.expires_at = T0 + 50;
    for s in [&middle, &newest, &revoked, &idle, &expired] {
        create(store, &ada, s).await;
    }
    store.revoke_session(&revoked.sid, T0 + 31).await.unwrap();
    let (_bob, _bobs) = seed(store, "bob").await;

    let listed = store
        .list_user_sessions(&ada.user_id, T0 + 60)
        .await
        .unwrap();
    assert_eq!(listed, vec![newest, middle, oldest]);
    assert!(
        store
            .list_user_sessions("user-nobody", T0)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- concurrency ----

const RACERS: usize = 16;

/// Sixteen tasks present the same current token at once, each with its own successor.
async fn race<S: Store + Clone + 'static>(
    store: &S,
    sid: &str,
    presented: &str,
    grace_secs: i64,
) -> Vec<(String, RotateOutcome)> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RACERS {
        let store = store.clone();
        let r = rotation(sid, presented, &format!("next-{i}"), T0 + 60, grace_secs);
        tasks.spawn(async move { (r.next_hash.clone(), store.rotate(&r).await.unwrap()) });
    }
    tasks.join_all().await
}

/// Without grace: at most one task rotates; every other one is reuse (or finds the session
/// revoked by that reuse), so exactly one chain exists and it is dead: never two different
/// live successors.
pub async fn concurrent_rotation_without_grace_leaves_one_dead_chain<S: Store + Clone + 'static>(
    store: &S,
) {
    let (_u, s) = seed(store, "ada").await;
    let outcomes = race(store, &s.sid, &s.current_hash, 0).await;

    let mut winners = Vec::new();
    for (next, outcome) in &outcomes {
        match outcome {
            RotateOutcome::Rotated(after) => {
                assert_eq!(&after.current_hash, next, "a winner gets its own successor");
                winners.push(next.clone());
            }
            RotateOutcome::Reused | RotateOutcome::Revoked => {}
            other => panic!("unexpected outcome without grace: {other:?}"),
        }
    }
    assert!(winners.len() <= 1, "two winners: {winners:?}");

    let stored = store.get_session(&s.sid).await.unwrap().unwrap();
    match winners.first() {
        Some(winner) => assert_eq!(&stored.current_hash, winner),
        None => assert_eq!(stored.current_hash, s.current_hash),
    }
    assert!(stored.revoked, "the losers' replays revoke the session");
    assert!(outcomes.iter().any(|(_, o)| *o == RotateOutcome::Reused));
    for (next, _) in &outcomes {
        let r = rotation(&s.sid, next, "after", T0 + 61, 0);
        assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Revoked);
    }
}

/// With grace: one task rotates, the others get GraceReplay, and every success names the same
/// successor; the session stays live at generation 1.
pub async fn concurrent_rotation_with_grace_yields_one_successor<S: Store + Clone + 'static>(
    store: &S,
) {
    let (_u, s) = seed(store, "ada").await;
    let outcomes = race(store, &s.sid, &s.current_hash, 10).await;

    let mut rotated = 0;
    let mut successors = BTreeSet::new();
    for (_, outcome) in &outcomes {
        match outcome {
            RotateOutcome::Rotated(after) => {
                rotated += 1;
                successors.insert(after.current_hash.clone());
            }
            RotateOutcome::GraceReplay(after) => {
                successors.insert(after.current_hash.clone());
            }
            other => panic!("unexpected outcome within grace: {other:?}"),
        }
    }
    assert_eq!(rotated, 1);
    assert_eq!(successors.len(), 1, "successors: {successors:?}");

    let stored = store.get_session(&s.sid).await.unwrap().unwrap();
    assert!(successors.contains(&stored.current_hash));
    assert!(!stored.revoked);
    assert_eq!(stored.generation, 1);
}

/// Instantiates every case once per adapter, as `conformance::sqlite::<case>` and
/// `conformance::dynamodb::<case>`.
macro_rules! conformance_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let fixture = crate::helpers::sqlite().await;
                    super::$case(&fixture.store).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let fixture = crate::helpers::dynamo().await;
                    super::$case(&fixture.store).await;
                }
            )*
        }
    };
}

conformance_suite!(
    users_create_and_get,
    users_list_all_by_username,
    lockout_admits_the_threshold_then_locks_growing,
    lockout_treats_unknown_usernames_like_real_ones,
    lockout_forgets_after_a_quiet_window,
    a_login_or_a_new_password_resets_the_counter,
    concurrent_attempts_admit_at_most_the_threshold,
    concurrent_attempts_on_a_forgotten_counter_count_exactly,
    set_password_revokes_all_the_users_sessions,
    disabling_a_user_revokes_all_their_sessions,
    revoke_all_moves_the_watermark,
    a_login_read_before_a_revocation_creates_nothing,
    a_login_loop_racing_revocations_leaves_nothing_alive,
    the_session_cap_revokes_the_oldest_live_session,
    concurrent_logins_keep_the_cap,
    sessions_create_and_get,
    session_and_user_read_together,
    rotation_swaps_current_for_successor,
    rotating_an_unknown_session_is_not_found,
    reuse_of_a_spent_token_revokes_the_session,
    an_unknown_token_of_a_session_is_reuse,
    grace_window_replays_the_immediate_predecessor,
    grace_window_does_not_cover_older_tokens,
    grace_window_closes,
    grace_zero_turns_the_window_off,
    absolute_expiry_ends_the_session,
    idle_expiry_ends_the_session,
    idle_expiry_slides_but_never_past_absolute,
    revoke_one_session_is_idempotent,
    list_user_sessions_live_only_newest_first,
    concurrent_rotation_without_grace_leaves_one_dead_chain,
    concurrent_rotation_with_grace_yields_one_successor,
);

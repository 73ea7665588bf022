//! One suite, both adapters: each case is a generic function over `S: Store`, and the macro at
//! the bottom instantiates every case once for SQLite and once for DynamoDB.

use std::collections::BTreeSet;

use tessera_store::{LockoutPolicy, RotateOutcome, Store, StoreError, UserStatus};

use crate::helpers::{IDLE_TTL, T0, rotation, seed, session, user};

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

/// Failures below the threshold only count; from the threshold on, each failure locks for
/// base * 2^(failures - threshold), capped; a success resets counter and lock.
pub async fn lockout_grows_caps_and_resets<S: Store>(store: &S) {
    let policy = LockoutPolicy {
        threshold: 3,
        base_delay_secs: 30,
        max_delay_secs: 100,
    };
    store.create_user(&user("eve")).await.unwrap();

    let expected = [
        (T0, 1, None),
        (T0, 2, None),
        (T0 + 1, 3, Some(T0 + 1 + 30)),
        (T0 + 2, 4, Some(T0 + 2 + 60)),
        (T0 + 3, 5, Some(T0 + 3 + 100)), // 120, capped at 100
        (T0 + 4, 6, Some(T0 + 4 + 100)),
    ];
    for (now, failures, locked_until) in expected {
        let u = store
            .record_login_failure("eve", now, &policy)
            .await
            .unwrap();
        assert_eq!(
            (u.failed_attempts, u.locked_until),
            (failures, locked_until)
        );
    }
    let stored = store.get_user_by_username("eve").await.unwrap().unwrap();
    assert_eq!(
        (stored.failed_attempts, stored.locked_until),
        (6, Some(T0 + 104))
    );

    store.record_login_success("eve").await.unwrap();
    let stored = store.get_user_by_username("eve").await.unwrap().unwrap();
    assert_eq!((stored.failed_attempts, stored.locked_until), (0, None));
}

/// Counting failures or successes for an unknown user is NotFound, and creates nobody.
pub async fn lockout_of_an_unknown_user_is_not_found<S: Store>(store: &S) {
    let err = store
        .record_login_failure("ghost", T0, &LockoutPolicy::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store.record_login_success("ghost").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(store.get_user_by_username("ghost").await.unwrap(), None);
}

/// A new password replaces the hash, clears the lockout and revokes every session of the user
/// (and no one else's); the old refresh tokens are dead.
pub async fn set_password_revokes_all_the_users_sessions<S: Store>(store: &S) {
    let (ada, first) = seed(store, "ada").await;
    let second = session(&ada, T0 + 1);
    store.create_session(&second).await.unwrap();
    let (_bob, bobs) = seed(store, "bob").await;
    store
        .record_login_failure("ada", T0, &LockoutPolicy::default())
        .await
        .unwrap();

    store
        .set_password("ada", "$argon2id$new", T0 + 100)
        .await
        .unwrap();

    let stored = store.get_user_by_username("ada").await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$new");
    assert_eq!(stored.updated_at, T0 + 100);
    assert_eq!((stored.failed_attempts, stored.locked_until), (0, None));
    for s in [&first, &second] {
        assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
    }
    let r = rotation(&first.sid, &first.current_hash, "next", T0 + 101, 0);
    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Revoked);
    assert!(!store.get_session(&bobs.sid).await.unwrap().unwrap().revoked);

    let err = store.set_password("ghost", "x", T0).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// Disabling a user revokes all their sessions; enabling again does not bring them back.
pub async fn disabling_a_user_revokes_all_their_sessions<S: Store>(store: &S) {
    let (_ada, s) = seed(store, "ada").await;
    let (_bob, bobs) = seed(store, "bob").await;

    store
        .set_status("ada", UserStatus::Disabled, T0 + 5)
        .await
        .unwrap();
    let stored = store.get_user_by_username("ada").await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.updated_at),
        (UserStatus::Disabled, T0 + 5)
    );
    assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
    assert!(!store.get_session(&bobs.sid).await.unwrap().unwrap().revoked);

    store
        .set_status("ada", UserStatus::Active, T0 + 6)
        .await
        .unwrap();
    let stored = store.get_user_by_username("ada").await.unwrap().unwrap();
    assert_eq!(stored.status, UserStatus::Active);
    assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);

    let err = store
        .set_status("ghost", UserStatus::Disabled, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

// ---- sessions ----

/// A created session reads back exactly; an unknown sid is None; a taken sid is refused.
pub async fn sessions_create_and_get<S: Store>(store: &S) {
    let ada = user("ada");
    let s = session(&ada, T0);
    store.create_session(&s).await.unwrap();

    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(s.clone()));
    assert_eq!(store.get_session("sid-unknown").await.unwrap(), None);

    let mut twin = session(&ada, T0 + 1);
    twin.sid = s.sid.clone();
    let err = store.create_session(&twin).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(s));
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
    let mut s = session(&ada, T0);
    s.expires_at = T0 + 100;
    s.idle_expires_at = T0 + 100;
    store.create_session(&s).await.unwrap();

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
    let mut s = session(&ada, T0);
    s.idle_expires_at = T0 + 50;
    store.create_session(&s).await.unwrap();

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
    let mut s = session(&ada, T0);
    s.expires_at = T0 + 250;
    s.idle_expires_at = T0 + 100;
    store.create_session(&s).await.unwrap();
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
    store.create_session(&other).await.unwrap();

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

/// Revoking all of a user's sessions counts the live ones it revoked and leaves other users'
/// sessions alone.
pub async fn revoke_all_of_a_users_sessions<S: Store>(store: &S) {
    let (ada, first) = seed(store, "ada").await;
    let second = session(&ada, T0 + 1);
    let already = session(&ada, T0 + 2);
    for s in [&second, &already] {
        store.create_session(s).await.unwrap();
    }
    store.revoke_session(&already.sid, T0 + 3).await.unwrap();
    let (_bob, bobs) = seed(store, "bob").await;

    assert_eq!(
        store
            .revoke_user_sessions(&ada.user_id, T0 + 10)
            .await
            .unwrap(),
        2
    );
    for s in [&first, &second, &already] {
        assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
    }
    assert!(!store.get_session(&bobs.sid).await.unwrap().unwrap().revoked);
    assert_eq!(
        store
            .revoke_user_sessions(&ada.user_id, T0 + 11)
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .list_user_sessions(&ada.user_id, T0 + 11)
            .await
            .unwrap()
            .is_empty()
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
        store.create_session(s).await.unwrap();
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
    lockout_grows_caps_and_resets,
    lockout_of_an_unknown_user_is_not_found,
    set_password_revokes_all_the_users_sessions,
    disabling_a_user_revokes_all_their_sessions,
    sessions_create_and_get,
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
    revoke_all_of_a_users_sessions,
    list_user_sessions_live_only_newest_first,
    concurrent_rotation_without_grace_leaves_one_dead_chain,
    concurrent_rotation_with_grace_yields_one_successor,
);

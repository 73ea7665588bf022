//! What only the DynamoDB adapter can show: requests on the wire, lost replies, throttling and
//! connection failures, the table itself.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use tessera_store::{
    DynamoStore, LockoutPolicy, LoginAttempt, RotateOutcome, SessionCreated, SessionStore,
    StoreError, UserStore,
};

use crate::faults::Fault;
use crate::helpers::{
    IDLE_TTL, T0, create, dynamo, dynamodb_endpoint, open, rotation, seed, session, user,
};

/// The hot paths and what they cost: a login is three requests (charge the attempt, read
/// the user, one transaction that creates the session on the user's conditions and resets
/// the counter); a refresh two (the conditional rotation, then the owner's watermark); a
/// grace replay two; reuse two.
#[tokio::test]
async fn hot_paths_cost_what_they_document() {
    let fixture = dynamo().await;
    let (store, counter) = fixture.store.with_request_counter();
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();

    counter.reset();
    let LoginAttempt::Admitted(_) = store
        .charge_login_attempt("ada", T0, &LockoutPolicy::default())
        .await
        .unwrap()
    else {
        panic!("a first attempt is admitted");
    };
    let read = store.get_user_by_username("ada").await.unwrap().unwrap();
    let s = session(&read, T0);
    create(&store, &read, &s).await;
    assert_eq!(
        counter.snapshot(),
        [
            ("GetItem".to_owned(), 1),
            ("TransactWriteItems".to_owned(), 1),
            ("UpdateItem".to_owned(), 1)
        ]
        .into(),
        "a login: three requests"
    );
    assert_eq!(store.get_login_attempts("ada").await.unwrap(), None);

    counter.reset();
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 10);
    assert!(matches!(
        store.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(
        counter.snapshot(),
        [("GetItem".to_owned(), 1), ("UpdateItem".to_owned(), 1)].into(),
        "a refresh: the rotation, then the owner's watermark"
    );

    counter.reset();
    let replay = rotation(&s.sid, &s.current_hash, "h1", T0 + 61, 10);
    assert!(matches!(
        store.rotate(&replay).await.unwrap(),
        RotateOutcome::GraceReplay(_)
    ));
    assert_eq!(
        counter.snapshot(),
        [("GetItem".to_owned(), 1), ("UpdateItem".to_owned(), 1)].into(),
        "a grace replay is judged from the failed condition's old item, then the owner"
    );

    counter.reset();
    let reuse = rotation(&s.sid, &s.current_hash, "h1", T0 + 3600, 10);
    assert_eq!(store.rotate(&reuse).await.unwrap(), RotateOutcome::Reused);
    assert_eq!(
        counter.snapshot(),
        [("UpdateItem".to_owned(), 2)].into(),
        "reuse: the failed rotation, then the revocation"
    );

    counter.reset();
    store.get_session(&s.sid).await.unwrap().unwrap();
    assert!(!store.revoke_session(&s.sid, T0 + 3601).await.unwrap());
    assert_eq!(
        counter.snapshot(),
        [("GetItem".to_owned(), 1), ("UpdateItem".to_owned(), 1)].into()
    );
}

/// The colder paths: a charged attempt is one update, locked or not; settling a failure is
/// free unless a forgotten counter must be taken back; listing sessions is one query plus the
/// owner's watermark; revoking all is one read and one write however many sessions there
/// are; a login at the cap reads the listed sessions once.
#[tokio::test]
async fn cold_paths_cost_what_they_document() {
    let fixture = dynamo().await;
    let (store, counter) = fixture.store.with_request_counter();
    let policy = LockoutPolicy {
        threshold: 2,
        ..LockoutPolicy::default()
    };
    let (ada, _first) = seed(&store, "ada").await;
    for i in 1..3 {
        create(&store, &ada, &session(&ada, T0 + i)).await;
    }

    counter.reset();
    let LoginAttempt::Admitted(ticket) = store
        .charge_login_attempt("ada", T0, &policy)
        .await
        .unwrap()
    else {
        panic!("admitted");
    };
    store.settle_failed_login(&ticket).await.unwrap();
    assert_eq!(counter.snapshot(), [("UpdateItem".to_owned(), 1)].into());
    store
        .charge_login_attempt("ada", T0, &policy)
        .await
        .unwrap();

    counter.reset();
    assert!(matches!(
        store
            .charge_login_attempt("ada", T0, &policy)
            .await
            .unwrap(),
        LoginAttempt::Locked { .. }
    ));
    assert_eq!(counter.snapshot(), [("UpdateItem".to_owned(), 1)].into());

    counter.reset();
    let forgotten = T0 + policy.window_secs;
    let LoginAttempt::Admitted(ticket) = store
        .charge_login_attempt("ada", forgotten, &policy)
        .await
        .unwrap()
    else {
        panic!("a forgotten counter admits");
    };
    store.settle_failed_login(&ticket).await.unwrap();
    assert_eq!(
        counter.snapshot(),
        [("UpdateItem".to_owned(), 2)].into(),
        "the charge, then taking the forgotten count back"
    );

    counter.reset();
    assert_eq!(
        store
            .list_user_sessions(&ada.user_id, T0 + 3)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        counter.snapshot(),
        [("GetItem".to_owned(), 1), ("Query".to_owned(), 1)].into()
    );

    counter.reset();
    let at_cap = session(&ada, T0 + 4);
    let SessionCreated::Created { revoked } = open(&store, &ada, &at_cap, 3).await else {
        panic!("created");
    };
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        counter.snapshot(),
        [
            ("BatchGetItem".to_owned(), 1),
            ("TransactWriteItems".to_owned(), 2)
        ]
        .into(),
        "the full list refuses the append; the pruning transaction then commits"
    );

    counter.reset();
    store.revoke_all_sessions("ada", T0 + 5).await.unwrap();
    assert_eq!(
        counter.snapshot(),
        [("GetItem".to_owned(), 1), ("UpdateItem".to_owned(), 1)].into()
    );
}

/// A rotation whose every reply was lost, the SDK's retries included, is settled by one read
/// of the session: our own write is there, so the answer is Rotated, never "unavailable"
/// for a session that did change.
#[tokio::test]
async fn a_rotation_whose_every_reply_was_lost_is_settled_by_a_read() {
    let fixture = dynamo().await;
    let (_u, s) = seed(&fixture.store, "ada").await;
    let fault = Fault::lose_reply("UpdateItem", usize::MAX);
    let store = fixture.store.with_interceptor(fault.clone());

    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);
    let outcome = store.rotate(&r).await.unwrap();

    assert!(fault.injected() > 1, "the SDK retried");
    let RotateOutcome::Rotated(after) = outcome else {
        panic!("expected Rotated, got {outcome:?}");
    };
    assert_eq!(after.current_hash, "h1");
    assert_eq!(
        fixture.store.get_session(&s.sid).await.unwrap(),
        Some(after)
    );
}

/// The transaction's conditions compare the user item's session list as a whole, which only
/// works if DynamoDB compares lists by value: a pruning login against a list that changed
/// meanwhile must not commit.
#[tokio::test]
async fn a_pruning_login_against_a_changed_list_does_not_commit() {
    let fixture = dynamo().await;
    let store = &fixture.store;
    let ada = user("ada");
    store.create_user(&ada).await.unwrap();
    let first = session(&ada, T0);
    create(store, &ada, &first).await;
    // Two logins at a cap of one: each prunes; the second sees the first's list.
    let second = session(&ada, T0 + 1);
    let third = session(&ada, T0 + 2);
    assert_eq!(
        open(store, &ada, &second, 1).await,
        SessionCreated::Created {
            revoked: vec![first.sid.clone()]
        }
    );
    assert_eq!(
        open(store, &ada, &third, 1).await,
        SessionCreated::Created {
            revoked: vec![second.sid.clone()]
        }
    );
    let listed: Vec<String> = store
        .list_user_sessions(&ada.user_id, T0 + 3)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert_eq!(listed, [third.sid]);
}

/// Our own rotation committed but its reply was lost; the SDK's retry finds the session
/// already rotated by the same request id, and the answer is Rotated, not Reused.
#[tokio::test]
async fn a_lost_reply_to_our_own_rotation_is_rotated_not_reuse() {
    let fixture = dynamo().await;
    let (_u, s) = seed(&fixture.store, "ada").await;
    let fault = Fault::lose_reply("UpdateItem", 1);
    let (store, counter) = fixture
        .store
        .with_interceptor(fault.clone())
        .with_request_counter();

    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);
    let outcome = store.rotate(&r).await.unwrap();

    assert_eq!(fault.injected(), 1);
    assert_eq!(
        counter.count("UpdateItem"),
        2,
        "the SDK retried the committed request"
    );
    let RotateOutcome::Rotated(after) = outcome else {
        panic!("expected Rotated, got {outcome:?}");
    };
    assert_eq!((after.current_hash.as_str(), after.generation), ("h1", 1));
    let stored = fixture.store.get_session(&s.sid).await.unwrap().unwrap();
    assert_eq!(stored, after);
    assert!(!stored.revoked);
}

/// A replay of the spent token computes the same successor hash (the service derives it from
/// the presented jti), yet it is a different call with a different request id: reuse.
#[tokio::test]
async fn a_replay_with_the_same_successor_is_still_reuse() {
    let fixture = dynamo().await;
    let store = &fixture.store;
    let (_u, s) = seed(store, "ada").await;
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);
    assert!(matches!(
        store.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));

    assert_eq!(store.rotate(&r).await.unwrap(), RotateOutcome::Reused);
    assert!(store.get_session(&s.sid).await.unwrap().unwrap().revoked);
}

/// A lost reply to a user's creation is our own write, not a taken username.
#[tokio::test]
async fn a_lost_reply_to_create_user_is_success() {
    let fixture = dynamo().await;
    let fault = Fault::lose_reply("PutItem", 1);
    let store = fixture.store.with_interceptor(fault.clone());
    let ada = user("ada");

    store.create_user(&ada).await.unwrap();

    assert_eq!(fault.injected(), 1);
    assert_eq!(
        fixture.store.get_user_by_username("ada").await.unwrap(),
        Some(ada)
    );
}

/// Throttling and server errors, after the SDK's retries, are Unavailable (retryable), never
/// NotFound or Reused; the session is untouched and the same token rotates afterwards.
#[tokio::test]
async fn throttling_and_server_errors_are_unavailable_and_touch_nothing() {
    let fixture = dynamo().await;
    let healthy = &fixture.store;
    let (_u, s) = seed(healthy, "ada").await;
    let faults = [
        (400, "ProvisionedThroughputExceededException"),
        (400, "ThrottlingException"),
        (400, "RequestLimitExceeded"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ];
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);

    for (status, code) in faults {
        let fault = Fault::respond("UpdateItem", status, code);
        let faulty = healthy.with_interceptor(fault.clone());

        let err = faulty.rotate(&r).await.unwrap_err();

        assert!(
            matches!(err, StoreError::Unavailable { .. }) && err.is_retryable(),
            "{code}: {err:?}"
        );
        assert!(fault.injected() > 1, "{code}: the SDK retried");
        assert_eq!(
            healthy.get_session(&s.sid).await.unwrap(),
            Some(s.clone()),
            "{code}"
        );
    }
    assert!(matches!(
        healthy.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
}

/// A connection failure is Unavailable too; nothing reached the table.
#[tokio::test]
async fn a_connection_failure_is_unavailable_and_touches_nothing() {
    let fixture = dynamo().await;
    let healthy = &fixture.store;
    let (_u, s) = seed(healthy, "ada").await;
    let fault = Fault::refuse("UpdateItem");
    let faulty = healthy.with_interceptor(fault.clone());
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);

    let err = faulty.rotate(&r).await.unwrap_err();

    assert!(
        matches!(err, StoreError::Unavailable { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert!(fault.injected() > 1, "the SDK retried");
    assert_eq!(healthy.get_session(&s.sid).await.unwrap(), Some(s.clone()));
    assert!(matches!(
        healthy.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
}

/// A store that never answers is Unavailable once the operation timeout expires; nothing
/// changed.
#[tokio::test]
async fn a_timeout_is_unavailable_and_touches_nothing() {
    let fixture = dynamo().await;
    let healthy = &fixture.store;
    let (_u, s) = seed(healthy, "ada").await;
    let fault = Fault::stall("UpdateItem");
    // Short timeouts keep the test fast; the production values are seconds.
    let config = DynamoStore::local_config(&dynamodb_endpoint())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(200))
                .operation_timeout(Duration::from_secs(2))
                .build(),
        )
        .interceptor(fault.clone())
        .build();
    let stalled = DynamoStore::new(Client::from_conf(config), healthy.table());
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);

    let err = stalled.rotate(&r).await.unwrap_err();

    assert!(
        matches!(err, StoreError::Unavailable { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert!(
        fault.injected() > 1,
        "the SDK retried after the attempt timeout"
    );
    assert_eq!(healthy.get_session(&s.sid).await.unwrap(), Some(s.clone()));
    assert!(matches!(
        healthy.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
}

/// Reads fail the same way: a throttled read is Unavailable, not "no such user".
#[tokio::test]
async fn a_throttled_read_is_unavailable_not_absent() {
    let fixture = dynamo().await;
    fixture.store.create_user(&user("ada")).await.unwrap();
    let faulty =
        fixture
            .store
            .with_interceptor(Fault::respond("GetItem", 400, "ThrottlingException"));

    let err = faulty.get_user_by_username("ada").await.unwrap_err();

    assert!(err.is_retryable(), "{err:?}");
}

/// Creating the table again is a no-op that succeeds.
#[tokio::test]
async fn create_table_is_idempotent() {
    let fixture = dynamo().await;
    let (_u, s) = seed(&fixture.store, "ada").await;

    fixture.store.create_table().await.unwrap();

    assert_eq!(fixture.store.get_session(&s.sid).await.unwrap(), Some(s));
}

/// A session item without its current hash is reported as corrupt, naming the attribute.
#[tokio::test]
async fn a_corrupt_item_names_the_missing_attribute() {
    let fixture = dynamo().await;
    let store: &DynamoStore = &fixture.store;
    let (_u, s) = seed(store, "ada").await;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("SESSION#{}", s.sid)))
        .update_expression("REMOVE current_hash")
        .send()
        .await
        .unwrap();

    let err = store.get_session(&s.sid).await.unwrap_err();

    assert!(
        matches!(&err, StoreError::Corrupt(msg) if msg.contains("current_hash")),
        "{err:?}"
    );
}

/// The table layout the template and IAM policies rely on: key pk, sparse GSI by_user on
/// gsi_user + created_at, and session items only in that index.
#[tokio::test]
async fn the_table_has_the_documented_layout() {
    let fixture = dynamo().await;
    let store = &fixture.store;
    let (ada, s) = seed(store, "ada").await;

    let table = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let key: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name().to_owned())
        .collect();
    assert_eq!(key, ["pk"]);
    let index = &table.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("by_user"));
    let index_key: Vec<_> = index
        .key_schema()
        .iter()
        .map(|k| k.attribute_name().to_owned())
        .collect();
    assert_eq!(index_key, ["gsi_user", "created_at"]);

    let indexed = store
        .client()
        .scan()
        .table_name(store.table())
        .index_name("by_user")
        .send()
        .await
        .unwrap();
    let pks: Vec<_> = indexed
        .items()
        .iter()
        .map(|item| item.get("pk").cloned())
        .collect();
    assert_eq!(pks, [Some(AttributeValue::S(format!("SESSION#{}", s.sid)))]);
    let ttl_of = |sid: &str| {
        let store = store.clone();
        let pk = AttributeValue::S(format!("SESSION#{sid}"));
        async move {
            let item = store
                .client()
                .get_item()
                .table_name(store.table())
                .key("pk", pk)
                .send()
                .await
                .unwrap();
            item.item().and_then(|i| i.get("ttl")).cloned()
        }
    };
    assert_eq!(
        ttl_of(&s.sid).await,
        Some(AttributeValue::N(s.idle_expires_at.to_string())),
        "TTL follows the idle deadline"
    );
    let r = rotation(&s.sid, &s.current_hash, "h1", T0 + 60, 0);
    store.rotate(&r).await.unwrap();
    assert_eq!(
        ttl_of(&s.sid).await,
        Some(AttributeValue::N((T0 + 60 + IDLE_TTL).to_string()))
    );

    let user_item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("USER#ada".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        user_item.item().and_then(|i| i.get("user_id")),
        Some(&AttributeValue::S(ada.user_id))
    );
}

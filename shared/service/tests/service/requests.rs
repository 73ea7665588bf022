//! How many DynamoDB requests each use case costs: a login is three (charge the attempt, read
//! the user, one transaction creating the session on the user's conditions); a refresh two
//! (the conditional rotation, then the owner's watermark). DynamoDB only: it is what is billed.

use serde_json::json;
use tessera_store::DynamoStore;

use crate::helpers::*;

/// A service over a fresh table whose client counts its requests.
async fn counted() -> (Harness<DynamoStore>, tessera_store::RequestCounter) {
    let h = dynamodb().await;
    let (store, counter) = h.store().with_request_counter();
    (Harness::new(store, None), counter)
}

#[tokio::test]
async fn login_happy_path_costs_three_requests_and_refresh_two() {
    let (h, counter) = counted().await;
    h.add_user("alice", "pw", "").await;

    counter.reset();
    let t = h.login("alice", "pw").await;
    assert_eq!(
        counter.snapshot(),
        [
            ("GetItem".to_owned(), 1),
            ("TransactWriteItems".to_owned(), 1),
            ("UpdateItem".to_owned(), 1)
        ]
        .into()
    );

    // A login after a failure costs the same: the transaction resets the counter.
    h.call(post_json(
        "/auth/login",
        json!({"username": "alice", "password": "wrong"}),
    ))
    .await
    .assert_error(400, "invalid_grant");
    counter.reset();
    h.login("alice", "pw").await;
    assert_eq!(counter.total(), 3, "{:?}", counter.snapshot());

    counter.reset();
    assert_eq!(h.refresh(&t.refresh_token).await.status, 200);
    assert_eq!(
        counter.snapshot(),
        [("GetItem".to_owned(), 1), ("UpdateItem".to_owned(), 1)].into()
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_cost_the_same_requests() {
    let (h, counter) = counted().await;
    h.add_user("alice", "pw", "").await;

    counter.reset();
    h.call(post_json(
        "/auth/login",
        json!({"username": "alice", "password": "wrong"}),
    ))
    .await
    .assert_error(400, "invalid_grant");
    let wrong = counter.snapshot();

    counter.reset();
    h.call(post_json(
        "/auth/login",
        json!({"username": "mallory", "password": "wrong"}),
    ))
    .await
    .assert_error(400, "invalid_grant");
    assert_eq!(counter.snapshot(), wrong);
}

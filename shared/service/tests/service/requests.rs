//! How many DynamoDB requests each use case costs (DESIGN.md: login = read the user + create
//! the session; refresh = one conditional UpdateItem). DynamoDB only: it is what is billed.

use serde_json::json;
use tessera_store::DynamoStore;

use crate::helpers::*;

/// A service over a fresh table whose client counts its requests.
async fn counted() -> (Harness<DynamoStore>, tessera_store::RequestCounter) {
    let h = dynamodb().await;
    let (_, _, store) = h.service.into_parts();
    let (store, counter) = store.with_request_counter();
    (Harness::new(store, None), counter)
}

#[tokio::test]
async fn login_happy_path_costs_two_requests_and_refresh_one() {
    let (h, counter) = counted().await;
    h.add_user("alice", "pw", "").await;

    counter.reset();
    let t = h.login("alice", "pw").await;
    assert_eq!(counter.total(), 2, "{:?}", counter.snapshot());
    assert_eq!(
        counter.count("GetItem") + counter.count("Query"),
        1,
        "{:?}",
        counter.snapshot()
    );

    counter.reset();
    assert_eq!(h.refresh(&t.refresh_token).await.status, 200);
    assert_eq!(counter.total(), 1, "{:?}", counter.snapshot());
    assert_eq!(counter.count("UpdateItem"), 1);
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

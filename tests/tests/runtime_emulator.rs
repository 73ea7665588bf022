//! The emulator itself, proven against the empty lambda_runtime function: if this fails,
//! every other end-to-end result is meaningless.

use serde_json::json;
use tessera_e2e::emulator::Outcome;
use tessera_e2e::process::{LambdaProcess, binary};

#[tokio::test]
async fn the_empty_function_boots_polls_and_answers_each_event() {
    // Given the empty function started as Lambda starts it
    let function = LambdaProcess::spawn(&binary("tessera-empty").unwrap(), &[])
        .await
        .unwrap();

    // When it receives three events in turn
    for n in 0..3 {
        let invocation = function.invoke(&json!({ "n": n })).await.unwrap();
        // Then each gets its answer
        assert_eq!(invocation.outcome, Outcome::Response(b"{}".to_vec()));
    }
    assert!(function.peak_rss_kib().unwrap() > 0);
}

#[tokio::test]
async fn a_malformed_event_is_reported_as_an_invocation_error() {
    let function = LambdaProcess::spawn(&binary("tessera-empty").unwrap(), &[])
        .await
        .unwrap();

    let invocation = function.invoke_raw(b"{not json".to_vec()).await.unwrap();

    assert!(matches!(invocation.outcome, Outcome::Error { .. }));
    // And the process keeps serving.
    let next = function.invoke(&json!({})).await.unwrap();
    assert_eq!(next.outcome, Outcome::Response(b"{}".to_vec()));
}

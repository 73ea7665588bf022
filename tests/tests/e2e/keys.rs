//! Keys stay fresh in warm functions: the running binaries, with their key file rotated under
//! them, publish and sign with the new key within KEY_RELOAD_INTERVAL, without any token
//! naming the new `kid` first.

use std::time::{Duration, Instant};

use tessera_e2e::events::{self, Encoding};
use tessera_e2e::stack::Stack;
use tessera_keys::KeyFile;
use tessera_token::Algorithm;

use crate::helpers::{Deployment, Tokens, call, unb64};

/// How long the functions may take to notice; a bound on waiting, not a performance limit.
const BOUND: Duration = Duration::from_secs(30);

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(&unb64(header)).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn published_kids(d: &Deployment) -> Vec<String> {
    let response = call(&d.jwks, &events::jwks().unwrap()).await;
    assert_eq!(response.status, 200, "{response:?}");
    response.json().unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_key_rotated_under_running_functions_is_published_and_signs_within_the_interval() {
    // Given running jwks and login functions that re-read their keys every second
    let stack = Stack::with_config(&[("KEY_RELOAD_INTERVAL", "1")])
        .await
        .unwrap();
    let d = Deployment::over(stack).await;
    let (user, _) = d.user().await;
    let old_kid = d.stack.key_set().unwrap().current_kid().as_str().to_owned();
    assert_eq!(published_kids(&d).await, std::slice::from_ref(&old_kid));
    assert_eq!(
        kid_of(&d.log_in(&user, Encoding::Json).await.access),
        old_kid
    );

    // When the key file is rotated under them (as `tessera keys rotate` does)
    let rotated = KeyFile::rotate(d.stack.key_file(), Algorithm::Es256).unwrap();
    let new_kid = rotated
        .key_set(Algorithm::Es256)
        .unwrap()
        .current_kid()
        .as_str()
        .to_owned();

    // Then the JWKS shows the new key first, the old one still verifying behind it
    let started = Instant::now();
    loop {
        let kids = published_kids(&d).await;
        if kids.first() == Some(&new_kid) {
            assert!(
                kids.contains(&old_kid),
                "the previous key still verifies: {kids:?}"
            );
            break;
        }
        assert!(
            started.elapsed() < BOUND,
            "the jwks function never reloaded: {kids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // and login signs with it, although no token ever named it
    let started = Instant::now();
    loop {
        let tokens: Tokens = d.log_in(&user, Encoding::Json).await;
        if kid_of(&tokens.access) == new_kid {
            break;
        }
        assert!(
            started.elapsed() < BOUND,
            "the login function never reloaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

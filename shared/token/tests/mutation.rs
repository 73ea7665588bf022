//! Property: no single-byte change, truncation, extension or segment rearrangement of a
//! valid token verifies, for every algorithm and for refresh tokens.
// Tests may unwrap: a panic here is a failed assertion (see clippy.toml), and helpers
// outside #[test] functions are not covered by that setting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::LazyLock;

use common::*;
use proptest::prelude::*;
use tessera_token::{AccessVerifier, Algorithm, KeySet, RefreshVerifier};

struct Case {
    access: Vec<(String, AccessVerifier)>,
    refresh: (String, RefreshVerifier),
}

static CASE: LazyLock<Case> = LazyLock::new(|| {
    let access = Algorithm::ALL
        .into_iter()
        .map(|alg| {
            let ks: KeySet = keyset(alg);
            let token = ks.issue_access(&access_claims()).unwrap();
            let v = ks.access_verifier(policy());
            assert!(v.verify(token.expose_secret(), NOW).is_ok());
            (token.expose_secret().to_owned(), v)
        })
        .collect();
    let ks = keyset(Algorithm::Es256);
    let refresh = ks.issue_refresh(&refresh_claims()).unwrap();
    let rv = refresh_verifier(&ks);
    assert!(rv.verify(refresh.expose_secret(), NOW).is_ok());
    Case {
        access,
        refresh: (refresh.expose_secret().to_owned(), rv),
    }
});

/// Whether any verifier accepts `candidate` (it must differ from the original).
fn accepted(which: usize, candidate: &str) -> bool {
    let case = &*CASE;
    if which < case.access.len() {
        case.access[which].1.verify(candidate, NOW).is_ok()
    } else {
        case.refresh.1.verify(candidate, NOW).is_ok()
    }
}

fn original(which: usize) -> &'static str {
    let case = &*CASE;
    if which < case.access.len() {
        &case.access[which].0
    } else {
        &case.refresh.0
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_single_byte_mutation_verifies(which in 0usize..5, pos in any::<prop::sample::Index>(), byte in 0u8..128) {
        let token = original(which);
        let i = pos.index(token.len());
        prop_assume!(token.as_bytes()[i] != byte);
        let mut bytes = token.as_bytes().to_vec();
        bytes[i] = byte;
        let mutated = String::from_utf8(bytes).unwrap();
        prop_assert!(!accepted(which, &mutated), "accepted a mutated token at byte {}", i);
    }

    #[test]
    fn no_truncation_or_extension_verifies(which in 0usize..5, cut in any::<prop::sample::Index>(), extra in "[A-Za-z0-9_.=-]{1,4}") {
        let token = original(which);
        let truncated = &token[..cut.index(token.len())];
        prop_assert!(!accepted(which, truncated));
        let appended = format!("{token}{extra}");
        let prepended = format!("{extra}{token}");
        prop_assert!(!accepted(which, &appended));
        prop_assert!(!accepted(which, &prepended));
    }
}

#[test]
fn no_rearrangement_of_segments_verifies() {
    for which in 0..5 {
        let token = original(which);
        let parts: Vec<&str> = token.split('.').collect();
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    if (a, b, c) == (0, 1, 2) {
                        continue;
                    }
                    let t = format!("{}.{}.{}", parts[a], parts[b], parts[c]);
                    assert!(!accepted(which, &t), "{which}: {a}{b}{c}");
                }
            }
        }
        // Tokens from one verifier never verify with another's keys.
        for other in 0..5 {
            if other != which {
                assert!(!accepted(other, token), "{which} accepted by {other}");
            }
        }
    }
}

//! Denials are logged with their reason, and no log line ever holds the token.
//!
//! A test binary of its own: tracing caches per call site whether anyone listens, process
//! wide, and a call site first reached by a test on another thread (no subscriber) can
//! stay muted for the subscriber installed here. Alone in its process, this test sees
//! every line.

#[cfg(test)]
#[allow(dead_code)]
#[path = "authorizer/helpers.rs"]
mod helpers;

#[cfg(test)]
#[path = "authorizer/captured_logs.rs"]
mod captured_logs;

// In a `#[cfg(test)]` module so clippy treats it as test code (clippy.toml).
#[cfg(test)]
mod logs {
    use tessera_authorizer::EventKind;

    use crate::captured_logs::captured_logs;
    use crate::helpers::*;

    #[test]
    fn denials_are_logged_with_a_reason_and_never_the_token() {
        let mut expired = claims("profile");
        expired.exp = NOW - 3600;
        let tokens = [valid_token(), issue(&expired), refresh_token()];
        let logs = captured_logs(|| {
            let strict = authorizer_with_rules("GET /admin/*=admin");
            for token in &tokens {
                for kind in ALL_KINDS {
                    strict.decide(&event_with_token(kind, token), NOW);
                    strict.decide(&event_for_route(kind, token, "GET", "/admin/x"), NOW);
                    // Mangled events and headers, whose parse errors could quote the input.
                    strict.decide(&event(kind, Some(&format!("Bearer {token} {token}"))), NOW);
                    strict.decide(&event(kind, Some(&format!("Basic {token}"))), NOW);
                    let mut broken = event_value(kind, None);
                    broken["headers"] = serde_json::json!(format!("Bearer {token}"));
                    strict.decide(&serde_json::to_vec(&broken).unwrap(), NOW);
                }
                strict.decide(format!("{{\"type\": \"{token}\"}}").as_bytes(), NOW);
                strict.decide(format!("\"Bearer {token}\"").as_bytes(), NOW);
            }
        });
        assert!(logs.contains("token expired"), "{logs}");
        assert!(logs.contains("wrong token type"), "{logs}");
        assert!(
            logs.contains("token lacks the scope the route requires"),
            "{logs}"
        );
        assert!(logs.contains("unparseable authorizer event"), "{logs}");
        assert!(logs.contains("authorizer event of unknown kind"), "{logs}");
        for token in &tokens {
            // No whole token, and not even one of its segments (the signature is the secret part
            // for an attacker who wants to replay).
            for segment in token.split('.') {
                assert!(
                    !logs.contains(segment),
                    "a token segment was logged:\n{logs}"
                );
            }
        }
        // A kind is named so operators can tell their authorizers apart.
        assert!(logs.contains(EventKind::HttpV2.as_str()));
    }
}

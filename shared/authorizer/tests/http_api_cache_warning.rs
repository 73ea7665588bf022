//! With scope rules, the first HTTP API 2.0 event logs one warning that the HTTP API's
//! authorizer cache must key on `$context.routeKey` or be off; nothing else ever does.
//!
//! A test binary of its own, with one test: the warning is once per process, so the phases
//! below must run in this order, and no other test may reach the warning first.

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

    fn cache_warnings(logs: &str) -> usize {
        logs.lines()
            .filter(|line| line.contains("WARN") && line.contains("$context.routeKey"))
            .count()
    }

    #[test]
    fn http_api_cache_warning_once_for_2_0_events_with_rules_never_without_rules_or_for_rest() {
        let token = valid_token();
        let with_rules = authorizer_with_rules("GET /admin/*=admin");

        // Given REST events with rules, and 2.0 events without rules,
        let quiet = captured_logs(|| {
            for kind in [EventKind::RestToken, EventKind::RestRequest] {
                for _ in 0..2 {
                    with_rules.decide(&event_with_token(kind, &token), NOW);
                    with_rules.decide(&event_for_route(kind, &token, "GET", "/admin/x"), NOW);
                }
            }
            let no_rules = authorizer();
            for _ in 0..2 {
                no_rules.decide(&event_with_token(EventKind::HttpV2, &token), NOW);
            }
        });
        // then nothing warns about the cache, (and the capture does see the decisions),
        assert_eq!(cache_warnings(&quiet), 0, "{quiet}");
        assert!(!quiet.contains("WARN"), "{quiet}");
        assert!(quiet.contains("access token accepted"), "{quiet}");

        // and given two 2.0 events with rules (one allowed, one forbidden),
        let loud = captured_logs(|| {
            with_rules.decide(&event_with_token(EventKind::HttpV2, &token), NOW);
            with_rules.decide(
                &event_for_route(EventKind::HttpV2, &token, "GET", "/admin/x"),
                NOW,
            );
        });
        // exactly one line warns, at WARN level, naming the remedy.
        assert_eq!(cache_warnings(&loud), 1, "{loud}");
        let warning = loud.lines().find(|l| l.contains("WARN")).unwrap();
        assert!(warning.contains("result TTL to 0"), "{warning}");
        assert!(warning.contains(EventKind::HttpV2.as_str()), "{warning}");

        // Later 2.0 events, on a new authorizer too (as after a key reload), stay quiet.
        let after = captured_logs(|| {
            with_rules.decide(&event_with_token(EventKind::HttpV2, &token), NOW);
            authorizer_with_rules("GET /admin/*=admin")
                .decide(&event_with_token(EventKind::HttpV2, &token), NOW);
        });
        assert_eq!(cache_warnings(&after), 0, "{after}");
    }
}

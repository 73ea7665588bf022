//! `GET /metrics` (README, "Metrics"): the decisions of every use case as Prometheus counters,
//! the same outcomes the Lambda functions report to CloudWatch, scraped after a scripted flow.

use std::collections::BTreeMap;

use crate::helpers::{Backend, ServeOptions, TestUser, Tokens, spawn_serve};

both_backends!(metrics_count_each_decision_by_use_case_and_outcome,);

sqlite_only!(metrics_with_no_metrics_is_an_undeclared_route,);

/// The scrape as `name{label=value,..}` (labels sorted) -> value.
fn scrape(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                labels.sort_unstable();
                (name, labels.join(","))
            }
            None => (series, String::new()),
        };
        samples.insert(format!("{name}{{{labels}}}"), value.parse().unwrap());
    }
    samples
}

/// Gives a user; logs in, fails a login, calls /me with a good and a bad token, refreshes
/// (rotation, a replay within the grace window, a reuse, a token that is none), logs out
/// twice, revokes all sessions; scrapes /metrics; expects each decision counted once under
/// its use case and outcome, and one latency observation per decision.
async fn metrics_count_each_decision_by_use_case_and_outcome(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;

    let t1 = user.login(&server).await;
    assert_eq!(
        server
            .login(&user.username, "not-the-password")
            .await
            .status,
        400
    );
    assert_eq!(server.get("/me", Some(&t1.access)).await.status, 200);
    assert_eq!(server.get("/me", Some("x.y.z")).await.status, 401);
    let t2 = Tokens::from_reply(&server.refresh(&t1.refresh).await);
    assert_eq!(server.refresh(&t1.refresh).await.status, 200);
    assert_eq!(server.refresh(&t2.refresh).await.status, 200);
    assert_eq!(server.refresh(&t1.refresh).await.status, 400);
    assert_eq!(server.refresh("not-a-refresh-token").await.status, 400);
    let t4 = user.login(&server).await;
    assert_eq!(server.logout(&t4.refresh).await.status, 204);
    assert_eq!(server.logout(&t4.refresh).await.status, 204);
    let t5 = user.login(&server).await;
    assert_eq!(
        server
            .delete("/auth/sessions", Some(&t5.access))
            .await
            .status,
        204
    );

    let reply = server.get("/metrics", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = scrape(&reply.body);
    let requests: BTreeMap<&str, f64> = samples
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("tessera_requests_total")?, *v)))
        .collect();
    let expected: BTreeMap<&str, f64> = [
        (r#"{outcome="allow",use_case="authorizer"}"#, 2.0),
        (
            r#"{outcome="unauthorized",reason="malformed_token",use_case="authorizer"}"#,
            1.0,
        ),
        (r#"{outcome="success",use_case="login"}"#, 3.0),
        (r#"{outcome="failure",use_case="login"}"#, 1.0),
        (r#"{outcome="rotated",use_case="refresh"}"#, 2.0),
        (r#"{outcome="grace_replay",use_case="refresh"}"#, 1.0),
        (r#"{outcome="reuse_detected",use_case="refresh"}"#, 1.0),
        (r#"{outcome="invalid",use_case="refresh"}"#, 1.0),
        (r#"{outcome="revoked",use_case="logout"}"#, 1.0),
        (r#"{outcome="nothing",use_case="logout"}"#, 1.0),
        (r#"{outcome="all",use_case="revocation"}"#, 1.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(requests, expected, "{}", reply.body);
    for (use_case, n) in [
        ("authorizer", 3.0),
        ("login", 4.0),
        ("refresh", 5.0),
        ("logout", 2.0),
        ("revocation", 1.0),
    ] {
        let count = format!("tessera_latency_seconds_count{{use_case=\"{use_case}\"}}");
        assert_eq!(samples.get(&count), Some(&n), "{count}: {}", reply.body);
    }
}

/// Gives `tessera serve --no-metrics`; asks GET /metrics; expects what any undeclared path
/// gets (403), not the metrics.
async fn metrics_with_no_metrics_is_an_undeclared_route(backend: Backend) {
    let server = ServeOptions::new(backend)
        .args(&["--no-metrics"])
        .spawn()
        .await;
    let reply = server.get("/metrics", None).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(!reply.body.contains("tessera_requests_total"));
}

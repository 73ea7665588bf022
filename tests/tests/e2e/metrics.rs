//! Metrics as CloudWatch reads them (DEPLOY.md, "Metrics and alarms"): every decision of
//! every function is one Embedded Metric Format line on stdout, valid by the EMF
//! specification, and the lines count exactly the decisions that were made.

use std::collections::BTreeMap;

use serde_json::Value;
use tessera_e2e::events::{self, AuthorizerEvent, Encoding};
use tessera_e2e::process::LambdaProcess;
use tessera_e2e::stack::{Stack, TestUser};

use crate::helpers::{Deployment, call, unb64};

/// The units CloudWatch accepts (PutMetricData's `StandardUnit`).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one EMF document against the specification: the `_aws` metadata with a
/// millisecond `Timestamp` and `CloudWatchMetrics` directives; each directive a namespace,
/// dimension sets of at most 30 names that are string members of the root, and metrics whose
/// names are numeric members of the root, with a unit CloudWatch knows.
fn assert_valid_emf(doc: &Value, line: &str) {
    let aws = &doc["_aws"];
    let timestamp = aws["Timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("Timestamp: {line}"));
    let now_ms = u64::try_from(tessera_e2e::stack::now()).unwrap() * 1000;
    assert!(
        timestamp.abs_diff(now_ms) < 3_600_000,
        "Timestamp is not now in ms: {line}"
    );
    let directives = aws["CloudWatchMetrics"].as_array().unwrap();
    assert!(!directives.is_empty(), "{line}");
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap();
        assert!(!namespace.is_empty() && namespace.len() <= 255, "{line}");
        for set in directive["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(!set.is_empty() && set.len() <= 30, "{line}");
            for name in set {
                let name = name.as_str().unwrap();
                assert!(
                    doc[name].is_string(),
                    "dimension {name} is not a root string: {line}"
                );
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                doc[name].is_number(),
                "metric {name} has no numeric value: {line}"
            );
            if let Some(unit) = metric.get("Unit") {
                assert!(
                    UNITS.contains(&unit.as_str().unwrap()),
                    "unit {unit}: {line}"
                );
            }
        }
    }
}

/// The process's EMF documents, once it has written `expected` of them, each checked
/// against the specification and Tessera's own shape.
async fn emf(process: &LambdaProcess, expected: usize) -> Vec<Value> {
    let is_emf = |l: &String| l.starts_with('{') && l.contains("\"_aws\"");
    let logs = process
        .logs_when(|lines| lines.iter().filter(|l| is_emf(l)).count() >= expected)
        .await
        .unwrap_or_else(|e| panic!("{e}: {:#?}", process.logs()));
    let docs: Vec<Value> = logs
        .iter()
        .filter(|l| is_emf(l))
        .map(|line| {
            let doc: Value = serde_json::from_str(line).unwrap();
            assert_valid_emf(&doc, line);
            assert_eq!(
                doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Tessera",
                "{line}"
            );
            assert_eq!(doc["Stack"], "tessera-e2e", "{line}");
            assert_eq!(doc["Requests"], 1, "{line}");
            assert!(doc["Latency"].as_f64().unwrap() >= 0.0, "{line}");
            doc
        })
        .collect();
    assert_eq!(docs.len(), expected, "{logs:#?}");
    docs
}

/// `(use case, outcome[/reason])` -> how many lines said so.
fn counts(docs: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for doc in docs {
        let mut key = format!(
            "{} {}",
            doc["UseCase"].as_str().unwrap(),
            doc["Outcome"].as_str().unwrap()
        );
        if let Some(reason) = doc["Reason"].as_str() {
            key = format!("{key}/{reason}");
        }
        *counts.entry(key).or_default() += 1;
    }
    counts
}

fn expect(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

fn sid_of(access: &str) -> String {
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&unb64(payload)).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_decision_of_every_function_is_one_valid_emf_line_counted_by_outcome() {
    // Given a deployment where GET /me needs `admin`, two failures lock a username, and a
    // token just spent may come back within a grace window
    let stack = Stack::with_config(&[
        ("AUTHORIZER_SCOPE_RULES", "GET /me=admin"),
        ("LOGIN_LOCKOUT_THRESHOLD", "2"),
        ("REFRESH_REUSE_GRACE", "300"),
        ("METRICS_STACK", "tessera-e2e"),
    ])
    .await
    .unwrap();
    let d = Deployment::over(stack).await;
    let admin = TestUser::with_scope("profile admin");
    d.stack.add_user(&admin).await.unwrap();
    let (plain, _) = d.user().await;

    // When logins succeed (3), fail (2) and meet the lock (1)
    let first = d.log_in(&admin, Encoding::Json).await;
    let second = d.log_in(&admin, Encoding::Form).await;
    let other = d.log_in(&plain, Encoding::Json).await;
    let wrong = events::login(Encoding::Json, &plain.username, "not-the-password").unwrap();
    assert_eq!(call(&d.login, &wrong).await.status, 400);
    assert_eq!(call(&d.login, &wrong).await.status, 400);
    assert_eq!(call(&d.login, &wrong).await.status, 429);

    // and the authorizer allows (1), denies for scope (1), and refuses two ways
    let context = d.authorize(&first.access).await;
    let plain_token = AuthorizerEvent::RestToken.bearer(&other.access).unwrap();
    d.authorizer.invoke(&plain_token).await.unwrap();
    let garbage = AuthorizerEvent::RestRequest.bearer("x.y.z").unwrap();
    d.authorizer.invoke(&garbage).await.unwrap();
    let no_header = AuthorizerEvent::RestRequest.event(None).unwrap();
    d.authorizer.invoke(&no_header).await.unwrap();

    // and a refresh rotates, the token it spent comes back at once (a grace replay), the
    // successor rotates in turn, the first token comes back again (reuse: the session is
    // revoked), the last successor is then refused as revoked, and a token that is not one
    let rotated = d.refreshed(&second.refresh).await;
    assert_eq!(d.try_refresh(&second.refresh).await.status, 200);
    let again = d.refreshed(&rotated.refresh).await;
    assert_eq!(d.try_refresh(&second.refresh).await.status, 400);
    assert_eq!(d.try_refresh(&again.refresh).await.status, 400);
    assert_eq!(d.try_refresh("not-a-refresh-token").await.status, 400);

    // and a logout revokes, then finds nothing the second time
    let logout = events::logout(&other.refresh).unwrap();
    assert_eq!(call(&d.logout, &logout).await.status, 204);
    assert_eq!(call(&d.logout, &logout).await.status, 204);

    // and the owner revokes another of its sessions, then all of them
    let third = d.log_in(&admin, Encoding::Json).await;
    let revoke = context
        .sessions_revoke(&first.access, &sid_of(&third.access))
        .unwrap();
    assert_eq!(call(&d.sessions, &revoke).await.status, 204);
    let revoke_all = context.sessions_revoke_all(&first.access).unwrap();
    assert_eq!(call(&d.sessions, &revoke_all).await.status, 204);

    // Then each function wrote one valid EMF line per decision, with the right outcome
    assert_eq!(
        counts(&emf(&d.authorizer, 4).await),
        expect(&[
            ("authorizer allow", 1),
            ("authorizer deny/missing_scope", 1),
            ("authorizer unauthorized/malformed_token", 1),
            ("authorizer unauthorized/missing_token", 1),
        ])
    );
    assert_eq!(
        counts(&emf(&d.login, 7).await),
        expect(&[
            ("login success", 4),
            ("login failure", 2),
            ("login locked", 1)
        ])
    );
    assert_eq!(
        counts(&emf(&d.refresh, 6).await),
        expect(&[
            ("refresh rotated", 2),
            ("refresh grace_replay", 1),
            ("refresh reuse_detected", 1),
            ("refresh revoked", 1),
            ("refresh invalid", 1),
        ])
    );
    assert_eq!(
        counts(&emf(&d.logout, 2).await),
        expect(&[("logout revoked", 1), ("logout nothing", 1)])
    );
    assert_eq!(
        counts(&emf(&d.sessions, 2).await),
        expect(&[("revocation session", 1), ("revocation all", 1)])
    );
    // A refused reason is its own dimension set; an allow has none.
    let authorizer = emf(&d.authorizer, 4).await;
    for doc in &authorizer {
        let sets = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            .as_array()
            .unwrap();
        assert_eq!(
            sets.len(),
            if doc["Outcome"] == "allow" { 1 } else { 2 },
            "{doc}"
        );
    }
}

//! Cost of one authorizer decision per event kind, against `AccessVerifier::verify` alone.
//!
//! One group, one ES256 token (issued by the real key set), the sample events from
//! `events/`: `verify` is the floor (the JWT pipeline, dominated by the P-256 signature
//! check); `http-v2`, `rest-token` and `rest-request` are the whole decision: parse the
//! event, extract the bearer token, verify, match scope rules and build the JSON answer.
//! decision / verify is the authorizer's own overhead. The rules are the documented example,
//! so the REST answers carry their Deny statements. Group `no-crypto` runs the same events
//! with a token refused before any signature check: the event handling alone.
// A benchmark that cannot set up should stop loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_authorizer::{Authorizer, LogFormat, Ruling, ScopeRules, Verdict};
use tessera_token::{AccessClaims, Algorithm, KeySet, SecretValue, VerifyPolicy};

const NOW: i64 = 1_795_749_628;
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://api.example.com";
const RULES: &str = "GET /admin/*=admin;DELETE /auth/sessions/*=sessions:write";

const EVENTS: [(&str, &str); 3] = [
    (
        "http-v2",
        include_str!("../../../events/authorizer-http-v2.json"),
    ),
    (
        "rest-token",
        include_str!("../../../events/authorizer-rest-token.json"),
    ),
    (
        "rest-request",
        include_str!("../../../events/authorizer-rest-request.json"),
    ),
];

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.to_owned(),
        sub: "2b3f6c0e9d6a4c1f8e7d6c5b4a39281706f5e4d3".to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: NOW + 900,
        iat: NOW,
        nbf: NOW,
        jti: "kL3v9Qm2xZ8pR4tY6wB1nA".to_owned(),
        client_id: "tessera".to_owned(),
        sid: "Hq7sD2fG5jK8lZ1xC4vB6n".to_owned(),
        scope: "openid profile".to_owned(),
    }
}

/// The function's whole per-event work in the authorizer crate: bytes in, bytes out.
fn answer_bytes(authorizer: &Authorizer, event: &[u8]) -> Vec<u8> {
    let ruling = authorizer.authorize(event, NOW);
    match &ruling.answer {
        Ok(response) => serde_json::to_vec(response).unwrap(),
        Err(_) => Vec::new(),
    }
}

fn decision(c: &mut Criterion) {
    let secret = SecretValue::new("bench-root-secret-0123456789abcdefghijklmnopqrstuvwxyz");
    let keys = KeySet::from_secrets(Algorithm::Es256, &secret, &[]).unwrap();
    let token = keys.issue_access(&claims()).unwrap();
    let token = token.expose_secret();
    let verifier = keys.access_verifier(VerifyPolicy::new(ISSUER, AUDIENCE));
    let authorizer = Authorizer::new(verifier.clone(), ScopeRules::parse(RULES).unwrap());

    let mut group = c.benchmark_group("es256");
    group.bench_function("verify", |b| {
        b.iter(|| verifier.verify(black_box(token), black_box(NOW)).unwrap())
    });
    for (name, template) in EVENTS {
        let event = template.replace("Bearer PLACEHOLDER", &format!("Bearer {token}"));
        // A benchmark of the deny path by mistake would measure nothing useful.
        assert_eq!(
            authorizer.authorize(event.as_bytes(), NOW).verdict,
            Verdict::Allow
        );
        group.bench_function(name, |b| {
            b.iter(|| answer_bytes(&authorizer, black_box(event.as_bytes())))
        });
    }
    // The same decision answered as a `serde_json::Value` tree, then printed.
    let (_, template) = EVENTS[1];
    let event = template.replace("Bearer PLACEHOLDER", &format!("Bearer {token}"));
    group.bench_function("rest-token-json-view", |b| {
        b.iter(|| {
            let ruling = authorizer.authorize(black_box(event.as_bytes()), NOW);
            let json = ruling.answer.as_ref().map(|r| r.to_json()).unwrap();
            serde_json::to_vec(&json).unwrap()
        })
    });
    // What a function pays when it lets the runtime parse the event into a `Value` first
    // (`LambdaEvent<Value>` + `authorize_value`) instead of handing over the bytes.
    let (_, template) = EVENTS[2];
    let event = template.replace("Bearer PLACEHOLDER", &format!("Bearer {token}"));
    group.bench_function("rest-request-via-value", |b| {
        b.iter(|| {
            let value: serde_json::Value =
                serde_json::from_slice(black_box(event.as_bytes())).unwrap();
            let ruling = authorizer.authorize_value(&value, black_box(NOW));
            serde_json::to_vec(&ruling.answer.unwrap()).unwrap()
        })
    });
    group.finish();

    // The authorizer's own work without the signature check: each event with a token that
    // fails at its first byte, so what remains is parsing the event, extracting the bearer
    // token and building the deny answer.
    let mut group = c.benchmark_group("no-crypto");
    for (name, template) in EVENTS {
        let event = template.replace("Bearer PLACEHOLDER", "Bearer x.y.z");
        assert_ne!(
            authorizer.authorize(event.as_bytes(), NOW).verdict,
            Verdict::Allow
        );
        group.bench_function(name, |b| {
            b.iter(|| answer_bytes(&authorizer, black_box(event.as_bytes())))
        });
    }
    group.finish();

    log_line(c, &authorizer);
}

/// One refusal's log line, both ways, into a sink.
fn log_line(c: &mut Criterion, authorizer: &Authorizer) {
    let (_, template) = EVENTS[1];
    let event = template.replace("Bearer PLACEHOLDER", "Bearer x.y.z");
    let ruling: Ruling = authorizer.authorize(event.as_bytes(), NOW);
    assert_eq!(ruling.log_level(), tracing::Level::INFO);
    let request_id = "8f5e2c1a-3b4d-4e6f-8a9b-0c1d2e3f4a5b";

    let mut group = c.benchmark_group("log-line");
    // lambda_runtime's default subscriber (text, no time, no target, an env filter at INFO),
    // writing to a sink, inside the span the runtime opens for every invocation.
    let subscriber = || {
        tracing_subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::sink)
    };
    let mut traced = |name: &str, dispatch: tracing::Dispatch| {
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("Lambda runtime invoke", requestId = request_id);
            let _entered = span.enter();
            group.bench_function(name, |b| b.iter(|| black_box(&ruling).trace()));
        });
    };
    traced("tracing", subscriber().finish().into());
    traced("tracing-json", subscriber().json().finish().into());
    for (name, format) in [
        ("one-buffer", LogFormat::Text),
        ("one-buffer-json", LogFormat::Json),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut line = String::with_capacity(256);
                black_box(&ruling).write_log_line(format, Some(request_id), &mut line);
                std::io::Write::write_all(&mut std::io::sink(), line.as_bytes()).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);

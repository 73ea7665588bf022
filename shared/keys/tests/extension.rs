//! The Secrets Manager secret through the Parameters and Secrets Lambda Extension, against a
//! stand-in extension on loopback that checks what the real one checks (the session token
//! header) and answers as it does (a GetSecretValue document, or Secrets Manager's error).

// Helpers outside #[test] fns may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_keys::{KeySource, KeysError, SecretsExtension};
use tessera_token::{Algorithm, SecretValue};

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tessera/keys-AbCdEf";
const TOKEN: &str = "session-token";

struct Fake {
    stages: HashMap<&'static str, String>,
}

async fn get(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if headers
        .get("x-aws-parameters-secrets-token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return (StatusCode::UNAUTHORIZED, "not authorized").into_response();
    }
    if query.get("secretId").map(String::as_str) != Some(ARN) {
        return (
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException: no such secret",
        )
            .into_response();
    }
    let stage = query.get("versionStage").map(String::as_str).unwrap_or("");
    match fake.stages.get(stage) {
        // A stage the test wants refused with this status and an unexpected message.
        Some(value) if value.starts_with("refuse:") => {
            let status = value.trim_start_matches("refuse:").parse::<u16>().unwrap();
            (StatusCode::from_u16(status).unwrap(), "an error worded in a new way").into_response()
        }
        Some(value) => axum::Json(serde_json::json!({
            "ARN": ARN, "Name": "tessera/keys", "SecretString": value,
            "VersionStages": [stage], "VersionId": "v1",
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException: Secrets Manager can't find the specified secret value for staging label",
        )
            .into_response(),
    }
}

async fn fake_extension(stages: &[(&'static str, &str)]) -> String {
    let fake = Arc::new(Fake {
        stages: stages.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
    });
    let app = axum::Router::new()
        .route("/secretsmanager/get", axum::routing::get(get))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn root() -> String {
    SecretValue::generate().expose_secret().to_owned()
}

#[tokio::test]
async fn reads_the_current_and_previous_versions() {
    let (current, previous) = (root(), root());
    let endpoint = fake_extension(&[("AWSCURRENT", &current), ("AWSPREVIOUS", &previous)]).await;

    let versions = SecretsExtension::new(endpoint, ARN, TOKEN)
        .fetch()
        .await
        .unwrap();

    assert_eq!(versions.current.expose_secret(), current);
    assert_eq!(versions.previous.len(), 1);
    assert_eq!(versions.previous[0].expose_secret(), previous);
    assert!(versions.key_set(Algorithm::Es256).is_ok());
}

#[tokio::test]
async fn a_secret_never_rotated_has_no_previous_version() {
    let current = root();
    let endpoint = fake_extension(&[("AWSCURRENT", &current)]).await;

    let versions = SecretsExtension::new(endpoint, ARN, TOKEN)
        .fetch()
        .await
        .unwrap();

    assert!(versions.previous.is_empty());
}

#[tokio::test]
async fn any_refusal_of_awsprevious_means_no_previous_version_but_awscurrent_is_mandatory() {
    let current = root();
    for status in ["refuse:400", "refuse:403", "refuse:404", "refuse:500"] {
        let endpoint = fake_extension(&[("AWSCURRENT", &current), ("AWSPREVIOUS", status)]).await;

        let versions = SecretsExtension::new(endpoint, ARN, TOKEN)
            .fetch()
            .await
            .unwrap();

        assert!(versions.previous.is_empty(), "{status}");
        assert!(versions.key_set(Algorithm::Es256).is_ok(), "{status}");
    }

    let endpoint = fake_extension(&[("AWSCURRENT", "refuse:500"), ("AWSPREVIOUS", &current)]).await;
    let err = SecretsExtension::new(endpoint, ARN, TOKEN)
        .fetch()
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("AWSCURRENT"), "{err}");
    assert!(err.to_string().contains("http 500"), "{err}");
    assert!(!err.to_string().contains("worded"), "{err}");
}

#[tokio::test]
async fn a_refusal_is_an_error_that_does_not_echo_the_answer() {
    let current = root();
    let endpoint = fake_extension(&[("AWSCURRENT", &current)]).await;

    let err = SecretsExtension::new(endpoint, ARN, "wrong-token")
        .fetch()
        .await
        .err()
        .unwrap();

    assert!(matches!(err, KeysError::SecretsManager(_)));
    assert!(err.to_string().contains("http 401"), "{err}");
    assert!(!err.to_string().contains("not authorized"));
}

#[tokio::test]
async fn an_unreachable_extension_is_an_error() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = SecretsExtension::new(format!("http://127.0.0.1:{port}"), ARN, TOKEN)
        .fetch()
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[test]
fn key_secret_arn_selects_the_extension_and_needs_the_session_token() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let source = KeySource::from_lookup(env(&[
        ("KEY_SECRET_ARN", ARN),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("KEY_FILE", "/ignored"),
    ]))
    .unwrap();
    assert!(matches!(source, KeySource::Extension(_)));
    let debug = match source {
        KeySource::Extension(e) => format!("{e:?}"),
        _ => unreachable!(),
    };
    assert!(!debug.contains(TOKEN), "{debug}");

    let err = KeySource::from_lookup(env(&[("KEY_SECRET_ARN", ARN)]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("AWS_SESSION_TOKEN"), "{err}");
}

//! GET /.well-known/jwks.json and /.well-known/openid-configuration, and routing (docs/API.md).

use tessera_store::Store;

use crate::helpers::*;

store_tests!(
    jwks_200_public_keys_only_and_they_verify_our_access_tokens,
    openid_configuration_200_names_issuer_keys_and_endpoints,
    unknown_path_404_and_wrong_method_405_with_allow,
);

async fn jwks_200_public_keys_only_and_they_verify_our_access_tokens<S: Store>(h: Harness<S>) {
    h.add_user("alice", "pw", "").await;
    let t = h.login("alice", "pw").await;
    let resp = h
        .call(rest_event("GET", "/.well-known/jwks.json", &[], None, None))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(resp.header("cache-control").unwrap().starts_with("public"));
    let body = resp.json();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{body}");
    let key = &keys[0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key["x"].is_string() && key["y"].is_string());
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(
            key.get(private).is_none(),
            "no private part {private}: {body}"
        );
    }
    // Anyone holding only this document verifies our access tokens, and never a refresh token.
    let policy = tessera_token::VerifyPolicy::new(ISSUER, AUDIENCE);
    let verifier = tessera_token::AccessVerifier::from_jwks(&resp.text(), policy).unwrap();
    assert!(verifier.verify(&t.access_token, h.now()).is_ok());
    assert!(verifier.verify(&t.refresh_token, h.now()).is_err());
}

async fn openid_configuration_200_names_issuer_keys_and_endpoints<S: Store>(h: Harness<S>) {
    let resp = h
        .call(rest_event(
            "GET",
            "/.well-known/openid-configuration",
            &[],
            None,
            None,
        ))
        .await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("cache-control").unwrap().starts_with("public"));
    let doc = resp.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/auth/login"));
    assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/auth/logout"));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["password", "refresh_token"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert!(doc["response_types_supported"].is_array());
}

async fn unknown_path_404_and_wrong_method_405_with_allow<S: Store>(h: Harness<S>) {
    let resp = h.call(rest_event("GET", "/nope", &[], None, None)).await;
    resp.assert_error(404, "not_found");
    for (method, path, allow) in [
        ("GET", "/auth/login", "POST"),
        ("PUT", "/auth/refresh", "POST"),
        ("GET", "/auth/logout", "POST"),
        ("POST", "/auth/sessions", "GET, DELETE"),
        ("GET", "/auth/sessions/abc", "DELETE"),
        ("POST", "/.well-known/jwks.json", "GET"),
        ("DELETE", "/me", "GET"),
    ] {
        let resp = h.call(rest_event(method, path, &[], None, None)).await;
        resp.assert_error(405, "invalid_request");
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
    }
}

/// Every access token algorithm works end to end: login, refresh, JWKS, discovery. HS256 keys
/// are secret, so its JWKS publishes nothing.
#[tokio::test]
async fn every_algorithm_logs_in_refreshes_and_publishes_matching_metadata() {
    use tessera_token::{Algorithm, KeySet, SecretValue};

    for alg in Algorithm::ALL {
        let secret = match alg {
            Algorithm::Rs256 => SecretValue::generate_with_rsa().unwrap(),
            _ => SecretValue::generate(),
        };
        let h = sqlite_with_keys(KeySet::from_secrets(alg, &secret, &[]).unwrap());

        h.add_user("alice", "pw", "").await;
        let t = h.login("alice", "pw").await;
        assert_eq!(h.refresh(&t.refresh_token).await.status, 200, "{alg:?}");
        let doc = h
            .call(rest_event(
                "GET",
                "/.well-known/openid-configuration",
                &[],
                None,
                None,
            ))
            .await
            .json();
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!([alg.as_str()])
        );
        let jwks = h
            .call(rest_event("GET", "/.well-known/jwks.json", &[], None, None))
            .await
            .json();
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        if alg == Algorithm::Hs256 {
            assert!(published.is_empty(), "{jwks}");
        } else {
            assert_eq!(published, [alg.as_str()]);
        }
    }
}

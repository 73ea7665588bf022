//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration` (docs/API.md).

use std::time::{Duration, Instant};

use crate::helpers::{BOUND, Backend, TestUser, decode, spawn_serve};

both_backends!(
    jwks_has_only_public_parameters_and_the_access_tokens_kid,
    openid_configuration_names_the_issuer_and_jwks_uri,
    keys_rotated_under_a_running_server_are_published_and_sign_within_the_interval,
);

/// Gives a running server re-reading its keys every second (KEY_RELOAD_INTERVAL=1); rotates
/// the key file with `tessera keys rotate`, as an operator would; expects the JWKS to show
/// the new key first (the old one still there, still verifying) and logins to sign with it,
/// without any token naming the new kid first.
async fn keys_rotated_under_a_running_server_are_published_and_sign_within_the_interval(
    backend: Backend,
) {
    let server = spawn_serve(backend, &[("KEY_RELOAD_INTERVAL", "1")]).await;
    let user = TestUser::generate(&server).await;
    let kids = |server_reply: serde_json::Value| -> Vec<String> {
        server_reply["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = kids(server.get("/.well-known/jwks.json", None).await.json());
    let (header, _) = decode(&user.login(&server).await.access);
    assert_eq!(before, [header["kid"].as_str().unwrap().to_owned()]);

    server
        .admin_data(&["keys", "rotate"], &[])
        .await
        .assert_success();

    let started = Instant::now();
    let new_kid = loop {
        let now = kids(server.get("/.well-known/jwks.json", None).await.json());
        if now.len() == 2 {
            assert_eq!(now[1], before[0], "the old key still verifies: {now:?}");
            break now[0].clone();
        }
        assert!(
            started.elapsed() < BOUND,
            "the server never published the new key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let started = Instant::now();
    loop {
        let (header, _) = decode(&user.login(&server).await.access);
        if header["kid"] == new_kid.as_str() {
            break;
        }
        assert!(
            started.elapsed() < BOUND,
            "the server never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Gives a server (ES256, then EdDSA, RS256 and HS256); fetches the JWKS; expects only public
/// members (`kty`, `kid`, `alg`, `use: sig` and the curve or modulus fields, never `d`, `k`,
/// `p`, `q`, ...), and the kid of a freshly issued access token among them (none for HS256,
/// whose key is secret).
async fn jwks_has_only_public_parameters_and_the_access_tokens_kid(backend: Backend) {
    for alg in ["ES256", "EdDSA", "RS256", "HS256"] {
        let server = spawn_serve(backend, &[("ACCESS_TOKEN_ALG", alg)]).await;
        let user = TestUser::generate(&server).await;
        let tokens = user.login(&server).await;

        let reply = server.get("/.well-known/jwks.json", None).await;

        assert_eq!(reply.status, 200, "{}", reply.body);
        let jwks = reply.json();
        let keys = jwks["keys"].as_array().unwrap();
        let allowed = ["kty", "kid", "alg", "use", "crv", "x", "y", "n", "e"];
        for key in keys {
            for member in key.as_object().unwrap().keys() {
                assert!(
                    allowed.contains(&member.as_str()),
                    "{alg}: JWKS member {member:?} is not a public parameter: {key}"
                );
            }
            assert_eq!(key["use"], "sig");
            assert_eq!(key["alg"], alg);
            assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
        }
        let (header, _) = decode(&tokens.access);
        assert_eq!(header["alg"], alg);
        assert_eq!(header["typ"], "at+jwt");
        let (refresh_header, _) = decode(&tokens.refresh);
        if alg == "HS256" {
            assert!(keys.is_empty(), "an HS256 key is secret: {jwks}");
        } else {
            assert!(
                keys.iter().any(|k| k["kid"] == header["kid"]),
                "{alg}: the access token's kid is not in the JWKS: {jwks}"
            );
        }
        assert!(
            keys.iter().all(|k| k["kid"] != refresh_header["kid"]),
            "the refresh key's id is published"
        );
    }
}

/// Gives a server on its default issuer, and one with ISSUER set; fetches the discovery
/// document; expects the issuer that tokens carry and `jwks_uri` under it, which serves the
/// JWKS.
async fn openid_configuration_names_the_issuer_and_jwks_uri(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    let reply = server.get("/.well-known/openid-configuration", None).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let doc = reply.json();
    assert_eq!(doc["issuer"], server.base.as_str());
    assert_eq!(decode(&tokens.access).1["iss"], doc["issuer"]);
    let jwks_uri = doc["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, format!("{}/.well-known/jwks.json", server.base));
    let jwks = server.http.get(jwks_uri).send().await.unwrap();
    assert_eq!(jwks.status(), 200);
    assert_eq!(doc["token_endpoint"], format!("{}/auth/login", server.base));

    let custom = spawn_serve(backend, &[("ISSUER", "https://auth.example.test/prod")]).await;
    let doc = custom
        .get("/.well-known/openid-configuration", None)
        .await
        .json();
    assert_eq!(doc["issuer"], "https://auth.example.test/prod");
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.test/prod/.well-known/jwks.json"
    );
}

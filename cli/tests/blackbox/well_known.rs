//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration` (docs/API.md).

use std::time::{Duration, Instant};

use crate::helpers::{BOUND, Backend, TestUser, Tokens, decode, read_reply, spawn_serve};

both_backends!(
    keys_rotated_under_a_running_server_are_published_and_sign_within_the_interval,
    an_oauth_client_refreshes_at_the_discovered_token_endpoint,
);

sqlite_only!(openid_configuration_names_the_issuer_and_jwks_uri,);

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

/// Gives a logged-in user; does what an ordinary OAuth client does: reads `token_endpoint`
/// from the discovery document and sends `grant_type=refresh_token` there as a form (RFC 6749
/// §6); expects 200 with a new pair in the same one session, whose access token works and
/// whose refresh token refreshes in turn.
async fn an_oauth_client_refreshes_at_the_discovered_token_endpoint(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;
    let doc = server
        .get("/.well-known/openid-configuration", None)
        .await
        .json();
    let token_endpoint = doc["token_endpoint"].as_str().unwrap().to_owned();

    let request = server
        .http
        .post(&token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            tokens.refresh
        ));
    let reply = read_reply(request.send().await.unwrap()).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let next = Tokens::from_reply(&reply);
    assert_ne!(next.refresh, tokens.refresh);
    assert_eq!(next.sid(), tokens.sid());
    assert_eq!(
        server.session_list(&user.username).await,
        vec![tokens.sid()]
    );
    assert_eq!(server.get("/me", Some(&next.access)).await.status, 200);
    assert_eq!(server.refresh(&next.refresh).await.status, 200);
}

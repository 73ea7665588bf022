//! The admin commands, run while `tessera serve` runs on the same store: users, sessions,
//! token inspection, key rotation, the one-shot authorizer, and `--help`.

use serde_json::Value;

use crate::helpers::{tamper_signature, 
    Backend, Printed, TestUser, Tokens, assert_oauth_error, assert_token_response, decode,
    run, spawn_serve, tessera_command,
};

both_backends!(
    admin_user_add_refuses_an_existing_username,
    admin_user_add_refuses_a_short_password,
    admin_user_list_shows_users_while_serve_runs,
    admin_user_disable_makes_login_invalid_grant_and_revokes_sessions,
    admin_user_set_password_revokes_sessions,
    admin_session_revoke_kills_that_refresh_token,
    admin_token_inspect_says_valid_or_why_not,
    admin_keys_rotate_while_serving_keeps_earlier_tokens_valid,
    admin_authorize_rest_token_event_prints_an_allow_policy,
);

/// Gives an existing user; adds the same name again (typed in another case); expects a
/// non-zero exit, "already exists" on stderr, and the original password still working.
async fn admin_user_add_refuses_an_existing_username(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;

    let again = server
        .admin(
            &["user", "add", &user.username.to_uppercase(), "--password-stdin"],
            Some("another long password"),
        )
        .await
        .assert_failure();

    assert!(
        again.stderr.contains(&format!("user {} already exists", user.username)),
        "{}",
        again.stderr
    );
    user.login(&server).await;
    let wrong = server.login(&user.username, "another long password").await;
    assert_oauth_error(&wrong, 400, "invalid_grant");
}

/// Gives a seven-character password (and an empty one) on stdin; expects a non-zero exit,
/// a message naming the minimum, the password not echoed, and no user created.
async fn admin_user_add_refuses_a_short_password(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;

    for password in ["short12", ""] {
        let printed = server
            .admin(&["user", "add", "bob", "--password-stdin"], Some(password))
            .await
            .assert_failure();
        assert!(
            printed.stderr.contains("password must be at least 8 characters"),
            "{}",
            printed.stderr
        );
        if !password.is_empty() {
            assert!(!printed.stderr.contains(password));
            assert!(!printed.stdout.contains(password));
        }
    }
    let list = server.admin(&["user", "list"], None).await.assert_success();
    assert!(!list.stdout.contains("bob"), "{}", list.stdout);
}

/// Gives two users added while the server runs; lists users; expects both with their
/// status and scope.
async fn admin_user_list_shows_users_while_serve_runs(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let a = TestUser::generate(&server).await;
    let b = TestUser::generate_with_scope(&server, "profile admin").await;
    server
        .admin(&["user", "disable", &b.username], None)
        .await
        .assert_success();

    let list = server.admin(&["user", "list"], None).await.assert_success();

    let line = |name: &str| {
        list.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not listed: {}", list.stdout))
            .to_owned()
    };
    assert!(line(&a.username).contains("active"));
    assert!(line(&a.username).ends_with("profile"));
    assert!(line(&b.username).contains("disabled"));
    assert!(line(&b.username).ends_with("profile admin"));
}

/// Gives a user with a session; runs `user disable`; expects login to fail with the one
/// `invalid_grant`, the refresh token refused, no live sessions; `user enable` lets them back.
async fn admin_user_disable_makes_login_invalid_grant_and_revokes_sessions(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    let printed = server
        .admin(&["user", "disable", &user.username], None)
        .await
        .assert_success();

    assert!(printed.stdout.contains("disabled"), "{}", printed.stdout);
    assert_oauth_error(
        &server.login(&user.username, &user.password).await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(&server.refresh(&tokens.refresh).await, 400, "invalid_grant");
    assert!(server.session_list(&user.username).await.is_empty());

    server
        .admin(&["user", "enable", &user.username], None)
        .await
        .assert_success();
    user.login(&server).await;
    let missing = server
        .admin(&["user", "disable", "no-such-user"], None)
        .await
        .assert_failure();
    assert!(missing.stderr.contains("no user no-such-user"), "{}", missing.stderr);
}

/// Gives a user with two sessions; runs `user set-password`; expects both refresh tokens
/// refused, the old password refused, the new one accepted.
async fn admin_user_set_password_revokes_sessions(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let a = user.login(&server).await;
    let b = user.login(&server).await;
    let new_password = "a brand new long password";

    let printed = server
        .admin(
            &["user", "set-password", &user.username, "--password-stdin"],
            Some(new_password),
        )
        .await
        .assert_success();

    assert!(!printed.stdout.contains(new_password));
    for tokens in [&a, &b] {
        assert_oauth_error(&server.refresh(&tokens.refresh).await, 400, "invalid_grant");
    }
    assert!(server.session_list(&user.username).await.is_empty());
    assert_oauth_error(
        &server.login(&user.username, &user.password).await,
        400,
        "invalid_grant",
    );
    assert_token_response(&server.login(&user.username, new_password).await);
}

/// Gives a user with two sessions; runs `session revoke SID` for one; expects that refresh
/// token refused and the other still good; revoking it again changes nothing and succeeds.
async fn admin_session_revoke_kills_that_refresh_token(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let victim = user.login(&server).await;
    let other = user.login(&server).await;

    let printed = server
        .admin(&["session", "revoke", &victim.sid()], None)
        .await
        .assert_success();

    assert!(printed.stdout.contains("revoked session"), "{}", printed.stdout);
    assert_oauth_error(&server.refresh(&victim.refresh).await, 400, "invalid_grant");
    assert_token_response(&server.refresh(&other.refresh).await);
    assert_eq!(server.session_list(&user.username).await, vec![other.sid()]);
    let again = server
        .admin(&["session", "revoke", &victim.sid()], None)
        .await
        .assert_success();
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
}

/// Gives an access token, a refresh token, the access token with a flipped signature and
/// garbage; runs `token inspect`; expects "valid access token" / "valid refresh token" for
/// the good ones, and a non-zero exit that says why for the bad ones.
async fn admin_token_inspect_says_valid_or_why_not(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = TestUser::generate(&server).await.login(&server).await;
    let flipped = tamper_signature(&tokens.access);

    let access = server
        .admin_data(&["token", "inspect", &tokens.access], &[])
        .await
        .assert_success();
    let refresh = server
        .admin_data(&["token", "inspect", &tokens.refresh], &[])
        .await
        .assert_success();
    let bad = server
        .admin_data(&["token", "inspect", &flipped], &[])
        .await
        .assert_failure();
    let garbage = server
        .admin_data(&["token", "inspect", "garbage"], &[])
        .await
        .assert_failure();

    assert!(access.stdout.contains("verified: a valid access token"), "{}", access.stdout);
    assert!(access.stdout.contains("\"typ\":\"at+jwt\""), "{}", access.stdout);
    assert!(refresh.stdout.contains("verified: a valid refresh token"), "{}", refresh.stdout);
    assert!(bad.stderr.contains("token does not verify"), "{}", bad.stderr);
    assert!(bad.stderr.contains("signature"), "{}", bad.stderr);
    assert!(garbage.stderr.contains("not a JWT"), "{}", garbage.stderr);
}

/// Gives a running server and an access token; runs `keys rotate`; expects the token still
/// accepted at /me, then, after a restart on the new key file, the old token still accepted,
/// new tokens under a new kid, and the JWKS publishing both kids.
async fn admin_keys_rotate_while_serving_keeps_earlier_tokens_valid(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let before = user.login(&server).await;
    let old_kid = decode(&before.access).0["kid"].clone();

    let printed = server
        .admin_data(&["keys", "rotate"], &[])
        .await
        .assert_success();

    assert!(printed.stdout.contains("new current key"), "{}", printed.stdout);
    assert_eq!(server.get("/me", Some(&before.access)).await.status, 200);
    let server = server.restart().await;
    assert_eq!(server.get("/me", Some(&before.access)).await.status, 200);
    let after = user.login(&server).await;
    let new_kid = decode(&after.access).0["kid"].clone();
    assert_ne!(new_kid, old_kid);
    assert_eq!(server.get("/me", Some(&after.access)).await.status, 200);
    let jwks = server.get("/.well-known/jwks.json", None).await.json();
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.first(), Some(&&new_kid), "current key first: {jwks}");
    assert!(kids.contains(&&old_kid), "{jwks}");
    // The refresh token from before the rotation still refreshes.
    assert_token_response(&server.refresh(&before.refresh).await);
}

/// Gives events/authorizer-rest-token.json with a real access token substituted; runs
/// `tessera authorize --event FILE` (ISSUER set to the server's, as on the server); expects
/// an IAM Allow policy for the token's subject with the context; a garbage token prints
/// `Unauthorized`.
async fn admin_authorize_rest_token_event_prints_an_allow_policy(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens: Tokens = TestUser::generate(&server).await.login(&server).await;
    let template = include_str!("../../../events/authorizer-rest-token.json");
    assert!(template.contains("PLACEHOLDER"));
    let good = server.dir().join("event-good.json");
    let bad = server.dir().join("event-bad.json");
    std::fs::write(&good, template.replace("PLACEHOLDER", &tokens.access)).unwrap();
    std::fs::write(&bad, template.replace("PLACEHOLDER", "garbage")).unwrap();
    let issuer = server.issuer();
    let env = [("ISSUER", issuer.as_str())];

    let allowed = server
        .admin_data(&["authorize", "--event", good.to_str().unwrap()], &env)
        .await
        .assert_success();
    let refused = server
        .admin_data(&["authorize", "--event", bad.to_str().unwrap()], &env)
        .await;

    let policy: Value = serde_json::from_str(&allowed.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", allowed.stdout));
    let (_, claims) = decode(&tokens.access);
    assert_eq!(policy["principalId"], claims["sub"]);
    let statement = &policy["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow", "{policy}");
    assert_eq!(statement["Action"], "execute-api:Invoke", "{policy}");
    assert_eq!(policy["context"]["sub"], claims["sub"]);
    assert_eq!(policy["context"]["sid"], claims["sid"]);
    assert_eq!(policy["context"]["jti"], claims["jti"]);
    assert_eq!(policy["context"]["scope"], "profile");
    assert!(allowed.stderr.contains("verdict: allow"), "{}", allowed.stderr);
    assert!(refused.stdout.contains("Unauthorized"), "{}", refused.stdout);
    assert!(!refused.stdout.contains("Allow"), "{}", refused.stdout);
}

/// Gives every command; runs it with `--help`; expects an `Example:` with that very command.
#[tokio::test]
async fn admin_help_on_every_command_shows_an_example() {
    let commands: [&[&str]; 12] = [
        &["serve"],
        &["user", "add"],
        &["user", "list"],
        &["user", "disable"],
        &["user", "enable"],
        &["user", "set-password"],
        &["session", "list"],
        &["session", "revoke"],
        &["token", "inspect"],
        &["keys", "rotate"],
        &["keys", "generate"],
        &["authorize"],
    ];
    for command in commands {
        let mut cmd = tessera_command(&[]);
        cmd.args(command).arg("--help");
        let printed: Printed = run(cmd, None).await.into();
        let printed = printed.assert_success();
        let example = format!("tessera {}", command.join(" "));
        assert!(
            printed.stdout.contains("Example:") && printed.stdout.contains(&example),
            "`{example} --help` shows no example:\n{}",
            printed.stdout
        );
    }
}

//! The admin commands, run while `tessera serve` runs on the same store: users, sessions,
//! token inspection, key rotation, the one-shot authorizer, and `--help`.

use serde_json::Value;
use tessera_token::random_id;

use crate::helpers::{
    Backend, Printed, Server, TempDir, TestUser, Tokens, assert_oauth_error, assert_token_response,
    decode, run, spawn_serve, tamper_signature, tessera_command, unix_now,
};

both_backends!(
    admin_user_add_refuses_an_existing_username,
    admin_user_add_refuses_a_short_password,
    admin_user_list_shows_users_while_serve_runs,
    admin_user_disable_makes_login_invalid_grant_and_revokes_sessions,
    admin_user_set_password_revokes_sessions,
    admin_session_revoke_kills_that_refresh_token,
    admin_token_inspect_says_valid_or_why_not,
    admin_token_inspect_dash_reads_the_token_from_stdin,
    admin_keys_rotate_while_serving_keeps_earlier_tokens_valid,
    admin_keys_rotate_tokens_signed_with_the_new_key_pass_without_a_restart,
    admin_authorize_rest_token_and_request_events_print_an_allow_policy,
    admin_authorize_http_v2_event_prints_is_authorized,
);

/// Gives an existing user; adds the same name again (typed in another case); expects a
/// non-zero exit, "already exists" on stderr, and the original password still working.
async fn admin_user_add_refuses_an_existing_username(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;

    let again = server
        .admin(
            &[
                "user",
                "add",
                &user.username.to_uppercase(),
                "--password-stdin",
            ],
            Some("another long password"),
        )
        .await
        .assert_failure();

    assert!(
        again
            .stderr
            .contains(&format!("user {} already exists", user.username)),
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
            printed
                .stderr
                .contains("password must be at least 8 characters"),
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
    assert!(
        missing.stderr.contains("no user no-such-user"),
        "{}",
        missing.stderr
    );
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
/// token refused and the other still good; revoking it again, or a sid that begins with `-`,
/// changes nothing and succeeds.
async fn admin_session_revoke_kills_that_refresh_token(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let victim = user.login(&server).await;
    let other = user.login(&server).await;

    let printed = server
        .admin(&["session", "revoke", &victim.sid()], None)
        .await
        .assert_success();

    assert!(
        printed.stdout.contains("revoked session"),
        "{}",
        printed.stdout
    );
    assert_oauth_error(&server.refresh(&victim.refresh).await, 400, "invalid_grant");
    assert_token_response(&server.refresh(&other.refresh).await);
    assert_eq!(server.session_list(&user.username).await, vec![other.sid()]);
    let again = server
        .admin(&["session", "revoke", &victim.sid()], None)
        .await
        .assert_success();
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
    // A sid is base64url, so one in 64 begins with `-`: it is an id, not an option.
    let hyphen = server
        .admin(&["session", "revoke", "-nAAAAAAAAAAAAAAAAAAAAA"], None)
        .await
        .assert_success();
    assert!(
        hyphen.stdout.contains("nothing changed"),
        "{}",
        hyphen.stdout
    );
    assert_eq!(server.session_list(&user.username).await, vec![other.sid()]);
}

/// Gives an access token on standard input (with the newline `echo` adds), a tampered one,
/// and nothing; runs `token inspect -`; expects "valid access token" for the first, the
/// signature named for the second, a clear error for empty input, and never the token on
/// the command line.
async fn admin_token_inspect_dash_reads_the_token_from_stdin(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = TestUser::generate(&server).await.login(&server).await;
    let inspect = |stdin: String| {
        let mut command = tessera_command(&[]);
        command
            .args(["token", "inspect", "-", "--data"])
            .arg(&server.store.data);
        async move { Printed::from(run(command, Some(&stdin)).await) }
    };

    let valid = inspect(format!("{}\n", tokens.access))
        .await
        .assert_success();
    let bad = inspect(tamper_signature(&tokens.access))
        .await
        .assert_failure();
    let empty = inspect(String::new()).await.assert_failure();

    assert!(
        valid.stdout.contains("verified: a valid access token"),
        "{}",
        valid.stdout
    );
    assert!(bad.stderr.contains("signature"), "{}", bad.stderr);
    assert!(empty.stderr.contains("standard input"), "{}", empty.stderr);
}

/// Gives an access token, a refresh token, the access token with a flipped signature,
/// garbage and a correctly signed token that expired an hour ago; runs `token inspect`; expects "valid access token" / "valid refresh token" for
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
    let minter = server.minter();
    let mut claims = minter.access_claims(&tokens.sub(), &tokens.sid(), "profile");
    claims.iat = unix_now() - 7200;
    claims.nbf = claims.iat;
    claims.exp = unix_now() - 3600;
    let expired = server
        .admin_data(&["token", "inspect", &minter.access(&claims)], &[])
        .await
        .assert_failure();

    assert!(
        access.stdout.contains("verified: a valid access token"),
        "{}",
        access.stdout
    );
    assert!(
        access.stdout.contains("\"typ\":\"at+jwt\""),
        "{}",
        access.stdout
    );
    assert!(
        refresh.stdout.contains("verified: a valid refresh token"),
        "{}",
        refresh.stdout
    );
    assert!(
        bad.stderr.contains("token does not verify"),
        "{}",
        bad.stderr
    );
    assert!(bad.stderr.contains("signature"), "{}", bad.stderr);
    assert!(garbage.stderr.contains("not a JWT"), "{}", garbage.stderr);
    assert!(
        expired.stderr.contains("token expired"),
        "{}",
        expired.stderr
    );
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

    assert!(
        printed.stdout.contains("new current key"),
        "{}",
        printed.stdout
    );
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
    // The refresh token from before the rotation still refreshes, and a replay within the
    // grace window still gets the identical successor under the new key set.
    let successor = Tokens::from_reply(&server.refresh(&before.refresh).await);
    let replay = Tokens::from_reply(&server.refresh(&before.refresh).await);
    assert_eq!(replay.refresh, successor.refresh);
}

/// Gives a running server and `keys rotate`; presents an access token signed with the new
/// current key (as a second instance started after the rotation signs it: on AWS, a login
/// function that cold-started after the secret rotated); expects /me to answer 200 — the
/// authorizer meets an unknown kid and reloads the key file (DESIGN: "A function that meets
/// an unknown kid reloads the secret, at most once a minute").
async fn admin_keys_rotate_tokens_signed_with_the_new_key_pass_without_a_restart(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens = TestUser::generate(&server).await.login(&server).await;
    server
        .admin_data(&["keys", "rotate"], &[])
        .await
        .assert_success();
    let minter = server.minter();
    let claims = minter.access_claims(&tokens.sub(), &tokens.sid(), "profile");
    let from_new_key = minter.access(&claims);
    assert_ne!(
        decode(&from_new_key).0["kid"],
        decode(&tokens.access).0["kid"]
    );

    let reply = server.get("/me", Some(&from_new_key)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.get("/me", Some(&tokens.access)).await.status, 200);
}

/// Writes `template` with the whole `Authorization` value set to `Bearer <token>`, runs
/// `tessera authorize --event FILE` on the server's key file (ISSUER set to the server's, as
/// for the server itself), and returns what it printed.
async fn authorize(server: &Server, name: &str, template: &str, token: &str) -> Printed {
    assert!(template.contains("Bearer PLACEHOLDER"), "{name}");
    let path = server.dir().join(format!("{name}-{}.json", random_id()));
    std::fs::write(&path, template.replace("PLACEHOLDER", token)).unwrap();
    let issuer = server.issuer();
    server
        .admin_data(
            &["authorize", "--event", path.to_str().unwrap()],
            &[("ISSUER", issuer.as_str())],
        )
        .await
}

fn json_out(printed: &Printed) -> Value {
    serde_json::from_str(&printed.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", printed.stdout))
}

/// Gives events/authorizer-rest-token.json and events/authorizer-rest-request.json (REST API
/// TOKEN and REQUEST authorizers) with a real access token; runs `tessera authorize`; expects
/// an IAM Allow policy for the token's subject with sub, sid, scope and jti in the context;
/// with a garbage token, the error `Unauthorized` (API Gateway's 401) and no policy.
async fn admin_authorize_rest_token_and_request_events_print_an_allow_policy(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens: Tokens = TestUser::generate(&server).await.login(&server).await;
    let (_, claims) = decode(&tokens.access);

    for (name, template) in [
        (
            "rest-token",
            include_str!("../../../events/authorizer-rest-token.json"),
        ),
        (
            "rest-request",
            include_str!("../../../events/authorizer-rest-request.json"),
        ),
    ] {
        let allowed = authorize(&server, name, template, &tokens.access)
            .await
            .assert_success();
        let refused = authorize(&server, name, template, "garbage").await;

        let policy = json_out(&allowed);
        assert_eq!(policy["principalId"], claims["sub"], "{name}");
        let statement = &policy["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Allow", "{name}: {policy}");
        assert_eq!(
            statement["Action"], "execute-api:Invoke",
            "{name}: {policy}"
        );
        for key in ["sub", "sid", "jti"] {
            assert_eq!(policy["context"][key], claims[key], "{name}: {policy}");
        }
        assert_eq!(policy["context"]["scope"], "profile");
        assert!(
            allowed.stderr.contains("verdict: allow"),
            "{}",
            allowed.stderr
        );
        assert!(
            refused.stdout.contains("Unauthorized"),
            "{name}: {}",
            refused.stdout
        );
        assert!(
            !refused.stdout.contains("Allow"),
            "{name}: {}",
            refused.stdout
        );
    }
}

/// Gives events/authorizer-http-v2.json (HTTP API, payload 2.0, simple responses) with a real
/// access token, then with garbage and with the refresh token; runs `tessera authorize`;
/// expects `{"isAuthorized": true, "context": {sub, sid, scope, jti, ..}}`, then
/// `isAuthorized: false` with no identity in the context.
async fn admin_authorize_http_v2_event_prints_is_authorized(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let tokens: Tokens = TestUser::generate(&server).await.login(&server).await;
    let (_, claims) = decode(&tokens.access);
    let template = include_str!("../../../events/authorizer-http-v2.json");

    let allowed = authorize(&server, "http-v2", template, &tokens.access)
        .await
        .assert_success();
    let answer = json_out(&allowed);
    assert_eq!(answer["isAuthorized"], true, "{answer}");
    for key in ["sub", "sid", "jti"] {
        assert_eq!(answer["context"][key], claims[key], "{answer}");
    }
    assert_eq!(answer["context"]["scope"], "profile");

    for bad in ["garbage", tokens.refresh.as_str()] {
        let refused = authorize(&server, "http-v2", template, bad).await;
        let answer = json_out(&refused);
        assert_eq!(answer["isAuthorized"], false, "{answer}");
        assert!(answer["context"]["sub"].is_null(), "{answer}");
    }
}

/// Gives a data folder where `tessera serve` never ran (no key file); runs every command that
/// reads the keys; expects each to exit non-zero naming the missing file and what creates it,
/// and the folder still empty: no admin command makes a key file of its own.
#[tokio::test]
async fn admin_key_commands_without_a_key_file_say_so_and_create_none() {
    let data = TempDir::new("no-keys");
    let events = TempDir::new("no-keys-event");
    let event = events.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"type":"TOKEN","authorizationToken":"Bearer a.b.c","methodArn":"arn:aws:execute-api:us-east-1:1:a/p/GET/me"}"#,
    )
    .unwrap();
    let data_arg = data.path().to_str().unwrap();
    let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln";
    let commands: [&[&str]; 3] = [
        &["keys", "rotate", "--data", data_arg],
        &["token", "inspect", token, "--data", data_arg],
        &[
            "authorize",
            "--event",
            event.to_str().unwrap(),
            "--data",
            data_arg,
        ],
    ];
    for command in commands {
        let mut cmd = tessera_command(&[]);
        cmd.args(command);
        let printed: Printed = run(cmd, None).await.into();
        let printed = printed.assert_failure();
        assert!(
            printed.stderr.contains("no key file at")
                && printed.stderr.contains(data_arg)
                && printed
                    .stderr
                    .contains("tessera serve creates it on first start"),
            "`tessera {}`: {}",
            command.join(" "),
            printed.stderr
        );
        let left: Vec<_> = std::fs::read_dir(data.path()).unwrap().collect();
        assert!(
            left.is_empty(),
            "`tessera {}` wrote {left:?}",
            command.join(" ")
        );
    }
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

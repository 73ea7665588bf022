//! `tessera serve` as a process: restarts, start-up errors, `--upstream`, SIGTERM, the
//! request log, and the gateway's answers for unknown routes.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    BOUND, Backend, Printed, ServeOptions, TempDir, TestUser, Tokens, assert_token_response,
    assert_unauthorized, run, run_within, spawn_serve, tessera_command,
};

both_backends!(serve_sessions_and_keys_survive_a_restart,);

/// `tessera serve --addr addr --data data` with `flags` and `env` more: a start the tests
/// below expect to fail.
fn serve_command(env: &[(String, String)], addr: &str, data: &Path, flags: &[&str]) -> Command {
    let mut command = tessera_command(env);
    command
        .args(["serve", "--addr", addr])
        .args(flags)
        .arg("--data")
        .arg(data);
    command
}

sqlite_only!(
    serve_upstream_gets_authorised_requests_with_context_headers,
    serve_upstream_is_not_called_for_a_bad_token,
    serve_sigterm_exits_gracefully_with_code_0,
    serve_sigterm_lets_a_request_in_flight_finish,
    serve_request_log_has_method_path_status_and_never_a_token,
    serve_an_undeclared_route_is_403_missing_authentication_token,
);

/// Gives a DynamoDB endpoint and a table that does not exist, without `--create-table`;
/// runs `tessera serve`; expects it to refuse to start (non-zero exit, an error naming the
/// table) rather than listen and answer 500 to every request.
#[tokio::test]
async fn serve_missing_dynamodb_table_without_create_table_fails_at_start() {
    let endpoint = crate::helpers::dynamodb_endpoint();
    let dir = TempDir::new("missing-table");
    let table = format!(
        "tessera-missing-{}",
        tessera_token::random_id().to_ascii_lowercase()
    );
    let command = serve_command(
        &[],
        "127.0.0.1:0",
        &dir.path().join("data"),
        &["--dynamodb-endpoint", &endpoint, "--table", &table],
    );

    // A server that starts anyway never exits: give it a few seconds, not the full bound.
    let printed: Printed = run_within(command, None, Duration::from_secs(10))
        .await
        .into();

    let printed = printed.assert_failure();
    assert!(printed.stderr.contains(&table), "{}", printed.stderr);
}

/// Gives a server with a logged-in user; stops it (SIGTERM) and starts it again on the same
/// data folder (and table); expects the refresh token from before to refresh, the access
/// token from before to pass /me, and the same signing key (kid) as before.
async fn serve_sessions_and_keys_survive_a_restart(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let before = user.login(&server).await;
    let jwks_before = server.get("/.well-known/jwks.json", None).await.json();

    let server = server.restart().await;

    assert_eq!(server.get("/me", Some(&before.access)).await.status, 200);
    let after = Tokens::from_reply(&server.refresh(&before.refresh).await);
    assert_eq!(after.sid(), before.sid());
    assert_eq!(
        server.get("/.well-known/jwks.json", None).await.json(),
        jwks_before
    );
    assert_eq!(
        server.session_list(&user.username).await,
        vec![before.sid()]
    );
}

/// What the test upstream saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: String,
}

/// A small API on a free port that records every request and answers 201 with a marker.
async fn spawn_upstream() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let record = Arc::clone(&record);
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            record.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            (
                axum::http::StatusCode::CREATED,
                [("x-upstream", "yes")],
                "{\"from\":\"upstream\"}",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// Gives `--upstream` to a recording API and a request with a good token plus forged
/// `x-tessera-sub`/`x-tessera-scope` headers; expects the upstream's own answer back, and the
/// upstream to see the method, path, query and body, `x-tessera-sub`, `-sid`, `-scope`,
/// `-jti`, `-client_id` from the token, and none of the forged values.
async fn serve_upstream_gets_authorised_requests_with_context_headers(backend: Backend) {
    let (upstream, seen) = spawn_upstream().await;
    let server = ServeOptions::new(backend)
        .args(&["--upstream", &upstream])
        .spawn()
        .await;
    let tokens = TestUser::generate(&server).await.login(&server).await;
    let claims = crate::helpers::decode(&tokens.access).1;

    let reply = server
        .http
        .post(server.url("/orders/7?expand=items"))
        .bearer_auth(&tokens.access)
        .header("x-tessera-sub", "someone-else")
        .header("x-tessera-scope", "admin")
        .header("x-tessera-forged", "1")
        .header("content-type", "application/json")
        .body("{\"qty\":2}")
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), 201);
    assert_eq!(reply.headers()["x-upstream"], "yes");
    assert_eq!(reply.text().await.unwrap(), "{\"from\":\"upstream\"}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = &seen[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri, "/orders/7?expand=items");
    assert_eq!(request.body, "{\"qty\":2}");
    let one = |name: &str| -> String {
        let values: Vec<&str> = request
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(values.len(), 1, "{name}: {values:?}");
        values[0].to_owned()
    };
    assert_eq!(one("x-tessera-sub"), claims["sub"].as_str().unwrap());
    assert_eq!(one("x-tessera-sid"), claims["sid"].as_str().unwrap());
    assert_eq!(one("x-tessera-scope"), "profile");
    assert_eq!(one("x-tessera-jti"), claims["jti"].as_str().unwrap());
    assert_eq!(one("x-tessera-client_id"), "tessera");
    assert!(request.headers.get("x-tessera-forged").is_none());
}

/// Gives `--upstream` and requests with no token, garbage and a refresh token; expects the
/// gateway's 401 each time and the upstream never called.
async fn serve_upstream_is_not_called_for_a_bad_token(backend: Backend) {
    let (upstream, seen) = spawn_upstream().await;
    let server = ServeOptions::new(backend)
        .args(&["--upstream", &upstream])
        .spawn()
        .await;
    let tokens = TestUser::generate(&server).await.login(&server).await;

    for bearer in [None, Some("garbage"), Some(tokens.refresh.as_str())] {
        let reply = server.get("/orders/7", bearer).await;
        assert_unauthorized(&reply);
    }

    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(
        server.get("/orders/7", Some(&tokens.access)).await.status,
        201
    );
}

/// Gives a running server (no `--access-log`); sends it SIGTERM; expects a graceful exit with
/// code 0, and no per-request line in what it logged.
async fn serve_sigterm_exits_gracefully_with_code_0(backend: Backend) {
    let mut server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    user.login(&server).await;

    let status = server.terminate();

    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        server.stderr().contains("shutting down"),
        "{}",
        server.stderr()
    );
    assert!(
        !server.stderr().contains("status="),
        "access lines without --access-log:\n{}",
        server.stderr()
    );
}

/// Gives a login whose head has arrived (`Expect: 100-continue`, answered `100 Continue`, so
/// the handler is reading its body); sends SIGTERM, waits for the shutdown line, then sends
/// the body; expects the login answered 200 in full, exit code 0, and its session in the
/// store: a shutdown drops no request it had begun.
async fn serve_sigterm_lets_a_request_in_flight_finish(backend: Backend) {
    let mut server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let body =
        serde_json::json!({ "username": user.username, "password": user.password }).to_string();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /auth/login HTTP/1.1\r\nhost: tessera\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    tokio::time::timeout(BOUND, stream.read_exact(&mut interim))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");

    server.send_sigterm();
    server
        .wait_for_log(|line| line.contains("shutting down"))
        .await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();

    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\"refresh_token\":"), "{answer}");
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}");
    assert_eq!(server.session_list(&user.username).await.len(), 1);
}

/// Gives `--access-log`, a login, a refresh, /me with the token in the header and in the
/// query string, and a failed login; expects one log line per request with method, path and
/// status, and neither token nor password anywhere in stderr.
async fn serve_request_log_has_method_path_status_and_never_a_token(backend: Backend) {
    let server = ServeOptions::new(backend)
        .args(&["--access-log"])
        .spawn()
        .await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;
    let next = Tokens::from_reply(&server.refresh(&tokens.refresh).await);
    let me = server
        .get(
            &format!("/me?access_token={}", next.access),
            Some(&next.access),
        )
        .await;
    assert_eq!(me.status, 200);
    let failed = server.login(&user.username, "a wrong password here").await;
    assert_eq!(failed.status, 400);
    // Credentials in a query string are ignored by the service and must not reach the log.
    let query = server
        .post_json(
            &format!("/auth/login?password={}", user.password),
            &serde_json::json!({"username": user.username, "password": user.password}),
        )
        .await;
    assert_eq!(query.status, 200);
    // A refused token is logged by reason, never by value.
    let refused = crate::helpers::tamper_signature(&next.refresh);
    assert_eq!(server.refresh(&refused).await.status, 400);

    let has = |line: &str, method: &str, path: &str, status: &str| {
        line.contains(&format!("method={method}"))
            && line.contains(&format!("path={path}"))
            && line.contains(&format!("status={status}"))
    };
    server
        .wait_for_log(|l| has(l, "POST", "/auth/login", "200"))
        .await;
    server
        .wait_for_log(|l| has(l, "POST", "/auth/refresh", "200"))
        .await;
    server.wait_for_log(|l| has(l, "GET", "/me", "200")).await;
    server
        .wait_for_log(|l| has(l, "POST", "/auth/login", "400"))
        .await;

    let log = server.stderr();
    for secret in [
        tokens.access.as_str(),
        tokens.refresh.as_str(),
        next.access.as_str(),
        next.refresh.as_str(),
        user.password.as_str(),
        "a wrong password here",
        refused.as_str(),
    ] {
        assert!(!log.contains(secret), "stderr holds a secret:\n{log}");
        // Not even the signature part alone.
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "stderr holds a signature:\n{log}");
    }
}

/// Gives an unknown path, a known path with a method it does not declare, and a path below
/// a declared one; expects what a REST API answers for each: 403 "Missing Authentication
/// Token" with the request id (the template's DEFAULT_4XX), never a 404 that would map the API.
async fn serve_an_undeclared_route_is_403_missing_authentication_token(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;

    for (method, path) in [
        ("GET", "/nowhere"),
        ("GET", "/auth/login"),
        ("PUT", "/auth/sessions"),
        ("GET", "/auth/sessions/abc/def"),
    ] {
        let reply = server.call(method, path, None).await;

        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["message"], "Missing Authentication Token", "{body}");
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
}

/// Gives a port another socket already listens on; runs `tessera serve` there; expects a
/// non-zero exit and an error naming the address.
#[tokio::test]
async fn serve_port_taken_is_a_clear_error_and_nonzero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = TempDir::new("port-taken");
    let command = serve_command(&[], &addr, &dir.path().join("data"), &[]);

    let printed: Printed = run(command, None).await.into();

    let printed = printed.assert_failure();
    assert!(
        printed
            .stderr
            .contains(&format!("error: cannot listen on {addr}")),
        "{}",
        printed.stderr
    );
    drop(taken);
}

/// Gives a data folder that is a regular file, and one below a regular file (both fail even
/// for root, unlike a read-only directory); expects a non-zero exit and "data folder ... is not
/// writable" naming the path.
#[tokio::test]
async fn serve_data_folder_not_writable_is_a_clear_error_and_nonzero_exit() {
    let dir = TempDir::new("data-unwritable");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();

    for data in [file.clone(), file.join("below")] {
        let command = serve_command(&[], "127.0.0.1:0", &data, &[]);
        let printed: Printed = run(command, None).await.into();
        let printed = printed.assert_failure();
        assert!(
            printed.stderr.contains(&format!(
                "error: data folder {} is not writable",
                data.display()
            )),
            "{}",
            printed.stderr
        );
    }
}

/// Gives a fresh server; a login before and after the answer of `tessera user list`; expects
/// both to work while the command runs against the same store (no lock held by serve).
#[tokio::test]
async fn serve_and_admin_commands_share_the_sqlite_folder() {
    let server = spawn_serve(Backend::Sqlite, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens = user.login(&server).await;

    let list = server.admin(&["user", "list"], None).await.assert_success();

    assert!(list.stdout.contains(&user.username));
    assert_token_response(&server.refresh(&tokens.refresh).await);
}

/// Gives invalid values for configuration variables, one at a time; runs `tessera serve`;
/// expects a non-zero exit and an error naming the variable, before anything listens.
#[tokio::test]
async fn serve_invalid_configuration_fails_at_start_naming_the_variable() {
    let dir = TempDir::new("bad-config");
    for (name, value) in [
        ("ACCESS_TOKEN_TTL", "fifteen minutes"),
        ("ACCESS_TOKEN_TTL", "0"),
        ("REFRESH_REUSE_GRACE", "100000"),
        ("TOKEN_LEEWAY", "3600"),
        ("ACCESS_TOKEN_ALG", "none"),
        ("LOGIN_LOCKOUT_THRESHOLD", "-1"),
        ("AUTHORIZER_SCOPE_RULES", "this is not a rule"),
    ] {
        let env = [(name.to_owned(), value.to_owned())];
        let command = serve_command(&env, "127.0.0.1:0", &dir.path().join("data"), &[]);
        let printed: Printed = run(command, None).await.into();
        let printed = printed.assert_failure();
        assert!(
            printed.stderr.contains(name),
            "{name}={value}: {}",
            printed.stderr
        );
    }
}

/// Gives `--upstream` values the gateway cannot forward to (another scheme, a query, a
/// fragment, not a URL); runs `tessera serve`; expects a non-zero exit and an error naming
/// the flag and the value, before anything listens.
#[tokio::test]
async fn serve_refuses_an_upstream_it_cannot_forward_to_at_start() {
    let dir = TempDir::new("bad-upstream");
    for (base, says) in [
        (
            "ftp://127.0.0.1:9/",
            "must be an http or https URL without a query",
        ),
        (
            "http://127.0.0.1:9/?q=1",
            "must be an http or https URL without a query",
        ),
        (
            "http://127.0.0.1:9/#f",
            "must be an http or https URL without a query",
        ),
        ("not a url", "is not a URL"),
    ] {
        let data = dir.path().join("data");
        let command = serve_command(&[], "127.0.0.1:0", &data, &["--upstream", base]);
        let printed: Printed = run(command, None).await.into();
        let printed = printed.assert_failure();
        let expected = format!("error: --upstream {base:?} {says}");
        assert!(
            printed.stderr.contains(&expected),
            "{base}: {}",
            printed.stderr
        );
    }
}

/// Gives a first start; expects the data folder private to the user (0700) and the key file
/// 0600; then, with the key file made group-readable, a restart refuses to start and says
/// to chmod it.
#[tokio::test]
async fn serve_data_folder_and_key_file_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut server = spawn_serve(Backend::Sqlite, &[]).await;
    let data = server.store.data.clone();
    let keys = data.join("keys.json");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&keys), 0o600);
    assert!(server.terminate().success());

    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let command = serve_command(&[], "127.0.0.1:0", &data, &[]);
    let printed: Printed = run(command, None).await.into();
    let printed = printed.assert_failure();
    assert!(printed.stderr.contains("chmod 600"), "{}", printed.stderr);
}

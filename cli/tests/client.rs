//! The client library (shared/client) against the real `tessera serve`: an expired access
//! token never interrupts the user, many concurrent requests share one refresh, and a
//! revoked session surfaces as "signed out".

// Helpers outside #[test] fns may unwrap too: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_client::{Client, Error, Password};

const PASSWORD: &str = "correct horse battery staple";

/// A `tessera serve` child on a free loopback port with its own data folder, its log lines
/// collected; killed on drop.
struct Serve {
    child: Child,
    base: String,
    data: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    async fn start(env: &[(&str, &str)]) -> Self {
        let data = std::env::temp_dir().join(format!(
            "tessera-client-test-{}-{}",
            std::process::id(),
            tessera_token::random_id()
        ));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--access-log", "--addr", &addr, "--data"])
            .arg(&data)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let serve = Self {
            child,
            base: format!("http://{addr}"),
            data,
            log,
        };
        serve.wait_ready().await;
        serve
    }

    /// Polls (bounded) until the server answers.
    async fn wait_ready(&self) {
        let url = format!("{}/.well-known/jwks.json", self.base);
        for _ in 0..1500 {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "tessera serve did not answer: {:?}",
            self.log.lock().unwrap()
        );
    }

    fn add_user(&self, username: &str) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["user", "add", username, "--password-stdin", "--data"])
            .arg(&self.data)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(PASSWORD.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// How many requests to `path` the server answered with `status`, from its access log.
    fn answered(&self, path: &str, status: u16) -> usize {
        let path = format!("path={path} ");
        let status = format!("status={status}");
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&path) && l.contains(&status))
            .count()
    }

    /// Waits (bounded) until the access log shows at least `at_least` such answers: the
    /// log line may reach us a moment after the response reached the client.
    async fn await_answered(&self, path: &str, status: u16, at_least: usize) -> usize {
        for _ in 0..500 {
            let seen = self.answered(path, status);
            if seen >= at_least {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.answered(path, status)
    }

    /// Waits, polling with a bound, until an access token issued now for `user` is refused by
    /// the server: every token issued before it has expired too. No fixed sleep across the
    /// expiry. The probe asks `GET /auth/sessions`, so the tests' own counts of `/me` answers
    /// stay theirs.
    async fn until_tokens_issued_now_have_expired(&self, user: &str) {
        let http = reqwest::Client::new();
        let login: serde_json::Value = http
            .post(format!("{}/auth/login", self.base))
            .json(&serde_json::json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let probe = login["access_token"].as_str().unwrap().to_owned();
        for _ in 0..400 {
            let status = http
                .get(format!("{}/auth/sessions", self.base))
                .bearer_auth(&probe)
                .send()
                .await
                .unwrap()
                .status();
            if status == 401 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("an access token of ACCESS_TOKEN_TTL=2 never expired");
    }

    fn client(&self) -> Client {
        Client::builder(self.base.clone()).build().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Short-lived access tokens, no clock leeway (so expiry bites at once), no reuse grace (so
/// a second refresh of the same token would revoke the session: a client that refreshed
/// twice would sign itself out).
const SHORT_LIVED: &[(&str, &str)] = &[
    ("ACCESS_TOKEN_TTL", "2"),
    ("TOKEN_LEEWAY", "0"),
    ("REFRESH_REUSE_GRACE", "0"),
    ("REFRESH_REUSE_GRACE_ZERO_CONFIRMED", "true"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_requests_across_an_expiry_cause_one_refresh_and_no_401() {
    // Given a signed-in client whose access token has expired
    let serve = Serve::start(SHORT_LIVED).await;
    serve.add_user("alice");
    let client = serve.client();
    client
        .login("alice", &Password::new(PASSWORD))
        .await
        .unwrap();
    serve.until_tokens_issued_now_have_expired("alice").await;

    // When 64 requests go out at once
    let me = format!("{}/me", serve.base);
    let requests = (0..64).map(|_| {
        let client = client.clone();
        let me = me.clone();
        tokio::spawn(async move { client.get(&me).await.map(|r| r.status().as_u16()) })
    });
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap().unwrap());
    }

    // Then every caller got its answer, and the server saw exactly one refresh
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(serve.await_answered("/me", 200, 64).await, 64);
    assert_eq!(serve.answered("/auth/refresh", 200), 1);
    assert_eq!(serve.answered("/auth/refresh", 400), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_surfaces_as_signed_out() {
    // Given a signed-in client whose session is revoked (log out everywhere)
    let serve = Serve::start(SHORT_LIVED).await;
    serve.add_user("bob");
    let client = serve.client();
    client.login("bob", &Password::new(PASSWORD)).await.unwrap();
    let revoked = client
        .send(
            client
                .http()
                .delete(format!("{}/auth/sessions", serve.base)),
        )
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);

    // When its access token has expired and it makes a request
    serve.until_tokens_issued_now_have_expired("bob").await;
    let outcome = client.get(format!("{}/me", serve.base)).await;

    // Then the refresh is refused and the caller learns it is signed out
    assert!(matches!(outcome, Err(Error::SignedOut)), "{outcome:?}");
    assert_eq!(serve.await_answered("/auth/refresh", 400, 1).await, 1);
}

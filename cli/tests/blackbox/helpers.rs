//! The harness: the real `tessera` binary as a child process, driven over HTTP and through
//! its admin commands, on a fresh store per test.
//!
//! - [`spawn_serve`] starts `tessera serve` on a free port with its own temporary data folder
//!   (and, for [`Backend::Dynamo`], its own table in DynamoDB Local), waits until it answers
//!   (polling with a bound, never a fixed sleep), and kills it when dropped.
//! - [`TestUser::generate`] adds a user with `tessera user add --password-stdin`, exactly as an
//!   operator would, against the server's own store.
//! - [`Minter`] reads the server's key file, as only someone holding the keys could, to make
//!   tokens the server must refuse (expired, wrong issuer, wrong audience, ...).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_keys::KeyFile;
use tessera_token::{AccessClaims, Algorithm, KeySet, random_id};

/// How long anything may take (a server to start, a command to finish, a log line to
/// appear) before a test gives up. A bound on waiting, not a performance assertion.
pub const BOUND: Duration = Duration::from_secs(30);

/// How often bounded waits look again.
const POLL: Duration = Duration::from_millis(25);

/// The variable `scripts/test` sets to DynamoDB Local's endpoint.
pub const DYNAMODB_ENDPOINT_VAR: &str = "TESSERA_TEST_DYNAMODB_ENDPOINT";

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_tessera")
}

/// Which store `tessera serve` runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file in the data folder (the default).
    Sqlite,
    /// DynamoDB Local, a fresh table per server (`--create-table`).
    Dynamo,
}

/// The DynamoDB Local endpoint; a test on DynamoDB fails, clearly, without one.
pub fn dynamodb_endpoint() -> String {
    match std::env::var(DYNAMODB_ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "{DYNAMODB_ENDPOINT_VAR} is not set: start DynamoDB Local: scripts/dynamodb-local \
             start, or run scripts/test"
        ),
    }
}

/// A directory removed when the last holder is dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory under the system's temporary directory.
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tessera-{label}-{}", random_id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where a server keeps its state: the data folder (keys, and the SQLite file) and, on
/// DynamoDB, the table. Admin commands and restarts use the same.
#[derive(Clone, Debug)]
pub struct StoreSpec {
    /// The `--data` folder.
    pub data: PathBuf,
    /// DynamoDB Local's endpoint and the table, for [`Backend::Dynamo`].
    pub dynamo: Option<(String, String)>,
}

impl StoreSpec {
    /// A fresh store in `dir` for `backend`.
    pub fn fresh(backend: Backend, dir: &Path) -> Self {
        Self {
            data: dir.join("data"),
            dynamo: match backend {
                Backend::Sqlite => None,
                Backend::Dynamo => Some((
                    dynamodb_endpoint(),
                    format!("tessera-{}", random_id().to_ascii_lowercase()),
                )),
            },
        }
    }

    /// The store arguments every store-using command takes.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--data".to_owned(), self.data.display().to_string()];
        if let Some((endpoint, table)) = &self.dynamo {
            args.extend([
                "--dynamodb-endpoint".to_owned(),
                endpoint.clone(),
                "--table".to_owned(),
                table.clone(),
            ]);
        }
        args
    }
}

/// A free port on the loopback interface (the OS picks it; a rare race with another process
/// is retried by [`ServeOptions::spawn`]).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// `tessera` with a clean environment: only what the test gives reaches the binary, so a
/// developer's ISSUER or RUST_LOG cannot change what a test sees.
pub fn tessera_command(env: &[(String, String)]) -> Command {
    let mut command = Command::new(binary());
    command.env_clear().env("RUST_LOG", "info");
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Waits for a child to exit, at most [`BOUND`], then kills it and fails the test.
pub fn wait_bounded(child: &mut Child) -> ExitStatus {
    wait_within(child, BOUND)
}

/// Waits for a child to exit, at most `bound`, then kills it and fails the test.
pub fn wait_within(child: &mut Child, bound: Duration) -> ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tessera did not exit within {bound:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// Runs a command to completion with optional standard input, at most [`BOUND`].
pub async fn run(command: Command, stdin: Option<&str>) -> Output {
    run_within(command, stdin, BOUND).await
}

/// Runs a command to completion with optional standard input, at most `bound`.
pub async fn run_within(mut command: Command, stdin: Option<&str>, bound: Duration) -> Output {
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write as _;
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
        }
        // Drain the pipes on their own threads so a chatty child cannot block on a full pipe.
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let status = wait_within(&mut child, bound);
        Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    })
    .await
    .unwrap()
}

fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = std::io::Read::read_to_end(&mut pipe, &mut bytes);
        }
        bytes
    })
}

/// What a command printed, for assertions and failure messages.
pub struct Printed {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Printed {
    fn from(o: Output) -> Self {
        Self {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Printed {
    /// Fails the test unless the command succeeded.
    pub fn assert_success(self) -> Self {
        assert!(
            self.status.success(),
            "command failed ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails the test unless the command failed with a non-zero exit code.
    pub fn assert_failure(self) -> Self {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "command was expected to fail with a non-zero exit code ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// How to start `tessera serve`.
pub struct ServeOptions {
    store: StoreSpec,
    env: Vec<(String, String)>,
    args: Vec<String>,
    addr: Option<SocketAddr>,
    dir: Arc<TempDir>,
}

/// Starts `tessera serve` on `backend` with these environment variables and waits until it
/// answers.
pub async fn spawn_serve(backend: Backend, env: &[(&str, &str)]) -> Server {
    ServeOptions::new(backend).envs(env).spawn().await
}

impl ServeOptions {
    /// A fresh store for `backend`, default configuration.
    pub fn new(backend: Backend) -> Self {
        let dir = TempDir::new("blackbox");
        let store = StoreSpec::fresh(backend, dir.path());
        Self {
            store,
            env: Vec::new(),
            args: Vec::new(),
            addr: None,
            dir: Arc::new(dir),
        }
    }

    /// Reaches DynamoDB through `endpoint` instead (a [`Outage`] proxy); DynamoDB only.
    pub fn dynamodb_endpoint(mut self, endpoint: &str) -> Self {
        let (_, table) = self.store.dynamo.take().unwrap();
        self.store.dynamo = Some((endpoint.to_owned(), table));
        self
    }

    /// Adds environment variables (the service configuration).
    pub fn envs(mut self, env: &[(&str, &str)]) -> Self {
        self.env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self
    }

    /// Adds command-line arguments after `serve`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Starts the server and waits until it answers; a port lost to a race is retried.
    pub async fn spawn(self) -> Server {
        let fixed = self.addr;
        for _ in 0..5 {
            let addr = fixed.unwrap_or_else(free_addr);
            match start(&self, addr).await {
                Ok(server) => return server,
                Err(Early::PortTaken(stderr)) if fixed.is_none() => {
                    eprintln!("port {addr} was taken, retrying: {stderr}");
                }
                Err(Early::PortTaken(stderr)) | Err(Early::Exited(stderr)) => {
                    panic!("tessera serve exited during start-up:\n{stderr}")
                }
            }
        }
        panic!("tessera serve found no free port in five tries");
    }
}

enum Early {
    PortTaken(String),
    Exited(String),
}

async fn start(options: &ServeOptions, addr: SocketAddr) -> Result<Server, Early> {
    let mut command = tessera_command(&options.env);
    command
        .arg("serve")
        .arg("--addr")
        .arg(addr.to_string())
        .args(options.store.args())
        .args(&options.args);
    if options.store.dynamo.is_some() {
        command.arg("--create-table");
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    if let Some(pipe) = child.stderr.take() {
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap_or_else(|p| p.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
    }
    let mut server = Server {
        addr,
        base: format!("http://{addr}"),
        store: options.store.clone(),
        env: options.env.clone(),
        args: options.args.clone(),
        http: reqwest::Client::builder().timeout(BOUND).build().unwrap(),
        child: Some(child),
        stderr,
        dir: Arc::clone(&options.dir),
    };
    // Readiness: the JWKS answers once keys, store and listener are all up.
    let deadline = Instant::now() + BOUND;
    loop {
        if let Ok(resp) = server
            .http
            .get(format!("{}/.well-known/jwks.json", server.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            && resp.status() == 200
        {
            return Ok(server);
        }
        if let Some(child) = server.child.as_mut()
            && child.try_wait().unwrap().is_some()
        {
            // Let the reader thread catch the last lines.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let text = server.stderr();
            server.child = None;
            return Err(if text.contains("cannot listen on") {
                Early::PortTaken(text)
            } else {
                Early::Exited(text)
            });
        }
        if Instant::now() > deadline {
            panic!(
                "tessera serve did not answer within {BOUND:?}:\n{}",
                server.stderr()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A running `tessera serve`, killed when dropped.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://ADDR`, also its default issuer.
    pub base: String,
    /// Its data folder and table.
    pub store: StoreSpec,
    env: Vec<(String, String)>,
    args: Vec<String>,
    /// One HTTP client for the test.
    pub http: reqwest::Client,
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    dir: Arc<TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The body as JSON (fails the test otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Reads a whole answer.
pub async fn read_reply(resp: reqwest::Response) -> Reply {
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

impl Server {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The issuer its tokens carry (`ISSUER`, by default its own URL).
    pub fn issuer(&self) -> String {
        self.env_value("ISSUER")
            .unwrap_or_else(|| self.base.clone())
    }

    /// The audience of its access tokens (`AUDIENCE`, by default `tessera`).
    pub fn audience(&self) -> String {
        self.env_value("AUDIENCE")
            .unwrap_or_else(|| "tessera".to_owned())
    }

    fn env_value(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The temporary directory this server's data folder lives in (removed after the test).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// POST with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// POST with exactly these bytes and this content type (or none).
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        let mut request = self.http.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        read_reply(request.send().await.unwrap()).await
    }

    /// A request with `Authorization: Bearer <token>` (or no header for `None`).
    pub async fn call(&self, method: &str, path: &str, bearer: Option<&str>) -> Reply {
        self.call_with_authorization(method, path, bearer.map(|t| format!("Bearer {t}")))
            .await
    }

    /// A request with this exact `Authorization` header value (or none).
    pub async fn call_with_authorization(
        &self,
        method: &str,
        path: &str,
        authorization: Option<String>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.url(path));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        read_reply(request.send().await.unwrap()).await
    }

    /// GET with a bearer token.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.call("GET", path, bearer).await
    }

    /// DELETE with a bearer token.
    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.call("DELETE", path, bearer).await
    }

    /// `POST /auth/refresh` with a JSON body.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post_json("/auth/refresh", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// `POST /auth/logout` with a JSON body.
    pub async fn logout(&self, refresh_token: &str) -> Reply {
        self.post_json("/auth/logout", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// `POST /auth/login` with a JSON body.
    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/auth/login",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Runs `tessera <args> <store args>` (a user or session command) on this server's store.
    pub async fn admin(&self, args: &[&str], stdin: Option<&str>) -> Printed {
        let mut command = tessera_command(&self.env);
        command.args(args).args(self.store.args());
        run(command, stdin).await.into()
    }

    /// Runs `tessera <args> --data <data>` (token, keys and authorize commands).
    pub async fn admin_data(&self, args: &[&str], env: &[(&str, &str)]) -> Printed {
        let mut command = tessera_command(&self.env);
        command.args(args).arg("--data").arg(&self.store.data);
        for (k, v) in env {
            command.env(k, v);
        }
        run(command, None).await.into()
    }

    /// The sids `tessera session list USER` prints for a user's live sessions.
    pub async fn session_list(&self, username: &str) -> Vec<String> {
        let printed = self
            .admin(&["session", "list", username], None)
            .await
            .assert_success();
        let mut lines = printed.stdout.lines();
        let header = lines.next().unwrap_or_default();
        assert!(header.starts_with("SID"), "unexpected header: {header:?}");
        lines
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits (bounded) until a line of stderr satisfies `pred`, and returns it.
    pub async fn wait_for_log(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(line) = self.stderr().lines().find(|l| pred(l)) {
                return line.to_owned();
            }
            if Instant::now() > deadline {
                panic!("no such log line within {BOUND:?}:\n{}", self.stderr());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit()
    }

    /// Sends SIGTERM and returns at once.
    pub fn send_sigterm(&self) {
        let pid = self.child.as_ref().unwrap().id();
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_bounded(&mut self.child.take().unwrap())
    }

    /// Stops this server gracefully and starts another on the same address, data folder
    /// and table, with the same configuration.
    pub async fn restart(mut self) -> Server {
        let status = self.terminate();
        assert!(status.success(), "tessera serve exited with {status}");
        let options = ServeOptions {
            store: self.store.clone(),
            env: self.env.clone(),
            args: self.args.clone(),
            addr: Some(self.addr),
            dir: Arc::clone(&self.dir),
        };
        // Restarting a table-backed server must not try to create the table twice badly:
        // --create-table is idempotent, so the same command line is used.
        options.spawn().await
    }

    /// The key set in the server's key file, as an attacker who stole it (or a test) holds it.
    pub fn minter(&self) -> Minter {
        let alg: Algorithm = self
            .env_value("ACCESS_TOKEN_ALG")
            .unwrap_or_else(|| "ES256".to_owned())
            .parse()
            .unwrap();
        let keys = KeyFile::load(&self.store.data.join("keys.json"))
            .unwrap()
            .key_set(alg)
            .unwrap();
        Minter {
            keys,
            issuer: self.issuer(),
            audience: self.audience(),
        }
    }
}

/// Makes tokens with the server's own keys.
pub struct Minter {
    /// The keys from the key file.
    pub keys: KeySet,
    issuer: String,
    audience: String,
}

impl Minter {
    /// Access claims as the server would issue them for this subject and session, valid now.
    pub fn access_claims(&self, sub: &str, sid: &str, scope: &str) -> AccessClaims {
        let now = unix_now();
        AccessClaims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            aud: self.audience.clone(),
            exp: now + 600,
            iat: now,
            nbf: now,
            jti: random_id(),
            client_id: "tessera".to_owned(),
            sid: sid.to_owned(),
            scope: scope.to_owned(),
        }
    }

    /// Signs access claims with the current access key.
    pub fn access(&self, claims: &AccessClaims) -> String {
        self.keys
            .issue_access(claims)
            .unwrap()
            .expose_secret()
            .to_owned()
    }
}

/// Now, in unix seconds (only to build claims relative to the server's clock, never to
/// assert timing).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT's header and claims, decoded without verification (test-only inspection).
pub fn decode(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut segment = || -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let header = segment();
    let claims = segment();
    (header, claims)
}

/// A user added with `tessera user add`, and the password only the test knows.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// The (normalised) username.
    pub username: String,
    /// The password.
    pub password: String,
    /// The scopes granted.
    pub scope: String,
}

impl TestUser {
    /// Adds a fresh user with scope `profile` to the server's store.
    pub async fn generate(server: &Server) -> Self {
        Self::generate_with_scope(server, "profile").await
    }

    /// Adds a fresh user with these scopes.
    pub async fn generate_with_scope(server: &Server, scope: &str) -> Self {
        let user = Self {
            username: format!("user-{}", random_id().to_ascii_lowercase()),
            password: format!("pw-{}-{}", random_id(), random_id()),
            scope: scope.to_owned(),
        };
        let printed = server
            .admin(
                &[
                    "user",
                    "add",
                    &user.username,
                    "--password-stdin",
                    "--scope",
                    scope,
                ],
                Some(&user.password),
            )
            .await
            .assert_success();
        assert!(
            printed.stdout.contains(&user.username),
            "user add printed {:?}",
            printed.stdout
        );
        user
    }

    /// Logs in (JSON body) and returns the token pair; fails the test on anything but 200.
    pub async fn login(&self, server: &Server) -> Tokens {
        let reply = server.login(&self.username, &self.password).await;
        assert_eq!(reply.status, 200, "login failed: {}", reply.body);
        Tokens::from_reply(&reply)
    }
}

/// A token response's two tokens.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

impl Tokens {
    /// Reads a 200 token response.
    pub fn from_reply(reply: &Reply) -> Self {
        assert_eq!(
            reply.status, 200,
            "expected a token response: {}",
            reply.body
        );
        let body = reply.json();
        Self {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// The session id both tokens carry.
    pub fn sid(&self) -> String {
        decode(&self.access).1["sid"].as_str().unwrap().to_owned()
    }

    /// The user id (`sub`).
    pub fn sub(&self) -> String {
        decode(&self.access).1["sub"].as_str().unwrap().to_owned()
    }
}

/// docs/API.md's token response: exactly these fields, `Bearer`, no caching.
pub fn assert_token_response(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(
        reply
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json"))
    );
    let body = reply.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "refresh_token_expires_in",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(body["expires_in"].as_i64().is_some_and(|s| s > 0));
    assert!(
        body["refresh_token_expires_in"]
            .as_i64()
            .is_some_and(|s| s > 0)
    );
    assert!(body["scope"].is_string());
    body
}

/// docs/API.md's error body: `{"error", "error_description"}` and nothing else, never cached.
pub fn assert_oauth_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 2, "unexpected fields: {body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

/// docs/API.md's 401 at a protected route: API Gateway's shape plus the RFC 6750 challenge.
pub fn assert_unauthorized(reply: &Reply) {
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.json(), json!({"message": "Unauthorized"}));
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
}

/// Fails the test when `secret` appears in an answer.
pub fn assert_not_echoed(reply: &Reply, secret: &str) {
    assert!(
        !reply.body.contains(secret),
        "the answer echoes a secret: {}",
        reply.body
    );
    for (name, value) in &reply.headers {
        assert!(
            !value.to_str().unwrap_or_default().contains(secret),
            "header {name} echoes a secret"
        );
    }
}

/// Polls `probe` (bounded) until it returns `Some`.
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, probe: impl Fn() -> F) -> T {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The token with the first character of its signature changed: still well-formed base64url
/// (a whole 6-bit character), so only the signature check can refuse it.
pub fn tamper_signature(token: &str) -> String {
    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = signature.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    format!("{head}.{}", chars.into_iter().collect::<String>())
}

/// A TCP proxy in front of DynamoDB Local that the test can cut: while cut, it drops every
/// open connection and every new one, as a network partition would.
pub struct Outage {
    /// The endpoint to give `tessera` (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Outage {
    /// Starts the proxy, connected, in front of DynamoDB Local.
    pub async fn start() -> Self {
        let target = dynamodb_endpoint();
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *watch.borrow() {
                    continue; // dropped: the connection is reset at once
                }
                let target = target.clone();
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { endpoint, cut }
    }

    /// Cuts (`true`) or restores (`false`) the connection to DynamoDB.
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

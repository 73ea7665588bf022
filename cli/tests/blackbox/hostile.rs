//! `tessera serve` as a gateway facing hostile clients: paths that other parsers would read
//! differently, forged context headers, doubled credentials, clients that trickle or
//! withhold bytes, and upstreams that stall or answer too much.
//!
//! Where the point is the bytes on the wire, requests go over a raw `TcpStream` (an HTTP
//! client would normalise the path first), and the upstream is a raw listener that records
//! the request line exactly as it arrived.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{
    BOUND, Backend, ServeOptions, Server, TestUser, Tokens, assert_unauthorized, read_reply,
    spawn_serve,
};

both_backends!(
    hostile_dot_segments_encoded_separators_and_nul_are_400_and_never_proxied,
    hostile_percent_encoded_letters_cannot_dodge_a_scope_rule,
    hostile_upper_case_cannot_dodge_a_scope_rule_on_a_proxied_route,
    hostile_upstream_request_line_is_base_path_plus_normalised_path_plus_query,
    hostile_context_headers_spelled_with_underscores_never_reach_the_upstream,
    hostile_two_authorization_headers_are_401_on_every_protected_route,
    hostile_two_content_types_are_400_and_change_nothing,
);

/// The scope rule the path tests try to get around.
const ADMIN_RULE: (&str, &str) = ("AUTHORIZER_SCOPE_RULES", "GET /admin/*=admin");

/// An answer read off a raw socket.
pub(crate) struct RawReply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl std::fmt::Debug for RawReply {
    /// The body cut short: a failed assertion on a 10 MiB answer must stay readable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: String = self.body.chars().take(300).collect();
        f.debug_struct("RawReply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &body)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// API Gateway's own error shape (DEFAULT_4XX, DEFAULT_5XX): `{"message", "request_id"}`.
    fn assert_gateway_message(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&self.body).unwrap();
        // The template's shapes: the message, and for DEFAULT_4XX and DEFAULT_5XX the request
        // id; nothing else.
        let object = body.as_object().unwrap();
        assert!(
            object.keys().all(|k| k == "message" || k == "request_id"),
            "{body}"
        );
        body["message"].as_str().unwrap().to_owned()
    }
}

/// Reads one whole answer (head, then a `content-length` body) off `stream`, bounded.
async fn read_answer(stream: &mut TcpStream) -> RawReply {
    tokio::time::timeout(BOUND, async {
        let mut bytes = Vec::new();
        let head_end = loop {
            if let Some(end) = find(&bytes, b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a whole head: {bytes:?}");
            bytes.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = bytes[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 65536];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the whole body");
            body.extend_from_slice(&chunk[..n]);
        }
        RawReply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    })
    .await
    .expect("no whole answer within the bound")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends exactly `request` on a fresh connection and reads the answer.
pub(crate) async fn raw(addr: SocketAddr, request: &str) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(&mut stream).await
}

/// `method target` (sent as is) with a bearer token, on a fresh connection.
async fn raw_get(addr: SocketAddr, method: &str, target: &str, token: &str) -> RawReply {
    raw(
        addr,
        &format!(
            "{method} {target} HTTP/1.1\r\nhost: tessera\r\nauthorization: Bearer {token}\r\n\
             connection: close\r\n\r\n"
        ),
    )
    .await
}

/// Waits (bounded) until the server closes `stream`, and returns what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    tokio::time::timeout(BOUND, async {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return bytes,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server did not close the connection within the bound")
}

/// What a test upstream answers.
#[derive(Clone, Debug)]
enum Answer {
    /// 201 with a small JSON body.
    Created,
    /// Reads the request and never answers.
    Silent,
    /// 200 with this many bytes, declared by `content-length` or sent chunked.
    Body { len: usize, chunked: bool },
    /// 302 to this location.
    Redirect(String),
}

/// A request as the upstream received it.
#[derive(Clone, Debug)]
struct Received {
    /// The request line, byte for byte.
    line: String,
    /// Header names (lower case) and values, in arrival order.
    headers: Vec<(String, String)>,
}

/// A raw HTTP/1.1 upstream that records every request line and answers as told.
struct RawUpstream {
    /// `http://ADDR`.
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl RawUpstream {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_one(stream, answer.clone(), Arc::clone(&record)));
            }
        });
        Self { base, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.line).collect()
    }
}

async fn serve_one(mut stream: TcpStream, answer: Answer, record: Arc<Mutex<Vec<Received>>>) {
    let mut bytes = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&bytes, b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = bytes.len() - head_end - 4;
    while body < length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body += n,
        }
    }
    record.lock().unwrap().push(Received { line, headers });
    let _ = match answer {
        Answer::Created => {
            let body = "{\"from\":\"upstream\"}";
            stream
                .write_all(
                    format!(
                        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await
        }
        Answer::Silent => {
            // Holds the connection open, answering nothing, until the test ends.
            std::future::pending::<()>().await;
            Ok(())
        }
        Answer::Redirect(location) => {
            stream
                .write_all(
                    format!(
                        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\
                         connection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await
        }
        Answer::Body { len, chunked } => send_body(&mut stream, len, chunked).await,
    };
}

async fn send_body(stream: &mut TcpStream, len: usize, chunked: bool) -> std::io::Result<()> {
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {len}")
    };
    stream
        .write_all(format!("HTTP/1.1 200 OK\r\n{framing}\r\nconnection: close\r\n\r\n").as_bytes())
        .await?;
    let block = vec![b'a'; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        if chunked {
            stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
        }
        stream.write_all(&block[..n]).await?;
        if chunked {
            stream.write_all(b"\r\n").await?;
        }
        left -= n;
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

/// A server with `--upstream UPSTREAM/api` and the admin scope rule.
async fn gateway(backend: Backend, upstream: &RawUpstream, args: &[&str]) -> Server {
    let base = format!("{}/api", upstream.base);
    ServeOptions::new(backend)
        .envs(&[ADMIN_RULE])
        .args(&["--upstream", &base])
        .args(args)
        .spawn()
        .await
}

/// Gives `--upstream UPSTREAM/api`, the rule `GET /admin/*=admin` and a token with scope
/// `profile`; sends, as raw bytes, paths with `..`/`.` segments (plain, encoded, trailing,
/// with `;` parameters), encoded slashes and backslashes, a raw backslash, NUL and `//`;
/// expects 400 `{"message": ...}` as JSON for each, the upstream never called, and a clean
/// path proxied as a control.
async fn hostile_dot_segments_encoded_separators_and_nul_are_400_and_never_proxied(
    backend: Backend,
) {
    let upstream = RawUpstream::start(Answer::Created).await;
    let server = gateway(backend, &upstream, &[]).await;
    let tokens = TestUser::generate(&server).await.login(&server).await;

    for target in [
        "/x/%2e%2e/admin/users",
        "/x/%2E%2E/admin/users",
        "/x/.%2e/admin/users",
        "/x/../admin/users",
        "/x/./admin/users",
        "/../internal",
        "/x/..",
        "/x/.",
        "/x/../",
        "/x/..;/admin/users",
        "/admin%2Fusers",
        "/admin%2fusers",
        "/x%5C..%5Cadmin/users",
        "/x\\..\\admin/users",
        "/admin/users%00.json",
        "/x//admin/users",
        "//admin/users",
        "/auth/../me",
        "/me/.",
    ] {
        let reply = raw_get(server.addr, "GET", target, &tokens.access).await;
        let message = reply.assert_gateway_message(400);
        assert!(message.starts_with("Bad request"), "{target}: {message}");
    }
    assert!(upstream.lines().is_empty(), "{:?}", upstream.lines());

    let control = raw_get(server.addr, "GET", "/x/admin/users", &tokens.access).await;
    assert_eq!(control.status, 201, "{control:?}");
    assert_eq!(upstream.lines(), ["GET /api/x/admin/users HTTP/1.1"]);
}

/// Gives the rule `GET /admin/*=admin`, a `profile` token and an `admin` token; sends
/// `/%61dmin/users` and `/%61%64%6d%69%6e/users`; expects 403 for the profile token and the
/// upstream never called, and for the admin token the upstream called with the decoded path
/// `/api/admin/users`.
async fn hostile_percent_encoded_letters_cannot_dodge_a_scope_rule(backend: Backend) {
    let upstream = RawUpstream::start(Answer::Created).await;
    let server = gateway(backend, &upstream, &[]).await;
    let profile = TestUser::generate(&server).await.login(&server).await;
    let admin = TestUser::generate_with_scope(&server, "profile admin")
        .await
        .login(&server)
        .await;

    for target in ["/%61dmin/users", "/%61%64%6d%69%6e/users"] {
        let refused = raw_get(server.addr, "GET", target, &profile.access).await;
        refused.assert_gateway_message(403);
    }
    assert!(upstream.lines().is_empty(), "{:?}", upstream.lines());

    let allowed = raw_get(server.addr, "GET", "/%61dmin/users", &admin.access).await;
    assert_eq!(allowed.status, 201, "{allowed:?}");
    assert_eq!(upstream.lines(), ["GET /api/admin/users HTTP/1.1"]);
}

/// Gives the rule `GET /admin/*=admin` and a `profile` token whose policy is already cached
/// by an allowed request; sends `/ADMIN/users`, `/Admin/users`, `/%41dmin/users` and the
/// method in lower case (`get /admin/users`); expects 403 each time and the upstream never
/// called for them; with an `admin` token `/ADMIN/users` reaches the upstream in its own case.
async fn hostile_upper_case_cannot_dodge_a_scope_rule_on_a_proxied_route(backend: Backend) {
    let upstream = RawUpstream::start(Answer::Created).await;
    let server = gateway(backend, &upstream, &[]).await;
    let profile = TestUser::generate(&server).await.login(&server).await;
    let admin = TestUser::generate_with_scope(&server, "profile admin")
        .await
        .login(&server)
        .await;
    let primed = raw_get(server.addr, "GET", "/orders/1", &profile.access).await;
    assert_eq!(primed.status, 201, "{primed:?}");

    for (method, target) in [
        ("GET", "/ADMIN/users"),
        ("GET", "/Admin/users"),
        ("GET", "/%41dmin/users"),
        ("get", "/admin/users"),
    ] {
        let refused = raw_get(server.addr, method, target, &profile.access).await;
        assert_eq!(refused.status, 403, "{method} {target}: {refused:?}");
    }
    assert_eq!(upstream.lines(), ["GET /api/orders/1 HTTP/1.1"]);

    let allowed = raw_get(server.addr, "GET", "/ADMIN/users", &admin.access).await;
    assert_eq!(allowed.status, 201, "{allowed:?}");
    assert_eq!(
        upstream.lines().last().map(String::as_str),
        Some("GET /api/ADMIN/users HTTP/1.1")
    );
}

/// Gives `--upstream UPSTREAM/api/` (trailing slash) and requests whose paths hold encoded
/// unreserved characters, lower-case escapes and raw `{}`, and whose queries hold `..`,
/// encoded dots, a malformed escape and `+`; expects the upstream's request line to be
/// exactly `/api` + the normalised path + the query as sent, and a query the URL parser
/// would rewrite (a raw `'`) refused with 400 rather than forwarded changed.
async fn hostile_upstream_request_line_is_base_path_plus_normalised_path_plus_query(
    backend: Backend,
) {
    let upstream = RawUpstream::start(Answer::Created).await;
    let base = format!("{}/api/", upstream.base);
    let server = ServeOptions::new(backend)
        .args(&["--upstream", &base])
        .spawn()
        .await;
    let tokens = TestUser::generate(&server).await.login(&server).await;

    for (target, line) in [
        (
            "/orders/%7e7/%7bx%7D/a{b}?q=%2e%2e/../x&r=%zz&s=a+b",
            "GET /api/orders/~7/%7Bx%7D/a%7Bb%7D?q=%2e%2e/../x&r=%zz&s=a+b HTTP/1.1",
        ),
        ("/", "GET /api/ HTTP/1.1"),
        ("/a/b/?", "GET /api/a/b/? HTTP/1.1"),
        ("/caf%c3%a9", "GET /api/caf%C3%A9 HTTP/1.1"),
    ] {
        let reply = raw_get(server.addr, "GET", target, &tokens.access).await;
        assert_eq!(reply.status, 201, "{target}: {reply:?}");
        assert_eq!(
            upstream.lines().last().map(String::as_str),
            Some(line),
            "{target}"
        );
    }

    let before = upstream.lines().len();
    let rewritten = raw_get(server.addr, "GET", "/x?name='bob'", &tokens.access).await;
    rewritten.assert_gateway_message(400);
    assert_eq!(upstream.lines().len(), before);
}

/// Gives `--upstream` and a good token sent with forged context headers spelled with `_`
/// for `-` and in mixed case (`x-tessera_sub`, `X_TESSERA_SCOPE`, `x_tessera-jti`,
/// `X-Tessera-Sid`, `x-tessera__client_id`); expects the upstream to get exactly one of each
/// real context header, with the token's values, and no header that a CGI server would read
/// as `HTTP_X_TESSERA_*` besides them.
async fn hostile_context_headers_spelled_with_underscores_never_reach_the_upstream(
    backend: Backend,
) {
    let upstream = RawUpstream::start(Answer::Created).await;
    let server = ServeOptions::new(backend)
        .args(&["--upstream", &upstream.base])
        .spawn()
        .await;
    let tokens = TestUser::generate(&server).await.login(&server).await;
    let claims = crate::helpers::decode(&tokens.access).1;

    let reply = raw(
        server.addr,
        &format!(
            "GET /orders/7 HTTP/1.1\r\nhost: tessera\r\nauthorization: Bearer {}\r\n\
             x-tessera_sub: victim\r\nX_TESSERA_SCOPE: admin\r\nx_tessera-jti: forged\r\n\
             X-Tessera-Sid: forged\r\nx-tessera__client_id: forged\r\nX_Tessera_Extra: 1\r\n\
             connection: close\r\n\r\n",
            tokens.access
        ),
    )
    .await;

    assert_eq!(reply.status, 201, "{reply:?}");
    let received = upstream.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let context: Vec<(String, String)> = received[0]
        .headers
        .iter()
        .filter(|(n, _)| n.replace('_', "-").starts_with("x-tessera-"))
        .cloned()
        .collect();
    let mut names: Vec<&str> = context.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "x-tessera-client_id",
            "x-tessera-jti",
            "x-tessera-scope",
            "x-tessera-sid",
            "x-tessera-sub"
        ],
        "{context:?}"
    );
    for (name, value) in &context {
        let expected = match name.as_str() {
            "x-tessera-client_id" => "tessera".to_owned(),
            "x-tessera-scope" => "profile".to_owned(),
            other => claims[other.trim_start_matches("x-tessera-")]
                .as_str()
                .unwrap()
                .to_owned(),
        };
        assert_eq!(value, &expected, "{name}");
    }
}

/// Gives a logged-in user and `--upstream`; calls `GET /me`, `GET /auth/sessions`,
/// `DELETE /auth/sessions/{sid}` and a proxied route with two `Authorization` headers
/// (the good token first and garbage second, and the good token twice); expects the
/// gateway's 401 with `WWW-Authenticate: Bearer error="invalid_token"` every time, the
/// upstream never called and the session still live; one header still passes.
async fn hostile_two_authorization_headers_are_401_on_every_protected_route(backend: Backend) {
    let upstream = RawUpstream::start(Answer::Created).await;
    let server = ServeOptions::new(backend)
        .args(&["--upstream", &upstream.base])
        .spawn()
        .await;
    let user = TestUser::generate(&server).await;
    let tokens: Tokens = user.login(&server).await;
    let sid = tokens.sid();
    let good = format!("Bearer {}", tokens.access);

    for (method, path) in [
        ("GET", "/me".to_owned()),
        ("GET", "/auth/sessions".to_owned()),
        ("DELETE", format!("/auth/sessions/{sid}")),
        ("GET", "/orders/7".to_owned()),
    ] {
        for second in ["Bearer garbage", good.as_str()] {
            let request = server
                .http
                .request(method.parse().unwrap(), server.url(&path))
                .header("authorization", &good)
                .header("authorization", second);
            let reply = read_reply(request.send().await.unwrap()).await;
            assert_unauthorized(&reply);
        }
    }

    assert!(upstream.lines().is_empty(), "{:?}", upstream.lines());
    assert_eq!(server.session_list(&user.username).await, vec![sid]);
    assert_eq!(server.get("/me", Some(&tokens.access)).await.status, 200);
}

/// Gives a user with one session; sends a login, a refresh and a logout, each with two
/// `Content-Type` lines (JSON and form, the body JSON) over a raw socket; expects each 400
/// `invalid_request`, and nothing changed: no new session, the refresh token not spent.
async fn hostile_two_content_types_are_400_and_change_nothing(backend: Backend) {
    let server = spawn_serve(backend, &[]).await;
    let user = TestUser::generate(&server).await;
    let tokens: Tokens = user.login(&server).await;
    let login = serde_json::json!({ "username": user.username, "password": user.password });
    let token = serde_json::json!({ "refresh_token": tokens.refresh });

    for (path, body) in [
        ("/auth/login", &login),
        ("/auth/refresh", &token),
        ("/auth/logout", &token),
    ] {
        let body = body.to_string();
        let reply = raw(
            server.addr,
            &format!(
                "POST {path} HTTP/1.1\r\nhost: tessera\r\ncontent-type: application/json\r\n\
                 content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert_eq!(reply.status, 400, "{path}: {reply:?}");
        let error: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(error["error"], "invalid_request", "{path}: {reply:?}");
    }

    assert_eq!(
        server.session_list(&user.username).await,
        vec![tokens.sid()]
    );
    let next = server.refresh(&tokens.refresh).await;
    assert_eq!(next.status, 200, "{}", next.body);
}

/// Gives `--header-timeout 0.5`; opens connections that send nothing, half a request line,
/// and a request line with half a header; expects the server to close each of them.
#[tokio::test]
async fn hostile_half_a_request_head_then_silence_is_closed() {
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&["--header-timeout", "0.5"])
        .spawn()
        .await;

    for partial in [
        "",
        "GET /.well-known/jwks.js",
        "GET /.well-known/jwks.json HTTP/1.1\r\nhost: tessera\r\nx-slow: aaa",
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(partial.as_bytes()).await.unwrap();
        let sent = read_until_closed(&mut stream).await;
        assert!(
            !String::from_utf8_lossy(&sent).contains(" 200 "),
            "{partial:?} was answered: {sent:?}"
        );
    }
}

/// Gives `--body-timeout 0.5`; sends a login head with `content-length: 100` and 10 bytes of
/// body, then nothing; expects 408 `{"message": ...}` and the connection closed after it.
#[tokio::test]
async fn hostile_half_a_body_then_silence_is_408_and_closed() {
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&["--body-timeout", "0.5"])
        .spawn()
        .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();

    stream
        .write_all(
            b"POST /auth/login HTTP/1.1\r\nhost: tessera\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"usernam",
        )
        .await
        .unwrap();

    let reply = read_answer(&mut stream).await;
    reply.assert_gateway_message(408);
    read_until_closed(&mut stream).await;
}

/// Gives `--idle-timeout 0.5`; sends one keep-alive request and reads its answer, then
/// stays silent; expects the server to close the connection.
#[tokio::test]
async fn hostile_idle_keep_alive_connection_is_closed() {
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&["--idle-timeout", "0.5"])
        .spawn()
        .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();

    stream
        .write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: tessera\r\n\r\n")
        .await
        .unwrap();
    let reply = read_answer(&mut stream).await;

    assert_eq!(reply.status, 200, "{reply:?}");
    let after = read_until_closed(&mut stream).await;
    assert!(after.is_empty(), "{after:?}");
}

/// Gives `--max-connections 2` (and a long header timeout) held by two sockets that each
/// sent half a request head; opens a third and sends a whole request; expects no answer on
/// it while the two are held, and its answer once one of them is closed.
#[tokio::test]
async fn hostile_max_connections_holds_the_next_connection_until_one_is_released() {
    // The short idle timeout closes the harness's own pooled keep-alive connection.
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&[
            "--max-connections",
            "2",
            "--header-timeout",
            "120",
            "--idle-timeout",
            "0.5",
        ])
        .spawn()
        .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: tessera\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    let mut next = TcpStream::connect(server.addr).await.unwrap();
    next.write_all(
        b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: tessera\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();

    // Nothing may arrive while both slots are held; a window to observe, not a timing claim.
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_secs(1), next.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "served while the limit was reached: {early:?}"
    );

    drop(held.pop());
    let reply = read_answer(&mut next).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

/// Gives `--max-connections 1`, `--idle-timeout 0.5` and an upstream answering 9 MiB; a
/// client with a tiny receive buffer asks for it and never reads; expects that stalled
/// connection closed, so a second client gets its answer.
#[tokio::test]
async fn hostile_client_that_stops_reading_an_answer_is_closed() {
    let upstream = RawUpstream::start(Answer::Body {
        len: 9 * 1024 * 1024,
        chunked: false,
    })
    .await;
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&[
            "--upstream",
            &upstream.base,
            "--max-connections",
            "1",
            "--idle-timeout",
            "0.5",
        ])
        .spawn()
        .await;
    let token = minted_token(&server);

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(server.addr).await.unwrap();
    stalled
        .write_all(
            format!("GET /big HTTP/1.1\r\nhost: tessera\r\nauthorization: Bearer {token}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();

    let reply = raw(
        server.addr,
        "GET /.well-known/jwks.json HTTP/1.1\r\nhost: tessera\r\nconnection: close\r\n\r\n",
    )
    .await;

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(upstream.lines(), ["GET /big HTTP/1.1"]);
    drop(stalled);
}

/// Gives `--idle-timeout 2` and an upstream answering 9 MiB (more than the kernel buffers
/// hold); a client with a small receive buffer reads it 64 KiB at a time, pausing briefly
/// between reads, for longer in all than the idle timeout (about 6 s); expects the whole
/// answer: a slow reader is not an idle client. (Each pause is far below the timeout, so a
/// busy machine that delays the reader a little does not make it idle.)
#[tokio::test]
async fn hostile_slow_reader_of_a_large_answer_gets_all_of_it() {
    const LEN: usize = 9 * 1024 * 1024;
    let upstream = RawUpstream::start(Answer::Body {
        len: LEN,
        chunked: false,
    })
    .await;
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&["--upstream", &upstream.base, "--idle-timeout", "2"])
        .spawn()
        .await;
    let token = minted_token(&server);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /big HTTP/1.1\r\nhost: tessera\r\nauthorization: Bearer {token}\r\n\
                 connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    let received = tokio::time::timeout(BOUND, async {
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return bytes,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
            // The pace of a slow client: far shorter than the idle timeout each time.
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    })
    .await
    .expect("the answer did not end within the bound");

    let head_end = find(&received, b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&received[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(received.len() - head_end - 4, LEN, "{head}");
}

/// A valid access token with scope `profile`, signed with the server's own key (the store
/// plays no part in these tests).
fn minted_token(server: &Server) -> String {
    let minter = server.minter();
    minter.access(&minter.access_claims("usr-hostile", "sid-hostile", "profile"))
}

/// Gives `--upstream-timeout 0.5` and an upstream that reads the request and never answers;
/// expects 504 `{"message": "Endpoint request timed out"}`, as API Gateway answers.
#[tokio::test]
async fn hostile_slow_upstream_is_504_endpoint_request_timed_out() {
    let upstream = RawUpstream::start(Answer::Silent).await;
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&["--upstream", &upstream.base, "--upstream-timeout", "0.5"])
        .spawn()
        .await;
    let token = minted_token(&server);

    let reply = raw_get(server.addr, "GET", "/slow", &token).await;

    let message = reply.assert_gateway_message(504);
    assert_eq!(message, "Endpoint request timed out");
    assert_eq!(upstream.lines(), ["GET /slow HTTP/1.1"]);
}

/// Gives `--upstream-connect-timeout 0.5` and an upstream whose listen queue is full, so
/// the kernel drops the gateway's connection attempt; expects 502 `{"message": ...}` rather
/// than a wait for the whole upstream timeout.
#[tokio::test]
async fn hostile_upstream_that_never_accepts_is_502_after_the_connect_timeout() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // One connection fills a queue of 0 that nobody accepts from; later SYNs are dropped.
    let _filler = TcpStream::connect(addr).await.unwrap();
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&[
            "--upstream",
            &format!("http://{addr}"),
            "--upstream-connect-timeout",
            "0.5",
        ])
        .spawn()
        .await;

    let reply = raw_get(server.addr, "GET", "/orders", &minted_token(&server)).await;

    reply.assert_gateway_message(502);
    drop(listener);
}

/// Gives the default response bound (10 MiB) and upstreams answering one byte more, once
/// with `content-length` and once chunked; expects 502 `{"message": ...}` for both, and an
/// answer of exactly 10 MiB passed back whole.
#[tokio::test]
async fn hostile_oversized_upstream_answer_is_502() {
    const LIMIT: usize = 10 * 1024 * 1024;
    for chunked in [false, true] {
        let upstream = RawUpstream::start(Answer::Body {
            len: LIMIT + 1,
            chunked,
        })
        .await;
        let server = ServeOptions::new(Backend::Sqlite)
            .args(&["--upstream", &upstream.base])
            .spawn()
            .await;
        let token = minted_token(&server);

        let reply = raw_get(server.addr, "GET", "/big", &token).await;

        reply.assert_gateway_message(502);
    }

    let upstream = RawUpstream::start(Answer::Body {
        len: LIMIT,
        chunked: true,
    })
    .await;
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&["--upstream", &upstream.base])
        .spawn()
        .await;
    let reply = raw_get(server.addr, "GET", "/big", &minted_token(&server)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), LIMIT);
}

/// Gives an upstream that answers 302 to a second recording server; expects the client to
/// get the 302 with its `location`, and the second server never called (it would have
/// received the authorizer context).
#[tokio::test]
async fn hostile_upstream_redirect_is_passed_back_not_followed() {
    let elsewhere = RawUpstream::start(Answer::Created).await;
    let location = format!("{}/stolen", elsewhere.base);
    let upstream = RawUpstream::start(Answer::Redirect(location.clone())).await;
    let server = ServeOptions::new(Backend::Sqlite)
        .args(&["--upstream", &upstream.base])
        .spawn()
        .await;

    let reply = raw_get(server.addr, "GET", "/moved", &minted_token(&server)).await;

    assert_eq!(reply.status, 302, "{reply:?}");
    assert_eq!(reply.header("location"), Some(location.as_str()));
    assert!(elsewhere.lines().is_empty(), "{:?}", elsewhere.lines());
}

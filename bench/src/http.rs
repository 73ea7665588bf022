//! A minimal HTTP/1.1 client over one keep-alive TCP connection.
//!
//! Why not a general client: the load generator shares two cores with the server it
//! measures, so every microsecond it spends is taken from the server. This client writes a
//! request with one `write` and parses only what a response framing needs (status,
//! `content-length`, chunked encoding, `connection: close`), reusing its buffers. Limits:
//! no TLS, no pipelining, no redirects, no `1xx` interim answers other than skipping them;
//! headers at most [`MAX_HEAD`] bytes and bodies at most [`MAX_BODY`] bytes.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response head (status line and headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest response body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before a whole response arrived.
    #[error("connection closed by the server")]
    Closed,
    /// The response is not HTTP/1.1 as this client reads it.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The response head or body is over the limits.
    #[error("response too large")]
    TooLarge,
}

/// The bytes of `input` in `range`, or a malformed-response error: the offsets come from the
/// buffer's own scan, so a miss means a bug, never a panic.
fn slice(input: &[u8], range: std::ops::Range<usize>) -> Result<&[u8], HttpError> {
    input
        .get(range)
        .ok_or(HttpError::Malformed("an offset outside the buffer"))
}

/// One response: its status and body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    host: String,
    out: Vec<u8>,
    input: Vec<u8>,
    /// Bytes of `input` already consumed.
    pos: usize,
    closed: bool,
}

impl Connection {
    /// Connects, with Nagle's algorithm off (requests are written whole).
    pub async fn connect(addr: SocketAddr) -> Result<Self, HttpError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            host: addr.to_string(),
            out: Vec::with_capacity(4096),
            input: Vec::with_capacity(16 * 1024),
            pos: 0,
            closed: false,
        })
    }

    /// Whether the server asked to close, or closed; the connection is then unusable.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends one request and reads its whole response.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        if self.closed {
            return Err(HttpError::Closed);
        }
        self.out.clear();
        for part in [method, " ", path, " HTTP/1.1\r\nhost: ", &self.host, "\r\n"] {
            self.out.extend_from_slice(part.as_bytes());
        }
        for (name, value) in headers {
            for part in [*name, ": ", *value, "\r\n"] {
                self.out.extend_from_slice(part.as_bytes());
            }
        }
        if !body.is_empty() || method == "POST" {
            self.out.extend_from_slice(b"content-length: ");
            self.out
                .extend_from_slice(body.len().to_string().as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(body);
        let sent = self.stream.write_all(&self.out).await;
        if let Err(e) = sent {
            self.closed = true;
            return Err(e.into());
        }
        let answer = self.read_response(method == "HEAD").await;
        if answer.is_err() {
            self.closed = true;
        }
        answer
    }

    async fn read_response(&mut self, head_only: bool) -> Result<Response, HttpError> {
        loop {
            let head_end = self.read_head().await?;
            let head = parse_head(slice(&self.input, self.pos..head_end)?)?;
            self.pos = head_end;
            if (100..200).contains(&head.status) {
                continue;
            }
            if head.close {
                self.closed = true;
            }
            let no_body = head_only || head.status == 204 || head.status == 304;
            let body = match (no_body, head.framing) {
                (true, _) => Vec::new(),
                (false, Framing::Length(n)) => self.read_exact_body(n).await?,
                (false, Framing::Chunked) => self.read_chunked().await?,
                (false, Framing::UntilClose) => {
                    self.closed = true;
                    self.read_to_close().await?
                }
            };
            self.compact();
            return Ok(Response {
                status: head.status,
                body,
            });
        }
    }

    /// Reads until the buffer holds a whole head; returns the offset just past its blank line.
    async fn read_head(&mut self) -> Result<usize, HttpError> {
        let mut searched = self.pos;
        loop {
            let window = slice(&self.input, searched..self.input.len())?;
            if let Some(i) = find(window, b"\r\n\r\n") {
                return Ok(searched + i + 4);
            }
            searched = self.input.len().saturating_sub(3).max(self.pos);
            if self.input.len() - self.pos > MAX_HEAD {
                return Err(HttpError::TooLarge);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), HttpError> {
        self.input.reserve(16 * 1024);
        match self.stream.read_buf(&mut self.input).await? {
            0 => {
                self.closed = true;
                Err(HttpError::Closed)
            }
            _ => Ok(()),
        }
    }

    async fn read_exact_body(&mut self, n: usize) -> Result<Vec<u8>, HttpError> {
        if n > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        while self.input.len() - self.pos < n {
            self.fill().await?;
        }
        let body = slice(&self.input, self.pos..self.pos + n)?.to_vec();
        self.pos += n;
        Ok(body)
    }

    async fn read_line(&mut self) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(i) = find(slice(&self.input, self.pos..self.input.len())?, b"\r\n") {
                let line = slice(&self.input, self.pos..self.pos + i)?.to_vec();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.input.len() - self.pos > MAX_HEAD {
                return Err(HttpError::TooLarge);
            }
            self.fill().await?;
        }
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line().await?;
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .ok_or(HttpError::Malformed("chunk size"))?;
            if body.len() + size > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            if size == 0 {
                // Trailers, if any, end with an empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_exact_body(size).await?);
            if !self.read_line().await?.is_empty() {
                return Err(HttpError::Malformed("chunk not followed by CRLF"));
            }
        }
    }

    async fn read_to_close(&mut self) -> Result<Vec<u8>, HttpError> {
        loop {
            if self.input.len() - self.pos > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            match self.fill().await {
                Ok(()) => {}
                Err(HttpError::Closed) => break,
                Err(e) => return Err(e),
            }
        }
        let body = slice(&self.input, self.pos..self.input.len())?.to_vec();
        self.pos = self.input.len();
        Ok(body)
    }

    /// Drops consumed bytes so the buffer does not grow over a long run.
    fn compact(&mut self) {
        if self.pos == self.input.len() {
            self.input.clear();
        } else {
            self.input.drain(..self.pos);
        }
        self.pos = 0;
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    framing: Framing,
    close: bool,
}

fn parse_head(head: &[u8]) -> Result<Head, HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("head not utf-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("status line"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or(HttpError::Malformed("status code"))?;
    let mut framing = Framing::UntilClose;
    let mut close = version == "HTTP/1.0";
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Malformed("header line"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| HttpError::Malformed("content-length"))?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Head {
        status,
        framing,
        close,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A server that answers each request with the next canned bytes, then closes.
    async fn canned(answers: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for answer in answers {
                let mut got = Vec::new();
                while find(&got, b"\r\n\r\n").is_none() {
                    let n = socket.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                socket.write_all(answer).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_over_one_connection() {
        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
        .await;
        let mut conn = Connection::connect(addr).await.unwrap();
        let first = conn.send("GET", "/me", &[], b"").await.unwrap();
        assert_eq!((first.status, first.body.as_slice()), (200, &b"hello"[..]));
        let second = conn
            .send("POST", "/auth/refresh", &[("a", "b")], b"x=1")
            .await
            .unwrap();
        assert_eq!(
            (second.status, second.body.as_slice()),
            (401, &b"abcde"[..])
        );
        let third = conn.send("GET", "/", &[], b"").await.unwrap();
        assert_eq!((third.status, third.body.len()), (204, 0));
        assert!(!conn.is_closed());
    }

    #[tokio::test]
    async fn a_connection_close_answer_ends_the_connection() {
        let addr = canned(vec![
            b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ])
        .await;
        let mut conn = Connection::connect(addr).await.unwrap();
        assert_eq!(conn.send("GET", "/", &[], b"").await.unwrap().status, 503);
        assert!(conn.is_closed());
        assert!(matches!(
            conn.send("GET", "/", &[], b"").await,
            Err(HttpError::Closed)
        ));
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_response() {
        let addr = canned(vec![b"SSH-2.0-OpenSSH\r\n\r\n"]).await;
        let mut conn = Connection::connect(addr).await.unwrap();
        assert!(matches!(
            conn.send("GET", "/", &[], b"").await,
            Err(HttpError::Malformed(_))
        ));
    }
}

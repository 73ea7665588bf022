//! A Lambda Runtime API emulator: just enough of the real API for a real function binary to
//! boot, fetch events and post answers, with timings taken where the Lambda service would
//! take them.
//!
//! One emulator serves one function process, as in Lambda: the process long-polls
//! `GET /2018-06-01/runtime/invocation/next`, and each [`Emulator::invoke`] hands it one event.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::E2eError;

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`: the function's result.
    Response(Vec<u8>),
    /// `POST /runtime/invocation/{id}/error`: the function reported an error.
    Error {
        /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
        error_type: Option<String>,
        /// The error document the runtime posted (`errorType`, `errorMessage`).
        body: Vec<u8>,
    },
}

impl Outcome {
    /// The response parsed as JSON, or an error naming what came back instead.
    pub fn json(&self) -> Result<serde_json::Value, E2eError> {
        match self {
            Outcome::Response(body) => serde_json::from_slice(body)
                .map_err(|e| E2eError::Protocol(format!("response is not JSON: {e}"))),
            Outcome::Error { body, .. } => Err(E2eError::Protocol(format!(
                "function answered with an error: {}",
                String::from_utf8_lossy(body)
            ))),
        }
    }

    /// The `errorMessage` of an error outcome (the authorizer's `Unauthorized`, say).
    pub fn error_message(&self) -> Option<String> {
        match self {
            Outcome::Error { body, .. } => serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_owned)),
            Outcome::Response(_) => None,
        }
    }
}

/// One finished invocation: the answer and how long the caller waited for it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// What the function answered.
    pub outcome: Outcome,
    /// From handing the event to the runtime API to receiving the answer.
    pub elapsed: Duration,
}

struct Pending {
    id: String,
    body: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

struct Inner {
    queue: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_poll: OnceLock<Instant>,
    polled: Notify,
    init_error: Mutex<Option<String>>,
}

/// A running Runtime API endpoint on loopback.
pub struct Emulator {
    addr: SocketAddr,
    inner: Arc<Inner>,
    sender: mpsc::Sender<Pending>,
    next_id: AtomicU64,
    server: JoinHandle<()>,
}

const BASE: &str = "/2018-06-01/runtime";

impl Emulator {
    /// Starts an emulator on a free loopback port.
    pub async fn start() -> Result<Self, E2eError> {
        let (sender, receiver) = mpsc::channel(64);
        let inner = Arc::new(Inner {
            queue: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            first_poll: OnceLock::new(),
            polled: Notify::new(),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route(&format!("{BASE}/invocation/next"), get(next))
            .route(
                &format!("{BASE}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{BASE}/invocation/{{id}}/error"), post(error))
            .route(&format!("{BASE}/init/error"), post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            // The server ends with the test; an accept error there has nowhere to go.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            inner,
            sender,
            next_id: AtomicU64::new(1),
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme).
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for an event (the end of its init phase).
    pub fn first_poll(&self) -> Option<Instant> {
        self.inner.first_poll.get().copied()
    }

    /// Waits until the function first polls for an event, or reports an init error.
    pub async fn wait_first_poll(&self, bound: Duration) -> Result<Instant, E2eError> {
        let deadline = Instant::now() + bound;
        loop {
            let notified = self.inner.polled.notified();
            if let Some(at) = self.first_poll() {
                return Ok(at);
            }
            if let Some(err) = self.init_error() {
                return Err(E2eError::InitFailed(err));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(E2eError::Timeout("the function's first poll for an event"));
            }
            // Wake on the first poll, or re-check periodically for an init error.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notified).await;
        }
    }

    /// The error document the function posted to `/runtime/init/error`, if any.
    pub fn init_error(&self) -> Option<String> {
        self.inner.init_error.lock().ok().and_then(|e| e.clone())
    }

    /// Hands one event to the function and waits (at most `bound`) for its answer.
    pub async fn invoke(&self, event: Vec<u8>, bound: Duration) -> Result<Invocation, E2eError> {
        let id = format!(
            "00000000-0000-4000-8000-{:012x}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (reply, answer) = oneshot::channel();
        let started = Instant::now();
        self.sender
            .send(Pending {
                id,
                body: event,
                reply,
            })
            .await
            .map_err(|_| E2eError::Protocol("the emulator's queue is closed".into()))?;
        let outcome = tokio::time::timeout(bound, answer)
            .await
            .map_err(|_| E2eError::Timeout("the function's answer"))?
            .map_err(|_| E2eError::Protocol("the invocation was dropped".into()))?;
        Ok(Invocation {
            outcome,
            elapsed: started.elapsed(),
        })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    if inner.first_poll.set(Instant::now()).is_ok() {
        inner.polled.notify_waiters();
    }
    let pending = {
        let mut queue = inner.queue.lock().await;
        queue.recv().await
    };
    let Some(pending) = pending else {
        return StatusCode::GONE.into_response();
    };
    if let Ok(mut in_flight) = inner.in_flight.lock() {
        in_flight.insert(pending.id.clone(), pending.reply);
    }
    let deadline_ms = SystemTime::now()
        .checked_add(Duration::from_secs(30))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", pending.id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:tessera-e2e".into(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".into(),
    );
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, pending.body).into_response()
}

fn complete(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    let reply = inner.in_flight.lock().ok().and_then(|mut m| m.remove(id));
    match reply {
        Some(reply) => {
            // The invoker may have given up waiting; the answer is then simply dropped.
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    complete(&inner, &id, Outcome::Response(body.to_vec()))
}

async fn error(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    complete(
        &inner,
        &id,
        Outcome::Error {
            error_type,
            body: body.to_vec(),
        },
    )
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    if let Ok(mut slot) = inner.init_error.lock() {
        *slot = Some(String::from_utf8_lossy(&body).into_owned());
    }
    inner.polled.notify_waiters();
    StatusCode::ACCEPTED
}

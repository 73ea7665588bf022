//! The accept loop of the local gateway: HTTP/1.1 connections served with hyper, each bounded
//! in time and all of them in number, so a client that opens connections and then trickles
//! or withholds bytes (slowloris) cannot pin the process's file descriptors.
//!
//! - At most `max_connections` connections are served at once: a permit is taken before
//!   `accept`, so the next connection waits in the kernel's backlog, not in memory.
//! - A request head must arrive within `header_timeout` of the connection opening, or of the
//!   first byte of a later request on it.
//! - Once an answer is handed over, nothing may stand still for `idle_timeout`: the answer
//!   must keep being read (a slow reader is fine, one that stops is not) and, once sent, the
//!   next request must begin. A write stalled for as long fails in any phase.
//! - While a request is being handled no deadline runs here: the handler bounds its own
//!   body read and its upstream call.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a keep-alive connection
//! waits for its next request, so it cannot be told apart from the idle timeout. The
//! deadlines are enforced in the connection's I/O instead, where every byte passes.
//!
//! When the shutdown future resolves (`tessera serve`: SIGINT or SIGTERM), nothing more is
//! accepted, idle connections close, and requests in flight finish first.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tracing::{debug, warn};

/// How long a client may take, and how many may be served at once.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From a connection's opening, or a later request's first byte, to its complete head.
    pub header_timeout: Duration,
    /// The longest a connection may stand still between requests, and a write may stall.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

/// Pause before accepting again after an error that is not one connection's (out of file
/// descriptors, say), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves every connection on `listener` with `handler` until `shutdown` resolves, then
/// stops accepting and waits for the connections still open to finish.
pub async fn run<H, F, B>(
    listener: TcpListener,
    limits: Limits,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; were it, nothing more could be served.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        let clock = Arc::new(Clock::new());
        let io = TokioIo::new(Watched::new(stream, Arc::clone(&clock), limits));
        let handler = handler.clone();
        let service = service_fn(move |request| {
            clock.handling();
            let answer = handler(request, peer);
            let clock = Arc::clone(&clock);
            async move {
                let response = answer.await.map(|body| Tracked {
                    body,
                    clock: Some(clock),
                });
                Ok::<_, Infallible>(response)
            }
        });
        let connection = http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%peer, %error, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors that concern one connection only, after which accepting again is right.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Where a connection is in its request cycle, which decides the read deadline.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for a request head that is due `header_timeout` after `since`.
    Head { since: Instant },
    /// A request is with the handler, or its answer is being written.
    Handling,
    /// The answer was handed over at `since`; what is left of it is being written, or the
    /// connection waits for the next request.
    Idle { since: Instant },
}

/// A connection's phase, shared by its I/O, its service and its answer bodies.
#[derive(Debug)]
struct Clock(Mutex<Shared>);

#[derive(Debug)]
struct Shared {
    phase: Phase,
    /// When a write last made progress: an answer still going out to a slow reader keeps
    /// an idle connection alive.
    last_write: Instant,
}

impl Clock {
    fn new() -> Self {
        let now = Instant::now();
        Self(Mutex::new(Shared {
            phase: Phase::Head { since: now },
            last_write: now,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A poisoned lock still holds a valid phase: no code here panics while holding it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut shared = self.lock();
        shared.phase = change(shared.phase);
    }

    /// Bytes arrived: on an idle connection they start the next request's head.
    fn bytes_read(&self) {
        self.set(|phase| match phase {
            Phase::Idle { .. } => Phase::Head {
                since: Instant::now(),
            },
            other => other,
        });
    }

    fn handling(&self) {
        self.set(|_| Phase::Handling);
    }

    fn wrote(&self) {
        self.lock().last_write = Instant::now();
    }

    fn answered(&self) {
        self.set(|_| Phase::Idle {
            since: Instant::now(),
        });
    }

    /// When a read that is about to wait must be woken: the phase's deadline, and whether
    /// it is a limit (past it, the connection is closed). While a request is with the handler
    /// there is no limit, only a time to look again: the phase will have changed by then (an
    /// answer sent wakes nothing; this check, or the next bytes, see it).
    fn read_deadline(&self, limits: &Limits) -> (Instant, bool) {
        let shared = self.lock();
        match shared.phase {
            Phase::Head { since } => (since + limits.header_timeout, true),
            Phase::Handling => (Instant::now() + limits.idle_timeout, false),
            Phase::Idle { since } => (since.max(shared.last_write) + limits.idle_timeout, true),
        }
    }
}

/// An answer body that marks the connection idle once it has been sent (or dropped).
struct Tracked<B> {
    body: B,
    clock: Option<Arc<Clock>>,
}

impl<B> Tracked<B> {
    fn finish(&mut self) {
        if let Some(clock) = self.clock.take() {
            clock.answered();
        }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        if frame.is_none() {
            this.finish();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket with its deadlines: a read that waits past the phase's deadline,
/// or a write stalled for `idle_timeout`, fails with `TimedOut`, and hyper closes the
/// connection.
struct Watched {
    stream: TcpStream,
    clock: Arc<Clock>,
    limits: Limits,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    write_stalled_since: Option<Instant>,
}

impl Watched {
    fn new(stream: TcpStream, clock: Arc<Clock>, limits: Limits) -> Self {
        let now = Instant::now();
        Self {
            stream,
            clock,
            limits,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            write_timer: Box::pin(tokio::time::sleep_until(now)),
            write_stalled_since: None,
        }
    }

    /// Passes a ready write on, noting progress; a pending one fails once it has stalled for
    /// `idle_timeout`.
    fn write_progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
        progressed: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(Ok(done)) => {
                self.write_stalled_since = None;
                if progressed(&done) {
                    self.clock.wrote();
                }
                Poll::Ready(Ok(done))
            }
            Poll::Pending => {
                let since = *self.write_stalled_since.get_or_insert_with(Instant::now);
                expire(
                    &mut self.write_timer,
                    since + self.limits.idle_timeout,
                    true,
                    cx,
                    "the client stopped reading",
                )
            }
            ready => {
                self.write_stalled_since = None;
                ready
            }
        }
    }
}

/// Pending until `deadline`; then, when it is a `limit`, a `TimedOut` error. The timer wakes
/// the task when due. A connection's deadline moves on with every request, and moving a
/// timer takes a lock in the runtime's timer wheel, so the timer is only ever moved earlier
/// here: one that fires before the real deadline is re-armed to it then.
fn expire<T>(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    limit: bool,
    cx: &mut Context<'_>,
    what: &'static str,
) -> Poll<io::Result<T>> {
    if deadline < timer.deadline() {
        timer.as_mut().reset(deadline);
    }
    while timer.as_mut().poll(cx).is_ready() {
        if limit && Instant::now() >= deadline {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
        }
        // Early (or no limit): wait for the real deadline. It is later than now unless it is
        // a limit already past, which returned above; so the next poll is pending.
        timer
            .as_mut()
            .reset(deadline.max(Instant::now() + Duration::from_millis(1)));
    }
    Poll::Pending
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let (deadline, limit) = this.clock.read_deadline(&this.limits);
                expire(
                    &mut this.read_timer,
                    deadline,
                    limit,
                    cx,
                    "the client sent no request in time",
                )
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.write_progress(cx, polled, |n| *n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.write_progress(cx, polled, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.write_progress(cx, polled, |()| false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.write_progress(cx, polled, |()| false)
    }
}

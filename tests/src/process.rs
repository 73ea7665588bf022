//! Real function binaries, started the way Lambda starts them: a fresh process whose only
//! line to the world is `AWS_LAMBDA_RUNTIME_API`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::E2eError;
use crate::emulator::{Emulator, Invocation};

/// How long a function may take to boot or to answer before a test gives up. A readiness
/// bound, not a performance assertion.
pub const BOUND: Duration = Duration::from_secs(30);

/// Where the function binaries are: `TESSERA_BIN_DIR`. scripts/test points it at
/// `target/lambda`, the artefacts `cargo lambda build` makes for `sam deploy` (one folder per
/// function, its binary named `bootstrap`); a plain `target/release` works too. A relative
/// path is taken from the workspace root.
pub fn bin_dir() -> Result<PathBuf, E2eError> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("TESSERA_BIN_DIR")
        .map(|dir| workspace.join(dir))
        .ok_or(E2eError::Setup(
            "TESSERA_BIN_DIR is not set: run scripts/test, or build the functions with \
             `cargo build --release --bins` and set TESSERA_BIN_DIR=target/release",
        ))
}

/// The path of one function binary, checked to exist: `<dir>/<name>/bootstrap` (what
/// `cargo lambda build` makes, and Lambda runs) or `<dir>/<name>`.
pub fn binary(name: &str) -> Result<PathBuf, E2eError> {
    let dir = bin_dir()?;
    let shipped = dir.join(name).join("bootstrap");
    if shipped.is_file() {
        return Ok(shipped);
    }
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(E2eError::MissingBinary(path.display().to_string()))
    }
}

/// A function process under its own emulator.
pub struct LambdaProcess {
    emulator: Emulator,
    child: Child,
    /// From spawning the process to its first poll for an event: the init phase.
    pub init: Duration,
    logs: Arc<Mutex<Vec<String>>>,
    written: Arc<tokio::sync::Notify>,
}

impl LambdaProcess {
    /// Spawns `binary` with the standard Lambda environment plus `env`, and waits until it
    /// polls for its first event.
    pub async fn spawn(binary: &Path, env: &[(&str, &str)]) -> Result<Self, E2eError> {
        let emulator = Emulator::start().await?;
        // A shipped artefact is `<function>/bootstrap`: name the process after its folder.
        let named = match binary.file_name() {
            Some(file) if file == "bootstrap" => binary.parent().and_then(Path::file_name),
            file => file,
        };
        let name = named
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]e2e")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let spawned = Instant::now();
        let mut child = command.spawn()?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(tokio::sync::Notify::new());
        let mut collectors = Vec::new();
        if let Some(out) = child.stdout.take() {
            collectors.push(collect(out, logs.clone(), written.clone()));
        }
        if let Some(err) = child.stderr.take() {
            collectors.push(collect(err, logs.clone(), written.clone()));
        }
        let ready = tokio::select! {
            ready = emulator.wait_first_poll(BOUND) => ready,
            status = child.wait() => {
                // The process is gone, but its last lines (the reason it exited) may still be
                // in the pipes: read them to the end before reporting.
                for collector in collectors {
                    let _ = tokio::time::timeout(BOUND, collector).await;
                }
                return Err(E2eError::InitFailed(format!(
                    "{name} exited during init ({status:?}): {}",
                    snapshot(&logs).join("\n")
                )));
            }
        };
        let first_poll = match ready {
            Ok(at) => at,
            // Posted to /runtime/init/error: the error document, then what the process logged.
            Err(E2eError::InitFailed(msg)) => {
                return Err(E2eError::InitFailed(format!(
                    "{name} reported an init error: {msg}\n{}",
                    snapshot(&logs).join("\n")
                )));
            }
            Err(e) => return Err(e),
        };
        Ok(Self {
            emulator,
            child,
            init: first_poll.saturating_duration_since(spawned),
            logs,
            written,
        })
    }

    /// Sends one event and waits for the answer.
    pub async fn invoke(&self, event: &serde_json::Value) -> Result<Invocation, E2eError> {
        let body = serde_json::to_vec(event)
            .map_err(|e| E2eError::Protocol(format!("event does not serialise: {e}")))?;
        self.emulator.invoke(body, BOUND).await
    }

    /// Sends raw bytes as the event (for malformed-event tests).
    pub async fn invoke_raw(&self, event: Vec<u8>) -> Result<Invocation, E2eError> {
        self.emulator.invoke(event, BOUND).await
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn logs(&self) -> Vec<String> {
        snapshot(&self.logs)
    }

    /// The process's lines once `done` holds for them: a line written before an answer may
    /// reach the pipe's reader after the answer reached the test. Woken by each new line,
    /// never by a timer; gives up after [`BOUND`].
    pub async fn logs_when(
        &self,
        done: impl Fn(&[String]) -> bool,
    ) -> Result<Vec<String>, E2eError> {
        let wait = async {
            loop {
                // Registered before the check, so a line written in between still wakes it.
                let written = self.written.notified();
                let logs = self.logs();
                if done(&logs) {
                    return logs;
                }
                written.await;
            }
        };
        tokio::time::timeout(BOUND, wait)
            .await
            .map_err(|_| E2eError::Timeout("the expected log lines"))
    }
}

fn snapshot(logs: &Mutex<Vec<String>>) -> Vec<String> {
    logs.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Copies `stream` line by line into `into` until it ends; the handle finishes at its end.
fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
    written: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut logs) = into.lock() {
                logs.push(line);
            }
            written.notify_waiters();
        }
    })
}

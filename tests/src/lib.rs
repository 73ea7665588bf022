//! End-to-end test support: a Lambda Runtime API emulator, helpers that start the real
//! function binaries under it ([`stack::Stack`]: one shared configuration, key file and
//! DynamoDB Local table), and the sample events of `events/` with their placeholders filled
//! in ([`events`]). The tests themselves live in `tests/`; `lambda-report` measures the
//! binaries against the empty function.
//!
//! Test support only: nothing here ships, so a JSON pointer into an event it built itself may
//! index directly (a panic is a failed test).
#![allow(clippy::indexing_slicing)]

pub mod emulator;
pub mod events;
pub mod process;
pub mod stack;

/// Why an end-to-end step failed.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// The test environment is incomplete (a variable or binary is missing).
    #[error("test setup: {0}")]
    Setup(&'static str),
    /// A function binary the test needs was not built.
    #[error("binary not found: {0} (run scripts/test, which builds the release binaries)")]
    MissingBinary(String),
    /// The function failed during init (it exited, or posted to /runtime/init/error).
    #[error("function init failed: {0}")]
    InitFailed(String),
    /// Preparing the fixture (key file, table, user) failed.
    #[error("fixture: {0}")]
    Fixture(String),
    /// Something did not happen within the readiness bound.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The function or emulator spoke out of turn.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Spawning or talking to a process or socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

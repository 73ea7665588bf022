//! The one error type of every command: what `main` prints as `error: ...` before a non-zero
//! exit.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a command failed; printed as `error: ...` with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A configuration variable is invalid.
    #[error("configuration: {0}")]
    Config(#[from] tessera_service::ConfigError),
    /// `AUTHORIZER_SCOPE_RULES` does not parse.
    #[error("AUTHORIZER_SCOPE_RULES is invalid: {0}")]
    Rules(#[from] tessera_authorizer::ScopeRulesError),
    /// The data folder cannot be created or written.
    #[error("data folder {path} is not writable: {source}")]
    DataFolder {
        /// The folder.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Key material could not be loaded.
    #[error("keys: {0}")]
    Keys(#[from] tessera_keys::KeysError),
    /// The store refused.
    #[error("store: {0}")]
    Store(#[from] tessera_store::StoreError),
    /// A use case refused (a bad username, say).
    #[error("{0}")]
    Service(#[from] tessera_service::ServiceError),
    /// The command's input is wrong.
    #[error("{0}")]
    Usage(String),
    /// `--upstream` is not a URL the gateway can forward to.
    #[error("--upstream {0}")]
    Upstream(#[from] tessera_gateway::UpstreamError),
    /// Reading input or writing output failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

//! Building what the commands need, once: configuration, the store, the keys and tracing,
//! with clear errors for an unwritable data folder or a missing table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_authorizer::ScopeRules;
use tessera_authorizer::sessions::{LiveSessions, StoreSessions};
use tessera_service::Config;
use tessera_store::{DynamoStore, SqliteStore};
use tessera_token::VerifyPolicy;

use crate::StoreArgs;
use crate::error::CliError;

/// Structured logs to stderr; `RUST_LOG` filters (default `info`). The lines are written by a
/// thread of their own: a request formats its access line and moves on, instead of taking
/// stderr's lock and making a write call on the request path (a fifth of `tessera serve`'s CPU
/// per request, measured), and under load that thread writes many lines per call. Nothing is dropped (the queue applies back-pressure when full);
/// keep the returned guard alive until exit, which flushes what is queued.
pub fn init_tracing() -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The log thread writes what it finds queued into one buffer and flushes it when the queue
    // is empty: under load, one `write` carries many lines; when idle, each line goes at once.
    let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(stderr);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .compact()
        .init();
    guard
}

/// The service configuration from the environment, with defaults that suit one machine:
/// `ISSUER` defaults to this server's URL and `AUDIENCE` to `tessera`.
pub fn config(addr: Option<SocketAddr>) -> Result<Config, CliError> {
    let issuer = addr.map_or_else(
        || "http://127.0.0.1:8080".to_owned(),
        |a| format!("http://{a}"),
    );
    Ok(Config::from_lookup(|name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| match name {
                "ISSUER" => Some(issuer.clone()),
                "AUDIENCE" => Some("tessera".to_owned()),
                _ => None,
            })
    })?)
}

/// The verification policy the authorizer applies, from the configuration.
pub fn verify_policy(config: &Config) -> VerifyPolicy {
    config.verify.access_policy()
}

/// Route scope rules from `AUTHORIZER_SCOPE_RULES` (empty: none).
pub fn scope_rules() -> Result<ScopeRules, CliError> {
    match std::env::var("AUTHORIZER_SCOPE_RULES") {
        Ok(rules) if !rules.trim().is_empty() => Ok(ScopeRules::parse(&rules)?),
        _ => Ok(ScopeRules::none()),
    }
}

/// The key file in a data folder.
pub fn key_file(data: &Path) -> PathBuf {
    data.join("keys.json")
}

/// Creates the data folder (private to this user) and proves it writable.
pub fn ensure_data_folder(data: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |source| CliError::DataFolder {
        path: data.to_owned(),
        source,
    };
    if !data.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data)
            .map_err(fail)?;
    }
    let probe = data.join(".write-probe");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

/// The store a command works on.
pub enum AnyStore {
    /// The embedded SQLite file in the data folder.
    Sqlite(SqliteStore),
    /// DynamoDB (Local, or AWS).
    Dynamo(DynamoStore),
}

impl AnyStore {
    /// The store as the authorizer's revocation check asks it: is this session live?
    pub fn live_sessions(&self) -> Arc<dyn LiveSessions> {
        match self {
            Self::Sqlite(s) => Arc::new(StoreSessions::new(s.clone())),
            Self::Dynamo(d) => Arc::new(StoreSessions::new(d.clone())),
        }
    }
}

/// Runs `$body` with `$s` bound to the concrete store, so the commands stay generic over
/// [`Store`] without boxing.
#[macro_export]
macro_rules! with_store {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            $crate::setup::AnyStore::Sqlite($s) => $body,
            $crate::setup::AnyStore::Dynamo($s) => $body,
        }
    };
}

/// Opens the store the arguments name.
pub async fn open_store(args: &StoreArgs) -> Result<AnyStore, CliError> {
    match &args.table {
        Some(table) => {
            let store = DynamoStore::from_endpoint(args.dynamodb_endpoint.as_deref(), table).await;
            if args.create_table {
                store.create_table().await?;
            } else {
                store.check_table().await.map_err(|e| match e {
                    tessera_store::StoreError::NotFound => CliError::Usage(format!(
                        "dynamodb table {table} does not exist{}: create it or pass --create-table",
                        args.dynamodb_endpoint
                            .as_deref()
                            .map(|e| format!(" at {e}"))
                            .unwrap_or_default()
                    )),
                    e => e.into(),
                })?;
            }
            Ok(AnyStore::Dynamo(store))
        }
        None => {
            ensure_data_folder(&args.data)?;
            let path = args.data.join("tessera.db");
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await
                .map_err(|e| CliError::Usage(format!("store task failed: {e}")))??;
            Ok(AnyStore::Sqlite(store))
        }
    }
}

//! Building what the commands need, once: configuration, the store, the keys, tracing, and
//! the `serve` start-up with clear errors for a taken port or an unwritable data folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tessera_authorizer::ScopeRules;
use tessera_authorizer::keyring::{KeyedAuthorizer, RevocationCheck};
use tessera_keys::{KeyFile, KeyRing, KeySource};
use tessera_service::{Config, Service};
use tessera_store::{DynamoStore, SqliteStore};
use tessera_token::VerifyPolicy;
use tracing::info;

use crate::gateway::{AuthorizerCache, Gateway, Upstream};
use crate::{ServeArgs, StoreArgs};

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
    /// Reading input or writing output failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

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

/// `tessera serve`.
pub async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let config = config(Some(args.addr))?;
    let rules = scope_rules()?;
    let cache = AuthorizerCache::from_env()?;
    let revocation = RevocationCheck::from_vars(&tessera_config::Vars::env())?;
    ensure_data_folder(&args.store.data)?;
    let key_path = key_file(&args.store.data);
    let alg = config.verify.alg;
    // Creates the key file on first start; the ring then owns the one key set that both the
    // service and the authorizer use (its clones share it), re-read every
    // KEY_RELOAD_INTERVAL so that `tessera keys rotate` reaches a running server.
    KeyFile::load_or_create(&key_path, alg)?;
    let ring = KeyRing::load(KeySource::File(key_path), alg)
        .await?
        .with_refresh_interval(std::time::Duration::from_secs(config.key_reload_interval));
    let upstream = args
        .upstream
        .as_deref()
        .map(|base| upstream(base, &args))
        .transpose()?;
    let limits = crate::server::Limits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
    };
    // Bind before anything else listens, so a taken port fails fast and clearly.
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|source| CliError::Bind {
            addr: args.addr,
            source,
        })?;
    let metrics = (!args.no_metrics)
        .then(crate::metrics::Metrics::install)
        .transpose()?;
    let store = open_store(&args.store).await?;
    let policy = verify_policy(&config);
    let store_name = match &store {
        AnyStore::Sqlite(_) => format!("sqlite in {}", args.store.data.display()),
        AnyStore::Dynamo(d) => format!("dynamodb table {}", d.table()),
    };
    info!(
        addr = %args.addr,
        store = %store_name,
        issuer = %config.verify.issuer,
        alg = alg.as_str(),
        upstream = args.upstream.as_deref().unwrap_or("none"),
        metrics = if metrics.is_some() { "/metrics, loopback only" } else { "off" },
        "tessera serve listening"
    );
    let mut authorizer = KeyedAuthorizer::new(ring.clone(), policy, rules);
    if let RevocationCheck::Session { cache_secs } = revocation {
        authorizer = authorizer.with_sessions(crate::sessions::live_sessions(&store), cache_secs);
    }
    let gateway = Gateway::new(
        authorizer,
        cache,
        upstream,
        args.body_timeout,
        std::sync::Arc::new(tessera_service::system_now),
    )
    .with_access_log(args.access_log)
    .with_cors(config.cors.clone());
    with_store!(store, s => {
        let service = Service::new(config, ring, s);
        crate::server::run(
            listener,
            limits,
            crate::serve::app(service, gateway, metrics),
            crate::serve::shutdown_signal(),
        )
        .await;
        Ok(())
    })
}

/// The `--upstream` API, checked at start: an absolute http(s) URL without query or
/// fragment, and its client with the `--upstream-*` bounds.
fn upstream(base: &str, args: &ServeArgs) -> Result<Upstream, CliError> {
    let url = reqwest::Url::parse(base)
        .map_err(|e| CliError::Usage(format!("--upstream {base:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(CliError::Usage(format!(
            "--upstream {base:?} must be an http or https URL without a query"
        )));
    }
    // A gateway passes redirects back to its client; following them would send the
    // authorizer context to wherever the upstream points.
    let client = reqwest::Client::builder()
        .connect_timeout(args.upstream_connect_timeout)
        .timeout(args.upstream_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CliError::Usage(format!("--upstream {base:?}: no HTTP client: {e}")))?;
    Ok(Upstream {
        // The parser's own spelling, so a request URL built on it parses back unchanged.
        base: url.as_str().trim_end_matches('/').to_owned(),
        base_path: url.path().trim_end_matches('/').to_owned(),
        client,
        max_response_bytes: args.upstream_max_response_bytes,
    })
}

//! `tessera serve`: every endpoint on one port, the very routers the Lambda functions run,
//! behind the gateway that acts as the REST API in template.yaml ([`tessera_gateway`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::Request;
use hyper::body::Incoming;
use tessera_authorizer::keyring::{KeyedAuthorizer, RevocationCheck};
use tessera_gateway::server::{self, Limits};
use tessera_gateway::{AppFuture, AuthorizerCache, Gateway, Upstream, UpstreamLimits};
use tessera_keys::{KeyFile, KeyRing, KeySource};
use tessera_service::Service;
use tracing::info;

use crate::ServeArgs;
use crate::error::CliError;
use crate::metrics::Metrics;
use crate::setup::{self, AnyStore};
use crate::with_store;

/// `tessera serve`.
pub async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let config = setup::config(Some(args.addr))?;
    let rules = setup::scope_rules()?;
    let cache = AuthorizerCache::from_env()?;
    let revocation = RevocationCheck::from_vars(&tessera_config::Vars::env())?;
    setup::ensure_data_folder(&args.store.data)?;
    let key_path = setup::key_file(&args.store.data);
    let alg = config.verify.alg;
    // Creates the key file on first start; the ring then owns the one key set that both the
    // service and the authorizer use (its clones share it), re-read every
    // KEY_RELOAD_INTERVAL so that `tessera keys rotate` reaches a running server.
    KeyFile::load_or_create(&key_path, alg)?;
    let ring = KeyRing::load(KeySource::File(key_path), alg)
        .await?
        .with_refresh_interval(Duration::from_secs(config.key_reload_interval));
    let upstream = args
        .upstream
        .as_deref()
        .map(|base| {
            let limits = UpstreamLimits {
                connect_timeout: args.upstream_connect_timeout,
                timeout: args.upstream_timeout,
                max_response_bytes: args.upstream_max_response_bytes,
            };
            Upstream::new(base, limits)
        })
        .transpose()?;
    let limits = Limits {
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
    let metrics = (!args.no_metrics).then(Metrics::install).transpose()?;
    let store = setup::open_store(&args.store).await?;
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
    let mut authorizer = KeyedAuthorizer::new(ring.clone(), setup::verify_policy(&config), rules);
    if let RevocationCheck::Session { cache_secs } = revocation {
        authorizer = authorizer.with_sessions(store.live_sessions(), cache_secs);
    }
    let gateway = Gateway::new(
        authorizer,
        cache,
        upstream,
        args.body_timeout,
        Arc::new(tessera_service::system_now),
    )
    .with_access_log(args.access_log)
    .with_cors(config.cors.clone());
    with_store!(store, s => {
        let router = tessera_service::router(Arc::new(Service::new(config, ring, s)));
        let app = with_metrics(gateway.wrap(router), metrics);
        server::run(listener, limits, app, shutdown_signal()).await;
        Ok(())
    })
}

/// The gateway's app and, with `metrics`, `GET /metrics` for a client on loopback, answered
/// before the gateway (it is this process's page, not the API's).
fn with_metrics(
    app: impl Fn(Request<Incoming>, SocketAddr) -> AppFuture + Clone + Send + Sync + 'static,
    metrics: Option<Metrics>,
) -> impl Fn(Request<Incoming>, SocketAddr) -> AppFuture + Clone + Send + Sync + 'static {
    let metrics = metrics.map(Arc::new);
    move |request, peer| match &metrics {
        Some(metrics)
            if request.uri().path() == "/metrics"
                && request.method() == http::Method::GET
                && peer.ip().to_canonical().is_loopback() =>
        {
            let page = metrics.render();
            Box::pin(async move { metrics_page(page) })
        }
        _ => app(request, peer),
    }
}

/// Prometheus's text exposition format, never cached.
fn metrics_page(page: String) -> Response {
    let mut response = Response::new(Body::from(page));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = interrupt.await;
        return;
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    info!("shutting down");
}

//! `tessera serve`: every endpoint on one port, the very routers the Lambda functions run,
//! behind the gateway layer that acts as the REST API in template.yaml ([`crate::gateway`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use tessera_service::{ClientIp, Service};
use tessera_store::Store;
use tower::ServiceExt as _;
use tracing::info;

use crate::gateway::{self, Gateway};
use crate::metrics::Metrics;

/// The whole local API: [`tessera_service::router`] wrapped in the gateway layer, as one
/// service the connection loop calls with each request and the peer's address; and, with
/// `metrics`, `GET /metrics` for a client on loopback, answered before the gateway (it is
/// this process's, not the API's).
pub fn app<S: Store + 'static>(
    service: Service<S>,
    gateway: Gateway,
    metrics: Option<Metrics>,
) -> impl Fn(http::Request<hyper::body::Incoming>, SocketAddr) -> AppFuture + Clone + Send + Sync + 'static
{
    let router = tessera_service::router(Arc::new(service));
    let app = axum::middleware::from_fn_with_state(Arc::new(gateway), gateway::layer);
    let app = tower::Layer::layer(&app, router);
    let metrics = metrics.map(Arc::new);
    move |request: http::Request<hyper::body::Incoming>, peer: SocketAddr| {
        if let Some(metrics) = &metrics
            && request.uri().path() == "/metrics"
            && request.method() == http::Method::GET
            && peer.ip().to_canonical().is_loopback()
        {
            let page = metrics.render();
            return Box::pin(async move { metrics_page(page) }) as AppFuture;
        }
        let mut request = request.map(Body::new);
        request
            .extensions_mut()
            .insert(ClientIp(peer.ip().to_string()));
        let app = app.clone();
        Box::pin(async move {
            match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }) as AppFuture
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

/// The future one request's answer comes from.
pub type AppFuture = std::pin::Pin<Box<dyn Future<Output = Response> + Send>>;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    info!("shutting down");
}

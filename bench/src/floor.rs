//! The floor for `tessera serve` numbers: an axum server on the same runtime set-up (tokio's
//! multi-thread scheduler, one worker per core, connect info on) that answers every request
//! with a fixed body the size of `/me`'s, and does nothing else. What `tessera serve` costs
//! per request beyond it is the gateway, the authorizer and the handler.

use std::net::SocketAddr;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};

/// A `/me` answer's shape and size.
const BODY: &str = r#"{"jti":"kL3v9Qm2xZ8pR4tY6wB1nA","scope":"profile","sid":"Hq7sD2fG5jK8lZ1xC4vB6n","sub":"2b3f6c0e9d6a4c1f8e7d6c5b4a392817"}"#;

/// Binds `addr` (port 0: any free port), prints `listening <addr>` on stdout, then serves
/// until the process is stopped.
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening {}", listener.local_addr()?);
    let router = axum::Router::new().fallback(|| async {
        (
            [
                (CONTENT_TYPE, "application/json"),
                (CACHE_CONTROL, "no-store"),
            ],
            BODY,
        )
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

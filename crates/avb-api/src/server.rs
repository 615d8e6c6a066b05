//! Serving a router on a bound listener with graceful shutdown.

use axum::Router;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` completes; handlers see the peer address.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The whole HTTP surface of one `avb` process: `/api/v1`, health, setup, and whatever the
/// caller merges in (the realtime gateway).
pub fn app(api: Router, extra: Router) -> Router {
    extra.merge(api)
}

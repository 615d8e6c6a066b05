//! Serving the router on a bound listener with graceful shutdown.

use avb_core::AppContext;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    ctx: AppContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::router(ctx).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

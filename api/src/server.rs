//! The HTTP application: routes, and serving them with graceful shutdown.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;

/// State shared by every request.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
}

/// Builds the application without binding a socket, so tests can serve it on port 0.
pub fn build_app(pool: PgPool) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(AppState { pool })
}

/// `GET /health`: 200 with the log head when the database answers, 503 otherwise.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let head: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&state.pool)
            .await;
    match head {
        Ok(head) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "head": head.to_string() })),
        ),
        Err(error) => {
            tracing::warn!(error = %error, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unavailable" })),
            )
        }
    }
}

/// Serves `build_app` on `listen` until SIGINT or SIGTERM, then drains open requests.
pub async fn serve(pool: PgPool, listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {listen}: {error}"))?;
    let local = listener.local_addr()?;
    tracing::info!(http.listen = %local, "masar is serving on http://{local}");
    axum::serve(listener, build_app(pool))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("masar stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown signal received");
}

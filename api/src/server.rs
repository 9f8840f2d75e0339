//! The HTTP application: routes, limits, and serving them with graceful shutdown.
//!
//! - `GET /health`: the database's state, and the log head to a caller with a valid API token;
//! - `POST /graphql`, `GET /graphql` (GraphiQL), `GET /graphql/ws`: see [`crate::graphql`].
//!
//! Every request body is limited to [`MAX_BODY_BYTES`] and every request to
//! [`ServerOptions::request_timeout`] (408 after it); over a WebSocket, every message is
//! limited to the same size and every query and mutation to the same time, along with the
//! socket's own limits ([`ServerOptions::websocket`], see [`crate::graphql::ws`]).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{bearer_token, TokenStore};
use crate::graphql::{self, ApiContext, GraphqlState, SchemaOptions, Sockets, WebSocketOptions};
use crate::indicator_updates::UpdateHub;
use crate::notices::NoticeHub;
use crate::privacy::PersonalDataVault;
use crate::write::{DirectoryError, WriteSide};

pub use crate::graphql::MAX_BODY_BYTES;

/// How long a request may take before it is answered 408 Request Timeout (and a query or
/// mutation sent over a WebSocket before it is stopped with an INTERNAL error).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the server is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// The GraphQL schema's options (introspection, depth and complexity limits).
    pub schema: SchemaOptions,
    /// How long a request may take, and a query or mutation sent over a WebSocket.
    pub request_timeout: Duration,
    /// The limits of GraphQL over WebSocket.
    pub websocket: WebSocketOptions,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            schema: SchemaOptions::default(),
            request_timeout: REQUEST_TIMEOUT,
            websocket: WebSocketOptions::default(),
        }
    }
}

/// State shared by every request.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// The GraphQL schema and what authenticates its requests.
    pub graphql: GraphqlState,
    /// How the server is set up.
    pub options: ServerOptions,
}

impl AppState {
    /// Wires the write side to `pool` (loading the directory of programmes and organisations)
    /// and builds the schema. `vault` is `None` when no master key is configured: personal
    /// data is then neither recorded nor read.
    pub async fn new(
        pool: PgPool,
        vault: Option<PersonalDataVault>,
        options: ServerOptions,
    ) -> Result<AppState, DirectoryError> {
        let write = WriteSide::new(pool.clone()).await?;
        let tokens = TokenStore::new(pool.clone());
        let context = ApiContext {
            write,
            tokens: tokens.clone(),
            vault,
            notices: NoticeHub::start(pool.clone()),
            indicator_updates: UpdateHub::start(pool.clone()),
        };
        Ok(AppState {
            graphql: GraphqlState {
                schema: graphql::build_schema(context, options.schema),
                sockets: Sockets::start(tokens.clone(), options.websocket, options.request_timeout),
                tokens,
            },
            pool,
            options,
        })
    }
}

/// Builds the application without binding a socket, so tests can serve it on port 0.
pub fn build_app(state: AppState) -> Router {
    let timeout = state.options.request_timeout;
    Router::new()
        .route("/health", get(health))
        .with_state(HealthState {
            pool: state.pool.clone(),
            tokens: state.graphql.tokens.clone(),
        })
        .merge(graphql::routes(state.graphql))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}

/// What `GET /health` reads: the database, and the tokens that may see the log head.
#[derive(Clone)]
struct HealthState {
    pool: PgPool,
    tokens: TokenStore,
}

/// `GET /health`: 200 when the database answers, 503 otherwise. The log head (how many events
/// the log holds) only to a caller that sends a valid API token as `Authorization: Bearer`;
/// anyone else, a load balancer among them, gets the status alone.
async fn health(
    State(state): State<HealthState>,
    headers: HeaderMap,
) -> (StatusCode, Json<serde_json::Value>) {
    let head: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&state.pool)
            .await;
    match head {
        Ok(head) => {
            let authenticated = match bearer_token(&headers) {
                Ok(secret) => match state.tokens.authenticate(secret).await {
                    Ok(_) => true,
                    Err(error) => {
                        if !error.is_unauthenticated() {
                            tracing::warn!(error = %error, "health check: authentication failed");
                        }
                        false
                    }
                },
                Err(_) => false,
            };
            let body = if authenticated {
                json!({ "status": "ok", "head": head.to_string() })
            } else {
                json!({ "status": "ok" })
            };
            (StatusCode::OK, Json(body))
        }
        Err(error) => {
            tracing::warn!(error = %error, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unavailable" })),
            )
        }
    }
}

/// Starts the projection runners (`masar_projections::feed::run`): each waits to be the only
/// active runner of its projection across servers, then keeps it current.
pub fn spawn_projection_runners(pool: &PgPool) -> Vec<tokio::task::JoinHandle<()>> {
    let forever = std::future::pending::<()>;
    vec![
        tokio::spawn(masar_projections::feed::run(
            pool.clone(),
            masar_projections::beneficiaries::BeneficiaryProjection::default(),
            forever(),
        )),
        tokio::spawn(masar_projections::feed::run(
            pool.clone(),
            masar_projections::activities::ActivityProjection::default(),
            forever(),
        )),
    ]
}

/// Serves `build_app` on `listen` until SIGINT or SIGTERM, then drains open requests; the
/// projection runners run meanwhile.
pub async fn serve(state: AppState, listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {listen}: {error}"))?;
    let local = listener.local_addr()?;
    tracing::info!(http.listen = %local, "masar is serving on http://{local}");
    let runners = spawn_projection_runners(&state.pool);
    let served = axum::serve(listener, build_app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    for runner in runners {
        runner.abort();
    }
    served?;
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

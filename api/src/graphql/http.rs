//! GraphQL over HTTP: `POST /graphql` (application/json), the GraphiQL page at
//! `GET /graphql`, and subscriptions over WebSocket (graphql-ws) at `/graphql/ws` (see
//! [`super::ws`]).
//!
//! Every request is authenticated first, from `Authorization: Bearer <token>` (on a
//! WebSocket, from the `Authorization` field of `connection_init`'s payload): without a live
//! token nothing is parsed or executed, and the answer is one UNAUTHENTICATED error.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use masar_domain::ErrorCode;

use super::error::{ensure_codes, ApiError};
use super::graphiql;
use super::schema::MasarSchema;
use super::ws::{self, Sockets};
use crate::auth::{principal_from_headers, TokenStore};

/// Largest request body accepted, in bytes (2 MiB: a full batch of 1000 events fits).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What the GraphQL routes need.
#[derive(Clone)]
pub struct GraphqlState {
    /// The schema, with its data.
    pub schema: MasarSchema,
    /// API tokens, to authenticate requests.
    pub tokens: TokenStore,
    /// The open WebSockets and their limits.
    pub sockets: Sockets,
}

/// The GraphQL routes: `/graphql` (POST: queries and mutations; GET: GraphiQL),
/// `/graphql/assets/{file}` (GraphiQL's scripts and styles, see [`graphiql`]) and
/// `/graphql/ws` (subscriptions).
pub fn routes(state: GraphqlState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql::page).post(graphql_post))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .route("/graphql/ws", get(ws::graphql_ws))
        .with_state(state)
}

/// `POST /graphql`.
async fn graphql_post(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::new(
                    ErrorCode::BatchTooLarge,
                    format!(
                        "the request body is larger than {} MiB: send fewer events per request",
                        MAX_BODY_BYTES / (1024 * 1024)
                    ),
                ),
            );
        }
        Err(rejection) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    ErrorCode::Validation,
                    format!("the request body could not be read: {rejection}"),
                ),
            );
        }
    };
    let principal = match principal_from_headers(&state.tokens, &headers).await {
        Ok(principal) => principal,
        Err(error) => return error_response(StatusCode::OK, error.into()),
    };
    if !is_json(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::new(
                ErrorCode::Validation,
                "send the GraphQL request as JSON, with `Content-Type: application/json`",
            ),
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    ErrorCode::Validation,
                    format!(
                        "the body is not one GraphQL request (a JSON object with `query`, and \
                         optionally `variables` and `operationName`): {error}"
                    ),
                ),
            );
        }
    };
    if is_subscription(&request) {
        return error_response(
            StatusCode::OK,
            ApiError::new(
                ErrorCode::Validation,
                "subscriptions are served over WebSocket (graphql-ws) at /graphql/ws, not over \
                 POST",
            ),
        );
    }
    let mut response = state.schema.execute(request.data(principal)).await;
    ensure_codes(&mut response);
    json_response(StatusCode::OK, &response)
}

/// Whether the operation the request runs is a subscription (a query that does not parse is
/// left to the schema, which says why).
pub(super) fn is_subscription(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let wanted = request.operation_name.as_deref();
    document.operations.iter().any(|(name, operation)| {
        (wanted.is_none() || name.map(|n| n.as_str()) == wanted)
            && operation.node.ty == async_graphql::parser::types::OperationType::Subscription
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn error_response(status: StatusCode, error: ApiError) -> Response {
    let response = async_graphql::Response::from_errors(vec![error.into_server_error()]);
    json_response(status, &response)
}

fn json_response(status: StatusCode, response: &async_graphql::Response) -> Response {
    match serde_json::to_vec(response) {
        Ok(body) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "serialising a GraphQL response failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

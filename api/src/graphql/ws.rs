//! GraphQL over WebSocket at `GET /graphql/ws`: graphql-ws's `graphql-transport-ws` protocol,
//! and the older subscriptions-transport-ws (`graphql-ws`), with the safeguards of
//! `POST /graphql` and a socket's own:
//!
//! - the token comes in `connection_init`'s payload and is checked then, again before each
//!   operation the socket sends, and every [`WebSocketOptions::token_check_interval`] while
//!   the socket is open (one query a tick for all of the server's sockets, whichever process
//!   revoked the token): a token that no longer authenticates closes all of its sockets with
//!   4403, and nothing they send afterwards runs;
//! - a message over [`MAX_MESSAGE_BYTES`] closes the socket with 1009, unread and unexecuted;
//! - a socket that sends no `connection_init` within [`WebSocketOptions::init_timeout`] is
//!   closed with 4408, as graphql-ws's `connectionInitWaitTimeout`;
//! - each query and mutation stops after the request timeout, as over HTTP, with an INTERNAL
//!   error (its outcome is unknown: a mutation may have partly run); a subscription lives as
//!   long as its socket;
//! - at most [`WebSocketOptions::max_operations_per_socket`] operations run at once on a
//!   socket: the next is answered BATCH_TOO_LARGE and the others keep running;
//! - at most [`WebSocketOptions::max_sockets_per_token`] sockets are open per token: the next
//!   `connection_init` is refused with 4429;
//! - every error sent carries `extensions.code` ([`ensure_codes`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use async_graphql::http::{WebSocketProtocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::{Data, Executor};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::{self, BoxFuture};
use futures::stream::{self, BoxStream};
use futures::{SinkExt, StreamExt};
use masar_domain::ErrorCode;
use tokio::sync::watch;
use uuid::Uuid;

use super::error::{ensure_codes, ApiError};
use super::http::{is_subscription, GraphqlState, MAX_BODY_BYTES};
use super::schema::MasarSchema;
use crate::auth::{principal_from_headers, AuthError, Principal, TokenStore, Unauthenticated};

/// Largest message a socket may send, in bytes: the largest request body of `POST /graphql`.
pub const MAX_MESSAGE_BYTES: usize = MAX_BODY_BYTES;

/// The limits of GraphQL over WebSocket (queries and mutations sent over a socket are also
/// bounded by the server's request timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketOptions {
    /// How long a socket may stay open without sending `connection_init`.
    pub init_timeout: Duration,
    /// How many operations may run at once on one socket (subscriptions, and queries and
    /// mutations not yet answered).
    pub max_operations_per_socket: usize,
    /// How many sockets may be open at once with one token, on one server.
    pub max_sockets_per_token: usize,
    /// How often the tokens of open sockets are checked for revocation.
    pub token_check_interval: Duration,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            init_timeout: Duration::from_secs(10),
            max_operations_per_socket: 100,
            max_sockets_per_token: 50,
            token_check_interval: Duration::from_secs(1),
        }
    }
}

/// The server's open sockets, by token, and their limits: what `/graphql/ws` needs besides
/// the schema.
#[derive(Clone)]
pub struct Sockets {
    options: WebSocketOptions,
    operation_timeout: Duration,
    registry: Registry,
}

impl Sockets {
    /// Sockets with `options`, whose queries and mutations stop after `operation_timeout`,
    /// and the task checking their tokens against `tokens` (it stops when these are dropped).
    pub fn start(
        tokens: TokenStore,
        options: WebSocketOptions,
        operation_timeout: Duration,
    ) -> Sockets {
        let registry = Registry::default();
        tokio::spawn(check_tokens(
            Arc::downgrade(&registry.sockets),
            tokens,
            options.token_check_interval,
        ));
        Sockets {
            options,
            operation_timeout,
            registry,
        }
    }
}

/// Every open socket that sent a live token, by token.
#[derive(Clone, Default)]
struct Registry {
    sockets: Arc<Mutex<SocketsByToken>>,
}

type SocketsByToken = HashMap<Uuid, HashMap<u64, Weak<Session>>>;

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, SocketsByToken> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `session` among its token's sockets, unless that token already has `max`.
    fn admit(&self, token: Uuid, session: &Arc<Session>, max: usize) -> bool {
        let mut sockets = self.lock();
        if sockets.get(&token).map_or(0, HashMap::len) >= max {
            return false;
        }
        sockets
            .entry(token)
            .or_default()
            .insert(session.id, Arc::downgrade(session));
        true
    }

    /// Forgets the socket `id` of `token`.
    fn leave(&self, token: Uuid, id: u64) {
        let mut sockets = self.lock();
        if let Some(open) = sockets.get_mut(&token) {
            open.remove(&id);
            if open.is_empty() {
                sockets.remove(&token);
            }
        }
    }

    /// Closes every socket of `token`.
    fn revoke(&self, token: Uuid) {
        let sessions: Vec<Arc<Session>> = self
            .lock()
            .get(&token)
            .map(|open| open.values().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        for session in sessions {
            session.revoked.send_replace(true);
        }
    }
}

/// Every `interval`, closes the sockets of tokens revoked since (by this server or another
/// process, e.g. `masar token revoke`): one query for all of them, none when no socket is open.
async fn check_tokens(
    sockets: Weak<Mutex<SocketsByToken>>,
    tokens: TokenStore,
    interval: Duration,
) {
    let mut failing = false;
    loop {
        tokio::time::sleep(interval).await;
        let Some(sockets) = sockets.upgrade() else {
            return;
        };
        let registry = Registry { sockets };
        let open: Vec<Uuid> = registry.lock().keys().copied().collect();
        if open.is_empty() {
            continue;
        }
        match tokens.revoked_among(&open).await {
            Ok(revoked) => {
                if failing {
                    tracing::info!("checking the tokens of open WebSockets works again");
                    failing = false;
                }
                for token in revoked {
                    tracing::info!(token.id = %token, "closing the WebSockets of a revoked token");
                    registry.revoke(token);
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(
                        error = %error,
                        "checking the tokens of open WebSockets failed; retrying every tick (each \
                         operation is still checked before it runs)"
                    );
                    failing = true;
                }
            }
        }
    }
}

/// One socket.
struct Session {
    id: u64,
    tokens: TokenStore,
    registry: Registry,
    options: WebSocketOptions,
    /// The caller, once `connection_init` was accepted.
    principal: OnceLock<Principal>,
    /// Whether `connection_init` arrived.
    init_received: AtomicBool,
    /// Why `connection_init` was refused, if it was.
    refusal: OnceLock<Refusal>,
    /// Operations running.
    operations: AtomicUsize,
    /// Set when the token no longer authenticates: the socket is closed.
    revoked: watch::Sender<bool>,
}

/// Why `connection_init` was refused: the close code (graphql-transport-ws) and the contract's
/// code (the `connection_error` of subscriptions-transport-ws).
#[derive(Debug, Clone, Copy)]
struct Refusal {
    close_code: u16,
    code: ErrorCode,
}

/// Close code of a refused `connection_init` whose token could not be authenticated:
/// async-graphql's own, kept for clients written against it.
const CLOSE_UNAUTHENTICATED: u16 = 1002;
/// Close code of a socket whose token was revoked while it was open (graphql-ws: Forbidden).
const CLOSE_REVOKED: u16 = 4403;
/// Close code of a socket that sent no `connection_init` in time (graphql-ws).
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code of a refused `connection_init` when its token has too many sockets.
const CLOSE_TOO_MANY_SOCKETS: u16 = 4429;
/// Close code of a message over [`MAX_MESSAGE_BYTES`] (RFC 6455: message too big).
const CLOSE_TOO_BIG: u16 = 1009;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(0);

impl Session {
    fn new(tokens: TokenStore, sockets: &Sockets) -> Session {
        Session {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            tokens,
            registry: sockets.registry.clone(),
            options: sockets.options,
            principal: OnceLock::new(),
            init_received: AtomicBool::new(false),
            refusal: OnceLock::new(),
            operations: AtomicUsize::new(0),
            revoked: watch::Sender::new(false),
        }
    }

    /// `connection_init` with `payload`: the caller, from its `Authorization` field, counted
    /// among its token's sockets.
    async fn open(self: Arc<Self>, payload: serde_json::Value) -> async_graphql::Result<Data> {
        let mut headers = HeaderMap::new();
        let token = payload
            .get("Authorization")
            .or_else(|| payload.get("authorization"))
            .and_then(serde_json::Value::as_str)
            .and_then(|value| HeaderValue::from_str(value).ok());
        if let Some(token) = token {
            headers.insert(AUTHORIZATION, token);
        }
        let principal = match principal_from_headers(&self.tokens, &headers).await {
            Ok(principal) => principal,
            Err(error) => return Err(self.refuse(CLOSE_UNAUTHENTICATED, error.into())),
        };
        let token = principal.token_id;
        let _ = self.principal.set(principal.clone());
        let max = self.options.max_sockets_per_token;
        if !self.registry.admit(token, &self, max) {
            tracing::info!(token.id = %token, "WebSocket refused: its token has too many open");
            return Err(self.refuse(
                CLOSE_TOO_MANY_SOCKETS,
                ApiError::new(
                    ErrorCode::BatchTooLarge,
                    format!("too many sockets: this API token already has {max} open; close one"),
                ),
            ));
        }
        let mut data = Data::default();
        data.insert(principal);
        Ok(data)
    }

    fn refuse(&self, close_code: u16, error: ApiError) -> async_graphql::Error {
        let _ = self.refusal.set(Refusal {
            close_code,
            code: error.code(),
        });
        error.into()
    }

    /// Whether the token still authenticates, checked in the database; when it does not, every
    /// socket of the token is closed.
    async fn check_token(&self) -> Result<(), ApiError> {
        let revoked = || ApiError::from(AuthError::from(Unauthenticated::RevokedToken));
        if *self.revoked.borrow() {
            return Err(revoked());
        }
        let Some(principal) = self.principal.get() else {
            return Err(AuthError::from(Unauthenticated::MissingHeader).into());
        };
        let token = principal.token_id;
        match self.tokens.revoked_among(&[token]).await {
            Ok(dead) if dead.is_empty() => Ok(()),
            Ok(_) => {
                self.registry.revoke(token);
                Err(revoked())
            }
            Err(error) => Err(AuthError::from(error).into()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(principal) = self.principal.get() {
            self.registry.leave(principal.token_id, self.id);
        }
    }
}

/// An operation counted as running on its socket until dropped.
struct Running(Arc<Session>);

impl Running {
    fn start(session: &Arc<Session>) -> Option<Running> {
        let max = session.options.max_operations_per_socket;
        session
            .operations
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |running| {
                (running < max).then_some(running + 1)
            })
            .ok()
            .map(|_| Running(Arc::clone(session)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.operations.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs a socket's operations: each counted, its token checked first, queries and mutations
/// bounded in time, and every error coded.
#[derive(Clone)]
struct SocketExecutor {
    schema: MasarSchema,
    session: Arc<Session>,
    operation_timeout: Duration,
}

impl Executor for SocketExecutor {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        // The socket runs everything as a stream; this is here for the trait.
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let Some(running) = Running::start(&self.session) else {
            let max = self.session.options.max_operations_per_socket;
            return stream::once(future::ready(error_response(ApiError::new(
                ErrorCode::BatchTooLarge,
                format!(
                    "too many operations at once: this socket already runs {max}; complete one, \
                     or open another socket"
                ),
            ))))
            .boxed();
        };
        let schema = self.schema.clone();
        let session = Arc::clone(&self.session);
        let data = session_data.unwrap_or_default();
        let responses = if is_subscription(&request) {
            stream::once(async move {
                match session.check_token().await {
                    Ok(()) => schema.execute_stream_with_session_data(request, data),
                    Err(error) => stream::once(future::ready(error_response(error))).boxed(),
                }
            })
            .flatten()
            .boxed()
        } else {
            let limit = self.operation_timeout;
            // Set: operations run only once `connection_init` was accepted.
            let token = self
                .session
                .principal
                .get()
                .map(|principal| principal.token_id)
                .unwrap_or_default();
            let run: BoxFuture<'static, Result<async_graphql::Response, ApiError>> =
                Box::pin(async move {
                    session.check_token().await?;
                    let mut responses = schema.execute_stream_with_session_data(request, data);
                    Ok(responses.next().await.unwrap_or_default())
                });
            stream::once(async move {
                match tokio::time::timeout(limit, run).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(error)) => error_response(error),
                    Err(_) => {
                        let timeout_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
                        tracing::warn!(
                            token.id = %token,
                            request.timeout_ms = timeout_ms,
                            "a query or mutation over a WebSocket was stopped at the request \
                             timeout"
                        );
                        error_response(timed_out(limit))
                    }
                }
            })
            .boxed()
        };
        responses
            .map(move |mut response| {
                let _counted = &running;
                ensure_codes(&mut response);
                response
            })
            .boxed()
    }
}

/// The error of a query or mutation stopped after the request timeout `limit`.
///
/// INTERNAL, not QUERY_TOO_COMPLEX: that code refuses, before anything runs, a query the
/// client must change; a timeout depends on the server's load as much as on the query, and
/// stops an operation that may have partly run (a mutation's outcome is then unknown), which
/// is INTERNAL's meaning: the server failed to answer this request.
fn timed_out(limit: Duration) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!(
            "the operation took longer than {} and was stopped: narrow a query (fewer fields, a \
             smaller page); a mutation may or may not have taken effect, read before sending it \
             again",
            seconds(limit)
        ),
    )
}

/// `limit` as people write it: "30 s", or "1.5 s".
fn seconds(limit: Duration) -> String {
    let seconds = limit.as_secs_f64();
    if seconds.fract() == 0.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{seconds} s")
    }
}

fn error_response(error: ApiError) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![error.into_server_error()])
}

/// The protocol the client asks for in `Sec-WebSocket-Protocol` (the first one known).
fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|protocol| protocol.trim().parse().ok())
        })
}

/// `GET /graphql/ws`. The token comes in `connection_init`'s payload, as
/// `{"Authorization": "Bearer <token>"}`.
pub(super) async fn graphql_ws(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = protocol(&headers) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(socket, state, protocol))
        .into_response()
}

/// Whether a websocket read failed because the message is over [`MAX_MESSAGE_BYTES`].
fn is_too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|inner| matches!(inner, tungstenite::Error::Capacity(_)))
}

/// Serves one socket until either side closes it.
async fn serve(socket: WebSocket, state: GraphqlState, protocol: WebSocketProtocols) {
    let GraphqlState {
        schema,
        tokens,
        sockets,
    } = state;
    let session = Arc::new(Session::new(tokens, &sockets));
    let (mut sink, incoming) = socket.split();
    let too_big = Arc::new(AtomicBool::new(false));
    let input = {
        let too_big = Arc::clone(&too_big);
        incoming
            .take_while(move |message| {
                if let Err(error) = message {
                    if is_too_big(error) {
                        too_big.store(true, Ordering::SeqCst);
                    }
                }
                future::ready(message.is_ok())
            })
            .filter_map(|message| {
                future::ready(match message {
                    Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                        Some(message.into_data())
                    }
                    _ => None,
                })
            })
    };
    let executor = SocketExecutor {
        schema,
        session: Arc::clone(&session),
        operation_timeout: sockets.operation_timeout,
    };
    let opening = Arc::clone(&session);
    // Boxed, so that dropping it below stops every operation of the socket.
    let mut graphql = Box::pin(
        async_graphql::http::WebSocket::new(executor, input, protocol).on_connection_init(
            move |payload| {
                opening.init_received.store(true, Ordering::SeqCst);
                opening.open(payload)
            },
        ),
    );
    let init_deadline = tokio::time::sleep(session.options.init_timeout);
    tokio::pin!(init_deadline);
    let mut revoked = session.revoked.subscribe();
    let close = loop {
        tokio::select! {
            biased;
            true = async { revoked.wait_for(|revoked| *revoked).await.is_ok() } => {
                break Some((CLOSE_REVOKED, "Forbidden: the API token was revoked".to_owned()));
            }
            () = &mut init_deadline, if !session.init_received.load(Ordering::SeqCst) => {
                break Some((CLOSE_INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            message = graphql.next() => match message {
                Some(WsMessage::Text(text)) => {
                    let text = code_connection_error(text, protocol, session.refusal.get());
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let code = match session.refusal.get() {
                        Some(refusal) if code == CLOSE_UNAUTHENTICATED => refusal.close_code,
                        _ => code,
                    };
                    break Some((code, reason));
                }
                None if too_big.load(Ordering::SeqCst) => {
                    break Some((
                        CLOSE_TOO_BIG,
                        format!(
                            "Message too big: at most {} MiB",
                            MAX_MESSAGE_BYTES / (1024 * 1024)
                        ),
                    ));
                }
                None => break None,
            }
        }
    };
    // Stop every operation of the socket before saying it is closed.
    drop(graphql);
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

/// subscriptions-transport-ws refuses `connection_init` with a `connection_error` message,
/// which async-graphql sends with the error's message only: this adds its code (VALIDATION
/// when async-graphql itself refused, e.g. a second `connection_init`). Other messages are
/// returned as they are, unparsed.
fn code_connection_error(
    text: String,
    protocol: WebSocketProtocols,
    refusal: Option<&Refusal>,
) -> String {
    if protocol != WebSocketProtocols::SubscriptionsTransportWS
        || !text.starts_with(r#"{"type":"connection_error""#)
    {
        return text;
    }
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    let code = refusal.map_or(ErrorCode::Validation, |refusal| refusal.code);
    let Some(payload) = message
        .get_mut("payload")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return text;
    };
    payload.insert(
        "extensions".to_owned(),
        serde_json::json!({ "code": code.as_str() }),
    );
    message.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn a_connection_error_gets_the_refusal_code_and_nothing_else_changes() {
        let refusal = Refusal {
            close_code: CLOSE_UNAUTHENTICATED,
            code: ErrorCode::Unauthenticated,
        };
        let error = r#"{"type":"connection_error","payload":{"message":"no"}}"#.to_owned();
        let coded: serde_json::Value = serde_json::from_str(&code_connection_error(
            error.clone(),
            WebSocketProtocols::SubscriptionsTransportWS,
            Some(&refusal),
        ))
        .unwrap();
        assert_eq!(
            coded,
            serde_json::json!({ "type": "connection_error", "payload": {
                "message": "no", "extensions": { "code": "UNAUTHENTICATED" },
            }})
        );
        let coded: serde_json::Value = serde_json::from_str(&code_connection_error(
            error.clone(),
            WebSocketProtocols::SubscriptionsTransportWS,
            None,
        ))
        .unwrap();
        assert_eq!(coded["payload"]["extensions"]["code"], "VALIDATION");
        let next = r#"{"type":"next","id":"1","payload":{"data":null}}"#.to_owned();
        assert_eq!(
            code_connection_error(
                next.clone(),
                WebSocketProtocols::SubscriptionsTransportWS,
                None
            ),
            next
        );
        assert_eq!(
            code_connection_error(error.clone(), WebSocketProtocols::GraphQLWS, None),
            error
        );
    }
}

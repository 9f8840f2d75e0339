//! Masar's GraphQL API: the schema of `api/contract/schema.graphql`, served over HTTP.
//!
//! - [`schema`]: the root types, the query limits, and [`ApiContext`], what resolvers reach;
//!   the schema builds without HTTP or a database ([`sdl`]).
//! - [`query`], [`mutation`], [`subscription`]: the resolvers — adapters that parse input
//!   into domain values ([`inputs`]), ask the access policy (`crate::auth::Access`), run a
//!   command or read the streams ([`reads`]), and build the contract's types ([`types`],
//!   [`enums`], [`scalars`]).
//! - [`cost`]: the price of expensive fields in the complexity analysis, and the gates that
//!   keep a share of the pool for cheap reads.
//! - [`error`]: every error mapped once to the contract's `ErrorCode`, in `extensions.code`.
//! - [`stale`]: reads of a projection that did not catch up within the wait, logged and
//!   marked in the response's `extensions.stale`.
//! - [`http`]: `POST /graphql`, GraphiQL at `GET /graphql`; [`ws`]: GraphQL over WebSocket at
//!   `/graphql/ws`, with the same safeguards and a socket's own limits.
//! - [`graphiql`]: the GraphiQL page and its vendored assets, embedded in the binary.

pub mod cost;
pub mod enums;
pub mod error;
pub mod graphiql;
pub mod http;
pub mod indicators;
pub mod inputs;
pub mod mutation;
pub mod query;
pub mod reads;
pub mod scalars;
pub mod schema;
pub mod stale;
pub mod subscription;
pub mod types;
pub mod ws;

use async_graphql::Context;
use masar_domain::ErrorCode;

pub use self::error::ApiError;
pub use self::http::{routes, GraphqlState, MAX_BODY_BYTES};
pub use self::schema::{build_schema, sdl, ApiContext, MasarSchema, SchemaOptions};
pub use self::ws::{Sockets, WebSocketOptions, MAX_MESSAGE_BYTES};

use crate::auth::Principal;

/// The authenticated caller of the request (put in the request's data by [`http`]).
pub(crate) fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal, ApiError> {
    ctx.data::<Principal>().map_err(|_| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "no API token: send the header `Authorization: Bearer <token>`",
        )
    })
}

/// What resolvers reach (the schema's data).
pub(crate) fn api<'a>(ctx: &Context<'a>) -> Result<&'a ApiContext, ApiError> {
    ctx.data::<ApiContext>()
        .map_err(|error| ApiError::internal("the schema has no ApiContext", &error.message))
}

/// The gates in front of long reads (see [`cost::Gates`]).
pub(crate) fn gates<'a>(ctx: &Context<'a>) -> Result<&'a cost::Gates, ApiError> {
    ctx.data::<cost::Gates>()
        .map_err(|error| ApiError::internal("the schema has no Gates", &error.message))
}

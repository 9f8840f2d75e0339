//! Reads of a projection that did not catch up in time, said out loud.
//!
//! List and indicator queries first wait (at most [`SchemaOptions::projection_wait`]) for the
//! projections they read to reflect every write acknowledged before the request. When the wait
//! runs out they answer with what the projections hold, and say so: a warning is logged, and
//! the response carries, beside `data`, one entry per projection read behind the log:
//!
//! ```json
//! "extensions": { "stale": [{ "projection": "beneficiaries", "position": "41", "waitedFor": "57" }] }
//! ```
//!
//! `position` is the log position the projection reflected when it was read (an indicator
//! report's `position` is then at most this), `waitedFor` the log head the request waited for;
//! both are strings, as the contract's `Position`. The contract's types are unchanged: a
//! client that ignores `extensions` reads the same answer as before.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest,
};
use async_graphql::{Context, Name, Request, Response, ServerResult, Value};
use masar_projections::feed;
use sqlx::PgPool;

use super::error::ApiError;
use super::reads;
use super::schema::SchemaOptions;

/// The response extension's key.
pub const STALE_EXTENSION: &str = "stale";

/// One projection read behind the writes acknowledged before the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleRead {
    /// The projection, e.g. `beneficiaries`.
    pub projection: String,
    /// The log position it reflected when read.
    pub position: i64,
    /// The log head the request waited for.
    pub waited_for: i64,
}

/// The stale reads of one request (in its data, put there by [`StaleReads`]).
#[derive(Debug, Clone, Default)]
struct StaleReadLog(Arc<Mutex<Vec<StaleRead>>>);

impl StaleReadLog {
    fn push(&self, read: StaleRead) {
        let mut reads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !reads.contains(&read) {
            reads.push(read);
        }
    }

    fn take(&self) -> Vec<StaleRead> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The schema extension that gives each request a [`StaleReadLog`] and puts what it holds in
/// the response's `extensions.stale`.
pub struct StaleReads;

impl ExtensionFactory for StaleReads {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(StaleReadsExtension {
            log: StaleReadLog::default(),
        })
    }
}

struct StaleReadsExtension {
    log: StaleReadLog,
}

#[async_graphql::async_trait::async_trait]
impl Extension for StaleReadsExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        request.data.insert(self.log.clone());
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let stale = self.log.take();
        if !stale.is_empty() {
            response.extensions.insert(
                STALE_EXTENSION.to_owned(),
                Value::List(stale.iter().map(to_value).collect()),
            );
        }
        response
    }
}

fn to_value(read: &StaleRead) -> Value {
    Value::Object(
        [
            ("projection", Value::from(read.projection.as_str())),
            ("position", Value::from(read.position.to_string())),
            ("waitedFor", Value::from(read.waited_for.to_string())),
        ]
        .into_iter()
        .map(|(key, value)| (Name::new(key), value))
        .collect(),
    )
}

/// Waits, at most the schema's `projection_wait`, until projection `name` reflects every
/// write acknowledged before now (the log head). Past the wait the read goes on with what the
/// projection holds: logged as a warning, and noted for the response's `extensions.stale`.
pub(crate) async fn wait_for_projection(
    ctx: &Context<'_>,
    pool: &PgPool,
    name: &str,
) -> Result<(), ApiError> {
    let wait = ctx
        .data_opt::<SchemaOptions>()
        .copied()
        .unwrap_or_default()
        .projection_wait;
    let head = reads::log_head(pool).await?;
    let failed =
        |error: feed::FeedError| ApiError::internal("reading a projection's position", &error);
    if feed::wait_until_current(pool, name, wait)
        .await
        .map_err(failed)?
    {
        return Ok(());
    }
    let mut connection = pool.acquire().await?;
    let position = feed::reflected_position(&mut connection, name)
        .await
        .map_err(failed)?;
    drop(connection);
    // The wait compares with the head when it began, which may be later than `head`: what
    // was acknowledged before this request may be reflected after all.
    if position >= head {
        return Ok(());
    }
    tracing::warn!(
        projection.name = name,
        projection.position = position,
        projection.waited_for = head,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        "the projection did not reflect the acknowledged writes within the wait \
         (MASAR_PROJECTION_WAIT_MS): answering with what it holds, marked stale"
    );
    if let Some(log) = ctx.data_opt::<StaleReadLog>() {
        log.push(StaleRead {
            projection: name.to_owned(),
            position,
            waited_for: head,
        });
    }
    Ok(())
}

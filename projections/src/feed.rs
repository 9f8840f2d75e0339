//! The global feed: reads the `events` table from a projection's checkpoint and applies it,
//! batch by batch, exactly once.
//!
//! - **Order.** Events are taken in `(transaction_id, global_position)` order, and only those
//!   whose writing transaction is older than every transaction still running
//!   (`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`). A position allocated early
//!   but committed late therefore waits for its transaction instead of being skipped. Every
//!   append transaction does its reads before its first write, so a stream's sequence order
//!   agrees with this order.
//! - **Exactly once.** A batch is applied and the checkpoint advanced in one transaction,
//!   which starts by locking the checkpoint row: a crash at any point loses and repeats
//!   nothing, and two runners of one projection never apply the same batch.
//! - **One active runner.** [`run`] holds a session advisory lock per projection while it
//!   runs; another server's runner waits as a standby. It wakes on `NOTIFY masar_events`
//!   (sent by a trigger on `events`), and polls as a fallback.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool, Row};

/// Events read per batch.
pub const BATCH_SIZE: i64 = 2000;

/// How often a runner looks for events when no notification arrives.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// One event of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// The writing transaction's id (`xid8`).
    pub transaction_id: u64,
    /// Position in the global log.
    pub global_position: i64,
    /// `Beneficiary`, `Programme` or `Organisation`.
    pub aggregate_type: String,
    /// The stream's id within its type.
    pub aggregate_id: String,
    /// 1-based position in the stream.
    pub sequence: i64,
    /// The event's type name.
    pub event_type: String,
    /// The event.
    pub payload: Value,
    /// When the store wrote it.
    pub recorded_at: DateTime<Utc>,
}

/// A point of the feed: everything up to it, in `(transaction_id, global_position)` order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Checkpoint {
    /// Transaction id of the last event applied (0: none).
    pub transaction_id: u64,
    /// Global position of the last event applied (0: none).
    pub global_position: i64,
}

impl Checkpoint {
    /// The checkpoint just after `event`.
    pub fn after(event: &FeedEvent) -> Checkpoint {
        Checkpoint {
            transaction_id: event.transaction_id,
            global_position: event.global_position,
        }
    }

    /// The transaction id as PostgreSQL's text form of `xid8`.
    pub fn xid(&self) -> String {
        self.transaction_id.to_string()
    }
}

/// What can go wrong while reading or applying the feed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An event could not be read as its type.
    #[error("event at global position {position} cannot be read: {reason}")]
    Undecodable {
        /// Where.
        position: i64,
        /// Why.
        reason: String,
    },
    /// The projection has no checkpoint row (migrations not applied?).
    #[error("projection {0} is unknown: no checkpoint row")]
    UnknownProjection(String),
    /// A read of the feed did not come back in feed order, or not after where it started:
    /// applying it could move a checkpoint past events never applied, so it is refused.
    #[error(
        "the feed came back out of order: event at global position {position} (transaction \
         {transaction_id}) does not follow {previous:?}; nothing was applied"
    )]
    OutOfOrder {
        /// The offending event's position.
        position: i64,
        /// Its transaction id.
        transaction_id: u64,
        /// The point it should have followed.
        previous: Checkpoint,
    },
}

/// A read model built from the feed.
pub trait Projection: Send + Sync {
    /// Its name: the checkpoint row's key.
    fn name(&self) -> &'static str;

    /// Applies `events` (in feed order, all after the checkpoint, none before `upto`) inside
    /// the caller's transaction. `upto` is the checkpoint the batch ends at.
    fn apply<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        events: &'a [FeedEvent],
        upto: Checkpoint,
    ) -> impl Future<Output = Result<(), FeedError>> + Send + 'a;
}

/// The feed's columns. The transaction id is read as text (sqlx has no `xid8`) under another
/// name than the column's: in PostgreSQL a bare name in `ORDER BY` that matches an output
/// column refers to that output column, so an alias `transaction_id` would sort the feed by
/// the id's text ("1000" before "999"). Every `ORDER BY` here also names `events.` columns.
const FEED_COLUMNS: &str = "transaction_id::text AS xid, global_position, \
    aggregate_type, aggregate_id, sequence, event_type, payload, recorded_at";

/// The checkpoint of a row with `xid` (the transaction id as text) and `global_position`
/// columns.
fn checkpoint_of(row: &sqlx::postgres::PgRow) -> Result<Checkpoint, FeedError> {
    let xid: String = row.try_get("xid")?;
    let global_position: i64 = row.try_get("global_position")?;
    Ok(Checkpoint {
        transaction_id: xid.parse().map_err(|_| FeedError::Undecodable {
            position: global_position,
            reason: format!("transaction id {xid:?} is not a number"),
        })?,
        global_position,
    })
}

fn feed_event(row: &sqlx::postgres::PgRow) -> Result<FeedEvent, FeedError> {
    let Checkpoint {
        transaction_id,
        global_position,
    } = checkpoint_of(row)?;
    Ok(FeedEvent {
        transaction_id,
        global_position,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

/// The next events after `after` that are safe to apply (see the module documentation), in
/// feed order; [`FeedError::OutOfOrder`] if the database ever answered otherwise.
pub async fn read_after(
    connection: &mut PgConnection,
    after: Checkpoint,
    limit: i64,
) -> Result<Vec<FeedEvent>, FeedError> {
    let sql = format!(
        "SELECT {FEED_COLUMNS} FROM events \
         WHERE (events.transaction_id, events.global_position) > ($1::text::xid8, $2) \
           AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.transaction_id, events.global_position LIMIT $3"
    );
    let events = sqlx::query(&sql)
        .bind(after.xid())
        .bind(after.global_position)
        .bind(limit)
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(feed_event)
        .collect::<Result<Vec<_>, _>>()?;
    check_order(after, &events)?;
    Ok(events)
}

/// Checks that `events` come strictly after `after` and each strictly after the one before,
/// in `(transaction_id, global_position)` order: the condition for a checkpoint at the last of
/// them to cover exactly what was read.
pub fn check_order(after: Checkpoint, events: &[FeedEvent]) -> Result<(), FeedError> {
    let mut previous = after;
    for event in events {
        let at = Checkpoint::after(event);
        if at <= previous {
            return Err(FeedError::OutOfOrder {
                position: event.global_position,
                transaction_id: event.transaction_id,
                previous,
            });
        }
        previous = at;
    }
    Ok(())
}

/// A projection's checkpoint, locked until the end of the caller's transaction.
pub async fn lock_checkpoint(
    connection: &mut PgConnection,
    name: &str,
) -> Result<Checkpoint, FeedError> {
    checkpoint_row(connection, name, " FOR UPDATE").await
}

/// A projection's checkpoint as the caller's snapshot sees it, without locking it.
pub async fn read_checkpoint(
    connection: &mut PgConnection,
    name: &str,
) -> Result<Checkpoint, FeedError> {
    checkpoint_row(connection, name, "").await
}

async fn checkpoint_row(
    connection: &mut PgConnection,
    name: &str,
    locking: &str,
) -> Result<Checkpoint, FeedError> {
    let row = sqlx::query(&format!(
        "SELECT transaction_id::text AS xid, global_position \
         FROM projection_checkpoints WHERE name = $1{locking}"
    ))
    .bind(name)
    .fetch_optional(&mut *connection)
    .await?
    .ok_or_else(|| FeedError::UnknownProjection(name.to_owned()))?;
    checkpoint_of(&row)
}

/// The last event (in feed order) that is safe to apply now, or the start of the log.
pub async fn safe_point(connection: &mut PgConnection) -> Result<Checkpoint, FeedError> {
    let row = sqlx::query(
        "SELECT transaction_id::text AS xid, global_position FROM events \
         WHERE events.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.transaction_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(&mut *connection)
    .await?;
    match row {
        Some(row) => checkpoint_of(&row),
        None => Ok(Checkpoint::default()),
    }
}

/// Moves a projection's checkpoint to `to` after applying `events`.
pub async fn advance(
    connection: &mut PgConnection,
    name: &str,
    to: Checkpoint,
    events: &[FeedEvent],
) -> Result<(), FeedError> {
    let applied = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let highest = events.iter().map(|e| e.global_position).max().unwrap_or(0);
    sqlx::query(
        "UPDATE projection_checkpoints SET transaction_id = $2::text::xid8, \
         global_position = $3, max_position = greatest(max_position, $5), \
         events_applied = events_applied + $4, updated_at = now() \
         WHERE name = $1",
    )
    .bind(name)
    .bind(to.xid())
    .bind(to.global_position)
    .bind(applied)
    .bind(highest)
    .execute(&mut *connection)
    .await?;
    update_reflected(connection, name).await
}

/// Recomputes the position up to which projection `name` reflects the log: just before the
/// first event not applied yet, at most the highest applied. Scans positions upwards from the
/// previous value only, so it costs about one batch.
pub async fn update_reflected(connection: &mut PgConnection, name: &str) -> Result<(), FeedError> {
    sqlx::query(
        "UPDATE projection_checkpoints c SET reflected_position = least(c.max_position, \
           coalesce((SELECT min(e.global_position) - 1 FROM events e \
             WHERE e.global_position > c.reflected_position \
               AND e.global_position <= c.max_position \
               AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)), \
             c.max_position)) \
         WHERE c.name = $1",
    )
    .bind(name)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Applies the next batch (at most `limit` events) in one transaction; the number applied
/// (0: caught up).
pub async fn apply_next_batch<P: Projection>(
    pool: &PgPool,
    projection: &P,
    limit: i64,
) -> Result<usize, FeedError> {
    let mut connection = pool.acquire().await?;
    apply_next_batch_on(&mut connection, projection, limit).await
}

/// [`apply_next_batch`] on `connection`.
pub async fn apply_next_batch_on<P: Projection>(
    connection: &mut PgConnection,
    projection: &P,
    limit: i64,
) -> Result<usize, FeedError> {
    let mut transaction = connection.begin().await?;
    let checkpoint = lock_checkpoint(&mut transaction, projection.name()).await?;
    let events = read_after(&mut transaction, checkpoint, limit).await?;
    let Some(last) = events.last() else {
        transaction.rollback().await?;
        return Ok(0);
    };
    let upto = Checkpoint::after(last);
    projection.apply(&mut transaction, &events, upto).await?;
    advance(&mut transaction, projection.name(), upto, &events).await?;
    transaction.commit().await?;
    Ok(events.len())
}

/// Applies batches until no safe event is left; the number applied.
pub async fn catch_up<P: Projection>(pool: &PgPool, projection: &P) -> Result<u64, FeedError> {
    let mut connection = pool.acquire().await?;
    catch_up_on(&mut connection, projection, BATCH_SIZE).await
}

/// [`catch_up`] on `connection`, in batches of at most `batch_size` events.
pub async fn catch_up_on<P: Projection>(
    connection: &mut PgConnection,
    projection: &P,
    batch_size: i64,
) -> Result<u64, FeedError> {
    let mut total = 0u64;
    loop {
        let applied = apply_next_batch_on(connection, projection, batch_size).await?;
        if applied == 0 {
            return Ok(total);
        }
        total += applied as u64;
    }
}

/// The advisory lock key of a projection's runner.
fn lock_key(name: &str) -> i64 {
    advisory_key(&format!("masar-projection:{name}"))
}

/// A stable advisory lock key for `text` (FNV-1a: the same across builds and machines, which
/// std's hasher is not).
pub fn advisory_key(text: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Runs `projection` until `shutdown` resolves: waits to be the only active runner of this
/// projection (advisory lock), then catches up whenever events are appended (NOTIFY) or
/// every [`POLL_INTERVAL`]. Errors are logged and retried after a pause.
pub async fn run<P: Projection>(
    pool: PgPool,
    projection: P,
    shutdown: impl Future<Output = ()> + Send,
) {
    run_in_batches(pool, projection, BATCH_SIZE, shutdown).await;
}

/// [`run`], applying batches of at most `batch_size` events. Stopping it at any point (even
/// in the middle of a batch) loses and repeats nothing: the batch's transaction is rolled
/// back, and the connection holding the runner's lock is closed, which releases it.
pub async fn run_in_batches<P: Projection>(
    pool: PgPool,
    projection: P,
    batch_size: i64,
    shutdown: impl Future<Output = ()> + Send,
) {
    let name = projection.name();
    tokio::pin!(shutdown);
    tokio::select! {
        () = &mut shutdown => {}
        () = run_forever(&pool, &projection, batch_size) => {}
    }
    tracing::debug!(projection = name, "projection runner stopped");
}

async fn run_forever<P: Projection>(pool: &PgPool, projection: &P, batch_size: i64) {
    let name = projection.name();
    loop {
        if let Err(error) = run_as_leader(pool, projection, batch_size).await {
            tracing::warn!(projection = name, error = %error, "projection runner failed; retrying");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn run_as_leader<P: Projection>(
    pool: &PgPool,
    projection: &P,
    batch_size: i64,
) -> Result<(), FeedError> {
    let name = projection.name();
    // The lock is held by this connection for as long as it lives, and it lives only as long
    // as this runner: returned to the pool, it would keep the lock (a session's) and leave
    // every later runner waiting as a standby.
    let mut lock = pool.acquire().await?;
    lock.close_on_drop();
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(name))
            .fetch_one(&mut *lock)
            .await?;
        if locked {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    tracing::debug!(projection = name, "projection runner active");
    // Batches are applied on a connection of the runner's own, closed with it too: a runner
    // stopped in the middle of a batch (its future dropped) must not hand the pool a
    // connection in the middle of a query or a COPY, whose next user would read another
    // query's answers. Closing it rolls the batch back.
    let mut batches = pool.acquire().await?;
    batches.close_on_drop();
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("masar_events").await?;
    loop {
        let applied = catch_up_on(&mut batches, projection, batch_size).await?;
        if applied > 0 {
            tracing::debug!(projection = name, events = applied, "projection caught up");
        }
        // A notification, or the polling interval; a lost listener connection is
        // re-established by the listener itself on the next receive.
        if let Ok(Err(error)) = tokio::time::timeout(POLL_INTERVAL, listener.try_recv()).await {
            return Err(error.into());
        }
        // Keep the lock's connection alive (and notice if it died).
        sqlx::query("SELECT 1").execute(&mut *lock).await?;
    }
}

/// One projection's progress, as `masar projections status` and `Query.projections` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionProgress {
    /// The projection.
    pub name: String,
    /// Every committed event at or below this global position is applied.
    pub position: i64,
    /// The log's latest global position.
    pub head: i64,
    /// Events in the log not applied yet.
    pub lag: i64,
    /// Events applied since the projection was (re)built.
    pub events_applied: i64,
    /// When the checkpoint last moved.
    pub updated_at: DateTime<Utc>,
}

/// Every projection's progress.
pub async fn progress(pool: &PgPool) -> Result<Vec<ProjectionProgress>, FeedError> {
    let rows = sqlx::query(&format!(
        "SELECT c.name, {REFLECTED} AS position, c.events_applied, c.updated_at, \
           (SELECT coalesce(max(global_position), 0) FROM events) AS head, \
           (SELECT count(*) FROM events e \
             WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position) \
           ) AS lag \
         FROM projection_checkpoints c ORDER BY c.name"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ProjectionProgress {
                name: row.try_get("name")?,
                position: row.try_get("position")?,
                head: row.try_get("head")?,
                lag: row.try_get("lag")?,
                events_applied: row.try_get("events_applied")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

/// SQL for the reflected position of checkpoint row `c` (kept by [`update_reflected`]).
const REFLECTED: &str = "c.reflected_position";

/// The global position up to which a projection reflects the whole log: every committed event
/// at or below it is applied (the last applied position when the projection is caught up,
/// else just before the first event it has still to apply).
pub async fn reflected_position(
    connection: &mut PgConnection,
    name: &str,
) -> Result<i64, FeedError> {
    let position: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {REFLECTED} FROM projection_checkpoints c WHERE c.name = $1"
    ))
    .bind(name)
    .fetch_optional(&mut *connection)
    .await?
    .flatten();
    Ok(position.unwrap_or(0))
}

/// Waits (at most `timeout`) until projection `name` reflects the log as it is now, so that a
/// read right after a write sees it; whether it does. The runner applies the events: this only
/// watches.
pub async fn wait_until_current(
    pool: &PgPool,
    name: &str,
    timeout: Duration,
) -> Result<bool, FeedError> {
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(pool)
        .await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut connection = pool.acquire().await?;
    loop {
        if reflected_position(&mut connection, name).await? >= head {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

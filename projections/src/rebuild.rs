//! Rebuilding a projection from the whole log while the server keeps answering: replay into
//! scratch tables, catch up under the checkpoint's lock, and swap the tables in one
//! transaction.
//!
//! A projection may write several tables ([`tables`]: `beneficiaries` keeps the indicator
//! engine's milestone counts beside its rows); each has a scratch copy named with a suffix
//! (the live table's name followed by [`REBUILD_SUFFIX`], or verification's), and they are
//! filled, caught up and swapped together.
//!
//! The replay ([`replay_into`], [`replay_until`]) and the catch-up ([`catch_up_scratch`]) are
//! shared with verification (`crate::compare`), which replays into its own scratch tables and
//! compares them with the live ones instead of swapping them in.

use sqlx::{Acquire, PgConnection, PgPool};

use crate::activities::{self, ActivityProjection, ActivityRow};
use crate::beneficiaries::{self, BeneficiaryProjection};
use crate::copy::{CopyRow, CopyWriter};
use crate::feed::{self, Checkpoint, FeedError, FeedEvent, Projection};

/// The projections, by name.
pub const PROJECTIONS: [&str; 2] = [beneficiaries::NAME, activities::NAME];

/// What a rebuild reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildProgress {
    /// Replaying: `done` of `total` events read.
    Replaying {
        /// Events read so far.
        done: u64,
        /// Events to read.
        total: u64,
    },
    /// Catching up with what was appended meanwhile, then swapping.
    Swapping,
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events of the projection's streams replayed from the snapshot.
    pub replayed: u64,
    /// Events applied while catching up before the swap.
    pub caught_up: u64,
    /// The checkpoint the rebuilt projection starts from.
    pub checkpoint: Checkpoint,
}

/// Errors of a rebuild.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// No projection has this name.
    #[error("no projection is called {0:?}: the projections are {list}", list = PROJECTIONS.join(", "))]
    UnknownProjection(String),
    /// Another rebuild of the same projection is running.
    #[error("a rebuild of {0} is already running: wait for it to finish")]
    AlreadyRebuilding(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Feed(#[from] FeedError),
}

fn rebuild_key(name: &str) -> i64 {
    feed::advisory_key(&format!("masar-rebuild:{name}"))
}

/// Whether a rebuild of `name` is running (in any process).
pub async fn is_rebuilding(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    let key = rebuild_key(name);
    let bits = u64::from_ne_bytes(key.to_ne_bytes());
    // pg_locks shows a bigint advisory key as its high and low 32 bits.
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)",
    )
    .bind(i64::try_from(bits >> 32).unwrap_or(0))
    .bind(i64::try_from(bits & 0xffff_ffff).unwrap_or(0))
    .fetch_one(pool)
    .await
}

impl From<sqlx::Error> for RebuildError {
    fn from(error: sqlx::Error) -> Self {
        RebuildError::Feed(error.into())
    }
}

/// What a rebuild appends to the live tables' names to name its scratch tables.
pub const REBUILD_SUFFIX: &str = "_rebuild";

/// The main live table of projection `name` (its rows), or `None` when no projection has this
/// name.
pub fn live_table(name: &str) -> Option<&'static str> {
    tables(name).map(|tables| tables[0])
}

/// Every live table projection `name` writes, its main table first, or `None` when no
/// projection has this name.
pub fn tables(name: &str) -> Option<&'static [&'static str]> {
    match name {
        beneficiaries::NAME => Some(&beneficiaries::TABLES),
        activities::NAME => Some(&ACTIVITY_TABLES),
        _ => None,
    }
}

const ACTIVITY_TABLES: [&str; 1] = [activities::TABLE];

/// Every live table of projection `name` with its scratch copy's name (the live name followed
/// by `suffix`).
pub fn scratch_tables(name: &str, suffix: &str) -> Result<Vec<(String, String)>, RebuildError> {
    let tables = tables(name).ok_or_else(|| RebuildError::UnknownProjection(name.to_owned()))?;
    Ok(tables
        .iter()
        .map(|live| ((*live).to_owned(), format!("{live}{suffix}")))
        .collect())
}

/// Creates an empty copy (columns, defaults, indexes) of each of `name`'s live tables, named
/// with `suffix`, replacing any older one.
pub async fn create_scratch(
    connection: &mut PgConnection,
    name: &str,
    suffix: &str,
) -> Result<(), RebuildError> {
    for (live, scratch) in scratch_tables(name, suffix)? {
        sqlx::query(&format!("DROP TABLE IF EXISTS {scratch}"))
            .execute(&mut *connection)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {scratch} (LIKE {live} INCLUDING ALL)"
        ))
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// How far [`replay_until`] replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayLimit {
    /// Up to the current safe point of the log (what a rebuild does).
    SafePoint,
    /// Up to the projection's live checkpoint as it is when the replay starts (what
    /// verification does: the live checkpoint only moves forward, so the live table can then
    /// always be met by catching up, never by going back).
    LiveCheckpoint,
}

/// Replays every event up to the current safe point of the log into the scratch tables named
/// with `suffix` (empty copies of `name`'s tables, see [`create_scratch`]); the checkpoint
/// reached and the number of events replayed.
pub async fn replay_into(
    pool: &PgPool,
    name: &str,
    suffix: &str,
    progress: &(dyn Fn(RebuildProgress) + Send + Sync),
) -> Result<(Checkpoint, u64), RebuildError> {
    replay_until(pool, name, suffix, ReplayLimit::SafePoint, progress).await
}

/// Replays every event up to `limit` into the scratch tables named with `suffix` (empty copies
/// of `name`'s tables, see [`create_scratch`]), reading
/// one REPEATABLE READ snapshot of the log (nothing is locked: the live runner goes on); the
/// checkpoint reached and the number of events replayed.
pub async fn replay_until(
    pool: &PgPool,
    name: &str,
    suffix: &str,
    limit: ReplayLimit,
    progress: &(dyn Fn(RebuildProgress) + Send + Sync),
) -> Result<(Checkpoint, u64), RebuildError> {
    let aggregate_type = match name {
        beneficiaries::NAME => beneficiaries::AGGREGATE_TYPE,
        activities::NAME => activities::AGGREGATE_TYPE,
        other => return Err(RebuildError::UnknownProjection(other.to_owned())),
    };
    let mut reader = pool.acquire().await?;
    let mut snapshot = reader.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await?;
    let safe = feed::safe_point(&mut snapshot).await?;
    let upto = match limit {
        ReplayLimit::SafePoint => safe,
        // The runner applied only events that were safe when it did, so its checkpoint is at
        // or before the safe point; `min` only guards against a hand-edited checkpoint.
        ReplayLimit::LiveCheckpoint => safe.min(feed::read_checkpoint(&mut snapshot, name).await?),
    };
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = $1 \
           AND (transaction_id, global_position) <= ($2::text::xid8, $3)",
    )
    .bind(aggregate_type)
    .bind(upto.xid())
    .bind(upto.global_position)
    .fetch_one(&mut *snapshot)
    .await?;
    let total = u64::try_from(total).unwrap_or(0);
    progress(RebuildProgress::Replaying { done: 0, total });
    let mut writer = pool.acquire().await?;
    let report = |done: u64| progress(RebuildProgress::Replaying { done, total });
    let replayed = match name {
        beneficiaries::NAME => {
            let tables = beneficiaries::BeneficiaryTables::with_suffix(suffix);
            beneficiaries::rebuild_into(&mut snapshot, &mut writer, &tables, upto, &report).await?
        }
        _ => {
            let scratch = format!("{}{suffix}", activities::TABLE);
            replay_activities(&mut snapshot, &mut writer, &scratch, upto, &report).await?
        }
    };
    snapshot.commit().await?;
    Ok((upto, replayed))
}

async fn replay_activities(
    reader: &mut PgConnection,
    writer: &mut PgConnection,
    scratch: &str,
    upto: Checkpoint,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<u64, RebuildError> {
    let mut after = Checkpoint::default();
    let mut read = 0u64;
    let mut copy = CopyWriter::new();
    loop {
        let events: Vec<FeedEvent> = feed::read_after(reader, after, feed::BATCH_SIZE * 5)
            .await?
            .into_iter()
            .filter(|e| Checkpoint::after(e) <= upto)
            .collect();
        let Some(last) = events.last() else { break };
        after = Checkpoint::after(last);
        for event in &events {
            if let Some(row) = ActivityRow::of(event)? {
                row.write(&mut copy);
                read += 1;
            }
        }
        copy.send(writer, scratch, activities::COLUMNS).await?;
        progress(read);
    }
    Ok(read)
}

/// Applies to the scratch tables named with `suffix` (as projection `name` would to its live
/// tables) the events after `from`, batch by batch, inside the caller's transaction: up to
/// `until` when given (every event at or before it is safe to read, as a live checkpoint is),
/// else up to the current safe point. The checkpoint reached and the number of events applied.
pub async fn catch_up_scratch(
    connection: &mut PgConnection,
    name: &str,
    suffix: &str,
    from: Checkpoint,
    until: Option<Checkpoint>,
) -> Result<(Checkpoint, u64), RebuildError> {
    if live_table(name).is_none() {
        return Err(RebuildError::UnknownProjection(name.to_owned()));
    }
    let mut at = from;
    let mut caught_up = 0u64;
    loop {
        let mut events = feed::read_after(connection, at, feed::BATCH_SIZE).await?;
        let read = events.len();
        if let Some(until) = until {
            events.retain(|event| Checkpoint::after(event) <= until);
        }
        let Some(last) = events.last() else { break };
        let upto = Checkpoint::after(last);
        match name {
            beneficiaries::NAME => {
                BeneficiaryProjection::with_suffix(suffix)
                    .apply(connection, &events, upto)
                    .await?
            }
            _ => {
                ActivityProjection::into_table(&format!("{}{suffix}", activities::TABLE))
                    .apply(connection, &events, upto)
                    .await?
            }
        }
        caught_up += events.len() as u64;
        at = upto;
        // Events beyond `until` were read: `until` is reached.
        if events.len() < read {
            break;
        }
    }
    Ok((at, caught_up))
}

/// Applies what was appended after `from` to the scratch tables named with `suffix`, then
/// swaps them in as `name`'s live tables and sets its checkpoint, in one transaction holding
/// the checkpoint's lock (so the live runner pauses meanwhile). The events applied while
/// catching up.
pub async fn catch_up_and_swap(
    pool: &PgPool,
    name: &str,
    suffix: &str,
    from: Checkpoint,
) -> Result<(Checkpoint, u64), RebuildError> {
    let tables = scratch_tables(name, suffix)?;
    let mut transaction = pool.begin().await?;
    feed::lock_checkpoint(&mut transaction, name).await?;
    let (at, caught_up) = catch_up_scratch(&mut transaction, name, suffix, from, None).await?;
    for (live, scratch) in &tables {
        let retired = format!("{live}_retired");
        sqlx::query(&format!("DROP TABLE IF EXISTS {retired}"))
            .execute(&mut *transaction)
            .await?;
        sqlx::query(&format!("ALTER TABLE {live} RENAME TO {retired}"))
            .execute(&mut *transaction)
            .await?;
        sqlx::query(&format!("ALTER TABLE {scratch} RENAME TO {live}"))
            .execute(&mut *transaction)
            .await?;
    }
    sqlx::query(
        "UPDATE projection_checkpoints SET transaction_id = $2::text::xid8, \
           global_position = $3, \
           max_position = (SELECT coalesce(max(global_position), 0) FROM events \
             WHERE (transaction_id, global_position) <= ($2::text::xid8, $3)), \
           events_applied = (SELECT count(*) FROM events \
             WHERE (transaction_id, global_position) <= ($2::text::xid8, $3)), \
           reflected_position = 0, needs_rebuild = false, updated_at = now() \
         WHERE name = $1",
    )
    .bind(name)
    .bind(at.xid())
    .bind(at.global_position)
    .execute(&mut *transaction)
    .await?;
    feed::update_reflected(&mut transaction, name).await?;
    transaction.commit().await?;
    // Queries that were waiting on the old tables finished against them; they can go now.
    for (live, _) in &tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS {live}_retired"))
            .execute(pool)
            .await?;
    }
    Ok((at, caught_up))
}

/// Rebuilds projection `name` from the whole log: replays into `<table>_rebuild` (for each of
/// its tables), catches up and swaps them in. The server may keep running: its readers see the old table until the
/// swap, and its runner pauses only for the swap.
pub async fn rebuild(
    pool: &PgPool,
    name: &str,
    progress: &(dyn Fn(RebuildProgress) + Send + Sync),
) -> Result<RebuildReport, RebuildError> {
    if tables(name).is_none() {
        return Err(RebuildError::UnknownProjection(name.to_owned()));
    }
    // Held by this connection for the whole rebuild (and released if the process dies).
    let mut guard = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(rebuild_key(name))
        .fetch_one(&mut *guard)
        .await?;
    if !locked {
        return Err(RebuildError::AlreadyRebuilding(name.to_owned()));
    }
    let result = async {
        let mut connection = pool.acquire().await?;
        create_scratch(&mut connection, name, REBUILD_SUFFIX).await?;
        drop(connection);
        let (from, replayed) = replay_into(pool, name, REBUILD_SUFFIX, progress).await?;
        progress(RebuildProgress::Swapping);
        let (checkpoint, caught_up) = catch_up_and_swap(pool, name, REBUILD_SUFFIX, from).await?;
        Ok(RebuildReport {
            replayed,
            caught_up,
            checkpoint,
        })
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(rebuild_key(name))
        .execute(&mut *guard)
        .await?;
    result
}

/// The projections marked for rebuild (by a migration that found their tables may be wrong),
/// in name order.
pub async fn marked_for_rebuild(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM projection_checkpoints WHERE needs_rebuild ORDER BY name")
        .fetch_all(pool)
        .await
}

/// Rebuilds every projection marked for rebuild ([`marked_for_rebuild`]), one after the
/// other, calling `progress` with each one's name and progress; their reports. A projection
/// that another process is rebuilding already is waited for instead.
pub async fn rebuild_marked(
    pool: &PgPool,
    progress: &(dyn Fn(&str, RebuildProgress) + Send + Sync),
) -> Result<Vec<(String, RebuildReport)>, RebuildError> {
    let mut reports = Vec::new();
    for name in marked_for_rebuild(pool).await? {
        loop {
            match rebuild(pool, &name, &|step| progress(&name, step)).await {
                Ok(report) => {
                    reports.push((name.clone(), report));
                    break;
                }
                Err(RebuildError::AlreadyRebuilding(_)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    if !marked_for_rebuild(pool).await?.contains(&name) {
                        break;
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }
    Ok(reports)
}

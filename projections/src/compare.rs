//! Verifying a projection against the log: rebuild it into a scratch table and compare that,
//! row by row, with the live table, at the same checkpoint.
//!
//! The live runner of a running server keeps advancing while this runs, so the comparison is
//! made in three steps:
//!
//! 1. **Replay without locking.** The log is replayed into `<table>_verify` (an empty copy of
//!    the live table) up to the live checkpoint as it is when the replay starts
//!    ([`ReplayLimit::LiveCheckpoint`]), inside one REPEATABLE READ snapshot. The runner is not
//!    blocked: this is the long part.
//! 2. **Catch up and compare under the checkpoint's lock.** One transaction locks the live
//!    checkpoint (`FOR UPDATE`, as the runner does for each batch and a rebuild for its swap),
//!    so the live table cannot move. A checkpoint only moves forward, so the live one is at or
//!    after the replayed point: the scratch table is caught up to exactly the live checkpoint
//!    ([`catch_up_scratch`]), then both tables are compared with `EXCEPT` both ways, joined on
//!    the primary key to classify each row as [`DifferenceKind::Missing`],
//!    [`DifferenceKind::Unexpected`] or [`DifferenceKind::Different`] (naming the columns that
//!    differ, compared with `IS DISTINCT FROM`). The transaction is rolled back: the runner is
//!    paused only for the catch-up (what it appended since the replay) and the comparison.
//! 3. **Clean up.** The scratch table is dropped, on success and on error alike.
//!
//! A projection that writes several tables (`beneficiaries` keeps the indicator engine's
//! milestone counts beside its rows, see `crate::rebuild::tables`) has a scratch copy of each,
//! and each is compared with its live table. The report is the main table's (its rows, its
//! key column); the differences found in the other tables are added to its counts and listed
//! after the main table's, each naming its table and key columns.
//!
//! Should the live checkpoint ever be found *before* the replayed point (it cannot move back,
//! unless someone edits `projection_checkpoints` by hand), the comparison replays again from
//! scratch, at most [`MAX_ATTEMPTS`] times in all, then fails with
//! [`CompareError::CheckpointMovedBack`]. Nothing ever waits for the runner, so a database
//! whose server is stopped (whose live checkpoint lags behind the log) verifies just as well:
//! at its checkpoint.
//!
//! A session advisory lock per projection keeps two verifications of it apart; a concurrent
//! `masar projections rebuild` uses `<table>_rebuild` and the checkpoint's lock, so it never
//! collides with one. A verification killed half-way leaves its scratch table behind; the
//! next one replaces it.

use futures::TryStreamExt;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};

use crate::database::quote_identifier;
use crate::feed::{self, Checkpoint};
use crate::rebuild::{
    self, catch_up_scratch, create_scratch, replay_until, RebuildError, RebuildProgress,
    ReplayLimit,
};

/// Most differences a comparison lists per projection; further ones are only counted
/// ([`ProjectionComparison::differences_omitted`]).
pub const MAX_LISTED_DIFFERENCES: usize = 1_000;

/// How many times a comparison replays the log before giving up on a live checkpoint that is
/// behind the replayed point (see the module documentation).
pub const MAX_ATTEMPTS: u32 = 3;

/// What a comparison reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareProgress {
    /// Replaying into the scratch table: `done` of `total` events read.
    Replaying {
        /// Events read so far.
        done: u64,
        /// Events to read.
        total: u64,
    },
    /// Catching up with the live checkpoint under its lock, then comparing.
    Comparing,
}

/// How a row of the rebuilt table and the live one disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DifferenceKind {
    /// The rebuild has the row, the live table does not.
    Missing,
    /// The live table has a row the rebuild does not.
    Unexpected,
    /// Both have the row, with different values.
    Different,
}

impl DifferenceKind {
    /// The stable name: `MISSING`, `UNEXPECTED` or `DIFFERENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::Missing => "MISSING",
            DifferenceKind::Unexpected => "UNEXPECTED",
            DifferenceKind::Different => "DIFFERENT",
        }
    }
}

impl std::fmt::Display for DifferenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One column of a row that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDifference {
    /// The column.
    pub column: String,
    /// Its value in the live table (as PostgreSQL's `to_jsonb` writes it).
    pub live: Value,
    /// Its value in the rebuild.
    pub rebuilt: Value,
}

/// One row on which the live table and the rebuild disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct RowDifference {
    /// What is wrong.
    pub kind: DifferenceKind,
    /// The row's key (the primary key's value; several columns' values joined by `, `).
    pub key: String,
    /// For [`DifferenceKind::Different`], the columns that differ, in table order; empty
    /// otherwise.
    pub columns: Vec<ColumnDifference>,
    /// The table and its key columns, when the row is not in the comparison's main table but
    /// in another table of the projection (e.g. `milestone_counts`).
    pub table: Option<(String, String)>,
}

/// The outcome of comparing one projection with its rebuild.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionComparison {
    /// The projection.
    pub name: String,
    /// Its live table.
    pub table: String,
    /// The primary key's column(s) that [`RowDifference::key`] holds, joined by `, `.
    pub key_column: String,
    /// The live checkpoint both tables were compared at.
    pub checkpoint: Checkpoint,
    /// Rows of the live table.
    pub live_rows: u64,
    /// Rows of the rebuild.
    pub rebuilt_rows: u64,
    /// Events replayed from the snapshot.
    pub replayed: u64,
    /// Events applied under the lock to reach the live checkpoint.
    pub caught_up: u64,
    /// Rows the rebuild has and the live table lacks.
    pub missing: u64,
    /// Rows the live table has and the rebuild lacks.
    pub unexpected: u64,
    /// Rows both have, with different values.
    pub different: u64,
    /// The differences, in key order (at most [`MAX_LISTED_DIFFERENCES`]).
    pub differences: Vec<RowDifference>,
    /// Differences found beyond [`MAX_LISTED_DIFFERENCES`], counted but not listed.
    pub differences_omitted: u64,
}

impl ProjectionComparison {
    /// Adds the differences of another of the projection's tables to this (its main table's)
    /// comparison: counted, and listed (within [`MAX_LISTED_DIFFERENCES`]) with their keys
    /// prefixed by that table's name and key columns.
    fn absorb(&mut self, other: &ProjectionComparison) {
        self.missing += other.missing;
        self.unexpected += other.unexpected;
        self.different += other.different;
        self.differences_omitted += other.differences_omitted;
        for difference in &other.differences {
            if self.differences.len() >= MAX_LISTED_DIFFERENCES {
                self.differences_omitted += 1;
                continue;
            }
            self.differences.push(RowDifference {
                table: Some((other.table.clone(), other.key_column.clone())),
                ..difference.clone()
            });
        }
    }

    /// Whether the live tables equal their rebuild.
    pub fn ok(&self) -> bool {
        self.difference_count() == 0
    }

    /// Every difference found, listed or not.
    pub fn difference_count(&self) -> u64 {
        self.missing + self.unexpected + self.different
    }
}

/// Errors of a comparison.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Another verification of the same projection is running.
    #[error("a verification of {0} is already running: wait for it to finish")]
    AlreadyVerifying(String),
    /// The live checkpoint was found behind the replayed point on every attempt.
    #[error(
        "the checkpoint of {name} moved back while it was being verified ({attempts} attempts): \
         was projection_checkpoints edited? Run `masar projections rebuild {name}`"
    )]
    CheckpointMovedBack {
        /// The projection.
        name: String,
        /// Replays made.
        attempts: u32,
    },
    /// The live table has no primary key to match rows on.
    #[error("table {0} has no primary key: its rows cannot be matched")]
    NoPrimaryKey(String),
    /// Replaying, catching up or reading failed (including an unknown projection name).
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
}

impl From<sqlx::Error> for CompareError {
    fn from(error: sqlx::Error) -> Self {
        CompareError::Rebuild(error.into())
    }
}

impl From<feed::FeedError> for CompareError {
    fn from(error: feed::FeedError) -> Self {
        CompareError::Rebuild(error.into())
    }
}

/// What verification appends to the live tables' names to name its scratch tables (a rebuild
/// uses [`rebuild::REBUILD_SUFFIX`]).
pub const VERIFY_SUFFIX: &str = "_verify";

/// The scratch table verification replays `live` into (a rebuild uses `<table>_rebuild`).
pub fn scratch_table(live: &str) -> String {
    format!("{live}{VERIFY_SUFFIX}")
}

fn verify_key(name: &str) -> i64 {
    feed::advisory_key(&format!("masar-verify:{name}"))
}

/// Rebuilds projection `name` into a scratch table and compares it with the live table at the
/// live checkpoint (see the module documentation); the scratch table is dropped afterwards,
/// also on error.
pub async fn compare(
    pool: &PgPool,
    name: &str,
    progress: &(dyn Fn(CompareProgress) + Send + Sync),
) -> Result<ProjectionComparison, CompareError> {
    let tables = rebuild::scratch_tables(name, VERIFY_SUFFIX)?;
    // Held by this connection for the whole verification. Closed afterwards, so that the lock
    // goes with it even if this future is dropped half-way.
    let mut guard = pool.acquire().await?;
    guard.close_on_drop();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(verify_key(name))
        .fetch_one(&mut *guard)
        .await?;
    if !locked {
        return Err(CompareError::AlreadyVerifying(name.to_owned()));
    }
    let result = compare_locked(pool, name, &tables, progress).await;
    let mut dropped = Ok(());
    for (_, scratch) in &tables {
        let outcome = sqlx::query(&format!("DROP TABLE IF EXISTS {scratch}"))
            .execute(&mut *guard)
            .await;
        if let (Ok(()), Err(error)) = (&dropped, outcome) {
            dropped = Err(error);
        }
    }
    // Best effort: closing the connection releases the lock anyway.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(verify_key(name))
        .execute(&mut *guard)
        .await;
    let comparison = result?;
    dropped?;
    Ok(comparison)
}

async fn compare_locked(
    pool: &PgPool,
    name: &str,
    tables: &[(String, String)],
    progress: &(dyn Fn(CompareProgress) + Send + Sync),
) -> Result<ProjectionComparison, CompareError> {
    let replaying = |p: RebuildProgress| {
        if let RebuildProgress::Replaying { done, total } = p {
            progress(CompareProgress::Replaying { done, total });
        }
    };
    for _ in 0..MAX_ATTEMPTS {
        {
            let mut connection = pool.acquire().await?;
            create_scratch(&mut connection, name, VERIFY_SUFFIX).await?;
        }
        let (from, replayed) = replay_until(
            pool,
            name,
            VERIFY_SUFFIX,
            ReplayLimit::LiveCheckpoint,
            &replaying,
        )
        .await?;
        progress(CompareProgress::Comparing);
        let mut transaction = pool.begin().await?;
        let at = feed::lock_checkpoint(&mut transaction, name).await?;
        if at < from {
            transaction.rollback().await?;
            continue;
        }
        let (_, caught_up) =
            catch_up_scratch(&mut transaction, name, VERIFY_SUFFIX, from, Some(at)).await?;
        let Some(((live, scratch), others)) = tables.split_first() else {
            return Err(RebuildError::UnknownProjection(name.to_owned()).into());
        };
        let mut comparison = compare_tables(&mut transaction, live, scratch).await?;
        for (live, scratch) in others {
            let other = compare_tables(&mut transaction, live, scratch).await?;
            comparison.absorb(&other);
        }
        // Nothing of this transaction is kept: the scratch table is dropped next.
        transaction.rollback().await?;
        comparison.name = name.to_owned();
        comparison.checkpoint = at;
        comparison.replayed = replayed;
        comparison.caught_up = caught_up;
        return Ok(comparison);
    }
    Err(CompareError::CheckpointMovedBack {
        name: name.to_owned(),
        attempts: MAX_ATTEMPTS,
    })
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The columns of `table` in table order, and those of its primary key.
async fn columns_of(
    connection: &mut PgConnection,
    table: &str,
) -> Result<(Vec<String>, Vec<String>), CompareError> {
    let rows = sqlx::query(
        "SELECT a.attname::text AS name, \
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary \
             AND a.attnum = ANY (i.indkey)) AS key \
         FROM pg_attribute a \
         WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .bind(table)
    .fetch_all(&mut *connection)
    .await?;
    let mut columns = Vec::with_capacity(rows.len());
    let mut key = Vec::new();
    for row in rows {
        let name: String = row.try_get("name")?;
        if row.try_get::<bool, _>("key")? {
            key.push(name.clone());
        }
        columns.push(name);
    }
    if key.is_empty() {
        return Err(CompareError::NoPrimaryKey(table.to_owned()));
    }
    Ok((columns, key))
}

/// Compares `live` with `scratch` (same columns) inside the caller's transaction; the report
/// without its projection name, checkpoint and replay counts.
async fn compare_tables(
    connection: &mut PgConnection,
    live: &str,
    scratch: &str,
) -> Result<ProjectionComparison, CompareError> {
    let (columns, key) = columns_of(connection, live).await?;
    let (live_rows, rebuilt_rows): (i64, i64) = sqlx::query_as(&format!(
        "SELECT (SELECT count(*) FROM {live}), (SELECT count(*) FROM {scratch})"
    ))
    .fetch_one(&mut *connection)
    .await?;

    let list = columns
        .iter()
        .map(|c| quote_identifier(c))
        .collect::<Vec<_>>()
        .join(", ");
    let join = key
        .iter()
        .map(|k| format!("l.{k} = r.{k}", k = quote_identifier(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let key_text = key
        .iter()
        .map(|k| format!("coalesce(l.{k}, r.{k})::text", k = quote_identifier(k)))
        .collect::<Vec<_>>()
        .join(", ");
    // In the key columns' own order, never their text's ("10" before "9").
    let key_order = key
        .iter()
        .map(|k| format!("coalesce(l.{k}, r.{k})", k = quote_identifier(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let differing = columns
        .iter()
        .map(|c| {
            format!(
                "CASE WHEN l.{q} IS DISTINCT FROM r.{q} THEN {name} END",
                q = quote_identifier(c),
                name = literal(c)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    // A primary key column is never NULL in a table: NULL there means "no such row".
    let present = |side: &str| format!("{side}.{} IS NOT NULL", quote_identifier(&key[0]));
    let sql = format!(
        "WITH live_only AS (SELECT {list} FROM {live} EXCEPT SELECT {list} FROM {scratch}), \
              rebuilt_only AS (SELECT {list} FROM {scratch} EXCEPT SELECT {list} FROM {live}) \
         SELECT concat_ws(', ', {key_text}) AS key, \
           CASE WHEN NOT ({r}) THEN 'UNEXPECTED' WHEN NOT ({l}) THEN 'MISSING' \
             ELSE 'DIFFERENT' END AS kind, \
           CASE WHEN {l} AND {r} THEN array_remove(ARRAY[{differing}]::text[], NULL) END \
             AS columns, \
           CASE WHEN {l} AND {r} THEN to_jsonb(l) END AS live, \
           CASE WHEN {l} AND {r} THEN to_jsonb(r) END AS rebuilt \
         FROM live_only l FULL JOIN rebuilt_only r ON {join} \
         ORDER BY {key_order}",
        l = present("l"),
        r = present("r"),
    );

    let mut comparison = ProjectionComparison {
        name: String::new(),
        table: live.to_owned(),
        key_column: key.join(", "),
        checkpoint: Checkpoint::default(),
        live_rows: u64::try_from(live_rows).unwrap_or(0),
        rebuilt_rows: u64::try_from(rebuilt_rows).unwrap_or(0),
        replayed: 0,
        caught_up: 0,
        missing: 0,
        unexpected: 0,
        different: 0,
        differences: Vec::new(),
        differences_omitted: 0,
    };
    let mut rows = sqlx::query(&sql).fetch(&mut *connection);
    while let Some(row) = rows.try_next().await? {
        let kind = match row.try_get::<&str, _>("kind")? {
            "MISSING" => DifferenceKind::Missing,
            "UNEXPECTED" => DifferenceKind::Unexpected,
            _ => DifferenceKind::Different,
        };
        match kind {
            DifferenceKind::Missing => comparison.missing += 1,
            DifferenceKind::Unexpected => comparison.unexpected += 1,
            DifferenceKind::Different => comparison.different += 1,
        }
        if comparison.differences.len() >= MAX_LISTED_DIFFERENCES {
            comparison.differences_omitted += 1;
            continue;
        }
        let names: Option<Vec<String>> = row.try_get("columns")?;
        let live_row: Option<Value> = row.try_get("live")?;
        let rebuilt_row: Option<Value> = row.try_get("rebuilt")?;
        let value = |row: &Option<Value>, column: &str| {
            row.as_ref()
                .and_then(|r| r.get(column))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let columns = names
            .unwrap_or_default()
            .into_iter()
            .map(|column| ColumnDifference {
                live: value(&live_row, &column),
                rebuilt: value(&rebuilt_row, &column),
                column,
            })
            .collect();
        comparison.differences.push(RowDifference {
            kind,
            key: row.try_get("key")?,
            columns,
            table: None,
        });
    }
    Ok(comparison)
}

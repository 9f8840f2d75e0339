//! Verifying the whole event log: every stream's hash chain recomputed from the stored rows
//! (see `docs/event-encoding.md`), read as one ordered stream so that memory stays constant
//! whatever the size of the log.

use futures::{FutureExt, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};

use crate::event_log::{self, ChainProblem, StoredEvent};
use crate::seal::{self, Seal, VerifyingKey};

/// Most problems a report lists; any further ones are only counted
/// ([`IntegrityReport::problems_omitted`]), so that a thoroughly rewritten log cannot exhaust
/// memory.
pub const MAX_LISTED_PROBLEMS: usize = 10_000;

/// Rows decoded and hashed together on a blocking thread; progress is reported after each.
const HASH_BATCH: usize = 1_000;

/// Batches read ahead of the hashing: enough to keep PostgreSQL sending while every hashing
/// thread is busy, few enough to keep memory small (each batch is about half a megabyte).
const READ_AHEAD: usize = 8;

/// How many batches are hashed at once: one per core, and one more so that none waits.
fn hashing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
}

/// The columns verification reads: [`event_log::SELECT_COLUMNS`] with the JSON fields as their
/// stored text, canonicalised without building values.
const VERIFY_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence, \
    event_type, event_version, payload::text, metadata::text, recorded_at, previous_hash, hash";

/// Every transaction reading the log sees one snapshot and writes nothing.
const READ_ONLY_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// A byte range of [`HashedBatch::text`].
type Span = std::ops::Range<usize>;

/// One event of a [`HashedBatch`]: what the chain check needs, its text kept in the batch.
#[derive(Debug)]
struct HashedEvent {
    global_position: i64,
    sequence: i64,
    aggregate_type: Span,
    aggregate_id: Span,
    previous_hash: Option<Span>,
    hash: Span,
    /// The recomputed hash, kept only when it differs from the stored one.
    recomputed: Option<Span>,
}

/// A batch of rows decoded and hashed on a blocking thread: the rows themselves (and their
/// JSON) are dropped there, and what is handed back holds its text in one buffer.
#[derive(Debug, Default)]
struct HashedBatch {
    text: String,
    events: Vec<HashedEvent>,
}

impl HashedBatch {
    fn keep(&mut self, text: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    fn link(&self, event: &HashedEvent) -> Link<'_> {
        let text = |span: &Span| self.text.get(span.clone()).unwrap_or_default();
        Link {
            aggregate_type: text(&event.aggregate_type),
            aggregate_id: text(&event.aggregate_id),
            sequence: event.sequence,
            previous_hash: event.previous_hash.as_ref().map(text),
            hash: text(&event.hash),
            recomputed: event.recomputed.as_ref().map(text),
        }
    }
}

/// Decodes a batch of rows (selected with [`VERIFY_COLUMNS`]) and recomputes each event's
/// hash.
fn hash_batch(rows: Vec<PgRow>) -> Result<HashedBatch, sqlx::Error> {
    let mut batch = HashedBatch {
        text: String::with_capacity(rows.len() * 192),
        events: Vec::with_capacity(rows.len()),
    };
    let mut encoding = String::with_capacity(1024);
    for row in &rows {
        let covered = event_log::Covered {
            aggregate_type: row.try_get(1)?,
            aggregate_id: row.try_get(2)?,
            sequence: row.try_get(3)?,
            event_type: row.try_get(4)?,
            event_version: row.try_get(5)?,
            recorded_at: row.try_get(8)?,
            previous_hash: row.try_get(9)?,
        };
        let (payload, metadata): (&str, &str) = (row.try_get(6)?, row.try_get(7)?);
        let hash: &str = row.try_get(10)?;
        encoding.clear();
        covered
            .write_with_text(&mut encoding, payload, metadata)
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        let mut recomputed = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(encoding.as_bytes()), &mut recomputed)
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        let recomputed = (recomputed.as_slice() != hash.as_bytes())
            .then(|| batch.keep(std::str::from_utf8(&recomputed).unwrap_or_default()));
        let event = HashedEvent {
            global_position: row.try_get(0)?,
            sequence: covered.sequence,
            aggregate_type: batch.keep(covered.aggregate_type),
            aggregate_id: batch.keep(covered.aggregate_id),
            previous_hash: covered.previous_hash.map(|h| batch.keep(h)),
            hash: batch.keep(hash),
            recomputed,
        };
        batch.events.push(event);
    }
    Ok(batch)
}

/// What a verification reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Events checked so far.
    pub checked: u64,
    /// Events to check.
    pub total: u64,
}

/// The kind of an integrity problem, with a stable name for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Events are missing: the stream does not start at 1, or its sequence numbers skip.
    SequenceGap,
    /// An event's `previous_hash` is not the stored hash of the stream's previous event.
    BrokenLink,
    /// An event's stored hash differs from the hash recomputed from its fields.
    HashMismatch,
    /// A stream recorded by a seal has no event any more.
    SealedStreamMissing,
    /// A stream ends before the head a seal recorded: its last events are gone.
    SealedEventsMissing,
    /// An event a seal recorded as a stream's head now has another hash: the stream was
    /// rewritten.
    SealedHashMismatch,
    /// An event at or below the latest seal's position that the seal does not cover.
    UnsealedEvent,
    /// The latest seal's digest differs from the one recomputed from the events (or from its
    /// stored heads).
    SealDigestMismatch,
    /// A seal's signature does not verify with its public key.
    SealSignatureInvalid,
    /// A seal was signed by another key than the trusted one.
    SealKeyUntrusted,
    /// Seals out of order: a seal's position does not exceed the previous seal's.
    SealOrder,
    /// The log ends before the latest seal's position.
    LogTruncated,
}

impl ProblemKind {
    /// The stable name, e.g. `SEQUENCE_GAP`, `BROKEN_LINK`, `HASH_MISMATCH` or
    /// `SEALED_EVENTS_MISSING`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::SequenceGap => "SEQUENCE_GAP",
            ProblemKind::BrokenLink => "BROKEN_LINK",
            ProblemKind::HashMismatch => "HASH_MISMATCH",
            ProblemKind::SealedStreamMissing => "SEALED_STREAM_MISSING",
            ProblemKind::SealedEventsMissing => "SEALED_EVENTS_MISSING",
            ProblemKind::SealedHashMismatch => "SEALED_HASH_MISMATCH",
            ProblemKind::UnsealedEvent => "UNSEALED_EVENT",
            ProblemKind::SealDigestMismatch => "SEAL_DIGEST_MISMATCH",
            ProblemKind::SealSignatureInvalid => "SEAL_SIGNATURE_INVALID",
            ProblemKind::SealKeyUntrusted => "SEAL_KEY_UNTRUSTED",
            ProblemKind::SealOrder => "SEAL_ORDER",
            ProblemKind::LogTruncated => "LOG_TRUNCATED",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, located by its stream and sequence (both empty for a problem of the log or
/// of a seal as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityProblem {
    /// The stream's type: `Beneficiary`, `Programme` or `Organisation`.
    pub aggregate_type: String,
    /// The stream's id.
    pub aggregate_id: String,
    /// The event concerned: for a gap, the first missing sequence.
    pub sequence: Option<i64>,
    /// What is wrong.
    pub kind: ProblemKind,
    /// What was expected and what was found.
    pub detail: String,
}

/// The outcome of verifying the whole log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntegrityReport {
    /// Events read and checked.
    pub events_checked: u64,
    /// Streams read and checked.
    pub streams_checked: u64,
    /// The highest global position of the log verified (0 when empty).
    pub head: i64,
    /// The problems found, in stream and sequence order (at most [`MAX_LISTED_PROBLEMS`]).
    pub problems: Vec<IntegrityProblem>,
    /// Problems found beyond [`MAX_LISTED_PROBLEMS`], counted but not listed.
    pub problems_omitted: u64,
    /// The latest seal, if any.
    pub latest_seal: Option<Seal>,
    /// How many seals were checked.
    pub seals_checked: u64,
    /// Whether the seals' key was compared with a key trusted independently of the database.
    pub seal_key_trusted: bool,
}

impl IntegrityReport {
    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.problems_omitted == 0
    }

    /// Every problem found, listed or not.
    pub fn problem_count(&self) -> u64 {
        self.problems.len() as u64 + self.problems_omitted
    }

    /// Lists the problem `describe` gives, or only counts it once [`MAX_LISTED_PROBLEMS`] are
    /// listed.
    fn list(&mut self, describe: impl FnOnce() -> IntegrityProblem) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(describe());
        } else {
            self.problems_omitted += 1;
        }
    }
}

/// The previous event of the stream being checked: all the checker keeps.
#[derive(Debug, Clone)]
struct Previous {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    hash: String,
}

/// What the chain check looks at in one event.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    /// The stream's type.
    pub aggregate_type: &'a str,
    /// The stream's id.
    pub aggregate_id: &'a str,
    /// 1-based position in the stream.
    pub sequence: i64,
    /// The stored hash of the stream's previous event, `None` for the first.
    pub previous_hash: Option<&'a str>,
    /// The stored hash.
    pub hash: &'a str,
    /// The hash recomputed from the event's fields, when it differs from the stored one.
    pub recomputed: Option<&'a str>,
}

impl<'a> Link<'a> {
    /// The link of `event`, whose recomputed hash is `recomputed`.
    pub fn of(event: &'a StoredEvent, recomputed: &'a str) -> Link<'a> {
        Link {
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            sequence: event.sequence,
            previous_hash: event.previous_hash.as_deref(),
            hash: &event.hash,
            recomputed: (recomputed != event.hash).then_some(recomputed),
        }
    }
}

/// Checks events one by one, given in `(aggregate_type, aggregate_id, sequence)` order, and
/// remembers only the previous event of the current stream.
#[derive(Debug, Default)]
pub struct ChainChecker {
    previous: Option<Previous>,
    streams: u64,
    events: u64,
}

impl ChainChecker {
    /// A checker that has seen nothing yet.
    pub fn new() -> ChainChecker {
        ChainChecker::default()
    }

    /// Streams seen so far.
    pub fn streams(&self) -> u64 {
        self.streams
    }

    /// Events seen so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Checks the next event against the one before it in its stream, and its own hash.
    ///
    /// A gap is reported once, at the first missing sequence; the link of the event after a
    /// gap cannot be checked (its predecessor is missing) and is not reported separately.
    pub fn check(&mut self, event: &StoredEvent) -> Vec<ChainProblem> {
        let recomputed = event.recomputed_hash();
        self.check_link(&Link::of(event, &recomputed))
    }

    /// [`ChainChecker::check`] of an event whose hash was recomputed elsewhere (e.g. on
    /// another thread).
    pub fn check_link(&mut self, event: &Link<'_>) -> Vec<ChainProblem> {
        let mut problems = Vec::new();
        let previous = self
            .previous
            .take()
            .filter(|p| p.aggregate_type == event.aggregate_type)
            .filter(|p| p.aggregate_id == event.aggregate_id);
        if previous.is_none() {
            self.streams += 1;
        }
        self.events += 1;
        let expected = previous.as_ref().map_or(1, |p| p.sequence + 1);
        if event.sequence != expected {
            problems.push(ChainProblem::SequenceGap {
                expected,
                found: event.sequence,
            });
        } else {
            let expected_link = previous.as_ref().map(|p| p.hash.as_str());
            if event.previous_hash != expected_link {
                problems.push(ChainProblem::BrokenLink {
                    sequence: event.sequence,
                });
            }
        }
        if event.recomputed.is_some() {
            problems.push(ChainProblem::HashMismatch {
                sequence: event.sequence,
            });
        }
        self.previous = Some(match previous {
            Some(mut p) => {
                p.sequence = event.sequence;
                p.hash.clear();
                p.hash.push_str(event.hash);
                p
            }
            None => Previous {
                aggregate_type: event.aggregate_type.to_owned(),
                aggregate_id: event.aggregate_id.to_owned(),
                sequence: event.sequence,
                hash: event.hash.to_owned(),
            },
        });
        problems
    }
}

/// Describes `problem`, found at `event`, for a report.
pub fn describe(problem: &ChainProblem, event: &Link<'_>) -> IntegrityProblem {
    let stream = format!("{} {}", event.aggregate_type, event.aggregate_id);
    let (sequence, kind, detail) = match problem {
        ChainProblem::SequenceGap { expected, found } if *found > *expected => (
            *expected,
            ProblemKind::SequenceGap,
            if found - expected == 1 {
                format!("{stream}: event {expected} is missing (the next event found is {found})")
            } else {
                format!(
                    "{stream}: events {expected} to {} are missing (the next event found is \
                     {found})",
                    found - 1
                )
            },
        ),
        ChainProblem::SequenceGap { expected, found } => (
            *found,
            ProblemKind::SequenceGap,
            format!("{stream}: expected event {expected} but found event {found}"),
        ),
        ChainProblem::BrokenLink { sequence } => (
            *sequence,
            ProblemKind::BrokenLink,
            format!(
                "{stream}: event {sequence}'s previous_hash {} is not the stored hash of the \
                 event before it",
                event.previous_hash.unwrap_or("null")
            ),
        ),
        ChainProblem::HashMismatch { sequence } => (
            *sequence,
            ProblemKind::HashMismatch,
            format!(
                "{stream}: event {sequence}'s stored hash {} differs from the hash recomputed \
                 from its fields, {}",
                event.hash,
                event.recomputed.unwrap_or(event.hash)
            ),
        ),
    };
    IntegrityProblem {
        aggregate_type: event.aggregate_type.to_owned(),
        aggregate_id: event.aggregate_id.to_owned(),
        sequence: Some(sequence),
        kind,
        detail,
    }
}

/// A range of streams by `(aggregate_type, aggregate_id)`, in the database's order: from
/// `from` (included) to `to` (excluded), each end open when `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRange {
    /// The first stream of the range, if bounded below.
    pub from: Option<(String, String)>,
    /// The first stream after the range, if bounded above.
    pub to: Option<(String, String)>,
}

impl StreamRange {
    /// The SQL condition selecting the range's rows of a table with `aggregate_type` and
    /// `aggregate_id` columns, its bounds being parameters from `$first` on (see
    /// [`StreamRange::bind`]).
    pub fn condition(&self, first: usize) -> String {
        let mut parts = Vec::new();
        let mut next = first;
        for (bound, operator) in [(&self.from, ">="), (&self.to, "<")] {
            if bound.is_some() {
                parts.push(format!(
                    "(aggregate_type, aggregate_id) {operator} (${next}, ${})",
                    next + 1
                ));
                next += 2;
            }
        }
        if parts.is_empty() {
            "true".to_owned()
        } else {
            parts.join(" AND ")
        }
    }

    /// Binds the bounds of [`StreamRange::condition`], after the query's earlier parameters.
    pub fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for (aggregate_type, aggregate_id) in self.from.iter().chain(&self.to) {
            query = query
                .bind(aggregate_type.as_str())
                .bind(aggregate_id.as_str());
        }
        query
    }
}

/// Pages of `events` sampled to split the log into ranges: a few thousand events, enough for
/// ranges of about equal size.
const SAMPLED_PAGES: f64 = 200.0;

/// Splits the streams into at most `parts` ranges of about equal numbers of events, in order,
/// from a sample of the table's pages. Any split is correct; only the balance depends on the
/// sample.
pub async fn stream_ranges(
    connection: &mut PgConnection,
    parts: usize,
) -> Result<Vec<StreamRange>, sqlx::Error> {
    if parts <= 1 {
        return Ok(vec![StreamRange::default()]);
    }
    let pages: i64 = sqlx::query_scalar(
        "SELECT (pg_relation_size('events') / current_setting('block_size')::bigint)::bigint",
    )
    .fetch_one(&mut *connection)
    .await?;
    let percent = (100.0 * SAMPLED_PAGES / pages.max(1) as f64).min(100.0);
    let parts = i32::try_from(parts).unwrap_or(i32::MAX);
    let boundaries: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT DISTINCT ON (part) aggregate_type, aggregate_id FROM ( \
             SELECT aggregate_type, aggregate_id, \
                    ntile($1) OVER (ORDER BY aggregate_type, aggregate_id) AS part \
             FROM events TABLESAMPLE SYSTEM ({percent})) AS sample \
         WHERE part > 1 ORDER BY part, aggregate_type, aggregate_id"
    ))
    .bind(parts)
    .fetch_all(&mut *connection)
    .await?;
    let mut ranges = vec![StreamRange::default()];
    for boundary in boundaries {
        let Some(last) = ranges.last_mut() else { break };
        if last.from.as_ref() == Some(&boundary) {
            continue;
        }
        last.to = Some(boundary.clone());
        ranges.push(StreamRange {
            from: Some(boundary),
            to: None,
        });
    }
    Ok(ranges)
}

/// How many ranges of the log are read at once, each on its own connection: one per core, but
/// at most half the pool's connections (the rest serve the application meanwhile) and at most
/// four.
pub fn default_readers(pool: &PgPool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let connections = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
    cores.min(connections / 2).clamp(1, 4)
}

/// How long verification waits for each further connection before reading in fewer ranges.
const READER_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Up to `readers - 1` further read-only transactions on the snapshot of `tx` (exported with
/// `pg_export_snapshot`): as many as the pool gives within [`READER_ACQUIRE_TIMEOUT`] each
/// (verification then reads in fewer ranges).
async fn readers_sharing_snapshot(
    pool: &PgPool,
    tx: &mut Transaction<'static, Postgres>,
    readers: usize,
) -> Result<Vec<Transaction<'static, Postgres>>, sqlx::Error> {
    let mut others = Vec::new();
    while others.len() + 1 < readers {
        match tokio::time::timeout(READER_ACQUIRE_TIMEOUT, pool.begin()).await {
            Ok(Ok(other)) => others.push(other),
            Ok(Err(error)) => {
                tracing::warn!(%error, "verifying with fewer connections");
                break;
            }
            Err(_) => {
                tracing::warn!("no further connection free: verifying with fewer connections");
                break;
            }
        }
    }
    if others.is_empty() {
        return Ok(others);
    }
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut **tx)
        .await?;
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(sqlx::Error::Protocol(format!(
            "unexpected snapshot identifier {snapshot:?}"
        )));
    }
    for other in &mut others {
        sqlx::query(READ_ONLY_SNAPSHOT)
            .execute(&mut **other)
            .await?;
        sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
            .execute(&mut **other)
            .await?;
    }
    Ok(others)
}

/// What checking one range found.
#[derive(Debug, Default)]
struct RangeCheck {
    /// The range's problems, events and streams.
    found: IntegrityReport,
    /// The digest of the range's heads at the latest seal ([`seal::HeadsAtSeal`]).
    heads: Option<String>,
}

/// Reads one range's rows in stream order, in batches, into `sender`; then, when there is a
/// seal, the digest of the heads stored for it in the range. Gives the transaction back.
async fn read_range(
    mut tx: Transaction<'static, Postgres>,
    range: StreamRange,
    latest: Option<Seal>,
    sender: tokio::sync::mpsc::Sender<Vec<PgRow>>,
) -> Result<(Transaction<'static, Postgres>, Option<String>), sqlx::Error> {
    let sql = format!(
        "SELECT {VERIFY_COLUMNS} FROM events WHERE {} \
         ORDER BY aggregate_type, aggregate_id, sequence",
        range.condition(1)
    );
    {
        let mut rows = range
            .bind(sqlx::query(&sql))
            .fetch(&mut *tx)
            .try_chunks(HASH_BATCH);
        while let Some(batch) = rows.try_next().await.map_err(|error| error.1)? {
            if sender.send(batch).await.is_err() {
                break;
            }
        }
    }
    drop(sender);
    let stored = match &latest {
        Some(latest) => Some(seal::stored_heads_digest_in(&mut tx, latest, &range).await?),
        None => None,
    };
    Ok((tx, stored))
}

/// Hashes the batches of one range as they come, several at a time on blocking threads, and
/// checks the chains in order.
async fn check_range(
    receiver: tokio::sync::mpsc::Receiver<Vec<PgRow>>,
    latest: Option<&Seal>,
    hashing: usize,
    checked: &(dyn Fn(u64) + Send + Sync),
) -> Result<RangeCheck, sqlx::Error> {
    let mut outcome = RangeCheck::default();
    let mut checker = ChainChecker::new();
    let mut heads = latest.map(|s| seal::HeadsAtSeal::new(s.position));
    let queued = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|batch| (batch, receiver))
    });
    let batches = queued
        .map(|rows| {
            tokio::task::spawn_blocking(move || hash_batch(rows)).map(|joined| {
                joined.map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))?
            })
        })
        .buffered(hashing);
    let mut batches = std::pin::pin!(batches);
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        for hashed in &batch.events {
            let event = batch.link(hashed);
            if let Some(heads) = heads.as_mut() {
                heads.see(
                    event.aggregate_type,
                    event.aggregate_id,
                    event.sequence,
                    hashed.global_position,
                    event.hash,
                );
            }
            for problem in checker.check_link(&event) {
                outcome.found.list(|| describe(&problem, &event));
            }
        }
        checked(batch.events.len() as u64);
    }
    outcome.found.streams_checked = checker.streams();
    outcome.found.events_checked = checker.events();
    outcome.heads = heads.map(seal::HeadsAtSeal::finish);
    Ok(outcome)
}

/// Recomputes every stream's hash chain from the stored rows and checks the seals (see
/// [`seal::check`]; `trusted` is the seal key trusted independently of the database, if
/// known), and reports each problem with its stream and sequence. Reads the log in
/// [`default_readers`] ranges at once (see [`verify_log_with`]).
pub async fn verify_log(
    pool: &PgPool,
    trusted: Option<&VerifyingKey>,
    progress: &(dyn Fn(VerifyProgress) + Send + Sync),
) -> Result<IntegrityReport, sqlx::Error> {
    verify_log_with(pool, trusted, default_readers(pool), progress).await
}

/// [`verify_log`], reading the log in at most `readers` ranges of streams at once.
///
/// The log is read in one read-only, repeatable-read snapshot (so the count, the head, the
/// rows and the seals agree even while writers append), shared by every reader's transaction
/// (`pg_export_snapshot`). Each range is read as a single ordered stream: only the current
/// stream's previous event is kept, so memory stays constant whatever the size of the log.
/// `progress` is called after every batch of a thousand events (with an estimated total) and
/// at the end (with the exact one).
pub async fn verify_log_with(
    pool: &PgPool,
    trusted: Option<&VerifyingKey>,
    readers: usize,
    progress: &(dyn Fn(VerifyProgress) + Send + Sync),
) -> Result<IntegrityReport, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(READ_ONLY_SNAPSHOT).execute(&mut *tx).await?;
    // The planner's estimate of the number of rows: counting them exactly would read the
    // whole table once more. Progress ends at the exact count.
    let (total, head): (i64, i64) = sqlx::query_as(
        "SELECT greatest((SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass), 0)\
             ::bigint, (SELECT coalesce(max(global_position), 0)::bigint FROM events)",
    )
    .fetch_one(&mut *tx)
    .await?;
    let total = u64::try_from(total).unwrap_or(0);
    progress(VerifyProgress { checked: 0, total });
    let latest = seal::latest(&mut tx).await?;
    let others = readers_sharing_snapshot(pool, &mut tx, readers).await?;
    let ranges = stream_ranges(&mut tx, others.len() + 1).await?;
    let mut transactions = vec![tx];
    transactions.extend(others);
    transactions.truncate(ranges.len());

    // Each range: one task reads rows as fast as PostgreSQL sends them into a queue; this task
    // hashes the batches on blocking threads and checks the chains in order. Neither waits for
    // the other except when the queue is full or empty.
    let checked = std::sync::atomic::AtomicU64::new(0);
    let count = |events: u64| {
        let checked = checked.fetch_add(events, std::sync::atomic::Ordering::Relaxed) + events;
        progress(VerifyProgress {
            checked,
            total: total.max(checked),
        });
    };
    let hashing = hashing_threads().div_ceil(ranges.len());
    let mut reads = Vec::with_capacity(ranges.len());
    let mut checks = Vec::with_capacity(ranges.len());
    for (tx, range) in transactions.into_iter().zip(ranges) {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<PgRow>>(READ_AHEAD);
        reads.push(tokio::spawn(read_range(tx, range, latest.clone(), sender)));
        checks.push(check_range(receiver, latest.as_ref(), hashing, &count));
    }
    let checked_ranges = futures::future::join_all(checks).await;
    let mut transactions = Vec::with_capacity(reads.len());
    let mut stored_heads = Vec::with_capacity(reads.len());
    for read in reads {
        let (tx, stored) = read
            .await
            .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))??;
        transactions.push(tx);
        stored_heads.push(stored);
    }

    let mut report = IntegrityReport {
        head,
        ..IntegrityReport::default()
    };
    let mut heads_as_stored = true;
    for (range, stored) in checked_ranges.into_iter().zip(stored_heads) {
        let range = range?;
        report.events_checked += range.found.events_checked;
        report.streams_checked += range.found.streams_checked;
        heads_as_stored &= range.heads.is_some() && range.heads == stored;
        for problem in range.found.problems {
            report.list(|| problem);
        }
        report.problems_omitted += range.found.problems_omitted;
    }
    let scanned = latest.as_ref().map(|_| seal::Scanned {
        heads_as_stored,
        chains_intact: report.ok(),
    });
    let mut transactions = transactions.into_iter();
    let Some(mut tx) = transactions.next() else {
        return Err(sqlx::Error::Protocol(
            "no transaction left to check the seals".into(),
        ));
    };
    for other in transactions {
        other.commit().await?;
    }
    let seals = seal::check(&mut tx, trusted, scanned).await?;
    tx.commit().await?;
    for problem in seals.problems {
        report.list(|| problem);
    }
    report.latest_seal = seals.latest;
    report.seals_checked = seals.seals_checked;
    report.seal_key_trusted = seals.key_trusted;
    progress(VerifyProgress {
        checked: report.events_checked,
        total: report.events_checked,
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::verify_chain;
    use chrono::DateTime;
    use serde_json::json;

    fn event(id: &str, sequence: i64, previous_hash: Option<String>) -> StoredEvent {
        let mut e = StoredEvent {
            global_position: sequence,
            aggregate_type: "Beneficiary".into(),
            aggregate_id: id.into(),
            sequence,
            event_type: "Sensitised".into(),
            event_version: "1.0".into(),
            payload: json!({"n": sequence}),
            metadata: json!({}),
            recorded_at: DateTime::UNIX_EPOCH,
            previous_hash,
            hash: String::new(),
        };
        e.hash = e.recomputed_hash();
        e
    }

    fn stream(id: &str, length: i64) -> Vec<StoredEvent> {
        let mut events: Vec<StoredEvent> = Vec::new();
        for sequence in 1..=length {
            let previous = events.last().map(|e| e.hash.clone());
            events.push(event(id, sequence, previous));
        }
        events
    }

    fn check_all(events: &[StoredEvent]) -> (Vec<ChainProblem>, ChainChecker) {
        let mut checker = ChainChecker::new();
        let problems = events.iter().flat_map(|e| checker.check(e)).collect();
        (problems, checker)
    }

    #[test]
    fn clean_streams_pass_and_are_counted() {
        let mut events = stream("a", 3);
        events.extend(stream("b", 2));
        let (problems, checker) = check_all(&events);
        assert!(problems.is_empty());
        assert_eq!((checker.streams(), checker.events()), (2, 5));
    }

    #[test]
    fn agrees_with_verify_chain_on_an_edit() {
        let mut events = stream("a", 3);
        events[1].payload = json!({"n": 99});
        assert_eq!(check_all(&events).0, verify_chain(&events));
    }

    #[test]
    fn a_deleted_event_is_one_gap_at_its_sequence() {
        let mut events = stream("a", 4);
        events.remove(1);
        let (problems, _) = check_all(&events);
        assert_eq!(
            problems,
            vec![ChainProblem::SequenceGap {
                expected: 2,
                found: 3
            }]
        );
        let recomputed = events[1].recomputed_hash();
        let described = describe(&problems[0], &Link::of(&events[1], &recomputed));
        assert_eq!(described.sequence, Some(2));
        assert_eq!(described.kind.as_str(), "SEQUENCE_GAP");
    }

    #[test]
    fn a_stream_missing_its_first_event_and_a_stray_link_are_found() {
        let mut events = stream("a", 3);
        events.remove(0);
        let (problems, _) = check_all(&events);
        assert_eq!(
            problems,
            vec![ChainProblem::SequenceGap {
                expected: 1,
                found: 2
            }]
        );

        let mut events = stream("b", 2);
        events[1].previous_hash = Some("0".repeat(64));
        events[1].hash = events[1].recomputed_hash();
        assert_eq!(
            check_all(&events).0,
            vec![ChainProblem::BrokenLink { sequence: 2 }]
        );
    }
}

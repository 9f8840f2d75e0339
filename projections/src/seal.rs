//! Signed seals over the event log: an Ed25519 signature over a digest of every stream's head
//! up to a global position (see `docs/event-encoding.md`, "Seals"), and the checks that find
//! what per-stream hash chains cannot: a stream deleted, truncated or rewritten with
//! recomputed hashes, or events slipped in below a sealed position.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::TryStreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Acquire, PgConnection, PgPool, Row};

use crate::event_log::canonical_json;
use crate::feed;
use crate::verify::{IntegrityProblem, ProblemKind, StreamRange};

/// Version of the seal text, its first line's second element.
pub const SEAL_FORMAT_VERSION: i64 = 1;

/// How long one attempt waits for the transactions writing events to finish: new writers
/// queue behind the waiting lock, so it must stay short.
const LOCK_TIMEOUT: &str = "2s";

/// Attempts before giving up on a log that is never quiet for long enough.
const LOCK_ATTEMPTS: u32 = 5;

/// One stored seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The seal's row id (seals are numbered in the order they were made).
    pub seal_id: i64,
    /// Every event with `global_position <= position` is covered.
    pub position: i64,
    /// How many stream heads the digest covers.
    pub streams: i64,
    /// Lower-case hex SHA-256 of the seal text.
    pub digest: String,
    /// Ed25519 signature of the digest's 32 bytes, lower-case hex.
    pub signature: String,
    /// The signer's public key, lower-case hex.
    pub public_key: String,
    /// When the seal was made.
    pub sealed_at: DateTime<Utc>,
}

impl Seal {
    /// Whether `signature` is a valid Ed25519 signature of `digest` by `public_key`.
    pub fn signature_valid(&self) -> bool {
        let Some(key) = decode_hex::<32>(&self.public_key)
            .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        else {
            return false;
        };
        let (Some(signature), Some(digest)) = (
            decode_hex::<64>(&self.signature),
            decode_hex::<32>(&self.digest),
        ) else {
            return false;
        };
        key.verify_strict(&digest, &Signature::from_bytes(&signature))
            .is_ok()
    }
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

/// A public key as seals write it: 64 lower-case hex digits.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Parses a public key written as 64 hex digits (as `masar seal --public-key` prints it).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = decode_hex::<32>(text.trim()).ok_or_else(|| {
        "a seal public key is 64 hexadecimal digits (as `masar seal --public-key` prints it)"
            .to_owned()
    })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "those 64 hexadecimal digits are not an Ed25519 public key".to_owned())
}

/// The seal text being hashed: its first line, then one line per stream head, in order.
#[derive(Debug, Clone)]
pub struct SealDigest {
    hasher: Sha256,
    streams: i64,
}

impl SealDigest {
    /// Starts the text of a seal at `position`.
    pub fn new(position: i64) -> SealDigest {
        let mut digest = SealDigest {
            hasher: Sha256::new(),
            streams: 0,
        };
        digest.line(&Value::Array(vec![
            Value::from("masar-seal"),
            Value::from(SEAL_FORMAT_VERSION),
            Value::from(position),
        ]));
        digest
    }

    fn line(&mut self, value: &Value) {
        self.hasher.update(canonical_json(value).as_bytes());
        self.hasher.update(b"\n");
    }

    /// Adds a stream's head; heads must come sorted by type then id, comparing UTF-8 bytes.
    pub fn push(&mut self, aggregate_type: &str, aggregate_id: &str, sequence: i64, hash: &str) {
        self.line(&Value::Array(vec![
            Value::from(aggregate_type),
            Value::from(aggregate_id),
            Value::from(sequence),
            Value::from(hash),
        ]));
        self.streams += 1;
    }

    /// Heads added so far.
    pub fn streams(&self) -> i64 {
        self.streams
    }

    /// The digest's 32 bytes.
    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

/// Why a seal could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The transactions writing events did not finish in time.
    #[error(
        "could not seal: {LOCK_ATTEMPTS} times, transactions writing events did not finish \
         within {LOCK_TIMEOUT} (is a long transaction open?); try again when the log is quieter"
    )]
    Busy,
    /// The log no longer matches an earlier seal: sealing it again would bless the change.
    #[error(
        "refusing to seal: the event log no longer matches an earlier seal ({} problem(s), \
         the first: {}); run `masar verify` and investigate before sealing again",
        .0.len(),
        .0.first().map_or("", |p| p.detail.as_str())
    )]
    LogDoesNotMatch(Vec<IntegrityProblem>),
    /// Reading or writing failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What `seal` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealOutcome {
    /// A new seal was stored.
    Sealed(Seal),
    /// The latest seal already covers the whole log: nothing new to seal.
    UpToDate(Seal),
    /// The log holds no event yet.
    EmptyLog,
}

/// The highest position of the log once every transaction writing events has finished: a
/// brief `SHARE` lock on `events` waits for them (and holds new writers back only meanwhile,
/// at most [`LOCK_TIMEOUT`], after which [`SealError::Busy`]). No event can later appear at or
/// below it, since positions are allocated in order.
pub async fn settled_head(pool: &PgPool) -> Result<i64, SealError> {
    let mut transaction = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *transaction)
        .await?;
    match sqlx::query("LOCK TABLE events IN SHARE MODE")
        .execute(&mut *transaction)
        .await
    {
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("55P03") => {
            return Err(SealError::Busy)
        }
        other => other?,
    };
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(head)
}

const SEAL_COLUMNS: &str = "seal_id, position, streams, digest, signature, public_key, sealed_at";

fn seal_of(row: &sqlx::postgres::PgRow) -> Result<Seal, sqlx::Error> {
    Ok(Seal {
        seal_id: row.try_get("seal_id")?,
        position: row.try_get("position")?,
        streams: row.try_get("streams")?,
        digest: row.try_get("digest")?,
        signature: row.try_get("signature")?,
        public_key: row.try_get("public_key")?,
        sealed_at: row.try_get("sealed_at")?,
    })
}

/// The latest seal, if any.
pub async fn latest(connection: &mut PgConnection) -> Result<Option<Seal>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {SEAL_COLUMNS} FROM seals ORDER BY seal_id DESC LIMIT 1"
    ))
    .fetch_optional(&mut *connection)
    .await?
    .as_ref()
    .map(seal_of)
    .transpose()
}

/// Every seal, oldest first.
pub async fn all(connection: &mut PgConnection) -> Result<Vec<Seal>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {SEAL_COLUMNS} FROM seals ORDER BY seal_id"
    ))
    .fetch_all(&mut *connection)
    .await?
    .iter()
    .map(seal_of)
    .collect()
}

/// Every stream's head at `$1` beside its sealed head as of seal `$2` (the latest
/// `seal_heads` row per stream among seals up to `$2`), in the seal text's order.
const HEADS_BESIDE_SEALED: &str = r#"
WITH heads AS (
    SELECT DISTINCT ON (aggregate_type, aggregate_id) aggregate_type, aggregate_id, sequence, hash
    FROM events WHERE global_position <= $1
    ORDER BY aggregate_type, aggregate_id, sequence DESC),
sealed AS (
    SELECT DISTINCT ON (aggregate_type, aggregate_id) aggregate_type, aggregate_id, sequence, hash
    FROM seal_heads WHERE seal_id <= $2
    ORDER BY aggregate_type, aggregate_id, seal_id DESC),
joined AS (
    SELECT coalesce(h.aggregate_type, s.aggregate_type) AS aggregate_type,
           coalesce(h.aggregate_id, s.aggregate_id) AS aggregate_id,
           h.sequence AS head_sequence, h.hash AS head_hash,
           s.sequence AS sealed_sequence, s.hash AS sealed_hash
    FROM heads h FULL JOIN sealed s
      ON s.aggregate_type = h.aggregate_type AND s.aggregate_id = h.aggregate_id)
"#;

/// [`HEADS_BESIDE_SEALED`]'s rows in the seal text's order (UTF-8 bytes).
fn heads_beside_sealed_in_seal_order() -> String {
    format!(
        "{HEADS_BESIDE_SEALED} SELECT * FROM joined \
         ORDER BY aggregate_type COLLATE \"C\", aggregate_id COLLATE \"C\""
    )
}

/// Seals the log up to its settled head with `key`: the digest is computed from the events,
/// and the heads that changed since the previous seal are stored beside it. Refuses when the
/// log no longer matches an earlier seal.
pub async fn seal(pool: &PgPool, key: &SigningKey) -> Result<SealOutcome, SealError> {
    let mut attempt = 1;
    let position = loop {
        match settled_head(pool).await {
            Err(SealError::Busy) if attempt < LOCK_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => break other?,
        }
    };
    let mut connection = pool.acquire().await?;
    let mut transaction = connection.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *transaction)
        .await?;
    // One sealer at a time, across processes.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(feed::advisory_key("masar-seal"))
        .execute(&mut *transaction)
        .await?;
    if position == 0 {
        return Ok(SealOutcome::EmptyLog);
    }
    let problems = sealed_head_problems(&mut transaction).await?;
    if !problems.is_empty() {
        return Err(SealError::LogDoesNotMatch(problems));
    }
    let previous = latest(&mut transaction).await?;
    if let Some(previous) = previous.as_ref().filter(|p| p.position >= position) {
        return Ok(SealOutcome::UpToDate(previous.clone()));
    }
    let previous_id = previous.as_ref().map_or(0, |p| p.seal_id);

    let mut digest = SealDigest::new(position);
    {
        let sql = heads_beside_sealed_in_seal_order();
        let mut rows = sqlx::query(&sql)
            .bind(position)
            .bind(previous_id)
            .fetch(&mut *transaction);
        while let Some(row) = rows.try_next().await? {
            let head = Heads::of(&row)?;
            match (&head.head, &head.sealed) {
                (Some((sequence, hash)), sealed) => {
                    if sealed.as_ref().is_some_and(|(s, _)| s > sequence) {
                        return Err(SealError::LogDoesNotMatch(vec![head.behind_seal()]));
                    }
                    digest.push(&head.aggregate_type, &head.aggregate_id, *sequence, hash);
                }
                (None, Some(_)) => {
                    return Err(SealError::LogDoesNotMatch(vec![head.behind_seal()]));
                }
                (None, None) => {}
            }
        }
    }
    let streams = digest.streams();
    let digest = digest.finish();
    let signature = key.sign(&digest);
    let row = sqlx::query(&format!(
        "INSERT INTO seals (position, streams, digest, signature, public_key) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {SEAL_COLUMNS}"
    ))
    .bind(position)
    .bind(streams)
    .bind(hex::encode(digest))
    .bind(hex::encode(signature.to_bytes()))
    .bind(public_key_hex(&key.verifying_key()))
    .fetch_one(&mut *transaction)
    .await?;
    let stored = seal_of(&row)?;
    sqlx::query(&format!(
        "{HEADS_BESIDE_SEALED} INSERT INTO seal_heads \
           (seal_id, aggregate_type, aggregate_id, sequence, hash) \
         SELECT $3, aggregate_type, aggregate_id, head_sequence, head_hash FROM joined \
         WHERE head_sequence IS NOT NULL \
           AND (sealed_sequence IS DISTINCT FROM head_sequence \
                OR sealed_hash IS DISTINCT FROM head_hash)"
    ))
    .bind(position)
    .bind(previous_id)
    .bind(stored.seal_id)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(SealOutcome::Sealed(stored))
}

/// One row of [`HEADS_BESIDE_SEALED`].
struct Heads {
    aggregate_type: String,
    aggregate_id: String,
    head: Option<(i64, String)>,
    sealed: Option<(i64, String)>,
}

impl Heads {
    fn of(row: &sqlx::postgres::PgRow) -> Result<Heads, sqlx::Error> {
        let pair = |sequence: &str, hash: &str| -> Result<Option<(i64, String)>, sqlx::Error> {
            let sequence: Option<i64> = row.try_get(sequence)?;
            let hash: Option<String> = row.try_get(hash)?;
            Ok(sequence.zip(hash))
        };
        Ok(Heads {
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            head: pair("head_sequence", "head_hash")?,
            sealed: pair("sealed_sequence", "sealed_hash")?,
        })
    }

    /// The stream ends before its sealed head: sealed events are gone.
    fn behind_seal(&self) -> IntegrityProblem {
        let sealed = self.sealed.as_ref().map_or(0, |(s, _)| *s);
        let last = self.head.as_ref().map_or(0, |(s, _)| *s);
        missing_sealed(
            &self.aggregate_type,
            &self.aggregate_id,
            last,
            sealed,
            "a seal",
        )
    }
}

fn problem(
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: Option<i64>,
    kind: ProblemKind,
    detail: String,
) -> IntegrityProblem {
    IntegrityProblem {
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        sequence,
        kind,
        detail,
    }
}

/// A stream that now ends at `last` (0: no event at all) although `seal` recorded it up to
/// `sealed`.
fn missing_sealed(
    aggregate_type: &str,
    aggregate_id: &str,
    last: i64,
    sealed: i64,
    seal: &str,
) -> IntegrityProblem {
    if last == 0 {
        problem(
            aggregate_type,
            aggregate_id,
            Some(1),
            ProblemKind::SealedStreamMissing,
            format!(
                "{aggregate_type} {aggregate_id}: the whole stream is missing, although {seal} \
                 recorded it up to event {sealed}"
            ),
        )
    } else {
        problem(
            aggregate_type,
            aggregate_id,
            Some(last + 1),
            ProblemKind::SealedEventsMissing,
            format!(
                "{aggregate_type} {aggregate_id}: the stream ends at event {last}, although \
                 {seal} recorded it up to event {sealed}: events {} to {sealed} are missing",
                last + 1
            ),
        )
    }
}

/// Every sealed head (of every seal) that the events no longer match, at most one per stream:
/// the earliest. Finds streams deleted, truncated or rewritten since they were sealed.
pub async fn sealed_head_problems(
    connection: &mut PgConnection,
) -> Result<Vec<IntegrityProblem>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (h.aggregate_type, h.aggregate_id) \
                h.aggregate_type, h.aggregate_id, h.sequence, h.hash, s.position, \
                e.hash AS found, \
                (SELECT max(x.sequence) FROM events x WHERE x.aggregate_type = h.aggregate_type \
                   AND x.aggregate_id = h.aggregate_id) AS last_sequence, \
                (SELECT max(g.sequence) FROM seal_heads g JOIN events y \
                   ON y.aggregate_type = g.aggregate_type AND y.aggregate_id = g.aggregate_id \
                  AND y.sequence = g.sequence AND y.hash = g.hash \
                  WHERE g.aggregate_type = h.aggregate_type AND g.aggregate_id = h.aggregate_id \
                    AND g.sequence < h.sequence) AS last_good \
         FROM seal_heads h JOIN seals s ON s.seal_id = h.seal_id \
         LEFT JOIN events e ON e.aggregate_type = h.aggregate_type \
           AND e.aggregate_id = h.aggregate_id AND e.sequence = h.sequence \
         WHERE e.hash IS DISTINCT FROM h.hash \
         ORDER BY h.aggregate_type, h.aggregate_id, h.sequence",
    )
    .fetch_all(&mut *connection)
    .await?;
    let mut problems = Vec::with_capacity(rows.len());
    for row in rows {
        let aggregate_type: String = row.try_get("aggregate_type")?;
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let sequence: i64 = row.try_get("sequence")?;
        let sealed_hash: String = row.try_get("hash")?;
        let position: i64 = row.try_get("position")?;
        let found: Option<String> = row.try_get("found")?;
        let last: Option<i64> = row.try_get("last_sequence")?;
        let last_good: Option<i64> = row.try_get("last_good")?;
        let seal = format!("the seal at position {position}");
        match (found, last) {
            (Some(found), _) => problems.push(problem(
                &aggregate_type,
                &aggregate_id,
                Some(sequence),
                ProblemKind::SealedHashMismatch,
                format!(
                    "{aggregate_type} {aggregate_id}: event {sequence}'s hash is {found}, but \
                     {seal} recorded {sealed_hash}: the stream was rewritten {}",
                    match last_good {
                        Some(good) =>
                            format!("after event {good} and at or before event {sequence}"),
                        None => format!("at or before event {sequence}"),
                    }
                ),
            )),
            (None, last) => problems.push(missing_sealed(
                &aggregate_type,
                &aggregate_id,
                last.unwrap_or(0),
                sequence,
                &seal,
            )),
        }
    }
    Ok(problems)
}

/// What checking the seals found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealCheck {
    /// The latest seal, if any.
    pub latest: Option<Seal>,
    /// How many seals were checked (signatures and sealed heads).
    pub seals_checked: u64,
    /// Whether the seals' key was compared with a key trusted independently of the database.
    pub key_trusted: bool,
    /// Every problem found.
    pub problems: Vec<IntegrityProblem>,
}

fn log_problem(kind: ProblemKind, detail: String) -> IntegrityProblem {
    problem("", "", None, kind, detail)
}

/// Checks the seals against the events (inside the caller's snapshot): every seal's signature
/// (and its key against `trusted`, when given); every sealed head still in the log; and the
/// latest seal's digest recomputed from the events themselves, with any event at or below its
/// position that it does not cover.
///
/// `scanned` is what the caller's own read of the whole log found, if it compared the heads
/// with those stored ([`Scanned`]): when they are the same and the stored heads give the signed
/// digest, the events are not read again, and when the chains were intact too, the sealed
/// heads are not looked up one by one.
pub async fn check(
    connection: &mut PgConnection,
    trusted: Option<&VerifyingKey>,
    scanned: Option<Scanned>,
) -> Result<SealCheck, sqlx::Error> {
    let seals = all(&mut *connection).await?;
    let mut check = SealCheck {
        latest: seals.last().cloned(),
        seals_checked: seals.len() as u64,
        key_trusted: trusted.is_some(),
        problems: Vec::new(),
    };
    let trusted_hex = trusted.map(public_key_hex);
    let mut previous_position = 0;
    for seal in &seals {
        let at = format!(
            "the seal at position {} ({})",
            seal.position, seal.sealed_at
        );
        if !seal.signature_valid() {
            check.problems.push(log_problem(
                ProblemKind::SealSignatureInvalid,
                format!("{at}: its signature does not verify with its public key"),
            ));
        }
        if let Some(trusted) = trusted_hex.as_deref().filter(|t| *t != seal.public_key) {
            check.problems.push(log_problem(
                ProblemKind::SealKeyUntrusted,
                format!(
                    "{at}: signed by key {}, not by the trusted key {trusted}",
                    seal.public_key
                ),
            ));
        }
        if seal.position <= previous_position {
            check.problems.push(log_problem(
                ProblemKind::SealOrder,
                format!(
                    "{at}: it does not follow the seal before it (at position \
                     {previous_position})"
                ),
            ));
        }
        previous_position = seal.position;
    }
    let Some(latest) = check.latest.clone() else {
        check
            .problems
            .extend(sealed_head_problems(&mut *connection).await?);
        return Ok(check);
    };
    // When the events' heads are those stored and the stored heads give the signed digest,
    // the events' heads are exactly those signed.
    let as_stored = scanned.filter(|scanned| scanned.heads_as_stored);
    let signed = match as_stored {
        Some(_) => stored_heads_digest(&mut *connection, &latest).await? == latest.digest,
        None => false,
    };
    // When, besides, the chains are intact, every earlier sealed head is an ancestor of a
    // signed head with the hash it had when that seal was made: there is nothing to locate.
    let nothing_to_locate = signed && as_stored.is_some_and(|scanned| scanned.chains_intact);
    if !nothing_to_locate {
        check
            .problems
            .extend(sealed_head_problems(&mut *connection).await?);
    }
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(&mut *connection)
        .await?;
    if head < latest.position {
        check.problems.push(log_problem(
            ProblemKind::LogTruncated,
            format!(
                "the log ends at position {head}, before the latest seal's position {}: its \
                 tail was removed",
                latest.position
            ),
        ));
    }
    if signed {
        return Ok(check);
    }
    let mut from_events = SealDigest::new(latest.position);
    let mut from_stored = SealDigest::new(latest.position);
    {
        let sql = heads_beside_sealed_in_seal_order();
        let mut rows = sqlx::query(&sql)
            .bind(latest.position)
            .bind(latest.seal_id)
            .fetch(&mut *connection);
        while let Some(row) = rows.try_next().await? {
            let heads = Heads::of(&row)?;
            let (kind, id) = (&heads.aggregate_type, &heads.aggregate_id);
            if let Some((sequence, hash)) = &heads.head {
                from_events.push(kind, id, *sequence, hash);
            }
            if let Some((sequence, hash)) = &heads.sealed {
                from_stored.push(kind, id, *sequence, hash);
            }
            // Streams behind their sealed head, or rewritten, are found above.
            match (&heads.head, &heads.sealed) {
                (Some(_), None) => check.problems.push(problem(
                    kind,
                    id,
                    Some(1),
                    ProblemKind::UnsealedEvent,
                    format!(
                        "{kind} {id}: the stream has events at or below position {}, but the \
                         seal at that position does not cover it: it was inserted afterwards",
                        latest.position
                    ),
                )),
                (Some((sequence, _)), Some((sealed, _))) if sequence > sealed => {
                    check.problems.push(problem(
                        kind,
                        id,
                        Some(sealed + 1),
                        ProblemKind::UnsealedEvent,
                        format!(
                            "{kind} {id}: events {} to {sequence} are at or below position {}, \
                             but the seal at that position recorded the stream up to event \
                             {sealed}: they were inserted afterwards",
                            sealed + 1,
                            latest.position
                        ),
                    ))
                }
                _ => {}
            }
        }
    }
    let recomputed = hex::encode(from_events.finish());
    if recomputed != latest.digest {
        check.problems.push(log_problem(
            ProblemKind::SealDigestMismatch,
            format!(
                "the stream heads at position {} recomputed from the events give digest \
                 {recomputed}, but the latest seal signed {}",
                latest.position, latest.digest
            ),
        ));
    }
    if hex::encode(from_stored.finish()) != latest.digest {
        check.problems.push(stored_heads_altered(&latest));
    }
    Ok(check)
}

fn stored_heads_altered(seal: &Seal) -> IntegrityProblem {
    log_problem(
        ProblemKind::SealDigestMismatch,
        format!(
            "the heads stored with the seal at position {} do not give its digest: seal_heads \
             was altered, so per-stream findings may be incomplete",
            seal.position
        ),
    )
}

/// The digest of the heads stored for `seal` (its own and earlier seals' latest row per
/// stream), which must be the seal's digest.
async fn stored_heads_digest(
    connection: &mut PgConnection,
    seal: &Seal,
) -> Result<String, sqlx::Error> {
    stored_heads_digest_of(connection, seal, &StreamRange::default(), true).await
}

/// The digest of the heads stored for `seal` among the streams of `range`, in the seal text's
/// order (UTF-8 bytes) or in the database's order of streams.
async fn stored_heads_digest_of(
    connection: &mut PgConnection,
    seal: &Seal,
    range: &StreamRange,
    seal_text_order: bool,
) -> Result<String, sqlx::Error> {
    let latest_per_stream = format!(
        "SELECT DISTINCT ON (aggregate_type, aggregate_id) \
                aggregate_type, aggregate_id, sequence, hash \
         FROM seal_heads WHERE seal_id <= $1 AND {} \
         ORDER BY aggregate_type, aggregate_id, seal_id DESC",
        range.condition(2)
    );
    let sql = if seal_text_order {
        format!(
            "SELECT * FROM ({latest_per_stream}) AS sealed \
             ORDER BY aggregate_type COLLATE \"C\", aggregate_id COLLATE \"C\""
        )
    } else {
        latest_per_stream
    };
    let mut digest = SealDigest::new(seal.position);
    let mut rows = range
        .bind(sqlx::query(&sql).bind(seal.seal_id))
        .fetch(&mut *connection);
    while let Some(row) = rows.try_next().await? {
        let aggregate_type: &str = row.try_get(0)?;
        let aggregate_id: &str = row.try_get(1)?;
        let sequence: i64 = row.try_get(2)?;
        let hash: &str = row.try_get(3)?;
        digest.push(aggregate_type, aggregate_id, sequence, hash);
    }
    Ok(hex::encode(digest.finish()))
}

/// What a read of the whole log found that the seal check can use.
#[derive(Debug, Clone, Copy)]
pub struct Scanned {
    /// Whether every stream's head at the latest seal's position, as the read found it, is
    /// exactly the head stored for that seal (compared range by range, [`HeadsAtSeal`] against
    /// [`stored_heads_digest_in`]).
    pub heads_as_stored: bool,
    /// Whether every stream's chain verified.
    pub chains_intact: bool,
}

/// The digest of the heads stored for `seal` among the streams of `range`, taken in the
/// database's order of streams, as [`HeadsAtSeal`] takes them from a read of the same range:
/// the two are equal exactly when the range's heads are those stored.
pub async fn stored_heads_digest_in(
    connection: &mut PgConnection,
    seal: &Seal,
    range: &StreamRange,
) -> Result<String, sqlx::Error> {
    stored_heads_digest_of(connection, seal, range, false).await
}

/// Follows a read of streams in `(aggregate_type, aggregate_id, sequence)` order and computes,
/// on the way, the digest of every stream's head at a seal's position, in the order the
/// streams came: compared with [`stored_heads_digest_in`] for the same range, it tells whether
/// the heads are those stored without keeping them.
#[derive(Debug)]
pub struct HeadsAtSeal {
    position: i64,
    digest: SealDigest,
    stream: Option<(String, String)>,
    head: Option<(i64, String)>,
}

impl HeadsAtSeal {
    /// Computes the heads at `position`.
    pub fn new(position: i64) -> HeadsAtSeal {
        HeadsAtSeal {
            position,
            digest: SealDigest::new(position),
            stream: None,
            head: None,
        }
    }

    /// Takes the next event read.
    pub fn see(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
        global_position: i64,
        hash: &str,
    ) {
        let same = self
            .stream
            .as_ref()
            .is_some_and(|(t, i)| t == aggregate_type && i == aggregate_id);
        if !same {
            self.push_head();
            match self.stream.as_mut() {
                Some((t, i)) => {
                    t.clear();
                    t.push_str(aggregate_type);
                    i.clear();
                    i.push_str(aggregate_id);
                }
                None => self.stream = Some((aggregate_type.to_owned(), aggregate_id.to_owned())),
            }
        }
        if global_position <= self.position {
            match self.head.as_mut() {
                Some((head_sequence, head_hash)) => {
                    *head_sequence = sequence;
                    head_hash.clear();
                    head_hash.push_str(hash);
                }
                None => self.head = Some((sequence, hash.to_owned())),
            }
        }
    }

    fn push_head(&mut self) {
        if let (Some((t, i)), Some((sequence, hash))) = (&self.stream, self.head.take()) {
            self.digest.push(t, i, sequence, &hash);
        }
    }

    /// The digest of the heads seen, in lower-case hex.
    pub fn finish(mut self) -> String {
        self.push_head();
        hex::encode(self.digest.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_digest(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }

    #[test]
    fn the_digest_hashes_the_documented_text() {
        let mut digest = SealDigest::new(42);
        digest.push("Beneficiary", "b-1", 7, "aa");
        digest.push("Programme", "AMUDDU", 3, "bb");
        assert_eq!(digest.streams(), 2);
        let expected = "[\"masar-seal\",1,42]\n[\"Beneficiary\",\"b-1\",7,\"aa\"]\n\
                        [\"Programme\",\"AMUDDU\",3,\"bb\"]\n";
        assert_eq!(digest.finish(), text_digest(expected));
    }

    #[test]
    fn a_signature_verifies_only_for_its_digest_and_key() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let digest = SealDigest::new(1).finish();
        let mut seal = Seal {
            seal_id: 1,
            position: 1,
            streams: 1,
            digest: hex::encode(digest),
            signature: hex::encode(key.sign(&digest).to_bytes()),
            public_key: public_key_hex(&key.verifying_key()),
            sealed_at: DateTime::UNIX_EPOCH,
        };
        assert!(seal.signature_valid());
        seal.digest = hex::encode(SealDigest::new(2).finish());
        assert!(!seal.signature_valid());
        seal.digest = hex::encode(digest);
        seal.public_key = public_key_hex(&SigningKey::from_bytes(&[8u8; 32]).verifying_key());
        assert!(!seal.signature_valid());
        seal.public_key = "not hex".into();
        assert!(!seal.signature_valid());
    }

    #[test]
    fn heads_followed_in_order_give_the_digest_of_the_heads_at_the_position() {
        let mut heads = HeadsAtSeal::new(10);
        // (type, id, sequence, position, hash), in stream order.
        for (t, i, sequence, position, hash) in [
            ("Beneficiary", "a", 1, 1, "a1"),
            ("Beneficiary", "a", 2, 12, "a2"),
            ("Beneficiary", "b", 1, 11, "b1"),
            ("Beneficiary", "c", 1, 3, "c1"),
            ("Beneficiary", "c", 2, 4, "c2"),
            ("Programme", "P", 1, 2, "p1"),
        ] {
            heads.see(t, i, sequence, position, hash);
        }
        let mut expected = SealDigest::new(10);
        expected.push("Beneficiary", "a", 1, "a1");
        expected.push("Beneficiary", "c", 2, "c2");
        expected.push("Programme", "P", 1, "p1");
        assert_eq!(heads.finish(), hex::encode(expected.finish()));
    }

    #[test]
    fn public_keys_parse_from_hex_only() {
        let key = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        assert_eq!(parse_public_key(&public_key_hex(&key)), Ok(key));
        assert!(parse_public_key("abc").is_err());
    }
}

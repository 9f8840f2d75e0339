//! Verification benchmark: the work of `masar verify` (every stream's hash chain recomputed
//! from the stored rows, and the latest seal checked against the events) over a log of
//! `MASAR_BENCH_VERIFY_EVENTS` events (default 1,000,000), against the baseline of streaming
//! the same rows out of PostgreSQL in the same order, each column read, doing nothing else.
//!
//! (b) reads the log in as many ranges of streams at once as `masar verify` does on this
//! machine ([`default_readers`]), (d) in one; both compare the heads at the latest seal with
//! those stored during their read. (c) times the seal check alone when it reads the heads
//! itself (the latest seal's heads recomputed from the events, every sealed head looked up).
//!
//! Run with `cargo bench -p masar --bench verify`. The log (streams of ten events each,
//! interleaved as real journeys are) is written with COPY, its hashes computed here by the
//! documented encoding, on a fresh database of the test cluster (or of `DATABASE_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::TryStreamExt;
use masar_projections::copy::CopyWriter;
use masar_projections::event_log::{self, StoredEvent};
use masar_projections::seal::{self, SealOutcome, SigningKey};
use masar_projections::testing::fresh_database;
use masar_projections::verify::{default_readers, verify_log_with};
use serde_json::json;
use sqlx::{PgPool, Row};
use uuid::Uuid;

const EVENTS_PER_STREAM: usize = 10;
const RUNS: usize = 2;

/// The columns the benchmark writes (the position and transaction are left to their defaults).
const COLUMNS: &str = "aggregate_type, aggregate_id, sequence, event_type, event_version, \
    payload, metadata, recorded_at, previous_hash, hash";

#[tokio::main]
async fn main() {
    let events: usize = std::env::var("MASAR_BENCH_VERIFY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let streams = events.div_ceil(EVENTS_PER_STREAM);
    let db = fresh_database().await;
    let started = Instant::now();
    generate(&db.pool, streams).await;
    println!(
        "wrote {} events in {streams} streams in {:.1} s",
        streams * EVENTS_PER_STREAM,
        started.elapsed().as_secs_f64()
    );
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let started = Instant::now();
    let SealOutcome::Sealed(sealed) = seal::seal(&db.pool, &key).await.unwrap() else {
        panic!("nothing sealed")
    };
    println!(
        "sealed {} streams up to position {} in {:.1} s",
        sealed.streams,
        sealed.position,
        started.elapsed().as_secs_f64()
    );

    let mut baseline = Vec::new();
    let mut verify = Vec::new();
    let mut one_range = Vec::new();
    let mut seal_check = Vec::new();
    for run in 1..=RUNS {
        let (count, seconds) = stream_rows(&db.pool).await;
        baseline.push(count as f64 / seconds);
        println!("run {run}: (a) stream: {count} rows in {seconds:.2} s");
        for (readers, rates, label) in [
            (default_readers(&db.pool), &mut verify, "b"),
            (1, &mut one_range, "d"),
        ] {
            let started = Instant::now();
            let report = verify_log_with(&db.pool, Some(&key.verifying_key()), readers, &|_| {})
                .await
                .unwrap();
            let seconds = started.elapsed().as_secs_f64();
            assert!(report.ok(), "{:?}", report.problems.first());
            assert_eq!(report.latest_seal.as_ref(), Some(&sealed));
            rates.push(report.events_checked as f64 / seconds);
            println!(
                "run {run}: ({label}) verify in {readers} range(s): {} events in {} streams, \
                 seal checked, in {seconds:.2} s",
                report.events_checked, report.streams_checked
            );
        }
        let started = Instant::now();
        let mut tx = db.pool.begin().await.unwrap();
        let check = seal::check(&mut tx, Some(&key.verifying_key()), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert!(check.problems.is_empty());
        seal_check.push(seconds);
        println!("run {run}: (c) of which the seal check alone: {seconds:.2} s");
    }
    let best = |rates: &[f64]| rates.iter().copied().fold(0.0, f64::max);
    let (a, b, d) = (best(&baseline), best(&verify), best(&one_range));
    println!();
    let c = seal_check.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "| (a) stream events/s | (b) verify events/s, {} range(s) | b/a | (d) verify events/s, \
         one range | d/a | (c) seal check s |",
        default_readers(&db.pool)
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {a:.0} | {b:.0} | {:.2} | {d:.0} | {:.2} | {c:.2} |",
        b / a,
        d / a
    );
}

/// Streams every row in the order verification reads them, reading each column (the JSON
/// ones as text, as verification does) and doing nothing else.
async fn stream_rows(pool: &PgPool) -> (u64, f64) {
    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut rows = sqlx::query(
        "SELECT global_position, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload::text, metadata::text, recorded_at, previous_hash, hash \
         FROM events ORDER BY aggregate_type, aggregate_id, sequence",
    )
    .fetch(&mut *tx);
    let mut count = 0u64;
    let mut bytes = 0usize;
    while let Some(row) = rows.try_next().await.unwrap() {
        let sequence: i64 = row.try_get(3).unwrap();
        let _: i64 = row.try_get(0).unwrap();
        let _: DateTime<Utc> = row.try_get(8).unwrap();
        let _: Option<&str> = row.try_get(9).unwrap();
        for column in [1, 2, 4, 5, 6, 7, 10] {
            let text: &str = row.try_get(column).unwrap();
            bytes += text.len();
        }
        count += u64::from(sequence > 0);
    }
    assert!(bytes > 0);
    drop(rows);
    tx.commit().await.unwrap();
    (count, started.elapsed().as_secs_f64())
}

/// Writes `streams` beneficiary streams of ten events, interleaved (every stream's first
/// event, then every stream's second, …), with their hash chains.
async fn generate(pool: &PgPool, streams: usize) {
    let mut connection = pool.acquire().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_chain")
        .execute(&mut *connection)
        .await
        .unwrap();
    let ids: Vec<String> = (0..streams).map(|_| Uuid::new_v4().to_string()).collect();
    let mut previous: Vec<Option<String>> = vec![None; streams];
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0).unwrap();
    let topics = [
        "droits du travail",
        "santé",
        "logement",
        "emploi",
        "français",
    ];
    let mut copy = CopyWriter::new();
    for sequence in 1..=EVENTS_PER_STREAM {
        for (index, id) in ids.iter().enumerate() {
            let event_id = Uuid::new_v4();
            let occurred = start + Duration::days((index % 700 + sequence) as i64);
            let event = StoredEvent {
                global_position: 0,
                aggregate_type: "Beneficiary".into(),
                aggregate_id: id.clone(),
                sequence: sequence as i64,
                event_type: "Sensitised".into(),
                event_version: "1.0".into(),
                payload: json!({
                    "event_id": event_id,
                    "fact": {"Sensitised": {
                        "topic": topics[(index + sequence) % topics.len()],
                        "session_id": null, "location": "Rabat"}},
                    "occurred_at": occurred.to_rfc3339(),
                    "recorded_by": "REMESS",
                }),
                metadata: json!({
                    "event_id": event_id,
                    "occurred_at": occurred.to_rfc3339(),
                    "organisation": "REMESS",
                }),
                recorded_at: occurred + Duration::microseconds(123_456),
                previous_hash: previous[index].take(),
                hash: String::new(),
            };
            let hash = event.recomputed_hash();
            copy.text(&event.aggregate_type);
            copy.text(&event.aggregate_id);
            copy.display(event.sequence);
            copy.text(&event.event_type);
            copy.text(&event.event_version);
            copy.text(&event.payload.to_string());
            copy.text(&event.metadata.to_string());
            copy.text(&event_log::format_recorded_at(event.recorded_at));
            copy.opt_text(event.previous_hash.as_deref());
            copy.text(&hash);
            copy.end_row();
            previous[index] = Some(hash);
            if copy.len() >= 8 << 20 {
                copy.send(&mut connection, "events", COLUMNS).await.unwrap();
            }
        }
    }
    copy.send(&mut connection, "events", COLUMNS).await.unwrap();
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_chain")
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("ANALYZE events")
        .execute(&mut *connection)
        .await
        .unwrap();
}

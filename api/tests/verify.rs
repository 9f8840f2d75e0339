//! Verifying the event log on real PostgreSQL: a clean log verifies, and each change made to
//! the database behind the application's back is found at the right stream and sequence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_graphql::Request;
use common::{identified, org, record, sensitised, set_up};
use masar::auth::{Principal, TokenStore};
use masar::graphql::{build_schema, ApiContext, SchemaOptions};
use masar::notices::NoticeHub;
use masar::write::WriteSide;
use masar_domain::ids::BeneficiaryId;
use masar_domain::values::Role;
use masar_projections::testing::{fresh_database, TestDatabase};
use masar_projections::verify::{verify_log, IntegrityReport, ProblemKind};
use sqlx::PgPool;
use uuid::Uuid;

/// A log with the set-up streams and two beneficiaries of four events each; returns the
/// beneficiary whose stream the tests tamper with, and the other one.
async fn world() -> (TestDatabase, WriteSide, BeneficiaryId, BeneficiaryId) {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let target = BeneficiaryId::new(Uuid::new_v4());
    let other = BeneficiaryId::new(Uuid::new_v4());
    for id in [target, other] {
        record(&write, id, 0, identified()).await;
        for (days, topic) in [(1, "droits"), (2, "santé"), (3, "emploi")] {
            record(&write, id, days, sensitised(topic)).await;
        }
    }
    (db, write, target, other)
}

/// Runs `statements` with the log's user triggers disabled (append-only and chain), as
/// someone with direct access to the database could.
async fn tamper(pool: &PgPool, statements: &[&str]) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    for statement in statements {
        let done = sqlx::query(statement).execute(&mut *tx).await.unwrap();
        assert!(done.rows_affected() > 0, "{statement}");
    }
    sqlx::query("ALTER TABLE events ENABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn verify(pool: &PgPool) -> IntegrityReport {
    verify_log(pool, &|_| {}).await.unwrap()
}

/// The problems as (stream, sequence, kind), checking that each names a Beneficiary stream.
fn located(report: &IntegrityReport) -> Vec<(String, i64, ProblemKind)> {
    report
        .problems
        .iter()
        .map(|p| {
            assert_eq!(p.aggregate_type, "Beneficiary");
            assert!(p.detail.contains(&p.aggregate_id), "{}", p.detail);
            (p.aggregate_id.clone(), p.sequence.unwrap(), p.kind)
        })
        .collect()
}

fn on(stream: BeneficiaryId, sequence: i64, kind: ProblemKind) -> (String, i64, ProblemKind) {
    (stream.to_string(), sequence, kind)
}

#[tokio::test]
async fn a_clean_log_verifies_and_progress_reaches_the_total() {
    let (db, _write, _, _) = world().await;
    let (events, streams, head): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (aggregate_type, aggregate_id)), max(global_position) \
         FROM events",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let last = AtomicU64::new(0);
    let total = AtomicU64::new(0);
    let report = verify_log(&db.pool, &|p| {
        last.store(p.checked, Ordering::SeqCst);
        total.store(p.total, Ordering::SeqCst);
    })
    .await
    .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events_checked, events as u64);
    assert_eq!(report.streams_checked, streams as u64);
    assert_eq!(report.head, head);
    assert_eq!(last.load(Ordering::SeqCst), events as u64);
    assert_eq!(total.load(Ordering::SeqCst), events as u64);
}

#[tokio::test]
async fn an_empty_log_verifies() {
    let db = fresh_database().await;
    let report = verify(&db.pool).await;
    assert!(report.ok());
    assert_eq!(
        (report.events_checked, report.streams_checked, report.head),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn an_edited_payload_is_a_hash_mismatch_at_its_sequence() {
    let (db, _write, target, _) = world().await;
    let sql = format!(
        "UPDATE events SET payload = (payload::jsonb || '{{\"recorded_by\": \"OTHER\"}}')::json \
         WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{target}' AND sequence = 3"
    );
    tamper(&db.pool, &[&sql]).await;
    let report = verify(&db.pool).await;
    assert!(!report.ok());
    assert_eq!(
        located(&report),
        vec![on(target, 3, ProblemKind::HashMismatch)]
    );
}

#[tokio::test]
async fn an_event_deleted_from_the_middle_is_a_gap_at_its_sequence() {
    let (db, _write, target, _) = world().await;
    let sql = format!(
        "DELETE FROM events \
         WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{target}' AND sequence = 2"
    );
    tamper(&db.pool, &[&sql]).await;
    let report = verify(&db.pool).await;
    assert_eq!(
        located(&report),
        vec![on(target, 2, ProblemKind::SequenceGap)]
    );
    assert!(report.problems[0].detail.contains("event 2 is missing"));
}

#[tokio::test]
async fn two_swapped_events_are_found_at_their_sequences() {
    let (db, _write, target, _) = world().await;
    let stream = format!("aggregate_type = 'Beneficiary' AND aggregate_id = '{target}'");
    tamper(
        &db.pool,
        &[
            &format!("UPDATE events SET sequence = 1000 WHERE {stream} AND sequence = 2"),
            &format!("UPDATE events SET sequence = 2 WHERE {stream} AND sequence = 3"),
            &format!("UPDATE events SET sequence = 3 WHERE {stream} AND sequence = 1000"),
        ],
    )
    .await;
    let report = verify(&db.pool).await;
    // Both moved events fail their hash and their link; the event after them links to the
    // hash of the event that is no longer before it.
    assert_eq!(
        located(&report),
        vec![
            on(target, 2, ProblemKind::BrokenLink),
            on(target, 2, ProblemKind::HashMismatch),
            on(target, 3, ProblemKind::BrokenLink),
            on(target, 3, ProblemKind::HashMismatch),
            on(target, 4, ProblemKind::BrokenLink),
        ]
    );
}

#[tokio::test]
async fn a_changed_recorded_at_is_a_hash_mismatch_at_its_sequence() {
    let (db, _write, target, other) = world().await;
    let sql = format!(
        "UPDATE events SET recorded_at = recorded_at - interval '1 day' \
         WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{other}' AND sequence = 2"
    );
    tamper(&db.pool, &[&sql]).await;
    let report = verify(&db.pool).await;
    assert_eq!(
        located(&report),
        vec![on(other, 2, ProblemKind::HashMismatch)]
    );
    assert!(located(&report).iter().all(|p| p.0 != target.to_string()));
}

#[tokio::test]
async fn verify_integrity_answers_the_report_over_graphql() {
    let (db, write, target, _) = world().await;
    let schema = build_schema(
        ApiContext {
            write,
            tokens: TokenStore::new(db.pool.clone()),
            vault: None,
            notices: NoticeHub::start(db.pool.clone()),
        },
        SchemaOptions::default(),
    );
    let query = "{ verifyIntegrity { ok eventsChecked streamsChecked head latestSeal { digest } \
                 problems { aggregateId sequence kind detail } } }";
    let ask = |role: Role| {
        let schema = schema.clone();
        async move {
            let principal = Principal {
                token_id: Uuid::new_v4(),
                organisation: org("ENABEL"),
                role,
            };
            schema
                .execute(Request::new(query).data(principal))
                .await
                .into_result()
                .map(|r| r.data.into_json().unwrap())
        }
    };
    let clean = ask(Role::Auditor).await.unwrap();
    assert_eq!(clean["verifyIntegrity"]["ok"], true);
    assert_eq!(
        clean["verifyIntegrity"]["latestSeal"],
        serde_json::Value::Null
    );
    assert!(ask(Role::Partner).await.is_err());

    let sql = format!(
        "UPDATE events SET payload = (payload::jsonb || '{{\"x\": 1}}')::json \
         WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{target}' AND sequence = 4"
    );
    tamper(&db.pool, &[&sql]).await;
    let tampered = ask(Role::Admin).await.unwrap();
    let report = &tampered["verifyIntegrity"];
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"][0]["aggregateId"], target.to_string());
    assert_eq!(report["problems"][0]["sequence"], 4);
    assert_eq!(report["problems"][0]["kind"], "HASH_MISMATCH");
}

/// Rate on a log of 100,000 events (10,000 streams of 10), written by the database's own
/// chain trigger. Run with `cargo test -p masar --test verify -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "measurement: slow"]
async fn rate_on_a_hundred_thousand_events() {
    let db = fresh_database().await;
    fill(&db.pool, 10_000, 10).await;
    let started = Instant::now();
    let report = verify(&db.pool).await;
    let seconds = started.elapsed().as_secs_f64();
    assert!(report.ok());
    assert_eq!(report.events_checked, 100_000);
    println!(
        "verified {} events in {} streams in {seconds:.2} s: {:.0} events/s",
        report.events_checked,
        report.streams_checked,
        report.events_checked as f64 / seconds
    );
}

/// Appends `length` events to each of `streams` synthetic beneficiary streams.
async fn fill(pool: &PgPool, streams: i64, length: i64) {
    for sequence in 1..=length {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) \
             SELECT 'Beneficiary', 'bench-' || n, $1, 'Sensitised', '1.0', \
                    json_build_object('event_id', id, 'fact', json_build_object('Sensitised', \
                        json_build_object('topic', 'droits du travail', 'session_id', null)), \
                        'occurred_at', '2024-03-01T09:00:00Z', 'recorded_by', 'REMESS'), \
                    json_build_object('event_id', id, 'occurred_at', '2024-03-01T09:00:00Z', \
                        'organisation', 'REMESS') \
             FROM (SELECT n, gen_random_uuid() AS id FROM generate_series(1, $2) AS n) AS s",
        )
        .bind(sequence)
        .bind(streams)
        .execute(pool)
        .await
        .unwrap();
    }
}

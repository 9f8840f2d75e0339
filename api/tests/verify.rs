//! Verifying the event log on real PostgreSQL: a clean log verifies, and each change made to
//! the database behind the application's back is found at the right stream and sequence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_graphql::Request;
use common::{identified, org, record, sensitised, set_up};
use ed25519_dalek::Signer;
use masar::auth::{Principal, TokenStore};
use masar::graphql::{build_schema, ApiContext, SchemaOptions};
use masar::notices::NoticeHub;
use masar::write::WriteSide;
use masar_domain::ids::BeneficiaryId;
use masar_domain::values::Role;
use masar_projections::seal::{self, Seal, SealOutcome, SigningKey, VerifyingKey};
use masar_projections::testing::{fresh_database, TestDatabase};
use masar_projections::verify::{
    stream_ranges, verify_log, verify_log_with, IntegrityReport, ProblemKind,
};
use sqlx::{PgPool, Row};
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
    verify_in_one_and_in_several_ranges(pool, None).await
}

/// The report of a read of the whole log in one range, checked to be the same as that of a read
/// in three ranges of streams at once.
async fn verify_in_one_and_in_several_ranges(
    pool: &PgPool,
    trusted: Option<&VerifyingKey>,
) -> IntegrityReport {
    let whole = verify_log_with(pool, trusted, 1, &|_| {}).await.unwrap();
    let in_ranges = verify_log_with(pool, trusted, 3, &|_| {}).await.unwrap();
    assert_eq!(in_ranges, whole);
    whole
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
    let report = verify_log(&db.pool, None, &|p| {
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

    // Read in ranges, the log is split at streams' starts, into ranges that follow each other.
    let mut connection = db.pool.acquire().await.unwrap();
    let ranges = stream_ranges(&mut connection, 3).await.unwrap();
    assert!((2..=3).contains(&ranges.len()), "{ranges:?}");
    assert_eq!(
        (&ranges[0].from, &ranges[ranges.len() - 1].to),
        (&None, &None)
    );
    for pair in ranges.windows(2) {
        assert!(
            pair[0].to.is_some() && pair[0].to == pair[1].from,
            "{ranges:?}"
        );
    }
    let mut counted = 0;
    for range in &ranges {
        let sql = format!("SELECT count(*) FROM events WHERE {}", range.condition(1));
        let count: i64 = range
            .bind(sqlx::query(&sql))
            .fetch_one(&mut *connection)
            .await
            .unwrap()
            .get(0);
        assert!(count > 0, "{range:?}");
        counted += count;
    }
    assert_eq!(counted, events);
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
            indicator_updates: masar::indicator_updates::UpdateHub::start(db.pool.clone()),
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
    let refused = ask(Role::Partner).await.unwrap_err();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0]
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code")),
        Some(&async_graphql::Value::from("FORBIDDEN")),
        "{refused:?}"
    );

    let sealed = seal_now(&db.pool).await;
    let clean = ask(Role::Auditor).await.unwrap();
    assert_eq!(clean["verifyIntegrity"]["ok"], true);
    assert_eq!(
        clean["verifyIntegrity"]["latestSeal"]["digest"],
        sealed.digest.as_str()
    );

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

// ------------------------------------------------------------------------------ seals

fn seal_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

async fn seal_now(pool: &PgPool) -> Seal {
    match seal::seal(pool, &seal_key()).await.unwrap() {
        SealOutcome::Sealed(seal) => seal,
        other => panic!("expected a new seal, got {other:?}"),
    }
}

async fn verify_trusting(pool: &PgPool) -> IntegrityReport {
    verify_in_one_and_in_several_ranges(pool, Some(&seal_key().verifying_key())).await
}

/// The problems located in a stream, as (stream, sequence, kind); and the kinds of the
/// problems of the log or of a seal as a whole.
fn split(report: &IntegrityReport) -> (Vec<(String, i64, ProblemKind)>, Vec<ProblemKind>) {
    let (streams, whole): (Vec<_>, Vec<_>) = report
        .problems
        .iter()
        .partition(|p| !p.aggregate_id.is_empty());
    (
        streams
            .iter()
            .map(|p| {
                assert!(p.detail.contains(&p.aggregate_id), "{}", p.detail);
                (p.aggregate_id.clone(), p.sequence.unwrap(), p.kind)
            })
            .collect(),
        whole.iter().map(|p| p.kind).collect(),
    )
}

#[tokio::test]
async fn a_seal_is_signed_checked_and_reported_and_a_second_stores_only_changed_heads() {
    let (db, write, target, _) = world().await;
    assert!(verify(&db.pool).await.latest_seal.is_none());
    let first = seal_now(&db.pool).await;
    let streams: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT (aggregate_type, aggregate_id)) FROM events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(first.streams, streams);
    assert!(first.signature_valid());
    assert_eq!(
        first.public_key,
        seal::public_key_hex(&seal_key().verifying_key())
    );
    // Nothing new: no second seal.
    assert!(matches!(
        seal::seal(&db.pool, &seal_key()).await.unwrap(),
        SealOutcome::UpToDate(ref s) if *s == first
    ));

    record(&write, target, 9, sensitised("logement")).await;
    let second = seal_now(&db.pool).await;
    assert!(second.position > first.position);
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT seal_id, count(*) FROM seal_heads GROUP BY seal_id ORDER BY seal_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows, vec![(first.seal_id, streams), (second.seal_id, 1)]);

    let report = verify_trusting(&db.pool).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.latest_seal, Some(second));
    assert_eq!(report.seals_checked, 2);
    assert!(report.seal_key_trusted);
}

#[tokio::test]
async fn an_empty_log_has_nothing_to_seal() {
    let db = fresh_database().await;
    assert_eq!(
        seal::seal(&db.pool, &seal_key()).await.unwrap(),
        SealOutcome::EmptyLog
    );
}

#[tokio::test]
async fn the_last_events_of_a_stream_deleted_after_a_seal_are_found() {
    let (db, _write, target, _) = world().await;
    seal_now(&db.pool).await;
    let sql = format!(
        "DELETE FROM events \
         WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{target}' AND sequence >= 3"
    );
    tamper(&db.pool, &[&sql]).await;
    let report = verify_trusting(&db.pool).await;
    // The chain alone sees nothing: what is left of the stream links up.
    let (streams, whole) = split(&report);
    assert_eq!(
        streams,
        vec![on(target, 3, ProblemKind::SealedEventsMissing)]
    );
    assert_eq!(whole, vec![ProblemKind::SealDigestMismatch]);
    assert!(report.problems[0]
        .detail
        .contains("events 3 to 4 are missing"));
    // And the log is not sealed again over the loss.
    assert!(matches!(
        seal::seal(&db.pool, &seal_key()).await,
        Err(seal::SealError::LogDoesNotMatch(_))
    ));
}

#[tokio::test]
async fn a_whole_stream_deleted_after_a_seal_is_found() {
    let (db, _write, target, other) = world().await;
    seal_now(&db.pool).await;
    let sql = format!(
        "DELETE FROM events WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{target}'"
    );
    tamper(&db.pool, &[&sql]).await;
    let report = verify_trusting(&db.pool).await;
    let (streams, whole) = split(&report);
    assert_eq!(
        streams,
        vec![on(target, 1, ProblemKind::SealedStreamMissing)]
    );
    assert_eq!(whole, vec![ProblemKind::SealDigestMismatch]);
    assert!(streams.iter().all(|p| p.0 != other.to_string()));
}

/// Statements that edit event `from` of `target`'s stream and recompute the links and hashes of
/// events `from` to `to`, as someone covering their tracks would.
fn rewrite(target: BeneficiaryId, from: i64, to: i64) -> Vec<String> {
    let mut statements = vec![format!(
        "UPDATE events SET payload = (payload::jsonb || '{{\"recorded_by\": \"OTHER\"}}')::json \
         WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{target}' AND sequence = {from}"
    )];
    for sequence in from..=to {
        statements.push(format!(
            "UPDATE events e SET previous_hash = p.hash, \
               hash = masar_event_hash(p.hash, e.aggregate_type, e.aggregate_id, e.sequence, \
                 e.event_type, e.event_version, e.payload::jsonb, e.metadata::jsonb, \
                 e.recorded_at) \
             FROM events p WHERE e.aggregate_type = 'Beneficiary' \
               AND e.aggregate_id = '{target}' AND e.sequence = {sequence} \
               AND p.aggregate_type = e.aggregate_type AND p.aggregate_id = e.aggregate_id \
               AND p.sequence = e.sequence - 1"
        ));
    }
    statements
}

#[tokio::test]
async fn a_stream_rewritten_with_recomputed_hashes_after_a_seal_is_found() {
    let (db, _write, target, _) = world().await;
    seal_now(&db.pool).await;
    let statements = rewrite(target, 2, 4);
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    tamper(&db.pool, &statements).await;
    let report = verify_trusting(&db.pool).await;
    let (streams, whole) = split(&report);
    // Every link and hash is consistent again: only the seal tells.
    assert_eq!(
        streams,
        vec![on(target, 4, ProblemKind::SealedHashMismatch)]
    );
    assert_eq!(whole, vec![ProblemKind::SealDigestMismatch]);
    assert!(
        report.problems[0]
            .detail
            .contains("rewritten at or before event 4"),
        "{}",
        report.problems[0].detail
    );
}

#[tokio::test]
async fn a_rewrite_is_located_between_two_seals() {
    let (db, write, target, _) = world().await;
    seal_now(&db.pool).await;
    record(&write, target, 9, sensitised("logement")).await;
    record(&write, target, 10, sensitised("santé")).await;
    seal_now(&db.pool).await;
    let statements = rewrite(target, 5, 6);
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    tamper(&db.pool, &statements).await;
    let report = verify_trusting(&db.pool).await;
    let (streams, _) = split(&report);
    assert_eq!(
        streams,
        vec![on(target, 6, ProblemKind::SealedHashMismatch)]
    );
    assert!(
        report.problems[0]
            .detail
            .contains("after event 4 and at or before event 6"),
        "{}",
        report.problems[0].detail
    );
}

#[tokio::test]
async fn the_log_tail_cut_after_a_seal_is_found() {
    let (db, _write, target, other) = world().await;
    seal_now(&db.pool).await;
    // The last three events of the log: the other beneficiary's last three.
    tamper(
        &db.pool,
        &["DELETE FROM events WHERE global_position > (SELECT max(global_position) - 3 FROM events)"],
    )
    .await;
    let report = verify_trusting(&db.pool).await;
    let (streams, whole) = split(&report);
    assert_eq!(
        streams,
        vec![on(other, 2, ProblemKind::SealedEventsMissing)]
    );
    assert!(streams.iter().all(|p| p.0 != target.to_string()));
    assert_eq!(
        whole,
        vec![ProblemKind::LogTruncated, ProblemKind::SealDigestMismatch]
    );
}

#[tokio::test]
async fn an_event_slipped_in_below_a_seal_is_found() {
    let (db, _write, _, _) = world().await;
    let sealed = seal_now(&db.pool).await;
    let intruder = Uuid::new_v4();
    tamper(
        &db.pool,
        &[&format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
               event_version, payload, metadata, global_position, hash) \
             OVERRIDING SYSTEM VALUE \
             VALUES ('Beneficiary', '{intruder}', 1, 'Sensitised', '1.0', '{{}}', \
               '{{\"event_id\": \"{intruder}\"}}', {}, '') ",
            sealed.position - 100_000
        )],
    )
    .await;
    sqlx::query(
        "UPDATE events SET hash = masar_event_hash(NULL, aggregate_type, aggregate_id, sequence, \
           event_type, event_version, payload::jsonb, metadata::jsonb, recorded_at) \
         WHERE hash = ''",
    )
    .execute(&db.pool)
    .await
    .unwrap_err(); // append-only: rehash with the triggers off
    tamper(
        &db.pool,
        &[
            "UPDATE events SET hash = masar_event_hash(NULL, aggregate_type, aggregate_id, \
             sequence, event_type, event_version, payload::jsonb, metadata::jsonb, recorded_at) \
           WHERE hash = ''",
        ],
    )
    .await;
    let report = verify_trusting(&db.pool).await;
    let (streams, whole) = split(&report);
    assert_eq!(
        streams,
        vec![(intruder.to_string(), 1, ProblemKind::UnsealedEvent)]
    );
    assert_eq!(whole, vec![ProblemKind::SealDigestMismatch]);
}

/// Runs `statements` with the seal tables' append-only triggers disabled.
async fn tamper_seals(pool: &PgPool, statements: &[&str]) {
    let mut tx = pool.begin().await.unwrap();
    for table in ["seals", "seal_heads"] {
        sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for statement in statements {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    for table in ["seals", "seal_heads"] {
        sqlx::query(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_forged_or_foreign_seal_is_found() {
    let (db, _write, _, _) = world().await;
    let sealed = seal_now(&db.pool).await;
    // Seals cannot be changed through the application's tables' rules.
    let refused = sqlx::query("DELETE FROM seals")
        .execute(&db.pool)
        .await
        .unwrap_err();
    let refused = refused.as_database_error().unwrap();
    assert_eq!(refused.code().as_deref(), Some("42501"), "{refused}");
    assert_eq!(
        refused.message(),
        "seals are append-only: DELETE is not allowed on seals"
    );

    // The signature altered.
    let mut forged = sealed.signature.clone().into_bytes();
    forged[0] = if forged[0] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    tamper_seals(
        &db.pool,
        &[&format!("UPDATE seals SET signature = '{forged}'")],
    )
    .await;
    let (_, whole) = split(&verify_trusting(&db.pool).await);
    assert_eq!(whole, vec![ProblemKind::SealSignatureInvalid]);

    // Re-signed by someone else's key: valid, but not the trusted key.
    let intruder = SigningKey::from_bytes(&[7u8; 32]);
    let digest = hex::decode(&sealed.digest).unwrap();
    let signature = hex::encode(intruder.sign(&digest).to_bytes());
    let public = seal::public_key_hex(&intruder.verifying_key());
    tamper_seals(
        &db.pool,
        &[&format!(
            "UPDATE seals SET signature = '{signature}', public_key = '{public}'"
        )],
    )
    .await;
    let (_, whole) = split(&verify_trusting(&db.pool).await);
    assert_eq!(whole, vec![ProblemKind::SealKeyUntrusted]);
    // Without a trusted key, the report says the key was not checked.
    let report = verify(&db.pool).await;
    assert!(report.ok());
    assert!(!report.seal_key_trusted);
}

/// Rate on a log of 100,000 events (10,000 streams of 10), written by the database's own
/// chain trigger. Run with `cargo test -p masar --test verify -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "measurement: slow"]
async fn rate_on_a_hundred_thousand_events() {
    let db = fresh_database().await;
    fill(&db.pool, 10_000, 10).await;
    let started = Instant::now();
    let report = verify_log(&db.pool, None, &|_| {}).await.unwrap();
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

#[tokio::test]
async fn altered_stored_heads_are_found_even_when_the_events_match_the_seal() {
    let (db, _write, target, _) = world().await;
    seal_now(&db.pool).await;
    tamper_seals(
        &db.pool,
        &[&format!(
            "UPDATE seal_heads SET hash = repeat('0', 64) WHERE aggregate_id = '{target}'"
        )],
    )
    .await;
    let report = verify_trusting(&db.pool).await;
    let (streams, whole) = split(&report);
    // The stored head no longer matches the event, and no longer gives the signed digest.
    assert_eq!(
        streams,
        vec![on(target, 4, ProblemKind::SealedHashMismatch)]
    );
    assert_eq!(whole, vec![ProblemKind::SealDigestMismatch]);
    assert!(report
        .problems
        .iter()
        .any(|p| p.detail.contains("seal_heads was altered")));
}

#[tokio::test]
async fn a_seal_waits_for_a_transaction_writing_events_and_covers_its_events() {
    let (db, _write, _, _) = world().await;
    // A writer holds its transaction open for three seconds, longer than one attempt waits.
    let mut writer = db.pool.begin().await.unwrap();
    let late = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
           payload, metadata) VALUES ('Beneficiary', $1, 1, 'Sensitised', '1.0', '{}', \
           json_build_object('event_id', $1))",
    )
    .bind(late.to_string())
    .execute(&mut *writer)
    .await
    .unwrap();
    let committer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        writer.commit().await.unwrap();
    });
    let sealed = seal_now(&db.pool).await;
    committer.await.unwrap();
    let position: i64 =
        sqlx::query_scalar("SELECT global_position FROM events WHERE aggregate_id = $1")
            .bind(late.to_string())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(sealed.position >= position);
    let report = verify_trusting(&db.pool).await;
    assert!(report.ok(), "{:?}", report.problems);
}

/// Whether each range's heads at `sealed`, read from the events, are those stored for it.
async fn heads_as_stored_by_range(pool: &PgPool, sealed: &Seal) -> Vec<bool> {
    let mut connection = pool.acquire().await.unwrap();
    let mut found = Vec::new();
    for range in stream_ranges(&mut connection, 3).await.unwrap() {
        let sql = format!(
            "SELECT aggregate_type, aggregate_id, sequence, global_position, hash FROM events \
             WHERE {} ORDER BY aggregate_type, aggregate_id, sequence",
            range.condition(1)
        );
        let rows = range
            .bind(sqlx::query(&sql))
            .fetch_all(&mut *connection)
            .await
            .unwrap();
        let mut heads = seal::HeadsAtSeal::new(sealed.position);
        for row in &rows {
            heads.see(row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        }
        let stored = seal::stored_heads_digest_in(&mut connection, sealed, &range)
            .await
            .unwrap();
        found.push(heads.finish() == stored);
    }
    found
}

#[tokio::test]
async fn the_heads_read_range_by_range_are_those_stored_until_a_stream_is_rewritten() {
    let (db, write, target, _) = world().await;
    let sealed = seal_now(&db.pool).await;
    // Events after the seal's position do not change the heads at it.
    record(&write, target, 9, sensitised("logement")).await;
    let clean = heads_as_stored_by_range(&db.pool, &sealed).await;
    assert!(
        clean.len() >= 2 && clean.iter().all(|same| *same),
        "{clean:?}"
    );

    let statements = rewrite(target, 3, 5);
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    tamper(&db.pool, &statements).await;
    let rewritten = heads_as_stored_by_range(&db.pool, &sealed).await;
    assert_eq!(
        rewritten.iter().filter(|same| !**same).count(),
        1,
        "{rewritten:?}"
    );
}

#[tokio::test]
async fn with_no_connection_free_for_a_second_range_the_log_is_verified_in_one() {
    let (db, _write, target, _) = world().await;
    tamper(
        &db.pool,
        &[&format!(
            "DELETE FROM events WHERE aggregate_type = 'Beneficiary' \
             AND aggregate_id = '{target}' AND sequence = 2"
        )],
    )
    .await;
    let expected = verify(&db.pool).await;
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*db.pool.connect_options()).clone())
        .await
        .unwrap();
    let _busy = small.acquire().await.unwrap();
    let report = verify_log_with(&small, None, 3, &|_| {}).await.unwrap();
    assert_eq!(report, expected);
    assert_eq!(
        located(&report),
        vec![on(target, 2, ProblemKind::SequenceGap)]
    );
}

//! The batch path of `recordJourneyEvents` against real PostgreSQL: the same outcomes and the
//! same rows (hashes included) as the single-command path, idempotent resubmission, and
//! concurrent batches on the same streams losing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{command, identified, org, sensitised, set_up};
use masar::batch::record_batch;
use masar::record::{record_journey_event, SubmissionStatus};
use masar::write::WriteSide;
use masar_domain::beneficiary::{BeneficiaryCommand, JourneyFact, RecordJourneyEvent};
use masar_domain::ids::{BeneficiaryId, CourseCode};
use masar_domain::values::TrainingKind;
use masar_projections::event_log::{read_log, verify_chain, StoredEvent};
use masar_projections::testing::fresh_database;
use uuid::Uuid;

fn submission(beneficiary: BeneficiaryId, days: i64, fact: JourneyFact) -> RecordJourneyEvent {
    match command(beneficiary, days, fact).1 {
        BeneficiaryCommand::Record(record) => record,
        BeneficiaryCommand::ErasePersonalData(_) => unreachable!(),
    }
}

fn course() -> CourseCode {
    CourseCode::parse("WELD-01").unwrap()
}

/// A mixed batch: several beneficiaries, accepted items, rule violations, an in-batch repeat,
/// a retraction, and items of one beneficiary that depend on each other's order.
fn scenario() -> Vec<RecordJourneyEvent> {
    let mut items = Vec::new();
    for n in 0..6 {
        let id = BeneficiaryId::new(Uuid::new_v4());
        let identify = submission(id, 0, identified());
        items.push(identify.clone());
        items.push(submission(id, 1, sensitised(&format!("session {n}"))));
        items.push(submission(
            id,
            2,
            JourneyFact::TrainingEnrolled {
                course_code: course(),
                course_name: "Soudure".into(),
                kind: TrainingKind::Vocational,
                planned_sessions: 2,
            },
        ));
        let workshop = submission(
            id,
            3,
            JourneyFact::WorkshopAttended {
                course_code: course(),
                session_number: 1,
            },
        );
        items.push(workshop.clone());
        // The same event again in the same batch: a duplicate.
        items.push(workshop.clone());
        // A session the course does not plan: rejected.
        items.push(submission(
            id,
            4,
            JourneyFact::WorkshopAttended {
                course_code: course(),
                session_number: 9,
            },
        ));
        if n % 2 == 0 {
            items.push(submission(
                id,
                5,
                JourneyFact::Retracted {
                    retracted_event_id: workshop.event_id,
                    reason: "wrong session".into(),
                },
            ));
        }
        items.push(submission(
            id,
            6,
            JourneyFact::TrainingCompleted {
                course_code: course(),
                certified: true,
            },
        ));
    }
    // Not identified: rejected.
    items.push(submission(
        BeneficiaryId::new(Uuid::new_v4()),
        1,
        sensitised("x"),
    ));
    items
}

fn beneficiary_rows(rows: Vec<StoredEvent>) -> Vec<StoredEvent> {
    let mut rows: Vec<StoredEvent> = rows
        .into_iter()
        .filter(|r| r.aggregate_type == "Beneficiary")
        .collect();
    rows.sort_by(|a, b| (&a.aggregate_id, a.sequence).cmp(&(&b.aggregate_id, b.sequence)));
    rows
}

#[tokio::test]
async fn the_batch_path_stores_exactly_the_rows_of_the_single_command_path() {
    let items = scenario();

    let single_db = fresh_database().await;
    let single = WriteSide::new(single_db.pool.clone()).await.unwrap();
    set_up(&single).await;
    let mut single_outcomes = Vec::new();
    for item in &items {
        single_outcomes.push(record_journey_event(&single, item.clone(), None).await);
    }

    let batch_db = fresh_database().await;
    let batch = WriteSide::new(batch_db.pool.clone()).await.unwrap();
    set_up(&batch).await;
    let batch_outcomes = record_batch(&batch, items.clone(), None).await;

    assert_eq!(batch_outcomes.len(), items.len());
    for (single, batch) in single_outcomes.iter().zip(&batch_outcomes) {
        assert_eq!(single.event_id, batch.event_id);
        assert_eq!(single.status, batch.status, "{single:?} vs {batch:?}");
        assert_eq!(single.sequence, batch.sequence, "{single:?} vs {batch:?}");
        assert_eq!(
            single.error.as_ref().map(|e| e.code),
            batch.error.as_ref().map(|e| e.code)
        );
        assert_eq!(
            single.error.as_ref().map(|e| &e.field),
            batch.error.as_ref().map(|e| &e.field)
        );
    }
    let statuses: BTreeSet<_> = batch_outcomes
        .iter()
        .map(|o| format!("{:?}", o.status))
        .collect();
    assert_eq!(
        statuses.len(),
        3,
        "the scenario covers accepted, duplicate and rejected"
    );

    let single_rows = beneficiary_rows(read_log(&single_db.pool, 0, 10_000).await.unwrap());
    let batch_rows = beneficiary_rows(read_log(&batch_db.pool, 0, 10_000).await.unwrap());
    assert_eq!(single_rows.len(), batch_rows.len());
    assert!(!batch_rows.is_empty());
    for (s, b) in single_rows.iter().zip(&batch_rows) {
        assert_eq!(
            (
                &s.aggregate_id,
                s.sequence,
                &s.event_type,
                &s.event_version,
                &s.payload,
                &s.metadata
            ),
            (
                &b.aggregate_id,
                b.sequence,
                &b.event_type,
                &b.event_version,
                &b.payload,
                &b.metadata
            )
        );
    }
    // Hashes included: the two logs differ only in when they were written. Giving the
    // single-command rows the batch's recorded_at and re-chaining them yields the batch's
    // hashes exactly.
    let mut previous: Option<(String, String)> = None;
    for (s, b) in single_rows.iter().zip(&batch_rows) {
        let mut rewritten = s.clone();
        rewritten.recorded_at = b.recorded_at;
        rewritten.previous_hash = match &previous {
            Some((stream, hash)) if *stream == s.aggregate_id => Some(hash.clone()),
            _ => None,
        };
        let hash = rewritten.recomputed_hash();
        assert_eq!(hash, b.hash, "event {} of {}", b.sequence, b.aggregate_id);
        assert_eq!(rewritten.previous_hash, b.previous_hash);
        previous = Some((s.aggregate_id.clone(), hash));
    }
    for rows in [&single_rows, &batch_rows] {
        let mut by_stream: std::collections::BTreeMap<&str, Vec<StoredEvent>> = Default::default();
        for row in rows.iter() {
            by_stream
                .entry(row.aggregate_id.as_str())
                .or_default()
                .push(row.clone());
        }
        for stream in by_stream.values() {
            assert!(verify_chain(stream).is_empty());
        }
    }
}

#[tokio::test]
async fn sending_the_same_batch_twice_records_nothing_the_second_time() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let items = scenario();
    let first = record_batch(&write, items.clone(), None).await;
    let head = read_log(&db.pool, 0, 10_000).await.unwrap().len();
    let second = record_batch(&write, items.clone(), None).await;
    assert_eq!(read_log(&db.pool, 0, 10_000).await.unwrap().len(), head);
    for (a, b) in first.iter().zip(&second) {
        if a.status == SubmissionStatus::Accepted {
            assert_eq!(b.status, SubmissionStatus::Duplicate);
            assert_eq!(a.sequence, b.sequence);
        }
    }
    // An event id of this batch reused for someone else.
    let mut reused = items[0].clone();
    reused.beneficiary_id = BeneficiaryId::new(Uuid::new_v4());
    let outcome = record_batch(&write, vec![reused], None).await;
    assert_eq!(
        outcome[0].error.as_ref().unwrap().code,
        masar_domain::ErrorCode::EventIdReused
    );
}

#[tokio::test]
async fn concurrent_batches_on_the_same_streams_lose_nothing() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let people: Vec<BeneficiaryId> = (0..8).map(|_| BeneficiaryId::new(Uuid::new_v4())).collect();
    let identify: Vec<_> = people
        .iter()
        .map(|id| submission(*id, 0, identified()))
        .collect();
    let mut submitted: BTreeSet<String> = identify
        .iter()
        .map(|item| item.event_id.to_string())
        .collect();
    assert!(record_batch(&write, identify, None)
        .await
        .iter()
        .all(|o| o.status == SubmissionStatus::Accepted));

    let mut handles = Vec::new();
    for client in 0..4 {
        let write = write.clone();
        let items: Vec<_> = people
            .iter()
            .flat_map(|id| {
                (0..3).map(move |n| {
                    submission(*id, 1 + n, sensitised(&format!("client {client} #{n}")))
                })
            })
            .collect();
        submitted.extend(items.iter().map(|item| item.event_id.to_string()));
        handles.push(tokio::spawn(async move {
            record_batch(&write, items, None).await
        }));
    }
    let mut accepted = 0;
    for handle in handles {
        for outcome in handle.await.unwrap() {
            assert_eq!(outcome.status, SubmissionStatus::Accepted, "{outcome:?}");
            accepted += 1;
        }
    }
    assert_eq!(accepted, 4 * 8 * 3);
    let rows = beneficiary_rows(read_log(&db.pool, 0, 10_000).await.unwrap());
    assert_eq!(rows.len(), 8 + accepted);
    for id in &people {
        let stream: Vec<StoredEvent> = rows
            .iter()
            .filter(|r| r.aggregate_id == id.to_string())
            .cloned()
            .collect();
        assert_eq!(stream.len(), 1 + 4 * 3);
        assert!(verify_chain(&stream).is_empty());
    }
    // Exactly the events submitted, each once, each recorded for the partner that sent it
    // (REMESS) and without a token (none was given).
    let stored: Vec<String> = rows
        .iter()
        .map(|row| row.metadata["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored.len(), submitted.len());
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), submitted);
    for row in &rows {
        assert_eq!(
            row.metadata["organisation"],
            org("REMESS").as_str(),
            "{row:?}"
        );
        assert_eq!(row.metadata.get("token_id"), None, "{row:?}");
    }
}

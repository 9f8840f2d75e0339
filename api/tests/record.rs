//! Recording journey events through the single-command path, as `recordJourneyEvents` will
//! for each item: accepted, duplicate, event id reused, each rule's error code and field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{command, identified, org, sensitised, set_up};
use masar::record::{record_journey_event, SubmissionStatus};
use masar::write::WriteSide;
use masar_domain::beneficiary::{BeneficiaryCommand, JourneyFact, RecordJourneyEvent};
use masar_domain::ids::{BeneficiaryId, CourseCode};
use masar_domain::ErrorCode;
use masar_projections::event_log::read_log;
use masar_projections::testing::fresh_database;
use uuid::Uuid;

fn submission(beneficiary: BeneficiaryId, days: i64, fact: JourneyFact) -> RecordJourneyEvent {
    match command(beneficiary, days, fact).1 {
        BeneficiaryCommand::Record(record) => record,
        BeneficiaryCommand::ErasePersonalData(_) => unreachable!(),
    }
}

#[tokio::test]
async fn accepted_then_duplicate_then_reused() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let first = BeneficiaryId::new(Uuid::new_v4());
    let identify = submission(first, 0, identified());

    let accepted = record_journey_event(&write, identify.clone(), None).await;
    assert_eq!(accepted.status, SubmissionStatus::Accepted, "{accepted:?}");
    assert_eq!(accepted.sequence, Some(1));
    let head = read_log(&db.pool, 0, 1000).await.unwrap().len();

    let again = record_journey_event(&write, identify.clone(), None).await;
    assert_eq!(again.status, SubmissionStatus::Duplicate);
    assert_eq!(again.sequence, Some(1));
    assert!(again.error.is_none());

    let mut reused = identify.clone();
    reused.beneficiary_id = BeneficiaryId::new(Uuid::new_v4());
    let outcome = record_journey_event(&write, reused, None).await;
    assert_eq!(outcome.status, SubmissionStatus::Rejected);
    let error = outcome.error.unwrap();
    assert_eq!(error.code, ErrorCode::EventIdReused);
    assert_eq!(error.field.as_deref(), Some("eventId"));

    // Nothing new reached the log.
    assert_eq!(read_log(&db.pool, 0, 1000).await.unwrap().len(), head);

    let second =
        record_journey_event(&write, submission(first, 2, sensitised("santé")), None).await;
    assert_eq!(second.status, SubmissionStatus::Accepted);
    assert_eq!(second.sequence, Some(2));
}

#[tokio::test]
async fn rule_violations_come_back_with_their_code_and_field() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let id = BeneficiaryId::new(Uuid::new_v4());

    let not_identified =
        record_journey_event(&write, submission(id, 0, sensitised("x")), None).await;
    assert_eq!(not_identified.status, SubmissionStatus::Rejected);
    assert_eq!(not_identified.error.unwrap().code, ErrorCode::NotIdentified);

    assert_eq!(
        record_journey_event(&write, submission(id, 0, identified()), None)
            .await
            .status,
        SubmissionStatus::Accepted
    );
    let workshop = JourneyFact::WorkshopAttended {
        course_code: CourseCode::parse("WELD-01").unwrap(),
        session_number: 1,
    };
    let outcome = record_journey_event(&write, submission(id, 1, workshop), None).await;
    let error = outcome.error.unwrap();
    assert_eq!(error.code, ErrorCode::InvalidTransition);
    assert!(error.message.contains("WELD-01"), "{}", error.message);

    let mut future = submission(id, 0, sensitised("x"));
    future.occurred_at = chrono::Utc::now() + chrono::Duration::days(2);
    let outcome = record_journey_event(&write, future, None).await;
    assert_eq!(outcome.error.unwrap().code, ErrorCode::DatedInFuture);

    let mut stranger = submission(id, 1, sensitised("x"));
    stranger.actor.organisation = org("ENABEL");
    stranger.actor.role = masar_domain::values::Role::Dashboard;
    let outcome = record_journey_event(&write, stranger, None).await;
    assert_eq!(outcome.error.unwrap().code, ErrorCode::Forbidden);
}

#[tokio::test]
async fn a_programme_registered_through_another_server_is_found() {
    let db = fresh_database().await;
    // This server starts before the programme exists ...
    let this_server = WriteSide::new(db.pool.clone()).await.unwrap();
    // ... which another server then registers.
    let other_server = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&other_server).await;

    let id = BeneficiaryId::new(Uuid::new_v4());
    let outcome = record_journey_event(&this_server, submission(id, 0, identified()), None).await;
    assert_eq!(outcome.status, SubmissionStatus::Accepted, "{outcome:?}");
}

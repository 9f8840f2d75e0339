//! The event log on real PostgreSQL: append and reload through cqrs-es and postgres-es,
//! optimistic concurrency, the per-stream hash chain and the global uniqueness of event ids.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{TimeZone, Utc};
use common::{command, identified, org, record, sensitised, set_up};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, EventStore};
use masar::write::{locate_event, retry_on_conflict, Envelope, WriteSide};
use masar_domain::beneficiary::{Beneficiary, BeneficiaryCommand, BeneficiaryEvent};
use masar_domain::ids::{BeneficiaryId, EventId};
use masar_domain::values::Stage;
use masar_projections::event_log::{read_stream, verify_chain};
use masar_projections::testing::fresh_database;
use postgres_es::PostgresEventRepository;
use uuid::Uuid;

#[tokio::test]
async fn a_stream_is_appended_and_reloaded() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let id = BeneficiaryId::new(Uuid::new_v4());
    let first = record(&write, id, 0, identified()).await;
    let second = record(&write, id, 3, sensitised("droits du travail")).await;

    let store = PersistedEventStore::<PostgresEventRepository, Beneficiary>::new_event_store(
        PostgresEventRepository::new(db.pool.clone()),
    );
    let loaded = store.load_events(&id.to_string()).await.unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].sequence, 1);
    assert_eq!(loaded[1].sequence, 2);
    assert_eq!(loaded[1].payload.event_id, second.event_id);
    assert_eq!(
        loaded[0].metadata.get("event_id"),
        Some(&first.event_id.to_string())
    );
    assert_eq!(
        loaded[0].metadata.get("organisation"),
        Some(&"REMESS".to_string())
    );

    let context = store.load_aggregate(&id.to_string()).await.unwrap();
    assert_eq!(context.aggregate.stage(), Some(Stage::Sensitised));
    assert_eq!(context.aggregate.version(), 2);

    let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].global_position < rows[1].global_position);
    assert_eq!(rows[0].event_type, "Identified");
    assert_eq!(rows[1].event_type, "Sensitised");
    assert_eq!(rows[0].previous_hash, None);
    assert_eq!(
        rows[1].previous_hash.as_deref(),
        Some(rows[0].hash.as_str())
    );
    let payload: BeneficiaryEvent = serde_json::from_value(rows[1].payload.clone()).unwrap();
    assert_eq!(payload.fact, sensitised("droits du travail"));
}

#[tokio::test]
async fn of_two_concurrent_writers_on_one_stream_exactly_one_wins() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let id = BeneficiaryId::new(Uuid::new_v4());
    record(&write, id, 0, identified()).await;

    // Both writers load the stream at version 1 before either appends.
    let store = PersistedEventStore::<PostgresEventRepository, Beneficiary>::new_event_store(
        PostgresEventRepository::new(db.pool.clone()),
    );
    let a = store.load_aggregate(&id.to_string()).await.unwrap();
    let b = store.load_aggregate(&id.to_string()).await.unwrap();
    let event = |topic: &str| BeneficiaryEvent {
        event_id: EventId::new(Uuid::new_v4()),
        occurred_at: Utc.with_ymd_and_hms(2024, 3, 2, 9, 0, 0).unwrap(),
        recorded_by: org("REMESS"),
        fact: sensitised(topic),
    };
    let (ea, eb) = (event("a"), event("b"));
    let (ra, rb) = tokio::join!(
        store.commit(
            vec![ea.clone()],
            a,
            Envelope {
                event_id: ea.event_id,
                occurred_at: ea.occurred_at,
                organisation: org("REMESS"),
                token_id: None
            }
            .metadata()
        ),
        store.commit(
            vec![eb.clone()],
            b,
            Envelope {
                event_id: eb.event_id,
                occurred_at: eb.occurred_at,
                organisation: org("REMESS"),
                token_id: None
            }
            .metadata()
        ),
    );
    let outcomes = [ra.is_ok(), rb.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one commit wins"
    );
    let loser = if ra.is_ok() { rb } else { ra };
    assert!(
        matches!(loser, Err(AggregateError::AggregateConflict)),
        "the other gets a conflict"
    );

    let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(verify_chain(&rows).is_empty());

    // Through the framework, the loser retries on the new version and both land.
    let (e1, c1) = command(id, 4, sensitised("c"));
    let (e2, c2) = command(id, 5, sensitised("d"));
    let w1 = write.clone();
    let w2 = write.clone();
    let key = id.to_string();
    let key2 = key.clone();
    let (r1, r2) = tokio::join!(
        retry_on_conflict(|| w1.beneficiaries.execute_with_metadata(
            &key,
            c1.clone(),
            e1.metadata()
        )),
        retry_on_conflict(|| w2.beneficiaries.execute_with_metadata(
            &key2,
            c2.clone(),
            e2.metadata()
        )),
    );
    r1.unwrap();
    r2.unwrap();
    let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert!(verify_chain(&rows).is_empty());
}

#[tokio::test]
async fn the_hash_chain_recomputes_from_the_stored_rows() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let id = BeneficiaryId::new(Uuid::new_v4());
    record(&write, id, 0, identified()).await;
    for (day, topic) in ["santé", "droits \"du\" travail\n", "قانون الشغل"]
        .iter()
        .enumerate()
    {
        record(&write, id, day as i64 + 1, sensitised(topic)).await;
    }
    let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert!(verify_chain(&rows).is_empty(), "{:?}", verify_chain(&rows));
    for row in &rows {
        assert_eq!(row.recomputed_hash(), row.hash);
    }
    // The database's own function agrees with the independent recomputation.
    let mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE hash <> masar_event_hash(previous_hash, aggregate_type, \
         aggregate_id, sequence, event_type, event_version, payload::jsonb, metadata::jsonb, recorded_at)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(mismatches, 0);

    // A payload edited behind the application's back breaks the chain at that event.
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE events SET payload = replace(payload::text, 'santé', 'sante')::json \
         WHERE aggregate_id = $1 AND sequence = 2",
    )
    .bind(id.to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    assert_eq!(
        verify_chain(&rows),
        vec![masar_projections::event_log::ChainProblem::HashMismatch { sequence: 2 }]
    );
}

/// The SQLSTATE and message of a statement's database error.
fn database_error(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> (String, String) {
    let error = result.expect_err("the statement was refused");
    let error = error
        .as_database_error()
        .unwrap_or_else(|| panic!("not a database error: {error}"));
    (
        error.code().unwrap_or_default().into_owned(),
        error.message().to_owned(),
    )
}

#[tokio::test]
async fn the_log_refuses_updates_deletes_and_truncation() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    for (statement, operation) in [
        ("UPDATE events SET event_type = 'X'", "UPDATE"),
        ("DELETE FROM events", "DELETE"),
        ("TRUNCATE events", "TRUNCATE"),
        ("TRUNCATE events CASCADE", "TRUNCATE"),
    ] {
        let refused = sqlx::query(statement).execute(&db.pool).await;
        // The append-only trigger's refusal: insufficient_privilege, naming the operation.
        assert_eq!(
            database_error(refused),
            (
                "42501".to_owned(),
                format!("the event log is append-only: {operation} is not allowed on events")
            ),
            "{statement}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn an_event_id_belongs_to_one_stream_for_ever() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let first = BeneficiaryId::new(Uuid::new_v4());
    let other = BeneficiaryId::new(Uuid::new_v4());
    let (envelope, identify) = command(first, 0, identified());
    write
        .beneficiaries
        .execute_with_metadata(&first.to_string(), identify.clone(), envelope.metadata())
        .await
        .unwrap();

    // The same submission again records nothing new.
    write
        .beneficiaries
        .execute_with_metadata(&first.to_string(), identify.clone(), envelope.metadata())
        .await
        .unwrap();
    assert_eq!(
        read_stream(&db.pool, "Beneficiary", &first.to_string())
            .await
            .unwrap()
            .len(),
        1
    );

    // The same event id for another beneficiary cannot be stored.
    let BeneficiaryCommand::Record(mut reused) = identify else {
        unreachable!()
    };
    reused.beneficiary_id = other;
    let result = write
        .beneficiaries
        .execute_with_metadata(
            &other.to_string(),
            BeneficiaryCommand::Record(reused),
            envelope.metadata(),
        )
        .await;
    assert!(
        matches!(result, Err(AggregateError::AggregateConflict)),
        "{result:?}"
    );
    assert!(read_stream(&db.pool, "Beneficiary", &other.to_string())
        .await
        .unwrap()
        .is_empty());

    let located = locate_event(&db.pool, envelope.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(located.aggregate_type, "Beneficiary");
    assert_eq!(located.aggregate_id, first.to_string());
    assert_eq!(located.sequence, 1);
    assert!(locate_event(&db.pool, EventId::new(Uuid::new_v4()))
        .await
        .unwrap()
        .is_none());
}

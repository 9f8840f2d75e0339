//! `masar_projections::compare` against real PostgreSQL: events recorded through the write
//! side, projections caught up by the runner's own code, then rows edited behind its back. A
//! clean database equals its rebuild; an edited, deleted or inserted row is named with its key
//! (and, when edited, its columns); the comparison is made at the live checkpoint whether the
//! runner lags or moves on meanwhile; no scratch table is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{activity, identified, org, record, sensitised, set_up};
use masar::write::WriteSide;
use masar_domain::ids::BeneficiaryId;
use masar_domain::programme::ProgrammeActivity;
use masar_projections::activities::{self, ActivityProjection};
use masar_projections::beneficiaries::{self, BeneficiaryProjection};
use masar_projections::compare::{
    compare, CompareError, CompareProgress, DifferenceKind, ProjectionComparison,
};
use masar_projections::feed::{self, catch_up, Checkpoint};
use masar_projections::rebuild::RebuildError;
use masar_projections::testing::fresh_database;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn catch_up_all(pool: &PgPool) {
    catch_up(pool, &BeneficiaryProjection::default())
        .await
        .unwrap();
    catch_up(pool, &ActivityProjection::default())
        .await
        .unwrap();
}

async fn applied(pool: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar("SELECT events_applied FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Catches up until every event of the log is applied. The feed takes only events older than
/// every running transaction of the whole PostgreSQL cluster, and other tests write to other
/// databases of the same cluster meanwhile: wait for their transactions to end.
async fn settle(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        catch_up_all(pool).await;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await
            .unwrap();
        if applied(pool, beneficiaries::NAME).await == total
            && applied(pool, activities::NAME).await == total
        {
            return;
        }
        assert!(Instant::now() < deadline, "the projections never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn live_checkpoint(pool: &PgPool, name: &str) -> Checkpoint {
    let mut transaction = pool.begin().await.unwrap();
    let checkpoint = feed::lock_checkpoint(&mut transaction, name).await.unwrap();
    transaction.rollback().await.unwrap();
    checkpoint
}

async fn scratch_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
           AND (tablename LIKE '%\\_verify' OR tablename LIKE '%\\_rebuild')",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn compare_quietly(pool: &PgPool, name: &str) -> ProjectionComparison {
    let comparison = compare(pool, name, &|_| {}).await.unwrap();
    assert!(
        scratch_tables(pool).await.is_empty(),
        "a scratch table was left behind"
    );
    comparison
}

fn company(name: &str) -> ProgrammeActivity {
    ProgrammeActivity::CompanyEngaged {
        company_name: name.into(),
        rse_labelled: true,
    }
}

/// Five beneficiaries (the first three sensitised too) and three activities, projected.
async fn journeys(pool: &PgPool) -> (WriteSide, Vec<BeneficiaryId>, Vec<Uuid>) {
    let write = WriteSide::new(pool.clone()).await.unwrap();
    set_up(&write).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = BeneficiaryId::new(Uuid::new_v4());
        record(&write, id, 0, identified()).await;
        if n < 3 {
            record(&write, id, 1, sensitised("droits")).await;
        }
        ids.push(id);
    }
    let mut activities = Vec::new();
    for name in ["Atlas Textile", "Maroc Soudure"] {
        activities.push(activity(&write, company(name)).await);
    }
    activities.push(
        activity(
            &write,
            ProgrammeActivity::TrainerTrained {
                trainer_name: "Fatima".into(),
                organisation_code: org("REMESS"),
            },
        )
        .await,
    );
    settle(pool).await;
    (write, ids, activities)
}

#[tokio::test]
async fn a_clean_database_equals_its_rebuild() {
    let db = fresh_database().await;
    let (_write, ids, activity_ids) = journeys(&db.pool).await;

    let steps = std::sync::Mutex::new(Vec::new());
    let comparison = compare(&db.pool, beneficiaries::NAME, &|p| {
        steps.lock().unwrap().push(p);
    })
    .await
    .unwrap();
    assert!(comparison.ok(), "{comparison:?}");
    assert_eq!(comparison.name, beneficiaries::NAME);
    assert_eq!(comparison.table, beneficiaries::TABLE);
    assert_eq!(comparison.key_column, "beneficiary_id");
    assert_eq!(comparison.live_rows, ids.len() as u64);
    assert_eq!(comparison.rebuilt_rows, ids.len() as u64);
    assert_eq!(comparison.replayed, 8);
    assert_eq!(comparison.caught_up, 0);
    assert_eq!(
        comparison.checkpoint,
        live_checkpoint(&db.pool, beneficiaries::NAME).await
    );
    assert!(comparison.differences.is_empty());
    let steps = steps.lock().unwrap().clone();
    assert_eq!(
        steps.first(),
        Some(&CompareProgress::Replaying { done: 0, total: 8 })
    );
    assert!(steps.contains(&CompareProgress::Replaying { done: 8, total: 8 }));
    assert_eq!(steps.last(), Some(&CompareProgress::Comparing));
    assert!(scratch_tables(&db.pool).await.is_empty());

    let comparison = compare_quietly(&db.pool, activities::NAME).await;
    assert!(comparison.ok(), "{comparison:?}");
    assert_eq!(comparison.key_column, "activity_id");
    assert_eq!(comparison.live_rows, activity_ids.len() as u64);
    assert_eq!(comparison.rebuilt_rows, activity_ids.len() as u64);

    // A name that is no projection fails before creating anything.
    let unknown = compare(&db.pool, "nope", &|_| {}).await.unwrap_err();
    assert!(
        matches!(
            unknown,
            CompareError::Rebuild(RebuildError::UnknownProjection(ref name)) if name == "nope"
        ),
        "{unknown:?}"
    );
    assert!(scratch_tables(&db.pool).await.is_empty());
}

#[tokio::test]
async fn a_hand_edited_beneficiary_row_is_different_naming_its_id_and_column() {
    let db = fresh_database().await;
    let (_write, ids, _) = journeys(&db.pool).await;
    let edited = ids[0];
    let changed =
        sqlx::query("UPDATE beneficiary_state SET stage = 'EMPLOYED' WHERE beneficiary_id = $1")
            .bind(edited.as_uuid())
            .execute(&db.pool)
            .await
            .unwrap()
            .rows_affected();
    assert_eq!(changed, 1);

    let comparison = compare_quietly(&db.pool, beneficiaries::NAME).await;
    assert!(!comparison.ok());
    assert_eq!(
        (
            comparison.missing,
            comparison.unexpected,
            comparison.different
        ),
        (0, 0, 1)
    );
    assert_eq!(comparison.difference_count(), 1);
    assert_eq!(comparison.live_rows, comparison.rebuilt_rows);
    let [difference] = comparison.differences.as_slice() else {
        panic!("{comparison:?}");
    };
    assert_eq!(difference.kind, DifferenceKind::Different);
    assert_eq!(difference.key, edited.to_string());
    assert_eq!(difference.columns.len(), 1, "{difference:?}");
    assert_eq!(difference.columns[0].column, "stage");
    assert_eq!(difference.columns[0].live, json!("EMPLOYED"));
    assert_eq!(difference.columns[0].rebuilt, json!("SENSITISED"));

    // Two columns of another row: both named, in table order.
    sqlx::query(
        "UPDATE beneficiary_state SET active = NOT active, region = 'MA-01' \
         WHERE beneficiary_id = $1",
    )
    .bind(ids[4].as_uuid())
    .execute(&db.pool)
    .await
    .unwrap();
    let comparison = compare_quietly(&db.pool, beneficiaries::NAME).await;
    assert_eq!(comparison.different, 2);
    let other = comparison
        .differences
        .iter()
        .find(|d| d.key == ids[4].to_string())
        .unwrap();
    let columns: Vec<&str> = other.columns.iter().map(|c| c.column.as_str()).collect();
    assert_eq!(columns, ["region", "active"]);
    assert_eq!(other.columns[0].live, json!("MA-01"));
    assert_eq!(other.columns[0].rebuilt, json!("MA-04"));
    // The other projection is untouched.
    assert!(compare_quietly(&db.pool, activities::NAME).await.ok());
}

#[tokio::test]
async fn a_hand_edited_milestone_count_is_different_naming_its_table() {
    let db = fresh_database().await;
    let (_write, ids, _) = journeys(&db.pool).await;
    let changed = sqlx::query(
        "UPDATE milestone_counts SET identified = identified + 1 \
         WHERE by_cell AND sex = 'FEMALE' AND identified > 0",
    )
    .execute(&db.pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 1);
    sqlx::query("DELETE FROM milestone_counts WHERE NOT by_cell AND identified > 0")
        .execute(&db.pool)
        .await
        .unwrap();

    let comparison = compare_quietly(&db.pool, beneficiaries::NAME).await;
    assert!(!comparison.ok());
    assert_eq!(
        (
            comparison.missing,
            comparison.unexpected,
            comparison.different
        ),
        (1, 0, 1)
    );
    // The report is still the main table's, whose rows all agree.
    assert_eq!(comparison.table, beneficiaries::TABLE);
    assert_eq!(comparison.live_rows, ids.len() as u64);
    let different = comparison
        .differences
        .iter()
        .find(|d| d.kind == DifferenceKind::Different)
        .unwrap();
    let (table, key_columns) = different.table.as_ref().unwrap();
    assert_eq!(table, "milestone_counts", "{different:?}");
    assert!(
        key_columns.starts_with("programme_code, by_cell, on_date, "),
        "{different:?}"
    );
    assert_eq!(different.columns.len(), 1, "{different:?}");
    assert_eq!(different.columns[0].column, "identified");
    assert_eq!(different.columns[0].live, json!(6));
    assert_eq!(different.columns[0].rebuilt, json!(5));
    let missing = comparison
        .differences
        .iter()
        .find(|d| d.kind == DifferenceKind::Missing)
        .unwrap();
    assert!(missing.key.contains("AMUDDU-RSK, false"), "{missing:?}");
    assert!(scratch_tables(&db.pool).await.is_empty());
}

#[tokio::test]
async fn a_deleted_row_is_missing_and_an_inserted_row_is_unexpected() {
    let db = fresh_database().await;
    let (_write, ids, _) = journeys(&db.pool).await;
    let deleted = ids[1];
    sqlx::query("DELETE FROM beneficiary_state WHERE beneficiary_id = $1")
        .bind(deleted.as_uuid())
        .execute(&db.pool)
        .await
        .unwrap();
    let bogus = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO beneficiary_state (beneficiary_id, programme_code, stage, active, version) \
         VALUES ($1, 'AMUDDU-RSK', 'EMPLOYED', true, 3)",
    )
    .bind(bogus)
    .execute(&db.pool)
    .await
    .unwrap();

    let comparison = compare_quietly(&db.pool, beneficiaries::NAME).await;
    assert!(!comparison.ok());
    assert_eq!(
        (
            comparison.missing,
            comparison.unexpected,
            comparison.different
        ),
        (1, 1, 0)
    );
    assert_eq!((comparison.live_rows, comparison.rebuilt_rows), (5, 5));
    let kinds: Vec<(DifferenceKind, String)> = comparison
        .differences
        .iter()
        .map(|d| (d.kind, d.key.clone()))
        .collect();
    assert!(
        kinds.contains(&(DifferenceKind::Missing, deleted.to_string())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(DifferenceKind::Unexpected, bogus.to_string())),
        "{kinds:?}"
    );
    assert!(comparison.differences.iter().all(|d| d.columns.is_empty()));
    // Listed in key order.
    let keys: Vec<&String> = comparison.differences.iter().map(|d| &d.key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[tokio::test]
async fn hand_edited_programme_activities_are_caught_too() {
    let db = fresh_database().await;
    let (_write, _, activity_ids) = journeys(&db.pool).await;
    let [edited, deleted, _] = activity_ids.as_slice() else {
        panic!("{activity_ids:?}")
    };
    sqlx::query("UPDATE programme_activity SET rse_labelled = false WHERE activity_id = $1")
        .bind(edited)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM programme_activity WHERE activity_id = $1")
        .bind(deleted)
        .execute(&db.pool)
        .await
        .unwrap();
    let bogus = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO programme_activity (activity_id, programme_code, kind, occurred_on, \
           recorded_at, distinct_key) VALUES ($1, 'AMUDDU-RSK', 'COMPANY', '2024-03-05', now(), 'x')",
    )
    .bind(bogus)
    .execute(&db.pool)
    .await
    .unwrap();

    let comparison = compare_quietly(&db.pool, activities::NAME).await;
    assert_eq!(comparison.table, activities::TABLE);
    assert_eq!(
        (
            comparison.missing,
            comparison.unexpected,
            comparison.different
        ),
        (1, 1, 1)
    );
    assert_eq!((comparison.live_rows, comparison.rebuilt_rows), (3, 3));
    let find = |kind| {
        comparison
            .differences
            .iter()
            .find(|d| d.kind == kind)
            .unwrap()
    };
    let different = find(DifferenceKind::Different);
    assert_eq!(different.key, edited.to_string());
    assert_eq!(different.columns.len(), 1);
    assert_eq!(different.columns[0].column, "rse_labelled");
    assert_eq!(different.columns[0].live, json!(false));
    assert_eq!(different.columns[0].rebuilt, json!(true));
    assert_eq!(find(DifferenceKind::Missing).key, deleted.to_string());
    assert_eq!(find(DifferenceKind::Unexpected).key, bogus.to_string());
    // The beneficiaries are fine.
    assert!(compare_quietly(&db.pool, beneficiaries::NAME).await.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comparison_is_made_at_the_live_checkpoint_whether_the_runner_lags_or_moves_on() {
    let db = fresh_database().await;
    let (write, ids, _) = journeys(&db.pool).await;

    // Events the runner has not applied yet (no server runs here): the live table is compared
    // with a rebuild at its own checkpoint, not at the head of the log.
    let late = BeneficiaryId::new(Uuid::new_v4());
    record(&write, late, 0, identified()).await;
    record(&write, ids[3], 2, sensitised("emploi")).await;
    let lagging = live_checkpoint(&db.pool, beneficiaries::NAME).await;
    let comparison = compare_quietly(&db.pool, beneficiaries::NAME).await;
    assert!(comparison.ok(), "{comparison:?}");
    assert_eq!(comparison.checkpoint, lagging);
    assert_eq!((comparison.live_rows, comparison.rebuilt_rows), (5, 5));
    assert_eq!(comparison.replayed, 8);

    // The runner moves on after the replay and before the comparison: the rebuild catches up
    // to the new live checkpoint under its lock.
    let pool = db.pool.clone();
    let moved = AtomicBool::new(false);
    let comparison = tokio::spawn(async move {
        let comparison = compare(&pool, beneficiaries::NAME, &|p| {
            if p == CompareProgress::Comparing && !moved.swap(true, Ordering::SeqCst) {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(settle(&pool));
                });
            }
        })
        .await
        .unwrap();
        (
            comparison,
            live_checkpoint(&pool, beneficiaries::NAME).await,
        )
    });
    let (comparison, live) = comparison.await.unwrap();
    assert!(comparison.ok(), "{comparison:?}");
    assert_eq!(comparison.checkpoint, live);
    assert!(comparison.checkpoint > lagging);
    assert_eq!(comparison.replayed, 8);
    assert_eq!(comparison.caught_up, 2);
    assert_eq!((comparison.live_rows, comparison.rebuilt_rows), (6, 6));
    assert!(scratch_tables(&db.pool).await.is_empty());

    // And an edit made while the runner lags is still caught.
    record(&write, ids[4], 3, sensitised("logement")).await;
    sqlx::query("UPDATE beneficiary_state SET version = 99 WHERE beneficiary_id = $1")
        .bind(late.as_uuid())
        .execute(&db.pool)
        .await
        .unwrap();
    let comparison = compare_quietly(&db.pool, beneficiaries::NAME).await;
    assert_eq!(comparison.different, 1, "{comparison:?}");
    assert_eq!(comparison.differences[0].key, late.to_string());
    assert_eq!(comparison.differences[0].columns[0].column, "version");
}

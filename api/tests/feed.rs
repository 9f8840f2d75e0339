//! The feed's order against real PostgreSQL, on a cluster of the test's own so that its
//! transaction ids are the test's alone: transaction ids are burnt to just below a power of
//! ten, events are written on both sides of it (single commands, batches and programme
//! activities) while an older transaction is held open, and every event must be applied
//! exactly once, the projections must equal their rebuild, and a rebuild must replay
//! everything rather than catch most of it up.
//!
//! A transaction id's text sorts "1000" before "999": a feed that ordered by it applied
//! events out of order and moved its checkpoint past events it never applied.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{activity, identified, record, sensitised, set_up};
use masar::batch::record_batch;
use masar::write::WriteSide;
use masar_domain::beneficiary::{BeneficiaryCommand, RecordJourneyEvent};
use masar_domain::ids::BeneficiaryId;
use masar_domain::programme::ProgrammeActivity;
use masar_projections::activities::{self, ActivityProjection};
use masar_projections::beneficiaries::{self, BeneficiaryProjection};
use masar_projections::compare::compare;
use masar_projections::feed::{self, apply_next_batch, catch_up, Checkpoint};
use masar_projections::rebuild::rebuild;
use masar_projections::testing::private_cluster;
use sqlx::PgPool;
use uuid::Uuid;

/// The next transaction id (without using one up).
async fn next_xid(pool: &PgPool) -> u64 {
    let text: String = sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
        .fetch_one(pool)
        .await
        .unwrap();
    text.parse().unwrap()
}

/// Uses up transaction ids until the next one is `next`.
async fn burn_until(pool: &PgPool, next: u64) {
    let now = next_xid(pool).await;
    assert!(now <= next, "transaction id {now} is already past {next}");
    if now < next {
        // One transaction per id; a procedure commits each without a round trip.
        sqlx::raw_sql(&format!("CALL masar_test_burn_xids({})", next - now))
            .execute(pool)
            .await
            .unwrap();
    }
    assert_eq!(next_xid(pool).await, next);
}

fn item(
    beneficiary: BeneficiaryId,
    days: i64,
    fact: masar_domain::beneficiary::JourneyFact,
) -> RecordJourneyEvent {
    match common::command(beneficiary, days, fact).1 {
        BeneficiaryCommand::Record(record) => record,
        BeneficiaryCommand::ErasePersonalData(_) => unreachable!(),
    }
}

/// Total events, and the events each projection counts as applied.
async fn counts(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), \
           (SELECT events_applied FROM projection_checkpoints WHERE name = 'beneficiaries'), \
           (SELECT events_applied FROM projection_checkpoints WHERE name = 'programme_activities')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The runner's way for beneficiaries (batches of `feed::BATCH_SIZE`), and batches of three
/// for the activities, so that a batch straddling the boundary is read both whole and cut.
async fn run_once(pool: &PgPool) {
    catch_up(pool, &BeneficiaryProjection::default())
        .await
        .unwrap();
    while apply_next_batch(pool, &ActivityProjection::default(), 3)
        .await
        .unwrap()
        > 0
    {}
}

#[tokio::test]
async fn events_on_both_sides_of_a_power_of_ten_are_applied_exactly_once() {
    let cluster = private_cluster().await.unwrap();
    let pool = &cluster.database.pool;
    sqlx::raw_sql(
        "CREATE PROCEDURE masar_test_burn_xids(n bigint) LANGUAGE plpgsql AS $$ \
         BEGIN FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$",
    )
    .execute(pool)
    .await
    .unwrap();
    let write = WriteSide::new(pool.clone()).await.unwrap();
    set_up(&write).await;

    // The next two powers of ten (a new cluster starts below 1,000).
    let start = next_xid(pool).await;
    let mut boundary = 10u64;
    while boundary <= start + 10 {
        boundary *= 10;
    }
    let mut streams = Vec::new();
    for boundary in [boundary, boundary * 10] {
        burn_until(pool, boundary - 6).await;
        // An older transaction, open while the others write across the boundary.
        let mut held = pool.begin().await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *held)
            .await
            .unwrap();
        let mut n = 0;
        while next_xid(pool).await < boundary + 6 {
            let id = BeneficiaryId::new(Uuid::new_v4());
            match n % 3 {
                0 => {
                    record(&write, id, 0, identified()).await;
                    record(&write, id, 1, sensitised("droits")).await;
                }
                1 => {
                    let outcomes = record_batch(
                        &write,
                        vec![item(id, 0, identified()), item(id, 2, sensitised("emploi"))],
                        None,
                    )
                    .await;
                    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
                }
                _ => {
                    record(&write, id, 0, identified()).await;
                    activity(
                        &write,
                        ProgrammeActivity::CompanyEngaged {
                            company_name: format!("Entreprise {boundary}-{n}"),
                            rse_labelled: n % 2 == 0,
                        },
                    )
                    .await;
                }
            }
            streams.push(id);
            n += 1;
            // The runner runs meanwhile: it must wait for the held transaction.
            run_once(pool).await;
        }
        let (total, beneficiaries, activities) = counts(pool).await;
        assert!(beneficiaries < total && activities < total);
        held.commit().await.unwrap();
        run_once(pool).await;
        let (total, beneficiaries, activities) = counts(pool).await;
        assert_eq!(
            (beneficiaries, activities),
            (total, total),
            "every event applied once across transaction id {boundary}"
        );
    }

    // Each stream's row counts its events once; the tables equal a rebuild.
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM beneficiary_state b \
         WHERE b.events_applied <> (SELECT count(*) FROM events e \
           WHERE e.aggregate_type = 'Beneficiary' AND e.aggregate_id = b.beneficiary_id::text) \
            OR b.events_applied <> b.version",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM beneficiary_state")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(rows, i64::try_from(streams.len()).unwrap());
    for name in [beneficiaries::NAME, activities::NAME] {
        let comparison = compare(pool, name, &|_| {}).await.unwrap();
        assert!(comparison.ok(), "{comparison:#?}");
    }

    // The safe point is the last event in feed order, and a rebuild replays every event of
    // its streams from its snapshot, catching up nothing (no one writes meanwhile).
    let last: (String, i64) = sqlx::query_as(
        "SELECT transaction_id::text, global_position FROM events \
         ORDER BY events.transaction_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let mut connection = pool.acquire().await.unwrap();
    let safe = feed::safe_point(&mut connection).await.unwrap();
    assert_eq!(
        safe,
        Checkpoint {
            transaction_id: last.0.parse().unwrap(),
            global_position: last.1
        }
    );
    for (name, replayed) in [
        (beneficiaries::NAME, "aggregate_type = 'Beneficiary'"),
        (
            activities::NAME,
            "event_type IN ('CompanyEngaged', 'TrainerTrained')",
        ),
    ] {
        let events: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM events WHERE {replayed}"))
                .fetch_one(pool)
                .await
                .unwrap();
        let report = rebuild(pool, name, &|_| {}).await.unwrap();
        assert_eq!(
            (report.replayed, report.caught_up),
            (u64::try_from(events).unwrap(), 0),
            "{name}"
        );
        assert_eq!(report.checkpoint, safe);
    }
}

/// Events applied by the projection so far, and in the log.
async fn applied_and_total(pool: &PgPool) -> (i64, i64) {
    let (total, beneficiaries, _) = counts(pool).await;
    (beneficiaries, total)
}

#[tokio::test]
async fn a_runner_stopped_and_started_again_in_the_same_process_leads_again() {
    let db = masar_projections::testing::fresh_database().await;
    let pool = &db.pool;
    let write = WriteSide::new(pool.clone()).await.unwrap();
    set_up(&write).await;
    let runner = |pool: PgPool| {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(feed::run_in_batches(
            pool,
            BeneficiaryProjection::default(),
            7,
            async move {
                let _ = stopped.await;
            },
        ));
        (stop, task)
    };
    let caught_up = |pool: PgPool| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (applied, total) = applied_and_total(&pool).await;
            if applied == total {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };

    let (stop, task) = runner(pool.clone());
    record(&write, BeneficiaryId::new(Uuid::new_v4()), 0, identified()).await;
    assert!(caught_up(pool.clone()).await);
    stop.send(()).unwrap();
    task.await.unwrap();

    // Every connection the pool keeps idle is taken, so that the new runner needs a new one:
    // the old runner's lock must have gone with its connection.
    let mut idle = Vec::new();
    for _ in 0..pool.num_idle() {
        idle.push(pool.acquire().await.unwrap());
    }
    let (stop, task) = runner(pool.clone());
    record(&write, BeneficiaryId::new(Uuid::new_v4()), 0, identified()).await;
    let led = caught_up(pool.clone()).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    drop(idle);
    assert!(led, "the new runner never became the leader");
}

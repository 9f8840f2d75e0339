//! The projection runner and the indicator engine against real PostgreSQL: every event applied
//! exactly once even when a transaction commits late, retractions and late events refold
//! past figures, a rebuild gives the same tables, and the engine follows INDICATORS.md on a
//! hand-checked case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use common::{command, identified, record, sensitised, set_up};
use cqrs_es::{Aggregate, DomainEvent};
use masar::auth::{Principal, TokenStore};
use masar::batch::record_batch;
use masar::graphql::{build_schema, ApiContext, SchemaOptions};
use masar::notices::NoticeHub;
use masar::write::WriteSide;
use masar_domain::beneficiary::{Beneficiary, BeneficiaryCommand, JourneyFact, RecordJourneyEvent};
use masar_domain::directory::DomainServices;
use masar_domain::ids::{BeneficiaryId, CourseCode};
use masar_domain::values::{
    Dimension, EmploymentKind, IndicatorCode, LivingConditions, Role, TrainingKind,
};
use masar_projections::activities::ActivityProjection;
use masar_projections::beneficiaries::BeneficiaryProjection;
use masar_projections::feed::{self, catch_up};
use masar_projections::indicators::{compute, IndicatorError, IndicatorQuery};
use masar_projections::rebuild::{rebuild, RebuildError, RebuildProgress};
use masar_projections::testing::fresh_database;
use sqlx::PgPool;
use uuid::Uuid;

fn item(beneficiary: BeneficiaryId, days: i64, fact: JourneyFact) -> RecordJourneyEvent {
    match command(beneficiary, days, fact).1 {
        BeneficiaryCommand::Record(record) => record,
        BeneficiaryCommand::ErasePersonalData(_) => unreachable!(),
    }
}

async fn catch_up_all(pool: &PgPool) {
    catch_up(pool, &BeneficiaryProjection::default())
        .await
        .unwrap();
    catch_up(pool, &ActivityProjection::default())
        .await
        .unwrap();
}

/// Catches up until every event of the log is applied. The feed takes only events older than
/// every running transaction of the whole PostgreSQL cluster, and other tests write to other
/// databases of the same cluster meanwhile: wait for their transactions to end.
async fn settle(pool: &PgPool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        catch_up_all(pool).await;
        let total = count(pool, "SELECT count(*) FROM events").await;
        if applied(pool, "beneficiaries").await == total
            && applied(pool, "programme_activities").await == total
        {
            return;
        }
        if std::time::Instant::now() > deadline {
            let snapshot: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
                .fetch_one(pool)
                .await
                .unwrap();
            let checkpoints: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT name, transaction_id::text, global_position, events_applied \
                 FROM projection_checkpoints",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            let events: Vec<(String, i64)> = sqlx::query_as(
                "SELECT transaction_id::text, global_position FROM events \
                 ORDER BY events.transaction_id, events.global_position",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            panic!("the projections never caught up: {snapshot} {checkpoints:?} {events:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn applied(pool: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar("SELECT events_applied FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Every row's applied count equals its stream's length, and the checkpoint counted every
/// event of the log once.
async fn assert_exactly_once(pool: &PgPool) {
    let total = count(pool, "SELECT count(*) FROM events").await;
    assert_eq!(applied(pool, "beneficiaries").await, total);
    let mismatched = common::rows_not_counting_their_stream(pool).await;
    assert_eq!(mismatched, 0);
    let streams = count(
        pool,
        "SELECT count(DISTINCT aggregate_id) FROM events WHERE aggregate_type = 'Beneficiary'",
    )
    .await;
    assert_eq!(
        count(pool, "SELECT count(*) FROM beneficiary_state").await,
        streams
    );
}

#[tokio::test]
async fn a_transaction_that_commits_late_is_applied_exactly_once() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let held = BeneficiaryId::new(Uuid::new_v4());
    record(&write, held, 0, identified()).await;
    settle(&db.pool).await;
    assert_exactly_once(&db.pool).await;

    // A writing transaction takes its position now and stays open.
    let (envelope, command) = command(held, 1, sensitised("held back"));
    let services = DomainServices {
        directory: write.directory.clone(),
    };
    let mut aggregate = Beneficiary::from_events(Vec::new());
    for stored in
        masar_projections::event_log::read_stream(&db.pool, "Beneficiary", &held.to_string())
            .await
            .unwrap()
    {
        aggregate.apply(serde_json::from_value(stored.payload).unwrap());
    }
    let event = aggregate.decide(command, &services).unwrap().remove(0);
    let mut late = db.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
           payload, metadata) VALUES ('Beneficiary', $1, 2, $2, $3, $4, $5)",
    )
    .bind(held.to_string())
    .bind(event.event_type())
    .bind(event.event_version())
    .bind(serde_json::to_value(&event).unwrap())
    .bind(serde_json::to_value(envelope.metadata()).unwrap())
    .execute(&mut *late)
    .await
    .unwrap();
    let late_position: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&mut *late)
        .await
        .unwrap();

    // Meanwhile other writers commit events with later positions, and the runner runs.
    let others: Vec<RecordJourneyEvent> = (0..5)
        .flat_map(|_| {
            let id = BeneficiaryId::new(Uuid::new_v4());
            [item(id, 0, identified()), item(id, 1, sensitised("t"))]
        })
        .collect();
    let outcomes = record_batch(&write, others, None).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    catch_up_all(&db.pool).await;
    let committed = count(&db.pool, "SELECT count(*) FROM events").await;
    let head = count(&db.pool, "SELECT max(global_position) FROM events").await;
    assert!(head > late_position);
    // Nothing after the open transaction's position is taken yet: the runner waits for it.
    assert!(applied(&db.pool, "beneficiaries").await < committed);
    let mut connection = db.pool.acquire().await.unwrap();
    let reflected = feed::reflected_position(&mut connection, "beneficiaries")
        .await
        .unwrap();
    assert!(reflected < late_position, "{reflected} >= {late_position}");

    late.commit().await.unwrap();
    settle(&db.pool).await;
    assert_exactly_once(&db.pool).await;
    let stage: String =
        sqlx::query_scalar("SELECT stage FROM beneficiary_state WHERE beneficiary_id = $1")
            .bind(held.as_uuid())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stage, "SENSITISED");
    let reflected = feed::reflected_position(&mut connection, "beneficiaries")
        .await
        .unwrap();
    assert_eq!(reflected, head);
    // Running again applies nothing more.
    assert_eq!(
        catch_up(&db.pool, &BeneficiaryProjection::default())
            .await
            .unwrap(),
        0
    );
    assert_exactly_once(&db.pool).await;
}

fn course() -> CourseCode {
    CourseCode::parse("WELD-01").unwrap()
}

/// Days are counted from 2024-03-01 (see `common::command`).
fn date(days: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 1).unwrap() + chrono::Duration::days(days)
}

#[tokio::test]
async fn indicators_follow_the_definitions_and_retractions_refold_the_past() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let [a, b, c] = [0, 1, 2].map(|_| BeneficiaryId::new(Uuid::new_v4()));
    let enrol = |planned| JourneyFact::TrainingEnrolled {
        course_code: course(),
        course_name: "Soudure".into(),
        kind: TrainingKind::Vocational,
        planned_sessions: planned,
    };
    let workshop = |session| JourneyFact::WorkshopAttended {
        course_code: course(),
        session_number: session,
    };
    let employed = JourneyFact::Employed {
        kind: EmploymentKind::Salaried,
        employer_name: "Atlas".into(),
        employer_rse_labelled: true,
        sector: "textile".into(),
        monthly_income: None,
    };
    let followed = |conditions| JourneyFact::FollowedUp {
        still_in_activity: true,
        living_conditions: conditions,
        monthly_income: None,
        notes: None,
    };
    // a: identified day 0, enrolled (2 sessions) day 2, sessions on days 3 and 40, employed
    //    day 50, followed up day 80 (improved).
    // b: identified day 0, enrolled day 2, employed day 30, followed up day 100 (unchanged).
    // c: identified day 5, sensitised day 6, then its sensitisation retracted.
    let items = vec![
        item(a, 0, identified()),
        item(a, 2, enrol(2)),
        item(a, 3, workshop(1)),
        item(a, 40, workshop(2)),
        item(a, 50, employed.clone()),
        item(a, 80, followed(LivingConditions::Improved)),
        item(b, 0, identified()),
        item(b, 2, enrol(1)),
        item(b, 30, employed),
        item(b, 100, followed(LivingConditions::Unchanged)),
        item(c, 5, identified()),
    ];
    let sensitise_c = item(c, 6, sensitised("droits"));
    let sensitised_id = sensitise_c.event_id;
    let mut items = items;
    items.push(sensitise_c);
    let outcomes = record_batch(&write, items, None).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    settle(&db.pool).await;

    let query = |from: NaiveDate, to: NaiveDate, dimensions: Vec<Dimension>| IndicatorQuery {
        programme_code: "AMUDDU-RSK".into(),
        from,
        to,
        as_of: None,
        dimensions,
    };
    let year = query(date(0), date(300), Vec::new());
    let table = compute(&db.pool, &year).await.unwrap();
    let value = |table: &masar_projections::indicators::IndicatorTable, code| {
        table
            .indicators
            .iter()
            .find(|f| f.code == code)
            .unwrap()
            .total
    };
    assert_eq!(value(&table, IndicatorCode::Identified).value, Some(3.0));
    assert_eq!(value(&table, IndicatorCode::Sensitised).value, Some(1.0));
    assert_eq!(
        value(&table, IndicatorCode::EnrolledInTraining).value,
        Some(2.0)
    );
    // b attended nothing; a attended both sessions by day 40.
    assert_eq!(
        value(&table, IndicatorCode::AttendedAllWorkshops).value,
        Some(1.0)
    );
    assert_eq!(value(&table, IndicatorCode::Inserted).value, Some(2.0));
    assert_eq!(value(&table, IndicatorCode::FollowedUp).value, Some(2.0));
    let rate = value(&table, IndicatorCode::FollowUpRate);
    assert_eq!(
        (rate.numerator, rate.denominator, rate.value),
        (Some(2), Some(2), Some(100.0))
    );
    // Improved: a (latest follow-up improved); b's latest is unchanged.
    let improved = value(&table, IndicatorCode::ImprovedLivingConditionsRate);
    assert_eq!(
        (improved.numerator, improved.denominator),
        (Some(1), Some(2))
    );
    assert_eq!(improved.value, Some(50.0));
    // Median of 50 and 30 days: 40.
    let median = value(&table, IndicatorCode::MedianDaysIdentifiedToInserted);
    assert_eq!((median.value, median.denominator), (Some(40.0), Some(2)));

    // Until day 60, nobody's follow-up is dated yet: neither followed up, neither improved.
    let early = compute(&db.pool, &query(date(0), date(60), Vec::new()))
        .await
        .unwrap();
    let rate = value(&early, IndicatorCode::FollowUpRate);
    assert_eq!((rate.numerator, rate.denominator), (Some(0), Some(2)));
    let improved = value(&early, IndicatorCode::ImprovedLivingConditionsRate);
    assert_eq!(
        (improved.numerator, improved.denominator),
        (Some(0), Some(2))
    );
    // A period that starts after b's insertion: only a inserted in it (day 50).
    let later = compute(&db.pool, &query(date(40), date(300), Vec::new()))
        .await
        .unwrap();
    assert_eq!(value(&later, IndicatorCode::Inserted).value, Some(1.0));
    assert_eq!(value(&later, IndicatorCode::Identified).value, Some(0.0));
    let median = value(&later, IndicatorCode::MedianDaysIdentifiedToInserted);
    assert_eq!((median.value, median.denominator), (Some(50.0), Some(1)));
    let nobody = compute(&db.pool, &query(date(200), date(300), Vec::new()))
        .await
        .unwrap();
    let rate = value(&nobody, IndicatorCode::FollowUpRate);
    assert_eq!((rate.value, rate.denominator), (None, Some(0)));

    // By month of each milestone: b inserted on day 30 (31 March), a on day 50 (20 April).
    let by_month = compute(&db.pool, &query(date(0), date(300), vec![Dimension::Month]))
        .await
        .unwrap();
    let inserted = by_month
        .indicators
        .iter()
        .find(|f| f.code == IndicatorCode::Inserted)
        .unwrap();
    let cells: Vec<(String, Option<f64>)> = inserted
        .cells
        .iter()
        .map(|(coordinates, figure)| (coordinates[0].clone(), figure.value))
        .collect();
    assert_eq!(
        cells,
        [
            (date(30).format("%Y-%m").to_string(), Some(1.0)),
            (date(50).format("%Y-%m").to_string(), Some(1.0)),
        ]
    );
    let by_quarter_and_sex = compute(
        &db.pool,
        &query(date(0), date(300), vec![Dimension::Quarter, Dimension::Sex]),
    )
    .await
    .unwrap();
    let identified_cells = &by_quarter_and_sex.indicators[0].cells;
    assert_eq!(
        identified_cells,
        &[(
            vec!["2024-Q1".to_owned(), "FEMALE".to_owned()],
            masar_projections::indicators::Figure {
                value: Some(3.0),
                numerator: Some(3),
                denominator: None
            }
        )]
    );

    // The retraction of c's sensitisation, recorded later: the past figure changes, and what
    // was known before it (asOf) does not.
    let before_retraction: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(recorded_at) FROM events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let retraction = item(
        c,
        7,
        JourneyFact::Retracted {
            retracted_event_id: sensitised_id,
            reason: "wrong person".into(),
        },
    );
    let outcomes = record_batch(&write, vec![retraction], None).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    settle(&db.pool).await;
    let now = compute(&db.pool, &year).await.unwrap();
    assert_eq!(value(&now, IndicatorCode::Sensitised).value, Some(0.0));
    let then = compute(
        &db.pool,
        &IndicatorQuery {
            as_of: Some(before_retraction),
            ..year.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(value(&then, IndicatorCode::Sensitised).value, Some(1.0));
    assert_eq!(value(&then, IndicatorCode::Identified).value, Some(3.0));
    assert_eq!(then.indicators, {
        // Everything else as before the retraction.
        let mut expected = table.indicators.clone();
        expected.sort_by_key(|f| IndicatorCode::ALL.iter().position(|c| *c == f.code));
        expected
    });
    assert_exactly_once(&db.pool).await;

    // A late follow-up of b, dated before its latest (day 90, improved): until day 99 b's
    // latest follow-up improved living conditions, from day 100 the unchanged one is latest.
    let late = item(b, 90, followed(LivingConditions::Improved));
    let outcomes = record_batch(&write, vec![late], None).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    settle(&db.pool).await;
    let until = |to| query(date(0), date(to), Vec::new());
    let improved = value(
        &compute(&db.pool, &until(95)).await.unwrap(),
        IndicatorCode::ImprovedLivingConditionsRate,
    );
    assert_eq!(
        (improved.numerator, improved.denominator),
        (Some(2), Some(2))
    );
    let improved = value(
        &compute(&db.pool, &until(300)).await.unwrap(),
        IndicatorCode::ImprovedLivingConditionsRate,
    );
    assert_eq!(
        (improved.numerator, improved.denominator),
        (Some(1), Some(2))
    );
    // b is now followed up on day 90: by day 85 only a (day 80) is.
    let rate = value(
        &compute(&db.pool, &until(85)).await.unwrap(),
        IndicatorCode::FollowUpRate,
    );
    assert_eq!((rate.numerator, rate.denominator), (Some(1), Some(2)));
    // The same cells by sex and by month as without dimensions.
    let by_sex = compute(
        &db.pool,
        &query(date(0), date(95), vec![Dimension::Sex, Dimension::Month]),
    )
    .await
    .unwrap();
    let improved = by_sex
        .indicators
        .iter()
        .find(|f| f.code == IndicatorCode::ImprovedLivingConditionsRate)
        .unwrap();
    assert_eq!(
        (improved.total.numerator, improved.total.denominator),
        (Some(2), Some(2))
    );
    assert_eq!(improved.cells.len(), 1, "{:?}", improved.cells);
    // The milestone counts kept batch by batch (retraction and late event included) are what
    // a rebuild counts.
    let comparison = masar_projections::compare::compare(&db.pool, "beneficiaries", &|_| {})
        .await
        .unwrap();
    assert!(comparison.ok(), "{comparison:?}");

    // Repeated dimensions and empty periods are refused.
    let error = compute(
        &db.pool,
        &query(date(0), date(1), vec![Dimension::Sex, Dimension::Sex]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, IndicatorError::RepeatedDimension(Dimension::Sex)),
        "{error:?}"
    );
    let error = compute(&db.pool, &query(date(5), date(1), Vec::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, IndicatorError::EmptyPeriod { from, to } if from == date(5) && to == date(1)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_rebuild_gives_the_same_tables_and_checkpoint() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let items: Vec<RecordJourneyEvent> = (0..40)
        .flat_map(|n| {
            let id = BeneficiaryId::new(Uuid::new_v4());
            let mut journey = vec![item(id, 0, identified())];
            if n % 2 == 0 {
                journey.push(item(id, 1, sensitised("t")));
            }
            journey
        })
        .collect();
    let outcomes = record_batch(&write, items, None).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()));
    settle(&db.pool).await;
    // The rows, and the milestone counts kept with them.
    let snapshot = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT concat_ws(E'\\n', \
               (SELECT string_agg(b::text, E'\\n' ORDER BY beneficiary_id) \
                  FROM beneficiary_state b), \
               (SELECT string_agg(c::text, E'\\n' ORDER BY c::text) FROM milestone_counts c), \
               (SELECT string_agg(p::text, E'\\n' ORDER BY p::text) FROM milestone_pairs p))",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = snapshot(db.pool.clone()).await;
    let applied_before = applied(&db.pool, "beneficiaries").await;
    let steps = std::sync::Mutex::new(Vec::new());
    let report = rebuild(&db.pool, "beneficiaries", &|p: RebuildProgress| {
        steps.lock().unwrap().push(p);
    })
    .await
    .unwrap();
    assert_eq!(report.replayed, 60);
    assert_eq!(report.caught_up, 0);
    assert_eq!(snapshot(db.pool.clone()).await, before);
    assert_eq!(applied(&db.pool, "beneficiaries").await, applied_before);
    assert!(steps.lock().unwrap().contains(&RebuildProgress::Swapping));
    // The live runner goes on from the rebuilt checkpoint.
    let id = BeneficiaryId::new(Uuid::new_v4());
    record(&write, id, 0, identified()).await;
    settle(&db.pool).await;
    assert_exactly_once(&db.pool).await;
    // ... into the swapped-in counts too.
    let identified_total: i64 = sqlx::query_scalar(
        "SELECT sum(identified)::bigint FROM milestone_counts WHERE NOT by_cell",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(identified_total, 41);
    let error = rebuild(&db.pool, "nope", &|_| {}).await.unwrap_err();
    assert!(
        matches!(&error, RebuildError::UnknownProjection(name) if name == "nope"),
        "{error:?}"
    );
    let report = rebuild(&db.pool, "programme_activities", &|_| {})
        .await
        .unwrap();
    assert_eq!(report.replayed, 0);
}

/// A log line sink for [`tracing_subscriber`], kept for the test to read.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn a_read_past_the_projection_wait_says_it_is_stale() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    // Everything so far applied, then one identification acknowledged that no runner applies.
    settle(&db.pool).await;
    let before: i64 = count(&db.pool, "SELECT max(global_position) FROM events").await;
    record(&write, BeneficiaryId::new(Uuid::new_v4()), 0, identified()).await;
    let head: i64 = count(&db.pool, "SELECT max(global_position) FROM events").await;
    assert_eq!(head, before + 1);

    let schema = build_schema(
        ApiContext {
            write: write.clone(),
            tokens: TokenStore::new(db.pool.clone()),
            vault: None,
            notices: NoticeHub::start(db.pool.clone()),
            indicator_updates: masar::indicator_updates::UpdateHub::start(db.pool.clone()),
        },
        SchemaOptions {
            projection_wait: std::time::Duration::from_millis(200),
            ..SchemaOptions::default()
        },
    );
    let ask = || async {
        let request = async_graphql::Request::new(
            "{ beneficiaries { totalCount } indicators(programmeCode: \"AMUDDU-RSK\") { position } }",
        )
        .data(Principal {
            token_id: Uuid::new_v4(),
            organisation: common::org("ENABEL"),
            role: Role::Admin,
        });
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        serde_json::to_value(&response).unwrap()
    };

    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let stale = ask().await;
    drop(guard);

    // The figures are those before the write, and the response says how far behind they are.
    assert_eq!(stale["data"]["beneficiaries"]["totalCount"], 0, "{stale:#}");
    let position: i64 = stale["data"]["indicators"]["position"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(position, before, "{stale:#}");
    let behind = |projection: &str| {
        serde_json::json!({
            "projection": projection,
            "position": before.to_string(),
            "waitedFor": head.to_string(),
        })
    };
    assert_eq!(
        stale["extensions"]["stale"],
        serde_json::json!([behind("beneficiaries"), behind("programme_activities")]),
        "{stale:#}"
    );
    // The server's log says so too (once per wait: the beneficiaries projection is waited for
    // by both fields), naming the projection and the positions.
    let text = log.text();
    let mut warned = BTreeSet::new();
    for warning in text
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("marked stale"))
    {
        let projection = ["beneficiaries", "programme_activities"]
            .into_iter()
            .find(|name| warning.contains(&format!("projection.name=\"{name}\"")))
            .unwrap_or_else(|| panic!("no projection named: {warning}"));
        for field in [
            format!("projection.position={before}"),
            format!("projection.waited_for={head}"),
        ] {
            assert!(warning.contains(&field), "{field}: {warning}");
        }
        warned.insert(projection);
    }
    assert_eq!(
        warned,
        BTreeSet::from(["beneficiaries", "programme_activities"]),
        "{text}"
    );

    // Once the projections have caught up, the same read is current and says nothing more.
    settle(&db.pool).await;
    let current = ask().await;
    assert_eq!(
        current["data"]["beneficiaries"]["totalCount"], 1,
        "{current:#}"
    );
    assert_eq!(
        current["data"]["indicators"]["position"],
        head.to_string(),
        "{current:#}"
    );
    assert_eq!(current.get("extensions"), None, "{current:#}");
}

//! Read-side figures of the ingest benchmark's command:
//!   - rebuild rate of the beneficiaries projection from a log of `MASAR_BENCH_REBUILD_EVENTS`
//!     events (default 1,000,000), against the baseline of merely streaming the same rows out
//!     of PostgreSQL;
//!   - `indicators` latency (median and 99th percentile) for a programme of half the
//!     beneficiaries (100,000 at the default size), without and with two dimensions, against
//!     the baseline of counting that programme's rows.
//!
//! The log is written straight into `events` with COPY, with the hash-chain trigger switched
//! off on this throw-away database: hashing is not what is measured here, and would make
//! generating a million events take minutes.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cqrs_es::DomainEvent;
use masar_domain::beneficiary::{BeneficiaryEvent, JourneyFact};
use masar_domain::ids::{
    CountryCode, CourseCode, EventId, OrganisationCode, ProgrammeCode, RegionCode,
};
use masar_domain::values::{Dimension, LegalStatus, ReferralChannel, Sex, TrainingKind};
use masar_projections::copy::CopyWriter;
use masar_projections::indicators::{compute, IndicatorQuery};
use masar_projections::rebuild::rebuild;
use masar_projections::testing::fresh_database;
use sqlx::PgPool;
use uuid::Uuid;

const EVENTS_PER_PERSON: usize = 5;

/// A small deterministic generator (no need for cryptographic quality here).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn journey(
    rng: &mut Lcg,
    programme: &ProgrammeCode,
    start: DateTime<Utc>,
) -> Vec<BeneficiaryEvent> {
    let day = |d: u64| start + chrono::Duration::days(d as i64);
    let identified = rng.next(700);
    let course = CourseCode::parse("WELD-01").unwrap();
    let regions = ["MA-01", "MA-04", "MA-06", "MA-07"];
    let sexes = [Sex::Female, Sex::Male];
    let event = |at: DateTime<Utc>, fact: JourneyFact| BeneficiaryEvent {
        event_id: EventId::new(Uuid::new_v4()),
        occurred_at: at,
        recorded_by: OrganisationCode::parse("REMESS").unwrap(),
        fact,
    };
    vec![
        event(
            day(identified),
            JourneyFact::Identified {
                programme_code: programme.clone(),
                sex: sexes[rng.next(2) as usize],
                birth_year: Some(1970 + rng.next(35) as i32),
                nationality: CountryCode::parse("CI").unwrap(),
                legal_status: LegalStatus::RegularisedMigrant,
                region: RegionCode::parse(regions[rng.next(4) as usize]).unwrap(),
                city: None,
                channel: ReferralChannel::Association,
                household_with_children: None,
                education_level: None,
                consent: Default::default(),
                personal_data: None,
            },
        ),
        event(
            day(identified + 1 + rng.next(30)),
            JourneyFact::Sensitised {
                topic: "droits du travail".into(),
                session_id: None,
                location: None,
            },
        ),
        event(
            day(identified + 40),
            JourneyFact::TrainingEnrolled {
                course_code: course.clone(),
                course_name: "Soudure".into(),
                kind: TrainingKind::Vocational,
                planned_sessions: 1,
            },
        ),
        event(
            day(identified + 41 + rng.next(20)),
            JourneyFact::WorkshopAttended {
                course_code: course.clone(),
                session_number: 1,
            },
        ),
        event(
            day(identified + 90),
            JourneyFact::TrainingCompleted {
                course_code: course,
                certified: rng.next(2) == 0,
            },
        ),
    ]
}

/// Writes `people` journeys of two programmes (alternating) into `events`.
async fn generate(pool: &PgPool, people: usize) {
    let mut connection = pool.acquire().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_chain")
        .execute(&mut *connection)
        .await
        .unwrap();
    let programmes = [
        ProgrammeCode::parse("BENCH-A").unwrap(),
        ProgrammeCode::parse("BENCH-B").unwrap(),
    ];
    let start = Utc.with_ymd_and_hms(2023, 1, 2, 9, 0, 0).unwrap();
    let mut rng = Lcg(42);
    let mut copy = CopyWriter::new();
    let columns = "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
                   metadata, previous_hash, hash";
    for person in 0..people {
        let id = Uuid::new_v4().to_string();
        for (index, event) in journey(&mut rng, &programmes[person % 2], start)
            .into_iter()
            .enumerate()
        {
            copy.text("Beneficiary");
            copy.text(&id);
            copy.display(index + 1);
            copy.text(&event.event_type());
            copy.text(&event.event_version());
            copy.text(&serde_json::to_string(&event).unwrap());
            copy.text(
                &serde_json::json!({ "event_id": event.event_id, "organisation": "REMESS" })
                    .to_string(),
            );
            copy.null();
            copy.text("not hashed: benchmark data");
            copy.end_row();
        }
        if copy.len() > (8 << 20) {
            copy.send(&mut connection, "events", columns).await.unwrap();
        }
    }
    copy.send(&mut connection, "events", columns).await.unwrap();
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_chain")
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("ANALYZE events")
        .execute(&mut *connection)
        .await
        .unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn latencies<F, Fut>(runs: usize, mut run: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Warm up the caches first.
    for _ in 0..5 {
        run().await;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        run().await;
        times.push(started.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the read-side measurements and prints them.
pub async fn run(events: usize) {
    let people = events / EVENTS_PER_PERSON;
    let db = fresh_database().await;
    println!();
    println!(
        "read side: {} events ({people} beneficiaries in 2 programmes)",
        people * EVENTS_PER_PERSON
    );
    let started = Instant::now();
    generate(&db.pool, people).await;
    println!(
        "  (log generated in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // Baseline: stream the same rows out, in the same order, without doing anything with them.
    let started = Instant::now();
    let mut rows = sqlx::query_scalar::<_, String>(
        "SELECT payload::text FROM events WHERE aggregate_type = 'Beneficiary' \
         ORDER BY aggregate_id, sequence",
    )
    .fetch(&db.pool);
    let mut scanned = 0usize;
    while let Some(row) = futures::TryStreamExt::try_next(&mut rows).await.unwrap() {
        scanned += row.len().min(1);
    }
    drop(rows);
    let scan_rate = scanned as f64 / started.elapsed().as_secs_f64();
    println!("(d) baseline: stream the rows out of PostgreSQL:    {scan_rate:>10.0} events/s");

    let started = Instant::now();
    let report = rebuild(&db.pool, "beneficiaries", &|_| {}).await.unwrap();
    let rebuild_rate = report.replayed as f64 / started.elapsed().as_secs_f64();
    // The other projection too, so that both are current, as under a running server.
    rebuild(&db.pool, "programme_activities", &|_| {})
        .await
        .unwrap();
    println!("(e) rebuild of the beneficiaries projection:      {rebuild_rate:>10.0} events/s");
    // Steady state, as under a running server: autovacuum visits the rebuilt tables within a
    // minute or so (migrations/0007 makes it visit `beneficiary_state` often), which marks
    // their pages all-visible (index-only scans need that) and gives the planner statistics.
    // Here that is done at once rather than at an unknown moment during the measurements.
    sqlx::query(
        "VACUUM ANALYZE beneficiary_state, milestone_counts, milestone_pairs, programme_activity",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    println!("e/d = {:.2}", rebuild_rate / scan_rate);

    let query = |dimensions: Vec<Dimension>| IndicatorQuery {
        programme_code: "BENCH-A".into(),
        from: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        as_of: None,
        dimensions,
    };
    let pool = db.pool.clone();
    let (base_median, base_p99) = latencies(200, || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM beneficiary_state WHERE programme_code = 'BENCH-A'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
        }
    })
    .await;
    let plain = query(Vec::new());
    let (plain_median, plain_p99) = latencies(200, || {
        let (pool, plain) = (pool.clone(), plain.clone());
        async move {
            compute(&pool, &plain).await.unwrap();
        }
    })
    .await;
    let split = query(vec![Dimension::Sex, Dimension::Region]);
    let (split_median, split_p99) = latencies(200, || {
        let (pool, split) = (pool.clone(), split.clone());
        async move {
            compute(&pool, &split).await.unwrap();
        }
    })
    .await;
    println!(
        "indicators for {} beneficiaries, 200 runs each:    median      p99",
        people / 2
    );
    println!(
        "(f) baseline: count the programme's rows:         {:>7.1} ms {:>7.1} ms",
        ms(base_median),
        ms(base_p99)
    );
    println!(
        "(g) indicators, no disaggregation:                {:>7.1} ms {:>7.1} ms",
        ms(plain_median),
        ms(plain_p99)
    );
    println!(
        "(h) indicators by SEX and REGION:                 {:>7.1} ms {:>7.1} ms",
        ms(split_median),
        ms(split_p99)
    );
    println!(
        "g/f (p99) = {:.1}   h/f (p99) = {:.1}",
        ms(plain_p99) / ms(base_p99),
        ms(split_p99) / ms(base_p99)
    );
}

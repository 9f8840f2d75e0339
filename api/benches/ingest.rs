//! Ingest benchmark: events per second of
//!   (a) bare postgres-es appends, one command per event, through cqrs-es (the baseline);
//!   (b) raw 100-row multi-row INSERTs of the same kind of rows into the same `events` table
//!       (the limit: hash-chain trigger included, no decisions);
//!   (c) `recordJourneyEvents` over HTTP: batches of 500 from 4 concurrent clients, as
//!       GraphQL requests to the real server (axum, auth, GraphQL, the batch path) served in
//!       this process on a local port;
//!   and, to show what HTTP and GraphQL cost, (c0) the same batches given to the batch path
//!   (`masar::batch::record_batch`) directly.
//!
//! Then the read side (`read_side.rs`): projection rebuild rate and indicator latency.
//!
//! Run: `cargo bench -p masar --bench ingest` (PostgreSQL as for the tests: DATABASE_URL, or
//! the embedded cluster). `MASAR_BENCH_EVENTS` sets the events per ingest measurement (default
//! 20000), `MASAR_BENCH_REBUILD_EVENTS` the size of the log rebuilt (default 1,000,000);
//! `MASAR_BENCH_READ_SIDE_ONLY=1` skips (a)–(c0) and measures only the read side. Figures are
//! printed as events/s and as ratios measured in the same run, because absolute numbers on
//! shared machines are noise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/read_side.rs"]
mod read_side;

use std::time::Instant;

use common::{command, identified, sensitised, set_up};
use cqrs_es::DomainEvent;
use masar::auth::TokenStore;
use masar::batch::record_batch;
use masar::server::{build_app, AppState, ServerOptions};
use masar::write::WriteSide;
use masar_domain::beneficiary::{Beneficiary, BeneficiaryCommand, JourneyFact, RecordJourneyEvent};
use masar_domain::directory::DomainServices;
use masar_domain::ids::{BeneficiaryId, CourseCode};
use masar_domain::values::{Role, TrainingKind};
use masar_projections::testing::fresh_database;
use serde_json::{json, Value};
use uuid::Uuid;

const CLIENTS: usize = 4;
const EVENTS_PER_JOURNEY: usize = 5;

fn journey(id: BeneficiaryId) -> Vec<(masar::write::Envelope, BeneficiaryCommand)> {
    let course = CourseCode::parse("WELD-01").unwrap();
    vec![
        command(id, 0, identified()),
        command(id, 1, sensitised("droits du travail")),
        command(
            id,
            2,
            JourneyFact::TrainingEnrolled {
                course_code: course.clone(),
                course_name: "Soudure".into(),
                kind: TrainingKind::Vocational,
                planned_sessions: 4,
            },
        ),
        command(
            id,
            3,
            JourneyFact::WorkshopAttended {
                course_code: course.clone(),
                session_number: 1,
            },
        ),
        command(
            id,
            9,
            JourneyFact::TrainingCompleted {
                course_code: course,
                certified: true,
            },
        ),
    ]
}

fn record_of(command: BeneficiaryCommand) -> RecordJourneyEvent {
    match command {
        BeneficiaryCommand::Record(record) => record,
        BeneficiaryCommand::ErasePersonalData(_) => unreachable!(),
    }
}

/// (a) one cqrs-es command per event, CLIENTS concurrent clients.
async fn bare_postgres_es(events: usize) -> f64 {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let journeys = events / EVENTS_PER_JOURNEY;
    let start = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let write = write.clone();
        clients.push(tokio::spawn(async move {
            for _ in (client..journeys).step_by(CLIENTS) {
                let id = BeneficiaryId::new(Uuid::new_v4());
                for (envelope, command) in journey(id) {
                    write
                        .beneficiaries
                        .execute_with_metadata(&id.to_string(), command, envelope.metadata())
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    (journeys * EVENTS_PER_JOURNEY) as f64 / start.elapsed().as_secs_f64()
}

/// (b) the same rows, decided beforehand, as 100-row multi-row INSERTs, CLIENTS concurrent.
async fn raw_inserts(events: usize) -> f64 {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let services = DomainServices {
        directory: write.directory.clone(),
    };
    let journeys = events / EVENTS_PER_JOURNEY;
    let mut rows: Vec<(String, i64, String, String, String, String)> = Vec::new();
    for _ in 0..journeys {
        let id = BeneficiaryId::new(Uuid::new_v4());
        let mut aggregate = Beneficiary::default();
        for (envelope, command) in journey(id) {
            for event in aggregate.decide(command, &services).unwrap() {
                rows.push((
                    id.to_string(),
                    aggregate.version() as i64 + 1,
                    event.event_type(),
                    event.event_version(),
                    serde_json::to_string(&event).unwrap(),
                    serde_json::to_string(&envelope.metadata()).unwrap(),
                ));
                cqrs_es::Aggregate::apply(&mut aggregate, event);
            }
        }
    }
    let chunks: Vec<Vec<_>> = rows.chunks(100).map(<[_]>::to_vec).collect();
    let start = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let pool = db.pool.clone();
        let mine: Vec<Vec<_>> = chunks
            .iter()
            .skip(client)
            .step_by(CLIENTS)
            .cloned()
            .collect();
        clients.push(tokio::spawn(async move {
            for chunk in mine {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) ",
                );
                query.push_values(chunk, |mut row, (id, sequence, event_type, version, payload, metadata)| {
                    row.push_bind("Beneficiary")
                        .push_bind(id)
                        .push_bind(sequence)
                        .push_bind(event_type)
                        .push_bind(version)
                        .push_bind(payload)
                        .push_unseparated("::json")
                        .push_bind(metadata)
                        .push_unseparated("::json");
                });
                query.build().execute(&pool).await.unwrap();
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    rows.len() as f64 / start.elapsed().as_secs_f64()
}

/// (c0) `record_batch` with batches of 500 events from CLIENTS concurrent clients.
async fn batch_path(events: usize) -> f64 {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let journeys = events / EVENTS_PER_JOURNEY;
    let per_batch = 500 / EVENTS_PER_JOURNEY;
    let batches: Vec<Vec<RecordJourneyEvent>> = (0..journeys.div_ceil(per_batch))
        .map(|_| {
            (0..per_batch)
                .flat_map(|_| journey(BeneficiaryId::new(Uuid::new_v4())))
                .map(|(_, command)| record_of(command))
                .collect()
        })
        .collect();
    let total: usize = batches.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let write = write.clone();
        let mine: Vec<_> = batches
            .iter()
            .skip(client)
            .step_by(CLIENTS)
            .cloned()
            .collect();
        clients.push(tokio::spawn(async move {
            for batch in mine {
                let outcomes = record_batch(&write, batch, None).await;
                assert!(outcomes
                    .iter()
                    .all(|o| o.status == masar::record::SubmissionStatus::Accepted));
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

const RECORD: &str = "mutation Record($events: [JourneyEventSubmission!]!) { \
    recordJourneyEvents(events: $events) { accepted duplicates rejected } }";

/// One journey as the GraphQL submissions a partner's client sends.
fn journey_submissions(id: Uuid) -> Vec<Value> {
    let event = |day: u32, event: Value| {
        json!({
            "eventId": Uuid::new_v4(),
            "beneficiaryId": id,
            "occurredAt": format!("2024-03-{:02}T09:00:00Z", day),
            "event": event,
        })
    };
    vec![
        event(
            1,
            json!({ "identified": {
                "programmeCode": "AMUDDU-RSK", "sex": "FEMALE", "birthYear": 1994,
                "nationality": "CI", "legalStatus": "REGULARISED_MIGRANT", "region": "MA-04",
                "city": "Rabat", "channel": "ASSOCIATION", "householdWithChildren": true,
            }}),
        ),
        event(2, json!({ "sensitised": { "topic": "droits du travail" } })),
        event(
            3,
            json!({ "trainingEnrolled": {
                "courseCode": "WELD-01", "courseName": "Soudure", "kind": "VOCATIONAL",
                "plannedSessions": 4,
            }}),
        ),
        event(
            4,
            json!({ "workshopAttended": { "courseCode": "WELD-01", "sessionNumber": 1 } }),
        ),
        event(
            10,
            json!({ "trainingCompleted": { "courseCode": "WELD-01", "certified": true } }),
        ),
    ]
}

/// (c) `recordJourneyEvents` over HTTP: the server on a local port, CLIENTS concurrent clients
/// each sending its share of the batches of 500, one request after the other.
async fn graphql_over_http(events: usize) -> f64 {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let token = TokenStore::new(db.pool.clone())
        .issue(&common::org("REMESS"), Role::Partner, "ingest benchmark")
        .await
        .unwrap()
        .secret;
    let state = AppState::new(db.pool.clone(), None, ServerOptions::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, build_app(state)).await });

    let journeys = events / EVENTS_PER_JOURNEY;
    let per_batch = 500 / EVENTS_PER_JOURNEY;
    let bodies: Vec<(usize, String)> = (0..journeys.div_ceil(per_batch))
        .map(|_| {
            let batch: Vec<Value> = (0..per_batch)
                .flat_map(|_| journey_submissions(Uuid::new_v4()))
                .collect();
            let body = json!({ "query": RECORD, "variables": { "events": batch } });
            (batch.len(), body.to_string())
        })
        .collect();
    let total: usize = bodies.iter().map(|(n, _)| n).sum();
    let start = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let mine: Vec<_> = bodies
            .iter()
            .skip(client)
            .step_by(CLIENTS)
            .cloned()
            .collect();
        let (url, token) = (url.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for (size, body) in mine {
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let answer: Value = response.json().await.unwrap();
                assert_eq!(
                    answer["data"]["recordJourneyEvents"]["accepted"],
                    json!(size),
                    "{answer}"
                );
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    server.abort();
    rate
}

fn main() {
    let events: usize = std::env::var("MASAR_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let read_side_only = std::env::var("MASAR_BENCH_READ_SIDE_ONLY").is_ok_and(|v| v == "1");
    runtime.block_on(async {
        if !read_side_only {
            ingest(events).await;
        }
        let read_events: usize = std::env::var("MASAR_BENCH_REBUILD_EVENTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000_000);
        read_side::run(read_events).await;
    });
}

/// (a)–(c0), printed with their ratios.
async fn ingest(events: usize) {
    println!("ingest benchmark: {events} events per measurement, {CLIENTS} concurrent clients");
    let a = bare_postgres_es(events).await;
    println!("(a) bare postgres-es, one command per event:       {a:>10.0} events/s");
    let b = raw_inserts(events).await;
    println!("(b) raw 100-row multi-row INSERTs (the limit):     {b:>10.0} events/s");
    let c = graphql_over_http(events).await;
    println!("(c) recordJourneyEvents over HTTP, 500/batch:      {c:>10.0} events/s");
    let c0 = batch_path(events).await;
    println!("(c0) the same batches to the batch path in process: {c0:>9.0} events/s");
    println!(
        "c/a = {:.2}   c/b = {:.2}   c/c0 = {:.2}",
        c / a,
        c / b,
        c / c0
    );
}

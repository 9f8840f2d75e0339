//! `masar demo`'s data on real PostgreSQL, at a small scale: every programme and organisation
//! of the facts registered with its targets, the planned people identified, retractions, exits
//! and late entries recorded, nothing refused, and nothing new recorded by a second run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use masar::demo::facts::Facts;
use masar::demo::generate::{self, PlanOptions, DEFAULT_SEED};
use masar::demo::{self, DemoOptions, DemoReport, Progress};
use masar::graphql::reads;
use masar::privacy::{MasterKey, PersonalDataVault};
use masar::write::WriteSide;
use masar_domain::beneficiary::{BeneficiaryEvent, JourneyFact};
use masar_domain::ids::{BeneficiaryId, ProgrammeCode};
use masar_domain::values::{Sex, TargetValue};
use masar_projections::event_log::{read_log, verify_chain, StoredEvent};
use masar_projections::testing::fresh_database;
use sqlx::PgPool;

const SCALE: f64 = 0.02;

async fn run(write: &WriteSide, vault: &PersonalDataVault, options: &DemoOptions) -> DemoReport {
    demo::run(write, Some(vault), options, &mut Progress::hidden())
        .await
        .unwrap()
}

async fn whole_log(pool: &PgPool) -> Vec<StoredEvent> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &StoredEvent| e.global_position);
        let page = read_log(pool, after, 10_000).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn the_demo_records_valid_journeys_of_the_facts_once() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let options = DemoOptions::new(PlanOptions::new(DEFAULT_SEED, SCALE).unwrap());
    let facts = Facts::embedded().unwrap();

    let report = run(&write, &vault, &options).await;
    let plan = generate::plan(&facts, &options.plan, demo::cutoff(Utc::now()));

    // Nothing refused, everything new.
    assert_eq!(report.rejected(), 0, "{:#?}", report.rejections);
    assert_eq!(report.journey_events.accepted, plan.event_count());
    assert_eq!(report.journey_events.duplicate, 0);
    assert_eq!(report.activities.accepted, plan.activities.len());
    assert_eq!(report.organisations.accepted, facts.organisations.len());
    assert_eq!(report.programmes.accepted, facts.programmes.len());
    assert!(report.sealed_personal_data > 0);

    // Every organisation and programme of the facts, with its targets.
    let organisations = reads::organisations(&db.pool).await.unwrap();
    for organisation in &facts.organisations {
        let stored = &organisations[organisation.code.as_str()];
        assert_eq!(stored.name(), Some(organisation.name.as_str()));
        assert_eq!(stored.kind(), organisation.kind.as_deref());
    }
    let programmes = reads::programmes(&db.pool).await.unwrap();
    assert_eq!(programmes.len(), facts.programmes.len());
    for programme in &facts.programmes {
        let stored = &programmes[programme.code.as_str()];
        let registration = stored.registration().unwrap();
        assert_eq!(registration.regions, programme.regions);
        assert_eq!(registration.partners, programme.partners);
        assert_eq!(registration.start_date, programme.start());
        assert_eq!(registration.end_date, programme.end_date);
        if programme.has_illustrative_start() {
            assert!(registration
                .description
                .as_deref()
                .unwrap()
                .contains("illustrative start date"));
        }
        let targets: BTreeMap<_, _> = programme
            .targets
            .iter()
            .map(|(code, value)| (*code, TargetValue::from_f64(*value).unwrap()))
            .collect();
        assert_eq!(stored.targets(), &targets, "{}", programme.code);
    }

    // The log: chains intact, the planned people identified, drawn from the facts.
    let log = whole_log(&db.pool).await;
    let mut streams: BTreeMap<(&str, &str), Vec<StoredEvent>> = BTreeMap::new();
    for event in &log {
        streams
            .entry((event.aggregate_type.as_str(), event.aggregate_id.as_str()))
            .or_default()
            .push(event.clone());
    }
    for events in streams.values() {
        assert_eq!(verify_chain(events), vec![]);
    }
    let journey: Vec<(&StoredEvent, BeneficiaryEvent)> = log
        .iter()
        .filter(|e| e.aggregate_type == "Beneficiary")
        .map(|e| (e, serde_json::from_value(e.payload.clone()).unwrap()))
        .collect();
    let mut identified: BTreeMap<ProgrammeCode, usize> = BTreeMap::new();
    let mut with_personal_data = 0;
    for (_, event) in &journey {
        let JourneyFact::Identified {
            programme_code,
            sex,
            region,
            city,
            nationality,
            personal_data,
            ..
        } = &event.fact
        else {
            continue;
        };
        *identified.entry(programme_code.clone()).or_default() += 1;
        let programme = facts
            .programmes
            .iter()
            .find(|p| &p.code == programme_code)
            .unwrap();
        assert!(programme.regions.contains(region), "{region}");
        if let Some(city) = city {
            assert!(programme.cities.contains(city), "{city}");
        }
        assert!(programme.partners.contains(&event.recorded_by));
        assert!(Sex::ALL.contains(sex));
        assert_eq!(nationality.as_str().len(), 2);
        with_personal_data += usize::from(personal_data.is_some());
    }
    assert_eq!(identified, plan.people_by_programme());
    assert_eq!(identified.len(), facts.programmes.len());
    assert_eq!(with_personal_data, report.sealed_personal_data);
    let sexes: BTreeSet<Sex> = journey
        .iter()
        .filter_map(|(_, e)| match &e.fact {
            JourneyFact::Identified { sex, .. } => Some(*sex),
            _ => None,
        })
        .collect();
    assert!(sexes.contains(&Sex::Female) && sexes.contains(&Sex::Male));

    // Sealed personal data opens for its beneficiary.
    let (sealed_event, sealed) = journey
        .iter()
        .find_map(|(stored, e)| match &e.fact {
            JourneyFact::Identified {
                personal_data: Some(sealed),
                ..
            } => Some((*stored, sealed)),
            _ => None,
        })
        .unwrap();
    let id: BeneficiaryId = sealed_event.aggregate_id.parse().unwrap();
    let opened = vault.open(id, sealed).await.unwrap().unwrap();
    assert!(opened.full_name().is_some() && opened.phone().is_some());

    // Retractions, exits, referrals to partners, programme activities.
    let types: BTreeMap<&str, usize> = journey.iter().fold(BTreeMap::new(), |mut m, (s, _)| {
        *m.entry(s.event_type.as_str()).or_default() += 1;
        m
    });
    for kind in [
        "Retracted",
        "Exited",
        "Referred",
        "TrainingDropped",
        "FollowedUp",
        "BusinessLaunched",
    ] {
        assert!(
            types.get(kind).copied().unwrap_or(0) > 0,
            "no {kind}: {types:?}"
        );
    }
    assert!(journey.iter().any(|(_, e)| {
        matches!(
            &e.fact,
            JourneyFact::Referred {
                organisation_code: Some(_),
                ..
            }
        )
    }));
    assert!(
        count(
            &db.pool,
            "SELECT count(*) FROM events WHERE event_type IN ('CompanyEngaged', 'TrainerTrained')"
        )
        .await
            > 0
    );

    // Late entries: stored after an event of the same stream that happened later.
    let late: BTreeSet<String> = plan
        .events()
        .filter(|e| e.late)
        .map(|e| e.event_id.to_string())
        .collect();
    assert!(!late.is_empty());
    assert_eq!(report.late_entries, late.len());
    let mut stored_late = 0;
    for ((kind, _), events) in &streams {
        if *kind != "Beneficiary" {
            continue;
        }
        for (index, event) in events.iter().enumerate() {
            let event_id = event.metadata["event_id"].as_str().unwrap();
            if !late.contains(event_id) {
                continue;
            }
            let occurred = |e: &StoredEvent| {
                chrono::DateTime::parse_from_rfc3339(e.metadata["occurred_at"].as_str().unwrap())
                    .unwrap()
            };
            assert!(events[..index]
                .iter()
                .any(|earlier| occurred(earlier) > occurred(event)));
            stored_late += 1;
        }
    }
    assert_eq!(stored_late, late.len());

    // A second run records nothing new.
    let events_before = count(&db.pool, "SELECT count(*) FROM events").await;
    let keys_before = count(&db.pool, "SELECT count(*) FROM personal_data_keys").await;
    let again = run(&write, &vault, &options).await;
    assert_eq!(again.rejected(), 0, "{:#?}", again.rejections);
    assert_eq!(again.journey_events.accepted, 0);
    assert_eq!(again.journey_events.duplicate, plan.event_count());
    assert_eq!(again.activities.accepted, 0);
    assert_eq!(again.activities.duplicate, plan.activities.len());
    assert_eq!(
        again.organisations.accepted + again.programmes.accepted + again.targets.accepted,
        0
    );
    assert_eq!(again.sealed_personal_data, 0);
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM events").await,
        events_before
    );
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM personal_data_keys").await,
        keys_before
    );
}

#[tokio::test]
async fn registrations_made_before_the_demo_are_kept() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    // ENABEL bootstrapped beforehand under another event id, as `masar token issue
    // --organisation-name` does.
    common::envelope_exec_org(&write, "ENABEL").await;
    write.directory.refresh(&write.pool).await.unwrap();
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let options = DemoOptions {
        concurrency: 1,
        batch_size: 50,
        ..DemoOptions::new(PlanOptions::new(5, 0.005).unwrap())
    };
    let first = run(&write, &vault, &options).await;
    assert_eq!(first.rejected(), 0, "{:#?}", first.rejections);
    assert_eq!(first.organisations.duplicate, 1);
    // Another seed: new people, same registrations.
    let other = DemoOptions {
        plan: PlanOptions::new(6, 0.005).unwrap(),
        ..options
    };
    let second = run(&write, &vault, &other).await;
    assert_eq!(second.rejected(), 0, "{:#?}", second.rejections);
    assert_eq!(second.organisations.accepted, 0);
    assert_eq!(second.programmes.accepted, 0);
    assert_eq!(second.targets.accepted, 0);
    assert!(second.journey_events.accepted > 0);
    let people: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT aggregate_type, count(DISTINCT aggregate_id) FROM events GROUP BY aggregate_type",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let planned: usize =
        first.people.values().sum::<usize>() + second.people.values().sum::<usize>();
    assert_eq!(people["Beneficiary"], planned as i64);
}

#[tokio::test]
async fn refused_events_are_reported_not_dropped() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    // AMUDDU-RSK registered beforehand with a later start and fewer partners than the facts
    // say: the demo keeps that registration, and its journeys then break the rules.
    common::set_up(&write).await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let options = DemoOptions::new(PlanOptions::new(DEFAULT_SEED, SCALE).unwrap());
    let report = run(&write, &vault, &options).await;
    assert!(report.rejected() > 0);
    assert_eq!(
        report.journey_events.total(),
        report.journey_events.accepted + report.journey_events.rejected
    );
    let rejection = &report.rejections[0];
    assert!(!rejection.message.is_empty());
    assert!(
        rejection.code == masar_domain::ErrorCode::DatedBeforeStart
            || rejection.code == masar_domain::ErrorCode::Forbidden,
        "{rejection:?}"
    );
}

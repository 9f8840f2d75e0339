//! The indicator reference test. A seeded random scenario — more than 2,000 beneficiaries of
//! four partners in three regions, with drop-outs, late entries, retractions (identifications
//! included) and exits — is recorded through the API in three phases; the whole event log is
//! read back as an auditor would, every indicator is recomputed from it with an independent
//! implementation of `api/contract/INDICATORS.md` (`reference/compute.rs`), and the server's
//! `indicators` must give exactly the same table for several periods, `asOf` instants and
//! disaggregations. A DASHBOARD reads the same figures with small counts suppressed.

#[path = "reference/mod.rs"]
mod reference;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use reference::compute::{self, CellKey, Dimension, Figures, Indicator, LogEvent, Report, Request};
use reference::scenario::{self, Fact, Scenario, OTHER_PROGRAMME, PARTNERS, PROGRAMME};

const RECORD: &str = r#"
mutation Record($events: [JourneyEventSubmission!]!) {
  recordJourneyEvents(events: $events) {
    accepted duplicates rejected
    results { eventId status error { code message field } }
  }
}"#;

const ACTIVITY: &str = r#"
mutation Activity($input: ProgrammeActivitySubmission!) {
  recordProgrammeActivity(input: $input) { eventId status error { code message field } }
}"#;

const EVENT_LOG: &str = r#"
query Log($after: Position, $first: Int) {
  eventLog(after: $after, first: $first) {
    events { globalPosition aggregateType aggregateId sequence eventType payload recordedAt }
    nextAfter head
  }
}"#;

const INDICATORS: &str = r#"
query Indicators($programme: String!, $period: PeriodInput, $asOf: DateTime, $by: [Dimension!]) {
  indicators(programmeCode: $programme, period: $period, asOf: $asOf, disaggregateBy: $by) {
    programmeCode period { from to } asOf position
    indicators {
      code kind value numerator denominator target suppressed
      breakdown { dimensions { dimension value } value numerator denominator suppressed }
    }
  }
}"#;

/// Targets set before any journey event; the second IDENTIFIED target replaces the first.
const TARGETS: [(&str, &str, f64); 6] = [
    (PROGRAMME, "IDENTIFIED", 1500.0),
    (PROGRAMME, "IDENTIFIED", 2000.0),
    (PROGRAMME, "FOLLOW_UP_RATE", 75.5),
    (PROGRAMME, "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED", 180.0),
    (PROGRAMME, "COMPANIES_ENGAGED", 12.0),
    (OTHER_PROGRAMME, "IDENTIFIED", 40.0),
];

/// The disaggregations compared.
const DISAGGREGATIONS: [&[Dimension]; 7] = [
    &[],
    &[Dimension::Sex],
    &[Dimension::Region, Dimension::Partner],
    &[Dimension::AgeBand],
    &[Dimension::Month],
    &[Dimension::Quarter, Dimension::LegalStatus],
    &[Dimension::Nationality],
];

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// The periods compared: the default, a year, a quarter, a month, and one open-ended.
fn periods() -> Vec<(Option<NaiveDate>, Option<NaiveDate>)> {
    vec![
        (None, None),
        (Some(date("2024-01-01")), Some(date("2024-12-31"))),
        (Some(date("2024-04-01")), Some(date("2024-06-30"))),
        (Some(date("2025-02-01")), Some(date("2025-02-28"))),
        (Some(date("2024-07-01")), None),
    ]
}

#[tokio::test]
async fn every_indicator_equals_an_independent_computation_from_the_event_log() {
    let started = Instant::now();
    let app = spawn_app().await;
    let admin = app.issue_token("REF-ADMIN", "admin", Some("Administration du programme"));
    set_up(&app, &admin).await;
    let mut partners = Vec::new();
    for code in PARTNERS {
        partners.push(issue(&app, &admin, code, "PARTNER").await);
    }
    let auditor = issue(&app, &admin, "REF-ADMIN", "AUDITOR").await;
    let dashboard = issue(&app, &admin, "REF-ADMIN", "DASHBOARD").await;

    let scenario = scenario::generate();
    summarise(&scenario);

    // Three phases; after each, the log is read on to its end, and the latest `recordedAt`
    // the server wrote is the instant "what was known after that phase".
    let mut log: Vec<LogEvent> = Vec::new();
    let mut after: Option<String> = None;
    let mut known_after_phase: Vec<DateTime<Utc>> = Vec::new();
    for phase in 1..=3 {
        record_phase(&app, &partners, &scenario, phase).await;
        read_log(&app, &auditor, &mut log, &mut after).await;
        known_after_phase.push(log.iter().map(|e| e.recorded_at).max().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check_log(&scenario, &log, &known_after_phase);
    let head = log.iter().map(|e| e.position).max().unwrap();
    println!(
        "recorded and read back {} log events in {:?}",
        log.len(),
        started.elapsed()
    );
    let (t1, t2) = (known_after_phase[0], known_after_phase[1]);

    wait_for_projections(&app, &admin).await;

    let overview = compute::compute(
        &log,
        &Request {
            programme: PROGRAMME.to_owned(),
            from: None,
            to: None,
            as_of: None,
            dimensions: Vec::new(),
            today: Utc::now().date_naive(),
        },
    );
    for indicator in &overview.indicators {
        let f = indicator.figures;
        println!(
            "{:<36} {:>8} {:>6} {:>6}",
            indicator.code,
            f.value.map_or("-".to_owned(), |v| format!("{v:.2}")),
            f.numerator.map_or("-".to_owned(), |n| n.to_string()),
            f.denominator.map_or("-".to_owned(), |n| n.to_string()),
        );
    }

    // ADMIN: every figure equals the reference. Three queries are in flight at a time; the
    // reference of each is computed while the server works on the next ones.
    // Every disaggregation for the default period; for the other periods, no disaggregation
    // and three of the others in turn (so that each period meets each of them).
    let mut requests = Vec::new();
    let mut turn = 0;
    for (index, (from, to)) in periods().into_iter().enumerate() {
        for as_of in [None, Some(t1), Some(t2)] {
            let chosen: Vec<&[Dimension]> = if index == 0 {
                DISAGGREGATIONS.to_vec()
            } else {
                let mut chosen = vec![DISAGGREGATIONS[0]];
                for _ in 0..3 {
                    chosen.push(DISAGGREGATIONS[1 + turn % (DISAGGREGATIONS.len() - 1)]);
                    turn += 1;
                }
                chosen
            };
            for dimensions in chosen {
                requests.push(Request {
                    programme: PROGRAMME.to_owned(),
                    from,
                    to,
                    as_of,
                    dimensions: dimensions.to_vec(),
                    today: Utc::now().date_naive(),
                });
            }
        }
    }
    let compared = requests.len();
    let (app, admin) = (&app, admin.as_str());
    let mut answers = futures::stream::iter(requests)
        .map(|request| async move {
            let actual = query(app, admin, &request).await;
            (request, actual)
        })
        .buffered(3);
    while let Some((request, actual)) = answers.next().await {
        let expected = compute::compute(&log, &request);
        let report = &actual["indicators"];
        assert_eq!(report["programmeCode"], PROGRAMME);
        let as_of = report["asOf"]
            .as_str()
            .map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc));
        assert_eq!(as_of, request.as_of, "{}: asOf", describe(&request));
        let head = request.as_of.is_none().then_some(head);
        if let Err(difference) = compare(&expected, report, head) {
            panic!("{}: {difference}", describe(&request));
        }
    }
    println!(
        "{compared} indicator tables equal the reference ({:?})",
        started.elapsed()
    );

    // A DASHBOARD: the same figures, with every count from 1 to 4 suppressed.
    for dimensions in [
        &[Dimension::Region, Dimension::Partner][..],
        &[Dimension::Month],
        &[],
    ] {
        let request = Request {
            programme: PROGRAMME.to_owned(),
            from: Some(date("2024-01-01")),
            to: Some(date("2024-12-31")),
            as_of: None,
            dimensions: dimensions.to_vec(),
            today: Utc::now().date_naive(),
        };
        let expected = compute::compute(&log, &request);
        let actual = query(app, &dashboard, &request).await;
        if let Err(difference) = compare_suppressed(&expected, &actual["indicators"]) {
            panic!("DASHBOARD, {}: {difference}", describe(&request));
        }
    }
    println!("done in {:?}", started.elapsed());
}

// ------------------------------------------------------------------------------- set-up

async fn set_up(app: &TestApp, admin: &str) {
    for code in PARTNERS {
        let response = app
            .graphql(
                "mutation($input: RegisterOrganisationInput!) { registerOrganisation(input: $input) { code } }",
                json!({ "input": { "code": code, "name": format!("Association {code}"), "kind": "NGO" } }),
                Some(admin),
            )
            .await;
        assert_eq!(response.data()["registerOrganisation"]["code"], code);
    }
    for (code, regions, partners) in [
        (PROGRAMME, scenario::REGIONS.to_vec(), PARTNERS.to_vec()),
        (
            OTHER_PROGRAMME,
            vec![scenario::OTHER_REGION],
            PARTNERS[..2].to_vec(),
        ),
    ] {
        let response = app
            .graphql(
                "mutation($input: RegisterProgrammeInput!) { registerProgramme(input: $input) { code startDate } }",
                json!({ "input": {
                    "code": code,
                    "name": format!("Programme {code}"),
                    "country": "MA",
                    "regions": regions,
                    "startDate": scenario::START,
                    "partnerCodes": partners,
                }}),
                Some(admin),
            )
            .await;
        assert_eq!(
            response.data()["registerProgramme"],
            json!({ "code": code, "startDate": scenario::START })
        );
    }
    for (programme, indicator, target) in TARGETS {
        let response = app
            .graphql(
                "mutation($p: String!, $i: IndicatorCode!, $t: Float!) { setIndicatorTarget(programmeCode: $p, indicator: $i, target: $t) { code } }",
                json!({ "p": programme, "i": indicator, "t": target }),
                Some(admin),
            )
            .await;
        assert_eq!(response.data()["setIndicatorTarget"]["code"], programme);
    }
}

async fn issue(app: &TestApp, admin: &str, organisation: &str, role: &str) -> String {
    let response = app
        .graphql(
            "mutation($org: String!, $role: Role!) { issueApiToken(organisationCode: $org, role: $role, label: \"reference\") { secret } }",
            json!({ "org": organisation, "role": role }),
            Some(admin),
        )
        .await;
    response.data()["issueApiToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn summarise(scenario: &Scenario) {
    let main = scenario
        .beneficiaries
        .iter()
        .filter(|b| {
            matches!(b.events[0].fact, Fact::Identified { programme, .. } if programme == PROGRAMME)
        })
        .count();
    assert!(main >= 2_000, "{main} beneficiaries");
    let retractions = scenario.count(|f| matches!(f, Fact::Retracted { .. }));
    let identified_ids: BTreeSet<_> = scenario
        .beneficiaries
        .iter()
        .map(|b| b.events[0].id)
        .collect();
    let identifications_retracted = scenario
        .count(|f| matches!(f, Fact::Retracted { target } if identified_ids.contains(target)));
    let late = scenario
        .beneficiaries
        .iter()
        .flat_map(|b| {
            b.events.iter().filter(|e| {
                b.events
                    .iter()
                    .any(|other| other.phase < e.phase && other.at > e.at)
            })
        })
        .filter(|e| !matches!(e.fact, Fact::Retracted { .. }))
        .count();
    let per_phase: Vec<usize> = (1..=3)
        .map(|phase| {
            scenario
                .beneficiaries
                .iter()
                .flat_map(|b| &b.events)
                .filter(|e| e.phase == phase)
                .count()
        })
        .collect();
    println!(
        "scenario: {} beneficiaries ({main} in {PROGRAMME}), {} journey events {per_phase:?} by phase, \
         {retractions} retractions ({identifications_retracted} of an identification), {late} late entries, \
         {} exits, {} programme activities",
        scenario.beneficiaries.len(),
        scenario.event_count(),
        scenario.count(|f| *f == Fact::Exited),
        scenario.activities.len(),
    );
    assert!(retractions >= 100 && identifications_retracted >= 20 && late >= 200);
}

// ---------------------------------------------------------------------------- recording

async fn record_phase(app: &TestApp, partners: &[String], scenario: &Scenario, phase: u8) {
    let per_partner = (0..PARTNERS.len()).map(|partner| async move {
        let token = partners[partner].as_str();
        let submissions = scenario.submissions(partner, phase);
        for batch in submissions.chunks(1_000) {
            let response = app
                .graphql(RECORD, json!({ "events": batch }), Some(token))
                .await;
            let payload = &response.data()["recordJourneyEvents"];
            let rejected: Vec<String> = payload["results"]
                .as_array()
                .unwrap()
                .iter()
                .zip(batch)
                .filter(|(result, _)| result["status"] != "ACCEPTED")
                .take(5)
                .map(|(result, submission)| format!("{result}\n  for {submission}"))
                .collect();
            assert!(
                rejected.is_empty(),
                "phase {phase}, {}: {} accepted of {}; first refusals:\n{}",
                PARTNERS[partner],
                payload["accepted"],
                batch.len(),
                rejected.join("\n")
            );
            assert_eq!(payload["accepted"], batch.len());
        }
        for activity in scenario
            .activities
            .iter()
            .filter(|a| a.partner == partner && a.phase == phase)
        {
            let input = json!({
                "activityId": activity.id,
                "programmeCode": activity.programme,
                "occurredAt": activity.at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "activity": activity.activity,
            });
            let response = app
                .graphql(ACTIVITY, json!({ "input": input }), Some(token))
                .await;
            assert_eq!(
                response.data()["recordProgrammeActivity"]["status"],
                "ACCEPTED",
                "{input}: {:#}",
                response.body
            );
        }
    });
    futures::future::join_all(per_partner).await;
}

/// Reads the log on from `after` to its end, in pages of 10,000.
async fn read_log(
    app: &TestApp,
    auditor: &str,
    log: &mut Vec<LogEvent>,
    after: &mut Option<String>,
) {
    loop {
        let response = app
            .graphql(
                EVENT_LOG,
                json!({ "after": after, "first": 10_000 }),
                Some(auditor),
            )
            .await;
        let page = &response.data()["eventLog"];
        let events = page["events"].as_array().unwrap();
        log.extend(events.iter().map(LogEvent::from_json));
        if let Some(last) = events.last() {
            *after = Some(last["globalPosition"].as_str().unwrap().to_owned());
        }
        if events.is_empty() || page["nextAfter"].is_null() {
            return;
        }
    }
}

/// The log holds every planned event once, each recorded in its phase: after the instant
/// that closed the phase before.
fn check_log(scenario: &Scenario, log: &[LogEvent], known_after_phase: &[DateTime<Utc>]) {
    let positions: BTreeSet<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), log.len(), "a position read twice");
    let recorded: BTreeMap<&str, &LogEvent> = log
        .iter()
        .filter(|e| e.aggregate_type == "Beneficiary")
        .map(|e| (e.event_id(), e))
        .collect();
    assert_eq!(recorded.len(), scenario.event_count());
    for b in &scenario.beneficiaries {
        for planned in &b.events {
            let event = recorded
                .get(planned.id.to_string().as_str())
                .unwrap_or_else(|| panic!("{} not in the log", planned.id));
            assert_eq!(event.aggregate_id, b.id.to_string());
            assert_eq!(event.occurred_at(), planned.at);
            let phase = usize::from(planned.phase);
            assert!(event.recorded_at <= known_after_phase[phase - 1]);
            if phase > 1 {
                assert!(event.recorded_at > known_after_phase[phase - 2]);
            }
        }
    }
    let activities = log
        .iter()
        .filter(|e| matches!(e.event_type.as_str(), "CompanyEngaged" | "TrainerTrained"))
        .count();
    assert_eq!(activities, scenario.activities.len());
    let sample: Vec<&LogEvent> = [
        "Identified",
        "WorkshopAttended",
        "Retracted",
        "CompanyEngaged",
    ]
    .iter()
    .filter_map(|t| log.iter().find(|e| e.event_type == *t))
    .collect();
    for event in sample {
        println!("{}: {}", event.event_type, event.payload);
    }
}

async fn wait_for_projections(app: &TestApp, admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app
            .graphql(
                "{ projections { name lag rebuilding } }",
                json!({}),
                Some(admin),
            )
            .await;
        let projections = response.data()["projections"].as_array().unwrap().clone();
        if projections
            .iter()
            .all(|p| p["lag"] == 0 && p["rebuilding"] == false)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "projections did not catch up: {projections:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------- comparing

fn describe(request: &Request) -> String {
    let show = |d: Option<NaiveDate>| d.map_or("default".to_owned(), |d| d.to_string());
    format!(
        "period {}..{}, asOf {}, disaggregateBy {:?}",
        show(request.from),
        show(request.to),
        request.as_of.map_or("none".to_owned(), |t| t
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        request
            .dimensions
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
    )
}

async fn query(app: &TestApp, token: &str, request: &Request) -> Value {
    let period = match (request.from, request.to) {
        (None, None) => Value::Null,
        (from, to) => json!({ "from": from, "to": to }),
    };
    let response = app
        .graphql(
            INDICATORS,
            json!({
                "programme": request.programme,
                "period": period,
                "asOf": request.as_of.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                "by": request.dimensions.iter().map(|d| d.name()).collect::<Vec<_>>(),
            }),
            Some(token),
        )
        .await;
    assert!(
        response.body.get("errors").is_none(),
        "{}: {:#}",
        describe(request),
        response.body
    );
    response.data().clone()
}

fn figures_of(value: &Value) -> Figures {
    Figures {
        value: value["value"].as_f64(),
        numerator: value["numerator"].as_u64(),
        denominator: value["denominator"].as_u64(),
    }
}

fn same_figures(expected: &Figures, actual: &Figures) -> bool {
    let value = match (expected.value, actual.value) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9,
        _ => false,
    };
    value && expected.numerator == actual.numerator && expected.denominator == actual.denominator
}

fn cell_key(cell: &Value) -> CellKey {
    cell["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["dimension"].as_str().unwrap().to_owned(),
                d["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The server's breakdown as a map, checking no cell is listed twice.
fn breakdown_of(indicator: &Value) -> Result<BTreeMap<CellKey, &Value>, String> {
    let mut cells = BTreeMap::new();
    for cell in indicator["breakdown"].as_array().unwrap() {
        if cells.insert(cell_key(cell), cell).is_some() {
            return Err(format!("cell {:?} listed twice", cell_key(cell)));
        }
    }
    Ok(cells)
}

/// The server's indicators by code, checking the period and that every code is there once.
fn indicators_of<'a>(
    expected: &Report,
    report: &'a Value,
) -> Result<BTreeMap<String, &'a Value>, String> {
    let period = (
        report["period"]["from"].as_str().unwrap_or_default(),
        report["period"]["to"].as_str().unwrap_or_default(),
    );
    let (from, to) = (expected.from.to_string(), expected.to.to_string());
    if period != (from.as_str(), to.as_str()) {
        return Err(format!("period {period:?}, expected ({from}, {to})"));
    }
    let mut by_code = BTreeMap::new();
    for indicator in report["indicators"].as_array().unwrap() {
        let code = indicator["code"].as_str().unwrap().to_owned();
        if by_code.insert(code.clone(), indicator).is_some() {
            return Err(format!("{code} listed twice"));
        }
    }
    let codes: BTreeSet<&str> = by_code.keys().map(String::as_str).collect();
    let expected_codes: BTreeSet<&str> = compute::CODES.into_iter().collect();
    if codes != expected_codes {
        return Err(format!("indicators {codes:?}, expected {expected_codes:?}"));
    }
    Ok(by_code)
}

fn compare_head(expected: &Indicator, actual: &Value) -> Result<(), String> {
    let code = expected.code;
    if actual["kind"] != expected.kind {
        return Err(format!(
            "{code}: kind {}, expected {}",
            actual["kind"], expected.kind
        ));
    }
    let target = actual["target"].as_f64();
    let same_target = match (expected.target, target) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9,
        _ => false,
    };
    if !same_target {
        return Err(format!(
            "{code}: target {target:?}, expected {:?}",
            expected.target
        ));
    }
    Ok(())
}

/// Every figure of `report` (an ADMIN's) equals `expected`.
fn compare(expected: &Report, report: &Value, head: Option<u64>) -> Result<(), String> {
    if let Some(head) = head {
        let position = report["position"].as_str().unwrap_or_default();
        if position != head.to_string() {
            return Err(format!(
                "position {position}, expected the log's head {head}"
            ));
        }
    }
    let actual = indicators_of(expected, report)?;
    for indicator in &expected.indicators {
        let code = indicator.code;
        let row = actual[code];
        compare_head(indicator, row)?;
        let figures = figures_of(row);
        if !same_figures(&indicator.figures, &figures) || row["suppressed"] != false {
            return Err(format!(
                "{code}: {figures:?} (suppressed {}), expected {:?}",
                row["suppressed"], indicator.figures
            ));
        }
        let cells = breakdown_of(row).map_err(|e| format!("{code}: {e}"))?;
        let keys: BTreeSet<&CellKey> = cells.keys().collect();
        let expected_keys: BTreeSet<&CellKey> = indicator.breakdown.keys().collect();
        if let Some(missing) = expected_keys.difference(&keys).next() {
            let cell = &indicator.breakdown[*missing];
            return Err(format!(
                "{code}: cell {missing:?} missing (expected {cell:?}); {} cells, expected {}",
                keys.len(),
                expected_keys.len()
            ));
        }
        if let Some(extra) = keys.difference(&expected_keys).next() {
            return Err(format!(
                "{code}: unexpected cell {extra:?}: {}",
                cells[*extra]
            ));
        }
        for (key, expected_cell) in &indicator.breakdown {
            let cell = cells[key];
            let figures = figures_of(cell);
            if !same_figures(expected_cell, &figures) || cell["suppressed"] != false {
                return Err(format!(
                    "{code}, cell {key:?}: {figures:?} (suppressed {}), expected {expected_cell:?}",
                    cell["suppressed"]
                ));
            }
        }
    }
    Ok(())
}

/// Whether a role other than ADMIN and AUDITOR must not see these figures: a count (the value
/// of a COUNT), a numerator or a denominator from 1 to 4.
fn must_be_suppressed(kind: &str, figures: &Figures) -> bool {
    let small = |n: Option<u64>| n.is_some_and(|n| (1..=4).contains(&n));
    (kind == "COUNT" && figures.value.is_some_and(|v| (1.0..=4.0).contains(&v)))
        || small(figures.numerator)
        || small(figures.denominator)
}

fn compare_one_suppressed(
    what: &str,
    kind: &str,
    expected: &Figures,
    actual: &Value,
) -> Result<bool, String> {
    let figures = figures_of(actual);
    if must_be_suppressed(kind, expected) {
        let hidden = Figures {
            value: None,
            numerator: None,
            denominator: None,
        };
        if figures != hidden || actual["suppressed"] != true {
            return Err(format!(
                "{what}: {actual}, expected suppressed (true figures {expected:?})"
            ));
        }
        Ok(true)
    } else if !same_figures(expected, &figures) || actual["suppressed"] != false {
        Err(format!(
            "{what}: {actual}, expected {expected:?} unsuppressed"
        ))
    } else {
        Ok(false)
    }
}

/// `report` (a DASHBOARD's) shows the reference's figures, except that every one with a count
/// from 1 to 4 is suppressed.
fn compare_suppressed(expected: &Report, report: &Value) -> Result<(), String> {
    let actual = indicators_of(expected, report)?;
    let mut suppressed = 0;
    for indicator in &expected.indicators {
        let code = indicator.code;
        let row = actual[code];
        compare_head(indicator, row)?;
        suppressed += usize::from(compare_one_suppressed(
            code,
            indicator.kind,
            &indicator.figures,
            row,
        )?);
        let cells = breakdown_of(row).map_err(|e| format!("{code}: {e}"))?;
        let keys: BTreeSet<&CellKey> = cells.keys().collect();
        let expected_keys: BTreeSet<&CellKey> = indicator.breakdown.keys().collect();
        if keys != expected_keys {
            return Err(format!(
                "{code}: cells {keys:?}, expected {expected_keys:?}"
            ));
        }
        for (key, expected_cell) in &indicator.breakdown {
            suppressed += usize::from(compare_one_suppressed(
                &format!("{code}, cell {key:?}"),
                indicator.kind,
                expected_cell,
                cells[key],
            )?);
        }
    }
    if expected.indicators.iter().any(|i| !i.breakdown.is_empty()) {
        assert!(suppressed > 0, "the scenario has no small cell to suppress");
    }
    Ok(())
}

// ------------------------------------------------------- the reference, checked by hand

/// One log row, for the hand-made log below.
fn row(
    stream: &str,
    sequence: u64,
    event_type: &str,
    occurred_at: &str,
    recorded_by: &str,
    fact: Value,
    recorded_at: &str,
) -> LogEvent {
    let aggregate_type = if stream.starts_with('B') {
        "Beneficiary"
    } else {
        "Programme"
    };
    LogEvent::from_json(&json!({
        "globalPosition": "0",
        "aggregateType": aggregate_type,
        "aggregateId": stream,
        "sequence": sequence,
        "eventType": event_type,
        "payload": {
            "event_id": format!("{stream}-{sequence}"),
            "occurred_at": occurred_at,
            "recorded_by": recorded_by,
            "fact": { event_type: fact },
        },
        "recordedAt": recorded_at,
    }))
}

/// Three beneficiaries of programme P (and one of programme Q) whose figures are worked out by
/// hand in the comments.
fn hand_made_log() -> Vec<LogEvent> {
    const R0: &str = "2024-12-31T12:00:00Z";
    const R1: &str = "2025-01-10T12:00:00Z";
    let identified = |programme: &str, sex: &str, birth_year: Option<i32>| {
        json!({
            "programme_code": programme, "sex": sex, "birth_year": birth_year,
            "nationality": "CI", "legal_status": "REFUGEE", "region": "MA-04",
        })
    };
    let enrolled = |course: &str, sessions: u32| json!({ "course_code": course, "planned_sessions": sessions });
    let workshop =
        |course: &str, session: u32| json!({ "course_code": course, "session_number": session });
    let followed = |conditions: &str| json!({ "living_conditions": conditions });
    let mut log = vec![
        // Programme P, started 2024-01-01; target FOLLOW_UP_RATE 75 % (in hundredths), then
        // IDENTIFIED 10 then 12 (the latest counts).
        row(
            "P",
            1,
            "ProgrammeRegistered",
            "2023-12-01T00:00:00Z",
            "ADM",
            json!({ "code": "P", "start_date": "2024-01-01" }),
            R0,
        ),
        row(
            "P",
            2,
            "IndicatorTargetSet",
            "2023-12-01T00:00:00Z",
            "ADM",
            json!({ "indicator": "FOLLOW_UP_RATE", "target": 7500 }),
            R0,
        ),
        row(
            "P",
            3,
            "IndicatorTargetSet",
            "2023-12-01T00:00:00Z",
            "ADM",
            json!({ "indicator": "IDENTIFIED", "target": 1000 }),
            R0,
        ),
        row(
            "P",
            4,
            "IndicatorTargetSet",
            "2023-12-01T00:00:00Z",
            "ADM",
            json!({ "indicator": "IDENTIFIED", "target": 1200 }),
            R0,
        ),
        row(
            "Q",
            1,
            "ProgrammeRegistered",
            "2023-12-01T00:00:00Z",
            "ADM",
            json!({ "code": "Q", "start_date": "2024-01-01" }),
            R0,
        ),
        // A (partner X, FEMALE, born 2000: 24 at identification in 2024 → AGE_18_24):
        // identified 01-10, sensitised 01-15, enrolled 02-01 (2 sessions), session 1 on 02-05
        // and again on 02-25, session 2 on 02-20 → all attended by 02-20; completed 02-28;
        // employed 04-10 = inserted; follow-ups 06-01 IMPROVED and 09-01 WORSENED → followed
        // up 06-01, latest conditions (to ≥ 09-01) WORSENED. 91 days identified → inserted.
        row(
            "BA",
            1,
            "Identified",
            "2024-01-10T09:00:00Z",
            "X",
            identified("P", "FEMALE", Some(2000)),
            R0,
        ),
        row(
            "BA",
            2,
            "Sensitised",
            "2024-01-15T09:00:00Z",
            "X",
            json!({}),
            R0,
        ),
        row(
            "BA",
            3,
            "TrainingEnrolled",
            "2024-02-01T09:00:00Z",
            "X",
            enrolled("C1", 2),
            R0,
        ),
        row(
            "BA",
            4,
            "WorkshopAttended",
            "2024-02-05T09:00:00Z",
            "X",
            workshop("C1", 1),
            R0,
        ),
        row(
            "BA",
            5,
            "WorkshopAttended",
            "2024-02-20T09:00:00Z",
            "X",
            workshop("C1", 2),
            R0,
        ),
        row(
            "BA",
            6,
            "WorkshopAttended",
            "2024-02-25T09:00:00Z",
            "X",
            workshop("C1", 1),
            R0,
        ),
        row(
            "BA",
            7,
            "TrainingCompleted",
            "2024-02-28T09:00:00Z",
            "X",
            json!({ "course_code": "C1" }),
            R0,
        ),
        row(
            "BA",
            8,
            "Employed",
            "2024-04-10T09:00:00Z",
            "X",
            json!({}),
            R0,
        ),
        row(
            "BA",
            9,
            "FollowedUp",
            "2024-06-01T09:00:00Z",
            "X",
            followed("IMPROVED"),
            R0,
        ),
        row(
            "BA",
            10,
            "FollowedUp",
            "2024-09-01T09:00:00Z",
            "X",
            followed("WORSENED"),
            R0,
        ),
        // B (partner Y, MALE, no birth year → UNKNOWN): identified at 2024-04-01T00:30+01:00,
        // that is on 03-31 in UTC (2024-Q1). Enrolled in C1 (3 sessions) on 04-02, sessions 1
        // and 3 only → not all; enrolled in C2 (1 session) on 04-10, attended 05-01 → all
        // attended 05-01. Incubated 05-10, employed 06-15, launched 07-01, follow-ups 06-20
        // UNCHANGED and 08-01 IMPROVED. The employment is retracted at R1:
        //   known at R0: inserted 06-15 (76 days), followed up 06-20;
        //   now: employed none, inserted 07-01 (92 days), followed up 08-01 (the 06-20
        //   follow-up is before the insertion), latest conditions IMPROVED.
        row(
            "BB",
            1,
            "Identified",
            "2024-04-01T00:30:00+01:00",
            "Y",
            identified("P", "MALE", None),
            R0,
        ),
        row(
            "BB",
            2,
            "TrainingEnrolled",
            "2024-04-02T09:00:00Z",
            "Y",
            enrolled("C1", 3),
            R0,
        ),
        row(
            "BB",
            3,
            "WorkshopAttended",
            "2024-04-03T09:00:00Z",
            "Y",
            workshop("C1", 1),
            R0,
        ),
        row(
            "BB",
            4,
            "WorkshopAttended",
            "2024-04-05T09:00:00Z",
            "Y",
            workshop("C1", 3),
            R0,
        ),
        row(
            "BB",
            5,
            "TrainingEnrolled",
            "2024-04-10T09:00:00Z",
            "Y",
            enrolled("C2", 1),
            R0,
        ),
        row(
            "BB",
            6,
            "WorkshopAttended",
            "2024-05-01T09:00:00Z",
            "Y",
            workshop("C2", 1),
            R0,
        ),
        row(
            "BB",
            7,
            "IncubationStarted",
            "2024-05-10T09:00:00Z",
            "Y",
            json!({}),
            R0,
        ),
        row(
            "BB",
            8,
            "Employed",
            "2024-06-15T09:00:00Z",
            "Y",
            json!({}),
            R0,
        ),
        row(
            "BB",
            9,
            "FollowedUp",
            "2024-06-20T09:00:00Z",
            "Y",
            followed("UNCHANGED"),
            R0,
        ),
        row(
            "BB",
            10,
            "BusinessLaunched",
            "2024-07-01T09:00:00Z",
            "Y",
            json!({}),
            R0,
        ),
        row(
            "BB",
            11,
            "FollowedUp",
            "2024-08-01T09:00:00Z",
            "Y",
            followed("IMPROVED"),
            R0,
        ),
        row(
            "BB",
            12,
            "Retracted",
            "2025-01-10T09:00:00Z",
            "Y",
            json!({ "retracted_event_id": "BB-8" }),
            R1,
        ),
        // C (partner X): identified 02-01 and sensitised 02-02; the identification is
        // retracted at R1, so C counts only in what was known at R0.
        row(
            "BC",
            1,
            "Identified",
            "2024-02-01T09:00:00Z",
            "X",
            identified("P", "FEMALE", Some(1980)),
            R0,
        ),
        row(
            "BC",
            2,
            "Sensitised",
            "2024-02-02T09:00:00Z",
            "X",
            json!({}),
            R0,
        ),
        row(
            "BC",
            3,
            "Retracted",
            "2025-01-10T09:00:00Z",
            "X",
            json!({ "retracted_event_id": "BC-1" }),
            R1,
        ),
        // D: programme Q, never counted in P.
        row(
            "BD",
            1,
            "Identified",
            "2024-01-05T09:00:00Z",
            "X",
            identified("Q", "MALE", Some(1990)),
            R0,
        ),
        // Activities of P: companies "Atlas" (RSE, 03-01), " atlas " (not RSE, 05-01), "Nour"
        // (06-01) → 2 companies, 1 RSE; trainers (Omar, X) twice and (Omar, Y) → 2.
        // Activity of Q: "Zed", not counted in P.
        row(
            "P",
            5,
            "CompanyEngaged",
            "2024-03-01T09:00:00Z",
            "X",
            json!({ "company_name": "Atlas", "rse_labelled": true }),
            R0,
        ),
        row(
            "P",
            6,
            "CompanyEngaged",
            "2024-05-01T09:00:00Z",
            "X",
            json!({ "company_name": " atlas ", "rse_labelled": false }),
            R0,
        ),
        row(
            "P",
            7,
            "CompanyEngaged",
            "2024-06-01T09:00:00Z",
            "Y",
            json!({ "company_name": "Nour", "rse_labelled": false }),
            R0,
        ),
        row(
            "P",
            8,
            "TrainerTrained",
            "2024-03-01T09:00:00Z",
            "X",
            json!({ "trainer_name": "Omar", "organisation_code": "X" }),
            R0,
        ),
        row(
            "P",
            9,
            "TrainerTrained",
            "2024-03-05T09:00:00Z",
            "X",
            json!({ "trainer_name": "Omar", "organisation_code": "X" }),
            R0,
        ),
        row(
            "P",
            10,
            "TrainerTrained",
            "2024-04-01T09:00:00Z",
            "Y",
            json!({ "trainer_name": "Omar", "organisation_code": "Y" }),
            R0,
        ),
        row(
            "Q",
            2,
            "CompanyEngaged",
            "2024-03-01T09:00:00Z",
            "X",
            json!({ "company_name": "Zed", "rse_labelled": true }),
            R0,
        ),
    ];
    for (index, event) in log.iter_mut().enumerate() {
        event.position = index as u64 + 1;
    }
    log
}

fn figures(report: &Report, code: &str) -> (Option<f64>, Option<u64>, Option<u64>) {
    let indicator = report.indicators.iter().find(|i| i.code == code).unwrap();
    let f = indicator.figures;
    (f.value, f.numerator, f.denominator)
}

/// A cell as the hand-made checks write it: its dimension values (in the order of the
/// dimensions' names), value, numerator and denominator.
type CellRow = (Vec<String>, Option<f64>, Option<u64>, Option<u64>);

fn cells(report: &Report, code: &str) -> Vec<CellRow> {
    let indicator = report.indicators.iter().find(|i| i.code == code).unwrap();
    indicator
        .breakdown
        .iter()
        .map(|(key, f)| {
            (
                key.values().cloned().collect(),
                f.value,
                f.numerator,
                f.denominator,
            )
        })
        .collect()
}

fn hand_request(
    from: Option<&str>,
    to: Option<&str>,
    as_of: Option<&str>,
    dimensions: &[Dimension],
) -> Request {
    Request {
        programme: "P".to_owned(),
        from: from.map(date),
        to: to.map(date),
        as_of: as_of.map(|t| t.parse().unwrap()),
        dimensions: dimensions.to_vec(),
        today: date("2025-06-30"),
    }
}

#[test]
fn the_reference_computation_gives_the_figures_worked_out_by_hand() {
    let log = hand_made_log();
    let count = |n: u64| (Some(n as f64), Some(n), None);

    // Default period, everything known: 2024-01-01 .. today (2025-06-30).
    let now = compute::compute(&log, &hand_request(None, None, None, &[]));
    assert_eq!((now.from, now.to), (date("2024-01-01"), date("2025-06-30")));
    assert_eq!(figures(&now, "IDENTIFIED"), count(2)); // A, B (C retracted, D elsewhere)
    assert_eq!(figures(&now, "SENSITISED"), count(1)); // A
    assert_eq!(figures(&now, "ENROLLED_IN_TRAINING"), count(2));
    assert_eq!(figures(&now, "ATTENDED_ALL_WORKSHOPS"), count(2)); // A 02-20, B 05-01
    assert_eq!(figures(&now, "COMPLETED_TRAINING"), count(1));
    assert_eq!(figures(&now, "INCUBATED"), count(1));
    assert_eq!(figures(&now, "BUSINESS_LAUNCHED"), count(1));
    assert_eq!(figures(&now, "EMPLOYED"), count(1)); // B's employment retracted
    assert_eq!(figures(&now, "INSERTED"), count(2));
    assert_eq!(figures(&now, "FOLLOWED_UP"), count(2));
    assert_eq!(
        figures(&now, "FOLLOW_UP_RATE"),
        (Some(100.0), Some(2), Some(2))
    );
    // Enrolled in P: A (latest WORSENED), B (latest IMPROVED) → 1 of 2.
    assert_eq!(
        figures(&now, "IMPROVED_LIVING_CONDITIONS_RATE"),
        (Some(50.0), Some(1), Some(2))
    );
    // 91 and 92 days → 91.5.
    assert_eq!(
        figures(&now, "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED"),
        (Some(91.5), None, Some(2))
    );
    assert_eq!(figures(&now, "COMPANIES_ENGAGED"), count(2));
    assert_eq!(figures(&now, "RSE_COMPANIES_ENGAGED"), count(1));
    assert_eq!(figures(&now, "TRAINERS_TRAINED"), count(2));
    let target = |report: &Report, code: &str| {
        report
            .indicators
            .iter()
            .find(|i| i.code == code)
            .unwrap()
            .target
    };
    assert_eq!(target(&now, "FOLLOW_UP_RATE"), Some(75.0));
    assert_eq!(target(&now, "IDENTIFIED"), Some(12.0));
    assert_eq!(target(&now, "EMPLOYED"), None);
    assert!(now.indicators.iter().all(|i| i.breakdown.is_empty()));

    // As known at R0 (before both retractions): the period ends on R0's date, C exists, B's
    // employment counts: inserted 06-15 (76 days) → median (76 + 91) / 2 = 83.5.
    let before = compute::compute(
        &log,
        &hand_request(None, None, Some("2024-12-31T12:00:00Z"), &[]),
    );
    assert_eq!(before.to, date("2024-12-31"));
    assert_eq!(figures(&before, "IDENTIFIED"), count(3));
    assert_eq!(figures(&before, "SENSITISED"), count(2));
    assert_eq!(figures(&before, "EMPLOYED"), count(2));
    assert_eq!(figures(&before, "FOLLOWED_UP"), count(2));
    assert_eq!(
        figures(&before, "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED"),
        (Some(83.5), None, Some(2))
    );

    // June 2024: nobody inserted (A in April, B in July) → rates without a value; A followed
    // up on 06-01; one company (Nour), no RSE one, no trainer.
    let june = compute::compute(
        &log,
        &hand_request(Some("2024-06-01"), Some("2024-06-30"), None, &[]),
    );
    assert_eq!(figures(&june, "INSERTED"), count(0));
    assert_eq!(figures(&june, "FOLLOWED_UP"), count(1));
    assert_eq!(figures(&june, "FOLLOW_UP_RATE"), (None, Some(0), Some(0)));
    assert_eq!(
        figures(&june, "IMPROVED_LIVING_CONDITIONS_RATE"),
        (None, Some(0), Some(0))
    );
    assert_eq!(
        figures(&june, "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED"),
        (None, None, Some(0))
    );
    assert_eq!(figures(&june, "COMPANIES_ENGAGED"), count(1));
    assert_eq!(figures(&june, "RSE_COMPANIES_ENGAGED"), count(0));
    assert_eq!(figures(&june, "TRAINERS_TRAINED"), count(0));

    // Up to 2024-06-30, enrolled A and B: A's latest follow-up by then is 06-01 IMPROVED, B's
    // is 06-20 UNCHANGED → 1 of 2. B inserted on 07-01 (after the period) is not in the
    // follow-up rate; A is, followed up on 06-01 → 1 of 1.
    let first_half = compute::compute(&log, &hand_request(None, Some("2024-06-30"), None, &[]));
    assert_eq!(
        figures(&first_half, "IMPROVED_LIVING_CONDITIONS_RATE"),
        (Some(50.0), Some(1), Some(2))
    );
    assert_eq!(
        figures(&first_half, "FOLLOW_UP_RATE"),
        (Some(100.0), Some(1), Some(1))
    );

    // Breakdowns.
    let by_sex = compute::compute(&log, &hand_request(None, None, None, &[Dimension::Sex]));
    assert_eq!(
        cells(&by_sex, "IDENTIFIED"),
        vec![
            (vec!["FEMALE".to_owned()], Some(1.0), Some(1), None),
            (vec!["MALE".to_owned()], Some(1.0), Some(1), None),
        ]
    );
    // Only A is sensitised: the MALE cell is omitted.
    assert_eq!(cells(&by_sex, "SENSITISED").len(), 1);
    assert!(cells(&by_sex, "COMPANIES_ENGAGED").is_empty());
    let by_age = compute::compute(&log, &hand_request(None, None, None, &[Dimension::AgeBand]));
    assert_eq!(
        cells(&by_age, "IDENTIFIED"),
        vec![
            (vec!["AGE_18_24".to_owned()], Some(1.0), Some(1), None),
            (vec!["UNKNOWN".to_owned()], Some(1.0), Some(1), None),
        ]
    );
    // B's identification is on 03-31 in UTC: both in 2024-Q1.
    let by_quarter = compute::compute(&log, &hand_request(None, None, None, &[Dimension::Quarter]));
    assert_eq!(
        cells(&by_quarter, "IDENTIFIED"),
        vec![(vec!["2024-Q1".to_owned()], Some(2.0), Some(2), None)]
    );
    // Rates and medians by the month of the denominator's milestone (the insertion).
    let by_month = compute::compute(&log, &hand_request(None, None, None, &[Dimension::Month]));
    assert_eq!(
        cells(&by_month, "FOLLOW_UP_RATE"),
        vec![
            (vec!["2024-04".to_owned()], Some(100.0), Some(1), Some(1)),
            (vec!["2024-07".to_owned()], Some(100.0), Some(1), Some(1)),
        ]
    );
    assert_eq!(
        cells(&by_month, "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED"),
        vec![
            (vec!["2024-04".to_owned()], Some(91.0), None, Some(1)),
            (vec!["2024-07".to_owned()], Some(92.0), None, Some(1)),
        ]
    );
    // IMPROVED by the month of enrolment: A (02, WORSENED) 0 of 1, B (04, IMPROVED) 1 of 1.
    assert_eq!(
        cells(&by_month, "IMPROVED_LIVING_CONDITIONS_RATE"),
        vec![
            (vec!["2024-02".to_owned()], Some(0.0), Some(0), Some(1)),
            (vec!["2024-04".to_owned()], Some(100.0), Some(1), Some(1)),
        ]
    );
    let by_partner = compute::compute(
        &log,
        &hand_request(None, None, None, &[Dimension::Region, Dimension::Partner]),
    );
    assert_eq!(
        cells(&by_partner, "INSERTED"),
        vec![
            (
                vec!["X".to_owned(), "MA-04".to_owned()],
                Some(1.0),
                Some(1),
                None
            ),
            (
                vec!["Y".to_owned(), "MA-04".to_owned()],
                Some(1.0),
                Some(1),
                None
            ),
        ]
    );
}

#[test]
fn the_scenario_is_accepted_and_big_enough() {
    let scenario = scenario::generate();
    summarise(&scenario);
    // The same seed, the same scenario.
    let again = scenario::generate();
    assert_eq!(
        scenario.beneficiaries[17].events[0].id,
        again.beneficiaries[17].events[0].id
    );
    assert_eq!(scenario::phases(&scenario), BTreeSet::from([1, 2, 3]));
}

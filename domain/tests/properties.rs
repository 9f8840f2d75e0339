//! Property tests of the beneficiary aggregate over random, plausible command sequences, and
//! of the value types.
//!
//! - Replay determinism: folding the accepted events into a fresh aggregate gives exactly the
//!   live state (and so does a serde round trip of the state, as a snapshot would).
//! - Without retractions, the stage never goes down.
//! - Resubmitting an accepted command records nothing and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use cqrs_es::Aggregate;
use masar_domain::beneficiary::{
    Beneficiary, BeneficiaryCommand, BeneficiaryEvent, ErasePersonalData, JourneyFact,
    RecordJourneyEvent,
};
use masar_domain::directory::{DomainServices, ProgrammeFacts, StaticDirectory};
use masar_domain::ids::{
    BeneficiaryId, CountryCode, CourseCode, EventId, OrganisationCode, ProgrammeCode, RegionCode,
};
use masar_domain::values::{
    Actor, ConsentScope, EmploymentKind, ExitReason, LegalStatus, LivingConditions, Money,
    ReferralChannel, Role, ServiceKind, Sex, TrainingKind, VentureKind,
};
use masar_domain::ErrorCode;
use proptest::prelude::*;
use uuid::Uuid;

const COURSES: [&str; 3] = ["WELD-01", "SEW-02", "CODE-03"];

fn org(code: &str) -> OrganisationCode {
    OrganisationCode::parse(code).unwrap()
}

fn programme_code() -> ProgrammeCode {
    ProgrammeCode::parse("AMUDDU-RSK").unwrap()
}

fn services() -> DomainServices {
    let facts = ProgrammeFacts {
        code: programme_code(),
        start_date: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
        end_date: None,
        regions: vec![
            RegionCode::parse("MA-04").unwrap(),
            RegionCode::parse("MA-06").unwrap(),
        ],
        partners: vec![org("REMESS"), org("ENABEL")],
    };
    let directory = ["REMESS", "ENABEL", "IOM", "ANAPEC"].into_iter().fold(
        StaticDirectory::new().with_programme(facts),
        |directory, code| directory.with_organisation(org(code)),
    );
    DomainServices::new(directory)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 12, 31, 12, 0, 0).unwrap()
}

/// Day 0 is 2022-12-25, a week before the programme starts.
fn day(days: i64, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 12, 25, 0, 0, 0).unwrap()
        + Duration::days(days)
        + Duration::hours(i64::from(hour))
}

/// What a step does, before it is turned into a command.
#[derive(Debug, Clone)]
enum Action {
    Identify {
        region: usize,
        birth_year: Option<i32>,
    },
    Sensitise,
    Consent {
        given: bool,
        scope: usize,
    },
    Refer {
        organisation: usize,
    },
    Enrol {
        course: usize,
        planned: u32,
    },
    Attend {
        course: usize,
        session: u32,
    },
    Complete {
        course: usize,
    },
    Drop {
        course: usize,
    },
    Incubate,
    Launch,
    Employ,
    EndEmployment,
    FollowUp {
        living: usize,
    },
    Exit,
    /// Retract the `pick`-th submitted event id (or an unknown one).
    Retract {
        pick: usize,
    },
    Erase,
}

#[derive(Debug, Clone)]
struct Step {
    action: Action,
    /// Days after the previous step (may be negative: entered out of order).
    advance: i64,
    hour: u32,
    actor: usize,
    /// 0: dated by `advance`; 1: a few minutes ahead of the server (within the skew);
    /// 2: an hour or more ahead (in the future).
    clock: u8,
}

fn action(retractions: bool) -> BoxedStrategy<Action> {
    let course = 0..COURSES.len();
    let common = prop_oneof![
        1 => (0usize..3, prop::option::of(1950i32..2030))
            .prop_map(|(region, birth_year)| Action::Identify { region, birth_year }),
        3 => Just(Action::Sensitise),
        1 => (any::<bool>(), 0usize..3).prop_map(|(given, scope)| Action::Consent { given, scope }),
        1 => (0usize..4).prop_map(|organisation| Action::Refer { organisation }),
        3 => (course.clone(), 0u32..5).prop_map(|(course, planned)| Action::Enrol { course, planned }),
        6 => (course.clone(), 0u32..5).prop_map(|(course, session)| Action::Attend { course, session }),
        2 => course.clone().prop_map(|course| Action::Complete { course }),
        1 => course.prop_map(|course| Action::Drop { course }),
        2 => Just(Action::Incubate),
        2 => Just(Action::Launch),
        2 => Just(Action::Employ),
        1 => Just(Action::EndEmployment),
        3 => (0usize..3).prop_map(|living| Action::FollowUp { living }),
        1 => Just(Action::Exit),
        1 => Just(Action::Erase),
    ];
    if retractions {
        prop_oneof![
            12 => common,
            2 => any::<usize>().prop_map(|pick| Action::Retract { pick }),
        ]
        .boxed()
    } else {
        common.boxed()
    }
}

fn step(retractions: bool) -> impl Strategy<Value = Step> {
    (
        action(retractions),
        prop_oneof![1 => -3i64..0, 8 => 0i64..30],
        0u32..24,
        // REMESS (identifies) most of the time; sometimes another partner, an outsider, an
        // administrator or an auditor.
        prop_oneof![8 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize), 2 => Just(3usize), 1 => Just(4usize)],
        prop_oneof![48 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
    )
        .prop_map(|(action, advance, hour, actor, clock)| Step {
            action,
            advance,
            hour,
            actor,
            clock,
        })
}

/// A plausible journey: most of the time an identification first, then a random mix.
fn journey(retractions: bool) -> impl Strategy<Value = Vec<Step>> {
    (
        prop::bool::weighted(0.9),
        0i64..120,
        prop::collection::vec(step(retractions), 0..40),
    )
        .prop_map(|(identify_first, start, mut steps)| {
            if identify_first {
                steps.insert(
                    0,
                    Step {
                        action: Action::Identify {
                            region: 0,
                            birth_year: Some(1995),
                        },
                        advance: start,
                        hour: 9,
                        actor: 0,
                        clock: 0,
                    },
                );
            }
            steps
        })
}

fn actor(index: usize) -> Actor {
    match index {
        0 => Actor::new(org("REMESS"), Role::Partner),
        1 => Actor::new(org("ENABEL"), Role::Partner),
        2 => Actor::new(org("IOM"), Role::Partner),
        3 => Actor::new(org("ADMINS"), Role::Admin),
        _ => Actor::new(org("AUDIT"), Role::Auditor),
    }
}

fn course(index: usize) -> CourseCode {
    CourseCode::parse(COURSES[index % COURSES.len()]).unwrap()
}

fn fact(action: &Action, submitted: &[EventId]) -> JourneyFact {
    let scope = |i: usize| ConsentScope::ALL[i % ConsentScope::ALL.len()];
    match action {
        Action::Identify { region, birth_year } => JourneyFact::Identified {
            programme_code: programme_code(),
            sex: Sex::Female,
            birth_year: *birth_year,
            nationality: CountryCode::parse("CM").unwrap(),
            legal_status: LegalStatus::RegularisedMigrant,
            region: RegionCode::parse(["MA-04", "MA-06", "MA-01"][*region % 3]).unwrap(),
            city: Some("Rabat".into()),
            channel: ReferralChannel::CommunityAgent,
            household_with_children: Some(true),
            education_level: None,
            consent: BTreeSet::from([ConsentScope::DataProcessing]),
            personal_data: None,
        },
        Action::Sensitise => JourneyFact::Sensitised {
            topic: "droits et démarches".into(),
            session_id: None,
            location: Some("Salé".into()),
        },
        Action::Consent { given, scope: s } => {
            let scopes = BTreeSet::from([scope(*s)]);
            if *given {
                JourneyFact::ConsentGiven { scopes }
            } else {
                JourneyFact::ConsentWithdrawn { scopes }
            }
        }
        Action::Refer { organisation } => JourneyFact::Referred {
            service: ServiceKind::PartnerOrganisation,
            organisation_code: [Some("ENABEL"), Some("IOM"), Some("NOBODY"), None]
                [*organisation % 4]
                .map(org),
            note: None,
        },
        Action::Enrol { course: c, planned } => JourneyFact::TrainingEnrolled {
            course_code: course(*c),
            course_name: "Formation".into(),
            kind: TrainingKind::Vocational,
            planned_sessions: *planned,
        },
        Action::Attend { course: c, session } => JourneyFact::WorkshopAttended {
            course_code: course(*c),
            session_number: *session,
        },
        Action::Complete { course: c } => JourneyFact::TrainingCompleted {
            course_code: course(*c),
            certified: true,
        },
        Action::Drop { course: c } => JourneyFact::TrainingDropped {
            course_code: course(*c),
            reason: "moved".into(),
        },
        Action::Incubate => JourneyFact::IncubationStarted {
            venture_name: "Coop".into(),
            kind: VentureKind::Cooperative,
            sector: "agriculture".into(),
            incubator: None,
        },
        Action::Launch => JourneyFact::BusinessLaunched {
            venture_name: "Coop".into(),
            registered: true,
            grant_amount: Some(Money::from_mad(1500.0).unwrap()),
        },
        Action::Employ => JourneyFact::Employed {
            kind: EmploymentKind::Salaried,
            employer_name: "Hôtel".into(),
            employer_rse_labelled: false,
            sector: "tourisme".into(),
            monthly_income: Some(Money::from_mad(2800.0).unwrap()),
        },
        Action::EndEmployment => JourneyFact::EmploymentEnded {
            reason: "fin de contrat".into(),
        },
        Action::FollowUp { living } => JourneyFact::FollowedUp {
            still_in_activity: true,
            living_conditions: LivingConditions::ALL[*living % 3],
            monthly_income: None,
            notes: None,
        },
        Action::Exit => JourneyFact::Exited {
            reason: ExitReason::MovedAway,
            notes: None,
        },
        Action::Retract { pick } => JourneyFact::Retracted {
            retracted_event_id: if submitted.is_empty() || pick % 10 == 0 {
                EventId::new(Uuid::from_u128(u128::MAX))
            } else {
                submitted[pick % submitted.len()]
            },
            reason: "erreur de saisie".into(),
        },
        Action::Erase => JourneyFact::PersonalDataErased {
            reason: "unused".into(),
        },
    }
}

/// Turns steps into commands, with event ids 1, 2, 3…
fn commands(steps: &[Step]) -> Vec<BeneficiaryCommand> {
    let beneficiary_id = BeneficiaryId::new(Uuid::from_u128(0xB0));
    let mut submitted = Vec::new();
    let mut days = 0;
    let mut commands = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        days += step.advance;
        let event_id = EventId::new(Uuid::from_u128(i as u128 + 1));
        let command = match step.action {
            Action::Erase => BeneficiaryCommand::ErasePersonalData(ErasePersonalData {
                beneficiary_id,
                event_id,
                actor: actor(step.actor),
                now: now(),
                reason: "demande de la personne".into(),
            }),
            _ => BeneficiaryCommand::Record(RecordJourneyEvent {
                beneficiary_id,
                event_id,
                occurred_at: match step.clock {
                    0 => day(days, step.hour),
                    1 => now() + Duration::minutes(3),
                    _ => now() + Duration::hours(1 + i64::from(step.hour)),
                },
                actor: actor(step.actor),
                now: now(),
                fact: fact(&step.action, &submitted),
            }),
        };
        submitted.push(event_id);
        commands.push(command);
    }
    commands
}

struct Run {
    live: Beneficiary,
    accepted_events: Vec<BeneficiaryEvent>,
    accepted_commands: Vec<BeneficiaryCommand>,
}

/// Runs `commands` through `decide`/`apply` as the framework would, checking after every
/// accepted command that resubmitting it is a no-op, and calling `after` with the state
/// before and after each accepted command.
fn run(
    commands: Vec<BeneficiaryCommand>,
    mut after: impl FnMut(&Beneficiary, &Beneficiary),
) -> Result<Run, TestCaseError> {
    let services = services();
    let mut live = Beneficiary::default();
    let mut accepted_events = Vec::new();
    let mut accepted_commands = Vec::new();
    for command in commands {
        let Ok(events) = live.decide(command.clone(), &services) else {
            continue;
        };
        prop_assert!(events.len() <= 1);
        if events.is_empty() {
            continue;
        }
        let before = live.clone();
        for event in &events {
            live.apply(event.clone());
        }
        after(&before, &live);
        // (c) resubmission, at once.
        prop_assert_eq!(live.decide(command.clone(), &services), Ok(vec![]));
        accepted_events.extend(events);
        accepted_commands.push(command);
    }
    Ok(Run {
        live,
        accepted_events,
        accepted_commands,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) Replaying the accepted events into a fresh aggregate gives the live state.
    #[test]
    fn replay_gives_the_live_state(steps in journey(true)) {
        let run = run(commands(&steps), |_, _| {})?;
        let replayed = Beneficiary::from_events(run.accepted_events.clone());
        prop_assert_eq!(&replayed, &run.live);
        prop_assert_eq!(run.live.version(), run.accepted_events.len() as u64);
        // A snapshot (the serialised aggregate) reads back to the same state.
        let snapshot = serde_json::to_value(&run.live).unwrap();
        let restored: Beneficiary = serde_json::from_value(snapshot).unwrap();
        prop_assert_eq!(&restored, &run.live);
        // Every stored event reads back from its payload.
        for event in &run.accepted_events {
            let payload = serde_json::to_value(event).unwrap();
            let back: BeneficiaryEvent = serde_json::from_value(payload).unwrap();
            prop_assert_eq!(&back, event);
        }
    }

    /// (b) Without retractions, the stage never goes down.
    #[test]
    fn without_retractions_the_stage_never_goes_down(steps in journey(false)) {
        let mut regressions = Vec::new();
        run(commands(&steps), |before, after| {
            if after.stage() < before.stage() {
                regressions.push((before.stage(), after.stage()));
            }
        })?;
        prop_assert!(regressions.is_empty(), "stage went down: {:?}", regressions);
    }

    /// (c) Resubmitting any accepted command, even at the end, records nothing and leaves
    /// the state as it was: it is a duplicate, or — when the caller may no longer write for
    /// this beneficiary (re-identified by another organisation) — refused as FORBIDDEN.
    #[test]
    fn resubmission_is_a_no_op(steps in journey(true)) {
        let run = run(commands(&steps), |_, _| {})?;
        let services = services();
        for command in run.accepted_commands {
            let state = run.live.clone();
            match state.decide(command, &services) {
                Ok(events) => prop_assert_eq!(events, vec![]),
                Err(error) => prop_assert_eq!(error.code(), ErrorCode::Forbidden),
            }
            prop_assert_eq!(&state, &run.live);
        }
    }

    /// Money survives the trip through dirhams, as the API does it.
    #[test]
    fn money_round_trips_through_dirhams(centimes in 0i64..=100_000_000_000_000) {
        let money = Money::from_centimes(centimes).unwrap();
        prop_assert_eq!(Money::from_mad(money.to_mad()).unwrap(), money);
    }

    /// Organisation codes are exactly 2 to 32 of `A-Z 0-9 - _`, and read back from JSON.
    #[test]
    fn organisation_codes_parse_iff_valid(text in "[A-Za-z0-9_ .-]{0,34}") {
        let valid = (2..=32).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let parsed = OrganisationCode::parse(&text);
        prop_assert_eq!(parsed.is_ok(), valid);
        if let Ok(code) = parsed {
            let json = serde_json::to_string(&code).unwrap();
            prop_assert_eq!(serde_json::from_str::<OrganisationCode>(&json).unwrap(), code);
        } else {
            let json = serde_json::to_string(&text).unwrap();
            prop_assert!(serde_json::from_str::<OrganisationCode>(&json).is_err());
        }
    }

    /// Region codes are `CC-X`, `CC-XX` or `CC-XXX`, and know their country.
    #[test]
    fn region_codes_know_their_country(country in "[A-Z]{2}", subdivision in "[A-Z0-9]{1,3}") {
        let region = RegionCode::parse(&format!("{country}-{subdivision}")).unwrap();
        prop_assert_eq!(region.country(), CountryCode::parse(&country).unwrap());
    }
}

/// The generator reaches every stage and most rules, so the properties are not vacuous.
#[test]
fn the_generated_journeys_reach_far() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = journey(true);
    let mut stages = BTreeSet::new();
    let mut accepted = 0usize;
    let mut retractions = 0usize;
    for _ in 0..300 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        let result = run(commands(&steps), |_, _| {}).unwrap();
        stages.insert(result.live.stage());
        accepted += result.accepted_events.len();
        retractions += result
            .accepted_events
            .iter()
            .filter(|e| matches!(e.fact, JourneyFact::Retracted { .. }))
            .count();
    }
    assert!(stages.len() >= 5, "stages reached: {stages:?}");
    assert!(accepted > 1000, "accepted events: {accepted}");
    assert!(retractions > 20, "retractions: {retractions}");
}

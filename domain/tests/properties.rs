//! Property tests of the beneficiary aggregate over random, plausible command sequences, and
//! of the value types.
//!
//! - Replay: folding the accepted events, one `apply` at a time or at once with
//!   `Beneficiary::from_events`, gives what a simple reference fold written here from the
//!   journey rules of DESIGN.md gives (stage, retractions, owner, referrals, exit, erasure),
//!   and a serde round trip of the state, as a snapshot would, gives the same state.
//! - Without retractions, the stage never goes down.
//! - Resubmitting an accepted command records nothing and changes nothing: a DUPLICATE for
//!   the organisation that recorded it, even when that event took its access away; for anyone
//!   else, a DUPLICATE if they may write for the beneficiary, else FORBIDDEN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

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
    ReferralChannel, Role, ServiceKind, Sex, Stage, TrainingKind, VentureKind,
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

/// The actors a step may name, as [`actor`] numbers them.
const ACTORS: usize = 5;

/// What the journey rules of DESIGN.md say of a stream, worked out directly from its events,
/// independently of the aggregate's fold.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    /// Each retracted event, and the `Retracted` event that names it.
    retracted_by: BTreeMap<EventId, EventId>,
    /// The furthest pathway step reached by events not retracted: identified < sensitised <
    /// trained (a training completed) < incubated < employed (employment or business launched)
    /// < followed up (a follow-up dated on or after the insertion); none without a
    /// non-retracted identification.
    stage: Option<Stage>,
    /// The organisation whose identification opened the stream (retracted or not): it owns
    /// the record for ever.
    owner: Option<OrganisationCode>,
    /// The owner, while there is a non-retracted identification.
    identified_by: Option<OrganisationCode>,
    /// Who recorded each event.
    recorded_by: BTreeMap<EventId, OrganisationCode>,
    /// Organisations named by non-retracted referrals.
    referred: BTreeSet<OrganisationCode>,
    /// The non-retracted exit.
    exit: Option<EventId>,
    /// Whether the personal data was erased.
    erased: bool,
}

fn reference(events: &[BeneficiaryEvent]) -> Reference {
    let retracted_by: BTreeMap<EventId, EventId> = events
        .iter()
        .filter_map(|event| match &event.fact {
            JourneyFact::Retracted {
                retracted_event_id, ..
            } => Some((*retracted_event_id, event.event_id)),
            _ => None,
        })
        .collect();
    let live: Vec<&BeneficiaryEvent> = events
        .iter()
        .filter(|event| !retracted_by.contains_key(&event.event_id))
        .collect();
    let dates = |wanted: fn(&JourneyFact) -> bool| -> Vec<NaiveDate> {
        live.iter()
            .filter(|event| wanted(&event.fact))
            .map(|event| event.occurred_at.date_naive())
            .collect()
    };
    let reached = |wanted: fn(&JourneyFact) -> bool| !dates(wanted).is_empty();
    let identification = live
        .iter()
        .find(|event| matches!(event.fact, JourneyFact::Identified { .. }));
    let inserted = dates(|fact| {
        matches!(
            fact,
            JourneyFact::Employed { .. } | JourneyFact::BusinessLaunched { .. }
        )
    })
    .into_iter()
    .min();
    let followed_up = inserted.is_some_and(|inserted| {
        dates(|fact| matches!(fact, JourneyFact::FollowedUp { .. }))
            .into_iter()
            .any(|date| date >= inserted)
    });
    let stage = identification.map(|_| {
        if followed_up {
            Stage::FollowedUp
        } else if inserted.is_some() {
            Stage::Employed
        } else if reached(|fact| matches!(fact, JourneyFact::IncubationStarted { .. })) {
            Stage::Incubated
        } else if reached(|fact| matches!(fact, JourneyFact::TrainingCompleted { .. })) {
            Stage::Trained
        } else if reached(|fact| matches!(fact, JourneyFact::Sensitised { .. })) {
            Stage::Sensitised
        } else {
            Stage::Identified
        }
    });
    let owner = events
        .iter()
        .find(|event| matches!(event.fact, JourneyFact::Identified { .. }))
        .map(|event| event.recorded_by.clone());
    Reference {
        stage,
        identified_by: identification.and(owner.clone()),
        owner,
        recorded_by: events
            .iter()
            .map(|event| (event.event_id, event.recorded_by.clone()))
            .collect(),
        referred: live
            .iter()
            .filter_map(|event| match &event.fact {
                JourneyFact::Referred {
                    organisation_code: Some(organisation),
                    ..
                } => Some(organisation.clone()),
                _ => None,
            })
            .collect(),
        exit: live
            .iter()
            .filter(|event| matches!(event.fact, JourneyFact::Exited { .. }))
            .map(|event| event.event_id)
            .next_back(),
        erased: events
            .iter()
            .any(|event| matches!(event.fact, JourneyFact::PersonalDataErased { .. })),
        retracted_by,
    }
}

/// What the aggregate `beneficiary` says of the points [`Reference`] covers.
fn as_folded(beneficiary: &Beneficiary) -> Reference {
    Reference {
        retracted_by: beneficiary
            .journey()
            .iter()
            .filter_map(|record| Some((record.event_id, record.retracted_by?)))
            .collect(),
        stage: beneficiary.stage(),
        owner: beneficiary.owner().cloned(),
        identified_by: beneficiary.partner().cloned(),
        recorded_by: beneficiary
            .journey()
            .iter()
            .map(|record| (record.event_id, record.recorded_by.clone()))
            .collect(),
        referred: beneficiary.referred_organisations().clone(),
        exit: beneficiary.exit_event(),
        erased: beneficiary.personal_data_erased(),
    }
}

/// Whether DESIGN.md lets `actor` write `fact` for the beneficiary of `stream`: an
/// administrator always; a partner of the programme (REMESS or ENABEL here) for a beneficiary
/// whose record it owns or that it was referred — and then, if it does not own the record,
/// neither an identification nor the retraction of an event another organisation recorded;
/// no one else. Without a non-retracted identification the programme is only known from an
/// identification being written.
fn may_write(stream: &Reference, actor: &Actor, fact: &JourneyFact) -> bool {
    match actor.role {
        Role::Admin => true,
        Role::Partner => {
            let programme_known =
                stream.identified_by.is_some() || matches!(fact, JourneyFact::Identified { .. });
            let programme_partner = [org("REMESS"), org("ENABEL")].contains(&actor.organisation);
            let responsible = stream.owner.as_ref().is_none_or(|owner| {
                *owner == actor.organisation || stream.referred.contains(&actor.organisation)
            });
            let owns = stream
                .owner
                .as_ref()
                .is_none_or(|owner| *owner == actor.organisation);
            let within_its_rights = owns
                || match fact {
                    JourneyFact::Identified { .. } => false,
                    JourneyFact::Retracted {
                        retracted_event_id, ..
                    } => stream
                        .recorded_by
                        .get(retracted_event_id)
                        .is_none_or(|recorder| *recorder == actor.organisation),
                    _ => true,
                };
            (programme_partner || !programme_known) && responsible && within_its_rights
        }
        Role::Auditor | Role::Dashboard => false,
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

    /// (a) Folding the accepted events, one `apply` at a time (the live state) or at once
    /// into a fresh aggregate, gives what the reference fold of the journey rules gives, and
    /// the same state either way.
    #[test]
    fn replay_gives_the_live_state(steps in journey(true)) {
        let run = run(commands(&steps), |_, _| {})?;
        let expected = reference(&run.accepted_events);
        prop_assert_eq!(&as_folded(&run.live), &expected);
        let replayed = Beneficiary::from_events(run.accepted_events.clone());
        prop_assert_eq!(&as_folded(&replayed), &expected);
        prop_assert_eq!(&replayed, &run.live);
        prop_assert_eq!(run.live.version(), run.accepted_events.len() as u64);
        // The carnet de bord holds every accepted event, in order, numbered from 1.
        prop_assert_eq!(run.live.journey().len(), run.accepted_events.len());
        for (index, (record, event)) in run.live.journey().iter().zip(&run.accepted_events).enumerate() {
            prop_assert_eq!(record.sequence, index as u64 + 1);
            prop_assert_eq!(record.event_id, event.event_id);
            prop_assert_eq!(&record.recorded_by, &event.recorded_by);
            prop_assert_eq!(&record.fact, &event.fact);
        }
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
    /// the state as it was. Sent again by its actor, it is a DUPLICATE (no events), even when
    /// that organisation may no longer write for the beneficiary — a referral to it retracted
    /// by the organisation that owns the record or by an administrator. Sent again by any
    /// other caller, it is a DUPLICATE if they may write it for the beneficiary, and refused
    /// as FORBIDDEN otherwise: a caller who may not write learns nothing of the stream.
    #[test]
    fn resubmission_is_a_no_op(steps in journey(true)) {
        let run = run(commands(&steps), |_, _| {})?;
        let services = services();
        let stream = reference(&run.accepted_events);
        for command in run.accepted_commands {
            let state = run.live.clone();
            prop_assert_eq!(state.decide(command.clone(), &services), Ok(vec![]));
            prop_assert_eq!(&state, &run.live);
            let BeneficiaryCommand::Record(record) = command else {
                continue;
            };
            for other in (0..ACTORS).map(actor).filter(|other| *other != record.actor) {
                let expected_allowed = may_write(&stream, &other, &record.fact);
                let resubmitted = BeneficiaryCommand::Record(RecordJourneyEvent {
                    actor: other.clone(),
                    ..record.clone()
                });
                match state.decide(resubmitted, &services) {
                    Ok(events) => {
                        prop_assert!(expected_allowed, "{:?} was not refused", other);
                        prop_assert_eq!(events, vec![]);
                    }
                    Err(error) => {
                        prop_assert!(!expected_allowed, "{:?} was refused: {:?}", other, error);
                        prop_assert_eq!(error.code(), ErrorCode::Forbidden, "{:?}", error);
                    }
                }
                prop_assert_eq!(&state, &run.live);
            }
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
    // Events whose recorder may no longer write for the beneficiary at the end (what makes
    // property (c)'s DUPLICATE-for-the-recorder case bite). Only a referral retracted by the
    // owner or an administrator after the referred partner recorded something does that, a
    // rare sequence: hence the many journeys.
    let mut lost_access = 0usize;
    for _ in 0..3000 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        let result = run(commands(&steps), |_, _| {}).unwrap();
        let stream = reference(&result.accepted_events);
        lost_access += result
            .accepted_commands
            .iter()
            .filter(|command| match command {
                BeneficiaryCommand::Record(record) => {
                    !may_write(&stream, &record.actor, &record.fact)
                }
                BeneficiaryCommand::ErasePersonalData(_) => false,
            })
            .count();
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
    assert!(
        lost_access > 0,
        "events whose recorder lost access: {lost_access}"
    );
}

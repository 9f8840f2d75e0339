//! Given/when/then tests of every beneficiary rule: the accepted path and the refusal.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use uuid::Uuid;

use super::*;
use crate::ids::{BeneficiaryId, CountryCode};
use crate::test_support::*;
use crate::values::{
    EmploymentKind, ExitReason, LivingConditions, Money, ServiceKind, TrainingKind, VentureKind,
};
use crate::ErrorCode;

const ID: u128 = 1;

fn identified_fact() -> JourneyFact {
    JourneyFact::Identified {
        programme_code: programme_code(),
        sex: Sex::Female,
        birth_year: Some(1994),
        nationality: CountryCode::parse("CI").unwrap(),
        legal_status: LegalStatus::RegularisedMigrant,
        region: region("MA-04"),
        city: Some("Rabat".into()),
        channel: ReferralChannel::Association,
        household_with_children: Some(true),
        education_level: None,
        consent: BTreeSet::from([ConsentScope::DataProcessing]),
        personal_data: Some(personal_data()),
    }
}

fn personal_data() -> EncryptedPersonalData {
    EncryptedPersonalData {
        key_id: Uuid::from_u128(77),
        nonce: "bm9uY2U=".into(),
        ciphertext: "Y2lwaGVy".into(),
    }
}

fn with_identified(change: impl FnOnce(&mut JourneyFact)) -> JourneyFact {
    let mut fact = identified_fact();
    change(&mut fact);
    fact
}

fn event(n: u128, occurred_at: DateTime<Utc>, by: &str, fact: JourneyFact) -> BeneficiaryEvent {
    BeneficiaryEvent {
        event_id: eid(n),
        occurred_at,
        recorded_by: org(by),
        fact,
    }
}

/// An event recorded by REMESS on day `day`.
fn ev(n: u128, day: i64, fact: JourneyFact) -> BeneficiaryEvent {
    event(n, at(day), "REMESS", fact)
}

fn identified() -> BeneficiaryEvent {
    ev(ID, 0, identified_fact())
}

fn command_at(
    actor: Actor,
    n: u128,
    occurred_at: DateTime<Utc>,
    fact: JourneyFact,
) -> BeneficiaryCommand {
    BeneficiaryCommand::Record(RecordJourneyEvent {
        beneficiary_id: BeneficiaryId::new(Uuid::from_u128(999)),
        event_id: eid(n),
        occurred_at,
        actor,
        now: now(),
        fact,
    })
}

/// REMESS records `fact` on day `day`.
fn record(n: u128, day: i64, fact: JourneyFact) -> BeneficiaryCommand {
    command_at(remess(), n, at(day), fact)
}

fn record_as(actor: Actor, n: u128, day: i64, fact: JourneyFact) -> BeneficiaryCommand {
    command_at(actor, n, at(day), fact)
}

fn erase(actor: Actor, n: u128, reason: &str) -> BeneficiaryCommand {
    BeneficiaryCommand::ErasePersonalData(ErasePersonalData {
        beneficiary_id: BeneficiaryId::new(Uuid::from_u128(999)),
        event_id: eid(n),
        actor,
        now: now(),
        reason: reason.into(),
    })
}

fn given(events: Vec<BeneficiaryEvent>) -> AggregateTestExecutor<Beneficiary> {
    TestFramework::<Beneficiary>::with(services()).given(events)
}

fn accepts(events: Vec<BeneficiaryEvent>, command: BeneficiaryCommand, expected: BeneficiaryEvent) {
    given(events)
        .when(command)
        .then_expect_events(vec![expected]);
}

fn refuses(events: Vec<BeneficiaryEvent>, command: BeneficiaryCommand, error: BeneficiaryError) {
    given(events).when(command).then_expect_error(error);
}

fn course(code: &str) -> CourseCode {
    CourseCode::parse(code).unwrap()
}

fn sensitised() -> JourneyFact {
    JourneyFact::Sensitised {
        topic: "droits du travail".into(),
        session_id: None,
        location: None,
    }
}

fn enrolled(code: &str, planned_sessions: u32) -> JourneyFact {
    JourneyFact::TrainingEnrolled {
        course_code: course(code),
        course_name: "Soudure".into(),
        kind: TrainingKind::Vocational,
        planned_sessions,
    }
}

fn attended(code: &str, session_number: u32) -> JourneyFact {
    JourneyFact::WorkshopAttended {
        course_code: course(code),
        session_number,
    }
}

fn completed(code: &str) -> JourneyFact {
    JourneyFact::TrainingCompleted {
        course_code: course(code),
        certified: true,
    }
}

fn dropped(code: &str) -> JourneyFact {
    JourneyFact::TrainingDropped {
        course_code: course(code),
        reason: "moved to Tanger".into(),
    }
}

fn incubation() -> JourneyFact {
    JourneyFact::IncubationStarted {
        venture_name: "Atelier couture".into(),
        kind: VentureKind::IncomeGeneratingActivity,
        sector: "textile".into(),
        incubator: None,
    }
}

fn launched() -> JourneyFact {
    JourneyFact::BusinessLaunched {
        venture_name: "Atelier couture".into(),
        registered: false,
        grant_amount: Some(Money::from_mad(5000.0).unwrap()),
    }
}

fn employed() -> JourneyFact {
    JourneyFact::Employed {
        kind: EmploymentKind::Salaried,
        employer_name: "Renault Tanger".into(),
        employer_rse_labelled: true,
        sector: "automobile".into(),
        monthly_income: Some(Money::from_mad(3200.5).unwrap()),
    }
}

fn employment_ended() -> JourneyFact {
    JourneyFact::EmploymentEnded {
        reason: "contract ended".into(),
    }
}

fn followed_up() -> JourneyFact {
    JourneyFact::FollowedUp {
        still_in_activity: true,
        living_conditions: LivingConditions::Improved,
        monthly_income: None,
        notes: None,
    }
}

fn exited() -> JourneyFact {
    JourneyFact::Exited {
        reason: ExitReason::MovedAway,
        notes: None,
    }
}

fn retracted(n: u128) -> JourneyFact {
    JourneyFact::Retracted {
        retracted_event_id: eid(n),
        reason: "recorded by mistake".into(),
    }
}

fn referred(organisation: Option<&str>) -> JourneyFact {
    JourneyFact::Referred {
        service: ServiceKind::PublicEmploymentAgency,
        organisation_code: organisation.map(org),
        note: None,
    }
}

fn consent(scopes: &[ConsentScope], given: bool) -> JourneyFact {
    let scopes = scopes.iter().copied().collect();
    if given {
        JourneyFact::ConsentGiven { scopes }
    } else {
        JourneyFact::ConsentWithdrawn { scopes }
    }
}

// ------------------------------------------------------------------------ 1. idempotency

#[test]
fn an_identification_is_recorded() {
    given(vec![])
        .when(record(ID, 0, identified_fact()))
        .then_expect_events(vec![identified()]);
}

#[test]
fn a_resubmitted_event_id_records_nothing() {
    given(vec![identified()])
        .when(record(ID, 0, identified_fact()))
        .then_expect_events(vec![]);
    given(vec![identified(), ev(2, 1, sensitised())])
        .when(record(2, 1, sensitised()))
        .then_expect_events(vec![]);
}

#[test]
fn idempotency_comes_right_after_access() {
    // The stream has exited since: still a duplicate for whoever may write here.
    let events = vec![identified(), ev(2, 1, sensitised()), ev(3, 2, exited())];
    given(events.clone())
        .when(record(2, 1, sensitised()))
        .then_expect_events(vec![]);
    // Who may not write learns nothing, not even that the event is recorded.
    given(events)
        .when(record_as(actor("X1", Role::Auditor), 2, 1, sensitised()))
        .then_expect_error(BeneficiaryError::Forbidden {
            role: Role::Auditor,
        });
}

// ------------------------------------------------------------------------------ 2. access

#[test]
fn auditors_and_dashboards_may_not_write() {
    for role in [Role::Auditor, Role::Dashboard] {
        refuses(
            vec![],
            record_as(actor("REMESS", role), ID, 0, identified_fact()),
            BeneficiaryError::Forbidden { role },
        );
        refuses(
            vec![identified()],
            record_as(actor("REMESS", role), 2, 1, sensitised()),
            BeneficiaryError::Forbidden { role },
        );
    }
}

#[test]
fn an_admin_writes_for_any_beneficiary() {
    accepts(
        vec![identified()],
        record_as(admin(), 2, 1, sensitised()),
        event(2, at(1), "ADMINS", sensitised()),
    );
    accepts(
        vec![],
        record_as(admin(), ID, 0, identified_fact()),
        event(ID, at(0), "ADMINS", identified_fact()),
    );
}

#[test]
fn a_partner_must_be_a_partner_of_the_programme() {
    refuses(
        vec![],
        record_as(iom(), ID, 0, identified_fact()),
        BeneficiaryError::NotProgrammePartner {
            organisation: org("IOM"),
            programme: programme_code(),
        },
    );
}

#[test]
fn a_partner_writes_only_for_beneficiaries_it_identified() {
    refuses(
        vec![identified()],
        record_as(enabel(), 2, 1, sensitised()),
        BeneficiaryError::NotResponsible {
            organisation: org("ENABEL"),
        },
    );
    accepts(
        vec![identified()],
        record_as(remess(), 2, 1, sensitised()),
        ev(2, 1, sensitised()),
    );
}

#[test]
fn a_refusal_names_neither_the_identifying_organisation_nor_the_programme() {
    // A partner of the programme (ENABEL) and a registered organisation that is not one
    // (IOM) may not learn from a refusal who identified the beneficiary, or in which
    // programme.
    let stream = Beneficiary::from_events(vec![identified(), ev(2, 1, sensitised())]);
    let refusals = [
        record_as(enabel(), 3, 2, sensitised()),
        record_as(iom(), 3, 2, sensitised()),
        record_as(iom(), 3, 2, retracted(2)),
        erase(enabel(), 3, "asked"),
        erase(iom(), 3, "asked"),
    ];
    for command in refusals {
        let error = stream
            .decide(command.clone(), &services())
            .expect_err("refused");
        assert_eq!(error.code(), ErrorCode::Forbidden, "{command:?}: {error:?}");
        let message = error.to_string();
        assert!(
            !message.contains("REMESS") && !message.contains("AMUDDU-RSK"),
            "{command:?}: {message}"
        );
    }
}

#[test]
fn a_referral_gives_the_organisation_access() {
    let events = vec![identified(), ev(2, 1, referred(Some("ENABEL")))];
    accepts(
        events.clone(),
        record_as(enabel(), 3, 2, sensitised()),
        event(3, at(2), "ENABEL", sensitised()),
    );
    // ... until the referral is retracted.
    let mut retracted_referral = events;
    retracted_referral.push(ev(3, 2, retracted(2)));
    refuses(
        retracted_referral,
        record_as(enabel(), 4, 3, sensitised()),
        BeneficiaryError::NotResponsible {
            organisation: org("ENABEL"),
        },
    );
}

#[test]
fn a_partner_whose_referral_was_retracted_may_resubmit_its_events_as_no_ops() {
    let sensitised_by_enabel = event(3, at(2), "ENABEL", sensitised());
    let history = vec![
        identified(),
        ev(2, 1, referred(Some("ENABEL"))),
        sensitised_by_enabel,
        ev(4, 3, retracted(2)),
    ];
    // The retraction took ENABEL's access away, yet its resubmission is still a duplicate.
    given(history.clone())
        .when(record_as(enabel(), 3, 2, sensitised()))
        .then_expect_events(vec![]);
    // A new event from ENABEL is refused.
    refuses(
        history,
        record_as(enabel(), 5, 4, sensitised()),
        BeneficiaryError::NotResponsible {
            organisation: org("ENABEL"),
        },
    );
}

#[test]
fn a_referred_organisation_must_still_be_a_partner_of_the_programme() {
    refuses(
        vec![identified(), ev(2, 1, referred(Some("IOM")))],
        record_as(iom(), 3, 2, sensitised()),
        BeneficiaryError::NotProgrammePartner {
            organisation: org("IOM"),
            programme: programme_code(),
        },
    );
}

// --------------------------------------------------------------------------- 2b. ownership

/// REMESS identified the beneficiary (with personal data) and referred them to ENABEL.
fn identified_and_referred() -> Vec<BeneficiaryEvent> {
    vec![identified(), ev(2, 1, referred(Some("ENABEL")))]
}

#[test]
fn a_stream_belongs_for_ever_to_the_organisation_that_identified_it() {
    // REMESS retracts its identification as a correction: the stream is still REMESS's.
    let mut events = identified_and_referred();
    events.push(ev(3, 2, retracted(ID)));
    let beneficiary = Beneficiary::from_events(events.clone());
    assert!(!beneficiary.is_identified());
    assert_eq!(beneficiary.partner(), None);
    assert_eq!(beneficiary.owner(), Some(&org("REMESS")));
    assert!(beneficiary.is_responsible(&org("REMESS")));
    assert!(beneficiary.is_responsible(&org("ENABEL")));
    assert!(!beneficiary.is_responsible(&org("ANAPEC")));
    // An administrator identifies them again: REMESS still owns the record.
    events.push(event(4, at(3), "ADMINS", identified_fact()));
    let beneficiary = Beneficiary::from_events(events);
    assert_eq!(beneficiary.owner(), Some(&org("REMESS")));
    assert_eq!(beneficiary.partner(), Some(&org("REMESS")));
    assert_eq!(beneficiary.identified().map(|i| i.event_id), Some(eid(4)));
    assert!(!beneficiary.is_responsible(&org("ADMINS")));
}

#[test]
fn a_referred_partner_retracts_only_the_events_it_recorded() {
    let mut events = identified_and_referred();
    events.push(ev(3, 2, sensitised()));
    events.push(event(4, at(3), "ENABEL", enrolled("WELD-01", 2)));
    // Not the identification, nor any other event of REMESS's.
    for target in [ID, 2, 3] {
        refuses(
            events.clone(),
            record_as(enabel(), 5, 4, retracted(target)),
            BeneficiaryError::NotRecorder {
                event_id: eid(target),
            },
        );
    }
    // Its own, yes.
    accepts(
        events.clone(),
        record_as(enabel(), 5, 4, retracted(4)),
        event(5, at(4), "ENABEL", retracted(4)),
    );
    // The identifying organisation and an administrator retract anything.
    accepts(
        events.clone(),
        record_as(remess(), 5, 4, retracted(4)),
        ev(5, 4, retracted(4)),
    );
    accepts(
        events,
        record_as(admin(), 5, 4, retracted(ID)),
        event(5, at(4), "ADMINS", retracted(ID)),
    );
}

#[test]
fn only_the_identifying_organisation_or_an_admin_identifies_a_beneficiary_again() {
    let mut events = identified_and_referred();
    events.push(ev(3, 2, retracted(ID)));
    refuses(
        events.clone(),
        record_as(enabel(), 4, 3, identified_fact()),
        BeneficiaryError::NotOwner {
            organisation: org("ENABEL"),
        },
    );
    accepts(
        events.clone(),
        record_as(remess(), 4, 3, identified_fact()),
        ev(4, 3, identified_fact()),
    );
    accepts(
        events,
        record_as(admin(), 4, 3, identified_fact()),
        event(4, at(3), "ADMINS", identified_fact()),
    );
}

#[test]
fn a_retracted_identification_does_not_open_the_stream_to_anyone() {
    // CEFA is a partner of another programme only; ANAPEC is a partner of the beneficiary's
    // programme that was never referred them.
    let other = ProgrammeFacts {
        code: ProgrammeCode::parse("WORK4LIFE").unwrap(),
        start_date: start_date(),
        end_date: None,
        regions: vec![region("MA-04")],
        partners: vec![org("CEFA")],
    };
    let services = DomainServices::new(directory().with_programme(other.clone()));
    let in_other_programme = with_identified(|f| {
        if let JourneyFact::Identified { programme_code, .. } = f {
            *programme_code = other.code.clone();
        }
    });
    let private_note = JourneyFact::Sensitised {
        topic: "santé".into(),
        session_id: None,
        location: Some("chez une amie, quartier Takaddoum".into()),
    };
    let events = vec![
        identified(),
        ev(2, 1, private_note),
        ev(3, 2, retracted(ID)),
    ];
    let framework = || TestFramework::<Beneficiary>::with(services.clone());
    framework()
        .given(events.clone())
        .when(record_as(
            actor("CEFA", Role::Partner),
            4,
            3,
            in_other_programme,
        ))
        .then_expect_error(BeneficiaryError::NotResponsible {
            organisation: org("CEFA"),
        });
    framework()
        .given(events.clone())
        .when(record_as(
            actor("ANAPEC", Role::Partner),
            4,
            3,
            identified_fact(),
        ))
        .then_expect_error(BeneficiaryError::NotResponsible {
            organisation: org("ANAPEC"),
        });
    framework()
        .given(events)
        .when(record_as(remess(), 4, 3, identified_fact()))
        .then_expect_events(vec![ev(4, 3, identified_fact())]);
}

#[test]
fn a_referred_partner_that_took_a_beneficiary_over_in_an_old_log_owns_nothing() {
    // A log written before ownership was kept: ENABEL, referred, retracted REMESS's
    // identification and identified the beneficiary itself.
    let mut events = identified_and_referred();
    events.push(event(3, at(2), "ENABEL", retracted(ID)));
    events.push(event(4, at(2), "ENABEL", identified_fact()));
    let beneficiary = Beneficiary::from_events(events.clone());
    assert_eq!(beneficiary.partner(), Some(&org("REMESS")));
    given(events.clone())
        .when(erase(enabel(), 5, "asked"))
        .then_expect_error(BeneficiaryError::MayNotErase {
            organisation: org("ENABEL"),
        });
    given(events)
        .when(erase(remess(), 5, "asked by the beneficiary"))
        .then_expect_events(vec![erased(5, "REMESS")]);
}

#[test]
fn a_referred_partner_erases_only_to_complete_a_withdrawal_of_consent() {
    // The identification retracted, no consent is left, but none was withdrawn.
    let mut retracted_identification = identified_and_referred();
    retracted_identification.push(ev(3, 2, retracted(ID)));
    given(retracted_identification)
        .when(erase(enabel(), 4, "asked"))
        .then_expect_error(BeneficiaryError::MayNotErase {
            organisation: org("ENABEL"),
        });
    // Consent to data processing withdrawn: the referred partner completes the erasure.
    let mut withdrawn = identified_and_referred();
    withdrawn.push(event(
        3,
        at(2),
        "ENABEL",
        consent(&[ConsentScope::DataProcessing], false),
    ));
    given(withdrawn)
        .when(erase(enabel(), 4, "asked by the beneficiary"))
        .then_expect_events(vec![erased(4, "ENABEL")]);
}

// ---------------------------------------------------------------------- 3. identification

#[test]
fn nothing_but_identified_on_a_new_stream() {
    refuses(
        vec![],
        record(2, 1, sensitised()),
        BeneficiaryError::NotIdentified,
    );
    refuses(
        vec![],
        record(2, 1, retracted(ID)),
        BeneficiaryError::NotIdentified,
    );
}

#[test]
fn identified_only_once() {
    refuses(
        vec![identified()],
        record(2, 1, identified_fact()),
        BeneficiaryError::AlreadyIdentified,
    );
}

#[test]
fn a_retracted_identification_may_be_recorded_again() {
    let events = vec![identified(), ev(2, 1, retracted(ID))];
    assert!(!Beneficiary::from_events(events.clone()).is_identified());
    accepts(
        events.clone(),
        record(3, 1, identified_fact()),
        ev(3, 1, identified_fact()),
    );
    refuses(
        events,
        record(3, 1, sensitised()),
        BeneficiaryError::NotIdentified,
    );
}

#[test]
fn the_programme_must_be_registered() {
    let unknown = ProgrammeCode::parse("NOPE").unwrap();
    let fact = with_identified(|f| {
        if let JourneyFact::Identified { programme_code, .. } = f {
            *programme_code = unknown.clone();
        }
    });
    refuses(
        vec![],
        record(ID, 0, fact),
        BeneficiaryError::UnknownProgramme { programme: unknown },
    );
}

#[test]
fn the_region_must_be_one_of_the_programmes() {
    let set_region = |code: &str| {
        let code = region(code);
        with_identified(move |f| {
            if let JourneyFact::Identified { region, .. } = f {
                *region = code;
            }
        })
    };
    refuses(
        vec![],
        record(ID, 0, set_region("MA-01")),
        BeneficiaryError::RegionNotInProgramme {
            region: region("MA-01"),
            programme: programme_code(),
        },
    );
    accepts(
        vec![],
        record(ID, 0, set_region("MA-06")),
        ev(ID, 0, set_region("MA-06")),
    );
}

#[test]
fn the_birth_year_must_be_plausible() {
    let born = |year: Option<i32>| {
        with_identified(move |f| {
            if let JourneyFact::Identified { birth_year, .. } = f {
                *birth_year = year;
            }
        })
    };
    for year in [1899, 2025] {
        refuses(
            vec![],
            record(ID, 0, born(Some(year))),
            BeneficiaryError::BirthYearOutOfRange {
                birth_year: year,
                latest: 2024,
            },
        );
    }
    for year in [Some(1900), Some(2024), None] {
        accepts(vec![], record(ID, 0, born(year)), ev(ID, 0, born(year)));
    }
}

#[test]
fn personal_data_needs_data_processing_consent() {
    let without_consent = with_identified(|f| {
        if let JourneyFact::Identified { consent, .. } = f {
            *consent = BTreeSet::from([ConsentScope::FollowUpContact]);
        }
    });
    refuses(
        vec![],
        record(ID, 0, without_consent.clone()),
        BeneficiaryError::PersonalDataWithoutConsent,
    );
    let without_data = {
        let mut fact = without_consent;
        if let JourneyFact::Identified { personal_data, .. } = &mut fact {
            *personal_data = None;
        }
        fact
    };
    accepts(
        vec![],
        record(ID, 0, without_data.clone()),
        ev(ID, 0, without_data),
    );
}

// ------------------------------------------------------------------------------- 4. dates

#[test]
fn no_event_dated_in_the_future_beyond_the_clock_skew() {
    let too_late = now() + Duration::minutes(6);
    refuses(
        vec![identified()],
        command_at(remess(), 2, too_late, sensitised()),
        BeneficiaryError::DatedInFuture {
            occurred_at: too_late,
            now: now(),
        },
    );
    let skewed = now() + Duration::minutes(4);
    accepts(
        vec![identified()],
        command_at(remess(), 2, skewed, sensitised()),
        event(2, skewed, "REMESS", sensitised()),
    );
}

#[test]
fn no_event_dated_at_a_leap_second() {
    let leap = date(2024, 6, 30)
        .and_hms_milli_opt(23, 59, 59, 1_000)
        .unwrap()
        .and_utc();
    refuses(
        vec![identified()],
        command_at(remess(), 2, leap, sensitised()),
        BeneficiaryError::Invalid {
            field: "occurredAt",
            problem: ValueError::LeapSecond(leap),
        },
    );
    let before = date(2024, 6, 30)
        .and_hms_milli_opt(23, 59, 59, 999)
        .unwrap()
        .and_utc();
    accepts(
        vec![identified()],
        command_at(remess(), 2, before, sensitised()),
        event(2, before, "REMESS", sensitised()),
    );
}

#[test]
fn no_event_dated_before_the_programme_starts() {
    let before = Utc.with_ymd_and_hms(2022, 12, 31, 23, 59, 59).unwrap();
    refuses(
        vec![],
        command_at(remess(), ID, before, identified_fact()),
        BeneficiaryError::DatedBeforeProgrammeStart {
            date: date(2022, 12, 31),
            programme: programme_code(),
            start_date: start_date(),
        },
    );
    let first_day = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap();
    accepts(
        vec![],
        command_at(remess(), ID, first_day, identified_fact()),
        event(ID, first_day, "REMESS", identified_fact()),
    );
}

#[test]
fn no_event_dated_before_the_identification() {
    let before = at(0) - Duration::hours(1);
    refuses(
        vec![identified()],
        command_at(remess(), 2, before, sensitised()),
        BeneficiaryError::DatedBeforeIdentification {
            occurred_at: before,
            identified_at: at(0),
        },
    );
    accepts(
        vec![identified()],
        command_at(remess(), 2, at(0), sensitised()),
        event(2, at(0), "REMESS", sensitised()),
    );
}

// -------------------------------------------------------------------------------- 5. exit

#[test]
fn nothing_is_accepted_after_an_exit() {
    let events = vec![identified(), ev(2, 1, sensitised()), ev(3, 2, exited())];
    refuses(
        events.clone(),
        record(4, 3, sensitised()),
        BeneficiaryError::Exited {
            exit_event_id: eid(3),
        },
    );
    // Not even the retraction of another event.
    refuses(
        events,
        record(4, 3, retracted(2)),
        BeneficiaryError::Exited {
            exit_event_id: eid(3),
        },
    );
}

#[test]
fn an_exit_may_be_retracted_and_then_the_journey_goes_on() {
    let events = vec![identified(), ev(2, 2, exited())];
    accepts(
        events.clone(),
        record(3, 3, retracted(2)),
        ev(3, 3, retracted(2)),
    );
    let mut reopened = events;
    reopened.push(ev(3, 3, retracted(2)));
    assert!(Beneficiary::from_events(reopened.clone()).active());
    accepts(reopened, record(4, 4, sensitised()), ev(4, 4, sensitised()));
}

#[test]
fn personal_data_may_be_erased_after_an_exit() {
    given(vec![identified(), ev(2, 2, exited())])
        .when(erase(remess(), 3, "asked by the beneficiary"))
        .then_expect_events(vec![event(
            3,
            now(),
            "REMESS",
            JourneyFact::PersonalDataErased {
                reason: "asked by the beneficiary".into(),
            },
        )]);
}

// ------------------------------------------------------------------------ 6. dependencies

#[test]
fn attendance_needs_an_enrolment_in_that_course() {
    refuses(
        vec![identified()],
        record(2, 1, attended("WELD-01", 1)),
        BeneficiaryError::NotEnrolled {
            course: course("WELD-01"),
        },
    );
    refuses(
        vec![identified(), ev(2, 1, enrolled("SEW-01", 4))],
        record(3, 2, attended("WELD-01", 1)),
        BeneficiaryError::NotEnrolled {
            course: course("WELD-01"),
        },
    );
    accepts(
        vec![identified(), ev(2, 1, enrolled("WELD-01", 4))],
        record(3, 2, attended("WELD-01", 1)),
        ev(3, 2, attended("WELD-01", 1)),
    );
}

#[test]
fn a_session_number_is_within_the_planned_sessions() {
    let events = vec![identified(), ev(2, 1, enrolled("WELD-01", 4))];
    for session in [0, 5] {
        refuses(
            events.clone(),
            record(3, 2, attended("WELD-01", session)),
            BeneficiaryError::SessionOutOfRange {
                course: course("WELD-01"),
                session,
                planned: 4,
            },
        );
    }
    accepts(
        events,
        record(3, 2, attended("WELD-01", 4)),
        ev(3, 2, attended("WELD-01", 4)),
    );
}

#[test]
fn completion_and_drop_out_need_an_enrolment() {
    for fact in [completed("WELD-01"), dropped("WELD-01")] {
        refuses(
            vec![identified()],
            record(2, 1, fact.clone()),
            BeneficiaryError::NotEnrolled {
                course: course("WELD-01"),
            },
        );
        // A retracted enrolment is no enrolment.
        refuses(
            vec![
                identified(),
                ev(2, 1, enrolled("WELD-01", 4)),
                ev(3, 1, retracted(2)),
            ],
            record(4, 2, fact.clone()),
            BeneficiaryError::NotEnrolled {
                course: course("WELD-01"),
            },
        );
        accepts(
            vec![identified(), ev(2, 1, enrolled("WELD-01", 4))],
            record(3, 2, fact.clone()),
            ev(3, 2, fact),
        );
    }
}

#[test]
fn no_second_enrolment_in_the_same_course() {
    let events = vec![identified(), ev(2, 1, enrolled("WELD-01", 4))];
    refuses(
        events.clone(),
        record(3, 2, enrolled("WELD-01", 4)),
        BeneficiaryError::AlreadyEnrolled {
            course: course("WELD-01"),
        },
    );
    accepts(
        events.clone(),
        record(3, 2, enrolled("SEW-01", 6)),
        ev(3, 2, enrolled("SEW-01", 6)),
    );
    // Once the first enrolment is retracted, enrolling again is a correction.
    let mut corrected = events;
    corrected.push(ev(3, 1, retracted(2)));
    accepts(
        corrected,
        record(4, 2, enrolled("WELD-01", 5)),
        ev(4, 2, enrolled("WELD-01", 5)),
    );
}

#[test]
fn a_completed_or_dropped_course_is_closed() {
    for closing in [completed("WELD-01"), dropped("WELD-01")] {
        for next in [completed("WELD-01"), dropped("WELD-01")] {
            refuses(
                vec![
                    identified(),
                    ev(2, 1, enrolled("WELD-01", 4)),
                    ev(3, 2, closing.clone()),
                ],
                record(4, 3, next),
                BeneficiaryError::CourseClosed {
                    course: course("WELD-01"),
                },
            );
        }
    }
    // A retracted completion reopens the course.
    accepts(
        vec![
            identified(),
            ev(2, 1, enrolled("WELD-01", 4)),
            ev(3, 2, completed("WELD-01")),
            ev(4, 2, retracted(3)),
        ],
        record(5, 3, dropped("WELD-01")),
        ev(5, 3, dropped("WELD-01")),
    );
}

#[test]
fn a_business_launch_needs_an_incubation() {
    refuses(
        vec![identified()],
        record(2, 1, launched()),
        BeneficiaryError::NotIncubated,
    );
    refuses(
        vec![identified(), ev(2, 1, incubation()), ev(3, 1, retracted(2))],
        record(4, 2, launched()),
        BeneficiaryError::NotIncubated,
    );
    accepts(
        vec![identified(), ev(2, 1, incubation())],
        record(3, 2, launched()),
        ev(3, 2, launched()),
    );
}

#[test]
fn a_follow_up_needs_an_insertion() {
    refuses(
        vec![identified(), ev(2, 1, incubation())],
        record(3, 2, followed_up()),
        BeneficiaryError::NotInserted,
    );
    refuses(
        vec![identified(), ev(2, 1, employed()), ev(3, 1, retracted(2))],
        record(4, 2, followed_up()),
        BeneficiaryError::NotInserted,
    );
    accepts(
        vec![identified(), ev(2, 1, employed())],
        record(3, 40, followed_up()),
        ev(3, 40, followed_up()),
    );
    accepts(
        vec![identified(), ev(2, 1, incubation()), ev(3, 5, launched())],
        record(4, 5, followed_up()),
        ev(4, 5, followed_up()),
    );
}

#[test]
fn a_follow_up_is_dated_on_or_after_the_insertion() {
    // Employed recorded late, dated day 10; a follow-up dated day 5 comes before it.
    let events = vec![identified(), ev(2, 10, employed())];
    refuses(
        events.clone(),
        record(3, 5, followed_up()),
        BeneficiaryError::FollowUpBeforeInsertion {
            date: at(5).date_naive(),
            inserted: at(10).date_naive(),
        },
    );
    // Same calendar day, earlier hour: on the insertion date, accepted.
    let same_day = at(10) - Duration::hours(2);
    accepts(
        events,
        command_at(remess(), 3, same_day, followed_up()),
        event(3, same_day, "REMESS", followed_up()),
    );
}

#[test]
fn an_employment_end_needs_a_current_employment() {
    refuses(
        vec![identified()],
        record(2, 1, employment_ended()),
        BeneficiaryError::NotEmployed,
    );
    refuses(
        vec![
            identified(),
            ev(2, 1, employed()),
            ev(3, 2, employment_ended()),
        ],
        record(4, 3, employment_ended()),
        BeneficiaryError::NotEmployed,
    );
    accepts(
        vec![identified(), ev(2, 1, employed())],
        record(3, 2, employment_ended()),
        ev(3, 2, employment_ended()),
    );
    // Two jobs, one ended: the other can still end.
    accepts(
        vec![
            identified(),
            ev(2, 1, employed()),
            ev(3, 2, employed()),
            ev(4, 3, employment_ended()),
        ],
        record(5, 4, employment_ended()),
        ev(5, 4, employment_ended()),
    );
}

#[test]
fn a_referral_names_a_registered_organisation() {
    refuses(
        vec![identified()],
        record(2, 1, referred(Some("NOBODY"))),
        BeneficiaryError::UnknownOrganisation {
            organisation: org("NOBODY"),
        },
    );
    accepts(
        vec![identified()],
        record(2, 1, referred(Some("ANAPEC"))),
        ev(2, 1, referred(Some("ANAPEC"))),
    );
    accepts(
        vec![identified()],
        record(2, 1, referred(None)),
        ev(2, 1, referred(None)),
    );
}

// -------------------------------------------------------------------------- 7. retraction

#[test]
fn a_retraction_names_an_event_of_this_stream() {
    refuses(
        vec![identified()],
        record(2, 1, retracted(42)),
        BeneficiaryError::RetractedEventNotFound { event_id: eid(42) },
    );
    accepts(
        vec![identified(), ev(2, 1, sensitised())],
        record(3, 2, retracted(2)),
        ev(3, 2, retracted(2)),
    );
}

#[test]
fn an_event_is_retracted_once() {
    refuses(
        vec![identified(), ev(2, 1, sensitised()), ev(3, 2, retracted(2))],
        record(4, 3, retracted(2)),
        BeneficiaryError::AlreadyRetracted { event_id: eid(2) },
    );
}

#[test]
fn retractions_and_erasures_cannot_be_retracted() {
    refuses(
        vec![identified(), ev(2, 1, sensitised()), ev(3, 2, retracted(2))],
        record(4, 3, retracted(3)),
        BeneficiaryError::NotRetractable {
            event_id: eid(3),
            event_type: "Retracted",
        },
    );
    let erased = ev(
        2,
        1,
        JourneyFact::PersonalDataErased {
            reason: "asked".into(),
        },
    );
    refuses(
        vec![identified(), erased],
        record(3, 2, retracted(2)),
        BeneficiaryError::NotRetractable {
            event_id: eid(2),
            event_type: "PersonalDataErased",
        },
    );
}

#[test]
fn a_retraction_voids_the_event_and_the_state_is_recomputed_without_it() {
    let mut beneficiary = Beneficiary::from_events(vec![
        identified(),
        ev(2, 1, sensitised()),
        ev(3, 2, enrolled("WELD-01", 2)),
        ev(4, 9, completed("WELD-01")),
    ]);
    assert_eq!(beneficiary.stage(), Some(Stage::Trained));
    assert_eq!(
        beneficiary.milestones().completed_training,
        Some(at(9).date_naive())
    );

    beneficiary.apply(ev(5, 10, retracted(4)));
    assert_eq!(beneficiary.stage(), Some(Stage::Sensitised));
    assert_eq!(beneficiary.milestones().completed_training, None);
    assert_eq!(beneficiary.milestones().enrolled, Some(at(2).date_naive()));
    let record = beneficiary.record(eid(4)).unwrap();
    assert_eq!(record.retracted_by, Some(eid(5)));
    assert_eq!(
        record.retraction_reason.as_deref(),
        Some("recorded by mistake")
    );
    assert_eq!(beneficiary.version(), 5);
    assert_eq!(beneficiary.journey().len(), 5);

    beneficiary.apply(ev(6, 10, retracted(2)));
    assert_eq!(beneficiary.stage(), Some(Stage::Identified));
    assert_eq!(beneficiary.milestones().sensitised, None);

    beneficiary.apply(ev(7, 10, retracted(ID)));
    assert_eq!(beneficiary.stage(), None);
    assert!(!beneficiary.is_identified());
    assert!(!beneficiary.active());
    assert_eq!(beneficiary.milestones(), &Milestones::default());
}

// ------------------------------------------------------------------------------ 8. fields

#[test]
fn required_texts_must_not_be_empty() {
    let blank_topic = JourneyFact::Sensitised {
        topic: "   ".into(),
        session_id: None,
        location: None,
    };
    refuses(
        vec![identified()],
        record(2, 1, blank_topic),
        BeneficiaryError::Invalid {
            field: "topic",
            problem: ValueError::Empty,
        },
    );
    let blank_reason = JourneyFact::Retracted {
        retracted_event_id: eid(ID),
        reason: "".into(),
    };
    refuses(
        vec![identified()],
        record(2, 1, blank_reason),
        BeneficiaryError::Invalid {
            field: "reason",
            problem: ValueError::Empty,
        },
    );
    let no_employer = JourneyFact::Employed {
        kind: EmploymentKind::Internship,
        employer_name: " ".into(),
        employer_rse_labelled: false,
        sector: "hotellerie".into(),
        monthly_income: None,
    };
    refuses(
        vec![identified()],
        record(2, 1, no_employer),
        BeneficiaryError::Invalid {
            field: "employerName",
            problem: ValueError::Empty,
        },
    );
}

#[test]
fn texts_are_bounded() {
    let long_note = JourneyFact::Exited {
        reason: ExitReason::Other,
        notes: Some("x".repeat(501)),
    };
    refuses(
        vec![identified()],
        record(2, 1, long_note),
        BeneficiaryError::Invalid {
            field: "notes",
            problem: ValueError::TooLong {
                max: 500,
                length: 501,
            },
        },
    );
    let long_city = with_identified(|f| {
        if let JourneyFact::Identified { city, .. } = f {
            *city = Some("y".repeat(201));
        }
    });
    refuses(
        vec![],
        record(ID, 0, long_city),
        BeneficiaryError::Invalid {
            field: "city",
            problem: ValueError::TooLong {
                max: 200,
                length: 201,
            },
        },
    );
}

#[test]
fn texts_hold_no_control_character() {
    let nul = |position| ValueError::ControlCharacter {
        code_point: 0,
        position,
    };
    let topic = JourneyFact::Sensitised {
        topic: "droits\u{0}".into(),
        session_id: None,
        location: None,
    };
    refuses(
        vec![identified()],
        record(2, 1, topic),
        BeneficiaryError::Invalid {
            field: "topic",
            problem: nul(7),
        },
    );
    let city = with_identified(|f| {
        if let JourneyFact::Identified { city, .. } = f {
            *city = Some("\u{0}Rabat".into());
        }
    });
    refuses(
        vec![],
        record(ID, 0, city),
        BeneficiaryError::Invalid {
            field: "city",
            problem: nul(1),
        },
    );
    let employer = JourneyFact::Employed {
        kind: EmploymentKind::Salaried,
        employer_name: "Renault\u{1b}[2J".into(),
        employer_rse_labelled: false,
        sector: "automobile".into(),
        monthly_income: None,
    };
    refuses(
        vec![identified()],
        record(2, 1, employer),
        BeneficiaryError::Invalid {
            field: "employerName",
            problem: ValueError::ControlCharacter {
                code_point: 0x1b,
                position: 8,
            },
        },
    );
    let skills = JourneyFact::SkillsAssessed {
        skills: vec!["couture".into(), "cuisine\u{0}".into()],
        languages: vec![],
        notes: None,
    };
    refuses(
        vec![identified()],
        record(2, 1, skills),
        BeneficiaryError::Invalid {
            field: "skills",
            problem: nul(8),
        },
    );
    // Tabs and line breaks are fine in free text.
    let notes = JourneyFact::Exited {
        reason: ExitReason::Other,
        notes: Some("ligne 1\r\nligne\t2".into()),
    };
    accepts(
        vec![identified()],
        record(2, 1, notes.clone()),
        ev(2, 1, notes),
    );
}

#[test]
fn an_erasure_s_reason_holds_no_control_character() {
    given(vec![identified()])
        .when(erase(remess(), 2, "asked\u{0}"))
        .then_expect_error(BeneficiaryError::Invalid {
            field: "reason",
            problem: ValueError::ControlCharacter {
                code_point: 0,
                position: 6,
            },
        });
}

#[test]
fn texts_are_stored_trimmed() {
    let padded = JourneyFact::Sensitised {
        topic: "  santé  ".into(),
        session_id: Some("   ".into()),
        location: Some(" Salé ".into()),
    };
    let stored = JourneyFact::Sensitised {
        topic: "santé".into(),
        session_id: None,
        location: Some("Salé".into()),
    };
    accepts(vec![identified()], record(2, 1, padded), ev(2, 1, stored));
}

#[test]
fn consent_events_name_at_least_one_scope() {
    for given_or_withdrawn in [true, false] {
        refuses(
            vec![identified()],
            record(2, 1, consent(&[], given_or_withdrawn)),
            BeneficiaryError::Invalid {
                field: "scopes",
                problem: ValueError::EmptyList,
            },
        );
        let fact = consent(&[ConsentScope::FollowUpContact], given_or_withdrawn);
        accepts(
            vec![identified()],
            record(2, 1, fact.clone()),
            ev(2, 1, fact),
        );
    }
}

#[test]
fn planned_sessions_are_between_1_and_1000() {
    for planned in [0, 1001] {
        refuses(
            vec![identified()],
            record(2, 1, enrolled("WELD-01", planned)),
            BeneficiaryError::Invalid {
                field: "plannedSessions",
                problem: ValueError::OutOfRange {
                    value: i64::from(planned),
                    min: 1,
                    max: 1000,
                },
            },
        );
    }
    for planned in [1, 1000] {
        accepts(
            vec![identified()],
            record(2, 1, enrolled("WELD-01", planned)),
            ev(2, 1, enrolled("WELD-01", planned)),
        );
    }
}

#[test]
fn skills_are_non_empty_texts() {
    let skills = JourneyFact::SkillsAssessed {
        skills: vec!["soudure".into(), "".into()],
        languages: vec![],
        notes: None,
    };
    refuses(
        vec![identified()],
        record(2, 1, skills),
        BeneficiaryError::Invalid {
            field: "skills",
            problem: ValueError::Empty,
        },
    );
}

#[test]
fn encrypted_personal_data_is_not_empty() {
    let empty = with_identified(|f| {
        if let JourneyFact::Identified { personal_data, .. } = f {
            *personal_data = Some(EncryptedPersonalData {
                key_id: Uuid::from_u128(1),
                nonce: "bm9uY2U=".into(),
                ciphertext: "".into(),
            });
        }
    });
    refuses(
        vec![],
        record(ID, 0, empty),
        BeneficiaryError::Invalid {
            field: "personalData",
            problem: ValueError::Empty,
        },
    );
}

#[test]
fn an_erasure_is_not_a_journey_event() {
    refuses(
        vec![identified()],
        record(
            2,
            1,
            JourneyFact::PersonalDataErased {
                reason: "asked".into(),
            },
        ),
        BeneficiaryError::ErasureNotAJourneyEvent,
    );
}

// ------------------------------------------------------------------------------ 9. erasure

fn erased(n: u128, by: &str) -> BeneficiaryEvent {
    event(
        n,
        now(),
        by,
        JourneyFact::PersonalDataErased {
            reason: "asked by the beneficiary".into(),
        },
    )
}

#[test]
fn an_admin_or_the_identifying_partner_erases_personal_data() {
    given(vec![identified()])
        .when(erase(admin(), 2, "asked by the beneficiary"))
        .then_expect_events(vec![erased(2, "ADMINS")]);
    given(vec![identified()])
        .when(erase(remess(), 2, " asked by the beneficiary "))
        .then_expect_events(vec![erased(2, "REMESS")]);
}

#[test]
fn personal_data_of_a_retracted_identification_can_still_be_erased() {
    let events = vec![identified(), ev(2, 1, retracted(ID))];
    given(events.clone())
        .when(erase(remess(), 3, "asked by the beneficiary"))
        .then_expect_events(vec![erased(3, "REMESS")]);
    given(events)
        .when(erase(enabel(), 3, "asked"))
        .then_expect_error(BeneficiaryError::MayNotErase {
            organisation: org("ENABEL"),
        });
}

#[test]
fn nobody_else_erases_personal_data() {
    // Not even an organisation the beneficiary was referred to.
    given(vec![identified(), ev(2, 1, referred(Some("ENABEL")))])
        .when(erase(enabel(), 3, "asked"))
        .then_expect_error(BeneficiaryError::MayNotErase {
            organisation: org("ENABEL"),
        });
    for role in [Role::Auditor, Role::Dashboard] {
        given(vec![identified()])
            .when(erase(actor("REMESS", role), 2, "asked"))
            .then_expect_error(BeneficiaryError::Forbidden { role });
    }
}

#[test]
fn erasure_needs_an_identification_and_a_reason() {
    given(vec![])
        .when(erase(admin(), 2, "asked"))
        .then_expect_error(BeneficiaryError::NotIdentified);
    given(vec![identified()])
        .when(erase(remess(), 2, "  "))
        .then_expect_error(BeneficiaryError::Invalid {
            field: "reason",
            problem: ValueError::Empty,
        });
}

#[test]
fn erasing_twice_records_nothing_more() {
    let events = vec![identified(), erased(2, "REMESS")];
    given(events.clone())
        .when(erase(remess(), 2, "asked by the beneficiary"))
        .then_expect_events(vec![]);
    given(events)
        .when(erase(admin(), 3, "again"))
        .then_expect_events(vec![]);
}

#[test]
fn erasure_removes_the_personal_data_for_good() {
    let mut beneficiary = Beneficiary::from_events(vec![identified()]);
    assert_eq!(beneficiary.personal_data(), Some(&personal_data()));
    assert!(!beneficiary.personal_data_erased());
    beneficiary.apply(erased(2, "REMESS"));
    assert_eq!(beneficiary.personal_data(), None);
    assert!(beneficiary.personal_data_erased());
    beneficiary.apply(ev(3, 3, consent(&[ConsentScope::DataProcessing], true)));
    assert_eq!(beneficiary.personal_data(), None);
}

// -------------------------------------------------------------------------- derived state

#[test]
fn identification_data_is_read_from_the_identified_event() {
    let beneficiary = Beneficiary::from_events(vec![identified()]);
    let identification = beneficiary.identified().unwrap();
    assert_eq!(identification.event_id, eid(ID));
    assert_eq!(identification.identified_at, at(0));
    assert_eq!(identification.programme_code, programme_code());
    assert_eq!(identification.partner, org("REMESS"));
    assert_eq!(identification.sex, Sex::Female);
    assert_eq!(identification.birth_year, Some(1994));
    assert_eq!(identification.nationality.as_str(), "CI");
    assert_eq!(identification.legal_status, LegalStatus::RegularisedMigrant);
    assert_eq!(identification.region, region("MA-04"));
    assert_eq!(identification.city.as_deref(), Some("Rabat"));
    assert_eq!(identification.age_band(), AgeBand::Age25To34);
    assert_eq!(beneficiary.programme_code(), Some(&programme_code()));
    assert_eq!(beneficiary.partner(), Some(&org("REMESS")));
    assert_eq!(beneficiary.stage(), Some(Stage::Identified));
    assert!(beneficiary.active());
    assert_eq!(beneficiary.version(), 1);
    assert_eq!(beneficiary.sequence_of(eid(ID)), Some(1));
    assert_eq!(beneficiary.sequence_of(eid(2)), None);
}

#[test]
fn an_empty_stream_is_nobody() {
    let beneficiary = Beneficiary::default();
    assert_eq!(beneficiary.version(), 0);
    assert_eq!(beneficiary.stage(), None);
    assert!(!beneficiary.active());
    assert!(beneficiary.identified().is_none());
    assert_eq!(beneficiary.owner(), None);
    assert!(beneficiary.consent().is_empty());
}

#[test]
fn consent_follows_the_events_in_order() {
    let mut beneficiary = Beneficiary::from_events(vec![identified()]);
    assert_eq!(
        beneficiary.consent(),
        &BTreeSet::from([ConsentScope::DataProcessing])
    );
    beneficiary.apply(ev(
        2,
        1,
        consent(
            &[
                ConsentScope::FollowUpContact,
                ConsentScope::SharingWithPartners,
            ],
            true,
        ),
    ));
    assert_eq!(beneficiary.consent().len(), 3);
    beneficiary.apply(ev(
        3,
        2,
        consent(&[ConsentScope::SharingWithPartners], false),
    ));
    assert_eq!(
        beneficiary.consent(),
        &BTreeSet::from([ConsentScope::DataProcessing, ConsentScope::FollowUpContact])
    );
    assert!(beneficiary.personal_data().is_some());
    beneficiary.apply(ev(4, 3, consent(&[ConsentScope::DataProcessing], false)));
    assert_eq!(beneficiary.personal_data(), None);
    assert!(!beneficiary.personal_data_erased());
    // Retracting the withdrawal brings consent and data back.
    beneficiary.apply(ev(5, 4, retracted(4)));
    assert!(beneficiary
        .consent()
        .contains(&ConsentScope::DataProcessing));
    assert_eq!(beneficiary.personal_data(), Some(&personal_data()));
}

#[test]
fn referred_organisations_and_exit() {
    let mut beneficiary = Beneficiary::from_events(vec![
        identified(),
        ev(2, 1, referred(Some("ANAPEC"))),
        ev(3, 1, referred(None)),
        ev(4, 2, referred(Some("ENABEL"))),
    ]);
    assert_eq!(
        beneficiary.referred_organisations(),
        &BTreeSet::from([org("ANAPEC"), org("ENABEL")])
    );
    assert!(beneficiary.is_responsible(&org("ENABEL")));
    assert!(beneficiary.is_responsible(&org("REMESS")));
    assert!(!beneficiary.is_responsible(&org("IOM")));
    beneficiary.apply(ev(5, 3, exited()));
    assert!(!beneficiary.active());
    assert_eq!(beneficiary.exit_event(), Some(eid(5)));
}

#[test]
fn the_stage_is_the_furthest_step_reached() {
    let steps: Vec<(BeneficiaryEvent, Stage)> = vec![
        (identified(), Stage::Identified),
        (ev(2, 1, sensitised()), Stage::Sensitised),
        (ev(3, 2, enrolled("WELD-01", 1)), Stage::Sensitised),
        (ev(4, 3, completed("WELD-01")), Stage::Trained),
        (ev(5, 4, incubation()), Stage::Incubated),
        (ev(6, 5, launched()), Stage::Employed),
        (ev(7, 6, followed_up()), Stage::FollowedUp),
    ];
    let mut beneficiary = Beneficiary::default();
    for (event, stage) in steps {
        beneficiary.apply(event);
        assert_eq!(beneficiary.stage(), Some(stage));
    }
}

// -------------------------------------------------------------------- events and errors

#[test]
fn events_are_named_after_their_fact_and_carry_integers_only() {
    let facts = vec![
        identified_fact(),
        consent(&[ConsentScope::FollowUpContact], true),
        sensitised(),
        enrolled("WELD-01", 4),
        attended("WELD-01", 1),
        completed("WELD-01"),
        dropped("WELD-01"),
        incubation(),
        launched(),
        employed(),
        employment_ended(),
        followed_up(),
        exited(),
        retracted(2),
        referred(Some("ANAPEC")),
    ];
    for fact in facts {
        let event = ev(9, 1, fact);
        assert_eq!(event.event_version(), "1.0");
        let json = serde_json::to_value(&event).unwrap();
        let tag = json["fact"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        assert_eq!(event.event_type(), tag);
        assert!(JourneyFact::TYPE_NAMES.contains(&tag.as_str()));
        assert_no_floats(&json);
        let back: BeneficiaryEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
    let json = serde_json::to_value(ev(9, 1, employed())).unwrap();
    assert_eq!(json["fact"]["Employed"]["monthly_income"], 320_050);
    assert_eq!(json["recorded_by"], "REMESS");
    assert_eq!(json["event_id"], eid(9).to_string());
}

fn assert_no_floats(value: &serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => assert!(!n.is_f64(), "float in event: {n}"),
        serde_json::Value::Array(items) => items.iter().for_each(assert_no_floats),
        serde_json::Value::Object(map) => map.values().for_each(assert_no_floats),
        _ => {}
    }
}

#[test]
fn errors_map_to_the_contract_codes_and_fields() {
    use BeneficiaryError as E;
    let cases: Vec<(E, ErrorCode, Option<&str>)> = vec![
        (
            E::Forbidden {
                role: Role::Auditor,
            },
            ErrorCode::Forbidden,
            None,
        ),
        (
            E::NotProgrammePartner {
                organisation: org("IOM"),
                programme: programme_code(),
            },
            ErrorCode::Forbidden,
            None,
        ),
        (
            E::NotResponsible {
                organisation: org("IOM"),
            },
            ErrorCode::Forbidden,
            None,
        ),
        (
            E::MayNotErase {
                organisation: org("IOM"),
            },
            ErrorCode::Forbidden,
            None,
        ),
        (
            E::ErasureNotAJourneyEvent,
            ErrorCode::Validation,
            Some("event"),
        ),
        (E::NotIdentified, ErrorCode::NotIdentified, None),
        (E::AlreadyIdentified, ErrorCode::AlreadyIdentified, None),
        (
            E::UnknownProgramme {
                programme: programme_code(),
            },
            ErrorCode::UnknownProgramme,
            Some("programmeCode"),
        ),
        (
            E::RegionNotInProgramme {
                region: region("MA-01"),
                programme: programme_code(),
            },
            ErrorCode::Validation,
            Some("region"),
        ),
        (
            E::BirthYearOutOfRange {
                birth_year: 1800,
                latest: 2024,
            },
            ErrorCode::Validation,
            Some("birthYear"),
        ),
        (
            E::PersonalDataWithoutConsent,
            ErrorCode::Validation,
            Some("personalData"),
        ),
        (
            E::DatedInFuture {
                occurred_at: now(),
                now: now(),
            },
            ErrorCode::DatedInFuture,
            Some("occurredAt"),
        ),
        (
            E::DatedBeforeProgrammeStart {
                date: start_date(),
                programme: programme_code(),
                start_date: start_date(),
            },
            ErrorCode::DatedBeforeStart,
            Some("occurredAt"),
        ),
        (
            E::DatedBeforeIdentification {
                occurred_at: at(0),
                identified_at: at(1),
            },
            ErrorCode::DatedBeforeStart,
            Some("occurredAt"),
        ),
        (
            E::Exited {
                exit_event_id: eid(1),
            },
            ErrorCode::Exited,
            None,
        ),
        (
            E::NotEnrolled {
                course: course("A"),
            },
            ErrorCode::InvalidTransition,
            Some("courseCode"),
        ),
        (
            E::AlreadyEnrolled {
                course: course("A"),
            },
            ErrorCode::InvalidTransition,
            Some("courseCode"),
        ),
        (
            E::CourseClosed {
                course: course("A"),
            },
            ErrorCode::InvalidTransition,
            Some("courseCode"),
        ),
        (
            E::SessionOutOfRange {
                course: course("A"),
                session: 9,
                planned: 4,
            },
            ErrorCode::Validation,
            Some("sessionNumber"),
        ),
        (E::NotIncubated, ErrorCode::InvalidTransition, None),
        (E::NotInserted, ErrorCode::InvalidTransition, None),
        (
            E::FollowUpBeforeInsertion {
                date: start_date(),
                inserted: start_date(),
            },
            ErrorCode::InvalidTransition,
            Some("occurredAt"),
        ),
        (E::NotEmployed, ErrorCode::InvalidTransition, None),
        (
            E::UnknownOrganisation {
                organisation: org("NOBODY"),
            },
            ErrorCode::UnknownOrganisation,
            Some("organisationCode"),
        ),
        (
            E::RetractedEventNotFound { event_id: eid(1) },
            ErrorCode::NotFound,
            Some("retractedEventId"),
        ),
        (
            E::AlreadyRetracted { event_id: eid(1) },
            ErrorCode::InvalidTransition,
            Some("retractedEventId"),
        ),
        (
            E::NotRetractable {
                event_id: eid(1),
                event_type: "Retracted",
            },
            ErrorCode::InvalidTransition,
            Some("retractedEventId"),
        ),
        (
            E::Invalid {
                field: "topic",
                problem: ValueError::Empty,
            },
            ErrorCode::Validation,
            Some("topic"),
        ),
    ];
    for (error, code, field) in cases {
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.field(), field, "{error:?}");
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(
        E::NotEnrolled {
            course: course("WELD-01")
        }
        .to_string(),
        "beneficiary is not enrolled in course WELD-01: record a TrainingEnrolled first"
    );
}

#[test]
fn the_aggregate_type_is_beneficiary() {
    assert_eq!(Beneficiary::TYPE, "Beneficiary");
}

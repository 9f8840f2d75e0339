//! Given/when/then tests of every programme rule.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};

use super::*;
use crate::test_support::*;
use crate::values::ValueError;
use crate::ErrorCode;

fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).unwrap()
}

struct Registration {
    name: String,
    country: CountryCode,
    regions: Vec<RegionCode>,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    donors: Vec<String>,
    partners: Vec<OrganisationCode>,
    description: Option<String>,
}

fn registration() -> Registration {
    Registration {
        name: "Amuddu".into(),
        country: country("MA"),
        regions: vec![region("MA-04")],
        start_date: start_date(),
        end_date: Some(date(2026, 12, 31)),
        donors: vec!["Enabel".into()],
        partners: vec![org("REMESS"), org("ENABEL")],
        description: None,
    }
}

fn register_as(actor: Actor, n: u128, r: Registration) -> ProgrammeCommand {
    ProgrammeCommand::Register {
        code: programme_code(),
        name: r.name,
        country: r.country,
        regions: r.regions,
        start_date: r.start_date,
        end_date: r.end_date,
        donors: r.donors,
        partners: r.partners,
        description: r.description,
        event_id: eid(n),
        actor,
        now: now(),
    }
}

fn registered_fact(r: Registration) -> ProgrammeFact {
    ProgrammeFact::ProgrammeRegistered {
        code: programme_code(),
        name: r.name,
        country: r.country,
        regions: r.regions,
        start_date: r.start_date,
        end_date: r.end_date,
        donors: r.donors,
        partners: r.partners,
        description: r.description,
    }
}

fn event(n: u128, occurred_at: DateTime<Utc>, by: &str, fact: ProgrammeFact) -> ProgrammeEvent {
    ProgrammeEvent {
        event_id: eid(n),
        occurred_at,
        recorded_by: org(by),
        fact,
    }
}

fn registered() -> ProgrammeEvent {
    event(1, now(), "ADMINS", registered_fact(registration()))
}

fn set_target(actor: Actor, n: u128, indicator: IndicatorCode, target: f64) -> ProgrammeCommand {
    ProgrammeCommand::SetTarget {
        indicator,
        target: TargetValue::from_f64(target).unwrap(),
        event_id: eid(n),
        actor,
        now: now(),
    }
}

fn target_set(n: u128, indicator: IndicatorCode, target: f64) -> ProgrammeEvent {
    event(
        n,
        now(),
        "ADMINS",
        ProgrammeFact::IndicatorTargetSet {
            indicator,
            target: TargetValue::from_f64(target).unwrap(),
        },
    )
}

fn company(name: &str) -> ProgrammeActivity {
    ProgrammeActivity::CompanyEngaged {
        company_name: name.into(),
        rse_labelled: true,
    }
}

fn trainer(organisation: &str) -> ProgrammeActivity {
    ProgrammeActivity::TrainerTrained {
        trainer_name: "Fatima".into(),
        organisation_code: org(organisation),
    }
}

fn activity(
    actor: Actor,
    n: u128,
    occurred_at: DateTime<Utc>,
    activity: ProgrammeActivity,
) -> ProgrammeCommand {
    ProgrammeCommand::RecordActivity {
        activity_id: eid(n),
        occurred_at,
        actor,
        now: now(),
        activity,
    }
}

fn company_engaged(n: u128, by: &str, name: &str) -> ProgrammeEvent {
    event(
        n,
        at(1),
        by,
        ProgrammeFact::CompanyEngaged {
            company_name: name.into(),
            rse_labelled: true,
        },
    )
}

fn given(events: Vec<ProgrammeEvent>) -> AggregateTestExecutor<Programme> {
    TestFramework::<Programme>::with(services()).given(events)
}

// --------------------------------------------------------------------------- registration

#[test]
fn an_admin_registers_a_programme() {
    given(vec![])
        .when(register_as(admin(), 1, registration()))
        .then_expect_events(vec![registered()]);
}

#[test]
fn only_an_admin_registers_a_programme() {
    for role in [Role::Partner, Role::Auditor, Role::Dashboard] {
        given(vec![])
            .when(register_as(actor("REMESS", role), 1, registration()))
            .then_expect_error(ProgrammeError::Forbidden { role });
    }
}

#[test]
fn a_programme_is_registered_once() {
    given(vec![registered()])
        .when(register_as(admin(), 2, registration()))
        .then_expect_error(ProgrammeError::AlreadyRegistered {
            code: programme_code(),
        });
    // The same submission again is a duplicate, not an error.
    given(vec![registered()])
        .when(register_as(admin(), 1, registration()))
        .then_expect_events(vec![]);
}

#[test]
fn a_programme_has_regions_of_its_country() {
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                regions: vec![],
                ..registration()
            },
        ))
        .then_expect_error(ProgrammeError::NoRegions);
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                regions: vec![region("MA-04"), region("SN-DK")],
                ..registration()
            },
        ))
        .then_expect_error(ProgrammeError::RegionOutsideCountry {
            region: region("SN-DK"),
            country: country("MA"),
        });
    let several = || Registration {
        regions: vec![region("MA-01"), region("MA-04"), region("MA-06")],
        ..registration()
    };
    given(vec![])
        .when(register_as(admin(), 1, several()))
        .then_expect_events(vec![event(1, now(), "ADMINS", registered_fact(several()))]);
}

#[test]
fn a_programme_ends_after_it_starts() {
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                end_date: Some(date(2022, 12, 31)),
                ..registration()
            },
        ))
        .then_expect_error(ProgrammeError::EndBeforeStart {
            start_date: start_date(),
            end_date: date(2022, 12, 31),
        });
    let open_ended = || Registration {
        end_date: None,
        ..registration()
    };
    given(vec![])
        .when(register_as(admin(), 1, open_ended()))
        .then_expect_events(vec![event(
            1,
            now(),
            "ADMINS",
            registered_fact(open_ended()),
        )]);
    let one_day = || Registration {
        end_date: Some(start_date()),
        ..registration()
    };
    given(vec![])
        .when(register_as(admin(), 1, one_day()))
        .then_expect_events(vec![event(1, now(), "ADMINS", registered_fact(one_day()))]);
}

#[test]
fn partners_are_registered_organisations() {
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                partners: vec![org("REMESS"), org("NOBODY")],
                ..registration()
            },
        ))
        .then_expect_error(ProgrammeError::UnknownPartner {
            organisation: org("NOBODY"),
        });
}

#[test]
fn a_programme_has_a_name_and_bounded_texts() {
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                name: "  ".into(),
                ..registration()
            },
        ))
        .then_expect_error(ProgrammeError::Invalid {
            field: "name",
            problem: ValueError::Empty,
        });
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                donors: vec!["".into()],
                ..registration()
            },
        ))
        .then_expect_error(ProgrammeError::Invalid {
            field: "donors",
            problem: ValueError::Empty,
        });
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                description: Some("d".repeat(2001)),
                ..registration()
            },
        ))
        .then_expect_error(ProgrammeError::Invalid {
            field: "description",
            problem: ValueError::TooLong {
                max: 2000,
                length: 2001,
            },
        });
}

#[test]
fn registration_texts_are_stored_trimmed() {
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                name: " Amuddu ".into(),
                donors: vec![" Enabel".into()],
                description: Some("   ".into()),
                ..registration()
            },
        ))
        .then_expect_events(vec![registered()]);
}

// ---------------------------------------------------------------------------------- targets

#[test]
fn an_admin_sets_targets() {
    given(vec![registered()])
        .when(set_target(admin(), 2, IndicatorCode::Sensitised, 100.0))
        .then_expect_events(vec![target_set(2, IndicatorCode::Sensitised, 100.0)]);
    // Counts may exceed 100.
    given(vec![registered()])
        .when(set_target(admin(), 2, IndicatorCode::Identified, 15_000.0))
        .then_expect_events(vec![target_set(2, IndicatorCode::Identified, 15_000.0)]);
    for role in [Role::Partner, Role::Auditor, Role::Dashboard] {
        given(vec![registered()])
            .when(set_target(
                actor("REMESS", role),
                2,
                IndicatorCode::Sensitised,
                1.0,
            ))
            .then_expect_error(ProgrammeError::Forbidden { role });
    }
}

#[test]
fn a_resubmitted_target_records_nothing() {
    given(vec![
        registered(),
        target_set(2, IndicatorCode::Sensitised, 100.0),
    ])
    .when(set_target(admin(), 2, IndicatorCode::Sensitised, 100.0))
    .then_expect_events(vec![]);
}

#[test]
fn targets_need_a_registered_programme() {
    given(vec![])
        .when(set_target(admin(), 2, IndicatorCode::Sensitised, 100.0))
        .then_expect_error(ProgrammeError::NotRegistered);
}

#[test]
fn percentage_targets_are_at_most_100() {
    for indicator in [
        IndicatorCode::FollowUpRate,
        IndicatorCode::ImprovedLivingConditionsRate,
    ] {
        given(vec![registered()])
            .when(set_target(admin(), 2, indicator, 100.01))
            .then_expect_error(ProgrammeError::TargetOutOfRange {
                indicator,
                target: TargetValue::from_f64(100.01).unwrap(),
            });
        given(vec![registered()])
            .when(set_target(admin(), 2, indicator, 75.5))
            .then_expect_events(vec![target_set(2, indicator, 75.5)]);
    }
}

#[test]
fn the_latest_target_counts() {
    let programme = {
        let mut p = Programme::default();
        for e in [
            registered(),
            target_set(2, IndicatorCode::FollowUpRate, 50.0),
            target_set(3, IndicatorCode::Sensitised, 100.0),
            target_set(4, IndicatorCode::FollowUpRate, 75.0),
        ] {
            p.apply(e);
        }
        p
    };
    assert_eq!(
        programme.target(IndicatorCode::FollowUpRate),
        TargetValue::from_f64(75.0).ok()
    );
    assert_eq!(programme.targets().len(), 2);
    assert_eq!(programme.target(IndicatorCode::Employed), None);
    assert_eq!(programme.version(), 4);
}

// ------------------------------------------------------------------------------ activities

#[test]
fn a_partner_or_an_admin_records_activities() {
    given(vec![registered()])
        .when(activity(remess(), 2, at(1), company("Renault")))
        .then_expect_events(vec![company_engaged(2, "REMESS", "Renault")]);
    given(vec![registered()])
        .when(activity(admin(), 2, at(1), company(" Renault ")))
        .then_expect_events(vec![company_engaged(2, "ADMINS", "Renault")]);
    given(vec![registered()])
        .when(activity(enabel(), 2, at(1), trainer("CEFA")))
        .then_expect_events(vec![event(
            2,
            at(1),
            "ENABEL",
            ProgrammeFact::TrainerTrained {
                trainer_name: "Fatima".into(),
                organisation_code: org("CEFA"),
            },
        )]);
}

#[test]
fn only_partners_of_the_programme_record_activities() {
    given(vec![registered()])
        .when(activity(iom(), 2, at(1), company("Renault")))
        .then_expect_error(ProgrammeError::NotProgrammePartner {
            organisation: org("IOM"),
            programme: programme_code(),
        });
    for role in [Role::Auditor, Role::Dashboard] {
        given(vec![registered()])
            .when(activity(
                actor("REMESS", role),
                2,
                at(1),
                company("Renault"),
            ))
            .then_expect_error(ProgrammeError::Forbidden { role });
    }
}

#[test]
fn activities_need_a_registered_programme() {
    given(vec![])
        .when(activity(admin(), 2, at(1), company("Renault")))
        .then_expect_error(ProgrammeError::NotRegistered);
}

#[test]
fn activities_are_dated_within_the_programme() {
    let too_late = now() + Duration::minutes(6);
    given(vec![registered()])
        .when(activity(remess(), 2, too_late, company("Renault")))
        .then_expect_error(ProgrammeError::DatedInFuture {
            occurred_at: too_late,
            now: now(),
        });
    let too_early = at(0) - Duration::days(800);
    given(vec![registered()])
        .when(activity(remess(), 2, too_early, company("Renault")))
        .then_expect_error(ProgrammeError::DatedBeforeStart {
            date: too_early.date_naive(),
            start_date: start_date(),
        });
}

#[test]
fn no_activity_is_dated_at_a_leap_second() {
    let leap = date(2024, 6, 30)
        .and_hms_milli_opt(23, 59, 59, 1_000)
        .unwrap()
        .and_utc();
    given(vec![registered()])
        .when(activity(remess(), 2, leap, company("Renault")))
        .then_expect_error(ProgrammeError::Invalid {
            field: "occurredAt",
            problem: ValueError::LeapSecond(leap),
        });
}

#[test]
fn a_trainer_belongs_to_a_registered_organisation() {
    given(vec![registered()])
        .when(activity(remess(), 2, at(1), trainer("NOBODY")))
        .then_expect_error(ProgrammeError::UnknownOrganisation {
            organisation: org("NOBODY"),
        });
}

#[test]
fn activity_names_are_required() {
    given(vec![registered()])
        .when(activity(remess(), 2, at(1), company(" ")))
        .then_expect_error(ProgrammeError::Invalid {
            field: "companyName",
            problem: ValueError::Empty,
        });
}

#[test]
fn a_resubmitted_activity_records_nothing() {
    given(vec![registered(), company_engaged(2, "REMESS", "Renault")])
        .when(activity(remess(), 2, at(1), company("Renault")))
        .then_expect_events(vec![]);
}

// ---------------------------------------------------------------------------- state, events

#[test]
fn the_state_exposes_the_programme() {
    let mut programme = Programme::default();
    assert!(programme.facts().is_none());
    assert!(!programme.is_registered());
    programme.apply(registered());
    programme.apply(company_engaged(2, "REMESS", "Renault"));
    let facts = programme.facts().unwrap();
    assert_eq!(facts.code, programme_code());
    assert_eq!(facts.start_date, start_date());
    assert_eq!(facts.regions, vec![region("MA-04")]);
    assert_eq!(facts.partners, vec![org("REMESS"), org("ENABEL")]);
    assert_eq!(programme.name(), Some("Amuddu"));
    assert_eq!(programme.donors(), ["Enabel".to_owned()]);
    assert_eq!(programme.description(), None);
    assert_eq!(programme.code(), Some(&programme_code()));
    assert_eq!(programme.activities().len(), 1);
    assert_eq!(programme.activities()[0].activity_id, eid(2));
    assert!(programme.contains_event(eid(2)));
    assert_eq!(Programme::TYPE, "Programme");
}

#[test]
fn events_are_named_after_their_fact() {
    assert_eq!(registered().event_type(), "ProgrammeRegistered");
    assert_eq!(
        target_set(2, IndicatorCode::Employed, 1.0).event_type(),
        "IndicatorTargetSet"
    );
    assert_eq!(
        company_engaged(3, "REMESS", "x").event_type(),
        "CompanyEngaged"
    );
    assert_eq!(registered().event_version(), "1.0");
    let json = serde_json::to_value(target_set(2, IndicatorCode::FollowUpRate, 75.5)).unwrap();
    assert_eq!(json["fact"]["IndicatorTargetSet"]["target"], 7550);
    assert_eq!(
        json["fact"]["IndicatorTargetSet"]["indicator"],
        "FOLLOW_UP_RATE"
    );
    let json = serde_json::to_value(registered()).unwrap();
    assert_eq!(
        json["fact"]["ProgrammeRegistered"]["start_date"],
        "2023-01-01"
    );
    let back: ProgrammeEvent = serde_json::from_value(json).unwrap();
    assert_eq!(back, registered());
}

#[test]
fn errors_map_to_the_contract_codes_and_fields() {
    use ProgrammeError as E;
    let cases: Vec<(E, ErrorCode, Option<&str>)> = vec![
        (
            E::Forbidden {
                role: Role::Partner,
            },
            ErrorCode::Forbidden,
            None,
        ),
        (
            E::AlreadyRegistered {
                code: programme_code(),
            },
            ErrorCode::Validation,
            Some("code"),
        ),
        (
            E::NotRegistered,
            ErrorCode::UnknownProgramme,
            Some("programmeCode"),
        ),
        (E::NoRegions, ErrorCode::Validation, Some("regions")),
        (
            E::RegionOutsideCountry {
                region: region("SN-DK"),
                country: country("MA"),
            },
            ErrorCode::Validation,
            Some("regions"),
        ),
        (
            E::EndBeforeStart {
                start_date: start_date(),
                end_date: start_date(),
            },
            ErrorCode::Validation,
            Some("endDate"),
        ),
        (
            E::UnknownPartner {
                organisation: org("X1"),
            },
            ErrorCode::UnknownOrganisation,
            Some("partnerCodes"),
        ),
        (
            E::TargetOutOfRange {
                indicator: IndicatorCode::FollowUpRate,
                target: TargetValue::from_f64(101.0).unwrap(),
            },
            ErrorCode::Validation,
            Some("target"),
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
            E::DatedInFuture {
                occurred_at: now(),
                now: now(),
            },
            ErrorCode::DatedInFuture,
            Some("occurredAt"),
        ),
        (
            E::DatedBeforeStart {
                date: start_date(),
                start_date: start_date(),
            },
            ErrorCode::DatedBeforeStart,
            Some("occurredAt"),
        ),
        (
            E::UnknownOrganisation {
                organisation: org("X1"),
            },
            ErrorCode::UnknownOrganisation,
            Some("organisationCode"),
        ),
        (
            E::Invalid {
                field: "name",
                problem: ValueError::Empty,
            },
            ErrorCode::Validation,
            Some("name"),
        ),
    ];
    for (error, code, field) in cases {
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.field(), field, "{error:?}");
    }
}

#[test]
fn programme_texts_hold_no_control_character() {
    let nul = |field, position| ProgrammeError::Invalid {
        field,
        problem: ValueError::ControlCharacter {
            code_point: 0,
            position,
        },
    };
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                name: "Amu\u{0}ddu".into(),
                ..registration()
            },
        ))
        .then_expect_error(nul("name", 4));
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                donors: vec!["\u{0}".into()],
                ..registration()
            },
        ))
        .then_expect_error(nul("donors", 1));
    given(vec![])
        .when(register_as(
            admin(),
            1,
            Registration {
                description: Some("a\u{0}".into()),
                ..registration()
            },
        ))
        .then_expect_error(nul("description", 2));
    given(vec![registered()])
        .when(activity(remess(), 2, at(1), company("Renault\u{0}")))
        .then_expect_error(nul("companyName", 8));
}

//! Milestones and stage, exactly as INDICATORS.md and DESIGN.md define them.

use std::collections::BTreeSet;

use chrono::{Duration, FixedOffset, TimeZone, Utc};

use super::*;
use crate::beneficiary::JourneyFact;
use crate::ids::{CountryCode, CourseCode};
use crate::test_support::*;
use crate::values::{
    EmploymentKind, LegalStatus, LivingConditions, ReferralChannel, Sex, TrainingKind, VentureKind,
};

/// A stream built record by record: sequence and event id follow the order of `push`.
#[derive(Default)]
struct Stream(Vec<JourneyRecord>);

impl Stream {
    fn push(&mut self, day: i64, fact: JourneyFact) -> EventId {
        let sequence = self.0.len() as u64 + 1;
        let event_id = eid(u128::from(sequence));
        self.0.push(JourneyRecord {
            sequence,
            event_id,
            occurred_at: at(day),
            recorded_by: org("REMESS"),
            fact,
            retracted_by: None,
            retraction_reason: None,
        });
        event_id
    }

    fn retract(&mut self, day: i64, event_id: EventId) -> EventId {
        self.push(
            day,
            JourneyFact::Retracted {
                retracted_event_id: event_id,
                reason: "mistake".into(),
            },
        )
    }

    fn milestones(&self) -> Milestones {
        milestones(&self.0)
    }
}

fn d(day: i64) -> Option<NaiveDate> {
    Some(at(day).date_naive())
}

fn identified() -> JourneyFact {
    JourneyFact::Identified {
        programme_code: programme_code(),
        sex: Sex::Male,
        birth_year: None,
        nationality: CountryCode::parse("SN").unwrap(),
        legal_status: LegalStatus::Refugee,
        region: region("MA-04"),
        city: None,
        channel: ReferralChannel::SelfReferral,
        household_with_children: None,
        education_level: None,
        consent: BTreeSet::new(),
        personal_data: None,
    }
}

fn enrolled(code: &str, planned_sessions: u32) -> JourneyFact {
    JourneyFact::TrainingEnrolled {
        course_code: CourseCode::parse(code).unwrap(),
        course_name: code.into(),
        kind: TrainingKind::Vocational,
        planned_sessions,
    }
}

fn attended(code: &str, session_number: u32) -> JourneyFact {
    JourneyFact::WorkshopAttended {
        course_code: CourseCode::parse(code).unwrap(),
        session_number,
    }
}

fn employed() -> JourneyFact {
    JourneyFact::Employed {
        kind: EmploymentKind::Salaried,
        employer_name: "Employer".into(),
        employer_rse_labelled: false,
        sector: "services".into(),
        monthly_income: None,
    }
}

fn launched() -> JourneyFact {
    JourneyFact::BusinessLaunched {
        venture_name: "Venture".into(),
        registered: true,
        grant_amount: None,
    }
}

fn followed_up(living_conditions: LivingConditions) -> JourneyFact {
    JourneyFact::FollowedUp {
        still_in_activity: true,
        living_conditions,
        monthly_income: None,
        notes: None,
    }
}

fn sensitised() -> JourneyFact {
    JourneyFact::Sensitised {
        topic: "t".into(),
        session_id: None,
        location: None,
    }
}

#[test]
fn an_unidentified_stream_has_no_milestones_and_no_stage() {
    assert_eq!(milestones(&[]), Milestones::default());
    assert_eq!(stage(&Milestones::default()), None);
    let mut stream = Stream::default();
    stream.push(1, sensitised());
    assert_eq!(stream.milestones(), Milestones::default());
}

#[test]
fn each_milestone_is_the_earliest_non_void_event() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    let first = stream.push(5, sensitised());
    stream.push(3, sensitised()); // recorded later, dated earlier
    stream.push(8, sensitised());
    assert_eq!(stream.milestones().sensitised, d(3));
    stream.retract(9, eid(3));
    assert_eq!(stream.milestones().sensitised, d(5));
    stream.retract(9, first);
    assert_eq!(stream.milestones().sensitised, d(8));
    assert_eq!(stream.milestones().identified, d(0));
}

#[test]
fn dates_are_utc_calendar_dates() {
    let mut stream = Stream::default();
    stream.0.push(JourneyRecord {
        sequence: 1,
        event_id: eid(1),
        // 00:30 on the 2nd in Morocco (UTC+1) is 23:30 on the 1st in UTC: the 1st counts.
        occurred_at: FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2024, 5, 2, 0, 30, 0)
            .unwrap()
            .with_timezone(&Utc),
        recorded_by: org("REMESS"),
        fact: identified(),
        retracted_by: None,
        retraction_reason: None,
    });
    assert_eq!(stream.milestones().identified, Some(date(2024, 5, 1)));
}

#[test]
fn a_void_identification_voids_everything() {
    let mut stream = Stream::default();
    let identification = stream.push(0, identified());
    stream.push(1, sensitised());
    stream.push(2, employed());
    stream.retract(3, identification);
    assert_eq!(stream.milestones(), Milestones::default());
    assert_eq!(stage(&stream.milestones()), None);
    // Identified again: it counts from the new date.
    stream.push(4, identified());
    let m = stream.milestones();
    assert_eq!(m.identified, d(4));
    assert_eq!(m.sensitised, d(1));
    assert_eq!(stage(&m), Some(Stage::Employed));
}

#[test]
fn voidness_is_decided_among_the_records_given() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    let sensitisation = stream.push(1, sensitised());
    stream.retract(2, sensitisation);
    // Everything: the sensitisation is void.
    assert_eq!(milestones(&stream.0).sensitised, None);
    // What was recorded before the retraction: it counts, whatever `retracted_by` says.
    let mut known_then = stream.0[..2].to_vec();
    known_then[1].retracted_by = Some(eid(3));
    assert_eq!(milestones(&known_then).sensitised, d(1));
    assert_eq!(void_event_ids(&stream.0), BTreeSet::from([sensitisation]));
}

#[test]
fn attended_all_workshops_is_the_last_session_of_the_first_course_fully_attended() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    stream.push(1, enrolled("WELD", 3));
    stream.push(1, enrolled("SEW", 2));
    stream.push(2, attended("WELD", 1));
    stream.push(3, attended("SEW", 2));
    stream.push(4, attended("WELD", 3));
    assert_eq!(stream.milestones().attended_all_workshops, None);
    stream.push(10, attended("SEW", 1)); // SEW complete on day 10
    assert_eq!(stream.milestones().attended_all_workshops, d(10));
    stream.push(6, attended("WELD", 2)); // WELD complete on day 6 (latest session date)
    assert_eq!(stream.milestones().attended_all_workshops, d(6));
    // A repeated attendance dated earlier makes that session's date earlier.
    stream.push(1, attended("WELD", 3));
    assert_eq!(stream.milestones().attended_all_workshops, d(6));
    stream.push(2, attended("WELD", 2));
    assert_eq!(stream.milestones().attended_all_workshops, d(2));
}

#[test]
fn attended_all_workshops_needs_a_non_void_enrolment_and_non_void_attendance() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    let enrolment = stream.push(1, enrolled("WELD", 2));
    stream.push(2, attended("WELD", 1));
    let second = stream.push(3, attended("WELD", 2));
    assert_eq!(stream.milestones().attended_all_workshops, d(3));
    stream.retract(4, second);
    assert_eq!(stream.milestones().attended_all_workshops, None);
    stream.push(5, attended("WELD", 2));
    assert_eq!(stream.milestones().attended_all_workshops, d(5));
    stream.retract(6, enrolment);
    assert_eq!(stream.milestones().attended_all_workshops, None);
    assert_eq!(stream.milestones().enrolled, None);
}

#[test]
fn attendance_beyond_the_planned_sessions_does_not_count() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    stream.push(1, enrolled("WELD", 1));
    stream.push(2, attended("WELD", 2));
    assert_eq!(stream.milestones().attended_all_workshops, None);
    stream.push(3, attended("WELD", 1));
    assert_eq!(stream.milestones().attended_all_workshops, d(3));
}

#[test]
fn inserted_is_the_earlier_of_employed_and_business_launched() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    stream.push(20, employed());
    assert_eq!(stream.milestones().inserted, d(20));
    stream.push(12, launched());
    let m = stream.milestones();
    assert_eq!(m.employed, d(20));
    assert_eq!(m.business_launched, d(12));
    assert_eq!(m.inserted, d(12));
}

#[test]
fn a_follow_up_before_the_insertion_does_not_count() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    stream.push(5, followed_up(LivingConditions::Improved));
    assert_eq!(stream.milestones().followed_up, None);
    stream.push(10, employed());
    assert_eq!(stream.milestones().followed_up, None);
    assert_eq!(stage(&stream.milestones()), Some(Stage::Employed));
    stream.push(30, followed_up(LivingConditions::Unchanged));
    assert_eq!(stream.milestones().followed_up, d(30));
    // An earlier insertion makes the early follow-up count.
    stream.push(4, launched());
    assert_eq!(stream.milestones().followed_up, d(5));
    assert_eq!(stage(&stream.milestones()), Some(Stage::FollowedUp));
}

#[test]
fn a_follow_up_on_the_insertion_day_counts() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    stream.push(10, employed());
    stream.0.push(JourneyRecord {
        sequence: 3,
        event_id: eid(3),
        occurred_at: at(10) - Duration::hours(3),
        recorded_by: org("REMESS"),
        fact: followed_up(LivingConditions::Improved),
        retracted_by: None,
        retraction_reason: None,
    });
    assert_eq!(stream.milestones().followed_up, d(10));
}

#[test]
fn the_stage_is_the_furthest_step_whatever_the_order() {
    let identified_only = Milestones {
        identified: d(0),
        ..Milestones::default()
    };
    assert_eq!(stage(&identified_only), Some(Stage::Identified));
    let cases = [
        (
            Milestones {
                sensitised: d(1),
                ..identified_only
            },
            Stage::Sensitised,
        ),
        (
            Milestones {
                enrolled: d(1),
                attended_all_workshops: d(2),
                ..identified_only
            },
            Stage::Identified,
        ),
        (
            Milestones {
                completed_training: d(1),
                ..identified_only
            },
            Stage::Trained,
        ),
        (
            Milestones {
                incubated: d(1),
                sensitised: d(9),
                ..identified_only
            },
            Stage::Incubated,
        ),
        (
            Milestones {
                employed: d(1),
                inserted: d(1),
                ..identified_only
            },
            Stage::Employed,
        ),
        (
            Milestones {
                business_launched: d(1),
                inserted: d(1),
                incubated: d(0),
                ..identified_only
            },
            Stage::Employed,
        ),
        (
            Milestones {
                inserted: d(1),
                followed_up: d(3),
                ..identified_only
            },
            Stage::FollowedUp,
        ),
    ];
    for (milestones, expected) in cases {
        assert_eq!(stage(&milestones), Some(expected), "{milestones:?}");
    }
    let not_identified = Milestones {
        identified: None,
        followed_up: d(3),
        ..Milestones::default()
    };
    assert_eq!(stage(&not_identified), None);
}

#[test]
fn incubation_reaches_its_own_milestone() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    stream.push(
        2,
        JourneyFact::IncubationStarted {
            venture_name: "v".into(),
            kind: VentureKind::Cooperative,
            sector: "s".into(),
            incubator: None,
        },
    );
    assert_eq!(stream.milestones().incubated, d(2));
    assert_eq!(stage(&stream.milestones()), Some(Stage::Incubated));
}

#[test]
fn the_latest_follow_up_by_a_date_gives_the_living_conditions() {
    let mut stream = Stream::default();
    stream.push(0, identified());
    stream.push(2, employed());
    stream.push(10, followed_up(LivingConditions::Worsened));
    let improved = stream.push(20, followed_up(LivingConditions::Improved));
    let to = |day: i64| at(day).date_naive();
    assert_eq!(latest_living_conditions(&stream.0, to(5)), None);
    assert_eq!(
        latest_living_conditions(&stream.0, to(15)),
        Some(LivingConditions::Worsened)
    );
    assert_eq!(
        latest_living_conditions(&stream.0, to(25)),
        Some(LivingConditions::Improved)
    );
    stream.retract(26, improved);
    assert_eq!(
        latest_living_conditions(&stream.0, to(25)),
        Some(LivingConditions::Worsened)
    );
}

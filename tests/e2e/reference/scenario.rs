//! The seeded scenario: beneficiaries of several partners and regions going through the
//! pathway with drop-outs, late entries, retractions and exits, and programme activities,
//! split into three recording phases.
//!
//! Every event is planned so that the server accepts it: [`accepts`] replays a beneficiary's
//! events in recording order against the journey rules of DESIGN.md, and a random change to
//! the plan (a late entry, a retraction) is kept only when the plan stays acceptable.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use uuid::Uuid;

/// The seed of the whole scenario.
pub const SEED: u64 = 0x4d41_5341_5231;
/// The programme the indicators are asked for.
pub const PROGRAMME: &str = "REF-MAIN";
/// Another programme of the same partners, whose events must count for nothing in
/// [`PROGRAMME`].
pub const OTHER_PROGRAMME: &str = "REF-OTHER";
/// The programmes' start date.
pub const START: &str = "2023-01-01";
/// Partner organisations.
pub const PARTNERS: [&str; 4] = ["ATLAS-NGO", "SAHEL-AID", "RIF-SOLIDAIRE", "SOUSS-EMPLOI"];
/// Regions of [`PROGRAMME`].
pub const REGIONS: [&str; 3] = ["MA-01", "MA-04", "MA-06"];
/// The region of [`OTHER_PROGRAMME`].
pub const OTHER_REGION: &str = "MA-02";
/// Beneficiaries of [`PROGRAMME`].
pub const BENEFICIARIES: usize = 2_100;
/// Beneficiaries of [`OTHER_PROGRAMME`].
pub const OTHER_BENEFICIARIES: usize = 60;

const COURSES: [(&str, &str, &str); 5] = [
    ("WELD-01", "Soudure", "VOCATIONAL"),
    ("COOK-02", "Cuisine", "VOCATIONAL"),
    ("FIN-03", "Éducation financière", "FINANCIAL_EDUCATION"),
    ("ENT-04", "Créer son activité", "ENTREPRENEURSHIP"),
    ("LANG-05", "Darija", "LANGUAGE"),
];
const NATIONALITIES: [&str; 8] = ["CI", "SN", "CM", "GN", "ML", "CD", "SY", "MA"];
const LEGAL_STATUSES: [&str; 6] = [
    "REGULARISED_MIGRANT",
    "REFUGEE",
    "ASYLUM_SEEKER",
    "IRREGULAR_MIGRANT",
    "NATIONAL",
    "OTHER",
];
const SEXES: [(&str, u32); 4] = [
    ("FEMALE", 50),
    ("MALE", 42),
    ("OTHER", 3),
    ("UNDISCLOSED", 5),
];
const CONDITIONS: [(&str, u32); 3] = [("IMPROVED", 50), ("UNCHANGED", 35), ("WORSENED", 15)];
const COMPANIES: [&str; 10] = [
    "Atlas Textiles",
    "Société Générale Maroc",
    "Café Nour",
    "AgriSouss",
    "Tanger Logistique",
    "Électro Rif",
    "Dar Tajine",
    "Oujda Services",
    "Béni Mellal Cuir",
    "Casa Numérique",
];
const TRAINERS: [&str; 6] = [
    "Fatima Zahra Alaoui",
    "Youssef Amrani",
    "Aïcha Benali",
    "Omar Idrissi",
    "Khadija Tazi",
    "Mamadou Diallo",
];

/// What happened, as far as the scenario is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Identified {
        programme: &'static str,
        sex: &'static str,
        birth_year: Option<i32>,
        nationality: &'static str,
        legal_status: &'static str,
        region: &'static str,
    },
    Sensitised,
    Enrolled {
        course: usize,
        sessions: u32,
    },
    Workshop {
        course: usize,
        session: u32,
    },
    Completed {
        course: usize,
    },
    Dropped {
        course: usize,
    },
    Incubated,
    Launched,
    Employed,
    FollowedUp {
        conditions: &'static str,
    },
    Exited,
    Retracted {
        target: Uuid,
    },
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The client's event id.
    pub id: Uuid,
    /// `occurredAt`.
    pub at: DateTime<Utc>,
    /// The UTC offset `occurredAt` is written with, in minutes.
    pub offset_minutes: i32,
    /// Recording phase, 1 to 3.
    pub phase: u8,
    /// Recording order within the phase.
    pub order: u32,
    /// What happened.
    pub fact: Fact,
}

/// One beneficiary and the events to record for them.
#[derive(Debug, Clone)]
pub struct Beneficiary {
    /// The client-chosen id.
    pub id: Uuid,
    /// Index in [`PARTNERS`]: the partner that identifies and records them.
    pub partner: usize,
    /// Every event, in recording order.
    pub events: Vec<Planned>,
}

/// A programme activity to record.
#[derive(Debug, Clone)]
pub struct Activity {
    /// `activityId`.
    pub id: Uuid,
    /// The programme.
    pub programme: &'static str,
    /// Index in [`PARTNERS`] of the recording partner.
    pub partner: usize,
    /// `occurredAt`.
    pub at: DateTime<Utc>,
    /// Recording phase.
    pub phase: u8,
    /// The `ProgrammeActivityInput`.
    pub activity: Value,
}

/// The whole scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Every beneficiary, both programmes.
    pub beneficiaries: Vec<Beneficiary>,
    /// Every activity, both programmes.
    pub activities: Vec<Activity>,
}

impl Scenario {
    /// The `JourneyEventSubmission`s that `partner` sends in `phase`, in order.
    pub fn submissions(&self, partner: usize, phase: u8) -> Vec<Value> {
        self.beneficiaries
            .iter()
            .filter(|b| b.partner == partner)
            .flat_map(|b| {
                b.events
                    .iter()
                    .filter(move |e| e.phase == phase)
                    .map(move |e| submission(b.id, e))
            })
            .collect()
    }

    /// The number of journey events planned.
    pub fn event_count(&self) -> usize {
        self.beneficiaries.iter().map(|b| b.events.len()).sum()
    }

    /// The number of planned events whose fact matches `matches`.
    pub fn count(&self, matches: impl Fn(&Fact) -> bool) -> usize {
        self.beneficiaries
            .iter()
            .flat_map(|b| &b.events)
            .filter(|e| matches(&e.fact))
            .count()
    }
}

/// A `JourneyEventSubmission`.
pub fn submission(beneficiary: Uuid, event: &Planned) -> Value {
    json!({
        "eventId": event.id,
        "beneficiaryId": beneficiary,
        "occurredAt": format_instant(event.at, event.offset_minutes),
        "event": event_input(&event.fact),
    })
}

/// RFC 3339 with the given offset: the same instant, written as a field office would.
pub fn format_instant(at: DateTime<Utc>, offset_minutes: i32) -> String {
    let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
    at.with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn event_input(fact: &Fact) -> Value {
    match fact {
        Fact::Identified {
            programme,
            sex,
            birth_year,
            nationality,
            legal_status,
            region,
        } => json!({ "identified": {
            "programmeCode": programme,
            "sex": sex,
            "birthYear": birth_year,
            "nationality": nationality,
            "legalStatus": legal_status,
            "region": region,
            "channel": "ASSOCIATION",
        }}),
        Fact::Sensitised => json!({ "sensitised": { "topic": "Droits et services" } }),
        Fact::Enrolled { course, sessions } => {
            let (code, name, kind) = COURSES[*course];
            json!({ "trainingEnrolled": {
                "courseCode": code, "courseName": name, "kind": kind, "plannedSessions": sessions,
            }})
        }
        Fact::Workshop { course, session } => json!({ "workshopAttended": {
            "courseCode": COURSES[*course].0, "sessionNumber": session,
        }}),
        Fact::Completed { course } => json!({ "trainingCompleted": {
            "courseCode": COURSES[*course].0, "certified": true,
        }}),
        Fact::Dropped { course } => json!({ "trainingDropped": {
            "courseCode": COURSES[*course].0, "reason": "Horaires incompatibles",
        }}),
        Fact::Incubated => json!({ "incubationStarted": {
            "ventureName": "Atelier", "kind": "INCOME_GENERATING_ACTIVITY", "sector": "Artisanat",
        }}),
        Fact::Launched => json!({ "businessLaunched": {
            "ventureName": "Atelier", "registered": false,
        }}),
        Fact::Employed => json!({ "employed": {
            "kind": "SALARIED", "employerName": "Atlas Textiles", "employerRseLabelled": true,
            "sector": "Textile",
        }}),
        Fact::FollowedUp { conditions } => json!({ "followedUp": {
            "stillInActivity": true, "livingConditions": conditions,
        }}),
        Fact::Exited => json!({ "exited": { "reason": "LOST_CONTACT" } }),
        Fact::Retracted { target } => json!({ "retracted": {
            "retractedEventId": target, "reason": "Erreur de saisie",
        }}),
    }
}

/// Whether the server accepts every one of `events` (one beneficiary's, in recording order),
/// by the journey rules of DESIGN.md: `Identified` first and once; nothing dated before the
/// identification; after `Exited`, only the exit's retraction; workshops, completion and
/// drop-out need an enrolment in the course (a course closes once); a business launch needs
/// an incubation; a follow-up needs an insertion dated on or before it; a retraction names an
/// earlier event of the stream that is not retracted and not itself a retraction.
pub fn accepts(events: &[&Planned]) -> bool {
    let mut done: Vec<(&Planned, bool)> = Vec::new();
    for event in events {
        let live: Vec<&Planned> = done.iter().filter(|(_, r)| !r).map(|(e, _)| *e).collect();
        let identification = live
            .iter()
            .find(|e| matches!(e.fact, Fact::Identified { .. }));
        match (&event.fact, identification) {
            (Fact::Identified { .. }, None) => {}
            (Fact::Identified { .. }, Some(_)) | (_, None) => return false,
            (_, Some(identified)) if event.at < identified.at => return false,
            _ => {}
        }
        if let Some(exit) = live.iter().find(|e| e.fact == Fact::Exited) {
            if event.fact != (Fact::Retracted { target: exit.id }) {
                return false;
            }
        }
        let enrolment = |course: usize| {
            live.iter().find_map(|e| match e.fact {
                Fact::Enrolled {
                    course: c,
                    sessions,
                } if c == course => Some(sessions),
                _ => None,
            })
        };
        let closed = |course: usize| {
            live.iter().any(|e| {
                matches!(e.fact, Fact::Completed { course: c } | Fact::Dropped { course: c } if c == course)
            })
        };
        let ok = match &event.fact {
            Fact::Enrolled { course, .. } => enrolment(*course).is_none(),
            Fact::Workshop { course, session } => {
                enrolment(*course).is_some_and(|planned| (1..=planned).contains(session))
            }
            Fact::Completed { course } | Fact::Dropped { course } => {
                enrolment(*course).is_some() && !closed(*course)
            }
            Fact::Launched => live.iter().any(|e| e.fact == Fact::Incubated),
            Fact::FollowedUp { .. } => live
                .iter()
                .filter(|e| matches!(e.fact, Fact::Employed | Fact::Launched))
                .map(|e| e.at.date_naive())
                .min()
                .is_some_and(|inserted| event.at.date_naive() >= inserted),
            Fact::Retracted { target } => match done.iter_mut().find(|(e, _)| e.id == *target) {
                Some((e, retracted))
                    if !*retracted && !matches!(e.fact, Fact::Retracted { .. }) =>
                {
                    *retracted = true;
                    true
                }
                _ => false,
            },
            _ => true,
        };
        if !ok {
            return false;
        }
        done.push((event, false));
    }
    true
}

fn recording_order(events: &mut [Planned]) {
    events.sort_by_key(|e| (e.phase, e.order));
}

fn plan_accepted(events: &[Planned]) -> bool {
    let mut ordered: Vec<&Planned> = events.iter().collect();
    ordered.sort_by_key(|e| (e.phase, e.order));
    accepts(&ordered)
}

/// The latest instant any event of the scenario is dated (all are in the past).
fn limit() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 30, 23, 59, 0).unwrap()
}

/// Phase by date: what was known early is recorded in phase 1, what happened later in the
/// later phases.
fn phase_of(at: DateTime<Utc>) -> u8 {
    let date = at.date_naive();
    if date < NaiveDate::from_ymd_opt(2024, 10, 1).unwrap() {
        1
    } else if date < NaiveDate::from_ymd_opt(2025, 5, 1).unwrap() {
        2
    } else {
        3
    }
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, weight) in items {
        if pick < *weight {
            return *item;
        }
        pick -= weight;
    }
    items[items.len() - 1].0
}

fn new_id(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// An instant on `date`: office hours mostly, some late in the evening or just after
/// midnight (where the UTC date and the local date differ).
fn on_day(rng: &mut ChaCha8Rng, date: NaiveDate) -> DateTime<Utc> {
    let hour = match rng.random_range(0..100) {
        0..=5 => 23,
        6..=8 => 0,
        _ => rng.random_range(7..19),
    };
    let time = date
        .and_hms_opt(hour, rng.random_range(0..60), rng.random_range(0..60))
        .unwrap();
    Utc.from_utc_datetime(&time)
}

fn random_offset(rng: &mut ChaCha8Rng) -> i32 {
    weighted(rng, &[(0, 70), (60, 20), (-180, 10)])
}

/// Builds one beneficiary's journey in recording order; an event dated after [`limit`] ends
/// the journey (everything after it in the plan may depend on it).
struct Journey<'r> {
    rng: &'r mut ChaCha8Rng,
    events: Vec<Planned>,
    ended: bool,
}

impl Journey<'_> {
    fn push(&mut self, at: DateTime<Utc>, fact: Fact) -> Option<DateTime<Utc>> {
        if self.ended || at > limit() {
            self.ended = true;
            return None;
        }
        let id = new_id(self.rng);
        let offset_minutes = random_offset(self.rng);
        self.events.push(Planned {
            id,
            at,
            offset_minutes,
            phase: phase_of(at),
            order: self.events.len() as u32,
            fact,
        });
        Some(at)
    }

    /// An instant `min..=max` days after `after` (at least one day, so never before it).
    fn later(&mut self, after: DateTime<Utc>, min: i64, max: i64) -> DateTime<Utc> {
        let days = self.rng.random_range(min.max(1)..=max.max(1));
        on_day(self.rng, after.date_naive() + Duration::days(days))
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }
}

fn beneficiary(
    rng: &mut ChaCha8Rng,
    programme: &'static str,
    partner: usize,
    region: &'static str,
) -> Beneficiary {
    let id = new_id(rng);
    let first = NaiveDate::from_ymd_opt(2023, 1, 2).unwrap();
    let identified_on = first + Duration::days(rng.random_range(0..(365 * 2 + 240)));
    let t0 = on_day(rng, identified_on);
    let sex = weighted(rng, &SEXES);
    let birth_year = (!rng.random_bool(0.1)).then(|| rng.random_range(1958..=2009));
    let nationality = *NATIONALITIES.choose(rng).unwrap();
    let legal_status = *LEGAL_STATUSES.choose(rng).unwrap();
    let mut j = Journey {
        rng,
        events: Vec::new(),
        ended: false,
    };
    j.push(
        t0,
        Fact::Identified {
            programme,
            sex,
            birth_year,
            nationality,
            legal_status,
            region,
        },
    );

    let mut t = t0;
    if j.chance(85) {
        t = j.later(t0, 1, 40);
        j.push(t, Fact::Sensitised);
        if j.chance(7) {
            let again = j.later(t, 10, 120);
            j.push(again, Fact::Sensitised);
        }
    }

    // Training: one course for most, a second one for some.
    let mut courses: Vec<usize> = Vec::new();
    if j.chance(65) {
        courses.push(j.rng.random_range(0..COURSES.len()));
        if j.chance(15) {
            let second = (courses[0] + j.rng.random_range(1..COURSES.len())) % COURSES.len();
            courses.push(second);
        }
    }
    let mut completed = false;
    let mut training_end = t;
    for course in courses {
        let sessions = j.rng.random_range(1..=4);
        let enrolled = j.later(t, 3, 60);
        if j.push(enrolled, Fact::Enrolled { course, sessions })
            .is_none()
        {
            break;
        }
        let mut day = enrolled;
        let mut last = enrolled;
        for session in 1..=sessions {
            day = j.later(day, 1, 20);
            if j.chance(88) {
                j.push(day, Fact::Workshop { course, session });
                last = last.max(day);
            }
            if j.chance(10) {
                // Attended again, later (a catch-up session).
                let again = j.later(day, 5, 60);
                j.push(again, Fact::Workshop { course, session });
                last = last.max(again);
            }
        }
        if j.chance(70) {
            let done = j.later(last, 1, 15);
            if j.push(done, Fact::Completed { course }).is_some() {
                completed = true;
            }
            training_end = training_end.max(done);
        } else if j.chance(30) {
            let dropped = j.later(last, 1, 15);
            j.push(dropped, Fact::Dropped { course });
        }
        t = last;
    }

    // Insertion: a business after incubation, or a job, or both (in either order).
    let mut insertions: Vec<DateTime<Utc>> = Vec::new();
    let base = training_end.max(t);
    if completed && j.chance(35) {
        let incubated = j.later(base, 10, 90);
        if j.push(incubated, Fact::Incubated).is_some() && j.chance(60) {
            let launched = j.later(incubated, 30, 150);
            if let Some(at) = j.push(launched, Fact::Launched) {
                insertions.push(at);
            }
        }
    }
    let employment = if completed { 45 } else { 12 };
    if j.chance(employment) {
        let employed = j.later(base, 20, 200);
        if let Some(at) = j.push(employed, Fact::Employed) {
            insertions.push(at);
            if j.chance(10) {
                let again = j.later(at, 60, 300);
                j.push(again, Fact::Employed);
            }
        }
    }

    // Follow-ups: zero to three, on distinct days after the insertion.
    if let Some(inserted) = insertions.iter().min().copied() {
        let count = weighted(j.rng, &[(0, 25), (1, 40), (2, 25), (3, 10)]);
        let mut day = inserted;
        for _ in 0..count {
            day = j.later(day, 15, 150);
            let conditions = weighted(j.rng, &CONDITIONS);
            j.push(day, Fact::FollowedUp { conditions });
        }
    }

    // Exit, last, for some.
    if j.chance(10) {
        let latest = j.events.iter().map(|e| e.at).max().unwrap();
        let exited = j.later(latest, 5, 90);
        j.push(exited, Fact::Exited);
    }

    let mut events = j.events;
    // A partner syncing late: the whole journey recorded in a later phase.
    let floor = weighted(rng, &[(1u8, 84), (2, 12), (3, 4)]);
    for event in &mut events {
        event.phase = event.phase.max(floor);
    }
    assert!(plan_accepted(&events), "a generated journey breaks a rule");
    Beneficiary {
        id,
        partner,
        events,
    }
}

/// Applies `change` to the plan and keeps it only if the plan is still accepted.
fn try_change(events: &mut Vec<Planned>, change: impl FnOnce(&mut Vec<Planned>)) -> bool {
    let before = events.clone();
    change(events);
    if plan_accepted(events) {
        true
    } else {
        *events = before;
        false
    }
}

/// The date of a correction: after every event of the journey, before the end of 2025.
fn correction_instant(rng: &mut ChaCha8Rng) -> DateTime<Utc> {
    let day =
        NaiveDate::from_ymd_opt(2025, 12, 1).unwrap() + Duration::days(rng.random_range(0..28));
    on_day(rng, day)
}

/// Late entries, retractions (of any kind of event, including the identification and the
/// exit), and re-enrolments.
fn amend(rng: &mut ChaCha8Rng, events: &mut Vec<Planned>) {
    // Late entries: an event recorded one or two phases after those dated after it.
    for index in 0..events.len() {
        let movable = matches!(
            events[index].fact,
            Fact::Sensitised
                | Fact::Workshop { .. }
                | Fact::Completed { .. }
                | Fact::Employed
                | Fact::Launched
                | Fact::Incubated
                | Fact::FollowedUp { .. }
        );
        if movable && events[index].phase < 3 && rng.random_range(0..100) < 8 {
            let phase = (events[index].phase + rng.random_range(1..=2)).min(3);
            try_change(events, |events| events[index].phase = phase);
        }
    }

    let max_phase = |events: &[Planned]| events.iter().map(|e| e.phase).max().unwrap();

    // Retractions of ordinary events.
    if rng.random_range(0..100) < 11 {
        for k in 0..rng.random_range(1..=2u32) {
            let interesting: Vec<usize> = (0..events.len())
                .filter(|i| {
                    matches!(
                        events[*i].fact,
                        Fact::Employed
                            | Fact::Launched
                            | Fact::FollowedUp { .. }
                            | Fact::Enrolled { .. }
                            | Fact::Workshop { .. }
                    )
                })
                .collect();
            let any: Vec<usize> = (1..events.len())
                .filter(|i| !matches!(events[*i].fact, Fact::Retracted { .. }))
                .collect();
            let pool = if !interesting.is_empty() && rng.random_bool(0.6) {
                interesting
            } else {
                any
            };
            let Some(&target) = pool.choose(rng) else {
                break;
            };
            let phase = rng.random_range(events[target].phase..=3);
            let retraction = Planned {
                id: new_id(rng),
                at: correction_instant(rng),
                offset_minutes: 0,
                phase,
                order: 1_000 + k,
                fact: Fact::Retracted {
                    target: events[target].id,
                },
            };
            try_change(events, |events| events.push(retraction));
        }
    }

    // An exit retracted (the person came back) and a job found afterwards.
    if let Some(exit) = events.iter().find(|e| e.fact == Fact::Exited).cloned() {
        if rng.random_range(0..100) < 40 {
            let phase = (exit.phase + 1).min(3);
            let back = exit.at + Duration::days(rng.random_range(20..120));
            let mut added = vec![Planned {
                id: new_id(rng),
                at: correction_instant(rng),
                offset_minutes: 60,
                phase,
                order: 2_000,
                fact: Fact::Retracted { target: exit.id },
            }];
            if back <= limit() {
                added.push(Planned {
                    id: new_id(rng),
                    at: back,
                    offset_minutes: 0,
                    phase,
                    order: 2_001,
                    fact: Fact::Employed,
                });
            }
            try_change(events, |events| events.extend(added));
        }
    }

    // An enrolment retracted and the course enrolled again, with other planned sessions.
    if rng.random_range(0..100) < 4 {
        if let Some(enrolment) = events
            .iter()
            .find(|e| matches!(e.fact, Fact::Enrolled { .. }))
            .cloned()
        {
            let Fact::Enrolled { course, sessions } = enrolment.fact else {
                unreachable!()
            };
            let phase = (enrolment.phase + 1).min(3);
            let again = Planned {
                id: new_id(rng),
                at: enrolment.at + Duration::days(rng.random_range(1..10)),
                offset_minutes: 0,
                phase,
                order: 3_001,
                fact: Fact::Enrolled {
                    course,
                    sessions: sessions % 4 + 1,
                },
            };
            let retraction = Planned {
                id: new_id(rng),
                at: correction_instant(rng),
                offset_minutes: 0,
                phase,
                order: 3_000,
                fact: Fact::Retracted {
                    target: enrolment.id,
                },
            };
            try_change(events, |events| events.extend([retraction, again]));
        }
    }

    // The identification retracted: the person does not exist for indicators from then on.
    if rng.random_range(0..100) < 3 {
        let identified = events[0].id;
        let retraction = Planned {
            id: new_id(rng),
            at: correction_instant(rng),
            offset_minutes: 0,
            phase: rng.random_range(max_phase(events)..=3),
            order: 9_000,
            fact: Fact::Retracted { target: identified },
        };
        try_change(events, |events| events.push(retraction));
    }
}

fn activities(rng: &mut ChaCha8Rng, programme: &'static str, count: usize) -> Vec<Activity> {
    let first = NaiveDate::from_ymd_opt(2023, 1, 2).unwrap();
    let partners: &[usize] = if programme == PROGRAMME {
        &[0, 1, 2, 3]
    } else {
        &[0, 1]
    };
    (0..count)
        .map(|_| {
            let day = first + Duration::days(rng.random_range(0..(365 * 2 + 330)));
            let at = on_day(rng, day);
            let activity = if rng.random_bool(0.6) {
                let index = rng.random_range(0..COMPANIES.len());
                let name = COMPANIES[index];
                // The same company written differently.
                let written = match rng.random_range(0..10) {
                    0..=1 => name.to_uppercase(),
                    2 => name.to_lowercase(),
                    3 => format!("  {name} "),
                    _ => name.to_owned(),
                };
                // Some companies are labelled, some not, some written either way.
                let rse = match index % 3 {
                    0 => true,
                    1 => false,
                    _ => rng.random_bool(0.5),
                };
                json!({ "companyEngaged": { "companyName": written, "rseLabelled": rse } })
            } else {
                let trainer = *TRAINERS.choose(rng).unwrap();
                let organisation = PARTNERS[rng.random_range(0..2)];
                json!({ "trainerTrained": { "trainerName": trainer, "organisationCode": organisation } })
            };
            let phase = phase_of(at).max(weighted(rng, &[(1u8, 85), (2, 10), (3, 5)]));
            Activity {
                id: new_id(rng),
                programme,
                partner: *partners.choose(rng).unwrap(),
                at,
                phase,
                activity,
            }
        })
        .collect()
}

/// The scenario of [`SEED`].
pub fn generate() -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut beneficiaries = Vec::new();
    for index in 0..BENEFICIARIES + OTHER_BENEFICIARIES {
        let (programme, partner, region) = if index < BENEFICIARIES {
            let partner = weighted(&mut rng, &[(0usize, 40), (1, 30), (2, 20), (3, 10)]);
            let region = weighted(
                &mut rng,
                &[(REGIONS[0], 50), (REGIONS[1], 35), (REGIONS[2], 15)],
            );
            (PROGRAMME, partner, region)
        } else {
            (OTHER_PROGRAMME, rng.random_range(0..2), OTHER_REGION)
        };
        let mut b = beneficiary(&mut rng, programme, partner, region);
        amend(&mut rng, &mut b.events);
        recording_order(&mut b.events);
        beneficiaries.push(b);
    }
    let mut all_activities = activities(&mut rng, PROGRAMME, 90);
    all_activities.extend(activities(&mut rng, OTHER_PROGRAMME, 12));
    Scenario {
        beneficiaries,
        activities: all_activities,
    }
}

/// The distinct phases events are recorded in, for a summary.
pub fn phases(scenario: &Scenario) -> BTreeSet<u8> {
    scenario
        .beneficiaries
        .iter()
        .flat_map(|b| b.events.iter().map(|e| e.phase))
        .collect()
}

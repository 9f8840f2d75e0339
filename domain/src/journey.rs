//! Pure derivation of a beneficiary's milestones and stage from their journey records,
//! exactly as `api/contract/INDICATORS.md` defines the milestones; the stage is the furthest
//! pathway step reached and not retracted (identified < sensitised < trained < incubated <
//! employed < followed up). The aggregate, the projections and the indicator engine all use these
//! functions, so the rules exist once.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::beneficiary::{BeneficiaryEvent, JourneyFact};
use crate::ids::{CourseCode, EventId, OrganisationCode};
use crate::values::{LivingConditions, Stage};

/// One event of a beneficiary's stream as the carnet de bord shows it: the event, its place in
/// the stream, and whether a later event retracted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyRecord {
    /// 1-based position in the stream (cqrs-es's sequence).
    pub sequence: u64,
    /// The client's idempotency key.
    pub event_id: EventId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The organisation that recorded it.
    pub recorded_by: OrganisationCode,
    /// What happened.
    pub fact: JourneyFact,
    /// The `Retracted` event that voided this one, if any.
    pub retracted_by: Option<EventId>,
    /// Why it was retracted.
    pub retraction_reason: Option<String>,
}

impl JourneyRecord {
    /// The record of `event` stored at `sequence`, not (yet) retracted.
    pub fn new(sequence: u64, event: BeneficiaryEvent) -> JourneyRecord {
        JourneyRecord {
            sequence,
            event_id: event.event_id,
            occurred_at: event.occurred_at,
            recorded_by: event.recorded_by,
            fact: event.fact,
            retracted_by: None,
            retraction_reason: None,
        }
    }

    /// The date of the event: the UTC calendar date of `occurred_at`.
    pub fn date(&self) -> NaiveDate {
        self.occurred_at.date_naive()
    }

    /// Whether a later event retracted this one.
    pub fn is_retracted(&self) -> bool {
        self.retracted_by.is_some()
    }
}

/// The date at which a beneficiary first reached each milestone of INDICATORS.md, or `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestones {
    /// Earliest non-void `Identified`.
    pub identified: Option<NaiveDate>,
    /// Earliest non-void `Sensitised`.
    pub sensitised: Option<NaiveDate>,
    /// Earliest non-void `TrainingEnrolled`.
    pub enrolled: Option<NaiveDate>,
    /// Earliest date by which every planned session of some enrolled course was attended.
    pub attended_all_workshops: Option<NaiveDate>,
    /// Earliest non-void `TrainingCompleted`.
    pub completed_training: Option<NaiveDate>,
    /// Earliest non-void `IncubationStarted`.
    pub incubated: Option<NaiveDate>,
    /// Earliest non-void `BusinessLaunched`.
    pub business_launched: Option<NaiveDate>,
    /// Earliest non-void `Employed`.
    pub employed: Option<NaiveDate>,
    /// The earlier of `employed` and `business_launched`.
    pub inserted: Option<NaiveDate>,
    /// Earliest non-void `FollowedUp` dated on or after `inserted`.
    pub followed_up: Option<NaiveDate>,
}

impl Milestones {
    /// Every milestone's date, in the order above (identified … followed up): the order in
    /// which the projections store them.
    pub fn in_order(&self) -> [Option<NaiveDate>; 10] {
        [
            self.identified,
            self.sensitised,
            self.enrolled,
            self.attended_all_workshops,
            self.completed_training,
            self.incubated,
            self.business_launched,
            self.employed,
            self.inserted,
            self.followed_up,
        ]
    }
}

/// The events that a `Retracted` among `records` names: void for indicators.
///
/// Only the given records count: `retracted_by` is ignored, so that a caller can pass what was
/// recorded by some instant (as-of reports) and get what was known then.
pub fn void_event_ids(records: &[JourneyRecord]) -> BTreeSet<EventId> {
    records
        .iter()
        .filter_map(|r| match &r.fact {
            JourneyFact::Retracted {
                retracted_event_id, ..
            } => Some(*retracted_event_id),
            _ => None,
        })
        .collect()
}

/// The milestone dates of one beneficiary, from the records given (in stream order).
///
/// An event is void when a `Retracted` among `records` names it (see [`void_event_ids`]).
/// A beneficiary whose `Identified` is void does not exist for indicators: every milestone is
/// then `None`.
pub fn milestones(records: &[JourneyRecord]) -> Milestones {
    let void = void_event_ids(records);
    let live: Vec<&JourneyRecord> = records
        .iter()
        .filter(|r| !void.contains(&r.event_id))
        .collect();
    let earliest = |matches: fn(&JourneyFact) -> bool| {
        live.iter()
            .filter(|r| matches(&r.fact))
            .map(|r| r.date())
            .min()
    };

    let identified = earliest(|f| matches!(f, JourneyFact::Identified { .. }));
    if identified.is_none() {
        return Milestones::default();
    }
    let employed = earliest(|f| matches!(f, JourneyFact::Employed { .. }));
    let business_launched = earliest(|f| matches!(f, JourneyFact::BusinessLaunched { .. }));
    let inserted = earlier(employed, business_launched);
    let followed_up = inserted.and_then(|inserted| {
        live.iter()
            .filter(|r| matches!(r.fact, JourneyFact::FollowedUp { .. }))
            .map(|r| r.date())
            .filter(|date| *date >= inserted)
            .min()
    });

    Milestones {
        identified,
        sensitised: earliest(|f| matches!(f, JourneyFact::Sensitised { .. })),
        enrolled: earliest(|f| matches!(f, JourneyFact::TrainingEnrolled { .. })),
        attended_all_workshops: attended_all_workshops(&live),
        completed_training: earliest(|f| matches!(f, JourneyFact::TrainingCompleted { .. })),
        incubated: earliest(|f| matches!(f, JourneyFact::IncubationStarted { .. })),
        business_launched,
        employed,
        inserted,
        followed_up,
    }
}

fn earlier(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// For each course with a non-void enrolment, the latest over sessions 1…planned of each
/// session's earliest non-void attendance; over several courses, the earliest such date.
/// When a course has several non-void enrolments, the earliest one's planned sessions count.
fn attended_all_workshops(live: &[&JourneyRecord]) -> Option<NaiveDate> {
    let mut planned: BTreeMap<&CourseCode, (NaiveDate, u32)> = BTreeMap::new();
    let mut attended: BTreeMap<(&CourseCode, u32), NaiveDate> = BTreeMap::new();
    for record in live {
        let date = record.date();
        match &record.fact {
            JourneyFact::TrainingEnrolled {
                course_code,
                planned_sessions,
                ..
            } => {
                let entry = planned
                    .entry(course_code)
                    .or_insert((date, *planned_sessions));
                if date < entry.0 {
                    *entry = (date, *planned_sessions);
                }
            }
            JourneyFact::WorkshopAttended {
                course_code,
                session_number,
            } => {
                let entry = attended
                    .entry((course_code, *session_number))
                    .or_insert(date);
                *entry = (*entry).min(date);
            }
            _ => {}
        }
    }
    planned
        .into_iter()
        .filter(|(_, (_, sessions))| *sessions > 0)
        .filter_map(|(course, (_, sessions))| {
            (1..=sessions)
                .map(|session| attended.get(&(course, session)).copied())
                .collect::<Option<Vec<NaiveDate>>>()
                .and_then(|dates| dates.into_iter().max())
        })
        .min()
}

/// The stage of DESIGN.md: the furthest pathway step reached, in the order identified <
/// sensitised < trained (a training completed) < incubated < employed (employment or business
/// launched) < followed-up (a follow-up after insertion). `None` when not identified.
pub fn stage(m: &Milestones) -> Option<Stage> {
    m.identified?;
    let stage = if m.followed_up.is_some() {
        Stage::FollowedUp
    } else if m.inserted.is_some() {
        Stage::Employed
    } else if m.incubated.is_some() {
        Stage::Incubated
    } else if m.completed_training.is_some() {
        Stage::Trained
    } else if m.sensitised.is_some() {
        Stage::Sensitised
    } else {
        Stage::Identified
    };
    Some(stage)
}

/// The living conditions of the latest non-void `FollowedUp` dated on or before `to`, as the
/// IMPROVED_LIVING_CONDITIONS_RATE indicator reads them. Among follow-ups of the same date,
/// the one with the latest `occurred_at` wins, then the one later in the stream.
pub fn latest_living_conditions(
    records: &[JourneyRecord],
    to: NaiveDate,
) -> Option<LivingConditions> {
    let void = void_event_ids(records);
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| !void.contains(&r.event_id) && r.date() <= to)
        .filter_map(|(index, r)| match &r.fact {
            JourneyFact::FollowedUp {
                living_conditions, ..
            } => Some(((r.occurred_at, index), *living_conditions)),
            _ => None,
        })
        .max_by_key(|(key, _)| *key)
        .map(|(_, conditions)| conditions)
}

#[cfg(test)]
mod tests;

//! The reference computation: the indicator table of one programme, recomputed from the raw
//! event log exactly as `api/contract/INDICATORS.md` words it, with nothing of the server's
//! own code. Each rule of the contract is one small, readable piece below.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::Value;

/// One row of `Query.eventLog`.
#[derive(Debug, Clone)]
pub struct LogEvent {
    /// Global position.
    pub position: u64,
    /// `Beneficiary`, `Programme`, `Organisation`.
    pub aggregate_type: String,
    /// The stream.
    pub aggregate_id: String,
    /// Position in the stream.
    pub sequence: u64,
    /// E.g. `TrainingEnrolled`.
    pub event_type: String,
    /// The serialised domain event.
    pub payload: Value,
    /// When the store wrote it.
    pub recorded_at: DateTime<Utc>,
    /// `payload.occurred_at`, when the event has one.
    pub occurred_at: Option<DateTime<Utc>>,
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text}: {error}"))
        .with_timezone(&Utc)
}

impl LogEvent {
    /// From one `RecordedEvent` of the API.
    pub fn from_json(event: &Value) -> LogEvent {
        let text = |field: &str| {
            event[field]
                .as_str()
                .unwrap_or_else(|| panic!("{field} missing in {event:#}"))
                .to_owned()
        };
        LogEvent {
            position: text("globalPosition").parse().unwrap(),
            aggregate_type: text("aggregateType"),
            aggregate_id: text("aggregateId"),
            sequence: event["sequence"].as_u64().unwrap(),
            event_type: text("eventType"),
            payload: event["payload"].clone(),
            recorded_at: instant(&text("recordedAt")),
            occurred_at: event["payload"]["occurred_at"].as_str().map(instant),
        }
    }

    /// The event's own fields: `payload.fact.<EventType>`.
    pub fn fact(&self) -> &Value {
        &self.payload["fact"][self.event_type.as_str()]
    }

    /// The client's event id.
    pub fn event_id(&self) -> &str {
        self.payload["event_id"].as_str().unwrap()
    }

    /// `occurredAt`.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
            .unwrap_or_else(|| panic!("no occurred_at in {:#}", self.payload))
    }

    /// "Date of an event: the calendar date of `occurredAt` in UTC."
    pub fn date(&self) -> NaiveDate {
        self.occurred_at().date_naive()
    }

    /// The recording organisation.
    pub fn recorded_by(&self) -> &str {
        self.payload["recorded_by"].as_str().unwrap()
    }

    fn text(&self, field: &str) -> &str {
        self.fact()[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing in {:#}", self.payload))
    }
}

/// A disaggregation dimension, named as in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    Sex,
    AgeBand,
    Region,
    Partner,
    Nationality,
    LegalStatus,
    Month,
    Quarter,
}

impl Dimension {
    /// The GraphQL enum value.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Sex => "SEX",
            Dimension::AgeBand => "AGE_BAND",
            Dimension::Region => "REGION",
            Dimension::Partner => "PARTNER",
            Dimension::Nationality => "NATIONALITY",
            Dimension::LegalStatus => "LEGAL_STATUS",
            Dimension::Month => "MONTH",
            Dimension::Quarter => "QUARTER",
        }
    }
}

/// What to compute: the arguments of `Query.indicators`.
#[derive(Debug, Clone)]
pub struct Request {
    /// The programme.
    pub programme: String,
    /// `period.from`.
    pub from: Option<NaiveDate>,
    /// `period.to`.
    pub to: Option<NaiveDate>,
    /// `asOf`.
    pub as_of: Option<DateTime<Utc>>,
    /// `disaggregateBy`.
    pub dimensions: Vec<Dimension>,
    /// Today (UTC), for the default end of the period without `asOf`.
    pub today: NaiveDate,
}

/// A cell's key: dimension name → value.
pub type CellKey = BTreeMap<String, String>;

/// The three figures of an indicator or of a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// `value`.
    pub value: Option<f64>,
    /// `numerator`.
    pub numerator: Option<u64>,
    /// `denominator`.
    pub denominator: Option<u64>,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// `IndicatorCode`.
    pub code: &'static str,
    /// `IndicatorKind`.
    pub kind: &'static str,
    /// The total.
    pub figures: Figures,
    /// `target`.
    pub target: Option<f64>,
    /// The non-empty cells.
    pub breakdown: BTreeMap<CellKey, Figures>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The period applied.
    pub from: NaiveDate,
    /// The period applied.
    pub to: NaiveDate,
    /// Every indicator, in the order of INDICATORS.md.
    pub indicators: Vec<Indicator>,
}

/// Every indicator code, in the order of INDICATORS.md.
pub const CODES: [&str; 16] = [
    "IDENTIFIED",
    "SENSITISED",
    "ENROLLED_IN_TRAINING",
    "ATTENDED_ALL_WORKSHOPS",
    "COMPLETED_TRAINING",
    "INCUBATED",
    "BUSINESS_LAUNCHED",
    "EMPLOYED",
    "INSERTED",
    "FOLLOWED_UP",
    "FOLLOW_UP_RATE",
    "IMPROVED_LIVING_CONDITIONS_RATE",
    "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED",
    "COMPANIES_ENGAGED",
    "RSE_COMPANIES_ENGAGED",
    "TRAINERS_TRAINED",
];

/// The milestone dates of one beneficiary (table "Milestone date" of INDICATORS.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Milestones {
    pub identified: Option<NaiveDate>,
    pub sensitised: Option<NaiveDate>,
    pub enrolled: Option<NaiveDate>,
    pub attended_all_workshops: Option<NaiveDate>,
    pub completed_training: Option<NaiveDate>,
    pub incubated: Option<NaiveDate>,
    pub business_launched: Option<NaiveDate>,
    pub employed: Option<NaiveDate>,
    pub inserted: Option<NaiveDate>,
    pub followed_up: Option<NaiveDate>,
}

/// A beneficiary of the programme who exists for indicators, as known at `asOf`.
#[derive(Debug, Clone)]
pub struct Person {
    /// Stream id.
    pub id: String,
    /// Milestone dates.
    pub milestones: Milestones,
    /// Dimension values other than MONTH and QUARTER.
    pub attributes: BTreeMap<Dimension, String>,
    /// Non-void `FollowedUp` events: (date, livingConditions).
    pub follow_ups: Vec<(NaiveDate, String)>,
}

impl Person {
    /// `livingConditions` of the latest non-void `FollowedUp` dated ≤ `to`.
    fn latest_living_conditions(&self, to: NaiveDate) -> Option<&str> {
        let latest = self
            .follow_ups
            .iter()
            .filter(|(date, _)| *date <= to)
            .map(|(date, _)| *date)
            .max()?;
        let on_that_day: BTreeSet<&str> = self
            .follow_ups
            .iter()
            .filter(|(date, _)| *date == latest)
            .map(|(_, conditions)| conditions.as_str())
            .collect();
        assert_eq!(
            on_that_day.len(),
            1,
            "beneficiary {}: follow-ups of the same day {latest} disagree; \
             the scenario must not contain that case",
            self.id
        );
        on_that_day.into_iter().next()
    }
}

/// Only what was recorded by `asOf`.
fn known_at(log: &[LogEvent], as_of: Option<DateTime<Utc>>) -> Vec<&LogEvent> {
    log.iter()
        .filter(|event| as_of.is_none_or(|t| event.recorded_at <= t))
        .collect()
}

/// The event ids that a `Retracted` event among `events` names: void.
fn void_ids<'a>(events: &[&'a LogEvent]) -> BTreeSet<&'a str> {
    events
        .iter()
        .filter(|event| event.event_type == "Retracted")
        .map(|event| event.text("retracted_event_id"))
        .collect()
}

/// The milestones of one stream's non-void events.
pub fn milestones(live: &[&LogEvent]) -> Milestones {
    let earliest = |event_type: &str| {
        live.iter()
            .filter(|event| event.event_type == event_type)
            .map(|event| event.date())
            .min()
    };
    let employed = earliest("Employed");
    let business_launched = earliest("BusinessLaunched");
    let inserted = match (employed, business_launched) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let followed_up = inserted.and_then(|inserted| {
        live.iter()
            .filter(|event| event.event_type == "FollowedUp")
            .map(|event| event.date())
            .filter(|date| *date >= inserted)
            .min()
    });
    Milestones {
        identified: earliest("Identified"),
        sensitised: earliest("Sensitised"),
        enrolled: earliest("TrainingEnrolled"),
        attended_all_workshops: attended_all_workshops(live),
        completed_training: earliest("TrainingCompleted"),
        incubated: earliest("IncubationStarted"),
        business_launched,
        employed,
        inserted,
        followed_up,
    }
}

/// "For a course the beneficiary is enrolled in (non-void enrolment), the date by which every
/// session 1…plannedSessions had been attended: the latest, over those sessions, of each
/// session's earliest non-void WorkshopAttended date; over several courses, the earliest such
/// date."
fn attended_all_workshops(live: &[&LogEvent]) -> Option<NaiveDate> {
    // course → planned sessions of its non-void enrolment (the earliest, should there be two).
    let mut planned: BTreeMap<&str, (NaiveDate, u64)> = BTreeMap::new();
    // (course, session) → earliest attendance.
    let mut attended: BTreeMap<(&str, u64), NaiveDate> = BTreeMap::new();
    for event in live {
        match event.event_type.as_str() {
            "TrainingEnrolled" => {
                let course = event.text("course_code");
                let sessions = event.fact()["planned_sessions"].as_u64().unwrap();
                let candidate = (event.date(), sessions);
                planned
                    .entry(course)
                    .and_modify(|current| *current = (*current).min(candidate))
                    .or_insert(candidate);
            }
            "WorkshopAttended" => {
                let key = (
                    event.text("course_code"),
                    event.fact()["session_number"].as_u64().unwrap(),
                );
                let date = event.date();
                attended
                    .entry(key)
                    .and_modify(|current| *current = (*current).min(date))
                    .or_insert(date);
            }
            _ => {}
        }
    }
    planned
        .iter()
        .filter_map(|(course, (_, sessions))| {
            let mut all_by = None;
            for session in 1..=*sessions {
                let date = *attended.get(&(*course, session))?;
                all_by = all_by.max(Some(date));
            }
            all_by
        })
        .min()
}

/// "AGE_BAND: from year of identification − birthYear".
pub fn age_band(identification_year: i32, birth_year: Option<i64>) -> &'static str {
    let Some(birth_year) = birth_year else {
        return "UNKNOWN";
    };
    match i64::from(identification_year) - birth_year {
        age if age < 18 => "UNDER_18",
        18..=24 => "AGE_18_24",
        25..=34 => "AGE_25_34",
        35..=44 => "AGE_35_44",
        _ => "AGE_45_PLUS",
    }
}

/// `YYYY-MM`.
pub fn month(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// `YYYY-Qn`.
pub fn quarter(date: NaiveDate) -> String {
    format!("{:04}-Q{}", date.year(), (date.month() - 1) / 3 + 1)
}

/// Every beneficiary of `programme` who exists for indicators among `known` events.
pub fn people(known: &[&LogEvent], programme: &str) -> Vec<Person> {
    let mut streams: BTreeMap<&str, Vec<&LogEvent>> = BTreeMap::new();
    for event in known {
        if event.aggregate_type == "Beneficiary" {
            streams.entry(&event.aggregate_id).or_default().push(event);
        }
    }
    let mut people = Vec::new();
    for (id, mut events) in streams {
        events.sort_by_key(|event| event.sequence);
        let void = void_ids(&events);
        let live: Vec<&LogEvent> = events
            .iter()
            .copied()
            .filter(|event| !void.contains(event.event_id()))
            .collect();
        // "A beneficiary whose Identified event is void does not exist for indicators."
        let Some(identified) = live
            .iter()
            .filter(|event| event.event_type == "Identified")
            .min_by_key(|event| (event.occurred_at(), event.sequence))
        else {
            continue;
        };
        if identified.text("programme_code") != programme {
            continue;
        }
        let fact = identified.fact();
        let mut attributes = BTreeMap::new();
        attributes.insert(Dimension::Sex, identified.text("sex").to_owned());
        attributes.insert(
            Dimension::AgeBand,
            age_band(identified.date().year(), fact["birth_year"].as_i64()).to_owned(),
        );
        attributes.insert(Dimension::Region, identified.text("region").to_owned());
        attributes.insert(Dimension::Partner, identified.recorded_by().to_owned());
        attributes.insert(
            Dimension::Nationality,
            identified.text("nationality").to_owned(),
        );
        attributes.insert(
            Dimension::LegalStatus,
            identified.text("legal_status").to_owned(),
        );
        let follow_ups = live
            .iter()
            .filter(|event| event.event_type == "FollowedUp")
            .map(|event| (event.date(), event.text("living_conditions").to_owned()))
            .collect();
        people.push(Person {
            id: id.to_owned(),
            milestones: milestones(&live),
            attributes,
            follow_ups,
        });
    }
    people
}

/// One beneficiary's part in an indicator: the date that places it (for MONTH and QUARTER)
/// and, for a percentage, whether it is in the numerator; for a median, its number of days.
#[derive(Debug, Clone, Copy)]
struct Member {
    date: NaiveDate,
    in_numerator: bool,
    days: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Percentage,
    MedianDays,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Count => "COUNT",
            Kind::Percentage => "PERCENTAGE",
            Kind::MedianDays => "MEDIAN_DAYS",
        }
    }

    fn figures(self, members: &[Member]) -> Figures {
        let n = members.len() as u64;
        match self {
            Kind::Count => count_figures(n),
            Kind::Percentage => {
                let numerator = members.iter().filter(|m| m.in_numerator).count() as u64;
                Figures {
                    value: (n > 0).then(|| 100.0 * numerator as f64 / n as f64),
                    numerator: Some(numerator),
                    denominator: Some(n),
                }
            }
            Kind::MedianDays => {
                let mut days: Vec<i64> = members.iter().map(|m| m.days).collect();
                days.sort_unstable();
                let median = match days.len() {
                    0 => None,
                    len if len % 2 == 1 => Some(days[len / 2] as f64),
                    len => Some((days[len / 2 - 1] + days[len / 2]) as f64 / 2.0),
                };
                Figures {
                    value: median,
                    numerator: None,
                    denominator: Some(n),
                }
            }
        }
    }
}

/// "For COUNT indicators `numerator` = `value` and `denominator` is null."
fn count_figures(n: u64) -> Figures {
    Figures {
        value: Some(n as f64),
        numerator: Some(n),
        denominator: None,
    }
}

/// The indicator table for `request` over `log` (the whole log, as read back).
pub fn compute(log: &[LogEvent], request: &Request) -> Report {
    let known = known_at(log, request.as_of);

    // The programme's stream: registration, targets and activities.
    let registration = known
        .iter()
        .find(|event| {
            event.event_type == "ProgrammeRegistered" && event.text("code") == request.programme
        })
        .unwrap_or_else(|| panic!("programme {} not in the log", request.programme));
    let programme_stream: Vec<&LogEvent> = known
        .iter()
        .copied()
        .filter(|event| {
            event.aggregate_type == registration.aggregate_type
                && event.aggregate_id == registration.aggregate_id
        })
        .collect();
    let start_date: NaiveDate = registration.text("start_date").parse().unwrap();
    let mut targets: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_position = programme_stream.clone();
    by_position.sort_by_key(|event| event.sequence);
    for event in by_position
        .iter()
        .filter(|e| e.event_type == "IndicatorTargetSet")
    {
        // Targets are stored in hundredths.
        let hundredths = event.fact()["target"].as_i64().unwrap();
        targets.insert(
            event.text("indicator").to_owned(),
            hundredths as f64 / 100.0,
        );
    }

    // The period.
    let from = request.from.unwrap_or(start_date);
    let to = request
        .to
        .unwrap_or_else(|| request.as_of.map_or(request.today, |t| t.date_naive()));
    let in_period = |date: Option<NaiveDate>| date.filter(|d| (from..=to).contains(d));

    let people = people(&known, &request.programme);

    let mut indicators = Vec::new();
    for code in CODES {
        let (kind, members): (Kind, Vec<(&Person, Member)>) = match code {
            "COMPANIES_ENGAGED" | "RSE_COMPANIES_ENGAGED" | "TRAINERS_TRAINED" => {
                let count = activity_count(code, &programme_stream, from, to);
                indicators.push(Indicator {
                    code,
                    kind: "COUNT",
                    figures: count_figures(count as u64),
                    target: targets.get(code).copied(),
                    breakdown: BTreeMap::new(),
                });
                continue;
            }
            "FOLLOW_UP_RATE" => (
                Kind::Percentage,
                people
                    .iter()
                    .filter_map(|p| {
                        let inserted = in_period(p.milestones.inserted)?;
                        let followed = p.milestones.followed_up.is_some_and(|f| f <= to);
                        Some((p, member(inserted, followed, 0)))
                    })
                    .collect(),
            ),
            "IMPROVED_LIVING_CONDITIONS_RATE" => (
                Kind::Percentage,
                people
                    .iter()
                    .filter_map(|p| {
                        let enrolled = in_period(p.milestones.enrolled)?;
                        let improved = p.latest_living_conditions(to) == Some("IMPROVED");
                        Some((p, member(enrolled, improved, 0)))
                    })
                    .collect(),
            ),
            "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED" => (
                Kind::MedianDays,
                people
                    .iter()
                    .filter_map(|p| {
                        let inserted = in_period(p.milestones.inserted)?;
                        let identified = p.milestones.identified?;
                        let days = (inserted - identified).num_days();
                        Some((p, member(inserted, false, days)))
                    })
                    .collect(),
            ),
            count => (
                Kind::Count,
                people
                    .iter()
                    .filter_map(|p| {
                        let date = in_period(milestone_of(count, &p.milestones))?;
                        Some((p, member(date, false, 0)))
                    })
                    .collect(),
            ),
        };
        let all: Vec<Member> = members.iter().map(|(_, m)| *m).collect();
        let mut cells: BTreeMap<CellKey, Vec<Member>> = BTreeMap::new();
        if !request.dimensions.is_empty() {
            for (person, m) in &members {
                let key = request
                    .dimensions
                    .iter()
                    .map(|dimension| {
                        let value = match dimension {
                            Dimension::Month => month(m.date),
                            Dimension::Quarter => quarter(m.date),
                            other => person.attributes[other].clone(),
                        };
                        (dimension.name().to_owned(), value)
                    })
                    .collect();
                cells.entry(key).or_default().push(*m);
            }
        }
        indicators.push(Indicator {
            code,
            kind: kind.name(),
            figures: kind.figures(&all),
            target: targets.get(code).copied(),
            breakdown: cells
                .into_iter()
                .map(|(key, members)| (key, kind.figures(&members)))
                .collect(),
        });
    }
    Report {
        from,
        to,
        indicators,
    }
}

fn member(date: NaiveDate, in_numerator: bool, days: i64) -> Member {
    Member {
        date,
        in_numerator,
        days,
    }
}

fn milestone_of(code: &str, m: &Milestones) -> Option<NaiveDate> {
    match code {
        "IDENTIFIED" => m.identified,
        "SENSITISED" => m.sensitised,
        "ENROLLED_IN_TRAINING" => m.enrolled,
        "ATTENDED_ALL_WORKSHOPS" => m.attended_all_workshops,
        "COMPLETED_TRAINING" => m.completed_training,
        "INCUBATED" => m.incubated,
        "BUSINESS_LAUNCHED" => m.business_launched,
        "EMPLOYED" => m.employed,
        "INSERTED" => m.inserted,
        "FOLLOWED_UP" => m.followed_up,
        other => panic!("{other} is not a milestone count"),
    }
}

/// COMPANIES_ENGAGED: distinct company names (trimmed, case-insensitive) of non-void
/// `CompanyEngaged` activities dated in the period; RSE_COMPANIES_ENGAGED the same with
/// `rseLabelled = true`; TRAINERS_TRAINED: distinct (trainer name, organisation).
/// Programme activities cannot be retracted (a `Retracted` names a beneficiary's event), so
/// none is void.
fn activity_count(code: &str, stream: &[&LogEvent], from: NaiveDate, to: NaiveDate) -> usize {
    let dated = stream
        .iter()
        .filter(|event| (from..=to).contains(&event.date()));
    match code {
        "COMPANIES_ENGAGED" | "RSE_COMPANIES_ENGAGED" => dated
            .filter(|event| event.event_type == "CompanyEngaged")
            .filter(|event| {
                code == "COMPANIES_ENGAGED" || event.fact()["rse_labelled"].as_bool().unwrap()
            })
            .map(|event| event.text("company_name").trim().to_lowercase())
            .collect::<BTreeSet<_>>()
            .len(),
        _ => dated
            .filter(|event| event.event_type == "TrainerTrained")
            .map(|event| {
                (
                    event.text("trainer_name").to_owned(),
                    event.text("organisation_code").to_owned(),
                )
            })
            .collect::<BTreeSet<_>>()
            .len(),
    }
}

//! The beneficiary aggregate: one stream per beneficiary (aggregate id = [`BeneficiaryId`]),
//! holding their whole journey, the carnet de bord.
//!
//! [`Beneficiary::decide`] checks the journey rules of DESIGN.md, in this order, and returns
//! the events to record:
//! 1. idempotency: an event id already in the stream records nothing;
//! 2. access: who may write for this beneficiary. The stream belongs for ever to the
//!    organisation whose `Identified` event opened it (its owner), even once that event is
//!    retracted: only the owner, or an organisation it referred the beneficiary to, writes for
//!    them; only the owner (or an administrator) records a new identification; a referred
//!    organisation retracts only the events it recorded itself;
//! 3. identification: `Identified` first and once, with a registered programme, one of its
//!    regions, a plausible birth year, and personal data only with consent;
//! 4. dates: not in the future, not before the programme's start or the identification;
//! 5. exit: after `Exited`, only the exit's retraction;
//! 6. dependencies between steps (enrolment, incubation, insertion, employment, referral);
//! 7. retraction: of an event of this stream, once, never of a retraction or erasure;
//! 8. field validation.
//!
//! [`Beneficiary::apply`] only records the event and recomputes the derived state from the
//! non-retracted records.
//!
//! [`BeneficiaryId`]: crate::ids::BeneficiaryId

mod commands;
mod error;
mod events;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use self::commands::{BeneficiaryCommand, ErasePersonalData, RecordJourneyEvent};
pub use self::error::BeneficiaryError;
pub use self::events::{BeneficiaryEvent, JourneyFact, BENEFICIARY_EVENT_VERSION};
pub use crate::journey::{JourneyRecord, Milestones};

use crate::directory::{Directory, DomainServices, ProgrammeFacts};
use crate::ids::{CountryCode, CourseCode, EventId, OrganisationCode, ProgrammeCode, RegionCode};
use crate::journey;
use crate::values::{
    not_leap_second, optional_text, required_text, text_list, trim_text, Actor, AgeBand,
    ConsentScope, EncryptedPersonalData, LegalStatus, ReferralChannel, Role, Sex, Stage,
    ValueError, MAX_CIPHERTEXT_CHARS, MAX_LIST_ITEMS, MAX_NAME_CHARS, MAX_TEXT_CHARS,
};
use crate::MAX_CLOCK_SKEW;

/// Earliest accepted birth year.
pub const MIN_BIRTH_YEAR: i32 = 1900;
/// Most workshop sessions a course may plan.
pub const MAX_PLANNED_SESSIONS: u32 = 1000;

/// What the (non-retracted) `Identified` event says about the beneficiary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identification {
    /// The `Identified` event.
    pub event_id: EventId,
    /// When the beneficiary was identified.
    pub identified_at: DateTime<Utc>,
    /// The programme.
    pub programme_code: ProgrammeCode,
    /// The organisation that owns the record: the one whose `Identified` event opened the
    /// stream (which may not be the one that recorded this identification, when an
    /// administrator identified the beneficiary again).
    pub partner: OrganisationCode,
    /// Sex.
    pub sex: Sex,
    /// Year of birth.
    pub birth_year: Option<i32>,
    /// Nationality.
    pub nationality: CountryCode,
    /// Legal status.
    pub legal_status: LegalStatus,
    /// Region.
    pub region: RegionCode,
    /// City.
    pub city: Option<String>,
    /// Referral channel.
    pub channel: ReferralChannel,
    /// Whether the household has children.
    pub household_with_children: Option<bool>,
    /// Education level.
    pub education_level: Option<String>,
}

impl Identification {
    /// The age band at identification (INDICATORS.md).
    pub fn age_band(&self) -> AgeBand {
        AgeBand::from(self.identified_at.year(), self.birth_year)
    }
}

/// A beneficiary's stream: the records of every event applied, and what follows from the
/// non-retracted ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Beneficiary {
    journey: Vec<JourneyRecord>,
    derived: Derived,
}

/// Everything recomputed by `apply` from the non-retracted records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Derived {
    /// The organisation whose `Identified` event opened the stream, retracted or not.
    owner: Option<OrganisationCode>,
    identification: Option<Identification>,
    milestones: Milestones,
    stage: Option<Stage>,
    exit_event: Option<EventId>,
    consent: BTreeSet<ConsentScope>,
    /// Consent to data processing withdrawn since the identification, and not given again.
    data_processing_withdrawn: bool,
    personal_data: Option<EncryptedPersonalData>,
    personal_data_erased: bool,
    referred_organisations: BTreeSet<OrganisationCode>,
    /// Enrolled courses and their planned sessions.
    enrolments: BTreeMap<CourseCode, u32>,
    /// Courses completed or dropped.
    closed_courses: BTreeSet<CourseCode>,
    incubated: bool,
    employments: u64,
    employment_ends: u64,
}

impl Derived {
    fn from_journey(journey: &[JourneyRecord]) -> Derived {
        let owner = journey
            .iter()
            .find(|record| matches!(record.fact, JourneyFact::Identified { .. }))
            .map(|record| record.recorded_by.clone());
        let mut d = Derived {
            owner,
            milestones: journey::milestones(journey),
            ..Derived::default()
        };
        d.stage = journey::stage(&d.milestones);
        for record in journey.iter().filter(|r| !r.is_retracted()) {
            match &record.fact {
                JourneyFact::Identified {
                    programme_code,
                    sex,
                    birth_year,
                    nationality,
                    legal_status,
                    region,
                    city,
                    channel,
                    household_with_children,
                    education_level,
                    consent,
                    personal_data,
                } => {
                    if d.identification.is_none() {
                        d.identification = Some(Identification {
                            event_id: record.event_id,
                            identified_at: record.occurred_at,
                            programme_code: programme_code.clone(),
                            partner: d
                                .owner
                                .clone()
                                .unwrap_or_else(|| record.recorded_by.clone()),
                            sex: *sex,
                            birth_year: *birth_year,
                            nationality: nationality.clone(),
                            legal_status: *legal_status,
                            region: region.clone(),
                            city: city.clone(),
                            channel: *channel,
                            household_with_children: *household_with_children,
                            education_level: education_level.clone(),
                        });
                        d.consent = consent.clone();
                        d.data_processing_withdrawn = false;
                        d.personal_data = personal_data.clone();
                    }
                }
                JourneyFact::ConsentGiven { scopes } => {
                    d.consent.extend(scopes.iter().copied());
                    if scopes.contains(&ConsentScope::DataProcessing) {
                        d.data_processing_withdrawn = false;
                    }
                }
                JourneyFact::ConsentWithdrawn { scopes } => {
                    for scope in scopes {
                        d.consent.remove(scope);
                    }
                    if scopes.contains(&ConsentScope::DataProcessing) {
                        d.data_processing_withdrawn = true;
                        d.personal_data = None;
                    }
                }
                JourneyFact::Referred {
                    organisation_code: Some(organisation),
                    ..
                } => {
                    d.referred_organisations.insert(organisation.clone());
                }
                JourneyFact::TrainingEnrolled {
                    course_code,
                    planned_sessions,
                    ..
                } => {
                    d.enrolments
                        .entry(course_code.clone())
                        .or_insert(*planned_sessions);
                }
                JourneyFact::TrainingCompleted { course_code, .. }
                | JourneyFact::TrainingDropped { course_code, .. } => {
                    d.closed_courses.insert(course_code.clone());
                }
                JourneyFact::IncubationStarted { .. } => d.incubated = true,
                JourneyFact::Employed { .. } => d.employments += 1,
                JourneyFact::EmploymentEnded { .. } => d.employment_ends += 1,
                JourneyFact::Exited { .. } => d.exit_event = Some(record.event_id),
                JourneyFact::PersonalDataErased { .. } => d.personal_data_erased = true,
                JourneyFact::Referred { .. }
                | JourneyFact::Sensitised { .. }
                | JourneyFact::SkillsAssessed { .. }
                | JourneyFact::WorkshopAttended { .. }
                | JourneyFact::BusinessLaunched { .. }
                | JourneyFact::FollowedUp { .. }
                | JourneyFact::Retracted { .. } => {}
            }
        }
        if d.personal_data_erased {
            d.personal_data = None;
        }
        d
    }
}

impl Beneficiary {
    /// The state after `events`, applied in order to a fresh beneficiary.
    pub fn from_events(events: impl IntoIterator<Item = BeneficiaryEvent>) -> Beneficiary {
        let mut beneficiary = Beneficiary::default();
        for event in events {
            beneficiary.push_record(event);
        }
        // What `apply` recomputes after each event, computed once at the end.
        beneficiary.derived = Derived::from_journey(&beneficiary.journey);
        beneficiary
    }

    /// Adds `event` to the journey (flagging what it retracts), without recomputing what
    /// follows from the journey.
    fn push_record(&mut self, event: BeneficiaryEvent) {
        if let JourneyFact::Retracted {
            retracted_event_id,
            reason,
        } = &event.fact
        {
            if let Some(target) = self
                .journey
                .iter_mut()
                .find(|r| r.event_id == *retracted_event_id && r.retracted_by.is_none())
            {
                target.retracted_by = Some(event.event_id);
                target.retraction_reason = Some(reason.clone());
            }
        }
        let sequence = self.version() + 1;
        self.journey.push(JourneyRecord::new(sequence, event));
    }

    /// Every event applied, in stream order, retracted ones flagged: the carnet de bord.
    pub fn journey(&self) -> &[JourneyRecord] {
        &self.journey
    }

    /// The stream version: the sequence of the last event (0 for an empty stream).
    pub fn version(&self) -> u64 {
        self.journey.last().map_or(0, |r| r.sequence)
    }

    /// The record of `event_id`, if it is in this stream.
    pub fn record(&self, event_id: EventId) -> Option<&JourneyRecord> {
        self.journey.iter().find(|r| r.event_id == event_id)
    }

    /// The sequence of `event_id`, if it is in this stream.
    pub fn sequence_of(&self, event_id: EventId) -> Option<u64> {
        self.record(event_id).map(|r| r.sequence)
    }

    /// What the non-retracted `Identified` event says, or `None` when not identified.
    pub fn identified(&self) -> Option<&Identification> {
        self.derived.identification.as_ref()
    }

    /// Whether the beneficiary has a non-retracted `Identified` event.
    pub fn is_identified(&self) -> bool {
        self.derived.identification.is_some()
    }

    /// The beneficiary's programme.
    pub fn programme_code(&self) -> Option<&ProgrammeCode> {
        self.identified().map(|i| &i.programme_code)
    }

    /// The organisation whose `Identified` event opened the stream: it owns the record for
    /// ever, even once that identification is retracted, and decides who else writes for the
    /// beneficiary. `None` for a stream never identified.
    pub fn owner(&self) -> Option<&OrganisationCode> {
        self.derived.owner.as_ref()
    }

    /// The organisation that owns the record ([`Beneficiary::owner`]), while the beneficiary
    /// is identified.
    pub fn partner(&self) -> Option<&OrganisationCode> {
        self.identified().map(|i| &i.partner)
    }

    /// Milestone dates (INDICATORS.md).
    pub fn milestones(&self) -> &Milestones {
        &self.derived.milestones
    }

    /// The furthest pathway step reached, `None` when not identified.
    pub fn stage(&self) -> Option<Stage> {
        self.derived.stage
    }

    /// Identified and not exited.
    pub fn active(&self) -> bool {
        self.is_identified() && self.derived.exit_event.is_none()
    }

    /// The non-retracted `Exited` event, if any.
    pub fn exit_event(&self) -> Option<EventId> {
        self.derived.exit_event
    }

    /// Current consent: given at identification, then added and withdrawn in order.
    pub fn consent(&self) -> &BTreeSet<ConsentScope> {
        &self.derived.consent
    }

    /// The encrypted personal data, unless erased or `DATA_PROCESSING` consent was withdrawn.
    pub fn personal_data(&self) -> Option<&EncryptedPersonalData> {
        self.derived.personal_data.as_ref()
    }

    /// Whether the personal data was erased.
    pub fn personal_data_erased(&self) -> bool {
        self.derived.personal_data_erased
    }

    /// Organisations the beneficiary was referred to (they may write for the beneficiary).
    pub fn referred_organisations(&self) -> &BTreeSet<OrganisationCode> {
        &self.derived.referred_organisations
    }

    /// Whether `organisation` may see and write this beneficiary as a partner: it owns the
    /// record ([`Beneficiary::owner`]) or was referred the beneficiary.
    pub fn is_responsible(&self, organisation: &OrganisationCode) -> bool {
        self.owner() == Some(organisation)
            || self.derived.referred_organisations.contains(organisation)
    }

    /// Whether the beneficiary, identified, withdrew consent to data processing since their
    /// identification (and did not give it again): then any organisation responsible for
    /// them may complete the erasure it calls for.
    pub fn withdrew_data_processing(&self) -> bool {
        self.is_identified() && self.derived.data_processing_withdrawn
    }

    /// Decides `command` against the journey rules: the events to record (none for a
    /// resubmission), or the rule it breaks. Pure and synchronous.
    pub fn decide(
        &self,
        command: BeneficiaryCommand,
        services: &DomainServices,
    ) -> Result<Vec<BeneficiaryEvent>, BeneficiaryError> {
        match command {
            BeneficiaryCommand::Record(command) => {
                self.decide_record(command, services.directory.as_ref())
            }
            BeneficiaryCommand::ErasePersonalData(command) => self.decide_erasure(command),
        }
    }

    fn decide_record(
        &self,
        command: RecordJourneyEvent,
        directory: &dyn Directory,
    ) -> Result<Vec<BeneficiaryEvent>, BeneficiaryError> {
        let RecordJourneyEvent {
            event_id,
            occurred_at,
            actor,
            now,
            fact,
            beneficiary_id: _,
        } = command;

        let fact = fact.normalised();

        // 1. Access: first, so that a caller who may not write here learns nothing, not even
        //    whether an event id is already recorded. The organisation that recorded an event
        //    learns nothing new from its resubmission, which stays a no-op even when the event
        //    took that organisation's own access away (a referral retracted by its partner).
        let resubmitted_by_recorder = matches!(actor.role, Role::Partner | Role::Admin)
            && self
                .record(event_id)
                .is_some_and(|r| r.recorded_by == actor.organisation);
        if resubmitted_by_recorder {
            return Ok(Vec::new());
        }
        let programme_code = match (self.identified(), &fact) {
            (Some(identification), _) => Some(&identification.programme_code),
            (None, JourneyFact::Identified { programme_code, .. }) => Some(programme_code),
            (None, _) => None,
        };
        let programme = programme_code.and_then(|code| directory.programme(code));
        self.check_access(&actor, programme.as_ref(), &fact)?;

        // 2. Idempotency.
        if self.sequence_of(event_id).is_some() {
            return Ok(Vec::new());
        }
        if matches!(fact, JourneyFact::PersonalDataErased { .. }) {
            return Err(BeneficiaryError::ErasureNotAJourneyEvent);
        }

        // 3. Identification.
        let programme = match (self.identified(), &fact) {
            (None, JourneyFact::Identified { programme_code, .. }) => {
                let programme = programme.ok_or_else(|| BeneficiaryError::UnknownProgramme {
                    programme: programme_code.clone(),
                })?;
                check_identification(&fact, &programme, now)?;
                programme
            }
            (None, _) => return Err(BeneficiaryError::NotIdentified),
            (Some(_), JourneyFact::Identified { .. }) => {
                return Err(BeneficiaryError::AlreadyIdentified)
            }
            (Some(identification), _) => {
                programme.ok_or_else(|| BeneficiaryError::UnknownProgramme {
                    programme: identification.programme_code.clone(),
                })?
            }
        };

        // 4. Dates.
        self.check_dates(occurred_at, now, &programme)?;

        // 5. Exit.
        if let Some(exit_event_id) = self.derived.exit_event {
            let retracts_exit = matches!(
                &fact,
                JourneyFact::Retracted { retracted_event_id, .. } if *retracted_event_id == exit_event_id
            );
            if !retracts_exit {
                return Err(BeneficiaryError::Exited { exit_event_id });
            }
        }

        // 6. Dependencies.
        self.check_dependencies(&fact, occurred_at, directory)?;

        // 7. Retraction.
        self.check_retraction(&fact)?;

        // 8. Fields.
        check_fields(&fact)?;

        Ok(vec![BeneficiaryEvent {
            event_id,
            occurred_at,
            recorded_by: actor.organisation,
            fact,
        }])
    }

    fn check_access(
        &self,
        actor: &Actor,
        programme: Option<&ProgrammeFacts>,
        fact: &JourneyFact,
    ) -> Result<(), BeneficiaryError> {
        match actor.role {
            Role::Auditor | Role::Dashboard => {
                Err(BeneficiaryError::Forbidden { role: actor.role })
            }
            Role::Admin => Ok(()),
            Role::Partner => {
                // Responsibility first: a caller who may not write for this beneficiary must
                // not learn the beneficiary's programme from a refusal.
                let owner = self.owner();
                if owner.is_some() && !self.is_responsible(&actor.organisation) {
                    return Err(BeneficiaryError::NotResponsible {
                        organisation: actor.organisation.clone(),
                    });
                }
                if let Some(programme) = programme {
                    if !programme.has_partner(&actor.organisation) {
                        return Err(BeneficiaryError::NotProgrammePartner {
                            organisation: actor.organisation.clone(),
                            programme: programme.code.clone(),
                        });
                    }
                }
                match (owner, fact) {
                    (Some(owner), _) if *owner == actor.organisation => Ok(()),
                    (Some(_), JourneyFact::Identified { .. }) => Err(BeneficiaryError::NotOwner {
                        organisation: actor.organisation.clone(),
                    }),
                    (
                        Some(_),
                        JourneyFact::Retracted {
                            retracted_event_id, ..
                        },
                    ) if self
                        .record(*retracted_event_id)
                        .is_some_and(|target| target.recorded_by != actor.organisation) =>
                    {
                        Err(BeneficiaryError::NotRecorder {
                            event_id: *retracted_event_id,
                        })
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    fn check_dates(
        &self,
        occurred_at: DateTime<Utc>,
        now: DateTime<Utc>,
        programme: &ProgrammeFacts,
    ) -> Result<(), BeneficiaryError> {
        not_leap_second(occurred_at).map_err(BeneficiaryError::invalid("occurredAt"))?;
        if occurred_at > now + MAX_CLOCK_SKEW {
            return Err(BeneficiaryError::DatedInFuture { occurred_at, now });
        }
        let date = occurred_at.date_naive();
        if date < programme.start_date {
            return Err(BeneficiaryError::DatedBeforeProgrammeStart {
                date,
                programme: programme.code.clone(),
                start_date: programme.start_date,
            });
        }
        if let Some(identification) = self.identified() {
            if occurred_at < identification.identified_at {
                return Err(BeneficiaryError::DatedBeforeIdentification {
                    occurred_at,
                    identified_at: identification.identified_at,
                });
            }
        }
        Ok(())
    }

    fn check_dependencies(
        &self,
        fact: &JourneyFact,
        occurred_at: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<(), BeneficiaryError> {
        let d = &self.derived;
        let enrolment = |course: &CourseCode| {
            d.enrolments
                .get(course)
                .copied()
                .ok_or_else(|| BeneficiaryError::NotEnrolled {
                    course: course.clone(),
                })
        };
        match fact {
            JourneyFact::TrainingEnrolled { course_code, .. }
                if d.enrolments.contains_key(course_code) =>
            {
                Err(BeneficiaryError::AlreadyEnrolled {
                    course: course_code.clone(),
                })
            }
            JourneyFact::WorkshopAttended {
                course_code,
                session_number,
            } => {
                let planned = enrolment(course_code)?;
                if (1..=planned).contains(session_number) {
                    Ok(())
                } else {
                    Err(BeneficiaryError::SessionOutOfRange {
                        course: course_code.clone(),
                        session: *session_number,
                        planned,
                    })
                }
            }
            JourneyFact::TrainingCompleted { course_code, .. }
            | JourneyFact::TrainingDropped { course_code, .. } => {
                enrolment(course_code)?;
                if d.closed_courses.contains(course_code) {
                    Err(BeneficiaryError::CourseClosed {
                        course: course_code.clone(),
                    })
                } else {
                    Ok(())
                }
            }
            JourneyFact::BusinessLaunched { .. } if !d.incubated => {
                Err(BeneficiaryError::NotIncubated)
            }
            JourneyFact::FollowedUp { .. } => {
                let inserted = d.milestones.inserted.ok_or(BeneficiaryError::NotInserted)?;
                let date = occurred_at.date_naive();
                if date < inserted {
                    Err(BeneficiaryError::FollowUpBeforeInsertion { date, inserted })
                } else {
                    Ok(())
                }
            }
            JourneyFact::EmploymentEnded { .. } if d.employments <= d.employment_ends => {
                Err(BeneficiaryError::NotEmployed)
            }
            JourneyFact::Referred {
                organisation_code: Some(organisation),
                ..
            } if !directory.organisation_exists(organisation) => {
                Err(BeneficiaryError::UnknownOrganisation {
                    organisation: organisation.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    fn check_retraction(&self, fact: &JourneyFact) -> Result<(), BeneficiaryError> {
        let JourneyFact::Retracted {
            retracted_event_id, ..
        } = fact
        else {
            return Ok(());
        };
        let event_id = *retracted_event_id;
        let target = self
            .record(event_id)
            .ok_or(BeneficiaryError::RetractedEventNotFound { event_id })?;
        if target.is_retracted() {
            return Err(BeneficiaryError::AlreadyRetracted { event_id });
        }
        if matches!(
            target.fact,
            JourneyFact::Retracted { .. } | JourneyFact::PersonalDataErased { .. }
        ) {
            return Err(BeneficiaryError::NotRetractable {
                event_id,
                event_type: target.fact.type_name(),
            });
        }
        Ok(())
    }

    fn decide_erasure(
        &self,
        command: ErasePersonalData,
    ) -> Result<Vec<BeneficiaryEvent>, BeneficiaryError> {
        let ErasePersonalData {
            event_id,
            actor,
            now,
            reason,
            beneficiary_id: _,
        } = command;
        if self.sequence_of(event_id).is_some() {
            return Ok(Vec::new());
        }
        if !actor.role.may_write() {
            return Err(BeneficiaryError::Forbidden { role: actor.role });
        }
        // A retracted identification still holds its ciphertext in the log: it can be erased
        // too, by the record's owner, which a retraction does not change.
        let owner = self.owner().ok_or(BeneficiaryError::NotIdentified)?;
        // Once DATA_PROCESSING consent is withdrawn, any organisation responsible for the
        // beneficiary (identifying or referred) may complete the erasure it calls for.
        if actor.role == Role::Partner
            && actor.organisation != *owner
            && !(self.withdrew_data_processing() && self.is_responsible(&actor.organisation))
        {
            return Err(BeneficiaryError::MayNotErase {
                organisation: actor.organisation,
            });
        }
        let reason = trim_text(reason);
        required_text(&reason, MAX_TEXT_CHARS).map_err(BeneficiaryError::invalid("reason"))?;
        if self.personal_data_erased() {
            // Already erased: nothing more to destroy.
            return Ok(Vec::new());
        }
        Ok(vec![BeneficiaryEvent {
            event_id,
            occurred_at: now,
            recorded_by: actor.organisation,
            fact: JourneyFact::PersonalDataErased { reason },
        }])
    }
}

fn check_identification(
    fact: &JourneyFact,
    programme: &ProgrammeFacts,
    now: DateTime<Utc>,
) -> Result<(), BeneficiaryError> {
    let JourneyFact::Identified {
        region,
        birth_year,
        consent,
        personal_data,
        ..
    } = fact
    else {
        return Ok(());
    };
    if !programme.has_region(region) {
        return Err(BeneficiaryError::RegionNotInProgramme {
            region: region.clone(),
            programme: programme.code.clone(),
        });
    }
    if let Some(birth_year) = *birth_year {
        let latest = now.year();
        if !(MIN_BIRTH_YEAR..=latest).contains(&birth_year) {
            return Err(BeneficiaryError::BirthYearOutOfRange { birth_year, latest });
        }
    }
    if personal_data.is_some() && !consent.contains(&ConsentScope::DataProcessing) {
        return Err(BeneficiaryError::PersonalDataWithoutConsent);
    }
    Ok(())
}

fn check_fields(fact: &JourneyFact) -> Result<(), BeneficiaryError> {
    let required = |field: &'static str, value: &str, max: usize| {
        required_text(value, max).map_err(BeneficiaryError::invalid(field))
    };
    let optional = |field: &'static str, value: &Option<String>, max: usize| {
        optional_text(value.as_deref(), max).map_err(BeneficiaryError::invalid(field))
    };
    match fact {
        JourneyFact::Identified {
            city,
            education_level,
            personal_data,
            ..
        } => {
            optional("city", city, MAX_NAME_CHARS)?;
            optional("educationLevel", education_level, MAX_NAME_CHARS)?;
            if let Some(data) = personal_data {
                required("personalData", &data.nonce, MAX_NAME_CHARS)?;
                required("personalData", &data.ciphertext, MAX_CIPHERTEXT_CHARS)?;
            }
        }
        JourneyFact::ConsentGiven { scopes } | JourneyFact::ConsentWithdrawn { scopes } => {
            if scopes.is_empty() {
                return Err(BeneficiaryError::Invalid {
                    field: "scopes",
                    problem: ValueError::EmptyList,
                });
            }
        }
        JourneyFact::Sensitised {
            topic,
            session_id,
            location,
        } => {
            required("topic", topic, MAX_TEXT_CHARS)?;
            optional("sessionId", session_id, MAX_NAME_CHARS)?;
            optional("location", location, MAX_NAME_CHARS)?;
        }
        JourneyFact::SkillsAssessed {
            skills,
            languages,
            notes,
        } => {
            text_list(skills, MAX_LIST_ITEMS, MAX_NAME_CHARS)
                .map_err(BeneficiaryError::invalid("skills"))?;
            text_list(languages, MAX_LIST_ITEMS, MAX_NAME_CHARS)
                .map_err(BeneficiaryError::invalid("languages"))?;
            optional("notes", notes, MAX_TEXT_CHARS)?;
        }
        JourneyFact::Referred { note, .. } => optional("note", note, MAX_TEXT_CHARS)?,
        JourneyFact::TrainingEnrolled {
            course_name,
            planned_sessions,
            ..
        } => {
            required("courseName", course_name, MAX_NAME_CHARS)?;
            if !(1..=MAX_PLANNED_SESSIONS).contains(planned_sessions) {
                return Err(BeneficiaryError::Invalid {
                    field: "plannedSessions",
                    problem: ValueError::OutOfRange {
                        value: i64::from(*planned_sessions),
                        min: 1,
                        max: i64::from(MAX_PLANNED_SESSIONS),
                    },
                });
            }
        }
        JourneyFact::TrainingDropped { reason, .. }
        | JourneyFact::EmploymentEnded { reason }
        | JourneyFact::Retracted { reason, .. }
        | JourneyFact::PersonalDataErased { reason } => {
            required("reason", reason, MAX_TEXT_CHARS)?;
        }
        JourneyFact::IncubationStarted {
            venture_name,
            sector,
            incubator,
            ..
        } => {
            required("ventureName", venture_name, MAX_NAME_CHARS)?;
            required("sector", sector, MAX_NAME_CHARS)?;
            optional("incubator", incubator, MAX_NAME_CHARS)?;
        }
        JourneyFact::BusinessLaunched { venture_name, .. } => {
            required("ventureName", venture_name, MAX_NAME_CHARS)?;
        }
        JourneyFact::Employed {
            employer_name,
            sector,
            ..
        } => {
            required("employerName", employer_name, MAX_NAME_CHARS)?;
            required("sector", sector, MAX_NAME_CHARS)?;
        }
        JourneyFact::FollowedUp { notes, .. } | JourneyFact::Exited { notes, .. } => {
            optional("notes", notes, MAX_TEXT_CHARS)?;
        }
        JourneyFact::WorkshopAttended { .. } | JourneyFact::TrainingCompleted { .. } => {}
    }
    Ok(())
}

impl Aggregate for Beneficiary {
    const TYPE: &'static str = "Beneficiary";
    type Command = BeneficiaryCommand;
    type Event = BeneficiaryEvent;
    type Error = BeneficiaryError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command, services)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.push_record(event);
        self.derived = Derived::from_journey(&self.journey);
    }
}

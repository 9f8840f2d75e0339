//! Why a beneficiary command is refused: one variant per journey rule.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error_code::ErrorCode;
use crate::ids::{CourseCode, EventId, OrganisationCode, ProgrammeCode, RegionCode};
use crate::values::{Role, ValueError};

/// A refused beneficiary command. Each variant is one rule; [`BeneficiaryError::code`] and
/// [`BeneficiaryError::field`] map it to the contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BeneficiaryError {
    /// The role may not write (AUDITOR, DASHBOARD).
    #[error("a {role} token may not record journey events: use a PARTNER or ADMIN token")]
    Forbidden {
        /// The actor's role.
        role: Role,
    },
    /// The partner is not a partner of the beneficiary's programme.
    #[error(
        "organisation {organisation} is not a partner of programme {programme}: ask an \
         administrator to add it to the programme's partners"
    )]
    NotProgrammePartner {
        /// The actor's organisation.
        organisation: OrganisationCode,
        /// The beneficiary's programme.
        programme: ProgrammeCode,
    },
    /// The partner neither identified the beneficiary nor was referred them. The message
    /// names no other organisation and no programme: the caller may not even know that the
    /// beneficiary exists.
    #[error(
        "organisation {organisation} may not record events for this beneficiary: only the \
         organisation that identified them, or an organisation it referred them to, may"
    )]
    NotResponsible {
        /// The actor's organisation.
        organisation: OrganisationCode,
    },
    /// A partner other than the one that identified the beneficiary records an
    /// identification for them: the stream belongs for ever to the organisation whose
    /// `Identified` event opened it, even once that event is retracted.
    #[error(
        "organisation {organisation} may not identify this beneficiary: only the organisation \
         that identified them first, or an administrator, may record their identification"
    )]
    NotOwner {
        /// The actor's organisation.
        organisation: OrganisationCode,
    },
    /// An organisation the beneficiary was referred to retracts an event another
    /// organisation recorded.
    #[error(
        "event {event_id} was recorded by another organisation: an organisation the \
         beneficiary was referred to may retract only the events it recorded itself"
    )]
    NotRecorder {
        /// The event named.
        event_id: EventId,
    },
    /// A partner that did not identify the beneficiary asks to erase their personal data
    /// (and the beneficiary did not withdraw consent to data processing through it).
    #[error(
        "organisation {organisation} may not erase this beneficiary's personal data: only the \
         organisation that identified them, or an administrator, may"
    )]
    MayNotErase {
        /// The actor's organisation.
        organisation: OrganisationCode,
    },
    /// `PersonalDataErased` submitted as a journey event.
    #[error(
        "personal data is erased with the erasePersonalData operation, not as a journey event"
    )]
    ErasureNotAJourneyEvent,
    /// Any event but `Identified` on a stream without identification.
    #[error("this beneficiary has not been identified: record an Identified event first")]
    NotIdentified,
    /// `Identified` on an identified stream.
    #[error(
        "this beneficiary is already identified: to correct the identification, retract it \
         first, or use a new beneficiary id for a different person"
    )]
    AlreadyIdentified,
    /// The programme is not registered.
    #[error("programme {programme} is not registered: check the programme code")]
    UnknownProgramme {
        /// The programme named.
        programme: ProgrammeCode,
    },
    /// The region is not one of the programme's.
    #[error(
        "region {region} is not one of programme {programme}'s regions: choose one of the \
         programme's regions"
    )]
    RegionNotInProgramme {
        /// The region given.
        region: RegionCode,
        /// The programme.
        programme: ProgrammeCode,
    },
    /// Birth year before 1900 or after the current year.
    #[error(
        "birth year {birth_year} is not plausible: give a year from 1900 to {latest}, or none"
    )]
    BirthYearOutOfRange {
        /// The year given.
        birth_year: i32,
        /// The current year.
        latest: i32,
    },
    /// Personal data without `DATA_PROCESSING` consent.
    #[error(
        "personal data may only be recorded with DATA_PROCESSING consent: record the consent or \
         leave the personal data out"
    )]
    PersonalDataWithoutConsent,
    /// Dated after `now` plus the tolerated clock skew.
    #[error(
        "the event is dated {occurred_at}, in the future (server time {now}): check the \
         device's date and time"
    )]
    DatedInFuture {
        /// The event's date.
        occurred_at: DateTime<Utc>,
        /// The server's clock.
        now: DateTime<Utc>,
    },
    /// Dated before the programme started.
    #[error(
        "the event is dated {date}, before programme {programme} started on {start_date}: \
         check the date"
    )]
    DatedBeforeProgrammeStart {
        /// The event's date.
        date: NaiveDate,
        /// The programme.
        programme: ProgrammeCode,
        /// The programme's start.
        start_date: NaiveDate,
    },
    /// Dated before the beneficiary's identification.
    #[error(
        "the event is dated {occurred_at}, before the beneficiary was identified on \
         {identified_at}: check the date"
    )]
    DatedBeforeIdentification {
        /// The event's date.
        occurred_at: DateTime<Utc>,
        /// When the beneficiary was identified.
        identified_at: DateTime<Utc>,
    },
    /// The beneficiary exited; only a retraction of the exit is accepted.
    #[error(
        "this beneficiary has exited the programme (event {exit_event_id}): retract the exit \
         first if it was a mistake"
    )]
    Exited {
        /// The `Exited` event.
        exit_event_id: EventId,
    },
    /// Attendance, completion or drop-out without an enrolment in the course.
    #[error("beneficiary is not enrolled in course {course}: record a TrainingEnrolled first")]
    NotEnrolled {
        /// The course.
        course: CourseCode,
    },
    /// A second enrolment in the same course.
    #[error("beneficiary is already enrolled in course {course}")]
    AlreadyEnrolled {
        /// The course.
        course: CourseCode,
    },
    /// Completion or drop-out of a course already completed or dropped.
    #[error(
        "course {course} is already completed or dropped for this beneficiary: retract that \
         event first if it was a mistake"
    )]
    CourseClosed {
        /// The course.
        course: CourseCode,
    },
    /// A workshop session outside 1…planned sessions.
    #[error("course {course} has sessions 1 to {planned}: session {session} does not exist")]
    SessionOutOfRange {
        /// The course.
        course: CourseCode,
        /// The session given.
        session: u32,
        /// The course's planned sessions.
        planned: u32,
    },
    /// Business launch without an incubation.
    #[error("beneficiary has no incubation: record an IncubationStarted first")]
    NotIncubated,
    /// Follow-up without an insertion.
    #[error(
        "beneficiary is neither employed nor running a business: record an Employed or \
         BusinessLaunched first"
    )]
    NotInserted,
    /// Follow-up dated before the insertion.
    #[error(
        "a follow-up dated {date} comes before the insertion on {inserted}: date it on or \
         after {inserted}"
    )]
    FollowUpBeforeInsertion {
        /// The follow-up's date.
        date: NaiveDate,
        /// The insertion date.
        inserted: NaiveDate,
    },
    /// Employment end without a current employment.
    #[error("beneficiary has no current employment: record an Employed first")]
    NotEmployed,
    /// Referral to an unregistered organisation.
    #[error(
        "organisation {organisation} is not registered: check the code, or ask an \
         administrator to register it"
    )]
    UnknownOrganisation {
        /// The organisation named.
        organisation: OrganisationCode,
    },
    /// The retracted event is not in this beneficiary's stream.
    #[error("event {event_id} is not an event of this beneficiary: check the event id")]
    RetractedEventNotFound {
        /// The event named.
        event_id: EventId,
    },
    /// The retracted event is already retracted.
    #[error("event {event_id} is already retracted")]
    AlreadyRetracted {
        /// The event named.
        event_id: EventId,
    },
    /// The retracted event is a retraction or an erasure, which cannot be undone.
    #[error("event {event_id} is a {event_type}, which cannot be retracted")]
    NotRetractable {
        /// The event named.
        event_id: EventId,
        /// Its type.
        event_type: &'static str,
    },
    /// An input field is malformed.
    #[error("{field}: {problem}")]
    Invalid {
        /// The contract's (camelCase) field name.
        field: &'static str,
        /// What is wrong with it.
        problem: ValueError,
    },
}

impl BeneficiaryError {
    /// The contract's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            BeneficiaryError::Forbidden { .. }
            | BeneficiaryError::NotProgrammePartner { .. }
            | BeneficiaryError::NotResponsible { .. }
            | BeneficiaryError::NotOwner { .. }
            | BeneficiaryError::NotRecorder { .. }
            | BeneficiaryError::MayNotErase { .. } => ErrorCode::Forbidden,
            BeneficiaryError::ErasureNotAJourneyEvent
            | BeneficiaryError::RegionNotInProgramme { .. }
            | BeneficiaryError::BirthYearOutOfRange { .. }
            | BeneficiaryError::PersonalDataWithoutConsent
            | BeneficiaryError::SessionOutOfRange { .. }
            | BeneficiaryError::Invalid { .. } => ErrorCode::Validation,
            BeneficiaryError::NotIdentified => ErrorCode::NotIdentified,
            BeneficiaryError::AlreadyIdentified => ErrorCode::AlreadyIdentified,
            BeneficiaryError::UnknownProgramme { .. } => ErrorCode::UnknownProgramme,
            BeneficiaryError::DatedInFuture { .. } => ErrorCode::DatedInFuture,
            BeneficiaryError::DatedBeforeProgrammeStart { .. }
            | BeneficiaryError::DatedBeforeIdentification { .. } => ErrorCode::DatedBeforeStart,
            BeneficiaryError::Exited { .. } => ErrorCode::Exited,
            BeneficiaryError::NotEnrolled { .. }
            | BeneficiaryError::AlreadyEnrolled { .. }
            | BeneficiaryError::CourseClosed { .. }
            | BeneficiaryError::NotIncubated
            | BeneficiaryError::NotInserted
            | BeneficiaryError::FollowUpBeforeInsertion { .. }
            | BeneficiaryError::NotEmployed
            | BeneficiaryError::AlreadyRetracted { .. }
            | BeneficiaryError::NotRetractable { .. } => ErrorCode::InvalidTransition,
            BeneficiaryError::UnknownOrganisation { .. } => ErrorCode::UnknownOrganisation,
            BeneficiaryError::RetractedEventNotFound { .. } => ErrorCode::NotFound,
        }
    }

    /// The contract's (camelCase) input field at fault, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            BeneficiaryError::ErasureNotAJourneyEvent => Some("event"),
            BeneficiaryError::UnknownProgramme { .. } => Some("programmeCode"),
            BeneficiaryError::RegionNotInProgramme { .. } => Some("region"),
            BeneficiaryError::BirthYearOutOfRange { .. } => Some("birthYear"),
            BeneficiaryError::PersonalDataWithoutConsent => Some("personalData"),
            BeneficiaryError::DatedInFuture { .. }
            | BeneficiaryError::DatedBeforeProgrammeStart { .. }
            | BeneficiaryError::DatedBeforeIdentification { .. }
            | BeneficiaryError::FollowUpBeforeInsertion { .. } => Some("occurredAt"),
            BeneficiaryError::NotEnrolled { .. }
            | BeneficiaryError::AlreadyEnrolled { .. }
            | BeneficiaryError::CourseClosed { .. } => Some("courseCode"),
            BeneficiaryError::SessionOutOfRange { .. } => Some("sessionNumber"),
            BeneficiaryError::UnknownOrganisation { .. } => Some("organisationCode"),
            BeneficiaryError::RetractedEventNotFound { .. }
            | BeneficiaryError::NotRecorder { .. }
            | BeneficiaryError::AlreadyRetracted { .. }
            | BeneficiaryError::NotRetractable { .. } => Some("retractedEventId"),
            BeneficiaryError::Invalid { field, .. } => Some(field),
            BeneficiaryError::Forbidden { .. }
            | BeneficiaryError::NotProgrammePartner { .. }
            | BeneficiaryError::NotResponsible { .. }
            | BeneficiaryError::NotOwner { .. }
            | BeneficiaryError::MayNotErase { .. }
            | BeneficiaryError::NotIdentified
            | BeneficiaryError::AlreadyIdentified
            | BeneficiaryError::Exited { .. }
            | BeneficiaryError::NotIncubated
            | BeneficiaryError::NotInserted
            | BeneficiaryError::NotEmployed => None,
        }
    }

    pub(crate) fn invalid(field: &'static str) -> impl Fn(ValueError) -> BeneficiaryError {
        move |problem| BeneficiaryError::Invalid { field, problem }
    }
}

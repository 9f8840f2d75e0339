//! The beneficiary stream's events: one [`BeneficiaryEvent`] envelope around a
//! [`JourneyFact`].

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{CountryCode, CourseCode, EventId, OrganisationCode, ProgrammeCode, RegionCode};
use crate::values::{
    ConsentScope, EmploymentKind, EncryptedPersonalData, ExitReason, LegalStatus, LivingConditions,
    Money, ReferralChannel, ServiceKind, Sex, TrainingKind, VentureKind,
};

/// The version of every beneficiary event's shape; an older shape is read through an upcaster.
pub const BENEFICIARY_EVENT_VERSION: &str = "1.0";

/// An event of a beneficiary's stream: what happened, when, and who recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeneficiaryEvent {
    /// The client's idempotency key.
    pub event_id: EventId,
    /// When it happened (the client's word).
    pub occurred_at: DateTime<Utc>,
    /// The organisation that recorded it.
    pub recorded_by: OrganisationCode,
    /// What happened.
    pub fact: JourneyFact,
}

impl DomainEvent for BeneficiaryEvent {
    fn event_type(&self) -> String {
        self.fact.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        BENEFICIARY_EVENT_VERSION.to_owned()
    }
}

/// A step of a beneficiary's pathway. Past-tense facts carrying everything projections need;
/// every number is an integer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JourneyFact {
    /// The beneficiary was identified by a partner: the first event of every stream.
    Identified {
        /// The programme the beneficiary joins.
        programme_code: ProgrammeCode,
        /// Sex.
        sex: Sex,
        /// Year of birth, if known.
        birth_year: Option<i32>,
        /// Nationality.
        nationality: CountryCode,
        /// Legal status in Morocco.
        legal_status: LegalStatus,
        /// One of the programme's regions.
        region: RegionCode,
        /// City, if given.
        city: Option<String>,
        /// How the beneficiary came to the programme.
        channel: ReferralChannel,
        /// Whether the household has children, if asked.
        household_with_children: Option<bool>,
        /// Education level, if given.
        education_level: Option<String>,
        /// Consent given at identification.
        consent: BTreeSet<ConsentScope>,
        /// Encrypted personal data (needs `DATA_PROCESSING` consent).
        personal_data: Option<EncryptedPersonalData>,
    },
    /// Consent was given for more scopes.
    ConsentGiven {
        /// The scopes (at least one).
        scopes: BTreeSet<ConsentScope>,
    },
    /// Consent was withdrawn for some scopes.
    ConsentWithdrawn {
        /// The scopes (at least one).
        scopes: BTreeSet<ConsentScope>,
    },
    /// Took part in a sensitisation session.
    Sensitised {
        /// What the session was about.
        topic: String,
        /// The session, if the partner tracks sessions.
        session_id: Option<String>,
        /// Where it took place.
        location: Option<String>,
    },
    /// Skills were assessed.
    SkillsAssessed {
        /// Skills found.
        skills: Vec<String>,
        /// Languages spoken.
        languages: Vec<String>,
        /// Notes.
        notes: Option<String>,
    },
    /// Referred to a service, possibly a registered organisation (which then gains access).
    Referred {
        /// The kind of service.
        service: ServiceKind,
        /// The registered organisation referred to, if any.
        organisation_code: Option<OrganisationCode>,
        /// Note.
        note: Option<String>,
    },
    /// Enrolled in a training course.
    TrainingEnrolled {
        /// The course.
        course_code: CourseCode,
        /// The course's name.
        course_name: String,
        /// Kind of training.
        kind: TrainingKind,
        /// Number of workshop sessions planned (1 to 1000).
        planned_sessions: u32,
    },
    /// Attended one workshop session of a course.
    WorkshopAttended {
        /// The course.
        course_code: CourseCode,
        /// The session, from 1 to the course's planned sessions.
        session_number: u32,
    },
    /// Completed a course.
    TrainingCompleted {
        /// The course.
        course_code: CourseCode,
        /// Whether a certificate was obtained.
        certified: bool,
    },
    /// Dropped out of a course.
    TrainingDropped {
        /// The course.
        course_code: CourseCode,
        /// Why.
        reason: String,
    },
    /// Started the incubation of a venture.
    IncubationStarted {
        /// The venture's name.
        venture_name: String,
        /// Kind of venture.
        kind: VentureKind,
        /// Economic sector.
        sector: String,
        /// The incubator, if any.
        incubator: Option<String>,
    },
    /// Launched a business.
    BusinessLaunched {
        /// The venture's name.
        venture_name: String,
        /// Whether it is formally registered.
        registered: bool,
        /// Grant received, if any.
        grant_amount: Option<Money>,
    },
    /// Started a job, self-employment or internship.
    Employed {
        /// Kind of employment.
        kind: EmploymentKind,
        /// The employer.
        employer_name: String,
        /// Whether the employer holds the CGEM RSE label.
        employer_rse_labelled: bool,
        /// Economic sector.
        sector: String,
        /// Monthly income, if known.
        monthly_income: Option<Money>,
    },
    /// An employment ended.
    EmploymentEnded {
        /// Why.
        reason: String,
    },
    /// Followed up after insertion.
    FollowedUp {
        /// Whether still employed or running the business.
        still_in_activity: bool,
        /// Living conditions compared with before.
        living_conditions: LivingConditions,
        /// Monthly income, if known.
        monthly_income: Option<Money>,
        /// Notes.
        notes: Option<String>,
    },
    /// Left the programme.
    Exited {
        /// Why.
        reason: ExitReason,
        /// Notes.
        notes: Option<String>,
    },
    /// An earlier event of this stream was a mistake: it counts for nothing from now on.
    Retracted {
        /// The event retracted.
        retracted_event_id: EventId,
        /// Why.
        reason: String,
    },
    /// The beneficiary's personal data key was destroyed (only from the erase command).
    PersonalDataErased {
        /// Why.
        reason: String,
    },
}

impl JourneyFact {
    /// Every event type name, in the order of the variants.
    pub const TYPE_NAMES: [&'static str; 18] = [
        "Identified",
        "ConsentGiven",
        "ConsentWithdrawn",
        "Sensitised",
        "SkillsAssessed",
        "Referred",
        "TrainingEnrolled",
        "WorkshopAttended",
        "TrainingCompleted",
        "TrainingDropped",
        "IncubationStarted",
        "BusinessLaunched",
        "Employed",
        "EmploymentEnded",
        "FollowedUp",
        "Exited",
        "Retracted",
        "PersonalDataErased",
    ];

    /// The event type name, e.g. `TrainingEnrolled` (also the serde tag).
    pub fn type_name(&self) -> &'static str {
        match self {
            JourneyFact::Identified { .. } => "Identified",
            JourneyFact::ConsentGiven { .. } => "ConsentGiven",
            JourneyFact::ConsentWithdrawn { .. } => "ConsentWithdrawn",
            JourneyFact::Sensitised { .. } => "Sensitised",
            JourneyFact::SkillsAssessed { .. } => "SkillsAssessed",
            JourneyFact::Referred { .. } => "Referred",
            JourneyFact::TrainingEnrolled { .. } => "TrainingEnrolled",
            JourneyFact::WorkshopAttended { .. } => "WorkshopAttended",
            JourneyFact::TrainingCompleted { .. } => "TrainingCompleted",
            JourneyFact::TrainingDropped { .. } => "TrainingDropped",
            JourneyFact::IncubationStarted { .. } => "IncubationStarted",
            JourneyFact::BusinessLaunched { .. } => "BusinessLaunched",
            JourneyFact::Employed { .. } => "Employed",
            JourneyFact::EmploymentEnded { .. } => "EmploymentEnded",
            JourneyFact::FollowedUp { .. } => "FollowedUp",
            JourneyFact::Exited { .. } => "Exited",
            JourneyFact::Retracted { .. } => "Retracted",
            JourneyFact::PersonalDataErased { .. } => "PersonalDataErased",
        }
    }

    /// The course a training fact is about.
    pub fn course_code(&self) -> Option<&CourseCode> {
        match self {
            JourneyFact::TrainingEnrolled { course_code, .. }
            | JourneyFact::WorkshopAttended { course_code, .. }
            | JourneyFact::TrainingCompleted { course_code, .. }
            | JourneyFact::TrainingDropped { course_code, .. } => Some(course_code),
            _ => None,
        }
    }

    /// The same fact with every free text trimmed and empty optional texts as `None`.
    pub fn normalised(self) -> JourneyFact {
        use crate::values::{trim_optional_text as opt, trim_text as req};
        match self {
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
            } => JourneyFact::Identified {
                programme_code,
                sex,
                birth_year,
                nationality,
                legal_status,
                region,
                city: opt(city),
                channel,
                household_with_children,
                education_level: opt(education_level),
                consent,
                personal_data,
            },
            JourneyFact::Sensitised {
                topic,
                session_id,
                location,
            } => JourneyFact::Sensitised {
                topic: req(topic),
                session_id: opt(session_id),
                location: opt(location),
            },
            JourneyFact::SkillsAssessed {
                skills,
                languages,
                notes,
            } => JourneyFact::SkillsAssessed {
                skills: skills.into_iter().map(req).collect(),
                languages: languages.into_iter().map(req).collect(),
                notes: opt(notes),
            },
            JourneyFact::Referred {
                service,
                organisation_code,
                note,
            } => JourneyFact::Referred {
                service,
                organisation_code,
                note: opt(note),
            },
            JourneyFact::TrainingEnrolled {
                course_code,
                course_name,
                kind,
                planned_sessions,
            } => JourneyFact::TrainingEnrolled {
                course_code,
                course_name: req(course_name),
                kind,
                planned_sessions,
            },
            JourneyFact::TrainingDropped {
                course_code,
                reason,
            } => JourneyFact::TrainingDropped {
                course_code,
                reason: req(reason),
            },
            JourneyFact::IncubationStarted {
                venture_name,
                kind,
                sector,
                incubator,
            } => JourneyFact::IncubationStarted {
                venture_name: req(venture_name),
                kind,
                sector: req(sector),
                incubator: opt(incubator),
            },
            JourneyFact::BusinessLaunched {
                venture_name,
                registered,
                grant_amount,
            } => JourneyFact::BusinessLaunched {
                venture_name: req(venture_name),
                registered,
                grant_amount,
            },
            JourneyFact::Employed {
                kind,
                employer_name,
                employer_rse_labelled,
                sector,
                monthly_income,
            } => JourneyFact::Employed {
                kind,
                employer_name: req(employer_name),
                employer_rse_labelled,
                sector: req(sector),
                monthly_income,
            },
            JourneyFact::EmploymentEnded { reason } => JourneyFact::EmploymentEnded {
                reason: req(reason),
            },
            JourneyFact::FollowedUp {
                still_in_activity,
                living_conditions,
                monthly_income,
                notes,
            } => JourneyFact::FollowedUp {
                still_in_activity,
                living_conditions,
                monthly_income,
                notes: opt(notes),
            },
            JourneyFact::Exited { reason, notes } => JourneyFact::Exited {
                reason,
                notes: opt(notes),
            },
            JourneyFact::Retracted {
                retracted_event_id,
                reason,
            } => JourneyFact::Retracted {
                retracted_event_id,
                reason: req(reason),
            },
            JourneyFact::PersonalDataErased { reason } => JourneyFact::PersonalDataErased {
                reason: req(reason),
            },
            fact @ (JourneyFact::ConsentGiven { .. }
            | JourneyFact::ConsentWithdrawn { .. }
            | JourneyFact::WorkshopAttended { .. }
            | JourneyFact::TrainingCompleted { .. }) => fact,
        }
    }
}

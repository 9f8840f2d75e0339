//! The contract's input types, and their parsing into domain values.
//!
//! Parsing checks shapes only (codes, amounts, whole numbers, personal data lengths); every
//! rule stays in the domain. A value that does not parse is a VALIDATION error naming the
//! input field, in the contract's spelling.

use std::collections::BTreeSet;

use async_graphql::{InputObject, OneofObject};
use masar_domain::beneficiary::{JourneyFact, MAX_PLANNED_SESSIONS};
use masar_domain::ids::{
    BeneficiaryId, CountryCode, CourseCode, EventId, OrganisationCode, ProgrammeCode, RegionCode,
};
use masar_domain::programme::ProgrammeActivity;
use masar_domain::values::{self, Money, ValueError};

use super::enums::{
    ConsentScope, EmploymentKind, ExitReason, LegalStatus, LivingConditions, ReferralChannel,
    ServiceKind, Sex, TrainingKind, VentureKind,
};
use super::error::ApiError;
use super::scalars::{Date, DateTime, Uuid};
use crate::privacy::PersonalData;

/// Parses a validated code, blaming `field` when it does not parse.
pub fn parse_code<T>(field: &str, value: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr<Err = ValueError>,
{
    value
        .trim()
        .parse::<T>()
        .map_err(|problem| ApiError::invalid(field, &problem))
}

/// Checks a `String` argument that a read passes to PostgreSQL as text (a programme code, a
/// region, a stream id): PostgreSQL refuses NUL in text, and no code or id holds a control
/// character, so one that does is VALIDATION naming `field` — never a database error answered
/// INTERNAL. The one check for every such argument.
pub fn sql_argument<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    match value.chars().enumerate().find(|(_, c)| c.is_control()) {
        Some((index, c)) => Err(ApiError::invalid(
            field,
            &ValueError::ControlCharacter {
                code_point: u32::from(c),
                position: index + 1,
            },
        )),
        None => Ok(value),
    }
}

/// Parses a list of validated codes, blaming `field`.
pub fn parse_codes<T>(field: &str, values: &[String]) -> Result<Vec<T>, ApiError>
where
    T: std::str::FromStr<Err = ValueError>,
{
    values
        .iter()
        .map(|value| parse_code(field, value))
        .collect()
}

fn amount(field: &str, mad: Option<f64>) -> Result<Option<Money>, ApiError> {
    mad.map(|mad| Money::from_mad(mad).map_err(|problem| ApiError::invalid(field, &problem)))
        .transpose()
}

/// A count the domain bounds: only its sign is checked here.
fn count(field: &str, value: i32) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| {
        ApiError::invalid(
            field,
            &ValueError::OutOfRange {
                value: i64::from(value),
                min: 1,
                max: i64::from(MAX_PLANNED_SESSIONS),
            },
        )
    })
}

fn scopes(scopes: &[ConsentScope]) -> BTreeSet<values::ConsentScope> {
    scopes.iter().map(|scope| (*scope).into()).collect()
}

/// registerOrganisation's input.
#[derive(InputObject, Debug, Clone)]
pub struct RegisterOrganisationInput {
    /// 2 to 32 capital letters, digits, '-' or '_'.
    pub code: String,
    /// Its name.
    pub name: String,
    /// What kind of organisation it is (NGO, public agency…).
    pub kind: Option<String>,
}

/// registerProgramme's input.
#[derive(InputObject, Debug, Clone)]
pub struct RegisterProgrammeInput {
    /// 2 to 32 capital letters, digits, '-' or '_'.
    pub code: String,
    /// Its name.
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// ISO 3166-2 subdivision codes of that country.
    pub regions: Vec<String>,
    /// No journey event may be dated before it.
    pub start_date: Date,
    /// Planned end.
    pub end_date: Option<Date>,
    /// Donors.
    #[graphql(default)]
    pub donors: Vec<String>,
    /// The registered organisations that record journeys in it.
    pub partner_codes: Vec<String>,
    /// A description.
    pub description: Option<String>,
}

/// One journey event submitted by a partner.
#[derive(InputObject, Debug, Clone)]
pub struct JourneyEventSubmission {
    /// Client-generated; the idempotency key.
    pub event_id: Uuid,
    /// Client-generated at identification.
    pub beneficiary_id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime,
    /// What happened.
    pub event: JourneyEventInput,
}

/// A submission parsed into domain values; personal data still in clear, to be sealed.
pub struct ParsedSubmission {
    /// The idempotency key.
    pub event_id: EventId,
    /// The beneficiary.
    pub beneficiary_id: BeneficiaryId,
    /// When it happened.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// What happened (an `Identified` without its personal data yet).
    pub fact: JourneyFact,
    /// Personal data to seal into the `Identified` fact.
    pub personal_data: Option<PersonalData>,
}

impl JourneyEventSubmission {
    /// The submission's event id (for a rejection of an item that does not parse).
    pub fn event_id(&self) -> EventId {
        EventId::new(self.event_id.0)
    }

    /// Parses the submission into domain values.
    pub fn parse(self) -> Result<ParsedSubmission, ApiError> {
        let (fact, personal_data) = self.event.parse()?;
        Ok(ParsedSubmission {
            event_id: EventId::new(self.event_id.0),
            beneficiary_id: BeneficiaryId::new(self.beneficiary_id.0),
            occurred_at: self.occurred_at.0,
            fact,
            personal_data,
        })
    }
}

/// Exactly one field must be set.
#[derive(OneofObject, Debug, Clone)]
pub enum JourneyEventInput {
    /// The beneficiary was identified: the first event of every stream.
    Identified(IdentifiedInput),
    /// Consent was given for more scopes.
    ConsentGiven(ConsentInput),
    /// Consent was withdrawn for some scopes.
    ConsentWithdrawn(ConsentInput),
    /// Took part in a sensitisation session.
    Sensitised(SensitisedInput),
    /// Skills were assessed.
    SkillsAssessed(SkillsAssessedInput),
    /// Referred to a service.
    Referred(ReferredInput),
    /// Enrolled in a training course.
    TrainingEnrolled(TrainingEnrolledInput),
    /// Attended one workshop session.
    WorkshopAttended(WorkshopAttendedInput),
    /// Completed a course.
    TrainingCompleted(TrainingCompletedInput),
    /// Dropped out of a course.
    TrainingDropped(TrainingDroppedInput),
    /// Started an incubation.
    IncubationStarted(IncubationStartedInput),
    /// Launched a business.
    BusinessLaunched(BusinessLaunchedInput),
    /// Started a job, self-employment or internship.
    Employed(EmployedInput),
    /// An employment ended.
    EmploymentEnded(EmploymentEndedInput),
    /// Followed up after insertion.
    FollowedUp(FollowedUpInput),
    /// Left the programme.
    Exited(ExitedInput),
    /// An earlier event was a mistake.
    Retracted(RetractedInput),
}

impl JourneyEventInput {
    /// The fact, and the personal data of an identification.
    fn parse(self) -> Result<(JourneyFact, Option<PersonalData>), ApiError> {
        let fact = match self {
            JourneyEventInput::Identified(input) => return input.parse(),
            JourneyEventInput::ConsentGiven(input) => JourneyFact::ConsentGiven {
                scopes: scopes(&input.scopes),
            },
            JourneyEventInput::ConsentWithdrawn(input) => JourneyFact::ConsentWithdrawn {
                scopes: scopes(&input.scopes),
            },
            JourneyEventInput::Sensitised(input) => JourneyFact::Sensitised {
                topic: input.topic,
                session_id: input.session_id,
                location: input.location,
            },
            JourneyEventInput::SkillsAssessed(input) => JourneyFact::SkillsAssessed {
                skills: input.skills,
                languages: input.languages.unwrap_or_default(),
                notes: input.notes,
            },
            JourneyEventInput::Referred(input) => JourneyFact::Referred {
                service: input.service.into(),
                organisation_code: input
                    .organisation_code
                    .as_deref()
                    .map(|code| parse_code::<OrganisationCode>("organisationCode", code))
                    .transpose()?,
                note: input.note,
            },
            JourneyEventInput::TrainingEnrolled(input) => JourneyFact::TrainingEnrolled {
                course_code: parse_code::<CourseCode>("courseCode", &input.course_code)?,
                course_name: input.course_name,
                kind: input.kind.into(),
                planned_sessions: count("plannedSessions", input.planned_sessions)?,
            },
            JourneyEventInput::WorkshopAttended(input) => JourneyFact::WorkshopAttended {
                course_code: parse_code::<CourseCode>("courseCode", &input.course_code)?,
                session_number: count("sessionNumber", input.session_number)?,
            },
            JourneyEventInput::TrainingCompleted(input) => JourneyFact::TrainingCompleted {
                course_code: parse_code::<CourseCode>("courseCode", &input.course_code)?,
                certified: input.certified,
            },
            JourneyEventInput::TrainingDropped(input) => JourneyFact::TrainingDropped {
                course_code: parse_code::<CourseCode>("courseCode", &input.course_code)?,
                reason: input.reason,
            },
            JourneyEventInput::IncubationStarted(input) => JourneyFact::IncubationStarted {
                venture_name: input.venture_name,
                kind: input.kind.into(),
                sector: input.sector,
                incubator: input.incubator,
            },
            JourneyEventInput::BusinessLaunched(input) => JourneyFact::BusinessLaunched {
                venture_name: input.venture_name,
                registered: input.registered,
                grant_amount: amount("grantAmountMad", input.grant_amount_mad)?,
            },
            JourneyEventInput::Employed(input) => JourneyFact::Employed {
                kind: input.kind.into(),
                employer_name: input.employer_name,
                employer_rse_labelled: input.employer_rse_labelled,
                sector: input.sector,
                monthly_income: amount("monthlyIncomeMad", input.monthly_income_mad)?,
            },
            JourneyEventInput::EmploymentEnded(input) => JourneyFact::EmploymentEnded {
                reason: input.reason,
            },
            JourneyEventInput::FollowedUp(input) => JourneyFact::FollowedUp {
                still_in_activity: input.still_in_activity,
                living_conditions: input.living_conditions.into(),
                monthly_income: amount("monthlyIncomeMad", input.monthly_income_mad)?,
                notes: input.notes,
            },
            JourneyEventInput::Exited(input) => JourneyFact::Exited {
                reason: input.reason.into(),
                notes: input.notes,
            },
            JourneyEventInput::Retracted(input) => JourneyFact::Retracted {
                retracted_event_id: EventId::new(input.retracted_event_id.0),
                reason: input.reason,
            },
        };
        Ok((fact, None))
    }
}

/// The identification of a beneficiary.
#[derive(InputObject, Debug, Clone)]
pub struct IdentifiedInput {
    /// The programme.
    pub programme_code: String,
    /// Sex.
    pub sex: Sex,
    /// Year of birth, if known.
    pub birth_year: Option<i32>,
    /// ISO 3166-1 alpha-2.
    pub nationality: String,
    /// Legal status.
    pub legal_status: LegalStatus,
    /// ISO 3166-2, one of the programme's regions.
    pub region: String,
    /// City.
    pub city: Option<String>,
    /// How the beneficiary came to the programme.
    pub channel: ReferralChannel,
    /// Whether the household has children.
    pub household_with_children: Option<bool>,
    /// Education level.
    pub education_level: Option<String>,
    /// Consent given at identification; personal data needs DATA_PROCESSING.
    #[graphql(default)]
    pub consent: Vec<ConsentScope>,
    /// Name, phone, document number: encrypted before anything is stored.
    pub personal_data: Option<PersonalDataInput>,
}

impl IdentifiedInput {
    fn parse(self) -> Result<(JourneyFact, Option<PersonalData>), ApiError> {
        let personal_data = match self.personal_data {
            Some(input) => {
                let data = PersonalData::new(input.full_name, input.phone, input.document_number)?;
                (!data.is_empty()).then_some(data)
            }
            None => None,
        };
        let fact = JourneyFact::Identified {
            programme_code: parse_code::<ProgrammeCode>("programmeCode", &self.programme_code)?,
            sex: self.sex.into(),
            birth_year: self.birth_year,
            nationality: parse_code::<CountryCode>("nationality", &self.nationality)?,
            legal_status: self.legal_status.into(),
            region: parse_code::<RegionCode>("region", &self.region)?,
            city: self.city,
            channel: self.channel.into(),
            household_with_children: self.household_with_children,
            education_level: self.education_level,
            consent: scopes(&self.consent),
            personal_data: None,
        };
        Ok((fact, personal_data))
    }
}

/// Personal data in clear, as submitted: never logged, encrypted before it is stored.
#[derive(InputObject, Clone)]
pub struct PersonalDataInput {
    /// Full name.
    pub full_name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Identity document number.
    pub document_number: Option<String>,
}

impl std::fmt::Debug for PersonalDataInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonalDataInput([redacted])")
    }
}

/// Consent scopes.
#[derive(InputObject, Debug, Clone)]
pub struct ConsentInput {
    /// At least one scope.
    pub scopes: Vec<ConsentScope>,
}

/// A sensitisation session.
#[derive(InputObject, Debug, Clone)]
pub struct SensitisedInput {
    /// What it was about.
    pub topic: String,
    /// The session, if tracked.
    pub session_id: Option<String>,
    /// Where.
    pub location: Option<String>,
}

/// A skills assessment.
#[derive(InputObject, Debug, Clone)]
pub struct SkillsAssessedInput {
    /// Skills found.
    pub skills: Vec<String>,
    /// Languages spoken.
    #[graphql(default_with = "Some(Vec::new())")]
    pub languages: Option<Vec<String>>,
    /// Notes.
    pub notes: Option<String>,
}

/// A referral.
#[derive(InputObject, Debug, Clone)]
pub struct ReferredInput {
    /// The kind of service.
    pub service: ServiceKind,
    /// When the service is a registered organisation, it gains access to this beneficiary.
    pub organisation_code: Option<String>,
    /// Note.
    pub note: Option<String>,
}

/// An enrolment in a course.
#[derive(InputObject, Debug, Clone)]
pub struct TrainingEnrolledInput {
    /// The course.
    pub course_code: String,
    /// Its name.
    pub course_name: String,
    /// Kind of training.
    pub kind: TrainingKind,
    /// Workshop sessions planned.
    pub planned_sessions: i32,
}

/// Attendance of one session.
#[derive(InputObject, Debug, Clone)]
pub struct WorkshopAttendedInput {
    /// The course.
    pub course_code: String,
    /// The session, from 1.
    pub session_number: i32,
}

/// Completion of a course.
#[derive(InputObject, Debug, Clone)]
pub struct TrainingCompletedInput {
    /// The course.
    pub course_code: String,
    /// Whether a certificate was obtained.
    pub certified: bool,
}

/// Drop-out from a course.
#[derive(InputObject, Debug, Clone)]
pub struct TrainingDroppedInput {
    /// The course.
    pub course_code: String,
    /// Why.
    pub reason: String,
}

/// Start of an incubation.
#[derive(InputObject, Debug, Clone)]
pub struct IncubationStartedInput {
    /// The venture.
    pub venture_name: String,
    /// Kind of venture.
    pub kind: VentureKind,
    /// Sector.
    pub sector: String,
    /// Incubator.
    pub incubator: Option<String>,
}

/// Launch of a business.
#[derive(InputObject, Debug, Clone)]
pub struct BusinessLaunchedInput {
    /// The venture.
    pub venture_name: String,
    /// Whether formally registered.
    pub registered: bool,
    /// Grant received, in MAD.
    pub grant_amount_mad: Option<f64>,
}

/// An employment.
#[derive(InputObject, Debug, Clone)]
pub struct EmployedInput {
    /// Kind of employment.
    pub kind: EmploymentKind,
    /// The employer.
    pub employer_name: String,
    /// Whether the employer holds the CGEM RSE label.
    pub employer_rse_labelled: bool,
    /// Sector.
    pub sector: String,
    /// Monthly income, in MAD.
    pub monthly_income_mad: Option<f64>,
}

/// End of an employment.
#[derive(InputObject, Debug, Clone)]
pub struct EmploymentEndedInput {
    /// Why.
    pub reason: String,
}

/// A follow-up after insertion.
#[derive(InputObject, Debug, Clone)]
pub struct FollowedUpInput {
    /// Whether still in activity.
    pub still_in_activity: bool,
    /// Living conditions compared with before.
    pub living_conditions: LivingConditions,
    /// Monthly income, in MAD.
    pub monthly_income_mad: Option<f64>,
    /// Notes.
    pub notes: Option<String>,
}

/// An exit from the programme.
#[derive(InputObject, Debug, Clone)]
pub struct ExitedInput {
    /// Why.
    pub reason: ExitReason,
    /// Notes.
    pub notes: Option<String>,
}

/// A retraction.
#[derive(InputObject, Debug, Clone)]
pub struct RetractedInput {
    /// eventId of an earlier event of the same beneficiary.
    pub retracted_event_id: Uuid,
    /// Why.
    pub reason: String,
}

/// A programme-level activity.
#[derive(InputObject, Debug, Clone)]
pub struct ProgrammeActivitySubmission {
    /// Client-generated; the idempotency key.
    pub activity_id: Uuid,
    /// The programme.
    pub programme_code: String,
    /// When it happened.
    pub occurred_at: DateTime,
    /// What happened.
    pub activity: ProgrammeActivityInput,
}

/// Exactly one field must be set.
#[derive(OneofObject, Debug, Clone)]
pub enum ProgrammeActivityInput {
    /// A company was engaged.
    CompanyEngaged(CompanyEngagedInput),
    /// A trainer was trained.
    TrainerTrained(TrainerTrainedInput),
}

impl ProgrammeActivityInput {
    /// The activity in domain terms.
    pub fn parse(self) -> Result<ProgrammeActivity, ApiError> {
        Ok(match self {
            ProgrammeActivityInput::CompanyEngaged(input) => ProgrammeActivity::CompanyEngaged {
                company_name: input.company_name,
                rse_labelled: input.rse_labelled,
            },
            ProgrammeActivityInput::TrainerTrained(input) => ProgrammeActivity::TrainerTrained {
                trainer_name: input.trainer_name,
                organisation_code: parse_code("organisationCode", &input.organisation_code)?,
            },
        })
    }
}

/// A company engaged.
#[derive(InputObject, Debug, Clone)]
pub struct CompanyEngagedInput {
    /// The company.
    pub company_name: String,
    /// Whether it holds the CGEM RSE label.
    pub rse_labelled: bool,
}

/// A trainer trained.
#[derive(InputObject, Debug, Clone)]
pub struct TrainerTrainedInput {
    /// The trainer.
    pub trainer_name: String,
    /// The trainer's registered organisation.
    pub organisation_code: String,
}

/// A period of days; both ends optional.
#[derive(InputObject, Debug, Clone)]
pub struct PeriodInput {
    /// First day.
    pub from: Option<Date>,
    /// Last day.
    pub to: Option<Date>,
}

//! Value types: the contract's enums, money and targets as integers, the acting organisation,
//! encrypted personal data, and the rules for free text.
//!
//! Every type here is validated on construction and on deserialisation, so a value that
//! exists is a valid one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::OrganisationCode;

/// A value that cannot be accepted, with a message a field officer can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Not an organisation code.
    #[error(
        "organisation code {0:?} is not valid: use 2 to 32 capital letters, digits, '-' or '_', \
         e.g. CGLU-AFRIQUE"
    )]
    OrganisationCode(String),
    /// Not a programme code.
    #[error(
        "programme code {0:?} is not valid: use 2 to 32 capital letters, digits, '-' or '_', \
         e.g. IOM-FM0390"
    )]
    ProgrammeCode(String),
    /// Not an ISO 3166-1 alpha-2 country code.
    #[error("country {0:?} is not an ISO 3166-1 alpha-2 code: use two capital letters, e.g. MA")]
    CountryCode(String),
    /// Not an ISO 3166-2 subdivision code.
    #[error(
        "region {0:?} is not an ISO 3166-2 code: use the country code, '-', then 1 to 3 capital \
         letters or digits, e.g. MA-04"
    )]
    RegionCode(String),
    /// Not a course code.
    #[error(
        "course code {0:?} is not valid: use 1 to 64 characters, no control characters, e.g. \
         WELD-01"
    )]
    CourseCode(String),
    /// Not a UUID.
    #[error("{0:?} is not a valid id: use a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8")]
    Id(String),
    /// Not one of an enumeration's values.
    #[error("{value:?} is not a valid {kind}")]
    UnknownValue {
        /// The enumeration, e.g. `Sex`.
        kind: &'static str,
        /// What was given.
        value: String,
    },
    /// A required text is empty or only white space.
    #[error("must not be empty")]
    Empty,
    /// A text is longer than allowed.
    #[error("must have at most {max} characters (has {length})")]
    TooLong {
        /// The limit, in characters.
        max: usize,
        /// The text's length, in characters.
        length: usize,
    },
    /// A text holds a control character other than tab, line feed and carriage return (NUL,
    /// escape…), which nobody types on purpose and PostgreSQL refuses in part (NUL).
    #[error("must not contain control characters: U+{code_point:04X} at character {position}")]
    ControlCharacter {
        /// The character's code point.
        code_point: u32,
        /// Its position in the text (trimmed), counting characters from 1.
        position: usize,
    },
    /// A list that needs at least one item has none.
    #[error("must list at least one item")]
    EmptyList,
    /// A list has too many items.
    #[error("may list at most {max} items (has {count})")]
    TooMany {
        /// The limit.
        max: usize,
        /// How many were given.
        count: usize,
    },
    /// A whole number outside its range.
    #[error("must be between {min} and {max} (is {value})")]
    OutOfRange {
        /// What was given.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// An amount of money that is negative, too large or not a number.
    #[error("amount {0} MAD is not valid: use a number of dirhams from 0 to 1000000000000")]
    Amount(f64),
    /// A target that is negative, too large or not a number.
    #[error("target {0} is not valid: use a number from 0 to 1000000000000")]
    Target(f64),
    /// A timestamp at a leap second (second 60), which the log does not record.
    #[error(
        "{} is a leap second, which the log does not record: send {}, or the next second, {}",
        rfc3339(*.0), rfc3339(leap_second_before(*.0)), rfc3339(leap_second_after(*.0))
    )]
    LeapSecond(DateTime<Utc>),
}

// ------------------------------------------------------------------------------ timestamps

/// Checks that `at` is no leap second (`…T23:59:60Z`, which RFC 3339 allows and chrono reads
/// as a second second 59, its nanosecond 1e9 or more). The log records none: those who read it
/// (the auditors' tools among them, Python's `datetime` for one) count 60 seconds a minute.
/// Every timestamp a client dates an event with passes here (journey events and programme
/// activities); the server's own clock never reads a leap second.
pub fn not_leap_second(at: DateTime<Utc>) -> Result<(), ValueError> {
    if at.nanosecond() >= 1_000_000_000 {
        return Err(ValueError::LeapSecond(at));
    }
    Ok(())
}

/// The whole second before a leap second (`…:59`).
fn leap_second_before(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_nanosecond(0).unwrap_or(at)
}

/// The whole second after a leap second (`…:00` of the next minute).
fn leap_second_after(at: DateTime<Utc>) -> DateTime<Utc> {
    let before = leap_second_before(at);
    before
        .checked_add_signed(TimeDelta::seconds(1))
        .unwrap_or(before)
}

/// `at` as RFC 3339 in UTC, e.g. `2024-06-30T23:59:60Z`.
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ------------------------------------------------------------------------------------ text

/// Longest free text (topics, reasons, notes), in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest name or short label (course, employer, venture, city, sector), in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest programme description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most items in a list of free texts (skills, languages, donors).
pub const MAX_LIST_ITEMS: usize = 100;

/// Checks a required free text: not empty once trimmed, at most `max_chars` characters, and
/// no control character but tab and line breaks ([`no_control_characters`]).
pub fn required_text(value: &str, max_chars: usize) -> Result<(), ValueError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValueError::Empty);
    }
    bounded_text(trimmed, max_chars)
}

/// Checks an optional free text: when present, at most `max_chars` characters once trimmed,
/// and no control character but tab and line breaks ([`no_control_characters`]).
pub fn optional_text(value: Option<&str>, max_chars: usize) -> Result<(), ValueError> {
    value.map_or(Ok(()), |v| bounded_text(v.trim(), max_chars))
}

/// Checks a list of required free texts: at most `max_items` items, each a
/// [`required_text`] of at most `max_chars` characters.
pub fn text_list(values: &[String], max_items: usize, max_chars: usize) -> Result<(), ValueError> {
    if values.len() > max_items {
        return Err(ValueError::TooMany {
            max: max_items,
            count: values.len(),
        });
    }
    values.iter().try_for_each(|v| required_text(v, max_chars))
}

/// Checks that a free text holds no control character but tab, line feed and carriage
/// return: no NUL (which PostgreSQL refuses in text and JSON, so that a text holding one
/// could never be stored), no escape sequence, no other C0 or C1 control.
pub fn no_control_characters(value: &str) -> Result<(), ValueError> {
    match value
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some((index, c)) => Err(ValueError::ControlCharacter {
            code_point: u32::from(c),
            position: index + 1,
        }),
        None => Ok(()),
    }
}

fn bounded_text(value: &str, max_chars: usize) -> Result<(), ValueError> {
    no_control_characters(value)?;
    let length = value.chars().count();
    if length > max_chars {
        return Err(ValueError::TooLong {
            max: max_chars,
            length,
        });
    }
    Ok(())
}

/// The text without surrounding white space (no new allocation when there is none).
pub fn trim_text(value: String) -> String {
    if value.trim().len() == value.len() {
        value
    } else {
        value.trim().to_owned()
    }
}

/// An optional text trimmed, and `None` when nothing is left.
pub fn trim_optional_text(value: Option<String>) -> Option<String> {
    value.map(trim_text).filter(|v| !v.is_empty())
}

// ----------------------------------------------------------------------- money and targets

const MAX_WHOLE: f64 = 1e12;

fn hundredths_of(value: f64) -> Option<i64> {
    if value.is_finite() && (0.0..=MAX_WHOLE).contains(&value) {
        // In range, so the cast cannot saturate.
        Some((value * 100.0).round() as i64)
    } else {
        None
    }
}

const MAX_HUNDREDTHS: i64 = 100_000_000_000_000;

/// An amount of Moroccan dirhams, held as a whole number of centimes so that events carry
/// integers only. From 0 to 10¹² MAD.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

impl Money {
    /// Zero dirhams.
    pub const ZERO: Money = Money(0);

    /// From dirhams as the API receives them, rounded to the nearest centime.
    pub fn from_mad(mad: f64) -> Result<Money, ValueError> {
        hundredths_of(mad).map(Money).ok_or(ValueError::Amount(mad))
    }

    /// From a whole number of centimes.
    pub fn from_centimes(centimes: i64) -> Result<Money, ValueError> {
        if (0..=MAX_HUNDREDTHS).contains(&centimes) {
            Ok(Money(centimes))
        } else {
            Err(ValueError::Amount(centimes as f64 / 100.0))
        }
    }

    /// The whole number of centimes.
    pub fn centimes(self) -> i64 {
        self.0
    }

    /// In dirhams, for display and the API.
    pub fn to_mad(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl TryFrom<i64> for Money {
    type Error = ValueError;
    fn try_from(centimes: i64) -> Result<Self, Self::Error> {
        Money::from_centimes(centimes)
    }
}

impl From<Money> for i64 {
    fn from(money: Money) -> i64 {
        money.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02} MAD", self.0 / 100, self.0 % 100)
    }
}

/// An indicator target, held as a whole number of hundredths so that events carry integers
/// only. From 0 to 10¹².
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct TargetValue(i64);

impl TargetValue {
    /// From the API's number, rounded to the nearest hundredth.
    pub fn from_f64(value: f64) -> Result<TargetValue, ValueError> {
        hundredths_of(value)
            .map(TargetValue)
            .ok_or(ValueError::Target(value))
    }

    /// From a whole number of hundredths.
    pub fn from_hundredths(hundredths: i64) -> Result<TargetValue, ValueError> {
        if (0..=MAX_HUNDREDTHS).contains(&hundredths) {
            Ok(TargetValue(hundredths))
        } else {
            Err(ValueError::Target(hundredths as f64 / 100.0))
        }
    }

    /// The whole number of hundredths.
    pub fn hundredths(self) -> i64 {
        self.0
    }

    /// As a number, for display and the API.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl TryFrom<i64> for TargetValue {
    type Error = ValueError;
    fn try_from(hundredths: i64) -> Result<Self, Self::Error> {
        TargetValue::from_hundredths(hundredths)
    }
}

impl From<TargetValue> for i64 {
    fn from(target: TargetValue) -> i64 {
        target.0
    }
}

impl fmt::Display for TargetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 100 == 0 {
            write!(f, "{}", self.0 / 100)
        } else {
            write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
        }
    }
}

// ---------------------------------------------------------------------------------- enums

/// Declares an enumeration of the contract: serde, `ALL`, `as_str`, `Display` and `FromStr`
/// all use the contract's spelling.
macro_rules! contract_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in the contract's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The contract's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ValueError::UnknownValue { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }
    };
}

contract_enum! {
    /// What an API token may do.
    pub enum Role {
        /// Registers organisations and programmes, sets targets, writes anything.
        Admin = "ADMIN",
        /// A partner NGO: records the journeys of the beneficiaries it identified or was
        /// referred, in programmes it is a partner of.
        Partner = "PARTNER",
        /// Reads everything, writes nothing.
        Auditor = "AUDITOR",
        /// Reads aggregate figures, writes nothing.
        Dashboard = "DASHBOARD",
    }
}

impl Role {
    /// Whether this role may record anything at all.
    pub fn may_write(self) -> bool {
        matches!(self, Role::Admin | Role::Partner)
    }
}

contract_enum! {
    /// The furthest step of the pathway a beneficiary reached, in pathway order
    /// (`Identified < Sensitised < … < FollowedUp`).
    pub enum Stage {
        /// Identified by a partner.
        Identified = "IDENTIFIED",
        /// Took part in a sensitisation session.
        Sensitised = "SENSITISED",
        /// Completed a training.
        Trained = "TRAINED",
        /// Started an incubation.
        Incubated = "INCUBATED",
        /// Employed or launched a business (inserted).
        Employed = "EMPLOYED",
        /// Followed up after insertion.
        FollowedUp = "FOLLOWED_UP",
    }
}

contract_enum! {
    /// Sex as recorded at identification.
    pub enum Sex {
        /// Female.
        Female = "FEMALE",
        /// Male.
        Male = "MALE",
        /// Other.
        Other = "OTHER",
        /// Not disclosed.
        Undisclosed = "UNDISCLOSED",
    }
}

contract_enum! {
    /// Age at identification: year of identification minus birth year.
    pub enum AgeBand {
        /// Under 18.
        Under18 = "UNDER_18",
        /// 18 to 24.
        Age18To24 = "AGE_18_24",
        /// 25 to 34.
        Age25To34 = "AGE_25_34",
        /// 35 to 44.
        Age35To44 = "AGE_35_44",
        /// 45 and over.
        Age45Plus = "AGE_45_PLUS",
        /// No birth year recorded.
        Unknown = "UNKNOWN",
    }
}

impl AgeBand {
    /// The band of someone identified in `identification_year`, as INDICATORS.md defines it:
    /// `identification_year - birth_year`, [`AgeBand::Unknown`] without a birth year.
    pub fn from(identification_year: i32, birth_year: Option<i32>) -> AgeBand {
        match birth_year {
            None => AgeBand::Unknown,
            Some(birth_year) => AgeBand::of_age(identification_year.saturating_sub(birth_year)),
        }
    }

    /// The band of an age in years.
    pub fn of_age(age: i32) -> AgeBand {
        match age {
            i32::MIN..=17 => AgeBand::Under18,
            18..=24 => AgeBand::Age18To24,
            25..=34 => AgeBand::Age25To34,
            35..=44 => AgeBand::Age35To44,
            _ => AgeBand::Age45Plus,
        }
    }
}

contract_enum! {
    /// Legal status in Morocco at identification.
    pub enum LegalStatus {
        /// Regularised migrant.
        RegularisedMigrant = "REGULARISED_MIGRANT",
        /// Refugee.
        Refugee = "REFUGEE",
        /// Asylum seeker.
        AsylumSeeker = "ASYLUM_SEEKER",
        /// Migrant in an irregular situation.
        IrregularMigrant = "IRREGULAR_MIGRANT",
        /// Moroccan national.
        National = "NATIONAL",
        /// Other.
        Other = "OTHER",
    }
}

contract_enum! {
    /// How the beneficiary came to the programme.
    pub enum ReferralChannel {
        /// A community agent.
        CommunityAgent = "COMMUNITY_AGENT",
        /// An association.
        Association = "ASSOCIATION",
        /// A public employment agency (ANAPEC).
        PublicEmploymentAgency = "PUBLIC_EMPLOYMENT_AGENCY",
        /// Social services.
        SocialServices = "SOCIAL_SERVICES",
        /// Came on their own.
        SelfReferral = "SELF_REFERRAL",
        /// An employer.
        Employer = "EMPLOYER",
        /// Other.
        Other = "OTHER",
    }
}

contract_enum! {
    /// What the beneficiary consented to.
    pub enum ConsentScope {
        /// Processing of personal data: needed to hold any.
        DataProcessing = "DATA_PROCESSING",
        /// Being contacted for follow-up.
        FollowUpContact = "FOLLOW_UP_CONTACT",
        /// Sharing with partner organisations.
        SharingWithPartners = "SHARING_WITH_PARTNERS",
    }
}

contract_enum! {
    /// Kind of training.
    pub enum TrainingKind {
        /// Vocational training.
        Vocational = "VOCATIONAL",
        /// Economic insertion.
        EconomicInsertion = "ECONOMIC_INSERTION",
        /// Financial education.
        FinancialEducation = "FINANCIAL_EDUCATION",
        /// Entrepreneurship.
        Entrepreneurship = "ENTREPRENEURSHIP",
        /// Language.
        Language = "LANGUAGE",
        /// Soft skills.
        SoftSkills = "SOFT_SKILLS",
    }
}

contract_enum! {
    /// Kind of venture being incubated.
    pub enum VentureKind {
        /// Income-generating activity (AGR).
        IncomeGeneratingActivity = "INCOME_GENERATING_ACTIVITY",
        /// Micro-enterprise.
        MicroEnterprise = "MICRO_ENTERPRISE",
        /// Cooperative.
        Cooperative = "COOPERATIVE",
        /// Social enterprise.
        SocialEnterprise = "SOCIAL_ENTERPRISE",
    }
}

contract_enum! {
    /// Kind of employment.
    pub enum EmploymentKind {
        /// Salaried job.
        Salaried = "SALARIED",
        /// Self-employed.
        SelfEmployed = "SELF_EMPLOYED",
        /// Internship.
        Internship = "INTERNSHIP",
    }
}

contract_enum! {
    /// Living conditions at a follow-up, compared with before.
    pub enum LivingConditions {
        /// Improved.
        Improved = "IMPROVED",
        /// Unchanged.
        Unchanged = "UNCHANGED",
        /// Worsened.
        Worsened = "WORSENED",
    }
}

contract_enum! {
    /// Kind of service a beneficiary is referred to.
    pub enum ServiceKind {
        /// Public employment agency.
        PublicEmploymentAgency = "PUBLIC_EMPLOYMENT_AGENCY",
        /// Vocational training centre.
        VocationalTrainingCentre = "VOCATIONAL_TRAINING_CENTRE",
        /// Social assistance.
        SocialAssistance = "SOCIAL_ASSISTANCE",
        /// Health.
        Health = "HEALTH",
        /// Legal aid.
        LegalAid = "LEGAL_AID",
        /// Education.
        Education = "EDUCATION",
        /// Another partner organisation.
        PartnerOrganisation = "PARTNER_ORGANISATION",
        /// Other.
        Other = "OTHER",
    }
}

contract_enum! {
    /// Why a beneficiary left the programme.
    pub enum ExitReason {
        /// Completed the pathway.
        Completed = "COMPLETED",
        /// Moved away.
        MovedAway = "MOVED_AWAY",
        /// Declined to continue.
        Declined = "DECLINED",
        /// Contact lost.
        LostContact = "LOST_CONTACT",
        /// Deceased.
        Deceased = "DECEASED",
        /// Other.
        Other = "OTHER",
    }
}

contract_enum! {
    /// A way of splitting beneficiary indicators into cells (INDICATORS.md, Disaggregation).
    pub enum Dimension {
        /// Sex at identification.
        Sex = "SEX",
        /// Age band at identification.
        AgeBand = "AGE_BAND",
        /// Region of identification.
        Region = "REGION",
        /// The identifying organisation.
        Partner = "PARTNER",
        /// Nationality.
        Nationality = "NATIONALITY",
        /// Legal status.
        LegalStatus = "LEGAL_STATUS",
        /// `YYYY-MM` of the milestone date.
        Month = "MONTH",
        /// `YYYY-Qn` of the milestone date.
        Quarter = "QUARTER",
    }
}

contract_enum! {
    /// How an indicator's value is computed.
    pub enum IndicatorKind {
        /// A count of beneficiaries or activities.
        Count = "COUNT",
        /// 100 × numerator / denominator.
        Percentage = "PERCENTAGE",
        /// A median number of days.
        MedianDays = "MEDIAN_DAYS",
    }
}

contract_enum! {
    /// The indicators of `api/contract/INDICATORS.md`.
    pub enum IndicatorCode {
        /// Beneficiaries identified.
        Identified = "IDENTIFIED",
        /// Beneficiaries sensitised.
        Sensitised = "SENSITISED",
        /// Beneficiaries enrolled in a training.
        EnrolledInTraining = "ENROLLED_IN_TRAINING",
        /// Beneficiaries who attended every workshop of a course.
        AttendedAllWorkshops = "ATTENDED_ALL_WORKSHOPS",
        /// Beneficiaries who completed a training.
        CompletedTraining = "COMPLETED_TRAINING",
        /// Beneficiaries incubated.
        Incubated = "INCUBATED",
        /// Beneficiaries who launched a business.
        BusinessLaunched = "BUSINESS_LAUNCHED",
        /// Beneficiaries employed.
        Employed = "EMPLOYED",
        /// Beneficiaries inserted (employed or business launched).
        Inserted = "INSERTED",
        /// Beneficiaries followed up after insertion.
        FollowedUp = "FOLLOWED_UP",
        /// Share of inserted beneficiaries followed up.
        FollowUpRate = "FOLLOW_UP_RATE",
        /// Share of accompanied beneficiaries whose living conditions improved.
        ImprovedLivingConditionsRate = "IMPROVED_LIVING_CONDITIONS_RATE",
        /// Median days from identification to insertion.
        MedianDaysIdentifiedToInserted = "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED",
        /// Companies engaged.
        CompaniesEngaged = "COMPANIES_ENGAGED",
        /// RSE-labelled companies engaged.
        RseCompaniesEngaged = "RSE_COMPANIES_ENGAGED",
        /// Trainers trained.
        TrainersTrained = "TRAINERS_TRAINED",
    }
}

impl IndicatorCode {
    /// How the indicator is computed.
    pub fn kind(self) -> IndicatorKind {
        match self {
            IndicatorCode::FollowUpRate | IndicatorCode::ImprovedLivingConditionsRate => {
                IndicatorKind::Percentage
            }
            IndicatorCode::MedianDaysIdentifiedToInserted => IndicatorKind::MedianDays,
            _ => IndicatorKind::Count,
        }
    }
}

// ---------------------------------------------------------------------------------- actors

/// Who is acting: the organisation and role of the API token behind a command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The token's organisation.
    pub organisation: OrganisationCode,
    /// The token's role.
    pub role: Role,
}

impl Actor {
    /// An actor.
    pub fn new(organisation: OrganisationCode, role: Role) -> Actor {
        Actor { organisation, role }
    }

    /// Whether the actor is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A beneficiary's personal data (name, phone, document number), encrypted at the edge with
/// the beneficiary's own key. The domain holds only this opaque reference; destroying the key
/// (crypto-shredding) makes it unreadable for ever.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EncryptedPersonalData {
    /// Which key encrypted it.
    pub key_id: Uuid,
    /// The cipher's nonce, base64.
    pub nonce: String,
    /// The ciphertext, base64.
    pub ciphertext: String,
}

/// Longest ciphertext accepted in an event, in characters of base64.
pub const MAX_CIPHERTEXT_CHARS: usize = 16_384;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_rounded_to_the_centime_and_bounded() {
        assert_eq!(Money::from_mad(1234.565).unwrap().centimes(), 123_457);
        assert_eq!(Money::from_mad(0.0).unwrap(), Money::ZERO);
        assert_eq!(Money::from_mad(2500.0).unwrap().to_mad(), 2500.0);
        assert_eq!(Money::from_mad(1e12).unwrap().centimes(), MAX_HUNDREDTHS);
        assert!(Money::from_mad(-0.01).is_err());
        assert!(Money::from_mad(1e12 + 1.0).is_err());
        assert!(Money::from_mad(f64::NAN).is_err());
        assert!(Money::from_mad(f64::INFINITY).is_err());
        assert_eq!(Money::from_mad(12.5).unwrap().to_string(), "12.50 MAD");
    }

    #[test]
    fn money_is_an_integer_on_the_wire_and_validated_when_read() {
        let money = Money::from_mad(99.99).unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "9999");
        assert_eq!(serde_json::from_str::<Money>("9999").unwrap(), money);
        assert!(serde_json::from_str::<Money>("-1").is_err());
        assert!(serde_json::from_str::<Money>("1.5").is_err());
    }

    #[test]
    fn targets_are_hundredths() {
        let target = TargetValue::from_f64(75.0).unwrap();
        assert_eq!(target.hundredths(), 7500);
        assert_eq!(target.to_f64(), 75.0);
        assert_eq!(target.to_string(), "75");
        assert_eq!(TargetValue::from_f64(33.333).unwrap().to_string(), "33.33");
        assert!(TargetValue::from_f64(-1.0).is_err());
        assert!(TargetValue::from_f64(f64::NAN).is_err());
        assert_eq!(serde_json::to_string(&target).unwrap(), "7500");
        assert!(serde_json::from_str::<TargetValue>("-7500").is_err());
    }

    #[test]
    fn leap_seconds_are_refused_with_the_seconds_to_send_instead() {
        use chrono::NaiveDate;
        let day = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
        let leap = day.and_hms_milli_opt(23, 59, 59, 1_250).unwrap().and_utc();
        let error = not_leap_second(leap).unwrap_err();
        assert_eq!(error, ValueError::LeapSecond(leap));
        assert_eq!(
            error.to_string(),
            "2024-06-30T23:59:60.250Z is a leap second, which the log does not record: send \
             2024-06-30T23:59:59Z, or the next second, 2024-07-01T00:00:00Z"
        );
        // Chrono reads one from RFC 3339 text, as the API receives it.
        let parsed = DateTime::parse_from_rfc3339("2024-07-01T01:59:60+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert!(not_leap_second(parsed).is_err());
        for fine in [
            day.and_hms_nano_opt(23, 59, 59, 999_999_999)
                .unwrap()
                .and_utc(),
            day.and_hms_opt(12, 0, 0).unwrap().and_utc(),
        ] {
            assert_eq!(not_leap_second(fine), Ok(()));
        }
    }

    #[test]
    fn texts_are_checked_after_trimming() {
        assert_eq!(required_text("  ", 10), Err(ValueError::Empty));
        assert_eq!(required_text(" ok ", 2), Ok(()));
        assert_eq!(
            required_text("ééé", 2),
            Err(ValueError::TooLong { max: 2, length: 3 })
        );
        assert_eq!(optional_text(None, 1), Ok(()));
        assert_eq!(optional_text(Some("   "), 1), Ok(()));
        assert!(optional_text(Some("abc"), 2).is_err());
        assert_eq!(trim_text(" a ".into()), "a");
        assert_eq!(trim_optional_text(Some("  ".into())), None);
        assert_eq!(
            trim_optional_text(Some(" Rabat".into())),
            Some("Rabat".into())
        );
        assert!(text_list(&["a".into(), " ".into()], 5, 10).is_err());
        assert!(text_list(&["a".into(), "b".into()], 1, 10).is_err());
        assert!(text_list(&[], 1, 10).is_ok());
    }

    #[test]
    fn enums_use_the_contract_spelling() {
        assert_eq!(
            serde_json::to_string(&AgeBand::Age18To24).unwrap(),
            "\"AGE_18_24\""
        );
        assert_eq!(
            serde_json::to_string(&IndicatorCode::MedianDaysIdentifiedToInserted).unwrap(),
            "\"MEDIAN_DAYS_IDENTIFIED_TO_INSERTED\""
        );
        for code in IndicatorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(code.as_str().parse::<IndicatorCode>().unwrap(), *code);
        }
        assert_eq!(IndicatorCode::ALL.len(), 16);
        assert_eq!("FOLLOWED_UP".parse::<Stage>().unwrap(), Stage::FollowedUp);
        assert!("followed_up".parse::<Stage>().is_err());
        assert_eq!(
            serde_json::from_str::<ConsentScope>("\"DATA_PROCESSING\"").unwrap(),
            ConsentScope::DataProcessing
        );
    }

    #[test]
    fn stages_are_ordered_along_the_pathway() {
        assert!(Stage::Identified < Stage::Sensitised);
        assert!(Stage::Sensitised < Stage::Trained);
        assert!(Stage::Trained < Stage::Incubated);
        assert!(Stage::Incubated < Stage::Employed);
        assert!(Stage::Employed < Stage::FollowedUp);
    }

    #[test]
    fn age_bands_follow_the_indicator_definition() {
        assert_eq!(AgeBand::from(2024, None), AgeBand::Unknown);
        assert_eq!(AgeBand::from(2024, Some(2007)), AgeBand::Under18);
        assert_eq!(AgeBand::from(2024, Some(2006)), AgeBand::Age18To24);
        assert_eq!(AgeBand::from(2024, Some(2000)), AgeBand::Age18To24);
        assert_eq!(AgeBand::from(2024, Some(1999)), AgeBand::Age25To34);
        assert_eq!(AgeBand::from(2024, Some(1990)), AgeBand::Age25To34);
        assert_eq!(AgeBand::from(2024, Some(1989)), AgeBand::Age35To44);
        assert_eq!(AgeBand::from(2024, Some(1980)), AgeBand::Age35To44);
        assert_eq!(AgeBand::from(2024, Some(1979)), AgeBand::Age45Plus);
        assert_eq!(AgeBand::from(2024, Some(1900)), AgeBand::Age45Plus);
    }

    #[test]
    fn indicator_kinds() {
        assert_eq!(
            IndicatorCode::FollowUpRate.kind(),
            IndicatorKind::Percentage
        );
        assert_eq!(
            IndicatorCode::ImprovedLivingConditionsRate.kind(),
            IndicatorKind::Percentage
        );
        assert_eq!(
            IndicatorCode::MedianDaysIdentifiedToInserted.kind(),
            IndicatorKind::MedianDays
        );
        assert_eq!(IndicatorCode::TrainersTrained.kind(), IndicatorKind::Count);
    }

    #[test]
    fn roles_that_write() {
        assert!(Role::Admin.may_write());
        assert!(Role::Partner.may_write());
        assert!(!Role::Auditor.may_write());
        assert!(!Role::Dashboard.may_write());
    }

    #[test]
    fn texts_hold_no_control_character_but_tabs_and_line_breaks() {
        let nul = ValueError::ControlCharacter {
            code_point: 0,
            position: 2,
        };
        assert_eq!(required_text("a\u{0}b", 10), Err(nul.clone()));
        assert_eq!(required_text("  a\u{0}b", 10), Err(nul.clone()));
        assert_eq!(optional_text(Some("a\u{0}"), 10), Err(nul.clone()));
        assert_eq!(text_list(&["ok".into(), "a\u{0}".into()], 5, 10), Err(nul));
        for control in ['\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}', '\u{b}'] {
            assert_eq!(
                required_text(&format!("a{control}b"), 10),
                Err(ValueError::ControlCharacter {
                    code_point: u32::from(control),
                    position: 2,
                }),
                "{control:?}"
            );
        }
        assert_eq!(required_text("ligne 1\r\nligne\t2", 20), Ok(()));
        assert_eq!(no_control_characters("a\tb"), Ok(()));
        assert!(no_control_characters("a\u{0}b").is_err());
        assert_eq!(
            ValueError::ControlCharacter {
                code_point: 0,
                position: 3
            }
            .to_string(),
            "must not contain control characters: U+0000 at character 3"
        );
    }
}

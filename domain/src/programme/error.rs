//! Why a programme command is refused: one variant per rule.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error_code::ErrorCode;
use crate::ids::{CountryCode, OrganisationCode, ProgrammeCode, RegionCode};
use crate::values::{IndicatorCode, Role, TargetValue, ValueError};

/// A refused programme command. [`ProgrammeError::code`] and [`ProgrammeError::field`] map it
/// to the contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProgrammeError {
    /// The role may not do this (registration and targets are ADMIN only; AUDITOR and
    /// DASHBOARD write nothing).
    #[error(
        "a {role} token may not do this: programmes and targets are managed by an ADMIN, \
         activities are recorded by an ADMIN or a partner of the programme"
    )]
    Forbidden {
        /// The actor's role.
        role: Role,
    },
    /// The programme is already registered.
    #[error("programme {code} is already registered")]
    AlreadyRegistered {
        /// The programme.
        code: ProgrammeCode,
    },
    /// The programme is not registered.
    #[error("this programme is not registered: an administrator must register it first")]
    NotRegistered,
    /// No region given.
    #[error("a programme needs at least one region")]
    NoRegions,
    /// A region outside the programme's country.
    #[error("region {region} is not in {country}: give regions of the programme's country")]
    RegionOutsideCountry {
        /// The region.
        region: RegionCode,
        /// The programme's country.
        country: CountryCode,
    },
    /// End before start.
    #[error("the end date {end_date} is before the start date {start_date}")]
    EndBeforeStart {
        /// Start.
        start_date: NaiveDate,
        /// End.
        end_date: NaiveDate,
    },
    /// A partner that is not a registered organisation.
    #[error(
        "partner {organisation} is not a registered organisation: register it first, then the \
         programme"
    )]
    UnknownPartner {
        /// The partner.
        organisation: OrganisationCode,
    },
    /// A percentage target above 100.
    #[error(
        "the target of {indicator} is a percentage: give a number from 0 to 100, not {target}"
    )]
    TargetOutOfRange {
        /// The indicator.
        indicator: IndicatorCode,
        /// The target given.
        target: TargetValue,
    },
    /// The partner is not a partner of the programme.
    #[error(
        "organisation {organisation} is not a partner of programme {programme}: ask an \
         administrator to add it to the programme's partners"
    )]
    NotProgrammePartner {
        /// The actor's organisation.
        organisation: OrganisationCode,
        /// The programme.
        programme: ProgrammeCode,
    },
    /// Activity dated in the future.
    #[error(
        "the activity is dated {occurred_at}, in the future (server time {now}): check the \
         device's date and time"
    )]
    DatedInFuture {
        /// The activity's date.
        occurred_at: DateTime<Utc>,
        /// The server's clock.
        now: DateTime<Utc>,
    },
    /// Activity dated before the programme's start.
    #[error(
        "the activity is dated {date}, before the programme started on {start_date}: check \
         the date"
    )]
    DatedBeforeStart {
        /// The activity's date.
        date: NaiveDate,
        /// The programme's start.
        start_date: NaiveDate,
    },
    /// A trainer's organisation that is not registered.
    #[error(
        "organisation {organisation} is not registered: check the code, or ask an \
         administrator to register it"
    )]
    UnknownOrganisation {
        /// The organisation.
        organisation: OrganisationCode,
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

impl ProgrammeError {
    /// The contract's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProgrammeError::Forbidden { .. } | ProgrammeError::NotProgrammePartner { .. } => {
                ErrorCode::Forbidden
            }
            ProgrammeError::AlreadyRegistered { .. }
            | ProgrammeError::NoRegions
            | ProgrammeError::RegionOutsideCountry { .. }
            | ProgrammeError::EndBeforeStart { .. }
            | ProgrammeError::TargetOutOfRange { .. }
            | ProgrammeError::Invalid { .. } => ErrorCode::Validation,
            ProgrammeError::NotRegistered => ErrorCode::UnknownProgramme,
            ProgrammeError::UnknownPartner { .. } | ProgrammeError::UnknownOrganisation { .. } => {
                ErrorCode::UnknownOrganisation
            }
            ProgrammeError::DatedInFuture { .. } => ErrorCode::DatedInFuture,
            ProgrammeError::DatedBeforeStart { .. } => ErrorCode::DatedBeforeStart,
        }
    }

    /// The contract's (camelCase) input field at fault, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ProgrammeError::AlreadyRegistered { .. } => Some("code"),
            ProgrammeError::NotRegistered => Some("programmeCode"),
            ProgrammeError::NoRegions | ProgrammeError::RegionOutsideCountry { .. } => {
                Some("regions")
            }
            ProgrammeError::EndBeforeStart { .. } => Some("endDate"),
            ProgrammeError::UnknownPartner { .. } => Some("partnerCodes"),
            ProgrammeError::TargetOutOfRange { .. } => Some("target"),
            ProgrammeError::DatedInFuture { .. } | ProgrammeError::DatedBeforeStart { .. } => {
                Some("occurredAt")
            }
            ProgrammeError::UnknownOrganisation { .. } => Some("organisationCode"),
            ProgrammeError::Invalid { field, .. } => Some(field),
            ProgrammeError::Forbidden { .. } | ProgrammeError::NotProgrammePartner { .. } => None,
        }
    }

    pub(crate) fn invalid(field: &'static str) -> impl Fn(ValueError) -> ProgrammeError {
        move |problem| ProgrammeError::Invalid { field, problem }
    }
}

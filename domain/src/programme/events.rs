//! The programme stream's events.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{CountryCode, EventId, OrganisationCode, ProgrammeCode, RegionCode};
use crate::values::{IndicatorCode, TargetValue};

/// The version of every programme event's shape.
pub const PROGRAMME_EVENT_VERSION: &str = "1.0";

/// An event of a programme's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeEvent {
    /// Idempotency key (the activity id for activities).
    pub event_id: EventId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The organisation that recorded it.
    pub recorded_by: OrganisationCode,
    /// What happened.
    pub fact: ProgrammeFact,
}

impl DomainEvent for ProgrammeEvent {
    fn event_type(&self) -> String {
        self.fact.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        PROGRAMME_EVENT_VERSION.to_owned()
    }
}

/// What happened to a programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProgrammeFact {
    /// The programme was registered.
    ProgrammeRegistered {
        /// Code.
        code: ProgrammeCode,
        /// Name.
        name: String,
        /// Country.
        country: CountryCode,
        /// Regions.
        regions: Vec<RegionCode>,
        /// Start.
        start_date: NaiveDate,
        /// Planned end.
        end_date: Option<NaiveDate>,
        /// Donors.
        donors: Vec<String>,
        /// Partner organisations.
        partners: Vec<OrganisationCode>,
        /// Description.
        description: Option<String>,
    },
    /// An indicator's target was set (replacing any earlier one).
    IndicatorTargetSet {
        /// The indicator.
        indicator: IndicatorCode,
        /// The target, in hundredths.
        target: TargetValue,
    },
    /// A company was engaged.
    CompanyEngaged {
        /// The company.
        company_name: String,
        /// Whether it holds the RSE label.
        rse_labelled: bool,
    },
    /// A trainer was trained.
    TrainerTrained {
        /// The trainer.
        trainer_name: String,
        /// The trainer's organisation.
        organisation_code: OrganisationCode,
    },
}

impl ProgrammeFact {
    /// The event type name, e.g. `IndicatorTargetSet` (also the serde tag).
    pub fn type_name(&self) -> &'static str {
        match self {
            ProgrammeFact::ProgrammeRegistered { .. } => "ProgrammeRegistered",
            ProgrammeFact::IndicatorTargetSet { .. } => "IndicatorTargetSet",
            ProgrammeFact::CompanyEngaged { .. } => "CompanyEngaged",
            ProgrammeFact::TrainerTrained { .. } => "TrainerTrained",
        }
    }
}

//! What can be asked of a programme's stream.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CountryCode, EventId, OrganisationCode, ProgrammeCode, RegionCode};
use crate::values::{Actor, IndicatorCode, TargetValue};

/// A command to a programme's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgrammeCommand {
    /// Register the programme (ADMIN).
    Register {
        /// The programme's code (also the aggregate id).
        code: ProgrammeCode,
        /// Its name.
        name: String,
        /// The country it runs in.
        country: CountryCode,
        /// Its regions, all in `country` (at least one).
        regions: Vec<RegionCode>,
        /// Its start: no event may be dated before.
        start_date: NaiveDate,
        /// Its planned end, not before the start.
        end_date: Option<NaiveDate>,
        /// Its donors.
        donors: Vec<String>,
        /// The registered organisations that record journeys in it.
        partners: Vec<OrganisationCode>,
        /// A description.
        description: Option<String>,
        /// Idempotency key.
        event_id: EventId,
        /// Who asks.
        actor: Actor,
        /// The server's clock.
        now: DateTime<Utc>,
    },
    /// Set the target of one indicator (ADMIN); the latest target counts.
    SetTarget {
        /// The indicator.
        indicator: IndicatorCode,
        /// The target (at most 100 for percentage indicators).
        target: TargetValue,
        /// Idempotency key.
        event_id: EventId,
        /// Who asks.
        actor: Actor,
        /// The server's clock.
        now: DateTime<Utc>,
    },
    /// Record a programme-level activity (ADMIN or a partner of the programme).
    RecordActivity {
        /// The client's idempotency key.
        activity_id: EventId,
        /// When it happened.
        occurred_at: DateTime<Utc>,
        /// Who records it.
        actor: Actor,
        /// The server's clock.
        now: DateTime<Utc>,
        /// What happened.
        activity: ProgrammeActivity,
    },
}

/// A programme-level activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProgrammeActivity {
    /// A company was engaged (e.g. to offer internships or jobs).
    CompanyEngaged {
        /// The company.
        company_name: String,
        /// Whether it holds the CGEM RSE label.
        rse_labelled: bool,
    },
    /// A trainer was trained.
    TrainerTrained {
        /// The trainer.
        trainer_name: String,
        /// The trainer's (registered) organisation.
        organisation_code: OrganisationCode,
    },
}

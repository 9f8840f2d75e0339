//! The organisation stream's events.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, OrganisationCode};

/// The version of every organisation event's shape.
pub const ORGANISATION_EVENT_VERSION: &str = "1.0";

/// An event of an organisation's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationEvent {
    /// Idempotency key.
    pub event_id: EventId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The organisation that recorded it (any code: see [`OrganisationCommand`]).
    ///
    /// [`OrganisationCommand`]: crate::organisation::OrganisationCommand
    pub recorded_by: OrganisationCode,
    /// What happened.
    pub fact: OrganisationFact,
}

impl DomainEvent for OrganisationEvent {
    fn event_type(&self) -> String {
        self.fact.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        ORGANISATION_EVENT_VERSION.to_owned()
    }
}

/// What happened to an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrganisationFact {
    /// The organisation was registered.
    Registered {
        /// Code.
        code: OrganisationCode,
        /// Name.
        name: String,
        /// Kind.
        kind: Option<String>,
    },
}

impl OrganisationFact {
    /// The event type name in the log: `OrganisationRegistered`.
    pub fn type_name(&self) -> &'static str {
        match self {
            OrganisationFact::Registered { .. } => "OrganisationRegistered",
        }
    }
}

//! What can be asked of an organisation's stream.

use chrono::{DateTime, Utc};

use crate::ids::{EventId, OrganisationCode};
use crate::values::Actor;

/// A command to an organisation's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum OrganisationCommand {
    /// Register the organisation (ADMIN).
    Register {
        /// Its code (also the aggregate id).
        code: OrganisationCode,
        /// Its name.
        name: String,
        /// What kind of organisation it is (NGO, public agency…).
        kind: Option<String>,
        /// Idempotency key.
        event_id: EventId,
        /// Who asks. Its organisation need not be registered yet: the first ADMIN is
        /// bootstrapped from the command line for an organisation that may not exist.
        actor: Actor,
        /// The server's clock.
        now: DateTime<Utc>,
    },
}

//! What can be asked of a beneficiary's stream.

use chrono::{DateTime, Utc};

use crate::beneficiary::JourneyFact;
use crate::ids::{BeneficiaryId, EventId};
use crate::values::Actor;

/// A command to a beneficiary's stream.
// Commands live for one request; boxing the large variant would only make matching on them
// clumsier for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum BeneficiaryCommand {
    /// Record one journey event.
    Record(RecordJourneyEvent),
    /// Erase the beneficiary's personal data (crypto-shredding).
    ErasePersonalData(ErasePersonalData),
}

/// Record one journey event, as submitted by a partner or an administrator.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordJourneyEvent {
    /// The stream (also the aggregate id).
    pub beneficiary_id: BeneficiaryId,
    /// The client's idempotency key.
    pub event_id: EventId,
    /// When it happened, as the client says.
    pub occurred_at: DateTime<Utc>,
    /// Who is recording it.
    pub actor: Actor,
    /// The server's clock when the command was received.
    pub now: DateTime<Utc>,
    /// What happened. `PersonalDataErased` is refused here: use [`ErasePersonalData`].
    pub fact: JourneyFact,
}

/// Erase a beneficiary's personal data: the event records that the key was destroyed.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasePersonalData {
    /// The stream (also the aggregate id).
    pub beneficiary_id: BeneficiaryId,
    /// Idempotency key of the erasure event.
    pub event_id: EventId,
    /// Who asks: an administrator or the identifying partner.
    pub actor: Actor,
    /// The server's clock; also the erasure's `occurred_at`.
    pub now: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

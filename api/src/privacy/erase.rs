//! Erasure (crypto-shredding): destroy the beneficiary's data key, and record
//! `PersonalDataErased` (who, when, why) in their stream.
//!
//! Order, and why: the key is destroyed **before** the event is recorded. Destroying the key
//! is the erasure itself; the event is the record of it. If the process stops in between, the
//! personal data is already unreadable everywhere and only the record is missing — the safe
//! failure for the person — and running the erasure again records it (the key is already
//! gone, the command is decided afresh). The other order could leave a log that says
//! "erased" beside a key that still decrypts. So that a refused erasure (unknown beneficiary,
//! a partner that does not own the record, an empty reason) destroys nothing, the command is
//! first decided, without writing, against the stream as loaded. Erasing an erased
//! beneficiary again records nothing and destroys nothing: it is harmless.

use chrono::Utc;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, EventStore};
use masar_domain::beneficiary::{
    Beneficiary, BeneficiaryCommand, BeneficiaryError, ErasePersonalData,
};
use masar_domain::directory::DomainServices;
use masar_domain::ids::{BeneficiaryId, EventId};
use masar_domain::values::Actor;
use postgres_es::PostgresEventRepository;
use uuid::Uuid;

use super::vault::KeyStore;
use super::PrivacyError;
use crate::write::{locate_event, retry_on_conflict, Envelope, WriteSide};

/// An erasure to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasureRequest {
    /// Whose personal data.
    pub beneficiary_id: BeneficiaryId,
    /// Who asks: an administrator, or the partner that identified the beneficiary.
    pub actor: Actor,
    /// Why (required, at most 500 characters); recorded in the event.
    pub reason: String,
    /// The API token behind the request, if any (recorded in the event's metadata).
    pub token_id: Option<Uuid>,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// Whose personal data.
    pub beneficiary_id: BeneficiaryId,
    /// Whether a data key was destroyed now (false when it was already gone, or the
    /// beneficiary never had personal data).
    pub key_destroyed: bool,
    /// The `PersonalDataErased` event recorded now; `None` when the erasure was already
    /// recorded.
    pub recorded: Option<EventId>,
}

/// Why an erasure was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// No stream for this beneficiary.
    #[error("beneficiary {0} does not exist")]
    NotFound(BeneficiaryId),
    /// The journey rules refuse the erasure; nothing was destroyed.
    #[error("erasure refused: {0}")]
    Refused(BeneficiaryError),
    /// Lost the optimistic-concurrency race too many times; the key may already be destroyed,
    /// so retry to record the erasure.
    #[error(
        "the beneficiary's stream kept changing while the erasure was recorded: run it again to \
         finish"
    )]
    Conflict,
    /// The event store failed.
    #[error("recording the erasure failed: {0}")]
    Store(String),
    /// The key store failed.
    #[error(transparent)]
    Keys(#[from] PrivacyError),
}

impl From<AggregateError<BeneficiaryError>> for EraseError {
    fn from(error: AggregateError<BeneficiaryError>) -> Self {
        match error {
            AggregateError::UserError(error) => EraseError::Refused(error),
            AggregateError::AggregateConflict => EraseError::Conflict,
            AggregateError::DatabaseConnectionError(error)
            | AggregateError::DeserializationError(error)
            | AggregateError::UnexpectedError(error) => EraseError::Store(error.to_string()),
        }
    }
}

/// Erases the beneficiary's personal data: decides the `ErasePersonalData` command against the
/// stream (refusals destroy nothing), destroys the data key, records `PersonalDataErased`
/// through `write.beneficiaries` (retried on conflict), then vacuums the key table (best
/// effort). Idempotent; see the module documentation for the order.
pub async fn erase(
    write: &WriteSide,
    keys: &KeyStore,
    request: ErasureRequest,
) -> Result<Erasure, EraseError> {
    let ErasureRequest {
        beneficiary_id,
        actor,
        reason,
        token_id,
    } = request;
    let aggregate_id = beneficiary_id.to_string();
    let store = PersistedEventStore::<PostgresEventRepository, Beneficiary>::new_event_store(
        PostgresEventRepository::new(write.pool.clone()),
    );
    let beneficiary = store.load_aggregate(&aggregate_id).await?.aggregate;
    if beneficiary.version() == 0 {
        return Err(EraseError::NotFound(beneficiary_id));
    }

    let event_id = EventId::new(Uuid::new_v4());
    let now = Utc::now();
    let envelope = Envelope {
        event_id,
        occurred_at: now,
        organisation: actor.organisation.clone(),
        token_id,
    };
    let command = BeneficiaryCommand::ErasePersonalData(ErasePersonalData {
        beneficiary_id,
        event_id,
        actor,
        now,
        reason,
    });
    let services = DomainServices {
        directory: write.directory.clone(),
    };
    let to_record = beneficiary
        .decide(command.clone(), &services)
        .map_err(EraseError::Refused)?;

    let key_destroyed = keys.destroy(beneficiary_id).await?;
    if key_destroyed {
        tracing::info!(beneficiary.id = %beneficiary_id, "destroyed a personal data key");
    }

    if !to_record.is_empty() {
        let metadata = envelope.metadata();
        let cqrs = &write.beneficiaries;
        let aggregate_id = &aggregate_id;
        retry_on_conflict(|| {
            let command = command.clone();
            let metadata = metadata.clone();
            async move {
                cqrs.execute_with_metadata(aggregate_id, command, metadata)
                    .await
            }
        })
        .await?;
    }

    if key_destroyed {
        if let Err(error) = keys.vacuum().await {
            tracing::warn!("could not vacuum the personal data keys (autovacuum will): {error}");
        }
    }
    let recorded = locate_event(&write.pool, event_id)
        .await
        .map_err(PrivacyError::from)?
        .map(|_| event_id);
    Ok(Erasure {
        beneficiary_id,
        key_destroyed,
        recorded,
    })
}

//! Recording one journey event as the contract's `recordJourneyEvents` documents it, on the
//! single-command path: DUPLICATE and EVENT_ID_REUSED decided from the log's unique event
//! ids, the journey rules decided by the aggregate, conflicts retried a bounded number of
//! times, and every outcome reported as a `SubmissionResult` — never an error that loses the
//! other items of a batch.

use cqrs_es::Aggregate;
use cqrs_es::AggregateError;
use masar_domain::beneficiary::{
    Beneficiary, BeneficiaryCommand, BeneficiaryError, JourneyFact, RecordJourneyEvent,
};
use masar_domain::ids::EventId;
use masar_domain::values::ConsentScope;
use masar_domain::ErrorCode;
use uuid::Uuid;

use crate::privacy::KeyStore;
use crate::write::{locate_event, retry_on_conflict, Envelope, EventLocation, WriteSide};

/// What happened to one submitted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionStatus {
    /// Durably stored now.
    Accepted,
    /// Already stored in this stream before: nothing recorded.
    Duplicate,
    /// Refused: see the error.
    Rejected,
}

/// Why a submission was refused, as the contract's `SubmissionError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionError {
    /// The contract's error code.
    pub code: ErrorCode,
    /// A message a field officer can act on.
    pub message: String,
    /// The input field at fault, in the contract's spelling.
    pub field: Option<String>,
}

/// The contract's `SubmissionResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionOutcome {
    /// The submitted event id.
    pub event_id: EventId,
    /// Accepted, duplicate or rejected.
    pub status: SubmissionStatus,
    /// Stream sequence of the stored event (accepted, duplicate).
    pub sequence: Option<i64>,
    /// Why it was rejected.
    pub error: Option<SubmissionError>,
}

impl SubmissionOutcome {
    pub(crate) fn stored(event_id: EventId, status: SubmissionStatus, sequence: i64) -> Self {
        Self {
            event_id,
            status,
            sequence: Some(sequence),
            error: None,
        }
    }

    pub(crate) fn rejected(
        event_id: EventId,
        code: ErrorCode,
        message: String,
        field: Option<&str>,
    ) -> Self {
        Self {
            event_id,
            status: SubmissionStatus::Rejected,
            sequence: None,
            error: Some(SubmissionError {
                code,
                message,
                field: field.map(str::to_owned),
            }),
        }
    }
}

/// Records one journey event. `token_id` is the API token that submits it, if any.
pub async fn record_journey_event(
    write: &WriteSide,
    submission: RecordJourneyEvent,
    token_id: Option<Uuid>,
) -> SubmissionOutcome {
    let outcome = decide_and_store(write, submission.clone(), token_id).await;
    complete_consent_withdrawal(write, &submission, outcome).await
}

pub(crate) async fn decide_and_store(
    write: &WriteSide,
    submission: RecordJourneyEvent,
    token_id: Option<Uuid>,
) -> SubmissionOutcome {
    let event_id = submission.event_id;
    let stream = submission.beneficiary_id.to_string();
    // An id of another stream is refused at once; one of this stream is a resubmission, which
    // the aggregate answers (after checking the caller may write here at all).
    let resubmitted = match classify_known(write, event_id, &stream).await {
        Ok(Some(outcome)) if outcome.status == SubmissionStatus::Duplicate => Some(outcome),
        Ok(Some(outcome)) => return outcome,
        Ok(None) => None,
        Err(outcome) => return outcome,
    };
    let envelope = Envelope {
        event_id,
        occurred_at: submission.occurred_at,
        organisation: submission.actor.organisation.clone(),
        token_id,
    };
    let mut refreshed = false;
    loop {
        let command = BeneficiaryCommand::Record(submission.clone());
        let result = retry_on_conflict(|| {
            write
                .beneficiaries
                .execute_with_metadata(&stream, command.clone(), envelope.metadata())
        })
        .await;
        match result {
            Ok(()) => {
                if let Some(duplicate) = resubmitted {
                    return duplicate;
                }
                return match classify_known(write, event_id, &stream).await {
                    Ok(Some(outcome)) if outcome.status == SubmissionStatus::Duplicate => {
                        SubmissionOutcome {
                            status: SubmissionStatus::Accepted,
                            ..outcome
                        }
                    }
                    Ok(Some(outcome)) => outcome,
                    Ok(None) => internal(event_id, "the accepted event is not in the log"),
                    Err(outcome) => outcome,
                };
            }
            Err(AggregateError::UserError(error)) => {
                // The directory may lag behind a programme or organisation registered through
                // another server: read it again once before refusing for that reason.
                if !refreshed && depends_on_directory(&error) {
                    refreshed = true;
                    if let Err(error) = write.directory.refresh(&write.pool).await {
                        tracing::error!(error = %error, "refreshing the directory failed");
                        return internal(event_id, "the programme directory could not be read");
                    }
                    continue;
                }
                return SubmissionOutcome::rejected(
                    event_id,
                    error.code(),
                    error.to_string(),
                    error.field(),
                );
            }
            Err(AggregateError::AggregateConflict) => {
                // Either the stream kept moving, or the event id was stored meanwhile (the
                // unique index answers like a conflict).
                return match classify_known(write, event_id, &stream).await {
                    Ok(Some(outcome)) => outcome,
                    Ok(None) => SubmissionOutcome::rejected(
                        event_id,
                        ErrorCode::Conflict,
                        "this beneficiary's stream changed concurrently too many times: submit \
                         the event again"
                            .to_owned(),
                        None,
                    ),
                    Err(outcome) => outcome,
                };
            }
            Err(error) => {
                tracing::error!(error = %error, aggregate = Beneficiary::TYPE, "recording failed");
                return internal(event_id, "the event could not be stored");
            }
        }
    }
}

fn depends_on_directory(error: &BeneficiaryError) -> bool {
    matches!(
        error.code(),
        ErrorCode::UnknownProgramme | ErrorCode::UnknownOrganisation | ErrorCode::Forbidden
    )
}

/// `Ok(Some)` when the event id is already stored: DUPLICATE in this stream, EVENT_ID_REUSED
/// in another; `Ok(None)` when it is new.
async fn classify_known(
    write: &WriteSide,
    event_id: EventId,
    stream: &str,
) -> Result<Option<SubmissionOutcome>, SubmissionOutcome> {
    match locate_event(&write.pool, event_id).await {
        Ok(None) => Ok(None),
        Ok(Some(EventLocation {
            aggregate_type,
            aggregate_id,
            sequence,
        })) => {
            if aggregate_type == Beneficiary::TYPE && aggregate_id == stream {
                Ok(Some(SubmissionOutcome::stored(
                    event_id,
                    SubmissionStatus::Duplicate,
                    sequence,
                )))
            } else {
                Ok(Some(reused(event_id)))
            }
        }
        Err(error) => {
            tracing::error!(error = %error, "looking up an event id failed");
            Err(internal(event_id, "the event log could not be read"))
        }
    }
}

/// After a `ConsentWithdrawn` that names `DATA_PROCESSING` is stored (ACCEPTED, or DUPLICATE
/// on a resubmission), the beneficiary's personal data key is destroyed: withdrawing consent
/// to processing erases the personal data, as `erasePersonalData` does. Destroying is
/// idempotent, so when it fails the item is reported INTERNAL — the event is stored, and
/// submitting it again (DUPLICATE) completes the erasure.
pub(crate) async fn complete_consent_withdrawal(
    write: &WriteSide,
    submission: &RecordJourneyEvent,
    outcome: SubmissionOutcome,
) -> SubmissionOutcome {
    let withdraws = matches!(
        &submission.fact,
        JourneyFact::ConsentWithdrawn { scopes } if scopes.contains(&ConsentScope::DataProcessing)
    );
    if !withdraws || outcome.status == SubmissionStatus::Rejected {
        return outcome;
    }
    // The key goes first, then `PersonalDataErased` is recorded (idempotent: a resubmission
    // completes an erasure that failed half-way).
    let keys = KeyStore::new(write.pool.clone());
    let request = crate::privacy::ErasureRequest {
        beneficiary_id: submission.beneficiary_id,
        actor: submission.actor.clone(),
        reason: format!(
            "consent to data processing withdrawn (event {})",
            submission.event_id
        ),
        token_id: None,
    };
    match crate::privacy::erase(write, &keys, request).await {
        Ok(_) => outcome,
        Err(error) => {
            tracing::error!(error = %error, "erasing after a consent withdrawal failed");
            SubmissionOutcome::rejected(
                outcome.event_id,
                ErrorCode::Internal,
                "the consent withdrawal is recorded, but the personal data could not be erased \
                 yet: submit the same event again to complete the erasure"
                    .to_owned(),
                None,
            )
        }
    }
}

/// EVENT_ID_REUSED for `event_id`.
pub(crate) fn reused(event_id: EventId) -> SubmissionOutcome {
    SubmissionOutcome::rejected(
        event_id,
        ErrorCode::EventIdReused,
        format!(
            "event id {event_id} is already used by another stream: generate a new event id \
             for this event"
        ),
        Some("eventId"),
    )
}

/// INTERNAL for `event_id`: nothing was recorded, the client may submit it again.
pub(crate) fn internal(event_id: EventId, message: &str) -> SubmissionOutcome {
    SubmissionOutcome::rejected(
        event_id,
        ErrorCode::Internal,
        format!("{message}; nothing was recorded for this event, submit it again later"),
        None,
    )
}

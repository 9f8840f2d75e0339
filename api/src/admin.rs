//! Running programme and organisation commands on the write side, with the envelope's
//! metadata and bounded retries: what the administrative mutations and `masar demo` share.

use cqrs_es::{Aggregate, AggregateError};
use masar_domain::ids::ProgrammeCode;
use masar_domain::programme::{ProgrammeCommand, ProgrammeError};
use postgres_es::PostgresCqrs;

use crate::write::{retry_on_conflict, Envelope, WriteSide};

/// Runs `command` on the stream `aggregate_id` with the envelope's metadata, retrying lost
/// optimistic-concurrency races a bounded number of times.
pub async fn execute<A>(
    cqrs: &PostgresCqrs<A>,
    aggregate_id: &str,
    command: A::Command,
    envelope: &Envelope,
) -> Result<(), AggregateError<A::Error>>
where
    A: Aggregate,
    A::Command: Clone,
{
    let metadata = envelope.metadata();
    retry_on_conflict(|| {
        cqrs.execute_with_metadata(aggregate_id, command.clone(), metadata.clone())
    })
    .await
}

/// [`execute`] on a programme stream; when the programme rules name an organisation the
/// directory does not know (registered through another server meanwhile), the directory is
/// read again and the command decided once more.
pub async fn execute_programme(
    write: &WriteSide,
    code: &ProgrammeCode,
    command: ProgrammeCommand,
    envelope: &Envelope,
) -> Result<(), AggregateError<ProgrammeError>> {
    let result = execute(&write.programmes, code.as_str(), command.clone(), envelope).await;
    match result {
        Err(AggregateError::UserError(
            ProgrammeError::UnknownPartner { .. } | ProgrammeError::UnknownOrganisation { .. },
        )) => {
            if let Err(error) = write.directory.refresh(&write.pool).await {
                tracing::error!(error = %error, "refreshing the directory failed");
                return result;
            }
            execute(&write.programmes, code.as_str(), command, envelope).await
        }
        other => other,
    }
}

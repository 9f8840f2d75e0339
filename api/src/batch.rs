//! The batch path of `recordJourneyEvents`: a whole batch decided and appended in a few round
//! trips instead of one transaction per event.
//!
//! 1. One query finds which of the batch's event ids the log already holds (DUPLICATE in the
//!    same stream, EVENT_ID_REUSED in another).
//! 2. One query loads every beneficiary stream the batch touches; each is folded into its
//!    aggregate exactly as cqrs-es would.
//! 3. Each item is decided by the same domain code as the single-command path
//!    (`Aggregate::handle`), in input order per beneficiary, each accepted event applied
//!    before the next item of that beneficiary is decided.
//! 4. All new events are appended in one transaction with one multi-row INSERT into the same
//!    `events` table, through the same hash-chain trigger, so the rows are those the
//!    single-command path would store. Reads all happen before that transaction's first write.
//! 5. If that INSERT conflicts (another writer appended to one of the streams meanwhile), the
//!    streams are appended one transaction each, and only the items of the streams that still
//!    conflict go through the single-command path, with its bounded retries.

use std::collections::{BTreeMap, HashMap};

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use masar_domain::beneficiary::{
    Beneficiary, BeneficiaryCommand, BeneficiaryEvent, RecordJourneyEvent,
};
use masar_domain::directory::{Directory, DomainServices};
use masar_domain::ids::EventId;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::record::{
    complete_consent_withdrawal, decide_and_store, internal, reused, SubmissionOutcome,
    SubmissionStatus,
};
use crate::write::{Envelope, WriteSide};

/// Most items one `recordJourneyEvents` call may carry.
pub const MAX_BATCH: usize = 1000;

/// One row as postgres-es would insert it.
struct NewRow {
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
}

/// Records `items` in order and returns one outcome per item, in input order.
pub async fn record_batch(
    write: &WriteSide,
    items: Vec<RecordJourneyEvent>,
    token_id: Option<Uuid>,
) -> Vec<SubmissionOutcome> {
    let mut outcomes: Vec<Option<SubmissionOutcome>> = vec![None; items.len()];

    // 1. Event ids the log already holds.
    let ids: Vec<Uuid> = items.iter().map(|item| item.event_id.as_uuid()).collect();
    let known = match locate_events(&write.pool, &ids).await {
        Ok(known) => known,
        Err(error) => return all_internal(&items, &error),
    };
    let mut pending: Vec<usize> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match known.get(&item.event_id.as_uuid()) {
            // A resubmission to the same stream: the aggregate answers it DUPLICATE, after
            // checking the caller may write there at all.
            Some((aggregate_type, aggregate_id, _))
                if aggregate_type == Beneficiary::TYPE
                    && *aggregate_id == item.beneficiary_id.to_string() =>
            {
                pending.push(index);
            }
            Some(_) => outcomes[index] = Some(reused(item.event_id)),
            None => pending.push(index),
        }
    }

    // The same new event id twice in one batch for different beneficiaries: the later ones
    // are reused ids. (For the same beneficiary, the aggregate reports the repeat.)
    let mut first_stream: HashMap<EventId, String> = HashMap::new();
    pending.retain(|&index| {
        let item = &items[index];
        let stream = item.beneficiary_id.to_string();
        match first_stream.get(&item.event_id) {
            Some(first) if *first != stream => {
                outcomes[index] = Some(reused(item.event_id));
                false
            }
            Some(_) => true,
            None => {
                first_stream.insert(item.event_id, stream);
                true
            }
        }
    });

    // Programmes registered through another server since the directory was read.
    let unknown_programme = pending.iter().any(|&index| match &items[index].fact {
        masar_domain::beneficiary::JourneyFact::Identified { programme_code, .. } => {
            write.directory.programme(programme_code).is_none()
        }
        _ => false,
    });
    if unknown_programme {
        if let Err(error) = write.directory.refresh(&write.pool).await {
            tracing::error!(error = %error, "refreshing the directory failed");
        }
    }

    // 2. Every stream the batch touches, in one round trip.
    let streams: Vec<String> = {
        let mut streams: Vec<String> = pending
            .iter()
            .map(|&index| items[index].beneficiary_id.to_string())
            .collect();
        streams.sort();
        streams.dedup();
        streams
    };
    let mut aggregates = match load_streams(&write.pool, &streams).await {
        Ok(aggregates) => aggregates,
        Err(error) => return all_internal(&items, &error),
    };

    // 3. Decide every item with the aggregate's own handle.
    let services = DomainServices {
        directory: write.directory.clone(),
    };
    let mut rows_by_stream: BTreeMap<String, Vec<(usize, NewRow)>> = BTreeMap::new();
    for &index in &pending {
        let item = &items[index];
        let stream = item.beneficiary_id.to_string();
        let aggregate = aggregates.entry(stream.clone()).or_default();
        let before = aggregate.version();
        let sink: EventSink<Beneficiary> = EventSink::default();
        let command = BeneficiaryCommand::Record(item.clone());
        match aggregate.handle(command, &services, &sink).await {
            Err(error) => {
                outcomes[index] = Some(SubmissionOutcome::rejected(
                    item.event_id,
                    error.code(),
                    error.to_string(),
                    error.field(),
                ));
            }
            Ok(()) => {
                let events = sink.collect().await;
                if events.is_empty() {
                    let sequence = aggregate.sequence_of(item.event_id).map_or(0, |s| s as i64);
                    outcomes[index] = Some(SubmissionOutcome::stored(
                        item.event_id,
                        SubmissionStatus::Duplicate,
                        sequence,
                    ));
                    continue;
                }
                let envelope = Envelope {
                    event_id: item.event_id,
                    occurred_at: item.occurred_at,
                    organisation: item.actor.organisation.clone(),
                    token_id,
                };
                let metadata = match serde_json::to_value(envelope.metadata()) {
                    Ok(metadata) => metadata,
                    Err(error) => {
                        tracing::error!(error = %error, "encoding event metadata failed");
                        outcomes[index] =
                            Some(internal(item.event_id, "the event could not be encoded"));
                        continue;
                    }
                };
                for (offset, event) in events.into_iter().enumerate() {
                    let payload = match serde_json::to_value(&event) {
                        Ok(payload) => payload,
                        Err(error) => {
                            tracing::error!(error = %error, "encoding an event failed");
                            outcomes[index] =
                                Some(internal(item.event_id, "the event could not be encoded"));
                            break;
                        }
                    };
                    rows_by_stream.entry(stream.clone()).or_default().push((
                        index,
                        NewRow {
                            aggregate_id: stream.clone(),
                            sequence: before as i64 + offset as i64 + 1,
                            event_type: event.event_type(),
                            event_version: event.event_version(),
                            payload,
                            metadata: metadata.clone(),
                        },
                    ));
                }
            }
        }
    }

    // 4. One multi-row INSERT for the whole batch.
    let all: Vec<&(usize, NewRow)> = rows_by_stream.values().flatten().collect();
    if !all.is_empty() {
        match insert_rows(&write.pool, all.iter().map(|(_, row)| row)).await {
            Ok(()) => accept(&rows_by_stream, &mut outcomes, &items),
            Err(error) if is_conflict(&error) => {
                // 5. Per stream; what still conflicts goes through the single-command path.
                for (stream, rows) in &rows_by_stream {
                    match insert_rows(&write.pool, rows.iter().map(|(_, row)| row)).await {
                        Ok(()) => accept_stream(rows, &mut outcomes, &items),
                        Err(error) if is_conflict(&error) => {
                            tracing::debug!(stream = %stream, "batch append conflicted, retrying one by one");
                            // The stream moved on: every item of it is decided again.
                            let of_stream: Vec<usize> = pending
                                .iter()
                                .copied()
                                .filter(|&i| items[i].beneficiary_id.to_string() == *stream)
                                .collect();
                            for index in of_stream {
                                outcomes[index] = Some(
                                    decide_and_store(write, items[index].clone(), token_id).await,
                                );
                            }
                        }
                        Err(error) => {
                            tracing::error!(error = %error, "batch append failed");
                            for (index, _) in rows {
                                outcomes[*index] = Some(internal(
                                    items[*index].event_id,
                                    "the event could not be stored",
                                ));
                            }
                        }
                    }
                }
            }
            Err(error) => {
                tracing::error!(error = %error, "batch append failed");
                for (index, _) in &all {
                    outcomes[*index] = Some(internal(
                        items[*index].event_id,
                        "the event could not be stored",
                    ));
                }
            }
        }
    }

    let mut results = Vec::with_capacity(items.len());
    for (outcome, item) in outcomes.into_iter().zip(items.iter()) {
        let outcome =
            outcome.unwrap_or_else(|| internal(item.event_id, "the event was not processed"));
        results.push(complete_consent_withdrawal(write, item, outcome).await);
    }
    results
}

fn accept(
    rows_by_stream: &BTreeMap<String, Vec<(usize, NewRow)>>,
    outcomes: &mut [Option<SubmissionOutcome>],
    items: &[RecordJourneyEvent],
) {
    for rows in rows_by_stream.values() {
        accept_stream(rows, outcomes, items);
    }
}

fn accept_stream(
    rows: &[(usize, NewRow)],
    outcomes: &mut [Option<SubmissionOutcome>],
    items: &[RecordJourneyEvent],
) {
    for (index, row) in rows {
        if outcomes[*index].is_none() {
            outcomes[*index] = Some(SubmissionOutcome::stored(
                items[*index].event_id,
                SubmissionStatus::Accepted,
                row.sequence,
            ));
        }
    }
}

async fn locate_events(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (String, String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT (metadata ->> 'event_id')::uuid AS event_id, aggregate_type, aggregate_id, sequence \
         FROM events WHERE (metadata ->> 'event_id')::uuid = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("event_id")?,
                (
                    row.try_get("aggregate_type")?,
                    row.try_get("aggregate_id")?,
                    row.try_get("sequence")?,
                ),
            ))
        })
        .collect()
}

async fn load_streams(
    pool: &PgPool,
    streams: &[String],
) -> Result<HashMap<String, Beneficiary>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT aggregate_id, payload FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2) ORDER BY aggregate_id, sequence",
    )
    .bind(Beneficiary::TYPE)
    .bind(streams)
    .fetch_all(pool)
    .await?;
    let mut aggregates: HashMap<String, Beneficiary> = HashMap::new();
    for row in rows {
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let payload: serde_json::Value = row.try_get("payload")?;
        let event: BeneficiaryEvent = serde_json::from_value(payload)
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        aggregates.entry(aggregate_id).or_default().apply(event);
    }
    Ok(aggregates)
}

async fn insert_rows<'a>(
    pool: &PgPool,
    rows: impl Iterator<Item = &'a NewRow>,
) -> Result<(), sqlx::Error> {
    let mut aggregate_ids = Vec::new();
    let mut sequences = Vec::new();
    let mut event_types = Vec::new();
    let mut event_versions = Vec::new();
    let mut payloads = Vec::new();
    let mut metadata = Vec::new();
    for row in rows {
        aggregate_ids.push(row.aggregate_id.as_str());
        sequences.push(row.sequence);
        event_types.push(row.event_type.as_str());
        event_versions.push(row.event_version.as_str());
        payloads.push(row.payload.to_string());
        metadata.push(row.metadata.to_string());
    }
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT $1, aggregate_id, sequence, event_type, event_version, payload::json, metadata::json \
         FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[]) \
              WITH ORDINALITY AS r(aggregate_id, sequence, event_type, event_version, payload, metadata, n) \
         ORDER BY n",
    )
    .bind(Beneficiary::TYPE)
    .bind(&aggregate_ids)
    .bind(&sequences)
    .bind(&event_types)
    .bind(&event_versions)
    .bind(&payloads)
    .bind(&metadata)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

fn is_conflict(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

fn all_internal(items: &[RecordJourneyEvent], error: &sqlx::Error) -> Vec<SubmissionOutcome> {
    tracing::error!(error = %error, "reading the event log for a batch failed");
    items
        .iter()
        .map(|item| internal(item.event_id, "the event log could not be read"))
        .collect()
}

//! What the queries read, folded from the streams themselves.
//!
//! **Interim**: until the projections land, every read folds events from the `events` table
//! (single streams through `masar_projections::event_log::read_stream`; lists in one query
//! per aggregate type). Listing beneficiaries therefore reads every beneficiary event on each
//! call — fine for a field office's thousands, not for Work4Life's fifteen thousand; the
//! beneficiary projection replaces [`beneficiaries`] without changing the resolvers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use masar_domain::beneficiary::{Beneficiary, BeneficiaryEvent};
use masar_domain::ids::BeneficiaryId;
use masar_domain::organisation::{Organisation, OrganisationEvent};
use masar_domain::programme::{Programme, ProgrammeEvent};
use masar_projections::event_log::{read_stream, StoredEvent};
use serde::de::DeserializeOwned;
use sqlx::{PgPool, Row};

use super::error::ApiError;

/// A beneficiary's stream, folded, with when each event was stored.
#[derive(Debug, Clone)]
pub struct BeneficiaryStream {
    /// The beneficiary.
    pub id: BeneficiaryId,
    /// The aggregate, as the write side would load it.
    pub beneficiary: Beneficiary,
    /// `recorded_at` of each event, by sequence.
    pub recorded_at: BTreeMap<i64, DateTime<Utc>>,
}

fn decode<T: DeserializeOwned>(
    aggregate_id: &str,
    payload: serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(payload).map_err(|error| {
        ApiError::internal(
            &format!("stream {aggregate_id} holds an event that cannot be read"),
            &error,
        )
    })
}

fn fold<A: Aggregate>(events: &[StoredEvent]) -> Result<A, ApiError>
where
    A::Event: DeserializeOwned,
{
    let mut aggregate = A::default();
    for event in events {
        aggregate.apply(decode(&event.aggregate_id, event.payload.clone())?);
    }
    Ok(aggregate)
}

/// One beneficiary's stream, or `None` when it has no event.
pub async fn beneficiary(
    pool: &PgPool,
    id: BeneficiaryId,
) -> Result<Option<BeneficiaryStream>, ApiError> {
    let events = read_stream(pool, Beneficiary::TYPE, &id.to_string()).await?;
    if events.is_empty() {
        return Ok(None);
    }
    Ok(Some(BeneficiaryStream {
        id,
        beneficiary: fold(&events)?,
        recorded_at: events.iter().map(|e| (e.sequence, e.recorded_at)).collect(),
    }))
}

/// Every beneficiary stream (interim: see the module documentation).
pub async fn beneficiaries(pool: &PgPool) -> Result<Vec<BeneficiaryStream>, ApiError> {
    let rows = sqlx::query(
        "SELECT aggregate_id, sequence, payload, recorded_at FROM events \
         WHERE aggregate_type = $1 ORDER BY aggregate_id, sequence",
    )
    .bind(Beneficiary::TYPE)
    .fetch_all(pool)
    .await?;
    let mut streams: Vec<BeneficiaryStream> = Vec::new();
    let mut current_id: Option<String> = None;
    for row in rows {
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let sequence: i64 = row.try_get("sequence")?;
        let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
        let event: BeneficiaryEvent = decode(&aggregate_id, row.try_get("payload")?)?;
        if current_id.as_deref() != Some(aggregate_id.as_str()) {
            let id = aggregate_id.parse::<BeneficiaryId>().map_err(|error| {
                ApiError::internal("a beneficiary stream has an id that is not a UUID", &error)
            })?;
            streams.push(BeneficiaryStream {
                id,
                beneficiary: Beneficiary::default(),
                recorded_at: BTreeMap::new(),
            });
            current_id = Some(aggregate_id);
        }
        let Some(current) = streams.last_mut() else {
            continue;
        };
        current.beneficiary.apply(event);
        current.recorded_at.insert(sequence, recorded_at);
    }
    Ok(streams)
}

/// One organisation's stream, folded; `None` when it is not registered.
pub async fn organisation(pool: &PgPool, code: &str) -> Result<Option<Organisation>, ApiError> {
    let events = read_stream(pool, Organisation::TYPE, code).await?;
    let organisation: Organisation = fold(&events)?;
    Ok(organisation.is_registered().then_some(organisation))
}

/// One programme's stream, folded; `None` when it is not registered.
pub async fn programme(pool: &PgPool, code: &str) -> Result<Option<Programme>, ApiError> {
    let events = read_stream(pool, Programme::TYPE, code).await?;
    let programme: Programme = fold(&events)?;
    Ok(programme.is_registered().then_some(programme))
}

/// Every registered organisation, by code.
pub async fn organisations(pool: &PgPool) -> Result<BTreeMap<String, Organisation>, ApiError> {
    let folded: BTreeMap<String, Organisation> =
        fold_all::<Organisation, OrganisationEvent>(pool, Organisation::TYPE).await?;
    Ok(folded
        .into_iter()
        .filter(|(_, organisation)| organisation.is_registered())
        .collect())
}

/// Every registered programme, by code.
pub async fn programmes(pool: &PgPool) -> Result<BTreeMap<String, Programme>, ApiError> {
    let folded: BTreeMap<String, Programme> =
        fold_all::<Programme, ProgrammeEvent>(pool, Programme::TYPE).await?;
    Ok(folded
        .into_iter()
        .filter(|(_, programme)| programme.is_registered())
        .collect())
}

async fn fold_all<A, E>(
    pool: &PgPool,
    aggregate_type: &str,
) -> Result<BTreeMap<String, A>, ApiError>
where
    A: Aggregate<Event = E>,
    E: DeserializeOwned,
{
    let rows = sqlx::query(
        "SELECT aggregate_id, payload FROM events WHERE aggregate_type = $1 \
         ORDER BY aggregate_id, sequence",
    )
    .bind(aggregate_type)
    .fetch_all(pool)
    .await?;
    let mut aggregates: BTreeMap<String, A> = BTreeMap::new();
    for row in rows {
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let event: E = decode(&aggregate_id, row.try_get("payload")?)?;
        aggregates.entry(aggregate_id).or_default().apply(event);
    }
    Ok(aggregates)
}

/// The global position of the latest event (0 for an empty log).
pub async fn log_head(pool: &PgPool) -> Result<i64, ApiError> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0)::bigint FROM events")
            .fetch_one(pool)
            .await?,
    )
}

//! What the queries read, folded from the streams themselves.
//!
//! A beneficiary is read from its own stream (always current); lists of beneficiaries are
//! filtered, counted and paged in the beneficiaries projection (`beneficiary_state`), and
//! their nodes read from their streams. Organisations and programmes are few: their streams
//! are folded on each read.

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

/// The streams of `ids` (those that have events), in the order of `ids`.
pub async fn beneficiaries_by_id(
    pool: &PgPool,
    ids: &[uuid::Uuid],
) -> Result<Vec<BeneficiaryStream>, ApiError> {
    let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let rows = sqlx::query(
        "SELECT aggregate_id, sequence, payload, recorded_at FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2) ORDER BY aggregate_id, sequence",
    )
    .bind(Beneficiary::TYPE)
    .bind(&texts)
    .fetch_all(pool)
    .await?;
    let mut streams: BTreeMap<String, BeneficiaryStream> = BTreeMap::new();
    for row in rows {
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let sequence: i64 = row.try_get("sequence")?;
        let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
        let event: BeneficiaryEvent = decode(&aggregate_id, row.try_get("payload")?)?;
        if !streams.contains_key(&aggregate_id) {
            let id = aggregate_id.parse::<BeneficiaryId>().map_err(|error| {
                ApiError::internal("a beneficiary stream has an id that is not a UUID", &error)
            })?;
            streams.insert(
                aggregate_id.clone(),
                BeneficiaryStream {
                    id,
                    beneficiary: Beneficiary::default(),
                    recorded_at: BTreeMap::new(),
                },
            );
        }
        if let Some(stream) = streams.get_mut(&aggregate_id) {
            stream.beneficiary.apply(event);
            stream.recorded_at.insert(sequence, recorded_at);
        }
    }
    Ok(texts.iter().filter_map(|id| streams.remove(id)).collect())
}

/// Which beneficiaries a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeneficiaryFilter {
    /// Only this programme's.
    pub programme_code: Option<String>,
    /// Only at this stage (contract name).
    pub stage: Option<&'static str>,
    /// Only identified in this region.
    pub region: Option<String>,
    /// Only those this organisation identified or was referred (a partner's scope).
    pub responsible: Option<String>,
}

const FILTER: &str = "identified_at IS NOT NULL \
    AND ($1::text IS NULL OR programme_code = $1) \
    AND ($2::text IS NULL OR stage = $2) \
    AND ($3::text IS NULL OR region = $3) \
    AND ($4::text IS NULL OR partner_code = $4 OR $4 = ANY(referred_to))";

/// How many beneficiaries of the projection match `filter`.
pub async fn count_beneficiaries(
    pool: &PgPool,
    filter: &BeneficiaryFilter,
) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT count(*) FROM beneficiary_state WHERE {FILTER}"
    ))
    .bind(&filter.programme_code)
    .bind(filter.stage)
    .bind(&filter.region)
    .bind(&filter.responsible)
    .fetch_one(pool)
    .await?)
}

/// The ids of at most `limit` beneficiaries matching `filter`, oldest identification first,
/// after `after` (identification time in microseconds, id).
pub async fn page_of_beneficiaries(
    pool: &PgPool,
    filter: &BeneficiaryFilter,
    after: Option<(i64, uuid::Uuid)>,
    limit: i64,
) -> Result<Vec<uuid::Uuid>, ApiError> {
    let after_at = after
        .map(|(micros, _)| {
            DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(|| {
                ApiError::new(
                    masar_domain::ErrorCode::Validation,
                    "after: not a cursor of this list; pass an endCursor as received",
                )
                .with_field("after")
            })
        })
        .transpose()?;
    Ok(sqlx::query_scalar(&format!(
        "SELECT beneficiary_id FROM beneficiary_state WHERE {FILTER} \
           AND ($5::timestamptz IS NULL OR (identified_at, beneficiary_id) > ($5, $6)) \
         ORDER BY identified_at, beneficiary_id LIMIT $7"
    ))
    .bind(&filter.programme_code)
    .bind(filter.stage)
    .bind(&filter.region)
    .bind(&filter.responsible)
    .bind(after_at)
    .bind(after.map(|(_, id)| id))
    .bind(limit)
    .fetch_all(pool)
    .await?)
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

//! The write side: cqrs-es `CqrsFramework`s over postgres-es's `PostgresEventRepository`, the
//! metadata envelope every event carries, and the directory of programmes and organisations
//! that the journey rules consult.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, SecondsFormat, Utc};
use cqrs_es::{Aggregate, AggregateError};
use masar_domain::beneficiary::Beneficiary;
use masar_domain::directory::{Directory, DomainServices, ProgrammeFacts};
use masar_domain::ids::{EventId, OrganisationCode, ProgrammeCode};
use masar_domain::organisation::{Organisation, OrganisationEvent};
use masar_domain::programme::{Programme, ProgrammeEvent};
use postgres_es::{postgres_cqrs, PostgresCqrs};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// How many times a command that lost an optimistic-concurrency race is retried before the
/// caller is told CONFLICT.
pub const MAX_CONFLICT_RETRIES: usize = 5;

/// What every event's metadata records besides the event itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The client's idempotency key, unique across the whole log.
    pub event_id: EventId,
    /// When it happened, as the client says.
    pub occurred_at: DateTime<Utc>,
    /// The recording organisation.
    pub organisation: OrganisationCode,
    /// The API token that wrote it, when there is one.
    pub token_id: Option<Uuid>,
}

impl Envelope {
    /// The metadata map stored beside the payload.
    pub fn metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::new();
        metadata.insert("event_id".to_owned(), self.event_id.to_string());
        metadata.insert(
            "occurred_at".to_owned(),
            self.occurred_at
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
        metadata.insert(
            "organisation".to_owned(),
            self.organisation.as_str().to_owned(),
        );
        if let Some(token_id) = self.token_id {
            metadata.insert("token_id".to_owned(), token_id.to_string());
        }
        metadata
    }
}

/// The programmes and organisations known to the write side, folded from their own streams
/// (never from a projection) and held in memory for the synchronous journey rules.
#[derive(Debug, Default)]
pub struct StreamDirectory {
    programmes: RwLock<BTreeMap<ProgrammeCode, ProgrammeFacts>>,
    organisations: RwLock<BTreeSet<OrganisationCode>>,
}

impl Directory for StreamDirectory {
    fn programme(&self, code: &ProgrammeCode) -> Option<ProgrammeFacts> {
        let programmes = self.programmes.read().unwrap_or_else(|e| e.into_inner());
        programmes.get(code).cloned()
    }

    fn organisation_exists(&self, code: &OrganisationCode) -> bool {
        let organisations = self.organisations.read().unwrap_or_else(|e| e.into_inner());
        organisations.contains(code)
    }
}

impl StreamDirectory {
    /// Re-reads every programme and organisation stream.
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), DirectoryError> {
        let rows = sqlx::query(
            "SELECT aggregate_type, aggregate_id, payload FROM events \
             WHERE aggregate_type IN ($1, $2) ORDER BY aggregate_type, aggregate_id, sequence",
        )
        .bind(Programme::TYPE)
        .bind(Organisation::TYPE)
        .fetch_all(pool)
        .await?;
        let mut programmes: BTreeMap<String, Programme> = BTreeMap::new();
        let mut organisations: BTreeMap<String, Organisation> = BTreeMap::new();
        for row in rows {
            let aggregate_type: String = row.try_get("aggregate_type")?;
            let aggregate_id: String = row.try_get("aggregate_id")?;
            let payload: serde_json::Value = row.try_get("payload")?;
            if aggregate_type == Programme::TYPE {
                let event: ProgrammeEvent = serde_json::from_value(payload)
                    .map_err(|e| DirectoryError::Corrupt(aggregate_id.clone(), e))?;
                programmes.entry(aggregate_id).or_default().apply(event);
            } else {
                let event: OrganisationEvent = serde_json::from_value(payload)
                    .map_err(|e| DirectoryError::Corrupt(aggregate_id.clone(), e))?;
                organisations.entry(aggregate_id).or_default().apply(event);
            }
        }
        let programmes: BTreeMap<ProgrammeCode, ProgrammeFacts> = programmes
            .values()
            .filter_map(Programme::facts)
            .map(|facts| (facts.code.clone(), facts))
            .collect();
        let organisations: BTreeSet<OrganisationCode> = organisations
            .values()
            .filter_map(|o| o.code().cloned())
            .collect();
        *self.programmes.write().unwrap_or_else(|e| e.into_inner()) = programmes;
        *self
            .organisations
            .write()
            .unwrap_or_else(|e| e.into_inner()) = organisations;
        Ok(())
    }
}

/// Reading the directory's streams failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The database did not answer.
    #[error("reading programmes and organisations: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored event does not have the shape of its type.
    #[error("stream {0} holds an event that cannot be read: {1}")]
    Corrupt(String, serde_json::Error),
}

/// The three command pipelines over one PostgreSQL event log.
#[derive(Clone)]
pub struct WriteSide {
    /// The database.
    pub pool: PgPool,
    /// Programmes and organisations, for the journey rules.
    pub directory: Arc<StreamDirectory>,
    /// One stream per beneficiary.
    pub beneficiaries: Arc<PostgresCqrs<Beneficiary>>,
    /// One stream per programme.
    pub programmes: Arc<PostgresCqrs<Programme>>,
    /// One stream per organisation.
    pub organisations: Arc<PostgresCqrs<Organisation>>,
}

impl WriteSide {
    /// Wires the frameworks to `pool` and loads the directory.
    pub async fn new(pool: PgPool) -> Result<Self, DirectoryError> {
        let directory = Arc::new(StreamDirectory::default());
        directory.refresh(&pool).await?;
        let services = DomainServices {
            directory: directory.clone(),
        };
        Ok(Self {
            beneficiaries: Arc::new(postgres_cqrs(pool.clone(), vec![], services.clone())),
            programmes: Arc::new(postgres_cqrs(pool.clone(), vec![], services.clone())),
            organisations: Arc::new(postgres_cqrs(pool.clone(), vec![], services)),
            directory,
            pool,
        })
    }
}

/// Runs `attempt` again while it loses an optimistic-concurrency race, at most
/// [`MAX_CONFLICT_RETRIES`] more times; the last conflict is returned as such.
pub async fn retry_on_conflict<E, F, Fut>(mut attempt: F) -> Result<(), AggregateError<E>>
where
    E: std::error::Error,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), AggregateError<E>>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(AggregateError::AggregateConflict) if retries < MAX_CONFLICT_RETRIES => {
                retries += 1;
                tracing::debug!(retries, "append conflict, retrying");
            }
            other => return other,
        }
    }
}

/// Where an event id is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLocation {
    /// Stream type.
    pub aggregate_type: String,
    /// Stream id.
    pub aggregate_id: String,
    /// Sequence within the stream.
    pub sequence: i64,
}

/// Finds the stream that holds `event_id`, if any: how a resubmission is told apart from an
/// event id reused for another stream (served by the unique index on the event id).
pub async fn locate_event(
    pool: &PgPool,
    event_id: EventId,
) -> Result<Option<EventLocation>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence FROM events \
         WHERE (metadata ->> 'event_id')::uuid = $1",
    )
    .bind(event_id.as_uuid())
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(EventLocation {
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
        })
    })
    .transpose()
}

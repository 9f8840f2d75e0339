//! The contract's `Query`: adapters from arguments to reads of the streams, with access
//! decided by the policy (`crate::auth::Access`).

use async_graphql::{Context, Object};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cqrs_es::Aggregate;
use masar_domain::beneficiary::Beneficiary;
use masar_domain::ids::BeneficiaryId;
use masar_domain::organisation::Organisation;
use masar_domain::programme::Programme;
use masar_domain::values;
use masar_domain::ErrorCode;
use masar_projections::event_log::{read_log, read_stream};
use masar_projections::{activities, beneficiaries, feed, rebuild};

use super::enums::{Dimension, Stage};
use super::error::ApiError;
use super::indicators::{self, IndicatorRequest};
use super::inputs::{sql_argument, PeriodInput};
use super::reads;
use super::scalars::{DateTime, Position, Uuid};
use super::schema::SchemaOptions;
use super::stale::wait_for_projection;
use super::types::{
    int, BeneficiaryConnection, BeneficiaryEdge, BeneficiaryObject, EventLogPage, IndicatorReport,
    IntegrityReport, OrganisationObject, PageInfo, PrincipalObject, ProgrammeObject,
    ProjectionStatus, RecordedEvent,
};
use super::{api, gates, principal};
use crate::auth::{Access, BeneficiaryScope};

/// Most beneficiaries one page may hold.
pub const MAX_BENEFICIARIES_PAGE: i32 = 500;

/// Most events one page of the log may hold.
pub const MAX_LOG_PAGE: i32 = 10_000;

/// Reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct Query;

#[Object]
impl Query {
    /// Who the token belongs to.
    async fn me(&self, ctx: &Context<'_>) -> Result<PrincipalObject, ApiError> {
        let principal = principal(ctx)?;
        let api = api(ctx)?;
        let code = principal.organisation.as_str();
        let organisation = reads::organisation(&api.write.pool, code)
            .await?
            .as_ref()
            .and_then(OrganisationObject::from_aggregate)
            .unwrap_or_else(|| OrganisationObject::code_only(code));
        Ok(PrincipalObject {
            organisation,
            role: principal.role.into(),
        })
    }

    /// The registered organisations, by code.
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<OrganisationObject>, ApiError> {
        Access::can_read_organisations(principal(ctx)?)?;
        let organisations = reads::organisations(&api(ctx)?.write.pool).await?;
        Ok(organisations
            .values()
            .filter_map(OrganisationObject::from_aggregate)
            .collect())
    }

    /// The registered programmes, by code.
    async fn programmes(&self, ctx: &Context<'_>) -> Result<Vec<ProgrammeObject>, ApiError> {
        Access::can_read_programmes(principal(ctx)?)?;
        let pool = &api(ctx)?.write.pool;
        let organisations = reads::organisations(pool).await?;
        let programmes = reads::programmes(pool).await?;
        Ok(programmes
            .values()
            .filter_map(|programme| ProgrammeObject::from_aggregate(programme, &organisations))
            .collect())
    }

    /// One programme, or null when no programme has this code.
    async fn programme(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> Result<Option<ProgrammeObject>, ApiError> {
        Access::can_read_programmes(principal(ctx)?)?;
        let pool = &api(ctx)?.write.pool;
        let code = sql_argument("code", code.trim())?;
        let Some(programme) = reads::programme(pool, code).await? else {
            return Ok(None);
        };
        let organisations = reads::organisations(pool).await?;
        Ok(ProgrammeObject::from_aggregate(&programme, &organisations))
    }

    /// A beneficiary the caller may see (ADMIN, AUDITOR, or the owning/referred PARTNER);
    /// null otherwise.
    async fn beneficiary(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> Result<Option<BeneficiaryObject>, ApiError> {
        let principal = principal(ctx)?;
        let Some(stream) =
            reads::beneficiary(&api(ctx)?.write.pool, BeneficiaryId::new(id.0)).await?
        else {
            return Ok(None);
        };
        if Access::can_read_beneficiary(principal, &stream.beneficiary).is_err() {
            return Ok(None);
        }
        Ok(BeneficiaryObject::new(stream))
    }

    /// Relay-style page of beneficiaries the caller may see, oldest identification first.
    /// Filters and counts come from the beneficiaries projection; each node is its stream.
    async fn beneficiaries(
        &self,
        ctx: &Context<'_>,
        programme_code: Option<String>,
        stage: Option<Stage>,
        region: Option<String>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<BeneficiaryConnection, ApiError> {
        let scope = Access::beneficiary_scope(principal(ctx)?)?;
        let first = first.unwrap_or(50);
        if !(0..=MAX_BENEFICIARIES_PAGE).contains(&first) {
            return Err(ApiError::new(
                ErrorCode::Validation,
                format!("first: give a number from 0 to {MAX_BENEFICIARIES_PAGE}"),
            )
            .with_field("first"));
        }
        let after = after.as_deref().map(Cursor::decode).transpose()?;
        let programme_code = programme_code
            .as_deref()
            .map(|code| sql_argument("programmeCode", code.trim()))
            .transpose()?;
        let region = region
            .as_deref()
            .map(|region| sql_argument("region", region.trim()))
            .transpose()?;
        let pool = &api(ctx)?.write.pool;
        // Read what was written before this request (the runner is usually milliseconds
        // behind); past the wait, answer with what the projection holds, marked stale.
        wait_for_projection(ctx, pool, beneficiaries::NAME).await?;
        let filter = reads::BeneficiaryFilter {
            programme_code: programme_code.map(str::to_owned),
            stage: stage.map(|stage| values::Stage::from(stage).as_str()),
            region: region.map(str::to_owned),
            responsible: match scope {
                BeneficiaryScope::Every => None,
                BeneficiaryScope::ResponsibleFor(organisation) => {
                    Some(organisation.as_str().to_owned())
                }
            },
        };
        let total_count = int(reads::count_beneficiaries(pool, &filter).await?);
        let page = reads::page_of_beneficiaries(
            pool,
            &filter,
            after.map(|cursor| (cursor.identified_at_micros, cursor.id)),
            i64::from(first) + 1,
        )
        .await?;
        let has_next_page = page.len() > usize::try_from(first).unwrap_or(0);
        let ids: Vec<uuid::Uuid> = page
            .into_iter()
            .take(usize::try_from(first).unwrap_or(0))
            .collect();
        let streams = reads::beneficiaries_by_id(pool, &ids).await?;
        let edges: Vec<BeneficiaryEdge> = streams
            .into_iter()
            .filter_map(BeneficiaryObject::new)
            .map(|node| BeneficiaryEdge {
                cursor: Cursor::of(&node).encode(),
                node,
            })
            .collect();
        Ok(BeneficiaryConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|edge| edge.cursor.clone()),
            },
            edges,
            total_count,
        })
    }

    /// Indicator table of one programme. See api/contract/INDICATORS.md for the exact
    /// definitions.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::cost::indicators(as_of.is_some(), \
        disaggregate_by.as_ref().map_or(0, Vec::len), child_complexity)")]
    async fn indicators(
        &self,
        ctx: &Context<'_>,
        programme_code: String,
        period: Option<PeriodInput>,
        as_of: Option<DateTime>,
        #[graphql(default_with = "Some(Vec::new())")] disaggregate_by: Option<Vec<Dimension>>,
        #[graphql(default_with = "Some(\"fr\".to_owned())")] language: Option<String>,
    ) -> Result<IndicatorReport, ApiError> {
        let principal = principal(ctx)?;
        Access::can_read_indicators(principal)?;
        if as_of.is_some() {
            Access::can_read_indicators_as_of(principal)
                .map_err(|denied| ApiError::from(denied).with_field("asOf"))?;
        }
        sql_argument("programmeCode", &programme_code)?;
        let options = ctx.data::<SchemaOptions>().copied().unwrap_or_default();
        let pool = &api(ctx)?.write.pool;
        for name in [beneficiaries::NAME, activities::NAME] {
            wait_for_projection(ctx, pool, name).await?;
        }
        let request = IndicatorRequest {
            programme_code,
            period,
            as_of,
            disaggregate_by: disaggregate_by.unwrap_or_default(),
            language: language.unwrap_or_else(|| "fr".to_owned()),
            suppress_below: Access::suppresses_small_counts(principal)
                .then_some(options.small_cell_threshold),
        };
        // An as-of report refolds every stream of the programme: it waits its turn.
        let _turn = match request.as_of {
            Some(_) => Some(gates(ctx)?.heavy_read().await?),
            None => None,
        };
        indicators::report(pool, request).await
    }

    /// The raw global event log, in order (ADMIN, AUDITOR).
    #[graphql(complexity = "super::cost::event_log(first, child_complexity)")]
    async fn event_log(
        &self,
        ctx: &Context<'_>,
        after: Option<Position>,
        #[graphql(default = 1000)] first: Option<i32>,
    ) -> Result<EventLogPage, ApiError> {
        Access::can_read_log(principal(ctx)?)?;
        let first = first.unwrap_or(1000);
        if !(0..=MAX_LOG_PAGE).contains(&first) {
            return Err(ApiError::new(
                ErrorCode::Validation,
                format!("first: give a number from 0 to {MAX_LOG_PAGE}"),
            )
            .with_field("first"));
        }
        let pool = &api(ctx)?.write.pool;
        let head = reads::log_head(pool).await?;
        let events = read_log(pool, after.map_or(0, |p| p.0), i64::from(first)).await?;
        Ok(EventLogPage {
            next_after: events.last().map(|e| Position(e.global_position)),
            events: events.into_iter().map(RecordedEvent::from).collect(),
            head: Position(head),
        })
    }

    /// One stream's raw events with their hash chain (ADMIN, AUDITOR). A programme and an
    /// organisation may share a code: then both streams are listed, programme first.
    async fn stream(
        &self,
        ctx: &Context<'_>,
        aggregate_id: String,
    ) -> Result<Vec<RecordedEvent>, ApiError> {
        Access::can_read_log(principal(ctx)?)?;
        let aggregate_id = sql_argument("aggregateId", &aggregate_id)?;
        let pool = &api(ctx)?.write.pool;
        let mut events = Vec::new();
        for aggregate_type in [Beneficiary::TYPE, Programme::TYPE, Organisation::TYPE] {
            events.extend(read_stream(pool, aggregate_type, aggregate_id).await?);
        }
        Ok(events.into_iter().map(RecordedEvent::from).collect())
    }

    /// Recompute every hash chain and the latest seal (ADMIN, AUDITOR).
    #[graphql(complexity = "super::cost::VERIFY_INTEGRITY + child_complexity")]
    async fn verify_integrity(&self, ctx: &Context<'_>) -> Result<IntegrityReport, ApiError> {
        Access::can_read_log(principal(ctx)?)?;
        // One verification at a time; the others wait without holding a connection.
        let _turn = gates(ctx)?.verification().await?;
        let pool = &api(ctx)?.write.pool;
        let trusted = ctx
            .data::<SchemaOptions>()
            .ok()
            .and_then(|options| options.trusted_seal_key);
        let report = masar_projections::verify::verify_log(pool, trusted.as_ref(), &|_| {}).await?;
        let mut problems: Vec<super::types::IntegrityProblem> = report
            .problems
            .iter()
            .map(|p| super::types::IntegrityProblem {
                aggregate_id: p.aggregate_id.clone(),
                sequence: p.sequence.map(int),
                kind: p.kind.as_str().to_owned(),
                detail: p.detail.clone(),
            })
            .collect();
        if report.problems_omitted > 0 {
            problems.push(super::types::IntegrityProblem {
                aggregate_id: String::new(),
                sequence: None,
                kind: "MORE_PROBLEMS".to_owned(),
                detail: format!(
                    "{} further problems are not listed",
                    report.problems_omitted
                ),
            });
        }
        Ok(IntegrityReport {
            ok: report.ok(),
            events_checked: int(report.events_checked),
            streams_checked: int(report.streams_checked),
            head: Position(report.head),
            latest_seal: report.latest_seal.map(super::types::Seal::from),
            problems,
        })
    }

    /// Each projection's position, the log head and the lag.
    async fn projections(&self, ctx: &Context<'_>) -> Result<Vec<ProjectionStatus>, ApiError> {
        Access::can_read_projection_status(principal(ctx)?)?;
        let pool = &api(ctx)?.write.pool;
        let progress = feed::progress(pool)
            .await
            .map_err(|error| ApiError::internal("reading the projections' progress", &error))?;
        let mut statuses = Vec::with_capacity(progress.len());
        for p in progress {
            statuses.push(ProjectionStatus {
                rebuilding: rebuild::is_rebuilding(pool, &p.name).await?,
                name: p.name,
                position: Position(p.position),
                head: Position(p.head),
                lag: int(p.lag),
            });
        }
        Ok(statuses)
    }
}

/// Where a page of beneficiaries ends: identification time, then id. Opaque to clients
/// (base64url of `<microseconds>:<uuid>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor {
    identified_at_micros: i64,
    id: uuid::Uuid,
}

impl Cursor {
    fn of(beneficiary: &BeneficiaryObject) -> Cursor {
        Cursor {
            identified_at_micros: beneficiary
                .identification()
                .identified_at
                .timestamp_micros(),
            id: beneficiary.stream().id.as_uuid(),
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.identified_at_micros, self.id))
    }

    fn decode(text: &str) -> Result<Cursor, ApiError> {
        let invalid = || {
            ApiError::new(
                ErrorCode::Validation,
                "after: not a cursor of this list; pass an endCursor or edge cursor as received",
            )
            .with_field("after")
        };
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Cursor {
            identified_at_micros: micros.parse().map_err(|_| invalid())?,
            id: uuid::Uuid::parse_str(id).map_err(|_| invalid())?,
        })
    }
}

//! The contract's `Mutation`: adapters from inputs to commands. Each parses its input into
//! domain values, asks the policy (`crate::auth::Access`), runs the command through the write
//! side, and maps the outcome once (`super::error`).

use async_graphql::{Context, Object};
use chrono::Utc;
use cqrs_es::{Aggregate, AggregateError};
use masar_domain::beneficiary::{JourneyFact, RecordJourneyEvent};
use masar_domain::directory::Directory;
use masar_domain::ids::{
    BeneficiaryId, CountryCode, EventId, OrganisationCode, ProgrammeCode, RegionCode,
};
use masar_domain::organisation::OrganisationCommand;
use masar_domain::programme::{Programme, ProgrammeCommand, ProgrammeError};
use masar_domain::values::{self, Actor, TargetValue};
use masar_domain::ErrorCode;
use uuid::Uuid as RawUuid;

use super::enums::{IndicatorCode, Role};
use super::error::ApiError;
use super::inputs::{
    parse_code, parse_codes, JourneyEventSubmission, ProgrammeActivitySubmission,
    RegisterOrganisationInput, RegisterProgrammeInput,
};
use super::reads;
use super::scalars::Uuid;
use super::schema::ApiContext;
use super::types::{
    no_master_key, BeneficiaryObject, IssuedTokenObject, OrganisationObject, ProgrammeObject,
    RecordJourneyEventsPayload, SubmissionResult,
};
use super::{api, principal};
use crate::admin::{execute, execute_programme};
use crate::auth::{Access, Principal};
use crate::batch::{record_batch, MAX_BATCH};
use crate::privacy::{self, ErasureRequest, KeyStore};
use crate::record::{SubmissionOutcome, SubmissionStatus};
use crate::write::{locate_event, Envelope};

/// Writes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// ADMIN.
    async fn register_organisation(
        &self,
        ctx: &Context<'_>,
        input: RegisterOrganisationInput,
    ) -> Result<OrganisationObject, ApiError> {
        let principal = principal(ctx)?;
        Access::can_administer(principal)?;
        let api = api(ctx)?;
        let code: OrganisationCode = parse_code("code", &input.code)?;
        let (event_id, envelope, now) = envelope(principal, None);
        let command = OrganisationCommand::Register {
            code: code.clone(),
            name: input.name,
            kind: input.kind,
            event_id,
            actor: principal.actor(),
            now,
        };
        execute(&api.write.organisations, code.as_str(), command, &envelope).await?;
        api.write.directory.refresh(&api.write.pool).await?;
        reads::organisation(&api.write.pool, code.as_str())
            .await?
            .as_ref()
            .and_then(OrganisationObject::from_aggregate)
            .ok_or_else(|| stored_but_unreadable("organisation"))
    }

    /// ADMIN.
    async fn register_programme(
        &self,
        ctx: &Context<'_>,
        input: RegisterProgrammeInput,
    ) -> Result<ProgrammeObject, ApiError> {
        let principal = principal(ctx)?;
        Access::can_administer(principal)?;
        let api = api(ctx)?;
        let code: ProgrammeCode = parse_code("code", &input.code)?;
        let country: CountryCode = parse_code("country", &input.country)?;
        let regions: Vec<RegionCode> = parse_codes("regions", &input.regions)?;
        let partners: Vec<OrganisationCode> = parse_codes("partnerCodes", &input.partner_codes)?;
        let (event_id, envelope, now) = envelope(principal, None);
        let command = ProgrammeCommand::Register {
            code: code.clone(),
            name: input.name,
            country,
            regions,
            start_date: input.start_date.0,
            end_date: input.end_date.map(|date| date.0),
            donors: input.donors,
            partners,
            description: input.description,
            event_id,
            actor: principal.actor(),
            now,
        };
        programme_command(api, &code, command, &envelope).await
    }

    /// ADMIN.
    async fn set_indicator_target(
        &self,
        ctx: &Context<'_>,
        programme_code: String,
        indicator: IndicatorCode,
        target: f64,
    ) -> Result<ProgrammeObject, ApiError> {
        let principal = principal(ctx)?;
        Access::can_administer(principal)?;
        let api = api(ctx)?;
        let code: ProgrammeCode = parse_code("programmeCode", &programme_code)?;
        let target = TargetValue::from_f64(target)
            .map_err(|problem| ApiError::invalid("target", &problem))?;
        let (event_id, envelope, now) = envelope(principal, None);
        let command = ProgrammeCommand::SetTarget {
            indicator: indicator.into(),
            target,
            event_id,
            actor: principal.actor(),
            now,
        };
        programme_command(api, &code, command, &envelope).await
    }

    /// ADMIN. The secret is returned once and stored only as a hash.
    async fn issue_api_token(
        &self,
        ctx: &Context<'_>,
        organisation_code: String,
        role: Role,
        label: String,
    ) -> Result<IssuedTokenObject, ApiError> {
        let principal = principal(ctx)?;
        Access::can_administer(principal)?;
        let api = api(ctx)?;
        let organisation: OrganisationCode = parse_code("organisationCode", &organisation_code)?;
        let issued = api
            .tokens
            .issue(&organisation, values::Role::from(role), &label)
            .await?;
        let organisation = reads::organisation(&api.write.pool, organisation.as_str())
            .await?
            .as_ref()
            .and_then(OrganisationObject::from_aggregate)
            .unwrap_or_else(|| OrganisationObject::code_only(issued.organisation.as_str()));
        Ok(IssuedTokenObject {
            id: Uuid(issued.id),
            secret: issued.secret.clone(),
            role: issued.role.into(),
            organisation,
        })
    }

    /// ADMIN. False when no token has this id.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool, ApiError> {
        let principal = principal(ctx)?;
        Access::can_administer(principal)?;
        Ok(api(ctx)?.tokens.revoke(id.0).await?)
    }

    /// PARTNER or ADMIN. Records a batch of journey events (at most 1000; more is a
    /// BATCH_TOO_LARGE error for the whole request). Items are processed in order; each gets
    /// its own result in input order; a rejected item does not stop the others. An ACCEPTED
    /// result means the event is durably stored. Resubmitting an eventId already recorded in
    /// that beneficiary's stream gives DUPLICATE and records nothing; reusing it for a
    /// different beneficiary is EVENT_ID_REUSED.
    async fn record_journey_events(
        &self,
        ctx: &Context<'_>,
        events: Vec<JourneyEventSubmission>,
    ) -> Result<RecordJourneyEventsPayload, ApiError> {
        let principal = principal(ctx)?;
        Access::can_record_journey(principal, None)?;
        if events.len() > MAX_BATCH {
            return Err(ApiError::new(
                ErrorCode::BatchTooLarge,
                format!(
                    "{} events in one request; at most {MAX_BATCH} are accepted: split the batch \
                     and send the parts one after the other",
                    events.len()
                ),
            )
            .with_field("events"));
        }
        let api = api(ctx)?;
        let actor = principal.actor();
        let now = Utc::now();
        let event_ids: Vec<EventId> = events
            .iter()
            .map(JourneyEventSubmission::event_id)
            .collect();
        let mut outcomes: Vec<Option<SubmissionOutcome>> = vec![None; events.len()];
        let mut items = Vec::with_capacity(events.len());
        let mut positions = Vec::with_capacity(events.len());
        for (index, submission) in events.into_iter().enumerate() {
            let event_id = event_ids[index];
            match prepare(api, submission, &actor, now).await {
                Ok(item) => {
                    items.push(item);
                    positions.push(index);
                }
                Err(error) => outcomes[index] = Some(rejected(event_id, &error)),
            }
        }
        let recorded = record_batch(&api.write, items, Some(principal.token_id)).await;
        for (index, outcome) in positions.into_iter().zip(recorded) {
            outcomes[index] = Some(outcome);
        }
        let outcomes = outcomes
            .into_iter()
            .zip(event_ids)
            .map(|(outcome, event_id)| {
                outcome.unwrap_or_else(|| {
                    rejected(
                        event_id,
                        &ApiError::internal("recording a batch", &"an item got no outcome"),
                    )
                })
            })
            .collect();
        Ok(RecordJourneyEventsPayload::new(outcomes))
    }

    /// PARTNER or ADMIN: programme-level activities (companies engaged, trainers trained).
    async fn record_programme_activity(
        &self,
        ctx: &Context<'_>,
        input: ProgrammeActivitySubmission,
    ) -> Result<SubmissionResult, ApiError> {
        let principal = principal(ctx)?;
        let api = api(ctx)?;
        let activity_id = EventId::new(input.activity_id.0);
        Ok(record_activity(api, principal, input)
            .await
            .unwrap_or_else(|error| rejected(activity_id, &error))
            .into())
    }

    /// ADMIN, or the owning PARTNER. Destroys the beneficiary's key: personal data becomes
    /// unreadable for ever.
    async fn erase_personal_data(
        &self,
        ctx: &Context<'_>,
        beneficiary_id: Uuid,
        reason: String,
    ) -> Result<BeneficiaryObject, ApiError> {
        let principal = principal(ctx)?;
        let api = api(ctx)?;
        let id = BeneficiaryId::new(beneficiary_id.0);
        let not_found = || {
            ApiError::new(
                ErrorCode::NotFound,
                format!("beneficiary {id} does not exist: check the id"),
            )
            .with_field("beneficiaryId")
        };
        let stream = reads::beneficiary(&api.write.pool, id)
            .await?
            .ok_or_else(not_found)?;
        Access::can_erase(principal, &stream.beneficiary)?;
        let keys = match &api.vault {
            Some(vault) => vault.keys().clone(),
            None => KeyStore::new(api.write.pool.clone()),
        };
        let request = ErasureRequest {
            beneficiary_id: id,
            actor: principal.actor(),
            reason,
            token_id: Some(principal.token_id),
        };
        privacy::erase(&api.write, &keys, request).await?;
        reads::beneficiary(&api.write.pool, id)
            .await?
            .and_then(BeneficiaryObject::new)
            .ok_or_else(not_found)
    }
}

/// A new event id, its envelope for `principal`, and the server's clock.
fn envelope(
    principal: &Principal,
    event_id: Option<EventId>,
) -> (EventId, Envelope, chrono::DateTime<Utc>) {
    let event_id = event_id.unwrap_or_else(|| EventId::new(RawUuid::new_v4()));
    let now = Utc::now();
    let envelope = Envelope {
        event_id,
        occurred_at: now,
        organisation: principal.organisation.clone(),
        token_id: Some(principal.token_id),
    };
    (event_id, envelope, now)
}

/// Runs a programme command, reads the directory again (it changed), and answers the
/// programme as it now is.
async fn programme_command(
    api: &ApiContext,
    code: &ProgrammeCode,
    command: ProgrammeCommand,
    envelope: &Envelope,
) -> Result<ProgrammeObject, ApiError> {
    execute_programme(&api.write, code, command, envelope).await?;
    api.write.directory.refresh(&api.write.pool).await?;
    programme_object(api, code).await
}

async fn programme_object(
    api: &ApiContext,
    code: &ProgrammeCode,
) -> Result<ProgrammeObject, ApiError> {
    let programme = reads::programme(&api.write.pool, code.as_str())
        .await?
        .ok_or_else(|| stored_but_unreadable("programme"))?;
    let organisations = reads::organisations(&api.write.pool).await?;
    ProgrammeObject::from_aggregate(&programme, &organisations)
        .ok_or_else(|| stored_but_unreadable("programme"))
}

fn stored_but_unreadable(what: &str) -> ApiError {
    ApiError::internal(
        &format!("the {what} was recorded but cannot be read back"),
        &"empty stream after a successful command",
    )
}

/// A REJECTED outcome for `event_id` carrying `error`.
fn rejected(event_id: EventId, error: &ApiError) -> SubmissionOutcome {
    SubmissionOutcome::rejected(
        event_id,
        error.code(),
        error.message().to_owned(),
        error.field(),
    )
}

/// One submission as the write side takes it: parsed, and its personal data sealed with the
/// beneficiary's key — never in an event in clear.
async fn prepare(
    api: &ApiContext,
    submission: JourneyEventSubmission,
    actor: &Actor,
    now: chrono::DateTime<Utc>,
) -> Result<RecordJourneyEvent, ApiError> {
    let parsed = submission.parse()?;
    let mut fact = parsed.fact;
    if let Some(data) = parsed.personal_data {
        // A resubmission records nothing: do not create a key for it (the batch reports it
        // DUPLICATE or EVENT_ID_REUSED from the log).
        let known = locate_event(&api.write.pool, parsed.event_id)
            .await?
            .is_some();
        if !known {
            let vault = api.vault.as_ref().ok_or_else(no_master_key)?;
            let sealed = vault.seal(parsed.beneficiary_id, &data).await?;
            if let JourneyFact::Identified { personal_data, .. } = &mut fact {
                *personal_data = Some(sealed);
            }
        }
    }
    Ok(RecordJourneyEvent {
        beneficiary_id: parsed.beneficiary_id,
        event_id: parsed.event_id,
        occurred_at: parsed.occurred_at,
        actor: actor.clone(),
        now,
        fact,
    })
}

/// Records one programme activity: DUPLICATE for an activity id already in this programme's
/// stream, EVENT_ID_REUSED for one used elsewhere; refusals as REJECTED outcomes (`Err` is
/// turned into one by the caller).
async fn record_activity(
    api: &ApiContext,
    principal: &Principal,
    input: ProgrammeActivitySubmission,
) -> Result<SubmissionOutcome, ApiError> {
    let activity_id = EventId::new(input.activity_id.0);
    let code: ProgrammeCode = parse_code("programmeCode", &input.programme_code)?;
    let activity = input.activity.parse()?;
    let write = &api.write;
    let mut facts = write.directory.programme(&code);
    if facts.is_none() {
        write.directory.refresh(&write.pool).await?;
        facts = write.directory.programme(&code);
    }
    // Access first: a caller who may not record here learns nothing, not even whether the
    // activity id is already recorded.
    if let Some(facts) = &facts {
        Access::can_record_in_programme(principal, facts)?;
    }
    if let Some(outcome) = known_activity(api, activity_id, &code).await? {
        return Ok(outcome);
    }
    let (_, envelope, now) = envelope(principal, Some(activity_id));
    let envelope = Envelope {
        occurred_at: input.occurred_at.0,
        ..envelope
    };
    let command = ProgrammeCommand::RecordActivity {
        activity_id,
        occurred_at: input.occurred_at.0,
        actor: principal.actor(),
        now,
        activity,
    };
    match execute_programme(write, &code, command, &envelope).await {
        Ok(()) => match known_activity(api, activity_id, &code).await? {
            Some(outcome) => Ok(SubmissionOutcome {
                status: SubmissionStatus::Accepted,
                ..outcome
            }),
            None => Err(ApiError::internal(
                "recording a programme activity",
                &"the accepted activity is not in the log",
            )),
        },
        // The activity id may have been stored meanwhile (the unique index answers like a
        // conflict).
        Err(AggregateError::AggregateConflict) => known_activity(api, activity_id, &code)
            .await?
            .ok_or_else(|| ApiError::from(AggregateError::<ProgrammeError>::AggregateConflict)),
        Err(error) => Err(error.into()),
    }
}

/// `Some` when the activity id is already stored: DUPLICATE in this programme's stream (with
/// its sequence), EVENT_ID_REUSED elsewhere.
async fn known_activity(
    api: &ApiContext,
    activity_id: EventId,
    code: &ProgrammeCode,
) -> Result<Option<SubmissionOutcome>, ApiError> {
    Ok(locate_event(&api.write.pool, activity_id)
        .await?
        .map(|location| {
            if location.aggregate_type == Programme::TYPE && location.aggregate_id == code.as_str()
            {
                SubmissionOutcome {
                    event_id: activity_id,
                    status: SubmissionStatus::Duplicate,
                    sequence: Some(location.sequence),
                    error: None,
                }
            } else {
                SubmissionOutcome::rejected(
                    activity_id,
                    ErrorCode::EventIdReused,
                    format!(
                    "activity id {activity_id} is already used by another stream: generate a new \
                     id for this activity"
                ),
                    Some("activityId"),
                )
            }
        }))
}

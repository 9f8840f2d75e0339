//! The contract's output types, and how each is built from the domain's state.

use async_graphql::{Context, Object, SimpleObject};
use masar_domain::beneficiary::{Identification, JourneyFact, JourneyRecord};
use masar_domain::organisation::Organisation;
use masar_domain::programme::Programme;
use masar_projections::event_log::StoredEvent;
use serde_json::{json, Value};

use super::enums::{
    AgeBand, ConsentScope, Dimension, ErrorCode, IndicatorCode, IndicatorKind, LegalStatus, Role,
    Sex, Stage, SubmissionStatus,
};
use super::error::ApiError;
use super::reads::BeneficiaryStream;
use super::scalars::{Date, DateTime, Json, Position, Uuid};
use super::{api, principal};
use crate::auth::Access;
use crate::record::SubmissionOutcome;

/// A whole number as GraphQL's 32-bit `Int`, saturating (sequences and counts never come
/// near the limit).
pub(crate) fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// A registered organisation.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
#[graphql(name = "Organisation")]
pub struct OrganisationObject {
    /// Its code, e.g. REMESS.
    pub code: String,
    /// Its name.
    pub name: String,
    /// What kind of organisation it is.
    pub kind: Option<String>,
}

impl OrganisationObject {
    /// The organisation as registered, `None` before registration.
    pub fn from_aggregate(organisation: &Organisation) -> Option<OrganisationObject> {
        Some(OrganisationObject {
            code: organisation.code()?.to_string(),
            name: organisation.name()?.to_owned(),
            kind: organisation.kind().map(str::to_owned),
        })
    }

    /// An organisation known by its code only (its stream could not be found).
    pub fn code_only(code: &str) -> OrganisationObject {
        OrganisationObject {
            code: code.to_owned(),
            name: code.to_owned(),
            kind: None,
        }
    }
}

/// Who a token belongs to.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
#[graphql(name = "Principal")]
pub struct PrincipalObject {
    /// The token's organisation.
    pub organisation: OrganisationObject,
    /// The token's role.
    pub role: Role,
}

/// The target of one indicator.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct IndicatorTarget {
    /// The indicator.
    pub indicator: IndicatorCode,
    /// Its target (a percentage for rates, days for medians, a count otherwise).
    pub target: f64,
}

/// A programme.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
#[graphql(name = "Programme")]
pub struct ProgrammeObject {
    /// Its code, e.g. AMUDDU-RSK.
    pub code: String,
    /// Its name.
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// ISO 3166-2 subdivision codes.
    pub regions: Vec<String>,
    /// No journey event may be dated before it.
    pub start_date: Date,
    /// Planned end.
    pub end_date: Option<Date>,
    /// Donors.
    pub donors: Vec<String>,
    /// The organisations that record journeys in it.
    pub partners: Vec<OrganisationObject>,
    /// The latest target of each indicator that has one.
    pub targets: Vec<IndicatorTarget>,
}

impl ProgrammeObject {
    /// The programme as registered (`None` before registration); partners are looked up in
    /// `organisations` (by code).
    pub fn from_aggregate(
        programme: &Programme,
        organisations: &std::collections::BTreeMap<String, Organisation>,
    ) -> Option<ProgrammeObject> {
        let registration = programme.registration()?;
        Some(ProgrammeObject {
            code: registration.code.to_string(),
            name: registration.name.clone(),
            country: registration.country.to_string(),
            regions: registration
                .regions
                .iter()
                .map(ToString::to_string)
                .collect(),
            start_date: Date(registration.start_date),
            end_date: registration.end_date.map(Date),
            donors: registration.donors.clone(),
            partners: registration
                .partners
                .iter()
                .map(|code| {
                    organisations
                        .get(code.as_str())
                        .and_then(OrganisationObject::from_aggregate)
                        .unwrap_or_else(|| OrganisationObject::code_only(code.as_str()))
                })
                .collect(),
            targets: programme
                .targets()
                .iter()
                .map(|(indicator, target)| IndicatorTarget {
                    indicator: (*indicator).into(),
                    target: target.to_f64(),
                })
                .collect(),
        })
    }
}

/// A beneficiary's personal data, in clear (only for the roles that may read it).
#[derive(SimpleObject, Clone, PartialEq, Eq)]
#[graphql(name = "PersonalData")]
pub struct PersonalDataObject {
    /// Full name.
    pub full_name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Identity document number.
    pub document_number: Option<String>,
}

impl std::fmt::Debug for PersonalDataObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonalDataObject([redacted])")
    }
}

/// A beneficiary, folded from their stream.
#[derive(Debug, Clone)]
pub struct BeneficiaryObject {
    stream: BeneficiaryStream,
    identification: Identification,
    stage: Stage,
}

impl BeneficiaryObject {
    /// The beneficiary of `stream`, `None` when it has no (non-retracted) identification.
    pub fn new(stream: BeneficiaryStream) -> Option<BeneficiaryObject> {
        let identification = stream.beneficiary.identified()?.clone();
        let stage = stream.beneficiary.stage()?.into();
        Some(BeneficiaryObject {
            stream,
            identification,
            stage,
        })
    }

    /// The folded stream.
    pub fn stream(&self) -> &BeneficiaryStream {
        &self.stream
    }

    /// Identification details.
    pub fn identification(&self) -> &Identification {
        &self.identification
    }

    /// The stage, in GraphQL terms.
    pub fn stage_value(&self) -> Stage {
        self.stage
    }
}

#[Object(name = "Beneficiary")]
impl BeneficiaryObject {
    /// The beneficiary's id, chosen by the client at identification.
    async fn id(&self) -> Uuid {
        Uuid(self.stream.id.as_uuid())
    }

    /// The programme.
    async fn programme_code(&self) -> String {
        self.identification.programme_code.to_string()
    }

    /// Organisation that identified the beneficiary.
    async fn partner_code(&self) -> String {
        self.identification.partner.to_string()
    }

    /// The furthest pathway step reached.
    async fn stage(&self) -> Stage {
        self.stage
    }

    /// Identified and not exited.
    async fn active(&self) -> bool {
        self.stream.beneficiary.active()
    }

    /// Sex.
    async fn sex(&self) -> Sex {
        self.identification.sex.into()
    }

    /// Year of birth.
    async fn birth_year(&self) -> Option<i32> {
        self.identification.birth_year
    }

    /// Age band at identification.
    async fn age_band(&self) -> AgeBand {
        self.identification.age_band().into()
    }

    /// Nationality, ISO 3166-1 alpha-2.
    async fn nationality(&self) -> String {
        self.identification.nationality.to_string()
    }

    /// Legal status at identification.
    async fn legal_status(&self) -> LegalStatus {
        self.identification.legal_status.into()
    }

    /// Region, ISO 3166-2.
    async fn region(&self) -> String {
        self.identification.region.to_string()
    }

    /// City.
    async fn city(&self) -> Option<String> {
        self.identification.city.clone()
    }

    /// When the beneficiary was identified.
    async fn identified_at(&self) -> DateTime {
        DateTime(self.identification.identified_at)
    }

    /// Current consent.
    async fn consent(&self) -> Vec<ConsentScope> {
        self.stream
            .beneficiary
            .consent()
            .iter()
            .map(|scope| (*scope).into())
            .collect()
    }

    /// Null when the caller may not see personal data, or after erasure.
    async fn personal_data(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<PersonalDataObject>, ApiError> {
        let principal = principal(ctx)?;
        if Access::can_read_personal_data(principal, &self.stream.beneficiary).is_err() {
            return Ok(None);
        }
        let Some(sealed) = self.stream.beneficiary.personal_data() else {
            return Ok(None);
        };
        let Some(vault) = api(ctx)?.vault.as_ref() else {
            return Err(no_master_key());
        };
        Ok(vault
            .open(self.stream.id, sealed)
            .await?
            .map(|data| PersonalDataObject {
                full_name: data.full_name().map(str::to_owned),
                phone: data.phone().map(str::to_owned),
                document_number: data.document_number().map(str::to_owned),
            }))
    }

    /// Whether the personal data was erased.
    async fn personal_data_erased(&self) -> bool {
        self.stream.beneficiary.personal_data_erased()
    }

    /// The carnet de bord: every event of this beneficiary in stream order, retracted ones
    /// flagged.
    async fn journey(&self) -> Vec<JourneyEntry> {
        self.stream
            .beneficiary
            .journey()
            .iter()
            .map(|record| JourneyEntry::new(record, &self.stream))
            .collect()
    }

    /// Stream version: the sequence of the last event.
    async fn version(&self) -> i32 {
        int(self.stream.beneficiary.version())
    }
}

/// INTERNAL: personal data exists but this server cannot open it.
pub(crate) fn no_master_key() -> ApiError {
    ApiError::new(
        masar_domain::ErrorCode::Internal,
        "this server has no master key configured (MASAR_MASTER_KEY or MASAR_MASTER_KEY_FILE), \
         so it can neither record nor read personal data: ask the operator to configure it",
    )
    .with_field("personalData")
}

/// One event of a beneficiary's stream, as the carnet de bord shows it.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct JourneyEntry {
    /// The client's idempotency key.
    pub event_id: Uuid,
    /// Position in the stream.
    pub sequence: i32,
    /// Event type name, e.g. TrainingEnrolled.
    #[graphql(name = "type")]
    pub event_type: String,
    /// When it happened, as the client said.
    pub occurred_at: DateTime,
    /// When it was stored.
    pub recorded_at: DateTime,
    /// The organisation that recorded it.
    pub recorded_by: String,
    /// The event's fields, without personal data.
    pub data: Json,
    /// Whether a later event retracted it.
    pub retracted: bool,
    /// Why it was retracted.
    pub retraction_reason: Option<String>,
}

impl JourneyEntry {
    fn new(record: &JourneyRecord, stream: &BeneficiaryStream) -> JourneyEntry {
        let sequence = i64::try_from(record.sequence).unwrap_or(i64::MAX);
        JourneyEntry {
            event_id: Uuid(record.event_id.as_uuid()),
            sequence: int(sequence),
            event_type: record.fact.type_name().to_owned(),
            occurred_at: DateTime(record.occurred_at),
            // Every applied record was read from a row; the fallback cannot happen.
            recorded_at: DateTime(
                stream
                    .recorded_at
                    .get(&sequence)
                    .copied()
                    .unwrap_or(record.occurred_at),
            ),
            recorded_by: record.recorded_by.to_string(),
            data: Json(journey_data(&record.fact)),
            retracted: record.is_retracted(),
            retraction_reason: record.retraction_reason.clone(),
        }
    }
}

/// A fact's fields as the contract's input names them (camelCase, amounts in MAD), without
/// personal data: an `Identified` says only whether personal data was recorded.
pub fn journey_data(fact: &JourneyFact) -> Value {
    let mad = |money: &Option<masar_domain::values::Money>| money.map(|m| m.to_mad());
    match fact {
        JourneyFact::Identified {
            programme_code,
            sex,
            birth_year,
            nationality,
            legal_status,
            region,
            city,
            channel,
            household_with_children,
            education_level,
            consent,
            personal_data,
        } => json!({
            "programmeCode": programme_code,
            "sex": sex,
            "birthYear": birth_year,
            "nationality": nationality,
            "legalStatus": legal_status,
            "region": region,
            "city": city,
            "channel": channel,
            "householdWithChildren": household_with_children,
            "educationLevel": education_level,
            "consent": consent,
            "hasPersonalData": personal_data.is_some(),
        }),
        JourneyFact::ConsentGiven { scopes } | JourneyFact::ConsentWithdrawn { scopes } => {
            json!({ "scopes": scopes })
        }
        JourneyFact::Sensitised {
            topic,
            session_id,
            location,
        } => json!({ "topic": topic, "sessionId": session_id, "location": location }),
        JourneyFact::SkillsAssessed {
            skills,
            languages,
            notes,
        } => json!({ "skills": skills, "languages": languages, "notes": notes }),
        JourneyFact::Referred {
            service,
            organisation_code,
            note,
        } => json!({ "service": service, "organisationCode": organisation_code, "note": note }),
        JourneyFact::TrainingEnrolled {
            course_code,
            course_name,
            kind,
            planned_sessions,
        } => json!({
            "courseCode": course_code,
            "courseName": course_name,
            "kind": kind,
            "plannedSessions": planned_sessions,
        }),
        JourneyFact::WorkshopAttended {
            course_code,
            session_number,
        } => json!({ "courseCode": course_code, "sessionNumber": session_number }),
        JourneyFact::TrainingCompleted {
            course_code,
            certified,
        } => json!({ "courseCode": course_code, "certified": certified }),
        JourneyFact::TrainingDropped {
            course_code,
            reason,
        } => json!({ "courseCode": course_code, "reason": reason }),
        JourneyFact::IncubationStarted {
            venture_name,
            kind,
            sector,
            incubator,
        } => json!({
            "ventureName": venture_name,
            "kind": kind,
            "sector": sector,
            "incubator": incubator,
        }),
        JourneyFact::BusinessLaunched {
            venture_name,
            registered,
            grant_amount,
        } => json!({
            "ventureName": venture_name,
            "registered": registered,
            "grantAmountMad": mad(grant_amount),
        }),
        JourneyFact::Employed {
            kind,
            employer_name,
            employer_rse_labelled,
            sector,
            monthly_income,
        } => json!({
            "kind": kind,
            "employerName": employer_name,
            "employerRseLabelled": employer_rse_labelled,
            "sector": sector,
            "monthlyIncomeMad": mad(monthly_income),
        }),
        JourneyFact::EmploymentEnded { reason } | JourneyFact::PersonalDataErased { reason } => {
            json!({ "reason": reason })
        }
        JourneyFact::FollowedUp {
            still_in_activity,
            living_conditions,
            monthly_income,
            notes,
        } => json!({
            "stillInActivity": still_in_activity,
            "livingConditions": living_conditions,
            "monthlyIncomeMad": mad(monthly_income),
            "notes": notes,
        }),
        JourneyFact::Exited { reason, notes } => json!({ "reason": reason, "notes": notes }),
        JourneyFact::Retracted {
            retracted_event_id,
            reason,
        } => json!({ "retractedEventId": retracted_event_id, "reason": reason }),
    }
}

/// A Relay page of beneficiaries.
#[derive(SimpleObject, Debug, Clone)]
pub struct BeneficiaryConnection {
    /// The beneficiaries of this page.
    pub edges: Vec<BeneficiaryEdge>,
    /// Where the page ends.
    pub page_info: PageInfo,
    /// How many beneficiaries match, over every page.
    pub total_count: i32,
}

/// One beneficiary of a page.
#[derive(SimpleObject, Debug, Clone)]
pub struct BeneficiaryEdge {
    /// Pass as `after` to get the beneficiaries that follow this one.
    pub cursor: String,
    /// The beneficiary.
    pub node: BeneficiaryObject,
}

/// Where a page ends.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    /// Whether more beneficiaries follow.
    pub has_next_page: bool,
    /// The cursor of the page's last edge.
    pub end_cursor: Option<String>,
}

/// A period of days, both ends included.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct Period {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
}

/// The indicator table of one programme.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct IndicatorReport {
    /// The programme.
    pub programme_code: String,
    /// The period (on occurredAt).
    pub period: Period,
    /// The as-of instant (on recordedAt), if any.
    pub as_of: Option<DateTime>,
    /// Global log position that the figures reflect.
    pub position: Position,
    /// One value per indicator.
    pub indicators: Vec<IndicatorValue>,
}

/// One indicator's value.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct IndicatorValue {
    /// The indicator.
    pub code: IndicatorCode,
    /// Its label in the requested language.
    pub label: String,
    /// How it is computed.
    pub kind: IndicatorKind,
    /// Null when suppressed or when the denominator is 0.
    pub value: Option<f64>,
    /// Numerator.
    pub numerator: Option<i32>,
    /// Denominator.
    pub denominator: Option<i32>,
    /// Target.
    pub target: Option<f64>,
    /// Whether a small count was suppressed.
    pub suppressed: bool,
    /// Disaggregated values.
    pub breakdown: Vec<IndicatorCell>,
}

/// One cell of a disaggregation.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct IndicatorCell {
    /// The cell's coordinates.
    pub dimensions: Vec<DimensionValue>,
    /// Value.
    pub value: Option<f64>,
    /// Numerator.
    pub numerator: Option<i32>,
    /// Denominator.
    pub denominator: Option<i32>,
    /// Whether a small count was suppressed.
    pub suppressed: bool,
}

/// One coordinate of a cell.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct DimensionValue {
    /// The dimension.
    pub dimension: Dimension,
    /// Its value.
    pub value: String,
}

/// A page of the global event log.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct EventLogPage {
    /// The events, in global order.
    pub events: Vec<RecordedEvent>,
    /// Pass as `after` for the next page; null when this page is empty.
    pub next_after: Option<Position>,
    /// The position of the latest event.
    pub head: Position,
}

/// One stored event, as an auditor reads it.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Position in the global log.
    pub global_position: Position,
    /// Beneficiary, Programme or Organisation.
    pub aggregate_type: String,
    /// The stream's id.
    pub aggregate_id: String,
    /// Position in the stream.
    pub sequence: i32,
    /// Event type name.
    pub event_type: String,
    /// Version of the event's shape.
    pub event_version: String,
    /// The event's fields as stored (personal data only encrypted).
    pub payload: Json,
    /// The envelope: event id, recording organisation, occurred_at.
    pub metadata: Json,
    /// When the store wrote it.
    pub recorded_at: DateTime,
    /// Lower-case hex SHA-256.
    pub hash: String,
    /// The previous event's hash in the stream.
    pub previous_hash: Option<String>,
}

impl From<StoredEvent> for RecordedEvent {
    fn from(event: StoredEvent) -> Self {
        RecordedEvent {
            global_position: Position(event.global_position),
            aggregate_type: event.aggregate_type,
            aggregate_id: event.aggregate_id,
            sequence: int(event.sequence),
            event_type: event.event_type,
            event_version: event.event_version,
            payload: Json(event.payload),
            metadata: Json(event.metadata),
            recorded_at: DateTime(event.recorded_at),
            hash: event.hash,
            previous_hash: event.previous_hash,
        }
    }
}

/// The result of recomputing every hash chain.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct IntegrityReport {
    /// Whether nothing is wrong.
    pub ok: bool,
    /// Events checked.
    pub events_checked: i32,
    /// Streams checked.
    pub streams_checked: i32,
    /// The log head.
    pub head: Position,
    /// The latest seal.
    pub latest_seal: Option<Seal>,
    /// Every problem found.
    pub problems: Vec<IntegrityProblem>,
}

/// A signed seal over the log head.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct Seal {
    /// The head sealed.
    pub position: Position,
    /// The digest signed.
    pub digest: String,
    /// The signature.
    pub signature: String,
    /// The key that signed.
    pub public_key: String,
    /// When.
    pub sealed_at: DateTime,
}

impl From<masar_projections::seal::Seal> for Seal {
    fn from(seal: masar_projections::seal::Seal) -> Self {
        Seal {
            position: Position(seal.position),
            digest: seal.digest,
            signature: seal.signature,
            public_key: seal.public_key,
            sealed_at: DateTime(seal.sealed_at),
        }
    }
}

/// One integrity problem.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct IntegrityProblem {
    /// The stream.
    pub aggregate_id: String,
    /// The event, if one.
    pub sequence: Option<i32>,
    /// What kind of problem.
    pub kind: String,
    /// Details.
    pub detail: String,
}

/// A projection's progress.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    /// The projection.
    pub name: String,
    /// Its checkpoint.
    pub position: Position,
    /// The log head.
    pub head: Position,
    /// How many events behind.
    pub lag: i32,
    /// Whether it is being rebuilt.
    pub rebuilding: bool,
}

/// A newly issued API token. The secret is shown once.
#[derive(SimpleObject, Clone)]
#[graphql(name = "IssuedToken")]
pub struct IssuedTokenObject {
    /// The token's id (what revokeApiToken takes).
    pub id: Uuid,
    /// The secret, for `Authorization: Bearer`: shown once, stored only as a hash.
    pub secret: String,
    /// The token's role.
    pub role: Role,
    /// The organisation it acts for.
    pub organisation: OrganisationObject,
}

/// The results of recordJourneyEvents.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct RecordJourneyEventsPayload {
    /// One per submitted event, in input order.
    pub results: Vec<SubmissionResult>,
    /// How many were accepted.
    pub accepted: i32,
    /// How many were duplicates.
    pub duplicates: i32,
    /// How many were rejected.
    pub rejected: i32,
}

impl RecordJourneyEventsPayload {
    /// The payload of `outcomes`, in their order.
    pub fn new(outcomes: Vec<SubmissionOutcome>) -> RecordJourneyEventsPayload {
        let results: Vec<SubmissionResult> = outcomes.into_iter().map(Into::into).collect();
        let count =
            |status: SubmissionStatus| int(results.iter().filter(|r| r.status == status).count());
        RecordJourneyEventsPayload {
            accepted: count(SubmissionStatus::Accepted),
            duplicates: count(SubmissionStatus::Duplicate),
            rejected: count(SubmissionStatus::Rejected),
            results,
        }
    }
}

/// What happened to one submission.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct SubmissionResult {
    /// The submitted id.
    pub event_id: Uuid,
    /// Accepted, duplicate or rejected.
    pub status: SubmissionStatus,
    /// Stream sequence of the stored event (ACCEPTED, DUPLICATE).
    pub sequence: Option<i32>,
    /// Why it was rejected.
    pub error: Option<SubmissionError>,
}

impl From<SubmissionOutcome> for SubmissionResult {
    fn from(outcome: SubmissionOutcome) -> Self {
        SubmissionResult {
            event_id: Uuid(outcome.event_id.as_uuid()),
            status: outcome.status.into(),
            sequence: outcome.sequence.map(int),
            error: outcome.error.map(|error| SubmissionError {
                code: error.code.into(),
                message: error.message,
                field: error.field,
            }),
        }
    }
}

/// Why a submission was rejected.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct SubmissionError {
    /// The contract's code.
    pub code: ErrorCode,
    /// A message a field officer can act on.
    pub message: String,
    /// The input field at fault.
    pub field: Option<String>,
}

/// A notice that an event was recorded, without personal data.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct JourneyEventNotice {
    /// The event's global position.
    pub global_position: Position,
    /// The beneficiary's programme.
    pub programme_code: String,
    /// The beneficiary.
    pub beneficiary_id: Uuid,
    /// Event type name.
    pub event_type: String,
    /// When it happened.
    pub occurred_at: DateTime,
}

/// The projections applied new events of a programme: its indicator figures changed.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct IndicatorsUpdate {
    /// The programme.
    pub programme_code: String,
    /// Every committed event at or below this global position is reflected in its figures.
    pub position: Position,
}

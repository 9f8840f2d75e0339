//! Shared set-up of the api's integration tests: organisations, a programme and journey
//! facts, registered through the write side as an administrator would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use masar::write::{Envelope, WriteSide};
use masar_domain::beneficiary::{BeneficiaryCommand, JourneyFact, RecordJourneyEvent};
use masar_domain::ids::{
    BeneficiaryId, CountryCode, EventId, OrganisationCode, ProgrammeCode, RegionCode,
};
use masar_domain::organisation::OrganisationCommand;
use masar_domain::programme::{ProgrammeActivity, ProgrammeCommand};
use masar_domain::values::{Actor, LegalStatus, ReferralChannel, Role, Sex};
use uuid::Uuid;

pub fn org(code: &str) -> OrganisationCode {
    OrganisationCode::parse(code).unwrap()
}

pub fn admin() -> Actor {
    Actor {
        organisation: org("ENABEL"),
        role: Role::Admin,
    }
}

pub fn partner() -> Actor {
    Actor {
        organisation: org("REMESS"),
        role: Role::Partner,
    }
}

pub fn programme_code() -> ProgrammeCode {
    ProgrammeCode::parse("AMUDDU-RSK").unwrap()
}

pub async fn envelope_exec_org(write: &WriteSide, code: &str) {
    let event_id = EventId::new(Uuid::new_v4());
    let now = Utc::now();
    let envelope = Envelope {
        event_id,
        occurred_at: now,
        organisation: org("ENABEL"),
        token_id: None,
    };
    write
        .organisations
        .execute_with_metadata(
            code,
            OrganisationCommand::Register {
                code: org(code),
                name: format!("{code} organisation"),
                kind: None,
                event_id,
                actor: admin(),
                now,
            },
            envelope.metadata(),
        )
        .await
        .unwrap();
}

/// Registers ENABEL, REMESS and the AMUDDU-RSK programme, as an administrator would.
pub async fn set_up(write: &WriteSide) {
    envelope_exec_org(write, "ENABEL").await;
    envelope_exec_org(write, "REMESS").await;
    write.directory.refresh(&write.pool).await.unwrap();
    let event_id = EventId::new(Uuid::new_v4());
    let now = Utc::now();
    let envelope = Envelope {
        event_id,
        occurred_at: now,
        organisation: org("ENABEL"),
        token_id: None,
    };
    write
        .programmes
        .execute_with_metadata(
            programme_code().as_str(),
            ProgrammeCommand::Register {
                code: programme_code(),
                name: "Amuddu".into(),
                country: CountryCode::parse("MA").unwrap(),
                regions: vec![RegionCode::parse("MA-04").unwrap()],
                start_date: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
                end_date: None,
                donors: vec!["Belgian cooperation (Enabel)".into()],
                partners: vec![org("REMESS"), org("ENABEL")],
                description: None,
                event_id,
                actor: admin(),
                now,
            },
            envelope.metadata(),
        )
        .await
        .unwrap();
    write.directory.refresh(&write.pool).await.unwrap();
}

pub fn identified() -> JourneyFact {
    JourneyFact::Identified {
        programme_code: programme_code(),
        sex: Sex::Female,
        birth_year: Some(1994),
        nationality: CountryCode::parse("CI").unwrap(),
        legal_status: LegalStatus::RegularisedMigrant,
        region: RegionCode::parse("MA-04").unwrap(),
        city: Some("Rabat".into()),
        channel: ReferralChannel::Association,
        household_with_children: Some(true),
        education_level: None,
        consent: BTreeSet::new(),
        personal_data: None,
    }
}

pub fn sensitised(topic: &str) -> JourneyFact {
    JourneyFact::Sensitised {
        topic: topic.into(),
        session_id: None,
        location: None,
    }
}

pub fn command(
    beneficiary: BeneficiaryId,
    days: i64,
    fact: JourneyFact,
) -> (Envelope, BeneficiaryCommand) {
    let event_id = EventId::new(Uuid::new_v4());
    let occurred_at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap() + Duration::days(days);
    let envelope = Envelope {
        event_id,
        occurred_at,
        organisation: org("REMESS"),
        token_id: None,
    };
    let command = BeneficiaryCommand::Record(RecordJourneyEvent {
        beneficiary_id: beneficiary,
        event_id,
        occurred_at,
        actor: partner(),
        now: Utc::now(),
        fact,
    });
    (envelope, command)
}

pub async fn record(
    write: &WriteSide,
    beneficiary: BeneficiaryId,
    days: i64,
    fact: JourneyFact,
) -> Envelope {
    let (envelope, command) = command(beneficiary, days, fact);
    write
        .beneficiaries
        .execute_with_metadata(&beneficiary.to_string(), command, envelope.metadata())
        .await
        .unwrap();
    envelope
}

/// `identified()` with the given consent and sealed personal data.
pub fn identified_with(
    consent: BTreeSet<masar_domain::values::ConsentScope>,
    sealed: Option<masar_domain::values::EncryptedPersonalData>,
) -> JourneyFact {
    let mut fact = identified();
    if let JourneyFact::Identified {
        consent: given,
        personal_data,
        ..
    } = &mut fact
    {
        *given = consent;
        *personal_data = sealed;
    }
    fact
}

/// Records `activity` in AMUDDU-RSK as REMESS would; its id.
pub async fn activity(write: &WriteSide, activity: ProgrammeActivity) -> Uuid {
    let id = EventId::new(Uuid::new_v4());
    let occurred_at = Utc.with_ymd_and_hms(2024, 3, 5, 9, 0, 0).unwrap();
    let envelope = Envelope {
        event_id: id,
        occurred_at,
        organisation: org("REMESS"),
        token_id: None,
    };
    let command = ProgrammeCommand::RecordActivity {
        activity_id: id,
        occurred_at,
        actor: partner(),
        now: Utc::now(),
        activity,
    };
    masar::admin::execute_programme(write, &programme_code(), command, &envelope)
        .await
        .unwrap();
    id.as_uuid()
}

/// Rows of `beneficiary_state` whose applied events are not their stream's length or version:
/// each must have applied every event of its stream once.
pub async fn rows_not_counting_their_stream(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM beneficiary_state b \
         WHERE b.events_applied <> (SELECT count(*) FROM events e \
           WHERE e.aggregate_type = 'Beneficiary' AND e.aggregate_id = b.beneficiary_id::text) \
            OR b.events_applied <> b.version",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

//! Personal data on real PostgreSQL: encrypted per beneficiary, never stored in clear,
//! crypto-shredded by erasure without touching the hash chain, re-wrapped by rotation without
//! touching events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{admin, command, identified_with, sensitised, set_up};
use masar::privacy::{
    erase, ErasureRequest, MasterKey, PersonalData, PersonalDataVault, PrivacyError,
};
use masar::record::{record_journey_event, SubmissionStatus};
use masar::write::WriteSide;
use masar_domain::beneficiary::{Beneficiary, BeneficiaryCommand, BeneficiaryEvent, JourneyFact};
use masar_domain::ids::BeneficiaryId;
use masar_domain::values::{ConsentScope, Stage};
use masar_domain::ErrorCode;
use masar_projections::event_log::{read_log, read_stream, verify_chain};
use masar_projections::testing::fresh_database;
use sqlx::PgPool;
use uuid::Uuid;

const NAME: &str = "Aminata Zzyzx-Testname";
const PHONE: &str = "+212600998877";
const DOCUMENT: &str = "ZX9988776";

fn personal_data() -> PersonalData {
    PersonalData::new(Some(NAME.into()), Some(PHONE.into()), Some(DOCUMENT.into())).unwrap()
}

/// Identifies `id` with sealed personal data and DATA_PROCESSING consent, then sensitises.
async fn identify_with_personal_data(
    write: &WriteSide,
    vault: &PersonalDataVault,
    id: BeneficiaryId,
) {
    let sealed = vault.seal(id, &personal_data()).await.unwrap();
    let fact = identified_with(BTreeSet::from([ConsentScope::DataProcessing]), Some(sealed));
    for (days, fact) in [(0, fact), (1, sensitised("droits du travail"))] {
        let BeneficiaryCommand::Record(submission) = command(id, days, fact).1 else {
            unreachable!()
        };
        let outcome = record_journey_event(write, submission, None).await;
        assert_eq!(outcome.status, SubmissionStatus::Accepted, "{outcome:?}");
    }
}

/// The text of every row of every table of the database.
async fn every_table_as_text(pool: &PgPool) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.len() >= 4, "{tables:?}");
    let mut text = String::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(pool)
            .await
            .unwrap();
        text.push_str(&rows.join("\n"));
    }
    text
}

async fn beneficiary(pool: &PgPool, id: BeneficiaryId) -> Beneficiary {
    let rows = read_stream(pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    Beneficiary::from_events(
        rows.into_iter()
            .map(|row| serde_json::from_value::<BeneficiaryEvent>(row.payload).unwrap()),
    )
}

#[tokio::test]
async fn personal_data_is_stored_only_encrypted_and_opens_with_the_master_key() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let ids: Vec<BeneficiaryId> = (0..3).map(|_| BeneficiaryId::new(Uuid::new_v4())).collect();
    for id in &ids {
        identify_with_personal_data(&write, &vault, *id).await;
    }
    let everything = every_table_as_text(&db.pool).await;
    assert!(
        everything.contains("droits du travail"),
        "the scan reads the events"
    );
    for secret in [NAME, PHONE, DOCUMENT, "Zzyzx", "998877"] {
        assert!(
            !everything.contains(secret),
            "{secret} found in clear in the database"
        );
    }
    for id in &ids {
        let state = beneficiary(&db.pool, *id).await;
        let sealed = state.personal_data().unwrap();
        let opened = vault.open(*id, sealed).await.unwrap().unwrap();
        assert_eq!(opened.full_name(), Some(NAME));
        assert_eq!(opened.phone(), Some(PHONE));
        assert_eq!(opened.document_number(), Some(DOCUMENT));
    }
    // A ciphertext moved to another beneficiary does not decrypt.
    let first = beneficiary(&db.pool, ids[0]).await;
    assert!(matches!(
        vault.open(ids[1], first.personal_data().unwrap()).await,
        Err(PrivacyError::Undecryptable)
    ));
    // Another master key does not open it either.
    let stranger = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    assert!(matches!(
        stranger.open(ids[0], first.personal_data().unwrap()).await,
        Err(PrivacyError::ForeignMasterKey { .. })
    ));
}

#[tokio::test]
async fn personal_data_without_consent_is_refused_on_the_personal_data_field() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let id = BeneficiaryId::new(Uuid::new_v4());
    let sealed = vault.seal(id, &personal_data()).await.unwrap();
    let fact = identified_with(
        BTreeSet::from([ConsentScope::FollowUpContact]),
        Some(sealed),
    );
    let BeneficiaryCommand::Record(submission) = command(id, 0, fact).1 else {
        unreachable!()
    };
    let outcome = record_journey_event(&write, submission.clone(), None).await;
    let error = outcome.error.unwrap();
    assert_eq!(error.code, ErrorCode::Validation);
    assert_eq!(error.field.as_deref(), Some("personalData"));
    // The same submission without personal data is accepted.
    let mut without = submission;
    if let JourneyFact::Identified { personal_data, .. } = &mut without.fact {
        *personal_data = None;
    }
    assert_eq!(
        record_journey_event(&write, without, None).await.status,
        SubmissionStatus::Accepted
    );
}

#[tokio::test]
async fn erasure_shreds_the_key_keeps_every_other_fact_and_the_chain() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let id = BeneficiaryId::new(Uuid::new_v4());
    identify_with_personal_data(&write, &vault, id).await;
    let before = beneficiary(&db.pool, id).await;
    assert_eq!(before.stage(), Some(Stage::Sensitised));

    let request = ErasureRequest {
        beneficiary_id: id,
        actor: admin(),
        reason: "request of the person".into(),
        token_id: None,
    };
    let erased = erase(&write, vault.keys(), request.clone()).await.unwrap();
    assert!(erased.key_destroyed);
    assert!(erased.recorded.is_some());

    let after = beneficiary(&db.pool, id).await;
    assert!(after.personal_data_erased());
    assert_eq!(after.stage(), before.stage());
    assert_eq!(after.milestones(), before.milestones());
    assert_eq!(
        after.identified().map(|i| i.region.clone()),
        before.identified().map(|i| i.region.clone())
    );
    // The ciphertext is still in the log, and nothing can open it any more.
    assert!(vault
        .open(id, before.personal_data().unwrap())
        .await
        .unwrap()
        .is_none());
    let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    assert_eq!(rows.last().unwrap().event_type, "PersonalDataErased");
    assert_eq!(rows.last().unwrap().payload["recorded_by"], "ENABEL");
    assert!(rows
        .last()
        .unwrap()
        .payload
        .to_string()
        .contains("request of the person"));
    assert!(verify_chain(&rows).is_empty());

    // Erasing again is harmless: nothing destroyed, nothing recorded.
    let again = erase(&write, vault.keys(), request).await.unwrap();
    assert!(!again.key_destroyed);
    assert!(again.recorded.is_none());
    assert_eq!(
        read_stream(&db.pool, "Beneficiary", &id.to_string())
            .await
            .unwrap()
            .len(),
        rows.len()
    );
}

#[tokio::test]
async fn rotation_rewraps_every_key_without_touching_events() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let old = MasterKey::generate();
    let vault = PersonalDataVault::new(db.pool.clone(), old.clone());
    let ids: Vec<BeneficiaryId> = (0..4).map(|_| BeneficiaryId::new(Uuid::new_v4())).collect();
    for id in &ids {
        identify_with_personal_data(&write, &vault, *id).await;
    }
    let log_before = read_log(&db.pool, 0, 10_000).await.unwrap();

    let new = MasterKey::generate();
    let rewrapped = vault.rotate(&new).await.unwrap();
    assert_eq!(rewrapped, ids.len() as u64);
    let ids_by_master = vault.keys().master_key_ids().await.unwrap();
    assert_eq!(
        ids_by_master.keys().cloned().collect::<Vec<_>>(),
        vec![new.id().to_owned()]
    );

    assert_eq!(
        read_log(&db.pool, 0, 10_000).await.unwrap(),
        log_before,
        "events untouched"
    );
    let rotated = PersonalDataVault::new(db.pool.clone(), new);
    for id in &ids {
        let sealed = beneficiary(&db.pool, *id)
            .await
            .personal_data()
            .cloned()
            .unwrap();
        assert_eq!(
            rotated
                .open(*id, &sealed)
                .await
                .unwrap()
                .unwrap()
                .full_name(),
            Some(NAME)
        );
        assert!(
            matches!(
                vault.open(*id, &sealed).await,
                Err(PrivacyError::ForeignMasterKey { .. })
            ),
            "the old master key no longer opens"
        );
    }
}

#[tokio::test]
async fn withdrawing_data_processing_consent_erases_the_personal_data_on_both_paths() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let single = BeneficiaryId::new(Uuid::new_v4());
    let batched = BeneficiaryId::new(Uuid::new_v4());
    let kept = BeneficiaryId::new(Uuid::new_v4());
    for id in [single, batched, kept] {
        identify_with_personal_data(&write, &vault, id).await;
    }
    let withdraw = |id, scopes: BTreeSet<ConsentScope>| {
        let BeneficiaryCommand::Record(submission) =
            command(id, 2, JourneyFact::ConsentWithdrawn { scopes }).1
        else {
            unreachable!()
        };
        submission
    };
    let outcome = record_journey_event(
        &write,
        withdraw(single, BTreeSet::from([ConsentScope::DataProcessing])),
        None,
    )
    .await;
    assert_eq!(outcome.status, SubmissionStatus::Accepted);
    let outcomes = masar::batch::record_batch(
        &write,
        vec![
            withdraw(
                batched,
                BTreeSet::from([ConsentScope::DataProcessing, ConsentScope::FollowUpContact]),
            ),
            withdraw(kept, BTreeSet::from([ConsentScope::FollowUpContact])),
        ],
        None,
    )
    .await;
    assert!(
        outcomes
            .iter()
            .all(|o| o.status == SubmissionStatus::Accepted),
        "{outcomes:?}"
    );

    for (id, erased) in [(single, true), (batched, true), (kept, false)] {
        let state = beneficiary(&db.pool, id).await;
        assert_eq!(vault.keys().exists(id).await.unwrap(), !erased, "{id}");
        let sealed = {
            let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
                .await
                .unwrap();
            let first: BeneficiaryEvent = serde_json::from_value(rows[0].payload.clone()).unwrap();
            match first.fact {
                JourneyFact::Identified { personal_data, .. } => personal_data.unwrap(),
                _ => unreachable!(),
            }
        };
        assert_eq!(
            vault.open(id, &sealed).await.unwrap().is_some(),
            !erased,
            "{id}"
        );
        assert_eq!(state.stage(), Some(Stage::Sensitised));
    }
}

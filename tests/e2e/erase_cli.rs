//! `masar keys` and `masar erase` as an operator runs them, against a database where journeys
//! with personal data were recorded.

use std::collections::BTreeSet;
use std::process::Command;

use masar::privacy::{MasterKey, PersonalData, PersonalDataVault};
use masar::record::record_journey_event;
use masar::write::WriteSide;
use masar_domain::beneficiary::{BeneficiaryCommand, JourneyFact};
use masar_domain::ids::BeneficiaryId;
use masar_domain::values::ConsentScope;
use masar_projections::testing::fresh_database;
use uuid::Uuid;

use crate::common::{command, identified_with, set_up};
use crate::helpers::MASAR;

fn masar(args: &[&str], url: &str, key: &MasterKey) -> std::process::Output {
    Command::new(MASAR)
        .args(args)
        .env("DATABASE_URL", url)
        .env("MASAR_MASTER_KEY", key.to_base64().as_str())
        .env_remove("MASAR_MASTER_KEY_FILE")
        .output()
        .unwrap()
}

#[test]
fn keys_generate_prints_a_key_alone() {
    let output = Command::new(MASAR)
        .args(["keys", "generate"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    MasterKey::from_base64(text.trim(), "test").unwrap();
}

#[tokio::test]
async fn erase_and_rotate_from_the_command_line() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let key = MasterKey::generate();
    let vault = PersonalDataVault::new(db.pool.clone(), key.clone());
    let id = BeneficiaryId::new(Uuid::new_v4());
    let data = PersonalData::new(Some("Ousmane Qxw".into()), None, None).unwrap();
    let sealed = vault.seal(id, &data).await.unwrap();
    let fact = identified_with(BTreeSet::from([ConsentScope::DataProcessing]), Some(sealed));
    let BeneficiaryCommand::Record(submission) = command(id, 0, fact).1 else {
        unreachable!()
    };
    record_journey_event(&write, submission, None).await;
    let other = BeneficiaryId::new(Uuid::new_v4());
    vault.seal(other, &data).await.unwrap();

    // An unknown beneficiary: one line, non-zero.
    let unknown = Uuid::new_v4().to_string();
    let output = masar(&["erase", &unknown, "--reason", "asked"], &db.url, &key);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr
            .trim()
            .lines()
            .filter(|l| l.starts_with("masar:"))
            .count(),
        1,
        "{stderr}"
    );

    // Rotation first, then erasure with the new key.
    let dir = tempfile::tempdir().unwrap();
    let new_key = MasterKey::generate();
    let new_key_file = dir.path().join("next.key");
    new_key.write_file(&new_key_file).unwrap();
    let output = masar(
        &[
            "keys",
            "rotate",
            "--new-key-file",
            new_key_file.to_str().unwrap(),
        ],
        &db.url,
        &key,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let masters: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT master_key_id FROM personal_data_keys")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(masters, vec![new_key.id().to_owned()]);

    let output = masar(
        &["erase", &id.to_string(), "--reason", "asked by the person"],
        &db.url,
        &new_key,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM personal_data_keys WHERE beneficiary_id = $1")
            .bind(id.as_uuid())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(keys, 0);
    let erased: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'PersonalDataErased'",
    )
    .bind(id.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(erased, 1);
}

#[tokio::test]
async fn erase_finds_the_owner_of_a_beneficiary_whose_identification_was_retracted() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let key = MasterKey::generate();
    let vault = PersonalDataVault::new(db.pool.clone(), key.clone());
    let id = BeneficiaryId::new(Uuid::new_v4());
    let data = PersonalData::new(Some("Mariam Zqxv".into()), None, None).unwrap();
    let sealed = vault.seal(id, &data).await.unwrap();
    let fact = identified_with(BTreeSet::from([ConsentScope::DataProcessing]), Some(sealed));
    let (identified, BeneficiaryCommand::Record(submission)) = command(id, 0, fact) else {
        unreachable!()
    };
    record_journey_event(&write, submission, None).await;
    // REMESS retracts its identification: the personal data it sealed stays in the log.
    let retraction = JourneyFact::Retracted {
        retracted_event_id: identified.event_id,
        reason: "wrong programme".into(),
    };
    let BeneficiaryCommand::Record(submission) = command(id, 1, retraction).1 else {
        unreachable!()
    };
    record_journey_event(&write, submission, None).await;

    // Without --organisation, the erasure is recorded for the record's owner, REMESS.
    let output = masar(
        &["erase", &id.to_string(), "--reason", "asked by the person"],
        &db.url,
        &key,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let recorded_by: Vec<String> = sqlx::query_scalar(
        "SELECT metadata ->> 'organisation' FROM events \
         WHERE aggregate_id = $1 AND event_type = 'PersonalDataErased'",
    )
    .bind(id.to_string())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(recorded_by, ["REMESS"]);
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM personal_data_keys WHERE beneficiary_id = $1")
            .bind(id.as_uuid())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(keys, 0);
}

//! `masar verify` as an auditor runs it: exit 0 on a clean log, exit 1 naming the stream and
//! sequence once the database was changed behind the application's back.

use std::process::{Command, Output};

use masar::write::WriteSide;
use masar_domain::ids::BeneficiaryId;
use masar_projections::testing::fresh_database;
use uuid::Uuid;

use crate::common::{identified, record, sensitised, set_up};
use crate::helpers::MASAR;

fn verify(url: &str, args: &[&str]) -> Output {
    Command::new(MASAR)
        .arg("verify")
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap()
}

#[tokio::test]
async fn verify_exits_0_on_a_clean_log_and_1_naming_the_tampered_event() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let id = BeneficiaryId::new(Uuid::new_v4());
    record(&write, id, 0, identified()).await;
    record(&write, id, 1, sensitised("droits")).await;
    record(&write, id, 2, sensitised("emploi")).await;

    let clean = verify(&db.url, &[]);
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(stdout.starts_with("OK"), "{stdout}");

    let json = verify(&db.url, &["--json"]);
    assert_eq!(json.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["eventsChecked"], 6);
    assert_eq!(report["latestSeal"], serde_json::Value::Null);

    let mut tx = db.pool.begin().await.unwrap();
    for statement in [
        "ALTER TABLE events DISABLE TRIGGER USER".to_owned(),
        format!(
            "UPDATE events SET payload = (payload::jsonb || '{{\"recorded_by\": \"X\"}}')::json \
             WHERE aggregate_type = 'Beneficiary' AND aggregate_id = '{id}' AND sequence = 2"
        ),
        "ALTER TABLE events ENABLE TRIGGER USER".to_owned(),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();

    let tampered = verify(&db.url, &[]);
    let stdout = String::from_utf8_lossy(&tampered.stdout);
    assert_eq!(tampered.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("HASH_MISMATCH"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("sequence 2"), "{line}");
    assert!(line.contains(&id.to_string()), "{line}");

    let json = verify(&db.url, &["--json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"][0]["aggregateId"], id.to_string());
    assert_eq!(report["problems"][0]["sequence"], 2);
    assert_eq!(report["problems"][0]["kind"], "HASH_MISMATCH");
}

#[tokio::test]
async fn the_server_seals_on_its_schedule_with_the_configured_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("seal.key");
    let generated = Command::new(MASAR)
        .args(["keys", "generate"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    std::fs::write(&key_file, &generated.stdout).unwrap();
    let key_file = key_file.to_str().unwrap();
    let public = Command::new(MASAR)
        .args(["seal", "--public-key"])
        .env("MASAR_SEAL_KEY_FILE", key_file)
        .env("DATABASE_URL", "postgres://unused.invalid/masar")
        .output()
        .unwrap();
    assert!(public.status.success());
    let public = String::from_utf8(public.stdout).unwrap().trim().to_owned();
    assert_eq!(public.len(), 64);

    let app = crate::helpers::spawn_app_with(&[
        ("MASAR_SEAL_KEY_FILE", key_file),
        ("MASAR_SEAL_INTERVAL", "1"),
    ])
    .await;
    // Bootstrapping the first ADMIN records the organisation: the log grows.
    let admin = app.issue_token("ENABEL", "ADMIN", Some("Enabel"));
    let query =
        "{ verifyIntegrity { ok head latestSeal { position publicKey digest signature } } }";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let answer = app
            .graphql(query, serde_json::json!({}), Some(&admin))
            .await;
        let report = &answer.data()["verifyIntegrity"];
        let seal = &report["latestSeal"];
        if !seal.is_null() && seal["position"] == report["head"] {
            assert_eq!(report["ok"], true, "{report}");
            assert_eq!(seal["publicKey"], public.as_str());
            assert_eq!(seal["signature"].as_str().unwrap().len(), 128);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no seal at the head within 30 s: {report}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

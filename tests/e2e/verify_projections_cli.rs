//! `masar verify --projections` as an auditor runs it: exit 0 when every projection equals its
//! rebuild, exit 1 naming the row and column once a projection row was edited by hand.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use masar::write::WriteSide;
use masar_domain::ids::BeneficiaryId;
use masar_projections::activities::ActivityProjection;
use masar_projections::beneficiaries::BeneficiaryProjection;
use masar_projections::feed::catch_up;
use masar_projections::testing::fresh_database;
use sqlx::PgPool;
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

/// Applies every event of the log to both projections, as a server's runner would (waiting
/// for transactions of other tests' databases on the same cluster to end).
async fn settle(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        catch_up(pool, &BeneficiaryProjection::default())
            .await
            .unwrap();
        catch_up(pool, &ActivityProjection::default())
            .await
            .unwrap();
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM projection_checkpoints \
             WHERE events_applied <> (SELECT count(*) FROM events)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if behind == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the projections never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn verify_projections_exits_0_on_a_clean_database_and_1_naming_an_edited_row() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let id = BeneficiaryId::new(Uuid::new_v4());
    record(&write, id, 0, identified()).await;
    record(&write, id, 1, sensitised("droits")).await;
    settle(&db.pool).await;

    let clean = verify(&db.url, &["--projections"]);
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(stdout.starts_with("OK"), "{stdout}");
    for name in ["beneficiaries", "programme_activities"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("OK: projection {name} "))),
            "{stdout}"
        );
    }

    let json = verify(&db.url, &["--projections", "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["projections"][0]["name"], "beneficiaries");
    assert_eq!(report["projections"][0]["ok"], true);
    assert_eq!(report["projections"][0]["liveRows"], 1);
    assert_eq!(report["projections"][1]["name"], "programme_activities");

    sqlx::query("UPDATE beneficiary_state SET stage = 'EMPLOYED' WHERE beneficiary_id = $1")
        .bind(id.as_uuid())
        .execute(&db.pool)
        .await
        .unwrap();

    let edited = verify(&db.url, &["--projections"]);
    let stdout = String::from_utf8_lossy(&edited.stdout);
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert_eq!(edited.status.code(), Some(1), "{stdout}{stderr}");
    // The hash chains are fine; the projection is not.
    assert!(stdout.starts_with("OK"), "{stdout}");
    assert!(
        stdout.contains("FAILED: projection beneficiaries "),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("DIFFERENT"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains(&format!("beneficiary_id={id}")), "{line}");
    assert!(
        line.contains("stage: live \"EMPLOYED\", rebuilt \"SENSITISED\""),
        "{line}"
    );
    assert!(
        stderr.contains("projection beneficiaries differs"),
        "{stderr}"
    );

    let json = verify(&db.url, &["--projections", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let beneficiaries = &report["projections"][0];
    assert_eq!(beneficiaries["ok"], false);
    assert_eq!(beneficiaries["different"], 1);
    let difference = &beneficiaries["differences"][0];
    assert_eq!(difference["kind"], "DIFFERENT");
    assert_eq!(difference["key"], id.to_string());
    assert_eq!(difference["columns"][0]["column"], "stage");
    assert_eq!(difference["columns"][0]["live"], "EMPLOYED");
    assert_eq!(difference["columns"][0]["rebuilt"], "SENSITISED");
    assert_eq!(report["projections"][1]["ok"], true);

    // Without --projections, only the hash chains are checked: they still verify.
    assert_eq!(verify(&db.url, &[]).status.code(), Some(0));
    let scratch: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%\\_verify'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(scratch, 0);
}

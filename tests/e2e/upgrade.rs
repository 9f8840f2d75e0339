//! An installation that ran a runner whose feed sorted transaction ids as text may hold
//! projection tables that miss events. Migration 0010 marks every projection that applied
//! anything for rebuild, and `masar serve` rebuilds the marked ones before it answers.

use std::time::Duration;

use masar::write::WriteSide;
use masar_domain::ids::BeneficiaryId;
use masar_projections::activities::ActivityProjection;
use masar_projections::beneficiaries::BeneficiaryProjection;
use masar_projections::feed::catch_up;
use masar_projections::testing::fresh_database;
use uuid::Uuid;

use crate::common::{identified, record, sensitised, set_up};
use crate::helpers::MASAR;

#[tokio::test]
async fn serve_rebuilds_the_projections_an_upgrade_marked_before_answering() {
    let db = fresh_database().await;
    // The database as it was before migration 0010.
    sqlx::raw_sql(
        "DELETE FROM _sqlx_migrations WHERE version >= 10; \
         ALTER TABLE projection_checkpoints DROP COLUMN needs_rebuild;",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let people: Vec<BeneficiaryId> = (0..6).map(|_| BeneficiaryId::new(Uuid::new_v4())).collect();
    for id in &people {
        record(&write, *id, 0, identified()).await;
        record(&write, *id, 1, sensitised("droits")).await;
    }
    catch_up(&db.pool, &BeneficiaryProjection::default())
        .await
        .unwrap();
    catch_up(&db.pool, &ActivityProjection::default())
        .await
        .unwrap();
    // What the faulty runner left behind: rows missing, their events counted as applied.
    sqlx::query("DELETE FROM beneficiary_state WHERE beneficiary_id = ANY($1)")
        .bind(
            people[..2]
                .iter()
                .map(|id| id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .execute(&db.pool)
        .await
        .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(MASAR)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env(
            "MASAR_MASTER_KEY",
            masar::privacy::MasterKey::generate().to_base64().as_str(),
        )
        .env("MASAR_SEAL_INTERVAL", "0")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
        {
            if response.status().is_success() {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "masar did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // By the time it answers, both projections were rebuilt: the rows are back, nothing is
    // marked any more.
    let (rows, marked): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM beneficiary_state), \
           (SELECT count(*) FROM projection_checkpoints WHERE needs_rebuild)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((rows, marked), (6, 0));
    let _ = server.kill();
    let _ = server.wait();

    // The mark is cleared by every rebuild, and a new database is never marked.
    let fresh = fresh_database().await;
    let marked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints WHERE needs_rebuild")
            .fetch_one(&fresh.pool)
            .await
            .unwrap();
    assert_eq!(marked, 0);
}

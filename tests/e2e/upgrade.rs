//! An installation that ran a runner whose feed sorted transaction ids as text may hold
//! projection tables that miss events. Migration 0010 marks every projection that applied
//! anything for rebuild, and `masar serve` rebuilds the marked ones before it answers.
//! Migration 0011 marks the beneficiaries projection again: a beneficiary's partner is now the
//! organisation whose identification opened the stream, for ever.

use std::time::Duration;

use masar::write::WriteSide;
use masar_domain::ids::BeneficiaryId;
use masar_projections::activities::ActivityProjection;
use masar_projections::beneficiaries::BeneficiaryProjection;
use masar_projections::feed::catch_up;
use masar_projections::testing::fresh_database;
use uuid::Uuid;

use crate::common::{identified, org, record, sensitised, set_up};
use crate::helpers::{free_port, wait_until_healthy, MASAR};

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

    let server = serve_until_healthy(&db.url).await;
    // By the time it answers, both projections were rebuilt: nothing is marked any more.
    let marked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints WHERE needs_rebuild")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(marked, 0);
    // The rows are back: from the rebuild itself, or, when other tests' transactions on the
    // shared cluster held its snapshot back, from the runner right after it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM beneficiary_state")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if rows == 6 {
            break;
        }
        assert!(
            rows < 6 && std::time::Instant::now() < deadline,
            "{rows} rows"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);

    // The mark is cleared by every rebuild, and a new database is never marked.
    let fresh = fresh_database().await;
    let marked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints WHERE needs_rebuild")
            .fetch_one(&fresh.pool)
            .await
            .unwrap();
    assert_eq!(marked, 0);
}

/// A `masar serve` process, stopped when dropped (also when a test fails).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `masar serve` against `url` on a free port and waits until `/health` answers.
async fn serve_until_healthy(url: &str) -> Server {
    let port = free_port();
    let server = Server(
        std::process::Command::new(MASAR)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .env(
                "MASAR_MASTER_KEY",
                masar::privacy::MasterKey::generate().to_base64().as_str(),
            )
            .env("MASAR_SEAL_INTERVAL", "0")
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_healthy(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(60),
    )
    .await;
    server
}

#[tokio::test]
async fn serve_rebuilds_the_beneficiaries_whose_partner_an_old_fold_named_wrongly() {
    let db = fresh_database().await;
    // The database as it was before migration 0011.
    sqlx::raw_sql("DELETE FROM _sqlx_migrations WHERE version >= 11")
        .execute(&db.pool)
        .await
        .unwrap();
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let people: Vec<BeneficiaryId> = (0..3).map(|_| BeneficiaryId::new(Uuid::new_v4())).collect();
    for id in &people {
        record(&write, *id, 0, identified()).await;
    }
    // Every row projected (a catch-up takes only what no running transaction may precede).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        catch_up(&db.pool, &BeneficiaryProjection::default())
            .await
            .unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM beneficiary_state")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if rows == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not projected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the old fold left for a stream whose identification another organisation
    // retracted and recorded again: that organisation as the partner.
    let updated = sqlx::query(
        "UPDATE beneficiary_state SET partner_code = 'ENABEL' WHERE beneficiary_id = $1",
    )
    .bind(people[0].as_uuid())
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(updated.rows_affected(), 1);

    let server = serve_until_healthy(&db.url).await;
    // The rebuild swaps in what the log held when it started; the runner applies the rest.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let partners: Vec<(String, i64)> = sqlx::query_as(
            "SELECT partner_code, count(*) FROM beneficiary_state GROUP BY partner_code",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        if partners == [(org("REMESS").as_str().to_owned(), 3)] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the beneficiaries were not rebuilt: {partners:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let marked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints WHERE needs_rebuild")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(marked, 0);
    drop(server);
}

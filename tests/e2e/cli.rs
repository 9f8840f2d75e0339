//! The command line as operators use it: migrations on a server and on the embedded default.

use std::process::Command;

use crate::helpers::MASAR;
use masar_projections::testing::fresh_database;

#[tokio::test]
async fn migrate_applies_the_migrations_to_the_configured_server_twice() {
    let db = fresh_database().await;
    for _ in 0..2 {
        let output = Command::new(MASAR)
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('events', 'snapshots')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(tables, 2);
}

#[test]
fn migrate_without_database_url_runs_the_embedded_default_and_survives_a_second_run() {
    let dir = tempfile::Builder::new()
        .prefix("masar")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("data");
    for _ in 0..2 {
        let output = Command::new(MASAR)
            .args(["migrate", "--data-dir"])
            .arg(&data_dir)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(data_dir.join("pg").join("PG_VERSION").exists());
    // The command started the server for itself and stopped it again.
    assert!(!data_dir.join("pg").join("postmaster.pid").exists());
}

#[test]
fn a_bad_database_url_fails_with_a_one_line_reason() {
    let output = Command::new(MASAR)
        .arg("migrate")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("masar:"), "{stderr}");
}

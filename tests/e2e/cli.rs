//! The command line as operators use it: migrations on a server and on the embedded default,
//! and commands that read a log refusing a data directory that holds none.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::{applied_migrations, assert_fully_migrated, assert_no_table, MASAR};
use masar_projections::database::{EmbeddedPostgres, EMBEDDED_DATABASE};
use masar_projections::testing::{fresh_empty_database, TestDatabase};
use sqlx::postgres::PgPoolOptions;

/// `masar ARGS` on `db`, with nothing from the environment choosing another database or key.
fn masar_on(db: &TestDatabase, args: &[&str]) -> Output {
    let output = Command::new(MASAR)
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env_remove("MASAR_MASTER_KEY")
        .env_remove("MASAR_MASTER_KEY_FILE")
        .env_remove("MASAR_SEAL_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "masar {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn migrate_applies_every_migration_to_an_empty_database_and_a_second_run_changes_nothing() {
    let db = fresh_empty_database().await;
    assert_no_table(&db.pool).await;
    masar_on(&db, &["migrate"]);
    assert_fully_migrated(&db.pool).await;
    let applied = applied_migrations(&db.pool).await;
    masar_on(&db, &["migrate"]);
    assert_eq!(applied_migrations(&db.pool).await, applied);
}

#[tokio::test]
async fn commands_that_read_the_log_apply_pending_migrations_first() {
    for args in [
        &["projections", "status"][..],
        &["verify"],
        &["export", "events"],
    ] {
        let db = fresh_empty_database().await;
        assert_no_table(&db.pool).await;
        masar_on(&db, args);
        assert_fully_migrated(&db.pool).await;
        let applied = applied_migrations(&db.pool).await;
        masar_on(&db, args);
        assert_eq!(applied_migrations(&db.pool).await, applied, "{args:?}");
    }
}

#[tokio::test]
async fn migrate_without_database_url_runs_the_embedded_default_and_survives_a_second_run() {
    let dir = tempfile::Builder::new()
        .prefix("masar")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("data");
    for _ in 0..2 {
        let output = masar_embedded(&data_dir, &["migrate"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(data_dir.join("pg").join("PG_VERSION").exists());
    // The command started the server for itself and stopped it again.
    assert!(!data_dir.join("pg").join("postmaster.pid").exists());

    // The cluster it created holds the database `masar`, every migration applied.
    let embedded = EmbeddedPostgres::new(&data_dir).unwrap();
    assert!(embedded.start().await.unwrap());
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(embedded.connect_options(EMBEDDED_DATABASE))
        .await
        .unwrap();
    assert_fully_migrated(&pool).await;
    pool.close().await;
    embedded.stop().await.unwrap();
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

/// `masar ARGS --data-dir DATA_DIR` on the embedded default, with nothing from the environment
/// choosing another database or key.
fn masar_embedded(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(MASAR)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("MASAR_DATA_DIR")
        .env_remove("MASAR_MASTER_KEY")
        .env_remove("MASAR_MASTER_KEY_FILE")
        .env_remove("MASAR_SEAL_KEY_FILE")
        .env_remove("MASAR_SEAL_PUBLIC_KEY")
        .output()
        .unwrap()
}

/// Every command that opens the database but must not create it, with valid arguments.
const READING_COMMANDS: &[&[&str]] = &[
    &["verify"],
    &["verify", "--projections"],
    &["export", "events"],
    &["projections", "status"],
    &["projections", "rebuild"],
    &["seal"],
    &[
        "erase",
        "7d0e5a8e-8f0c-4f53-9a57-1b8f0e3c2a11",
        "--reason",
        "asked",
    ],
    &["keys", "rotate"],
    &[
        "token",
        "issue",
        "--organisation",
        "ENABEL",
        "--role",
        "ADMIN",
        "--label",
        "bootstrap",
        "--organisation-name",
        "Enabel",
    ],
    &["token", "revoke", "0b6c4f7e-2a51-4d7b-9a0e-4c1f3b2d5e60"],
];

/// Checks that `masar ARGS` failed with one line naming `named`, telling how to create a
/// database.
fn assert_refused(args: &[&str], output: &Output, named: &Path) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "masar {args:?} succeeded: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "masar {args:?}: {stderr}"
    );
    assert!(stderr.starts_with("masar: "), "masar {args:?}: {stderr}");
    assert!(
        stderr.contains(&named.display().to_string()),
        "masar {args:?} does not name {}: {stderr}",
        named.display()
    );
    assert!(stderr.contains("masar migrate"), "masar {args:?}: {stderr}");
}

#[test]
fn commands_that_read_the_log_refuse_a_data_directory_that_does_not_exist() {
    let dir = tempfile::Builder::new()
        .prefix("masar")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("typo-data");
    for args in READING_COMMANDS {
        let output = masar_embedded(&data_dir, args);
        assert_refused(args, &output, &data_dir);
        assert!(
            !data_dir.exists(),
            "masar {args:?} created {}",
            data_dir.display()
        );
    }
}

#[test]
fn commands_that_read_the_log_refuse_a_data_directory_without_a_cluster() {
    let dir = tempfile::Builder::new()
        .prefix("masar")
        .tempdir_in("/tmp")
        .unwrap();
    // A directory that exists (say, holding a key) but where no database was ever created.
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    for args in READING_COMMANDS {
        let output = masar_embedded(&data_dir, args);
        assert_refused(args, &output, &data_dir);
        let left: Vec<_> = std::fs::read_dir(&data_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "masar {args:?} created {left:?}");
    }
}

#[test]
fn commands_that_need_no_database_run_without_a_data_directory() {
    let dir = tempfile::Builder::new()
        .prefix("masar")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("typo-data");
    let output = masar_embedded(&data_dir, &["keys", "generate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!data_dir.exists());
}

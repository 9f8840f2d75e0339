//! The embedded PostgreSQL and `database::open`, against the machine's real PostgreSQL
//! binaries. Each test has its own data directory in a short temporary path (the socket path
//! must fit in 107 bytes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use masar_projections::database::{
    self, BinarySearch, Database, DatabaseConfig, DatabaseError, EmbeddedError, EmbeddedPostgres,
    MissingCluster,
};
use masar_projections::testing::fresh_database;
use sqlx::PgPool;
use tempfile::TempDir;

/// A data directory under /tmp that stops any server left in it when the test ends, even on
/// failure.
struct DataDir {
    dir: TempDir,
}

impl DataDir {
    fn new() -> Self {
        DataDir {
            dir: tempfile::Builder::new()
                .prefix("mp")
                .tempdir_in("/tmp")
                .unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: None,
            data_dir: self.path().to_path_buf(),
            max_connections: 4,
            missing_cluster: MissingCluster::Create,
        }
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        // A server of the directory itself, or of its `data/` subdirectory.
        for data_dir in [self.path().to_path_buf(), self.path().join("data")] {
            let pgdata = data_dir.join("pg");
            if !pgdata.join("postmaster.pid").exists() {
                continue;
            }
            let Ok(embedded) = EmbeddedPostgres::new(&data_dir) else {
                continue;
            };
            let mut command = std::process::Command::new(embedded.bindir().join("pg_ctl"));
            command
                .args(["stop", "-m", "immediate", "-s", "-D"])
                .arg(&pgdata);
            if nix::unistd::Uid::effective().is_root() {
                if let Ok(Some(user)) = nix::unistd::User::from_name("postgres") {
                    command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
                }
            }
            let _ = command.status();
        }
    }
}

/// The user the embedded server runs as: the `postgres` system user when the tests run as
/// root (PostgreSQL refuses root), else the user running them.
fn server_uid() -> u32 {
    if nix::unistd::Uid::effective().is_root() {
        nix::unistd::User::from_name("postgres")
            .unwrap()
            .expect("running as root, the embedded server needs a `postgres` system user")
            .uid
            .as_raw()
    } else {
        nix::unistd::Uid::effective().as_raw()
    }
}

/// Says that `what` was not checked because the tests do not run as root; with `CI=true` it
/// fails instead (CI runs as root, where it must be checked).
fn skipped_unless_root(what: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the tests do not run as root: {what} is not checked; run them as root"
    );
    eprintln!("SKIPPED (not root): {what}");
}

async fn migrations_table_exists(pool: &PgPool) -> bool {
    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn answers(url: &str) -> bool {
    match PgPool::connect(url).await {
        Ok(pool) => {
            pool.close().await;
            true
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn open_initialises_migrates_and_close_stops() {
    let dir = DataDir::new();
    let db = database::open(&dir.config()).await.unwrap();
    assert!(db.started_embedded_server());
    assert!(dir.path().join("pg/PG_VERSION").exists());
    // The cluster belongs to the user the server runs as (`postgres` when run as root).
    for owned in ["pg", "pg/PG_VERSION", "run"] {
        let owner = std::fs::metadata(dir.path().join(owned)).unwrap().uid();
        assert_eq!(owner, server_uid(), "{owned}");
    }
    assert!(dir.path().join("run/.s.PGSQL.5432").exists());
    assert!(dir.path().join("postgres.log").exists());
    assert!(migrations_table_exists(&db.pool).await);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied, database::MIGRATOR.iter().count() as i64);
    let (answer, database): (i32, String) = sqlx::query_as("SELECT 6 * 7, current_database()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((answer, database.as_str()), (42, "masar"));

    // The URL is for another process: it parses and connects on its own.
    let url = db.connection_url();
    assert!(
        url.starts_with("postgresql:///masar?user=masar&host=/"),
        "{url}"
    );
    let other = PgPool::connect(&url).await.unwrap();
    let seen: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&other)
        .await
        .unwrap();
    assert_eq!(seen, "masar");
    other.close().await;

    db.close().await;
    assert!(!answers(&url).await, "the server still answers after close");
    assert!(
        !EmbeddedPostgres::new(dir.path())
            .unwrap()
            .is_running()
            .await
    );
}

#[tokio::test]
async fn opening_twice_reuses_the_cluster() {
    let dir = DataDir::new();
    let first = database::open(&dir.config()).await.unwrap();
    sqlx::query("CREATE TABLE kept (value int)")
        .execute(&first.pool)
        .await
        .unwrap();
    first.close().await;

    let second = database::open(&dir.config()).await.unwrap();
    assert!(second.started_embedded_server());
    let kept: bool = sqlx::query_scalar("SELECT to_regclass('kept') IS NOT NULL")
        .fetch_one(&second.pool)
        .await
        .unwrap();
    assert!(kept, "the cluster was initialised again");
    second.close().await;
    let log = std::fs::read_to_string(dir.path().join("postgres.log")).unwrap();
    assert!(log.contains("database system is shut down"), "{log}");
}

#[tokio::test]
async fn a_second_opener_leaves_the_server_to_the_first() {
    let dir = DataDir::new();
    let first = database::open(&dir.config()).await.unwrap();
    let second = database::open(&dir.config()).await.unwrap();
    assert!(first.started_embedded_server());
    assert!(!second.started_embedded_server());
    second.close().await;

    let still: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&first.pool)
        .await
        .unwrap();
    assert_eq!(still, 1);
    let url = first.connection_url();
    first.close().await;
    assert!(!answers(&url).await);
}

#[tokio::test]
async fn concurrent_opens_start_one_server() {
    let dir = DataDir::new();
    let opens = (0..4).map(|_| {
        let config = dir.config();
        tokio::spawn(async move { database::open(&config).await })
    });
    let mut databases: Vec<Database> = Vec::new();
    for open in opens {
        databases.push(open.await.unwrap().unwrap());
    }
    let starters = databases
        .iter()
        .filter(|db| db.started_embedded_server())
        .count();
    assert_eq!(starters, 1);
    for db in databases {
        db.close().await;
    }
}

#[tokio::test]
async fn a_stale_pid_file_does_not_stop_a_start() {
    let dir = DataDir::new();
    database::open(&dir.config()).await.unwrap().close().await;
    // A crash leaves postmaster.pid behind; after a reboot its pid may belong to anything.
    let pid_file = dir.path().join("pg/postmaster.pid");
    std::fs::write(
        &pid_file,
        format!("1\n{}\n", dir.path().join("pg").display()),
    )
    .unwrap();
    let db = database::open(&dir.config()).await.unwrap();
    assert!(db.started_embedded_server());
    db.close().await;
}

#[test]
fn no_binaries_says_what_to_install() {
    let error = BinarySearch::default().find().unwrap_err();
    assert!(matches!(error, EmbeddedError::NoBinaries), "{error:?}");
    let message = error.to_string();
    for needle in [
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found",
        "apt-get install postgresql",
        "dnf install postgresql-server",
        "brew install postgresql@16",
        "DATABASE_URL",
    ] {
        assert!(message.contains(needle), "{message}");
    }

    let empty = DataDir::new();
    let search = BinarySearch {
        path: Some(empty.path().as_os_str().to_owned()),
        version_roots: vec![empty.path().to_path_buf()],
        ..BinarySearch::default()
    };
    assert!(matches!(
        EmbeddedPostgres::with_search(empty.path(), &search),
        Err(EmbeddedError::NoBinaries)
    ));

    let search = BinarySearch {
        bindir: Some(empty.path().to_path_buf()),
        ..BinarySearch::from_env()
    };
    assert!(matches!(
        search.find(),
        Err(EmbeddedError::BadBinDir { .. })
    ));
}

#[test]
fn the_binaries_are_found_on_this_machine() {
    let bindir = BinarySearch::from_env().find().unwrap();
    for program in ["initdb", "pg_ctl", "postgres"] {
        assert!(bindir.join(program).exists(), "{}", bindir.display());
    }
    let versions_only = BinarySearch {
        version_roots: vec![PathBuf::from("/usr/lib/postgresql")],
        ..BinarySearch::default()
    };
    if Path::new("/usr/lib/postgresql").exists() {
        let found = versions_only.find().unwrap();
        assert!(found.starts_with("/usr/lib/postgresql"));
    }
}

#[tokio::test]
async fn a_missing_cluster_is_refused_unless_it_may_be_created() {
    let dir = DataDir::new();
    let refuse = |data_dir: PathBuf| DatabaseConfig {
        url: None,
        data_dir,
        max_connections: 1,
        missing_cluster: MissingCluster::Refuse,
    };

    let typo = dir.path().join("typo-data");
    let error = database::open(&refuse(typo.clone())).await.unwrap_err();
    assert!(
        matches!(
            &error,
            DatabaseError::Embedded(EmbeddedError::NoDataDirectory { data_dir })
                if data_dir == &typo
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("masar migrate"), "{error}");
    assert!(!typo.exists(), "nothing is created");

    // The directory exists, but holds no cluster.
    let error = database::open(&refuse(dir.path().to_path_buf()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            DatabaseError::Embedded(EmbeddedError::NoCluster { pgdata, .. })
                if pgdata == &dir.path().join("pg")
        ),
        "{error:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Once created, the cluster opens either way.
    database::open(&dir.config()).await.unwrap().close().await;
    let db = database::open(&refuse(dir.path().to_path_buf()))
        .await
        .unwrap();
    assert!(migrations_table_exists(&db.pool).await);
    db.close().await;
}

#[tokio::test]
async fn a_too_long_data_dir_is_refused_plainly() {
    let long = PathBuf::from("/tmp").join("masar-".repeat(17));
    let error = EmbeddedPostgres::new(&long).unwrap_err();
    assert!(
        matches!(error, EmbeddedError::SocketPathTooLong { length, .. } if length > 107),
        "{error:?}"
    );
    assert!(error.to_string().contains("shorter --data-dir"), "{error}");

    let config = DatabaseConfig {
        url: None,
        data_dir: long.clone(),
        max_connections: 1,
        missing_cluster: MissingCluster::Create,
    };
    let error = database::open(&config).await.unwrap_err();
    assert!(
        matches!(
            error,
            DatabaseError::Embedded(EmbeddedError::SocketPathTooLong { .. })
        ),
        "{error:?}"
    );
    assert!(
        !long.exists(),
        "nothing is created for a refused data directory"
    );
}

#[tokio::test]
async fn fresh_databases_are_distinct_and_migrated() {
    let first = fresh_database().await;
    let second = fresh_database().await;
    assert_ne!(first.name, second.name);
    assert!(first
        .name
        .starts_with(&format!("masar_test_{}_", std::process::id())));
    for db in [&first, &second] {
        assert!(migrations_table_exists(&db.pool).await);
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(current, db.name);
    }
    sqlx::query("CREATE TABLE only_in_first (value int)")
        .execute(&first.pool)
        .await
        .unwrap();
    let leaked: bool = sqlx::query_scalar("SELECT to_regclass('only_in_first') IS NOT NULL")
        .fetch_one(&second.pool)
        .await
        .unwrap();
    assert!(!leaked);

    // The URL is what an end-to-end test hands to the `masar` binary as DATABASE_URL.
    let config = DatabaseConfig {
        url: Some(second.url.clone()),
        data_dir: PathBuf::from("/nonexistent"),
        max_connections: 2,
        missing_cluster: MissingCluster::Create,
    };
    let opened = database::open(&config).await.unwrap();
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&opened.pool)
        .await
        .unwrap();
    assert_eq!(current, second.name);
    assert_eq!(opened.connection_url(), second.url);
    opened.close().await;
}

#[tokio::test]
async fn a_connection_failure_names_the_host_but_not_the_password() {
    let config = DatabaseConfig {
        url: Some("postgresql://someone:s3cret-pw@db.invalid:5433/masar".into()),
        data_dir: PathBuf::from("/nonexistent"),
        max_connections: 1,
        missing_cluster: MissingCluster::Create,
    };
    let error = database::open(&config).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, DatabaseError::Connect { .. }), "{error:?}");
    assert!(message.contains("db.invalid:5433"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert!(!format!("{error:?}").contains("s3cret"));
}

/// A data directory under a directory closed to others (mode 0700): as root, the server runs
/// as `postgres`, which cannot reach it, and this is refused plainly before anything is
/// created; as anyone else, the server runs as the caller, who may, and it starts.
#[tokio::test]
async fn a_data_dir_the_server_user_cannot_reach_is_refused_plainly() {
    let dir = DataDir::new();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = DatabaseConfig {
        url: None,
        data_dir: dir.path().join("data"),
        max_connections: 1,
        missing_cluster: MissingCluster::Create,
    };
    let result = database::open(&config).await;
    if !nix::unistd::Uid::effective().is_root() {
        let db = result.unwrap();
        assert!(db.started_embedded_server());
        let owner = std::fs::metadata(dir.path().join("data/pg")).unwrap().uid();
        assert_eq!(owner, server_uid());
        db.close().await;
        skipped_unless_root(
            "the refusal of a data directory the `postgres` system user cannot reach",
        );
        return;
    }
    let error = result.unwrap_err();
    assert!(
        matches!(
            &error,
            DatabaseError::Embedded(EmbeddedError::Unreachable { dir: blocked, mode: 0o700 })
                if blocked == dir.path()
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("chmod o+x"), "{error}");
    assert!(!dir.path().join("data").exists(), "nothing is created");
}

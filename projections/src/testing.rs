//! Test support: a brand-new database per test, with migrations applied (or, to test that a
//! command applies them, without).
//!
//! The server is the one of `DATABASE_URL` when that is set; otherwise a shared embedded
//! cluster in `<workspace>/target/masar-test-pg` (or in the temporary directory when the
//! `postgres` user cannot reach that one, or its socket path is too long), started by the
//! first test process that needs it and left running for the next ones (starting is guarded
//! by the cluster's file lock, and is quick when it already runs). Databases are named
//! `masar_test_<pid>_<counter>`; the first
//! use in a process drops, best effort, those of processes that are gone.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

use crate::database::{
    create_database_on, describe_target, embedded::check_socket_path, quote_identifier,
    DatabaseError, EmbeddedError, EmbeddedPostgres, MIGRATOR,
};

/// Prefix of every test database's name.
pub const PREFIX: &str = "masar_test_";

/// Largest number of connections of a test database's pool (many tests run at once).
pub const MAX_CONNECTIONS: u32 = 5;

/// A fresh test database (migrations applied, unless it comes from
/// [`fresh_empty_database`]).
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// A pool on it (at most [`MAX_CONNECTIONS`] connections).
    pub pool: PgPool,
    /// A connection string another process (e.g. the `masar` binary) can use as
    /// `DATABASE_URL`.
    pub url: String,
    /// Its name, `masar_test_<pid>_<counter>`.
    pub name: String,
}

/// The server test databases are created on.
#[derive(Debug)]
enum Server {
    /// `DATABASE_URL`: its options and the URL as given.
    Url {
        options: Box<PgConnectOptions>,
        url: String,
    },
    /// The shared embedded cluster.
    Embedded(EmbeddedPostgres),
}

impl Server {
    fn admin_options(&self) -> PgConnectOptions {
        match self {
            Server::Url { options, .. } => PgConnectOptions::clone(options),
            Server::Embedded(embedded) => embedded.connect_options("postgres"),
        }
    }

    fn options(&self, database: &str) -> PgConnectOptions {
        match self {
            Server::Url { options, .. } => PgConnectOptions::clone(options).database(database),
            Server::Embedded(embedded) => embedded.connect_options(database),
        }
    }

    fn url(&self, database: &str) -> String {
        match self {
            Server::Url { url, .. } => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}dbname={database}")
            }
            Server::Embedded(embedded) => embedded.url(database),
        }
    }
}

static SERVER: OnceCell<Server> = OnceCell::const_new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A brand-new database with migrations applied; panics when none can be had (see
/// [`try_fresh_database`]).
pub async fn fresh_database() -> TestDatabase {
    match try_fresh_database().await {
        Ok(database) => database,
        #[allow(clippy::panic)]
        Err(error) => panic!("could not create a test database: {error}"),
    }
}

/// A brand-new database with migrations applied, on the server of `DATABASE_URL` or on the
/// shared embedded test cluster.
pub async fn try_fresh_database() -> Result<TestDatabase, DatabaseError> {
    let database = try_fresh_empty_database().await?;
    MIGRATOR.run(&database.pool).await?;
    Ok(database)
}

/// A brand-new database with no migration applied, not even the table that records them;
/// panics when none can be had (see [`try_fresh_empty_database`]).
pub async fn fresh_empty_database() -> TestDatabase {
    match try_fresh_empty_database().await {
        Ok(database) => database,
        #[allow(clippy::panic)]
        Err(error) => panic!("could not create an empty test database: {error}"),
    }
}

/// A brand-new database with no migration applied, on the server of `DATABASE_URL` or on the
/// shared embedded test cluster.
pub async fn try_fresh_empty_database() -> Result<TestDatabase, DatabaseError> {
    let server = SERVER.get_or_try_init(start_server).await?;
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    {
        let mut admin = connect_admin(server).await?;
        let created = create_database_on(&mut admin, &name).await;
        let _ = admin.close().await;
        created?;
    }
    let options = server.options(&name);
    let target = describe_target(&options);
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options.disable_statement_logging())
        .await
        .map_err(|source| DatabaseError::Connect { target, source })?;
    Ok(TestDatabase {
        pool,
        url: server.url(&name),
        name,
    })
}

async fn connect_admin(server: &Server) -> Result<PgConnection, DatabaseError> {
    let options = server.admin_options();
    let target = describe_target(&options);
    PgConnection::connect_with(&options.disable_statement_logging())
        .await
        .map_err(|source| DatabaseError::Connect { target, source })
}

/// Chooses the server, starts the embedded one if needed, and drops stale test databases.
async fn start_server() -> Result<Server, DatabaseError> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty());
    let server = match url {
        Some(url) => Server::Url {
            options: Box::new(
                PgConnectOptions::from_str(&url)
                    .map_err(|error| DatabaseError::InvalidUrl(error.to_string()))?,
            ),
            url,
        },
        None => {
            let (dir, fallback) = test_cluster_dirs();
            let embedded = match start_embedded(&dir).await {
                // Root, and the postgres user cannot reach the workspace (e.g. under /root).
                Err(DatabaseError::Embedded(EmbeddedError::Unreachable { .. })) => {
                    start_embedded(&fallback).await?
                }
                started => started?,
            };
            Server::Embedded(embedded)
        }
    };
    // In the background, so that no test waits for it: at most one process at a time drops
    // the databases of processes that are gone (a process that ends first just leaves the rest
    // to the next one).
    tokio::spawn(drop_stale_databases(server.admin_options()));
    Ok(server)
}

/// Starts (or finds running) the shared test cluster in `dir`.
async fn start_embedded(dir: &Path) -> Result<EmbeddedPostgres, DatabaseError> {
    let embedded = EmbeddedPostgres::new(dir)?
        // Many test processes, each with a pool, and the binaries they start.
        .with_setting("max_connections", "300")
        // Test data is disposable: no waiting for the disk. Dropping a database forces a
        // checkpoint, and a slow one would hold back every projection of the cluster (the
        // feed waits for transactions older than its events, in every database).
        .with_setting("fsync", "off")
        .with_setting("synchronous_commit", "off")
        .with_setting("full_page_writes", "off")
        // Room for a benchmark's million-event log and its indexes (about 800 MB), as a
        // production server's cache would hold its working set: PostgreSQL's default of
        // 128 MB makes every stream-ordered read fetch its pages from the operating system's
        // cache again and again.
        .with_setting("shared_buffers", "1GB");
    embedded.start().await?;
    Ok(embedded)
}

/// `<workspace>/target/masar-test-pg` (or the fallback when that path is too long for the
/// cluster's Unix socket), and the fallback: a directory under the system's temporary
/// directory, named after the workspace.
fn test_cluster_dirs() -> (PathBuf, PathBuf) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = std::fs::canonicalize(&workspace).unwrap_or(workspace);
    let digest = Sha256::digest(workspace.as_os_str().as_encoded_bytes());
    let fallback =
        std::env::temp_dir().join(format!("masar-test-pg-{}", &hex::encode(digest)[..12]));
    let dir = workspace.join("target").join("masar-test-pg");
    if check_socket_path(&dir).is_err() {
        return (fallback.clone(), fallback);
    }
    (dir, fallback)
}

/// Key of the advisory lock held by the process dropping stale test databases.
const CLEANUP_LOCK: i64 = 0x6d61_7361_725f_7463;

/// Drops the test databases of processes that are gone, unless another process is doing so
/// (best effort: errors are ignored).
async fn drop_stale_databases(admin: PgConnectOptions) {
    let Ok(mut admin) = PgConnection::connect_with(&admin.disable_statement_logging()).await else {
        return;
    };
    let locked = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(CLEANUP_LOCK)
        .fetch_one(&mut admin)
        .await;
    if let Ok(true) = locked {
        drop_stale_databases_on(&mut admin).await;
    }
    // Closing the session releases the lock.
    let _ = admin.close().await;
}

async fn drop_stale_databases_on(admin: &mut PgConnection) {
    let pattern = format!("{}%", PREFIX.replace('_', "\\_"));
    let Ok(names) =
        sqlx::query_scalar::<_, String>("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(pattern)
            .fetch_all(&mut *admin)
            .await
    else {
        return;
    };
    for name in names {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if pid <= 0 || pid == std::process::id() as i32 || process_alive(pid) {
            continue;
        }
        let statement = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(&name)
        );
        if sqlx::query(&statement).execute(&mut *admin).await.is_ok() {
            tracing::debug!("dropped stale test database {name}");
        }
    }
}

fn process_alive(pid: i32) -> bool {
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// A PostgreSQL server of the test's own, in a new directory under the system's temporary
/// directory, with one migrated database: for tests that need the cluster's transaction ids to
/// themselves (every test of the shared server moves its ids). The server is stopped and its
/// directory removed when this is dropped.
#[derive(Debug)]
pub struct PrivateCluster {
    server: EmbeddedPostgres,
    /// The migrated database, `masar`.
    pub database: TestDatabase,
}

/// Starts a [`PrivateCluster`] (initdb, start, create and migrate `masar`: a few seconds).
pub async fn private_cluster() -> Result<PrivateCluster, DatabaseError> {
    let dir = std::env::temp_dir().join(format!(
        "masar-private-pg-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let server = EmbeddedPostgres::new(&dir)?
        .with_setting("fsync", "off")
        .with_setting("synchronous_commit", "off")
        .with_setting("full_page_writes", "off");
    // From here on, dropping the cluster stops the server and removes the directory.
    let mut cluster = PrivateCluster {
        server: server.clone(),
        database: TestDatabase {
            pool: PgPoolOptions::new().connect_lazy_with(server.connect_options("postgres")),
            url: String::new(),
            name: String::new(),
        },
    };
    server.start().await?;
    cluster.database = cluster.database("masar").await?;
    Ok(cluster)
}

impl PrivateCluster {
    /// The cluster's server, e.g. to stop and start it.
    pub fn server(&self) -> &EmbeddedPostgres {
        &self.server
    }

    /// Creates database `name` on the cluster and applies the migrations.
    pub async fn database(&self, name: &str) -> Result<TestDatabase, DatabaseError> {
        {
            let options = self.server.connect_options("postgres");
            let target = describe_target(&options);
            let mut admin = PgConnection::connect_with(&options)
                .await
                .map_err(|source| DatabaseError::Connect { target, source })?;
            let created = create_database_on(&mut admin, name).await;
            let _ = admin.close().await;
            created?;
        }
        let options = self.server.connect_options(name);
        let target = describe_target(&options);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS * 4)
            .connect_with(options)
            .await
            .map_err(|source| DatabaseError::Connect { target, source })?;
        MIGRATOR.run(&pool).await?;
        Ok(TestDatabase {
            pool,
            url: self.server.url(name),
            name: name.to_owned(),
        })
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // An immediate shutdown (SIGQUIT to the postmaster): nothing in it is worth keeping,
        // and a signal works from a synchronous drop, as root too.
        let pid = std::fs::read_to_string(self.server.pgdata().join("postmaster.pid"))
            .ok()
            .and_then(|text| {
                text.lines()
                    .next()
                    .and_then(|l| l.trim().parse::<i32>().ok())
            });
        if let Some(pid) = pid.filter(|pid| *pid > 0) {
            let postmaster = nix::unistd::Pid::from_raw(pid);
            if nix::sys::signal::kill(postmaster, nix::sys::signal::Signal::SIGQUIT).is_ok() {
                for _ in 0..100 {
                    if !process_alive(pid) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        }
        let _ = std::fs::remove_dir_all(self.server.data_dir());
    }
}

//! Database connection: to the server of `DATABASE_URL`, or to the embedded private PostgreSQL
//! in the data directory (started if it is not running), with pending migrations applied.

pub mod embedded;

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

pub use embedded::{require_cluster, BinarySearch, EmbeddedError, EmbeddedPostgres};

/// The migrations of `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The database the embedded server serves masar from.
pub const EMBEDDED_DATABASE: &str = "masar";

/// Where the data lives (filled by the command line from `DATABASE_URL` and `MASAR_DATA_DIR`).
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// The PostgreSQL server to use; `None` for the embedded one.
    pub url: Option<String>,
    /// The embedded server's directory (used only without `url`).
    pub data_dir: PathBuf,
    /// Largest number of connections in the pool.
    pub max_connections: u32,
    /// Whether the embedded cluster may be created when `data_dir` holds none.
    pub missing_cluster: MissingCluster,
}

/// What [`open`] does when the embedded data directory holds no cluster yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingCluster {
    /// Fail ([`EmbeddedError::NoDataDirectory`] or [`EmbeddedError::NoCluster`]), creating
    /// nothing: for commands that read an existing log, where a mistyped directory must not
    /// pass for an empty log.
    #[default]
    Refuse,
    /// Create the directory and initialise the cluster: for commands that may start from
    /// nothing (`serve`, `demo`, `migrate`).
    Create,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// `DATABASE_URL` is not a PostgreSQL connection string.
    #[error("DATABASE_URL is not a valid PostgreSQL connection string: {0}")]
    InvalidUrl(String),
    /// The server could not be reached or refused the connection.
    #[error("could not connect to PostgreSQL at {target}: {source}")]
    Connect {
        /// Host (or socket directory), port and database; never the password.
        target: String,
        /// The error.
        source: sqlx::Error,
    },
    /// A query needed to prepare the database failed.
    #[error("could not prepare the database {database}: {source}")]
    Prepare {
        /// The database.
        database: String,
        /// The error.
        source: sqlx::Error,
    },
    /// Applying the pending migrations failed.
    #[error("applying the database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The embedded server could not be found, prepared, started or stopped.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
}

/// An open database: a connection pool, and the embedded server it runs on, if any.
pub struct Database {
    /// The pool, migrations applied.
    pub pool: PgPool,
    url: String,
    embedded: Option<EmbeddedPostgres>,
    started_here: bool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("Database")
            .field("pool", &self.pool)
            .field("embedded", &self.embedded)
            .field("started_here", &self.started_here)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// A connection string another process can use as `DATABASE_URL` to reach the same
    /// database (for the embedded server, through its socket).
    pub fn connection_url(&self) -> String {
        self.url.clone()
    }

    /// The embedded server in use, if any.
    pub fn embedded(&self) -> Option<&EmbeddedPostgres> {
        self.embedded.as_ref()
    }

    /// Whether this process started the embedded server (and so stops it on [`close`]).
    ///
    /// [`close`]: Database::close
    pub fn started_embedded_server(&self) -> bool {
        self.started_here
    }

    /// Closes the pool, and stops the embedded server if this process started it; a server
    /// that was already running when the database was opened is left running.
    pub async fn close(self) {
        self.pool.close().await;
        if let (Some(embedded), true) = (&self.embedded, self.started_here) {
            if let Err(error) = embedded.stop().await {
                tracing::warn!("could not stop the embedded PostgreSQL: {error}");
            }
        }
    }
}

impl DatabaseError {
    /// Whether the server was not reachable (yet): nothing answered, or it is starting up.
    /// Worth trying again, unlike a refused login or a database that does not exist.
    pub fn is_unreachable(&self) -> bool {
        let DatabaseError::Connect { source, .. } = self else {
            return false;
        };
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            // cannot_connect_now: starting up, shutting down, in recovery.
            sqlx::Error::Database(error) => error.code().as_deref() == Some("57P03"),
            _ => false,
        }
    }
}

/// Opens the database of `config` and applies pending migrations: the server of `config.url`,
/// or else the embedded server in `config.data_dir`, started if needed (and initialised if
/// `config.missing_cluster` allows it, else refused when it holds no cluster), database `masar`
/// created if missing.
pub async fn open(config: &DatabaseConfig) -> Result<Database, DatabaseError> {
    let max_connections = config.max_connections.max(1);
    let database = match &config.url {
        Some(url) => {
            let options = PgConnectOptions::from_str(url)
                .map_err(|error| DatabaseError::InvalidUrl(error.to_string()))?;
            let pool = connect_pool(options, max_connections).await?;
            Database {
                pool,
                url: url.clone(),
                embedded: None,
                started_here: false,
            }
        }
        None => {
            if config.missing_cluster == MissingCluster::Refuse {
                require_cluster(&config.data_dir)?;
            }
            let embedded = EmbeddedPostgres::new(&config.data_dir)?;
            let started_here = embedded.start().await?;
            let prepared = async {
                create_database(&embedded, EMBEDDED_DATABASE).await?;
                connect_pool(embedded.connect_options(EMBEDDED_DATABASE), max_connections).await
            }
            .await;
            match prepared {
                Ok(pool) => Database {
                    pool,
                    url: embedded.url(EMBEDDED_DATABASE),
                    embedded: Some(embedded),
                    started_here,
                },
                Err(error) => {
                    if started_here {
                        let _ = embedded.stop().await;
                    }
                    return Err(error);
                }
            }
        }
    };
    if let Err(error) = MIGRATOR.run(&database.pool).await {
        database.close().await;
        return Err(DatabaseError::Migrate(error));
    }
    Ok(database)
}

/// Where `options` point, for messages: host or socket, port, database; never the password.
pub fn describe_target(options: &PgConnectOptions) -> String {
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_owned(),
    };
    match options.get_database() {
        Some(database) => format!("{host}:{} (database {database})", options.get_port()),
        None => format!("{host}:{}", options.get_port()),
    }
}

async fn connect_pool(
    options: PgConnectOptions,
    max_connections: u32,
) -> Result<PgPool, DatabaseError> {
    let target = describe_target(&options);
    let options = options.disable_statement_logging();
    // One direct connection first: a refused or misconfigured server fails at once, where the
    // pool would keep retrying until its acquire timeout.
    let probe = PgConnection::connect_with(&options)
        .await
        .map_err(|source| DatabaseError::Connect {
            target: target.clone(),
            source,
        })?;
    let _ = probe.close().await;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
        .map_err(|source| DatabaseError::Connect { target, source })
}

/// Creates `database` on the embedded server unless it exists (tolerating a concurrent
/// creation by another process).
pub async fn create_database(
    embedded: &EmbeddedPostgres,
    database: &str,
) -> Result<(), DatabaseError> {
    let options = embedded.connect_options("postgres");
    let target = describe_target(&options);
    let mut connection = PgConnection::connect_with(&options)
        .await
        .map_err(|source| DatabaseError::Connect { target, source })?;
    let result = create_database_on(&mut connection, database).await;
    let _ = connection.close().await;
    result
}

/// Creates `database` through `connection` unless it exists (tolerating a concurrent
/// creation by another process).
pub async fn create_database_on(
    connection: &mut PgConnection,
    database: &str,
) -> Result<(), DatabaseError> {
    let prepare_error = |source| DatabaseError::Prepare {
        database: database.to_owned(),
        source,
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut *connection)
            .await
            .map_err(prepare_error)?;
    if exists {
        return Ok(());
    }
    let statement = format!("CREATE DATABASE {}", quote_identifier(database));
    match sqlx::query(&statement).execute(&mut *connection).await {
        Ok(_) => {
            tracing::info!("created database {database}");
            Ok(())
        }
        // duplicate_database, or unique_violation when two creations race.
        Err(sqlx::Error::Database(error))
            if matches!(error.code().as_deref(), Some("42P04") | Some("23505")) =>
        {
            Ok(())
        }
        Err(error) => Err(prepare_error(error)),
    }
}

/// Quotes an SQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

//! `masar serve`: the HTTP server, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use masar_projections::database::Database;
use masar_projections::rebuild::{self, RebuildProgress};
use masar_projections::seal::{self, SealError, SealOutcome};
use sqlx::PgPool;

use super::Config;
use crate::graphql::{SchemaOptions, WebSocketOptions};
use crate::privacy::{KeyStore, MasterKeyError, PersonalDataVault};
use crate::seal_key::SealKey;
use crate::server::{AppState, ServerOptions};

/// Options of `masar serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MASAR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Whether GraphQL introspection queries are answered (GraphiQL and code generators need
    /// them; the schema is public in api/contract anyway). `false` turns them off.
    #[arg(
        long,
        env = "MASAR_GRAPHQL_INTROSPECTION",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "true|false"
    )]
    pub graphql_introspection: bool,
    /// Counts from 1 to this − 1 are suppressed in the indicator figures of roles other than
    /// ADMIN and AUDITOR (at least 5).
    #[arg(
        long,
        env = "MASAR_SMALL_CELL_THRESHOLD",
        default_value_t = 5,
        value_parser = clap::value_parser!(i64).range(5..)
    )]
    pub small_cell_threshold: i64,
    /// How long, in milliseconds, list and indicator queries wait for the projections to
    /// reflect the writes already acknowledged before answering with what they hold.
    #[arg(
        long,
        env = "MASAR_PROJECTION_WAIT_MS",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(0..=60_000)
    )]
    pub projection_wait_ms: u64,
    /// Seconds between scheduled seals of the log (`masar seal`); the first is made at
    /// start-up, and a seal is made only when the log has grown. 0 turns scheduled sealing off.
    #[arg(
        long,
        env = "MASAR_SEAL_INTERVAL",
        default_value_t = 3600,
        value_name = "SECONDS"
    )]
    pub seal_interval: u64,
    /// Seconds to keep trying, with a growing pause between attempts, when the PostgreSQL
    /// server of DATABASE_URL does not answer yet (both starting at boot); 0 gives up at once.
    #[arg(
        long,
        env = "MASAR_DB_STARTUP_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub db_startup_timeout: u64,
    /// How long, in milliseconds, a request may take before it is answered 408 Request
    /// Timeout; a query or mutation sent over a WebSocket is stopped after as long, with an
    /// INTERNAL error.
    #[arg(
        long,
        env = "MASAR_REQUEST_TIMEOUT_MS",
        default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000)
    )]
    pub request_timeout_ms: u64,
    /// How long, in milliseconds, a WebSocket may stay open without sending
    /// `connection_init`; it is then closed with 4408.
    #[arg(
        long,
        env = "MASAR_WS_INIT_TIMEOUT_MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub ws_init_timeout_ms: u64,
}

/// Opens the database, serves until a shutdown signal, then closes the database (stopping the
/// embedded server if this process started it).
pub async fn run(config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    let database =
        open_when_reachable(config, Duration::from_secs(args.db_startup_timeout)).await?;
    let result = serve(config, &database, &args).await;
    database.close().await;
    result
}

/// Opens the database, trying again while its server does not answer yet, for at most
/// `patience`: pauses of 0.25 s doubling up to 5 s, each attempt logged. Any other failure
/// (a refused login, a bad URL, a failed migration) ends it at once.
async fn open_when_reachable(
    config: &Config,
    patience: Duration,
) -> anyhow::Result<masar_projections::database::Database> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        match config.try_open_database().await {
            Ok(database) => return Ok(database),
            Err(error) if error.is_unreachable() && tokio::time::Instant::now() < deadline => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                tracing::warn!(
                    db.attempt = attempt,
                    db.retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    db.gives_up_in_s = left.as_secs(),
                    "the database does not answer yet: {error}"
                );
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(error) if error.is_unreachable() => {
                anyhow::bail!(
                    "{error} (gave up after {attempt} attempts in {} s: MASAR_DB_STARTUP_TIMEOUT)",
                    patience.as_secs()
                )
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Serves on an open database exactly as `masar serve` does, until a shutdown signal.
pub(super) async fn serve(
    config: &Config,
    database: &Database,
    args: &ServeArgs,
) -> anyhow::Result<()> {
    let vault = open_vault(config, database).await?;
    let seal_key = scheduled_seal_key(config, args)?;
    let trusted_seal_key = match config.seal_public_key.as_deref() {
        Some(text) if !text.trim().is_empty() => config.trusted_seal_key()?,
        _ => match &seal_key {
            Some(key) => Some(key.verifying_key()),
            None => config.trusted_seal_key()?,
        },
    };
    let options = ServerOptions {
        schema: SchemaOptions {
            introspection: args.graphql_introspection,
            small_cell_threshold: args.small_cell_threshold,
            projection_wait: std::time::Duration::from_millis(args.projection_wait_ms),
            trusted_seal_key,
            ..SchemaOptions::default()
        },
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        websocket: WebSocketOptions {
            init_timeout: Duration::from_millis(args.ws_init_timeout_ms),
            ..WebSocketOptions::default()
        },
    };
    rebuild_marked_projections(&database.pool).await?;
    let state = AppState::new(database.pool.clone(), vault, options).await?;
    let sealer = seal_key.map(|key| {
        tokio::spawn(seal_periodically(
            database.pool.clone(),
            key,
            Duration::from_secs(args.seal_interval),
        ))
    });
    let served = crate::server::serve(state, args.listen).await;
    if let Some(sealer) = sealer {
        sealer.abort();
    }
    served
}

/// Rebuilds, before anything is served, the projections that a migration marked for rebuild
/// because their tables may be wrong (`migrations/0010_rebuild_projections.sql`), logging
/// progress every tenth of the way.
async fn rebuild_marked_projections(pool: &PgPool) -> anyhow::Result<()> {
    let marked = rebuild::marked_for_rebuild(pool).await?;
    if marked.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        projections = %marked.join(", "),
        "projections marked for rebuild by an upgrade (their tables may miss events): \
         rebuilding them from the log before serving"
    );
    let logged = std::sync::Mutex::new((String::new(), 0u64));
    let progress = |name: &str, step: RebuildProgress| {
        let RebuildProgress::Replaying { done, total } = step else {
            return;
        };
        let tenth = (done * 10).checked_div(total).unwrap_or(10);
        let mut last = logged.lock().unwrap_or_else(|e| e.into_inner());
        if last.0 != name || tenth > last.1 {
            *last = (name.to_owned(), tenth);
            tracing::info!(
                projection = name,
                events.done = done,
                events.total = total,
                "rebuilding"
            );
        }
    };
    for (name, report) in rebuild::rebuild_marked(pool, &progress).await? {
        tracing::info!(
            projection = %name,
            events.replayed = report.replayed,
            events.caught_up = report.caught_up,
            "projection rebuilt"
        );
    }
    Ok(())
}

/// The seal key for scheduled sealing, or `None` (with a warning when it is for want of a
/// key) when scheduled sealing is off.
fn scheduled_seal_key(config: &Config, args: &ServeArgs) -> anyhow::Result<Option<SealKey>> {
    if args.seal_interval == 0 {
        tracing::info!("scheduled sealing is off (MASAR_SEAL_INTERVAL=0)");
        return Ok(None);
    }
    match config.seal_key_source() {
        Some(source) => {
            let key = source.load()?;
            tracing::info!(
                seal.public_key = %key.public_key_hex(),
                seal.interval_seconds = args.seal_interval,
                "the log will be sealed periodically"
            );
            Ok(Some(key))
        }
        None => {
            tracing::warn!(
                "no seal key configured (MASAR_SEAL_KEY_FILE): the log will not be sealed; \
                 set it to seal every MASAR_SEAL_INTERVAL seconds"
            );
            Ok(None)
        }
    }
}

/// Seals the log now and then every `interval`, whenever it has grown; failures are logged
/// and retried at the next tick.
async fn seal_periodically(pool: PgPool, key: SealKey, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match seal::seal(&pool, key.signing_key()).await {
            Ok(SealOutcome::Sealed(seal)) => tracing::info!(
                seal.position = seal.position,
                seal.streams = seal.streams,
                "sealed the log"
            ),
            Ok(SealOutcome::UpToDate(_) | SealOutcome::EmptyLog) => {
                tracing::debug!("nothing new to seal")
            }
            Err(error @ SealError::LogDoesNotMatch(_)) => tracing::error!("{error}"),
            Err(error) => tracing::warn!("scheduled seal failed: {error}"),
        }
    }
}

/// The personal data vault, or `None` (with a warning) when no master key is configured: the
/// server then refuses to record or read personal data, and serves everything else. A master
/// key that is configured but cannot be read stops the server.
pub(super) async fn open_vault(
    config: &Config,
    database: &Database,
) -> anyhow::Result<Option<PersonalDataVault>> {
    let source = match config.master_key_source() {
        Ok(source) => source,
        Err(MasterKeyError::Missing) => {
            tracing::warn!(
                "no master key configured (MASAR_MASTER_KEY or MASAR_MASTER_KEY_FILE): personal \
                 data will be neither recorded nor read"
            );
            return Ok(None);
        }
        Err(error) => return Err(error.into()),
    };
    let master = source.load(&KeyStore::new(database.pool.clone())).await?;
    tracing::info!(master_key.id = master.id(), "personal data vault ready");
    Ok(Some(PersonalDataVault::new(database.pool.clone(), master)))
}

//! The `masar` command line: one `Command` enum, one module per subcommand.

mod demo;
mod erase;
mod export;
mod keys;
mod migrate;
mod progress;
mod projections;
mod seal;
mod serve;
mod token;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use masar_projections::database::{self, Database, DatabaseConfig, MissingCluster};

use masar_projections::seal::{parse_public_key, VerifyingKey};

use crate::privacy::{KeyStore, MasterKeyError, MasterKeySource, PersonalDataVault, SecretText};
use crate::seal_key::SealKeySource;

/// Masar: an event-sourced beneficiary journey tracker for migrant-inclusion programmes.
#[derive(Debug, Parser)]
#[command(name = "masar", version, about)]
pub struct Cli {
    /// Where the data lives.
    #[command(flatten)]
    pub config: Config,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// PostgreSQL server to use; when unset, a private embedded PostgreSQL runs in --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory of the embedded PostgreSQL (used only when DATABASE_URL is unset).
    #[arg(
        long,
        env = "MASAR_DATA_DIR",
        default_value = "./masar-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Largest number of database connections this process opens.
    #[arg(
        long,
        env = "MASAR_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,
    /// The master key that wraps every beneficiary's personal data key: base64 of 32 random
    /// bytes (`masar keys generate`). Prefer the environment variable or
    /// --master-key-file: a value on the command line is visible to other local users.
    /// Wins over --master-key-file.
    #[arg(
        long,
        env = "MASAR_MASTER_KEY",
        global = true,
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub master_key: Option<SecretText>,
    /// File holding the master key (base64), readable by masar only. Without a master key and
    /// without DATABASE_URL, master.key in the data directory is generated (0600) and used; with
    /// DATABASE_URL, one of the two is required by commands that read personal data.
    #[arg(
        long,
        env = "MASAR_MASTER_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub master_key_file: Option<PathBuf>,
    /// File holding the Ed25519 key that signs seals (base64 of 32 random bytes, e.g. from
    /// `masar keys generate`). Without it and without DATABASE_URL, seal.key in the data
    /// directory is generated (0600) and used.
    #[arg(long, env = "MASAR_SEAL_KEY_FILE", global = true, value_name = "FILE")]
    pub seal_key_file: Option<PathBuf>,
    /// The seal public key to trust (64 hex digits, as `masar seal --public-key` prints it):
    /// verification reports any seal signed by another key. When unset, the public half of
    /// the seal key, if there is one, is trusted.
    #[arg(long, env = "MASAR_SEAL_PUBLIC_KEY", global = true, value_name = "HEX")]
    pub seal_public_key: Option<String>,
    /// Whether the command may create the embedded cluster when the data directory holds none:
    /// set from the command by [`Cli::run`] ([`Command::missing_cluster`]).
    #[arg(skip)]
    missing_cluster: MissingCluster,
}

impl Config {
    /// Opens the database (starting the embedded server if needed, creating it only for the
    /// commands that may: see [`Command::missing_cluster`]) and applies migrations.
    pub async fn open_database(&self) -> anyhow::Result<Database> {
        Ok(self.try_open_database().await?)
    }

    /// [`Config::open_database`], with the database's own error (to tell whether the server
    /// was merely unreachable).
    pub async fn try_open_database(
        &self,
    ) -> Result<Database, masar_projections::database::DatabaseError> {
        let config = DatabaseConfig {
            url: self
                .database_url
                .clone()
                .filter(|url| !url.trim().is_empty()),
            data_dir: self.data_dir.clone(),
            max_connections: self.db_max_connections,
            missing_cluster: self.missing_cluster,
        };
        database::open(&config).await
    }

    /// Where the master key comes from: MASAR_MASTER_KEY, else MASAR_MASTER_KEY_FILE, else
    /// (embedded default only) the generated `<data-dir>/master.key`.
    pub fn master_key_source(&self) -> Result<MasterKeySource, MasterKeyError> {
        MasterKeySource::resolve(
            self.master_key.as_ref(),
            self.master_key_file.as_deref(),
            self.embedded_data_dir(),
        )
    }

    /// Where the seal key comes from: MASAR_SEAL_KEY_FILE, else (embedded default only) the
    /// generated `<data-dir>/seal.key`.
    pub fn seal_key_source(&self) -> Option<SealKeySource> {
        SealKeySource::resolve(self.seal_key_file.as_deref(), self.embedded_data_dir())
    }

    /// The seal key trusted to sign seals: MASAR_SEAL_PUBLIC_KEY, else the public half of the
    /// seal key if it exists (never generated here), else none.
    pub fn trusted_seal_key(&self) -> anyhow::Result<Option<VerifyingKey>> {
        if let Some(text) = self
            .seal_public_key
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            return parse_public_key(text)
                .map(Some)
                .map_err(|error| anyhow::anyhow!("MASAR_SEAL_PUBLIC_KEY: {error}"));
        }
        match self.seal_key_source() {
            Some(source) => Ok(source.load_existing()?.map(|key| key.verifying_key())),
            None => Ok(None),
        }
    }

    /// The embedded default's data directory, when DATABASE_URL is unset.
    fn embedded_data_dir(&self) -> Option<&std::path::Path> {
        self.database_url
            .as_deref()
            .is_none_or(|url| url.trim().is_empty())
            .then_some(self.data_dir.as_path())
    }

    /// The personal data vault over `database`, with the configured master key (generated
    /// for the embedded default if missing).
    pub async fn open_vault(&self, database: &Database) -> anyhow::Result<PersonalDataVault> {
        let source = self.master_key_source()?;
        let master = source.load(&KeyStore::new(database.pool.clone())).await?;
        Ok(PersonalDataVault::new(database.pool.clone(), master))
    }
}

/// The subcommands of `api/contract/CLI.md`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (health now; GraphQL at /graphql) until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Register the demo programmes and organisations, record synthetic journeys through the
    /// API's command path, print an ADMIN token, then serve.
    Demo(demo::DemoArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Crypto-shred a beneficiary's personal data: destroy their data key and record
    /// PersonalDataErased (who, when, why). Every other fact stays; the hash chain still
    /// verifies.
    Erase(erase::EraseArgs),
    /// Manage the master key of personal data: generate one, rotate it.
    Keys(keys::KeysArgs),
    /// Issue or revoke API tokens (`token issue` bootstraps the first ADMIN).
    Token(token::TokenArgs),
    /// Projections: their progress, and rebuilding them from the whole log.
    Projections(projections::ProjectionsArgs),
    /// Recompute every stream's hash chain from the stored rows and report each problem with
    /// its stream and sequence; exit 1 when anything is wrong.
    Verify(verify::VerifyArgs),
    /// Write data out for others: `export events` writes the raw log as JSON Lines, in global
    /// order, with hashes and seals, for independent verification (tools/verify_export.py).
    Export(export::ExportArgs),
    /// Sign a seal over the current log head with the seal key (Ed25519), committing to every
    /// stream's head; `--public-key` prints the key auditors should trust.
    Seal(seal::SealArgs),
}

impl Command {
    /// Whether this command may create the embedded cluster when the data directory holds
    /// none: only those that start from nothing. Every other command reads an existing log,
    /// and a mistyped --data-dir must fail rather than pass for an empty log.
    pub fn missing_cluster(&self) -> MissingCluster {
        match self {
            Command::Serve(_) | Command::Demo(_) | Command::Migrate => MissingCluster::Create,
            Command::Erase(_)
            | Command::Keys(_)
            | Command::Token(_)
            | Command::Projections(_)
            | Command::Verify(_)
            | Command::Export(_)
            | Command::Seal(_) => MissingCluster::Refuse,
        }
    }
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(mut self) -> anyhow::Result<()> {
        self.config.missing_cluster = self.command.missing_cluster();
        match self.command {
            Command::Serve(args) => serve::run(&self.config, args).await,
            Command::Demo(args) => demo::run(&self.config, args).await,
            Command::Migrate => migrate::run(&self.config).await,
            Command::Erase(args) => erase::run(&self.config, args).await,
            Command::Keys(args) => keys::run(&self.config, args).await,
            Command::Token(args) => token::run(&self.config, args).await,
            Command::Projections(args) => projections::run(&self.config, args).await,
            Command::Verify(args) => verify::run(&self.config, args).await,
            Command::Export(args) => export::run(&self.config, args).await,
            Command::Seal(args) => seal::run(&self.config, args).await,
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`). Never log personal data.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}

//! The `masar` command line: one `Command` enum, one module per subcommand.

mod migrate;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use masar_projections::database::{self, Database, DatabaseConfig};

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
}

impl Config {
    /// Opens the database (starting the embedded server if needed) and applies migrations.
    pub async fn open_database(&self) -> anyhow::Result<Database> {
        let config = DatabaseConfig {
            url: self
                .database_url
                .clone()
                .filter(|url| !url.trim().is_empty()),
            data_dir: self.data_dir.clone(),
            max_connections: self.db_max_connections,
        };
        Ok(database::open(&config).await?)
    }
}

/// The subcommands of `shared/contract/CLI.md`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (health now; GraphQL at /graphql) until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::run(&self.config, args).await,
            Command::Migrate => migrate::run(&self.config).await,
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

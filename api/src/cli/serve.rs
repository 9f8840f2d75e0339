//! `masar serve`: the HTTP server, until SIGINT or SIGTERM.

use std::net::SocketAddr;

use super::Config;

/// Options of `masar serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MASAR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// Opens the database, serves until a shutdown signal, then closes the database (stopping the
/// embedded server if this process started it).
pub async fn run(config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    let database = config.open_database().await?;
    let result = crate::server::serve(database.pool.clone(), args.listen).await;
    database.close().await;
    result
}

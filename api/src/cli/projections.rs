//! `masar projections status` and `masar projections rebuild [NAME]`.

use std::time::Instant;

use masar_projections::feed;
use masar_projections::rebuild::{self, RebuildProgress, PROJECTIONS};

use super::progress::{progress_bar, PeriodicLine};
use super::Config;

/// Options of `masar projections`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectionsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ProjectionsCommand,
}

/// The subcommands of `masar projections`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ProjectionsCommand {
    /// Each projection's position, the log head and the lag.
    Status,
    /// Replay the whole log into fresh tables and swap them in (every projection, or NAME);
    /// a running server keeps answering meanwhile.
    Rebuild {
        /// `beneficiaries` or `programme_activities`; all when omitted.
        name: Option<String>,
    },
}

/// Runs `masar projections …`.
pub async fn run(config: &Config, args: ProjectionsArgs) -> anyhow::Result<()> {
    let database = config.open_database().await?;
    let result = match args.command {
        ProjectionsCommand::Status => status(&database.pool).await,
        ProjectionsCommand::Rebuild { name } => rebuild_all(&database.pool, name).await,
    };
    database.close().await;
    result
}

async fn status(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let progress = feed::progress(pool).await?;
    println!(
        "{:<22} {:>12} {:>12} {:>10} {:>10}  updated",
        "projection", "position", "head", "lag", "rebuilding"
    );
    for p in progress {
        let rebuilding = rebuild::is_rebuilding(pool, &p.name).await?;
        println!(
            "{:<22} {:>12} {:>12} {:>10} {:>10}  {}",
            p.name,
            p.position,
            p.head,
            p.lag,
            if rebuilding { "yes" } else { "no" },
            p.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    Ok(())
}

async fn rebuild_all(pool: &sqlx::PgPool, name: Option<String>) -> anyhow::Result<()> {
    let names: Vec<String> = match name {
        Some(name) => {
            let name = name.trim().to_owned();
            if !PROJECTIONS.contains(&name.as_str()) {
                anyhow::bail!(
                    "no projection is called {name:?}: the projections are {}",
                    PROJECTIONS.join(", ")
                );
            }
            vec![name]
        }
        None => PROJECTIONS.iter().map(|n| (*n).to_owned()).collect(),
    };
    for name in names {
        let started = Instant::now();
        let bar = progress_bar(&format!("rebuilding {name}"));
        let periodic = PeriodicLine::new();
        let report = rebuild::rebuild(pool, &name, &|progress| match progress {
            RebuildProgress::Replaying { done, total } => {
                bar.set_length(total);
                bar.set_position(done);
                // Not a terminal: a line every few seconds instead of a bar.
                if bar.is_hidden() && periodic.due() {
                    eprintln!("masar: rebuilding {name}: {done}/{total} events");
                }
            }
            RebuildProgress::Swapping => bar.set_message("catching up and swapping"),
        })
        .await;
        bar.finish_and_clear();
        let report = report?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "masar: rebuilt {name}: {} events replayed, {} caught up, {:.1} s ({:.0} events/s); \
             now at position {}",
            report.replayed,
            report.caught_up,
            seconds,
            (report.replayed + report.caught_up) as f64 / seconds.max(1e-9),
            report.checkpoint.global_position
        );
    }
    Ok(())
}

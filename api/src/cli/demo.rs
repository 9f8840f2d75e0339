//! `masar demo`: registers the organisations and programmes of the demo facts, records a
//! synthetic population's journeys through the API's command path, prints an ADMIN token,
//! then serves like `masar serve`.

use std::io::Write;

use masar_domain::ids::OrganisationCode;
use masar_domain::values::Role;
use masar_projections::database::Database;

use super::serve::{self, ServeArgs};
use super::Config;
use crate::auth::TokenStore;
use crate::demo::generate::{PlanOptions, DEFAULT_SEED};
use crate::demo::{DemoOptions, Progress, DEFAULT_CONCURRENCY, DEMO_ADMIN_ORGANISATION};
use crate::write::WriteSide;

/// Refused items shown before giving up.
const SHOWN_REJECTIONS: usize = 5;

/// Options of `masar demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// How the server is run afterwards (as `masar serve`).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Multiplies every count of the synthetic population: 1 gives Work4Life its published
    /// 15,000 people, 0.1 a tenth of everything.
    #[arg(long, env = "MASAR_DEMO_SCALE", default_value_t = 1.0, value_parser = parse_scale, value_name = "FACTOR")]
    pub scale: f64,
    /// Seed of the synthetic population: the same seed gives the same people and event ids,
    /// so running the demo again records nothing new.
    #[arg(long, env = "MASAR_DEMO_SEED", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Batches of journey events recorded at the same time.
    #[arg(long, env = "MASAR_DEMO_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Stop after printing the token instead of serving.
    #[arg(long, env = "MASAR_DEMO_NO_SERVE")]
    pub no_serve: bool,
}

/// A scale above 0 and at most [`MAX_SCALE`].
fn parse_scale(value: &str) -> Result<f64, String> {
    let scale: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a number: use e.g. 0.1"))?;
    PlanOptions::new(DEFAULT_SEED, scale)
        .map(|options| options.scale)
        .map_err(|error| error.to_string())
}

/// Runs `masar demo`, closing the database (stopping the embedded server if this process
/// started it) whatever the outcome.
pub async fn run(config: &Config, args: DemoArgs) -> anyhow::Result<()> {
    let options = DemoOptions {
        concurrency: usize::from(args.concurrency),
        ..DemoOptions::new(PlanOptions::new(args.seed, args.scale)?)
    };
    let database = config.open_database().await?;
    let result = demo(config, &database, &args, &options).await;
    database.close().await;
    result
}

async fn demo(
    config: &Config,
    database: &Database,
    args: &DemoArgs,
    options: &DemoOptions,
) -> anyhow::Result<()> {
    let write = WriteSide::new(database.pool.clone()).await?;
    let vault = serve::open_vault(config, database).await?;
    if vault.is_none() {
        eprintln!("masar demo: no master key, so the synthetic people get no personal data");
    }
    eprintln!(
        "masar demo: registering the demo programmes and recording synthetic journeys (seed {}, \
         scale {})",
        args.seed, args.scale
    );
    let report =
        crate::demo::run(&write, vault.as_ref(), options, &mut Progress::on_stderr()).await?;
    for line in report.summary() {
        eprintln!("masar demo: {line}");
    }
    if report.rejected() > 0 {
        for rejection in report.rejections.iter().take(SHOWN_REJECTIONS) {
            eprintln!(
                "masar demo: rejected {} {} of {}: {} {}",
                rejection.event_type,
                rejection.event_id,
                rejection.stream,
                rejection.code,
                rejection.message
            );
        }
        anyhow::bail!(
            "{} demo events were rejected: the demo data breaks the journey rules, which is a bug",
            report.rejected()
        );
    }

    let organisation = OrganisationCode::parse(DEMO_ADMIN_ORGANISATION)?;
    let token = TokenStore::new(database.pool.clone())
        .issue(&organisation, Role::Admin, "masar demo")
        .await?;
    // The secret alone on stdout, so that scripts can capture it.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", token.secret)?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "masar demo: issued ADMIN token {} of {organisation} (its secret is the line on stdout; \
         revoke it with `masar token revoke {}`)",
        token.id, token.id
    );
    if args.no_serve {
        return Ok(());
    }
    eprintln!(
        "masar demo: GraphiQL at http://{}/graphql: set the header \
         Authorization: Bearer <the token above>",
        args.serve.listen
    );
    serve::serve(config, database, &args.serve).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_checked() {
        assert_eq!(parse_scale("0.5").unwrap(), 0.5);
        assert_eq!(parse_scale(" 2 ").unwrap(), 2.0);
        for bad in ["0", "-1", "abc", "NaN", "inf", "1000"] {
            assert!(parse_scale(bad).is_err(), "{bad}");
        }
    }
}

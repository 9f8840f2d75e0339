//! `masar token issue` and `masar token revoke`: API tokens from the command line, and how the
//! first ADMIN is bootstrapped.

use std::io::Write;

use chrono::Utc;
use cqrs_es::AggregateError;
use masar_domain::directory::Directory;
use masar_domain::ids::{EventId, OrganisationCode};
use masar_domain::organisation::{OrganisationCommand, OrganisationError};
use masar_domain::values::{Actor, Role};
use sqlx::PgPool;
use uuid::Uuid;

use super::Config;
use crate::auth::TokenStore;
use crate::write::{retry_on_conflict, Envelope, WriteSide};

/// Options of `masar token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// What to do with tokens.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The `masar token` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Issue a token and print its secret, alone, on stdout (its id goes to stderr).
    Issue(IssueArgs),
    /// Revoke a token: it never authenticates again.
    Revoke(RevokeArgs),
}

/// Options of `masar token issue`.
#[derive(Debug, Clone, clap::Args)]
pub struct IssueArgs {
    /// The organisation the token acts for, e.g. REMESS.
    #[arg(long, value_name = "CODE")]
    pub organisation: String,
    /// ADMIN, PARTNER, AUDITOR or DASHBOARD (any case).
    #[arg(long, value_name = "ROLE")]
    pub role: String,
    /// What the token is for, e.g. "Tanger field office".
    #[arg(long, value_name = "TEXT")]
    pub label: String,
    /// Register the organisation first, with this name, if it is not registered yet (how the
    /// first ADMIN is bootstrapped).
    #[arg(long, value_name = "NAME")]
    pub organisation_name: Option<String>,
}

/// Options of `masar token revoke`.
#[derive(Debug, Clone, clap::Args)]
pub struct RevokeArgs {
    /// The token's id, as printed when it was issued.
    #[arg(value_name = "ID")]
    pub id: String,
}

/// Runs `masar token …`, closing the database (stopping the embedded server if this process
/// started it) whatever the outcome.
pub async fn run(config: &Config, args: TokenArgs) -> anyhow::Result<()> {
    // Check the arguments before touching the database.
    let command = Checked::from(args.command)?;
    let database = config.open_database().await?;
    let result = match command {
        Checked::Issue {
            organisation,
            role,
            label,
            organisation_name,
        } => {
            issue(
                &database.pool,
                &organisation,
                role,
                &label,
                organisation_name,
            )
            .await
        }
        Checked::Revoke { id } => revoke(&database.pool, id).await,
    };
    database.close().await;
    result
}

/// The arguments, parsed (with one-line reasons when they cannot be).
enum Checked {
    Issue {
        organisation: OrganisationCode,
        role: Role,
        label: String,
        organisation_name: Option<String>,
    },
    Revoke {
        id: Uuid,
    },
}

impl Checked {
    fn from(command: TokenCommand) -> anyhow::Result<Checked> {
        Ok(match command {
            TokenCommand::Issue(args) => Checked::Issue {
                organisation: OrganisationCode::parse(args.organisation.trim())
                    .map_err(|e| anyhow::anyhow!("--organisation: {e}"))?,
                role: parse_role(&args.role)?,
                label: args.label,
                organisation_name: args.organisation_name,
            },
            TokenCommand::Revoke(args) => Checked::Revoke {
                id: Uuid::parse_str(args.id.trim()).map_err(|_| {
                    anyhow::anyhow!(
                        "{:?} is not a token id: use the UUID printed when the token was issued",
                        args.id
                    )
                })?,
            },
        })
    }
}

/// A role, in any case.
fn parse_role(value: &str) -> anyhow::Result<Role> {
    value.trim().to_ascii_uppercase().parse().map_err(|_| {
        anyhow::anyhow!("--role: {value:?} is not a role: use ADMIN, PARTNER, AUDITOR or DASHBOARD")
    })
}

async fn issue(
    pool: &PgPool,
    organisation: &OrganisationCode,
    role: Role,
    label: &str,
    organisation_name: Option<String>,
) -> anyhow::Result<()> {
    if let Some(name) = organisation_name {
        register_if_absent(pool, organisation, name).await?;
    }
    let token = TokenStore::new(pool.clone())
        .issue(organisation, role, label)
        .await?;
    // The secret alone on stdout, so that scripts can capture it; the id (never the secret)
    // on stderr, for `masar token revoke`.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", token.secret)?;
    stdout.flush()?;
    eprintln!(
        "masar: issued API token {} ({} of {})",
        token.id, token.role, token.organisation
    );
    Ok(())
}

/// Registers `organisation` as `name` unless it is registered already, as an ADMIN of that same
/// organisation: the bootstrap actor, before any token exists.
async fn register_if_absent(
    pool: &PgPool,
    organisation: &OrganisationCode,
    name: String,
) -> anyhow::Result<()> {
    let write = WriteSide::new(pool.clone()).await?;
    if write.directory.organisation_exists(organisation) {
        tracing::info!(%organisation, "organisation already registered; --organisation-name not used");
        return Ok(());
    }
    let actor = Actor::new(organisation.clone(), Role::Admin);
    let event_id = EventId::new(Uuid::new_v4());
    let outcome = retry_on_conflict(|| {
        let now = Utc::now();
        let envelope = Envelope {
            event_id,
            occurred_at: now,
            organisation: organisation.clone(),
            token_id: None,
        };
        let command = OrganisationCommand::Register {
            code: organisation.clone(),
            name: name.clone(),
            kind: None,
            event_id,
            actor: actor.clone(),
            now,
        };
        let organisations = write.organisations.clone();
        let id = organisation.as_str().to_owned();
        async move {
            organisations
                .execute_with_metadata(&id, command, envelope.metadata())
                .await
        }
    })
    .await;
    match outcome {
        Ok(()) => {
            tracing::info!(%organisation, "organisation registered");
            Ok(())
        }
        // Registered meanwhile by another process: just as good.
        Err(AggregateError::UserError(OrganisationError::AlreadyRegistered { .. })) => Ok(()),
        Err(AggregateError::UserError(error)) => Err(anyhow::anyhow!(
            "cannot register organisation {organisation}: {error}"
        )),
        Err(error) => Err(anyhow::anyhow!(
            "registering organisation {organisation} failed: {error}"
        )),
    }
}

async fn revoke(pool: &PgPool, id: Uuid) -> anyhow::Result<()> {
    if !TokenStore::new(pool.clone()).revoke(id).await? {
        anyhow::bail!("no API token has id {id}");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "revoked API token {id}")?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_in_any_case() {
        assert_eq!(parse_role("admin").unwrap(), Role::Admin);
        assert_eq!(parse_role(" Partner ").unwrap(), Role::Partner);
        assert_eq!(parse_role("DASHBOARD").unwrap(), Role::Dashboard);
        let error = parse_role("root").unwrap_err().to_string();
        assert!(
            error.contains("ADMIN, PARTNER, AUDITOR or DASHBOARD"),
            "{error}"
        );
        assert!(!error.contains('\n'));
    }
}

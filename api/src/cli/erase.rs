//! `masar erase BENEFICIARY_ID --reason TEXT`: crypto-shreds a beneficiary's personal data
//! (destroys their data key, records `PersonalDataErased`). Needs no master key.

use std::io::Write;

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use masar_domain::beneficiary::Beneficiary;
use masar_domain::directory::Directory;
use masar_domain::ids::{BeneficiaryId, OrganisationCode};
use masar_domain::values::{Actor, Role};
use postgres_es::PostgresEventRepository;

use super::Config;
use crate::privacy::{self, EraseError, Erasure, ErasureRequest, KeyStore};
use crate::write::WriteSide;

/// Options of `masar erase`.
#[derive(Debug, Clone, clap::Args)]
pub struct EraseArgs {
    /// The beneficiary, by the UUID of their stream.
    #[arg(value_name = "BENEFICIARY_ID")]
    pub beneficiary_id: BeneficiaryId,
    /// Why, recorded in the PersonalDataErased event (at most 500 characters; no personal
    /// data, please).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// The registered organisation the erasure is recorded for, acting as its ADMIN. When
    /// unset, the organisation that identified the beneficiary (the record's owner).
    #[arg(long, value_name = "CODE", env = "MASAR_OPERATOR_ORGANISATION")]
    pub organisation: Option<OrganisationCode>,
}

/// Runs `masar erase`, closing the database whatever the outcome, and prints one line.
pub async fn run(config: &Config, args: EraseArgs) -> anyhow::Result<()> {
    let database = config.open_database().await?;
    let result = erase(&database.pool, &args).await;
    database.close().await;
    let (erasure, organisation) = result?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", confirmation(&erasure, &organisation))?;
    Ok(())
}

async fn erase(
    pool: &sqlx::PgPool,
    args: &EraseArgs,
) -> anyhow::Result<(Erasure, OrganisationCode)> {
    let write = WriteSide::new(pool.clone()).await?;
    let organisation = match &args.organisation {
        Some(code) if write.directory.organisation_exists(code) => code.clone(),
        Some(code) => anyhow::bail!(
            "organisation {code} is not registered: pass the code of a registered organisation \
             with --organisation (or MASAR_OPERATOR_ORGANISATION)"
        ),
        None => owner(pool, args.beneficiary_id).await?,
    };
    let request = ErasureRequest {
        beneficiary_id: args.beneficiary_id,
        actor: Actor::new(organisation.clone(), Role::Admin),
        reason: args.reason.clone(),
        token_id: None,
    };
    let keys = KeyStore::new(pool.clone());
    let erasure = privacy::erase(&write, &keys, request).await?;
    Ok((erasure, organisation))
}

/// The organisation that owns the beneficiary's record: the one that identified them first,
/// even if that identification was retracted since.
async fn owner(pool: &sqlx::PgPool, id: BeneficiaryId) -> anyhow::Result<OrganisationCode> {
    let store = PersistedEventStore::<PostgresEventRepository, Beneficiary>::new_event_store(
        PostgresEventRepository::new(pool.clone()),
    );
    let beneficiary = store
        .load_aggregate(&id.to_string())
        .await
        .map_err(EraseError::from)?
        .aggregate;
    if beneficiary.version() == 0 {
        return Err(EraseError::NotFound(id).into());
    }
    match beneficiary.owner() {
        Some(owner) => Ok(owner.clone()),
        None => anyhow::bail!(
            "beneficiary {id} was never identified, so no organisation owns the record: pass \
             --organisation CODE"
        ),
    }
}

fn confirmation(erasure: &Erasure, organisation: &OrganisationCode) -> String {
    let id = erasure.beneficiary_id;
    match (erasure.recorded, erasure.key_destroyed) {
        (Some(event), true) => format!(
            "erased the personal data of beneficiary {id}: data key destroyed, PersonalDataErased \
             recorded for {organisation} (event {event})"
        ),
        (Some(event), false) => format!(
            "erased the personal data of beneficiary {id}: no data key was left to destroy, \
             PersonalDataErased recorded for {organisation} (event {event})"
        ),
        (None, true) => format!(
            "the personal data of beneficiary {id} was already erased; a leftover data key was \
             destroyed"
        ),
        (None, false) => {
            format!("the personal data of beneficiary {id} was already erased; nothing to do")
        }
    }
}

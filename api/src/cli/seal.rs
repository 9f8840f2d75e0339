//! `masar seal [--public-key] [--json]`: sign a seal over the current log head, or print the
//! public key that verifies seals.

use masar_projections::seal::{self, Seal, SealOutcome};
use serde_json::json;

use super::Config;
use crate::seal_key::SealKeyError;

/// Options of `masar seal`.
#[derive(Debug, Clone, clap::Args)]
pub struct SealArgs {
    /// Print the seal key's public key (64 hex digits) and exit without sealing: the key to
    /// give auditors, out of band.
    #[arg(long)]
    pub public_key: bool,
    /// Print the seal as JSON (the fields of the GraphQL `Seal`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `masar seal`.
pub async fn run(config: &Config, args: SealArgs) -> anyhow::Result<()> {
    let source = config.seal_key_source().ok_or(SealKeyError::Missing)?;
    if args.public_key {
        println!("{}", source.load()?.public_key_hex());
        return Ok(());
    }
    // A key file that exists is read first, so that a bad one fails at once; a missing one is
    // generated (embedded default) only once the database is open, so that nothing is written
    // into a data directory that holds no log.
    let existing = source.load_existing()?;
    let database = config.open_database().await?;
    let key = match existing {
        Some(key) => Ok(key),
        None => source.load(),
    };
    let outcome = match key {
        Ok(key) => seal::seal(&database.pool, key.signing_key())
            .await
            .map_err(anyhow::Error::from),
        Err(error) => Err(error.into()),
    };
    database.close().await;
    match outcome? {
        SealOutcome::Sealed(seal) => {
            eprintln!(
                "masar: sealed the log up to position {} ({} streams)",
                seal.position, seal.streams
            );
            print_seal(&seal, args.json)
        }
        SealOutcome::UpToDate(seal) => {
            eprintln!(
                "masar: nothing new to seal: the latest seal already covers the log up to \
                 position {}",
                seal.position
            );
            print_seal(&seal, args.json)
        }
        SealOutcome::EmptyLog => {
            eprintln!("masar: the log is empty: nothing to seal");
            Ok(())
        }
    }
}

/// The seal's fields, as GraphQL names them.
pub(super) fn seal_json(seal: &Seal) -> serde_json::Value {
    json!({
        "position": seal.position,
        "streams": seal.streams,
        "digest": seal.digest,
        "signature": seal.signature,
        "publicKey": seal.public_key,
        "sealedAt": seal.sealed_at.to_rfc3339(),
    })
}

fn print_seal(seal: &Seal, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&seal_json(seal))?);
    } else {
        println!(
            "position {}\nstreams {}\ndigest {}\nsignature {}\npublic key {}\nsealed at {}",
            seal.position,
            seal.streams,
            seal.digest,
            seal.signature,
            seal.public_key,
            seal.sealed_at.to_rfc3339()
        );
    }
    Ok(())
}

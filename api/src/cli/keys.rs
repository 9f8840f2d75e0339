//! `masar keys generate` and `masar keys rotate`: the master key that wraps every
//! beneficiary's personal data key (see `docs/privacy.md`).

use std::io::Write;
use std::path::PathBuf;

use super::Config;
use crate::privacy::{self, master_key_path, KeyStore, MasterKey, MasterKeySource, Rotation};

/// Options of `masar keys`.
#[derive(Debug, Clone, clap::Args)]
pub struct KeysArgs {
    /// What to do with the master key.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The `masar keys` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Print a new random master key (base64 of 32 bytes), alone, on stdout, e.g.
    /// `(umask 077; masar keys generate > /etc/masar/master.key)`.
    Generate,
    /// Re-wrap every personal data key with a new master key, in one transaction; events are
    /// not touched. With the embedded default's generated key, the new key is generated (or
    /// read from --new-key-file) and replaces <data-dir>/master.key. With a configured key
    /// (MASAR_MASTER_KEY or MASAR_MASTER_KEY_FILE), --new-key-file is required, and every
    /// masar process must then be switched to the new key. Stop running servers first.
    Rotate(RotateArgs),
}

/// Options of `masar keys rotate`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateArgs {
    /// File holding the new master key, base64 (e.g. from `masar keys generate`).
    #[arg(long, value_name = "FILE")]
    pub new_key_file: Option<PathBuf>,
}

/// Runs `masar keys …`.
pub async fn run(config: &Config, args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Generate => {
            let key = MasterKey::generate();
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", key.to_base64().as_str())?;
            Ok(())
        }
        KeysCommand::Rotate(args) => rotate(config, args).await,
    }
}

async fn rotate(config: &Config, args: RotateArgs) -> anyhow::Result<()> {
    let source = config.master_key_source()?;
    // Read the new key before touching the database: a bad file fails at once.
    let new = args
        .new_key_file
        .as_deref()
        .map(MasterKey::read_file)
        .transpose()?;
    if !source.is_generated() && new.is_none() {
        anyhow::bail!(
            "the master key comes from {}: pass --new-key-file FILE with the new key (make one \
             with `masar keys generate > FILE`), then switch the configuration to it",
            source.describe()
        );
    }
    let database = config.open_database().await?;
    let keys = KeyStore::new(database.pool.clone());
    let result = rotate_with(&source, &keys, new).await;
    database.close().await;
    let rotation = result?;
    let Rotation {
        rewrapped,
        old_master_key_id: old,
        new_master_key_id: new,
    } = rotation;
    let next_step = match (&source, &args.new_key_file) {
        (MasterKeySource::DataDir(dir), _) => format!(
            "{} now holds the new key (back it up; backups taken before need the old one)",
            master_key_path(dir).display()
        ),
        (_, Some(file)) => format!(
            "now set MASAR_MASTER_KEY_FILE={} (or MASAR_MASTER_KEY to its content) for every \
             masar process, restart them, and retire the old key",
            file.display()
        ),
        (_, None) => String::new(),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "re-wrapped {rewrapped} personal data keys from master key {old} to {new}; {next_step}"
    )?;
    Ok(())
}

async fn rotate_with(
    source: &MasterKeySource,
    keys: &KeyStore,
    new: Option<MasterKey>,
) -> anyhow::Result<Rotation> {
    if let MasterKeySource::DataDir(dir) = source {
        return Ok(privacy::rotate_data_dir_key(dir, keys, new).await?);
    }
    let Some(new) = new else {
        anyhow::bail!("a new master key is required: pass --new-key-file FILE");
    };
    let old = source.load(keys).await?;
    let rewrapped = keys.rotate(&old, &new).await?;
    Ok(Rotation {
        rewrapped,
        old_master_key_id: old.id().to_owned(),
        new_master_key_id: new.id().to_owned(),
    })
}

//! The master key: where it comes from (`MASAR_MASTER_KEY`, `MASAR_MASTER_KEY_FILE`, or the
//! embedded default's generated `<data_dir>/master.key`), how it is read, and how the
//! generated one is rotated with a crash-safe hand-over through `master.key.next`.
//!
//! Nothing here ever puts key material in an error message or a log line: errors name the
//! origin of a key (variable or file), never its content.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::vault::KeyStore;
use super::PrivacyError;
use crate::private_file::{self, sync_parent};

/// Length of a master key, in bytes.
pub const MASTER_KEY_BYTES: usize = 32;

/// Name of the generated master key file in the embedded default's data directory.
pub const MASTER_KEY_FILE_NAME: &str = "master.key";

/// Name of the next master key, written before a rotation commits and renamed over
/// [`MASTER_KEY_FILE_NAME`] after.
pub const NEXT_MASTER_KEY_FILE_NAME: &str = "master.key.next";

/// Largest key file read, in bytes (a key is 44 characters of base64).
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A secret given as text, such as a base64 master key from the environment: redacted in
/// `Debug`, zeroized on drop, never displayed.
#[derive(Clone, Default)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// The secret, for parsing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> Self {
        SecretText(Zeroizing::new(text))
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([redacted])")
    }
}

/// Why a master key could not be had. Messages name where the key was looked for, never what
/// it holds.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// No master key is configured and the embedded default is not in use.
    #[error(
        "no master key for personal data: DATABASE_URL is set, so set MASAR_MASTER_KEY (base64 \
         of 32 random bytes) or MASAR_MASTER_KEY_FILE (a file holding it, readable by masar \
         only); generate one with `masar keys generate > FILE` and keep a copy with your backups"
    )]
    Missing,
    /// The text is not standard base64.
    #[error(
        "the master key from {origin} is not valid base64: expect the 44 characters printed by \
         `masar keys generate`"
    )]
    NotBase64 {
        /// Where the key came from.
        origin: String,
    },
    /// The key does not decode to 32 bytes.
    #[error(
        "the master key from {origin} decodes to {length} bytes, not 32: expect the output of \
         `masar keys generate`"
    )]
    WrongLength {
        /// Where the key came from.
        origin: String,
        /// How many bytes it decodes to.
        length: usize,
    },
    /// A key file could not be read or written.
    #[error("cannot {action} the master key file {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `read`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key file is far larger than a key.
    #[error("the master key file {} is not a key file: it is larger than {MAX_KEY_FILE_BYTES} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
    },
}

/// The key that wraps every beneficiary's data key: 32 random bytes, zeroized on drop. Its id
/// is the first 16 hex digits of the SHA-256 of the key, stored beside each data key it wraps
/// (an operator can recompute it: `base64 -d < KEYFILE | sha256sum | cut -c1-16`).
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; MASTER_KEY_BYTES]>,
    id: String,
}

impl MasterKey {
    /// A new random key, from the operating system's generator.
    pub fn generate() -> MasterKey {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_BYTES]);
        OsRng.fill_bytes(bytes.as_mut_slice());
        MasterKey::from_bytes(bytes)
    }

    /// The key of `text`: standard base64 of 32 bytes, surrounding white space ignored.
    /// `origin` (e.g. `MASAR_MASTER_KEY`) is what error messages name.
    pub fn from_base64(text: &str, origin: &str) -> Result<MasterKey, MasterKeyError> {
        let decoded = Zeroizing::new(BASE64.decode(text.trim().as_bytes()).map_err(|_| {
            MasterKeyError::NotBase64 {
                origin: origin.to_owned(),
            }
        })?);
        if decoded.len() != MASTER_KEY_BYTES {
            return Err(MasterKeyError::WrongLength {
                origin: origin.to_owned(),
                length: decoded.len(),
            });
        }
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_BYTES]);
        bytes.copy_from_slice(&decoded);
        Ok(MasterKey::from_bytes(bytes))
    }

    fn from_bytes(bytes: Zeroizing<[u8; MASTER_KEY_BYTES]>) -> MasterKey {
        let digest = Sha256::digest(bytes.as_slice());
        let mut id = hex::encode(digest);
        id.truncate(16);
        MasterKey { bytes, id }
    }

    /// The key as standard base64 (what `masar keys generate` prints and key files hold).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.bytes.as_slice()))
    }

    /// The key's id: the first 16 hex digits of its SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw key, for the vault's cipher.
    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_BYTES] {
        &self.bytes
    }

    /// Reads the key from `path` (base64, white space ignored).
    pub fn read_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let text =
            private_file::read_secret(path, MAX_KEY_FILE_BYTES, "master key").map_err(|error| {
                match error {
                    private_file::ReadError::Io(source) => MasterKeyError::Io {
                        action: "read",
                        path: path.to_owned(),
                        source,
                    },
                    private_file::ReadError::TooLarge => MasterKeyError::FileTooLarge {
                        path: path.to_owned(),
                    },
                }
            })?;
        MasterKey::from_base64(&text, &path.display().to_string())
    }

    /// Writes the key to `path` atomically, readable and writable by the owner only (0600):
    /// through a temporary file in the same directory, flushed to disk, then renamed.
    pub fn write_file(&self, path: &Path) -> Result<(), MasterKeyError> {
        let io = |action, at: &Path| {
            let at = at.to_owned();
            move |source| MasterKeyError::Io {
                action,
                path: at,
                source,
            }
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        // A temporary file left by an earlier crash holds no key anyone relies on.
        match fs::remove_file(&temporary) {
            Err(error) if error.kind() != ErrorKind::NotFound => {
                return Err(io("replace", &temporary)(error))
            }
            _ => {}
        }
        let mut line = self.to_base64();
        line.push('\n');
        private_file::create_new(&temporary, line.as_bytes()).map_err(io("write", &temporary))?;
        fs::rename(&temporary, path).map_err(io("write", path))?;
        sync_parent(path).map_err(io("write", path))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// `<data_dir>/master.key`.
pub fn master_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MASTER_KEY_FILE_NAME)
}

/// `<data_dir>/master.key.next`.
pub fn next_master_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(NEXT_MASTER_KEY_FILE_NAME)
}

/// Where the master key comes from, in order of precedence.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// `MASAR_MASTER_KEY`: the key itself, base64.
    Environment(MasterKey),
    /// `MASAR_MASTER_KEY_FILE`: a file holding the key, base64.
    File(PathBuf),
    /// Neither is set and the embedded default is in use: `<data_dir>/master.key`, generated
    /// (0600) when missing.
    DataDir(PathBuf),
}

impl MasterKeySource {
    /// Chooses the source: the key given in `MASAR_MASTER_KEY` wins, then
    /// `MASAR_MASTER_KEY_FILE`, then, only when the embedded default is in use
    /// (`embedded_data_dir` is its data directory), the generated `master.key`. With none of
    /// them (a `DATABASE_URL` and no key), [`MasterKeyError::Missing`]. Empty values count as
    /// unset.
    pub fn resolve(
        key: Option<&SecretText>,
        key_file: Option<&Path>,
        embedded_data_dir: Option<&Path>,
    ) -> Result<MasterKeySource, MasterKeyError> {
        if let Some(key) = key.filter(|k| !k.expose().trim().is_empty()) {
            if key_file.is_some() {
                tracing::warn!(
                    "both MASAR_MASTER_KEY and MASAR_MASTER_KEY_FILE are set: using MASAR_MASTER_KEY"
                );
            }
            return MasterKey::from_base64(key.expose(), "MASAR_MASTER_KEY")
                .map(MasterKeySource::Environment);
        }
        if let Some(file) = key_file.filter(|f| !f.as_os_str().is_empty()) {
            return Ok(MasterKeySource::File(file.to_owned()));
        }
        match embedded_data_dir {
            Some(dir) => Ok(MasterKeySource::DataDir(dir.to_owned())),
            None => Err(MasterKeyError::Missing),
        }
    }

    /// Whether the key is the embedded default's generated file (which `masar keys rotate`
    /// replaces by itself), rather than one the operator configured.
    pub fn is_generated(&self) -> bool {
        matches!(self, MasterKeySource::DataDir(_))
    }

    /// Where the key comes from, for messages.
    pub fn describe(&self) -> String {
        match self {
            MasterKeySource::Environment(_) => "MASAR_MASTER_KEY".to_owned(),
            MasterKeySource::File(path) => format!("MASAR_MASTER_KEY_FILE ({})", path.display()),
            MasterKeySource::DataDir(dir) => format!(
                "{} (generated for the embedded database)",
                master_key_path(dir).display()
            ),
        }
    }

    /// Loads the key. For the embedded default, `master.key` is created (0600) when missing,
    /// and a `master.key.next` left by a rotation interrupted between its commit and its
    /// rename is taken over when the stored data keys say the rotation committed (`keys` is
    /// consulted only then).
    pub async fn load(&self, keys: &KeyStore) -> Result<MasterKey, PrivacyError> {
        match self {
            MasterKeySource::Environment(key) => Ok(key.clone()),
            MasterKeySource::File(path) => Ok(MasterKey::read_file(path)?),
            MasterKeySource::DataDir(dir) => {
                let current = load_or_generate(dir)?;
                let next_path = next_master_key_path(dir);
                if !next_path.exists() {
                    return Ok(current);
                }
                let next = match MasterKey::read_file(&next_path) {
                    Ok(next) => next,
                    Err(error) => {
                        // Written atomically, so only an outside hand can make it unreadable;
                        // the next rotation replaces it.
                        tracing::warn!("ignoring a leftover next master key: {error}");
                        return Ok(current);
                    }
                };
                let stored = keys.master_key_ids().await?;
                take_over_next(dir, current, next, &stored)
            }
        }
    }
}

/// Reads `<dir>/master.key`, or creates it with a new key (0600) when it does not exist.
fn load_or_generate(dir: &Path) -> Result<MasterKey, MasterKeyError> {
    let path = master_key_path(dir);
    match MasterKey::read_file(&path) {
        Err(MasterKeyError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
        read => return read,
    }
    fs::create_dir_all(dir).map_err(|source| MasterKeyError::Io {
        action: "create the directory of",
        path: path.clone(),
        source,
    })?;
    let key = MasterKey::generate();
    let mut line = key.to_base64();
    line.push('\n');
    match private_file::create_new(&path, line.as_bytes()) {
        Ok(()) => {}
        // Of two processes generating at once, one wins and the other reads its key.
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            return MasterKey::read_file(&path);
        }
        Err(source) => {
            return Err(MasterKeyError::Io {
                action: "create",
                path,
                source,
            })
        }
    }
    tracing::info!(
        key.file = %path.display(),
        key.id = key.id(),
        "generated the master key for personal data: back it up with the database"
    );
    Ok(key)
}

/// Decides between `master.key` (`current`) and a leftover `master.key.next` (`next`) from the
/// master key ids of the stored data keys.
fn take_over_next(
    dir: &Path,
    current: MasterKey,
    next: MasterKey,
    stored: &BTreeMap<String, i64>,
) -> Result<MasterKey, PrivacyError> {
    let next_used = stored.contains_key(next.id());
    let current_used = stored.contains_key(current.id());
    if next_used && !current_used {
        // The rotation committed, then stopped before its rename: finish it.
        let next_path = next_master_key_path(dir);
        let path = master_key_path(dir);
        fs::rename(&next_path, &path)
            .and_then(|()| sync_parent(&path))
            .map_err(|source| MasterKeyError::Io {
                action: "replace",
                path,
                source,
            })?;
        tracing::info!(
            key.id = next.id(),
            "completed an interrupted master key rotation: master.key.next is now master.key"
        );
        return Ok(next);
    }
    if next_used {
        tracing::warn!(
            "data keys are wrapped by both master.key and master.key.next: run `masar keys \
             rotate` again to finish the rotation"
        );
    }
    // Otherwise the rotation never committed: the leftover is unused, and the next rotation
    // replaces it.
    Ok(current)
}

/// What a master key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// How many data keys were re-wrapped.
    pub rewrapped: u64,
    /// The id of the master key that wrapped them.
    pub old_master_key_id: String,
    /// The id of the master key that wraps them now.
    pub new_master_key_id: String,
}

/// Rotates the embedded default's generated master key: the new key (`new`, or a new random
/// one) is first written to `<data_dir>/master.key.next` (0600), then every data key is
/// re-wrapped in one transaction, then `master.key.next` is renamed over `master.key`. A crash
/// before the commit leaves the old key in force; a crash between the commit and the rename is
/// completed by the next [`MasterKeySource::load`]; running it again after a partial state
/// reuses the pending `master.key.next`.
pub async fn rotate_data_dir_key(
    data_dir: &Path,
    keys: &KeyStore,
    new: Option<MasterKey>,
) -> Result<Rotation, PrivacyError> {
    let source = MasterKeySource::DataDir(data_dir.to_owned());
    let old = source.load(keys).await?;
    let next_path = next_master_key_path(data_dir);
    let pending = pending_next_key(&next_path, keys).await?;
    let new = match (new, pending) {
        (None, None) => MasterKey::generate(),
        (None, Some(pending)) => pending,
        (Some(new), None) => new,
        (Some(new), Some(pending)) if new.id() == pending.id() => new,
        // Overwriting master.key.next would lose the only copy of a key that wraps data keys.
        (Some(_), Some(_)) => return Err(PrivacyError::RotationPending),
    };
    if new.id() == old.id() {
        return Err(PrivacyError::SameMasterKey);
    }
    new.write_file(&next_path)?;
    let rewrapped = keys.rotate(&old, &new).await?;
    let path = master_key_path(data_dir);
    fs::rename(&next_path, &path)
        .and_then(|()| sync_parent(&path))
        .map_err(|source| MasterKeyError::Io {
            action: "replace",
            path,
            source,
        })?;
    Ok(Rotation {
        rewrapped,
        old_master_key_id: old.id().to_owned(),
        new_master_key_id: new.id().to_owned(),
    })
}

/// The `master.key.next` of an unfinished rotation, when some data keys are already wrapped
/// by it.
async fn pending_next_key(
    next_path: &Path,
    keys: &KeyStore,
) -> Result<Option<MasterKey>, PrivacyError> {
    if !next_path.exists() {
        return Ok(None);
    }
    let Ok(next) = MasterKey::read_file(next_path) else {
        return Ok(None);
    };
    let stored = keys.master_key_ids().await?;
    Ok(stored.contains_key(next.id()).then_some(next))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_base64_and_its_id_is_a_sha256_prefix() {
        let key = MasterKey::generate();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        let again = MasterKey::from_base64(&format!(" {}\n", text.as_str()), "test").unwrap();
        assert_eq!(again.id(), key.id());
        assert_eq!(key.id().len(), 16);
        assert_eq!(
            key.id(),
            &hex::encode(Sha256::digest(key.bytes().as_slice()))[..16]
        );
        assert!(!format!("{key:?}").contains(text.as_str()));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let secret = SecretText::from("c2VjcmV0".to_owned());
        assert_eq!(format!("{secret:?}"), "SecretText([redacted])");
    }

    #[test]
    fn the_configured_key_wins_and_without_any_the_url_needs_one() {
        let key = MasterKey::generate();
        let text = SecretText::from(key.to_base64().to_string());
        let source =
            MasterKeySource::resolve(Some(&text), Some(Path::new("/nope")), Some(Path::new("/d")))
                .unwrap();
        assert!(matches!(source, MasterKeySource::Environment(k) if k.id() == key.id()));
        let source = MasterKeySource::resolve(
            Some(&SecretText::from(" ".to_owned())),
            Some(Path::new("/k")),
            None,
        )
        .unwrap();
        assert!(matches!(source, MasterKeySource::File(p) if p == Path::new("/k")));
        let source = MasterKeySource::resolve(None, None, Some(Path::new("/d"))).unwrap();
        assert!(source.is_generated());
        assert!(matches!(
            MasterKeySource::resolve(None, None, None),
            Err(MasterKeyError::Missing)
        ));
    }
}

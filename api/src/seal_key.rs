//! The seal key: the Ed25519 key that signs seals over the event log (see
//! `docs/event-encoding.md`, "Seals"). It comes from `MASAR_SEAL_KEY_FILE`, or, for the
//! embedded default, from `<data_dir>/seal.key`, generated (0600) when first needed. The file
//! holds the key's 32-byte seed in base64, the format `masar keys generate` prints.
//!
//! Nothing here puts key material in a message: errors name the file, never its content.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use masar_projections::seal::{public_key_hex, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::private_file;

/// Name of the generated seal key file in the embedded default's data directory.
pub const SEAL_KEY_FILE_NAME: &str = "seal.key";

/// Largest key file read, in bytes.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Why the seal key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SealKeyError {
    /// No seal key is configured and the embedded default is not in use.
    #[error(
        "no seal key: DATABASE_URL is set, so set MASAR_SEAL_KEY_FILE to a file holding the \
         key (create one with `(umask 077; masar keys generate > FILE)`), readable by masar \
         only, and keep a copy with your backups"
    )]
    Missing,
    /// The file does not hold base64 of 32 bytes.
    #[error(
        "the seal key file {} does not hold a key: expect base64 of 32 bytes, as printed by \
         `masar keys generate`",
        path.display()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read or created.
    #[error("cannot {action} the seal key file {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The key that signs seals.
#[derive(Clone)]
pub struct SealKey(SigningKey);

impl SealKey {
    /// A new random key, from the operating system's generator.
    pub fn generate() -> SealKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut_slice());
        SealKey(SigningKey::from_bytes(&seed))
    }

    /// Reads the key from `path`: base64 of its 32-byte seed, white space ignored.
    pub fn read_file(path: &Path) -> Result<SealKey, SealKeyError> {
        let invalid = || SealKeyError::Invalid {
            path: path.to_owned(),
        };
        let text =
            private_file::read_secret(path, MAX_KEY_FILE_BYTES, "seal key").map_err(|error| {
                match error {
                    private_file::ReadError::Io(source) => SealKeyError::Io {
                        action: "read",
                        path: path.to_owned(),
                        source,
                    },
                    private_file::ReadError::TooLarge => invalid(),
                }
            })?;
        let bytes = Zeroizing::new(BASE64.decode(text.trim()).map_err(|_| invalid())?);
        let seed: &[u8; 32] = bytes.as_slice().try_into().map_err(|_| invalid())?;
        Ok(SealKey(SigningKey::from_bytes(seed)))
    }

    /// The key that signs.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The public half, which verifies.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The public key as seals carry it: 64 lower-case hex digits.
    pub fn public_key_hex(&self) -> String {
        public_key_hex(&self.verifying_key())
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SealKey")
            .field(&self.public_key_hex())
            .finish()
    }
}

/// Where the seal key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealKeySource {
    /// `MASAR_SEAL_KEY_FILE`.
    File(PathBuf),
    /// The embedded default's `<data_dir>/seal.key`, generated when missing.
    DataDir(PathBuf),
}

impl SealKeySource {
    /// `MASAR_SEAL_KEY_FILE` when set (and not empty), else, with the embedded default (whose
    /// data directory is `embedded_data_dir`), its generated file; else none.
    pub fn resolve(key_file: Option<&Path>, embedded_data_dir: Option<&Path>) -> Option<Self> {
        match key_file.filter(|f| !f.as_os_str().is_empty()) {
            Some(file) => Some(SealKeySource::File(file.to_owned())),
            None => embedded_data_dir.map(|dir| SealKeySource::DataDir(dir.to_owned())),
        }
    }

    /// The key file's path.
    pub fn path(&self) -> PathBuf {
        match self {
            SealKeySource::File(path) => path.clone(),
            SealKeySource::DataDir(dir) => dir.join(SEAL_KEY_FILE_NAME),
        }
    }

    /// Loads the key; the embedded default's file is generated (0600) when missing.
    pub fn load(&self) -> Result<SealKey, SealKeyError> {
        let path = self.path();
        let SealKeySource::DataDir(dir) = self else {
            return SealKey::read_file(&path);
        };
        match SealKey::read_file(&path) {
            Err(SealKeyError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            read => return read,
        }
        let io = |action| {
            let path = path.clone();
            move |source| SealKeyError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
        let key = SealKey::generate();
        let mut line = Zeroizing::new(BASE64.encode(key.0.to_bytes()));
        line.push('\n');
        match private_file::create_new(&path, line.as_bytes()) {
            Ok(()) => {}
            // Of two processes generating at once, one wins and the other reads its key.
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                return SealKey::read_file(&path)
            }
            Err(source) => return Err(io("create")(source)),
        }
        tracing::info!(
            key.file = %path.display(),
            key.public = %key.public_key_hex(),
            "generated the seal key: back it up, and give its public key to auditors"
        );
        Ok(key)
    }

    /// Loads the key only if its file exists (never generates it).
    pub fn load_existing(&self) -> Result<Option<SealKey>, SealKeyError> {
        match SealKey::read_file(&self.path()) {
            Err(SealKeyError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Ok(None)
            }
            read => read.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_key_is_generated_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let source = SealKeySource::resolve(None, Some(dir.path())).unwrap();
        assert_eq!(
            source.load_existing().unwrap().map(|k| k.public_key_hex()),
            None
        );
        let generated = source.load().unwrap();
        let again = source.load().unwrap();
        assert_eq!(generated.public_key_hex(), again.public_key_hex());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(source.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            source.load_existing().unwrap().map(|k| k.public_key_hex()),
            Some(generated.public_key_hex())
        );
    }

    #[test]
    fn a_configured_file_is_required_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seal.key");
        let source = SealKeySource::resolve(Some(&path), Some(dir.path())).unwrap();
        assert!(matches!(source.load(), Err(SealKeyError::Io { .. })));
        std::fs::write(&path, "not base64!").unwrap();
        let message = source.load().unwrap_err().to_string();
        assert!(message.contains("does not hold a key"), "{message}");
        assert!(!message.contains("not base64!"));
        std::fs::write(&path, BASE64.encode([3u8; 32])).unwrap();
        assert_eq!(
            source.load().unwrap().verifying_key(),
            SigningKey::from_bytes(&[3u8; 32]).verifying_key()
        );
        assert_eq!(SealKeySource::resolve(None, None), None);
    }
}

//! Files only their owner may read: how key files (the master key, the seal key) are created
//! and read.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

/// Creates `path` with `contents`, readable and writable by the owner only (0600), and flushes
/// it and its directory entry to disk. Fails with `AlreadyExists` if the file exists, so that
/// of two processes creating it at once one wins and the other reads its file.
pub fn create_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    sync_parent(path)
}

/// Flushes the directory entry of `path` (after a create or rename).
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fs::File::open(parent)?.sync_all(),
        _ => Ok(()),
    }
}

/// Why a private file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// The file is larger than the limit given.
    TooLarge,
}

/// Reads a small secret file as text, at most `limit` bytes, zeroized on drop; warns (naming
/// `what`) when other users may read it.
pub fn read_secret(path: &Path, limit: u64, what: &str) -> Result<Zeroizing<String>, ReadError> {
    let file = fs::File::open(path).map_err(ReadError::Io)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if metadata.len() > limit {
        return Err(ReadError::TooLarge);
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            key.file = %path.display(),
            "the {what} file can be read by other users: chmod 600 it"
        );
    }
    let mut text = Zeroizing::new(String::new());
    file.take(limit)
        .read_to_string(&mut text)
        .map_err(ReadError::Io)?;
    Ok(text)
}

//! Personal data protection at the edge: the domain only ever holds
//! [`EncryptedPersonalData`]; this module owns the clear form, the keys and the cipher.
//!
//! - [`PersonalData`]: name, phone and document number in clear — validated, redacted in
//!   `Debug`, zeroized on drop, not serialisable.
//! - [`MasterKey`] and [`MasterKeySource`]: the key that wraps every data key, from
//!   `MASAR_MASTER_KEY`, `MASAR_MASTER_KEY_FILE`, or the embedded default's generated
//!   `<data_dir>/master.key`.
//! - [`KeyStore`] and [`PersonalDataVault`]: one AES-256-GCM data key per beneficiary, wrapped
//!   by the master key in `personal_data_keys`; [`PersonalDataVault::seal`] and
//!   [`PersonalDataVault::open`]; [`KeyStore::rotate`] re-wraps every data key.
//! - [`erase`]: crypto-shredding — destroy the key, record `PersonalDataErased`.
//!
//! Nothing here puts personal data or key material in a log line or an error message.
//! `docs/privacy.md` is the operator's guide.
//!
//! [`EncryptedPersonalData`]: masar_domain::values::EncryptedPersonalData

mod erase;
mod master_key;
mod personal_data;
mod vault;

use masar_domain::values::ValueError;
use uuid::Uuid;

pub use self::erase::{erase, EraseError, Erasure, ErasureRequest};
pub use self::master_key::{
    master_key_path, next_master_key_path, rotate_data_dir_key, MasterKey, MasterKeyError,
    MasterKeySource, Rotation, SecretText, MASTER_KEY_BYTES, MASTER_KEY_FILE_NAME,
    NEXT_MASTER_KEY_FILE_NAME,
};
pub use self::personal_data::{
    PersonalData, MAX_DOCUMENT_NUMBER_CHARS, MAX_FULL_NAME_CHARS, MAX_PHONE_CHARS,
};
pub use self::vault::{KeyStore, PersonalDataVault};

/// Why personal data could not be sealed, opened or its keys managed. Messages never carry
/// personal data or key material.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// A field of the personal data is not acceptable.
    #[error("personalData.{field}: {problem}")]
    Invalid {
        /// The contract's field name, e.g. `fullName`.
        field: &'static str,
        /// What is wrong (never the value).
        problem: ValueError,
    },
    /// The ciphertext does not decrypt for this beneficiary: altered, or moved from another
    /// beneficiary.
    #[error(
        "the personal data cannot be decrypted for this beneficiary: it was altered or belongs \
         to another beneficiary"
    )]
    Undecryptable,
    /// A data key is wrapped by another master key than the configured one.
    #[error(
        "a personal data key is wrapped by master key {wrapped_by}, not by the configured master \
         key {configured}: check MASAR_MASTER_KEY or MASAR_MASTER_KEY_FILE, or finish the \
         rotation with `masar keys rotate`"
    )]
    ForeignMasterKey {
        /// Id of the master key that wraps it.
        wrapped_by: String,
        /// Id of the master key in use.
        configured: String,
    },
    /// A stored data key does not unwrap with the master key that supposedly wraps it.
    #[error("personal data key {key_id} does not unwrap: its row was altered")]
    CorruptDataKey {
        /// The data key.
        key_id: Uuid,
    },
    /// A rotation to the master key already in use.
    #[error("the new master key is the one in use: generate another with `masar keys generate`")]
    SameMasterKey,
    /// A rotation of the generated master key was interrupted and must be finished first.
    #[error(
        "an interrupted master key rotation is pending: run `masar keys rotate` without \
         --new-key-file to finish it first"
    )]
    RotationPending,
    /// The cipher refused to encrypt (cannot happen with valid keys and bounded input).
    #[error("encrypting personal data failed")]
    Encryption,
    /// The beneficiary's data key was created and deleted under our feet repeatedly.
    #[error("the beneficiary's personal data key changed concurrently; try again")]
    KeyContention,
    /// The master key could not be had.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// The database failed.
    #[error("personal data key store: {0}")]
    Database(#[from] sqlx::Error),
}

//! The per-beneficiary data keys (table `personal_data_keys`, wrapped by the master key) and
//! the encryption of personal data with them, AES-256-GCM throughout.
//!
//! - A data key is 32 random bytes, one per beneficiary, created at the first [`seal`]. It is
//!   stored encrypted by the master key with a random 12-byte nonce, the associated data
//!   binding it to its key id and beneficiary (`masar.data-key.v1` ‖ key id ‖ beneficiary id),
//!   so that a row copied to another beneficiary does not unwrap.
//! - Personal data is encrypted by the beneficiary's data key with a random 12-byte nonce, the
//!   associated data binding the ciphertext to the beneficiary and the key
//!   (`masar.personal-data.v1` ‖ beneficiary id ‖ key id), so that a ciphertext moved to another
//!   beneficiary's event does not decrypt. Nonce and ciphertext are stored in the event as
//!   standard base64 ([`EncryptedPersonalData`]).
//!
//! [`seal`]: PersonalDataVault::seal

use std::collections::BTreeMap;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use masar_domain::ids::BeneficiaryId;
use masar_domain::values::EncryptedPersonalData;
use sqlx::{PgPool, Row};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::master_key::MasterKey;
use super::{PersonalData, PrivacyError};

/// Length of a data key, in bytes.
const DATA_KEY_BYTES: usize = 32;
/// Length of an AES-GCM nonce, in bytes.
const NONCE_BYTES: usize = 12;
/// Associated-data prefix of a wrapped data key.
const WRAP_CONTEXT: &[u8] = b"masar.data-key.v1";
/// Associated-data prefix of encrypted personal data.
const DATA_CONTEXT: &[u8] = b"masar.personal-data.v1";
/// Rows re-wrapped per UPDATE statement during a rotation.
const ROTATION_BATCH: usize = 1000;

type DataKey = Zeroizing<[u8; DATA_KEY_BYTES]>;

/// The table of wrapped data keys. Destroying a key needs no master key, so erasure works
/// whatever the configuration.
#[derive(Debug, Clone)]
pub struct KeyStore {
    pool: PgPool,
}

/// One row of `personal_data_keys`.
struct WrappedKey {
    key_id: Uuid,
    beneficiary_id: Uuid,
    wrapped_key: Vec<u8>,
    wrap_nonce: Vec<u8>,
    master_key_id: String,
}

const COLUMNS: &str = "key_id, beneficiary_id, wrapped_key, wrap_nonce, master_key_id";

fn from_row(row: &sqlx::postgres::PgRow) -> Result<WrappedKey, sqlx::Error> {
    Ok(WrappedKey {
        key_id: row.try_get("key_id")?,
        beneficiary_id: row.try_get("beneficiary_id")?,
        wrapped_key: row.try_get("wrapped_key")?,
        wrap_nonce: row.try_get("wrap_nonce")?,
        master_key_id: row.try_get("master_key_id")?,
    })
}

impl KeyStore {
    /// The key store of the database behind `pool`.
    pub fn new(pool: PgPool) -> KeyStore {
        KeyStore { pool }
    }

    /// The database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the beneficiary has a data key (false once erased).
    pub async fn exists(&self, beneficiary: BeneficiaryId) -> Result<bool, PrivacyError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM personal_data_keys WHERE beneficiary_id = $1)",
        )
        .bind(beneficiary.as_uuid())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Destroys the beneficiary's data key: every ciphertext made with it becomes unreadable
    /// for ever. Returns whether there was a key to destroy. Follow with [`vacuum`].
    ///
    /// [`vacuum`]: KeyStore::vacuum
    pub async fn destroy(&self, beneficiary: BeneficiaryId) -> Result<bool, PrivacyError> {
        let deleted = sqlx::query("DELETE FROM personal_data_keys WHERE beneficiary_id = $1")
            .bind(beneficiary.as_uuid())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// `VACUUM personal_data_keys`: reclaims the dead tuples that destroyed keys leave in the
    /// table's pages (see `migrations/0002_personal_data_keys.sql`).
    pub async fn vacuum(&self) -> Result<(), PrivacyError> {
        // VACUUM cannot run in a transaction block nor as a prepared statement.
        sqlx::raw_sql("VACUUM personal_data_keys")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many data keys each master key wraps, by master key id.
    pub async fn master_key_ids(&self) -> Result<BTreeMap<String, i64>, PrivacyError> {
        let rows = sqlx::query(
            "SELECT master_key_id, count(*) AS keys FROM personal_data_keys GROUP BY master_key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("master_key_id")?, row.try_get("keys")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(PrivacyError::from)
    }

    /// Re-wraps every data key wrapped by `old` with `new`, in one transaction that keeps
    /// other writers of the table out (readers are not blocked); the events are not touched.
    /// Keys already wrapped by `new` are left as they are, so running it again after an
    /// interruption finishes the job; a key wrapped by any other master key aborts the whole
    /// rotation. Returns how many keys were re-wrapped.
    pub async fn rotate(&self, old: &MasterKey, new: &MasterKey) -> Result<u64, PrivacyError> {
        if old.id() == new.id() {
            return Err(PrivacyError::SameMasterKey);
        }
        let mut transaction = self.pool.begin().await?;
        sqlx::query("LOCK TABLE personal_data_keys IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *transaction)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM personal_data_keys ORDER BY key_id"
        ))
        .fetch_all(&mut *transaction)
        .await?;
        let mut rewrapped = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let row = from_row(row)?;
            if row.master_key_id == new.id() {
                continue;
            }
            let key = unwrap_key(old, &row)?;
            let (wrapped_key, wrap_nonce) = wrap_key(new, row.key_id, row.beneficiary_id, &key)?;
            rewrapped.0.push(row.key_id);
            rewrapped.1.push(wrapped_key);
            rewrapped.2.push(wrap_nonce);
        }
        let (key_ids, wrapped_keys, nonces) = rewrapped;
        let batches = key_ids
            .chunks(ROTATION_BATCH)
            .zip(wrapped_keys.chunks(ROTATION_BATCH))
            .zip(nonces.chunks(ROTATION_BATCH));
        for ((key_ids, wrapped_keys), nonces) in batches {
            sqlx::query(
                "UPDATE personal_data_keys AS k \
                 SET wrapped_key = u.wrapped_key, wrap_nonce = u.wrap_nonce, master_key_id = $4 \
                 FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[]) \
                 AS u(key_id, wrapped_key, wrap_nonce) \
                 WHERE k.key_id = u.key_id",
            )
            .bind(key_ids)
            .bind(wrapped_keys)
            .bind(nonces)
            .bind(new.id())
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(key_ids.len() as u64)
    }

    async fn by_beneficiary(
        &self,
        beneficiary: BeneficiaryId,
    ) -> Result<Option<WrappedKey>, PrivacyError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM personal_data_keys WHERE beneficiary_id = $1"
        ))
        .bind(beneficiary.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    async fn by_key_id(&self, key_id: Uuid) -> Result<Option<WrappedKey>, PrivacyError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM personal_data_keys WHERE key_id = $1"
        ))
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Stores `row` unless the beneficiary already has a key; whether it was stored.
    async fn insert(&self, row: &WrappedKey) -> Result<bool, PrivacyError> {
        let inserted = sqlx::query(
            "INSERT INTO personal_data_keys \
             (key_id, beneficiary_id, wrapped_key, wrap_nonce, master_key_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (beneficiary_id) DO NOTHING",
        )
        .bind(row.key_id)
        .bind(row.beneficiary_id)
        .bind(&row.wrapped_key)
        .bind(&row.wrap_nonce)
        .bind(&row.master_key_id)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}

/// Seals and opens personal data with per-beneficiary keys wrapped by one master key.
#[derive(Debug, Clone)]
pub struct PersonalDataVault {
    keys: KeyStore,
    master: MasterKey,
}

impl PersonalDataVault {
    /// The vault of the database behind `pool`, under `master`.
    pub fn new(pool: PgPool, master: MasterKey) -> PersonalDataVault {
        PersonalDataVault {
            keys: KeyStore::new(pool),
            master,
        }
    }

    /// The key store (for erasure, which needs no master key).
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The id of the master key in use.
    pub fn master_key_id(&self) -> &str {
        self.master.id()
    }

    /// Encrypts `data` with the beneficiary's data key, creating the key if the beneficiary
    /// has none yet: what goes into the `Identified` event.
    pub async fn seal(
        &self,
        beneficiary: BeneficiaryId,
        data: &PersonalData,
    ) -> Result<EncryptedPersonalData, PrivacyError> {
        let (key_id, key) = self.data_key(beneficiary).await?;
        let plaintext = data.to_plaintext()?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| PrivacyError::Encryption)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = data_aad(beneficiary.as_uuid(), key_id);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| PrivacyError::Encryption)?;
        Ok(EncryptedPersonalData {
            key_id,
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    /// Decrypts `sealed`, which the beneficiary's `Identified` event holds: `None` when its key
    /// was destroyed (the personal data was erased); an error when it does not decrypt for this
    /// beneficiary (altered, or moved from another beneficiary) or its key is wrapped by
    /// another master key.
    pub async fn open(
        &self,
        beneficiary: BeneficiaryId,
        sealed: &EncryptedPersonalData,
    ) -> Result<Option<PersonalData>, PrivacyError> {
        let Some(row) = self.keys.by_key_id(sealed.key_id).await? else {
            return Ok(None);
        };
        let key = unwrap_key(&self.master, &row)?;
        let nonce = BASE64
            .decode(sealed.nonce.as_bytes())
            .map_err(|_| PrivacyError::Undecryptable)?;
        if nonce.len() != NONCE_BYTES {
            return Err(PrivacyError::Undecryptable);
        }
        let ciphertext = BASE64
            .decode(sealed.ciphertext.as_bytes())
            .map_err(|_| PrivacyError::Undecryptable)?;
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| PrivacyError::Undecryptable)?;
        let aad = data_aad(beneficiary.as_uuid(), sealed.key_id);
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| PrivacyError::Undecryptable)?,
        );
        PersonalData::from_plaintext(&plaintext).map(Some)
    }

    /// Destroys the beneficiary's data key (see [`KeyStore::destroy`]).
    pub async fn destroy(&self, beneficiary: BeneficiaryId) -> Result<bool, PrivacyError> {
        self.keys.destroy(beneficiary).await
    }

    /// Re-wraps every data key with `new` (see [`KeyStore::rotate`]); the vault keeps using
    /// the old master key, so make a new vault with `new` afterwards.
    pub async fn rotate(&self, new: &MasterKey) -> Result<u64, PrivacyError> {
        self.keys.rotate(&self.master, new).await
    }

    /// The beneficiary's data key and its id, created if missing.
    async fn data_key(&self, beneficiary: BeneficiaryId) -> Result<(Uuid, DataKey), PrivacyError> {
        // Two attempts cover a concurrent creation; a third only a creation racing a deletion.
        for _ in 0..3 {
            if let Some(row) = self.keys.by_beneficiary(beneficiary).await? {
                return Ok((row.key_id, unwrap_key(&self.master, &row)?));
            }
            let key_id = Uuid::new_v4();
            let mut key: DataKey = Zeroizing::new([0u8; DATA_KEY_BYTES]);
            OsRng.fill_bytes(key.as_mut_slice());
            let (wrapped_key, wrap_nonce) =
                wrap_key(&self.master, key_id, beneficiary.as_uuid(), &key)?;
            let row = WrappedKey {
                key_id,
                beneficiary_id: beneficiary.as_uuid(),
                wrapped_key,
                wrap_nonce,
                master_key_id: self.master.id().to_owned(),
            };
            if self.keys.insert(&row).await? {
                return Ok((key_id, key));
            }
        }
        Err(PrivacyError::KeyContention)
    }
}

fn wrap_aad(key_id: Uuid, beneficiary_id: Uuid) -> Vec<u8> {
    [WRAP_CONTEXT, key_id.as_bytes(), beneficiary_id.as_bytes()].concat()
}

fn data_aad(beneficiary_id: Uuid, key_id: Uuid) -> Vec<u8> {
    [DATA_CONTEXT, beneficiary_id.as_bytes(), key_id.as_bytes()].concat()
}

/// Encrypts a data key with the master key: the wrapped key and the nonce.
fn wrap_key(
    master: &MasterKey,
    key_id: Uuid,
    beneficiary_id: Uuid,
    key: &DataKey,
) -> Result<(Vec<u8>, Vec<u8>), PrivacyError> {
    let cipher = Aes256Gcm::new_from_slice(master.bytes().as_slice())
        .map_err(|_| PrivacyError::Encryption)?;
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let wrapped = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: key.as_slice(),
                aad: &wrap_aad(key_id, beneficiary_id),
            },
        )
        .map_err(|_| PrivacyError::Encryption)?;
    Ok((wrapped, nonce.to_vec()))
}

/// Decrypts a stored data key with the master key.
fn unwrap_key(master: &MasterKey, row: &WrappedKey) -> Result<DataKey, PrivacyError> {
    if row.master_key_id != master.id() {
        return Err(PrivacyError::ForeignMasterKey {
            wrapped_by: row.master_key_id.clone(),
            configured: master.id().to_owned(),
        });
    }
    let corrupt = || PrivacyError::CorruptDataKey { key_id: row.key_id };
    if row.wrap_nonce.len() != NONCE_BYTES {
        return Err(corrupt());
    }
    let cipher = Aes256Gcm::new_from_slice(master.bytes().as_slice()).map_err(|_| corrupt())?;
    let bytes = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&row.wrap_nonce),
                Payload {
                    msg: &row.wrapped_key,
                    aad: &wrap_aad(row.key_id, row.beneficiary_id),
                },
            )
            .map_err(|_| corrupt())?,
    );
    if bytes.len() != DATA_KEY_BYTES {
        return Err(corrupt());
    }
    let mut key: DataKey = Zeroizing::new([0u8; DATA_KEY_BYTES]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

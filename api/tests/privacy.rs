//! The privacy module's guarantees that `personal_data.rs` does not cover: ciphertexts and key
//! rows bound to their beneficiary (AAD), master key loading and its plain errors, erasure's
//! crash safety and refusals, and the crash-safe rotation of the embedded default's key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use common::{admin, identified_with, org, record, set_up};
use masar::privacy::{
    erase, master_key_path, next_master_key_path, rotate_data_dir_key, EraseError, ErasureRequest,
    KeyStore, MasterKey, MasterKeyError, MasterKeySource, PersonalData, PersonalDataVault,
    PrivacyError, SecretText,
};
use masar::write::WriteSide;
use masar_domain::beneficiary::BeneficiaryError;
use masar_domain::ids::BeneficiaryId;
use masar_domain::values::{Actor, ConsentScope, EncryptedPersonalData, Role};
use masar_projections::event_log::{read_stream, verify_chain};
use masar_projections::testing::fresh_database;
use uuid::Uuid;

fn data(name: &str) -> PersonalData {
    PersonalData::new(Some(name.into()), Some("+212600112233".into()), None).unwrap()
}

fn new_id() -> BeneficiaryId {
    BeneficiaryId::new(Uuid::new_v4())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn file_key(path: &Path) -> MasterKey {
    MasterKey::read_file(path).unwrap()
}

// ------------------------------------------------------------------------------ tampering

#[tokio::test]
async fn a_ciphertext_or_key_row_moved_to_another_beneficiary_does_not_decrypt() {
    let db = fresh_database().await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let (a, b) = (new_id(), new_id());
    let sealed_a = vault.seal(a, &data("Awa Qwertz")).await.unwrap();
    let sealed_b = vault.seal(b, &data("Binta Qwertz")).await.unwrap();
    assert_ne!(sealed_a.key_id, sealed_b.key_id, "one key per beneficiary");
    assert_eq!(
        vault.open(a, &sealed_a).await.unwrap().unwrap().full_name(),
        Some("Awa Qwertz")
    );
    // Sealing again reuses the beneficiary's key, with a fresh nonce.
    let again = vault.seal(a, &data("Awa Qwertz")).await.unwrap();
    assert_eq!(again.key_id, sealed_a.key_id);
    assert_ne!(again.nonce, sealed_a.nonce);

    // A's ciphertext presented as B's: the associated data names A.
    assert!(matches!(
        vault.open(b, &sealed_a).await,
        Err(PrivacyError::Undecryptable)
    ));
    // A's ciphertext relabelled with B's key.
    let relabelled = EncryptedPersonalData {
        key_id: sealed_b.key_id,
        ..sealed_a.clone()
    };
    assert!(matches!(
        vault.open(b, &relabelled).await,
        Err(PrivacyError::Undecryptable)
    ));
    // One flipped bit, a nonce of the wrong length, text that is not base64.
    let mut bytes = BASE64.decode(&sealed_a.ciphertext).unwrap();
    bytes[0] ^= 1;
    let flipped = EncryptedPersonalData {
        ciphertext: BASE64.encode(&bytes),
        ..sealed_a.clone()
    };
    let short_nonce = EncryptedPersonalData {
        nonce: BASE64.encode([0u8; 8]),
        ..sealed_a.clone()
    };
    let garbage = EncryptedPersonalData {
        ciphertext: "not base64 at all!".into(),
        ..sealed_a.clone()
    };
    for tampered in [flipped, short_nonce, garbage] {
        assert!(matches!(
            vault.open(a, &tampered).await,
            Err(PrivacyError::Undecryptable)
        ));
    }

    // A's key row moved to another beneficiary: the wrapping names A, so it no longer unwraps.
    let c = new_id();
    sqlx::query("UPDATE personal_data_keys SET beneficiary_id = $1 WHERE beneficiary_id = $2")
        .bind(c.as_uuid())
        .bind(a.as_uuid())
        .execute(&db.pool)
        .await
        .unwrap();
    for beneficiary in [a, c] {
        assert!(matches!(
            vault.open(beneficiary, &sealed_a).await,
            Err(PrivacyError::CorruptDataKey { key_id }) if key_id == sealed_a.key_id
        ));
    }
    // Nor does it seal anything new for the beneficiary it now names.
    assert!(matches!(
        vault.seal(c, &data("Awa Qwertz")).await,
        Err(PrivacyError::CorruptDataKey { key_id }) if key_id == sealed_a.key_id
    ));

    // No error message carries personal data.
    let error = vault.open(b, &sealed_a).await.unwrap_err().to_string();
    assert!(
        !error.contains("Qwertz") && !error.contains("2126"),
        "{error}"
    );
}

#[tokio::test]
async fn a_key_of_another_master_is_refused_plainly_and_unknown_keys_read_as_erased() {
    let db = fresh_database().await;
    let master = MasterKey::generate();
    let vault = PersonalDataVault::new(db.pool.clone(), master.clone());
    let a = new_id();
    let sealed = vault.seal(a, &data("Awa Qwertz")).await.unwrap();
    let other = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    match other.open(a, &sealed).await {
        Err(PrivacyError::ForeignMasterKey {
            wrapped_by,
            configured,
        }) => {
            assert_eq!(wrapped_by, master.id());
            assert_eq!(configured, other.master_key_id());
        }
        result => panic!("expected ForeignMasterKey, got {result:?}"),
    }
    // Nor does another master key seal with the existing data key (or make a second one).
    match other.seal(a, &data("Awa Qwertz")).await {
        Err(PrivacyError::ForeignMasterKey {
            wrapped_by,
            configured,
        }) => {
            assert_eq!(wrapped_by, master.id());
            assert_eq!(configured, other.master_key_id());
        }
        result => panic!("expected ForeignMasterKey, got {result:?}"),
    }

    // A rotation from a master key that wraps nothing here refuses the keys it finds, and a
    // rotation to the key in use is refused; neither changes anything.
    assert!(matches!(
        KeyStore::new(db.pool.clone())
            .rotate(&MasterKey::generate(), &MasterKey::generate())
            .await,
        Err(PrivacyError::ForeignMasterKey { .. })
    ));
    assert!(matches!(
        vault.rotate(&master).await,
        Err(PrivacyError::SameMasterKey)
    ));
    assert!(vault.open(a, &sealed).await.unwrap().is_some());

    // A ciphertext naming a key that does not exist reads as erased.
    let unknown = EncryptedPersonalData {
        key_id: Uuid::new_v4(),
        ..sealed
    };
    assert!(vault.open(a, &unknown).await.unwrap().is_none());
}

// ---------------------------------------------------------------------- master key loading

#[tokio::test]
async fn the_embedded_default_generates_a_0600_key_once_and_a_configured_key_wins() {
    let db = fresh_database().await;
    let keys = KeyStore::new(db.pool.clone());
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    let source = MasterKeySource::resolve(None, None, Some(&data_dir)).unwrap();
    assert!(source.is_generated());
    let generated = source.load(&keys).await.unwrap();
    let path = master_key_path(&data_dir);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(file_key(&path).id(), generated.id());
    assert_eq!(source.load(&keys).await.unwrap().id(), generated.id());

    let configured = MasterKey::generate();
    let in_file = MasterKey::generate();
    let key_file = dir.path().join("configured.key");
    in_file.write_file(&key_file).unwrap();
    assert_eq!(mode(&key_file), 0o600);

    let env = SecretText::from(configured.to_base64().to_string());
    let source = MasterKeySource::resolve(Some(&env), Some(&key_file), Some(&data_dir)).unwrap();
    assert_eq!(source.load(&keys).await.unwrap().id(), configured.id());
    let source = MasterKeySource::resolve(None, Some(&key_file), Some(&data_dir)).unwrap();
    assert!(!source.is_generated());
    assert_eq!(source.load(&keys).await.unwrap().id(), in_file.id());
    // The generated key was left alone.
    assert_eq!(file_key(&path).id(), generated.id());
}

#[test]
fn bad_keys_are_refused_with_a_plain_one_line_reason_that_shows_no_key() {
    let one_line = |error: &MasterKeyError| {
        let text = error.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        text
    };

    let error = MasterKey::from_base64("this-is-not*base64", "MASAR_MASTER_KEY").unwrap_err();
    assert!(matches!(error, MasterKeyError::NotBase64 { .. }));
    let text = one_line(&error);
    assert!(text.contains("MASAR_MASTER_KEY"), "{text}");
    assert!(!text.contains("this-is-not"), "{text}");

    let short = BASE64.encode([7u8; 16]);
    let error = MasterKey::from_base64(&short, "MASAR_MASTER_KEY").unwrap_err();
    assert!(matches!(
        error,
        MasterKeyError::WrongLength { length: 16, .. }
    ));
    let text = one_line(&error);
    assert!(!text.contains(&short), "{text}");

    let error =
        MasterKeySource::resolve(Some(&SecretText::from(short.clone())), None, None).unwrap_err();
    assert!(matches!(
        error,
        MasterKeyError::WrongLength { length: 16, .. }
    ));

    let error = MasterKeySource::resolve(None, None, None).unwrap_err();
    assert!(matches!(error, MasterKeyError::Missing));
    let text = one_line(&error);
    for needed in [
        "MASAR_MASTER_KEY",
        "MASAR_MASTER_KEY_FILE",
        "masar keys generate",
    ] {
        assert!(text.contains(needed), "{text}");
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.key");
    std::fs::write(&file, "secret-looking-garbage\n").unwrap();
    let error = MasterKey::read_file(&file).unwrap_err();
    let text = one_line(&error);
    assert!(text.contains("bad.key"), "{text}");
    assert!(!text.contains("secret-looking"), "{text}");
    let error = MasterKey::read_file(&dir.path().join("missing.key")).unwrap_err();
    assert!(matches!(error, MasterKeyError::Io { .. }));
    one_line(&error);
}

// -------------------------------------------------------------------------------- erasure

#[tokio::test]
async fn an_erasure_interrupted_after_the_key_was_destroyed_completes_on_retry() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let id = new_id();
    let sealed = vault.seal(id, &data("Awa Qwertz")).await.unwrap();
    record(
        &write,
        id,
        0,
        identified_with(
            BTreeSet::from([ConsentScope::DataProcessing]),
            Some(sealed.clone()),
        ),
    )
    .await;

    // The process stopped right after destroying the key: the data is already unreadable.
    assert!(vault.destroy(id).await.unwrap());
    assert!(vault.open(id, &sealed).await.unwrap().is_none());

    let request = ErasureRequest {
        beneficiary_id: id,
        actor: admin(),
        reason: "request of the person".into(),
        token_id: None,
    };
    let erasure = erase(&write, vault.keys(), request).await.unwrap();
    assert!(!erasure.key_destroyed);
    let event_id = erasure.recorded.expect("the erasure is recorded on retry");
    let rows = read_stream(&db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].event_type, "PersonalDataErased");
    assert_eq!(rows[1].metadata["event_id"], event_id.to_string());
    assert!(verify_chain(&rows).is_empty());
}

#[tokio::test]
async fn a_refused_erasure_destroys_nothing() {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let vault = PersonalDataVault::new(db.pool.clone(), MasterKey::generate());
    let id = new_id();
    let sealed = vault.seal(id, &data("Awa Qwertz")).await.unwrap();
    record(
        &write,
        id,
        0,
        identified_with(
            BTreeSet::from([ConsentScope::DataProcessing]),
            Some(sealed.clone()),
        ),
    )
    .await;
    let request = |actor: Actor, reason: &str| ErasureRequest {
        beneficiary_id: id,
        actor,
        reason: reason.into(),
        token_id: None,
    };

    let blank = erase(&write, vault.keys(), request(admin(), "   ")).await;
    assert!(matches!(
        blank,
        Err(EraseError::Refused(BeneficiaryError::Invalid {
            field: "reason",
            ..
        }))
    ));
    // ENABEL is a partner of the programme but did not identify the beneficiary.
    let not_owner = erase(
        &write,
        vault.keys(),
        request(Actor::new(org("ENABEL"), Role::Partner), "asked"),
    )
    .await;
    assert!(matches!(
        not_owner,
        Err(EraseError::Refused(BeneficiaryError::MayNotErase { .. }))
    ));
    let auditor = erase(
        &write,
        vault.keys(),
        request(Actor::new(org("ENABEL"), Role::Auditor), "asked"),
    )
    .await;
    assert!(matches!(auditor, Err(EraseError::Refused(_))));

    let unknown = new_id();
    let missing = erase(
        &write,
        vault.keys(),
        ErasureRequest {
            beneficiary_id: unknown,
            ..request(admin(), "asked")
        },
    )
    .await;
    match missing {
        Err(error @ EraseError::NotFound(_)) => {
            assert_eq!(
                error.to_string(),
                format!("beneficiary {unknown} does not exist")
            )
        }
        other => panic!("expected NotFound, got {other:?}"),
    }

    assert!(vault.keys().exists(id).await.unwrap());
    assert!(vault.open(id, &sealed).await.unwrap().is_some());
    assert_eq!(
        read_stream(&db.pool, "Beneficiary", &id.to_string())
            .await
            .unwrap()
            .len(),
        1
    );

    // The owner may erase.
    let owner = erase(&write, vault.keys(), request(common::partner(), "asked")).await;
    assert!(owner.unwrap().key_destroyed);
}

// ------------------------------------------------- rotation of the embedded default's key

#[tokio::test]
async fn the_generated_key_rotates_and_an_interrupted_rotation_is_finished() {
    let db = fresh_database().await;
    let keys = KeyStore::new(db.pool.clone());
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path();
    let source = MasterKeySource::DataDir(data_dir.to_owned());
    let path = master_key_path(data_dir);
    let next = next_master_key_path(data_dir);

    let first = source.load(&keys).await.unwrap();
    let a = new_id();
    let sealed = PersonalDataVault::new(db.pool.clone(), first.clone())
        .seal(a, &data("Awa Qwertz"))
        .await
        .unwrap();
    let opens = |key: MasterKey| {
        let pool = db.pool.clone();
        let sealed = sealed.clone();
        async move {
            PersonalDataVault::new(pool, key)
                .open(a, &sealed)
                .await
                .map(|d| d.is_some())
                .unwrap_or(false)
        }
    };

    // A plain rotation: new key generated, master.key replaced, nothing left behind.
    let rotation = rotate_data_dir_key(data_dir, &keys, None).await.unwrap();
    assert_eq!(rotation.rewrapped, 1);
    assert_eq!(rotation.old_master_key_id, first.id());
    let second = file_key(&path);
    assert_eq!(rotation.new_master_key_id, second.id());
    assert_eq!(mode(&path), 0o600);
    assert!(!next.exists());
    assert!(opens(second.clone()).await);
    assert!(!opens(first.clone()).await);

    // Stopped between the commit and the rename: the next load takes master.key.next over.
    let third = MasterKey::generate();
    third.write_file(&next).unwrap();
    assert_eq!(keys.rotate(&second, &third).await.unwrap(), 1);
    assert_eq!(source.load(&keys).await.unwrap().id(), third.id());
    assert_eq!(file_key(&path).id(), third.id());
    assert!(!next.exists());
    assert!(opens(third.clone()).await);

    // Stopped before the commit: the leftover is ignored, and the next rotation replaces it.
    let never_used = MasterKey::generate();
    never_used.write_file(&next).unwrap();
    assert_eq!(source.load(&keys).await.unwrap().id(), third.id());
    let rotation = rotate_data_dir_key(data_dir, &keys, None).await.unwrap();
    assert_ne!(rotation.new_master_key_id, never_used.id());
    let fourth = file_key(&path);
    assert!(opens(fourth.clone()).await);

    // A mixed state (a key sealed with the old master after the commit, before the rename)
    // is finished by rotating again, which reuses the pending key rather than losing it.
    let fifth = MasterKey::generate();
    fifth.write_file(&next).unwrap();
    assert_eq!(keys.rotate(&fourth, &fifth).await.unwrap(), 1);
    let late = new_id();
    PersonalDataVault::new(db.pool.clone(), fourth.clone())
        .seal(late, &data("Late Qwertz"))
        .await
        .unwrap();
    assert_eq!(source.load(&keys).await.unwrap().id(), fourth.id());
    assert!(next.exists());
    assert!(matches!(
        rotate_data_dir_key(data_dir, &keys, Some(MasterKey::generate())).await,
        Err(PrivacyError::RotationPending)
    ));
    assert_eq!(file_key(&next).id(), fifth.id(), "the pending key is kept");
    let rotation = rotate_data_dir_key(data_dir, &keys, None).await.unwrap();
    assert_eq!(rotation.rewrapped, 1);
    assert_eq!(rotation.new_master_key_id, fifth.id());
    assert_eq!(file_key(&path).id(), fifth.id());
    assert_eq!(
        keys.master_key_ids()
            .await
            .unwrap()
            .into_keys()
            .collect::<Vec<_>>(),
        vec![fifth.id().to_owned()]
    );
    assert!(opens(fifth).await);
}

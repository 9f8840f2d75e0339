-- Per-beneficiary data keys for personal data (crypto-shredding); see docs/privacy.md.
--
-- A beneficiary's personal data (name, phone, document number) is stored only inside their
-- `Identified` event, encrypted with a key of their own. The event log is append-only and
-- hash-chained, so erasure cannot remove the ciphertext from it: erasure deletes the key
-- instead, here, and the ciphertext left in the log becomes unreadable for ever while every
-- hash still verifies. That is why keys live in this table and never in an event.
--
-- Each data key is stored wrapped (AES-256-GCM) by the master key that the configuration gives
-- (MASAR_MASTER_KEY, MASAR_MASTER_KEY_FILE, or the generated <data_dir>/master.key), so this
-- table alone, or a backup of it, reveals nothing. Rotating the master key re-wraps every row
-- in one transaction and never touches `events`. The api's `privacy` module is the only code
-- that reads or writes this table. Never edit this file once applied.

CREATE TABLE personal_data_keys
(
    -- Named in each ciphertext (`EncryptedPersonalData.key_id`), so that a ciphertext whose
    -- key was destroyed is recognised as erased.
    key_id         uuid PRIMARY KEY,
    -- One key per beneficiary (the stream's aggregate id); it is bound into the wrapping, so a
    -- key row moved to another beneficiary does not unwrap.
    beneficiary_id uuid        NOT NULL UNIQUE,
    -- The 32-byte data key encrypted by the master key, with its 16-byte tag, and the 12-byte
    -- nonce of that encryption.
    wrapped_key    bytea       NOT NULL CHECK (octet_length(wrapped_key) = 48),
    wrap_nonce     bytea       NOT NULL CHECK (octet_length(wrap_nonce) = 12),
    -- Which master key wraps it: the first 16 hex digits of the SHA-256 of that key. Tells a
    -- wrong master key from a corrupted row, and lets an interrupted rotation be completed.
    master_key_id  text        NOT NULL CHECK (master_key_id ~ '^[0-9a-f]{16}$'),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Erasure is `DELETE FROM personal_data_keys WHERE beneficiary_id = $1`: the only row of the
-- database that is ever deleted for privacy. PostgreSQL leaves the deleted row as a dead tuple
-- in the table's pages until VACUUM reclaims it, so `masar erase` (and the api's erasure) runs
-- `VACUUM personal_data_keys` right after; autovacuum would get there later anyway. Copies in
-- WAL segments and backups remain until those expire; they are wrapped by the master key, and
-- docs/privacy.md says how rotating it makes them useless too.

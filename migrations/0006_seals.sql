-- Signed seals over the event log's stream heads (docs/event-encoding.md, "Seals").
--
-- `seals` holds one row per seal; `seal_heads` holds, per seal, the stream heads that changed
-- since the previous seal, so that a seal's full set of heads is, per stream, the latest row
-- among its own and earlier seals' rows. Both are append-only, like `events`.

CREATE TABLE seals
(
    seal_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Every event with global_position <= position is covered.
    position   bigint      NOT NULL UNIQUE CHECK (position >= 1),
    -- How many stream heads the digest covers.
    streams    bigint      NOT NULL CHECK (streams >= 1),
    -- Lower-case hex SHA-256 of the seal text.
    digest     text        NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    -- Ed25519 signature of the digest's 32 bytes, lower-case hex.
    signature  text        NOT NULL CHECK (signature ~ '^[0-9a-f]{128}$'),
    -- The signer's Ed25519 public key, lower-case hex.
    public_key text        NOT NULL CHECK (public_key ~ '^[0-9a-f]{64}$'),
    sealed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE seal_heads
(
    seal_id        bigint NOT NULL REFERENCES seals (seal_id),
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL CHECK (sequence >= 1),
    hash           text   NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, seal_id)
);

CREATE INDEX seal_heads_seal ON seal_heads (seal_id);

CREATE FUNCTION masar_seals_append_only() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'seals are append-only: % is not allowed on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER seals_append_only
    BEFORE UPDATE OR DELETE ON seals
    FOR EACH ROW EXECUTE FUNCTION masar_seals_append_only();

CREATE TRIGGER seals_no_truncate
    BEFORE TRUNCATE ON seals
    FOR EACH STATEMENT EXECUTE FUNCTION masar_seals_append_only();

CREATE TRIGGER seal_heads_append_only
    BEFORE UPDATE OR DELETE ON seal_heads
    FOR EACH ROW EXECUTE FUNCTION masar_seals_append_only();

CREATE TRIGGER seal_heads_no_truncate
    BEFORE TRUNCATE ON seal_heads
    FOR EACH STATEMENT EXECUTE FUNCTION masar_seals_append_only();

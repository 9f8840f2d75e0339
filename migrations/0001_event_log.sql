-- The event log: postgres-es's `events` and `snapshots` tables, extended for Masar.
--
-- postgres-es inserts only its own seven named columns, so every column added here has a
-- default or is filled by the `events_chain` trigger. The trigger is the single place where
-- hashes are computed: the single-command path (postgres-es) and the batch path write through
-- it alike, so both produce identical rows. The encoding is documented in
-- docs/event-encoding.md; keep the two in step, and never edit this file once applied.

CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 1) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         json                         NOT NULL,
    metadata        json                         NOT NULL,
    -- The total order that projections and auditors read.
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    -- When the store wrote the event (as opposed to `occurred_at` in the metadata).
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    -- The writing transaction: readers take only events of transactions older than every
    -- running one (pg_snapshot_xmin), so a position allocated early but committed late is
    -- never skipped.
    transaction_id  xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    -- Per-stream SHA-256 hash chain (lower-case hex), set by the trigger below.
    previous_hash   text,
    hash            text                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_feed ON events (transaction_id, global_position);
-- An event id belongs to one stream for ever: stored twice is impossible.
CREATE UNIQUE INDEX events_event_id ON events (((metadata ->> 'event_id')::uuid));

-- Only needed if snapshotting is employed (postgres-es's schema, unchanged).
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Canonical JSON text of a value: objects with keys sorted by their UTF-8 bytes, no
-- insignificant white space, strings escaped as JSON requires (", \, and control characters;
-- \b \f \n \r \t short, others \u00XX with lower-case hex), everything else unescaped,
-- numbers as PostgreSQL's numeric prints them (Masar's events carry integers only).
CREATE FUNCTION masar_canonical_json(value jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS
$$
BEGIN
    CASE jsonb_typeof(value)
        WHEN 'object' THEN
            RETURN '{' || coalesce((SELECT string_agg(to_jsonb(key)::text || ':' || masar_canonical_json(v),
                                                      ',' ORDER BY key COLLATE "C")
                                    FROM jsonb_each(value) AS e(key, v)), '') || '}';
        WHEN 'array' THEN
            RETURN '[' || coalesce((SELECT string_agg(masar_canonical_json(v), ',' ORDER BY n)
                                    FROM jsonb_array_elements(value) WITH ORDINALITY AS a(v, n)), '') || ']';
        ELSE
            RETURN value::text;
    END CASE;
END
$$;

-- The hash of one event row: SHA-256 over the UTF-8 bytes of the canonical JSON array
-- [previous_hash, aggregate_type, aggregate_id, sequence, event_type, event_version,
--  payload, metadata, recorded_at] with recorded_at as "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC.
CREATE FUNCTION masar_event_hash(previous_hash text, aggregate_type text, aggregate_id text,
                                 sequence bigint, event_type text, event_version text,
                                 payload jsonb, metadata jsonb, recorded_at timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$
SELECT encode(sha256(convert_to(masar_canonical_json(jsonb_build_array(
    previous_hash, aggregate_type, aggregate_id, sequence, event_type, event_version,
    payload, metadata,
    to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))), 'UTF8')), 'hex')
$$;

CREATE FUNCTION masar_events_chain() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    prev text;
BEGIN
    IF NEW.sequence > 1 THEN
        SELECT e.hash INTO prev
        FROM events e
        WHERE e.aggregate_type = NEW.aggregate_type
          AND e.aggregate_id = NEW.aggregate_id
          AND e.sequence = NEW.sequence - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'event % of stream %/% has no predecessor', NEW.sequence,
                NEW.aggregate_type, NEW.aggregate_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    NEW.recorded_at := date_trunc('microseconds', NEW.recorded_at);
    NEW.previous_hash := prev;
    NEW.hash := masar_event_hash(prev, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence,
                                 NEW.event_type, NEW.event_version, NEW.payload::jsonb,
                                 NEW.metadata::jsonb, NEW.recorded_at);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_chain
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION masar_events_chain();

-- The log is append-only: corrections are Retracted events, never UPDATE or DELETE.
CREATE FUNCTION masar_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % is not allowed on events', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION masar_events_append_only();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION masar_events_append_only();

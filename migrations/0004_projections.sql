-- Projections: read models folded from the event log by the projection runner
-- (masar_projections::feed), and their checkpoints.
--
-- A projection applies a batch of events and advances its checkpoint in one transaction. The
-- checkpoint is a point in the order (transaction_id, global_position): the runner takes only
-- events whose writing transaction is older than every transaction still running, so an event
-- whose position was allocated early but committed late is never skipped.

CREATE TABLE projection_checkpoints (
    name              text        PRIMARY KEY,
    transaction_id    xid8        NOT NULL DEFAULT '0',
    global_position   bigint      NOT NULL DEFAULT 0,
    -- The highest global position applied so far (positions do not arrive in order).
    max_position      bigint      NOT NULL DEFAULT 0,
    -- Every event applied so far, each counted once (the exactly-once check reads it).
    events_applied    bigint      NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

INSERT INTO projection_checkpoints (name) VALUES ('beneficiaries'), ('programme_activities');

-- One row per beneficiary stream: what the API lists and what the indicators count. The
-- milestone dates follow shared/contract/INDICATORS.md (masar_domain::journey::milestones);
-- a beneficiary whose identification is void has identified_on NULL and counts for nothing.
CREATE TABLE beneficiary_state (
    beneficiary_id       uuid        PRIMARY KEY,
    programme_code       text,
    partner_code         text,
    sex                  text,
    birth_year           integer,
    age_band             text,
    nationality          text,
    legal_status         text,
    region               text,
    city                 text,
    identified_at        timestamptz,
    stage                text,
    active               boolean     NOT NULL DEFAULT false,
    consent              text[]      NOT NULL DEFAULT '{}',
    personal_data_erased boolean     NOT NULL DEFAULT false,
    -- Organisations a referral named: they may read the beneficiary too.
    referred_to          text[]      NOT NULL DEFAULT '{}',
    version              bigint      NOT NULL,
    -- Events of this stream applied by the runner (each once).
    events_applied       bigint      NOT NULL DEFAULT 0,
    identified_on        date,
    sensitised_on        date,
    enrolled_on          date,
    attended_all_on      date,
    completed_on         date,
    incubated_on         date,
    business_launched_on date,
    employed_on          date,
    inserted_on          date,
    followed_up_on       date,
    -- Non-void follow-ups, in the order IMPROVED_LIVING_CONDITIONS_RATE reads them (date, then
    -- occurredAt, then stream order): their dates and whether living conditions improved.
    follow_up_dates      date[]      NOT NULL DEFAULT '{}',
    follow_up_improved   boolean[]   NOT NULL DEFAULT '{}'
);

CREATE INDEX beneficiary_state_list ON beneficiary_state (identified_at, beneficiary_id);
CREATE INDEX beneficiary_state_programme ON beneficiary_state (programme_code, identified_on);
CREATE INDEX beneficiary_state_partner ON beneficiary_state (partner_code);

-- Programme-level activities (never void: nothing retracts them).
CREATE TABLE programme_activity (
    activity_id      uuid        PRIMARY KEY,
    programme_code   text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('COMPANY', 'TRAINER')),
    occurred_on      date        NOT NULL,
    recorded_at      timestamptz NOT NULL,
    -- COMPANY: lower(trim(company name)); TRAINER: the trainer's name and organisation.
    distinct_key     text        NOT NULL,
    rse_labelled     boolean     NOT NULL DEFAULT false
);

CREATE INDEX programme_activity_programme ON programme_activity (programme_code, occurred_on);

-- Wake projection runners when events are appended (one notice per statement).
CREATE FUNCTION masar_notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('masar_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION masar_notify_events();

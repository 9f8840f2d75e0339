-- What the indicator engine (masar_projections::indicators) needs to answer from one
-- programme's index entries instead of scanning every row of every programme.
--
-- Measured on 200,000 beneficiaries in two programmes (BENCHMARKS.md, "Read side"): the
-- sequential scan spent most of its time stepping over the columns indicators do not read
-- (the milestone dates come after the consent and referral arrays) and over the other
-- programme's rows; and IMPROVED_LIVING_CONDITIONS_RATE's look into the follow-up arrays, done
-- for every beneficiary enrolled in the period, cost about a fifth of the query.

-- The last non-void follow-up (the latest: follow-ups are stored in date order). The arrays
-- are read only when it is after the period's end.
ALTER TABLE beneficiary_state
    ADD COLUMN last_follow_up_on       date,
    ADD COLUMN last_follow_up_improved boolean NOT NULL DEFAULT false;

UPDATE beneficiary_state
   SET last_follow_up_on = follow_up_dates[cardinality(follow_up_dates)],
       last_follow_up_improved = follow_up_improved[cardinality(follow_up_improved)]
 WHERE cardinality(follow_up_dates) > 0;

-- Every column the wide form reads, so that it is an index-only scan of the programme's
-- entries.
CREATE INDEX beneficiary_state_indicators ON beneficiary_state (programme_code, identified_on)
    INCLUDE (sensitised_on, enrolled_on, attended_all_on, completed_on, incubated_on,
             business_launched_on, employed_on, inserted_on, followed_up_on,
             last_follow_up_on, last_follow_up_improved, follow_up_dates, follow_up_improved,
             sex, age_band, region, partner_code, nationality, legal_status);

-- An index-only scan reads the table only for pages not marked all-visible, i.e. rows the
-- runner rewrote since the last vacuum: vacuum this table more often than by default. A
-- rebuilt table is given the same settings (masar_projections::beneficiaries::rebuild_into).
ALTER TABLE beneficiary_state SET (autovacuum_vacuum_scale_factor = 0.02,
                                   autovacuum_vacuum_insert_scale_factor = 0.02);

-- Pre-aggregated milestone counts: what the indicator engine (masar_projections::indicators)
-- adds up instead of evaluating every beneficiary's row. Kept by the beneficiaries projection
-- (masar_projections::milestone_counts) in the same transaction as beneficiary_state's rows,
-- rebuilt and swapped in with them by `masar projections rebuild beneficiaries`, and compared
-- with their rebuild by `masar verify --projections`.
--
-- Measured on 200,000 beneficiaries in two programmes (BENCHMARKS.md, "Read side"): even as an
-- index-only scan of a covering index, the per-beneficiary query spent its time reading 21
-- columns out of each of the programme's 100,000 entries and evaluating fifteen filtered
-- aggregates per entry. Indicators are counts of beneficiaries by the day of a milestone, so
-- the same figures come from counts per programme, day and combination of dimension values:
-- a few hundred rows for a programme's totals, a few tens of thousands with dimensions.
--
-- Only beneficiaries that count for indicators are counted: a programme and a non-void
-- identification (identified_on not null), as the engine has always required.

-- How many of a programme's beneficiaries reached each milestone on `on_date`.
CREATE TABLE milestone_counts (
    programme_code    text    NOT NULL,
    -- false: the programme's total, its dimension columns ''; true: one combination of the
    -- beneficiaries' dimension values (SEX … LEGAL_STATUS; MONTH and QUARTER are `on_date`'s).
    by_cell           boolean NOT NULL,
    on_date           date    NOT NULL,
    sex               text    NOT NULL,
    age_band          text    NOT NULL,
    region            text    NOT NULL,
    partner_code      text    NOT NULL,
    nationality       text    NOT NULL,
    legal_status      text    NOT NULL,
    identified        integer NOT NULL DEFAULT 0,
    sensitised        integer NOT NULL DEFAULT 0,
    enrolled          integer NOT NULL DEFAULT 0,
    attended_all      integer NOT NULL DEFAULT 0,
    completed         integer NOT NULL DEFAULT 0,
    incubated         integer NOT NULL DEFAULT 0,
    business_launched integer NOT NULL DEFAULT 0,
    employed          integer NOT NULL DEFAULT 0,
    inserted          integer NOT NULL DEFAULT 0,
    followed_up       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (programme_code, by_cell, on_date, sex, age_band, region, partner_code,
                 nationality, legal_status)
);

-- What the rates and the median need beyond a milestone's day, as counts of beneficiaries by
-- two days (the first is the day the indicator's denominator is dated by, so MONTH and
-- QUARTER are still `on_date`'s):
--   FOLLOW_UP_RATE                      on_date = inserted, paired_on = followed up, n = count
--   MEDIAN_DAYS_IDENTIFIED_TO_INSERTED  on_date = inserted, paired_on = identified, n = count
--   IMPROVED_LIVING_CONDITIONS_RATE     on_date = enrolled, paired_on = a day on which "the
--       latest non-void follow-up dated on or before it improved living conditions" changes,
--       n = +1 where it becomes true, -1 where it becomes false: the sum of n over
--       paired_on <= to is the number whose latest follow-up dated on or before `to` improved.
-- Rows whose n adds up to 0 are not kept.
--
-- Counts are `integer` (a day's count of one programme's beneficiaries fits in it many times
-- over): their `sum` adds 64-bit integers, where that of a `bigint` adds `numeric`s, which
-- made the grouped sums about a fifth slower.
CREATE TABLE milestone_pairs (
    programme_code    text    NOT NULL,
    by_cell           boolean NOT NULL,
    indicator         text    NOT NULL,
    on_date           date    NOT NULL,
    paired_on         date    NOT NULL,
    sex               text    NOT NULL,
    age_band          text    NOT NULL,
    region            text    NOT NULL,
    partner_code      text    NOT NULL,
    nationality       text    NOT NULL,
    legal_status      text    NOT NULL,
    n                 integer NOT NULL,
    PRIMARY KEY (programme_code, by_cell, indicator, on_date, paired_on, sex, age_band, region,
                 partner_code, nationality, legal_status)
);

-- The indicator engine no longer reads beneficiary_state: its covering index only slowed
-- down the projection's writes (and a rebuild's COPY).
DROP INDEX IF EXISTS beneficiary_state_indicators;

-- Backfill: the counts of the rows already projected (the Rust code that keeps them,
-- masar_projections::milestone_counts, is tested to agree with these statements).
WITH m AS (
    SELECT b.programme_code, coalesce(b.sex, '') AS sex, coalesce(b.age_band, '') AS age_band,
           coalesce(b.region, '') AS region, coalesce(b.partner_code, '') AS partner_code,
           coalesce(b.nationality, '') AS nationality,
           coalesce(b.legal_status, '') AS legal_status, x.on_date, x.k
      FROM beneficiary_state b
     CROSS JOIN LATERAL (VALUES (b.identified_on, 0), (b.sensitised_on, 1), (b.enrolled_on, 2),
                                (b.attended_all_on, 3), (b.completed_on, 4),
                                (b.incubated_on, 5), (b.business_launched_on, 6),
                                (b.employed_on, 7), (b.inserted_on, 8),
                                (b.followed_up_on, 9)) AS x(on_date, k)
     WHERE b.programme_code IS NOT NULL AND b.identified_on IS NOT NULL
       AND x.on_date IS NOT NULL
)
INSERT INTO milestone_counts (programme_code, by_cell, on_date, sex, age_band, region,
                              partner_code, nationality, legal_status, identified, sensitised,
                              enrolled, attended_all, completed, incubated, business_launched,
                              employed, inserted, followed_up)
SELECT programme_code, true, on_date, sex, age_band, region, partner_code, nationality,
       legal_status,
       count(*) FILTER (WHERE k = 0), count(*) FILTER (WHERE k = 1),
       count(*) FILTER (WHERE k = 2), count(*) FILTER (WHERE k = 3),
       count(*) FILTER (WHERE k = 4), count(*) FILTER (WHERE k = 5),
       count(*) FILTER (WHERE k = 6), count(*) FILTER (WHERE k = 7),
       count(*) FILTER (WHERE k = 8), count(*) FILTER (WHERE k = 9)
  FROM m
 GROUP BY programme_code, on_date, sex, age_band, region, partner_code, nationality,
          legal_status
UNION ALL
SELECT programme_code, false, on_date, '', '', '', '', '', '',
       count(*) FILTER (WHERE k = 0), count(*) FILTER (WHERE k = 1),
       count(*) FILTER (WHERE k = 2), count(*) FILTER (WHERE k = 3),
       count(*) FILTER (WHERE k = 4), count(*) FILTER (WHERE k = 5),
       count(*) FILTER (WHERE k = 6), count(*) FILTER (WHERE k = 7),
       count(*) FILTER (WHERE k = 8), count(*) FILTER (WHERE k = 9)
  FROM m
 GROUP BY programme_code, on_date;

WITH b AS (
    SELECT beneficiary_id, programme_code, coalesce(sex, '') AS sex,
           coalesce(age_band, '') AS age_band, coalesce(region, '') AS region,
           coalesce(partner_code, '') AS partner_code, coalesce(nationality, '') AS nationality,
           coalesce(legal_status, '') AS legal_status, identified_on, enrolled_on, inserted_on,
           followed_up_on, follow_up_dates, follow_up_improved
      FROM beneficiary_state
     WHERE programme_code IS NOT NULL AND identified_on IS NOT NULL
),
-- Per follow-up day, whether the latest follow-up dated on or before it (the last in the
-- arrays' reading order) improved living conditions.
steps AS (
    SELECT DISTINCT b.beneficiary_id, f.d,
           b.follow_up_improved[max(f.i) OVER (PARTITION BY b.beneficiary_id ORDER BY f.d)]
             AS improved
      FROM b
     CROSS JOIN LATERAL unnest(b.follow_up_dates) WITH ORDINALITY AS f(d, i)
     WHERE b.enrolled_on IS NOT NULL
),
changes AS (
    SELECT beneficiary_id, d, improved
      FROM (SELECT s.*, lag(s.improved, 1, false)
                          OVER (PARTITION BY s.beneficiary_id ORDER BY s.d) AS before
              FROM steps s) t
     WHERE improved IS DISTINCT FROM before
),
p AS (
    SELECT programme_code, sex, age_band, region, partner_code, nationality, legal_status,
           'FOLLOW_UP_RATE' AS indicator, inserted_on AS on_date, followed_up_on AS paired_on,
           1 AS n
      FROM b WHERE inserted_on IS NOT NULL AND followed_up_on IS NOT NULL
    UNION ALL
    SELECT programme_code, sex, age_band, region, partner_code, nationality, legal_status,
           'MEDIAN_DAYS_IDENTIFIED_TO_INSERTED', inserted_on, identified_on, 1
      FROM b WHERE inserted_on IS NOT NULL
    UNION ALL
    SELECT b.programme_code, b.sex, b.age_band, b.region, b.partner_code, b.nationality,
           b.legal_status, 'IMPROVED_LIVING_CONDITIONS_RATE', b.enrolled_on, c.d,
           CASE WHEN c.improved THEN 1 ELSE -1 END
      FROM b JOIN changes c USING (beneficiary_id)
)
INSERT INTO milestone_pairs (programme_code, by_cell, indicator, on_date, paired_on, sex,
                             age_band, region, partner_code, nationality, legal_status, n)
SELECT programme_code, true, indicator, on_date, paired_on, sex, age_band, region,
       partner_code, nationality, legal_status, sum(n)
  FROM p
 GROUP BY programme_code, indicator, on_date, paired_on, sex, age_band, region, partner_code,
          nationality, legal_status
HAVING sum(n) <> 0
UNION ALL
SELECT programme_code, false, indicator, on_date, paired_on, '', '', '', '', '', '', sum(n)
  FROM p
 GROUP BY programme_code, indicator, on_date, paired_on
HAVING sum(n) <> 0;

//! Milestone counts: how many of a programme's beneficiaries reached each milestone on each
//! day, in total and per combination of dimension values (`milestone_counts`), and the counts
//! by two days that the rates and the median need (`milestone_pairs`); see
//! `migrations/0008_milestone_counts.sql` for what each row means.
//!
//! They belong to the `beneficiaries` projection (`crate::beneficiaries`), which keeps them
//! in the same transaction as `beneficiary_state`: each batch takes away what the replaced
//! rows counted and adds what the new rows count ([`Tally::merge_into`]); a rebuild counts
//! every row it folds and writes the counts with COPY ([`Tally::copy_into`]). The indicator
//! engine (`crate::indicators`) adds them up over a period.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use masar_domain::values::IndicatorCode;
use sqlx::{PgConnection, Row};

use crate::beneficiaries::BeneficiaryRow;
use crate::copy::CopyWriter;

/// The live table of counts by milestone and day.
pub const COUNTS_TABLE: &str = "milestone_counts";

/// The live table of counts by two days.
pub const PAIRS_TABLE: &str = "milestone_pairs";

/// The count columns of [`COUNTS_TABLE`], one per milestone, in the order of
/// [`Counted::milestones`].
pub const MILESTONES: [&str; 10] = [
    "identified",
    "sensitised",
    "enrolled",
    "attended_all",
    "completed",
    "incubated",
    "business_launched",
    "employed",
    "inserted",
    "followed_up",
];

/// Index of the identified milestone in [`MILESTONES`].
pub const IDENTIFIED: usize = 0;
/// Index of the enrolled milestone in [`MILESTONES`].
pub const ENROLLED: usize = 2;
/// Index of the inserted milestone in [`MILESTONES`].
pub const INSERTED: usize = 8;
/// Index of the followed-up milestone in [`MILESTONES`].
pub const FOLLOWED_UP: usize = 9;

/// The dimension columns of both tables (those of a beneficiary, not of a date), in the
/// order of [`Cell`].
pub const DIMENSIONS: [&str; 6] = [
    "sex",
    "age_band",
    "region",
    "partner_code",
    "nationality",
    "legal_status",
];

/// A combination of dimension values, in the order of [`DIMENSIONS`].
pub type Cell = [String; 6];

/// Which indicator a row of [`PAIRS_TABLE`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pair {
    /// FOLLOW_UP_RATE: by inserted day and followed-up day.
    FollowedUp,
    /// IMPROVED_LIVING_CONDITIONS_RATE: by enrolled day and day the status changes (±1).
    Improved,
    /// MEDIAN_DAYS_IDENTIFIED_TO_INSERTED: by inserted day and identified day.
    Days,
}

impl Pair {
    /// Every kind of pair.
    pub const ALL: [Pair; 3] = [Pair::FollowedUp, Pair::Improved, Pair::Days];

    /// The indicator, whose code the `indicator` column holds.
    pub fn indicator(self) -> IndicatorCode {
        match self {
            Pair::FollowedUp => IndicatorCode::FollowUpRate,
            Pair::Improved => IndicatorCode::ImprovedLivingConditionsRate,
            Pair::Days => IndicatorCode::MedianDaysIdentifiedToInserted,
        }
    }

    /// The pair of an `indicator` column's value.
    pub fn of_code(code: &str) -> Option<Pair> {
        Pair::ALL
            .into_iter()
            .find(|pair| pair.indicator().as_str() == code)
    }
}

/// One beneficiary as the counts see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    /// The programme.
    pub programme_code: String,
    /// The beneficiary's dimension values.
    pub cell: Cell,
    /// The milestone dates, in the order of [`MILESTONES`].
    pub milestones: [Option<NaiveDate>; 10],
    /// Non-void follow-ups in reading order: date, and whether living conditions improved.
    pub follow_ups: Vec<(NaiveDate, bool)>,
}

/// The columns of `beneficiary_state` that [`Counted::of_state`] reads.
pub const STATE_COLUMNS: &str = "programme_code, sex, age_band, region, partner_code, \
    nationality, legal_status, identified_on, sensitised_on, enrolled_on, attended_all_on, \
    completed_on, incubated_on, business_launched_on, employed_on, inserted_on, \
    followed_up_on, follow_up_dates, follow_up_improved";

impl Counted {
    /// What a projected row counts for: nothing (`None`) without a programme or with a void
    /// identification.
    pub fn of_row(row: &BeneficiaryRow) -> Option<Counted> {
        let identification = row.identification.as_ref()?;
        let m = &row.milestones;
        m.identified?;
        Some(Counted {
            programme_code: identification.programme_code.clone(),
            cell: [
                identification.sex.to_owned(),
                identification.age_band.to_owned(),
                identification.region.clone(),
                identification.partner_code.clone(),
                identification.nationality.clone(),
                identification.legal_status.to_owned(),
            ],
            milestones: m.in_order(),
            follow_ups: row.follow_ups.clone(),
        })
    }

    /// What a row read from `beneficiary_state` (at least [`STATE_COLUMNS`]) counts for, as
    /// [`Counted::of_row`] of the row it was written from.
    pub fn of_state(row: &sqlx::postgres::PgRow) -> Result<Option<Counted>, sqlx::Error> {
        let programme_code: Option<String> = row.try_get("programme_code")?;
        let identified_on: Option<NaiveDate> = row.try_get("identified_on")?;
        let (Some(programme_code), Some(_)) = (programme_code, identified_on) else {
            return Ok(None);
        };
        let mut cell = Cell::default();
        for (value, column) in cell.iter_mut().zip(DIMENSIONS) {
            *value = row
                .try_get::<Option<String>, _>(column)?
                .unwrap_or_default();
        }
        let mut milestones = [None; 10];
        for (date, column) in milestones.iter_mut().zip([
            "identified_on",
            "sensitised_on",
            "enrolled_on",
            "attended_all_on",
            "completed_on",
            "incubated_on",
            "business_launched_on",
            "employed_on",
            "inserted_on",
            "followed_up_on",
        ]) {
            *date = row.try_get(column)?;
        }
        let dates: Vec<NaiveDate> = row.try_get("follow_up_dates")?;
        let improved: Vec<bool> = row.try_get("follow_up_improved")?;
        Ok(Some(Counted {
            programme_code,
            cell,
            milestones,
            follow_ups: dates.into_iter().zip(improved).collect(),
        }))
    }
}

/// Where "the latest follow-up dated on or before day t improved living conditions" changes,
/// as t goes forward from before the first follow-up (when it is false): each day it changes
/// and its value from then on. On a day with several follow-ups, the last in reading order
/// decides.
pub fn improvement_steps(follow_ups: &[(NaiveDate, bool)]) -> Vec<(NaiveDate, bool)> {
    let mut days: Vec<NaiveDate> = follow_ups.iter().map(|(date, _)| *date).collect();
    days.sort_unstable();
    days.dedup();
    let mut steps = Vec::new();
    let mut current = false;
    for day in days {
        // The latest in reading order of those dated on or before `day`.
        let value = follow_ups
            .iter()
            .rposition(|(date, _)| *date <= day)
            .is_some_and(|index| follow_ups[index].1);
        if value != current {
            steps.push((day, value));
            current = value;
        }
    }
    steps
}

/// A programme and a combination of dimension values (`None`: the programme's total).
type Group = (String, Option<Cell>);

/// Counts (or changes of counts) for [`COUNTS_TABLE`] and [`PAIRS_TABLE`], gathered in
/// memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    counts: HashMap<Group, BTreeMap<NaiveDate, [i64; 10]>>,
    pairs: HashMap<Group, BTreeMap<(Pair, NaiveDate, NaiveDate), i64>>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        Tally::default()
    }

    /// Counts `counted` once (`sign` 1), or takes it away (`sign` -1), in its programme's
    /// total and in its cell.
    pub fn add(&mut self, counted: Counted, sign: i64) {
        let Counted {
            programme_code,
            cell,
            milestones,
            follow_ups,
        } = counted;
        let mut pairs: Vec<((Pair, NaiveDate, NaiveDate), i64)> = Vec::new();
        if let Some(inserted) = milestones[INSERTED] {
            if let Some(followed_up) = milestones[FOLLOWED_UP] {
                pairs.push(((Pair::FollowedUp, inserted, followed_up), sign));
            }
            if let Some(identified) = milestones[IDENTIFIED] {
                pairs.push(((Pair::Days, inserted, identified), sign));
            }
        }
        if let Some(enrolled) = milestones[ENROLLED] {
            for (day, improved) in improvement_steps(&follow_ups) {
                let change = if improved { sign } else { -sign };
                pairs.push(((Pair::Improved, enrolled, day), change));
            }
        }
        for group in [(programme_code.clone(), None), (programme_code, Some(cell))] {
            let days = self.counts.entry(group.clone()).or_default();
            for (index, date) in milestones.iter().enumerate() {
                if let Some(date) = date {
                    days.entry(*date).or_insert([0; 10])[index] += sign;
                }
            }
            if !pairs.is_empty() {
                let by_pair = self.pairs.entry(group).or_default();
                for (key, change) in &pairs {
                    *by_pair.entry(*key).or_insert(0) += change;
                }
            }
        }
    }

    /// The rows of [`COUNTS_TABLE`] with anything counted: programme, cell, day, counts.
    fn count_rows(&self) -> impl Iterator<Item = (&str, Option<&Cell>, NaiveDate, &[i64; 10])> {
        self.counts.iter().flat_map(|((programme, cell), days)| {
            days.iter()
                .filter(|(_, counts)| counts.iter().any(|n| *n != 0))
                .map(move |(day, counts)| (programme.as_str(), cell.as_ref(), *day, counts))
        })
    }

    /// The rows of [`PAIRS_TABLE`] whose count is not 0: programme, cell, pair, days, count.
    #[allow(clippy::type_complexity)]
    fn pair_rows(
        &self,
    ) -> impl Iterator<Item = (&str, Option<&Cell>, Pair, NaiveDate, NaiveDate, i64)> {
        self.pairs.iter().flat_map(|((programme, cell), pairs)| {
            pairs
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(move |((pair, on, paired), n)| {
                    (programme.as_str(), cell.as_ref(), *pair, *on, *paired, *n)
                })
        })
    }

    /// Writes the counts into the empty tables `counts` and `pairs` (copies of
    /// [`COUNTS_TABLE`] and [`PAIRS_TABLE`]) with COPY.
    pub async fn copy_into(
        &self,
        connection: &mut PgConnection,
        counts: &str,
        pairs: &str,
    ) -> Result<(), sqlx::Error> {
        let mut copy = CopyWriter::new();
        for (programme, cell, day, numbers) in self.count_rows() {
            copy.text(programme);
            write_cell(&mut copy, cell);
            copy.display(day);
            for n in numbers {
                copy.display(n);
            }
            copy.end_row();
        }
        copy.send(connection, counts, &count_columns()).await?;
        for (programme, cell, pair, on, paired, n) in self.pair_rows() {
            copy.text(programme);
            write_cell(&mut copy, cell);
            copy.text(pair.indicator().as_str());
            copy.display(on);
            copy.display(paired);
            copy.display(n);
            copy.end_row();
        }
        copy.send(connection, pairs, &pair_columns()).await?;
        Ok(())
    }

    /// Adds these changes to the tables `counts` and `pairs` (the live [`COUNTS_TABLE`] and
    /// [`PAIRS_TABLE`] or copies), inside the caller's transaction, and deletes the rows that
    /// come to count nothing, so that the tables stay what a rebuild writes.
    pub async fn merge_into(
        &self,
        connection: &mut PgConnection,
        counts: &str,
        pairs: &str,
    ) -> Result<(), sqlx::Error> {
        let mut keys = KeyArrays::default();
        let mut numbers: [Vec<i64>; 10] = Default::default();
        for (programme, cell, day, row) in self.count_rows() {
            keys.push(programme, cell);
            keys.on_date.push(day);
            for (column, n) in numbers.iter_mut().zip(row) {
                column.push(*n);
            }
        }
        if !keys.programme_code.is_empty() {
            let key = "programme_code, by_cell, on_date, sex, age_band, region, partner_code, \
                       nationality, legal_status";
            let unnest = "unnest($1::text[], $2::boolean[], $3::date[], $4::text[], $5::text[], \
                          $6::text[], $7::text[], $8::text[], $9::text[]";
            let arrays: Vec<String> = (10..20).map(|i| format!("${i}::bigint[]")).collect();
            let sums: Vec<String> = MILESTONES
                .iter()
                .map(|m| format!("{m} = c.{m} + excluded.{m}"))
                .collect();
            let upsert = format!(
                "INSERT INTO {counts} AS c ({key}, {milestones}) \
                 SELECT * FROM {unnest}, {arrays}) \
                 ON CONFLICT ({key}) DO UPDATE SET {sums}",
                milestones = MILESTONES.join(", "),
                arrays = arrays.join(", "),
                sums = sums.join(", "),
            );
            let mut query = keys.bind(sqlx::query(&upsert));
            for column in &numbers {
                query = query.bind(column);
            }
            query.execute(&mut *connection).await?;
            let empty: Vec<String> = MILESTONES.iter().map(|m| format!("{m} = 0")).collect();
            let delete = format!(
                "DELETE FROM {counts} WHERE ({key}) IN (SELECT * FROM {unnest})) AND {}",
                empty.join(" AND ")
            );
            keys.bind(sqlx::query(&delete))
                .execute(&mut *connection)
                .await?;
        }

        let mut keys = KeyArrays::default();
        let (mut indicator, mut paired_on, mut n) = (Vec::new(), Vec::new(), Vec::new());
        for (programme, cell, pair, on, paired, count) in self.pair_rows() {
            keys.push(programme, cell);
            keys.on_date.push(on);
            indicator.push(pair.indicator().as_str().to_owned());
            paired_on.push(paired);
            n.push(count);
        }
        if !keys.programme_code.is_empty() {
            let key = "programme_code, by_cell, on_date, sex, age_band, region, partner_code, \
                       nationality, legal_status, indicator, paired_on";
            let unnest = "unnest($1::text[], $2::boolean[], $3::date[], $4::text[], $5::text[], \
                          $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                          $11::date[]";
            let upsert = format!(
                "INSERT INTO {pairs} AS p ({key}, n) SELECT * FROM {unnest}, $12::bigint[]) \
                 ON CONFLICT ({key}) DO UPDATE SET n = p.n + excluded.n"
            );
            keys.bind(sqlx::query(&upsert))
                .bind(&indicator)
                .bind(&paired_on)
                .bind(&n)
                .execute(&mut *connection)
                .await?;
            let delete =
                format!("DELETE FROM {pairs} WHERE ({key}) IN (SELECT * FROM {unnest})) AND n = 0");
            keys.bind(sqlx::query(&delete))
                .bind(&indicator)
                .bind(&paired_on)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    }
}

/// The programme, cell and day columns of rows to merge, as arrays for `unnest`.
#[derive(Debug, Default)]
struct KeyArrays {
    programme_code: Vec<String>,
    by_cell: Vec<bool>,
    on_date: Vec<NaiveDate>,
    dimensions: [Vec<String>; 6],
}

impl KeyArrays {
    fn push(&mut self, programme: &str, cell: Option<&Cell>) {
        self.programme_code.push(programme.to_owned());
        self.by_cell.push(cell.is_some());
        for (index, column) in self.dimensions.iter_mut().enumerate() {
            column.push(cell.map(|c| c[index].clone()).unwrap_or_default());
        }
    }

    /// Binds `$1` … `$9`.
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let mut query = query
            .bind(&self.programme_code)
            .bind(&self.by_cell)
            .bind(&self.on_date);
        for column in &self.dimensions {
            query = query.bind(column);
        }
        query
    }
}

fn write_cell(copy: &mut CopyWriter, cell: Option<&Cell>) {
    copy.boolean(cell.is_some());
    for index in 0..DIMENSIONS.len() {
        copy.text(cell.map_or("", |c| c[index].as_str()));
    }
}

/// The columns of [`COUNTS_TABLE`] in the order [`Tally::copy_into`] writes them.
fn count_columns() -> String {
    format!(
        "programme_code, by_cell, {}, on_date, {}",
        DIMENSIONS.join(", "),
        MILESTONES.join(", ")
    )
}

/// The columns of [`PAIRS_TABLE`] in the order [`Tally::copy_into`] writes them.
fn pair_columns() -> String {
    format!(
        "programme_code, by_cell, {}, indicator, on_date, paired_on, n",
        DIMENSIONS.join(", ")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::beneficiaries::{BeneficiaryTables, IdentificationColumns, COLUMNS, TABLE};
    use crate::copy::CopyRow;
    use chrono::{TimeZone, Utc};
    use masar_domain::journey::Milestones;
    use uuid::Uuid;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 5, d).unwrap_or_default()
    }

    #[test]
    fn improvement_changes_where_the_latest_follow_up_changes() {
        assert_eq!(improvement_steps(&[]), []);
        assert_eq!(improvement_steps(&[(day(3), false)]), []);
        assert_eq!(improvement_steps(&[(day(3), true)]), [(day(3), true)]);
        assert_eq!(
            improvement_steps(&[(day(3), true), (day(5), true), (day(9), false)]),
            [(day(3), true), (day(9), false)]
        );
        // On one day, the last in reading order decides.
        assert_eq!(
            improvement_steps(&[(day(3), true), (day(3), false), (day(4), true)]),
            [(day(4), true)]
        );
    }

    fn counted(programme: &str, sex: &str, dates: [Option<NaiveDate>; 10]) -> Counted {
        Counted {
            programme_code: programme.to_owned(),
            cell: [sex, "AGE_25_34", "MA-01", "P1", "CI", "REFUGEE"].map(str::to_owned),
            milestones: dates,
            follow_ups: vec![(day(20), true)],
        }
    }

    #[test]
    fn taking_a_row_away_leaves_nothing_counted() {
        let mut dates = [None; 10];
        dates[IDENTIFIED] = Some(day(1));
        dates[ENROLLED] = Some(day(2));
        dates[INSERTED] = Some(day(10));
        dates[FOLLOWED_UP] = Some(day(20));
        let mut tally = Tally::new();
        tally.add(counted("A", "FEMALE", dates), 1);
        assert_eq!(tally.count_rows().count(), 2 * 4);
        // Follow-up, days and improvement, in the total and in the cell.
        assert_eq!(tally.pair_rows().count(), 2 * 3);
        tally.add(counted("A", "FEMALE", dates), -1);
        assert_eq!(tally.count_rows().count(), 0);
        assert_eq!(tally.pair_rows().count(), 0);
    }

    /// A small deterministic generator.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % below
        }

        fn maybe(&mut self, start: NaiveDate, span: u64) -> Option<NaiveDate> {
            (self.next(3) > 0).then(|| start + chrono::Duration::days(self.next(span) as i64))
        }
    }

    /// Rows of every kind the counts must handle: two programmes, void identifications, missing
    /// milestones, several follow-ups (some on one day) that improve and worsen.
    fn rows(rng: &mut Lcg, count: usize) -> Vec<BeneficiaryRow> {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        (0..count)
            .map(|_| {
                let identified = start + chrono::Duration::days(rng.next(60) as i64);
                let identification = (rng.next(10) > 0).then(|| IdentificationColumns {
                    programme_code: ["P-A", "P-B"][rng.next(2) as usize].to_owned(),
                    partner_code: ["REMESS", "CARITAS"][rng.next(2) as usize].to_owned(),
                    sex: ["FEMALE", "MALE"][rng.next(2) as usize],
                    birth_year: None,
                    age_band: ["UNKNOWN", "AGE_25_34"][rng.next(2) as usize],
                    nationality: "CI".to_owned(),
                    legal_status: "REFUGEE",
                    region: ["MA-01", "MA-04", "MA-06"][rng.next(3) as usize].to_owned(),
                    city: None,
                    identified_at: Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap(),
                });
                let inserted = rng.maybe(identified, 90);
                let mut follow_ups = Vec::new();
                let mut day = identified;
                for _ in 0..rng.next(4) {
                    day += chrono::Duration::days(rng.next(3) as i64);
                    follow_ups.push((day, rng.next(2) == 0));
                }
                BeneficiaryRow {
                    beneficiary_id: Uuid::new_v4(),
                    identification,
                    stage: None,
                    active: true,
                    consent: Vec::new(),
                    personal_data_erased: false,
                    referred_to: Vec::new(),
                    version: 1,
                    events_applied: 1,
                    milestones: Milestones {
                        identified: (rng.next(8) > 0).then_some(identified),
                        sensitised: rng.maybe(identified, 30),
                        enrolled: rng.maybe(identified, 30),
                        attended_all_workshops: rng.maybe(identified, 40),
                        completed_training: rng.maybe(identified, 50),
                        incubated: rng.maybe(identified, 60),
                        business_launched: rng.maybe(identified, 60),
                        employed: rng.maybe(identified, 60),
                        inserted,
                        followed_up: inserted.and_then(|i| rng.maybe(i, 20)),
                    },
                    follow_ups,
                }
            })
            .collect()
    }

    fn tally_of(rows: &[BeneficiaryRow]) -> Tally {
        let mut tally = Tally::new();
        for counted in rows.iter().filter_map(Counted::of_row) {
            tally.add(counted, 1);
        }
        tally
    }

    /// Rows in `left` not in `right` and the other way round, over both count tables.
    async fn differences(pool: &sqlx::PgPool, left: &str, right: &str) -> i64 {
        let mut total = 0;
        for (l, r) in [
            (
                format!("{COUNTS_TABLE}{left}"),
                format!("{COUNTS_TABLE}{right}"),
            ),
            (
                format!("{PAIRS_TABLE}{left}"),
                format!("{PAIRS_TABLE}{right}"),
            ),
        ] {
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT (SELECT count(*) FROM (SELECT * FROM {l} EXCEPT SELECT * FROM {r}) x) \
                      + (SELECT count(*) FROM (SELECT * FROM {r} EXCEPT SELECT * FROM {l}) y)"
            ))
            .fetch_one(pool)
            .await
            .unwrap();
            total += n;
        }
        total
    }

    async fn create_copies(pool: &sqlx::PgPool, suffix: &str) -> BeneficiaryTables {
        let tables = BeneficiaryTables::with_suffix(suffix);
        for (copy, live) in [(&tables.counts, COUNTS_TABLE), (&tables.pairs, PAIRS_TABLE)] {
            sqlx::query(&format!("CREATE TABLE {copy} (LIKE {live} INCLUDING ALL)"))
                .execute(pool)
                .await
                .unwrap();
        }
        tables
    }

    #[tokio::test]
    async fn merging_changes_gives_what_counting_the_final_rows_gives() {
        let db = crate::testing::fresh_database().await;
        let mut rng = Lcg(7);
        let mut current = rows(&mut rng, 300);
        let expected = create_copies(&db.pool, "_expected").await;
        let mut connection = db.pool.acquire().await.unwrap();

        // First the rows are added, in three batches.
        for chunk in current.chunks(100) {
            tally_of(chunk)
                .merge_into(&mut connection, COUNTS_TABLE, PAIRS_TABLE)
                .await
                .unwrap();
        }
        tally_of(&current)
            .copy_into(&mut connection, &expected.counts, &expected.pairs)
            .await
            .unwrap();
        assert_eq!(differences(&db.pool, "", "_expected").await, 0);
        let rows_counted: i64 = sqlx::query_scalar("SELECT count(*) FROM milestone_counts")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(rows_counted > 100, "{rows_counted}");

        // Then some are replaced (as a refolded stream is), some by a void identification, and
        // the changes merged: what each counted is taken away, what replaces it added.
        let replacements = rows(&mut rng, 120);
        let mut change = Tally::new();
        for (index, replacement) in replacements.into_iter().enumerate() {
            let old = std::mem::replace(&mut current[index * 2], replacement);
            if let Some(counted) = Counted::of_row(&old) {
                change.add(counted, -1);
            }
            if let Some(counted) = Counted::of_row(&current[index * 2]) {
                change.add(counted, 1);
            }
        }
        change
            .merge_into(&mut connection, COUNTS_TABLE, PAIRS_TABLE)
            .await
            .unwrap();
        for table in [&expected.counts, &expected.pairs] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&db.pool)
                .await
                .unwrap();
        }
        tally_of(&current)
            .copy_into(&mut connection, &expected.counts, &expected.pairs)
            .await
            .unwrap();
        assert_eq!(differences(&db.pool, "", "_expected").await, 0);

        // Taking everything away leaves nothing, not rows of zeros.
        let mut nothing = Tally::new();
        for counted in current.iter().filter_map(Counted::of_row) {
            nothing.add(counted, -1);
        }
        nothing
            .merge_into(&mut connection, COUNTS_TABLE, PAIRS_TABLE)
            .await
            .unwrap();
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM milestone_counts) \
                  + (SELECT count(*) FROM milestone_pairs)",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn the_migration_counts_existing_rows_as_the_projection_does() {
        let db = crate::testing::fresh_database().await;
        let rows = rows(&mut Lcg(11), 400);
        let mut copy = CopyWriter::new();
        for row in &rows {
            row.write(&mut copy);
        }
        let mut connection = db.pool.acquire().await.unwrap();
        copy.send(&mut connection, TABLE, COLUMNS).await.unwrap();
        // Read back, the rows count as they did before being written.
        let read = sqlx::query(&format!("SELECT {STATE_COLUMNS} FROM {TABLE}"))
            .fetch_all(&db.pool)
            .await
            .unwrap();
        let mut from_state = Tally::new();
        for row in &read {
            if let Some(counted) = Counted::of_state(row).unwrap() {
                from_state.add(counted, 1);
            }
        }
        assert_eq!(from_state, tally_of(&rows));

        let expected = create_copies(&db.pool, "_expected").await;
        tally_of(&rows)
            .copy_into(&mut connection, &expected.counts, &expected.pairs)
            .await
            .unwrap();
        let migration = include_str!("../../migrations/0008_milestone_counts.sql");
        // The statements after the comment line that starts with "-- Backfill".
        let (_, backfill) = migration
            .split_once("\n-- Backfill")
            .and_then(|(_, rest)| rest.split_once('\n'))
            .expect("the migration marks its backfill");
        sqlx::raw_sql(backfill).execute(&db.pool).await.unwrap();
        assert_eq!(differences(&db.pool, "", "_expected").await, 0);
    }
}

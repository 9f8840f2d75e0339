//! The indicator engine: `shared/contract/INDICATORS.md` as SQL over the projections.
//!
//! Beneficiary indicators are counted over `beneficiary_state`, whose milestone dates the
//! domain computed (`masar_domain::journey`). Each beneficiary contributes one row per
//! indicator — the indicator's milestone date (for rates and medians, the denominator's),
//! whether it counts in the numerator, and for the median its days — and one grouped query
//! gives every total and every cell. With `asOf`, the same rows are first computed from the
//! events recorded by then into a temporary table, and the same query runs over it.
//! Programme activities are counted over `programme_activity`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use masar_domain::beneficiary::Beneficiary;
use masar_domain::values::{Dimension, IndicatorCode, IndicatorKind};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::beneficiaries::{self, BeneficiaryRow};
use crate::copy::{CopyRow, CopyWriter};
use crate::feed::{self, FeedError};

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorQuery {
    /// The programme.
    pub programme_code: String,
    /// First day of the period (inclusive).
    pub from: NaiveDate,
    /// Last day of the period (inclusive).
    pub to: NaiveDate,
    /// Only what was recorded by then.
    pub as_of: Option<DateTime<Utc>>,
    /// How to split beneficiary indicators (each dimension at most once).
    pub dimensions: Vec<Dimension>,
}

/// One figure: a total or a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// The value (null for a rate or median over nobody).
    pub value: Option<f64>,
    /// The numerator (COUNT: the value; PERCENTAGE: those counted; MEDIAN_DAYS: none).
    pub numerator: Option<i64>,
    /// The denominator (COUNT: none).
    pub denominator: Option<i64>,
}

/// One indicator's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorFigures {
    /// The indicator.
    pub code: IndicatorCode,
    /// Over the whole period.
    pub total: Figure,
    /// One cell per combination of dimension values that occurs, in the order of
    /// `IndicatorQuery::dimensions`.
    pub cells: Vec<(Vec<String>, Figure)>,
}

/// The figures, and the log position they reflect.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorTable {
    /// Every indicator, in the contract's order.
    pub indicators: Vec<IndicatorFigures>,
    /// Every committed event at or below this global position is reflected.
    pub position: i64,
}

/// The long form's rows of one beneficiary, one per indicator of [`COLUMNS`]: its code, its
/// milestone date, whether it counts in the numerator, its days (`$3` is the period's last
/// day).
fn indicator_rows() -> String {
    COLUMNS
        .iter()
        .map(|column| {
            format!(
                "('{}', b.{}, coalesce({}, false), ({})::integer)",
                column.code.as_str(),
                column.dated_by,
                column.numerator.unwrap_or("true"),
                column.days.unwrap_or("NULL")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL expression of a dimension's value (`x.on_date` is the row's milestone date).
fn dimension_sql(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Sex => "b.sex",
        Dimension::AgeBand => "b.age_band",
        Dimension::Region => "b.region",
        Dimension::Partner => "b.partner_code",
        Dimension::Nationality => "b.nationality",
        Dimension::LegalStatus => "b.legal_status",
        Dimension::Month => "to_char(x.on_date, 'YYYY-MM')",
        Dimension::Quarter => "to_char(x.on_date, 'YYYY-\"Q\"Q')",
    }
}

/// The long form, for dimensions by milestone date (MONTH, QUARTER), which differ per
/// indicator: one row per beneficiary and indicator, grouped (`$1` programme, `$2` from, `$3`
/// to).
fn beneficiary_sql(table: &str, dimensions: &[Dimension]) -> String {
    let inner_dims: String = dimensions
        .iter()
        .enumerate()
        .map(|(index, d)| format!(", {} AS d{index}", dimension_sql(*d)))
        .collect();
    let dim_names: Vec<String> = (0..dimensions.len()).map(|i| format!("m.d{i}")).collect();
    let (select_dims, grouping) = if dimensions.is_empty() {
        (String::new(), "GROUP BY m.code".to_owned())
    } else {
        (
            format!(
                ", {}, GROUPING({}) AS is_total",
                dim_names.join(", "),
                dim_names.join(", ")
            ),
            format!(
                "GROUP BY GROUPING SETS ((m.code), (m.code, {}))",
                dim_names.join(", ")
            ),
        )
    };
    format!(
        "SELECT m.code, count(*) AS denominator, count(*) FILTER (WHERE m.num) AS numerator, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY m.days) AS median{select_dims} \
         FROM ( \
           SELECT x.code, x.num, x.days{inner_dims} \
           FROM {table} b \
           CROSS JOIN LATERAL (VALUES {rows}) AS x(code, on_date, num, days) \
           WHERE b.programme_code = $1 AND b.identified_on IS NOT NULL \
             AND x.on_date BETWEEN $2 AND $3 \
         ) m \
         {grouping}",
        rows = indicator_rows(),
    )
}

/// One beneficiary indicator in the wide form: the milestone column it is dated by, the
/// condition of its numerator (rates), and the days of its median.
struct Column {
    code: IndicatorCode,
    dated_by: &'static str,
    numerator: Option<&'static str>,
    days: Option<&'static str>,
}

/// The latest non-void follow-up dated on or before `$3` improved living conditions (the
/// follow-ups are stored in reading order; the last one, kept in its own columns, usually
/// answers at once, and the arrays are read only when it is after `$3`).
const IMPROVED_AT_TO: &str = "coalesce(CASE \
    WHEN b.last_follow_up_on IS NULL THEN false \
    WHEN b.last_follow_up_on <= $3 THEN b.last_follow_up_improved \
    ELSE b.follow_up_improved[(SELECT max(f.i) FROM unnest(b.follow_up_dates) \
      WITH ORDINALITY AS f(d, i) WHERE f.d <= $3)] END, false)";

const COLUMNS: [Column; 13] = [
    Column {
        code: IndicatorCode::Identified,
        dated_by: "identified_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::Sensitised,
        dated_by: "sensitised_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::EnrolledInTraining,
        dated_by: "enrolled_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::AttendedAllWorkshops,
        dated_by: "attended_all_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::CompletedTraining,
        dated_by: "completed_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::Incubated,
        dated_by: "incubated_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::BusinessLaunched,
        dated_by: "business_launched_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::Employed,
        dated_by: "employed_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::Inserted,
        dated_by: "inserted_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::FollowedUp,
        dated_by: "followed_up_on",
        numerator: None,
        days: None,
    },
    Column {
        code: IndicatorCode::FollowUpRate,
        dated_by: "inserted_on",
        numerator: Some("b.followed_up_on <= $3"),
        days: None,
    },
    Column {
        code: IndicatorCode::ImprovedLivingConditionsRate,
        dated_by: "enrolled_on",
        numerator: Some(IMPROVED_AT_TO),
        days: None,
    },
    Column {
        code: IndicatorCode::MedianDaysIdentifiedToInserted,
        dated_by: "inserted_on",
        numerator: None,
        days: Some("b.inserted_on - b.identified_on"),
    },
];

/// The wide form, for dimensions that do not depend on the milestone date (no MONTH or
/// QUARTER): one pass over the programme's rows, every indicator an aggregate with its own
/// filter (`$1` programme, `$2` from, `$3` to).
///
/// Without dimensions this is one row, the median an ordered-set aggregate over the
/// beneficiaries inserted in the period. With dimensions, the rows are grouped by the
/// dimensions and by `days` (MEDIAN_DAYS_IDENTIFIED_TO_INSERTED's days for those inserted in
/// the period, else null) in a hash table, with no sort: [`WideSums`] adds the groups up
/// into cells and totals and takes each median from its cell's counts of days. (Grouping sets
/// with a per-cell `percentile_cont` sorted every row of the programme by its dimensions.)
fn wide_sql(table: &str, dimensions: &[Dimension]) -> String {
    let mut select: Vec<String> = dimensions
        .iter()
        .enumerate()
        .map(|(index, d)| format!("{} AS d{index}", dimension_sql(*d)))
        .collect();
    if !dimensions.is_empty() {
        for column in COLUMNS.iter() {
            if let Some(days) = column.days {
                select.push(format!(
                    "CASE WHEN b.{} BETWEEN $2 AND $3 THEN {days} END AS days",
                    column.dated_by
                ));
            }
        }
    }
    for (index, column) in COLUMNS.iter().enumerate() {
        let in_period = format!("b.{} BETWEEN $2 AND $3", column.dated_by);
        select.push(format!("count(*) FILTER (WHERE {in_period}) AS den{index}"));
        if let Some(numerator) = column.numerator {
            select.push(format!(
                "count(*) FILTER (WHERE {in_period} AND {numerator}) AS num{index}"
            ));
        }
        if let (Some(days), true) = (column.days, dimensions.is_empty()) {
            select.push(format!(
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY {days}) \
                 FILTER (WHERE {in_period}) AS med{index}"
            ));
        }
    }
    let grouping = if dimensions.is_empty() {
        String::new()
    } else {
        let keys: Vec<String> = (1..=dimensions.len() + 1).map(|i| i.to_string()).collect();
        format!("GROUP BY {}", keys.join(", "))
    };
    format!(
        "SELECT {} FROM {table} b \
         WHERE b.programme_code = $1 AND b.identified_on IS NOT NULL {grouping}",
        select.join(", ")
    )
}

/// One cell's (or the total's) sums over the groups of the wide form.
#[derive(Debug, Clone, Default)]
struct WideSums {
    denominators: [i64; COLUMNS.len()],
    numerators: [i64; COLUMNS.len()],
    /// Beneficiaries inserted in the period, by their days from identified to inserted.
    days: BTreeMap<i32, i64>,
}

impl WideSums {
    fn add(&mut self, row: &sqlx::postgres::PgRow, days: Option<i32>) -> Result<(), sqlx::Error> {
        for (index, column) in COLUMNS.iter().enumerate() {
            let denominator: i64 = row.try_get(format!("den{index}").as_str())?;
            let numerator: i64 = match column.numerator {
                Some(_) => row.try_get(format!("num{index}").as_str())?,
                None => denominator,
            };
            self.denominators[index] += denominator;
            self.numerators[index] += numerator;
            if let (Some(_), Some(days)) = (column.days, days) {
                *self.days.entry(days).or_insert(0) += denominator;
            }
        }
        Ok(())
    }

    /// The median of the days counted, as `percentile_cont(0.5)` computes it: the values at
    /// ranks ⌊p⌋ and ⌈p⌉ for p = (n − 1) / 2, interpolated as `low + (p − ⌊p⌋) × (high − low)`.
    fn median(&self) -> Option<f64> {
        let count: i64 = self.days.values().sum();
        let position = 0.5 * (count - 1) as f64;
        let (first, second) = (position.floor(), position.ceil());
        let (mut low, mut high) = (None, None);
        let mut seen = 0i64;
        for (days, n) in &self.days {
            seen += n;
            if low.is_none() && first < seen as f64 {
                low = Some(f64::from(*days));
            }
            if second < seen as f64 {
                high = Some(f64::from(*days));
                break;
            }
        }
        let (low, high) = (low?, high?);
        Some(low + (position - first) * (high - low))
    }

    fn figure(&self, index: usize, code: IndicatorCode) -> Figure {
        let median = match COLUMNS[index].days {
            Some(_) => self.median(),
            None => None,
        };
        figure(
            code,
            self.denominators[index],
            self.numerators[index],
            median,
        )
    }
}

/// Reads the one row of the wide form without dimensions into `figures`.
fn read_wide_total(
    row: &sqlx::postgres::PgRow,
    figures: &mut BTreeMap<IndicatorCode, IndicatorFigures>,
) -> Result<(), sqlx::Error> {
    for (index, column) in COLUMNS.iter().enumerate() {
        let denominator: i64 = row.try_get(format!("den{index}").as_str())?;
        let numerator: i64 = match column.numerator {
            Some(_) => row.try_get(format!("num{index}").as_str())?,
            None => denominator,
        };
        let median: Option<f64> = match column.days {
            Some(_) => row.try_get(format!("med{index}").as_str())?,
            None => None,
        };
        if let Some(entry) = figures.get_mut(&column.code) {
            entry.total = figure(column.code, denominator, numerator, median);
        }
    }
    Ok(())
}

/// Adds the groups of the wide form with dimensions up into cells and totals in `figures`.
fn read_wide_groups(
    rows: &[sqlx::postgres::PgRow],
    dimensions: usize,
    figures: &mut BTreeMap<IndicatorCode, IndicatorFigures>,
) -> Result<(), sqlx::Error> {
    let mut total = WideSums::default();
    let mut cells: BTreeMap<Vec<String>, WideSums> = BTreeMap::new();
    for row in rows {
        let days: Option<i32> = row.try_get("days")?;
        total.add(row, days)?;
        cells
            .entry(coordinates(row, dimensions)?)
            .or_default()
            .add(row, days)?;
    }
    for (index, column) in COLUMNS.iter().enumerate() {
        let Some(entry) = figures.get_mut(&column.code) else {
            continue;
        };
        entry.total = total.figure(index, column.code);
        for (coordinates, sums) in &cells {
            if sums.denominators[index] > 0 {
                entry
                    .cells
                    .push((coordinates.clone(), sums.figure(index, column.code)));
            }
        }
    }
    Ok(())
}

/// Reads one row of the long form (one row per indicator and cell) into `figures`.
fn read_long_row(
    row: &sqlx::postgres::PgRow,
    dimensions: usize,
    figures: &mut BTreeMap<IndicatorCode, IndicatorFigures>,
) -> Result<(), sqlx::Error> {
    let code: String = row.try_get("code")?;
    let Ok(code) = code.parse::<IndicatorCode>() else {
        return Ok(());
    };
    let denominator: i64 = row.try_get("denominator")?;
    let numerator: i64 = row.try_get("numerator")?;
    let median: Option<f64> = row.try_get("median")?;
    let value = figure(code, denominator, numerator, median);
    let is_total = dimensions == 0 || row.try_get::<i32, _>("is_total")? != 0;
    let Some(entry) = figures.get_mut(&code) else {
        return Ok(());
    };
    if is_total {
        entry.total = value;
    } else {
        entry.cells.push((coordinates(row, dimensions)?, value));
    }
    Ok(())
}

/// The dimension values `d0`, `d1`, … of a result row.
fn coordinates(row: &sqlx::postgres::PgRow, dimensions: usize) -> Result<Vec<String>, sqlx::Error> {
    (0..dimensions)
        .map(|index| {
            let text: Option<String> = row.try_get(format!("d{index}").as_str())?;
            Ok(text.unwrap_or_default())
        })
        .collect()
}

fn figure(code: IndicatorCode, denominator: i64, numerator: i64, median: Option<f64>) -> Figure {
    match code.kind() {
        IndicatorKind::Count => Figure {
            value: Some(denominator as f64),
            numerator: Some(denominator),
            denominator: None,
        },
        IndicatorKind::Percentage => Figure {
            value: (denominator > 0).then(|| 100.0 * numerator as f64 / denominator as f64),
            numerator: Some(numerator),
            denominator: Some(denominator),
        },
        IndicatorKind::MedianDays => Figure {
            value: if denominator > 0 { median } else { None },
            numerator: None,
            denominator: Some(denominator),
        },
    }
}

/// The figure of an indicator over nobody.
fn empty_figure(code: IndicatorCode) -> Figure {
    match code.kind() {
        IndicatorKind::Count => figure(code, 0, 0, None),
        _ => Figure {
            numerator: match code.kind() {
                IndicatorKind::Percentage => Some(0),
                _ => None,
            },
            ..figure(code, 0, 0, None)
        },
    }
}

fn is_programme_activity(code: IndicatorCode) -> bool {
    matches!(
        code,
        IndicatorCode::CompaniesEngaged
            | IndicatorCode::RseCompaniesEngaged
            | IndicatorCode::TrainersTrained
    )
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    /// A dimension was given twice.
    #[error("disaggregateBy names {0} twice: give each dimension at most once")]
    RepeatedDimension(Dimension),
    /// The period ends before it starts.
    #[error("the period ends ({to}) before it starts ({from})")]
    EmptyPeriod {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// Reading failed.
    #[error(transparent)]
    Feed(#[from] FeedError),
}

impl From<sqlx::Error> for IndicatorError {
    fn from(error: sqlx::Error) -> Self {
        IndicatorError::Feed(error.into())
    }
}

/// Computes every indicator of INDICATORS.md for `query`.
pub async fn compute(
    pool: &PgPool,
    query: &IndicatorQuery,
) -> Result<IndicatorTable, IndicatorError> {
    for (index, dimension) in query.dimensions.iter().enumerate() {
        if query.dimensions[..index].contains(dimension) {
            return Err(IndicatorError::RepeatedDimension(*dimension));
        }
    }
    if query.to < query.from {
        return Err(IndicatorError::EmptyPeriod {
            from: query.from,
            to: query.to,
        });
    }
    let mut transaction = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *transaction)
        .await?;
    let position = feed::reflected_position(&mut transaction, beneficiaries::NAME)
        .await?
        .min(feed::reflected_position(&mut transaction, crate::activities::NAME).await?);
    let table = match query.as_of {
        None => beneficiaries::TABLE.to_owned(),
        Some(as_of) => {
            // A temporary table needs a writable transaction: end the read-only one (the
            // position above stays what the live figures reflect).
            transaction.commit().await?;
            transaction = pool.begin().await?;
            as_of_table(&mut transaction, &query.programme_code, as_of).await?
        }
    };
    // The plans below run over one programme's rows. JIT compilation would cost more than
    // it saves (tens of ms of code generation for a few hundred thousand rows); and the rows
    // are read from memory, where the covering index's pages are no dearer to reach than the
    // table's (without this, the planner prefers scanning every programme's rows in full).
    sqlx::query(
        "SELECT set_config('jit', 'off', true), set_config('random_page_cost', '1.1', true)",
    )
    .execute(&mut *transaction)
    .await?;
    let mut figures: BTreeMap<IndicatorCode, IndicatorFigures> = IndicatorCode::ALL
        .iter()
        .map(|code| {
            (
                *code,
                IndicatorFigures {
                    code: *code,
                    total: empty_figure(*code),
                    cells: Vec::new(),
                },
            )
        })
        .collect();

    let by_milestone_date = query
        .dimensions
        .iter()
        .any(|d| matches!(d, Dimension::Month | Dimension::Quarter));
    if by_milestone_date {
        let rows = sqlx::query(&beneficiary_sql(&table, &query.dimensions))
            .bind(&query.programme_code)
            .bind(query.from)
            .bind(query.to)
            .fetch_all(&mut *transaction)
            .await?;
        for row in rows {
            read_long_row(&row, query.dimensions.len(), &mut figures)?;
        }
    } else {
        let rows = sqlx::query(&wide_sql(&table, &query.dimensions))
            .bind(&query.programme_code)
            .bind(query.from)
            .bind(query.to)
            .fetch_all(&mut *transaction)
            .await?;
        if query.dimensions.is_empty() {
            for row in &rows {
                read_wide_total(row, &mut figures)?;
            }
        } else {
            read_wide_groups(&rows, query.dimensions.len(), &mut figures)?;
        }
    }

    let activity = sqlx::query(
        "SELECT \
           count(DISTINCT distinct_key) FILTER (WHERE kind = 'COMPANY') AS companies, \
           count(DISTINCT distinct_key) FILTER (WHERE kind = 'COMPANY' AND rse_labelled) AS rse, \
           count(DISTINCT distinct_key) FILTER (WHERE kind = 'TRAINER') AS trainers \
         FROM programme_activity \
         WHERE programme_code = $1 AND occurred_on BETWEEN $2 AND $3 \
           AND ($4::timestamptz IS NULL OR recorded_at <= $4)",
    )
    .bind(&query.programme_code)
    .bind(query.from)
    .bind(query.to)
    .bind(query.as_of)
    .fetch_one(&mut *transaction)
    .await?;
    for (code, column) in [
        (IndicatorCode::CompaniesEngaged, "companies"),
        (IndicatorCode::RseCompaniesEngaged, "rse"),
        (IndicatorCode::TrainersTrained, "trainers"),
    ] {
        let count: i64 = activity.try_get(column)?;
        if let Some(entry) = figures.get_mut(&code) {
            entry.total = figure(code, count, count, None);
        }
    }
    transaction.rollback().await?;

    let mut indicators: Vec<IndicatorFigures> = figures.into_values().collect();
    indicators.sort_by_key(|f| IndicatorCode::ALL.iter().position(|c| *c == f.code));
    for figures in &mut indicators {
        if is_programme_activity(figures.code) {
            figures.cells.clear();
        }
        figures.cells.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(IndicatorTable {
        indicators,
        position,
    })
}

/// Fills a temporary table (dropped at the end of the transaction) with the beneficiary rows
/// of `programme` as known at `as_of`: each stream folded from the events recorded by then.
async fn as_of_table(
    connection: &mut PgConnection,
    programme: &str,
    as_of: DateTime<Utc>,
) -> Result<String, IndicatorError> {
    let table = "beneficiary_state_as_of";
    sqlx::query(&format!(
        "CREATE TEMPORARY TABLE {table} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP",
        beneficiaries::TABLE
    ))
    .execute(&mut *connection)
    .await?;
    // Every stream that is, or may have been, in the programme: identified in it now, or
    // whose identification is void now (it may have counted then).
    let rows = sqlx::query(
        "SELECT e.aggregate_id, e.global_position, e.payload::text AS payload FROM events e \
         JOIN beneficiary_state b ON b.beneficiary_id::text = e.aggregate_id \
         WHERE e.aggregate_type = $1 AND e.recorded_at <= $3 \
           AND (b.programme_code = $2 OR b.identified_on IS NULL) \
         ORDER BY e.aggregate_id, e.sequence",
    )
    .bind(beneficiaries::AGGREGATE_TYPE)
    .bind(programme)
    .bind(as_of)
    .fetch_all(&mut *connection)
    .await?;
    let streams = beneficiaries::group_streams(&rows)?;
    let mut copy = CopyWriter::new();
    for (id, (position, events)) in streams {
        let beneficiary_id = Uuid::parse_str(&id).map_err(|_| FeedError::Undecodable {
            position,
            reason: format!("beneficiary stream id {id:?} is not a UUID"),
        })?;
        let applied = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let beneficiary = Beneficiary::from_events(events);
        let row = BeneficiaryRow::of(beneficiary_id, &beneficiary, applied);
        if row
            .identification
            .as_ref()
            .is_some_and(|i| i.programme_code == programme)
        {
            row.write(&mut copy);
        }
    }
    copy.send(connection, table, beneficiaries::COLUMNS).await?;
    Ok(table.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(days: &[(i32, i64)]) -> WideSums {
        WideSums {
            days: days.iter().copied().collect(),
            ..WideSums::default()
        }
    }

    #[test]
    fn the_median_of_counted_days_is_percentile_cont_s() {
        assert_eq!(sums(&[]).median(), None);
        assert_eq!(sums(&[(7, 1)]).median(), Some(7.0));
        // Even: the mean of the two middle values.
        assert_eq!(sums(&[(1, 1), (2, 1), (3, 1), (4, 1)]).median(), Some(2.5));
        assert_eq!(sums(&[(10, 1), (15, 1)]).median(), Some(12.5));
        // Both middle values in one group, or the middle one in a group of several.
        assert_eq!(sums(&[(1, 1), (3, 2), (9, 1)]).median(), Some(3.0));
        assert_eq!(sums(&[(1, 2), (3, 1)]).median(), Some(1.0));
        assert_eq!(sums(&[(-4, 1), (6, 3)]).median(), Some(6.0));
        assert_eq!(sums(&[(-4, 2), (5, 2)]).median(), Some(0.5));
    }
}

//! The indicator engine: `api/contract/INDICATORS.md` as SQL over the projections.
//!
//! Beneficiary indicators are sums of the milestone counts that the `beneficiaries`
//! projection keeps beside its rows (`crate::milestone_counts`, whose milestone dates the
//! domain computed, `masar_domain::journey`): per programme and day, how many beneficiaries
//! reached each milestone, in total and per combination of the beneficiaries' dimension values;
//! and, for the rates and the median, counts by two days (the denominator's milestone day and
//! the follow-up day, the day living conditions changed, or the identified day). Every figure
//! of a period is a sum over the days in it — two grouped queries give every total and every
//! cell, MONTH and QUARTER being those of the day — and a median is taken from the counts of
//! days. With `asOf`, the counts are first computed from the events recorded by then into
//! temporary tables, and the same queries run over them. Programme activities are counted over
//! `programme_activity`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use masar_domain::beneficiary::Beneficiary;
use masar_domain::values::{Dimension, IndicatorCode, IndicatorKind};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::beneficiaries::{self, BeneficiaryRow};
use crate::feed::{self, FeedError};
use crate::milestone_counts::{self, Counted, Pair, Tally, ENROLLED, INSERTED, MILESTONES};

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

/// The SQL expression of a dimension's value in either count table (`b`): the beneficiary's
/// columns, or those of the day the row is dated by (the milestone's, or for the rates and the
/// median the denominator's).
fn dimension_sql(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Sex => "b.sex",
        Dimension::AgeBand => "b.age_band",
        Dimension::Region => "b.region",
        Dimension::Partner => "b.partner_code",
        Dimension::Nationality => "b.nationality",
        Dimension::LegalStatus => "b.legal_status",
        Dimension::Month => "to_char(b.on_date, 'YYYY-MM')",
        Dimension::Quarter => "to_char(b.on_date, 'YYYY-\"Q\"Q')",
    }
}

/// Whether the rows of each combination of dimension values are needed (`by_cell`), or the
/// programme's totals do (no dimension, or only MONTH and QUARTER, which are the day's).
fn by_cell(dimensions: &[Dimension]) -> bool {
    dimensions
        .iter()
        .any(|d| !matches!(d, Dimension::Month | Dimension::Quarter))
}

/// The dimensions' values `d0`, `d1`, … and the `GROUP BY` of their positions after `more`
/// leading columns.
fn dimension_columns(dimensions: &[Dimension], more: usize) -> (String, Vec<String>) {
    let select = dimensions
        .iter()
        .enumerate()
        .map(|(index, d)| format!("{} AS d{index}, ", dimension_sql(*d)))
        .collect();
    let keys = (1..=dimensions.len())
        .map(|i| (i + more).to_string())
        .collect();
    (select, keys)
}

/// The milestone counts of the period by cell (`$1` programme, `$2` from, `$3` to, `$4`
/// `by_cell`): the dimensions' values, then `c0` … `c9` in the order of [`MILESTONES`].
fn counts_sql(table: &str, dimensions: &[Dimension]) -> String {
    let (select, keys) = dimension_columns(dimensions, 0);
    let sums: Vec<String> = MILESTONES
        .iter()
        .enumerate()
        .map(|(index, m)| format!("coalesce(sum(b.{m}), 0)::bigint AS c{index}"))
        .collect();
    let grouping = if keys.is_empty() {
        String::new()
    } else {
        format!("GROUP BY {}", keys.join(", "))
    };
    format!(
        "SELECT {select}{sums} FROM {table} b \
         WHERE b.programme_code = $1 AND b.by_cell = $4 AND b.on_date BETWEEN $2 AND $3 \
         {grouping}",
        sums = sums.join(", ")
    )
}

/// The counts by two days of the period by cell (`$1` programme, `$2` from, `$3` to, `$4`
/// `by_cell`): the indicator, the dimensions' values, the median's days (null for the rates)
/// and `n`: for the rates, the numerator's part (`paired_on` on or before `$3`), for the
/// median, how many have those days.
fn pairs_sql(table: &str, dimensions: &[Dimension]) -> String {
    let (select, mut keys) = dimension_columns(dimensions, 1);
    let days = Pair::Days.indicator().as_str();
    keys.insert(0, "1".to_owned());
    keys.push((dimensions.len() + 2).to_string());
    format!(
        "SELECT b.indicator, {select}\
           CASE WHEN b.indicator = '{days}' THEN b.on_date - b.paired_on END AS days, \
           coalesce(sum(b.n) FILTER (WHERE b.indicator = '{days}' OR b.paired_on <= $3), 0) \
             ::bigint AS n \
         FROM {table} b \
         WHERE b.programme_code = $1 AND b.by_cell = $4 AND b.on_date BETWEEN $2 AND $3 \
         GROUP BY {}",
        keys.join(", ")
    )
}

/// The beneficiary indicators: each one's code, the milestone its denominator (for a COUNT,
/// its value) counts, and for the rates and the median the pair that gives the rest.
const BENEFICIARY_INDICATORS: [(IndicatorCode, usize, Option<Pair>); 13] = [
    (IndicatorCode::Identified, 0, None),
    (IndicatorCode::Sensitised, 1, None),
    (IndicatorCode::EnrolledInTraining, ENROLLED, None),
    (IndicatorCode::AttendedAllWorkshops, 3, None),
    (IndicatorCode::CompletedTraining, 4, None),
    (IndicatorCode::Incubated, 5, None),
    (IndicatorCode::BusinessLaunched, 6, None),
    (IndicatorCode::Employed, 7, None),
    (IndicatorCode::Inserted, INSERTED, None),
    (IndicatorCode::FollowedUp, 9, None),
    (
        IndicatorCode::FollowUpRate,
        INSERTED,
        Some(Pair::FollowedUp),
    ),
    (
        IndicatorCode::ImprovedLivingConditionsRate,
        ENROLLED,
        Some(Pair::Improved),
    ),
    (
        IndicatorCode::MedianDaysIdentifiedToInserted,
        INSERTED,
        Some(Pair::Days),
    ),
];

/// One cell's (or the total's) sums over the period.
#[derive(Debug, Clone, Default)]
struct Sums {
    /// Per milestone of [`MILESTONES`], the beneficiaries who reached it in the period.
    milestones: [i64; MILESTONES.len()],
    /// Of those inserted in the period, the followed up by its end.
    followed_up: i64,
    /// Of those enrolled in the period, those whose latest follow-up by its end improved.
    improved: i64,
    /// Beneficiaries inserted in the period, by their days from identified to inserted.
    days: BTreeMap<i32, i64>,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        for (sum, n) in self.milestones.iter_mut().zip(other.milestones) {
            *sum += n;
        }
        self.followed_up += other.followed_up;
        self.improved += other.improved;
        for (days, n) in &other.days {
            *self.days.entry(*days).or_insert(0) += n;
        }
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

    /// The denominator (for a COUNT, the value) of an indicator of
    /// [`BENEFICIARY_INDICATORS`], and its figure.
    fn figure(&self, code: IndicatorCode, milestone: usize, pair: Option<Pair>) -> (i64, Figure) {
        let denominator = self.milestones[milestone];
        let (numerator, median) = match pair {
            None => (denominator, None),
            Some(Pair::FollowedUp) => (self.followed_up, None),
            Some(Pair::Improved) => (self.improved, None),
            Some(Pair::Days) => (0, self.median()),
        };
        (denominator, figure(code, denominator, numerator, median))
    }
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

/// Sums the period's counts in `counts` and `pairs` (the live tables or their `asOf` copies)
/// by cell (one cell, with no coordinates, without dimensions).
async fn cell_sums(
    connection: &mut PgConnection,
    counts: &str,
    pairs: &str,
    query: &IndicatorQuery,
) -> Result<BTreeMap<Vec<String>, Sums>, sqlx::Error> {
    let dimensions = query.dimensions.len();
    let by_cell = by_cell(&query.dimensions);
    let mut cells: BTreeMap<Vec<String>, Sums> = BTreeMap::new();
    let rows = sqlx::query(&counts_sql(counts, &query.dimensions))
        .bind(&query.programme_code)
        .bind(query.from)
        .bind(query.to)
        .bind(by_cell)
        .fetch_all(&mut *connection)
        .await?;
    for row in &rows {
        let sums = cells.entry(coordinates(row, dimensions)?).or_default();
        for (index, sum) in sums.milestones.iter_mut().enumerate() {
            *sum += row.try_get::<i64, _>(format!("c{index}").as_str())?;
        }
    }
    let rows = sqlx::query(&pairs_sql(pairs, &query.dimensions))
        .bind(&query.programme_code)
        .bind(query.from)
        .bind(query.to)
        .bind(by_cell)
        .fetch_all(&mut *connection)
        .await?;
    for row in &rows {
        let indicator: String = row.try_get("indicator")?;
        let Some(pair) = Pair::of_code(&indicator) else {
            continue;
        };
        let n: i64 = row.try_get("n")?;
        let sums = cells.entry(coordinates(row, dimensions)?).or_default();
        match pair {
            Pair::FollowedUp => sums.followed_up += n,
            Pair::Improved => sums.improved += n,
            Pair::Days => {
                if let Some(days) = row.try_get::<Option<i32>, _>("days")? {
                    *sums.days.entry(days).or_insert(0) += n;
                }
            }
        }
    }
    Ok(cells)
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
    /// The breakdown has more combinations of dimension values than one answer may carry.
    #[error(
        "this breakdown has {cells} combinations of dimension values; at most {limit} are \
         answered at once: break down by fewer dimensions or ask for a shorter period"
    )]
    TooManyCells {
        /// Combinations the breakdown has.
        cells: usize,
        /// [`MAX_CELLS`].
        limit: usize,
    },
    /// Reading failed.
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// Most combinations of dimension values one answer carries: with sixteen indicators each,
/// about 8 MB of JSON. A breakdown by every dimension of a large programme has hundreds of
/// thousands, which no reader can use and which would cost the server gigabytes to answer.
pub const MAX_CELLS: usize = 5_000;

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
    let (counts, pairs) = match query.as_of {
        None => (
            milestone_counts::COUNTS_TABLE.to_owned(),
            milestone_counts::PAIRS_TABLE.to_owned(),
        ),
        Some(as_of) => {
            // A temporary table needs a writable transaction: end the read-only one (the
            // position above stays what the live figures reflect).
            transaction.commit().await?;
            transaction = pool.begin().await?;
            as_of_tables(&mut transaction, &query.programme_code, as_of).await?
        }
    };
    // The plans below are small: JIT compilation would cost more than it saves.
    sqlx::query("SELECT set_config('jit', 'off', true)")
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

    let cells = cell_sums(&mut transaction, &counts, &pairs, query).await?;
    if cells.len() > MAX_CELLS {
        return Err(IndicatorError::TooManyCells {
            cells: cells.len(),
            limit: MAX_CELLS,
        });
    }
    let mut total = Sums::default();
    for sums in cells.values() {
        total.add(sums);
    }
    for (code, milestone, pair) in BENEFICIARY_INDICATORS {
        let Some(entry) = figures.get_mut(&code) else {
            continue;
        };
        entry.total = total.figure(code, milestone, pair).1;
        if query.dimensions.is_empty() {
            continue;
        }
        for (coordinates, sums) in &cells {
            let (denominator, figure) = sums.figure(code, milestone, pair);
            // Cells with zero are omitted.
            if denominator > 0 {
                entry.cells.push((coordinates.clone(), figure));
            }
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

/// Fills temporary copies of the count tables (dropped at the end of the transaction) with the
/// counts of `programme` as known at `as_of`: each stream folded from the events recorded by
/// then, and counted. Their names.
async fn as_of_tables(
    connection: &mut PgConnection,
    programme: &str,
    as_of: DateTime<Utc>,
) -> Result<(String, String), IndicatorError> {
    let counts = format!("{}_as_of", milestone_counts::COUNTS_TABLE);
    let pairs = format!("{}_as_of", milestone_counts::PAIRS_TABLE);
    for (table, live) in [
        (&counts, milestone_counts::COUNTS_TABLE),
        (&pairs, milestone_counts::PAIRS_TABLE),
    ] {
        sqlx::query(&format!(
            "CREATE TEMPORARY TABLE {table} (LIKE {live} INCLUDING DEFAULTS) ON COMMIT DROP"
        ))
        .execute(&mut *connection)
        .await?;
    }
    // Every stream that may have been in the programme by then: one with an identification
    // in it recorded by then (retracted or not), chosen from the log itself so that the
    // figures as known then never depend on the state of a projection.
    let rows = sqlx::query(&format!(
        "SELECT e.aggregate_id, e.global_position, e.payload::text AS payload FROM events e \
         WHERE e.aggregate_type = $1 AND e.recorded_at <= $3 \
           AND e.aggregate_id IN (SELECT i.aggregate_id FROM events i \
             WHERE i.aggregate_type = $1 AND i.event_type = 'Identified' \
               AND i.recorded_at <= $3 AND {} = $2) \
         ORDER BY e.aggregate_id, e.sequence",
        beneficiaries::identified_programme_sql("i")
    ))
    .bind(beneficiaries::AGGREGATE_TYPE)
    .bind(programme)
    .bind(as_of)
    .fetch_all(&mut *connection)
    .await?;
    // Decoding and folding every stream of a programme is CPU work: on a blocking thread, so
    // that it holds up no other request (as a rebuild's folding does).
    let programme_code = programme.to_owned();
    let tally = tokio::task::spawn_blocking(move || count_streams(&rows, &programme_code))
        .await
        .map_err(|_| FeedError::Database(sqlx::Error::WorkerCrashed))??;
    tally.copy_into(connection, &counts, &pairs).await?;
    Ok((counts, pairs))
}

/// The counts of `programme` over the streams of `rows` (aggregate id, position and payload,
/// in stream order), each folded.
fn count_streams(rows: &[sqlx::postgres::PgRow], programme: &str) -> Result<Tally, FeedError> {
    let mut tally = Tally::new();
    for (id, (position, events)) in beneficiaries::group_streams(rows)? {
        let beneficiary_id = Uuid::parse_str(&id).map_err(|_| FeedError::Undecodable {
            position,
            reason: format!("beneficiary stream id {id:?} is not a UUID"),
        })?;
        let applied = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let beneficiary = Beneficiary::from_events(events);
        let row = BeneficiaryRow::of(beneficiary_id, &beneficiary, applied);
        if let Some(counted) = Counted::of_row(&row).filter(|c| c.programme_code == programme) {
            tally.add(counted, 1);
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(days: &[(i32, i64)]) -> Sums {
        Sums {
            days: days.iter().copied().collect(),
            ..Sums::default()
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

    #[test]
    fn only_beneficiary_dimensions_need_the_cells() {
        assert!(!by_cell(&[]));
        assert!(!by_cell(&[Dimension::Month]));
        assert!(!by_cell(&[Dimension::Quarter, Dimension::Month]));
        assert!(by_cell(&[Dimension::Quarter, Dimension::Sex]));
        assert!(by_cell(&[Dimension::LegalStatus]));
    }

    #[test]
    fn the_queries_group_by_their_dimensions() {
        let sql = counts_sql("t", &[Dimension::Sex, Dimension::Month]);
        assert!(sql.contains("b.sex AS d0, to_char(b.on_date, 'YYYY-MM') AS d1, "));
        assert!(sql.ends_with("GROUP BY 1, 2"), "{sql}");
        assert!(!counts_sql("t", &[]).contains("GROUP BY"));
        let sql = pairs_sql("t", &[Dimension::Region]);
        assert!(
            sql.contains("SELECT b.indicator, b.region AS d0, CASE"),
            "{sql}"
        );
        assert!(sql.ends_with("GROUP BY 1, 2, 3"), "{sql}");
        assert!(pairs_sql("t", &[]).ends_with("GROUP BY 1, 2"));
    }
}

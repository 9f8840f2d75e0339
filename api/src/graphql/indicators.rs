//! `Query.indicators`: the request checked and completed (period defaults, language), the
//! engine's figures (`masar_projections::indicators`) labelled, targeted and, for roles that
//! may not see small counts, suppressed.

use chrono::{NaiveDate, Utc};
use masar_domain::disclosure;
use masar_domain::programme::Programme;
use masar_domain::values::{self, IndicatorCode};
use masar_domain::ErrorCode;
use masar_projections::indicators::{self as engine, Figure, IndicatorError, IndicatorQuery};
use sqlx::PgPool;

use super::enums::Dimension;
use super::error::ApiError;
use super::inputs::PeriodInput;
use super::scalars::{Date, DateTime, Position};
use super::types::{
    DimensionValue, IndicatorCell, IndicatorReport, IndicatorValue, Period as PeriodObject,
};

/// The smallest count shown to roles whose figures are suppressed (INDICATORS.md: 5, and
/// configurable only upwards).
pub const DEFAULT_SMALL_CELL_THRESHOLD: i64 = 5;

/// The languages labels exist in.
pub const LANGUAGES: [&str; 3] = ["fr", "en", "ar"];

/// What the resolver was asked.
#[derive(Debug, Clone)]
pub struct IndicatorRequest {
    /// The programme.
    pub programme_code: String,
    /// The period, as given.
    pub period: Option<PeriodInput>,
    /// What was known then.
    pub as_of: Option<DateTime>,
    /// Dimensions.
    pub disaggregate_by: Vec<Dimension>,
    /// Label language.
    pub language: String,
    /// `Some(threshold)` when small counts must be suppressed for the caller.
    pub suppress_below: Option<i64>,
}

/// The programme of `code`, or UNKNOWN_PROGRAMME on the `programmeCode` argument.
pub(crate) async fn known_programme(pool: &PgPool, code: &str) -> Result<Programme, ApiError> {
    super::reads::programme(pool, code).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownProgramme,
            format!("no programme has the code {code:?}: see `programmes` for the codes"),
        )
        .with_field("programmeCode")
    })
}

/// Computes the report for `request` over the projections.
pub async fn report(pool: &PgPool, request: IndicatorRequest) -> Result<IndicatorReport, ApiError> {
    let language = request.language.trim().to_ascii_lowercase();
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!(
                "language: labels exist in {}; got {:?}",
                LANGUAGES.join(", "),
                request.language
            ),
        )
        .with_field("language"));
    }
    let code = request.programme_code.trim().to_owned();
    let programme = known_programme(pool, &code).await?;
    let start = programme
        .facts()
        .map(|facts| facts.start_date)
        .unwrap_or(NaiveDate::MIN);
    let as_of = request.as_of.map(|at| at.0);
    let default_to = as_of.unwrap_or_else(Utc::now).date_naive();
    let from = request
        .period
        .as_ref()
        .and_then(|p| p.from.as_ref())
        .map_or(start, |d| d.0);
    let to = request
        .period
        .as_ref()
        .and_then(|p| p.to.as_ref())
        .map_or(default_to, |d| d.0);
    // Protected roles read published periods only (INDICATORS.md, "Disclosure control").
    if request.suppress_below.is_some()
        && !disclosure::is_published_period(from, to, start, Utc::now().date_naive())
    {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!(
                "period: {from} to {to} is not a published period; figures are published for {}",
                disclosure::PUBLISHED_PERIODS
            ),
        )
        .with_field("period"));
    }
    let query = IndicatorQuery {
        programme_code: code.clone(),
        from,
        to,
        as_of,
        dimensions: request
            .disaggregate_by
            .iter()
            .map(|d| values::Dimension::from(*d))
            .collect(),
    };
    let table = engine::compute(pool, &query)
        .await
        .map_err(|error| match error {
            IndicatorError::RepeatedDimension(_) => {
                ApiError::new(ErrorCode::Validation, error.to_string()).with_field("disaggregateBy")
            }
            IndicatorError::EmptyPeriod { .. } => {
                ApiError::new(ErrorCode::Validation, error.to_string()).with_field("period")
            }
            IndicatorError::TooManyCells { .. } => {
                ApiError::new(ErrorCode::QueryTooComplex, error.to_string())
                    .with_field("disaggregateBy")
            }
            IndicatorError::Feed(error) => ApiError::internal("computing indicators", &error),
        })?;
    let indicators = table
        .indicators
        .into_iter()
        .map(|figures| {
            let suppress = |figure: Figure| suppressed(figure, request.suppress_below);
            let (total, total_suppressed) = suppress(figures.total);
            IndicatorValue {
                code: figures.code.into(),
                label: label(figures.code, &language).to_owned(),
                kind: figures.code.kind().into(),
                value: total.value,
                numerator: total.numerator.map(super::types::int),
                denominator: total.denominator.map(super::types::int),
                target: target(&programme, figures.code),
                suppressed: total_suppressed,
                breakdown: figures
                    .cells
                    .into_iter()
                    .map(|(coordinates, figure)| {
                        let (figure, is_suppressed) = suppress(figure);
                        IndicatorCell {
                            dimensions: request
                                .disaggregate_by
                                .iter()
                                .zip(coordinates)
                                .map(|(dimension, value)| DimensionValue {
                                    dimension: *dimension,
                                    value,
                                })
                                .collect(),
                            value: figure.value,
                            numerator: figure.numerator.map(super::types::int),
                            denominator: figure.denominator.map(super::types::int),
                            suppressed: is_suppressed,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(IndicatorReport {
        programme_code: code,
        period: PeriodObject {
            from: Date(from),
            to: Date(to),
        },
        as_of: request.as_of,
        position: Position(table.position),
        indicators,
    })
}

/// The figure as the caller may see it: with every number nulled when a count in it is
/// between 1 and the threshold − 1.
fn suppressed(figure: Figure, below: Option<i64>) -> (Figure, bool) {
    let Some(threshold) = below else {
        return (figure, false);
    };
    let small = |n: Option<i64>| n.is_some_and(|n| n >= 1 && n < threshold);
    // A COUNT's value is its numerator.
    if small(figure.numerator) || small(figure.denominator) {
        (
            Figure {
                value: None,
                numerator: None,
                denominator: None,
            },
            true,
        )
    } else {
        (figure, false)
    }
}

fn target(programme: &Programme, code: IndicatorCode) -> Option<f64> {
    programme.target(code).map(|target| target.to_f64())
}

/// The label of an indicator in `language` (`fr`, `en` or `ar`).
pub fn label(code: IndicatorCode, language: &str) -> &'static str {
    let [fr, en, ar] = labels(code);
    match language {
        "en" => en,
        "ar" => ar,
        _ => fr,
    }
}

fn labels(code: IndicatorCode) -> [&'static str; 3] {
    match code {
        IndicatorCode::Identified => [
            "Personnes identifiées",
            "People identified",
            "الأشخاص الذين تم تحديدهم",
        ],
        IndicatorCode::Sensitised => [
            "Personnes sensibilisées",
            "People sensitised",
            "الأشخاص الذين تمت توعيتهم",
        ],
        IndicatorCode::EnrolledInTraining => [
            "Personnes inscrites en formation",
            "People enrolled in training",
            "الأشخاص المسجلون في التكوين",
        ],
        IndicatorCode::AttendedAllWorkshops => [
            "Personnes ayant suivi tous les ateliers",
            "People who attended every workshop",
            "الأشخاص الذين حضروا جميع الورشات",
        ],
        IndicatorCode::CompletedTraining => [
            "Personnes ayant achevé une formation",
            "People who completed training",
            "الأشخاص الذين أتموا التكوين",
        ],
        IndicatorCode::Incubated => [
            "Personnes en incubation",
            "People incubated",
            "الأشخاص في مرحلة الاحتضان",
        ],
        IndicatorCode::BusinessLaunched => [
            "Entreprises lancées",
            "Businesses launched",
            "المقاولات التي تم إطلاقها",
        ],
        IndicatorCode::Employed => [
            "Personnes ayant obtenu un emploi",
            "People employed",
            "الأشخاص الذين حصلوا على عمل",
        ],
        IndicatorCode::Inserted => [
            "Personnes insérées (emploi ou entreprise)",
            "People placed in work (job or business)",
            "الأشخاص المدمجون (عمل أو مقاولة)",
        ],
        IndicatorCode::FollowedUp => [
            "Personnes suivies après insertion",
            "People followed up after placement",
            "الأشخاص الذين تمت متابعتهم بعد الإدماج",
        ],
        IndicatorCode::FollowUpRate => [
            "Taux de suivi des personnes insérées (%)",
            "Follow-up rate of people placed in work (%)",
            "نسبة متابعة الأشخاص المدمجين (٪)",
        ],
        IndicatorCode::ImprovedLivingConditionsRate => [
            "Taux d'amélioration des conditions de vie (%)",
            "Share with improved living conditions (%)",
            "نسبة تحسن ظروف العيش (٪)",
        ],
        IndicatorCode::MedianDaysIdentifiedToInserted => [
            "Délai médian entre identification et insertion (jours)",
            "Median days from identification to placement",
            "المدة الوسيطة بين التحديد والإدماج (أيام)",
        ],
        IndicatorCode::CompaniesEngaged => [
            "Entreprises engagées",
            "Companies engaged",
            "المقاولات المنخرطة",
        ],
        IndicatorCode::RseCompaniesEngaged => [
            "Entreprises labellisées RSE engagées",
            "CSR-labelled companies engaged",
            "المقاولات الحاصلة على علامة المسؤولية الاجتماعية المنخرطة",
        ],
        IndicatorCode::TrainersTrained => [
            "Formateurs formés",
            "Trainers trained",
            "المكونون الذين تم تكوينهم",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_indicator_has_three_distinct_labels() {
        for code in IndicatorCode::ALL {
            let [fr, en, ar] = labels(*code);
            assert!(fr != en && en != ar && !ar.is_empty(), "{code}");
            assert_eq!(label(*code, "ar"), ar);
        }
    }

    #[test]
    fn counts_from_one_to_four_are_suppressed_with_their_whole_figure() {
        let count = |n| Figure {
            value: Some(n as f64),
            numerator: Some(n),
            denominator: None,
        };
        for n in 1..=4 {
            assert!(suppressed(count(n), Some(5)).1, "{n}");
        }
        for n in [0, 5, 12] {
            assert_eq!(suppressed(count(n), Some(5)), (count(n), false), "{n}");
        }
        assert_eq!(suppressed(count(3), None), (count(3), false));
        let rate = Figure {
            value: Some(50.0),
            numerator: Some(3),
            denominator: Some(6),
        };
        let (figure, is_suppressed) = suppressed(rate, Some(5));
        assert!(is_suppressed);
        assert_eq!(
            (figure.value, figure.numerator, figure.denominator),
            (None, None, None)
        );
    }
}

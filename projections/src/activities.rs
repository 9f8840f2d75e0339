//! The `programme_activities` projection: companies engaged and trainers trained, one row per
//! activity in `programme_activity`, for the programme-level indicators (COMPANIES_ENGAGED,
//! RSE_COMPANIES_ENGAGED, TRAINERS_TRAINED).

use masar_domain::programme::{ProgrammeEvent, ProgrammeFact};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::copy::{CopyRow, CopyWriter};
use crate::feed::{Checkpoint, FeedError, FeedEvent, Projection};

/// The projection's name (checkpoint key).
pub const NAME: &str = "programme_activities";

/// The live table.
pub const TABLE: &str = "programme_activity";

/// Aggregate type of programme streams.
pub const AGGREGATE_TYPE: &str = "Programme";

/// Columns of `programme_activity`, in the order [`ActivityRow::write`] writes them.
pub const COLUMNS: &str =
    "activity_id, programme_code, kind, occurred_on, recorded_at, distinct_key, rse_labelled";

/// One activity.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow {
    /// The activity id.
    pub activity_id: Uuid,
    /// The programme.
    pub programme_code: String,
    /// `COMPANY` or `TRAINER`.
    pub kind: &'static str,
    /// The activity's date (UTC).
    pub occurred_on: chrono::NaiveDate,
    /// When it was stored.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// What makes two activities the same company or trainer: the company name trimmed and
    /// lower-cased; the trainer's name and organisation.
    pub distinct_key: String,
    /// RSE label (companies).
    pub rse_labelled: bool,
}

impl ActivityRow {
    /// The row of a stored programme event, or `None` when it is not an activity.
    pub fn of(event: &FeedEvent) -> Result<Option<ActivityRow>, FeedError> {
        if event.aggregate_type != AGGREGATE_TYPE
            || !matches!(
                event.event_type.as_str(),
                "CompanyEngaged" | "TrainerTrained"
            )
        {
            return Ok(None);
        }
        let decoded: ProgrammeEvent =
            serde_json::from_value(event.payload.clone()).map_err(|error| {
                FeedError::Undecodable {
                    position: event.global_position,
                    reason: error.to_string(),
                }
            })?;
        let (kind, distinct_key, rse_labelled) = match &decoded.fact {
            ProgrammeFact::CompanyEngaged {
                company_name,
                rse_labelled,
            } => ("COMPANY", company_key(company_name), *rse_labelled),
            ProgrammeFact::TrainerTrained {
                trainer_name,
                organisation_code,
            } => (
                "TRAINER",
                format!("{trainer_name}\u{1f}{}", organisation_code.as_str()),
                false,
            ),
            _ => return Ok(None),
        };
        Ok(Some(ActivityRow {
            activity_id: decoded.event_id.as_uuid(),
            programme_code: event.aggregate_id.clone(),
            kind,
            occurred_on: decoded.occurred_at.date_naive(),
            recorded_at: event.recorded_at,
            distinct_key,
            rse_labelled,
        }))
    }
}

/// A company name as COMPANIES_ENGAGED compares them: trimmed, case-insensitive.
pub fn company_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl CopyRow for ActivityRow {
    fn write(&self, out: &mut CopyWriter) {
        out.text(&self.activity_id.to_string());
        out.text(&self.programme_code);
        out.raw(self.kind);
        out.display(self.occurred_on);
        out.opt_timestamp(Some(self.recorded_at));
        out.text(&self.distinct_key);
        out.boolean(self.rse_labelled);
        out.end_row();
    }
}

/// The projection, writing into `table` (the live table, or a scratch table while
/// rebuilding).
#[derive(Debug, Clone)]
pub struct ActivityProjection {
    table: String,
}

impl Default for ActivityProjection {
    fn default() -> Self {
        ActivityProjection::into_table(TABLE)
    }
}

impl ActivityProjection {
    /// The projection writing into `table`.
    pub fn into_table(table: &str) -> Self {
        ActivityProjection {
            table: table.to_owned(),
        }
    }

    /// Writes the activities among `events` into the projection's table.
    pub async fn write(
        &self,
        connection: &mut PgConnection,
        events: &[FeedEvent],
    ) -> Result<(), FeedError> {
        let mut copy = CopyWriter::new();
        for event in events {
            if let Some(row) = ActivityRow::of(event)? {
                row.write(&mut copy);
            }
        }
        copy.send(connection, &self.table, COLUMNS).await?;
        Ok(())
    }
}

impl Projection for ActivityProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        events: &'a [FeedEvent],
        _upto: Checkpoint,
    ) -> impl std::future::Future<Output = Result<(), FeedError>> + Send + 'a {
        self.write(connection, events)
    }
}

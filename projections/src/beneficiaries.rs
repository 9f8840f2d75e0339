//! The `beneficiaries` projection: one row per beneficiary stream in `beneficiary_state`,
//! with the stage, demographics and the milestone dates of `api/contract/INDICATORS.md`.
//!
//! A row is always the fold of the stream's events up to the projection's checkpoint, by the
//! domain's own code (`Beneficiary::from_events`, `masar_domain::journey`): a retraction or a
//! late (backdated) event simply refolds the stream, so past figures follow.
//!
//! The projection also keeps the indicator engine's milestone counts
//! (`crate::milestone_counts`), in the same transaction: each batch takes away what the rows it
//! replaces counted and adds what the new rows count.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use masar_domain::beneficiary::{Beneficiary, BeneficiaryEvent, JourneyFact};
use masar_domain::journey::Milestones;
use masar_domain::values::LivingConditions;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::copy::{CopyRow, CopyWriter};
use crate::feed::{Checkpoint, FeedError, FeedEvent, Projection};
use crate::milestone_counts::{self, Counted, Tally};

/// The projection's name (checkpoint key).
pub const NAME: &str = "beneficiaries";

/// The live table.
pub const TABLE: &str = "beneficiary_state";

/// Every live table the projection writes: its rows, then the milestone counts kept with them.
/// A rebuild or a verification writes a copy of each, named with a suffix.
pub const TABLES: [&str; 3] = [
    TABLE,
    milestone_counts::COUNTS_TABLE,
    milestone_counts::PAIRS_TABLE,
];

/// Aggregate type of beneficiary streams.
pub const AGGREGATE_TYPE: &str = "Beneficiary";

/// SQL for the programme that the `Identified` event `alias` names, read from its payload
/// (for choosing streams from the log itself, without a projection).
pub fn identified_programme_sql(alias: &str) -> String {
    format!("{alias}.payload -> 'fact' -> 'Identified' ->> 'programme_code'")
}

/// Columns of `beneficiary_state`, in the order [`BeneficiaryRow::write`] writes them.
pub const COLUMNS: &str = "beneficiary_id, programme_code, partner_code, sex, birth_year, \
    age_band, nationality, legal_status, region, city, identified_at, stage, active, consent, \
    personal_data_erased, referred_to, version, events_applied, identified_on, sensitised_on, \
    enrolled_on, attended_all_on, completed_on, incubated_on, business_launched_on, \
    employed_on, inserted_on, followed_up_on, follow_up_dates, follow_up_improved";

/// One row of `beneficiary_state`.
#[derive(Debug, Clone, PartialEq)]
pub struct BeneficiaryRow {
    /// The beneficiary.
    pub beneficiary_id: Uuid,
    /// Programme, partner, demographics and identification time: `None` while the
    /// identification is missing or void.
    pub identification: Option<IdentificationColumns>,
    /// Stage (contract name).
    pub stage: Option<&'static str>,
    /// Active in the programme (identified, not exited).
    pub active: bool,
    /// Current consent scopes (contract names).
    pub consent: Vec<&'static str>,
    /// Whether the personal data was erased.
    pub personal_data_erased: bool,
    /// Organisations a referral named.
    pub referred_to: Vec<String>,
    /// Events in the stream.
    pub version: i64,
    /// Events of this stream applied by the runner.
    pub events_applied: i64,
    /// Milestone dates.
    pub milestones: Milestones,
    /// Non-void follow-ups in reading order: date, and whether living conditions improved.
    pub follow_ups: Vec<(NaiveDate, bool)>,
}

/// The identification's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentificationColumns {
    /// Programme code.
    pub programme_code: String,
    /// Identifying organisation.
    pub partner_code: String,
    /// Sex (contract name).
    pub sex: &'static str,
    /// Year of birth.
    pub birth_year: Option<i32>,
    /// Age band at identification (contract name).
    pub age_band: &'static str,
    /// Nationality.
    pub nationality: String,
    /// Legal status (contract name).
    pub legal_status: &'static str,
    /// Region.
    pub region: String,
    /// City.
    pub city: Option<String>,
    /// When identified.
    pub identified_at: DateTime<Utc>,
}

impl BeneficiaryRow {
    /// The row of a folded stream.
    pub fn of(beneficiary_id: Uuid, beneficiary: &Beneficiary, events_applied: i64) -> Self {
        let identification = beneficiary.identified().map(|i| IdentificationColumns {
            programme_code: i.programme_code.as_str().to_owned(),
            partner_code: i.partner.as_str().to_owned(),
            sex: i.sex.as_str(),
            birth_year: i.birth_year,
            age_band: i.age_band().as_str(),
            nationality: i.nationality.as_str().to_owned(),
            legal_status: i.legal_status.as_str(),
            region: i.region.as_str().to_owned(),
            city: i.city.clone(),
            identified_at: i.identified_at,
        });
        BeneficiaryRow {
            beneficiary_id,
            identification,
            stage: beneficiary.stage().map(|stage| stage.as_str()),
            active: beneficiary.active(),
            consent: beneficiary.consent().iter().map(|c| c.as_str()).collect(),
            personal_data_erased: beneficiary.personal_data_erased(),
            referred_to: beneficiary
                .referred_organisations()
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
            version: i64::try_from(beneficiary.version()).unwrap_or(i64::MAX),
            events_applied,
            milestones: *beneficiary.milestones(),
            follow_ups: follow_ups(beneficiary),
        }
    }
}

/// Non-void follow-ups ordered as IMPROVED_LIVING_CONDITIONS_RATE reads them (occurredAt,
/// then stream order), so that the latest dated on or before a day is the last such entry.
pub fn follow_ups(beneficiary: &Beneficiary) -> Vec<(NaiveDate, bool)> {
    let records = beneficiary.journey();
    let void = masar_domain::journey::void_event_ids(records);
    let mut entries: Vec<(DateTime<Utc>, usize, NaiveDate, bool)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| !void.contains(&r.event_id))
        .filter_map(|(index, r)| match &r.fact {
            JourneyFact::FollowedUp {
                living_conditions, ..
            } => Some((
                r.occurred_at,
                index,
                r.date(),
                *living_conditions == LivingConditions::Improved,
            )),
            _ => None,
        })
        .collect();
    entries.sort_by_key(|(at, index, _, _)| (*at, *index));
    entries
        .into_iter()
        .map(|(_, _, date, improved)| (date, improved))
        .collect()
}

impl CopyRow for BeneficiaryRow {
    fn write(&self, out: &mut CopyWriter) {
        let i = self.identification.as_ref();
        let m = &self.milestones;
        out.text(&self.beneficiary_id.to_string());
        out.opt_text(i.map(|i| i.programme_code.as_str()));
        out.opt_text(i.map(|i| i.partner_code.as_str()));
        out.opt_text(i.map(|i| i.sex));
        out.opt_display(i.and_then(|i| i.birth_year));
        out.opt_text(i.map(|i| i.age_band));
        out.opt_text(i.map(|i| i.nationality.as_str()));
        out.opt_text(i.map(|i| i.legal_status));
        out.opt_text(i.map(|i| i.region.as_str()));
        out.opt_text(i.and_then(|i| i.city.as_deref()));
        out.opt_timestamp(i.map(|i| i.identified_at));
        out.opt_text(self.stage);
        out.boolean(self.active);
        out.text_array(self.consent.iter().copied());
        out.boolean(self.personal_data_erased);
        out.text_array(self.referred_to.iter().map(String::as_str));
        out.display(self.version);
        out.display(self.events_applied);
        for date in m.in_order() {
            out.opt_display(date);
        }
        let mut dates = String::from("{");
        let mut improved = String::from("{");
        for (index, (date, better)) in self.follow_ups.iter().enumerate() {
            if index > 0 {
                dates.push(',');
                improved.push(',');
            }
            let _ = write!(dates, "{date}");
            improved.push(if *better { 't' } else { 'f' });
        }
        dates.push('}');
        improved.push('}');
        out.raw(&dates);
        out.raw(&improved);
        out.end_row();
    }
}

/// Beneficiary events read as rows of `aggregate_id`, `global_position` and `payload` (as
/// text), in stream order, grouped by stream: each stream's first position (to name it in
/// errors) and its decoded events.
pub fn group_streams(
    rows: &[sqlx::postgres::PgRow],
) -> Result<BTreeMap<String, (i64, Vec<BeneficiaryEvent>)>, FeedError> {
    let mut streams: BTreeMap<String, (i64, Vec<BeneficiaryEvent>)> = BTreeMap::new();
    for row in rows {
        let id: String = row.try_get("aggregate_id")?;
        let position: i64 = row.try_get("global_position")?;
        let payload: String = row.try_get("payload")?;
        let event = decode(position, &payload)?;
        streams
            .entry(id)
            .or_insert_with(|| (position, Vec::new()))
            .1
            .push(event);
    }
    Ok(streams)
}

/// Decodes a beneficiary event's payload.
pub fn decode(position: i64, payload: &str) -> Result<BeneficiaryEvent, FeedError> {
    serde_json::from_str(payload).map_err(|error| FeedError::Undecodable {
        position,
        reason: error.to_string(),
    })
}

/// The tables a [`BeneficiaryProjection`] writes: the live ones, or copies of them named with
/// a suffix (a rebuild's or a verification's scratch tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeneficiaryTables {
    /// The rows (`beneficiary_state`).
    pub state: String,
    /// The counts by milestone and day (`milestone_counts`).
    pub counts: String,
    /// The counts by two days (`milestone_pairs`).
    pub pairs: String,
}

impl BeneficiaryTables {
    /// The live tables followed by `suffix` (`""`: the live tables themselves).
    pub fn with_suffix(suffix: &str) -> Self {
        BeneficiaryTables {
            state: format!("{TABLE}{suffix}"),
            counts: format!("{}{suffix}", milestone_counts::COUNTS_TABLE),
            pairs: format!("{}{suffix}", milestone_counts::PAIRS_TABLE),
        }
    }
}

/// The projection, writing into the live tables, or into copies of them while rebuilding or
/// verifying.
#[derive(Debug, Clone)]
pub struct BeneficiaryProjection {
    tables: BeneficiaryTables,
}

impl Default for BeneficiaryProjection {
    fn default() -> Self {
        BeneficiaryProjection::with_suffix("")
    }
}

impl BeneficiaryProjection {
    /// The projection writing into the live tables followed by `suffix` (see
    /// [`BeneficiaryTables::with_suffix`]).
    pub fn with_suffix(suffix: &str) -> Self {
        BeneficiaryProjection {
            tables: BeneficiaryTables::with_suffix(suffix),
        }
    }

    async fn apply_batch(
        &self,
        connection: &mut PgConnection,
        events: &[FeedEvent],
        upto: Checkpoint,
    ) -> Result<(), FeedError> {
        let mut counts: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for event in events.iter().filter(|e| e.aggregate_type == AGGREGATE_TYPE) {
            counts
                .entry(event.aggregate_id.as_str())
                .or_insert((event.global_position, 0))
                .1 += 1;
        }
        if counts.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = counts.keys().map(|id| (*id).to_owned()).collect();
        let uuids: Vec<Uuid> = counts
            .iter()
            .map(|(id, (position, _))| parse_id(id, *position))
            .collect::<Result<_, _>>()?;

        // Each touched stream, up to the batch's end.
        let rows = sqlx::query(
            "SELECT aggregate_id, global_position, payload::text AS payload FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = ANY($2) \
               AND (transaction_id, global_position) <= ($3::text::xid8, $4) \
             ORDER BY aggregate_id, sequence",
        )
        .bind(AGGREGATE_TYPE)
        .bind(&ids)
        .bind(upto.xid())
        .bind(upto.global_position)
        .fetch_all(&mut *connection)
        .await?;
        let streams = group_streams(&rows)?;

        // What was applied before, and what the replaced rows counted; then the new rows.
        let replaced = sqlx::query(&format!(
            "DELETE FROM {} WHERE beneficiary_id = ANY($1) \
             RETURNING beneficiary_id, events_applied, {}",
            self.tables.state,
            milestone_counts::STATE_COLUMNS
        ))
        .bind(&uuids)
        .fetch_all(&mut *connection)
        .await?;
        let mut tally = Tally::new();
        let mut previous: HashMap<Uuid, i64> = HashMap::with_capacity(replaced.len());
        for row in &replaced {
            previous.insert(
                row.try_get("beneficiary_id")?,
                row.try_get("events_applied")?,
            );
            if let Some(counted) = Counted::of_state(row)? {
                tally.add(counted, -1);
            }
        }

        let mut copy = CopyWriter::new();
        for (id, (position, events)) in streams {
            let beneficiary_id = parse_id(&id, position)?;
            let applied = previous.get(&beneficiary_id).copied().unwrap_or(0)
                + counts.get(id.as_str()).map_or(0, |(_, count)| *count);
            let beneficiary = Beneficiary::from_events(events);
            let row = BeneficiaryRow::of(beneficiary_id, &beneficiary, applied);
            row.write(&mut copy);
            if let Some(counted) = Counted::of_row(&row) {
                tally.add(counted, 1);
            }
        }
        copy.send(connection, &self.tables.state, COLUMNS).await?;
        tally
            .merge_into(connection, &self.tables.counts, &self.tables.pairs)
            .await?;
        Ok(())
    }
}

fn parse_id(id: &str, position: i64) -> Result<Uuid, FeedError> {
    Uuid::parse_str(id).map_err(|_| FeedError::Undecodable {
        position,
        reason: format!("beneficiary stream id {id:?} is not a UUID"),
    })
}

impl Projection for BeneficiaryProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        events: &'a [FeedEvent],
        upto: Checkpoint,
    ) -> impl std::future::Future<Output = Result<(), FeedError>> + Send + 'a {
        self.apply_batch(connection, events, upto)
    }
}

/// Events handed from the reader to the folding thread at a time.
const READ_BATCH: usize = 2_000;

/// Bytes of COPY text gathered before they are sent to the scratch table.
const COPY_CHUNK: usize = 4 << 20;

/// One event as read for a rebuild: its stream, position and payload.
struct RawEvent {
    aggregate_id: String,
    global_position: i64,
    payload: String,
}

/// Folds every beneficiary stream up to `upto` (read through `reader`, inside its snapshot)
/// into the empty tables `tables` (written through `writer`): the rows, then their milestone
/// counts; calls `progress` with the number of events read so far. Returns the number of
/// beneficiary events folded.
///
/// Three stages run at once, joined by bounded channels: this task reads the rows, a blocking
/// thread decodes and folds each stream into COPY text, and this task again sends that text to
/// `table` while the next rows are read. Reading waits on PostgreSQL, folding on the CPU and
/// writing on the other connection's backend, so none waits for the others. The folding
/// thread counts each row as it goes; the counts are written last.
pub async fn rebuild_into(
    reader: &mut PgConnection,
    writer: &mut PgConnection,
    tables: &BeneficiaryTables,
    upto: Checkpoint,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<u64, FeedError> {
    let table = tables.state.as_str();
    copy_storage_parameters(writer, table).await?;
    let (raw_sender, raw_receiver) = tokio::sync::mpsc::channel::<Vec<RawEvent>>(4);
    let (copy_sender, mut copy_receiver) = tokio::sync::mpsc::channel::<CopyWriter>(2);
    let folding = tokio::task::spawn_blocking(move || fold_streams(raw_receiver, copy_sender));

    let reading = async move {
        let mut rows = sqlx::query(
            "SELECT aggregate_id, global_position, payload::text AS payload FROM events \
             WHERE aggregate_type = $1 \
               AND (transaction_id, global_position) <= ($2::text::xid8, $3) \
             ORDER BY aggregate_id, sequence",
        )
        .bind(AGGREGATE_TYPE)
        .bind(upto.xid())
        .bind(upto.global_position)
        .fetch(&mut *reader);
        let mut batch = Vec::with_capacity(READ_BATCH);
        let mut read = 0u64;
        while let Some(row) = rows.try_next().await? {
            batch.push(RawEvent {
                aggregate_id: row.try_get(0)?,
                global_position: row.try_get(1)?,
                payload: row.try_get(2)?,
            });
            read += 1;
            if batch.len() == READ_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
                if raw_sender.send(full).await.is_err() {
                    // The folding stopped: its result says why.
                    return Ok(read);
                }
            }
            if read.is_multiple_of(10_000) {
                progress(read);
            }
        }
        if !batch.is_empty() {
            let _ = raw_sender.send(batch).await;
        }
        progress(read);
        Ok::<u64, FeedError>(read)
    };
    let writing = async {
        while let Some(mut copy) = copy_receiver.recv().await {
            copy.send(&mut *writer, table, COLUMNS).await?;
        }
        Ok::<(), FeedError>(())
    };
    let (read, written) = tokio::join!(reading, writing);
    let folded = match folding.await {
        Ok(folded) => folded,
        // A panic in the domain's fold goes on up, as when the fold ran on this task.
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(FeedError::Database(sqlx::Error::WorkerCrashed)),
    };
    // A stage that stops early makes the others stop: report the one that failed.
    written?;
    let tally = folded?;
    let read = read?;
    tally
        .copy_into(writer, &tables.counts, &tables.pairs)
        .await?;
    Ok(read)
}

/// Gives `table` the live table's storage parameters (its autovacuum settings, see
/// `migrations/0007_indicator_index.sql`), which `CREATE TABLE … (LIKE …)` does not copy.
async fn copy_storage_parameters(
    connection: &mut PgConnection,
    table: &str,
) -> Result<(), FeedError> {
    if table == TABLE {
        return Ok(());
    }
    let options: Option<Option<String>> = sqlx::query_scalar(
        "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = to_regclass($1)",
    )
    .bind(TABLE)
    .fetch_optional(&mut *connection)
    .await?;
    if let Some(options) = options.flatten().filter(|o| !o.is_empty()) {
        sqlx::query(&format!("ALTER TABLE {table} SET ({options})"))
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// The folding stage of [`rebuild_into`]: decodes the events of each stream (consecutive,
/// in stream order), folds the stream, writes its row and counts it; hands on the COPY text in
/// chunks. Returns the counts of every row written.
fn fold_streams(
    mut raw: tokio::sync::mpsc::Receiver<Vec<RawEvent>>,
    copies: tokio::sync::mpsc::Sender<CopyWriter>,
) -> Result<Tally, FeedError> {
    let mut copy = CopyWriter::new();
    let mut tally = Tally::new();
    let mut current: Option<(String, i64, Vec<BeneficiaryEvent>)> = None;
    while let Some(batch) = raw.blocking_recv() {
        for RawEvent {
            aggregate_id,
            global_position,
            payload,
        } in batch
        {
            let event = decode(global_position, &payload)?;
            match &mut current {
                Some((current_id, _, events)) if *current_id == aggregate_id => events.push(event),
                _ => {
                    if let Some((done, first, events)) = current.take() {
                        finish(&mut copy, &mut tally, &done, first, events)?;
                    }
                    current = Some((aggregate_id, global_position, vec![event]));
                }
            }
        }
        if copy.len() >= COPY_CHUNK {
            let full = std::mem::replace(&mut copy, CopyWriter::new());
            if copies.blocking_send(full).is_err() {
                // The writing stopped: its result says why.
                return Ok(tally);
            }
        }
    }
    if let Some((done, first, events)) = current.take() {
        finish(&mut copy, &mut tally, &done, first, events)?;
    }
    if !copy.is_empty() {
        let _ = copies.blocking_send(copy);
    }
    Ok(tally)
}

fn finish(
    copy: &mut CopyWriter,
    tally: &mut Tally,
    id: &str,
    position: i64,
    events: Vec<BeneficiaryEvent>,
) -> Result<(), FeedError> {
    let beneficiary_id = parse_id(id, position)?;
    let applied = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let beneficiary = Beneficiary::from_events(events);
    let row = BeneficiaryRow::of(beneficiary_id, &beneficiary, applied);
    row.write(copy);
    if let Some(counted) = Counted::of_row(&row) {
        tally.add(counted, 1);
    }
    Ok(())
}

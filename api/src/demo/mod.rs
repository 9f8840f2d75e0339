//! `masar demo`'s data: the organisations and programmes of `api/data/programmes.json` with
//! their published targets, and a synthetic population whose journeys go through the same
//! command path as the API — registrations and programme activities through the programme
//! and organisation streams' commands, journey events through [`record_batch`], the path of
//! `recordJourneyEvents` — with personal data sealed by the vault as the API seals it.
//!
//! - [`facts`]: the programme facts, typed;
//! - [`generate`]: the seeded synthetic population;
//! - [`run`]: registers, records, and reports every outcome.
//!
//! Running it again records nothing new: registrations already done are skipped, and every
//! event id is drawn from the seeded generator, so each event comes back DUPLICATE.

pub mod facts;
pub mod generate;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::{Aggregate, AggregateError};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use masar_domain::beneficiary::{JourneyFact, RecordJourneyEvent};
use masar_domain::directory::Directory;
use masar_domain::ids::{BeneficiaryId, EventId, OrganisationCode, ProgrammeCode};
use masar_domain::organisation::{OrganisationCommand, OrganisationError};
use masar_domain::programme::{Programme, ProgrammeCommand, ProgrammeError};
use masar_domain::values::{Actor, Role, TargetValue};
use masar_domain::ErrorCode;
use sha2::{Digest, Sha256};

use self::facts::Facts;
use self::generate::{Plan, PlanOptions, PlannedActivity, PlannedEvent};
use crate::admin::{execute, execute_programme};
use crate::batch::{record_batch, MAX_BATCH};
use crate::graphql::reads;
use crate::privacy::{PersonalData, PersonalDataVault};
use crate::record::{SubmissionOutcome, SubmissionStatus};
use crate::write::{locate_event, Envelope, WriteSide};

/// The organisation whose administrator registers the demo's organisations and programmes,
/// and to which the printed ADMIN token belongs.
pub const DEMO_ADMIN_ORGANISATION: &str = "ENABEL";

/// Batches recorded at the same time, unless the options say otherwise.
pub const DEFAULT_CONCURRENCY: u16 = 4;

/// Rejections kept in the report, to show.
const KEPT_REJECTIONS: usize = 10;

/// How `masar demo` draws and records its data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoOptions {
    /// Seed and scale of the synthetic population.
    pub plan: PlanOptions,
    /// Batches of journey events recorded at the same time (at least 1).
    pub concurrency: usize,
    /// At most this many journey events per batch (1 to [`MAX_BATCH`]).
    pub batch_size: usize,
}

impl DemoOptions {
    /// Options with the default concurrency and full batches.
    pub fn new(plan: PlanOptions) -> DemoOptions {
        DemoOptions {
            plan,
            concurrency: usize::from(DEFAULT_CONCURRENCY),
            batch_size: MAX_BATCH,
        }
    }
}

/// Counts of outcomes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Recorded now.
    pub accepted: usize,
    /// Recorded before: nothing new.
    pub duplicate: usize,
    /// Refused.
    pub rejected: usize,
}

impl Tally {
    fn add(&mut self, status: SubmissionStatus) {
        match status {
            SubmissionStatus::Accepted => self.accepted += 1,
            SubmissionStatus::Duplicate => self.duplicate += 1,
            SubmissionStatus::Rejected => self.rejected += 1,
        }
    }

    /// Everything counted.
    pub fn total(&self) -> usize {
        self.accepted + self.duplicate + self.rejected
    }
}

/// One refused item: a bug in the demo's data, which must follow the journey rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The stream: a beneficiary's id, or a programme's code.
    pub stream: String,
    /// The event type, e.g. `WorkshopAttended`.
    pub event_type: &'static str,
    /// The event's id.
    pub event_id: EventId,
    /// The contract's error code.
    pub code: ErrorCode,
    /// The reason given.
    pub message: String,
}

/// What `run` did.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// Organisations registered now (accepted) or already (duplicate).
    pub organisations: Tally,
    /// Programmes registered now or already.
    pub programmes: Tally,
    /// Indicator targets set now or already.
    pub targets: Tally,
    /// Journey events.
    pub journey_events: Tally,
    /// Programme activities.
    pub activities: Tally,
    /// People of each programme.
    pub people: BTreeMap<ProgrammeCode, usize>,
    /// Late entries among the journey events.
    pub late_entries: usize,
    /// Retractions among the journey events.
    pub retractions: usize,
    /// Exits among the journey events.
    pub exits: usize,
    /// Identifications that carry sealed personal data (recorded now).
    pub sealed_personal_data: usize,
    /// Programmes registered with an illustrative start date.
    pub illustrative_starts: Vec<(ProgrammeCode, NaiveDate)>,
    /// The first refused items.
    pub rejections: Vec<Rejection>,
    /// How long recording took.
    pub elapsed: Duration,
}

impl DemoReport {
    /// Every refused item, of any kind.
    pub fn rejected(&self) -> usize {
        self.journey_events.rejected + self.activities.rejected
    }

    /// A human-readable summary, one line each.
    pub fn summary(&self) -> Vec<String> {
        let people: usize = self.people.values().sum();
        let by_programme = self
            .people
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut lines = vec![
            format!(
                "{} organisations, {} programmes, {} targets ({} registered now, the rest already)",
                self.organisations.total(),
                self.programmes.total(),
                self.targets.total(),
                self.organisations.accepted + self.programmes.accepted + self.targets.accepted,
            ),
            format!("{people} people: {by_programme}"),
            format!(
                "journey events: {} accepted, {} duplicate, {} rejected ({} late entries, {} \
                 retractions, {} exits)",
                self.journey_events.accepted,
                self.journey_events.duplicate,
                self.journey_events.rejected,
                self.late_entries,
                self.retractions,
                self.exits,
            ),
            format!(
                "programme activities: {} accepted, {} duplicate, {} rejected",
                self.activities.accepted, self.activities.duplicate, self.activities.rejected,
            ),
            format!(
                "{} identifications recorded now with sealed personal data",
                self.sealed_personal_data
            ),
        ];
        for (code, date) in &self.illustrative_starts {
            lines.push(format!(
                "{code} starts on {date}: an illustrative date, its public pages give none"
            ));
        }
        lines.push(format!("done in {:.1} s", self.elapsed.as_secs_f64()));
        lines
    }
}

/// How progress is shown while journeys are recorded.
#[derive(Debug)]
pub struct Progress {
    mode: ProgressMode,
}

#[derive(Debug)]
enum ProgressMode {
    Hidden,
    Bar(Option<ProgressBar>),
    Lines { total: u64, done: u64, shown: u64 },
}

impl Progress {
    /// Shows nothing.
    pub fn hidden() -> Progress {
        Progress {
            mode: ProgressMode::Hidden,
        }
    }

    /// A progress bar on stderr when it is a terminal, else a line on stderr every tenth of
    /// the way.
    pub fn on_stderr() -> Progress {
        let mode = if std::io::stderr().is_terminal() {
            ProgressMode::Bar(None)
        } else {
            ProgressMode::Lines {
                total: 0,
                done: 0,
                shown: 0,
            }
        };
        Progress { mode }
    }

    fn start(&mut self, total: u64) {
        match &mut self.mode {
            ProgressMode::Hidden => {}
            ProgressMode::Bar(bar) => {
                let new = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} recording journeys [{bar:40}] {human_pos}/{human_len} events \
                     ({per_sec}, {eta} left)",
                ) {
                    new.set_style(style.progress_chars("=> "));
                }
                *bar = Some(new);
            }
            ProgressMode::Lines {
                total: t,
                done,
                shown,
            } => {
                *t = total;
                *done = 0;
                *shown = 0;
                eprintln!("masar demo: recording {total} journey events");
            }
        }
    }

    fn advance(&mut self, events: u64) {
        match &mut self.mode {
            ProgressMode::Hidden => {}
            ProgressMode::Bar(bar) => {
                if let Some(bar) = bar {
                    bar.inc(events);
                }
            }
            ProgressMode::Lines { total, done, shown } => {
                *done += events;
                let tenth = (*done * 10).checked_div(*total).unwrap_or(10);
                if tenth > *shown {
                    *shown = tenth;
                    eprintln!(
                        "masar demo: {done}/{total} journey events recorded ({}%)",
                        tenth * 10
                    );
                }
            }
        }
    }

    fn finish(&mut self) {
        if let ProgressMode::Bar(Some(bar)) = &self.mode {
            bar.finish();
        }
    }
}

/// Registers the organisations and programmes of the embedded facts (with their targets),
/// then records the synthetic population drawn with `options` and its programme activities.
/// Personal data is sealed with `vault` when there is one, and left out otherwise.
///
/// Every outcome is counted: refused items are reported (see [`DemoReport::rejections`]),
/// never dropped. An `Err` means the database or the vault failed, or a registration was
/// refused.
pub async fn run(
    write: &WriteSide,
    vault: Option<&PersonalDataVault>,
    options: &DemoOptions,
    progress: &mut Progress,
) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let facts = Facts::embedded()?;
    let (organisations, programmes, targets) = register_directory(write, &facts).await?;

    let cutoff = cutoff(Utc::now());
    let plan = generate::plan(&facts, &options.plan, cutoff);
    let mut rejections = Vec::new();
    let (journey_events, sealed_personal_data) =
        record_journeys(write, vault, &plan, options, progress, &mut rejections).await?;
    let activities = record_activities(write, &plan.activities, &mut rejections).await?;

    Ok(DemoReport {
        organisations,
        programmes,
        targets,
        journey_events,
        activities,
        people: plan.people_by_programme(),
        late_entries: plan.late_count(),
        retractions: plan.count_of("Retracted"),
        exits: plan.count_of("Exited"),
        sealed_personal_data,
        illustrative_starts: facts
            .programmes
            .iter()
            .filter(|p| p.has_illustrative_start())
            .map(|p| (p.code.clone(), p.start()))
            .collect(),
        rejections,
        elapsed: started.elapsed(),
    })
}

/// Registers the organisations and programmes of `facts` with their targets, as an
/// administrator of the demo's organisation would (what [`run`] does first, and what a test
/// that records journeys of a [`generate::Plan`] its own way needs); how many organisations,
/// programmes and targets were registered now or already.
pub async fn register_directory(
    write: &WriteSide,
    facts: &Facts,
) -> anyhow::Result<(Tally, Tally, Tally)> {
    let admin = Actor::new(
        OrganisationCode::parse(DEMO_ADMIN_ORGANISATION)?,
        Role::Admin,
    );
    let organisations = register_organisations(write, facts, &admin).await?;
    let (programmes, targets) = register_programmes(write, facts, &admin).await?;
    Ok((organisations, programmes, targets))
}

/// The command that records `event` of `beneficiary_id`'s plan, as its recorder (a partner)
/// would send it at `now`.
pub fn journey_command(
    beneficiary_id: BeneficiaryId,
    event: &PlannedEvent,
    now: DateTime<Utc>,
) -> RecordJourneyEvent {
    RecordJourneyEvent {
        beneficiary_id,
        event_id: event.event_id,
        occurred_at: event.occurred_at,
        actor: Actor::new(event.recorder.clone(), Role::Partner),
        now,
        fact: event.fact.clone(),
    }
}

/// The envelope and command that record `planned`, as its recorder (a partner) would at `now`.
pub fn activity_command(
    planned: &PlannedActivity,
    now: DateTime<Utc>,
) -> (Envelope, ProgrammeCommand) {
    let envelope = Envelope {
        event_id: planned.activity_id,
        occurred_at: planned.occurred_at,
        organisation: planned.recorder.clone(),
        token_id: None,
    };
    let command = ProgrammeCommand::RecordActivity {
        activity_id: planned.activity_id,
        occurred_at: planned.occurred_at,
        actor: Actor::new(planned.recorder.clone(), Role::Partner),
        now,
        activity: planned.activity.clone(),
    };
    (envelope, command)
}

/// Events are kept up to the start of `now`'s day (UTC): running the demo again the same day
/// draws exactly the same events.
pub fn cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

/// An id derived from `label` alone: the same registration always has the same idempotency
/// key, whatever the seed.
fn derived_id(label: &str) -> EventId {
    let digest = Sha256::new()
        .chain_update(b"masar demo registration\0")
        .chain_update(label.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    EventId::new(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

fn admin_envelope(admin: &Actor, event_id: EventId, now: DateTime<Utc>) -> Envelope {
    Envelope {
        event_id,
        occurred_at: now,
        organisation: admin.organisation.clone(),
        token_id: None,
    }
}

async fn register_organisations(
    write: &WriteSide,
    facts: &Facts,
    admin: &Actor,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for organisation in &facts.organisations {
        if write.directory.organisation_exists(&organisation.code) {
            tally.duplicate += 1;
            continue;
        }
        let event_id = derived_id(&format!("organisation {}", organisation.code));
        let now = Utc::now();
        let command = OrganisationCommand::Register {
            code: organisation.code.clone(),
            name: organisation.name.clone(),
            kind: organisation.kind.clone(),
            event_id,
            actor: admin.clone(),
            now,
        };
        let envelope = admin_envelope(admin, event_id, now);
        match execute(
            &write.organisations,
            organisation.code.as_str(),
            command,
            &envelope,
        )
        .await
        {
            Ok(()) => tally.accepted += 1,
            // Registered meanwhile: just as good.
            Err(AggregateError::UserError(OrganisationError::AlreadyRegistered { .. })) => {
                tally.duplicate += 1
            }
            Err(error) => anyhow::bail!(
                "registering organisation {} failed: {error}",
                organisation.code
            ),
        }
    }
    write.directory.refresh(&write.pool).await?;
    Ok(tally)
}

async fn register_programmes(
    write: &WriteSide,
    facts: &Facts,
    admin: &Actor,
) -> anyhow::Result<(Tally, Tally)> {
    let mut programmes = Tally::default();
    let mut targets = Tally::default();
    for programme in &facts.programmes {
        if write.directory.programme(&programme.code).is_some() {
            programmes.duplicate += 1;
        } else {
            let event_id = derived_id(&format!("programme {}", programme.code));
            let now = Utc::now();
            let command = ProgrammeCommand::Register {
                code: programme.code.clone(),
                name: programme.name.clone(),
                country: programme.country.clone(),
                regions: programme.regions.clone(),
                start_date: programme.start(),
                end_date: programme.end_date,
                donors: programme.donors.clone(),
                partners: programme.partners.clone(),
                description: programme.description(),
                event_id,
                actor: admin.clone(),
                now,
            };
            let envelope = admin_envelope(admin, event_id, now);
            match execute_programme(write, &programme.code, command, &envelope).await {
                Ok(()) => programmes.accepted += 1,
                Err(AggregateError::UserError(ProgrammeError::AlreadyRegistered { .. })) => {
                    programmes.duplicate += 1
                }
                Err(error) => {
                    anyhow::bail!("registering programme {} failed: {error}", programme.code)
                }
            }
        }
        let current = reads::programme(&write.pool, programme.code.as_str())
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "reading programme {} back failed: {}",
                    programme.code,
                    error.message()
                )
            })?
            .unwrap_or_default();
        for (indicator, value) in &programme.targets {
            let target = TargetValue::from_f64(*value).map_err(|error| {
                anyhow::anyhow!("target of {indicator} for {}: {error}", programme.code)
            })?;
            if current.target(*indicator) == Some(target) {
                targets.duplicate += 1;
                continue;
            }
            let event_id = derived_id(&format!(
                "target {} {indicator} {}",
                programme.code,
                target.hundredths()
            ));
            let now = Utc::now();
            let command = ProgrammeCommand::SetTarget {
                indicator: *indicator,
                target,
                event_id,
                actor: admin.clone(),
                now,
            };
            let envelope = admin_envelope(admin, event_id, now);
            execute_programme(write, &programme.code, command, &envelope)
                .await
                .map_err(|error| {
                    anyhow::anyhow!(
                        "setting the target of {indicator} for {} failed: {error}",
                        programme.code
                    )
                })?;
            targets.accepted += 1;
        }
    }
    write.directory.refresh(&write.pool).await?;
    Ok((programmes, targets))
}

/// One event of a batch, and the personal data to seal into it.
struct Item<'a> {
    beneficiary_id: BeneficiaryId,
    event: &'a PlannedEvent,
    contact: Option<&'a generate::Contact>,
}

/// Batches of whole people: a person's events are never split between batches, so that
/// batches can run at the same time. Late entries come in batches of their own, recorded
/// after every other batch.
fn batches(plan: &Plan, batch_size: usize) -> (Vec<Vec<Item<'_>>>, Vec<Vec<Item<'_>>>) {
    let mut on_time: Vec<Vec<Item<'_>>> = vec![Vec::new()];
    let mut late: Vec<Vec<Item<'_>>> = vec![Vec::new()];
    for person in &plan.people {
        for (late_entries, batches) in [(false, &mut on_time), (true, &mut late)] {
            let items: Vec<Item<'_>> = person
                .events
                .iter()
                .filter(|e| e.late == late_entries)
                .map(|event| Item {
                    beneficiary_id: person.beneficiary_id,
                    event,
                    contact: matches!(event.fact, JourneyFact::Identified { .. })
                        .then_some(person.contact.as_ref())
                        .flatten(),
                })
                .collect();
            if items.is_empty() {
                continue;
            }
            let full = batches
                .last()
                .is_some_and(|b| !b.is_empty() && b.len() + items.len() > batch_size);
            if full {
                batches.push(Vec::new());
            }
            if let Some(batch) = batches.last_mut() {
                batch.extend(items);
            }
        }
    }
    on_time.retain(|b| !b.is_empty());
    late.retain(|b| !b.is_empty());
    (on_time, late)
}

async fn record_journeys(
    write: &WriteSide,
    vault: Option<&PersonalDataVault>,
    plan: &Plan,
    options: &DemoOptions,
    progress: &mut Progress,
    rejections: &mut Vec<Rejection>,
) -> anyhow::Result<(Tally, usize)> {
    let batch_size = options.batch_size.clamp(1, MAX_BATCH);
    let (on_time, late) = batches(plan, batch_size);
    progress.start(plan.event_count() as u64);
    let mut tally = Tally::default();
    let mut sealed = 0;
    for phase in [on_time, late] {
        let mut recorded = futures::stream::iter(phase.iter())
            .map(|batch| record_one_batch(write, vault, batch))
            .buffer_unordered(options.concurrency.max(1));
        while let Some(result) = recorded.next().await {
            let (batch, outcomes, sealed_now) = result?;
            sealed += sealed_now;
            for (item, outcome) in batch.iter().zip(&outcomes) {
                tally.add(outcome.status);
                if outcome.status == SubmissionStatus::Rejected {
                    keep_rejection(rejections, item, outcome);
                }
            }
            progress.advance(batch.len() as u64);
        }
    }
    progress.finish();
    Ok((tally, sealed))
}

fn keep_rejection(rejections: &mut Vec<Rejection>, item: &Item<'_>, outcome: &SubmissionOutcome) {
    if rejections.len() >= KEPT_REJECTIONS {
        return;
    }
    let (code, message) = outcome.error.as_ref().map_or_else(
        || (ErrorCode::Internal, "no reason given".to_owned()),
        |error| (error.code, error.message.clone()),
    );
    rejections.push(Rejection {
        stream: item.beneficiary_id.to_string(),
        event_type: item.event.fact.type_name(),
        event_id: item.event.event_id,
        code,
        message,
    });
}

/// Records one batch through [`record_batch`], sealing personal data first as the API does:
/// only for an identification not recorded yet, so that a resubmission creates no key.
async fn record_one_batch<'b, 'a>(
    write: &WriteSide,
    vault: Option<&PersonalDataVault>,
    batch: &'b [Item<'a>],
) -> anyhow::Result<(&'b [Item<'a>], Vec<SubmissionOutcome>, usize)> {
    let now = Utc::now();
    let mut sealed = 0;
    let mut items = Vec::with_capacity(batch.len());
    for item in batch {
        let mut fact = item.event.fact.clone();
        if let (Some(contact), Some(vault)) = (item.contact, vault) {
            if locate_event(&write.pool, item.event.event_id)
                .await?
                .is_none()
            {
                let data = PersonalData::new(
                    Some(contact.full_name.clone()),
                    Some(contact.phone.clone()),
                    None,
                )?;
                let sealed_data = vault.seal(item.beneficiary_id, &data).await?;
                if let JourneyFact::Identified { personal_data, .. } = &mut fact {
                    *personal_data = Some(sealed_data);
                    sealed += 1;
                }
            }
        }
        items.push(RecordJourneyEvent {
            fact,
            ..journey_command(item.beneficiary_id, item.event, now)
        });
    }
    let outcomes = record_batch(write, items, None).await;
    if outcomes.len() != batch.len() {
        anyhow::bail!(
            "a batch of {} events got {} outcomes",
            batch.len(),
            outcomes.len()
        );
    }
    Ok((batch, outcomes, sealed))
}

/// Records the programme activities one by one through the programme's command, as
/// `recordProgrammeActivity` does: DUPLICATE when the activity id is already in the log.
async fn record_activities(
    write: &WriteSide,
    activities: &[PlannedActivity],
    rejections: &mut Vec<Rejection>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for planned in activities {
        let status = match locate_event(&write.pool, planned.activity_id).await? {
            Some(location)
                if location.aggregate_type == Programme::TYPE
                    && location.aggregate_id == planned.programme.as_str() =>
            {
                SubmissionStatus::Duplicate
            }
            Some(_) => {
                reject_activity(
                    rejections,
                    planned,
                    ErrorCode::EventIdReused,
                    "the activity id is used by another stream".to_owned(),
                );
                SubmissionStatus::Rejected
            }
            None => {
                let (envelope, command) = activity_command(planned, Utc::now());
                match execute_programme(write, &planned.programme, command, &envelope).await {
                    Ok(()) => SubmissionStatus::Accepted,
                    Err(AggregateError::UserError(error)) => {
                        reject_activity(rejections, planned, error.code(), error.to_string());
                        SubmissionStatus::Rejected
                    }
                    Err(error) => anyhow::bail!(
                        "recording an activity of {} failed: {error}",
                        planned.programme
                    ),
                }
            }
        };
        tally.add(status);
    }
    Ok(tally)
}

fn reject_activity(
    rejections: &mut Vec<Rejection>,
    planned: &PlannedActivity,
    code: ErrorCode,
    message: String,
) {
    if rejections.len() < KEPT_REJECTIONS {
        rejections.push(Rejection {
            stream: planned.programme.to_string(),
            event_type: match planned.activity {
                masar_domain::programme::ProgrammeActivity::CompanyEngaged { .. } => {
                    "CompanyEngaged"
                }
                masar_domain::programme::ProgrammeActivity::TrainerTrained { .. } => {
                    "TrainerTrained"
                }
            },
            event_id: planned.activity_id,
            code,
            message,
        });
    }
}

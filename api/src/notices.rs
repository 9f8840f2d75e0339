//! Live journey event notices for `Subscription.journeyEvents`: one task per server tails the
//! global feed (same safe order as the projections, `masar_projections::feed`) and broadcasts
//! a notice per beneficiary event, with what subscribers filter on (programme, identifying and
//! referred organisations). No personal data is in a notice.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use masar_domain::beneficiary::Beneficiary;
use masar_projections::feed::{self, Checkpoint, FeedEvent};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Notices kept for a slow subscriber before it misses some.
pub const CAPACITY: usize = 4096;

/// One beneficiary event, as subscribers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Its global position.
    pub global_position: i64,
    /// The beneficiary's programme.
    pub programme_code: String,
    /// The beneficiary.
    pub beneficiary_id: Uuid,
    /// The identifying organisation.
    pub partner_code: String,
    /// Organisations a referral named.
    pub referred_to: Vec<String>,
    /// Event type name.
    pub event_type: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// Where notices are published.
#[derive(Debug, Clone)]
pub struct NoticeHub {
    sender: Arc<broadcast::Sender<Notice>>,
}

impl NoticeHub {
    /// A hub, and the task tailing the log of `pool` into it from the current head (it stops
    /// when the hub is dropped).
    pub fn start(pool: PgPool) -> NoticeHub {
        let (sender, _) = broadcast::channel(CAPACITY);
        let sender = Arc::new(sender);
        tokio::spawn(tail(pool, Arc::downgrade(&sender)));
        NoticeHub { sender }
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.sender.subscribe()
    }
}

async fn tail(pool: PgPool, sender: Weak<broadcast::Sender<Notice>>) {
    let mut at: Option<Checkpoint> = None;
    let mut listener: Option<PgListener> = None;
    loop {
        if sender.strong_count() == 0 {
            return;
        }
        match step(&pool, &sender, &mut at, &mut listener).await {
            Ok(()) => {}
            // The server is shutting down.
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(error = %error, "journey notices: reading the log failed; retrying");
                listener = None;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

async fn step(
    pool: &PgPool,
    sender: &Weak<broadcast::Sender<Notice>>,
    at: &mut Option<Checkpoint>,
    listener: &mut Option<PgListener>,
) -> Result<(), feed::FeedError> {
    if listener.is_none() {
        let mut new = PgListener::connect_with(pool).await?;
        new.listen("masar_events").await?;
        *listener = Some(new);
    }
    let from = match at {
        Some(at) => *at,
        None => {
            // Start from what is safe now: notices are for what happens from here on.
            let mut connection = pool.acquire().await?;
            let start = feed::safe_point(&mut connection).await?;
            *at = Some(start);
            start
        }
    };
    let mut connection = pool.acquire().await?;
    let events = feed::read_after(&mut connection, from, feed::BATCH_SIZE).await?;
    drop(connection);
    if let Some(last) = events.last() {
        *at = Some(Checkpoint::after(last));
        let notices = notices_of(pool, &events).await?;
        let Some(sender) = sender.upgrade() else {
            return Ok(());
        };
        for notice in notices {
            // No subscriber is not an error.
            let _ = sender.send(notice);
        }
        return Ok(());
    }
    if let Some(listener) = listener.as_mut() {
        if let Ok(Err(error)) =
            tokio::time::timeout(Duration::from_secs(1), listener.try_recv()).await
        {
            return Err(error.into());
        }
    }
    Ok(())
}

/// The notices of `events`: each beneficiary's programme and organisations from its stream
/// up to the batch.
async fn notices_of(pool: &PgPool, events: &[FeedEvent]) -> Result<Vec<Notice>, feed::FeedError> {
    let ids: Vec<String> = events
        .iter()
        .filter(|e| e.aggregate_type == "Beneficiary")
        .map(|e| e.aggregate_id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT aggregate_id, global_position, payload::text AS payload FROM events \
         WHERE aggregate_type = 'Beneficiary' AND aggregate_id = ANY($1) \
         ORDER BY aggregate_id, sequence",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let folded: BTreeMap<String, Beneficiary> =
        masar_projections::beneficiaries::group_streams(&rows)?
            .into_iter()
            .map(|(id, (_, events))| (id, Beneficiary::from_events(events)))
            .collect();
    let mut notices = Vec::new();
    for event in events.iter().filter(|e| e.aggregate_type == "Beneficiary") {
        let Some(beneficiary) = folded.get(&event.aggregate_id) else {
            continue;
        };
        let (Some(identification), Ok(beneficiary_id)) = (
            beneficiary.identified(),
            Uuid::parse_str(&event.aggregate_id),
        ) else {
            continue;
        };
        let occurred_at = event
            .payload
            .get("occurred_at")
            .and_then(|at| serde_json::from_value::<DateTime<Utc>>(at.clone()).ok())
            .unwrap_or(event.recorded_at);
        notices.push(Notice {
            global_position: event.global_position,
            programme_code: identification.programme_code.as_str().to_owned(),
            beneficiary_id,
            partner_code: identification.partner.as_str().to_owned(),
            referred_to: beneficiary
                .referred_organisations()
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
            event_type: event.event_type.clone(),
            occurred_at,
        });
    }
    Ok(notices)
}

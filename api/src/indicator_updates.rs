//! Live notices for `Subscription.indicatorsUpdated`: one task per server watches the
//! projections' checkpoints once a second and, when they moved, broadcasts one update per
//! programme whose events were applied meanwhile (`masar_projections::updates`), with the
//! log position the indicator figures now reflect. At most one update a second per programme.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use masar_projections::feed::{self, Checkpoint, FeedError};
use masar_projections::rebuild::PROJECTIONS;
use masar_projections::updates;
use sqlx::PgPool;
use tokio::sync::broadcast;

/// How often the checkpoints are looked at.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Updates kept for a slow subscriber before it misses some.
const CAPACITY: usize = 1024;

/// The figures of a programme changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorsUpdate {
    /// The programme.
    pub programme_code: String,
    /// Every committed event at or below this global position is reflected in its figures.
    pub position: i64,
}

/// Where indicator updates are published.
#[derive(Debug, Clone)]
pub struct UpdateHub {
    sender: Arc<broadcast::Sender<IndicatorsUpdate>>,
}

impl UpdateHub {
    /// A hub, and the task watching the projections of `pool` (it stops when the hub is
    /// dropped).
    pub fn start(pool: PgPool) -> UpdateHub {
        let (sender, _) = broadcast::channel(CAPACITY);
        let sender = Arc::new(sender);
        tokio::spawn(watch(pool, Arc::downgrade(&sender)));
        UpdateHub { sender }
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<IndicatorsUpdate> {
        self.sender.subscribe()
    }
}

async fn watch(pool: PgPool, sender: Weak<broadcast::Sender<IndicatorsUpdate>>) {
    let mut seen: Option<Vec<Checkpoint>> = None;
    loop {
        // A full interval after the last updates were sent (not a fixed tick, which would
        // follow a slow look closely): a programme never gets two within a second.
        tokio::time::sleep(INTERVAL).await;
        let Some(strong) = sender.upgrade() else {
            return;
        };
        // Nobody listens: nothing to compute, but keep the checkpoints current.
        let listening = strong.receiver_count() > 0;
        match step(&pool, &mut seen, listening).await {
            Ok(updates) => {
                for update in updates {
                    // No subscriber is not an error.
                    let _ = strong.send(update);
                }
            }
            // The server is shutting down.
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(error = %error, "indicator updates: reading the projections failed; retrying");
            }
        }
    }
}

/// Reads the checkpoints; the updates since `seen` (none the first time), and `seen` moved on.
async fn step(
    pool: &PgPool,
    seen: &mut Option<Vec<Checkpoint>>,
    listening: bool,
) -> Result<Vec<IndicatorsUpdate>, FeedError> {
    let mut connection = pool.acquire().await?;
    let mut now = Vec::with_capacity(PROJECTIONS.len());
    for name in PROJECTIONS {
        now.push(feed::read_checkpoint(&mut connection, name).await?);
    }
    let Some(before) = seen.replace(now.clone()) else {
        return Ok(Vec::new());
    };
    if before == now || !listening {
        return Ok(Vec::new());
    }
    let mut programmes = BTreeSet::new();
    for ((name, from), to) in PROJECTIONS.iter().zip(&before).zip(&now) {
        if to > from {
            programmes
                .extend(updates::programmes_applied(&mut connection, name, *from, *to).await?);
        } else if to < from {
            // Rebuilt and swapped in: any programme may have changed.
            programmes.extend(updates::every_programme(&mut connection).await?);
        }
    }
    if programmes.is_empty() {
        return Ok(Vec::new());
    }
    let mut position = i64::MAX;
    for name in PROJECTIONS {
        position = position.min(feed::reflected_position(&mut connection, name).await?);
    }
    Ok(programmes
        .into_iter()
        .map(|programme_code| IndicatorsUpdate {
            programme_code,
            position,
        })
        .collect())
}

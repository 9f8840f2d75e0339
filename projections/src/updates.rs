//! Which programmes' figures a projection changed: the programmes of the events it applied
//! between two of its checkpoints, for `Subscription.indicatorsUpdated`. Read from the log
//! (not from the projection's own rows), so a beneficiary whose identification was retracted
//! still names the programme it counted in.

use std::collections::BTreeSet;

use sqlx::PgConnection;

use crate::activities;
use crate::beneficiaries;
use crate::feed::{Checkpoint, FeedError};

/// The programmes of the events of projection `name` (`beneficiaries` or
/// `programme_activities`; any other name has none) after `from` and up to `to`, in feed order.
pub async fn programmes_applied(
    connection: &mut PgConnection,
    name: &str,
    from: Checkpoint,
    to: Checkpoint,
) -> Result<BTreeSet<String>, FeedError> {
    let applied = "e.aggregate_type = $1 \
        AND (e.transaction_id, e.global_position) > ($2::text::xid8, $3) \
        AND (e.transaction_id, e.global_position) <= ($4::text::xid8, $5)";
    let (sql, aggregate_type) = match name {
        // Every programme a touched beneficiary was ever identified in.
        beneficiaries::NAME => (
            format!(
                "SELECT DISTINCT {} FROM events i \
                 WHERE i.aggregate_type = $1 AND i.event_type = 'Identified' \
                   AND i.aggregate_id IN (SELECT e.aggregate_id FROM events e WHERE {applied})",
                beneficiaries::identified_programme_sql("i")
            ),
            beneficiaries::AGGREGATE_TYPE,
        ),
        activities::NAME => (
            format!("SELECT DISTINCT e.aggregate_id FROM events e WHERE {applied}"),
            activities::AGGREGATE_TYPE,
        ),
        _ => return Ok(BTreeSet::new()),
    };
    let codes: Vec<Option<String>> = sqlx::query_scalar(&sql)
        .bind(aggregate_type)
        .bind(from.xid())
        .bind(from.global_position)
        .bind(to.xid())
        .bind(to.global_position)
        .fetch_all(&mut *connection)
        .await?;
    Ok(codes.into_iter().flatten().collect())
}

/// Every programme with a stream in the log (when a projection's checkpoint went back, as a
/// rebuild may do, any of them may have changed).
pub async fn every_programme(connection: &mut PgConnection) -> Result<BTreeSet<String>, FeedError> {
    let codes: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = $1")
            .bind(activities::AGGREGATE_TYPE)
            .fetch_all(&mut *connection)
            .await?;
    Ok(codes.into_iter().collect())
}

//! The contract's `Subscription`: live journey event notices, filtered by programme and by
//! what the caller may see (`crate::auth::Access::journey_notice_scope`), and indicator
//! updates of a programme (`crate::indicator_updates`).

use async_graphql::{Context, Subscription as SubscriptionRoot};
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use super::error::ApiError;
use super::indicators::known_programme;
use super::inputs::sql_argument;
use super::scalars::{DateTime, Position, Uuid};
use super::types::{IndicatorsUpdate, JourneyEventNotice};
use super::{api, principal};
use crate::auth::{Access, BeneficiaryScope};
use crate::notices::Notice;

/// Live notices.
#[derive(Debug, Default, Clone, Copy)]
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// A notice per event recorded, without personal data (ADMIN, AUDITOR; PARTNER sees its
    /// own; DASHBOARD is FORBIDDEN).
    async fn journey_events(
        &self,
        ctx: &Context<'_>,
        programme_code: Option<String>,
    ) -> Result<BoxStream<'static, JourneyEventNotice>, ApiError> {
        let scope = Access::journey_notice_scope(principal(ctx)?)?;
        let programme_code = programme_code.map(|code| code.trim().to_owned());
        let stream = received(api(ctx)?.notices.subscribe(), "notices")
            .filter(move |notice| {
                let wanted = programme_code
                    .as_deref()
                    .is_none_or(|code| notice.programme_code == code)
                    && visible(&scope, notice);
                futures::future::ready(wanted)
            })
            .map(|notice| JourneyEventNotice {
                global_position: Position(notice.global_position),
                programme_code: notice.programme_code,
                beneficiary_id: Uuid(notice.beneficiary_id),
                event_type: notice.event_type,
                occurred_at: DateTime(notice.occurred_at),
            });
        Ok(stream.boxed())
    }

    /// A notice whenever the projections have applied new events of the programme, at most
    /// one a second (every role that may read its indicators).
    async fn indicators_updated(
        &self,
        ctx: &Context<'_>,
        programme_code: String,
    ) -> Result<BoxStream<'static, IndicatorsUpdate>, ApiError> {
        Access::can_read_indicators(principal(ctx)?)?;
        let api = api(ctx)?;
        let code = sql_argument("programmeCode", programme_code.trim())?.to_owned();
        known_programme(&api.write.pool, &code).await?;
        let stream = received(api.indicator_updates.subscribe(), "updates")
            .filter(move |update| futures::future::ready(update.programme_code == code))
            .map(|update| IndicatorsUpdate {
                programme_code: update.programme_code,
                position: Position(update.position),
            });
        Ok(stream.boxed())
    }
}

/// What `receiver` receives, as a stream that ends when the hub closes; a subscriber too slow
/// to keep up misses some `what` (logged) and goes on.
fn received<T: Clone + Send + 'static>(
    receiver: broadcast::Receiver<T>,
    what: &'static str,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(item) => return Some((item, receiver)),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a subscriber was too slow and missed {what}");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

fn visible(scope: &BeneficiaryScope, notice: &Notice) -> bool {
    match scope {
        BeneficiaryScope::Every => true,
        BeneficiaryScope::ResponsibleFor(organisation) => {
            notice.partner_code == organisation.as_str()
                || notice
                    .referred_to
                    .iter()
                    .any(|o| o == organisation.as_str())
        }
    }
}

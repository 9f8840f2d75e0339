//! The contract's `Subscription`: live journey event notices, filtered by programme and by
//! what the caller may see (`crate::auth::Access::journey_notice_scope`), and indicator
//! updates of a programme (`crate::indicator_updates`).

use async_graphql::{Context, Subscription as SubscriptionRoot};
use futures::stream::{BoxStream, StreamExt};
use masar_domain::ErrorCode;
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
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
        let receiver = api(ctx)?.notices.subscribe();
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(notice) => return Some((notice, receiver)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a subscriber was too slow and missed notices");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        })
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
        if super::reads::programme(&api.write.pool, &code)
            .await?
            .is_none()
        {
            return Err(ApiError::new(
                ErrorCode::UnknownProgramme,
                format!("no programme has the code {code:?}: see `programmes` for the codes"),
            )
            .with_field("programmeCode"));
        }
        let receiver = api.indicator_updates.subscribe();
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(update) => return Some((update, receiver)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a subscriber was too slow and missed updates");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |update| futures::future::ready(update.programme_code == code))
        .map(|update| IndicatorsUpdate {
            programme_code: update.programme_code,
            position: Position(update.position),
        });
        Ok(stream.boxed())
    }
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

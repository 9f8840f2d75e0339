//! The contract's `Subscription`: declared, not served yet.

use async_graphql::{Context, Subscription as SubscriptionRoot};
use futures::stream::BoxStream;

use super::error::ApiError;
use super::principal;
use super::types::JourneyEventNotice;

/// Live notices.
#[derive(Debug, Default, Clone, Copy)]
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// A notice per event recorded, without personal data (ADMIN, AUDITOR, DASHBOARD; PARTNER
    /// sees its own).
    async fn journey_events(
        &self,
        ctx: &Context<'_>,
        programme_code: Option<String>,
    ) -> Result<BoxStream<'static, JourneyEventNotice>, ApiError> {
        principal(ctx)?;
        let _ = programme_code;
        Err(ApiError::not_available(
            "the journeyEvents subscription",
            "projections and indicators (the global event feed)",
        ))
    }
}

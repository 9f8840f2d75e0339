//! The programme aggregate: one stream per programme (aggregate id = its code), holding its
//! registration, its indicator targets and its programme-level activities.
//!
//! Rules: registration and targets are ADMIN only; a programme is registered once, with at
//! least one region, all in its country, an end not before its start, and registered
//! partners; percentage targets are at most 100; activities are recorded by an ADMIN or a
//! partner of the programme, not dated in the future nor before the start, and a trainer's
//! organisation must be registered. An event or activity id already in the stream records
//! nothing.

mod commands;
mod error;
mod events;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use self::commands::{ProgrammeActivity, ProgrammeCommand};
pub use self::error::ProgrammeError;
pub use self::events::{ProgrammeEvent, ProgrammeFact, PROGRAMME_EVENT_VERSION};

use crate::directory::{Directory, DomainServices, ProgrammeFacts};
use crate::ids::{CountryCode, EventId, OrganisationCode, ProgrammeCode, RegionCode};
use crate::values::{
    not_leap_second, optional_text, required_text, text_list, trim_optional_text, trim_text, Actor,
    IndicatorCode, IndicatorKind, Role, TargetValue, MAX_DESCRIPTION_CHARS, MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
};
use crate::MAX_CLOCK_SKEW;

/// The largest target of a percentage indicator, in hundredths (100 %).
const MAX_PERCENTAGE_HUNDREDTHS: i64 = 100 * 100;

/// What a programme's registration says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeRegistration {
    /// Code.
    pub code: ProgrammeCode,
    /// Name.
    pub name: String,
    /// Country.
    pub country: CountryCode,
    /// Regions.
    pub regions: Vec<RegionCode>,
    /// Start.
    pub start_date: NaiveDate,
    /// Planned end.
    pub end_date: Option<NaiveDate>,
    /// Donors.
    pub donors: Vec<String>,
    /// Partner organisations.
    pub partners: Vec<OrganisationCode>,
    /// Description.
    pub description: Option<String>,
}

/// A programme-level activity as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// The client's idempotency key.
    pub activity_id: EventId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: OrganisationCode,
    /// What happened.
    pub activity: ProgrammeActivity,
}

/// A programme's stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Programme {
    registration: Option<ProgrammeRegistration>,
    targets: BTreeMap<IndicatorCode, TargetValue>,
    activities: Vec<ActivityRecord>,
    event_ids: BTreeSet<EventId>,
    version: u64,
}

impl Programme {
    /// The registration, or `None` before it.
    pub fn registration(&self) -> Option<&ProgrammeRegistration> {
        self.registration.as_ref()
    }

    /// Whether the programme is registered.
    pub fn is_registered(&self) -> bool {
        self.registration.is_some()
    }

    /// The facts the beneficiary rules need, once registered.
    pub fn facts(&self) -> Option<ProgrammeFacts> {
        self.registration.as_ref().map(|r| ProgrammeFacts {
            code: r.code.clone(),
            start_date: r.start_date,
            end_date: r.end_date,
            regions: r.regions.clone(),
            partners: r.partners.clone(),
        })
    }

    /// The code, once registered.
    pub fn code(&self) -> Option<&ProgrammeCode> {
        self.registration.as_ref().map(|r| &r.code)
    }

    /// The name, once registered.
    pub fn name(&self) -> Option<&str> {
        self.registration.as_ref().map(|r| r.name.as_str())
    }

    /// The donors (empty before registration).
    pub fn donors(&self) -> &[String] {
        self.registration.as_ref().map_or(&[], |r| &r.donors)
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.registration
            .as_ref()
            .and_then(|r| r.description.as_deref())
    }

    /// The latest target of each indicator that has one.
    pub fn targets(&self) -> &BTreeMap<IndicatorCode, TargetValue> {
        &self.targets
    }

    /// The latest target of `indicator`.
    pub fn target(&self, indicator: IndicatorCode) -> Option<TargetValue> {
        self.targets.get(&indicator).copied()
    }

    /// The activities recorded, in stream order.
    pub fn activities(&self) -> &[ActivityRecord] {
        &self.activities
    }

    /// The stream version: the number of events applied.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether `event_id` is in this stream.
    pub fn contains_event(&self, event_id: EventId) -> bool {
        self.event_ids.contains(&event_id)
    }

    /// Decides `command`: the events to record (none for a resubmission), or the rule it
    /// breaks. Pure and synchronous.
    pub fn decide(
        &self,
        command: ProgrammeCommand,
        services: &DomainServices,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        let directory = services.directory.as_ref();
        match command {
            ProgrammeCommand::Register {
                code,
                name,
                country,
                regions,
                start_date,
                end_date,
                donors,
                partners,
                description,
                event_id,
                actor,
                now,
            } => {
                if self.contains_event(event_id) {
                    return Ok(Vec::new());
                }
                require_admin(&actor)?;
                if let Some(registration) = &self.registration {
                    return Err(ProgrammeError::AlreadyRegistered {
                        code: registration.code.clone(),
                    });
                }
                let name = trim_text(name);
                let donors: Vec<String> = donors.into_iter().map(trim_text).collect();
                let description = trim_optional_text(description);
                required_text(&name, MAX_NAME_CHARS).map_err(ProgrammeError::invalid("name"))?;
                if regions.is_empty() {
                    return Err(ProgrammeError::NoRegions);
                }
                if let Some(region) = regions.iter().find(|r| r.country() != country) {
                    return Err(ProgrammeError::RegionOutsideCountry {
                        region: region.clone(),
                        country,
                    });
                }
                if let Some(end_date) = end_date {
                    if end_date < start_date {
                        return Err(ProgrammeError::EndBeforeStart {
                            start_date,
                            end_date,
                        });
                    }
                }
                text_list(&donors, MAX_LIST_ITEMS, MAX_NAME_CHARS)
                    .map_err(ProgrammeError::invalid("donors"))?;
                if let Some(partner) = partners.iter().find(|p| !directory.organisation_exists(p)) {
                    return Err(ProgrammeError::UnknownPartner {
                        organisation: partner.clone(),
                    });
                }
                optional_text(description.as_deref(), MAX_DESCRIPTION_CHARS)
                    .map_err(ProgrammeError::invalid("description"))?;
                Ok(vec![ProgrammeEvent {
                    event_id,
                    occurred_at: now,
                    recorded_by: actor.organisation,
                    fact: ProgrammeFact::ProgrammeRegistered {
                        code,
                        name,
                        country,
                        regions,
                        start_date,
                        end_date,
                        donors,
                        partners,
                        description,
                    },
                }])
            }
            ProgrammeCommand::SetTarget {
                indicator,
                target,
                event_id,
                actor,
                now,
            } => {
                if self.contains_event(event_id) {
                    return Ok(Vec::new());
                }
                require_admin(&actor)?;
                if self.registration.is_none() {
                    return Err(ProgrammeError::NotRegistered);
                }
                if indicator.kind() == IndicatorKind::Percentage
                    && target.hundredths() > MAX_PERCENTAGE_HUNDREDTHS
                {
                    return Err(ProgrammeError::TargetOutOfRange { indicator, target });
                }
                Ok(vec![ProgrammeEvent {
                    event_id,
                    occurred_at: now,
                    recorded_by: actor.organisation,
                    fact: ProgrammeFact::IndicatorTargetSet { indicator, target },
                }])
            }
            ProgrammeCommand::RecordActivity {
                activity_id,
                occurred_at,
                actor,
                now,
                activity,
            } => self.decide_activity(activity_id, occurred_at, actor, now, activity, directory),
        }
    }

    fn decide_activity(
        &self,
        activity_id: EventId,
        occurred_at: DateTime<Utc>,
        actor: Actor,
        now: DateTime<Utc>,
        activity: ProgrammeActivity,
        directory: &dyn Directory,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        if self.contains_event(activity_id) {
            return Ok(Vec::new());
        }
        if !actor.role.may_write() {
            return Err(ProgrammeError::Forbidden { role: actor.role });
        }
        let registration = self
            .registration
            .as_ref()
            .ok_or(ProgrammeError::NotRegistered)?;
        if actor.role == Role::Partner && !registration.partners.contains(&actor.organisation) {
            return Err(ProgrammeError::NotProgrammePartner {
                organisation: actor.organisation,
                programme: registration.code.clone(),
            });
        }
        not_leap_second(occurred_at).map_err(ProgrammeError::invalid("occurredAt"))?;
        if occurred_at > now + MAX_CLOCK_SKEW {
            return Err(ProgrammeError::DatedInFuture { occurred_at, now });
        }
        let date = occurred_at.date_naive();
        if date < registration.start_date {
            return Err(ProgrammeError::DatedBeforeStart {
                date,
                start_date: registration.start_date,
            });
        }
        let fact = match activity {
            ProgrammeActivity::CompanyEngaged {
                company_name,
                rse_labelled,
            } => {
                let company_name = trim_text(company_name);
                required_text(&company_name, MAX_NAME_CHARS)
                    .map_err(ProgrammeError::invalid("companyName"))?;
                ProgrammeFact::CompanyEngaged {
                    company_name,
                    rse_labelled,
                }
            }
            ProgrammeActivity::TrainerTrained {
                trainer_name,
                organisation_code,
            } => {
                let trainer_name = trim_text(trainer_name);
                required_text(&trainer_name, MAX_NAME_CHARS)
                    .map_err(ProgrammeError::invalid("trainerName"))?;
                if !directory.organisation_exists(&organisation_code) {
                    return Err(ProgrammeError::UnknownOrganisation {
                        organisation: organisation_code,
                    });
                }
                ProgrammeFact::TrainerTrained {
                    trainer_name,
                    organisation_code,
                }
            }
        };
        Ok(vec![ProgrammeEvent {
            event_id: activity_id,
            occurred_at,
            recorded_by: actor.organisation,
            fact,
        }])
    }
}

fn require_admin(actor: &Actor) -> Result<(), ProgrammeError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(ProgrammeError::Forbidden { role: actor.role })
    }
}

impl Aggregate for Programme {
    const TYPE: &'static str = "Programme";
    type Command = ProgrammeCommand;
    type Event = ProgrammeEvent;
    type Error = ProgrammeError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command, services)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        self.event_ids.insert(event.event_id);
        match event.fact {
            ProgrammeFact::ProgrammeRegistered {
                code,
                name,
                country,
                regions,
                start_date,
                end_date,
                donors,
                partners,
                description,
            } => {
                self.registration = Some(ProgrammeRegistration {
                    code,
                    name,
                    country,
                    regions,
                    start_date,
                    end_date,
                    donors,
                    partners,
                    description,
                });
            }
            ProgrammeFact::IndicatorTargetSet { indicator, target } => {
                self.targets.insert(indicator, target);
            }
            ProgrammeFact::CompanyEngaged {
                company_name,
                rse_labelled,
            } => self.activities.push(ActivityRecord {
                activity_id: event.event_id,
                occurred_at: event.occurred_at,
                recorded_by: event.recorded_by,
                activity: ProgrammeActivity::CompanyEngaged {
                    company_name,
                    rse_labelled,
                },
            }),
            ProgrammeFact::TrainerTrained {
                trainer_name,
                organisation_code,
            } => self.activities.push(ActivityRecord {
                activity_id: event.event_id,
                occurred_at: event.occurred_at,
                recorded_by: event.recorded_by,
                activity: ProgrammeActivity::TrainerTrained {
                    trainer_name,
                    organisation_code,
                },
            }),
        }
    }
}

//! The organisation aggregate: one stream per organisation (aggregate id = its code).
//!
//! Rules: only an ADMIN registers an organisation, once, with a name. The recording
//! organisation may be any code, so that the very first ADMIN can be bootstrapped from the
//! command line for an organisation that is not registered yet. An event id already in the
//! stream records nothing.

mod commands;
mod error;
mod events;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use self::commands::OrganisationCommand;
pub use self::error::OrganisationError;
pub use self::events::{OrganisationEvent, OrganisationFact, ORGANISATION_EVENT_VERSION};

use crate::directory::DomainServices;
use crate::ids::{EventId, OrganisationCode};
use crate::values::{optional_text, required_text, trim_optional_text, trim_text, MAX_NAME_CHARS};

/// An organisation's stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organisation {
    registration: Option<Registration>,
    event_ids: Vec<EventId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Registration {
    code: OrganisationCode,
    name: String,
    kind: Option<String>,
}

impl Organisation {
    /// The code, once registered.
    pub fn code(&self) -> Option<&OrganisationCode> {
        self.registration.as_ref().map(|r| &r.code)
    }

    /// The name, once registered.
    pub fn name(&self) -> Option<&str> {
        self.registration.as_ref().map(|r| r.name.as_str())
    }

    /// The kind, if given.
    pub fn kind(&self) -> Option<&str> {
        self.registration.as_ref().and_then(|r| r.kind.as_deref())
    }

    /// Whether the organisation is registered.
    pub fn is_registered(&self) -> bool {
        self.registration.is_some()
    }

    /// The stream version: the number of events applied.
    pub fn version(&self) -> u64 {
        self.event_ids.len() as u64
    }

    /// Decides `command`: the events to record (none for a resubmission), or the rule it
    /// breaks. Pure and synchronous.
    pub fn decide(
        &self,
        command: OrganisationCommand,
    ) -> Result<Vec<OrganisationEvent>, OrganisationError> {
        let OrganisationCommand::Register {
            code,
            name,
            kind,
            event_id,
            actor,
            now,
        } = command;
        if self.event_ids.contains(&event_id) {
            return Ok(Vec::new());
        }
        if !actor.is_admin() {
            return Err(OrganisationError::Forbidden { role: actor.role });
        }
        if let Some(registration) = &self.registration {
            return Err(OrganisationError::AlreadyRegistered {
                code: registration.code.clone(),
            });
        }
        let name = trim_text(name);
        let kind = trim_optional_text(kind);
        required_text(&name, MAX_NAME_CHARS).map_err(|problem| OrganisationError::Invalid {
            field: "name",
            problem,
        })?;
        optional_text(kind.as_deref(), MAX_NAME_CHARS).map_err(|problem| {
            OrganisationError::Invalid {
                field: "kind",
                problem,
            }
        })?;
        Ok(vec![OrganisationEvent {
            event_id,
            occurred_at: now,
            recorded_by: actor.organisation,
            fact: OrganisationFact::Registered { code, name, kind },
        }])
    }
}

impl Aggregate for Organisation {
    const TYPE: &'static str = "Organisation";
    type Command = OrganisationCommand;
    type Event = OrganisationEvent;
    type Error = OrganisationError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.event_ids.push(event.event_id);
        match event.fact {
            OrganisationFact::Registered { code, name, kind } => {
                self.registration = Some(Registration { code, name, kind });
            }
        }
    }
}

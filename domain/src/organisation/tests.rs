//! Given/when/then tests of the organisation rules.

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};

use super::*;
use crate::test_support::*;
use crate::values::{Actor, Role, ValueError};
use crate::ErrorCode;

fn register(actor: Actor, n: u128, name: &str, kind: Option<&str>) -> OrganisationCommand {
    OrganisationCommand::Register {
        code: org("REMESS"),
        name: name.into(),
        kind: kind.map(str::to_owned),
        event_id: eid(n),
        actor,
        now: now(),
    }
}

fn registered(n: u128, by: &str) -> OrganisationEvent {
    OrganisationEvent {
        event_id: eid(n),
        occurred_at: now(),
        recorded_by: org(by),
        fact: OrganisationFact::Registered {
            code: org("REMESS"),
            name: "Réseau Marocain de l'Economie Sociale et Solidaire".into(),
            kind: Some("network".into()),
        },
    }
}

const NAME: &str = "Réseau Marocain de l'Economie Sociale et Solidaire";

fn given(events: Vec<OrganisationEvent>) -> AggregateTestExecutor<Organisation> {
    TestFramework::<Organisation>::with(services()).given(events)
}

#[test]
fn an_admin_registers_an_organisation() {
    given(vec![])
        .when(register(admin(), 1, NAME, Some("network")))
        .then_expect_events(vec![registered(1, "ADMINS")]);
}

#[test]
fn the_first_admin_may_belong_to_an_unregistered_organisation() {
    // Bootstrapping: the recording organisation need not exist in the directory.
    given(vec![])
        .when(register(
            actor("NOT-YET", Role::Admin),
            1,
            NAME,
            Some(" network "),
        ))
        .then_expect_events(vec![registered(1, "NOT-YET")]);
}

#[test]
fn only_an_admin_registers_an_organisation() {
    for role in [Role::Partner, Role::Auditor, Role::Dashboard] {
        given(vec![])
            .when(register(actor("REMESS", role), 1, NAME, None))
            .then_expect_error(OrganisationError::Forbidden { role });
    }
}

#[test]
fn an_organisation_is_registered_once() {
    given(vec![registered(1, "ADMINS")])
        .when(register(admin(), 2, NAME, None))
        .then_expect_error(OrganisationError::AlreadyRegistered {
            code: org("REMESS"),
        });
    given(vec![registered(1, "ADMINS")])
        .when(register(admin(), 1, NAME, Some("network")))
        .then_expect_events(vec![]);
}

#[test]
fn an_organisation_has_a_name() {
    given(vec![])
        .when(register(admin(), 1, " ", None))
        .then_expect_error(OrganisationError::Invalid {
            field: "name",
            problem: ValueError::Empty,
        });
}

#[test]
fn an_organisation_s_texts_hold_no_control_character() {
    given(vec![])
        .when(register(admin(), 1, "REMESS\u{0}", None))
        .then_expect_error(OrganisationError::Invalid {
            field: "name",
            problem: ValueError::ControlCharacter {
                code_point: 0,
                position: 7,
            },
        });
    given(vec![])
        .when(register(admin(), 1, NAME, Some("\u{7}network")))
        .then_expect_error(OrganisationError::Invalid {
            field: "kind",
            problem: ValueError::ControlCharacter {
                code_point: 7,
                position: 1,
            },
        });
}

#[test]
fn the_state_and_the_event_shape() {
    let mut organisation = Organisation::default();
    assert_eq!(organisation.code(), None);
    organisation.apply(registered(1, "ADMINS"));
    assert_eq!(organisation.code(), Some(&org("REMESS")));
    assert_eq!(organisation.name(), Some(NAME));
    assert_eq!(organisation.kind(), Some("network"));
    assert!(organisation.is_registered());
    assert_eq!(organisation.version(), 1);
    assert_eq!(
        registered(1, "ADMINS").event_type(),
        "OrganisationRegistered"
    );
    assert_eq!(registered(1, "ADMINS").event_version(), "1.0");
    assert_eq!(Organisation::TYPE, "Organisation");
    let error = OrganisationError::AlreadyRegistered {
        code: org("REMESS"),
    };
    assert_eq!(
        (error.code(), error.field()),
        (ErrorCode::Validation, Some("code"))
    );
    let error = OrganisationError::Forbidden {
        role: Role::Partner,
    };
    assert_eq!((error.code(), error.field()), (ErrorCode::Forbidden, None));
}

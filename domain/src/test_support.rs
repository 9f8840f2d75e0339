//! Fixtures shared by the aggregates' given/when/then tests.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use crate::directory::{DomainServices, ProgrammeFacts, StaticDirectory};
use crate::ids::{EventId, OrganisationCode, ProgrammeCode, RegionCode};
use crate::values::{Actor, Role};

pub(crate) fn org(code: &str) -> OrganisationCode {
    OrganisationCode::parse(code).unwrap()
}

pub(crate) fn programme_code() -> ProgrammeCode {
    ProgrammeCode::parse("AMUDDU-RSK").unwrap()
}

pub(crate) fn region(code: &str) -> RegionCode {
    RegionCode::parse(code).unwrap()
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The programme's start date.
pub(crate) fn start_date() -> NaiveDate {
    date(2023, 1, 1)
}

/// 2024-03-01 09:00 UTC plus `days`.
pub(crate) fn at(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap() + Duration::days(days)
}

/// The server's clock in every test: 2024-12-31 12:00 UTC.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 12, 31, 12, 0, 0).unwrap()
}

pub(crate) fn eid(n: u128) -> EventId {
    EventId::new(Uuid::from_u128(n))
}

pub(crate) fn actor(code: &str, role: Role) -> Actor {
    Actor::new(org(code), role)
}

/// An administrator from an organisation that is not a partner of the programme.
pub(crate) fn admin() -> Actor {
    actor("ADMINS", Role::Admin)
}

/// The partner that identifies beneficiaries in the tests.
pub(crate) fn remess() -> Actor {
    actor("REMESS", Role::Partner)
}

/// Another partner of the programme.
pub(crate) fn enabel() -> Actor {
    actor("ENABEL", Role::Partner)
}

/// A registered organisation that is not a partner of the programme.
pub(crate) fn iom() -> Actor {
    actor("IOM", Role::Partner)
}

pub(crate) fn programme_facts() -> ProgrammeFacts {
    ProgrammeFacts {
        code: programme_code(),
        start_date: start_date(),
        end_date: Some(date(2026, 12, 31)),
        regions: vec![region("MA-04"), region("MA-06")],
        partners: vec![org("REMESS"), org("ENABEL"), org("ANAPEC")],
    }
}

pub(crate) fn directory() -> StaticDirectory {
    ["REMESS", "ENABEL", "ANAPEC", "IOM", "CEFA"]
        .into_iter()
        .fold(
            StaticDirectory::new().with_programme(programme_facts()),
            |directory, code| directory.with_organisation(org(code)),
        )
}

pub(crate) fn services() -> DomainServices {
    DomainServices::new(directory())
}

//! What the journey rules need to know about programmes and organisations, behind a narrow,
//! synchronous trait. The caller loads the facts (from the programme and organisation streams)
//! before running a command; the domain never fetches anything itself.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{OrganisationCode, ProgrammeCode, RegionCode};

/// The facts about a registered programme that the beneficiary rules consult.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeFacts {
    /// The programme.
    pub code: ProgrammeCode,
    /// No journey event may be dated before this.
    pub start_date: NaiveDate,
    /// Planned end, if known (informative: follow-up continues after it).
    pub end_date: Option<NaiveDate>,
    /// Where beneficiaries may be identified.
    pub regions: Vec<RegionCode>,
    /// The organisations that may record journeys in this programme.
    pub partners: Vec<OrganisationCode>,
}

impl ProgrammeFacts {
    /// Whether `region` is one of the programme's regions.
    pub fn has_region(&self, region: &RegionCode) -> bool {
        self.regions.contains(region)
    }

    /// Whether `organisation` is a partner of the programme.
    pub fn has_partner(&self, organisation: &OrganisationCode) -> bool {
        self.partners.contains(organisation)
    }
}

/// The registered programmes and organisations, as the rules see them.
pub trait Directory: Send + Sync {
    /// The programme's facts, or `None` when it is not registered.
    fn programme(&self, code: &ProgrammeCode) -> Option<ProgrammeFacts>;
    /// Whether the organisation is registered.
    fn organisation_exists(&self, code: &OrganisationCode) -> bool;
}

/// A plain in-memory [`Directory`], for tests and for callers that already hold the facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticDirectory {
    programmes: BTreeMap<ProgrammeCode, ProgrammeFacts>,
    organisations: BTreeSet<OrganisationCode>,
}

impl StaticDirectory {
    /// An empty directory.
    pub fn new() -> StaticDirectory {
        StaticDirectory::default()
    }

    /// With `programme` added (replacing one with the same code).
    #[must_use]
    pub fn with_programme(mut self, programme: ProgrammeFacts) -> StaticDirectory {
        self.add_programme(programme);
        self
    }

    /// With `organisation` registered.
    #[must_use]
    pub fn with_organisation(mut self, organisation: OrganisationCode) -> StaticDirectory {
        self.add_organisation(organisation);
        self
    }

    /// Adds `programme` (replacing one with the same code).
    pub fn add_programme(&mut self, programme: ProgrammeFacts) {
        self.programmes.insert(programme.code.clone(), programme);
    }

    /// Registers `organisation`.
    pub fn add_organisation(&mut self, organisation: OrganisationCode) {
        self.organisations.insert(organisation);
    }
}

impl Directory for StaticDirectory {
    fn programme(&self, code: &ProgrammeCode) -> Option<ProgrammeFacts> {
        self.programmes.get(code).cloned()
    }

    fn organisation_exists(&self, code: &OrganisationCode) -> bool {
        self.organisations.contains(code)
    }
}

/// The services every aggregate's `handle` receives (cqrs-es `Aggregate::Services`).
#[derive(Clone)]
pub struct DomainServices {
    /// Registered programmes and organisations.
    pub directory: Arc<dyn Directory>,
}

impl DomainServices {
    /// Services over `directory`.
    pub fn new(directory: impl Directory + 'static) -> DomainServices {
        DomainServices {
            directory: Arc::new(directory),
        }
    }
}

impl fmt::Debug for DomainServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainServices").finish_non_exhaustive()
    }
}

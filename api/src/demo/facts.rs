//! The facts about real programmes that the demo is built from: `api/data/programmes.json`,
//! embedded in the binary and read into typed values (codes validated on the way in).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use masar_domain::ids::{CountryCode, OrganisationCode, ProgrammeCode, RegionCode};
use masar_domain::values::{IndicatorCode, IndicatorKind};
use serde::Deserialize;

/// The embedded `programmes.json`.
pub const PROGRAMMES_JSON: &str = include_str!("../../data/programmes.json");

/// Start of the programmes whose public pages give none: illustrative, and said to be so in
/// the programme's description and in what the demo prints.
pub const ILLUSTRATIVE_START_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2021, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// How the description of a programme with an illustrative start date says so.
pub const ILLUSTRATIVE_START_NOTE: &str =
    "(illustrative start date: the programme's public pages give none)";

/// People a programme gets when the facts give no figure to scale it by (at scale 1).
pub const DEFAULT_PEOPLE: u32 = 600;

/// What `programmes.json` says, typed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Facts {
    /// Where the facts come from and how to use them.
    pub about: String,
    /// The organisations running the programmes.
    pub organisations: Vec<OrganisationFacts>,
    /// Names of Morocco's regions, by ISO 3166-2 code.
    #[serde(rename = "regions_MA")]
    pub regions: BTreeMap<RegionCode, String>,
    /// The programmes.
    pub programmes: Vec<ProgrammeFacts>,
}

/// An organisation of the facts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrganisationFacts {
    /// Its code.
    pub code: OrganisationCode,
    /// Its name.
    pub name: String,
    /// What kind of organisation it is, as free text (the contract's `Organisation.kind`).
    pub kind: Option<String>,
}

/// A programme of the facts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProgrammeFacts {
    /// Its code.
    pub code: ProgrammeCode,
    /// Its name.
    pub name: String,
    /// The country it runs in.
    pub country: CountryCode,
    /// Its regions.
    pub regions: Vec<RegionCode>,
    /// The cities it names, if any.
    #[serde(default)]
    pub cities: Vec<String>,
    /// Its published start, if any.
    pub start_date: Option<NaiveDate>,
    /// Its published end, if any.
    pub end_date: Option<NaiveDate>,
    /// Its donors.
    #[serde(default)]
    pub donors: Vec<String>,
    /// The organisations that run it.
    pub partners: Vec<OrganisationCode>,
    /// What it does.
    pub notes: Option<String>,
    /// Its published indicator targets.
    #[serde(default)]
    pub targets: BTreeMap<IndicatorCode, f64>,
    /// Its published number of beneficiaries, if any.
    pub beneficiaries_total_approx: Option<u32>,
    /// Its budget, if published.
    pub budget: Option<Budget>,
}

/// A programme's published budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Budget {
    /// The amount.
    pub amount: f64,
    /// ISO 4217 currency code.
    pub currency: String,
}

impl Facts {
    /// The embedded facts.
    pub fn embedded() -> anyhow::Result<Facts> {
        Facts::parse(PROGRAMMES_JSON)
    }

    /// Reads `json` and checks that every programme's partners are organisations of the
    /// facts.
    pub fn parse(json: &str) -> anyhow::Result<Facts> {
        let facts: Facts = serde_json::from_str(json).map_err(|error| {
            anyhow::anyhow!("the demo's programme facts cannot be read: {error}")
        })?;
        for programme in &facts.programmes {
            if let Some(partner) = programme
                .partners
                .iter()
                .find(|p| !facts.organisations.iter().any(|o| &o.code == *p))
            {
                anyhow::bail!(
                    "the demo's programme facts name partner {partner} of {} without listing it \
                     among the organisations",
                    programme.code
                );
            }
        }
        Ok(facts)
    }

    /// The organisation with `code`.
    pub fn organisation(&self, code: &OrganisationCode) -> Option<&OrganisationFacts> {
        self.organisations.iter().find(|o| &o.code == code)
    }
}

impl ProgrammeFacts {
    /// The start date: the published one, or [`ILLUSTRATIVE_START_DATE`].
    pub fn start(&self) -> NaiveDate {
        self.start_date.unwrap_or(ILLUSTRATIVE_START_DATE)
    }

    /// Whether the start date is illustrative (not published).
    pub fn has_illustrative_start(&self) -> bool {
        self.start_date.is_none()
    }

    /// The description registered with the programme: its notes, its budget, and the note on
    /// an illustrative start date.
    pub fn description(&self) -> Option<String> {
        let mut parts: Vec<String> = self.notes.iter().cloned().collect();
        if let Some(budget) = &self.budget {
            parts.push(format!("Budget: {} {}.", budget.amount, budget.currency));
        }
        if self.has_illustrative_start() {
            parts.push(format!(
                "Start date {} {ILLUSTRATIVE_START_NOTE}.",
                self.start()
            ));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// How many people the demo records at scale 1: the published total when there is one;
    /// else one and a half times the largest published count of people (so that the targets
    /// can be met after drop-outs); else [`DEFAULT_PEOPLE`].
    pub fn people_at_full_scale(&self) -> u32 {
        if let Some(total) = self.beneficiaries_total_approx {
            return total;
        }
        self.targets
            .iter()
            .filter(|(code, _)| is_people_count(**code))
            .map(|(_, target)| target.max(0.0))
            .fold(None, |max: Option<f64>, target| {
                Some(max.map_or(target, |m| m.max(target)))
            })
            .map_or(DEFAULT_PEOPLE, |largest| (largest * 1.5).round() as u32)
    }
}

/// Whether `code` counts beneficiaries (not percentages, medians, companies or trainers).
fn is_people_count(code: IndicatorCode) -> bool {
    code.kind() == IndicatorKind::Count
        && !matches!(
            code,
            IndicatorCode::CompaniesEngaged
                | IndicatorCode::RseCompaniesEngaged
                | IndicatorCode::TrainersTrained
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_facts_are_read() {
        let facts = Facts::embedded().unwrap();
        assert_eq!(facts.organisations.len(), 10);
        assert_eq!(facts.programmes.len(), 5);
        assert_eq!(facts.regions.len(), 12);
        let work4life = facts
            .programmes
            .iter()
            .find(|p| p.code.as_str() == "WORK4LIFE")
            .unwrap();
        assert_eq!(work4life.people_at_full_scale(), 15_000);
        assert!(!work4life.has_illustrative_start());
        let amuddu = facts
            .programmes
            .iter()
            .find(|p| p.code.as_str() == "AMUDDU-RSK")
            .unwrap();
        assert_eq!(amuddu.targets[&IndicatorCode::FollowUpRate], 75.0);
        // SENSITISED 100 is the largest count of people.
        assert_eq!(amuddu.people_at_full_scale(), 150);
        assert!(amuddu.has_illustrative_start());
        assert!(amuddu
            .description()
            .unwrap()
            .contains(ILLUSTRATIVE_START_NOTE));
        let agents = facts
            .programmes
            .iter()
            .find(|p| p.code.as_str() == "AMUDDU-AGENTS")
            .unwrap();
        assert_eq!(agents.people_at_full_scale(), DEFAULT_PEOPLE);
        assert!(agents.cities.is_empty());
    }

    #[test]
    fn partners_must_be_listed() {
        let json = r#"{"about": "", "organisations": [], "regions_MA": {},
            "programmes": [{"code": "P1", "name": "P", "country": "MA", "regions": ["MA-04"],
            "partners": ["NOPE"]}]}"#;
        let error = Facts::parse(json).unwrap_err().to_string();
        assert!(error.contains("NOPE"), "{error}");
    }

    #[test]
    fn codes_are_validated() {
        let json = r#"{"about": "", "organisations": [{"code": "bad code", "name": "x"}],
            "regions_MA": {}, "programmes": []}"#;
        assert!(Facts::parse(json).is_err());
    }
}

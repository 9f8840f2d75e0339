//! The synthetic population of the demo: plausible journeys drawn from the programme facts
//! by a seeded ChaCha generator, so that the same seed always gives the same people, the same
//! events and the same ids.
//!
//! Each programme draws from its own generator (seeded from the seed and the programme's
//! code), and each person from a generator seeded by the programme's, so that a person is the
//! same whatever the scale: running the demo at a larger scale adds people and leaves the
//! earlier ones as they were. Every id comes from these generators; every date is computed
//! independently of when the demo runs, and only events dated before `cutoff` are kept — an
//! event never depends on a later-dated one, so what is kept is always a valid journey.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use masar_domain::beneficiary::JourneyFact;
use masar_domain::ids::{
    BeneficiaryId, CountryCode, CourseCode, EventId, OrganisationCode, ProgrammeCode, RegionCode,
};
use masar_domain::programme::ProgrammeActivity;
use masar_domain::values::{
    ConsentScope, EmploymentKind, ExitReason, IndicatorCode, LegalStatus, LivingConditions, Money,
    ReferralChannel, ServiceKind, Sex, TrainingKind, VentureKind,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::facts::{Facts, ProgrammeFacts};

/// The seed of `masar demo` unless `--seed` says otherwise.
pub const DEFAULT_SEED: u64 = 20_141_216;

/// The largest `--scale` accepted.
pub const MAX_SCALE: f64 = 100.0;

/// Years over which a programme without a published end recruits and accompanies people.
const OPEN_PROGRAMME_YEARS: u64 = 4;

/// What the plan is drawn with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanOptions {
    /// The generator's seed.
    pub seed: u64,
    /// Multiplies every count (people, companies, trainers).
    pub scale: f64,
}

impl PlanOptions {
    /// Options with `scale` checked: a number above 0 and at most [`MAX_SCALE`].
    pub fn new(seed: u64, scale: f64) -> anyhow::Result<PlanOptions> {
        if !(scale.is_finite() && scale > 0.0 && scale <= MAX_SCALE) {
            anyhow::bail!("scale {scale} is not valid: use a number above 0 and at most {MAX_SCALE}, e.g. 0.1");
        }
        Ok(PlanOptions { seed, scale })
    }
}

/// Everything the demo records: people with their journeys, and programme activities.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The people, in order of identification.
    pub people: Vec<PersonPlan>,
    /// Programme-level activities, in order of date.
    pub activities: Vec<PlannedActivity>,
}

/// One synthetic beneficiary.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonPlan {
    /// The stream.
    pub beneficiary_id: BeneficiaryId,
    /// The programme.
    pub programme: ProgrammeCode,
    /// The partner that identifies the person.
    pub partner: OrganisationCode,
    /// Synthetic personal data to seal into the `Identified` event, for some of the people
    /// who consent to data processing.
    pub contact: Option<Contact>,
    /// The journey, in the order it is recorded (late entries flagged).
    pub events: Vec<PlannedEvent>,
}

/// Synthetic personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct Contact {
    /// A made-up full name.
    pub full_name: String,
    /// A made-up phone number.
    pub phone: String,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contact(<redacted>)")
    }
}

/// One journey event of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    /// The idempotency key.
    pub event_id: EventId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The partner that records it: the identifying one, or one the person was referred to.
    pub recorder: OrganisationCode,
    /// What happened (`Identified` without personal data: see [`PersonPlan::contact`]).
    pub fact: JourneyFact,
    /// A late entry: recorded after the rest of the person's journey although it happened
    /// before some of it.
    pub late: bool,
}

/// One programme-level activity of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedActivity {
    /// The programme.
    pub programme: ProgrammeCode,
    /// The idempotency key.
    pub activity_id: EventId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The partner that records it.
    pub recorder: OrganisationCode,
    /// What happened.
    pub activity: ProgrammeActivity,
}

impl Plan {
    /// How many people each programme gets.
    pub fn people_by_programme(&self) -> BTreeMap<ProgrammeCode, usize> {
        let mut counts = BTreeMap::new();
        for person in &self.people {
            *counts.entry(person.programme.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Every journey event.
    pub fn events(&self) -> impl Iterator<Item = &PlannedEvent> {
        self.people.iter().flat_map(|p| p.events.iter())
    }

    /// How many journey events there are.
    pub fn event_count(&self) -> usize {
        self.people.iter().map(|p| p.events.len()).sum()
    }

    /// How many journey events have the type `type_name`, e.g. `Retracted`.
    pub fn count_of(&self, type_name: &str) -> usize {
        self.events()
            .filter(|e| e.fact.type_name() == type_name)
            .count()
    }

    /// How many events are late entries.
    pub fn late_count(&self) -> usize {
        self.events().filter(|e| e.late).count()
    }
}

/// Draws the plan of every programme of `facts`, keeping only events dated up to `cutoff`.
pub fn plan(facts: &Facts, options: &PlanOptions, cutoff: DateTime<Utc>) -> Plan {
    let mut people = Vec::new();
    let mut activities = Vec::new();
    for programme in &facts.programmes {
        let setting = Setting::new(facts, programme);
        let mut rng = stream_rng(options.seed, programme.code.as_str());
        let count = scaled(programme.people_at_full_scale(), options.scale);
        for _ in 0..count {
            let person_seed: [u8; 32] = rng.random();
            let mut person_rng = ChaCha8Rng::from_seed(person_seed);
            if let Some(person) = person(&setting, &mut person_rng, cutoff) {
                people.push(person);
            }
        }
        let mut rng = stream_rng(
            options.seed,
            &format!("{} activities", programme.code.as_str()),
        );
        activities.extend(programme_activities(
            &setting,
            &mut rng,
            options.scale,
            cutoff,
        ));
    }
    people.sort_by_key(|p| p.events.first().map(|e| e.occurred_at));
    activities.sort_by_key(|a| a.occurred_at);
    Plan { people, activities }
}

/// `count × scale`, rounded, at least 1.
fn scaled(count: u32, scale: f64) -> usize {
    ((f64::from(count) * scale).round() as usize).max(1)
}

/// A generator for `label`, seeded from `seed` and the label.
fn stream_rng(seed: u64, label: &str) -> ChaCha8Rng {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(b"masar demo\0")
        .chain_update(seed.to_le_bytes())
        .chain_update(label.as_bytes())
        .finalize()
        .into();
    ChaCha8Rng::from_seed(digest)
}

/// A version 4 UUID from the generator's bytes.
fn uuid(rng: &mut ChaCha8Rng) -> Uuid {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// True with probability `p`.
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// One of `items`, drawn with their weights; `otherwise` when there is none.
fn weighted<T: Clone>(rng: &mut ChaCha8Rng, items: &[(T, u32)], otherwise: T) -> T {
    let total: u32 = items.iter().map(|(_, w)| *w).sum();
    if total == 0 {
        return otherwise;
    }
    let mut roll = rng.random_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return item.clone();
        }
        roll -= weight;
    }
    otherwise
}

/// One of `items`, uniformly; `""` when there is none.
fn one_of(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    if items.is_empty() {
        return "";
    }
    items[rng.random_range(0..items.len())]
}

/// An instant on `date` during office hours (08:30 to 17:30 UTC).
fn office_hours(rng: &mut ChaCha8Rng, date: NaiveDate) -> DateTime<Utc> {
    let minutes = rng.random_range(0..540u32);
    let time = NaiveTime::from_hms_opt(8 + (30 + minutes) / 60, (30 + minutes) % 60, 0)
        .unwrap_or(NaiveTime::MIN);
    date.and_time(time).and_utc()
}

fn add_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap_or(date)
}

// ------------------------------------------------------------------------------- settings

/// A course a programme offers.
#[derive(Debug, Clone, Copy)]
struct Course {
    code: &'static str,
    name: &'static str,
    kind: TrainingKind,
    sessions: u32,
}

/// How a programme's people are drawn: who they are, and how far along the pathway they go.
/// Probabilities are of the previous step.
#[derive(Debug, Clone, Copy)]
struct Profile {
    female: f64,
    ages: (i32, i32),
    children: f64,
    legal_status: &'static [(LegalStatus, u32)],
    channels: &'static [(ReferralChannel, u32)],
    education: &'static [(&'static str, u32)],
    partner_weights: &'static [(&'static str, u32)],
    courses: &'static [(Course, u32)],
    sensitised: f64,
    skills_assessed: f64,
    enrolled: f64,
    completed: f64,
    incubated: f64,
    launched: f64,
    employed: f64,
    employed_without_training: f64,
}

const SENSITISATION_TOPICS: &[&str] = &[
    "Droits et devoirs des travailleurs au Maroc",
    "Accès aux services de l'ANAPEC",
    "Stratégie nationale d'immigration et d'asile (SNIA)",
    "Économie sociale et solidaire",
    "Santé et accès aux soins",
    "Activités génératrices de revenus",
    "Éducation financière de base",
];

const COMMON_LEGAL_STATUS: &[(LegalStatus, u32)] = &[
    (LegalStatus::RegularisedMigrant, 40),
    (LegalStatus::IrregularMigrant, 28),
    (LegalStatus::Refugee, 15),
    (LegalStatus::AsylumSeeker, 12),
    (LegalStatus::Other, 5),
];

const COMMON_CHANNELS: &[(ReferralChannel, u32)] = &[
    (ReferralChannel::Association, 35),
    (ReferralChannel::CommunityAgent, 20),
    (ReferralChannel::SelfReferral, 18),
    (ReferralChannel::PublicEmploymentAgency, 12),
    (ReferralChannel::SocialServices, 10),
    (ReferralChannel::Employer, 3),
    (ReferralChannel::Other, 2),
];

const COMMON_EDUCATION: &[(&str, u32)] = &[
    ("aucun", 10),
    ("primaire", 22),
    ("secondaire", 35),
    ("baccalauréat", 18),
    ("universitaire", 15),
];

const DEFAULT_PROFILE: Profile = Profile {
    female: 0.4,
    ages: (18, 45),
    children: 0.35,
    legal_status: COMMON_LEGAL_STATUS,
    channels: COMMON_CHANNELS,
    education: COMMON_EDUCATION,
    partner_weights: &[],
    courses: &[
        (
            Course {
                code: "INS-ECO",
                name: "Insertion économique",
                kind: TrainingKind::EconomicInsertion,
                sessions: 5,
            },
            3,
        ),
        (
            Course {
                code: "EDU-FIN",
                name: "Éducation financière",
                kind: TrainingKind::FinancialEducation,
                sessions: 3,
            },
            1,
        ),
    ],
    sensitised: 0.85,
    skills_assessed: 0.35,
    enrolled: 0.6,
    completed: 0.78,
    incubated: 0.2,
    launched: 0.6,
    employed: 0.45,
    employed_without_training: 0.06,
};

/// The profile of a programme of the facts (what its public pages say it does and for whom),
/// or the default one.
fn profile(code: &ProgrammeCode) -> Profile {
    match code.as_str() {
        // Migrants accompanied in Rabat-Salé-Kénitra towards economic insertion and the social
        // economy; targets: 100 sensitised, 80 trained and attending every workshop.
        "AMUDDU-RSK" => Profile {
            partner_weights: &[
                ("REMESS", 5),
                ("ANAPEC", 3),
                ("ENTRAIDE", 3),
                ("ENABEL", 1),
                ("CGLU-AFRIQUE", 1),
            ],
            courses: &[
                (
                    Course {
                        code: "AMD-INS-ECO",
                        name: "Parcours d'insertion économique",
                        kind: TrainingKind::EconomicInsertion,
                        sessions: 6,
                    },
                    4,
                ),
                (
                    Course {
                        code: "AMD-ESS",
                        name: "Entreprendre dans l'économie sociale et solidaire",
                        kind: TrainingKind::Entrepreneurship,
                        sessions: 5,
                    },
                    2,
                ),
                (
                    Course {
                        code: "AMD-DARIJA",
                        name: "Darija pour le travail",
                        kind: TrainingKind::Language,
                        sessions: 8,
                    },
                    1,
                ),
            ],
            sensitised: 0.92,
            enrolled: 0.75,
            completed: 0.85,
            incubated: 0.25,
            ..DEFAULT_PROFILE
        },
        // Community agents in ANAPEC agencies refer peers to employment and training services.
        "AMUDDU-AGENTS" => Profile {
            channels: &[
                (ReferralChannel::CommunityAgent, 70),
                (ReferralChannel::PublicEmploymentAgency, 20),
                (ReferralChannel::SelfReferral, 10),
            ],
            partner_weights: &[("ANAPEC", 6), ("ENTRAIDE", 2), ("ENABEL", 1)],
            courses: &[
                (
                    Course {
                        code: "AGT-TRE",
                        name: "Techniques de recherche d'emploi",
                        kind: TrainingKind::EconomicInsertion,
                        sessions: 3,
                    },
                    3,
                ),
                (
                    Course {
                        code: "AGT-SOFT",
                        name: "Compétences comportementales",
                        kind: TrainingKind::SoftSkills,
                        sessions: 4,
                    },
                    1,
                ),
            ],
            enrolled: 0.45,
            incubated: 0.05,
            employed: 0.55,
            employed_without_training: 0.12,
            ..DEFAULT_PROFILE
        },
        // Skills assessment, vocational training, incubation of income-generating activities,
        // micro-enterprises and cooperatives, internships and salaried jobs.
        "WORK4LIFE" => Profile {
            legal_status: &[
                (LegalStatus::RegularisedMigrant, 35),
                (LegalStatus::Refugee, 25),
                (LegalStatus::AsylumSeeker, 15),
                (LegalStatus::IrregularMigrant, 20),
                (LegalStatus::Other, 5),
            ],
            partner_weights: &[("CEFA", 4), ("SOLETERRE", 3), ("ASTICUDE", 3)],
            courses: &[
                (
                    Course {
                        code: "W4L-VOC-CUISINE",
                        name: "Cuisine et restauration",
                        kind: TrainingKind::Vocational,
                        sessions: 8,
                    },
                    3,
                ),
                (
                    Course {
                        code: "W4L-VOC-BTP",
                        name: "Électricité du bâtiment",
                        kind: TrainingKind::Vocational,
                        sessions: 10,
                    },
                    2,
                ),
                (
                    Course {
                        code: "W4L-VOC-ESTHETIQUE",
                        name: "Coiffure et esthétique",
                        kind: TrainingKind::Vocational,
                        sessions: 8,
                    },
                    2,
                ),
                (
                    Course {
                        code: "W4L-ENTREPRENDRE",
                        name: "Créer et gérer une micro-entreprise",
                        kind: TrainingKind::Entrepreneurship,
                        sessions: 6,
                    },
                    2,
                ),
                (
                    Course {
                        code: "W4L-EDU-FIN",
                        name: "Éducation financière",
                        kind: TrainingKind::FinancialEducation,
                        sessions: 4,
                    },
                    1,
                ),
            ],
            skills_assessed: 0.75,
            enrolled: 0.58,
            incubated: 0.3,
            employed: 0.5,
            ..DEFAULT_PROFILE
        },
        // Regularised female migrants with children: vocational and micro-enterprise training.
        "IOM-FM0390" => Profile {
            female: 0.9,
            children: 0.9,
            legal_status: &[
                (LegalStatus::RegularisedMigrant, 92),
                (LegalStatus::Refugee, 8),
            ],
            courses: &[
                (
                    Course {
                        code: "IOM-COUTURE",
                        name: "Couture et confection",
                        kind: TrainingKind::Vocational,
                        sessions: 10,
                    },
                    3,
                ),
                (
                    Course {
                        code: "IOM-PATISSERIE",
                        name: "Pâtisserie",
                        kind: TrainingKind::Vocational,
                        sessions: 8,
                    },
                    2,
                ),
                (
                    Course {
                        code: "IOM-MICRO-ENTREPRISE",
                        name: "Gestion d'une micro-entreprise",
                        kind: TrainingKind::Entrepreneurship,
                        sessions: 6,
                    },
                    2,
                ),
            ],
            enrolled: 0.7,
            incubated: 0.45,
            employed: 0.35,
            ..DEFAULT_PROFILE
        },
        // Career advisors accompany young graduates to a job, their own activity or
        // cooperative, or further study.
        "MO-279" => Profile {
            ages: (21, 30),
            children: 0.15,
            legal_status: &[
                (LegalStatus::Other, 45),
                (LegalStatus::IrregularMigrant, 25),
                (LegalStatus::Refugee, 15),
                (LegalStatus::AsylumSeeker, 15),
            ],
            education: &[("baccalauréat", 15), ("universitaire", 85)],
            courses: &[
                (
                    Course {
                        code: "MO279-ORIENTATION",
                        name: "Orientation professionnelle",
                        kind: TrainingKind::EconomicInsertion,
                        sessions: 4,
                    },
                    3,
                ),
                (
                    Course {
                        code: "MO279-COOPERATIVE",
                        name: "Créer une coopérative",
                        kind: TrainingKind::Entrepreneurship,
                        sessions: 5,
                    },
                    1,
                ),
            ],
            sensitised: 0.7,
            enrolled: 0.65,
            incubated: 0.15,
            employed: 0.55,
            ..DEFAULT_PROFILE
        },
        _ => DEFAULT_PROFILE,
    }
}

/// Where the cities the facts name are (ISO 3166-2).
const CITY_REGIONS: &[(&str, &str)] = &[
    ("Tanger", "MA-01"),
    ("Tétouan", "MA-01"),
    ("Oujda", "MA-02"),
    ("Fès", "MA-03"),
    ("Rabat", "MA-04"),
    ("Salé", "MA-04"),
    ("Kénitra", "MA-04"),
    ("Béni Mellal", "MA-05"),
    ("Casablanca", "MA-06"),
];

/// Nationalities of the people accompanied: mostly West and Central African, some Syrian
/// and Yemeni refugees.
const NATIONALITIES: &[(&str, u32)] = &[
    ("CI", 18),
    ("GN", 14),
    ("SN", 12),
    ("CM", 12),
    ("ML", 10),
    ("CD", 8),
    ("NG", 7),
    ("SY", 5),
    ("YE", 3),
];

/// A programme and everything drawn from its facts.
struct Setting<'a> {
    facts: &'a ProgrammeFacts,
    profile: Profile,
    partners: Vec<(OrganisationCode, u32)>,
    /// Where people are identified: (region, city), weighted.
    places: Vec<((RegionCode, Option<String>), u32)>,
    region_names: BTreeMap<RegionCode, String>,
    start: NaiveDate,
    /// Last day of identification.
    recruitment_end: NaiveDate,
    /// The programme's end (published, or the open programme's horizon).
    end: NaiveDate,
    nationalities: Vec<(CountryCode, u32)>,
}

impl<'a> Setting<'a> {
    fn new(facts: &'a Facts, programme: &'a ProgrammeFacts) -> Setting<'a> {
        let profile = profile(&programme.code);
        let partners = programme
            .partners
            .iter()
            .map(|code| {
                let weight = profile
                    .partner_weights
                    .iter()
                    .find(|(c, _)| *c == code.as_str())
                    .map_or(1, |(_, w)| *w);
                (code.clone(), weight)
            })
            .collect();
        let mut places: Vec<((RegionCode, Option<String>), u32)> = Vec::new();
        for region in &programme.regions {
            let cities: Vec<&String> = programme
                .cities
                .iter()
                .filter(|city| {
                    CITY_REGIONS
                        .iter()
                        .any(|(c, r)| c == city && *r == region.as_str())
                })
                .collect();
            if cities.is_empty() {
                places.push(((region.clone(), None), 2));
            }
            for city in cities {
                // The large cities see more people.
                let weight = match city.as_str() {
                    "Casablanca" => 4,
                    "Rabat" | "Tanger" => 3,
                    _ => 2,
                };
                places.push(((region.clone(), Some(city.clone())), weight));
            }
        }
        let start = programme.start();
        let end = programme
            .end_date
            .unwrap_or_else(|| add_days(start, OPEN_PROGRAMME_YEARS * 365));
        let recruitment_end = end
            .checked_sub_days(Days::new(90))
            .unwrap_or(end)
            .max(add_days(start, 30));
        let nationalities = NATIONALITIES
            .iter()
            .filter_map(|(code, w)| CountryCode::parse(code).ok().map(|c| (c, *w)))
            .collect();
        Setting {
            facts: programme,
            profile,
            partners,
            places,
            region_names: facts.regions.clone(),
            start,
            recruitment_end,
            end,
            nationalities,
        }
    }

    fn other_partners(&self, partner: &OrganisationCode) -> Vec<OrganisationCode> {
        self.partners
            .iter()
            .map(|(code, _)| code.clone())
            .filter(|code| code != partner)
            .collect()
    }
}

// -------------------------------------------------------------------------------- people

/// A journey being drawn: the events so far and the clock of the pathway.
struct Journey {
    events: Vec<PlannedEvent>,
    /// The date of the latest step of the pathway.
    cursor: NaiveDate,
    /// The latest instant of any event so far.
    latest: DateTime<Utc>,
}

impl Journey {
    /// Appends `fact`, happening `min..=max` days after the previous step.
    fn next(
        &mut self,
        rng: &mut ChaCha8Rng,
        days: (u64, u64),
        recorder: &OrganisationCode,
        fact: JourneyFact,
    ) -> usize {
        let date = add_days(self.cursor, rng.random_range(days.0..=days.1));
        let at = office_hours(rng, date);
        self.cursor = date;
        self.at(rng, at, recorder, fact)
    }

    /// Appends `fact`, happening at `at`, without moving the pathway's clock.
    fn at(
        &mut self,
        rng: &mut ChaCha8Rng,
        at: DateTime<Utc>,
        recorder: &OrganisationCode,
        fact: JourneyFact,
    ) -> usize {
        let event_id = EventId::new(uuid(rng));
        self.latest = self.latest.max(at);
        self.events.push(PlannedEvent {
            event_id,
            occurred_at: at,
            recorder: recorder.clone(),
            fact,
            late: false,
        });
        self.events.len() - 1
    }
}

/// Draws one person of the programme; `None` when they would be identified after `cutoff`.
fn person(s: &Setting<'_>, rng: &mut ChaCha8Rng, cutoff: DateTime<Utc>) -> Option<PersonPlan> {
    let beneficiary_id = BeneficiaryId::new(uuid(rng));
    let (mut d, contact) = Draw::identify(s, rng)?;
    d.sensitise();
    let insertion_recorder = d.refer();
    let training = d.training();
    let insertion = d.insertion(&training, &insertion_recorder);
    let followed_up = insertion.inserted && d.follow_up(&insertion, &insertion_recorder);
    let withdrew_processing = d.withdraw_consent();
    let corrected = d.correct_a_mistake();
    let exited = d.leave(&training, &insertion, followed_up, withdrew_processing);
    // Late entries: steps written down on paper and entered after the rest of the journey
    // (never after an exit, which would refuse them).
    let late_entries = if !exited && chance(d.rng, 0.06) {
        d.rng.random_range(1..=2usize)
    } else {
        0
    };
    let Draw {
        rng, j, partner, ..
    } = d;
    let mut events = j.events;
    events.retain(|e| e.occurred_at <= cutoff);
    if !matches!(
        events.first().map(|e| &e.fact),
        Some(JourneyFact::Identified { .. })
    ) {
        return None;
    }
    flag_late_entries(rng, &mut events, late_entries, &corrected);
    Some(PersonPlan {
        beneficiary_id,
        programme: s.facts.code.clone(),
        partner,
        contact,
        events,
    })
}

/// What became of a person's training.
struct Training {
    enrolled: bool,
    completed: bool,
    dropped: bool,
}

/// What became of a person's search for an income.
struct Insertion {
    inserted: bool,
    employment_ended: bool,
}

/// One person being drawn.
struct Draw<'s, 'r> {
    s: &'s Setting<'s>,
    rng: &'r mut ChaCha8Rng,
    j: Journey,
    /// The identifying partner.
    partner: OrganisationCode,
    consent: BTreeSet<ConsentScope>,
    region: RegionCode,
    /// The city, or the region's name.
    place: Option<String>,
    nationality: CountryCode,
}

impl<'s, 'r> Draw<'s, 'r> {
    /// Who the person is, their identification, and the personal data to seal, if any.
    fn identify(
        s: &'s Setting<'s>,
        rng: &'r mut ChaCha8Rng,
    ) -> Option<(Draw<'s, 'r>, Option<Contact>)> {
        let p = &s.profile;
        let partner = weighted(rng, &s.partners, s.facts.partners.first()?.clone());
        let (region, city) = weighted(rng, &s.places, (s.facts.regions.first()?.clone(), None));
        let recruitment_days = (s.recruitment_end - s.start).num_days().max(1) as u64;
        let identified_on = add_days(s.start, rng.random_range(0..recruitment_days));
        let identified_at = office_hours(rng, identified_on);
        let sex = match rng.random_range(0..1000u32) {
            0..=2 => Sex::Other,
            3..=12 => Sex::Undisclosed,
            roll if f64::from(roll) < 1000.0 * p.female => Sex::Female,
            _ => Sex::Male,
        };
        let age = rng.random_range(p.ages.0..=p.ages.1);
        let birth_year = chance(rng, 0.93).then(|| identified_at.year() - age);
        let nationality = weighted(rng, &s.nationalities, CountryCode::parse("CI").ok()?);
        let legal_status = weighted(rng, p.legal_status, LegalStatus::Other);
        let channel = weighted(rng, p.channels, ReferralChannel::Other);
        let household_with_children = chance(rng, 0.85).then(|| chance(rng, p.children));
        let education_level = chance(rng, 0.8).then(|| weighted(rng, p.education, "").to_owned());
        let mut consent = BTreeSet::new();
        for (scope, p) in [
            (ConsentScope::DataProcessing, 0.93),
            (ConsentScope::FollowUpContact, 0.8),
            (ConsentScope::SharingWithPartners, 0.55),
        ] {
            if chance(rng, p) {
                consent.insert(scope);
            }
        }
        let contact = (consent.contains(&ConsentScope::DataProcessing) && chance(rng, 0.15))
            .then(|| synthetic_contact(rng, nationality.as_str(), sex));
        let place = city
            .clone()
            .or_else(|| s.region_names.get(&region).cloned());
        let mut j = Journey {
            events: Vec::new(),
            cursor: identified_on,
            latest: identified_at,
        };
        j.at(
            rng,
            identified_at,
            &partner,
            JourneyFact::Identified {
                programme_code: s.facts.code.clone(),
                sex,
                birth_year,
                nationality: nationality.clone(),
                legal_status,
                region: region.clone(),
                city,
                channel,
                household_with_children,
                education_level,
                consent: consent.clone(),
                personal_data: None,
            },
        );
        let draw = Draw {
            s,
            rng,
            j,
            partner,
            consent,
            region,
            place,
            nationality,
        };
        Some((draw, contact))
    }

    fn chance(&mut self, p: f64) -> bool {
        chance(self.rng, p)
    }

    /// Appends a step of the pathway recorded by the identifying partner.
    fn step(&mut self, days: (u64, u64), fact: JourneyFact) -> usize {
        let partner = self.partner.clone();
        self.j.next(self.rng, days, &partner, fact)
    }

    /// Sensitisation sessions (sometimes two), then a skills assessment.
    fn sensitise(&mut self) {
        let p = self.s.profile;
        if self.chance(p.sensitised) {
            let sessions = if self.chance(0.1) { 2 } else { 1 };
            for _ in 0..sessions {
                let topic = one_of(self.rng, SENSITISATION_TOPICS).to_owned();
                let session_id = Some(format!(
                    "SENS-{}-{}",
                    self.region.as_str(),
                    self.j.cursor.format("%Y%m")
                ));
                let location = self.place.clone();
                self.step(
                    (1, 30),
                    JourneyFact::Sensitised {
                        topic,
                        session_id,
                        location,
                    },
                );
            }
        }
        if self.chance(p.skills_assessed) {
            let fact = skills_assessed(self.rng, &self.nationality);
            self.step((1, 40), fact);
        }
    }

    /// A referral, for some who agree to sharing: to another partner of the programme (who
    /// may then record the person's insertion), or to a public service. Who records the
    /// insertion.
    fn refer(&mut self) -> OrganisationCode {
        let mut insertion_recorder = self.partner.clone();
        if !(self.consent.contains(&ConsentScope::SharingWithPartners) && self.chance(0.3)) {
            return insertion_recorder;
        }
        let others = self.s.other_partners(&self.partner);
        if !others.is_empty() && self.chance(0.6) {
            let to = others[self.rng.random_range(0..others.len())].clone();
            let service = match to.as_str() {
                "ANAPEC" => ServiceKind::PublicEmploymentAgency,
                "ENTRAIDE" => ServiceKind::SocialAssistance,
                _ => ServiceKind::PartnerOrganisation,
            };
            self.step(
                (3, 60),
                JourneyFact::Referred {
                    service,
                    organisation_code: Some(to.clone()),
                    note: Some("Orientation vers un partenaire du programme".to_owned()),
                },
            );
            if self.chance(0.6) {
                insertion_recorder = to;
            }
        } else {
            let service = weighted(
                self.rng,
                &[
                    (ServiceKind::Health, 3),
                    (ServiceKind::LegalAid, 3),
                    (ServiceKind::SocialAssistance, 2),
                    (ServiceKind::Education, 1),
                    (ServiceKind::VocationalTrainingCentre, 1),
                ],
                ServiceKind::Other,
            );
            self.step(
                (3, 60),
                JourneyFact::Referred {
                    service,
                    organisation_code: None,
                    note: None,
                },
            );
        }
        insertion_recorder
    }

    /// One course, and sometimes a second one after completing the first.
    fn training(&mut self) -> Training {
        let p = self.s.profile;
        let mut training = Training {
            enrolled: false,
            completed: false,
            dropped: false,
        };
        if !self.chance(p.enrolled) {
            return training;
        }
        training.enrolled = true;
        let first = weighted(self.rng, p.courses, DEFAULT_PROFILE_COURSE);
        if self.course(first, p.completed) {
            training.completed = true;
        } else {
            training.dropped = true;
        }
        if training.completed && self.chance(0.15) {
            let second = weighted(self.rng, p.courses, DEFAULT_PROFILE_COURSE);
            if second.code != first.code {
                self.course(second, 0.85);
            }
        }
        training
    }

    /// Enrols in `course`, attends workshops, then completes it (with probability
    /// `completes`) or drops out. Whether it was completed.
    fn course(&mut self, course: Course, completes: f64) -> bool {
        let Ok(course_code) = CourseCode::parse(course.code) else {
            return false;
        };
        self.step(
            (5, 45),
            JourneyFact::TrainingEnrolled {
                course_code: course_code.clone(),
                course_name: course.name.to_owned(),
                kind: course.kind,
                planned_sessions: course.sessions,
            },
        );
        let completed = self.chance(completes);
        let attended = if completed {
            course.sessions
        } else {
            self.rng.random_range(0..course.sessions)
        };
        // Some who complete missed one session.
        let missed =
            (completed && self.chance(0.1)).then(|| self.rng.random_range(1..=course.sessions));
        for session_number in 1..=attended {
            let gap = if session_number == 1 { (3, 10) } else { (5, 9) };
            if missed == Some(session_number) {
                self.j.cursor = add_days(self.j.cursor, self.rng.random_range(gap.0..=gap.1));
                continue;
            }
            self.step(
                gap,
                JourneyFact::WorkshopAttended {
                    course_code: course_code.clone(),
                    session_number,
                },
            );
        }
        if completed {
            let certified = self.chance(0.85);
            self.step(
                (1, 10),
                JourneyFact::TrainingCompleted {
                    course_code,
                    certified,
                },
            );
        } else {
            let reason = one_of(self.rng, DROP_REASONS).to_owned();
            self.step(
                (3, 25),
                JourneyFact::TrainingDropped {
                    course_code,
                    reason,
                },
            );
        }
        completed
    }

    /// After training, an incubated venture that may launch, or a job (which some find
    /// without training); internships and some jobs end.
    fn insertion(&mut self, training: &Training, recorder: &OrganisationCode) -> Insertion {
        let p = self.s.profile;
        let mut insertion = Insertion {
            inserted: false,
            employment_ended: false,
        };
        if training.completed && self.chance(p.incubated) {
            // The public employment agency does not incubate.
            let recorder = if recorder.as_str() == "ANAPEC" {
                self.partner.clone()
            } else {
                recorder.clone()
            };
            insertion.inserted = self.venture(&recorder);
            return insertion;
        }
        let employed = (training.completed && self.chance(p.employed))
            || (!training.enrolled && self.chance(p.employed_without_training));
        if !employed {
            return insertion;
        }
        let kind = weighted(
            self.rng,
            &[
                (EmploymentKind::Salaried, 55),
                (EmploymentKind::Internship, 30),
                (EmploymentKind::SelfEmployed, 15),
            ],
            EmploymentKind::Salaried,
        );
        let monthly_income = self.chance(0.8).then(|| self.mad(2_600, 5_500)).flatten();
        let employer_name = company_name(self.rng.random_range(0..400));
        let employer_rse_labelled = self.chance(0.2);
        let sector = one_of(self.rng, SECTORS).to_owned();
        self.j.next(
            self.rng,
            (14, 150),
            recorder,
            JourneyFact::Employed {
                kind,
                employer_name,
                employer_rse_labelled,
                sector,
                monthly_income,
            },
        );
        insertion.inserted = true;
        let ends = match kind {
            EmploymentKind::Internship => 0.7,
            _ => 0.15,
        };
        if self.chance(ends) {
            let reason = match kind {
                EmploymentKind::Internship => "Fin du stage",
                _ => one_of(self.rng, EMPLOYMENT_END_REASONS),
            };
            self.j.next(
                self.rng,
                (60, 240),
                recorder,
                JourneyFact::EmploymentEnded {
                    reason: reason.to_owned(),
                },
            );
            insertion.employment_ended = true;
        }
        insertion
    }

    /// An incubation, and for some a business launched. Whether it was launched.
    fn venture(&mut self, recorder: &OrganisationCode) -> bool {
        let (venture_name, kind, sector) = venture(self.rng);
        let incubator = Some(format!(
            "Incubateur {}",
            self.place.as_deref().unwrap_or("régional")
        ));
        self.j.next(
            self.rng,
            (10, 60),
            recorder,
            JourneyFact::IncubationStarted {
                venture_name: venture_name.clone(),
                kind,
                sector,
                incubator,
            },
        );
        if !self.chance(self.s.profile.launched) {
            return false;
        }
        let grant_amount = self.chance(0.4).then(|| self.mad(5_000, 30_000)).flatten();
        let registered = self.chance(0.45);
        self.j.next(
            self.rng,
            (45, 180),
            recorder,
            JourneyFact::BusinessLaunched {
                venture_name,
                registered,
                grant_amount,
            },
        );
        true
    }

    /// A whole number of dirhams between `min` and `max`.
    fn mad(&mut self, min: i64, max: i64) -> Option<Money> {
        Money::from_centimes(self.rng.random_range(min..=max) * 100).ok()
    }

    /// Follow-ups after insertion, for those who may be contacted (some consent only then).
    /// Whether there was one.
    fn follow_up(&mut self, insertion: &Insertion, recorder: &OrganisationCode) -> bool {
        if !self.chance(0.82) {
            return false;
        }
        if !self.consent.contains(&ConsentScope::FollowUpContact) {
            if !self.chance(0.5) {
                return false;
            }
            self.step(
                (1, 20),
                JourneyFact::ConsentGiven {
                    scopes: BTreeSet::from([ConsentScope::FollowUpContact]),
                },
            );
        }
        for visit in 0..self.rng.random_range(1..=3) {
            let still_in_activity = !insertion.employment_ended || (visit == 0 && self.chance(0.3));
            let living_conditions = weighted(
                self.rng,
                &[
                    (LivingConditions::Improved, 60),
                    (LivingConditions::Unchanged, 30),
                    (LivingConditions::Worsened, 10),
                ],
                LivingConditions::Unchanged,
            );
            let monthly_income = (still_in_activity && self.chance(0.6))
                .then(|| self.mad(2_600, 7_000))
                .flatten();
            let gap = if visit == 0 { (60, 120) } else { (90, 200) };
            self.j.next(
                self.rng,
                gap,
                recorder,
                JourneyFact::FollowedUp {
                    still_in_activity,
                    living_conditions,
                    monthly_income,
                    notes: None,
                },
            );
        }
        true
    }

    /// Consent withdrawn: to sharing, now and then; to data processing, rarely. Whether data
    /// processing was withdrawn (the person then leaves).
    fn withdraw_consent(&mut self) -> bool {
        if self.consent.contains(&ConsentScope::SharingWithPartners) && self.chance(0.02) {
            self.step(
                (5, 90),
                JourneyFact::ConsentWithdrawn {
                    scopes: BTreeSet::from([ConsentScope::SharingWithPartners]),
                },
            );
        }
        if !(self.consent.contains(&ConsentScope::DataProcessing) && self.chance(0.004)) {
            return false;
        }
        self.step(
            (5, 90),
            JourneyFact::ConsentWithdrawn {
                scopes: BTreeSet::from([ConsentScope::DataProcessing]),
            },
        );
        true
    }

    /// For a few, a mistake corrected: an event retracted a few days later, and a wrongly
    /// dated workshop entered again. The retracted and re-entered events.
    fn correct_a_mistake(&mut self) -> BTreeSet<EventId> {
        let mut involved = BTreeSet::new();
        if !self.chance(0.04) {
            return involved;
        }
        let candidates: Vec<usize> = self
            .j
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                matches!(
                    e.fact,
                    JourneyFact::Sensitised { .. }
                        | JourneyFact::SkillsAssessed { .. }
                        | JourneyFact::WorkshopAttended { .. }
                )
            })
            .map(|(index, _)| index)
            .collect();
        if candidates.is_empty() {
            return involved;
        }
        let target = &self.j.events[candidates[self.rng.random_range(0..candidates.len())]];
        let (target_id, target_at, target_fact, recorder) = (
            target.event_id,
            target.occurred_at,
            target.fact.clone(),
            target.recorder.clone(),
        );
        let corrected =
            matches!(target_fact, JourneyFact::WorkshopAttended { .. }) && self.chance(0.6);
        let reason = if corrected {
            "Mauvaise date de séance : ressaisie avec la bonne date"
        } else {
            one_of(self.rng, RETRACTION_REASONS)
        };
        let retracted_at = target_at + TimeDelta::days(self.rng.random_range(1..=20));
        self.j.at(
            self.rng,
            retracted_at,
            &recorder,
            JourneyFact::Retracted {
                retracted_event_id: target_id,
                reason: reason.to_owned(),
            },
        );
        involved.insert(target_id);
        if corrected {
            let index = self.j.at(
                self.rng,
                retracted_at + TimeDelta::minutes(5),
                &recorder,
                target_fact,
            );
            involved.insert(self.j.events[index].event_id);
        }
        involved
    }

    /// Leaving the programme: after withdrawing consent, after dropping out or never
    /// starting, or having completed the pathway; a few exits are retracted as mistakes.
    /// Whether the person left.
    fn leave(
        &mut self,
        training: &Training,
        insertion: &Insertion,
        followed_up: bool,
        withdrew_processing: bool,
    ) -> bool {
        let reason = if withdrew_processing {
            ExitReason::Declined
        } else if (training.dropped && self.chance(0.5))
            || (!training.enrolled && !insertion.inserted && self.chance(0.15))
        {
            weighted(
                self.rng,
                &[
                    (ExitReason::LostContact, 45),
                    (ExitReason::MovedAway, 30),
                    (ExitReason::Declined, 20),
                    (ExitReason::Other, 4),
                    (ExitReason::Deceased, 1),
                ],
                ExitReason::LostContact,
            )
        } else if followed_up && self.chance(0.3) {
            ExitReason::Completed
        } else {
            return false;
        };
        // After everything else, retractions included.
        self.j.cursor = self.j.latest.date_naive();
        let notes = match reason {
            ExitReason::MovedAway => Some("Départ vers une autre ville".to_owned()),
            _ => None,
        };
        let exit = self.step((7, 90), JourneyFact::Exited { reason, notes });
        if self.chance(0.04) {
            let exit_id = self.j.events[exit].event_id;
            self.step(
                (2, 30),
                JourneyFact::Retracted {
                    retracted_event_id: exit_id,
                    reason: "Sortie saisie par erreur : la personne poursuit son parcours"
                        .to_owned(),
                },
            );
        }
        true
    }
}

/// Flags up to `count` of `events` as late entries: steps that nothing depends on, dated
/// before the journey's last event, and not part of a correction.
fn flag_late_entries(
    rng: &mut ChaCha8Rng,
    events: &mut [PlannedEvent],
    count: usize,
    corrected: &BTreeSet<EventId>,
) {
    let last = events.iter().map(|e| e.occurred_at).max();
    let candidates: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            !corrected.contains(&e.event_id)
                && Some(e.occurred_at) < last
                && matches!(
                    e.fact,
                    JourneyFact::Sensitised { .. }
                        | JourneyFact::SkillsAssessed { .. }
                        | JourneyFact::WorkshopAttended { .. }
                        | JourneyFact::FollowedUp { .. }
                )
        })
        .map(|(index, _)| index)
        .collect();
    for _ in 0..count.min(candidates.len()) {
        events[candidates[rng.random_range(0..candidates.len())]].late = true;
    }
}

const DEFAULT_PROFILE_COURSE: Course = Course {
    code: "INS-ECO",
    name: "Insertion économique",
    kind: TrainingKind::EconomicInsertion,
    sessions: 5,
};

const DROP_REASONS: &[&str] = &[
    "Horaires incompatibles avec un emploi",
    "Déménagement",
    "Raisons de santé",
    "Frais de transport",
    "Garde des enfants",
];

const EMPLOYMENT_END_REASONS: &[&str] = &[
    "Fin du contrat",
    "Démission",
    "Licenciement économique",
    "Fin de l'activité saisonnière",
];

const RETRACTION_REASONS: &[&str] = &[
    "Saisi pour la mauvaise personne",
    "Doublon de saisie",
    "Séance annulée, saisie par erreur",
];

const SECTORS: &[&str] = &[
    "Hôtellerie et restauration",
    "Bâtiment et travaux publics",
    "Textile et confection",
    "Agriculture",
    "Commerce",
    "Services à la personne",
    "Centres d'appel",
    "Coiffure et esthétique",
    "Logistique",
];

const SKILLS: &[&str] = &[
    "cuisine",
    "couture",
    "maçonnerie",
    "électricité",
    "coiffure",
    "informatique",
    "vente",
    "agriculture",
    "mécanique",
    "soudure",
];

fn skills_assessed(rng: &mut ChaCha8Rng, nationality: &CountryCode) -> JourneyFact {
    let mut skills = BTreeSet::new();
    for _ in 0..rng.random_range(1..=3) {
        skills.insert(one_of(rng, SKILLS).to_owned());
    }
    let mut languages = vec!["français".to_owned()];
    let own = match nationality.as_str() {
        "SN" => Some("wolof"),
        "ML" | "GN" => Some("bambara"),
        "CD" => Some("lingala"),
        "NG" => Some("anglais"),
        "CM" => chance(rng, 0.3).then_some("anglais"),
        "SY" | "YE" => Some("arabe"),
        _ => None,
    };
    if let Some(own) = own {
        languages.push(own.to_owned());
    }
    if chance(rng, 0.35) {
        languages.push("darija".to_owned());
    }
    JourneyFact::SkillsAssessed {
        skills: skills.into_iter().collect(),
        languages,
        notes: None,
    }
}

fn venture(rng: &mut ChaCha8Rng) -> (String, VentureKind, String) {
    const VENTURES: &[(&str, &str, VentureKind)] = &[
        (
            "Atelier couture",
            "Textile et confection",
            VentureKind::IncomeGeneratingActivity,
        ),
        (
            "Snack",
            "Hôtellerie et restauration",
            VentureKind::MicroEnterprise,
        ),
        (
            "Salon de coiffure",
            "Coiffure et esthétique",
            VentureKind::MicroEnterprise,
        ),
        ("Coopérative", "Agriculture", VentureKind::Cooperative),
        (
            "Épicerie",
            "Commerce",
            VentureKind::IncomeGeneratingActivity,
        ),
        (
            "Traiteur",
            "Hôtellerie et restauration",
            VentureKind::SocialEnterprise,
        ),
    ];
    const NAMES: &[&str] = &[
        "Teranga", "Baraka", "Nour", "Sahel", "Akwaba", "Espoir", "Amana", "Horizon",
    ];
    let (what, sector, kind) = VENTURES[rng.random_range(0..VENTURES.len())];
    let name = one_of(rng, NAMES);
    (format!("{what} {name}"), kind, sector.to_owned())
}

/// A made-up company name, distinct for each `index` below 400.
fn company_name(index: u32) -> String {
    const FIRST: &[&str] = &[
        "Atlas",
        "Bouregreg",
        "Zitoun",
        "Argane",
        "Sebou",
        "Nakhla",
        "Médina",
        "Rif",
        "Oasis",
        "Chellah",
    ];
    const SECOND: &[&str] = &[
        "Textile",
        "Bâtiment",
        "Services",
        "Logistique",
        "Agro",
        "Hôtellerie",
        "Distribution",
        "Digital",
    ];
    let first = FIRST[index as usize % FIRST.len()];
    let second = SECOND[(index as usize / FIRST.len()) % SECOND.len()];
    let round = index as usize / (FIRST.len() * SECOND.len());
    if round == 0 {
        format!("{first} {second} SARL")
    } else {
        format!("{first} {second} {} SARL", round + 1)
    }
}

fn synthetic_contact(rng: &mut ChaCha8Rng, nationality: &str, sex: Sex) -> Contact {
    let (female, male, family): (&[&str], &[&str], &[&str]) = match nationality {
        "CM" | "CD" => (
            &[
                "Grâce",
                "Esther",
                "Nadège",
                "Patience",
                "Christelle",
                "Mireille",
            ],
            &[
                "Jean-Paul",
                "Emmanuel",
                "Christian",
                "Blaise",
                "Serge",
                "Hervé",
            ],
            &[
                "Mbarga", "Ngono", "Essomba", "Mbuyi", "Kalonji", "Ilunga", "Mukendi",
            ],
        ),
        "NG" => (
            &["Chioma", "Ngozi", "Blessing", "Funmilayo"],
            &["Chinedu", "Emeka", "Tunde", "Segun"],
            &["Okafor", "Adeyemi", "Eze", "Okonkwo", "Balogun", "Nwosu"],
        ),
        "MA" => (
            &["Fatima Zahra", "Khadija", "Salma", "Imane", "Meryem"],
            &["Youssef", "Mehdi", "Hamza", "Anas", "Karim"],
            &[
                "El Amrani",
                "Benjelloun",
                "Alaoui",
                "Bennani",
                "Tazi",
                "El Idrissi",
            ],
        ),
        "SY" | "YE" => (
            &["Rama", "Lina", "Huda", "Nour", "Amal"],
            &["Ahmad", "Omar", "Khaled", "Yazan", "Fadi"],
            &["Haddad", "Khatib", "Saleh", "Hamdan", "Darwish", "Nasser"],
        ),
        _ => (
            &[
                "Aminata",
                "Fatoumata",
                "Mariam",
                "Awa",
                "Aïssatou",
                "Kadiatou",
                "Adjoua",
            ],
            &[
                "Mamadou",
                "Ousmane",
                "Ibrahima",
                "Moussa",
                "Abdoulaye",
                "Sékou",
                "Kouassi",
            ],
            &[
                "Diallo", "Traoré", "Koné", "Ouattara", "Diop", "Ndiaye", "Camara", "Keïta",
            ],
        ),
    };
    let given = match sex {
        Sex::Female => one_of(rng, female),
        Sex::Male => one_of(rng, male),
        Sex::Other | Sex::Undisclosed => {
            if chance(rng, 0.5) {
                one_of(rng, female)
            } else {
                one_of(rng, male)
            }
        }
    };
    let family = one_of(rng, family);
    Contact {
        full_name: format!("{given} {family}"),
        phone: format!("+2126000{:05}", rng.random_range(0..100_000u32)),
    }
}

// ---------------------------------------------------------------------------- activities

/// Companies engaged and trainers trained: from the published targets when there are some
/// (a little above them), else in proportion to the programme's people.
fn programme_activities(
    s: &Setting<'_>,
    rng: &mut ChaCha8Rng,
    scale: f64,
    cutoff: DateTime<Utc>,
) -> Vec<PlannedActivity> {
    let Some(first_partner) = s.facts.partners.first().cloned() else {
        return Vec::new();
    };
    let people = s.facts.people_at_full_scale();
    let target = |code| s.facts.targets.get(&code).copied();
    let (rse, other) = match target(IndicatorCode::RseCompaniesEngaged) {
        Some(rse) => {
            let rse = (rse * 1.3).ceil() as u32;
            (rse, (rse / 2).max(2))
        }
        None => {
            let total = (people / 100).max(3);
            (total * 3 / 10, total - total * 3 / 10)
        }
    };
    let trainers = match target(IndicatorCode::TrainersTrained) {
        Some(trainers) => (trainers * 1.2).ceil() as u32,
        None => (people / 400).max(2),
    };
    let (rse, other, trainers) = (
        scaled(rse, scale),
        scaled(other, scale),
        scaled(trainers, scale),
    );
    let last = s.end.min(cutoff.date_naive());
    let days = (last - s.start).num_days().max(1) as u64;
    let mut activities = Vec::new();
    let mut push = |rng: &mut ChaCha8Rng, activity: ProgrammeActivity| {
        let activity_id = EventId::new(uuid(rng));
        let date = add_days(s.start, rng.random_range(0..days));
        let occurred_at = office_hours(rng, date);
        let recorder = weighted(rng, &s.partners, first_partner.clone());
        activities.push(PlannedActivity {
            programme: s.facts.code.clone(),
            activity_id,
            occurred_at,
            recorder,
            activity,
        });
    };
    for index in 0..rse + other {
        let rse_labelled = index < rse;
        let company_name = company_name(index as u32);
        push(
            rng,
            ProgrammeActivity::CompanyEngaged {
                company_name: company_name.clone(),
                rse_labelled,
            },
        );
        // Some companies are engaged again for another intake.
        if chance(rng, 0.1) {
            push(
                rng,
                ProgrammeActivity::CompanyEngaged {
                    company_name,
                    rse_labelled,
                },
            );
        }
    }
    for _ in 0..trainers {
        // Trainers are staff of the partners in Morocco.
        let trainer_name = synthetic_contact(rng, "MA", Sex::Undisclosed).full_name;
        let organisation_code = weighted(rng, &s.partners, first_partner.clone());
        push(
            rng,
            ProgrammeActivity::TrainerTrained {
                trainer_name,
                organisation_code,
            },
        );
    }
    activities.retain(|a| a.occurred_at <= cutoff);
    activities
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use masar_domain::beneficiary::{Beneficiary, BeneficiaryCommand, RecordJourneyEvent};
    use masar_domain::directory::{DomainServices, StaticDirectory};
    use masar_domain::values::{Actor, Role};

    use super::*;

    fn cutoff() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_time(NaiveTime::MIN)
            .and_utc()
    }

    fn small_plan(seed: u64) -> Plan {
        let facts = Facts::embedded().unwrap();
        plan(&facts, &PlanOptions::new(seed, 0.05).unwrap(), cutoff())
    }

    fn directory(facts: &Facts) -> StaticDirectory {
        let mut directory = StaticDirectory::new();
        for organisation in &facts.organisations {
            directory.add_organisation(organisation.code.clone());
        }
        for programme in &facts.programmes {
            directory.add_programme(masar_domain::directory::ProgrammeFacts {
                code: programme.code.clone(),
                start_date: programme.start(),
                end_date: programme.end_date,
                regions: programme.regions.clone(),
                partners: programme.partners.clone(),
            });
        }
        directory
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        assert_eq!(small_plan(7), small_plan(7));
        assert_ne!(small_plan(7).people[0], small_plan(8).people[0]);
    }

    #[test]
    fn a_larger_scale_keeps_the_people_of_a_smaller_one() {
        let facts = Facts::embedded().unwrap();
        let small = plan(&facts, &PlanOptions::new(1, 0.01).unwrap(), cutoff());
        let large = plan(&facts, &PlanOptions::new(1, 0.03).unwrap(), cutoff());
        for person in &small.people {
            assert!(large.people.contains(person));
        }
    }

    #[test]
    fn scales_are_checked() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 101.0] {
            assert!(PlanOptions::new(1, bad).is_err(), "{bad}");
        }
        assert!(PlanOptions::new(1, 0.001).is_ok());
    }

    /// Every planned event, late entries last, is accepted by the domain's own rules.
    #[test]
    fn every_journey_follows_the_rules() {
        let facts = Facts::embedded().unwrap();
        let plan = plan(&facts, &PlanOptions::new(3, 0.1).unwrap(), cutoff());
        let services = DomainServices::new(directory(&facts));
        let now = cutoff();
        for person in &plan.people {
            let mut beneficiary = Beneficiary::default();
            let ordered = person
                .events
                .iter()
                .filter(|e| !e.late)
                .chain(person.events.iter().filter(|e| e.late));
            for event in ordered {
                let command = BeneficiaryCommand::Record(RecordJourneyEvent {
                    beneficiary_id: person.beneficiary_id,
                    event_id: event.event_id,
                    occurred_at: event.occurred_at,
                    actor: Actor::new(event.recorder.clone(), Role::Partner),
                    now,
                    fact: event.fact.clone(),
                });
                let events = beneficiary
                    .decide(command, &services)
                    .unwrap_or_else(|error| panic!("{error} for {event:?}"));
                assert_eq!(events.len(), 1);
                for event in events {
                    cqrs_es::Aggregate::apply(&mut beneficiary, event);
                }
            }
        }
        for kind in [
            "Retracted",
            "Exited",
            "Referred",
            "FollowedUp",
            "BusinessLaunched",
        ] {
            assert!(plan.count_of(kind) > 0, "{kind}");
        }
        assert!(plan.late_count() > 0);
        assert!(plan.people.iter().any(|p| p.contact.is_some()));
    }

    #[test]
    fn people_are_drawn_from_the_facts() {
        let facts = Facts::embedded().unwrap();
        let plan = small_plan(11);
        for person in &plan.people {
            let programme = facts
                .programmes
                .iter()
                .find(|p| p.code == person.programme)
                .unwrap();
            assert!(programme.partners.contains(&person.partner));
            let Some(JourneyFact::Identified { region, city, .. }) =
                person.events.first().map(|e| &e.fact)
            else {
                panic!("not identified first");
            };
            assert!(programme.regions.contains(region));
            if let Some(city) = city {
                assert!(programme.cities.contains(city));
            }
            for event in &person.events {
                assert!(event.occurred_at.date_naive() >= programme.start());
                assert!(event.occurred_at <= cutoff());
            }
        }
        let counts = plan.people_by_programme();
        let work4life = ProgrammeCode::parse("WORK4LIFE").unwrap();
        assert_eq!(counts[&work4life], 750);
    }

    #[test]
    fn company_names_are_distinct() {
        let names: BTreeSet<String> = (0..400).map(company_name).collect();
        assert_eq!(names.len(), 400);
    }
}

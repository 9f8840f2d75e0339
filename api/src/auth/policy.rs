//! The access policy: the one place that decides what each role may read and write.
//!
//! Every function is pure: it looks only at the [`Principal`] and at the facts of what is
//! accessed (a beneficiary's stream, a programme's facts), never at the database. Resolvers
//! and commands call these functions and never test roles themselves, so the rules below are
//! the whole policy:
//!
//! | operation | ADMIN | PARTNER | AUDITOR | DASHBOARD |
//! |---|---|---|---|---|
//! | administer (organisations, programmes, targets, API tokens) | yes | — | — | — |
//! | record journey events | yes | beneficiaries it identified or was referred, in programmes it is a partner of | — | — |
//! | record programme activities | yes | programmes it is a partner of | — | — |
//! | read a beneficiary (pseudonymous fields and journey) | yes | identified or referred | yes | — |
//! | read a beneficiary's personal data | yes | identified | — | — |
//! | erase a beneficiary's personal data | yes | identified | — | — |
//! | read the event log, streams, integrity | yes | — | yes | — |
//! | read organisations, programmes, indicators, projection status | yes | yes | yes | yes |
//! | journey event notices (no personal data) | all | identified or referred | all | — |
//! | indicator update notices | yes | yes | yes | yes |
//! | indicator figures with small counts (1–4) | exact | suppressed | exact | suppressed |
//! | indicator figures of any period, and `asOf` | yes | published periods only, no `asOf` | yes | published periods only, no `asOf` |
//!
//! "Identified" means owns the record: the organisation whose `Identified` event opened the
//! beneficiary's stream owns it for ever, even once that event is retracted
//! (`Beneficiary::owner`). A partner the beneficiary was referred to never becomes the owner.
//!
//! A partner's being a partner of the beneficiary's programme is also a journey rule
//! (`NotProgrammePartner`), checked by the beneficiary aggregate against the programme's own
//! stream; [`Access::can_record_in_programme`] states the same rule for callers that hold the
//! programme's facts.

use masar_domain::beneficiary::Beneficiary;
use masar_domain::directory::ProgrammeFacts;
use masar_domain::ids::OrganisationCode;
use masar_domain::values::Role;
use masar_domain::ErrorCode;

use super::Principal;

/// A refusal: the contract's error code (FORBIDDEN) and a message the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// The contract's code, `FORBIDDEN`.
    pub code: ErrorCode,
    /// Why, in words.
    pub message: String,
}

impl Denied {
    /// A FORBIDDEN refusal with `message`.
    pub fn forbidden(message: impl Into<String>) -> Denied {
        Denied {
            code: ErrorCode::Forbidden,
            message: message.into(),
        }
    }
}

/// Which beneficiaries a caller may see in a list or a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeneficiaryScope {
    /// Every beneficiary.
    Every,
    /// Only those this organisation identified or was referred.
    ResponsibleFor(OrganisationCode),
}

impl BeneficiaryScope {
    /// Whether a beneficiary identified by `partner` and referred to `referred` is in scope.
    pub fn allows<'a>(
        &self,
        partner: &OrganisationCode,
        mut referred: impl Iterator<Item = &'a OrganisationCode>,
    ) -> bool {
        match self {
            BeneficiaryScope::Every => true,
            BeneficiaryScope::ResponsibleFor(organisation) => {
                partner == organisation || referred.any(|r| r == organisation)
            }
        }
    }

    /// Whether `beneficiary` is in scope: a partner's own are those whose record it owns
    /// (`Beneficiary::owner`: a retracted identification does not change it) or that it was
    /// referred; a stream never identified is in no partner's scope.
    pub fn allows_beneficiary(&self, beneficiary: &Beneficiary) -> bool {
        match self {
            BeneficiaryScope::Every => true,
            BeneficiaryScope::ResponsibleFor(organisation) => {
                beneficiary.owner().is_some() && beneficiary.is_responsible(organisation)
            }
        }
    }
}

/// The access policy. See the [module documentation](self) for the whole table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access;

impl Access {
    /// Registering organisations and programmes, setting targets, issuing and revoking API
    /// tokens: ADMIN only.
    pub fn can_administer(principal: &Principal) -> Result<(), Denied> {
        match principal.role {
            Role::Admin => Ok(()),
            Role::Partner | Role::Auditor | Role::Dashboard => Err(Denied::forbidden(format!(
                "{} may not administer Masar: only an ADMIN token registers organisations and \
                 programmes, sets targets and issues tokens",
                token_of(principal)
            ))),
        }
    }

    /// Recording a journey event for `beneficiary` (`None`, or a stream never identified, for
    /// a beneficiary being identified): ADMIN, or a PARTNER that owns the record (it
    /// identified the beneficiary first, even if that identification was retracted since) or
    /// was referred them. Whether a partner is a partner of the programme is
    /// [`Access::can_record_in_programme`], also enforced by the journey rules, as are the
    /// finer rules of what a referred partner may record.
    pub fn can_record_journey(
        principal: &Principal,
        beneficiary: Option<&Beneficiary>,
    ) -> Result<(), Denied> {
        match principal.role {
            Role::Admin => Ok(()),
            Role::Partner => match beneficiary {
                Some(beneficiary)
                    if beneficiary.owner().is_some()
                        && !beneficiary.is_responsible(&principal.organisation) =>
                {
                    // Naming the organisations responsible for the beneficiary would tell a
                    // caller who may not even know they exist who looks after them.
                    Err(Denied::forbidden(format!(
                        "{} may not record for this beneficiary: only the organisation that \
                         identified them, or an organisation it referred them to, may",
                        token_of(principal)
                    )))
                }
                _ => Ok(()),
            },
            Role::Auditor | Role::Dashboard => Err(read_only(principal)),
        }
    }

    /// Recording in `programme` (journey events of its beneficiaries, programme-level
    /// activities): ADMIN, or a PARTNER listed among the programme's partners.
    pub fn can_record_in_programme(
        principal: &Principal,
        programme: &ProgrammeFacts,
    ) -> Result<(), Denied> {
        match principal.role {
            Role::Admin => Ok(()),
            Role::Partner if programme.has_partner(&principal.organisation) => Ok(()),
            Role::Partner => Err(Denied::forbidden(format!(
                "{} is not a partner of programme {}: ask an administrator to add it to the \
                 programme's partners",
                principal.organisation, programme.code
            ))),
            Role::Auditor | Role::Dashboard => Err(read_only(principal)),
        }
    }

    /// Reading a beneficiary's pseudonymous fields and journey: ADMIN, AUDITOR, or a PARTNER
    /// that identified the beneficiary or was referred them. Never a DASHBOARD.
    pub fn can_read_beneficiary(
        principal: &Principal,
        beneficiary: &Beneficiary,
    ) -> Result<(), Denied> {
        let scope = Access::beneficiary_scope(principal)?;
        if scope.allows_beneficiary(beneficiary) {
            Ok(())
        } else {
            Err(Denied::forbidden(format!(
                "{} may read only the beneficiaries {} identified or was referred",
                token_of(principal),
                principal.organisation
            )))
        }
    }

    /// Which beneficiaries a caller may list: every one for ADMIN and AUDITOR, a PARTNER's own
    /// (identified or referred); a DASHBOARD none (it reads aggregate figures only).
    pub fn beneficiary_scope(principal: &Principal) -> Result<BeneficiaryScope, Denied> {
        match principal.role {
            Role::Admin | Role::Auditor => Ok(BeneficiaryScope::Every),
            Role::Partner => Ok(BeneficiaryScope::ResponsibleFor(
                principal.organisation.clone(),
            )),
            Role::Dashboard => Err(Denied::forbidden(
                "a DASHBOARD token never reads individual beneficiaries: it reads programmes and \
                 indicators",
            )),
        }
    }

    /// Reading a beneficiary's personal data (name, phone, document number): ADMIN, or the
    /// PARTNER that owns the record (it identified the beneficiary first). Never an AUDITOR or a DASHBOARD, and not a
    /// partner the beneficiary was only referred to.
    pub fn can_read_personal_data(
        principal: &Principal,
        beneficiary: &Beneficiary,
    ) -> Result<(), Denied> {
        match principal.role {
            Role::Admin => Ok(()),
            Role::Partner if beneficiary.owner() == Some(&principal.organisation) => Ok(()),
            Role::Partner => Err(Denied::forbidden(format!(
                "{} may not read this beneficiary's personal data: only the organisation that \
                 identified them may",
                token_of(principal)
            ))),
            Role::Auditor | Role::Dashboard => Err(Denied::forbidden(format!(
                "{} never reads personal data",
                token_of(principal)
            ))),
        }
    }

    /// Erasing a beneficiary's personal data (crypto-shredding): ADMIN, or the PARTNER that
    /// owns the record (it identified the beneficiary first, even if that identification was
    /// retracted since).
    pub fn can_erase(principal: &Principal, beneficiary: &Beneficiary) -> Result<(), Denied> {
        match principal.role {
            Role::Admin => Ok(()),
            Role::Partner if beneficiary.owner() == Some(&principal.organisation) => Ok(()),
            Role::Partner => Err(Denied::forbidden(format!(
                "{} may not erase this beneficiary's personal data: only the organisation that \
                 identified them, or an administrator, may",
                token_of(principal)
            ))),
            Role::Auditor | Role::Dashboard => Err(read_only(principal)),
        }
    }

    /// Reading the raw event log, a stream's events and the integrity report: ADMIN and
    /// AUDITOR (the log holds no personal data in clear, but it holds every individual).
    pub fn can_read_log(principal: &Principal) -> Result<(), Denied> {
        match principal.role {
            Role::Admin | Role::Auditor => Ok(()),
            Role::Partner | Role::Dashboard => Err(Denied::forbidden(format!(
                "{} may not read the event log: only ADMIN and AUDITOR tokens may",
                token_of(principal)
            ))),
        }
    }

    /// Reading the registered organisations: every role.
    pub fn can_read_organisations(_principal: &Principal) -> Result<(), Denied> {
        Ok(())
    }

    /// Reading programmes (codes, regions, partners, targets): every role.
    pub fn can_read_programmes(_principal: &Principal) -> Result<(), Denied> {
        Ok(())
    }

    /// Reading indicator tables: every role (small counts are suppressed for all but ADMIN
    /// and AUDITOR, see [`Access::suppresses_small_counts`]).
    pub fn can_read_indicators(_principal: &Principal) -> Result<(), Denied> {
        Ok(())
    }

    /// Reading indicator tables as they were known at an earlier time (`asOf`): ADMIN and
    /// AUDITOR. For the protected roles, figures as known on two dates would difference down to
    /// the few people recorded between them (INDICATORS.md, "Disclosure control").
    pub fn can_read_indicators_as_of(principal: &Principal) -> Result<(), Denied> {
        match principal.role {
            Role::Admin | Role::Auditor => Ok(()),
            Role::Partner | Role::Dashboard => Err(Denied::forbidden(format!(
                "{} may not ask for figures as known at an earlier time (asOf): only ADMIN and \
                 AUDITOR tokens may; leave asOf out for today's figures",
                token_of(principal)
            ))),
        }
    }

    /// Reading the projections' positions and lag: every role.
    pub fn can_read_projection_status(_principal: &Principal) -> Result<(), Denied> {
        Ok(())
    }

    /// Which journey event notices (without personal data) a caller receives: every one for
    /// ADMIN and AUDITOR, a PARTNER's own beneficiaries'; none for DASHBOARD, which never
    /// sees an individual (a notice is one person's event, as it happens).
    pub fn journey_notice_scope(principal: &Principal) -> Result<BeneficiaryScope, Denied> {
        match principal.role {
            Role::Admin | Role::Auditor => Ok(BeneficiaryScope::Every),
            Role::Partner => Ok(BeneficiaryScope::ResponsibleFor(
                principal.organisation.clone(),
            )),
            Role::Dashboard => Err(Denied::forbidden(format!(
                "{} may not follow journey events: they are individuals' events; \
                 subscribe to indicatorsUpdated for figures",
                token_of(principal)
            ))),
        }
    }

    /// Whether small counts (1–4) must be suppressed in the figures this caller reads: for
    /// every role but ADMIN and AUDITOR (INDICATORS.md, small-cell suppression).
    pub fn suppresses_small_counts(principal: &Principal) -> bool {
        !matches!(principal.role, Role::Admin | Role::Auditor)
    }
}

/// "an AUDITOR token of ORG", for messages.
fn token_of(principal: &Principal) -> String {
    let article = match principal.role {
        Role::Admin | Role::Auditor => "an",
        Role::Partner | Role::Dashboard => "a",
    };
    format!(
        "{article} {} token of {}",
        principal.role, principal.organisation
    )
}

fn read_only(principal: &Principal) -> Denied {
    Denied::forbidden(format!(
        "{} is read-only: only ADMIN and PARTNER tokens record anything",
        token_of(principal)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::{NaiveDate, TimeZone, Utc};
    use masar_domain::beneficiary::{BeneficiaryEvent, JourneyFact};
    use masar_domain::ids::{CountryCode, EventId, ProgrammeCode, RegionCode};
    use masar_domain::values::{LegalStatus, ReferralChannel, ServiceKind, Sex};
    use uuid::Uuid;

    use super::*;

    fn org(code: &str) -> OrganisationCode {
        OrganisationCode::parse(code).unwrap()
    }

    fn principal(organisation: &str, role: Role) -> Principal {
        Principal {
            token_id: Uuid::from_u128(1),
            organisation: org(organisation),
            role,
        }
    }

    fn event(n: u128, recorded_by: &str, fact: JourneyFact) -> BeneficiaryEvent {
        BeneficiaryEvent {
            event_id: EventId::new(Uuid::from_u128(n)),
            occurred_at: Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap(),
            recorded_by: org(recorded_by),
            fact,
        }
    }

    /// Identified by REMESS, referred to ANAPEC.
    fn beneficiary() -> Beneficiary {
        Beneficiary::from_events([
            event(
                1,
                "REMESS",
                JourneyFact::Identified {
                    programme_code: ProgrammeCode::parse("AMUDDU-RSK").unwrap(),
                    sex: Sex::Female,
                    birth_year: Some(1994),
                    nationality: CountryCode::parse("CI").unwrap(),
                    legal_status: LegalStatus::RegularisedMigrant,
                    region: RegionCode::parse("MA-04").unwrap(),
                    city: None,
                    channel: ReferralChannel::Association,
                    household_with_children: None,
                    education_level: None,
                    consent: BTreeSet::new(),
                    personal_data: None,
                },
            ),
            event(
                2,
                "REMESS",
                JourneyFact::Referred {
                    service: ServiceKind::PublicEmploymentAgency,
                    organisation_code: Some(org("ANAPEC")),
                    note: None,
                },
            ),
        ])
    }

    /// [`beneficiary`], whose identification REMESS then retracted as a correction: still
    /// REMESS's record, still referred to ANAPEC.
    fn retracted() -> Beneficiary {
        let mut events: Vec<BeneficiaryEvent> = Vec::new();
        for record in beneficiary().journey() {
            events.push(event(
                record.sequence.into(),
                record.recorded_by.as_str(),
                record.fact.clone(),
            ));
        }
        events.push(event(
            3,
            "REMESS",
            JourneyFact::Retracted {
                retracted_event_id: EventId::new(Uuid::from_u128(1)),
                reason: "wrong person".into(),
            },
        ));
        Beneficiary::from_events(events)
    }

    fn programme() -> ProgrammeFacts {
        ProgrammeFacts {
            code: ProgrammeCode::parse("AMUDDU-RSK").unwrap(),
            start_date: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
            end_date: None,
            regions: vec![RegionCode::parse("MA-04").unwrap()],
            partners: vec![org("REMESS"), org("ANAPEC")],
        }
    }

    /// The callers of the table: each role, and for PARTNER the identifying one, the referred
    /// one and a stranger.
    #[derive(Debug, Clone, Copy)]
    enum Who {
        Admin,
        Owner,
        Referred,
        Stranger,
        Auditor,
        Dashboard,
    }

    const EVERYONE: [Who; 6] = [
        Who::Admin,
        Who::Owner,
        Who::Referred,
        Who::Stranger,
        Who::Auditor,
        Who::Dashboard,
    ];

    fn who(who: Who) -> Principal {
        match who {
            Who::Admin => principal("ENABEL", Role::Admin),
            Who::Owner => principal("REMESS", Role::Partner),
            Who::Referred => principal("ANAPEC", Role::Partner),
            Who::Stranger => principal("CEFA", Role::Partner),
            Who::Auditor => principal("ENABEL", Role::Auditor),
            Who::Dashboard => principal("ENABEL", Role::Dashboard),
        }
    }

    type Check = fn(&Principal) -> Result<(), Denied>;

    /// Each operation, and whether each caller of [`EVERYONE`] (in that order) may do it.
    fn table() -> Vec<(&'static str, Check, [bool; 6])> {
        vec![
            (
                "administer",
                Access::can_administer,
                [true, false, false, false, false, false],
            ),
            (
                "record for a new beneficiary",
                |p| Access::can_record_journey(p, None),
                [true, true, true, true, false, false],
            ),
            (
                "record for an unidentified stream",
                |p| Access::can_record_journey(p, Some(&Beneficiary::default())),
                [true, true, true, true, false, false],
            ),
            (
                "record for an identified beneficiary",
                |p| Access::can_record_journey(p, Some(&beneficiary())),
                [true, true, true, false, false, false],
            ),
            (
                "record for a beneficiary whose identification was retracted",
                |p| Access::can_record_journey(p, Some(&retracted())),
                [true, true, true, false, false, false],
            ),
            (
                "record in the programme",
                |p| Access::can_record_in_programme(p, &programme()),
                [true, true, true, false, false, false],
            ),
            (
                "read the beneficiary",
                |p| Access::can_read_beneficiary(p, &beneficiary()),
                [true, true, true, false, true, false],
            ),
            (
                "read a beneficiary whose identification was retracted",
                |p| Access::can_read_beneficiary(p, &retracted()),
                [true, true, true, false, true, false],
            ),
            (
                "read an unidentified stream",
                |p| Access::can_read_beneficiary(p, &Beneficiary::default()),
                [true, false, false, false, true, false],
            ),
            (
                "list beneficiaries",
                |p| Access::beneficiary_scope(p).map(|_| ()),
                [true, true, true, true, true, false],
            ),
            (
                "read personal data",
                |p| Access::can_read_personal_data(p, &beneficiary()),
                [true, true, false, false, false, false],
            ),
            (
                "erase personal data",
                |p| Access::can_erase(p, &beneficiary()),
                [true, true, false, false, false, false],
            ),
            (
                "erase the personal data of a retracted identification",
                |p| Access::can_erase(p, &retracted()),
                [true, true, false, false, false, false],
            ),
            (
                "read the log",
                Access::can_read_log,
                [true, false, false, false, true, false],
            ),
            (
                "read organisations",
                Access::can_read_organisations,
                [true; 6],
            ),
            ("read programmes", Access::can_read_programmes, [true; 6]),
            ("read indicators", Access::can_read_indicators, [true; 6]),
            (
                "read indicators as of an earlier time",
                Access::can_read_indicators_as_of,
                [true, false, false, false, true, false],
            ),
            (
                "read projection status",
                Access::can_read_projection_status,
                [true; 6],
            ),
            (
                "see the beneficiary's notices",
                |p| {
                    if Access::journey_notice_scope(p)?.allows_beneficiary(&beneficiary()) {
                        Ok(())
                    } else {
                        Err(Denied::forbidden("out of scope"))
                    }
                },
                [true, true, true, false, true, false],
            ),
            (
                "read exact small counts",
                |p| {
                    if Access::suppresses_small_counts(p) {
                        Err(Denied::forbidden("suppressed"))
                    } else {
                        Ok(())
                    }
                },
                [true, false, false, false, true, false],
            ),
        ]
    }

    #[test]
    fn every_role_may_do_exactly_what_the_table_says() {
        for (operation, check, expected) in table() {
            for (caller, allowed) in EVERYONE.into_iter().zip(expected) {
                let result = check(&who(caller));
                assert_eq!(
                    result.is_ok(),
                    allowed,
                    "{caller:?} / {operation}: {result:?}"
                );
                if let Err(denied) = result {
                    assert_eq!(denied.code, ErrorCode::Forbidden);
                    assert!(!denied.message.is_empty());
                    // A refusal never names the organisations responsible for the
                    // beneficiary to a caller who is not one of them.
                    if matches!(caller, Who::Stranger) {
                        assert!(
                            !denied.message.contains("REMESS")
                                && !denied.message.contains("ANAPEC"),
                            "{caller:?} / {operation}: {denied}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_partner_s_list_scope_is_what_it_identified_or_was_referred() {
        let scope = Access::beneficiary_scope(&who(Who::Referred)).unwrap();
        assert_eq!(scope, BeneficiaryScope::ResponsibleFor(org("ANAPEC")));
        assert!(scope.allows(&org("REMESS"), [org("ANAPEC")].iter()));
        assert!(!scope.allows(&org("REMESS"), [org("CEFA")].iter()));
        assert!(scope.allows(&org("ANAPEC"), [].iter()));
        assert!(BeneficiaryScope::Every.allows(&org("REMESS"), [].iter()));
    }

    #[test]
    fn refusals_say_who_was_refused_and_why() {
        let denied =
            Access::can_record_journey(&who(Who::Stranger), Some(&beneficiary())).unwrap_err();
        assert!(
            denied.message.starts_with("a PARTNER token of CEFA"),
            "{denied}"
        );
        assert!(denied.message.contains("referred"), "{denied}");
        let denied = Access::can_read_log(&who(Who::Owner)).unwrap_err();
        assert!(
            denied.message.starts_with("a PARTNER token of REMESS"),
            "{denied}"
        );
        let denied = Access::can_administer(&who(Who::Auditor)).unwrap_err();
        assert!(denied.message.starts_with("an AUDITOR token"), "{denied}");
        let denied =
            Access::can_record_in_programme(&who(Who::Stranger), &programme()).unwrap_err();
        assert!(denied.message.contains("AMUDDU-RSK"), "{denied}");
    }
}

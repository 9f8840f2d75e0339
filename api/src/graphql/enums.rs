//! The contract's enumerations as GraphQL enums.
//!
//! The domain owns these values (`masar_domain::values`, `masar_domain::ErrorCode`) but knows
//! nothing of GraphQL, so each is mirrored here with conversions both ways; the matches are
//! exhaustive, so a value added on one side and not the other does not compile.

use async_graphql::Enum;
use masar_domain::values;

use crate::record;

use masar_domain as domain;

/// Declares a GraphQL enum mirroring a domain enum, with the contract's spelling of each
/// value and `From` conversions both ways.
macro_rules! mirror {
    (
        $(#[$meta:meta])*
        $name:ident => $($domain:ident)::+ {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[graphql(name = $text)] $variant, )+
        }

        impl From<$($domain)::+> for $name {
            fn from(value: $($domain)::+) -> Self {
                type D = $($domain)::+;
                match value {
                    $( D::$variant => $name::$variant, )+
                }
            }
        }

        impl From<$name> for $($domain)::+ {
            fn from(value: $name) -> Self {
                type D = $($domain)::+;
                match value {
                    $( $name::$variant => D::$variant, )+
                }
            }
        }
    };
}

mirror! {
    /// What an API token may do.
    Role => values::Role {
        /// Registers organisations and programmes, sets targets, writes anything.
        Admin = "ADMIN",
        /// A partner NGO: records its beneficiaries' journeys.
        Partner = "PARTNER",
        /// Reads everything, writes nothing.
        Auditor = "AUDITOR",
        /// Reads aggregate figures only.
        Dashboard = "DASHBOARD",
    }
}

mirror! {
    /// The furthest pathway step a beneficiary reached.
    Stage => values::Stage {
        /// Identified.
        Identified = "IDENTIFIED",
        /// Sensitised.
        Sensitised = "SENSITISED",
        /// Completed a training.
        Trained = "TRAINED",
        /// Incubated.
        Incubated = "INCUBATED",
        /// Employed or launched a business.
        Employed = "EMPLOYED",
        /// Followed up after insertion.
        FollowedUp = "FOLLOWED_UP",
    }
}

mirror! {
    /// Sex as recorded at identification.
    Sex => values::Sex {
        /// Female.
        Female = "FEMALE",
        /// Male.
        Male = "MALE",
        /// Other.
        Other = "OTHER",
        /// Not disclosed.
        Undisclosed = "UNDISCLOSED",
    }
}

mirror! {
    /// Age at identification: year of identification minus birth year.
    AgeBand => values::AgeBand {
        /// Under 18.
        Under18 = "UNDER_18",
        /// 18 to 24.
        Age18To24 = "AGE_18_24",
        /// 25 to 34.
        Age25To34 = "AGE_25_34",
        /// 35 to 44.
        Age35To44 = "AGE_35_44",
        /// 45 and over.
        Age45Plus = "AGE_45_PLUS",
        /// No birth year recorded.
        Unknown = "UNKNOWN",
    }
}

mirror! {
    /// Legal status at identification.
    LegalStatus => values::LegalStatus {
        /// Regularised migrant.
        RegularisedMigrant = "REGULARISED_MIGRANT",
        /// Refugee.
        Refugee = "REFUGEE",
        /// Asylum seeker.
        AsylumSeeker = "ASYLUM_SEEKER",
        /// Migrant in an irregular situation.
        IrregularMigrant = "IRREGULAR_MIGRANT",
        /// National.
        National = "NATIONAL",
        /// Other.
        Other = "OTHER",
    }
}

mirror! {
    /// How the beneficiary came to the programme.
    ReferralChannel => values::ReferralChannel {
        /// A community agent.
        CommunityAgent = "COMMUNITY_AGENT",
        /// An association.
        Association = "ASSOCIATION",
        /// A public employment agency.
        PublicEmploymentAgency = "PUBLIC_EMPLOYMENT_AGENCY",
        /// Social services.
        SocialServices = "SOCIAL_SERVICES",
        /// Came on their own.
        SelfReferral = "SELF_REFERRAL",
        /// An employer.
        Employer = "EMPLOYER",
        /// Other.
        Other = "OTHER",
    }
}

mirror! {
    /// What the beneficiary consented to.
    ConsentScope => values::ConsentScope {
        /// Processing of personal data.
        DataProcessing = "DATA_PROCESSING",
        /// Being contacted for follow-up.
        FollowUpContact = "FOLLOW_UP_CONTACT",
        /// Sharing with partner organisations.
        SharingWithPartners = "SHARING_WITH_PARTNERS",
    }
}

mirror! {
    /// Kind of training.
    TrainingKind => values::TrainingKind {
        /// Vocational training.
        Vocational = "VOCATIONAL",
        /// Economic insertion.
        EconomicInsertion = "ECONOMIC_INSERTION",
        /// Financial education.
        FinancialEducation = "FINANCIAL_EDUCATION",
        /// Entrepreneurship.
        Entrepreneurship = "ENTREPRENEURSHIP",
        /// Language.
        Language = "LANGUAGE",
        /// Soft skills.
        SoftSkills = "SOFT_SKILLS",
    }
}

mirror! {
    /// Kind of venture being incubated.
    VentureKind => values::VentureKind {
        /// Income-generating activity.
        IncomeGeneratingActivity = "INCOME_GENERATING_ACTIVITY",
        /// Micro-enterprise.
        MicroEnterprise = "MICRO_ENTERPRISE",
        /// Cooperative.
        Cooperative = "COOPERATIVE",
        /// Social enterprise.
        SocialEnterprise = "SOCIAL_ENTERPRISE",
    }
}

mirror! {
    /// Kind of employment.
    EmploymentKind => values::EmploymentKind {
        /// Salaried job.
        Salaried = "SALARIED",
        /// Self-employed.
        SelfEmployed = "SELF_EMPLOYED",
        /// Internship.
        Internship = "INTERNSHIP",
    }
}

mirror! {
    /// Living conditions at a follow-up, compared with before.
    LivingConditions => values::LivingConditions {
        /// Improved.
        Improved = "IMPROVED",
        /// Unchanged.
        Unchanged = "UNCHANGED",
        /// Worsened.
        Worsened = "WORSENED",
    }
}

mirror! {
    /// Kind of service a beneficiary is referred to.
    ServiceKind => values::ServiceKind {
        /// Public employment agency.
        PublicEmploymentAgency = "PUBLIC_EMPLOYMENT_AGENCY",
        /// Vocational training centre.
        VocationalTrainingCentre = "VOCATIONAL_TRAINING_CENTRE",
        /// Social assistance.
        SocialAssistance = "SOCIAL_ASSISTANCE",
        /// Health.
        Health = "HEALTH",
        /// Legal aid.
        LegalAid = "LEGAL_AID",
        /// Education.
        Education = "EDUCATION",
        /// Another partner organisation.
        PartnerOrganisation = "PARTNER_ORGANISATION",
        /// Other.
        Other = "OTHER",
    }
}

mirror! {
    /// Why a beneficiary left the programme.
    ExitReason => values::ExitReason {
        /// Completed the pathway.
        Completed = "COMPLETED",
        /// Moved away.
        MovedAway = "MOVED_AWAY",
        /// Declined to continue.
        Declined = "DECLINED",
        /// Contact lost.
        LostContact = "LOST_CONTACT",
        /// Deceased.
        Deceased = "DECEASED",
        /// Other.
        Other = "OTHER",
    }
}

mirror! {
    /// What happened to one submitted event.
    SubmissionStatus => record::SubmissionStatus {
        /// Durably stored now.
        Accepted = "ACCEPTED",
        /// Already stored in this stream before: nothing recorded.
        Duplicate = "DUPLICATE",
        /// Refused: see the error.
        Rejected = "REJECTED",
    }
}

mirror! {
    /// Why a request or a submitted item was refused.
    ErrorCode => domain::ErrorCode {
        /// No valid API token.
        Unauthenticated = "UNAUTHENTICATED",
        /// The token's organisation or role may not do this.
        Forbidden = "FORBIDDEN",
        /// An input field is malformed or out of range.
        Validation = "VALIDATION",
        /// A referenced thing does not exist.
        NotFound = "NOT_FOUND",
        /// The programme is not registered.
        UnknownProgramme = "UNKNOWN_PROGRAMME",
        /// The organisation is not registered.
        UnknownOrganisation = "UNKNOWN_ORGANISATION",
        /// The beneficiary has no Identified event yet.
        NotIdentified = "NOT_IDENTIFIED",
        /// The beneficiary is already identified.
        AlreadyIdentified = "ALREADY_IDENTIFIED",
        /// The event does not follow from the journey so far.
        InvalidTransition = "INVALID_TRANSITION",
        /// The event is dated in the future.
        DatedInFuture = "DATED_IN_FUTURE",
        /// The event is dated before the programme's start or the identification.
        DatedBeforeStart = "DATED_BEFORE_START",
        /// The beneficiary has exited the programme.
        Exited = "EXITED",
        /// The event id is already used by another stream.
        EventIdReused = "EVENT_ID_REUSED",
        /// A concurrent write won; retry.
        Conflict = "CONFLICT",
        /// Too many items in one request.
        BatchTooLarge = "BATCH_TOO_LARGE",
        /// The query asks for too much at once.
        QueryTooComplex = "QUERY_TOO_COMPLEX",
        /// The database is unreachable for now; retry later (HTTP 503 with Retry-After).
        Unavailable = "UNAVAILABLE",
        /// Something failed on the server's side.
        Internal = "INTERNAL",
    }
}

mirror! {
    /// The indicators of INDICATORS.md.
    IndicatorCode => values::IndicatorCode {
        /// Beneficiaries identified.
        Identified = "IDENTIFIED",
        /// Beneficiaries sensitised.
        Sensitised = "SENSITISED",
        /// Beneficiaries enrolled in a training.
        EnrolledInTraining = "ENROLLED_IN_TRAINING",
        /// Beneficiaries who attended every workshop of a course.
        AttendedAllWorkshops = "ATTENDED_ALL_WORKSHOPS",
        /// Beneficiaries who completed a training.
        CompletedTraining = "COMPLETED_TRAINING",
        /// Beneficiaries incubated.
        Incubated = "INCUBATED",
        /// Beneficiaries who launched a business.
        BusinessLaunched = "BUSINESS_LAUNCHED",
        /// Beneficiaries employed.
        Employed = "EMPLOYED",
        /// Beneficiaries inserted (employed or business launched).
        Inserted = "INSERTED",
        /// Beneficiaries followed up after insertion.
        FollowedUp = "FOLLOWED_UP",
        /// Share of inserted beneficiaries followed up.
        FollowUpRate = "FOLLOW_UP_RATE",
        /// Share of accompanied beneficiaries whose living conditions improved.
        ImprovedLivingConditionsRate = "IMPROVED_LIVING_CONDITIONS_RATE",
        /// Median days from identification to insertion.
        MedianDaysIdentifiedToInserted = "MEDIAN_DAYS_IDENTIFIED_TO_INSERTED",
        /// Companies engaged.
        CompaniesEngaged = "COMPANIES_ENGAGED",
        /// RSE-labelled companies engaged.
        RseCompaniesEngaged = "RSE_COMPANIES_ENGAGED",
        /// Trainers trained.
        TrainersTrained = "TRAINERS_TRAINED",
    }
}

mirror! {
    /// How an indicator's value is computed.
    IndicatorKind => values::IndicatorKind {
        /// A count.
        Count = "COUNT",
        /// 100 × numerator / denominator.
        Percentage = "PERCENTAGE",
        /// A median number of days.
        MedianDays = "MEDIAN_DAYS",
    }
}

mirror! {
    /// A dimension an indicator can be disaggregated by.
    Dimension => values::Dimension {
        /// Sex.
        Sex = "SEX",
        /// Age band at identification.
        AgeBand = "AGE_BAND",
        /// Region of identification.
        Region = "REGION",
        /// Identifying partner.
        Partner = "PARTNER",
        /// Nationality.
        Nationality = "NATIONALITY",
        /// Legal status.
        LegalStatus = "LEGAL_STATUS",
        /// Calendar month.
        Month = "MONTH",
        /// Calendar quarter.
        Quarter = "QUARTER",
    }
}

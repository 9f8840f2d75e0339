//! Identifiers and codes: `Uuid` newtypes for beneficiaries and events, and validated codes
//! for organisations, programmes, countries, regions and courses.
//!
//! Codes have private fields: the only ways to get one are `parse`, `FromStr`, `TryFrom` and
//! deserialisation, and all of them validate.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::ValueError;

/// Declares a `Uuid` newtype.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn new(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| ValueError::Id(s.to_owned()))
            }
        }
    };
}

uuid_id! {
    /// A beneficiary, and the id of their stream. Chosen by the client at identification so
    /// that offline clients can refer to the beneficiary before they sync.
    BeneficiaryId
}

uuid_id! {
    /// A submitted event (or programme activity): the client's idempotency key.
    EventId
}

/// Declares a validated string code.
macro_rules! string_code {
    ($(#[$meta:meta])* $name:ident, $validate:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value`.
            pub fn parse(value: &str) -> Result<Self, ValueError> {
                $validate(value).map(Self)
            }

            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValueError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

fn is_code(value: &str) -> bool {
    (2..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn organisation_code(value: &str) -> Result<String, ValueError> {
    if is_code(value) {
        Ok(value.to_owned())
    } else {
        Err(ValueError::OrganisationCode(value.to_owned()))
    }
}

fn programme_code(value: &str) -> Result<String, ValueError> {
    if is_code(value) {
        Ok(value.to_owned())
    } else {
        Err(ValueError::ProgrammeCode(value.to_owned()))
    }
}

fn is_country(value: &str) -> bool {
    value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())
}

fn country_code(value: &str) -> Result<String, ValueError> {
    if is_country(value) {
        Ok(value.to_owned())
    } else {
        Err(ValueError::CountryCode(value.to_owned()))
    }
}

fn region_code(value: &str) -> Result<String, ValueError> {
    let valid = match value.split_once('-') {
        Some((country, subdivision)) => {
            is_country(country)
                && (1..=3).contains(&subdivision.len())
                && subdivision
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        None => false,
    };
    if valid {
        Ok(value.to_owned())
    } else {
        Err(ValueError::RegionCode(value.to_owned()))
    }
}

/// Longest course code, in characters.
pub const MAX_COURSE_CODE_CHARS: usize = 64;

fn course_code(value: &str) -> Result<String, ValueError> {
    let trimmed = value.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_COURSE_CODE_CHARS
        || trimmed.chars().any(char::is_control)
    {
        Err(ValueError::CourseCode(value.to_owned()))
    } else {
        Ok(trimmed.to_owned())
    }
}

string_code! {
    /// A registered organisation, e.g. `CGLU-AFRIQUE`: 2 to 32 capital ASCII letters, digits,
    /// `-` or `_`.
    OrganisationCode, organisation_code
}

string_code! {
    /// A programme, e.g. `IOM-FM0390`: 2 to 32 capital ASCII letters, digits, `-` or `_`.
    ProgrammeCode, programme_code
}

string_code! {
    /// An ISO 3166-1 alpha-2 country code, e.g. `MA`.
    CountryCode, country_code
}

string_code! {
    /// An ISO 3166-2 subdivision code, e.g. `MA-04`: a country code, `-`, and 1 to 3 capital
    /// letters or digits.
    RegionCode, region_code
}

string_code! {
    /// A course as the training organisation names it, e.g. `WELD-01`: 1 to 64 characters,
    /// no control character (not even a tab or a line break), stored without surrounding
    /// white space (`parse` trims).
    CourseCode, course_code
}

impl RegionCode {
    /// The country the region belongs to.
    pub fn country(&self) -> CountryCode {
        // Validated on construction: the part before '-' is a country code.
        CountryCode(self.0.split('-').next().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_and_programme_codes() {
        for ok in [
            "CGLU-AFRIQUE",
            "IOM-FM0390",
            "MO-279",
            "AB",
            "A_B",
            &"X".repeat(32),
        ] {
            assert_eq!(OrganisationCode::parse(ok).unwrap().as_str(), ok);
            assert_eq!(ProgrammeCode::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "A",
            "remess",
            "AB CD",
            "ÉCOLE",
            "A.B",
            &"X".repeat(33),
            " AB",
        ] {
            assert_eq!(
                OrganisationCode::parse(bad),
                Err(ValueError::OrganisationCode(bad.to_owned()))
            );
            assert_eq!(
                ProgrammeCode::parse(bad),
                Err(ValueError::ProgrammeCode(bad.to_owned()))
            );
        }
    }

    #[test]
    fn country_codes() {
        assert_eq!(CountryCode::parse("MA").unwrap().as_str(), "MA");
        for bad in ["", "M", "ma", "MAR", "M4"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn region_codes() {
        for ok in ["MA-04", "MA-1", "FR-IDF", "MA-CAS"] {
            assert_eq!(RegionCode::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            RegionCode::parse("MA-04").unwrap().country(),
            CountryCode::parse("MA").unwrap()
        );
        for bad in [
            "", "MA", "MA-", "MA-ABCD", "ma-04", "MA04", "MAR-04", "MA-0-4", "MA-a1",
        ] {
            assert_eq!(
                RegionCode::parse(bad),
                Err(ValueError::RegionCode(bad.to_owned()))
            );
        }
    }

    #[test]
    fn course_codes() {
        assert_eq!(CourseCode::parse(" WELD-01 ").unwrap().as_str(), "WELD-01");
        assert_eq!(
            CourseCode::parse("Soudure niveau 1").unwrap().as_str(),
            "Soudure niveau 1"
        );
        assert!(CourseCode::parse("").is_err());
        assert!(CourseCode::parse("   ").is_err());
        assert!(CourseCode::parse(&"é".repeat(64)).is_ok());
        assert!(CourseCode::parse(&"é".repeat(65)).is_err());
        for control in ["WELD\u{0}01", "WELD\t01", "WELD\n01", "\u{1b}[31m"] {
            assert!(CourseCode::parse(control).is_err(), "{control:?}");
        }
    }

    #[test]
    fn codes_validate_when_deserialised() {
        let code: ProgrammeCode = serde_json::from_str("\"AMUDDU-RSK\"").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"AMUDDU-RSK\"");
        assert!(serde_json::from_str::<ProgrammeCode>("\"amuddu\"").is_err());
        assert!(serde_json::from_str::<RegionCode>("\"MA\"").is_err());
        assert!(serde_json::from_str::<CountryCode>("\"mar\"").is_err());
    }

    #[test]
    fn uuid_ids() {
        let uuid = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        let id = BeneficiaryId::new(uuid);
        assert_eq!(id.as_uuid(), uuid);
        assert_eq!(id.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert_eq!(id.to_string().parse::<BeneficiaryId>().unwrap(), id);
        assert!("nope".parse::<EventId>().is_err());
        assert_eq!(
            serde_json::to_string(&EventId::new(uuid)).unwrap(),
            "\"67e55044-10b1-426f-9247-bb680e5fe0c8\""
        );
    }
}

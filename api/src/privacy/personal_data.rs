//! A beneficiary's personal data in clear: validated, redacted in `Debug`, zeroized on drop,
//! and deliberately not `Serialize`, so that it cannot slip into an event, a log line or an
//! export by accident. Only the vault turns it into bytes, to encrypt them.

use std::fmt;

use masar_domain::values::{no_control_characters, ValueError, MAX_NAME_CHARS};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::PrivacyError;

/// Longest full name, in characters.
pub const MAX_FULL_NAME_CHARS: usize = MAX_NAME_CHARS;
/// Longest phone number, in characters.
pub const MAX_PHONE_CHARS: usize = 32;
/// Longest identity document number, in characters.
pub const MAX_DOCUMENT_NUMBER_CHARS: usize = 64;

/// Plaintexts are padded with spaces to a multiple of this many bytes, so that a ciphertext's
/// length says little about the length of a name.
const PADDING_BLOCK: usize = 64;

/// Room for the largest plaintext (6 bytes a character, as a control character sealed before
/// they were refused takes escaped as `\u00XX`), so that building it never reallocates and
/// leaves an unzeroized copy behind.
const PLAINTEXT_CAPACITY: usize =
    6 * (MAX_FULL_NAME_CHARS + MAX_PHONE_CHARS + MAX_DOCUMENT_NUMBER_CHARS) + 2 * PADDING_BLOCK;

/// A beneficiary's personal data (the contract's `PersonalDataInput`), in clear. Each field is
/// trimmed, and empty means absent.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PersonalData {
    full_name: Option<String>,
    phone: Option<String>,
    document_number: Option<String>,
}

impl PersonalData {
    /// Validates and trims the fields: a full name of at most [`MAX_FULL_NAME_CHARS`], a phone
    /// of at most [`MAX_PHONE_CHARS`], a document number of at most
    /// [`MAX_DOCUMENT_NUMBER_CHARS`] characters, none with a control character but tab and
    /// line breaks; empty or blank becomes `None`. Error messages name the field and the
    /// problem, never the value.
    pub fn new(
        full_name: Option<String>,
        phone: Option<String>,
        document_number: Option<String>,
    ) -> Result<PersonalData, PrivacyError> {
        PersonalData::checked(full_name, phone, document_number, Controls::Refused)
    }

    fn checked(
        full_name: Option<String>,
        phone: Option<String>,
        document_number: Option<String>,
        controls: Controls,
    ) -> Result<PersonalData, PrivacyError> {
        Ok(PersonalData {
            full_name: field("fullName", full_name, MAX_FULL_NAME_CHARS, controls)?,
            phone: field("phone", phone, MAX_PHONE_CHARS, controls)?,
            document_number: field(
                "documentNumber",
                document_number,
                MAX_DOCUMENT_NUMBER_CHARS,
                controls,
            )?,
        })
    }

    /// The full name.
    pub fn full_name(&self) -> Option<&str> {
        self.full_name.as_deref()
    }

    /// The phone number.
    pub fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    /// The identity document number.
    pub fn document_number(&self) -> Option<&str> {
        self.document_number.as_deref()
    }

    /// Whether no field is set (then there is nothing to seal).
    pub fn is_empty(&self) -> bool {
        self.full_name.is_none() && self.phone.is_none() && self.document_number.is_none()
    }

    /// The bytes that are encrypted: JSON padded with spaces to a multiple of
    /// [`PADDING_BLOCK`] bytes.
    pub(crate) fn to_plaintext(&self) -> Result<Zeroizing<Vec<u8>>, PrivacyError> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(PLAINTEXT_CAPACITY));
        serde_json::to_writer(
            &mut *bytes,
            &Plaintext {
                full_name: self.full_name.as_deref(),
                phone: self.phone.as_deref(),
                document_number: self.document_number.as_deref(),
            },
        )
        .map_err(|_| PrivacyError::Encryption)?;
        let padded = bytes.len().div_ceil(PADDING_BLOCK).max(1) * PADDING_BLOCK;
        bytes.resize(padded, b' ');
        Ok(bytes)
    }

    /// The personal data of decrypted `bytes`.
    pub(crate) fn from_plaintext(bytes: &[u8]) -> Result<PersonalData, PrivacyError> {
        let plaintext: OwnedPlaintext =
            serde_json::from_slice(bytes).map_err(|_| PrivacyError::Undecryptable)?;
        // Sealed before control characters were refused, a name may hold one: it stays
        // readable.
        PersonalData::checked(
            plaintext.full_name,
            plaintext.phone,
            plaintext.document_number,
            Controls::Tolerated,
        )
    }
}

/// Whether a field may hold control characters (other than tab and line breaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controls {
    /// Refused: what a client submits.
    Refused,
    /// Tolerated: what was sealed before they were refused.
    Tolerated,
}

fn field(
    name: &'static str,
    value: Option<String>,
    max_chars: usize,
    controls: Controls,
) -> Result<Option<String>, PrivacyError> {
    let Some(mut value) = value else {
        return Ok(None);
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        value.zeroize();
        return Ok(None);
    }
    let length = trimmed.chars().count();
    if length > max_chars {
        value.zeroize();
        return Err(PrivacyError::Invalid {
            field: name,
            problem: ValueError::TooLong {
                max: max_chars,
                length,
            },
        });
    }
    let refused = match controls {
        Controls::Refused => no_control_characters(trimmed).err(),
        Controls::Tolerated => None,
    };
    if let Some(problem) = refused {
        value.zeroize();
        return Err(PrivacyError::Invalid {
            field: name,
            problem,
        });
    }
    if trimmed.len() == value.len() {
        Ok(Some(value))
    } else {
        let kept = trimmed.to_owned();
        value.zeroize();
        Ok(Some(kept))
    }
}

impl Drop for PersonalData {
    fn drop(&mut self) {
        self.full_name.zeroize();
        self.phone.zeroize();
        self.document_number.zeroize();
    }
}

impl fmt::Debug for PersonalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |value: &Option<String>| value.as_ref().map(|_| "[redacted]");
        f.debug_struct("PersonalData")
            .field("full_name", &shown(&self.full_name))
            .field("phone", &shown(&self.phone))
            .field("document_number", &shown(&self.document_number))
            .finish()
    }
}

/// The encrypted form, borrowed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Plaintext<'a> {
    full_name: Option<&'a str>,
    phone: Option<&'a str>,
    document_number: Option<&'a str>,
}

/// The encrypted form, read back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OwnedPlaintext {
    full_name: Option<String>,
    phone: Option<String>,
    document_number: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn aminata() -> PersonalData {
        PersonalData::new(
            Some("  Aminata Zzyzx-Testname ".into()),
            Some("+212600998877".into()),
            Some(" ".into()),
        )
        .unwrap()
    }

    #[test]
    fn fields_are_trimmed_and_blank_is_absent() {
        let data = aminata();
        assert_eq!(data.full_name(), Some("Aminata Zzyzx-Testname"));
        assert_eq!(data.phone(), Some("+212600998877"));
        assert_eq!(data.document_number(), None);
        assert!(!data.is_empty());
        assert!(PersonalData::new(None, Some("".into()), None)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn debug_never_shows_a_value() {
        let shown = format!("{:?}", aminata());
        assert!(!shown.contains("Aminata"), "{shown}");
        assert!(!shown.contains("2126"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn lengths_are_bounded_and_the_error_names_no_value() {
        let error =
            PersonalData::new(None, Some("0612345678".repeat(4)), None).expect_err("too long");
        assert!(matches!(
            error,
            PrivacyError::Invalid {
                field: "phone",
                problem: ValueError::TooLong {
                    max: 32,
                    length: 40
                }
            }
        ));
        assert!(!error.to_string().contains("0612"), "{error}");
        assert!(PersonalData::new(Some("é".repeat(200)), None, Some("x".repeat(64))).is_ok());
        assert!(PersonalData::new(Some("é".repeat(201)), None, None).is_err());
    }

    #[test]
    fn fields_hold_no_control_character_and_the_error_names_no_value() {
        let error = PersonalData::new(Some("Ami\u{0}nata".into()), None, None)
            .expect_err("a NUL in a name");
        assert!(matches!(
            error,
            PrivacyError::Invalid {
                field: "fullName",
                problem: ValueError::ControlCharacter {
                    code_point: 0,
                    position: 4
                }
            }
        ));
        assert!(!error.to_string().contains("Ami"), "{error}");
        let error = PersonalData::new(None, None, Some("AB\u{1b}12".into()))
            .expect_err("an escape in a document number");
        assert!(matches!(
            error,
            PrivacyError::Invalid {
                field: "documentNumber",
                ..
            }
        ));
    }

    #[test]
    fn the_plaintext_is_padded_and_reads_back() {
        let data = aminata();
        let bytes = data.to_plaintext().unwrap();
        assert_eq!(bytes.len() % PADDING_BLOCK, 0);
        assert_eq!(PersonalData::from_plaintext(&bytes).unwrap(), data);
        let short = PersonalData::new(None, Some("1".into()), None).unwrap();
        assert_eq!(short.to_plaintext().unwrap().len(), PADDING_BLOCK);
        // The longest in JSON: 6 bytes a character.
        let longest = PersonalData::checked(
            Some("\u{1}".repeat(MAX_FULL_NAME_CHARS)),
            Some("\u{1}".repeat(MAX_PHONE_CHARS)),
            Some("\u{1}".repeat(MAX_DOCUMENT_NUMBER_CHARS)),
            Controls::Tolerated,
        )
        .unwrap();
        let bytes = longest.to_plaintext().unwrap();
        assert!(bytes.len() <= PLAINTEXT_CAPACITY);
        // Sealed before control characters were refused, it still reads back.
        assert_eq!(PersonalData::from_plaintext(&bytes).unwrap(), longest);
    }
}

//! Why an organisation command is refused.

use crate::error_code::ErrorCode;
use crate::ids::OrganisationCode;
use crate::values::{Role, ValueError};

/// A refused organisation command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrganisationError {
    /// Only an ADMIN registers organisations.
    #[error("a {role} token may not register organisations: use an ADMIN token")]
    Forbidden {
        /// The actor's role.
        role: Role,
    },
    /// Already registered.
    #[error("organisation {code} is already registered")]
    AlreadyRegistered {
        /// The organisation.
        code: OrganisationCode,
    },
    /// An input field is malformed.
    #[error("{field}: {problem}")]
    Invalid {
        /// The contract's (camelCase) field name.
        field: &'static str,
        /// What is wrong with it.
        problem: ValueError,
    },
}

impl OrganisationError {
    /// The contract's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            OrganisationError::Forbidden { .. } => ErrorCode::Forbidden,
            OrganisationError::AlreadyRegistered { .. } | OrganisationError::Invalid { .. } => {
                ErrorCode::Validation
            }
        }
    }

    /// The contract's (camelCase) input field at fault, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            OrganisationError::Forbidden { .. } => None,
            OrganisationError::AlreadyRegistered { .. } => Some("code"),
            OrganisationError::Invalid { field, .. } => Some(field),
        }
    }
}

//! The contract's `ErrorCode`: the machine-readable reason every refusal carries in
//! `extensions.code` or in a submission result.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a request or a submitted item was refused, exactly as `ErrorCode` in the GraphQL
/// contract (`api/contract/schema.graphql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No valid API token.
    Unauthenticated,
    /// The token's organisation or role may not do this.
    Forbidden,
    /// An input field is malformed or out of range.
    Validation,
    /// A referenced thing does not exist.
    NotFound,
    /// The programme is not registered.
    UnknownProgramme,
    /// The organisation is not registered.
    UnknownOrganisation,
    /// The beneficiary has no `Identified` event yet.
    NotIdentified,
    /// The beneficiary is already identified.
    AlreadyIdentified,
    /// The event does not follow from the beneficiary's journey so far.
    InvalidTransition,
    /// The event is dated in the future.
    DatedInFuture,
    /// The event is dated before the programme's start or the beneficiary's identification.
    DatedBeforeStart,
    /// The beneficiary has exited the programme.
    Exited,
    /// The event id is already used by another stream.
    EventIdReused,
    /// A concurrent write won; retry.
    Conflict,
    /// Too many items in one request.
    BatchTooLarge,
    /// The query asks for too much at once.
    QueryTooComplex,
    /// The database is unreachable for now; retry later.
    Unavailable,
    /// Something failed on the server's side.
    Internal,
}

impl ErrorCode {
    /// Every code, in the contract's order.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::Validation,
        ErrorCode::NotFound,
        ErrorCode::UnknownProgramme,
        ErrorCode::UnknownOrganisation,
        ErrorCode::NotIdentified,
        ErrorCode::AlreadyIdentified,
        ErrorCode::InvalidTransition,
        ErrorCode::DatedInFuture,
        ErrorCode::DatedBeforeStart,
        ErrorCode::Exited,
        ErrorCode::EventIdReused,
        ErrorCode::Conflict,
        ErrorCode::BatchTooLarge,
        ErrorCode::QueryTooComplex,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The contract's spelling, e.g. `INVALID_TRANSITION`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Validation => "VALIDATION",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::UnknownProgramme => "UNKNOWN_PROGRAMME",
            ErrorCode::UnknownOrganisation => "UNKNOWN_ORGANISATION",
            ErrorCode::NotIdentified => "NOT_IDENTIFIED",
            ErrorCode::AlreadyIdentified => "ALREADY_IDENTIFIED",
            ErrorCode::InvalidTransition => "INVALID_TRANSITION",
            ErrorCode::DatedInFuture => "DATED_IN_FUTURE",
            ErrorCode::DatedBeforeStart => "DATED_BEFORE_START",
            ErrorCode::Exited => "EXITED",
            ErrorCode::EventIdReused => "EVENT_ID_REUSED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::BatchTooLarge => "BATCH_TOO_LARGE",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_as_str_agree_with_the_contract() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            let back: ErrorCode = serde_json::from_value(json).unwrap();
            assert_eq!(back, code);
        }
        assert_eq!(ErrorCode::DatedBeforeStart.as_str(), "DATED_BEFORE_START");
    }
}

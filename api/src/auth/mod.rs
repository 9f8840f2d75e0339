//! Who is calling: API tokens bound to one organisation and one role, and the one place that
//! decides what each role may read and write.
//!
//! - [`tokens`]: issuing, revoking and authenticating `Authorization: Bearer` tokens, stored
//!   only as hashes ([`TokenStore`]);
//! - [`policy`]: the access policy ([`Access`]), pure functions over a [`Principal`] and the
//!   facts of what is accessed;
//! - [`principal_from_headers`]: the request's principal, from its `Authorization` header.

pub mod policy;
pub mod tokens;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use masar_domain::ids::OrganisationCode;
use masar_domain::values::{Actor, Role};
use masar_domain::ErrorCode;
use uuid::Uuid;

pub use self::policy::{Access, BeneficiaryScope, Denied};
pub use self::tokens::{IssuedToken, TokenError, TokenStore};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id (never its secret).
    pub token_id: Uuid,
    /// The organisation the token is bound to.
    pub organisation: OrganisationCode,
    /// The token's role.
    pub role: Role,
}

impl Principal {
    /// The caller as the journey rules see it.
    pub fn actor(&self) -> Actor {
        Actor {
            organisation: self.organisation.clone(),
            role: self.role,
        }
    }
}

/// Why a request carries no usable token; each has its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// No `Authorization` header.
    #[error("no API token: send the header `Authorization: Bearer <token>`")]
    MissingHeader,
    /// An `Authorization` header that is not `Bearer <token>` (or more than one header).
    #[error("the Authorization header is not of the form `Bearer <token>`")]
    MalformedHeader,
    /// A bearer token that does not have the shape of a Masar API token.
    #[error(
        "the bearer token is not a Masar API token (those start with `masar_` and are 49 \
         characters long): check it was copied whole"
    )]
    NotAMasarToken,
    /// No token has this secret.
    #[error("the API token is not known: check it was copied whole, or ask an administrator for a new one")]
    UnknownToken,
    /// The token was revoked.
    #[error("the API token was revoked: ask an administrator for a new one")]
    RevokedToken,
}

/// Authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No usable token: the request is refused as UNAUTHENTICATED.
    #[error(transparent)]
    Unauthenticated(#[from] Unauthenticated),
    /// The database did not answer.
    #[error("checking the API token failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored token's organisation or role cannot be read.
    #[error("API token {token_id} is stored with an unreadable value: {problem}")]
    Corrupt {
        /// The token.
        token_id: Uuid,
        /// What cannot be read.
        problem: String,
    },
}

impl AuthError {
    /// The contract's error code: UNAUTHENTICATED, or INTERNAL when the server failed.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AuthError::Database(_) | AuthError::Corrupt { .. } => ErrorCode::Internal,
        }
    }

    /// Whether the caller, not the server, is at fault.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, AuthError::Unauthenticated(_))
    }
}

/// The bearer token of `headers`: exactly one `Authorization` header of the form
/// `Bearer <token>` (the scheme in any case, RFC 6750).
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, Unauthenticated> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(Unauthenticated::MissingHeader)?;
    if values.next().is_some() {
        return Err(Unauthenticated::MalformedHeader);
    }
    let value = value
        .to_str()
        .map_err(|_| Unauthenticated::MalformedHeader)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(Unauthenticated::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(Unauthenticated::MalformedHeader);
    }
    Ok(token)
}

/// The principal of a request: its `Authorization: Bearer <secret>` header, authenticated
/// against `store`. Missing, malformed, unknown and revoked tokens are
/// [`AuthError::Unauthenticated`], each with its own message.
pub async fn principal_from_headers(
    store: &TokenStore,
    headers: &HeaderMap,
) -> Result<Principal, AuthError> {
    let secret = bearer_token(headers)?;
    store.authenticate(secret).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_bearer_token_is_read_from_one_well_formed_header() {
        assert_eq!(
            bearer_token(&headers(&["Bearer masar_abc"])),
            Ok("masar_abc")
        );
        assert_eq!(
            bearer_token(&headers(&["bearer  masar_abc "])),
            Ok("masar_abc")
        );
        assert_eq!(
            bearer_token(&headers(&[])),
            Err(Unauthenticated::MissingHeader)
        );
        for malformed in [
            "masar_abc",
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Token masar_abc",
        ] {
            assert_eq!(
                bearer_token(&headers(&[malformed])),
                Err(Unauthenticated::MalformedHeader),
                "{malformed:?}"
            );
        }
        assert_eq!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(Unauthenticated::MalformedHeader)
        );
    }

    #[test]
    fn every_reason_has_its_own_message_and_code() {
        let reasons = [
            Unauthenticated::MissingHeader,
            Unauthenticated::MalformedHeader,
            Unauthenticated::NotAMasarToken,
            Unauthenticated::UnknownToken,
            Unauthenticated::RevokedToken,
        ];
        let messages: std::collections::BTreeSet<String> =
            reasons.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), reasons.len());
        for reason in reasons {
            assert_eq!(AuthError::from(reason).code(), ErrorCode::Unauthenticated);
        }
    }
}

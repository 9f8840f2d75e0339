//! API tokens: issued with a random secret shown once, stored only as the secret's SHA-256,
//! looked up by that hash on every request, revoked by id.
//!
//! Tokens are configuration, not journey facts, so they live in the `api_tokens` table
//! (migration 0003) and not in the event log.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cqrs_es::Aggregate;
use masar_domain::ids::OrganisationCode;
use masar_domain::organisation::Organisation;
use masar_domain::values::{required_text, trim_text, Role, ValueError, MAX_NAME_CHARS};
use masar_domain::ErrorCode;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::{AuthError, Principal, Unauthenticated};

/// Every secret starts with this, so that a leaked one is recognisable (e.g. by secret
/// scanners) and a pasted value of another kind is told apart at once.
pub const SECRET_PREFIX: &str = "masar_";

/// Random bytes in a secret (256 bits).
pub const SECRET_BYTES: usize = 32;

/// Length of a secret: the prefix and 32 bytes in base64url without padding.
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + 43;

/// A newly issued token. Its secret is shown once and never stored; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token's id (what `revoke` takes, and what events record as their writer).
    pub id: Uuid,
    /// The secret to send as `Authorization: Bearer <secret>`.
    pub secret: String,
    /// The token's role.
    pub role: Role,
    /// The organisation it acts for.
    pub organisation: OrganisationCode,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("role", &self.role)
            .field("organisation", &self.organisation)
            .finish()
    }
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The organisation is not registered.
    #[error(
        "organisation {organisation} is not registered: register it first (or, on the command \
         line, pass --organisation-name to register it now)"
    )]
    UnknownOrganisation {
        /// The organisation asked for.
        organisation: OrganisationCode,
    },
    /// An input field is malformed.
    #[error("{field}: {problem}")]
    Invalid {
        /// The contract's (camelCase) field name.
        field: &'static str,
        /// What is wrong with it.
        problem: ValueError,
    },
    /// The operating system's random number generator failed.
    #[error("cannot draw a random secret: {0}")]
    Randomness(String),
    /// The database did not answer.
    #[error("storing the API token failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl TokenError {
    /// The contract's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::UnknownOrganisation { .. } => ErrorCode::UnknownOrganisation,
            TokenError::Invalid { .. } => ErrorCode::Validation,
            TokenError::Randomness(_) | TokenError::Database(_) => ErrorCode::Internal,
        }
    }
}

/// The SHA-256 of `secret`'s UTF-8 bytes, lower-case hex: the only form in which a secret is
/// stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `value` has the shape of a secret this module issues.
pub fn looks_like_secret(value: &str) -> bool {
    value.len() == SECRET_LEN
        && value.starts_with(SECRET_PREFIX)
        && value[SECRET_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn new_secret() -> Result<String, TokenError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Randomness(e.to_string()))?;
    Ok(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The `api_tokens` table.
#[derive(Debug, Clone)]
pub struct TokenStore {
    pool: PgPool,
}

impl TokenStore {
    /// A store over `pool` (migrations applied).
    pub fn new(pool: PgPool) -> TokenStore {
        TokenStore { pool }
    }

    /// Issues a token for a registered `organisation` with `role`; `label` says what it is
    /// for (1 to 200 characters). The secret is in the result and nowhere else.
    pub async fn issue(
        &self,
        organisation: &OrganisationCode,
        role: Role,
        label: &str,
    ) -> Result<IssuedToken, TokenError> {
        let label = trim_text(label.to_owned());
        required_text(&label, MAX_NAME_CHARS).map_err(|problem| TokenError::Invalid {
            field: "label",
            problem,
        })?;
        // Registered means its stream exists: registration is its first event. Read from the
        // log itself, so that an organisation registered a moment ago by another process
        // counts.
        let registered: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = $1 AND aggregate_id = $2)",
        )
        .bind(Organisation::TYPE)
        .bind(organisation.as_str())
        .fetch_one(&self.pool)
        .await?;
        if !registered {
            return Err(TokenError::UnknownOrganisation {
                organisation: organisation.clone(),
            });
        }
        let id = Uuid::new_v4();
        let secret = new_secret()?;
        sqlx::query(
            "INSERT INTO api_tokens (id, organisation_code, role, label, secret_hash) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(organisation.as_str())
        .bind(role.as_str())
        .bind(&label)
        .bind(hash_secret(&secret))
        .execute(&self.pool)
        .await?;
        tracing::info!(token.id = %id, organisation = %organisation, role = %role, "API token issued");
        Ok(IssuedToken {
            id,
            secret,
            role,
            organisation: organisation.clone(),
        })
    }

    /// Revokes the token `id`: from now on it never authenticates. `false` when no token has
    /// that id. Revoking a revoked token is a no-op that keeps the first revocation's time.
    pub async fn revoke(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        if revoked {
            tracing::info!(token.id = %id, "API token revoked");
        }
        Ok(revoked)
    }

    /// Which of the tokens `ids` no longer authenticate: revoked, or not stored at all. One
    /// query for all of them, through the primary key, so that the tokens of every open
    /// WebSocket can be checked together, however many there are.
    pub async fn revoked_among(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_scalar(
            "SELECT wanted.id FROM unnest($1::uuid[]) AS wanted (id) \
             LEFT JOIN api_tokens ON api_tokens.id = wanted.id \
             WHERE api_tokens.id IS NULL OR api_tokens.revoked_at IS NOT NULL",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
    }

    /// The principal of `secret`, if it is a live token.
    ///
    /// The secret is hashed and the hash looked up through the table's unique index. No
    /// constant-time comparison is needed: the database compares hashes, not secrets, so the
    /// time it takes reveals nothing usable about any secret.
    pub async fn authenticate(&self, secret: &str) -> Result<Principal, AuthError> {
        if !looks_like_secret(secret) {
            return Err(AuthError::Unauthenticated(Unauthenticated::NotAMasarToken));
        }
        let row = sqlx::query(
            "SELECT id, organisation_code, role, revoked_at IS NOT NULL AS revoked \
             FROM api_tokens WHERE secret_hash = $1",
        )
        .bind(hash_secret(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(AuthError::Unauthenticated(Unauthenticated::UnknownToken));
        };
        if row.try_get::<bool, _>("revoked")? {
            return Err(AuthError::Unauthenticated(Unauthenticated::RevokedToken));
        }
        let token_id: Uuid = row.try_get("id")?;
        let organisation: String = row.try_get("organisation_code")?;
        let role: String = row.try_get("role")?;
        let corrupt = |problem: ValueError| AuthError::Corrupt {
            token_id,
            problem: problem.to_string(),
        };
        Ok(Principal {
            token_id,
            organisation: OrganisationCode::parse(&organisation).map_err(corrupt)?,
            role: role.parse().map_err(corrupt)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_base64url() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), SECRET_LEN);
        assert!(looks_like_secret(&a), "{a}");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(&a[SECRET_PREFIX.len()..])
                .unwrap()
                .len(),
            SECRET_BYTES
        );
    }

    #[test]
    fn only_the_issued_shape_looks_like_a_secret() {
        assert!(!looks_like_secret(""));
        assert!(!looks_like_secret("masar_"));
        assert!(!looks_like_secret(&format!("other_{}", "A".repeat(43))));
        assert!(!looks_like_secret(&format!("masar_{}", "A".repeat(42))));
        assert!(!looks_like_secret(&format!("masar_{}=", "A".repeat(42))));
        assert!(looks_like_secret(&format!(
            "masar_{}",
            "A-_z".repeat(11)[..43].to_owned()
        )));
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let token = IssuedToken {
            id: Uuid::from_u128(1),
            secret: "masar_very-secret".into(),
            role: Role::Admin,
            organisation: OrganisationCode::parse("ENABEL").unwrap(),
        };
        assert!(!format!("{token:?}").contains("very-secret"));
    }
}

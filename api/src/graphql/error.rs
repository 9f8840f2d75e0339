//! Errors at the GraphQL boundary, mapped once.
//!
//! Every error a client sees carries `extensions.code`, one of the contract's `ErrorCode`
//! values, and, when one input field is at fault, `extensions.field`. Domain and policy
//! refusals keep their own code and message; internal failures are logged here, once, and
//! answered with an opaque INTERNAL message. Errors that async-graphql itself raises (a query
//! that does not validate, a value that does not coerce) get their code in [`ensure_codes`].

use async_graphql::{ErrorExtensionValues, Response, ServerError};
use cqrs_es::AggregateError;
use masar_domain::beneficiary::BeneficiaryError;
use masar_domain::organisation::OrganisationError;
use masar_domain::programme::ProgrammeError;
use masar_domain::values::ValueError;
use masar_domain::ErrorCode;

use crate::auth::{AuthError, Denied, TokenError};
use crate::privacy::{EraseError, PrivacyError};
use crate::write::DirectoryError;

/// An error answered to a GraphQL client. Deliberately not `Display`: it becomes an
/// `async_graphql::Error` only through its `From` conversion, which sets the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The same error, blaming the input field `field` (the contract's spelling).
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// VALIDATION of `field`: `problem`, in the domain's words.
    pub fn invalid(field: &str, problem: &ValueError) -> ApiError {
        ApiError::new(ErrorCode::Validation, format!("{field}: {problem}")).with_field(field)
    }

    /// An internal failure: logged here with `context`, answered as an opaque INTERNAL error.
    /// `error` must never hold personal data or secrets (no error of this crate does).
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "{context}");
        ApiError::new(
            ErrorCode::Internal,
            "the server failed to answer this request; it was logged, try again later",
        )
    }

    /// The contract's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// As a response-level error (outside any resolver).
    pub fn into_server_error(self) -> ServerError {
        let mut error = ServerError::new(self.message, None);
        error.extensions = Some(extensions(self.code, self.field.as_deref()));
        error
    }
}

fn extensions(code: ErrorCode, field: Option<&str>) -> ErrorExtensionValues {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    if let Some(field) = field {
        extensions.set("field", field);
    }
    extensions
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let mut converted = async_graphql::Error::new(error.message);
        converted.extensions = Some(extensions(error.code, error.field.as_deref()));
        converted
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        ApiError::new(denied.code, denied.message)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated(reason) => {
                ApiError::new(ErrorCode::Unauthenticated, reason.to_string())
            }
            other => ApiError::internal("authenticating a request failed", &other),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match &error {
            TokenError::UnknownOrganisation { .. } => {
                ApiError::new(error.code(), error.to_string()).with_field("organisationCode")
            }
            TokenError::Invalid { field, .. } => {
                ApiError::new(error.code(), error.to_string()).with_field(*field)
            }
            TokenError::Randomness(_) | TokenError::Database(_) => {
                ApiError::internal("issuing an API token failed", &error)
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::internal("reading the event log failed", &error)
    }
}

impl From<DirectoryError> for ApiError {
    fn from(error: DirectoryError) -> Self {
        ApiError::internal("reading programmes and organisations failed", &error)
    }
}

impl From<PrivacyError> for ApiError {
    fn from(error: PrivacyError) -> Self {
        match &error {
            PrivacyError::Invalid { field, .. } => {
                ApiError::new(ErrorCode::Validation, error.to_string()).with_field(*field)
            }
            _ => ApiError::internal("personal data could not be processed", &error),
        }
    }
}

impl From<EraseError> for ApiError {
    fn from(error: EraseError) -> Self {
        match error {
            EraseError::NotFound(id) => ApiError::new(
                ErrorCode::NotFound,
                format!("beneficiary {id} does not exist: check the id"),
            )
            .with_field("beneficiaryId"),
            EraseError::Refused(refusal) => ApiError::from(refusal),
            EraseError::Conflict => {
                ApiError::new(ErrorCode::Conflict, EraseError::Conflict.to_string())
            }
            other @ (EraseError::Store(_) | EraseError::Keys(_)) => {
                ApiError::internal("erasing personal data failed", &other)
            }
        }
    }
}

/// A domain refusal: its code, message and field.
macro_rules! domain_error {
    ($($error:ty),+) => {$(
        impl From<$error> for ApiError {
            fn from(error: $error) -> Self {
                let field = error.field();
                let mut api = ApiError::new(error.code(), error.to_string());
                api.field = field.map(str::to_owned);
                api
            }
        }
    )+};
}

domain_error!(BeneficiaryError, ProgrammeError, OrganisationError);

impl<E> From<AggregateError<E>> for ApiError
where
    E: std::error::Error + Into<ApiError>,
{
    fn from(error: AggregateError<E>) -> Self {
        match error {
            AggregateError::UserError(refusal) => refusal.into(),
            AggregateError::AggregateConflict => ApiError::new(
                ErrorCode::Conflict,
                "the stream changed concurrently too many times: send the request again",
            ),
            other => ApiError::internal("the event store failed", &other),
        }
    }
}

/// Gives every error of `response` that has no `extensions.code` the code VALIDATION: every
/// error this crate raises already has its code, and the others are async-graphql's own
/// refusals of a request the client must fix (a field that does not exist, a value that does
/// not coerce). Queries too deep or too complex are coded by the schema's guard.
pub fn ensure_codes(response: &mut Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|extensions| extensions.get("code").is_some());
        if !has_code {
            error
                .extensions
                .get_or_insert_with(ErrorExtensionValues::default)
                .set("code", ErrorCode::Validation.as_str());
        }
    }
}

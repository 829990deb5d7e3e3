use hygeia_core::ValidationError;

/// The one error type of the storage layer. Backends map their driver errors into it; the HTTP
/// layer maps it to status codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or belongs to another account (the two are indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; `field` names the field to blame.
    #[error("{field}: {message}")]
    Conflict { field: &'static str, message: String },
    /// The input is invalid, including references to rows the account does not own.
    #[error(transparent)]
    Invalid(ValidationError),
    /// The database cannot be reached or has no free connection; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(err))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        StoreError::Invalid(ValidationError::field(field, message))
    }
}

//! Field-level validation errors, shaped so the HTTP layer can answer
//! `{"fields": {"name": ["This field may not be blank."]}}`.

use std::collections::BTreeMap;

/// Errors keyed by field name; several messages per field are allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", summary(.0))]
pub struct ValidationError(pub FieldErrors);

fn summary(errors: &FieldErrors) -> String {
    errors.0.iter().map(|(field, messages)| format!("{field}: {}", messages.join(" "))).collect::<Vec<_>>().join("; ")
}

impl ValidationError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        ValidationError(errors)
    }
}

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), ValidationError> {
        if self.is_empty() { Ok(()) } else { Err(ValidationError(self)) }
    }

    /// A required, trimmed, bounded human-readable name.
    pub fn check_name(&mut self, field: &str, value: &str, max_chars: usize) {
        if value.trim().is_empty() {
            self.add(field, "This field may not be blank.");
        } else if value.chars().count() > max_chars {
            self.add(field, format!("Ensure this field has no more than {max_chars} characters."));
        } else if value.chars().any(char::is_control) {
            self.add(field, "Control characters are not allowed.");
        }
    }
}

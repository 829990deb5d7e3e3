//! The one error type of the formats layer: what is wrong, and where (file, sheet or layer, row,
//! column or field).

use std::fmt;

/// Where in a file a problem lies; every part is optional because not every format has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    /// A spreadsheet's sheet, a GeoPackage's layer.
    pub part: Option<String>,
    /// 1-based, counting the header as row 1 (as a spreadsheet shows it).
    pub row: Option<usize>,
    pub column: Option<String>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(part) = &self.part {
            write!(f, ", {part}")?;
        }
        if let Some(row) = self.row {
            write!(f, ", row {row}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column \"{column}\"")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file's content is wrong at `at`.
    #[error("{at}: {message}")]
    Invalid { at: Located, message: String },
    /// The mapping (data dictionary, options) is wrong; `field` names its key.
    #[error("{field}: {message}")]
    Mapping { field: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl FormatError {
    pub fn invalid(at: Located, message: impl Into<String>) -> Self {
        FormatError::Invalid { at, message: message.into() }
    }

    pub fn mapping(field: impl Into<String>, message: impl Into<String>) -> Self {
        FormatError::Mapping { field: field.into(), message: message.into() }
    }
}

//! A refusal that says where: the sheet, the row (as the spreadsheet numbers it), the column.

/// Why a form could not be converted, and where in the workbook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct XlsFormError {
    pub sheet: Option<String>,
    pub row: Option<usize>,
    pub column: Option<String>,
    pub message: String,
}

impl XlsFormError {
    /// A problem with the workbook as a whole (unreadable file, missing sheet).
    pub fn workbook(message: impl Into<String>) -> Self {
        XlsFormError { sheet: None, row: None, column: None, message: message.into() }
    }

    pub fn at(sheet: &str, row: usize, column: Option<&str>, message: impl Into<String>) -> Self {
        XlsFormError {
            sheet: Some(sheet.to_owned()),
            row: Some(row),
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }

    /// pyxform's style: `[row : 3] On the 'survey' sheet, the 'type' value is invalid...`.
    fn describe(&self) -> String {
        match (&self.sheet, self.row, &self.column) {
            (Some(sheet), Some(row), Some(column)) => {
                format!("[row : {row}] On the '{sheet}' sheet, the '{column}' value is invalid. {}", self.message)
            }
            (Some(sheet), Some(row), None) => format!("[row : {row}] On the '{sheet}' sheet: {}", self.message),
            (Some(sheet), None, _) => format!("On the '{sheet}' sheet: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

//! XLSForm to ODK XForm, in-process: a workbook (XLSX, XLS, ODS, or pyxform's markdown tables) is
//! read into a form model and written as an XForm that means what pyxform 4.5.0's output means.
//! Broken forms are refused with the sheet, row, column and cause. [`compare`] tells whether two
//! XForms are equivalent (the conformance tests hold our output against pyxform's).

pub mod compare;
pub mod descriptor;
pub mod entities;
pub mod error;
pub mod parameters;
pub mod submission;
pub mod survey;
pub mod types;
pub mod workbook;
pub mod xform;
pub mod xpath;

pub use descriptor::PossibleField;
pub use error::XlsFormError;
pub use workbook::Workbook;

/// What a conversion is given besides the workbook.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The form id when the settings sheet gives none (ODK's convention: the file's stem).
    pub fallback_form_id: Option<String>,
    /// The instance's root element when the settings give no `name` (default `data`).
    pub root_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Conversion {
    pub xform: String,
    pub form_id: String,
    pub title: String,
    pub version: Option<String>,
    /// pyxform's JSON tree of the form, with Iaso's `_xpath` and `choices` (see [`descriptor`]).
    pub descriptor: serde_json::Value,
    pub possible_fields: Vec<PossibleField>,
}

pub fn convert(workbook: &Workbook, options: &Options) -> Result<Conversion, XlsFormError> {
    let form = survey::read(workbook, options.root_name.as_deref())?;
    let settings = &form.settings;
    let root = settings.root_name.clone().unwrap_or_else(|| "data".to_owned());
    let form_id =
        settings.form_id.clone().or_else(|| options.fallback_form_id.clone()).unwrap_or_else(|| "data".into());
    let title = settings.form_title.clone().unwrap_or_else(|| form_id.clone());
    let identity = xform::Identity { root: &root, form_id: &form_id, title: &title };
    let xform = xform::write(&form, &identity)?;
    let descriptor = descriptor::descriptor(&form, &identity);
    let possible_fields = descriptor::possible_fields(&form);
    Ok(Conversion { xform, form_id, title, version: settings.version.clone(), descriptor, possible_fields })
}

/// Converts the workbook at `path`: `.md` as markdown tables, anything else as a spreadsheet.
pub fn convert_file(path: &std::path::Path) -> Result<Conversion, XlsFormError> {
    let workbook = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("md")) {
        let text =
            std::fs::read_to_string(path).map_err(|e| XlsFormError::workbook(format!("{}: {e}", path.display())))?;
        Workbook::from_markdown(&text)?
    } else {
        Workbook::open(path)?
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    convert(&workbook, &Options { fallback_form_id: stem, root_name: None })
}

//! Forms (Iaso's `Form`, §1.9) and their versions (`FormVersion`, §1.10): what a form is, and the
//! rules a new version must follow (a constant XLSForm `form_id`, increasing `version_id`s).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{AccountId, FormAttachmentId, FormId, FormVersionId, OrgUnitTypeId, ProjectId, UserId};
use crate::validate::{FieldErrors, ValidationError};

/// How often a form is filled per org unit (DHIS2's period types, as Iaso names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeriodType {
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "WEEK")]
    Week,
    #[serde(rename = "MONTH")]
    Month,
    #[serde(rename = "QUARTER")]
    Quarter,
    #[serde(rename = "QUARTER_NOV")]
    QuarterNov,
    #[serde(rename = "SIX_MONTH")]
    SixMonth,
    #[serde(rename = "YEAR")]
    Year,
    #[serde(rename = "FINANCIAL_NOV")]
    FinancialNov,
}

impl PeriodType {
    pub const ALL: [PeriodType; 8] = [
        PeriodType::Day,
        PeriodType::Week,
        PeriodType::Month,
        PeriodType::Quarter,
        PeriodType::QuarterNov,
        PeriodType::SixMonth,
        PeriodType::Year,
        PeriodType::FinancialNov,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodType::Day => "DAY",
            PeriodType::Week => "WEEK",
            PeriodType::Month => "MONTH",
            PeriodType::Quarter => "QUARTER",
            PeriodType::QuarterNov => "QUARTER_NOV",
            PeriodType::SixMonth => "SIX_MONTH",
            PeriodType::Year => "YEAR",
            PeriodType::FinancialNov => "FINANCIAL_NOV",
        }
    }

    pub fn parse(text: &str) -> Option<PeriodType> {
        PeriodType::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

pub const CHANGE_REQUEST_MODES: [&str; 2] = ["CR_MODE_NONE", "CR_MODE_IF_REFERENCE_FORM"];

/// A question as forms list them (`possible_fields`): leaf name, plain label, XLSForm type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: String,
}

/// What a form's owner sets (Iaso's form serializer fields).
#[derive(Debug, Clone, PartialEq)]
pub struct FormInput {
    pub name: String,
    pub project_ids: Vec<ProjectId>,
    pub org_unit_type_ids: Vec<OrgUnitTypeId>,
    pub period_type: Option<PeriodType>,
    /// One submission per org unit and period; extras are flagged DUPLICATED.
    pub single_per_period: bool,
    pub periods_before_allowed: i64,
    pub periods_after_allowed: i64,
    /// The question holding the device id.
    pub device_field: String,
    /// The geopoint question copied into each submission's location.
    pub location_field: String,
    /// Made by Hygeia from other forms; phones do not get it.
    pub derived: bool,
    /// Questions whose answers label a submission.
    pub label_keys: Vec<String>,
    pub legend_threshold: Option<Value>,
    pub change_request_mode: String,
}

impl FormInput {
    pub fn new(name: impl Into<String>, project_ids: Vec<ProjectId>) -> Self {
        FormInput {
            name: name.into(),
            project_ids,
            org_unit_type_ids: Vec::new(),
            period_type: None,
            single_per_period: false,
            periods_before_allowed: 0,
            periods_after_allowed: 0,
            device_field: "deviceid".into(),
            location_field: String::new(),
            derived: false,
            label_keys: Vec::new(),
            legend_threshold: None,
            change_request_mode: CHANGE_REQUEST_MODES[0].into(),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        if self.project_ids.is_empty() {
            errors.add("project_ids", "A form belongs to at least one project.");
        }
        let (before, after) = (self.periods_before_allowed, self.periods_after_allowed);
        for (field, value) in [("periods_before_allowed", before), ("periods_after_allowed", after)] {
            if value < 0 {
                errors.add(field, "Ensure this value is greater than or equal to 0.");
            }
        }
        // Iaso's rule: a form without periods allows none; one with periods allows at least one.
        match self.period_type {
            None if before != 0 || after != 0 => errors.add(
                "periods_before_allowed",
                "periods_before_allowed and periods_after_allowed must be 0 when the form has no period type.",
            ),
            Some(_) if before >= 0 && after >= 0 && before + after < 1 => errors.add(
                "periods_before_allowed",
                "periods_before_allowed + periods_after_allowed must be at least 1 when the form has a period type.",
            ),
            _ => {}
        }
        for (field, value) in [("device_field", &self.device_field), ("location_field", &self.location_field)] {
            if value.chars().count() > 255 {
                errors.add(field, "Ensure this field has no more than 255 characters.");
            }
        }
        if self.label_keys.len() > 100 {
            errors.add("label_keys", "Ensure this list has no more than 100 items.");
        }
        if !CHANGE_REQUEST_MODES.contains(&self.change_request_mode.as_str()) {
            errors.add(
                "change_request_mode",
                format!(
                    "\"{}\" is not a valid choice ({}).",
                    self.change_request_mode,
                    CHANGE_REQUEST_MODES.join(", ")
                ),
            );
        }
        errors.into_result()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub id: FormId,
    pub account_id: AccountId,
    /// The XLSForm's `form_id` (pyxform's `id_string`): set by the first version, constant after.
    pub form_id: Option<String>,
    pub input: FormInput,
    /// Every question of every version, the newest label winning.
    pub possible_fields: Vec<FormField>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Soft deletion: the form and its versions stay, hidden, until restored.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Form {
    /// Whether a user limited to `projects` (none: every project) may see the form.
    pub fn visible_in(&self, projects: &[ProjectId]) -> bool {
        projects.is_empty() || self.input.project_ids.iter().any(|p| projects.contains(p))
    }
}

/// Which forms a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FormQuery {
    /// Forms of any of these projects (empty: any).
    pub project_ids: Vec<ProjectId>,
    /// Forms for any of these org-unit types (empty: any).
    pub org_unit_type_ids: Vec<OrgUnitTypeId>,
    /// Case-insensitive part of the name.
    pub search: Option<String>,
    pub deleted: DeletedForms,
    /// Only forms with at least one version (what phones get).
    pub with_versions: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeletedForms {
    #[default]
    Hidden,
    Only,
    Included,
}

/// A version as stored: the XForm and the XLSForm live in file storage under these keys.
#[derive(Debug, Clone, PartialEq)]
pub struct FormVersion {
    pub id: FormVersionId,
    pub form_id: FormId,
    pub version_id: String,
    pub file_key: String,
    pub xls_file_key: Option<String>,
    /// MD5 of the XForm, hex (OpenRosa's `hash`).
    pub md5: String,
    pub descriptor: Value,
    pub possible_fields: Vec<FormField>,
    pub start_period: Option<String>,
    pub end_period: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A converted XLSForm about to become a version.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFormVersion {
    /// The XLSForm's `form_id` setting (or its fallback).
    pub xform_id: String,
    /// The settings' `version`; `None` generates one (see [`next_version_id`]).
    pub version_id: Option<String>,
    pub file_key: String,
    pub xls_file_key: Option<String>,
    pub md5: String,
    pub descriptor: Value,
    pub possible_fields: Vec<FormField>,
    pub start_period: Option<String>,
    pub end_period: Option<String>,
}

/// A file attached to a form, served to phones through the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct FormAttachment {
    pub id: FormAttachmentId,
    pub form_id: FormId,
    /// The file name questions refer to (`villages.csv`); unique within the form.
    pub name: String,
    pub file_key: String,
    pub md5: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Iaso's version rule: a version given in the settings is 1 to 10 digits and greater than the
/// latest; without one, the date and a two-digit revision of the day (`2026112201`, `...02`).
pub fn next_version_id(
    latest: Option<&str>,
    requested: Option<&str>,
    today: NaiveDate,
) -> Result<String, ValidationError> {
    let number = |v: &str| v.parse::<u64>().ok();
    let candidate = match requested.map(str::trim) {
        Some(version) => {
            if version.is_empty() || version.len() > 10 || !version.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ValidationError::field(
                    "xls_file",
                    format!("The version \"{version}\" of the settings sheet must be 1 to 10 digits."),
                ));
            }
            version.to_owned()
        }
        None => {
            let day = today.format("%Y%m%d").to_string();
            let revision = match latest.and_then(|l| l.strip_prefix(&day)).and_then(|rr| rr.parse::<u32>().ok()) {
                Some(rr) if rr >= 99 => {
                    return Err(ValidationError::field(
                        "xls_file",
                        "99 versions were already made today: give the next one a version in the settings sheet.",
                    ));
                }
                Some(rr) => rr + 1,
                None => 1,
            };
            format!("{day}{revision:02}")
        }
    };
    if let Some(latest) = latest
        && number(&candidate) <= number(latest)
    {
        return Err(ValidationError::field(
            "xls_file",
            format!("The version \"{candidate}\" must be greater than the latest version, \"{latest}\"."),
        ));
    }
    Ok(candidate)
}

/// The form's question list after a new version: the newest version's label and type for each
/// name, names of older versions kept, in first-seen order.
pub fn merge_possible_fields(known: &[FormField], newest: &[FormField]) -> Vec<FormField> {
    let mut merged = known.to_vec();
    for field in newest {
        match merged.iter_mut().find(|f| f.name == field.name) {
            Some(existing) => *existing = field.clone(),
            None => merged.push(field.clone()),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn version_ids_follow_iasos_rule() {
        assert_eq!(next_version_id(None, None, day()).unwrap(), "2026112201");
        assert_eq!(next_version_id(Some("2026112201"), None, day()).unwrap(), "2026112202");
        assert_eq!(next_version_id(Some("7"), None, day()).unwrap(), "2026112201");
        assert_eq!(next_version_id(Some("7"), Some("12"), day()).unwrap(), "12", "compared as numbers");
        assert!(next_version_id(Some("12"), Some("12"), day()).is_err(), "not greater");
        assert!(next_version_id(Some("9999999999"), None, day()).is_err(), "the generated one is smaller");
        assert!(next_version_id(Some("2026112299"), None, day()).is_err(), "at most 99 a day");
        for bad in ["", "1.2", "v3", "12345678901"] {
            let err = next_version_id(None, Some(bad), day()).unwrap_err();
            assert!(err.0.0["xls_file"][0].contains("1 to 10 digits"), "{bad}");
        }
    }

    #[test]
    fn periods_follow_the_period_type() {
        let mut form = FormInput::new("Census", vec![ProjectId(1)]);
        assert!(form.validate().is_ok());
        form.periods_after_allowed = 1;
        assert!(form.validate().unwrap_err().0.0.contains_key("periods_before_allowed"));
        form.period_type = Some(PeriodType::Month);
        assert!(form.validate().is_ok());
        form.periods_after_allowed = 0;
        assert!(form.validate().is_err(), "a period type needs at least one period open");
        form.change_request_mode = "SOMETIMES".into();
        form.project_ids.clear();
        let fields = form.validate().unwrap_err().0.0;
        assert!(fields.contains_key("change_request_mode") && fields.contains_key("project_ids"));
        assert_eq!(PeriodType::parse("QUARTER_NOV"), Some(PeriodType::QuarterNov));
        assert_eq!(PeriodType::parse("month"), None);
    }

    #[test]
    fn possible_fields_keep_old_names_and_take_new_labels() {
        let field =
            |name: &str, label: &str| FormField { name: name.into(), label: label.into(), field_type: "text".into() };
        let merged = merge_possible_fields(&[field("a", "A"), field("b", "B")], &[field("b", "B2"), field("c", "C")]);
        assert_eq!(merged, [field("a", "A"), field("b", "B2"), field("c", "C")]);
    }
}

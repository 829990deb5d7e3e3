//! The georegistry: data sources and their versions, org-unit types, and org units — the nodes
//! of the tree (country > region > district > health area > facility), each in one version.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ProjectId, UserId};
use crate::validate::{FieldErrors, ValidationError};

pub use crate::ids::{DataSourceId, GroupId, GroupSetId, OrgUnitId, OrgUnitTypeId, SourceVersionId};

/// Iaso's `validation_status`: proposed, accepted or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ValidationStatus {
    New,
    Valid,
    Rejected,
}

impl ValidationStatus {
    pub const ALL: [ValidationStatus; 3] = [ValidationStatus::New, ValidationStatus::Valid, ValidationStatus::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::New => "NEW",
            ValidationStatus::Valid => "VALID",
            ValidationStatus::Rejected => "REJECTED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        ValidationStatus::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

/// A named origin of trees (a DHIS2 server, a ministry's spreadsheet ...), holding numbered versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    pub id: DataSourceId,
    pub account_id: AccountId,
    pub name: String,
    pub description: String,
    /// No org-unit or group writes, imports included.
    pub read_only: bool,
    /// The version used when a filter names only the source.
    pub default_version_id: Option<SourceVersionId>,
    pub projects: Vec<ProjectId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct DataSourceInput {
    pub name: String,
    pub description: String,
    pub read_only: bool,
    pub projects: Vec<ProjectId>,
}

impl DataSourceInput {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        if self.projects.len() > 1_000 {
            errors.add("projects", "Ensure this list has no more than 1000 items.");
        }
        errors.into_result()
    }
}

/// One snapshot of a source's tree. Every org unit belongs to exactly one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceVersion {
    pub id: SourceVersionId,
    pub account_id: AccountId,
    pub data_source_id: DataSourceId,
    /// 1, 2, ... per source.
    pub number: i64,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A level of the tree ("District", "Health facility").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgUnitType {
    pub id: OrgUnitTypeId,
    pub account_id: AccountId,
    pub name: String,
    pub short_name: String,
    /// 0 or 1 for the top level; used in GeoPackage layer names.
    pub depth: Option<i64>,
    /// COUNTRY, REGION, DISTRICT or HF.
    pub category: Option<String>,
    pub projects: Vec<ProjectId>,
    /// Types shown under this one in the registry.
    pub sub_unit_types: Vec<OrgUnitTypeId>,
    /// Types phones may create under a unit of this type.
    pub allow_creating_sub_unit_types: Vec<OrgUnitTypeId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct OrgUnitTypeInput {
    pub name: String,
    pub short_name: String,
    pub depth: Option<i64>,
    pub category: Option<String>,
    pub projects: Vec<ProjectId>,
    pub sub_unit_types: Vec<OrgUnitTypeId>,
    pub allow_creating_sub_unit_types: Vec<OrgUnitTypeId>,
}

pub const TYPE_CATEGORIES: [&str; 4] = ["COUNTRY", "REGION", "DISTRICT", "HF"];

impl OrgUnitTypeInput {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        if self.short_name.chars().count() > 255 || self.short_name.chars().any(char::is_control) {
            errors.add("short_name", "Use at most 255 printable characters.");
        }
        if self.depth.is_some_and(|d| !(0..=100).contains(&d)) {
            errors.add("depth", "Ensure the depth is between 0 and 100.");
        }
        if let Some(category) = &self.category
            && !TYPE_CATEGORIES.contains(&category.as_str())
        {
            errors
                .add("category", format!("\"{category}\" is not a valid choice: use COUNTRY, REGION, DISTRICT or HF."));
        }
        for (field, list) in [
            ("sub_unit_types", &self.sub_unit_types),
            ("allow_creating_sub_unit_types", &self.allow_creating_sub_unit_types),
        ] {
            if list.len() > 1_000 {
                errors.add(field, "Ensure this list has no more than 1000 items.");
            }
        }
        errors.into_result()
    }
}

/// A point with altitude (Iaso's points are 3-D; altitude defaults to 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub altitude: f64,
}

impl Location {
    /// WGS84 range and finiteness; the error names the offending field.
    pub fn validate(&self, errors: &mut FieldErrors) {
        if !self.latitude.is_finite() || !(-90.0..=90.0).contains(&self.latitude) {
            errors.add("latitude", "Latitude must be a number between -90 and 90.");
        }
        if !self.longitude.is_finite() || !(-180.0..=180.0).contains(&self.longitude) {
            errors.add("longitude", "Longitude must be a number between -180 and 180.");
        }
        if !self.altitude.is_finite() {
            errors.add("altitude", "Altitude must be a finite number.");
        }
    }
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgUnit {
    pub id: OrgUnitId,
    pub account_id: AccountId,
    pub version_id: SourceVersionId,
    pub parent_id: Option<OrgUnitId>,
    /// Ids from the root down to this unit.
    pub path: TreePath,
    pub name: String,
    /// Client-generated id (units created on phones).
    pub uuid: Option<String>,
    /// Created from a phone.
    pub custom: bool,
    pub validation_status: ValidationStatus,
    pub org_unit_type_id: Option<OrgUnitTypeId>,
    /// Identity in the origin system (DHIS2 uid, GeoPackage ref); the key for matching versions.
    pub source_ref: Option<String>,
    pub code: String,
    pub location: Option<Location>,
    /// Whether a boundary is stored (fetched separately: shapes are large).
    pub has_shape: bool,
    pub aliases: Vec<String>,
    pub opening_date: Option<NaiveDate>,
    pub closed_date: Option<NaiveDate>,
    pub creator_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A boundary ready to store: validated and encoded by the geometry layer, which also computed
/// its box and its simplified copy.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeData {
    pub full_wkb: Vec<u8>,
    pub simplified_wkb: Vec<u8>,
    pub bbox: BoundingBox,
}

#[derive(Debug, Clone)]
pub struct NewOrgUnit {
    pub version_id: SourceVersionId,
    pub parent_id: Option<OrgUnitId>,
    pub name: String,
    pub uuid: Option<String>,
    pub custom: bool,
    pub validation_status: ValidationStatus,
    pub org_unit_type_id: Option<OrgUnitTypeId>,
    pub source_ref: Option<String>,
    pub code: String,
    pub location: Option<Location>,
    pub shape: Option<ShapeData>,
    pub aliases: Vec<String>,
    pub opening_date: Option<NaiveDate>,
    pub closed_date: Option<NaiveDate>,
}

impl NewOrgUnit {
    pub fn new(version_id: SourceVersionId, name: impl Into<String>) -> Self {
        NewOrgUnit {
            version_id,
            parent_id: None,
            name: name.into(),
            uuid: None,
            custom: false,
            validation_status: ValidationStatus::New,
            org_unit_type_id: None,
            source_ref: None,
            code: String::new(),
            location: None,
            shape: None,
            aliases: Vec::new(),
            opening_date: None,
            closed_date: None,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        check_unit_fields(
            &mut errors,
            &self.code,
            self.source_ref.as_deref(),
            self.location.as_ref(),
            &self.aliases,
            self.opening_date,
            self.closed_date,
        );
        errors.into_result()
    }
}

/// A partial update; `None` leaves a field unchanged, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct OrgUnitUpdate {
    pub name: Option<String>,
    /// Moves the unit (and its subtree) under another parent, or to the root with `Some(None)`.
    pub parent_id: Option<Option<OrgUnitId>>,
    pub validation_status: Option<ValidationStatus>,
    pub org_unit_type_id: Option<Option<OrgUnitTypeId>>,
    pub source_ref: Option<Option<String>>,
    pub code: Option<String>,
    pub location: Option<Option<Location>>,
    /// A new boundary, or `Some(None)` to remove it.
    pub shape: Option<Option<ShapeData>>,
    pub aliases: Option<Vec<String>>,
    pub opening_date: Option<Option<NaiveDate>>,
    pub closed_date: Option<Option<NaiveDate>>,
}

impl OrgUnitUpdate {
    /// Checks the fields given; the store checks the dates again once merged with the unit.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        if let Some(name) = &self.name {
            errors.check_name("name", name, 255);
        }
        check_unit_fields(
            &mut errors,
            self.code.as_deref().unwrap_or(""),
            self.source_ref.as_ref().and_then(Option::as_deref),
            self.location.as_ref().and_then(Option::as_ref),
            self.aliases.as_deref().unwrap_or(&[]),
            self.opening_date.flatten(),
            self.closed_date.flatten(),
        );
        errors.into_result()
    }
}

fn check_unit_fields(
    errors: &mut FieldErrors,
    code: &str,
    source_ref: Option<&str>,
    location: Option<&Location>,
    aliases: &[String],
    opening: Option<NaiveDate>,
    closed: Option<NaiveDate>,
) {
    if code.chars().count() > 255 || code.chars().any(char::is_control) {
        errors.add("code", "Use at most 255 printable characters.");
    }
    if source_ref.is_some_and(|r| r.chars().count() > 255 || r.chars().any(char::is_control)) {
        errors.add("source_ref", "Use at most 255 printable characters.");
    }
    if let Some(location) = location {
        location.validate(errors);
    }
    if aliases.len() > 100 || aliases.iter().any(|a| a.trim().is_empty() || a.chars().count() > 255) {
        errors.add("aliases", "Give at most 100 non-empty aliases of at most 255 characters.");
    }
    check_dates(errors, opening, closed);
}

/// Iaso's rule: a unit closes after it opens. Years stay within 1000-9999, which every backend
/// stores.
pub fn check_dates(errors: &mut FieldErrors, opening: Option<NaiveDate>, closed: Option<NaiveDate>) {
    use chrono::Datelike;
    for (field, date) in [("opening_date", opening), ("closed_date", closed)] {
        if date.is_some_and(|d| !(1000..=9999).contains(&d.year())) {
            errors.add(field, "Use a year between 1000 and 9999.");
        }
    }
    if let (Some(opening), Some(closed)) = (opening, closed)
        && closed <= opening
    {
        errors.add("closed_date", "The closing date must be after the opening date.");
    }
}

/// Deepest a tree may go (Iaso's trees have 5 to 7 levels). Bounds the work of every parent chain.
pub const MAX_TREE_DEPTH: usize = 64;

/// A materialised path: the ids from the root down to a unit, written `"12.345.6789"`. Subtree
/// queries are prefix queries on it; moving a unit rewrites its subtree's paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TreePath(pub String);

impl TreePath {
    pub fn root(id: OrgUnitId) -> Self {
        TreePath(id.0.to_string())
    }

    pub fn child(&self, id: OrgUnitId) -> Self {
        TreePath(format!("{}.{}", self.0, id.0))
    }

    /// The ids on the path, root first.
    pub fn ids(&self) -> Vec<OrgUnitId> {
        self.0.split('.').filter_map(|part| part.parse().ok()).map(OrgUnitId).collect()
    }

    /// 1 for a root.
    pub fn depth(&self) -> usize {
        self.0.split('.').count()
    }

    /// True when `self` is `ancestor` or lies below it.
    pub fn is_within(&self, ancestor: &TreePath) -> bool {
        self.0 == ancestor.0
            || (self.0.starts_with(&ancestor.0) && self.0.as_bytes().get(ancestor.0.len()) == Some(&b'.'))
    }

    /// The path this one takes when the subtree rooted at `old_root` moves to `new_root`.
    pub fn rebased(&self, old_root: &TreePath, new_root: &TreePath) -> TreePath {
        debug_assert!(self.is_within(old_root));
        TreePath(format!("{}{}", new_root.0, &self.0[old_root.0.len()..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_know_their_subtrees() {
        let root = TreePath::root(OrgUnitId(12));
        let district = root.child(OrgUnitId(345));
        let facility = district.child(OrgUnitId(6789));
        assert_eq!(facility.0, "12.345.6789");
        assert_eq!(facility.ids(), [OrgUnitId(12), OrgUnitId(345), OrgUnitId(6789)]);
        assert_eq!(facility.depth(), 3);
        assert!(facility.is_within(&root) && facility.is_within(&facility));
        assert!(!TreePath("123".into()).is_within(&root), "12 is not a prefix of 123 in tree terms");
        let moved = facility.rebased(&district, &TreePath("7.8".into()));
        assert_eq!(moved.0, "7.8.6789");
    }

    #[test]
    fn statuses_and_locations() {
        assert_eq!(ValidationStatus::parse("valid"), Some(ValidationStatus::Valid));
        assert_eq!(ValidationStatus::parse("CLOSED"), None);
        let mut errors = FieldErrors::default();
        Location { latitude: 91.0, longitude: f64::NAN, altitude: 0.0 }.validate(&mut errors);
        assert_eq!(errors.0.keys().collect::<Vec<_>>(), ["latitude", "longitude"]);
        let mut new = NewOrgUnit::new(SourceVersionId(1), "Boromo");
        new.opening_date = NaiveDate::from_ymd_opt(2020, 1, 1);
        new.closed_date = NaiveDate::from_ymd_opt(2019, 1, 1);
        assert!(new.validate().unwrap_err().0.0.contains_key("closed_date"));
    }
}

/// What an org-unit list may be narrowed to (Iaso's `/api/orgunits/` filters, resolved to ids).
#[derive(Debug, Clone, Default)]
pub struct OrgUnitQuery {
    pub search: Option<OrgUnitSearch>,
    /// Empty: every status.
    pub validation_statuses: Vec<ValidationStatus>,
    pub type_ids: Vec<OrgUnitTypeId>,
    /// Empty: every version of the account.
    pub version_ids: Vec<SourceVersionId>,
    /// Members of any of these groups.
    pub group_ids: Vec<GroupId>,
    pub parent: Option<ParentFilter>,
    pub geography: Geography,
    /// Units whose location or shape meets this box.
    pub bbox: Option<BoundingBox>,
    pub order: Vec<(OrgUnitOrder, bool)>,
    /// `(limit, offset)`; `None` returns every match.
    pub page: Option<(u64, u64)>,
    /// Only units with a larger id (keyset paging for exports, with `order` by id); the count
    /// ignores it.
    pub after_id: Option<OrgUnitId>,
}

/// The units a bulk change applies to (Iaso's `selected_ids`, or `select_all` with `searches` minus
/// `unselected_ids`).
#[derive(Debug, Clone)]
pub enum OrgUnitSelection {
    Ids(Vec<OrgUnitId>),
    /// Every unit matching any of the queries (their paging and order are ignored), except some.
    Matching {
        queries: Vec<OrgUnitQuery>,
        except: Vec<OrgUnitId>,
    },
}

/// What a bulk change does to each selected unit.
#[derive(Debug, Clone, Default)]
pub struct BulkOrgUnitChange {
    pub org_unit_type_id: Option<OrgUnitTypeId>,
    pub validation_status: Option<ValidationStatus>,
    /// Groups of the units' version to add them to, and to take them out of.
    pub groups_added: Vec<GroupId>,
    pub groups_removed: Vec<GroupId>,
}

impl BulkOrgUnitChange {
    pub fn is_empty(&self) -> bool {
        self.org_unit_type_id.is_none()
            && self.validation_status.is_none()
            && self.groups_added.is_empty()
            && self.groups_removed.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrgUnitSearch {
    /// Name contains the text (case-insensitive), or an alias equals it.
    Text(String),
    Ids(Vec<OrgUnitId>),
    /// `source_ref`s; `iaso:<id>` (or `iaso#<id>`) names a unit by id.
    Refs(Vec<String>),
    Codes(Vec<String>),
    /// The uuids phones give the units they create offline.
    Uuids(Vec<String>),
}

impl OrgUnitSearch {
    /// Iaso's search syntax: `ids:1,2`, `refs:a,b`, `codes:X,Y`, or plain text.
    pub fn parse(input: &str) -> Result<OrgUnitSearch, ValidationError> {
        let list = |rest: &str| {
            rest.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>()
        };
        if let Some(rest) = input.strip_prefix("ids:") {
            let ids: Result<Vec<OrgUnitId>, _> = list(rest).iter().map(|s| s.parse().map(OrgUnitId)).collect();
            ids.map(OrgUnitSearch::Ids)
                .map_err(|_| ValidationError::field("search", "ids: takes a comma-separated list of numbers."))
        } else if let Some(rest) = input.strip_prefix("refs:") {
            Ok(OrgUnitSearch::Refs(list(rest)))
        } else if let Some(rest) = input.strip_prefix("codes:") {
            Ok(OrgUnitSearch::Codes(list(rest)))
        } else {
            Ok(OrgUnitSearch::Text(input.trim().to_owned()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParentFilter {
    /// Direct children of a unit, or the roots with `None` (Iaso's `parent_id`, `0` for roots).
    ChildrenOf(Option<OrgUnitId>),
    /// The whole subtree under a unit, with or without the unit itself (`orgUnitParentId`).
    SubtreeOf { root: OrgUnitId, include_root: bool },
}

/// Iaso's `geography` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Geography {
    #[default]
    Unfiltered,
    WithLocation,
    WithShape,
    /// A location or a shape.
    WithAny,
    /// Neither.
    WithNone,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgUnitOrder {
    Id,
    Name,
    ValidationStatus,
    CreatedAt,
    UpdatedAt,
    Path,
}

impl OrgUnitOrder {
    /// Iaso's `order=name,-updated_at` fields.
    pub fn parse(field: &str) -> Option<(OrgUnitOrder, bool)> {
        let (descending, name) = match field.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, field),
        };
        let order = match name.trim() {
            "id" => OrgUnitOrder::Id,
            "name" => OrgUnitOrder::Name,
            "validation_status" => OrgUnitOrder::ValidationStatus,
            "created_at" => OrgUnitOrder::CreatedAt,
            "updated_at" => OrgUnitOrder::UpdatedAt,
            "path" => OrgUnitOrder::Path,
            _ => return None,
        };
        Some((order, descending))
    }
}

/// Who is looking: the account, and the roots of the subtrees a restricted user may see
/// (empty: the whole account).
#[derive(Debug, Clone, PartialEq)]
pub struct OrgUnitScope {
    pub account: AccountId,
    pub roots: Vec<OrgUnitId>,
}

impl OrgUnitScope {
    pub fn whole_account(account: AccountId) -> Self {
        OrgUnitScope { account, roots: Vec::new() }
    }
}

/// One page of results and the number of matches in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub count: u64,
    pub items: Vec<T>,
}

/// An entry of the audit history (Iaso's `Modification`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Modification {
    pub id: i64,
    pub content_type: String,
    pub object_id: String,
    pub user_id: Option<UserId>,
    /// Where the change came from: `org_unit_api`, `gpkg_import`, ...
    pub source: String,
    pub past_value: Option<serde_json::Value>,
    pub new_value: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// Audit content type of org units, as Iaso names it.
pub const ORG_UNIT_CONTENT_TYPE: &str = "iaso.orgunit";

/// A named set of org units of one version (DHIS2's organisation unit groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub account_id: AccountId,
    pub version_id: SourceVersionId,
    pub name: String,
    pub source_ref: Option<String>,
    pub block_of_countries: bool,
    pub org_unit_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct GroupInput {
    pub version_id: SourceVersionId,
    pub name: String,
    pub source_ref: Option<String>,
    pub block_of_countries: bool,
}

impl GroupInput {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        if self.source_ref.as_ref().is_some_and(|r| r.chars().count() > 255 || r.chars().any(char::is_control)) {
            errors.add("source_ref", "Use at most 255 printable characters.");
        }
        errors.into_result()
    }
}

/// Audit content type of org-unit types, as Iaso names it.
pub const ORG_UNIT_TYPE_CONTENT_TYPE: &str = "iaso.orgunittype";

/// Audit content type of groups, as Iaso names it.
pub const GROUP_CONTENT_TYPE: &str = "iaso.group";

/// Whether a unit may belong to one group of a set or to several (DHIS2's `exclusive` group sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupBelonging {
    #[default]
    Single,
    Multiple,
}

impl GroupBelonging {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBelonging::Single => "SINGLE",
            GroupBelonging::Multiple => "MULTIPLE",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "SINGLE" => Some(GroupBelonging::Single),
            "MULTIPLE" => Some(GroupBelonging::Multiple),
            _ => None,
        }
    }
}

/// A named set of groups of one version ("Ownership": public, private, faith-based).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSet {
    pub id: GroupSetId,
    pub account_id: AccountId,
    pub version_id: SourceVersionId,
    pub name: String,
    pub source_ref: Option<String>,
    pub group_belonging: GroupBelonging,
    /// Member groups, by id.
    pub group_ids: Vec<GroupId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct GroupSetInput {
    pub version_id: SourceVersionId,
    pub name: String,
    pub source_ref: Option<String>,
    pub group_belonging: GroupBelonging,
    /// The whole membership: groups of the same version.
    pub group_ids: Vec<GroupId>,
}

impl GroupSetInput {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        if self.source_ref.as_ref().is_some_and(|r| r.chars().count() > 255 || r.chars().any(char::is_control)) {
            errors.add("source_ref", "Use at most 255 printable characters.");
        }
        if self.group_ids.len() > 10_000 {
            errors.add("group_ids", "A group set holds at most 10000 groups.");
        }
        errors.into_result()
    }
}

/// Audit content type of group sets, as Iaso names it.
pub const GROUP_SET_CONTENT_TYPE: &str = "iaso.groupset";

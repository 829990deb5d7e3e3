//! Org units in the JSON shapes Iaso's clients read: the light parent chain, list rows, mobile
//! rows, the detail dict, and GeoJSON features.

use std::collections::HashMap;

use std::sync::Arc;

use hygeia_core::{DataSource, DataSourceId, OrgUnit, OrgUnitId, OrgUnitType, OrgUnitTypeId, ValidationStatus};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::catalog::Catalog;
use crate::api::epoch;

/// What the serialisers look up besides the units themselves.
pub struct Context {
    pub catalog: Arc<Catalog>,
    /// Ancestors of the units being shown, by id.
    pub ancestors: HashMap<OrgUnitId, OrgUnit>,
    /// Groups of the units being shown.
    pub groups: HashMap<OrgUnitId, Vec<Value>>,
}

impl Context {
    fn org_unit_type(&self, unit: &OrgUnit) -> Option<&OrgUnitType> {
        unit.org_unit_type_id.and_then(|t| self.catalog.types.get(&t))
    }

    fn type_name(&self, unit: &OrgUnit) -> Option<&str> {
        self.org_unit_type(unit).map(|t| t.name.as_str())
    }

    fn source(&self, unit: &OrgUnit) -> Option<&DataSource> {
        self.catalog.versions.get(&unit.version_id).and_then(|v| self.catalog.sources.get(&v.data_source_id))
    }

    fn parent(&self, unit: &OrgUnit) -> Option<&OrgUnit> {
        unit.parent_id.and_then(|p| self.ancestors.get(&p))
    }
}

/// Iaso renders an empty alias list as `null`.
fn aliases(unit: &OrgUnit) -> Value {
    if unit.aliases.is_empty() { Value::Null } else { json!(unit.aliases) }
}

/// Legacy dicts show dates as DD/MM/YYYY.
fn legacy_date(date: Option<chrono::NaiveDate>) -> Value {
    date.map(|d| Value::String(d.format("%d/%m/%Y").to_string())).unwrap_or(Value::Null)
}

/// `{id, name, parent: {...}, org_unit_type_id, org_unit_type_name}` up to the root.
#[derive(Serialize)]
pub struct LightParent<'a> {
    id: OrgUnitId,
    name: &'a str,
    parent: Option<Box<LightParent<'a>>>,
    org_unit_type_id: Option<OrgUnitTypeId>,
    org_unit_type_name: Option<&'a str>,
}

pub fn light_parent<'a>(unit: &'a OrgUnit, context: &'a Context) -> LightParent<'a> {
    LightParent {
        id: unit.id,
        name: &unit.name,
        parent: context.parent(unit).map(|p| Box::new(light_parent(p, context))),
        org_unit_type_id: unit.org_unit_type_id,
        org_unit_type_name: context.type_name(unit),
    }
}

/// The type as list rows show it.
#[derive(Serialize)]
pub struct TypeSummary<'a> {
    id: OrgUnitTypeId,
    name: &'a str,
    short_name: &'a str,
    created_at: f64,
    updated_at: f64,
    depth: Option<i64>,
}

fn type_summary(t: &OrgUnitType) -> TypeSummary<'_> {
    TypeSummary {
        id: t.id,
        name: &t.name,
        short_name: &t.short_name,
        created_at: epoch(t.created_at),
        updated_at: epoch(t.updated_at),
        depth: t.depth,
    }
}

pub fn type_json(t: &OrgUnitType) -> Value {
    serde_json::to_value(type_summary(t)).unwrap_or_default()
}

/// A row of the paginated list: serialised straight from the units (the list's hot path), in the
/// order of Iaso's keys.
#[derive(Serialize)]
pub struct ListRow<'a> {
    id: OrgUnitId,
    name: &'a str,
    aliases: Option<&'a [String]>,
    parent_id: Option<OrgUnitId>,
    validation_status: ValidationStatus,
    parent_name: Option<&'a str>,
    source: Option<&'a str>,
    source_ref: Option<&'a str>,
    sub_source: Option<()>,
    org_unit_type_name: Option<&'a str>,
    parent: Option<LightParent<'a>>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    altitude: Option<f64>,
    has_geo_json: bool,
    search_index: Option<()>,
    created_at: f64,
    source_id: Option<DataSourceId>,
    org_unit_type: Option<TypeSummary<'a>>,
    org_unit_type_id: Option<OrgUnitTypeId>,
    instances_count: u64,
    updated_at: f64,
    groups: &'a [Value],
    creator: Option<()>,
    projects: [(); 0],
    default_image: Option<()>,
}

pub fn list_row<'a>(unit: &'a OrgUnit, context: &'a Context) -> ListRow<'a> {
    let source = context.source(unit);
    let parent = context.parent(unit);
    ListRow {
        id: unit.id,
        name: &unit.name,
        // Iaso renders an empty alias list as `null`.
        aliases: (!unit.aliases.is_empty()).then_some(unit.aliases.as_slice()),
        parent_id: unit.parent_id,
        validation_status: unit.validation_status,
        parent_name: parent.map(|p| p.name.as_str()),
        source: source.map(|s| s.name.as_str()),
        source_ref: unit.source_ref.as_deref(),
        sub_source: None,
        org_unit_type_name: context.type_name(unit),
        parent: parent.map(|p| light_parent(p, context)),
        latitude: unit.location.map(|l| l.latitude),
        longitude: unit.location.map(|l| l.longitude),
        altitude: unit.location.map(|l| l.altitude),
        has_geo_json: unit.has_shape,
        search_index: None,
        created_at: epoch(unit.created_at),
        source_id: source.map(|s| s.id),
        org_unit_type: context.org_unit_type(unit).map(type_summary),
        org_unit_type_id: unit.org_unit_type_id,
        instances_count: 0,
        updated_at: epoch(unit.updated_at),
        groups: context.groups.get(&unit.id).map(Vec::as_slice).unwrap_or_default(),
        creator: None,
        projects: [],
        default_image: None,
    }
}

/// A row of `smallSearch`: the unit and its whole chain in Iaso's light search form.
#[derive(Serialize)]
pub struct SmallRow<'a> {
    id: OrgUnitId,
    name: &'a str,
    parent_id: Option<OrgUnitId>,
    validation_status: ValidationStatus,
    parent_name: Option<&'a str>,
    source: Option<&'a str>,
    source_ref: Option<&'a str>,
    org_unit_type_name: Option<&'a str>,
    search_index: Option<()>,
    parent: Option<Box<SmallRow<'a>>>,
    creator: Option<()>,
}

pub fn small_row<'a>(unit: &'a OrgUnit, context: &'a Context) -> SmallRow<'a> {
    let parent = context.parent(unit);
    SmallRow {
        id: unit.id,
        name: &unit.name,
        parent_id: unit.parent_id,
        validation_status: unit.validation_status,
        parent_name: parent.map(|p| p.name.as_str()),
        source: context.source(unit).map(|s| s.name.as_str()),
        source_ref: unit.source_ref.as_deref(),
        org_unit_type_name: context.type_name(unit),
        search_index: None,
        parent: parent.map(|p| Box::new(small_row(p, context))),
        creator: None,
    }
}

/// Iaso's `geo_json` of one unit in lists: a FeatureCollection (with its `crs`) holding the unit
/// as one feature, whose geometry is the simplified boundary or `null`.
pub fn unit_feature_collection(unit: &OrgUnit, shape: Option<&RawValue>) -> Value {
    json!({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:4326"}},
        "features": [{"type": "Feature", "id": unit.id, "geometry": shape, "properties": {}}],
    })
}

/// A row of `withShapes` without `limit`: Iaso's `as_dict` with the unit's `geo_json` (`null`
/// for units without a boundary).
pub fn row_with_shape(unit: &OrgUnit, context: &Context, shape: Option<&RawValue>) -> Value {
    let mut row = as_dict(unit, context);
    row["geo_json"] = if unit.has_shape { unit_feature_collection(unit, shape) } else { Value::Null };
    row
}

/// Iaso's `OrgUnit.as_dict`: the unit as submissions and shape lists show it.
pub fn as_dict(unit: &OrgUnit, context: &Context) -> Value {
    let source = context.source(unit);
    json!({
        "name": unit.name,
        "short_name": unit.name,
        "id": unit.id,
        "source": source.map(|s| s.name.as_str()),
        "source_id": source.map(|s| s.id),
        "source_ref": unit.source_ref,
        "parent_id": unit.parent_id,
        "org_unit_type_id": unit.org_unit_type_id,
        "org_unit_type_name": context.type_name(unit),
        "org_unit_type_depth": context.org_unit_type(unit).and_then(|t| t.depth),
        "created_at": epoch(unit.created_at),
        "updated_at": epoch(unit.updated_at),
        "aliases": aliases(unit),
        "validation_status": unit.validation_status,
        "latitude": unit.location.map(|l| l.latitude),
        "longitude": unit.location.map(|l| l.longitude),
        "altitude": unit.location.map(|l| l.altitude),
        "has_geo_json": unit.has_shape,
        "version": context.catalog.versions.get(&unit.version_id).map(|v| v.number),
        "opening_date": legacy_date(unit.opening_date),
        "closed_date": legacy_date(unit.closed_date),
    })
}

/// A row of `asLocation`: what maps need of a unit, its boundary always wrapped in a
/// FeatureCollection (with a `null` geometry for units that only have a point).
pub fn location_row(unit: &OrgUnit, context: &Context, shape: Option<&RawValue>) -> Value {
    let source = context.source(unit);
    json!({
        "id": unit.id,
        "name": unit.name,
        "short_name": unit.name,
        "parent_id": unit.parent_id,
        "parent_name": context.parent(unit).map(|p| p.name.as_str()),
        "latitude": unit.location.map(|l| l.latitude),
        "longitude": unit.location.map(|l| l.longitude),
        "altitude": unit.location.map(|l| l.altitude),
        "has_geo_json": unit.has_shape,
        "org_unit_type": context.type_name(unit),
        "org_unit_type_id": unit.org_unit_type_id,
        "org_unit_type_depth": context.org_unit_type(unit).and_then(|t| t.depth),
        "source_id": source.map(|s| s.id),
        "source_name": source.map(|s| s.name.as_str()),
        "geo_json": unit_feature_collection(unit, shape),
    })
}

/// The row of the unpaginated list (Iaso's mobile dict).
pub fn mobile_row(unit: &OrgUnit, context: &Context) -> Value {
    json!({
        "name": unit.name,
        "id": unit.id,
        "parent_id": unit.parent_id,
        "org_unit_type_id": unit.org_unit_type_id,
        "org_unit_type_name": context.type_name(unit),
        "validation_status": unit.validation_status,
        "created_at": epoch(unit.created_at),
        "updated_at": epoch(unit.updated_at),
        "latitude": unit.location.map(|l| l.latitude),
        "longitude": unit.location.map(|l| l.longitude),
        "altitude": unit.location.map(|l| l.altitude),
        "aliases": aliases(unit),
    })
}

/// `GET /api/orgunits/{id}/`: the unit with its whole parent chain; `geo_json` is the unit's own
/// shape (the parents' are not repeated). With `full_parents` off (users restricted to part of the
/// tree), ancestors are shown in the light form: id, name and type only.
pub fn detail(unit: &OrgUnit, context: &Context, geo_json: Value, full_parents: bool) -> Value {
    let source = context.source(unit);
    let version = context.catalog.versions.get(&unit.version_id);
    json!({
        "name": unit.name,
        "short_name": unit.name,
        "id": unit.id,
        "code": unit.code,
        "sub_source": null,
        "sub_source_id": null,
        "source_ref": unit.source_ref,
        "source_url": null,
        "parent_id": unit.parent_id,
        "validation_status": unit.validation_status,
        "parent_name": context.parent(unit).map(|p| p.name.as_str()),
        "parent": context.parent(unit).map(|p| {
            if full_parents { detail(p, context, Value::Null, true) } else { json!(light_parent(p, context)) }
        }),
        "org_unit_type_id": unit.org_unit_type_id,
        "created_at": epoch(unit.created_at),
        "updated_at": epoch(unit.updated_at),
        "aliases": aliases(unit),
        "latitude": unit.location.map(|l| l.latitude),
        "longitude": unit.location.map(|l| l.longitude),
        "altitude": unit.location.map(|l| l.altitude),
        "has_geo_json": unit.has_shape,
        "geo_json": geo_json,
        "catchment": null,
        "creator": unit.creator_id,
        "opening_date": legacy_date(unit.opening_date),
        "closed_date": legacy_date(unit.closed_date),
        "default_image_id": null,
        "groups": context.groups.get(&unit.id).cloned().unwrap_or_default(),
        "org_unit_type_name": context.type_name(unit),
        "org_unit_type": context.org_unit_type(unit).map(type_json),
        "source": source.map(|s| s.name.as_str()),
        "source_id": source.map(|s| s.id),
        "version": version.map(|v| v.number),
        "version_id": unit.version_id,
        "reference_instances": [],
        "instances_count": 0,
    })
}

/// A feature for maps: the unit's boundary when given, else its point, else no geometry. Typed,
/// with the boundary as ready-made JSON text, so that a map of thousands of shapes is written out
/// without building a JSON tree of every coordinate.
#[derive(Serialize)]
pub struct Feature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: OrgUnitId,
    geometry: Option<FeatureGeometry<'a>>,
    properties: FeatureProperties<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum FeatureGeometry<'a> {
    Shape(&'a RawValue),
    Point {
        #[serde(rename = "type")]
        kind: &'static str,
        coordinates: [f64; 3],
    },
}

#[derive(Serialize)]
struct FeatureProperties<'a> {
    name: &'a str,
    parent_id: Option<OrgUnitId>,
    org_unit_type_id: Option<OrgUnitTypeId>,
    org_unit_type_name: Option<&'a str>,
    validation_status: ValidationStatus,
    source_ref: Option<&'a str>,
}

pub fn feature<'a>(unit: &'a OrgUnit, context: &'a Context, shape: Option<&'a RawValue>) -> Feature<'a> {
    let point = || {
        unit.location
            .map(|l| FeatureGeometry::Point { kind: "Point", coordinates: [l.longitude, l.latitude, l.altitude] })
    };
    Feature {
        kind: "Feature",
        id: unit.id,
        geometry: shape.map(FeatureGeometry::Shape).or_else(point),
        properties: FeatureProperties {
            name: &unit.name,
            parent_id: unit.parent_id,
            org_unit_type_id: unit.org_unit_type_id,
            org_unit_type_name: context.type_name(unit),
            validation_status: unit.validation_status,
            source_ref: unit.source_ref.as_deref(),
        },
    }
}

/// `{"type": "FeatureCollection", "features": [...]}`.
#[derive(Serialize)]
pub struct FeatureCollection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<Feature<'a>>,
}

impl<'a> FeatureCollection<'a> {
    pub fn new(features: Vec<Feature<'a>>) -> Self {
        FeatureCollection { kind: "FeatureCollection", features }
    }
}

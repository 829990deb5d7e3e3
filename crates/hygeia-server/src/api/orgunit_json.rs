//! Org units in the JSON shapes Iaso's clients read: the light parent chain, list rows, mobile
//! rows, the detail dict, and GeoJSON features.

use std::collections::HashMap;

use std::sync::Arc;

use hygeia_core::{DataSource, OrgUnit, OrgUnitId, OrgUnitType};
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

pub fn type_json(t: &OrgUnitType) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "short_name": t.short_name,
        "created_at": epoch(t.created_at),
        "updated_at": epoch(t.updated_at),
        "depth": t.depth,
    })
}

/// `{id, name, parent: {...}, org_unit_type_id, org_unit_type_name}` up to the root.
pub fn light_parent(unit: &OrgUnit, context: &Context) -> Value {
    json!({
        "id": unit.id,
        "name": unit.name,
        "parent": context.parent(unit).map(|p| light_parent(p, context)),
        "org_unit_type_id": unit.org_unit_type_id,
        "org_unit_type_name": context.type_name(unit),
    })
}

/// A row of the paginated list.
pub fn list_row(unit: &OrgUnit, context: &Context) -> Value {
    let source = context.source(unit);
    json!({
        "id": unit.id,
        "name": unit.name,
        "aliases": aliases(unit),
        "parent_id": unit.parent_id,
        "validation_status": unit.validation_status,
        "parent_name": context.parent(unit).map(|p| p.name.as_str()),
        "source": source.map(|s| s.name.as_str()),
        "source_ref": unit.source_ref,
        "sub_source": null,
        "org_unit_type_name": context.type_name(unit),
        "parent": context.parent(unit).map(|p| light_parent(p, context)),
        "latitude": unit.location.map(|l| l.latitude),
        "longitude": unit.location.map(|l| l.longitude),
        "altitude": unit.location.map(|l| l.altitude),
        "has_geo_json": unit.has_shape,
        "search_index": null,
        "created_at": epoch(unit.created_at),
        "source_id": source.map(|s| s.id),
        "org_unit_type": context.org_unit_type(unit).map(type_json),
        "org_unit_type_id": unit.org_unit_type_id,
        "instances_count": 0,
        "updated_at": epoch(unit.updated_at),
        "groups": context.groups.get(&unit.id).cloned().unwrap_or_default(),
        "creator": null,
        "projects": [],
        "default_image": null,
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
            if full_parents { detail(p, context, Value::Null, true) } else { light_parent(p, context) }
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

/// A feature for maps: the unit's boundary when given, else its point, else no geometry.
pub fn feature(unit: &OrgUnit, context: &Context, shape: Option<&Value>) -> Value {
    let point =
        || unit.location.map(|l| json!({"type": "Point", "coordinates": [l.longitude, l.latitude, l.altitude]}));
    json!({
        "type": "Feature",
        "id": unit.id,
        "geometry": shape.cloned().or_else(point),
        "properties": {
            "name": unit.name,
            "parent_id": unit.parent_id,
            "org_unit_type_id": unit.org_unit_type_id,
            "org_unit_type_name": context.type_name(unit),
            "validation_status": unit.validation_status,
            "source_ref": unit.source_ref,
        },
    })
}

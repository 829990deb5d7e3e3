//! Trees from collections of features (GeoJSON, Shapefile): each feature a unit, its properties
//! mapped to the unit's id, parent id, name, type and level by a [`FeatureMapping`].

use std::collections::HashMap;

use geo::Geometry;

use crate::draft::{DraftLevel, DraftNode, DraftParent, TreeDraft};
use crate::error::{FormatError, Located};
use crate::geometry::{self, UnitGeometry};

/// Which property holds what. The Malawi boundaries (naomi), for instance, need
/// `id=area_id, parent=parent_area_id, name=area_name, type=area_level_label, level=area_level`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMapping {
    /// The unit's reference (a GeoJSON feature's own `id` when the property is absent).
    pub id: String,
    /// The parent's reference; empty or absent: a root.
    pub parent: String,
    pub name: String,
    /// The type's name; absent: "Level {level}", else `default_type`.
    pub type_name: String,
    /// The depth (a number).
    pub level: String,
    pub default_type: String,
}

impl Default for FeatureMapping {
    fn default() -> Self {
        FeatureMapping {
            id: "id".into(),
            parent: "parent_id".into(),
            name: "name".into(),
            type_name: "type".into(),
            level: "level".into(),
            default_type: "Org unit".into(),
        }
    }
}

impl FeatureMapping {
    /// The properties of Hygeia's own GeoJSON export, so that an export re-imports.
    pub fn hygeia_export() -> Self {
        FeatureMapping { id: "ref".into(), parent: "parent_ref".into(), ..Default::default() }
    }
}

/// A feature's property, as text: strings trimmed, whole numbers without a decimal point.
pub enum Property {
    Missing,
    Text(String),
}

/// Builds a draft from features, one at a time.
pub struct FeatureTree {
    mapping: FeatureMapping,
    draft: TreeDraft,
    levels: HashMap<(String, Option<i64>), usize>,
    refs: HashMap<String, usize>,
}

impl FeatureTree {
    pub fn new(file: &str, mapping: FeatureMapping) -> Self {
        FeatureTree {
            mapping,
            draft: TreeDraft { file: file.to_owned(), ..Default::default() },
            levels: HashMap::new(),
            refs: HashMap::new(),
        }
    }

    /// Adds the `row`th feature (1-based). `property` answers for the mapped names;
    /// `feature_id` is the feature's own id, if the format has one.
    pub fn add(
        &mut self,
        row: usize,
        property: impl Fn(&str) -> Option<String>,
        feature_id: Option<String>,
        geometry: Option<Geometry<f64>>,
    ) -> Result<(), FormatError> {
        let mapping = &self.mapping;
        let at = |column: &str| Located {
            file: self.draft.file.clone(),
            part: None,
            row: Some(row),
            column: Some(column.to_owned()),
        };
        let id = property(&mapping.id).or(feature_id).map(|s| s.trim().to_owned()).unwrap_or_default();
        if id.is_empty() {
            return Err(FormatError::invalid(at(&mapping.id), "the feature has no id: every unit needs one"));
        }
        if let Some(other) = self.refs.get(&id) {
            return Err(FormatError::invalid(at(&mapping.id), format!("id \"{id}\" is also used by row {other}")));
        }
        let name = property(&mapping.name).map(|s| s.trim().to_owned()).unwrap_or_default();
        if name.is_empty() {
            return Err(FormatError::invalid(at(&mapping.name), "the name is empty"));
        }
        let level = match property(&mapping.level) {
            None => None,
            Some(text) => {
                Some(text.trim().parse::<f64>().ok().filter(|l| l.fract() == 0.0 && l.abs() < 1e6).ok_or_else(|| {
                    FormatError::invalid(at(&mapping.level), format!("\"{text}\" is not a whole number"))
                })? as i64)
            }
        };
        let type_name = property(&mapping.type_name)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .or_else(|| level.map(|l| format!("Level {l}")))
            .unwrap_or_else(|| mapping.default_type.clone());
        let key = (type_name.clone(), level);
        let level_index = match self.levels.get(&key) {
            Some(&index) => index,
            None => {
                self.draft.levels.push(DraftLevel { name: type_name, depth: level });
                self.levels.insert(key, self.draft.levels.len() - 1);
                self.draft.levels.len() - 1
            }
        };
        let parent = match property(&mapping.parent).map(|p| p.trim().to_owned()) {
            Some(parent) if !parent.is_empty() => {
                if parent == id {
                    return Err(FormatError::invalid(at(&mapping.parent), "a unit cannot be its own parent"));
                }
                DraftParent::Ref(parent)
            }
            _ => DraftParent::Root,
        };
        let mut node = DraftNode::new(name, level_index, parent, row);
        node.source_ref = Some(id.clone());
        if let Some(geometry) = geometry {
            match geometry::from_geo(geometry).map_err(|m| FormatError::invalid(at("geometry"), m))? {
                Some(UnitGeometry::Point(location)) => node.location = Some(location),
                Some(UnitGeometry::Shape(shape)) => node.shape = Some(shape),
                None => {}
            }
        }
        self.refs.insert(id, row);
        self.draft.nodes.push(node);
        Ok(())
    }

    /// The draft, its levels ordered by depth (levels without one last, in order of appearance).
    pub fn finish(mut self) -> TreeDraft {
        let mut order: Vec<usize> = (0..self.draft.levels.len()).collect();
        order.sort_by_key(|&i| (self.draft.levels[i].depth.is_none(), self.draft.levels[i].depth, i));
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        self.draft.levels = order.iter().map(|&i| self.draft.levels[i].clone()).collect();
        for node in &mut self.draft.nodes {
            node.level = new_index[node.level];
        }
        self.draft
    }
}

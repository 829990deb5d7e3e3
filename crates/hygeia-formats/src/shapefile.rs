//! ESRI Shapefiles (`.shp` with its `.dbf`, and `.prj`/`.cpg` beside them) as trees, mapped like
//! GeoJSON features. DBF field names are at most 10 characters: a mapped name longer than that
//! also matches its first 10 characters (`parent_area_id` finds `parent_are`).

use std::path::Path;

use geo::Geometry;
use shapefile::dbase::FieldValue;

use crate::draft::TreeDraft;
use crate::error::{FormatError, Located};
use crate::features::{FeatureMapping, FeatureTree};

pub fn read(path: &Path, file: &str, mapping: &FeatureMapping) -> Result<TreeDraft, FormatError> {
    let whole =
        |message: String| FormatError::invalid(Located { file: file.to_owned(), ..Default::default() }, message);
    if let Ok(prj) = std::fs::read_to_string(path.with_extension("prj"))
        && !(prj.contains("WGS_1984") || prj.contains("WGS 84") || prj.contains("4326"))
    {
        return Err(whole(format!(
            "the .prj does not describe WGS84 longitude/latitude: {}",
            prj.chars().take(80).collect::<String>()
        )));
    }
    let mut reader = shapefile::Reader::from_path(path).map_err(|e| whole(format!("not a readable shapefile: {e}")))?;
    let mut tree = FeatureTree::new(file, mapping.clone());
    for (i, item) in reader.iter_shapes_and_records().enumerate() {
        let row = i + 1;
        let at = |column: &str| Located {
            file: file.to_owned(),
            part: None,
            row: Some(row),
            column: Some(column.to_owned()),
        };
        let (shape, record) =
            item.map_err(|e| FormatError::invalid(at("geometry"), format!("unreadable record: {e}")))?;
        let property = |name: &str| {
            let value = record.get(name).or_else(|| record.get(&name.chars().take(10).collect::<String>()))?;
            text(value)
        };
        let geometry = match shape {
            shapefile::Shape::NullShape => None,
            shape => {
                Some(Geometry::try_from(shape).map_err(|e| FormatError::invalid(at("geometry"), format!("{e:?}")))?)
            }
        };
        tree.add(row, property, None, geometry)?;
    }
    Ok(tree.finish())
}

fn text(value: &FieldValue) -> Option<String> {
    match value {
        FieldValue::Character(Some(s)) | FieldValue::Memo(s) => Some(s.trim().to_owned()),
        FieldValue::Numeric(Some(n)) | FieldValue::Double(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
            Some(format!("{}", *n as i64))
        }
        FieldValue::Numeric(Some(n)) | FieldValue::Double(n) => Some(n.to_string()),
        FieldValue::Float(Some(n)) => Some(n.to_string()),
        FieldValue::Integer(n) => Some(n.to_string()),
        FieldValue::Logical(Some(b)) => Some(b.to_string()),
        _ => None,
    }
}

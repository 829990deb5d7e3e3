//! ESRI Shapefiles (`.shp` with its `.dbf`, and `.prj`/`.cpg` beside them) as trees, mapped like
//! GeoJSON features. DBF field names are at most 10 characters: a mapped name longer than that
//! also matches its first 10 characters (`parent_area_id` finds `parent_are`). Uploads come as a
//! zip holding one `.shp` and its companions ([`read_zip`]).

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

/// The companions of a `.shp` that the reader looks for beside it.
const COMPANIONS: &[&str] = &["shp", "shx", "dbf", "prj", "cpg"];

/// Most bytes a zip may unpack to: a country's boundaries are tens of megabytes; this refuses
/// archives built to fill the disk.
const MAX_UNZIPPED: u64 = 2 << 30;

/// A zipped Shapefile: the archive must hold exactly one `.shp` (in any folder; macOS's
/// `__MACOSX` copies are ignored), whose companions of the same name are unpacked beside it into
/// a private temporary folder, read, then removed.
pub fn read_zip(path: &Path, file: &str, mapping: &FeatureMapping) -> Result<TreeDraft, FormatError> {
    let whole =
        |message: String| FormatError::invalid(Located { file: file.to_owned(), ..Default::default() }, message);
    let opened = std::fs::File::open(path).map_err(|source| FormatError::Io { file: file.to_owned(), source })?;
    let mut archive = zip::ZipArchive::new(opened).map_err(|e| whole(format!("not a readable zip archive: {e}")))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| whole(format!("a file name in the zip is unreadable: {e}")))?;
    let extension = |name: &str| name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let stems: Vec<&str> = names
        .iter()
        .filter(|n| !n.starts_with("__MACOSX/") && extension(n).as_deref() == Some("shp"))
        .map(|n| &n[..n.len() - 4])
        .collect();
    let stem = match stems.as_slice() {
        [stem] => stem.to_string(),
        [] => return Err(whole("the zip holds no .shp file".into())),
        many => return Err(whole(format!("the zip holds {} .shp files; send one layer per file", many.len()))),
    };
    let folder = private_folder().map_err(|source| FormatError::Io { file: file.to_owned(), source })?;
    let unpacked = unpack(&mut archive, &names, &stem, &folder, file);
    let result = unpacked.and_then(|()| {
        let shp_name = format!("{file} ({}.shp)", stem.rsplit('/').next().unwrap_or(&stem));
        read(&folder.join("layer.shp"), &shp_name, mapping)
    });
    let _ = std::fs::remove_dir_all(&folder);
    result
}

/// Copies `stem.*` companions out of the archive as `folder/layer.<ext>` (never a path the archive
/// names, so no entry can write outside the folder).
fn unpack(
    archive: &mut zip::ZipArchive<std::fs::File>,
    names: &[String],
    stem: &str,
    folder: &Path,
    file: &str,
) -> Result<(), FormatError> {
    let whole =
        |message: String| FormatError::invalid(Located { file: file.to_owned(), ..Default::default() }, message);
    let io = |source| FormatError::Io { file: file.to_owned(), source };
    let mut budget = MAX_UNZIPPED;
    for name in names {
        let Some((entry_stem, ext)) = name.rsplit_once('.') else { continue };
        let ext = ext.to_ascii_lowercase();
        if entry_stem != stem || !COMPANIONS.contains(&ext.as_str()) {
            continue;
        }
        let entry = archive.by_name(name).map_err(|e| whole(format!("{name}: unreadable in the zip: {e}")))?;
        let mut out = std::fs::File::create(folder.join(format!("layer.{ext}"))).map_err(io)?;
        let copied = std::io::copy(&mut std::io::Read::take(entry, budget + 1), &mut out)
            .map_err(|e| whole(format!("{name}: unreadable in the zip: {e}")))?;
        if copied > budget {
            return Err(whole(format!("the zip unpacks to more than {} GiB", MAX_UNZIPPED >> 30)));
        }
        budget -= copied;
    }
    Ok(())
}

fn private_folder() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let name = format!("hygeia-shp-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let folder = std::env::temp_dir().join(name);
    std::fs::create_dir(&folder)?;
    Ok(folder)
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

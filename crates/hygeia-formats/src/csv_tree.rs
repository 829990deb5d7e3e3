//! Iaso's tree import from CSV (`tree_importer`): one row per leaf (a school, a facility), its
//! ancestors named in parent columns top first, its point in latitude/longitude columns, all mapped
//! by a data dictionary:
//!
//! ```json
//! {"name": "Nom Ecole", "parents": ["ProvincePoliAdmin", "Proved", "Sproved"],
//!  "latitude": "GPS_latitude", "longitude": "GPS_longitude", "source_ref": "Numero SECOPE"}
//! ```
//!
//! Each parent column becomes a level (an org-unit type named after the column); a parent is one
//! node per (name, parent), so the same district name under two provinces makes two districts. A
//! parent cell that is empty, `NULL` or "néant" is skipped (the row's unit hangs from the level
//! above). Leaves are never merged: two schools of the same name under one parent are two schools.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use hygeia_core::Location;
use serde::Deserialize;

use crate::draft::{DraftLevel, DraftNode, DraftParent, TreeDraft};
use crate::error::{FormatError, Located};

/// Which columns hold what.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDict {
    pub name: String,
    #[serde(default)]
    pub parents: Vec<String>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
    pub altitude: Option<String>,
    pub source_ref: Option<String>,
}

impl DataDict {
    pub fn from_json(text: &str) -> Result<DataDict, FormatError> {
        let dict: DataDict =
            serde_json::from_str(text).map_err(|err| FormatError::mapping("data_dict", err.to_string()))?;
        if dict.name.trim().is_empty() {
            return Err(FormatError::mapping("data_dict.name", "Name the column that holds the units' names."));
        }
        if dict.latitude.is_some() != dict.longitude.is_some() {
            return Err(FormatError::mapping("data_dict.latitude", "Give latitude and longitude columns together."));
        }
        Ok(dict)
    }

    /// The columns of Hygeia's (and Iaso's) own org-unit CSV export, so that an export re-imports.
    pub fn iaso_export() -> DataDict {
        DataDict {
            name: "Nom".into(),
            parents: ["parent 4", "parent 3", "parent 2", "parent 1"].map(String::from).to_vec(),
            latitude: Some("Latitude".into()),
            longitude: Some("Longitude".into()),
            altitude: None,
            source_ref: Some("Référence externe".into()),
        }
    }
}

/// Reads a tree from CSV. `file` names the input in messages; `leaf_type` is the leaves' level
/// name. The separator is the header line's most frequent of `;`, `,` and tab.
pub fn read(input: impl Read, file: &str, dict: &DataDict, leaf_type: &str) -> Result<TreeDraft, FormatError> {
    let io = |source| FormatError::Io { file: file.to_owned(), source };
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let head = input.fill_buf().map_err(io)?;
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = sniff_delimiter(first_line);
    if bom {
        input.consume(3);
    }
    let mut csv = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(input);
    let at = |row: Option<usize>, column: Option<&str>| Located {
        file: file.to_owned(),
        part: None,
        row,
        column: column.map(str::to_owned),
    };
    let headers: Vec<String> = csv
        .headers()
        .map_err(|err| FormatError::invalid(at(Some(1), None), csv_message(&err)))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let column = |key: &str, title: &str| -> Result<usize, FormatError> {
        headers.iter().position(|h| h == title.trim()).ok_or_else(|| {
            let named: Vec<&str> = headers.iter().map(String::as_str).filter(|h| !h.is_empty()).take(12).collect();
            let mut message =
                format!("no column \"{title}\" (named by data_dict.{key}); the header has {}", named.join(", "));
            if headers.len() == 1 {
                message.push_str(". Only one column was found: is the separator ';', ',' or a tab?");
            }
            FormatError::invalid(at(Some(1), Some(title)), message)
        })
    };
    let name_column = column("name", &dict.name)?;
    let parent_columns: Vec<usize> = dict
        .parents
        .iter()
        .enumerate()
        .map(|(i, title)| column(&format!("parents[{i}]"), title))
        .collect::<Result<_, _>>()?;
    let optional = |key: &str, title: &Option<String>| title.as_deref().map(|t| column(key, t)).transpose();
    let latitude_column = optional("latitude", &dict.latitude)?;
    let longitude_column = optional("longitude", &dict.longitude)?;
    let altitude_column = optional("altitude", &dict.altitude)?;
    let source_ref_column = optional("source_ref", &dict.source_ref)?;

    let levels = dict.parents.iter().map(String::as_str).chain([leaf_type]);
    let levels = levels.enumerate().map(|(i, name)| DraftLevel { name: name.to_owned(), depth: Some(i as i64 + 1) });
    let mut draft = TreeDraft { file: file.to_owned(), levels: levels.collect(), ..Default::default() };
    let mut parents: HashMap<(Option<usize>, String), usize> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let mut row = 1;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => row += 1,
            Err(err) => return Err(FormatError::invalid(at(Some(row + 1), None), csv_message(&err))),
        }
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let cell = |index: usize| value(record.get(index).unwrap_or(""));
        // Names may hold quoted line breaks (a cell typed over two lines): one space instead.
        let name_of = |index: usize| one_line(cell(index));
        let mut parent = None;
        for (level, &index) in parent_columns.iter().enumerate() {
            let name = name_of(index);
            if is_blank_level(&name) {
                continue;
            }
            let key = (parent, name.clone());
            let next = match parents.get(&key) {
                Some(&existing) => existing,
                None => {
                    draft.nodes.push(DraftNode::new(name.clone(), level, parent_link(parent), row));
                    parents.insert(key, draft.nodes.len() - 1);
                    draft.nodes.len() - 1
                }
            };
            parent = Some(next);
        }
        let name = name_of(name_column);
        if name.is_empty() {
            return Err(FormatError::invalid(at(Some(row), Some(&dict.name)), "the name is empty"));
        }
        let number = |index: Option<usize>, title: &Option<String>, range: f64| -> Result<Option<f64>, FormatError> {
            let Some(index) = index else { return Ok(None) };
            let text = cell(index);
            if text.is_empty() {
                return Ok(None);
            }
            let title = title.as_deref().unwrap_or_default();
            // A decimal comma, as spreadsheets in French write it.
            let parsed: f64 = text
                .replace(',', ".")
                .parse()
                .map_err(|_| FormatError::invalid(at(Some(row), Some(title)), format!("\"{text}\" is not a number")))?;
            if !parsed.is_finite() || parsed.abs() > range {
                return Err(FormatError::invalid(
                    at(Some(row), Some(title)),
                    format!("{text} is out of range (-{range} to {range})"),
                ));
            }
            Ok(Some(parsed))
        };
        let latitude = number(latitude_column, &dict.latitude, 90.0)?;
        let longitude = number(longitude_column, &dict.longitude, 180.0)?;
        let altitude = number(altitude_column, &dict.altitude, 100_000.0)?;
        let location = match (latitude, longitude) {
            (Some(latitude), Some(longitude)) => {
                Some(Location { latitude, longitude, altitude: altitude.unwrap_or(0.0) })
            }
            (None, None) => None,
            (Some(_), None) => {
                let column = dict.longitude.as_deref();
                return Err(FormatError::invalid(at(Some(row), column), "a latitude without a longitude"));
            }
            (None, Some(_)) => {
                let column = dict.latitude.as_deref();
                return Err(FormatError::invalid(at(Some(row), column), "a longitude without a latitude"));
            }
        };
        let source_ref = source_ref_column.map(cell).filter(|r| !r.is_empty()).map(str::to_owned);
        let mut leaf = DraftNode::new(name, parent_columns.len(), parent_link(parent), row);
        leaf.location = location;
        leaf.source_ref = source_ref;
        draft.nodes.push(leaf);
    }
    Ok(draft)
}

fn parent_link(parent: Option<usize>) -> DraftParent {
    parent.map_or(DraftParent::Root, DraftParent::Node)
}

/// `;`, `,` or tab: whichever the header line has most of (`;` on a tie, as Iaso's files use).
fn sniff_delimiter(header: &[u8]) -> u8 {
    let count = |d: u8| header.iter().filter(|b| **b == d).count();
    [b';', b',', b'\t'].into_iter().max_by_key(|d| (count(*d), *d == b';')).unwrap_or(b';')
}

/// A cell's value: trimmed, with the text `NULL` (which database dumps write) as empty.
fn value(cell: &str) -> &str {
    let cell = cell.trim();
    if cell.eq_ignore_ascii_case("null") { "" } else { cell }
}

/// Whitespace runs, line breaks included, as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Iaso skips a parent level whose value is empty or "néant" (nothing), in any case or accent.
fn is_blank_level(name: &str) -> bool {
    let folded: String = name
        .to_lowercase()
        .chars()
        .map(|c| if matches!(c, 'é' | 'è' | 'ê' | 'ë') { 'e' } else { c })
        .filter(|c| !c.is_whitespace())
        .collect();
    folded.is_empty() || folded == "neant"
}

fn csv_message(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text (save it as CSV UTF-8)".into(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> DataDict {
        DataDict::from_json(
            r#"{"name": "School", "parents": ["Province", "District"], "latitude": "Lat", "longitude": "Lon",
                "source_ref": "Code"}"#,
        )
        .unwrap()
    }

    fn read_text(text: &str) -> Result<TreeDraft, FormatError> {
        read(text.as_bytes(), "schools.csv", &dict(), "School")
    }

    #[test]
    fn parents_are_shared_per_parent_and_leaves_never_merge() {
        let text = "\u{feff}Province;District;School;Lat;Lon;Code\r\n\
            Kongo;Boma;EP Kisolo;-5.8;13.05;A1\n\
            Kongo;Boma;EP Kisolo;-5.9;13.06;\r\n\
            Kasai;Boma;EP Luiza;-6,1;21,2;NULL\n\
            Kasai;NEANT;\"EP \nTshimbulu\";;;\n\
            ;;;;;\n";
        let draft = read_text(text).unwrap();
        assert_eq!(draft.level_names(), ["Province", "District", "School"]);
        assert_eq!(draft.counts_by_level(), [2, 2, 4], "{draft:#?}");
        let names: Vec<(&str, usize, Option<usize>)> = draft
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.level, if let DraftParent::Node(p) = n.parent { Some(p) } else { None }))
            .collect();
        assert_eq!(
            names,
            [
                ("Kongo", 0, None),
                ("Boma", 1, Some(0)),
                ("EP Kisolo", 2, Some(1)),
                ("EP Kisolo", 2, Some(1)),
                ("Kasai", 0, None),
                ("Boma", 1, Some(4)),
                ("EP Luiza", 2, Some(5)),
                ("EP Tshimbulu", 2, Some(4)),
            ]
        );
        assert_eq!(draft.nodes[2].source_ref.as_deref(), Some("A1"));
        assert_eq!(draft.nodes[3].source_ref, None);
        assert_eq!(draft.nodes[6].location, Some(Location { latitude: -6.1, longitude: 21.2, altitude: 0.0 }));
        assert_eq!(draft.nodes[7].location, None);
        assert_eq!(draft.nodes[7].row, 5);
    }

    #[test]
    fn mistakes_are_located() {
        let message = |text: &str| read_text(text).unwrap_err().to_string();
        assert_eq!(
            message("Province;District;School;Lat;Lon;Code\nKongo;Boma;EP;north;13;\n"),
            "schools.csv, row 2, column \"Lat\": \"north\" is not a number"
        );
        assert_eq!(
            message("Province;District;School;Lat;Lon;Code\nKongo;Boma;EP;1;13;\nKongo;Boma;EP 2;1;213;\n"),
            "schools.csv, row 3, column \"Lon\": 213 is out of range (-180 to 180)"
        );
        assert_eq!(
            message("Province;District;School;Lat;Lon;Code\nKongo;Boma; ;1;13;\n"),
            "schools.csv, row 2, column \"School\": the name is empty"
        );
        assert_eq!(
            message("Province;District;School;Lat;Lon;Code\nKongo;Boma;EP;1;;\n"),
            "schools.csv, row 2, column \"Lon\": a latitude without a longitude"
        );
        let wrong_separator = message("Province|District|School|Lat|Lon|Code\n");
        assert!(wrong_separator.starts_with("schools.csv, row 1, column \"School\": no column"), "{wrong_separator}");
        assert!(wrong_separator.contains("is the separator"), "{wrong_separator}");
        let missing = message("Province,School,Lat,Lon,Code\n");
        assert!(missing.contains("column \"District\"") && missing.contains("data_dict.parents[1]"), "{missing}");
        let not_text = read(
            &b"Province;District;School;Lat;Lon;Code\nKongo;\xff\xfe;EP;1;1;\n"[..],
            "schools.csv",
            &dict(),
            "School",
        );
        assert!(not_text.unwrap_err().to_string().contains("not UTF-8"));
    }

    #[test]
    fn data_dicts_are_checked() {
        let message = |text: &str| DataDict::from_json(text).unwrap_err().to_string();
        assert!(message(r#"{"parents": []}"#).contains("missing field `name`"));
        assert!(message(r#"{"name": "N", "colour": "x"}"#).contains("unknown field `colour`"));
        assert!(message(r#"{"name": "N", "latitude": "Lat"}"#).starts_with("data_dict.latitude"));
        assert!(message(r#"{"name": " "}"#).starts_with("data_dict.name"));
        assert_eq!(DataDict::iaso_export().parents.len(), 4);
    }
}

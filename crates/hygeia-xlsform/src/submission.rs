//! Submissions: the XML a phone or a browser sends for one filled form, read with the form
//! version's XForm.
//!
//! - [`Envelope`]: what the XML says about itself (form id, version, instance id, the id it
//!   replaces when it is an edit, its name), read before anything else.
//! - [`Schema`]: from our XForm, each node's path, type and whether it repeats.
//! - [`typed_json`]: the answers as typed JSON nested by groups and repeats (repeats are arrays
//!   even with one instance; numbers, geopoints and multiple choices parsed; nodes the form does
//!   not know kept under `_unknown`).
//! - [`iaso_flat_json`]: Iaso's `Instance.json`: every answer under its bare name, all strings,
//!   repeats as arrays of flat objects, `instanceID` and `_version` at the top.
//!
//! Collect leaves out the default XForms namespace and others put it in, so elements are matched
//! by local name. Non-relevant nodes are absent from a submission and unanswered ones empty: a
//! missing key and an empty value mean different things and are kept apart.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

/// Why a submission could not be read; the text says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    #[error("the submission is not well-formed XML: {0}")]
    NotXml(String),
    #[error("the submission's root element <{0}> has no 'id' attribute naming its form")]
    NoFormId(String),
}

/// What a submission says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The root element's name (`data` unless the form says otherwise).
    pub root: String,
    pub form_id: String,
    /// The root's `version` attribute (the form version it was filled with), if any.
    pub version: Option<String>,
    /// `meta/instanceID` (or the root's `instanceID` attribute), as written (`uuid:...`).
    pub instance_id: Option<String>,
    /// `meta/deprecatedID`: the instance this one edits.
    pub deprecated_id: Option<String>,
    pub instance_name: Option<String>,
    /// Encrypted submissions (`encrypted="yes"`) carry only a manifest in the clear.
    pub encrypted: bool,
}

fn parse(xml: &str) -> Result<roxmltree::Document<'_>, SubmissionError> {
    let options = roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() };
    roxmltree::Document::parse_with_options(xml, options).map_err(|e| SubmissionError::NotXml(e.to_string()))
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(node: roxmltree::Node) -> String {
    node.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect::<String>().trim().to_owned()
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Reads a submission's envelope.
pub fn envelope(xml: &str) -> Result<Envelope, SubmissionError> {
    let document = parse(xml)?;
    let root = document.root_element();
    let name = root.tag_name().name().to_owned();
    let form_id = root.attribute("id").map(str::trim).filter(|id| !id.is_empty());
    let Some(form_id) = form_id else { return Err(SubmissionError::NoFormId(name)) };
    let meta = child(root, "meta");
    let meta_text = |field: &str| meta.and_then(|m| child(m, field)).map(text_of).and_then(non_empty);
    Ok(Envelope {
        form_id: form_id.to_owned(),
        version: root.attribute("version").map(str::to_owned).filter(|v| !v.is_empty()),
        instance_id: meta_text("instanceID").or_else(|| root.attribute("instanceID").map(str::to_owned)),
        deprecated_id: meta_text("deprecatedID"),
        instance_name: meta_text("instanceName"),
        encrypted: root.attribute("encrypted") == Some("yes"),
        root: name,
    })
}

/// How an answer is typed, from its bind and control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Integer,
    Decimal,
    Geopoint,
    Geotrace,
    Geoshape,
    /// A file: the value is its name, the file an attachment of the submission.
    Binary,
    /// Space-separated choice names (select_multiple, rank).
    Names,
}

/// The nodes of a form version: each path (from the root, `group/question`) with its type, and
/// the paths of repeats.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    fields: HashMap<String, ValueType>,
    /// The paths of `fields` in the form's order (its binds').
    order: Vec<String>,
    repeats: HashSet<String>,
    /// Paths of every node the form declares (questions, groups, repeats, meta).
    known: HashSet<String>,
}

impl Schema {
    /// Reads the schema of an XForm: its binds, its repeats, its multiple-choice controls.
    pub fn from_xform(xform: &str) -> Result<Schema, SubmissionError> {
        let document = parse(xform)?;
        let mut schema = Schema::default();
        let mut multiple: HashSet<String> = HashSet::new();
        let root_instance = document
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == "instance" && n.attribute("id").is_none())
            .and_then(|instance| instance.children().find(|c| c.is_element()));
        let root = root_instance.map(|r| format!("/{}/", r.tag_name().name())).unwrap_or_else(|| "/".to_owned());
        let relative = |path: &str| path.strip_prefix(root.as_str()).map(str::to_owned);
        for node in document.descendants().filter(|n| n.is_element()) {
            match node.tag_name().name() {
                "repeat" => {
                    if let Some(path) = node.attribute("nodeset").and_then(relative) {
                        schema.repeats.insert(path);
                    }
                }
                "select" | "odk:rank" | "rank" => {
                    if let Some(path) = node.attribute("ref").and_then(relative) {
                        multiple.insert(path);
                    }
                }
                _ => {}
            }
        }
        for bind in document.descendants().filter(|n| n.is_element() && n.tag_name().name() == "bind") {
            let Some(path) = bind.attribute("nodeset").and_then(relative) else { continue };
            let kind = match bind.attribute("type").unwrap_or("string") {
                "int" | "integer" => ValueType::Integer,
                "decimal" => ValueType::Decimal,
                "geopoint" => ValueType::Geopoint,
                "geotrace" => ValueType::Geotrace,
                "geoshape" => ValueType::Geoshape,
                "binary" => ValueType::Binary,
                "odk:rank" => ValueType::Names,
                _ if multiple.contains(&path) => ValueType::Names,
                _ => ValueType::Text,
            };
            if schema.fields.insert(path.clone(), kind).is_none() {
                schema.order.push(path);
            }
        }
        // Every node of the primary instance is known (a trigger, say, has no bind).
        if let Some(instance_root) = root_instance {
            for node in instance_root.descendants().filter(|n| n.is_element() && *n != instance_root) {
                let path: Vec<&str> = node
                    .ancestors()
                    .take_while(|a| *a != instance_root)
                    .map(|a| a.tag_name().name())
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                schema.known.insert(path.join("/"));
            }
        }
        // Every ancestor of a field or repeat is a known container.
        let paths: Vec<String> = schema.fields.keys().chain(schema.repeats.iter()).cloned().collect();
        for path in paths {
            let mut prefix = String::new();
            for part in path.split('/') {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                schema.known.insert(prefix.clone());
            }
        }
        Ok(schema)
    }

    pub fn value_type(&self, path: &str) -> Option<ValueType> {
        self.fields.get(path).copied()
    }

    pub fn is_repeat(&self, path: &str) -> bool {
        self.repeats.contains(path)
    }

    /// The answers' paths in the form's order, with their types: what a table of submissions
    /// has one column for (groups and repeats are containers, not columns).
    pub fn questions(&self) -> impl Iterator<Item = (&str, ValueType)> {
        self.order.iter().filter(|p| !self.repeats.contains(*p)).map(|p| (p.as_str(), self.fields[p]))
    }

    /// The repeats that contain `path`, outermost first.
    pub fn repeats_around(&self, path: &str) -> Vec<&str> {
        let mut found = Vec::new();
        for (end, _) in path.match_indices('/') {
            if let Some(repeat) = self.repeats.get(&path[..end]) {
                found.push(repeat.as_str());
            }
        }
        found
    }

    /// The last names of the repeats (Iaso keys repeats by name).
    fn repeat_names(&self) -> HashSet<&str> {
        self.repeats.iter().map(|p| p.rsplit('/').next().unwrap_or(p)).collect()
    }
}

/// The answers as typed JSON, nested by groups and repeats (see the module's documentation).
pub fn typed_json(xml: &str, schema: &Schema) -> Result<Value, SubmissionError> {
    let document = parse(xml)?;
    Ok(Value::Object(typed_children(document.root_element(), "", schema)))
}

fn typed_children(node: roxmltree::Node, path: &str, schema: &Schema) -> Map<String, Value> {
    let mut object = Map::new();
    let mut unknown = Map::new();
    for element in node.children().filter(|c| c.is_element()) {
        let name = element.tag_name().name();
        let child_path = if path.is_empty() { name.to_owned() } else { format!("{path}/{name}") };
        let known = schema.known.contains(&child_path);
        let has_children = element.children().any(|c| c.is_element());
        let value = if schema.is_repeat(&child_path) || has_children {
            Value::Object(typed_children(element, &child_path, schema))
        } else {
            typed_value(&text_of(element), schema.value_type(&child_path).unwrap_or(ValueType::Text))
        };
        let target = if known { &mut object } else { &mut unknown };
        if schema.is_repeat(&child_path) {
            match target.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => items.push(value),
                other => *other = Value::Array(vec![other.take(), value]),
            }
        } else if let Some(existing) = target.get_mut(name) {
            // A node repeated without the form saying so (unknown to this version): keep all.
            match existing {
                Value::Array(items) => items.push(value),
                other => *other = Value::Array(vec![other.take(), value]),
            }
        } else {
            target.insert(name.to_owned(), value);
        }
    }
    if !unknown.is_empty() {
        object.insert("_unknown".to_owned(), Value::Object(unknown));
    }
    object
}

/// One answer typed: numbers when they parse (else the text, as sent), geopoints as objects,
/// geotraces and shapes as lists of them, choice lists as arrays. Empty stays empty: `null`
/// for typed answers, `""` for text.
fn typed_value(text: &str, kind: ValueType) -> Value {
    if text.is_empty() {
        return if kind == ValueType::Text || kind == ValueType::Binary {
            Value::String(String::new())
        } else {
            Value::Null
        };
    }
    match kind {
        ValueType::Integer => text.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(text.to_owned())),
        ValueType::Decimal => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.to_owned())),
        ValueType::Geopoint => geopoint(text).unwrap_or_else(|| Value::String(text.to_owned())),
        ValueType::Geotrace | ValueType::Geoshape => {
            let points: Option<Vec<Value>> =
                text.split(';').map(str::trim).filter(|p| !p.is_empty()).map(geopoint).collect();
            points.map(Value::Array).unwrap_or_else(|| Value::String(text.to_owned()))
        }
        ValueType::Names => Value::Array(text.split_whitespace().map(|n| Value::String(n.to_owned())).collect()),
        ValueType::Text | ValueType::Binary => Value::String(text.to_owned()),
    }
}

/// `lat lon [alt [acc]]` as `{latitude, longitude, altitude, accuracy}`.
pub fn geopoint(text: &str) -> Option<Value> {
    let numbers: Vec<f64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    let [latitude, longitude, rest @ ..] = numbers.as_slice() else { return None };
    if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) || rest.len() > 2 {
        return None;
    }
    Some(json!({
        "latitude": latitude,
        "longitude": longitude,
        "altitude": rest.first(),
        "accuracy": rest.get(1),
    }))
}

/// Iaso's flat JSON of a submission (`Instance.json`): with a schema, only the form's own
/// answers (plus `formhub/uuid` and meta's `instanceID`, `editUserID`, `deprecatedID`) and its
/// repeats as arrays; without one, every leaf. Keys are bare names; values are strings.
pub fn iaso_flat_json(xml: &str, schema: Option<&Schema>) -> Result<Value, SubmissionError> {
    const ALWAYS: [&str; 6] =
        ["formhub", "formhub/uuid", "meta", "meta/instanceID", "meta/editUserID", "meta/deprecatedID"];
    let document = parse(xml)?;
    let root = document.root_element();
    let repeats = schema.map(Schema::repeat_names).unwrap_or_default();
    let allowed = |path: &str| schema.is_none_or(|s| s.fields.contains_key(path) || ALWAYS.contains(&path));
    fn walk(
        node: roxmltree::Node,
        path: &str,
        filtered: bool,
        repeats: &HashSet<&str>,
        allowed: &dyn Fn(&str) -> bool,
        out: &mut Map<String, Value>,
    ) {
        for element in node.children().filter(|c| c.is_element()) {
            let name = element.tag_name().name();
            let child_path = if path.is_empty() { name.to_owned() } else { format!("{path}/{name}") };
            if repeats.contains(name) {
                // A repeat's instance: its subtree flattened, without the path filter.
                let mut item = Map::new();
                walk(element, &child_path, false, repeats, allowed, &mut item);
                match out.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new())) {
                    Value::Array(items) => items.push(Value::Object(item)),
                    other => *other = Value::Array(vec![Value::Object(item)]),
                }
            } else if element.children().any(|c| c.is_element()) {
                walk(element, &child_path, filtered, repeats, allowed, out);
            } else if !filtered || allowed(&child_path) {
                out.insert(name.to_owned(), Value::String(text_of(element)));
            }
        }
    }
    let mut flat = Map::new();
    walk(root, "", schema.is_some(), &repeats, &allowed, &mut flat);
    if let Some(version) = root.attribute("version") {
        flat.insert("_version".to_owned(), Value::String(version.to_owned()));
    }
    Ok(Value::Object(flat))
}

/// The file names the submission's binary answers name: the attachments it should come with.
pub fn expected_attachments(xml: &str, schema: &Schema) -> Result<Vec<String>, SubmissionError> {
    let document = parse(xml)?;
    let root = document.root_element();
    let mut names = Vec::new();
    for node in root.descendants().filter(|n| n.is_element() && n != &root) {
        let path: Vec<&str> = node
            .ancestors()
            .take_while(|a| a != &root)
            .filter(|a| a.is_element())
            .map(|a| a.tag_name().name())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let path = path.join("/");
        if schema.value_type(&path) == Some(ValueType::Binary) || path == "meta/audit" {
            let file = text_of(node);
            if !file.is_empty() && !names.contains(&file) {
                names.push(file);
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XFORM: &str = r#"<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
      <h:head><model><instance><data id="f1" version="3"><name/><age/><g><loc/><photo/><pets/></g>
        <hh><who/><w/></hh><meta><instanceID/></meta></data></instance>
        <bind nodeset="/data/name" type="string"/><bind nodeset="/data/age" type="int"/>
        <bind nodeset="/data/g/loc" type="geopoint"/><bind nodeset="/data/g/photo" type="binary"/>
        <bind nodeset="/data/g/pets" type="string"/><bind nodeset="/data/hh/who" type="string"/>
        <bind nodeset="/data/hh/w" type="decimal"/><bind nodeset="/data/meta/instanceID" type="string"/>
      </model></h:head>
      <h:body><group ref="/data/g"><select ref="/data/g/pets"/></group>
        <group ref="/data/hh"><repeat nodeset="/data/hh"/></group></h:body></h:html>"#;

    const SUBMISSION: &str = r#"<data xmlns:orx="http://openrosa.org/xforms" id="f1" version="3">
      <name>Awa</name><age>34</age><g><loc>12.37 -1.52 300 5</loc><photo>1714.jpg</photo><pets>cat dog</pets></g>
      <hh><who>A</who><w>2.5</w></hh><extra>?</extra>
      <meta><instanceID>uuid:abc</instanceID><deprecatedID>uuid:old</deprecatedID></meta></data>"#;

    #[test]
    fn envelope_reads_the_ids() {
        let envelope = envelope(SUBMISSION).unwrap();
        assert_eq!(envelope.form_id, "f1");
        assert_eq!(envelope.version.as_deref(), Some("3"));
        assert_eq!(envelope.instance_id.as_deref(), Some("uuid:abc"));
        assert_eq!(envelope.deprecated_id.as_deref(), Some("uuid:old"));
        assert!(matches!(super::envelope("<data><a/></data>"), Err(SubmissionError::NoFormId(r)) if r == "data"));
        assert!(matches!(super::envelope("<data id='x'>"), Err(SubmissionError::NotXml(_))));
    }

    #[test]
    fn typed_json_nests_and_types() {
        let schema = Schema::from_xform(XFORM).unwrap();
        let json = typed_json(SUBMISSION, &schema).unwrap();
        assert_eq!(json["age"], 34);
        assert_eq!(json["g"]["loc"]["latitude"], 12.37);
        assert_eq!(json["g"]["loc"]["accuracy"], 5.0);
        assert_eq!(json["g"]["pets"], json!(["cat", "dog"]));
        // One instance of a repeat is still a list.
        assert_eq!(json["hh"], json!([{"who": "A", "w": 2.5}]));
        assert_eq!(json["_unknown"]["extra"], "?");
        assert_eq!(json["meta"]["instanceID"], "uuid:abc");
        assert_eq!(expected_attachments(SUBMISSION, &schema).unwrap(), ["1714.jpg"]);
    }

    #[test]
    fn questions_come_in_the_form_order_with_their_repeats() {
        let schema = Schema::from_xform(XFORM).unwrap();
        let paths: Vec<&str> = schema.questions().map(|(p, _)| p).collect();
        assert_eq!(paths, ["name", "age", "g/loc", "g/photo", "g/pets", "hh/who", "hh/w", "meta/instanceID"]);
        assert_eq!(schema.questions().nth(4).map(|(_, t)| t), Some(ValueType::Names));
        assert_eq!(schema.repeats_around("hh/who"), ["hh"]);
        assert!(schema.repeats_around("g/loc").is_empty());
    }

    #[test]
    fn unparsable_numbers_are_kept_as_sent() {
        assert_eq!(typed_value("12a", ValueType::Integer), "12a");
        assert_eq!(typed_value("", ValueType::Integer), Value::Null);
        assert_eq!(typed_value("91 0", ValueType::Geopoint), "91 0");
        assert_eq!(typed_value("1 2;3 4", ValueType::Geotrace)[1]["longitude"], 4.0);
    }

    #[test]
    fn iaso_flat_json_drops_groups() {
        let schema = Schema::from_xform(XFORM).unwrap();
        let flat = iaso_flat_json(SUBMISSION, Some(&schema)).unwrap();
        assert_eq!(flat["loc"], "12.37 -1.52 300 5");
        assert_eq!(flat["hh"], json!([{"who": "A", "w": "2.5"}]));
        assert_eq!(flat["instanceID"], "uuid:abc");
        assert_eq!(flat["_version"], "3");
        assert!(flat.get("extra").is_none(), "not a question of the form");
        let unfiltered = iaso_flat_json(SUBMISSION, None).unwrap();
        assert_eq!(unfiltered["extra"], "?");
        assert_eq!(unfiltered["who"], "A", "without a schema repeats are not known");
    }
}

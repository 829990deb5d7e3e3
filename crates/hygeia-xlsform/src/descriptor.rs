//! The form described in JSON: pyxform's survey tree (its `to_json_dict`), which Iaso keeps as each
//! version's `form_descriptor` and data-science clients read to label columns, with Iaso's two
//! additions: `_xpath` (each name's path, `null` where two nodes share the name) and the choice
//! lists by name. Also the flat question list Iaso calls `possible_fields`.
//!
//! Values are the sheet's own text (`required: "yes"`, `${name}` references unexpanded), as in
//! pyxform's JSON; the XForm holds the resolved expressions.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::survey::{Choice, DEFAULT_LANGUAGE, Fields, Form, Group, Node, Question, Text};
use crate::xform::Identity;

/// A question as Iaso lists it in `possible_fields`: leaf name, label without markup, type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PossibleField {
    pub name: String,
    pub label: String,
    pub r#type: String,
}

/// The descriptor of `form`, whose primary instance is `identity.root`.
pub fn descriptor(form: &Form, identity: &Identity) -> Value {
    let settings = &form.settings;
    let mut children: Vec<Value> = form.children.iter().map(|node| node_json(node, form)).collect();
    if !settings.omit_instance_id {
        children.push(json!({
            "name": "meta",
            "type": "group",
            "control": {"bodyless": true},
            "children": [{
                "name": "instanceID",
                "type": "calculate",
                "bind": {"readonly": "true()", "jr:preload": settings.instance_id.as_deref().unwrap_or("uid")},
            }],
        }));
    }
    let mut survey = Map::new();
    survey.insert("name".into(), identity.root.into());
    survey.insert("type".into(), "survey".into());
    survey.insert("title".into(), identity.title.into());
    survey.insert("id_string".into(), identity.form_id.into());
    survey.insert("sms_keyword".into(), identity.form_id.into());
    survey.insert("default_language".into(), settings.default_language.as_deref().unwrap_or(DEFAULT_LANGUAGE).into());
    for (key, value) in [
        ("version", &settings.version),
        ("instance_name", &settings.instance_name),
        ("public_key", &settings.public_key),
        ("submission_url", &settings.submission_url),
    ] {
        if let Some(value) = value {
            survey.insert(key.into(), value.as_str().into());
        }
    }
    let mut paths = BTreeMap::new();
    let root = format!("/{}", identity.root);
    note_path(&mut paths, identity.root, &root);
    collect_paths(&form.children, &root, &mut paths);
    if !settings.omit_instance_id {
        note_path(&mut paths, "meta", &format!("{root}/meta"));
        note_path(&mut paths, "instanceID", &format!("{root}/meta/instanceID"));
    }
    survey.insert("_xpath".into(), Value::Object(paths.into_iter().collect()));
    let lists: Map<String, Value> =
        form.choices.iter().map(|(name, choices)| (name.clone(), choices_json(choices))).collect();
    survey.insert("choices".into(), Value::Object(lists));
    survey.insert("children".into(), Value::Array(children));
    Value::Object(survey)
}

/// Every question of `form` in order, groups flattened away, repeats as leaves, notes left out.
pub fn possible_fields(form: &Form) -> Vec<PossibleField> {
    fn walk(nodes: &[Node], form: &Form, out: &mut Vec<PossibleField>) {
        for node in nodes {
            match node {
                Node::Question(q) if q.kind.name == "note" => {}
                Node::Question(q) => out.push(PossibleField {
                    name: q.name.clone(),
                    label: plain_label(&q.fields.label, form),
                    r#type: question_type(q),
                }),
                Node::Group(g) if g.repeat => out.push(PossibleField {
                    name: g.name.clone(),
                    label: plain_label(&g.fields.label, form),
                    r#type: "repeat".into(),
                }),
                Node::Group(g) => walk(&g.children, form, out),
            }
        }
    }
    let mut fields = Vec::new();
    walk(&form.children, form, &mut fields);
    if !form.settings.omit_instance_id {
        fields.push(PossibleField { name: "instanceID".into(), label: String::new(), r#type: "calculate".into() });
    }
    fields
}

/// The label in the form's default language (else its first), HTML tags removed.
fn plain_label(text: &Text, form: &Form) -> String {
    let preferred = form.settings.default_language.as_deref().unwrap_or(DEFAULT_LANGUAGE);
    let label = text
        .get(preferred)
        .or_else(|| form.languages.iter().find_map(|l| text.get(l)))
        .or_else(|| text.values().next())
        .map_or("", String::as_str);
    let mut plain = String::with_capacity(label.len());
    let mut in_tag = false;
    for c in label.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain.trim().to_owned()
}

/// pyxform's type word: selects by their long names, metadata aliases resolved, the rest as
/// the sheet spells it.
fn question_type(q: &Question) -> String {
    match q.kind.name {
        "select_one" => "select one".into(),
        "select_multiple" => "select all that apply".into(),
        "rank" => "rank".into(),
        _ => match q.type_text.to_ascii_lowercase().as_str() {
            "imei" => "deviceid".into(),
            "image" | "add image prompt" | "add photo prompt" => "photo".into(),
            "add audio prompt" => "audio".into(),
            "add video prompt" => "video".into(),
            "add file prompt" => "file".into(),
            _ => q.type_text.clone(),
        },
    }
}

/// One language's text as a string, several as an object by language (pyxform's shape).
fn text_json(text: &Text) -> Option<Value> {
    match text.len() {
        0 => None,
        1 if text.contains_key(DEFAULT_LANGUAGE) => text.get(DEFAULT_LANGUAGE).map(|t| t.as_str().into()),
        _ => Some(Value::Object(text.iter().map(|(l, t)| (l.clone(), t.as_str().into())).collect())),
    }
}

fn choices_json(choices: &[Choice]) -> Value {
    choices
        .iter()
        .map(|choice| {
            let mut item = Map::new();
            item.insert("name".into(), choice.name.as_str().into());
            if let Some(label) = text_json(&choice.label) {
                item.insert("label".into(), label);
            }
            if let Some(media) = media_json(&choice.media) {
                item.insert("media".into(), media);
            }
            for (key, value) in &choice.extra {
                item.insert(key.clone(), value.as_str().into());
            }
            Value::Object(item)
        })
        .collect()
}

fn media_json(media: &BTreeMap<String, Text>) -> Option<Value> {
    let object: Map<String, Value> =
        media.iter().filter_map(|(kind, text)| Some((kind.clone(), text_json(text)?))).collect();
    (!object.is_empty()).then_some(Value::Object(object))
}

/// The keys every node may carry: label, hint, bind, control and the other columns.
fn common_json(node: &mut Map<String, Value>, fields: &Fields) {
    if let Some(label) = text_json(&fields.label) {
        node.insert("label".into(), label);
    }
    if let Some(hint) = text_json(&fields.hint) {
        node.insert("hint".into(), hint);
    }
    if let Some(guidance) = text_json(&fields.guidance_hint) {
        node.insert("guidance_hint".into(), guidance);
    }
    if let Some(media) = media_json(&fields.media) {
        node.insert("media".into(), media);
    }
    let mut bind = Map::new();
    for (key, value) in [
        ("required", &fields.required),
        ("relevant", &fields.relevant),
        ("constraint", &fields.constraint),
        ("calculate", &fields.calculation),
        ("readonly", &fields.read_only),
    ] {
        if let Some(value) = value {
            bind.insert(key.into(), value.as_str().into());
        }
    }
    if let Some(message) = text_json(&fields.constraint_message) {
        bind.insert("jr:constraintMsg".into(), message);
    }
    if let Some(message) = text_json(&fields.required_message) {
        bind.insert("jr:requiredMsg".into(), message);
    }
    if let Some(property) = &fields.save_to {
        bind.insert("entities:saveto".into(), property.as_str().into());
    }
    for (key, value) in &fields.bind_extra {
        bind.insert(key.clone(), value.as_str().into());
    }
    if !bind.is_empty() {
        node.insert("bind".into(), Value::Object(bind));
    }
    let mut control = Map::new();
    if let Some(appearance) = &fields.appearance {
        control.insert("appearance".into(), appearance.as_str().into());
    }
    if let Some(count) = &fields.repeat_count {
        control.insert("jr:count".into(), count.as_str().into());
    }
    for (key, value) in &fields.body_extra {
        control.insert(key.clone(), value.as_str().into());
    }
    if !control.is_empty() {
        node.insert("control".into(), Value::Object(control));
    }
    if !fields.parameters.is_empty() {
        let parameters: Map<String, Value> =
            fields.parameters.iter().map(|(k, v)| (k.clone(), v.as_str().into())).collect();
        node.insert("parameters".into(), Value::Object(parameters));
    }
    for (key, value) in
        [("default", &fields.default), ("choice_filter", &fields.choice_filter), ("trigger", &fields.trigger)]
    {
        if let Some(value) = value {
            node.insert(key.into(), value.as_str().into());
        }
    }
}

fn node_json(node: &Node, form: &Form) -> Value {
    let mut object = Map::new();
    match node {
        Node::Question(q) => {
            object.insert("name".into(), q.name.as_str().into());
            object.insert("type".into(), question_type(q).into());
            common_json(&mut object, &q.fields);
            if let Some(list) = &q.list {
                object.insert("itemset".into(), list.as_str().into());
                if let Some((_, choices)) = form.choices.iter().find(|(name, _)| name == list) {
                    object.insert("list_name".into(), list.as_str().into());
                    object.insert("children".into(), choices_json(choices));
                }
            }
        }
        Node::Group(Group { name, repeat, fields, children, .. }) => {
            object.insert("name".into(), name.as_str().into());
            object.insert("type".into(), if *repeat { "repeat" } else { "group" }.into());
            common_json(&mut object, fields);
            object.insert("children".into(), children.iter().map(|child| node_json(child, form)).collect());
        }
    }
    Value::Object(object)
}

/// Records `name`'s path, or `null` once a second node has the same name.
fn note_path(paths: &mut BTreeMap<String, Value>, name: &str, path: &str) {
    paths
        .entry(name.to_owned())
        .and_modify(|known| *known = Value::Null)
        .or_insert_with(|| Value::String(path.to_owned()));
}

fn collect_paths(nodes: &[Node], parent: &str, paths: &mut BTreeMap<String, Value>) {
    for node in nodes {
        let path = format!("{parent}/{}", node.name());
        note_path(paths, node.name(), &path);
        if let Node::Group(group) = node {
            collect_paths(&group.children, &path, paths);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workbook;

    const FORM: &str = r#"
| survey   |                          |           |                      |                    |          |           |
|          | type                     | name      | label::English (en)  | label::French (fr) | required | relevant  |
|          | text                     | name      | <b>Name</b>          | Nom                | yes      |           |
|          | begin_group              | household | Household            | Ménage             |          |           |
|          | integer                  | size      | Size                 | Taille             |          | ${name}!='' |
|          | note                     | thanks    | Thanks               | Merci              |          |           |
|          | begin_repeat             | member    | Member               | Membre             |          |           |
|          | select_one sex           | sex       | Sex                  | Sexe               |          |           |
|          | text                     | name      | Member name          | Nom du membre      |          |           |
|          | end_repeat               |           |                      |                    |          |           |
|          | end_group                |           |                      |                    |          |           |
|          | select_one_from_file v.csv | village | Village              | Village            |          |           |
| choices  |                          |           |                      |                    |          |           |
|          | list_name                | name      | label::English (en)  | label::French (fr) |          |           |
|          | sex                      | f         | Female               | Femme              |          |           |
|          | sex                      | m         | Male                 | Homme              |          |           |
| settings |                          |           |                      |                    |          |           |
|          | form_id                  | version   |                      |                    |          |           |
|          | census                   | 2024010101 |                     |                    |          |           |
"#;

    fn form() -> Form {
        crate::survey::read(&Workbook::from_markdown(FORM).unwrap(), None).unwrap()
    }

    #[test]
    fn descriptor_is_pyxforms_tree_with_iasos_paths_and_lists() {
        let identity = Identity { root: "data", form_id: "census", title: "Census" };
        let d = descriptor(&form(), &identity);
        assert_eq!(d["type"], "survey");
        assert_eq!(d["id_string"], "census");
        assert_eq!(d["version"], "2024010101");
        let children = d["children"].as_array().unwrap();
        let names: Vec<&str> = children.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["name", "household", "village", "meta"]);
        assert_eq!(children[0]["label"], json!({"English (en)": "<b>Name</b>", "French (fr)": "Nom"}));
        assert_eq!(children[0]["bind"], json!({"required": "yes"}));
        let household = &children[1]["children"];
        assert_eq!(household[0]["bind"]["relevant"], "${name}!=''", "the sheet's text, unexpanded");
        assert_eq!(household[2]["type"], "repeat");
        let sex = &household[2]["children"][0];
        assert_eq!((sex["type"].as_str(), sex["list_name"].as_str()), (Some("select one"), Some("sex")));
        assert_eq!(sex["children"][1], json!({"name": "m", "label": {"English (en)": "Male", "French (fr)": "Homme"}}));
        assert_eq!(children[2]["itemset"], "v.csv");
        assert!(children[2].get("children").is_none(), "a file's choices are not in the form");
        assert_eq!(d["_xpath"]["size"], "/data/household/size");
        assert_eq!(d["_xpath"]["sex"], "/data/household/member/sex");
        assert_eq!(d["_xpath"]["name"], Value::Null, "two questions are called name");
        assert_eq!(d["_xpath"]["instanceID"], "/data/meta/instanceID");
        assert_eq!(d["choices"]["sex"][0]["name"], "f");
    }

    #[test]
    fn possible_fields_flatten_groups_and_drop_notes() {
        let fields = possible_fields(&form());
        let listed: Vec<(&str, &str, &str)> =
            fields.iter().map(|f| (f.name.as_str(), f.label.as_str(), f.r#type.as_str())).collect();
        assert_eq!(
            listed,
            [
                ("name", "Name", "text"),
                ("size", "Size", "integer"),
                ("member", "Member", "repeat"),
                ("village", "Village", "select one"),
                ("instanceID", "", "calculate"),
            ]
        );
    }
}

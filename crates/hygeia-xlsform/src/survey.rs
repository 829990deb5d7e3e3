//! The survey sheet, the choices and the settings read into a form model: a tree of groups,
//! repeats and questions, each field's text per language, with every alias resolved. Names and
//! references are checked here; the XForm writer only writes.

use std::collections::{BTreeMap, HashMap};

pub use crate::entities::Entity;
use crate::entities::{self, ContainerKind, ContainerPath, References};
use crate::error::XlsFormError;
use crate::types::{self, Kind, TypeInfo};
use crate::workbook::{Sheet, Workbook};

/// Text in each language; the language of unsuffixed columns (`label`) is `default`.
pub type Text = BTreeMap<String, String>;

pub const DEFAULT_LANGUAGE: &str = "default";

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub form_title: Option<String>,
    pub form_id: Option<String>,
    pub version: Option<String>,
    pub instance_name: Option<String>,
    pub default_language: Option<String>,
    pub root_name: Option<String>,
    pub public_key: Option<String>,
    pub submission_url: Option<String>,
    pub auto_send: Option<String>,
    pub auto_delete: Option<String>,
    pub style: Option<String>,
    pub allow_choice_duplicates: bool,
    /// `instance_id`: the preload of `meta/instanceID` (default `uid`).
    pub instance_id: Option<String>,
    /// `omit_instanceID`: no `meta/instanceID` at all.
    pub omit_instance_id: bool,
    /// `attribute::x`: attributes of the primary instance's root.
    pub root_attributes: Vec<(String, String)>,
    /// `client_editable`: submissions may be edited on the device after sending.
    pub client_editable: bool,
    /// `clean_text_values` (default yes): runs of spaces in the survey's cells collapse.
    pub clean_text_values: bool,
    /// `namespaces`: `prefix="uri"` pairs declared on the form, for custom attributes.
    pub namespaces: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum Node {
    Question(Question),
    Group(Group),
}

impl Node {
    pub fn name(&self) -> &str {
        match self {
            Node::Question(q) => &q.name,
            Node::Group(g) => &g.name,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub label: Text,
    pub hint: Text,
    pub guidance_hint: Text,
    pub required: Option<String>,
    pub required_message: Text,
    pub relevant: Option<String>,
    pub constraint: Option<String>,
    pub constraint_message: Text,
    pub calculation: Option<String>,
    pub default: Option<String>,
    pub read_only: Option<String>,
    pub appearance: Option<String>,
    pub choice_filter: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub trigger: Option<String>,
    /// `image`, `audio`, `video`, `big-image` media per language.
    pub media: BTreeMap<String, Text>,
    pub repeat_count: Option<String>,
    /// The entity property this answer is saved to.
    pub save_to: Option<String>,
    /// Raw `bind::x`, `body::x` and `instance::x` attributes.
    pub bind_extra: Vec<(String, String)>,
    pub body_extra: Vec<(String, String)>,
    pub instance_extra: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Question {
    pub name: String,
    /// The type as the sheet spells it (`photo`, `int`, `select_one`), as pyxform's JSON keeps it.
    pub type_text: String,
    pub kind: TypeInfo,
    /// The choice list of a select (a list name, or a file for `*_from_file`).
    pub list: Option<String>,
    pub or_other: bool,
    pub fields: Fields,
    pub row: usize,
    /// Added by the converter (`or_other`'s text question): its label names no language.
    pub generated: bool,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub repeat: bool,
    /// A loop's choice list (the group is written once per choice).
    pub loop_over: Option<String>,
    pub fields: Fields,
    pub children: Vec<Node>,
    pub row: usize,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub name: String,
    pub label: Text,
    pub media: BTreeMap<String, Text>,
    /// Other columns (used by choice filters), in sheet order.
    pub extra: Vec<(String, String)>,
    /// Added by the converter (`or_other`'s "Other"): the same label in every language.
    pub generated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Form {
    pub settings: Settings,
    /// The entities sheet's declarations, and the container each is declared in.
    pub entities: Vec<Entity>,
    pub entity_containers: Vec<(ContainerPath, usize)>,
    pub children: Vec<Node>,
    /// Choice lists in sheet order.
    pub choices: Vec<(String, Vec<Choice>)>,
    /// The `osm` sheet's lists: the tags an OpenStreetMap question asks for.
    pub osm_tags: Vec<(String, Vec<Choice>)>,
    /// Every language a translatable column names, in first-seen order (`default` included when
    /// unsuffixed columns sit beside suffixed ones).
    pub languages: Vec<String>,
}

/// A header cell resolved: the column it means and its language, if any.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    key: String,
    language: Option<String>,
}

/// `label::French (fr)`, `media::image::fr`, `bind:relevant`, `jr:count`, `TYPE` ... to one key.
fn column(header: &str) -> Column {
    let header = header.trim();
    let lower = header.to_ascii_lowercase();
    // The compact record representation's tag of a field (SMS) is an instance attribute.
    if lower == "compact_tag" {
        return Column { key: "instance::odk:tag".into(), language: None };
    }
    let raw = |prefix: &str, key: &str| {
        let rest = header[prefix.len()..].to_owned();
        Column { key: format!("{key}{rest}"), language: None }
    };
    for (prefix, key) in [("bind::", "bind::"), ("body::", "body::"), ("instance::", "instance::")] {
        if lower.starts_with(prefix)
            && !matches!(
                &lower[prefix.len()..],
                "relevant"
                    | "required"
                    | "constraint"
                    | "calculate"
                    | "readonly"
                    | "jr:constraintmsg"
                    | "jr:requiredmsg"
                    | "jr:count"
            )
        {
            return raw(prefix, key);
        }
    }
    let (base, language) = match header.split_once("::") {
        Some((base, rest)) if !base.eq_ignore_ascii_case("bind") && !base.eq_ignore_ascii_case("media") => {
            (base.to_owned(), Some(rest.to_owned()))
        }
        Some((media, rest)) if media.eq_ignore_ascii_case("media") => match rest.split_once("::") {
            Some((kind, language)) => (format!("media::{kind}"), Some(language.to_owned())),
            None => (format!("media::{rest}"), None),
        },
        Some((bind, rest)) => (format!("{bind}::{rest}"), None),
        None => match header.split_once(':') {
            // The legacy single colon: `label:English`, `media:image`, `bind:relevant`.
            Some((base, rest))
                if ["label", "hint", "constraint_message", "required_message", "image", "audio", "video"]
                    .contains(&base.to_ascii_lowercase().as_str()) =>
            {
                (base.to_owned(), Some(rest.to_owned()))
            }
            _ => (header.to_owned(), None),
        },
    };
    let key = match base.to_ascii_lowercase().replace('_', " ").trim() {
        "caption" | "label" => "label",
        "hint" => "hint",
        "guidance hint" => "guidance_hint",
        "required" | "bind::required" | "bind:required" => "required",
        "required message" | "requiredmsg" | "bind::jr:requiredmsg" | "bind:jr:requiredmsg" => "required_message",
        "relevant" | "relevance" | "bind::relevant" | "bind:relevant" => "relevant",
        "constraint" | "bind::constraint" | "bind:constraint" => "constraint",
        "constraint message" | "bind::jr:constraintmsg" | "bind:jr:constraintmsg" => "constraint_message",
        "calculation" | "calculate" | "bind::calculate" | "bind:calculate" => "calculation",
        "default" => "default",
        "read only" | "readonly" | "bind::readonly" | "bind:readonly" => "read_only",
        // Older pyxform columns that are attributes of the bind or of the control.
        "noapperrorstring" | "bind:jr:noapperrorstring" => "bind::jr:noAppErrorString",
        "autoplay" => "body::autoplay",
        "rows" => "body::rows",
        "appearance" | "control::appearance" | "control:appearance" => "appearance",
        "choice filter" => "choice_filter",
        "parameters" => "parameters",
        "trigger" => "trigger",
        "repeat count" => "repeat_count",
        "jr:count" | "bind::jr:count" | "bind:jr:count" | "control::jr:count" => "jr:count",
        "media::image" | "image" | "media:image" => "media::image",
        "media::big-image" | "big-image" | "media::big image" => "media::big-image",
        "media::audio" | "audio" | "media:audio" => "media::audio",
        "media::video" | "video" | "media:video" => "media::video",
        "type" => "type",
        "name" | "value" => "name",
        "list name" => "list_name",
        _ => return Column { key: base.to_ascii_lowercase(), language: language.map(|l| l.trim().to_owned()) },
    };
    Column { key: key.to_owned(), language: language.map(|l| l.trim().to_owned()) }
}

/// A sheet's header and data rows, as maps from column to cell.
struct Table<'a> {
    sheet: &'a Sheet,
    columns: Vec<Column>,
    header_row: usize,
}

impl<'a> Table<'a> {
    fn new(sheet: &'a Sheet) -> Option<Table<'a>> {
        let header = sheet.rows.iter().find(|r| r.cells.iter().any(|c| !c.is_empty()))?;
        Some(Table { sheet, columns: header.cells.iter().map(|h| column(h)).collect(), header_row: header.number })
    }

    fn rows(&self) -> impl Iterator<Item = (usize, Vec<(&Column, &str)>)> + '_ {
        self.sheet.rows.iter().filter(move |r| r.number > self.header_row).filter_map(move |r| {
            let cells: Vec<(&Column, &str)> = self
                .columns
                .iter()
                .zip(&r.cells)
                .map(|(c, v)| (c, v.trim()))
                .filter(|(c, v)| !v.is_empty() && !c.key.is_empty())
                .collect();
            (!cells.is_empty()).then_some((r.number, cells))
        })
    }

    fn has(&self, key: &str) -> bool {
        self.columns.iter().any(|c| c.key == key)
    }
}

fn value<'a>(cells: &[(&Column, &'a str)], key: &str) -> Option<&'a str> {
    cells.iter().find(|(c, _)| c.key == key && c.language.is_none()).map(|(_, v)| *v)
}

fn text_of(cells: &[(&Column, &str)], key: &str) -> Text {
    cells
        .iter()
        .filter(|(c, _)| c.key == key)
        .map(|(c, v)| (c.language.clone().unwrap_or_else(|| DEFAULT_LANGUAGE.into()), (*v).to_owned()))
        .collect()
}

fn media_of(cells: &[(&Column, &str)]) -> BTreeMap<String, Text> {
    let mut media = BTreeMap::new();
    for form in ["image", "big-image", "audio", "video"] {
        let text = text_of(cells, &format!("media::{form}"));
        if !text.is_empty() {
            media.insert(form.to_owned(), text);
        }
    }
    media
}

fn fields_of(cells: &[(&Column, &str)], row: usize) -> Result<Fields, XlsFormError> {
    let repeat_count = value(cells, "repeat_count").or_else(|| value(cells, "jr:count")).map(str::to_owned);
    let extras = |prefix: &str| -> Vec<(String, String)> {
        cells.iter().filter_map(|(c, v)| c.key.strip_prefix(prefix).map(|k| (k.to_owned(), (*v).to_owned()))).collect()
    };
    let parameters = match value(cells, "parameters") {
        Some(text) => {
            crate::parameters::parse(text).map_err(|m| XlsFormError::at("survey", row, Some("parameters"), m))?
        }
        None => Vec::new(),
    };
    Ok(Fields {
        label: text_of(cells, "label"),
        hint: text_of(cells, "hint"),
        guidance_hint: text_of(cells, "guidance_hint"),
        required: value(cells, "required").map(str::to_owned),
        required_message: text_of(cells, "required_message"),
        relevant: value(cells, "relevant").map(str::to_owned),
        constraint: value(cells, "constraint").map(str::to_owned),
        constraint_message: text_of(cells, "constraint_message"),
        calculation: value(cells, "calculation").map(str::to_owned),
        default: value(cells, "default").map(str::to_owned),
        read_only: value(cells, "read_only").map(str::to_owned),
        appearance: value(cells, "appearance").map(str::to_owned),
        choice_filter: value(cells, "choice_filter").map(str::to_owned),
        parameters,
        trigger: value(cells, "trigger").map(str::to_owned),
        media: media_of(cells),
        repeat_count,
        save_to: value(cells, "save_to").map(str::to_owned),
        bind_extra: extras("bind::"),
        body_extra: extras("body::"),
        instance_extra: extras("instance::"),
    })
}

/// A default that is an expression (set when the form loads) rather than a value.
pub fn default_is_dynamic(default: &str) -> bool {
    default.contains("${") || default.contains('(') || default.contains('/')
}

/// An XML name, as XForms needs for instance elements.
pub fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

pub fn read(workbook: &Workbook, form_name: Option<&str>) -> Result<Form, XlsFormError> {
    let survey_sheet =
        workbook.sheet("survey").ok_or_else(|| XlsFormError::workbook("The workbook has no 'survey' sheet."))?;
    let mut form = Form { settings: read_settings(workbook), ..Default::default() };
    let cleaned;
    let survey_sheet = if form.settings.clean_text_values {
        cleaned = collapse_spaces(survey_sheet);
        &cleaned
    } else {
        survey_sheet
    };
    if let Some(name) = &form.settings.root_name
        && !is_xml_name(name)
    {
        return Err(XlsFormError::at("settings", 1, Some("name"), NAME_RULE));
    }
    if form.settings.root_name.is_none() {
        if let Some(name) = form_name
            && !is_xml_name(name)
        {
            return Err(XlsFormError::workbook(format!("The 'form_name' value is invalid. {NAME_RULE}")));
        }
        form.settings.root_name = form_name.map(str::to_owned);
    }
    form.choices = read_choices(workbook, "choices", form.settings.allow_choice_duplicates)?;
    form.osm_tags = read_choices(workbook, "osm", form.settings.allow_choice_duplicates)?;
    form.entities = entities::declarations(workbook)?;
    let mut references = References::new(&form.entities);
    let Some(table) = Table::new(survey_sheet) else {
        return Err(XlsFormError::workbook("The 'survey' sheet is empty."));
    };
    if table.has("repeat_count") && table.has("jr:count") {
        return Err(XlsFormError::at(
            "survey",
            table.header_row,
            None,
            "The columns 'repeat_count' and 'jr:count' mean the same; keep one.",
        ));
    }
    if !table.has("type") {
        return Err(XlsFormError::at("survey", table.header_row, None, "The survey sheet needs a 'type' column."));
    }
    // Groups open on a stack; each row lands in the innermost open one.
    let mut stack: Vec<Group> = vec![Group {
        name: String::new(),
        repeat: false,
        loop_over: None,
        fields: Fields::default(),
        children: Vec::new(),
        row: 0,
    }];
    for (row, cells) in table.rows() {
        let Some(type_text) = value(&cells, "type") else {
            if value(&cells, "name").is_some() || !text_of(&cells, "label").is_empty() {
                return Err(XlsFormError::at("survey", row, Some("type"), "The question has no type."));
            }
            continue;
        };
        let name = value(&cells, "name").unwrap_or_default().to_owned();
        let parsed = types::parse(type_text).ok_or_else(|| {
            XlsFormError::at("survey", row, Some("type"), format!("Unknown question type '{type_text}'."))
        })?;
        match parsed.kind.clone() {
            Kind::BeginGroup | Kind::BeginRepeat | Kind::BeginLoop(_) => {
                check_name(&name, row)?;
                let path = container_path(&stack);
                references.record(&form.entities, &path, row, Some(&name), value(&cells, "save_to"), true)?;
                let loop_over = match &parsed.kind {
                    Kind::BeginLoop(list) => {
                        if !form.choices.iter().any(|(n, _)| n == list) {
                            let message = format!("List name not in choices sheet: {list}");
                            return Err(XlsFormError::at("survey", row, Some("type"), message));
                        }
                        Some(list.clone())
                    }
                    _ => None,
                };
                stack.push(Group {
                    name,
                    repeat: parsed.kind == Kind::BeginRepeat,
                    loop_over,
                    fields: fields_of(&cells, row)?,
                    children: Vec::new(),
                    row,
                });
            }
            Kind::EndGroup | Kind::EndRepeat | Kind::EndLoop => {
                let path = container_path(&stack);
                references.record(&form.entities, &path, row, None, value(&cells, "save_to"), true)?;
                let closing_repeat = parsed.kind == Kind::EndRepeat;
                let closing_loop = parsed.kind == Kind::EndLoop;
                if stack.len() < 2 {
                    return Err(XlsFormError::at(
                        "survey",
                        row,
                        Some("type"),
                        format!("Unmatched '{type_text}': no group or repeat is open."),
                    ));
                }
                let mut group = stack.pop().expect("checked above");
                if group.repeat != closing_repeat || group.loop_over.is_some() != closing_loop {
                    let what = if group.repeat { "repeat" } else { "group" };
                    return Err(XlsFormError::at(
                        "survey",
                        row,
                        Some("type"),
                        format!(
                            "Unmatched '{type_text}': the open {what} '{}' (row {}) is closed by it.",
                            group.name, group.row
                        ),
                    ));
                }
                if let Some(list) = group.loop_over.take() {
                    group.children = loop_children(&group.children, &form.choices, &list);
                }
                stack.last_mut().expect("the root stays").children.push(Node::Group(group));
            }
            Kind::Question => {
                // A note needs no name: pyxform names it after its row.
                // The audit log is always `meta/audit`.
                let name = match parsed.info.name {
                    "note" if name.is_empty() => format!("generated_note_name_{row}"),
                    "audit" if name.is_empty() || name == "audit" => "audit".to_owned(),
                    "audit" => {
                        let message = "Audits must always be named 'audit.' The name column should be left blank.";
                        return Err(XlsFormError::at("survey", row, Some("name"), message));
                    }
                    _ => name,
                };
                check_name(&name, row)?;
                let mut fields = fields_of(&cells, row)?;
                let path = container_path(&stack);
                fields.save_to =
                    references.record(&form.entities, &path, row, Some(&name), fields.save_to.as_deref(), false)?;
                // pyxform's type dictionary: digits only, and a hint saying so.
                if parsed.info.name == "phone number" {
                    fields.constraint.get_or_insert_with(|| r"regex(., '^\d*$')".to_owned());
                    if fields.hint.is_empty() {
                        fields.hint.insert(DEFAULT_LANGUAGE.to_owned(), "Enter numbers only.".to_owned());
                    }
                }
                check_question(&parsed, &fields, type_text, row)?;
                crate::parameters::check(parsed.info.name, parsed.from_file, &fields, &form.choices, row)?;
                // A dynamic default is a calculation made once; a static one is no calculation.
                if parsed.info.name == "calculate"
                    && fields.calculation.is_none()
                    && !fields.default.as_deref().is_some_and(default_is_dynamic)
                {
                    return Err(XlsFormError::at(
                        "survey",
                        row,
                        Some("calculation"),
                        "A calculate question needs a calculation.",
                    ));
                }
                if parsed.info.name == "background-geopoint" {
                    if fields.trigger.is_none() {
                        let message = "For 'background-geopoint' questions, the 'trigger' column must not be empty.";
                        return Err(XlsFormError::at("survey", row, Some("trigger"), message));
                    }
                    if fields.calculation.is_some() {
                        let message = "For 'background-geopoint' questions, the 'calculation' column must be empty.";
                        return Err(XlsFormError::at("survey", row, Some("calculation"), message));
                    }
                }
                if parsed.or_other && fields.choice_filter.is_some() {
                    let message = "Choice filter not supported with or_other.";
                    return Err(XlsFormError::at("survey", row, Some("choice_filter"), message));
                }
                let osm = parsed.info.name == "osm";
                let external = parsed.info.name == "select_one_external";
                if external {
                    check_external_list(workbook, parsed.list.as_deref().unwrap_or_default(), row)?;
                }
                if let Some(list) = &parsed.list
                    && !parsed.from_file
                    && !external
                    && !list.starts_with("${")
                    && !(if osm { &form.osm_tags } else { &form.choices }).iter().any(|(n, _)| n == list)
                {
                    let sheet = if osm { "osm" } else { "choices" };
                    return Err(XlsFormError::at(
                        "survey",
                        row,
                        Some("type"),
                        format!("List name not in {sheet} sheet: {list}"),
                    ));
                }
                let other = parsed.or_other.then(|| specify_other(&name, row));
                if let (Some(list), true) = (&parsed.list, parsed.or_other)
                    && let Some((_, choices)) = form.choices.iter_mut().find(|(n, _)| n == list)
                    && !choices.iter().any(|c| c.name == "other")
                {
                    // In a translated list, "Other" in each of the list's languages.
                    let mut label: Text = choices
                        .iter()
                        .filter(|c| c.label.keys().any(|l| l != DEFAULT_LANGUAGE))
                        .flat_map(|c| c.label.keys())
                        .map(|l| (l.clone(), "Other".to_owned()))
                        .collect();
                    if label.is_empty() {
                        label.insert(DEFAULT_LANGUAGE.to_owned(), "Other".to_owned());
                    }
                    choices.push(Choice {
                        name: "other".into(),
                        label,
                        media: BTreeMap::new(),
                        extra: Vec::new(),
                        generated: true,
                    });
                }
                let parent = stack.last_mut().expect("the root stays");
                parent.children.push(Node::Question(Question {
                    name,
                    type_text: type_text.trim().to_owned(),
                    kind: parsed.info,
                    list: parsed.list,
                    or_other: parsed.or_other,
                    fields,
                    row,
                    generated: false,
                }));
                if let Some(other) = other {
                    parent.children.push(Node::Question(other));
                }
            }
        }
    }
    if stack.len() > 1 {
        let open = stack.last().expect("more than one");
        let what = if open.repeat { "repeat" } else { "group" };
        return Err(XlsFormError::at(
            "survey",
            open.row,
            Some("type"),
            format!("Unmatched 'begin_{what}': '{}' is never closed.", open.name),
        ));
    }
    form.children = stack.pop().expect("the root").children;
    check_siblings(&form.children)?;
    check_repeat_names(&form.children, form.settings.root_name.as_deref().unwrap_or("data"), &mut Vec::new())?;
    check_references_to_instances(&form)?;
    if !form.entities.is_empty() {
        form.entity_containers = references.allocate(&form.entities)?;
    }
    form.languages = languages(&form);
    Ok(form)
}

/// `select_one_external L`: L is a list of the `external_choices` sheet.
fn check_external_list(workbook: &Workbook, list: &str, row: usize) -> Result<(), XlsFormError> {
    let lists = read_choices(workbook, "external_choices", true)?;
    if lists.is_empty() {
        return Err(XlsFormError::workbook(
            "There should be an external_choices sheet in this xlsform. Please ensure that the external_choices sheet has columns 'list name', and 'name'.",
        ));
    }
    if !lists.iter().any(|(name, _)| name == list) {
        let message = format!("List name not in external choices sheet: {list}");
        return Err(XlsFormError::at("survey", row, Some("type"), message));
    }
    Ok(())
}

/// The containers open at a row: the survey, then each group or repeat of the stack.
fn container_path(stack: &[Group]) -> ContainerPath {
    stack.iter().skip(1).fold(ContainerPath::survey(), |path, group| {
        path.child(&group.name, if group.repeat { ContainerKind::Repeat } else { ContainerKind::Group })
    })
}

/// pyxform's `clean_text_values` (on unless the settings say no): runs of spaces in the survey's
/// cells become one space.
fn collapse_spaces(sheet: &Sheet) -> Sheet {
    let mut cleaned = sheet.clone();
    for cell in cleaned.rows.iter_mut().flat_map(|r| r.cells.iter_mut()) {
        if cell.contains("  ") {
            let mut collapsed = String::with_capacity(cell.len());
            for c in cell.chars() {
                if !(c == ' ' && collapsed.ends_with(' ')) {
                    collapsed.push(c);
                }
            }
            *cell = collapsed;
        }
    }
    cleaned
}

/// A loop's body once per choice: a group named and labelled like the choice, `%(label)s` in
/// the questions' labels replaced by the choice's label.
fn loop_children(children: &[Node], choices: &[(String, Vec<Choice>)], list: &str) -> Vec<Node> {
    fn relabel(nodes: &mut [Node], choice: &Choice) {
        for node in nodes {
            let fields = match node {
                Node::Question(q) => &mut q.fields,
                Node::Group(g) => {
                    relabel(&mut g.children, choice);
                    &mut g.fields
                }
            };
            for (language, text) in fields.label.iter_mut() {
                let label = choice.label.get(language).or_else(|| choice.label.values().next());
                *text = text.replace("%(label)s", label.map_or("", String::as_str));
            }
        }
    }
    let choices = choices.iter().find(|(n, _)| n == list).map(|(_, c)| c.as_slice()).unwrap_or_default();
    choices
        .iter()
        .map(|choice| {
            let mut body = children.to_vec();
            relabel(&mut body, choice);
            Node::Group(Group {
                name: choice.name.clone(),
                repeat: false,
                loop_over: None,
                fields: Fields { label: choice.label.clone(), ..Default::default() },
                children: body,
                row: 0,
            })
        })
        .collect()
}

/// The text question `or_other` adds after a select: shown when "other" is chosen.
fn specify_other(select: &str, row: usize) -> Question {
    let info = types::parse("text").expect("a known type").info;
    let fields = Fields {
        label: Text::from([(DEFAULT_LANGUAGE.to_owned(), "Specify other.".to_owned())]),
        relevant: Some(format!("selected(../{select}, 'other')")),
        ..Default::default()
    };
    Question {
        name: format!("{select}_other"),
        type_text: "text".into(),
        kind: info,
        list: None,
        or_other: false,
        fields,
        row,
        generated: true,
    }
}

/// pyxform's checks of a question's own cells.
/// A geo question's `reference-geometry` names a list the form declares (choices, the entity
/// list, an attached file) or a repeat (`${repeat}`).
fn check_references_to_instances(form: &Form) -> Result<(), XlsFormError> {
    let mut known: Vec<String> = form.choices.iter().map(|(n, _)| n.clone()).collect();
    known.extend(form.entities.iter().map(|e| e.dataset.clone()));
    fn files(nodes: &[Node], out: &mut Vec<String>) {
        for node in nodes {
            match node {
                Node::Question(q) => {
                    if let Some(list) = &q.list
                        && list.contains('.')
                    {
                        out.push(list.rsplit_once('.').map_or(list.clone(), |(stem, _)| stem.to_owned()));
                    }
                    if matches!(q.kind.name, "csv-external" | "xml-external") {
                        out.push(q.name.clone());
                    }
                }
                Node::Group(g) => files(&g.children, out),
            }
        }
    }
    files(&form.children, &mut known);
    fn check(nodes: &[Node], known: &[String]) -> Result<(), XlsFormError> {
        for node in nodes {
            match node {
                Node::Question(q) => {
                    if let Some((_, value)) = q.fields.parameters.iter().find(|(k, _)| k == "reference-geometry")
                        && !value.starts_with("${")
                        && !known.contains(value)
                    {
                        let message = "The 'reference-geometry' parameter must either match a secondary instance name (a choices list_name, an entities list_name, or the base name of an attached file), or be a reference variable containing the name of a repeat.";
                        return Err(XlsFormError::at("survey", q.row, Some("parameters"), message));
                    }
                }
                Node::Group(g) => {
                    check(&g.children, known)?;
                }
            }
        }
        Ok(())
    }
    check(&form.children, &known)
}

fn check_question(parsed: &types::Parsed, fields: &Fields, type_text: &str, row: usize) -> Result<(), XlsFormError> {
    if parsed.from_file {
        let list = parsed.list.as_deref().unwrap_or_default();
        let extension = list.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        if !matches!(extension.as_deref(), Some("csv" | "xml" | "geojson")) {
            return Err(XlsFormError::at(
                "survey",
                row,
                Some("type"),
                format!(
                    "File name for '{type_text}' should end with one of the supported file extensions: '.csv', '.xml', '.geojson'"
                ),
            ));
        }
        for key in ["value", "label"] {
            if let Some((_, name)) = fields.parameters.iter().find(|(k, _)| k == key)
                && !is_xml_name(name)
            {
                return Err(XlsFormError::at("survey", row, Some(&format!("parameters ({key})")), NAME_RULE));
            }
        }
    }
    if let Some(trigger) = &fields.trigger {
        let between: Vec<&str> =
            trigger.split("${").skip(1).filter_map(|p| p.split_once('}').map(|(_, rest)| rest)).collect();
        if between.len() > 1 && between[..between.len() - 1].iter().any(|gap| !gap.contains(',')) {
            let message = "Reference variable lists must have a comma between each variable.";
            return Err(XlsFormError::at("survey", row, Some("trigger"), message));
        }
    }
    Ok(())
}

fn check_name(name: &str, row: usize) -> Result<(), XlsFormError> {
    if name == "meta" {
        return Err(XlsFormError::at("survey", row, Some("name"), "The name 'meta' is reserved for form metadata."));
    }
    if name.is_empty() {
        return Err(XlsFormError::at("survey", row, Some("name"), "Questions must have a name."));
    }
    if !is_xml_name(name) {
        return Err(XlsFormError::at(
            "survey",
            row,
            Some("name"),
            format!(
                "Invalid question name '{name}'. Names must begin with a letter or underscore and contain only letters, digits, hyphens, underscores and periods."
            ),
        ));
    }
    Ok(())
}

/// Two siblings of the same name would be one element of the instance.
fn check_siblings(children: &[Node]) -> Result<(), XlsFormError> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for child in children {
        let row = match child {
            Node::Question(q) => q.row,
            Node::Group(g) => g.row,
        };
        // Case matters (pyxform only warns about names that differ by case).
        if let Some(first) = seen.insert(child.name().to_owned(), row) {
            return Err(XlsFormError::at(
                "survey",
                row,
                Some("name"),
                format!(
                    "Question or group with the name '{}' already exists at row {first} at the same level.",
                    child.name()
                ),
            ));
        }
        if let Node::Group(group) = child {
            // A computed repeat count is kept in a generated sibling, `<repeat>_count`.
            let counted = group.repeat
                && group.fields.repeat_count.as_deref().is_some_and(|c| !crate::xpath::is_single_reference(c));
            if counted {
                let generated = format!("{}_count", group.name);
                if let Some(first) = seen.insert(generated.clone(), group.row) {
                    return Err(XlsFormError::at(
                        "survey",
                        first,
                        Some("name"),
                        format!(
                            "The name '{generated}' is taken by the node that counts the repeat '{}' (row {}): questions, groups, and repeats must be unique within their nearest parent group or repeat.",
                            group.name, group.row
                        ),
                    ));
                }
            }
            check_siblings(&group.children)?;
        }
    }
    Ok(())
}

/// A repeat is a table of its own in exports: its name is unique in the whole form, and is not the
/// root's. (Checked on the built tree, so that a loop repeating a repeat is caught too.)
fn check_repeat_names<'a>(children: &'a [Node], root: &str, seen: &mut Vec<&'a str>) -> Result<(), XlsFormError> {
    for child in children {
        let Node::Group(group) = child else { continue };
        if group.repeat {
            if group.name == root {
                let message = format!(
                    "Repeat names must not be the same as the survey root (which defaults to 'data'): '{}'.",
                    group.name
                );
                return Err(XlsFormError::at("survey", group.row, Some("name"), message));
            }
            if seen.contains(&group.name.as_str()) {
                let message = format!(
                    "The repeat name '{}' is used twice. Repeat names must unique anywhere in the survey, at all levels of group or repeat nesting.",
                    group.name
                );
                return Err(XlsFormError::at("survey", group.row, Some("name"), message));
            }
            seen.push(&group.name);
        }
        check_repeat_names(&group.children, root, seen)?;
    }
    Ok(())
}

const NAME_RULE: &str = "Names must begin with a letter or underscore. After the first character, names may contain letters, digits, underscores, hyphens, or periods.";

fn read_settings(workbook: &Workbook) -> Settings {
    let mut settings = Settings { clean_text_values: true, ..Default::default() };
    let Some(sheet) = workbook.sheet("settings") else { return settings };
    let Some(table) = Table::new(sheet) else { return settings };
    let Some((_, cells)) = table.rows().next() else { return settings };
    let get = |keys: &[&str]| {
        cells.iter().find(|(c, _)| keys.contains(&c.key.as_str()) && c.language.is_none()).map(|(_, v)| (*v).to_owned())
    };
    settings.form_title = get(&["form_title", "title"]);
    settings.form_id = get(&["form_id", "id_string"]);
    settings.version = get(&["version"]);
    settings.instance_name = get(&["instance_name"]);
    settings.default_language = get(&["default_language"]);
    settings.root_name = get(&["name"]);
    settings.public_key = get(&["public_key"]);
    settings.submission_url = get(&["submission_url"]);
    settings.auto_send = get(&["auto_send"]);
    settings.auto_delete = get(&["auto_delete"]);
    settings.style = get(&["style"]);
    let yes =
        |v: Option<String>| v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "true()"));
    settings.allow_choice_duplicates = yes(get(&["allow_choice_duplicates"]));
    settings.instance_id = get(&["instance_id"]);
    settings.omit_instance_id = yes(get(&["omit_instanceid"]));
    settings.client_editable = yes(get(&["client_editable"]));
    settings.clean_text_values = !get(&["clean_text_values"])
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "no" | "false" | "false()"));
    settings.namespaces = get(&["namespaces"]).map(|text| namespace_declarations(&text)).unwrap_or_default();
    settings.root_attributes = cells
        .iter()
        .filter(|(c, _)| c.key == "attribute")
        .filter_map(|(c, v)| Some((c.language.clone()?, (*v).to_owned())))
        .collect();
    // The compact record representation for SMS: a prefix and a delimiter on the root.
    for (key, attribute) in [("prefix", "odk:prefix"), ("delimiter", "odk:delimiter")] {
        if let Some(value) = get(&[key]) {
            settings.root_attributes.push((attribute.to_owned(), value));
        }
    }
    settings
}

/// `esri="http://esri.com/xforms" enk="http://enketo.org/xforms"` as (prefix, URI) pairs.
fn namespace_declarations(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(prefix, uri)| (prefix.trim().to_owned(), uri.trim().trim_matches(|c| c == '"' || c == '\'').to_owned()))
        .filter(|(prefix, uri)| is_xml_name(prefix) && !uri.is_empty())
        .collect()
}

/// The lists of the `choices` sheet, or of the `osm` sheet (an OSM question's tags).
fn read_choices(
    workbook: &Workbook,
    sheet_name: &str,
    allow_duplicates: bool,
) -> Result<Vec<(String, Vec<Choice>)>, XlsFormError> {
    let mut lists: Vec<(String, Vec<Choice>)> = Vec::new();
    let mut seen: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    let Some(sheet) = workbook.sheet(sheet_name) else { return Ok(lists) };
    let Some(table) = Table::new(sheet) else { return Ok(lists) };
    for (row, cells) in table.rows() {
        let Some(list) = value(&cells, "list_name") else { continue };
        let Some(name) = value(&cells, "name") else {
            return Err(XlsFormError::at(sheet_name, row, Some("name"), "Choices must have a name."));
        };
        let label = text_of(&cells, "label");
        let extra = cells
            .iter()
            .filter(|(c, _)| {
                c.language.is_none()
                    && !matches!(c.key.as_str(), "list_name" | "name" | "label")
                    && !c.key.starts_with("media::")
            })
            .map(|(c, v)| (c.key.clone(), (*v).to_owned()))
            .collect();
        let choice = Choice { name: name.to_owned(), label, media: media_of(&cells), extra, generated: false };
        match lists.iter_mut().find(|(n, _)| n == list) {
            Some((_, choices)) => {
                // (list, name) pairs seen: a national facility list has thousands of choices.
                if !allow_duplicates && !seen.insert((list.to_owned(), choice.name.clone())) {
                    return Err(XlsFormError::at(
                        sheet_name,
                        row,
                        Some("name"),
                        format!(
                            "The choice name '{name}' is used twice in the list '{list}'. Rename it, or set allow_choice_duplicates in the settings."
                        ),
                    ));
                }
                choices.push(choice);
            }
            None => {
                seen.insert((list.to_owned(), choice.name.clone()));
                lists.push((list.to_owned(), vec![choice]));
            }
        }
    }
    Ok(lists)
}

/// The languages the form's texts are in, in first-seen order.
fn languages(form: &Form) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut add = |text: &Text| {
        for language in text.keys() {
            if !found.contains(language) {
                found.push(language.clone());
            }
        }
    };
    fn walk(nodes: &[Node], add: &mut dyn FnMut(&Text)) {
        for node in nodes {
            let fields = match node {
                Node::Question(q) if q.generated => continue,
                Node::Question(q) => &q.fields,
                Node::Group(g) => &g.fields,
            };
            for text in [
                &fields.label,
                &fields.hint,
                &fields.guidance_hint,
                &fields.required_message,
                &fields.constraint_message,
            ] {
                add(text);
            }
            for text in fields.media.values() {
                add(text);
            }
            if let Node::Group(g) = node {
                walk(&g.children, add);
            }
        }
    }
    walk(&form.children, &mut add);
    for (_, choices) in &form.choices {
        for choice in choices.iter().filter(|c| !c.generated) {
            add(&choice.label);
            for text in choice.media.values() {
                add(text);
            }
        }
    }
    found
}

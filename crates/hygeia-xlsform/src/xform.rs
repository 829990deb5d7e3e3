//! The form model written as an ODK XForm, in pyxform's layout: head (title, model with itext,
//! the primary instance, secondary instances, binds, actions, submission) then body.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::error::XlsFormError;
use crate::survey::{Choice, DEFAULT_LANGUAGE, Fields, Form, Group, Node, Question, Text};
use crate::types::Control;
use crate::xpath::{self, Piece};

const NAMESPACES: &str = r#" xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:ev="http://www.w3.org/2001/xml-events" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" xmlns:odk="http://www.opendatakit.org/xforms""#;

/// Where each name lives: its path, and the innermost repeat around it.
#[derive(Default)]
struct Names {
    paths: HashMap<String, Vec<(String, Option<String>)>>,
    /// The path of every repeat.
    repeats: std::collections::HashSet<String>,
}

/// An itext text: its id, and its values by form (`""` for the text itself, `image`, `guidance` ...).
type ItextEntry = (String, Vec<(String, String)>);

struct Writer<'a> {
    form: &'a Form,
    root: String,
    names: Names,
    /// itext entries per language: id → values by form (`""` for the text itself).
    itext: BTreeMap<String, Vec<ItextEntry>>,
    /// Where each (language, id) sits in `itext`.
    itext_index: HashMap<(String, String), usize>,
    binds: Vec<String>,
    actions: Vec<String>,
    /// The entities by their container's path (the root, a group, a repeat): the `meta` content,
    /// and the setvalue that gives each new repeat instance a new entity id (if any).
    entity_metas: HashMap<String, EntityMeta>,
    /// For each repeat being written, innermost last: the `odk-new-repeat` setvalues of dynamic
    /// defaults inside it, written at the end of its body so that each new instance gets them.
    new_repeat_defaults: Vec<String>,
    /// `trigger` column: by the triggering question's path, the questions it sets and the
    /// setvalues to write inside its control.
    triggered: HashMap<String, Vec<(String, String)>>,
    /// While a predicate over a repeat's instances is written: that repeat's path.
    item_context: Option<String>,
    file_instances: Vec<(String, String)>,
}

/// Where a group's instance is written. pyxform gives a repeat a `jr:template` copy unless it
/// lies in another repeat's ordinary instance; inside a template, repeats are templates only,
/// and groups start afresh (their repeats get a template and an ordinary instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Directly in a repeat's template.
    InTemplate,
    /// In an ordinary instance; `templates`: whether a repeat met here gets its template copy.
    Plain { templates: bool },
}

/// An entity's `meta` content, and the setvalue giving each new repeat instance a new id.
struct EntityMeta {
    instance: String,
    new_repeat: Option<String>,
}

pub struct Identity<'a> {
    pub root: &'a str,
    pub form_id: &'a str,
    pub title: &'a str,
}

pub fn write(form: &Form, identity: &Identity) -> Result<String, XlsFormError> {
    let root = format!("/{}", identity.root);
    let mut names = Names::default();
    collect_names(&form.children, &root, None, &mut names);
    let mut w = Writer {
        form,
        root: root.clone(),
        names,
        itext: BTreeMap::new(),
        itext_index: HashMap::new(),
        binds: Vec::new(),
        actions: Vec::new(),
        triggered: HashMap::new(),
        item_context: None,
        entity_metas: HashMap::new(),
        new_repeat_defaults: Vec::new(),
        file_instances: Vec::new(),
    };
    w.choice_texts()?;
    for (container, index) in &form.entity_containers {
        let path: String = std::iter::once(root.as_str()).chain(container.names()).collect::<Vec<_>>().join("/");
        let meta = w.entity(&form.entities[*index], &path)?;
        w.entity_metas.insert(path, meta);
    }
    w.triggers(&form.children, &root)?;
    let mut instance = String::new();
    let mut body = String::new();
    w.nodes(&form.children, &root, None, &mut instance, &mut body, false, Layout::Plain { templates: true })?;
    let settings = &form.settings;
    instance.push_str("<meta>");
    if let Some(meta) = w.entity_metas.get(&root) {
        instance.push_str(&meta.instance);
    }
    let audit = form.children.iter().find_map(|n| match n {
        Node::Question(q) if q.kind.name == "audit" => Some(q),
        _ => None,
    });
    if let Some(audit) = audit {
        instance.push_str("<audit/>");
        let mut attributes = format!(r#"<bind nodeset="{root}/meta/audit" type="binary""#);
        for (key, value) in &audit.fields.parameters {
            if matches!(
                key.as_str(),
                "location-priority"
                    | "location-min-interval"
                    | "location-max-age"
                    | "track-changes"
                    | "identify-user"
                    | "track-changes-reasons"
            ) {
                let _ = write!(attributes, r#" odk:{key}="{}""#, attr(value));
            }
        }
        attributes.push_str("/>");
        w.binds.push(attributes);
    }
    if !settings.omit_instance_id {
        instance.push_str("<instanceID/>");
    }
    if settings.instance_name.is_some() {
        instance.push_str("<instanceName/>");
    }
    instance.push_str("</meta>");
    if instance.ends_with("<meta></meta>") {
        instance.truncate(instance.len() - "<meta></meta>".len());
    }
    if !settings.omit_instance_id {
        let preload = settings.instance_id.as_deref().unwrap_or("uid");
        w.binds.push(format!(
            r#"<bind nodeset="{root}/meta/instanceID" type="string" readonly="true()" jr:preload="{}"/>"#,
            attr(preload)
        ));
    }
    if let Some(expression) = &settings.instance_name {
        let value = w.expression(expression, &format!("{root}/meta/instanceName"), "settings", 0)?;
        w.binds
            .push(format!(r#"<bind nodeset="{root}/meta/instanceName" type="string" calculate="{}"/>"#, attr(&value)));
    }

    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\"?>\n");
    let entities =
        if form.entities.is_empty() { "" } else { r#" xmlns:entities="http://www.opendatakit.org/xforms/entities""# };
    let mut custom = String::new();
    for (prefix, uri) in &settings.namespaces {
        let _ = write!(custom, r#" xmlns:{prefix}="{}""#, attr(uri));
    }
    let _ = write!(out, "<h:html{NAMESPACES}{entities}{custom}><h:head><h:title>{}</h:title>", esc(identity.title));
    if !form.entities.is_empty() {
        // Several entities, or one in a repeat, need the 2025.1.0 spec.
        let nested = form.entity_containers.iter().any(|(c, _)| c.repeat_depth() > 0);
        let version = if form.entities.len() > 1 || nested { "2025.1.0" } else { "2024.1.0" };
        let _ = write!(out, r#"<model odk:xforms-version="1.0.0" entities:entities-version="{version}">"#);
    } else {
        out.push_str(r#"<model odk:xforms-version="1.0.0">"#);
    }
    w.fill_missing_translations();
    if !w.itext.is_empty() {
        out.push_str("<itext>");
        let default_language = settings
            .default_language
            .clone()
            .or_else(|| w.itext.contains_key(DEFAULT_LANGUAGE).then(|| DEFAULT_LANGUAGE.to_owned()));
        for (language, texts) in &w.itext {
            let default = if Some(language) == default_language.as_ref() { r#" default="true()""# } else { "" };
            let _ = write!(out, r#"<translation lang="{}"{default}>"#, attr(language));
            for (id, values) in texts {
                let _ = write!(out, r#"<text id="{}">"#, attr(id));
                for (form_kind, value) in values {
                    if form_kind.is_empty() {
                        let _ = write!(out, "<value>{value}</value>");
                    } else {
                        let _ = write!(out, r#"<value form="{form_kind}">{}</value>"#, esc(value));
                    }
                }
                out.push_str("</text>");
            }
            out.push_str("</translation>");
        }
        out.push_str("</itext>");
    }
    let mut root_attrs = format!(r#" id="{}""#, attr(identity.form_id));
    for (name, value) in &settings.root_attributes {
        let _ = write!(root_attrs, r#" {name}="{}""#, attr(value));
    }
    if let Some(version) = &settings.version {
        let _ = write!(root_attrs, r#" version="{}""#, attr(version));
    }
    let _ = write!(out, "<instance><{0}{root_attrs}>{instance}</{0}></instance>", identity.root);
    let search_only = search_only_lists(&form.children);
    for (id, src) in &w.file_instances {
        if form.choices.iter().any(|(list, _)| list == id && !search_only.contains(list)) {
            return Err(XlsFormError::workbook(format!(
                "The same instance id will be generated for different external instance source URIs. Please check the form. Instance name: '{id}', Existing URI: '{src}', Duplicate type: 'choice' (the choice list '{id}')."
            )));
        }
        let _ = write!(out, r#"<instance id="{}" src="{}"/>"#, attr(id), attr(src));
    }
    for (list, choices) in form.choices.iter().filter(|(list, _)| !search_only.contains(list)) {
        let translated = list_is_translated(choices);
        let _ = write!(out, r#"<instance id="{}"><root>"#, attr(list));
        for (i, choice) in choices.iter().enumerate() {
            out.push_str("<item>");
            if translated {
                let _ = write!(out, "<itextId>{}-{i}</itextId>", esc(list));
                let _ = write!(out, "<name>{}</name>", esc(&choice.name));
            } else {
                let _ = write!(out, "<name>{}</name>", esc(&choice.name));
                if let Some(label) = choice.label.get(DEFAULT_LANGUAGE) {
                    let _ = write!(out, "<label>{}</label>", esc(label));
                }
            }
            for (key, value) in &choice.extra {
                if crate::survey::is_xml_name(key) {
                    let _ = write!(out, "<{key}>{}</{key}>", esc(value));
                }
            }
            out.push_str("</item>");
        }
        out.push_str("</root></instance>");
    }
    for bind in &w.binds {
        out.push_str(bind);
    }
    for action in &w.actions {
        out.push_str(action);
    }
    if settings.submission_url.is_some()
        || settings.public_key.is_some()
        || settings.auto_send.is_some()
        || settings.auto_delete.is_some()
        || settings.client_editable
    {
        out.push_str("<submission");
        if settings.client_editable {
            out.push_str(r#" odk:client-editable="true""#);
        }
        if let Some(url) = &settings.submission_url {
            let _ = write!(out, r#" action="{}""#, attr(url));
        }
        if let Some(key) = &settings.public_key {
            let _ = write!(out, r#" base64RsaPublicKey="{}""#, attr(key));
        }
        if let Some(send) = &settings.auto_send {
            let _ = write!(out, r#" orx:auto-send="{}""#, attr(send));
        }
        if let Some(delete) = &settings.auto_delete {
            let _ = write!(out, r#" orx:auto-delete="{}""#, attr(delete));
        }
        if settings.submission_url.is_some() {
            out.push_str(r#" method="post""#);
        }
        out.push_str("/>");
    }
    out.push_str("</model></h:head>");
    match &settings.style {
        Some(style) => {
            let _ = write!(out, r#"<h:body class="{}">"#, attr(style));
        }
        None => out.push_str("<h:body>"),
    }
    out.push_str(&body);
    out.push_str("</h:body></h:html>");
    Ok(out)
}

/// Lists that only `search()` selects use: their items are written inline (Collect reads the
/// file the appearance names), so they get no secondary instance.
fn search_only_lists(nodes: &[Node]) -> Vec<String> {
    fn walk(nodes: &[Node], searched: &mut Vec<String>, listed: &mut Vec<String>) {
        for node in nodes {
            match node {
                Node::Question(q) => {
                    if let Some(list) = &q.list {
                        let search = q.fields.appearance.as_deref().is_some_and(|a| a.contains("search("));
                        if search { searched.push(list.clone()) } else { listed.push(list.clone()) }
                    }
                }
                Node::Group(g) => walk(&g.children, searched, listed),
            }
        }
    }
    let (mut searched, mut listed) = (Vec::new(), Vec::new());
    walk(nodes, &mut searched, &mut listed);
    searched.retain(|list| !listed.contains(list));
    searched
}

fn list_is_translated(choices: &[Choice]) -> bool {
    choices.iter().any(|c| {
        c.label.keys().any(|l| l != DEFAULT_LANGUAGE)
            || !c.media.is_empty()
            || c.label.values().any(|v| v.contains("${"))
    })
}

fn collect_names(nodes: &[Node], parent: &str, repeat: Option<&str>, names: &mut Names) {
    for node in nodes {
        let path = format!("{parent}/{}", node.name());
        names.paths.entry(node.name().to_owned()).or_default().push((path.clone(), repeat.map(str::to_owned)));
        if let Node::Group(group) = node {
            if group.repeat {
                names.repeats.insert(path.clone());
            }
            let inner = if group.repeat { Some(path.as_str()) } else { repeat };
            collect_names(&group.children, &path, inner, names);
        }
    }
}

impl Writer<'_> {
    /// `${name}` replaced by the path of `name` seen from `from`, padded with spaces as pyxform does.
    fn expression(&mut self, text: &str, from: &str, column: &str, row: usize) -> Result<String, XlsFormError> {
        self.pulldata_instances(text)?;
        if text.contains("${last-saved#") {
            self.file_instance("__last-saved", "jr://instance/last-saved".into())?;
        }
        let pieces = xpath::references(text).map_err(|m| XlsFormError::at("survey", row, Some(column), m))?;
        let mut out = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Reference(name) => {
                    let target = self.target(name, column, row)?;
                    // In the predicate over a repeat's instances, its nodes are named from each one.
                    if let Some(item) = &self.item_context
                        && let Some(rest) = target.0.strip_prefix(&format!("{item}/"))
                    {
                        let _ = write!(out, " ./{rest} ");
                        continue;
                    }
                    // Arguments of indexed-repeat() name the repeat's nodes from the root.
                    let repeat = if xpath::inside_call(&out, "indexed-repeat(") { None } else { target.1.as_deref() };
                    let path = xpath::path_between(from, &target.0, repeat);
                    let current =
                        if path.starts_with("..") && xpath::in_instance_predicate(&out) { "current()/" } else { "" };
                    let _ = write!(out, " {current}{path} ");
                }
            }
        }
        Ok(out)
    }

    /// `pulldata('fruits', ...)` reads `fruits.csv`, declared as an external instance.
    fn pulldata_instances(&mut self, text: &str) -> Result<(), XlsFormError> {
        let mut rest = text;
        while let Some(at) = rest.find("pulldata(") {
            rest = &rest[at + "pulldata(".len()..];
            let trimmed = rest.trim_start();
            let Some(quote) = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"') else { continue };
            if let Some(end) = trimmed[1..].find(quote) {
                let name = trimmed[1..1 + end].to_owned();
                let src = format!("jr://file-csv/{name}.csv");
                self.file_instance(&name, src)?;
            }
        }
        Ok(())
    }

    /// Declares the secondary instance `id` read from `src`, once; one id cannot name two files.
    fn file_instance(&mut self, id: &str, src: String) -> Result<(), XlsFormError> {
        match self.file_instances.iter().find(|(i, _)| i == id) {
            Some((_, existing)) if *existing != src => Err(XlsFormError::workbook(format!(
                "The same instance id will be generated for different external instance source URIs. Please check the form. Instance name: '{id}', Existing URI: '{existing}', Duplicate URI: '{src}'."
            ))),
            Some(_) => Ok(()),
            None => {
                self.file_instances.push((id.to_owned(), src));
                Ok(())
            }
        }
    }

    fn target(&self, name: &str, column: &str, row: usize) -> Result<(String, Option<String>), XlsFormError> {
        // `${last-saved#q}`: q's value in the last form saved on the device.
        if let Some(inner) = name.strip_prefix("last-saved#") {
            let (path, _) = self.target(inner, column, row)?;
            return Ok((format!("instance('__last-saved'){path}"), None));
        }
        match self.names.paths.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one.clone()),
            Some([]) | None => Err(XlsFormError::at(
                "survey",
                row,
                Some(column),
                format!("There is no question named '{name}' for the reference '${{{name}}}'."),
            )),
            Some(_) => Err(XlsFormError::at(
                "survey",
                row,
                Some(column),
                format!(
                    "The name '{name}' is used more than once; reference variables names must be unique anywhere in the form."
                ),
            )),
        }
    }

    /// A label or hint's text: `${x}` becomes `<output value=" /data/x "/>`.
    fn rich_text(&self, text: &str, from: &str, column: &str, row: usize) -> Result<String, XlsFormError> {
        // `instance('list')/root/item[...]/label` in a label is shown as one output.
        let mut out = String::new();
        let mut rest = text;
        while let Some((start, end)) = xpath::instance_expression(rest) {
            out.push_str(&self.plain_rich_text(&rest[..start], from, column, row)?);
            let mut expression = String::new();
            for piece in
                xpath::references(&rest[start..end]).map_err(|m| XlsFormError::at("survey", row, Some(column), m))?
            {
                match piece {
                    Piece::Text(t) => expression.push_str(t),
                    Piece::Reference(name) => {
                        let target = self.target(name, column, row)?;
                        let _ = write!(expression, " {} ", xpath::path_between(from, &target.0, target.1.as_deref()));
                    }
                }
            }
            let _ = write!(out, r#"<output value="{}"/>"#, attr(&expression));
            rest = &rest[end..];
        }
        out.push_str(&self.plain_rich_text(rest, from, column, row)?);
        Ok(out)
    }

    fn plain_rich_text(&self, text: &str, from: &str, column: &str, row: usize) -> Result<String, XlsFormError> {
        let pieces = xpath::references(text).map_err(|m| XlsFormError::at("survey", row, Some(column), m))?;
        let mut out = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(&esc(t)),
                Piece::Reference(name) => {
                    let target = self.target(name, column, row)?;
                    let _ = write!(
                        out,
                        r#"<output value=" {} "/>"#,
                        attr(&xpath::path_between(from, &target.0, target.1.as_deref()))
                    );
                }
            }
        }
        Ok(out)
    }

    /// Adds `(language, form, value)`s to the text `id` (an index keeps this linear in the
    /// number of texts: a bilingual form has thousands of choice labels).
    /// pyxform's `_add_empty_translations`: every language that has any itext gets every text
    /// id, and every form of it the other languages have: `-` for texts, nothing for media.
    fn fill_missing_translations(&mut self) {
        let mut forms: Vec<(String, Vec<String>)> = Vec::new();
        for texts in self.itext.values() {
            for (id, values) in texts {
                let at = match forms.iter().position(|(i, _)| i == id) {
                    Some(at) => at,
                    None => {
                        forms.push((id.clone(), Vec::new()));
                        forms.len() - 1
                    }
                };
                for (form, _) in values {
                    if !forms[at].1.contains(form) {
                        forms[at].1.push(form.clone());
                    }
                }
            }
        }
        let languages: Vec<String> = self.itext.keys().cloned().collect();
        for language in languages {
            for (id, id_forms) in &forms {
                let texts = self.itext.get_mut(&language).expect("a language of the itext");
                let at = match self.itext_index.get(&(language.clone(), id.clone())) {
                    Some(&at) => at,
                    None => {
                        self.itext_index.insert((language.clone(), id.clone()), texts.len());
                        texts.push((id.clone(), Vec::new()));
                        texts.len() - 1
                    }
                };
                for form in id_forms {
                    let text_form = form.is_empty() || form == "guidance";
                    if text_form && !texts[at].1.iter().any(|(f, _)| f == form) {
                        texts[at].1.push((form.clone(), "-".to_owned()));
                    }
                }
            }
        }
    }

    fn itext_entry(&mut self, id: String, values: Vec<(String, String, String)>) {
        for (language, form_kind, value) in values {
            let texts = self.itext.entry(language.clone()).or_default();
            match self.itext_index.get(&(language.clone(), id.clone())) {
                Some(&at) => texts[at].1.push((form_kind, value)),
                None => {
                    self.itext_index.insert((language, id.clone()), texts.len());
                    texts.push((id.clone(), vec![(form_kind, value)]));
                }
            }
        }
    }

    /// A label, hint ... element: plain text when the form has one language and no media, else
    /// an itext reference (every form language gets a value: `-` where the sheet has none).
    fn text_element(
        &mut self,
        element: &str,
        text: &Text,
        media: &BTreeMap<String, Text>,
        path: &str,
        row: usize,
    ) -> Result<String, XlsFormError> {
        if text.is_empty() && media.is_empty() {
            return Ok(String::new());
        }
        let translated = text.keys().any(|l| l != DEFAULT_LANGUAGE) || !media.is_empty();
        if !translated {
            let value = self.rich_text(&text[DEFAULT_LANGUAGE], path, element, row)?;
            return Ok(format!("<{element}>{value}</{element}>"));
        }
        let id = format!("{path}:{element}");
        let mut values = Vec::new();
        let languages: Vec<String> = self.form.languages.clone();
        for language in &languages {
            if let Some(value) = text.get(language) {
                values.push((language.clone(), String::new(), self.rich_text(value, path, element, row)?));
            }
            for (kind, by_language) in media {
                if let Some(file) = by_language.get(language) {
                    values.push((language.clone(), kind.clone(), media_uri(kind, file)));
                }
            }
        }
        self.itext_entry(id.clone(), values);
        Ok(format!(r#"<{element} ref="jr:itext('{}')"/>"#, attr(&id)))
    }

    /// A `table-list` group, as pyxform writes it: a field-list whose first row is the group's
    /// label and the choices' labels (two generated nodes), then each select without its labels.
    #[allow(clippy::too_many_arguments)]
    fn table_list(
        &mut self,
        g: &Group,
        path: &str,
        repeat: Option<&str>,
        instance: &mut String,
        body: &mut String,
        template: bool,
        layout: Layout,
        attributes: &str,
    ) -> Result<(), XlsFormError> {
        let title = format!("generated_table_list_label_{}", g.row);
        let header = format!("reserved_name_for_field_list_labels_{}", g.row + 1);
        let mut children = g.children.clone();
        for child in &mut children {
            if let Node::Question(q) = child
                && q.list.is_some()
            {
                q.fields.appearance = Some("list-nolabel".into());
            }
        }
        // The title row exists only when the group has a label to show.
        let titled = !g.fields.label.is_empty();
        let mut children_instance = if titled { format!("<{title}/><{header}/>") } else { format!("<{header}/>") };
        let mut children_body = String::new();
        self.nodes(&children, path, repeat, &mut children_instance, &mut children_body, template, layout)?;
        let _ = write!(instance, "<{0}{attributes}>{children_instance}</{0}>", g.name);
        if template {
            return Ok(());
        }
        let (title_path, header_path) = (format!("{path}/{title}"), format!("{path}/{header}"));
        let mut title_control = String::new();
        if titled {
            self.binds.push(format!(r#"<bind nodeset="{}" readonly="true()" type="string"/>"#, attr(&title_path)));
            let label = self.text_element("label", &g.fields.label, &g.fields.media, &title_path, g.row)?;
            let hint = self.hint(&g.fields, &title_path, g.row)?;
            title_control = format!(r#"<input ref="{}">{label}{hint}</input>"#, attr(&title_path));
        }
        self.binds.push(format!(r#"<bind nodeset="{}" type="string"/>"#, attr(&header_path)));
        self.bind(path, None, &g.fields, g.row, &[])?;
        let first_select = g.children.iter().find_map(|c| match c {
            Node::Question(q) if q.list.is_some() => Some(q),
            _ => None,
        });
        let header_control = match first_select {
            Some(q) => {
                let element = if q.kind.control == Control::Select { "select" } else { "select1" };
                let itemset = self.itemset(q, &header_path, q.list.clone().unwrap_or_default())?;
                format!(
                    r#"<{element} ref="{}" appearance="label"><label> </label>{itemset}</{element}>"#,
                    attr(&header_path)
                )
            }
            None => String::new(),
        };
        let appearance = g.fields.appearance.as_deref().unwrap_or_default().replace("table-list", "field-list");
        let _ = write!(
            body,
            r#"<group appearance="{}" ref="{}">{title_control}{header_control}{children_body}</group>"#,
            attr(appearance.trim()),
            attr(path)
        );
        Ok(())
    }

    /// `instance::x` columns: attributes of the node in the primary instance.
    fn instance_attributes(
        &mut self,
        extra: &[(String, String)],
        path: &str,
        row: usize,
    ) -> Result<String, XlsFormError> {
        let mut out = String::new();
        for (name, value) in extra {
            let value = self.expression(value, path, &format!("instance::{name}"), row)?;
            let _ = write!(out, r#" {name}="{}""#, attr(&value));
        }
        Ok(out)
    }

    /// The hint, and the guidance hint (shown on request) as its `guidance` form.
    fn hint(&mut self, fields: &Fields, path: &str, row: usize) -> Result<String, XlsFormError> {
        if fields.guidance_hint.is_empty() {
            return self.text_element("hint", &fields.hint, &BTreeMap::new(), path, row);
        }
        let id = format!("{path}:hint");
        let mut values = Vec::new();
        for language in self.form.languages.clone() {
            if let Some(hint) = fields.hint.get(&language) {
                values.push((language.clone(), String::new(), self.rich_text(hint, path, "hint", row)?));
            }
            if let Some(guidance) = fields.guidance_hint.get(&language) {
                values.push((language.clone(), "guidance".to_owned(), guidance.clone()));
            }
        }
        self.itext_entry(id.clone(), values);
        Ok(format!(r#"<hint ref="jr:itext('{}')"/>"#, attr(&id)))
    }

    /// A bind message (`jr:constraintMsg`): plain, or an itext reference when translated or
    /// when it shows an answer (`${name}` becomes an `<output>`, which only itext can hold).
    fn message(&mut self, text: &Text, path: &str, name: &str, row: usize) -> Result<Option<String>, XlsFormError> {
        if text.is_empty() {
            return Ok(None);
        }
        let plain = text.keys().all(|l| l == DEFAULT_LANGUAGE);
        if plain && !text[DEFAULT_LANGUAGE].contains("${") {
            return Ok(Some(text[DEFAULT_LANGUAGE].clone()));
        }
        let id = format!("{path}:{name}");
        let mut values = Vec::new();
        for (language, value) in text {
            values.push((language.clone(), String::new(), self.rich_text(value, path, name, row)?));
        }
        self.itext_entry(id.clone(), values);
        Ok(Some(format!("jr:itext('{id}')")))
    }

    /// Collects the `trigger` column's setvalues: when the named question changes, this one takes
    /// its calculation (which then is no bind `calculate`).
    fn triggers(&mut self, nodes: &[Node], parent: &str) -> Result<(), XlsFormError> {
        for node in nodes {
            let path = format!("{parent}/{}", node.name());
            match node {
                Node::Group(g) => self.triggers(&g.children, &path)?,
                Node::Question(q) => {
                    let Some(trigger) = &q.fields.trigger else { continue };
                    let pieces = xpath::references(trigger)
                        .map_err(|m| XlsFormError::at("survey", q.row, Some("trigger"), m))?;
                    let value = match &q.fields.calculation {
                        Some(calculation) => {
                            format!(r#" value="{}""#, attr(&self.expression(calculation, &path, "calculation", q.row)?))
                        }
                        None => String::new(),
                    };
                    let setvalue = if q.kind.name == "background-geopoint" {
                        format!(r#"<odk:setgeopoint ref="{}" event="xforms-value-changed"/>"#, attr(&path))
                    } else {
                        format!(r#"<setvalue ref="{}" event="xforms-value-changed"{value}/>"#, attr(&path))
                    };
                    let mut any = false;
                    for piece in pieces {
                        match piece {
                            Piece::Reference(name) => {
                                let (target, _) = self.target(name, "trigger", q.row)?;
                                self.triggered.entry(target).or_default().push((q.name.clone(), setvalue.clone()));
                                any = true;
                            }
                            Piece::Text(t) if t.trim().trim_matches(',').trim().is_empty() => {}
                            Piece::Text(t) => {
                                let message =
                                    format!("The trigger '{}' is not a reference like ${{question}}.", t.trim());
                                return Err(XlsFormError::at("survey", q.row, Some("trigger"), message));
                            }
                        }
                    }
                    if !any {
                        return Err(XlsFormError::at(
                            "survey",
                            q.row,
                            Some("trigger"),
                            "Name the triggering question as ${question}.",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// `meta/entity` and its binds: created (a new id when the form opens) or updated (the id,
    /// and the versions read from the dataset's attachment).
    fn entity(&mut self, entity: &crate::survey::Entity, container: &str) -> Result<EntityMeta, XlsFormError> {
        let mut instance = String::new();
        let mut new_repeat = None;
        let path = format!("{container}/meta/entity");
        let update = entity.entity_id.is_some();
        let create = !update || entity.create_if.is_some();
        let sheet_error = |m: String| XlsFormError::at("entities", entity.row, None, m);
        let mut attributes = format!(r#" dataset="{}""#, attr(&entity.dataset));
        if create {
            attributes.push_str(r#" create="1""#);
        }
        if update {
            attributes.push_str(r#" update="1" baseVersion="" trunkVersion="" branchId="""#);
        }
        attributes.push_str(r#" id="""#);
        match &entity.label {
            Some(_) => {
                let _ = write!(instance, "<entity{attributes}><label/></entity>");
            }
            None => {
                let _ = write!(instance, "<entity{attributes}/>");
            }
        }
        let expression = |w: &mut Self, text: &str, column: &str, from: &str| {
            w.expression(text, from, column, entity.row).map_err(|e| sheet_error(e.message))
        };
        let readonly = |nodeset: &str, calculate: Option<String>| match calculate {
            Some(c) => format!(
                r#"<bind nodeset="{}" calculate="{}" readonly="true()" type="string"/>"#,
                attr(nodeset),
                attr(&c)
            ),
            None => format!(r#"<bind nodeset="{}" readonly="true()" type="string"/>"#, attr(nodeset)),
        };
        if let Some(condition) = &entity.create_if {
            let value = expression(self, condition, "create_if", &format!("{path}/@create"))?;
            self.binds.push(readonly(&format!("{path}/@create"), Some(value)));
        }
        if let Some(condition) = &entity.update_if {
            let value = expression(self, condition, "update_if", &format!("{path}/@update"))?;
            self.binds.push(readonly(&format!("{path}/@update"), Some(value)));
        }
        match &entity.entity_id {
            Some(id) => {
                let id = expression(self, id, "entity_id", &format!("{path}/@id"))?;
                for (attribute, column) in
                    [("baseVersion", "__version"), ("trunkVersion", "__trunkVersion"), ("branchId", "__branchId")]
                {
                    // Inside the predicate, relative paths start from the current node.
                    let key = if id.trim_start().starts_with("..") {
                        format!(" current()/{} ", id.trim())
                    } else {
                        id.clone()
                    };
                    let lookup = format!("instance('{}')/root/item[name={key}]/{column}", entity.dataset);
                    self.binds.push(readonly(&format!("{path}/@{attribute}"), Some(lookup)));
                }
                self.binds.push(readonly(&format!("{path}/@id"), Some(id)));
            }
            None => {
                self.binds.push(readonly(&format!("{path}/@id"), None));
                self.actions.push(format!(
                    r#"<setvalue ref="{}" event="odk-instance-first-load" value="uuid()"/>"#,
                    attr(&format!("{path}/@id"))
                ));
                // In a repeat, each new instance of the repeat is a new entity.
                new_repeat = Some(format!(
                    r#"<setvalue ref="{}" event="odk-new-repeat" value="uuid()"/>"#,
                    attr(&format!("{path}/@id"))
                ));
            }
        }
        if let Some(label) = &entity.label {
            let value = expression(self, label, "label", &format!("{path}/label"))?;
            self.binds.push(readonly(&format!("{path}/label"), Some(value)));
        }
        Ok(EntityMeta { instance, new_repeat })
    }

    /// The itext of every translated choice list (`list-i` ids), whether a select uses it or not.
    fn choice_texts(&mut self) -> Result<(), XlsFormError> {
        let root = self.root.clone();
        for (list, choices) in &self.form.choices {
            if !list_is_translated(choices) {
                continue;
            }
            for (i, choice) in choices.iter().enumerate() {
                let mut values = Vec::new();
                for language in &self.form.languages {
                    if let Some(label) = choice.label.get(language) {
                        values.push((language.clone(), String::new(), self.rich_text(label, &root, "label", 0)?));
                    }
                    for (kind, by_language) in &choice.media {
                        if let Some(file) = by_language.get(language) {
                            values.push((language.clone(), kind.clone(), media_uri(kind, file)));
                        }
                    }
                }
                self.itext_entry(format!("{list}-{i}"), values);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn nodes(
        &mut self,
        nodes: &[Node],
        parent: &str,
        repeat: Option<&str>,
        instance: &mut String,
        body: &mut String,
        template: bool,
        layout: Layout,
    ) -> Result<(), XlsFormError> {
        for node in nodes {
            match node {
                Node::Question(q) => self.question(q, parent, instance, body, template)?,
                Node::Group(g) => self.group(g, parent, repeat, instance, body, template, layout)?,
            }
        }
        Ok(())
    }

    fn bind(
        &mut self,
        path: &str,
        bind_type: Option<&str>,
        fields: &Fields,
        row: usize,
        extra: &[(&str, String)],
    ) -> Result<(), XlsFormError> {
        let mut attrs: Vec<(String, String)> = Vec::new();
        if let Some(t) = bind_type {
            attrs.push(("type".into(), t.to_owned()));
        }
        let truthy = |v: &str| matches!(v.trim().to_ascii_lowercase().as_str(), "yes" | "true" | "true()");
        let falsy = |v: &str| matches!(v.trim().to_ascii_lowercase().as_str(), "no" | "false" | "false()");
        if let Some(v) = &fields.read_only {
            if truthy(v) {
                attrs.push(("readonly".into(), "true()".into()));
            } else if !falsy(v) {
                attrs.push(("readonly".into(), self.expression(v, path, "read_only", row)?));
            }
        }
        if let Some(v) = &fields.required {
            if truthy(v) {
                attrs.push(("required".into(), "true()".into()));
            } else if falsy(v) {
                attrs.push(("required".into(), "false()".into()));
            } else {
                attrs.push(("required".into(), self.expression(v, path, "required", row)?));
            }
        }
        if let Some(v) = &fields.relevant {
            attrs.push(("relevant".into(), self.expression(v, path, "relevant", row)?));
        }
        if let Some(v) = &fields.constraint {
            attrs.push(("constraint".into(), self.expression(v, path, "constraint", row)?));
        }
        if let Some(v) = &fields.calculation
            && fields.trigger.is_none()
        {
            attrs.push(("calculate".into(), self.expression(v, path, "calculation", row)?));
        }
        if let Some(message) = self.message(&fields.constraint_message.clone(), path, "jr:constraintMsg", row)? {
            attrs.push(("jr:constraintMsg".into(), message));
        }
        if let Some(message) = self.message(&fields.required_message.clone(), path, "jr:requiredMsg", row)? {
            attrs.push(("jr:requiredMsg".into(), message));
        }
        for (k, v) in extra {
            attrs.push(((*k).to_owned(), v.clone()));
        }
        if let Some(property) = &fields.save_to {
            // `list#property` names the list too; the bind carries the property.
            let property = property.split_once('#').map_or(property.as_str(), |(_, p)| p);
            attrs.push(("entities:saveto".into(), property.to_owned()));
        }
        for (k, v) in &fields.bind_extra {
            attrs.push((k.clone(), self.expression(v, path, &format!("bind::{k}"), row)?));
        }
        if attrs.is_empty() {
            return Ok(());
        }
        let mut bind = format!(r#"<bind nodeset="{}""#, attr(path));
        for (k, v) in attrs {
            let _ = write!(bind, r#" {k}="{}""#, attr(&v));
        }
        bind.push_str("/>");
        self.binds.push(bind);
        Ok(())
    }

    fn question(
        &mut self,
        q: &Question,
        parent: &str,
        instance: &mut String,
        body: &mut String,
        template: bool,
    ) -> Result<(), XlsFormError> {
        let path = format!("{parent}/{}", q.name);
        let fields = &q.fields;
        // External data and the audit log are no questions: an instance to read, a `meta` node.
        match q.kind.name {
            "csv-external" | "xml-external" => {
                if !template {
                    let src = if q.kind.name == "csv-external" {
                        format!("jr://file-csv/{}.csv", q.name)
                    } else {
                        format!("jr://file/{}.xml", q.name)
                    };
                    self.file_instance(&q.name, src)?;
                }
                return Ok(());
            }
            "audit" => return Ok(()),
            _ => {}
        }
        // A static default is the node's text; an expression is set when the form loads.
        let dynamic = fields.default.as_deref().is_some_and(crate::survey::default_is_dynamic);
        let attributes = self.instance_attributes(&fields.instance_extra, &path, q.row)?;
        match (&fields.default, dynamic) {
            (Some(default), false) if q.kind.preload.is_none() => {
                let _ = write!(instance, "<{0}{attributes}>{1}</{0}>", q.name, esc(default));
            }
            _ => {
                let _ = write!(instance, "<{}{attributes}/>", q.name);
            }
        }
        if template {
            return Ok(());
        }
        if let (Some(default), true) = (&fields.default, dynamic) {
            let value = self.expression(default, &path, "default", q.row)?;
            self.actions.push(format!(
                r#"<setvalue event="odk-instance-first-load" ref="{}" value="{}"/>"#,
                attr(&path),
                attr(&value)
            ));
            if let Some(defaults) = self.new_repeat_defaults.last_mut() {
                let _ = write!(
                    defaults,
                    r#"<setvalue event="odk-new-repeat" ref="{}" value="{}"/>"#,
                    attr(&path),
                    attr(&value)
                );
            }
        }
        let parameter = |key: &str| fields.parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        // Recorded by the device when the form opens, without a control.
        match q.kind.name {
            "start-geopoint" => self
                .actions
                .push(format!(r#"<odk:setgeopoint ref="{}" event="odk-instance-first-load"/>"#, attr(&path))),
            "background-audio" => {
                let quality =
                    parameter("quality").map(|q| format!(r#" odk:quality="{}""#, attr(q))).unwrap_or_default();
                self.actions
                    .push(format!(r#"<odk:recordaudio ref="{}" event="odk-instance-load"{quality}/>"#, attr(&path)));
            }
            _ => {}
        }
        let mut extra: Vec<(&str, String)> = Vec::new();
        for (key, attribute) in [
            ("max-pixels", "orx:max-pixels"),
            ("quality", "odk:quality"),
            ("allow-mock-accuracy", "odk:allow-mock-accuracy"),
        ] {
            // Background recording takes its quality on its action.
            if let Some(value) = parameter(key).filter(|_| !(key == "quality" && q.kind.name == "background-audio")) {
                extra.push((attribute, value.to_owned()));
            }
        }
        // A range is decimal when any of its bounds or its step is.
        let decimal_range = q.kind.control == Control::Range
            && ["start", "end", "step"].iter().any(|k| parameter(k).is_some_and(|v| v.contains('.')));
        let bind_type = if decimal_range { Some("decimal") } else { q.kind.bind_type };
        if q.kind.read_only && fields.read_only.is_none() {
            extra.push(("readonly", "true()".into()));
        }
        if let Some((preload, params)) = q.kind.preload {
            extra.push(("jr:preload", preload.into()));
            extra.push(("jr:preloadParams", params.into()));
        }
        self.bind(&path, bind_type, fields, q.row, &extra)?;
        // A computed question nobody is asked (no label, no hint) has no control.
        let computed = fields.calculation.is_some() || fields.trigger.is_some();
        let unlabelled = fields.label.is_empty() && fields.hint.is_empty() && fields.media.is_empty();
        if q.kind.control == Control::None || (computed && unlabelled) {
            if let Some((set, _)) = self.triggered.get(&path).and_then(|t| t.first()) {
                let message = format!(
                    "The question ${{{}}} is not user-visible so it can't be used as a calculation trigger for question ${{{set}}}.",
                    q.name
                );
                return Err(XlsFormError::at("survey", q.row, Some("trigger"), message));
            }
            // Translated labels of questions without a control still get their itext.
            self.text_element("label", &fields.label, &fields.media, &path, q.row)?;
            return Ok(());
        }
        check_label_and_hint(q)?;
        let label = self.text_element("label", &fields.label, &fields.media, &path, q.row)?;
        let hint = self.hint(fields, &path, q.row)?;
        let mut attrs = format!(r#" ref="{}""#, attr(&path));
        if let Some(appearance) = &fields.appearance {
            let _ = write!(attrs, r#" appearance="{}""#, attr(appearance));
        }
        // A text's `rows` parameter wins over the `rows` column.
        let rows = parameter("rows").filter(|_| q.kind.name == "text");
        for (k, v) in fields.body_extra.iter().filter(|(k, _)| !(k == "rows" && rows.is_some())) {
            let value = self.expression(v, &path, &format!("body::{k}"), q.row)?;
            let _ = write!(attrs, r#" {k}="{}""#, attr(&value));
        }
        if let Some(rows) = rows {
            let _ = write!(attrs, r#" rows="{}""#, attr(rows));
        }
        // An image taken with another app (`app=org.example.camera`), except for drawings.
        let appearance = fields.appearance.as_deref().map(str::trim).unwrap_or_default();
        if q.kind.name == "image"
            && (appearance.is_empty() || appearance == "annotate")
            && let Some(app) = parameter("app")
        {
            let _ = write!(attrs, r#" intent="{}""#, attr(app));
        }
        let (element, inner) = match q.kind.control {
            Control::Input if matches!(q.kind.name, "geopoint" | "geotrace" | "geoshape") => {
                if parameter("incremental").is_some() {
                    attrs.push_str(r#" incremental="true""#);
                }
                for (key, attribute) in
                    [("capture-accuracy", "accuracyThreshold"), ("warning-accuracy", "unacceptableAccuracyThreshold")]
                {
                    if let Some(value) = parameter(key) {
                        let _ = write!(attrs, r#" {attribute}="{}""#, attr(value));
                    }
                }
                let geometry = match parameter("reference-geometry") {
                    Some(list) => self.itemset(q, &path, list.to_owned())?,
                    None => String::new(),
                };
                ("input", geometry)
            }
            Control::Input if q.kind.name == "select_one_external" => {
                let list = q.list.as_deref().unwrap_or_default();
                let filter = match &q.fields.choice_filter {
                    Some(filter) => format!("[{}]", self.expression(filter, &path, "choice_filter", q.row)?),
                    None => String::new(),
                };
                let _ = write!(attrs, r#" query="{}""#, attr(&format!("instance('{list}')/root/item{filter}")));
                ("input", String::new())
            }
            Control::Input => ("input", String::new()),
            Control::Trigger => ("trigger", String::new()),
            Control::Upload(media) => {
                attrs = format!(r#" mediatype="{media}"{attrs}"#);
                ("upload", self.osm_tags(q))
            }
            Control::Range => {
                for (key, default) in [("start", "1"), ("end", "10"), ("step", "1")] {
                    let value = parameter(key).unwrap_or(default);
                    let _ = write!(attrs, r#" {key}="{}""#, attr(value));
                }
                for (key, attribute) in [("tick_interval", "odk:tick-interval"), ("placeholder", "odk:placeholder")] {
                    if let Some(value) = parameter(key) {
                        let _ = write!(attrs, r#" {attribute}="{}""#, attr(value));
                    }
                }
                let ticks = match parameter("tick_labelset") {
                    Some(list) => self.itemset(q, &path, list.to_owned())?,
                    None => String::new(),
                };
                ("range", ticks)
            }
            Control::Select1 | Control::Select | Control::Rank => {
                let element = match q.kind.control {
                    Control::Select1 => "select1",
                    Control::Select => "select",
                    _ => "odk:rank",
                };
                let searched = fields.appearance.as_deref().is_some_and(|a| a.contains("search("));
                let list = q.list.clone().unwrap_or_default();
                let choices = if searched { self.inline_items(&list) } else { self.itemset(q, &path, list)? };
                (element, choices)
            }
            // Returned above: no control.
            Control::None => return Ok(()),
        };
        let label = if label.is_empty() && !hint.is_empty() { "<label/>".to_owned() } else { label };
        let setvalues: String =
            self.triggered.remove(&path).unwrap_or_default().into_iter().map(|(_, setvalue)| setvalue).collect();
        let _ = write!(body, "<{element}{attrs}>{label}{hint}{inner}{setvalues}</{element}>");
        Ok(())
    }

    /// An OSM question's tags (its `osm` sheet list), each with its label.
    fn osm_tags(&self, q: &Question) -> String {
        let Some(list) = q.list.as_deref().filter(|_| q.kind.name == "osm") else { return String::new() };
        let tags = self.form.osm_tags.iter().find(|(n, _)| n == list).map(|(_, t)| t.as_slice()).unwrap_or_default();
        let mut out = String::new();
        for tag in tags {
            let label =
                tag.label.get(DEFAULT_LANGUAGE).or_else(|| tag.label.values().next()).map_or("", String::as_str);
            let _ = write!(out, r#"<tag key="{}"><label>{}</label></tag>"#, attr(&tag.name), esc(label));
        }
        out
    }

    /// A `search()` select's choices as `<item>`s in the control.
    fn inline_items(&self, list: &str) -> String {
        let choices = self.form.choices.iter().find(|(n, _)| n == list).map(|(_, c)| c.as_slice()).unwrap_or_default();
        let translated = list_is_translated(choices);
        let mut out = String::new();
        for (i, choice) in choices.iter().enumerate() {
            let label = if translated {
                format!(r#"<label ref="jr:itext('{}-{i}')"/>"#, attr(list))
            } else {
                format!("<label>{}</label>", esc(choice.label.get(DEFAULT_LANGUAGE).map_or("", String::as_str)))
            };
            let _ = write!(out, "<item>{label}<value>{}</value></item>", esc(&choice.name));
        }
        out
    }

    /// The `<itemset>` over `list` (a choice list, or a file for `*_from_file`).
    fn itemset(&mut self, q: &Question, path: &str, list: String) -> Result<String, XlsFormError> {
        // `select_one ${name}`: the answers given to `name` in the instances of its repeat; a
        // geo question's `reference-geometry=${repeat}`: the repeat's `geometry` answers.
        if let Some(name) = list.strip_prefix("${").and_then(|l| l.strip_suffix('}')) {
            let (target, repeat) = self.target(name.trim(), "type", q.row)?;
            let geometry = self.names.repeats.contains(&target) && q.list.is_none();
            let (repeat, relative) = if geometry {
                (target, "geometry".to_owned())
            } else {
                let Some(repeat) = repeat else {
                    let message = format!("The choices of '${{{name}}}' must come from a question inside a repeat.");
                    return Err(XlsFormError::at("survey", q.row, Some("type"), message));
                };
                let relative = target.strip_prefix(&format!("{repeat}/")).unwrap_or(&target).to_owned();
                (repeat, relative)
            };
            // A filter replaces the test for an answer; in it, the repeat's nodes are relative.
            let predicate = match &q.fields.choice_filter {
                Some(filter) => {
                    self.item_context = Some(repeat.clone());
                    let expression = self.expression(filter, path, "choice_filter", q.row);
                    self.item_context = None;
                    expression?.replace(" ../", " current()/../")
                }
                None => format!("./{relative} != ''"),
            };
            // Seen from inside the repeat around the choices' repeat, the nodeset is relative
            // (geometries are always named from the root).
            let outer = repeat.rsplit_once('/').and_then(|(_, name)| {
                self.names
                    .paths
                    .get(name)
                    .and_then(|p| p.iter().find(|(p, _)| *p == repeat))
                    .and_then(|(_, o)| o.clone())
            });
            let nodeset = match repeat.rsplit_once('/') {
                // From inside the choices' repeat, up past it and back down by name.
                _ if geometry => repeat.clone(),
                Some((parent, name)) if path.starts_with(&format!("{repeat}/")) => {
                    let ups = path.split('/').count() - parent.split('/').count();
                    format!("{}{name}", "../".repeat(ups))
                }
                _ => xpath::path_between(path, &repeat, outer.as_deref()),
            };
            return Ok(format!(
                r#"<itemset nodeset="{}[{}]"><value ref="{}"/><label ref="{}"/></itemset>"#,
                attr(&nodeset),
                attr(&predicate),
                attr(&relative),
                attr(&relative)
            ));
        }
        let (id, value_ref, label_ref) = if q.kind.name.ends_with("from_file") || list.contains('.') {
            let (stem, extension) = list.rsplit_once('.').unwrap_or((&list, ""));
            let src = match extension {
                "csv" => format!("jr://file-csv/{list}"),
                _ => format!("jr://file/{list}"),
            };
            self.file_instance(stem, src)?;
            let param = |k: &str, d: &str| {
                q.fields.parameters.iter().find(|(key, _)| key == k).map_or(d.to_owned(), |(_, v)| v.clone())
            };
            // GeoJSON features carry `id` and `title` where CSV and XML lists carry name and label.
            let (value, label) = if extension == "geojson" { ("id", "title") } else { ("name", "label") };
            (stem.to_owned(), param("value", value), param("label", label))
        } else {
            let choices =
                self.form.choices.iter().find(|(n, _)| *n == list).map(|(_, c)| c.as_slice()).unwrap_or_default();
            let label = if list_is_translated(choices) { "jr:itext(itextId)" } else { "label" };
            (list.clone(), "name".to_owned(), label.to_owned())
        };
        let filter = match &q.fields.choice_filter {
            Some(filter) => {
                let expression = self.expression(filter, path, "choice_filter", q.row)?;
                format!("[{}]", expression.replace(" ../", " current()/../"))
            }
            None => String::new(),
        };
        let mut nodeset = format!("instance('{id}')/root/item{filter}");
        // `randomize=true [seed=...]`: the choices shuffled, the same way for the same seed.
        let parameter = |key: &str| q.fields.parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if parameter("randomize").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            nodeset = match parameter("seed") {
                Some(seed) => format!("randomize({nodeset},{})", self.expression(&seed, path, "parameters", q.row)?),
                None => format!("randomize({nodeset})"),
            };
        }
        Ok(format!(
            r#"<itemset nodeset="{}"><value ref="{}"/><label ref="{}"/></itemset>"#,
            attr(&nodeset),
            attr(&value_ref),
            attr(&label_ref)
        ))
    }

    /// A group or repeat. `template`: only its instance is written (a copy); `layout`: where
    /// that instance sits (see [`Layout`]).
    #[allow(clippy::too_many_arguments)]
    fn group(
        &mut self,
        g: &Group,
        parent: &str,
        repeat: Option<&str>,
        instance: &mut String,
        body: &mut String,
        template: bool,
        layout: Layout,
    ) -> Result<(), XlsFormError> {
        let path = format!("{parent}/{}", g.name);
        let inner_repeat = if g.repeat { Some(path.as_str()) } else { repeat };
        // A count that is not a plain `${question}` is calculated in a node of its own.
        let generated_count = g.repeat
            && g.fields
                .repeat_count
                .as_deref()
                .is_some_and(|c| !matches!(xpath::references(c.trim()).as_deref(), Ok([Piece::Reference(_)])));
        if generated_count {
            let _ = write!(instance, "<{}_count/>", g.name);
        }
        let attributes = self.instance_attributes(&g.fields.instance_extra, &path, g.row)?;
        let table_list = !g.repeat
            && g.fields.appearance.as_deref().is_some_and(|a| a.split_whitespace().any(|w| w == "table-list"));
        let children_layout = match (g.repeat, layout) {
            (true, _) => Layout::Plain { templates: false },
            (false, Layout::InTemplate) => Layout::Plain { templates: true },
            (false, plain) => plain,
        };
        if table_list {
            return self.table_list(g, &path, repeat, instance, body, template, children_layout, &attributes);
        }
        let entity = self.entity_metas.get(&path);
        let entity_meta = entity.map(|m| format!("<meta>{}</meta>", m.instance)).unwrap_or_default();
        let entity_new_repeat = entity.and_then(|m| m.new_repeat.clone());
        if g.repeat && layout != (Layout::Plain { templates: false }) {
            let mut copy = String::new();
            self.nodes(&g.children, &path, inner_repeat, &mut copy, &mut String::new(), true, Layout::InTemplate)?;
            let _ = write!(instance, r#"<{0} jr:template="">{copy}{entity_meta}</{0}>"#, g.name);
            if layout == Layout::InTemplate {
                return Ok(());
            }
        }
        let mut children_instance = String::new();
        let mut children_body = String::new();
        let collects_defaults = g.repeat && !template;
        if collects_defaults {
            self.new_repeat_defaults.push(String::new());
        }
        self.nodes(
            &g.children,
            &path,
            inner_repeat,
            &mut children_instance,
            &mut children_body,
            template,
            children_layout,
        )?;
        children_instance.push_str(&entity_meta);
        // Written with the dynamic defaults of the nearest repeat, in document order.
        if !template && let (Some(setvalue), Some(defaults)) = (entity_new_repeat, self.new_repeat_defaults.last_mut())
        {
            defaults.push_str(&setvalue);
        }
        if collects_defaults {
            children_body.push_str(&self.new_repeat_defaults.pop().unwrap_or_default());
        }
        let _ = write!(instance, "<{0}{attributes}>{children_instance}</{0}>", g.name);
        if template {
            return Ok(());
        }
        self.bind(&path, None, &g.fields, g.row, &[])?;
        let label = self.text_element("label", &g.fields.label, &g.fields.media, &path, g.row)?;
        let group_ref = format!(r#" ref="{}""#, attr(&path));
        // The control's attributes: on the group, or for a repeat on the `repeat` inside its group.
        let mut control = String::new();
        if let Some(appearance) = &g.fields.appearance {
            let _ = write!(control, r#" appearance="{}""#, attr(appearance));
        }
        for (k, v) in &g.fields.body_extra {
            let value = self.expression(v, &path, &format!("body::{k}"), g.row)?;
            let _ = write!(control, r#" {k}="{}""#, attr(&value));
        }
        if g.repeat {
            let mut repeat_attrs = format!(r#" nodeset="{}"{control}"#, attr(&path));
            if let Some(count) = &g.fields.repeat_count {
                let value = self.expression(count, &path, "repeat_count", g.row)?;
                let value = if generated_count {
                    let count_path = format!("{parent}/{}_count", g.name);
                    self.binds.push(format!(
                        r#"<bind nodeset="{}" type="string" readonly="true()" calculate="{}"/>"#,
                        attr(&count_path),
                        attr(&value)
                    ));
                    format!(" {count_path} ")
                } else {
                    value
                };
                let _ = write!(repeat_attrs, r#" jr:count="{}""#, attr(&value));
            }
            let label = if label.is_empty() { "<label/>".to_owned() } else { label };
            let _ = write!(body, "<group{group_ref}>{label}<repeat{repeat_attrs}>{children_body}</repeat></group>");
        } else {
            let _ = write!(body, "<group{group_ref}{control}>{label}{children_body}</group>");
        }
        Ok(())
    }
}

fn media_uri(kind: &str, file: &str) -> String {
    let prefix = match kind {
        "audio" => "jr://audio/",
        "video" => "jr://video/",
        _ => "jr://images/",
    };
    format!("{prefix}{file}")
}

pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn attr(text: &str) -> String {
    esc(text).replace('"', "&quot;")
}

/// A question the user sees says something: a label, media or a hint (a guidance hint alone may
/// be hidden), and a big image comes with its small one.
fn check_label_and_hint(q: &Question) -> Result<(), XlsFormError> {
    let fields = &q.fields;
    if fields.label.is_empty() && fields.media.is_empty() && fields.hint.is_empty() {
        let message = format!("The survey element named '{}' has no label or hint.", q.name);
        return Err(XlsFormError::at("survey", q.row, Some("label"), message));
    }
    if fields.media.contains_key("big-image") && !fields.media.contains_key("image") {
        let message =
            format!("To use big-image, you must also specify an image for the survey element named {}.", q.name);
        return Err(XlsFormError::at("survey", q.row, Some("media::big-image"), message));
    }
    Ok(())
}

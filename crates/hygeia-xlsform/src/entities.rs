//! The entities sheet: which entity lists a form creates or updates, and where in the form each
//! entity is declared. A form may declare several entities; each is written as a `meta/entity`
//! block in one container (the survey, a group or a repeat), chosen as pyxform 4.5 chooses it: the
//! container nearest the questions that save to the entity (`save_to`) or that its expressions
//! read (`${name}`), never two entities in one container, never a reference from outside the
//! entity's repeat.

use std::collections::HashMap;

use crate::error::XlsFormError;
use crate::survey::is_xml_name;
use crate::workbook::Workbook;
use crate::xpath::{self, Piece};

/// One row of the entities sheet.
#[derive(Debug, Clone)]
pub struct Entity {
    pub dataset: String,
    pub label: Option<String>,
    pub create_if: Option<String>,
    pub update_if: Option<String>,
    pub entity_id: Option<String>,
    pub row: usize,
}

const NAME_RULE: &str = "Names must begin with a letter or underscore. After the first character, names may contain letters, digits, underscores, hyphens, or periods.";
const COLUMNS: [&str; 6] = ["list_name", "entity_id", "create_if", "update_if", "repeat", "label"];

/// The declarations of the entities sheet, in sheet order, each checked on its own.
pub fn declarations(workbook: &Workbook) -> Result<Vec<Entity>, XlsFormError> {
    let Some(sheet) = workbook.sheet("entities") else { return Ok(Vec::new()) };
    let mut header: Option<(usize, Vec<String>)> = None;
    let mut entities: Vec<Entity> = Vec::new();
    for row in &sheet.rows {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let Some((_, columns)) = &header else {
            let names = row.cells.iter().map(|c| entity_column(c)).collect();
            header = Some((row.number, names));
            continue;
        };
        let cells: Vec<(&str, &str)> = columns
            .iter()
            .zip(&row.cells)
            .map(|(c, v)| (c.as_str(), v.trim()))
            .filter(|(c, v)| !c.is_empty() && !v.is_empty())
            .collect();
        let unknown: Vec<String> =
            cells.iter().filter(|(c, _)| !COLUMNS.contains(c)).map(|(c, _)| format!("'{c}'")).collect();
        if !unknown.is_empty() {
            return Err(XlsFormError::at(
                "entities",
                1,
                None,
                format!(
                    "one or more column names are invalid. The following column(s) are not supported by this version of pyxform: {}. Please either: check the spelling of the column names, remove the columns, or update pyxform.",
                    unknown.join(", ")
                ),
            ));
        }
        let get = |key: &str| cells.iter().find(|(c, _)| *c == key).map(|(_, v)| (*v).to_owned());
        let entity = Entity {
            dataset: get("list_name").unwrap_or_default(),
            label: get("label"),
            create_if: get("create_if"),
            update_if: get("update_if"),
            entity_id: get("entity_id"),
            row: row.number,
        };
        check_declaration(&entity)?;
        if entities.iter().any(|e| e.dataset == entity.dataset) {
            let message = "The 'list_name' column must not have any duplicate names.";
            return Err(XlsFormError::at("entities", entity.row, Some("list_name"), message));
        }
        entities.push(entity);
    }
    Ok(entities)
}

/// `list_name` and `dataset` are one column; other headers keep their (lower-cased) name.
fn entity_column(header: &str) -> String {
    let lower = header.trim().to_ascii_lowercase();
    match lower.replace(' ', "_").as_str() {
        "list_name" | "dataset" => "list_name".to_owned(),
        _ => lower,
    }
}

/// A declaration's name and the combination of create and update columns it uses.
fn check_declaration(entity: &Entity) -> Result<(), XlsFormError> {
    let name = entity.dataset.as_str();
    let row = entity.row;
    let name_error = |message: &str| XlsFormError::at("entities", row, Some("list_name"), message);
    if name.is_empty() {
        return Err(name_error("Entity lists must have a name."));
    }
    if name.starts_with("__") {
        return Err(name_error("Names used here must not begin with two underscores."));
    }
    if name.contains('.') {
        return Err(name_error("Names used here must not contain a period."));
    }
    if !is_xml_name(name) {
        return Err(name_error(NAME_RULE));
    }
    let invalid = |message: String| {
        XlsFormError::at("entities", row, None, format!("the entity declaration is invalid. {message}"))
    };
    if entity.entity_id.is_none() && entity.update_if.is_some() {
        return Err(invalid(format!(
            "The entity list name '{name}' does not have an 'entity_id' expression, but an 'entity_id' is required when updating entities. Updating entities is indicated by using 'entity_id' and/or 'update_if' expressions. Please either: add an 'entity_id' for this entity declaration, or to only create entities instead move the 'update_if' to 'create_if'."
        )));
    }
    if entity.entity_id.is_some() && entity.create_if.is_some() && entity.update_if.is_none() {
        return Err(invalid(format!(
            "The entity list name '{name}' does not have an 'update_if' expression, but an 'update_if' is required when upserting entities. Upserting entities is indicated by using 'create_if' and 'entity_id' expressions. Please either: add an 'update_if' for this entity declaration, or to only create entities instead remove the 'entity_id' expression."
        )));
    }
    if entity.entity_id.is_none() && entity.label.is_none() {
        return Err(invalid(format!(
            "The entity list name '{name}' does not have a label, but a 'label' is required when creating entities. Creating entities is indicated by using a 'create_if' expression, or by not using 'entity_id' expression. Please either: add a 'label' for this entity declaration, or to update entities instead provide an 'entity_id' (and optionally 'update_if') expression."
        )));
    }
    Ok(())
}

/// A container of the form: the survey itself, a group or a repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    Survey,
    Group,
    Repeat,
}

/// The containers from the survey down to one of them (`/survey/g1/r1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerPath(pub Vec<(String, ContainerKind)>);

impl ContainerPath {
    pub fn survey() -> ContainerPath {
        ContainerPath(vec![("survey".to_owned(), ContainerKind::Survey)])
    }

    pub fn child(&self, name: &str, kind: ContainerKind) -> ContainerPath {
        let mut nodes = self.0.clone();
        nodes.push((name.to_owned(), kind));
        ContainerPath(nodes)
    }

    fn prefix(&self, length: usize) -> ContainerPath {
        ContainerPath(self.0[..length.min(self.0.len())].to_vec())
    }

    fn is_boundary(kind: ContainerKind) -> bool {
        matches!(kind, ContainerKind::Survey | ContainerKind::Repeat)
    }

    /// The nearest enclosing repeat (or the survey): the scope an entity lives in.
    fn scope(&self) -> ContainerPath {
        match self.0.iter().rposition(|(_, kind)| Self::is_boundary(*kind)) {
            Some(at) => self.prefix(at + 1),
            None => ContainerPath::survey(),
        }
    }

    /// How many repeats the path passes through.
    pub fn repeat_depth(&self) -> usize {
        self.0.iter().skip(1).filter(|(_, kind)| *kind == ContainerKind::Repeat).count()
    }

    /// How many groups lie below the path's scope.
    fn depth_in_scope(&self) -> usize {
        self.0.iter().rev().take_while(|(_, kind)| !Self::is_boundary(*kind)).count()
    }

    fn describe(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|(name, _)| name.as_str()).collect();
        format!("/{}", names.join("/"))
    }

    /// The group and repeat names below the survey.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().skip(1).map(|(name, _)| name.as_str())
    }
}

/// Where a question ties itself to an entity: it saves to a property, or the entity's
/// expressions read it.
#[derive(Debug, Clone)]
struct Reference {
    path: ContainerPath,
    row: usize,
    property: Option<String>,
    question: Option<String>,
}

/// The references to each entity met so far, the survey sheet being read row by row.
#[derive(Debug, Default)]
pub struct References {
    /// By declaration index, in the order each entity is first referred to.
    by_entity: Vec<(usize, Vec<Reference>)>,
    /// The names each declaration's expressions read, as (question name, declaration index).
    variables: Vec<(String, usize)>,
}

impl References {
    pub fn new(declarations: &[Entity]) -> References {
        let mut variables = Vec::new();
        for (index, entity) in declarations.iter().enumerate() {
            let mut names: Vec<String> = Vec::new();
            for text in [&entity.entity_id, &entity.create_if, &entity.update_if, &entity.label].into_iter().flatten() {
                for piece in xpath::references(text).unwrap_or_default() {
                    if let Piece::Reference(name) = piece
                        && !names.iter().any(|n| n == name)
                    {
                        names.push(name.to_owned());
                    }
                }
            }
            variables.extend(names.into_iter().map(|name| (name, index)));
        }
        References { by_entity: Vec::new(), variables }
    }

    fn of(&mut self, entity: usize) -> &mut Vec<Reference> {
        let at = match self.by_entity.iter().position(|(e, _)| *e == entity) {
            Some(at) => at,
            None => {
                self.by_entity.push((entity, Vec::new()));
                self.by_entity.len() - 1
            }
        };
        &mut self.by_entity[at].1
    }

    /// Records a survey row found in `path` (its parent container). `save_to` is the row's
    /// cell; the property name it gives (without its `list#` prefix) is returned.
    pub fn record(
        &mut self,
        declarations: &[Entity],
        path: &ContainerPath,
        row: usize,
        name: Option<&str>,
        save_to: Option<&str>,
        container_row: bool,
    ) -> Result<Option<String>, XlsFormError> {
        let invalid = |message: String| XlsFormError::at("survey", row, Some("save_to"), message);
        let mut property = None;
        if let Some(save_to) = save_to {
            if declarations.is_empty() {
                return Err(invalid(
                    "To save entity properties using the save_to column, add an entities sheet and declare an entity."
                        .into(),
                ));
            }
            let (dataset, saved) = match save_to.matches('#').count() {
                0 if declarations.len() > 1 => {
                    return Err(invalid("When there is more than one entity declaration, 'save_to' names must be prefixed with the entity 'list_name' that the property belongs to. Please either: add the entity 'list_name' prefix separated with a '#' e.g. my_list#my_save_to (where 'my_list' is the entity 'list_name', and 'my_save_to' is the 'save_to' property name), or remove all but one entity declaration.".into()));
                }
                0 => (declarations[0].dataset.as_str(), save_to),
                1 => save_to.split_once('#').expect("one '#'"),
                _ => {
                    return Err(invalid("A 'save_to' value must have at most one '#' delimiter character. Please check the spelling of this 'save_to' value.".into()));
                }
            };
            let Some(entity) = declarations.iter().position(|e| e.dataset == dataset) else {
                return Err(invalid(format!(
                    "The entity list name '{dataset}' was not found on the entities sheet. Please either: check the spelling of the list name in the save_to value, or on the entities sheet add a row for this entity list, or check the spelling of existing entity list names."
                )));
            };
            if saved.is_empty() {
                return Err(invalid(NAME_RULE.into()));
            }
            if container_row {
                return Err(invalid("Groups and repeats can't be saved as entity properties. Either remove or move the save_to value in this row.".into()));
            }
            if saved.eq_ignore_ascii_case("name") || saved.eq_ignore_ascii_case("label") {
                return Err(invalid("Names used here must not be 'name' or 'label' (case-insensitive).".into()));
            }
            if saved.starts_with("__") {
                return Err(invalid("Names used here must not begin with two underscores.".into()));
            }
            if !is_xml_name(saved) {
                return Err(invalid(NAME_RULE.into()));
            }
            let references = self.of(entity);
            if let Some(other) = references.iter().find(|r| r.property.as_deref() == Some(saved)) {
                return Err(invalid(format!(
                    "The save_to property '{saved}' is already assigned by row '{}'. Either remove or change one of these duplicate save_to property names.",
                    other.row
                )));
            }
            references.push(Reference { path: path.clone(), row, property: Some(saved.to_owned()), question: None });
            property = Some(saved.to_owned());
        }
        if let Some(name) = name {
            let readers: Vec<usize> = self.variables.iter().filter(|(n, _)| n == name).map(|(_, e)| *e).collect();
            for entity in readers {
                self.of(entity).push(Reference {
                    path: path.clone(),
                    row,
                    property: None,
                    question: Some(name.to_owned()),
                });
            }
        }
        Ok(property)
    }

    /// The container each entity is declared in, as (container, declaration index).
    pub fn allocate(&self, declarations: &[Entity]) -> Result<Vec<(ContainerPath, usize)>, XlsFormError> {
        let survey = ContainerPath::survey();
        let mut scopes: Vec<(ContainerPath, Vec<Request>)> = Vec::new();
        let add = |scopes: &mut Vec<(ContainerPath, Vec<Request>)>, request: Request| match scopes
            .iter_mut()
            .find(|(s, _)| *s == request.scope)
        {
            Some((_, requests)) => requests.push(request),
            None => scopes.push((request.scope.clone(), vec![request])),
        };
        for (entity, references) in &self.by_entity {
            add(&mut scopes, request(&declarations[*entity], *entity, references)?);
        }
        for (index, _) in declarations.iter().enumerate() {
            if !self.by_entity.iter().any(|(e, _)| *e == index) {
                let request = Request {
                    scope: survey.clone(),
                    entity: index,
                    requested: survey.clone(),
                    saveto_lineages: Vec::new(),
                };
                add(&mut scopes, request);
            }
        }
        // One entity in the survey scope: declared in the survey (the 2024.1.0 layout).
        if let [(scope, requests)] = scopes.as_slice()
            && *scope == survey
            && let [request] = requests.as_slice()
        {
            return Ok(vec![(survey, request.entity)]);
        }
        let mut allocations: Vec<(ContainerPath, usize)> = Vec::new();
        let mut reserved: HashMap<ContainerPath, usize> = HashMap::new();
        for (scope, requests) in &scopes {
            let limit = scope.0.len() - 1;
            let mut ordered: Vec<&Request> = requests.iter().collect();
            ordered.sort_by_key(|r| declarations[r.entity].row);
            for request in ordered {
                let mut conflict = None;
                // As deep as the references ask, else the nearest free container above.
                for depth in (limit + 1..=request.requested.0.len()).rev() {
                    let path = request.requested.prefix(depth);
                    let taken = allocations
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, e)| *e)
                        .or_else(|| reserved.get(&path).copied());
                    match taken {
                        Some(other) => {
                            conflict = Some(other);
                            // A saved-to container reserved by another entity cannot be given up
                            // (pyxform looks at the first lineage only).
                            if let Some(owner) = request.saveto_lineages.first().and_then(|l| reserved.get(l)) {
                                conflict = Some(*owner);
                                break;
                            }
                        }
                        None => {
                            conflict = None;
                            allocations.push((path.clone(), request.entity));
                            reserved.insert(path.clone(), request.entity);
                            for lineage in &request.saveto_lineages {
                                for length in (path.0.len()..=lineage.0.len()).rev() {
                                    reserved.insert(lineage.prefix(length), request.entity);
                                }
                            }
                            break;
                        }
                    }
                }
                if let Some(other) = conflict {
                    let entity = &declarations[request.entity];
                    return Err(XlsFormError::at(
                        "entities",
                        entity.row,
                        None,
                        format!(
                            "the entity declaration is invalid. Each container (survey, group, repeat) may have only one entity declaration, but there are no valid containers available in the scope: '{}', which has been allocated to the entity on row '{}'. Please either: check which entities are referred to from the 'survey' sheetin the 'save_to' column, or check which questions are being referred to in the entities sheet.",
                            scope.describe(),
                            declarations[other].row
                        ),
                    ));
                }
            }
        }
        Ok(allocations)
    }
}

/// Where one entity would like to be declared, and the scope it must stay in.
#[derive(Debug)]
struct Request {
    scope: ContainerPath,
    entity: usize,
    requested: ContainerPath,
    saveto_lineages: Vec<ContainerPath>,
}

/// The preferred container of one entity given its references (pyxform's
/// `get_allocation_request`): the deepest scope any reference is in; within it the deepest
/// container, saved-to containers first; several saved-to lineages meet at their common path.
fn request(entity: &Entity, index: usize, references: &[Reference]) -> Result<Request, XlsFormError> {
    let mut deepest_scope: Option<(ContainerPath, usize)> = None;
    let mut deepest_scope_ref: Option<&Reference> = None;
    let mut deepest_container: Option<(&Reference, usize)> = None;
    let mut deepest_saveto: Option<(&Reference, usize)> = None;
    let mut lineages: Vec<ContainerPath> = Vec::new();
    let mut scopes: Vec<(&Reference, ContainerPath)> = Vec::new();
    for reference in references {
        let depth_in_scope = reference.path.depth_in_scope();
        let scope = reference.path.scope();
        let scope_depth = scope.repeat_depth();
        if deepest_scope.as_ref().is_none_or(|(_, depth)| scope_depth > *depth) {
            if deepest_scope.as_ref().is_none_or(|(s, _)| *s != scope) {
                deepest_container = Some((reference, depth_in_scope));
                if reference.property.is_some() {
                    deepest_saveto = Some((reference, depth_in_scope));
                }
            }
            deepest_scope = Some((scope.clone(), scope_depth));
            deepest_scope_ref = Some(reference);
        }
        scopes.push((reference, scope.clone()));
        let in_deepest = deepest_scope.as_ref().is_some_and(|(s, _)| *s == scope);
        if deepest_container.is_none_or(|(_, depth)| in_deepest && depth_in_scope > depth) {
            deepest_container = Some((reference, depth_in_scope));
        }
        if reference.property.is_some() {
            if !lineages.contains(&reference.path) {
                lineages.push(reference.path.clone());
            }
            if deepest_saveto.is_none_or(|(_, depth)| in_deepest && depth_in_scope > depth) {
                deepest_saveto = Some((reference, depth_in_scope));
            }
        }
    }
    let (Some((deepest_scope, _)), Some(deepest_scope_ref), Some((deepest_container, _))) =
        (deepest_scope, deepest_scope_ref, deepest_container)
    else {
        unreachable!("an entity is only requested for once referred to");
    };
    let mut requested = match deepest_saveto {
        Some((saveto, _)) => saveto.path.clone(),
        None => deepest_container.path.clone(),
    };
    if let Some(first) = lineages.first() {
        let shortest = lineages.iter().map(|l| l.0.len()).min().unwrap_or_default();
        let mut common = first.prefix(shortest);
        if lineages.len() > 1 {
            // As pyxform does, the last position where the lineages differ ends the common path.
            if let Some(i) = (0..shortest).rev().find(|&i| lineages.iter().any(|l| l.0[i] != first.0[i])) {
                common = first.prefix(i);
            }
            let saveto_scope = deepest_saveto.map(|(r, _)| r.path.scope()).unwrap_or_else(ContainerPath::survey);
            let key = |p: &ContainerPath| (p.repeat_depth(), p.depth_in_scope());
            // Python's max keeps the first of equals.
            requested = if key(&common) > key(&saveto_scope) { common } else { saveto_scope };
        } else {
            requested = common;
        }
    }
    let requested_scope = requested.scope();
    for (reference, scope) in &scopes {
        let where_ = |other: &ContainerPath| (other.describe(), reference.path.describe());
        if deepest_scope.0.get(..scope.0.len()) != Some(scope.0.as_slice()) {
            let (other, this) = where_(&deepest_scope_ref.path);
            return Err(scope_conflict(entity, reference, &other, &this));
        }
        if reference.property.is_some() && requested_scope != *scope {
            let (other, this) = where_(&requested);
            return Err(scope_conflict(entity, reference, &other, &this));
        }
    }
    Ok(Request { scope: deepest_scope, entity: index, requested, saveto_lineages: lineages })
}

fn scope_conflict(entity: &Entity, reference: &Reference, other: &str, this: &str) -> XlsFormError {
    let dataset = &entity.dataset;
    match &reference.question {
        None => XlsFormError::at(
            "survey",
            reference.row,
            Some("save_to"),
            format!(
                "The entity list name '{dataset}' has a reference in container scope '{other}' which is not compatible with this 'save_to' reference in scope '{this}'. Please either: check the spelling of the list name in the 'save_to', or copy either value into the desired container scope with a 'calculate' question then use that 'calculate' for the 'save_to'."
            ),
        ),
        Some(question) => XlsFormError::at(
            "entities",
            entity.row,
            None,
            format!(
                "the entity declaration is invalid. The entity list name '{dataset}' has a reference in container scope '{other}' which is not compatible with the variable reference to '{question}' in scope '{this}'. Please either: check the spelling of the variable references, or copy either value into the desired container scope with a 'calculate' question then use that 'calculate' for the 'save_to'."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(dataset: &str, row: usize) -> Entity {
        Entity {
            dataset: dataset.into(),
            label: Some("L".into()),
            create_if: None,
            update_if: None,
            entity_id: None,
            row,
        }
    }

    #[test]
    fn each_entity_goes_to_the_container_it_saves_from_and_two_cannot_share_one() {
        let declarations = [entity("e1", 2), entity("e2", 3)];
        let mut references = References::new(&declarations);
        let repeat = ContainerPath::survey().child("r1", ContainerKind::Repeat);
        let group = repeat.child("g1", ContainerKind::Group);
        assert_eq!(
            references.record(&declarations, &repeat, 3, Some("q1"), Some("e1#p1"), false).unwrap(),
            Some("p1".into())
        );
        references.record(&declarations, &group, 5, Some("q2"), Some("e2#p2"), false).unwrap();
        let allocations = references.allocate(&declarations).unwrap();
        assert_eq!(allocations, vec![(repeat.clone(), 0), (group.clone(), 1)]);

        // Both entities saving from the same repeat: only one container for two entities.
        let mut crowded = References::new(&declarations);
        crowded.record(&declarations, &repeat, 3, Some("q1"), Some("e1#p1"), false).unwrap();
        crowded.record(&declarations, &repeat, 4, Some("q2"), Some("e2#p2"), false).unwrap();
        let err = crowded.allocate(&declarations).unwrap_err();
        assert_eq!((err.sheet.as_deref(), err.row), (Some("entities"), Some(3)));
    }

    #[test]
    fn save_to_checks_name_the_row() {
        let declarations = [entity("e1", 2), entity("e2", 3)];
        let mut references = References::new(&declarations);
        let survey = ContainerPath::survey();
        let unprefixed = references.record(&declarations, &survey, 4, Some("q"), Some("p"), false).unwrap_err();
        assert!(unprefixed.message.contains("must be prefixed"), "{unprefixed}");
        let unknown = references.record(&declarations, &survey, 5, Some("q"), Some("e9#p"), false).unwrap_err();
        assert!(unknown.message.contains("'e9' was not found"), "{unknown}");
        references.record(&declarations, &survey, 6, Some("q"), Some("e1#p"), false).unwrap();
        let twice = references.record(&declarations, &survey, 7, Some("r"), Some("e1#p"), false).unwrap_err();
        assert!(twice.message.contains("already assigned by row '6'"), "{twice}");
        let group = references.record(&declarations, &survey, 8, Some("g"), Some("e1#x"), true).unwrap_err();
        assert_eq!((group.row, group.column.as_deref()), (Some(8), Some("save_to")));
    }
}

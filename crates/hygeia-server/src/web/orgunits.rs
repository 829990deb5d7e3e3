//! The org-unit pages: a tree browser, a filterable table and a map side by side (`/orgunits`),
//! and a unit's own page (`/orgunits/{id}`) with its map, ancestors, children, groups, history
//! and editing. The table's filters are the list API's parameters, so the map asks the GeoJSON
//! API with the very same query.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hygeia_core::permission as perm;
use hygeia_core::{
    Modification, OrgUnit, OrgUnitId, OrgUnitOrder, OrgUnitQuery, OrgUnitScope, OrgUnitSearch, OrgUnitTypeId,
    OrgUnitUpdate, ParentFilter, ValidationStatus,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::i18n::Texts;
use super::{Chrome, PageResult, PageUser, filter_query, render, requested_page, wants_fragment};
use crate::api::orgunit_json::Context;
use crate::api::orgunits::{TREE_READERS, context_for, outside_parent, parse_query, scope_of};
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::state::{AppState, SharedState};

/// Rows a table page shows.
const PAGE_SIZE: u64 = 50;
/// Units the list's map asks for; past it the page says the map is incomplete.
pub const MAP_LIMIT: u64 = 2_000;
/// Children listed on a unit's page.
const CHILDREN_SHOWN: u64 = 100;
/// The list API's filters the table passes on (everything else in the query is ignored).
const FILTERS: &[&str] = &["search", "orgUnitTypeId", "validation_status", "geography", "orgUnitParentId", "version"];

fn require_read(page: &PageUser) -> ApiResult<()> {
    if TREE_READERS.iter().any(|p| page.user.has_permission(p)) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// The filters as the page was asked for them, to fill the form back in.
#[derive(Default)]
struct Filters {
    search: String,
    type_id: String,
    status: String,
    geography: String,
    parent: String,
    parent_name: String,
    /// A version other than the live tree's (from the sources page).
    version: String,
}

impl Filters {
    fn from(params: &HashMap<String, String>) -> Filters {
        let get = |k: &str| params.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Filters {
            search: get("search"),
            type_id: get("orgUnitTypeId"),
            status: match get("validation_status") {
                s if s.is_empty() => "VALID".into(),
                s => s,
            },
            geography: get("geography"),
            parent: get("orgUnitParentId"),
            parent_name: String::new(),
            version: get("version"),
        }
    }
}

struct Row {
    id: i64,
    name: String,
    type_name: String,
    status: ValidationStatus,
    parent: Option<(i64, String)>,
    has_location: bool,
    has_shape: bool,
    updated: String,
}

struct Table {
    rows: Vec<Row>,
    count: u64,
    page: u64,
    pages: u64,
    /// The filters as a query string (without `page`), for the paging links.
    query: String,
    map_capped: bool,
}

#[derive(Template)]
#[template(path = "orgunits.html")]
struct ListPage {
    chrome: Chrome,
    filters: Filters,
    types: Vec<(i64, String)>,
    table: Table,
}

#[derive(Template)]
#[template(path = "orgunits_table.html")]
struct TablePart {
    t: &'static Texts,
    table: Table,
}

/// The API parameters of the page's filters: the live tree unless a version is named, by name.
fn api_params(params: &HashMap<String, String>) -> HashMap<String, String> {
    let mut api: HashMap<String, String> = FILTERS
        .iter()
        .filter_map(|k| params.get(*k).filter(|v| !v.trim().is_empty()).map(|v| (k.to_string(), v.trim().to_owned())))
        .collect();
    if !api.contains_key("version") {
        api.insert("defaultVersion".into(), "true".into());
    }
    api.insert("order".into(), "name".into());
    api
}

/// `/orgunits`: the whole page, or (for htmx) the table alone.
pub async fn list(
    State(state): State<SharedState>,
    page: PageUser,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    require_read(&page)?;
    let table = table(&state, &page, &params).await?;
    if wants_fragment(&headers) {
        return Ok(render(TablePart { t: page.t, table }, StatusCode::OK)?);
    }
    let catalog = crate::api::catalog::catalog(&state, page.user.account_id).await?;
    let mut types: Vec<(i64, String)> = catalog.types.values().map(|t| (t.id.0, t.name.clone())).collect();
    types.sort_by(|a, b| a.1.to_lowercase().cmp(&b.1.to_lowercase()));
    let mut filters = Filters::from(&params);
    if let Ok(parent) = filters.parent.parse::<i64>()
        && let Some(unit) = state.store.org_units().get(&scope_of(&page.user), OrgUnitId(parent)).await?
    {
        filters.parent_name = unit.name;
    }
    let chrome = Chrome::new(&state, &page, "orgunits").await?;
    Ok(render(ListPage { chrome, filters, types, table }, StatusCode::OK)?)
}

async fn table(state: &AppState, page: &PageUser, params: &HashMap<String, String>) -> ApiResult<Table> {
    let mut query = parse_query(state, &page.user, &api_params(params)).await?;
    let number = requested_page(params);
    query.page = Some((PAGE_SIZE, (number - 1).saturating_mul(PAGE_SIZE)));
    let scope = scope_of(&page.user);
    let mut result = state.store.org_units().list(&scope, &query).await?;
    let pages = result.count.div_ceil(PAGE_SIZE).max(1);
    let number = if number > pages {
        query.page = Some((PAGE_SIZE, (pages - 1) * PAGE_SIZE));
        result = state.store.org_units().list(&scope, &query).await?;
        pages
    } else {
        number
    };
    let context = context_for(state, &page.user, &result.items).await?;
    let rows = result.items.iter().map(|unit| row(unit, &context, &scope)).collect();
    Ok(Table {
        rows,
        count: result.count,
        page: number,
        pages,
        query: filter_query(FILTERS, params),
        map_capped: result.count > MAP_LIMIT,
    })
}

/// Whether a restricted user may open `unit` (ancestors of their roots are shown, not opened).
fn opens(scope: &OrgUnitScope, unit: &OrgUnit) -> bool {
    scope.roots.is_empty() || unit.path.ids().iter().any(|id| scope.roots.contains(id))
}

fn row(unit: &OrgUnit, context: &Context, scope: &OrgUnitScope) -> Row {
    Row {
        id: unit.id.0,
        name: unit.name.clone(),
        type_name: unit
            .org_unit_type_id
            .and_then(|t| context.catalog.types.get(&t))
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        status: unit.validation_status,
        parent: unit
            .parent_id
            .and_then(|p| context.ancestors.get(&p))
            .map(|p| (if opens(scope, p) { p.id.0 } else { 0 }, p.name.clone())),
        has_location: unit.location.is_some(),
        has_shape: unit.has_shape,
        updated: unit.updated_at.format("%Y-%m-%d").to_string(),
    }
}

struct Branch {
    id: i64,
    name: String,
    type_name: String,
}

#[derive(Template)]
#[template(path = "orgunits_tree.html")]
struct TreePart {
    t: &'static Texts,
    branches: Vec<Branch>,
}

/// `/orgunits/tree?parent=ID`: one level of the tree (the top: the user's own roots), as a list
/// that opens further on demand.
pub async fn tree(
    State(state): State<SharedState>,
    page: PageUser,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    require_read(&page)?;
    let scope = scope_of(&page.user);
    let account = state.store.accounts().get(page.user.account_id).await?.ok_or(ApiError::NotFound)?;
    let mut query = OrgUnitQuery {
        validation_statuses: vec![ValidationStatus::Valid],
        version_ids: account.default_version_id.map(hygeia_core::SourceVersionId).into_iter().collect(),
        order: vec![(OrgUnitOrder::Name, false)],
        page: Some((1_000, 0)),
        ..Default::default()
    };
    match params.get("parent").and_then(|p| p.parse::<i64>().ok()) {
        Some(parent) => query.parent = Some(ParentFilter::ChildrenOf(Some(OrgUnitId(parent)))),
        None if scope.roots.is_empty() => query.parent = Some(ParentFilter::ChildrenOf(None)),
        None => query.search = Some(OrgUnitSearch::Ids(scope.roots.clone())),
    }
    let units = state.store.org_units().list(&scope, &query).await?.items;
    let catalog = crate::api::catalog::catalog(&state, page.user.account_id).await?;
    let branches = units
        .iter()
        .map(|u| Branch {
            id: u.id.0,
            name: u.name.clone(),
            type_name: u
                .org_unit_type_id
                .and_then(|t| catalog.types.get(&t))
                .map(|t| t.name.clone())
                .unwrap_or_default(),
        })
        .collect();
    Ok(render(TreePart { t: page.t, branches }, StatusCode::OK)?)
}

struct HistoryRow {
    at: String,
    source: String,
    user: String,
    /// The unit's creation (there was nothing before): its fields are not listed.
    created: bool,
    changed: String,
}

fn history_row(modification: &Modification) -> HistoryRow {
    let empty = serde_json::Map::new();
    let past = modification.past_value.as_ref().and_then(Value::as_object).unwrap_or(&empty);
    let new = modification.new_value.as_ref().and_then(Value::as_object).unwrap_or(&empty);
    // Every change touches `updated_at`: naming it says nothing.
    let mut changed: Vec<&str> =
        new.iter().filter(|(k, v)| past.get(*k) != Some(*v) && *k != "updated_at").map(|(k, _)| k.as_str()).collect();
    changed.extend(past.keys().filter(|k| !new.contains_key(*k)).map(String::as_str));
    changed.sort_unstable();
    HistoryRow {
        at: modification.created_at.format("%Y-%m-%d %H:%M").to_string(),
        source: modification.source.clone(),
        user: modification.user_id.map(|u| u.0.to_string()).unwrap_or_default(),
        created: modification.past_value.is_none(),
        changed: changed.join(", "),
    }
}

/// The editable fields as the form shows them.
struct Editing {
    name: String,
    type_id: String,
    parent_id: String,
    status: String,
    source_ref: String,
    code: String,
    message: Option<String>,
    error: Option<String>,
}

impl Editing {
    fn of(unit: &OrgUnit) -> Editing {
        Editing {
            name: unit.name.clone(),
            type_id: unit.org_unit_type_id.map(|t| t.0.to_string()).unwrap_or_default(),
            parent_id: unit.parent_id.map(|p| p.0.to_string()).unwrap_or_default(),
            status: unit.validation_status.as_str().to_owned(),
            source_ref: unit.source_ref.clone().unwrap_or_default(),
            code: unit.code.clone(),
            message: None,
            error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "orgunit.html")]
struct UnitPage {
    chrome: Chrome,
    unit: OrgUnit,
    type_name: String,
    ancestors: Vec<(i64, String)>,
    children: Vec<(i64, String, ValidationStatus)>,
    more_children: bool,
    groups: Vec<String>,
    history: Vec<HistoryRow>,
    /// `{"shape": geometry|null, "location": [lon, lat]|null}` for the map.
    geo: String,
    outside_parent: bool,
    can_edit: bool,
    types: Vec<(i64, String)>,
    editing: Editing,
}

#[derive(Template)]
#[template(path = "orgunit_edit.html")]
struct EditPart {
    t: &'static Texts,
    unit: OrgUnit,
    types: Vec<(i64, String)>,
    editing: Editing,
}

/// `/orgunits/{id}`.
pub async fn unit(State(state): State<SharedState>, page: PageUser, PathId(id): PathId) -> PageResult {
    require_read(&page)?;
    let scope = scope_of(&page.user);
    let Some(unit) = state.store.org_units().get(&scope, OrgUnitId(id)).await? else {
        return Err(ApiError::NotFound.into());
    };
    let editing = Editing::of(&unit);
    Ok(unit_page(&state, &page, unit, editing, StatusCode::OK).await?)
}

async fn unit_page(
    state: &AppState,
    page: &PageUser,
    unit: OrgUnit,
    editing: Editing,
    status: StatusCode,
) -> ApiResult<Response> {
    let scope = scope_of(&page.user);
    let context = context_for(state, &page.user, std::slice::from_ref(&unit)).await?;
    let ancestors = unit
        .path
        .ids()
        .into_iter()
        .filter(|id| *id != unit.id)
        .filter_map(|id| context.ancestors.get(&id))
        // Ancestors above a restricted user's roots are named but not linked (they cannot open them).
        .map(|a| (if opens(&scope, a) { a.id.0 } else { 0 }, a.name.clone()))
        .collect();
    let children_query = OrgUnitQuery {
        parent: Some(ParentFilter::ChildrenOf(Some(unit.id))),
        order: vec![(OrgUnitOrder::Name, false)],
        page: Some((CHILDREN_SHOWN, 0)),
        ..Default::default()
    };
    let children_page = state.store.org_units().list(&scope, &children_query).await?;
    let children = children_page.items.iter().map(|c| (c.id.0, c.name.clone(), c.validation_status)).collect();
    let groups = context
        .groups
        .get(&unit.id)
        .map(|gs| gs.iter().filter_map(|g| g["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let history = state
        .store
        .org_units()
        .history(page.user.account_id, hygeia_core::orgunit::ORG_UNIT_CONTENT_TYPE, &unit.id.0.to_string())
        .await?
        .iter()
        .take(50)
        .map(history_row)
        .collect();
    let shape = match unit.has_shape {
        true => state
            .store
            .org_units()
            .shape_wkb(&scope, unit.id, true)
            .await?
            .and_then(|wkb| hygeia_geo::decode_multipolygon(&wkb).ok())
            .and_then(|shape| serde_json::from_str::<Value>(&hygeia_geo::geojson::geometry_json(&shape)).ok()),
        false => None,
    };
    let outside_parent = outside_parent(state, &context, &unit).await?;
    let geo = json!({
        "shape": shape,
        "location": unit.location.map(|l| [l.longitude, l.latitude]),
    })
    .to_string();
    let type_name =
        unit.org_unit_type_id.and_then(|t| context.catalog.types.get(&t)).map(|t| t.name.clone()).unwrap_or_default();
    let chrome = Chrome::new(state, page, "orgunits").await?;
    render(
        UnitPage {
            chrome,
            type_name,
            ancestors,
            children,
            more_children: children_page.count > CHILDREN_SHOWN,
            groups,
            history,
            geo,
            outside_parent,
            can_edit: page.user.has_permission(perm::ORG_UNITS),
            types: types_of(&context),
            editing,
            unit,
        },
        status,
    )
}

fn types_of(context: &Context) -> Vec<(i64, String)> {
    let mut types: Vec<(i64, String)> = context.catalog.types.values().map(|t| (t.id.0, t.name.clone())).collect();
    types.sort_by(|a, b| a.1.to_lowercase().cmp(&b.1.to_lowercase()));
    types
}

#[derive(Deserialize)]
pub struct EditForm {
    name: String,
    #[serde(default)]
    org_unit_type_id: String,
    #[serde(default)]
    parent_id: String,
    validation_status: String,
    #[serde(default)]
    source_ref: String,
    #[serde(default)]
    code: String,
}

impl EditForm {
    fn update(&self) -> Result<OrgUnitUpdate, String> {
        let optional_id = |field: &str, value: &str| -> Result<Option<i64>, String> {
            match value.trim() {
                "" => Ok(None),
                v => v.parse().map(Some).map_err(|_| format!("{field}: \"{v}\" is not a number.")),
            }
        };
        Ok(OrgUnitUpdate {
            name: Some(self.name.trim().to_owned()),
            org_unit_type_id: Some(optional_id("org_unit_type_id", &self.org_unit_type_id)?.map(OrgUnitTypeId)),
            parent_id: Some(optional_id("parent_id", &self.parent_id)?.map(OrgUnitId)),
            validation_status: Some(
                ValidationStatus::parse(&self.validation_status)
                    .ok_or_else(|| format!("validation_status: \"{}\" is not a status.", self.validation_status))?,
            ),
            source_ref: Some(Some(self.source_ref.trim().to_owned()).filter(|s| !s.is_empty())),
            code: Some(self.code.trim().to_owned()),
            ..Default::default()
        })
    }

    fn editing(&self, message: Option<String>, error: Option<String>) -> Editing {
        Editing {
            name: self.name.clone(),
            type_id: self.org_unit_type_id.clone(),
            parent_id: self.parent_id.clone(),
            status: self.validation_status.clone(),
            source_ref: self.source_ref.clone(),
            code: self.code.clone(),
            message,
            error,
        }
    }
}

/// `POST /orgunits/{id}`: the edit form. htmx gets the form back (saved, or with the error);
/// without htmx, the page again (after a redirect when saved).
pub async fn edit(
    State(state): State<SharedState>,
    page: PageUser,
    headers: HeaderMap,
    PathId(id): PathId,
    Form(form): Form<EditForm>,
) -> PageResult {
    require_read(&page)?;
    if !page.user.has_permission(perm::ORG_UNITS) {
        return Err(ApiError::Forbidden.into());
    }
    let scope = scope_of(&page.user);
    let unit = state.store.org_units().get(&scope, OrgUnitId(id)).await?.ok_or(ApiError::NotFound)?;
    let outcome = match form.update() {
        Ok(update) => state
            .store
            .org_units()
            .update(&scope, Some(page.user.user_id), unit.id, update)
            .await
            .map_err(ApiError::from),
        Err(message) => Err(ApiError::BadRequest(message)),
    };
    let (unit, editing, status) = match outcome {
        Ok(updated) => {
            if !wants_fragment(&headers) {
                return Ok(Redirect::to(&format!("/orgunits/{id}")).into_response());
            }
            let editing = Editing { message: Some(page.t.saved.to_owned()), ..Editing::of(&updated) };
            (updated, editing, StatusCode::OK)
        }
        Err(
            err @ (ApiError::BadRequest(_) | ApiError::Validation(_) | ApiError::Conflict { .. } | ApiError::NotFound),
        ) => {
            let status = err.status();
            (unit, form.editing(None, Some(describe(&err))), status)
        }
        Err(other) => return Err(other.into()),
    };
    if !wants_fragment(&headers) {
        return Ok(unit_page(&state, &page, unit, editing, status).await?);
    }
    let context = context_for(&state, &page.user, &[]).await?;
    // htmx swaps only 2xx answers: a refusal is shown in the form itself.
    Ok(render(EditPart { t: page.t, unit, types: types_of(&context), editing }, StatusCode::OK)?)
}

/// An error for the form: the message, with the fields it names.
fn describe(err: &ApiError) -> String {
    match err {
        ApiError::Validation(errors) => errors.to_string(),
        ApiError::NotFound => "The parent or type given does not exist, or is not yours.".to_owned(),
        other => other.to_string(),
    }
}

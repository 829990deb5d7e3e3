//! The submission pages: the table (`/submissions`, the list API's filters, htmx paging, a map of
//! the page's located submissions, CSV/XLSX export of one form) and one submission
//! (`/submissions/{id}`): its answers under their questions' labels, its photos and files, its
//! place. Read through the API's scope: a user restricted to a subtree sees its submissions only.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use hygeia_core::permission as perm;
use hygeia_core::{Form, FormId, FormQuery, OrgUnitId, Submission, SubmissionFile, SubmissionId, SubmissionStatus};
use serde_json::{Value, json};

use super::i18n::Texts;
use super::{Chrome, PageResult, PageUser, filter_query, render, requested_page, wants_fragment};
use crate::api::instances::{ListParams, visible};
use crate::api::orgunits::scope_of;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::state::{AppState, SharedState};

const PAGE_SIZE: u64 = 50;
/// The list API's filters the page passes on.
const FILTERS: &[&str] =
    &["form_ids", "orgUnitParentId", "status", "period", "dateFrom", "dateTo", "search", "withLocation"];

fn require_reader(page: &PageUser) -> ApiResult<()> {
    if page.user.has_permission(perm::SUBMISSIONS) { Ok(()) } else { Err(ApiError::Forbidden) }
}

struct Row {
    id: i64,
    form: String,
    org_unit: String,
    period: String,
    status: SubmissionStatus,
    created: String,
    located: bool,
}

struct Table {
    rows: Vec<Row>,
    count: u64,
    page: u64,
    pages: u64,
    query: String,
    /// `{"type": "FeatureCollection"}` of the page's located submissions, for the map.
    points: String,
    /// The export links' query, when one form is chosen (an export is of one form).
    export: Option<String>,
}

#[derive(Template)]
#[template(path = "submissions.html")]
struct ListPage {
    chrome: Chrome,
    forms: Vec<(i64, String)>,
    filters: HashMap<String, String>,
    table: Table,
}

#[derive(Template)]
#[template(path = "submissions_table.html")]
struct TablePart {
    t: &'static Texts,
    table: Table,
}

impl ListPage {
    fn filter(&self, name: &str) -> String {
        self.filters.get(name).cloned().unwrap_or_default()
    }
}

fn kept(params: &HashMap<String, String>) -> HashMap<String, String> {
    FILTERS
        .iter()
        .filter_map(|k| {
            params.get(*k).map(|v| v.trim()).filter(|v| !v.is_empty()).map(|v| (k.to_string(), v.to_owned()))
        })
        .collect()
}

async fn visible_forms(state: &AppState, page: &PageUser) -> ApiResult<Vec<Form>> {
    let mut forms = state.store.forms().list(page.user.account_id, &FormQuery::default()).await?;
    forms.retain(|f| f.visible_in(&page.user.projects));
    Ok(forms)
}

/// `/submissions`: the page, or (for htmx) the table alone.
pub async fn list(
    State(state): State<SharedState>,
    page: PageUser,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    require_reader(&page)?;
    let filters = kept(&params);
    let forms = visible_forms(&state, &page).await?;
    let table = table(&state, &page, &filters, &forms, &params).await?;
    if wants_fragment(&headers) {
        return Ok(render(TablePart { t: page.t, table }, StatusCode::OK)?);
    }
    let mut forms: Vec<(i64, String)> = forms.into_iter().map(|f| (f.id.0, f.input.name)).collect();
    forms.sort_by(|a, b| a.1.to_lowercase().cmp(&b.1.to_lowercase()));
    let chrome = Chrome::new(&state, &page, "submissions").await?;
    Ok(render(ListPage { chrome, forms, filters, table }, StatusCode::OK)?)
}

async fn table(
    state: &AppState,
    page: &PageUser,
    filters: &HashMap<String, String>,
    forms: &[Form],
    params: &HashMap<String, String>,
) -> ApiResult<Table> {
    // The list API's own parsing, so that the page and the API accept and refuse the same.
    let pairs = filter_query(FILTERS, filters);
    let parsed: ListParams = serde_urlencoded::from_str(&pairs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut query = parsed.query()?;
    // Only the forms the user may see (their projects).
    let allowed: Vec<FormId> = forms.iter().map(|f| f.id).collect();
    if query.forms.is_empty() {
        query.forms = if allowed.is_empty() { vec![FormId(-1)] } else { allowed.clone() };
    } else {
        query.forms.retain(|f| allowed.contains(f));
        if query.forms.is_empty() {
            query.forms = vec![FormId(-1)];
        }
    }
    let number = requested_page(params);
    query.limit = Some(PAGE_SIZE);
    query.offset = (number - 1).saturating_mul(PAGE_SIZE);
    let scope = scope_of(&page.user);
    let mut found = state.store.submissions().list(&scope, &query).await?;
    let pages = found.count.div_ceil(PAGE_SIZE).max(1);
    let number = if number > pages {
        query.offset = (pages - 1) * PAGE_SIZE;
        found = state.store.submissions().list(&scope, &query).await?;
        pages
    } else {
        number
    };
    let names: HashMap<FormId, &str> = forms.iter().map(|f| (f.id, f.input.name.as_str())).collect();
    let units = unit_names(state, page, found.items.iter().map(|(s, _)| s)).await?;
    let rows = found
        .items
        .iter()
        .map(|(s, status)| Row {
            id: s.id.0,
            form: s.form_id.and_then(|f| names.get(&f)).map(|n| n.to_string()).unwrap_or_default(),
            org_unit: s.org_unit_id.and_then(|u| units.get(&u)).cloned().unwrap_or_default(),
            period: s.period.clone().unwrap_or_default(),
            status: *status,
            created: s.created_at.format("%Y-%m-%d %H:%M").to_string(),
            located: s.latitude.is_some() && s.longitude.is_some(),
        })
        .collect();
    let features: Vec<Value> = found
        .items
        .iter()
        .filter_map(|(s, _)| {
            let (lat, lon) = (s.latitude?, s.longitude?);
            Some(json!({"type": "Feature", "id": s.id.0,
                        "geometry": {"type": "Point", "coordinates": [lon, lat]},
                        "properties": {"name": format!("#{}", s.id.0)}}))
        })
        .collect();
    // Offered once the user has chosen one form (of theirs).
    let chosen = filters.contains_key("form_ids") && query.forms.len() == 1 && query.forms[0].0 > 0;
    let export = chosen.then(|| filter_query(FILTERS, filters));
    Ok(Table {
        rows,
        count: found.count,
        page: number,
        pages,
        query: filter_query(FILTERS, filters),
        points: json!({"type": "FeatureCollection", "features": features}).to_string(),
        export,
    })
}

/// The names of the submissions' units (read account-wide: the list is already scoped).
async fn unit_names<'a>(
    state: &AppState,
    page: &PageUser,
    submissions: impl Iterator<Item = &'a Submission>,
) -> ApiResult<HashMap<OrgUnitId, String>> {
    let mut ids: Vec<OrgUnitId> = submissions.filter_map(|s| s.org_unit_id).collect();
    ids.sort();
    ids.dedup();
    let catalog = crate::api::catalog::catalog(state, page.user.account_id).await?;
    let units = state.ancestors.load(state, page.user.account_id, catalog.tree_version, &ids).await?;
    Ok(units.into_iter().map(|(id, unit)| (id, unit.name)).collect())
}

/// An answer under its question's label.
struct Answer {
    name: String,
    label: String,
    value: String,
}

struct Attachment {
    id: i64,
    name: String,
    image: bool,
}

#[derive(Template)]
#[template(path = "submission.html")]
struct SubmissionPage {
    chrome: Chrome,
    submission: Submission,
    status: SubmissionStatus,
    form: String,
    org_unit: String,
    answers: Vec<Answer>,
    files: Vec<Attachment>,
    geo: String,
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn attachment(file: &SubmissionFile) -> Attachment {
    let lower = file.name.to_ascii_lowercase();
    let image = [".jpg", ".jpeg", ".png", ".gif", ".webp"].iter().any(|e| lower.ends_with(e));
    Attachment { id: file.id.0, name: file.name.clone(), image }
}

/// `/submissions/{id}`.
pub async fn detail(State(state): State<SharedState>, page: PageUser, PathId(id): PathId) -> PageResult {
    require_reader(&page)?;
    let (submission, status) = visible(&state, &page.user, SubmissionId(id)).await?;
    let account = page.user.account_id;
    let form = match submission.form_id {
        Some(form) => state.store.forms().get(account, form).await?,
        None => None,
    };
    if form.as_ref().is_some_and(|f| !f.visible_in(&page.user.projects)) {
        return Err(ApiError::NotFound.into());
    }
    let version = match submission.form_version_id {
        Some(version) => state.store.forms().version(account, version).await?,
        None => None,
    };
    let labels: HashMap<&str, &str> = version
        .as_ref()
        .map(|v| v.possible_fields.iter().map(|f| (f.name.as_str(), f.label.as_str())).collect())
        .unwrap_or_default();
    // Iaso's flat answers, in the form's order of questions (PostgreSQL's JSONB keeps no key order);
    // the question's label where the form has one.
    let order: HashMap<&str, usize> = version
        .as_ref()
        .map(|v| v.possible_fields.iter().enumerate().map(|(i, f)| (f.name.as_str(), i)).collect())
        .unwrap_or_default();
    let mut answers: Vec<Answer> = match &submission.json {
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(name, _)| !name.starts_with('_') && name.as_str() != "instanceID")
            .map(|(name, value)| Answer {
                label: labels.get(name.as_str()).map(|l| l.to_string()).unwrap_or_default(),
                name: name.clone(),
                value: shown(value),
            })
            .collect(),
        _ => Vec::new(),
    };
    answers.sort_by_key(|a| order.get(a.name.as_str()).copied().unwrap_or(usize::MAX));
    let files = state.store.submissions().files(account, submission.id).await?.iter().map(attachment).collect();
    let org_unit =
        unit_names(&state, &page, std::iter::once(&submission)).await?.into_values().next().unwrap_or_default();
    let geo =
        json!({"shape": null, "location": submission.longitude.zip(submission.latitude).map(|(lon, lat)| [lon, lat])})
            .to_string();
    let chrome = Chrome::new(&state, &page, "submissions").await?;
    Ok(render(
        SubmissionPage {
            chrome,
            status,
            form: form.map(|f| f.input.name).unwrap_or_default(),
            org_unit,
            answers,
            files,
            geo,
            submission,
        },
        StatusCode::OK,
    )?)
}

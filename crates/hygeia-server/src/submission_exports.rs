//! Submissions of one form as a table (`/api/instances/?form_ids=F&csv=true`, `xlsx=true`):
//! Iaso's fixed columns (French titles), then one column per question of the form's latest
//! version in the form's order. Repeats are flattened: a question inside a repeat gets one column
//! per instance, `hh_repeat[1]/age`, `hh_repeat[2]/age`..., as many as the largest submission
//! holds (nested repeats multiply).
//!
//! Read in keyset pages of [`PAGE`] submissions, twice: once for the repeats' sizes, once for the
//! rows, so that memory stays flat whatever the number of submissions. The CSV is streamed as it
//! is written; both passes run inside the response body, so the download starts at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::Stream;
use hygeia_core::{
    FormId, FormVersionId, OrgUnit, OrgUnitId, OrgUnitScope, Submission, SubmissionId, SubmissionQuery,
    SubmissionStatus, UserId,
};
use hygeia_xlsform::submission::{Schema, ValueType};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

/// Submissions read per store call.
pub const PAGE: u64 = 1_000;

/// Nearest ancestors named in `parent1`..`parent4`.
const PARENT_COLUMNS: usize = 4;

const FIXED_COLUMNS: &[&str] = &[
    "ID du formulaire",
    "Soumission de référence",
    "Version du formulaire",
    "Export id",
    "Latitude",
    "Longitude",
    "Altitude",
    "Précision",
    "Période",
    "Date de création",
    "Création dans IASO",
    "Date de modification",
    "Créé par",
    "Créé par id",
    "Status",
    "Entité",
    "Entité id",
    "Org unit",
    "Org unit id",
    "Référence externe",
];

/// One step from a submission's typed answers to a value.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A question column: its title and where its value is.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    title: String,
    steps: Vec<Step>,
    kind: ValueType,
}

pub struct SubmissionTable {
    state: SharedState,
    scope: OrgUnitScope,
    query: SubmissionQuery,
    schema: Arc<Schema>,
    versions: HashMap<FormVersionId, String>,
    /// Known once the repeats are measured.
    columns: Vec<Column>,
    /// `username (First Last)`, as Iaso shows them.
    users: HashMap<UserId, String>,
    /// The last submission read; `None` once every page is read.
    after: Option<SubmissionId>,
}

impl SubmissionTable {
    /// The table of the submissions of `form` that `query` selects (its paging is ignored). A form
    /// without a version, or unknown, is refused here, before any byte is sent.
    pub async fn new(
        state: &SharedState,
        scope: OrgUnitScope,
        mut query: SubmissionQuery,
        form: FormId,
    ) -> ApiResult<SubmissionTable> {
        let account = scope.account;
        let store = &state.store;
        store.forms().get(account, form).await?.ok_or_else(|| ApiError::field("form_ids", "No such form."))?;
        let latest = store.forms().latest_versions(account, &[form]).await?.remove(&form);
        let latest =
            latest.ok_or_else(|| ApiError::field("form_ids", "The form has no version yet: nothing to export."))?;
        let schema =
            state.schemas.load(&state.files, account, &latest).await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let versions =
            store.forms().versions(account, Some(form)).await?.into_iter().map(|v| (v.id, v.version_id)).collect();
        query.forms = vec![form];
        query.limit = Some(PAGE);
        query.offset = 0;
        query.after_id = Some(SubmissionId(0));
        Ok(SubmissionTable {
            state: state.clone(),
            scope,
            query,
            schema,
            versions,
            columns: Vec::new(),
            users: HashMap::new(),
            after: Some(SubmissionId(0)),
        })
    }

    async fn page(&self, after: SubmissionId) -> ApiResult<Vec<(Submission, SubmissionStatus)>> {
        let mut query = self.query.clone();
        query.after_id = Some(after);
        Ok(self.state.store.submissions().list(&self.scope, &query).await?.items)
    }

    /// The first pass: how many instances each repeat has at most, hence the columns.
    pub async fn measure(&mut self) -> ApiResult<()> {
        let mut largest: HashMap<String, usize> = HashMap::new();
        let mut after = SubmissionId(0);
        loop {
            let page = self.page(after).await?;
            let Some((last, _)) = page.last() else { break };
            after = last.id;
            for (submission, _) in &page {
                if let Some(answers) = &submission.answers {
                    measure_repeats(answers, "", &self.schema, &mut largest);
                }
            }
        }
        self.columns = columns(&self.schema, &largest);
        Ok(())
    }

    pub fn header(&self) -> Vec<String> {
        let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|t| (*t).to_owned()).collect();
        header.extend((1..=PARENT_COLUMNS).map(|k| format!("parent{k}")));
        header.extend(self.columns.iter().map(|c| c.title.clone()));
        header
    }

    /// The next page of rows, `None` at the end.
    pub async fn next_rows(&mut self) -> ApiResult<Option<Vec<Vec<String>>>> {
        let Some(after) = self.after else { return Ok(None) };
        let page = self.page(after).await?;
        let Some((last, _)) = page.last() else {
            self.after = None;
            return Ok(None);
        };
        self.after = Some(last.id);
        let units = self.units_of(&page).await?;
        self.load_users(&page).await?;
        let rows = page.iter().map(|(submission, status)| self.row(submission, *status, &units)).collect();
        Ok(Some(rows))
    }

    /// The page's org units and their ancestors (from the shared ancestor cache).
    async fn units_of(&self, page: &[(Submission, SubmissionStatus)]) -> ApiResult<HashMap<OrgUnitId, OrgUnit>> {
        let account = self.scope.account;
        let mut ids: Vec<OrgUnitId> = page.iter().filter_map(|(s, _)| s.org_unit_id).collect();
        ids.sort();
        ids.dedup();
        let version = self.state.store.accounts().registry_versions(account).await?.tree;
        let mut units = self.state.ancestors.load(&self.state, account, version, &ids).await?;
        let mut above: Vec<OrgUnitId> =
            units.values().flat_map(|u| u.path.ids()).filter(|id| !units.contains_key(id)).collect();
        above.sort();
        above.dedup();
        units.extend(self.state.ancestors.load(&self.state, account, version, &above).await?);
        Ok(units)
    }

    async fn load_users(&mut self, page: &[(Submission, SubmissionStatus)]) -> ApiResult<()> {
        let wanted: HashSet<UserId> = page.iter().filter_map(|(s, _)| s.created_by).collect();
        for user in wanted {
            if self.users.contains_key(&user) {
                continue;
            }
            let profile = self.state.store.users().profile_of_user(user).await?;
            let name = profile
                .filter(|p| p.account_id == self.scope.account)
                .map(|p| {
                    let full = format!("{} {}", p.first_name, p.last_name);
                    if full.trim().is_empty() { p.username } else { format!("{} ({})", p.username, full.trim()) }
                })
                .unwrap_or_default();
            self.users.insert(user, name);
        }
        Ok(())
    }

    fn row(&self, s: &Submission, status: SubmissionStatus, units: &HashMap<OrgUnitId, OrgUnit>) -> Vec<String> {
        let number = |n: Option<f64>| n.map(|n| n.to_string()).unwrap_or_default();
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
        };
        let unit = s.org_unit_id.and_then(|id| units.get(&id));
        let mut row = vec![
            s.id.0.to_string(),
            // Reference instances and entities are not modelled yet.
            "False".to_owned(),
            s.form_version_id.and_then(|v| self.versions.get(&v)).cloned().unwrap_or_default(),
            s.export_id.clone(),
            number(s.latitude),
            number(s.longitude),
            number(s.altitude),
            s.accuracy.map(|a| format!("{a:.2}")).unwrap_or_default(),
            s.period.clone().unwrap_or_default(),
            time(s.source_created_at.or(Some(s.created_at))),
            time(Some(s.created_at)),
            time(Some(s.updated_at)),
            s.created_by.and_then(|u| self.users.get(&u)).cloned().unwrap_or_default(),
            s.created_by.map(|u| u.0.to_string()).unwrap_or_default(),
            status.as_str().to_owned(),
            String::new(),
            String::new(),
            unit.map(|u| u.name.clone()).unwrap_or_default(),
            s.org_unit_id.map(|u| u.0.to_string()).unwrap_or_default(),
            unit.and_then(|u| u.source_ref.clone()).unwrap_or_default(),
        ];
        // Nearest first: the parent, the grandparent...
        let mut ancestors: Vec<OrgUnitId> = unit.map(|u| u.path.ids()).unwrap_or_default();
        ancestors.pop();
        ancestors.reverse();
        for k in 0..PARENT_COLUMNS {
            row.push(ancestors.get(k).and_then(|id| units.get(id)).map(|u| u.name.clone()).unwrap_or_default());
        }
        for column in &self.columns {
            let value = s.answers.as_ref().and_then(|a| lookup(a, &column.steps));
            row.push(value.map(|v| cell(v, column.kind)).unwrap_or_default());
        }
        row
    }
}

/// Records, for each repeat under `value` (at `path`), its largest number of instances.
fn measure_repeats(value: &Value, path: &str, schema: &Schema, largest: &mut HashMap<String, usize>) {
    let Value::Object(fields) = value else { return };
    for (name, child) in fields {
        let child_path = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
        match child {
            Value::Array(items) if schema.is_repeat(&child_path) => {
                let entry = largest.entry(child_path.clone()).or_default();
                *entry = (*entry).max(items.len());
                for item in items {
                    measure_repeats(item, &child_path, schema, largest);
                }
            }
            Value::Object(_) => measure_repeats(child, &child_path, schema, largest),
            _ => {}
        }
    }
}

/// One column per question, and per instance of each repeat around it. Titles are the bare
/// question names (Iaso's), with the repeats' instances numbered; a bare name that two
/// questions share is replaced by their paths.
fn columns(schema: &Schema, largest: &HashMap<String, usize>) -> Vec<Column> {
    // Of the metadata, only the instance id (Iaso's last column).
    let questions: Vec<(&str, ValueType)> =
        schema.questions().filter(|(path, _)| !path.starts_with("meta/") || *path == "meta/instanceID").collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (path, _) in &questions {
        *seen.entry(bare(path)).or_default() += 1;
    }
    let mut columns = Vec::new();
    for (path, kind) in questions {
        let repeats = schema.repeats_around(path);
        let counts: Vec<usize> = repeats.iter().map(|r| largest.get(*r).copied().unwrap_or(0)).collect();
        if counts.contains(&0) {
            continue;
        }
        let shown = if seen[bare(path)] > 1 { path } else { bare(path) };
        for indexes in combinations(&counts) {
            columns.push(Column {
                title: title(path, shown, &repeats, &indexes),
                steps: steps(path, &repeats, &indexes),
                kind,
            });
        }
    }
    columns
}

/// Every combination of instance indexes, the outermost repeat's slowest; one empty
/// combination outside repeats.
fn combinations(counts: &[usize]) -> Vec<Vec<usize>> {
    let mut all = vec![Vec::new()];
    for &count in counts {
        all = all
            .into_iter()
            .flat_map(|prefix: Vec<usize>| {
                (0..count).map(move |i| {
                    let mut next = prefix.clone();
                    next.push(i);
                    next
                })
            })
            .collect();
    }
    all
}

fn bare(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `hh_repeat[2]/age`: the innermost repeat's name with every instance number, then the rest
/// of the path below it; a question outside repeats keeps its `shown` title.
fn title(path: &str, shown: &str, repeats: &[&str], indexes: &[usize]) -> String {
    let Some(innermost) = repeats.last() else { return shown.to_owned() };
    let numbers: String = indexes.iter().map(|i| format!("[{}]", i + 1)).collect();
    let below = &path[innermost.len()..];
    format!("{}{numbers}{below}", bare(innermost))
}

fn steps(path: &str, repeats: &[&str], indexes: &[usize]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut prefix = String::new();
    for part in path.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        steps.push(Step::Key(part.to_owned()));
        if let Some(level) = repeats.iter().position(|r| *r == prefix) {
            steps.push(Step::Index(indexes[level]));
        }
    }
    steps
}

fn lookup<'a>(answers: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(answers, |value, step| match step {
        Step::Key(key) => value.get(key.as_str()),
        Step::Index(index) => value.get(*index),
    })
}

/// An answer as text: choices space-separated, points as `lat lon alt acc` (ODK's own form),
/// traces and shapes as points joined by `;`.
fn cell(value: &Value, kind: ValueType) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) if kind == ValueType::Names => {
            items.iter().map(|i| cell(i, ValueType::Text)).collect::<Vec<_>>().join(" ")
        }
        Value::Array(items) => items.iter().map(|i| cell(i, ValueType::Geopoint)).collect::<Vec<_>>().join(";"),
        Value::Object(point) if point.contains_key("latitude") => ["latitude", "longitude", "altitude", "accuracy"]
            .iter()
            .filter_map(|k| point.get(*k).filter(|v| !v.is_null()).map(|v| v.to_string()))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The CSV, as a stream of chunks: the header once the repeats are measured, then a chunk per
/// page. A failure midway cuts the body off (and is logged): the client cannot mistake a partial
/// file for a whole one.
pub fn csv_stream(table: SubmissionTable) -> impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold((table, true), |(mut table, first)| async move {
        let chunk = if first {
            match table.measure().await {
                Ok(()) => csv_chunk(std::iter::once(table.header())),
                Err(err) => Err(err),
            }
        } else {
            match table.next_rows().await {
                Ok(Some(rows)) => csv_chunk(rows.into_iter()),
                Ok(None) => return None,
                Err(err) => Err(err),
            }
        };
        match chunk {
            Ok(bytes) => Some((Ok(bytes), (table, false))),
            Err(err) => {
                tracing::error!(error = %err, "the submissions CSV export failed midway");
                table.after = None;
                Some((Err(std::io::Error::other(err.to_string())), (table, false)))
            }
        }
    })
}

fn csv_chunk(rows: impl Iterator<Item = Vec<String>>) -> ApiResult<bytes::Bytes> {
    // CRLF, as Iaso's and RFC 4180.
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for row in rows {
        out.write_record(&row).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(bytes::Bytes::from(out.into_inner().map_err(|e| ApiError::Internal(e.to_string()))?))
}

/// The XLSX, written to `path` row by row (rust_xlsxwriter's constant-memory mode). Numbers
/// are written as numbers so that spreadsheets sum and sort them.
pub async fn write_xlsx(mut table: SubmissionTable, path: &std::path::Path) -> ApiResult<u64> {
    use rust_xlsxwriter::Workbook;
    const MAX_ROWS: u32 = 1_048_575;
    let xlsx = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(e.to_string());
    table.measure().await?;
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(xlsx)?;
    sheet.set_name("Submissions").map_err(xlsx)?;
    let header = table.header();
    if header.len() > 16_384 {
        return Err(ApiError::BadRequest(format!(
            "{} columns are more than a spreadsheet holds: export as CSV.",
            header.len()
        )));
    }
    for (c, title) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, title).map_err(xlsx)?;
    }
    let mut row = 0u32;
    while let Some(rows) = table.next_rows().await? {
        for values in rows {
            row += 1;
            if row > MAX_ROWS {
                return Err(ApiError::BadRequest("More submissions than a spreadsheet holds: export as CSV.".into()));
            }
            for (c, value) in values.iter().enumerate() {
                if value.is_empty() {
                    continue;
                }
                match as_number(value) {
                    Some(n) => sheet.write_number(row, c as u16, n).map_err(xlsx)?,
                    None => sheet.write_string(row, c as u16, value).map_err(xlsx)?,
                };
            }
        }
    }
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || workbook.save(&path))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(xlsx)?;
    Ok(row as u64)
}

/// A cell that reads as a number; codes with leading zeros (`007`) stay text.
fn as_number(value: &str) -> Option<f64> {
    let leading_zero = value.len() > 1 && value.starts_with('0') && !value.starts_with("0.");
    value.parse::<f64>().ok().filter(|n| n.is_finite() && !leading_zero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const XFORM: &str = r#"<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
      <h:head><model><instance><data id="f"><name/><g><loc/><pets/></g>
        <hh><who/><kids><age/></kids></hh><meta><instanceID/></meta></data></instance>
        <bind nodeset="/data/name" type="string"/><bind nodeset="/data/g/loc" type="geopoint"/>
        <bind nodeset="/data/g/pets" type="string"/><bind nodeset="/data/hh/who" type="string"/>
        <bind nodeset="/data/hh/kids/age" type="int"/><bind nodeset="/data/meta/instanceID" type="string"/>
      </model></h:head>
      <h:body><select ref="/data/g/pets"/><group ref="/data/hh"><repeat nodeset="/data/hh">
        <group ref="/data/hh/kids"><repeat nodeset="/data/hh/kids"/></group></repeat></group></h:body></h:html>"#;

    #[test]
    fn repeats_are_flattened_to_the_largest_submission() {
        let schema = Schema::from_xform(XFORM).unwrap();
        let answers = [
            json!({"name": "a", "hh": [{"who": "x", "kids": [{"age": 3}, {"age": 5}]}, {"who": "y", "kids": []}]}),
            json!({"name": "b", "g": {"loc": {"latitude": 12.5, "longitude": -1.5, "altitude": null, "accuracy": null}, "pets": ["cat", "dog"]}}),
        ];
        let mut largest = HashMap::new();
        for a in &answers {
            measure_repeats(a, "", &schema, &mut largest);
        }
        assert_eq!((largest["hh"], largest["hh/kids"]), (2, 2));
        let columns = columns(&schema, &largest);
        let titles: Vec<&str> = columns.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "name",
                "loc",
                "pets",
                "hh[1]/who",
                "hh[2]/who",
                "kids[1][1]/age",
                "kids[1][2]/age",
                "kids[2][1]/age",
                "kids[2][2]/age",
                "instanceID"
            ]
        );
        let value = |a: &Value, title: &str| {
            let column = columns.iter().find(|c| c.title == title).unwrap();
            lookup(a, &column.steps).map(|v| cell(v, column.kind)).unwrap_or_default()
        };
        assert_eq!(value(&answers[0], "kids[1][2]/age"), "5");
        assert_eq!(value(&answers[0], "hh[2]/who"), "y");
        assert_eq!(value(&answers[0], "kids[2][1]/age"), "");
        assert_eq!(value(&answers[1], "loc"), "12.5 -1.5");
        assert_eq!(value(&answers[1], "pets"), "cat dog");
    }

    #[test]
    fn codes_stay_text_in_spreadsheets() {
        assert_eq!(as_number("12.5"), Some(12.5));
        assert_eq!(as_number("0"), Some(0.0));
        assert_eq!(as_number("0.25"), Some(0.25));
        assert_eq!(as_number("007"), None);
        assert_eq!(as_number("inf"), None);
        assert_eq!(as_number("12 3"), None);
    }

    #[test]
    fn a_repeat_nobody_answered_has_no_column() {
        let schema = Schema::from_xform(XFORM).unwrap();
        let titles: Vec<String> = columns(&schema, &HashMap::new()).into_iter().map(|c| c.title).collect();
        assert_eq!(titles, ["name", "loc", "pets", "instanceID"]);
    }
}

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hygeia_core::form::{merge_possible_fields, next_version_id};
use hygeia_core::{
    AccountId, DeletedForms, Form, FormAttachment, FormAttachmentId, FormField, FormId, FormInput, FormQuery,
    FormVersion, FormVersionId, NewFormVersion, OrgUnitTypeId, PeriodType, ProjectId, UserId,
};
use hygeia_store::{FormStore, StoreError, StoreResult};
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::super::{Db, SqlStore, begin_write};
use super::{check_owned, db_err, now, on_unique, replace_links, sorted_dedup};

type Conn = <Db as sqlx::Database>::Connection;

#[derive(sqlx::FromRow)]
struct FormRow {
    id: i64,
    account_id: i64,
    name: String,
    form_id: Option<String>,
    period_type: Option<String>,
    single_per_period: bool,
    periods_before_allowed: i64,
    periods_after_allowed: i64,
    device_field: String,
    location_field: String,
    derived: bool,
    label_keys: Json<Vec<String>>,
    possible_fields: Json<Vec<FormField>>,
    legend_threshold: Option<Json<serde_json::Value>>,
    change_request_mode: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

const FORM_COLUMNS: &str = "f.id, f.account_id, f.name, f.form_id, f.period_type, f.single_per_period, \
    f.periods_before_allowed, f.periods_after_allowed, f.device_field, f.location_field, f.derived, f.label_keys, \
    f.possible_fields, f.legend_threshold, f.change_request_mode, f.created_at, f.updated_at, f.deleted_at";

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: i64,
    form_id: i64,
    version_id: String,
    file_key: String,
    xls_file_key: Option<String>,
    md5: String,
    descriptor: Json<serde_json::Value>,
    possible_fields: Json<Vec<FormField>>,
    start_period: Option<String>,
    end_period: Option<String>,
    created_by: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const VERSION_COLUMNS: &str = "v.id, v.form_id, v.version_id, v.file_key, v.xls_file_key, v.md5, v.descriptor, \
    v.possible_fields, v.start_period, v.end_period, v.created_by, v.created_at, v.updated_at";

impl From<VersionRow> for FormVersion {
    fn from(row: VersionRow) -> Self {
        FormVersion {
            id: FormVersionId(row.id),
            form_id: FormId(row.form_id),
            version_id: row.version_id,
            file_key: row.file_key,
            xls_file_key: row.xls_file_key,
            md5: row.md5,
            descriptor: row.descriptor.0,
            possible_fields: row.possible_fields.0,
            start_period: row.start_period,
            end_period: row.end_period,
            created_by: row.created_by.map(UserId),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: i64,
    form_id: i64,
    name: String,
    file_key: String,
    md5: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AttachmentRow> for FormAttachment {
    fn from(row: AttachmentRow) -> Self {
        FormAttachment {
            id: FormAttachmentId(row.id),
            form_id: FormId(row.form_id),
            name: row.name,
            file_key: row.file_key,
            md5: row.md5,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const ATTACHMENT_COLUMNS: &str = "a.id, a.form_id, a.name, a.file_key, a.md5, a.created_at, a.updated_at";

const FORM_ID_TAKEN: &str = "Another form of this account already has this form_id.";
const VERSION_TAKEN: &str = "This form already has a version with this version_id.";
const ATTACHMENT_TAKEN: &str = "This form already has an attachment with this name.";

/// Checks the input's references, then writes the form's project and type links.
async fn write_links(conn: &mut Conn, account: AccountId, id: i64, input: &FormInput) -> StoreResult<()> {
    let projects = sorted_dedup(input.project_ids.iter().map(|p| p.0).collect());
    let types = sorted_dedup(input.org_unit_type_ids.iter().map(|t| t.0).collect());
    check_owned(conn, "projects", "project_ids", account.0, &projects).await?;
    check_owned(conn, "org_unit_types", "org_unit_type_ids", account.0, &types).await?;
    replace_links(conn, "form_projects", "form_id", "project_id", id, &projects).await?;
    replace_links(conn, "form_org_unit_types", "form_id", "org_unit_type_id", id, &types).await
}

/// The forms of `rows` with their links (one query per link table).
async fn assemble(conn: &mut Conn, rows: Vec<FormRow>) -> StoreResult<Vec<Form>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let links = |table: &'static str, column: &'static str| {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT form_id, {column} FROM {table} WHERE form_id IN ("));
        let mut list = query.separated(", ");
        for row in &rows {
            list.push_bind(row.id);
        }
        query.push(format!(") ORDER BY form_id, {column}"));
        query
    };
    let mut projects_query = links("form_projects", "project_id");
    let mut types_query = links("form_org_unit_types", "org_unit_type_id");
    let project_links: Vec<(i64, i64)> = projects_query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
    let type_links: Vec<(i64, i64)> = types_query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
    let mut projects: HashMap<i64, Vec<ProjectId>> = HashMap::new();
    for (form, project) in project_links {
        projects.entry(form).or_default().push(ProjectId(project));
    }
    let mut types: HashMap<i64, Vec<OrgUnitTypeId>> = HashMap::new();
    for (form, org_unit_type) in type_links {
        types.entry(form).or_default().push(OrgUnitTypeId(org_unit_type));
    }
    Ok(rows
        .into_iter()
        .map(|row| Form {
            id: FormId(row.id),
            account_id: AccountId(row.account_id),
            form_id: row.form_id,
            input: FormInput {
                name: row.name,
                project_ids: projects.remove(&row.id).unwrap_or_default(),
                org_unit_type_ids: types.remove(&row.id).unwrap_or_default(),
                period_type: row.period_type.as_deref().and_then(PeriodType::parse),
                single_per_period: row.single_per_period,
                periods_before_allowed: row.periods_before_allowed,
                periods_after_allowed: row.periods_after_allowed,
                device_field: row.device_field,
                location_field: row.location_field,
                derived: row.derived,
                label_keys: row.label_keys.0,
                legend_threshold: row.legend_threshold.map(|j| j.0),
                change_request_mode: row.change_request_mode,
            },
            possible_fields: row.possible_fields.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        })
        .collect())
}

async fn form_in(conn: &mut Conn, account: AccountId, id: FormId) -> StoreResult<Option<Form>> {
    let rows: Vec<FormRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FORM_COLUMNS} FROM forms f WHERE f.account_id = $1 AND f.id = $2"
    )))
    .bind(account.0)
    .bind(id.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(assemble(conn, rows).await?.pop())
}

/// Versions within the account, with a condition on `v` appended (binds from `$2`).
fn select_versions(condition: &str) -> String {
    format!(
        "SELECT {VERSION_COLUMNS} FROM form_versions v JOIN forms f ON f.id = v.form_id \
         WHERE f.account_id = $1 AND {condition} ORDER BY v.id"
    )
}

#[async_trait]
impl FormStore for SqlStore {
    async fn create(&self, account: AccountId, input: FormInput) -> StoreResult<Form> {
        input.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO forms (account_id, name, period_type, single_per_period, periods_before_allowed, \
             periods_after_allowed, device_field, location_field, derived, label_keys, possible_fields, \
             legend_threshold, change_request_mode, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        )
        .bind(account.0)
        .bind(input.name.trim())
        .bind(input.period_type.map(PeriodType::as_str))
        .bind(input.single_per_period)
        .bind(input.periods_before_allowed)
        .bind(input.periods_after_allowed)
        .bind(&input.device_field)
        .bind(&input.location_field)
        .bind(input.derived)
        .bind(Json(&input.label_keys))
        .bind(Json(Vec::<FormField>::new()))
        .bind(input.legend_threshold.as_ref().map(Json))
        .bind(&input.change_request_mode)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        write_links(&mut tx, account, id, &input).await?;
        let form = form_in(&mut tx, account, FormId(id)).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db_err)?;
        Ok(form)
    }

    async fn get(&self, account: AccountId, id: FormId) -> StoreResult<Option<Form>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        form_in(&mut conn, account, id).await
    }

    async fn list(&self, account: AccountId, query: &FormQuery) -> StoreResult<Vec<Form>> {
        let mut select = QueryBuilder::<Db>::new(format!("SELECT {FORM_COLUMNS} FROM forms f WHERE f.account_id = "));
        select.push_bind(account.0);
        match query.deleted {
            DeletedForms::Hidden => select.push(" AND f.deleted_at IS NULL"),
            DeletedForms::Only => select.push(" AND f.deleted_at IS NOT NULL"),
            DeletedForms::Included => &mut select,
        };
        let mut within = |table: &str, column: &str, ids: Vec<i64>| {
            if !ids.is_empty() {
                select.push(format!(" AND f.id IN (SELECT form_id FROM {table} WHERE {column} IN ("));
                let mut list = select.separated(", ");
                for id in ids {
                    list.push_bind(id);
                }
                select.push("))");
            }
        };
        within("form_projects", "project_id", query.project_ids.iter().map(|p| p.0).collect());
        within("form_org_unit_types", "org_unit_type_id", query.org_unit_type_ids.iter().map(|t| t.0).collect());
        if let Some(search) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            // Literal text: LIKE's wildcards escaped.
            let pattern =
                format!("%{}%", search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            select.push(" AND LOWER(f.name) LIKE ").push_bind(pattern).push(" ESCAPE '\\'");
        }
        if query.with_versions {
            select.push(" AND EXISTS (SELECT 1 FROM form_versions v WHERE v.form_id = f.id)");
        }
        select.push(" ORDER BY f.name, f.id");
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let rows: Vec<FormRow> = select.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
        assemble(&mut conn, rows).await
    }

    async fn update(&self, account: AccountId, id: FormId, input: FormInput) -> StoreResult<Form> {
        input.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE forms SET name = $3, period_type = $4, single_per_period = $5, periods_before_allowed = $6, \
             periods_after_allowed = $7, device_field = $8, location_field = $9, derived = $10, label_keys = $11, \
             legend_threshold = $12, change_request_mode = $13, updated_at = $14 WHERE account_id = $1 AND id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(input.name.trim())
        .bind(input.period_type.map(PeriodType::as_str))
        .bind(input.single_per_period)
        .bind(input.periods_before_allowed)
        .bind(input.periods_after_allowed)
        .bind(&input.device_field)
        .bind(&input.location_field)
        .bind(input.derived)
        .bind(Json(&input.label_keys))
        .bind(input.legend_threshold.as_ref().map(Json))
        .bind(&input.change_request_mode)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        write_links(&mut tx, account, id.0, &input).await?;
        let form = form_in(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db_err)?;
        Ok(form)
    }

    async fn set_deleted(&self, account: AccountId, id: FormId, deleted: bool) -> StoreResult<Form> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let at = now();
        let done = sqlx::query("UPDATE forms SET deleted_at = $3, updated_at = $4 WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(id.0)
            .bind(deleted.then_some(at))
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let form = form_in(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db_err)?;
        Ok(form)
    }

    async fn create_version(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        form: FormId,
        version: NewFormVersion,
        today: NaiveDate,
    ) -> StoreResult<FormVersion> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Taking the form's row first serialises concurrent uploads to one form (PostgreSQL; SQLite's
        // writers are serial already), so two of them cannot both pass the version check.
        sqlx::query("UPDATE forms SET updated_at = $3 WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(form.0)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let current = form_in(&mut tx, account, form).await?.ok_or(StoreError::NotFound)?;
        if current.deleted_at.is_some() {
            return Err(StoreError::invalid("form_id", "The form is deleted: restore it before adding versions."));
        }
        if let Some(existing) = &current.form_id
            && *existing != version.xform_id
        {
            return Err(StoreError::Conflict {
                field: "xls_file",
                message: format!(
                    "The XLSForm's form_id \"{}\" differs from the form's, \"{existing}\": it must stay the same \
                     across versions.",
                    version.xform_id
                ),
            });
        }
        let latest: Option<String> =
            sqlx::query_scalar("SELECT version_id FROM form_versions WHERE form_id = $1 ORDER BY id DESC LIMIT 1")
                .bind(form.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let version_id = next_version_id(latest.as_deref(), version.version_id.as_deref(), today)?;
        let fields = merge_possible_fields(&current.possible_fields, &version.possible_fields);
        sqlx::query("UPDATE forms SET form_id = $3, possible_fields = $4 WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(form.0)
            .bind(&version.xform_id)
            .bind(Json(&fields))
            .execute(&mut *tx)
            .await
            .map_err(on_unique("xls_file", FORM_ID_TAKEN))?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO form_versions (form_id, version_id, file_key, xls_file_key, md5, descriptor, possible_fields, \
             start_period, end_period, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(form.0)
        .bind(&version_id)
        .bind(&version.file_key)
        .bind(&version.xls_file_key)
        .bind(&version.md5)
        .bind(Json(&version.descriptor))
        .bind(Json(&version.possible_fields))
        .bind(&version.start_period)
        .bind(&version.end_period)
        .bind(actor.map(|a| a.0))
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("xls_file", VERSION_TAKEN))?;
        let row: VersionRow = sqlx::query_as(sqlx::AssertSqlSafe(select_versions("v.id = $2")))
            .bind(account.0)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into())
    }

    async fn version(&self, account: AccountId, id: FormVersionId) -> StoreResult<Option<FormVersion>> {
        let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(select_versions("v.id = $2")))
            .bind(account.0)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn find_by_xform_id(&self, account: AccountId, xform_id: &str) -> StoreResult<Option<Form>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let rows: Vec<FormRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {FORM_COLUMNS} FROM forms f WHERE f.account_id = $1 AND f.form_id = $2"
        )))
        .bind(account.0)
        .bind(xform_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(assemble(&mut conn, rows).await?.pop())
    }

    async fn version_by_version_id(
        &self,
        account: AccountId,
        form: FormId,
        version_id: &str,
    ) -> StoreResult<Option<FormVersion>> {
        let row: Option<VersionRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(select_versions("v.form_id = $2 AND v.version_id = $3")))
                .bind(account.0)
                .bind(form.0)
                .bind(version_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn versions(&self, account: AccountId, form: Option<FormId>) -> StoreResult<Vec<FormVersion>> {
        let rows: Vec<VersionRow> = match form {
            Some(form) => {
                sqlx::query_as(sqlx::AssertSqlSafe(select_versions("v.form_id = $2")))
                    .bind(account.0)
                    .bind(form.0)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(select_versions("TRUE"))).bind(account.0).fetch_all(&self.pool).await
            }
        }
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn latest_versions(&self, account: AccountId, forms: &[FormId]) -> StoreResult<HashMap<FormId, FormVersion>> {
        let mut latest = HashMap::new();
        for chunk in forms.chunks(500) {
            let mut query = QueryBuilder::<Db>::new(format!(
                "SELECT {VERSION_COLUMNS} FROM form_versions v JOIN forms f ON f.id = v.form_id WHERE f.account_id = "
            ));
            query.push_bind(account.0);
            query.push(" AND v.id IN (SELECT MAX(id) FROM form_versions WHERE form_id IN (");
            let mut list = query.separated(", ");
            for form in chunk {
                list.push_bind(form.0);
            }
            query.push(") GROUP BY form_id)");
            let rows: Vec<VersionRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            latest.extend(rows.into_iter().map(|row| (FormId(row.form_id), FormVersion::from(row))));
        }
        Ok(latest)
    }

    async fn add_attachment(
        &self,
        account: AccountId,
        form: FormId,
        name: &str,
        file_key: &str,
        md5: &str,
    ) -> StoreResult<FormAttachment> {
        let name = name.trim();
        if name.is_empty() || name.contains(['/', '\\']) || name.chars().any(char::is_control) || name.len() > 255 {
            return Err(StoreError::invalid("name", "A file name of 1 to 255 characters, without '/' or '\\'."));
        }
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        if form_in(&mut tx, account, form).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO form_attachments (form_id, name, file_key, md5, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(form.0)
        .bind(name)
        .bind(file_key)
        .bind(md5)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("name", ATTACHMENT_TAKEN))?;
        sqlx::query("UPDATE forms SET updated_at = $2 WHERE id = $1")
            .bind(form.0)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.attachment(account, FormAttachmentId(id)).await?.ok_or(StoreError::NotFound)
    }

    async fn attachments(&self, account: AccountId, form: FormId) -> StoreResult<Vec<FormAttachment>> {
        let rows: Vec<AttachmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM form_attachments a JOIN forms f ON f.id = a.form_id \
             WHERE f.account_id = $1 AND a.form_id = $2 ORDER BY a.name, a.id"
        )))
        .bind(account.0)
        .bind(form.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn attachment(&self, account: AccountId, id: FormAttachmentId) -> StoreResult<Option<FormAttachment>> {
        let row: Option<AttachmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM form_attachments a JOIN forms f ON f.id = a.form_id \
             WHERE f.account_id = $1 AND a.id = $2"
        )))
        .bind(account.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn delete_attachment(&self, account: AccountId, id: FormAttachmentId) -> StoreResult<FormAttachment> {
        let attachment = self.attachment(account, id).await?.ok_or(StoreError::NotFound)?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let done = sqlx::query(
            "DELETE FROM form_attachments WHERE id = $1 AND form_id IN (SELECT id FROM forms WHERE account_id = $2)",
        )
        .bind(id.0)
        .bind(account.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE forms SET updated_at = $2 WHERE id = $1")
            .bind(attachment.form_id.0)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(attachment)
    }
}

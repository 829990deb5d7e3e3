use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::{
    AccountId, Credentials, NewUser, ProfileId, ProfileUpdate, ProjectId, UserId, UserProfile, UserRoleId, UserRoleRef,
};
use hygeia_store::{StoreError, StoreResult, UserStore};

use super::super::{Db, SqlStore, begin_write};
use super::{check_grantable, check_owned, db_err, now, on_owned_row, on_unique, replace_links, sorted_dedup};

#[derive(sqlx::FromRow)]
struct ProfileRow {
    user_id: i64,
    profile_id: i64,
    account_id: i64,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    is_superuser: bool,
    is_staff: bool,
    is_active: bool,
    date_joined: DateTime<Utc>,
    last_login: Option<DateTime<Utc>>,
    language: Option<String>,
    organization: Option<String>,
    phone_number: Option<String>,
    dhis2_id: Option<String>,
    home_page: Option<String>,
    color: String,
    tokens_valid_from: i64,
}

/// Which profiles to load.
#[derive(Clone, Copy)]
enum Scope {
    /// Every profile of an account.
    Account(AccountId),
    /// One profile of an account.
    Profile(AccountId, ProfileId),
    /// The profile of a login identity, whatever its account (authentication only).
    User(UserId),
}

impl Scope {
    /// The condition on `p` (profiles), with its `$1` and optional `$2`. Each scope has its own
    /// SQL text, so PostgreSQL plans each with the right index.
    fn condition(self) -> (&'static str, i64, Option<i64>) {
        match self {
            Scope::Account(account) => ("p.account_id = $1", account.0, None),
            Scope::Profile(account, profile) => ("p.account_id = $1 AND p.id = $2", account.0, Some(profile.0)),
            Scope::User(user) => ("p.user_id = $1", user.0, None),
        }
    }
}

const USERNAME_TAKEN: &str = "A user with that username already exists.";

impl SqlStore {
    /// Runs `sql` (built around the scope's condition) with the scope's binds.
    async fn scoped<T>(&self, sql: String, scope: Scope) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    {
        let (_, first, second) = scope.condition();
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(first);
        if let Some(second) = second {
            query = query.bind(second);
        }
        query.fetch_all(&self.pool).await.map_err(db_err)
    }

    /// Profiles in `scope`, each with its permissions, roles, projects and org units: two queries
    /// whatever the number of profiles (every authenticated request runs this).
    async fn load_profiles(&self, scope: Scope) -> StoreResult<Vec<UserProfile>> {
        let (condition, _, _) = scope.condition();
        let rows: Vec<ProfileRow> = self
            .scoped(
                format!(
                    "SELECT u.id AS user_id, p.id AS profile_id, p.account_id, u.username, u.first_name, u.last_name, \
                     u.email, u.is_superuser, u.is_staff, u.is_active, u.date_joined, u.last_login, p.language, \
                     p.organization, p.phone_number, p.dhis2_id, p.home_page, p.color, u.tokens_valid_from \
                     FROM profiles p JOIN users u ON u.id = p.user_id WHERE {condition}"
                ),
                scope,
            )
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Every list of every profile, as (profile, kind, id, text) rows.
        let links: Vec<(i64, String, i64, String)> = self
            .scoped(
                format!(
                    "SELECT l.profile_id, 'permission', CAST(0 AS BIGINT), l.codename \
                     FROM profile_permissions l JOIN profiles p ON p.id = l.profile_id WHERE {condition} \
                     UNION ALL SELECT l.profile_id, 'role', r.id, r.name \
                     FROM profile_user_roles l JOIN profiles p ON p.id = l.profile_id \
                     JOIN user_roles r ON r.id = l.user_role_id WHERE {condition} \
                     UNION ALL SELECT l.profile_id, 'role_permission', rp.user_role_id, rp.codename \
                     FROM profile_user_roles l JOIN profiles p ON p.id = l.profile_id \
                     JOIN user_role_permissions rp ON rp.user_role_id = l.user_role_id WHERE {condition} \
                     UNION ALL SELECT l.profile_id, 'project', l.project_id, CAST('' AS TEXT) \
                     FROM profile_projects l JOIN profiles p ON p.id = l.profile_id WHERE {condition} \
                     UNION ALL SELECT l.profile_id, 'org_unit', l.org_unit_id, CAST('' AS TEXT) \
                     FROM profile_org_units l JOIN profiles p ON p.id = l.profile_id WHERE {condition} \
                     ORDER BY 1, 3"
                ),
                scope,
            )
            .await?;

        let mut lists: HashMap<i64, ProfileLists> = HashMap::new();
        for (profile, kind, id, text) in links {
            let lists = lists.entry(profile).or_default();
            match kind.as_str() {
                "permission" => lists.permissions.push(text),
                "role" => lists.roles.push(UserRoleRef { id: UserRoleId(id), name: text, permissions: Vec::new() }),
                "role_permission" => lists.role_permissions.push((id, text)),
                "project" => lists.projects.push(ProjectId(id)),
                _ => lists.org_units.push(id),
            }
        }

        // Sorted here rather than in SQL: PostgreSQL's ORDER BY on text follows the database locale.
        let mut profiles: Vec<UserProfile> = rows
            .into_iter()
            .map(|row| {
                let mut lists = lists.remove(&row.profile_id).unwrap_or_default();
                lists.permissions.sort();
                lists.roles.sort_by(|a, b| a.name.cmp(&b.name));
                lists.role_permissions.sort();
                for (role, codename) in lists.role_permissions {
                    if let Some(role) = lists.roles.iter_mut().find(|r| r.id.0 == role) {
                        role.permissions.push(codename);
                    }
                }
                UserProfile {
                    user_id: UserId(row.user_id),
                    profile_id: ProfileId(row.profile_id),
                    account_id: AccountId(row.account_id),
                    username: row.username,
                    first_name: row.first_name,
                    last_name: row.last_name,
                    email: row.email,
                    is_superuser: row.is_superuser,
                    is_staff: row.is_staff,
                    is_active: row.is_active,
                    date_joined: row.date_joined,
                    last_login: row.last_login,
                    language: row.language,
                    organization: row.organization,
                    phone_number: row.phone_number,
                    dhis2_id: row.dhis2_id,
                    home_page: row.home_page,
                    color: row.color,
                    permissions: lists.permissions,
                    user_roles: lists.roles,
                    projects: lists.projects,
                    org_units: lists.org_units,
                    tokens_valid_from: row.tokens_valid_from,
                }
            })
            .collect();
        profiles.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(profiles)
    }

    async fn one_profile(&self, scope: Scope) -> StoreResult<Option<UserProfile>> {
        Ok(self.load_profiles(scope).await?.pop())
    }
}

/// A profile's lists while they are gathered.
#[derive(Default)]
struct ProfileLists {
    permissions: Vec<String>,
    roles: Vec<UserRoleRef>,
    role_permissions: Vec<(i64, String)>,
    projects: Vec<ProjectId>,
    org_units: Vec<i64>,
}

/// Writes a profile's permission, role, project and org-unit lists (each only when given),
/// after checking that roles and projects belong to the account.
async fn write_profile_lists(
    conn: &mut <Db as sqlx::Database>::Connection,
    account: AccountId,
    profile: i64,
    permissions: Option<Vec<String>>,
    roles: Option<Vec<UserRoleId>>,
    projects: Option<Vec<ProjectId>>,
    org_units: Option<Vec<i64>>,
) -> StoreResult<()> {
    if let Some(roles) = roles {
        let ids = sorted_dedup(roles.into_iter().map(|r| r.0).collect());
        check_owned(conn, "user_roles", "user_roles", account.0, &ids).await?;
        replace_links(conn, "profile_user_roles", "profile_id", "user_role_id", profile, &ids).await?;
    }
    if let Some(projects) = projects {
        let ids = sorted_dedup(projects.into_iter().map(|p| p.0).collect());
        check_owned(conn, "projects", "projects", account.0, &ids).await?;
        replace_links(conn, "profile_projects", "profile_id", "project_id", profile, &ids).await?;
    }
    if let Some(permissions) = permissions {
        check_grantable(conn, account.0, &permissions).await?;
        replace_links(conn, "profile_permissions", "profile_id", "codename", profile, &sorted_dedup(permissions))
            .await?;
    }
    if let Some(org_units) = org_units {
        replace_links(conn, "profile_org_units", "profile_id", "org_unit_id", profile, &sorted_dedup(org_units))
            .await?;
    }
    Ok(())
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create(&self, account: AccountId, user: NewUser) -> StoreResult<UserProfile> {
        user.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let at = now();
        let user_id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, first_name, last_name, email, is_superuser, is_staff, \
             is_active, date_joined) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.first_name.trim())
        .bind(user.last_name.trim())
        .bind(user.email.trim())
        .bind(user.is_superuser)
        .bind(user.is_staff)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("username", USERNAME_TAKEN))?;
        let profile_id: i64 = sqlx::query_scalar(
            "INSERT INTO profiles (user_id, account_id, language, organization, phone_number, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(account.0)
        .bind(&user.language)
        .bind(&user.organization)
        .bind(&user.phone_number)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        write_profile_lists(
            &mut tx,
            account,
            profile_id,
            Some(user.permissions),
            Some(user.user_roles),
            Some(user.projects),
            Some(user.org_units),
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        self.get(account, ProfileId(profile_id)).await?.ok_or(StoreError::NotFound)
    }

    async fn get(&self, account: AccountId, id: ProfileId) -> StoreResult<Option<UserProfile>> {
        self.one_profile(Scope::Profile(account, id)).await
    }

    async fn list(&self, account: AccountId) -> StoreResult<Vec<UserProfile>> {
        self.load_profiles(Scope::Account(account)).await
    }

    async fn update(&self, account: AccountId, id: ProfileId, update: ProfileUpdate) -> StoreResult<UserProfile> {
        update.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let at = now();
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE profiles SET language = CASE WHEN $3 THEN $4 ELSE language END, \
             phone_number = CASE WHEN $5 THEN $6 ELSE phone_number END, \
             organization = CASE WHEN $7 THEN $8 ELSE organization END, updated_at = $9 \
             WHERE account_id = $1 AND id = $2 RETURNING user_id",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(update.language.is_some())
        .bind(update.language.flatten())
        .bind(update.phone_number.is_some())
        .bind(update.phone_number.flatten())
        .bind(update.organization.is_some())
        .bind(update.organization.flatten())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(user_id) = user_id else {
            return Err(StoreError::NotFound);
        };
        sqlx::query(
            "UPDATE users SET first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name), \
             email = COALESCE($4, email), is_active = COALESCE($5, is_active) WHERE id = $1",
        )
        .bind(user_id)
        .bind(update.first_name.as_deref().map(str::trim))
        .bind(update.last_name.as_deref().map(str::trim))
        .bind(update.email.as_deref().map(str::trim))
        .bind(update.is_active)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_profile_lists(
            &mut tx,
            account,
            id.0,
            update.permissions,
            update.user_roles,
            update.projects,
            update.org_units,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        self.profiles.forget_all();
        self.get(account, id).await?.ok_or(StoreError::NotFound)
    }

    async fn set_password(&self, account: AccountId, id: ProfileId, password_hash: &str) -> StoreResult<()> {
        // A new password also ends every API token and browser session issued under the old one.
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let user: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $3, tokens_valid_from = $4 \
             WHERE id = (SELECT user_id FROM profiles WHERE account_id = $1 AND id = $2) RETURNING id",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(password_hash)
        .bind(Utc::now().timestamp())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(user) = user else { return Err(StoreError::NotFound) };
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user).execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.profiles.forget_all();
        Ok(())
    }

    async fn delete(&self, account: AccountId, id: ProfileId) -> StoreResult<()> {
        // Deleting the login identity cascades to the profile, its lists and its sessions.
        let sql = "DELETE FROM users WHERE id = (SELECT user_id FROM profiles WHERE account_id = $1 AND id = $2)";
        let deleted = on_owned_row(&self.writer, sql, account.0, id.0).await;
        self.profiles.forget_all();
        deleted
    }

    async fn credentials(&self, username: &str) -> StoreResult<Option<Credentials>> {
        let row: Option<(i64, String, bool)> =
            sqlx::query_as("SELECT id, password_hash, is_active FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(row.map(|(id, password_hash, is_active)| Credentials { user_id: UserId(id), password_hash, is_active }))
    }

    /// Remembered a few seconds (`ProfileCache`): every authenticated request asks.
    async fn profile_of_user(&self, user: UserId) -> StoreResult<Option<UserProfile>> {
        let ticket = match self.profiles.get(user) {
            Ok(remembered) => return Ok(Some(remembered)),
            Err(ticket) => ticket,
        };
        let profile = self.one_profile(Scope::User(user)).await?;
        if let Some(profile) = &profile {
            self.profiles.put(ticket, profile);
        }
        Ok(profile)
    }

    async fn record_login(&self, user: UserId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
            .bind(user.0)
            .bind(at)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        self.profiles.forget_all();
        Ok(())
    }
}

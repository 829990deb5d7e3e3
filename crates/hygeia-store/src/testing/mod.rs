//! The conformance suite: what every backend must do, written once against `&dyn Store`.
//!
//! A backend crate runs it with [`conformance_suite!`](crate::conformance_suite), giving an async
//! expression that yields `Option<TestStore>` (`None` skips, e.g. PostgreSQL without a URL).

use std::future::Future;
use std::pin::Pin;

use chrono::{Duration, Utc};
use hygeia_core::{
    AccountId, NewAccount, NewProject, NewUser, ProfileUpdate, ProjectId, ProjectUpdate, UserId, UserProfile, UserRole,
    UserRoleInput,
};

use crate::{DynStore, Store, StoreError};

mod forms;
mod georegistry;
mod submissions;
mod tasks;
pub use forms::*;
pub use georegistry::*;
pub use submissions::*;
pub use tasks::*;

type Teardown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A fresh, empty, migrated store, and what to do to throw it away.
pub struct TestStore {
    pub store: DynStore,
    teardown: Option<Teardown>,
}

impl TestStore {
    pub fn new(store: DynStore, teardown: Option<Teardown>) -> Self {
        TestStore { store, teardown }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some(teardown) = self.teardown {
            teardown.await;
        }
    }
}

/// Generates one `#[tokio::test]` per conformance check.
#[macro_export]
macro_rules! conformance_suite {
    ($new_store:expr) => {
        $crate::conformance_suite!(@each $new_store;
            accounts_are_created_and_found,
            account_names_are_unique,
            invalid_account_is_refused,
            projects_round_trip,
            app_ids_are_unique_across_accounts,
            app_tokens_act_for_one_user_in_one_project,
            users_carry_profile_permissions_roles_and_projects,
            usernames_are_unique_across_accounts,
            credentials_and_login_lookup,
            profile_update_replaces_lists_and_keeps_the_rest,
            deleting_a_user_removes_the_login,
            user_roles_round_trip,
            deleting_a_role_takes_its_permissions_away,
            a_callers_profile_shows_each_change_at_once,
            sessions_expire_and_can_be_deleted,
            secrets_are_written_once,
            feature_flag_catalogue_is_seeded,
            tenants_cannot_list_read_modify_or_delete_each_other,
            foreign_references_are_refused_and_nothing_is_written,
            a_project_users_are_limited_to_cannot_be_deleted,
            a_new_password_voids_tokens_and_sessions,
            permissions_follow_the_accounts_modules,
            deleted_ids_are_never_reused,
            lists_are_in_byte_order_on_every_backend,
            sources_and_versions_round_trip,
            org_unit_types_round_trip,
            tree_paths_follow_creation,
            moving_rewrites_the_subtree_and_refuses_cycles,
            random_moves_keep_every_path_consistent,
            parents_stay_in_their_version,
            valid_codes_are_unique_per_version,
            list_filters_narrow_as_asked,
            restricted_scopes_see_and_change_only_their_subtrees,
            org_units_are_invisible_to_other_accounts,
            every_org_unit_change_is_audited,
            read_only_sources_refuse_writes,
            invalid_org_units_change_nothing,
            shapes_are_stored_with_their_box,
            concurrent_moves_never_make_a_cycle,
            trees_have_a_depth_limit,
            groups_hold_members_of_their_version,
            group_sets_hold_groups_of_their_version,
            bulk_updates_apply_to_the_selection_or_to_nothing,
            batches_of_units_are_created_whole_or_not_at_all,
            whole_trees_are_created_in_one_transaction,
            import_changes_apply_whole_or_not_at_all,
            list_counts_follow_every_tree_change,
            name_search_takes_any_text_literally,
            bulk_created_units_are_found_by_name_and_box,
            registry_versions_tell_catalog_changes_from_unit_changes,
            forms_round_trip_and_filter,
            form_versions_keep_the_form_id_and_increase,
            form_attachments_are_named_once_per_form,
            submissions_arrive_in_either_order_and_meet_on_the_file_name,
            duplicates_conflicts_and_edits_follow_the_instance_id,
            submission_lists_filter_scope_and_derive_the_status,
            submissions_stay_within_their_account,
            payloads_are_kept_with_what_became_of_them,
            inline_files_are_kept_with_their_payload,
            payloads_are_marked_processed_with_their_xml,
            payloads_written_at_once_are_each_kept_and_answered,
            submissions_written_at_once_each_meet_their_own_outcome,
            tasks_are_queued_claimed_once_and_finished,
            kills_relaunches_and_releases_follow_the_status,
            expired_leases_are_recovered_then_given_up,
            task_lists_filter_and_stay_within_the_account,
            queueing_wakes_the_workers,
        );
    };
    (@each $new_store:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(test_store) = $new_store.await else { return };
                $crate::testing::$check(&*test_store.store).await;
                test_store.finish().await;
            }
        )*
    };
}

pub(crate) fn user(username: &str) -> NewUser {
    NewUser {
        username: username.into(),
        password_hash: format!("hash-of-{username}"),
        first_name: "First".into(),
        last_name: "Last".into(),
        email: format!("{username}@example.org"),
        ..Default::default()
    }
}

pub(crate) async fn account(store: &dyn Store, name: &str) -> AccountId {
    store.accounts().create(NewAccount::named(name)).await.expect("create account").id
}

pub(crate) fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, expected_field: &str) {
    match result {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field, expected_field),
        other => panic!("expected a conflict on {expected_field}, got {other:?}"),
    }
}

pub(crate) fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

pub(crate) fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, expected_field: &str) {
    match result {
        Err(StoreError::Invalid(err)) => {
            assert!(err.0.0.contains_key(expected_field), "expected an error on {expected_field}, got {err:?}")
        }
        other => panic!("expected invalid {expected_field}, got {other:?}"),
    }
}

pub async fn accounts_are_created_and_found(store: &dyn Store) {
    let before = store.accounts().count().await.unwrap();
    let created = store.accounts().create(NewAccount::named("Burkina Faso MoH")).await.unwrap();
    assert_eq!(created.name, "Burkina Faso MoH");
    assert_eq!(created.modules, ["DEFAULT", "DATA_COLLECTION_FORMS"]);
    assert_eq!(created.default_version_id, None);
    assert_eq!(store.accounts().get(created.id).await.unwrap(), Some(created.clone()));
    assert_eq!(store.accounts().find_by_name("Burkina Faso MoH").await.unwrap(), Some(created.clone()));
    assert_eq!(store.accounts().find_by_name("Nobody").await.unwrap(), None);
    assert_eq!(store.accounts().get(AccountId(created.id.0 + 1000)).await.unwrap(), None);
    assert_eq!(store.accounts().count().await.unwrap(), before + 1);
    assert!(store.accounts().list().await.unwrap().contains(&created));
}

pub async fn account_names_are_unique(store: &dyn Store) {
    account(store, "Mali").await;
    assert_conflict(store.accounts().create(NewAccount::named("Mali")).await, "name");
}

pub async fn invalid_account_is_refused(store: &dyn Store) {
    assert_invalid(store.accounts().create(NewAccount::named("  ")).await, "name");
    assert_eq!(store.accounts().count().await.unwrap(), 0);
}

pub async fn projects_round_trip(store: &dyn Store) {
    let acc = account(store, "A").await;
    let mut new = NewProject::new("Vaccination", "org.moh.vax");
    new.feature_flags = vec!["TAKE_GPS_ON_FORM".into(), "REQUIRE_AUTHENTICATION".into()];
    new.needs_authentication = false;
    let project = store.projects().create(acc, new).await.unwrap();
    assert_eq!(project.account_id, acc);
    assert_eq!(project.app_id, "org.moh.vax");
    assert!(!project.needs_authentication);
    assert_eq!(project.feature_flags, ["REQUIRE_AUTHENTICATION", "TAKE_GPS_ON_FORM"]);
    assert_eq!(store.projects().get(acc, project.id).await.unwrap(), Some(project.clone()));
    assert_eq!(store.projects().find_by_app_id("org.moh.vax").await.unwrap(), Some(project.clone()));

    let updated = store
        .projects()
        .update(
            acc,
            project.id,
            ProjectUpdate { name: Some("Vaccination 2027".into()), feature_flags: Some(vec![]), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Vaccination 2027");
    assert_eq!(updated.app_id, "org.moh.vax");
    assert!(updated.feature_flags.is_empty());
    assert!(updated.updated_at >= project.updated_at);

    assert_invalid(
        store
            .projects()
            .create(acc, NewProject { feature_flags: vec!["NO_SUCH_FLAG".into()], ..NewProject::new("P", "p") })
            .await,
        "feature_flags",
    );

    store.projects().delete(acc, project.id).await.unwrap();
    assert_eq!(store.projects().get(acc, project.id).await.unwrap(), None);
    assert!(store.projects().list(acc).await.unwrap().is_empty());
    assert_not_found(store.projects().delete(acc, project.id).await);
}

pub async fn app_tokens_act_for_one_user_in_one_project(store: &dyn Store) {
    use hygeia_core::NewAppToken;
    let a = account(store, "A").await;
    let b = account(store, "B").await;
    let project = store.projects().create(a, NewProject::new("One", "one.app")).await.unwrap();
    let other_project = store.projects().create(b, NewProject::new("Two", "two.app")).await.unwrap();
    let collector = store.users().create(a, user("collector")).await.unwrap();
    let stranger = store.users().create(b, user("stranger")).await.unwrap();
    let new = |project: ProjectId, user: hygeia_core::UserId, hash: &str| NewAppToken {
        project_id: project,
        user_id: user,
        name: "Phone 12".into(),
        token_hash: hash.into(),
        created_by: None,
    };
    let token = store.projects().create_app_token(a, new(project.id, collector.user_id, "h1")).await.unwrap();
    assert_eq!((token.project_id, token.user_id, token.revoked_at), (project.id, collector.user_id, None));
    assert_eq!(store.projects().app_token("h1").await.unwrap(), Some(token.clone()));
    assert_eq!(store.projects().app_token("h2").await.unwrap(), None);
    // Another account's user or project cannot be named.
    assert_invalid(store.projects().create_app_token(a, new(project.id, stranger.user_id, "h2")).await, "user_id");
    assert_not_found(store.projects().create_app_token(a, new(other_project.id, collector.user_id, "h2")).await);
    assert_conflict(store.projects().create_app_token(a, new(project.id, collector.user_id, "h1")).await, "token");
    assert_not_found(store.projects().revoke_app_token(b, other_project.id, token.id).await);
    assert_eq!(store.projects().app_tokens(a, project.id).await.unwrap(), std::slice::from_ref(&token));
    assert!(store.projects().app_tokens(b, project.id).await.unwrap().is_empty());

    let revoked = store.projects().revoke_app_token(a, project.id, token.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let again = store.projects().revoke_app_token(a, project.id, token.id).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at, "the first revocation stands");
    assert_eq!(store.projects().app_token("h1").await.unwrap(), None, "a revoked token opens nothing");
}

pub async fn app_ids_are_unique_across_accounts(store: &dyn Store) {
    let a = account(store, "A").await;
    let b = account(store, "B").await;
    store.projects().create(a, NewProject::new("One", "same.app")).await.unwrap();
    assert_conflict(store.projects().create(b, NewProject::new("Two", "same.app")).await, "app_id");
    let other = store.projects().create(b, NewProject::new("Two", "other.app")).await.unwrap();
    assert_conflict(
        store
            .projects()
            .update(b, other.id, ProjectUpdate { app_id: Some("same.app".into()), ..Default::default() })
            .await,
        "app_id",
    );
}

pub async fn users_carry_profile_permissions_roles_and_projects(store: &dyn Store) {
    let acc = account(store, "A").await;
    let project = store.projects().create(acc, NewProject::new("P", "p.app")).await.unwrap();
    let role = store
        .user_roles()
        .create(
            acc,
            UserRoleInput {
                name: "Data manager".into(),
                permissions: vec!["iaso_forms".into(), "iaso_sources".into()],
            },
        )
        .await
        .unwrap();
    let mut new = user("aminata");
    new.permissions = vec!["iaso_org_units".into(), "iaso_forms".into()];
    new.user_roles = vec![role.id];
    new.projects = vec![project.id];
    new.org_units = vec![42, 7];
    new.language = Some("fr".into());
    new.phone_number = Some("+22670000000".into());
    let created = store.users().create(acc, new).await.unwrap();

    assert_eq!(created.account_id, acc);
    assert_eq!(created.username, "aminata");
    assert_eq!(created.email, "aminata@example.org");
    assert_eq!(created.permissions, ["iaso_forms", "iaso_org_units"]);
    assert_eq!(created.role_permissions(), ["iaso_forms", "iaso_sources"]);
    assert_eq!(created.user_roles[0].permissions, ["iaso_forms", "iaso_sources"]);
    assert_eq!(created.effective_permissions(), ["iaso_forms", "iaso_org_units", "iaso_sources"]);
    assert_eq!(created.user_roles.len(), 1);
    assert_eq!(created.user_roles[0].name, "Data manager");
    assert_eq!(created.projects, [project.id]);
    assert_eq!(created.org_units, [7, 42]);
    assert_eq!(created.language.as_deref(), Some("fr"));
    assert!(created.is_active && !created.is_superuser);
    assert!(created.has_permission("iaso_sources") && !created.has_permission("iaso_users"));

    assert_eq!(store.users().get(acc, created.profile_id).await.unwrap(), Some(created.clone()));
    assert_eq!(store.users().list(acc).await.unwrap(), vec![created]);
}

pub async fn usernames_are_unique_across_accounts(store: &dyn Store) {
    let a = account(store, "A").await;
    let b = account(store, "B").await;
    store.users().create(a, user("moussa")).await.unwrap();
    assert_conflict(store.users().create(b, user("moussa")).await, "username");
    assert_eq!(store.users().list(b).await.unwrap().len(), 0);
}

pub async fn credentials_and_login_lookup(store: &dyn Store) {
    let acc = account(store, "A").await;
    let created = store.users().create(acc, user("fatou")).await.unwrap();
    let creds = store.users().credentials("fatou").await.unwrap().expect("credentials");
    assert_eq!(creds.user_id, created.user_id);
    assert_eq!(creds.password_hash, "hash-of-fatou");
    assert!(creds.is_active);
    assert!(store.users().credentials("FATOU").await.unwrap().is_none(), "usernames are case-sensitive");
    assert!(store.users().credentials("nobody").await.unwrap().is_none());

    store.users().set_password(acc, created.profile_id, "new-hash").await.unwrap();
    assert_eq!(store.users().credentials("fatou").await.unwrap().unwrap().password_hash, "new-hash");

    let at = Utc::now();
    store.users().record_login(created.user_id, at).await.unwrap();
    let profile = store.users().profile_of_user(created.user_id).await.unwrap().unwrap();
    assert_eq!(profile.profile_id, created.profile_id);
    let last_login = profile.last_login.expect("last login recorded");
    assert!((last_login - at).num_milliseconds().abs() < 1000);
}

pub async fn profile_update_replaces_lists_and_keeps_the_rest(store: &dyn Store) {
    let acc = account(store, "A").await;
    let p1 = store.projects().create(acc, NewProject::new("P1", "p1")).await.unwrap();
    let p2 = store.projects().create(acc, NewProject::new("P2", "p2")).await.unwrap();
    let mut new = user("ibrahim");
    new.permissions = vec!["iaso_forms".into()];
    new.projects = vec![p1.id];
    new.org_units = vec![1];
    let created = store.users().create(acc, new).await.unwrap();

    let updated = store
        .users()
        .update(
            acc,
            created.profile_id,
            ProfileUpdate {
                last_name: Some("Traoré".into()),
                language: Some(Some("en".into())),
                permissions: Some(vec!["iaso_users".into()]),
                projects: Some(vec![p2.id, p1.id]),
                org_units: Some(vec![]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.last_name, "Traoré");
    assert_eq!(updated.first_name, "First");
    assert_eq!(updated.language.as_deref(), Some("en"));
    assert_eq!(updated.permissions, ["iaso_users"]);
    let mut expected_projects = vec![p1.id, p2.id];
    expected_projects.sort();
    assert_eq!(updated.projects, expected_projects);
    assert!(updated.org_units.is_empty());
    assert_eq!(store.users().get(acc, created.profile_id).await.unwrap(), Some(updated));

    assert_invalid(
        store
            .users()
            .update(
                acc,
                created.profile_id,
                ProfileUpdate { permissions: Some(vec!["nope".into()]), ..Default::default() },
            )
            .await,
        "permissions",
    );
}

pub async fn deleting_a_user_removes_the_login(store: &dyn Store) {
    let acc = account(store, "A").await;
    let created = store.users().create(acc, user("gone")).await.unwrap();
    store.sessions().create("h", created.user_id, Utc::now() + Duration::hours(1)).await.unwrap();
    store.users().delete(acc, created.profile_id).await.unwrap();
    assert!(store.users().credentials("gone").await.unwrap().is_none());
    assert!(store.users().profile_of_user(created.user_id).await.unwrap().is_none());
    assert_eq!(store.sessions().user("h", Utc::now()).await.unwrap(), None);
    // The username is free again.
    store.users().create(acc, user("gone")).await.unwrap();
}

pub async fn user_roles_round_trip(store: &dyn Store) {
    let acc = account(store, "A").await;
    let role = store
        .user_roles()
        .create(acc, UserRoleInput { name: "Viewer".into(), permissions: vec!["iaso_org_units_read".into()] })
        .await
        .unwrap();
    assert_eq!(role.permissions, ["iaso_org_units_read"]);
    assert_conflict(
        store.user_roles().create(acc, UserRoleInput { name: "Viewer".into(), permissions: vec![] }).await,
        "name",
    );
    let other = account(store, "B").await;
    store
        .user_roles()
        .create(other, UserRoleInput { name: "Viewer".into(), permissions: vec![] })
        .await
        .expect("role names are unique per account only");

    let updated = store
        .user_roles()
        .update(
            acc,
            role.id,
            UserRoleInput {
                name: "Reader".into(),
                permissions: vec!["iaso_submissions".into(), "iaso_org_units_read".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Reader");
    assert_eq!(updated.permissions, ["iaso_org_units_read", "iaso_submissions"]);
    assert_eq!(store.user_roles().list(acc).await.unwrap(), vec![updated.clone()]);
    assert_invalid(
        store.user_roles().create(acc, UserRoleInput { name: "X".into(), permissions: vec!["bad".into()] }).await,
        "permissions",
    );
}

/// A role "Admin" granting `permission`, and a new user `username` holding it.
async fn user_holding_role(
    store: &dyn Store,
    account: AccountId,
    username: &str,
    permission: &str,
) -> (UserRole, UserProfile) {
    let input = UserRoleInput { name: "Admin".into(), permissions: vec![permission.into()] };
    let role = store.user_roles().create(account, input).await.unwrap();
    let mut new = user(username);
    new.user_roles = vec![role.id];
    (role, store.users().create(account, new).await.unwrap())
}

async fn profile_of(store: &dyn Store, user: UserId) -> Option<UserProfile> {
    store.users().profile_of_user(user).await.unwrap()
}

pub async fn deleting_a_role_takes_its_permissions_away(store: &dyn Store) {
    let acc = account(store, "A").await;
    let (role, created) = user_holding_role(store, acc, "u", "iaso_users").await;
    assert!(created.has_permission("iaso_users"));
    store.user_roles().delete(acc, role.id).await.unwrap();
    let after = store.users().get(acc, created.profile_id).await.unwrap().unwrap();
    assert!(after.user_roles.is_empty());
    assert!(!after.has_permission("iaso_users"));
}

/// Every authenticated request reads its caller's profile; a backend may remember it, but the
/// store's own writes must show on the next read (a deactivated user stops at once).
pub async fn a_callers_profile_shows_each_change_at_once(store: &dyn Store) {
    let acc = account(store, "A").await;
    let (role, created) = user_holding_role(store, acc, "caller", "iaso_users").await;
    let read = profile_of(store, created.user_id).await.unwrap();
    assert!(read.has_permission("iaso_users"));
    assert_eq!(profile_of(store, created.user_id).await, Some(read), "the same on a second read");

    let update = UserRoleInput { name: "Reader".into(), permissions: vec!["iaso_forms".into()] };
    store.user_roles().update(acc, role.id, update).await.unwrap();
    let read = profile_of(store, created.user_id).await.unwrap();
    assert!(!read.has_permission("iaso_users") && read.has_permission("iaso_forms"), "the role's new permissions");
    assert_eq!(read.user_roles[0].name, "Reader");

    let deactivate = ProfileUpdate { is_active: Some(false), ..Default::default() };
    store.users().update(acc, created.profile_id, deactivate).await.unwrap();
    assert!(!profile_of(store, created.user_id).await.unwrap().is_active, "deactivated");
    let activate = ProfileUpdate { is_active: Some(true), ..Default::default() };
    store.users().update(acc, created.profile_id, activate).await.unwrap();
    assert!(profile_of(store, created.user_id).await.unwrap().is_active);

    assert_eq!(profile_of(store, created.user_id).await.unwrap().tokens_valid_from, 0);
    store.users().set_password(acc, created.profile_id, "new-hash").await.unwrap();
    assert!(
        profile_of(store, created.user_id).await.unwrap().tokens_valid_from > 0,
        "tokens issued before now are void"
    );

    store.users().record_login(created.user_id, Utc::now()).await.unwrap();
    assert!(profile_of(store, created.user_id).await.unwrap().last_login.is_some());

    store.user_roles().delete(acc, role.id).await.unwrap();
    assert!(profile_of(store, created.user_id).await.unwrap().user_roles.is_empty(), "the deleted role is gone");

    store.users().delete(acc, created.profile_id).await.unwrap();
    assert_eq!(profile_of(store, created.user_id).await, None, "deleted");
}

pub async fn sessions_expire_and_can_be_deleted(store: &dyn Store) {
    let acc = account(store, "A").await;
    let u = store.users().create(acc, user("s")).await.unwrap();
    let now = Utc::now();
    store.sessions().create("live", u.user_id, now + Duration::hours(1)).await.unwrap();
    store.sessions().create("old", u.user_id, now - Duration::seconds(1)).await.unwrap();
    assert_eq!(store.sessions().user("live", now).await.unwrap(), Some(u.user_id));
    assert_eq!(store.sessions().user("old", now).await.unwrap(), None);
    assert_eq!(store.sessions().user("unknown", now).await.unwrap(), None);
    assert_eq!(store.sessions().purge_expired(now).await.unwrap(), 1);
    store.sessions().delete("live").await.unwrap();
    assert_eq!(store.sessions().user("live", now).await.unwrap(), None);
}

pub async fn secrets_are_written_once(store: &dyn Store) {
    assert_eq!(store.secrets().get_or_insert("jwt", "first").await.unwrap(), "first");
    assert_eq!(store.secrets().get_or_insert("jwt", "second").await.unwrap(), "first");
    assert_eq!(store.secrets().get_or_insert("other", "x").await.unwrap(), "x");
}

pub async fn feature_flag_catalogue_is_seeded(store: &dyn Store) {
    let flags = store.projects().feature_flags().await.unwrap();
    let codes: Vec<&str> = flags.iter().map(|f| f.code.as_str()).collect();
    for expected in
        ["REQUIRE_AUTHENTICATION", "TAKE_GPS_ON_FORM", "LIMIT_OU_DOWNLOAD_TO_ROOTS", "MOBILE_SYNCHRONIZE_WITH_ZIP"]
    {
        assert!(codes.contains(&expected), "{expected} missing from {codes:?}");
    }
}

/// The tenancy guarantee: with B's ids in hand, account A can neither list, read, modify nor
/// delete anything of B, and B's data is untouched afterwards.
pub async fn tenants_cannot_list_read_modify_or_delete_each_other(store: &dyn Store) {
    let a = account(store, "A").await;
    let b = account(store, "B").await;
    let b_project = store.projects().create(b, NewProject::new("B project", "b.app")).await.unwrap();
    let b_role = store
        .user_roles()
        .create(b, UserRoleInput { name: "B role".into(), permissions: vec!["iaso_users".into()] })
        .await
        .unwrap();
    let b_user = store.users().create(b, user("b-user")).await.unwrap();
    store.projects().create(a, NewProject::new("A project", "a.app")).await.unwrap();
    store.users().create(a, user("a-user")).await.unwrap();

    // List: only A's own rows.
    assert!(store.projects().list(a).await.unwrap().iter().all(|p| p.account_id == a));
    assert_eq!(store.projects().list(a).await.unwrap().len(), 1);
    assert!(store.users().list(a).await.unwrap().iter().all(|u| u.account_id == a));
    assert_eq!(store.users().list(a).await.unwrap().len(), 1);
    assert!(store.user_roles().list(a).await.unwrap().is_empty());

    // Read by guessed id.
    assert_eq!(store.projects().get(a, b_project.id).await.unwrap(), None);
    assert_eq!(store.user_roles().get(a, b_role.id).await.unwrap(), None);
    assert_eq!(store.users().get(a, b_user.profile_id).await.unwrap(), None);
    // Neighbouring ids too: nothing of B is reachable whatever the guess.
    for guess in 0..=(b_project.id.0 + 5) {
        if let Some(p) = store.projects().get(a, ProjectId(guess)).await.unwrap() {
            assert_eq!(p.account_id, a);
        }
    }

    // Modify.
    assert_not_found(
        store
            .projects()
            .update(a, b_project.id, ProjectUpdate { name: Some("hijacked".into()), ..Default::default() })
            .await,
    );
    assert_not_found(
        store.user_roles().update(a, b_role.id, UserRoleInput { name: "hijacked".into(), permissions: vec![] }).await,
    );
    assert_not_found(
        store
            .users()
            .update(a, b_user.profile_id, ProfileUpdate { first_name: Some("hijacked".into()), ..Default::default() })
            .await,
    );
    assert_not_found(store.users().set_password(a, b_user.profile_id, "stolen").await);

    // Delete.
    assert_not_found(store.projects().delete(a, b_project.id).await);
    assert_not_found(store.user_roles().delete(a, b_role.id).await);
    assert_not_found(store.users().delete(a, b_user.profile_id).await);

    // B is exactly as it was.
    assert_eq!(store.projects().get(b, b_project.id).await.unwrap(), Some(b_project));
    assert_eq!(store.user_roles().get(b, b_role.id).await.unwrap(), Some(b_role));
    assert_eq!(store.users().get(b, b_user.profile_id).await.unwrap(), Some(b_user));
    assert_eq!(store.users().credentials("b-user").await.unwrap().unwrap().password_hash, "hash-of-b-user");
}

/// Granting A's user a project or role of B is refused, and the refused write leaves no trace.
pub async fn foreign_references_are_refused_and_nothing_is_written(store: &dyn Store) {
    let a = account(store, "A").await;
    let b = account(store, "B").await;
    let b_project = store.projects().create(b, NewProject::new("B project", "b.app")).await.unwrap();
    let b_role = store.user_roles().create(b, UserRoleInput { name: "R".into(), permissions: vec![] }).await.unwrap();

    let mut with_project = user("x");
    with_project.projects = vec![b_project.id];
    assert_invalid(store.users().create(a, with_project).await, "projects");
    let mut with_role = user("x");
    with_role.user_roles = vec![b_role.id];
    assert_invalid(store.users().create(a, with_role).await, "user_roles");
    assert!(store.users().credentials("x").await.unwrap().is_none(), "a refused create must write nothing");
    assert!(store.users().list(a).await.unwrap().is_empty());

    let a_user = store.users().create(a, user("y")).await.unwrap();
    assert_invalid(
        store
            .users()
            .update(
                a,
                a_user.profile_id,
                ProfileUpdate {
                    first_name: Some("changed".into()),
                    projects: Some(vec![b_project.id]),
                    ..Default::default()
                },
            )
            .await,
        "projects",
    );
    assert_eq!(store.users().get(a, a_user.profile_id).await.unwrap(), Some(a_user));
}

/// Dropping the link would silently widen the user's access to every project of the account.
pub async fn a_project_users_are_limited_to_cannot_be_deleted(store: &dyn Store) {
    let acc = account(store, "A").await;
    let field = store.projects().create(acc, NewProject::new("Field", "field")).await.unwrap();
    let mut new = user("limited");
    new.projects = vec![field.id];
    let limited = store.users().create(acc, new).await.unwrap();
    assert_conflict(store.projects().delete(acc, field.id).await, "users");
    assert_eq!(store.users().get(acc, limited.profile_id).await.unwrap().unwrap().projects, [field.id]);
    store
        .users()
        .update(acc, limited.profile_id, ProfileUpdate { projects: Some(vec![]), ..Default::default() })
        .await
        .unwrap();
    store.projects().delete(acc, field.id).await.expect("free to delete once nobody is limited to it");
}

pub async fn a_new_password_voids_tokens_and_sessions(store: &dyn Store) {
    let acc = account(store, "A").await;
    let created = store.users().create(acc, user("p")).await.unwrap();
    assert_eq!(created.tokens_valid_from, 0);
    store.sessions().create("session", created.user_id, Utc::now() + Duration::hours(1)).await.unwrap();
    let before = Utc::now().timestamp();
    store.users().set_password(acc, created.profile_id, "new-hash").await.unwrap();
    let after = store.users().get(acc, created.profile_id).await.unwrap().unwrap();
    assert!(after.tokens_valid_from >= before, "{} < {before}", after.tokens_valid_from);
    assert_eq!(store.sessions().user("session", Utc::now()).await.unwrap(), None);
}

pub async fn permissions_follow_the_accounts_modules(store: &dyn Store) {
    // New accounts have DEFAULT and DATA_COLLECTION_FORMS; iaso_entities needs ENTITIES.
    let acc = account(store, "A").await;
    let mut new = user("e");
    new.permissions = vec!["iaso_forms".into(), "iaso_entities".into()];
    assert_invalid(store.users().create(acc, new).await, "permissions");
    assert!(store.users().credentials("e").await.unwrap().is_none());
    assert_invalid(
        store
            .user_roles()
            .create(acc, UserRoleInput { name: "R".into(), permissions: vec!["iaso_entities".into()] })
            .await,
        "permissions",
    );
    let mut allowed = user("f");
    allowed.permissions = vec!["iaso_forms".into(), "iaso_datastore_read".into()];
    store.users().create(acc, allowed).await.expect("permissions of enabled modules, or of none, are granted");
}

/// A token or link naming a deleted row's id must never reach a row created later.
pub async fn deleted_ids_are_never_reused(store: &dyn Store) {
    let acc = account(store, "A").await;
    let first = store.users().create(acc, user("first")).await.unwrap();
    store.users().delete(acc, first.profile_id).await.unwrap();
    let second = store.users().create(acc, user("second")).await.unwrap();
    assert!(second.user_id > first.user_id && second.profile_id > first.profile_id);
    let project = store.projects().create(acc, NewProject::new("P", "p")).await.unwrap();
    store.projects().delete(acc, project.id).await.unwrap();
    let next = store.projects().create(acc, NewProject::new("Q", "q")).await.unwrap();
    assert!(next.id > project.id);
}

pub async fn lists_are_in_byte_order_on_every_backend(store: &dyn Store) {
    let acc = account(store, "A").await;
    for name in ["b_user", "B", "a-user", "Zed"] {
        store.users().create(acc, user(name)).await.unwrap();
    }
    let names: Vec<String> = store.users().list(acc).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["B", "Zed", "a-user", "b_user"]);
    for name in ["field_team", "Field", "fieldwork"] {
        store.user_roles().create(acc, UserRoleInput { name: name.into(), permissions: vec![] }).await.unwrap();
    }
    let roles: Vec<String> = store.user_roles().list(acc).await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(roles, ["Field", "field_team", "fieldwork"]);
}

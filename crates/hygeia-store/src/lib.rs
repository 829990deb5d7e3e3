//! Hygeia's storage, described in domain words.
//!
//! Each backend crate (`hygeia-store-sqlite`, `hygeia-store-postgres`) implements [`Store`]; the rest of
//! Hygeia holds an `Arc<dyn Store>` and never sees SQL. Every method owns its transaction.
//!
//! **Tenancy lives here.** Every method that touches something an account owns takes that
//! [`AccountId`] and must behave as if other accounts' rows did not exist: a foreign id is
//! `NotFound`, never a leak and never a write. The conformance suite (feature `testing`) proves it
//! for each backend.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::{
    Account, AccountId, BulkOrgUnitChange, Credentials, DataSource, DataSourceId, DataSourceInput, FeatureFlag, Group,
    GroupId, GroupInput, GroupSet, GroupSetId, GroupSetInput, Modification, NewAccount, NewOrgUnit, NewProject,
    NewUser, OrgUnit, OrgUnitId, OrgUnitQuery, OrgUnitScope, OrgUnitSelection, OrgUnitType, OrgUnitTypeId,
    OrgUnitTypeInput, OrgUnitUpdate, Page, ProfileId, ProfileUpdate, Project, ProjectId, ProjectUpdate, SourceVersion,
    SourceVersionId, TreeChanges, TreeChangesApplied, UserId, UserProfile, UserRole, UserRoleId, UserRoleInput,
    ValidationError,
};
use hygeia_core::{AppToken, NewAppToken};
use hygeia_core::{
    Form, FormAttachment, FormAttachmentId, FormId, FormInput, FormQuery, FormVersion, FormVersionId, NewFormVersion,
};
use hygeia_core::{NewTask, Progress, Task, TaskId, TaskLog, TaskOutcome, TaskQuery};
use hygeia_core::{
    Payload, PayloadChannel, PayloadPart, ReceivedXml, Submission, SubmissionFile, SubmissionFileId, SubmissionId,
    SubmissionMetadata, SubmissionQuery, SubmissionStatus, XmlOutcome,
};

mod error;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{StoreError, StoreResult};

/// The whole storage of one Hygeia installation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`, for `/health/` and logs.
    fn backend(&self) -> &'static str;
    /// Applies the backend's pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Cheap round trip to the database.
    async fn ping(&self) -> StoreResult<()>;
    /// Refreshes the query planner's statistics (after migrations, bulk writes, and periodically):
    /// without them SQLite may scan a whole table through the wrong index.
    async fn optimize(&self) -> StoreResult<()>;
    /// Closes the connection pool; pending operations finish first.
    async fn close(&self);

    fn accounts(&self) -> &dyn AccountStore;
    fn users(&self) -> &dyn UserStore;
    fn projects(&self) -> &dyn ProjectStore;
    fn user_roles(&self) -> &dyn UserRoleStore;
    fn sessions(&self) -> &dyn SessionStore;
    fn secrets(&self) -> &dyn SecretStore;
    fn sources(&self) -> &dyn SourceStore;
    fn org_unit_types(&self) -> &dyn OrgUnitTypeStore;
    fn org_units(&self) -> &dyn OrgUnitStore;
    fn groups(&self) -> &dyn GroupStore;
    fn group_sets(&self) -> &dyn GroupSetStore;
    fn tasks(&self) -> &dyn TaskStore;
    fn forms(&self) -> &dyn FormStore;
    fn submissions(&self) -> &dyn SubmissionStore;
}

pub type DynStore = Arc<dyn Store>;

/// Forms, their versions and attachments. Versions and attachments are reached through their
/// form's account. The files themselves live in file storage; rows hold their keys.
#[async_trait]
pub trait FormStore: Send + Sync {
    /// Projects and org-unit types must belong to `account`.
    async fn create(&self, account: AccountId, input: FormInput) -> StoreResult<Form>;
    /// The form, deleted or not.
    async fn get(&self, account: AccountId, id: FormId) -> StoreResult<Option<Form>>;
    /// Forms by name, then id.
    async fn list(&self, account: AccountId, query: &FormQuery) -> StoreResult<Vec<Form>>;
    /// Replaces what the owner sets (a PATCH merges into the current input first).
    async fn update(&self, account: AccountId, id: FormId, input: FormInput) -> StoreResult<Form>;
    /// Soft deletion (`true`) or restoration (`false`).
    async fn set_deleted(&self, account: AccountId, id: FormId, deleted: bool) -> StoreResult<Form>;

    /// Adds a version under the rules of [`hygeia_core::form::next_version_id`] (against the
    /// latest version, `today` for generated ids); the first version sets the form's `form_id`,
    /// later ones must carry the same (a `Conflict` on `xls_file` otherwise, as is a `form_id`
    /// another form of the account has). The form's `possible_fields` take in the version's.
    async fn create_version(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        form: FormId,
        version: NewFormVersion,
        today: chrono::NaiveDate,
    ) -> StoreResult<FormVersion>;
    async fn version(&self, account: AccountId, id: FormVersionId) -> StoreResult<Option<FormVersion>>;
    /// The form whose XForms carry this `form_id` (what a submission names), deleted or not.
    async fn find_by_xform_id(&self, account: AccountId, xform_id: &str) -> StoreResult<Option<Form>>;
    /// The version of `form` with this `version_id` (a submission's root `version`).
    async fn version_by_version_id(
        &self,
        account: AccountId,
        form: FormId,
        version_id: &str,
    ) -> StoreResult<Option<FormVersion>>;
    /// The versions of `form` (every form of the account when `None`), oldest first.
    async fn versions(&self, account: AccountId, form: Option<FormId>) -> StoreResult<Vec<FormVersion>>;
    /// Each listed form's newest version, for those that have one.
    async fn latest_versions(
        &self,
        account: AccountId,
        forms: &[FormId],
    ) -> StoreResult<std::collections::HashMap<FormId, FormVersion>>;

    /// A file name is unique within its form: a taken one is a `Conflict` on `name`.
    async fn add_attachment(
        &self,
        account: AccountId,
        form: FormId,
        name: &str,
        file_key: &str,
        md5: &str,
    ) -> StoreResult<FormAttachment>;
    async fn attachments(&self, account: AccountId, form: FormId) -> StoreResult<Vec<FormAttachment>>;
    async fn attachment(&self, account: AccountId, id: FormAttachmentId) -> StoreResult<Option<FormAttachment>>;
    /// Removes the row and returns it (its file is the caller's to delete).
    async fn delete_attachment(&self, account: AccountId, id: FormAttachmentId) -> StoreResult<FormAttachment>;
}

/// A payload as received, before anything reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPayload {
    pub account: Option<AccountId>,
    pub channel: PayloadChannel,
    /// The stem of the parts' keys.
    pub file_key: String,
    /// Each part, already in file storage or among `inline`.
    pub parts: Vec<PayloadPart>,
    /// The parts small enough to be kept in the database, written with the payload's row.
    pub inline: Vec<InlineFile>,
    pub size: i64,
    pub user: Option<UserId>,
    pub project: Option<ProjectId>,
}

/// What begins the key of a file kept in the database rather than in file storage.
pub const INLINE_KEY_PREFIX: &str = "db:";

/// A file kept in the database: its key begins with [`INLINE_KEY_PREFIX`].
#[derive(Debug, Clone, PartialEq)]
pub struct InlineFile {
    pub key: String,
    pub bytes: Vec<u8>,
}

/// Submissions, their files and edits, and the raw payloads they came in. Every method but the
/// payload ones is reached through the submission's account; lists also through the caller's
/// subtrees (a restricted user sees only submissions about units in them).
#[async_trait]
pub trait SubmissionStore: Send + Sync {
    /// Records bytes just stored in file storage (and those of `payload.inline`, in the same
    /// transaction), before they are read.
    async fn record_payload(&self, payload: NewPayload) -> StoreResult<Payload>;
    /// The bytes of a file a payload kept in the database, if the account has it.
    async fn inline_file(&self, account: AccountId, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// What processing a payload gave: the submission it made or updated, or why it failed.
    async fn finish_payload(&self, id: i64, outcome: Result<Option<SubmissionId>, String>) -> StoreResult<Payload>;
    /// Payloads that failed or were never processed, oldest first.
    async fn unprocessed_payloads(&self, limit: u64) -> StoreResult<Vec<Payload>>;
    async fn payload(&self, id: i64) -> StoreResult<Option<Payload>>;

    /// The phone's metadata: nothing changes when the uuid is known; else it completes the
    /// submission whose XML came first (same file name), else it makes one awaiting its XML.
    async fn record_metadata(&self, account: AccountId, metadata: SubmissionMetadata) -> StoreResult<Submission>;
    /// An XML: a new submission, the XML of one whose metadata came first (same uuid or file
    /// name), a duplicate (same uuid, same bytes), a conflict (same uuid, other bytes) or an edit
    /// (`replaces` names the current uuid of a submission: its XML is kept in the history).
    async fn record_xml(&self, account: AccountId, xml: ReceivedXml) -> StoreResult<XmlOutcome>;
    /// Adds a file to the submission, or replaces the one of the same name.
    async fn add_file(
        &self,
        account: AccountId,
        submission: SubmissionId,
        name: &str,
        file_key: &str,
        md5: &str,
        size: i64,
    ) -> StoreResult<SubmissionFile>;
    async fn files(&self, account: AccountId, submission: SubmissionId) -> StoreResult<Vec<SubmissionFile>>;
    async fn file(&self, account: AccountId, id: SubmissionFileId) -> StoreResult<Option<SubmissionFile>>;
    /// The file keys of the XMLs an edit replaced, oldest first.
    async fn history(&self, account: AccountId, submission: SubmissionId) -> StoreResult<Vec<(String, String)>>;

    async fn get(&self, account: AccountId, id: SubmissionId) -> StoreResult<Option<Submission>>;
    async fn find_by_uuid(&self, account: AccountId, uuid: &str) -> StoreResult<Option<Submission>>;
    /// Submissions with their XML, newest change first, each with its derived status.
    async fn list(
        &self,
        scope: &OrgUnitScope,
        query: &SubmissionQuery,
    ) -> StoreResult<Page<(Submission, SubmissionStatus)>>;
    /// Moves a submission to another org unit and/or period (`None`: unchanged).
    async fn update(
        &self,
        account: AccountId,
        id: SubmissionId,
        org_unit: Option<Option<OrgUnitId>>,
        period: Option<Option<String>>,
        actor: Option<UserId>,
    ) -> StoreResult<Submission>;
    /// Soft deletion (`true`) or restoration (`false`) of each listed submission of the account;
    /// returns how many changed.
    async fn set_deleted(&self, account: AccountId, ids: &[SubmissionId], deleted: bool) -> StoreResult<u64>;
}

/// Accounts are the tenants themselves, so these methods are installation-wide: only the CLI,
/// installation administrators and the auth layer (which learns a caller's account) use them.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create(&self, account: NewAccount) -> StoreResult<Account>;
    async fn get(&self, id: AccountId) -> StoreResult<Option<Account>>;
    async fn find_by_name(&self, name: &str) -> StoreResult<Option<Account>>;
    async fn list(&self) -> StoreResult<Vec<Account>>;
    async fn count(&self) -> StoreResult<i64>;
    /// Numbers that change with the account's georegistry: what is derived from it may be cached
    /// under them.
    async fn registry_versions(&self, account: AccountId) -> StoreResult<RegistryVersions>;
}

/// What the account's georegistry caches are keyed by (see [`AccountStore::registry_versions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryVersions {
    /// The tree version: moves with every change (units, moves, group members, types, sources,
    /// versions).
    pub tree: i64,
    /// Moves with changes to types, sources and versions only.
    pub catalog: i64,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the login identity and its profile in `account`. Roles and projects must belong to
    /// `account`. A taken username is a `Conflict`.
    async fn create(&self, account: AccountId, user: NewUser) -> StoreResult<UserProfile>;
    async fn get(&self, account: AccountId, id: ProfileId) -> StoreResult<Option<UserProfile>>;
    async fn list(&self, account: AccountId) -> StoreResult<Vec<UserProfile>>;
    async fn update(&self, account: AccountId, id: ProfileId, update: ProfileUpdate) -> StoreResult<UserProfile>;
    async fn set_password(&self, account: AccountId, id: ProfileId, password_hash: &str) -> StoreResult<()>;
    /// Deletes the profile and its login identity.
    async fn delete(&self, account: AccountId, id: ProfileId) -> StoreResult<()>;

    /// Login: the stored hash for a username, whatever its account.
    async fn credentials(&self, username: &str) -> StoreResult<Option<Credentials>>;
    /// Authentication: the profile behind a verified token or session. This is how a request learns
    /// its account, so it is the one profile read that is not scoped by one.
    async fn profile_of_user(&self, user: UserId) -> StoreResult<Option<UserProfile>>;
    async fn record_login(&self, user: UserId, at: DateTime<Utc>) -> StoreResult<()>;
}

#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// `app_id` is unique across the installation; a taken one is a `Conflict`.
    async fn create(&self, account: AccountId, project: NewProject) -> StoreResult<Project>;
    async fn get(&self, account: AccountId, id: ProjectId) -> StoreResult<Option<Project>>;
    async fn list(&self, account: AccountId) -> StoreResult<Vec<Project>>;
    async fn update(&self, account: AccountId, id: ProjectId, update: ProjectUpdate) -> StoreResult<Project>;
    async fn delete(&self, account: AccountId, id: ProjectId) -> StoreResult<()>;
    /// Phones name their project by `app_id` before anyone is logged in; the caller must then act
    /// within the returned project's account only.
    async fn find_by_app_id(&self, app_id: &str) -> StoreResult<Option<Project>>;
    /// The global feature-flag catalogue.
    async fn feature_flags(&self) -> StoreResult<Vec<FeatureFlag>>;
    /// The user must belong to the account (else invalid `user_id`), the project too (else
    /// `NotFound`).
    async fn create_app_token(&self, account: AccountId, token: NewAppToken) -> StoreResult<AppToken>;
    /// The project's tokens, revoked ones included, oldest first.
    async fn app_tokens(&self, account: AccountId, project: ProjectId) -> StoreResult<Vec<AppToken>>;
    /// Revoking twice keeps the first time.
    async fn revoke_app_token(&self, account: AccountId, project: ProjectId, id: i64) -> StoreResult<AppToken>;
    /// The live (not revoked) token with this SHA-256.
    async fn app_token(&self, token_hash: &str) -> StoreResult<Option<AppToken>>;
}

#[async_trait]
pub trait UserRoleStore: Send + Sync {
    async fn create(&self, account: AccountId, role: UserRoleInput) -> StoreResult<UserRole>;
    async fn get(&self, account: AccountId, id: UserRoleId) -> StoreResult<Option<UserRole>>;
    async fn list(&self, account: AccountId) -> StoreResult<Vec<UserRole>>;
    async fn update(&self, account: AccountId, id: UserRoleId, role: UserRoleInput) -> StoreResult<UserRole>;
    async fn delete(&self, account: AccountId, id: UserRoleId) -> StoreResult<()>;
}

/// Browser sessions. Only a hash of the session token is stored, so a database leak does not
/// hand out live sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create(&self, token_hash: &str, user: UserId, expires_at: DateTime<Utc>) -> StoreResult<()>;
    /// The session's user, if the session exists and has not expired at `now`.
    async fn user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserId>>;
    async fn delete(&self, token_hash: &str) -> StoreResult<()>;
    /// Removes sessions expired at `now`; returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// Installation-wide secrets generated on first start (e.g. the JWT signing key), so that every
/// server process sharing the database signs and verifies with the same key.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `candidate` under `name` unless a value is already there; returns the stored value.
    async fn get_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String>;
}

/// Data sources and their versions.
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Projects must belong to the account; names are unique per account.
    async fn create_source(&self, account: AccountId, source: DataSourceInput) -> StoreResult<DataSource>;
    async fn source(&self, account: AccountId, id: DataSourceId) -> StoreResult<Option<DataSource>>;
    async fn sources(&self, account: AccountId) -> StoreResult<Vec<DataSource>>;
    async fn update_source(
        &self,
        account: AccountId,
        id: DataSourceId,
        source: DataSourceInput,
    ) -> StoreResult<DataSource>;
    /// Adds the source's next version (1, 2, ...).
    async fn create_version(
        &self,
        account: AccountId,
        source: DataSourceId,
        description: &str,
    ) -> StoreResult<SourceVersion>;
    async fn version(&self, account: AccountId, id: SourceVersionId) -> StoreResult<Option<SourceVersion>>;
    /// The account's versions, or one source's, newest number first within a source.
    async fn versions(&self, account: AccountId, source: Option<DataSourceId>) -> StoreResult<Vec<SourceVersion>>;
    /// Makes `version` the default of its source.
    async fn set_source_default_version(&self, account: AccountId, version: SourceVersionId) -> StoreResult<()>;
    /// Makes `version` the account's live tree (what phones receive).
    async fn set_account_default_version(&self, account: AccountId, version: SourceVersionId) -> StoreResult<()>;
}

#[async_trait]
pub trait OrgUnitTypeStore: Send + Sync {
    /// Creates, updates and deletes write their audit entry in the same transaction.
    async fn create(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        input: OrgUnitTypeInput,
    ) -> StoreResult<OrgUnitType>;
    async fn get(&self, account: AccountId, id: OrgUnitTypeId) -> StoreResult<Option<OrgUnitType>>;
    async fn list(&self, account: AccountId) -> StoreResult<Vec<OrgUnitType>>;
    async fn update(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        id: OrgUnitTypeId,
        input: OrgUnitTypeInput,
    ) -> StoreResult<OrgUnitType>;
    /// Refused (conflict) while org units have the type.
    async fn delete(&self, account: AccountId, actor: Option<UserId>, id: OrgUnitTypeId) -> StoreResult<()>;
}

/// The tree. Every method sees only the scope's account and, for a restricted user, only the
/// subtrees under the scope's roots: a unit outside them is `NotFound`.
#[async_trait]
pub trait OrgUnitStore: Send + Sync {
    /// The parent must be in the same version (and in scope); a restricted user cannot create a
    /// root. Writes the audit entry in the same transaction.
    async fn create(&self, scope: &OrgUnitScope, actor: Option<UserId>, unit: NewOrgUnit) -> StoreResult<OrgUnit>;
    /// Creates many units in one transaction (imports, seeding), all or nothing, with one audit
    /// entry each. Every parent must exist before the batch (visible, in the unit's version).
    /// Returns the new ids in input order. A refused unit is named by its index: `units[3].name`.
    async fn create_many(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        units: &[NewOrgUnit],
    ) -> StoreResult<Vec<OrgUnitId>>;
    /// Creates a whole tree in one transaction (imports), all or nothing: `batch_parents[i] = Some(j)`
    /// hangs `units[i]` under `units[j]`, which must come earlier; `None` keeps `units[i].parent_id`
    /// (an existing unit, or a root). Returns the new ids in input order; refusals are named
    /// `units[i].field`.
    async fn create_tree(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        units: &[NewOrgUnit],
        batch_parents: &[Option<usize>],
    ) -> StoreResult<Vec<OrgUnitId>>;
    /// Applies an import's changes to one version in one transaction, all or nothing: groups
    /// created and renamed, units created (`creates[i]` refusals named `units[i].field`), updates
    /// applied in order (`updates[i].field`), then each listed unit's groups of the version set to
    /// exactly the ones given. Every write is audited under `changes.audit_source`.
    async fn apply_changes(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        changes: &TreeChanges,
    ) -> StoreResult<TreeChangesApplied>;
    async fn get(&self, scope: &OrgUnitScope, id: OrgUnitId) -> StoreResult<Option<OrgUnit>>;
    async fn list(&self, scope: &OrgUnitScope, query: &OrgUnitQuery) -> StoreResult<Page<OrgUnit>>;
    /// Applies the changes; a new parent moves the whole subtree (its paths rewritten in the same
    /// transaction) and is refused when it would make a cycle or leave the version.
    async fn update(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        id: OrgUnitId,
        update: OrgUnitUpdate,
    ) -> StoreResult<OrgUnit>;
    /// Applies one change to every selected unit in one transaction, auditing each unit; returns how
    /// many units were selected. Every selected id must be visible, the type the account's, and the
    /// groups of the units' version; otherwise nothing changes.
    async fn bulk_update(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        selection: &OrgUnitSelection,
        change: &BulkOrgUnitChange,
    ) -> StoreResult<u64>;
    /// The unit's ancestors, root first (the chain Iaso shows as `parent`), whatever the scope's roots.
    async fn ancestors(&self, scope: &OrgUnitScope, id: OrgUnitId) -> StoreResult<Vec<OrgUnit>>;
    /// Units of the account by id, whatever the scope's roots: for showing the ancestor chain of
    /// units the caller can see. Unknown ids are skipped.
    async fn by_ids(&self, account: AccountId, ids: &[OrgUnitId]) -> StoreResult<Vec<OrgUnit>>;
    /// The stored boundary as WKB, full or simplified; `None` when the unit is out of scope or has none.
    async fn shape_wkb(&self, scope: &OrgUnitScope, id: OrgUnitId, simplified: bool) -> StoreResult<Option<Vec<u8>>>;
    /// The stored boundaries of some units of the account, full or simplified, for units that have
    /// one (the caller has already scoped `ids`, e.g. from a list).
    async fn shapes_wkb(
        &self,
        account: AccountId,
        ids: &[OrgUnitId],
        simplified: bool,
    ) -> StoreResult<Vec<(OrgUnitId, Vec<u8>)>>;
    /// Which of `ids` (units of the account) have at least one child.
    async fn with_children(&self, account: AccountId, ids: &[OrgUnitId]) -> StoreResult<Vec<OrgUnitId>>;
    /// Audit entries of one object, newest first.
    async fn history(&self, account: AccountId, content_type: &str, object_id: &str) -> StoreResult<Vec<Modification>>;
}

/// Org-unit groups. Members belong to the group's version; changes are audited.
#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn create(&self, account: AccountId, actor: Option<UserId>, group: GroupInput) -> StoreResult<Group>;
    async fn get(&self, account: AccountId, id: GroupId) -> StoreResult<Option<Group>>;
    /// The account's groups, or those of some versions, by name.
    async fn list(&self, account: AccountId, versions: &[SourceVersionId]) -> StoreResult<Vec<Group>>;
    /// Renames or re-references a group (its version cannot change).
    async fn update(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        id: GroupId,
        group: GroupInput,
    ) -> StoreResult<Group>;
    async fn delete(&self, account: AccountId, actor: Option<UserId>, id: GroupId) -> StoreResult<()>;
    /// Adds and removes members. Every unit must be in the scope and the group's version.
    async fn change_members(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        id: GroupId,
        add: &[OrgUnitId],
        remove: &[OrgUnitId],
    ) -> StoreResult<Group>;
    /// The groups each of `units` belongs to.
    async fn groups_of(&self, account: AccountId, units: &[OrgUnitId]) -> StoreResult<Vec<(OrgUnitId, Group)>>;
}

/// Group sets: named sets of groups of one version. Changes are audited.
#[async_trait]
pub trait GroupSetStore: Send + Sync {
    /// Every group must belong to the set's version.
    async fn create(&self, account: AccountId, actor: Option<UserId>, set: GroupSetInput) -> StoreResult<GroupSet>;
    async fn get(&self, account: AccountId, id: GroupSetId) -> StoreResult<Option<GroupSet>>;
    /// The account's group sets, or those of some versions, by name.
    async fn list(&self, account: AccountId, versions: &[SourceVersionId]) -> StoreResult<Vec<GroupSet>>;
    /// Replaces name, reference, belonging and groups (its version cannot change).
    async fn update(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        id: GroupSetId,
        set: GroupSetInput,
    ) -> StoreResult<GroupSet>;
    async fn delete(&self, account: AccountId, actor: Option<UserId>, id: GroupSetId) -> StoreResult<()>;
}

/// Whether a worker still holds a running task, and whether it was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Held {
        should_be_killed: bool,
    },
    /// The task is no longer this worker's (its lease expired and it was given to another, or it
    /// ended): the worker must drop it without writing anything more.
    Lost,
}

/// Background tasks: the account's view (queue, list, kill, relaunch) and the workers' (claim,
/// progress, finish). The workers' methods serve every account and act only through the claim the
/// worker holds (`worker` is its unique name).
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Queues a task and wakes the workers.
    async fn enqueue(&self, account: AccountId, task: NewTask) -> StoreResult<Task>;
    async fn get(&self, account: AccountId, id: TaskId) -> StoreResult<Option<Task>>;
    /// The account's tasks, newest first unless asked otherwise.
    async fn list(&self, account: AccountId, query: &TaskQuery) -> StoreResult<Page<Task>>;
    /// Sets or clears the kill request. A queued task that is to be killed is KILLED at once; a
    /// running one at its next progress report. An ended task is returned unchanged.
    async fn set_should_be_killed(&self, account: AccountId, id: TaskId, kill: bool) -> StoreResult<Task>;
    /// Queues an ERRORED or KILLED task again with its parameters, progress and attempts reset;
    /// any other status is a `Conflict`.
    async fn relaunch(&self, account: AccountId, id: TaskId) -> StoreResult<Task>;
    /// The task's progress messages, oldest first.
    async fn logs(&self, account: AccountId, id: TaskId) -> StoreResult<Vec<TaskLog>>;

    /// Takes the oldest due task among `names` for `worker`: RUNNING, leased until `lease` from now,
    /// one attempt more. Atomic: no two workers ever claim the same task.
    async fn claim(&self, worker: &str, names: &[&str], lease: std::time::Duration) -> StoreResult<Option<Task>>;
    /// Extends the worker's lease.
    async fn heartbeat(&self, id: TaskId, worker: &str, lease: std::time::Duration) -> StoreResult<Lease>;
    /// Stores progress (a message is also appended to the task's log) and extends the lease.
    async fn report_progress(
        &self,
        id: TaskId,
        worker: &str,
        progress: &Progress,
        lease: std::time::Duration,
    ) -> StoreResult<Lease>;
    /// Ends the run with its outcome and result; `false` when the worker no longer held the task
    /// (nothing is written then).
    async fn finish(&self, id: TaskId, worker: &str, outcome: &TaskOutcome) -> StoreResult<bool>;
    /// Gives a running task back to the queue without counting the attempt (a worker shutting down).
    async fn release(&self, id: TaskId, worker: &str) -> StoreResult<bool>;
    /// Tasks whose worker stopped renewing its lease: queued again while attempts remain, KILLED if
    /// a kill was asked, ERRORED otherwise. Returns how many were recovered.
    async fn recover_expired(&self) -> StoreResult<u64>;
    /// Changes whenever tasks may have been queued (by this process, or on PostgreSQL by any
    /// process through LISTEN/NOTIFY); workers wait on it between polls.
    fn queued_signal(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// Validation as a store error, for backends that validate before writing.
impl From<ValidationError> for StoreError {
    fn from(err: ValidationError) -> Self {
        StoreError::Invalid(err)
    }
}

//! Hygeia's domain: the types every other crate speaks, and the rules that need no I/O.
//!
//! Nothing here touches a database, a file or the network; storage backends and the HTTP layer
//! depend on this crate, never the other way round.

pub mod account;
pub mod form;
pub mod ids;
pub mod orgunit;
pub mod period;
pub mod permission;
pub mod project;
pub mod submission;
pub mod task;
pub mod tree_changes;
pub mod user;
pub mod validate;

pub use account::{Account, NewAccount};
pub use form::{
    DeletedForms, Form, FormAttachment, FormField, FormInput, FormQuery, FormVersion, NewFormVersion, PeriodType,
};
pub use ids::{
    AccountId, FormAttachmentId, FormId, FormVersionId, ProfileId, ProjectId, SubmissionFileId, SubmissionId, TaskId,
    UserId, UserRoleId,
};
pub use orgunit::{
    BoundingBox, BulkOrgUnitChange, DataSource, DataSourceId, DataSourceInput, Geography, Group, GroupBelonging,
    GroupId, GroupInput, GroupSet, GroupSetId, GroupSetInput, Location, Modification, NewOrgUnit, OrgUnit, OrgUnitId,
    OrgUnitOrder, OrgUnitQuery, OrgUnitScope, OrgUnitSearch, OrgUnitSelection, OrgUnitType, OrgUnitTypeId,
    OrgUnitTypeInput, OrgUnitUpdate, Page, ParentFilter, ShapeData, SourceVersion, SourceVersionId, TreePath,
    ValidationStatus,
};
pub use permission::Permission;
pub use project::{AppToken, FeatureFlag, NewAppToken, NewProject, Project, ProjectUpdate};
pub use submission::{
    Payload, PayloadChannel, PayloadPart, ReceivedXml, Submission, SubmissionFile, SubmissionMetadata, SubmissionQuery,
    SubmissionStatus, XmlOutcome,
};
pub use task::{NewTask, Progress, Task, TaskLog, TaskOutcome, TaskQuery, TaskStatus};
pub use tree_changes::{
    PlannedGroup, PlannedGroupInput, PlannedGroupSet, PlannedUnit, PlannedUpdate, TreeChanges, TreeChangesApplied,
};
pub use user::{Credentials, NewUser, ProfileUpdate, UserProfile, UserRole, UserRoleInput, UserRoleRef};
pub use validate::{FieldErrors, ValidationError};

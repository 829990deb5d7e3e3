//! Typed ids, so that a project id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An account: the tenant that owns projects, users, sources and data.
    AccountId
);
id_type!(
    /// A login identity (username + password).
    UserId
);
id_type!(
    /// A user's membership of an account, with its permissions and restrictions.
    ProfileId
);
id_type!(
    /// A data-collection project (one mobile app build, identified by `app_id`).
    ProjectId
);
id_type!(
    /// A named set of permissions granted to profiles of one account.
    UserRoleId
);
id_type!(
    /// A data source: the origin of a tree (a DHIS2 server, a ministry's file).
    DataSourceId
);
id_type!(
    /// One numbered snapshot of a data source's tree.
    SourceVersionId
);
id_type!(
    /// A level of the tree ("District", "Health facility").
    OrgUnitTypeId
);
id_type!(
    /// A node of the tree.
    OrgUnitId
);
id_type!(
    /// A group of org units of one version.
    GroupId
);
id_type!(
    /// A set of groups of one version (DHIS2's organisation unit group set).
    GroupSetId
);
id_type!(
    /// A background task (an import, an export, a bulk change).
    TaskId
);
id_type!(
    /// A form: the survey, across all its versions.
    FormId
);
id_type!(
    /// One uploaded XLSForm of a form, converted to an XForm.
    FormVersionId
);
id_type!(
    /// A file the form's questions use (`select_one_from_file` lists, media).
    FormAttachmentId
);
id_type!(
    /// A submission: one filled form (Iaso's instance).
    SubmissionId
);
id_type!(
    /// A file that came with a submission (a photo, an audit log).
    SubmissionFileId
);

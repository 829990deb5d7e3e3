//! Iaso's permission codenames (`iaso-spec.md` §2.1). Clients test for these exact strings, so they
//! are kept verbatim; the module says which account module must be enabled to grant them.

use serde::Serialize;

/// One grantable permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Permission {
    pub codename: &'static str,
    /// The account module that must be active for this permission to be granted; `None` = always.
    pub module: Option<&'static str>,
    pub description: &'static str,
}

macro_rules! permissions {
    ($($const:ident = $code:literal, $module:expr, $desc:literal;)*) => {
        $(pub const $const: &str = $code;)*
        /// Every permission Hygeia knows, in Iaso's order.
        pub const ALL: &[Permission] = &[
            $(Permission { codename: $code, module: $module, description: $desc },)*
        ];
    };
}

const DEFAULT: Option<&str> = Some("DEFAULT");
const FORMS: Option<&str> = Some("DATA_COLLECTION_FORMS");

permissions! {
    FORMS_MANAGE = "iaso_forms", FORMS, "Manage forms, versions and attachments; read org units and submissions";
    SUBMISSIONS = "iaso_submissions", FORMS, "Read submissions, their exports and attachments";
    UPDATE_SUBMISSION = "iaso_update_submission", FORMS, "Edit submissions";
    FORMS_STATS = "iaso_forms_stats", FORMS, "Forms statistics";
    COMPLETENESS_STATS = "iaso_completeness_stats", FORMS, "Completeness statistics";
    COMPLETENESS = "iaso_completeness", Some("COMPLETENESS_PER_PERIOD"), "Completeness per period";
    ORG_UNITS = "iaso_org_units", DEFAULT, "Create and edit org units";
    ORG_UNITS_READ = "iaso_org_units_read", DEFAULT, "Read org units";
    ORG_UNITS_HISTORY = "iaso_org_units_history", DEFAULT, "Org unit history";
    ORG_UNIT_TYPES = "iaso_org_unit_types", DEFAULT, "Manage org unit types";
    ORG_UNIT_GROUPS = "iaso_org_unit_groups", DEFAULT, "Manage org unit groups";
    CHANGE_REQUEST_REVIEW = "iaso_org_unit_change_request_review", Some("DATA_VALIDATION"), "Review change requests";
    CHANGE_REQUEST_CONFIGURATIONS = "iaso_org_unit_change_request_configurations", Some("DATA_VALIDATION"), "Manage change request configurations";
    SOURCES = "iaso_sources", DEFAULT, "Read data sources and versions; launch imports";
    WRITE_SOURCES = "iaso_write_sources", DEFAULT, "Create and update data sources";
    SOURCES_CHANGE_DEFAULT_VERSION = "iaso_sources_can_change_default_version", DEFAULT, "Change the default version";
    LINKS = "iaso_links", DEFAULT, "Links and algorithm runs";
    MAPPINGS = "iaso_mappings", Some("DHIS2_MAPPING"), "DHIS2 mappings and export requests";
    DATA_TASKS = "iaso_data_tasks", DEFAULT, "See, kill and relaunch the account's tasks";
    PROJECTS = "iaso_projects", DEFAULT, "Manage projects";
    USERS = "iaso_users", DEFAULT, "Manage all users of the account";
    USERS_MANAGED = "iaso_users_managed", DEFAULT, "Manage users inside one's own org-unit subtree";
    USER_ROLES = "iaso_user_roles", DEFAULT, "Manage user roles";
    TEAMS = "iaso_teams", DEFAULT, "Manage teams";
    MODULES = "iaso_modules", DEFAULT, "Manage modules";
    ACCOUNT_MANAGEMENT = "iaso_account_management", DEFAULT, "Manage the account";
    METRIC_TYPES = "iaso_metric_types", DEFAULT, "Manage metric types";
    REPORTS = "iaso_reports", DEFAULT, "Reports";
    MOBILE_APP_OFFLINE_SETUP = "iaso_mobile_app_offline_setup", DEFAULT, "Mobile app offline setup";
    PIPELINE_MANAGEMENT = "iaso_pipeline_management", DEFAULT, "Pipeline management";
    ENTITIES = "iaso_entities", Some("ENTITIES"), "Beneficiaries";
    ENTITY_TYPE_WRITE = "iaso_entity_type_write", Some("ENTITIES"), "Manage entity types";
    ENTITY_DUPLICATES_READ = "iaso_entity_duplicates_read", Some("ENTITIES"), "Read entity duplicates";
    ENTITY_DUPLICATES_WRITE = "iaso_entity_duplicates_write", Some("ENTITIES"), "Resolve entity duplicates";
    WORKFLOWS = "iaso_workflows", Some("ENTITIES"), "Workflows";
    PLANNING_READ = "iaso_planning_read", Some("PLANNING"), "Read plannings";
    PLANNING_WRITE = "iaso_planning_write", Some("PLANNING"), "Write plannings";
    ASSIGNMENTS = "iaso_assignments", Some("PLANNING"), "Assignments";
    REGISTRY_READ = "iaso_registry_read", Some("REGISTRY"), "Read the registry";
    REGISTRY_WRITE = "iaso_registry_write", Some("REGISTRY"), "Write the registry";
    PAGES = "iaso_pages", Some("EMBEDDED_LINKS"), "Embedded pages";
    PAGE_WRITE = "iaso_page_write", Some("EMBEDDED_LINKS"), "Write embedded pages";
    PAYMENTS = "iaso_payments", Some("PAYMENTS"), "Payments";
    STOCK_MANAGEMENT = "iaso_stock_management", Some("STOCK_MANAGEMENT"), "Stock management";
    STORAGES = "iaso_storages", Some("EXTERNAL_STORAGE"), "External storages";
    VALIDATION_WORKFLOWS = "iaso_validation_workflows", Some("VALIDATION_WORKFLOW"), "Validation workflows";
    DATASTORE_READ = "iaso_datastore_read", None, "Read the datastore";
    DATASTORE_WRITE = "iaso_datastore_write", None, "Write the datastore";
}

/// The permission with this codename, if Hygeia knows it.
pub fn find(codename: &str) -> Option<&'static Permission> {
    ALL.iter().find(|p| p.codename == codename)
}

/// Checks a list of codenames: each must be known. Returns the unknown ones, in input order.
pub fn unknown<'a>(codenames: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    codenames.into_iter().filter(|c| find(c).is_none()).collect()
}

/// Of `codenames`, those that an account with `modules` enabled cannot grant (Iaso grants a
/// permission only when its module is active). Unknown codenames are not listed here.
pub fn not_grantable<'a>(codenames: impl IntoIterator<Item = &'a str>, modules: &[String]) -> Vec<&'a str> {
    codenames
        .into_iter()
        .filter(|c| find(c).and_then(|p| p.module).is_some_and(|module| !modules.iter().any(|m| m == module)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_account_modules() {
        let modules = vec!["DEFAULT".to_owned()];
        assert_eq!(not_grantable(["iaso_org_units", "iaso_forms", "iaso_datastore_read"], &modules), ["iaso_forms"]);
    }

    #[test]
    fn codenames_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for p in ALL {
            assert!(p.codename.starts_with("iaso_"), "{}", p.codename);
            assert!(seen.insert(p.codename), "duplicate {}", p.codename);
        }
        assert_eq!(find(ORG_UNITS).map(|p| p.module), Some(Some("DEFAULT")));
    }

    #[test]
    fn unknown_lists_only_unknown_codenames() {
        assert_eq!(unknown(["iaso_users", "iaso_nope", "users"]), vec!["iaso_nope", "users"]);
    }
}

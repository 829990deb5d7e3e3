//! Conformance checks of forms, their versions and attachments.

use chrono::NaiveDate;
use hygeia_core::{
    AccountId, DeletedForms, FormField, FormInput, FormQuery, NewFormVersion, NewProject, OrgUnitTypeInput, PeriodType,
    ProjectId,
};
use serde_json::json;

use super::{account, assert_conflict, assert_invalid, assert_not_found};
use crate::Store;

async fn project(store: &dyn Store, account: AccountId, app_id: &str) -> ProjectId {
    store.projects().create(account, NewProject::new(app_id, app_id)).await.unwrap().id
}

fn field(name: &str, label: &str) -> FormField {
    FormField { name: name.into(), label: label.into(), field_type: "text".into() }
}

fn version(xform_id: &str, version_id: Option<&str>, fields: Vec<FormField>) -> NewFormVersion {
    NewFormVersion {
        xform_id: xform_id.into(),
        version_id: version_id.map(str::to_owned),
        file_key: format!("accounts/1/form_versions/{xform_id}.xml"),
        xls_file_key: Some(format!("accounts/1/form_versions/{xform_id}.xlsx")),
        md5: "1b272af4249882c47341bdcf2d4db1cd".into(),
        descriptor: json!({"name": "data", "type": "survey", "id_string": xform_id}),
        possible_fields: fields,
        start_period: None,
        end_period: None,
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

pub async fn forms_round_trip_and_filter(store: &dyn Store) {
    let acc = account(store, "A").await;
    let (p1, p2) = (project(store, acc, "a.one").await, project(store, acc, "a.two").await);
    let hf = store
        .org_unit_types()
        .create(acc, None, OrgUnitTypeInput { name: "HF".into(), short_name: "HF".into(), ..Default::default() })
        .await
        .unwrap();
    let mut input = FormInput::new("Child Programme", vec![p1]);
    input.org_unit_type_ids = vec![hf.id];
    input.period_type = Some(PeriodType::Month);
    input.periods_before_allowed = 2;
    input.label_keys = vec!["child_name".into()];
    input.legend_threshold = Some(json!({"green": 5}));
    let child = store.forms().create(acc, input.clone()).await.unwrap();
    assert_eq!(child.input, input);
    assert_eq!((child.form_id.as_deref(), child.deleted_at), (None, None));
    assert_eq!(store.forms().get(acc, child.id).await.unwrap(), Some(child.clone()));
    let census = store.forms().create(acc, FormInput::new("census", vec![p2])).await.unwrap();

    let names = |forms: Vec<hygeia_core::Form>| forms.into_iter().map(|f| f.input.name).collect::<Vec<_>>();
    let all = FormQuery::default();
    assert_eq!(names(store.forms().list(acc, &all).await.unwrap()), ["Child Programme", "census"]);
    let of_p2 = FormQuery { project_ids: vec![p2], ..Default::default() };
    assert_eq!(names(store.forms().list(acc, &of_p2).await.unwrap()), ["census"]);
    let of_hf = FormQuery { org_unit_type_ids: vec![hf.id], ..Default::default() };
    assert_eq!(names(store.forms().list(acc, &of_hf).await.unwrap()), ["Child Programme"]);
    let search = FormQuery { search: Some("PROG".into()), ..Default::default() };
    assert_eq!(names(store.forms().list(acc, &search).await.unwrap()), ["Child Programme"]);
    let wildcard = FormQuery { search: Some("%".into()), ..Default::default() };
    assert!(store.forms().list(acc, &wildcard).await.unwrap().is_empty(), "search text is literal");

    let mut changed = input.clone();
    changed.name = "Child Programme v2".into();
    changed.project_ids = vec![p1, p2];
    changed.period_type = None;
    changed.periods_before_allowed = 0;
    let updated = store.forms().update(acc, child.id, changed.clone()).await.unwrap();
    assert_eq!(updated.input, changed);

    let deleted = store.forms().set_deleted(acc, census.id, true).await.unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(names(store.forms().list(acc, &all).await.unwrap()), ["Child Programme v2"]);
    let only = FormQuery { deleted: DeletedForms::Only, ..Default::default() };
    assert_eq!(names(store.forms().list(acc, &only).await.unwrap()), ["census"]);
    let restored = store.forms().set_deleted(acc, census.id, false).await.unwrap();
    assert_eq!(restored.deleted_at, None);
    assert_eq!(store.forms().list(acc, &all).await.unwrap().len(), 2);

    // Bad input and foreign references change nothing.
    assert_invalid(store.forms().create(acc, FormInput::new(" ", vec![p1])).await, "name");
    let other = account(store, "B").await;
    let foreign = project(store, other, "b.one").await;
    assert_invalid(store.forms().create(acc, FormInput::new("Stolen", vec![foreign])).await, "project_ids");
    assert_invalid(store.forms().update(acc, child.id, FormInput::new("X", vec![foreign])).await, "project_ids");
    assert_eq!(store.forms().get(acc, child.id).await.unwrap().unwrap().input, changed);
    assert_eq!(store.forms().list(acc, &all).await.unwrap().len(), 2);

    // Another account sees none of it.
    assert_eq!(store.forms().get(other, child.id).await.unwrap(), None);
    assert!(store.forms().list(other, &all).await.unwrap().is_empty());
    assert_not_found(store.forms().update(other, child.id, FormInput::new("X", vec![foreign])).await);
    assert_not_found(store.forms().set_deleted(other, child.id, true).await);
}

pub async fn form_versions_keep_the_form_id_and_increase(store: &dyn Store) {
    let acc = account(store, "A").await;
    let p = project(store, acc, "a.one").await;
    let form = store.forms().create(acc, FormInput::new("Child Programme", vec![p])).await.unwrap();
    let first = store
        .forms()
        .create_version(
            acc,
            None,
            form.id,
            version("eventtracker", None, vec![field("a", "A"), field("b", "B")]),
            day(),
        )
        .await
        .unwrap();
    assert_eq!(first.version_id, "2026112201", "generated: the day and its first revision");
    assert_eq!(first.descriptor["id_string"], "eventtracker");
    let second = store
        .forms()
        .create_version(
            acc,
            None,
            form.id,
            version("eventtracker", None, vec![field("b", "B2"), field("c", "C")]),
            day(),
        )
        .await
        .unwrap();
    assert_eq!(second.version_id, "2026112202");
    let form_now = store.forms().get(acc, form.id).await.unwrap().unwrap();
    assert_eq!(form_now.form_id.as_deref(), Some("eventtracker"));
    assert_eq!(form_now.possible_fields, [field("a", "A"), field("b", "B2"), field("c", "C")]);

    // A different form_id, a smaller or malformed version: refused, nothing written.
    assert_conflict(
        store.forms().create_version(acc, None, form.id, version("other_id", None, vec![]), day()).await,
        "xls_file",
    );
    assert_invalid(
        store.forms().create_version(acc, None, form.id, version("eventtracker", Some("12"), vec![]), day()).await,
        "xls_file",
    );
    assert_invalid(
        store.forms().create_version(acc, None, form.id, version("eventtracker", Some("v3"), vec![]), day()).await,
        "xls_file",
    );
    let given = store
        .forms()
        .create_version(acc, None, form.id, version("eventtracker", Some("2027000000"), vec![]), day())
        .await
        .unwrap();
    assert_eq!(given.version_id, "2027000000");
    let versions = store.forms().versions(acc, Some(form.id)).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version_id.as_str()).collect::<Vec<_>>(),
        ["2026112201", "2026112202", "2027000000"]
    );
    assert_eq!(store.forms().version(acc, first.id).await.unwrap(), Some(first.clone()));
    let latest = store.forms().latest_versions(acc, &[form.id]).await.unwrap();
    assert_eq!(latest[&form.id].id, given.id);
    let with_versions = FormQuery { with_versions: true, ..Default::default() };
    let bare = store.forms().create(acc, FormInput::new("No versions yet", vec![p])).await.unwrap();
    assert_eq!(
        store.forms().list(acc, &with_versions).await.unwrap().iter().map(|f| f.id).collect::<Vec<_>>(),
        [form.id]
    );

    // The form_id names one form of the account; another account may reuse it.
    assert_conflict(
        store.forms().create_version(acc, None, bare.id, version("eventtracker", None, vec![]), day()).await,
        "xls_file",
    );
    assert_eq!(store.forms().get(acc, bare.id).await.unwrap().unwrap().form_id, None);
    let other = account(store, "B").await;
    let q = project(store, other, "b.one").await;
    let theirs = store.forms().create(other, FormInput::new("Theirs", vec![q])).await.unwrap();
    store.forms().create_version(other, None, theirs.id, version("eventtracker", None, vec![]), day()).await.unwrap();

    // Tenancy: versions are reached only through their form's account.
    assert_eq!(store.forms().version(other, first.id).await.unwrap(), None);
    assert_not_found(
        store.forms().create_version(other, None, form.id, version("eventtracker", None, vec![]), day()).await,
    );
    assert!(store.forms().versions(other, Some(form.id)).await.unwrap().is_empty());
    assert!(store.forms().latest_versions(other, &[form.id]).await.unwrap().is_empty());
    assert_eq!(store.forms().versions(other, None).await.unwrap().len(), 1);

    // A deleted form takes no version.
    store.forms().set_deleted(acc, form.id, true).await.unwrap();
    assert_invalid(
        store.forms().create_version(acc, None, form.id, version("eventtracker", None, vec![]), day()).await,
        "form_id",
    );
}

pub async fn form_attachments_are_named_once_per_form(store: &dyn Store) {
    let acc = account(store, "A").await;
    let p = project(store, acc, "a.one").await;
    let form = store.forms().create(acc, FormInput::new("Villages", vec![p])).await.unwrap();
    let csv = store.forms().add_attachment(acc, form.id, "villages.csv", "k1", "abc").await.unwrap();
    store.forms().add_attachment(acc, form.id, "a.png", "k2", "def").await.unwrap();
    assert_conflict(store.forms().add_attachment(acc, form.id, "villages.csv", "k3", "x").await, "name");
    assert_invalid(store.forms().add_attachment(acc, form.id, "../etc/passwd", "k4", "x").await, "name");
    let names: Vec<String> =
        store.forms().attachments(acc, form.id).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["a.png", "villages.csv"]);
    assert_eq!(store.forms().attachment(acc, csv.id).await.unwrap(), Some(csv.clone()));

    let other = account(store, "B").await;
    assert_not_found(store.forms().add_attachment(other, form.id, "x.csv", "k5", "x").await);
    assert_eq!(store.forms().attachment(other, csv.id).await.unwrap(), None);
    assert!(store.forms().attachments(other, form.id).await.unwrap().is_empty());
    assert_not_found(store.forms().delete_attachment(other, csv.id).await);

    let removed = store.forms().delete_attachment(acc, csv.id).await.unwrap();
    assert_eq!(removed.file_key, "k1");
    assert_eq!(store.forms().attachments(acc, form.id).await.unwrap().len(), 1);
    assert_not_found(store.forms().delete_attachment(acc, csv.id).await);
}

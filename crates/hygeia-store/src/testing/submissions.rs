//! Conformance checks of submissions: the two ways they arrive, duplicates, edits, files,
//! lists with Iaso's filters and status, tenancy and subtrees, raw payloads.

use hygeia_core::{
    AccountId, DataSourceInput, FormId, FormInput, NewOrgUnit, NewProject, OrgUnitId, OrgUnitScope, PayloadChannel,
    PayloadPart, ReceivedXml, SourceVersionId, SubmissionMetadata, SubmissionQuery, SubmissionStatus, ValidationStatus,
    XmlOutcome,
};
use serde_json::json;

use super::{account, assert_invalid, assert_not_found};
use crate::{InlineFile, NewPayload, Store};

struct Setup {
    account: AccountId,
    form: FormId,
    version: SourceVersionId,
}

async fn setup(store: &dyn Store, name: &str) -> Setup {
    let account = account(store, name).await;
    let project = store.projects().create(account, NewProject::new(name, format!("{name}.app"))).await.unwrap();
    let mut input = FormInput::new("Visit", vec![project.id]);
    input.single_per_period = true;
    let form = store.forms().create(account, input).await.unwrap().id;
    let source = store
        .sources()
        .create_source(account, DataSourceInput { name: name.into(), ..Default::default() })
        .await
        .unwrap();
    let version = store.sources().create_version(account, source.id, "v1").await.unwrap().id;
    Setup { account, form, version }
}

async fn unit(store: &dyn Store, setup: &Setup, name: &str, parent: Option<OrgUnitId>) -> OrgUnitId {
    let mut new = NewOrgUnit::new(setup.version, name);
    new.parent_id = parent;
    new.validation_status = ValidationStatus::Valid;
    store.org_units().create(&OrgUnitScope::whole_account(setup.account), None, new).await.unwrap().id
}

fn xml(setup: &Setup, uuid: &str, file_name: &str, md5: &str) -> ReceivedXml {
    ReceivedXml {
        uuid: uuid.into(),
        replaces: None,
        file_name: file_name.into(),
        form_id: setup.form,
        form_version_id: None,
        project_id: None,
        file_key: format!("submissions/{uuid}/{md5}.xml"),
        xml_md5: md5.into(),
        json: json!({"name": "Awa", "instanceID": format!("uuid:{uuid}")}),
        answers: json!({"name": "Awa"}),
        name: None,
        latitude: Some(12.3),
        longitude: Some(-1.5),
        altitude: Some(300.0),
        accuracy: Some(5.0),
        device_id: Some("imei:1".into()),
        org_unit_id: None,
        period: None,
        created_by: None,
        payload_id: None,
    }
}

fn metadata(setup: &Setup, uuid: &str, file_name: &str, unit: OrgUnitId) -> SubmissionMetadata {
    SubmissionMetadata {
        uuid: uuid.into(),
        file_name: file_name.into(),
        form_id: Some(setup.form),
        org_unit_id: Some(unit),
        period: Some("202611".into()),
        latitude: Some(10.0),
        longitude: Some(2.0),
        ..Default::default()
    }
}

pub async fn submissions_arrive_in_either_order_and_meet_on_the_file_name(store: &dyn Store) {
    let s = setup(store, "A").await;
    let unit = unit(store, &s, "Clinic", None).await;
    let subs = store.submissions();

    // Metadata first: a submission awaiting its XML, not listed yet.
    let waiting = subs.record_metadata(s.account, metadata(&s, "u1", "a.xml", unit)).await.unwrap();
    assert_eq!((waiting.file_key.as_deref(), waiting.org_unit_id), (None, Some(unit)));
    let scope = OrgUnitScope::whole_account(s.account);
    assert_eq!(subs.list(&scope, &SubmissionQuery::default()).await.unwrap().count, 0);
    let XmlOutcome::Created(complete) = subs.record_xml(s.account, xml(&s, "u1", "a.xml", "m1")).await.unwrap() else {
        panic!("the XML completes the submission")
    };
    assert_eq!(complete.id, waiting.id);
    // The phone's location wins over the form's location field.
    assert_eq!((complete.latitude, complete.period.as_deref()), (Some(10.0), Some("202611")));
    assert_eq!(complete.json.as_ref().unwrap()["name"], "Awa");

    // XML first, under an instance id the metadata does not know: the file name joins them.
    let XmlOutcome::Created(first) = subs.record_xml(s.account, xml(&s, "x2", "b.xml", "m2")).await.unwrap() else {
        panic!("a new submission")
    };
    let joined = subs.record_metadata(s.account, metadata(&s, "phone-2", "b.xml", unit)).await.unwrap();
    assert_eq!((joined.id, joined.org_unit_id), (first.id, Some(unit)));
    // The metadata again (the phone retries): nothing new.
    let again = subs.record_metadata(s.account, metadata(&s, "u1", "a.xml", unit)).await.unwrap();
    assert_eq!(again.id, waiting.id);
    assert_eq!(subs.list(&scope, &SubmissionQuery::default()).await.unwrap().count, 2);
    assert!(!complete.export_id.is_empty() && complete.export_id != first.export_id);
}

pub async fn duplicates_conflicts_and_edits_follow_the_instance_id(store: &dyn Store) {
    let s = setup(store, "A").await;
    let subs = store.submissions();
    let XmlOutcome::Created(created) = subs.record_xml(s.account, xml(&s, "u1", "a.xml", "m1")).await.unwrap() else {
        panic!()
    };
    assert!(
        matches!(subs.record_xml(s.account, xml(&s, "u1", "a.xml", "m1")).await.unwrap(), XmlOutcome::Duplicate(d) if d.id == created.id)
    );
    assert!(matches!(
        subs.record_xml(s.account, xml(&s, "u1", "a.xml", "other")).await.unwrap(),
        XmlOutcome::Conflict(_)
    ));

    let mut edit = xml(&s, "u2", "a.xml", "m2");
    edit.replaces = Some("u1".into());
    let XmlOutcome::Edited(edited) = subs.record_xml(s.account, edit.clone()).await.unwrap() else { panic!("an edit") };
    assert_eq!((edited.id, edited.uuid.as_str(), edited.edits), (created.id, "u2", 1));
    assert_eq!(
        subs.history(s.account, created.id).await.unwrap(),
        [("u1".to_owned(), "submissions/u1/m1.xml".to_owned())]
    );
    // The same edit again (a retry) is a duplicate; an edit of an unknown instance is refused.
    assert!(matches!(subs.record_xml(s.account, edit).await.unwrap(), XmlOutcome::Duplicate(_)));
    let mut orphan = xml(&s, "u9", "z.xml", "m9");
    orphan.replaces = Some("nope".into());
    assert_eq!(subs.record_xml(s.account, orphan).await.unwrap(), XmlOutcome::UnknownDeprecated);

    // Files: one per name, the last one wins.
    subs.add_file(s.account, created.id, "photo.jpg", "k1", "f1", 10).await.unwrap();
    subs.add_file(s.account, created.id, "photo.jpg", "k2", "f2", 20).await.unwrap();
    subs.add_file(s.account, created.id, "audit.csv", "k3", "f3", 30).await.unwrap();
    let files = subs.files(s.account, created.id).await.unwrap();
    assert_eq!(
        files.iter().map(|f| (f.name.as_str(), f.file_key.as_str())).collect::<Vec<_>>(),
        [("audit.csv", "k3"), ("photo.jpg", "k2")]
    );
    assert_eq!(subs.file(s.account, files[0].id).await.unwrap().unwrap().size, 30);
}

pub async fn submission_lists_filter_scope_and_derive_the_status(store: &dyn Store) {
    let s = setup(store, "A").await;
    let subs = store.submissions();
    let region = unit(store, &s, "North", None).await;
    let clinic = unit(store, &s, "North Clinic", Some(region)).await;
    let south = unit(store, &s, "South", None).await;
    let put = |uuid: &'static str, unit: OrgUnitId, period: &'static str| {
        let mut x = xml(&s, uuid, &format!("{uuid}.xml"), uuid);
        x.org_unit_id = Some(unit);
        x.period = Some(period.into());
        x
    };
    for x in [put("a", clinic, "202611"), put("b", clinic, "202611"), put("c", south, "202610")] {
        subs.record_xml(s.account, x).await.unwrap();
    }
    let whole = OrgUnitScope::whole_account(s.account);
    let uuids = |page: hygeia_core::Page<(hygeia_core::Submission, SubmissionStatus)>| {
        let mut v: Vec<(String, SubmissionStatus)> = page.items.into_iter().map(|(s, st)| (s.uuid, st)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    // Two live submissions of a single-per-period form on one unit and period are duplicates.
    assert_eq!(
        uuids(subs.list(&whole, &SubmissionQuery::default()).await.unwrap()),
        [
            ("a".to_owned(), SubmissionStatus::Duplicated),
            ("b".to_owned(), SubmissionStatus::Duplicated),
            ("c".to_owned(), SubmissionStatus::Ready)
        ]
    );
    let ready = SubmissionQuery { status: Some(SubmissionStatus::Ready), ..Default::default() };
    assert_eq!(uuids(subs.list(&whole, &ready).await.unwrap()).len(), 1);
    let under_north = SubmissionQuery { org_unit_parent: Some(region), ..Default::default() };
    assert_eq!(subs.list(&whole, &under_north).await.unwrap().count, 2);
    let october = SubmissionQuery { periods: vec!["202610".into()], ..Default::default() };
    assert_eq!(uuids(subs.list(&whole, &october).await.unwrap())[0].0, "c");
    let search = SubmissionQuery { search: Some("north cl".into()), limit: Some(1), ..Default::default() };
    let page = subs.list(&whole, &search).await.unwrap();
    assert_eq!((page.count, page.items.len()), (2, 1));
    // Keyset pages (exports): in id order after the last one seen, with the statuses, no count.
    let mut seen = Vec::new();
    let mut after = Some(hygeia_core::SubmissionId(0));
    while let Some(last) = after {
        let query = SubmissionQuery { after_id: Some(last), limit: Some(2), ..Default::default() };
        let page = subs.list(&whole, &query).await.unwrap();
        assert_eq!(page.count, 0);
        after = page.items.last().map(|(s, _)| s.id);
        seen.extend(page.items.into_iter().map(|(s, status)| (s.uuid, status)));
    }
    assert_eq!(
        seen,
        [
            ("a".to_owned(), SubmissionStatus::Duplicated),
            ("b".to_owned(), SubmissionStatus::Duplicated),
            ("c".to_owned(), SubmissionStatus::Ready)
        ]
    );

    // A user restricted to the north sees the north only.
    let north_only = OrgUnitScope { account: s.account, roots: vec![region] };
    assert_eq!(subs.list(&north_only, &SubmissionQuery::default()).await.unwrap().count, 2);

    // Deleting one ends the duplication; deleted ones are listed apart; restoring brings it back.
    let b = subs.find_by_uuid(s.account, "b").await.unwrap().unwrap();
    assert_eq!(subs.set_deleted(s.account, &[b.id], true).await.unwrap(), 1);
    assert_eq!(subs.set_deleted(s.account, &[b.id], true).await.unwrap(), 0);
    assert_eq!(uuids(subs.list(&whole, &SubmissionQuery::default()).await.unwrap())[0].1, SubmissionStatus::Ready);
    let deleted = SubmissionQuery { deleted: true, ..Default::default() };
    assert_eq!(uuids(subs.list(&whole, &deleted).await.unwrap())[0].0, "b");

    // Moving to another unit and period.
    let moved = subs.update(s.account, b.id, Some(Some(south)), Some(Some("202612".into())), None).await.unwrap();
    assert_eq!((moved.org_unit_id, moved.period.as_deref()), (Some(south), Some("202612")));
}

pub async fn submissions_stay_within_their_account(store: &dyn Store) {
    let a = setup(store, "A").await;
    let b = setup(store, "B").await;
    let b_unit = unit(store, &b, "B clinic", None).await;
    let subs = store.submissions();
    let XmlOutcome::Created(mine) = subs.record_xml(a.account, xml(&a, "u1", "a.xml", "m1")).await.unwrap() else {
        panic!()
    };
    // Another account's form or org unit cannot be named, and nothing is written.
    let mut foreign_unit = xml(&a, "u2", "b.xml", "m2");
    foreign_unit.org_unit_id = Some(b_unit);
    assert_invalid(subs.record_xml(a.account, foreign_unit).await, "org_unit_id");
    assert_invalid(subs.record_xml(a.account, xml(&b, "u3", "c.xml", "m3")).await, "form_id");
    assert_invalid(subs.record_metadata(a.account, metadata(&a, "u4", "d.xml", b_unit)).await, "org_unit_id");
    assert_eq!(subs.find_by_uuid(a.account, "u2").await.unwrap(), None);
    // XML for metadata already there (the one-statement path) naming another account's form:
    // refused, and the row still waits for its XML.
    let a_unit = unit(store, &a, "A clinic", None).await;
    subs.record_metadata(a.account, metadata(&a, "u5", "e.xml", a_unit)).await.unwrap();
    assert_invalid(subs.record_xml(a.account, xml(&b, "u5", "e.xml", "m5")).await, "form_id");
    assert_eq!(subs.find_by_uuid(a.account, "u5").await.unwrap().unwrap().file_key, None);
    // The same instance id in two accounts is two submissions.
    assert!(matches!(subs.record_xml(b.account, xml(&b, "u1", "a.xml", "m1")).await.unwrap(), XmlOutcome::Created(_)));
    // B cannot read, list, move, delete or attach to A's submission.
    assert_eq!(subs.get(b.account, mine.id).await.unwrap(), None);
    assert_eq!(subs.list(&OrgUnitScope::whole_account(b.account), &SubmissionQuery::default()).await.unwrap().count, 1);
    assert_not_found(subs.update(b.account, mine.id, None, Some(None), None).await);
    assert_eq!(subs.set_deleted(b.account, &[mine.id], true).await.unwrap(), 0);
    assert_not_found(subs.add_file(b.account, mine.id, "x.jpg", "k", "m", 1).await);
    assert!(subs.files(b.account, mine.id).await.unwrap().is_empty());
    assert!(!subs.get(a.account, mine.id).await.unwrap().unwrap().deleted);
}

pub async fn payloads_are_kept_with_what_became_of_them(store: &dyn Store) {
    let s = setup(store, "A").await;
    let subs = store.submissions();
    let part = |key: &str, name: &str, file_name: Option<&str>| PayloadPart {
        name: name.into(),
        file_name: file_name.map(str::to_owned),
        key: format!("{key}-{name}"),
        size: 60,
        md5: format!("md5 of {key}-{name}"),
    };
    let new = |key: &str| NewPayload {
        account: Some(s.account),
        channel: PayloadChannel::OpenRosa,
        file_key: key.into(),
        parts: vec![part(key, "xml_submission_file", Some("a.xml")), part(key, "photo", None)],
        inline: Vec::new(),
        size: 120,
        user: None,
        project: None,
    };
    let ok = subs.record_payload(new("raw/1")).await.unwrap();
    let bad = subs.record_payload(new("raw/2")).await.unwrap();
    let pending = subs.record_payload(new("raw/3")).await.unwrap();
    assert_eq!((ok.processed_at, ok.error.as_deref()), (None, None));
    assert_eq!(ok.parts, new("raw/1").parts, "the parts come back as listed, in order");
    assert_eq!(subs.payload(pending.id).await.unwrap().unwrap().parts, new("raw/3").parts);
    let XmlOutcome::Created(made) = subs.record_xml(s.account, xml(&s, "u1", "a.xml", "m1")).await.unwrap() else {
        panic!()
    };
    let done = subs.finish_payload(ok.id, Ok(Some(made.id))).await.unwrap();
    assert_eq!(done.submission_id, Some(made.id));
    let failed = subs.finish_payload(bad.id, Err("the XML is not well-formed".into())).await.unwrap();
    assert!(failed.processed_at.is_some());
    let waiting: Vec<i64> = subs.unprocessed_payloads(10).await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(waiting, [bad.id, pending.id]);
    assert_eq!(subs.payload(bad.id).await.unwrap().unwrap().error.as_deref(), Some("the XML is not well-formed"));
    assert_not_found(subs.finish_payload(9999, Ok(None)).await);
}

/// Small parts kept in the database come back by key, to their own account only, and are
/// written with their payload or not at all.
pub async fn inline_files_are_kept_with_their_payload(store: &dyn Store) {
    let a = setup(store, "A").await;
    let b = setup(store, "B").await;
    let subs = store.submissions();
    let new = |account: AccountId, key: &str| NewPayload {
        account: Some(account),
        channel: PayloadChannel::Iaso,
        file_key: key.into(),
        parts: Vec::new(),
        inline: vec![InlineFile { key: format!("db:{key}-0-a.xml"), bytes: b"<data>\0\xff</data>".to_vec() }],
        size: 15,
        user: None,
        project: None,
    };
    subs.record_payload(new(a.account, "raw/1")).await.unwrap();
    let kept = subs.inline_file(a.account, "db:raw/1-0-a.xml").await.unwrap();
    assert_eq!(kept.as_deref(), Some(&b"<data>\0\xff</data>"[..]), "the bytes come back as given");
    assert_eq!(subs.inline_file(b.account, "db:raw/1-0-a.xml").await.unwrap(), None, "not to another account");
    assert_eq!(subs.inline_file(a.account, "db:raw/9-0-a.xml").await.unwrap(), None);

    // A key taken already: neither the payload row nor its file is written.
    let before = subs.unprocessed_payloads(100).await.unwrap().len();
    let mut again = new(a.account, "raw/2");
    again.inline.push(InlineFile { key: "db:raw/1-0-a.xml".into(), bytes: b"other".to_vec() });
    assert!(subs.record_payload(again).await.is_err());
    assert_eq!(subs.unprocessed_payloads(100).await.unwrap().len(), before, "no payload row");
    assert_eq!(subs.inline_file(a.account, "db:raw/2-0-a.xml").await.unwrap(), None, "nor its first file");
    // Keys that do not say where they are, or no account to keep them for: refused.
    let mut unmarked = new(a.account, "raw/3");
    unmarked.inline[0].key = "raw/3-0-a.xml".into();
    assert_invalid(subs.record_payload(unmarked).await, "inline");
    assert_invalid(subs.record_payload(NewPayload { account: None, ..new(a.account, "raw/4") }).await, "inline");
    assert_eq!(subs.unprocessed_payloads(100).await.unwrap().len(), before);
}

/// An XML recorded with the payload it came in marks that payload processed as it is written,
/// alone or with many others at once; a refused XML leaves its payload for the caller to mark.
pub async fn payloads_are_marked_processed_with_their_xml(store: &dyn Store) {
    let s = setup(store, "A").await;
    let subs = store.submissions();
    let new = |i: usize| NewPayload {
        account: Some(s.account),
        channel: PayloadChannel::Iaso,
        file_key: format!("raw/{i}"),
        parts: Vec::new(),
        inline: Vec::new(),
        size: 1,
        user: None,
        project: None,
    };
    let with_payload = |uuid: &str, md5: &str, payload: i64| ReceivedXml {
        payload_id: Some(payload),
        ..xml(&s, uuid, &format!("{uuid}.xml"), md5)
    };
    let payloads = futures_util::future::join_all((0..20).map(|i| subs.record_payload(new(i)))).await;
    let ids: Vec<i64> = payloads.into_iter().map(|p| p.unwrap().id).collect();
    let recorded = futures_util::future::join_all(
        ids.iter().enumerate().map(|(i, id)| subs.record_xml(s.account, with_payload(&format!("u{i}"), "m", *id))),
    )
    .await;
    for (id, outcome) in ids.iter().zip(recorded) {
        let XmlOutcome::Created(made) = outcome.unwrap() else { panic!("a new XML is created") };
        let payload = subs.payload(*id).await.unwrap().unwrap();
        assert_eq!((payload.submission_id, payload.error), (Some(made.id), None));
        assert!(payload.processed_at.is_some());
    }
    assert!(subs.unprocessed_payloads(100).await.unwrap().is_empty());

    // The same XML again (a retry): its payload names the submission it duplicates.
    let retry = subs.record_payload(new(20)).await.unwrap();
    let XmlOutcome::Duplicate(known) = subs.record_xml(s.account, with_payload("u0", "m", retry.id)).await.unwrap()
    else {
        panic!("a retry is a duplicate")
    };
    assert_eq!(subs.payload(retry.id).await.unwrap().unwrap().submission_id, Some(known.id));
    // Another XML under a taken id: refused, its payload left unprocessed.
    let other = subs.record_payload(new(21)).await.unwrap();
    let outcome = subs.record_xml(s.account, with_payload("u0", "other", other.id)).await.unwrap();
    assert!(matches!(outcome, XmlOutcome::Conflict(_)), "{outcome:?}");
    let waiting: Vec<i64> = subs.unprocessed_payloads(100).await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(waiting, [other.id]);
}

/// Many uploads at once (the backends may write their payload rows together): each gets its own
/// row back, a write that fails fails alone, and every outcome lands on its own row.
pub async fn payloads_written_at_once_are_each_kept_and_answered(store: &dyn Store) {
    let s = setup(store, "A").await;
    let subs = store.submissions();
    let new = |i: usize| NewPayload {
        // One names an account that does not exist: its insert fails, the others must not.
        account: Some(if i == 17 { AccountId(987_654) } else { s.account }),
        channel: PayloadChannel::OpenRosa,
        file_key: format!("raw/{i}"),
        parts: Vec::new(),
        inline: Vec::new(),
        size: i as i64,
        user: None,
        project: None,
    };
    let recorded = futures_util::future::join_all((0..40).map(|i| subs.record_payload(new(i)))).await;
    let mut ids = Vec::new();
    for (i, result) in recorded.into_iter().enumerate() {
        if i == 17 {
            assert!(result.is_err(), "a payload of an unknown account is refused");
            continue;
        }
        let payload = result.unwrap();
        assert_eq!((payload.file_key.as_str(), payload.size), (format!("raw/{i}").as_str(), i as i64));
        ids.push(payload.id);
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 39, "every payload has its own row");
    let outcomes = futures_util::future::join_all(ids.iter().enumerate().map(|(n, id)| {
        let outcome = if n % 2 == 0 { Ok(None) } else { Err(format!("failure {id}")) };
        subs.finish_payload(*id, outcome)
    }))
    .await;
    for (n, (id, result)) in ids.iter().zip(outcomes).enumerate() {
        let payload = result.unwrap();
        assert_eq!(payload.id, *id);
        let expected = if n % 2 == 0 { None } else { Some(format!("failure {id}")) };
        assert_eq!(payload.error, expected);
        assert!(payload.processed_at.is_some());
    }
    let (unknown, known) =
        futures_util::future::join(subs.finish_payload(9_999_999, Ok(None)), subs.finish_payload(ids[0], Ok(None)))
            .await;
    assert_not_found(unknown);
    assert_eq!(known.unwrap().id, ids[0], "a missing row in a batch is that write's answer alone");
    let failing: Vec<i64> = subs.unprocessed_payloads(100).await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(failing.len(), 19, "the failed half waits for a replay: {failing:?}");
}

/// Many phones at once (the backends may write the usual arrivals together in one transaction):
/// each XML and each metadata call gets its own outcome, the two halves of one submission meet
/// whichever comes first, the same XML twice is one submission and a duplicate, and a reference
/// to another account's unit is refused without failing the writes beside it.
pub async fn submissions_written_at_once_each_meet_their_own_outcome(store: &dyn Store) {
    let s = setup(store, "A").await;
    let other = setup(store, "B").await;
    let mine = unit(store, &s, "Mine", None).await;
    let foreign = unit(store, &other, "Theirs", None).await;
    let subs = store.submissions();
    let xmls = (0..24).map(|i| subs.record_xml(s.account, xml(&s, &format!("x{i}"), &format!("x{i}.xml"), "m")));
    // Halves 0-11 of these come with their XML in the same burst; the twin sends one XML twice.
    let metas =
        (0..12).map(|i| subs.record_metadata(s.account, metadata(&s, &format!("x{i}"), &format!("x{i}.xml"), mine)));
    let twins = (0..2).map(|_| subs.record_xml(s.account, xml(&s, "twin", "twin.xml", "m")));
    let refused = subs.record_metadata(s.account, metadata(&s, "f1", "f1.xml", foreign));
    let (xmls, metas, twins, refused) = futures_util::future::join4(
        futures_util::future::join_all(xmls),
        futures_util::future::join_all(metas),
        futures_util::future::join_all(twins),
        refused,
    )
    .await;
    for (i, outcome) in xmls.into_iter().enumerate() {
        let XmlOutcome::Created(made) = outcome.unwrap() else { panic!("x{i} is new") };
        assert_eq!(made.uuid, format!("x{i}"));
    }
    for (i, outcome) in metas.into_iter().enumerate() {
        assert_eq!(outcome.unwrap().uuid, format!("x{i}"));
    }
    let mut twins: Vec<&'static str> = twins
        .into_iter()
        .map(|o| match o.unwrap() {
            XmlOutcome::Created(_) => "created",
            XmlOutcome::Duplicate(_) => "duplicate",
            other => panic!("{other:?}"),
        })
        .collect();
    twins.sort_unstable();
    assert_eq!(twins, ["created", "duplicate"]);
    assert_invalid(refused, "org_unit_id");
    for i in 0..24 {
        let found = subs.find_by_uuid(s.account, &format!("x{i}")).await.unwrap().unwrap();
        assert_eq!(found.file_key.as_deref(), Some(format!("submissions/x{i}/m.xml").as_str()), "x{i} has its XML");
        // The metadata met its XML, whichever came first.
        assert_eq!(found.org_unit_id, (i < 12).then_some(mine), "x{i}");
    }
    let listed = subs.list(&OrgUnitScope::whole_account(s.account), &SubmissionQuery::default()).await.unwrap();
    assert_eq!(listed.count, 25, "24 and the twin, once");
}

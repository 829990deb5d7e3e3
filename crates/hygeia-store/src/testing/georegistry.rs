//! Conformance checks of the georegistry: sources, versions, types, the tree and its rules.

use std::collections::HashMap;

use hygeia_core::orgunit::ORG_UNIT_CONTENT_TYPE;
use hygeia_core::{
    AccountId, BoundingBox, BulkOrgUnitChange, DataSourceInput, Geography, GroupBelonging, GroupId, GroupInput,
    GroupSetInput, Location, NewOrgUnit, NewProject, OrgUnit, OrgUnitId, OrgUnitOrder, OrgUnitQuery, OrgUnitScope,
    OrgUnitSearch, OrgUnitSelection, OrgUnitTypeId, OrgUnitTypeInput, OrgUnitUpdate, ParentFilter, PlannedGroup,
    PlannedGroupInput, PlannedGroupSet, PlannedUnit, PlannedUpdate, ShapeData, SourceVersionId, TreeChanges, TreePath,
    ValidationStatus,
};

use super::{account, assert_conflict, assert_invalid, assert_not_found, user};
use crate::Store;

/// An account with one source, its first version, and the scope that sees all of it.
struct Tree {
    account: AccountId,
    version: SourceVersionId,
    scope: OrgUnitScope,
}

async fn tree(store: &dyn Store, name: &str) -> Tree {
    let account = account(store, name).await;
    let source = store
        .sources()
        .create_source(account, DataSourceInput { name: format!("{name} source"), ..Default::default() })
        .await
        .unwrap();
    let version = store.sources().create_version(account, source.id, "first").await.unwrap().id;
    Tree { account, version, scope: OrgUnitScope::whole_account(account) }
}

async fn unit(store: &dyn Store, tree: &Tree, name: &str, parent: Option<OrgUnitId>) -> OrgUnit {
    let mut new = NewOrgUnit::new(tree.version, name);
    new.parent_id = parent;
    new.validation_status = ValidationStatus::Valid;
    store.org_units().create(&tree.scope, None, new).await.unwrap()
}

async fn list(store: &dyn Store, scope: &OrgUnitScope, query: OrgUnitQuery) -> Vec<String> {
    let mut names: Vec<String> =
        store.org_units().list(scope, &query).await.unwrap().items.into_iter().map(|u| u.name).collect();
    names.sort();
    names
}

pub async fn sources_and_versions_round_trip(store: &dyn Store) {
    let acc = account(store, "A").await;
    let project = store.projects().create(acc, NewProject::new("P", "p")).await.unwrap();
    let source = store
        .sources()
        .create_source(
            acc,
            DataSourceInput {
                name: "DHIS2 Sierra Leone".into(),
                description: "play".into(),
                projects: vec![project.id],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(source.projects, [project.id]);
    assert_eq!(source.default_version_id, None);
    assert_conflict(
        store
            .sources()
            .create_source(acc, DataSourceInput { name: "DHIS2 Sierra Leone".into(), ..Default::default() })
            .await,
        "name",
    );
    let v1 = store.sources().create_version(acc, source.id, "first import").await.unwrap();
    let v2 = store.sources().create_version(acc, source.id, "").await.unwrap();
    assert_eq!((v1.number, v2.number), (1, 2));
    assert_eq!(store.sources().versions(acc, Some(source.id)).await.unwrap(), vec![v2.clone(), v1.clone()]);
    store.sources().set_source_default_version(acc, v1.id).await.unwrap();
    assert_eq!(store.sources().source(acc, source.id).await.unwrap().unwrap().default_version_id, Some(v1.id));
    store.sources().set_account_default_version(acc, v2.id).await.unwrap();
    assert_eq!(store.accounts().get(acc).await.unwrap().unwrap().default_version_id, Some(v2.id.0));

    let other = account(store, "B").await;
    let foreign = store.projects().create(other, NewProject::new("Q", "q")).await.unwrap();
    assert_invalid(
        store
            .sources()
            .create_source(acc, DataSourceInput { name: "x".into(), projects: vec![foreign.id], ..Default::default() })
            .await,
        "projects",
    );
    assert_invalid(store.sources().create_version(other, source.id, "").await, "data_source_id");
    assert_not_found(store.sources().set_account_default_version(other, v1.id).await);
    assert_eq!(store.sources().version(other, v1.id).await.unwrap(), None);
    assert!(store.sources().sources(other).await.unwrap().is_empty());
}

pub async fn org_unit_types_round_trip(store: &dyn Store) {
    let t = tree(store, "A").await;
    let facility = store
        .org_unit_types()
        .create(
            t.account,
            None,
            OrgUnitTypeInput {
                name: "Health facility".into(),
                short_name: "HF".into(),
                depth: Some(5),
                category: Some("HF".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let district = store
        .org_unit_types()
        .create(
            t.account,
            None,
            OrgUnitTypeInput {
                name: "District".into(),
                short_name: "DIST".into(),
                depth: Some(3),
                sub_unit_types: vec![facility.id],
                allow_creating_sub_unit_types: vec![facility.id],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(district.sub_unit_types, [facility.id]);
    assert_eq!(district.allow_creating_sub_unit_types, [facility.id]);
    let names: Vec<String> =
        store.org_unit_types().list(t.account).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["District", "Health facility"], "ordered by depth");
    assert_invalid(
        store
            .org_unit_types()
            .create(
                t.account,
                None,
                OrgUnitTypeInput { name: "X".into(), category: Some("CITY".into()), ..Default::default() },
            )
            .await,
        "category",
    );

    let mut new = NewOrgUnit::new(t.version, "Boromo CMA");
    new.org_unit_type_id = Some(facility.id);
    store.org_units().create(&t.scope, None, new).await.unwrap();
    assert_conflict(store.org_unit_types().delete(t.account, None, facility.id).await, "org_unit_type");
    let other = account(store, "B").await;
    assert_invalid(
        store
            .org_unit_types()
            .create(
                other,
                None,
                OrgUnitTypeInput { name: "Y".into(), sub_unit_types: vec![facility.id], ..Default::default() },
            )
            .await,
        "sub_unit_types",
    );
    assert_eq!(store.org_unit_types().get(other, facility.id).await.unwrap(), None);
    assert_not_found(store.org_unit_types().delete(other, None, district.id).await);

    // Every change is audited with its actor, before and after.
    let editor = store.users().create(t.account, user("editor")).await.unwrap();
    let renamed = OrgUnitTypeInput { name: "Health district".into(), short_name: "HD".into(), ..Default::default() };
    store.org_unit_types().update(t.account, Some(editor.user_id), district.id, renamed).await.unwrap();
    store.org_unit_types().delete(t.account, Some(editor.user_id), district.id).await.unwrap();
    assert_eq!(store.org_unit_types().get(t.account, district.id).await.unwrap(), None);
    let history = store.org_units().history(t.account, "iaso.orgunittype", &district.id.to_string()).await.unwrap();
    assert_eq!(history.len(), 3, "create, update, delete");
    assert_eq!(history[0].new_value, None, "the newest entry is the deletion");
    assert_eq!(history[0].past_value.as_ref().unwrap()["name"], "Health district");
    assert_eq!(history[1].past_value.as_ref().unwrap()["name"], "District");
    assert_eq!(history[0].user_id, Some(editor.user_id));
    assert_eq!(history[2].past_value, None, "the oldest entry is the creation");
}

pub async fn tree_paths_follow_creation(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Burkina Faso", None).await;
    let region = unit(store, &t, "Boucle du Mouhoun", Some(country.id)).await;
    let district = unit(store, &t, "Boromo", Some(region.id)).await;
    let facility = unit(store, &t, "CMA Boromo", Some(district.id)).await;
    assert_eq!(country.path, TreePath::root(country.id));
    assert_eq!(facility.path.0, format!("{}.{}.{}.{}", country.id, region.id, district.id, facility.id));
    assert_eq!(facility.parent_id, Some(district.id));
    let ancestors: Vec<OrgUnitId> =
        store.org_units().ancestors(&t.scope, facility.id).await.unwrap().iter().map(|u| u.id).collect();
    assert_eq!(ancestors, [country.id, region.id, district.id]);

    let subtree = |root, include_root| OrgUnitQuery {
        parent: Some(ParentFilter::SubtreeOf { root, include_root }),
        ..Default::default()
    };
    assert_eq!(list(store, &t.scope, subtree(region.id, true)).await, ["Boromo", "Boucle du Mouhoun", "CMA Boromo"]);
    assert_eq!(list(store, &t.scope, subtree(region.id, false)).await, ["Boromo", "CMA Boromo"]);
    let children = OrgUnitQuery { parent: Some(ParentFilter::ChildrenOf(Some(region.id))), ..Default::default() };
    assert_eq!(list(store, &t.scope, children).await, ["Boromo"]);
    let roots = OrgUnitQuery { parent: Some(ParentFilter::ChildrenOf(None)), ..Default::default() };
    assert_eq!(list(store, &t.scope, roots).await, ["Burkina Faso"]);
    let mut parents =
        store.org_units().with_children(t.account, &[country.id, district.id, facility.id]).await.unwrap();
    parents.sort();
    assert_eq!(parents, [country.id, district.id]);
}

pub async fn moving_rewrites_the_subtree_and_refuses_cycles(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let west = unit(store, &t, "West", Some(country.id)).await;
    let east = unit(store, &t, "East", Some(country.id)).await;
    let district = unit(store, &t, "District", Some(west.id)).await;
    let facility = unit(store, &t, "Facility", Some(district.id)).await;

    let moved = store
        .org_units()
        .update(&t.scope, None, district.id, OrgUnitUpdate { parent_id: Some(Some(east.id)), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(moved.path, east.path.child(district.id));
    let facility_now = store.org_units().get(&t.scope, facility.id).await.unwrap().unwrap();
    assert_eq!(facility_now.path, east.path.child(district.id).child(facility.id));

    // A unit cannot go under itself or its descendants; nothing changes.
    for target in [district.id, facility.id] {
        assert_invalid(
            store
                .org_units()
                .update(
                    &t.scope,
                    None,
                    district.id,
                    OrgUnitUpdate { parent_id: Some(Some(target)), ..Default::default() },
                )
                .await,
            "parent_id",
        );
    }
    assert_invalid(
        store
            .org_units()
            .update(
                &t.scope,
                None,
                country.id,
                OrgUnitUpdate { parent_id: Some(Some(facility.id)), ..Default::default() },
            )
            .await,
        "parent_id",
    );
    assert_eq!(store.org_units().get(&t.scope, facility.id).await.unwrap().unwrap(), facility_now);

    let root = store
        .org_units()
        .update(&t.scope, None, district.id, OrgUnitUpdate { parent_id: Some(None), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(root.path, TreePath::root(district.id));
    assert_eq!(root.parent_id, None);
    let facility_root = store.org_units().get(&t.scope, facility.id).await.unwrap().unwrap();
    assert_eq!(facility_root.path, TreePath::root(district.id).child(facility.id));
}

/// Property: whatever sequence of moves is asked (cycles included), every unit's path is its
/// parent's path plus its own id, and the tree stays a tree.
pub async fn random_moves_keep_every_path_consistent(store: &dyn Store) {
    let t = tree(store, "A").await;
    for seed in [1_u64, 7, 42] {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |bound: usize| {
            // xorshift64*: deterministic, so a failure replays.
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound
        };
        let mut ids: Vec<OrgUnitId> = Vec::new();
        for i in 0..30 {
            let parent = if ids.is_empty() || next(5) == 0 { None } else { Some(ids[next(ids.len())]) };
            ids.push(unit(store, &t, &format!("seed {seed} unit {i}"), parent).await.id);
        }
        let (mut refused, mut done) = (0, 0);
        for _ in 0..60 {
            let moving = ids[next(ids.len())];
            let target = if next(6) == 0 { None } else { Some(ids[next(ids.len())]) };
            let update = OrgUnitUpdate { parent_id: Some(target), ..Default::default() };
            match store.org_units().update(&t.scope, None, moving, update).await {
                Ok(_) => done += 1,
                Err(crate::StoreError::Invalid(_)) => refused += 1,
                Err(other) => panic!("seed {seed}: unexpected {other:?}"),
            }
        }
        assert!(done > 10 && refused > 0, "seed {seed}: the walk should both move and hit cycles ({done}, {refused})");
        let units: HashMap<OrgUnitId, OrgUnit> = store
            .org_units()
            .list(
                &t.scope,
                &OrgUnitQuery { search: Some(OrgUnitSearch::Text(format!("seed {seed} "))), ..Default::default() },
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        assert_eq!(units.len(), 30);
        for unit in units.values() {
            let expected = match unit.parent_id {
                Some(parent) => units[&parent].path.child(unit.id),
                None => TreePath::root(unit.id),
            };
            assert_eq!(unit.path, expected, "seed {seed}: unit {} has a stale path", unit.id);
            assert_eq!(unit.path.ids().last(), Some(&unit.id));
            let distinct: std::collections::HashSet<_> = unit.path.ids().into_iter().collect();
            assert_eq!(distinct.len(), unit.path.depth(), "seed {seed}: a cycle in {}", unit.path.0);
        }
    }
}

pub async fn parents_stay_in_their_version(store: &dyn Store) {
    let t = tree(store, "A").await;
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    let v2 = store.sources().create_version(t.account, source.id, "second").await.unwrap();
    let old_root = unit(store, &t, "Old country", None).await;
    let mut new = NewOrgUnit::new(v2.id, "New region");
    new.parent_id = Some(old_root.id);
    assert_invalid(store.org_units().create(&t.scope, None, new).await, "parent_id");
    let new_root = store.org_units().create(&t.scope, None, NewOrgUnit::new(v2.id, "New country")).await.unwrap();
    assert_invalid(
        store
            .org_units()
            .update(
                &t.scope,
                None,
                new_root.id,
                OrgUnitUpdate { parent_id: Some(Some(old_root.id)), ..Default::default() },
            )
            .await,
        "parent_id",
    );
    assert_eq!(store.org_units().get(&t.scope, new_root.id).await.unwrap().unwrap().parent_id, None);
}

pub async fn valid_codes_are_unique_per_version(store: &dyn Store) {
    let t = tree(store, "A").await;
    let coded = |name: &str, code: &str, status| {
        let mut new = NewOrgUnit::new(t.version, name);
        new.code = code.into();
        new.validation_status = status;
        new
    };
    store.org_units().create(&t.scope, None, coded("A", "OU_1", ValidationStatus::Valid)).await.unwrap();
    assert_conflict(
        store.org_units().create(&t.scope, None, coded("B", "OU_1", ValidationStatus::Valid)).await,
        "code",
    );
    let proposed = store.org_units().create(&t.scope, None, coded("C", "OU_1", ValidationStatus::New)).await.unwrap();
    store.org_units().create(&t.scope, None, coded("D", "", ValidationStatus::Valid)).await.unwrap();
    store
        .org_units()
        .create(&t.scope, None, coded("E", "", ValidationStatus::Valid))
        .await
        .expect("empty codes never clash");
    assert_conflict(
        store
            .org_units()
            .update(
                &t.scope,
                None,
                proposed.id,
                OrgUnitUpdate { validation_status: Some(ValidationStatus::Valid), ..Default::default() },
            )
            .await,
        "code",
    );
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    let v2 = store.sources().create_version(t.account, source.id, "").await.unwrap();
    let mut other_version = coded("F", "OU_1", ValidationStatus::Valid);
    other_version.version_id = v2.id;
    store.org_units().create(&t.scope, None, other_version).await.expect("another version may reuse the code");
}

pub async fn list_filters_narrow_as_asked(store: &dyn Store) {
    let t = tree(store, "A").await;
    let facility_type = store
        .org_unit_types()
        .create(t.account, None, OrgUnitTypeInput { name: "HF".into(), ..Default::default() })
        .await
        .unwrap();
    let country = unit(store, &t, "Burkina Faso", None).await;
    let mut boromo = NewOrgUnit::new(t.version, "CMA de Boromo");
    boromo.parent_id = Some(country.id);
    boromo.validation_status = ValidationStatus::Valid;
    boromo.org_unit_type_id = Some(facility_type.id);
    boromo.source_ref = Some("dhis2-uid-1".into());
    boromo.code = "BF_0001".into();
    boromo.aliases = vec!["Boromo hospital".into()];
    boromo.location = Some(Location { latitude: 11.75, longitude: -2.93, altitude: 300.0 });
    let boromo = store.org_units().create(&t.scope, None, boromo).await.unwrap();
    let mut proposed = NewOrgUnit::new(t.version, "CSPS 100% new_site");
    proposed.parent_id = Some(country.id);
    proposed.uuid = Some("5d2b7c3e-1f4a-4c1e-9a8b-0c2d4e6f8a10".into());
    let proposed = store.org_units().create(&t.scope, None, proposed).await.unwrap();

    let q = |f: fn(&mut OrgUnitQuery)| {
        let mut query = OrgUnitQuery::default();
        f(&mut query);
        query
    };
    assert_eq!(
        list(store, &t.scope, q(|q| q.search = Some(OrgUnitSearch::Text("boromo".into())))).await,
        ["CMA de Boromo"]
    );
    assert_eq!(
        list(store, &t.scope, q(|q| q.search = Some(OrgUnitSearch::Text("BOROMO HOSPITAL".into())))).await,
        ["CMA de Boromo"]
    );
    assert_eq!(
        list(store, &t.scope, q(|q| q.search = Some(OrgUnitSearch::Text("100%".into())))).await,
        ["CSPS 100% new_site"]
    );
    assert_eq!(
        list(store, &t.scope, q(|q| q.search = Some(OrgUnitSearch::Text("_".into())))).await,
        ["CSPS 100% new_site"],
        "_ is literal"
    );
    let by_ids = OrgUnitQuery { search: Some(OrgUnitSearch::Ids(vec![country.id, proposed.id])), ..Default::default() };
    assert_eq!(list(store, &t.scope, by_ids).await, ["Burkina Faso", "CSPS 100% new_site"]);
    let by_refs = OrgUnitQuery {
        search: Some(OrgUnitSearch::Refs(vec![
            "dhis2-uid-1".into(),
            format!("iaso:{}", country.id),
            format!("iaso#{}", proposed.id),
        ])),
        ..Default::default()
    };
    assert_eq!(list(store, &t.scope, by_refs).await, ["Burkina Faso", "CMA de Boromo", "CSPS 100% new_site"]);
    assert_eq!(
        list(store, &t.scope, q(|q| q.search = Some(OrgUnitSearch::Codes(vec!["BF_0001".into()])))).await,
        ["CMA de Boromo"]
    );
    assert_eq!(
        list(
            store,
            &t.scope,
            q(|q| q.search = Some(OrgUnitSearch::Uuids(vec!["5d2b7c3e-1f4a-4c1e-9a8b-0c2d4e6f8a10".into()])))
        )
        .await,
        ["CSPS 100% new_site"]
    );
    assert_eq!(
        list(store, &t.scope, q(|q| q.validation_statuses = vec![ValidationStatus::New])).await,
        ["CSPS 100% new_site"]
    );
    let by_type = OrgUnitQuery { type_ids: vec![facility_type.id], ..Default::default() };
    assert_eq!(list(store, &t.scope, by_type).await, ["CMA de Boromo"]);
    assert_eq!(list(store, &t.scope, q(|q| q.geography = Geography::WithLocation)).await, ["CMA de Boromo"]);
    assert_eq!(
        list(store, &t.scope, q(|q| q.geography = Geography::WithNone)).await,
        ["Burkina Faso", "CSPS 100% new_site"]
    );
    assert!(list(store, &t.scope, q(|q| q.geography = Geography::WithShape)).await.is_empty());
    let inside = OrgUnitQuery {
        bbox: Some(BoundingBox { min_x: -3.0, min_y: 11.0, max_x: -2.0, max_y: 12.0 }),
        ..Default::default()
    };
    assert_eq!(list(store, &t.scope, inside).await, ["CMA de Boromo"]);
    let outside = OrgUnitQuery {
        bbox: Some(BoundingBox { min_x: 0.0, min_y: 0.0, max_x: 1.0, max_y: 1.0 }),
        ..Default::default()
    };
    assert!(list(store, &t.scope, outside).await.is_empty());
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    let v2 = store.sources().create_version(t.account, source.id, "").await.unwrap();
    assert!(list(store, &t.scope, OrgUnitQuery { version_ids: vec![v2.id], ..Default::default() }).await.is_empty());

    let page = store
        .org_units()
        .list(
            &t.scope,
            &OrgUnitQuery { order: vec![(OrgUnitOrder::Name, true)], page: Some((2, 1)), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(page.count, 3);
    let names: Vec<&str> = page.items.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["CMA de Boromo", "Burkina Faso"]);
    assert_eq!(boromo.location.unwrap().altitude, 300.0);
}

pub async fn restricted_scopes_see_and_change_only_their_subtrees(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let west = unit(store, &t, "West", Some(country.id)).await;
    let east = unit(store, &t, "East", Some(country.id)).await;
    let west_district = unit(store, &t, "West district", Some(west.id)).await;
    let west_other = unit(store, &t, "West other", Some(west.id)).await;
    let east_district = unit(store, &t, "East district", Some(east.id)).await;
    // A neighbouring id that starts with the same digits must not count as inside.
    let restricted = OrgUnitScope { account: t.account, roots: vec![west.id] };

    assert_eq!(list(store, &restricted, OrgUnitQuery::default()).await, ["West", "West district", "West other"]);
    assert_eq!(store.org_units().get(&restricted, east_district.id).await.unwrap(), None);
    assert_eq!(store.org_units().get(&restricted, country.id).await.unwrap(), None);
    let subtree_elsewhere = OrgUnitQuery {
        parent: Some(ParentFilter::SubtreeOf { root: east.id, include_root: true }),
        ..Default::default()
    };
    assert!(list(store, &restricted, subtree_elsewhere).await.is_empty());
    assert_not_found(
        store
            .org_units()
            .update(
                &restricted,
                None,
                east_district.id,
                OrgUnitUpdate { name: Some("hijacked".into()), ..Default::default() },
            )
            .await,
    );
    assert_invalid(
        store.org_units().create(&restricted, None, NewOrgUnit::new(t.version, "New root")).await,
        "parent_id",
    );
    let mut outside = NewOrgUnit::new(t.version, "Under east");
    outside.parent_id = Some(east.id);
    assert_invalid(store.org_units().create(&restricted, None, outside).await, "parent_id");
    assert_invalid(
        store
            .org_units()
            .update(
                &restricted,
                None,
                west_district.id,
                OrgUnitUpdate { parent_id: Some(Some(east.id)), ..Default::default() },
            )
            .await,
        "parent_id",
    );
    assert_invalid(
        store
            .org_units()
            .update(&restricted, None, west_district.id, OrgUnitUpdate { parent_id: Some(None), ..Default::default() })
            .await,
        "parent_id",
    );
    store
        .org_units()
        .update(
            &restricted,
            None,
            west_district.id,
            OrgUnitUpdate { parent_id: Some(Some(west_other.id)), ..Default::default() },
        )
        .await
        .expect("moves inside the subtree are allowed");
    let ancestors = store.org_units().ancestors(&restricted, west_district.id).await.unwrap();
    assert_eq!(ancestors.first().map(|u| u.id), Some(country.id), "the chain above the root is shown, as in Iaso");
    assert_eq!(store.org_units().get(&t.scope, east_district.id).await.unwrap().unwrap().name, "East district");
    let nobody = OrgUnitScope { account: t.account, roots: vec![OrgUnitId(i64::MAX)] };
    assert!(list(store, &nobody, OrgUnitQuery::default()).await.is_empty(), "unknown roots see nothing");
}

pub async fn org_units_are_invisible_to_other_accounts(store: &dyn Store) {
    let a = tree(store, "A").await;
    let b = tree(store, "B").await;
    let b_unit = unit(store, &b, "B unit", None).await;
    assert_eq!(store.org_units().get(&a.scope, b_unit.id).await.unwrap(), None);
    let by_id = OrgUnitQuery { search: Some(OrgUnitSearch::Ids(vec![b_unit.id])), ..Default::default() };
    assert!(list(store, &a.scope, by_id).await.is_empty());
    assert_not_found(
        store
            .org_units()
            .update(&a.scope, None, b_unit.id, OrgUnitUpdate { name: Some("x".into()), ..Default::default() })
            .await,
    );
    assert_not_found(store.org_units().ancestors(&a.scope, b_unit.id).await);
    assert_invalid(store.org_units().create(&a.scope, None, NewOrgUnit::new(b.version, "into B")).await, "version_id");
    let mut under_b = NewOrgUnit::new(a.version, "under B");
    under_b.parent_id = Some(b_unit.id);
    assert_invalid(store.org_units().create(&a.scope, None, under_b).await, "parent_id");
    let a_unit = unit(store, &a, "A unit", None).await;
    assert_invalid(
        store
            .org_units()
            .update(&a.scope, None, a_unit.id, OrgUnitUpdate { parent_id: Some(Some(b_unit.id)), ..Default::default() })
            .await,
        "parent_id",
    );
    assert!(
        store.org_units().history(a.account, ORG_UNIT_CONTENT_TYPE, &b_unit.id.to_string()).await.unwrap().is_empty()
    );
    assert_eq!(store.org_units().get(&b.scope, b_unit.id).await.unwrap().unwrap(), b_unit);
}

pub async fn every_org_unit_change_is_audited(store: &dyn Store) {
    let t = tree(store, "A").await;
    let editor = store.users().create(t.account, user("editor")).await.unwrap();
    let created =
        store.org_units().create(&t.scope, Some(editor.user_id), NewOrgUnit::new(t.version, "Before")).await.unwrap();
    assert_eq!(created.creator_id, Some(editor.user_id));
    store
        .org_units()
        .update(
            &t.scope,
            Some(editor.user_id),
            created.id,
            OrgUnitUpdate { name: Some("After".into()), ..Default::default() },
        )
        .await
        .unwrap();
    let history = store.org_units().history(t.account, ORG_UNIT_CONTENT_TYPE, &created.id.to_string()).await.unwrap();
    assert_eq!(history.len(), 2);
    let (update, creation) = (&history[0], &history[1]);
    assert_eq!(creation.past_value, None);
    assert_eq!(creation.new_value.as_ref().unwrap()["name"], "Before");
    assert_eq!(update.past_value.as_ref().unwrap()["name"], "Before");
    assert_eq!(update.new_value.as_ref().unwrap()["name"], "After");
    assert_eq!(update.user_id, Some(editor.user_id));
    assert_eq!(update.source, "org_unit_api");
}

pub async fn read_only_sources_refuse_writes(store: &dyn Store) {
    let acc = account(store, "A").await;
    let source = store
        .sources()
        .create_source(acc, DataSourceInput { name: "Reference".into(), read_only: true, ..Default::default() })
        .await
        .unwrap();
    let version = store.sources().create_version(acc, source.id, "").await.unwrap();
    let scope = OrgUnitScope::whole_account(acc);
    assert_invalid(store.org_units().create(&scope, None, NewOrgUnit::new(version.id, "x")).await, "version_id");
}

pub async fn invalid_org_units_change_nothing(store: &dyn Store) {
    let t = tree(store, "A").await;
    let existing = unit(store, &t, "Existing", None).await;
    let mut bad_point = NewOrgUnit::new(t.version, "Bad point");
    bad_point.location = Some(Location { latitude: 95.0, longitude: 0.0, altitude: 0.0 });
    assert_invalid(store.org_units().create(&t.scope, None, bad_point).await, "latitude");
    let mut nan = NewOrgUnit::new(t.version, "NaN");
    nan.location = Some(Location { latitude: 0.0, longitude: f64::NAN, altitude: 0.0 });
    assert_invalid(store.org_units().create(&t.scope, None, nan).await, "longitude");
    let mut bad_type = NewOrgUnit::new(t.version, "Bad type");
    bad_type.org_unit_type_id = Some(OrgUnitTypeId(i64::MAX));
    assert_invalid(store.org_units().create(&t.scope, None, bad_type).await, "org_unit_type_id");
    let mut unknown_parent = NewOrgUnit::new(t.version, "Orphan");
    unknown_parent.parent_id = Some(OrgUnitId(i64::MAX));
    assert_invalid(store.org_units().create(&t.scope, None, unknown_parent).await, "parent_id");
    assert_invalid(store.org_units().create(&t.scope, None, NewOrgUnit::new(t.version, "  ")).await, "name");
    assert_invalid(
        store
            .org_units()
            .update(
                &t.scope,
                None,
                existing.id,
                OrgUnitUpdate {
                    name: Some("Renamed".into()),
                    opening_date: Some(chrono::NaiveDate::from_ymd_opt(2020, 5, 1)),
                    closed_date: Some(chrono::NaiveDate::from_ymd_opt(2020, 1, 1)),
                    ..Default::default()
                },
            )
            .await,
        "closed_date",
    );
    let page = store.org_units().list(&t.scope, &OrgUnitQuery::default()).await.unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.items[0], existing, "nothing was written");
    assert_eq!(
        store.org_units().history(t.account, ORG_UNIT_CONTENT_TYPE, &existing.id.to_string()).await.unwrap().len(),
        1
    );
}

/// Shapes are stored as given (encoding is the geometry layer's job); the box follows the shape,
/// or the point when there is no shape.
pub async fn shapes_are_stored_with_their_box(store: &dyn Store) {
    let t = tree(store, "A").await;
    let shape = ShapeData {
        full_wkb: b"full shape bytes".to_vec(),
        simplified_wkb: b"simplified".to_vec(),
        bbox: BoundingBox { min_x: 10.0, min_y: 10.0, max_x: 12.0, max_y: 11.0 },
    };
    let mut district = NewOrgUnit::new(t.version, "District with a shape");
    district.shape = Some(shape.clone());
    let district = store.org_units().create(&t.scope, None, district).await.unwrap();
    assert!(district.has_shape);
    assert_eq!(store.org_units().shape_wkb(&t.scope, district.id, false).await.unwrap().unwrap(), shape.full_wkb);
    assert_eq!(store.org_units().shape_wkb(&t.scope, district.id, true).await.unwrap().unwrap(), shape.simplified_wkb);
    let in_box = |min_x, min_y, max_x, max_y| OrgUnitQuery {
        bbox: Some(BoundingBox { min_x, min_y, max_x, max_y }),
        ..Default::default()
    };
    assert_eq!(list(store, &t.scope, in_box(11.5, 10.5, 13.0, 13.0)).await, ["District with a shape"]);
    assert_eq!(
        list(store, &t.scope, OrgUnitQuery { geography: Geography::WithShape, ..Default::default() }).await,
        ["District with a shape"]
    );

    // A new location keeps the shape and its box.
    let located = OrgUnitUpdate {
        location: Some(Some(Location { latitude: 50.0, longitude: 50.0, altitude: 0.0 })),
        ..Default::default()
    };
    store.org_units().update(&t.scope, None, district.id, located).await.unwrap();
    assert_eq!(list(store, &t.scope, in_box(11.5, 10.5, 13.0, 13.0)).await, ["District with a shape"]);
    // Removing the shape boxes the unit by its point.
    let cleared = store
        .org_units()
        .update(&t.scope, None, district.id, OrgUnitUpdate { shape: Some(None), ..Default::default() })
        .await
        .unwrap();
    assert!(!cleared.has_shape);
    assert_eq!(store.org_units().shape_wkb(&t.scope, district.id, false).await.unwrap(), None);
    assert!(list(store, &t.scope, in_box(11.5, 10.5, 13.0, 13.0)).await.is_empty());
    assert_eq!(list(store, &t.scope, in_box(49.0, 49.0, 51.0, 51.0)).await, ["District with a shape"]);
    let restricted = OrgUnitScope { account: t.account, roots: vec![OrgUnitId(i64::MAX)] };
    assert_eq!(store.org_units().shape_wkb(&restricted, district.id, false).await.unwrap(), None);
}

/// Two moves that would each be fine alone, but together make a cycle: one of them must lose.
pub async fn concurrent_moves_never_make_a_cycle(store: &dyn Store) {
    let t = tree(store, "A").await;
    for round in 0..5 {
        let a = unit(store, &t, &format!("A{round}"), None).await;
        let b = unit(store, &t, &format!("B{round}"), None).await;
        let a_under_b = OrgUnitUpdate { parent_id: Some(Some(b.id)), ..Default::default() };
        let b_under_a = OrgUnitUpdate { parent_id: Some(Some(a.id)), ..Default::default() };
        let (first, second) = tokio_join(
            store.org_units().update(&t.scope, None, a.id, a_under_b),
            store.org_units().update(&t.scope, None, b.id, b_under_a),
        )
        .await;
        assert!(first.is_ok() != second.is_ok(), "round {round}: exactly one move may succeed: {first:?} {second:?}");
        let a_now = store.org_units().get(&t.scope, a.id).await.unwrap().unwrap();
        let b_now = store.org_units().get(&t.scope, b.id).await.unwrap().unwrap();
        assert!(a_now.parent_id.is_none() || b_now.parent_id.is_none(), "round {round}: a cycle");
        for u in [&a_now, &b_now] {
            let expected = match u.parent_id {
                Some(p) if p == a.id => a_now.path.child(u.id),
                Some(_) => b_now.path.child(u.id),
                None => TreePath::root(u.id),
            };
            assert_eq!(u.path, expected);
        }
    }
}

/// Polls two futures together (the store's methods run on separate connections).
async fn tokio_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    (ra.expect("polled to completion"), rb.expect("polled to completion"))
}

pub async fn trees_have_a_depth_limit(store: &dyn Store) {
    let t = tree(store, "A").await;
    let limit = hygeia_core::orgunit::MAX_TREE_DEPTH;
    let mut parent = None;
    let mut chain = Vec::new();
    for level in 0..limit {
        let u = unit(store, &t, &format!("level {level}"), parent).await;
        parent = Some(u.id);
        chain.push(u.id);
    }
    let mut too_deep = NewOrgUnit::new(t.version, "too deep");
    too_deep.parent_id = parent;
    assert_invalid(store.org_units().create(&t.scope, None, too_deep).await, "parent_id");
    // Moving a two-level subtree under the deepest unit would also go past the limit.
    let top = unit(store, &t, "top", None).await;
    unit(store, &t, "child of top", Some(top.id)).await;
    assert_invalid(
        store
            .org_units()
            .update(
                &t.scope,
                None,
                top.id,
                OrgUnitUpdate { parent_id: Some(Some(chain[limit - 2])), ..Default::default() },
            )
            .await,
        "parent_id",
    );
    store
        .org_units()
        .update(&t.scope, None, top.id, OrgUnitUpdate { parent_id: Some(Some(chain[limit - 3])), ..Default::default() })
        .await
        .expect("exactly at the limit is allowed");
}

pub async fn groups_hold_members_of_their_version(store: &dyn Store) {
    use hygeia_core::orgunit::GROUP_CONTENT_TYPE;
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let west = unit(store, &t, "West", Some(country.id)).await;
    let east = unit(store, &t, "East", Some(country.id)).await;
    let input = |name: &str| GroupInput {
        version_id: t.version,
        name: name.into(),
        source_ref: Some("grp-1".into()),
        block_of_countries: false,
    };
    let public = store.groups().create(t.account, None, input("Public")).await.unwrap();
    assert_eq!(public.org_unit_count, 0);
    let public = store.groups().change_members(&t.scope, None, public.id, &[west.id, east.id], &[]).await.unwrap();
    assert_eq!(public.org_unit_count, 2);
    let public = store.groups().change_members(&t.scope, None, public.id, &[west.id], &[east.id]).await.unwrap();
    assert_eq!(public.org_unit_count, 1, "adding twice is harmless; removal applies");
    let members = OrgUnitQuery { group_ids: vec![public.id], ..Default::default() };
    assert_eq!(list(store, &t.scope, members).await, ["West"]);
    let of = store.groups().groups_of(t.account, &[west.id, east.id]).await.unwrap();
    assert_eq!(of.iter().map(|(u, g)| (*u, g.name.as_str())).collect::<Vec<_>>(), [(west.id, "Public")]);

    // Members stay in the group's version, in the caller's scope and account.
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    let v2 = store.sources().create_version(t.account, source.id, "").await.unwrap();
    let elsewhere = store.org_units().create(&t.scope, None, NewOrgUnit::new(v2.id, "Other version")).await.unwrap();
    assert_invalid(
        store.groups().change_members(&t.scope, None, public.id, &[elsewhere.id], &[]).await,
        "org_unit_ids",
    );
    let restricted = OrgUnitScope { account: t.account, roots: vec![west.id] };
    assert_invalid(store.groups().change_members(&restricted, None, public.id, &[east.id], &[]).await, "org_unit_ids");
    let other = tree(store, "B").await;
    let foreign = unit(store, &other, "Foreign", None).await;
    assert_invalid(store.groups().change_members(&t.scope, None, public.id, &[foreign.id], &[]).await, "org_unit_ids");
    assert_eq!(
        store.groups().get(t.account, public.id).await.unwrap().unwrap().org_unit_count,
        1,
        "refused changes change nothing"
    );
    assert_eq!(store.groups().get(other.account, public.id).await.unwrap(), None);
    assert_not_found(store.groups().delete(other.account, None, public.id).await);
    assert_not_found(store.groups().change_members(&other.scope, None, public.id, &[], &[]).await);
    assert_invalid(store.groups().create(other.account, None, input("Into A's version")).await, "version_id");

    let renamed = store.groups().update(t.account, None, public.id, input("Public sector")).await.unwrap();
    assert_eq!(renamed.name, "Public sector");
    assert_eq!(store.groups().list(t.account, &[]).await.unwrap().len(), 1);
    assert!(store.groups().list(t.account, &[v2.id]).await.unwrap().is_empty());
    store.groups().delete(t.account, None, public.id).await.unwrap();
    assert_eq!(store.groups().get(t.account, GroupId(public.id.0)).await.unwrap(), None);
    assert!(store.groups().groups_of(t.account, &[west.id]).await.unwrap().is_empty());
    let history = store.org_units().history(t.account, GROUP_CONTENT_TYPE, &public.id.to_string()).await.unwrap();
    assert_eq!(history.len(), 5, "create, two member changes, rename, delete");
}

pub async fn group_sets_hold_groups_of_their_version(store: &dyn Store) {
    let t = tree(store, "A").await;
    let group = |name: &str, version| GroupInput {
        version_id: version,
        name: name.into(),
        source_ref: None,
        block_of_countries: false,
    };
    let public = store.groups().create(t.account, None, group("Public", t.version)).await.unwrap();
    let private = store.groups().create(t.account, None, group("Private", t.version)).await.unwrap();
    let input = |name: &str, groups: Vec<GroupId>| GroupSetInput {
        version_id: t.version,
        name: name.into(),
        source_ref: Some("OWNERSHIP".into()),
        group_belonging: GroupBelonging::Single,
        group_ids: groups,
    };
    let editor = store.users().create(t.account, user("editor")).await.unwrap();
    let actor = Some(editor.user_id);
    let set = store
        .group_sets()
        .create(t.account, actor, input("Ownership", vec![private.id, public.id, public.id]))
        .await
        .unwrap();
    assert_eq!(set.group_ids, [public.id, private.id], "sorted, without duplicates");
    assert_eq!(set.group_belonging, GroupBelonging::Single);
    assert_eq!(store.group_sets().get(t.account, set.id).await.unwrap().unwrap(), set);

    // Groups of another version or account, and unknown ids, are refused and change nothing.
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    let v2 = store.sources().create_version(t.account, source.id, "").await.unwrap();
    let elsewhere = store.groups().create(t.account, None, group("Elsewhere", v2.id)).await.unwrap();
    assert_invalid(
        store.group_sets().update(t.account, actor, set.id, input("X", vec![elsewhere.id])).await,
        "group_ids",
    );
    let other = tree(store, "B").await;
    let foreign = store.groups().create(other.account, None, group("Foreign", other.version)).await.unwrap();
    assert_invalid(
        store.group_sets().update(t.account, actor, set.id, input("X", vec![foreign.id])).await,
        "group_ids",
    );
    assert_invalid(store.group_sets().create(t.account, actor, input("X", vec![GroupId(-5)])).await, "group_ids");
    assert_invalid(
        store.group_sets().create(other.account, actor, input("Into A's version", vec![])).await,
        "version_id",
    );
    assert_invalid(store.group_sets().create(t.account, actor, input(" ", vec![])).await, "name");
    assert_eq!(
        store.group_sets().get(t.account, set.id).await.unwrap().unwrap(),
        set,
        "refused changes change nothing"
    );
    assert_eq!(store.group_sets().get(other.account, set.id).await.unwrap(), None);
    assert_not_found(store.group_sets().update(other.account, actor, set.id, input("X", vec![])).await);
    assert_not_found(store.group_sets().delete(other.account, actor, set.id).await);

    let mut multiple = input("Ownership (any)", vec![private.id]);
    multiple.group_belonging = GroupBelonging::Multiple;
    let updated = store.group_sets().update(t.account, actor, set.id, multiple).await.unwrap();
    assert_eq!((updated.name.as_str(), updated.group_ids.as_slice()), ("Ownership (any)", &[private.id][..]));
    assert_eq!(updated.group_belonging, GroupBelonging::Multiple);
    assert_eq!(store.group_sets().list(t.account, &[]).await.unwrap(), std::slice::from_ref(&updated));
    assert!(store.group_sets().list(t.account, &[v2.id]).await.unwrap().is_empty());

    // Deleting a member group takes it out of the set.
    store.groups().delete(t.account, None, private.id).await.unwrap();
    assert!(store.group_sets().get(t.account, set.id).await.unwrap().unwrap().group_ids.is_empty());
    store.group_sets().delete(t.account, actor, set.id).await.unwrap();
    assert_eq!(store.group_sets().get(t.account, set.id).await.unwrap(), None);
    let history = store.org_units().history(t.account, "iaso.groupset", &set.id.to_string()).await.unwrap();
    assert_eq!(history.len(), 3, "create, update, delete");
    assert_eq!(history[1].past_value.as_ref().unwrap()["name"], "Ownership");
    assert_eq!(history[1].new_value.as_ref().unwrap()["group_belonging"], "MULTIPLE");
}

pub async fn bulk_updates_apply_to_the_selection_or_to_nothing(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let north = unit(store, &t, "North", Some(country.id)).await;
    let south = unit(store, &t, "South", Some(country.id)).await;
    let mut facilities = Vec::new();
    for (name, parent, code) in
        [("F1", north.id, "X"), ("F2", north.id, "Y"), ("F3", north.id, "X"), ("F4", south.id, "")]
    {
        let mut new = NewOrgUnit::new(t.version, name);
        new.parent_id = Some(parent);
        new.code = code.into();
        facilities.push(store.org_units().create(&t.scope, None, new).await.unwrap());
    }
    let facility_type = store
        .org_unit_types()
        .create(t.account, None, OrgUnitTypeInput { name: "Facility".into(), ..Default::default() })
        .await
        .unwrap();
    let group = |name: &str, version| GroupInput {
        version_id: version,
        name: name.into(),
        source_ref: None,
        block_of_countries: false,
    };
    let public = store.groups().create(t.account, None, group("Public", t.version)).await.unwrap();
    let editor = store.users().create(t.account, user("editor")).await.unwrap();
    let actor = Some(editor.user_id);

    // Explicit ids: type and group.
    let change = BulkOrgUnitChange {
        org_unit_type_id: Some(facility_type.id),
        groups_added: vec![public.id],
        ..Default::default()
    };
    let ids = OrgUnitSelection::Ids(vec![facilities[0].id, facilities[1].id, facilities[0].id]);
    assert_eq!(store.org_units().bulk_update(&t.scope, actor, &ids, &change).await.unwrap(), 2);
    for (i, f) in facilities.iter().enumerate() {
        let now = store.org_units().get(&t.scope, f.id).await.unwrap().unwrap();
        assert_eq!(now.org_unit_type_id.is_some(), i < 2, "{}", f.name);
    }
    assert_eq!(store.groups().get(t.account, public.id).await.unwrap().unwrap().org_unit_count, 2);
    let history =
        store.org_units().history(t.account, ORG_UNIT_CONTENT_TYPE, &facilities[0].id.to_string()).await.unwrap();
    assert_eq!((history.len(), history[0].source.as_str()), (2, "bulk_update"));
    assert_eq!(history[0].user_id, actor);
    assert!(history[0].past_value.as_ref().unwrap()["org_unit_type_id"].is_null());
    assert_eq!(history[0].new_value.as_ref().unwrap()["org_unit_type_id"], facility_type.id.0);

    // Everything matching the queries, except some: the NEW units under North but F2, out of Public.
    let under_north = OrgUnitQuery {
        validation_statuses: vec![ValidationStatus::New],
        parent: Some(ParentFilter::SubtreeOf { root: north.id, include_root: true }),
        ..Default::default()
    };
    let matching = OrgUnitSelection::Matching { queries: vec![under_north.clone()], except: vec![facilities[1].id] };
    let leave = BulkOrgUnitChange {
        validation_status: Some(ValidationStatus::Rejected),
        groups_removed: vec![public.id],
        ..Default::default()
    };
    assert_eq!(store.org_units().bulk_update(&t.scope, actor, &matching, &leave).await.unwrap(), 2);
    let statuses: Vec<ValidationStatus> = statuses_of(store, &t.scope, &facilities).await;
    assert_eq!(
        statuses,
        [ValidationStatus::Rejected, ValidationStatus::New, ValidationStatus::Rejected, ValidationStatus::New]
    );
    assert_eq!(store.groups().get(t.account, public.id).await.unwrap().unwrap().org_unit_count, 1, "F2 stays");

    // Refusals name the field and change nothing.
    let before = statuses_of(store, &t.scope, &facilities).await;
    let valid = BulkOrgUnitChange { validation_status: Some(ValidationStatus::Valid), ..Default::default() };
    let all_north = OrgUnitSelection::Matching {
        queries: vec![OrgUnitQuery { parent: Some(ParentFilter::ChildrenOf(Some(north.id))), ..Default::default() }],
        except: vec![],
    };
    assert_conflict(store.org_units().bulk_update(&t.scope, actor, &all_north, &valid).await, "code");
    let unknown = OrgUnitSelection::Ids(vec![facilities[3].id, OrgUnitId(-1)]);
    assert_invalid(store.org_units().bulk_update(&t.scope, actor, &unknown, &valid).await, "selected_ids");
    let restricted = OrgUnitScope { account: t.account, roots: vec![north.id] };
    let outside = OrgUnitSelection::Ids(vec![facilities[0].id, facilities[3].id]);
    assert_invalid(store.org_units().bulk_update(&restricted, actor, &outside, &valid).await, "selected_ids");
    let bad_type = BulkOrgUnitChange { org_unit_type_id: Some(OrgUnitTypeId(-1)), ..valid.clone() };
    let f4 = OrgUnitSelection::Ids(vec![facilities[3].id]);
    assert_invalid(store.org_units().bulk_update(&t.scope, actor, &f4, &bad_type).await, "org_unit_type_id");
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    let v2 = store.sources().create_version(t.account, source.id, "").await.unwrap();
    let elsewhere = store.groups().create(t.account, None, group("Elsewhere", v2.id)).await.unwrap();
    let other = tree(store, "B").await;
    let foreign = store.groups().create(other.account, None, group("Foreign", other.version)).await.unwrap();
    for bad in [elsewhere.id, foreign.id] {
        let join = BulkOrgUnitChange { groups_added: vec![bad], ..valid.clone() };
        assert_invalid(store.org_units().bulk_update(&t.scope, actor, &f4, &join).await, "groups_added");
    }
    assert_invalid(store.org_units().bulk_update(&other.scope, None, &f4, &valid).await, "selected_ids");
    assert_eq!(statuses_of(store, &t.scope, &facilities).await, before);
    assert_eq!(store.groups().get(t.account, public.id).await.unwrap().unwrap().org_unit_count, 1);

    // A restricted user's query only reaches their subtree.
    let everything = OrgUnitSelection::Matching { queries: vec![OrgUnitQuery::default()], except: vec![] };
    assert_eq!(
        store
            .org_units()
            .bulk_update(
                &restricted,
                actor,
                &everything,
                &BulkOrgUnitChange { org_unit_type_id: Some(facility_type.id), ..Default::default() }
            )
            .await
            .unwrap(),
        4,
        "North and its three facilities"
    );
    let f4_now = store.org_units().get(&t.scope, facilities[3].id).await.unwrap().unwrap();
    assert_eq!(f4_now.org_unit_type_id, None);
}

async fn statuses_of(store: &dyn Store, scope: &OrgUnitScope, units: &[OrgUnit]) -> Vec<ValidationStatus> {
    let mut statuses = Vec::new();
    for unit in units {
        statuses.push(store.org_units().get(scope, unit.id).await.unwrap().unwrap().validation_status);
    }
    statuses
}

pub async fn batches_of_units_are_created_whole_or_not_at_all(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let child = |name: &str, parent: &OrgUnit| {
        let mut new = NewOrgUnit::new(t.version, name);
        new.parent_id = Some(parent.id);
        new.validation_status = ValidationStatus::Valid;
        new
    };
    let mut roots = NewOrgUnit::new(t.version, "Second country");
    roots.location = Some(Location { latitude: 12.0, longitude: -1.5, altitude: 300.0 });
    let batch = vec![child("North", &country), roots, child("South", &country)];
    let ids = store.org_units().create_many(&t.scope, None, &batch).await.unwrap();
    assert_eq!(ids.len(), 3);
    let units: Vec<OrgUnit> = store.org_units().by_ids(t.account, &ids).await.unwrap();
    let by_id: HashMap<OrgUnitId, &OrgUnit> = units.iter().map(|u| (u.id, u)).collect();
    let (north, second, south) = (by_id[&ids[0]], by_id[&ids[1]], by_id[&ids[2]]);
    assert_eq!((north.name.as_str(), second.name.as_str(), south.name.as_str()), ("North", "Second country", "South"));
    assert_eq!(north.path, country.path.child(north.id));
    assert_eq!(south.path, country.path.child(south.id));
    assert_eq!(second.path, TreePath::root(second.id));
    assert_eq!(second.location.unwrap().altitude, 300.0);
    let below = list(
        store,
        &t.scope,
        OrgUnitQuery {
            parent: Some(ParentFilter::SubtreeOf { root: country.id, include_root: false }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(below, ["North", "South"]);
    let area = child("Area", north);
    let deeper = store.org_units().create_many(&t.scope, None, &[area]).await.unwrap();
    let area = store.org_units().get(&t.scope, deeper[0]).await.unwrap().unwrap();
    assert_eq!(area.path, north.path.child(area.id));
    let history = store.org_units().history(t.account, ORG_UNIT_CONTENT_TYPE, &north.id.to_string()).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].new_value.as_ref().unwrap()["path"], north.path.0.as_str());

    // Refusals: located by index, nothing written.
    let before = store.org_units().list(&t.scope, &OrgUnitQuery::default()).await.unwrap().count;
    let mut blank = child("", &country);
    blank.name = " ".into();
    assert_invalid(
        store.org_units().create_many(&t.scope, None, &[child("Ok", &country), blank]).await,
        "units[1].name",
    );
    let mut orphan = child("Orphan", &country);
    orphan.parent_id = Some(OrgUnitId(-7));
    assert_invalid(
        store.org_units().create_many(&t.scope, None, &[child("Ok", &country), orphan]).await,
        "units[1].parent_id",
    );
    let mut first = child("Same code 1", &country);
    first.code = "C1".into();
    let mut second_code = child("Same code 2", &country);
    second_code.code = "C1".into();
    assert_conflict(store.org_units().create_many(&t.scope, None, &[first, second_code]).await, "code");
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    let v2 = store.sources().create_version(t.account, source.id, "").await.unwrap();
    let mut elsewhere = child("Other version", &country);
    elsewhere.version_id = v2.id;
    assert_invalid(store.org_units().create_many(&t.scope, None, &[elsewhere]).await, "units[0].parent_id");
    let restricted = OrgUnitScope { account: t.account, roots: vec![country.id] };
    assert_invalid(
        store.org_units().create_many(&restricted, None, &[NewOrgUnit::new(t.version, "Top")]).await,
        "units[0].parent_id",
    );
    let other = tree(store, "B").await;
    assert_invalid(
        store.org_units().create_many(&other.scope, None, &[child("Foreign", &country)]).await,
        "units[0].version_id",
    );
    let mut foreign_parent = child("Foreign parent", &country);
    foreign_parent.version_id = other.version;
    assert_invalid(store.org_units().create_many(&other.scope, None, &[foreign_parent]).await, "units[0].parent_id");
    assert_eq!(store.org_units().list(&t.scope, &OrgUnitQuery::default()).await.unwrap().count, before);
}

pub async fn list_counts_follow_every_tree_change(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let scope = t.scope.clone();
    let count = |query: OrgUnitQuery| {
        let scope = scope.clone();
        async move { store.org_units().list(&scope, &query).await.unwrap().count }
    };
    let everything = OrgUnitQuery { page: Some((1, 0)), ..Default::default() };
    assert_eq!(count(everything.clone()).await, 1);
    assert_eq!(count(everything.clone()).await, 1, "asked twice, same answer");
    let north = unit(store, &t, "North", Some(country.id)).await;
    assert_eq!(count(everything.clone()).await, 2, "a creation changes the count");
    store.org_units().create_many(&t.scope, None, &[NewOrgUnit::new(t.version, "Third")]).await.unwrap();
    assert_eq!(count(everything.clone()).await, 3, "so does a batch");
    let unpaged = store.org_units().list(&scope, &OrgUnitQuery::default()).await.unwrap();
    assert_eq!((unpaged.count, unpaged.items.len()), (3, 3), "unpaged, every match and its count");

    let valid = OrgUnitQuery { validation_statuses: vec![ValidationStatus::Valid], ..everything.clone() };
    assert_eq!(count(valid.clone()).await, 2);
    let reject = OrgUnitUpdate { validation_status: Some(ValidationStatus::Rejected), ..Default::default() };
    store.org_units().update(&t.scope, None, north.id, reject).await.unwrap();
    assert_eq!(count(valid.clone()).await, 1, "an update changes it");

    let group = GroupInput { version_id: t.version, name: "G".into(), source_ref: None, block_of_countries: false };
    let group = store.groups().create(t.account, None, group).await.unwrap();
    let members = OrgUnitQuery { group_ids: vec![group.id], ..everything.clone() };
    assert_eq!(count(members.clone()).await, 0);
    store.groups().change_members(&t.scope, None, group.id, &[country.id], &[]).await.unwrap();
    assert_eq!(count(members.clone()).await, 1, "membership changes it");
    store.groups().delete(t.account, None, group.id).await.unwrap();
    assert_eq!(count(members.clone()).await, 0, "so does deleting the group");

    let subtree = OrgUnitQuery {
        parent: Some(ParentFilter::SubtreeOf { root: country.id, include_root: true }),
        ..everything.clone()
    };
    assert_eq!(count(subtree.clone()).await, 2);
    let move_away = OrgUnitUpdate { parent_id: Some(None), ..Default::default() };
    store.org_units().update(&t.scope, None, north.id, move_away).await.unwrap();
    assert_eq!(count(subtree.clone()).await, 1, "a move changes a subtree's count");

    // Another account's writes leave this one's counts alone, and the reverse.
    let other = tree(store, "B").await;
    unit(store, &other, "Elsewhere", None).await;
    assert_eq!(count(everything.clone()).await, 3);
}

/// Units move only the tree version; types, sources and versions move the catalog's too (what
/// the server's catalog of org-unit responses is cached under). Other accounts' stay put.
pub async fn registry_versions_tell_catalog_changes_from_unit_changes(store: &dyn Store) {
    let t = tree(store, "A").await;
    let other = tree(store, "B").await;
    let versions = || async { store.accounts().registry_versions(t.account).await.unwrap() };
    let start = versions().await;
    unit(store, &t, "Country", None).await;
    let after_unit = versions().await;
    assert!(after_unit.tree > start.tree, "a unit moves the tree version");
    assert_eq!(after_unit.catalog, start.catalog, "but not the catalog's");

    let input = OrgUnitTypeInput { name: "District".into(), short_name: "DIST".into(), ..Default::default() };
    store.org_unit_types().create(t.account, None, input).await.unwrap();
    let after_type = versions().await;
    assert!(after_type.tree > after_unit.tree && after_type.catalog > after_unit.catalog, "a type moves both");
    let source = store.sources().sources(t.account).await.unwrap().remove(0);
    store.sources().create_version(t.account, source.id, "second").await.unwrap();
    let after_version = versions().await;
    assert!(after_version.catalog > after_type.catalog, "so does a version");

    let others = store.accounts().registry_versions(other.account).await.unwrap();
    unit(store, &t, "North", None).await;
    assert_eq!(store.accounts().registry_versions(other.account).await.unwrap(), others);
    assert_not_found(store.accounts().registry_versions(AccountId(i64::MAX)).await);
}

pub async fn name_search_takes_any_text_literally(store: &dyn Store) {
    let t = tree(store, "A").await;
    for name in ["CSPS \"Le Bon\" Samaritain", "Hôpital Saint-Camille", "50% centre_A", "Dispensaire: OR NOT *x*", "Ké"]
    {
        unit(store, &t, name, None).await;
    }
    let mut aliased = NewOrgUnit::new(t.version, "Centre médical");
    aliased.aliases = vec!["CM Koudougou".into()];
    store.org_units().create(&t.scope, None, aliased).await.unwrap();
    let search = |text: &str| {
        let query = OrgUnitQuery { search: Some(OrgUnitSearch::Text(text.into())), ..Default::default() };
        let scope = t.scope.clone();
        async move { list(store, &scope, query).await }
    };
    assert_eq!(search("\"le bon\"").await, ["CSPS \"Le Bon\" Samaritain"]);
    assert_eq!(search("saint-cam").await, ["Hôpital Saint-Camille"]);
    assert_eq!(search("HÔPITAL").await, ["Hôpital Saint-Camille"], "case folds beyond ASCII");
    assert_eq!(search("50%").await, ["50% centre_A"]);
    assert_eq!(search("e_a").await, ["50% centre_A"], "_ is not a wildcard");
    assert_eq!(search("% c").await, ["50% centre_A"]);
    assert_eq!(search(": OR NOT *").await, ["Dispensaire: OR NOT *x*"], "no query syntax");
    assert_eq!(search("Ké").await, ["Ké"], "shorter than a trigram");
    assert_eq!(search("cm koudougou").await, ["Centre médical"], "an alias equal to the text");
    assert!(search("koudou").await.is_empty(), "aliases match whole");
    assert!(search("Samaritains").await.is_empty());
}

/// Bulk creations of a hundred units or more index them once per batch rather than row by row
/// (SQLite turns its triggers off meanwhile); smaller ones row by row: either way the units are
/// found by name and by box like any other, a refused batch leaves no index entry behind, and
/// single creations afterwards are indexed again.
pub async fn bulk_created_units_are_found_by_name_and_box(store: &dyn Store) {
    let t = tree(store, "A").await;
    let new = |name: &str, at: Option<(f64, f64)>| {
        let mut unit = NewOrgUnit::new(t.version, name);
        unit.location = at.map(|(latitude, longitude)| Location { latitude, longitude, altitude: 0.0 });
        unit
    };
    let units = vec![new("Région du Centre", None), new("CSPS Kologo", Some((12.3, -1.5))), new("CSPS Tanghin", None)];
    store.org_units().create_tree(&t.scope, None, &units, &[None, Some(0), Some(0)]).await.unwrap();
    let mut aliased = new("Dispensaire", Some((11.2, -4.3)));
    aliased.aliases = vec!["DSP Bobo".into()];
    store.org_units().create_many(&t.scope, None, &[aliased, new("CSPS Koudougou", None)]).await.unwrap();
    let search = |text: &str| OrgUnitQuery { search: Some(OrgUnitSearch::Text(text.into())), ..Default::default() };
    let within = |min_x, min_y, max_x, max_y| OrgUnitQuery {
        bbox: Some(BoundingBox { min_x, min_y, max_x, max_y }),
        ..Default::default()
    };
    assert_eq!(list(store, &t.scope, search("csps k")).await, ["CSPS Kologo", "CSPS Koudougou"]);
    assert_eq!(list(store, &t.scope, search("région")).await, ["Région du Centre"]);
    assert_eq!(list(store, &t.scope, search("dsp bobo")).await, ["Dispensaire"]);
    assert_eq!(list(store, &t.scope, within(-2.0, 12.0, -1.0, 13.0)).await, ["CSPS Kologo"]);
    assert_eq!(list(store, &t.scope, within(-5.0, 11.0, -1.0, 13.0)).await, ["CSPS Kologo", "Dispensaire"]);
    let posts: Vec<NewOrgUnit> =
        (0..120).map(|i| new(&format!("Poste {i:03}"), Some((14.0 + i as f64 / 1000.0, 1.0)))).collect();
    store.org_units().create_tree(&t.scope, None, &posts, &[None; 120]).await.unwrap();
    assert_eq!(list(store, &t.scope, search("poste 11")).await.len(), 10, "Poste 110 to 119");
    assert_eq!(
        list(store, &t.scope, within(0.9, 14.0495, 1.1, 14.0595)).await,
        [
            "Poste 050",
            "Poste 051",
            "Poste 052",
            "Poste 053",
            "Poste 054",
            "Poste 055",
            "Poste 056",
            "Poste 057",
            "Poste 058",
            "Poste 059"
        ]
    );

    let mut refused = vec![new("CSPS Refusé", Some((12.0, -1.2))), new("CSPS Refusé 2", None)];
    refused[1].org_unit_type_id = Some(OrgUnitTypeId(i64::MAX));
    assert_invalid(
        store.org_units().create_tree(&t.scope, None, &refused, &[None, Some(0)]).await,
        "units[1].org_unit_type_id",
    );
    assert!(list(store, &t.scope, search("refusé")).await.is_empty());
    assert!(list(store, &t.scope, within(-1.3, 11.9, -1.1, 12.1)).await.is_empty());
    unit(store, &t, "CSPS Kaya", None).await;
    store.org_units().create(&t.scope, None, new("CSPS Ziniaré", Some((12.6, -1.3)))).await.unwrap();
    assert_eq!(list(store, &t.scope, search("csps k")).await, ["CSPS Kaya", "CSPS Kologo", "CSPS Koudougou"]);
    assert_eq!(list(store, &t.scope, within(-1.4, 12.5, -1.2, 12.7)).await, ["CSPS Ziniaré"]);
}

pub async fn whole_trees_are_created_in_one_transaction(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let new = |name: &str| {
        let mut unit = NewOrgUnit::new(t.version, name);
        unit.validation_status = ValidationStatus::Valid;
        unit
    };
    // Two provinces, under the existing country and at the root; districts and schools below them.
    let mut kongo = new("Kongo");
    kongo.parent_id = Some(country.id);
    let units = vec![kongo, new("Kasai"), new("Boma"), new("Luiza"), new("EP Kisolo"), new("EP Kisolo")];
    let parents = [None, None, Some(0), Some(1), Some(2), Some(2)];
    let ids = store.org_units().create_tree(&t.scope, None, &units, &parents).await.unwrap();
    let created: HashMap<OrgUnitId, OrgUnit> =
        store.org_units().by_ids(t.account, &ids).await.unwrap().into_iter().map(|u| (u.id, u)).collect();
    let at = |i: usize| &created[&ids[i]];
    assert_eq!(at(0).path, country.path.child(ids[0]));
    assert_eq!(at(1).path, TreePath::root(ids[1]));
    assert_eq!(at(2).path, at(0).path.child(ids[2]));
    assert_eq!(at(3).parent_id, Some(ids[1]));
    assert_eq!(at(4).path, at(2).path.child(ids[4]));
    assert_eq!(at(5).path, at(2).path.child(ids[5]), "leaves of the same name stay two units");
    assert_eq!((at(4).name.as_str(), at(4).path.depth()), ("EP Kisolo", 4));

    // A refusal deep in the tree (a later generation) names its input index; nothing is written.
    let before = store.org_units().list(&t.scope, &OrgUnitQuery::default()).await.unwrap().count;
    let mut bad = vec![new("Kwilu"), new("Bandundu"), new("Bulungu"), new("Idiofa")];
    bad[3].location = Some(Location { latitude: 95.0, longitude: 0.0, altitude: 0.0 });
    let parents = [None, Some(0), Some(1), Some(1)];
    assert_invalid(store.org_units().create_tree(&t.scope, None, &bad, &parents).await, "units[3].latitude");
    // Checked in the third generation's batch (where it is the first unit): named by its input index.
    bad[3].location = None;
    bad[3].org_unit_type_id = Some(OrgUnitTypeId(i64::MAX));
    assert_invalid(store.org_units().create_tree(&t.scope, None, &bad, &parents).await, "units[3].org_unit_type_id");
    let mut late = vec![new("A"), new("B"), new("C")];
    late[2].code = "X1".into();
    let mut taken = new("Holder");
    taken.code = "X1".into();
    store.org_units().create(&t.scope, None, taken).await.unwrap();
    let before_conflict = before + 1;
    assert_conflict(store.org_units().create_tree(&t.scope, None, &late, &[None, Some(0), Some(1)]).await, "code");
    assert_invalid(
        store.org_units().create_tree(&t.scope, None, &late[..2], &[Some(1), None]).await,
        "units[0].parent_id",
    );
    assert_invalid(store.org_units().create_tree(&t.scope, None, &late[..2], &[None]).await, "units");
    let after = store.org_units().list(&t.scope, &OrgUnitQuery::default()).await.unwrap().count;
    assert_eq!(after, before_conflict, "refused trees leave nothing behind");
}

/// An import's plan applied by the store: new units a generation at a time (ids above every id
/// handed out before), an existing unit moved under a new one, groups, memberships and a group
/// set, all audited under the import's source; a plan refused at its last step writes nothing.
pub async fn import_changes_apply_whole_or_not_at_all(store: &dyn Store) {
    let t = tree(store, "A").await;
    let country = unit(store, &t, "Country", None).await;
    let old = unit(store, &t, "Old district", Some(country.id)).await;
    let existing = store
        .groups()
        .create(
            t.account,
            None,
            GroupInput { version_id: t.version, name: "Rural".into(), source_ref: None, block_of_countries: false },
        )
        .await
        .unwrap();
    let new = |name: &str| {
        let mut unit = NewOrgUnit::new(t.version, name);
        unit.validation_status = ValidationStatus::Valid;
        unit
    };
    let mut region = new("Region");
    region.parent_id = Some(country.id);
    let mut changes = TreeChanges::new(t.version, "test_import");
    changes.creates = vec![region, new("School")];
    changes.create_parents = vec![None, Some(0)];
    changes.updates = vec![PlannedUpdate {
        id: old.id,
        update: OrgUnitUpdate { name: Some("District".into()), ..Default::default() },
        new_parent: Some(0),
    }];
    changes.new_groups = vec![PlannedGroupInput { name: "Public".into(), source_ref: Some("pub".into()) }];
    changes.memberships = vec![
        (PlannedUnit::New(1), vec![PlannedGroup::New(0), PlannedGroup::Existing(existing.id)]),
        (PlannedUnit::Existing(old.id), vec![PlannedGroup::New(0)]),
    ];
    changes.new_group_sets =
        vec![PlannedGroupSet { name: "Ownership".into(), source_ref: None, groups: vec![PlannedGroup::New(0)] }];

    let applied = store.org_units().apply_changes(&t.scope, None, &changes).await.unwrap();
    let (region_id, school_id) = (applied.created[0], applied.created[1]);
    assert!(region_id > old.id && school_id > region_id, "fresh ids, in input order: {:?}", applied.created);
    let by_id: HashMap<OrgUnitId, OrgUnit> = store
        .org_units()
        .by_ids(t.account, &[region_id, school_id, old.id])
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    assert_eq!(by_id[&region_id].path, country.path.child(region_id));
    assert_eq!(by_id[&school_id].path, by_id[&region_id].path.child(school_id));
    assert_eq!(by_id[&old.id].path, by_id[&region_id].path.child(old.id), "moved under the new region");
    assert_eq!(by_id[&old.id].name, "District");
    let groups_of = store.groups().groups_of(t.account, &[school_id, old.id]).await.unwrap();
    let mut memberships: Vec<(OrgUnitId, String)> = groups_of.into_iter().map(|(u, g)| (u, g.name)).collect();
    memberships.sort();
    let mut expected =
        vec![(old.id, "Public".to_owned()), (school_id, "Public".to_owned()), (school_id, "Rural".to_owned())];
    expected.sort();
    assert_eq!(memberships, expected);
    let sets = store.group_sets().list(t.account, &[t.version]).await.unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!((sets[0].name.as_str(), sets[0].group_ids.as_slice()), ("Ownership", applied.created_groups.as_slice()));
    let history = store.org_units().history(t.account, ORG_UNIT_CONTENT_TYPE, &school_id.to_string()).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].source, "test_import");
    assert_eq!(history[0].new_value.as_ref().unwrap()["path"], by_id[&school_id].path.0.as_str());
    let history = store.org_units().history(t.account, ORG_UNIT_CONTENT_TYPE, &old.id.to_string()).await.unwrap();
    assert_eq!((history.len(), history[0].source.as_str()), (2, "test_import"));

    // Refused at the last step (a membership in another account's group): nothing of it stays.
    let other = tree(store, "B").await;
    let foreign = store
        .groups()
        .create(
            other.account,
            None,
            GroupInput {
                version_id: other.version,
                name: "Theirs".into(),
                source_ref: None,
                block_of_countries: false,
            },
        )
        .await
        .unwrap();
    let before = store.org_units().list(&t.scope, &OrgUnitQuery::default()).await.unwrap().count;
    let mut refused = TreeChanges::new(t.version, "test_import");
    refused.creates = vec![new("Second region"), new("Second school")];
    refused.create_parents = vec![None, Some(0)];
    refused.new_groups = vec![PlannedGroupInput { name: "Private".into(), source_ref: None }];
    refused.memberships = vec![(PlannedUnit::New(1), vec![PlannedGroup::Existing(foreign.id)])];
    assert_invalid(store.org_units().apply_changes(&t.scope, None, &refused).await, "memberships[0]");
    assert_eq!(store.org_units().list(&t.scope, &OrgUnitQuery::default()).await.unwrap().count, before);
    let groups = store.groups().list(t.account, &[t.version]).await.unwrap();
    assert!(groups.iter().all(|g| g.name != "Private"), "the plan's new group was rolled back");

    // A scope limited to a subtree creates below it only.
    let limited = OrgUnitScope { account: t.account, roots: vec![region_id] };
    let mut top = TreeChanges::new(t.version, "test_import");
    top.creates = vec![new("Top")];
    top.create_parents = vec![None];
    assert_invalid(store.org_units().apply_changes(&limited, None, &top).await, "units[0].parent_id");
    top.creates[0].parent_id = Some(country.id);
    assert_invalid(store.org_units().apply_changes(&limited, None, &top).await, "units[0].parent_id");
    top.creates[0].parent_id = Some(school_id);
    let inside = store.org_units().apply_changes(&limited, None, &top).await.unwrap();
    assert_eq!(inside.created.len(), 1);
}

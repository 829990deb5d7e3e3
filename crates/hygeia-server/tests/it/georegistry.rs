//! The georegistry over HTTP: sources, versions, types, org units, their rules and restrictions.

use axum::http::{Method, StatusCode};
use hygeia_core::{AccountId, SourceVersionId};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Reply, TestApp, send_json};

on_both_backends!(
    a_tree_is_built_read_and_changed_through_the_api,
    permissions_gate_reading_and_writing,
    restricted_users_see_only_their_subtree,
    bad_org_unit_input_is_refused_by_field,
    shapes_are_validated_stored_and_reported,
    groups_are_managed_and_filter_the_tree,
    group_sets_are_managed_through_the_api,
    bulk_update_changes_the_selection_or_nothing,
    renamed_types_and_sources_show_at_once,
    list_variants_take_iaso_shapes,
);

async fn patch_unit(app: &TestApp, token: String, id: i64, body: Value) -> Reply {
    send_json(app, Method::PATCH, &format!("/api/orgunits/{id}/"), &token, body).await
}

pub(crate) fn ok(reply: Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    reply.json()
}

/// An account with a superuser, a source, its version as the live tree, a type, and a
/// country > region > district chain. Returns (account, token, version, [country, region, district]).
pub(crate) async fn setup(app: &TestApp) -> (AccountId, String, i64, [i64; 3]) {
    let (account, token, version_id) = setup_account(app).await;
    let mut ids = [0; 3];
    let mut parent = Value::Null;
    for (i, name) in ["Burkina Faso", "Boucle du Mouhoun", "DS Boromo"].into_iter().enumerate() {
        let unit = ok(
            send_json(
                app,
                Method::POST,
                "/api/orgunits/create_org_unit/",
                &token,
                json!({"name": name, "parent_id": parent, "validation_status": "VALID"}),
            )
            .await,
            StatusCode::OK,
        );
        ids[i] = unit["id"].as_i64().unwrap();
        parent = unit["id"].clone();
    }
    (account, token, version_id, ids)
}

/// An account with a superuser "admin", a source, and its version as the live tree (empty).
/// Returns (account, token, version).
pub(crate) async fn setup_account(app: &TestApp) -> (AccountId, String, i64) {
    let account = app.account("BFA Demo").await;
    app.user(account, "admin", |u| u.is_superuser = true).await;
    let token = app.token("admin").await;
    let source = ok(
        send_json(app, Method::POST, "/api/datasources/", &token, json!({"name": "bfa", "description": "GeoPackage"}))
            .await,
        StatusCode::CREATED,
    );
    let version = ok(
        send_json(
            app,
            Method::POST,
            "/api/sourceversions/",
            &token,
            json!({"data_source_id": source["id"], "description": "v1"}),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(version["number"], 1);
    let version_id = version["id"].as_i64().unwrap();
    app.store.sources().set_account_default_version(account, SourceVersionId(version_id)).await.unwrap();
    (account, token, version_id)
}

async fn a_tree_is_built_read_and_changed_through_the_api(app: &TestApp) {
    let (_, token, version, [country, region, district]) = setup(app).await;
    let hf_type = ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunittypes/",
            &token,
            json!({"name": "Health facility", "short_name": "HF", "depth": 5}),
        )
        .await,
        StatusCode::CREATED,
    );
    let facility = ok(
        send_json(app, Method::POST, "/api/orgunits/create_org_unit/", &token, json!({
            "name": "CMA Boromo", "parent_id": district, "org_unit_type_id": hf_type["id"], "validation_status": "VALID",
            "latitude": 11.75, "longitude": -2.93, "altitude": 300, "opening_date": "01-03-2024",
            "source_ref": "demo-001", "aliases": ["Boromo hospital"], "code": "BF001",
        }))
        .await,
        StatusCode::OK,
    );
    let facility_id = facility["id"].as_i64().unwrap();
    assert_eq!(facility["opening_date"], "01/03/2024");
    assert_eq!(facility["parent"]["parent"]["parent"]["name"], "Burkina Faso");
    assert_eq!(facility["version_id"], version);
    assert_eq!(facility["source"], "bfa");
    let proposed = ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunits/create_org_unit/",
            &token,
            json!({"name": "CSPS proposed", "parent_id": district}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(proposed["validation_status"], "NEW");

    // The paginated list: Iaso's envelope and row shape, VALID only by default.
    let page = ok(app.get("/api/orgunits/?limit=2&page=1", Some(&token)).await, StatusCode::OK);
    assert_eq!(page["count"], 4);
    assert_eq!(page["pages"], 2);
    assert_eq!(page["orgunits"][0]["name"], "Boucle du Mouhoun", "ordered by name");
    let row = &page["orgunits"][0];
    for key in [
        "id",
        "name",
        "aliases",
        "parent_id",
        "validation_status",
        "parent_name",
        "source",
        "source_ref",
        "org_unit_type_name",
        "parent",
        "latitude",
        "has_geo_json",
        "created_at",
        "source_id",
        "org_unit_type",
        "groups",
        "projects",
    ] {
        assert!(row.get(key).is_some(), "missing {key} in {row}");
    }
    assert_eq!(row["parent"]["name"], "Burkina Faso");
    assert_eq!(row["parent"]["parent"], Value::Null);

    let all = ok(app.get("/api/orgunits/?validation_status=all", Some(&token)).await, StatusCode::OK);
    assert_eq!(all["orgUnits"].as_array().unwrap().len(), 5, "without limit: every match, Iaso's mobile rows");
    let names = |body: &Value, key: &str| -> Vec<String> {
        let mut names: Vec<String> =
            body[key].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_owned()).collect();
        names.sort();
        names
    };
    let search = ok(app.get("/api/orgunits/?search=boromo", Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&search, "orgUnits"), ["CMA Boromo", "DS Boromo"]);
    let alias = ok(app.get("/api/orgunits/?search=Boromo%20hospital", Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&alias, "orgUnits"), ["CMA Boromo"]);
    let by_ids =
        ok(app.get(&format!("/api/orgunits/?search=ids:{country},{facility_id}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&by_ids, "orgUnits"), ["Burkina Faso", "CMA Boromo"]);
    let by_refs =
        ok(app.get(&format!("/api/orgunits/?search=refs:demo-001,iaso:{region}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&by_refs, "orgUnits"), ["Boucle du Mouhoun", "CMA Boromo"]);
    let subtree = ok(app.get(&format!("/api/orgunits/?orgUnitParentId={region}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&subtree, "orgUnits"), ["Boucle du Mouhoun", "CMA Boromo", "DS Boromo"]);
    let roots = ok(app.get("/api/orgunits/?parent_id=0", Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&roots, "orgUnits"), ["Burkina Faso"]);
    let typed =
        ok(app.get(&format!("/api/orgunits/?orgUnitTypeId={}", hf_type["id"]), Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&typed, "orgUnits"), ["CMA Boromo"]);
    let located = ok(app.get("/api/orgunits/?geography=location", Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&located, "orgUnits"), ["CMA Boromo"]);
    let boxed = ok(app.get("/api/orgunits/?bbox=-3,11,-2,12", Some(&token)).await, StatusCode::OK);
    assert_eq!(names(&boxed, "orgUnits"), ["CMA Boromo"]);
    let live = ok(app.get("/api/orgunits/?defaultVersion=true", Some(&token)).await, StatusCode::OK);
    assert_eq!(live["orgUnits"].as_array().unwrap().len(), 4);
    let map = ok(app.get("/api/orgunits/geojson/?geography=location", Some(&token)).await, StatusCode::OK);
    assert_eq!(map["type"], "FeatureCollection");
    assert_eq!(map["features"][0]["geometry"]["coordinates"], json!([-2.93, 11.75, 300.0]));

    // Detail, then a move and a rename, then the audit history.
    let detail = ok(app.get(&format!("/api/orgunits/{facility_id}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(detail["code"], "BF001");
    assert_eq!(detail["org_unit_type"]["short_name"], "HF");
    let moved = ok(
        send_json(
            app,
            Method::PATCH,
            &format!("/api/orgunits/{district}/"),
            &token,
            json!({"parent_id": country, "name": "DS Boromo (moved)"}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(moved["parent_id"], country);
    let facility_now = ok(app.get(&format!("/api/orgunits/{facility_id}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(facility_now["parent"]["parent"]["name"], "Burkina Faso", "the subtree moved along");
    let logs = ok(
        app.get(&format!("/api/logs/?objectId={district}&contentType=iaso.orgunit"), Some(&token)).await,
        StatusCode::OK,
    );
    assert_eq!(logs["count"], 2);
    assert_eq!(logs["list"][0]["past_value"][0]["fields"]["name"], "DS Boromo");
    assert_eq!(logs["list"][0]["new_value"][0]["fields"]["name"], "DS Boromo (moved)");

    // The tree, one level at a time.
    let top = ok(app.get("/api/orgunits/tree/", Some(&token)).await, StatusCode::OK);
    assert_eq!(
        top,
        json!([{"id": country, "name": "Burkina Faso", "validation_status": "VALID", "has_children": true,
        "org_unit_type_id": null, "org_unit_type_short_name": null}])
    );
    let level = ok(app.get(&format!("/api/orgunits/tree/?parent_id={district}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(level[0]["name"], "CMA Boromo");
    assert_eq!(level[0]["has_children"], false);
    assert_eq!(level[0]["org_unit_type_short_name"], "HF");
    let found =
        ok(app.get("/api/orgunits/tree/search/?search=boromo&limit=1&page=2", Some(&token)).await, StatusCode::OK);
    assert_eq!(found["count"], 2);
    assert_eq!(found["pages"], 2);
    assert_eq!(found["results"][0]["name"], "DS Boromo (moved)");

    let sources = ok(app.get("/api/datasources/", Some(&token)).await, StatusCode::OK);
    assert_eq!(sources["sources"][0]["versions"][0]["org_units_count"], 5);
    let versions = ok(app.get("/api/sourceversions/", Some(&token)).await, StatusCode::OK);
    assert_eq!(versions["versions"][0]["data_source_name"], "bfa");
    let types = ok(app.get("/api/orgunittypes/", Some(&token)).await, StatusCode::OK);
    assert_eq!(types["orgUnitTypes"][0]["short_name"], "HF");
    let in_use =
        send_json(app, Method::DELETE, &format!("/api/orgunittypes/{}/", hf_type["id"]), &token, json!({})).await;
    in_use.error(StatusCode::CONFLICT, "conflict");
}

async fn permissions_gate_reading_and_writing(app: &TestApp) {
    let (account, _, _, [country, ..]) = setup(app).await;
    app.user(account, "nobody", |_| {}).await;
    app.user(account, "reader", |u| u.permissions = vec!["iaso_org_units_read".into()]).await;
    let nobody = app.token("nobody").await;
    let reader = app.token("reader").await;
    app.get("/api/orgunits/", Some(&nobody)).await.error(StatusCode::FORBIDDEN, "permission_denied");
    app.get(&format!("/api/orgunits/{country}/"), Some(&nobody))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    assert_eq!(app.get("/api/orgunits/", Some(&reader)).await.status, StatusCode::OK);
    send_json(app, Method::PATCH, &format!("/api/orgunits/{country}/"), &reader, json!({"name": "x"}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    send_json(app, Method::POST, "/api/datasources/", &reader, json!({"name": "mine"}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    send_json(app, Method::POST, "/api/orgunittypes/", &reader, json!({"name": "T"}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    app.get("/api/orgunits/", None).await.error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

async fn restricted_users_see_only_their_subtree(app: &TestApp) {
    let (account, token, _, [country, region, district]) = setup(app).await;
    let other_region = ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunits/create_org_unit/",
            &token,
            json!({"name": "Centre", "parent_id": country, "validation_status": "VALID"}),
        )
        .await,
        StatusCode::OK,
    )["id"]
        .as_i64()
        .unwrap();
    app.user(account, "district-manager", |u| {
        u.permissions = vec!["iaso_org_units".into()];
        u.org_units = vec![region];
    })
    .await;
    let restricted = app.token("district-manager").await;
    let top = ok(app.get("/api/orgunits/tree/", Some(&restricted)).await, StatusCode::OK);
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["id"], region, "a restricted user's tree starts at their own roots");
    let listed = ok(app.get("/api/orgunits/", Some(&restricted)).await, StatusCode::OK);
    let mut names: Vec<&str> =
        listed["orgUnits"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Boucle du Mouhoun", "DS Boromo"]);
    app.get(&format!("/api/orgunits/{other_region}/"), Some(&restricted))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/logs/?objectId={other_region}&contentType=iaso.orgunit"), Some(&restricted))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let detail = ok(app.get(&format!("/api/orgunits/{district}/"), Some(&restricted)).await, StatusCode::OK);
    assert_eq!(detail["parent"]["parent"]["name"], "Burkina Faso", "ancestors are shown");
    assert!(detail["parent"].get("code").is_none(), "but only by id, name and type: {}", detail["parent"]);
    send_json(app, Method::PATCH, &format!("/api/orgunits/{other_region}/"), &restricted, json!({"name": "x"}))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let body = send_json(app, Method::POST, "/api/orgunits/create_org_unit/", &restricted, json!({"name": "New root"}))
        .await
        .error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["fields"]["parent_id"].is_array());
    let body = send_json(
        app,
        Method::PATCH,
        &format!("/api/orgunits/{district}/"),
        &restricted,
        json!({"parent_id": other_region}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["fields"]["parent_id"].is_array());
}

async fn bad_org_unit_input_is_refused_by_field(app: &TestApp) {
    let (_, token, _, [country, region, district]) = setup(app).await;
    let other = app.account("Other").await;
    app.user(other, "other-admin", |u| u.is_superuser = true).await;
    let other_token = app.token("other-admin").await;
    let patch = |id: i64, body: Value| patch_unit(app, token.clone(), id, body);
    let field_error = |reply: Reply, field: &str| {
        let body = reply.error(StatusCode::BAD_REQUEST, "validation_error");
        assert!(body["fields"][field].is_array(), "expected an error on {field}: {body}");
    };
    field_error(patch(district, json!({"validation_status": "MAYBE"})).await, "validation_status");
    field_error(patch(district, json!({"opening_date": "31-31-2020"})).await, "opening_date");
    field_error(patch(district, json!({"latitude": 11.0})).await, "latitude");
    field_error(patch(district, json!({"latitude": 95.0, "longitude": 0.0})).await, "latitude");
    field_error(patch(district, json!({"longitude": "east", "latitude": 1.0})).await, "longitude");
    field_error(patch(country, json!({"parent_id": district})).await, "parent_id");
    field_error(patch(district, json!({"org_unit_type_id": 999999})).await, "org_unit_type_id");
    field_error(patch(district, json!({"parent_id": 999999})).await, "parent_id");
    field_error(patch(district, json!({"geo_json": {}})).await, "geo_json");
    field_error(
        patch(district, json!({"opening_date": "2024-05-01", "closed_date": "2024-01-01"})).await,
        "closed_date",
    );
    patch(region, json!({"code": "DUP"})).await;
    patch(district, json!({"code": "DUP"})).await.error(StatusCode::CONFLICT, "conflict");
    patch(999999, json!({"name": "x"})).await.error(StatusCode::NOT_FOUND, "not_found");
    send_json(app, Method::PATCH, &format!("/api/orgunits/{district}/"), &other_token, json!({"name": "stolen"}))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/orgunits/{district}/"), Some(&other_token)).await.error(StatusCode::NOT_FOUND, "not_found");
    field_error(app.get("/api/orgunits/?bbox=1,2,3", Some(&token)).await, "bbox");
    field_error(app.get("/api/orgunits/?order=password", Some(&token)).await, "order");
    field_error(app.get("/api/orgunits/?orgUnitTypeId=abc", Some(&token)).await, "orgUnitTypeId");
    field_error(app.get("/api/orgunits/?search=ids:1,x", Some(&token)).await, "search");
    let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    field_error(app.get(&format!("/api/orgunits/?search=ids:{}", many.join(",")), Some(&token)).await, "search");
    field_error(app.get("/api/orgunits/?order=id,name,id,name,id,name,id", Some(&token)).await, "order");
    field_error(
        app.get(&format!("/api/logs/?objectId={district}&contentType=iaso.form"), Some(&token)).await,
        "contentType",
    );
    field_error(patch(district, json!({"opening_date": "01-01-0999"})).await, "opening_date");
    field_error(app.get("/api/orgunits/?limit=10&page=999999999999999999999", Some(&token)).await, "page");
    let far = ok(app.get("/api/orgunits/?limit=10&page=99999999999999999", Some(&token)).await, StatusCode::OK);
    assert_eq!(far["page"], 1, "a page past the end (even a huge one) gives the last page");
    field_error(
        send_json(app, Method::POST, "/api/orgunits/create_org_unit/", &token, json!({"parent_id": country})).await,
        "name",
    );
    // Nothing changed: the district still has its name, parent and no code.
    let district_now = ok(app.get(&format!("/api/orgunits/{district}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(district_now["name"], "DS Boromo");
    assert_eq!(district_now["parent_id"], region);
    assert_eq!(district_now["code"], "");
    assert_eq!(district_now["latitude"], Value::Null);
}

async fn shapes_are_validated_stored_and_reported(app: &TestApp) {
    let (_, token, _, [_, region, district]) = setup(app).await;
    let square = |x0: f64, y0: f64, size: f64| {
        json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon",
            "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]],
        }}]})
    };
    let shaped = ok(
        send_json(
            app,
            Method::PATCH,
            &format!("/api/orgunits/{district}/"),
            &token,
            json!({"geo_json": square(-3.5, 11.0, 1.0)}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(shaped["has_geo_json"], true);
    assert_eq!(shaped["geo_json"]["type"], "FeatureCollection");
    assert_eq!(shaped["geo_json"]["features"][0]["geometry"]["type"], "MultiPolygon");
    let with_shape = ok(app.get("/api/orgunits/?geography=shape", Some(&token)).await, StatusCode::OK);
    assert_eq!(with_shape["orgUnits"].as_array().unwrap().len(), 1);
    let boxed = ok(app.get("/api/orgunits/?bbox=-3.2,11.2,-3.1,11.3", Some(&token)).await, StatusCode::OK);
    assert_eq!(boxed["orgUnits"][0]["id"], district);
    let map = ok(app.get("/api/orgunits/geojson/?bbox=-3.2,11.2,-3.1,11.3", Some(&token)).await, StatusCode::OK);
    assert_eq!(map["features"][0]["id"], district);
    assert_eq!(map["features"][0]["geometry"]["type"], "MultiPolygon", "maps get the boundary: {map}");
    assert_eq!(map["features"][0]["geometry"]["coordinates"][0][0][0], json!([-3.5, 11.0]));

    // A facility inside its district's shape is quiet; one outside is accepted and reported.
    let inside = ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunits/create_org_unit/",
            &token,
            json!({"name": "Inside", "parent_id": district, "latitude": 11.5, "longitude": -3.0}),
        )
        .await,
        StatusCode::OK,
    );
    assert!(inside.get("warnings").is_none(), "{inside}");
    let outside = ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunits/create_org_unit/",
            &token,
            json!({"name": "Outside", "parent_id": district, "latitude": 14.0, "longitude": 1.0}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(outside["warnings"][0], "The location lies outside the parent's shape.");

    let field_error = |reply: Reply| {
        let body = reply.error(StatusCode::BAD_REQUEST, "validation_error");
        body["fields"]["geo_json"][0].as_str().unwrap_or_default().to_owned()
    };
    let bow_tie = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]});
    let message = field_error(
        send_json(app, Method::PATCH, &format!("/api/orgunits/{region}/"), &token, json!({"geo_json": bow_tie})).await,
    );
    assert!(message.contains("not valid"), "{message}");
    let message = field_error(
        send_json(
            app,
            Method::PATCH,
            &format!("/api/orgunits/{region}/"),
            &token,
            json!({"geo_json": square(179.5, 0.0, 1.0)}),
        )
        .await,
    );
    assert!(message.contains("WGS84"), "{message}");
    let unclosed = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]});
    let message = field_error(
        send_json(app, Method::PATCH, &format!("/api/orgunits/{region}/"), &token, json!({"geo_json": unclosed})).await,
    );
    assert!(message.contains("coordinates[0]") && message.contains("not closed"), "{message}");
    let message = field_error(
        send_json(
            app,
            Method::PATCH,
            &format!("/api/orgunits/{region}/"),
            &token,
            json!({"geo_json": {"type": "Point", "coordinates": [0, 0]}}),
        )
        .await,
    );
    assert!(message.contains("not a polygon type"), "{message}");
    let region_now = ok(app.get(&format!("/api/orgunits/{region}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(region_now["has_geo_json"], false, "refused shapes are not stored");

    let cleared = ok(
        send_json(app, Method::PATCH, &format!("/api/orgunits/{district}/"), &token, json!({"geo_json": null})).await,
        StatusCode::OK,
    );
    assert_eq!(cleared["has_geo_json"], false);
    assert_eq!(cleared["geo_json"], Value::Null);
}

async fn groups_are_managed_and_filter_the_tree(app: &TestApp) {
    let (account, token, version, [country, region, district]) = setup(app).await;
    let group = ok(
        send_json(
            app,
            Method::POST,
            "/api/groups/",
            &token,
            json!({"name": "Public", "source_ref": "g1", "org_units_added": [region, district]}),
        )
        .await,
        StatusCode::CREATED,
    );
    let id = group["id"].as_i64().unwrap();
    assert_eq!(group["org_unit_count"], 2);
    assert_eq!(group["source_version"]["id"], version);
    assert_eq!(group["source_version"]["data_source"]["name"], "bfa");
    let members = ok(app.get(&format!("/api/orgunits/?group={id}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(members["orgUnits"].as_array().unwrap().len(), 2);
    let detail = ok(app.get(&format!("/api/orgunits/{district}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(detail["groups"], json!([{"id": id, "name": "Public", "source_ref": "g1"}]));

    let changed = ok(
        send_json(
            app,
            Method::PATCH,
            &format!("/api/groups/{id}/"),
            &token,
            json!({"name": "Public sector", "org_units_added": [country], "org_units_removed": [region]}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(changed["name"], "Public sector");
    assert_eq!(changed["org_unit_count"], 2);
    let listed = ok(app.get("/api/groups/", Some(&token)).await, StatusCode::OK);
    assert_eq!(listed["groups"].as_array().unwrap().len(), 1);

    // A unit of another version is refused and nothing changes.
    let source = app.store.sources().sources(account).await.unwrap().remove(0);
    let v2 = app.store.sources().create_version(account, source.id, "").await.unwrap();
    let other = ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunits/create_org_unit/",
            &token,
            json!({"name": "V2 unit", "version_id": v2.id}),
        )
        .await,
        StatusCode::OK,
    );
    let body = send_json(
        app,
        Method::PATCH,
        &format!("/api/groups/{id}/"),
        &token,
        json!({"name": "Renamed", "org_units_added": [other["id"]]}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["fields"]["org_unit_ids"].is_array(), "{body}");
    let unchanged = ok(app.get(&format!("/api/groups/{id}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!((unchanged["name"].as_str(), unchanged["org_unit_count"].as_i64()), (Some("Public sector"), Some(2)));
    let refused = send_json(
        app,
        Method::POST,
        "/api/groups/",
        &token,
        json!({"name": "Mixed", "org_units_added": [other["id"]]}),
    )
    .await;
    refused.error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(
        ok(app.get("/api/groups/", Some(&token)).await, StatusCode::OK)["groups"].as_array().unwrap().len(),
        1,
        "all or nothing"
    );

    let stranger = app.account("Stranger").await;
    app.user(stranger, "stranger", |u| u.is_superuser = true).await;
    let stranger_token = app.token("stranger").await;
    app.get(&format!("/api/groups/{id}/"), Some(&stranger_token)).await.error(StatusCode::NOT_FOUND, "not_found");
    app.user(account, "reader", |u| u.permissions = vec!["iaso_org_units_read".into()]).await;
    let reader = app.token("reader").await;
    assert_eq!(app.get("/api/groups/", Some(&reader)).await.status, StatusCode::OK);
    send_json(app, Method::DELETE, &format!("/api/groups/{id}/"), &reader, json!({}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    let gone = send_json(app, Method::DELETE, &format!("/api/groups/{id}/"), &token, json!({})).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    app.get(&format!("/api/groups/{id}/"), Some(&token)).await.error(StatusCode::NOT_FOUND, "not_found");
}

async fn group_sets_are_managed_through_the_api(app: &TestApp) {
    let (account, token, version, _) = setup(app).await;
    let mut groups = Vec::new();
    for name in ["Public", "Private"] {
        let group =
            ok(send_json(app, Method::POST, "/api/groups/", &token, json!({"name": name})).await, StatusCode::CREATED);
        groups.push(group["id"].as_i64().unwrap());
    }
    let set = ok(
        send_json(
            app,
            Method::POST,
            "/api/group_sets/",
            &token,
            json!({"name": "Ownership", "source_ref": "J5jldMd8OHv", "group_ids": groups}),
        )
        .await,
        StatusCode::CREATED,
    );
    let id = set["id"].as_i64().unwrap();
    assert_eq!(set["group_belonging"], "SINGLE");
    assert_eq!(set["source_version"]["id"], version);
    assert_eq!(set["groups"], json!([{"id": groups[0], "name": "Public"}, {"id": groups[1], "name": "Private"}]));
    let group = ok(app.get(&format!("/api/groups/{}/", groups[0]), Some(&token)).await, StatusCode::OK);
    assert_eq!(group["group_sets"], json!([{"id": id, "name": "Ownership"}]));

    let listed = ok(app.get("/api/group_sets/?search=owner&limit=10", Some(&token)).await, StatusCode::OK);
    assert_eq!((listed["count"].as_i64(), listed["group_sets"][0]["id"].as_i64()), (Some(1), Some(id)));
    let none = ok(app.get("/api/group_sets/?search=district", Some(&token)).await, StatusCode::OK);
    assert_eq!(none["group_sets"], json!([]));

    let changed = ok(
        send_json(
            app,
            Method::PATCH,
            &format!("/api/group_sets/{id}/"),
            &token,
            json!({"group_belonging": "MULTIPLE", "group_ids": [groups[1]]}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!((changed["name"].as_str(), changed["group_belonging"].as_str()), (Some("Ownership"), Some("MULTIPLE")));
    assert_eq!(changed["group_ids"], json!([groups[1]]));

    // Refusals name the field and change nothing.
    let source = app.store.sources().sources(account).await.unwrap().remove(0);
    let v2 = app.store.sources().create_version(account, source.id, "").await.unwrap();
    let elsewhere = ok(
        send_json(app, Method::POST, "/api/groups/", &token, json!({"name": "V2", "source_version_id": v2.id})).await,
        StatusCode::CREATED,
    );
    for (body, field) in [
        (json!({"group_ids": [elsewhere["id"]]}), "group_ids"),
        (json!({"group_ids": [999999]}), "group_ids"),
        (json!({"group_belonging": "SOME"}), "group_belonging"),
        (json!({"name": ""}), "name"),
        (json!({"source_version_id": v2.id}), "source_version_id"),
    ] {
        let body = send_json(app, Method::PATCH, &format!("/api/group_sets/{id}/"), &token, body)
            .await
            .error(StatusCode::BAD_REQUEST, "validation_error");
        assert!(body["fields"][field].is_array(), "{field}: {body}");
    }
    let unchanged = ok(app.get(&format!("/api/group_sets/{id}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(unchanged, changed);

    let stranger = app.account("Stranger").await;
    app.user(stranger, "stranger", |u| u.is_superuser = true).await;
    let stranger_token = app.token("stranger").await;
    app.get(&format!("/api/group_sets/{id}/"), Some(&stranger_token)).await.error(StatusCode::NOT_FOUND, "not_found");
    let theirs = ok(app.get("/api/group_sets/", Some(&stranger_token)).await, StatusCode::OK);
    assert_eq!(theirs["group_sets"], json!([]));
    app.user(account, "reader", |u| u.permissions = vec!["iaso_org_units_read".into()]).await;
    let reader = app.token("reader").await;
    assert_eq!(app.get("/api/group_sets/", Some(&reader)).await.status, StatusCode::OK);
    send_json(app, Method::PATCH, &format!("/api/group_sets/{id}/"), &reader, json!({"name": "Mine"}))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");

    let gone = send_json(app, Method::DELETE, &format!("/api/group_sets/{id}/"), &token, json!({})).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let logs =
        ok(app.get(&format!("/api/logs/?contentType=iaso.groupset&objectId={id}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(logs["list"].as_array().map(Vec::len), Some(3), "{logs}");
}

async fn bulk_update_changes_the_selection_or_nothing(app: &TestApp) {
    let (account, token, _, [country, region, district]) = setup(app).await;
    let mut facilities = Vec::new();
    for name in ["CSPS A", "CSPS B", "CSPS C"] {
        let created = ok(
            send_json(
                app,
                Method::POST,
                "/api/orgunits/create_org_unit/",
                &token,
                json!({"name": name, "parent_id": district}),
            )
            .await,
            StatusCode::OK,
        );
        facilities.push(created["id"].as_i64().unwrap());
    }
    let group =
        ok(send_json(app, Method::POST, "/api/groups/", &token, json!({"name": "Public"})).await, StatusCode::CREATED);
    let new_units = |token: String| async move {
        let listed = ok(app.get("/api/orgunits/?validation_status=NEW", Some(&token)).await, StatusCode::OK);
        listed["orgUnits"].as_array().unwrap().len()
    };
    assert_eq!(new_units(token.clone()).await, 3);

    // Everything NEW under the district, except CSPS C: validated and put in the group.
    let body = json!({
        "select_all": true,
        "searches": [{"orgUnitParentId": district, "validation_status": "NEW", "color": "f4511e"}],
        "unselected_ids": [facilities[2]],
        "validation_status": "VALID",
        "groups_added": [group["id"]],
    });
    let done = ok(send_json(app, Method::POST, "/api/orgunits/bulkupdate/", &token, body).await, StatusCode::OK);
    assert_eq!(done["count"], 2);
    assert_eq!(new_units(token.clone()).await, 1);
    let members = ok(app.get(&format!("/api/orgunits/?group={}", group["id"]), Some(&token)).await, StatusCode::OK);
    assert_eq!(members["orgUnits"].as_array().unwrap().len(), 2);
    let logs = ok(app.get(&format!("/api/logs/?objectId={}", facilities[0]), Some(&token)).await, StatusCode::OK);
    assert_eq!(logs["list"][0]["source"], "bulk_update");

    // Refusals name the field and change nothing.
    for (body, field) in [
        (json!({"selected_ids": [facilities[2], 999999], "validation_status": "VALID"}), "selected_ids"),
        (json!({"selected_ids": [facilities[2]], "validation_status": "MAYBE"}), "validation_status"),
        (json!({"selected_ids": [facilities[2]], "org_unit_type": 999999}), "org_unit_type_id"),
        (json!({"selected_ids": [facilities[2]], "groups_added": [999999]}), "groups_added"),
        (json!({"selected_ids": [facilities[2]]}), "org_unit_type"),
        (json!({"select_all": true, "validation_status": "VALID"}), "searches"),
        (
            json!({"select_all": true, "searches": [{"orgUnitParentId": "x"}], "validation_status": "VALID"}),
            "orgUnitParentId",
        ),
    ] {
        let reply = send_json(app, Method::POST, "/api/orgunits/bulkupdate/", &token, body.clone()).await;
        let error = reply.error(StatusCode::BAD_REQUEST, "validation_error");
        assert!(error["fields"][field].is_array(), "{body} -> {error}");
    }
    assert_eq!(new_units(token.clone()).await, 1);

    // A restricted user reaches only their subtree; a reader cannot write.
    app.user(account, "region-manager", |u| {
        u.permissions = vec!["iaso_org_units".into()];
        u.org_units = vec![region];
    })
    .await;
    let restricted = app.token("region-manager").await;
    let outside = json!({"selected_ids": [country], "validation_status": "REJECTED"});
    send_json(app, Method::POST, "/api/orgunits/bulkupdate/", &restricted, outside)
        .await
        .error(StatusCode::BAD_REQUEST, "validation_error");
    let all = json!({"select_all": true, "searches": [{"validation_status": "all"}], "validation_status": "REJECTED"});
    let done = ok(send_json(app, Method::POST, "/api/orgunits/bulkupdate/", &restricted, all).await, StatusCode::OK);
    assert_eq!(done["count"], 5, "the region, its district and three facilities");
    let top = ok(app.get(&format!("/api/orgunits/{country}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(top["validation_status"], "VALID");
    app.user(account, "reader", |u| u.permissions = vec!["iaso_org_units_read".into()]).await;
    let reader = app.token("reader").await;
    send_json(
        app,
        Method::POST,
        "/api/orgunits/bulkupdate/",
        &reader,
        json!({"selected_ids": [country], "validation_status": "NEW"}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "permission_denied");
}

/// Types, sources and versions are cached per account while its georegistry is unchanged: a
/// rename must show in the very next response.
async fn renamed_types_and_sources_show_at_once(app: &TestApp) {
    let (_, token, _, [_, _, district]) = setup(app).await;
    let created = ok(
        send_json(app, Method::POST, "/api/orgunittypes/", &token, json!({"name": "District"})).await,
        StatusCode::CREATED,
    );
    let type_id = created["id"].as_i64().unwrap();
    ok(patch_unit(app, token.clone(), district, json!({"org_unit_type_id": type_id})).await, StatusCode::OK);
    let detail = ok(app.get(&format!("/api/orgunits/{district}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(detail["org_unit_type_name"], "District");
    ok(
        send_json(
            app,
            Method::PUT,
            &format!("/api/orgunittypes/{type_id}/"),
            &token,
            json!({"name": "Health district"}),
        )
        .await,
        StatusCode::OK,
    );
    let detail = ok(app.get(&format!("/api/orgunits/{district}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(detail["org_unit_type_name"], "Health district");
    let listed = ok(app.get("/api/orgunits/?limit=10&search=boromo", Some(&token)).await, StatusCode::OK);
    assert_eq!(listed["orgunits"][0]["org_unit_type_name"], "Health district");

    let source_id = detail["source_id"].as_i64().unwrap();
    ok(
        send_json(app, Method::PUT, &format!("/api/datasources/{source_id}/"), &token, json!({"name": "bfa-2024"}))
            .await,
        StatusCode::OK,
    );
    let detail = ok(app.get(&format!("/api/orgunits/{district}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(detail["source"], "bfa-2024");

    // Ancestors are cached per tree version: a renamed parent shows at once in its children's rows.
    let region = detail["parent_id"].as_i64().unwrap();
    let listed = ok(app.get("/api/orgunits/?limit=10&search=boromo", Some(&token)).await, StatusCode::OK);
    assert_eq!(listed["orgunits"][0]["parent_name"], "Boucle du Mouhoun");
    ok(patch_unit(app, token.clone(), region, json!({"name": "Mouhoun"})).await, StatusCode::OK);
    let listed = ok(app.get("/api/orgunits/?limit=10&search=boromo", Some(&token)).await, StatusCode::OK);
    assert_eq!(listed["orgunits"][0]["parent_name"], "Mouhoun");
    let detail = ok(app.get(&format!("/api/orgunits/{district}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(detail["parent"]["name"], "Mouhoun");
}

/// `withShapes`, `asLocation` and `smallSearch`: the shapes Iaso's dashboard and maps read
/// (iaso-api-examples/orgunits.md).
async fn list_variants_take_iaso_shapes(app: &TestApp) {
    let (_, token, _, [country, region, district]) = setup(app).await;
    let square = json!({"type": "Polygon", "coordinates": [[[-3.5, 11.0], [-2.5, 11.0], [-2.5, 12.0], [-3.5, 12.0], [-3.5, 11.0]]]});
    ok(patch_unit(app, token.clone(), district, json!({"geo_json": square})).await, StatusCode::OK);
    let facility = ok(
        send_json(app, Method::POST, "/api/orgunits/create_org_unit/", &token, json!({
            "name": "CSPS Bana", "parent_id": district, "validation_status": "VALID", "latitude": 11.5, "longitude": -3.0,
        }))
        .await,
        StatusCode::OK,
    );

    // withShapes without limit: as_dict rows, geo_json only where a boundary exists.
    let shaped = ok(app.get("/api/orgunits/?withShapes=true&order=id", Some(&token)).await, StatusCode::OK);
    let rows = shaped["orgUnits"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let by_id = |id: i64| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    let district_row = by_id(district);
    assert_eq!(district_row["short_name"], "DS Boromo");
    assert_eq!(district_row["version"], 1);
    assert_eq!(district_row["geo_json"]["crs"]["properties"]["name"], "EPSG:4326");
    assert_eq!(district_row["geo_json"]["features"][0]["id"], district);
    assert_eq!(district_row["geo_json"]["features"][0]["geometry"]["coordinates"][0][0][0], json!([-3.5, 11.0]));
    assert_eq!(by_id(country)["geo_json"], Value::Null);
    // With limit the paginated rows win and carry no shapes, as in Iaso.
    let paged = ok(app.get("/api/orgunits/?withShapes=true&limit=10", Some(&token)).await, StatusCode::OK);
    assert!(paged["orgunits"][0].get("geo_json").is_none(), "{paged}");

    // asLocation: a bare array of units with a point or a boundary, each wrapped for maps.
    let located = ok(app.get("/api/orgunits/?asLocation=true&limit=10&order=id", Some(&token)).await, StatusCode::OK);
    let located = located.as_array().expect("a bare array");
    let ids: Vec<i64> = located.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![district, facility["id"].as_i64().unwrap()], "units without geography are left out");
    assert_eq!(located[0]["parent_name"], "Boucle du Mouhoun");
    assert_eq!(located[0]["source_name"], "bfa");
    assert_eq!(located[0]["geo_json"]["features"][0]["geometry"]["type"], "MultiPolygon");
    assert_eq!(located[1]["latitude"], 11.5);
    assert_eq!(located[1]["geo_json"]["features"][0]["geometry"], Value::Null, "a point-only unit");
    let first =
        ok(app.get("/api/orgunits/?asLocation=true&limit=1&page=2&order=id", Some(&token)).await, StatusCode::OK);
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["id"], district, "page is ignored, as in Iaso");

    // smallSearch: the light rows, the chain in the same light form.
    let small = ok(app.get("/api/orgunits/?smallSearch=true&limit=5&search=Bana", Some(&token)).await, StatusCode::OK);
    assert_eq!(small["count"], 1);
    let row = &small["orgunits"][0];
    assert_eq!(row["parent_name"], "DS Boromo");
    assert_eq!(row["parent"]["parent"]["id"], region);
    assert_eq!(row["parent"]["parent"]["parent"]["name"], "Burkina Faso");
    assert_eq!(row["parent"]["parent"]["parent"]["parent"], Value::Null);
    assert!(row.get("latitude").is_none() && row.get("groups").is_none(), "{row}");
}

//! `/api/logs/`: the audit history of an object.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use hygeia_core::permission as perm;
use serde_json::{Value, json};

use crate::api::iso;
use crate::api::pagination::envelope;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

/// Changes of one object (`objectId` and `contentType`, e.g. `iaso.orgunit`), newest first, 50 a page.
#[utoipa::path(get, path = "/api/logs/", tag = "orgunits", security(("bearer" = [])),
    params(("objectId" = String, Query, description = "The object's id"),
           ("contentType" = String, Query, description = "e.g. iaso.orgunit"),
           ("limit" = Option<u32>, Query), ("page" = Option<u32>, Query)),
    responses((status = 200, description = "Paginated modifications", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let history_readers = [perm::ORG_UNITS, perm::ORG_UNITS_HISTORY, perm::ORG_UNITS_READ];
    if !history_readers.iter().any(|p| user.0.has_permission(p)) {
        return Err(ApiError::Forbidden);
    }
    let object_id = params
        .get("objectId")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("objectId", "This parameter is required."))?;
    let content_type = params.get("contentType").map(String::as_str).unwrap_or("iaso.orgunit");
    use hygeia_core::orgunit::{
        GROUP_CONTENT_TYPE, GROUP_SET_CONTENT_TYPE, ORG_UNIT_CONTENT_TYPE, ORG_UNIT_TYPE_CONTENT_TYPE,
    };
    match content_type {
        // An org unit's history is shown only to those who may see the unit (within their subtrees).
        ORG_UNIT_CONTENT_TYPE => {
            let id = object_id
                .parse()
                .map(hygeia_core::OrgUnitId)
                .map_err(|_| ApiError::field("objectId", "Not an org unit id."))?;
            let scope = crate::api::orgunits::scope_of(&user.0);
            state.store.org_units().get(&scope, id).await?.ok_or(ApiError::NotFound)?;
        }
        // Account-wide objects, possibly deleted: the history itself is scoped to the account.
        GROUP_CONTENT_TYPE | GROUP_SET_CONTENT_TYPE | ORG_UNIT_TYPE_CONTENT_TYPE => {}
        _ => {
            return Err(ApiError::field(
                "contentType",
                "Give iaso.orgunit, iaso.group, iaso.groupset or iaso.orgunittype.",
            ));
        }
    }
    let paging = crate::api::pagination::PageParams {
        limit: params.get("limit").cloned().or(Some("50".into())),
        page: params.get("page").cloned(),
    }
    .parse()?;
    let rows: Vec<Value> = state
        .store
        .org_units()
        .history(user.0.account_id, content_type, object_id)
        .await?
        .into_iter()
        .map(|m| json!({
            "id": m.id,
            "content_type": m.content_type,
            "object_id": m.object_id,
            "source": m.source,
            "user": m.user_id.map(|u| json!({"id": u})),
            "past_value": m.past_value.map(|v| vec![json!({"model": m.content_type, "pk": m.object_id, "fields": v})]),
            "new_value": m.new_value.map(|v| vec![json!({"model": m.content_type, "pk": m.object_id, "fields": v})]),
            "created_at": iso(m.created_at),
        }))
        .collect();
    Ok(Json(envelope("list", rows, paging)))
}

//! `GET /api/accounts/`: the caller's account, in Iaso's (always paginated) envelope.

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use crate::api::iso;
use crate::api::pagination::{PageParams, envelope};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

/// Accounts visible to the caller: their own. (Iaso's multi-account users will see each account
/// they belong to.)
#[utoipa::path(get, path = "/api/accounts/", tag = "accounts", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "Paginated accounts", body = Object), (status = 401)))]
pub async fn list(
    State(state): State<SharedState>,
    CurrentUser(user): CurrentUser,
    Query(paging): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    let account = state.store.accounts().get(user.account_id).await?.ok_or(ApiError::NotFound)?;
    let items = vec![json!({
        "id": account.id,
        "name": account.name,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
    })];
    // Iaso paginates this list even without `limit`, 20 per page.
    let paging = paging.parse()?.or(Some((20, 1)));
    Ok(Json(envelope("results", items, paging)))
}

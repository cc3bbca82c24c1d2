//! The caller's account, profile edits, user search and public profiles (SPEC §2.5).

use crate::AppState;
use crate::accounts::profile_event;
use axum::extract::{Path, Query, State};
use chatsync_core::UserId;
use chatsync_core::ports::users::{Me, ProfilePatch, PublicProfile};
use chatsync_core::validate::{DisplayName, Invalid};
use chatsync_platform::http::{ApiError, ApiResult, AuthUser, Json};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .routes(routes!(search))
        .routes(routes!(user))
}

/// My account.
#[utoipa::path(get, path = "/api/users/me", tag = "users", responses((status = 200, body = Me)))]
async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Me>> {
    let account = state
        .inner
        .store
        .account_by_id(user.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json((&account).into()))
}

/// `PATCH /api/users/me`: fields left out stay as they are; `"avatar_url": null` removes the
/// avatar.
#[derive(Deserialize, utoipa::ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// New shown name.
    #[ts(optional = nullable)]
    pub display_name: Option<String>,
    /// New avatar URL, or `null` to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    #[ts(optional, type = "string | null")]
    pub avatar_url: Option<Option<String>>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

const MAX_AVATAR_URL: usize = 2048;

pub(crate) fn check_avatar(url: &str) -> Result<String, Invalid> {
    let url = url.trim();
    if url.len() > MAX_AVATAR_URL {
        return Err(Invalid::new("avatar_url", "is too long"));
    }
    // Absolute http(s) URLs, or a path on this server (uploaded media).
    let ok = url.starts_with("https://") || url.starts_with("http://") || url.starts_with("/api/");
    if !ok
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(Invalid::new(
            "avatar_url",
            "must be an http(s) URL or a path starting with /api/",
        ));
    }
    Ok(url.to_owned())
}

/// Changes my shown name or avatar.
#[utoipa::path(patch, path = "/api/users/me", tag = "users", request_body = UpdateMe,
    responses((status = 200, body = Me)))]
async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<UpdateMe>,
) -> ApiResult<Json<Me>> {
    let patch = ProfilePatch {
        display_name: req
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?
            .map(DisplayName::into_inner),
        avatar_url: req
            .avatar_url
            .map(|a| a.as_deref().map(check_avatar).transpose())
            .transpose()?,
    };
    let s = &state.inner;
    let account = s
        .store
        .update_profile(user.user_id, &patch, &|a| {
            // Unverified accounts have no profile copy in chat yet; verify publishes it.
            if a.verified_at.is_some() {
                vec![profile_event(a, a.updated_at)]
            } else {
                Vec::new()
            }
        })
        .await?;
    s.outbox_wake.notify_one();
    Ok(Json((&account).into()))
}

/// `GET /api/users?q=&limit=&offset=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Prefix of a name (or of any word of it), or a whole address.
    #[serde(default)]
    pub q: String,
    /// Page size, 1–50 (default 20).
    pub limit: Option<u32>,
    /// Results to skip.
    pub offset: Option<u32>,
}

/// A page of search results.
#[derive(Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct UserSearchPage {
    /// Matching users, by name.
    pub users: Vec<PublicProfile>,
    /// Pass as `offset` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_offset: Option<u32>,
}

/// Finds people by name or address.
#[utoipa::path(get, path = "/api/users", tag = "users", params(SearchQuery),
    responses((status = 200, body = UserSearchPage)))]
async fn search(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<UserSearchPage>> {
    let s = &state.inner;
    // Per account, through the shared throttle so every instance counts together: even by
    // whole address and name only, many searches would map who is registered.
    s.limit(
        &format!("search:user:{}", user.user_id),
        s.cfg.search_per_account,
    )
    .await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let term = q.q.trim();
    if term.is_empty() {
        return Err(Invalid::new("q", "is required").into());
    }
    if term.chars().count() > 254 {
        return Err(Invalid::new("q", "is too long").into());
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 50);
    let offset = q.offset.unwrap_or(0);
    // One extra row tells whether there is a next page.
    let mut rows = s.store.search(term, limit + 1, offset).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok(Json(UserSearchPage {
        users: rows.iter().map(PublicProfile::from).collect(),
        next_offset: more.then_some(offset + limit),
    }))
}

/// One person's public profile.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users",
    params(("id" = UserId, Path, description = "The user.")),
    responses((status = 200, body = PublicProfile)))]
async fn user(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PublicProfile>> {
    let not_found = || ApiError::not_found("user");
    let id: UserId = id.parse().map_err(|_| not_found())?;
    let account = state
        .inner
        .store
        .account_by_id(id)
        .await?
        .filter(|a| a.verified_at.is_some())
        .ok_or_else(not_found)?;
    Ok(Json((&account).into()))
}

//! Reading media: metadata for people who may see the file, and the bytes through signed
//! (or, for avatars, public) URLs, with ranges, caching headers and a safe disposition.

use crate::signing::Refusal;
use crate::{AppState, Inner, MediaView, detect};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chatsync_core::ids::{MediaId, UserId};
use chatsync_core::ports::media::MediaRecord;
use chatsync_platform::http::{ApiError, ApiResult, AuthUser, Json};
use futures::TryStreamExt;
use headers::HeaderMapExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStoreExt};
use serde::Deserialize;
use std::ops::Bound;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(describe))
        .routes(routes!(content))
        .routes(routes!(thumbnail))
        .routes(routes!(public))
}

fn parse_id(raw: &str) -> ApiResult<MediaId> {
    raw.parse().map_err(|_| ApiError::not_found("media"))
}

async fn record(s: &Inner, id: MediaId) -> ApiResult<MediaRecord> {
    s.repo
        .media(id)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))
}

/// `GET /api/media/{id}`: metadata and fresh URLs, for the uploader and members of a
/// conversation where the file was sent; everyone else gets 404.
#[utoipa::path(get, path = "/api/media/{id}", tag = "media",
    params(("id" = MediaId, Path, description = "The file.")),
    responses((status = 200, body = MediaView)))]
async fn describe(
    State(AppState(s)): State<AppState>,
    user: AuthUser,
    Path(raw): Path<String>,
) -> ApiResult<Json<MediaView>> {
    let id = parse_id(&raw)?;
    if !s.repo.can_read(id, user.user_id).await? {
        return Err(ApiError::not_found("media"));
    }
    Ok(Json(s.view(&record(&s, id).await?, user.user_id)))
}

/// The signature of a file URL, as handed out in `url` and `thumbnail_url`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Signed {
    /// The viewer the URL was signed for.
    u: Option<UserId>,
    /// Expiry (Unix seconds).
    exp: Option<i64>,
    /// Signature.
    sig: Option<String>,
}

/// Checks a signed URL, then that its viewer may still read the file (one indexed query):
/// a link handed to a member stops working once they leave the conversation or the message
/// is deleted. What the check cannot see: someone the viewer passed the link to, until it
/// expires. Answers `404` like every other file a caller may not see.
async fn check(s: &Inner, id: MediaId, variant: &str, q: &Signed) -> ApiResult<()> {
    let (Some(viewer), Some(exp), Some(sig)) = (q.u, q.exp, q.sig.as_deref()) else {
        return Err(ApiError::forbidden(
            "invalid_signature",
            "this link is not signed",
        ));
    };
    s.signer
        .check(
            id,
            variant,
            viewer,
            exp,
            sig,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|r| match r {
            Refusal::Expired => ApiError::forbidden(
                "url_expired",
                "this link has expired; reload to get a new one",
            ),
            Refusal::BadSignature => {
                ApiError::forbidden("invalid_signature", "this link is not valid")
            }
        })?;
    if !s.repo.can_read(id, viewer).await? {
        return Err(ApiError::not_found("media"));
    }
    Ok(())
}

/// The file's bytes, through a signed URL (no `Authorization`; ranges supported).
#[utoipa::path(get, path = "/api/media/{id}/content", tag = "media", security(()),
    params(("id" = MediaId, Path, description = "The file."), Signed), responses(
        (status = 200, description = "The bytes.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)."),
    ))]
async fn content(
    State(AppState(s)): State<AppState>,
    Path(raw): Path<String>,
    q: Result<Query<Signed>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&raw)?;
    let Query(q) =
        q.map_err(|_| ApiError::forbidden("invalid_signature", "this link is not valid"))?;
    check(&s, id, "content", &q).await?;
    let m = record(&s, id).await?;
    let disposition = if detect::inline(&m.content_type) {
        "inline"
    } else {
        "attachment"
    };
    let file = File {
        key: s.key(id),
        content_type: m.content_type.clone(),
        disposition: format!("{disposition}; filename=\"{}\"", ascii_name(&m.name)),
        cache: "private, max-age=3600",
        etag: format!("\"{id}\""),
    };
    serve(&s, file, &headers).await
}

/// The thumbnail, through a signed URL.
#[utoipa::path(get, path = "/api/media/{id}/thumbnail", tag = "media", security(()),
    params(("id" = MediaId, Path, description = "The file."), Signed), responses(
        (status = 200, description = "The bytes.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)."),
    ))]
async fn thumbnail(
    State(AppState(s)): State<AppState>,
    Path(raw): Path<String>,
    q: Result<Query<Signed>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&raw)?;
    let Query(q) =
        q.map_err(|_| ApiError::forbidden("invalid_signature", "this link is not valid"))?;
    check(&s, id, "thumbnail", &q).await?;
    let m = record(&s, id).await?;
    thumb_file(&s, &m, "private, max-age=3600", &headers).await
}

/// Avatars: public media, served as their thumbnail without a signature.
#[utoipa::path(get, path = "/api/media/{id}/public", tag = "media", security(()),
    params(("id" = MediaId, Path, description = "The file.")), responses(
        (status = 200, description = "The bytes.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)."),
    ))]
async fn public(
    State(AppState(s)): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&raw)?;
    let m = record(&s, id).await?;
    if !m.public {
        return Err(ApiError::not_found("media"));
    }
    thumb_file(&s, &m, "public, max-age=86400", &headers).await
}

async fn thumb_file(
    s: &Inner,
    m: &MediaRecord,
    cache: &'static str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let Some(ct) = &m.thumbnail_type else {
        return Err(ApiError::not_found("thumbnail"));
    };
    let file = File {
        key: s.thumb_key(m.id),
        content_type: ct.clone(),
        disposition: "inline".into(),
        cache,
        etag: format!("\"{}-thumb\"", m.id),
    };
    serve(s, file, headers).await
}

/// The first range of a `Range` header as `start..end` within `len`; `None` if it lies
/// outside the file. (Several ranges would need a multipart answer; the first serves the
/// players and downloaders that ask.)
fn first_range(r: &headers::Range, len: u64) -> Option<std::ops::Range<u64>> {
    let (start, end) = r.satisfiable_ranges(len).next()?;
    let start = match start {
        Bound::Included(n) => n,
        Bound::Excluded(n) => n + 1,
        Bound::Unbounded => 0,
    };
    let end = match end {
        Bound::Included(n) => n.saturating_add(1),
        Bound::Excluded(n) => n,
        Bound::Unbounded => len,
    }
    .min(len);
    (start < end).then_some(start..end)
}

struct File {
    key: ObjectPath,
    content_type: String,
    disposition: String,
    cache: &'static str,
    etag: String,
}

/// A name for the `filename=` parameter: printable ASCII only (the stored name is already
/// free of quotes and control characters).
fn ascii_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "file".into() } else { s }
}

async fn serve(s: &Inner, f: File, headers: &HeaderMap) -> ApiResult<Response> {
    let storage = |e: object_store::Error| match e {
        object_store::Error::NotFound { .. } => ApiError::not_found("media"),
        other => ApiError::unavailable(format!("media storage: {other}")),
    };
    let mut base = HeaderMap::new();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(&mut base, header::ETAG, &f.etag);
    set(&mut base, header::CACHE_CONTROL, f.cache);
    set(&mut base, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut base, header::ACCEPT_RANGES, "bytes");
    // The file is data, never a page: nothing in it may run, even if a browser sniffs.
    set(
        &mut base,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
    set(
        &mut base,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == f.etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, base).into_response());
    }
    let len = s.blobs.head(&f.key).await.map_err(storage)?.size;
    let range = match headers.typed_get::<headers::Range>() {
        None => None,
        Some(r) => match first_range(&r, len) {
            Some(range) => Some(range),
            None => {
                let mut h = base;
                set(&mut h, header::CONTENT_RANGE, &format!("bytes */{len}"));
                return Ok((StatusCode::RANGE_NOT_SATISFIABLE, h).into_response());
            }
        },
    };
    let opts = GetOptions {
        range: range.clone().map(GetRange::Bounded),
        ..GetOptions::default()
    };
    let got = s.blobs.get_opts(&f.key, opts).await.map_err(storage)?;
    let body = Body::from_stream(got.into_stream().map_err(std::io::Error::other));
    let mut h = base;
    set(&mut h, header::CONTENT_TYPE, &f.content_type);
    set(&mut h, header::CONTENT_DISPOSITION, &f.disposition);
    let status = match &range {
        Some(r) => {
            set(
                &mut h,
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{len}", r.start, r.end - 1),
            );
            set(
                &mut h,
                header::CONTENT_LENGTH,
                &(r.end - r.start).to_string(),
            );
            StatusCode::PARTIAL_CONTENT
        }
        None => {
            set(&mut h, header::CONTENT_LENGTH, &len.to_string());
            StatusCode::OK
        }
    };
    Ok((status, h, body).into_response())
}

//! `POST /api/media`: one file per request, streamed. The first bytes decide the type; a
//! refused type or an upload past the size limit is answered at once (415, 413) and nothing is
//! kept. Non-images go to storage as they arrive; images must be decoded anyway (thumbnail,
//! metadata), so they are held in memory, within the size limit.

use crate::detect::{self, SNIFF_BYTES};
use crate::images::{self, ImageError};
use crate::{AppState, Inner, MediaView};
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use chatsync_core::config::MediaConfig;
use chatsync_core::ids::MediaId;
use chatsync_core::ports::media::MediaRecord;
use chatsync_core::ports::throttle::Decision;
use chatsync_platform::http::{ApiError, ApiResult, AuthUser, Json};
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Parts of a streamed upload (S3's minimum part size).
const PART_BYTES: usize = 5 * 1024 * 1024;

/// How long, and how many bytes past the limit, a refused upload's remaining body is read
/// and discarded (see [`linger`]).
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);
const LINGER_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn routes(cfg: &MediaConfig) -> OpenApiRouter<AppState> {
    // The exact limit on the file is ours (413 as soon as it is passed); this one bounds the
    // whole body, with room for the multipart framing and for `linger`.
    let limit = usize::try_from(cfg.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(LINGER_BYTES);
    let (schemas, paths, method) = routes!(upload);
    OpenApiRouter::new().routes((schemas, paths, method.layer(DefaultBodyLimit::max(limit))))
}

/// The body of `POST /api/media`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the multipart form for OpenAPI; read field by field
struct UploadForm {
    /// The file (one).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// `avatar`: an image readable by anyone at a long-lived URL.
    purpose: Option<String>,
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "files larger than {} MiB are not accepted",
            max / (1024 * 1024)
        ),
    )
}

fn multipart_error(e: &MultipartError, max: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        ApiError::bad_request("invalid_multipart", e.body_text())
    }
}

fn storage_error(e: object_store::Error) -> ApiError {
    ApiError::unavailable(format!("media storage: {e}"))
}

/// Uploads a file (multipart, one field named `file`); it can then be attached to messages
/// or set as the avatar.
#[utoipa::path(post, path = "/api/media", tag = "media", params(UploadQuery),
    request_body(content_type = "multipart/form-data", content = UploadForm),
    responses((status = 201, description = "Stored.", body = MediaView)))]
async fn upload(
    State(AppState(s)): State<AppState>,
    user: AuthUser,
    q: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<MediaView>)> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let avatar = match q.purpose.as_deref() {
        None | Some("message") => false,
        Some("avatar") => true,
        Some(_) => {
            return Err(ApiError::invalid(chatsync_core::validate::Invalid::new(
                "purpose",
                "must be message or avatar",
            )));
        }
    };
    // Before a byte of the body is read: each upload may cost a decode (a core and up to
    // `max_decode_bytes`) and storage.
    let rule = s.cfg.upload_per_account;
    let decision = s
        .throttle
        .hit(
            &format!("media:upload:{}", user.user_id),
            rule.limit,
            std::time::Duration::from_secs(rule.window_secs),
        )
        .await?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send one file as multipart/form-data in a field named \"file\" ({})",
                e.body_text()
            ),
        )
    })?;
    if let Decision::Limited { retry_after } = decision {
        linger(multipart);
        return Err(ApiError::rate_limited(retry_after));
    }
    let max = s.cfg.max_upload_bytes;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, max))?
    {
        if field.name() == Some("file") {
            return match store(&s, field, user, avatar).await {
                Ok(record) => Ok((
                    StatusCode::CREATED,
                    Json(s.view(&record, record.uploader_id)),
                )),
                Err(e) => {
                    linger(multipart);
                    Err(e)
                }
            };
        }
    }
    Err(ApiError::invalid(chatsync_core::validate::Invalid::new(
        "file",
        "is required (a multipart field named \"file\")",
    )))
}

/// The answer to a refused upload (413, 415, ...) goes out at once, while the client is still
/// sending. Closing the connection with its body unread would make the kernel reset it, and a
/// client busy writing (most HTTP libraries) would see "broken pipe" instead of the answer; so
/// the rest of the body is read and thrown away in the background, for at most [`LINGER`] and
/// up to the route's body limit.
fn linger(mut multipart: Multipart) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(Some(mut field)) = multipart.next_field().await {
                while let Ok(Some(_)) = field.chunk().await {}
            }
        })
        .await;
    });
}

/// Reads `field` to the end (or until it passes the limit), keeping what it is given.
async fn read_more(
    field: &mut Field<'_>,
    buf: &mut BytesMut,
    until: usize,
    max: u64,
) -> ApiResult<bool> {
    while buf.len() < until {
        match field.chunk().await.map_err(|e| multipart_error(&e, max))? {
            Some(c) => {
                buf.extend_from_slice(&c);
                if buf.len() as u64 > max {
                    return Err(too_large(max));
                }
            }
            None => return Ok(false),
        }
    }
    Ok(true)
}

async fn store(
    s: &Inner,
    mut field: Field<'_>,
    user: AuthUser,
    avatar: bool,
) -> ApiResult<MediaRecord> {
    let max = s.cfg.max_upload_bytes;
    let name = detect::safe_name(field.file_name());
    let mut head = BytesMut::new();
    let more = read_more(&mut field, &mut head, SNIFF_BYTES, max).await?;
    if head.is_empty() {
        return Err(ApiError::invalid(chatsync_core::validate::Invalid::new(
            "file", "is empty",
        )));
    }
    let detected = detect::content_type(&head);
    let content_type = match detected {
        Some(t) if s.allowed.contains(t) && (!avatar || detect::is_image(t)) => t,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                match (other, avatar) {
                    (Some(t), true) if !detect::is_image(t) => {
                        format!("an avatar must be a PNG, JPEG, GIF or WebP image, not {t}")
                    }
                    (Some(t), _) => format!("files of type {t} are not accepted"),
                    (None, _) => "this kind of file is not accepted".to_owned(),
                },
            ));
        }
    };
    let id = MediaId::new();
    let (size, width, height, thumbnail_type) = if detect::is_image(content_type) {
        let mut all = head;
        if more {
            read_more(&mut field, &mut all, usize::MAX, max).await?;
        }
        let budget = images::Budget {
            max_pixels: s.cfg.max_image_pixels,
            max_bytes: s.cfg.max_decode_bytes,
            thumb_px: s.cfg.thumbnail_px,
        };
        let ct = content_type.to_owned();
        let processed = images::decode_in_slot(&s.decode_slots, move || {
            images::process(all.freeze(), &ct, budget)
        })
        .await
        .map_err(|e| ApiError::internal(format!("image task: {e}")))?
        .map_err(|e| match e {
            ImageError::TooManyPixels { .. } | ImageError::TooMuchMemory { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "image_too_large",
                e.to_string(),
            ),
            ImageError::Corrupt(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_image",
                e.to_string(),
            ),
        })?;
        let size = processed.bytes.len();
        s.blobs
            .put(&s.key(id), PutPayload::from(processed.bytes))
            .await
            .map_err(storage_error)?;
        s.blobs
            .put(&s.thumb_key(id), PutPayload::from(processed.thumbnail.0))
            .await
            .map_err(storage_error)?;
        (
            size,
            Some(processed.width),
            Some(processed.height),
            Some(processed.thumbnail.1.to_owned()),
        )
    } else {
        (
            stream_to_storage(s, id, head.freeze(), more.then_some(field)).await?,
            None,
            None,
            None,
        )
    };
    let record = MediaRecord {
        id,
        uploader_id: user.user_id,
        content_type: content_type.to_owned(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        name,
        width,
        height,
        thumbnail_type,
        public: avatar,
        created_at: chrono::Utc::now(),
    };
    if let Err(e) = s.repo.insert_media(&record).await {
        let _ = s.blobs.delete(&s.key(id)).await;
        let _ = s.blobs.delete(&s.thumb_key(id)).await;
        return Err(e.into());
    }
    tracing::info!(media = %id, content_type, size, "upload stored");
    Ok(record)
}

/// Writes `head` and the rest of `field` to storage in parts; aborts the write when the limit
/// is passed. Returns the size.
async fn stream_to_storage(
    s: &Inner,
    id: MediaId,
    head: Bytes,
    field: Option<Field<'_>>,
) -> ApiResult<usize> {
    let max = s.cfg.max_upload_bytes;
    let upload = s
        .blobs
        .put_multipart(&s.key(id))
        .await
        .map_err(storage_error)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut size = head.len();
    writer.put(head);
    if let Some(mut field) = field {
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(multipart_error(&e, max));
                }
            };
            size += chunk.len();
            if size as u64 > max {
                let _ = writer.abort().await;
                return Err(too_large(max));
            }
            writer.wait_for_capacity(2).await.map_err(storage_error)?;
            writer.put(chunk);
        }
    }
    writer.finish().await.map_err(storage_error)?;
    Ok(size)
}

//! The chat service's media records: `media`, `media_attachment`.

use crate::{DbResult, Pg, PgStore};
use async_trait::async_trait;
use chatsync_core::ids::{MediaId, UserId};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::media::{MediaRecord, MediaRepo};
use chatsync_store_sql::rows as read;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[async_trait]
impl MediaRepo for PgStore {
    async fn insert_media(&self, m: &MediaRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO media (media_id, uploader_id, content_type, size, name, width, height,
                                thumbnail_type, public, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(m.id.0)
        .bind(m.uploader_id.0)
        .bind(&m.content_type)
        .bind(m.size)
        .bind(&m.name)
        .bind(m.width.and_then(|v| i32::try_from(v).ok()))
        .bind(m.height.and_then(|v| i32::try_from(v).ok()))
        .bind(&m.thumbnail_type)
        .bind(m.public)
        .bind(m.created_at)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn media(&self, mid: MediaId) -> Result<Option<MediaRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT media_id, uploader_id, content_type, size, name, width, height,
                    thumbnail_type, public, created_at
             FROM media WHERE media_id = $1",
        )
        .bind(mid.0)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(read::media::<Pg>).transpose().db()
    }

    async fn can_read(&self, mid: MediaId, user: UserId) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM media m
             WHERE m.media_id = $1 AND (m.public OR m.uploader_id = $2 OR EXISTS (
                 SELECT 1 FROM media_attachment a
                 JOIN member mb ON mb.conversation_id = a.conversation_id AND mb.user_id = $2
                 WHERE a.media_id = m.media_id))",
        )
        .bind(mid.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        Ok(found.is_some())
    }

    async fn orphans(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<MediaId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT media_id FROM media
             WHERE attached_at IS NULL AND NOT public AND created_at < $1
             ORDER BY created_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(ids.into_iter().map(MediaId).collect())
    }

    async fn delete_orphan(&self, mid: MediaId) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM media WHERE media_id = $1 AND attached_at IS NULL")
            .bind(mid.0)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(r.rows_affected() == 1)
    }
}

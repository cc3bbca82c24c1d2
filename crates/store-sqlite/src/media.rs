//! The chat service's media records: `media`, `media_attachment`.

use crate::{DbResult, Sqlite, SqliteStore, id, millis};
use async_trait::async_trait;
use chatsync_core::ids::{MediaId, UserId};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::media::{MediaRecord, MediaRepo};
use chatsync_store_sql::rows as read;
use chrono::{DateTime, Utc};

#[async_trait]
impl MediaRepo for SqliteStore {
    async fn insert_media(&self, m: &MediaRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO media (media_id, uploader_id, content_type, size, name, width, height,
                                thumbnail_type, public, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(m.uploader_id.to_string())
        .bind(&m.content_type)
        .bind(m.size)
        .bind(&m.name)
        .bind(m.width.map(i64::from))
        .bind(m.height.map(i64::from))
        .bind(&m.thumbnail_type)
        .bind(m.public)
        .bind(millis(m.created_at))
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn media(&self, mid: MediaId) -> Result<Option<MediaRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT media_id, uploader_id, content_type, size, name, width, height,
                    thumbnail_type, public, created_at
             FROM media WHERE media_id = ?",
        )
        .bind(mid.to_string())
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(read::media::<Sqlite>).transpose().db()
    }

    async fn can_read(&self, mid: MediaId, user: UserId) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM media m
             WHERE m.media_id = ?1 AND (m.public OR m.uploader_id = ?2 OR EXISTS (
                 SELECT 1 FROM media_attachment a
                 JOIN member mb ON mb.conversation_id = a.conversation_id AND mb.user_id = ?2
                 WHERE a.media_id = m.media_id))",
        )
        .bind(mid.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await
        .db()?;
        Ok(found.is_some())
    }

    async fn orphans(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<MediaId>, StoreError> {
        let rows = sqlx::query(
            "SELECT media_id FROM media
             WHERE attached_at IS NULL AND NOT public AND created_at < ?
             ORDER BY created_at LIMIT ?",
        )
        .bind(millis(before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(|r| id(r, "media_id"))
            .collect::<Result<_, _>>()
            .db()
    }

    async fn delete_orphan(&self, mid: MediaId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("DELETE FROM media WHERE media_id = ? AND attached_at IS NULL")
            .bind(mid.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        Ok(r.rows_affected() == 1)
    }
}

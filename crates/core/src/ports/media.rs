//! Media metadata (owned by the chat service, next to the messages that reference it) and the
//! hook the chat service uses to attach media to messages. The bytes themselves go through the
//! `object_store` crate: local disk or any S3-compatible service.

use crate::ids::{ConversationId, MediaId, UserId};
use crate::ports::StoreError;
use crate::ports::chat::{Attachment, Message};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An uploaded file's record.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRecord {
    /// Id.
    pub id: MediaId,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// Type detected from the bytes.
    pub content_type: String,
    /// Bytes stored.
    pub size: i64,
    /// Sanitised file name, for downloads.
    pub name: String,
    /// Pixel width (images).
    pub width: Option<u32>,
    /// Pixel height (images).
    pub height: Option<u32>,
    /// The thumbnail's type, if one was stored.
    pub thumbnail_type: Option<String>,
    /// Readable by anyone without a signature (avatars).
    pub public: bool,
    /// Upload time.
    pub created_at: DateTime<Utc>,
}

impl MediaRecord {
    /// The attachment a message carries for this file.
    pub fn attachment(&self) -> Attachment {
        Attachment {
            media_id: self.id,
            content_type: self.content_type.clone(),
            size: self.size,
            name: self.name.clone(),
            width: self.width,
            height: self.height,
            has_thumbnail: self.thumbnail_type.is_some(),
            url: None,
            thumbnail_url: None,
        }
    }
}

/// Media records. Attachment rows are written by [`crate::ports::ChatStore::append`] in the
/// message's own transaction.
#[async_trait]
pub trait MediaRepo: Send + Sync + 'static {
    /// Records an upload.
    async fn insert_media(&self, m: &MediaRecord) -> Result<(), StoreError>;

    /// The record, if it exists.
    async fn media(&self, id: MediaId) -> Result<Option<MediaRecord>, StoreError>;

    /// Whether `user` may read it: the uploader, a member of a conversation where it was sent,
    /// or anyone for public media.
    async fn can_read(&self, id: MediaId, user: UserId) -> Result<bool, StoreError>;

    /// Private uploads created before `before` and never attached to a message.
    async fn orphans(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<MediaId>, StoreError>;

    /// Deletes the record (only if still unattached).
    async fn delete_orphan(&self, id: MediaId) -> Result<bool, StoreError>;
}

/// How the chat service turns media ids into attachments and hands them out.
#[async_trait]
pub trait Attachments: Send + Sync + 'static {
    /// The attachments for `ids`, which `sender` may attach to `conversation`; `NotFound` for
    /// an id they may not use.
    async fn resolve(
        &self,
        sender: UserId,
        conversation: ConversationId,
        ids: &[MediaId],
    ) -> Result<Vec<Attachment>, StoreError>;

    /// Stores an image fetched for a link preview as a file of `owner`'s (checked by its
    /// bytes and re-encoded like an upload): the attachment a preview carries.
    async fn store_image(
        &self,
        owner: UserId,
        bytes: bytes::Bytes,
    ) -> Result<Attachment, StoreError>;

    /// Adds fresh signed URLs to the attachments of messages about to reach `viewer`. The URLs
    /// name the viewer, so they stop working once the viewer may no longer read the file
    /// (removed from the conversation, message deleted).
    fn present(&self, viewer: UserId, messages: &mut [Message]);
}

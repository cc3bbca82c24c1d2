//! The media records (`MediaRepo`), next to the messages that attach them (`ChatStore`): both
//! SQL stores, the same cases. Each case is its own function, so one failure hides no other.

use super::chat::{msg, send};
use chatsync_core::ids::{MediaId, UserId};
use chatsync_core::ports::chat::{Appended, ChatStore, NewMessage, Profile};
use chatsync_core::ports::media::{MediaRecord, MediaRepo};
use chrono::{Duration, SubsecRound, Utc};
use std::sync::Arc;

async fn person(chat: &Arc<dyn ChatStore>, name: &str) -> UserId {
    let id = UserId::new();
    chat.upsert_profile(&Profile {
        id,
        display_name: name.into(),
        avatar_url: None,
        updated_at: Utc::now(),
    })
    .await
    .unwrap();
    id
}

/// A record as the upload path writes it; times kept to the millisecond every store keeps.
fn record(uploader: UserId, public: bool, age: Duration) -> MediaRecord {
    MediaRecord {
        id: MediaId::new(),
        uploader_id: uploader,
        content_type: "image/png".into(),
        size: 1234,
        name: "cat.png".into(),
        width: Some(64),
        height: Some(48),
        thumbnail_type: Some("image/webp".into()),
        public,
        created_at: (Utc::now() - age).trunc_subsecs(3),
    }
}

/// An upload is read back exactly as written; an unknown id is `None`.
pub async fn records_read_back_as_written(chat: Arc<dyn ChatStore>, media: Arc<dyn MediaRepo>) {
    let ann = person(&chat, "Ann").await;
    let mut r = record(ann, false, Duration::zero());
    media.insert_media(&r).await.unwrap();
    assert_eq!(media.media(r.id).await.unwrap(), Some(r.clone()));
    r.id = MediaId::new();
    r.width = None;
    r.height = None;
    r.thumbnail_type = None;
    r.content_type = "application/pdf".into();
    media.insert_media(&r).await.unwrap();
    assert_eq!(media.media(r.id).await.unwrap(), Some(r));
    assert_eq!(media.media(MediaId::new()).await.unwrap(), None);
}

/// The uploader reads their file; once it is sent in a conversation its members do, a
/// stranger never does, and a member removed from the conversation no longer does. Public
/// files (avatars) are readable by anyone.
pub async fn who_may_read_follows_the_conversation(
    chat: Arc<dyn ChatStore>,
    media: Arc<dyn MediaRepo>,
) {
    let (ann, bob, cy, eve) = (
        person(&chat, "Ann").await,
        person(&chat, "Bob").await,
        person(&chat, "Cy").await,
        person(&chat, "Eve").await,
    );
    let r = record(ann, false, Duration::zero());
    media.insert_media(&r).await.unwrap();
    assert!(media.can_read(r.id, ann).await.unwrap(), "the uploader");
    assert!(!media.can_read(r.id, bob).await.unwrap(), "not sent yet");

    let group = chat.create_group(ann, "g", &[bob, cy]).await.unwrap();
    let out = chat
        .append(&[NewMessage {
            conversation_id: group.id,
            sender_id: ann,
            client_id: "with-file".into(),
            body: "look".into(),
            attachments: vec![r.attachment()],
            reply_to: None,
            mentions: Vec::new(),
        }])
        .await
        .unwrap();
    let Appended::New(sent) = &out.outcomes[0] else {
        panic!("not appended: {:?}", out.outcomes[0]);
    };
    assert_eq!(sent.attachments.len(), 1);
    assert_eq!(sent.attachments[0].media_id, r.id);
    for member in [ann, bob, cy] {
        assert!(media.can_read(r.id, member).await.unwrap(), "a member");
    }
    assert!(!media.can_read(r.id, eve).await.unwrap(), "a stranger");
    chat.remove_member(group.id, cy).await.unwrap();
    assert!(!media.can_read(r.id, cy).await.unwrap(), "a removed member");
    assert!(
        !media.can_read(MediaId::new(), ann).await.unwrap(),
        "no such file"
    );

    let avatar = record(bob, true, Duration::zero());
    media.insert_media(&avatar).await.unwrap();
    assert!(media.can_read(avatar.id, eve).await.unwrap(), "public");
}

/// Orphans are private uploads older than the cut-off that no message attached; deleting one
/// removes it, and a file attached meanwhile is never deleted.
pub async fn only_old_unattached_private_uploads_are_orphans(
    chat: Arc<dyn ChatStore>,
    media: Arc<dyn MediaRepo>,
) {
    let (ann, bob) = (person(&chat, "Ann").await, person(&chat, "Bob").await);
    let old = record(ann, false, Duration::hours(2));
    let older = record(ann, false, Duration::hours(3));
    let fresh = record(ann, false, Duration::zero());
    let old_public = record(ann, true, Duration::hours(2));
    let old_sent = record(ann, false, Duration::hours(2));
    for r in [&old, &older, &fresh, &old_public, &old_sent] {
        media.insert_media(r).await.unwrap();
    }
    let (direct, _) = chat.direct_conversation(ann, bob).await.unwrap();
    chat.append(&[NewMessage {
        conversation_id: direct.id,
        sender_id: ann,
        client_id: "sent".into(),
        body: String::new(),
        attachments: vec![old_sent.attachment()],
        reply_to: None,
        mentions: Vec::new(),
    }])
    .await
    .unwrap();

    let cutoff = Utc::now() - Duration::hours(1);
    assert_eq!(
        media.orphans(cutoff, 10).await.unwrap(),
        vec![older.id, old.id],
        "oldest first; not fresh, public or sent ones"
    );
    assert_eq!(media.orphans(cutoff, 1).await.unwrap(), vec![older.id]);
    assert!(!media.delete_orphan(old_sent.id).await.unwrap(), "attached");
    assert!(media.media(old_sent.id).await.unwrap().is_some());
    assert!(media.delete_orphan(old.id).await.unwrap());
    assert_eq!(media.media(old.id).await.unwrap(), None);
    assert!(!media.delete_orphan(old.id).await.unwrap(), "already gone");
    assert_eq!(media.orphans(cutoff, 10).await.unwrap(), vec![older.id]);
}

/// A file cleaned up as an orphan between the send that resolved it and the append is not
/// attached to nothing: the append fails and stores nothing, and the conversation's next
/// message takes the seq the failed one would have had.
pub async fn an_attachment_whose_file_is_gone_is_not_stored(
    chat: Arc<dyn ChatStore>,
    media: Arc<dyn MediaRepo>,
) {
    let (ann, bob) = (person(&chat, "Ann").await, person(&chat, "Bob").await);
    let gone = record(ann, false, Duration::hours(2));
    media.insert_media(&gone).await.unwrap();
    let (direct, _) = chat.direct_conversation(ann, bob).await.unwrap();
    assert!(
        media.delete_orphan(gone.id).await.unwrap(),
        "an orphan until attached"
    );
    // Twice: the second time after a failed append, with the conversation's row as the store
    // last left it.
    for round in 0..2 {
        let kept = send(&chat, direct.id, ann, &format!("kept-{round}")).await;
        let gone_id = format!("gone-{round}");
        let refused = chat
            .append(&[NewMessage {
                attachments: vec![gone.attachment()],
                ..msg(direct.id, ann, &gone_id, "look")
            }])
            .await;
        assert!(refused.is_err(), "attached a deleted file: {refused:?}");
        let next = send(&chat, direct.id, ann, &format!("next-{round}")).await;
        assert_eq!(
            next.seq,
            kept.seq + 1,
            "the failed append left no seq behind"
        );
    }
    let history = chat
        .messages(
            direct.id,
            ann,
            chatsync_core::ports::chat::Page {
                before_seq: None,
                after_seq: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|m| m.client_id.as_str())
            .collect::<Vec<_>>(),
        ["kept-0", "next-0", "kept-1", "next-1"]
    );
    assert!(history.iter().all(|m| m.attachments.is_empty()));
    assert!(!media.can_read(gone.id, bob).await.unwrap());
}

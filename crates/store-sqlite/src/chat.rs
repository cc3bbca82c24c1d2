//! The chat service's tables: `chat_user`, `conversation`, `member`, `message`, `reaction`.

use crate::{DbResult, Sqlite, SqliteStore, millis};
use async_trait::async_trait;
use chatsync_core::ids::{ConversationId, MessageId, UserId};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::chat::{
    AppendBatch, ChatStore, Conversation, ConversationSummary, LinkPreview, Member, Message,
    NewMessage, Notifications, NotifyLevel, Page, Profile, Reacted, ReceiptKind, Role,
    SearchCursor, SearchHit, SearchQuery, SyncBatch, SyncFrom, UNREAD_COUNT_CAP, now_millis,
};
use chatsync_store_sql::rows::{self as read, Dialect};
use chatsync_store_sql::{conversation_columns, message_columns, search};
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};
use std::collections::HashMap;

type Db<'a> = &'a mut SqliteConnection;

/// JSON array of ids, for `json_each(?)` in place of a variable-length `IN (...)`.
fn json_ids<T: ToString>(ids: &[T]) -> String {
    serde_json::to_string(&ids.iter().map(ToString::to_string).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// Members of each conversation, oldest first.
async fn members_of(
    db: Db<'_>,
    ids: &[ConversationId],
) -> Result<HashMap<ConversationId, Vec<Member>>, StoreError> {
    let rows = sqlx::query(
        "SELECT m.conversation_id, m.user_id, m.role, m.joined_at, m.delivered_seq, m.read_seq,
                COALESCE(u.display_name, '') AS display_name, u.avatar_url
         FROM member m LEFT JOIN chat_user u ON u.chat_user_id = m.user_id
         WHERE m.conversation_id IN (SELECT value FROM json_each(?1))
         ORDER BY m.joined_at, m.user_id",
    )
    .bind(json_ids(ids))
    .fetch_all(&mut *db)
    .await
    .db()?;
    read::group_members::<Sqlite>(&rows).db()
}

/// Fills in each message's reactions.
async fn with_reactions(db: Db<'_>, messages: &mut [Message]) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    let rows = sqlx::query(
        "SELECT message_id, user_id, emoji FROM reaction
         WHERE message_id IN (SELECT value FROM json_each(?1))
         ORDER BY rowid",
    )
    .bind(json_ids(&ids))
    .fetch_all(&mut *db)
    .await
    .db()?;
    read::attach_reactions::<Sqlite>(&rows, messages).db()
}

async fn is_member(db: Db<'_>, conv: ConversationId, user: UserId) -> Result<bool, StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM member WHERE conversation_id = ? AND user_id = ?")
            .bind(conv.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *db)
            .await
            .db()?;
    Ok(found.is_some())
}

/// Messages from rows selected with `message_columns!()`, with their reactions.
async fn with_reactions_read(
    db: Db<'_>,
    rows: &[sqlx::sqlite::SqliteRow],
) -> Result<Vec<Message>, StoreError> {
    let mut msgs: Vec<Message> = rows
        .iter()
        .map(read::message::<Sqlite>)
        .collect::<Result<_, _>>()
        .db()?;
    with_reactions(db, &mut msgs).await?;
    Ok(msgs)
}

/// Counts a change to message `mid` (edit, delete, reaction) in its conversation's version and
/// stamps the message with the new version, for `sync`'s change cursor. Called first in the
/// change's transaction, so the conversation's row is locked before the message's, as appends
/// lock it; if the change is then refused, the transaction rolls back and nothing counted.
async fn count_change(db: Db<'_>, mid: MessageId) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversation SET version = version + 1
         WHERE conversation_id = (SELECT conversation_id FROM message WHERE message_id = ?1)",
    )
    .bind(mid.to_string())
    .execute(&mut *db)
    .await
    .db()?;
    sqlx::query(
        "UPDATE message SET version =
             (SELECT c.version FROM conversation c WHERE c.conversation_id = message.conversation_id)
         WHERE message_id = ?1",
    )
    .bind(mid.to_string())
    .execute(&mut *db)
    .await
    .db()?;
    Ok(())
}

async fn load_conversation(db: Db<'_>, cid: ConversationId) -> Result<Conversation, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversation c WHERE c.conversation_id = ?"
    ))
    .bind(cid.to_string())
    .fetch_optional(&mut *db)
    .await
    .db()?
    .ok_or(StoreError::NotFound)?;
    let mut c = read::conversation::<Sqlite>(&row).db()?;
    c.members = members_of(db, &[cid])
        .await?
        .remove(&cid)
        .unwrap_or_default();
    Ok(c)
}

async fn load_message(db: Db<'_>, mid: MessageId) -> Result<Message, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        message_columns!(),
        " FROM message msg WHERE msg.message_id = ?"
    ))
    .bind(mid.to_string())
    .fetch_optional(&mut *db)
    .await
    .db()?
    .ok_or(StoreError::NotFound)?;
    let mut m = [read::message::<Sqlite>(&row).db()?];
    with_reactions(db, &mut m).await?;
    let [m] = m;
    Ok(m)
}

async fn insert_member(
    db: Db<'_>,
    cid: ConversationId,
    user: UserId,
    role: Role,
    now: i64,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO member (conversation_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(cid.to_string())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(now)
    .execute(&mut *db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn upsert_profile(&self, p: &Profile) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chat_user (chat_user_id, display_name, avatar_url, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (chat_user_id) DO UPDATE SET
                 display_name = excluded.display_name,
                 avatar_url = excluded.avatar_url,
                 updated_at = excluded.updated_at
             WHERE excluded.updated_at >= chat_user.updated_at",
        )
        .bind(p.id.to_string())
        .bind(&p.display_name)
        .bind(&p.avatar_url)
        .bind(millis(p.updated_at))
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Profile>, StoreError> {
        let rows = sqlx::query(
            "SELECT chat_user_id, display_name, avatar_url, updated_at FROM chat_user
             WHERE chat_user_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_ids(ids))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(read::profile::<Sqlite>)
            .collect::<Result<_, _>>()
            .db()
    }

    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<(Conversation, bool), StoreError> {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let mut tx = self.begin_write().await?;
        let now = millis(Utc::now());
        let created = sqlx::query(
            "INSERT INTO conversation (conversation_id, kind, created_by, created_at,
                                       last_activity_at, direct_low, direct_high)
             VALUES (?1, 'direct', ?2, ?3, ?3, ?4, ?5)
             ON CONFLICT (direct_low, direct_high) DO NOTHING",
        )
        .bind(ConversationId::new().to_string())
        .bind(a.to_string())
        .bind(now)
        .bind(low.to_string())
        .bind(high.to_string())
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected()
            == 1;
        let cid: String = sqlx::query_scalar(
            "SELECT conversation_id FROM conversation WHERE direct_low = ? AND direct_high = ?",
        )
        .bind(low.to_string())
        .bind(high.to_string())
        .fetch_one(&mut *tx)
        .await
        .db()?;
        let cid: ConversationId = cid
            .parse()
            .map_err(|e: uuid::Error| StoreError::other("reading a conversation id", e))?;
        if created {
            insert_member(&mut tx, cid, low, Role::Member, now).await?;
            insert_member(&mut tx, cid, high, Role::Member, now).await?;
        }
        let c = load_conversation(&mut tx, cid).await?;
        tx.commit().await.db()?;
        Ok((c, created))
    }

    async fn create_group(
        &self,
        owner: UserId,
        name: &str,
        members: &[UserId],
    ) -> Result<Conversation, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = millis(Utc::now());
        let cid = ConversationId::new();
        sqlx::query(
            "INSERT INTO conversation (conversation_id, kind, name, created_by, created_at,
                                       last_activity_at)
             VALUES (?1, 'group', ?2, ?3, ?4, ?4)",
        )
        .bind(cid.to_string())
        .bind(name)
        .bind(owner.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .db()?;
        insert_member(&mut tx, cid, owner, Role::Owner, now).await?;
        for m in members.iter().filter(|m| **m != owner) {
            insert_member(&mut tx, cid, *m, Role::Member, now).await?;
        }
        let c = load_conversation(&mut tx, cid).await?;
        tx.commit().await.db()?;
        Ok(c)
    }

    async fn conversation(
        &self,
        cid: ConversationId,
        user: UserId,
    ) -> Result<Conversation, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        if !is_member(&mut db, cid, user).await? {
            return Err(StoreError::NotFound);
        }
        load_conversation(&mut db, cid).await
    }

    async fn conversations(
        &self,
        user: UserId,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            ",
                (SELECT count(*) FROM (
                    SELECT 1 FROM message x
                    WHERE x.conversation_id = c.conversation_id AND x.seq > m.read_seq
                      AND x.sender_id <> m.user_id AND x.deleted_at IS NULL
                    LIMIT ?4)) AS unread_count,
                (SELECT count(*) FROM mention mn
                 WHERE mn.user_id = m.user_id AND mn.conversation_id = c.conversation_id
                   AND mn.seq > m.read_seq) AS mention_count,
                m.notify_level, m.muted_until
             FROM member m JOIN conversation c ON c.conversation_id = m.conversation_id
             WHERE m.user_id = ?1 AND (?2 IS NULL OR c.last_activity_at < ?2)
             ORDER BY c.last_activity_at DESC, c.conversation_id DESC
             LIMIT ?3"
        ))
        .bind(user.to_string())
        .bind(before.map(millis))
        .bind(i64::from(limit))
        .bind(UNREAD_COUNT_CAP)
        .fetch_all(&mut *db)
        .await
        .db()?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(ConversationSummary {
                conversation: read::conversation::<Sqlite>(r).db()?,
                last_message: None,
                unread_count: r.try_get("unread_count").db()?,
                mention_count: r.try_get("mention_count").db()?,
                // The default level needs the members (read below): the service resolves it.
                notifications: Notifications {
                    level: NotifyLevel::All,
                    chosen: Sqlite::opt_text(r, "notify_level")
                        .db()?
                        .map(|l| NotifyLevel::parse(&l))
                        .transpose()?,
                    muted_until: Sqlite::opt_time(r, "muted_until").db()?,
                },
            });
        }
        let ids: Vec<ConversationId> = out.iter().map(|s| s.conversation.id).collect();
        let mut members = members_of(&mut db, &ids).await?;
        // The newest message of each, in one query.
        let pairs: Vec<(String, i64)> = out
            .iter()
            .filter(|s| s.conversation.last_seq > 0)
            .map(|s| (s.conversation.id.to_string(), s.conversation.last_seq))
            .collect();
        let last_rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM message msg
             JOIN json_each(?1) j
               ON msg.conversation_id = json_extract(j.value, '$[0]')
              AND msg.seq = json_extract(j.value, '$[1]')"
        ))
        .bind(serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into()))
        .fetch_all(&mut *db)
        .await
        .db()?;
        let mut last: Vec<Message> = last_rows
            .iter()
            .map(read::message::<Sqlite>)
            .collect::<Result<_, _>>()
            .db()?;
        with_reactions(&mut db, &mut last).await?;
        let mut last: HashMap<ConversationId, Message> =
            last.into_iter().map(|m| (m.conversation_id, m)).collect();
        for s in &mut out {
            s.conversation.members = members.remove(&s.conversation.id).unwrap_or_default();
            s.last_message = last.remove(&s.conversation.id);
        }
        Ok(out)
    }

    async fn add_members(
        &self,
        cid: ConversationId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = millis(Utc::now());
        let mut added = Vec::new();
        for u in users {
            if insert_member(&mut tx, cid, *u, Role::Member, now).await? {
                added.push(*u);
            }
        }
        tx.commit().await.db()?;
        Ok(added)
    }

    async fn remove_member(&self, cid: ConversationId, user: UserId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let role: Option<String> = sqlx::query_scalar(
            "DELETE FROM member WHERE conversation_id = ? AND user_id = ? RETURNING role",
        )
        .bind(cid.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        match role.as_deref() {
            None => return Err(StoreError::NotFound),
            Some("owner") => {
                sqlx::query(
                    "UPDATE member SET role = 'owner'
                     WHERE conversation_id = ?1 AND user_id = (
                         SELECT user_id FROM member WHERE conversation_id = ?1
                         ORDER BY joined_at, user_id LIMIT 1)",
                )
                .bind(cid.to_string())
                .execute(&mut *tx)
                .await
                .db()?;
            }
            Some(_) => {}
        }
        tx.commit().await.db()
    }

    async fn rename(&self, cid: ConversationId, name: &str) -> Result<Conversation, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE conversation SET name = ? WHERE conversation_id = ? AND kind = 'group'",
        )
        .bind(name)
        .bind(cid.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let c = load_conversation(&mut tx, cid).await?;
        tx.commit().await.db()?;
        Ok(c)
    }

    async fn member_ids(&self, cid: ConversationId) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query("SELECT user_id FROM member WHERE conversation_id = ?")
            .bind(cid.to_string())
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows.iter()
            .map(|r| Sqlite::uuid(r, "user_id").map(UserId))
            .collect::<Result<_, _>>()
            .db()
    }

    async fn contacts(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT b.user_id FROM member a
             JOIN member b ON b.conversation_id = a.conversation_id
             WHERE a.user_id = ?1 AND b.user_id <> ?1",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(|r| Sqlite::uuid(r, "user_id").map(UserId))
            .collect::<Result<_, _>>()
            .db()
    }

    async fn append(&self, batch: &[NewMessage]) -> Result<AppendBatch, StoreError> {
        // One blocking call on the appender's own connection (see `appender`), not a round
        // trip through the pool per statement.
        self.appender.append(batch).await
    }

    async fn messages(
        &self,
        cid: ConversationId,
        user: UserId,
        page: Page,
    ) -> Result<Vec<Message>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        if !is_member(&mut db, cid, user).await? {
            return Err(StoreError::NotFound);
        }
        // Without `after_seq` the newest page is wanted: read backwards, then reverse.
        let newest_first = page.after_seq.is_none();
        let rows = sqlx::query(if newest_first {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM message msg WHERE msg.conversation_id = ?1
                  AND msg.seq < COALESCE(?2, 9223372036854775807) AND msg.seq > COALESCE(?3, 0)
                ORDER BY msg.seq DESC LIMIT ?4"
            )
        } else {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM message msg WHERE msg.conversation_id = ?1
                  AND msg.seq < COALESCE(?2, 9223372036854775807) AND msg.seq > COALESCE(?3, 0)
                ORDER BY msg.seq ASC LIMIT ?4"
            )
        })
        .bind(cid.to_string())
        .bind(page.before_seq)
        .bind(page.after_seq)
        .bind(i64::from(page.limit))
        .fetch_all(&mut *db)
        .await
        .db()?;
        let mut msgs: Vec<Message> = rows
            .iter()
            .map(read::message::<Sqlite>)
            .collect::<Result<_, _>>()
            .db()?;
        if newest_first {
            msgs.reverse();
        }
        with_reactions(&mut db, &mut msgs).await?;
        Ok(msgs)
    }

    async fn sync(
        &self,
        user: UserId,
        from: &[SyncFrom],
        limit: u32,
    ) -> Result<SyncBatch, StoreError> {
        // One read transaction: the three reads see the same snapshot, so the versions
        // answered are exactly those the messages reflect.
        let mut tx = self.pool.begin().await.db()?;
        let positions: Vec<(String, i64, Option<i64>)> = from
            .iter()
            .map(|f| (f.conversation_id.to_string(), f.seq, f.version))
            .collect();
        let positions = serde_json::to_string(&positions).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(concat!(
            "SELECT * FROM (
                SELECT ",
            message_columns!(),
            ", row_number() OVER (PARTITION BY msg.conversation_id ORDER BY msg.seq) AS rn
                FROM member m
                JOIN message msg ON msg.conversation_id = m.conversation_id
                LEFT JOIN (SELECT json_extract(value, '$[0]') AS cid,
                                  json_extract(value, '$[1]') AS after_seq
                           FROM json_each(?2)) p ON p.cid = m.conversation_id
                WHERE m.user_id = ?1 AND msg.seq > COALESCE(p.after_seq, 0)
             ) WHERE rn <= ?3
             ORDER BY conversation_id, seq"
        ))
        .bind(user.to_string())
        .bind(&positions)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let messages = with_reactions_read(&mut tx, &rows).await?;

        let rows = sqlx::query(concat!(
            "SELECT * FROM (
                SELECT ",
            message_columns!(),
            ", msg.version AS changed_in,
                  row_number() OVER (PARTITION BY msg.conversation_id ORDER BY msg.version) AS rn
                FROM (SELECT json_extract(value, '$[0]') AS cid,
                             json_extract(value, '$[1]') AS upto_seq,
                             json_extract(value, '$[2]') AS since
                      FROM json_each(?2)) p
                JOIN member m ON m.conversation_id = p.cid AND m.user_id = ?1
                JOIN message msg ON msg.conversation_id = p.cid
                WHERE p.since IS NOT NULL AND msg.version > 0
                  AND msg.version > p.since AND msg.seq <= p.upto_seq
             ) WHERE rn <= ?3
             ORDER BY conversation_id, changed_in"
        ))
        .bind(user.to_string())
        .bind(&positions)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let changed = with_reactions_read(&mut tx, &rows).await?;
        let updated = changed
            .into_iter()
            .zip(&rows)
            .map(|(m, r)| Ok((m, Sqlite::int(r, "changed_in")?)))
            .collect::<Result<_, sqlx::Error>>()
            .db()?;

        let versions = sqlx::query(
            "SELECT c.conversation_id, c.version FROM member m
             JOIN conversation c ON c.conversation_id = m.conversation_id
             WHERE m.user_id = ?1",
        )
        .bind(user.to_string())
        .fetch_all(&mut *tx)
        .await
        .db()?
        .iter()
        .map(|r| {
            Ok((
                ConversationId(Sqlite::uuid(r, "conversation_id")?),
                Sqlite::int(r, "version")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .db()?;
        tx.commit().await.db()?;
        Ok(SyncBatch {
            messages,
            updated,
            versions,
        })
    }

    async fn search(&self, user: UserId, q: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        if let Some(cid) = q.conversation_id
            && !is_member(&mut db, cid, user).await?
        {
            return Err(StoreError::NotFound);
        }
        if q.terms.is_empty() {
            return Ok(Vec::new());
        }
        // Messages are indexed in batches (see `appender`): index what is queued, so the
        // search sees every message committed before it.
        self.appender.index().await?;
        // The index first, newest match first, joined to the messages and the asker's
        // memberships as it goes, until the page is full: rowids grow with every insert as
        // `created_at` does, so FTS5 walks its doclist backwards and stops early, and nothing
        // is sorted. (CROSS JOIN keeps that order: left to itself, the planner starts from the
        // member's conversations and runs the full-text match once per message in them.)
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            ", snippet(message_fts, 0, ?6, ?7, '…', 16) AS snippet
             FROM message_fts
             CROSS JOIN message msg ON msg.rowid = message_fts.rowid
             CROSS JOIN member mb
                ON mb.conversation_id = msg.conversation_id AND mb.user_id = ?2
             WHERE message_fts MATCH ?1 AND msg.deleted_at IS NULL
               AND (?3 IS NULL OR msg.conversation_id = ?3)
               AND message_fts.rowid < COALESCE(
                     (SELECT rowid FROM message WHERE message_id = ?4), 9223372036854775807)
             ORDER BY message_fts.rowid DESC
             LIMIT ?5"
        ))
        .bind(search::fts5_match(&q.terms))
        .bind(user.to_string())
        .bind(q.conversation_id.map(|c| c.to_string()))
        .bind(q.before.map(|c| c.message_id.to_string()))
        .bind(i64::from(q.limit))
        .bind(search::MARK_START)
        .bind(search::MARK_END)
        .fetch_all(&mut *db)
        .await
        .db()?;
        let msgs = with_reactions_read(&mut db, &rows).await?;
        msgs.into_iter()
            .zip(&rows)
            .map(|(message, row)| {
                Ok(SearchHit {
                    message,
                    snippet: Sqlite::text(row, "snippet")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .db()
    }

    async fn set_notifications(
        &self,
        cid: ConversationId,
        user: UserId,
        chosen: Option<NotifyLevel>,
        muted_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE member SET notify_level = ?1, muted_until = ?2
             WHERE conversation_id = ?3 AND user_id = ?4",
        )
        .bind(chosen.map(NotifyLevel::as_str))
        .bind(muted_until.map(millis))
        .bind(cid.to_string())
        .bind(user.to_string())
        .execute(&self.pool)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_preview(
        &self,
        mid: MessageId,
        preview: &LinkPreview,
    ) -> Result<Option<Message>, StoreError> {
        let mut tx = self.begin_write().await?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET preview = ?1
             WHERE message_id = ?2 AND preview_removed = 0 AND deleted_at IS NULL",
        )
        .bind(
            serde_json::to_string(preview)
                .map_err(|e| StoreError::other("encoding a link preview", e))?,
        )
        .bind(mid.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(image) = &preview.image {
            // Readable by whoever may read the message, like an attachment.
            sqlx::query(
                "INSERT INTO media_attachment (media_id, conversation_id, message_id)
                 SELECT ?1, conversation_id, message_id FROM message WHERE message_id = ?2
                 ON CONFLICT DO NOTHING",
            )
            .bind(image.media_id.to_string())
            .bind(mid.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
            sqlx::query(
                "UPDATE media SET attached_at = COALESCE(attached_at, ?1) WHERE media_id = ?2",
            )
            .bind(millis(Utc::now()))
            .bind(image.media_id.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(Some(m))
    }

    async fn remove_preview(&self, mid: MessageId, user: UserId) -> Result<Message, StoreError> {
        let mut tx = self.begin_write().await?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET preview = NULL, preview_removed = 1
             WHERE message_id = ?1 AND sender_id = ?2
               AND EXISTS (SELECT 1 FROM member WHERE member.conversation_id = message.conversation_id
                                                  AND member.user_id = ?2)",
        )
        .bind(mid.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(m)
    }

    async fn set_read_receipts(&self, user: UserId, on: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chat_setting (user_id, read_receipts) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET read_receipts = excluded.read_receipts",
        )
        .bind(user.to_string())
        .bind(on)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn read_receipts_off(&self, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id FROM chat_setting
             WHERE read_receipts = 0 AND user_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_ids(users))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(|r| Ok(UserId(Sqlite::uuid(r, "user_id")?)))
            .collect::<Result<_, sqlx::Error>>()
            .db()
    }

    async fn mentioning(
        &self,
        user: UserId,
        before: Option<SearchCursor>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM mention mn
             JOIN member mb ON mb.conversation_id = mn.conversation_id AND mb.user_id = mn.user_id
             JOIN message msg ON msg.message_id = mn.message_id
             WHERE mn.user_id = ?1 AND msg.deleted_at IS NULL
               AND (?2 IS NULL OR msg.created_at < ?2
                    OR (msg.created_at = ?2 AND msg.message_id < ?3))
             ORDER BY msg.created_at DESC, msg.message_id DESC
             LIMIT ?4"
        ))
        .bind(user.to_string())
        .bind(before.map(|c| millis(c.created_at)))
        .bind(before.map(|c| c.message_id.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&mut *db)
        .await
        .db()?;
        let msgs = with_reactions_read(&mut db, &rows).await?;
        Ok(msgs)
    }

    async fn message(&self, mid: MessageId, user: UserId) -> Result<Message, StoreError> {
        let mut db = self.pool.acquire().await.db()?;
        let visible: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM message msg JOIN member m ON m.conversation_id = msg.conversation_id
             WHERE msg.message_id = ? AND m.user_id = ?",
        )
        .bind(mid.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *db)
        .await
        .db()?;
        if visible.is_none() {
            return Err(StoreError::NotFound);
        }
        load_message(&mut db, mid).await
    }

    async fn edit_message(
        &self,
        mid: MessageId,
        user: UserId,
        body: &str,
        keep_preview: bool,
    ) -> Result<Message, StoreError> {
        let mut tx = self.begin_write().await?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET body = ?1, edited_at = ?2,
                                preview = CASE WHEN ?5 THEN preview ELSE NULL END
             WHERE message_id = ?3 AND sender_id = ?4 AND deleted_at IS NULL
               AND EXISTS (SELECT 1 FROM member WHERE member.conversation_id = message.conversation_id
                                                  AND member.user_id = ?4)",
        )
        .bind(body)
        .bind(millis(now_millis()))
        .bind(mid.to_string())
        .bind(user.to_string())
        .bind(keep_preview)
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(m)
    }

    async fn delete_message(&self, mid: MessageId, user: UserId) -> Result<Message, StoreError> {
        let mut tx = self.begin_write().await?;
        count_change(&mut tx, mid).await?;
        let changed = sqlx::query(
            "UPDATE message SET body = '', attachments = '[]', mentions = '[]',
                                deleted_at = COALESCE(deleted_at, ?1)
             WHERE message_id = ?2 AND sender_id = ?3
               AND EXISTS (SELECT 1 FROM member WHERE member.conversation_id = message.conversation_id
                                                  AND member.user_id = ?3)",
        )
        .bind(millis(Utc::now()))
        .bind(mid.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // A deleted message no longer grants access to its files, nor counts as a mention.
        for table in ["reaction", "media_attachment", "mention"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE message_id = ?"
            )))
            .bind(mid.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(m)
    }

    async fn react(
        &self,
        mid: MessageId,
        user: UserId,
        emoji: &str,
        on: bool,
        max_per_user: u32,
    ) -> Result<Reacted, StoreError> {
        // One writer: the count below holds until this transaction commits.
        let mut tx = self.begin_write().await?;
        count_change(&mut tx, mid).await?;
        let visible: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM message msg JOIN member m
               ON m.conversation_id = msg.conversation_id AND m.user_id = ?2
             WHERE msg.message_id = ?1 AND msg.deleted_at IS NULL",
        )
        .bind(mid.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if visible.is_none() {
            return Err(StoreError::NotFound);
        }
        if on {
            let others: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM reaction WHERE message_id = ? AND user_id = ? AND emoji <> ?",
            )
            .bind(mid.to_string())
            .bind(user.to_string())
            .bind(emoji)
            .fetch_one(&mut *tx)
            .await
            .db()?;
            if others >= i64::from(max_per_user) {
                return Ok(Reacted::TooMany);
            }
            sqlx::query(
                "INSERT INTO reaction (message_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(mid.to_string())
            .bind(user.to_string())
            .bind(emoji)
            .bind(millis(Utc::now()))
            .execute(&mut *tx)
            .await
            .db()?;
        } else {
            sqlx::query("DELETE FROM reaction WHERE message_id = ? AND user_id = ? AND emoji = ?")
                .bind(mid.to_string())
                .bind(user.to_string())
                .bind(emoji)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        let m = load_message(&mut tx, mid).await?;
        tx.commit().await.db()?;
        Ok(Reacted::Done(m))
    }

    async fn receipt(
        &self,
        cid: ConversationId,
        user: UserId,
        kind: ReceiptKind,
        seq: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT m.delivered_seq, m.read_seq, c.last_seq FROM member m
             JOIN conversation c ON c.conversation_id = m.conversation_id
             WHERE m.conversation_id = ? AND m.user_id = ?",
        )
        .bind(cid.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *tx)
        .await
        .db()?
        .ok_or(StoreError::NotFound)?;
        let delivered: i64 = row.try_get("delivered_seq").db()?;
        let read: i64 = row.try_get("read_seq").db()?;
        let last: i64 = row.try_get("last_seq").db()?;
        let target = seq.clamp(0, last);
        let (new_delivered, new_read, moved) = match kind {
            ReceiptKind::Delivered => (delivered.max(target), read, target > delivered),
            ReceiptKind::Read => (delivered.max(target), read.max(target), target > read),
        };
        if new_delivered != delivered || new_read != read {
            sqlx::query(
                "UPDATE member SET delivered_seq = ?, read_seq = ?
                 WHERE conversation_id = ? AND user_id = ?",
            )
            .bind(new_delivered)
            .bind(new_read)
            .bind(cid.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(moved.then_some(target))
    }
}

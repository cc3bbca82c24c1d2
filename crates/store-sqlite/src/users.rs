//! The user service's tables: `account`, `otp`, `user_outbox`.

use crate::{SqliteStore, from_millis, like_prefix, map_err, millis};
use async_trait::async_trait;
use chatsync_core::UserId;
use chatsync_core::outbox::{OutboxMessage, OutboxRow, OutboxStore};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::users::{Account, NewAccount, OtpRecord, ProfilePatch, UserStore};
use chatsync_core::validate::Email;
use chrono::{DateTime, Utc};
use sqlx::{Row, Sqlite, Transaction, sqlite::SqliteRow};

macro_rules! account_columns {
    () => {
        "account_id, email, password_hash, display_name, avatar_url, verified_at, created_at, \
         updated_at"
    };
}

fn account(row: &SqliteRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: crate::id(row, "account_id")?,
        email: Email::from_trusted(row.try_get("email")?),
        password_hash: row.try_get("password_hash")?,
        display_name: row.try_get("display_name")?,
        avatar_url: row.try_get("avatar_url")?,
        verified_at: row
            .try_get::<Option<i64>, _>("verified_at")?
            .map(from_millis),
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

async fn enqueue(
    tx: &mut Transaction<'_, Sqlite>,
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    let now = millis(Utc::now());
    for m in messages {
        sqlx::query("INSERT INTO user_outbox (topic, payload, created_at) VALUES (?, ?, ?)")
            .bind(&m.topic)
            .bind(&m.payload)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

async fn account_in(tx: &mut Transaction<'_, Sqlite>, id: UserId) -> Result<Account, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM account WHERE account_id = ?"
    ))
    .bind(id.to_string())
    .fetch_one(&mut **tx)
    .await
    .map_err(map_err)?;
    account(&row).map_err(map_err)
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn upsert_unverified(&self, new: &NewAccount) -> Result<Account, StoreError> {
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        // `WHERE verified_at IS NULL` on the update: a verified account is never overwritten,
        // and then RETURNING yields no row.
        let row = sqlx::query(concat!(
            "INSERT INTO account (account_id, email, password_hash, display_name, search_name, \
                                  created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (email) DO UPDATE SET
                 password_hash = excluded.password_hash,
                 display_name = excluded.display_name,
                 search_name = excluded.search_name,
                 updated_at = excluded.updated_at
             WHERE account.verified_at IS NULL
             RETURNING ",
            account_columns!(),
            ""
        ))
        .bind(UserId::new().to_string())
        .bind(new.email.as_str())
        .bind(&new.password_hash)
        .bind(&new.display_name)
        .bind(new.display_name.to_lowercase())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let acc = match row {
            Some(r) => account(&r).map_err(map_err)?,
            None => return Err(StoreError::Conflict("email_taken".into())),
        };
        tx.commit().await.map_err(map_err)?;
        Ok(acc)
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM account WHERE email = ?"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(account).transpose().map_err(map_err)
    }

    async fn account_by_id(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM account WHERE account_id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(account).transpose().map_err(map_err)
    }

    async fn put_otp(&self, otp: &OtpRecord, mail: &OutboxMessage) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO otp (account_id, code_hash, expires_at, failed_attempts)
             VALUES (?, ?, ?, 0)
             ON CONFLICT (account_id) DO UPDATE SET
                 code_hash = excluded.code_hash,
                 expires_at = excluded.expires_at,
                 failed_attempts = 0",
        )
        .bind(otp.user_id.to_string())
        .bind(&otp.code_hash)
        .bind(millis(otp.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        enqueue(&mut tx, std::slice::from_ref(mail)).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn otp(&self, user: UserId) -> Result<Option<OtpRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT code_hash, expires_at, failed_attempts FROM otp WHERE account_id = ?",
        )
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|r| {
            Ok(OtpRecord {
                user_id: user,
                code_hash: r.try_get("code_hash")?,
                expires_at: from_millis(r.try_get("expires_at")?),
                failed_attempts: r
                    .try_get::<i64, _>("failed_attempts")?
                    .try_into()
                    .unwrap_or(u32::MAX),
            })
        })
        .transpose()
        .map_err(map_err)
    }

    async fn fail_otp(&self, user: UserId, max_attempts: u32) -> Result<u32, StoreError> {
        let mut tx = self.begin_write().await?;
        let failed: Option<i64> = sqlx::query_scalar(
            "UPDATE otp SET failed_attempts = failed_attempts + 1 WHERE account_id = ?
             RETURNING failed_attempts",
        )
        .bind(user.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let left = failed.map_or(0, |f| i64::from(max_attempts).saturating_sub(f).max(0));
        if left == 0 {
            sqlx::query("DELETE FROM otp WHERE account_id = ?")
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(u32::try_from(left).unwrap_or(0))
    }

    async fn verify(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        events: &[OutboxMessage],
    ) -> Result<Account, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM otp WHERE account_id = ?")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if deleted.rows_affected() == 0 {
            // Another request used the code first.
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE account SET verified_at = ?1, updated_at = ?1
             WHERE account_id = ?2 AND verified_at IS NULL",
        )
        .bind(millis(at))
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let acc = account_in(&mut tx, user).await?;
        enqueue(&mut tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(acc)
    }

    async fn update_profile(
        &self,
        user: UserId,
        patch: &ProfilePatch,
        events_for: &(dyn for<'a> Fn(&'a Account) -> Vec<OutboxMessage> + Send + Sync),
    ) -> Result<Account, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = millis(Utc::now());
        if let Some(name) = &patch.display_name {
            sqlx::query(
                "UPDATE account SET display_name = ?, search_name = ?, updated_at = ?
                 WHERE account_id = ?",
            )
            .bind(name)
            .bind(name.to_lowercase())
            .bind(now)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        if let Some(avatar) = &patch.avatar_url {
            sqlx::query("UPDATE account SET avatar_url = ?, updated_at = ? WHERE account_id = ?")
                .bind(avatar)
                .bind(now)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let acc = account_in(&mut tx, user).await?;
        let events = events_for(&acc);
        enqueue(&mut tx, &events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(acc)
    }

    async fn search(
        &self,
        prefix: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Account>, StoreError> {
        let prefix = prefix.trim().to_lowercase();
        let starts = like_prefix(&prefix);
        let word_starts = format!("% {starts}");
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM account
             WHERE verified_at IS NOT NULL
               AND (search_name LIKE ?1 ESCAPE '\\' OR search_name LIKE ?2 ESCAPE '\\'
                    OR email LIKE ?1 ESCAPE '\\')
             ORDER BY search_name, account_id
             LIMIT ?3 OFFSET ?4"
        ))
        .bind(&starts)
        .bind(&word_starts)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(account)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }
}

/// A relay holds rows this long before another may take them over.
const CLAIM_MILLIS: i64 = 30_000;

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE user_outbox SET claimed_until = ?1
             WHERE user_outbox_id IN (
                 SELECT user_outbox_id FROM user_outbox
                 WHERE claimed_until IS NULL OR claimed_until < ?2
                 ORDER BY user_outbox_id LIMIT ?3)
             RETURNING user_outbox_id, topic, payload",
        )
        .bind(now + CLAIM_MILLIS)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(OutboxRow {
                    id: r.try_get("user_outbox_id")?,
                    message: OutboxMessage {
                        topic: r.try_get("topic")?,
                        payload: r.try_get("payload")?,
                    },
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(map_err)?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn remove(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for id in ids {
            sqlx::query("DELETE FROM user_outbox WHERE user_outbox_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }
}

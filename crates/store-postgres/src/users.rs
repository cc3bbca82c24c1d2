//! The user service's tables: `account`, `registration`, `user_outbox`.

use crate::{DbResult, Pg, PgStore, like_prefix};
use async_trait::async_trait;
use chatsync_core::ports::outbox::{OutboxMessage, OutboxRow, OutboxStore};
use chatsync_core::ports::users::{
    Account, NewCode, NewRegistration, ProfilePatch, Registration, UserStore,
};
use chatsync_core::ports::{Conflict, StoreError};
use chatsync_core::validate::Email;
use chatsync_core::{RegistrationId, UserId};
use chatsync_store_sql::rows as read;
use chatsync_store_sql::{account_columns, registration_columns};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};

async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    let payloads: Vec<&str> = messages.iter().map(|m| m.payload.as_str()).collect();
    sqlx::query(
        "INSERT INTO user_outbox (topic, payload)
         SELECT * FROM UNNEST($1::text[], $2::text[])",
    )
    .bind(&topics)
    .bind(&payloads)
    .execute(&mut **tx)
    .await
    .db()?;
    Ok(())
}

async fn account_in(tx: &mut Transaction<'_, Postgres>, id: UserId) -> Result<Account, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM account WHERE account_id = $1"
    ))
    .bind(id.0)
    .fetch_one(&mut **tx)
    .await
    .db()?;
    read::account::<Pg>(&row).db()
}

#[async_trait]
impl UserStore for PgStore {
    async fn register(
        &self,
        reg: &NewRegistration,
        keep: u32,
        mail: &OutboxMessage,
    ) -> Result<UserId, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        // An unverified account holds no credentials: they stay with the registration.
        sqlx::query(
            "INSERT INTO account (account_id, email, password_hash, display_name, created_at,
                                  updated_at)
             VALUES ($1, $2, '', '', now(), now())
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(UserId::new().0)
        .bind(reg.email.as_str())
        .execute(&mut *tx)
        .await
        .db()?;
        // The row lock orders concurrent registrations (and an activation) on one address, so
        // the newest `keep` are counted consistently.
        let row = sqlx::query(
            "SELECT account_id, verified_at IS NOT NULL AS verified FROM account
             WHERE email = $1 FOR UPDATE",
        )
        .bind(reg.email.as_str())
        .fetch_one(&mut *tx)
        .await
        .db()?;
        if row.try_get::<bool, _>("verified").db()? {
            return Err(StoreError::Conflict(Conflict::EmailTaken));
        }
        let account = UserId(row.try_get::<uuid::Uuid, _>("account_id").db()?);
        sqlx::query("DELETE FROM registration WHERE account_id = $1 AND expires_at <= now()")
            .bind(account.0)
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query(
            "INSERT INTO registration (registration_id, account_id, password_hash, display_name,
                                       code_hash, code_expires_at, failed_attempts, created_at,
                                       expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, clock_timestamp(), $7)",
        )
        .bind(reg.id.0)
        .bind(account.0)
        .bind(&reg.password_hash)
        .bind(&reg.display_name)
        .bind(&reg.code_hash)
        .bind(reg.code_expires_at)
        .bind(reg.expires_at)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "DELETE FROM registration WHERE account_id = $1 AND registration_id NOT IN (
                 SELECT registration_id FROM registration WHERE account_id = $1
                 ORDER BY created_at DESC, registration_id DESC LIMIT $2)",
        )
        .bind(account.0)
        .bind(i64::from(keep.max(1)))
        .execute(&mut *tx)
        .await
        .db()?;
        enqueue(&mut tx, std::slice::from_ref(mail)).await?;
        tx.commit().await.db()?;
        Ok(account)
    }

    async fn registrations(
        &self,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<Vec<Registration>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            registration_columns!(),
            " FROM registration r JOIN account a ON a.account_id = r.account_id
             WHERE a.email = $1 AND a.verified_at IS NULL AND r.expires_at > $2
             ORDER BY r.created_at, r.registration_id"
        ))
        .bind(email.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(read::registration::<Pg>)
            .collect::<Result<_, _>>()
            .db()
    }

    async fn replace_codes(&self, codes: &[NewCode], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        for c in codes {
            let updated = sqlx::query(
                "UPDATE registration SET code_hash = $1, code_expires_at = $2, failed_attempts = 0
                 WHERE registration_id = $3 AND expires_at > $4",
            )
            .bind(&c.code_hash)
            .bind(c.code_expires_at)
            .bind(c.registration.0)
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()?;
            if updated.rows_affected() == 1 {
                enqueue(&mut tx, std::slice::from_ref(&c.mail)).await?;
            }
        }
        tx.commit().await.db()
    }

    async fn fail_codes(&self, account: UserId, max_attempts: u32) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE registration SET failed_attempts = failed_attempts + 1
             WHERE account_id = $1 AND failed_attempts < $2",
        )
        .bind(account.0)
        .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn activate(
        &self,
        registration: RegistrationId,
        at: DateTime<Utc>,
        events_for: &(dyn for<'a> Fn(&'a Account) -> Vec<OutboxMessage> + Send + Sync),
    ) -> Result<Account, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        // Lock the registration: of two verifies with the same code, the second waits here and
        // then finds it deleted. Two different registrations of one address meet at the
        // account row, where `verified_at IS NULL` lets only the first through.
        let Some(reg) = sqlx::query(
            "SELECT account_id, password_hash, display_name FROM registration
             WHERE registration_id = $1 FOR UPDATE",
        )
        .bind(registration.0)
        .fetch_optional(&mut *tx)
        .await
        .db()?
        else {
            // Used by a concurrent verify, pushed out by newer registrations, or expired.
            return Err(StoreError::NotFound);
        };
        let account = UserId(reg.try_get::<uuid::Uuid, _>("account_id").db()?);
        let activated = sqlx::query(
            "UPDATE account SET password_hash = $1, display_name = $2, verified_at = $3,
                                updated_at = $3
             WHERE account_id = $4 AND verified_at IS NULL",
        )
        .bind(reg.try_get::<String, _>("password_hash").db()?)
        .bind(reg.try_get::<String, _>("display_name").db()?)
        .bind(at)
        .bind(account.0)
        .execute(&mut *tx)
        .await
        .db()?;
        if activated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM registration WHERE account_id = $1")
            .bind(account.0)
            .execute(&mut *tx)
            .await
            .db()?;
        let acc = account_in(&mut tx, account).await?;
        enqueue(&mut tx, &events_for(&acc)).await?;
        tx.commit().await.db()?;
        Ok(acc)
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM account WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(read::account::<Pg>).transpose().db()
    }

    async fn account_by_id(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM account WHERE account_id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(read::account::<Pg>).transpose().db()
    }

    async fn update_profile(
        &self,
        user: UserId,
        patch: &ProfilePatch,
        events_for: &(dyn for<'a> Fn(&'a Account) -> Vec<OutboxMessage> + Send + Sync),
    ) -> Result<Account, StoreError> {
        let mut tx = self.pool.begin().await.db()?;
        // $2/$4 say whether to touch the field, so `avatar_url = NULL` can be set on purpose.
        sqlx::query(
            "UPDATE account SET
                 display_name = CASE WHEN $2 THEN $3 ELSE display_name END,
                 avatar_url = CASE WHEN $4 THEN $5 ELSE avatar_url END,
                 updated_at = now()
             WHERE account_id = $1",
        )
        .bind(user.0)
        .bind(patch.display_name.is_some())
        .bind(patch.display_name.as_deref())
        .bind(patch.avatar_url.is_some())
        .bind(patch.avatar_url.clone().flatten())
        .execute(&mut *tx)
        .await
        .db()?;
        let acc = account_in(&mut tx, user).await?;
        let events = events_for(&acc);
        enqueue(&mut tx, &events).await?;
        tx.commit().await.db()?;
        Ok(acc)
    }

    async fn search(
        &self,
        term: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Account>, StoreError> {
        let term = term.trim().to_lowercase();
        let starts = like_prefix(&term);
        let word_starts = format!("% {starts}");
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM account
             WHERE verified_at IS NOT NULL
               AND (lower(display_name) LIKE $1 OR lower(display_name) LIKE $2
                    OR email = $5)
             ORDER BY lower(display_name), account_id
             LIMIT $3 OFFSET $4"
        ))
        .bind(&starts)
        .bind(&word_starts)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .bind(&term)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(read::account::<Pg>)
            .collect::<Result<_, _>>()
            .db()
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        // SKIP LOCKED: relays of several user-service instances take disjoint rows. The claim
        // lease lets another relay take over rows of one that died mid-publish.
        let rows = sqlx::query(
            "UPDATE user_outbox SET claimed_until = now() + interval '30 seconds'
             WHERE user_outbox_id IN (
                 SELECT user_outbox_id FROM user_outbox
                 WHERE claimed_until IS NULL OR claimed_until < now()
                 ORDER BY user_outbox_id LIMIT $1
                 FOR UPDATE SKIP LOCKED)
             RETURNING user_outbox_id, topic, payload",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
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
            .db()?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn remove(&self, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM user_outbox WHERE user_outbox_id = ANY($1)")
            .bind(ids)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }
}

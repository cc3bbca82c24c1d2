//! The user service's tables: `account`, `registration`, `user_outbox`.

use crate::{DbResult, Sqlite, SqliteStore, like_prefix, millis};
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
use sqlx::{Row, Transaction};

async fn enqueue(
    tx: &mut Transaction<'_, sqlx::Sqlite>,
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
            .db()?;
    }
    Ok(())
}

async fn account_in(
    tx: &mut Transaction<'_, sqlx::Sqlite>,
    id: UserId,
) -> Result<Account, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM account WHERE account_id = ?"
    ))
    .bind(id.to_string())
    .fetch_one(&mut **tx)
    .await
    .db()?;
    read::account::<Sqlite>(&row).db()
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn register(
        &self,
        reg: &NewRegistration,
        keep: u32,
        mail: &OutboxMessage,
    ) -> Result<UserId, StoreError> {
        let mut tx = self.begin_write().await?;
        // Taken inside the write lock, so concurrent registrations get increasing times.
        let now = millis(Utc::now());
        // An unverified account holds no credentials: they stay with the registration.
        sqlx::query(
            "INSERT INTO account (account_id, email, password_hash, display_name, search_name,
                                  created_at, updated_at)
             VALUES (?, ?, '', '', '', ?3, ?3)
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(UserId::new().to_string())
        .bind(reg.email.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .db()?;
        let row = sqlx::query("SELECT account_id, verified_at FROM account WHERE email = ?")
            .bind(reg.email.as_str())
            .fetch_one(&mut *tx)
            .await
            .db()?;
        if row.try_get::<Option<i64>, _>("verified_at").db()?.is_some() {
            return Err(StoreError::Conflict(Conflict::EmailTaken));
        }
        let account: UserId = crate::id(&row, "account_id").db()?;
        sqlx::query("DELETE FROM registration WHERE account_id = ? AND expires_at <= ?")
            .bind(account.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query(
            "INSERT INTO registration (registration_id, account_id, password_hash, display_name,
                                       code_hash, code_expires_at, failed_attempts, created_at,
                                       expires_at)
             VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
        )
        .bind(reg.id.to_string())
        .bind(account.to_string())
        .bind(&reg.password_hash)
        .bind(&reg.display_name)
        .bind(&reg.code_hash)
        .bind(millis(reg.code_expires_at))
        .bind(now)
        .bind(millis(reg.expires_at))
        .execute(&mut *tx)
        .await
        .db()?;
        // Newest first by time, then by id (UUIDv7, so later ids sort higher within a
        // millisecond too).
        sqlx::query(
            "DELETE FROM registration WHERE account_id = ?1 AND registration_id NOT IN (
                 SELECT registration_id FROM registration WHERE account_id = ?1
                 ORDER BY created_at DESC, registration_id DESC LIMIT ?2)",
        )
        .bind(account.to_string())
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
             WHERE a.email = ? AND a.verified_at IS NULL AND r.expires_at > ?
             ORDER BY r.created_at, r.registration_id"
        ))
        .bind(email.as_str())
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(read::registration::<Sqlite>)
            .collect::<Result<_, _>>()
            .db()
    }

    async fn replace_codes(&self, codes: &[NewCode], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for c in codes {
            let updated = sqlx::query(
                "UPDATE registration SET code_hash = ?, code_expires_at = ?, failed_attempts = 0
                 WHERE registration_id = ? AND expires_at > ?",
            )
            .bind(&c.code_hash)
            .bind(millis(c.code_expires_at))
            .bind(c.registration.to_string())
            .bind(millis(now))
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
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE registration SET failed_attempts = failed_attempts + 1
             WHERE account_id = ? AND failed_attempts < ?",
        )
        .bind(account.to_string())
        .bind(i64::from(max_attempts))
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn activate(
        &self,
        registration: RegistrationId,
        at: DateTime<Utc>,
        events_for: &(dyn for<'a> Fn(&'a Account) -> Vec<OutboxMessage> + Send + Sync),
    ) -> Result<Account, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(reg) = sqlx::query(
            "SELECT account_id, password_hash, display_name FROM registration
             WHERE registration_id = ?",
        )
        .bind(registration.to_string())
        .fetch_optional(&mut *tx)
        .await
        .db()?
        else {
            // Used by a concurrent verify, pushed out by newer registrations, or expired.
            return Err(StoreError::NotFound);
        };
        let account: UserId = crate::id(&reg, "account_id").db()?;
        let name: String = reg.try_get("display_name").db()?;
        let activated = sqlx::query(
            "UPDATE account SET password_hash = ?1, display_name = ?2, search_name = ?3,
                                verified_at = ?4, updated_at = ?4
             WHERE account_id = ?5 AND verified_at IS NULL",
        )
        .bind(reg.try_get::<String, _>("password_hash").db()?)
        .bind(&name)
        .bind(name.to_lowercase())
        .bind(millis(at))
        .bind(account.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        if activated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM registration WHERE account_id = ?")
            .bind(account.to_string())
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
            " FROM account WHERE email = ?"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(read::account::<Sqlite>).transpose().db()
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
        .db()?;
        row.as_ref().map(read::account::<Sqlite>).transpose().db()
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
            .db()?;
        }
        if let Some(avatar) = &patch.avatar_url {
            sqlx::query("UPDATE account SET avatar_url = ?, updated_at = ? WHERE account_id = ?")
                .bind(avatar)
                .bind(now)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .db()?;
        }
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
               AND (search_name LIKE ?1 ESCAPE '\\' OR search_name LIKE ?2 ESCAPE '\\'
                    OR email = ?3)
             ORDER BY search_name, account_id
             LIMIT ?4 OFFSET ?5"
        ))
        .bind(&starts)
        .bind(&word_starts)
        .bind(&term)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(read::account::<Sqlite>)
            .collect::<Result<_, _>>()
            .db()
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
        .db()?;
        tx.commit().await.db()?;
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
        let mut tx = self.begin_write().await?;
        for id in ids {
            sqlx::query("DELETE FROM user_outbox WHERE user_outbox_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        tx.commit().await.db()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Upgrading keeps every pending account verifiable: its credentials become a
    /// registration under the account's own id, so a code mailed before the upgrade (its HMAC
    /// was bound to the account id) still matches, and a verified account is untouched.
    #[tokio::test]
    async fn pending_accounts_become_registrations_on_upgrade() {
        let dir = crate::scratch_dir("upgrade");
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap();
        let first_only = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(crate::USER_MIGRATIONS.migrations[..1].to_vec()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        chatsync_store_sql::run_migrations(&first_only, "_sqlx_migrations_user", &store.pool)
            .await
            .unwrap();
        let (pending, bare, done) = (UserId::new(), UserId::new(), UserId::new());
        let later = millis(Utc::now()) + 600_000;
        for (id, email, verified) in [
            (pending, "p@example.com", None),
            (bare, "b@example.com", None),
            (done, "d@example.com", Some(1)),
        ] {
            sqlx::query(
                "INSERT INTO account (account_id, email, password_hash, display_name, search_name,
                                      verified_at, created_at, updated_at)
                 VALUES (?, ?, 'hash', 'Name', 'name', ?, 1, 1)",
            )
            .bind(id.to_string())
            .bind(email)
            .bind(verified)
            .execute(&store.pool)
            .await
            .unwrap();
        }
        sqlx::query("INSERT INTO otp VALUES (?, 'code-hmac', ?, 2)")
            .bind(pending.to_string())
            .bind(later)
            .execute(&store.pool)
            .await
            .unwrap();

        store.migrate_user().await.unwrap();

        let regs = store
            .registrations(&Email::parse("p@example.com").unwrap(), Utc::now())
            .await
            .unwrap();
        assert_eq!(regs.len(), 1);
        let r = &regs[0];
        assert_eq!((r.id.0, r.account_id), (pending.0, pending));
        assert_eq!(
            (r.password_hash.as_str(), r.display_name.as_str()),
            ("hash", "Name")
        );
        assert_eq!(
            (
                r.code_hash.as_str(),
                millis(r.code_expires_at),
                r.failed_attempts
            ),
            ("code-hmac", later, 2)
        );
        let bare_regs = store
            .registrations(&Email::parse("b@example.com").unwrap(), Utc::now())
            .await
            .unwrap();
        assert_eq!(
            bare_regs[0].code_hash, "",
            "no live code: one must be requested"
        );
        let acc = store.account_by_id(pending).await.unwrap().unwrap();
        assert_eq!(
            (acc.password_hash.as_str(), acc.display_name.as_str()),
            ("", "")
        );
        let acc = store.account_by_id(done).await.unwrap().unwrap();
        assert_eq!(
            (acc.password_hash.as_str(), acc.display_name.as_str()),
            ("hash", "Name")
        );

        let acc = store.activate(r.id, Utc::now(), &|_| vec![]).await.unwrap();
        assert_eq!(
            (acc.password_hash.as_str(), acc.display_name.as_str()),
            ("hash", "Name")
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

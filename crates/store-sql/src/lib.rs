//! What ChatSync's two SQL stores (`store-sqlite`, `store-postgres`) share, so that each
//! truth is written once:
//! - [`append`]: the decisions of an append (repeats within a batch, earlier duplicates,
//!   membership, seq numbering, outcomes) as pure, unit-tested code; each store only runs
//!   its dialect's SQL between [`append::plan`] and [`append::Plan::finish`];
//! - [`rows`]: rows to domain types, over a [`rows::Dialect`] naming how each database
//!   spells ids, times and JSON, and the grouping of member and reaction rows;
//! - [`search`]: message search queries in each dialect's syntax;
//! - [`run_migrations`]: one migration history per service.
//!
//! The SQL itself stays in the store crates, one dialect each (as atuin keeps it). Depends on
//! `chatsync-core` and sqlx's driver-independent core only.
#![warn(missing_docs)]

pub mod append;
pub mod rows;
pub mod search;

use chatsync_core::ports::StoreError;
use sqlx::migrate::{Migrate, Migrator};
use std::ops::Deref;

/// Brings a service's tables up to date from `migrations`, keeping the history in `table`:
/// one history table per service, so services sharing a database do not see each other's
/// migrations as unknown.
pub async fn run_migrations<'a, A>(
    migrations: &Migrator,
    table: &'static str,
    db: A,
) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as Deref>::Target: Migrate,
{
    let mut m = Migrator {
        migrations: migrations.migrations.clone(),
        ..Migrator::DEFAULT
    };
    m.dangerous_set_table_name(table);
    m.run(db)
        .await
        .map_err(|e| StoreError::other(format!("migrating {table}"), e))
}

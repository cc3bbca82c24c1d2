//! `chatsync-search-bench`: message search latency over a large history (issue 11, item 1).
//!
//! Seeds a fresh store (SQLite file in a temp dir, or a fresh PostgreSQL database) through
//! the store's own `append` (so the search index is maintained exactly as in production) with
//! `--messages` messages in direct and group conversations, bodies drawn from a vocabulary
//! with a Zipf-like spread (a few words in most messages, most words rare), then times
//! `ChatStore::search` (the SQL the API runs: membership join, ranking by time, snippet,
//! reactions) for several kinds of query, each as many different users. Prints a Markdown
//! table. Not a test: run it by hand, e.g.
//!
//! ```text
//! cargo run --release -p chatsync-bench --bin chatsync-search-bench -- --messages 1000000
//! ```

use anyhow::{Context, Result};
use chatsync_core::ids::{ConversationId, UserId};
use chatsync_core::ports::ChatStore;
use chatsync_core::ports::chat::{NewMessage, Profile, SearchQuery, search_terms};
use clap::Parser;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Message search latency over a seeded history")]
struct Args {
    /// Comma-separated: sqlite, postgres.
    #[arg(long, default_value = "sqlite,postgres")]
    stores: String,
    /// Messages to seed.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// People.
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// Group conversations (of `--group-size`); every person also has two direct ones.
    #[arg(long, default_value_t = 1_000)]
    groups: usize,
    /// Members per group.
    #[arg(long, default_value_t = 8)]
    group_size: usize,
    /// Queries timed per kind.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Seconds to wait between seeding and timing.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
    /// Print SQLite's query plan for the search first.
    #[arg(long)]
    explain: bool,
    /// Keep the SQLite file and the PostgreSQL database (both printed) for a closer look.
    #[arg(long)]
    keep: bool,
    /// PostgreSQL server where a fresh database is created (and dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg: String,
}

/// A small deterministic generator (xorshift64*), so every run seeds the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Roughly Zipf over `0..n`: small indices are far more likely.
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    }
}

/// Words of the seeded messages: a few common English words, then made-up ones (`kw17`).
fn vocabulary() -> Vec<String> {
    let common = [
        "hello", "meeting", "today", "tomorrow", "deploy", "release", "lunch", "thanks", "review",
        "please", "call", "later", "budget", "design", "ticket", "customer",
    ];
    common
        .iter()
        .map(|w| (*w).to_owned())
        .chain((0..20_000).map(|i| format!("kw{i}")))
        .collect()
}

struct World {
    users: Vec<UserId>,
    /// Every conversation with its members.
    conversations: Vec<(ConversationId, Vec<UserId>)>,
}

async fn seed(store: &Arc<dyn ChatStore>, a: &Args, rng: &mut Rng) -> Result<World> {
    let mut users = Vec::with_capacity(a.users);
    for i in 0..a.users {
        let id = UserId::new();
        store
            .upsert_profile(&Profile {
                id,
                display_name: format!("Person {i}"),
                avatar_url: None,
                updated_at: chrono::Utc::now(),
            })
            .await?;
        users.push(id);
    }
    let mut conversations: Vec<(ConversationId, Vec<UserId>)> = Vec::new();
    for i in 0..a.users {
        for step in [1, 7] {
            let (c, created) = store
                .direct_conversation(users[i], users[(i + step) % a.users])
                .await?;
            if created {
                conversations.push((c.id, c.members.iter().map(|m| m.user_id).collect()));
            }
        }
    }
    for g in 0..a.groups {
        let owner = users[rng.below(a.users)];
        let others: Vec<UserId> = (1..a.group_size)
            .map(|_| users[rng.below(a.users)])
            .collect();
        let c = store
            .create_group(owner, &format!("Group {g}"), &others)
            .await?;
        conversations.push((c.id, c.members.iter().map(|m| m.user_id).collect()));
    }
    let words = vocabulary();
    let started = Instant::now();
    let mut sent = 0;
    while sent < a.messages {
        let n = 1_000.min(a.messages - sent);
        let batch: Vec<NewMessage> = (0..n)
            .map(|_| {
                let (cid, members) = &conversations[rng.below(conversations.len())];
                let len = 4 + rng.below(16);
                let body = (0..len)
                    .map(|_| words[rng.zipf(words.len())].as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                NewMessage {
                    conversation_id: *cid,
                    sender_id: members[rng.below(members.len())],
                    client_id: uuid::Uuid::now_v7().to_string(),
                    body,
                    attachments: Vec::new(),
                    reply_to: None,
                    mentions: Vec::new(),
                }
            })
            .collect();
        store.append(&batch).await?;
        sent += n;
        if sent % 100_000 == 0 {
            eprintln!(
                "  seeded {sent} messages ({:.0}/s)",
                sent as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "  seeded {sent} messages in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(World {
        users,
        conversations,
    })
}

/// One kind of query: its name and how to make one for a random person.
type Kind = (
    &'static str,
    fn(&World, &mut Rng) -> (UserId, String, Option<ConversationId>),
);

fn kinds() -> Vec<Kind> {
    vec![
        ("common word (`deploy`)", |w, r| {
            (w.users[r.below(w.users.len())], "deploy".into(), None)
        }),
        ("rare word (`kw15000`)", |w, r| {
            (w.users[r.below(w.users.len())], "kw15000".into(), None)
        }),
        ("two words (`meeting tomorrow`)", |w, r| {
            (
                w.users[r.below(w.users.len())],
                "meeting tomorrow".into(),
                None,
            )
        }),
        ("prefix while typing (`kw12`)", |w, r| {
            (w.users[r.below(w.users.len())], "kw12".into(), None)
        }),
        ("no hit (`nothingmatches`)", |w, r| {
            (
                w.users[r.below(w.users.len())],
                "nothingmatches".into(),
                None,
            )
        }),
        ("one conversation, common word", |w, r| {
            let (c, members) = &w.conversations[r.below(w.conversations.len())];
            (members[0], "deploy".into(), Some(*c))
        }),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn measure(store: &Arc<dyn ChatStore>, world: &World, a: &Args, rng: &mut Rng) -> Result<()> {
    println!("| query | p50 ms | p95 ms | max ms | hits per page (mean) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, make) in kinds() {
        let mut times = Vec::with_capacity(a.queries);
        let mut hits = 0;
        for _ in 0..a.queries {
            let (user, text, conversation_id) = make(world, rng);
            let q = SearchQuery {
                terms: search_terms(&text),
                conversation_id,
                before: None,
                limit: 21, // what the API asks for a page of 20
            };
            let t = Instant::now();
            let found = store.search(user, &q).await?;
            times.push(t.elapsed());
            hits += found.len();
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().context("no queries")?),
            hits as f64 / a.queries as f64
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    for store_name in a.stores.split(',').map(str::trim) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        eprintln!("{store_name}: seeding {} messages", a.messages);
        let dir =
            std::env::temp_dir().join(format!("chatsync-search-bench-{}", uuid::Uuid::now_v7()));
        let (store, pg_db): (Arc<dyn ChatStore>, Option<String>) = match store_name {
            "sqlite" => {
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
                let s = chatsync_store_sqlite::SqliteStore::connect(&url).await?;
                s.migrate_chat().await?;
                (Arc::new(s), None)
            }
            "postgres" => {
                let name = format!("chatsync_search_bench_{}", std::process::id());
                admin(&a.pg, &format!("CREATE DATABASE {name}")).await?;
                let s = chatsync_store_postgres::PgStore::connect(&format!("{}/{name}", a.pg), 4)
                    .await?;
                s.migrate_chat().await?;
                (Arc::new(s), Some(name))
            }
            other => anyhow::bail!("unknown store {other}"),
        };
        let result = async {
            let world = seed(&store, &a, &mut rng).await?;
            // Let the store's background work after the seeding (SQLite's WAL checkpoints,
            // PostgreSQL's autovacuum and analyze) settle, as it would on a running server.
            tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;
            if let Some(name) = &pg_db {
                // Autovacuum analyzes a table after a tenth of it changed, on its own schedule;
                // a running server has statistics, so the plans are timed with them.
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&format!("{}/{name}", a.pg)).await?;
                sqlx::raw_sql("ANALYZE").execute(&mut c).await?;
            }
            println!(
                "\n{store_name}: {} messages, {} people, {} conversations, {} queries per kind\n",
                a.messages,
                world.users.len(),
                world.conversations.len(),
                a.queries
            );
            if store_name == "sqlite" && a.explain {
                explain_sqlite(&dir.join("bench.db"), &world).await?;
            }
            measure(&store, &world, &a, &mut rng).await
        }
        .await;
        drop(store);
        if let Some(name) =
            pg_db.filter(|n| a.keep.then(|| eprintln!("kept database {n}")).is_none())
        {
            admin(
                &a.pg,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await?;
        }
        if a.keep && dir.exists() {
            eprintln!("kept {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result?;
    }
    Ok(())
}

/// Runs one statement on the server's `postgres` database.
async fn admin(pg: &str, sql: &str) -> Result<()> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&format!("{pg}/postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await?;
    Ok(())
}

/// SQLite's plan for the store's search query (a copy of it: keep the two alike), as the
/// bundled SQLite makes it.
async fn explain_sqlite(file: &std::path::Path, world: &World) -> Result<()> {
    use sqlx::{Connection, Row};
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await?;
    let rows = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT msg.message_id, snippet(message_fts, 0, '<', '>', '…', 16)
         FROM message_fts
         CROSS JOIN message msg ON msg.rowid = message_fts.rowid
         CROSS JOIN member mb ON mb.conversation_id = msg.conversation_id AND mb.user_id = ?2
         WHERE message_fts MATCH ?1 AND msg.deleted_at IS NULL
           AND (?3 IS NULL OR msg.conversation_id = ?3)
           AND message_fts.rowid < COALESCE(
                 (SELECT rowid FROM message WHERE message_id = ?4), 9223372036854775807)
         ORDER BY message_fts.rowid DESC LIMIT 21",
    )
    .bind("\"deploy\"*")
    .bind(world.users[0].to_string())
    .bind(None::<String>)
    .bind(None::<String>)
    .fetch_all(&mut c)
    .await?;
    for r in rows {
        eprintln!("  plan: {}", r.try_get::<String, _>("detail")?);
    }
    Ok(())
}

//! Per-test resources on the machine's real servers.

use sqlx::Connection;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Admin URL of the test PostgreSQL server.
pub fn pg_admin_url() -> String {
    env_or(
        "CHATSYNC_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// A database of its own, dropped after the test.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin = pg_admin_url();
        let name = format!("chatsync_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside a runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Runs `rabbitmqctl` with `args`; panics with its output on failure.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl is required for RabbitMQ tests: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A RabbitMQ vhost of its own, deleted after the test.
pub struct RabbitVhost {
    pub name: String,
    pub url: String,
}

impl RabbitVhost {
    pub async fn create() -> Self {
        let name = format!("chatsync-test-{}", uuid::Uuid::new_v4().simple());
        let n = name.clone();
        tokio::task::spawn_blocking(move || {
            rabbitmqctl(&["add_vhost", &n]);
            rabbitmqctl(&["set_permissions", "-p", &n, "guest", ".*", ".*", ".*"]);
        })
        .await
        .unwrap();
        let base = std::env::var("CHATSYNC_TEST_RABBITMQ_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into());
        Self {
            url: format!("{}/{name}", base.trim_end_matches('/')),
            name,
        }
    }

    /// Closes every client connection to this vhost, as a broker restart would.
    pub fn drop_connections(&self) {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.name,
            "test: simulated broker restart",
        ]);
    }

    /// Messages ready in `queue`.
    pub fn queue_depth(&self, queue: &str) -> u64 {
        let out = rabbitmqctl(&[
            "list_queues",
            "-p",
            &self.name,
            "--quiet",
            "name",
            "messages",
        ]);
        out.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((it.next()?, it.next()?.parse::<u64>().ok()?))
            })
            .find(|(n, _)| *n == queue)
            .map_or(0, |(_, m)| m)
    }
}

impl Drop for RabbitVhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A Redis key prefix of its own; its keys are deleted after the test.
pub struct RedisPrefix {
    pub url: String,
    pub prefix: String,
}

impl RedisPrefix {
    pub fn new() -> Self {
        Self {
            url: std::env::var("CHATSYNC_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Default for RedisPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let _ = std::process::Command::new("redis-cli")
            .args([
                "-u",
                &self.url,
                "--scan",
                "--pattern",
                &format!("{}*", self.prefix),
            ])
            .output()
            .map(|out| {
                let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect();
                for chunk in keys.chunks(500) {
                    let mut args = vec!["-u".to_owned(), self.url.clone(), "DEL".to_owned()];
                    args.extend(chunk.iter().cloned());
                    let _ = std::process::Command::new("redis-cli").args(&args).output();
                }
            });
    }
}

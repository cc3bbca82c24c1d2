//! The servers under test: ChatSync (SQLite or PostgreSQL) and the Node.js Socket.IO peer in
//! `bench/peer-node` (in memory or PostgreSQL). Each starts fresh, pinned to the server core,
//! and is set up through its own API: the load that follows is the same for all of them.

use crate::pgpin::PgWatch;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What runs on the server core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    ChatSyncSqlite,
    ChatSyncPostgres,
    Node,
    NodePostgres,
}

impl Target {
    pub(crate) const ALL: [Target; 4] = [
        Target::ChatSyncSqlite,
        Target::ChatSyncPostgres,
        Target::Node,
        Target::NodePostgres,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::ChatSyncSqlite => "chatsync-sqlite",
            Target::ChatSyncPostgres => "chatsync-postgres",
            Target::Node => "node",
            Target::NodePostgres => "node-pg",
        }
    }

    /// A target by its name; `sqlite` and `postgres` are the names `bench/run.sh` used before
    /// the Node peer came.
    pub(crate) fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s.trim() {
            "chatsync-sqlite" | "sqlite" => Target::ChatSyncSqlite,
            "chatsync-postgres" | "chatsync-pg" | "postgres" => Target::ChatSyncPostgres,
            "node" => Target::Node,
            "node-pg" | "node-postgres" => Target::NodePostgres,
            other => {
                bail!("unknown target {other}: chatsync-sqlite, chatsync-postgres, node or node-pg")
            }
        })
    }

    pub(crate) fn uses_postgres(self) -> bool {
        matches!(self, Target::ChatSyncPostgres | Target::NodePostgres)
    }

    pub(crate) fn is_node(self) -> bool {
        matches!(self, Target::Node | Target::NodePostgres)
    }
}

/// Where the servers come from and where they run.
pub(crate) struct Launch {
    pub chatsync: PathBuf,
    pub node: String,
    pub peer_dir: PathBuf,
    pub pg: String,
    pub server_cpu: String,
    /// PostgreSQL connections each server gets.
    pub pg_connections: u32,
    /// `RUST_LOG` for ChatSync (its log goes to the bench's stderr).
    pub server_log: String,
}

pub(crate) struct Server {
    pub target: Target,
    child: Child,
    pub addr: SocketAddr,
    dir: Option<PathBuf>,
    /// The PostgreSQL server's URL and the database created for this run, dropped at the end.
    database: Option<(String, String)>,
    /// PostgreSQL's processes serving this run, pinned to the server core.
    pg: Option<PgWatch>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Before the database goes: its backends end with the server's connections.
        self.pg.take();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((pg, name)) = &self.database {
            let _ = Command::new("psql")
                .args([
                    &format!("{pg}/postgres"),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// User + system CPU time in a `/proc/<pid>/stat` line: fields 14 and 15, in clock ticks
/// (100 per second on Linux), counted after the command name, which is in parentheses and may
/// hold spaces. For a process (not a thread) it covers all its threads.
pub(crate) fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

impl Server {
    /// CPU time the server has used (user + system, every thread), in microseconds: with
    /// latency, the steadier figure for comparing builds.
    pub(crate) fn cpu_us(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|s| cpu_ticks(&s))
            .map_or(0, |ticks| ticks * 10_000)
    }

    /// CPU time of the PostgreSQL processes serving this run, in microseconds; `None` when
    /// the target has no PostgreSQL.
    pub(crate) fn database_cpu_us(&self) -> Option<u64> {
        self.pg.as_ref().map(PgWatch::cpu_us)
    }

    /// How many PostgreSQL processes are pinned to the server core now.
    pub(crate) fn pinned_postgres(&self) -> Option<usize> {
        self.pg.as_ref().map(PgWatch::pinned)
    }

    pub(crate) fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Whether the server process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn create_database(pg: &str) -> anyhow::Result<String> {
    let name = format!("chatsync_bench_{}", uuid::Uuid::new_v4().simple());
    let ok = Command::new("psql")
        .args([
            &format!("{pg}/postgres"),
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .status()
        .context("running psql")?
        .success();
    if !ok {
        bail!("could not create the benchmark database");
    }
    Ok(name)
}

/// How a ChatSync server's allocator gives freed memory back to the system.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purge {
    /// mimalloc's default, as deployed (after 10 ms): every figure but the idle-socket one.
    AsDeployed,
    /// At once (`MIMALLOC_PURGE_DELAY=0`), for the idle-socket figure only: the password
    /// hashes of set-up (19 MiB each) were otherwise sometimes still held when the baseline
    /// was taken, and the sockets then reused them, which made a socket look 9 KB cheaper in
    /// about half the runs. It costs CPU: at 2,000 msgs/s a tenth of the server's time went
    /// to page faults and `madvise` (issue 10, thirteenth pass), so the send-path figures are
    /// measured on a server of their own, as deployed.
    AtOnce,
}

pub(crate) async fn start(target: Target, launch: &Launch, purge: Purge) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &launch.server_cpu])
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        // The server's log (stdout) joins the bench's own messages on stderr; stdout is the
        // JSON result.
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit());
    let database = if target.uses_postgres() {
        Some((launch.pg.clone(), create_database(&launch.pg)?))
    } else {
        None
    };
    let mut dir = None;
    if target.is_node() {
        let script = launch.peer_dir.join("server.js");
        if !launch.peer_dir.join("node_modules").exists() {
            bail!(
                "{} has no node_modules: run `npm ci` there (bench/run.sh does)",
                launch.peer_dir.display()
            );
        }
        cmd.arg(&launch.node)
            .arg(script)
            .env("NODE_ENV", "production")
            .env("PG_POOL_MAX", launch.pg_connections.to_string());
        if let Some((pg, name)) = &database {
            cmd.env("DATABASE_URL", format!("{pg}/{name}"));
        }
    } else {
        let d =
            std::env::temp_dir().join(format!("chatsync-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d)?;
        cmd.arg(&launch.chatsync)
            .arg("serve")
            .env("DATA_DIR", &d)
            .env("RUST_LOG", &launch.server_log)
            .env("TOKIO_WORKER_THREADS", "1")
            .env("CHATSYNC__CHAT__SEND_PER_SEC", "1000000")
            .env("CHATSYNC__CHAT__SEND_BURST", "1000000")
            .env("CHATSYNC__CHAT__EVENTS_PER_SEC", "1000000")
            // The load is many messages per user and a hundred idle sockets per user.
            .env("CHATSYNC__CHAT__SEND_PER_ACCOUNT__LIMIT", "1000000000")
            .env("CHATSYNC__CHAT__MAX_SOCKETS_PER_ACCOUNT", "1000000")
            // The sockets scenario holds `--sockets` and a tenth more (at least 1,000) at once;
            // the default cap (10,000) refused the last thousand of the default 11,000. The
            // open-file limit bounds them instead.
            .env("CHATSYNC__HTTP__MAX_CONNECTIONS", "1000000")
            .env("CHATSYNC__AUTH__REGISTER_PER_IP__LIMIT", "1000000")
            .env("CHATSYNC__AUTH__VERIFY_PER_IP__LIMIT", "1000000")
            .env("CHATSYNC__AUTH__LOGIN_PER_IP__LIMIT", "1000000");
        if purge == Purge::AtOnce {
            cmd.env("MIMALLOC_PURGE_DELAY", "0");
        }
        if let Some((pg, name)) = &database {
            cmd.env("DATABASE_URL", format!("{pg}/{name}"));
            cmd.env(
                "CHATSYNC__DATABASE__MAX_CONNECTIONS",
                launch.pg_connections.to_string(),
            );
        }
        dir = Some(d);
    }
    let child = cmd.spawn().with_context(|| {
        format!(
            "starting {} (is it built with --release / installed?)",
            target.name()
        )
    })?;
    let pg = database
        .as_ref()
        .map(|(_, name)| PgWatch::start(name, &launch.server_cpu));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut server = Server {
        target,
        child,
        addr,
        dir,
        database,
        pg,
    };
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if !server.alive() {
            bail!("{} exited during start-up", target.name());
        }
        if http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{} did not start", target.name())
}

pub(crate) struct User {
    pub id: String,
    pub token: String,
}

pub(crate) async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {v}");
    }
    Ok(v)
}

/// A ChatSync account through the real API: register, read the code from the dev outbox,
/// verify.
async fn signup(http: &reqwest::Client, addr: SocketAddr, n: usize) -> anyhow::Result<User> {
    let email = format!(
        "bench{n}-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    post(http, format!("http://{addr}/api/auth/register"), None, json!({"email": email, "password": "benchmark-password", "display_name": format!("Bench {n}")})).await?;
    let code = loop {
        let v: Value = http
            .get(format!("http://{addr}/api/dev/outbox?email={email}"))
            .send()
            .await?
            .json()
            .await?;
        if let Some(c) = v["messages"][0]["code"].as_str() {
            break c.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let v = post(
        http,
        format!("http://{addr}/api/auth/verify"),
        None,
        json!({"email": email, "otp": code}),
    )
    .await?;
    Ok(User {
        id: v["user"]["id"].as_str().context("user id")?.to_owned(),
        token: v["access_token"].as_str().context("token")?.to_owned(),
    })
}

/// `n` users with access tokens. ChatSync's go through registration; the Node peer mints
/// them (it has no accounts: see bench/peer-node/README.md).
pub(crate) async fn users(server: &Server, n: usize) -> anyhow::Result<Vec<User>> {
    let http = reqwest::Client::new();
    let addr = server.addr;
    if server.target.is_node() {
        let v = post(
            &http,
            format!("http://{addr}/api/bench/users"),
            None,
            json!({"count": n}),
        )
        .await?;
        return v["users"]
            .as_array()
            .context("users")?
            .iter()
            .map(|u| {
                Ok(User {
                    id: u["id"].as_str().context("user id")?.to_owned(),
                    token: u["token"].as_str().context("token")?.to_owned(),
                })
            })
            .collect();
    }
    let mut users = Vec::with_capacity(n);
    // Password hashing is deliberately slow; a few at a time keeps the server responsive.
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let futs = chunk.iter().map(|i| signup(&http, addr, *i));
        for u in futures::future::join_all(futs).await {
            users.push(u?);
        }
    }
    Ok(users)
}

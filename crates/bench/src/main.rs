//! `chatsync-bench`: measures one chat node against SPEC §7 — memory per idle authenticated
//! socket and connect rate, one-to-one throughput with every message durable before its ack,
//! and group fan-out — and checks that nothing acknowledged is lost or delivered twice.
//!
//! It starts the server itself (pinned to `--server-cpu` with `taskset`), registers users
//! through the real API (dev outbox), and drives Socket.IO over WebSocket. Run it pinned to the
//! other core: `bench/run.sh` does both.

mod client;

use anyhow::{Context, bail};
use clap::Parser;
use client::Report;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(about = "ChatSync load generator")]
struct Args {
    /// The server binary (build it with --release).
    #[arg(long, default_value = "target/release/chatsync")]
    server: PathBuf,
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// PostgreSQL server where a fresh database is created (postgres only).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg: String,
    /// Comma-separated: sockets, direct, group.
    #[arg(long, default_value = "sockets,direct,group")]
    scenarios: String,
    /// Idle sockets to open in the sockets scenario.
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Connections the sockets scenario keeps in progress at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Pairs of users chatting one-to-one.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// One-to-one messages per second offered (open loop).
    #[arg(long, default_value_t = 15_000)]
    rate: u64,
    /// Group messages per second offered (each goes to every other member).
    #[arg(long, default_value_t = 600)]
    group_rate: u64,
    /// Members of the group.
    #[arg(long, default_value_t = 100)]
    group_size: usize,
    /// Seconds each throughput measurement lasts.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// CPU list the server is pinned to.
    #[arg(long, default_value = "0")]
    server_cpu: String,
}

struct Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    /// The PostgreSQL server's URL and the database created for this run, dropped at the end.
    database: Option<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((pg, name)) = &self.database {
            let _ = Command::new("psql")
                .args([
                    &format!("{pg}/postgres"),
                    "-qc",
                    &format!("DROP DATABASE {name}"),
                ])
                .status();
        }
    }
}

/// User + system CPU time in a `/proc/<pid>/stat` line: fields 14 and 15, in clock ticks
/// (100 per second on Linux), counted after the command name, which is in parentheses and may
/// hold spaces.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

impl Server {
    /// CPU time the server has used (user + system), in microseconds: with latency, the
    /// steadier figure for comparing builds.
    fn cpu_us(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|s| cpu_ticks(&s))
            .map_or(0, |ticks| ticks * 10_000)
    }

    /// CPU time of every PostgreSQL process on the machine, in microseconds (0 for SQLite):
    /// where the rest of a message's cost goes when the database is PostgreSQL.
    fn database_cpu_us(&self) -> u64 {
        if self.database.is_none() {
            return 0;
        }
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return 0;
        };
        procs
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|s| s.contains("(postgres)"))
            .filter_map(|s| cpu_ticks(&s))
            .sum::<u64>()
            * 10_000
    }

    fn rss_kib(&self) -> u64 {
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
}

async fn start_server(args: &Args) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir =
        std::env::temp_dir().join(format!("chatsync-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &args.server_cpu])
        .arg(&args.server)
        .arg("serve")
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", &dir)
        .env("RUST_LOG", "warn")
        .env("TOKIO_WORKER_THREADS", "1")
        .env("CHATSYNC__CHAT__SEND_PER_SEC", "1000000")
        .env("CHATSYNC__CHAT__SEND_BURST", "1000000")
        .env("CHATSYNC__CHAT__EVENTS_PER_SEC", "1000000")
        .env("CHATSYNC__AUTH__REGISTER_PER_IP__LIMIT", "1000000")
        .env("CHATSYNC__AUTH__VERIFY_PER_IP__LIMIT", "1000000")
        .env("CHATSYNC__AUTH__LOGIN_PER_IP__LIMIT", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut database = None;
    if args.db == "postgres" {
        let name = format!("chatsync_bench_{}", uuid::Uuid::new_v4().simple());
        let ok = Command::new("psql")
            .args([
                &format!("{}/postgres", args.pg),
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()?
            .success();
        if !ok {
            bail!("could not create the benchmark database");
        }
        cmd.env("DATABASE_URL", format!("{}/{name}", args.pg));
        cmd.env("CHATSYNC__DATABASE__MAX_CONNECTIONS", "20");
        database = Some((args.pg.clone(), name));
    }
    let child = cmd
        .spawn()
        .context("starting the server (is it built with --release?)")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let server = Server {
        child,
        addr,
        dir,
        database,
    };
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("server did not start")
}

struct User {
    id: String,
    token: String,
}

async fn post(
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

async fn signups(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<User>> {
    let http = reqwest::Client::new();
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

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Idle authenticated sockets: server memory per socket and connect rate.
async fn sockets(
    server: &Server,
    users: &[User],
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Value> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_kib();
    let started = Instant::now();
    let mut senders = Vec::with_capacity(n);
    let (tx, mut rx) = mpsc::channel(512);
    let addr = server.addr;
    let tokens: Vec<String> = users.iter().map(|u| u.token.clone()).collect();
    tokio::spawn(async move {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        for i in 0..n {
            let permit = sem.clone().acquire_owned().await;
            let token = tokens[i % tokens.len()].clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let r = client::connect(addr, &token, i, None).await;
                drop(permit);
                let _ = tx.send(r).await;
            });
        }
    });
    let mut failed = 0;
    for _ in 0..n {
        match rx.recv().await {
            Some(Ok(s)) => senders.push(s),
            _ => failed += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.rss_kib();
    let per_socket = (after.saturating_sub(before)) as f64 * 1024.0 / senders.len().max(1) as f64;
    for s in &senders {
        s.close();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(json!({
        "sockets": senders.len(),
        "failed": failed,
        "connect_per_sec": (senders.len() as f64 / elapsed).round(),
        "rss_before_mib": before as f64 / 1024.0,
        "rss_after_mib": after as f64 / 1024.0,
        "bytes_per_socket": per_socket.round(),
    }))
}

/// What a throughput run saw.
#[derive(Default)]
struct Tally {
    acked: u64,
    refused: u64,
    delivered: u64,
    duplicates: u64,
    latencies: Vec<u64>,
    /// (receiver socket, conversation, seq) seen, to find duplicates.
    seen: HashSet<(usize, String, i64)>,
    /// (conversation, seq) acknowledged to senders.
    acked_seqs: HashSet<(String, i64)>,
    /// Deliveries per (conversation, seq).
    deliveries: HashMap<(String, i64), u32>,
    /// The first refusal's error, if any.
    refusal: Option<String>,
}

/// Offers `rate` messages/s from `senders` (socket index, conversation) round-robin for
/// `duration`, then waits for stragglers.
async fn drive(
    senders: &[(client::Sender, String)],
    sender_conv: &[String],
    rate: u64,
    duration: Duration,
    rx: &mut mpsc::UnboundedReceiver<(usize, Report)>,
    expected_receivers: u32,
) -> Tally {
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Client ids never repeat within a run: a repeat would be answered as a duplicate.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let record = |tally: &mut Tally, (socket, r): (usize, Report)| match r {
        Report::Acked { seq } => {
            tally.acked += 1;
            tally.acked_seqs.insert((sender_conv[socket].clone(), seq));
        }
        Report::Refused(e) => {
            tally.refused += 1;
            tally.refusal.get_or_insert(e);
        }
        Report::Delivered {
            conversation,
            seq,
            latency_us,
        } => {
            if tally.seen.insert((socket, conversation.clone(), seq)) {
                tally.delivered += 1;
                tally.latencies.push(latency_us);
                *tally.deliveries.entry((conversation, seq)).or_default() += 1;
            } else {
                tally.duplicates += 1;
            }
        }
        Report::Closed => {}
    };
    while started.elapsed() < duration {
        tokio::select! {
            _ = tick.tick() => {
                let due = (rate as f64 * started.elapsed().as_secs_f64()) as u64;
                while sent < due {
                    let (s, conv) = &senders[(sent % senders.len() as u64) as usize];
                    s.send(conv, NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                    sent += 1;
                }
            }
            Some(r) = rx.recv() => record(&mut tally, r),
        }
    }
    let expected = sent * u64::from(expected_receivers);
    let deadline = Instant::now() + Duration::from_secs(15);
    while (tally.delivered < expected || tally.acked + tally.refused < sent)
        && Instant::now() < deadline
    {
        if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            record(&mut tally, r);
        }
    }
    tally
}

fn summarize(t: &mut Tally, offered: u64, duration: Duration, receivers: u32) -> Value {
    t.latencies.sort_unstable();
    let lost = t
        .acked_seqs
        .iter()
        .filter(|k| t.deliveries.get(*k).copied().unwrap_or(0) < receivers)
        .count();
    json!({
        "offered_per_sec": offered,
        "acked": t.acked,
        "refused": t.refused,
        "first_refusal": t.refusal,
        "delivered": t.delivered,
        "delivered_per_sec": (t.delivered as f64 / duration.as_secs_f64()).round(),
        "p50_ms": percentile(&t.latencies, 0.50),
        "p99_ms": percentile(&t.latencies, 0.99),
        "max_ms": percentile(&t.latencies, 1.0),
        "acked_but_not_delivered": lost,
        "duplicates": t.duplicates,
    })
}

async fn direct(server: &Server, users: &[User], args: &Args) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let addr = server.addr;
    let pairs = args.pairs.min(users.len() / 2);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut sender_conv = vec![String::new(); pairs * 2];
    for p in 0..pairs {
        let (a, b) = (&users[p], &users[pairs + p]);
        let c = post(
            &http,
            format!("http://{addr}/api/conversations"),
            Some(&a.token),
            json!({"kind": "direct", "user_id": b.id}),
        )
        .await?;
        let conv = c["id"].as_str().context("conversation id")?.to_owned();
        sender_conv[p] = conv.clone();
        senders.push((
            client::connect(addr, &a.token, p, Some(tx.clone())).await?,
            conv,
        ));
        receivers.push(client::connect(addr, &b.token, pairs + p, Some(tx.clone())).await?);
    }
    // Warm up (and discard), then measure.
    let _ = drive(
        &senders,
        &sender_conv,
        args.rate / 4,
        Duration::from_secs(2),
        &mut rx,
        1,
    )
    .await;
    let duration = Duration::from_secs(args.duration);
    let (cpu, db_cpu) = (server.cpu_us(), server.database_cpu_us());
    let mut tally = drive(&senders, &sender_conv, args.rate, duration, &mut rx, 1).await;
    let cpu = server.cpu_us().saturating_sub(cpu);
    let db_cpu = server.database_cpu_us().saturating_sub(db_cpu);
    for (s, _) in &senders {
        s.close();
    }
    for r in &receivers {
        r.close();
    }
    let mut v = summarize(&mut tally, args.rate, duration, 1);
    v["server_cpu_us_per_msg"] = json!((cpu as f64 / tally.acked.max(1) as f64).round());
    if server.database.is_some() {
        v["postgres_cpu_us_per_msg"] = json!((db_cpu as f64 / tally.acked.max(1) as f64).round());
    }
    Ok(v)
}

async fn group(server: &Server, users: &[User], args: &Args) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let addr = server.addr;
    let members = &users[..args.group_size.min(users.len())];
    let ids: Vec<&str> = members[1..].iter().map(|u| u.id.as_str()).collect();
    let g = post(
        &http,
        format!("http://{addr}/api/conversations"),
        Some(&members[0].token),
        json!({"kind": "group", "name": "bench", "member_ids": ids}),
    )
    .await?;
    let conv = g["id"].as_str().context("group id")?.to_owned();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut senders = Vec::new();
    for (i, u) in members.iter().enumerate() {
        senders.push((
            client::connect(addr, &u.token, i, Some(tx.clone())).await?,
            conv.clone(),
        ));
    }
    let sender_conv = vec![conv.clone(); members.len()];
    let receivers = u32::try_from(members.len() - 1).unwrap_or(0);
    let _ = drive(
        &senders,
        &sender_conv,
        args.group_rate / 4,
        Duration::from_secs(2),
        &mut rx,
        receivers,
    )
    .await;
    let duration = Duration::from_secs(args.duration);
    let cpu = server.cpu_us();
    let mut tally = drive(
        &senders,
        &sender_conv,
        args.group_rate,
        duration,
        &mut rx,
        receivers,
    )
    .await;
    let cpu = server.cpu_us().saturating_sub(cpu);
    for (s, _) in &senders {
        s.close();
    }
    let mut v = summarize(&mut tally, args.group_rate, duration, receivers);
    v["members"] = json!(members.len());
    v["deliveries_per_sec"] = v["delivered_per_sec"].clone();
    v["server_cpu_us_per_delivery"] = json!((cpu as f64 / tally.delivered.max(1) as f64).round());
    Ok(v)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scenarios: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let server = start_server(&args).await?;
    let needed = (args.pairs * 2).max(args.group_size).max(100);
    eprintln!("registering {needed} users…");
    let users = signups(server.addr, needed).await?;
    let mut out = json!({"db": args.db, "server_cpu": args.server_cpu});
    for s in scenarios {
        eprintln!("running {s}…");
        let v = match s {
            "sockets" => {
                let some = &users[..100.min(users.len())];
                sockets(&server, some, args.sockets, args.connect_concurrency).await?
            }
            "direct" => direct(&server, &users, &args).await?,
            "group" => group(&server, &users, &args).await?,
            other => bail!("unknown scenario {other}"),
        };
        out[s] = v;
    }
    out["server_rss_mib_at_end"] = json!(server.rss_kib() as f64 / 1024.0);
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cpu_ticks;

    #[test]
    fn cpu_ticks_are_user_plus_system_after_a_command_name_with_spaces() {
        let stat = "4242 (tokio rt) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }
}

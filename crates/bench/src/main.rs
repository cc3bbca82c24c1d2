//! `chatsync-bench`: measures one chat node against SPEC §7, side by side with a Node.js
//! Socket.IO 4.8 server doing the same work (`bench/peer-node`), with the same load and the
//! same procedure for every target:
//! - `sockets`: memory per idle authenticated socket and connect rate;
//! - `sweep`: the sustainable one-to-one rate, swept from below (see [`sweep`]);
//! - `cpu`: server (and PostgreSQL) CPU per delivered message at a fixed rate (2,000 msgs/s);
//! - `direct`: one fixed one-to-one rate; `group`: fan-out to a group;
//!
//! and checks that nothing acknowledged is lost, delivered twice or out of order.
//!
//! It starts each server itself (pinned to `--server-cpu` with `taskset`, and for PostgreSQL
//! targets PostgreSQL's processes serving the run too), sets users up through the server's
//! API, and drives Socket.IO over WebSocket. Run it pinned to the other core: `bench/run.sh`
//! does both, then plots the JSON it prints.

mod client;
mod pgpin;
mod report;
mod server;
mod sweep;

use anyhow::{Context, bail};
use clap::Parser;
use client::Report;
use serde_json::{Map, Value, json};
use server::{Launch, Purge, Server, Target, User, post};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(about = "ChatSync load generator, with a Node Socket.IO peer measured in the same run")]
struct Args {
    /// Comma-separated targets, run one after another: chatsync-sqlite, chatsync-postgres,
    /// node (Socket.IO in memory), node-pg (Socket.IO + PostgreSQL, one transaction per
    /// message).
    #[arg(long, default_value = "chatsync-sqlite,chatsync-postgres,node,node-pg")]
    targets: String,
    /// Comma-separated: sockets, sweep, cpu, direct, group.
    #[arg(long, default_value = "sockets,sweep,cpu,group")]
    scenarios: String,
    /// The ChatSync server binary (build it with --release).
    #[arg(long, default_value = "target/release/chatsync")]
    server: PathBuf,
    /// The Node.js binary that runs the peer.
    #[arg(long, default_value = "node")]
    node: String,
    /// The Node peer's directory (with its node_modules installed by `npm ci`).
    #[arg(long, default_value = "bench/peer-node")]
    peer_dir: PathBuf,
    /// PostgreSQL server where a fresh database is created per PostgreSQL target.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg: String,
    /// PostgreSQL connections each server may open.
    #[arg(long, default_value_t = 20)]
    pg_connections: u32,
    /// `RUST_LOG` for the ChatSync server, whose log goes to stderr.
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// CPU list the server (and PostgreSQL's processes serving it) is pinned to.
    #[arg(long, default_value = "0")]
    server_cpu: String,
    /// Idle sockets to open in the sockets scenario.
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Connections the sockets scenario keeps in progress at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Pairs of users chatting one-to-one.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// The sweep's first rate, msgs/s.
    #[arg(long, default_value_t = 1_000)]
    sweep_start: u64,
    /// When the first rate fails, the lowest rate the sweep goes down to, msgs/s.
    #[arg(long, default_value_t = 100)]
    sweep_floor: u64,
    /// The sweep multiplies the last passing rate by this until a rate fails.
    #[arg(long, default_value_t = 1.5)]
    sweep_factor: f64,
    /// The sweep bisects until the first failure is within this fraction of the last pass.
    #[arg(long, default_value_t = 0.05)]
    sweep_precision: f64,
    /// The highest rate the sweep offers (the load generator's ceiling).
    #[arg(long, default_value_t = 60_000)]
    sweep_max: u64,
    /// Seconds each sweep step measures, after its warm-up.
    #[arg(long, default_value_t = 5)]
    step_secs: u64,
    /// Seconds of warm-up at each sweep step's rate, not measured.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// The rate the cpu scenario measures at, msgs/s.
    #[arg(long, default_value_t = 2_000)]
    cpu_rate: u64,
    /// Seconds the cpu scenario measures (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    cpu_secs: u64,
    /// One-to-one messages per second offered by the direct scenario (open loop).
    #[arg(long, default_value_t = 15_000)]
    rate: u64,
    /// Group messages per second offered (each goes to every other member).
    #[arg(long, default_value_t = 600)]
    group_rate: u64,
    /// Members of the group.
    #[arg(long, default_value_t = 100)]
    group_size: usize,
    /// Seconds the direct and group measurements last.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// What was measured (for example the commit), kept in the JSON and shown on the plot.
    #[arg(long, default_value = "")]
    label: String,
    /// Free text kept in the JSON and shown on the plot (for example "functional check").
    #[arg(long, default_value = "")]
    note: String,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// The server's RSS once it has stopped falling, and how many seconds that took (at most
/// 30): after set-up (ChatSync hashes passwords with 19 MiB each) the allocator hands memory
/// back for a while, which would otherwise be subtracted from what the sockets cost. Stable
/// means three samples 500 ms apart within 512 KiB of each other.
async fn settled_rss(server: &Server) -> (u64, f64) {
    let started = Instant::now();
    let mut samples = vec![server.rss_kib()];
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        samples.push(server.rss_kib());
        if let [.., a, b, c] = samples[..]
            && a.max(b).max(c) - a.min(b).min(c) < 512
        {
            break;
        }
    }
    (
        samples.last().copied().unwrap_or(0),
        started.elapsed().as_secs_f64(),
    )
}

/// Opens `n` idle authenticated sockets, `concurrency` at a time; returns them and how many
/// failed.
async fn open_sockets(
    server: &Server,
    tokens: &[String],
    n: usize,
    concurrency: usize,
) -> (Vec<client::Sender>, usize) {
    let (tx, mut rx) = mpsc::channel(512);
    let addr = server.addr;
    let tokens = tokens.to_vec();
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
    let (mut open, mut failed) = (Vec::with_capacity(n), 0);
    for _ in 0..n {
        match rx.recv().await {
            Some(Ok(s)) => open.push(s),
            Some(Err(e)) => {
                if failed == 0 {
                    eprintln!("a socket failed to connect: {e:#}");
                }
                failed += 1;
            }
            None => failed += 1,
        }
    }
    (open, failed)
}

/// Idle authenticated sockets: server memory per socket and connect rate.
///
/// A first batch (a tenth of `n`, at least 1,000, kept open) comes before the baseline: allocators keep memory
/// freed during set-up (ChatSync's password hashes: 19 MiB each) until later allocations make
/// them purge it, which would otherwise be subtracted from what the measured sockets cost.
async fn sockets(
    server: &Server,
    users: &[User],
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Value> {
    let tokens: Vec<String> = users.iter().map(|u| u.token.clone()).collect();
    let (first, _) = open_sockets(server, &tokens, (n / 10).max(1_000), concurrency).await;
    let (before, settle_secs) = settled_rss(server).await;
    let started = Instant::now();
    let (senders, failed) = open_sockets(server, &tokens, n, concurrency).await;
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.rss_kib();
    let per_socket = (after.saturating_sub(before)) as f64 * 1024.0 / senders.len().max(1) as f64;
    for s in senders.iter().chain(&first) {
        s.close();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(json!({
        "sockets": senders.len(),
        "opened_before_the_baseline": first.len(),
        "failed": failed,
        "connect_per_sec": (senders.len() as f64 / elapsed).round(),
        "rss_before_mib": before as f64 / 1024.0,
        "rss_settle_secs": (settle_secs * 10.0).round() / 10.0,
        "rss_after_mib": after as f64 / 1024.0,
        "bytes_per_socket": per_socket.round(),
    }))
}

/// Connected sockets that send, and where what they see is reported.
struct Load {
    /// The sending sockets and the conversation each sends to, used round-robin.
    senders: Vec<(client::Sender, String)>,
    /// Sockets that only receive (kept open).
    receivers: Vec<client::Sender>,
    /// Socket number → index of the conversation it sends to (or receives from).
    socket_conv: Vec<u32>,
    /// Conversation id → index.
    conv_index: HashMap<String, u32>,
    /// Sockets each message is delivered to.
    receivers_per_msg: u32,
    rx: mpsc::UnboundedReceiver<(usize, Report)>,
    /// The body tag of the current measurement; reports of other generations are stragglers.
    generation: u32,
    /// What reconnecting a socket needs: the server, each socket's token, the report channel.
    addr: std::net::SocketAddr,
    tokens: Vec<String>,
    tx: mpsc::UnboundedSender<(usize, Report)>,
    /// Sockets whose connection ended, to reconnect before the next measurement.
    dead: Vec<usize>,
}

impl Load {
    /// Reconnects the sockets whose connection ended (a server may drop sockets when
    /// overloaded): a step that loses sockets fails, and the next starts whole again. Returns
    /// how many were reconnected.
    async fn heal(&mut self) -> anyhow::Result<usize> {
        let dead: HashSet<usize> = self.dead.drain(..).collect();
        for &id in &dead {
            let s = client::connect(self.addr, &self.tokens[id], id, Some(self.tx.clone()))
                .await
                .with_context(|| format!("reconnecting socket {id}"))?;
            match self.senders.get_mut(id) {
                Some((old, _)) => *old = s,
                None => self.receivers[id - self.senders.len()] = s,
            }
        }
        Ok(dead.len())
    }

    fn close(&self) {
        for (s, _) in &self.senders {
            s.close();
        }
        for r in &self.receivers {
            r.close();
        }
    }
}

/// One-to-one: `pairs` direct conversations, the first user of each pair sends, the second
/// receives.
async fn pairs(server: &Server, users: &[User], pairs: usize) -> anyhow::Result<Load> {
    let http = reqwest::Client::new();
    let addr = server.addr;
    let pairs = pairs.min(users.len() / 2);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut load = Load {
        senders: Vec::new(),
        receivers: Vec::new(),
        socket_conv: vec![0; pairs * 2],
        conv_index: HashMap::new(),
        receivers_per_msg: 1,
        rx,
        generation: 0,
        addr,
        tokens: users[..pairs * 2].iter().map(|u| u.token.clone()).collect(),
        tx: tx.clone(),
        dead: Vec::new(),
    };
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
        let index = u32::try_from(p)?;
        load.conv_index.insert(conv.clone(), index);
        load.socket_conv[p] = index;
        load.socket_conv[pairs + p] = index;
        load.senders.push((
            client::connect(addr, &a.token, p, Some(tx.clone())).await?,
            conv,
        ));
        load.receivers
            .push(client::connect(addr, &b.token, pairs + p, Some(tx.clone())).await?);
    }
    Ok(load)
}

/// A group of `size` members where every member sends.
async fn group_load(server: &Server, users: &[User], size: usize) -> anyhow::Result<Load> {
    let http = reqwest::Client::new();
    let addr = server.addr;
    let members = &users[..size.min(users.len())];
    let ids: Vec<&str> = members[1..].iter().map(|u| u.id.as_str()).collect();
    let g = post(
        &http,
        format!("http://{addr}/api/conversations"),
        Some(&members[0].token),
        json!({"kind": "group", "name": "bench", "member_ids": ids}),
    )
    .await?;
    let conv = g["id"].as_str().context("group id")?.to_owned();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut senders = Vec::new();
    for (i, u) in members.iter().enumerate() {
        senders.push((
            client::connect(addr, &u.token, i, Some(tx.clone())).await?,
            conv.clone(),
        ));
    }
    Ok(Load {
        senders,
        receivers: Vec::new(),
        socket_conv: vec![0; members.len()],
        conv_index: HashMap::from([(conv, 0)]),
        receivers_per_msg: u32::try_from(members.len() - 1).unwrap_or(0),
        rx,
        generation: 0,
        addr,
        tokens: members.iter().map(|u| u.token.clone()).collect(),
        tx,
        dead: Vec::new(),
    })
}

/// What a measurement saw.
#[derive(Default)]
struct Tally {
    due: u64,
    sent: u64,
    acked: u64,
    refused: u64,
    delivered: u64,
    duplicates: u64,
    out_of_order: u64,
    /// Deliveries at or over the p99 limit.
    slow: u64,
    /// Reports of another generation (stragglers of an earlier measurement), ignored.
    stale: u64,
    /// Sockets whose connection ended during the measurement, and the first one's reason.
    closed: Vec<usize>,
    close_reason: Option<String>,
    aborted: bool,
    latencies: Vec<u64>,
    /// (receiver socket, conversation, seq) seen, to find duplicates.
    seen: HashSet<(usize, u32, i64)>,
    /// The newest seq each receiver socket saw per conversation, to find reordering.
    last_seq: HashMap<(usize, u32), i64>,
    /// (conversation, seq) acknowledged to senders.
    acked_seqs: HashSet<(u32, i64)>,
    /// Deliveries per (conversation, seq).
    deliveries: HashMap<(u32, i64), u32>,
    /// The first refusal's error, if any.
    refusal: Option<String>,
}

impl Tally {
    fn record(&mut self, load: &Load, (socket, r): (usize, Report)) {
        match r {
            Report::Acked { generation, seq } => {
                if generation != load.generation {
                    self.stale += 1;
                    return;
                }
                self.acked += 1;
                self.acked_seqs.insert((load.socket_conv[socket], seq));
            }
            Report::Refused(e) => {
                self.refused += 1;
                self.refusal.get_or_insert(e);
            }
            Report::Delivered {
                generation,
                conversation,
                seq,
                latency_us,
            } => {
                if generation != load.generation {
                    self.stale += 1;
                    return;
                }
                let Some(&conv) = load.conv_index.get(&conversation) else {
                    self.stale += 1;
                    return;
                };
                if !self.seen.insert((socket, conv, seq)) {
                    self.duplicates += 1;
                    return;
                }
                self.delivered += 1;
                self.latencies.push(latency_us);
                if latency_us >= sweep::P99_LIMIT_US {
                    self.slow += 1;
                }
                *self.deliveries.entry((conv, seq)).or_default() += 1;
                let last = self.last_seq.entry((socket, conv)).or_insert(seq);
                if seq < *last {
                    self.out_of_order += 1;
                }
                *last = (*last).max(seq);
            }
            Report::Closed(why) => {
                self.closed.push(socket);
                self.close_reason.get_or_insert(why);
            }
        }
    }

    fn lost(&self, receivers: u32) -> u64 {
        self.acked_seqs
            .iter()
            .filter(|k| self.deliveries.get(*k).copied().unwrap_or(0) < receivers)
            .count() as u64
    }

    /// The step's figures for [`sweep::verdict`]; `latencies` must be sorted.
    fn counts(&self, receivers: u32) -> sweep::Counts {
        sweep::Counts {
            due: self.due,
            sent: self.sent,
            acked: self.acked,
            refused: self.refused,
            closed: self.closed.len() as u64,
            delivered: self.delivered,
            expected: self.sent * u64::from(receivers),
            lost: self.lost(receivers),
            duplicates: self.duplicates,
            out_of_order: self.out_of_order,
            p99_ms: percentile(&self.latencies, 0.99),
            aborted: self.aborted,
        }
    }
}

/// How a run of load ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Load only: nothing is waited for at the end, the measurement follows at once.
    WarmUp,
    /// Measured: waits for every ack and delivery (up to 15 s) at the end.
    Measure,
    /// Measured, and stops offering load as soon as the p99 cannot pass any more.
    MeasureUntilDoomed,
}

/// Client ids never repeat within a process: a repeat would be answered as a duplicate.
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Offers `rate` messages/s from the load's senders round-robin for `duration` (open loop:
/// the schedule does not wait for acks), under a new generation.
async fn drive(load: &mut Load, rate: u64, duration: Duration, phase: Phase) -> Tally {
    load.generation += 1;
    let receivers = load.receivers_per_msg;
    let planned = (rate as f64 * duration.as_secs_f64()) as u64;
    let mut tally = Tally {
        due: planned,
        latencies: Vec::with_capacity(usize::try_from(planned).unwrap_or(0)),
        ..Tally::default()
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    'offer: while started.elapsed() < duration {
        tokio::select! {
            _ = tick.tick() => {
                let due = ((rate as f64 * started.elapsed().as_secs_f64()) as u64).min(planned);
                while tally.sent < due {
                    let (s, conv) = &load.senders[(tally.sent % load.senders.len() as u64) as usize];
                    s.send(conv, NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed), load.generation);
                    tally.sent += 1;
                }
            }
            Some(r) = load.rx.recv() => {
                tally.record(load, r);
                if phase == Phase::MeasureUntilDoomed
                    && sweep::doomed(tally.slow, planned * u64::from(receivers))
                {
                    tally.aborted = true;
                    break 'offer;
                }
            }
        }
    }
    if phase == Phase::WarmUp {
        load.dead.extend(&tally.closed);
        return tally;
    }
    let expected = tally.sent * u64::from(receivers);
    let deadline = Instant::now() + Duration::from_secs(15);
    while (tally.delivered < expected || tally.acked + tally.refused < tally.sent)
        && Instant::now() < deadline
    {
        if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(500), load.rx.recv()).await
        {
            tally.record(load, r);
        }
    }
    load.dead.extend(&tally.closed);
    tally
}

/// One measured rate: load, latency, faults and CPU, as JSON.
async fn measure(
    server: &Server,
    load: &mut Load,
    rate: u64,
    warmup: Duration,
    duration: Duration,
    phase: Phase,
) -> anyhow::Result<(Value, sweep::Counts)> {
    let reconnected = load.heal().await?;
    if !warmup.is_zero() {
        let _ = drive(load, rate, warmup, Phase::WarmUp).await;
    }
    let (cpu, db_cpu, at) = (server.cpu_us(), server.database_cpu_us(), Instant::now());
    let mut t = drive(load, rate, duration, phase).await;
    let wall_us = at.elapsed().as_micros() as f64;
    let cpu = server.cpu_us().saturating_sub(cpu) as f64;
    let db_cpu = server
        .database_cpu_us()
        .zip(db_cpu)
        .map(|(b, a)| b.saturating_sub(a) as f64);
    let receivers = load.receivers_per_msg;
    t.latencies.sort_unstable();
    let counts = t.counts(receivers);
    let messages = t.delivered as f64 / f64::from(receivers.max(1));
    // Nothing delivered: no per-message figure (rather than all the CPU on one message).
    let per_msg = |us: f64| (messages >= 1.0).then(|| (us / messages).round());
    let verdict = sweep::verdict(&counts);
    let mut v = json!({
        "rate": rate,
        "pass": verdict.is_ok(),
        "reason": verdict.err(),
        "seconds": duration.as_secs_f64(),
        "sent": t.sent,
        "acked": t.acked,
        "refused": t.refused,
        "first_refusal": t.refusal,
        "delivered": t.delivered,
        "delivered_per_sec": (t.delivered as f64 / duration.as_secs_f64()).round(),
        "p50_ms": percentile(&t.latencies, 0.50),
        "p99_ms": percentile(&t.latencies, 0.99),
        "max_ms": percentile(&t.latencies, 1.0),
        "acked_but_not_delivered": counts.lost,
        "duplicates": t.duplicates,
        "out_of_order": t.out_of_order,
        "stragglers_ignored": t.stale,
        "sockets_closed": t.closed.len(),
        "first_close": t.close_reason,
        "sockets_reconnected_before": reconnected,
        "server_cpu_us_per_msg": per_msg(cpu),
        "server_core_busy": ((cpu / wall_us) * 100.0).round() / 100.0,
    });
    if let Some(db) = db_cpu {
        v["postgres_cpu_us_per_msg"] = json!(per_msg(db));
    }
    if receivers > 1 {
        v["server_cpu_us_per_delivery"] = json!((cpu / t.delivered.max(1) as f64).round());
    }
    Ok((v, counts))
}

fn brief(v: &Value) -> String {
    format!(
        "{:>6} msgs/s: {} p50 {:>6.1} ms, p99 {:>7.1} ms, {:>4} µs/msg{}{}",
        v["rate"],
        if v["pass"].as_bool() == Some(true) {
            "pass"
        } else {
            "FAIL"
        },
        v["p50_ms"].as_f64().unwrap_or(0.0),
        v["p99_ms"].as_f64().unwrap_or(0.0),
        v["server_cpu_us_per_msg"],
        v.get("postgres_cpu_us_per_msg")
            .map(|p| format!(" + PostgreSQL {p} µs"))
            .unwrap_or_default(),
        v["reason"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
    )
}

/// SPEC §7's sustainable rate: sweeps from `--sweep-start` upward and bisects the first
/// failure; below the start (down to `--sweep-floor`) only when the start itself fails, for
/// the rate reported apart as `rate_below_start` (see [`sweep::Sweep`]).
async fn run_sweep(server: &Server, load: &mut Load, args: &Args) -> anyhow::Result<Value> {
    let plan = sweep::Plan {
        start: args.sweep_start,
        floor: args.sweep_floor,
        factor: args.sweep_factor,
        precision: args.sweep_precision,
        max: args.sweep_max,
    };
    let mut s = sweep::Sweep::new(plan);
    let mut points = Vec::new();
    while let Some(rate) = s.next_rate() {
        let (v, counts) = measure(
            server,
            load,
            rate,
            Duration::from_secs(args.warmup_secs),
            Duration::from_secs(args.step_secs),
            Phase::MeasureUntilDoomed,
        )
        .await?;
        eprintln!("  {}", brief(&v));
        s.record(rate, sweep::verdict(&counts).is_ok());
        points.push(v);
        // A moment for whatever the server still has queued before the next rate.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(json!({
        "sustainable_rate": s.sustainable(),
        "first_failing_rate": s.first_failure(),
        "rate_below_start": s.below_start(),
        "stopped_at_ceiling": s.capped(),
        "plan": {"start": plan.start, "floor": plan.floor, "factor": plan.factor, "precision": plan.precision,
                 "max": plan.max, "warmup_secs": args.warmup_secs, "step_secs": args.step_secs,
                 "p99_limit_ms": sweep::P99_LIMIT_MS},
        "points": points,
    }))
}

/// Everything measured on one target: the idle sockets on a fresh server of their own, the
/// rest on another, started as deployed.
async fn run_target(target: Target, args: &Args, launch: &Launch) -> anyhow::Result<Value> {
    let scenarios: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let mut out = json!({"target": target.name(), "server_cpu": args.server_cpu});
    if scenarios.contains(&"sockets") {
        // On a server of its own, whose allocator gives memory back at once (see `Purge`).
        let server = server::start(target, launch, Purge::AtOnce).await?;
        eprintln!("[{}] setting up 100 users…", target.name());
        let users = server::users(&server, 100).await?;
        eprintln!("[{}] sockets…", target.name());
        out["sockets"] = sockets(&server, &users, args.sockets, args.connect_concurrency).await?;
        out["server_rss_mib_at_end"] = json!(server.rss_kib() as f64 / 1024.0);
    }
    let scenarios: Vec<&str> = scenarios.into_iter().filter(|s| *s != "sockets").collect();
    if scenarios.is_empty() {
        return Ok(out);
    }
    let server = server::start(target, launch, Purge::AsDeployed).await?;
    let needed = (args.pairs * 2).max(args.group_size).max(100);
    eprintln!("[{}] setting up {needed} users…", target.name());
    let users = server::users(&server, needed).await?;
    let mut one_to_one: Option<Load> = None;
    for s in &scenarios {
        eprintln!("[{}] {s}…", target.name());
        let v = match *s {
            "sweep" | "cpu" | "direct" => {
                let load = match &mut one_to_one {
                    Some(l) => l,
                    None => one_to_one.insert(pairs(&server, &users, args.pairs).await?),
                };
                match *s {
                    "sweep" => run_sweep(&server, load, args).await?,
                    "cpu" => {
                        let (v, _) = measure(
                            &server,
                            load,
                            args.cpu_rate,
                            Duration::from_secs(2),
                            Duration::from_secs(args.cpu_secs),
                            Phase::Measure,
                        )
                        .await?;
                        eprintln!("  {}", brief(&v));
                        v
                    }
                    _ => {
                        let _ = drive(load, args.rate / 4, Duration::from_secs(2), Phase::Measure)
                            .await;
                        let (v, _) = measure(
                            &server,
                            load,
                            args.rate,
                            Duration::ZERO,
                            Duration::from_secs(args.duration),
                            Phase::Measure,
                        )
                        .await?;
                        eprintln!("  {}", brief(&v));
                        v
                    }
                }
            }
            "group" => {
                let mut load = group_load(&server, &users, args.group_size).await?;
                let _ = drive(
                    &mut load,
                    args.group_rate / 4,
                    Duration::from_secs(2),
                    Phase::Measure,
                )
                .await;
                let (mut v, _) = measure(
                    &server,
                    &mut load,
                    args.group_rate,
                    Duration::ZERO,
                    Duration::from_secs(args.duration),
                    Phase::Measure,
                )
                .await?;
                load.close();
                v["members"] = json!(args.group_size.min(users.len()));
                v["deliveries_per_sec"] = v["delivered_per_sec"].clone();
                eprintln!(
                    "  {} deliveries/s, p99 {} ms",
                    v["deliveries_per_sec"], v["p99_ms"]
                );
                v
            }
            other => bail!("unknown scenario {other}"),
        };
        out[*s] = v;
    }
    if let Some(l) = &one_to_one {
        l.close();
    }
    if let Some(n) = server.pinned_postgres() {
        out["postgres_processes_pinned"] = json!(n);
    }
    out["server_rss_mib_at_end"] = json!(server.rss_kib() as f64 / 1024.0);
    Ok(out)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let targets = args
        .targets
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(Target::parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let launch = Launch {
        chatsync: args.server.clone(),
        node: args.node.clone(),
        peer_dir: args.peer_dir.clone(),
        pg: args.pg.clone(),
        server_cpu: args.server_cpu.clone(),
        pg_connections: args.pg_connections,
        server_log: args.server_log.clone(),
    };
    let started = Instant::now();
    let mut results = Map::new();
    for t in targets {
        let at = Instant::now();
        let mut v = run_target(t, &args, &launch)
            .await
            .with_context(|| format!("target {}", t.name()))?;
        v["seconds"] = json!(at.elapsed().as_secs());
        results.insert(t.name().to_owned(), v);
    }
    let (summary, table) = report::summary(&results);
    eprintln!("\n{table}");
    let out = json!({
        "label": args.label,
        "note": args.note,
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        "seconds": started.elapsed().as_secs(),
        "settings": {
            "server_cpu": args.server_cpu, "pairs": args.pairs, "body_bytes": 64,
            "cpu_rate": args.cpu_rate, "cpu_secs": args.cpu_secs,
            "sockets": args.sockets, "group_size": args.group_size,
            "group_rate": args.group_rate, "pg_connections": args.pg_connections,
        },
        "summary": summary,
        "summary_markdown": table,
        "targets": results,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // On Ctrl-C or SIGTERM the run is dropped, which stops its server, gives PostgreSQL's
    // processes their affinity back and drops the run's database.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = run(args) => r,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        _ = term.recv() => bail!("terminated"),
    }
}

#[cfg(test)]
mod tests {
    use super::server::cpu_ticks;

    #[test]
    fn cpu_ticks_are_user_plus_system_after_a_command_name_with_spaces() {
        let stat = "4242 (tokio rt) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }
}

//! PostgreSQL on the server's core, and its CPU time, for the PostgreSQL targets.
//!
//! SPEC §7 pins PostgreSQL to the server's core for both PostgreSQL targets (ChatSync and the
//! Node + PostgreSQL peer), so each side of the comparison has one core for all its work. The
//! cluster here is shared (a Debian `15/main` that other people's tests use), so only what
//! serves the run is pinned: the backends connected to the run's own database (PostgreSQL
//! puts the database name in each backend's process title) and the cluster's WAL writer,
//! checkpointer and background writer, which do the run's writes. A watcher thread re-scans
//! `/proc` every 100 ms, so backends a connection pool opens mid-run are pinned too. Every
//! process's own affinity is recorded first and given back when the watch ends (drop), so the
//! cluster is left as it was; a process is only touched again if it is still the same one
//! (same start time).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Titles of the cluster-wide processes that do a run's writes.
const SHARED: [&str; 3] = [": walwriter", ": checkpointer", ": background writer"];

/// One process the watch pinned.
struct Pinned {
    /// Field 22 of `/proc/<pid>/stat`: tells a process from a later one with the same pid.
    start_time: u64,
    /// Its `Cpus_allowed_list` before the watch pinned it.
    original: String,
    /// CPU time when first seen and when last seen, microseconds.
    first_cpu_us: u64,
    last_cpu_us: u64,
}

#[derive(Default)]
struct State {
    pinned: HashMap<u32, Pinned>,
}

/// Keeps a database's PostgreSQL processes on `cpus` until dropped.
pub(crate) struct PgWatch {
    database: String,
    cpus: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What `/proc` says of one process.
struct Proc {
    pid: u32,
    title: String,
    start_time: u64,
    cpu_us: u64,
}

/// Start time (field 22) and user + system CPU (fields 14 + 15, in 10 ms ticks) from a
/// `/proc/<pid>/stat` line.
pub(crate) fn stat_fields(stat: &str) -> Option<(u64, u64)> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let start = f.get(19)?.parse::<u64>().ok()?;
    Some((start, ticks * 10_000))
}

/// True for a PostgreSQL process that serves a run on `database`: one of its backends, or a
/// shared writer process. The title is the process's argv, which PostgreSQL rewrites to
/// `postgres: 15/main: <user> <database> <client> <state>`.
pub(crate) fn serves(title: &str, database: &str) -> bool {
    let Some(rest) = title.strip_prefix("postgres: ") else {
        return false;
    };
    SHARED.iter().any(|s| rest.contains(s)) || rest.split_whitespace().any(|w| w == database)
}

fn postgres_processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        if comm.trim_end() != "postgres" {
            return None;
        }
        let title = std::fs::read(e.path().join("cmdline")).ok()?;
        let title = String::from_utf8_lossy(&title)
            .replace('\0', " ")
            .trim()
            .to_owned();
        let (start_time, cpu_us) =
            stat_fields(&std::fs::read_to_string(e.path().join("stat")).ok()?)?;
        Some(Proc {
            pid,
            title,
            start_time,
            cpu_us,
        })
    })
    .collect()
}

fn allowed_cpus(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_owned())
}

fn set_affinity(pid: u32, cpus: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One pass: pins what is new, refreshes CPU times.
fn scan(state: &Mutex<State>, database: &str, cpus: &str) {
    let procs = postgres_processes();
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    for p in procs {
        if !serves(&p.title, database) {
            continue;
        }
        match st.pinned.get_mut(&p.pid) {
            Some(known) if known.start_time == p.start_time => known.last_cpu_us = p.cpu_us,
            _ => {
                let Some(original) = allowed_cpus(p.pid) else {
                    continue;
                };
                if set_affinity(p.pid, cpus) {
                    st.pinned.insert(
                        p.pid,
                        Pinned {
                            start_time: p.start_time,
                            original,
                            first_cpu_us: p.cpu_us,
                            last_cpu_us: p.cpu_us,
                        },
                    );
                }
            }
        }
    }
}

impl PgWatch {
    /// Pins what serves `database` to `cpus` now and keeps doing so until dropped.
    pub(crate) fn start(database: &str, cpus: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        scan(&state, database, cpus);
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            let (database, cpus) = (database.to_owned(), cpus.to_owned());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    scan(&state, &database, &cpus);
                }
            })
        };
        Self {
            database: database.to_owned(),
            cpus: cpus.to_owned(),
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// CPU time the pinned processes used since the watch first saw each of them,
    /// microseconds. A backend is seen within 100 ms of its start; one that exits keeps the
    /// time it had at the last scan.
    pub(crate) fn cpu_us(&self) -> u64 {
        scan(&self.state, &self.database, &self.cpus);
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.pinned
            .values()
            .map(|p| p.last_cpu_us.saturating_sub(p.first_cpu_us))
            .sum()
    }

    /// How many processes are pinned now (backends and shared writers).
    pub(crate) fn pinned(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pinned
            .len()
    }
}

impl Drop for PgWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut restored = 0;
        for (pid, p) in &st.pinned {
            let same = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| stat_fields(&s))
                .is_some_and(|(start, _)| start == p.start_time);
            if same && set_affinity(*pid, &p.original) {
                restored += 1;
            }
        }
        eprintln!(
            "PostgreSQL: gave {restored} process(es) that are still running their own CPU affinity back"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_of_the_run_database_and_the_shared_writers_serve_the_run() {
        let db = "chatsync_bench_0a1b";
        assert!(serves(
            "postgres: 15/main: postgres chatsync_bench_0a1b 127.0.0.1(51234) idle",
            db
        ));
        assert!(serves("postgres: 15/main: walwriter", db));
        assert!(serves("postgres: 15/main: checkpointer", db));
        assert!(serves("postgres: 15/main: background writer", db));
    }

    #[test]
    fn other_databases_and_the_postmaster_are_left_alone() {
        let db = "chatsync_bench_0a1b";
        assert!(!serves(
            "postgres: 15/main: postgres test_77 127.0.0.1(51234) idle",
            db
        ));
        assert!(!serves(
            "postgres: 15/main: postgres chatsync_bench_0a1b_other 127.0.0.1(1) idle",
            db
        ));
        assert!(!serves(
            "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main",
            db
        ));
        assert!(!serves(
            "postgres: 15/main: logical replication launcher",
            db
        ));
    }

    #[test]
    fn stat_fields_are_start_time_and_cpu_after_a_command_name_with_spaces() {
        let stat = "77 (postgres: x) S 1 77 77 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 9876 0";
        assert_eq!(stat_fields(stat), Some((9876, 3_250_000)));
        assert_eq!(stat_fields("77 (x) S 1"), None);
    }
}

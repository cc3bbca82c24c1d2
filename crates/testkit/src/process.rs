//! The real `chatsync` binary as a child process, for split-mode and fault tests.

use crate::TempDir;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free local port (bound and released; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `chatsync` process. Killed on drop unless stopped.
pub struct Process {
    pub port: u16,
    child: Child,
    log: std::path::PathBuf,
    _dir: Option<TempDir>,
}

impl Process {
    /// Starts `bin serve <args>` with `env` on a free port and waits until `/healthz` answers.
    pub async fn start(bin: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let port = free_port();
        let dir = TempDir::new("chatsync-proc");
        let log = dir.path().join("out.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("RUST_LOG", "info")
            .current_dir(dir.path())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start chatsync");
        let mut p = Self {
            port,
            child,
            log,
            _dir: Some(dir),
        };
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/healthz");
        for _ in 0..300 {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("chatsync exited early ({status}):\n{}", p.output());
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chatsync did not become healthy:\n{}", p.output());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// What the process printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited successfully.
    pub async fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chatsync did not exit after SIGTERM:\n{}", self.output());
    }

    /// Kills the process at once (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private `redis-server`, for tests that restart Redis without disturbing others.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let mut r = Self {
            port: free_port(),
            child: None,
        };
        r.restart().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is required for this test");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis-server did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private S3-compatible server (moto, from PyPI) with one bucket, for media tests.
pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    child: Child,
}

impl S3Server {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is required for S3 tests (scripts/test-deps.sh installs it)");
        let server = Self {
            port,
            bucket: format!(
                "chatsync-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            child,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client
                .put(format!("{}/{}", server.endpoint(), server.bucket))
                .send()
                .await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Points `cfg` at this server's bucket.
    pub fn configure(&self, cfg: &mut chatsync_core::config::MediaConfig) {
        cfg.s3_bucket = Some(self.bucket.clone());
        cfg.s3_endpoint = Some(self.endpoint());
        cfg.s3_access_key_id = Some("test".into());
        cfg.s3_secret_access_key = Some(chatsync_core::config::Secret::new("test"));
        cfg.s3_path_style = true;
        cfg.s3_prefix = "chatsync-test/".into();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

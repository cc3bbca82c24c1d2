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

/// A private RabbitMQ node that listens only over TLS (`amqps://`), with a certificate for
/// `localhost` signed by a CA made for the test. Stopped on drop.
pub struct TlsRabbit {
    pub port: u16,
    node: String,
    dir: TempDir,
    child: Child,
}

/// RabbitMQ's own scripts: Debian's `/usr/sbin` wrappers switch to the `rabbitmq` user, which
/// cannot use the test's directory.
fn rabbit_tool(name: &str) -> String {
    let own = format!("/usr/lib/rabbitmq/bin/{name}");
    if Path::new(&own).exists() {
        own
    } else {
        name.to_owned()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is required for this test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate for `localhost` and 127.0.0.1 signed by it (`server.pem`,
/// `server.key`), made with the `openssl` command in `d`.
pub fn certificates(d: &Path) {
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=ChatSync test CA",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

impl TlsRabbit {
    pub async fn start() -> Self {
        let dir = TempDir::new("chatsync-rabbit-tls");
        let d = dir.path();
        certificates(d);
        let port = free_port();
        let p = |f: &str| d.join(f).display().to_string();
        std::fs::write(
            d.join("rabbitmq.conf"),
            format!(
                "listeners.tcp = none\nlisteners.ssl.default = {port}\n\
                 ssl_options.cacertfile = {}\nssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\nssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n",
                p("ca.pem"),
                p("server.pem"),
                p("server.key")
            ),
        )
        .unwrap();
        std::fs::write(d.join("enabled_plugins"), "[].\n").unwrap();
        let node = format!("chatsync-tls-{port}@localhost");
        let child = Command::new(rabbit_tool("rabbitmq-server"))
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_DIST_PORT", free_port().to_string())
            .env("RABBITMQ_CONFIG_FILE", p("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", p("mnesia"))
            .env("RABBITMQ_LOG_BASE", p("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", p("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", p("pid"))
            .stdout(std::fs::File::create(d.join("out.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("rabbitmq-server is required for this test (scripts/test-deps.sh)");
        let r = Self {
            port,
            node,
            dir,
            child,
        };
        for _ in 0..240 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "private RabbitMQ did not start:\n{}",
            std::fs::read_to_string(r.dir.path().join("out.log")).unwrap_or_default()
        );
    }

    /// `amqps://guest:guest@localhost:<port>/%2f` (guest may log in from loopback).
    pub fn url(&self) -> String {
        format!("amqps://guest:guest@localhost:{}/%2f", self.port)
    }

    /// The CA that signed the broker's certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }
}

impl Drop for TlsRabbit {
    fn drop(&mut self) {
        let _ = Command::new(rabbit_tool("rabbitmqctl"))
            .args(["-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

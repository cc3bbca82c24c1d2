//! A real SMTP server (aiosmtpd, `scripts/smtp_sink.py`) for mail tests.

use crate::TempDir;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An SMTP server on a free local port that saves what it receives.
pub struct SmtpSink {
    pub port: u16,
    dir: TempDir,
    child: Child,
}

impl SmtpSink {
    /// Starts a sink; the first `fail_first` messages get a temporary failure (451).
    pub fn start(fail_first: u32) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = TempDir::new("chatsync-smtp");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string()])
            .args(["--dir", &dir.path().to_string_lossy()])
            .args(["--fail-first", &fail_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is required for SMTP tests");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "SMTP sink did not start (is aiosmtpd installed? run scripts/test-deps.sh)"
        );
        Self { port, dir, child }
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits for a message to `to` and returns it.
    pub async fn wait_for(&self, to: &str, within: Duration) -> String {
        crate::eventually(within, || async {
            self.messages().into_iter().find(|m| m.contains(to))
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

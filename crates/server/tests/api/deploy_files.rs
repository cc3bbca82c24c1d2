//! The deployment files that cannot run here are checked as far as this machine allows:
//! systemd's units with `systemd-analyze verify` and its offline security review (systemd
//! itself does not run here), the per-instance env files against each other, and the Docker
//! compose file and GitHub workflow as data (no Docker engine, no GitHub here).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_chatsync");

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

/// The units, with `ExecStart` pointing at the binary this test built (verify checks that the
/// command exists), in a scratch directory.
fn units() -> chatsync_testkit::TempDir {
    let dir = chatsync_testkit::TempDir::new("chatsync-units");
    for name in ["chatsync@.service", "chatsync.target"] {
        let text = std::fs::read_to_string(deploy(&format!("systemd/{name}"))).unwrap();
        std::fs::write(
            dir.path().join(name),
            text.replace("/usr/local/bin/chatsync", BIN),
        )
        .unwrap();
    }
    dir
}

fn systemd_analyze(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("systemd-analyze is needed (package systemd; scripts/test-deps.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify_without_a_warning() {
    let dir = units();
    let (ok, out) = systemd_analyze(
        dir.path(),
        &[
            "verify",
            "--man=no",
            "chatsync@gateway.service",
            "chatsync@user.service",
            "chatsync@mail.service",
            "chatsync@chat-1.service",
            "chatsync.target",
        ],
    );
    // verify exits 0 on an unknown or misspelt setting, which it ignores with a warning: any
    // output at all is a failure.
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );
}

#[test]
fn the_systemd_unit_is_hardened() {
    let dir = units();
    // Exposure is 0 (locked down) to 10 (exposed); systemd calls up to 2 "OK". The threshold
    // is in tenths.
    let (ok, out) = systemd_analyze(
        dir.path(),
        &[
            "security",
            "--offline=true",
            "--threshold=20",
            "--no-pager",
            "chatsync@chat-1.service",
        ],
    );
    let overall = out
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure level:\n{out}"));
    assert!(ok, "exposure above 2.0: {overall}\n{out}");
    let text = std::fs::read_to_string(deploy("systemd/chatsync@.service")).unwrap();
    for setting in [
        "User=chatsync",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "UMask=0077",
    ] {
        assert!(text.contains(setting), "the unit sets {setting:?}");
    }
}

/// `KEY=VALUE` lines, as systemd's `EnvironmentFile=` reads them.
fn env_file(name: &str) -> BTreeMap<String, String> {
    let path = deploy(&format!("systemd/env/{name}.env"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{name}: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn the_example_env_files_name_real_settings_and_point_at_each_other() {
    // Every variable is one the binary knows.
    let known = Command::new(BIN).args(["config", "env"]).output().unwrap();
    let known = String::from_utf8_lossy(&known.stdout).into_owned();
    let instances = ["gateway", "user", "mail", "chat-1", "chat-2"];
    for name in std::iter::once("chatsync").chain(instances) {
        for key in env_file(name).keys() {
            assert!(
                key == "CHATSYNC_ONLY" || known.contains(key.as_str()),
                "{name}.env: {key} is not a ChatSync setting (chatsync config env)"
            );
        }
    }
    // Each instance runs the service its name says, on a port of its own, and the gateway
    // and chat nodes find the others where they listen.
    let url = |n: &str| format!("http://127.0.0.1:{}", env_file(n)["PORT"]);
    let mut ports = std::collections::BTreeSet::new();
    for name in instances {
        let env = env_file(name);
        let service = name.split('-').next().unwrap();
        assert_eq!(env["CHATSYNC_ONLY"], service, "{name}.env");
        assert!(ports.insert(env["PORT"].clone()), "{name}.env: port in use");
    }
    let gateway = env_file("gateway");
    assert_eq!(gateway["USER_SERVICE_URL"], url("user"));
    assert_eq!(gateway["MAIL_SERVICE_URL"], url("mail"));
    assert_eq!(
        gateway["CHAT_SERVICE_URL"],
        format!("{},{}", url("chat-1"), url("chat-2"))
    );
    for chat in ["chat-1", "chat-2"] {
        assert_eq!(
            env_file(chat)["USER_SERVICE_URL"],
            url("user"),
            "{chat}.env"
        );
    }
}

/// `deploy/docker/compose.yaml` as JSON (PyYAML, which the test dependencies bring, resolves
/// the `<<:` merges).
fn compose() -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(deploy("docker/compose.yaml"))
        .output()
        .expect("python3 with PyYAML (scripts/test-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_compose_file_wires_the_services_together_with_real_settings() {
    // Docker does not run here: this checks what can be checked without it.
    let known = Command::new(BIN).args(["config", "env"]).output().unwrap();
    let known = String::from_utf8_lossy(&known.stdout).into_owned();
    let c = compose();
    let services = c["services"].as_object().unwrap();
    let chatsync: Vec<_> = services
        .iter()
        .filter(|(_, s)| s["environment"]["CHATSYNC_ONLY"].is_string())
        .collect();
    let names: Vec<_> = chatsync.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["chat-1", "chat-2", "gateway", "mail", "user"]);
    for (name, s) in &chatsync {
        for key in s["environment"].as_object().unwrap().keys() {
            assert!(
                key == "CHATSYNC_ONLY" || known.contains(key.as_str()),
                "{name}: {key} is not a ChatSync setting"
            );
        }
        for dep in ["postgres", "redis", "rabbitmq"] {
            assert!(services.contains_key(dep) && s["depends_on"][dep].is_object());
        }
    }
    let gateway = &services["gateway"]["environment"];
    assert_eq!(
        gateway["CHAT_SERVICE_URL"],
        "http://chat-1:3000,http://chat-2:3000"
    );
    // Chat nodes share one media directory (README: "Several chat nodes").
    for chat in ["chat-1", "chat-2"] {
        assert_eq!(services[chat]["volumes"][0], "media:/data/media", "{chat}");
    }
    let dockerfile = std::fs::read_to_string(deploy("docker/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("RUN scripts/build.sh"),
        "the image is built by the script the tests use"
    );
    assert!(dockerfile.contains("DATA_DIR=/data") && dockerfile.contains("/data/media"));
}

#[test]
fn the_github_workflow_runs_the_same_command_as_ci() {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.github/workflows/ci.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wf: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = &wf["jobs"]["test"];
    let runs: Vec<&str> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(runs.iter().any(|r| r.ends_with("bash .ci/run")), "{runs:?}");
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/run"))
        .unwrap();
    assert!(
        ci.contains("scripts/test.sh"),
        ".ci/run runs the README's test command"
    );
    for service in ["postgres", "redis", "rabbitmq"] {
        assert!(job["services"][service]["image"].is_string(), "{service}");
    }
}

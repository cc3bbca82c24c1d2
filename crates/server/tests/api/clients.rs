//! The official Socket.IO clients work against ChatSync (issue #3): JavaScript's
//! `socket.io-client` and Python's `python-socketio`, each over WebSocket and long-polling.
//! The client scripts live in `tests/clients/`; `scripts/test-deps.sh` installs their packages.

use chatsync_testkit::{Backends, TestApp};
use rstest::rstest;
use std::process::Command;

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/clients");

async fn run_client(program: &str, script: &str, transport: &str) {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    let (ann, bob) = (app.signup("Ann").await, app.signup("Bob").await);
    let conv = app.direct(&ann, &bob).await;
    let url = app.url("");
    let out = tokio::task::spawn_blocking({
        let script = format!("{CLIENTS}/{script}");
        let args = [
            url,
            ann.access.clone(),
            bob.access.clone(),
            conv,
            transport.to_owned(),
        ];
        let program = program.to_owned();
        move || {
            Command::new(program)
                .arg(script)
                .args(args)
                .current_dir(CLIENTS)
                .output()
        }
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{program} is required: {e}"));
    assert!(
        out.status.success(),
        "{script} over {transport} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The message the client sent is really stored.
    let r = app
        .get(
            &format!(
                "/api/conversations/{}/messages",
                app.direct(&ann, &bob).await
            ),
            &bob.access,
        )
        .await;
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 1);
}

#[rstest]
#[case::websocket("websocket")]
#[case::polling("polling")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_javascript_client_works(#[case] transport: &str) {
    run_client("node", "js_client.mjs", transport).await;
}

#[rstest]
#[case::websocket("websocket")]
#[case::polling("polling")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_works(#[case] transport: &str) {
    run_client("python3", "py_client.py", transport).await;
}

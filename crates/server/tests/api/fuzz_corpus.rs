//! Every input kept by the fuzzers, replayed through the same hooks the fuzz targets call
//! (`fuzz/fuzz_targets/*.rs`): the seed corpus in `fuzz/corpus/<target>/` and the inputs that
//! once crashed a target in `fuzz/regressions/<target>/`. This runs in the ordinary
//! `cargo test`, on the stable toolchain, so a crash found once stays found.

use std::path::{Path, PathBuf};

/// A fuzzing hook: takes any bytes, panics on a failure.
type Hook = fn(&[u8]);

/// The fuzz targets and the hook each one calls.
const TARGETS: [(&str, Hook); 5] = [
    ("socket_packet", chatsync_chat::fuzzing::socket_packet),
    ("auth_json", chatsync_auth::fuzzing::rest_body),
    ("chat_json", chatsync_chat::fuzzing::rest_body),
    ("multipart_upload", |d| {
        chatsync_media::fuzzing::upload(d);
    }),
    ("sniff", chatsync_media::fuzzing::sniff),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_is_replayed_here() {
    let on_disk: Vec<String> = inputs(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut known: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    known.sort();
    let mut on_disk = on_disk;
    on_disk.sort();
    assert_eq!(on_disk, known, "fuzz/fuzz_targets and TARGETS differ");
}

#[test]
fn the_seed_corpus_and_every_past_crash_pass() {
    for (target, hook) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("corpus").join(target));
        assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seeds");
        let crashes = inputs(&fuzz_dir().join("regressions").join(target));
        for file in seeds.iter().chain(&crashes) {
            let data = std::fs::read(file).unwrap();
            // A panic names the file it came from.
            let result = std::panic::catch_unwind(|| hook(&data));
            assert!(result.is_ok(), "{target} fails on {}", file.display());
        }
    }
}

#[test]
fn the_upload_hook_stores_a_valid_file_and_refuses_markup() {
    let body = |name: &str, bytes: &[u8]| {
        let mut b = vec![0u8];
        b.extend_from_slice(
            format!(
                "--{0}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n",
                chatsync_media::fuzzing::BOUNDARY
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(
            format!("\r\n--{}--\r\n", chatsync_media::fuzzing::BOUNDARY).as_bytes(),
        );
        b
    };
    // The harness really reaches the store: without this, a broken harness would answer
    // 401 or 400 to everything and the fuzzer would explore nothing.
    assert_eq!(
        chatsync_media::fuzzing::upload(&body("a.txt", b"plain words")),
        201
    );
    assert_eq!(
        chatsync_media::fuzzing::upload(&body("a.txt", b"<html><script>")),
        415
    );
}

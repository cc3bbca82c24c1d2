//! The chat service's JSON bodies: extractor and the checks before any store.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatsync_chat::fuzzing::rest_body(data));

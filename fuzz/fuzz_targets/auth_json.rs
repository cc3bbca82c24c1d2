//! The user service's JSON bodies: extractor and field checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatsync_auth::fuzzing::rest_body(data));

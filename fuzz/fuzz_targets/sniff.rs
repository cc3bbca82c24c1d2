//! The media type sniffer and the file-name cleaner.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatsync_media::fuzzing::sniff(data));

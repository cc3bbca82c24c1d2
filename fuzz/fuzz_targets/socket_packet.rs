//! A Socket.IO text frame: packet parser, payload types, the service's checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatsync_chat::fuzzing::socket_packet(data));

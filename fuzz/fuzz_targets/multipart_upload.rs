//! `POST /api/media` through the media router with an arbitrary multipart body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chatsync_media::fuzzing::upload(data);
});

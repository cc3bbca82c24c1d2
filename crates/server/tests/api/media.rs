//! Media (SPEC §5, issue #5) over the real HTTP API: every allowed kind, refused kinds and
//! sizes, metadata stripping and thumbnails, membership and signed URLs, ranges, cleanup, on
//! local disk and on an S3-compatible server, on SQLite and on PostgreSQL + Redis + RabbitMQ.

use chatsync_testkit::{Backends, Resp, S3Server, TestApp, TestUser};
use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use img_parts::ImageEXIF;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};
use std::io::{Cursor, Write};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Storage {
    /// SQLite, files on local disk: the laptop install.
    Local,
    /// SQLite, files on an S3-compatible server.
    S3,
    /// PostgreSQL + Redis + RabbitMQ, files on S3: the production install.
    S3OnPostgres,
}

async fn spawn(
    storage: Storage,
    tweak: impl FnOnce(&mut chatsync_core::config::Config),
) -> (TestApp, Option<S3Server>) {
    let b = if storage == Storage::S3OnPostgres {
        Backends::PRODUCTION
    } else {
        Backends::EMBEDDED
    };
    spawn_on(b, storage, tweak).await
}

async fn spawn_on(
    b: Backends,
    storage: Storage,
    tweak: impl FnOnce(&mut chatsync_core::config::Config),
) -> (TestApp, Option<S3Server>) {
    let s3 = match storage {
        Storage::Local => None,
        Storage::S3 | Storage::S3OnPostgres => Some(S3Server::start().await),
    };
    let app = TestApp::spawn_with(b, |c| {
        if let Some(s3) = &s3 {
            s3.configure(&mut c.media);
        }
        tweak(c);
    })
    .await;
    (app, s3)
}

async fn upload(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    declared: &str,
    bytes: Vec<u8>,
) -> Resp {
    upload_to(app, user, "/api/media", name, declared, bytes).await
}

async fn upload_to(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    name: &str,
    declared: &str,
    bytes: Vec<u8>,
) -> Resp {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(declared)
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(&user.access)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

async fn fetch(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.url(url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
}

/// A minimal big-endian EXIF block: an orientation tag and a fake GPS note we can search for.
fn exif(orientation: u16) -> Vec<u8> {
    let mut e = b"MM\0*\0\0\0\x08".to_vec();
    e.extend_from_slice(&[0, 1]); // one entry
    e.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]); // Orientation, SHORT, count 1
    e.extend_from_slice(&orientation.to_be_bytes());
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(b"SECRET-GPS-48.8584N-2.2945E");
    e
}

fn jpeg_with_exif(w: u32, h: u32, orientation: u16) -> Vec<u8> {
    let plain = encode(DynamicImage::ImageRgb8(gradient(w, h)), ImageFormat::Jpeg);
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(plain.into()).unwrap();
    jpeg.set_exif(Some(exif(orientation).into()));
    jpeg.encoder().bytes().to_vec()
}

fn png_with_text(w: u32, h: u32) -> Vec<u8> {
    let plain = encode(
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, image::Rgba([10, 200, 30, 128]))),
        ImageFormat::Png,
    );
    let mut png = img_parts::png::Png::from_bytes(plain.into()).unwrap();
    let text =
        img_parts::png::PngChunk::new(*b"tEXt", b"Comment\0SECRET-GPS-48.8584N".to_vec().into());
    let at = png.chunks().len() - 1;
    png.chunks_mut().insert(at, text);
    png.encoder().bytes().to_vec()
}

/// A small PNG whose header announces 100,000 × 100,000 pixels: a decompression bomb.
fn bomb_png() -> Vec<u8> {
    let mut png = encode(DynamicImage::ImageRgb8(gradient(8, 8)), ImageFormat::Png);
    // IHDR data starts after the 8-byte signature, its length and its type.
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// Bits of a deflate stream, packed from the lowest bit of each byte up.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    used: u32,
}

impl Bits {
    fn bit(&mut self, b: u32) {
        if self.used == 0 {
            self.out.push(0);
        }
        *self.out.last_mut().unwrap() |= ((b & 1) as u8) << self.used;
        self.used = (self.used + 1) % 8;
    }
    /// A header field or extra bits: lowest bit first.
    fn put(&mut self, value: u32, n: u32) {
        (0..n).for_each(|i| self.bit(value >> i));
    }
    /// A Huffman code: highest bit first.
    fn code(&mut self, (code, n): (u32, u32)) {
        (0..n).rev().for_each(|i| self.bit(code >> i));
    }
    fn zeros(&mut self, mut n: u64) {
        while n > 0 && self.used != 0 {
            self.bit(0);
            n -= 1;
        }
        self.out.resize(self.out.len() + (n / 8) as usize, 0);
        (0..n % 8).for_each(|_| self.bit(0));
    }
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A valid 7000 × 7000 PNG in 16-bit RGBA (the issue's example): 49 Mpx, under the pixel
/// limit, but 392 MB of pixels, in a 380 KB file. Every byte is zero, so its one deflate block
/// is written here by hand instead of spending seconds compressing: a dynamic Huffman code of
/// three symbols (the literal 0, end of block, and "repeat 258 bytes at distance 1"), so each
/// 258 bytes cost two bits, as zlib's best compression does.
fn deep_colour_bomb() -> Vec<u8> {
    const SIDE: u32 = 7000;
    let total = u64::from(SIDE) * (1 + u64::from(SIDE) * 8); // a filter byte per row
    let mut b = Bits::default();
    b.put(1, 1); // the last block
    b.put(2, 2); // dynamic Huffman codes
    b.put(286 - 257, 5); // literal/length codes
    b.put(2 - 1, 5); // distance codes
    b.put(18 - 4, 4); // code length codes
    // Code length code lengths, in the format's order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2
    // 14 1: symbol 18 (a run of zeros) gets 1 bit, lengths 1 and 2 get 2 bits.
    for len in [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] {
        b.put(len, 3);
    }
    let (cl1, cl2, run) = ((0b10, 2), (0b11, 2), (0b0, 1));
    b.code(cl2); // literal 0: 2 bits
    b.code(run); // literals 1..=255: unused
    b.put(138 - 11, 7);
    b.code(run);
    b.put(117 - 11, 7);
    b.code(cl2); // end of block: 2 bits
    b.code(run); // lengths 257..=284: unused
    b.put(28 - 11, 7);
    b.code(cl1); // length 258: 1 bit
    b.code(cl1); // distance codes 0 and 1: 1 bit each
    b.code(cl1);
    let (zero, end) = ((0b10, 2), (0b11, 2));
    b.code(zero);
    let (repeats, rest) = ((total - 1) / 258, (total - 1) % 258);
    b.zeros(2 * repeats); // each: length 258 "0", distance 1 "0"
    (0..rest).for_each(|_| b.code(zero));
    b.code(end);
    let adler = ((total % 65521) << 16) as u32 | 1;
    let mut idat = vec![0x78, 0x01];
    idat.extend_from_slice(&b.out);
    idat.extend_from_slice(&adler.to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]); // 16 bits, RGBA
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", &idat);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn zipped(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            z.start_file(*name, opts).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// A minimal Word document, its entries in the order Word writes them.
fn docx() -> Vec<u8> {
    zipped(&[
        ("[Content_Types].xml", br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#),
        ("_rels/.rels", br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>"#),
        ("word/_rels/document.xml.rels", br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>"#),
        ("word/document.xml", br#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>"#),
    ])
}

fn mp4() -> Vec<u8> {
    let mut v = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    v.extend_from_slice(&[0u8; 2048]);
    v
}

fn pseudo_random(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7919 + 13) % 251) as u8).collect()
}

#[rstest]
#[case::local_disk(Storage::Local)]
#[case::s3(Storage::S3)]
#[case::postgres_s3(Storage::S3OnPostgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_allowed_kind_is_stored_and_served_with_its_detected_type(#[case] storage: Storage) {
    let (app, _s3) = spawn(storage, |_| {}).await;
    let ann = app.signup("Ann").await;
    let kinds: Vec<(&str, Vec<u8>, &str, bool)> = vec![
        ("photo.jpg", jpeg_with_exif(64, 48, 1), "image/jpeg", true),
        ("pic.png", png_with_text(40, 30), "image/png", true),
        (
            "anim.gif",
            encode(
                DynamicImage::ImageRgba8(RgbaImage::new(16, 16)),
                ImageFormat::Gif,
            ),
            "image/gif",
            true,
        ),
        (
            "pic.webp",
            encode(DynamicImage::ImageRgb8(gradient(20, 10)), ImageFormat::WebP),
            "image/webp",
            true,
        ),
        ("clip.mp4", mp4(), "video/mp4", false),
        (
            "song.mp3",
            [b"ID3\x03\0\0\0\0\0\x0f".as_slice(), &[0u8; 512]].concat(),
            "audio/mpeg",
            false,
        ),
        (
            "doc.pdf",
            b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec(),
            "application/pdf",
            false,
        ),
        (
            "report.docx",
            docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            false,
        ),
        (
            "archive.zip",
            zipped(&[("a.txt", b"hello")]),
            "application/zip",
            false,
        ),
        (
            "notes.txt",
            b"plain words, nothing more\n".to_vec(),
            "text/plain",
            false,
        ),
    ];
    for (name, bytes, expected, image) in kinds {
        // The declared type is a lie on purpose: only the bytes count.
        let r = upload(&app, &ann, name, "application/octet-stream", bytes).await;
        assert_eq!(r.status, 201, "{name}: {:?}", r.body);
        assert_eq!(r.body["content_type"], expected, "{name}");
        assert_eq!(r.body["name"], name);
        let url = r.body["url"].as_str().unwrap();
        let res = fetch(&app, url, &[]).await;
        assert_eq!(res.status(), 200, "{name}");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], expected);
        assert_eq!(h["x-content-type-options"], "nosniff");
        let disposition = h["content-disposition"].to_str().unwrap();
        let inline = image || expected.starts_with("video/") || expected.starts_with("audio/");
        assert!(
            disposition.starts_with(if inline { "inline" } else { "attachment" }),
            "{name}: {disposition}"
        );
        assert!(disposition.contains(&format!("filename=\"{name}\"")));
        assert!(h["cache-control"].to_str().unwrap().contains("max-age"));
        assert_eq!(
            res.bytes().await.unwrap().len() as i64,
            r.body["size"].as_i64().unwrap()
        );
        assert_eq!(r.body["thumbnail_url"].is_string(), image, "{name}");
        if image {
            let t = fetch(&app, r.body["thumbnail_url"].as_str().unwrap(), &[]).await;
            assert_eq!(t.status(), 200);
            assert!(
                t.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("image/")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_or_unknown_files_are_refused_whatever_their_name() {
    let (app, _) = spawn(Storage::Local, |_| {}).await;
    let ann = app.signup("Ann").await;
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("cat.png", "image/png", b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>".to_vec()),
        ("tool.png", "image/png", [b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".as_slice(), &[0u8; 64]].concat()),
        ("logo.svg", "image/svg+xml", br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#.to_vec()),
        ("data.bin", "application/octet-stream", vec![0, 1, 2, 3, 0, 255, 0, 7]),
    ];
    for (name, declared, bytes) in cases {
        let r = upload(&app, &ann, name, declared, bytes).await;
        assert_eq!(
            (r.status, r.code()),
            (415, "unsupported_media_type"),
            "{name}: {:?}",
            r.body
        );
    }
    let r = upload(&app, &ann, "empty.txt", "text/plain", Vec::new()).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = app
        .post_raw("/api/media", "application/json", b"{}".to_vec())
        .await;
    assert_eq!(r.status, 401, "uploads need a token");
    let res = app
        .client
        .post(app.url("/api/media"))
        .bearer_auth(&ann.access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415, "not multipart");
    let r = upload_to(
        &app,
        &ann,
        "/api/media?purpose=avatar",
        "doc.pdf",
        "application/pdf",
        b"%PDF-1.4\n%%EOF".to_vec(),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (415, "unsupported_media_type"),
        "avatars are images"
    );
}

#[rstest]
#[case::local_disk(Storage::Local)]
#[case::s3(Storage::S3)]
#[case::postgres_s3(Storage::S3OnPostgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_get_413(#[case] storage: Storage) {
    let (app, _s3) = spawn(storage, |c| c.media.max_upload_bytes = 1024 * 1024).await;
    let ann = app.signup("Ann").await;
    let big_zip = zipped(&[("noise.bin", &pseudo_random(3 * 1024 * 1024))]);
    let big_zip = if big_zip.len() < 1_200_000 {
        [big_zip, pseudo_random(1_500_000)].concat()
    } else {
        big_zip
    };
    let r = upload(&app, &ann, "big.zip", "application/zip", big_zip).await;
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large"),
        "{:?}",
        r.body
    );
    let big_png = encode(
        DynamicImage::ImageRgb8(RgbImage::from_fn(900, 900, |x, y| {
            image::Rgb([(x * y % 256) as u8, (x ^ y) as u8, (x + 3 * y) as u8])
        })),
        ImageFormat::Png,
    );
    assert!(big_png.len() > 1024 * 1024);
    let r = upload(&app, &ann, "big.png", "image/png", big_png).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    // Far more than the socket buffers hold: the client is still sending when the 413 is
    // answered, and must get that answer, not a reset connection.
    let huge = [
        zipped(&[("a.bin", &pseudo_random(1000))]),
        pseudo_random(16 * 1024 * 1024),
    ]
    .concat();
    let r = upload(&app, &ann, "huge.zip", "application/zip", huge).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    // Just under the limit is fine.
    let r = upload(
        &app,
        &ann,
        "ok.zip",
        "application/zip",
        zipped(&[("a.bin", &pseudo_random(900_000))]),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_lose_their_metadata_get_thumbnails_and_bombs_are_refused() {
    let (app, _) = spawn(Storage::Local, |_| {}).await;
    let ann = app.signup("Ann").await;

    // A phone photo: 1000×500 pixels stored sideways, EXIF orientation 6 (rotate 90°).
    let raw = jpeg_with_exif(1000, 500, 6);
    assert!(raw.windows(10).any(|w| w == b"SECRET-GPS"));
    let r = upload(&app, &ann, "IMG_0001.jpg", "image/jpeg", raw).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        (r.body["width"].as_u64(), r.body["height"].as_u64()),
        (Some(500), Some(1000)),
        "upright"
    );
    let stored = fetch(&app, r.body["url"].as_str().unwrap(), &[])
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        !stored.windows(10).any(|w| w == b"SECRET-GPS"),
        "location is gone"
    );
    assert!(!stored.windows(6).any(|w| w == b"Exif\0\0"), "EXIF is gone");
    let img = image::load_from_memory(&stored).unwrap();
    assert_eq!((img.width(), img.height()), (500, 1000));
    let thumb = fetch(&app, r.body["thumbnail_url"].as_str().unwrap(), &[])
        .await
        .bytes()
        .await
        .unwrap();
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!(
        (t.width(), t.height()),
        (160, 320),
        "fits 320 px, keeps the aspect ratio"
    );
    assert!(!thumb.windows(6).any(|w| w == b"Exif\0\0"));

    // PNG text chunks go too; the thumbnail keeps transparency.
    let r = upload(&app, &ann, "pic.png", "image/png", png_with_text(400, 200)).await;
    assert_eq!(r.status, 201);
    let stored = fetch(&app, r.body["url"].as_str().unwrap(), &[])
        .await
        .bytes()
        .await
        .unwrap();
    assert!(!stored.windows(10).any(|w| w == b"SECRET-GPS"));
    assert_eq!(image::load_from_memory(&stored).unwrap().width(), 400);
    let thumb = fetch(&app, r.body["thumbnail_url"].as_str().unwrap(), &[]).await;
    assert_eq!(thumb.headers()["content-type"], "image/png");
    let t = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((t.width(), t.height()), (320, 160));

    let r = upload(&app, &ann, "bomb.png", "image/png", bomb_png()).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "image_too_large"),
        "{:?}",
        r.body
    );
    let r = upload(
        &app,
        &ann,
        "broken.png",
        "image/png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRbroken".to_vec(),
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
}

#[rstest]
#[case::local_disk(Storage::Local)]
#[case::s3(Storage::S3)]
#[case::postgres_s3(Storage::S3OnPostgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_reaches_members_only_through_signed_urls(#[case] storage: Storage) {
    let (app, _s3) = spawn(storage, |_| {}).await;
    let (ann, bob, cat) = (
        app.signup("Ann").await,
        app.signup("Bob").await,
        app.signup("Cat").await,
    );
    let conv = app.direct(&ann, &bob).await;
    let up = upload(
        &app,
        &ann,
        "holiday.png",
        "image/png",
        png_with_text(120, 80),
    )
    .await;
    let id = up.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("/api/media/{id}"), &ann.access)
            .await
            .status,
        200,
        "the uploader may"
    );
    assert_eq!(
        app.get(&format!("/api/media/{id}"), &bob.access)
            .await
            .status,
        404,
        "not yet sent"
    );

    let ann_s = app.socket(&ann).await;
    let mut bob_s = app.socket(&bob).await;
    let ack = ann_s
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "m1", "body": "", "attachments": [id]}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let got = bob_s.event("message:new").await;
    let a = &got["attachments"][0];
    assert_eq!(
        (
            a["media_id"].as_str(),
            a["content_type"].as_str(),
            a["width"].as_u64()
        ),
        (Some(id.as_str()), Some("image/png"), Some(120))
    );
    let url = a["url"].as_str().unwrap();
    assert_eq!(fetch(&app, url, &[]).await.status(), 200);
    assert_eq!(
        fetch(&app, a["thumbnail_url"].as_str().unwrap(), &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&format!("/api/media/{id}"), &bob.access)
            .await
            .status,
        200,
        "a member may"
    );
    assert_eq!(
        app.get(&format!("/api/media/{id}"), &cat.access)
            .await
            .status,
        404,
        "an outsider may not"
    );
    let history = app
        .get(&format!("/api/conversations/{conv}/messages"), &bob.access)
        .await;
    assert!(
        history.body["messages"][0]["attachments"][0]["url"].is_string(),
        "history carries fresh URLs"
    );

    // Signatures: tampered or missing is refused; so is another file's signature.
    let tampered = url.replace("sig=", "sig=x");
    let r = fetch(&app, &tampered, &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        fetch(&app, &format!("/api/media/{id}/content"), &[])
            .await
            .status(),
        403
    );
    let other = upload(
        &app,
        &cat,
        "other.txt",
        "text/plain",
        b"cat's note".to_vec(),
    )
    .await;
    let other_id = other.body["id"].as_str().unwrap();
    assert_eq!(
        fetch(&app, &url.replace(&id, other_id), &[]).await.status(),
        403
    );

    // Nobody attaches a file they cannot see.
    let cat_conv = app.direct(&cat, &bob).await;
    let cat_s = app.socket(&cat).await;
    let ack = cat_s
        .emit(
            "message:send",
            json!({"conversation_id": cat_conv, "client_id": "x", "attachments": [id]}),
        )
        .await;
    assert_eq!(ack["error"]["code"], "not_found");
    let ack = cat_s.emit("message:send", json!({"conversation_id": cat_conv, "client_id": "y", "attachments": [uuid::Uuid::new_v4()]})).await;
    assert_eq!(ack["error"]["code"], "not_found");

    // Deleting the message withdraws access for members (the uploader keeps it).
    let mid = got["id"].as_str().unwrap();
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/messages/{mid}"),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["attachments"].as_array().unwrap().is_empty());
    assert_eq!(
        app.get(&format!("/api/media/{id}"), &bob.access)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/media/{id}"), &ann.access)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_signed_urls_are_refused() {
    let (app, _) = spawn(Storage::Local, |c| c.media.url_ttl_secs = 1).await;
    let ann = app.signup("Ann").await;
    let up = upload(&app, &ann, "n.txt", "text/plain", b"short-lived".to_vec()).await;
    let url = up.body["url"].as_str().unwrap();
    assert_eq!(fetch(&app, url, &[]).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await; // past the 1 s lifetime
    let r = fetch(&app, url, &[]).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "url_expired");
    // A fresh URL comes from the API.
    let fresh = app
        .get(
            &format!("/api/media/{}", up.body["id"].as_str().unwrap()),
            &ann.access,
        )
        .await;
    assert_eq!(
        fetch(&app, fresh.body["url"].as_str().unwrap(), &[])
            .await
            .status(),
        200
    );
}

#[rstest]
#[case::local_disk(Storage::Local)]
#[case::s3(Storage::S3)]
#[case::postgres_s3(Storage::S3OnPostgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_requests_return_the_right_bytes(#[case] storage: Storage) {
    let (app, _s3) = spawn(storage, |_| {}).await;
    let ann = app.signup("Ann").await;
    let mut video = mp4();
    video.extend(pseudo_random(200_000));
    let up = upload(&app, &ann, "clip.mp4", "video/mp4", video.clone()).await;
    assert_eq!(up.status, 201);
    let url = up.body["url"].as_str().unwrap();
    let len = video.len();

    let r = fetch(&app, url, &[("range", "bytes=10-19")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 10-19/{len}").as_str()
    );
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(&r.bytes().await.unwrap()[..], &video[10..20]);

    let r = fetch(&app, url, &[("range", "bytes=-5")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &video[len - 5..]);
    let r = fetch(&app, url, &[("range", &format!("bytes={}-", len - 100))]).await;
    assert_eq!(r.bytes().await.unwrap().len(), 100);

    let r = fetch(
        &app,
        url,
        &[("range", &format!("bytes={}-{}", len + 10, len + 20))],
    )
    .await;
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    let full = fetch(&app, url, &[]).await;
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(full.bytes().await.unwrap().len(), len);
    assert_eq!(
        fetch(&app, url, &[("if-none-match", &etag)]).await.status(),
        304
    );
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_never_attached_are_cleaned_up(#[case] b: Backends) {
    let (app, _) = spawn_on(b, Storage::Local, |c| {
        c.media.orphan_ttl_secs = 1;
        c.media.cleanup_interval_secs = 1;
    })
    .await;
    let (ann, bob) = (app.signup("Ann").await, app.signup("Bob").await);
    let conv = app.direct(&ann, &bob).await;
    let kept = upload(&app, &ann, "kept.txt", "text/plain", b"attached".to_vec()).await;
    let kept_id = kept.body["id"].as_str().unwrap().to_owned();
    let ann_s = app.socket(&ann).await;
    let ack = ann_s
        .emit(
            "message:send",
            json!({"conversation_id": conv, "client_id": "k", "attachments": [kept_id]}),
        )
        .await;
    assert_eq!(ack["ok"], true);
    let orphan = upload(
        &app,
        &ann,
        "orphan.txt",
        "text/plain",
        b"forgotten".to_vec(),
    )
    .await;
    let orphan_id = orphan.body["id"].as_str().unwrap().to_owned();
    let orphan_url = orphan.body["url"].as_str().unwrap().to_owned();

    // The cleaner deletes the record first and the bytes right after, so wait for both.
    let media_dir = app.cfg.data_dir.path().join("media/media");
    let bytes_on_disk = || {
        std::fs::read_dir(&media_dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&orphan_id)
        })
    };
    chatsync_testkit::eventually(Duration::from_secs(20), || async {
        let record = app
            .get(&format!("/api/media/{orphan_id}"), &ann.access)
            .await
            .status;
        (record == 404 && !bytes_on_disk()).then_some(())
    })
    .await;
    assert_eq!(
        fetch(&app, &orphan_url, &[]).await.status(),
        404,
        "bytes are gone too"
    );
    assert_eq!(
        app.get(&format!("/api/media/{kept_id}"), &bob.access)
            .await
            .status,
        200,
        "attached files stay"
    );
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatars_get_a_public_url(#[case] b: Backends) {
    let (app, _) = spawn_on(b, Storage::Local, |_| {}).await;
    let ann = app.signup("Ann").await;
    let r = upload_to(
        &app,
        &ann,
        "/api/media?purpose=avatar",
        "me.jpg",
        "image/jpeg",
        jpeg_with_exif(600, 600, 1),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let public = r.body["public_url"].as_str().unwrap().to_owned();
    let res = fetch(&app, &public, &[]).await;
    assert_eq!(res.status(), 200, "no signature needed");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(img.width(), 320, "served at thumbnail size");
    let r = app
        .call(
            Method::PATCH,
            "/api/users/me",
            Some(&ann.access),
            Some(json!({"avatar_url": public})),
        )
        .await;
    assert_eq!(r.status, 200);
    // Message uploads are not public.
    let private = upload(&app, &ann, "p.png", "image/png", png_with_text(10, 10)).await;
    assert_eq!(
        fetch(
            &app,
            &format!("/api/media/{}/public", private.body["id"].as_str().unwrap()),
            &[]
        )
        .await
        .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_colour_image_is_refused_before_it_is_decoded() {
    let (app, _) = spawn(Storage::Local, |_| {}).await;
    let ann = app.signup("Ann").await;
    let png = deep_colour_bomb();
    assert!(png.len() < 400_000, "{} bytes", png.len());
    let dims = image::ImageReader::new(Cursor::new(&png))
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!(dims, (7000, 7000));

    // With the default settings: under the pixel limit, over the memory budget.
    let r = upload(&app, &ann, "deep.png", "image/png", png).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "image_too_large"),
        "{:?}",
        r.body
    );
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("MiB"),
        "{:?}",
        r.body
    );
    let r = upload(&app, &ann, "ok.png", "image/png", png_with_text(40, 20)).await;
    assert_eq!(r.status, 201, "the node carries on: {:?}", r.body);
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_accounts_rate_get_429(#[case] b: Backends) {
    let (app, _) = spawn_on(b, Storage::Local, |c| {
        c.media.upload_per_account = chatsync_core::config::RateLimit::new(3, 3600);
    })
    .await;
    let (ann, bob) = (app.signup("Ann").await, app.signup("Bob").await);
    for i in 0..3 {
        let r = upload(&app, &ann, &format!("{i}.txt"), "text/plain", b"n".to_vec()).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let r = upload(&app, &ann, "3.png", "image/png", png_with_text(40, 20)).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{:?}", r.body);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After: {wait}");
    let r = upload(&app, &bob, "b.txt", "text/plain", b"b".to_vec()).await;
    assert_eq!(r.status, 201, "others have their own budget");
}

#[rstest]
#[case::embedded(Backends::EMBEDDED)]
#[case::production(Backends::PRODUCTION)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_stop_working_once_the_file_is_withdrawn(#[case] b: Backends) {
    let (app, _) = spawn_on(b, Storage::Local, |_| {}).await;
    let (ann, bob, cat) = (
        app.signup("Ann").await,
        app.signup("Bob").await,
        app.signup("Cat").await,
    );
    let group = app.group(&ann, "Trip", &[&bob, &cat]).await;
    let up = upload(&app, &ann, "beach.png", "image/png", png_with_text(120, 80)).await;
    let id = up.body["id"].as_str().unwrap().to_owned();
    let ann_s = app.socket(&ann).await;
    let mut bob_s = app.socket(&bob).await;
    let mut cat_s = app.socket(&cat).await;
    let ack = ann_s
        .emit(
            "message:send",
            json!({"conversation_id": group, "client_id": "p", "attachments": [id]}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let mid = ack["message"]["id"].as_str().unwrap().to_owned();
    let own = ack["message"]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let bobs = bob_s.event("message:new").await["attachments"][0].clone();
    let cats = cat_s.event("message:new").await["attachments"][0].clone();
    let (bob_url, bob_thumb) = (
        bobs["url"].as_str().unwrap(),
        bobs["thumbnail_url"].as_str().unwrap(),
    );
    let cat_url = cats["url"].as_str().unwrap();
    assert!(bob_url.contains(&bob.id) && cat_url.contains(&cat.id) && own.contains(&ann.id));
    for url in [bob_url, bob_thumb, cat_url, own.as_str()] {
        assert_eq!(fetch(&app, url, &[]).await.status(), 200, "{url}");
    }
    // A URL names its viewer: someone else's id does not fit its signature.
    let forged = fetch(&app, &bob_url.replace(&bob.id, &cat.id), &[]).await;
    assert_eq!(forged.status(), 403);

    // Removed from the group: Bob's links stop working at once, cached copies included.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/conversations/{group}/members/{}", bob.id),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let etag = format!("\"{id}\"");
    for (url, headers) in [
        (bob_url, vec![]),
        (bob_thumb, vec![]),
        (bob_url, vec![("if-none-match", etag.as_str())]),
        (bob_url, vec![("range", "bytes=0-9")]),
    ] {
        assert_eq!(
            fetch(&app, url, &headers).await.status(),
            404,
            "{url} {headers:?}"
        );
    }
    // The members who stay keep ranges and caching.
    let r = fetch(&app, cat_url, &[("range", "bytes=0-9")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().len(), 10);
    assert_eq!(
        fetch(&app, cat_url, &[("if-none-match", &etag)])
            .await
            .status(),
        304
    );

    // The message deleted: the other members' links stop working; the uploader keeps hers.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/messages/{mid}"),
            Some(&ann.access),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(fetch(&app, cat_url, &[]).await.status(), 404);
    assert_eq!(fetch(&app, &own, &[]).await.status(), 200);
}

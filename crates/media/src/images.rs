//! Images: refuse decompression bombs, strip metadata (EXIF with its GPS, XMP, comments),
//! apply the EXIF orientation before it is stripped, and make a thumbnail.

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use img_parts::ImageEXIF;
use std::io::Cursor;

/// Why an image was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImageError {
    /// More pixels than allowed: likely a decompression bomb.
    #[error("image is {width}×{height} pixels; at most {max} pixels are accepted")]
    TooManyPixels {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// The bytes claim an image type but do not decode.
    #[error("the image cannot be read: {0}")]
    Corrupt(String),
}

/// A processed image.
pub(crate) struct Processed {
    /// What is stored: the upload with its metadata removed.
    pub(crate) bytes: Bytes,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Thumbnail bytes and their type.
    pub(crate) thumbnail: (Bytes, &'static str),
}

fn corrupt(e: impl std::fmt::Display) -> ImageError {
    ImageError::Corrupt(e.to_string())
}

/// Processes an upload of type `content_type` (one of the types [`crate::detect::is_image`]
/// accepts). CPU-bound: call from a blocking thread.
pub(crate) fn process(
    data: Bytes,
    content_type: &str,
    max_pixels: u64,
    thumb_px: u32,
) -> Result<Processed, ImageError> {
    // Dimensions come from the header alone; refuse before decoding a single pixel.
    let (width, height) = ImageReader::new(Cursor::new(&data))
        .with_guessed_format()
        .map_err(corrupt)?
        .into_dimensions()
        .map_err(corrupt)?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            max: max_pixels,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(&data))
        .with_guessed_format()
        .map_err(corrupt)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    let rotated = orientation != image::metadata::Orientation::NoTransforms;
    img.apply_orientation(orientation);

    let bytes = match content_type {
        // The orientation lives in EXIF, which is about to go: bake it into the pixels.
        "image/jpeg" if rotated => encode_jpeg(&img, 90)?,
        "image/jpeg" => strip_jpeg(data)?,
        "image/png" => strip_png(data)?,
        "image/webp" => strip_webp(data)?,
        // GIF has no EXIF block; re-encoding would lose the animation.
        _ => data,
    };
    let thumb = img.thumbnail(thumb_px, thumb_px);
    let thumbnail = if thumb.color().has_alpha() {
        let mut out = Vec::new();
        thumb
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .map_err(corrupt)?;
        (Bytes::from(out), "image/png")
    } else {
        (encode_jpeg(&thumb, 80)?, "image/jpeg")
    };
    Ok(Processed {
        bytes,
        width: img.width(),
        height: img.height(),
        thumbnail,
    })
}

fn encode_jpeg(img: &DynamicImage, quality: u8) -> Result<Bytes, ImageError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img.to_rgb8())
        .map_err(corrupt)?;
    Ok(Bytes::from(out))
}

/// Drops APP1 (EXIF, XMP), APP3–APP13, APP15 and comments; keeps JFIF (APP0), the ICC
/// profile (APP2) and Adobe's colour marker (APP14).
fn strip_jpeg(data: Bytes) -> Result<Bytes, ImageError> {
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(data).map_err(corrupt)?;
    jpeg.segments_mut().retain(|s| {
        let m = s.marker();
        !(m == 0xE1 || (0xE3..=0xED).contains(&m) || m == 0xEF || m == 0xFE)
    });
    Ok(jpeg.encoder().bytes())
}

fn strip_png(data: Bytes) -> Result<Bytes, ImageError> {
    let mut png = img_parts::png::Png::from_bytes(data).map_err(corrupt)?;
    png.chunks_mut()
        .retain(|c| !matches!(&c.kind(), b"eXIf" | b"tEXt" | b"iTXt" | b"zTXt" | b"tIME"));
    Ok(png.encoder().bytes())
}

fn strip_webp(data: Bytes) -> Result<Bytes, ImageError> {
    let mut webp = img_parts::webp::WebP::from_bytes(data).map_err(corrupt)?;
    webp.set_exif(None);
    webp.remove_chunks_by_id(*b"XMP ");
    Ok(webp.encoder().bytes())
}

//! Images: refuse decompression bombs, strip metadata (EXIF with its GPS, XMP, comments),
//! apply the EXIF orientation before it is stripped, and make a thumbnail.

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use img_parts::ImageEXIF;
use std::io::Cursor;
use std::sync::Arc;
use tokio::sync::Semaphore;

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
    /// Decoding (and rotating) it would take more memory than allowed: a decompression bomb
    /// within the pixel limit (deep colour, say 16-bit RGBA at 8 bytes a pixel).
    #[error(
        "image is {width}×{height} pixels and needs {} MiB to process; at most {} MiB are allowed",
        needed.div_ceil(MIB), max / MIB
    )]
    TooMuchMemory {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes needed.
        needed: u64,
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

const MIB: u64 = 1024 * 1024;

/// What an image may cost.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    /// Most pixels.
    pub(crate) max_pixels: u64,
    /// Most bytes of pixel buffers at once (see [`ImageError::TooMuchMemory`]).
    pub(crate) max_bytes: u64,
    /// Thumbnails fit in a square this size.
    pub(crate) thumb_px: u32,
}

fn corrupt(e: impl std::fmt::Display) -> ImageError {
    ImageError::Corrupt(e.to_string())
}

/// Processes an upload of type `content_type` (one of the types [`crate::detect::is_image`]
/// accepts). CPU-bound: call from a blocking thread, holding a decode slot.
pub(crate) fn process(
    data: Bytes,
    content_type: &str,
    budget: Budget,
) -> Result<Processed, ImageError> {
    let Budget {
        max_pixels,
        max_bytes,
        thumb_px,
    } = budget;
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
    let too_much = |needed: u64| ImageError::TooMuchMemory {
        width,
        height,
        needed,
        max: max_bytes,
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // Bounds the decoders' own buffers; the image buffer itself is checked below.
    limits.max_alloc = Some(max_bytes);
    reader.limits(limits);
    let decode_error = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => too_much(max_bytes.saturating_add(1)),
        other => corrupt(other),
    };
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let rotated = orientation != image::metadata::Orientation::NoTransforms;
    // The pixel buffer in the decoder's own colour type, known from the header: refused
    // before a pixel is decoded. Applying an orientation makes a rotated copy, and baking it
    // into a JPEG one more 8-bit RGB copy.
    let decoded = decoder.total_bytes();
    let mut needed = decoded;
    if rotated {
        needed = needed.saturating_add(decoded);
        if content_type == "image/jpeg" {
            needed = needed.saturating_add(u64::from(width) * u64::from(height) * 3);
        }
    }
    if needed > max_bytes {
        return Err(too_much(needed));
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
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

/// Runs `work` on a blocking thread once a decode slot is free; the slot is held until the
/// work ends (also when the upload's request is dropped meanwhile: the thread runs on).
pub(crate) async fn decode_in_slot<T: Send + 'static>(
    slots: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(permit);
        out
    })
    .await
    .map_err(|e| e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// With every slot taken, a decode waits; it runs once a slot is free.
    #[tokio::test]
    async fn decodes_wait_for_a_free_slot() {
        let slots = Arc::new(Semaphore::new(1));
        let held = slots.clone().acquire_owned().await.expect("open semaphore");
        let mut waiting = tokio::spawn({
            let slots = slots.clone();
            async move { decode_in_slot(&slots, || 7).await }
        });
        // A negative check: with the only slot held the decode cannot finish, however long
        // this waits; without the slot it would be done at once.
        let quiet = std::time::Duration::from_millis(300);
        assert!(
            tokio::time::timeout(quiet, &mut waiting).await.is_err(),
            "no slot, no decode"
        );
        drop(held);
        assert_eq!(waiting.await.expect("task").expect("slot"), 7);
        assert_eq!(slots.available_permits(), 1, "the slot is given back");
    }

    /// A 16-bit RGBA PNG is eight bytes a pixel: far within the pixel limit, far past the
    /// memory budget. Refused from its header.
    #[test]
    fn deep_colour_images_are_refused_by_the_memory_they_need() {
        let img = image::ImageBuffer::<image::Rgba<u16>, _>::new(64, 64);
        let mut png = Vec::new();
        DynamicImage::ImageRgba16(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encodes");
        let budget = Budget {
            max_pixels: 1_000_000,
            max_bytes: 64 * 64 * 8 - 1,
            thumb_px: 16,
        };
        match process(Bytes::from(png.clone()), "image/png", budget) {
            Err(ImageError::TooMuchMemory { needed, .. }) => assert_eq!(needed, 64 * 64 * 8),
            Err(e) => panic!("wrong refusal: {e}"),
            Ok(_) => panic!("a deep-colour image over the budget was decoded"),
        }
        let roomy = Budget {
            max_bytes: 64 * 64 * 8,
            ..budget
        };
        assert!(process(Bytes::from(png), "image/png", roomy).is_ok());
    }
}

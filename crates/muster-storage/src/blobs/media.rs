//! What an attachment's bytes are: the content type sniffed from its first bytes (never from
//! its name), the structural checks a decoder's lenience would miss, and the thumbnail.
//! Everything here is blocking and runs inside `spawn_blocking`.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::{BlobError, BlobKind, THUMBNAIL_MAX_SIDE, Thumbnail};

/// How many leading bytes are read to sniff a type. `infer`'s matchers for the types we
/// allow look at far fewer (an ISO-BMFF `ftyp` box, the EBML header of WebM), but its
/// Matroska/WebM matcher scans a little way into the header.
pub(super) const SNIFF_BYTES: usize = 8192;

/// What the sniffer found in a file's first bytes, when Muster accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sniffed {
    pub kind: BlobKind,
    pub content_type: &'static str,
    /// The `image` crate can decode it (so it is checked and gets a thumbnail). HEIC cannot
    /// be decoded without a C library: it is accepted as sniffed, without a thumbnail.
    pub decodable: Option<ImageFormat>,
}

/// The accepted types, by the MIME type `infer` reports. Anything else is refused, naming what
/// was found. `video/x-m4v` is an MP4 with Apple's brand; phones record MP4 or QuickTime.
pub(super) fn sniff(head: &[u8]) -> Result<Sniffed, BlobError> {
    let found = infer::get(head);
    let accepted = |kind, content_type, decodable| Sniffed {
        kind,
        content_type,
        decodable,
    };
    match found.map(|t| t.mime_type()) {
        Some("image/jpeg") => Ok(accepted(
            BlobKind::Image,
            "image/jpeg",
            Some(ImageFormat::Jpeg),
        )),
        Some("image/png") => Ok(accepted(
            BlobKind::Image,
            "image/png",
            Some(ImageFormat::Png),
        )),
        Some("image/webp") => Ok(accepted(
            BlobKind::Image,
            "image/webp",
            Some(ImageFormat::WebP),
        )),
        Some("image/heif") => Ok(accepted(BlobKind::Image, "image/heif", None)),
        Some("video/mp4") => Ok(accepted(BlobKind::Video, "video/mp4", None)),
        Some("video/x-m4v") => Ok(accepted(BlobKind::Video, "video/x-m4v", None)),
        Some("video/quicktime") => Ok(accepted(BlobKind::Video, "video/quicktime", None)),
        Some("video/webm") => Ok(accepted(BlobKind::Video, "video/webm", None)),
        Some(other) => Err(BlobError::UnsupportedType {
            found: other.to_owned(),
        }),
        None => Err(BlobError::UnsupportedType {
            found: describe_unknown(head),
        }),
    }
}

/// A name for bytes `infer` does not know, for the refusal's message: text is the usual
/// mistake (a note saved as `photo.jpg`).
fn describe_unknown(head: &[u8]) -> String {
    if head.is_empty() {
        "no bytes".to_owned()
    } else if std::str::from_utf8(head).is_ok()
        || head
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "text".to_owned()
    } else {
        "bytes of an unrecognised type".to_owned()
    }
}

/// Reads up to [`SNIFF_BYTES`] from the start of a file.
pub(super) fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Decodes an image completely (the only proof that it is one) and writes its thumbnail, at
/// most [`THUMBNAIL_MAX_SIDE`] on the longer side, upright by its EXIF orientation, as a
/// JPEG to `thumbnail_path`. A corrupt or truncated image is a [`BlobError::CorruptImage`]:
/// the decoders return errors rather than panic, and the limits bound their memory, so a
/// small file that claims to be 100,000 pixels square is refused before it is allocated.
pub(super) fn check_and_thumbnail(
    image_path: &Path,
    format: ImageFormat,
    thumbnail_path: &Path,
) -> Result<Thumbnail, BlobError> {
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(image_path)?;
    }
    let corrupt = |e: image::ImageError| BlobError::CorruptImage {
        reason: e.to_string(),
    };
    let file = File::open(image_path).map_err(|e| BlobError::io("opening an upload", e))?;
    let mut reader = ImageReader::with_format(BufReader::new(file), format);
    let mut limits = Limits::default();
    // A 48-megapixel phone photo is 8,000 × 6,000; a panorama may be longer on one side.
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    image.apply_orientation(orientation);
    let thumbnail = image
        .thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE)
        .into_rgb8();
    let (width, height) = thumbnail.dimensions();
    let mut encoded = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, 80)
        .encode_image(&thumbnail)
        .map_err(|e| BlobError::io("encoding a thumbnail", std::io::Error::other(e)))?;
    super::write_atomically(thumbnail_path, |file| file.write_all(&encoded))?;
    Ok(Thumbnail {
        width,
        height,
        content_type: "image/jpeg".to_owned(),
    })
}

/// The `image` crate decodes JPEGs leniently (zune-jpeg outside strict mode fills a truncated
/// scan with grey), so a photo cut off in transit would pass as whole. A complete JPEG has an
/// end-of-image marker after its scan data: walk the marker segments to the first start of
/// scan, then look for `FF D9` in what follows. Inside scan data `FF` is always stuffed
/// (`FF 00`) or a restart marker, so `FF D9` there is the real end. Bytes after it are
/// allowed: some phones append a motion clip to the photo.
fn check_jpeg_complete(path: &Path) -> Result<(), BlobError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| BlobError::io("reading an upload", e))?;
    let corrupt = |reason: &str| BlobError::CorruptImage {
        reason: reason.to_owned(),
    };
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(corrupt(
            "the JPEG does not start with a start-of-image marker",
        ));
    }
    let mut at = 2usize;
    loop {
        // Markers may be preceded by fill bytes (FF FF …).
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(corrupt("the JPEG is truncated before its image data"));
        };
        if marker == 0xD9 {
            return Err(corrupt("the JPEG ends before its image data"));
        }
        let (Some(&high), Some(&low)) = (bytes.get(at + 2), bytes.get(at + 3)) else {
            return Err(corrupt("the JPEG is truncated inside a header segment"));
        };
        let length = usize::from(u16::from_be_bytes([high, low]));
        if length < 2 {
            return Err(corrupt("the JPEG has a malformed header segment"));
        }
        let next = at + 2 + length;
        if next > bytes.len() {
            return Err(corrupt("the JPEG is truncated inside a header segment"));
        }
        at = next;
        if marker == 0xDA {
            break;
        }
    }
    let scan = &bytes[at..];
    if scan.windows(2).any(|pair| pair == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(corrupt(
            "the JPEG is truncated: its image data has no end-of-image marker",
        ))
    }
}

/// The dimensions of a stored thumbnail (for a second upload of the same bytes), read from
/// its header only.
pub(super) fn thumbnail_dimensions(path: &Path) -> Option<(u32, u32)> {
    image::image_dimensions(path).ok()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{Rgb, RgbImage};

    use super::*;

    fn jpeg() -> Vec<u8> {
        let picture = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 7]));
        let mut bytes = Cursor::new(Vec::new());
        picture
            .write_to(&mut bytes, ImageFormat::Jpeg)
            .expect("encodes");
        bytes.into_inner()
    }

    fn check(bytes: &[u8]) -> Result<(), BlobError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.jpg");
        std::fs::write(&path, bytes).expect("write");
        check_jpeg_complete(&path)
    }

    #[test]
    fn a_jpeg_is_complete_only_with_its_end_of_image_marker_after_the_scan() {
        let whole = jpeg();
        assert!(check(&whole).is_ok());
        // A phone's motion clip appended after the end marker is allowed.
        let mut with_trailer = whole.clone();
        with_trailer.extend_from_slice(b"\0\0\0\x18ftypmp42 trailing video");
        assert!(check(&with_trailer).is_ok());
        for cut in [2, 20, 200, whole.len() / 2, whole.len() - 2] {
            assert!(
                matches!(check(&whole[..cut]), Err(BlobError::CorruptImage { .. })),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            check(b"not a jpeg"),
            Err(BlobError::CorruptImage { .. })
        ));
    }

    #[test]
    fn types_are_named_by_their_bytes() {
        assert_eq!(
            sniff(&jpeg()).map(|s| s.content_type).ok(),
            Some("image/jpeg")
        );
        let refused = |bytes: &[u8]| match sniff(bytes) {
            Err(BlobError::UnsupportedType { found }) => found,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(refused(b"GIF89a\x01\x00\x01\x00"), "image/gif");
        assert_eq!(refused(b"plain words"), "text");
        assert_eq!(refused(b""), "no bytes");
        assert_eq!(
            refused(&[0x00, 0x9F, 0x92, 0x96, 0xFF]),
            "bytes of an unrecognised type"
        );
    }
}

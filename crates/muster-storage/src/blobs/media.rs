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
    if format == ImageFormat::WebP {
        check_webp_chunks(image_path)?;
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
    // `into_decoder` checks the sides only, and `from_decoder` allocates the whole pixel
    // buffer without asking `max_alloc`: a 50 KB PNG of 20,000 × 20,000 16-bit pixels would
    // ask for 3.2 GB, and a failed allocation aborts the server. So the size is checked here.
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_IMAGE_PIXELS {
        return Err(BlobError::CorruptImage {
            reason: format!(
                "the image is {width} × {height} pixels, more than the {} megapixels a photo here may have",
                MAX_IMAGE_PIXELS / 1_000_000
            ),
        });
    }
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(BlobError::CorruptImage {
            reason: format!(
                "the image is {width} × {height} pixels of {} bytes each, more than the {} MB a photo here may take once decoded",
                u64::from(decoder.color_type().bytes_per_pixel()),
                MAX_DECODED_BYTES >> 20
            ),
        });
    }
    let orientation = decoder.orientation().map_err(corrupt)?;
    let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    // Turned upright once small: turning the whole photo would copy it again.
    let mut thumbnail = image.thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE);
    drop(image);
    thumbnail.apply_orientation(orientation);
    let thumbnail = thumbnail.into_rgb8();
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

/// The most pixels a photo may have: a 108-megapixel phone camera's, with room to spare.
const MAX_IMAGE_PIXELS: u64 = 120_000_000;

/// The most bytes one decoded image may take (RGB at 8 bits of a 120-megapixel photo is
/// 360 MB; 16-bit or RGBA pictures that large are refused).
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// An upload's bytes, for the checks that walk a file's structure before it is decoded.
fn read_upload(path: &Path) -> Result<Vec<u8>, BlobError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| BlobError::io("reading an upload", e))?;
    Ok(bytes)
}

fn corrupt(reason: &str) -> BlobError {
    BlobError::CorruptImage {
        reason: reason.to_owned(),
    }
}

/// The WebP decoder reads a chunk by allocating the size it declares (its EXIF chunk, for
/// the orientation, with no bound): a 200-byte file declaring a 4 GiB chunk would ask for
/// 4 GiB. So the RIFF chunks are walked first, and one that runs past the file's end, or a
/// RIFF size that does, refuses the file.
fn check_webp_chunks(path: &Path) -> Result<(), BlobError> {
    let bytes = read_upload(path)?;
    let size_at = |at: usize| -> Option<usize> {
        let field: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(field)).ok()
    };
    if bytes.get(..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WEBP") {
        return Err(corrupt("the WebP does not start with its RIFF header"));
    }
    let riff_end = size_at(4)
        .and_then(|size| size.checked_add(8))
        .ok_or_else(|| corrupt("the WebP is truncated in its RIFF header"))?;
    if riff_end > bytes.len() {
        return Err(corrupt("the WebP declares more bytes than the file holds"));
    }
    let mut at = 12usize;
    while at < riff_end {
        let size =
            size_at(at + 4).ok_or_else(|| corrupt("the WebP is truncated in a chunk header"))?;
        // Data, padded to an even length.
        let end = size
            .checked_add(size % 2)
            .and_then(|data| data.checked_add(at + 8))
            .filter(|&end| end <= riff_end)
            .ok_or_else(|| corrupt("a WebP chunk runs past the end of the file"))?;
        at = end;
    }
    Ok(())
}

/// The `image` crate decodes JPEGs leniently (zune-jpeg outside strict mode fills a truncated
/// scan with grey), so a photo cut off in transit would pass as whole. A complete JPEG has an
/// end-of-image marker after its scan data: walk the marker segments to the first start of
/// scan, then look for `FF D9` in what follows. Inside scan data `FF` is always stuffed
/// (`FF 00`) or a restart marker, so `FF D9` there is the real end. Bytes after it are
/// allowed: some phones append a motion clip to the photo.
fn check_jpeg_complete(path: &Path) -> Result<(), BlobError> {
    let bytes = read_upload(path)?;
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

    /// A PNG chunk: length, type, data and its CRC.
    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = u32::try_from(data.len())
            .expect("small")
            .to_be_bytes()
            .to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        chunk.extend_from_slice(&crc.finalize().to_be_bytes());
        chunk
    }

    fn thumbnail_of(bytes: &[u8], format: ImageFormat) -> Result<Thumbnail, BlobError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (image, thumbnail) = (dir.path().join("image"), dir.path().join("thumb"));
        std::fs::write(&image, bytes).expect("write");
        check_and_thumbnail(&image, format, &thumbnail)
    }

    #[test]
    fn an_image_claiming_more_pixels_than_a_photo_has_is_refused_before_it_is_decoded() {
        // 20,000 × 20,000 RGBA at 16 bits (3.2 GB decoded) in a file of a few dozen bytes:
        // within the limit on each side, far beyond it in all.
        let mut header = Vec::new();
        header.extend_from_slice(&20_000u32.to_be_bytes());
        header.extend_from_slice(&20_000u32.to_be_bytes());
        header.extend_from_slice(&[16, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(png_chunk(b"IHDR", &header));
        png.extend(png_chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ));
        png.extend(png_chunk(b"IEND", &[]));
        match thumbnail_of(&png, ImageFormat::Png) {
            Err(BlobError::CorruptImage { reason }) => {
                assert!(reason.contains("20000 × 20000"), "{reason}")
            }
            other => panic!("expected the size refused, got {other:?}"),
        }
        // A photo of an honest size still gets its thumbnail.
        assert!(thumbnail_of(&jpeg(), ImageFormat::Jpeg).is_ok());
    }

    #[test]
    fn a_webp_chunk_running_past_the_end_is_refused_before_it_is_read() {
        // A VP8X WebP whose EXIF chunk declares 4 GiB, in a file of a few dozen bytes.
        let mut chunks = Vec::new();
        chunks.extend_from_slice(b"VP8X");
        chunks.extend_from_slice(&10u32.to_le_bytes());
        chunks.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        chunks.extend_from_slice(b"EXIF");
        chunks.extend_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(
            &u32::try_from(chunks.len() + 4)
                .expect("small")
                .to_le_bytes(),
        );
        webp.extend_from_slice(b"WEBP");
        webp.extend_from_slice(&chunks);
        match thumbnail_of(&webp, ImageFormat::WebP) {
            Err(BlobError::CorruptImage { reason }) => {
                assert!(reason.contains("past the end"), "{reason}")
            }
            other => panic!("expected the chunk refused, got {other:?}"),
        }
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

//! Compression of a record batch's records section, for the codecs Kafka assigns to attribute
//! bits 0–2: gzip, snappy, lz4 and zstd.
//!
//! A compressed v2 batch keeps its 61-byte header in the clear and replaces the records that
//! follow it with one compressed stream of them. The stream formats are the ones the Java client
//! writes and reads:
//!
//! - **gzip**: an RFC 1952 gzip stream (`flate2`); several concatenated members are accepted.
//! - **snappy**: the xerial `SnappyOutputStream` framing (`snap` for the blocks): a 16-byte header
//!   (`0x82 "SNAPPY" 0x00`, then version 1 and compatible version 1 as big-endian `i32`), then
//!   chunks of `[big-endian i32 compressed length][raw snappy block]`, each block holding at most
//!   32 KiB of input. Reading also accepts a plain raw snappy block (what some non-Java clients
//!   write), told apart by the header: raw snappy cannot begin with the xerial magic, because
//!   after its length varint (`0x82 0x53`) it would open with a back-reference into no output.
//! - **lz4**: the standard LZ4 frame format (`lz4_flex`), as magic 2 requires; written with
//!   independent 64 KiB blocks and no checksums or content size, the settings the Java reader
//!   decodes block by block.
//! - **zstd**: a standard zstd frame (`zstd`), written at level 3, Kafka's default.
//!
//! Decompression is bounded: the caller names the most output it accepts, and a stream that
//! would produce more stops with [`CompressionError::TooLarge`] after allocating at most that
//! much, so a small batch cannot expand into an unbounded allocation. Malformed input is an
//! error value, never a panic.

use std::io::{self, Read, Write};

use thiserror::Error;

use crate::record_batch::Compression;

/// Why a buffer could not be compressed or decompressed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompressionError {
    /// Codec ids 5–7 are not assigned by Kafka.
    #[error("compression codec id {0} is not one Kafka assigns")]
    UnknownCodec(u8),
    /// The input is not a valid stream of the codec.
    #[error("{codec:?} data is corrupt: {reason}")]
    Corrupt { codec: Compression, reason: String },
    /// The input decompresses to more than the caller's bound.
    #[error("{codec:?} data decompresses to more than {limit} bytes")]
    TooLarge { codec: Compression, limit: usize },
    /// The codec failed to compress (an internal error of the codec library).
    #[error("{codec:?} compression failed: {reason}")]
    CompressFailed { codec: Compression, reason: String },
}

/// The value of attribute bits 0–2 that names `codec`.
pub fn codec_id(codec: Compression) -> u8 {
    match codec {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
        Compression::Unknown(id) => id & 0x07,
    }
}

/// Compresses `data` into one stream of `codec`, in the framing the Java client writes.
/// [`Compression::None`] returns a copy of `data`.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => gzip_compress(data),
        Compression::Snappy => xerial_compress(data),
        Compression::Lz4 => lz4_compress(data),
        Compression::Zstd => zstd_compress(data),
        Compression::Unknown(id) => Err(CompressionError::UnknownCodec(id)),
    }
}

/// Decompresses one stream of `codec`, refusing to produce more than `max_output_bytes`.
/// [`Compression::None`] returns a copy of `data`, under the same bound.
pub fn decompress(codec: Compression, data: &[u8], max_output_bytes: usize) -> Result<Vec<u8>, CompressionError> {
    let max = max_output_bytes;
    match codec {
        Compression::Unknown(id) => Err(CompressionError::UnknownCodec(id)),
        Compression::None if data.len() > max => Err(CompressionError::TooLarge { codec, limit: max }),
        Compression::None => Ok(data.to_vec()),
        // Every codec's stream has a header of some bytes, so nothing at all is never a valid
        // stream (some decoders would otherwise read it as empty output).
        _ if data.is_empty() => Err(corrupt(codec, "empty input")),
        Compression::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(data), data.len(), max),
        Compression::Snappy => snappy_decompress(data, max),
        Compression::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), data.len(), max),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt(codec, e))?;
            read_bounded(codec, decoder, data.len(), max)
        }
    }
}

fn corrupt(codec: Compression, reason: impl ToString) -> CompressionError {
    CompressionError::Corrupt { codec, reason: reason.to_string() }
}

fn compress_failed(codec: Compression, reason: impl ToString) -> CompressionError {
    CompressionError::CompressFailed { codec, reason: reason.to_string() }
}

/// Bytes read from a decompressing reader per call.
const READ_CHUNK: usize = 32 * 1024;

/// Drains `reader` into a vector of at most `max` bytes; more output is [`CompressionError::TooLarge`].
/// The vector grows by doubling but never past `max`, so a bomb costs at most `max` bytes of
/// memory (plus one read chunk) before it is refused.
fn read_bounded(
    codec: Compression,
    mut reader: impl Read,
    input_len: usize,
    max: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out: Vec<u8> = Vec::with_capacity(input_len.saturating_mul(2).min(max));
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(codec, e)),
        };
        let room = max - out.len(); // out.len() <= max holds on every pass
        if n > room {
            return Err(CompressionError::TooLarge { codec, limit: max });
        }
        if out.capacity() - out.len() < n {
            // Double, but no further than the bound.
            let grow = out.len().max(n).min(room);
            out.reserve_exact(grow);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn gzip_compress(data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Gzip;
    let level = flate2::Compression::default();
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2 + 32), level);
    encoder.write_all(data).map_err(|e| compress_failed(codec, e))?;
    encoder.finish().map_err(|e| compress_failed(codec, e))
}

/// The first 8 bytes of a xerial snappy stream.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0x00];
/// Magic, then version and compatible version (big-endian i32 each).
const XERIAL_HEADER_SIZE: usize = 16;
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
/// Input bytes per chunk, as the Java `SnappyOutputStream` uses by default.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

fn xerial_compress(data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Snappy;
    let chunks = data.len().div_ceil(XERIAL_BLOCK_SIZE);
    let mut out = Vec::with_capacity(XERIAL_HEADER_SIZE + chunks * 4 + snap::raw::max_compress_len(data.len()));
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_COMPATIBLE_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in data.chunks(XERIAL_BLOCK_SIZE) {
        let length_at = out.len();
        out.extend_from_slice(&[0; 4]); // chunk length, written below
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(block.len()), 0);
        let written = encoder.compress(block, &mut out[start..]).map_err(|e| compress_failed(codec, e))?;
        out.truncate(start + written);
        let length = i32::try_from(written).expect("a compressed 32 KiB block is far under 2 GiB");
        out[length_at..start].copy_from_slice(&length.to_be_bytes());
    }
    Ok(out)
}

fn snappy_decompress(data: &[u8], max: usize) -> Result<Vec<u8>, CompressionError> {
    if data.starts_with(&XERIAL_MAGIC) { xerial_decompress(data, max) } else { raw_snappy_decompress(data, max) }
}

/// One raw snappy block: its leading varint gives the output size, checked before allocating.
fn raw_snappy_decompress(data: &[u8], max: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(data).map_err(|e| corrupt(codec, e))?;
    if len > max {
        return Err(CompressionError::TooLarge { codec, limit: max });
    }
    let mut out = vec![0; len];
    let written = snap::raw::Decoder::new().decompress(data, &mut out).map_err(|e| corrupt(codec, e))?;
    out.truncate(written);
    Ok(out)
}

/// A xerial stream. A header found where a chunk length is expected (two streams written back
/// to back) is skipped: a chunk length is never negative and the magic read as a big-endian i32
/// is, so the two cannot be confused.
fn xerial_decompress(data: &[u8], max: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Snappy;
    let mut rest = data;
    let mut out = Vec::new();
    let mut decoder = snap::raw::Decoder::new();
    while !rest.is_empty() {
        if rest.starts_with(&XERIAL_MAGIC) {
            if rest.len() < XERIAL_HEADER_SIZE {
                return Err(corrupt(codec, "truncated xerial snappy header"));
            }
            rest = &rest[XERIAL_HEADER_SIZE..];
            continue;
        }
        let Some((length, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt(codec, "truncated xerial snappy chunk length"));
        };
        let length = i32::from_be_bytes(*length);
        // A raw snappy block is at least one byte (its length varint).
        if length <= 0 {
            return Err(corrupt(codec, format!("invalid xerial snappy chunk length {length}")));
        }
        let length = length as usize;
        if length > tail.len() {
            return Err(corrupt(codec, "xerial snappy chunk runs past the end of the data"));
        }
        let (block, tail) = tail.split_at(length);
        rest = tail;
        let block_len = snap::raw::decompress_len(block).map_err(|e| corrupt(codec, e))?;
        if block_len > max.saturating_sub(out.len()) {
            return Err(CompressionError::TooLarge { codec, limit: max });
        }
        let start = out.len();
        out.resize(start + block_len, 0);
        let written = decoder.decompress(block, &mut out[start..]).map_err(|e| corrupt(codec, e))?;
        out.truncate(start + written);
    }
    Ok(out)
}

/// A whole LZ4 frame holding nothing: magic, FLG 0x60 (version 1, independent blocks, no
/// checksums, no content size), BD 0x40 (64 KiB blocks), header checksum 0x82 (second byte of
/// XXH32 over FLG and BD), end mark. `lz4_flex` writes no frame at all for empty input, while a
/// reader (the Java one included) expects at least this.
const LZ4_EMPTY_FRAME: [u8; 11] = [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0, 0, 0, 0];

fn lz4_compress(data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    let codec = Compression::Lz4;
    if data.is_empty() {
        return Ok(LZ4_EMPTY_FRAME.to_vec());
    }
    let mut info = FrameInfo::new();
    info.block_size = BlockSize::Max64KB;
    info.block_mode = BlockMode::Independent;
    info.block_checksums = false;
    info.content_checksum = false;
    info.content_size = None;
    let mut encoder = FrameEncoder::with_frame_info(info, Vec::with_capacity(data.len() / 2 + 32));
    encoder.write_all(data).map_err(|e| compress_failed(codec, e))?;
    encoder.finish().map_err(|e| compress_failed(codec, e))
}

/// Kafka's default zstd level.
const ZSTD_LEVEL: i32 = 3;

fn zstd_compress(data: &[u8]) -> Result<Vec<u8>, CompressionError> {
    zstd::bulk::compress(data, ZSTD_LEVEL).map_err(|e| compress_failed(Compression::Zstd, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODECS: [Compression; 4] = [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// Deterministic bytes: a repetitive stretch (compressible) then a xorshift stretch (not).
    fn sample(len: usize) -> Vec<u8> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|i| {
                if i % 1000 < 600 {
                    b"sluice record payload "[i % 22]
                } else {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                }
            })
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        for codec in CODECS {
            for len in [0, 1, 22, 1000, XERIAL_BLOCK_SIZE, XERIAL_BLOCK_SIZE + 1, 200_000] {
                let data = sample(len);
                let packed = compress(codec, &data).unwrap_or_else(|e| panic!("{codec:?} {len}: {e}"));
                let unpacked = decompress(codec, &packed, len).unwrap_or_else(|e| panic!("{codec:?} {len}: {e}"));
                assert_eq!(unpacked, data, "{codec:?} round trip of {len} bytes");
            }
        }
    }

    #[test]
    fn empty_input_compresses_to_a_valid_stream() {
        for codec in CODECS {
            let packed = compress(codec, &[]).expect("compresses");
            assert!(!packed.is_empty(), "{codec:?} wrote nothing for empty input");
            assert_eq!(decompress(codec, &packed, 0), Ok(Vec::new()), "{codec:?}");
        }
        // The hand-written empty LZ4 frame has the same descriptor lz4_flex writes for data.
        let packed = compress(Compression::Lz4, b"x").expect("compresses");
        assert_eq!(&packed[..7], &LZ4_EMPTY_FRAME[..7]);
    }

    #[test]
    fn compressible_data_shrinks() {
        let data = vec![b'a'; 100_000];
        for codec in CODECS {
            let packed = compress(codec, &data).expect("compresses");
            assert!(packed.len() < data.len() / 10, "{codec:?} packed 100 kB of one byte into {}", packed.len());
        }
    }

    #[test]
    fn none_is_identity_and_unknown_is_refused() {
        assert_eq!(compress(Compression::None, b"abc"), Ok(b"abc".to_vec()));
        assert_eq!(decompress(Compression::None, b"abc", 3), Ok(b"abc".to_vec()));
        assert!(matches!(decompress(Compression::None, b"abc", 2), Err(CompressionError::TooLarge { .. })));
        assert_eq!(compress(Compression::Unknown(6), b"abc"), Err(CompressionError::UnknownCodec(6)));
        assert_eq!(decompress(Compression::Unknown(5), b"abc", 10), Err(CompressionError::UnknownCodec(5)));
    }

    #[test]
    fn output_beyond_the_bound_is_refused() {
        let data = vec![0u8; 100_000];
        for codec in CODECS {
            let packed = compress(codec, &data).expect("compresses");
            assert_eq!(decompress(codec, &packed, 100_000).expect("exactly at the bound").len(), 100_000);
            assert_eq!(
                decompress(codec, &packed, 99_999),
                Err(CompressionError::TooLarge { codec, limit: 99_999 }),
                "{codec:?}"
            );
            assert_eq!(decompress(codec, &packed, 0), Err(CompressionError::TooLarge { codec, limit: 0 }), "{codec:?}");
        }
        // Raw snappy declares its size up front; the bound is checked before allocating.
        let raw = snap::raw::Encoder::new().compress_vec(&data).expect("raw snappy");
        assert!(matches!(decompress(Compression::Snappy, &raw, 99_999), Err(CompressionError::TooLarge { .. })));
    }

    #[test]
    fn snappy_writes_the_xerial_framing() {
        let data = sample(XERIAL_BLOCK_SIZE * 2 + 10);
        let packed = compress(Compression::Snappy, &data).expect("compresses");
        assert_eq!(&packed[..8], &XERIAL_MAGIC);
        assert_eq!(&packed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // Walk the chunks by hand: three of them, each a raw block of at most 32 KiB.
        let mut rest = &packed[16..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            let block = &rest[4..4 + len];
            let piece = snap::raw::Decoder::new().decompress_vec(block).expect("raw block");
            assert!(piece.len() <= XERIAL_BLOCK_SIZE);
            out.extend_from_slice(&piece);
            rest = &rest[4 + len..];
        }
        assert_eq!(out, data);
    }

    #[test]
    fn snappy_reads_raw_and_xerial_input() {
        let data = sample(70_000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).expect("raw snappy");
        assert_eq!(decompress(Compression::Snappy, &raw, data.len()).expect("raw"), data);

        // A xerial stream assembled here from raw blocks of uneven sizes.
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&1i32.to_be_bytes());
        framed.extend_from_slice(&1i32.to_be_bytes());
        for piece in [&data[..10], &data[10..40_000], &data[40_000..]] {
            let block = snap::raw::Encoder::new().compress_vec(piece).expect("block");
            framed.extend_from_slice(&(block.len() as i32).to_be_bytes());
            framed.extend_from_slice(&block);
        }
        assert_eq!(decompress(Compression::Snappy, &framed, data.len()).expect("xerial"), data);

        // Two streams back to back (header repeated mid-stream) read as their concatenation.
        let mut twice = framed.clone();
        twice.extend_from_slice(&framed);
        let mut want = data.clone();
        want.extend_from_slice(&data);
        assert_eq!(decompress(Compression::Snappy, &twice, want.len()).expect("concatenated"), want);

        // A header with no chunks is an empty stream.
        assert_eq!(decompress(Compression::Snappy, &framed[..16], 0).expect("header only"), Vec::<u8>::new());
    }

    #[test]
    fn malformed_xerial_streams_are_errors() {
        let packed = compress(Compression::Snappy, &sample(5000)).expect("compresses");
        for bad in [
            &packed[..10],               // header cut short
            &packed[..18],               // chunk length cut short
            &packed[..packed.len() - 1], // chunk cut short
        ] {
            assert!(matches!(decompress(Compression::Snappy, bad, 1 << 20), Err(CompressionError::Corrupt { .. })));
        }
        let mut negative = packed[..16].to_vec();
        negative.extend_from_slice(&(-5i32).to_be_bytes());
        negative.extend_from_slice(&[0; 8]);
        assert!(matches!(decompress(Compression::Snappy, &negative, 1 << 20), Err(CompressionError::Corrupt { .. })));
        let mut zero = packed[..16].to_vec();
        zero.extend_from_slice(&0i32.to_be_bytes());
        assert!(matches!(decompress(Compression::Snappy, &zero, 1 << 20), Err(CompressionError::Corrupt { .. })));
    }

    #[test]
    fn garbage_is_an_error_for_every_codec() {
        let garbage: Vec<u8> = b"\xde\xad\xbe\xef".repeat(16);
        for codec in CODECS {
            assert!(matches!(decompress(codec, &garbage, 1 << 20), Err(CompressionError::Corrupt { .. })), "{codec:?}");
            assert!(matches!(decompress(codec, &[], 1 << 20), Err(CompressionError::Corrupt { .. })), "{codec:?}");
        }
    }

    #[test]
    fn damaged_streams_never_panic() {
        let data = sample(100_000);
        for codec in CODECS {
            let packed = compress(codec, &data).expect("compresses");
            for cut in [1, 2, 5, 10, 17, 30, packed.len() / 2, packed.len() - 1] {
                let _ = decompress(codec, &packed[..cut.min(packed.len())], data.len());
            }
            for i in (0..packed.len()).step_by(packed.len() / 50 + 1) {
                let mut flipped = packed.clone();
                flipped[i] ^= 0x5a;
                if let Ok(out) = decompress(codec, &flipped, data.len()) {
                    assert!(out.len() <= data.len());
                }
            }
        }
    }

    proptest! {
        /// Arbitrary bytes under every codec: an error or bounded output, never a panic.
        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), codec in 0usize..4, xerial in any::<bool>()) {
            let mut input = data;
            if xerial && CODECS[codec] == Compression::Snappy {
                let mut framed = XERIAL_MAGIC.to_vec();
                framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
                framed.extend_from_slice(&input);
                input = framed;
            }
            if let Ok(out) = decompress(CODECS[codec], &input, 4096) {
                prop_assert!(out.len() <= 4096);
            }
        }
    }
}

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
//!
//! [`decompress`] returns the whole output; [`Decompressor`] hands it out piece by piece into
//! the caller's buffer, so a reader that only looks at the output once (the broker validating a
//! producer's records) holds a few codec buffers of memory however far the stream expands.

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

/// Compresses `data` like [`compress`], at `level` for gzip (1–9; -1 for zlib's default) and
/// zstd (any level zstd accepts); `None` is each codec's default. snappy has no levels, nor does
/// the LZ4 encoder used here (it always compresses at LZ4's fast level; `compression.lz4.level`
/// is accepted and has no effect).
pub fn compress_at_level(codec: Compression, data: &[u8], level: Option<i32>) -> Result<Vec<u8>, CompressionError> {
    match (codec, level) {
        (Compression::Gzip, Some(level)) if (1..=9).contains(&level) => {
            gzip_compress_with(data, flate2::Compression::new(level as u32))
        }
        (Compression::Zstd, Some(level)) => {
            zstd::bulk::compress(data, level).map_err(|e| compress_failed(Compression::Zstd, e))
        }
        _ => compress(codec, data),
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

/// The most a raw snappy block can expand: its densest element is a 3-byte copy of 64 bytes, so
/// a block declaring more than this many times its own size cannot be valid, and is refused
/// before its output is allocated.
const SNAPPY_MAX_EXPANSION: usize = 22;

/// Reads one compressed stream in pieces, refusing to produce more than a bound in total
/// ([`CompressionError::TooLarge`] as soon as the stream goes past it). Memory is the codec's
/// own buffers (gzip's 32 KiB window, an lz4 block of at most 4 MiB, a zstd window of at most
/// the bound, a snappy block of at most 22 times its compressed size), never the whole output.
pub struct Decompressor<'a> {
    codec: Compression,
    inner: StreamDecoder<'a>,
    produced: usize,
    max: usize,
}

enum StreamDecoder<'a> {
    Gzip(Box<flate2::bufread::MultiGzDecoder<&'a [u8]>>),
    Snappy(SnappyReader<'a>),
    Lz4(Lz4Reader<'a>),
    Zstd(Box<zstd::stream::read::Decoder<'a, &'a [u8]>>),
}

/// Decoder state kept from one decompression to the next (one per thread, say), so that
/// decompressing many small batches does not create a zstd context or allocate and zero an LZ4
/// block buffer each time: either costs more than decoding a 1 KiB batch. What it keeps is
/// bounded: a zstd context (which frees a window left oversized by a large frame after a while,
/// by zstd's own rule) and one 64 KiB LZ4 block buffer (frames with larger blocks get a buffer
/// of their own).
#[derive(Default)]
pub struct DecoderCache {
    zstd: Option<zstd::zstd_safe::DCtx<'static>>,
    lz4_block: Vec<u8>,
    /// Output of [`DecoderCache::zstd_one_shot`]: at most [`ZSTD_ONE_SHOT_MAX_BYTES`].
    output: Vec<u8>,
}

/// The largest zstd frame [`DecoderCache::zstd_one_shot`] decodes in one call.
pub const ZSTD_ONE_SHOT_MAX_BYTES: usize = 1024 * 1024;

impl DecoderCache {
    /// Decodes `data` in one call into a buffer of the cache and returns the output, when it is
    /// exactly one zstd frame that declares a content size of at most `max_output_bytes` and
    /// [`ZSTD_ONE_SHOT_MAX_BYTES`] (what the Java client and librdkafka write for a batch);
    /// `None` otherwise, for a [`Decompressor`] to read. One call skips the streaming decoder's
    /// copy through its window, a good part of the cost of a small batch.
    pub fn zstd_one_shot(&mut self, data: &[u8], max_output_bytes: usize) -> Option<Result<&[u8], CompressionError>> {
        use zstd::zstd_safe;
        let size = match zstd_safe::get_frame_content_size(data) {
            Ok(Some(size)) if size <= max_output_bytes.min(ZSTD_ONE_SHOT_MAX_BYTES) as u64 => size as usize,
            _ => return None,
        };
        if zstd_safe::find_frame_compressed_size(data) != Ok(data.len()) {
            return None;
        }
        let codec = Compression::Zstd;
        let context = self.zstd.get_or_insert_with(zstd_safe::DCtx::create);
        self.output.clear();
        self.output.reserve(size);
        let written = match context.decompress(&mut self.output, data) {
            Ok(written) => written,
            Err(code) => return Some(Err(corrupt(codec, zstd_safe::get_error_name(code)))),
        };
        if written != size {
            return Some(Err(corrupt(codec, "frame content size mismatch")));
        }
        Some(Ok(&self.output[..written]))
    }
}

impl std::fmt::Debug for DecoderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecoderCache")
            .field("zstd", &self.zstd.is_some())
            .field("lz4_block", &self.lz4_block.len())
            .field("output", &self.output.capacity())
            .finish()
    }
}

impl std::fmt::Debug for Decompressor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("codec", &self.codec)
            .field("produced", &self.produced)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<'a> Decompressor<'a> {
    /// A reader of `data`, one stream of `codec`, that produces at most `max_output_bytes`.
    /// [`Compression::None`] and unknown codecs are refused: there is nothing to decompress.
    pub fn new(codec: Compression, data: &'a [u8], max_output_bytes: usize) -> Result<Self, CompressionError> {
        Self::build(codec, data, max_output_bytes, None)
    }

    /// [`Decompressor::new`], reusing the decoder state kept in `cache`.
    pub fn with_cache(
        codec: Compression,
        data: &'a [u8],
        max_output_bytes: usize,
        cache: &'a mut DecoderCache,
    ) -> Result<Self, CompressionError> {
        Self::build(codec, data, max_output_bytes, Some(cache))
    }

    fn build(
        codec: Compression,
        data: &'a [u8],
        max_output_bytes: usize,
        cache: Option<&'a mut DecoderCache>,
    ) -> Result<Self, CompressionError> {
        let inner = match codec {
            Compression::Unknown(id) => return Err(CompressionError::UnknownCodec(id)),
            Compression::None => return Err(corrupt(codec, "not a compressed stream")),
            // As in `decompress`: no codec's stream is zero bytes long.
            _ if data.is_empty() => return Err(corrupt(codec, "empty input")),
            // The input is in memory: no buffered reader in between.
            Compression::Gzip => StreamDecoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(data))),
            Compression::Snappy => StreamDecoder::Snappy(SnappyReader::new(data, max_output_bytes)),
            Compression::Lz4 => StreamDecoder::Lz4(Lz4Reader::new(data, cache.map(|c| &mut c.lz4_block))?),
            Compression::Zstd => {
                // A frame that declares its size says up front whether it is past the bound.
                if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data)
                    && size > max_output_bytes as u64
                {
                    return Err(CompressionError::TooLarge { codec, limit: max_output_bytes });
                }
                let mut decoder = match cache {
                    Some(cache) => {
                        let context = cache.zstd.get_or_insert_with(zstd::zstd_safe::DCtx::create);
                        zstd::stream::read::Decoder::with_context(data, context)
                    }
                    None => zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt(codec, e))?,
                };
                // A frame may not ask for a window (memory the decoder allocates up front) larger
                // than the whole output may grow.
                decoder.window_log_max(zstd_window_log_max(max_output_bytes)).map_err(|e| corrupt(codec, e))?;
                StreamDecoder::Zstd(Box::new(decoder))
            }
        };
        Ok(Decompressor { codec, inner, produced: 0, max: max_output_bytes })
    }

    /// Decompresses the next piece into `out`, returning how many bytes were written; 0 (with a
    /// non-empty `out`) once the stream has ended cleanly.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, CompressionError> {
        let codec = self.codec;
        // Ask for one byte past the bound at most: enough to tell "exactly at it" from "past it".
        let room = (self.max - self.produced).saturating_add(1);
        let want = out.len().min(room);
        let out = &mut out[..want];
        let n = match &mut self.inner {
            StreamDecoder::Gzip(d) => read_io(codec, d.as_mut(), out)?,
            StreamDecoder::Snappy(d) => d.read(out)?,
            StreamDecoder::Lz4(d) => d.read(out)?,
            StreamDecoder::Zstd(d) => read_io(codec, d.as_mut(), out)?,
        };
        if n > self.max - self.produced {
            return Err(CompressionError::TooLarge { codec, limit: self.max });
        }
        self.produced += n;
        assert!(self.produced <= self.max, "produced {} past the bound {}", self.produced, self.max);
        Ok(n)
    }

    /// Bytes produced so far.
    pub fn produced(&self) -> usize {
        self.produced
    }
}

/// One `read` of a codec's reader, retried when interrupted; any other I/O error means the
/// stream is corrupt (the input is in memory: nothing else can fail).
fn read_io(codec: Compression, reader: &mut impl Read, out: &mut [u8]) -> Result<usize, CompressionError> {
    loop {
        match reader.read(out) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result.map_err(|e| corrupt(codec, e)),
        }
    }
}

/// LZ4 frame magic number, little-endian on the wire.
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// The largest block an LZ4 decoder of a [`DecoderCache`] keeps a buffer for: 64 KiB, what the
/// Java client and librdkafka write.
const LZ4_CACHED_BLOCK_BYTES: usize = 64 * 1024;

/// One LZ4 frame (the standard frame format, as magic 2 requires), block by block, read as the
/// Java client's reader reads it: the header checksum is checked, each block is decoded on its
/// own (a block that refers back into an earlier one fails, as it does there), and the frame
/// must end with its end mark. Stricter than that reader in two ways a valid frame never
/// notices: a content checksum or size, when present, is checked, and nothing may follow the
/// frame. (`lz4_flex`'s frame decoder reads a frame cut before its end mark as complete, which
/// the Java reader refuses, and allocates and zeroes its buffers per frame.)
struct Lz4Reader<'a> {
    rest: &'a [u8],
    block_max: usize,
    block_checksums: bool,
    content_hash: Option<twox_hash::XxHash32>,
    content_size: Option<u64>,
    content_len: u64,
    buffer: Lz4Buffer<'a>,
    block: Lz4Block<'a>,
    position: usize,
    ended: bool,
}

/// Where decoded blocks go: the cache's buffer, or one of the frame's own.
enum Lz4Buffer<'a> {
    Cached(&'a mut Vec<u8>),
    Own(Vec<u8>),
}

/// The block being read out: decoded into the buffer, or stored uncompressed in the input.
enum Lz4Block<'a> {
    Decoded(usize),
    Stored(&'a [u8]),
}

impl<'a> Lz4Reader<'a> {
    fn new(data: &'a [u8], cache: Option<&'a mut Vec<u8>>) -> Result<Self, CompressionError> {
        let bad = |reason: &str| Err(corrupt(Compression::Lz4, reason));
        if data.len() < 7 || data[..4] != LZ4_MAGIC {
            return bad("not an LZ4 frame");
        }
        let (flags, descriptor) = (data[4], data[5]);
        if flags >> 6 != 1 {
            return bad("unsupported LZ4 frame version");
        }
        if flags & 0x02 != 0 || descriptor & 0x8f != 0 {
            return bad("reserved bits set in the LZ4 frame descriptor");
        }
        if flags & 0x01 != 0 {
            return bad("LZ4 frames with a dictionary are not supported");
        }
        let block_max = match descriptor >> 4 {
            4 => 64 * 1024,
            5 => 256 * 1024,
            6 => 1024 * 1024,
            7 => 4 * 1024 * 1024,
            _ => return bad("invalid LZ4 block size"),
        };
        // FLG, BD, an optional 8-byte content size; then the header checksum byte.
        let has_size = flags & 0x08 != 0;
        let checksum_at = 6 + if has_size { 8 } else { 0 };
        if data.len() <= checksum_at {
            return bad("truncated LZ4 frame header");
        }
        let content_size =
            has_size.then(|| u64::from_le_bytes(data[6..14].try_into().expect("the header holds the 8-byte size")));
        // The second byte of the XXH32 of the descriptor.
        if (twox_hash::XxHash32::oneshot(0, &data[4..checksum_at]) >> 8) as u8 != data[checksum_at] {
            return bad("LZ4 frame header checksum mismatch");
        }
        let buffer = match cache {
            Some(buffer) if block_max <= LZ4_CACHED_BLOCK_BYTES => {
                if buffer.len() < LZ4_CACHED_BLOCK_BYTES {
                    buffer.resize(LZ4_CACHED_BLOCK_BYTES, 0);
                }
                Lz4Buffer::Cached(buffer)
            }
            _ => Lz4Buffer::Own(vec![0; block_max]),
        };
        Ok(Lz4Reader {
            rest: &data[checksum_at + 1..],
            block_max,
            block_checksums: flags & 0x10 != 0,
            content_hash: (flags & 0x04 != 0).then(twox_hash::XxHash32::default),
            content_size,
            content_len: 0,
            buffer,
            block: Lz4Block::Stored(&[]),
            position: 0,
            ended: false,
        })
    }

    fn read(&mut self, out: &mut [u8]) -> Result<usize, CompressionError> {
        loop {
            let block = match self.block {
                Lz4Block::Decoded(len) => match &self.buffer {
                    Lz4Buffer::Cached(buffer) => &buffer[..len],
                    Lz4Buffer::Own(buffer) => &buffer[..len],
                },
                Lz4Block::Stored(bytes) => bytes,
            };
            if self.position < block.len() {
                let n = out.len().min(block.len() - self.position);
                out[..n].copy_from_slice(&block[self.position..self.position + n]);
                self.position += n;
                return Ok(n);
            }
            if self.ended || out.is_empty() {
                return Ok(0);
            }
            self.next_block()?;
        }
    }

    fn next_block(&mut self) -> Result<(), CompressionError> {
        let bad = |reason: &str| Err(corrupt(Compression::Lz4, reason));
        let Some((size, tail)) = self.rest.split_first_chunk::<4>() else {
            return bad("LZ4 frame ends without its end mark");
        };
        let size = u32::from_le_bytes(*size);
        self.rest = tail;
        self.position = 0;
        if size == 0 {
            if let Some(hash) = &self.content_hash {
                let Some((stored, tail)) = self.rest.split_first_chunk::<4>() else {
                    return bad("LZ4 frame ends without its content checksum");
                };
                if u32::from_le_bytes(*stored) != hash.finish_32() {
                    return bad("LZ4 content checksum mismatch");
                }
                self.rest = tail;
            }
            if self.content_size.is_some_and(|size| size != self.content_len) {
                return bad("LZ4 frame content size mismatch");
            }
            if !self.rest.is_empty() {
                return bad("bytes follow the LZ4 frame");
            }
            self.block = Lz4Block::Stored(&[]);
            self.ended = true;
            return Ok(());
        }
        // The high bit marks a block stored uncompressed.
        let len = (size & 0x7fff_ffff) as usize;
        if len > self.block_max {
            return bad("LZ4 block larger than the frame's block size");
        }
        let checksum = if self.block_checksums { 4 } else { 0 };
        if len + checksum > self.rest.len() {
            return bad("LZ4 block runs past the end of the data");
        }
        let (data, tail) = self.rest.split_at(len);
        if self.block_checksums {
            let stored = u32::from_le_bytes(tail[..4].try_into().expect("checked above: 4 bytes follow"));
            if stored != twox_hash::XxHash32::oneshot(0, data) {
                return bad("LZ4 block checksum mismatch");
            }
        }
        self.rest = &tail[checksum..];
        let output = if size & 0x8000_0000 != 0 {
            self.block = Lz4Block::Stored(data);
            data
        } else {
            let buffer = match &mut self.buffer {
                Lz4Buffer::Cached(buffer) => &mut buffer[..self.block_max],
                Lz4Buffer::Own(buffer) => &mut buffer[..self.block_max],
            };
            let n = lz4_flex::block::decompress_into(data, buffer).map_err(|e| corrupt(Compression::Lz4, e))?;
            self.block = Lz4Block::Decoded(n);
            &buffer[..n]
        };
        self.content_len += output.len() as u64;
        if let Some(hash) = &mut self.content_hash {
            std::hash::Hasher::write(hash, output);
        }
        Ok(())
    }
}

/// The largest zstd window (as a power of two) worth allocating for at most `max_output` bytes
/// of output: the next power of two at or above it, within zstd's own limits (2^10 to 2^27, the
/// latter the reference decoder's default ceiling).
fn zstd_window_log_max(max_output: usize) -> u32 {
    max_output.max(1).next_power_of_two().trailing_zeros().clamp(10, 27)
}

/// Snappy, block by block: a xerial stream's chunks, or one raw block. Each block's output is
/// checked against the remaining bound (and against what its size could possibly hold) before
/// it is allocated.
struct SnappyReader<'a> {
    rest: &'a [u8],
    xerial: bool,
    block: Vec<u8>,
    position: usize,
    budget: usize,
    max: usize,
    decoder: snap::raw::Decoder,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8], max: usize) -> Self {
        SnappyReader {
            rest: data,
            xerial: data.starts_with(&XERIAL_MAGIC),
            block: Vec::new(),
            position: 0,
            budget: max,
            max,
            decoder: snap::raw::Decoder::new(),
        }
    }

    fn read(&mut self, out: &mut [u8]) -> Result<usize, CompressionError> {
        let codec = Compression::Snappy;
        loop {
            if self.position < self.block.len() {
                let n = out.len().min(self.block.len() - self.position);
                out[..n].copy_from_slice(&self.block[self.position..self.position + n]);
                self.position += n;
                return Ok(n);
            }
            if self.rest.is_empty() || out.is_empty() {
                return Ok(0);
            }
            let compressed = if self.xerial {
                match next_xerial_chunk(&mut self.rest)? {
                    Some(chunk) => chunk,
                    None => continue,
                }
            } else {
                std::mem::take(&mut self.rest)
            };
            let len = snap::raw::decompress_len(compressed).map_err(|e| corrupt(codec, e))?;
            if len > self.budget {
                return Err(CompressionError::TooLarge { codec, limit: self.max });
            }
            if len > compressed.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
                return Err(corrupt(codec, format!("a {}-byte block cannot hold {len} bytes", compressed.len())));
            }
            self.block.clear();
            self.block.resize(len, 0);
            let written = self.decoder.decompress(compressed, &mut self.block).map_err(|e| corrupt(codec, e))?;
            self.block.truncate(written);
            self.budget -= written;
            self.position = 0;
        }
    }
}

/// Takes the next chunk of a xerial stream off the front of `rest`: `Some(block)`, or `None`
/// after stepping over a repeated stream header.
fn next_xerial_chunk<'a>(rest: &mut &'a [u8]) -> Result<Option<&'a [u8]>, CompressionError> {
    let codec = Compression::Snappy;
    if rest.starts_with(&XERIAL_MAGIC) {
        if rest.len() < XERIAL_HEADER_SIZE {
            return Err(corrupt(codec, "truncated xerial snappy header"));
        }
        *rest = &rest[XERIAL_HEADER_SIZE..];
        return Ok(None);
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
    *rest = tail;
    Ok(Some(block))
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
    gzip_compress_with(data, flate2::Compression::default())
}

fn gzip_compress_with(data: &[u8], level: flate2::Compression) -> Result<Vec<u8>, CompressionError> {
    let codec = Compression::Gzip;
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
        let Some(block) = next_xerial_chunk(&mut rest)? else { continue };
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

    /// Everything a [`Decompressor`] produces, read `piece` bytes at a time.
    fn stream(codec: Compression, data: &[u8], max: usize, piece: usize) -> Result<Vec<u8>, CompressionError> {
        let mut d = Decompressor::new(codec, data, max)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            let n = d.read(&mut buf)?;
            if n == 0 {
                assert_eq!(d.produced(), out.len());
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn streaming_decompression_matches_whole_decompression() {
        for codec in CODECS {
            for len in [0, 1, 1000, XERIAL_BLOCK_SIZE + 1, 200_000] {
                let data = sample(len);
                let packed = compress(codec, &data).expect("compresses");
                for piece in [1, 7, 4096, 100_000] {
                    assert_eq!(stream(codec, &packed, len, piece).expect("streams"), data, "{codec:?} {len} {piece}");
                }
                if len > 0 {
                    assert_eq!(
                        stream(codec, &packed, len - 1, 4096),
                        Err(CompressionError::TooLarge { codec, limit: len - 1 }),
                        "{codec:?} {len}"
                    );
                }
            }
            let garbage: Vec<u8> = b"\xde\xad\xbe\xef".repeat(16);
            assert!(matches!(stream(codec, &garbage, 1 << 20, 4096), Err(CompressionError::Corrupt { .. })));
            assert!(matches!(stream(codec, &[], 1 << 20, 4096), Err(CompressionError::Corrupt { .. })));
        }
        assert!(Decompressor::new(Compression::None, b"x", 10).is_err());
        assert_eq!(Decompressor::new(Compression::Unknown(7), b"x", 10).err(), Some(CompressionError::UnknownCodec(7)));
    }

    #[test]
    fn a_decoder_cache_serves_stream_after_stream_whatever_happened_before() {
        let mut cache = DecoderCache::default();
        let data = sample(150_000);
        for codec in CODECS {
            let packed = compress(codec, &data).expect("compresses");
            for round in 0..3 {
                // Whole, then dropped half-read, then failing on a damaged copy, then whole again.
                let mut d = Decompressor::with_cache(codec, &packed, data.len(), &mut cache).expect("opens");
                let mut out = Vec::new();
                let mut buf = vec![0u8; 10_000];
                loop {
                    let n = d.read(&mut buf).expect("reads");
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                assert!(out == data, "{codec:?} round {round}");
                drop(d);
                let mut d = Decompressor::with_cache(codec, &packed, data.len(), &mut cache).expect("opens");
                assert!(d.read(&mut buf).expect("reads") > 0);
                drop(d);
                let mut damaged = packed.clone();
                let middle = damaged.len() / 2;
                damaged.truncate(middle);
                if let Ok(mut d) = Decompressor::with_cache(codec, &damaged, data.len(), &mut cache) {
                    while d.read(&mut buf).is_ok_and(|n| n > 0) {}
                }
            }
        }
    }

    /// Frames written with every option of the format (block sizes, checksums, content size,
    /// linked blocks in a one-block frame, incompressible blocks stored as they are) read the
    /// same as with `lz4_flex`'s own frame decoder; a wrong header or block checksum is corrupt.
    #[test]
    fn lz4_frames_of_every_shape_read_as_lz4_flex_reads_them() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let encode = |info: FrameInfo, data: &[u8]| {
            let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(data).expect("compresses");
            encoder.finish().expect("finishes")
        };
        let mut cache = DecoderCache::default();
        for len in [1, 1000, 200_000] {
            let data = sample(len);
            for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
                for (checksums, content_size) in [(false, false), (true, false), (false, true), (true, true)] {
                    let mut info = FrameInfo::new();
                    info.block_size = size;
                    info.block_mode = BlockMode::Independent;
                    info.block_checksums = checksums;
                    info.content_checksum = checksums;
                    info.content_size = content_size.then_some(len as u64);
                    let packed = encode(info, &data);
                    let mut theirs = Vec::new();
                    lz4_flex::frame::FrameDecoder::new(&packed[..]).read_to_end(&mut theirs).expect("lz4_flex reads");
                    assert!(theirs == data);
                    let mine = stream(Compression::Lz4, &packed, len, 4096).expect("reads");
                    assert!(mine == data, "{len} {size:?} {checksums} {content_size}");
                    let mut d = Decompressor::with_cache(Compression::Lz4, &packed, len, &mut cache).expect("opens");
                    let mut out = vec![0u8; len + 1];
                    let mut filled = 0;
                    loop {
                        let n = d.read(&mut out[filled..]).expect("reads");
                        if n == 0 {
                            break;
                        }
                        filled += n;
                    }
                    assert!(out[..filled] == data[..]);
                    if checksums {
                        // A block checksum no longer matching its block.
                        let mut damaged = packed.clone();
                        let at = packed.len() - 12; // inside the last block's checksum
                        damaged[at] ^= 1;
                        assert!(stream(Compression::Lz4, &damaged, len, 4096).is_err());
                    }
                }
            }
            // A one-block frame flagged as linked reads the same.
            let mut info = FrameInfo::new();
            info.block_mode = BlockMode::Linked;
            let packed = encode(info, &data[..data.len().min(60_000)]);
            assert!(stream(Compression::Lz4, &packed, len, 4096).expect("reads")[..] == data[..data.len().min(60_000)]);
        }
        // Stored (incompressible) blocks.
        let mut noise = vec![0u8; 100_000];
        let mut state = 0x1234_5678_9abc_def0u64;
        for b in &mut noise {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        let packed = compress(Compression::Lz4, &noise).expect("compresses");
        assert!(packed.len() > noise.len(), "stored, not compressed");
        assert!(stream(Compression::Lz4, &packed, noise.len(), 777).expect("reads") == noise);
        // The header checksum.
        let mut damaged = compress(Compression::Lz4, b"some records").expect("compresses");
        damaged[6] ^= 1;
        assert!(matches!(stream(Compression::Lz4, &damaged, 100, 4096), Err(CompressionError::Corrupt { .. })));
    }

    #[test]
    fn an_lz4_frame_without_its_end_mark_is_corrupt() {
        let packed = compress(Compression::Lz4, &sample(5000)).expect("compresses");
        assert_eq!(&packed[packed.len() - 4..], &[0, 0, 0, 0], "the end mark");
        for cut in 1..=4 {
            let short = &packed[..packed.len() - cut];
            assert!(
                matches!(stream(Compression::Lz4, short, 1 << 20, 4096), Err(CompressionError::Corrupt { .. })),
                "{cut} bytes of the end mark missing"
            );
        }
        // Readers stop at the first end mark, so nothing may follow it.
        let twice = [packed.clone(), packed].concat();
        assert!(matches!(stream(Compression::Lz4, &twice, 1 << 20, 4096), Err(CompressionError::Corrupt { .. })));
    }

    #[test]
    fn declared_sizes_past_the_bound_are_refused_before_decoding() {
        // A zstd frame that declares its content size.
        let packed = zstd::bulk::compress(&vec![0u8; 1 << 20], 3).expect("zstd");
        let mut d = Decompressor::new(Compression::Zstd, &packed, 1000);
        assert!(matches!(d.as_mut().map(|_| ()), Err(CompressionError::TooLarge { limit: 1000, .. })));
        // A raw snappy block that declares more than the bound, and one that declares more than
        // its size could ever hold.
        let raw = snap::raw::Encoder::new().compress_vec(&vec![0u8; 100_000]).expect("snappy");
        assert!(matches!(stream(Compression::Snappy, &raw, 99_999, 4096), Err(CompressionError::TooLarge { .. })));
        let mut lying = Vec::new();
        let mut n = 10_000_000u64;
        while n >= 0x80 {
            lying.push((n as u8) | 0x80);
            n >>= 7;
        }
        lying.push(n as u8);
        lying.extend_from_slice(&[0; 20]);
        assert!(matches!(stream(Compression::Snappy, &lying, 1 << 30, 4096), Err(CompressionError::Corrupt { .. })));
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

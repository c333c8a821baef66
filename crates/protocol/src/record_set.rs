//! The record bytes of a Fetch answer: in memory, or by reference to the segment files that
//! hold them, so the broker can send them from the file to the socket without copying them
//! through user space (`sendfile`, as Kafka's `FileRecords.writeTo` does).
//!
//! Encoding a [`RecordSet::Files`] inside [`encode_spliced`] writes only the length prefix and
//! notes where the file bytes go (a [`Splice`]); the writer sends the frame's bytes up to each
//! splice, then the file slices, then the rest. Encoded anywhere else (a test, the fuzzing
//! harness, a copy of the answer) the file bytes are read and copied in, so every encoding of a
//! value is the same bytes on the wire. Decoding always gives [`RecordSet::Memory`].

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{Decode, DecodeResult, Encode, EncodeError, Version, read_length, record_overflow, write_length};

/// `len` bytes of `file` from `position`: whole record batches of one segment.
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl PartialEq for FileSlice {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file) && self.position == other.position && self.len == other.len
    }
}

impl FileSlice {
    /// Reads the slice into `out`; an error when the file no longer holds it (truncated).
    pub fn read_into(&self, out: &mut BytesMut) -> std::io::Result<()> {
        let start = out.len();
        out.resize(start + self.len, 0);
        let read = self.file.read_exact_at(&mut out[start..], self.position);
        if read.is_err() {
            out.truncate(start);
        }
        read
    }
}

/// Record batches, in memory or in files (consecutive slices, in log order).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordSet {
    Memory(Bytes),
    Files(Vec<FileSlice>),
}

impl Default for RecordSet {
    fn default() -> Self {
        RecordSet::Memory(Bytes::new())
    }
}

impl From<Bytes> for RecordSet {
    fn from(bytes: Bytes) -> Self {
        RecordSet::Memory(bytes)
    }
}

impl RecordSet {
    /// Bytes in the set.
    pub fn len(&self) -> usize {
        match self {
            RecordSet::Memory(b) => b.len(),
            RecordSet::Files(slices) => slices.iter().map(|s| s.len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, read from the files if they are there.
    pub fn to_bytes(&self) -> std::io::Result<Bytes> {
        match self {
            RecordSet::Memory(b) => Ok(b.clone()),
            RecordSet::Files(slices) => {
                let mut out = BytesMut::with_capacity(self.len());
                for slice in slices {
                    slice.read_into(&mut out)?;
                }
                Ok(out.freeze())
            }
        }
    }
}

/// File bytes to send at byte `at` of an encoded frame (its size prefix included).
#[derive(Debug, Clone, PartialEq)]
pub struct Splice {
    pub at: usize,
    pub slices: Vec<FileSlice>,
}

thread_local! {
    /// The splices of the frame [`encode_spliced`] is encoding on this thread, `None` outside it.
    static SPLICES: RefCell<Option<Vec<Splice>>> = const { RefCell::new(None) };
}

/// Runs `encode` with file-backed record sets left out of the buffer: returns what `encode`
/// returned and where each set's bytes go.
pub fn encode_spliced<T>(encode: impl FnOnce() -> T) -> (T, Vec<Splice>) {
    let previous = SPLICES.with(|s| s.replace(Some(Vec::new())));
    let out = encode();
    let splices = SPLICES.with(|s| s.replace(previous)).unwrap_or_default();
    (out, splices)
}

impl Encode for Option<RecordSet> {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        write_length(buf, v, false, self.as_ref().map(RecordSet::len));
        match self {
            None => {}
            Some(RecordSet::Memory(b)) => buf.put_slice(b),
            Some(RecordSet::Files(slices)) => {
                let spliced = SPLICES.with(|s| match s.borrow_mut().as_mut() {
                    Some(splices) => {
                        splices.push(Splice { at: buf.len(), slices: slices.clone() });
                        true
                    }
                    None => false,
                });
                if !spliced {
                    for slice in slices {
                        if slice.read_into(buf).is_err() {
                            // The frame would lie about its length: fail it, as an overflow does.
                            record_overflow("records no longer in their segment file", slice.len);
                            return;
                        }
                    }
                }
            }
        }
    }
}

impl Decode for Option<RecordSet> {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        Ok(read_length(buf, v, false, "bytes")?.map(|n| RecordSet::Memory(buf.split_to(n))))
    }
}

/// Bytes a spliced frame sends from files.
pub fn spliced_len(splices: &[Splice]) -> usize {
    splices.iter().flat_map(|s| &s.slices).map(|s| s.len).sum()
}

/// An error for a frame whose spliced size does not fit its i32 size prefix.
pub(crate) fn frame_too_large(len: usize) -> EncodeError {
    EncodeError { what: "response", len }
}

impl crate::codec::Sample for RecordSet {
    fn sample(rng: &mut u64) -> Self {
        RecordSet::Memory(Bytes::sample(rng))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::codec::checked;

    fn file_with(bytes: &[u8]) -> Arc<File> {
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(bytes).expect("write");
        Arc::new(f)
    }

    #[test]
    fn a_file_set_encodes_as_its_bytes_or_as_a_splice() {
        let file = file_with(b"0123456789");
        let set = Some(RecordSet::Files(vec![
            FileSlice { file: file.clone(), position: 2, len: 3 },
            FileSlice { file, position: 7, len: 2 },
        ]));
        let memory = Some(RecordSet::Memory(Bytes::from_static(b"23478")));
        for v in [Version::new(4, false), Version::new(12, true)] {
            let mut copied = BytesMut::new();
            set.encode(&mut copied, v);
            let mut expected = BytesMut::new();
            memory.encode(&mut expected, v);
            assert_eq!(copied, expected, "copied in when not spliced");

            let (head, splices) = encode_spliced(|| {
                let mut b = BytesMut::new();
                b.put_slice(b"hdr");
                set.encode(&mut b, v);
                b
            });
            assert_eq!(splices.len(), 1);
            assert_eq!(splices[0].at, head.len(), "the bytes go after the length prefix");
            assert_eq!(spliced_len(&splices), 5);
            assert_eq!(&head[3..], &expected[..expected.len() - 5], "only the prefix is written");
        }
        let mut decoded = expected_bytes(&memory);
        assert_eq!(Option::<RecordSet>::decode(&mut decoded, Version::new(4, false)).expect("decodes"), memory);
    }

    fn expected_bytes(set: &Option<RecordSet>) -> Bytes {
        let mut b = BytesMut::new();
        set.encode(&mut b, Version::new(4, false));
        b.freeze()
    }

    #[test]
    fn a_truncated_file_fails_the_encoding_instead_of_lying() {
        let files = RecordSet::Files(vec![FileSlice { file: file_with(b"abc"), position: 1, len: 9 }]);
        let set = Some(files.clone());
        let encoded = checked(|| {
            let mut b = BytesMut::new();
            set.encode(&mut b, Version::new(4, false));
            b
        });
        assert!(encoded.is_err());
        assert!(files.to_bytes().is_err());
    }
}

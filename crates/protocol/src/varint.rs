//! Zig-zag variable-length integers, as used inside v2 records (Kafka's `ByteUtils.readVarint`
//! and friends, which follow protobuf's encoding).
//!
//! Decoding is bounded: a varint longer than its type allows is an error, never a loop over
//! attacker-chosen bytes.

/// A varint that runs past the end of the buffer or past its type's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarintError;

/// Reads a zig-zag varint of at most 5 bytes from the front of `buf`, advancing it.
pub fn read_varint(buf: &mut &[u8]) -> Result<i32, VarintError> {
    let raw = read_unsigned(buf, 5)?;
    let raw = u32::try_from(raw).map_err(|_| VarintError)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zig-zag varlong of at most 10 bytes from the front of `buf`, advancing it.
pub fn read_varlong(buf: &mut &[u8]) -> Result<i64, VarintError> {
    let raw = read_unsigned(buf, 10)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

fn read_unsigned(buf: &mut &[u8], max_len: usize) -> Result<u64, VarintError> {
    let mut value: u64 = 0;
    for i in 0..max_len {
        let (&byte, rest) = buf.split_first().ok_or(VarintError)?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(VarintError)
}

/// Appends `value` as a zig-zag varint.
pub fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Appends `value` as a zig-zag varlong.
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn write_unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The number of bytes `write_varint(value)` produces.
pub fn varint_len(value: i32) -> usize {
    let mut v = u64::from(((value << 1) ^ (value >> 31)) as u32);
    let mut len = 1;
    while v >= 0x80 {
        v >>= 7;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings_match_kafka() {
        // Values and bytes from the protobuf/Kafka zig-zag definition.
        for (value, bytes) in [(0, vec![0u8]), (-1, vec![1]), (1, vec![2]), (-64, vec![127]), (64, vec![0x80, 1])] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(out, bytes, "value {value}");
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let mut buf: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&mut buf), Err(VarintError));
        let mut empty: &[u8] = &[0x80];
        assert_eq!(read_varlong(&mut empty), Err(VarintError));
    }

    proptest! {
        #[test]
        fn varint_round_trips(v in any::<i32>()) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut slice = out.as_slice();
            prop_assert_eq!(read_varint(&mut slice), Ok(v));
            prop_assert!(slice.is_empty());
        }

        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            let mut slice = out.as_slice();
            prop_assert_eq!(read_varlong(&mut slice), Ok(v));
            prop_assert!(slice.is_empty());
        }
    }
}

//! Golden bytes: request frames captured from real clients (librdkafka via confluent-kafka
//! 2.6.1 and 2.16 (a KIP-848 consumer among them), kafka-python 2.0.2 and 3, aiokafka 0.14, kcat
//! 1.7.1) by `scripts/capture_frames.py`. Each must decode, and
//! re-encode here to exactly the bytes the client sent (minus bytes a client appends after the
//! body, which Kafka ignores); produced record batches must pass their CRC and carry the
//! record the client wrote.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use sluice_protocol::RecordBatches;
use sluice_protocol::api::{Request, decode_request};

fn frames() -> Vec<(String, Bytes)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out = Vec::new();
    for client in std::fs::read_dir(&root).expect("golden dir") {
        let client = client.expect("entry").path();
        for file in std::fs::read_dir(&client).expect("client dir") {
            let path = file.expect("entry").path();
            let hex = std::fs::read_to_string(&path).expect("read");
            let hex = hex.trim();
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
            let name = format!(
                "{}/{}",
                client.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            );
            out.push((name, Bytes::from(bytes)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn captured_frames_decode_and_reencode_identically() {
    let frames = frames();
    assert!(frames.len() >= 15, "golden frames present: {}", frames.len());
    for (name, frame) in frames {
        let (header, request) = decode_request(frame.clone()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut again = BytesMut::new();
        header.encode(&mut again);
        request.encode(header.api_version, &mut again);
        assert!(again.len() <= frame.len(), "{name}: re-encoded longer than sent");
        assert_eq!(&again[..], &frame[..again.len()], "{name}: re-encoded bytes differ");
        let trailing = frame.len() - again.len();
        assert!(trailing == 0 || name == "librdkafka/api3-v12.hex", "{name}: {trailing} unexpected trailing bytes");
    }
}

#[test]
fn captured_produce_requests_carry_valid_batches_with_the_clients_record() {
    let mut clients = std::collections::BTreeSet::new();
    for (name, frame) in frames() {
        let (_, Request::Produce(produce)) = decode_request(frame).expect("decodes") else { continue };
        let client = name.split('/').next().expect("client");
        let records = produce.topic_data[0].partition_data[0].records.clone().expect("records");
        let batch = RecordBatches::new(records).next().expect("one batch").expect("well-formed");
        batch.validate_crc().unwrap_or_else(|e| panic!("{name}: {e}"));
        let record = batch.records().expect("uncompressed").next().expect("a record").expect("decodes");
        assert_eq!(record.value.as_deref(), Some(client.as_bytes()), "{name}");
        assert_eq!(record.key.as_deref(), Some(&b"k"[..]), "{name}");
        clients.insert(client.to_string());
    }
    let expected = ["aiokafka", "kafka-python", "kafka-python-3", "kcat", "librdkafka", "librdkafka-2.16"];
    assert_eq!(clients.into_iter().collect::<Vec<_>>(), expected, "a produce from every client");
}

/// Mutations of the real frames (bit flips, truncations, inflated lengths) never panic the
/// decoder: every outcome is a request or an error value. The cargo-fuzz target in `fuzz/`
/// explores the same space without bounds; this runs in every CI.
#[test]
fn mutated_frames_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (_, frame) in frames() {
        for _ in 0..400 {
            let mut bytes = frame.to_vec();
            match next() % 4 {
                0 => {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] ^= 1 << (next() % 8);
                }
                1 => bytes.truncate((next() as usize) % bytes.len()),
                2 => {
                    // Make some 4-byte window read as a huge length or count.
                    let i = (next() as usize) % bytes.len().saturating_sub(4).max(1);
                    let end = (i + 4).min(bytes.len());
                    bytes[i..end].fill(0x7f);
                }
                _ => {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = next() as u8;
                }
            }
            let _ = decode_request(Bytes::from(bytes));
        }
    }
}

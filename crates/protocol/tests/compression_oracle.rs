//! Compressed record batches checked against the `kafka-protocol` crate (a dev-dependency only,
//! used as a test oracle, built here with its gzip and snappy codecs). Batches it compresses must
//! validate and decode here to the same records; batches compressed here must decode there.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as OracleCompression, Record as OracleRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as OracleTimestampType,
};
use sluice_protocol::record_batch::{BATCH_HEADER_SIZE, set_base_offset, validate};
use sluice_protocol::{Compression, Record, RecordBatch, RecordBatchBuilder};

const BASE_TS: i64 = 1_700_000_000_000;
const CODECS: [(Compression, OracleCompression); 2] =
    [(Compression::Gzip, OracleCompression::Gzip), (Compression::Snappy, OracleCompression::Snappy)];

/// 50 records with keys (some null), values (some null; `value_reps` sets their length) and
/// headers (one with a null value on every third record).
fn oracle_records(base_offset: i64, value_reps: usize) -> Vec<OracleRecord> {
    (0..50i64)
        .map(|i| {
            let mut headers = IndexMap::new();
            headers.insert(StrBytes::from_string("trace".to_string()), Some(Bytes::from(format!("t{i}"))));
            if i % 3 == 0 {
                headers.insert(StrBytes::from_string("null".to_string()), None);
            }
            OracleRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: OracleTimestampType::Creation,
                offset: base_offset + i,
                // The oracle keeps records in one batch only while offset - sequence is constant.
                sequence: -1 + i as i32,
                timestamp: BASE_TS + i * 7,
                key: (i % 10 != 9).then(|| Bytes::from(format!("key-{i}"))),
                value: (i % 11 != 10).then(|| Bytes::from(format!("value-{i}-").repeat(value_reps + i as usize % 5))),
                headers,
            }
        })
        .collect()
}

fn assert_same(ours: &[Record], theirs: &[OracleRecord], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: record count");
    for (got, want) in ours.iter().zip(theirs) {
        assert_eq!(got.offset, want.offset, "{what}");
        assert_eq!(got.timestamp, want.timestamp, "{what}: offset {}", want.offset);
        assert_eq!(got.key, want.key, "{what}: offset {}", want.offset);
        assert_eq!(got.value, want.value, "{what}: offset {}", want.offset);
        let got_headers: Vec<(Vec<u8>, Option<Bytes>)> =
            got.headers.iter().map(|h| (h.key.to_vec(), h.value.clone())).collect();
        let want_headers: Vec<(Vec<u8>, Option<Bytes>)> =
            want.headers.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect();
        assert_eq!(got_headers, want_headers, "{what}: offset {}", want.offset);
    }
}

/// Batches the oracle compresses (small records, and records large enough to span several
/// 32 KiB snappy chunks) validate here and decode to the records it was given.
#[test]
fn oracle_compressed_batches_decode_here() {
    for (ours, theirs) in CODECS {
        for value_reps in [1, 300] {
            let what = format!("{ours:?}, value x{value_reps}");
            let records = oracle_records(1000, value_reps);
            let mut buf = BytesMut::new();
            RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: theirs })
                .expect("oracle encodes");
            let header = validate(&buf).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(header.attributes.compression(), ours, "{what}");
            assert_eq!(header.records_count, 50, "{what}");
            assert_eq!(header.base_offset, 1000, "{what}");
            let batch = RecordBatch::new(buf.freeze()).expect("one batch");
            let decoded: Vec<Record> = batch
                .records()
                .unwrap_or_else(|e| panic!("{what}: {e}"))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_same(&decoded, &records, &what);
        }
    }
}

/// Batches compressed here decode in the oracle (CRC, framing and records).
#[test]
fn our_compressed_batches_decode_in_the_oracle() {
    for (ours, theirs) in CODECS {
        for value_reps in [1, 300] {
            let what = format!("{ours:?}, value x{value_reps}");
            let records = oracle_records(77, value_reps);
            let mut builder = RecordBatchBuilder::new(BASE_TS).compression(ours);
            for r in &records {
                let headers: Vec<(&str, Option<&[u8]>)> =
                    r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
                builder.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
            }
            let mut bytes = builder.build();
            set_base_offset(&mut bytes, 77);
            validate(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            if ours == Compression::Snappy {
                assert_eq!(
                    &bytes[BATCH_HEADER_SIZE..BATCH_HEADER_SIZE + 8],
                    b"\x82SNAPPY\x00",
                    "{what}: xerial framing"
                );
            }
            let set = RecordBatchDecoder::decode(&mut Bytes::from(bytes))
                .unwrap_or_else(|e| panic!("{what}: oracle cannot decode our batch: {e:?}"));
            assert_eq!(set.compression, theirs, "{what}");
            assert_eq!(set.records.len(), records.len(), "{what}");
            for (got, want) in set.records.iter().zip(&records) {
                assert_eq!(got.offset, want.offset, "{what}");
                assert_eq!(got.timestamp, want.timestamp, "{what}");
                assert_eq!(got.key, want.key, "{what}");
                assert_eq!(got.value, want.value, "{what}");
                assert_eq!(got.headers, want.headers, "{what}");
            }
        }
    }
}

//! The record batch format checked against an implementation written elsewhere: the
//! `kafka-protocol` crate (a dev-dependency only, used as a test oracle). Batches it encodes,
//! uncompressed or compressed, must parse and validate here with the same header fields and
//! records; batches built here must decode there; and rewriting base offset and partition leader
//! epoch here must leave a batch it still accepts (CRC intact).

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as OracleCompression, Record as OracleRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as OracleTimestampType,
};
use proptest::prelude::*;
use sluice_protocol::record_batch::{set_base_offset, set_partition_leader_epoch, validate};
use sluice_protocol::{Compression, RecordBatch, RecordBatchBuilder};

#[derive(Debug, Clone)]
struct Input {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        1_600_000_000_000i64..1_600_000_100_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..30)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(
            ("[a-z]{1,6}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8))),
            0..3,
        ),
    )
        .prop_map(|(timestamp, key, value, headers)| Input { timestamp, key, value, headers })
}

fn oracle_records(
    inputs: &[Input],
    base_offset: i64,
    producer: (i64, i16, i32),
    transactional: bool,
) -> Vec<OracleRecord> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut headers = IndexMap::new();
            for (k, v) in &r.headers {
                headers.insert(StrBytes::from_string(k.clone()), v.clone().map(Bytes::from));
            }
            OracleRecord {
                transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: producer.0,
                producer_epoch: producer.1,
                timestamp_type: OracleTimestampType::Creation,
                offset: base_offset + i as i64,
                // The oracle keeps records in one batch while offset - sequence is constant;
                // the batch's base sequence is the first record's (-1 without a producer id).
                sequence: producer.2 + i as i32,
                timestamp: r.timestamp,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers,
            }
        })
        .collect()
}

fn unique_headers(inputs: &mut [Input]) {
    // The oracle keeps headers in a map; keep keys unique so both sides see the same list.
    for r in inputs {
        let mut seen = std::collections::HashSet::new();
        r.headers.retain(|(k, _)| seen.insert(k.clone()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Batches encoded by kafka-protocol (none, gzip, snappy) parse and validate here.
    #[test]
    fn oracle_encoded_batches_parse_and_validate(
        mut inputs in proptest::collection::vec(input(), 1..20),
        base_offset in 0i64..1_000_000,
        codec in 0usize..3,
        idempotent in any::<bool>(),
        transactional in any::<bool>(),
    ) {
        unique_headers(&mut inputs);
        let producer = if idempotent || transactional { (4242, 3, 17) } else { (-1, -1, -1) };
        let records = oracle_records(&inputs, base_offset, producer, transactional);
        let compression = [OracleCompression::None, OracleCompression::Gzip, OracleCompression::Snappy][codec];
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression }).expect("oracle encodes");
        let header = validate(&buf).expect("our validation accepts the oracle's batch");
        prop_assert_eq!(header.base_offset, base_offset);
        prop_assert_eq!(header.records_count as usize, inputs.len());
        prop_assert_eq!(header.last_offset(), base_offset + inputs.len() as i64 - 1);
        // This encoder bases deltas on the smallest timestamp (the Java client on the first
        // record's); deltas are signed, so either is valid and only the base differs.
        prop_assert_eq!(header.base_timestamp, inputs.iter().map(|r| r.timestamp).min().expect("non-empty"));
        prop_assert_eq!(header.max_timestamp, inputs.iter().map(|r| r.timestamp).max().expect("non-empty"));
        prop_assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), producer);
        prop_assert_eq!(header.attributes.is_transactional(), transactional);
        let expected_codec = [Compression::None, Compression::Gzip, Compression::Snappy][codec];
        prop_assert_eq!(header.attributes.compression(), expected_codec);
        if expected_codec == Compression::None {
            let batch = RecordBatch::new(buf.clone().freeze()).expect("one batch");
            let ours: Vec<_> = batch.records().expect("uncompressed").collect::<Result<_, _>>().expect("records decode");
            prop_assert_eq!(ours.len(), inputs.len());
            for (got, want) in ours.iter().zip(&records) {
                prop_assert_eq!(got.offset, want.offset);
                prop_assert_eq!(got.timestamp, want.timestamp);
                prop_assert_eq!(&got.key, &want.key);
                prop_assert_eq!(&got.value, &want.value);
                let got_headers: Vec<(Vec<u8>, Option<Bytes>)> = got.headers.iter().map(|h| (h.key.to_vec(), h.value.clone())).collect();
                let want_headers: Vec<(Vec<u8>, Option<Bytes>)> = want.headers.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect();
                prop_assert_eq!(got_headers, want_headers);
            }
        }
        // Rewriting offset and epoch here leaves a batch the oracle still accepts.
        let mut rewritten = buf.to_vec();
        set_base_offset(&mut rewritten, base_offset + 1000);
        set_partition_leader_epoch(&mut rewritten, 9);
        let decoded = RecordBatchDecoder::decode(&mut Bytes::from(rewritten)).expect("oracle decodes the rewritten batch");
        prop_assert_eq!(decoded.records.len(), inputs.len());
        prop_assert_eq!(decoded.records[0].offset, base_offset + 1000);
        prop_assert_eq!(decoded.records[0].partition_leader_epoch, 9);
    }

    /// Batches built here decode in kafka-protocol to the same records.
    #[test]
    fn our_batches_decode_in_the_oracle(mut inputs in proptest::collection::vec(input(), 1..20), base_offset in 0i64..1_000_000) {
        unique_headers(&mut inputs);
        let mut b = RecordBatchBuilder::new(inputs[0].timestamp);
        for r in &inputs {
            let headers: Vec<(&str, Option<&[u8]>)> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            b.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
        }
        let mut bytes = b.build();
        set_base_offset(&mut bytes, base_offset);
        let decoded = RecordBatchDecoder::decode(&mut Bytes::from(bytes)).expect("oracle decodes our batch (CRC included)");
        prop_assert_eq!(decoded.records.len(), inputs.len());
        for (i, (got, want)) in decoded.records.iter().zip(&inputs).enumerate() {
            prop_assert_eq!(got.offset, base_offset + i as i64);
            prop_assert_eq!(got.timestamp, want.timestamp);
            prop_assert_eq!(got.key.as_deref(), want.key.as_deref());
            prop_assert_eq!(got.value.as_deref(), want.value.as_deref());
            prop_assert_eq!(got.headers.len(), want.headers.len());
        }
    }
}

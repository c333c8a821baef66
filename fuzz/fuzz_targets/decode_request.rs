//! Fuzzes request decoding: any bytes give a request or an error value, never a panic, an
//! abort or a huge allocation; a Produce's batches go through the leader's record checks
//! (`sluice_protocol::validator`) and the record decoder. Corpus: `fuzz/corpus/decode_request`,
//! seeded with the golden frames of real clients. Run with `scripts/fuzz` (cargo-fuzz, nightly).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, sluice_protocol::api::Request::Produce(produce))) =
        sluice_protocol::api::decode_request(Bytes::copy_from_slice(data))
    {
        // Follow into the record batches, as the broker does.
        for topic in produce.topic_data {
            for partition in topic.partition_data {
                if let Some(records) = partition.records {
                    // The leader's record checks of a produced batch, bounded as the broker's.
                    let checks = sluice_protocol::validator::RecordChecks::for_topic(partition.index % 2 == 0, 1 << 20);
                    let _ = sluice_protocol::validator::validate_produced_batch(&mut records.to_vec(), &checks);
                    for batch in sluice_protocol::RecordBatches::new(records).take(64) {
                        let Ok(batch) = batch else { break };
                        let _ = batch.validate_crc();
                        if let Ok(records) = batch.records() {
                            for r in records.take(1024) {
                                let _ = r;
                            }
                        }
                    }
                }
            }
        }
    }
});

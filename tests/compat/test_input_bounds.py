"""Bounds on what clients may make the broker keep, seen through real clients: offset commit
metadata over `offset.metadata.max.bytes` (4096, Kafka's default) is refused with
OFFSET_METADATA_TOO_LARGE and not stored, while metadata within it round-trips."""

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import OffsetMetadataTooLargeError
from kafka.structs import OffsetAndMetadata

OFFSET_METADATA_MAX_BYTES = 4096


def test_offset_metadata_over_the_limit_is_refused_and_not_stored(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    admin.create_topics([NewTopic("bounded-offsets", num_partitions=1, replication_factor=1)])
    admin.close()
    tp = TopicPartition("bounded-offsets", 0)
    # A standalone consumer (no subscription): its commits name no generation.
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="bounded-metadata",
                             enable_auto_commit=False, request_timeout_ms=30000)
    consumer.assign([tp])
    at_limit = "m" * OFFSET_METADATA_MAX_BYTES
    consumer.commit({tp: OffsetAndMetadata(5, at_limit)})
    with pytest.raises(OffsetMetadataTooLargeError):
        consumer.commit({tp: OffsetAndMetadata(9, at_limit + "m")})
    # The refused commit left the earlier one in place.
    assert consumer.committed(tp) == 5
    consumer.close()
    # And a fresh client reads the stored metadata back whole.
    reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="bounded-metadata",
                           enable_auto_commit=False, request_timeout_ms=30000)
    offsets = reader._coordinator.fetch_committed_offsets([tp])
    assert offsets[tp].offset == 5 and offsets[tp].metadata == at_limit
    reader.close()

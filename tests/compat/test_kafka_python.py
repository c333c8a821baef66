"""kafka-python against sluiced: every codec with keys, headers and order; the admin client;
offsets by timestamp."""

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
MESSAGES = 10_000


@pytest.mark.parametrize("codec", CODECS, ids=[c or "none" for c in CODECS])
def test_every_codec_round_trips(broker, codec):
    topic = f"kp-{codec or 'none'}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec, acks="all", linger_ms=5)
    futures = [producer.send(topic, key=f"k{i % 31}".encode(), value=f"v{i}".encode(), headers=[("i", str(i).encode())])
               for i in range(MESSAGES)]
    producer.flush(timeout=60)
    acked = {}
    for f in futures:
        meta = f.get(timeout=60)
        acked.setdefault(meta.partition, []).append(meta.offset)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p) for p in range(3)])
    got = {}
    for msg in consumer:
        got.setdefault(msg.partition, []).append(msg)
        if sum(len(v) for v in got.values()) == MESSAGES:
            break
    consumer.close()
    assert sum(len(v) for v in got.values()) == MESSAGES
    for partition, offsets in acked.items():
        msgs = got[partition]
        assert [m.offset for m in msgs] == offsets
        for m in msgs:
            i = m.value.decode()[1:]
            assert m.headers == [("i", i.encode())]
            assert m.key == f"k{int(i) % 31}".encode()


def test_admin_client(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    admin.create_topics([NewTopic("kpa", num_partitions=1, replication_factor=1, topic_configs={"retention.ms": "60000"})])
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("kpa", num_partitions=1, replication_factor=1)])
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kpa")])
    entries = {c[0]: c[1] for c in described[0].resources[0][4]}
    assert entries["retention.ms"] == "60000"
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kpa", configs={"retention.ms": "120000"})])
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kpa")])
    entries = {c[0]: c[1] for c in described[0].resources[0][4]}
    assert entries["retention.ms"] == "120000"
    admin.create_partitions({"kpa": NewPartitions(total_count=4)})
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    assert consumer.partitions_for_topic("kpa") == {0, 1, 2, 3}
    consumer.close()
    admin.delete_topics(["kpa"])
    assert "kpa" not in admin.list_topics()


def test_offsets_for_times(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("kpt", num_partitions=1, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    base = 1_600_000_000_000
    for i in range(100):
        producer.send("kpt", value=b"x", timestamp_ms=base + i * 1000)
    producer.flush(timeout=30)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    tp = TopicPartition("kpt", 0)
    found = consumer.offsets_for_times({tp: base + 41_500})
    assert found[tp].offset == 42
    assert consumer.beginning_offsets([tp])[tp] == 0
    assert consumer.end_offsets([tp])[tp] == 100
    consumer.close()

"""confluent-kafka (librdkafka) against sluiced: every codec, keys, headers and per-partition
order; the AdminClient; offsets by timestamp; restarts that must lose nothing acknowledged."""

import signal
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewPartitions, NewTopic

from conftest import wait_until

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
MESSAGES = 10_000


def create(admin, name, partitions):
    for _, f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).items():
        f.result(timeout=30)


def produce(bootstrap, topic, count, codec="none", headers=True, timestamp_of=None):
    """Produces `count` keyed messages; returns {partition: [(offset, key, value)]} as acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "acks": "all", "linger.ms": 5})
    acked = {}
    errors = []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            acked.setdefault(msg.partition(), []).append((msg.offset(), msg.key(), msg.value()))

    for i in range(count):
        kwargs = {"key": f"key-{i % 97}".encode(), "value": f"{codec}-value-{i}".encode(), "on_delivery": report}
        if headers:
            kwargs["headers"] = [("seq", str(i).encode()), ("codec", codec.encode())]
        if timestamp_of:
            kwargs["timestamp"] = timestamp_of(i)
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0, "every message delivered"
    assert not errors, errors[:3]
    return acked


def consume_all(bootstrap, topic, partitions, expected):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}
    deadline = time.monotonic() + 120
    n = 0
    while n < expected and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.setdefault(msg.partition(), []).append((msg.offset(), msg.key(), msg.value(), msg.headers()))
        n += 1
    consumer.close()
    return got


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_round_trips_keys_values_headers_and_order(broker, codec):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = f"ck-{codec}"
    create(admin, topic, 3)
    acked = produce(broker.bootstrap, topic, MESSAGES, codec)
    assert sum(len(v) for v in acked.values()) == MESSAGES
    got = consume_all(broker.bootstrap, topic, 3, MESSAGES)
    assert sum(len(v) for v in got.values()) == MESSAGES
    for partition, records in acked.items():
        consumed = got[partition]
        assert [(o, k, v) for o, k, v, _ in consumed] == records, f"partition {partition} in order"
        for _, _, value, headers in consumed:
            seq = value.decode().rsplit("-", 1)[1]
            assert headers == [("seq", seq.encode()), ("codec", codec.encode())]
    # The same key always lands in the same partition.
    owners = {}
    for partition, records in acked.items():
        for _, key, _ in records:
            assert owners.setdefault(key, partition) == partition


def test_admin_client_creates_describes_alters_and_deletes_topics(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "admin-t", 2)
    with pytest.raises(KafkaException) as exists:
        create(admin, "admin-t", 2)
    assert exists.value.args[0].name() == "TOPIC_ALREADY_EXISTS"
    meta = admin.list_topics(timeout=30)
    assert len(meta.topics["admin-t"].partitions) == 2

    resource = ConfigResource(ConfigResource.Type.TOPIC, "admin-t")
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["retention.ms"].value == str(7 * 24 * 3600 * 1000)
    assert configs["cleanup.policy"].value == "delete"

    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    change = ConfigResource(ConfigResource.Type.TOPIC, "admin-t",
                            incremental_configs=[ConfigEntry("retention.ms", "123456",
                                                             incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([change])[change].result(timeout=30)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["retention.ms"].value == "123456"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    bad = ConfigResource(ConfigResource.Type.TOPIC, "admin-t",
                         incremental_configs=[ConfigEntry("retention.ms", "soon",
                                                          incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as invalid:
        admin.incremental_alter_configs([bad])[bad].result(timeout=30)
    assert invalid.value.args[0].name() == "INVALID_CONFIG"

    for _, f in admin.create_partitions([NewPartitions("admin-t", 5)]).items():
        f.result(timeout=30)
    wait_until(lambda: len(admin.list_topics(timeout=30).topics["admin-t"].partitions) == 5, what="5 partitions")

    for _, f in admin.delete_topics(["admin-t"]).items():
        f.result(timeout=30)
    wait_until(lambda: "admin-t" not in admin.list_topics(timeout=30).topics, what="topic deleted")


def test_offsets_for_times(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "times", 1)
    base = 1_700_000_000_000
    produce(broker.bootstrap, "times", 1000, headers=False, timestamp_of=lambda i: base + i * 10)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "t", "enable.auto.commit": False})
    found = consumer.offsets_for_times([TopicPartition("times", 0, base + 5005)], timeout=30)
    assert found[0].offset == 501, "first record at or after the timestamp"
    found = consumer.offsets_for_times([TopicPartition("times", 0, base + 10 ** 9)], timeout=30)
    assert found[0].offset == -1, "nothing that late"
    low, high = consumer.get_watermark_offsets(TopicPartition("times", 0), timeout=30)
    assert (low, high) == (0, 1000)
    consumer.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_restart_between_produce_and_consume_loses_nothing_acknowledged(broker, sig):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "durable", 3)
    acked = produce(broker.bootstrap, "durable", 3000, "lz4")
    broker.stop(sig)
    broker.start()
    got = consume_all(broker.bootstrap, "durable", 3, 3000)
    for partition, records in acked.items():
        assert [(o, k, v) for o, k, v, _ in got[partition]] == records

"""Topic configs through real clients (issue 17, item 8): every topic config of Kafka 3.x is
accepted by confluent-kafka's admin client, described with its source, default flag and
synonyms, and the ones a client can observe are applied: compression.type (the leader
recompresses), message.timestamp.type=LogAppendTime (the delivery report and the consumer see
the broker's time), message.timestamp.before/after.max.ms (INVALID_TIMESTAMP), and a change
through IncrementalAlterConfigs applies to the next batch."""

import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewTopic)

from conftest import serve_broker

# Each topic config Kafka 3.x has, with a value other than its default.
EVERY_TOPIC_CONFIG = {
    "cleanup.policy": "compact,delete",
    "compression.gzip.level": "5",
    "compression.lz4.level": "3",
    "compression.type": "lz4",
    "compression.zstd.level": "7",
    "delete.retention.ms": "1000",
    "file.delete.delay.ms": "1000",
    "flush.messages": "1000",
    "flush.ms": "1000",
    "follower.replication.throttled.replicas": "0:0",
    "index.interval.bytes": "1000",
    "leader.replication.throttled.replicas": "*",
    "local.retention.bytes": "1000",
    "local.retention.ms": "1000",
    "max.compaction.lag.ms": "100000",
    "max.message.bytes": "100000",
    "message.downconversion.enable": "false",
    "message.format.version": "2.8-IV1",
    "message.timestamp.after.max.ms": "1000",
    "message.timestamp.before.max.ms": "1000",
    "message.timestamp.difference.max.ms": "1000",
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.25",
    "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "1",
    "preallocate": "true",
    "remote.log.copy.disable": "true",
    "remote.log.delete.on.disable": "true",
    "remote.storage.enable": "false",
    "retention.bytes": "1000000",
    "retention.ms": "100000",
    "segment.bytes": "1000000",
    "segment.index.bytes": "100000",
    "segment.jitter.ms": "1000",
    "segment.ms": "100000",
    "unclean.leader.election.enable": "true",
}

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@pytest.fixture
def static_broker(tmp_path, request):
    """A broker whose static config sets two topic defaults (one in hours)."""
    yield from serve_broker(tmp_path, request, ["log.retention.hours=48", "compression.type=producer"])


def create(admin, name, config=None):
    futures = admin.create_topics([NewTopic(name, 1, 1, config=config or {})], operation_timeout=30)
    futures[name].result(timeout=60)


def describe(admin, name):
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    return admin.describe_configs([resource])[resource].result(timeout=30)


def stored_codecs(broker, topic):
    """The codec id and timestamp type of every batch in the topic's first segment on disk."""
    path = broker.data / f"{topic}-0" / "00000000000000000000.log"
    data = path.read_bytes()
    out = []
    position = 0
    while position + 61 <= len(data):
        (length,) = struct.unpack_from(">i", data, position + 8)
        (attributes,) = struct.unpack_from(">h", data, position + 21)
        out.append((attributes & 0x07, bool(attributes & 0x08)))
        position += 12 + length
    return out


def produce_all(bootstrap, topic, values, **config):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, **config})
    reports = []
    for v in values:
        producer.produce(topic, key=b"k", value=v, on_delivery=lambda err, msg: reports.append((err, msg)))
    assert producer.flush(60) == 0
    return reports


def consume_all(bootstrap, topic, count):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            got.append(msg)
    consumer.close()
    assert len(got) == count, f"consumed {len(got)} of {count}"
    return got


def test_every_kafka_topic_config_is_accepted_and_described_as_a_topic_override(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "every", EVERY_TOPIC_CONFIG)
    entries = describe(admin, "every")
    for key, value in EVERY_TOPIC_CONFIG.items():
        entry = entries[key]
        assert entry.value == value, key
        assert entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, key
        assert not entry.is_default and not entry.is_read_only, key


def test_unknown_keys_and_bad_values_are_invalid_config(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for key, value in [("no.such.config", "1"), ("compression.type", "brotli"),
                       ("message.timestamp.type", "Sometime"), ("min.cleanable.dirty.ratio", "1.5"),
                       ("remote.storage.enable", "true")]:
        futures = admin.create_topics([NewTopic(f"bad-{uuid.uuid4().hex[:8]}", 1, 1, config={key: value})])
        (future,) = futures.values()
        with pytest.raises(Exception) as raised:
            future.result(timeout=60)
        error = raised.value.args[0]
        assert error.code() == KafkaError.INVALID_CONFIG, (key, error)
        assert key in error.str(), (key, error.str())


def test_defaults_name_their_source_and_synonyms(static_broker):
    admin = AdminClient({"bootstrap.servers": static_broker.bootstrap})
    create(admin, "plain")
    entries = describe(admin, "plain")
    retention = entries["retention.ms"]
    assert retention.value == str(48 * 3600 * 1000)
    assert retention.source == ConfigSource.STATIC_BROKER_CONFIG.value
    # Synonyms: the static hours, then the hours' default (log.retention.ms has no default of
    # its own); confluent-kafka keys them by name, so the later one is what it keeps.
    assert list(retention.synonyms) == ["log.retention.hours"]
    ratio = entries["min.cleanable.dirty.ratio"]
    assert (ratio.value, ratio.source, ratio.is_default) == ("0.5", ConfigSource.DEFAULT_CONFIG.value, True)
    assert entries["message.format.version"].value == "3.0-IV1"
    assert len(entries) == len(EVERY_TOPIC_CONFIG), sorted(set(entries) ^ set(EVERY_TOPIC_CONFIG))


@pytest.mark.parametrize("topic_codec,producer_codec", [("zstd", "none"), ("none", "gzip"), ("gzip", "lz4")])
def test_compression_type_makes_the_leader_recompress(broker, topic_codec, producer_codec):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    config_value = "uncompressed" if topic_codec == "none" else topic_codec
    create(admin, "squeezed", {"compression.type": config_value})
    values = [f"value-{i}".encode() * 20 for i in range(50)]
    reports = produce_all(broker.bootstrap, "squeezed", values, **{"compression.type": producer_codec})
    assert all(err is None for err, _ in reports), [err for err, _ in reports if err]
    codecs = {codec for codec, _ in stored_codecs(broker, "squeezed")}
    assert codecs == {CODEC_IDS[topic_codec]}, codecs
    assert [m.value() for m in consume_all(broker.bootstrap, "squeezed", len(values))] == values


def test_producer_compression_type_keeps_the_producers_codec(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "as-sent")
    produce_all(broker.bootstrap, "as-sent", [b"x" * 500] * 10, **{"compression.type": "snappy"})
    assert {codec for codec, _ in stored_codecs(broker, "as-sent")} == {CODEC_IDS["snappy"]}


def test_log_append_time_is_what_the_producer_and_consumer_see(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "stamped", {"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    reports = []
    producer.produce("stamped", value=b"old", timestamp=1_000_000,
                     on_delivery=lambda err, msg: reports.append((err, msg)))
    assert producer.flush(60) == 0
    (err, msg), = reports
    assert err is None, err
    kind, stamp = msg.timestamp()
    after = int(time.time() * 1000)
    assert kind == 2, "TIMESTAMP_LOG_APPEND_TIME in the delivery report"
    assert before <= stamp <= after
    (consumed,) = consume_all(broker.bootstrap, "stamped", 1)
    assert consumed.timestamp() == (2, stamp)
    assert stored_codecs(broker, "stamped") == [(0, True)]


def test_timestamps_out_of_range_are_refused_with_invalid_timestamp(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "recent", {"message.timestamp.before.max.ms": "3600000",
                             "message.timestamp.after.max.ms": "60000"})
    now = int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0})
    reports = []
    for ts in (now - 2 * 3600 * 1000, now + 3600 * 1000, now):
        producer.produce("recent", value=str(ts).encode(), timestamp=ts,
                         on_delivery=lambda err, msg: reports.append(err))
        producer.flush(60)
    assert [e.code() if e else None for e in reports] == [KafkaError.INVALID_TIMESTAMP,
                                                          KafkaError.INVALID_TIMESTAMP, None]
    (consumed,) = consume_all(broker.bootstrap, "recent", 1)
    assert consumed.value() == str(now).encode()


def test_a_config_changed_at_run_time_applies_to_the_next_batch(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "changing")
    produce_all(broker.bootstrap, "changing", [b"a" * 300], **{"compression.type": "none"})
    resource = ConfigResource(ConfigResource.Type.TOPIC, "changing",
                              incremental_configs=[ConfigEntry("compression.type", "gzip",
                                                               incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)
    assert describe(admin, "changing")["compression.type"].value == "gzip"
    produce_all(broker.bootstrap, "changing", [b"b" * 300], **{"compression.type": "none"})
    assert [codec for codec, _ in stored_codecs(broker, "changing")] == [0, CODEC_IDS["gzip"]]
    # Deleting the override goes back to the default: stored as produced.
    resource = ConfigResource(ConfigResource.Type.TOPIC, "changing",
                              incremental_configs=[ConfigEntry("compression.type", None,
                                                               incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)
    entry = describe(admin, "changing")["compression.type"]
    assert (entry.value, entry.is_default) == ("producer", True)
    produce_all(broker.bootstrap, "changing", [b"c" * 300], **{"compression.type": "none"})
    assert [codec for codec, _ in stored_codecs(broker, "changing")] == [0, CODEC_IDS["gzip"], 0]

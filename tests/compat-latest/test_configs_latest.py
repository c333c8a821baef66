"""Topic configs as the newest clients see them (kafka-python 3, aiokafka, confluent-kafka 2.16):
message.timestamp.type=LogAppendTime replaces the producer's timestamp with the broker's in the
produce answer and in what consumers read (timestamp type 1), and compression.type makes the
leader store every batch in the topic's codec whatever each producer sent, every client
reading back what every other client wrote."""

import asyncio
import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RECORDS = 30
CODEC_IDS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def create(broker, topic, config):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(60)


def stored_batches(broker, topic):
    """(codec id, log-append-time flag) of each batch in the first segment on disk."""
    data = (broker.data / f"{topic}-0" / "00000000000000000000.log").read_bytes()
    out, position = [], 0
    while position + 61 <= len(data):
        (length,) = struct.unpack_from(">i", data, position + 8)
        (attributes,) = struct.unpack_from(">h", data, position + 21)
        out.append((attributes & 0x07, bool(attributes & 0x08)))
        position += 12 + length
    return out


def kafka_python_read(broker, topic, count):
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    from kafka import TopicPartition as KpTopicPartition
    consumer.assign([KpTopicPartition(topic, 0)])
    got, deadline = [], time.monotonic() + 60
    try:
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got += records
    finally:
        consumer.close()
    assert len(got) == count, f"kafka-python read {len(got)} of {count}"
    return [(r.value, r.timestamp_type, r.timestamp) for r in got]


def aiokafka_read(broker, topic, count):
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as AioTopicPartition

    async def run():
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([AioTopicPartition(topic, 0)])
            got = []
            async with asyncio.timeout(60):
                while len(got) < count:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        got += records
            return [(r.value, r.timestamp_type, r.timestamp) for r in got]
        finally:
            await consumer.stop()

    return asyncio.run(run())


def confluent_read(broker, topic, count):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"read-{topic}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got, deadline = [], time.monotonic() + 60
    try:
        while len(got) < count and time.monotonic() < deadline:
            for m in consumer.consume(100, timeout=0.5):
                if m.error() is None:
                    kind, stamp = m.timestamp()
                    got.append((m.value(), kind - 1, stamp))  # librdkafka: 1 create time, 2 log append
    finally:
        consumer.close()
    assert len(got) == count, f"confluent-kafka read {len(got)} of {count}"
    return got


def test_log_append_time_is_what_kafka_python_and_aiokafka_see(broker):
    # Kafka: LogValidator assigns the broker's time to the batch (maxTimestamp, attribute bit 3)
    # and ProduceResponse v2+ answers it as log_append_time_ms.
    from kafka import KafkaProducer
    create(broker, "appended", {"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        metadata = producer.send("appended", value=b"old", timestamp_ms=1_000_000).get(timeout=60)
    finally:
        producer.close()
    after = int(time.time() * 1000)
    assert before <= metadata.timestamp <= after, "the produce answer carries the broker's time"
    for read in (kafka_python_read, aiokafka_read, confluent_read):
        ((value, kind, stamp),) = read(broker, "appended", 1)
        assert (value, kind, stamp) == (b"old", 1, metadata.timestamp), read.__name__
    assert stored_batches(broker, "appended") == [(0, True)]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_every_client_reads_what_every_client_wrote_in_the_topics_codec(broker, codec):
    from aiokafka import AIOKafkaProducer
    from kafka import KafkaProducer

    topic = f"squeezed-{codec}"
    create(broker, topic, {"compression.type": codec})
    # Each producer sends in a codec other than the topic's (or none).
    other = {"gzip": "lz4", "snappy": "zstd", "lz4": "gzip", "zstd": "snappy"}[codec]
    expected = []

    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type=other, linger_ms=20)
    try:
        for i in range(RECORDS):
            kp.send(topic, value=b"kp-%d-" % i + b"k" * 200)
        kp.flush(timeout=60)
    finally:
        kp.close()
    expected += [b"kp-%d-" % i + b"k" * 200 for i in range(RECORDS)]

    async def aio_produce():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type=None)
        await producer.start()
        try:
            async with asyncio.timeout(60):
                for i in range(RECORDS):
                    await producer.send(topic, value=b"aio-%d-" % i + b"a" * 200)
                await producer.flush()
        finally:
            await producer.stop()
    asyncio.run(aio_produce())
    expected += [b"aio-%d-" % i + b"a" * 200 for i in range(RECORDS)]

    ck = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": other, "linger.ms": 20})
    for i in range(RECORDS):
        ck.produce(topic, value=b"ck-%d-" % i + b"c" * 200)
    assert ck.flush(60) == 0
    expected += [b"ck-%d-" % i + b"c" * 200 for i in range(RECORDS)]

    assert {c for c, _ in stored_batches(broker, topic)} == {CODEC_IDS[codec]}
    for read in (kafka_python_read, aiokafka_read, confluent_read):
        assert [v for v, _, _ in read(broker, topic, len(expected))] == expected, read.__name__

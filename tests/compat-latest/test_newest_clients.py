"""The newest releases of aiokafka, kafka-python and confluent-kafka against sluiced: produce
and consume in each codec they support, and eager rebalances in which a member commits its
offsets from its revoke callback (the group is then preparing the rebalance: Kafka accepts
commits of the current generation there, and these clients depend on it)."""

import asyncio
import threading

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until

RECORDS = 200


def create(broker, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def fill(broker, topic):
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "lz4"})
    for i in range(RECORDS):
        p.produce(topic, key=str(i).encode(), value=str(i).encode())
    assert p.flush(30) == 0


def committed(broker, group, topic, partitions):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        return {tp.partition: tp.offset
                for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)}
    finally:
        c.close()


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_aiokafka_produces_and_consumes(broker, codec):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec, acks="all")
        await producer.start()
        try:
            for i in range(RECORDS):
                await producer.send(f"aio-{codec}", key=str(i).encode(), value=str(i).encode())
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(f"aio-{codec}", bootstrap_servers=broker.bootstrap, group_id=f"aio-{codec}",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            seen = []
            async with asyncio.timeout(60):
                while len(seen) < RECORDS:
                    batch = await consumer.getmany(timeout_ms=1000)
                    seen += [int(m.value) for msgs in batch.values() for m in msgs]
            await consumer.commit()
            return seen
        finally:
            await consumer.stop()

    assert sorted(asyncio.run(run())) == list(range(RECORDS))


def test_aiokafka_member_commits_in_its_revoke_callback(broker):
    from aiokafka import AIOKafkaConsumer
    from aiokafka.abc import ConsumerRebalanceListener

    create(broker, "aio-revoke", 4)
    fill(broker, "aio-revoke")
    failures = []

    async def run():
        first = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="aio-revoke",
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 session_timeout_ms=10000, heartbeat_interval_ms=500)

        class CommitOnRevoke(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                if revoked:
                    try:
                        await first.commit()
                    except Exception as e:  # the behaviour under test: a refused commit
                        failures.append(repr(e))

            async def on_partitions_assigned(self, assigned):
                pass

        await first.start()
        first.subscribe(["aio-revoke"], listener=CommitOnRevoke())
        read = 0
        async with asyncio.timeout(60):
            while read < RECORDS:
                batch = await first.getmany(timeout_ms=500)
                read += sum(len(v) for v in batch.values())
        # A second member joins: the first revokes (eagerly) and commits from the callback.
        second = AIOKafkaConsumer("aio-revoke", bootstrap_servers=broker.bootstrap, group_id="aio-revoke",
                                  auto_offset_reset="earliest", enable_auto_commit=False)
        await second.start()
        try:
            async with asyncio.timeout(60):
                while not (first.assignment() and second.assignment()):
                    await asyncio.gather(first.getmany(timeout_ms=200), second.getmany(timeout_ms=200))
        finally:
            await second.stop()
            await first.stop()

    asyncio.run(run())
    assert failures == [], failures
    assert sum(committed(broker, "aio-revoke", "aio-revoke", 4).values()) == RECORDS


def test_kafka_python_member_commits_in_its_revoke_callback(broker):
    from kafka import ConsumerRebalanceListener, KafkaConsumer

    create(broker, "kp-revoke", 4)
    fill(broker, "kp-revoke")
    failures = []
    first = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="kp-revoke", auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500)

    answers = []

    class CommitOnRevoke(ConsumerRebalanceListener):
        # kafka-python 3 runs listeners on its IO thread, where a blocking commit() is refused:
        # the revoke callback commits asynchronously, and the answer is checked below.
        def on_partitions_revoked(self, revoked):
            if revoked:
                first.commit_async(callback=lambda offsets, response: answers.append(response))

        def on_partitions_assigned(self, assigned):
            pass

    first.subscribe(["kp-revoke"], listener=CommitOnRevoke())

    def read_everything():
        first.poll(timeout_ms=500)
        return len(first.assignment()) == 4 and sum(first.position(tp) for tp in first.assignment()) >= RECORDS

    wait_until(read_everything, timeout_s=60, what="the first member to read everything")
    second = KafkaConsumer("kp-revoke", bootstrap_servers=broker.bootstrap, group_id="kp-revoke",
                           auto_offset_reset="earliest", enable_auto_commit=False)
    stop = threading.Event()

    def poll_second():
        while not stop.is_set():
            second.poll(timeout_ms=200)

    t = threading.Thread(target=poll_second)
    t.start()
    try:
        def both_assigned():
            first.poll(timeout_ms=200)
            return bool(first.assignment()) and bool(second.assignment())

        wait_until(both_assigned, timeout_s=60, what="both members assigned")
        wait_until(lambda: first.poll(timeout_ms=100) is not None and answers, timeout_s=30,
                   what="the answer to the revoke callback's commit")
        failures += [repr(a) for a in answers if isinstance(a, Exception)]
    finally:
        stop.set()
        t.join(30)
        second.close()
        first.close()
    assert failures == [], failures
    assert sum(committed(broker, "kp-revoke", "kp-revoke", 4).values()) == RECORDS


def test_newest_confluent_kafka_transaction_round_trip(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "newest"})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(10):
        p.produce("newest-txn", value=str(i).encode())
    p.commit_transaction(30)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "newest", "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed"})
    c.subscribe(["newest-txn"])
    seen = []

    def read_them():
        seen.extend(int(m.value()) for m in c.consume(10, 1.0) if not m.error())
        return len(seen) >= 10

    wait_until(read_them, timeout_s=60, what="the committed transaction")
    c.close()
    assert seen == list(range(10))

"""Fetching from the closest replica (KIP-392), with confluent-kafka on three brokers in three
racks: with replica.selector.class set to Kafka's RackAwareReplicaSelector, a consumer whose
client.rack is a follower's rack is sent to that follower by the leader, reads everything from
it (librdkafka's statistics show the bytes arriving from the follower), and the leader serves
the consumers of other racks itself."""

import json
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until
from test_cluster import make_cluster  # noqa: F401  (the fixture)

SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
COUNT = 2000


def racks(i):
    return ["-o", f"broker.rack=RACK{i}", "-o", f"replica.selector.class={SELECTOR}"]


def consume_with_stats(cluster, topic, client_rack):
    """Consumes COUNT records; returns them and the bytes received from each broker id (summed
    over librdkafka's handles of the same address: a bootstrap handle and a learned one)."""
    received = {}
    by_address = {address: i for i, address in cluster.addresses.items()}
    bootstrap = cluster.bootstrap

    def stats(text):
        totals = {}
        for b in json.loads(text).get("brokers", {}).values():
            broker = by_address.get(b["name"].rsplit("/", 1)[0])
            if broker is not None:
                totals[broker] = totals.get(broker, 0) + b["rxbytes"]
        received.update(totals)

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "client.rack": client_rack, "statistics.interval.ms": 500, "stats_cb": stats})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    try:
        wait_until(lambda: values.extend(m.value() for m in consumer.consume(500, 1.0) if not m.error())
                   or len(values) >= COUNT, timeout_s=120, what=f"{COUNT} records consumed")
        # Statistics are reported on an interval and delivered by poll: wait for one that counts
        # the records' bytes.
        data_bytes = sum(len(v) for v in values)
        wait_until(lambda: consumer.poll(0.2) is None and sum(received.values()) > data_bytes, timeout_s=30,
                   what=f"a statistics report counting the records (so far {received})")
    finally:
        consumer.close()
    return values, received


def test_a_consumer_reads_from_the_follower_in_its_rack(make_cluster):  # noqa: F811
    cluster = make_cluster(broker_args=racks)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("near", 1, 3)])["near"].result(timeout=60)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(COUNT):
        producer.produce("near", value=f"record-{i:05d}".encode() * 10)
    assert producer.flush(60) == 0
    leader = cluster.metadata().topics["near"].partitions[0].leader
    follower = next(i for i in cluster.brokers if i != leader)

    values, received = consume_with_stats(cluster, "near", f"RACK{follower}")
    assert values == [f"record-{i:05d}".encode() * 10 for i in range(COUNT)]
    data_bytes = COUNT * len(values[0])
    assert received.get(follower, 0) > data_bytes, received
    assert all(received.get(i, 0) < received[follower] for i in cluster.brokers if i != follower), received

    # A consumer of no known rack reads from the leader.
    values, received = consume_with_stats(cluster, "near", "RACK-elsewhere")
    assert len(values) == COUNT
    assert received.get(leader, 0) > data_bytes, received

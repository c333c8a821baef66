"""Mixed consumer groups (KIP-848 as Kafka 4.x runs it): members of the new protocol
(`group.protocol=consumer`) and classic consumers (JoinGroup/SyncGroup/Heartbeat) in one group.
The coordinator assigns for both; a classic member learns of a new assignment by being told to
rejoin (REBALANCE_IN_PROGRESS on its heartbeat) and gets it in SyncGroup. Its offset commits carry
its generation, which is its member epoch.

Covered: an eager classic consumer (`range`) joining a group of the new protocol, the two sharing
six partitions, every record read once (nothing skipped, nothing twice), both members' commits
kept; the new-protocol member leaving, the classic one taking everything; `sluice group describe`
showing the group's epochs, each member's epoch and target assignment.
"""

import json
import os
import subprocess

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, wait_until

BROKER_SETTINGS = [
    "group.consumer.session.timeout.ms=6000",
    "group.consumer.min.session.timeout.ms=1000",
    "group.consumer.heartbeat.interval.ms=500",
    "group.consumer.min.heartbeat.interval.ms=100",
]
PARTITIONS = 6
RECORDS = 600


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path, BROKER_SETTINGS)
    b.start()
    yield b
    b.stop()


def cli(broker, *args):
    out = subprocess.run([os.environ.get("SLUICE_CLI", "target/debug/sluice"), "--bootstrap-server", broker.bootstrap,
                          *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def produce(broker, topic, start, count):
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(start, start + count):
        p.produce(topic, value=str(i).encode(), partition=i % PARTITIONS)
    assert p.flush(30) == 0


def poll_into(consumers, seen, rounds=1):
    """Polls each consumer `rounds` times, recording (value, consumer index) of what it read and
    committing what it read (synchronously)."""
    for _ in range(rounds):
        for i, c in enumerate(consumers):
            m = c.poll(0.1)
            if m is None:
                continue
            assert m.error() is None, m.error()
            seen.append((int(m.value()), i))
            c.commit(message=m, asynchronous=False)


def test_a_classic_consumer_and_a_new_protocol_member_share_a_group(broker):
    topic, group = "mixed", "mixed-group"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(30)
    produce(broker, topic, 0, RECORDS // 2)
    modern = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "group.protocol": "consumer",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False, "client.id": "modern"})
    classic = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                        "enable.auto.commit": False, "client.id": "classic", "session.timeout.ms": 6000,
                        "heartbeat.interval.ms": 500, "partition.assignment.strategy": "range"})
    consumers = [modern, classic]
    seen = []
    try:
        modern.subscribe([topic])
        wait_until(lambda: poll_into([modern], seen) or len(modern.assignment()) == PARTITIONS, timeout_s=60,
                   what="the new-protocol member owning all six partitions")
        classic.subscribe([topic])

        def shared():
            poll_into(consumers, seen)
            a = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
            return len(a[0]) == 3 and len(a[1]) == 3 and sorted(a[0] + a[1]) == list(range(PARTITIONS))

        wait_until(shared, timeout_s=90, what="the two members sharing the six partitions three and three")

        # The group as the CLI shows it: a consumer-protocol group at one epoch, both members
        # reconciled to it, each with its target.
        doc = json.loads(cli(broker, "group", "describe", group, "--json"))
        assert doc["protocol_type"] == "consumer" and doc["state"] == "Stable", doc
        assert doc["group_epoch"] == doc["assignment_epoch"] >= 2, doc
        assert {m["client_id"] for m in doc["members"]} == {"modern", "classic"}
        for m in doc["members"]:
            assert m["member_epoch"] == doc["group_epoch"], m
            assert sorted((p["topic"], p["partition"]) for p in m["assignment"]) == \
                sorted((p["topic"], p["partition"]) for p in m["target_assignment"]), m
            assert len(m["assignment"]) == 3
        text = cli(broker, "group", "describe", group)
        assert "consumer protocol (KIP-848)" in text and "EPOCH" in text and "TARGET" in text, text

        produce(broker, topic, RECORDS // 2, RECORDS // 2)
        wait_until(lambda: poll_into(consumers, seen, 5) or len({v for v, _ in seen}) >= RECORDS, timeout_s=90,
                   what="every record read by one member or the other")
        readers = {i for _, i in seen}
        assert readers == {0, 1}, "both members read"

        # The new-protocol member leaves: the classic one is told to rejoin and takes everything.
        modern.close()
        consumers = [classic]
        wait_until(lambda: poll_into(consumers, seen) or len(classic.assignment()) == PARTITIONS, timeout_s=90,
                   what="the classic member owning all six partitions")
        produce(broker, topic, RECORDS, 60)
        wait_until(lambda: poll_into(consumers, seen, 5) or len({v for v, _ in seen}) >= RECORDS + 60,
                   timeout_s=90, what="the last records read by the classic member")
        values = [v for v, _ in seen]
        assert sorted(set(values)) == list(range(RECORDS + 60)), "nothing skipped"
        assert len(values) == len(set(values)), "nothing read twice: every record was committed as it was read"

        # Both members' commits are kept: the committed offsets are the partitions' ends.
        committed = classic.committed([tp for tp in classic.assignment()], timeout=30)
        assert sum(tp.offset for tp in committed) == RECORDS + 60, committed
    finally:
        for c in consumers:
            c.close()

"""Log compaction through sluiced with a real client: a compacted topic keeps exactly the
latest value per key once its records sit in rolled segments."""

import signal
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, wait_until


@pytest.fixture
def cbroker(tmp_path, request):
    b = Broker(tmp_path, ["log.cleaner.backoff.ms=200"])
    b.start()
    yield b
    b.stop(signal.SIGKILL if getattr(request.node, "rep_call", None) and request.node.rep_call.failed else signal.SIGTERM)


def read_all(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    c.assign([TopicPartition(topic, 0, low)])
    out = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            out.append((m.key().decode(), m.value().decode() if m.value() is not None else None, m.offset()))
        if m is None and (not out or out[-1][2] >= high - 1):
            break
    c.close()
    return out


def test_compaction_leaves_exactly_the_latest_value_per_key(cbroker):
    admin = AdminClient({"bootstrap.servers": cbroker.bootstrap})
    admin.create_topics([NewTopic("compacted", num_partitions=1, replication_factor=1,
                                  config={"cleanup.policy": "compact", "segment.bytes": "4096"})])["compacted"].result(30)
    p = Producer({"bootstrap.servers": cbroker.bootstrap, "linger.ms": 0})
    latest = {}
    for version in range(50):
        for k in range(10):
            value = f"v{version}-" + "x" * 40
            p.produce("compacted", key=f"key-{k}", value=value)
            latest[f"key-{k}"] = value
            p.flush(10)
    # Two large fillers of their own key push every real record out of the active segment.
    for _ in range(2):
        p.produce("compacted", key="filler", value="f" * 3000)
        p.flush(10)

    def compacted():
        records = [r for r in read_all(cbroker.bootstrap, "compacted") if r[0] != "filler"]
        return len(records) == 10 and {k: v for k, v, _ in records} == latest

    wait_until(compacted, timeout_s=60, interval_s=0.5, what="the cleaner to keep one record per key")
    offsets = [o for _, _, o in read_all(cbroker.bootstrap, "compacted")]
    assert offsets == sorted(offsets), "offsets keep their order (with gaps)"

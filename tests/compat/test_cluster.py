"""A three-broker cluster on one keeper node: a partition leader killed with SIGKILL while a
confluent-kafka producer with acks=all runs; every acknowledged record is read back, the killed
broker restarts, truncates if needed, rejoins the ISR, and all replicas end byte-identical."""
import hashlib
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import SLUICED, READY_TIMEOUT_S, wait_until

SESSION_MS = 6000


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, workdir: Path, args):
        self.workdir, self.args = workdir, args
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = None

    def start(self):
        ready = self.workdir / "ready"
        if ready.exists():
            ready.unlink()
        log = open(self.workdir / "sluiced.log", "ab")
        self.proc = subprocess.Popen([SLUICED, *self.args, "--ready-file", str(ready)],
                                     stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (ready.exists() and ready.read_text().strip()):
            assert self.proc.poll() is None, f"sluiced exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"not ready:\n{self.log()}"
            time.sleep(0.05)
        return ready.read_text().split()[0]

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)

    def log(self):
        p = self.workdir / "sluiced.log"
        return p.read_text(errors="replace")[-8000:] if p.exists() else ""


@pytest.fixture
def cluster(tmp_path, request):
    kport = free_port()
    keeper = Node(tmp_path / "keeper", ["-o", "process.roles=keeper", "-o", f"log.dirs={tmp_path / 'keeper'}",
                                        "-o", "keeper.client.address=127.0.0.1", "-o", f"keeper.client.port={kport}",
                                        "-o", "keeper.tick.time.ms=500"])
    keeper.start()
    brokers = {}
    for i in (1, 2, 3):
        port = free_port()
        brokers[i] = Node(tmp_path / f"broker{i}", [
            "-o", f"broker.id={i}", "-o", "process.roles=broker", "-o", f"keeper.connect=127.0.0.1:{kport}",
            "-o", f"listeners=PLAINTEXT://127.0.0.1:{port}", "-o", f"log.dirs={tmp_path / f'broker{i}' / 'data'}",
            "-o", f"zookeeper.session.timeout.ms={SESSION_MS}", "-o", "replica.lag.time.max.ms=5000"])
        brokers[i].port = port
    for b in brokers.values():
        b.start()
    bootstrap = ",".join(f"127.0.0.1:{b.port}" for b in brokers.values())
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait_until(lambda: len(admin.list_topics(timeout=10).brokers) == 3, timeout_s=60, what="three brokers registered")
    yield keeper, brokers, bootstrap
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for name, n in [("keeper", keeper), *brokers.items()]:
        n.kill(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- {name} log ---\n{n.log()}")


def partition_info(admin, topic):
    return admin.list_topics(topic, timeout=10).topics[topic].partitions


def test_leader_killed_under_acks_all_loses_nothing_and_replicas_converge(cluster):
    keeper, brokers, bootstrap = cluster
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("orders", num_partitions=3, replication_factor=3,
                                  config={"min.insync.replicas": "2"})])["orders"].result(30)
    wait_until(lambda: all(p.leader >= 0 and len(p.isrs) == 3 for p in partition_info(admin, "orders").values()),
               timeout_s=30, what="leaders and full ISRs")
    victim = partition_info(admin, "orders")[0].leader

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 60000,
                         "linger.ms": 5})
    acked, errors = set(), []

    def on_delivery(err, msg):
        if err is None:
            acked.add(int(msg.value()))
        else:
            errors.append(str(err))

    sent, killed_at, started = 0, None, time.monotonic()
    # Produce for a bounded time; kill the leader of partition 0 once records are flowing.
    while time.monotonic() - started < 12:
        producer.produce("orders", value=str(sent).encode(), on_delivery=on_delivery)
        sent += 1
        producer.poll(0.0005 if sent % 50 else 0.01)
        if killed_at is None and len(acked) > 2000:
            brokers[victim].kill()
            killed_at = sent
    assert producer.flush(90) == 0
    assert killed_at is not None, "the leader was never killed"
    assert len(acked) > killed_at, "records kept being acknowledged after the failover"
    new_leader = partition_info(admin, "orders")[0].leader
    assert new_leader not in (victim, -1), new_leader

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check", "enable.auto.commit": False})
    consumer.assign([TopicPartition("orders", p, 0) for p in range(3)])
    seen, deadline = set(), time.monotonic() + 60
    while not acked <= seen and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            seen.add(int(m.value()))
    consumer.close()
    assert acked <= seen, f"{len(acked - seen)} acknowledged records lost (errors: {errors[:3]})"

    # The killed broker comes back, catches up and rejoins every ISR; then all replicas agree.
    brokers[victim].start()
    wait_until(lambda: all(len(p.isrs) == 3 for p in partition_info(admin, "orders").values()),
               timeout_s=60, what="the restarted broker back in every ISR")

    def digests(p):
        out = []
        for b in brokers.values():
            files = sorted((b.workdir / "data" / f"orders-{p}").glob("*.log"))
            out.append(hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest())
        return out
    for p in range(3):
        wait_until(lambda: len(set(digests(p))) == 1, timeout_s=30, what=f"replicas of orders-{p} identical")

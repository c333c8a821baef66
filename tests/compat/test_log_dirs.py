"""DescribeLogDirs (KIP-113, KIP-827) and AlterReplicaLogDirs against a broker with two log
directories: kafka-python's admin client (DescribeLogDirs v0) and `sluice cluster log-dirs` see
every partition in the directory that holds it, with its size on disk, and each directory's
file-system size and usable space (v4, through the CLI); a partition moved to the other
directory (`sluice cluster move-log-dir`, raw AlterReplicaLogDirs v2) while it takes writes
keeps every record."""

import json
import os
import subprocess
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import SLUICE_CLI, TARGET, serve_broker, wait_until

LATEST_PYTHON = TARGET / "compat-venv-latest" / "bin" / "python"

# {partition: log dir} of topic `spread`, from kafka-python 3's describe_log_dirs.
KAFKA_PYTHON_DESCRIBE = """
import json, sys
from kafka.admin import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
placed = {}
for broker in admin.describe_log_dirs():
    for d in broker["log_dirs"]:
        assert d["error_code"] == 0, d
        for t in d["topics"]:
            if t["name"] == "spread":
                for p in t["partitions"]:
                    placed[p["partition_index"]] = d["log_dir"]
admin.close()
print(json.dumps(placed))
"""


@pytest.fixture
def two_dirs(tmp_path, request):
    dirs = [tmp_path / "dir-a", tmp_path / "dir-b"]
    yield from serve_broker(tmp_path, request, [f"log.dirs={dirs[0]},{dirs[1]}"])


def partition_dirs(root):
    """{partition: directory} of topic `spread` from the files on disk."""
    out = {}
    for d in ("dir-a", "dir-b"):
        for name in os.listdir(root / d):
            if name.startswith("spread-"):
                out[int(name.rsplit("-", 1)[1])] = str(root / d)
    return out


def test_every_partition_is_reported_in_its_directory_with_its_size(two_dirs, tmp_path):
    admin = AdminClient({"bootstrap.servers": two_dirs.bootstrap})
    admin.create_topics([NewTopic("spread", 4, 1)])["spread"].result(30)
    producer = Producer({"bootstrap.servers": two_dirs.bootstrap})
    for i in range(40):
        producer.produce("spread", value=b"v" * 100, partition=i % 2)
    assert producer.flush(30) == 0
    wait_until(lambda: len(partition_dirs(tmp_path)) == 4, timeout_s=30, what="four partition directories")
    on_disk = partition_dirs(tmp_path)
    assert len(set(on_disk.values())) == 2, f"both directories hold partitions: {on_disk}"

    out = subprocess.run([SLUICE_CLI, "-b", two_dirs.bootstrap, "cluster", "log-dirs", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    dirs = json.loads(out.stdout)
    assert sorted(d["log_dir"] for d in dirs) == sorted(str(tmp_path / d) for d in ("dir-a", "dir-b"))
    seen = {}
    for d in dirs:
        assert d["error"] is None and 0 < d["usable_bytes"] <= d["total_bytes"], d
        for p in d["partitions"]:
            if p["topic"] == "spread":
                seen[p["partition"]] = (d["log_dir"], p["size"], p["offset_lag"], p["future"])
    assert {p: s[0] for p, s in seen.items()} == on_disk
    for p, (_, size, lag, future) in seen.items():
        assert lag == 0 and future is False
        assert (size > 0) == (p in (0, 1)), f"partition {p} size {size}"

    # The newest kafka-python's admin client (its own venv, scripts/test makes it) sees the same
    # placement.
    assert LATEST_PYTHON.exists(), f"{LATEST_PYTHON} is missing: the newest clients are part of this test"
    described = subprocess.run([str(LATEST_PYTHON), "-c", KAFKA_PYTHON_DESCRIBE, two_dirs.bootstrap],
                               capture_output=True, text=True, timeout=120)
    assert described.returncode == 0, described.stderr
    placed = {int(p): d for p, d in json.loads(described.stdout).items()}
    assert placed == on_disk

    # Only the asked-for topic, through the CLI's table.
    out = subprocess.run([SLUICE_CLI, "-b", two_dirs.bootstrap, "cluster", "log-dirs", "-t", "spread"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("0 ")]
    assert sorted(int(r[3]) for r in rows) == [0, 1, 2, 3] and all(r[2] == "spread" for r in rows)
    unknown = subprocess.run([SLUICE_CLI, "-b", two_dirs.bootstrap, "cluster", "log-dirs", "-t", "nope"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode != 0 and "nope" in unknown.stderr


# AlterReplicaLogDirs v2 in raw frames (flexible): (dir, topic, [partitions]) -> {partition: error}.
def alter_replica_log_dirs(address, path, topic, partitions):
    from test_newest_versions import Conn, carray, cstring, i32, tags
    body = carray([path], lambda p: cstring(p) + carray(
        [topic], lambda t: cstring(t) + carray(partitions, i32) + tags()) + tags()) + tags()
    with Conn(address) as c:
        r = c.call(34, 2, body)
    assert r.int32() == 0  # throttle
    out = {}

    def partition():
        index, error = r.int32(), r.int16()
        assert r.tags() == {}
        out[index] = error

    def topic_result():
        assert r.cstring() == topic
        r.carray(partition)
        assert r.tags() == {}
    r.carray(topic_result)
    assert r.tags() == {}
    r.done()
    return out


LOG_DIR_NOT_FOUND, REPLICA_NOT_AVAILABLE = 57, 9


def test_a_replica_moves_to_the_other_directory_while_it_serves(two_dirs, tmp_path):
    """AlterReplicaLogDirs (KIP-113) through `sluice cluster move-log-dir --wait` and raw frames:
    a partition moves to the other directory while a producer keeps writing to it; afterwards
    it is in the destination only, DescribeLogDirs (the CLI) says so, every record acknowledged
    before, during and after the move is read back in order, and a restart finds it there.
    Unknown directories are LOG_DIR_NOT_FOUND, partitions not hosted REPLICA_NOT_AVAILABLE."""
    admin = AdminClient({"bootstrap.servers": two_dirs.bootstrap})  # kept: its futures need it
    admin.create_topics([NewTopic("spread", 2, 1)])["spread"].result(30)
    producer = Producer({"bootstrap.servers": two_dirs.bootstrap, "linger.ms": 0})
    acked = []

    def send(n, start):
        for i in range(start, start + n):
            producer.produce("spread", value=b"%06d" % i + b"x" * 2000, partition=0,
                             on_delivery=lambda err, m: acked.append(m.offset()) if err is None else None)
        assert producer.flush(30) == 0

    send(3000, 0)
    wait_until(lambda: 0 in partition_dirs(tmp_path), timeout_s=30, what="partition 0's directory")
    source = partition_dirs(tmp_path)[0]
    dest = str(tmp_path / ("dir-b" if source.endswith("dir-a") else "dir-a"))

    mover = subprocess.Popen([SLUICE_CLI, "-b", two_dirs.bootstrap, "cluster", "move-log-dir", "-t", "spread",
                              "-p", "0", "--broker", "0", "--to", dest, "--wait"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    send(1000, 3000)  # while it moves
    out, err = mover.communicate(timeout=600)
    assert mover.returncode == 0, err
    assert "done" in out
    send(500, 4000)
    assert partition_dirs(tmp_path)[0] == dest
    assert not any(n.startswith("spread-0") for n in os.listdir(source)), os.listdir(source)

    listed = subprocess.run([SLUICE_CLI, "-b", two_dirs.bootstrap, "cluster", "log-dirs", "-t", "spread", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    where = [(d["log_dir"], p["future"]) for d in json.loads(listed.stdout) for p in d["partitions"]
             if p["partition"] == 0]
    assert where == [(dest, False)]

    def read_all():
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": two_dirs.bootstrap, "group.id": "movers", "enable.auto.commit": False})
        c.assign([TopicPartition("spread", 0, 0)])
        got = []
        deadline = time.monotonic() + 60
        while len(got) < 4500 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(int(m.value()[:6]))
        c.close()
        return got

    assert sorted(acked) == list(range(4500))
    assert read_all() == list(range(4500)), "every record, in order"
    two_dirs.stop()
    two_dirs.start()
    assert partition_dirs(tmp_path)[0] == dest
    assert read_all() == list(range(4500)), "after a restart too"

    assert alter_replica_log_dirs(two_dirs.bootstrap, str(tmp_path / "nowhere"), "spread", [0]) == {0: LOG_DIR_NOT_FOUND}
    assert alter_replica_log_dirs(two_dirs.bootstrap, dest, "spread", [7]) == {7: REPLICA_NOT_AVAILABLE}
    assert alter_replica_log_dirs(two_dirs.bootstrap, dest, "spread", [0]) == {0: 0}, "already there: nothing to do"

"""DescribeLogDirs (KIP-113, KIP-827) against a broker with two log directories: kafka-python's
admin client (DescribeLogDirs v0) and `sluice cluster log-dirs` see every partition in the
directory that holds it, with its size on disk, and each directory's file-system size and
usable space (v4, through the CLI)."""

import json
import os
import subprocess

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

"""The `sluice` CLI end to end against a real sluiced: every command, its error cases (unknown
topic, broker down, bad flags) with exit codes and messages, and interop with kcat and
confluent-kafka in both directions, including librdkafka's partition placement for keys."""

import json
import subprocess

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import SLUICE_CLI as SLUICE


def sluice(broker, *args, stdin=None, expect=0):
    result = subprocess.run([SLUICE, "-b", broker.bootstrap, *args], input=stdin, capture_output=True, timeout=120)
    assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
    return result.stdout.decode(), result.stderr.decode()


def test_topic_commands_and_their_errors(broker):
    out, _ = sluice(broker, "topic", "create", "cli-t", "-p", "3", "-c", "retention.ms=60000")
    assert "created topic cli-t" in out
    _, err = sluice(broker, "topic", "create", "cli-t", expect=1)
    assert "TOPIC_ALREADY_EXISTS" in err
    out, _ = sluice(broker, "topic", "list")
    assert "cli-t\t3 partitions" in out
    out, _ = sluice(broker, "topic", "describe", "cli-t")
    assert "topic cli-t: 3 partitions" in out and "retention.ms=60000  (set on topic)" in out
    sluice(broker, "topic", "alter", "cli-t", "--set", "retention.ms=120000", "--delete", "segment.bytes")
    out, _ = sluice(broker, "topic", "describe", "cli-t")
    assert "retention.ms=120000" in out
    _, err = sluice(broker, "topic", "alter", "cli-t", "--set", "retention.ms=soon", expect=1)
    assert "INVALID_CONFIG" in err
    sluice(broker, "topic", "add-partitions", "cli-t", "-p", "5")
    _, err = sluice(broker, "topic", "add-partitions", "cli-t", "-p", "2", expect=1)
    assert "INVALID_PARTITIONS" in err
    out, _ = sluice(broker, "cluster", "info")
    assert "controller: 0" in out and f"0\t{broker.bootstrap}" in out and "cli-t-4\tleader 0" in out
    sluice(broker, "topic", "delete", "cli-t")
    _, err = sluice(broker, "topic", "describe", "cli-t", expect=1)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in err and "hint:" in err
    _, err = sluice(broker, "consume", "-t", "cli-t", "-e", expect=1)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in err
    _, err = sluice(broker, "produce", "-t", "cli-t", stdin=b"x\n", expect=1)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in err


def test_broker_down_and_bad_flags():
    result = subprocess.run([SLUICE, "-b", "127.0.0.1:1", "topic", "list"], capture_output=True, timeout=60)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "cannot connect to 127.0.0.1:1" in err and "hint: is the broker running?" in err
    result = subprocess.run([SLUICE, "produce"], capture_output=True, timeout=60)
    assert result.returncode == 2 and b"--topic" in result.stderr
    result = subprocess.run([SLUICE, "consume", "-t", "x", "--no-such-flag"], capture_output=True, timeout=60)
    assert result.returncode == 2


def test_health_checks_a_broker_or_a_keeper_and_fails_loudly(broker):
    out, _ = sluice(broker, "health")
    assert out.startswith("ok: cluster ") and "1 live brokers" in out, out
    out, _ = sluice(broker, "health", "--keeper", broker.keeper)
    assert out.strip() == f"ok: {broker.keeper} serves as standalone", out
    # Nothing listening: a non-zero exit that says so, within the bound.
    result = subprocess.run([SLUICE, "-b", "127.0.0.1:1", "health", "--timeout-ms", "3000"], capture_output=True,
                            timeout=60)
    assert result.returncode == 1 and b"cannot connect to 127.0.0.1:1" in result.stderr, result
    result = subprocess.run([SLUICE, "health", "--keeper", "127.0.0.1:1"], capture_output=True, timeout=60)
    assert result.returncode == 1 and b"cannot connect to 127.0.0.1:1" in result.stderr, result


def test_bad_offset_is_reported(broker):
    sluice(broker, "topic", "create", "cli-o")
    _, err = sluice(broker, "consume", "-t", "cli-o", "-o", "yesterday", expect=1)
    assert "--offset \"yesterday\"" in err


@pytest.mark.parametrize("command", [["produce"], ["consume"], ["topic", "create"], ["topic", "list"], ["topic", "describe"],
                                     ["topic", "alter"], ["topic", "add-partitions"], ["topic", "delete"], ["cluster", "info"],
                                     ["perf", "produce"], ["perf", "consume"], ["group", "list"], ["group", "describe"],
                                     ["group", "reset-offsets"], ["group", "delete"], ["health"]])
def test_every_command_has_help_with_an_example(command):
    result = subprocess.run([SLUICE, *command, "--help"], capture_output=True, timeout=60)
    assert result.returncode == 0
    assert "Example" in result.stdout.decode()


def test_sluice_produces_kcat_and_confluent_consume_with_librdkafka_placement(broker):
    sluice(broker, "topic", "create", "interop", "-p", "6")
    sluice(broker, "topic", "create", "interop-rd", "-p", "6")
    keys = [f"user-{i}" for i in range(300)]
    lines = "".join(f"{k}:value-{i}\n" for i, k in enumerate(keys)).encode()
    sluice(broker, "produce", "-t", "interop", "-K", ":", "-H", "via=sluice", "-z", "lz4", stdin=lines)

    # kcat reads them back with keys, values and headers.
    out = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", "interop", "-o", "beginning", "-e",
                          "-f", "%k|%s|%h|%p\n"], capture_output=True, timeout=120, check=True).stdout.decode()
    rows = [line.split("|") for line in out.splitlines()]
    assert len(rows) == len(keys)
    ours = {}
    for k, v, h, p in rows:
        assert h == "via=sluice" and v == f"value-{keys.index(k)}"
        ours[k] = int(p)

    # librdkafka's murmur2_random puts the same keys in the same partitions.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    placed = {}
    for k in keys:
        producer.produce("interop-rd", key=k.encode(), value=b"x",
                         on_delivery=lambda err, msg: placed.__setitem__(msg.key().decode(), msg.partition()))
    assert producer.flush(30) == 0
    assert placed == ours, "same key, same partition as librdkafka"

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "i", "enable.auto.commit": False})
    consumer.assign([TopicPartition("interop", p, 0) for p in range(6)])
    got = 0
    while got < len(keys):
        m = consumer.poll(10)
        assert m is not None and m.error() is None
        assert m.headers() == [("via", b"sluice")]
        got += 1
    consumer.close()


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_and_confluent_produce_sluice_consumes(broker, codec):
    topic = f"back-{codec}"
    lines = "".join(f"k{i}:v{i}\n" for i in range(500)).encode()
    subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", topic, "-z", codec, "-K", ":", "-H", "from=kcat"],
                   input=lines, check=True, timeout=120)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec})
    for i in range(500, 1000):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), headers=[("from", b"confluent")])
    assert producer.flush(30) == 0
    out, _ = sluice(broker, "consume", "-t", topic, "-o", "beginning", "-e", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["value"] for r in records] == [f"v{i}" for i in range(1000)]
    assert all(r["key"] == "k" + r["value"][1:] for r in records)
    assert {r["headers"]["from"] for r in records} == {"kcat", "confluent"}
    # Offsets: from the end, from an offset, and by timestamp.
    out, _ = sluice(broker, "consume", "-t", topic, "-o", "-3", "-e")
    assert out.splitlines() == ["v997", "v998", "v999"]
    out, _ = sluice(broker, "consume", "-t", topic, "-o", "10", "-c", "2", "-f", "%o:%s\n")
    assert out.splitlines() == ["10:v10", "11:v11"]
    first_ts = records[0]["timestamp"]
    out, _ = sluice(broker, "consume", "-t", topic, "-o", f"@{first_ts}", "-c", "1")
    assert out.splitlines() == ["v0"]


def test_perf_produce_and_consume_report_json(broker):
    sluice(broker, "topic", "create", "perf")
    out, _ = sluice(broker, "perf", "produce", "-t", "perf", "-n", "5000", "-s", "100", "--json")
    summary = json.loads(out)
    assert summary["records"] == 5000 and summary["bytes"] == 500_000
    assert summary["records_per_sec"] > 0
    lat = summary["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    out, _ = sluice(broker, "perf", "consume", "-t", "perf", "-n", "5000", "--json")
    assert json.loads(out)["records"] == 5000
    out, _ = sluice(broker, "perf", "produce", "-t", "perf", "-n", "100")
    assert "records/s" in out and "p99.9" in out


def test_keeper_commands_and_their_errors(broker):
    def keeper(*args, expect=0):
        r = subprocess.run([SLUICE, "keeper", "-k", broker.keeper, *args], capture_output=True, timeout=120)
        assert r.returncode == expect, (r.returncode, r.stdout, r.stderr)
        return r.stdout.decode(), r.stderr.decode()

    assert keeper("create", "/app", "v1")[0] == "/app\n"
    assert keeper("get", "/app")[0] == "v1\n"
    out, _ = keeper("get", "-s", "/app")
    assert "dataVersion = 0" in out and "numChildren = 0" in out
    assert keeper("set", "/app", "v2", "-v", "0")[0] == "dataVersion = 1\n"
    _, err = keeper("set", "/app", "stale", "-v", "0", expect=1)
    assert "BADVERSION" in err and "/app" in err
    assert keeper("create", "-s", "/app/q-")[0] == "/app/q-0000000000\n"
    assert keeper("ls", "/app")[0] == "q-0000000000\n"
    assert "/app/q-0000000000\n" in keeper("ls", "/", "-R")[0]
    _, err = keeper("create", "/app", expect=1)
    assert "NODEEXISTS" in err
    _, err = keeper("delete", "/app", expect=1)
    assert "NOTEMPTY" in err and "-R" in err
    # An ephemeral node lives only as long as the command's session.
    assert keeper("create", "-e", "/app/eph")[0] == "/app/eph\n"
    assert keeper("ls", "/app")[0] == "q-0000000000\n"
    keeper("delete", "-R", "/app")
    _, err = keeper("stat", "/app", expect=1)
    assert "NONODE" in err and "/app does not exist" in err

    r = subprocess.run([SLUICE, "keeper", "-k", "127.0.0.1:1", "ls", "/"], capture_output=True, timeout=120)
    assert r.returncode == 1 and b"cannot open a session" in r.stderr, r
    r = subprocess.run([SLUICE, "keeper", "-k", broker.keeper, "frobnicate"], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"frobnicate" in r.stderr, r


def test_perf_keeper_runs_the_operations_and_cleans_up(broker):
    for op in ("create", "set", "get"):
        r = subprocess.run([SLUICE, "perf", "keeper", "-k", broker.keeper, "--op", op, "-n", "300", "--clients", "3",
                            "--depth", "2", "--json"], capture_output=True, timeout=120)
        assert r.returncode == 0, (op, r.stdout, r.stderr)
        summary = json.loads(r.stdout.decode().strip().splitlines()[-1])
        # 300 split over 6 workers: 50 each.
        assert summary["kind"] == f"keeper {op}" and summary["records"] == 300, summary
        assert summary["records_per_sec"] > 0 and summary["latency_ms"]["p50"] > 0, summary
    r = subprocess.run([SLUICE, "keeper", "-k", broker.keeper, "ls", "/"], capture_output=True, timeout=120)
    # perf removed its nodes: only ZooKeeper's and the broker's own cluster metadata remain.
    assert r.returncode == 0 and r.stdout.decode().split() == [
        "admin", "brokers", "cluster", "config", "controller", "controller_epoch", "zookeeper"], r.stdout
    r = subprocess.run([SLUICE, "perf", "keeper", "-k", "127.0.0.1:1", "-n", "10"], capture_output=True, timeout=120)
    assert r.returncode != 0 and b"cannot open a session" in r.stderr, r.stderr

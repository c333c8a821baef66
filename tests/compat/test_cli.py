"""The `sluice` CLI end to end against a real sluiced: every command, its error cases (unknown
topic, broker down, a port that is not Kafka, bad flags) with exit codes and one-line messages,
listings with headers and `--json`, read_committed consumption of transactions, signals ending a
group member cleanly, dry-run offset resets, topics created on first produce, and interop with
kcat and confluent-kafka in both directions, including librdkafka's partition placement for
keys. The same commands on three brokers, where groups have different coordinators, are in
test_cli_cluster.py."""

import json
import signal
import socket
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import SLUICE_CLI as SLUICE
from conftest import serve_broker, wait_until

# A group's first join waits group.initial.rebalance.delay.ms (3 s by default) for more members.
QUICK_GROUPS = ["group.initial.rebalance.delay.ms=200"]
# How long a command pointed at something that is not a Kafka broker may take to say so: the
# client's connect timeout (10 s) and a margin.
NOT_KAFKA_BOUND_S = 25


@pytest.fixture
def quick_broker(tmp_path, request):
    yield from serve_broker(tmp_path, request, QUICK_GROUPS)


def sluice(broker, *args, stdin=None, expect=0):
    result = subprocess.run([SLUICE, "-b", broker.bootstrap, *args], input=stdin, capture_output=True, timeout=120)
    assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
    return result.stdout.decode(), result.stderr.decode()


def sluice_json(broker, *args):
    out, _ = sluice(broker, *args, "--json")
    return json.loads(out)


def table(out):
    """The rows of a listing as lists of cells, under its header (checked to be there)."""
    lines = out.splitlines()
    assert lines and lines[0] == lines[0].upper(), f"no header row: {out!r}"
    return lines[0].split(), [line.split() for line in lines[1:]]


def one_error(err):
    """Asserts stderr is one `error:` line and at most one `hint:` line that repeats nothing."""
    lines = err.splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), err
    if len(lines) == 2:
        assert lines[1].startswith("hint: ") and lines[1][len("hint: "):] not in lines[0], err
    return lines[0]


def test_topic_commands_and_their_errors(broker):
    out, _ = sluice(broker, "topic", "create", "cli-t", "-p", "3", "-c", "retention.ms=60000")
    assert "created topic cli-t" in out
    _, err = sluice(broker, "topic", "create", "cli-t", expect=1)
    assert "TOPIC_ALREADY_EXISTS" in one_error(err)
    header, rows = table(sluice(broker, "topic", "list")[0])
    assert header == ["NAME", "PARTITIONS", "REPLICAS"] and ["cli-t", "3", "1"] in rows
    out, _ = sluice(broker, "topic", "describe", "cli-t")
    assert "topic cli-t: 3 partitions" in out and "retention.ms=60000  (set on topic)" in out
    described = sluice_json(broker, "topic", "describe", "cli-t")
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    assert {"name": "retention.ms", "value": "60000", "override": True, "read_only": False} in described["configs"]
    sluice(broker, "topic", "alter", "cli-t", "--set", "retention.ms=120000", "--delete", "segment.bytes")
    out, _ = sluice(broker, "topic", "describe", "cli-t")
    assert "retention.ms=120000" in out
    _, err = sluice(broker, "topic", "alter", "cli-t", "--set", "retention.ms=soon", expect=1)
    assert "INVALID_CONFIG" in one_error(err)
    sluice(broker, "topic", "add-partitions", "cli-t", "-p", "5")
    _, err = sluice(broker, "topic", "add-partitions", "cli-t", "-p", "2", expect=1)
    assert "INVALID_PARTITIONS" in one_error(err)
    out, _ = sluice(broker, "cluster", "info")
    assert "controller: 0" in out and "BROKER  ADDRESS" in out
    assert ["0", broker.bootstrap, "-"] in [line.split() for line in out.splitlines()]
    row = next(cells for cells in map(str.split, out.splitlines()) if cells[0] == "cli-t-4")
    assert (row[1], row[-1]) == ("0", "ok"), "leader 0, healthy"
    info = sluice_json(broker, "cluster", "info")
    assert info["controller"] == 0 and info["brokers"] == [
        {"id": 0, "host": broker.bootstrap.rsplit(":", 1)[0], "port": broker.port, "rack": None}]
    p4 = next(p for p in info["partitions"] if (p["topic"], p["partition"]) == ("cli-t", 4))
    assert (p4["leader"], p4["replicas"], p4["isr"], p4["status"]) == (0, [0], [0], "ok")
    sluice(broker, "topic", "delete", "cli-t")
    _, err = sluice(broker, "topic", "describe", "cli-t", expect=1)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in one_error(err) and "hint:" in err
    # Consumers do not create topics (neither do librdkafka's by default).
    _, err = sluice(broker, "consume", "-t", "cli-t", "-e", expect=1)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in one_error(err)


def test_broker_down_and_bad_flags():
    result = subprocess.run([SLUICE, "-b", "127.0.0.1:1", "topic", "list"], capture_output=True, timeout=60)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "cannot connect to 127.0.0.1:1" in one_error(err) and "hint: is the broker running?" in err
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
                                     ["group", "reset-offsets"], ["group", "delete"], ["health"],
                                     ["transaction", "list"], ["transaction", "describe"], ["keeper", "ls"],
                                     ["keeper", "get"], ["keeper", "set"], ["keeper", "delete"]])
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
        "admin", "brokers", "cluster", "config", "controller", "controller_epoch", "kafka-acl", "kafka-acl-changes",
        "kafka-acl-extended", "kafka-acl-extended-changes", "zookeeper"], r.stdout
    r = subprocess.run([SLUICE, "perf", "keeper", "-k", "127.0.0.1:1", "-n", "10"], capture_output=True, timeout=120)
    assert r.returncode != 0 and b"cannot open a session" in r.stderr, r.stderr


# --- one-line errors, and ports that are not Kafka ----------------------------------------------

def test_every_failure_prints_one_error_line_and_at_most_one_hint(quick_broker):
    b = quick_broker
    sluice(b, "topic", "create", "exists")
    failures = [
        (["topic", "describe", "nosuch"], "UNKNOWN_TOPIC_OR_PARTITION"),
        (["topic", "create", "exists"], "TOPIC_ALREADY_EXISTS"),
        (["topic", "create", "zero", "-p", "0"], "INVALID_PARTITIONS"),
        (["topic", "delete", "nosuch"], "UNKNOWN_TOPIC_OR_PARTITION"),
        (["consume", "-t", "nosuch", "-e"], "UNKNOWN_TOPIC_OR_PARTITION"),
        (["group", "describe", "nosuch"], "GROUP_ID_NOT_FOUND"),
        (["group", "delete", "nosuch"], "GROUP_ID_NOT_FOUND"),
        (["transaction", "describe", "nosuch"], "TRANSACTIONAL_ID_NOT_FOUND"),
        (["consume", "-t", "exists", "-o", "yesterday"], "--offset \"yesterday\""),
    ]
    for args, expected in failures:
        _, err = sluice(b, *args, expect=1)
        assert expected in one_error(err), (args, err)


def serve_garbage(sock):
    """Accepts connections and answers each with an HTTP error, as a web server would."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def test_a_port_that_is_not_kafka_is_named_as_such_within_a_bound(broker):
    http = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve_garbage, args=(http,), daemon=True).start()
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody ever answers
    try:
        targets = [broker.keeper, "127.0.0.1:%d" % http.getsockname()[1], "127.0.0.1:%d" % silent.getsockname()[1]]
        for address in targets:
            started = time.monotonic()
            r = subprocess.run([SLUICE, "-b", address, "topic", "list"], capture_output=True, text=True,
                               timeout=NOT_KAFKA_BOUND_S * 2)
            took = time.monotonic() - started
            assert r.returncode == 1, (address, r)
            assert f"error: {address} does not speak the Kafka protocol" in one_error(r.stderr), r.stderr
            assert took < NOT_KAFKA_BOUND_S, f"{address}: {took:.1f}s"
    finally:
        http.close()
        silent.close()


# --- produce creates topics, as kcat does -------------------------------------------------------

def test_produce_and_perf_produce_create_a_missing_topic(broker):
    sluice(broker, "produce", "-t", "made-by-produce", "-K", ":", stdin=b"k1:one\nk2:two\n")
    out, _ = sluice(broker, "consume", "-t", "made-by-produce", "-o", "beginning", "-e", "-f", "%k=%s\n")
    assert out.splitlines() == ["k1=one", "k2=two"]
    summary = json.loads(sluice(broker, "perf", "produce", "-t", "made-by-perf", "-n", "50", "-s", "10", "--json")[0])
    assert summary["records"] == 50
    names = [t["name"] for t in sluice_json(broker, "topic", "list")]
    assert {"made-by-produce", "made-by-perf"} <= set(names)


def test_produce_names_the_topic_when_the_broker_does_not_create_topics(tmp_path, request):
    for b in serve_broker(tmp_path, request, ["auto.create.topics.enable=false"]):
        for command in (["produce", "-t", "nope"], ["perf", "produce", "-t", "nope", "-n", "1"]):
            _, err = sluice(b, *command, stdin=b"x\n", expect=1)
            line = one_error(err)
            assert "UNKNOWN_TOPIC_OR_PARTITION" in line and "'nope'" in line, err
            assert "auto.create.topics.enable" in line, err
        assert sluice_json(b, "topic", "list") == []


# --- listings: headers, --json, internal topics -------------------------------------------------

def test_listings_have_headers_and_json_and_hide_internal_topics(quick_broker):
    b = quick_broker
    sluice(b, "topic", "create", "listed", "-p", "2")
    sluice(b, "produce", "-t", "listed", stdin=b"a\nb\nc\n")
    # A group member creates __consumer_offsets; a transactional producer __transaction_state.
    sluice(b, "consume", "-t", "listed", "-g", "lister", "-o", "beginning", "-e")
    producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "lister-txn"})
    producer.init_transactions(30)

    header, rows = table(sluice(b, "topic", "list")[0])
    assert header == ["NAME", "PARTITIONS", "REPLICAS"] and [r[0] for r in rows] == ["listed"]
    assert sluice_json(b, "topic", "list") == [
        {"name": "listed", "partitions": 2, "replication_factor": 1, "internal": False}]
    _, rows = table(sluice(b, "topic", "list", "--internal")[0])
    assert {"__consumer_offsets", "__transaction_state", "listed"} <= {r[0] for r in rows}
    internal = {t["name"]: t["internal"] for t in sluice_json(b, "topic", "list", "--internal")}
    assert internal["__consumer_offsets"] and internal["__transaction_state"] and not internal["listed"]

    header, rows = table(sluice(b, "group", "list")[0])
    assert header == ["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"] and rows == [["lister", "Empty", "consumer", "0"]]
    assert sluice_json(b, "group", "list") == [
        {"group": "lister", "state": "Empty", "protocol_type": "consumer", "coordinator": 0}]

    described = sluice_json(b, "group", "describe", "lister")
    assert (described["group"], described["state"], described["members"]) == ("lister", "Empty", [])
    assert [(o["topic"], o["partition"]) for o in described["offsets"]] == [("listed", 0), ("listed", 1)]
    assert sum(o["committed"] for o in described["offsets"]) == 3 and described["total_lag"] == 0
    out, _ = sluice(b, "group", "describe", "lister")
    lines = out.splitlines()
    assert lines[1].split() == ["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "OWNER"], out
    assert lines[-1] == "total lag: 0", out

    header, rows = table(sluice(b, "transaction", "list")[0])
    assert header == ["TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"] and [r[0] for r in rows] == ["lister-txn"]
    listed = sluice_json(b, "transaction", "list")
    assert [(t["transactional_id"], t["state"], t["coordinator"]) for t in listed] == [("lister-txn", "Empty", 0)]
    # An empty listing still has its header (and an empty JSON array).
    assert sluice(b, "transaction", "list", "--state", "Ongoing")[0].splitlines() == [
        "TRANSACTIONAL-ID  PRODUCER-ID  STATE  COORDINATOR"]
    assert sluice_json(b, "transaction", "list", "--state", "Ongoing") == []


# --- read_committed -----------------------------------------------------------------------------

def test_consume_reads_committed_by_default_and_everything_with_read_uncommitted(quick_broker):
    b = quick_broker
    sluice(b, "topic", "create", "txns")
    producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "cli-iso"})
    producer.init_transactions(30)
    for outcome in ("aborted", "committed"):
        producer.begin_transaction()
        for i in range(3):
            producer.produce("txns", value=f"{outcome}-{i}".encode())
        assert producer.flush(30) == 0
        (producer.abort_transaction if outcome == "aborted" else producer.commit_transaction)(30)
    committed = [f"committed-{i}" for i in range(3)]
    everything = [f"aborted-{i}" for i in range(3)] + committed

    def consume(*args):
        return sluice(b, "consume", "-t", "txns", "-o", "beginning", "-e", *args)[0].splitlines()

    assert consume() == committed
    assert consume("--isolation", "read_committed") == committed
    assert consume("--isolation", "read_uncommitted") == everything
    assert consume("-g", "iso-group") == committed, "a group member reads committed too"
    assert consume("-g", "iso-group-2", "--isolation", "read_uncommitted") == everything

    # An open transaction: read_committed stops before it (and -e still ends: its end is the
    # last stable offset), read_uncommitted shows it.
    producer.begin_transaction()
    producer.produce("txns", value=b"open-0")
    assert producer.flush(30) == 0
    assert consume() == committed
    assert consume("--isolation", "read_uncommitted") == everything + ["open-0"]
    # Offsets: aborted 0-2, abort marker 3, committed 4-6, commit marker 7, open 8 (the last
    # stable offset; the high watermark is 9). -N counts back from the last stable offset.
    out, _ = sluice(b, "consume", "-t", "txns", "-o", "-2", "-e")
    assert out.splitlines() == ["committed-2"]
    producer.commit_transaction(30)
    assert consume() == committed + ["open-0"]
    _, err = sluice(b, "consume", "-t", "txns", "--isolation", "serializable", expect=2)
    assert "read_committed" in err


# --- signals ------------------------------------------------------------------------------------

class Running:
    """A `sluice` process whose stdout lines are collected as they come."""

    def __init__(self, broker, *args):
        self.proc = subprocess.Popen([SLUICE, "-b", broker.bootstrap, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_lines(self, n, what):
        wait_until(lambda: len(self.lines) >= n or self.proc.poll() is not None, timeout_s=60, what=what)
        assert len(self.lines) >= n, (self.lines, self.proc.stderr.read())

    def stop(self, sig):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self._reader.join(10)
        return code, self.proc.stderr.read()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_makes_a_group_member_commit_and_leave_so_reset_works_at_once(quick_broker, sig):
    b = quick_broker
    sluice(b, "topic", "create", "sig", "-p", "2")
    sluice(b, "produce", "-t", "sig", stdin="".join(f"m{i}\n" for i in range(20)).encode())
    member = Running(b, "consume", "-t", "sig", "-g", "sig-group", "-o", "beginning")
    member.wait_for_lines(20, "every record consumed by the member")
    _, err = sluice(b, "group", "reset-offsets", "sig-group", "-t", "sig", "--to-earliest", expect=1)
    assert "NON_EMPTY_GROUP" in one_error(err) and "active members" in err
    code, err = member.stop(sig)
    assert code == 0 and err == "", (code, err)
    # No wait for a session timeout: the member left, having committed what it printed.
    described = sluice_json(b, "group", "describe", "sig-group")
    assert described["state"] == "Empty" and described["members"] == []
    assert sum(o["committed"] for o in described["offsets"]) == 20
    sluice(b, "group", "reset-offsets", "sig-group", "-t", "sig", "--to-earliest", "--execute")
    described = sluice_json(b, "group", "describe", "sig-group")
    assert [o["committed"] for o in described["offsets"]] == [0, 0] and described["total_lag"] == 20


def test_sigint_ends_a_plain_consume_cleanly(broker):
    sluice(broker, "produce", "-t", "plain-sig", stdin=b"a\nb\n")
    reader = Running(broker, "consume", "-t", "plain-sig", "-o", "beginning")
    reader.wait_for_lines(2, "both records printed")
    code, err = reader.stop(signal.SIGINT)
    assert code == 0 and err == "", (code, err)
    assert reader.lines == ["a", "b"]


# --- reset-offsets: a plan, applied only with --execute -----------------------------------------

def test_reset_offsets_is_a_dry_run_without_execute_and_refuses_offsets_outside_the_log(quick_broker):
    b = quick_broker
    sluice(b, "topic", "create", "plan", "-p", "2")
    sluice(b, "produce", "-t", "plan", "-p", "0", stdin=b"".join(b"x\n" for _ in range(10)))
    sluice(b, "produce", "-t", "plan", "-p", "1", stdin=b"".join(b"y\n" for _ in range(4)))
    sluice(b, "consume", "-t", "plan", "-g", "planner", "-o", "beginning", "-e")

    def committed():
        return {o["partition"]: o["committed"] for o in sluice_json(b, "group", "describe", "planner")["offsets"]}
    assert committed() == {0: 10, 1: 4}

    out, err = sluice(b, "group", "reset-offsets", "planner", "-t", "plan", "--to-earliest")
    header, rows = table(out)
    assert header == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"]
    assert rows == [["planner", "plan", "0", "10", "0"], ["planner", "plan", "1", "4", "0"]]
    assert "dry run; add --execute to apply" in err
    assert committed() == {0: 10, 1: 4}, "a dry run changes nothing"

    out, _ = sluice(b, "group", "reset-offsets", "planner", "-t", "plan", "-p", "0", "--to-offset", "7", "--execute")
    assert table(out)[1] == [["planner", "plan", "0", "10", "7"]]
    assert committed() == {0: 7, 1: 4}
    sluice(b, "group", "reset-offsets", "planner", "-t", "plan", "--to-earliest", "--execute")
    assert committed() == {0: 0, 1: 0}

    for offset in ("11", "-1"):
        _, err = sluice(b, "group", "reset-offsets", "planner", "-t", "plan", "-p", "0", f"--to-offset={offset}",
                        "--execute", expect=1)
        line = one_error(err)
        assert f"--to-offset {offset}" in line and "plan-0" in line and "from 0" in line and "to 10" in line, line
    # Refused as a whole: partition 1 (where 10 would be past the end, 4) is not half-applied.
    _, err = sluice(b, "group", "reset-offsets", "planner", "-t", "plan", "--to-offset", "10", "--execute", expect=1)
    assert "plan-1" in one_error(err)
    assert committed() == {0: 0, 1: 0}


def test_cluster_info_folds_the_healthy_partitions_of_internal_topics(broker):
    # A group commit creates __consumer_offsets (50 partitions).
    sluice(broker, "produce", "-t", "folded", stdin=b"one\n")
    sluice(broker, "consume", "-t", "folded", "-g", "folding", "-o", "beginning", "-e")
    out, _ = sluice(broker, "cluster", "info")
    assert not [line for line in out.splitlines() if line.startswith("__consumer_offsets-")], out
    assert "__consumer_offsets: 50 more partitions ok (--internal lists them)" in out
    assert any(line.split()[0] == "folded-0" for line in out.splitlines() if line.strip()), out
    out, _ = sluice(broker, "cluster", "info", "--internal")
    assert len([line for line in out.splitlines() if line.startswith("__consumer_offsets-")]) == 50
    info = sluice_json(broker, "cluster", "info", "--internal")
    assert len([p for p in info["partitions"] if p["topic"] == "__consumer_offsets"]) == 50

"""Go clients against sluiced: Sarama 1.22.1 at many config.Version values and segmentio
kafka-go 0.2.1, the versions Debian ships, built offline in GOPATH mode from /usr/share/gocode.

The programs are tests/go/sarama-check and tests/go/kafkago-check: each mode does one job, checks
what it can and prints JSON, which the tests here compare across modes, versions and clients.

Sarama's config.Version picks its request versions: below 0.10 Produce v0/v1 and Fetch v0/v1
with message format 0 (no timestamps); at 0.10.0 Produce v2 and Fetch v2 with format 1
(timestamps, relative offsets in compressed sets); at 0.10.1 Fetch v3 and ListOffsets v1; from
0.11 Produce v3 and Fetch v4 with record batches (headers). The broker stores format 2 only, so
it converts older formats up when it appends them and down again for an old fetcher, as Kafka
does: a record written in format 0 is stored without a timestamp (-1); a Fetch below v2 answers
format 0 (no timestamps), v2 and v3 format 1 (no headers). Offsets go through OffsetCommit v1
(v2 with a retention time) and OffsetFetch v1 at every version; consumer groups need 0.10.2 and
the admin client 0.10.1 (DescribeConfigs 0.11, CreatePartitions 1.0). kafka-go 0.2 writes format
1 with Produce v2 and reads with Fetch v2 only, so each of its reads needs the down-conversion.

Sarama 1.22.1 sends zstd in Produce v3; Kafka accepts zstd from Produce v7 only (KIP-110) and
answers UNSUPPORTED_COMPRESSION_TYPE (Sarama issue #1252, fixed in Sarama 1.26), so that is what
is expected here too."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from conftest import ROOT, TARGET, Broker, wait_until

GO = shutil.which("go")
GOPATH = os.environ.get("SLUICE_GOPATH", "/usr/share/gocode")
BUILD_TIMEOUT_S = 600
RUN_TIMEOUT_S = 60  # each Go program's own watchdog; the subprocess gets 30 s more

# Sarama's Version constants that change what it sends, and the newest it defines.
NEWEST = "2.2.0"
VERSIONS = ["0.8.2.0", "0.9.0.0", "0.10.0.0", "0.10.1.0", "0.10.2.0", "0.11.0.0", "1.0.0", "2.0.0", "2.1.0", NEWEST]
RECORDS = 200
KEYS = 13
TS_BASE = 1_600_000_000_000
UNSUPPORTED_COMPRESSION_TYPE = 76


def vt(version):
    """A Sarama version string as a comparable tuple: "0.10.2.0" -> (0, 10, 2, 0), "1.0.0" -> (1, 0, 0, 0)."""
    parts = tuple(int(x) for x in version.split("."))
    return parts if parts[0] == 0 else parts + (0,)


def codecs_for(version):
    """What Sarama compresses with at `version` (lz4 needs format 1; zstd is tested apart)."""
    return ["none", "gzip", "snappy"] + (["lz4"] if vt(version) >= (0, 10, 0, 0) else [])


def slug(version):
    return version.replace(".", "_")


# ---------------------------------------------------------------------------------------------
# Fixtures: the Go programs, built once; one broker for the module.


@pytest.fixture(scope="module")
def tools():
    # scripts/test installs Go: under CI a missing `go` is a failure, not a skip.
    if GO is None and not os.environ.get("CI"):
        pytest.skip("`go` is not installed (apt-get install golang-go golang-github-shopify-sarama-dev "
                    "golang-github-segmentio-kafka-go-dev)")
    assert GO is not None, "`go` is not installed; scripts/test installs golang-go"
    for package in ["github.com/Shopify/sarama", "github.com/segmentio/kafka-go"]:
        assert Path(GOPATH, "src", package).is_dir(), (
            f"{GOPATH}/src/{package} is missing: apt-get install golang-github-shopify-sarama-dev "
            "golang-github-segmentio-kafka-go-dev")
    out = TARGET / "go"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOCACHE=str(TARGET / "go-cache"), GOFLAGS="",
               GOPROXY="off", CGO_ENABLED="1" if shutil.which("gcc") else "0")
    built = {}
    for name in ["sarama-check", "kafkago-check"]:
        result = subprocess.run([GO, "build", "-o", str(out / name), f"./tests/go/{name}"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        assert result.returncode == 0, f"go build ./tests/go/{name} failed:\n{result.stdout}{result.stderr}"
        built[name] = out / name
    return built


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    # Groups join at once instead of after group.initial.rebalance.delay.ms (3 s).
    b = Broker(tmp_path_factory.mktemp("go-clients"), ["group.initial.rebalance.delay.ms=0"])
    b.start()
    yield b
    b.stop()


@pytest.fixture
def broker(shared_broker, request):
    """The module's broker, with its log since the test began printed when the test failed."""
    start = shared_broker.log_path.stat().st_size if shared_broker.log_path.exists() else 0
    yield shared_broker
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        with open(shared_broker.log_path, "rb") as f:
            f.seek(start)
            print(f"\n--- sluiced log (during the test; {shared_broker.log_path}) ---\n"
                  f"{f.read().decode(errors='replace')[-20000:]}")


class Go:
    """Runs the Go programs against one broker."""

    def __init__(self, tools, broker):
        self.tools = tools
        self.broker = broker

    def run(self, tool, mode, **flags):
        args = [str(self.tools[tool]), "-bootstrap", self.broker.bootstrap, "-mode", mode,
                "-timeout", f"{RUN_TIMEOUT_S}s"]
        for name, value in flags.items():
            args += [f"-{name.replace('_', '-')}", str(value)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT_S + 30)
        if result.returncode != 0:
            stderr = result.stderr.splitlines()
            failure = [line for line in stderr if "FAIL" in line]
            pytest.fail(f"{' '.join(args[:1] + args[3:])} exited with {result.returncode}: "
                        f"{failure[-1] if failure else '(no FAIL line)'}\n--- last lines of its stderr ---\n"
                        + "\n".join(stderr[-60:]), pytrace=False)
        return json.loads(result.stdout)

    def sarama(self, version, mode, **flags):
        return self.run("sarama-check", mode, version=version, **flags)

    def kafkago(self, mode, **flags):
        return self.run("kafkago-check", mode, **flags)


@pytest.fixture
def go(tools, broker):
    return Go(tools, broker)


def create_topic(broker, name, partitions=3):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)[name].result(60)
    wait_until(lambda: len(admin.list_topics(name, timeout=10).topics[name].partitions) == partitions,
               30, what=f"{name} with {partitions} partitions in the metadata")


def topic_names(broker):
    return set(AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics)


# ---------------------------------------------------------------------------------------------
# What the records must look like.


def index(record):
    return int(record["value"].rsplit("-", 1)[1])


def by_partition(records):
    out = {}
    for r in records:
        out.setdefault(r["partition"], []).append(r)
    return {p: sorted(rs, key=lambda r: r["offset"]) for p, rs in out.items()}


def check_written(records, prefix, n):
    """`records` (as one client read a fresh topic back) are the n records written, each partition
    from offset 0 without gaps, in the order written, every key in one partition."""
    assert sorted(r["value"] for r in records) == [f"{prefix}-{i:05d}" for i in range(n)]
    partition_of_key = {}
    for r in records:
        assert r["key"] == f"key-{index(r) % KEYS:02d}", r
        assert partition_of_key.setdefault(r["key"], r["partition"]) == r["partition"], f"{r['key']} in two partitions"
    for p, rs in by_partition(records).items():
        assert [r["offset"] for r in rs] == list(range(len(rs))), f"partition {p}: offsets {[r['offset'] for r in rs]}"
        indices = [index(r) for r in rs]
        assert indices == sorted(indices), f"partition {p} is out of the order written: {indices}"


def rows(records):
    return sorted((r["partition"], r["offset"], r["key"], r["value"]) for r in records)


def expected_timestamp(i, producer, consumer):
    """What a Sarama consumer at `consumer` reports for record i written by Sarama at `producer`."""
    if vt(consumer) < (0, 10, 0, 0):
        return None  # Fetch v0/v1 answer message format 0, which has no timestamp
    if vt(producer) < (0, 10, 0, 0):
        return None  # written in format 0: stored without a timestamp (-1)
    return TS_BASE + i


def check_sarama_read(read, written, producer, consumer, from_offset=0):
    """A Sarama consumer's read (`consume` mode) against what Sarama wrote (`produce` mode)."""
    want = [r for r in written if r["offset"] >= from_offset]
    assert rows(read) == rows(want), (
        f"Sarama {consumer} read from {from_offset} differs from what Sarama {producer} wrote")
    for r in read:
        i = index(r)
        ts = expected_timestamp(i, producer, consumer)
        assert r["timestamp"] == ts, (
            f"Sarama {consumer} reading a record Sarama {producer} wrote (partition {r['partition']} offset "
            f"{r['offset']}): timestamp {r['timestamp']}, expected {ts}")
        if (0, 10, 0, 0) <= vt(consumer) < (0, 11, 0, 0) and ts is not None:
            # Sarama reports the wrapper message's timestamp only for message formats 0 and 1.
            assert r["block_timestamp"] is not None, (
                f"Fetch {fetch_version(consumer)} answered record batches (format 2) where Kafka "
                f"down-converts to message format 1: {r}")
        if vt(consumer) >= (0, 11, 0, 0):
            assert r["block_timestamp"] is None, f"Fetch v4 answered message format 0/1, not record batches: {r}"
        headers = [["i", str(i)]] if vt(producer) >= (0, 11, 0, 0) and vt(consumer) >= (0, 11, 0, 0) else []
        assert r["headers"] == headers, f"headers of {r}, expected {headers}"


def fetch_version(version):
    v = vt(version)
    return ("v0" if v < (0, 9, 0, 0) else "v1" if v < (0, 10, 0, 0) else "v2" if v < (0, 10, 1, 0)
            else "v3" if v < (0, 11, 0, 0) else "v4")


def read_from(consumed, start):
    (read,) = [r for r in consumed["reads"] if r["from"] == start]
    return read["records"]


# ---------------------------------------------------------------------------------------------
# Sarama.


def test_sarama_newest_version_is_covered(tools):
    out = subprocess.run([str(tools["sarama-check"]), "-mode", "versions"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    versions = json.loads(out.stdout)
    assert versions["max"] == NEWEST, f"Sarama now defines {versions['max']}: add it to VERSIONS"
    assert set(VERSIONS) <= set(versions["supported"])


@pytest.mark.parametrize("version,codec", [(v, c) for v in VERSIONS for c in codecs_for(v)])
def test_sarama_produce_and_consume(go, broker, version, codec):
    """A SyncProducer at `version` writes keyed records in batches (compressed as one wrapper
    message per set below 0.11); a Consumer at the same version reads them all back from the
    oldest offset, and again from offset 37 (into the middle of a compressed set)."""
    topic = f"sarama-{slug(version)}-{codec}"
    create_topic(broker, topic)
    written = go.sarama(version, "produce", topic=topic, n=RECORDS, compression=codec, prefix=topic,
                        ts_base=TS_BASE)["records"]
    check_written(written, topic, RECORDS)
    consumed = go.sarama(version, "consume", topic=topic, n=RECORDS, **{"from": "oldest,37"})
    check_written(read_from(consumed, "oldest"), topic, RECORDS)
    check_sarama_read(read_from(consumed, "oldest"), written, version, version)
    check_sarama_read(read_from(consumed, "37"), written, version, version, from_offset=37)


@pytest.mark.parametrize("version", [v for v in VERSIONS if vt(v) >= (2, 1, 0, 0)])
def test_sarama_zstd_is_refused_below_produce_v7(go, broker, version):
    # Sarama 1.22.1 sends zstd batches in Produce v3; Kafka takes zstd from Produce v7 (KIP-110).
    topic = f"sarama-{slug(version)}-zstd"
    create_topic(broker, topic)
    out = go.sarama(version, "produce", topic=topic, n=20, compression="zstd",
                    expect_error=UNSUPPORTED_COMPRESSION_TYPE)
    assert out["failed"] == 20
    consumed = go.sarama(version, "consume", topic=topic, n=0)
    assert read_from(consumed, "oldest") == [] and set(consumed["reads"][0]["newest"].values()) == {0}


@pytest.mark.parametrize("version", VERSIONS)
def test_sarama_offset_manager_commits_and_fetches(go, broker, version):
    """An OffsetManager outside any group commits (OffsetCommit v1, generation -1; v2 with a
    retention time) and fetches (OffsetFetch v1); other versions and kafka-python read the same."""
    topic = f"sarama-offsets-{slug(version)}"
    create_topic(broker, topic)
    groups = {f"{topic}-v1": {}}
    if vt(version) >= (0, 9, 0, 0):
        groups[f"{topic}-v2"] = {"retention": "1h"}
    for group, extra in groups.items():
        out = go.sarama(version, "commit", topic=topic, group=group, offsets="0=5,1=7", metadata=f"by {version}",
                        **extra)
        want = {"0": {"offset": 5, "metadata": f"by {version}"}, "1": {"offset": 7, "metadata": f"by {version}"},
                "2": {"offset": None, "metadata": ""}}
        assert out["offsets"] == want
        for other in ["0.8.2.0", NEWEST]:
            assert go.sarama(other, "committed", topic=topic, group=group)["offsets"] == want, f"read at {other}"
        # A third client reads them too: kafka-python, because confluent-kafka reads a committed
        # offset's metadata past its end (librdkafka copies it without a terminating NUL and the
        # binding takes it as a C string), so its answer holds stray bytes now and then.
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
        try:
            got = [consumer.committed(KafkaTopicPartition(topic, p), metadata=True) for p in range(3)]
        finally:
            consumer.close()
        assert [(m.offset, m.metadata) for m in got[:2]] == [(5, f"by {version}"), (7, f"by {version}")]
        assert got[2] is None


@pytest.mark.parametrize("version", [v for v in VERSIONS if vt(v) >= (0, 10, 2, 0)])
def test_sarama_consumer_group_resumes_from_its_commits(go, broker, version):
    """A ConsumerGroup marks the first 50 records and leaves (its offsets committed with the
    generation); a second session of the group reads exactly the other 70: nothing read twice,
    nothing skipped. Then the group is empty and its offsets are the partitions' ends."""
    topic, group = f"sarama-group-{slug(version)}", f"sarama-group-{slug(version)}"
    create_topic(broker, topic)
    written = go.sarama(version, "produce", topic=topic, n=120, prefix=topic)["records"]
    ends = {p: len(rs) for p, rs in by_partition(written).items()}

    first = go.sarama(version, "group", topic=topic, group=group, n=50)
    assert len(first["records"]) == 50 and first["claims"] == {topic: [0, 1, 2]}
    for p, rs in by_partition(first["records"]).items():
        assert [r["offset"] for r in rs] == list(range(len(rs))), f"first session, partition {p}"
    committed = go.sarama(version, "committed", topic=topic, group=group)["offsets"]
    first_by_partition = by_partition(first["records"])
    for p in range(3):
        want = first_by_partition[p][-1]["offset"] + 1 if p in first_by_partition else None
        assert committed[str(p)]["offset"] == want, f"partition {p} committed after the first session: {committed}"

    second = go.sarama(version, "group", topic=topic, group=group, n=70)
    for p in range(3):
        resume = committed[str(p)]["offset"]
        if str(p) in second["initial"]:
            assert second["initial"][str(p)] == (resume if resume is not None else -2), f"partition {p}"
    for p, rs in by_partition(second["records"]).items():
        start = committed[str(p)]["offset"] or 0
        assert [r["offset"] for r in rs] == list(range(start, start + len(rs))), f"second session, partition {p}"
    assert rows(first["records"] + second["records"]) == rows(written)

    final = go.sarama(version, "committed", topic=topic, group=group)["offsets"]
    assert {int(p): o["offset"] for p, o in final.items()} == {p: ends.get(p) for p in range(3)}
    described = go.sarama(version, "describe-group", group=group)
    assert (described["listed"], described["error"], described["state"], described["members"]) == (
        "consumer", 0, "Empty", 0), described
    assert described["protocol_type"] == "consumer"


@pytest.mark.parametrize("version", [v for v in VERSIONS if vt(v) >= (0, 10, 1, 0)])
def test_sarama_cluster_admin(go, broker, version):
    """ClusterAdmin creates a topic with 3 partitions and retention.ms (CreateTopics v0-v2), is
    refused a second creation, describes it, reads, alters and lists its config (0.11+), adds
    partitions (1.0+), deletes it, and is refused a second deletion."""
    topic = f"sarama-admin-{slug(version)}"
    report = go.sarama(version, "admin", topic=topic, partitions=3, config="retention.ms=123456")
    assert report["partitions"] == 3 and report["deleted"] is True
    if vt(version) >= (0, 11, 0, 0):
        assert report["config"] == {"retention.ms": "123456"} and report["listed"] is True
    else:
        assert "config" not in report
    if vt(version) >= (1, 0, 0, 0):
        assert report["partitions_after_create_partitions"] == 5
    assert topic not in topic_names(broker)


CROSS_PRODUCERS = ["0.8.2.0", "0.10.0.0", NEWEST]
CROSS_CONSUMERS = ["0.8.2.0", "0.9.0.0", "0.10.0.0", "0.10.1.0", "0.11.0.0", NEWEST]


@pytest.mark.parametrize("producer,codec", [(p, c) for p in CROSS_PRODUCERS for c in codecs_for(p)])
def test_sarama_reads_across_versions(go, broker, producer, codec):
    """Records written at one Version (message format 0, 1 or 2) are read at every other:
    converted up when stored and down for old fetchers, timestamps kept wherever both formats
    have them, headers only between record-batch clients."""
    topic = f"sarama-cross-{slug(producer)}-{codec}"
    create_topic(broker, topic)
    written = go.sarama(producer, "produce", topic=topic, n=100, compression=codec, prefix=topic)["records"]
    check_written(written, topic, 100)
    # lz4 in message format 0 is the pre-KIP-57 framing; old clients never asked for it.
    consumers = [c for c in CROSS_CONSUMERS if codec != "lz4" or vt(c) >= (0, 10, 0, 0)]
    for consumer in consumers:
        consumed = go.sarama(consumer, "consume", topic=topic, n=100, **{"from": "oldest,21"})
        check_sarama_read(read_from(consumed, "oldest"), written, producer, consumer)
        check_sarama_read(read_from(consumed, "21"), written, producer, consumer, from_offset=21)


# ---------------------------------------------------------------------------------------------
# kafka-go 0.2.1.


def check_kafka_go_records(records, written_by_sarama, timestamps):
    """kafka-go's records against Sarama's view of the same topic (`consume` mode, oldest)."""
    assert rows(records) == rows(written_by_sarama)
    for r in records:
        assert r["timestamp"] == timestamps(index(r)), r


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
def test_kafka_go_writer_and_readers(go, broker, codec):
    """kafka-go creates a topic (CreateTopics v0) and writes keyed records (Produce v2, format 1);
    Sarama reads them at 2.2 (record batches) and 0.8.2 (format 0; 0.10.0 for lz4); kafka-go reads
    them back with a Reader from explicit offsets and with Conn.ReadBatch (Fetch v2, format 1)."""
    topic = f"kafkago-{codec}"
    created = go.kafkago("create", topic=topic, partitions=3, config="retention.ms=123456")
    assert created["partitions"] == {topic: [0, 1, 2]}
    configs = go.sarama(NEWEST, "describe-config", topic=topic)["configs"]
    assert configs["retention.ms"] == {"value": "123456", "default": False}

    go.kafkago("produce", topic=topic, n=150, compression=codec, prefix=topic, ts_base=TS_BASE)
    newest = read_from(go.sarama(NEWEST, "consume", topic=topic, n=150), "oldest")
    check_written(newest, topic, 150)
    for r in newest:
        assert r["timestamp"] == TS_BASE + index(r) and r["headers"] == [], r
    # Down-converted to message format 0, lz4 gets the framing of format 0 (the header checksum
    # before KIP-57), as Kafka writes it, which Sarama's lz4 reader refuses; the others are read.
    oldest_reader = "0.8.2.0" if codec != "lz4" else "0.10.0.0"
    oldest = read_from(go.sarama(oldest_reader, "consume", topic=topic, n=150), "oldest")
    assert rows(oldest) == rows(newest)
    if codec != "lz4":
        assert {r["timestamp"] for r in oldest} == {None}, "Fetch v0 answers message format 0 (no timestamps)"
    else:
        assert all(r["timestamp"] == TS_BASE + index(r) and r["block_timestamp"] is not None for r in oldest), \
            "Fetch v2 answers message format 1 with the timestamps"

    for p in range(3):
        read = go.kafkago("read", topic=topic, partition=p, **{"from": 0})
        assert (read["first"], read["last"]) == (0, len(by_partition(newest).get(p, [])))
        check_kafka_go_records(read["records"], [r for r in newest if r["partition"] == p], lambda i: TS_BASE + i)
    middle = go.kafkago("read", topic=topic, partition=1, **{"from": 3})
    check_kafka_go_records(middle["records"], [r for r in newest if r["partition"] == 1 and r["offset"] >= 3],
                           lambda i: TS_BASE + i)
    batches = go.kafkago("conn-read", topic=topic, partition=2, **{"from": 0})
    check_kafka_go_records(batches["records"], [r for r in newest if r["partition"] == 2], lambda i: TS_BASE + i)


def test_kafka_go_group_commits_and_resumes(go, broker):
    """A Reader in a group reads and commits 50 records (OffsetCommit v2) and closes; a second
    Reader in the group reads the other 70 and then nothing more; Sarama sees the commits.
    (kafka-go 0.2.1's Reader.Close sends no LeaveGroup, so the second Reader's JoinGroup waits
    until the first member's 6 s session has expired, as it would with Kafka.)"""
    topic = group = "kafkago-group"
    go.kafkago("create", topic=topic, partitions=3)
    go.kafkago("produce", topic=topic, n=120, prefix=topic)
    written = read_from(go.sarama(NEWEST, "consume", topic=topic, n=120), "oldest")
    check_written(written, topic, 120)
    ends = {p: len(rs) for p, rs in by_partition(written).items()}

    first = go.kafkago("group-read", topic=topic, group=group, n=50)["records"]
    assert len(first) == 50
    for p, rs in by_partition(first).items():
        assert [r["offset"] for r in rs] == list(range(len(rs))), f"first reader, partition {p}"
    first_by_partition = by_partition(first)
    for version in ["0.8.2.0", NEWEST]:
        committed = go.sarama(version, "committed", topic=topic, group=group)["offsets"]
        for p in range(3):
            want = first_by_partition[p][-1]["offset"] + 1 if p in first_by_partition else None
            assert committed[str(p)]["offset"] == want, f"partition {p} as Sarama {version} reads it: {committed}"

    second = go.kafkago("group-read", topic=topic, group=group, n=70, linger="1500ms")["records"]
    for p, rs in by_partition(second).items():
        start = first_by_partition[p][-1]["offset"] + 1 if p in first_by_partition else 0
        assert [r["offset"] for r in rs] == list(range(start, start + len(rs))), f"second reader, partition {p}"
    assert rows(first + second) == rows(written)
    final = go.sarama(NEWEST, "committed", topic=topic, group=group)["offsets"]
    assert {int(p): o["offset"] for p, o in final.items()} == {p: ends.get(p) for p in range(3)}


def test_kafka_go_reads_what_sarama_0_8_wrote(go, broker):
    """Records Sarama 0.8.2 wrote in message format 0 (gzip sets, Produce v0) reach a kafka-go
    group Reader and Conn.ReadBatch as format 1 with timestamp -1 (none)."""
    topic = group = "kafkago-from-sarama-0_8"
    create_topic(broker, topic)
    written = go.sarama("0.8.2.0", "produce", topic=topic, n=90, compression="gzip", prefix=topic)["records"]
    check_written(written, topic, 90)
    got = go.kafkago("group-read", topic=topic, group=group, n=90, linger="1s")["records"]
    check_kafka_go_records(got, written, lambda i: -1)
    batches = go.kafkago("conn-read", topic=topic, partition=0, **{"from": 2})
    check_kafka_go_records(batches["records"], [r for r in written if r["partition"] == 0 and r["offset"] >= 2],
                           lambda i: -1)


def test_kafka_go_creates_and_deletes_topics(go, broker):
    """Conn.CreateTopics (v0) of two topics, ReadPartitions (Metadata v1), Conn.DeleteTopics (v1),
    and a second deletion refused with UNKNOWN_TOPIC_OR_PARTITION."""
    topics = ["kafkago-admin-a", "kafkago-admin-b"]
    created = go.kafkago("create", topic=",".join(topics), partitions=2)
    assert created["partitions"] == {t: [0, 1] for t in topics}
    assert set(topics) <= topic_names(broker)
    assert go.kafkago("delete", topic=",".join(topics))["deleted"] == topics
    wait_until(lambda: not set(topics) & topic_names(broker), 30, what="the deleted topics gone from the metadata")

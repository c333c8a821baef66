"""The next-generation consumer group protocol (KIP-848) against sluiced, as Kafka 4.x behaves.

The members are confluent-kafka 2.16 consumers with `group.protocol=consumer`: they send
ConsumerGroupHeartbeat (API 68), the broker computes the assignment with a server-side assignor
(`uniform`, the default, or `range`, chosen with `group.remote.assignor`), and the admin client
describes such groups with ConsumerGroupDescribe (API 69). Some checks send the requests as raw
frames too, to see the exact error codes and epochs that the client library hides.

Covered:
- three members in child processes share six partitions (two each); one is SIGKILLed and its
  partitions move to the others after the session timeout; a fourth joins and takes a share;
  producing goes on throughout, and in the end every record was consumed, the committed offsets
  equal the ends, and only the killed member's last, uncommitted records were read twice;
- the `uniform` and `range` assignors' shapes;
- ConsumerGroupDescribe through the admin client (type, state, assignor, members with their
  assignments) and raw (epochs), ListGroups' group types;
- static membership (`group.instance.id`): a member that steps out and comes back within the
  session timeout gets its partitions back, and a second live member with the same instance id
  is refused (UNRELEASED_INSTANCE_ID);
- a regular-expression subscription that picks up a topic created later;
- offset commits carrying the member epoch (OffsetCommit v9; stale epochs, unknown members and
  v8 refused the way Kafka refuses them);
- an unknown server assignor (UNSUPPORTED_ASSIGNOR, error 112) reaching the client;
- the heartbeat's own error codes (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID), leaving, partitions
  handed over only after their owner gave them up, a member fenced when it does not revoke within
  its rebalance timeout, group.consumer.max.size (GROUP_MAX_SIZE_REACHED);
- assignments following subscription changes, added partitions and deleted topics;
- deleting groups (refused while members remain);
- the group's members, epochs and assignments surviving a broker restart, and a consumer carrying
  on across one;
- converting between the protocols: an empty group both ways, keeping its offsets, and a live
  classic group upgraded online when a new-protocol member joins (Kafka 4's default policy).

The broker runs with Kafka's consumer-group settings shortened so that the tests stay fast:
`group.consumer.session.timeout.ms` 6 s and `group.consumer.heartbeat.interval.ms` 500 ms (with
their minimums lowered, as Kafka requires the value to lie within [min, max]).
"""

import base64
import json
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid

import pytest
from confluent_kafka import (Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, ConsumerGroupType,
                             KafkaError, KafkaException, Producer, TopicCollection, TopicPartition)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from conftest import Broker, wait_until

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
GROUP_MAX_SIZE = 4  # test 1 has at most 3 members at a time
BROKER_SETTINGS = [
    f"group.consumer.session.timeout.ms={SESSION_TIMEOUT_MS}",
    "group.consumer.min.session.timeout.ms=1000",
    f"group.consumer.heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}",
    "group.consumer.min.heartbeat.interval.ms=100",
    f"group.consumer.max.size={GROUP_MAX_SIZE}",
]

# Kafka's error codes (org.apache.kafka.common.protocol.Errors).
UNKNOWN_MEMBER_ID = 25
GROUP_MAX_SIZE_REACHED = 81
UNSUPPORTED_VERSION = 35
GROUP_ID_NOT_FOUND = 69
FENCED_MEMBER_EPOCH = 110
UNRELEASED_INSTANCE_ID = 111
UNSUPPORTED_ASSIGNOR = 112
STALE_MEMBER_EPOCH = 113


# --- the broker ---------------------------------------------------------------------------------

@pytest.fixture
def broker(tmp_path, request):
    """The suite's broker (tests/compat/conftest.py) with short consumer-group timeouts."""
    b = Broker(tmp_path, BROKER_SETTINGS)
    try:
        b.start()
        yield b
    finally:
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        b.stop(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- sluiced log ---\n{b.log()}")


# --- helpers ------------------------------------------------------------------------------------

def admin(broker):
    """An admin client; keep it referenced while a future of it runs."""
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(broker, topic, partitions):
    client = admin(broker)  # kept while the future runs: a destroyed client fails it
    client.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def topic_id(broker, topic):
    """The topic's id as the 16 bytes of the wire."""
    client = admin(broker)
    description = client.describe_topics(TopicCollection([topic]))[topic].result(30)
    mask = (1 << 64) - 1
    return struct.pack(">QQ", description.topic_id.get_most_significant_bits() & mask,
                       description.topic_id.get_least_significant_bits() & mask)


def new_consumer(broker, group, extra=None):
    """A consumer of the next-generation protocol (no session/heartbeat settings: the broker's)."""
    config = {"bootstrap.servers": broker.bootstrap, "group.id": group, "group.protocol": "consumer",
              "auto.offset.reset": "earliest", "enable.auto.commit": False}
    config.update(extra or {})
    return Consumer(config)


def assignment_of(consumer):
    return sorted((tp.topic, tp.partition) for tp in consumer.assignment())


def settle(consumers, condition, timeout_s, what):
    """Polls every consumer (serving their rebalances) until `condition(assignments)` holds;
    returns the assignments, or fails with the last ones seen."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        for c in consumers:
            msg = c.poll(0.05)
            if msg is not None and msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                raise AssertionError(f"consumer error while waiting for {what}: {msg.error()}")
        seen = [assignment_of(c) for c in consumers]
        if condition(seen):
            return seen
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last assignments: {seen}")


def disjoint_cover(assignments, everything):
    flat = [tp for a in assignments for tp in a]
    return len(flat) == len(set(flat)) and set(flat) == set(everything)


def committed_offsets(broker, group):
    """{(topic, partition): offset} the group committed, by OffsetFetch from the admin client."""
    client = admin(broker)
    answer = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(30)
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def describe(broker, group):
    client = admin(broker)
    return client.describe_consumer_groups([group])[group].result(30)


def close_all(consumers):
    for c in consumers:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - closing is best effort in a cleanup
            pass


# --- raw frames (flexible versions: compact strings and arrays, tagged fields) -------------------

def uvarint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def cstr(s):
    if s is None:
        return b"\x00"
    data = s.encode()
    return uvarint(len(data) + 1) + data


def carray(items, encode):
    if items is None:
        return b"\x00"
    return uvarint(len(items) + 1) + b"".join(encode(item) for item in items)


TAGS = b"\x00"


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values[0]

    def uvarint(self):
        shift = value = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def cstr(self):
        n = self.uvarint()
        if n == 0:
            return None
        s = self.data[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return s

    def carray(self, decode):
        n = self.uvarint()
        return None if n == 0 else [decode(self) for _ in range(n - 1)]

    def uuid(self):
        value = self.data[self.pos:self.pos + 16]
        self.pos += 16
        return value

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


class Raw:
    """One connection sending flexible requests (request header v2, response header v1)."""

    def __init__(self, broker, client_id="raw"):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=15)
        self.client_id = client_id.encode()
        self.correlation = 0

    def call(self, key, version, body):
        self.correlation += 1
        header = struct.pack(">hhih", key, version, self.correlation, len(self.client_id)) + self.client_id + TAGS
        payload = header + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", self._exactly(4))[0]
        r = Reader(self._exactly(size))
        assert r.take(">i") == self.correlation
        r.tags()
        return r

    def _exactly(self, n):
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("closed by the broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close(self):
        self.sock.close()

    def find_coordinator(self, group, timeout_s=30):
        """FindCoordinator v3 until it names a coordinator (Kafka creates __consumer_offsets on
        the first one; raw group requests before that get NOT_COORDINATOR)."""
        deadline = time.monotonic() + timeout_s
        while True:
            r = self.call(10, 3, cstr(group) + b"\x00" + TAGS)
            r.take(">i")
            error, message, node = r.take(">h"), r.cstr(), r.take(">i")
            if error == 0:
                return node
            assert time.monotonic() < deadline, f"FindCoordinator({group}): error {error} {message}"
            time.sleep(0.2)

    def heartbeat(self, group, member_id, epoch, topics=None, assignor=None, owned=None, instance_id=None,
                  rebalance_timeout_ms=-1, regex=None):
        """ConsumerGroupHeartbeat v1; `owned` is [(topic id bytes, [partitions])]. Returns a dict."""
        body = (cstr(group) + cstr(member_id) + struct.pack(">i", epoch) + cstr(instance_id) + cstr(None)
                + struct.pack(">i", rebalance_timeout_ms) + carray(topics, cstr) + cstr(regex) + cstr(assignor)
                + carray(owned, lambda t: t[0] + carray(t[1], lambda p: struct.pack(">i", p)) + TAGS) + TAGS)
        r = self.call(68, 1, body)
        answer = {"throttle": r.take(">i"), "error": r.take(">h"), "message": r.cstr(), "member_id": r.cstr(),
                  "epoch": r.take(">i"), "interval": r.take(">i"), "assignment": None}
        if r.take(">b") >= 0:
            answer["assignment"] = r.carray(_assigned_topic)
            r.tags()
        return answer

    def describe(self, group):
        """ConsumerGroupDescribe v0 of one group, as a dict."""
        self.find_coordinator(group)
        r = self.call(69, 0, carray([group], cstr) + b"\x00" + TAGS)
        r.take(">i")
        groups = r.carray(_described_group)
        assert len(groups) == 1
        return groups[0]

    def offset_commit(self, version, group, epoch, member_id, topic, partition, offset):
        """OffsetCommit v8/v9 of one partition; returns its error code."""
        part = struct.pack(">iqi", partition, offset, -1) + cstr(None) + TAGS
        body = (cstr(group) + struct.pack(">i", epoch) + cstr(member_id) + cstr(None)
                + carray([topic], lambda t: cstr(t) + carray([part], lambda p: p) + TAGS) + TAGS)
        r = self.call(8, version, body)
        r.take(">i")
        topics = r.carray(lambda r: (r.cstr(), r.carray(_commit_partition), r.tags())[:2])
        assert len(topics) == 1 and len(topics[0][1]) == 1, topics
        return topics[0][1][0][1]


def _assigned_topic(r):
    tid = r.uuid()
    parts = r.carray(lambda r: r.take(">i"))
    r.tags()
    return tid, sorted(parts)


def _described_topic(r):
    r.uuid()
    name = r.cstr()
    parts = r.carray(lambda r: r.take(">i"))
    r.tags()
    return name, sorted(parts)


def _described_assignment(r):
    topics = r.carray(_described_topic)
    r.tags()
    return sorted((name, p) for name, parts in topics for p in parts)


def _described_member(r):
    m = {"member_id": r.cstr(), "instance_id": r.cstr(), "rack_id": r.cstr(), "epoch": r.take(">i"),
         "client_id": r.cstr(), "client_host": r.cstr(), "topics": r.carray(Reader.cstr), "regex": r.cstr(),
         "assignment": _described_assignment(r), "target": _described_assignment(r)}
    r.tags()
    return m


def _described_group(r):
    g = {"error": r.take(">h"), "message": r.cstr(), "group_id": r.cstr(), "state": r.cstr(),
         "group_epoch": r.take(">i"), "assignment_epoch": r.take(">i"), "assignor": r.cstr(),
         "members": r.carray(_described_member), "operations": r.take(">i")}
    r.tags()
    return g


def _commit_partition(r):
    p = (r.take(">i"), r.take(">h"))
    r.tags()
    return p


def client_member_id():
    """A member id made by the client (KIP-1082): a random UUID, base64url without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def raw_join(raw, group, topics, assignor=None, instance_id=None):
    raw.find_coordinator(group)
    member = client_member_id()
    answer = raw.heartbeat(group, member, 0, topics=topics, assignor=assignor, owned=[], instance_id=instance_id,
                           rebalance_timeout_ms=30000)
    return member, answer


def raw_until_assigned(raw, group, member, joined, want, timeout_s=20):
    """Heartbeats after the join answer `joined` (acknowledging what it was given: Kafka sends an
    assignment only when it changed) until the assignment is `want` ([(topic id, [partitions])]);
    returns the last answer and the epoch."""
    owned, epoch = joined["assignment"] or [], joined["epoch"]
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = raw.heartbeat(group, member, epoch, owned=owned)
        assert last["error"] == 0, f"heartbeat failed: {last}"
        epoch = last["epoch"]
        if last["assignment"] is not None:
            owned = last["assignment"]
        if sorted(owned) == sorted(want):
            return last, epoch
        time.sleep(0.2)
    raise AssertionError(f"no assignment {want} after {timeout_s}s; last heartbeat answer {last}, owned {owned}")


# --- 1. members come and go while records flow -----------------------------------------------------

CHILD = r'''
import json, os, sys, time
from confluent_kafka import Consumer, KafkaException

bootstrap, group, topic, out_path, stop_path, name = sys.argv[1:7]
out = open(out_path, "a", buffering=1)


def note(**fields):
    out.write(json.dumps(fields) + "\n")


consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
                     "client.id": name, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "error_cb": lambda e: note(error=str(e))})
# Callbacks, so that assignment changes happen inside poll(), between a record and its commit.
consumer.subscribe([topic], on_assign=lambda c, ps: note(assigned=[p.partition for p in ps]),
                   on_revoke=lambda c, ps: note(revoked=[p.partition for p in ps]),
                   on_lost=lambda c, ps: note(lost=[p.partition for p in ps]))
owned = None
deadline = time.monotonic() + 600
while time.monotonic() < deadline and not os.path.exists(stop_path):
    msg = consumer.poll(0.2)
    now = sorted(tp.partition for tp in consumer.assignment())
    if now != owned:
        owned = now
        note(owned=owned)
    if msg is None:
        continue
    if msg.error():
        note(error=str(msg.error()))
        continue
    note(p=msg.partition(), o=msg.offset(), v=msg.value().decode())
    # Commit after processing (at least once); a commit may race an epoch bump, so retry a while.
    for attempt in range(50):
        try:
            consumer.commit(message=msg, asynchronous=False)
            break
        except KafkaException as e:
            note(commit_error=str(e), p=msg.partition(), o=msg.offset())
            time.sleep(0.1)
    else:
        note(commit_failed=True, p=msg.partition(), o=msg.offset())
consumer.close()
note(closed=True)
'''


class Member:
    """A consumer in a child process, writing JSON lines: its owned partitions, each record
    (then committing it), errors."""

    def __init__(self, broker, group, topic, workdir, name):
        self.name = name
        self.out = workdir / f"{name}.jsonl"
        self.stop_file = workdir / f"{name}.stop"
        self.err = open(workdir / f"{name}.stderr", "wb")
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, broker.bootstrap, group, topic, str(self.out),
                                      str(self.stop_file), name], stdout=subprocess.DEVNULL, stderr=self.err)

    def lines(self):
        try:
            text = self.out.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line cut short by SIGKILL
        return out

    def owned(self):
        owned = [line["owned"] for line in self.lines() if "owned" in line]
        return owned[-1] if owned else None

    def records(self):
        return [(line["p"], line["o"], line["v"]) for line in self.lines() if "p" in line and "v" in line]

    def stop(self):
        self.stop_file.touch()
        code = self.proc.wait(timeout=60)
        assert code == 0, f"{self.name} exited with {code}: {(self.out.parent / (self.name + '.stderr')).read_text()}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.err.close()


class Feeder:
    """Produces to every partition in turn from a thread until stopped; keeps what was delivered."""

    def __init__(self, broker, topic, partitions, interval_s=0.05):
        self.producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        self.topic, self.partitions, self.interval_s = topic, partitions, interval_s
        self.delivered, self.failed = [], []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _report(self, err, msg):
        if err:
            self.failed.append(str(err))
        else:
            self.delivered.append((msg.partition(), msg.offset(), msg.value().decode()))

    def send(self, partition, value):
        self.producer.produce(self.topic, value=value.encode(), partition=partition, on_delivery=self._report)

    def _run(self):
        i = 0
        deadline = time.monotonic() + 300
        while not self.done.is_set() and time.monotonic() < deadline:
            self.send(i % self.partitions, f"live-{i}")
            self.producer.poll(0)
            i += 1
            self.done.wait(self.interval_s)

    def start(self):
        self.thread.start()

    def stop(self):
        self.done.set()
        self.thread.join(timeout=30)
        assert self.producer.flush(30) == 0, "records left undelivered"
        assert not self.failed, f"delivery failures: {self.failed[:5]}"


def test_members_share_partitions_survive_a_kill_and_a_join_without_losing_records(broker, tmp_path):
    topic, group, partitions = "cp-flow", "cp-flow-group", 6
    create(broker, topic, partitions)
    feeder = Feeder(broker, topic, partitions)
    for p in range(partitions):
        for i in range(10):
            feeder.send(p, f"first-{p}-{i}")
    assert feeder.producer.flush(30) == 0

    def owned(members):
        return [m.owned() for m in members]

    def two_each_covering(members):
        o = owned(members)
        return all(x is not None and len(x) == 2 for x in o) and sorted(p for x in o for p in x) == list(range(6))

    def covering(members):
        o = owned(members)
        return all(x is not None for x in o) and sorted(p for x in o for p in x) == list(range(6))

    members = {}
    try:
        feeder.start()
        for name in ("a", "b", "c"):
            members[name] = Member(broker, group, topic, tmp_path, name)
        trio = [members[n] for n in ("a", "b", "c")]
        try:
            wait_until(lambda: two_each_covering(trio), timeout_s=60, what="a, b and c owning two partitions each")
        except AssertionError as e:
            raise AssertionError(f"{e}; owned: {owned(trio)}") from None

        # SIGKILL b: no leave heartbeat; the coordinator notices when b's session times out.
        killed_at = time.monotonic()
        members["b"].kill()
        b_final = members["b"].owned()
        pair = [members["a"], members["c"]]
        try:
            wait_until(lambda: covering(pair), timeout_s=SESSION_TIMEOUT_MS / 1000 + 40,
                       what="a and c taking over b's partitions")
        except AssertionError as e:
            raise AssertionError(f"{e}; owned: {owned(pair)}") from None
        moved_after_s = time.monotonic() - killed_at
        assert sorted(len(x) for x in owned(pair)) == [3, 3], owned(pair)

        members["d"] = Member(broker, group, topic, tmp_path, "d")
        trio = [members[n] for n in ("a", "c", "d")]
        try:
            wait_until(lambda: two_each_covering(trio), timeout_s=60, what="a, c and d owning two partitions each")
        except AssertionError as e:
            raise AssertionError(f"{e}; owned: {owned(trio)}") from None

        time.sleep(1)  # a little more traffic with the final membership
        feeder.stop()
        expected = {(p, o): v for p, o, v in feeder.delivered}
        ends = {p: 1 + max(o for (q, o) in expected if q == p) for p in range(partitions)}

        def consumed():
            return {(p, o) for m in members.values() for p, o, _ in m.records()}

        try:
            wait_until(lambda: set(expected) <= consumed(), timeout_s=60, what="every delivered record consumed")
        except AssertionError as e:
            missing = sorted(set(expected) - consumed())
            raise AssertionError(f"{e}; {len(missing)} missing, first {missing[:10]}") from None
        for name in ("a", "c", "d"):
            members[name].stop()
    finally:
        feeder.done.set()
        for m in members.values():
            m.kill()

    # What was read is what was written, nothing else.
    reads = {}
    for name, m in members.items():
        for p, o, v in m.records():
            assert expected.get((p, o)) == v, f"{name} read {v!r} at {p}/{o}; written: {expected.get((p, o))!r}"
            reads.setdefault((p, o), []).append(name)

    # Twice only for what b read but may not have committed: its last record in each partition.
    b_last = {}
    for p, o, _ in members["b"].records():
        if p in b_final:
            b_last[p] = max(o, b_last.get(p, -1))
    duplicates = {k: names for k, names in reads.items() if len(names) > 1}
    for (p, o), names in duplicates.items():
        assert len(names) == 2 and "b" in names and b_last.get(p) == o, \
            f"record {p}/{o} read by {names}; only b's last uncommitted record per partition may be read twice"

    failed_commits = [(m.name, line) for m in members.values() for line in m.lines() if "commit_failed" in line]
    assert not failed_commits, failed_commits

    # The commits are kept after everyone left, and they are the ends.
    committed = committed_offsets(broker, group)
    assert committed == {(topic, p): ends[p] for p in range(partitions)}, (committed, ends)
    print(f"b's partitions moved {moved_after_s:.1f}s after SIGKILL (session timeout {SESSION_TIMEOUT_MS} ms); "
          f"{len(expected)} records, {len(duplicates)} read twice")
    assert moved_after_s >= SESSION_TIMEOUT_MS / 1000 * 0.8, \
        f"b's partitions moved {moved_after_s:.1f}s after the kill, before its session could time out"


# --- 2. the server-side assignors -------------------------------------------------------------------

def test_range_assignor_gives_a_member_the_same_partitions_of_every_topic(broker):
    for topic in ("cp-range-x", "cp-range-y"):
        create(broker, topic, 3)
    everything = [(t, p) for t in ("cp-range-x", "cp-range-y") for p in range(3)]
    consumers = [new_consumer(broker, "cp-range", {"group.remote.assignor": "range", "client.id": f"r{i}"})
                 for i in range(2)]
    try:
        for c in consumers:
            c.subscribe(["cp-range-x", "cp-range-y"])

        def ranged(assignments):
            if not disjoint_cover(assignments, everything):
                return False
            numbers = [({p for t, p in a if t == "cp-range-x"}, {p for t, p in a if t == "cp-range-y"})
                       for a in assignments]
            return all(x == y for x, y in numbers) and sorted(len(a) for a in assignments) == [2, 4]

        settle(consumers, ranged, 60, "range: 0-1 of both topics to one member and 2 of both to the other")
        # And it stays so.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            seen = settle(consumers, lambda a: True, 1, "")
            assert ranged(seen), f"the range assignment changed to {seen}"
        assert describe(broker, "cp-range").partition_assignor == "range"
    finally:
        close_all(consumers)


def test_uniform_assignor_balances_partition_counts(broker):
    for topic in ("cp-uniform-x", "cp-uniform-y"):
        create(broker, topic, 3)
    everything = [(t, p) for t in ("cp-uniform-x", "cp-uniform-y") for p in range(3)]
    consumers = [new_consumer(broker, "cp-uniform", {"group.remote.assignor": "uniform"}) for _ in range(2)]
    try:
        for c in consumers:
            c.subscribe(["cp-uniform-x", "cp-uniform-y"])
        settle(consumers, lambda a: disjoint_cover(a, everything) and [len(x) for x in a] == [3, 3], 60,
               "uniform: three of the six partitions to each member")
        assert describe(broker, "cp-uniform").partition_assignor == "uniform"
        # A third member: 2 each.
        consumers.append(new_consumer(broker, "cp-uniform", {"group.remote.assignor": "uniform"}))
        consumers[-1].subscribe(["cp-uniform-x", "cp-uniform-y"])
        settle(consumers, lambda a: disjoint_cover(a, everything) and [len(x) for x in a] == [2, 2, 2], 60,
               "uniform: two of the six partitions to each of three members")
        # It leaves (a heartbeat with epoch -1): its partitions move at once, not after its session.
        consumers.pop().close()
        settle(consumers, lambda a: disjoint_cover(a, everything) and [len(x) for x in a] == [3, 3],
               SESSION_TIMEOUT_MS / 1000 - 1, "the leaver's partitions moved before its session could expire")
    finally:
        close_all(consumers)


def test_assignment_follows_subscriptions_and_topic_changes(broker):
    """Kafka recomputes the target assignment when a member changes its subscription, when a
    subscribed topic gains partitions, and when one is deleted."""
    create(broker, "cp-sub-x", 4)
    create(broker, "cp-sub-y", 2)
    c1, c2 = new_consumer(broker, "cp-sub"), new_consumer(broker, "cp-sub")
    x = [("cp-sub-x", p) for p in range(4)]
    y = [("cp-sub-y", p) for p in range(2)]
    try:
        c1.subscribe(["cp-sub-x"])
        c2.subscribe(["cp-sub-x"])
        settle([c1, c2], lambda a: disjoint_cover(a, x) and [len(z) for z in a] == [2, 2], 60, "x shared")
        c2.subscribe(["cp-sub-y"])
        settle([c1, c2], lambda a: a == [x, y], 30, "c1 alone on x after c2 moved to y")

        client = admin(broker)
        client.create_partitions([NewPartitions("cp-sub-y", 4)])["cp-sub-y"].result(30)
        settle([c1, c2], lambda a: a == [x, [("cp-sub-y", p) for p in range(4)]], 60,
               "y's new partitions 2 and 3 assigned")

        c1.subscribe(["cp-sub-x", "cp-sub-y"])
        everything = x + [("cp-sub-y", p) for p in range(4)]
        settle([c1, c2], lambda a: disjoint_cover(a, everything) and [len(z) for z in a] == [4, 4], 60,
               "c1 on x and y, c2 on y: four partitions each")
        client.delete_topics(["cp-sub-y"])["cp-sub-y"].result(30)
        settle([c1, c2], lambda a: a == [x, []], 60, "y's partitions gone from the assignment once deleted")
    finally:
        close_all([c1, c2])


def test_default_assignor_is_uniform(broker):
    """Kafka's group.consumer.assignors defaults to uniform first: a member naming none gets it."""
    create(broker, "cp-default", 4)
    consumers = [new_consumer(broker, "cp-default") for _ in range(2)]
    try:
        for c in consumers:
            c.subscribe(["cp-default"])
        settle(consumers, lambda a: disjoint_cover(a, [("cp-default", p) for p in range(4)])
               and [len(x) for x in a] == [2, 2], 60, "two partitions each")
        assert describe(broker, "cp-default").partition_assignor == "uniform"
    finally:
        close_all(consumers)


# --- 3. describing and listing consumer groups ------------------------------------------------------

def test_describe_and_list_consumer_groups(broker):
    topic, group = "cp-describe", "cp-describe-group"
    create(broker, topic, 4)
    everything = [(topic, p) for p in range(4)]
    consumers = [new_consumer(broker, group, {"group.remote.assignor": "range", "client.id": f"describer-{i}"})
                 for i in range(2)]
    classic = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "cp-classic-group",
                        "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    try:
        for c in consumers:
            c.subscribe([topic])
        classic.subscribe([topic])
        assignments = settle(consumers + [classic], lambda a: disjoint_cover(a[:2], everything)
                             and [len(x) for x in a[:2]] == [2, 2] and len(a[2]) == 4, 60,
                             "two members with two partitions each (and the classic group's member with four)")

        # Stable once every member reached the target assignment; give it the time to ack.
        def stable():
            return describe(broker, group).state == ConsumerGroupState.STABLE
        wait_until(stable, timeout_s=30, what="the group Stable")
        d = describe(broker, group)
        assert d.group_id == group
        assert d.type == ConsumerGroupType.CONSUMER
        assert d.is_simple_consumer_group is False
        assert d.partition_assignor == "range"
        assert d.coordinator.id in admin(broker).list_topics(timeout=30).brokers
        assert len(d.members) == 2, [vars(m) for m in d.members]
        by_id = {m.member_id: m for m in d.members}
        for i, (c, assigned) in enumerate(zip(consumers, assignments[:2])):
            m = by_id.get(c.memberid())
            assert m is not None, f"member {c.memberid()} not in {list(by_id)}"
            assert m.client_id == f"describer-{i}"
            assert m.group_instance_id is None
            assert m.host, "a member's host"
            assert sorted((tp.topic, tp.partition) for tp in m.assignment.topic_partitions) == assigned
            assert m.target_assignment is not None
            assert sorted((tp.topic, tp.partition) for tp in m.target_assignment.topic_partitions) == assigned
        assert {m.client_id for m in d.members} == {"describer-0", "describer-1"}

        # The raw answer: the epochs agree once Stable (every member at the assignment's epoch).
        raw = Raw(broker)
        try:
            g = raw.describe(group)
            assert g["error"] == 0 and g["state"] == "Stable" and g["assignor"] == "range", g
            assert g["group_epoch"] >= 2 and g["assignment_epoch"] == g["group_epoch"], g
            for m in g["members"]:
                assert m["epoch"] == g["assignment_epoch"], g
                assert m["topics"] == [topic] and m["regex"] is None, m
                assert m["assignment"] == m["target"] and len(m["assignment"]) == 2, m
            # Kafka answers GROUP_ID_NOT_FOUND for an unknown group and for a classic one.
            assert raw.describe("cp-no-such-group")["error"] == GROUP_ID_NOT_FOUND
            assert raw.describe("cp-classic-group")["error"] == GROUP_ID_NOT_FOUND
        finally:
            raw.close()

        # The admin client still describes the classic group (falling back to DescribeGroups).
        cd = describe(broker, "cp-classic-group")
        assert cd.type == ConsumerGroupType.CLASSIC and len(cd.members) == 1

        # ListGroups v5: each group with its type, and the type filter.
        client = admin(broker)
        listed = client.list_consumer_groups().result(30)
        assert not listed.errors, listed.errors
        types = {g.group_id: g.type for g in listed.valid}
        assert types.get(group) == ConsumerGroupType.CONSUMER, types
        assert types.get("cp-classic-group") == ConsumerGroupType.CLASSIC, types
        only_consumer = client.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(30)
        assert [g.group_id for g in only_consumer.valid] == [group]
        only_classic = client.list_consumer_groups(types={ConsumerGroupType.CLASSIC}).result(30)
        assert [g.group_id for g in only_classic.valid] == ["cp-classic-group"]
        stable_ones = client.list_consumer_groups(states={ConsumerGroupState.STABLE},
                                                  types={ConsumerGroupType.CONSUMER}).result(30)
        assert [g.group_id for g in stable_ones.valid] == [group]
    finally:
        close_all(consumers + [classic])

    # Everyone left: the group stays, Empty, with no members; now it can be deleted.
    wait_until(lambda: describe(broker, group).state == ConsumerGroupState.EMPTY, timeout_s=30,
               what="the group Empty after its members left")
    d = describe(broker, group)
    assert d.type == ConsumerGroupType.CONSUMER and d.members == []
    client = admin(broker)
    client.delete_consumer_groups([group])[group].result(30)
    assert group not in {g.group_id for g in client.list_consumer_groups().result(30).valid}
    raw = Raw(broker)
    try:
        assert raw.describe(group)["error"] == GROUP_ID_NOT_FOUND
    finally:
        raw.close()


def test_a_group_with_members_is_not_deleted(broker):
    create(broker, "cp-keep", 1)
    c = new_consumer(broker, "cp-keep-group")
    try:
        c.subscribe(["cp-keep"])
        settle([c], lambda a: a == [[("cp-keep", 0)]], 60, "the member assigned")
        client = admin(broker)
        with pytest.raises(KafkaException) as refused:
            client.delete_consumer_groups(["cp-keep-group"])["cp-keep-group"].result(30)
        assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP, refused.value
        assert len(describe(broker, "cp-keep-group").members) == 1
    finally:
        c.close()


# --- 4. static membership -----------------------------------------------------------------------------

def test_static_member_comes_back_to_its_partitions(broker):
    topic, group = "cp-static", "cp-static-group"
    create(broker, topic, 4)
    everything = [(topic, p) for p in range(4)]
    errors = []
    a = new_consumer(broker, group, {"group.instance.id": "static-a"})
    b = new_consumer(broker, group, {"group.instance.id": "static-b"})
    consumers = [a, b]
    try:
        a.subscribe([topic])
        b.subscribe([topic])
        before = settle([a, b], lambda x: disjoint_cover(x, everything) and [len(y) for y in x] == [2, 2], 60,
                        "two partitions each")
        d = describe(broker, group)
        assert {m.group_instance_id for m in d.members} == {"static-a", "static-b"}

        # a steps out (a static member leaves with epoch -2): its partitions wait for it for the
        # session timeout instead of moving to b.
        a.close()
        left_at = time.monotonic()
        while time.monotonic() < left_at + 1.5:
            b.poll(0.1)
            assert assignment_of(b) == before[1], f"b took a's partitions while a was away: {assignment_of(b)}"
        a2 = new_consumer(broker, group, {"group.instance.id": "static-a"})
        consumers.append(a2)
        a2.subscribe([topic])
        after = settle([a2, b], lambda x: len(x[0]) == 2, 30, "a back with two partitions")
        assert time.monotonic() - left_at < SESSION_TIMEOUT_MS / 1000, "a took longer than its session to rejoin"
        assert after == before, f"after a's return: {after}; before: {before}"
        d = describe(broker, group)
        assert len(d.members) == 2, [vars(m) for m in d.members]
        assert {m.group_instance_id for m in d.members} == {"static-a", "static-b"}
        assert a2.memberid() in {m.member_id for m in d.members}

        # A second live member with a's instance id is refused: UNRELEASED_INSTANCE_ID, fatal to it.
        a3 = new_consumer(broker, group, {"group.instance.id": "static-a", "error_cb": errors.append})
        consumers.append(a3)
        a3.subscribe([topic])

        def refused():
            return [e for e in errors
                    if e.code() == UNRELEASED_INSTANCE_ID or "instance id is still used" in str(e).lower()]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not refused():
            for c in (a2, b, a3):
                msg = c.poll(0.1)
                if c is a3 and msg is not None and msg.error():
                    errors.append(msg.error())
        assert refused(), f"no UNRELEASED_INSTANCE_ID within 30s; errors: {[str(e) for e in errors]}"
        assert assignment_of(a3) == []
        end = time.monotonic() + 1
        while time.monotonic() < end:
            assert settle([a2, b], lambda x: True, 1, "") == before, "a or b lost partitions to the impostor"
    finally:
        close_all(consumers)


def test_static_member_away_longer_than_its_session_loses_its_partitions(broker):
    topic, group = "cp-static-gone", "cp-static-gone-group"
    create(broker, topic, 4)
    everything = [(topic, p) for p in range(4)]
    a = new_consumer(broker, group, {"group.instance.id": "gone-a"})
    b = new_consumer(broker, group, {"group.instance.id": "gone-b"})
    try:
        a.subscribe([topic])
        b.subscribe([topic])
        settle([a, b], lambda x: disjoint_cover(x, everything) and [len(y) for y in x] == [2, 2], 60,
               "two partitions each")
        a.close()
        left_at = time.monotonic()
        settle([b], lambda x: x[0] == everything, SESSION_TIMEOUT_MS / 1000 + 30,
               "b owning all four once a's session expired")
        waited = time.monotonic() - left_at
        assert waited >= SESSION_TIMEOUT_MS / 1000 * 0.8, \
            f"a's partitions moved {waited:.1f}s after it stepped out, before its session timeout"
        d = describe(broker, group)
        assert [m.group_instance_id for m in d.members] == ["gone-b"], [vars(m) for m in d.members]
    finally:
        close_all([a, b])


# --- 5. regular-expression subscriptions ------------------------------------------------------------

def test_regex_subscription_picks_up_a_new_matching_topic(broker):
    create(broker, "cp-regex-a", 2)
    create(broker, "cp-other", 2)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce("cp-regex-a", value=b"a-hello", partition=0)
    p.produce("cp-other", value=b"other-hello", partition=0)
    assert p.flush(30) == 0
    c = new_consumer(broker, "cp-regex-group")
    values = []
    try:
        c.subscribe(["^cp-regex-.*"])

        def poll_until(condition, timeout_s, what):
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                msg = c.poll(0.2)
                if msg is not None and not msg.error():
                    values.append((msg.topic(), msg.value()))
                if condition():
                    return
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; "
                                 f"assignment {assignment_of(c)}, read {values}")

        poll_until(lambda: assignment_of(c) == [("cp-regex-a", 0), ("cp-regex-a", 1)]
                   and ("cp-regex-a", b"a-hello") in values, 60, "cp-regex-a assigned and read")
        create(broker, "cp-regex-b", 2)
        p.produce("cp-regex-b", value=b"b-hello", partition=1)
        assert p.flush(30) == 0
        poll_until(lambda: assignment_of(c) == [("cp-regex-a", 0), ("cp-regex-a", 1), ("cp-regex-b", 0),
                                                ("cp-regex-b", 1)] and ("cp-regex-b", b"b-hello") in values,
                   90, "the new topic cp-regex-b assigned and read")
        assert all(t != "cp-other" for t, _ in values)
        raw = Raw(broker)
        try:
            g = raw.describe("cp-regex-group")
            assert g["error"] == 0 and len(g["members"]) == 1, g
            # The regex as the client sent it (librdkafka wraps each of a subscription's regexes in ( )).
            assert "^cp-regex-.*" in (g["members"][0]["regex"] or ""), g
            assert not g["members"][0]["topics"], g
        finally:
            raw.close()
    finally:
        c.close()


# --- 6. offset commits with the member epoch ----------------------------------------------------------

def test_consumer_commits_with_its_member_epoch(broker):
    topic, group = "cp-commit", "cp-commit-group"
    create(broker, topic, 1)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        p.produce(topic, value=str(i).encode(), partition=0)
    assert p.flush(30) == 0
    c = new_consumer(broker, group)
    try:
        c.subscribe([topic])
        read = []
        deadline = time.monotonic() + 60
        while len(read) < 5 and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                read.append(msg)
        assert len(read) == 5, f"read {len(read)} records"
        c.commit(message=read[-1], asynchronous=False)
        assert c.committed([TopicPartition(topic, 0)], timeout=30)[0].offset == read[-1].offset() + 1
        assert committed_offsets(broker, group) == {(topic, 0): read[-1].offset() + 1}
        # commit() of the current position.
        while len(read) < 10 and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                read.append(msg)
        assert len(read) == 10
        c.commit(asynchronous=False)
        assert committed_offsets(broker, group) == {(topic, 0): 10}
    finally:
        c.close()
    assert committed_offsets(broker, group) == {(topic, 0): 10}, "commits kept after the member left"


def test_offset_commit_checks_the_member_and_its_epoch(broker):
    topic, group = "cp-raw-commit", "cp-raw-commit-group"
    create(broker, topic, 1)
    tid = topic_id(broker, topic)
    raw = Raw(broker)
    try:
        member, joined = raw_join(raw, group, [topic])
        assert joined["error"] == 0, joined
        _, epoch = raw_until_assigned(raw, group, member, joined, [(tid, [0])])

        assert raw.offset_commit(9, group, epoch, member, topic, 0, 1) == 0
        # Kafka: a member of the new protocol commits at its own epoch, with OffsetCommit v9+.
        assert raw.offset_commit(9, group, epoch - 1, member, topic, 0, 2) == STALE_MEMBER_EPOCH
        assert raw.offset_commit(9, group, epoch, "nobody", topic, 0, 3) == UNKNOWN_MEMBER_ID
        assert raw.offset_commit(9, group, -1, "", topic, 0, 4) == UNKNOWN_MEMBER_ID  # admin-style, group not empty
        assert raw.offset_commit(8, group, epoch, member, topic, 0, 5) == UNSUPPORTED_VERSION
        assert committed_offsets(broker, group) == {(topic, 0): 1}

        left = raw.heartbeat(group, member, -1)
        assert left["error"] == 0 and left["epoch"] == -1, left
        # Empty now: an admin-style commit (no member, epoch -1) is accepted.
        assert raw.offset_commit(9, group, -1, "", topic, 0, 6) == 0
        assert committed_offsets(broker, group) == {(topic, 0): 6}
    finally:
        raw.close()


# --- 7. an assignor the broker does not have -------------------------------------------------------

def test_unknown_server_assignor_is_an_error_not_a_hang(broker):
    create(broker, "cp-nope", 2)
    raw = Raw(broker)
    try:
        _, answer = raw_join(raw, "cp-nope-raw", ["cp-nope"], assignor="nope")
        assert answer["error"] == UNSUPPORTED_ASSIGNOR, answer
        assert answer["assignment"] is None
    finally:
        raw.close()

    errors = []
    c = new_consumer(broker, "cp-nope-group", {"group.remote.assignor": "nope", "error_cb": errors.append})
    try:
        c.subscribe(["cp-nope"])
        deadline = time.monotonic() + 30

        def assignor_error():
            return [e for e in errors if e.code() == KafkaError.UNSUPPORTED_ASSIGNOR or "assignor" in str(e).lower()]
        while time.monotonic() < deadline and not assignor_error():
            msg = c.poll(0.2)
            if msg is not None and msg.error():
                errors.append(msg.error())
        assert assignor_error(), f"no UNSUPPORTED_ASSIGNOR error within 30s; errors: {[str(e) for e in errors]}"
        assert assignment_of(c) == []
    finally:
        c.close()


# --- 8. the heartbeat's own answers ---------------------------------------------------------------------

def test_heartbeat_join_fence_and_leave(broker):
    topic, group = "cp-raw", "cp-raw-group"
    create(broker, topic, 3)
    tid = topic_id(broker, topic)
    raw = Raw(broker, client_id="raw-member")
    try:
        member, joined = raw_join(raw, group, [topic])
        assert joined["error"] == 0, joined
        assert joined["member_id"] == member, joined  # v1: the client's own id (KIP-1082)
        assert joined["epoch"] >= 1, joined
        assert joined["interval"] == HEARTBEAT_INTERVAL_MS, joined  # group.consumer.heartbeat.interval.ms
        answer, epoch = raw_until_assigned(raw, group, member, joined, [(tid, [0, 1, 2])])

        g = raw.describe(group)
        assert g["error"] == 0 and g["state"] == "Stable" and g["assignor"] == "uniform", g
        (m,) = g["members"]
        assert m["member_id"] == member and m["epoch"] == epoch and m["client_id"] == "raw-member", m
        assert m["client_host"] == "/127.0.0.1", m  # Kafka's form: the address's toString()
        assert g["operations"] == -2**31, g  # not asked for
        assert m["assignment"] == [(topic, 0), (topic, 1), (topic, 2)] and m["target"] == m["assignment"], m

        fenced = raw.heartbeat(group, member, epoch + 10)
        assert fenced["error"] == FENCED_MEMBER_EPOCH, fenced
        unknown = raw.heartbeat(group, client_member_id(), 1)
        assert unknown["error"] == UNKNOWN_MEMBER_ID, unknown

        # A second member joins. No partition is handed to it before the first one has given it
        # up (reported it no longer owned): the first is asked to revoke, then the second gets it.
        other, joined2 = raw_join(raw, group, [topic])
        assert joined2["error"] == 0 and joined2["epoch"] > epoch, joined2
        mine, theirs = [(tid, [0, 1, 2])], joined2["assignment"] or []
        reported = {0, 1, 2}  # what the first member last told the coordinator it owns

        def flat(assignment):
            return {p for _, ps in assignment for p in ps}
        assert not flat(theirs) & reported, f"the newcomer joined with {theirs}, still owned by the first member"
        epochs = {member: epoch, other: joined2["epoch"]}
        deadline = time.monotonic() + 20
        while not (reported == flat(mine) and flat(mine) and flat(theirs)
                   and flat(mine) | flat(theirs) == {0, 1, 2} and not flat(mine) & flat(theirs)):
            assert time.monotonic() < deadline, f"no split of the 3 partitions after 20s: first {mine}, second {theirs}"
            a = raw.heartbeat(group, member, epochs[member], owned=mine)
            assert a["error"] == 0, a
            reported, epochs[member] = flat(mine), a["epoch"]
            mine = mine if a["assignment"] is None else a["assignment"]
            a = raw.heartbeat(group, other, epochs[other], owned=theirs)
            assert a["error"] == 0, a
            epochs[other] = a["epoch"]
            theirs = theirs if a["assignment"] is None else a["assignment"]
            assert not flat(theirs) & reported, \
                f"{sorted(flat(theirs) & reported)} given to the newcomer while the first member still owns them"
            time.sleep(0.1)
        assert epochs[member] == epochs[other], epochs  # both at the new target's epoch once reconciled

        left = raw.heartbeat(group, member, -1)
        assert left["error"] == 0 and left["epoch"] == -1, left
        left2 = raw.heartbeat(group, other, -1)
        assert left2["error"] == 0 and left2["epoch"] == -1, left2
        g = raw.describe(group)
        assert g["error"] == 0 and g["state"] == "Empty" and g["members"] == [], g
    finally:
        raw.close()
    assert answer["interval"] == HEARTBEAT_INTERVAL_MS


def test_member_that_does_not_revoke_in_its_rebalance_timeout_is_fenced(broker):
    """Kafka: a member asked to give partitions up has its rebalance timeout to do so; then it
    is removed from the group and the partitions go to their new owner."""
    topic, group = "cp-stubborn", "cp-stubborn-group"
    create(broker, topic, 2)
    tid = topic_id(broker, topic)
    raw = Raw(broker)
    try:
        raw.find_coordinator(group)
        stubborn = client_member_id()
        joined = raw.heartbeat(group, stubborn, 0, topics=[topic], owned=[], rebalance_timeout_ms=2000)
        assert joined["error"] == 0, joined
        _, epoch = raw_until_assigned(raw, group, stubborn, joined, [(tid, [0, 1])])

        newcomer, joined2 = raw_join(raw, group, [topic])
        assert joined2["error"] == 0, joined2
        theirs, newcomer_epoch = joined2["assignment"] or [], joined2["epoch"]
        asked_at = fenced = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            a = raw.heartbeat(group, stubborn, epoch, owned=[(tid, [0, 1])])  # never gives anything up
            if a["error"]:
                fenced = (a, time.monotonic())
                break
            if a["assignment"] is not None and asked_at is None and a["assignment"] != [(tid, [0, 1])]:
                asked_at = time.monotonic()
            b = raw.heartbeat(group, newcomer, newcomer_epoch, owned=theirs)
            assert b["error"] == 0, b
            newcomer_epoch = b["epoch"]
            theirs = theirs if b["assignment"] is None else b["assignment"]
            assert not {p for _, ps in theirs for p in ps}, f"the newcomer got {theirs} while still owned"
            time.sleep(0.2)
        assert asked_at is not None, "the first member was never asked to revoke"
        assert fenced is not None, "the member that kept its partitions past its rebalance timeout was not fenced"
        assert fenced[0]["error"] in (UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH), fenced[0]
        assert fenced[1] - asked_at >= 1.5, f"fenced {fenced[1] - asked_at:.1f}s after the revocation, timeout 2s"
        raw_until_assigned(raw, group, newcomer, {"assignment": theirs, "epoch": newcomer_epoch}, [(tid, [0, 1])])
    finally:
        raw.close()


def test_group_max_size(broker):
    """group.consumer.max.size (4 here): a fifth member is refused with GROUP_MAX_SIZE_REACHED."""
    topic, group = "cp-max", "cp-max-group"
    create(broker, topic, 1)
    raw = Raw(broker)
    try:
        members = []
        for _ in range(GROUP_MAX_SIZE):
            member, joined = raw_join(raw, group, [topic])
            assert joined["error"] == 0, joined
            members.append(member)
        _, refused = raw_join(raw, group, [topic])
        assert refused["error"] == GROUP_MAX_SIZE_REACHED, refused
        assert len(raw.describe(group)["members"]) == GROUP_MAX_SIZE
        assert raw.heartbeat(group, members.pop(), -1)["error"] == 0
        _, admitted = raw_join(raw, group, [topic])
        assert admitted["error"] == 0, admitted
    finally:
        raw.close()


# --- 9. the group outlives a broker restart; classic groups convert ------------------------------------

def test_group_state_survives_a_broker_restart(broker):
    """Kafka keeps a consumer group's members, epochs and assignments in __consumer_offsets: after
    the coordinator restarts, a member heartbeats on at its epoch and keeps its partitions."""
    topic, group = "cp-restart", "cp-restart-group"
    create(broker, topic, 2)
    tid = topic_id(broker, topic)
    raw = Raw(broker)
    try:
        member, joined = raw_join(raw, group, [topic])
        assert joined["error"] == 0, joined
        _, epoch = raw_until_assigned(raw, group, member, joined, [(tid, [0, 1])])
        assert raw.offset_commit(9, group, epoch, member, topic, 0, 7) == 0
    finally:
        raw.close()

    broker.stop()
    broker.start()
    raw = Raw(broker)
    try:
        raw.find_coordinator(group)
        deadline = time.monotonic() + 30
        while True:  # the coordinator may still be loading the group (COORDINATOR_LOAD_IN_PROGRESS)
            g = raw.describe(group)
            if g["error"] != 14 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert g["error"] == 0, f"the group after the restart: {g}"
        assert [(m["member_id"], m["epoch"]) for m in g["members"]] == [(member, epoch)], g
        assert g["members"][0]["assignment"] == [(topic, 0), (topic, 1)], g
        answer = raw.heartbeat(group, member, epoch, owned=[(tid, [0, 1])])
        assert answer["error"] == 0 and answer["epoch"] == epoch, answer
    finally:
        raw.close()
    assert committed_offsets(broker, group) == {(topic, 0): 7}


def test_a_consumer_carries_on_across_a_broker_restart(broker):
    """What the restart means to a client: the member of a group with committed offsets keeps
    consuming after the broker comes back, without a fatal error, from where it committed."""
    topic, group = "cp-restart-live", "cp-restart-live-group"
    create(broker, topic, 2)
    p = Producer({"bootstrap.servers": broker.bootstrap})

    def produce(prefix):
        for i in range(10):
            p.produce(topic, value=f"{prefix}-{i}".encode(), partition=i % 2)
        assert p.flush(30) == 0

    errors = []
    c = new_consumer(broker, group, {"error_cb": errors.append})
    values = []

    def consume(n, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(values) < n and not any(e.fatal() for e in errors):
            msg = c.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                errors.append(msg.error())
                continue
            values.append(msg.value().decode())
            c.commit(message=msg, asynchronous=False)

    try:
        produce("before")
        c.subscribe([topic])
        consume(10, 60)
        assert sorted(values) == sorted(f"before-{i}" for i in range(10)), values
        broker.stop()
        broker.start()
        produce("after")
        consume(20, 60)
        fatal = [str(e) for e in errors if e.fatal()]
        assert not fatal, f"fatal errors after the restart: {fatal}"
        assert sorted(values[10:]) == sorted(f"after-{i}" for i in range(10)), \
            f"after the restart read {values[10:]}; errors {[str(e) for e in errors]}"
    finally:
        c.close()
    assert committed_offsets(broker, group) == {(topic, 0): 10, (topic, 1): 10}


def test_an_empty_classic_group_converts_both_ways_keeping_its_offsets(broker):
    """Kafka converts an empty group between the protocols (whatever the migration policy):
    a consumer of the other protocol resumes from the group's committed offsets."""
    topic, group = "cp-convert", "cp-convert-group"
    create(broker, topic, 1)
    p = Producer({"bootstrap.servers": broker.bootstrap})

    def produce(prefix, n):
        for i in range(n):
            p.produce(topic, value=f"{prefix}-{i}".encode(), partition=0)
        assert p.flush(30) == 0

    def read_all(config, expect):
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, **config})
        values = []
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(values) < expect:
                msg = c.poll(0.2)
                if msg is not None and not msg.error():
                    values.append(msg.value().decode())
            end = time.monotonic() + 1  # nothing more (no records read twice)
            while time.monotonic() < end:
                msg = c.poll(0.1)
                if msg is not None and not msg.error():
                    values.append(msg.value().decode())
            c.commit(asynchronous=False)
        finally:
            c.close()
        return values

    produce("classic", 5)
    assert read_all({"group.protocol": "classic", "session.timeout.ms": 6000}, 5) == [f"classic-{i}" for i in range(5)]
    produce("consumer", 3)
    assert read_all({"group.protocol": "consumer"}, 3) == [f"consumer-{i}" for i in range(3)]
    assert describe(broker, group).type == ConsumerGroupType.CONSUMER
    produce("classic-again", 2)
    assert read_all({"group.protocol": "classic", "session.timeout.ms": 6000}, 2) == \
        [f"classic-again-{i}" for i in range(2)]
    assert describe(broker, group).type == ConsumerGroupType.CLASSIC
    assert committed_offsets(broker, group) == {(topic, 0): 10}


def test_a_consumer_member_joins_a_live_classic_group(broker):
    """Kafka 4 (group.consumer.migration.policy=bidirectional, its default) upgrades a classic
    group online when a member of the new protocol joins: the classic member stays, the group
    becomes a consumer group, and the two share the partitions."""
    topic, group = "cp-mixed", "cp-mixed-group"
    create(broker, topic, 4)
    everything = [(topic, p) for p in range(4)]
    classic = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                        "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                        "partition.assignment.strategy": "cooperative-sticky"})
    modern = new_consumer(broker, group)
    try:
        classic.subscribe([topic])
        settle([classic], lambda a: a == [everything], 60, "the classic member owning all four")
        modern.subscribe([topic])
        settle([classic, modern], lambda a: disjoint_cover(a, everything) and [len(x) for x in a] == [2, 2], 60,
               "the classic and the new member sharing the partitions")
        d = describe(broker, group)
        assert d.type == ConsumerGroupType.CONSUMER and len(d.members) == 2, vars(d)
    finally:
        close_all([modern, classic])

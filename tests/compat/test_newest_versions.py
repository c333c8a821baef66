"""The newest Fetch and Produce versions, byte by byte, checked against Apache Kafka's message
definitions (FetchRequest/FetchResponse.json, ProduceRequest/ProduceResponse.json of Kafka 4.x)
and what its brokers answer:

- ApiVersions (v0 and v3) advertises Fetch 0-18 and Produce 0-13 (v18 and v13 are checked in
  test_version_bumps.py);
- Fetch v13-v17 name topics by topic id (KIP-516; the ids from Metadata v12) and answer by topic
  id, with no name: records, high watermark, last stable offset and log start offset; v15+ carry
  no replica_id field (ReplicaState, tag 1, instead), v17 a ReplicaDirectoryId (partition tag
  0); an unknown topic id answers UNKNOWN_TOPIC_ID (100) under that id, and the id of a topic
  deleted and re-created under its name is unknown (the new topic has a new id);
- fetch sessions by topic id (KIP-227): a full fetch opens one, an incremental fetch naming no
  partition answers only those with something new, forgotten_topics_data (by id) drops one, a
  wrong epoch answers INVALID_FETCH_SESSION_EPOCH (71) and leaves the session, epoch -1 closes
  it, and a closed session is FETCH_SESSION_ID_NOT_FOUND (70);
- Produce v10, v11, v12 append v2 record batches (built here, CRC-32C and all) at the right base
  offsets with the log start offset, flexible answers with no tagged fields when all is well;
- KIP-951 on three brokers with racks: Fetch v16+ at a broker with no replica of the partition,
  and Produce v10+ there or at a follower, answer NOT_LEADER_OR_FOLLOWER (6) with CurrentLeader
  (fetch: partition tag 1; produce: partition tag 0) naming the leader and its epoch, and
  NodeEndpoints (top-level tag 0) with the leader's id, host, port and rack as Metadata gives
  them; a fetch with a stale current_leader_epoch, at the leader or at a follower, answers
  FENCED_LEADER_EPOCH (74) with the same hint after a failover, a newer one
  UNKNOWN_LEADER_EPOCH (75) without; older versions (Fetch v13-15, Produce v9) carry no hint; a
  follower serves a consumer's Fetch v16+ itself (KIP-392), without a hint;
- a consumer fetch (no ReplicaState, v15+) reads only below the high watermark: with the one
  follower paused, records appended with acks=1 stay invisible until it catches up;
- confluent-kafka 2.16 (the newest venv) produces and consumes everything, fetching with Fetch
  v16 (the broker's sluice_requests_total says so).

Every request is encoded here and every answer decoded strictly: each field in place, tagged
fields parsed, nothing left over. Written from Kafka's specification, not from Sluice's code."""

import json
import signal
import socket
import struct
import subprocess
import time
import urllib.request
import uuid
from collections import namedtuple

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT, wait_until
from test_cluster import Cluster

LATEST_PYTHON = ROOT / "target" / "compat-venv-latest" / "bin" / "python"

PRODUCE, FETCH, METADATA, API_VERSIONS = 0, 1, 3, 18

# Kafka's error codes.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_LEADER_OR_FOLLOWER = 6
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75
UNKNOWN_TOPIC_ID = 100

FETCH_VERSIONS = (13, 14, 15, 16, 17)
PRODUCE_VERSIONS = (10, 11, 12)
PARTITION_MAX_BYTES = 1 << 20
WAIT_S = 60


# --- the wire: encoding ---------------------------------------------------------------------------

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def uvarint(n):
    assert n >= 0
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint(n):
    """A zigzag-encoded signed varint (or varlong) of the record format."""
    return uvarint((n << 1) ^ (n >> 63))


def cstring(s):
    """A compact (nullable) string."""
    if s is None:
        return uvarint(0)
    data = s.encode()
    return uvarint(len(data) + 1) + data


def cbytes(b):
    """Compact (nullable) bytes, as `records` are in flexible versions."""
    if b is None:
        return uvarint(0)
    return uvarint(len(b) + 1) + b


def carray(items, encode):
    if items is None:
        return uvarint(0)
    items = list(items)
    return uvarint(len(items) + 1) + b"".join(encode(x) for x in items)


def tags(fields=None):
    """A tagged-field section: {tag: encoded value}, in ascending tag order."""
    fields = fields or {}
    return uvarint(len(fields)) + b"".join(uvarint(t) + uvarint(len(v)) + v for t, v in sorted(fields.items()))


# CRC-32C (Castagnoli), reflected, for record batches.
_CRC32C = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C.append(_c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def record_batch(values, timestamp_ms=None):
    """A v2 record batch (magic 2, uncompressed, no producer id) of `values` (bytes), keys
    b"k<i>", offsets 0.. (the broker assigns the real ones)."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    records = b""
    for i, value in enumerate(values):
        key = b"k%d" % i
        body = (i8(0) + varint(0) + varint(i) + varint(len(key)) + key + varint(len(value)) + value
                + varint(0))
        records += varint(len(body)) + body
    after_crc = (i16(0) + i32(len(values) - 1) + i64(ts) + i64(ts) + i64(-1) + i16(-1) + i32(-1)
                 + i32(len(values)) + records)
    batch_length = 4 + 1 + 4 + len(after_crc)  # partition leader epoch, magic, crc, the rest
    return i64(0) + i32(batch_length) + i32(-1) + i8(2) + struct.pack(">I", crc32c(after_crc)) + after_crc


# --- the wire: decoding ---------------------------------------------------------------------------

class Reader:
    """A strict reader: every read must fit, `done` checks that nothing is left over."""

    def __init__(self, data, what="answer"):
        self.data, self.pos, self.what = bytes(data), 0, what

    def _unpack(self, fmt):
        size = struct.calcsize(fmt)
        assert self.pos + size <= len(self.data), f"{self.what} cut short at byte {self.pos} of {len(self.data)}"
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def int8(self):
        return self._unpack(">b")

    def int16(self):
        return self._unpack(">h")

    def int32(self):
        return self._unpack(">i")

    def uint32(self):
        return self._unpack(">I")

    def int64(self):
        return self._unpack(">q")

    def uvarint(self):
        value = 0
        for shift in range(0, 70, 7):
            byte = self._unpack(">B")
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise AssertionError(f"an overlong varint at byte {self.pos} of the {self.what}")

    def varint(self):
        n = self.uvarint()
        return (n >> 1) ^ -(n & 1)

    def raw(self, n):
        assert n >= 0 and self.pos + n <= len(self.data), \
            f"{n} bytes wanted at byte {self.pos} of {len(self.data)} ({self.what})"
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uuid(self):
        return uuid.UUID(bytes=self.raw(16))

    def cstring(self, nullable=False):
        at = self.pos
        n = self.uvarint()
        if n == 0:
            assert nullable, f"a null non-nullable string at byte {at} of the {self.what}"
            return None
        return self.raw(n - 1).decode()

    def cbytes(self, nullable=False):
        at = self.pos
        n = self.uvarint()
        if n == 0:
            assert nullable, f"null non-nullable bytes at byte {at} of the {self.what}"
            return None
        return self.raw(n - 1)

    def carray(self, decode, nullable=False):
        at = self.pos
        n = self.uvarint()
        if n == 0:
            assert nullable, f"a null non-nullable array at byte {at} of the {self.what}"
            return None
        return [decode() for _ in range(n - 1)]

    def tags(self):
        """{tag: raw bytes}; tags strictly ascending, as Kafka writes (and demands) them."""
        fields, last = {}, -1
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            assert tag > last, f"tagged fields out of order ({tag} after {last}) in the {self.what}"
            last = tag
            fields[tag] = self.raw(self.uvarint())
        return fields

    def done(self):
        assert self.pos == len(self.data), \
            f"{len(self.data) - self.pos} bytes left over after the last field of the {self.what}"


def tagged_struct(raw, decode, what):
    """A tagged field holding a struct: decoded whole, its own (empty) tagged fields included."""
    r = Reader(raw, what)
    value = decode(r)
    assert r.tags() == {}, f"unexpected tagged fields inside {what}"
    r.done()
    return value


# --- connections ---------------------------------------------------------------------------------

class Conn:
    """One connection: request header v2 (flexible versions, with tagged fields), response
    header v1 (v0 for ApiVersions, always, as Kafka does)."""

    def __init__(self, address, timeout_s=30):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.correlation = 100

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.sock.close()

    def call(self, api_key, version, body, client_id=b"newest-versions"):
        self.correlation += 1
        header = i16(api_key) + i16(version) + i32(self.correlation) + i16(len(client_id)) + client_id + tags()
        self.sock.sendall(i32(len(header) + len(body)) + header + body)
        (size,) = struct.unpack(">i", self._read(4))
        r = Reader(self._read(size), f"api {api_key} v{version} answer")
        assert r.int32() == self.correlation, "the answer's correlation id is not the request's"
        if api_key != API_VERSIONS:
            assert r.tags() == {}, "tagged fields in the response header"
        return r

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError(f"closed by the broker after {len(out)} of {n} bytes")
            out += chunk
        return out


# --- ApiVersions, Metadata ------------------------------------------------------------------------

def api_versions_v3(address):
    body = cstring("sluice-compat") + cstring("1.0") + tags()
    with Conn(address) as conn:
        r = conn.call(API_VERSIONS, 3, body)
    assert r.int16() == NONE
    ranges = {}

    def key():
        k, low, high = r.int16(), r.int16(), r.int16()
        assert r.tags() == {}
        ranges[k] = (low, high)
    r.carray(key)
    assert r.int32() >= 0  # throttle
    r.tags()  # SupportedFeatures and the finalized features may be there
    r.done()
    return ranges


def api_versions_v0(address):
    with Conn(address) as conn:
        conn.correlation += 1
        header = i16(API_VERSIONS) + i16(0) + i32(conn.correlation) + i16(4) + b"test"
        conn.sock.sendall(i32(len(header)) + header)
        (size,) = struct.unpack(">i", conn._read(4))
        r = Reader(conn._read(size), "ApiVersions v0 answer")
    assert r.int32() == conn.correlation
    assert r.int16() == NONE
    ranges = {}
    for _ in range(r.int32()):
        k, low, high = r.int16(), r.int16(), r.int16()
        ranges[k] = (low, high)
    r.done()
    return ranges


MBroker = namedtuple("MBroker", "node host port rack")
MPartition = namedtuple("MPartition", "error leader epoch replicas isr")
MTopic = namedtuple("MTopic", "error name id partitions")
Meta = namedtuple("Meta", "brokers controller topics")


def metadata(address, topics):
    """Metadata v12 (flexible, topic ids) of the named topics, no auto-creation."""
    body = carray(topics, lambda t: b"\x00" * 16 + cstring(t) + tags()) + i8(0) + i8(0) + tags()
    with Conn(address, timeout_s=15) as conn:
        r = conn.call(METADATA, 12, body)
    r.int32()
    brokers = {}

    def broker():
        b = MBroker(r.int32(), r.cstring(), r.int32(), r.cstring(nullable=True))
        assert r.tags() == {}
        brokers[b.node] = b
    r.carray(broker)
    r.cstring(nullable=True)
    controller = r.int32()
    found = {}

    def partition():
        error, index, leader, epoch = r.int16(), r.int32(), r.int32(), r.int32()
        replicas = r.carray(r.int32)
        isr = r.carray(r.int32)
        r.carray(r.int32)  # offline
        assert r.tags() == {}
        return index, MPartition(error, leader, epoch, replicas, isr)

    def topic():
        error, name, tid = r.int16(), r.cstring(nullable=True), r.uuid()
        r.int8()
        partitions = dict(r.carray(partition))
        r.int32()
        assert r.tags() == {}
        found[name] = MTopic(error, name, tid, partitions)
    r.carray(topic)
    r.tags()
    r.done()
    return Meta(brokers, controller, found)


def topic_id(address, topic):
    t = metadata(address, [topic]).topics[topic]
    assert t.error == NONE, f"Metadata of {topic}: error {t.error}"
    assert t.id != uuid.UUID(int=0), f"{topic} has the zero topic id"
    return t.id


# --- Produce --------------------------------------------------------------------------------------

ProducePartition = namedtuple("ProducePartition",
                              "index error base_offset log_append_time log_start_offset record_errors "
                              "error_message current_leader tags")
ProduceAnswer = namedtuple("ProduceAnswer", "topics throttle_ms node_endpoints tags")
Leader = namedtuple("Leader", "leader_id leader_epoch")
Endpoint = namedtuple("Endpoint", "node host port rack")


def decode_leader(r):
    return Leader(r.int32(), r.int32())


def node_endpoints(raw):
    """The NodeEndpoints tagged field (Fetch v16+, Produce v10+): [Endpoint], read whole."""
    r = Reader(raw, "NodeEndpoints")

    def endpoint():
        e = Endpoint(r.int32(), r.cstring(), r.int32(), r.cstring(nullable=True))
        assert r.tags() == {}, "tagged fields in a NodeEndpoint"
        return e
    endpoints = r.carray(endpoint)
    r.done()
    return endpoints


def produce_request(version, topic, batches, acks=-1, timeout_ms=30_000):
    """`batches`: {partition: record batch bytes}."""
    assert version >= 9
    partitions = carray(batches.items(), lambda kv: i32(kv[0]) + cbytes(kv[1]) + tags())
    topics = carray([topic], lambda t: cstring(t) + partitions + tags())
    return cstring(None) + i16(acks) + i32(timeout_ms) + topics + tags()


def decode_produce(version, r):
    topics = {}

    def part():
        index, error, base, append_time, start = r.int32(), r.int16(), r.int64(), r.int64(), r.int64()

        def record_error():
            e = (r.int32(), r.cstring(nullable=True))
            assert r.tags() == {}
            return e
        record_errors = r.carray(record_error)
        message = r.cstring(nullable=True)
        fields = r.tags()
        leader = None
        if version >= 10 and 0 in fields:
            leader = tagged_struct(fields.pop(0), decode_leader, "CurrentLeader")
        return ProducePartition(index, error, base, append_time, start, record_errors, message, leader, fields)

    def topic():
        name = r.cstring()
        partitions = {p.index: p for p in r.carray(part)}
        assert r.tags() == {}, "tagged fields in a TopicProduceResponse"
        topics[name] = partitions
    r.carray(topic)
    throttle = r.int32()
    fields = r.tags()
    endpoints = None
    if version >= 10 and 0 in fields:
        endpoints = node_endpoints(fields.pop(0))
    r.done()
    return ProduceAnswer(topics, throttle, endpoints, fields)


def produce(address, version, topic, batches, acks=-1):
    with Conn(address) as conn:
        return decode_produce(version, conn.call(PRODUCE, version, produce_request(version, topic, batches, acks)))


# --- Fetch ----------------------------------------------------------------------------------------

FetchPartition = namedtuple("FetchPartition", "partition offset current_leader_epoch dir_id",
                            defaults=(-1, None))
PartitionAnswer = namedtuple("PartitionAnswer",
                             "index error high_watermark last_stable_offset log_start_offset aborted "
                             "preferred_read_replica records diverging current_leader snapshot tags")
FetchAnswer = namedtuple("FetchAnswer", "throttle_ms error session_id topics node_endpoints tags")


def fetch_request(version, topics, session_id=0, session_epoch=-1, forgotten=(), replica_state=None,
                  max_wait_ms=0, min_bytes=0, max_bytes=0x7FFFFFFF, rack=""):
    """Fetch v13+ body. `topics`: [(topic id, [FetchPartition])]; `forgotten`: [(topic id,
    [partition])]; `replica_state`: (replica_id, replica_epoch) for the v15+ tagged field."""
    assert version >= 13

    def partition(p):
        fields = {}
        if p.dir_id is not None:
            assert version >= 17
            fields[0] = p.dir_id.bytes
        return (i32(p.partition) + i32(p.current_leader_epoch) + i64(p.offset) + i32(-1) + i64(-1)
                + i32(PARTITION_MAX_BYTES) + tags(fields))

    body = b"" if version >= 15 else i32(-1)  # replica_id: gone in v15
    body += i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0) + i32(session_id) + i32(session_epoch)
    body += carray(topics, lambda t: t[0].bytes + carray(t[1], partition) + tags())
    body += carray(forgotten, lambda t: t[0].bytes + carray(t[1], i32) + tags())
    body += cstring(rack)
    fields = {}
    if replica_state is not None:
        assert version >= 15
        fields[1] = i32(replica_state[0]) + i64(replica_state[1]) + tags()
    return body + tags(fields)


def decode_fetch(version, r):
    """FetchResponse v13+, strictly. Topics as {topic id: {partition: PartitionAnswer}}."""
    throttle, error, session_id = r.int32(), r.int16(), r.int32()
    topics = {}

    def aborted():
        a = (r.int64(), r.int64())
        assert r.tags() == {}
        return a

    def partition():
        index, perror, hw, lso, start = r.int32(), r.int16(), r.int64(), r.int64(), r.int64()
        aborted_txns = r.carray(aborted, nullable=True)
        preferred = r.int32()
        records = r.cbytes(nullable=True)
        fields = r.tags()
        diverging = current = snapshot = None
        if 0 in fields:
            diverging = tagged_struct(fields.pop(0), lambda s: (s.int32(), s.int64()), "DivergingEpoch")
        if 1 in fields:
            current = tagged_struct(fields.pop(1), decode_leader, "CurrentLeader")
        if 2 in fields:
            snapshot = tagged_struct(fields.pop(2), lambda s: (s.int64(), s.int32()), "SnapshotId")
        return PartitionAnswer(index, perror, hw, lso, start, aborted_txns, preferred, records, diverging,
                               current, snapshot, fields)

    def topic():
        tid = r.uuid()  # v13+: the id, and no name
        partitions = r.carray(partition)
        assert r.tags() == {}, "tagged fields in a FetchableTopicResponse"
        assert tid not in topics, f"topic {tid} answered twice"
        topics[tid] = {p.index: p for p in partitions}
        assert len(topics[tid]) == len(partitions), f"a partition of {tid} answered twice"
    r.carray(topic)
    fields = r.tags()
    endpoints = None
    if 0 in fields and version >= 16:
        endpoints = node_endpoints(fields.pop(0))
    r.done()
    return FetchAnswer(throttle, error, session_id, topics, endpoints, fields)


def fetch(target, version, topics, **kwargs):
    """Sends Fetch to `target` (host:port, or an open Conn) and decodes the answer."""
    body = fetch_request(version, topics, **kwargs)
    if isinstance(target, Conn):
        return decode_fetch(version, target.call(FETCH, version, body))
    with Conn(target) as conn:
        return decode_fetch(version, conn.call(FETCH, version, body))


Record = namedtuple("Record", "offset key value")


def decode_batches(data):
    """The records of concatenated v2 record batches (uncompressed), each batch's CRC checked."""
    out = []
    r = Reader(data or b"", "records")
    while r.pos < len(r.data):
        base = r.int64()
        length = r.int32()
        batch = Reader(r.raw(length), "record batch")
        batch.int32()  # partition leader epoch
        assert batch.int8() == 2, "not a v2 record batch"
        crc = batch.uint32()
        rest = batch.data[batch.pos:]
        assert crc32c(rest) == crc, f"record batch at offset {base}: CRC-32C mismatch"
        attributes = batch.int16()
        assert attributes & 0x07 == 0, "a compressed batch (none was produced compressed)"
        last_delta = batch.int32()
        batch.int64(), batch.int64(), batch.int64(), batch.int16(), batch.int32()
        count = batch.int32()
        for _ in range(count):
            size = batch.varint()
            rec = Reader(batch.raw(size), "record")
            rec.int8()
            rec.varint()
            delta = rec.varint()
            klen = rec.varint()
            key = rec.raw(klen) if klen >= 0 else None
            vlen = rec.varint()
            value = rec.raw(vlen) if vlen >= 0 else None
            for _ in range(rec.varint()):
                rec.raw(rec.varint())
                hlen = rec.varint()
                if hlen >= 0:
                    rec.raw(hlen)
            rec.done()
            out.append(Record(base + delta, key, value))
        batch.done()
        assert count == 0 or out[-1].offset == base + last_delta, "lastOffsetDelta does not match the records"
    return out


# --- helpers --------------------------------------------------------------------------------------

def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap, name, partitions=1, assignment=None, config=None):
    spec = (NewTopic(name, len(assignment), replica_assignment=assignment, config=config or {}) if assignment
            else NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {}))
    client = admin(bootstrap)  # held until the answer (a collected client drops its futures)
    client.create_topics([spec], operation_timeout=30)[name].result(30)


def values(prefix, n):
    return [f"{prefix}-{i}".encode() for i in range(n)]


def produce_ok(address, topic, partition, vals, version=11):
    answer = produce(address, version, topic, {partition: record_batch(vals)})
    p = answer.topics[topic][partition]
    assert p.error == NONE, p
    return p.base_offset


def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        return r.read().decode()


def request_counts(url, api):
    """{version: count} of sluice_requests_total{api=...}."""
    counts = {}
    for line in scrape(url).splitlines():
        if line.startswith("sluice_requests_total{") and f'api="{api}"' in line:
            labels, value = line.rsplit(" ", 1)
            version = labels.split('version="', 1)[1].split('"', 1)[0]
            counts[version] = counts.get(version, 0) + float(value)
    return counts


# --- single broker --------------------------------------------------------------------------------

def test_api_versions_advertise_fetch_18_and_produce_13(broker):
    for ranges in (api_versions_v0(broker.bootstrap), api_versions_v3(broker.bootstrap)):
        assert ranges.get(FETCH) == (0, 18), ranges.get(FETCH)
        assert ranges.get(PRODUCE) == (0, 13), ranges.get(PRODUCE)
        assert ranges.get(METADATA, (0, 0))[1] >= 12, ranges.get(METADATA)


def test_fetch_v13_to_v17_by_topic_id(broker):
    address, topic = broker.bootstrap, "by-id"
    create_topic(address, topic, partitions=2)
    tid = topic_id(address, topic)
    assert produce_ok(address, topic, 0, values("a", 3)) == 0
    assert produce_ok(address, topic, 0, values("b", 2)) == 3
    assert produce_ok(address, topic, 1, values("c", 2)) == 0

    for version in FETCH_VERSIONS:
        dir_id = uuid.uuid4() if version >= 17 else None
        wanted = [FetchPartition(0, 0, dir_id=dir_id), FetchPartition(1, 1, dir_id=dir_id)]
        answer = fetch(address, version, [(tid, wanted)], replica_state=(-1, -1) if version == 16 else None)
        assert (answer.throttle_ms, answer.error, answer.session_id) == (0, NONE, 0), answer
        assert answer.node_endpoints is None and answer.tags == {}, answer
        assert list(answer.topics) == [tid], f"v{version}: answered {list(answer.topics)}, asked {tid}"
        p0, p1 = answer.topics[tid][0], answer.topics[tid][1]
        for p in (p0, p1):
            assert p.error == NONE, (version, p)
            assert p.aborted is None and p.preferred_read_replica == -1, (version, p)
            assert (p.diverging, p.current_leader, p.snapshot, p.tags) == (None, None, None, {}), (version, p)
        assert (p0.high_watermark, p0.last_stable_offset, p0.log_start_offset) == (5, 5, 0), (version, p0)
        assert (p1.high_watermark, p1.last_stable_offset, p1.log_start_offset) == (2, 2, 0), (version, p1)
        got0 = decode_batches(p0.records)
        assert [(r.offset, r.value) for r in got0] == list(enumerate(values("a", 3) + values("b", 2))), version
        assert [r.key for r in got0] == [b"k0", b"k1", b"k2", b"k0", b"k1"], version
        got1 = [(r.offset, r.value) for r in decode_batches(p1.records) if r.offset >= 1]
        assert got1 == [(1, b"c-1")], (version, got1)

        # From the end: no records, the same offsets.
        end = fetch(address, version, [(tid, [FetchPartition(0, 5, dir_id=dir_id)])]).topics[tid][0]
        assert (end.error, end.high_watermark, end.log_start_offset) == (NONE, 5, 0), (version, end)
        assert not end.records, (version, end)


def test_fetch_unknown_topic_ids_and_a_recreated_topic(broker):
    address, topic = broker.bootstrap, "recreated"
    create_topic(address, topic, partitions=1)
    old = topic_id(address, topic)
    produce_ok(address, topic, 0, values("old", 4))
    stranger = uuid.uuid4()

    for version in FETCH_VERSIONS:
        answer = fetch(address, version, [(stranger, [FetchPartition(0, 0), FetchPartition(3, 0)]),
                                          (old, [FetchPartition(0, 0), FetchPartition(7, 0)])])
        assert (answer.error, answer.session_id) == (NONE, 0), answer
        assert set(answer.topics) == {stranger, old}, f"v{version}: {answer.topics}"
        unknown = answer.topics[stranger]
        assert sorted(unknown) == [0, 3], (version, unknown)
        for p in unknown.values():
            assert p.error == UNKNOWN_TOPIC_ID, (version, p)
            assert (p.high_watermark, p.last_stable_offset, p.log_start_offset) == (-1, -1, -1), (version, p)
            assert not p.records, (version, p)
        known = answer.topics[old]
        assert known[0].error == NONE and known[0].high_watermark == 4, (version, known[0])
        assert known[7].error == UNKNOWN_TOPIC_OR_PARTITION, (version, known[7])
        assert known[7].high_watermark == -1, (version, known[7])

    # Deleted and re-created under the same name: a new id; the old one is unknown.
    client = admin(address)
    client.delete_topics([topic], operation_timeout=30)[topic].result(30)

    def recreated():
        try:
            create_topic(address, topic, partitions=1)
            return True
        except Exception:  # still being deleted
            return False
    wait_until(recreated, timeout_s=WAIT_S, interval_s=0.5, what=f"{topic} re-created")
    wait_until(lambda: metadata(address, [topic]).topics[topic].error == NONE, timeout_s=WAIT_S, what="its metadata")
    new = topic_id(address, topic)
    assert new != old, "a re-created topic has the deleted one's id"
    produce_ok(address, topic, 0, values("new", 1))
    for version in FETCH_VERSIONS:
        answer = fetch(address, version, [(old, [FetchPartition(0, 0)]), (new, [FetchPartition(0, 0)])])
        assert answer.error == NONE and set(answer.topics) == {old, new}, (version, answer)
        assert answer.topics[old][0].error == UNKNOWN_TOPIC_ID, (version, answer.topics[old][0])
        fresh = answer.topics[new][0]
        assert (fresh.error, fresh.high_watermark, fresh.log_start_offset) == (NONE, 1, 0), (version, fresh)
        assert [r.value for r in decode_batches(fresh.records)] == [b"new-0"], version


@pytest.mark.parametrize("version", [13, 17])
def test_fetch_sessions_by_topic_id(broker, version):
    address, topic = broker.bootstrap, f"sessions-{version}"
    create_topic(address, topic, partitions=2)
    tid = topic_id(address, topic)
    produce_ok(address, topic, 0, values("p0", 3))
    produce_ok(address, topic, 1, values("p1", 2))

    with Conn(address) as conn:
        # A full fetch (session 0, epoch 0) opens a session and answers every partition.
        full = fetch(conn, version, [(tid, [FetchPartition(0, 3), FetchPartition(1, 2)])], session_id=0,
                     session_epoch=0)
        assert full.error == NONE and full.session_id != 0, full
        session = full.session_id
        assert set(full.topics) == {tid} and sorted(full.topics[tid]) == [0, 1], full
        assert (full.topics[tid][0].high_watermark, full.topics[tid][1].high_watermark) == (3, 2), full

        # Nothing new: an incremental fetch naming nothing answers nothing.
        quiet = fetch(conn, version, [], session_id=session, session_epoch=1)
        assert (quiet.error, quiet.session_id, quiet.topics) == (NONE, session, {}), quiet

        # New records in p1 only: only p1 comes back, from the session's offset 2.
        produce_ok(address, topic, 1, values("p1-more", 2))
        inc = fetch(conn, version, [], session_id=session, session_epoch=2)
        assert (inc.error, inc.session_id) == (NONE, session), inc
        assert list(inc.topics) == [tid] and list(inc.topics[tid]) == [1], f"only p1 has news: {inc.topics}"
        p1 = inc.topics[tid][1]
        assert (p1.error, p1.high_watermark, p1.log_start_offset) == (NONE, 4, 0), p1
        assert [(r.offset, r.value) for r in decode_batches(p1.records)] == [(2, b"p1-more-0"), (3, b"p1-more-1")]

        # p1's new position, named: nothing changed, nothing answered.
        moved = fetch(conn, version, [(tid, [FetchPartition(1, 4)])], session_id=session, session_epoch=3)
        assert (moved.error, moved.session_id, moved.topics) == (NONE, session, {}), moved

        # p1 forgotten (by topic id): news in both partitions, only p0's come back.
        forgot = fetch(conn, version, [], forgotten=[(tid, [1])], session_id=session, session_epoch=4)
        assert (forgot.error, forgot.session_id, forgot.topics) == (NONE, session, {}), forgot
        produce_ok(address, topic, 0, values("p0-more", 1))
        produce_ok(address, topic, 1, values("p1-last", 1))
        after = fetch(conn, version, [], session_id=session, session_epoch=5)
        assert (after.error, after.session_id) == (NONE, session), after
        assert list(after.topics) == [tid] and list(after.topics[tid]) == [0], f"p1 was forgotten: {after.topics}"
        p0 = after.topics[tid][0]
        assert p0.high_watermark == 4, p0
        assert [(r.offset, r.value) for r in decode_batches(p0.records)] == [(3, b"p0-more-0")]

        # Added back: answered at once (a new partition of the session), with its records; p0
        # moves past what it just got.
        back = fetch(conn, version, [(tid, [FetchPartition(0, 4), FetchPartition(1, 4)])], session_id=session,
                     session_epoch=6)
        assert list(back.topics.get(tid, {})) == [1], back
        assert back.topics[tid][1].high_watermark == 5
        assert [r.value for r in decode_batches(back.topics[tid][1].records)] == [b"p1-last-0"]

        # A wrong epoch: INVALID_FETCH_SESSION_EPOCH, no session id, nothing else; the session stays.
        wrong = fetch(conn, version, [], session_id=session, session_epoch=9)
        assert (wrong.error, wrong.session_id, wrong.topics) == (INVALID_FETCH_SESSION_EPOCH, 0, {}), wrong
        still = fetch(conn, version, [], session_id=session, session_epoch=7)
        assert (still.error, still.session_id) == (NONE, session), still

        # Epoch -1 closes it (a sessionless answer of what it names); then it is not found.
        closing = fetch(conn, version, [(tid, [FetchPartition(0, 0)])], session_id=session, session_epoch=-1)
        assert (closing.error, closing.session_id) == (NONE, 0), closing
        assert closing.topics[tid][0].high_watermark == 4
        gone = fetch(conn, version, [], session_id=session, session_epoch=8)
        assert (gone.error, gone.session_id, gone.topics) == (FETCH_SESSION_ID_NOT_FOUND, 0, {}), gone


def test_produce_v10_to_v12_append_record_batches(broker):
    address, topic = broker.bootstrap, "produce-new"
    create_topic(address, topic, partitions=1)
    expected, offset = [], 0
    for version in PRODUCE_VERSIONS:
        batch_values = values(f"v{version}", 3)
        answer = produce(address, version, topic, {0: record_batch(batch_values)})
        assert answer.throttle_ms == 0 and answer.node_endpoints is None and answer.tags == {}, answer
        assert list(answer.topics) == [topic] and list(answer.topics[topic]) == [0], answer
        p = answer.topics[topic][0]
        assert (p.error, p.base_offset, p.log_append_time, p.log_start_offset) == (NONE, offset, -1, 0), (version, p)
        assert (p.record_errors, p.error_message, p.current_leader, p.tags) == ([], None, None, {}), (version, p)
        expected += [(offset + i, v) for i, v in enumerate(batch_values)]
        offset += 3

    # The log start offset moves (DeleteRecords) and the next produce answers it.
    client = admin(address)
    deleted = client.delete_records([TopicPartition(topic, 0, 4)], operation_timeout=30)
    assert deleted[TopicPartition(topic, 0, 4)].result(30).low_watermark == 4
    for version in PRODUCE_VERSIONS:
        p = produce(address, version, topic, {0: record_batch([b"late-%d" % version])}).topics[topic][0]
        assert (p.error, p.base_offset, p.log_start_offset) == (NONE, offset, 4), (version, p)
        expected.append((offset, b"late-%d" % version))
        offset += 1

    # Everything reads back (Fetch v17) from the log start, with the right offsets.
    tid = topic_id(address, topic)
    p = fetch(address, 17, [(tid, [FetchPartition(0, 4)])]).topics[tid][0]
    assert (p.error, p.high_watermark, p.log_start_offset) == (NONE, offset, 4), p
    got = [(r.offset, r.value) for r in decode_batches(p.records) if r.offset >= 4]
    assert got == [e for e in expected if e[0] >= 4], got


def test_confluent_kafka_latest_consumes_with_fetch_v16(broker):
    if not LATEST_PYTHON.exists():
        pytest.fail(f"{LATEST_PYTHON} is missing: the newest clients are part of this test")
    address, topic, n = broker.bootstrap, "newest-client", 200
    create_topic(address, topic, partitions=2)
    before = request_counts(broker.metrics, "Fetch")
    r = subprocess.run([str(LATEST_PYTHON), "-c", CONFLUENT_LATEST, address, topic, str(n)],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-4000:]
    out = json.loads(r.stdout)
    assert out["version"].startswith("2.16"), out["version"]
    got = out["records"]
    assert sorted(v for _, _, v in got) == sorted(f"value-{i}" for i in range(n)), f"{len(got)} of {n} arrived"
    for part in (0, 1):
        offsets = [o for p, o, _ in got if p == part]
        assert offsets == list(range(len(offsets))), f"partition {part}: offsets {offsets[:10]}..."
    after = request_counts(broker.metrics, "Fetch")
    fetched = {v: after.get(v, 0) - before.get(v, 0) for v in after if after.get(v, 0) > before.get(v, 0)}
    assert fetched.get("16", 0) > 0 and set(fetched) == {"16"}, f"Fetch requests by version: {fetched}"
    produced = request_counts(broker.metrics, "Produce")
    assert produced and all(int(v) >= 10 for v in produced), f"Produce requests by version: {produced}"


CONFLUENT_LATEST = """
import json, sys, time
import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
for i in range(n):
    p.produce(topic, key=str(i).encode(), value=f"value-{i}".encode(), partition=i % 2)
assert p.flush(60) == 0, "unacknowledged records"
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "newest", "enable.auto.commit": False,
              "fetch.wait.max.ms": 100})
c.assign([TopicPartition(topic, part, OFFSET_BEGINNING) for part in (0, 1)])
got, deadline = [], time.monotonic() + 60
while len(got) < n and time.monotonic() < deadline:
    for m in c.consume(100, timeout=1):
        if m.error():
            raise SystemExit(str(m.error()))
        got.append([m.partition(), m.offset(), m.value().decode()])
c.close()
print(json.dumps({"version": confluent_kafka.libversion()[0], "records": got}))
"""


# --- three brokers (KIP-951) ----------------------------------------------------------------------

# Racks, so that NodeEndpoints' rack can be checked; leadership moves only on failure; a long
# replica lag bound, so that a briefly paused follower stays in the ISR.
BROKER_ARGS = ["auto.leader.rebalance.enable=false", "unclean.leader.election.enable=false",
               "replica.lag.time.max.ms=30000"]


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("newest-versions"), session_ms=30_000,
                broker_args=lambda i: ["-o", f"broker.rack=rack-{i}", *(a for o in BROKER_ARGS for a in ("-o", o))])
    c.any_failed = False
    try:
        c.start()
    except BaseException:
        c.stop(True)
        raise
    yield c
    c.stop(c.any_failed)


@pytest.fixture
def cluster(shared_cluster, request):
    c = shared_cluster
    for i, node in c.brokers.items():
        if i in c.paused:
            node.resume()
            c.paused.discard(i)
        if not node.alive:
            node.start()
    wait_until(lambda: all(len(live_metadata(c, i).brokers) == 3 for i in c.brokers), timeout_s=WAIT_S,
               what="three brokers in every broker's Metadata")
    yield c
    if getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed:
        c.any_failed = True


def live_metadata(cluster, i, topics=()):
    try:
        return metadata(cluster.addresses[i], list(topics))
    except OSError:
        return Meta({}, -1, {})


def wait_for_leader(cluster, topic, leader, brokers, isr=None, newer_than=-1):
    """Waits until each of `brokers` shows `leader` leading partition 0 (ISR `isr` if given, an
    epoch above `newer_than`); returns the epoch, the same on all of them."""
    epochs = {}

    def settled():
        for i in brokers:
            t = live_metadata(cluster, i, [topic]).topics.get(topic)
            if t is None or t.error != NONE or 0 not in t.partitions:
                return False
            p = t.partitions[0]
            if p.leader != leader or p.epoch <= newer_than or (isr is not None and sorted(p.isr) != sorted(isr)):
                return False
            epochs[i] = p.epoch
        return len(set(epochs.values())) == 1
    wait_until(settled, timeout_s=WAIT_S, interval_s=0.1, what=f"broker {leader} leading {topic} on {brokers}")
    return next(iter(epochs.values()))


def check_hint(cluster, leader, epoch, current, endpoints, asked):
    """The KIP-951 hint: CurrentLeader {leader, epoch} and NodeEndpoints with exactly that
    broker, its address as clients use it (Metadata's) and its rack."""
    assert current == Leader(leader, epoch), f"CurrentLeader {current}, the leader is {leader} at epoch {epoch}"
    host, port = cluster.addresses[leader].rsplit(":", 1)
    listed = live_metadata(cluster, asked).brokers[leader]
    assert (listed.host, listed.port, listed.rack) == (host, int(port), f"rack-{leader}"), listed
    assert endpoints == [Endpoint(leader, host, int(port), f"rack-{leader}")], f"NodeEndpoints {endpoints}"


def hinted_topic(cluster, topic, leader, follower):
    """A one-partition topic on `leader` and `follower`, three records in it; (its id, the
    leader epoch), once every broker's Metadata shows the leader and the full ISR."""
    create_topic(cluster.bootstrap, topic, assignment=[[leader, follower]])
    epoch = wait_for_leader(cluster, topic, leader, (1, 2, 3), isr=[leader, follower])
    tid = topic_id(cluster.addresses[leader], topic)
    assert produce_ok(cluster.addresses[leader], topic, 0, values("h", 3)) == 0
    return tid, epoch


def test_kip951_fetch_at_a_broker_without_a_replica_names_the_leader(cluster):
    leader, follower, other = 1, 2, 3
    tid, epoch = hinted_topic(cluster, "fetch-hints", leader, follower)
    assert topic_id(cluster.addresses[other], "fetch-hints") == tid

    # Fetch v16/v17 at a broker with no replica (the topic in its metadata): Kafka's
    # NOT_LEADER_OR_FOLLOWER, with the hint.
    for version in (16, 17):
        answer = fetch(cluster.addresses[other], version, [(tid, [FetchPartition(0, 0)])])
        assert answer.error == NONE and answer.tags == {}, answer
        p = answer.topics[tid][0]
        assert p.error == NOT_LEADER_OR_FOLLOWER, (version, p)
        assert (p.high_watermark, p.log_start_offset) == (-1, -1), (version, p)
        check_hint(cluster, leader, epoch, p.current_leader, answer.node_endpoints, other)
    # Before v16: the same error, no hint (Kafka fills it from v16).
    for version in (13, 15):
        answer = fetch(cluster.addresses[other], version, [(tid, [FetchPartition(0, 0)])])
        p = answer.topics[tid][0]
        assert p.error == NOT_LEADER_OR_FOLLOWER and p.current_leader is None and p.tags == {}, (version, p)
        assert answer.node_endpoints is None and answer.tags == {}, (version, answer)


def test_kip951_follower_serves_a_consumer_fetch(cluster):
    """Fetch v11+ from a consumer is served by a follower (KIP-392; fetchOnlyLeader is false once
    the request carries client metadata), below its high watermark, with no hint."""
    leader, follower = 1, 2
    tid, _ = hinted_topic(cluster, "follower-reads", leader, follower)

    def follower_serves():
        for version in (16, 17):
            answer = fetch(cluster.addresses[follower], version, [(tid, [FetchPartition(0, 0)])])
            p = answer.topics[tid][0]
            assert p.error == NONE and p.current_leader is None and answer.node_endpoints is None, (version, p)
            if p.high_watermark != 3 or [r.value for r in decode_batches(p.records)] != values("h", 3):
                return False
        return True
    wait_until(follower_serves, timeout_s=WAIT_S, interval_s=0.2, what="the follower serving the records")


def test_kip951_produce_at_a_follower_or_a_broker_without_a_replica_names_the_leader(cluster):
    leader, follower, other = 1, 2, 3
    topic = "produce-hints"
    tid, epoch = hinted_topic(cluster, topic, leader, follower)

    def misdirected(at, version):
        answer = produce(cluster.addresses[at], version, topic, {0: record_batch([b"misdirected"])})
        p = answer.topics[topic][0]
        assert p.error == NOT_LEADER_OR_FOLLOWER, (at, version, p)
        assert (p.base_offset, p.log_append_time, p.log_start_offset) == (-1, -1, -1), (at, version, p)
        assert p.tags == {} and answer.tags == {}, (at, version, answer)
        return p, answer

    # Produce v10-v12 at the follower: NOT_LEADER_OR_FOLLOWER with the hint; v9 (flexible, before
    # KIP-951): none.
    for version in PRODUCE_VERSIONS:
        p, answer = misdirected(follower, version)
        check_hint(cluster, leader, epoch, p.current_leader, answer.node_endpoints, follower)
    p, answer = misdirected(follower, 9)
    assert p.current_leader is None and answer.node_endpoints is None, (p, answer)

    # Nothing misdirected was written.
    p = fetch(cluster.addresses[leader], 17, [(tid, [FetchPartition(0, 0)])]).topics[tid][0]
    assert p.high_watermark == 3 and [r.value for r in decode_batches(p.records)] == values("h", 3), p

    # At a broker with no replica (the topic in its metadata): the same, as Kafka answers.
    for version in PRODUCE_VERSIONS:
        p, answer = misdirected(other, version)
        check_hint(cluster, leader, epoch, p.current_leader, answer.node_endpoints, other)
    p, answer = misdirected(other, 9)
    assert p.current_leader is None and answer.node_endpoints is None, (p, answer)


def test_kip951_fenced_leader_epoch_after_a_failover(cluster):
    first, second, other = 1, 2, 3
    topic = "fenced"
    create_topic(cluster.bootstrap, topic, assignment=[[first, second]])
    old_epoch = wait_for_leader(cluster, topic, first, (1, 2, 3), isr=[first, second])
    tid = topic_id(cluster.addresses[other], topic)
    assert produce_ok(cluster.addresses[first], topic, 0, values("f", 2)) == 0
    current = fetch(cluster.addresses[first], 16, [(tid, [FetchPartition(0, 0, old_epoch)])]).topics[tid][0]
    assert current.error == NONE and current.current_leader is None, current

    cluster.brokers[first].kill(signal.SIGTERM)
    new_epoch = wait_for_leader(cluster, topic, second, (second, other), newer_than=old_epoch)
    wait_until(lambda: fetch(cluster.addresses[second], 16, [(tid, [FetchPartition(0, 0, new_epoch)])])
               .topics[tid][0].error == NONE, timeout_s=WAIT_S, interval_s=0.2, what="the new leader serving")

    for version in (16, 17):
        # A stale epoch at the leader: FENCED_LEADER_EPOCH, naming itself at the new epoch.
        answer = fetch(cluster.addresses[second], version, [(tid, [FetchPartition(0, 0, old_epoch)])])
        p = answer.topics[tid][0]
        assert p.error == FENCED_LEADER_EPOCH, (version, p)
        assert not p.records, (version, p)
        check_hint(cluster, second, new_epoch, p.current_leader, answer.node_endpoints, second)
        # A future epoch: UNKNOWN_LEADER_EPOCH, no hint.
        answer = fetch(cluster.addresses[second], version, [(tid, [FetchPartition(0, 0, new_epoch + 1)])])
        p = answer.topics[tid][0]
        assert p.error == UNKNOWN_LEADER_EPOCH and p.current_leader is None, (version, p)
        assert answer.node_endpoints is None and answer.tags == {}, (version, answer)
        # The current one: the records.
        p = fetch(cluster.addresses[second], version, [(tid, [FetchPartition(0, 0, new_epoch)])]).topics[tid][0]
        assert p.error == NONE and [r.value for r in decode_batches(p.records)] == values("f", 2), (version, p)

    # The old leader back, now a follower: its answers name the new leader and epoch.
    cluster.brokers[first].start()
    wait_for_leader(cluster, topic, second, (1, 2, 3), isr=[first, second])
    answer = produce(cluster.addresses[first], 12, topic, {0: record_batch([b"x"])})
    p = answer.topics[topic][0]
    assert p.error == NOT_LEADER_OR_FOLLOWER, p
    check_hint(cluster, second, new_epoch, p.current_leader, answer.node_endpoints, first)
    # A consumer fetch there with the stale epoch: fenced too (a follower checks the epoch).
    answer = fetch(cluster.addresses[first], 16, [(tid, [FetchPartition(0, 0, old_epoch)])])
    p = answer.topics[tid][0]
    assert p.error == FENCED_LEADER_EPOCH, p
    check_hint(cluster, second, new_epoch, p.current_leader, answer.node_endpoints, first)


def test_consumer_fetch_reads_only_below_the_high_watermark(cluster):
    leader, follower = 2, 3
    topic = "watermark"
    create_topic(cluster.bootstrap, topic, assignment=[[leader, follower]], config={"min.insync.replicas": "1"})
    wait_for_leader(cluster, topic, leader, (1, 2, 3), isr=[leader, follower])
    tid = topic_id(cluster.addresses[leader], topic)
    address = cluster.addresses[leader]
    # acks=all: the follower has these two when the answer comes.
    assert produce_ok(address, topic, 0, values("seen", 2)) == 0

    cluster.brokers[follower].pause()
    cluster.paused.add(follower)
    try:
        # acks=1: appended to the leader's log only; the high watermark cannot pass 2.
        answer = produce(address, 11, topic, {0: record_batch(values("unseen", 3))}, acks=1)
        p = answer.topics[topic][0]
        assert (p.error, p.base_offset) == (NONE, 2), p
        for version, state in ((15, None), (16, (-1, -1)), (17, None)):
            answer = fetch(address, version, [(tid, [FetchPartition(0, 0)])], replica_state=state)
            p = answer.topics[tid][0]
            assert (p.error, p.high_watermark, p.last_stable_offset) == (NONE, 2, 2), (version, p)
            assert [(r.offset, r.value) for r in decode_batches(p.records)] == list(enumerate(values("seen", 2))), \
                f"v{version}: a consumer read past the high watermark"
            beyond = fetch(address, version, [(tid, [FetchPartition(0, 2)])], replica_state=state).topics[tid][0]
            assert beyond.error == NONE and not beyond.records and beyond.high_watermark == 2, (version, beyond)
    finally:
        cluster.brokers[follower].resume()
        cluster.paused.discard(follower)

    def caught_up():
        p = fetch(address, 15, [(tid, [FetchPartition(0, 0)])]).topics[tid][0]
        everything = values("seen", 2) + values("unseen", 3)
        return p.high_watermark == 5 and [r.value for r in decode_batches(p.records)] == everything
    wait_until(caught_up, timeout_s=WAIT_S, interval_s=0.2, what="the high watermark after the follower resumed")

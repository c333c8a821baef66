"""Old clients and the legacy message formats, as Apache Kafka 3.x serves them: Produce v0-v2
carrying MessageSets of magic 0 or 1 (plain, or compressed wrapper messages: gzip, snappy,
lz4), stored as record batches (magic 2), and Fetch v0-v3 answered with down-converted
messages (Fetch v0-v1: magic 0, Fetch v2-v3: magic 1), unless the topic's
message.downconversion.enable is false (then UNSUPPORTED_VERSION for that partition, below
Fetch v4).

Two ways in:

- a real old client: kafka-python 2.0.2 pinned with `api_version` to the protocol levels of
  Kafka 0.8.2, 0.9, 0.10.0 and 0.10.1. From its source (kafka/producer/sender.py,
  kafka/producer/kafka.py, kafka/consumer/fetcher.py):

      api_version  Produce  message magic  Fetch
      (0, 8, 2)    v0       0              v0
      (0, 9)       v1       0              v1
      (0, 10, 0)   v2       1              v2
      (0, 10, 1)   v2       1              v3

  It produces with every codec it has at that level (none, gzip, snappy, lz4; at magic 0 its
  lz4 frames carry the wrong header checksum old Kafka wrote, KAFKA-3160) and reads back; a
  current client (confluent-kafka 2.6.1) reads what it wrote, and writes record batches with
  headers and timestamps that it reads; groups and commits from 0.9 on.

- raw frames written and read here (the request and response layouts of Kafka's protocol
  guide, and the MessageSet: offset i64, size i32, crc u32 (CRC-32 over magic..end), magic i8,
  attributes i8, [timestamp i64 for magic 1], key bytes, value bytes), to check what the broker
  answers byte by byte: offsets, CRCs, magic, wrapper offsets, timestamps and their type,
  CORRUPT_MESSAGE for a bad CRC, INVALID_RECORD for a legacy MessageSet in Produce v3, control
  batches never shown to old fetchers, headers dropped, a batch's codec kept in one wrapper,
  UNSUPPORTED_VERSION when down-conversion is disabled, the magic-0 lz4 checksum quirk. Two
  departures from Kafka, both so that an old consumer never stalls: the first message comes back
  whole past partition_max_bytes also below Fetch v3, and zstd batches (which the old formats
  cannot carry) come back as plain messages instead of UNSUPPORTED_COMPRESSION_TYPE.

One broker serves the module (restarted if a test killed it); every test has topics of its own.
"""

import gzip
import socket
import struct
import time
import uuid
import zlib
from collections import namedtuple

import lz4.frame
import pytest
import snappy
import xxhash
from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.structs import OffsetAndMetadata

from conftest import Broker, serve_broker, wait_until

# Kafka's error codes.
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87

PRODUCE, FETCH = 0, 1
GZIP, SNAPPY, LZ4 = 1, 2, 3
LOG_APPEND_TIME_BIT = 0x08
CODEC_BITS = 0x07

OLD_LEVELS = [(0, 8, 2), (0, 9), (0, 10, 0), (0, 10, 1)]
# The message magic kafka-python 2.0.2 produces and fetches at each level (see the docstring).
MAGIC_AT = {(0, 8, 2): 0, (0, 9): 0, (0, 10, 0): 1, (0, 10, 1): 1}
KP_CODECS = [None, "gzip", "snappy", "lz4"]
BASE_TS = 1_700_000_000_000


def level_id(level):
    return "kp" + ".".join(map(str, level))


def unique(tag):
    return f"lg-{tag}-{uuid.uuid4().hex[:8]}"


def now_ms():
    return int(time.time() * 1000)


# --- xxHash32, for lz4 frame header checksums ---------------------------------------------------
# The `xxhash` package (tests/compat/requirements.txt) is what kafka-python itself needs for its
# magic-0 lz4 (de)framing.


def xxh32(data, seed=0):
    return xxhash.xxh32_intdigest(bytes(data), seed)


def lz4_header_size(frame):
    """Magic (4), FLG, BD, [content size (8)], HC."""
    return 7 + (8 if frame[4] & 0x08 else 0)


def lz4_checksums(frame):
    """(the header checksum byte in `frame`, the correct one, the one old Kafka wrote over the
    magic number too: KAFKA-3160)."""
    hs = lz4_header_size(frame)
    return frame[hs - 1], (xxh32(frame[4:hs - 1]) >> 8) & 0xFF, (xxh32(frame[0:hs - 1]) >> 8) & 0xFF


def lz4_frame(data, magic):
    """An lz4 frame the way a client of that message format writes it (independent blocks, no
    content size; the broken header checksum at magic 0)."""
    frame = lz4.frame.compress(data, block_linked=False, store_size=False)
    if magic == 0:
        hs = lz4_header_size(frame)
        frame = frame[:hs - 1] + bytes([lz4_checksums(frame)[2]]) + frame[hs:]
    return frame


# --- the broker ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("legacy"), ["group.initial.rebalance.delay.ms=300"])
    b.start()
    yield b
    b.stop()


@pytest.fixture
def broker(shared_broker, request):
    """The module's broker (started again if an earlier test left it dead); its log written
    during the test printed when the test failed."""
    if shared_broker.proc is None or shared_broker.proc.poll() is not None:
        print(f"\n--- sluiced had exited ({shared_broker.proc and shared_broker.proc.returncode}); restarting ---")
        shared_broker.start()
    start = shared_broker.log_path.stat().st_size if shared_broker.log_path.exists() else 0
    yield shared_broker
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        with open(shared_broker.log_path, "rb") as f:
            f.seek(start)
            print(f"\n--- sluiced log (during the test) ---\n{f.read()[-20000:].decode(errors='replace')}")
        if shared_broker.proc is not None and shared_broker.proc.poll() is not None:
            print(f"--- sluiced exited with {shared_broker.proc.returncode} ---")


def create_topic(broker, name, config=None, partitions=1):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                  config=config or {})])[name].result(30)

    def led():
        meta = admin.list_topics(name, timeout=10).topics.get(name)
        return meta is not None and meta.error is None and len(meta.partitions) == partitions and \
            all(p.leader >= 0 for p in meta.partitions.values())
    wait_until(led, 30, what=f"{name} has a leader for each partition")
    return name


def set_topic_config(broker, topic, key, value):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)


# --- the wire: request frames, legacy MessageSets ------------------------------------------------

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def nbytes(b):
    return i32(-1) if b is None else i32(len(b)) + b


def array(items):
    return i32(len(items)) + b"".join(items)


class Reader:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def _take(self, fmt):
        v, = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes(self):
        n = self.i32()
        if n < 0:
            return None
        assert self.pos + n <= len(self.data), f"a bytes field of {n} runs past the response's end"
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def array(self, item):
        n = self.i32()
        return None if n < 0 else [item() for _ in range(n)]

    def done(self, what):
        assert self.pos == len(self.data), f"{what}: {len(self.data) - self.pos} bytes left over in the response"


class Wire:
    """One connection to the broker, speaking request header v1 / response header v0."""

    def __init__(self, broker):
        host, port = broker.bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.correlation = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def call(self, api_key, version, body, what):
        self.correlation += 1
        frame = struct.pack(">hhi", api_key, version, self.correlation) + string("legacy-formats") + body
        self.sock.sendall(i32(len(frame)) + frame)
        size, = struct.unpack(">i", self._read(4, what))
        payload = self._read(size, what)
        assert struct.unpack_from(">i", payload)[0] == self.correlation, f"{what}: wrong correlation id"
        return Reader(payload, 4)

    def send_only(self, api_key, version, body):
        """A request the broker must not answer (Produce with acks=0)."""
        self.correlation += 1
        frame = struct.pack(">hhi", api_key, version, self.correlation) + string("legacy-formats") + body
        self.sock.sendall(i32(len(frame)) + frame)

    def _read(self, n, what):
        chunks, got = [], 0
        while got < n:
            try:
                chunk = self.sock.recv(n - got)
            except socket.timeout:
                raise AssertionError(f"no answer to {what} within 30 s") from None
            except ConnectionResetError:
                raise AssertionError(f"the broker reset the connection instead of answering {what}") from None
            if not chunk:
                raise AssertionError(f"the broker closed the connection instead of answering {what}")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


ProduceAnswer = namedtuple("ProduceAnswer", "error base_offset log_append_time")
FetchAnswer = namedtuple("FetchAnswer", "error high_watermark records")


def produce_body(version, topic, records, partition, acks):
    body = (string(None) if version >= 3 else b"") + i16(acks) + i32(10000)
    return body + array([string(topic) + array([i32(partition) + nbytes(records)])])


def produce(wire, version, topic, message_set, partition=0, acks=-1):
    """Produce v0-v3 of one partition's MessageSet (v3: transactional_id null)."""
    what = f"Produce v{version} ({len(message_set)} bytes) to {topic}-{partition}"
    r = wire.call(PRODUCE, version, produce_body(version, topic, message_set, partition, acks), what)

    def partition_answer():
        p, error, base = r.i32(), r.i16(), r.i64()
        return p, error, base, (r.i64() if version >= 2 else None)
    topics = r.array(lambda: (r.string(), r.array(partition_answer)))
    if version >= 1:
        r.i32()  # throttle_time_ms
    r.done(what)
    assert [(t, [p[0] for p in ps]) for t, ps in topics] == [(topic, [partition])], f"{what}: {topics}"
    _, error, base, log_append_time = topics[0][1][0]
    return ProduceAnswer(error, base, log_append_time)


def fetch(wire, version, topic, offset, partition=0, partition_max_bytes=1 << 20, max_wait_ms=50):
    """Fetch v0-v4 (v4: read_uncommitted) of one partition."""
    what = f"Fetch v{version} {topic}-{partition} at {offset} (partition_max_bytes {partition_max_bytes})"
    body = i32(-1) + i32(max_wait_ms) + i32(0)
    if version >= 3:
        body += i32(16 << 20)
    if version >= 4:
        body += i8(0)
    body += array([string(topic) + array([i32(partition) + i64(offset) + i32(partition_max_bytes)])])
    r = wire.call(FETCH, version, body, what)
    if version >= 1:
        r.i32()  # throttle_time_ms

    def partition_answer():
        p, error, hw = r.i32(), r.i16(), r.i64()
        if version >= 4:
            r.i64()  # last_stable_offset
            r.array(lambda: (r.i64(), r.i64()))  # aborted_transactions
        return p, error, hw, r.bytes()
    topics = r.array(lambda: (r.string(), r.array(partition_answer)))
    r.done(what)
    assert [(t, [p[0] for p in ps]) for t, ps in topics] == [(topic, [partition])], f"{what}: {topics}"
    _, error, hw, records = topics[0][1][0]
    return FetchAnswer(error, hw, records or b"")


def message(magic, key, value, timestamp=None, attributes=0, offset=0, corrupt=False):
    """One MessageSet entry: offset, size, crc, magic, attributes, [timestamp], key, value."""
    body = struct.pack(">bb", magic, attributes)
    if magic == 1:
        body += i64(-1 if timestamp is None else timestamp)
    body += nbytes(key) + nbytes(value)
    crc = zlib.crc32(body)
    if corrupt:
        crc ^= 0x00010000
    msg = struct.pack(">I", crc) + body
    return i64(offset) + i32(len(msg)) + msg


def compress(codec, data, magic):
    if codec == GZIP:
        return gzip.compress(data)
    if codec == SNAPPY:
        return snappy.compress(data)
    if codec == LZ4:
        return lz4_frame(data, magic)
    raise ValueError(codec)


def message_set(magic, rows, codec=0, corrupt_index=None):
    """`rows` (key, value, timestamp) as plain messages, or as one wrapper message compressed
    with `codec`: inner offsets 0..n-1 (relative at magic 1), the wrapper's offset n-1 and, at
    magic 1, its timestamp the largest inner one. `corrupt_index`: that message's CRC is wrong."""
    inner = b"".join(message(magic, k, v, ts, offset=i, corrupt=(i == corrupt_index))
                     for i, (k, v, ts) in enumerate(rows))
    if not codec:
        return inner
    newest = max((ts for _, _, ts in rows if ts is not None), default=None)
    return message(magic, None, compress(codec, inner, magic), newest, attributes=codec, offset=len(rows) - 1)


Entry = namedtuple("Entry", "offset magic attributes timestamp key value crc_ok")
Logical = namedtuple("Logical", "offset key value timestamp log_append_time")


def parse_entries(buf, what):
    """The complete entries of a MessageSet, and how many bytes a trailing partial one has (a
    fetch answer may end in one: cut by the byte limit, or Kafka's down-conversion padding)."""
    entries, pos = [], 0
    while len(buf) - pos >= 12:
        offset, size = struct.unpack_from(">qi", buf, pos)
        if size < 0 or pos + 12 + size > len(buf):
            break
        entries.append(parse_message(offset, buf[pos + 12:pos + 12 + size], what))
        pos += 12 + size
    return entries, len(buf) - pos


def parse_message(offset, m, what):
    assert len(m) >= 14, f"{what}: a message of {len(m)} bytes at offset {offset}"
    crc, magic, attributes = struct.unpack_from(">Ibb", m, 0)
    assert magic in (0, 1), f"{what}: the entry at offset {offset} has magic {magic} (not a legacy message)"
    r = Reader(m, 6)
    timestamp = r.i64() if magic == 1 else None
    key, value = r.bytes(), r.bytes()
    r.done(f"{what}: the message at offset {offset}")
    return Entry(offset, magic, attributes, timestamp, key, value, zlib.crc32(m[4:]) == crc)


def decompress(codec, data, magic, what):
    if codec == GZIP:
        return gzip.decompress(data)
    if codec == SNAPPY:
        if data[:8] == b"\x82SNAPPY\x00":  # xerial framing: 16-byte header, then (length, block)*
            out, pos = [], 16
            while pos < len(data):
                n, = struct.unpack_from(">i", data, pos)
                out.append(snappy.uncompress(data[pos + 4:pos + 4 + n]))
                pos += 4 + n
            return b"".join(out)
        return snappy.uncompress(data)
    if codec == LZ4:
        if magic == 0:  # old clients ignore the frame's header checksum (KAFKA-3160): so do we
            hs = lz4_header_size(data)
            data = data[:hs - 1] + bytes([lz4_checksums(data)[1]]) + data[hs:]
        return lz4.frame.decompress(data)
    raise AssertionError(f"{what}: a wrapper message with codec {codec}")


def logical_messages(records, magic, what):
    """The messages an old client of that magic reads from a fetched MessageSet, with absolute
    offsets (a LogAppendTime wrapper's timestamp standing for its inner messages'), after
    checking every entry and inner message: the magic, the CRC, no nested compression, inner
    offsets (magic 1: relative 0..n-1, the wrapper at the last one's absolute offset; magic 0:
    absolute, the wrapper at the last one's). Also the wrappers' codecs."""
    entries, _tail = parse_entries(records, what)
    out, codecs = [], []
    for e in entries:
        assert e.magic == magic, f"{what}: the message at offset {e.offset} has magic {e.magic}, not {magic}"
        assert e.crc_ok, f"{what}: the message at offset {e.offset} has a wrong CRC"
        codec, lat = e.attributes & CODEC_BITS, bool(e.attributes & LOG_APPEND_TIME_BIT)
        assert not (magic == 0 and e.attributes & ~CODEC_BITS), f"{what}: magic 0 attributes {e.attributes}"
        if not codec:
            out.append(Logical(e.offset, e.key, e.value, e.timestamp, lat))
            continue
        codecs.append(codec)
        assert e.value is not None, f"{what}: the wrapper at offset {e.offset} has a null value"
        inner, tail = parse_entries(decompress(codec, e.value, magic, what), what)
        assert inner and not tail, f"{what}: the wrapper at {e.offset} holds {len(inner)} messages + {tail} bytes"
        for m in inner:
            assert m.magic == magic, f"{what}: inner message of magic {m.magic} in a magic {magic} wrapper"
            assert m.crc_ok, f"{what}: an inner message of the wrapper at {e.offset} has a wrong CRC"
            assert not m.attributes & CODEC_BITS, f"{what}: a compressed message inside a compressed one"
        if magic == 1:
            assert [m.offset for m in inner] == list(range(len(inner))), \
                f"{what}: magic 1 inner offsets {[m.offset for m in inner]}, not relative 0..n-1"
            base = e.offset - inner[-1].offset
        else:
            assert e.offset == inner[-1].offset, \
                f"{what}: magic 0 wrapper at {e.offset}, its last inner message at {inner[-1].offset}"
            base = 0
        for m in inner:
            out.append(Logical(base + m.offset, m.key, m.value, e.timestamp if lat else m.timestamp, lat))
    return out, codecs


def fetch_all(wire, version, topic, start=0, partition=0):
    """Every message from `start` up, the way an old consumer reads: fetch, skip what is before
    the position, move past the last message. Stops at the high watermark, or when an answer
    holds no message past the position. (messages, high watermark)"""
    magic = 0 if version <= 1 else 1
    got, offset, hw = [], start, None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        a = fetch(wire, version, topic, offset, partition)
        assert a.error == NONE, f"Fetch v{version} of {topic} at {offset}: error {a.error}"
        hw = a.high_watermark
        msgs, _ = logical_messages(a.records, magic, f"Fetch v{version} of {topic} at {offset}")
        msgs = [m for m in msgs if m.offset >= offset]
        if not msgs:
            break
        offsets = [m.offset for m in msgs]
        assert offsets == sorted(set(offsets)), f"Fetch v{version} at {offset}: offsets out of order {offsets}"
        got += msgs
        offset = msgs[-1].offset + 1
        if offset >= hw:
            break
    return got, hw


def v2_batches(records):
    """(base offset, magic, record count) of each record batch (magic 2) in `records`."""
    out, pos = [], 0
    while len(records) - pos >= 61:
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break
        magic = records[pos + 16]
        count, = struct.unpack_from(">i", records, pos + 57)
        out.append((base, magic, count))
        pos += 12 + length
    return out


# --- clients ---------------------------------------------------------------------------------------

def old_producer(broker, level, codec=None):
    return KafkaProducer(bootstrap_servers=broker.bootstrap, api_version=level, compression_type=codec,
                         acks="all", linger_ms=50, retries=0)


def old_send(producer, topic, rows, partition=0):
    """Sends (key, value, timestamp) rows to one partition; their RecordMetadata."""
    futures = [producer.send(topic, key=k, value=v, partition=partition, timestamp_ms=ts) for k, v, ts in rows]
    producer.flush(timeout=30)
    return [f.get(timeout=30) for f in futures]


def old_consume(broker, level, topic, count, partition=0, timeout_s=30):
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, api_version=level, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100)
    try:
        tp = KpTopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                got += records
        return got
    finally:
        consumer.close(autocommit=False)


def modern_consume(broker, topic, count, partition=0, isolation="read_uncommitted", timeout_s=30):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("modern"),
                         "enable.auto.commit": False, "isolation.level": isolation})
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            m = consumer.poll(0.3)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
        return got
    finally:
        consumer.close()


def modern_produce(broker, topic, rows, partition=0, **conf):
    """(key, value, timestamp, headers) rows, one flush; every record acknowledged."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, **conf})
    errors = []
    for k, v, ts, headers in rows:
        producer.produce(topic, key=k, value=v, partition=partition, timestamp=ts or 0, headers=headers,
                         on_delivery=lambda err, _m: err is not None and errors.append(err))
    assert producer.flush(30) == 0
    assert not errors, errors[:3]


def sample_rows(n, tag, with_nulls=True):
    """(key, value, timestamp): a null key and a null value among them, values long enough to compress."""
    rows = []
    for i in range(n):
        key = None if with_nulls and i % 7 == 3 else f"{tag}-k{i}".encode()
        value = None if with_nulls and i % 7 == 5 else (f"{tag}-v{i}-" * 8).encode()
        rows.append((key, value, BASE_TS + i * 1000))
    return rows


# === kafka-python at old protocol levels ====================================================

@pytest.mark.parametrize("codec", KP_CODECS, ids=[c or "none" for c in KP_CODECS])
@pytest.mark.parametrize("level", OLD_LEVELS, ids=level_id)
def test_old_client_produces_and_consumes_every_codec(broker, level, codec):
    """kafka-python at `level` produces two compressed (or plain) message sets, reads them back
    with offsets, keys, values, null key and null value intact, and so does confluent-kafka:
    magic 0 carried no timestamp (-1), magic 1 its CreateTime."""
    magic = MAGIC_AT[level]
    topic = create_topic(broker, unique(f"kp-{level_id(level)}-{codec or 'none'}"))
    rows = sample_rows(24, "kp")
    producer = old_producer(broker, level, codec)
    try:
        metadata = old_send(producer, topic, rows[:12]) + old_send(producer, topic, rows[12:])
    finally:
        producer.close(timeout=10)
    assert [m.offset for m in metadata] == list(range(24))
    if magic == 1:
        assert [m.timestamp for m in metadata] == [ts for _, _, ts in rows]

    got = old_consume(broker, level, topic, 24)
    assert [(r.offset, r.key, r.value) for r in got] == [(i, k, v) for i, (k, v, _) in enumerate(rows)]
    if magic == 1:
        assert [(r.timestamp, r.timestamp_type) for r in got] == [(ts, 0) for _, _, ts in rows]
    else:
        assert all(r.timestamp in (None, -1) for r in got), [r.timestamp for r in got]

    modern = modern_consume(broker, topic, 24)
    assert [(m.offset(), m.key(), m.value()) for m in modern] == [(i, k, v) for i, (k, v, _) in enumerate(rows)]
    if magic == 1:
        assert [m.timestamp() for m in modern] == [(TIMESTAMP_CREATE_TIME, ts) for _, _, ts in rows]
    else:
        assert all(m.timestamp()[1] == -1 for m in modern), [m.timestamp() for m in modern]
    assert all(not m.headers() for m in modern)


@pytest.mark.parametrize("level", OLD_LEVELS, ids=level_id)
def test_old_client_reads_record_batches_with_headers_and_every_codec(broker, level):
    """confluent-kafka writes record batches (magic 2) with headers and timestamps, plain and
    compressed with each codec; kafka-python at `level` reads them down-converted: keys, values
    and offsets kept, headers gone, CreateTime kept at magic 1, none at magic 0."""
    magic = MAGIC_AT[level]
    topic = create_topic(broker, unique(f"mod-{level_id(level)}"))
    expected = []
    for codec in ("none", "gzip", "snappy", "lz4"):
        rows = [(None if i == 1 else f"{codec}-k{i}".encode(), None if i == 2 else f"{codec}-v{i}".encode() * 4,
                 BASE_TS + len(expected) + i, [("h", f"{codec}{i}".encode()), ("x", None)]) for i in range(5)]
        modern_produce(broker, topic, rows, **{"compression.type": codec})
        expected += [(len(expected) + i, k, v, ts) for i, (k, v, ts, _) in enumerate(rows)]
    got = old_consume(broker, level, topic, len(expected))
    assert [(r.offset, r.key, r.value) for r in got] == [(o, k, v) for o, k, v, _ in expected]
    assert all(r.headers == [] for r in got)
    if magic == 1:
        assert [r.timestamp for r in got] == [ts for *_, ts in expected]
        assert all(r.timestamp_type == 0 for r in got)
    else:
        assert all(r.timestamp in (None, -1) for r in got)


@pytest.mark.parametrize("level", [(0, 9), (0, 10, 1)], ids=level_id)
def test_log_append_time_topic_stamps_old_clients_messages(broker, level):
    """On a LogAppendTime topic the old client's messages (magic 0, or magic 1 with an old
    CreateTime) are stamped with the time the broker appended them: confluent-kafka sees
    LogAppendTime; at magic 1 the produce answer (Produce v2's log_append_time) and the old
    consumer see it too."""
    magic = MAGIC_AT[level]
    topic = create_topic(broker, unique(f"lat-{level_id(level)}"), {"message.timestamp.type": "LogAppendTime"})
    rows = sample_rows(6, "lat", with_nulls=False)
    before = now_ms()
    producer = old_producer(broker, level, "gzip")
    try:
        metadata = old_send(producer, topic, rows[:3])
    finally:
        producer.close(timeout=10)
    producer = old_producer(broker, level)
    try:
        metadata += old_send(producer, topic, rows[3:])
    finally:
        producer.close(timeout=10)
    after = now_ms()
    modern = modern_consume(broker, topic, 6)
    assert [(m.offset(), m.value()) for m in modern] == [(i, v) for i, (_, v, _) in enumerate(rows)]
    stamps = [m.timestamp() for m in modern]
    assert all(t == TIMESTAMP_LOG_APPEND_TIME and before <= ts <= after for t, ts in stamps), (before, stamps, after)
    if magic == 1:
        assert [m.timestamp for m in metadata] == [ts for _, ts in stamps], "Produce v2's log_append_time"
        got = old_consume(broker, level, topic, 6)
        assert [(r.offset, r.timestamp, r.timestamp_type) for r in got] == [(i, ts, 1) for i, (_, ts) in
                                                                             enumerate(stamps)]


@pytest.mark.parametrize("level", [(0, 9), (0, 10, 0), (0, 10, 1)], ids=level_id)
def test_old_client_group_commits_and_resumes(broker, level):
    """kafka-python at `level` joins a group, consumes, commits offset 12 of 20 and leaves; the
    next member of the group resumes at 12 and commits the end; confluent-kafka sees the commit."""
    topic = create_topic(broker, unique(f"grp-{level_id(level)}"))
    group = unique("g")
    rows = sample_rows(20, "grp", with_nulls=False)
    producer = old_producer(broker, level)
    try:
        old_send(producer, topic, rows)
    finally:
        producer.close(timeout=10)
    tp = KpTopicPartition(topic, 0)

    def member():
        c = KafkaConsumer(bootstrap_servers=broker.bootstrap, api_version=level, group_id=group,
                          enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                          heartbeat_interval_ms=500)
        c.subscribe([topic])
        return c

    def drain(consumer, count):
        got, deadline = [], time.monotonic() + 40
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                got += records
        return got

    first = member()
    try:
        got = drain(first, 20)
        assert [(r.offset, r.value) for r in got] == [(i, v) for i, (_, v, _) in enumerate(rows)]
        first.commit({tp: OffsetAndMetadata(12, "half")})
        assert first.committed(tp) == 12
    finally:
        first.close(autocommit=False)

    second = member()
    try:
        got = drain(second, 8)
        assert [r.offset for r in got] == list(range(12, 20))
        second.commit()
        assert second.committed(tp) == 20
    finally:
        second.close(autocommit=False)

    modern = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = modern.committed([TopicPartition(topic, 0)], timeout=30)
        assert [c.offset for c in committed] == [20]
    finally:
        modern.close()


# === raw frames ===============================================================================

PRODUCE_CASES = [(0, 0), (1, 0), (2, 1), (2, 0)]  # (Produce version, magic of the MessageSet)


@pytest.mark.parametrize("codec", [0, GZIP], ids=["plain", "gzip"])
@pytest.mark.parametrize("version,magic", PRODUCE_CASES, ids=[f"produce-v{v}-magic{m}" for v, m in PRODUCE_CASES])
def test_raw_produce_then_fetch_every_old_version(broker, version, magic, codec):
    """Two message sets produced: base offsets 0 and 4 (log_append_time -1 on a CreateTime
    topic, Produce v2). Fetch v0-v1 answer magic 0, v2-v3 magic 1, every CRC right, offsets
    absolute and consecutive, keys and values (null ones too) kept, magic 1 timestamps the
    producer's (or -1 for what came as magic 0); a fetch from the middle starts there."""
    topic = create_topic(broker, unique(f"raw-v{version}-m{magic}-{codec}"))
    first = [(b"k0", b"v0", BASE_TS), (None, b"null key", BASE_TS + 1), (b"null value", None, BASE_TS + 2),
             (b"", b"", BASE_TS + 3)]
    second = [(b"k4", b"v4" * 50, BASE_TS + 4), (b"k5", b"v5", BASE_TS + 5), (None, None, BASE_TS + 6)]
    stamp = (lambda ts: ts) if magic == 1 else (lambda ts: None)
    with Wire(broker) as w:
        for rows, base in ((first, 0), (second, len(first))):
            answer = produce(w, version, topic, message_set(magic, [(k, v, stamp(ts)) for k, v, ts in rows], codec))
            assert answer.error == NONE, f"Produce v{version} magic {magic}: error {answer.error}"
            assert answer.base_offset == base
            if version >= 2:
                assert answer.log_append_time == -1
        rows = first + second
        for fetch_version in range(4):
            msgs, hw = fetch_all(w, fetch_version, topic)
            assert hw == len(rows)
            assert [(m.offset, m.key, m.value) for m in msgs] == [(i, k, v) for i, (k, v, _) in enumerate(rows)], \
                f"Fetch v{fetch_version}"
            if fetch_version >= 2:
                assert [m.timestamp for m in msgs] == [ts if magic == 1 else -1 for _, _, ts in rows], \
                    f"Fetch v{fetch_version} timestamps"
                assert not any(m.log_append_time for m in msgs)
            middle, _ = fetch_all(w, fetch_version, topic, start=2)
            assert [m.offset for m in middle] == list(range(2, len(rows))), f"Fetch v{fetch_version} from offset 2"
            at_end = fetch(w, fetch_version, topic, len(rows))
            assert (at_end.error, at_end.high_watermark, at_end.records) == (NONE, len(rows), b""), \
                f"Fetch v{fetch_version} at the high watermark"
            past = fetch(w, fetch_version, topic, len(rows) + 5)
            assert past.error == OFFSET_OUT_OF_RANGE, f"Fetch v{fetch_version} past the end: error {past.error}"
            unknown = fetch(w, fetch_version, topic + "-missing", 0)
            assert unknown.error == UNKNOWN_TOPIC_OR_PARTITION, f"Fetch v{fetch_version}: error {unknown.error}"


@pytest.mark.parametrize("version,magic", [(0, 0), (1, 0), (2, 1)], ids=["produce-v0", "produce-v1", "produce-v2"])
def test_raw_produce_with_acks_0_is_not_answered(broker, version, magic):
    """acks=0: the broker appends and sends no response; the next request's answer is the next
    one on the connection."""
    topic = create_topic(broker, unique(f"acks0-v{version}"))
    with Wire(broker) as w:
        w.send_only(PRODUCE, version, produce_body(version, topic, message_set(
            magic, [(b"k0", b"fire and forget", BASE_TS if magic else None)]), 0, 0))
        answer = produce(w, version, topic, message_set(magic, [(b"k1", b"acknowledged", BASE_TS if magic else None)]))
        assert (answer.error, answer.base_offset) == (NONE, 1)
        msgs, _ = fetch_all(w, 0, topic)
        assert [(m.offset, m.value) for m in msgs] == [(0, b"fire and forget"), (1, b"acknowledged")]


@pytest.mark.parametrize("version", [0, 1, 2])
def test_raw_old_produce_may_carry_a_record_batch(broker, version):
    """Kafka checks the magic only from Produce v3 on: an old Produce version carrying a record
    batch (magic 2, headers and all, here written by kafka-python's encoder) is stored, and old
    fetchers read it."""
    topic = create_topic(broker, unique(f"v2in-v{version}"))
    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
    for i in range(3):
        builder.append(i, timestamp=BASE_TS + i, key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"x")])
    with Wire(broker) as w:
        answer = produce(w, version, topic, bytes(builder.build()))
        assert (answer.error, answer.base_offset) == (NONE, 0), f"Produce v{version} with a magic 2 batch"
        for fetch_version in (0, 3):
            msgs, _ = fetch_all(w, fetch_version, topic)
            assert [(m.offset, m.key, m.value) for m in msgs] == [(i, b"k%d" % i, b"v%d" % i) for i in range(3)]


def test_raw_log_append_time_topic(broker):
    """On a LogAppendTime topic: Produce v2 answers the append time; Fetch v2-v3 give magic 1
    messages flagged LogAppendTime with that time (plain messages, or the wrapper's timestamp),
    also for what came as magic 0; Fetch v0-v1 give magic 0 messages."""
    topic = create_topic(broker, unique("raw-lat"), {"message.timestamp.type": "LogAppendTime"})
    with Wire(broker) as w:
        stamps = []
        for codec in (0, GZIP):
            rows = [(b"k%d" % i, b"v%d" % i, 1000 + i) for i in range(len(stamps), len(stamps) + 3)]
            before = now_ms()
            answer = produce(w, 2, topic, message_set(1, rows, codec))
            after = now_ms()
            assert answer.error == NONE
            assert before <= answer.log_append_time <= after, (before, answer, after)
            stamps += [answer.log_append_time] * 3
        before = now_ms()
        answer = produce(w, 1, topic, message_set(0, [(b"k6", b"v6", None), (b"k7", b"v7", None)]))
        after = now_ms()
        assert (answer.error, answer.base_offset) == (NONE, 6)
        for fetch_version in (2, 3):
            msgs, hw = fetch_all(w, fetch_version, topic)
            assert hw == 8
            assert [m.key for m in msgs] == [b"k%d" % i for i in range(8)]
            assert all(m.log_append_time for m in msgs), f"Fetch v{fetch_version}: {msgs}"
            assert [m.timestamp for m in msgs[:6]] == stamps
            assert msgs[6].timestamp == msgs[7].timestamp and before <= msgs[6].timestamp <= after
        for fetch_version in (0, 1):
            msgs, _ = fetch_all(w, fetch_version, topic)
            assert [(m.offset, m.value) for m in msgs] == [(i, b"v%d" % i) for i in range(8)]


@pytest.mark.parametrize("version,magic", [(0, 0), (1, 0), (2, 1)], ids=["produce-v0", "produce-v1", "produce-v2"])
def test_raw_corrupt_crc_is_refused_and_nothing_appended(broker, version, magic):
    """A MessageSet with one message's CRC wrong (a plain one after a good one, or one inside a
    gzip wrapper) is refused with CORRUPT_MESSAGE and none of it is appended; the connection
    serves on."""
    topic = create_topic(broker, unique(f"crc-v{version}"))
    ts = BASE_TS if magic == 1 else None
    rows = [(b"a", b"good", ts), (b"b", b"bad", ts), (b"c", b"good too", ts)]
    with Wire(broker) as w:
        plain = produce(w, version, topic, message_set(magic, rows, corrupt_index=1))
        assert plain.error == CORRUPT_MESSAGE, f"plain set, 2nd of 3 CRCs wrong: error {plain.error}"
        wrapped = produce(w, version, topic, message_set(magic, rows, GZIP, corrupt_index=1))
        assert wrapped.error == CORRUPT_MESSAGE, f"gzip wrapper, an inner CRC wrong: error {wrapped.error}"
        wrapper = bytearray(message_set(magic, rows, GZIP))
        wrapper[12] ^= 0x01  # the wrapper's own CRC (after offset and size) now wrong
        outer = produce(w, version, topic, bytes(wrapper))
        assert outer.error == CORRUPT_MESSAGE, f"gzip wrapper, its CRC wrong: error {outer.error}"
        empty = fetch(w, 0, topic, 0)
        assert (empty.error, empty.high_watermark) == (NONE, 0)
        assert logical_messages(empty.records, 0, "Fetch v0")[0] == []
        ok = produce(w, version, topic, message_set(magic, rows))
        assert (ok.error, ok.base_offset) == (NONE, 0)


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", [0, GZIP], ids=["plain", "gzip"])
def test_raw_produce_v3_with_a_legacy_message_set_is_invalid_record(broker, magic, codec):
    """Produce v3 must carry one record batch of magic 2: a MessageSet of magic 0 or 1 gets
    INVALID_RECORD for its partition (Kafka's ProduceRequest.validateRecords, run per partition
    in KafkaApis), the connection stays open, nothing is appended."""
    topic = create_topic(broker, unique(f"v3-m{magic}-{codec}"))
    rows = [(b"k", b"v", BASE_TS if magic else None), (b"k2", b"v2", BASE_TS if magic else None)]
    with Wire(broker) as w:
        answer = produce(w, 3, topic, message_set(magic, rows, codec))
        assert answer.error == INVALID_RECORD, f"Produce v3 with magic {magic}: error {answer.error}"
        ok = produce(w, 2, topic, message_set(magic, rows, codec))
        assert (ok.error, ok.base_offset) == (NONE, 0)
        msgs, hw = fetch_all(w, 0, topic)
        assert hw == 2 and [m.key for m in msgs] == [b"k", b"k2"]


def test_raw_partition_max_bytes_smaller_than_the_first_message(broker):
    """A first message larger than partition_max_bytes comes back whole at every old version
    (KIP-74's rule, which Kafka applies from Fetch v3; Sluice also below it, a documented
    departure: Kafka's hard limit there answers an empty set, and an old consumer whose fetch
    size is below its largest message then reads nothing forever), and nothing after it does.
    With room enough every version returns all three."""
    topic = create_topic(broker, unique("maxbytes"))
    with Wire(broker) as w:
        for i in range(3):
            answer = produce(w, 2, topic, message_set(1, [(b"key%d" % i, bytes([65 + i]) * 300, BASE_TS)]))
            assert (answer.error, answer.base_offset) == (NONE, i)
        for version in range(4):
            small = fetch(w, version, topic, 0, partition_max_bytes=40)
            assert (small.error, small.high_watermark) == (NONE, 3), f"Fetch v{version}: {small[:2]}"
            msgs, _ = logical_messages(small.records, 0 if version <= 1 else 1, f"Fetch v{version}, 40 bytes")
            assert [(m.offset, m.value) for m in msgs] == [(0, b"A" * 300)], \
                f"Fetch v{version} returns the first message whole and only it: {msgs}"
        for version in range(4):
            msgs, _ = fetch_all(w, version, topic)
            assert [(m.offset, m.value) for m in msgs] == [(i, bytes([65 + i]) * 300) for i in range(3)]


def test_raw_control_batches_never_reach_old_fetchers(broker):
    """Transactions (committed, aborted, committed) by confluent-kafka's transactional producer:
    old fetchers (read_uncommitted by nature) get every data record, aborted ones included, and
    never a control record; a fetch at a marker's offset moves on to the next data record."""
    topic = create_topic(broker, unique("txn"))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": unique("tx"), "linger.ms": 5})
    producer.init_transactions(60)
    for values, commit in (([b"c1", b"c2", b"c3"], True), ([b"a1", b"a2"], False), ([b"c4"], True)):
        producer.begin_transaction()
        for v in values:
            producer.produce(topic, key=b"key-" + v, value=v, partition=0)
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)
    committed = modern_consume(broker, topic, 4, isolation="read_committed")
    assert [m.value() for m in committed] == [b"c1", b"c2", b"c3", b"c4"]
    data = modern_consume(broker, topic, 6)
    expected = [(m.offset(), m.key(), m.value()) for m in data]
    assert [v for _, _, v in expected] == [b"c1", b"c2", b"c3", b"a1", b"a2", b"c4"]
    offsets = [o for o, _, _ in expected]
    markers = sorted(set(range(offsets[-1] + 2)) - set(offsets))
    assert len(markers) == 3, f"data offsets {offsets}: a marker after each transaction"
    with Wire(broker) as w:
        for version in range(4):
            msgs, hw = fetch_all(w, version, topic)
            assert hw == offsets[-1] + 2
            assert [(m.offset, m.key, m.value) for m in msgs] == expected, f"Fetch v{version}"
            at_marker, _ = fetch_all(w, version, topic, start=markers[0])
            assert [m.offset for m in at_marker] == [o for o in offsets if o > markers[0]], \
                f"Fetch v{version} at the commit marker's offset {markers[0]}"
            last = fetch(w, version, topic, markers[-1])
            assert last.error == NONE
            assert logical_messages(last.records, 0 if version <= 1 else 1, f"Fetch v{version}")[0] == [], \
                f"Fetch v{version} at the last commit marker's offset {markers[-1]}"


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_raw_headers_are_dropped_keys_and_values_kept(broker, codec):
    """Record batches with headers, down-converted: the messages' layout has no room for them
    (each message is exactly its fields, CRC right), keys, values and CreateTime kept."""
    topic = create_topic(broker, unique(f"hdr-{codec}"))
    rows = [(b"k%d" % i, b"v%d" % i, BASE_TS + i, [("trace", b"t%d" % i), ("n", None)]) for i in range(4)]
    modern_produce(broker, topic, rows, **{"compression.type": codec})
    with Wire(broker) as w:
        for version in range(4):
            msgs, _ = fetch_all(w, version, topic)
            assert [(m.offset, m.key, m.value) for m in msgs] == [(i, k, v) for i, (k, v, _, _) in enumerate(rows)]
            if version >= 2:
                assert [m.timestamp for m in msgs] == [ts for _, _, ts, _ in rows]


def test_raw_downconversion_disabled_answers_unsupported_version(broker):
    """message.downconversion.enable=false on the topic: Fetch v0-v3 get UNSUPPORTED_VERSION
    for it (and no messages), Fetch v4 reads the record batches, old producers still write;
    set back to true, old fetchers read again."""
    topic = create_topic(broker, unique("noconv"))
    with Wire(broker) as w:
        assert produce(w, 0, topic, message_set(0, [(b"k0", b"v0", None), (b"k1", b"v1", None)])).error == NONE
        set_topic_config(broker, topic, "message.downconversion.enable", "false")
        wait_until(lambda: fetch(w, 0, topic, 0).error != NONE, 15, what="the topic config to apply")
        for version in range(4):
            answer = fetch(w, version, topic, 0)
            assert answer.error == UNSUPPORTED_VERSION, f"Fetch v{version}: error {answer.error}"
            assert logical_messages(answer.records, 0 if version <= 1 else 1, f"Fetch v{version}")[0] == []
        v4 = fetch(w, 4, topic, 0)
        assert (v4.error, v4.high_watermark) == (NONE, 2)
        batches = v2_batches(v4.records)
        assert batches and all(magic == 2 for _, magic, _ in batches), batches
        assert sum(count for _, _, count in batches) == 2
        answer = produce(w, 1, topic, message_set(0, [(b"k2", b"v2", None)]))
        assert (answer.error, answer.base_offset) == (NONE, 2), "Produce v1 is not down-conversion"
        assert [(m.offset(), m.value()) for m in modern_consume(broker, topic, 3)] == \
            [(0, b"v0"), (1, b"v1"), (2, b"v2")]
        set_topic_config(broker, topic, "message.downconversion.enable", "true")
        wait_until(lambda: fetch(w, 0, topic, 0).error == NONE, 15, what="the topic config to apply")
        for version in range(4):
            msgs, _ = fetch_all(w, version, topic)
            assert [m.value for m in msgs] == [b"v0", b"v1", b"v2"]


CODEC_IDS = {"gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4}


@pytest.mark.parametrize("codec", list(CODEC_IDS))
def test_raw_down_conversion_keeps_the_batchs_codec(broker, codec):
    """Kafka down-converts a compressed record batch into one wrapper message of the same codec
    (RecordsUtil.convertRecordBatch builds with the batch's compression type): Fetch v0-v1 get
    a magic 0 wrapper (inner offsets absolute, the wrapper at the last one's), Fetch v2-v3 a
    magic 1 wrapper (inner offsets relative 0..n-1, the wrapper at the last one's absolute
    offset, its timestamp the batch's newest), each holding the batch's records."""
    topic = create_topic(broker, unique(f"codec-{codec}"))
    rows = [(b"k%d" % i, b"%s value %d " % (codec.encode(), i) * 8, BASE_TS + 10 * i, None) for i in range(5)]
    modern_produce(broker, topic, rows, **{"compression.type": codec})
    with Wire(broker) as w:
        for version in range(4):
            answer = fetch(w, version, topic, 0)
            assert (answer.error, answer.high_watermark) == (NONE, 5)
            entries, _ = parse_entries(answer.records, f"Fetch v{version}")
            assert entries and all(e.attributes & CODEC_BITS == CODEC_IDS[codec] for e in entries), \
                f"Fetch v{version} of a {codec} batch of 5: (offset, codec) of the messages answered " \
                f"{[(e.offset, e.attributes & CODEC_BITS) for e in entries]}"
            if version >= 2 and len(entries) == 1:
                assert entries[0].timestamp == BASE_TS + 40, "a magic 1 wrapper has its newest timestamp"
            msgs, _ = logical_messages(answer.records, 0 if version <= 1 else 1, f"Fetch v{version}")
            assert [(m.offset, m.key, m.value) for m in msgs] == [(i, k, v) for i, (k, v, _, _) in enumerate(rows)]
            if version >= 2:
                assert [m.timestamp for m in msgs] == [ts for _, _, ts, _ in rows]


@pytest.fixture
def no_downconversion_broker(tmp_path, request):
    yield from serve_broker(tmp_path, request, ["log.message.downconversion.enable=false"])


def test_raw_broker_wide_downconversion_disabled(no_downconversion_broker):
    """log.message.downconversion.enable=false on the broker: Fetch v0-v3 get UNSUPPORTED_VERSION
    for a topic without an override, and are served for a topic whose
    message.downconversion.enable is true."""
    broker = no_downconversion_broker
    plain = create_topic(broker, unique("brokerwide"))
    allowed = create_topic(broker, unique("override"), {"message.downconversion.enable": "true"})
    with Wire(broker) as w:
        for topic in (plain, allowed):
            answer = produce(w, 2, topic, message_set(1, [(b"k", b"v", BASE_TS)]))
            assert (answer.error, answer.base_offset) == (NONE, 0)
        for version in range(4):
            assert fetch(w, version, plain, 0).error == UNSUPPORTED_VERSION, f"Fetch v{version}"
            msgs, _ = fetch_all(w, version, allowed)
            assert [(m.offset, m.value) for m in msgs] == [(0, b"v")], f"Fetch v{version}"
        v4 = fetch(w, 4, plain, 0)
        assert v4.error == NONE and sum(count for _, _, count in v2_batches(v4.records)) == 1


def test_raw_lz4_at_magic_0_keeps_the_old_header_checksum(broker):
    """lz4 down-converted to magic 0 is framed the way magic 0 clients expect: the frame's
    header checksum computed over the magic number too (KAFKA-3160; Kafka's Lz4BlockOutputStream
    writes it so at magic 0). At magic 1 the frame is standard."""
    topic = create_topic(broker, unique("lz4"))
    rows = [(b"k%d" % i, b"lz4 value %d " % i * 10, BASE_TS + i, None) for i in range(5)]
    modern_produce(broker, topic, rows, **{"compression.type": "lz4"})
    with Wire(broker) as w:
        for version in range(4):
            magic = 0 if version <= 1 else 1
            answer = fetch(w, version, topic, 0)
            assert answer.error == NONE
            entries, _ = parse_entries(answer.records, f"Fetch v{version}")
            wrappers = [e for e in entries if e.attributes & CODEC_BITS == LZ4]
            assert wrappers, f"Fetch v{version}: no lz4 wrapper message to check (attributes " \
                             f"{[e.attributes for e in entries]})"
            got, correct, broken = lz4_checksums(wrappers[0].value)
            assert got == (broken if magic == 0 else correct), \
                f"Fetch v{version}: lz4 header checksum {got}: correct {correct}, old Kafka's {broken}"


@pytest.mark.parametrize("version,magic", [(0, 0), (1, 0), (2, 1)], ids=["produce-v0", "produce-v1", "produce-v2"])
def test_raw_old_producers_lz4_wrappers_are_accepted(broker, version, magic):
    """An lz4 wrapper as an old producer wrote it (magic 0: the old header checksum, KAFKA-3160,
    which Kafka ignores at magic 0; magic 1: a standard frame) is stored and read back."""
    topic = create_topic(broker, unique(f"oldlz4-v{version}"))
    rows = [(b"k%d" % i, b"lz4 from an old producer %d " % i * 4, BASE_TS + i if magic else None) for i in range(3)]
    with Wire(broker) as w:
        for base in (0, 3):
            answer = produce(w, version, topic, message_set(magic, rows, LZ4))
            assert (answer.error, answer.base_offset) == (NONE, base), f"Produce v{version}: {answer}"
        for fetch_version in range(4):
            msgs, hw = fetch_all(w, fetch_version, topic)
            assert hw == 6 and [(m.offset, m.value) for m in msgs] == [(i, rows[i % 3][1]) for i in range(6)]


def test_raw_zstd_batches_reach_old_fetchers_as_plain_messages(broker):
    """zstd record batches have no legacy form: Fetch v0-v3 get their records as plain
    (uncompressed) messages, a documented departure from Kafka, which answers
    UNSUPPORTED_COMPRESSION_TYPE and so leaves old consumers unable to read the topic; a current
    consumer reads the batches as stored."""
    topic = create_topic(broker, unique("zstd"))
    rows = [(b"z%d" % i, b"zstd" * 20, BASE_TS + i, None) for i in range(3)]
    modern_produce(broker, topic, rows, **{"compression.type": "zstd"})
    with Wire(broker) as w:
        for version in range(4):
            answer = fetch(w, version, topic, 0)
            assert answer.error == NONE, f"Fetch v{version}: error {answer.error}"
            entries, partial = parse_entries(answer.records, f"Fetch v{version}")
            assert entries and partial == 0 and all(e.attributes & 0x07 == 0 for e in entries), \
                f"Fetch v{version}: plain messages only, got {entries}"
            msgs, _ = logical_messages(answer.records, 0 if version <= 1 else 1, f"Fetch v{version}")
            assert [(m.offset, m.key, m.value) for m in msgs] == [(i, b"z%d" % i, b"zstd" * 20) for i in range(3)]
    assert len(modern_consume(broker, topic, 3)) == 3

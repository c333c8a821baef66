"""Produced batches are stored and served correctly whether the broker keeps them as sent or has
to rewrite them. Kafka writes a client's v2 batch to the log as it came, with only the base
offset and the partition leader epoch (outside the CRC) replaced, unless a topic config demands
a rewrite: `compression.type` naming another codec (recompression), `message.timestamp.type=
LogAppendTime` (KIP-32: max timestamp and the timestamp-type attribute set by the broker, CRC
recomputed), or a CreateTime batch whose header max timestamp is not its records' largest (the
broker corrects it). These tests drive each case end to end with confluent-kafka, kafka-python,
kcat and hand-built requests over a socket, and read the stored batches back both through the
clients and as raw bytes from Fetch (offsets, CRC-32C, codec, timestamps, producer fields)."""

import math
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections import namedtuple

import pytest
from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.codec import (gzip_decode, gzip_encode, lz4_decode, lz4_encode, snappy_decode, snappy_encode,
                         zstd_decode, zstd_encode)

from conftest import wait_until
from raw_kafka import fetch_v4, frame, read_fetch_v4, read_frame

# Wire versions of the hand-built requests: the newest non-flexible ones that may carry zstd
# batches (KIP-110: Produce v7 and Fetch v10 are the first to allow it).
PRODUCE_VERSION = 7
FETCH_VERSION = 10
INIT_PRODUCER_ID_VERSION = 0
API_PRODUCE, API_FETCH, API_INIT_PRODUCER_ID = 0, 1, 22

# Kafka error codes the answers are checked against.
NONE = 0
CORRUPT_MESSAGE = 2
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87

# Record batch v2 layout (the protocol guide's "Record Batch"): the first 16 bytes (base offset,
# batch length, partition leader epoch) are outside the CRC, which covers attributes onward.
MAGIC_V2 = 2
BATCH_HEADER_BYTES = 61
CRC_COVERED_FROM = 21
OUTSIDE_CRC_BYTES = 16
TIMESTAMP_TYPE_BIT = 0x08
CODEC_MASK = 0x07
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
COMPRESS = {1: gzip_encode, 2: snappy_encode, 3: lz4_encode, 4: zstd_encode}
DECOMPRESS = {1: gzip_decode, 2: snappy_decode, 3: lz4_decode, 4: zstd_decode}
NO_PRODUCER = (-1, -1, -1)
# What a client that knows nothing of the log puts in the fields the broker assigns; a stored
# batch must not keep them.
CLIENT_BASE_OFFSET = 123_456
CLIENT_LEADER_EPOCH = 777

# Bounds on waiting (generous: debug binaries on two shared cores).
SOCKET_TIMEOUT_S = 30
PRODUCE_TIMEOUT_MS = 30_000
CONSUME_TIMEOUT_S = 60
FLUSH_TIMEOUT_S = 60
KCAT_TIMEOUT_S = 120
FETCH_MAX_BYTES = 4 * 1024 * 1024
FETCH_ROUNDS_MAX = 200
# A CreateTime far enough in the past to be unmistakable, yet accepted by Kafka's default
# message.timestamp.before.max.ms (unbounded).
OLD_TIMESTAMP_MS = 1_600_000_000_000

Rec = namedtuple("Rec", "key value headers timestamp")
Stored = namedtuple("Stored", "offset timestamp key value headers")
Batch = namedtuple("Batch", "base_offset length leader_epoch magic crc crc_ok attributes last_offset_delta "
                            "first_timestamp max_timestamp producer_id producer_epoch base_sequence count records raw")
ProduceAnswer = namedtuple("ProduceAnswer", "error base_offset log_append_time log_start_offset")
# A consumed record, the same whichever client read it: ts_type is "create" or "append".
Seen = namedtuple("Seen", "key value headers ts_type timestamp")


# --- CRC-32C and varints (the protocol guide's encodings, written out here) -----------------------

def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli, reflected
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283, "the CRC-32C check value"


def varint(n):
    z = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def read_varint(buf, pos):
    z, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (z >> 1) ^ -(z & 1), pos


def varbytes(b):
    return varint(-1) if b is None else varint(len(b)) + b


# --- Record batches -----------------------------------------------------------------------------

def encode_record(rec, offset_delta, first_timestamp):
    body = b"\x00" + varint(rec.timestamp - first_timestamp) + varint(offset_delta)
    body += varbytes(rec.key) + varbytes(rec.value) + varint(len(rec.headers))
    for name, value in rec.headers:
        body += varbytes(name.encode()) + varbytes(value)
    return varint(len(body)) + body


def record_batch(records, codec="none", max_timestamp=None, producer=NO_PRODUCER,
                 base_offset=CLIENT_BASE_OFFSET, leader_epoch=CLIENT_LEADER_EPOCH):
    """A v2 CreateTime batch of `records` with a correct CRC-32C over whatever header it states;
    `max_timestamp` defaults to the right one (the records' largest)."""
    first_timestamp = records[0].timestamp
    if max_timestamp is None:
        max_timestamp = max(r.timestamp for r in records)
    payload = b"".join(encode_record(r, i, first_timestamp) for i, r in enumerate(records))
    code = CODECS[codec]
    if code:
        payload = COMPRESS[code](payload)
    producer_id, producer_epoch, base_sequence = producer
    covered = struct.pack(">hiqqqhii", code, len(records) - 1, first_timestamp, max_timestamp, producer_id,
                          producer_epoch, base_sequence, len(records)) + payload
    after_length = struct.pack(">ibI", leader_epoch, MAGIC_V2, crc32c(covered)) + covered
    return struct.pack(">qi", base_offset, len(after_length)) + after_length


def parse_batches(data):
    """The whole v2 batches in `data` (a trailing partial batch is allowed by Fetch and skipped),
    with their records decompressed and decoded."""
    batches, pos = [], 0
    while pos + BATCH_HEADER_BYTES <= len(data):
        base_offset, length, leader_epoch, magic, crc = struct.unpack_from(">qiibI", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        assert magic == MAGIC_V2, f"magic {magic} at byte {pos}"
        (attributes, last_offset_delta, first_ts, max_ts, producer_id, producer_epoch, base_sequence,
         count) = struct.unpack_from(">hiqqqhii", data, pos + CRC_COVERED_FROM)
        crc_ok = crc32c(data[pos + CRC_COVERED_FROM:end]) == crc
        payload = data[pos + BATCH_HEADER_BYTES:end]
        codec = attributes & CODEC_MASK
        if codec:
            payload = DECOMPRESS[codec](payload)
        records, rpos = [], 0
        for _ in range(count):
            size, rpos = read_varint(payload, rpos)
            rend = rpos + size
            rpos += 1  # record attributes, unused
            ts_delta, rpos = read_varint(payload, rpos)
            offset_delta, rpos = read_varint(payload, rpos)
            key, rpos = _read_varbytes(payload, rpos)
            value, rpos = _read_varbytes(payload, rpos)
            header_count, rpos = read_varint(payload, rpos)
            headers = []
            for _ in range(header_count):
                name, rpos = _read_varbytes(payload, rpos)
                hvalue, rpos = _read_varbytes(payload, rpos)
                headers.append((name.decode(), hvalue))
            assert rpos == rend, f"record of {size} bytes decoded to {rpos - rend + size}"
            records.append(Stored(base_offset + offset_delta, first_ts + ts_delta, key, value, headers))
        batches.append(Batch(base_offset, length, leader_epoch, magic, crc, crc_ok, attributes, last_offset_delta,
                             first_ts, max_ts, producer_id, producer_epoch, base_sequence, count, records,
                             bytes(data[pos:end])))
        pos = end
    return batches


def _read_varbytes(buf, pos):
    n, pos = read_varint(buf, pos)
    if n < 0:
        return None, pos
    return bytes(buf[pos:pos + n]), pos + n


def codec_of(batch):
    return batch.attributes & CODEC_MASK


def is_log_append_time(batch):
    return bool(batch.attributes & TIMESTAMP_TYPE_BIT)


# --- Raw requests -------------------------------------------------------------------------------

class Wire:
    """One connection to the broker for hand-built requests; answers are read in the order the
    requests were sent (Kafka answers a connection's requests in order)."""

    def __init__(self, broker):
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=SOCKET_TIMEOUT_S)
        self.correlation_id = 0

    def close(self):
        self.sock.close()

    def send(self, api_key, version, body):
        self.correlation_id += 1
        self.sock.sendall(frame(api_key, version, self.correlation_id, body, client_id=b"rewrites"))
        return self.correlation_id

    def answer(self, correlation_id):
        data = read_frame(self.sock)
        (got,) = struct.unpack_from(">i", data)
        assert got == correlation_id, f"answer to request {got}, expected {correlation_id}"
        return data[4:]

    def call(self, api_key, version, body):
        return self.answer(self.send(api_key, version, body))

    # Produce v7: transactional id, acks, timeout, [topic [partition, records]].
    def send_produce(self, topic, partition, records, acks=-1):
        name = topic.encode()
        body = struct.pack(">hhi", -1, acks, PRODUCE_TIMEOUT_MS)
        body += struct.pack(">ih", 1, len(name)) + name + struct.pack(">iii", 1, partition, len(records)) + records
        return self.send(API_PRODUCE, PRODUCE_VERSION, body)

    def read_produce(self, correlation_id):
        data = self.answer(correlation_id)
        pos = 4  # topic count
        (name_len,) = struct.unpack_from(">h", data, pos)
        pos += 2 + name_len + 4  # name, partition count
        _partition, error, base_offset, append_time, log_start = struct.unpack_from(">ihqqq", data, pos)
        return ProduceAnswer(error, base_offset, append_time, log_start)

    def produce(self, topic, partition, records):
        return self.read_produce(self.send_produce(topic, partition, records))

    # Fetch v10 without a fetch session: replica, max wait, min bytes, max bytes, isolation,
    # session id 0, epoch -1, [topic [partition, current leader epoch, offset, log start offset,
    # partition max bytes]], forgotten topics.
    def fetch(self, topic, partition, offset):
        name = topic.encode()
        body = struct.pack(">iiiibii", -1, 0, 0, FETCH_MAX_BYTES, 0, 0, -1)
        body += struct.pack(">ih", 1, len(name)) + name
        body += struct.pack(">iiiqqi", 1, partition, -1, offset, -1, FETCH_MAX_BYTES) + struct.pack(">i", 0)
        data = self.call(API_FETCH, FETCH_VERSION, body)
        _throttle, top_error, _session, topics = struct.unpack_from(">ihii", data)
        assert top_error == NONE and topics == 1, (top_error, topics)
        pos = 14
        (name_len,) = struct.unpack_from(">h", data, pos)
        pos += 2 + name_len + 4
        _p, error, high_watermark, _lso, _log_start, aborted = struct.unpack_from(">ihqqqi", data, pos)
        pos += 4 + 2 + 8 * 3 + 4 + max(aborted, 0) * 16
        (length,) = struct.unpack_from(">i", data, pos)
        pos += 4
        return error, high_watermark, data[pos:pos + max(length, 0)]

    def fetch_all(self, topic, partition):
        """Every batch of the partition, fetched from offset 0 up to the high watermark."""
        batches, offset = [], 0
        for _ in range(FETCH_ROUNDS_MAX):
            error, high_watermark, data = self.fetch(topic, partition, offset)
            assert error == NONE, f"Fetch {topic}-{partition}@{offset}: error {error}"
            if offset >= high_watermark:
                return batches
            got = parse_batches(data)
            assert got, f"Fetch {topic}-{partition}@{offset} below high watermark {high_watermark} gave no batch"
            batches += got
            offset = got[-1].base_offset + got[-1].last_offset_delta + 1
        raise AssertionError(f"{topic}-{partition} not read to its end in {FETCH_ROUNDS_MAX} fetches")

    def init_producer_id(self):
        data = self.call(API_INIT_PRODUCER_ID, INIT_PRODUCER_ID_VERSION, struct.pack(">hi", -1, 60_000))
        _throttle, error, producer_id, epoch = struct.unpack_from(">ihqh", data)
        assert error == NONE, f"InitProducerId: error {error}"
        return producer_id, epoch


@pytest.fixture
def wire(broker):
    w = Wire(broker)
    yield w
    w.close()


# --- Topics and clients -------------------------------------------------------------------------

def create_topic(broker, name, partitions=1, config=None):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})], operation_timeout=30)
    futures[name].result(timeout=60)

    def led():
        meta = admin.list_topics(name, timeout=10).topics[name]
        return meta.error is None and len(meta.partitions) == partitions and \
            all(p.leader >= 0 and p.error is None for p in meta.partitions.values())
    wait_until(led, timeout_s=30, what=f"a leader for every partition of {name}")


def now_ms():
    return time.time() * 1000


def confluent_seen(msg):
    kind, ts = msg.timestamp()
    ts_type = {TIMESTAMP_CREATE_TIME: "create", TIMESTAMP_LOG_APPEND_TIME: "append"}.get(kind, kind)
    return Seen(msg.key(), msg.value(), list(msg.headers() or []), ts_type, ts)


def consume_confluent(bootstrap, topic, partitions, count):
    """(partition, offset) -> Seen for `count` records read from offset 0 with confluent-kafka."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, deadline = {}, time.monotonic() + CONSUME_TIMEOUT_S
    try:
        while len(got) < count and time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.5):
                assert m.error() is None, m.error()
                got[(m.partition(), m.offset())] = confluent_seen(m)
    finally:
        consumer.close()
    assert len(got) == count, f"confluent-kafka consumed {len(got)} of {count}"
    return got


def consume_kafka_python(bootstrap, topic, partitions, count):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    consumer.assign([KafkaTopicPartition(topic, p) for p in range(partitions)])
    for p in range(partitions):
        consumer.seek(KafkaTopicPartition(topic, p), 0)
    got, deadline = {}, time.monotonic() + CONSUME_TIMEOUT_S
    try:
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for m in records:
                    got[(m.partition, m.offset)] = Seen(m.key, m.value, list(m.headers),
                                                        "append" if m.timestamp_type == 1 else "create",
                                                        m.timestamp)
    finally:
        consumer.close()
    assert len(got) == count, f"kafka-python consumed {len(got)} of {count}"
    return got


def consume_kcat(bootstrap, topic, count):
    """(partition, offset) -> (key, value, headers as kcat prints them, timestamp) from kcat."""
    result = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                             "-f", "%p|%o|%T|%k|%s|%h\n"], capture_output=True, timeout=KCAT_TIMEOUT_S)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    got = {}
    for line in result.stdout.decode().splitlines():
        p, o, ts, key, value, headers = line.split("|")
        got[(int(p), int(o))] = (key.encode(), value.encode(), headers, int(ts))
    assert len(got) == count, f"kcat read {len(got)} of {count}"
    return got


def kcat_headers(headers):
    return ",".join(f"{k}={v.decode()}" for k, v in headers)


def assert_batches_well_formed(batches, what):
    """Consecutive offsets from 0 across and within batches, a valid CRC on every batch, one
    partition leader epoch that is the broker's, not the client's."""
    expected = 0
    for b in batches:
        assert b.crc_ok, f"{what}: batch at offset {b.base_offset} fails its CRC-32C"
        assert b.base_offset == expected, f"{what}: batch at offset {b.base_offset}, expected {expected}"
        assert b.last_offset_delta == b.count - 1, \
            f"{what}: batch at {b.base_offset}: {b.last_offset_delta=} {b.count=}"
        assert [r.offset for r in b.records] == list(range(expected, expected + b.count)), what
        assert b.leader_epoch >= 0 and b.leader_epoch != CLIENT_LEADER_EPOCH, \
            f"{what}: partition leader epoch {b.leader_epoch} at {b.base_offset}"
        expected += b.count
    assert len({b.leader_epoch for b in batches}) <= 1, f"{what}: leader epochs {[b.leader_epoch for b in batches]}"


def records(n, tag, first_timestamp, step=1):
    return [Rec(f"{tag}-k{i}".encode(), f"{tag}-v{i}-".encode() + b"x" * (i % 37),
                [("tag", tag.encode()), ("i", str(i).encode())], first_timestamp + i * step) for i in range(n)]


# --- 1. Many producers, many partitions, three consumers ----------------------------------------

PARTITIONS = 4
RECORDS_PER_PRODUCER = 400


def run_confluent_producer(bootstrap, topic, name, codec, first_ts, reports):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "compression.type": codec})
    for i, rec in enumerate(records(RECORDS_PER_PRODUCER, name, first_ts)):
        producer.produce(topic, key=rec.key, value=rec.value, headers=rec.headers, timestamp=rec.timestamp,
                         partition=i % PARTITIONS,
                         on_delivery=lambda err, msg, rec=rec: reports.append(
                             (rec, err, msg.partition(), msg.offset())))
        producer.poll(0)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0


def run_kafka_python_producer(bootstrap, topic, name, codec, first_ts, reports):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, compression_type=codec)
    futures = [(rec, producer.send(topic, key=rec.key, value=rec.value, headers=rec.headers,
                                   timestamp_ms=rec.timestamp, partition=i % PARTITIONS))
               for i, rec in enumerate(records(RECORDS_PER_PRODUCER, name, first_ts))]
    producer.flush(timeout=FLUSH_TIMEOUT_S)
    for rec, f in futures:
        meta = f.get(timeout=FLUSH_TIMEOUT_S)
        reports.append((rec, None, meta.partition, meta.offset))
    producer.close(timeout=FLUSH_TIMEOUT_S)


def test_many_producers_store_consecutive_offsets_that_every_consumer_reads_alike(broker, wire):
    # Four producers of two libraries, two of them compressing, write concurrently to four
    # partitions; offsets must be dense per partition, every record must come back whole to
    # confluent-kafka, kafka-python and kcat, and the raw batches must be well formed.
    topic = "mixed"
    create_topic(broker, topic, PARTITIONS)
    base_ts = int(now_ms()) - 3_600_000
    producers = [(run_confluent_producer, "cf-plain", "none"), (run_confluent_producer, "cf-lz4", "lz4"),
                 (run_kafka_python_producer, "kp-plain", None), (run_kafka_python_producer, "kp-gzip", "gzip")]
    reports, errors = [], []

    def run(fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001  (reported by the main thread)
            errors.append(e)
    threads = [threading.Thread(target=run, args=(fn, broker.bootstrap, topic, name, codec,
                                                  base_ts + n * 10 * RECORDS_PER_PRODUCER, reports))
               for n, (fn, name, codec) in enumerate(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(FLUSH_TIMEOUT_S * 3)
    assert not any(t.is_alive() for t in threads), "a producer did not finish"
    assert not errors, errors
    total = len(producers) * RECORDS_PER_PRODUCER
    assert len(reports) == total and all(err is None for _, err, _, _ in reports), \
        [str(err) for _, err, _, _ in reports if err][:5]

    expected = {(p, o): rec for rec, _, p, o in reports}
    assert len(expected) == total, "two records acknowledged at the same partition and offset"
    for p in range(PARTITIONS):
        offsets = sorted(o for q, o in expected if q == p)
        assert offsets == list(range(len(offsets))), f"partition {p}: offsets not consecutive from 0"
        for name in {n for _, n, _ in producers}:
            mine = [(o, int(rec.key.decode().rsplit("k", 1)[1])) for (q, o), rec in expected.items()
                    if q == p and rec.headers[0][1] == name.encode()]
            assert [i for _, i in sorted(mine)] == sorted(i for _, i in mine), f"{name} reordered in partition {p}"

    want = {k: Seen(r.key, r.value, r.headers, "create", r.timestamp) for k, r in expected.items()}
    assert consume_confluent(broker.bootstrap, topic, PARTITIONS, total) == want
    assert consume_kafka_python(broker.bootstrap, topic, PARTITIONS, total) == want
    assert consume_kcat(broker.bootstrap, topic, total) == {
        k: (r.key, r.value, kcat_headers(r.headers), r.timestamp) for k, r in expected.items()}

    for p in range(PARTITIONS):
        batches = wire.fetch_all(topic, p)
        assert_batches_well_formed(batches, f"{topic}-{p}")
        for b in batches:
            assert not is_log_append_time(b)
            assert b.max_timestamp == max(r.timestamp for r in b.records), f"{topic}-{p}@{b.base_offset}"
            for r in b.records:
                rec = expected[(p, r.offset)]
                assert (r.key, r.value, r.headers, r.timestamp) == (rec.key, rec.value, rec.headers, rec.timestamp)


# --- 2. LogAppendTime ---------------------------------------------------------------------------

LOG_APPEND_CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
RAW_RECORDS = 5
CLIENT_RECORDS = 20


@pytest.mark.parametrize("codec", LOG_APPEND_CODECS)
def test_log_append_time_stamps_every_batch_with_the_produce_time(broker, wire, codec):
    # Per KIP-32 a LogAppendTime topic stamps each batch with the broker's time at append: the
    # consumer sees that time and the LogAppendTime type whatever timestamps the producer set,
    # and the Produce answer reports the same time.
    topic = f"appended-{codec}"
    create_topic(broker, topic, config={"message.timestamp.type": "LogAppendTime"})
    windows = {}  # tag -> (earliest, latest) append time possible

    before = math.floor(now_ms())
    answer = wire.produce(topic, 0, record_batch(records(RAW_RECORDS, "raw", OLD_TIMESTAMP_MS), codec))
    windows["raw"] = (before, math.ceil(now_ms()))
    assert answer.error == NONE and answer.base_offset == 0, answer
    assert windows["raw"][0] <= answer.log_append_time <= windows["raw"][1], (answer, windows["raw"])

    before = math.floor(now_ms())
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "compression.type": codec})
    reports = []
    for rec in records(CLIENT_RECORDS, "cf", OLD_TIMESTAMP_MS):
        producer.produce(topic, key=rec.key, value=rec.value, headers=rec.headers, timestamp=rec.timestamp,
                         on_delivery=lambda err, msg: reports.append((err, msg.timestamp())))
    assert producer.flush(FLUSH_TIMEOUT_S) == 0
    windows["cf"] = (before, math.ceil(now_ms()))
    assert all(err is None and kind == TIMESTAMP_LOG_APPEND_TIME and windows["cf"][0] <= ts <= windows["cf"][1]
               for err, (kind, ts) in reports), reports[:3]

    before = math.floor(now_ms())
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20,
                       compression_type=None if codec == "none" else codec)
    futures = [kp.send(topic, key=rec.key, value=rec.value, headers=rec.headers, timestamp_ms=rec.timestamp)
               for rec in records(CLIENT_RECORDS, "kp", OLD_TIMESTAMP_MS)]
    kp.flush(timeout=FLUSH_TIMEOUT_S)
    for f in futures:
        f.get(timeout=FLUSH_TIMEOUT_S)
    kp.close(timeout=FLUSH_TIMEOUT_S)
    windows["kp"] = (before, math.ceil(now_ms()))

    total = RAW_RECORDS + 2 * CLIENT_RECORDS
    for seen in (consume_confluent(broker.bootstrap, topic, 1, total),
                 consume_kafka_python(broker.bootstrap, topic, 1, total)):
        for offset, s in sorted(seen.items()):
            tag = s.key.decode().split("-")[0]
            low, high = windows[tag]
            assert s.ts_type == "append" and low <= s.timestamp <= high, (offset, s, windows[tag])
            assert s.headers == [("tag", tag.encode()), ("i", s.key.decode().rsplit("k", 1)[1].encode())], s

    batches = wire.fetch_all(topic, 0)
    assert_batches_well_formed(batches, topic)
    assert all(is_log_append_time(b) for b in batches), [b.attributes for b in batches]
    raw = batches[0]
    assert raw.count == RAW_RECORDS and raw.max_timestamp == answer.log_append_time, raw[:12]
    assert codec_of(raw) == CODECS[codec], "compression.type=producer keeps the batch's codec"
    assert [r.value for r in raw.records] == [r.value for r in records(RAW_RECORDS, "raw", OLD_TIMESTAMP_MS)]


# --- 3. compression.type ------------------------------------------------------------------------

def fetch_v4_error(broker, topic):
    """The partition error a Fetch v4 of `topic`-0 from offset 0 gets."""
    with socket.create_connection(("127.0.0.1", broker.port), timeout=SOCKET_TIMEOUT_S) as s:
        fetch_v4(s, topic, 0, 0, FETCH_MAX_BYTES, FETCH_MAX_BYTES)
        error, _records = read_fetch_v4(s)
    return error


RECOMPRESSIONS = [("gzip", "none"), ("gzip", "lz4"), ("lz4", "none"), ("lz4", "zstd"), ("zstd", "none"),
                  ("zstd", "snappy"), ("uncompressed", "gzip"), ("snappy", "zstd")]
RAW_BATCH_SIZES = [1, 7, 60]


@pytest.mark.parametrize("topic_codec,batch_codec", RECOMPRESSIONS)
def test_a_topic_codec_recompresses_every_batch_and_keeps_its_records(broker, wire, topic_codec, batch_codec):
    # Batches in another codec than the topic's compression.type are stored in the topic's codec,
    # one stored batch per produced batch, with their records, timestamps and producer fields.
    topic = f"squeeze-{topic_codec}-{batch_codec}"
    create_topic(broker, topic, config={"compression.type": topic_codec})
    stored_codec = 0 if topic_codec == "uncompressed" else CODECS[topic_codec]
    first_ts = int(now_ms()) - 60_000
    sent = []
    for n, size in enumerate(RAW_BATCH_SIZES):
        batch = records(size, f"raw{n}", first_ts + n * 1000, step=3)
        answer = wire.produce(topic, 0, record_batch(batch, batch_codec))
        assert answer.error == NONE and answer.base_offset == len(sent), answer
        sent += batch
    reports = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "compression.type": batch_codec})
    for rec in records(CLIENT_RECORDS, "cf", first_ts + 10_000):
        producer.produce(topic, key=rec.key, value=rec.value, headers=rec.headers, timestamp=rec.timestamp,
                         on_delivery=lambda err, msg: reports.append((err, msg.offset())))
        sent.append(rec)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0
    assert [err for err, _ in reports] == [None] * CLIENT_RECORDS
    assert [o for _, o in reports] == list(range(len(sent) - CLIENT_RECORDS, len(sent)))

    want = {(0, o): Seen(r.key, r.value, r.headers, "create", r.timestamp) for o, r in enumerate(sent)}
    assert consume_confluent(broker.bootstrap, topic, 1, len(sent)) == want
    if topic_codec == "zstd":
        # kafka-python fetches with v4, and Kafka refuses Fetch below v10 on a zstd topic.
        assert fetch_v4_error(broker, topic) == UNSUPPORTED_COMPRESSION_TYPE
    else:
        assert consume_kafka_python(broker.bootstrap, topic, 1, len(sent)) == want

    batches = wire.fetch_all(topic, 0)
    assert_batches_well_formed(batches, topic)
    assert [codec_of(b) for b in batches] == [stored_codec] * len(batches)
    assert [b.count for b in batches[:len(RAW_BATCH_SIZES)]] == RAW_BATCH_SIZES, "one stored batch per produced batch"
    for b in batches:
        assert not is_log_append_time(b)
        assert b.first_timestamp == b.records[0].timestamp and b.max_timestamp == max(r.timestamp for r in b.records)
        assert (b.producer_id, b.producer_epoch, b.base_sequence) == NO_PRODUCER
        for r in b.records:
            s = sent[r.offset]
            assert (r.key, r.value, r.headers, r.timestamp) == (s.key, s.value, s.headers, s.timestamp)


@pytest.mark.parametrize("codec", list(CODECS))
def test_producer_compression_type_stores_the_batch_as_sent(broker, wire, codec):
    # With compression.type=producer (the default) a correct batch needs no rewrite: Kafka stores
    # the bytes it was sent, with only the base offset and partition leader epoch assigned.
    topic = f"as-sent-{codec}"
    create_topic(broker, topic, config={"compression.type": "producer"})
    first_ts = int(now_ms()) - 60_000
    sent_batches = []
    for n, size in enumerate(RAW_BATCH_SIZES):
        sent_batches.append(record_batch(records(size, f"raw{n}", first_ts + n * 1000, step=2), codec))
        answer = wire.produce(topic, 0, sent_batches[-1])
        assert answer.error == NONE and answer.base_offset == sum(RAW_BATCH_SIZES[:n]), answer
        assert answer.log_append_time == -1, "CreateTime topic: no append time in the answer"
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "compression.type": codec})
    for rec in records(CLIENT_RECORDS, "cf", first_ts + 10_000):
        producer.produce(topic, key=rec.key, value=b"y" * 200 + rec.value, headers=rec.headers,
                         timestamp=rec.timestamp)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0

    batches = wire.fetch_all(topic, 0)
    assert_batches_well_formed(batches, topic)
    assert [codec_of(b) for b in batches] == [CODECS[codec]] * len(batches), "every batch in the producer's codec"
    for sent, stored in zip(sent_batches, batches):
        assert stored.raw[8:12] == sent[8:12] and stored.raw[OUTSIDE_CRC_BYTES:] == sent[OUTSIDE_CRC_BYTES:], \
            f"batch at {stored.base_offset} differs from the one sent beyond its base offset and leader epoch"
    total = sum(RAW_BATCH_SIZES) + CLIENT_RECORDS
    seen = consume_kafka_python(broker.bootstrap, topic, 1, total)
    assert [seen[(0, o)].key for o in range(total)] == \
        [r.key for n, size in enumerate(RAW_BATCH_SIZES) for r in records(size, f"raw{n}", 0)] + \
        [r.key for r in records(CLIENT_RECORDS, "cf", 0)]


# --- 4. The max timestamp, batches back to back, bad batches -------------------------------------

def max_timestamp_offset(broker, topic):
    """ListOffsets MAX_TIMESTAMP (KIP-734) of partition 0: (offset, timestamp)."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    tp = TopicPartition(topic, 0)
    result = admin.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(timeout=30)
    return result.offset, result.timestamp


# The max timestamp a batch header states, from its first record's and its true max timestamp.
STATED_MAX = {"right": lambda first, true_max: true_max,
              "too-low": lambda first, true_max: first,
              "too-high": lambda first, true_max: true_max + 1_000_000}
SKEWED_DELTAS = [0, 100, 250, 50]  # the largest timestamp is not the last record's
LATER_DELTA, LATER_RECORDS = 1000, 3  # the batch after the skewed one


def produce_skewed(broker, wire, topic, codec, stated_max):
    """Two batches into a new `topic`: the first with SKEWED_DELTAS timestamps and the max
    timestamp `stated_max` names in its header, then three later records. Returns the first
    record's timestamp, the records sent, and MAX_TIMESTAMP as it was after the first batch."""
    create_topic(broker, topic)
    t0 = int(now_ms()) - 600_000
    skewed = [Rec(f"k{i}".encode(), f"v{i}".encode(), [("d", str(d).encode())], t0 + d)
              for i, d in enumerate(SKEWED_DELTAS)]
    stated = STATED_MAX[stated_max](t0, t0 + max(SKEWED_DELTAS))
    answer = wire.produce(topic, 0, record_batch(skewed, codec, max_timestamp=stated))
    assert answer.error == NONE and answer.base_offset == 0, answer
    max_of_first_batch = max_timestamp_offset(broker, topic)
    later = records(LATER_RECORDS, "later", t0 + LATER_DELTA)
    answer = wire.produce(topic, 0, record_batch(later, codec))
    assert answer.error == NONE and answer.base_offset == len(skewed), answer
    return t0, skewed + later, max_of_first_batch


def skewed_lookups():
    """Timestamp targets (relative to the first record's) and, per Kafka, the earliest offset
    whose timestamp is at or after each (-1: none)."""
    max_offset = SKEWED_DELTAS.index(max(SKEWED_DELTAS))
    return {1: 1, 200: max_offset, max(SKEWED_DELTAS): max_offset, max(SKEWED_DELTAS) + 1: len(SKEWED_DELTAS),
            LATER_DELTA + LATER_RECORDS: -1}


def lookups_by_time(broker, topic, t0, targets):
    """target -> (confluent-kafka's offset, kafka-python's (offset, timestamp) or None) for
    ListOffsets by timestamp t0 + target on partition 0."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{uuid.uuid4()}"})
    try:
        confluent = {t: consumer.offsets_for_times([TopicPartition(topic, 0, t0 + t)], timeout=30)[0].offset
                     for t in targets}
    finally:
        consumer.close()
    kp = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    try:
        tp = KafkaTopicPartition(topic, 0)
        kafka_python = {t: kp.offsets_for_times({tp: t0 + t})[tp] for t in targets}
    finally:
        kp.close()
    return {t: (confluent[t], kafka_python[t] and (kafka_python[t].offset, kafka_python[t].timestamp))
            for t in targets}


def expected_lookups(t0, sent):
    return {t: (o, (o, sent[o].timestamp) if o >= 0 else None) for t, o in skewed_lookups().items()}


@pytest.mark.parametrize("codec", ["none", "gzip"])
@pytest.mark.parametrize("stated_max", list(STATED_MAX))
def test_the_stored_max_timestamp_is_the_records_largest_whatever_the_header_states(broker, wire, stated_max,
                                                                                     codec):
    # Kafka validates a CreateTime batch against its records and stores the records' largest
    # timestamp as the batch's max timestamp (with a CRC over the corrected header); consumers,
    # ListOffsets by timestamp and ListOffsets MAX_TIMESTAMP (KIP-734) all see the true one: a
    # header too low would make a lookup skip the batch, one too high would be MAX_TIMESTAMP.
    # "right" is the control. Inside a compressed batch only the batch a lookup lands in is
    # checked here; the exact record is the next test's concern.
    topic = f"skewed-{stated_max}-{codec}"
    t0, sent, max_of_first_batch = produce_skewed(broker, wire, topic, codec, stated_max)
    true_max = t0 + max(SKEWED_DELTAS)
    batches = wire.fetch_all(topic, 0)
    assert_batches_well_formed(batches, topic)
    assert [b.max_timestamp - t0 for b in batches] == [max(SKEWED_DELTAS), sent[-1].timestamp - t0]
    assert [r.timestamp for r in batches[0].records] == [r.timestamp for r in sent[:len(SKEWED_DELTAS)]]
    assert codec_of(batches[0]) == CODECS[codec] and not is_log_append_time(batches[0])

    want = {(0, o): Seen(r.key, r.value, r.headers, "create", r.timestamp) for o, r in enumerate(sent)}
    assert consume_confluent(broker.bootstrap, topic, 1, len(sent)) == want
    assert consume_kafka_python(broker.bootstrap, topic, 1, len(sent)) == want

    found = lookups_by_time(broker, topic, t0, skewed_lookups())
    max_offset = SKEWED_DELTAS.index(max(SKEWED_DELTAS))
    max_after_both = max_timestamp_offset(broker, topic)
    if codec == "none":
        assert found == expected_lookups(t0, sent)
        assert (max_of_first_batch, max_after_both) == ((max_offset, true_max), (len(sent) - 1, sent[-1].timestamp))
    else:
        def batch(offset):
            return -1 if offset < 0 else int(offset >= len(SKEWED_DELTAS))
        assert {t: batch(c) for t, (c, _) in found.items()} == {t: batch(o) for t, o in skewed_lookups().items()}
        assert {t: batch(k[0] if k else -1) for t, (_, k) in found.items()} == \
            {t: batch(o) for t, o in skewed_lookups().items()}
        assert max_of_first_batch[1] == true_max and batch(max_of_first_batch[0]) == 0, max_of_first_batch
    assert max_after_both[1] == sent[-1].timestamp and batch_of_later(max_after_both[0]), max_after_both


def batch_of_later(offset):
    return len(SKEWED_DELTAS) <= offset < len(SKEWED_DELTAS) + LATER_RECORDS


@pytest.mark.parametrize("codec", ["gzip", "lz4"])
def test_lookups_by_timestamp_name_the_record_inside_a_compressed_batch(broker, wire, codec):
    # ListOffsets by timestamp answers the earliest record whose timestamp is at or after the
    # target, and MAX_TIMESTAMP the record with the largest timestamp (KIP-734): Kafka reads
    # inside a compressed batch for both, so neither answer is the batch's first or last offset.
    topic = f"deep-{codec}"
    t0, sent, max_of_first_batch = produce_skewed(broker, wire, topic, codec, "right")
    max_offset = SKEWED_DELTAS.index(max(SKEWED_DELTAS))
    assert (lookups_by_time(broker, topic, t0, skewed_lookups()), max_of_first_batch) == \
        (expected_lookups(t0, sent), (max_offset, t0 + max(SKEWED_DELTAS)))


def test_batches_produced_back_to_back_get_consecutive_offsets_and_valid_crcs(broker, wire):
    # Two Produce requests pipelined on one connection (the second sent before the first is
    # answered), then two on another partition: each batch gets the next offsets, whatever base
    # offset and leader epoch the client wrote, and the fetched bytes pass their CRC.
    topic = "back-to-back"
    create_topic(broker, topic, partitions=2)
    first_ts = int(now_ms()) - 60_000
    sent = {p: [records(3, f"a{p}", first_ts), records(4, f"b{p}", first_ts + 10)] for p in range(2)}
    ids = [(p, wire.send_produce(topic, p, record_batch(batch, base_offset=CLIENT_BASE_OFFSET * (n + 1))))
           for p in range(2) for n, batch in enumerate(sent[p])]
    answers = [(p, wire.read_produce(i)) for p, i in ids]
    assert [(p, a.error, a.base_offset) for p, a in answers] == [(0, 0, 0), (0, 0, 3), (1, 0, 0), (1, 0, 3)]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for p in range(2):
        batches = wire.fetch_all(topic, p)
        assert_batches_well_formed(batches, f"{topic}-{p}")
        assert [(b.base_offset, b.count) for b in batches] == [(0, 3), (3, 4)]
        assert [[(r.key, r.value, r.headers, r.timestamp) for r in b.records] for b in batches] == \
            [[tuple(r) for r in batch] for batch in sent[p]]
        tp = TopicPartition(topic, p)
        latest = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(timeout=30)
        assert latest.offset == 7
        if latest.leader_epoch is not None:
            assert batches[0].leader_epoch == latest.leader_epoch, (batches[0].leader_epoch, latest.leader_epoch)


def test_a_batch_with_a_bad_crc_is_refused_as_corrupt(broker, wire):
    # Kafka checks a client batch's CRC before appending: a damaged batch is CORRUPT_MESSAGE and
    # the log is unchanged.
    topic = "damaged"
    create_topic(broker, topic)
    good = record_batch(records(3, "g", int(now_ms())))
    damaged = bytearray(good)
    damaged[-1] ^= 0x01  # the last byte of the last record's last header value
    assert wire.produce(topic, 0, bytes(damaged)).error == CORRUPT_MESSAGE
    answer = wire.produce(topic, 0, good)
    assert (answer.error, answer.base_offset) == (NONE, 0), answer
    assert [b.count for b in wire.fetch_all(topic, 0)] == [3]


def test_two_batches_in_one_partition_of_a_produce_request_are_refused(broker, wire):
    # Kafka takes exactly one v2 batch per partition of a Produce request; more is INVALID_RECORD
    # and nothing of the request is appended.
    topic = "two-in-one"
    create_topic(broker, topic)
    first_ts = int(now_ms())
    both = record_batch(records(2, "x", first_ts)) + record_batch(records(2, "y", first_ts))
    assert wire.produce(topic, 0, both).error == INVALID_RECORD
    answer = wire.produce(topic, 0, record_batch(records(2, "z", first_ts)))
    assert (answer.error, answer.base_offset) == (NONE, 0), answer
    assert [[r.key for r in b.records] for b in wire.fetch_all(topic, 0)] == [[b"z-k0", b"z-k1"]]


# --- 5. Idempotent producers --------------------------------------------------------------------

@pytest.mark.parametrize("topic_codec", ["producer", "gzip"])
def test_a_retried_idempotent_batch_is_stored_once(broker, wire, topic_codec):
    # An idempotent producer's retry of a batch already appended (same producer id, epoch and
    # sequence) is answered with the original offset and not stored again; a gap in the
    # sequence is OUT_OF_ORDER_SEQUENCE_NUMBER. Recompression keeps the producer fields.
    topic = f"idempotent-{topic_codec}"
    create_topic(broker, topic, config={"compression.type": topic_codec})
    producer_id, epoch = wire.init_producer_id()
    first_ts = int(now_ms())
    first = record_batch(records(3, "a", first_ts), producer=(producer_id, epoch, 0))
    assert wire.produce(topic, 0, first)[:2] == (NONE, 0)
    assert wire.produce(topic, 0, first)[:2] == (NONE, 0), "a duplicate is answered with its first offset"
    gap = record_batch(records(2, "gap", first_ts), producer=(producer_id, epoch, 10))
    assert wire.produce(topic, 0, gap).error == OUT_OF_ORDER_SEQUENCE_NUMBER
    second = record_batch(records(2, "b", first_ts), producer=(producer_id, epoch, 3))
    assert wire.produce(topic, 0, second)[:2] == (NONE, 3)
    assert wire.produce(topic, 0, second)[:2] == (NONE, 3)

    batches = wire.fetch_all(topic, 0)
    assert_batches_well_formed(batches, topic)
    assert [(b.base_offset, b.count, b.producer_id, b.producer_epoch, b.base_sequence) for b in batches] == \
        [(0, 3, producer_id, epoch, 0), (3, 2, producer_id, epoch, 3)]
    assert {codec_of(b) for b in batches} == {CODECS["gzip"] if topic_codec == "gzip" else 0}
    seen = consume_confluent(broker.bootstrap, topic, 1, 5)
    assert [seen[(0, o)].key for o in range(5)] == [b"a-k0", b"a-k1", b"a-k2", b"b-k0", b"b-k1"]


IDEMPOTENT_RECORDS = 2000


def test_an_idempotent_client_stores_each_record_once(broker):
    # librdkafka's idempotent producer (producer id, sequences, up to five batches in flight per
    # partition) over four partitions: every record stored once, offsets dense.
    topic = "idempotent-client"
    create_topic(broker, topic, PARTITIONS)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                         "compression.type": "lz4"})
    count = IDEMPOTENT_RECORDS
    for i in range(count):
        producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode(), partition=i % PARTITIONS)
        producer.poll(0)
    assert producer.flush(FLUSH_TIMEOUT_S) == 0
    seen = consume_confluent(broker.bootstrap, topic, PARTITIONS, count)
    assert sorted(int(s.key) for s in seen.values()) == list(range(count))
    for p in range(PARTITIONS):
        offsets = sorted(o for q, o in seen if q == p)
        assert offsets == list(range(count // PARTITIONS))

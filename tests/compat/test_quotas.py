"""Client quotas as Apache Kafka serves and enforces them, checked from the outside against
Kafka's specification (KIP-13 quotas, KIP-55 user quotas, KIP-124 request quotas, KIP-219
throttle communication, KIP-546 DescribeClientQuotas / AlterClientQuotas, KIP-599 controller
mutation quotas, the DescribeClientQuotas / AlterClientQuotas JSON schemas, and the "Quotas"
chapters of Kafka's design and operations documentation):

- AlterClientQuotas (API key 49) and DescribeClientQuotas (48), versions 0 and 1 (1 is flexible),
  sent as hand-encoded frames and, for a second opinion, through kafka-python 3's codec (built
  from Kafka's JSON schemas, in the latest-clients venv): every entity shape (user, client-id,
  both, each with a name or the default, a null name), every quota key, per-entry refusals with
  INVALID_REQUEST (the others still applied), validate_only, ip entities refused (a documented
  limitation), describe filters (exact / default / any, strict), UNSUPPORTED_VERSION for an
  entity type Kafka does not know;
- the keeper: where Kafka's ZooKeeper mode keeps quotas (/config/users/<user>,
  /config/users/<user>/clients/<client-id>, /config/clients/<client-id>, "<default>", names
  sanitized as Kafka's Sanitizer does), in its JSON, beside a user's SCRAM credentials; quotas
  written there by Kafka's tools (znode and change notification) served and enforced;
- enforcement: Kafka's eight-level precedence (per quota key), a producer and a consumer held to
  their byte rates (measured within 10% over a long window, throttle_time_ms reported to
  librdkafka, the quota shared by every connection of its group), other clients not slowed, a
  throttled fetch answering no records yet nothing skipped, the channel muted for the throttle
  time (KIP-219), request_percentage (KIP-124), controller_mutation_rate (KIP-599), the
  throttled-responses counter on /metrics, and the throttle lifted when the quota is removed;
- authorization: ALTER_CONFIGS / DESCRIBE_CONFIGS on the cluster (CLUSTER_AUTHORIZATION_FAILED);
- the CLI: `sluice quota set|list|remove`, --json, and refusals that exit non-zero.

No client library offers the quota admin calls (confluent-kafka 2.6.1 and 2.16, kafka-python 2.0.2
and 3.0 have no alter/describe_client_quotas), so the admin side is raw frames (and kafka-python
3's protocol classes). Enforcement is observed through librdkafka (its statistics' per-broker
`throttle` window) and through raw Produce / Fetch / Metadata frames.

Brokers here measure quotas over quota.window.num=3 samples of 1 s (Kafka's defaults are 11 of
1 s) so that rates converge quickly. Every broker has a PLAINTEXT listener (principal
User:ANONYMOUS) and a SASL_PLAINTEXT one where the PLAIN users below log in (user quotas need
distinct principals)."""

import gc
import json
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.fetch import FetchRequest_v11, FetchResponse_v11
from kafka.protocol.metadata import MetadataRequest_v4, MetadataResponse_v4
from kafka.protocol.produce import (ProduceRequest_v3, ProduceRequest_v7, ProduceResponse_v3,
                                    ProduceResponse_v7)
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from conftest import ROOT, SLUICE_CLI, Broker, wait_until

# --- Kafka's codes and names --------------------------------------------------------------------

NONE = 0
CLUSTER_AUTHORIZATION_FAILED = 31
UNSUPPORTED_VERSION = 35
INVALID_REQUEST = 42
THROTTLING_QUOTA_EXCEEDED = 89

METADATA, SASL_HANDSHAKE, CREATE_TOPICS, SASL_AUTHENTICATE = 3, 17, 19, 36
DESCRIBE_CLIENT_QUOTAS, ALTER_CLIENT_QUOTAS = 48, 49
# DescribeClientQuotas' MatchType: 0 = exact name, 1 = the default, 2 = any name (the default too).
EXACT, DEFAULT, ANY = 0, 1, 2
USER, CLIENT_ID, IP = "user", "client-id", "ip"
PRODUCER, CONSUMER = "producer_byte_rate", "consumer_byte_rate"
REQUEST_PERCENTAGE, MUTATION_RATE = "request_percentage", "controller_mutation_rate"

# --- the brokers --------------------------------------------------------------------------------

QUOTA_WINDOW = ["quota.window.num=3", "quota.window.size.seconds=1"]
USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret",
         **{f"u{i}": f"u{i}-secret" for i in range(24)}}
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" ' + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
SASL_SETTINGS = [
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
    f"listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}",
    f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={SCRAM_JAAS}",
]
AUTHORIZER_SETTINGS = ["authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
                       "super.users=User:admin;User:ANONYMOUS"]
CLIENT_WAIT_S = 30
CLI_TIMEOUT_S = 60
# A topic every broker here gets, for the produce probes.
PROBE_TOPIC = "quota-probe"


def call_failed(request):
    return getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed


@pytest.fixture
def start_broker(tmp_path, request):
    """`start_broker(extra=())`: a started broker (conftest's Broker: PLAINTEXT and SASL_PLAINTEXT
    listeners, the short quota window, PROBE_TOPIC created), stopped afterwards (SIGKILL and its
    log printed when the test failed)."""
    started = []

    def start(extra=()):
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        b = Broker(workdir, SASL_SETTINGS + QUOTA_WINDOW + list(extra), sasl_listener=True)
        started.append(b)
        b.start()
        create_topics(b, PROBE_TOPIC)
        return b

    yield start
    gc.collect()  # librdkafka clients no longer referenced go while their broker still answers
    failed = call_failed(request)
    for b in started:
        b.stop(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- sluiced log ({b.workdir.name}) ---\n{b.log()}")


@pytest.fixture
def broker(start_broker):
    return start_broker()


def create_topics(broker, *names, partitions=1):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name, f in admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1)
                                        for n in names], operation_timeout=30).items():
        f.result(timeout=30)


# --- the wire: frames, Kafka's primitive types, SASL PLAIN ---------------------------------------

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


def string(s, compact=False):
    """STRING / NULLABLE_STRING, or their COMPACT forms (length + 1 as an unsigned varint, 0 null)."""
    if s is None:
        return uvarint(0) if compact else struct.pack(">h", -1)
    b = s.encode()
    return (uvarint(len(b) + 1) if compact else struct.pack(">h", len(b))) + b


def array(items, compact=False):
    items = list(items)
    return (uvarint(len(items) + 1) if compact else struct.pack(">i", len(items))) + b"".join(items)


def tags(compact):
    """An empty tagged-field section (flexible versions only)."""
    return b"\x00" if compact else b""


class Reader:
    """Reads Kafka's primitive types from a response body."""

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def i8(self):
        return self.take(">b")

    def i16(self):
        return self.take(">h")

    def i32(self):
        return self.take(">i")

    def f64(self):
        return self.take(">d")

    def boolean(self):
        return self.take(">b") != 0

    def uvarint(self):
        shift = value = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def string(self, compact=False):
        n = self.uvarint() - 1 if compact else self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def array(self, item, compact=False):
        n = self.uvarint() - 1 if compact else self.i32()
        if n < 0:
            return None
        return [item() for _ in range(n)]

    def tags(self, compact):
        if compact:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.pos += self.uvarint()

    def done(self):
        assert self.pos == len(self.data), f"{len(self.data) - self.pos} bytes left unread in the response"


class Wire:
    """One connection to a listener: request header v1 (v2 for flexible versions), response header
    v0 (v1). With `user`, it logs in with SASL PLAIN first (SaslHandshake v1, SaslAuthenticate v0)."""

    def __init__(self, address, client_id="quota-test", user=None, timeout_s=30):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.client_id = client_id
        self.correlation = 0
        if user is not None:
            body = self.request(SASL_HANDSHAKE, 1, string("PLAIN"))
            assert struct.unpack_from(">h", body)[0] == NONE, f"SaslHandshake answered {body!r}"
            token = f"\0{user}\0{USERS[user]}".encode()
            body = self.request(SASL_AUTHENTICATE, 0, struct.pack(">i", len(token)) + token)
            assert struct.unpack_from(">h", body)[0] == NONE, f"SaslAuthenticate as {user} answered {body!r}"

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, api_key, version, body, flexible=False):
        self.correlation += 1
        cid = self.client_id.encode()
        header = struct.pack(">hhih", api_key, version, self.correlation, len(cid)) + cid + tags(flexible)
        self.sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        return self.correlation

    def receive(self, correlation, flexible=False):
        (size,) = struct.unpack(">i", self._read(4))
        frame = self._read(size)
        r = Reader(frame)
        got = r.i32()
        assert got == correlation, f"correlation id {got}, expected {correlation}"
        r.tags(flexible)
        return frame[r.pos:]

    def request(self, api_key, version, body, flexible=False):
        return self.receive(self.send(api_key, version, body, flexible), flexible)

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError(f"closed by the broker after {len(out)} of {n} bytes")
            out += chunk
        return out


# --- DescribeClientQuotas / AlterClientQuotas ---------------------------------------------------

def entity(*pairs):
    """A quota entity as compared here: its (entity type, name) pairs in type order; a None name is
    the default entity of that type."""
    return tuple(sorted(pairs))


def U(name):
    return (USER, name)


def C(name):
    return (CLIENT_ID, name)


def encode_alter(entries, validate_only=False, version=1):
    """`entries`: [(entity pairs in request order, [(key, value, remove)])]."""
    c = version >= 1
    body = array((array((string(t, c) + string(n, c) + tags(c) for t, n in pairs), c)
                   + array((string(k, c) + struct.pack(">db", v, rm) + tags(c) for k, v, rm in ops), c)
                   + tags(c) for pairs, ops in entries), c)
    return body + struct.pack(">b", validate_only) + tags(c)


def decode_alter(body, version=1):
    """{entity: (error code, error message)} (and the throttle time)."""
    c = version >= 1
    r = Reader(body)
    throttle = r.i32()

    def entry():
        error, message = r.i16(), r.string(c)

        def pair():
            p = (r.string(c), r.string(c))
            r.tags(c)
            return p

        pairs = r.array(pair, c)
        r.tags(c)
        return entity(*pairs), (error, message)

    entries = r.array(entry, c)
    r.tags(c)
    r.done()
    return throttle, entries


def alter(address, entries, validate_only=False, version=1, user=None, client_id="quota-admin"):
    """AlterClientQuotas: {entity: (error code, message)}. `entries` as encode_alter takes them;
    an op given as (key, value) sets, (key,) removes."""
    norm = [(pairs, [(op[0], op[1], False) if len(op) == 2 else (op[0], 0.0, True) if len(op) == 1 else op
                     for op in ops]) for pairs, ops in entries]
    with Wire(address, client_id=client_id, user=user) as w:
        body = w.request(ALTER_CLIENT_QUOTAS, version, encode_alter(norm, validate_only, version), version >= 1)
    _, answered = decode_alter(body, version)
    result = dict(answered)
    assert len(result) == len(answered), f"an entity answered twice: {answered}"
    return result


def alter_ok(address, entries, **kw):
    """alter(), checking that every entry succeeded."""
    result = alter(address, entries, **kw)
    assert all(code == NONE for code, _ in result.values()), f"alterations refused: {result}"
    assert len(result) == len(entries), result
    return result


def encode_describe(components, strict=False, version=1):
    """`components`: [(entity type, match type, match)]."""
    c = version >= 1
    body = array((string(t, c) + struct.pack(">b", m) + string(name, c) + tags(c) for t, m, name in components), c)
    return body + struct.pack(">b", strict) + tags(c)


def decode_describe(body, version=1):
    """(throttle, error code, message, {entity: {key: value}} or None)."""
    c = version >= 1
    r = Reader(body)
    throttle, error, message = r.i32(), r.i16(), r.string(c)

    def pair():
        p = (r.string(c), r.string(c))
        r.tags(c)
        return p

    def value():
        v = (r.string(c), r.f64())
        r.tags(c)
        return v

    def entry():
        pairs = r.array(pair, c)
        values = r.array(value, c)
        r.tags(c)
        return entity(*pairs), dict(values)

    entries = r.array(entry, c)
    r.tags(c)
    r.done()
    if entries is not None:
        found = dict(entries)
        assert len(found) == len(entries), f"an entity described twice: {entries}"
        entries = found
    return throttle, error, message, entries


def describe_raw(address, components=(), strict=False, version=1, user=None):
    with Wire(address, client_id="quota-admin", user=user) as w:
        body = w.request(DESCRIBE_CLIENT_QUOTAS, version, encode_describe(components, strict, version), version >= 1)
    return decode_describe(body, version)


def describe(address, components=(), strict=False, version=1, user=None):
    """The entities and their quotas a DescribeClientQuotas filter matches (checking no error)."""
    _, error, message, entries = describe_raw(address, components, strict, version, user)
    assert error == NONE, f"DescribeClientQuotas {components} strict={strict}: error {error} ({message})"
    assert entries is not None
    return entries


# --- produce probes and waiting for quota changes -----------------------------------------------

PROBE_BYTES = 64 * 1024
TINY = 1024.0  # bytes/s: a PROBE_BYTES request is far over it
HUGE = 1e9  # bytes/s: nothing here comes near it


def record_batch(values):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 22)
    for i, value in enumerate(values):
        builder.append(offset=i, timestamp=None, key=None, value=value, headers=[])
    return bytes(builder.build())


def produce_on(wire, values, topic=PROBE_TOPIC, version=7):
    """One Produce request (acks=1) of one batch to partition 0: (error code, throttle_time_ms)."""
    request_cls, response_cls = {7: (ProduceRequest_v7, ProduceResponse_v7),
                                 3: (ProduceRequest_v3, ProduceResponse_v3)}[version]
    request = request_cls(transactional_id=None, required_acks=1, timeout=30000,
                          topics=[(topic, [(0, record_batch(values))])])
    response = response_cls.decode(wire.request(request_cls.API_KEY, version, request.encode()))
    return response.topics[0][1][0][1], response.throttle_time_ms


def probe(broker, client_id, user=None, size=PROBE_BYTES):
    """throttle_time_ms of one Produce v7 of `size` bytes, on a fresh connection as `client_id`
    (and SASL user `user`, else User:ANONYMOUS over PLAINTEXT)."""
    address = broker.bootstrap if user is None else broker.sasl
    with Wire(address, client_id=client_id, user=user) as w:
        error, throttle = produce_on(w, [b"p" * size])
    assert error == NONE, f"probe produce as {client_id}/{user}: error {error}"
    return throttle


_settle_count = [0]


def settle(broker):
    """Waits until every quota change made before this call is enforced: sets a tiny producer
    quota on a (User:ANONYMOUS, client id) pair named only for it (the most specific level, so no
    other quota hides it) and waits until a probe with that client id is throttled. Kafka applies
    quota changes in the order they were made, so the earlier ones are in force by then."""
    _settle_count[0] += 1
    marker = f"settle-marker-{_settle_count[0]}"
    alter_ok(broker.bootstrap, [((U("ANONYMOUS"), C(marker)), [(PRODUCER, TINY)])])
    wait_until(lambda: probe(broker, marker) > 0, timeout_s=30, interval_s=0.1,
               what=f"the marker quota of {marker} enforced")


# --- librdkafka producers and consumers with their statistics -----------------------------------

class Stats:
    """A librdkafka stats_cb keeping the largest throttle time (ms) any broker's `throttle` window
    showed: librdkafka's record of the throttle_time_ms in the responses it read."""

    def __init__(self):
        self.max_throttle = 0

    def __call__(self, text):
        stats = json.loads(text)
        worst = max([b.get("throttle", {}).get("max", 0) for b in stats.get("brokers", {}).values()] or [0])
        self.max_throttle = max(self.max_throttle, worst)


def producer_conf(broker, client_id, stats, **extra):
    conf = {"bootstrap.servers": broker.bootstrap, "client.id": client_id, "acks": 1, "linger.ms": 5,
            "batch.size": 32768, "queue.buffering.max.kbytes": 256, "statistics.interval.ms": 500,
            "stats_cb": stats, "message.timeout.ms": 60000}
    conf.update(extra)
    return conf


def scrape_throttled(broker):
    """sluice_quota_throttled_responses_total on the broker's /metrics (summed over labels)."""
    with urllib.request.urlopen(broker.metrics + "/metrics", timeout=10) as r:
        text = r.read().decode()
    values = [float(m.group(1)) for m in
              re.finditer(r"^sluice_quota_throttled_responses_total(?:\{[^}]*\})? (\S+)$", text, re.M)]
    assert values, "sluice_quota_throttled_responses_total is not on /metrics"
    return sum(values)


# ================================================================================================
# AlterClientQuotas / DescribeClientQuotas
# ================================================================================================

SHAPES = {
    entity(U("alice")): {PRODUCER: 1024.0, CONSUMER: 2048.0},
    entity(C("app-1")): {REQUEST_PERCENTAGE: 0.01},
    entity(U("alice"), C("app-1")): {PRODUCER: 4096.0, REQUEST_PERCENTAGE: 150.5},
    entity(U(None)): {CONSUMER: 8192.0},
    entity(C(None)): {PRODUCER: 16384.0, MUTATION_RATE: 5.0},
    entity(U("bob"), C(None)): {CONSUMER: 1e12},
    entity(U(None), C("app-2")): {PRODUCER: 3000.0},
    entity(U(None), C(None)): {REQUEST_PERCENTAGE: 25.0, CONSUMER: 999.0},
}


@pytest.mark.parametrize("version", [0, 1])
def test_every_entity_shape_is_altered_and_described_back(broker, version):
    """Every shape Kafka serves (a user, a client id, both; each named or the default; null the
    default name), every key, whole byte rates up to 1e12 and fractional request_percentage,
    described right after the alteration; then changed, partly removed, wholly removed."""
    answered = alter(broker.bootstrap, [(list(e), list(q.items())) for e, q in SHAPES.items()], version=version)
    assert answered == {e: (NONE, None) for e in SHAPES}
    assert describe(broker.bootstrap, version=version) == SHAPES

    # A new value replaces the old one; a key removed goes; the others stay.
    alter_ok(broker.bootstrap, [([U("alice")], [(PRODUCER, 512.0), (CONSUMER,)]),
                                ([C("app-1")], [(REQUEST_PERCENTAGE, 0.5)])], version=version)
    expected = dict(SHAPES)
    expected[entity(U("alice"))] = {PRODUCER: 512.0}
    expected[entity(C("app-1"))] = {REQUEST_PERCENTAGE: 0.5}
    assert describe(broker.bootstrap, version=version) == expected

    # An entity whose last key is removed is no longer described.
    alter_ok(broker.bootstrap, [([U(None), C(None)], [(REQUEST_PERCENTAGE,), (CONSUMER,)]),
                                ([C("app-1")], [(REQUEST_PERCENTAGE,)])], version=version)
    del expected[entity(U(None), C(None))], expected[entity(C("app-1"))]
    assert describe(broker.bootstrap, version=version) == expected
    # Each is also found by its exact name (or as the default), strictly.
    for e, q in expected.items():
        components = [(t, EXACT if n is not None else DEFAULT, n) for t, n in e]
        assert describe(broker.bootstrap, components, strict=True, version=version) == {e: q}


def test_invalid_entries_are_refused_one_by_one_and_the_others_apply(broker):
    """Kafka validates each entry on its own: INVALID_REQUEST (with a message) for an unknown key
    or entity type, a duplicated entity type, an empty name, no entity at all, a fractional byte
    rate, a value not above 0, an ip entity (not served here) or ip with a user; a refused
    entry changes nothing of its entity, not even its valid ops; the valid entries apply."""
    invalid = [
        ([C("bad-key")], [("bogus_rate", 10.0)]),
        ([("group", "g1")], [(PRODUCER, 10.0)]),
        ([U("dup-a"), U("dup-b")], [(PRODUCER, 10.0)]),
        ([U("")], [(PRODUCER, 10.0)]),
        ([C("")], [(CONSUMER, 10.0)]),
        ([], [(PRODUCER, 10.0)]),
        ([U("frac"), C("x")], [(PRODUCER, 1024.5)]),
        ([C("frac-consumer")], [(CONSUMER, 0.25)]),
        ([C("zero")], [(PRODUCER, 0.0)]),
        ([C("negative")], [(REQUEST_PERCENTAGE, -5.0)]),
        ([C("negative-mutations")], [(MUTATION_RATE, -1.0)]),
        ([C("half-valid")], [(PRODUCER, 2048.0), ("bogus_rate", 1.0)]),
        ([C("ip-key-on-client")], [("connection_creation_rate", 10.0)]),
        ([(IP, "127.0.0.1")], [("connection_creation_rate", 10.0)]),
        ([(IP, None)], [("connection_creation_rate", 10.0)]),
        ([(IP, "127.0.0.2"), U("ip-user")], [(PRODUCER, 10.0)]),
    ]
    valid = [([C("good-1")], [(PRODUCER, 1000.0)]),
             ([U("good-2"), C(None)], [(REQUEST_PERCENTAGE, 12.5), (MUTATION_RATE, 7.0)])]
    for version in (0, 1):
        with Wire(broker.bootstrap, client_id="quota-admin") as w:
            entries = [(p, [(k, v, False) for k, v in ops]) for p, ops in valid[:1] + invalid + valid[1:]]
            body = w.request(ALTER_CLIENT_QUOTAS, version, encode_alter(entries, version=version), version >= 1)
        _, answered = decode_alter(body, version)
        # One answer per entry (an entity with a duplicated type is answered as the broker read it).
        assert len(answered) == len(entries), answered
        codes = [code for _, (code, _) in answered]
        assert sorted(codes) == sorted([NONE] * 2 + [INVALID_REQUEST] * len(invalid)), answered
        for e, (code, message) in answered:
            if code == NONE:
                assert e in (entity(C("good-1")), entity(U("good-2"), C(None))), answered
                assert message is None
            else:
                assert message, f"no message with the refusal of {e}"
        # Only the valid entries took effect.
        assert describe(broker.bootstrap, version=version) == {
            entity(C("good-1")): {PRODUCER: 1000.0},
            entity(U("good-2"), C(None)): {REQUEST_PERCENTAGE: 12.5, MUTATION_RATE: 7.0}}


def test_ip_entities_are_refused_with_a_message_saying_so(broker):
    """A documented limitation: connection-rate quotas of ip entities are not served; Kafka's
    AlterClientQuotas for one is refused with INVALID_REQUEST and a message, nothing stored."""
    answered = alter(broker.bootstrap, [([(IP, "10.1.2.3")], [("connection_creation_rate", 5.0)])])
    ((code, message),) = answered.values()
    assert code == INVALID_REQUEST and message and "ip" in message.lower(), answered
    assert describe(broker.bootstrap) == {}
    # Describing ip entities finds none (or is refused likewise), never anything else.
    _, error, message, entries = describe_raw(broker.bootstrap, [(IP, ANY, None)])
    assert (error, entries) in ((NONE, {}), (INVALID_REQUEST, None), (INVALID_REQUEST, {})), (error, message, entries)


def test_validate_only_answers_as_an_alteration_would_and_changes_nothing(broker):
    """validate_only: each entry answered as the alteration would be (INVALID_REQUEST for the
    invalid ones), nothing stored."""
    alter_ok(broker.bootstrap, [([C("kept")], [(PRODUCER, 1111.0)])])
    before = describe(broker.bootstrap)
    for version in (0, 1):
        answered = alter(broker.bootstrap, [([C("kept")], [(PRODUCER, 2222.0)]),
                                            ([C("other")], [(CONSUMER,)]),
                                            ([U("new-user")], [(CONSUMER, 4096.0)]),
                                            ([C("refused")], [(PRODUCER, -1.0)])],
                         validate_only=True, version=version)
        assert {e: code for e, (code, _) in answered.items()} == {
            entity(C("kept")): NONE, entity(C("other")): NONE, entity(U("new-user")): NONE,
            entity(C("refused")): INVALID_REQUEST}, answered
        assert describe(broker.bootstrap, version=version) == before


def test_a_remove_op_ignores_its_value_and_keys_not_set(broker):
    """AlterClientQuotas' Value "is ignored if the value is to be removed": Kafka removes whatever
    the value, and removing a key the entity does not have (or no key Kafka knows) is no error."""
    alter_ok(broker.bootstrap, [([C("rm")], [(PRODUCER, 5000.0), (CONSUMER, 6000.0)])])
    answered = alter(broker.bootstrap, [([C("rm")], [(PRODUCER, -1.0, True), (CONSUMER, float("nan"), True)]),
                                        ([C("never-set")], [(PRODUCER, 0.0, True)])])
    assert answered == {entity(C("rm")): (NONE, None), entity(C("never-set")): (NONE, None)}
    assert describe(broker.bootstrap) == {}


def test_removing_a_key_kafka_does_not_know_is_no_error(broker):
    """Kafka validates keys of values set, not of values removed (ZooKeeper mode removes the
    property, KRaft finds nothing to remove): the entry succeeds."""
    alter_ok(broker.bootstrap, [([C("rm-unknown")], [(PRODUCER, 5000.0)])])
    answered = alter(broker.bootstrap, [([C("rm-unknown")], [("no_such_quota", 0.0, True)])])
    assert answered == {entity(C("rm-unknown")): (NONE, None)}
    assert describe(broker.bootstrap) == {entity(C("rm-unknown")): {PRODUCER: 5000.0}}


def test_controller_mutation_rate_takes_fractional_values_as_in_kafka(broker):
    """Kafka's QuotaConfigs define controller_mutation_rate (like request_percentage) as a DOUBLE:
    only producer_byte_rate and consumer_byte_rate must be whole. 2.5 mutations/s is accepted."""
    answered = alter(broker.bootstrap, [([C("mutator")], [(MUTATION_RATE, 2.5)])])
    assert answered == {entity(C("mutator")): (NONE, None)}, answered
    assert describe(broker.bootstrap) == {entity(C("mutator")): {MUTATION_RATE: 2.5}}


# --- DescribeClientQuotas filters ---------------------------------------------------------------

FILTER_SET = {
    entity(U("alice")): {PRODUCER: 1.0e3},
    entity(U("alice"), C("app")): {PRODUCER: 2.0e3},
    entity(U("alice"), C(None)): {PRODUCER: 3.0e3},
    entity(U("bob")): {CONSUMER: 4.0e3},
    entity(U(None)): {CONSUMER: 5.0e3},
    entity(U(None), C("app")): {CONSUMER: 6.0e3},
    entity(U(None), C(None)): {CONSUMER: 7.0e3},
    entity(C("app")): {REQUEST_PERCENTAGE: 8.0},
    entity(C("other")): {REQUEST_PERCENTAGE: 9.0},
    entity(C(None)): {REQUEST_PERCENTAGE: 10.0},
}


def matching(*entities):
    return {e: FILTER_SET[e] for e in entities}


FILTERS = [
    # (components, strict, expected entities)
    ([], False, list(FILTER_SET)),
    ([], True, []),
    ([(USER, EXACT, "alice")], False,
     [entity(U("alice")), entity(U("alice"), C("app")), entity(U("alice"), C(None))]),
    ([(USER, EXACT, "alice")], True, [entity(U("alice"))]),
    ([(USER, DEFAULT, None)], False, [entity(U(None)), entity(U(None), C("app")), entity(U(None), C(None))]),
    ([(USER, DEFAULT, None)], True, [entity(U(None))]),
    ([(USER, ANY, None)], True, [entity(U("alice")), entity(U("bob")), entity(U(None))]),
    ([(USER, ANY, None)], False,
     [e for e in FILTER_SET if any(t == USER for t, _ in e)]),
    ([(CLIENT_ID, EXACT, "app")], False, [entity(U("alice"), C("app")), entity(U(None), C("app")), entity(C("app"))]),
    ([(CLIENT_ID, EXACT, "app")], True, [entity(C("app"))]),
    ([(CLIENT_ID, DEFAULT, None)], False, [entity(U("alice"), C(None)), entity(U(None), C(None)), entity(C(None))]),
    ([(CLIENT_ID, DEFAULT, None)], True, [entity(C(None))]),
    ([(CLIENT_ID, ANY, None)], True, [entity(C("app")), entity(C("other")), entity(C(None))]),
    ([(USER, EXACT, "alice"), (CLIENT_ID, EXACT, "app")], False, [entity(U("alice"), C("app"))]),
    ([(USER, EXACT, "alice"), (CLIENT_ID, DEFAULT, None)], True, [entity(U("alice"), C(None))]),
    ([(USER, EXACT, "alice"), (CLIENT_ID, ANY, None)], True,
     [entity(U("alice"), C("app")), entity(U("alice"), C(None))]),
    ([(USER, DEFAULT, None), (CLIENT_ID, EXACT, "app")], True, [entity(U(None), C("app"))]),
    ([(USER, DEFAULT, None), (CLIENT_ID, DEFAULT, None)], False, [entity(U(None), C(None))]),
    ([(USER, ANY, None), (CLIENT_ID, ANY, None)], True,
     [e for e in FILTER_SET if len(e) == 2]),
    ([(USER, ANY, None), (CLIENT_ID, EXACT, "app")], False, [entity(U("alice"), C("app")), entity(U(None), C("app"))]),
    ([(USER, EXACT, "nobody")], False, []),
    ([(CLIENT_ID, EXACT, "nothing")], True, []),
]


@pytest.mark.parametrize("version", [0, 1])
def test_describe_filters_match_as_kafka_matches_them(broker, version):
    alter_ok(broker.bootstrap, [(list(e), list(q.items())) for e, q in FILTER_SET.items()])
    for components, strict, expected in FILTERS:
        found = describe(broker.bootstrap, components, strict, version=version)
        assert found == matching(*expected), f"filter {components} strict={strict}"


def test_describe_refuses_filters_kafka_refuses(broker):
    """Kafka answers a filter naming an entity type twice, an empty entity type, or ip with user
    INVALID_REQUEST, as the response's error (with a message, no entries)."""
    alter_ok(broker.bootstrap, [([C("any")], [(PRODUCER, 1000.0)])])
    for components, code in [
        ([(USER, EXACT, "a"), (USER, EXACT, "b")], INVALID_REQUEST),
        ([(CLIENT_ID, ANY, None), (CLIENT_ID, DEFAULT, None)], INVALID_REQUEST),
        ([("", ANY, None)], INVALID_REQUEST),
        ([(IP, ANY, None), (USER, ANY, None)], INVALID_REQUEST),
    ]:
        for version in (0, 1):
            _, error, message, entries = describe_raw(broker.bootstrap, components, version=version)
            assert (error, bool(message), entries or None) == (code, True, None), \
                f"{components} v{version}: error {error} ({message}), entries {entries}"


def test_describing_an_entity_type_kafka_does_not_know_is_unsupported_version(broker):
    """Kafka (ZooKeeper mode's ZkAdminManager and KRaft alike) answers a filter component with an
    entity type other than user, client-id and ip UnsupportedVersionException: UNSUPPORTED_VERSION
    (35) as the response's error, not INVALID_REQUEST."""
    for version in (0, 1):
        _, error, message, entries = describe_raw(broker.bootstrap, [("group", ANY, None)], version=version)
        assert (error, entries or None) == (UNSUPPORTED_VERSION, None), \
            f"v{version}: error {error} ({message}), entries {entries}"


def test_kafka_python_3s_codec_reads_and_writes_the_quota_apis(broker):
    """A second opinion on the encoding: kafka-python 3's classes generated from Kafka's JSON
    schemas (in the latest-clients venv, run in a subprocess) alter and describe, v0 and v1."""
    python = ROOT / "target" / "compat-venv-latest" / "bin" / "python"
    if not python.exists():
        pytest.skip("no latest-clients venv (target/compat-venv-latest)")
    script = r'''
import json, socket, struct, sys
from kafka.protocol.admin import (AlterClientQuotasRequest, AlterClientQuotasResponse,
                                  DescribeClientQuotasRequest, DescribeClientQuotasResponse)
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=30)
def read(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed")
        b += c
    return b
corr = [0]
def call(req, resp_cls, v):
    corr[0] += 1
    req.with_header(correlation_id=corr[0], client_id="kafka-python-3")
    s.sendall(req.encode(header=True, framed=True))
    size, = struct.unpack(">i", read(4))
    return resp_cls.decode(read(size), version=v, header=True).to_dict()
E = AlterClientQuotasRequest.EntryData
D = DescribeClientQuotasRequest.ComponentData
out = {}
for v in (0, 1):
    req = AlterClientQuotasRequest(entries=[
        E(entity=[E.EntityData(entity_type="user", entity_name=f"kp3-user-{v}"),
                  E.EntityData(entity_type="client-id", entity_name=None)],
          ops=[E.OpData(key="producer_byte_rate", value=2048.0 * (v + 1), remove=False),
               E.OpData(key="request_percentage", value=12.5, remove=False)]),
        E(entity=[E.EntityData(entity_type="client-id", entity_name=f"kp3-client-{v}")],
          ops=[E.OpData(key="not_a_quota", value=1.0, remove=False)])], validate_only=False, version=v)
    out[f"alter{v}"] = call(req, AlterClientQuotasResponse, v)
    req = DescribeClientQuotasRequest(components=[D(entity_type="user", match_type=2, match=None),
                                                  D(entity_type="client-id", match_type=1, match=None)],
                                      strict=True, version=v)
    out[f"describe{v}"] = call(req, DescribeClientQuotasResponse, v)
print(json.dumps(out))
'''
    done = subprocess.run([str(python), "-c", script, broker.bootstrap], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)

    def alter_codes(answer):
        return {tuple(sorted((e["entity_type"], e["entity_name"]) for e in entry["entity"])):
                entry["error_code"] for entry in answer["entries"]}

    def described(answer):
        assert answer["error_code"] == NONE, answer
        return {tuple(sorted((e["entity_type"], e["entity_name"]) for e in entry["entity"])):
                {v["key"]: v["value"] for v in entry["values"]} for entry in answer["entries"]}

    for v in (0, 1):
        assert alter_codes(out[f"alter{v}"]) == {entity(U(f"kp3-user-{v}"), C(None)): NONE,
                                                 entity(C(f"kp3-client-{v}")): INVALID_REQUEST}, out[f"alter{v}"]
    first = {entity(U("kp3-user-0"), C(None)): {PRODUCER: 2048.0, REQUEST_PERCENTAGE: 12.5}}
    assert described(out["describe0"]) == first
    second = {entity(U("kp3-user-1"), C(None)): {PRODUCER: 4096.0, REQUEST_PERCENTAGE: 12.5}}
    assert described(out["describe1"]) == {**first, **second}


# ================================================================================================
# The keeper
# ================================================================================================

def sanitize(name):
    """Kafka's Sanitizer.sanitize: URL-encoding (UTF-8) with "*" as %2A and a space as %20."""
    out = []
    for byte in name.encode():
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch in "._-"):
            out.append(ch)
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def keeper_client(broker):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=broker.keeper, timeout=10)
    zk.start(timeout=30)
    return zk


def znode_config(zk, path):
    data, _ = zk.get(path)
    doc = json.loads(data)
    assert doc.get("version") == 1, f"{path}: {doc}"
    return doc["config"]


def test_quotas_are_kept_at_kafkas_znodes_in_kafkas_json(broker):
    """ZooKeeper-mode Kafka's layout: /config/users/<user>, /config/users/<user>/clients/<client>,
    /config/clients/<client>, "<default>" for a default, names sanitized (so a client id literally
    named "<default>" is not the default), {"version":1,"config":{...}} with byte rates as whole
    numbers in strings."""
    odd_client, odd_user = "app/1 x*", "alice@EXAMPLE.COM"
    alter_ok(broker.bootstrap, [
        ([C(odd_client)], [(PRODUCER, 1024.0), (REQUEST_PERCENTAGE, 50.0)]),
        ([U(odd_user)], [(CONSUMER, 2048.0)]),
        ([U(odd_user), C("reporting")], [(PRODUCER, 4096.0)]),
        ([U(None)], [(PRODUCER, 8192.0)]),
        ([C(None)], [(CONSUMER, 1e12)]),
        ([U("bob"), C(None)], [(REQUEST_PERCENTAGE, 0.01)]),
        ([U(None), C("batch")], [(CONSUMER, 3000.0)]),
        ([U(None), C(None)], [(MUTATION_RATE, 3.0)]),
        ([C("<default>")], [(PRODUCER, 5555.0)]),
    ])
    zk = keeper_client(broker)
    try:
        assert sanitize(odd_client) == "app%2F1%20x%2A"
        config = znode_config(zk, "/config/clients/app%2F1%20x%2A")
        assert config[PRODUCER] == "1024" and float(config[REQUEST_PERCENTAGE]) == 50.0, config
        assert znode_config(zk, "/config/users/alice%40EXAMPLE.COM") == {CONSUMER: "2048"}
        assert znode_config(zk, "/config/users/alice%40EXAMPLE.COM/clients/reporting") == {PRODUCER: "4096"}
        assert znode_config(zk, "/config/users/<default>") == {PRODUCER: "8192"}
        assert znode_config(zk, "/config/clients/<default>") == {CONSUMER: "1000000000000"}
        config = znode_config(zk, "/config/users/bob/clients/<default>")
        assert set(config) == {REQUEST_PERCENTAGE} and float(config[REQUEST_PERCENTAGE]) == 0.01, config
        assert znode_config(zk, "/config/users/<default>/clients/batch") == {CONSUMER: "3000"}
        config = znode_config(zk, "/config/users/<default>/clients/<default>")
        assert set(config) == {MUTATION_RATE} and float(config[MUTATION_RATE]) == 3.0, config
        assert znode_config(zk, "/config/clients/%3Cdefault%3E") == {PRODUCER: "5555"}

        # Removing a key rewrites the znode without it.
        alter_ok(broker.bootstrap, [([C(odd_client)], [(REQUEST_PERCENTAGE,)])])
        assert znode_config(zk, "/config/clients/app%2F1%20x%2A") == {PRODUCER: "1024"}
    finally:
        zk.stop()
        zk.close()
    # The names come back desanitized, the literal "<default>" as a name.
    found = describe(broker.bootstrap)
    assert found[entity(C(odd_client))] == {PRODUCER: 1024.0}
    assert found[entity(U(odd_user), C("reporting"))] == {PRODUCER: 4096.0}
    assert found[entity(C("<default>"))] == {PRODUCER: 5555.0}
    assert found[entity(C(None))] == {CONSUMER: 1e12}


def write_quota_as_kafka_tools_do(broker, entity_path, config):
    """What kafka-configs.sh --zookeeper --alter does: the entity's znode, then a change
    notification (/config/changes/config_change_<seq>, {"version":2,"entity_path":...})."""
    zk = keeper_client(broker)
    try:
        path = f"/config/{entity_path}"
        data = json.dumps({"version": 1, "config": config}).encode()
        if zk.exists(path):
            zk.set(path, data)
        else:
            zk.create(path, data, makepath=True)
        zk.ensure_path("/config/changes")
        zk.create("/config/changes/config_change_", json.dumps({"version": 2, "entity_path": entity_path}).encode(),
                  sequence=True)
    finally:
        zk.stop()
        zk.close()


def test_quotas_written_to_the_keeper_by_kafkas_tools_are_served_and_enforced(broker):
    write_quota_as_kafka_tools_do(broker, "clients/zk-written", {PRODUCER: "1024"})
    write_quota_as_kafka_tools_do(broker, "users/ANONYMOUS/clients/zk-pair", {PRODUCER: "2048", CONSUMER: "4096"})
    wait_until(lambda: describe(broker.bootstrap) == {entity(C("zk-written")): {PRODUCER: 1024.0},
                                                     entity(U("ANONYMOUS"), C("zk-pair")): {PRODUCER: 2048.0,
                                                                                             CONSUMER: 4096.0}},
               timeout_s=30, what="the quotas written in the keeper described")
    wait_until(lambda: probe(broker, "zk-written") > 0, timeout_s=30, interval_s=0.2,
               what="the quota written in the keeper enforced")
    wait_until(lambda: probe(broker, "zk-pair") > 0, timeout_s=30, interval_s=0.2,
               what="the (user, client id) quota written in the keeper enforced")


def test_a_users_scram_credentials_and_quotas_share_its_znode_and_survive_each_other(broker):
    """Kafka keeps a user's SCRAM credentials and quotas in the same /config/users/<user>:
    changing either keeps the other, a user with credentials only is not a quota entity, and the
    user still logs in after its quotas change."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def add_credential(user, password):
        upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                              password.encode())
        for f in admin.alter_user_scram_credentials([upsert]).values():
            assert f.result(timeout=30) is None

    def logs_in(user, password):
        a = AdminClient({"bootstrap.servers": broker.sasl, "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": password})
        try:
            a.list_topics(timeout=10)
            return True
        except KafkaException:
            return False

    add_credential("scram-first", "first-pw")
    assert describe(broker.bootstrap) == {}, "a user with credentials only has no quotas"
    alter_ok(broker.bootstrap, [([U("scram-first")], [(PRODUCER, 1024.0)])])
    # A quota first, a credential after.
    alter_ok(broker.bootstrap, [([U("quota-first")], [(CONSUMER, 2048.0)])])
    add_credential("quota-first", "second-pw")

    zk = keeper_client(broker)
    try:
        for user, key, value in [("scram-first", PRODUCER, "1024"), ("quota-first", CONSUMER, "2048")]:
            config = znode_config(zk, f"/config/users/{user}")
            assert config.get(key) == value and "SCRAM-SHA-256" in config, config
        alter_ok(broker.bootstrap, [([U("scram-first")], [(PRODUCER,)])])
        config = znode_config(zk, "/config/users/scram-first")
        assert PRODUCER not in config and "SCRAM-SHA-256" in config, config
    finally:
        zk.stop()
        zk.close()
    assert describe(broker.bootstrap) == {entity(U("quota-first")): {CONSUMER: 2048.0}}
    described = admin.describe_user_scram_credentials().result(timeout=30)
    assert set(described) == {"scram-first", "quota-first"}
    wait_until(lambda: logs_in("scram-first", "first-pw"), timeout_s=30, what="scram-first logging in")
    wait_until(lambda: logs_in("quota-first", "second-pw"), timeout_s=30, what="quota-first logging in")


# ================================================================================================
# Enforcement
# ================================================================================================

# Kafka's order of precedence (its "Quotas" chapter), most specific first.
LEVELS = [
    lambda u, c: (U(u), C(c)),
    lambda u, c: (U(u), C(None)),
    lambda u, c: (U(u),),
    lambda u, c: (U(None), C(c)),
    lambda u, c: (U(None), C(None)),
    lambda u, c: (U(None),),
    lambda u, c: (C(c),),
    lambda u, c: (C(None),),
]


def test_the_most_specific_quota_applies_in_kafkas_order_of_precedence(broker):
    """For each pair of neighbouring levels of Kafka's eight, with both set: the upper one wins,
    whether it is the tight or the loose one; the last level applies alone; and precedence is per
    quota key (an upper level without producer_byte_rate does not hide a lower one's). Each check
    is a fresh SASL user and client id (their own quota group), after settle()."""
    users = iter(f"u{i}" for i in range(24))
    checks = []
    for i in range(len(LEVELS) - 1):
        checks.append(([(LEVELS[i], HUGE), (LEVELS[i + 1], TINY)], False, f"level {i + 1} (loose) over {i + 2}"))
        checks.append(([(LEVELS[i], TINY), (LEVELS[i + 1], HUGE)], True, f"level {i + 1} (tight) over {i + 2}"))
    checks.append(([(LEVELS[7], TINY)], True, "level 8 alone"))
    failures = []
    for levels, throttled, what in checks:
        user = next(users)
        client = f"{user}-client"
        entries = [(list(level(user, client)), [(PRODUCER, rate)]) for level, rate in levels]
        alter_ok(broker.bootstrap, entries)
        settle(broker)
        throttle = probe(broker, client, user=user)
        if (throttle > 0) != throttled:
            failures.append(f"{what}: throttle_time_ms {throttle}, expected {'> 0' if throttled else '0'}")
        alter_ok(broker.bootstrap, [(pairs, [(PRODUCER,)]) for pairs, _ in entries])

    # Per key: the user's own quota has no producer_byte_rate, so its client id's applies.
    user = next(users)
    alter_ok(broker.bootstrap, [([U(user)], [(CONSUMER, HUGE)]), ([C(f"{user}-client")], [(PRODUCER, TINY)])])
    settle(broker)
    if probe(broker, f"{user}-client", user=user) == 0:
        failures.append("a user quota without producer_byte_rate hid its client id's producer_byte_rate")
    assert not failures, failures


def deliver(producers, value, until):
    """Keeps `producers` (a list of (Producer, name)) busy with `value`s until the monotonic
    time `until`, polling; returns [(monotonic time, name, bytes)] of the
    acknowledged ones. Every message must be delivered."""
    acked, errors = [], []

    def report_for(name):
        def report(err, msg):
            if err is not None:
                errors.append(err)
            else:
                acked.append((time.monotonic(), name, len(msg.value())))
        return report

    reports = {name: report_for(name) for _, name in producers}
    while time.monotonic() < until:
        full = 0
        for p, name in producers:
            try:
                p.produce(PRODUCE_TOPIC, value=value, on_delivery=reports[name])
            except BufferError:
                full += 1
            p.poll(0)
        if full == len(producers):
            time.sleep(0.005)
    for p, _ in producers:
        assert p.flush(CLIENT_WAIT_S) == 0, "every message delivered"
    assert not errors, errors[:3]
    return acked


PRODUCE_TOPIC = "quota-produce"
RATE = 200_000  # bytes/s, the byte-rate quota of the rate tests
TOLERANCE = 0.10


def rate_between(acked, start, end, names=None):
    total = sum(n for t, name, n in acked if start < t <= end and (names is None or name in names))
    return total / (end - start)


def test_a_producer_over_its_quota_is_held_to_it_and_others_are_not(broker, report_figure):
    """Two producers with one client id share its producer_byte_rate: together they are held to
    it (measured from delivery reports, after a warm-up, within 10%), librdkafka sees
    throttle_time_ms > 0, the broker counts throttled responses; a producer with another client
    id, busy at the same time, is not throttled and goes far faster; once the quota is removed the
    same producers go far faster too."""
    create_topics(broker, PRODUCE_TOPIC)
    alter_ok(broker.bootstrap, [([C("capped-producer")], [(PRODUCER, float(RATE))])])
    settle(broker)
    counted_before = scrape_throttled(broker)
    capped_stats = [Stats(), Stats()]
    capped = [(Producer(producer_conf(broker, "capped-producer", capped_stats[i])), f"capped-{i}") for i in range(2)]
    free_stats = Stats()
    free = Producer(producer_conf(broker, "free-producer", free_stats))
    value = b"v" * 4000
    free_result = {}

    def send_all(producer, count):
        """Produces `count` values with `producer`; returns their delivery errors (None: delivered)."""
        delivered = []
        for _ in range(count):
            while True:
                try:
                    producer.produce(PRODUCE_TOPIC, value=value, on_delivery=lambda err, msg: delivered.append(err))
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(CLIENT_WAIT_S)
        return delivered

    def run_free():
        # Once the capped producers are being throttled: 3.2 MB, which at the capped rate would
        # take 16 s.
        try:
            wait_until(lambda: all(s.max_throttle > 0 for s in capped_stats), timeout_s=warmup_s + measure_s,
                       what="both capped producers throttled")
            free_result["throttled_meanwhile"] = True
        except AssertionError:
            free_result["throttled_meanwhile"] = False
            return
        begun = time.monotonic()
        free_result["delivered"] = send_all(free, 800)
        free_result["seconds"] = time.monotonic() - begun

    warmup_s, measure_s = 5.0, 12.0
    start = time.monotonic()
    free_thread = threading.Thread(target=run_free)
    free_thread.start()
    acked = deliver(capped, value, start + warmup_s + measure_s)
    free_thread.join(CLIENT_WAIT_S)
    assert not free_thread.is_alive()

    rate = rate_between(acked, start + warmup_s, start + warmup_s + measure_s)
    report_figure(f"quotas: two producers sharing a {RATE} B/s producer_byte_rate delivered {rate:.0f} B/s")
    assert abs(rate - RATE) <= TOLERANCE * RATE, f"acknowledged {rate:.0f} B/s under a {RATE} B/s quota"
    for name in ("capped-0", "capped-1"):
        assert rate_between(acked, start + warmup_s, start + warmup_s + measure_s, {name}) > 0.1 * RATE, \
            f"{name} starved"
    assert all(s.max_throttle > 0 for s in capped_stats), [s.max_throttle for s in capped_stats]
    assert scrape_throttled(broker) > counted_before

    assert free_result["throttled_meanwhile"], "the capped producers were never throttled"
    assert len(free_result["delivered"]) == 800 and all(e is None for e in free_result["delivered"])
    free_rate = 800 * len(value) / free_result["seconds"]
    report_figure(f"quotas: an unthrottled producer beside them delivered {free_rate:.0f} B/s")
    assert free_rate > 2 * RATE, f"the unthrottled producer made only {free_rate:.0f} B/s"
    assert free_stats.max_throttle == 0, f"the unthrottled producer saw throttle {free_stats.max_throttle} ms"

    # Removing the quota lifts the throttle: 2.4 MB, 12 s at the quota, go in well under 6 s.
    alter_ok(broker.bootstrap, [([C("capped-producer")], [(PRODUCER,)])])
    settle(broker)
    target = 600 * len(value)
    start = time.monotonic()
    delivered = send_all(capped[0][0], 600)
    seconds = time.monotonic() - start
    assert len(delivered) == 600 and all(e is None for e in delivered)
    assert target / seconds > 2 * RATE, f"after the quota's removal: {target / seconds:.0f} B/s"


def test_a_consumer_over_its_quota_is_held_to_it_and_misses_nothing(broker, report_figure):
    """A consumer with a consumer_byte_rate is held to it (within 10%, after a warm-up), sees
    throttle_time_ms > 0, and gets every record, in order, none skipped by throttled fetches."""
    topic = "quota-fetch"
    create_topics(broker, topic)
    count, size = 750, 4000
    # Batches of 16 KB: a batch bigger than the quota's whole window (rate * samples * sample
    # seconds) could never be fetched under it, in Kafka as here.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "client.id": "loader", "linger.ms": 5,
                         "batch.size": 16384})
    for i in range(count):
        value = f"{i:08d}".encode() + b"c" * (size - 8)
        while True:
            try:
                producer.produce(topic, value=value)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(CLIENT_WAIT_S) == 0
    del producer
    alter_ok(broker.bootstrap, [([C("capped-consumer")], [(CONSUMER, float(RATE))])])
    settle(broker)

    stats = Stats()
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "client.id": "capped-consumer",
                         "group.id": "capped-group", "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         # Fetches of up to 128 KB (librdkafka's default is 1 MB), far below the
                         # quota's window of 600 KB.
                         "fetch.max.bytes": 131072, "max.partition.fetch.bytes": 131072,
                         "message.max.bytes": 131072, "fetch.wait.max.ms": 100,
                         "statistics.interval.ms": 500, "stats_cb": stats})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 45
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((time.monotonic(), msg.offset(), msg.value()))
    finally:
        consumer.close()
    assert [o for _, o, _ in got] == list(range(count)), "every record once, in order"
    assert all(v[:8] == f"{o:08d}".encode() and len(v) == size for _, o, v in got)
    first, last = got[0][0], got[-1][0]
    warmup_s = 4.0
    assert last - first > warmup_s + 8, f"{count * size} bytes at {RATE} B/s took only {last - first:.1f} s"
    rate = sum(len(v) for t, _, v in got if t > first + warmup_s) / (last - first - warmup_s)
    report_figure(f"quotas: a consumer with a {RATE} B/s consumer_byte_rate fetched {rate:.0f} B/s")
    assert abs(rate - RATE) <= TOLERANCE * RATE, f"fetched {rate:.0f} B/s under a {RATE} B/s quota"
    assert stats.max_throttle > 0


def fetch_v11(wire, topic, offset, max_bytes):
    """Fetch v11 of partition 0 from `offset`: (throttle_time_ms, error, [(offset, value)])."""
    request = FetchRequest_v11(replica_id=-1, max_wait_time=100, min_bytes=1, max_bytes=max_bytes, isolation_level=0,
                               session_id=0, session_epoch=-1,
                               topics=[(topic, [(0, -1, offset, -1, max_bytes)])], forgotten_topics_data=[], rack_id="")
    response = FetchResponse_v11.decode(wire.request(request.API_KEY, 11, request.encode()))
    records = []
    error = response.error_code
    for _, partitions in response.topics:
        for p in partitions:
            error = error or p[1]
            batches = MemoryRecords(p[-1])
            while batches.has_next():
                batch = batches.next_batch()
                records += [(r.offset, r.value) for r in batch]
    return response.throttle_time_ms, error, records


def test_a_throttled_fetch_answers_no_records_and_nothing_is_skipped(broker):
    """Kafka's documentation: "In case of a fetch request, the response will not contain any data"
    (KIP-219: a throttled fetch answers at once, empty, with the throttle time); the next fetches
    from the same offset get the records, none lost."""
    topic = "quota-raw-fetch"
    create_topics(broker, topic)
    count = 12
    with Wire(broker.bootstrap, client_id="loader") as w:
        for i in range(count):
            assert produce_on(w, [f"{i:04d}".encode() + b"f" * 3996], topic=topic)[0] == NONE
    alter_ok(broker.bootstrap, [([C("raw-fetcher")], [(CONSUMER, 20000.0)])])
    settle(broker)
    got, throttled, with_records_and_throttled = [], 0, []
    offset = 0
    deadline = time.monotonic() + 40
    with Wire(broker.bootstrap, client_id="raw-fetcher", timeout_s=40) as w:
        while offset < count and time.monotonic() < deadline:
            throttle, error, records = fetch_v11(w, topic, offset, 16384)
            assert error == NONE, error
            records = [(o, v) for o, v in records if o >= offset]
            if throttle > 0:
                throttled += 1
                if records:
                    with_records_and_throttled.append((throttle, [o for o, _ in records]))
            for o, v in records:
                assert o == offset, f"offset {o} after {offset - 1}: a record skipped"
                got.append(v)
                offset += 1
    assert [v[:4] for v in got] == [f"{i:04d}".encode() for i in range(count)], "every record, in order"
    assert throttled > 0, "no fetch throttled after 48 KB under a 20 KB/s consumer quota"
    assert not with_records_and_throttled, f"throttled fetches that carried records: {with_records_and_throttled}"


@pytest.mark.parametrize("version", [7, 3])
def test_a_throttled_connection_is_muted_for_the_throttle_time(broker, version):
    """KIP-219: the broker answers a throttled request at once with throttle_time_ms and then reads
    nothing more from the connection for that long, whatever the request version ("Those clients
    who sent further requests to the throttled channel will receive responses only after the delay
    is over"); older Kafka held the response instead: either way, nothing more is answered on that
    connection before the throttle time has passed since the request."""
    client = f"muted-v{version}"
    alter_ok(broker.bootstrap, [([C(client)], [(PRODUCER, 20000.0)])])
    settle(broker)
    with Wire(broker.bootstrap, client_id=client, timeout_s=60) as w:
        sent = time.monotonic()
        error, throttle = produce_on(w, [b"m" * PROBE_BYTES], version=version)
        answered = time.monotonic()
        assert error == NONE
        assert throttle > 0, "64 KB at once under a 20 KB/s quota not throttled"
        assert throttle < 60000, throttle
        if version >= 6:
            assert answered - sent < max(0.5, throttle / 2000), \
                f"Produce v{version} answered after {answered - sent:.2f} s, not at once (throttle {throttle} ms)"
        # The next request on the connection is answered only after the throttle time.
        metadata = MetadataRequest_v4(topics=[PROBE_TOPIC], allow_auto_topic_creation=False)
        MetadataResponse_v4.decode(w.request(METADATA, 4, metadata.encode()))
        second = time.monotonic()
    assert second - sent >= throttle / 1000 * 0.95 - 0.02, \
        f"throttled for {throttle} ms, yet the next request was answered {second - sent:.2f} s after the first"


def test_request_percentage_throttles_a_client_making_many_requests(broker):
    """KIP-124: a client over its request_percentage (of one request handler thread's time) gets
    throttle_time_ms > 0 in its responses; a client id without one, doing the same, does not."""
    alter_ok(broker.bootstrap, [([C("busy-client")], [(REQUEST_PERCENTAGE, 0.01)])])
    settle(broker)
    # (kept in a variable: kafka-python's encode() holds its request only weakly)
    metadata_request = MetadataRequest_v4(topics=[PROBE_TOPIC], allow_auto_topic_creation=False)
    metadata = metadata_request.encode()

    def throttles(client, n, stop_at_first):
        seen = []
        deadline = time.monotonic() + 20
        with Wire(broker.bootstrap, client_id=client, timeout_s=30) as w:
            for _ in range(n):
                if time.monotonic() > deadline:
                    break
                seen.append(MetadataResponse_v4.decode(w.request(METADATA, 4, metadata)).throttle_time_ms)
                if stop_at_first and seen[-1] > 0:
                    break
        return seen

    free = throttles("idle-client", 100, False)
    assert len(free) == 100 and not any(free), f"a client id without a quota was throttled: {free}"
    busy = throttles("busy-client", 300, True)
    assert any(t > 0 for t in busy), f"{len(busy)} Metadata requests under request_percentage=0.01, never throttled"


def create_topic_v6(wire, name, partitions):
    """CreateTopics v6 (flexible) of one topic: (throttle_time_ms, error code, message)."""
    c = True
    topic = string(name, c) + struct.pack(">ih", partitions, 1) + array([], c) + array([], c) + tags(c)
    body = array([topic], c) + struct.pack(">i", 30000) + struct.pack(">b", 0) + tags(c)
    r = Reader(wire.request(CREATE_TOPICS, 6, body, flexible=True))
    throttle = r.i32()

    def result():
        name_, error, message = r.string(c), r.i16(), r.string(c)
        r.i32(), r.i16()  # num_partitions, replication_factor

        def config():
            r.string(c), r.string(c), r.boolean(), r.i8(), r.boolean()
            r.tags(c)

        r.array(config, c)
        r.tags(c)
        return name_, error, message

    ((got, error, message),) = r.array(result, c)
    assert got == name
    return throttle, error, message


def test_controller_mutation_rate_throttles_topic_creation(broker):
    """KIP-599: partition mutations (CreateTopics, CreatePartitions, DeleteTopics) beyond a
    client's controller_mutation_rate are refused with THROTTLING_QUOTA_EXCEEDED and a throttle
    time (CreateTopics v6+), the burst allowed being rate * window (here 1 * 3 samples * 1 s); a
    client without the quota is not refused."""
    alter_ok(broker.bootstrap, [([C("mutator")], [(MUTATION_RATE, 1.0)])])
    settle(broker)
    with Wire(broker.bootstrap, client_id="mutator", timeout_s=60) as w:
        throttle, error, message = create_topic_v6(w, "mutations-1", 10)
        assert error == NONE, (error, message)
    with Wire(broker.bootstrap, client_id="mutator", timeout_s=60) as w:
        throttle, error, message = create_topic_v6(w, "mutations-2", 1)
    assert (error, throttle > 0) == (THROTTLING_QUOTA_EXCEEDED, True), (throttle, error, message)
    with Wire(broker.bootstrap, client_id="other-admin", timeout_s=60) as w:
        throttle, error, message = create_topic_v6(w, "mutations-3", 10)
    assert (error, throttle) == (NONE, 0), (throttle, error, message)


# ================================================================================================
# Authorization
# ================================================================================================

def test_quota_apis_need_alter_configs_and_describe_configs_on_the_cluster(start_broker):
    """KafkaApis: AlterClientQuotas needs ALTER_CONFIGS on the cluster, DescribeClientQuotas
    DESCRIBE_CONFIGS (which ALTER_CONFIGS implies); otherwise CLUSTER_AUTHORIZATION_FAILED (for
    every entry of an alteration, as the describe's error), and nothing changes."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType)
    b = start_broker(AUTHORIZER_SETTINGS)
    alter_ok(b.bootstrap, [([C("existing")], [(PRODUCER, 1000.0)])])  # ANONYMOUS is a super user
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    bindings = [AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, f"User:{user}", "*",
                           operation, AclPermissionType.ALLOW)
                for user, operation in [("bob", AclOperation.ALTER_CONFIGS), ("carol", AclOperation.DESCRIBE_CONFIGS)]]
    for f in admin.create_acls(bindings, request_timeout=30).values():
        assert f.result(timeout=30) is None
    entries = [([C("existing")], [(PRODUCER, 2000.0)]), ([U("alice")], [(CONSUMER, 3000.0)])]

    # alice: nothing.
    for version in (0, 1):
        answered = alter(b.sasl, entries, user="alice", version=version)
        assert {e: code for e, (code, _) in answered.items()} == {
            entity(C("existing")): CLUSTER_AUTHORIZATION_FAILED, entity(U("alice")): CLUSTER_AUTHORIZATION_FAILED}
        _, error, _, found = describe_raw(b.sasl, user="alice", version=version)
        assert (error, found or None) == (CLUSTER_AUTHORIZATION_FAILED, None)
    # carol: DESCRIBE_CONFIGS only.
    wait_until(lambda: describe_raw(b.sasl, user="carol")[1] == NONE, timeout_s=30, what="carol's ACL enforced")
    assert describe(b.sasl, user="carol") == {entity(C("existing")): {PRODUCER: 1000.0}}
    answered = alter(b.sasl, entries, user="carol")
    assert {code for code, _ in answered.values()} == {CLUSTER_AUTHORIZATION_FAILED}, answered
    assert describe(b.bootstrap) == {entity(C("existing")): {PRODUCER: 1000.0}}
    # bob: ALTER_CONFIGS, which lets him describe too.
    wait_until(lambda: all(code == NONE for code, _ in alter(b.sasl, entries, user="bob").values()), timeout_s=30,
               what="bob's ACL enforced")
    expected = {entity(C("existing")): {PRODUCER: 2000.0}, entity(U("alice")): {CONSUMER: 3000.0}}
    assert describe(b.sasl, user="bob") == expected
    assert describe(b.bootstrap) == expected
    del admin
    gc.collect()


# ================================================================================================
# The CLI
# ================================================================================================

def sluice(broker, *args):
    return subprocess.run([SLUICE_CLI, "-b", broker.bootstrap, "quota", *args], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S)


def cli_listed(broker, *args):
    done = sluice(broker, "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert isinstance(listed, list), listed
    return {entity(*item["entity"].items()): item["quotas"] for item in listed}


def test_the_cli_sets_lists_and_removes_quotas_of_every_entity(broker):
    assert cli_listed(broker) == {}
    for args in [("--client-id", "loader", "producer_byte_rate=1048576", "request_percentage=50.5"),
                 ("--user", "alice", "--client-id", "app", "consumer_byte_rate=2097152"),
                 ("--user", "alice", "controller_mutation_rate=10"),
                 ("--default-user", "producer_byte_rate=10485760"),
                 ("--default-client-id", "consumer_byte_rate=1024"),
                 ("--user", "bob", "--default-client-id", "request_percentage=25"),
                 ("--default-user", "--client-id", "app", "producer_byte_rate=4096"),
                 ("--default-user", "--default-client-id", "consumer_byte_rate=8192")]:
        done = sluice(broker, "set", *args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
    expected = {
        entity(C("loader")): {PRODUCER: 1048576.0, REQUEST_PERCENTAGE: 50.5},
        entity(U("alice"), C("app")): {CONSUMER: 2097152.0},
        entity(U("alice")): {MUTATION_RATE: 10.0},
        entity(U(None)): {PRODUCER: 10485760.0},
        entity(C(None)): {CONSUMER: 1024.0},
        entity(U("bob"), C(None)): {REQUEST_PERCENTAGE: 25.0},
        entity(U(None), C("app")): {PRODUCER: 4096.0},
        entity(U(None), C(None)): {CONSUMER: 8192.0},
    }
    assert describe(broker.bootstrap) == expected
    assert cli_listed(broker) == expected
    assert cli_listed(broker, "--user", "alice") == {e: q for e, q in expected.items() if U("alice") in e}
    assert cli_listed(broker, "--client-id", "app") == {e: q for e, q in expected.items() if C("app") in e}
    assert cli_listed(broker, "--default-user") == {e: q for e, q in expected.items() if U(None) in e}

    table = sluice(broker, "list")
    assert table.returncode == 0, table.stderr
    for needle in ["loader", "alice", "bob", "app", PRODUCER, CONSUMER, REQUEST_PERCENTAGE, MUTATION_RATE,
                   "1048576", "2097152", "50.5"]:
        assert needle in table.stdout, f"{needle} not in:\n{table.stdout}"

    done = sluice(broker, "remove", "--client-id", "loader", "request_percentage")
    assert done.returncode == 0, done.stderr
    done = sluice(broker, "remove", "--default-user", "--default-client-id", "consumer_byte_rate")
    assert done.returncode == 0, done.stderr
    expected[entity(C("loader"))] = {PRODUCER: 1048576.0}
    del expected[entity(U(None), C(None))]
    assert cli_listed(broker) == expected == describe(broker.bootstrap)


def test_the_cli_refuses_bad_quotas_with_a_non_zero_exit_and_changes_nothing(broker):
    alter_ok(broker.bootstrap, [([C("steady")], [(PRODUCER, 1000.0)])])
    before = describe(broker.bootstrap)
    for args, needle in [
        (("set", "--client-id", "x", "bogus_rate=5"), "bogus_rate"),
        (("set", "--client-id", "x", "producer_byte_rate=abc"), "abc"),
        (("set", "--client-id", "x", "producer_byte_rate=1.5"), "producer_byte_rate"),
        (("set", "--client-id", "x", "consumer_byte_rate=0"), "consumer_byte_rate"),
        (("set", "--client-id", "x", "request_percentage=-3"), "request_percentage"),
        (("set", "--client-id", "x", "producer_byte_rate"), "producer_byte_rate"),
        (("set", "producer_byte_rate=5"), ""),
        (("set", "--client-id", "x"), ""),
        (("set", "--client-id", "steady", "producer_byte_rate=5", "nonsense=1"), "nonsense"),
        (("remove", "--client-id", "steady"), ""),
        (("remove", "producer_byte_rate"), ""),
        (("set", "--user", "a", "--default-user", "producer_byte_rate=5"), ""),
    ]:
        done = sluice(broker, *args)
        assert done.returncode != 0, f"{args} exited 0: {done.stdout}"
        assert done.stderr.strip(), f"{args}: no message"
        assert needle in done.stderr, f"{args}: {done.stderr}"
    assert describe(broker.bootstrap) == before

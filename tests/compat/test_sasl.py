"""SASL authentication on a SASL_PLAINTEXT listener, as Apache Kafka documents and behaves:
PLAIN users from the listener's JAAS config, SCRAM-SHA-256/512 credentials in the keeper at
/config/users/<user> (Kafka's ZooKeeper format), real clients (librdkafka and kafka-python)
producing and consuming through it, failed logins reported to the client and logged, and the
wire protocol checked byte by byte: what a SASL listener answers before, during and after
authentication (KIP-43 SaslHandshake, KIP-152 SaslAuthenticate), and what a PLAINTEXT listener
answers to SASL requests.

Each broker here has two listeners: PLAINTEXT first (the ready file's first line, used to create
topics and to check what was written) and SASL_PLAINTEXT second."""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import struct
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, wait_until

# --- the broker ---------------------------------------------------------------------------------

USERS = {"admin": "admin-secret", "alice": "alice-secret"}
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" ' + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
ALL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
# What a Kafka broker with both mechanisms on its SASL listener is configured with. Kafka wants a
# JAAS entry per enabled mechanism; the SCRAM ones carry no users (those live in ZooKeeper).
SASL_SETTINGS = [
    f"listener.name.sasl_plaintext.sasl.enabled.mechanisms={','.join(ALL_MECHANISMS)}",
    f"listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}",
    f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={SCRAM_JAAS}",
    f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={SCRAM_JAAS}",
]
MESSAGES = 200
CLIENT_WAIT_S = 60


class SaslBroker(Broker):
    """conftest's Broker with its SASL_PLAINTEXT listener (`sasl`) beside the PLAINTEXT one
    (`bootstrap`), and its log read from an offset."""

    def __init__(self, workdir, overrides=()):
        super().__init__(workdir, overrides, sasl_listener=True)
        self.plain_port = self.port

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")




@pytest.fixture
def start_broker(tmp_path, request):
    """`start_broker(extra_overrides=(), settings=SASL_SETTINGS)`: a started two-listener broker,
    stopped afterwards (SIGKILL and its log printed when the test failed)."""
    started = []

    def start(extra=(), settings=SASL_SETTINGS):
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        b = SaslBroker(workdir, list(settings) + list(extra))
        started.append(b)
        b.start()
        return b

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for b in started:
        b.stop(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- sluiced log ({b.workdir.name}) ---\n{b.log()}")


@pytest.fixture
def broker(start_broker):
    return start_broker()


def create_topic(broker, name, partitions=1):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).values():
        f.result(timeout=30)


def end_offsets(broker, topic, partitions):
    """High watermarks read through the PLAINTEXT listener."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "sasl-check", "enable.auto.commit": False})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)]
    finally:
        c.close()


# --- SCRAM credentials in the keeper, as kafka-configs.sh --alter --add-config writes them -------

def scram_credential(mechanism, password, iterations=4096):
    """Kafka's stored form of a SCRAM credential (RFC 5802 keys, base64)."""
    h = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac(h, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", h).digest()
    stored_key = hashlib.new(h, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", h).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"salt={b64(salt)},stored_key={b64(stored_key)},server_key={b64(server_key)},iterations={iterations}"


def write_scram_user(broker, user, passwords):
    """Writes /config/users/<user> with a credential per mechanism in `passwords` ({mechanism:
    password}) and, as Kafka's admin tools do, a change notification under /config/changes."""
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=broker.keeper, timeout=10)
    zk.start(timeout=30)
    try:
        config = {m: scram_credential(m, p) for m, p in passwords.items()}
        data = json.dumps({"version": 1, "config": config}).encode()
        path = f"/config/users/{user}"
        zk.ensure_path("/config/users")
        if zk.exists(path):
            zk.set(path, data)
        else:
            zk.create(path, data)
        zk.ensure_path("/config/changes")
        zk.create("/config/changes/config_change_", json.dumps({"version": 2, "entity_path": f"users/{user}"}).encode(),
                  sequence=True)
    finally:
        zk.stop()
        zk.close()


# --- confluent-kafka ----------------------------------------------------------------------------

def sasl_config(broker, mechanism, user, password, **extra):
    conf = {"bootstrap.servers": broker.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password}
    conf.update(extra)
    return conf


def produce_confluent(conf, topic, count):
    """Produces `count` keyed messages; returns [(partition, offset, key, value)] as acknowledged."""
    producer = Producer({**conf, "acks": "all", "linger.ms": 5})
    acked, errors = [], []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            acked.append((msg.partition(), msg.offset(), msg.key(), msg.value()))

    for i in range(count):
        producer.produce(topic, key=f"k{i % 7}".encode(), value=f"v{i}".encode(), on_delivery=report)
        producer.poll(0)
    assert producer.flush(CLIENT_WAIT_S) == 0, "every message delivered within the bound"
    assert not errors, errors[:3]
    assert len(acked) == count
    return acked


def consume_confluent(consumer, count):
    got = []
    deadline = time.monotonic() + CLIENT_WAIT_S * 2
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
    consumer.close()
    return got


def test_confluent_kafka_produces_and_consumes_with_a_group_over_sasl_plain(broker):
    topic = "sasl-plain"
    create_topic(broker, topic, 3)
    conf = sasl_config(broker, "PLAIN", "alice", USERS["alice"])
    acked = produce_confluent(conf, topic, MESSAGES)
    consumer = Consumer({**conf, "group.id": "sasl-plain-group", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = consume_confluent(consumer, MESSAGES)
    assert sorted(got) == sorted(acked)
    assert end_offsets(broker, topic, 3) == [sum(1 for p, *_ in acked if p == i) for i in range(3)]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_confluent_kafka_produces_and_consumes_over_scram(broker, mechanism):
    topic = f"sasl-{mechanism.lower()}"
    create_topic(broker, topic, 2)
    write_scram_user(broker, "carol", {mechanism: "carol-secret"})
    conf = sasl_config(broker, mechanism, "carol", "carol-secret")
    acked = produce_confluent(conf, topic, MESSAGES)
    consumer = Consumer({**conf, "group.id": f"g-{mechanism}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(2)])
    got = consume_confluent(consumer, MESSAGES)
    assert sorted(got) == sorted(acked)


# --- kafka-python 2.0.2 (SaslHandshake v0, then raw SASL tokens) -------------------------------

@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kafka_python_produces_and_consumes_over_sasl(broker, mechanism):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KpTopicPartition
    topic = f"kp-{mechanism.lower()}"
    create_topic(broker, topic, 2)
    if mechanism == "PLAIN":
        user, password = "alice", USERS["alice"]
    else:
        user, password = "dave", "dave-secret"
        write_scram_user(broker, user, {mechanism: password})
    auth = {"bootstrap_servers": broker.sasl, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
            "sasl_plain_username": user, "sasl_plain_password": password, "request_timeout_ms": 30000}
    producer = KafkaProducer(acks="all", linger_ms=5, **auth)
    futures = [producer.send(topic, key=f"k{i % 5}".encode(), value=f"v{i}".encode()) for i in range(MESSAGES)]
    producer.flush(timeout=CLIENT_WAIT_S)
    acked = []
    for i, f in enumerate(futures):
        meta = f.get(timeout=CLIENT_WAIT_S)
        acked.append((meta.partition, meta.offset, f"k{i % 5}".encode(), f"v{i}".encode()))
    producer.close(timeout=30)
    consumer = KafkaConsumer(group_id=None, auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=10000, **auth)
    consumer.assign([KpTopicPartition(topic, p) for p in range(2)])
    got = []
    for msg in consumer:  # ends after 10 s without a message
        got.append((msg.partition, msg.offset, msg.key, msg.value))
        if len(got) == MESSAGES:
            break
    consumer.close()
    assert sorted(got) == sorted(acked)


# --- failed authentication through librdkafka ---------------------------------------------------

FAILURES = {
    # id: (mechanism, user, password, SCRAM credentials to write first)
    "plain-wrong-password": ("PLAIN", "alice", "not-alice-secret", None),
    "plain-unknown-user": ("PLAIN", "mallory", "whatever", None),
    "scram256-wrong-password": ("SCRAM-SHA-256", "carol", "not-carol-secret", {"SCRAM-SHA-256": "carol-secret"}),
    "scram512-wrong-password": ("SCRAM-SHA-512", "carol", "not-carol-secret", {"SCRAM-SHA-512": "carol-secret"}),
    "scram256-unknown-user": ("SCRAM-SHA-256", "mallory", "whatever", None),
    # A PLAIN (JAAS) user has no SCRAM credential, and a SHA-256 credential does not log in with SHA-512.
    "scram-for-a-plain-user": ("SCRAM-SHA-256", "alice", USERS["alice"], None),
    "scram512-with-only-a-256-credential": ("SCRAM-SHA-512", "carol", "carol-secret", {"SCRAM-SHA-256": "carol-secret"}),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_confluent_kafka_reports_a_failed_authentication_and_nothing_is_produced(broker, case):
    mechanism, user, password, credentials = FAILURES[case]
    topic = "sasl-denied"
    create_topic(broker, topic)
    if credentials:
        write_scram_user(broker, user, credentials)
    errors, reports = [], []
    producer = Producer(sasl_config(broker, mechanism, user, password, error_cb=errors.append,
                                    **{"message.timeout.ms": 2000, "acks": "all"}))
    producer.produce(topic, value=b"must not land", on_delivery=lambda err, msg: reports.append(err))

    def authentication_error_seen():
        producer.poll(0.2)
        return any(e.code() == KafkaError._AUTHENTICATION for e in errors)

    wait_until(authentication_error_seen, timeout_s=30, what=f"an _AUTHENTICATION error (errors so far: {errors})")
    assert producer.flush(30) == 0, "the message's delivery report came within its timeout"
    assert len(reports) == 1 and reports[0] is not None, f"delivery reports: {reports}"
    assert end_offsets(broker, topic, 1) == [0], "nothing was written"

    admin = AdminClient(sasl_config(broker, mechanism, user, password))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=3)  # it cannot log in, so it fails at this bound


# --- the wire protocol, raw -------------------------------------------------------------------

API_VERSIONS, METADATA, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 3, 17, 36
NONE, UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 0, 33, 34, 58


class Wire:
    """One TCP connection speaking Kafka's framing: request header v1, response header v0."""

    def __init__(self, address, timeout_s=10):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.correlation = 100

    def close(self):
        self.sock.close()

    def send_raw(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def send(self, api_key, version, body, client=b"sasl-probe"):
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, len(client)) + client
        self.send_raw(header + body)
        return self.correlation

    def recv_frame(self):
        (size,) = struct.unpack(">i", self.recv_exactly(4))
        return self.recv_exactly(size)

    def request(self, api_key, version, body):
        """Sends a request and returns its response body (after the correlation id)."""
        correlation = self.send(api_key, version, body)
        frame = self.recv_frame()
        (got,) = struct.unpack_from(">i", frame)
        assert got == correlation, f"correlation id {got}, sent {correlation}"
        return frame[4:]

    def recv_exactly(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError(f"closed after {len(out)} of {n} bytes")
            out += chunk
        return out

    def read_until_closed(self, within_s):
        """Everything the peer sends until it closes; raises AssertionError if it stays open."""
        self.sock.settimeout(within_s)
        out = b""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                return out
            if not chunk:
                return out
            out += chunk
        raise AssertionError(f"the connection is still open after {within_s}s (received {out!r})")


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def byte_array(b):
    return struct.pack(">i", len(b)) + b


def handshake(wire, mechanism, version=1):
    """SaslHandshake: (error code, [enabled mechanisms])."""
    body = wire.request(SASL_HANDSHAKE, version, string(mechanism))
    (error, count) = struct.unpack_from(">hi", body)
    pos, mechanisms = 6, []
    for _ in range(count):
        (n,) = struct.unpack_from(">h", body, pos)
        mechanisms.append(body[pos + 2:pos + 2 + n].decode())
        pos += 2 + n
    return error, mechanisms


def authenticate(wire, token):
    """SaslAuthenticate v0: (error code, error message or None, auth bytes)."""
    body = wire.request(SASL_AUTHENTICATE, 0, byte_array(token))
    (error, n) = struct.unpack_from(">hh", body)
    pos = 4
    message = None
    if n >= 0:
        message = body[pos:pos + n].decode()
        pos += n
    (size,) = struct.unpack_from(">i", body, pos)
    return error, message, body[pos + 4:pos + 4 + max(size, 0)]


def api_versions(wire):
    """ApiVersions v0: (error code, {api key: (min, max)})."""
    body = wire.request(API_VERSIONS, 0, b"")
    (error, count) = struct.unpack_from(">hi", body)
    apis = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", body, 6 + 6 * i)
        apis[key] = (lo, hi)
    return error, apis


def metadata_brokers(wire):
    """Metadata v1 for every topic: the brokers it names, [(node id, host, port)]."""
    body = wire.request(METADATA, 1, struct.pack(">i", -1))
    (count,) = struct.unpack_from(">i", body)
    pos, brokers = 4, []
    for _ in range(count):
        (node, n) = struct.unpack_from(">ih", body, pos)
        host = body[pos + 6:pos + 6 + n].decode()
        pos += 6 + n
        (port, rack) = struct.unpack_from(">ih", body, pos)
        pos += 6 + max(rack, 0)
        brokers.append((node, host, port))
    return brokers


def plain_token(user, password, authzid=""):
    return f"{authzid}\0{user}\0{password}".encode()


def test_a_request_other_than_api_versions_or_handshake_before_authenticating_closes_the_connection(broker):
    wire = Wire(broker.sasl)
    try:
        wire.send(METADATA, 1, struct.pack(">i", -1))
        assert wire.read_until_closed(10) == b"", "no answer before the connection closes"
    finally:
        wire.close()


def test_api_versions_before_authenticating_is_answered_and_lists_the_sasl_apis(broker):
    wire = Wire(broker.sasl)
    try:
        error, apis = api_versions(wire)
        assert error == NONE
        assert SASL_HANDSHAKE in apis and apis[SASL_HANDSHAKE][1] >= 1, apis.get(SASL_HANDSHAKE)
        assert SASL_AUTHENTICATE in apis, sorted(apis)
        assert METADATA in apis and API_VERSIONS in apis
        # The handshake still follows on the same connection.
        error, mechanisms = handshake(wire, "PLAIN")
        assert error == NONE and sorted(mechanisms) == sorted(ALL_MECHANISMS)
    finally:
        wire.close()


def test_a_mechanism_not_enabled_gets_unsupported_sasl_mechanism_and_the_enabled_list(broker):
    wire = Wire(broker.sasl)
    try:
        error, mechanisms = handshake(wire, "GSSAPI")
        assert error == UNSUPPORTED_SASL_MECHANISM
        assert sorted(mechanisms) == sorted(ALL_MECHANISMS)
        assert wire.read_until_closed(10) == b"", "Kafka closes the connection after refusing the mechanism"
    finally:
        wire.close()


BAD_PLAIN_TOKENS = {
    "wrong-password": plain_token("alice", "wrong"),
    "unknown-user": plain_token("mallory", "alice-secret"),
    "empty-password": plain_token("alice", ""),
    "authzid-of-another-user": plain_token("alice", USERS["alice"], authzid="admin"),
    "not-three-fields": b"alice-secret",
}


@pytest.mark.parametrize("case", list(BAD_PLAIN_TOKENS))
def test_sasl_authenticate_with_bad_plain_credentials_fails_and_closes(broker, case):
    wire = Wire(broker.sasl)
    try:
        assert handshake(wire, "PLAIN")[0] == NONE
        error, message, _ = authenticate(wire, BAD_PLAIN_TOKENS[case])
        assert error == SASL_AUTHENTICATION_FAILED
        assert message, "Kafka explains the failure in error_message"
        assert wire.read_until_closed(10) == b""
    finally:
        wire.close()


@pytest.mark.parametrize("authzid", ["", "alice"], ids=["no-authzid", "authzid-is-the-user"])
def test_sasl_authenticate_with_good_plain_credentials_then_kafka_requests_work(broker, authzid):
    wire = Wire(broker.sasl)
    try:
        error, mechanisms = handshake(wire, "PLAIN")
        assert error == NONE and sorted(mechanisms) == sorted(ALL_MECHANISMS)
        error, message, _ = authenticate(wire, plain_token("alice", USERS["alice"], authzid))
        assert (error, message) == (NONE, None)
        # Metadata answered on the SASL listener names the broker at that listener's address.
        assert [(host, port) for _, host, port in metadata_brokers(wire)] == [("127.0.0.1", broker.sasl_port)]
        # Authenticated once, a second handshake is refused (re-authentication is off by default).
        assert handshake(wire, "PLAIN")[0] == ILLEGAL_SASL_STATE
    finally:
        wire.close()


def test_handshake_v0_then_a_raw_plain_token_authenticates(broker):
    wire = Wire(broker.sasl)
    try:
        error, mechanisms = handshake(wire, "PLAIN", version=0)
        assert error == NONE and "PLAIN" in mechanisms
        wire.send_raw(plain_token("alice", USERS["alice"]))
        wire.sock.settimeout(10)
        wire.recv_frame()  # the server's token, size-prefixed (empty for PLAIN)
        ports = [port for _, _, port in metadata_brokers(wire)]
        assert ports == [broker.sasl_port]
        error, apis = api_versions(wire)
        assert error == NONE and SASL_AUTHENTICATE in apis
    finally:
        wire.close()


def test_handshake_v0_then_a_raw_token_with_a_wrong_password_closes_the_connection(broker):
    wire = Wire(broker.sasl)
    try:
        assert handshake(wire, "PLAIN", version=0)[0] == NONE
        wire.send_raw(plain_token("alice", "wrong"))
        assert wire.read_until_closed(10) == b"", "no token and no Kafka response on a failed v0 login"
    finally:
        wire.close()


def test_the_plaintext_listener_answers_sasl_requests_with_illegal_sasl_state(broker):
    wire = Wire(broker.bootstrap)
    try:
        error, _ = handshake(wire, "PLAIN")
        assert error == ILLEGAL_SASL_STATE
        error, _, _ = authenticate(wire, plain_token("alice", USERS["alice"]))
        assert error == ILLEGAL_SASL_STATE
        # The connection stays usable.
        assert [port for _, _, port in metadata_brokers(wire)] == [broker.plain_port]
    finally:
        wire.close()


@pytest.mark.parametrize("settings,enabled", [
    (["sasl.enabled.mechanisms=PLAIN", f"listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"],
     ["PLAIN"]),
    (["sasl.enabled.mechanisms=PLAIN", "listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512",
      f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={SCRAM_JAAS}"],
     ["SCRAM-SHA-512"]),
], ids=["unprefixed", "listener-prefix-wins"])
def test_sasl_enabled_mechanisms_decides_what_the_handshake_accepts(start_broker, settings, enabled):
    broker = start_broker(settings=settings)
    refused = next(m for m in ALL_MECHANISMS if m not in enabled)
    wire = Wire(broker.sasl)
    try:
        error, mechanisms = handshake(wire, refused)
        assert error == UNSUPPORTED_SASL_MECHANISM and mechanisms == enabled
    finally:
        wire.close()
    wire = Wire(broker.sasl)
    try:
        assert handshake(wire, enabled[0]) == (NONE, enabled)
    finally:
        wire.close()


def test_the_close_after_a_failed_authentication_is_delayed(start_broker):
    delay_ms = 2000
    broker = start_broker([f"connection.failed.authentication.delay.ms={delay_ms}"])
    wire = Wire(broker.sasl)
    try:
        assert handshake(wire, "PLAIN")[0] == NONE
        sent = time.monotonic()
        wire.send(SASL_AUTHENTICATE, 0, byte_array(plain_token("alice", "wrong")))
        received = wire.read_until_closed(delay_ms / 1000 + 15)
        closed_after = time.monotonic() - sent
        assert closed_after >= 0.8 * delay_ms / 1000, f"closed {closed_after:.2f} s after the failed login"
        assert len(received) >= 10, f"the error response before the close: {received!r}"
        (error,) = struct.unpack_from(">h", received, 8)
        assert error == SASL_AUTHENTICATION_FAILED
    finally:
        wire.close()


# --- the broker's log ---------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_logged(broker, offset, user):
    lines = ANSI.sub("", broker.log_since(offset)).splitlines()
    return [line for line in lines if "127.0.0.1" in line and user in line]


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("mallory", "whatever")])
def test_the_log_names_a_failed_plain_login_with_peer_and_user(broker, user, password):
    offset = broker.log_size()
    wire = Wire(broker.sasl)
    try:
        assert handshake(wire, "PLAIN")[0] == NONE
        assert authenticate(wire, plain_token(user, password))[0] == SASL_AUTHENTICATION_FAILED
    finally:
        wire.close()
    wait_until(lambda: failure_logged(broker, offset, user), timeout_s=10,
               what=f"a log line naming 127.0.0.1 and {user}")


def test_the_log_names_a_failed_scram_login_with_peer_and_user(broker):
    write_scram_user(broker, "carol", {"SCRAM-SHA-256": "carol-secret"})
    offset = broker.log_size()
    errors = []
    producer = Producer(sasl_config(broker, "SCRAM-SHA-256", "carol", "wrong", error_cb=errors.append))

    def failed():
        producer.poll(0.2)
        return any(e.code() == KafkaError._AUTHENTICATION for e in errors)

    wait_until(failed, timeout_s=30, what="librdkafka's authentication error")
    wait_until(lambda: failure_logged(broker, offset, "carol"), timeout_s=10,
               what="a log line naming 127.0.0.1 and carol")


# --- AlterUserScramCredentials / DescribeUserScramCredentials (KIP-554) -------------------------

def produces_as(broker, mechanism, user, password):
    """Whether `user` logs in with `password` and gets one message acknowledged."""
    errors, reports = [], []
    producer = Producer(sasl_config(broker, mechanism, user, password, error_cb=errors.append,
                                    **{"message.timeout.ms": 2000, "acks": "all"}))
    producer.produce("scram-admin", value=b"x", on_delivery=lambda err, msg: reports.append(err))

    def reported():
        producer.poll(0.2)
        return len(reports) == 1

    wait_until(reported, timeout_s=30, what=f"the delivery report of {user}'s message")
    # `is None`, not `== [None]`: a KafkaError compared with None raises in confluent-kafka.
    return reports[0] is None


def test_scram_users_made_and_removed_through_the_admin_api_log_in_and_then_cannot(broker):
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                       UserScramCredentialUpsertion)
    create_topic(broker, "scram-admin")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    upserts = [UserScramCredentialUpsertion("dave", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"dave-pw"),
               UserScramCredentialUpsertion("erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"erin-pw",
                                            b"a salt of erin's")]
    for user, f in admin.alter_user_scram_credentials(upserts).items():
        assert f.result(timeout=30) is None, user
    described = admin.describe_user_scram_credentials().result(timeout=30)
    seen = {u: sorted((i.mechanism, i.iterations) for i in d.scram_credential_infos) for u, d in described.items()}
    assert seen == {"dave": [(ScramMechanism.SCRAM_SHA_256, 8192)], "erin": [(ScramMechanism.SCRAM_SHA_512, 4096)]}, seen
    assert produces_as(broker, "SCRAM-SHA-256", "dave", "dave-pw")
    assert produces_as(broker, "SCRAM-SHA-512", "erin", "erin-pw")
    assert not produces_as(broker, "SCRAM-SHA-256", "dave", "not-dave-pw")
    assert not produces_as(broker, "SCRAM-SHA-256", "erin", "erin-pw"), "erin has no SHA-256 credential"

    # A new password replaces the old one at the next login.
    f = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        "dave", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"dave-new-pw")])["dave"]
    assert f.result(timeout=30) is None
    assert produces_as(broker, "SCRAM-SHA-256", "dave", "dave-new-pw")
    assert not produces_as(broker, "SCRAM-SHA-256", "dave", "dave-pw")

    deleted = admin.alter_user_scram_credentials([UserScramCredentialDeletion("dave", ScramMechanism.SCRAM_SHA_256)])
    assert deleted["dave"].result(timeout=30) is None
    assert not produces_as(broker, "SCRAM-SHA-256", "dave", "dave-new-pw")
    described = admin.describe_user_scram_credentials(["erin", "dave"])
    assert [i.iterations for i in described["erin"].result(timeout=30).scram_credential_infos] == [4096]
    with pytest.raises(KafkaException) as gone:
        described["dave"].result(timeout=30)
    assert gone.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND


def test_scram_credential_changes_kafka_refuses_are_refused_with_its_codes(broker):
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                       UserScramCredentialUpsertion)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def code_of(f):
        try:
            f.result(timeout=30)
        except KafkaException as e:
            return e.args[0].code()
        return None

    few = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        "frank", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1024), b"pw")])
    assert code_of(few["frank"]) == KafkaError.UNACCEPTABLE_CREDENTIAL
    many = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        "frank", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100000), b"pw")])
    assert code_of(many["frank"]) == KafkaError.UNACCEPTABLE_CREDENTIAL
    absent = admin.alter_user_scram_credentials([UserScramCredentialDeletion("grace", ScramMechanism.SCRAM_SHA_512)])
    assert code_of(absent["grace"]) == KafkaError.RESOURCE_NOT_FOUND
    twice = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("heidi", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"pw"),
        UserScramCredentialDeletion("heidi", ScramMechanism.SCRAM_SHA_256)])
    assert code_of(twice["heidi"]) == KafkaError.DUPLICATE_RESOURCE
    # None of those left a credential behind.
    assert admin.describe_user_scram_credentials().result(timeout=30) == {}


# --- re-authentication (KIP-368) -----------------------------------------------------------------

REAUTH_MS = 3000


def authenticate_v1(wire, token):
    """SaslAuthenticate v1: (error code, error message or None, auth bytes, session lifetime ms)."""
    body = wire.request(SASL_AUTHENTICATE, 1, byte_array(token))
    (error, n) = struct.unpack_from(">hh", body)
    pos = 4
    message = None
    if n >= 0:
        message = body[pos:pos + n].decode()
        pos += n
    (size,) = struct.unpack_from(">i", body, pos)
    auth_bytes = body[pos + 4:pos + 4 + max(size, 0)]
    (lifetime,) = struct.unpack_from(">q", body, pos + 4 + max(size, 0))
    return error, message, auth_bytes, lifetime


def test_sessions_last_connections_max_reauth_ms_and_are_renewed_on_the_same_connection(start_broker):
    broker = start_broker([f"connections.max.reauth.ms={REAUTH_MS}"])
    renewed, expired = Wire(broker.sasl), Wire(broker.sasl)
    try:
        for wire in (renewed, expired):
            assert handshake(wire, "PLAIN")[0] == NONE
            error, message, _, lifetime = authenticate_v1(wire, plain_token("alice", USERS["alice"]))
            assert (error, message, lifetime) == (NONE, None, REAUTH_MS)
        started = time.monotonic()
        # Renewed two thirds into the session: the connection serves past the first session's end.
        wait_until(lambda: time.monotonic() - started > REAUTH_MS / 1000 * 2 / 3, timeout_s=10, what="the renewal time")
        assert handshake(renewed, "PLAIN")[0] == NONE
        assert authenticate_v1(renewed, plain_token("alice", USERS["alice"]))[::3] == (NONE, REAUTH_MS)
        wait_until(lambda: time.monotonic() - started > REAUTH_MS / 1000 + 0.1, timeout_s=10, what="the first session's end")
        assert [port for _, _, port in metadata_brokers(renewed)] == [broker.sasl_port]
        # Not renewed: the first request after the session's end closes the connection.
        expired.send(METADATA, 1, struct.pack(">i", -1))
        assert expired.read_until_closed(10) == b""
        # A renewal may not change the principal: refused, and the connection closes.
        assert handshake(renewed, "PLAIN")[0] == NONE
        error, _, _, _ = authenticate_v1(renewed, plain_token("admin", USERS["admin"]))
        assert error == SASL_AUTHENTICATION_FAILED
        assert renewed.read_until_closed(10) == b""
    finally:
        renewed.close()
        expired.close()


def test_librdkafka_keeps_producing_across_re_authentications(start_broker):
    broker = start_broker([f"connections.max.reauth.ms={REAUTH_MS}"])
    create_topic(broker, "reauth")
    p = Producer(sasl_config(broker, "PLAIN", "alice", USERS["alice"]))
    delivered, errors = [], []

    def on_delivery(err, msg):
        (errors if err is not None else delivered).append(err)

    # Over two session lifetimes, a record every 50 ms: every one is delivered, on
    # connections that re-authenticate instead of failing.
    deadline = time.monotonic() + 2 * REAUTH_MS / 1000
    sent = 0
    while time.monotonic() < deadline:
        p.produce("reauth", value=b"%d" % sent, on_delivery=on_delivery)
        sent += 1
        p.poll(0.05)
    assert p.flush(30) == 0
    assert errors == [] and len(delivered) == sent, (errors[:3], len(delivered), sent)
    assert end_offsets(broker, "reauth", 1) == [sent]

"""TLS listeners as Apache Kafka configures them (the "Encryption and Authentication using SSL"
chapter of Kafka's documentation, KIP-651 PEM stores, KIP-371 principal mapping rules), met by
real clients: confluent-kafka and Debian's kcat (librdkafka, OpenSSL), kafka-python (Python's
ssl module, which checks the broker's host name: the certificates of scripts/make-certs name
127.0.0.1) and the `sluice` CLI.

- SSL and SASL_SSL listeners (`listeners`, the protocol as the listener's name) with a PEM
  keystore and truststore (`ssl.keystore.location`, `ssl.truststore.location`, or the PEM text
  itself in `ssl.keystore.key`, `ssl.keystore.certificate.chain`, `ssl.truststore.certificates`),
  settings per listener with the `listener.name.<listener>.` prefix;
- records produced and read back (in a group, so FindCoordinator names the TLS listener too)
  over SSL and over SASL_SSL with SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN, by each client; a
  wrong SASL password over TLS is refused with SASL_AUTHENTICATION_FAILED;
- what the handshake refuses: a client that does not trust the broker's CA, a client without a
  certificate (or with one of another CA) where `ssl.client.auth=required`, a client offering
  only a protocol not in `ssl.enabled.protocols`, and a PLAINTEXT client on the TLS port (no
  Kafka answer; the broker keeps serving). The broker logs each refusal at WARN with the peer's
  address ("TLS connection refused ... peer=127.0.0.1:<port>"), checked here for connections
  whose local port the test knows;
- the principal of a client certificate: `User:` and the subject in RFC 2253 form
  (User:CN=alice,OU=clients,O=Sluice), which the ACLs of Kafka's AclAuthorizer then govern, or
  what `ssl.principal.mapping.rules` makes of it (User:alice);
- certificates replaced on disk without a restart: new connections get the new keystore and
  truststore within a bounded wait, existing ones keep theirs, and an unusable replacement is
  logged and ignored;
- what Sluice refuses at start, naming the key: a JKS or PKCS12 keystore, a TLS listener
  without a keystore or with a missing file, an encrypted key (`ssl.key.password`).

Certificates come from scripts/make-certs (openssl), made once per module: the suite's CA with
clients alice and bob, and a second, unrelated CA (with client mallory) whose certificates the
broker must not accept. The brokers have a PLAINTEXT listener (User:ANONYMOUS: topics, SCRAM
users, ACLs and end offsets are set up and checked there) and the TLS listeners of conftest's
Broker (`tls_listeners`); brokers whose configuration tests do not change are shared by the
module."""

import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

from conftest import SLUICE_CLI, Broker, wait_until
from certs import Certs  # noqa: E402  (tests/support, on the path through conftest)
from test_sasl import NONE, SASL_AUTHENTICATION_FAILED, Wire, api_versions, authenticate, handshake, plain_token

MESSAGES = 200
CLIENT_WAIT_S = 60
CLI_TIMEOUT_S = 60
KCAT_TIMEOUT_S = 90
# How long a refusal may take to reach the broker's log.
LOG_WAIT_S = 10
# How long replaced certificate files may take to be used (the broker looks at most once a second).
RELOAD_WAIT_S = 30

USERS = {"admin": "admin-secret", "alice": "alice-secret"}
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" ' + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
# The SASL_SSL listener as Kafka configures one: the mechanisms and a JAAS entry per mechanism.
SASL_SSL_SETTINGS = [
    "listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    f"listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}",
    f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={SCRAM_JAAS}",
    f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={SCRAM_JAAS}",
]
SCRAM_USER, SCRAM_PASSWORD = "carol", "carol-secret"
AUTHORIZER_SETTINGS = ["authorizer.class.name=kafka.security.authorizer.AclAuthorizer", "super.users=User:ANONYMOUS"]
ALICE_DN = "User:CN=alice,OU=clients,O=Sluice"
BOB_DN = "User:CN=bob,OU=clients,O=Sluice"
TOPIC_AUTHORIZATION_FAILED = 29
API_VERSIONS = 18
TLS_ALERT = 0x15  # the content type of a TLS alert record

# (listener protocol, SASL mechanism) of the produce-and-consume tests.
PATHS = [("SSL", None), ("SASL_SSL", "SCRAM-SHA-512"), ("SASL_SSL", "SCRAM-SHA-256"), ("SASL_SSL", "PLAIN")]
PATH_IDS = ["ssl", "sasl_ssl-scram-sha-512", "sasl_ssl-scram-sha-256", "sasl_ssl-plain"]


# --- certificates -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"), "alice", "bob")


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory):
    """A second CA, unrelated to `certs`' (the same subject name, another key)."""
    return Certs(tmp_path_factory.mktemp("other-certs"), "mallory")


def store_settings(certs):
    return [f"ssl.keystore.location={certs.broker}", f"ssl.truststore.location={certs.ca}"]


# --- brokers ------------------------------------------------------------------------------------

def log_size(broker):
    try:
        return broker.log_path.stat().st_size
    except FileNotFoundError:
        return 0


def log_since(broker, offset):
    with open(broker.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def call_failed(request):
    return getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed


def shared(broker, request):
    """A module broker for one test: its log since the test began printed if the test failed."""
    offset = log_size(broker)
    yield broker
    if call_failed(request):
        print(f"\n--- sluiced log (during the test) ---\n{log_since(broker, offset)[-20000:]}")


def cli(bootstrap, *args, properties=(), config=None, stdin=None):
    cmd = [SLUICE_CLI, "-b", bootstrap]
    for p in properties:
        cmd += ["-X", p]
    if config:
        cmd += ["--command-config", str(config)]
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


@pytest.fixture(scope="module")
def tls_module_broker(tmp_path_factory, certs):
    """SSL (client certificates required, by the listener-prefixed key) and SASL_SSL (no client
    certificates) listeners, and a SCRAM user made with the CLI for both SCRAM mechanisms."""
    b = Broker(tmp_path_factory.mktemp("tls"), store_settings(certs) + SASL_SSL_SETTINGS
               + ["listener.name.ssl.ssl.client.auth=required"], tls_listeners=("SSL", "SASL_SSL"))
    b.start()
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        done = cli(b.bootstrap, "user", "scram", "add", SCRAM_USER, "--password", SCRAM_PASSWORD,
                   "--mechanism", mechanism)
        assert done.returncode == 0, done.stderr
    yield b
    b.stop()


@pytest.fixture
def broker(tls_module_broker, request):
    yield from shared(tls_module_broker, request)


@pytest.fixture(scope="module")
def acl_module_broker(tmp_path_factory, certs):
    """An SSL listener requiring client certificates, and Kafka's AclAuthorizer."""
    b = Broker(tmp_path_factory.mktemp("tls-acl"), store_settings(certs) + AUTHORIZER_SETTINGS
               + ["ssl.client.auth=required"], tls_listeners=("SSL",))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def acl_broker(acl_module_broker, request):
    yield from shared(acl_module_broker, request)


@pytest.fixture
def start_broker(tmp_path, request):
    """`start_broker(settings, tls_listeners=("SSL",))`: a started broker of the test's own,
    stopped afterwards (SIGKILL and its log printed when the test failed)."""
    started = []

    def start(settings, tls_listeners=("SSL",)):
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        b = Broker(workdir, settings, tls_listeners=tls_listeners)
        started.append(b)
        b.start()
        return b

    yield start
    failed = call_failed(request)
    for b in started:
        b.stop(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- sluiced log ({b.workdir.name}) ---\n{b.log()}")


def create_topic(broker, name, partitions=1):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(timeout=30)


def end_offsets(broker, topic, partitions):
    """High watermarks, read through the PLAINTEXT listener."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "tls-check", "enable.auto.commit": False})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)]
    finally:
        c.close()


def record(i):
    return f"k{i % 7}".encode(), f"v{i}".encode()


def check_read_back(broker, topic, partitions, acked, got):
    assert len(acked) == MESSAGES
    assert sorted(got) == sorted(acked), "every acknowledged record read back, at its offset"
    assert end_offsets(broker, topic, partitions) == [sum(1 for p, *_ in acked if p == i) for i in range(partitions)]


# --- raw TLS connections (Python's ssl module), whose local port the test knows ----------------

def tls_context(cafile, certfile=None, keyfile=None, version=None):
    ctx = ssl.create_default_context(cafile=str(cafile))
    if certfile:
        ctx.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


class TlsWire(Wire):
    """test_sasl's Wire (Kafka's framing) over TLS, on a connected socket (the handshake is made
    here, as a client checking the host name 127.0.0.1)."""

    def __init__(self, raw, ctx):
        self.local_port = raw.getsockname()[1]
        self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.correlation = 100


def connect(address):
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def tls_wire(address, ctx):
    raw = connect(address)
    try:
        return TlsWire(raw, ctx)
    except BaseException:
        raw.close()
        raise


def tls_attempt(address, ctx):
    """Connects with `ctx` and asks ApiVersions: (local port, None when the broker answered, or
    the error the connection failed with)."""
    raw = connect(address)
    local_port = raw.getsockname()[1]
    try:
        wire = TlsWire(raw, ctx)
        error, _ = api_versions(wire)  # with TLS 1.3 a refused client certificate shows here
        assert error == NONE
        return local_port, None
    except (OSError, ConnectionError, struct.error) as e:  # ssl.SSLError is an OSError
        return local_port, e
    finally:
        raw.close()


def refused(address, ctx):
    """Connects with `ctx`, expecting the handshake to be refused: (local port, the error)."""
    port, error = tls_attempt(address, ctx)
    assert error is not None, "the broker answered a connection it should have refused"
    return port, error


def answered(address, ctx):
    port, error = tls_attempt(address, ctx)
    assert error is None, f"the connection was refused: {error!r}"
    return port


def plaintext_attempt(address):
    """Sends ApiVersions in the clear and reads until the broker closes: whatever comes back (a
    TLS alert at most) is no Kafka response. Returns the local port."""
    wire = Wire(address)
    try:
        port = wire.sock.getsockname()[1]
        wire.send(API_VERSIONS, 0, b"")
        got = wire.read_until_closed(10)
    finally:
        wire.close()
    assert got == b"" or got[0] == TLS_ALERT, f"not a TLS alert record: {got!r}"
    return port


def refusal_lines(broker, offset, port):
    return [line for line in log_since(broker, offset).splitlines()
            if "TLS connection refused" in line and re.search(rf"\bpeer=127\.0\.0\.1:{port}\b", line)]


def check_refusal_logged(broker, offset, port, what):
    """The broker logged, at WARN, the refusal of `what`, the connection from local port `port`."""
    try:
        wait_until(lambda: refusal_lines(broker, offset, port), timeout_s=LOG_WAIT_S, interval_s=0.1,
                   what=f"a 'TLS connection refused' line with peer=127.0.0.1:{port}")
    except AssertionError as e:
        raise AssertionError(f"{what}: {e}; the log since:\n{log_since(broker, offset)[-3000:]}") from None
    lines = refusal_lines(broker, offset, port)
    assert all(" WARN " in line for line in lines), lines


# --- confluent-kafka ----------------------------------------------------------------------------

def confluent_conf(broker, certs, protocol, mechanism=None, client="alice", **extra):
    conf = {"bootstrap.servers": broker.tls[protocol], "security.protocol": protocol, "ssl.ca.location": str(certs.ca)}
    if protocol == "SSL" and client:
        cert, key = certs.client(client)
        conf.update({"ssl.certificate.location": str(cert), "ssl.key.location": str(key)})
    if mechanism:
        user, password = login(mechanism)
        conf.update({"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password})
    conf.update(extra)
    return conf


def login(mechanism):
    return ("alice", USERS["alice"]) if mechanism == "PLAIN" else (SCRAM_USER, SCRAM_PASSWORD)


def produce_confluent(conf, topic, count=MESSAGES):
    """Produces `count` keyed records; [(partition, offset, key, value)] as acknowledged."""
    producer = Producer({**conf, "acks": "all", "linger.ms": 5})
    acked, errors = [], []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            acked.append((msg.partition(), msg.offset(), msg.key(), msg.value()))

    for i in range(count):
        key, value = record(i)
        producer.produce(topic, key=key, value=value, on_delivery=report)
        producer.poll(0)
    assert producer.flush(CLIENT_WAIT_S) == 0, "every record delivered within the bound"
    assert not errors, errors[:3]
    return acked


def consume_confluent(conf, topic, group, count=MESSAGES):
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    got = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + CLIENT_WAIT_S * 2
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


@pytest.mark.parametrize("protocol,mechanism", PATHS, ids=PATH_IDS)
def test_confluent_kafka_produces_and_consumes_in_a_group(broker, certs, protocol, mechanism):
    topic = f"ck-{protocol}-{mechanism or 'cert'}".lower()
    create_topic(broker, topic, 2)
    conf = confluent_conf(broker, certs, protocol, mechanism)
    acked = produce_confluent(conf, topic)
    got = consume_confluent(conf, topic, f"{topic}-group")
    check_read_back(broker, topic, 2, acked, got)
    # The group's offsets were committed through the TLS listener's coordinator.
    check = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"{topic}-group"})
    try:
        committed = check.committed([TopicPartition(topic, p) for p in range(2)], timeout=30)
    finally:
        check.close()
    assert [tp.offset for tp in committed] == end_offsets(broker, topic, 2)


# --- kafka-python 2.0.2 -------------------------------------------------------------------------

@pytest.mark.parametrize("protocol,mechanism", PATHS, ids=PATH_IDS)
def test_kafka_python_produces_and_consumes_in_a_group(broker, certs, protocol, mechanism):
    from kafka import KafkaConsumer, KafkaProducer
    topic = f"kp-{protocol}-{mechanism or 'cert'}".lower()
    create_topic(broker, topic, 2)
    # ssl_check_hostname stays on (its default): the broker's certificate names 127.0.0.1.
    conf = {"bootstrap_servers": broker.tls[protocol], "security_protocol": protocol, "ssl_cafile": str(certs.ca),
            "request_timeout_ms": 30000}
    if protocol == "SSL":
        cert, key = certs.client("alice")
        conf.update(ssl_certfile=str(cert), ssl_keyfile=str(key))
    else:
        user, password = login(mechanism)
        conf.update(sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)

    producer = KafkaProducer(acks="all", linger_ms=5, **conf)
    try:
        futures = [(producer.send(topic, key=record(i)[0], value=record(i)[1]), *record(i)) for i in range(MESSAGES)]
        producer.flush(timeout=CLIENT_WAIT_S)
        acked = []
        for future, key, value in futures:
            meta = future.get(timeout=CLIENT_WAIT_S)
            acked.append((meta.partition, meta.offset, key, value))
    finally:
        producer.close(timeout=30)

    consumer = KafkaConsumer(topic, group_id=f"{topic}-group", auto_offset_reset="earliest",
                             enable_auto_commit=False, **conf)
    got = []
    try:
        deadline = time.monotonic() + CLIENT_WAIT_S * 2
        while len(got) < MESSAGES and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got += [(r.partition, r.offset, r.key, r.value) for r in records]
        consumer.commit()
    finally:
        consumer.close()
    check_read_back(broker, topic, 2, acked, got)


# --- kcat (Debian's, librdkafka 2.0.2) -----------------------------------------------------------

def kcat(args, stdin=None, timeout=KCAT_TIMEOUT_S):
    return subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=timeout)


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
@pytest.mark.parametrize("protocol,mechanism", PATHS, ids=PATH_IDS)
def test_kcat_produces_and_consumes(broker, certs, protocol, mechanism):
    topic = f"kcat-{protocol}-{mechanism or 'cert'}".lower()
    create_topic(broker, topic)
    args = ["-b", broker.tls[protocol]]
    for key, value in confluent_conf(broker, certs, protocol, mechanism).items():
        if key != "bootstrap.servers":
            args += ["-X", f"{key}={value}"]
    sent = "".join(f"key-{i % 13}:value {i} {'x' * (i % 23)}\n" for i in range(MESSAGES)).encode()

    produced = kcat([*args, "-P", "-t", topic, "-K", ":", "-X", "acks=all"], stdin=sent)
    assert produced.returncode == 0, produced.stderr.decode(errors="replace")
    assert end_offsets(broker, topic, 1) == [MESSAGES], "every line is a record"
    consumed = kcat([*args, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k:%s\n"])
    assert consumed.returncode == 0, consumed.stderr.decode(errors="replace")
    assert consumed.stdout == sent, "the same lines, in order"


# --- SASL over TLS: a wrong password ------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_wrong_sasl_password_over_tls_is_refused_and_nothing_is_written(broker, certs, mechanism):
    topic = f"denied-{mechanism.lower()}"
    create_topic(broker, topic)
    user, password = login(mechanism)
    errors, reports = [], []
    producer = Producer(confluent_conf(broker, certs, "SASL_SSL", None, error_cb=errors.append,
                                       **{"sasl.mechanism": mechanism, "sasl.username": user,
                                          "sasl.password": "not-" + password, "message.timeout.ms": 3000}))
    producer.produce(topic, value=b"must not land", on_delivery=lambda err, msg: reports.append(err))

    def authentication_error_seen():
        producer.poll(0.2)
        return any(e.code() == KafkaError._AUTHENTICATION for e in errors)

    wait_until(authentication_error_seen, timeout_s=30, what=f"an _AUTHENTICATION error (errors so far: {errors})")
    # Kafka's SaslAuthenticate error messages (PlainSaslServer's; SaslServerAuthenticator's for SCRAM).
    expected = ("Authentication failed: Invalid username or password" if mechanism == "PLAIN" else
                f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}")
    assert any(expected in e.str() for e in errors), [e.str() for e in errors]
    assert producer.flush(30) == 0
    assert len(reports) == 1 and reports[0] is not None, reports
    assert end_offsets(broker, topic, 1) == [0], "nothing was written"


def test_sasl_authenticate_over_tls_answers_sasl_authentication_failed(broker, certs):
    """The raw exchange inside TLS: SaslHandshake v1, then SaslAuthenticate v0 with a wrong PLAIN
    password answered with error 58, and a right one with NONE."""
    ctx = tls_context(certs.ca)
    wire = tls_wire(broker.tls["SASL_SSL"], ctx)
    try:
        error, mechanisms = handshake(wire, "PLAIN")
        assert error == NONE and sorted(mechanisms) == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        error, message, _ = authenticate(wire, plain_token("alice", "wrong"))
        assert (error, message) == (SASL_AUTHENTICATION_FAILED, "Authentication failed: Invalid username or password")
    finally:
        wire.close()
    wire = tls_wire(broker.tls["SASL_SSL"], ctx)
    try:
        assert handshake(wire, "PLAIN")[0] == NONE
        assert authenticate(wire, plain_token("alice", USERS["alice"]))[0] == NONE
        assert api_versions(wire)[0] == NONE
    finally:
        wire.close()


# --- refused handshakes -------------------------------------------------------------------------

def test_a_client_that_does_not_trust_the_brokers_ca_fails_the_handshake(broker, certs, other_certs):
    cert, key = certs.client("alice")
    # Python's ssl: the broker's certificate does not verify against the other CA.
    _, error = refused(broker.tls["SSL"], tls_context(other_certs.ca, cert, key))
    assert isinstance(error, ssl.SSLCertVerificationError), repr(error)

    # librdkafka: the SSL error reported, and no metadata.
    errors = []
    producer = Producer({**confluent_conf(broker, certs, "SSL"), "ssl.ca.location": str(other_certs.ca),
                         "error_cb": errors.append})

    def ssl_error_seen():
        producer.poll(0.2)
        return any(e.code() == KafkaError._SSL for e in errors)

    wait_until(ssl_error_seen, timeout_s=30, what=f"an _SSL error (errors so far: {errors})")
    assert any("certificate verify failed" in e.str() for e in errors), [e.str() for e in errors]
    with pytest.raises(KafkaException):
        producer.list_topics(timeout=3)
    # The broker serves clients that trust its CA all along.
    answered(broker.tls["SSL"], tls_context(certs.ca, cert, key))


def test_required_client_auth_refuses_a_client_without_a_certificate_of_its_ca(broker, certs, other_certs):
    address = broker.tls["SSL"]
    refused(address, tls_context(certs.ca))
    refused(address, tls_context(certs.ca, *other_certs.client("mallory")))
    # A certificate of the broker's CA is accepted, whether key and chain come apart or in one file.
    answered(address, tls_context(certs.ca, *certs.client("bob")))
    answered(address, tls_context(certs.ca, certs.client_pem("alice")))

    # librdkafka without a certificate: no metadata; with one: metadata naming the SSL listener.
    no_cert = Producer(confluent_conf(broker, certs, "SSL", client=None))
    with pytest.raises(KafkaException):
        no_cert.list_topics(timeout=5)
    with_cert = AdminClient(confluent_conf(broker, certs, "SSL", client="bob"))
    assert [f"{b.host}:{b.port}" for b in with_cert.list_topics(timeout=30).brokers.values()] == [address]


def test_a_plaintext_client_on_the_tls_port_gets_no_kafka_answer_and_the_broker_stays_healthy(broker, certs):
    address = broker.tls["SSL"]
    plaintext_attempt(address)

    # confluent-kafka without security.protocol: no metadata within its bound.
    plaintext = AdminClient({"bootstrap.servers": address})
    with pytest.raises(KafkaException):
        plaintext.list_topics(timeout=5)

    # Both listeners still serve.
    assert AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=30).brokers
    assert AdminClient(confluent_conf(broker, certs, "SSL")).list_topics(timeout=30).brokers
    answered(address, tls_context(certs.ca, *certs.client("alice")))


def test_each_refused_connection_is_logged_at_warn_with_its_peer(start_broker, certs, other_certs):
    """One refusal after the other, each right after the broker started or after the one
    before: an operator looking for why a client cannot connect finds its address in the log."""
    b = start_broker(store_settings(certs) + ["ssl.client.auth=required"])
    address = b.tls["SSL"]
    alice = certs.client("alice")
    attempts = [
        ("a client not trusting the broker's CA", lambda: refused(address, tls_context(other_certs.ca, *alice))[0]),
        ("a client without a certificate", lambda: refused(address, tls_context(certs.ca))[0]),
        ("a client with another CA's certificate",
         lambda: refused(address, tls_context(certs.ca, *other_certs.client("mallory")))[0]),
        ("a PLAINTEXT client", lambda: plaintext_attempt(address)),
    ]
    for what, attempt in attempts:
        offset = log_size(b)
        port = attempt()
        check_refusal_logged(b, offset, port, what)
    answered(address, tls_context(certs.ca, *alice))


# --- the CLI ------------------------------------------------------------------------------------

def test_the_cli_speaks_ssl_with_kcat_properties_and_java_client_properties(broker, certs, tmp_path):
    address = broker.tls["SSL"]
    create_topic(broker, "cli-tls")
    cert, key = certs.client("alice")
    props = ["security.protocol=SSL", f"ssl.ca.location={certs.ca}", f"ssl.certificate.location={cert}",
             f"ssl.key.location={key}"]
    listed = cli(address, "topic", "list", properties=props)
    assert listed.returncode == 0, listed.stderr
    assert "cli-tls" in listed.stdout.split(), listed.stdout
    produced = cli(address, "produce", "-t", "cli-tls", properties=props, stdin="one\ntwo\n")
    assert produced.returncode == 0, produced.stderr

    # Kafka's tools' way: a properties file with the Java client's PEM store keys.
    config = tmp_path / "client-ssl.properties"
    config.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={certs.ca}\n"
                      f"ssl.keystore.type=PEM\nssl.keystore.location={certs.client_pem('alice')}\n")
    consumed = cli(address, "consume", "-t", "cli-tls", "-o", "beginning", "-e", config=config)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.split() == ["one", "two"]

    # SASL_SSL with a SCRAM user.
    sasl = cli(broker.tls["SASL_SSL"], "topic", "list", properties=[
        "security.protocol=SASL_SSL", f"ssl.ca.location={certs.ca}", "sasl.mechanism=SCRAM-SHA-512",
        f"sasl.username={SCRAM_USER}", f"sasl.password={SCRAM_PASSWORD}"])
    assert sasl.returncode == 0, sasl.stderr
    assert "cli-tls" in sasl.stdout.split(), sasl.stdout

    # Without its certificate (the listener requires one), or trusting nothing the broker shows,
    # the CLI fails within its bound, non-zero.
    no_cert = cli(address, "topic", "list", properties=props[:2])
    assert no_cert.returncode != 0, no_cert.stdout
    untrusting = cli(address, "topic", "list", properties=["security.protocol=SSL"] + props[2:])
    assert untrusting.returncode != 0 and "certificate" in untrusting.stderr.lower(), untrusting.stderr
    assert end_offsets(broker, "cli-tls", 1) == [2]


# --- the principal of a client certificate --------------------------------------------------------

def allow(topic, principal, operation=AclOperation.WRITE):
    return AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*", operation,
                      AclPermissionType.ALLOW)


def create_acls(broker, bindings):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for binding, future in admin.create_acls(bindings, request_timeout=30).items():
        assert future.result(timeout=30) is None, binding


def delivery_errors(broker, certs, client, topic, count=3):
    """Produces `count` records over SSL with `client`'s certificate; each delivery report's error
    code (None: delivered)."""
    producer = Producer(confluent_conf(broker, certs, "SSL", client=client, acks="all",
                                       **{"message.timeout.ms": 10000}))
    reports = []
    for i in range(count):
        producer.produce(topic, value=f"{client}-{i}".encode(), on_delivery=lambda err, msg: reports.append(err))
    assert producer.flush(CLIENT_WAIT_S) == 0, "every delivery report came"
    return [None if err is None else err.code() for err in reports]


def writes_as(broker, certs, client, topic):
    """Waits until `client` may write to `topic` (an ACL just made takes effect)."""
    wait_until(lambda: delivery_errors(broker, certs, client, topic, 1) == [None], timeout_s=30, interval_s=0.2,
               what=f"{client} writing to {topic}")


def test_the_certificates_subject_is_the_principal_acls_govern(acl_broker, certs):
    b = acl_broker
    for topic in ("dn-short-name", "dn-alice", "dn-other"):
        create_topic(b, topic)
    # The short name first: once the later ACL is enforced, this one is too.
    create_acls(b, [allow("dn-short-name", "User:alice")])
    create_acls(b, [allow("dn-alice", ALICE_DN)])
    writes_as(b, certs, "alice", "dn-alice")
    assert delivery_errors(b, certs, "alice", "dn-alice") == [None] * 3
    assert delivery_errors(b, certs, "alice", "dn-other") == [TOPIC_AUTHORIZATION_FAILED] * 3
    assert delivery_errors(b, certs, "alice", "dn-short-name") == [TOPIC_AUTHORIZATION_FAILED] * 3
    assert delivery_errors(b, certs, "bob", "dn-alice") == [TOPIC_AUTHORIZATION_FAILED] * 3
    # bob's own ACL names his subject.
    create_acls(b, [allow("dn-other", BOB_DN)])
    writes_as(b, certs, "bob", "dn-other")
    assert end_offsets(b, "dn-alice", 1) == [4]
    assert end_offsets(b, "dn-other", 1) == [1]
    assert end_offsets(b, "dn-short-name", 1) == [0]


def test_principal_mapping_rules_shorten_the_subject(start_broker, certs):
    b = start_broker(store_settings(certs) + AUTHORIZER_SETTINGS + [
        "ssl.client.auth=required", "ssl.principal.mapping.rules=RULE:^CN=([^,]+),OU=clients.*$/$1/,DEFAULT"])
    for topic in ("map-dn", "map-short"):
        create_topic(b, topic)
    create_acls(b, [allow("map-dn", ALICE_DN)])
    create_acls(b, [allow("map-short", "User:alice")])
    writes_as(b, certs, "alice", "map-short")
    assert delivery_errors(b, certs, "alice", "map-short") == [None] * 3
    # The subject itself is no longer alice's principal.
    assert delivery_errors(b, certs, "alice", "map-dn") == [TOPIC_AUTHORIZATION_FAILED] * 3
    assert delivery_errors(b, certs, "bob", "map-short") == [TOPIC_AUTHORIZATION_FAILED] * 3
    assert end_offsets(b, "map-short", 1) == [4]
    assert end_offsets(b, "map-dn", 1) == [0]


# --- other store and protocol settings ----------------------------------------------------------

def test_pem_text_stores_and_requested_client_auth(start_broker, certs, other_certs):
    """The keystore and truststore given as PEM text; `requested`: a client may come without a
    certificate, but one it offers must be of the truststore's CA."""
    key = certs.dir.joinpath("broker-key.pem").read_text()
    chain = certs.dir.joinpath("broker-cert.pem").read_text() + certs.ca.read_text()
    b = start_broker([f"ssl.keystore.key={key}", f"ssl.keystore.certificate.chain={chain}",
                      f"ssl.truststore.certificates={certs.ca.read_text()}", "ssl.client.auth=requested"])
    address = b.tls["SSL"]
    answered(address, tls_context(certs.ca))
    answered(address, tls_context(certs.ca, *certs.client("alice")))
    refused(address, tls_context(certs.ca, *other_certs.client("mallory")))
    topic = "pem-text"
    create_topic(b, topic, 2)
    conf = confluent_conf(b, certs, "SSL", client=None)
    acked = produce_confluent(conf, topic)
    check_read_back(b, topic, 2, acked, consume_confluent(conf, topic, "pem-text-group"))


@pytest.mark.parametrize("enabled,offered,accepted", [
    ("TLSv1.3", ssl.TLSVersion.TLSv1_2, False),
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3, True),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_3, False),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2, True),
], ids=["1.3-only-refuses-1.2", "1.3-only-serves-1.3", "1.2-only-refuses-1.3", "1.2-only-serves-1.2"])
def test_only_the_enabled_protocols_are_served(start_broker, certs, enabled, offered, accepted):
    b = start_broker(store_settings(certs) + [f"listener.name.ssl.ssl.enabled.protocols={enabled}"])
    ctx = tls_context(certs.ca, version=offered)
    if accepted:
        wire = tls_wire(b.tls["SSL"], ctx)
        try:
            assert wire.sock.version() == enabled
            assert api_versions(wire)[0] == NONE
        finally:
            wire.close()
    else:
        _, error = refused(b.tls["SSL"], ctx)
        assert isinstance(error, ssl.SSLError), repr(error)


# --- certificates replaced without a restart -----------------------------------------------------

def replace(path, source_text):
    """Replaces `path` at once (a new file renamed over it), as deployment tools do."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(source_text)
    os.replace(tmp, path)


def test_replaced_keystore_and_truststore_are_used_by_new_connections(start_broker, certs, other_certs, tmp_path):
    keystore, truststore = tmp_path / "keystore.pem", tmp_path / "truststore.pem"
    shutil.copy(certs.broker, keystore)
    shutil.copy(certs.ca, truststore)
    b = start_broker([f"ssl.keystore.location={keystore}", f"ssl.truststore.location={truststore}",
                      "ssl.client.auth=required"])
    address = b.tls["SSL"]
    old = tls_context(certs.ca, *certs.client("alice"))
    new = tls_context(other_certs.ca, *other_certs.client("mallory"))
    answered(address, old)
    refused(address, new)
    kept = tls_wire(address, old)
    try:
        # An unusable replacement is logged and ignored: the old certificates keep serving.
        offset = log_size(b)
        replace(keystore, "not a PEM file\n")

        def broken_file_logged():
            answered(address, old)
            return str(keystore) in log_since(b, offset)

        wait_until(broken_file_logged, timeout_s=RELOAD_WAIT_S, interval_s=0.2,
                   what=f"a log line naming the unusable {keystore}")
        answered(address, old)
        refused(address, new)

        # The second CA's broker certificate and truststore: new connections get them.
        replace(keystore, other_certs.broker.read_text())
        replace(truststore, other_certs.ca.read_text())
        wait_until(lambda: tls_attempt(address, new)[1] is None, timeout_s=RELOAD_WAIT_S, interval_s=0.2,
                   what="a client of the new CA accepted")
        answered(address, new)
        _, error = refused(address, old)
        assert isinstance(error, ssl.SSLCertVerificationError), repr(error)

        # The connection made before keeps its session: it still answers.
        assert api_versions(kept)[0] == NONE
    finally:
        kept.close()

    # A real client trusting only the new CA produces; one trusting only the old one cannot connect.
    topic = "reloaded"
    create_topic(b, topic)
    cert, key = other_certs.client("mallory")
    conf = {"bootstrap.servers": address, "security.protocol": "SSL", "ssl.ca.location": str(other_certs.ca),
            "ssl.certificate.location": str(cert), "ssl.key.location": str(key)}
    acked = produce_confluent(conf, topic, 20)
    assert end_offsets(b, topic, 1) == [len(acked)]
    with pytest.raises(KafkaException):
        AdminClient(confluent_conf(b, certs, "SSL")).list_topics(timeout=5)


# --- refused at start ---------------------------------------------------------------------------

START_REFUSALS = {
    # id: (settings beyond the listeners, what the message names)
    "jks-keystore": (lambda c: [f"ssl.keystore.location={c.broker}", "ssl.keystore.type=JKS"],
                     ["ssl.keystore.type", "JKS"]),
    "pkcs12-keystore": (lambda c: [f"ssl.keystore.location={c.broker}", "ssl.keystore.type=PKCS12"],
                        ["ssl.keystore.type", "PKCS12"]),
    "listener-jks-keystore": (lambda c: [f"ssl.keystore.location={c.broker}",
                                         "listener.name.ssl.ssl.keystore.type=JKS"], ["ssl.keystore.type", "JKS"]),
    "no-keystore": (lambda c: [], ["ssl.keystore.location"]),
    "missing-keystore-file": (lambda c: [f"ssl.keystore.location={c.dir / 'absent.pem'}"],
                              ["ssl.keystore.location", "absent.pem"]),
    "encrypted-key": (lambda c: [f"ssl.keystore.location={c.broker}", "ssl.key.password=secret"],
                      ["ssl.key.password"]),
}


@pytest.mark.parametrize("case", list(START_REFUSALS))
def test_unusable_tls_settings_stop_the_broker_at_start_naming_the_key(tmp_path, certs, case):
    settings, named = START_REFUSALS[case]
    b = Broker(tmp_path, settings(certs), tls_listeners=("SSL",))
    try:
        with pytest.raises(RuntimeError, match=r"sluiced exited with -?\d+") as failed:
            b.start()
    finally:
        b.stop(signal.SIGKILL)  # only if it did start after all
    message = str(failed.value)
    code = int(re.search(r"sluiced exited with (-?\d+)", message).group(1))
    assert code > 0, f"an error exit, not a signal or success: {message}"
    for word in named:
        assert word in b.log(), f"{word!r} named in the log: {message}"
    if case == "encrypted-key":
        assert "secret" not in b.log().replace("ssl.key.password", ""), "the password itself is not printed"

"""ACLs as Apache Kafka's authorizer keeps them (KIP-11, the "Authorization and ACLs" chapter of
Kafka's documentation, KIP-290 prefixed ACLs), through the admin API of real clients and in the
keeper, with the authorizer on (`authorizer.class.name`):

- CreateAcls / DescribeAcls / DeleteAcls (API keys 30 / 29 / 31) through confluent-kafka's and
  kafka-python's admin clients: every resource type, LITERAL (with the "*" wildcard) and
  PREFIXED patterns, and the filters' ANY and MATCH pattern types, which match as Kafka's
  ResourcePatternFilter does;
- what Kafka refuses: INVALID_REQUEST for a binding it cannot store (a CLUSTER resource not
  named kafka-cluster, an empty or "/"-holding name, a principal without a type, filter-only
  values in a creation), CLUSTER_AUTHORIZATION_FAILED for a principal without ALTER (creating,
  deleting) or DESCRIBE (describing) on the cluster, SECURITY_DISABLED without an authorizer;
- the keeper: ACLs at Kafka's ZooKeeper paths and JSON (/kafka-acl/<Type>/<name>,
  /kafka-acl-extended/prefixed/<Type>/<name>), change notifications under /kafka-acl-changes and
  /kafka-acl-extended-changes, and ACLs written there by someone else (another broker, an old
  kafka-acls.sh talking to ZooKeeper) taking effect;
- ACLs kept across a restart, and an ACL change enforced within a bounded wait.

Brokers here have a PLAINTEXT listener (principal User:ANONYMOUS, a super user, used to set
things up and to check them) and a SASL_PLAINTEXT listener where the PLAIN users below log in
(User:admin is a super user too; the others have only what their ACLs give).

Some answers are read raw (kafka-python's protocol classes over a socket that logs in): librdkafka
2.6.1's describe_acls drops DescribeAcls' top-level error (it shows an empty list instead of
CLUSTER_AUTHORIZATION_FAILED or SECURITY_DISABLED), and no client sends filter-only values in a
creation. Helpers shared with test_acls_enforcement.py live here (the raw requests, `settle`,
the confluent-kafka wrappers)."""

import gc
import itertools
import json
import re
import signal
import socket
import struct
import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType)
from kafka.protocol.admin import CreateAclsRequest_v1, DeleteAclsRequest_v1, DescribeAclsRequest_v1
from kafka.protocol.metadata import MetadataRequest_v4
from kafka.protocol.produce import ProduceRequest_v3
from kafka.record.default_records import DefaultRecordBatchBuilder

from conftest import Broker, wait_until
from test_sasl import authenticate, handshake, plain_token

# --- the brokers --------------------------------------------------------------------------------

USERS = {name: f"{name}-secret" for name in
         ("admin", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")}
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" ' + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
SASL_SETTINGS = [
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN",
    f"listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}",
]
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
AUTHORIZER_SETTINGS = [f"authorizer.class.name={ACL_AUTHORIZER}", "super.users=User:admin;User:ANONYMOUS"]
CLUSTER = "kafka-cluster"
# How long an ACL change may take to be enforced (Kafka's own broker applies it before answering;
# other brokers follow the change notification).
PROPAGATION_S = 30

# Kafka's error codes, for the raw answers.
NONE = 0
LEADER_NOT_AVAILABLE = 5
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
INVALID_REQUEST = 42
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
SECURITY_DISABLED = 54

# Kafka's wire codes of the ACL enums (org.apache.kafka.common.resource / .acl).
RT_UNKNOWN, RT_ANY, RT_TOPIC, RT_GROUP, RT_CLUSTER, RT_TRANSACTIONAL_ID, RT_DELEGATION_TOKEN = 0, 1, 2, 3, 4, 5, 6
PT_UNKNOWN, PT_ANY, PT_MATCH, PT_LITERAL, PT_PREFIXED = 0, 1, 2, 3, 4
OP_UNKNOWN, OP_ANY, OP_ALL, OP_READ, OP_WRITE, OP_DESCRIBE = 0, 1, 2, 3, 4, 8
PERM_UNKNOWN, PERM_ANY, PERM_DENY, PERM_ALLOW = 0, 1, 2, 3


def new_broker(workdir, settings=AUTHORIZER_SETTINGS):
    return Broker(workdir, SASL_SETTINGS + list(settings), sasl_listener=True)


def log_size(broker):
    try:
        return broker.log_path.stat().st_size
    except FileNotFoundError:
        return 0


def log_since(broker, offset):
    with open(broker.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")[-20000:]


def call_failed(request):
    return getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    b = new_broker(tmp_path_factory.mktemp("acls"))
    b.start()
    yield b
    forget_clients(b)
    b.stop()


@pytest.fixture
def broker(shared_broker, request):
    """The module's broker, its log since the test began printed when the test failed, and
    every ACL removed afterwards (so that each test starts from none)."""
    offset = log_size(shared_broker)
    yield shared_broker
    if call_failed(request):
        print(f"\n--- sluiced log (during the test) ---\n{log_since(shared_broker, offset)}")
    remove_every_acl(shared_broker)


@pytest.fixture
def start_broker(tmp_path, request):
    """`start_broker(settings=AUTHORIZER_SETTINGS)`: a started two-listener broker of its own,
    stopped afterwards (SIGKILL and its log printed when the test failed)."""
    started = []

    def start(settings=AUTHORIZER_SETTINGS):
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        b = new_broker(workdir, settings)
        started.append(b)
        b.start()
        return b

    yield start
    failed = call_failed(request)
    for b in started:
        forget_clients(b)
        b.stop(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- sluiced log ({b.workdir.name}) ---\n{b.log()}")


def remove_every_acl(broker):
    """DeleteAcls of everything, raw (confluent-kafka cannot name every resource type), as the
    PLAINTEXT super user. Best effort: a failure here would only repeat the test's own."""
    try:
        with KafkaWire(broker.bootstrap) as wire:
            wire.call(DeleteAclsRequest_v1(filters=[(RT_ANY, None, PT_ANY, None, None, OP_ANY, PERM_ANY)]))
            wait_until(lambda: raw_describe_acls(wire) == (NONE, []), timeout_s=10, what="no ACL left")
    except Exception as e:  # noqa: BLE001
        print(f"removing the test's ACLs failed: {e}")


# --- confluent-kafka ----------------------------------------------------------------------------

def client_conf(broker, user=None, **extra):
    """confluent-kafka settings for `user` over SASL PLAIN, or for User:ANONYMOUS over the
    PLAINTEXT listener when `user` is None."""
    if user is None:
        conf = {"bootstrap.servers": broker.bootstrap}
    else:
        conf = {"bootstrap.servers": broker.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                "sasl.username": user, "sasl.password": USERS[user]}
    conf.update(extra)
    return conf


_admins = {}


def admin_as(broker, user=None):
    """An admin client for `user` (see `client_conf`), one per listener address and user, kept
    for the whole run: creating and destroying librdkafka clients costs up to a second each."""
    key = (broker.bootstrap if user is None else broker.sasl, user)
    if key not in _admins:
        _admins[key] = AdminClient(client_conf(broker, user))
    return _admins[key]


def forget_clients(broker):
    """Drops the kept admin clients of a broker about to stop, and destroys every client no longer
    referenced (while the broker still answers, so that none keeps reconnecting to it)."""
    for key in [k for k in _admins if k[0] in (broker.bootstrap, broker.sasl)]:
        del _admins[key]
    gc.collect()


def acl(restype, name, principal, operation, permission=AclPermissionType.ALLOW,
        pattern=ResourcePatternType.LITERAL, host="*"):
    return AclBinding(restype, name, pattern, principal, host, operation, permission)


def acl_filter(restype=ResourceType.ANY, name=None, pattern=ResourcePatternType.ANY, principal=None, host=None,
               operation=AclOperation.ANY, permission=AclPermissionType.ANY):
    return AclBindingFilter(restype, name, pattern, principal, host, operation, permission)


EVERY_ACL = acl_filter()


def outcome(future, timeout_s=30):
    """None when `future` succeeded, else the Kafka error code it failed with."""
    try:
        future.result(timeout=timeout_s)
    except KafkaException as e:
        return e.args[0].code()
    return None


def create_outcomes(admin, bindings):
    results = admin.create_acls(list(bindings), request_timeout=30)
    return {b: outcome(f) for b, f in results.items()}


def create_acls(admin, bindings):
    """Creates `bindings` and checks that each was accepted."""
    outcomes = create_outcomes(admin, bindings)
    assert all(code is None for code in outcomes.values()), f"creations refused: {outcomes}"


def described(admin, acl_filter_=EVERY_ACL):
    return set(admin.describe_acls(acl_filter_, request_timeout=30).result(timeout=30))


def create_topics(broker, *names, partitions=1, admin=None):
    """Creates topics, as the PLAINTEXT super user unless `admin` is given."""
    if admin is None:  # (not `or`: a client with nothing queued is falsy)
        admin = admin_as(broker)
    for name, f in admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1)
                                        for n in names], operation_timeout=30).items():
        assert outcome(f) is None, f"creating {name}"


def topic_exists(broker, name):
    return name in admin_as(broker).list_topics(timeout=30).topics


# --- raw Kafka requests -------------------------------------------------------------------------

class KafkaWire:
    """One connection to a listener, sending requests built with kafka-python's protocol classes
    (request header v1, response header v0: non-flexible versions only). With `user`, it logs in
    with SASL PLAIN first (SaslHandshake v1, SaslAuthenticate v0). `source` is the local address
    it connects from (any of 127/8 reaches the 127.0.0.1 listeners), which the broker sees as the
    client's host."""

    def __init__(self, address, user=None, source="127.0.0.1", timeout_s=30):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s, source_address=(source, 0))
        self.correlation = 0
        if user is not None:
            error, mechanisms = handshake(self, "PLAIN")
            assert error == NONE, f"SaslHandshake: error {error}, mechanisms {mechanisms}"
            error, message, _ = authenticate(self, plain_token(user, USERS[user]))
            assert error == NONE, f"SaslAuthenticate as {user}: error {error} ({message})"

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def close(self):
        self.sock.close()

    def request(self, api_key, version, body, client_id=b"acl-test"):
        """Sends one request and returns its response body (after the correlation id)."""
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, len(client_id)) + client_id
        self.sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        (size,) = struct.unpack(">i", self._read(4))
        frame = self._read(size)
        (got,) = struct.unpack_from(">i", frame)
        assert got == self.correlation, f"correlation id {got}, sent {self.correlation}"
        return frame[4:]

    def call(self, request):
        body = self.request(request.API_KEY, request.API_VERSION, request.encode())
        return request.RESPONSE_TYPE.decode(body)

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError(f"closed by the broker after {len(out)} of {n} bytes")
            out += chunk
        return out


def metadata_errors(wire, topics=None, auto_create=False):
    """Metadata v4 for `topics` (None: every topic): {topic: error code}."""
    response = wire.call(MetadataRequest_v4(topics=topics, allow_auto_topic_creation=auto_create))
    return {topic: error for error, topic, _internal, _partitions in response.topics}


def record_batch(values, transactional=False, producer=(-1, -1, -1)):
    producer_id, epoch, sequence = producer
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=transactional,
                                        producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                                        batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(offset=i, timestamp=None, key=None, value=value, headers=[])
    return bytes(builder.build())


def raw_produce(wire, topics, values=(b"raw",), transactional_id=None, producer=(-1, -1, -1)):
    """Produce v3 (acks=all) of one batch to partition 0 of each of `topics`; the batch is
    transactional when `transactional_id` is given. Returns {topic: error code}."""
    batch = record_batch(values, transactional_id is not None, producer)
    response = wire.call(ProduceRequest_v3(transactional_id=transactional_id, required_acks=-1, timeout=30000,
                                           topics=[(t, [(0, batch)]) for t in topics]))
    return {topic: partitions[0][1] for topic, partitions in response.topics}


def raw_describe_acls_as(broker, user):
    """raw_describe_acls on a connection of its own, as `user` (None: PLAINTEXT, User:ANONYMOUS)."""
    with KafkaWire(broker.bootstrap if user is None else broker.sasl, user) as wire:
        return raw_describe_acls(wire)


def raw_describe_acls(wire):
    """DescribeAcls v1 matching every ACL: (error code, [(type, name, pattern, principal, host,
    operation, permission)])."""
    response = wire.call(DescribeAclsRequest_v1(resource_type=RT_ANY, resource_name=None,
                                                resource_pattern_type_filter=PT_ANY, principal=None, host=None,
                                                operation=OP_ANY, permission_type=PERM_ANY))
    found = [(rtype, name, pattern, *entry) for rtype, name, pattern, entries in response.resources
             for entry in entries]
    return response.error_code, found


# --- waiting for ACL changes --------------------------------------------------------------------

_settle_markers = itertools.count()


def settle(broker, user, admin=None, deny=False):
    """Waits until every ACL change made before this call is enforced for `user` (None:
    User:ANONYMOUS on the PLAINTEXT listener): adds a marker ACL for `user` on a topic named only
    for it and waits until `user`'s Metadata request shows it. The marker is an ALLOW DESCRIBE,
    or with `deny` (a broker that allows everyone when no ACL is found) a DENY DESCRIBE. This
    relies on ACL changes taking effect in the order they were made, as Kafka's sequential
    change notifications do; so a test can then check that something is *denied* without the
    denial being only a change not yet applied."""
    topic = f"settle-marker-{next(_settle_markers)}"
    principal = f"User:{user or 'ANONYMOUS'}"
    permission = AclPermissionType.DENY if deny else AclPermissionType.ALLOW
    if admin is None:
        admin = admin_as(broker)
    create_acls(admin, [acl(ResourceType.TOPIC, topic, principal, AclOperation.DESCRIBE, permission)])
    address = broker.bootstrap if user is None else broker.sasl
    with KafkaWire(address, user) as wire:
        def marker_enforced():
            error = metadata_errors(wire, [topic])[topic]
            return (error == TOPIC_AUTHORIZATION_FAILED) == deny

        wait_until(marker_enforced, timeout_s=PROPAGATION_S, interval_s=0.1,
                   what=f"the marker ACL on {topic} enforced for {principal}")


def eventually(check, what, timeout_s=PROPAGATION_S):
    """Retries `check` (failing with AssertionError, or returning False, while the condition does
    not hold) until it holds; the last failure is reported at the bound."""
    last = []

    def holds():
        try:
            return check() is not False
        except AssertionError as e:
            last[:] = [e]
            return False

    try:
        wait_until(holds, timeout_s=timeout_s, interval_s=0.2, what=what)
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}; last check: {last[0] if last else 'returned False'}") from None


# --- CreateAcls / DescribeAcls / DeleteAcls through confluent-kafka -----------------------------

T, G, C, X = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.BROKER, ResourceType.TRANSACTIONAL_ID
LIT, PRE = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
Op = AclOperation


def test_acls_of_every_resource_type_are_created_and_described_back(broker):
    admin = admin_as(broker)
    bindings = {
        acl(T, "orders", "User:alice", Op.READ),
        acl(T, "orders", "User:bob", Op.WRITE, DENY, host="10.0.0.7"),
        acl(T, "orders-", "User:alice", Op.DESCRIBE, pattern=PRE),
        acl(T, "*", "User:carol", Op.DESCRIBE_CONFIGS),
        acl(G, "billing", "User:alice", Op.READ),
        acl(G, "team-", "User:*", Op.DESCRIBE, pattern=PRE),
        # confluent-kafka's BROKER resource type is Kafka's CLUSTER (code 4).
        acl(C, CLUSTER, "User:alice", Op.IDEMPOTENT_WRITE),
        acl(C, CLUSTER, "User:bob", Op.CLUSTER_ACTION, DENY),
        acl(X, "tx-1", "User:alice", Op.WRITE),
        acl(X, "tx-", "User:bob", Op.DESCRIBE, DENY, pattern=PRE),
    }
    create_acls(admin, bindings)
    assert described(admin) == bindings
    # The same through a SASL login of the other super user.
    assert described(admin_as(broker, "admin")) == bindings
    assert described(admin, acl_filter(G)) == {b for b in bindings if b.restype == G}
    assert described(admin, acl_filter(C)) == {b for b in bindings if b.restype == C}
    assert described(admin, acl_filter(X, pattern=PRE)) == {acl(X, "tx-", "User:bob", Op.DESCRIBE, DENY, pattern=PRE)}


def test_describe_filters_match_as_kafka_matches_resource_patterns(broker):
    admin = admin_as(broker)
    a = acl(T, "orders", "User:alice", Op.READ)
    b = acl(T, "*", "User:bob", Op.DESCRIBE)
    c = acl(T, "ord", "User:alice", Op.WRITE, pattern=PRE)
    d = acl(T, "orders", "User:bob", Op.READ, DENY, pattern=PRE, host="10.0.0.1")
    e = acl(T, "orders-", "User:alice", Op.ALL, pattern=PRE)
    f = acl(T, "orders-eu", "User:alice", Op.DESCRIBE, host="10.0.0.1")
    g = acl(T, "other", "User:alice", Op.READ, pattern=PRE)
    h = acl(G, "orders", "User:alice", Op.READ)
    i = acl(T, "orders", "User:bob", Op.WRITE, DENY)
    create_acls(admin, [a, b, c, d, e, f, g, h, i])
    expectations = {
        # LITERAL and PREFIXED filters select that pattern type and that exact name.
        "literal orders": (acl_filter(T, "orders", LIT), {a, i}),
        "prefixed orders": (acl_filter(T, "orders", PRE), {d}),
        "literal *": (acl_filter(T, "*", LIT), {b}),
        # ANY selects every pattern type, still with that exact name.
        "any orders": (acl_filter(T, "orders", ResourcePatternType.ANY), {a, i, d}),
        # MATCH selects what applies to a resource of that name: the literal name, the literal
        # wildcard, and every prefix of the name.
        "match orders": (acl_filter(T, "orders", ResourcePatternType.MATCH), {a, i, b, c, d}),
        "match orders-eu": (acl_filter(T, "orders-eu", ResourcePatternType.MATCH), {f, b, c, d, e}),
        "match any name": (acl_filter(T, None, ResourcePatternType.MATCH), {a, b, c, d, e, f, g, i}),
        "every prefixed topic": (acl_filter(T, None, PRE), {c, d, e, g}),
        "every literal topic": (acl_filter(T, None, LIT), {a, b, f, i}),
        "any type named orders": (acl_filter(ResourceType.ANY, "orders"), {a, i, d, h}),
        "groups": (acl_filter(G), {h}),
        "principal": (acl_filter(principal="User:bob"), {b, d, i}),
        "host": (acl_filter(host="10.0.0.1"), {d, f}),
        # The operation filter is exact: READ does not select an ALL.
        "operation": (acl_filter(operation=Op.READ), {a, d, g, h}),
        "permission": (acl_filter(permission=DENY), {d, i}),
        "nothing": (acl_filter(T, "unrelated", ResourcePatternType.MATCH, principal="User:alice"), set()),
    }
    got = {case: described(admin, flt) for case, (flt, _) in expectations.items()}
    want = {case: expected for case, (_, expected) in expectations.items()}
    assert got == want


def test_delete_acls_removes_what_each_filter_matches_and_returns_it(broker):
    admin = admin_as(broker)
    a = acl(T, "del-orders", "User:alice", Op.READ)
    i = acl(T, "del-orders", "User:bob", Op.WRITE, DENY)
    c = acl(T, "del-ord", "User:alice", Op.WRITE, pattern=PRE)
    d = acl(T, "del-orders", "User:bob", Op.READ, DENY, pattern=PRE)
    f = acl(T, "del-orders-eu", "User:alice", Op.DESCRIBE)
    h = acl(G, "del-orders", "User:alice", Op.READ)
    create_acls(admin, [a, i, c, d, f, h])
    by_principal = acl_filter(T, "del-orders", LIT, principal="User:alice")
    denies_matching = acl_filter(T, "del-orders-eu", ResourcePatternType.MATCH, permission=DENY)
    nothing = acl_filter(G, "no-such-group", LIT)
    results = admin.delete_acls([by_principal, denies_matching, nothing], request_timeout=30)
    assert {k: set(f_.result(timeout=30)) for k, f_ in results.items()} == \
        {by_principal: {a}, denies_matching: {d}, nothing: set()}
    assert described(admin) == {i, c, f, h}

    everything = admin.delete_acls([EVERY_ACL], request_timeout=30)[EVERY_ACL].result(timeout=30)
    assert set(everything) == {i, c, f, h}
    assert described(admin) == set()


def test_creating_an_existing_acl_again_is_accepted_and_keeps_one(broker):
    admin = admin_as(broker)
    binding = acl(T, "twice", "User:alice", Op.READ)
    create_acls(admin, [binding])
    create_acls(admin, [binding])
    assert described(admin) == {binding}
    deleted = admin.delete_acls([EVERY_ACL], request_timeout=30)[EVERY_ACL].result(timeout=30)
    assert deleted == [binding]


def test_invalid_bindings_are_refused_one_by_one_with_invalid_request(broker):
    admin = admin_as(broker)
    valid = acl(T, "inv-ok", "User:alice", Op.READ)
    refused = [
        acl(C, "not-the-cluster", "User:alice", Op.ALTER),  # the CLUSTER resource is named kafka-cluster
        acl(T, "", "User:alice", Op.READ),  # an empty name
        acl(T, "inv-principal", "alice", Op.READ),  # a principal without its type
        acl(G, "inv/slash", "User:alice", Op.READ),  # a name that is not a znode name
    ]
    outcomes = create_outcomes(admin, [valid] + refused)
    assert outcomes == {valid: None, **{b: INVALID_REQUEST for b in refused}}
    assert described(admin) == {valid}


def creation(resource_type=RT_TOPIC, name="raw-acl", pattern=PT_LITERAL, principal="User:alice", host="*",
             operation=OP_READ, permission=PERM_ALLOW):
    return (resource_type, name, pattern, principal, host, operation, permission)


# Values Kafka defines only for filters (ANY, MATCH): no client library sends them in a creation.
FILTER_ONLY_CREATIONS = {
    "any-resource-type": creation(resource_type=RT_ANY),
    "match-pattern": creation(pattern=PT_MATCH),
    "any-pattern": creation(pattern=PT_ANY),
    "any-operation": creation(operation=OP_ANY),
    "any-permission": creation(permission=PERM_ANY),
}
# UNKNOWN values: Kafka fails to parse such a request and closes the connection; an answer of
# INVALID_REQUEST is as good. Either way nothing is stored.
UNKNOWN_CREATIONS = {
    "unknown-resource-type": creation(resource_type=RT_UNKNOWN),
    "undefined-resource-type": creation(resource_type=99),
    "unknown-pattern": creation(pattern=PT_UNKNOWN),
    "unknown-operation": creation(operation=OP_UNKNOWN),
    "unknown-permission": creation(permission=PERM_UNKNOWN),
}


def raw_create_acl(broker, one_creation):
    """CreateAcls v1 holding one creation, from the PLAINTEXT super user: its error code, or None
    when the broker closed the connection instead of answering."""
    with KafkaWire(broker.bootstrap) as wire:
        try:
            response = wire.call(CreateAclsRequest_v1(creations=[one_creation]))
        except ConnectionError:
            return None
    assert len(response.creation_responses) == 1, response
    return response.creation_responses[0][0]


@pytest.mark.parametrize("case", list(FILTER_ONLY_CREATIONS) + list(UNKNOWN_CREATIONS))
def test_creations_with_filter_only_or_unknown_values_are_refused(broker, case):
    if case in FILTER_ONLY_CREATIONS:
        assert raw_create_acl(broker, FILTER_ONLY_CREATIONS[case]) == INVALID_REQUEST
    else:
        assert raw_create_acl(broker, UNKNOWN_CREATIONS[case]) in (INVALID_REQUEST, None)
    with KafkaWire(broker.bootstrap) as wire:
        assert raw_describe_acls(wire) == (NONE, []), "nothing was stored"


def test_only_cluster_alter_changes_acls_and_cluster_describe_lists_them(broker):
    admin = admin_as(broker)
    kept = acl(T, "perm-kept", "User:bob", Op.READ)
    create_acls(admin, [kept])
    carol = admin_as(broker, "carol")
    own = acl(T, "perm-own", "User:carol", Op.ALL)

    # Nothing on the cluster: carol can neither grant herself anything nor list or delete ACLs.
    assert create_outcomes(carol, [own]) == {own: CLUSTER_AUTHORIZATION_FAILED}
    assert raw_describe_acls_as(broker, "carol") == (CLUSTER_AUTHORIZATION_FAILED, [])
    # (librdkafka 2.6.1 drops DescribeAcls' top-level error: its describe_acls shows an empty list.)
    assert described(carol) == set()
    assert outcome(carol.delete_acls([EVERY_ACL], request_timeout=30)[EVERY_ACL]) == CLUSTER_AUTHORIZATION_FAILED
    assert described(admin) == {kept}, "nothing was granted and nothing deleted"

    # DESCRIBE on the cluster lists ACLs and changes none.
    create_acls(admin, [acl(C, CLUSTER, "User:carol", Op.DESCRIBE)])
    settle(broker, "carol")
    assert kept in described(carol)
    assert create_outcomes(carol, [own]) == {own: CLUSTER_AUTHORIZATION_FAILED}
    assert outcome(carol.delete_acls([EVERY_ACL], request_timeout=30)[EVERY_ACL]) == CLUSTER_AUTHORIZATION_FAILED
    assert kept in described(admin)

    # ALTER on the cluster changes them (and implies DESCRIBE).
    create_acls(admin, [acl(C, CLUSTER, "User:carol", Op.ALTER)])
    settle(broker, "carol")
    assert create_outcomes(carol, [own]) == {own: None}
    flt = acl_filter(T, "perm-own", LIT)
    assert carol.delete_acls([flt], request_timeout=30)[flt].result(timeout=30) == [own]
    assert own not in described(carol)

    # A DENY ALTER on the cluster takes it away again; bob never had it.
    create_acls(admin, [acl(C, CLUSTER, "User:carol", Op.ALTER, DENY)])
    settle(broker, "carol")
    assert create_outcomes(carol, [own]) == {own: CLUSTER_AUTHORIZATION_FAILED}
    assert create_outcomes(admin_as(broker, "bob"), [own]) == {own: CLUSTER_AUTHORIZATION_FAILED}
    assert own not in described(admin)


# --- kafka-python's admin client ----------------------------------------------------------------

def test_kafka_python_admin_client_creates_describes_and_deletes_acls(broker):
    from kafka import KafkaAdminClient
    from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePattern, ResourcePatternFilter)
    from kafka.admin import ResourceType as KpType
    from kafka.errors import ClusterAuthorizationFailedError, InvalidRequestError, NoError

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    acls = [
        ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW, ResourcePattern(KpType.TOPIC, "kp-orders")),
        ACL("User:bob", "10.0.0.9", ACLOperation.WRITE, ACLPermissionType.DENY,
            ResourcePattern(KpType.TOPIC, "kp-", ACLResourcePatternType.PREFIXED)),
        ACL("User:alice", "*", ACLOperation.DESCRIBE, ACLPermissionType.ALLOW,
            ResourcePattern(KpType.DELEGATION_TOKEN, "kp-token")),
        ACL("User:alice", "*", ACLOperation.CLUSTER_ACTION, ACLPermissionType.ALLOW,
            ResourcePattern(KpType.CLUSTER, CLUSTER)),
    ]
    bad = ACL("User:alice", "*", ACLOperation.ALTER, ACLPermissionType.ALLOW, ResourcePattern(KpType.CLUSTER, "kp"))
    result = admin.create_acls(acls + [bad])
    assert result["succeeded"] == acls
    assert result["failed"] == [(bad, InvalidRequestError)]

    def as_tuple(a):
        p = a.resource_pattern
        return (int(p.resource_type), p.resource_name, int(p.pattern_type), a.principal, a.host, int(a.operation),
                int(a.permission_type))

    everything = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                           permission_type=ACLPermissionType.ANY,
                           resource_pattern=ResourcePatternFilter(KpType.ANY, None, ACLResourcePatternType.ANY))
    found, error = admin.describe_acls(everything)
    assert error is NoError
    assert {as_tuple(a) for a in found} == {as_tuple(a) for a in acls}
    # The broker's answer read raw holds the same (confluent-kafka cannot name a delegation token).
    with KafkaWire(broker.bootstrap) as wire:
        error, raw = raw_describe_acls(wire)
    assert error == NONE and sorted(raw) == sorted(as_tuple(a) for a in acls)

    alices = ACLFilter(principal="User:alice", host=None, operation=ACLOperation.ANY,
                       permission_type=ACLPermissionType.ANY,
                       resource_pattern=ResourcePatternFilter(KpType.ANY, None, ACLResourcePatternType.ANY))
    (_, deleted, error), = admin.delete_acls([alices])
    assert error is NoError
    assert all(e is NoError for _, e in deleted)
    assert {as_tuple(a) for a, _ in deleted} == {as_tuple(a) for a in acls if a.principal == "User:alice"}
    found, _ = admin.describe_acls(everything)
    assert [as_tuple(a) for a in found] == [as_tuple(acls[1])]
    admin.close()

    alice = KafkaAdminClient(bootstrap_servers=broker.sasl, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="alice",
                             sasl_plain_password=USERS["alice"], request_timeout_ms=30000)
    try:
        result = alice.create_acls([acls[0]])
        assert result["failed"] == [(acls[0], ClusterAuthorizationFailedError)]
        with pytest.raises(ClusterAuthorizationFailedError):
            alice.describe_acls(everything)
    finally:
        alice.close()


# --- the keeper ---------------------------------------------------------------------------------

def keeper(broker):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=broker.keeper, timeout=10)
    zk.start(timeout=30)
    return zk


def znode_acls(zk, path):
    """The ACL entries of a resource znode, as a sorted list of dicts; None when it is absent."""
    if not zk.exists(path):
        return None
    data, _ = zk.get(path)
    doc = json.loads(data)
    assert doc["version"] == 1, doc
    return sorted(doc["acls"], key=lambda e: json.dumps(e, sort_keys=True))


def entry(principal, permission, operation, host="*"):
    return {"principal": principal, "permissionType": permission, "operation": operation, "host": host}


def entries(*items):
    return sorted(items, key=lambda e: json.dumps(e, sort_keys=True))


def test_acls_are_stored_at_kafkas_znodes_in_kafkas_json(broker):
    admin = admin_as(broker)
    create_acls(admin, [
        acl(T, "zk-orders", "User:alice", Op.READ),
        acl(T, "zk-orders", "User:bob", Op.WRITE, DENY, host="10.0.0.5"),
        acl(G, "zk-team-", "User:*", Op.DESCRIBE, pattern=PRE),
        acl(C, CLUSTER, "User:alice", Op.IDEMPOTENT_WRITE),
        acl(C, CLUSTER, "User:alice", Op.DESCRIBE_CONFIGS),
        acl(C, CLUSTER, "User:carol", Op.CLUSTER_ACTION),
        acl(X, "zk-tx", "User:alice", Op.WRITE),
        acl(T, "zk-", "User:alice", Op.ALTER_CONFIGS, DENY, pattern=PRE),
    ])
    from kafka import KafkaAdminClient
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern
    from kafka.admin import ResourceType as KpType
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        token = ACL("User:alice", "*", ACLOperation.DESCRIBE, ACLPermissionType.ALLOW,
                    ResourcePattern(KpType.DELEGATION_TOKEN, "zk-token"))
        assert kp.create_acls([token])["succeeded"] == [token]
    finally:
        kp.close()

    zk = keeper(broker)
    try:
        expected = {
            "/kafka-acl/Topic/zk-orders": entries(entry("User:alice", "Allow", "Read"),
                                                  entry("User:bob", "Deny", "Write", "10.0.0.5")),
            "/kafka-acl-extended/prefixed/Group/zk-team-": entries(entry("User:*", "Allow", "Describe")),
            "/kafka-acl/Cluster/kafka-cluster": entries(entry("User:alice", "Allow", "IdempotentWrite"),
                                                        entry("User:alice", "Allow", "DescribeConfigs"),
                                                        entry("User:carol", "Allow", "ClusterAction")),
            "/kafka-acl/TransactionalId/zk-tx": entries(entry("User:alice", "Allow", "Write")),
            "/kafka-acl-extended/prefixed/Topic/zk-": entries(entry("User:alice", "Deny", "AlterConfigs")),
            "/kafka-acl/DelegationToken/zk-token": entries(entry("User:alice", "Allow", "Describe")),
        }
        assert {path: znode_acls(zk, path) for path in expected} == expected

        # Removing one of a resource's ACLs rewrites its znode; removing the last deletes it.
        bobs = acl_filter(T, "zk-orders", LIT, principal="User:bob")
        assert len(admin.delete_acls([bobs], request_timeout=30)[bobs].result(timeout=30)) == 1
        alices = entries(entry("User:alice", "Allow", "Read"))
        wait_until(lambda: znode_acls(zk, "/kafka-acl/Topic/zk-orders") == alices, timeout_s=10,
                   what="the znode without bob's ACL")
        rest = acl_filter(T, "zk-orders", LIT)
        assert len(admin.delete_acls([rest], request_timeout=30)[rest].result(timeout=30)) == 1
        wait_until(lambda: not zk.exists("/kafka-acl/Topic/zk-orders"), timeout_s=10,
                   what="/kafka-acl/Topic/zk-orders deleted with its last ACL")
        assert znode_acls(zk, "/kafka-acl/TransactionalId/zk-tx") == expected["/kafka-acl/TransactionalId/zk-tx"]
    finally:
        zk.stop()
        zk.close()


NOTIFICATION = re.compile(r"acl_changes_(\d{10})")


def notifications(zk, path):
    """{sequence number: data} of the change notifications under `path`."""
    found = {}
    for name in (zk.get_children(path) if zk.exists(path) else []):
        match = NOTIFICATION.fullmatch(name)
        assert match, f"{path}/{name} is not named acl_changes_<10 digits>"
        found[int(match.group(1))] = zk.get(f"{path}/{name}")[0].decode()
    return found


def literal_resource(data):
    """A literal notification's "<ResourceType>:<name>" (Kafka 3 writes the type in capitals,
    older versions in Pascal case) as (TYPE, name)."""
    kind, name = data.split(":", 1)
    return kind.upper(), name


def extended_resource(data):
    event = json.loads(data)
    return event["version"], event["resourceType"].upper(), event["name"], event["patternType"].upper()


def test_each_acl_change_writes_a_change_notification(broker):
    admin = admin_as(broker)
    zk = keeper(broker)
    literal, extended = "/kafka-acl-changes", "/kafka-acl-extended-changes"

    def about(path, decode, resource):
        return sorted(seq for seq, data in notifications(zk, path).items() if decode(data) == resource)

    try:
        create_acls(admin, [acl(T, "note-t", "User:alice", Op.READ)])
        wait_until(lambda: about(literal, literal_resource, ("TOPIC", "note-t")), timeout_s=10,
                   what=f"a notification about note-t under {literal}")
        created = about(literal, literal_resource, ("TOPIC", "note-t"))
        assert len(created) == 1, notifications(zk, literal)

        create_acls(admin, [acl(G, "note-g-", "User:alice", Op.READ, pattern=PRE)])
        prefixed = (1, "GROUP", "note-g-", "PREFIXED")
        wait_until(lambda: about(extended, extended_resource, prefixed), timeout_s=10,
                   what=f"a notification about the prefixed group note-g- under {extended}")
        assert len(about(extended, extended_resource, prefixed)) == 1, notifications(zk, extended)
        assert not any("note-g-" in data for data in notifications(zk, literal).values()), \
            "a prefixed change is not notified as a literal one"

        # Deleting notifies too, with a later sequence number.
        flt = acl_filter(T, "note-t", LIT)
        assert len(admin.delete_acls([flt], request_timeout=30)[flt].result(timeout=30)) == 1
        wait_until(lambda: len(about(literal, literal_resource, ("TOPIC", "note-t"))) == 2, timeout_s=10,
                   what="a second notification about note-t, for the deletion")
        first, second = about(literal, literal_resource, ("TOPIC", "note-t"))
        assert first == created[0] and second > first
    finally:
        zk.stop()
        zk.close()


def test_acls_written_to_the_keeper_by_someone_else_take_effect_after_their_notification(broker):
    """What another broker's authorizer, or kafka-acls.sh with --authorizer-properties
    zookeeper.connect=..., does: write the resource znode, then a change notification."""
    create_topics(broker, "direct-t", "direct-p-1")
    admin = admin_as(broker)
    zk = keeper(broker)
    try:
        with KafkaWire(broker.sasl, "alice") as wire:
            assert metadata_errors(wire, ["direct-t", "direct-p-1"]) == \
                {"direct-t": TOPIC_AUTHORIZATION_FAILED, "direct-p-1": TOPIC_AUTHORIZATION_FAILED}

            doc = {"version": 1, "acls": [entry("User:alice", "Allow", "Describe")]}
            zk.ensure_path("/kafka-acl/Topic")
            zk.create("/kafka-acl/Topic/direct-t", json.dumps(doc).encode())
            zk.ensure_path("/kafka-acl-changes")
            zk.create("/kafka-acl-changes/acl_changes_", b"Topic:direct-t", sequence=True)

            doc = {"version": 1, "acls": [entry("User:alice", "Allow", "Read")]}
            zk.ensure_path("/kafka-acl-extended/prefixed/Topic")
            zk.create("/kafka-acl-extended/prefixed/Topic/direct-p-", json.dumps(doc).encode())
            zk.ensure_path("/kafka-acl-extended-changes")
            event = {"version": 1, "resourceType": "TOPIC", "name": "direct-p-", "patternType": "PREFIXED"}
            zk.create("/kafka-acl-extended-changes/acl_changes_", json.dumps(event).encode(), sequence=True)

            def both_visible():
                assert metadata_errors(wire, ["direct-t", "direct-p-1"]) == {"direct-t": NONE, "direct-p-1": NONE}

            eventually(both_visible, "alice allowed by the ACLs written to the keeper")
            assert described(admin) == {acl(T, "direct-t", "User:alice", Op.DESCRIBE),
                                        acl(T, "direct-p-", "User:alice", Op.READ, pattern=PRE)}

            zk.delete("/kafka-acl/Topic/direct-t")
            zk.create("/kafka-acl-changes/acl_changes_", b"TOPIC:direct-t", sequence=True)

            def literal_gone():
                assert metadata_errors(wire, ["direct-t", "direct-p-1"]) == \
                    {"direct-t": TOPIC_AUTHORIZATION_FAILED, "direct-p-1": NONE}

            eventually(literal_gone, "alice denied again once the znode is gone")
            assert described(admin) == {acl(T, "direct-p-", "User:alice", Op.READ, pattern=PRE)}
    finally:
        zk.stop()
        zk.close()


# --- timing, restarts, other configurations -----------------------------------------------------

def test_an_acl_is_enforced_within_a_bounded_wait_and_so_is_its_removal(broker, report_figure):
    create_topics(broker, "prop-t")
    admin = admin_as(broker)
    with KafkaWire(broker.sasl, "alice") as wire:
        assert metadata_errors(wire, ["prop-t"]) == {"prop-t": TOPIC_AUTHORIZATION_FAILED}
        started = time.monotonic()
        create_acls(admin, [acl(T, "prop-t", "User:alice", Op.DESCRIBE)])
        eventually(lambda: metadata_errors(wire, ["prop-t"]) == {"prop-t": NONE}, "alice allowed")
        granted_ms = (time.monotonic() - started) * 1000
        started = time.monotonic()
        flt = acl_filter(T, "prop-t")
        assert len(admin.delete_acls([flt], request_timeout=30)[flt].result(timeout=30)) == 1
        eventually(lambda: metadata_errors(wire, ["prop-t"]) == {"prop-t": TOPIC_AUTHORIZATION_FAILED},
                   "alice denied again")
        revoked_ms = (time.monotonic() - started) * 1000
    report_figure(f"ACL enforced {granted_ms:.0f} ms after CreateAcls began, "
                  f"revoked {revoked_ms:.0f} ms after DeleteAcls began")


def test_acls_survive_a_restart(start_broker):
    b = start_broker()
    create_topics(b, "restart-t", "restart-p-1")
    admin = admin_as(b)
    bindings = {
        acl(T, "restart-t", "User:alice", Op.WRITE),
        acl(T, "restart-p-", "User:alice", Op.ALL, pattern=PRE),
        acl(T, "restart-p-", "User:bob", Op.WRITE, DENY, pattern=PRE),
        acl(G, "restart-g", "User:alice", Op.READ),
        acl(C, CLUSTER, "User:alice", Op.IDEMPOTENT_WRITE),
    }
    create_acls(admin, bindings)
    settle(b, "alice")
    before = described(admin)
    assert bindings <= before

    b.stop()
    b.start()
    admin = admin_as(b)
    assert described(admin) == before
    # Enforced from the start: no request is answered before the ACLs are loaded.
    with KafkaWire(b.sasl, "alice") as wire:
        assert raw_produce(wire, ["restart-t", "restart-p-1"]) == {"restart-t": NONE, "restart-p-1": NONE}
    with KafkaWire(b.sasl, "bob") as wire:
        assert raw_produce(wire, ["restart-t", "restart-p-1"]) == \
            {"restart-t": TOPIC_AUTHORIZATION_FAILED, "restart-p-1": TOPIC_AUTHORIZATION_FAILED}


def test_without_an_authorizer_acl_requests_get_security_disabled_and_nothing_is_enforced(start_broker):
    b = start_broker(settings=[])
    create_topics(b, "open-t")
    admin = admin_as(b)
    assert raw_describe_acls_as(b, None) == (SECURITY_DISABLED, [])
    binding = acl(T, "open-t", "User:alice", Op.READ)
    assert create_outcomes(admin, [binding]) == {binding: SECURITY_DISABLED}
    assert outcome(admin.delete_acls([EVERY_ACL], request_timeout=30)[EVERY_ACL]) == SECURITY_DISABLED
    # No authorizer: a principal with no ACL at all does everything.
    with KafkaWire(b.sasl, "alice") as wire:
        assert metadata_errors(wire)["open-t"] == NONE
        assert raw_produce(wire, ["open-t"]) == {"open-t": NONE}
        assert raw_describe_acls(wire)[0] == SECURITY_DISABLED


def test_the_standard_authorizer_class_name_turns_authorization_on_as_well(start_broker):
    b = start_broker(settings=[f"authorizer.class.name={STANDARD_AUTHORIZER}", "super.users=User:admin"])
    admin = admin_as(b, "admin")
    create_topics(b, "std-t", admin=admin)
    with KafkaWire(b.sasl, "alice") as wire:
        assert metadata_errors(wire, ["std-t"]) == {"std-t": TOPIC_AUTHORIZATION_FAILED}
        assert "std-t" not in metadata_errors(wire)
    # Here User:ANONYMOUS is no super user: the PLAINTEXT listener is refused as well.
    with KafkaWire(b.bootstrap) as wire:
        assert metadata_errors(wire, ["std-t"]) == {"std-t": TOPIC_AUTHORIZATION_FAILED}
        assert raw_describe_acls(wire)[0] == CLUSTER_AUTHORIZATION_FAILED
    create_acls(admin, [acl(T, "std-t", "User:alice", Op.WRITE)])
    settle(b, "alice", admin=admin)
    with KafkaWire(b.sasl, "alice") as wire:
        assert metadata_errors(wire, ["std-t"]) == {"std-t": NONE}
        assert raw_produce(wire, ["std-t"]) == {"std-t": NONE}


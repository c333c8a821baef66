"""Znode ACLs on the embedded keeper, as Apache ZooKeeper 3.8 enforces them and as a Kafka broker
with `zookeeper.set.acl=true` lays them down, checked with clients no one here wrote (kazoo and
Apache's zkCli.sh), Kafka clients (confluent-kafka) and the `sluice` CLI:

- the broker (`keeper.connect.auth=digest:kafka:...`) gives every znode it creates Kafka's ACLs:
  ALL to its own digest identity and READ to world:anyone, except under the sensitive roots
  /config/users, /config/brokers and /delegation_token/tokens (ALL to the broker only), and keeps
  working with them: topics, SCRAM users and dynamic broker configs are written and read, over a
  restart (its credentials are proven on every connection);
- the issue's must-show: kazoo and zkCli.sh without credentials read Kafka's public znodes but
  cannot change, create under or delete any of them, nor read a SCRAM credential; with the
  broker's credentials (`addauth digest kafka:...`) they can, and see the unmasked digest in
  getACL; the super digest (`keeper.super.digest`) passes every ACL;
- ZooKeeper's rules on nodes of the test's own: the `auth` scheme, INVALIDACL, DELETE checked on
  the parent, getACL with READ or ADMIN (digests masked without ADMIN), setACL with ADMIN and the
  ACL version, `exists` unchecked, multi all-or-nothing, unknown addauth schemes closing the
  session, and the order in which ZooKeeper's PrepRequestProcessor checks (NOAUTH before
  BADVERSION, and for delete before NONODE);
- misconfiguration refused at start, naming the key and hiding the secret;
- `sluice keeper digest|getacl|setacl|create --acl` and `sluice user scram add --keeper
  --keeper-auth`.

One broker serves the module (every test names its own topics, users and znodes, the latter
under /acl-test-*); the restart test comes last but one and the misconfigured brokers are the
tests' own."""

import base64
import hashlib
import os
import signal
import subprocess

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
                                   ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion)
from kazoo.client import KazooClient
from kazoo.exceptions import (AuthFailedError, BadVersionError, ConnectionClosedError, InvalidACLError,
                              NoAuthError, NoNodeError, RolledBackError)
from kazoo.security import ACL, Id, make_digest_acl

from conftest import SLUICE_CLI, Broker, wait_until

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
WAIT_S = 30
CLI_TIMEOUT_S = 60
ZKCLI_TIMEOUT_S = 120

READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16
ALL = READ | WRITE | CREATE | DELETE | ADMIN


def digest(user, password):
    """ZooKeeper's DigestAuthenticationProvider: base64(sha1("user:password"))."""
    return base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()


KAFKA_PASSWORD = "kafka-secret"
SUPER_PASSWORD = "admin-secret"
KAFKA_ID = f"kafka:{digest('kafka', KAFKA_PASSWORD)}"
KAFKA_AUTH = [("digest", f"kafka:{KAFKA_PASSWORD}")]
SUPER_AUTH = [("digest", f"super:{SUPER_PASSWORD}")]
# Kafka's ZkData.SensitiveRootPaths: ALL to the creator, nothing to anyone else.
SENSITIVE_ROOTS = ("/config/users", "/config/brokers", "/delegation_token/tokens")
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
SETTINGS = [
    "zookeeper.set.acl=true",
    f"keeper.connect.auth=digest:kafka:{KAFKA_PASSWORD}",
    f"keeper.super.digest=super:{digest('super', SUPER_PASSWORD)}",
    # A SASL listener, so that SCRAM credentials (kept under /config/users, which only the broker
    # may read) are used by the broker, not merely stored.
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512",
    f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={SCRAM_JAAS}",
    "group.initial.rebalance.delay.ms=0",
]


# --- the broker -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    """The module's broker, with what the tests share made through Kafka's APIs: the topic
    `acl-orders`, the SCRAM user acl-alice and a per-broker config (/config/brokers/0)."""
    b = Broker(tmp_path_factory.mktemp("keeper-auth"), SETTINGS, sasl_listener=True)
    b.start()
    b.topic = "acl-orders"
    create_topic(b, b.topic)
    add_scram_user(b, "acl-alice", "alice-secret")
    resource = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[
        ConfigEntry("log.retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    a = admin(b)
    a.incremental_alter_configs([resource])[resource].result(timeout=WAIT_S)
    yield b
    b.stop()


def log_size(broker):
    try:
        return broker.log_path.stat().st_size
    except FileNotFoundError:
        return 0


@pytest.fixture
def broker(shared_broker, request):
    """The module's broker, its log since the test began printed when the test failed."""
    offset = log_size(shared_broker)
    yield shared_broker
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        with open(shared_broker.log_path, "rb") as f:
            f.seek(offset)
            print(f"\n--- sluiced log (during the test) ---\n{f.read().decode(errors='replace')[-20000:]}")


@pytest.fixture
def zk(broker):
    """`zk(auth_data=None)`: a started kazoo client of the module's keeper (current address),
    stopped afterwards."""
    clients = []

    def connect(auth_data=None):
        c = KazooClient(hosts=broker.keeper, timeout=WAIT_S, auth_data=auth_data)
        clients.append(c)
        c.start(timeout=WAIT_S)
        return c

    yield connect
    for c in clients:
        try:
            c.stop()
            c.close()
        except Exception:  # a client whose session the server closed (AUTHFAILED)
            pass


# --- helpers --------------------------------------------------------------------------------------

def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create_topic(broker, name, partitions=1):
    a = admin(broker)  # kept alive until its future is done
    a.create_topics([NewTopic(name, partitions, 1)], operation_timeout=WAIT_S)[name].result(timeout=WAIT_S)


def delete_topic(broker, name):
    a = admin(broker)
    a.delete_topics([name], operation_timeout=WAIT_S)[name].result(timeout=WAIT_S)


def produce(conf, topic, values):
    """Produces `values` to partition 0; the delivery errors (all None when delivered)."""
    producer = Producer({"message.timeout.ms": 20000, "acks": "all", **conf})
    errors = []
    for v in values:
        producer.produce(topic, value=v, partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(WAIT_S) == 0, "every delivery report came"
    return errors


def consume(broker, topic, count, group):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    try:
        for _ in range(600):  # bounded: 600 polls of at most 0.2 s
            if len(got) >= count:
                break
            msg = c.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg.value())
    finally:
        c.close()
    return got


def add_scram_user(broker, user, password):
    """Creates a SCRAM-SHA-512 credential through Kafka's AlterUserScramCredentials (KIP-554)."""
    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                          password.encode())
    a = admin(broker)
    for future in a.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=WAIT_S)


def scram_conf(broker, user, password):
    return {"bootstrap.servers": broker.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": password}


def acl_set(acls):
    """A kazoo ACL list as a set of (perms, scheme, id)."""
    return {(a.perms, a.id.scheme, a.id.id) for a in acls}


def kafka_acls(path):
    """What Kafka's ZkData.defaultAcls gives a znode the broker creates with zookeeper.set.acl."""
    if any(path.startswith(root) for root in SENSITIVE_ROOTS):
        return {(ALL, "digest", KAFKA_ID)}
    return {(ALL, "digest", KAFKA_ID), (READ, "world", "anyone")}


def walk(client, path="/"):
    """Every znode under `path` (itself included), depth first."""
    out = [path]
    for child in sorted(client.get_children(path)):
        out += walk(client, (path.rstrip("/") + "/" + child))
    return out


def kafka_znodes(super_client):
    """Every znode of Kafka's layout: all but the root, /zookeeper and the tests' own /acl-test-*."""
    return [p for p in walk(super_client)
            if p != "/" and not p.startswith("/zookeeper") and not p.startswith("/acl-test")]


def acl_mismatches(super_client):
    """{path: ACL} for every znode of Kafka's layout whose ACL is not Kafka's (a znode gone
    between the listing and getACL, such as a consumed change notification, is skipped)."""
    wrong = {}
    for path in kafka_znodes(super_client):
        try:
            acls = acl_set(super_client.get_acls(path)[0])
        except NoNodeError:
            continue
        if acls != kafka_acls(path):
            wrong[path] = acls
    return wrong


def sluice(*args, expect=0):
    done = subprocess.run([SLUICE_CLI, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    if expect is not None:
        assert done.returncode == expect, (args, done.returncode, done.stdout, done.stderr)
    return done


def parse_getacl(text):
    """zkCli's getAcl output (`'scheme,'id` then `: perms`, per entry) as a set of
    (perms letters, scheme, id)."""
    out, current = set(), None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("'") and ",'" in line:
            scheme, ident = line[1:].split(",'", 1)
            current = (scheme, ident)
        elif line.startswith(": ") and current:
            out.add(("".join(sorted(line[2:])), *current))
            current = None
    return out


def zkcli(broker, *command, script=None):
    """Runs zkCli.sh on the module's keeper: one command as arguments, or an interactive session
    fed `script`; the output after the connection event, without Java's logging noise."""
    assert os.access(ZKCLI, os.X_OK), f"{ZKCLI} missing: scripts/test installs Debian's zookeeper"
    r = subprocess.run([ZKCLI, "-server", broker.keeper, *command], input=script, capture_output=True, text=True,
                       timeout=ZKCLI_TIMEOUT_S)
    out = r.stdout + r.stderr
    assert "SyncConnected" in out, f"zkCli.sh never connected:\n{out}"
    after = out.split("WatchedEvent state:SyncConnected type:None path:null", 1)[1]
    return "\n".join(line for line in after.splitlines() if not line.startswith("SLF4J:")).strip()


# --- the broker with ACLs on ----------------------------------------------------------------------

def test_the_broker_works_and_lays_down_kafkas_acls(broker, zk):
    """A topic made and used through Kafka, the fixture's SCRAM user and per-broker config:
    every znode of Kafka's layout then carries exactly Kafka's ACLs (sensitive roots broker-only),
    and neither password is in the broker's log."""
    create_topic(broker, "acl-used")
    values = [f"order-{i}".encode() for i in range(20)]
    # Idempotence makes the broker claim a producer id block in keeper (/latest_producer_id_block).
    assert produce({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True}, "acl-used",
                   values) == [None] * 20
    assert consume(broker, "acl-used", 20, "acl-used-reader") == values

    root = zk(SUPER_AUTH)
    nodes = kafka_znodes(root)
    for expected in ["/brokers/ids/0", "/brokers/topics/acl-used", "/config/topics/acl-used",
                     "/brokers/topics/acl-used/partitions/0/state", f"/brokers/topics/{broker.topic}",
                     "/config/users/acl-alice", "/config/brokers/0", "/controller", "/cluster/id"]:
        assert expected in nodes, (expected, nodes)
    assert acl_mismatches(root) == {}, "znodes without Kafka's ACLs"
    # The root stays ZooKeeper's world:anyone ALL.
    assert acl_set(root.get_acls("/")[0]) == {(ALL, "world", "anyone")}
    log = broker.log()
    assert KAFKA_PASSWORD not in log and SUPER_PASSWORD not in log


# --- without credentials ----------------------------------------------------------------------------

def test_kazoo_without_credentials_reads_but_cannot_change_kafka_znodes(broker, zk):
    """The must-show, with kazoo: anonymous reads of public znodes work, every change is NOAUTH
    and changes nothing, and getACL masks the broker's digest (no ADMIN)."""
    t = broker.topic
    anon = zk()
    root = zk(SUPER_AUTH)
    before = {p: root.get(p) for p in [f"/brokers/topics/{t}", f"/config/topics/{t}", "/brokers/ids/0"]}

    assert b'"partitions"' in anon.get(f"/brokers/topics/{t}")[0]
    assert anon.get_children("/brokers/ids") == ["0"]
    assert b'"endpoints"' in anon.get("/brokers/ids/0")[0]
    assert t in anon.get_children("/brokers/topics")

    with pytest.raises(NoAuthError):
        anon.set(f"/brokers/topics/{t}", b'{"version":3,"partitions":{}}')
    with pytest.raises(NoAuthError):
        anon.set(f"/config/topics/{t}", b'{"version":1,"config":{"retention.ms":"1"}}')
    with pytest.raises(NoAuthError):
        anon.delete("/brokers/ids/0")  # an ephemeral node: DELETE is checked on /brokers/ids
    with pytest.raises(NoAuthError):
        anon.delete(f"/brokers/topics/{t}", recursive=True)
    with pytest.raises(NoAuthError):
        anon.create("/brokers/topics/evil", b'{"version":3,"partitions":{"0":[0]}}')
    # Kafka deletes a topic named under /admin/delete_topics; nobody anonymous can make one.
    with pytest.raises(NoAuthError):
        anon.create(f"/admin/delete_topics/{t}", b"", makepath=True)
    with pytest.raises(NoAuthError):
        anon.create("/controller/evil", b"")
    with pytest.raises(NoAuthError):
        anon.set_acls(f"/brokers/topics/{t}", [ACL(ALL, Id("world", "anyone"))])
    # A multi carrying a refused op is refused whole.
    tx = anon.transaction()
    tx.create("/acl-test-anon-tx", b"")
    tx.set_data(f"/config/topics/{t}", b"{}")
    results = tx.commit()
    assert isinstance(results[0], RolledBackError) and isinstance(results[1], NoAuthError), results
    assert anon.exists("/acl-test-anon-tx") is None

    acls, stat = anon.get_acls(f"/brokers/topics/{t}")
    assert acl_set(acls) == {(ALL, "digest", "kafka:x"), (READ, "world", "anyone")}
    assert stat.aversion == 0

    after = {p: root.get(p) for p in before}
    assert {p: (d, s.version) for p, (d, s) in after.items()} == {p: (d, s.version) for p, (d, s) in before.items()}
    assert anon.exists("/brokers/topics/evil") is None and anon.exists("/admin/delete_topics") is None
    assert t in [name for name in admin(broker).list_topics(timeout=WAIT_S).topics]


def test_sensitive_znodes_are_unreadable_without_credentials(broker, zk):
    """A SCRAM credential (made through Kafka's API and through `sluice user scram add -b`) and
    the broker configs: /config/users and /config/brokers are the broker's alone, not even
    listable or getACL-able anonymously; `exists` is not checked (ZooKeeper 3.8)."""
    add_scram_user(broker, "acl-bob", "bob-secret")
    done = sluice("user", "scram", "add", "acl-carol", "--password", "carol-secret", "--mechanism", "SCRAM-SHA-512",
                  "-b", broker.bootstrap)
    assert "acl-carol" in done.stdout
    anon = zk()
    for path in ["/config/users/acl-bob", "/config/users/acl-carol", "/config/users", "/config/brokers"]:
        with pytest.raises(NoAuthError):
            anon.get(path)
        with pytest.raises(NoAuthError):
            anon.get_acls(path)
        assert anon.exists(path) is not None, path
    for path in ["/config/users", "/config/brokers"]:
        with pytest.raises(NoAuthError):
            anon.get_children(path)
    with pytest.raises(NoAuthError):
        anon.set("/config/users/acl-bob", b'{"version":1,"config":{}}')
    with pytest.raises(NoAuthError):
        anon.create("/config/users/acl-mallory", b'{"version":1,"config":{}}')
    # The broker reads them with its own identity: both users log in.
    for user, password in [("acl-bob", "bob-secret"), ("acl-carol", "carol-secret")]:
        assert produce(scram_conf(broker, user, password), broker.topic, [user.encode()]) == [None], user


# --- with credentials ---------------------------------------------------------------------------------

def test_kazoo_with_the_brokers_credentials_can_change_kafka_znodes(broker, zk):
    """kazoo with auth_data digest kafka:kafka-secret writes /config/topics/<t> (then restores
    it), reads a SCRAM credential and sees the unmasked digest; a wrong password proves another
    identity, so it changes nothing."""
    t = broker.topic
    path = f"/config/topics/{t}"
    kafka = zk(KAFKA_AUTH)
    original, stat = kafka.get(path)
    changed = b'{"version":1,"config":{"retention.ms":"86400000"}}'
    assert kafka.set(path, changed, version=stat.version).version == stat.version + 1
    assert kafka.get(path)[0] == changed
    assert kafka.set(path, original, version=stat.version + 1).version == stat.version + 2
    assert kafka.get(path)[0] == original

    acls, _ = kafka.get_acls(f"/brokers/topics/{t}")
    assert acl_set(acls) == {(ALL, "digest", KAFKA_ID), (READ, "world", "anyone")}
    assert b"SCRAM-SHA-512" in kafka.get("/config/users/acl-alice")[0]
    assert acl_set(kafka.get_acls("/config/users/acl-alice")[0]) == {(ALL, "digest", KAFKA_ID)}

    # Digest auth never fails: a wrong password is a different identity, refused at use.
    impostor = zk([("digest", "kafka:not-the-secret")])
    assert impostor.connected
    with pytest.raises(NoAuthError):
        impostor.set(path, b"{}")
    with pytest.raises(NoAuthError):
        impostor.get("/config/users/acl-alice")
    assert acl_set(impostor.get_acls(path)[0]) == {(ALL, "digest", "kafka:x"), (READ, "world", "anyone")}
    # addauth later in the session works as at connect, and adds to the session's identities.
    impostor.add_auth("digest", f"kafka:{KAFKA_PASSWORD}")
    assert b"SCRAM-SHA-512" in impostor.get("/config/users/acl-alice")[0]


def test_the_super_digest_passes_every_acl(broker, zk):
    """The session that proves super:admin-secret (keeper.super.digest) reads the sensitive
    znodes, creates and deletes under Kafka's znodes and changes an ACL (bumping aversion)."""
    root = zk(SUPER_AUTH)
    assert b"SCRAM-SHA-512" in root.get("/config/users/acl-alice")[0]
    assert b"log.retention.ms" in root.get("/config/brokers/0")[0]
    assert "acl-alice" in root.get_children("/config/users")
    assert root.create("/admin/acl-test-super", b"x") == "/admin/acl-test-super"
    # Made without an ACL by kazoo: its default is world:anyone ALL.
    root.delete("/admin/acl-test-super")
    assert root.exists("/admin/acl-test-super") is None

    path = f"/config/topics/{broker.topic}"
    acls, stat = root.get_acls(path)
    assert acl_set(acls) == {(ALL, "digest", KAFKA_ID), (READ, "world", "anyone")}
    with pytest.raises(BadVersionError):
        root.set_acls(path, acls, version=stat.aversion + 5)
    assert root.set_acls(path, acls, version=stat.aversion).aversion == stat.aversion + 1
    assert acl_set(root.get_acls(path)[0]) == kafka_acls(path)
    # A wrong super password is just another identity.
    pretender = zk([("digest", "super:guess")])
    with pytest.raises(NoAuthError):
        pretender.get("/config/users/acl-alice")


# --- zkCli.sh ---------------------------------------------------------------------------------------

def test_zkcli_without_credentials_cannot_change_kafka_znodes(broker, zk):
    """Apache's zkCli.sh with no addauth: set, delete, create and setAcl on Kafka's znodes print
    "Insufficient permission" and change nothing; getAcl shows the masked digest."""
    t = broker.topic
    before = zk(SUPER_AUTH).get(f"/config/topics/{t}")
    assert "Insufficient permission" in zkcli(broker, "set", f"/config/topics/{t}", "x")
    out = zkcli(broker, script=f"delete /brokers/ids/0\ncreate /brokers/topics/evil x\nget /config/users/acl-alice\n"
                               f"setAcl /brokers/topics/{t} world:anyone:cdrwa\ngetAcl /brokers/topics/{t}\nquit\n")
    for refused in ["/brokers/ids/0", "/brokers/topics/evil", "/config/users/acl-alice", f"/brokers/topics/{t}"]:
        assert f"Insufficient permission : {refused}" in out, (refused, out)
    assert parse_getacl(out) == {("acdrw", "digest", "kafka:x"), ("r", "world", "anyone")}, out
    after = zk(SUPER_AUTH)
    assert after.get(f"/config/topics/{t}") == before
    assert after.exists("/brokers/topics/evil") is None and after.exists("/brokers/ids/0") is not None
    assert acl_set(after.get_acls(f"/brokers/topics/{t}")[0]) == kafka_acls(f"/brokers/topics/{t}")


def test_zkcli_with_the_brokers_credentials_can(broker, zk):
    """zkCli.sh after `addauth digest kafka:kafka-secret`: getAcl shows the full digest, a
    harmless setData (the same bytes) goes through (its version moves on) and a SCRAM credential
    is readable; after `addauth digest kafka:wrong` instead, the same set is refused."""
    t = broker.topic
    path = f"/config/topics/{t}"
    data, stat = zk().get(path)
    text = data.decode()
    assert " " not in text and "'" not in text  # one zkCli argument as it is
    out = zkcli(broker, script=f"addauth digest kafka:{KAFKA_PASSWORD}\ngetAcl {path}\nset {path} {text}\n"
                               f"get /config/users/acl-alice\nquit\n")
    assert "Insufficient permission" not in out, out
    assert parse_getacl(out) == {("acdrw", "digest", KAFKA_ID), ("r", "world", "anyone")}, out
    assert "SCRAM-SHA-512" in out, out
    new_data, new_stat = zk().get(path)
    assert (new_data, new_stat.version) == (data, stat.version + 1)

    out = zkcli(broker, script=f"addauth digest kafka:wrong\nset {path} {text}\nquit\n")
    assert f"Insufficient permission : {path}" in out, out
    assert zk().get(path)[1].version == stat.version + 1


# --- ZooKeeper's rules on nodes of the test's own -----------------------------------------------------

def test_zookeeper_acl_rules(broker, zk):
    """The `auth` scheme expands to the session's digest ids (INVALIDACL without one); malformed
    digest ids and unknown schemes are INVALIDACL; ip ACLs match the client's address; DELETE is
    checked on the parent, not the node; getACL needs READ or ADMIN and masks digests without
    ADMIN; setACL needs ADMIN; `exists` is not checked; a `check` in a multi needs READ."""
    base = "/acl-test-rules"
    anon = zk()
    bob = zk([("digest", "bob:bob-pw"), ("digest", "carol:carol-pw")])
    anon.create(base, b"")
    try:
        assert bob.create(f"{base}/auth", b"1", acl=[ACL(ALL, Id("auth", ""))]) == f"{base}/auth"
        assert acl_set(bob.get_acls(f"{base}/auth")[0]) == {(ALL, "digest", f"bob:{digest('bob', 'bob-pw')}"),
                                                            (ALL, "digest", f"carol:{digest('carol', 'carol-pw')}")}
        with pytest.raises(InvalidACLError):
            anon.create(f"{base}/x", b"", acl=[ACL(ALL, Id("auth", ""))])
        with pytest.raises(InvalidACLError):
            anon.create(f"{base}/x", b"", acl=[ACL(ALL, Id("digest", "no-colon"))])
        with pytest.raises(InvalidACLError):
            anon.create(f"{base}/x", b"", acl=[ACL(ALL, Id("nosuchscheme", "x"))])
        with pytest.raises(InvalidACLError):
            anon.set_acls(base, [])
        assert anon.exists(f"{base}/x") is None

        # kazoo's make_digest_acl computes the same digest as the server.
        anon.create(f"{base}/bobs", b"secret", acl=[make_digest_acl("bob", "bob-pw", all=True)])
        with pytest.raises(NoAuthError):
            anon.get(f"{base}/bobs")
        assert bob.get(f"{base}/bobs")[0] == b"secret"
        assert anon.exists(f"{base}/bobs").dataLength == 6  # exists is not checked
        with pytest.raises(NoAuthError):
            anon.get_acls(f"{base}/bobs")
        tx = anon.transaction()
        tx.check(f"{base}/bobs", 0)
        assert isinstance(tx.commit()[0], NoAuthError)
        # DELETE is the parent's: world:anyone ALL on base lets anyone delete bob's node.
        anon.delete(f"{base}/bobs")
        assert bob.exists(f"{base}/bobs") is None

        anon.create(f"{base}/ip", b"1", acl=[ACL(READ, Id("ip", "127.0.0.1"))])
        assert anon.get(f"{base}/ip")[0] == b"1"
        anon.create(f"{base}/ip-other", b"1", acl=[ACL(READ, Id("ip", "10.9.8.7"))])
        with pytest.raises(NoAuthError):
            anon.get(f"{base}/ip-other")

        # ADMIN alone: getACL unmasked, setACL allowed (aversion checked and bumped), no READ.
        anon.create(f"{base}/admin-only", b"1", acl=[ACL(ADMIN, Id("world", "anyone")),
                                                     make_digest_acl("bob", "bob-pw", read=True)])
        with pytest.raises(NoAuthError):
            anon.get(f"{base}/admin-only")
        acls, stat = anon.get_acls(f"{base}/admin-only")
        assert (READ, "digest", f"bob:{digest('bob', 'bob-pw')}") in acl_set(acls)
        with pytest.raises(BadVersionError):
            anon.set_acls(f"{base}/admin-only", [ACL(ALL, Id("world", "anyone"))], version=stat.aversion + 1)
        assert anon.set_acls(f"{base}/admin-only", [ACL(ALL, Id("world", "anyone"))], version=0).aversion == 1
        assert anon.get(f"{base}/admin-only")[0] == b"1"

        # READ without ADMIN: getACL works with digests masked; WRITE alone does not read.
        anon.create(f"{base}/read-only", b"1", acl=[ACL(READ, Id("world", "anyone")),
                                                    make_digest_acl("bob", "bob-pw", all=True)])
        assert acl_set(anon.get_acls(f"{base}/read-only")[0]) == {(READ, "world", "anyone"), (ALL, "digest", "bob:x")}
        with pytest.raises(NoAuthError):
            anon.set_acls(f"{base}/read-only", [ACL(ALL, Id("world", "anyone"))])
        with pytest.raises(NoAuthError):
            anon.create(f"{base}/read-only/child", b"")
        anon.create(f"{base}/write-only", b"1", acl=[ACL(WRITE, Id("world", "anyone"))])
        assert anon.set(f"{base}/write-only", b"2").version == 1
        with pytest.raises(NoAuthError):
            anon.get(f"{base}/write-only")
        with pytest.raises(NoAuthError):
            anon.get_children(f"{base}/write-only")
    finally:
        zk(SUPER_AUTH).delete(base, recursive=True)


def test_an_unknown_addauth_scheme_fails_the_session(broker, zk):
    """addauth with a scheme the server does not know is answered AUTHFAILED and the connection
    closed (kazoo's session is lost); digest addauth on the same server is fine."""
    c = zk()
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "whatever")
    wait_until(lambda: not c.connected, timeout_s=WAIT_S, what="the session to end after AUTHFAILED")
    # kazoo then fails every request with the AUTHFAILED it kept, or as closed.
    with pytest.raises((AuthFailedError, ConnectionClosedError)):
        c.get("/brokers/ids")
    fine = zk()
    fine.add_auth("digest", "someone:anything")
    assert fine.get_children("/brokers/ids") == ["0"]


def test_zookeeper_checks_acls_before_versions_and_existence(broker, zk):
    """ZooKeeper 3.8's PrepRequestProcessor checks the ACL before the version (setData, delete,
    setACL) and, for delete, the parent's DELETE before the node's existence; create under a
    missing parent is NONODE before anything, and an invalid ACL INVALIDACL before NOAUTH. So an
    anonymous client learns no versions of Kafka's znodes from refusals. (Each answer here is the
    one Apache ZooKeeper 3.8.0, Debian's package, gives to kazoo.)"""
    t = broker.topic
    anon = zk()
    with pytest.raises(NoAuthError):
        anon.set(f"/config/topics/{t}", b"{}", version=12345)
    with pytest.raises(NoAuthError):
        anon.set_acls(f"/brokers/topics/{t}", [ACL(ALL, Id("world", "anyone"))], version=12345)
    with pytest.raises(NoAuthError):
        anon.delete(f"/brokers/topics/{t}", version=12345)
    with pytest.raises(InvalidACLError):
        anon.set_acls(f"/brokers/topics/{t}", [ACL(ALL, Id("auth", ""))])
    with pytest.raises(NoNodeError):
        anon.create("/brokers/no-such-parent/child", b"")
    # DeleteRequest: getRecordForPath(parent), checkACL(parent, DELETE), then getRecordForPath(path).
    with pytest.raises(NoAuthError):
        anon.delete("/brokers/topics/acl-no-such-topic")


# --- the sluice CLI ---------------------------------------------------------------------------------

def test_sluice_keeper_digest_getacl_setacl_and_noauth(broker):
    """`sluice keeper digest` prints ZooKeeper's digest id; `create --acl`, `getacl` (masked
    without ADMIN) and `setacl -v` on a node of the test's own; refusals exit non-zero naming
    NOAUTH, INVALIDACL or BADVERSION."""
    k = ["keeper", "-k", broker.keeper]
    assert sluice("keeper", "digest", f"super:{SUPER_PASSWORD}").stdout.strip() == \
        f"super:{digest('super', SUPER_PASSWORD)}"
    node = "/acl-test-cli"
    bob = k + ["--auth", "digest:bob:bob-pw"]
    try:
        sluice(*bob, "create", node, "hello", "--acl", "auth::cdrwa,world:anyone:r")
        assert parse_getacl(sluice(*bob, "getacl", node).stdout) == {
            ("acdrw", "digest", f"bob:{digest('bob', 'bob-pw')}"), ("r", "world", "anyone")}
        assert parse_getacl(sluice(*k, "getacl", node).stdout) == {("acdrw", "digest", "bob:x"),
                                                                   ("r", "world", "anyone")}
        assert sluice(*k, "get", node).stdout.strip() == "hello"

        refused = sluice(*k, "set", node, "mine", expect=None)
        assert refused.returncode != 0 and "NOAUTH" in refused.stderr, refused
        refused = sluice(*k, "setacl", node, "world:anyone:cdrwa", expect=None)
        assert refused.returncode != 0 and "NOAUTH" in refused.stderr, refused
        refused = sluice(*k, "set", f"/config/topics/{broker.topic}", "x", expect=None)
        assert refused.returncode != 0 and "NOAUTH" in refused.stderr, refused
        refused = sluice(*k, "get", "/config/users/acl-alice", expect=None)
        assert refused.returncode != 0 and "NOAUTH" in refused.stderr, refused
        refused = sluice(*k, "create", "/acl-test-cli-2", "x", "--acl", "auth::cdrwa", expect=None)
        assert refused.returncode != 0 and "INVALIDACL" in refused.stderr, refused

        stale = sluice(*bob, "setacl", node, "auth::cdrwa,world:anyone:rw", "-v", "3", expect=None)
        assert stale.returncode != 0 and "BADVERSION" in stale.stderr, stale
        sluice(*bob, "setacl", node, "auth::cdrwa,world:anyone:rw", "-v", "0")
        stat = dict(line.split(" = ", 1) for line in sluice(*k, "stat", node).stdout.splitlines() if " = " in line)
        assert stat["aclVersion"] == "1", stat
        stale = sluice(*bob, "setacl", node, "auth::cdrwa,world:anyone:rw", "-v", "0", expect=None)
        assert stale.returncode != 0 and "BADVERSION" in stale.stderr, stale
        sluice(*k, "set", node, "anyone-writes")  # world:anyone now has w
        assert sluice(*k, "get", node).stdout.strip() == "anyone-writes"
        assert ("rw", "world", "anyone") in parse_getacl(sluice(*k, "getacl", node).stdout)
    finally:
        sluice(*k, "--auth", f"digest:super:{SUPER_PASSWORD}", "delete", node, expect=None)


def test_sluice_user_scram_add_straight_into_keeper(broker, zk):
    """`sluice user scram add --keeper` writes into /config/users: refused (NOAUTH, non-zero)
    without credentials, made with Kafka's ACLs (the broker's identity only, unreadable
    anonymously) with --keeper-auth, and the broker then authenticates the user with it."""
    args = ["user", "scram", "add", "acl-dave", "--password", "dave-secret", "--mechanism", "SCRAM-SHA-512",
            "--keeper", broker.keeper]
    refused = sluice(*args, expect=None)
    assert refused.returncode != 0 and "NOAUTH" in refused.stderr, refused
    assert zk(SUPER_AUTH).exists("/config/users/acl-dave") is None
    sluice(*args, "--keeper-auth", f"digest:kafka:{KAFKA_PASSWORD}")
    anon = zk()
    with pytest.raises(NoAuthError):
        anon.get("/config/users/acl-dave")
    root = zk(SUPER_AUTH)
    assert acl_set(root.get_acls("/config/users/acl-dave")[0]) == {(ALL, "digest", KAFKA_ID)}
    assert b"SCRAM-SHA-512" in root.get("/config/users/acl-dave")[0]
    assert produce(scram_conf(broker, "acl-dave", "dave-secret"), broker.topic, [b"dave"]) == [None]


# --- the broker keeps working ---------------------------------------------------------------------------

def test_metadata_changes_work_before_and_after_a_restart(broker, zk):
    """The broker creates and deletes topics with ACLs on, and again after a restart: its new
    keeper session proves keeper.connect.auth, or it could not write its own znodes. Every znode
    of Kafka's layout still has Kafka's ACLs afterwards."""
    def round_trip(topic):
        create_topic(broker, topic)
        assert produce({"bootstrap.servers": broker.bootstrap}, topic, [b"x"]) == [None]
        anon = zk()
        assert acl_set(anon.get_acls(f"/brokers/topics/{topic}")[0]) == {(ALL, "digest", "kafka:x"),
                                                                          (READ, "world", "anyone")}
        delete_topic(broker, topic)
        wait_until(lambda: anon.exists(f"/brokers/topics/{topic}") is None and
                   topic not in admin(broker).list_topics(timeout=WAIT_S).topics,
                   timeout_s=WAIT_S, what=f"{topic} deleted")

    survivors = [f"survivor-{i}".encode() for i in range(10)]
    create_topic(broker, "acl-survivor")
    assert produce({"bootstrap.servers": broker.bootstrap}, "acl-survivor", survivors) == [None] * 10
    round_trip("acl-before-restart")
    broker.stop()
    broker.start()
    round_trip("acl-after-restart")
    add_scram_user(broker, "acl-erin", "erin-secret")
    assert produce(scram_conf(broker, "acl-erin", "erin-secret"), broker.topic, [b"erin"]) == [None]
    # The records from before the restart are all still there.
    assert consume(broker, "acl-survivor", 10, "acl-survivor-reader") == survivors
    root = zk(SUPER_AUTH)
    assert root.exists("/brokers/ids/0") is not None  # registered again, with Kafka's ACLs
    assert acl_mismatches(root) == {}, "znodes without Kafka's ACLs"


# --- misconfiguration ---------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, key, secret", [
    (["zookeeper.set.acl=true"], "zookeeper.set.acl", None),
    (["keeper.connect.auth=sasl:very-secret-value"], "keeper.connect.auth", "very-secret-value"),
    (["zookeeper.set.acl=true", "keeper.connect.auth=digest:kafka-no-password"], "keeper.connect.auth",
     "kafka-no-password"),
])
def test_misconfigured_acls_refuse_to_start(tmp_path, overrides, key, secret):
    """zookeeper.set.acl without keeper.connect.auth, a scheme other than digest, or a credential
    without a password: the broker exits non-zero at once, naming the key, not echoing it."""
    b = Broker(tmp_path, overrides)
    try:
        with pytest.raises(RuntimeError, match="sluiced exited with"):
            b.start()
        assert b.proc.returncode not in (None, 0)
        log = b.log()
        assert key in log, log
        if secret:
            assert secret not in log, log
    finally:
        if b.proc and b.proc.poll() is None:
            b.stop(signal.SIGKILL)

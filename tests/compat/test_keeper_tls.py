"""Keeper over TLS, as ZooKeeper serves it: a secure client port (`keeper.secure.client.port`,
ZooKeeper's `secureClientPort`) where a client certificate is required and proves the identity
`x509:<subject DN>`, a broker that reaches its keeper there with its own certificate
(`zookeeper.ssl.*`, Kafka's KIP-515 keys) and protects what it creates with `zookeeper.set.acl`,
and a three-node ensemble whose nodes reach each other over mutual TLS only (`keeper.ssl.quorum`,
ZooKeeper's `sslQuorum`).

Checked with kazoo (TLS with a client certificate) and Apache ZooKeeper's own zkCli.sh (its
Netty client with PEM stores): the broker's certificate may change Kafka's znodes, another
certificate from the same CA may only read them, a client without a certificate or with one from
another CA is refused at the handshake."""

import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from certs import Certs  # tests/support, on the path through conftest
from conftest import Broker, free_ports, wait_until
from test_keeper_ensemble import three_nodes

WAIT_S = 60
ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
NETTY_JARS = ("buffer", "codec", "common", "handler", "resolver", "transport", "transport-native-unix-common",
              "transport-native-epoll")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"), "kafka", "mallory")


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory):
    """Another CA's client certificate with the broker's subject: trusted by nobody here."""
    return Certs(tmp_path_factory.mktemp("other-certs"), "kafka")


@pytest.fixture(scope="module")
def secured(tmp_path_factory, certs):
    """A broker whose embedded keeper has a TLS client port and whose keeper client uses it,
    presenting CN=kafka, with zookeeper.set.acl on."""
    secure_port = free_ports(1)[0]
    b = Broker(tmp_path_factory.mktemp("secured"), [
        f"keeper.secure.client.port={secure_port}",
        f"keeper.ssl.keystore.location={certs.broker}",
        f"keeper.ssl.truststore.location={certs.ca}",
        "zookeeper.ssl.client.enable=true",
        f"zookeeper.ssl.keystore.location={certs.client_pem('kafka')}",
        f"zookeeper.ssl.truststore.location={certs.ca}",
        "zookeeper.set.acl=true",
    ])
    b.secure_keeper = f"127.0.0.1:{secure_port}"
    b.start()
    yield b
    b.stop()


def kazoo_tls(broker, certs, name=None, **extra):
    """A started kazoo session on the secure port, with client `name`'s certificate if given."""
    args = {"use_ssl": True, "ca": str(certs.ca), "verify_certs": True}
    if name:
        cert, key = certs.client(name)
        args.update(certfile=str(cert), keyfile=str(key))
    zk = KazooClient(hosts=broker.secure_keeper, timeout=10, **args, **extra)
    zk.start(timeout=30)
    return zk


def make_topic(broker, name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)


def test_the_broker_works_through_its_tls_keeper_and_its_znodes_belong_to_its_certificate(secured, certs):
    make_topic(secured, "tls-orders")
    p = Producer({"bootstrap.servers": secured.bootstrap})
    p.produce("tls-orders", b"over a TLS keeper")
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": secured.bootstrap, "group.id": "g", "auto.offset.reset": "earliest"})
    c.subscribe(["tls-orders"])
    deadline = time.monotonic() + WAIT_S
    got = None
    while got is None and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got = m.value()
    c.close()
    assert got == b"over a TLS keeper"

    owner = kazoo_tls(secured, certs, "kafka")
    try:
        acl, _ = owner.get_acls("/brokers/topics/tls-orders")
        entries = {(a.id.scheme, a.id.id, a.perms) for a in acl}
        assert entries == {("x509", Certs.subject("kafka"), 31), ("world", "anyone", 1)}, entries
        # The registration's parent too.
        ids_acl, _ = owner.get_acls("/brokers/ids")
        assert ("x509", Certs.subject("kafka"), 31) in {(a.id.scheme, a.id.id, a.perms) for a in ids_acl}
        # The broker's identity may change what it made.
        data, stat = owner.get("/config/topics/tls-orders")
        owner.set("/config/topics/tls-orders", data, version=stat.version)
    finally:
        owner.stop()
        owner.close()


def test_another_certificate_reads_but_cannot_change_kafka_znodes(secured, certs):
    make_topic(secured, "tls-guarded")
    mallory = kazoo_tls(secured, certs, "mallory")
    try:
        data, _ = mallory.get("/brokers/topics/tls-guarded")
        assert b"partitions" in data
        with pytest.raises(NoAuthError):
            mallory.set("/config/topics/tls-guarded", b'{"version":1,"config":{"retention.ms":"1"}}')
        with pytest.raises(NoAuthError):
            mallory.create("/brokers/topics/evil", b"{}")
        ids = mallory.get_children("/brokers/ids")
        assert ids, "the broker is registered"
        with pytest.raises(NoAuthError):
            mallory.delete(f"/brokers/ids/{ids[0]}")
    finally:
        mallory.stop()
        mallory.close()
    # Nor anonymously on the plain port.
    anonymous = KazooClient(hosts=secured.keeper, timeout=10)
    anonymous.start(timeout=30)
    try:
        with pytest.raises(NoAuthError):
            anonymous.set("/config/topics/tls-guarded", b"{}")
    finally:
        anonymous.stop()
        anonymous.close()


def handshake(address, certs, cert=None, key=None, ca=None):
    """A raw TLS handshake with the secure port, then ZooKeeper's `ruok`: the error, or None when
    the server answered `imok`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(str(ca or certs.ca))
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with ctx.wrap_socket(raw) as s:
                s.settimeout(10)
                # TLS 1.3 reports a refused client certificate at the first read.
                s.sendall(b"ruok")
                answer = s.recv(64)
                return None if answer == b"imok" else f"answered {answer!r}"
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return str(e)


def test_a_client_without_a_trusted_certificate_is_refused_at_the_handshake(secured, certs, other_certs):
    # ruok over TLS with the broker's client certificate: answered.
    assert handshake(secured.secure_keeper, certs, *certs.client("kafka")) is None
    # No certificate (ssl.clientAuth=need by default), or one from another CA: refused.
    assert handshake(secured.secure_keeper, certs) is not None
    assert handshake(secured.secure_keeper, certs, *other_certs.client("kafka")) is not None
    # The refusals are logged with the peer.
    wait_until(lambda: "keeper TLS handshake refused" in secured.log(), timeout_s=30, what="the refusal logged")


def zkcli(address, certs, name, commands):
    """zkCli.sh over TLS (its Netty client, PEM stores) with client `name`'s certificate."""
    if not (shutil.which("java") and os.path.exists(ZKCLI)):
        pytest.skip("Apache ZooKeeper's zkCli.sh (Debian package zookeeper) is not installed")
    # Debian's zkCli.sh puts only zookeeper.jar on the class path; its Netty client (the one that
    # speaks TLS) needs Debian's Netty jars too (a later -cp wins).
    netty = ":".join(f"/usr/share/java/netty-{j}.jar" for j in NETTY_JARS)
    flags = " ".join([
        f"-cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:{netty}",
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        "-Dzookeeper.client.secure=true",
        f"-Dzookeeper.ssl.keyStore.location={certs.client_pem(name)}",
        "-Dzookeeper.ssl.keyStore.type=PEM",
        f"-Dzookeeper.ssl.trustStore.location={certs.ca}",
        "-Dzookeeper.ssl.trustStore.type=PEM",
        "-Dzookeeper.ssl.hostnameVerification=false",
    ])
    env = dict(os.environ, CLIENT_JVMFLAGS=flags)
    done = subprocess.run([ZKCLI, "-waitforconnection", "-timeout", "30000", "-server", address], input="\n".join(commands + ["quit"]) + "\n",
                          capture_output=True, text=True, timeout=120, env=env)
    return done.stdout + done.stderr


def test_zkcli_over_tls_sees_who_owns_the_znodes_and_may_change_them_only_as_the_broker(secured, certs):
    make_topic(secured, "tls-zkcli")
    out = zkcli(secured.secure_keeper, certs, "kafka", ["whoami", "getAcl /brokers/topics/tls-zkcli"])
    # whoami names the certificate's subject; getAcl prints the id URL-encoded, as zkCli does.
    assert f"x509: {Certs.subject('kafka')}" in out, out
    assert "'x509,'" + Certs.subject("kafka").replace(",", "%2C") in out, out
    assert "'world,'anyone" in out, out
    out = zkcli(secured.secure_keeper, certs, "mallory", ["set /config/topics/tls-zkcli x"])
    assert "Insufficient permission" in out or "NoAuth" in out, out
    # The node is as the broker wrote it.
    owner = kazoo_tls(secured, certs, "kafka")
    try:
        data, _ = owner.get("/config/topics/tls-zkcli")
        assert data != b"x"
    finally:
        owner.stop()
        owner.close()


def test_an_ensemble_over_mutual_tls_replicates_and_refuses_a_plain_peer(tmp_path, certs):
    nodes, peer_ports = three_nodes(tmp_path, ["-o", "keeper.ssl.quorum=true",
                                               "-o", f"keeper.ssl.keystore.location={certs.broker}",
                                               "-o", f"keeper.ssl.truststore.location={certs.ca}"])
    try:
        for n in nodes:
            n.start()
        a = KazooClient(hosts=nodes[0].address, timeout=10)
        a.start(timeout=WAIT_S)
        c = KazooClient(hosts=nodes[2].address, timeout=10)
        c.start(timeout=WAIT_S)
        try:
            a.create("/over-tls", b"replicated")
            c.sync("/over-tls")
            assert c.get("/over-tls")[0] == b"replicated"
        finally:
            for z in (a, c):
                z.stop()
                z.close()
        # A plain TCP peer that sends a frame is refused by the TLS peer port, and logged.
        with socket.create_connection(("127.0.0.1", peer_ports[0]), timeout=10) as s:
            s.settimeout(10)
            s.sendall(b"\x00\x00\x00\x10" + b"\x00" * 16)
        wait_until(lambda: "keeper peer TLS handshake refused" in nodes[0].log(), timeout_s=30,
                   what="the plain peer's refusal logged")
        # A client certificate of the same CA, which names no keeper host, cannot pose as a node.
        assert handshake(f"127.0.0.1:{peer_ports[0]}", certs, *certs.client("mallory")) is not None
        wait_until(lambda: "names none of the ensemble's hosts" in nodes[0].log(), timeout_s=30,
                   what="the impostor peer's refusal logged")
    finally:
        for n in nodes:
            n.kill()

"""The secured compose cluster (docker/compose.yml with docker/compose.secure.yml), up from clean:
certificates from scripts/make-certs, the SCRAM credentials written into keeper before the
brokers start, brokers replicating to each other over SASL_SSL, and the host producing and
consuming over SASL_SSL as the administrator. Also what it refuses: a client without
credentials, a wrong password, a client that does not trust the cluster's CA, and a user
without ACLs, and a keeper client without the brokers' keeper login changing their znodes."""

import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

from conftest import ROOT, ComposeCluster, wait_until

SECURE_FILE = ROOT / "docker" / "compose.secure.yml"
ADMIN_PASSWORD = "admin-test-secret"
BROKER_PASSWORD = "broker-test-secret"
KEEPER_PASSWORD = "keeper-test-secret"
MESSAGES = 300


def sasl_ssl(certs, user, password):
    return {"security.protocol": "SASL_SSL", "ssl.ca.location": str(certs / "ca.pem"),
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": password}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    subprocess.run([ROOT / "scripts" / "make-certs", certs, "--host", "broker1", "--host", "broker2",
                    "--host", "broker3", "--host", "keeper1", "--host", "keeper2", "--host", "keeper3",
                    "--world-readable"], check=True, capture_output=True)
    c = ComposeCluster(extra_files=[SECURE_FILE], client_conf=sasl_ssl(certs, "admin", ADMIN_PASSWORD),
                       env={"SLUICE_CERTS_DIR": str(certs), "SLUICE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                            "SLUICE_BROKER_PASSWORD": BROKER_PASSWORD, "SLUICE_KEEPER_PASSWORD": KEEPER_PASSWORD})
    c.certs = certs
    try:
        c.up()
        yield c
    except Exception:
        print(c.logs())
        raise
    finally:
        c.down()


def test_the_secured_cluster_replicates_and_serves_the_host_over_sasl_ssl(secured):
    secured.create_topic("secure-orders", 3)
    conf = {"bootstrap.servers": secured.bootstrap, **secured.client_conf}
    p = Producer({**conf, "acks": "all", "enable.idempotence": True})
    acked = []
    for i in range(MESSAGES):
        p.produce("secure-orders", key=b"%d" % i, value=b"v%d" % i,
                  on_delivery=lambda err, msg: acked.append(msg) if err is None else None)
    assert p.flush(60) == 0
    assert len(acked) == MESSAGES
    c = Consumer({**conf, "group.id": "secure-readers", "auto.offset.reset": "earliest"})
    c.subscribe(["secure-orders"])
    seen = set()
    try:
        wait_until(lambda: poll_into(c, seen) and len(seen) >= MESSAGES, timeout_s=90, interval_s=0,
                   what="every acknowledged record read back")
    finally:
        c.close()
    assert seen == {(m.partition(), m.offset()) for m in acked}
    # Every partition has all three replicas in sync: followers fetched over SASL_SSL as User:broker.
    assert all(len(p.isrs) == 3 for p in secured.partitions("secure-orders").values())


def poll_into(consumer, seen):
    m = consumer.poll(1.0)
    if m is not None and m.error() is None:
        seen.add((m.partition(), m.offset()))
    return True


def metadata_error(conf):
    """What a client with `conf` gets when it asks for metadata (None: an answer)."""
    c = Consumer({**conf, "group.id": "probe", "socket.timeout.ms": 5000})
    try:
        c.list_topics(timeout=10)
        return None
    except Exception as e:
        return e
    finally:
        c.close()


def test_clients_without_credentials_or_trust_are_refused(secured, tmp_path):
    bootstrap = {"bootstrap.servers": secured.address(1)}
    assert metadata_error(bootstrap) is not None, "a plaintext client got metadata"
    wrong = sasl_ssl(secured.certs, "admin", "not-the-password")
    assert metadata_error({**bootstrap, **wrong}) is not None, "a wrong password got metadata"
    other = tmp_path / "other-ca"
    subprocess.run([ROOT / "scripts" / "make-certs", other], check=True, capture_output=True)
    untrusting = {**sasl_ssl(secured.certs, "admin", ADMIN_PASSWORD), "ssl.ca.location": str(other / "ca.pem")}
    assert metadata_error({**bootstrap, **untrusting}) is not None, "a client trusting another CA got metadata"


def test_a_user_without_acls_cannot_write_until_granted(secured):
    secured.create_topic("secure-acl", 1)
    # A SCRAM user made through the brokers, then granted WRITE on one topic.
    secured.exec("broker1", "-b", "127.0.0.1:9092", "-X", "security.protocol=SASL_SSL",
                 "-X", "ssl.ca.location=/etc/sluice/certs/ca.pem", "-X", "sasl.mechanism=SCRAM-SHA-512",
                 "-X", "sasl.username=admin", "-X", f"sasl.password={ADMIN_PASSWORD}",
                 "user", "scram", "add", "app", "--password", "app-secret", "--mechanism", "SCRAM-SHA-512")
    app = {"bootstrap.servers": secured.bootstrap, **sasl_ssl(secured.certs, "app", "app-secret"),
           "message.timeout.ms": 15000}

    def produce_error():
        p = Producer(app)
        errors = []
        try:
            p.produce("secure-acl", b"x", on_delivery=lambda err, msg: errors.append(err))
        except Exception as e:
            return e.args[0].code()
        p.flush(30)
        return errors[0].code() if errors and errors[0] is not None else None

    assert produce_error() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    binding = AclBinding(ResourceType.TOPIC, "secure-acl", ResourcePatternType.LITERAL, "User:app", "*",
                         AclOperation.WRITE, AclPermissionType.ALLOW)
    secured.admin().create_acls([binding])[binding].result(30)
    wait_until(lambda: produce_error() is None, timeout_s=30, interval_s=0.5, what="app's WRITE to take effect")
    c = Consumer({"bootstrap.servers": secured.bootstrap, **secured.client_conf, "group.id": "check"})
    try:
        assert c.get_watermark_offsets(TopicPartition("secure-acl", 0), timeout=30)[1] >= 1
    finally:
        c.close()


def test_keeper_refuses_changes_to_the_clusters_znodes_without_the_brokers_login(secured):
    secured.create_topic("secure-znodes", 1)
    path = "/sluice/config/topics/secure-znodes"
    # Anonymous, from inside the keeper network: the topic is readable, its config not writable,
    # and SCRAM credentials are not even readable.
    assert "partitions" in secured.exec("keeper1", "keeper", "-k", "127.0.0.1:2181", "get",
                                        "/sluice/brokers/topics/secure-znodes")
    refused = subprocess.run(["docker", "exec", secured.container("keeper1"), "/usr/local/bin/sluice", "keeper", "-k",
                              "127.0.0.1:2181", "set", path, '{"version":1,"config":{"retention.ms":"1"}}'],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "NOAUTH" in refused.stderr, refused.stderr
    hidden = subprocess.run(["docker", "exec", secured.container("keeper1"), "/usr/local/bin/sluice", "keeper", "-k",
                             "127.0.0.1:2181", "get", "/sluice/config/users/admin"],
                            capture_output=True, text=True, timeout=60)
    assert hidden.returncode != 0 and "NOAUTH" in hidden.stderr, hidden.stderr
    # The brokers' keeper login may.
    acl = secured.exec("keeper1", "keeper", "-k", "127.0.0.1:2181", "--auth", f"sasl:kafka:{KEEPER_PASSWORD}",
                       "getacl", path)
    assert "'sasl,'kafka" in acl, acl
    config = secured.exec("keeper1", "keeper", "-k", "127.0.0.1:2181", "--auth", f"sasl:kafka:{KEEPER_PASSWORD}",
                          "get", path).strip()
    secured.exec("keeper1", "keeper", "-k", "127.0.0.1:2181", "--auth", f"sasl:kafka:{KEEPER_PASSWORD}",
                 "set", path, config)

"""Three brokers on three keeper nodes whose traffic is all authenticated: the brokers replicate
to each other over a SASL_SSL inter-broker listener (TLS, SCRAM-SHA-512 as User:broker), log in
to keeper with SASL (DIGEST-MD5 as `kafka`) and protect their znodes with `zookeeper.set.acl`,
the keeper nodes reach each other over mutual TLS only (`keeper.ssl.quorum`), clients reach the
brokers over SASL_SSL as a user the ACL authorizer allows exactly what it needs, and the cluster
suite's failover test runs unchanged on top: the leader killed under an acks=all stream loses
nothing. (A PLAINTEXT listener stays for the harness alone, as the super user ANONYMOUS; the
harness reads keeper anonymously, which Kafka's ACLs allow.)"""

import subprocess
import time

import pytest

from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType,
                                   ResourceType)
from kazoo.exceptions import NoAuthError

from conftest import ROOT, SLUICE_CLI, free_ports
from kafka_support import NumberedProducer
from test_cluster import failover_bound_s, make_cluster, report_failover  # noqa: F401  (the fixture)

ISR_WAIT_S = 60


def test_leader_killed_under_acks_all_over_sasl_ssl_with_acls_loses_nothing(make_cluster, tmp_path, record_property):
    certs = tmp_path / "certs"
    subprocess.run([ROOT / "scripts" / "make-certs", certs], check=True, capture_output=True)
    secure_ports = free_ports(3)
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            'username="broker" password="broker-pw";')

    def broker_args(i):
        return ["-o", f"listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_SSL://127.0.0.1:{secure_ports[i - 1]}",
                "-o", "inter.broker.listener.name=SASL_SSL",
                "-o", f"ssl.keystore.location={certs}/broker.pem",
                "-o", f"ssl.truststore.location={certs}/ca.pem",
                "-o", "sasl.enabled.mechanisms=SCRAM-SHA-512",
                "-o", "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
                "-o", f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
                "-o", "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
                "-o", "super.users=User:broker;User:ANONYMOUS",
                "-o", "keeper.connect.auth=sasl:kafka:kafka-keeper-secret",
                "-o", "zookeeper.set.acl=true"]

    keeper_args = ["-o", "keeper.ssl.quorum=true",
                   "-o", f"keeper.ssl.keystore.location={certs}/broker.pem",
                   "-o", f"keeper.ssl.truststore.location={certs}/ca.pem",
                   "-o", "keeper.sasl.jaas.config=org.apache.zookeeper.server.auth.DigestLoginModule required "
                         'user_kafka="kafka-keeper-secret";']
    cluster = make_cluster(broker_args=broker_args, keeper_args=keeper_args)
    secure = ",".join(f"127.0.0.1:{p}" for p in secure_ports)
    for user, password in (("broker", "broker-pw"), ("app", "app-pw")):
        done = subprocess.run([SLUICE_CLI, "-b", cluster.bootstrap, "user", "scram", "add", user, "--password", password,
                               "--mechanism", "SCRAM-SHA-512"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    grants = [AclBinding(ResourceType.TOPIC, "secure-orders", ResourcePatternType.LITERAL, "User:app", "*", op,
                         AclPermissionType.ALLOW) for op in (AclOperation.WRITE, AclOperation.READ)]
    grants.append(AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, "User:app", "*",
                             AclOperation.IDEMPOTENT_WRITE, AclPermissionType.ALLOW))
    for f in admin.create_acls(grants).values():
        f.result(30)
    cluster.create_topic("secure-orders", 3)
    cluster.wait_for_isrs("secure-orders", lambda p: p.leader >= 0 and len(p.isrs) == 3,
                          "full ISRs, the followers logged in over SASL_SSL", timeout_s=ISR_WAIT_S)

    app = {"security.protocol": "SASL_SSL", "ssl.ca.location": str(certs / "ca.pem"),
           "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "app", "sasl.password": "app-pw"}
    victim = cluster.partitions("secure-orders")[0].leader
    with NumberedProducer(secure, "secure-orders", 3, **app) as stream:
        stream.wait_for_acks(600, "before the kill")
        cluster.brokers[victim].kill()
        killed = time.monotonic()
        took = stream.wait_for_failover([0], killed, f"killing broker {victim}, leader of secure-orders-0",
                                        failover_bound_s())
        report_failover("leader-death->write-accepted [SASL_SSL, ACLs]", took, record_property)
        stream.wait_for_acks(400, "after the failover")
    assert took <= failover_bound_s()
    stream.assert_all_read_back(cluster.bootstrap)
    cluster.brokers[victim].start()
    cluster.wait_for_isrs("secure-orders", lambda p: len(p.isrs) == 3, "the restarted broker back in every ISR",
                          timeout_s=ISR_WAIT_S)
    # The app user may do nothing else: no other topic, no cluster administration.
    other = AdminClient({"bootstrap.servers": secure, **app})
    md = other.list_topics(timeout=30)
    assert set(md.topics) == {"secure-orders"}, sorted(md.topics)
    # The cluster's znodes belong to the brokers' keeper identity: readable, not writable, by others.
    zk = cluster.zk()
    state = "/brokers/topics/secure-orders/partitions/0/state"
    acl, _ = zk.get_acls(state)
    assert {(a.id.scheme, a.id.id, a.perms) for a in acl} == {("sasl", "kafka", 31), ("world", "anyone", 1)}
    with pytest.raises(NoAuthError):
        zk.set(state, b'{"leader":-1}')

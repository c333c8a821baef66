"""Three brokers that replicate to each other over a SASL_PLAINTEXT inter-broker listener
(`inter.broker.listener.name`, `sasl.mechanism.inter.broker.protocol`, and the broker's own
`username`/`password` in that listener's JAAS entry, as Kafka takes them): followers log in to
their leaders with PLAIN or SCRAM, full ISRs form, acks=all records are replicated and read back
over SASL; a broker with a wrong inter-broker password never joins an ISR and logs why."""

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from conftest import free_ports, wait_until
from test_cluster import make_cluster  # noqa: F401  (the fixture)

PLAIN_USERS = 'user_broker="broker-pw" user_app="app-pw"'
# Generous bounds on replication and logins over SASL.
ISR_WAIT_S = 60
MESSAGES = 100
PARTITIONS = 3


def cluster_over_sasl(make_cluster, mechanism, broker_password=lambda i: "broker-pw"):
    """A three-broker cluster whose brokers also listen on SASL_PLAINTEXT and replicate over it;
    returns (cluster, SASL bootstrap)."""
    sasl_ports = free_ports(3)

    def broker_args(i):
        plain_jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                      f'username="broker" password="{broker_password(i)}" {PLAIN_USERS};')
        scram_jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                      f'username="broker" password="{broker_password(i)}";')
        return ["-o", f"listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_ports[i - 1]}",
                "-o", "inter.broker.listener.name=SASL_PLAINTEXT",
                "-o", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
                "-o", f"sasl.mechanism.inter.broker.protocol={mechanism}",
                "-o", f"listener.name.sasl_plaintext.plain.sasl.jaas.config={plain_jaas}",
                "-o", f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_jaas}"]

    c = make_cluster(broker_args=broker_args)
    return c, ",".join(f"127.0.0.1:{p}" for p in sasl_ports)


def app(bootstrap, **extra):
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": "app", "sasl.password": "app-pw", **extra}


def create_topic(c, name):
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=3,
                                  config={"min.insync.replicas": "3"})])[name].result(30)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_brokers_replicate_over_sasl_and_acks_all_records_are_read_back(make_cluster, mechanism):
    c, sasl = cluster_over_sasl(make_cluster, mechanism)
    if mechanism.startswith("SCRAM"):
        # The brokers' own SCRAM user, made before any follower has a leader to log in to.
        admin = AdminClient({"bootstrap.servers": c.bootstrap})
        up = UserScramCredentialUpsertion("broker", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"broker-pw")
        admin.alter_user_scram_credentials([up])["broker"].result(timeout=30)
    create_topic(c, "replicated")
    c.wait_for_isrs("replicated", lambda p: p.leader >= 0 and len(p.isrs) == 3, "full ISRs over SASL",
                    timeout_s=ISR_WAIT_S)

    errors, acked = [], []
    producer = Producer(app(sasl, acks="all", error_cb=errors.append))
    for n in range(MESSAGES):
        producer.produce("replicated", key=str(n).encode(), value=f"v{n}".encode(),
                         on_delivery=lambda err, msg: acked.append((err, msg.partition(), msg.offset())))
    assert producer.flush(ISR_WAIT_S) == 0
    failures = [a for a in acked if a[0] is not None]
    assert len(acked) == MESSAGES and not failures, f"{failures[:3]} {errors[:3]}"

    consumer = Consumer(app(sasl, **{"group.id": "sasl-cluster", "enable.auto.commit": False}))
    consumer.assign([TopicPartition("replicated", p, 0) for p in range(PARTITIONS)])
    seen = {}
    def all_read():
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            seen[m.key().decode()] = m.value().decode()
        return len(seen) == MESSAGES
    wait_until(all_read, timeout_s=ISR_WAIT_S, interval_s=0, what="every acknowledged record read back over SASL")
    consumer.close()
    assert seen == {str(n): f"v{n}" for n in range(MESSAGES)}
    # min.insync.replicas=3: every acknowledged record is on all three brokers, so the ISRs
    # still hold all three.
    c.wait_for_isrs("replicated", lambda p: len(p.isrs) == 3, "full ISRs after producing", timeout_s=ISR_WAIT_S)
    for i, node in c.brokers.items():
        assert "cannot log in to the leader" not in node.log(), f"broker {i}"


def test_a_broker_with_a_wrong_inter_broker_password_never_joins_an_isr(make_cluster):
    c, _ = cluster_over_sasl(make_cluster, "PLAIN", broker_password=lambda i: "not-broker-pw" if i == 3 else "broker-pw")
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    admin.create_topics([NewTopic("guarded", num_partitions=PARTITIONS, replication_factor=3)])["guarded"].result(30)
    wait_until(lambda: "cannot log in to the leader" in c.brokers[3].log(), timeout_s=ISR_WAIT_S,
               what="broker 3 logging that it cannot log in")
    # The partitions broker 1 or 2 leads take 1 and 2 into their ISR, never 3; those broker 3
    # leads get both followers (their password is right).
    c.wait_for_isrs("guarded", lambda p: p.leader >= 0 and (set(p.isrs) == {1, 2} if p.leader != 3 else len(p.isrs) == 3),
                    "ISRs without broker 3 where it follows", timeout_s=ISR_WAIT_S)
    for node in (c.brokers[1], c.brokers[2]):
        assert "SASL authentication failed" in node.log(), node.name

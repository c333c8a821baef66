"""Authorized operations (KIP-430) as confluent-kafka's admin client asks for them: without an
authorizer, every operation a resource type supports is reported (Kafka's behaviour), and
nothing is reported when not asked."""

from confluent_kafka import Consumer, Producer, TopicCollection
from confluent_kafka.admin import AclOperation, AdminClient

TOPIC_OPERATIONS = {AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
                    AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
                    AclOperation.ALTER_CONFIGS}
GROUP_OPERATIONS = {AclOperation.READ, AclOperation.DELETE, AclOperation.DESCRIBE}
CLUSTER_OPERATIONS = {AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.CLUSTER_ACTION,
                      AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE}


def test_authorized_operations_are_reported_when_asked(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce("ops", value=b"x")
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "ops-group", "auto.offset.reset": "earliest"})
    c.subscribe(["ops"])
    for _ in range(30):
        m = c.poll(1.0)
        if m is not None and not m.error():
            break
    c.commit(asynchronous=False)
    try:
        cluster = admin.describe_cluster(include_authorized_operations=True).result(30)
        assert set(cluster.authorized_operations) == CLUSTER_OPERATIONS
        assert admin.describe_cluster().result(30).authorized_operations is None

        topic = admin.describe_topics(TopicCollection(["ops"]), include_authorized_operations=True)["ops"].result(30)
        assert set(topic.authorized_operations) == TOPIC_OPERATIONS
        assert admin.describe_topics(TopicCollection(["ops"]))["ops"].result(30).authorized_operations is None

        group = admin.describe_consumer_groups(["ops-group"], include_authorized_operations=True)["ops-group"].result(30)
        assert set(group.authorized_operations) == GROUP_OPERATIONS
    finally:
        c.close()

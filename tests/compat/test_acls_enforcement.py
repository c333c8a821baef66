"""What Kafka's authorizer enforces, request by request, as real clients (confluent-kafka,
kafka-python) and hand-built requests meet it: the operation each API needs on which resource
(the table in Kafka's "Authorization and ACLs" documentation, as KafkaApis checks it), and the
error it answers, at the finest level KafkaApis answers it (per partition, topic or group):

- Produce needs WRITE on the topic (TOPIC_AUTHORIZATION_FAILED per partition), a transactional
  batch WRITE on its transactional id; an idempotent producer's InitProducerId IDEMPOTENT_WRITE
  on the cluster or WRITE on some topic; a transactional one WRITE on its transactional id
  (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
- a consumer group needs DESCRIBE (FindCoordinator) and READ (JoinGroup) on the group, fetching
  READ on the topic; listing, describing and deleting groups follow the group's ACLs;
- configs need DESCRIBE_CONFIGS / ALTER_CONFIGS on the topic or the cluster; DeleteTopics and
  DeleteRecords DELETE on the topic; CreateTopics CREATE on the cluster or the topic;
- Metadata lists only the topics the principal may DESCRIBE and answers TOPIC_AUTHORIZATION_FAILED
  for any other one asked by name (existing or not, never auto-created); the authorized
  operations of KIP-430 are computed from the ACLs;
- the rules themselves: operations implying DESCRIBE (READ, WRITE, DELETE, ALTER, ALL) and
  DESCRIBE_CONFIGS (ALTER_CONFIGS), DENY over ALLOW, the "*" resource and User:* principal
  wildcards, PREFIXED patterns (KIP-290), host filters, super.users, and
  allow.everyone.if.no.acl.found;
- the attacks: deleting another user's topic or __consumer_offsets, setting retention.ms=1,
  forging a transactional batch, and the inter-broker requests: WriteTxnMarkers (CLUSTER_ACTION,
  or ALTER, on the cluster) and Fetch as a replica (CLUSTER_ACTION).

Every check of a denial comes after `settle` (test_acls.py): the ACL changes before it are then
known to be enforced, so a denial is the authorizer's and not a change still on its way."""

import signal
import warnings

import pytest
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicCollection,
                            TopicPartition)
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
from kafka.protocol.api import Request, Response
from kafka.protocol.fetch import FetchRequest_v4
from kafka.protocol.types import Array, Boolean, Int16, Int32, Int64, Schema, String

from conftest import wait_until
from test_acls import (ACL_AUTHORIZER, ALLOW, AUTHORIZER_SETTINGS, CLUSTER, CLUSTER_AUTHORIZATION_FAILED, DENY,
                       GROUP_AUTHORIZATION_FAILED, LEADER_NOT_AVAILABLE, LIT, NONE, PRE, TOPIC_AUTHORIZATION_FAILED,
                       TRANSACTIONAL_ID_AUTHORIZATION_FAILED, C, G, KafkaWire, Op, T, X, acl, admin_as, call_failed,
                       client_conf, create_acls, create_topics, forget_clients, log_since, log_size, metadata_errors,
                       new_broker, outcome, raw_produce, remove_every_acl, settle, topic_exists, USERS)

ENFORCEMENT_SETTINGS = AUTHORIZER_SETTINGS + ["auto.create.topics.enable=true"]
CLIENT_WAIT_S = 30

TOPIC_OPERATIONS = {Op.READ, Op.WRITE, Op.CREATE, Op.DELETE, Op.ALTER, Op.DESCRIBE, Op.DESCRIBE_CONFIGS,
                    Op.ALTER_CONFIGS}
GROUP_OPERATIONS = {Op.READ, Op.DELETE, Op.DESCRIBE}
CLUSTER_OPERATIONS = {Op.CREATE, Op.ALTER, Op.DESCRIBE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS,
                      Op.IDEMPOTENT_WRITE}


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    b = new_broker(tmp_path_factory.mktemp("acl-enforcement"), ENFORCEMENT_SETTINGS)
    b.start()
    yield b
    forget_clients(b)
    b.stop()


@pytest.fixture
def broker(shared_broker, request):
    """The module's broker, its log since the test began printed when the test failed, and
    every ACL removed afterwards."""
    offset = log_size(shared_broker)
    yield shared_broker
    if call_failed(request):
        print(f"\n--- sluiced log (during the test) ---\n{log_since(shared_broker, offset)}")
    remove_every_acl(shared_broker)


@pytest.fixture
def own_broker(tmp_path, request):
    """`own_broker(settings)`: a started two-listener broker of the test's own, stopped afterwards
    (SIGKILL and its log printed when the test failed)."""
    started = []

    def start(settings):
        b = new_broker(tmp_path, settings)
        started.append(b)
        b.start()
        return b

    yield start
    failed = call_failed(request)
    for b in started:
        forget_clients(b)
        b.stop(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- sluiced log ---\n{b.log()}")


# --- helpers ------------------------------------------------------------------------------------

def allow(restype, name, user, *operations, pattern=LIT, host="*"):
    return [acl(restype, name, f"User:{user}", op, ALLOW, pattern, host) for op in operations]


def grant(broker, user, bindings, admin=None):
    """Creates `bindings` as a super user, then waits until they are enforced for `user`."""
    if admin is None:
        admin = admin_as(broker)
    create_acls(admin, bindings)
    settle(broker, user, admin)


def delivery_errors(broker, user, topic, count=3, **settings):
    """Produces `count` records as `user` (None: PLAINTEXT) with confluent-kafka; the error codes of
    their delivery reports (None: delivered)."""
    producer = Producer(client_conf(broker, user, **{"message.timeout.ms": 10000, "acks": "all", **settings}))
    reports = []
    for i in range(count):
        producer.produce(topic, value=f"{user or 'anonymous'}-{i}".encode(),
                         on_delivery=lambda err, msg: reports.append(err))
    assert producer.flush(CLIENT_WAIT_S) == 0, "every delivery report came"
    return [None if err is None else err.code() for err in reports]


def fill(broker, topic, count):
    assert delivery_errors(broker, None, topic, count) == [None] * count


def watermarks(broker, topic, partition=0):
    """(low, high) watermark, read through the PLAINTEXT listener."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "acl-watermarks"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=CLIENT_WAIT_S)
    finally:
        c.close()


def commit_offset(broker, group, topic, offset):
    """Makes `group` exist, with a committed offset, as the PLAINTEXT super user."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        c.close()


def first_consumer_event(conf, group, topics):
    """Subscribes a new consumer of `group` and returns what its first poll event is: the error
    code of a consumer error, or "message"."""
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(topics)
    events = []

    def polled():
        msg = consumer.poll(0.5)
        if msg is not None:
            events.append(msg.error().code() if msg.error() else "message")
        return bool(events)

    try:
        wait_until(polled, timeout_s=CLIENT_WAIT_S, interval_s=0, what=f"a message or an error for group {group}")
    finally:
        consumer.close()
    return events[0]


def consume_all(conf, group, topic, count):
    """Consumes `count` records of `topic` as a member of `group` and commits; their values."""
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values = []

    def polled():
        msg = consumer.poll(0.5)
        if msg is not None:
            assert msg.error() is None, msg.error()
            values.append(msg.value())
        return len(values) >= count

    try:
        wait_until(polled, timeout_s=CLIENT_WAIT_S * 2, interval_s=0, what=f"{count} records of {topic}")
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def committed(broker, group, topic):
    admin = admin_as(broker)
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])
    (tp,) = result[group].result(timeout=CLIENT_WAIT_S).topic_partitions
    return tp.offset


def read_committed_values(broker, topic, count):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "acl-reader",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []

    def polled():
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
        return len(values) >= count

    try:
        wait_until(polled, timeout_s=CLIENT_WAIT_S, interval_s=0, what=f"{count} committed records of {topic}")
    finally:
        consumer.close()
    return values


def topic_config(broker, topic):
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = admin_as(broker)  # held until the answer: a client destroyed meanwhile fails its futures
    return admin.describe_configs([resource])[resource].result(timeout=CLIENT_WAIT_S)


def group_ids(admin):
    return {g.group_id for g in admin.list_consumer_groups(request_timeout=30).result(timeout=30).valid}


def incremental(restype, name, key, value):
    return ConfigResource(restype, name, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])


def altered(admin, resource, legacy=False):
    """The outcome (None or an error code) of changing one resource's configs, with
    IncrementalAlterConfigs or (`legacy`) AlterConfigs."""
    if legacy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # confluent-kafka's, for alter_configs
            return outcome(admin.alter_configs([resource])[resource])
    return outcome(admin.incremental_alter_configs([resource])[resource])


def topic_outcomes(admin, names):
    """CreateTopics of `names` (one partition each): {name: None or the error code}."""
    results = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names],
                                  operation_timeout=CLIENT_WAIT_S)
    return {name: outcome(f) for name, f in results.items()}


# --- requests kafka-python 2.0.2 has no class for, in its protocol types ------------------------

class InitProducerIdResponse_v0(Response):
    API_KEY = 22
    API_VERSION = 0
    SCHEMA = Schema(('throttle_time_ms', Int32), ('error_code', Int16), ('producer_id', Int64),
                    ('producer_epoch', Int16))


class InitProducerIdRequest_v0(Request):
    API_KEY = 22
    API_VERSION = 0
    RESPONSE_TYPE = InitProducerIdResponse_v0
    SCHEMA = Schema(('transactional_id', String('utf-8')), ('transaction_timeout_ms', Int32))


class WriteTxnMarkersResponse_v0(Response):
    API_KEY = 27
    API_VERSION = 0
    SCHEMA = Schema(('markers', Array(
        ('producer_id', Int64),
        ('topics', Array(
            ('name', String('utf-8')),
            ('partitions', Array(('partition_index', Int32), ('error_code', Int16))))))))


class WriteTxnMarkersRequest_v0(Request):
    API_KEY = 27
    API_VERSION = 0
    RESPONSE_TYPE = WriteTxnMarkersResponse_v0
    SCHEMA = Schema(('markers', Array(
        ('producer_id', Int64),
        ('producer_epoch', Int16),
        ('transaction_result', Boolean),
        ('topics', Array(('name', String('utf-8')), ('partition_indexes', Array(Int32)))),
        ('coordinator_epoch', Int32))))


def init_producer_id(wire, transactional_id=None):
    response = wire.call(InitProducerIdRequest_v0(transactional_id=transactional_id, transaction_timeout_ms=60000))
    return response.error_code


def write_abort_marker(wire, topic, producer_id=4242):
    """WriteTxnMarkers v0: an ABORT marker for `producer_id` on partition 0 of `topic`; the
    [(producer id, topic, partition, error code)] of the answer."""
    response = wire.call(WriteTxnMarkersRequest_v0(markers=[(producer_id, 0, False, [(topic, [0])], 0)]))
    return [(pid, name, partition, error) for pid, topics in response.markers
            for name, partitions in topics for partition, error in partitions]


def raw_fetch(wire, topic, replica_id=-1):
    """Fetch v4 of partition 0 from offset 0 (no wait): (error code, high watermark, record bytes)."""
    response = wire.call(FetchRequest_v4(replica_id=replica_id, max_wait_time=0, min_bytes=0, max_bytes=1 << 20,
                                         isolation_level=0, topics=[(topic, [(0, 0, 1 << 20)])]))
    (_, partitions), = response.topics
    (_, error, high_watermark, _, _, records), = partitions
    return error, high_watermark, records or b""


# --- producing ----------------------------------------------------------------------------------

def test_a_producer_needs_write_on_the_topic(broker):
    create_topics(broker, "e1-orders")
    # Nothing at all: the topic's metadata is refused already, and the records fail with it.
    assert delivery_errors(broker, "alice", "e1-orders") == [TOPIC_AUTHORIZATION_FAILED] * 3
    # DESCRIBE but no WRITE: the Produce request itself is refused.
    grant(broker, "alice", allow(T, "e1-orders", "alice", Op.DESCRIBE))
    assert delivery_errors(broker, "alice", "e1-orders") == [TOPIC_AUTHORIZATION_FAILED] * 3
    assert watermarks(broker, "e1-orders") == (0, 0), "nothing was written"
    grant(broker, "alice", allow(T, "e1-orders", "alice", Op.WRITE))
    assert delivery_errors(broker, "alice", "e1-orders") == [None] * 3
    assert watermarks(broker, "e1-orders") == (0, 3)


def test_one_produce_request_is_refused_only_for_the_topic_without_write(broker):
    create_topics(broker, "e2-yes", "e2-no")
    grant(broker, "alice", allow(T, "e2-yes", "alice", Op.WRITE))
    with KafkaWire(broker.sasl, "alice") as wire:
        assert raw_produce(wire, ["e2-yes", "e2-no"], values=[b"a", b"b"]) == \
            {"e2-yes": NONE, "e2-no": TOPIC_AUTHORIZATION_FAILED}
    assert watermarks(broker, "e2-yes") == (0, 2)
    assert watermarks(broker, "e2-no") == (0, 0)


def test_an_idempotent_producer_needs_idempotent_write_on_the_cluster_or_write_on_some_topic(broker):
    create_topics(broker, "e3-t")
    create_acls(admin_as(broker), allow(T, "e3-t", "frank", Op.DESCRIBE) + allow(T, "e3-t", "erin", Op.WRITE)
                + allow(T, "e3-", "grace", Op.WRITE, pattern=PRE))
    settle(broker, "frank")
    # InitProducerId without a transactional id: CLUSTER_AUTHORIZATION_FAILED unless the
    # principal has IDEMPOTENT_WRITE on the cluster or WRITE on any topic (literal or prefixed).
    with KafkaWire(broker.sasl, "frank") as wire:
        assert init_producer_id(wire) == CLUSTER_AUTHORIZATION_FAILED
    with KafkaWire(broker.sasl, "erin") as wire:
        assert init_producer_id(wire) == NONE
    with KafkaWire(broker.sasl, "grace") as wire:
        assert init_producer_id(wire) == NONE
    assert delivery_errors(broker, "erin", "e3-t", **{"enable.idempotence": True}) == [None] * 3
    grant(broker, "frank", allow(C, CLUSTER, "frank", Op.IDEMPOTENT_WRITE))
    with KafkaWire(broker.sasl, "frank") as wire:
        assert init_producer_id(wire) == NONE


def init_transactions_error(broker, user, transactional_id):
    producer = Producer(client_conf(broker, user, **{"transactional.id": transactional_id}))
    with pytest.raises(KafkaException) as refused:
        producer.init_transactions(CLIENT_WAIT_S)
    return refused.value.args[0].code()


def test_a_transactional_producer_needs_write_on_its_transactional_id(broker):
    create_topics(broker, "e12-t")
    grant(broker, "alice", allow(T, "e12-t", "alice", Op.WRITE))
    # Nothing on the id: FindCoordinator (DESCRIBE) is refused.
    assert init_transactions_error(broker, "alice", "e12-tx") == TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    with KafkaWire(broker.sasl, "alice") as wire:
        assert init_producer_id(wire, "e12-tx") == TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    # DESCRIBE only: InitProducerId (WRITE) is refused.
    grant(broker, "alice", allow(X, "e12-tx", "alice", Op.DESCRIBE))
    assert init_transactions_error(broker, "alice", "e12-tx") == TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    # WRITE on a prefix of the id: a whole transaction goes through.
    grant(broker, "alice", allow(X, "e12-", "alice", Op.WRITE, pattern=PRE))
    producer = Producer(client_conf(broker, "alice", **{"transactional.id": "e12-tx"}))
    producer.init_transactions(CLIENT_WAIT_S)
    producer.begin_transaction()
    for i in range(3):
        producer.produce("e12-t", value=f"tx-{i}".encode())
    producer.commit_transaction(CLIENT_WAIT_S)
    assert read_committed_values(broker, "e12-t", 3) == [b"tx-0", b"tx-1", b"tx-2"]
    before = watermarks(broker, "e12-t")
    # A hand-made transactional batch under an id alice has nothing on is refused whole,
    # although she may write to the topic.
    with KafkaWire(broker.sasl, "alice") as wire:
        assert raw_produce(wire, ["e12-t"], transactional_id="someone-elses-tx", producer=(77, 0, 0)) == \
            {"e12-t": TRANSACTIONAL_ID_AUTHORIZATION_FAILED}
    assert watermarks(broker, "e12-t") == before


# --- consuming and groups -----------------------------------------------------------------------

def test_a_group_member_needs_describe_and_read_on_the_group(broker):
    create_topics(broker, "e4-t")
    fill(broker, "e4-t", 3)
    grant(broker, "alice", allow(T, "e4-t", "alice", Op.READ))
    conf = client_conf(broker, "alice")
    # FindCoordinator needs DESCRIBE on the group.
    assert first_consumer_event(conf, "e4-g", ["e4-t"]) == GROUP_AUTHORIZATION_FAILED
    # JoinGroup needs READ.
    grant(broker, "alice", allow(G, "e4-g", "alice", Op.DESCRIBE))
    assert first_consumer_event(conf, "e4-g", ["e4-t"]) == GROUP_AUTHORIZATION_FAILED
    grant(broker, "alice", allow(G, "e4-g", "alice", Op.READ))
    assert sorted(consume_all(conf, "e4-g", "e4-t", 3)) == [b"anonymous-0", b"anonymous-1", b"anonymous-2"]
    assert committed(broker, "e4-g", "e4-t") == 3


def test_fetching_needs_read_on_the_topic(broker):
    create_topics(broker, "e5-t")
    fill(broker, "e5-t", 3)
    grant(broker, "alice", allow(G, "e5-g", "alice", Op.READ))
    conf = client_conf(broker, "alice")
    # Nothing on the topic: the subscription's topic is refused.
    assert first_consumer_event(conf, "e5-g", ["e5-t"]) == TOPIC_AUTHORIZATION_FAILED
    # WRITE (which implies DESCRIBE) is no READ: Fetch is refused per partition.
    grant(broker, "alice", allow(T, "e5-t", "alice", Op.WRITE))
    with KafkaWire(broker.sasl, "alice") as wire:
        assert raw_fetch(wire, "e5-t")[0] == TOPIC_AUTHORIZATION_FAILED
    grant(broker, "alice", allow(T, "e5-t", "alice", Op.READ))
    with KafkaWire(broker.sasl, "alice") as wire:
        error, high_watermark, records = raw_fetch(wire, "e5-t")
        assert (error, high_watermark) == (NONE, 3) and records
    assert len(consume_all(conf, "e5-g", "e5-t", 3)) == 3


def test_groups_are_listed_described_and_deleted_only_as_their_acls_allow(broker):
    create_topics(broker, "e6-t")
    fill(broker, "e6-t", 1)
    for group in ("e6-grace", "e6-bob"):
        commit_offset(broker, group, "e6-t", 1)
    grant(broker, "grace", allow(G, "e6-grace", "grace", Op.DESCRIBE))
    admin = admin_as(broker, "grace")

    assert group_ids(admin) == {"e6-grace"}, "without DESCRIBE on the cluster, only the groups it may describe"
    assert outcome(admin.describe_consumer_groups(["e6-bob"])["e6-bob"]) == GROUP_AUTHORIZATION_FAILED
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("e6-bob")])
    assert outcome(offsets["e6-bob"]) == GROUP_AUTHORIZATION_FAILED
    assert outcome(admin.delete_consumer_groups(["e6-bob"])["e6-bob"]) == GROUP_AUTHORIZATION_FAILED
    assert outcome(admin.delete_consumer_groups(["e6-grace"])["e6-grace"]) == GROUP_AUTHORIZATION_FAILED, \
        "DESCRIBE is no DELETE"
    assert {"e6-grace", "e6-bob"} <= group_ids(admin_as(broker))

    grant(broker, "grace", allow(C, CLUSTER, "grace", Op.DESCRIBE))
    assert {"e6-grace", "e6-bob"} <= group_ids(admin), "DESCRIBE on the cluster lists every group"
    grant(broker, "grace", allow(G, "e6-grace", "grace", Op.DELETE))
    assert outcome(admin.delete_consumer_groups(["e6-grace"])["e6-grace"]) is None
    remaining = group_ids(admin_as(broker))
    assert "e6-grace" not in remaining and "e6-bob" in remaining


# --- configs, deleting, creating ----------------------------------------------------------------

def test_configs_need_describe_configs_and_alter_configs(broker):
    create_topics(broker, "e7-t")
    grant(broker, "alice", allow(T, "e7-t", "alice", Op.READ, Op.WRITE))
    admin = admin_as(broker, "alice")
    topic = ConfigResource(ConfigResource.Type.TOPIC, "e7-t")
    node = ConfigResource(ConfigResource.Type.BROKER, "0")
    assert outcome(admin.describe_configs([topic])[topic]) == TOPIC_AUTHORIZATION_FAILED
    assert outcome(admin.describe_configs([node])[node]) == CLUSTER_AUTHORIZATION_FAILED
    hour = "3600000"
    assert altered(admin, incremental(ConfigResource.Type.TOPIC, "e7-t", "retention.ms", hour)) == \
        TOPIC_AUTHORIZATION_FAILED
    assert altered(admin, ConfigResource(ConfigResource.Type.TOPIC, "e7-t", set_config={"retention.ms": hour}),
                   legacy=True) == TOPIC_AUTHORIZATION_FAILED
    assert altered(admin, incremental(ConfigResource.Type.BROKER, "0", "log.retention.ms", hour)) == \
        CLUSTER_AUTHORIZATION_FAILED
    assert altered(admin, ConfigResource(ConfigResource.Type.BROKER, "0", set_config={"log.retention.ms": hour}),
                   legacy=True) == CLUSTER_AUTHORIZATION_FAILED
    assert topic_config(broker, "e7-t")["retention.ms"].value != hour

    # ALTER_CONFIGS on the topic; it implies DESCRIBE_CONFIGS.
    grant(broker, "alice", allow(T, "e7-t", "alice", Op.ALTER_CONFIGS))
    assert altered(admin, incremental(ConfigResource.Type.TOPIC, "e7-t", "retention.ms", hour)) is None
    assert admin.describe_configs([topic])[topic].result(timeout=30)["retention.ms"].value == hour
    # DESCRIBE_CONFIGS on the cluster describes the broker and alters nothing.
    grant(broker, "alice", allow(C, CLUSTER, "alice", Op.DESCRIBE_CONFIGS))
    assert outcome(admin.describe_configs([node])[node]) is None
    assert altered(admin, incremental(ConfigResource.Type.BROKER, "0", "log.retention.ms", hour)) == \
        CLUSTER_AUTHORIZATION_FAILED


def test_a_reader_cannot_set_retention_ms_1_on_another_users_topic(broker):
    create_topics(broker, "e8-bob")
    grant(broker, "bob", allow(T, "e8-bob", "bob", Op.ALL))
    assert delivery_errors(broker, "bob", "e8-bob", 10) == [None] * 10
    # READ, and ALTER (what CreatePartitions needs), are not ALTER_CONFIGS.
    grant(broker, "alice", allow(T, "e8-bob", "alice", Op.READ, Op.ALTER))
    before = {k: topic_config(broker, "e8-bob")[k].value for k in ("retention.ms", "retention.bytes")}
    admin = admin_as(broker, "alice")
    for key in ("retention.ms", "retention.bytes"):
        assert altered(admin, incremental(ConfigResource.Type.TOPIC, "e8-bob", key, "1")) == \
            TOPIC_AUTHORIZATION_FAILED
        assert altered(admin, ConfigResource(ConfigResource.Type.TOPIC, "e8-bob", set_config={key: "1"}),
                       legacy=True) == TOPIC_AUTHORIZATION_FAILED
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource as KpConfigResource
    from kafka.admin import ConfigResourceType
    kp = KafkaAdminClient(bootstrap_servers=broker.sasl, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                          sasl_plain_username="alice", sasl_plain_password=USERS["alice"], request_timeout_ms=30000)
    try:
        response = kp.alter_configs([KpConfigResource(ConfigResourceType.TOPIC, "e8-bob",
                                                      configs={"retention.ms": "1"})])
        assert [error for error, *_ in response.resources] == [TOPIC_AUTHORIZATION_FAILED]
    finally:
        kp.close()
    assert {k: topic_config(broker, "e8-bob")[k].value for k in before} == before
    assert watermarks(broker, "e8-bob") == (0, 10), "bob's records are all there"


def test_deleting_a_topic_needs_delete_and_no_one_deletes_another_users_topic_or_the_offsets_topic(broker):
    create_topics(broker, "e9-alice", "e9-bob")
    commit_offset(broker, "e9-g", "e9-bob", 0)
    assert topic_exists(broker, "__consumer_offsets")
    create_acls(admin_as(broker), allow(T, "e9-bob", "bob", Op.ALL) + allow(T, "e9-bob", "alice", Op.DESCRIBE))
    settle(broker, "alice")
    admin = admin_as(broker, "alice")
    for topic in ("e9-bob", "__consumer_offsets", "e9-alice"):
        assert outcome(admin.delete_topics([topic], operation_timeout=30)[topic]) == TOPIC_AUTHORIZATION_FAILED

    grant(broker, "alice", allow(T, "e9-alice", "alice", Op.DELETE))
    results = admin.delete_topics(["e9-alice", "e9-bob"], operation_timeout=30)
    assert {topic: outcome(f) for topic, f in results.items()} == \
        {"e9-alice": None, "e9-bob": TOPIC_AUTHORIZATION_FAILED}
    wait_until(lambda: not topic_exists(broker, "e9-alice"), timeout_s=30, what="e9-alice deleted")
    assert topic_exists(broker, "e9-bob") and topic_exists(broker, "__consumer_offsets")
    assert committed(broker, "e9-g", "e9-bob") == 0, "the offsets topic still holds the group's offset"


def test_delete_records_needs_delete_on_the_topic(broker):
    create_topics(broker, "e10-t")
    fill(broker, "e10-t", 10)
    grant(broker, "alice", allow(T, "e10-t", "alice", Op.READ, Op.WRITE))
    admin = admin_as(broker, "alice")

    def delete_before(offset):
        (f,) = admin.delete_records([TopicPartition("e10-t", 0, offset)], operation_timeout=30).values()
        return outcome(f)

    assert delete_before(5) == TOPIC_AUTHORIZATION_FAILED
    assert watermarks(broker, "e10-t") == (0, 10)
    grant(broker, "alice", allow(T, "e10-t", "alice", Op.DELETE))
    assert delete_before(5) is None
    assert watermarks(broker, "e10-t") == (5, 10)


def test_creating_topics_needs_create_on_the_cluster_or_on_the_topic(broker):
    admin = admin_as(broker, "alice")
    assert topic_outcomes(admin, ["e11-plain"]) == {"e11-plain": TOPIC_AUTHORIZATION_FAILED}
    grant(broker, "alice", [acl(T, "e11-alice-", "User:alice", Op.CREATE, pattern=PRE),
                            acl(T, "e11-exact", "User:alice", Op.CREATE)])
    assert topic_outcomes(admin, ["e11-alice-1", "e11-bob-1", "e11-exact", "e11-exactly"]) == {
        "e11-alice-1": None, "e11-bob-1": TOPIC_AUTHORIZATION_FAILED,
        "e11-exact": None, "e11-exactly": TOPIC_AUTHORIZATION_FAILED}
    assert [topic_exists(broker, t) for t in ("e11-plain", "e11-alice-1", "e11-bob-1", "e11-exact", "e11-exactly")] \
        == [False, True, False, True, False]
    # CREATE on the cluster: any name.
    grant(broker, "heidi", allow(C, CLUSTER, "heidi", Op.CREATE))
    assert topic_outcomes(admin_as(broker, "heidi"), ["e11-by-heidi"]) == {"e11-by-heidi": None}
    assert topic_exists(broker, "e11-by-heidi")


# --- the rules ----------------------------------------------------------------------------------

def rule(operation, permission=ALLOW, principal="User:dave", host="*", pattern=LIT, name=None, restype=T):
    """An ACL for the case's topic (or `name(topic)`)."""
    return lambda topic: acl(restype, topic if name is None else name(topic), principal, operation, permission,
                             pattern, host)


# case: (ACLs, the request made as dave, the error code expected)
RULES = {
    "nothing": ([], "describe", TOPIC_AUTHORIZATION_FAILED),
    "describe": ([rule(Op.DESCRIBE)], "describe", NONE),
    "read-implies-describe": ([rule(Op.READ)], "describe", NONE),
    "write-implies-describe": ([rule(Op.WRITE)], "describe", NONE),
    "delete-implies-describe": ([rule(Op.DELETE)], "describe", NONE),
    "alter-implies-describe": ([rule(Op.ALTER)], "describe", NONE),
    "all-implies-describe": ([rule(Op.ALL)], "describe", NONE),
    "create-does-not-imply-describe": ([rule(Op.CREATE)], "describe", TOPIC_AUTHORIZATION_FAILED),
    "alter-configs-does-not-imply-describe": ([rule(Op.ALTER_CONFIGS)], "describe", TOPIC_AUTHORIZATION_FAILED),
    "describe-configs-does-not-imply-describe": ([rule(Op.DESCRIBE_CONFIGS)], "describe",
                                                 TOPIC_AUTHORIZATION_FAILED),
    "describe-does-not-imply-read": ([rule(Op.DESCRIBE)], "read", TOPIC_AUTHORIZATION_FAILED),
    "write-does-not-imply-read": ([rule(Op.WRITE)], "read", TOPIC_AUTHORIZATION_FAILED),
    "read-does-not-imply-write": ([rule(Op.READ)], "write", TOPIC_AUTHORIZATION_FAILED),
    "alter-does-not-imply-write": ([rule(Op.ALTER)], "write", TOPIC_AUTHORIZATION_FAILED),
    "all-allows-read": ([rule(Op.ALL)], "read", NONE),
    "all-allows-write": ([rule(Op.ALL)], "write", NONE),
    "deny-describe-beats-allow-all": ([rule(Op.ALL), rule(Op.DESCRIBE, DENY)], "describe",
                                      TOPIC_AUTHORIZATION_FAILED),
    "deny-all-beats-allow": ([rule(Op.READ), rule(Op.ALL, DENY)], "read", TOPIC_AUTHORIZATION_FAILED),
    "deny-write-leaves-read": ([rule(Op.ALL), rule(Op.WRITE, DENY)], "read", NONE),
    "deny-write-blocks-write": ([rule(Op.ALL), rule(Op.WRITE, DENY)], "write", TOPIC_AUTHORIZATION_FAILED),
    # A DENY READ denies READ only: DESCRIBE is still implied by the ALLOW READ.
    "deny-read-leaves-describe": ([rule(Op.READ), rule(Op.READ, DENY)], "describe", NONE),
    "deny-read-blocks-read": ([rule(Op.READ), rule(Op.READ, DENY)], "read", TOPIC_AUTHORIZATION_FAILED),
    "allow-for-every-user": ([rule(Op.DESCRIBE, principal="User:*")], "describe", NONE),
    "deny-for-every-user": ([rule(Op.DESCRIBE), rule(Op.DESCRIBE, DENY, principal="User:*")], "describe",
                            TOPIC_AUTHORIZATION_FAILED),
    "another-user": ([rule(Op.DESCRIBE, principal="User:erin")], "describe", TOPIC_AUTHORIZATION_FAILED),
    "principal-names-are-case-sensitive": ([rule(Op.DESCRIBE, principal="User:DAVE")], "describe",
                                           TOPIC_AUTHORIZATION_FAILED),
    "another-principal-type": ([rule(Op.DESCRIBE, principal="Group:dave")], "describe",
                               TOPIC_AUTHORIZATION_FAILED),
    "a-group-of-that-name": ([rule(Op.DESCRIBE, restype=G)], "describe", TOPIC_AUTHORIZATION_FAILED),
    "the-wildcard-topic": ([rule(Op.DESCRIBE, name=lambda t: "*")], "describe", NONE),
    "a-literal-name-is-exact": ([rule(Op.DESCRIBE, name=lambda t: t[:-1])], "describe",
                                TOPIC_AUTHORIZATION_FAILED),
    "a-prefix-of-the-name": ([rule(Op.DESCRIBE, pattern=PRE, name=lambda t: t[:-3])], "describe", NONE),
    "the-whole-name-as-prefix": ([rule(Op.DESCRIBE, pattern=PRE)], "describe", NONE),
    "a-longer-prefix": ([rule(Op.DESCRIBE, pattern=PRE, name=lambda t: t + "x")], "describe",
                        TOPIC_AUTHORIZATION_FAILED),
    "a-prefixed-star-is-no-wildcard": ([rule(Op.DESCRIBE, pattern=PRE, name=lambda t: "*")], "describe",
                                       TOPIC_AUTHORIZATION_FAILED),
    "prefixed-deny-beats-literal-allow": ([rule(Op.DESCRIBE), rule(Op.DESCRIBE, DENY, pattern=PRE,
                                                                    name=lambda t: t[:-1])],
                                          "describe", TOPIC_AUTHORIZATION_FAILED),
    "wildcard-deny-beats-literal-allow": ([rule(Op.READ), rule(Op.READ, DENY, name=lambda t: "*")], "read",
                                          TOPIC_AUTHORIZATION_FAILED),
    "this-host": ([rule(Op.DESCRIBE, host="127.0.0.1")], "describe", NONE),
    "another-host": ([rule(Op.DESCRIBE, host="10.1.2.3")], "describe", TOPIC_AUTHORIZATION_FAILED),
    "a-deny-for-another-host": ([rule(Op.DESCRIBE), rule(Op.DESCRIBE, DENY, host="10.1.2.3")], "describe", NONE),
}


def attempt(wire, request, topic):
    if request == "describe":
        return metadata_errors(wire, [topic])[topic]
    if request == "read":
        return raw_fetch(wire, topic)[0]
    return raw_produce(wire, [topic])[topic]


@pytest.mark.parametrize("case", list(RULES))
def test_acl_rules(broker, case):
    rules, request, expected = RULES[case]
    topic = f"rule-{case}"
    create_topics(broker, topic)
    if rules:
        create_acls(admin_as(broker), [r(topic) for r in rules])
    settle(broker, "dave")
    with KafkaWire(broker.sasl, "dave") as wire:
        assert attempt(wire, request, topic) == expected


def test_host_filters_compare_the_clients_address(broker):
    create_topics(broker, "e15-only-2", "e15-not-2", "e15-local", "e15-elsewhere")
    grant(broker, "erin", [
        acl(T, "e15-only-2", "User:erin", Op.DESCRIBE, host="127.0.0.2"),
        acl(T, "e15-not-2", "User:erin", Op.DESCRIBE),
        acl(T, "e15-not-2", "User:erin", Op.DESCRIBE, DENY, host="127.0.0.2"),
        *allow(T, "e15-local", "erin", Op.DESCRIBE, Op.WRITE, host="127.0.0.1"),
        *allow(T, "e15-elsewhere", "erin", Op.DESCRIBE, Op.WRITE, host="10.20.30.40"),
    ])
    topics = ["e15-only-2", "e15-not-2"]
    with KafkaWire(broker.sasl, "erin", source="127.0.0.1") as wire:
        assert metadata_errors(wire, topics) == {"e15-only-2": TOPIC_AUTHORIZATION_FAILED, "e15-not-2": NONE}
    with KafkaWire(broker.sasl, "erin", source="127.0.0.2") as wire:
        assert metadata_errors(wire, topics) == {"e15-only-2": NONE, "e15-not-2": TOPIC_AUTHORIZATION_FAILED}
    assert delivery_errors(broker, "erin", "e15-local") == [None] * 3
    assert delivery_errors(broker, "erin", "e15-elsewhere") == [TOPIC_AUTHORIZATION_FAILED] * 3


def test_prefixed_acls_cover_exactly_the_names_that_start_with_the_prefix(broker):
    names = ["e13-team-a-1", "e13-team-ab", "e13-team-b-1", "e13-team", "x-e13-team-a"]
    create_topics(broker, *names)
    grant(broker, "alice", allow(T, "e13-team-a", "alice", Op.WRITE, pattern=PRE))
    with KafkaWire(broker.sasl, "alice") as wire:
        assert raw_produce(wire, names) == {
            "e13-team-a-1": NONE, "e13-team-ab": NONE, "e13-team-b-1": TOPIC_AUTHORIZATION_FAILED,
            "e13-team": TOPIC_AUTHORIZATION_FAILED, "x-e13-team-a": TOPIC_AUTHORIZATION_FAILED}
        assert set(metadata_errors(wire)) >= {"e13-team-a-1", "e13-team-ab"}
        assert not set(metadata_errors(wire)) & {"e13-team-b-1", "e13-team", "x-e13-team-a"}
    assert delivery_errors(broker, "alice", "e13-team-a-1") == [None] * 3
    assert delivery_errors(broker, "alice", "e13-team-b-1") == [TOPIC_AUTHORIZATION_FAILED] * 3


def test_super_users_are_allowed_everything_whatever_the_acls(broker):
    create_acls(admin_as(broker), [acl(T, "*", "User:admin", Op.ALL, DENY), acl(G, "*", "User:admin", Op.ALL, DENY),
                                   acl(C, CLUSTER, "User:admin", Op.ALL, DENY),
                                   acl(T, "e16-anonymous", "User:ANONYMOUS", Op.ALL, DENY)])
    settle(broker, "alice")
    admin = admin_as(broker, "admin")
    assert topic_outcomes(admin, ["e16-t", "e16-anonymous"]) == {"e16-t": None, "e16-anonymous": None}
    assert delivery_errors(broker, "admin", "e16-t", 3) == [None] * 3
    assert len(consume_all(client_conf(broker, "admin"), "e16-g", "e16-t", 3)) == 3
    assert altered(admin, incremental(ConfigResource.Type.TOPIC, "e16-t", "retention.ms", "3600000")) is None
    (f,) = admin.delete_records([TopicPartition("e16-t", 0, 1)], operation_timeout=30).values()
    assert outcome(f) is None
    own = acl(T, "e16-t", "User:bob", Op.READ)
    assert outcome(admin.create_acls([own])[own]) is None
    cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=30)
    assert set(cluster.authorized_operations) == CLUSTER_OPERATIONS
    assert outcome(admin.delete_topics(["e16-t"], operation_timeout=30)["e16-t"]) is None
    # User:ANONYMOUS, the PLAINTEXT listener's principal, is one too.
    assert delivery_errors(broker, None, "e16-anonymous") == [None] * 3


def test_allow_everyone_if_no_acl_found_allows_what_has_no_acl_at_all(own_broker):
    b = own_broker([f"authorizer.class.name={ACL_AUTHORIZER}", "super.users=User:admin",
                               "allow.everyone.if.no.acl.found=true"])
    admin = admin_as(b, "admin")
    create_topics(b, "open", "other", admin=admin)
    # No ACL on the topic: everyone, User:ANONYMOUS included.
    assert delivery_errors(b, "alice", "open") == [None] * 3
    assert delivery_errors(b, None, "open") == [None] * 3
    # One ACL on it: the ACLs decide, for everyone.
    create_acls(admin, allow(T, "open", "bob", Op.DESCRIBE, Op.WRITE))
    settle(b, "alice", admin, deny=True)
    assert delivery_errors(b, "alice", "open") == [TOPIC_AUTHORIZATION_FAILED] * 3
    assert delivery_errors(b, None, "open") == [TOPIC_AUTHORIZATION_FAILED] * 3
    assert delivery_errors(b, "bob", "open") == [None] * 3
    assert delivery_errors(b, "alice", "other") == [None] * 3
    # The PLAINTEXT listener's principal is User:ANONYMOUS.
    create_acls(admin, allow(T, "open", "ANONYMOUS", Op.DESCRIBE, Op.WRITE))
    settle(b, None, admin, deny=True)
    assert delivery_errors(b, None, "open") == [None] * 3

    # CreateTopics: CREATE on the cluster, or else on the topic. Once the cluster has an ACL,
    # alice's cluster CREATE is denied, but a topic with no ACL still lets everyone create it.
    alice = admin_as(b, "alice")
    assert topic_outcomes(alice, ["fresh-1"]) == {"fresh-1": None}
    create_acls(admin, allow(C, CLUSTER, "bob", Op.CREATE))
    settle(b, "alice", admin, deny=True)
    assert topic_outcomes(alice, ["fresh-2"]) == {"fresh-2": None}
    create_acls(admin, [acl(T, "fresh-", "User:bob", Op.CREATE, pattern=PRE)])
    settle(b, "alice", admin, deny=True)
    assert topic_outcomes(alice, ["fresh-3"]) == {"fresh-3": TOPIC_AUTHORIZATION_FAILED}


# --- Metadata and authorized operations ---------------------------------------------------------

def test_metadata_shows_only_the_topics_the_principal_may_describe(broker):
    create_topics(broker, "e18-seen", "e18-read", "e18-hidden")
    commit_offset(broker, "e18-g", "e18-hidden", 0)
    grant(broker, "ivan", allow(T, "e18-seen", "ivan", Op.DESCRIBE) + allow(T, "e18-read", "ivan", Op.READ)
          + allow(T, "e18-auto-no", "ivan", Op.DESCRIBE) + allow(T, "e18-auto-yes", "ivan", Op.DESCRIBE, Op.CREATE))
    admin = admin_as(broker, "ivan")
    assert set(admin.list_topics(timeout=30).topics) == {"e18-seen", "e18-read"}
    hidden = admin.list_topics(topic="e18-hidden", timeout=30).topics["e18-hidden"]
    assert hidden.error is not None and hidden.error.code() == TOPIC_AUTHORIZATION_FAILED
    with KafkaWire(broker.sasl, "ivan") as wire:
        assert metadata_errors(wire) == {"e18-seen": NONE, "e18-read": NONE}
        # Asked by name: refused alike whether the topic exists or not (nothing disclosed), and
        # not created even when auto-creation is asked for.
        asked = ["e18-seen", "e18-hidden", "e18-missing", "__consumer_offsets"]
        expected = {"e18-seen": NONE, "e18-hidden": TOPIC_AUTHORIZATION_FAILED,
                    "e18-missing": TOPIC_AUTHORIZATION_FAILED, "__consumer_offsets": TOPIC_AUTHORIZATION_FAILED}
        assert metadata_errors(wire, asked) == expected
        assert metadata_errors(wire, asked, auto_create=True) == expected
        # DESCRIBE without CREATE: auto-creation is refused.
        assert metadata_errors(wire, ["e18-auto-no"], auto_create=True) == {"e18-auto-no": TOPIC_AUTHORIZATION_FAILED}
        # DESCRIBE and CREATE: created.
        assert metadata_errors(wire, ["e18-auto-yes"], auto_create=True)["e18-auto-yes"] in \
            (NONE, LEADER_NOT_AVAILABLE)
    wait_until(lambda: topic_exists(broker, "e18-auto-yes"), timeout_s=30, what="e18-auto-yes auto-created")
    assert not topic_exists(broker, "e18-missing") and not topic_exists(broker, "e18-auto-no")


def test_authorized_operations_are_computed_from_the_acls(broker):
    create_topics(broker, "e19-t", "e19-all", "e19-hidden")
    commit_offset(broker, "e19-g", "e19-t", 0)
    grant(broker, "judy", allow(T, "e19-t", "judy", Op.READ, Op.ALTER_CONFIGS) + allow(T, "e19-all", "judy", Op.ALL)
          + [acl(T, "e19-all", "User:judy", Op.WRITE, DENY)] + allow(G, "e19-g", "judy", Op.READ))
    judy, admin = admin_as(broker, "judy"), admin_as(broker, "admin")

    def topic_ops(client, topic):
        described = client.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
        return set(described[topic].result(timeout=30).authorized_operations)

    def group_ops(client, group):
        described = client.describe_consumer_groups([group], include_authorized_operations=True)
        return set(described[group].result(timeout=30).authorized_operations)

    def cluster_ops(client):
        return client.describe_cluster(include_authorized_operations=True).result(timeout=30).authorized_operations

    assert topic_ops(judy, "e19-t") == {Op.READ, Op.DESCRIBE, Op.ALTER_CONFIGS, Op.DESCRIBE_CONFIGS}
    assert topic_ops(judy, "e19-all") == TOPIC_OPERATIONS - {Op.WRITE}
    assert group_ops(judy, "e19-g") == {Op.READ, Op.DESCRIBE}
    assert not cluster_ops(judy), "no DESCRIBE on the cluster: no operation reported"
    hidden = judy.describe_topics(TopicCollection(["e19-hidden"]), include_authorized_operations=True)
    assert outcome(hidden["e19-hidden"]) == TOPIC_AUTHORIZATION_FAILED

    grant(broker, "judy", allow(C, CLUSTER, "judy", Op.ALTER, Op.IDEMPOTENT_WRITE))
    assert set(cluster_ops(judy)) == {Op.ALTER, Op.DESCRIBE, Op.IDEMPOTENT_WRITE}

    assert topic_ops(admin, "e19-t") == TOPIC_OPERATIONS
    assert group_ops(admin, "e19-g") == GROUP_OPERATIONS
    assert set(cluster_ops(admin)) == CLUSTER_OPERATIONS


# --- inter-broker requests from a client --------------------------------------------------------

def test_write_txn_markers_from_a_client_is_refused_with_cluster_authorization_failed(broker):
    create_topics(broker, "e20-t")
    fill(broker, "e20-t", 2)
    grant(broker, "alice", allow(T, "e20-t", "alice", Op.ALL))
    for user in ("alice", "bob"):
        with KafkaWire(broker.sasl, user) as wire:
            assert write_abort_marker(wire, "e20-t") == [(4242, "e20-t", 0, CLUSTER_AUTHORIZATION_FAILED)]
    assert watermarks(broker, "e20-t") == (0, 2), "no marker was appended"


def test_write_txn_markers_passes_authorization_with_cluster_action_or_cluster_alter(broker):
    """Kafka's KafkaApis.handleWriteTxnMarkersRequest accepts ALTER on the cluster (what
    Admin.abortTransaction, KIP-664, needs) as well as CLUSTER_ACTION."""
    create_topics(broker, "e21-t")
    create_acls(admin_as(broker), allow(C, CLUSTER, "carol", Op.CLUSTER_ACTION) + allow(C, CLUSTER, "heidi", Op.ALTER))
    settle(broker, "carol")
    for user, producer_id in (("carol", 5151), ("heidi", 5252), ("admin", 5353)):
        with KafkaWire(broker.sasl, user) as wire:
            (pid, topic, partition, error), = write_abort_marker(wire, "e21-t", producer_id)
        assert (pid, topic, partition) == (producer_id, "e21-t", 0)
        assert error not in (CLUSTER_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED), (user, error)


def test_fetching_as_a_replica_needs_cluster_action(broker):
    """Kafka (KafkaApis.handleFetchRequest) answers a follower fetch (replica id >= 0) from a
    principal without CLUSTER_ACTION on the cluster with TOPIC_AUTHORIZATION_FAILED for every
    partition (no top-level error), an unknown high watermark (-1) and no records, even when the
    principal may READ the topic."""
    create_topics(broker, "e22-t")
    fill(broker, "e22-t", 3)
    grant(broker, "alice", allow(T, "e22-t", "alice", Op.READ))
    create_acls(admin_as(broker), allow(C, CLUSTER, "carol", Op.CLUSTER_ACTION))
    settle(broker, "carol")
    with KafkaWire(broker.sasl, "alice") as wire:
        error, high_watermark, records = raw_fetch(wire, "e22-t", replica_id=-1)
        assert (error, high_watermark) == (NONE, 3) and records, "as a consumer she reads it"
        assert raw_fetch(wire, "e22-t", replica_id=1) == (TOPIC_AUTHORIZATION_FAILED, -1, b"")
    with KafkaWire(broker.sasl, "bob") as wire:
        assert raw_fetch(wire, "e22-t", replica_id=1) == (TOPIC_AUTHORIZATION_FAILED, -1, b"")
    for user in ("carol", "admin"):
        with KafkaWire(broker.sasl, user) as wire:
            error, _, _ = raw_fetch(wire, "e22-t", replica_id=1)
        assert error not in (CLUSTER_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED), (user, error)


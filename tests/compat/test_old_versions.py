"""Request versions that Kafka 3.9 still accepts and old clients still send (Kafka 4.0 dropped
them, KIP-896), spoken by kafka-python 2.0.2's own codec: its consumer configured for an old
broker commits with OffsetCommit v0 (api_version 0.8.1) or v1 (0.8.2) and reads back with
OffsetFetch v0 or v1; its v0 admin requests create, describe and delete a topic."""

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.protocol.admin import CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest
from kafka.structs import OffsetAndMetadata

from conftest import wait_until


def old_consumer(broker, api_version, group):
    return KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, api_version=api_version,
                         enable_auto_commit=False)


def v0_request(admin, request):
    """Sends a hand-picked request version through the admin client's connection; its response."""
    future = admin._send_request_to_node(admin._controller_id, request)
    admin._wait_for_futures([future])
    return future.value


def test_offset_commit_v0_and_v1_are_read_back(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    assert v0_request(admin, CreateTopicsRequest[0]([("old", 2, 1, [], [])], 30000)).topic_errors == [("old", 0)]
    p0, p1 = TopicPartition("old", 0), TopicPartition("old", 1)

    v0 = old_consumer(broker, (0, 8, 1), "g0")  # OffsetCommit v0, OffsetFetch v0
    v0.assign([p0, p1])
    v0.commit({p0: OffsetAndMetadata(5, "by v0")})
    assert v0.committed(p0) == 5
    assert v0.committed(p1) is None
    v0.close(autocommit=False)

    v1 = old_consumer(broker, (0, 8, 2), "g1")  # OffsetCommit v1 (generation -1), OffsetFetch v1
    v1.assign([p0, p1])
    v1.commit({p0: OffsetAndMetadata(6, "by v1"), p1: OffsetAndMetadata(7, "")})
    assert (v1.committed(p0), v1.committed(p1)) == (6, 7)
    v1.close(autocommit=False)

    # Both are the group's offsets: a current client (OffsetFetch v5+) sees them too.
    current = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g0", enable_auto_commit=False)
    assert current.committed(p0) == 5
    current.close(autocommit=False)
    current = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g1", enable_auto_commit=False)
    assert (current.committed(p0), current.committed(p1)) == (6, 7)
    current.close(autocommit=False)


def test_create_describe_and_delete_topics_v0(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    created = v0_request(admin, CreateTopicsRequest[0]([("t0", 3, 1, [], [("retention.ms", "4321")])], 30000))
    assert created.topic_errors == [("t0", 0)]
    wait_until(lambda: "t0" in admin.list_topics(), 30, what="t0 listed")

    described = v0_request(admin, DescribeConfigsRequest[0]([(2, "t0", ["retention.ms", "segment.bytes"])]))
    (error_code, _message, _type, name, entries), = described.resources
    assert (error_code, name) == (0, "t0")
    # v0 entries: name, value, read_only, is_default, is_sensitive
    by_name = {e[0]: e for e in entries}
    assert by_name["retention.ms"][1:4] == ("4321", False, False)
    assert by_name["segment.bytes"][3] is True, "a default value is is_default"

    deleted = v0_request(admin, DeleteTopicsRequest[0](["t0"], 30000))
    assert deleted.topic_error_codes == [("t0", 0)]
    wait_until(lambda: "t0" not in admin.list_topics(), 30, what="t0 gone")

"""The newest versions of DescribeGroups (v6, KIP-1043), DeleteTopics (v6, topic ids),
ListTransactions (v2, KIP-1152's transactional id pattern), AlterPartitionReassignments (v1,
KIP-860), Produce (v13, topics by id) and Fetch (v18, the fetcher's high watermark), checked in raw frames with the strict flexible-version codec of
test_newest_versions.py, as Apache Kafka 4.1 answers them."""

import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import time

from test_newest_versions import Conn, carray, cstring, i8, i32, i64, tags, topic_id

DESCRIBE_GROUPS, DELETE_TOPICS, LIST_TRANSACTIONS, ALTER_REASSIGNMENTS = 15, 20, 66, 45
GROUP_ID_NOT_FOUND, UNKNOWN_TOPIC_ID, INVALID_REQUEST = 69, 100, 42
INVALID_REPLICATION_FACTOR, INVALID_REGULAR_EXPRESSION = 38, 128


COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR = 15, 16


def describe_groups_v6(address, group):
    body = carray([group], cstring) + i8(0) + tags()
    with Conn(address) as c:
        r = c.call(DESCRIBE_GROUPS, 6, body)
    assert r.int32() == 0  # throttle
    groups = []

    def group():
        g = dict(error=r.int16(), message=r.cstring(nullable=True), id=r.cstring(), state=r.cstring(),
                 protocol_type=r.cstring(), protocol=r.cstring())
        g["members"] = r.carray(lambda: None)
        g["ops"] = r.int32()
        assert r.tags() == {}
        groups.append(g)
    r.carray(group)
    assert r.tags() == {}
    r.done()
    return groups


def test_describe_groups_v6_answers_an_unknown_group_group_id_not_found(broker):
    # FindCoordinator (here through confluent-kafka's admin client) creates __consumer_offsets;
    # its coordinator then takes a moment to load.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.describe_consumer_groups(["nobody-here"])["nobody-here"].exception(30)
    deadline = time.monotonic() + 60
    groups = describe_groups_v6(broker.bootstrap, "nobody-here")
    while groups[0]["error"] in (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR) and time.monotonic() < deadline:
        time.sleep(0.2)
        groups = describe_groups_v6(broker.bootstrap, "nobody-here")
    assert [(g["error"], g["id"], g["state"], g["members"]) for g in groups] == \
        [(GROUP_ID_NOT_FOUND, "nobody-here", "Dead", [])]
    assert groups[0]["message"] == "Group nobody-here not found."


def delete_topics_v6(address, topics):
    body = carray(topics, lambda t: cstring(t[0]) + t[1].bytes + tags()) + i32(30_000) + tags()
    with Conn(address) as c:
        r = c.call(DELETE_TOPICS, 6, body)
    assert r.int32() == 0
    out = []

    def one():
        out.append((r.cstring(nullable=True), uuid.UUID(bytes=r.raw(16)), r.int16(), r.cstring(nullable=True)))
        assert r.tags() == {}
    r.carray(one)
    assert r.tags() == {}
    r.done()
    return out


def test_delete_topics_v6_by_name_or_by_id(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic("del-by-id", 1, 1), NewTopic("del-by-name", 1, 1)]).values():
        f.result(30)
    by_id = uuid.UUID(str(topic_id(broker.bootstrap, "del-by-id")))
    by_name_id = uuid.UUID(str(topic_id(broker.bootstrap, "del-by-name")))
    stranger = uuid.uuid4()
    zero = uuid.UUID(int=0)
    answers = delete_topics_v6(broker.bootstrap, [(None, by_id), ("del-by-name", zero), (None, stranger),
                                                  ("del-by-name", by_name_id)])
    assert sorted(answers, key=str) == sorted([
        ("del-by-id", by_id, 0, None),
        ("del-by-name", by_name_id, 0, None),
        (None, stranger, UNKNOWN_TOPIC_ID, answers[[a[1] for a in answers].index(stranger)][3]),
        ("del-by-name", by_name_id, INVALID_REQUEST, answers[[a[2] for a in answers].index(INVALID_REQUEST)][3]),
    ], key=str), answers
    assert all(a[3] for a in answers if a[2] != 0), "every refusal says why"
    listed = admin.list_topics(timeout=30).topics
    assert "del-by-id" not in listed and "del-by-name" not in listed


def list_transactions_v2(address, pattern):
    body = carray([], cstring) + carray([], i64) + i64(-1) + cstring(pattern) + tags()
    with Conn(address) as c:
        r = c.call(LIST_TRANSACTIONS, 2, body)
    assert r.int32() == 0
    error = r.int16()
    r.carray(r.cstring)  # unknown state filters
    states = []

    def state():
        states.append((r.cstring(), r.int64(), r.cstring()))
        assert r.tags() == {}
    r.carray(state)
    assert r.tags() == {}
    r.done()
    return error, sorted(s[0] for s in states)


def test_list_transactions_v2_filters_by_a_whole_match_of_the_pattern(broker):
    for tid in ("orders-1", "orders-22", "payments-1"):
        p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": tid})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce("txn-pattern", b"v")
        p.commit_transaction(30)
    assert list_transactions_v2(broker.bootstrap, "orders-[0-9]+") == (0, ["orders-1", "orders-22"])
    assert list_transactions_v2(broker.bootstrap, "orders") == (0, []), "the whole id must match"
    assert list_transactions_v2(broker.bootstrap, None) == (0, ["orders-1", "orders-22", "payments-1"])
    assert list_transactions_v2(broker.bootstrap, "") == (0, ["orders-1", "orders-22", "payments-1"])
    assert list_transactions_v2(broker.bootstrap, "orders-(")[0] == INVALID_REGULAR_EXPRESSION


def test_alter_partition_reassignments_v1_guards_the_replication_factor(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("rf-guard", 1, 1)])["rf-guard"].result(30)
    for allow, expected in ((False, INVALID_REPLICATION_FACTOR), (True, None)):
        body = (i32(30_000) + i8(1 if allow else 0)
                + carray([("rf-guard", [(0, [0, 7])])],
                         lambda t: cstring(t[0]) + carray(t[1], lambda p: i32(p[0]) + carray(p[1], i32) + tags())
                         + tags())
                + tags())
        with Conn(broker.bootstrap) as c:
            r = c.call(ALTER_REASSIGNMENTS, 1, body)
        assert r.int32() == 0
        assert r.int8() == (1 if allow else 0), "the request's choice, echoed"
        top = r.int16()
        r.cstring(nullable=True)
        results = []

        def topic():
            name = r.cstring()

            def partition():
                results.append((name, r.int32(), r.int16(), r.cstring(nullable=True)))
                assert r.tags() == {}
            r.carray(partition)
            assert r.tags() == {}
        r.carray(topic)
        assert r.tags() == {}
        r.done()
        assert top == 0
        if expected is not None:
            assert [(n, p, e) for n, p, e, _ in results] == [("rf-guard", 0, expected)], results
        else:
            # Allowed: refused only because broker 7 does not exist, not for the factor.
            assert results and results[0][2] != INVALID_REPLICATION_FACTOR, results


# --- Produce v13 and Fetch v18 ---------------------------------------------------------------------

PRODUCE, FETCH = 0, 1


def produce_v13(address, topics, acks=-1):
    """Produce v13: topics by id. `topics`: [(uuid, {partition: batch})]. Returns
    [(topic id, name, [(partition, error, base offset)])]."""
    from test_newest_versions import cbytes, i16
    body = cstring(None) + i16(acks) + i32(30_000)
    body += carray(topics, lambda t: t[0].bytes + carray(
        t[1].items(), lambda kv: i32(kv[0]) + cbytes(kv[1]) + tags()) + tags())
    body += tags()
    with Conn(address) as c:
        r = c.call(PRODUCE, 13, body)
    out = []

    def partition():
        index, error, base = r.int32(), r.int16(), r.int64()
        r.int64()  # log append time
        r.int64()  # log start offset
        r.carray(lambda: (r.int32(), r.cstring(nullable=True), r.tags()))
        r.cstring(nullable=True)
        r.tags()
        return (index, error, base)

    def topic():
        tid = r.uuid()
        out.append((tid, r.carray(partition)))
        assert r.tags() == {}
    r.carray(topic)
    r.int32()  # throttle
    r.tags()
    r.done()
    return out


def test_produce_v13_names_topics_by_id(broker):
    """Produce v13 (Kafka 4.1, KIP-516): a topic is named by its id and answered by its id; an id
    the cluster does not know is UNKNOWN_TOPIC_ID for each of its partitions; the records appended
    by id are the topic's, read back by name."""
    from test_newest_versions import record_batch
    name = "produce-by-id"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: its futures need it alive
    for f in admin.create_topics([NewTopic(name, 2, 1)]).values():
        f.result(30)
    tid = topic_id(broker.bootstrap, name)
    stranger = uuid.uuid4()
    answer = produce_v13(broker.bootstrap, [(tid, {0: record_batch([b"a", b"b"]), 1: record_batch([b"c"])}),
                                            (stranger, {0: record_batch([b"x"])})])
    answers = dict(answer)
    assert set(answers) == {tid, stranger}
    assert sorted(answers[tid]) == [(0, 0, 0), (1, 0, 0)]
    assert answers[stranger] == [(0, UNKNOWN_TOPIC_ID, -1)]
    again = dict(produce_v13(broker.bootstrap, [(tid, {0: record_batch([b"d"])})]))
    assert again[tid] == [(0, 0, 2)], "the next batch follows the first two records"


def test_fetch_v18_takes_a_followers_high_watermark_and_answers_as_v17(broker):
    """Fetch v18 adds the fetcher's high watermark (a tagged field of each partition, KIP-1166);
    a consumer's fetch carrying it is answered as at v17."""
    from test_newest_versions import PARTITION_MAX_BYTES, decode_fetch
    name = "fetch-v18"
    p = Producer({"bootstrap.servers": broker.bootstrap})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: its futures need it alive
    for f in admin.create_topics([NewTopic(name, 1, 1)]).values():
        f.result(30)
    for v in (b"one", b"two"):
        p.produce(name, v, partition=0)
    assert p.flush(30) == 0
    tid = topic_id(broker.bootstrap, name)
    partition = (i32(0) + i32(-1) + i64(0) + i32(-1) + i64(-1) + i32(PARTITION_MAX_BYTES)
                 + tags({1: i64(5)}))
    body = i32(0) + i32(0) + i32(0x7FFFFFFF) + i8(0) + i32(0) + i32(-1)
    body += carray([tid], lambda t: t.bytes + carray([0], lambda _: partition) + tags())
    body += carray([], lambda t: b"") + cstring("") + tags()
    with Conn(broker.bootstrap) as c:
        answer = decode_fetch(18, c.call(FETCH, 18, body))
    got = answer.topics[tid][0]
    assert (answer.error, got.error, got.high_watermark) == (0, 0, 2)
    assert got.records and b"one" in got.records and b"two" in got.records

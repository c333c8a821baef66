"""Transactions with real clients: confluent-kafka's (librdkafka's) transactional producer and
read_committed consumer, checked a second, independent way through kafka-python's protocol
layer (its Fetch and ListOffsets requests and its record-batch decoder; kafka-python 2.0.2's
consumer has no isolation level, and hands control records out as messages).

- a committed transaction is seen whole by read_committed; an aborted one by read_uncommitted
  only, with its abort marker in the log and its producer in the fetch's aborted list;
- an open transaction holds the last stable offset at its first offset;
- a transaction its producer abandons is aborted by the coordinator after its timeout, and the
  last stable offset moves on;
- a second producer with the same transactional.id fences the first and aborts its transaction;
- consumer offsets sent to a transaction are committed with it, and dropped with an abort;
- a transactional write to a partition never added to the transaction is refused (KIP-890);
- an exactly-once copy of 100,000 records on three brokers, with the copier and the
  transaction coordinator killed, holds every record once, in order."""

import json
import signal
import struct
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.api import Request, Response
from kafka.protocol.fetch import FetchRequest
from kafka.protocol.offset import OffsetRequest
from kafka.protocol.produce import ProduceRequest
from kafka.protocol.types import Int8, Int16, Int32, Schema, String
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from conftest import SLUICE_CLI, serve_broker, wait_until
from kafka_support import request_to
from test_cluster import Cluster

HERE = Path(__file__).resolve().parent
COPIER = HERE / "txn_copier.py"

# Kafka's error codes, as the broker answers them to kafka-python's raw requests.
INVALID_TXN_STATE = 48
TRANSACTION_ABORTABLE = 120
# Control record keys (Kafka's ControlRecordType): version (int16), type (int16).
CONTROL_TYPES = {0: "abort", 1: "commit"}

# The coordinator looks for timed-out transactions every half second (Kafka's default is 10 s),
# so the timeout test waits seconds, not tens of seconds.
BROKER_OVERRIDES = ["transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
                    "group.initial.rebalance.delay.ms=300"]
CLUSTER_OVERRIDES = ["transaction.state.log.replication.factor=3", "transaction.state.log.min.isr=2",
                     "group.initial.rebalance.delay.ms=300"]


@pytest.fixture
def txn_broker(tmp_path, request):
    yield from serve_broker(tmp_path, request, BROKER_OVERRIDES)


class TxnCluster(Cluster):
    """test_cluster's three brokers on three keeper nodes, with the transaction state log
    replicated three ways (two in sync needed to write), and a short first-rebalance delay."""

    def _broker(self, i, port, connect):
        node = super()._broker(i, port, connect)
        node.args += [arg for o in CLUSTER_OVERRIDES for arg in ("-o", o)]
        return node


@pytest.fixture
def txn_cluster(tmp_path, request):
    c = TxnCluster(tmp_path)
    try:
        c.start()
    except BaseException:
        c.stop(True)
        raise
    yield c
    c.stop(getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed)


# --- confluent-kafka helpers -------------------------------------------------------------------

def create(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)


def transactional(bootstrap, transactional_id, **conf):
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, **conf})
    producer.init_transactions(60)
    return producer


def send(producer, topic, values, partition=0):
    """Produces `values` to one partition and waits until each is acknowledged."""
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)

    for v in values:
        producer.produce(topic, value=v, partition=partition, on_delivery=delivered)
    assert producer.flush(30) == 0, "every record acknowledged or failed"
    assert not errors, errors[:3]


def sluice(bootstrap, *args):
    """Runs the bundled CLI; returns its stdout, failing the test on a non-zero exit."""
    result = subprocess.run([SLUICE_CLI, "-b", bootstrap, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"sluice {' '.join(args)}: {result.stderr}"
    return result.stdout


def numbered(prefix, count):
    return [f"{prefix}-{i}".encode() for i in range(count)]


def end_offsets(bootstrap, topic, partitions, isolation):
    """Each partition's end offset as a consumer with `isolation` is told it (ListOffsets):
    the high watermark for read_uncommitted, the last stable offset for read_committed."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "end-offsets", "isolation.level": isolation})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        c.close()


def wait_for_stable(bootstrap, topic, partitions, timeout_s=30):
    """Waits until no transaction is open or completing on `topic`: the last stable offset
    equals the high watermark on every partition (transaction markers are written after
    EndTxn is answered, as in Kafka)."""
    def stable():
        try:
            return end_offsets(bootstrap, topic, partitions, "read_committed") == \
                end_offsets(bootstrap, topic, partitions, "read_uncommitted")
        except KafkaException:
            return False
    wait_until(stable, timeout_s=timeout_s, interval_s=0.2, what=f"last stable offset = high watermark on {topic}")


def read_to_end(bootstrap, topic, partitions, isolation, timeout_s=60):
    """Everything an `isolation` consumer reads from the beginning of every partition until
    each reports its end: {partition: [(key, value)]}. librdkafka never hands out control
    records, and its read_committed end is the last stable offset."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{isolation}", "isolation.level": isolation,
                  "enable.auto.commit": False, "enable.partition.eof": True})
    got = {p: [] for p in range(partitions)}
    at_end = set()
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + timeout_s
        while len(at_end) < partitions:
            assert time.monotonic() < deadline, f"{topic} not read to its end in {timeout_s}s: {sorted(at_end)} done"
            for m in c.consume(10_000, timeout=0.5):
                if m.error() is None:
                    got[m.partition()].append((m.key(), m.value()))
                    at_end.discard(m.partition())
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                elif m.error().fatal():
                    raise KafkaException(m.error())
    finally:
        c.close()
    return got


def values(records):
    return [v for _, v in records]


# --- kafka-python's protocol layer: one request to one broker ----------------------------------

class FindCoordinatorResponseV1(Response):
    # kafka-python 2.0.2's own v1 schema lacks throttle_time_ms.
    API_KEY, API_VERSION = 10, 1
    SCHEMA = Schema(('throttle_time_ms', Int32), ('error_code', Int16), ('error_message', String('utf-8')),
                    ('coordinator_id', Int32), ('host', String('utf-8')), ('port', Int32))


class FindCoordinatorRequestV1(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 10, 1, FindCoordinatorResponseV1
    SCHEMA = Schema(('coordinator_key', String('utf-8')), ('coordinator_type', Int8))


def leader_of(bootstrap, topic, partition):
    """(broker id, host:port) of a partition's leader."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=30)
    leader = md.topics[topic].partitions[partition].leader
    assert leader >= 0, f"{topic}-{partition} has no leader"
    b = md.brokers[leader]
    return leader, f"{b.host}:{b.port}"


Batch = namedtuple("Batch", "base_offset last_offset producer_id producer_epoch transactional control records")


def record_batches(data):
    """The whole v2 record batches in fetched bytes (a fetch may end in a partial one)."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        _, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        raw = bytes(data[pos:end])
        (base, _, _, magic, _, attributes, last_delta, _, _, producer_id, producer_epoch, _, _) = \
            DefaultRecordBatch.HEADER_STRUCT.unpack_from(raw)
        assert magic == 2, f"batch at {base} has magic {magic}"
        records = [(r.offset, r.key, r.value) for r in DefaultRecordBatch(raw)]
        out.append(Batch(base, base + last_delta, producer_id, producer_epoch, bool(attributes & 0x10),
                         bool(attributes & 0x20), records))
        pos = end
    return out


def raw_fetch(bootstrap, topic, partition, offset, isolation_level):
    """One Fetch v4 (isolation 0 = read_uncommitted, 1 = read_committed) to the partition's
    leader: (high watermark, last stable offset, aborted transactions as (producer id, first
    offset), record batches)."""
    leader, address = leader_of(bootstrap, topic, partition)
    request = FetchRequest[4](replica_id=-1, max_wait_time=100, min_bytes=0, max_bytes=4 << 20,
                              isolation_level=isolation_level, topics=[(topic, [(partition, offset, 4 << 20)])])
    response = request_to(address, leader, request)
    (_, partitions), = response.topics
    (_, error, high_watermark, last_stable_offset, aborted, data), = partitions
    assert error == 0, f"fetch {topic}-{partition} from {offset}: error {error}"
    return high_watermark, last_stable_offset, [tuple(a) for a in aborted or []], record_batches(data or b"")


def raw_end_offset(bootstrap, topic, partition, isolation_level):
    """ListOffsets v2 for the latest offset: the last stable offset under read_committed (1)."""
    leader, address = leader_of(bootstrap, topic, partition)
    request = OffsetRequest[2](replica_id=-1, isolation_level=isolation_level, topics=[(topic, [(partition, -1)])])
    (_, partitions), = request_to(address, leader, request).topics
    (_, error, _, offset), = partitions
    assert error == 0, f"ListOffsets {topic}-{partition}: error {error}"
    return offset


def control_type(key):
    """"abort" or "commit", from a control record's key."""
    _, kind = struct.unpack(">hh", key[:4])
    return CONTROL_TYPES.get(kind, f"control-{kind}")


def log_entries(batches):
    """The log as (offset, kind, value): kind "data", or "abort"/"commit" for a marker."""
    return [(offset, control_type(key), None) if b.control else (offset, "data", value)
            for b in batches for offset, key, value in b.records]


def read_committed_view(batches, aborted):
    """The values a read_committed consumer keeps, by Kafka's consumer algorithm: a producer's
    transactional batches are dropped from the first offset of one of its aborted transactions
    (as listed by the broker) up to its abort marker; markers are never data."""
    pending = sorted(aborted, key=lambda a: a[1])
    aborting, out = set(), []
    for b in batches:
        while pending and pending[0][1] <= b.last_offset:
            aborting.add(pending.pop(0)[0])
        if b.control:
            if any(control_type(key) == "abort" for _, key, _ in b.records):
                aborting.discard(b.producer_id)
            continue
        if b.transactional and b.producer_id in aborting:
            continue
        out += [value for _, _, value in b.records]
    return out


def wait_for_full_isr(bootstrap, topics, replicas, timeout_s):
    """Waits until every partition of `topics` has all `replicas` in its ISR."""
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def full():
        try:
            md = admin.list_topics(timeout=10)
        except KafkaException:
            return False
        return all(t in md.topics and md.topics[t].partitions and
                   all(len(p.isrs) == replicas for p in md.topics[t].partitions.values()) for t in topics)
    wait_until(full, timeout_s=timeout_s, interval_s=0.5, what=f"every replica of {topics} back in sync")


def transaction_coordinator(cluster, transactional_id, timeout_s=60):
    """The id of the broker coordinating `transactional_id` (FindCoordinator, key type 1), as
    a running broker of `cluster` answers it."""
    found = []

    def ask():
        for i, address in cluster.addresses.items():
            if not cluster.brokers[i].alive:
                continue
            try:
                answer = request_to(address, i, FindCoordinatorRequestV1(transactional_id, 1), 10)
            except Exception:  # kafka-python's errors, or unreachable: ask the next broker
                continue
            if answer.error_code == 0:
                found.append(answer.coordinator_id)
                return True
        return False
    wait_until(ask, timeout_s=timeout_s, interval_s=0.5, what=f"the transaction coordinator of {transactional_id}")
    return found[-1]


# --- single broker -----------------------------------------------------------------------------

def test_committed_transaction_visible_to_read_committed(txn_broker):
    create(txn_broker.bootstrap, "committed", 3)
    sent = {p: [] for p in range(3)}
    producer = transactional(txn_broker.bootstrap, "committer")
    producer.begin_transaction()
    for n in range(1000):
        sent[n % 3].append(str(n).encode())
    for p, vs in sent.items():
        send(producer, "committed", vs, partition=p)
    producer.commit_transaction(30)
    wait_for_stable(txn_broker.bootstrap, "committed", 3)
    got = read_to_end(txn_broker.bootstrap, "committed", 3, "read_committed")
    assert {p: values(rs) for p, rs in got.items()} == sent


def test_open_transaction_holds_the_last_stable_offset_at_its_first_offset(txn_broker):
    b = txn_broker.bootstrap
    create(b, "held", 1)
    plain = Producer({"bootstrap.servers": b})
    send(plain, "held", numbered("before", 3))  # offsets 0-2
    producer = transactional(b, "holder")
    producer.begin_transaction()
    send(producer, "held", numbered("open", 5))  # 3-7, flushed: in the log, not committed
    send(plain, "held", numbered("after", 3))  # 8-10, behind the open transaction

    assert end_offsets(b, "held", 1, "read_committed") == {0: 3}
    assert end_offsets(b, "held", 1, "read_uncommitted") == {0: 11}
    assert raw_end_offset(b, "held", 0, isolation_level=1) == 3
    assert raw_end_offset(b, "held", 0, isolation_level=0) == 11
    high_watermark, last_stable, _, batches = raw_fetch(b, "held", 0, 0, isolation_level=1)
    assert (high_watermark, last_stable) == (11, 3)
    assert [(o, v) for o, _, v in log_entries(batches)] == list(enumerate(numbered("before", 3))), \
        "a read_committed fetch stops at the last stable offset"
    assert values(read_to_end(b, "held", 1, "read_committed")[0]) == numbered("before", 3)

    # ListTransactions and DescribeTransactions, through the bundled CLI.
    listed = json.loads(sluice(b, "transaction", "list", "--state", "Ongoing", "--json"))
    assert [t["transactional_id"] for t in listed] == ["holder"], listed
    producer_id, state = listed[0]["producer_id"], listed[0]["state"]
    assert state == "Ongoing"
    described = sluice(b, "transaction", "describe", "holder")
    assert "transactional id holder: Ongoing" in described, described
    assert f"producer id {producer_id} epoch 0" in described, described
    assert "partition held-0" in described, described
    assert json.loads(sluice(b, "transaction", "list", "--state", "CompleteAbort", "--json")) == []
    unknown = subprocess.run([SLUICE_CLI, "-b", b, "transaction", "describe", "nobody"], capture_output=True,
                             text=True, timeout=60)
    assert unknown.returncode != 0 and "TRANSACTIONAL_ID_NOT_FOUND" in unknown.stderr, unknown

    producer.commit_transaction(30)
    wait_for_stable(b, "held", 1)
    assert end_offsets(b, "held", 1, "read_committed") == {0: 12}, "the commit marker at 11"
    assert values(read_to_end(b, "held", 1, "read_committed")[0]) == \
        numbered("before", 3) + numbered("open", 5) + numbered("after", 3)
    wait_until(lambda: "CompleteCommit" in sluice(b, "transaction", "describe", "holder"), timeout_s=30,
               what="the transaction complete")


def test_aborted_transaction_invisible_to_read_committed_visible_to_read_uncommitted(txn_broker):
    # Log: plain 0-4 | aborted txn 5-14 | plain 15-19 | ABORT 20 | committed txn 21-30 |
    # plain 31-35 | COMMIT 36. read_committed keeps the plain records and the committed
    # transaction, in log order; read_uncommitted keeps every data record.
    b = txn_broker.bootstrap
    create(b, "mixed", 1)
    plain_values = numbered("plain", 15)
    aborted_values, committed_values = numbered("aborted", 10), numbered("committed", 10)
    plain = Producer({"bootstrap.servers": b})
    producer = transactional(b, "mixer")
    send(plain, "mixed", plain_values[:5])
    producer.begin_transaction()
    send(producer, "mixed", aborted_values)
    send(plain, "mixed", plain_values[5:10])
    producer.abort_transaction(30)
    producer.begin_transaction()
    send(producer, "mixed", committed_values)
    send(plain, "mixed", plain_values[10:])
    producer.commit_transaction(30)
    wait_for_stable(b, "mixed", 1)

    read_committed = plain_values[:10] + committed_values + plain_values[10:]
    everything = plain_values[:5] + aborted_values + plain_values[5:10] + committed_values + plain_values[10:]
    assert values(read_to_end(b, "mixed", 1, "read_committed")[0]) == read_committed
    assert values(read_to_end(b, "mixed", 1, "read_uncommitted")[0]) == everything

    # The same log through kafka-python's protocol layer: the markers where the transactions
    # ended, the aborted transaction listed for read_committed, the view that list yields.
    high_watermark, last_stable, aborted, batches = raw_fetch(b, "mixed", 0, 0, isolation_level=1)
    assert (high_watermark, last_stable) == (37, 37)
    entries = log_entries(batches)
    assert [o for o, _, _ in entries] == list(range(37)), "one offset per record, markers included"
    assert [(kind, v) for _, kind, v in entries] == \
        [("data", v) for v in plain_values[:5] + aborted_values + plain_values[5:10]] + [("abort", None)] + \
        [("data", v) for v in committed_values + plain_values[10:]] + [("commit", None)]
    txn_batch = next(x for x in batches if x.base_offset == 5)
    assert txn_batch.transactional and txn_batch.producer_id >= 0
    assert aborted == [(txn_batch.producer_id, 5)], "the aborted transaction: its producer and first offset"
    assert read_committed_view(batches, aborted) == read_committed
    _, _, aborted_uncommitted, batches = raw_fetch(b, "mixed", 0, 0, isolation_level=0)
    assert not aborted_uncommitted, "read_uncommitted fetches list no aborted transactions"
    assert [v for _, kind, v in log_entries(batches) if kind == "data"] == everything
    assert raw_end_offset(b, "mixed", 0, isolation_level=1) == 37


HANGING_PRODUCER = """
import sys, time
from confluent_kafka import Producer
bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "hanging", "transaction.timeout.ms": 3000})
p.init_transactions(60)
p.begin_transaction()
failed = []
for i in range(count):
    p.produce(topic, value=f"hanging-{i}".encode(), partition=0,
              on_delivery=lambda err, msg: err is not None and failed.append(err))
assert p.flush(60) == 0 and not failed, failed
print("flushed", flush=True)
time.sleep(300)  # abandoned: the test kills it long before
"""


def test_hanging_transaction_is_aborted_by_its_timeout_and_lso_moves_on(txn_broker, tmp_path):
    # A producer opens a transaction (transaction.timeout.ms=3000), writes 10 records and dies
    # without ending it. Plain records written after them stay invisible to read_committed
    # until the coordinator aborts the transaction for its timeout; then they show, the
    # hanging records never do, and the last stable offset reaches the log end.
    b = txn_broker.bootstrap
    create(b, "hung", 1)
    out = tmp_path / "hanging.out"
    with open(out, "wb") as f:
        hanging = subprocess.Popen([sys.executable, "-c", HANGING_PRODUCER, b, "hung", "10"], stdout=f,
                                   stderr=subprocess.STDOUT)
    try:
        def flushed():
            assert hanging.poll() is None, f"the hanging producer exited {hanging.returncode}: {out.read_text()}"
            return "flushed" in out.read_text()
        wait_until(flushed, timeout_s=60, what="the hanging transaction's records acknowledged")
    finally:
        hanging.kill()
        hanging.wait(30)
    after = numbered("after", 20)
    send(Producer({"bootstrap.servers": b}), "hung", after)  # offsets 10-29

    consumer = Consumer({"bootstrap.servers": b, "group.id": "hung-reader", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    got = []
    try:
        consumer.assign([TopicPartition("hung", 0, OFFSET_BEGINNING)])

        def all_after_seen():
            got.extend(m.value() for m in consumer.consume(1000, timeout=0.5) if m.error() is None)
            return len(got) >= len(after)
        wait_until(all_after_seen, timeout_s=60, what="the records behind the hanging transaction")
    finally:
        consumer.close()
    assert got == after, "the plain records, and none of the hanging transaction's"

    # The abort marker follows the plain records, and the last stable offset is the log end.
    wait_for_stable(b, "hung", 1)
    assert end_offsets(b, "hung", 1, "read_committed") == {0: 31}
    assert raw_end_offset(b, "hung", 0, isolation_level=1) == 31
    _, _, aborted, batches = raw_fetch(b, "hung", 0, 0, isolation_level=1)
    entries = log_entries(batches)
    assert [(kind, v) for _, kind, v in entries] == \
        [("data", v) for v in numbered("hanging", 10) + after] + [("abort", None)]
    assert aborted == [(batches[0].producer_id, 0)]
    assert values(read_to_end(b, "hung", 1, "read_committed")[0]) == after


def test_second_producer_with_same_transactional_id_fences_the_first(txn_broker):
    b = txn_broker.bootstrap
    create(b, "fenced", 1)
    first = transactional(b, "shared-id")
    first.begin_transaction()
    send(first, "fenced", numbered("first", 5))
    # The second producer's InitProducerId bumps the epoch and aborts the open transaction
    # before it returns.
    second = transactional(b, "shared-id")
    with pytest.raises(KafkaException) as fenced:
        first.commit_transaction(30)
    error = fenced.value.args[0]
    # librdkafka 2.6.1 treats EndTxn's PRODUCER_FENCED and INVALID_PRODUCER_EPOCH as fatal and
    # reports both as _FENCED.
    assert error.fatal(), f"fencing is fatal to the first producer: {error}"
    assert error.code() == KafkaError._FENCED, error
    second.begin_transaction()
    send(second, "fenced", numbered("second", 5))
    second.commit_transaction(30)
    wait_for_stable(b, "fenced", 1)
    assert values(read_to_end(b, "fenced", 1, "read_committed")[0]) == numbered("second", 5)
    _, _, _, batches = raw_fetch(b, "fenced", 0, 0, isolation_level=0)
    assert [(kind, v) for _, kind, v in log_entries(batches)] == \
        [("data", v) for v in numbered("first", 5)] + [("abort", None)] + \
        [("data", v) for v in numbered("second", 5)] + [("commit", None)]


def test_send_offsets_to_transaction_commits_consumer_offsets_atomically(txn_broker):
    b = txn_broker.bootstrap
    create(b, "eos-in", 2)
    create(b, "eos-out", 2)
    plain = Producer({"bootstrap.servers": b})
    for p in range(2):
        send(plain, "eos-in", numbered(f"in{p}", 50), partition=p)
    consumer = Consumer({"bootstrap.servers": b, "group.id": "eos-group", "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    producer = transactional(b, "eos-copier")
    try:
        consumer.subscribe(["eos-in"])

        def consume(count):
            got = []

            def enough():
                got.extend(m for m in consumer.consume(count - len(got), timeout=0.5) if m.error() is None)
                return len(got) >= count
            wait_until(enough, timeout_s=60, what=f"{count} input records")
            return got

        def copy_in_transaction(messages):
            producer.begin_transaction()
            for m in messages:
                producer.produce("eos-out", value=b"copy-" + m.value(), partition=m.partition())
            assert producer.flush(30) == 0
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), 30)

        def committed():
            return {tp.partition: tp.offset for tp in consumer.committed(
                [TopicPartition("eos-in", p) for p in range(2)], timeout=30)}

        first = consume(100)
        copy_in_transaction(first)
        producer.commit_transaction(30)
        wait_until(lambda: committed() == {0: 50, 1: 50}, timeout_s=30,
                   what="the group's offsets committed with the transaction")

        for p in range(2):
            send(plain, "eos-in", numbered(f"more{p}", 10), partition=p)
        copy_in_transaction(consume(20))
        # KIP-447: while the transaction is open, a read_committed consumer's committed() asks
        # with require_stable and is told UNSTABLE_OFFSET_COMMIT, which librdkafka retries
        # until its timeout rather than return offsets about to change.
        with pytest.raises(KafkaException) as unstable:
            consumer.committed([TopicPartition("eos-in", p) for p in range(2)], timeout=3)
        assert unstable.value.args[0].code() in (KafkaError.UNSTABLE_OFFSET_COMMIT, KafkaError._TIMED_OUT), \
            unstable.value
        producer.abort_transaction(30)
        assert committed() == {0: 50, 1: 50}, "offsets sent to an aborted transaction are not committed"
        wait_for_stable(b, "eos-out", 2)
        assert committed() == {0: 50, 1: 50}
    finally:
        consumer.close()
    got = read_to_end(b, "eos-out", 2, "read_committed")
    assert {p: values(rs) for p, rs in got.items()} == \
        {p: [b"copy-" + v for v in numbered(f"in{p}", 50)] for p in range(2)}


def test_transactional_write_to_a_partition_outside_the_transaction_is_refused(txn_broker):
    # KIP-890: a partition leader checks with the transaction coordinator that a transactional
    # batch's partition was added to its producer's open transaction. Kafka answers a Produce
    # below v11 with INVALID_TXN_STATE, from v11 with TRANSACTION_ABORTABLE, and writes nothing.
    b = txn_broker.bootstrap
    create(b, "verified", 2)
    producer = transactional(b, "verifier")
    producer.begin_transaction()
    send(producer, "verified", [b"inside"], partition=0)
    _, _, _, batches = raw_fetch(b, "verified", 0, 0, isolation_level=0)
    assert batches and batches[0].transactional
    producer_id, epoch = batches[0].producer_id, batches[0].producer_epoch

    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=True, producer_id=producer_id,
                                        producer_epoch=epoch, base_sequence=0, batch_size=1 << 20)
    builder.append(offset=0, timestamp=None, key=None, value=b"outside", headers=[])
    batch = bytes(builder.build())
    request = ProduceRequest[3](transactional_id="verifier", required_acks=-1, timeout=10_000,
                                topics=[("verified", [(1, batch)])])
    leader, address = leader_of(b, "verified", 1)
    (_, partitions), = request_to(address, leader, request).topics
    (_, error, *_), = partitions
    assert error == INVALID_TXN_STATE, f"a write outside the transaction answered with error {error}"
    # From Produce v11 the client handles TRANSACTION_ABORTABLE (KIP-890), and is told that.
    from test_newest_versions import Conn, cbytes, carray, cstring, decode_produce, i16, i32, tags
    body = cstring("verifier") + i16(-1) + i32(10_000) + carray(
        [("verified", batch)],
        lambda t: cstring(t[0]) + carray([t[1]], lambda r: i32(1) + cbytes(r) + tags()) + tags()) + tags()
    with Conn(address) as conn:
        answer = decode_produce(11, conn.call(0, 11, body))
    assert answer.topics["verified"][1].error == TRANSACTION_ABORTABLE, answer
    assert end_offsets(b, "verified", 2, "read_uncommitted")[1] == 0, "nothing written to partition 1"

    producer.commit_transaction(30)
    wait_for_stable(b, "verified", 2)
    got = read_to_end(b, "verified", 2, "read_committed")
    assert {p: values(rs) for p, rs in got.items()} == {0: [b"inside"], 1: []}


# --- three brokers: an exactly-once copy under kills ------------------------------------------

TOTAL = 100_000
PARTITIONS = 3
COPIER_ID = "copier"


class Budget:
    """One bound on a whole test: each wait gets the smaller of its own bound and what is left."""

    def __init__(self, seconds):
        self.seconds, self.deadline = seconds, time.monotonic() + seconds

    def left(self, bound_s):
        remaining = self.deadline - time.monotonic()
        assert remaining > 0, f"the test's {self.seconds}s budget is spent"
        return min(bound_s, remaining)


class CopierProcess:
    """Runs txn_copier.py, one process at a time, each run logging to its own file; a run that
    exits with an error is replaced (a bounded number of times)."""

    MAX_RESTARTS = 8

    def __init__(self, workdir, bootstrap):
        self.workdir, self.bootstrap = workdir, bootstrap
        self.runs, self.proc, self.args = [], None, []
        self.killed = self.restarts = 0
        self.done = False

    def start(self, hold_at=None):
        assert self.proc is None or self.proc.poll() is not None, "one copier at a time"
        self.args = ["--bootstrap", self.bootstrap, "--source", "copy-in", "--sink", "copy-out",
                     "--partitions", str(PARTITIONS), "--group", "copiers", "--transactional-id", COPIER_ID,
                     "--batch", "2000"] + (["--hold-at", str(hold_at)] if hold_at is not None else [])
        self._spawn()

    def _spawn(self):
        log = self.workdir / f"copier{len(self.runs) + 1}.log"
        self.runs.append(log)
        with open(log, "wb") as f:
            self.proc = subprocess.Popen([sys.executable, str(COPIER), *self.args], stdout=f,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self):
        return self.runs[-1].read_text(errors="replace")

    def keep_running(self):
        """Replaces a run that ended with an error; notes a run that finished the copy."""
        code = self.proc.poll()
        if code is None or self.done:
            return
        if code == 0:
            self.done = True
            return
        assert self.restarts < self.MAX_RESTARTS, f"the copier failed {self.restarts + 1} times:\n{self.logs()}"
        self.restarts += 1
        print(f"copier run {len(self.runs)} exited {code}; starting another")
        self._spawn()

    def wait_for_line(self, word, timeout_s):
        """Waits until the current run prints a line starting with `word`; returns the line's words."""
        lines = []

        def printed():
            self.keep_running()
            assert not self.done, f"the copier finished before printing {word!r}"
            lines[:] = [line.split() for line in self.output().splitlines() if line.split()[:1] == [word]]
            return bool(lines)
        wait_until(printed, timeout_s=timeout_s, interval_s=0.1, what=f"the copier to print {word!r}")
        return lines[0]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.killed += 1

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def logs(self):
        return "\n".join(f"--- {log.name} ---\n{log.read_text(errors='replace')[-4000:]}" for log in self.runs)


class CommittedView:
    """A read_committed consumer of the output, counting what it has been given so far: the
    copy's progress as its readers see it."""

    def __init__(self, bootstrap, topic, partitions):
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "progress",
                                  "isolation.level": "read_committed", "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self.count = 0

    def update(self):
        self.count += sum(1 for m in self.consumer.consume(10_000, timeout=0.2) if m.error() is None)
        return self.count

    def close(self):
        self.consumer.close()


def prefill(bootstrap, topic, total, partitions, timeout_s):
    """Writes records numbered 0..total-1, n to partition n % partitions with the key "p<p>", by
    an idempotent producer in large batches; returns {partition: [(key, value)]} in order."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 50})
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)

    expected = {p: [] for p in range(partitions)}
    deadline = time.monotonic() + timeout_s
    for n in range(total):
        p, key, value = n % partitions, f"p{n % partitions}".encode(), str(n).encode()
        while True:
            try:
                producer.produce(topic, key=key, value=value, partition=p, on_delivery=delivered)
                break
            except BufferError:
                assert time.monotonic() < deadline, f"prefill stuck at record {n}"
                producer.poll(0.1)
        expected[p].append((key, value))
    assert producer.flush(max(1.0, deadline - time.monotonic())) == 0, "every input record acknowledged"
    assert not errors, errors[:3]
    return expected


def test_exactly_once_copy_survives_broker_and_copier_kills(txn_cluster, tmp_path):
    # Proves exactly-once consume-transform-produce across failures: 100,000 records copied by
    # a transactional copier process (txn_copier.py) on three brokers, while
    #  1. a copier is SIGKILLed holding an open transaction (records flushed to the output,
    #     offsets sent to the group): its successor's init_transactions aborts it;
    #  2. the transaction coordinator is SIGKILLed while another copier holds an open
    #     transaction, then that copier too: a new coordinator, from the replicated
    #     transaction state, aborts it for the next copier;
    #  3. the coordinator broker restarts while a copier runs;
    #  4. the leader of an output partition is SIGKILLed while the copier writes to it, and
    #     restarted; then the copier is SIGKILLed at whatever point it has reached (unless it
    #     finished first).
    # The read_committed output then holds each input record exactly once, and each output
    # partition the same sequence as its input partition.
    budget = Budget(360)
    cluster = txn_cluster
    cluster.create_topic("copy-in", PARTITIONS)  # RF 3, min.insync.replicas 2
    cluster.create_topic("copy-out", PARTITIONS)
    expected = prefill(cluster.bootstrap, "copy-in", TOTAL, PARTITIONS, budget.left(120))
    assert read_to_end(cluster.bootstrap, "copy-in", PARTITIONS, "read_committed", budget.left(90)) == expected

    copier = CopierProcess(tmp_path, cluster.bootstrap)
    view = CommittedView(cluster.bootstrap, "copy-out", PARTITIONS)
    started = time.monotonic()
    try:
        # 1. A copier killed with a transaction open.
        copier.start(hold_at=TOTAL * 20 // 100)
        copier.wait_for_line("holding", budget.left(120))
        stable = end_offsets(cluster.bootstrap, "copy-out", PARTITIONS, "read_committed")
        ends = end_offsets(cluster.bootstrap, "copy-out", PARTITIONS, "read_uncommitted")
        assert any(stable[p] < ends[p] for p in range(PARTITIONS)), \
            f"the open transaction's records are in the log past the last stable offset: {stable} {ends}"
        copier.kill()

        # 2. The transaction coordinator killed under an open transaction, then the copier.
        copier.start(hold_at=TOTAL * 50 // 100)
        # The input positions the held transaction would commit: no more can be committed
        # before the kill, so a read_committed view past them proves later transactions.
        held_at = int(copier.wait_for_line("holding", budget.left(120))[1])
        victim = transaction_coordinator(cluster, COPIER_ID, budget.left(30))
        cluster.brokers[victim].kill()
        print(f"killed broker {victim}, the transaction coordinator of {COPIER_ID!r}, copier held at {held_at}")
        copier.kill()

        # 3. The killed broker restarted once the copy moves on, then the copier killed mid-run.
        copier.start()

        def progressed(target):
            copier.keep_running()
            return copier.done or view.update() >= target
        wait_until(lambda: progressed(held_at + 2000), timeout_s=budget.left(120), interval_s=0.1,
                   what="transactions committed after the coordinator's death")
        cluster.brokers[victim].start()
        wait_for_full_isr(cluster.bootstrap, ["copy-out", "__transaction_state"], 3, budget.left(90))

        # 4. The leader of an output partition killed while the copier writes to it, restarted
        #    once the copy has moved on without it.
        wait_until(lambda: progressed(TOTAL * 60 // 100), timeout_s=budget.left(120), interval_s=0.1,
                   what="the copy three fifths done")
        second, _ = leader_of(cluster.bootstrap, "copy-out", 0)
        cluster.brokers[second].kill()
        print(f"killed broker {second}, the leader of copy-out-0")
        wait_until(lambda: progressed(TOTAL * 75 // 100), timeout_s=budget.left(120), interval_s=0.1,
                   what="the copy three quarters done")
        cluster.brokers[second].start()
        if copier.done:
            print("the copier finished before the mid-run kill")
        else:
            copier.kill()
            copier.start()

        def finished():
            copier.keep_running()
            return copier.done
        wait_until(finished, timeout_s=budget.left(180), interval_s=0.2, what="the copier to finish")
        print(f"copy done in {time.monotonic() - started:.1f}s: {copier.killed} copier kills, "
              f"{copier.restarts} restarts after errors, {len(copier.runs)} runs")
        assert copier.killed >= 2
    except BaseException:
        print(copier.logs())
        raise
    finally:
        copier.stop()
        view.close()

    wait_for_stable(cluster.bootstrap, "copy-out", PARTITIONS, timeout_s=budget.left(60))
    got = read_to_end(cluster.bootstrap, "copy-out", PARTITIONS, "read_committed", budget.left(120))
    for p in range(PARTITIONS):
        out, want = got[p], expected[p]
        if out != want:
            seen = [v for _, v in out]
            duplicates = len(seen) - len(set(seen))
            missing = len({v for _, v in want} - set(seen))
            first = next((i for i, (a, w) in enumerate(zip(out, want)) if a != w), min(len(out), len(want)))
            raise AssertionError(f"copy-out-{p}: {len(out)} records for {len(want)} in copy-in-{p}, "
                                 f"{duplicates} duplicates, {missing} missing, first difference at {first}")

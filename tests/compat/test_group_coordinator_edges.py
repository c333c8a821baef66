"""Edges of the group coordinator and of the fetch error path, checked against what Kafka does:

- a member parked in SyncGroup (or JoinGroup) is not expired by its session timer while it
  waits (Kafka's MemberMetadata.hasSatisfiedHeartbeat: members awaiting join or sync satisfy
  their heartbeat); when the leader's session expires instead, the waiting followers are
  answered REBALANCE_IN_PROGRESS (GroupCoordinator.prepareRebalance ->
  resetAndPropagateAssignmentError) and rejoin with their member ids; every request is answered
  within a bound. With raw frames (exact error codes and timings), and with kafka-python
  consumers whose leader dies inside its assignor;
- KIP-447 zombie fencing: a TxnOffsetCommit carrying a consumer's stale group metadata (an old
  generation, a member that left, a static member replaced by a newer instance) is refused with
  ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID (GroupCoordinator
  .validateOffsetCommit), surfaced by confluent-kafka's send_offsets_to_transaction, and the
  group's committed offsets stay as they were;
- an OffsetCommit whose write to __consumer_offsets fails (its partition below
  min.insync.replicas on three brokers) is answered COORDINATOR_NOT_AVAILABLE
  (GroupMetadataManager.storeOffsets maps NOT_ENOUGH_REPLICAS so) and changes no committed
  offset, neither in the coordinator's cache nor in the log a new coordinator loads;
- librdkafka's test 0107 on three brokers: a group consumer keeps going when its topic is
  deleted and recreated with fewer partitions, when a partition leader is stopped and when a
  partition is reassigned off its leader, receives every record produced afterwards, and never
  logs a protocol parse failure ("invalid MessageSetSize") for the Fetch responses of those
  error paths; each path is then probed with a hand-encoded Fetch v12 (empty records, never
  null, beside an error);
- deleting a topic drops the groups' committed offsets for its partitions
  (GroupCoordinator.handleDeletedPartitions), so a group reading a topic recreated under the
  same name starts from auto.offset.reset, not from an offset of the old topic."""

import logging
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from kafka.protocol.admin import DescribeGroupsRequest
from kafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from kafka.protocol.group import HeartbeatRequest, JoinGroupRequest, SyncGroupRequest

from conftest import SLUICE_CLI, serve_broker, wait_until
from kafka_support import request_to
from test_cluster import Cluster, failover_bound_s
from test_transactions import FindCoordinatorRequestV1

# Kafka's error codes (org.apache.kafka.common.protocol.Errors).
COORDINATOR_NOT_AVAILABLE = 15
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27

# Every raw request must be answered within this (seconds): a parked request waits for a
# session timeout at most, never for ever.
ANSWER_BOUND_S = 30


# --- fixtures ------------------------------------------------------------------------------------

def group_broker(tmp_path, request, initial_delay_ms):
    yield from serve_broker(tmp_path, request, [f"group.initial.rebalance.delay.ms={initial_delay_ms}",
                                                "group.min.session.timeout.ms=1000",
                                                "transaction.abort.timed.out.transaction.cleanup.interval.ms=500"])


@pytest.fixture
def quick_broker(tmp_path, request):
    """A broker whose first rebalance of a group waits 300 ms (Kafka's default is 3 s)."""
    yield from group_broker(tmp_path, request, 300)


@pytest.fixture
def patient_broker(tmp_path, request):
    """A broker with Kafka's 3 s first-rebalance delay: two raw JoinGroups sent one after the
    other land in the same generation."""
    yield from group_broker(tmp_path, request, 3000)


class EdgeCluster(Cluster):
    """test_cluster's three brokers on three keeper nodes with Kafka's production settings for
    the offsets topic: three replicas, two of them in sync to write (min.insync.replicas is the
    broker default for every topic, __consumer_offsets included); topics are never created by a
    Metadata request or a produce."""

    def _broker(self, i, port, connect):
        node = super()._broker(i, port, connect)
        for o in ["offsets.topic.replication.factor=3", "min.insync.replicas=2", "auto.create.topics.enable=false",
                  "group.initial.rebalance.delay.ms=300"]:
            node.args += ["-o", o]
        return node


@pytest.fixture
def edge_cluster(tmp_path, request):
    c = EdgeCluster(tmp_path)
    try:
        c.start()
    except BaseException:
        c.stop(True)
        raise
    yield c
    c.stop(getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed)


# --- helpers -------------------------------------------------------------------------------------

def create(bootstrap, topic, partitions, replicas=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=replicas)])[topic].result(30)


def node_id(bootstrap):
    """The broker id of a single broker."""
    brokers = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).brokers
    assert len(brokers) == 1, brokers
    return next(iter(brokers))


def send(bootstrap, topic, values, partitions):
    """Produces `values` (value i to partition i % partitions), acks=all; every one acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    errors = []
    for i, v in enumerate(values):
        producer.produce(topic, value=v.encode(), partition=i % partitions,
                         on_delivery=lambda err, _msg: err is not None and errors.append(err))
        producer.poll(0)
    assert producer.flush(90) == 0, "every record acknowledged or failed"
    assert not errors, errors[:3]


def describe(address, node, group):
    """DescribeGroups v0: (state, {member id: client id})."""
    (error, _, state, _, _, members), = request_to(address, node, DescribeGroupsRequest[0]([group]),
                                                   ANSWER_BOUND_S).groups
    assert error == 0, f"DescribeGroups {group}: error {error}"
    return state, {m[0]: m[1] for m in members}


def wait_for_coordinator(address, node, group):
    """Waits until the single broker coordinates `group` (FindCoordinator answered, which also
    creates __consumer_offsets, and the group's partition loaded), as a client's first step."""
    def ready():
        if request_to(address, node, FindCoordinatorRequestV1(group, 0), ANSWER_BOUND_S).error_code != 0:
            return False
        (error, *_), = request_to(address, node, DescribeGroupsRequest[0]([group]), ANSWER_BOUND_S).groups
        return error == 0
    wait_until(ready, timeout_s=30, interval_s=0.2, what=f"a coordinator for {group}")


def subscription(topic):
    metadata = ConsumerProtocolMemberMetadata(0, [topic], b"")  # held: kafka-python's encode is a weak method
    return metadata.encode()


def join(address, node, group, member_id, session_ms, topic, rebalance_ms=10_000):
    """JoinGroup v2 (a member id from the coordinator on the first join, no KIP-394 round trip).
    Returns (response, seconds it took)."""
    started = time.monotonic()
    request = JoinGroupRequest[2](group, session_ms, rebalance_ms, member_id, "consumer",
                                  [("range", subscription(topic))])
    response = request_to(address, node, request, ANSWER_BOUND_S)
    return response, time.monotonic() - started


def sync(address, node, group, generation, member_id, assignments=()):
    """SyncGroup v1; returns (response, seconds it took)."""
    started = time.monotonic()
    response = request_to(address, node, SyncGroupRequest[1](group, generation, member_id, list(assignments)),
                          ANSWER_BOUND_S)
    return response, time.monotonic() - started


def heartbeat(address, node, group, generation, member_id):
    return request_to(address, node, HeartbeatRequest[1](group, generation, member_id), ANSWER_BOUND_S).error_code


def committed(bootstrap, group, topic, partitions, timeout_s=30):
    """The group's committed offsets, {partition: offset} (OffsetFetch by librdkafka)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return {tp.partition: tp.offset
                for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=timeout_s)}
    finally:
        c.close()


class CapturedLog(logging.Handler):
    """Every record a logger emits (the logger's own level lowered to DEBUG), kept in memory."""

    def __init__(self, name):
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(name)
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        self.guard = threading.Lock()  # not `lock`: logging.Handler holds its own there around emit()
        self.messages = []

    def emit(self, record):
        with self.guard:
            self.messages.append(f"{record.threadName}: {record.getMessage()}")

    def matching(self, *words):
        with self.guard:
            return [m for m in self.messages if any(w in m for w in words)]

    def close(self):
        self.logger.removeHandler(self)
        super().close()


# --- 1. members parked in SyncGroup --------------------------------------------------------------

LEADER_SESSION_MS = 6000
FOLLOWER_SESSION_MS = 1500


def test_member_parked_in_sync_group_outlives_its_session_and_rejoins_when_the_leader_expires(patient_broker):
    # Raw frames: a leader (session 6 s) and a follower (session 1.5 s) join one generation. The
    # follower sends SyncGroup and waits; the leader sends nothing more, as if it died right
    # after its JoinGroup answer. Kafka counts a member awaiting sync as heartbeating, so the
    # follower is still a member long past its own 1.5 s; when the leader's 6 s run out the
    # coordinator removes it and answers the parked SyncGroup REBALANCE_IN_PROGRESS. The
    # follower rejoins under the same member id and leads the next generation alone; the dead
    # leader's late SyncGroup is refused with UNKNOWN_MEMBER_ID. No request waits for ever.
    b = patient_broker
    node = node_id(b.bootstrap)
    create(b.bootstrap, "parked", 2)
    group = "parked-in-sync"
    wait_for_coordinator(b.bootstrap, node, group)
    with ThreadPoolExecutor(2) as pool:
        leader_join = pool.submit(join, b.bootstrap, node, group, "", LEADER_SESSION_MS, "parked")
        wait_until(lambda: len(describe(b.bootstrap, node, group)[1]) == 1, timeout_s=10,
                   what="the leader's JoinGroup held in the first rebalance delay")
        follower_join = pool.submit(join, b.bootstrap, node, group, "", FOLLOWER_SESSION_MS, "parked")
        (leader, _), (follower, _) = leader_join.result(ANSWER_BOUND_S), follower_join.result(ANSWER_BOUND_S)
    assert (leader.error_code, follower.error_code) == (0, 0), (leader, follower)
    assert leader.leader_id == leader.member_id == follower.leader_id, "the first to join leads"
    assert leader.generation_id == follower.generation_id
    assert sorted(m for m, _ in leader.members) == sorted([leader.member_id, follower.member_id])
    generation = leader.generation_id

    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(sync, b.bootstrap, node, group, generation, follower.member_id)
        # Twice the follower's session later it is still parked, and still a member.
        parked_at = time.monotonic()
        while time.monotonic() - parked_at < 2 * FOLLOWER_SESSION_MS / 1000:
            assert not parked.done(), f"the parked SyncGroup was answered early: {parked.result()}"
            time.sleep(0.1)
        state, members = describe(b.bootstrap, node, group)
        assert state == "CompletingRebalance", state
        assert follower.member_id in members, "a member parked in SyncGroup was expired by its session timer"
        answer, waited = parked.result(ANSWER_BOUND_S)
    assert answer.error_code == REBALANCE_IN_PROGRESS, \
        f"the parked SyncGroup was answered {answer.error_code} after {waited:.1f}s, not REBALANCE_IN_PROGRESS"
    assert waited < LEADER_SESSION_MS / 1000 + 10, f"answered {waited:.1f}s after the leader's session ran out"

    rejoined, _ = join(b.bootstrap, node, group, follower.member_id, FOLLOWER_SESSION_MS, "parked")
    assert rejoined.error_code == 0, \
        f"the follower's rejoin, sent as soon as it was told to, was refused with {rejoined.error_code}: the " \
        f"coordinator expired it instead of giving it a new session to rejoin in"
    assert rejoined.member_id == follower.member_id, "the follower keeps its member id"
    assert rejoined.generation_id == generation + 1
    assert rejoined.leader_id == follower.member_id, "the follower now leads"
    assert [m for m, _ in rejoined.members] == [follower.member_id], "the expired leader is gone"
    everything = ConsumerProtocolMemberAssignment(0, [("parked", [0, 1])], b"")
    assignment = everything.encode()
    synced, _ = sync(b.bootstrap, node, group, generation + 1, follower.member_id,
                     [(follower.member_id, assignment)])
    assert synced.error_code == 0
    assert ConsumerProtocolMemberAssignment.decode(synced.member_assignment).assignment == [("parked", [0, 1])]
    assert heartbeat(b.bootstrap, node, group, generation + 1, follower.member_id) == 0
    state, members = describe(b.bootstrap, node, group)
    assert state == "Stable" and members.keys() == {follower.member_id}, (state, members)

    late, _ = sync(b.bootstrap, node, group, generation, leader.member_id,
                   [(follower.member_id, assignment), (leader.member_id, assignment)])
    assert late.error_code == UNKNOWN_MEMBER_ID, f"the expired leader's SyncGroup answered {late.error_code}"
    assert describe(b.bootstrap, node, group)[1].keys() == {follower.member_id}


def test_member_parked_in_join_group_outlives_its_session_timeout(patient_broker):
    # Raw frames: two members, A (session 1.5 s) and B (session 10 s), in a stable generation.
    # A rejoins, which opens a rebalance; B goes on heartbeating (answered
    # REBALANCE_IN_PROGRESS) but rejoins only 5 s later. All that time A waits in JoinGroup,
    # past its own session: Kafka counts a member awaiting join as heartbeating, so A's
    # JoinGroup is answered with the new generation, under A's member id, once B rejoins.
    b = patient_broker
    node = node_id(b.bootstrap)
    create(b.bootstrap, "parked", 2)
    group = "parked-in-join"
    wait_for_coordinator(b.bootstrap, node, group)
    a_session, b_session = 1500, 10_000
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(join, b.bootstrap, node, group, "", a_session, "parked")
        wait_until(lambda: len(describe(b.bootstrap, node, group)[1]) == 1, timeout_s=10,
                   what="A's JoinGroup pending")
        second = pool.submit(join, b.bootstrap, node, group, "", b_session, "parked")
        (a, _), (bb, _) = first.result(ANSWER_BOUND_S), second.result(ANSWER_BOUND_S)
    assert (a.error_code, bb.error_code) == (0, 0)
    generation = a.generation_id
    with ThreadPoolExecutor(2) as pool:
        a_sync = pool.submit(sync, b.bootstrap, node, group, generation, a.member_id, [])
        b_sync = pool.submit(sync, b.bootstrap, node, group, generation, bb.member_id, [])
        assert (a_sync.result(ANSWER_BOUND_S)[0].error_code, b_sync.result(ANSWER_BOUND_S)[0].error_code) == (0, 0)

        # A (the leader) rejoins: a new rebalance. B learns of it from its heartbeats.
        a_rejoin = pool.submit(join, b.bootstrap, node, group, a.member_id, a_session, "parked")
        wait_until(lambda: heartbeat(b.bootstrap, node, group, generation, bb.member_id) == REBALANCE_IN_PROGRESS,
                   timeout_s=10, what="B told of the rebalance")
        rebalance_seen = time.monotonic()
        while time.monotonic() - rebalance_seen < 5:
            assert not a_rejoin.done(), f"A's JoinGroup answered before B rejoined: {a_rejoin.result()}"
            assert heartbeat(b.bootstrap, node, group, generation, bb.member_id) == REBALANCE_IN_PROGRESS
            time.sleep(0.5)
        assert a.member_id in describe(b.bootstrap, node, group)[1], "A was expired while parked in JoinGroup"
        b_rejoin = pool.submit(join, b.bootstrap, node, group, bb.member_id, b_session, "parked")
        (a2, waited), (b2, _) = a_rejoin.result(ANSWER_BOUND_S), b_rejoin.result(ANSWER_BOUND_S)
    assert a2.error_code == 0, f"A's parked JoinGroup answered {a2.error_code} after {waited:.1f}s"
    assert waited > 2 * a_session / 1000, f"A waited {waited:.1f}s only"
    assert (a2.member_id, b2.member_id) == (a.member_id, bb.member_id)
    assert a2.generation_id == b2.generation_id == generation + 1
    assert sorted(m for m, _ in a2.members) == sorted([a.member_id, bb.member_id])


STALLING_LEADER = """
import sys, time
from kafka import KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor

class StallingRange(RangePartitionAssignor):
    # Kafka's range assignment, until the group has three members: then it never returns, as a
    # leader that died between its JoinGroup answer and its SyncGroup.
    @classmethod
    def assign(cls, cluster, members):
        if len(members) >= 3:
            print("stalled", flush=True)
            time.sleep(600)
        return super(StallingRange, cls).assign(cluster, members)

bootstrap, group, topic = sys.argv[1:4]
consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="stalling-leader",
                         session_timeout_ms=4000, heartbeat_interval_ms=500, auto_offset_reset="earliest",
                         partition_assignment_strategy=[StallingRange])
said = False
while True:
    consumer.poll(200)
    if consumer.assignment() and not said:
        print("assigned", flush=True)
        said = True
"""


class KafkaPythonFollower:
    """A kafka-python group consumer made, polled and closed in a thread of its own (its consumer
    is not for two threads); keeps the values it got."""

    def __init__(self, bootstrap, group, topic, name):
        self.args = dict(bootstrap_servers=bootstrap, group_id=group, client_id=name,
                         session_timeout_ms=FOLLOWER_SESSION_MS, heartbeat_interval_ms=300,
                         auto_offset_reset="earliest")
        self.topic, self.values, self.lock, self.stop = topic, [], threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=name)
        self.thread.start()

    def _run(self):
        from kafka import KafkaConsumer
        consumer = KafkaConsumer(self.topic, **self.args)
        try:
            while not self.stop.is_set():
                for records in consumer.poll(200).values():
                    with self.lock:
                        self.values += [r.value.decode() for r in records]
        finally:
            consumer.close()

    def got(self):
        with self.lock:
            return set(self.values)

    def close(self):
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), f"{self.thread.name} did not stop within 60s"


def test_followers_waiting_in_sync_group_rejoin_when_the_leader_dies(quick_broker, tmp_path):
    # Real clients (kafka-python): a leader that led alone and then with one follower; a second
    # follower joins and the leader's assignor never returns, so both followers wait in
    # SyncGroup without heartbeating (kafka-python heartbeats only when stable), longer than
    # their own 1.5 s sessions; the leader is then killed. When its 4 s session runs out the
    # followers are told REBALANCE_IN_PROGRESS, rejoin under the member ids they had, share the
    # partitions and consume what is produced next.
    b = quick_broker
    node = node_id(b.bootstrap)
    create(b.bootstrap, "stalled", 4)
    group = "stalled-leader"
    kafka_log = CapturedLog("kafka.coordinator")
    out = tmp_path / "leader.out"
    with open(out, "wb") as f:
        leader = subprocess.Popen([sys.executable, "-c", STALLING_LEADER, b.bootstrap, group, "stalled"], stdout=f,
                                  stderr=subprocess.STDOUT)
    followers = []
    try:
        def printed(word):
            assert leader.poll() is None, f"the leader exited {leader.returncode}: {out.read_text()}"
            return word in out.read_text().split()

        wait_until(lambda: printed("assigned"), timeout_s=60, what="the leader assigned alone")
        followers.append(KafkaPythonFollower(b.bootstrap, group, "stalled", "follower-1"))
        wait_until(lambda: describe(b.bootstrap, node, group)[0] == "Stable"
                   and len(describe(b.bootstrap, node, group)[1]) == 2, timeout_s=60,
                   what="leader and follower-1 stable")
        followers.append(KafkaPythonFollower(b.bootstrap, group, "stalled", "follower-2"))
        wait_until(lambda: printed("stalled"), timeout_s=60,
                   what="the leader stalled in its assignor with three members")
        state, members = describe(b.bootstrap, node, group)
        assert state == "CompletingRebalance" and sorted(members.values()) == \
            ["follower-1", "follower-2", "stalling-leader"], (state, members)
        follower_ids = {m for m, client in members.items() if client != "stalling-leader"}
        leader.kill()
        leader.wait(30)

        def recovered():
            state, members = describe(b.bootstrap, node, group)
            return state == "Stable" and sorted(members.values()) == ["follower-1", "follower-2"]
        wait_until(recovered, timeout_s=4 + ANSWER_BOUND_S, what="the followers stable without the leader")
        assert describe(b.bootstrap, node, group)[1].keys() == follower_ids, \
            "a follower got a new member id: it was expired while parked in SyncGroup or before it could rejoin"
        values = [f"after-{i}" for i in range(200)]
        send(b.bootstrap, "stalled", values, 4)
        wait_until(lambda: set(values) <= followers[0].got() | followers[1].got(), timeout_s=60,
                   what="the followers consuming every record produced after the leader died")
        assert kafka_log.matching("failed due to coordinator rebalance"), \
            "the parked SyncGroups were answered REBALANCE_IN_PROGRESS"
        refused = kafka_log.matching("UnknownMemberId", "unknown member id", "IllegalGeneration", "not recognized")
        assert not refused, f"a follower was told it was unknown: {refused[:3]}"
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(30)
        for f in followers:
            f.close()
        kafka_log.close()


# --- 2. KIP-447: TxnOffsetCommit with stale group metadata ---------------------------------------

def wait_assigned(consumers, total, timeout_s=60):
    """Polls every consumer until their assignments cover `total` partitions, each one a share."""
    def settled():
        for c in consumers:
            c.poll(0.1)
        sizes = [len(c.assignment()) for c in consumers]
        return sum(sizes) == total and all(sizes)
    wait_until(settled, timeout_s=timeout_s, interval_s=0,
               what=f"{len(consumers)} consumers sharing {total} partitions")


def group_consumer(bootstrap, group, **conf):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, **conf})
    c.subscribe(["zin"])
    return c


@pytest.mark.parametrize("stale, expected", [
    ("older-generation", KafkaError.ILLEGAL_GENERATION),
    ("member-left", KafkaError.UNKNOWN_MEMBER_ID),
    ("static-member-replaced", KafkaError.FENCED_INSTANCE_ID),
])
def test_txn_offset_commit_with_stale_group_metadata_is_refused_and_changes_no_offset(quick_broker, stale, expected):
    # A transactional copier commits offsets for a consumer of group "zombies" (KIP-447's
    # send_offsets_to_transaction with consumer_group_metadata()). Its metadata then goes
    # stale: the group moved to a newer generation, or the member left, or a newer instance
    # of the same static member replaced it. Offsets sent with the stale metadata are refused
    # with Kafka's error for that case (an abortable error for the producer), and the group's
    # committed offsets stay those of the last good commit.
    b = quick_broker.bootstrap
    create(b, "zin", 2)
    create(b, "zout", 1)
    send(b, "zin", [f"in-{i}" for i in range(20)], 2)
    static = {"group.instance.id": "zombie-pod"} if stale == "static-member-replaced" else {}
    zombie = group_consumer(b, "zombies", **static)
    others = []
    producer = Producer({"bootstrap.servers": b, "transactional.id": f"copier-{stale}"})
    producer.init_transactions(60)
    try:
        wait_assigned([zombie], 2)
        producer.begin_transaction()
        producer.produce("zout", value=b"good", partition=0)
        producer.send_offsets_to_transaction([TopicPartition("zin", 0, 3), TopicPartition("zin", 1, 4)],
                                             zombie.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        assert committed(b, "zombies", "zin", 2) == {0: 3, 1: 4}
        metadata = zombie.consumer_group_metadata()

        if stale == "older-generation":
            others.append(group_consumer(b, "zombies"))
            wait_assigned([zombie, *others], 2)  # a rebalance: the zombie is a member of a newer generation
        elif stale == "member-left":
            zombie.close()  # LeaveGroup
            zombie = None
        else:
            zombie.close()  # a static member sends no LeaveGroup; its replacement takes its place
            zombie = None
            others.append(group_consumer(b, "zombies", **static))
            wait_assigned(others, 2)

        producer.begin_transaction()
        producer.produce("zout", value=b"zombie", partition=0)
        with pytest.raises(KafkaException) as refused:
            producer.send_offsets_to_transaction([TopicPartition("zin", 0, 7), TopicPartition("zin", 1, 8)],
                                                 metadata, 30)
        error = refused.value.args[0]
        assert error.code() == expected, f"stale metadata ({stale}) refused with {error.name()}: {error}"
        assert error.txn_requires_abort() and not error.fatal(), error
        producer.abort_transaction(30)
        assert committed(b, "zombies", "zin", 2) == {0: 3, 1: 4}, "the refused offsets were committed"

        if stale == "older-generation":
            # The same member with its current generation commits.
            wait_assigned([zombie, *others], 2)
            producer.begin_transaction()
            producer.produce("zout", value=b"current", partition=0)
            producer.send_offsets_to_transaction([TopicPartition("zin", 0, 9)], zombie.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            assert committed(b, "zombies", "zin", 2) == {0: 9, 1: 4}
    finally:
        for c in [zombie, *others]:
            if c is not None:
                c.close()


# --- 3. OffsetCommit whose __consumer_offsets write fails ----------------------------------------

def group_coordinator(cluster, group, timeout_s=60, other_than=None):
    """The broker coordinating `group` (FindCoordinator, key type 0), asked of a running broker;
    with `other_than`, once the answer names another broker (a failover)."""
    found = []

    def ask():
        for i, address in cluster.addresses.items():
            if not cluster.brokers[i].alive:
                continue
            try:
                answer = request_to(address, i, FindCoordinatorRequestV1(group, 0), 10)
            except Exception:  # kafka-python's errors, or unreachable: ask the next broker
                continue
            if answer.error_code == 0 and answer.coordinator_id != other_than:
                found.append(answer.coordinator_id)
                return True
        return False
    wait_until(ask, timeout_s=timeout_s, interval_s=0.5, what=f"the coordinator of {group}")
    return found[-1]


def raw_commit(address, node, group, topic, offset):
    """OffsetCommit v2 of one offset for partition 0, outside any generation (as an
    assign()-only consumer commits); the partition's error code."""
    request = OffsetCommitRequest[2](group, -1, "", -1, [(topic, [(0, offset, "")])])
    (_, partitions), = request_to(address, node, request, ANSWER_BOUND_S).topics
    (_, error), = partitions
    return error


def raw_fetch_offset(address, node, group, topic):
    """OffsetFetch v1 of partition 0: (offset, error code)."""
    (_, partitions), = request_to(address, node, OffsetFetchRequest[1](group, [(topic, [0])]), ANSWER_BOUND_S).topics
    (_, offset, _, error), = partitions
    return offset, error


def librdkafka_commit(bootstrap, group, topic, offset, timeout_s=90):
    """Commits one offset for partition 0 with confluent-kafka and waits (up to `timeout_s`) for
    its on_commit report: returns (error or None, per-partition error or None)."""
    outcome = []
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "on_commit": lambda err, parts: outcome.append((err, [p.error for p in parts]))})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=True)
        deadline = time.monotonic() + timeout_s
        while not outcome:
            assert time.monotonic() < deadline, f"no outcome of the commit of {offset} in {timeout_s}s"
            c.poll(0.2)
        err, partition_errors = outcome[0]
        return err, partition_errors[0]
    finally:
        c.close()


def test_offset_commit_whose_offsets_write_fails_leaves_the_committed_offset_unchanged(edge_cluster):
    # Kafka's GroupMetadataManager.storeOffsets appends the offset to __consumer_offsets (acks=-1)
    # and updates its cache only in the append's callback, only when it succeeded; a
    # NOT_ENOUGH_REPLICAS append is answered COORDINATOR_NOT_AVAILABLE. Here the coordinator's
    # partition of __consumer_offsets drops to one in-sync replica (two brokers stopped;
    # min.insync.replicas=2): a commit of 20 over a committed 10 is refused, OffsetFetch still
    # says 10, and after the stopped brokers return and the coordinator itself dies, the new
    # coordinator, loading the log, says 10 as well.
    cluster = edge_cluster
    cluster.create_topic("ledger", 1)
    group = "bookkeepers"
    first = librdkafka_commit(cluster.bootstrap, group, "ledger", 10)
    assert first == (None, None), f"the first commit failed: {[str(e) for e in first]}"
    assert committed(cluster.bootstrap, group, "ledger", 1) == {0: 10}
    cluster.wait_for_isrs("__consumer_offsets", lambda p: len(p.replicas) == 3 and len(p.isrs) == 3,
                          "three replicas in sync")
    coordinator = group_coordinator(cluster, group)
    address = cluster.addresses[coordinator]
    stopped = [i for i in cluster.brokers if i != coordinator]
    for i in stopped:
        cluster.brokers[i].kill()
    cluster.wait_for_isrs("__consumer_offsets", lambda p: p.isrs == [coordinator],
                          f"broker {coordinator} alone in sync", timeout_s=failover_bound_s() + 20)
    assert group_coordinator(cluster, group) == coordinator

    # The error code is checked at the end, after the offsets (the graver matter).
    refused_with = raw_commit(address, coordinator, group, "ledger", 20)
    assert refused_with != 0, "OffsetCommit accepted with __consumer_offsets below min.insync.replicas"
    assert raw_fetch_offset(address, coordinator, group, "ledger") == (10, 0), "the refused offset is served"
    err, partition_error = librdkafka_commit(cluster.bootstrap, group, "ledger", 20)
    assert err is not None or partition_error is not None, "librdkafka's commit of 20 succeeded"
    client_saw = err or partition_error
    assert committed(cluster.bootstrap, group, "ledger", 1) == {0: 10}

    # The stopped brokers return; then the coordinator dies and another loads the group from
    # the replicated log: nothing of the refused commit is there.
    for i in stopped:
        cluster.brokers[i].start()
    cluster.wait_for_isrs("__consumer_offsets", lambda p: len(p.isrs) == 3, "every replica back in sync", 60)
    assert raw_fetch_offset(address, coordinator, group, "ledger") == (10, 0)
    cluster.brokers[coordinator].kill()
    successor = group_coordinator(cluster, group, timeout_s=failover_bound_s() + 20, other_than=coordinator)

    def loaded():
        offset, error = raw_fetch_offset(cluster.addresses[successor], successor, group, "ledger")
        return offset if error == 0 else None
    wait_until(lambda: loaded() is not None, timeout_s=30, what="the new coordinator serving the group")
    assert loaded() == 10, "the new coordinator loaded a commit that was refused"
    assert librdkafka_commit(cluster.bootstrap, group, "ledger", 30) == (None, None)
    assert committed(cluster.bootstrap, group, "ledger", 1) == {0: 30}
    assert refused_with == COORDINATOR_NOT_AVAILABLE, \
        f"OffsetCommit with __consumer_offsets below min.insync.replicas answered {refused_with}, not " \
        f"COORDINATOR_NOT_AVAILABLE ({COORDINATOR_NOT_AVAILABLE}), Kafka's answer for a NOT_ENOUGH_REPLICAS append"
    # librdkafka, like Kafka's consumer, retries COORDINATOR_NOT_AVAILABLE after finding the
    # coordinator again, then reports it (or its own time-out); any other code is passed on.
    assert client_saw.code() in (KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
                                 KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT), \
        f"librdkafka's refused commit reported {client_saw}"


# --- a flexible-version Fetch by hand (kafka-python 2.0.2 stops before KIP-482's encoding) ------

def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Reader:
    """Reads Kafka's wire types from a response body."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def uvarint(self):
        shift = value = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def compact_bytes(self):
        """Bytes, or None for null (length 0 on the wire)."""
        n = self.uvarint()
        if n == 0:
            return None
        out = self.data[self.pos:self.pos + n - 1]
        self.pos += n - 1
        return out

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def fetch_v12(address, topic, partition, offset):
    """One Fetch v12 (flexible, the version librdkafka 2.6.1 sends to Sluice) for one partition,
    sent over a plain socket to exactly `address`: [(partition, error code, records)], records
    None when the broker sent null."""
    name = topic.encode()
    body = struct.pack(">iiiibii", -1, 100, 0, 1 << 20, 0, 0, -1)
    body += uvarint(2) + uvarint(len(name) + 1) + name + uvarint(2)
    body += struct.pack(">iiqiqi", partition, -1, offset, -1, -1, 1 << 20) + b"\0"  # partition, its tags
    body += b"\0"  # the topic's tags
    body += uvarint(1) + uvarint(1) + b"\0"  # no forgotten topics, rack "", tags
    client = b"edge-probe"
    header = struct.pack(">hhih", 1, 12, 7, len(client)) + client + b"\0"
    frame = header + body
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=ANSWER_BOUND_S) as sock:
        sock.sendall(struct.pack(">i", len(frame)) + frame)

        def read(n):
            chunks = b""
            while len(chunks) < n:
                chunk = sock.recv(n - len(chunks))
                assert chunk, f"{address} closed the connection instead of answering Fetch v12"
                chunks += chunk
            return chunks
        (size,) = struct.unpack(">i", read(4))
        r = Reader(read(size))
    assert r.take(">i") == 7, "correlation id"
    r.skip_tags()
    r.take(">i")  # throttle
    assert r.take(">h") == 0, "a request-level Fetch error"
    r.take(">i")  # session id
    out = []
    for _ in range(r.uvarint() - 1):
        r.compact_bytes()  # topic name
        for _ in range(r.uvarint() - 1):
            index, error = r.take(">i"), r.take(">h")
            r.take(">q"), r.take(">q"), r.take(">q")
            aborted = r.uvarint()
            for _ in range(max(aborted - 1, 0)):
                r.take(">q"), r.take(">q")
                r.skip_tags()
            r.take(">i")  # preferred read replica
            out.append((index, error, r.compact_bytes()))
            r.skip_tags()
        r.skip_tags()
    return out


# --- 4. librdkafka 0107 on three brokers: fetch error paths ---------------------------------------

def test_deleting_a_topic_drops_its_committed_offsets_so_a_recreated_topic_is_read_from_the_start(quick_broker):
    # Kafka forgets every group's committed offsets for the partitions of a deleted topic
    # (GroupCoordinator.handleDeletedPartitions, called as the broker learns of the deletion:
    # KafkaApis.handleUpdateMetadataRequest with ZooKeeper, BrokerMetadataPublisher with KRaft).
    # A group that then reads a topic of the same name, created anew, starts where
    # auto.offset.reset says; an offset left over from the old topic would make it skip the new
    # topic's first records.
    b = quick_broker.bootstrap
    node = node_id(b)
    admin = AdminClient({"bootstrap.servers": b})
    create(b, "reborn", 1)
    send(b, "reborn", [f"old-{i}" for i in range(300)], 1)
    committer = Consumer({"bootstrap.servers": b, "group.id": "reborn-readers", "enable.auto.commit": False})
    committer.commit(offsets=[TopicPartition("reborn", 0, 300)], asynchronous=False)
    committer.close()
    assert committed(b, "reborn-readers", "reborn", 1) == {0: 300}

    admin.delete_topics(["reborn"])["reborn"].result(30)
    wait_until(lambda: "reborn" not in admin.list_topics(timeout=10).topics, timeout_s=30, what="the topic deleted")
    left_over = []

    def forgotten():
        left_over[:] = [raw_fetch_offset(b, node, "reborn-readers", "reborn")]
        return left_over[0][0] == -1
    try:
        wait_until(forgotten, timeout_s=15, interval_s=0.5, what="the deleted topic's committed offset forgotten")
    except AssertionError:
        pass  # checked below, after what a consumer makes of it

    create(b, "reborn", 1)
    fresh = [f"new-{i}" for i in range(400)]
    send(b, "reborn", fresh, 1)
    reader = Consumer({"bootstrap.servers": b, "group.id": "reborn-readers", "auto.offset.reset": "earliest",
                       "enable.auto.commit": False})
    got = []
    try:
        reader.subscribe(["reborn"])

        def read_all():
            got.extend(m.value().decode() for m in reader.consume(1000, timeout=0.2) if m.error() is None)
            return len(got) >= len(fresh)
        try:
            wait_until(read_all, timeout_s=30, interval_s=0, what="the recreated topic read")
        except AssertionError:
            pass  # a consumer that starts at the old offset never gets there; the assertion says how far it got
    finally:
        reader.close()
    assert got == fresh, f"the recreated topic was read from {got[0] if got else 'nowhere'}: {len(got)} of " \
                         f"{len(fresh)} records (the deleted topic's committed offset was {left_over})"
    assert left_over[0] == (-1, 0), f"OffsetFetch for the deleted topic's partition answered (offset, error) " \
                                    f"{left_over[0]}, not (-1, 0)"


class ConsumingThread:
    """A confluent-kafka group consumer polling in a thread of its own, with librdkafka's log and
    error callbacks captured: the values it got, the errors it was told of."""

    def __init__(self, bootstrap, topic, group):
        self.log = CapturedLog(f"librdkafka.{group}")
        self.errors, self.values, self.lock, self.assigned = [], set(), threading.Lock(), 0
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                                  "topic.metadata.refresh.interval.ms": 1000, "logger": self.log.logger,
                                  "error_cb": self._error})
        self.consumer.subscribe([topic])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _error(self, err):
        with self.lock:
            self.errors.append(err)

    def _run(self):
        while not self.stop.is_set():
            for m in self.consumer.consume(1000, timeout=0.2):
                with self.lock:
                    if m.error() is None:
                        self.values.add(m.value().decode())
                    else:
                        self.errors.append(m.error())
            self.assigned = len(self.consumer.assignment())

    def wait_for(self, values, what, timeout_s=90):
        wanted = set(values)

        def got():
            assert self.thread.is_alive(), "the consuming thread died"
            with self.lock:
                return wanted <= self.values
        try:
            wait_until(got, timeout_s=timeout_s, interval_s=0.2, what=what)
        except AssertionError as e:
            with self.lock:
                missing, errors = sorted(wanted - self.values), sorted({str(e) for e in self.errors})
            assignment = self.consumer.assignment()
            raise AssertionError(f"{e}: {len(missing)} of {len(wanted)} missing (e.g. {missing[:5]}); assignment "
                                 f"{self.consumer.position(assignment)}; errors {errors[-10:]}; "
                                 f"log {self.log.messages[-20:]}") from None

    def protocol_errors(self):
        return self.log.matching("MessageSetSize", "Protocol parse failure", "PROTOERR")

    def close(self):
        self.stop.set()
        self.thread.join(30)
        self.consumer.close()
        self.log.close()


def test_consumer_on_three_brokers_survives_topic_recreation_and_leader_move_without_protocol_errors(edge_cluster):
    # librdkafka's test 0107 (topic create, delete, create with fewer partitions) with a
    # partition leader stopped and restarted after it, on three brokers, with one group
    # consumer throughout. While the topic is gone and while a leader moves, its Fetch requests
    # meet errors (unknown topic, not the leader, a broker gone); each such answer must still be
    # a well-formed Fetch response (Kafka sends empty records for an erroring partition, never
    # null), so librdkafka never logs "invalid MessageSetSize", and the consumer gets every
    # record produced afterwards. The old topic holds more records per partition than the new
    # one ever does, so positions carried over from it are out of range and reset to the start.
    cluster = edge_cluster
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    cluster.create_topic("recreated", 6)
    reader = ConsumingThread(cluster.bootstrap, "recreated", "recreate-reader")
    try:
        before = [f"before-{i}" for i in range(1800)]
        send(cluster.bootstrap, "recreated", before, 6)
        reader.wait_for(before, "every record before the deletion")

        admin.delete_topics(["recreated"])["recreated"].result(30)
        for i, b in cluster.brokers.items():
            wait_until(lambda: "recreated" not in AdminClient({"bootstrap.servers": cluster.addresses[i]})
                       .list_topics(timeout=10).topics, timeout_s=30,
                       what=f"the topic gone from broker {i}'s metadata")
            wait_until(lambda: not list((b.workdir / "data").glob("recreated-*")), timeout_s=30,
                       what=f"broker {i} deleting its replicas")
        # librdkafka 2.6.1 keeps a partition's leader epoch while the partition is still
        # assigned and ignores a recreated partition whose leader epoch is no greater (the FIXME
        # beside "changed id" in rdkafka_topic.c), so, where its test 0107 sleeps 5 s, the topic
        # is recreated once the consumer has given up the old partitions, in the group too (a
        # consumer whose subscription matches no topic leaves its group, which is then empty).
        def let_go():
            if reader.assigned:
                return False
            described = admin.describe_consumer_groups(["recreate-reader"])["recreate-reader"].result(30)
            return described.state.name == "EMPTY" or \
                all(not m.assignment.topic_partitions for m in described.members)
        wait_until(let_go, timeout_s=60, interval_s=0.2, what="the consumer giving up the deleted partitions")
        admin.create_topics([NewTopic("recreated", num_partitions=3, replication_factor=3,
                                      config={"min.insync.replicas": "2"})])["recreated"].result(30)
        cluster.wait_for_isrs("recreated", lambda p: p.leader >= 0 and len(p.isrs) == 3, "leaders and full ISRs")
        after = [f"after-{i}" for i in range(150)]
        send(cluster.bootstrap, "recreated", after, 3)
        reader.wait_for(after, "every record of the recreated topic")
        assert not reader.protocol_errors(), reader.protocol_errors()[:5]

        # A partition leader stops (SIGTERM): the consumer's fetches move to the new leader.
        victim = cluster.partitions("recreated")[0].leader
        cluster.brokers[victim].kill(signal.SIGTERM)
        cluster.wait_for_isrs("recreated", lambda p: p.leader not in (victim, -1),
                              f"leaders other than broker {victim}", timeout_s=failover_bound_s())
        moved = [f"moved-{i}" for i in range(150)]
        send(cluster.bootstrap, "recreated", moved, 3)
        reader.wait_for(moved, f"every record written after broker {victim} stopped")
        cluster.brokers[victim].start()
        cluster.wait_for_isrs("recreated", lambda p: len(p.isrs) == 3, f"broker {victim} back in every ISR", 60)
        back = [f"back-{i}" for i in range(150)]
        send(cluster.bootstrap, "recreated", back, 3)
        reader.wait_for(back, f"every record written after broker {victim} returned")

        # The leader of partition 0 moves off a broker that stays up (a reassignment onto the
        # other two): fetches still sent to it are answered with an error, not served.
        old_leader = cluster.partitions("recreated")[0].leader
        targets = [i for i in cluster.brokers if i != old_leader]
        out = subprocess.run([SLUICE_CLI, "-b", cluster.bootstrap, "topic", "reassign", "recreated",
                              f"--move=0={','.join(map(str, targets))}", "--wait", "--timeout", "120"],
                             capture_output=True, text=True, timeout=150)
        assert out.returncode == 0, out.stderr
        cluster.wait_for_isrs("recreated",
                              lambda p: p.id != 0 or (sorted(p.replicas) == targets and p.leader in targets),
                              f"recreated-0 moved off broker {old_leader}")
        reassigned = [f"reassigned-{i}" for i in range(150)]
        send(cluster.bootstrap, "recreated", reassigned, 3)
        reader.wait_for(reassigned, f"every record written after recreated-0 left broker {old_leader}")
        assert not reader.protocol_errors(), reader.protocol_errors()[:5]
        print(f"consumer errors seen: {sorted({str(e) for e in reader.errors})[:10]}")
        new_leader = cluster.partitions("recreated")[0].leader
    finally:
        reader.close()

    # The same error paths probed one by one with Fetch v12: Kafka answers an erroring
    # partition with empty records (FetchResponse.partitionResponse(tp, error) sets
    # MemoryRecords.EMPTY), never null, which librdkafka rejects ("invalid MessageSetSize -1").
    for address, topic, partition, offset, what in [
            (cluster.addresses[old_leader], "recreated", 0, 0,
             f"recreated-0 on broker {old_leader}, no longer a replica"),
            (cluster.addresses[new_leader], "recreated", 0, 1 << 40, "an offset far past the end"),
            (cluster.addresses[targets[0]], "never-created", 0, 0, "a topic that does not exist"),
            (cluster.addresses[targets[0]], "recreated", 7, 0, "a partition the topic does not have")]:
        (index, error, records), = fetch_v12(address, topic, partition, offset)
        assert index == partition and error != 0, f"{what}: error {error}"
        assert records == b"", f"{what}: error {error} answered with records {records!r}, not empty records"

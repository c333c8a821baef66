"""ElectLeaders (API key 43, versions 0-2; KIP-183 preferred elections, KIP-460 unclean ones) and
`sluice topic elect-leaders`, checked against what Apache Kafka's ZooKeeper-mode controller
answers, on three brokers with `auto.leader.rebalance.enable=false` (so leadership only comes back
to a preferred replica when asked):

- the request is served by the controller (Metadata's controller_id); any other broker answers
  NOT_CONTROLLER for every partition it names;
- a preferred election (type 0; version 0 knows no other) moves leadership back to the first
  replica of each partition once it is alive and in the ISR: error 0 and a null message per
  partition, and the controller's own Metadata shows the preferred leader with a higher leader
  epoch as soon as the answer arrives (Kafka holds the answer until its metadata cache shows the
  new leader); ELECTION_NOT_NEEDED (84) where the preferred replica already leads;
  PREFERRED_LEADER_NOT_AVAILABLE (80) where it is down, or alive but out of the ISR;
  UNKNOWN_TOPIC_OR_PARTITION (3) for a topic or partition that does not exist; null
  topic_partitions (every partition) answers only the partitions that needed an election;
- an unclean election (type 1, versions 1+): ELECTION_NOT_NEEDED for a partition with a live
  leader; a partition whose whole ISR is down (unclean.leader.election.enable=false keeps it
  offline, leader -1, when only an out-of-sync replica returns) gets that replica as leader,
  with itself as the ISR, and takes writes and reads again (the records only the old ISR had are
  gone, as Kafka loses them); with no replica alive, ELIGIBLE_LEADERS_NOT_AVAILABLE (83);
- the answers' bytes, version by version (v2 flexible: compact strings and arrays, tagged
  fields), decoded strictly: every field in place and nothing left over;
- ALTER on CLUSTER is needed (one broker with an authorizer): CLUSTER_AUTHORIZATION_FAILED (31)
  per partition and, from version 1, at the top level; null topic_partitions then answers no
  partition at all;
- real clients: confluent-kafka's AdminClient.elect_leaders (the pinned 2.6.1 has it) and, in a
  subprocess with the newest venv's Python, kafka-python 3's KafkaAdminClient.elect_leaders
  (2.0.2, pinned, has no such call), each bootstrapped from a broker that is not the controller;
- `sluice topic elect-leaders` (kafka-leader-election.sh): a line per partition ("<topic>-<p>:
  leader elected" / "no election needed"), -p, --all-topics, --unclean; exit 0 when every
  partition was elected or needed nothing, non-zero with each failure named on stderr.

Written from Kafka's specification (the ElectLeaders JSON schemas, KafkaApis.handleElectLeaders,
KafkaController.processReplicaLeaderElection, DelayedElectLeader), not from Sluice's code."""

import hashlib
import json
import signal
import socket
import struct
import subprocess
import time
from collections import namedtuple

import pytest
from confluent_kafka import ElectionType, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic, ResourceType
from kafka import KafkaConsumer
from kafka.structs import TopicPartition as KafkaPythonTopicPartition

from conftest import ROOT, wait_until
from test_acls import (CLUSTER, KafkaWire, acl, admin_as, create_acls, create_topics, forget_clients, new_broker,
                       settle)
from test_cluster import SLUICE_CLI, Cluster

# Kafka's error codes.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
CLUSTER_AUTHORIZATION_FAILED = 31
NOT_CONTROLLER = 41
PREFERRED_LEADER_NOT_AVAILABLE = 80
ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
ELECTION_NOT_NEEDED = 84

API_VERSIONS, METADATA, ELECT_LEADERS = 18, 3, 43
PREFERRED, UNCLEAN = 0, 1
VERSIONS = (0, 1, 2)

# Off, so that leadership comes back to a returning preferred replica only when asked; unclean
# elections only when asked, too (Kafka's default, said explicitly).
BROKER_OVERRIDES = ["auto.leader.rebalance.enable=false", "unclean.leader.election.enable=false"]
# Well above the pause of a follower past replica.lag.time.max.ms (5 s in test_cluster), so that
# it is the leader's lag check that drops the paused broker from the ISR, not its session ending.
# Brokers are only ever stopped with SIGTERM, which closes their sessions at once.
SESSION_MS = 30_000
LATEST_PYTHON = ROOT / "target" / "compat-venv-latest" / "bin" / "python"


# --- the wire -----------------------------------------------------------------------------------

def uvarint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def encode_string(s, flexible):
    data = s.encode()
    return (uvarint(len(data) + 1) if flexible else struct.pack(">h", len(data))) + data


def encode_array_length(n, flexible):
    """The length of an array (None: a null array)."""
    if n is None:
        return uvarint(0) if flexible else struct.pack(">i", -1)
    return uvarint(n + 1) if flexible else struct.pack(">i", n)


class Reader:
    """A strict reader of an answer: every read must fit, and `done` checks nothing is left."""

    def __init__(self, data):
        self.data, self.pos = bytes(data), 0

    def _unpack(self, fmt):
        size = struct.calcsize(fmt)
        assert self.pos + size <= len(self.data), f"answer cut short at byte {self.pos} of {len(self.data)}"
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def int8(self):
        return self._unpack(">b")

    def int16(self):
        return self._unpack(">h")

    def int32(self):
        return self._unpack(">i")

    def uvarint(self):
        value = 0
        for shift in range(0, 35, 7):
            byte = self._unpack(">B")
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise AssertionError(f"an unsigned varint longer than 5 bytes at byte {self.pos}")

    def raw(self, n):
        assert self.pos + n <= len(self.data), f"{n} bytes wanted at byte {self.pos} of {len(self.data)}"
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def string(self, flexible, nullable=False):
        at = self.pos
        n = self.uvarint() - 1 if flexible else self.int16()
        if n < 0:
            assert nullable, f"a null in a non-nullable string at byte {at}"
            return None
        return self.raw(n).decode()

    def array_length(self, flexible, nullable=False):
        at = self.pos
        n = self.uvarint() - 1 if flexible else self.int32()
        if n < 0:
            assert nullable, f"a null non-nullable array at byte {at}"
            return None
        return n

    def tagged_fields(self):
        fields = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            fields[tag] = self.raw(self.uvarint())
        return fields

    def done(self):
        assert self.pos == len(self.data), f"{len(self.data) - self.pos} bytes left over after the answer's last field"


class Conn:
    """One connection to a broker: request header v1 (v2, with tagged fields, for flexible
    versions), response header v0 (v1 for flexible versions). `sock`: an open connection to use
    (one that logged in with SASL already)."""

    def __init__(self, address=None, sock=None, timeout_s=60):
        if sock is None:
            host, port = address.rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.sock, self.correlation = sock, 1000

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.sock.close()

    def call(self, api_key, version, body, flexible=False, client_id=b"elect-test"):
        """Sends one request; returns a Reader on the answer's body (after its header)."""
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, len(client_id)) + client_id
        if flexible:
            header += uvarint(0)
        self.sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        (size,) = struct.unpack(">i", self._read(4))
        r = Reader(self._read(size))
        assert r.int32() == self.correlation, "the answer's correlation id is not the request's"
        if flexible:
            assert r.tagged_fields() == {}, "tagged fields in the response header"
        return r

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError(f"closed by the broker after {len(out)} of {n} bytes")
            out += chunk
        return out


def elect_leaders_request(version, topic_partitions, election_type=PREFERRED, timeout_ms=30_000):
    """ElectLeadersRequest's body. `topic_partitions`: {topic: [partition, ...]} (a list of pairs
    to repeat a topic), or None for every partition."""
    flexible = version >= 2
    if version == 0:
        assert election_type == PREFERRED, "version 0 has no election type"
        body = b""
    else:
        body = struct.pack(">b", election_type)
    if topic_partitions is None:
        body += encode_array_length(None, flexible)
    else:
        items = list(topic_partitions.items()) if isinstance(topic_partitions, dict) else list(topic_partitions)
        body += encode_array_length(len(items), flexible)
        for topic, partitions in items:
            body += encode_string(topic, flexible) + encode_array_length(len(partitions), flexible)
            body += b"".join(struct.pack(">i", p) for p in partitions)
            if flexible:
                body += uvarint(0)
    body += struct.pack(">i", timeout_ms)
    if flexible:
        body += uvarint(0)
    return body


Answer = namedtuple("Answer", "throttle_ms error results")  # results: {topic: {partition: (code, message)}}


def decode_elect_leaders(version, r):
    """ElectLeadersResponse, field by field as its schema lays them out in `version`."""
    flexible = version >= 2
    throttle_ms = r.int32()
    error = r.int16() if version >= 1 else None
    results = {}
    for _ in range(r.array_length(flexible)):
        topic = r.string(flexible)
        assert topic not in results, f"topic {topic} answered twice (Kafka groups the results by topic)"
        partitions = {}
        for _ in range(r.array_length(flexible)):
            partition, code, message = r.int32(), r.int16(), r.string(flexible, nullable=True)
            if flexible:
                r.tagged_fields()
            assert partition not in partitions, f"{topic}-{partition} answered twice"
            partitions[partition] = (code, message)
        if flexible:
            r.tagged_fields()
        results[topic] = partitions
    if flexible:
        r.tagged_fields()
    r.done()
    return Answer(throttle_ms, error, results)


def elect(target, version, topic_partitions, election_type=PREFERRED, timeout_ms=30_000):
    """Sends ElectLeaders to `target` (host:port, or an open Conn) and decodes the answer."""
    body = elect_leaders_request(version, topic_partitions, election_type, timeout_ms)
    if isinstance(target, Conn):
        return decode_elect_leaders(version, target.call(ELECT_LEADERS, version, body, flexible=version >= 2))
    with Conn(target) as conn:
        return decode_elect_leaders(version, conn.call(ELECT_LEADERS, version, body, flexible=version >= 2))


def check_answer(answer, version, expected, top_error=NONE):
    """The answer names exactly `expected` ({topic: {partition: code}}), with a null message for
    each success, and (from version 1) `top_error` at the top level."""
    assert answer.throttle_ms >= 0
    assert answer.error == (top_error if version >= 1 else None), answer
    codes = {t: {p: code for p, (code, _) in ps.items()} for t, ps in answer.results.items()}
    assert codes == expected, f"v{version}: {answer.results}"
    for topic, partitions in answer.results.items():
        for p, (code, message) in partitions.items():
            if code == NONE:
                assert message is None, f"{topic}-{p}: error 0 with the message {message!r} (Kafka: null)"


Partition = namedtuple("Partition", "error leader epoch replicas isr offline")
Metadata = namedtuple("Metadata", "brokers controller topics")  # topics: {name: (error, {index: Partition})}


def metadata(address, topics=None):
    """Metadata v7 (the first version with leader epochs), raw."""
    body = encode_array_length(None if topics is None else len(topics), False)
    body += b"".join(encode_string(t, False) for t in topics or ()) + b"\x00"  # no auto-creation
    with Conn(address, timeout_s=15) as conn:
        r = conn.call(METADATA, 7, body)
    r.int32()
    brokers = {}
    for _ in range(r.array_length(False)):
        node, host, port = r.int32(), r.string(False), r.int32()
        r.string(False, nullable=True)
        brokers[node] = f"{host}:{port}"
    r.string(False, nullable=True)
    controller = r.int32()
    result = {}
    for _ in range(r.array_length(False)):
        error, name = r.int16(), r.string(False)
        r.int8()
        partitions = {}
        for _ in range(r.array_length(False)):
            perror, index, leader, epoch = r.int16(), r.int32(), r.int32(), r.int32()
            replicas, isr, offline = ([r.int32() for _ in range(r.array_length(False))] for _ in range(3))
            partitions[index] = Partition(perror, leader, epoch, replicas, isr, offline)
        result[name] = (error, partitions)
    r.done()
    return Metadata(brokers, controller, result)


def api_versions(address):
    """ApiVersions v0: {api key: (min, max)}."""
    with Conn(address) as conn:
        r = conn.call(API_VERSIONS, 0, b"")
    assert r.int16() == NONE
    ranges = {}
    for _ in range(r.array_length(False)):
        key, low, high = r.int16(), r.int16(), r.int16()
        ranges[key] = (low, high)
    r.done()
    return ranges


# --- the cluster --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("elect-leaders"), session_ms=SESSION_MS,
                broker_args=lambda i: [a for o in BROKER_OVERRIDES for a in ("-o", o)])
    c.any_failed = False
    try:
        c.start()
    except BaseException:
        c.stop(True)
        raise
    yield c
    if c.any_failed:  # (each failed test printed the logs already)
        for n in [*c.brokers.values(), *c.keepers]:
            n.kill(signal.SIGKILL)
    c.stop(False)


@pytest.fixture
def cluster(shared_cluster, request):
    """The module's cluster with every broker running and unpaused (a test leaves brokers
    stopped only when it failed); the brokers' logs printed when the test failed."""
    c = shared_cluster
    for i, node in c.brokers.items():
        if i in c.paused:
            node.resume()
            c.paused.discard(i)
        if not node.alive:
            node.start()
    wait_until(lambda: len(metadata(live_addresses(c)[0]).brokers) == 3, timeout_s=60, what="three brokers")
    yield c
    if getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed:
        c.any_failed = True
        for n in c.brokers.values():
            print(f"\n--- {n.name} log ({n.workdir / n.log_name}) ---\n{n.log()}")


def live_addresses(cluster):
    return [a for i, a in cluster.addresses.items() if cluster.brokers[i].alive and i not in cluster.paused]


def roles(cluster):
    """(the controller, the other two brokers), the controller as Metadata names it."""
    controller = metadata(live_addresses(cluster)[0]).controller
    assert controller in cluster.brokers, f"Metadata names controller {controller}"
    others = sorted(i for i in cluster.brokers if i != controller)
    return controller, others[0], others[1]


def partitions_on(cluster, topic, broker):
    """The topic's partitions in broker `broker`'s Metadata."""
    error, partitions = metadata(cluster.addresses[broker], [topic]).topics[topic]
    assert error == NONE, f"Metadata of {topic} from broker {broker}: error {error}"
    return partitions


def wait_for_partitions(cluster, topic, broker, condition, what, timeout_s=30):
    """Waits until `condition(partitions)` holds in broker `broker`'s Metadata of the topic."""
    def holds():
        try:
            error, partitions = metadata(cluster.addresses[broker], [topic]).topics[topic]
        except (OSError, KeyError):
            return False
        return error == NONE and bool(partitions) and condition(partitions)
    wait_until(holds, timeout_s=timeout_s, interval_s=0.1, what=f"{what} ({topic}, broker {broker}'s Metadata)")


def create_topic(cluster, name, assignment, config=None):
    """A topic with an explicit replica assignment (its first replicas lead), with full ISRs, as
    every live broker's Metadata shows it."""
    admin = AdminClient({"bootstrap.servers": ",".join(live_addresses(cluster))})
    admin.create_topics([NewTopic(name, len(assignment), replica_assignment=assignment, config=config or {})],
                        operation_timeout=30)[name].result(30)

    def settled(parts):
        return len(parts) == len(assignment) and all(
            parts[p].replicas == r and parts[p].leader == r[0] and sorted(parts[p].isr) == sorted(r)
            for p, r in enumerate(assignment))
    for i in cluster.brokers:
        wait_for_partitions(cluster, name, i, settled, "preferred leaders and full ISRs")


def stop_broker(cluster, i, controller):
    cluster.brokers[i].kill(signal.SIGTERM)
    wait_until(lambda: i not in metadata(cluster.addresses[controller]).brokers, timeout_s=30,
               what=f"broker {i} gone from the controller's Metadata")


def start_broker(cluster, i, controller):
    cluster.brokers[i].start()
    wait_until(lambda: i in metadata(cluster.addresses[controller]).brokers, timeout_s=30,
               what=f"broker {i} back in the controller's Metadata")


def produce(cluster, topic, partition, values, acks="all"):
    producer = Producer({"bootstrap.servers": ",".join(live_addresses(cluster)), "acks": acks,
                         "message.timeout.ms": 30_000})
    errors = []
    for v in values:
        producer.produce(topic, v, partition=partition, on_delivery=lambda err, _: err and errors.append(err))
    assert producer.flush(45) == 0, "records neither delivered nor failed"
    assert not errors, f"produce to {topic}-{partition}: {errors[:3]}"


def read_partition(cluster, topic, partition, count, timeout_s=30):
    """Every record of the partition from its start (`count` expected), and its (first, end)
    offsets, read by kafka-python without a group (so no offsets topic gets created)."""
    consumer = KafkaConsumer(bootstrap_servers=live_addresses(cluster), group_id=None, enable_auto_commit=False,
                             request_timeout_ms=30_000, api_version_auto_timeout_ms=30_000)
    tp = KafkaPythonTopicPartition(topic, partition)
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        values, deadline = [], time.monotonic() + timeout_s
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values += [r.value for r in records]
        return values, (consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp])
    finally:
        consumer.close()


def log_digest(cluster, broker, topic, partition):
    files = sorted((cluster.brokers[broker].workdir / "data" / f"{topic}-{partition}").glob("*.log"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def sluice(bootstrap, *args):
    r = subprocess.run([SLUICE_CLI, "-b", bootstrap, *args], capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def output_lines(out, topic):
    """{partition: status} from the CLI's "<topic>-<p>: <status>" lines about `topic`."""
    lines = {}
    for line in out.splitlines():
        head, sep, status = line.partition(": ")
        name, dash, p = head.rpartition("-")
        if sep and dash and name == topic and p.isdigit():
            assert int(p) not in lines, f"{topic}-{p} reported twice:\n{out}"
            lines[int(p)] = status.strip()
    return lines


def client_outcomes(results):
    """confluent-kafka's elect_leaders result: {(topic, partition): None or error code}. (Its
    docstring says a KafkaException per failed partition; 2.6.1 gives the KafkaError itself.)"""
    out = {}
    for tp, error in results.items():
        if isinstance(error, KafkaException):
            error = error.args[0]
        if error is not None:
            assert isinstance(error, KafkaError), (tp, error)
            error = error.code()
        out[(tp.topic, tp.partition)] = error
    return out


# --- tests --------------------------------------------------------------------------------------

def test_every_broker_advertises_elect_leaders_versions_0_to_2(cluster):
    for address in cluster.addresses.values():
        assert api_versions(address).get(ELECT_LEADERS) == (0, 2), address


def test_preferred_elections_move_leadership_back_to_the_first_replica_in_every_version(cluster):
    controller, v, w = roles(cluster)
    at_controller = cluster.addresses[controller]
    topic = "preferred"
    # Partitions 0-2 prefer broker v (not the controller); 3 and 4 prefer the others.
    assignment = [[v, controller, w], [v, w, controller], [v, controller, w], [controller, v, w], [w, controller, v]]
    create_topic(cluster, topic, assignment)

    # Every preferred replica leads: nothing to elect; unknown topics and partitions are named.
    for version in VERSIONS:
        answer = elect(at_controller, version, {topic: [3, 4, 9], "no-such-topic": [0]})
        check_answer(answer, version, {topic: {3: ELECTION_NOT_NEEDED, 4: ELECTION_NOT_NEEDED,
                                               9: UNKNOWN_TOPIC_OR_PARTITION},
                                       "no-such-topic": {0: UNKNOWN_TOPIC_OR_PARTITION}})
    # A partition named twice is answered once, and a topic named twice once with all its
    # partitions (Kafka takes the request's partitions as a set, and groups its answer by topic).
    check_answer(elect(at_controller, 1, [(topic, [3, 3])]), 1, {topic: {3: ELECTION_NOT_NEEDED}})
    check_answer(elect(at_controller, 2, [(topic, [3]), (topic, [4, 3])]), 2,
                 {topic: {3: ELECTION_NOT_NEEDED, 4: ELECTION_NOT_NEEDED}})

    # Any other broker is not the controller: NOT_CONTROLLER for every partition named (the
    # top-level error stays 0, as Kafka's ZooKeeper-mode brokers answer).
    for version in VERSIONS:
        for other in (v, w):
            answer = elect(cluster.addresses[other], version, {topic: [0, 3], "no-such-topic": [0]})
            check_answer(answer, version, {topic: {0: NOT_CONTROLLER, 3: NOT_CONTROLLER},
                                           "no-such-topic": {0: NOT_CONTROLLER}})
        # Every partition (null): every partition it knows, each NOT_CONTROLLER.
        answer = elect(cluster.addresses[v], version, None)
        assert answer.error == (NONE if version >= 1 else None), answer
        assert answer.results.get(topic) == {p: (NOT_CONTROLLER, answer.results[topic][p][1]) for p in range(5)}, answer
        assert {code for ps in answer.results.values() for code, _ in ps.values()} == {NOT_CONTROLLER}, answer

    # Broker v down: partitions 0-2 led by others; their preferred replica is not available.
    stop_broker(cluster, v, controller)
    wait_for_partitions(cluster, topic, controller,
                        lambda ps: all(ps[p].leader not in (v, -1) for p in (0, 1, 2))
                        and all(v not in ps[p].isr for p in ps), f"leadership off broker {v}")
    for version in VERSIONS:
        check_answer(elect(at_controller, version, {topic: [0, 3]}), version,
                     {topic: {0: PREFERRED_LEADER_NOT_AVAILABLE, 3: ELECTION_NOT_NEEDED}})
    # An unclean election has nothing to do where a live broker leads, preferred or not.
    for version in (1, 2):
        check_answer(elect(at_controller, version, {topic: [0, 3]}, UNCLEAN), version,
                     {topic: {0: ELECTION_NOT_NEEDED, 3: ELECTION_NOT_NEEDED}})

    # Broker v back and in every ISR: leadership stays where it is (no automatic rebalance).
    start_broker(cluster, v, controller)
    wait_for_partitions(cluster, topic, controller, lambda ps: all(v in ps[p].isr for p in ps),
                        f"broker {v} back in every ISR", timeout_s=60)
    assert all(partitions_on(cluster, topic, controller)[p].leader != v for p in (0, 1, 2))

    # Broker v alive but out of partition 0's ISR (paused past replica.lag.time.max.ms, its
    # session kept): still not available as a leader.
    cluster.brokers[v].pause()
    cluster.paused.add(v)
    produce(cluster, topic, 0, [b"while paused"] * 3, acks="1")
    wait_for_partitions(cluster, topic, controller, lambda ps: v not in ps[0].isr,
                        f"paused broker {v} out of partition 0's ISR", timeout_s=30)
    assert v in metadata(at_controller).brokers, "the paused broker's registration is gone"
    for version in VERSIONS:
        check_answer(elect(at_controller, version, {topic: [0]}), version,
                     {topic: {0: PREFERRED_LEADER_NOT_AVAILABLE}})
    assert partitions_on(cluster, topic, controller)[0].leader not in (v, -1)
    cluster.brokers[v].resume()
    cluster.paused.discard(v)
    wait_for_partitions(cluster, topic, controller, lambda ps: all(v in ps[p].isr for p in ps),
                        f"broker {v} back in every ISR after the pause", timeout_s=60)

    # The elections, one per version. Kafka answers once the controller's own metadata shows the
    # new leader, so its Metadata shows it at once, with a higher leader epoch.
    before = partitions_on(cluster, topic, controller)
    check_answer(elect(at_controller, 0, {topic: [0]}), 0, {topic: {0: NONE}})
    after = partitions_on(cluster, topic, controller)
    assert after[0].leader == v and after[0].epoch > before[0].epoch, (before[0], after[0])

    check_answer(elect(at_controller, 1, {topic: [1, 3]}), 1, {topic: {1: NONE, 3: ELECTION_NOT_NEEDED}})
    after = partitions_on(cluster, topic, controller)
    assert after[1].leader == v and after[1].epoch > before[1].epoch, (before[1], after[1])

    # Every partition (null topic_partitions): only those that needed an election are answered.
    answer = elect(at_controller, 2, None)
    assert answer.error == NONE, answer
    assert answer.results.get(topic) == {2: (NONE, None)}, answer.results
    not_needed = [(t, p) for t, ps in answer.results.items() for p, (code, _) in ps.items()
                  if code == ELECTION_NOT_NEEDED]
    assert not not_needed, f"partitions that needed no election were answered: {not_needed}"

    after = partitions_on(cluster, topic, controller)
    for p, r in enumerate(assignment):
        assert after[p].leader == r[0], (p, after[p])
        assert sorted(after[p].isr) == sorted(r), (p, after[p])
        if p in (0, 1, 2):
            assert after[p].epoch > before[p].epoch, (p, before[p], after[p])
        else:
            assert after[p].epoch == before[p].epoch, f"partition {p} needed no election: {before[p]} -> {after[p]}"
    for i in cluster.brokers:
        wait_for_partitions(cluster, topic, i, lambda ps: all(ps[p].leader == r[0] for p, r in enumerate(assignment)),
                            "the preferred leaders")
    for version in VERSIONS:
        check_answer(elect(at_controller, version, {topic: [0, 1, 2]}), version,
                     {topic: {0: ELECTION_NOT_NEEDED, 1: ELECTION_NOT_NEEDED, 2: ELECTION_NOT_NEEDED}})
    produce(cluster, topic, 0, [b"after the election"])


def test_an_unclean_election_brings_an_out_of_sync_replica_back_as_leader(cluster):
    controller, v, w = roles(cluster)
    at_controller = cluster.addresses[controller]
    topic = "unclean"
    # Partitions 0-3 on v (leading) and w only; partition 4 led by the controller.
    assignment = [[v, w], [v, w], [v, w], [v, w], [controller, v]]
    create_topic(cluster, topic, assignment,
                 {"min.insync.replicas": "1", "unclean.leader.election.enable": "false"})
    for version in (1, 2):
        check_answer(elect(at_controller, version, {topic: [0, 4]}, UNCLEAN), version,
                     {topic: {0: ELECTION_NOT_NEEDED, 4: ELECTION_NOT_NEEDED}})

    # w stops and leaves the ISR; records written then exist only on v.
    stop_broker(cluster, w, controller)
    wait_for_partitions(cluster, topic, controller, lambda ps: all(ps[p].isr == [v] for p in range(4)),
                        f"broker {w} out of the ISRs")
    for p in range(4):
        produce(cluster, topic, p, [f"only on {v}: {i}".encode() for i in range(5)])

    # v stops too: partitions 0-3 have no live replica at all.
    stop_broker(cluster, v, controller)
    wait_for_partitions(cluster, topic, controller,
                        lambda ps: all(ps[p].leader == -1 for p in range(4)) and ps[4].leader == controller,
                        "partitions 0-3 offline")
    for version in (1, 2):
        check_answer(elect(at_controller, version, {topic: [0, 4]}, UNCLEAN), version,
                     {topic: {0: ELIGIBLE_LEADERS_NOT_AVAILABLE, 4: ELECTION_NOT_NEEDED}})
    code, out, err = sluice(at_controller, "topic", "elect-leaders", topic, "-p", "0", "--unclean")
    assert code != 0 and f"{topic}-0" in err and "ELIGIBLE_LEADERS_NOT_AVAILABLE" in err, (code, out, err)
    # Version 0 is a preferred election, whatever the state: the preferred replica is down.
    for version in VERSIONS:
        check_answer(elect(at_controller, version, {topic: [0]}), version,
                     {topic: {0: PREFERRED_LEADER_NOT_AVAILABLE}})

    # Only the out-of-sync w returns: unclean.leader.election.enable=false keeps 0-3 offline.
    start_broker(cluster, w, controller)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        ps = partitions_on(cluster, topic, controller)
        assert all(ps[p].leader == -1 for p in range(4)), f"an out-of-sync replica was elected unasked: {ps}"
        time.sleep(0.2)
    check_answer(elect(at_controller, 2, {topic: [0]}), 2, {topic: {0: PREFERRED_LEADER_NOT_AVAILABLE}})

    # Unclean elections: w leads, alone in the ISR, with a higher leader epoch; by raw v1, raw
    # v2, confluent-kafka and the CLI (the last two bootstrapped from w, not the controller).
    before = partitions_on(cluster, topic, controller)
    check_answer(elect(at_controller, 1, {topic: [0, 4]}, UNCLEAN), 1, {topic: {0: NONE, 4: ELECTION_NOT_NEEDED}})
    after = partitions_on(cluster, topic, controller)
    assert (after[0].leader, after[0].isr) == (w, [w]) and after[0].epoch > before[0].epoch, (before[0], after[0])

    check_answer(elect(at_controller, 2, {topic: [1]}, UNCLEAN), 2, {topic: {1: NONE}})
    after = partitions_on(cluster, topic, controller)
    assert (after[1].leader, after[1].isr) == (w, [w]) and after[1].epoch > before[1].epoch, (before[1], after[1])

    admin = AdminClient({"bootstrap.servers": cluster.addresses[w]})
    results = admin.elect_leaders(ElectionType.UNCLEAN, [TopicPartition(topic, 2)]).result(30)
    assert client_outcomes(results) == {(topic, 2): None}

    code, out, err = sluice(cluster.addresses[w], "topic", "elect-leaders", topic, "-p", "3", "--unclean")
    assert code == 0, (code, out, err)
    assert output_lines(out, topic) == {3: "leader elected"}, out

    after = partitions_on(cluster, topic, controller)
    for p in range(4):
        assert (after[p].leader, after[p].isr) == (w, [w]) and after[p].epoch > before[p].epoch, (p, after[p])

    # Writes and reads work again; what only v had is gone, as Kafka loses it.
    for p in range(4):
        wait_for_partitions(cluster, topic, w, lambda ps, p=p: ps[p].leader == w, f"w leading partition {p}")
        fresh = [f"after the election: {p}-{i}".encode() for i in range(4)]
        produce(cluster, topic, p, fresh)
        values, offsets = read_partition(cluster, topic, p, len(fresh))
        assert values == fresh and offsets == (0, len(fresh)), (p, values, offsets)

    # v returns: it follows w, truncating what w never had, and rejoins the ISRs.
    start_broker(cluster, v, controller)
    wait_for_partitions(cluster, topic, controller,
                        lambda ps: all(sorted(ps[p].isr) == sorted([v, w]) for p in range(4)),
                        f"broker {v} back in the ISRs", timeout_s=60)
    assert all(partitions_on(cluster, topic, controller)[p].leader == w for p in range(4))
    wait_until(lambda: all(log_digest(cluster, v, topic, p) == log_digest(cluster, w, topic, p) for p in range(4)),
               timeout_s=30, what=f"broker {v}'s replicas equal to broker {w}'s")


def displace(cluster, topic, victim, controller, partitions):
    """Stops `victim` until leadership of `partitions` moved off it, then restarts it and waits
    until it is back in every ISR of the topic (still not leading them)."""
    stop_broker(cluster, victim, controller)
    wait_for_partitions(cluster, topic, controller,
                        lambda ps: all(ps[p].leader not in (victim, -1) for p in partitions),
                        f"leadership off broker {victim}")
    start_broker(cluster, victim, controller)
    wait_for_partitions(cluster, topic, controller, lambda ps: all(victim in ps[p].isr for p in ps),
                        f"broker {victim} back in every ISR", timeout_s=60)
    # Brokers other than the controller learn the ISRs in their own time; clients ask them.
    for i in cluster.brokers:
        wait_for_partitions(cluster, topic, i, lambda ps: all(victim in ps[p].isr for p in ps),
                            f"broker {victim} back in every ISR")
    assert all(partitions_on(cluster, topic, controller)[p].leader != victim for p in partitions)


KAFKA_PYTHON_ELECT = """
import json, sys
from kafka.admin import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=30000)
try:
    r = admin.elect_leaders(int(sys.argv[2]), json.loads(sys.argv[3]), timeout_ms=30000, raise_errors=False)
    print(json.dumps({"version": r.API_VERSION, "error": getattr(r, "error_code", None),
                      "results": {t.topic: {str(p.partition_id): p.error_code for p in t.partition_result}
                                  for t in r.replica_election_results}}))
finally:
    admin.close()
"""


def test_real_clients_elect_through_the_controller(cluster):
    controller, v, w = roles(cluster)
    topic = "clients"
    assignment = [[v, controller, w], [v, w, controller], [controller, v, w]]
    create_topic(cluster, topic, assignment)
    displace(cluster, topic, v, controller, [0, 1])

    # confluent-kafka (librdkafka 2.6.1), bootstrapped from w: it finds the controller itself.
    # (Its elect_leaders takes no request_timeout or operation_timeout: in 2.6.1 and 2.16 either
    # raises SystemError in the binding; the futures' own timeouts bound the calls.)
    admin = AdminClient({"bootstrap.servers": cluster.addresses[w]})
    before = partitions_on(cluster, topic, controller)
    wanted = [TopicPartition(topic, 0), TopicPartition(topic, 2)]
    results = admin.elect_leaders(ElectionType.PREFERRED, wanted).result(30)
    assert client_outcomes(results) == {(topic, 0): None, (topic, 2): ELECTION_NOT_NEEDED}
    after = partitions_on(cluster, topic, controller)
    assert after[0].leader == v and after[0].epoch > before[0].epoch, (before[0], after[0])
    results = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 9)]).result(30)
    assert client_outcomes(results) == {(topic, 9): UNKNOWN_TOPIC_OR_PARTITION}

    # kafka-python 3 (the newest venv; 2.0.2 has no such call), bootstrapped from w.
    if not LATEST_PYTHON.exists():
        pytest.fail(f"{LATEST_PYTHON} is missing: the newest clients are part of this test")
    r = subprocess.run([str(LATEST_PYTHON), "-c", KAFKA_PYTHON_ELECT, cluster.addresses[w], str(PREFERRED),
                        json.dumps({topic: [1, 2]})], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    answer = json.loads(r.stdout)
    assert answer["results"] == {topic: {"1": NONE, "2": ELECTION_NOT_NEEDED}}, answer
    assert (answer["version"], answer["error"]) == (2, NONE), answer
    after = partitions_on(cluster, topic, controller)
    assert after[1].leader == v and after[1].epoch > before[1].epoch, (before[1], after[1])

    # Every partition (null): nothing of this topic needed an election, so none is answered.
    results = admin.elect_leaders(ElectionType.PREFERRED, None).result(30)
    outcomes = client_outcomes(results)
    assert not [tp for tp in outcomes if tp[0] == topic], outcomes
    assert ELECTION_NOT_NEEDED not in outcomes.values(), outcomes


def test_the_cli_elects_reports_each_partition_and_fails_naming_what_failed(cluster):
    controller, v, w = roles(cluster)
    topic = "cli"
    assignment = [[v, controller, w], [v, w, controller], [controller, v, w]]
    create_topic(cluster, topic, assignment)
    bootstrap = cluster.addresses[w]  # not the controller: the CLI must find it

    code, out, err = sluice(bootstrap, "topic", "elect-leaders", topic)
    assert code == 0, (code, out, err)
    assert output_lines(out, topic) == {p: "no election needed" for p in range(3)}, out
    code, out, err = sluice(bootstrap, "topic", "elect-leaders", topic, "-p", "1", "--unclean")
    assert code == 0, (code, out, err)
    assert output_lines(out, topic) == {1: "no election needed"}, out

    # Failures: exit non-zero, each named on stderr.
    code, out, err = sluice(bootstrap, "topic", "elect-leaders", "no-such-topic")
    assert code != 0 and "no-such-topic" in err, (code, out, err)
    code, out, err = sluice(bootstrap, "topic", "elect-leaders", topic, "-p", "7")
    assert code != 0 and f"{topic}-7" in err and "UNKNOWN_TOPIC_OR_PARTITION" in err, (code, out, err)

    stop_broker(cluster, v, controller)
    wait_for_partitions(cluster, topic, controller, lambda ps: all(ps[p].leader not in (v, -1) for p in (0, 1)),
                        f"leadership off broker {v}")
    wait_for_partitions(cluster, topic, w, lambda ps: all(ps[p].leader not in (v, -1) for p in (0, 1)),
                        f"leadership off broker {v}")
    code, out, err = sluice(bootstrap, "topic", "elect-leaders", topic, "-p", "0", "-p", "2")
    assert code != 0, (code, out, err)
    assert f"{topic}-0" in err and "PREFERRED_LEADER_NOT_AVAILABLE" in err, (code, out, err)
    assert output_lines(out, topic) == {2: "no election needed"}, out

    start_broker(cluster, v, controller)
    for i in cluster.brokers:
        wait_for_partitions(cluster, topic, i, lambda ps: all(v in ps[p].isr for p in ps),
                            f"broker {v} back in every ISR", timeout_s=60)
    assert all(partitions_on(cluster, topic, controller)[p].leader != v for p in (0, 1))

    # -p: only that partition is elected.
    code, out, err = sluice(bootstrap, "topic", "elect-leaders", topic, "-p", "0")
    assert code == 0, (code, out, err)
    assert output_lines(out, topic) == {0: "leader elected"}, out
    ps = partitions_on(cluster, topic, controller)
    assert ps[0].leader == v and ps[1].leader != v, ps

    # --all-topics: every partition; partition 1 is elected, the others needed nothing.
    code, out, err = sluice(bootstrap, "topic", "elect-leaders", "--all-topics")
    assert code == 0, (code, out, err)
    lines = output_lines(out, topic)
    assert lines.get(1) == "leader elected" and all(lines.get(p) in (None, "no election needed") for p in (0, 2)), out
    ps = partitions_on(cluster, topic, controller)
    assert [ps[p].leader for p in range(3)] == [r[0] for r in assignment], ps
    code, out, err = sluice(bootstrap, "topic", "elect-leaders", topic)
    assert code == 0, (code, out, err)
    assert output_lines(out, topic) == {p: "no election needed" for p in range(3)}, out


@pytest.fixture
def acl_broker(tmp_path, request):
    """One broker with Kafka's ACL authorizer (test_acls' settings: User:ANONYMOUS on PLAINTEXT
    and User:admin are super users; alice logs in with SASL PLAIN and has what her ACLs give)."""
    b = new_broker(tmp_path)
    b.start()
    yield b
    forget_clients(b)
    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    b.stop(signal.SIGKILL if failed else signal.SIGTERM)
    if failed:
        print(f"\n--- sluiced log ---\n{b.log()}")


def as_user(broker, user, version, topic_partitions):
    """ElectLeaders on a connection of its own that logged in as `user` (SASL PLAIN)."""
    wire = KafkaWire(broker.sasl, user)
    with Conn(sock=wire.sock) as conn:
        return elect(conn, version, topic_partitions)


def test_elect_leaders_needs_alter_on_the_cluster(acl_broker):
    b = acl_broker
    create_topics(b, "guarded")
    assert metadata(b.bootstrap).controller >= 0
    for version in VERSIONS:
        check_answer(as_user(b, "alice", version, {"guarded": [0], "no-such-topic": [1]}), version,
                     {"guarded": {0: CLUSTER_AUTHORIZATION_FAILED}, "no-such-topic": {1: CLUSTER_AUTHORIZATION_FAILED}},
                     top_error=CLUSTER_AUTHORIZATION_FAILED)

    # DESCRIBE on the cluster is not enough; ALTER is.
    create_acls(admin_as(b), [acl(ResourceType.BROKER, CLUSTER, "User:alice", AclOperation.DESCRIBE)])
    settle(b, "alice")
    check_answer(as_user(b, "alice", 1, {"guarded": [0]}), 1, {"guarded": {0: CLUSTER_AUTHORIZATION_FAILED}},
                 top_error=CLUSTER_AUTHORIZATION_FAILED)
    create_acls(admin_as(b), [acl(ResourceType.BROKER, CLUSTER, "User:alice", AclOperation.ALTER)])
    settle(b, "alice")
    for version in VERSIONS:
        check_answer(as_user(b, "alice", version, {"guarded": [0], "no-such-topic": [1]}), version,
                     {"guarded": {0: ELECTION_NOT_NEEDED}, "no-such-topic": {1: UNKNOWN_TOPIC_OR_PARTITION}})
    # The PLAINTEXT listener's User:ANONYMOUS is a super user.
    check_answer(elect(b.bootstrap, 2, {"guarded": [0]}), 2, {"guarded": {0: ELECTION_NOT_NEEDED}})


def test_a_refused_election_of_every_partition_names_no_partition(acl_broker):
    """Kafka answers an unauthorized request for every partition (null topic_partitions) with
    the top-level error and an empty result array (the response schema: "or an empty array if
    the requester did not have permission and the request asks for all partitions"), so that
    it does not list the topics to someone who may not see them."""
    b = acl_broker
    create_topics(b, "guarded", "secret-names")
    for version in VERSIONS:
        check_answer(as_user(b, "alice", version, None), version, {}, top_error=CLUSTER_AUTHORIZATION_FAILED)

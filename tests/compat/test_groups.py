"""Consumer groups with real clients: partitions shared out one owner each, idle members,
a member killed mid-stream (its partitions move on, nothing is skipped), resuming from
committed offsets, and kafka-python's group consumer."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import SLUICE_CLI, Broker, wait_until

HERE = Path(__file__).resolve().parent


@pytest.fixture
def gbroker(tmp_path, request):
    # A short initial rebalance delay keeps the tests quick (Kafka's default is 3 s).
    b = Broker(tmp_path, ["group.initial.rebalance.delay.ms=300", "group.min.session.timeout.ms=1000"])
    b.start()
    yield b
    b.stop(signal.SIGKILL if getattr(request.node, "rep_call", None) and request.node.rep_call.failed else signal.SIGTERM)


def create(b, topic, partitions):
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def produce(b, topic, values):
    p = Producer({"bootstrap.servers": b.bootstrap})
    for v in values:
        p.produce(topic, key=str(v).encode(), value=str(v).encode())
    assert p.flush(30) == 0


def members(b, group, n):
    cs = [Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                    "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}) for _ in range(n)]
    for c in cs:
        c.subscribe(["shared"])
    return cs


def settle(consumers, expect_total, timeout_s=60, sink=None):
    """Polls every member until the assignments cover `expect_total` partitions, disjointly.
    Messages polled meanwhile go to `sink` (they count as consumed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.1)
            if sink is not None and m is not None and m.error() is None:
                sink.append(int(m.value()))
        assigned = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
        flat = [p for a in assigned for p in a]
        if len(flat) == expect_total and len(set(flat)) == expect_total:
            return assigned
    raise AssertionError(f"assignments did not settle: {[c.assignment() for c in consumers]}")


def test_three_members_share_six_partitions_one_owner_each(gbroker):
    create(gbroker, "shared", 6)
    produce(gbroker, "shared", range(600))
    cs = members(gbroker, "three", 3)
    seen = []
    assigned = settle(cs, 6, sink=seen)
    assert all(len(a) == 2 for a in assigned), assigned
    deadline = time.monotonic() + 60
    while len(seen) < 600 and time.monotonic() < deadline:
        for c in cs:
            m = c.poll(0.1)
            if m is not None and m.error() is None:
                seen.append(int(m.value()))
    assert sorted(seen) == list(range(600)), "each message once: one owner per partition"
    for c in cs:
        c.close()


def test_seven_members_on_six_partitions_leave_one_idle(gbroker):
    create(gbroker, "shared", 6)
    cs = members(gbroker, "seven", 7)
    assigned = settle(cs, 6)
    assert sorted(len(a) for a in assigned) == [0, 1, 1, 1, 1, 1, 1], assigned
    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    described = admin.describe_consumer_groups(["seven"])["seven"].result(30)
    assert len(described.members) == 7 and described.state.name == "STABLE"
    for c in cs:
        c.close()


def test_killed_member_hands_over_and_nothing_is_skipped(gbroker, tmp_path):
    create(gbroker, "shared", 6)
    outs = [tmp_path / f"member{i}.txt" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, str(HERE / "group_member.py"), gbroker.bootstrap, "killers", "shared", str(o), "90"])
             for o in outs]

    def consumed():
        return [line.split()[2] for o in outs if o.exists() for line in o.read_text().splitlines()]

    produce(gbroker, "shared", range(0, 1500))
    wait_until(lambda: len(set(consumed())) >= 300, timeout_s=60, what="members consuming")
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(10)
    produce(gbroker, "shared", range(1500, 3000))
    wait_until(lambda: set(map(int, consumed())) >= set(range(3000)), timeout_s=90, what="every message consumed")
    for p in procs[1:]:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    assert set(map(int, consumed())) == set(range(3000)), "at least once, none skipped"


def test_group_resumes_from_committed_offsets(gbroker):
    create(gbroker, "resume", 1)
    produce(gbroker, "resume", range(200))
    c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "resumer", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe(["resume"])
    got = []
    while len(got) < 100:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(int(m.value()))
    c.commit(asynchronous=False)
    c.close()
    assert got == list(range(100))
    c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "resumer", "auto.offset.reset": "earliest"})
    c.subscribe(["resume"])
    m = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            break
    assert m is not None and int(m.value()) == 100, "continues after the committed offset"
    c.close()


def test_kafka_python_group_consumer(gbroker):
    from kafka import KafkaConsumer
    create(gbroker, "kp-group", 3)
    produce(gbroker, "kp-group", range(300))
    c = KafkaConsumer("kp-group", bootstrap_servers=gbroker.bootstrap, group_id="kpg", auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=20000, session_timeout_ms=6000, heartbeat_interval_ms=500)
    got = set()
    for m in c:
        got.add(int(m.value))
        if len(got) == 300:
            break
    c.commit()
    assert got == set(range(300))
    committed = {tp.partition: c.committed(tp) for tp in c.assignment()}
    c.close()
    assert sum(committed.values()) == 300


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_committed_offsets_survive_a_broker_restart(gbroker, sig):
    create(gbroker, "durable-offsets", 2)
    produce(gbroker, "durable-offsets", range(100))
    c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "survivor", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe(["durable-offsets"])
    got = 0
    while got < 60:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got += 1
    c.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in c.committed(c.assignment(), timeout=30)}
    c.close()
    assert sum(committed.values()) == 60
    gbroker.stop(sig)
    gbroker.start()
    c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "survivor"})
    from confluent_kafka import TopicPartition
    after = c.committed([TopicPartition("durable-offsets", p) for p in range(2)], timeout=30)
    assert {tp.partition: tp.offset for tp in after} == committed
    c.close()


def run_cli(b, *args, expect=0):
    sluice_bin = SLUICE_CLI
    r = subprocess.run([sluice_bin, "-b", b.bootstrap, *args], capture_output=True, timeout=120)
    assert r.returncode == expect, (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode(), r.stderr.decode()


def test_cli_group_list_describe_lag_reset_and_delete(gbroker):
    create(gbroker, "lagging", 1)
    produce(gbroker, "lagging", range(100))
    c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "laggards", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "client.id": "lag-client"})
    c.subscribe(["lagging"])
    got = 0
    while got < 30:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got += 1
    c.commit(asynchronous=False)
    out, _ = run_cli(gbroker, "group", "list")
    assert ["laggards", "Stable", "consumer", "0"] in [line.split() for line in out.splitlines()], out
    out, _ = run_cli(gbroker, "group", "describe", "laggards")
    assert "group laggards: Stable (1 members" in out and "lag-client" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("lagging")]
    assert len(rows) == 1
    assert (rows[0][2], rows[0][3], rows[0][4], rows[0][5]) == ("30", "100", "70", "lag-client"), "committed, log end, lag, owner"
    # Resetting needs the group to be inactive (checked for a dry run too, as Kafka's tool does).
    _, err = run_cli(gbroker, "group", "reset-offsets", "laggards", "-t", "lagging", "--to-earliest", expect=1)
    assert "NON_EMPTY_GROUP" in err and "active members" in err
    _, err = run_cli(gbroker, "group", "delete", "laggards", expect=1)
    assert "NON_EMPTY_GROUP" in err
    c.close()
    wait_until(lambda: ["laggards", "Empty", "consumer", "0"] in map(str.split, run_cli(gbroker, "group", "list")[0].splitlines()),
               what="group empty after close")
    run_cli(gbroker, "group", "reset-offsets", "laggards", "-t", "lagging", "--to-offset", "10", "--execute")
    out, _ = run_cli(gbroker, "group", "describe", "laggards")
    rows = [line.split() for line in out.splitlines() if line.startswith("lagging")]
    assert [(r[2], r[4]) for r in rows] == [("10", "90")]
    run_cli(gbroker, "group", "delete", "laggards")
    _, err = run_cli(gbroker, "group", "describe", "laggards", expect=1)
    assert "GROUP_ID_NOT_FOUND" in err


def test_sluice_consume_with_a_group_resumes_where_it_committed(gbroker):
    create(gbroker, "cg", 2)
    produce(gbroker, "cg", range(100))
    first, _ = run_cli(gbroker, "consume", "-t", "cg", "-g", "cli-group", "-o", "beginning", "-c", "40")
    second, _ = run_cli(gbroker, "consume", "-t", "cg", "-g", "cli-group", "-o", "beginning", "-e")
    got = [int(v) for v in first.split()] + [int(v) for v in second.split()]
    assert len(first.split()) == 40
    assert sorted(got) == list(range(100)), "every record once across the two runs"
    out, _ = run_cli(gbroker, "group", "describe", "cli-group")
    rows = [line.split() for line in out.splitlines() if line.startswith("cg ")]
    assert len(rows) == 2 and all(r[4] == "0" for r in rows), out


def test_group_membership_survives_a_broker_restart(gbroker):
    create(gbroker, "sticky", 2)
    c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "persisted", "auto.offset.reset": "earliest",
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    c.subscribe(["sticky"])
    wait_until(lambda: c.poll(0.2) is None and len(c.assignment()) == 2, timeout_s=60, what="assignment")
    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    before = admin.describe_consumer_groups(["persisted"])["persisted"].result(30)
    gbroker.stop(signal.SIGTERM)
    gbroker.start()
    # Keep polling so the member reconnects and heartbeats against the restarted broker.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        c.poll(0.2)
    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    after = admin.describe_consumer_groups(["persisted"])["persisted"].result(30)
    assert after.state.name == "STABLE"
    assert [m.member_id for m in after.members] == [m.member_id for m in before.members], "the same member, no rebalance"
    c.close()


def test_a_restarted_static_leader_rejoins_without_a_rebalance(gbroker):
    """KIP-345/KIP-814 with librdkafka: static members (group.instance.id) keep their places
    across a restart within the session timeout; when the restarted one led the group, the group
    stays Stable and the other member's assignment is never revoked."""
    create(gbroker, "static", 4)
    revoked = []

    def static_member(instance, on_revoke=None):
        c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "statics", "group.instance.id": instance,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 30000,
                      "heartbeat.interval.ms": 500})
        c.subscribe(["static"], on_revoke=on_revoke or (lambda c, ps: None))
        return c

    leader = static_member("pod-a")
    settle([leader], 4)
    follower = static_member("pod-b", on_revoke=lambda c, ps: revoked.append([p.partition for p in ps]))

    def both_assigned():
        settle([leader, follower], 4)
        return all(c.assignment() for c in (leader, follower))

    wait_until(both_assigned, timeout_s=60, what="both static members assigned")
    mine = sorted(tp.partition for tp in follower.assignment())
    revoked.clear()
    # pod-a joined first and led every generation since. It restarts: a static member leaves no
    # LeaveGroup behind on close, and the new process joins with the same instance id.
    leader.close()
    leader = static_member("pod-a")
    wait_until(both_assigned, timeout_s=60, what="the restarted static member assigned again")
    # The follower keeps polling for a while: no revocation arrives.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        follower.poll(0.2)
        leader.poll(0.2)
    assert revoked == [], f"the follower's partitions were revoked: {revoked}"
    assert sorted(tp.partition for tp in follower.assignment()) == mine
    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    after = admin.describe_consumer_groups(["statics"])["statics"].result(30)
    assert after.state.name == "STABLE" and len(after.members) == 2
    leader.close()
    follower.close()

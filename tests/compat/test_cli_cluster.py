"""The `sluice` group commands on three brokers, bootstrapped from one of them: each group is
coordinated by the leader of its `__consumer_offsets` partition, so groups land on different
brokers, and every group command must find and follow its group's coordinator (FindCoordinator)
rather than ask whichever broker it happens to be connected to. Which broker coordinates each
group is checked independently, with confluent-kafka's admin client.

`group list` asks every broker (each lists only the groups it coordinates) and merges; a broker
that cannot be reached is named on stderr and the command fails after printing the rest."""

import json
import signal
import subprocess

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient

from test_cluster import SLUICE_CLI, Cluster

# A group's first join waits group.initial.rebalance.delay.ms (3 s by default) for more members.
CLUSTER_OVERRIDES = ["group.initial.rebalance.delay.ms=200"]
# Long enough that a killed broker stays registered (and in Metadata) while `group list` runs.
SESSION_MS = 30_000
# Groups wanted, and how many names may be tried to find coordinators on two brokers or more.
GROUPS = 6
MAX_GROUP_CANDIDATES = 30
TOPIC, PARTITIONS, RECORDS, MORE = "orders", 3, 30, 6


class GroupCluster(Cluster):
    """test_cluster's three brokers on three keeper nodes, with a short first-rebalance delay."""

    def _broker(self, i, port, connect):
        node = super()._broker(i, port, connect)
        node.args += [arg for o in CLUSTER_OVERRIDES for arg in ("-o", o)]
        return node


@pytest.fixture
def group_cluster(tmp_path, request):
    c = GroupCluster(tmp_path, session_ms=SESSION_MS)
    try:
        c.start()
    except BaseException:
        c.stop(True)
        raise
    yield c
    c.stop(getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed)


def sluice(bootstrap, *args, stdin=None, expect=0):
    r = subprocess.run([SLUICE_CLI, "-b", bootstrap, *args], input=stdin, capture_output=True, timeout=120)
    assert r.returncode == expect, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout.decode(), r.stderr.decode()


def coordinator_of(admin, group):
    """The broker coordinating `group`, as confluent-kafka (librdkafka) finds it."""
    [description] = admin.describe_consumer_groups([group], request_timeout=30).values()
    return description.result(30).coordinator.id


def committed(bootstrap, group):
    """The group's committed offsets per partition, read by confluent-kafka."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def test_group_commands_follow_each_groups_coordinator_from_one_bootstrap_broker(group_cluster):
    cluster = group_cluster
    bootstrap = cluster.addresses[1]  # the only broker the CLI is told about
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    cluster.create_topic(TOPIC, PARTITIONS)
    lines = "".join(f"k{i}:v{i}\n" for i in range(RECORDS)).encode()
    sluice(bootstrap, "produce", "-t", TOPIC, "-K", ":", "--acks", "all", stdin=lines)

    # Consume as new groups until enough of them, on at least two coordinators, exist.
    coordinators = {}
    for i in range(MAX_GROUP_CANDIDATES):
        if len(coordinators) >= GROUPS and len(set(coordinators.values())) >= 2:
            break
        group = f"cli-group-{i}"
        out, _ = sluice(bootstrap, "consume", "-t", TOPIC, "-g", group, "-o", "beginning", "-e")
        assert sorted(out.splitlines()) == sorted(f"v{i}" for i in range(RECORDS)), group
        coordinators[group] = coordinator_of(admin, group)
    assert len(set(coordinators.values())) >= 2, coordinators
    assert set(coordinators.values()) - {1}, "some group is coordinated by a broker other than the bootstrap one"
    for group in coordinators:
        assert sum(committed(cluster.bootstrap, group).values()) == RECORDS, group

    more = "".join(f"later{i}\n" for i in range(MORE)).encode()
    sluice(bootstrap, "produce", "-t", TOPIC, "--acks", "all", stdin=more)

    listed = json.loads(sluice(bootstrap, "group", "list", "--json")[0])
    assert {g["group"]: (g["state"], g["coordinator"]) for g in listed} == {
        g: ("Empty", c) for g, c in coordinators.items()}

    for group, coordinator in coordinators.items():
        described = json.loads(sluice(bootstrap, "group", "describe", group, "--json")[0])
        assert described["coordinator"] == coordinator and described["state"] == "Empty", described
        assert sum(o["committed"] for o in described["offsets"]) == RECORDS, described
        assert described["total_lag"] == MORE, described
        out, _ = sluice(bootstrap, "group", "describe", group)
        assert out.splitlines()[-1] == f"total lag: {MORE}", out

        out, err = sluice(bootstrap, "group", "reset-offsets", group, "-t", TOPIC, "--to-earliest", "--execute")
        assert len(out.splitlines()) == 1 + PARTITIONS and "dry run" not in err, (out, err)
        assert committed(cluster.bootstrap, group) == {p: 0 for p in range(PARTITIONS)}, group
        described = json.loads(sluice(bootstrap, "group", "describe", group, "--json")[0])
        assert described["total_lag"] == RECORDS + MORE, described

        assert sluice(bootstrap, "group", "delete", group)[0] == f"deleted group {group}\n"
        [description] = admin.describe_consumer_groups([group], request_timeout=30).values()
        assert description.result(30).state == ConsumerGroupState.DEAD, group
    assert json.loads(sluice(bootstrap, "group", "list", "--json")[0]) == []

    # A broker that cannot be reached: `group list` prints what the others coordinate, names
    # the missing broker, and fails. (It stays in Metadata for the session timeout.)
    survivor = "cli-survivor"
    sluice(bootstrap, "consume", "-t", TOPIC, "-g", survivor, "-o", "beginning", "-e")
    holder = coordinator_of(admin, survivor)
    victim = next(i for i in (3, 2) if i != holder)
    cluster.brokers[victim].kill(signal.SIGKILL)
    out, err = sluice(bootstrap, "group", "list", expect=1)
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows == [[survivor, "Empty", "consumer", str(holder)]], out
    assert f"warning: broker {victim} ({cluster.addresses[victim]}) did not list its groups" in err, err
    assert "error: the groups of 1 broker(s) are missing from the list above" in err, err

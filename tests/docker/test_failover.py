"""Failover on the compose cluster, driven from the host with real clients: a leader killed,
paused (a zombie) and cut off the network under an acks=all producer, and a keeper node killed
and restarted. After each: every acknowledged record is read back, and the replicas of the
partition hold byte-identical logs (the old leader truncated whatever it wrote on its own)."""

import os
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import SESSION_MS
from kafka_support import NumberedProducer, raw_produce
from waiting import wait_until

SLUICE_CLI = os.environ.get("SLUICE_CLI")
# A failover takes the session timeout plus the election and the clients' metadata refresh.
FAILOVER_BOUND_S = SESSION_MS / 1000 + 30
# Requests to a dead, paused or cut-off leader time out soon (librdkafka's own bound on a request
# is socket.timeout.ms, 60 s by default), so the producer refreshes its metadata and moves on.
FAST_RETRY = {"request.timeout.ms": 5000, "socket.timeout.ms": 5000}
NOT_ACKNOWLEDGED = {6, 7, 19, 20}  # NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS(_AFTER_APPEND)


def read_values(bootstrap, topic, partitions, timeout_s=30):
    """Every value in the topic, read from the leaders up to their end offsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check", "enable.auto.commit": False})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        seen, deadline = {}, time.monotonic() + timeout_s
        while len(seen) < sum(ends.values()) and time.monotonic() < deadline:
            for m in consumer.consume(1000, timeout=0.5):
                if m.error() is None:
                    seen[(m.partition(), m.offset())] = m.value()
        return list(seen.values())
    finally:
        consumer.close()


def leader_of(cluster, topic, p, bootstrap=None):
    part = cluster.partitions(topic, bootstrap).get(p)
    return part.leader if part is not None else None


def test_cluster_up_from_clean_serves_host_clients(cluster, tmp_path):
    # Every broker advertises its host port to host clients.
    md = cluster.admin().list_topics(timeout=10)
    assert {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()} == {i: cluster.address(i) for i in (1, 2, 3)}
    cluster.create_topic("hello", 3)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for n in range(300):
        producer.produce("hello", value=str(n).encode(), partition=n % 3)
    assert producer.flush(30) == 0
    assert sorted(int(v) for v in read_values(cluster.bootstrap, "hello", 3)) == list(range(300))

    # kcat and the sluice CLI from the host.
    subprocess.run(["kcat", "-P", "-b", cluster.address(2), "-t", "hello", "-p", "0", "-X", "acks=all"],
                   input=b"from-kcat\n", check=True, timeout=60)
    if SLUICE_CLI:
        subprocess.run([SLUICE_CLI, "-b", cluster.address(3), "produce", "-t", "hello", "--acks", "all"],
                       input=b"from-sluice\n", check=True, timeout=60)
    out = subprocess.run(["kcat", "-C", "-b", cluster.address(1), "-t", "hello", "-e", "-q", "-f", "%s\n"],
                         capture_output=True, check=True, timeout=60).stdout.decode().split()
    assert "from-kcat" in out and len(out) == 300 + 1 + (1 if SLUICE_CLI else 0)
    if SLUICE_CLI:
        assert "from-sluice" in out

    # Inside the network, the CLI in a container sees the cluster on the internal listener.
    info = cluster.exec("broker1", "cluster", "info")
    assert all(f"broker{i}:9092" in info for i in (1, 2, 3)), info
    assert "under-replicated" not in info and "offline" not in info, info
    # Not root, and healthy.
    for service in ("keeper1", "broker1"):
        cid = cluster.container(service)
        assert subprocess.run(["docker", "inspect", "-f", "{{.Config.User}}", cid], capture_output=True,
                              text=True, check=True).stdout.strip() == "10001:10001"
    assert cluster.exec("keeper2", "health", "--keeper", "127.0.0.1:2181").startswith("ok: ")


def test_leader_killed_under_acks_all_fails_over_and_loses_nothing(cluster, tmp_path):
    cluster.create_topic("orders", 3)
    with NumberedProducer(cluster.bootstrap, "orders", 3, rate=200, **FAST_RETRY) as stream:
        stream.wait_for_acks(200, "before the kill")
        victim = leader_of(cluster, "orders", 0)
        survivors = ",".join(cluster.address(i) for i in (1, 2, 3) if i != victim)
        started = time.monotonic()
        cluster.kill(f"broker{victim}")
        killed = time.monotonic()
        wait_until(lambda: leader_of(cluster, "orders", 0, survivors) not in (None, -1, victim),
                   timeout_s=FAILOVER_BOUND_S, interval_s=0.1, what="metadata naming a new leader")
        print(f"FAILOVER docker kill of the leader: new leader in metadata {time.monotonic() - started:.2f}s after "
              f"`docker kill` (which took {killed - started:.2f}s to see the container exit; session timeout "
              f"{SESSION_MS / 1000}s)")
        stream.wait_for_failover([0], killed, f"killing broker{victim}", FAILOVER_BOUND_S)
        stream.wait_for_acks(200, "after the failover")
        cluster.start(f"broker{victim}")
        wait_until(lambda: [len(p.isrs) for p in cluster.partitions("orders").values()] == [3, 3, 3], timeout_s=90,
                   interval_s=0.5, what=f"broker{victim} back in every ISR")
        stream.wait_for_acks(100, "with the old leader back")
    stream.assert_all_read_back(cluster.bootstrap)
    for p in range(3):
        cluster.wait_for_identical_replicas("orders", p, tmp_path)


def test_paused_leader_is_fenced_and_rejoins_as_follower(cluster, tmp_path):
    cluster.create_topic("zombie", 1)
    with NumberedProducer(cluster.bootstrap, "zombie", 1, rate=200, **FAST_RETRY) as stream:
        stream.wait_for_acks(200, "before the pause")
        zombie = leader_of(cluster, "zombie", 0)
        _, old_epoch, _ = cluster.partition_view(f"broker{zombie}", "zombie", 0)
        others = [i for i in (1, 2, 3) if i != zombie]
        majority = ",".join(cluster.address(i) for i in others)
        cluster.pause(f"broker{zombie}")
        paused = time.monotonic()
        try:
            wait_until(lambda: leader_of(cluster, "zombie", 0, majority) in others, timeout_s=FAILOVER_BOUND_S,
                       interval_s=0.2, what="a new leader while the old one is paused")
            stream.wait_for_failover([0], paused, f"pausing broker{zombie}", FAILOVER_BOUND_S)
            new_leader, new_epoch, _ = cluster.partition_view(f"broker{others[0]}", "zombie", 0)
            assert new_leader in others and new_epoch > old_epoch
        finally:
            cluster.unpause(f"broker{zombie}")
        # Straight after waking, the old leader still may believe it leads at the old epoch:
        # an acks=all write sent to it alone must not be acknowledged.
        error = raw_produce(cluster.address(zombie), zombie, "zombie", 0, b"zombie-write", -1, 5000)
        assert error in NOT_ACKNOWLEDGED, f"the zombie answered error {error} to an acks=all write"
        # It learns the new epoch, follows, and rejoins the ISR.
        wait_until(lambda: cluster.partition_view(f"broker{zombie}", "zombie", 0)[:2] == (new_leader, new_epoch)
                   and zombie in cluster.partition_view(f"broker{new_leader}", "zombie", 0)[2],
                   timeout_s=60, interval_s=0.5, what=f"broker{zombie} following the new leader, in the ISR")
        stream.wait_for_acks(100, "with the zombie following")
    stream.assert_all_read_back(cluster.bootstrap)
    assert b"zombie-write" not in read_values(cluster.bootstrap, "zombie", 1)
    cluster.wait_for_identical_replicas("zombie", 0, tmp_path)


def test_leader_cut_off_cannot_acknowledge_and_truncates_when_back(cluster, tmp_path):
    cluster.create_topic("split", 1)
    with NumberedProducer(cluster.bootstrap, "split", 1, rate=200, **FAST_RETRY) as stream:
        stream.wait_for_acks(200, "before the partition")
        isolated = leader_of(cluster, "split", 0)
        others = [i for i in (1, 2, 3) if i != isolated]
        majority = ",".join(cluster.address(i) for i in others)
        cluster.disconnect(f"broker{isolated}")
        try:
            # Host clients still reach the isolated broker (its own edge network). It still
            # believes it leads, so it takes an acks=1 write: a divergent record, which must be
            # truncated away once it is back.
            error = raw_produce(cluster.address(isolated), isolated, "split", 0, b"isolated-acks-1", 1, 3000)
            assert error == 0, f"the isolated leader refused an acks=1 write with error {error}"
            # But nothing it takes with acks=all can be acknowledged: no follower fetches from it.
            error = raw_produce(cluster.address(isolated), isolated, "split", 0, b"isolated-acks-all", -1, 3000)
            assert error in NOT_ACKNOWLEDGED, f"the isolated leader answered error {error} to an acks=all write"
            wait_until(lambda: leader_of(cluster, "split", 0, majority) in others, timeout_s=FAILOVER_BOUND_S,
                       interval_s=0.2, what="the majority electing a new leader")
            stream.wait_for_acks(200, "on the majority side", timeout_s=90)
        finally:
            cluster.connect(f"broker{isolated}")
        new_leader = leader_of(cluster, "split", 0, majority)
        wait_until(lambda: isolated in cluster.partition_view(f"broker{new_leader}", "split", 0)[2], timeout_s=90,
                   interval_s=0.5, what=f"broker{isolated} back in the ISR")
        stream.wait_for_acks(100, "after healing")
    stream.assert_all_read_back(cluster.bootstrap)
    values = read_values(cluster.bootstrap, "split", 1)
    assert b"isolated-acks-all" not in values and b"isolated-acks-1" not in values, "divergent records kept"
    cluster.wait_for_identical_replicas("split", 0, tmp_path)


def test_keeper_node_killed_and_restarted_cluster_keeps_working(cluster, tmp_path):
    cluster.create_topic("steady", 3)

    def keeper_mode(i):
        out = cluster.exec(f"keeper{i}", "health", "--keeper", "127.0.0.1:2181", check=False)
        return out.split(" serves as ")[-1].strip() if out.startswith("ok: ") else None

    with NumberedProducer(cluster.bootstrap, "steady", 3, rate=200, **FAST_RETRY) as stream:
        stream.wait_for_acks(200, "before the keeper kill")
        victim = next(i for i in (1, 2, 3) if keeper_mode(i) == "leader")
        cluster.kill(f"keeper{victim}")
        stream.wait_for_acks(300, f"with keeper{victim} dead", timeout_s=60)
        # Metadata writes go on too: a topic created and led while the node is down.
        cluster.create_topic("during", 2)
        cluster.start(f"keeper{victim}")
        wait_until(lambda: keeper_mode(victim) in ("leader", "follower"), timeout_s=60, interval_s=0.5,
                   what=f"keeper{victim} serving again")
        stream.wait_for_acks(200, f"with keeper{victim} back")
    stream.assert_all_read_back(cluster.bootstrap)
    assert sorted(cluster.partitions("during")) == [0, 1]

    # The restarted node caught up: served from its own copy, it lists the topic created while
    # it was down.
    def topics_on(i):
        out = cluster.exec(f"keeper{i}", "keeper", "ls", "/sluice/brokers/topics", check=False)
        return set(out.split())
    wait_until(lambda: all({"steady", "during"} <= topics_on(i) for i in (1, 2, 3)), timeout_s=30,
               interval_s=0.5, what="every keeper node, the restarted one too, holding the new topic")

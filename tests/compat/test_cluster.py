"""A three-broker cluster on a three-node keeper ensemble (or on Apache ZooKeeper 3.8), under a
confluent-kafka `acks=all` producer of uniquely numbered records, with failures injected:

- a partition leader killed with SIGKILL (on keeper and on Apache ZooKeeper): nothing
  acknowledged is lost, the time from its death to the new leader's first acknowledged write is
  measured, and the restarted broker rejoins the ISR with byte-identical replicas;
- the controller killed: a new one is elected and nothing acknowledged is lost;
- the keeper ensemble's leader killed, then restarted: clients keep working;
- a follower paused (SIGSTOP) past `replica.lag.time.max.ms` leaves the ISR, and rejoins it
  after SIGCONT;
- two of three brokers down: `acks=all` writes to a `min.insync.replicas=2` topic are refused
  with NOT_ENOUGH_REPLICAS, and accepted again once one broker returns;
- a fourth broker started at run time and a topic reassigned onto it with `sluice topic
  reassign` while producing: the moves complete and nothing acknowledged is lost."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, NoNodeError, SessionExpiredError

import conftest
from conftest import READY_TIMEOUT_S, SLUICED, free_ports, server_mode, server_stat, wait_until
from kafka_support import NumberedProducer, raw_produce

SLUICE_CLI = os.environ.get("SLUICE_CLI", str(Path(SLUICED).parent / "sluice"))

SESSION_MS = 6000
LAG_MS = 5000
# Apache ZooKeeper from Debian's `zookeeper` package: its jar names its dependencies in its
# manifest's Class-Path; slf4j-simple (from libslf4j-java, a dependency) logs to stderr.
ZOOKEEPER_JARS = [Path("/usr/share/java/zookeeper.jar"), Path("/usr/share/java/slf4j-simple.jar")]


class Node:
    """A sluiced process (keeper or broker) that can be killed, paused and restarted with the same
    arguments (so the same ports and data)."""

    log_name = "sluiced.log"

    def __init__(self, name, workdir: Path, args):
        self.name, self.workdir, self.args = name, workdir, args
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_path = workdir / "ready"
        self.proc = None

    def command(self):
        # The HTTP endpoint on a free port (its URL in the ready file); the node's own arguments
        # come after, so a test may set metrics.listener itself.
        return [SLUICED, "-o", "metrics.listener=127.0.0.1:0", *self.args, "--ready-file", str(self.ready_path)]

    def metrics_url(self):
        """The node's HTTP endpoint (http://host:port), from its ready file."""
        lines = self.ready_path.read_text().splitlines() if self.ready_path.exists() else []
        return next((line.strip() for line in lines if line.startswith("http://")), None)

    def ready(self):
        return self.ready_path.exists() and self.ready_path.read_text().strip() != ""

    def start(self):
        if self.ready_path.exists():
            self.ready_path.unlink()
        with open(self.workdir / self.log_name, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL)

        def up():
            assert self.proc.poll() is None, f"{self.name} exited with {self.proc.returncode}:\n{self.log()}"
            return self.ready()
        wait_until(up, timeout_s=READY_TIMEOUT_S, what=f"{self.name} to be ready")

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if not self.alive:
            return
        if sig != signal.SIGKILL:
            self.proc.send_signal(signal.SIGCONT)  # a paused process handles nothing else
        self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(60)
            raise AssertionError(f"{self.name} ignored {sig!r} for 60 s:\n{self.log()}") from None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def log(self):
        p = self.workdir / self.log_name
        return p.read_text(errors="replace")[-8000:] if p.exists() else ""


class ZooKeeperServer(Node):
    """A standalone Apache ZooKeeper server in the foreground, its data and log in `workdir`."""

    log_name = "zookeeper.log"

    def __init__(self, workdir: Path, port):
        super().__init__("zookeeper", workdir, [])
        self.address = f"127.0.0.1:{port}"
        self.config = workdir / "zoo.cfg"
        self.config.write_text("\n".join([
            "tickTime=500", f"dataDir={workdir / 'data'}", f"clientPort={port}", "clientPortAddress=127.0.0.1",
            "maxSessionTimeout=60000", "admin.enableServer=false", "4lw.commands.whitelist=*", ""]))

    def command(self):
        return [shutil.which("java"), "-cp", ":".join(str(j) for j in ZOOKEEPER_JARS),
                f"-Dzookeeper.log.dir={self.workdir}", "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(self.config)]

    def ready(self):
        return server_mode(self.address) == "standalone"


class Cluster:
    """Three brokers (ids 1-3) on three keeper nodes, or on one Apache ZooKeeper server."""

    def __init__(self, root: Path, coordinator="keeper", session_ms=SESSION_MS, broker_args=None, keeper_args=()):
        # Every port in one draw (held open together, so all differ): keeper client and peer
        # ports, then the brokers'. Separate draws could hand a broker a keeper's port.
        ports = free_ports(9)
        broker_ports = ports[6:]
        if coordinator == "keeper":
            servers = ",".join(f"{i}@127.0.0.1:{ports[2 + i]}" for i in (1, 2, 3))
            self.keepers = [Node(f"keeper{i}", root / f"keeper{i}", [
                "-o", "process.roles=keeper", "-o", f"keeper.id={i}", "-o", f"keeper.servers={servers}",
                "-o", "keeper.client.address=127.0.0.1", "-o", f"keeper.client.port={ports[i - 1]}",
                "-o", "keeper.tick.time.ms=500", "-o", "keeper.max.session.timeout.ms=60000",
                "-o", f"log.dirs={root / f'keeper{i}' / 'data'}", *keeper_args]) for i in (1, 2, 3)]
            for k, port in zip(self.keepers, ports):
                k.address = f"127.0.0.1:{port}"
            self.keeper_connect = ",".join(k.address for k in self.keepers)
            # Each broker lists the three nodes from a different one (keeper's client tries them
            # in order), so that every node holds one broker's session.
            connect = {i: ",".join(self.keepers[(i - 1 + j) % 3].address for j in range(3)) for i in (1, 2, 3)}
        else:
            zk = ZooKeeperServer(root / "zookeeper", ports[0])
            self.keepers = [zk]
            self.keeper_connect = f"{zk.address}/sluice"
            connect = {i: self.keeper_connect for i in (1, 2, 3)}
        # broker_args(i): more `-o key=value` arguments for broker i.
        self.root, self.session_ms, self.broker_args = root, session_ms, broker_args or (lambda i: [])
        self.brokers, self.addresses = {}, {}
        for i, port in zip((1, 2, 3), broker_ports):
            self.brokers[i] = self._broker(i, port, connect[i])
        self.bootstrap = ",".join(self.addresses.values())
        self.paused = set()
        self._zk = None

    def _broker(self, i, port, connect):
        self.addresses[i] = f"127.0.0.1:{port}"
        return Node(f"broker{i}", self.root / f"broker{i}", [
            "-o", f"broker.id={i}", "-o", "process.roles=broker", "-o", f"keeper.connect={connect}",
            "-o", f"listeners=PLAINTEXT://127.0.0.1:{port}", "-o", f"log.dirs={self.root / f'broker{i}' / 'data'}",
            "-o", f"zookeeper.session.timeout.ms={self.session_ms}", "-o", f"replica.lag.time.max.ms={LAG_MS}",
            # "{port}" in broker_args stands for this broker's PLAINTEXT port (to add listeners).
            *(a.replace("{port}", str(port)) for a in self.broker_args(i))])

    def add_broker(self):
        """Starts one more broker (the next id) at run time and waits until it is registered."""
        i = max(self.brokers) + 1
        self.brokers[i] = self._broker(i, free_ports(1)[0], self.keeper_connect)
        self.brokers[i].start()
        wait_until(lambda: i in self.metadata().brokers, timeout_s=60, what=f"broker {i} registered")
        return i

    def start(self):
        for n in self.keepers:
            n.start()
        if len(self.keepers) > 1:
            self.wait_for_settled_ensemble()
        for n in self.brokers.values():
            n.start()
        wait_until(lambda: len(self.metadata().brokers) == 3, timeout_s=60, what="three brokers registered")

    def wait_for_settled_ensemble(self):
        """Waits until one keeper leads and every node has applied the same write, so every node
        has heard from the leader: a node started just after the others elected one can still
        depose it when it first answers (its own vote in the same term ranks higher), leaving
        the ensemble without a leader for an election timeout, which the brokers starting then
        would see as connection loss."""
        # A write (brokers create this path anyway). It may itself meet the deposition described
        # above: kazoo then reports ConnectionLoss, and the write is tried again, as any
        # ZooKeeper client retries a lost connection.
        def written():
            try:
                self.zk().ensure_path("/brokers")
                return True
            except (ConnectionLoss, SessionExpiredError):
                return False
        wait_until(written, timeout_s=30, interval_s=0.2, what="a write accepted by the keeper ensemble")

        def settled():
            stats = [server_stat(k.address) for k in self.keepers]
            zxids = {s.get("Zxid") for s in stats}
            return [s.get("Mode") for s in stats].count("leader") == 1 and len(zxids) == 1 and "0x0" not in zxids
        wait_until(settled, timeout_s=30, interval_s=0.1, what="a settled keeper ensemble")

    def stop(self, failed):
        if self._zk is not None:
            self._zk.stop()
            self._zk.close()
        # Brokers first, so that a clean shutdown can still close its keeper session.
        for n in [*self.brokers.values(), *self.keepers]:
            n.kill(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            for n in [*self.keepers, *self.brokers.values()]:
                print(f"\n--- {n.name} log ({n.workdir / n.log_name}) ---\n{n.log()}")

    def metadata(self, topic=None):
        """Cluster metadata from a running, unpaused broker (a fresh client each time, so a
        paused broker's open connection cannot hold the request up)."""
        live = [a for i, a in self.addresses.items() if self.brokers[i].alive and i not in self.paused]
        return AdminClient({"bootstrap.servers": ",".join(live)}).list_topics(topic, timeout=10)

    def partitions(self, topic):
        return self.metadata(topic).topics[topic].partitions

    def create_topic(self, name, partitions, min_isr=2):
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=3,
                                      config={"min.insync.replicas": str(min_isr)})])[name].result(30)
        self.wait_for_isrs(name, lambda p: p.leader >= 0 and len(p.isrs) == 3, "leaders and full ISRs")

    def wait_for_isrs(self, topic, condition, what, timeout_s=30):
        def holds():
            try:
                parts = self.partitions(topic)
            except KafkaException:
                return False
            return bool(parts) and all(condition(p) for p in parts.values())
        wait_until(holds, timeout_s=timeout_s, interval_s=0.2, what=f"{what} on {topic}")

    def zk(self):
        """A kazoo client on the coordination service (inside the brokers' chroot)."""
        if self._zk is None:
            self._zk = KazooClient(hosts=self.keeper_connect, timeout=30,
                                   connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1})
            self._zk.start(timeout=30)
        return self._zk

    def sessions(self):
        """The keeper session holding each broker's registration."""
        return {i: self.zk().exists(f"/brokers/ids/{i}").ephemeralOwner for i in self.brokers}

    def controller(self):
        try:
            data, _ = self.zk().get("/controller")
        except NoNodeError:
            return None
        return json.loads(data)["brokerid"]


@pytest.fixture
def make_cluster(tmp_path, request):
    made = []

    def make(coordinator="keeper", session_ms=SESSION_MS, broker_args=None, keeper_args=()):
        if coordinator == "zookeeper" and (shutil.which("java") is None or not ZOOKEEPER_JARS[0].exists()):
            pytest.skip("Apache ZooKeeper (Debian package zookeeper) is not installed")
        c = Cluster(tmp_path, coordinator, session_ms, broker_args, keeper_args)
        made.append(c)
        c.start()
        return c
    yield make
    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    for c in made:
        c.stop(failed)


@pytest.fixture
def cluster(make_cluster):
    return make_cluster()


def failover_bound_s():
    """How long a failover may take: the session timeout plus a generous margin."""
    return SESSION_MS / 1000 + 10


def report_failover(what, seconds, record_property):
    line = f"FAILOVER {what}: {seconds:.2f}s (session timeout {SESSION_MS / 1000}s)"
    print(line)
    record_property(conftest.FIGURE, line)
    record_property(what, f"{seconds:.3f}")
    if os.environ.get("SLUICE_FAILOVER_REPORT"):
        with open(os.environ["SLUICE_FAILOVER_REPORT"], "a") as f:
            f.write(line + "\n")


def replica_digests(cluster, topic, p):
    out = []
    for b in cluster.brokers.values():
        files = sorted((b.workdir / "data" / f"{topic}-{p}").glob("*.log"))
        out.append(hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest())
    return out


@pytest.mark.parametrize("coordinator", ["keeper", "zookeeper"])
def test_leader_killed_under_acks_all_loses_nothing_and_replicas_converge(make_cluster, coordinator,
                                                                          record_property):
    cluster = make_cluster(coordinator)
    cluster.create_topic("orders", 3)
    victim = cluster.partitions("orders")[0].leader
    # The brokers keep their metadata where keeper.connect says (inside the chroot on ZooKeeper).
    assert sorted(cluster.zk().get_children("/brokers/ids")) == ["1", "2", "3"]
    with NumberedProducer(cluster.bootstrap, "orders", 3) as stream:
        stream.wait_for_acks(600, "before the kill")
        cluster.brokers[victim].kill()
        killed = time.monotonic()
        took = stream.wait_for_failover([0], killed, f"killing broker {victim}, leader of orders-0",
                                        failover_bound_s())
        report_failover(f"leader-death->write-accepted [{coordinator}]", took, record_property)
        stream.wait_for_acks(400, "after the failover")
    assert took <= failover_bound_s()
    new_leader = cluster.partitions("orders")[0].leader
    assert new_leader not in (victim, -1), new_leader
    stream.assert_all_read_back(cluster.bootstrap)

    # The killed broker comes back, catches up and rejoins every ISR; then all replicas agree.
    cluster.brokers[victim].start()
    cluster.wait_for_isrs("orders", lambda p: len(p.isrs) == 3, "the restarted broker back in every ISR", 60)
    for p in range(3):
        wait_until(lambda: len(set(replica_digests(cluster, "orders", p))) == 1, timeout_s=30,
                   what=f"replicas of orders-{p} identical")


def test_controller_killed_under_acks_all_elects_another_and_loses_nothing(cluster, record_property):
    cluster.create_topic("orders", 3)
    wait_until(lambda: cluster.controller() is not None, what="a controller")
    victim = cluster.controller()
    led = [p for p, m in cluster.partitions("orders").items() if m.leader == victim]
    with NumberedProducer(cluster.bootstrap, "orders", 3) as stream:
        stream.wait_for_acks(600, "before the kill")
        cluster.brokers[victim].kill()
        killed = time.monotonic()
        took = stream.wait_for_failover(range(3), killed, f"killing the controller, broker {victim}",
                                        failover_bound_s())
        report_failover(f"controller-death->writes-accepted-on-all-partitions (it led {led})", took,
                        record_property)
        wait_until(lambda: cluster.controller() not in (None, victim), timeout_s=failover_bound_s(),
                   what="a new controller")
        stream.wait_for_acks(400, "after the new controller")
    new_controller = cluster.controller()
    assert new_controller != victim and cluster.brokers[new_controller].alive
    wait_until(lambda: cluster.metadata().controller_id == new_controller, what="metadata naming the new controller")
    for p in led:
        assert cluster.partitions("orders")[p].leader not in (victim, -1)
    assert not stream.errors, stream.errors[:5]
    stream.assert_all_read_back(cluster.bootstrap)


def test_keeper_leader_killed_and_restarted_under_acks_all_loses_nothing(cluster, record_property):
    cluster.create_topic("orders", 3)

    def keeper_leader():
        return next((k for k in cluster.keepers if k.alive and server_mode(k.address) == "leader"), None)
    wait_until(lambda: keeper_leader() is not None, what="a keeper leader")
    victim = keeper_leader()
    sessions = cluster.sessions()
    with NumberedProducer(cluster.bootstrap, "orders", 3) as stream:
        stream.wait_for_acks(600, "before the kill")
        victim.kill()
        killed = time.monotonic()
        wait_until(lambda: keeper_leader() is not None, what="a new keeper leader among the survivors")
        stream.wait_for_acks(600, f"after killing the keeper leader {victim.name}")
        # Metadata changes go through the new keeper leader: a new topic gets leaders and ISRs.
        cluster.create_topic("created-after-keeper-failover", 3)
        took = stream.wait_for_failover(range(3), killed, "killing the keeper leader", failover_bound_s())
        report_failover("keeper-leader-death->writes-accepted-on-all-partitions", took, record_property)
        victim.start()
        wait_until(lambda: server_mode(victim.address) in ("follower", "leader"), what=f"{victim.name} back")
        stream.wait_for_acks(400, f"after restarting {victim.name}")
    assert not stream.errors, stream.errors[:5]
    stream.assert_all_read_back(cluster.bootstrap)
    # Every broker kept its keeper session (the one on the killed node moved to another node),
    # so none lost its registration, and there is a controller.
    assert cluster.sessions() == sessions
    assert len(cluster.metadata().brokers) == 3
    assert cluster.controller() in cluster.brokers


def test_follower_paused_past_replica_lag_leaves_the_isr_and_rejoins_after_sigcont(make_cluster):
    # A session timeout well above the pause, so it is the leader's lag check that drops the
    # follower, not its keeper session expiring.
    cluster = make_cluster(session_ms=30_000)
    cluster.create_topic("paused", 1)
    leader, controller = cluster.partitions("paused")[0].leader, cluster.controller()
    victim = next(i for i in cluster.brokers if i not in (leader, controller))
    with NumberedProducer(cluster.bootstrap, "paused", 1) as stream:
        stream.wait_for_acks(200, "before the pause")
        cluster.brokers[victim].pause()
        cluster.paused.add(victim)
        paused = time.monotonic()
        cluster.wait_for_isrs("paused", lambda p: victim not in p.isrs, f"paused broker {victim} out of the ISR",
                              timeout_s=LAG_MS / 1000 * 3)
        out_after = time.monotonic() - paused
        print(f"paused broker {victim} out of the ISR after {out_after:.2f}s (replica.lag.time.max.ms={LAG_MS})")
        # Still registered: its session lives on, the lag bound alone removed it.
        assert cluster.zk().exists(f"/brokers/ids/{victim}") is not None
        assert out_after >= LAG_MS / 1000 - 1, f"left the ISR after {out_after:.1f}s, before the lag bound"
        assert sorted(cluster.partitions("paused")[0].isrs) == sorted(i for i in cluster.brokers if i != victim)
        stream.wait_for_acks(200, "with the follower out of the ISR")
        cluster.brokers[victim].resume()
        cluster.paused.discard(victim)
        cluster.wait_for_isrs("paused", lambda p: victim in p.isrs, f"broker {victim} back in the ISR")
        stream.wait_for_acks(200, "after the follower rejoined")
    assert not stream.errors, stream.errors[:5]
    stream.assert_all_read_back(cluster.bootstrap)


def test_idempotent_producer_across_a_leader_kill_writes_each_record_once_in_order(cluster):
    """enable.idempotence: a batch whose acknowledgement died with the leader is sent again to
    the new leader, which already holds it (replicated before the kill) and must not store it
    twice; nor may a retry overtake a later batch."""
    cluster.create_topic("exactly", 3)
    victim = cluster.partitions("exactly")[0].leader
    with NumberedProducer(cluster.bootstrap, "exactly", 3, rate=1000, **{"enable.idempotence": True}) as stream:
        stream.wait_for_acks(1500, "before the kill")
        cluster.brokers[victim].kill()
        stream.wait_for_failover([0], time.monotonic(), f"killing broker {victim}", failover_bound_s())
        stream.wait_for_acks(1500, "after the failover")
        cluster.brokers[victim].start()
        stream.wait_for_acks(500, "with the old leader back")
    assert not stream.errors, f"delivery errors: {[str(e) for _, e in stream.errors[:5]]}"
    stream.assert_all_read_back(cluster.bootstrap)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "check-exactly",
                         "enable.auto.commit": False})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition("exactly", p), timeout=10)[1] for p in range(3)}
        consumer.assign([TopicPartition("exactly", p, 0) for p in range(3)])
        per_partition = {p: [] for p in range(3)}
        deadline = time.monotonic() + 60
        while sum(map(len, per_partition.values())) < sum(ends.values()) and time.monotonic() < deadline:
            for m in consumer.consume(1000, timeout=0.5):
                if m.error() is None:
                    per_partition[m.partition()].append(int(m.value()))
    finally:
        consumer.close()
    for p, values in per_partition.items():
        assert len(values) == ends[p], f"partition {p}: read {len(values)} of {ends[p]}"
        assert len(set(values)) == len(values), f"partition {p}: {len(values) - len(set(values))} duplicates"
        assert values == sorted(values), f"partition {p}: out of order"
        assert all(v % 3 == p for v in values), f"partition {p}: a record of another partition"


def test_a_retried_idempotent_batch_is_stored_once_even_by_a_new_leader(cluster):
    """The same idempotent batch sent again (a producer retrying after a lost answer) is
    answered with its first offset and stored once, by the leader that took it and, after that
    leader dies, by its successor, which learned the producer's sequence by replication. Gaps
    are refused with OUT_OF_ORDER_SEQUENCE_NUMBER."""
    cluster.create_topic("dedup", 1)
    leader = cluster.partitions("dedup")[0].leader
    first = [b"a", b"b", b"c"]

    def send(broker, values, sequence):
        return raw_produce(cluster.addresses[broker], broker, "dedup", 0, values, -1, 10_000,
                           producer=(4242, 0, sequence), full=True)

    assert send(leader, first, 0) == (0, 0)
    assert send(leader, first, 0) == (0, 0), "the retry is answered with the first offset"
    cluster.brokers[leader].kill()
    wait_until(lambda: cluster.partitions("dedup")[0].leader not in (leader, -1), timeout_s=failover_bound_s(),
               what="a new leader")
    successor = cluster.partitions("dedup")[0].leader
    assert send(successor, first, 0) == (0, 0), "the new leader knows the batch"
    assert send(successor, [b"d"], 3) == (0, 3)
    assert send(successor, [b"z"], 9)[0] == 45, "a gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER"
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "check-dedup", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition("dedup", 0, 0)])
        got, deadline = [], time.monotonic() + 30
        while len(got) < 4 and time.monotonic() < deadline:
            got += [m.value() for m in consumer.consume(100, timeout=0.5) if m.error() is None]
        assert got == [b"a", b"b", b"c", b"d"]
        assert consumer.get_watermark_offsets(TopicPartition("dedup", 0), timeout=10)[1] == 4
    finally:
        consumer.close()


def test_two_brokers_down_refuses_acks_all_with_not_enough_replicas_until_one_returns(cluster):
    cluster.create_topic("guarded", 3)
    wait_until(lambda: cluster.controller() is not None, what="a controller")
    survivor = cluster.controller()
    down = [i for i in cluster.brokers if i != survivor]
    for i in down:
        cluster.brokers[i].kill()
    cluster.wait_for_isrs("guarded", lambda p: p.leader == survivor and p.isrs == [survivor],
                          f"broker {survivor} alone leading every partition", timeout_s=failover_bound_s() + 10)

    refused = []
    producer = Producer({"bootstrap.servers": cluster.addresses[survivor], "acks": "all", "retries": 0,
                         "message.timeout.ms": 10000})
    for n in range(6):
        producer.produce("guarded", value=b"refused", partition=n % 3, on_delivery=lambda err, msg: refused.append(err))
    assert producer.flush(30) == 0
    assert len(refused) == 6 and all(e is not None for e in refused), refused
    codes = {e.code() for e in refused}
    print(f"acks=all with ISR [{survivor}] refused: {sorted(e.name() for e in refused)}")
    assert codes <= {KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND}, refused

    cluster.brokers[down[0]].start()
    cluster.wait_for_isrs("guarded", lambda p: len(p.isrs) == 2, f"broker {down[0]} back in every ISR", 60)
    with NumberedProducer(cluster.bootstrap, "guarded", 3) as stream:
        stream.wait_for_acks(300, "with two brokers in the ISR")
    assert not stream.errors, stream.errors[:5]
    stream.assert_all_read_back(cluster.bootstrap)


def test_a_fourth_broker_added_at_run_time_takes_over_replicas_by_reassignment_while_producing(cluster):
    """`sluice topic reassign` moves every partition of a topic onto a set including a broker
    started at run time, then raises one partition's replication factor to four, under a steady
    acks=all producer: the moves complete (the new broker in every replica set and ISR, the
    dropped replicas' logs gone), and nothing acknowledged is lost."""
    cluster.create_topic("moving", 3)
    with NumberedProducer(cluster.bootstrap, "moving", 3) as stream:
        stream.wait_for_acks(400, "before the new broker")
        new = cluster.add_broker()
        targets = {p: [new, 1 + (p + 1) % 3, 1 + (p + 2) % 3] for p in range(3)}
        moves = [f"--move={p}={','.join(map(str, r))}" for p, r in targets.items()]
        out = subprocess.run([SLUICE_CLI, "-b", cluster.bootstrap, "topic", "reassign", "moving", *moves,
                              "--wait", "--timeout", "120"], capture_output=True, text=True, timeout=150)
        assert out.returncode == 0, out.stderr
        assert "every reassignment of moving has completed" in out.stdout
        cluster.wait_for_isrs("moving", lambda p: sorted(p.replicas) == sorted(targets[p.id])
                              and sorted(p.isrs) == sorted(targets[p.id]), "the target replicas in sync")
        stream.wait_for_acks(400, "after the moves")
        # The replication factor changes the same way: partition 0 onto all four brokers.
        targets[0] = [new, 1, 2, 3]
        out = subprocess.run([SLUICE_CLI, "-b", cluster.bootstrap, "topic", "reassign", "moving",
                              "--move=0=" + ",".join(map(str, targets[0])), "--wait", "--timeout", "120"],
                             capture_output=True, text=True, timeout=150)
        assert out.returncode == 0, out.stderr
        cluster.wait_for_isrs("moving", lambda p: p.id != 0 or sorted(p.isrs) == [1, 2, 3, new],
                              "four replicas of moving-0 in sync")
        stream.wait_for_acks(200, "after the replication factor change")
    stream.assert_all_read_back(cluster.bootstrap)
    # Each partition left one of the original brokers, which deleted its replica.
    for p, replicas in targets.items():
        for b in set(cluster.brokers) - set(replicas):
            wait_until(lambda: not (cluster.brokers[b].workdir / "data" / f"moving-{p}").exists(),
                       timeout_s=30, what=f"broker {b} deleting moving-{p}")
    listed = subprocess.run([SLUICE_CLI, "-b", cluster.bootstrap, "topic", "reassignments"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "no reassignments in progress" in listed.stdout

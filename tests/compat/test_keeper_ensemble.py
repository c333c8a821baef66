"""A three-node keeper ensemble (keeper-only `sluiced` processes on loopback) driven by kazoo:
compare-and-set increments through every node while the Raft leader is killed with SIGKILL and
restarted (snapshots taken and logs purged meanwhile); no acknowledged increment is lost and the
nodes agree. A client killed with SIGKILL
loses its ephemeral node once its session times out, and not before."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (BadVersionError, ConnectionClosedError, ConnectionLoss, NodeExistsError,
                              NoNodeError, OperationTimeoutError, SessionExpiredError)

from conftest import SLUICE_CLI, SLUICED, four_letter_word, free_ports, server_mode

WAIT_S = 60
TICK_MS = 500


class KeeperNode:
    def __init__(self, workdir: Path, node_id, client_port, servers):
        self.workdir = workdir
        self.id = node_id
        self.address = f"127.0.0.1:{client_port}"
        self.args = [SLUICED, "-o", "process.roles=keeper", "-o", f"keeper.id={node_id}",
                     "-o", "metrics.listener=127.0.0.1:0",
                     "-o", f"keeper.servers={servers}", "-o", "keeper.client.address=127.0.0.1",
                     "-o", f"keeper.client.port={client_port}", "-o", f"keeper.tick.time.ms={TICK_MS}",
                     # Snapshots every 40 entries: the restarted leader, behind by more than the
                     # 20 kept in the log, is brought back with one.
                     "-o", "keeper.snap.count=40",
                     "-o", f"log.dirs={workdir / 'data'}"]
        self.proc = None

    def start(self):
        ready = self.workdir / "ready"
        if ready.exists():
            ready.unlink()
        log = open(self.workdir / "sluiced.log", "ab")
        self.proc = subprocess.Popen(self.args + ["--ready-file", str(ready)], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + WAIT_S
        while not ready.exists():
            assert self.proc.poll() is None, f"keeper {self.id} exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"keeper {self.id} not ready:\n{self.log()}"
            time.sleep(0.02)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=WAIT_S)

    def mode(self):
        return server_mode(self.address)

    def log(self):
        try:
            return (self.workdir / "sluiced.log").read_text(errors="replace")[-10000:]
        except FileNotFoundError:
            return ""


def three_nodes(tmp_path, extra_args=()):
    """Three keeper nodes (not started) and the peer ports they serve, in `keeper.servers` order."""
    ports = free_ports(6)
    servers = ",".join(f"{i + 1}@127.0.0.1:{ports[3 + i]}" for i in range(3))
    nodes = []
    for i in range(3):
        d = tmp_path / f"keeper{i + 1}"
        d.mkdir()
        node = KeeperNode(d, i + 1, ports[i], servers)
        node.args += list(extra_args)
        nodes.append(node)
    return nodes, ports[3:]


@pytest.fixture
def ensemble(tmp_path, request):
    nodes, _ = three_nodes(tmp_path)
    for n in nodes:
        n.start()
    yield nodes
    for n in nodes:
        n.kill()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        for n in nodes:
            print(f"--- keeper {n.id} log ---\n{n.log()}")


def wait_for(condition, what, bound=WAIT_S):
    deadline = time.monotonic() + bound
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {bound}s waiting for {what}"
        time.sleep(0.05)


def leader_of(nodes):
    return wait_for(lambda: next((n for n in nodes if n.mode() == "leader"), None), "a keeper leader")


def client(hosts, timeout=10.0):
    c = KazooClient(hosts=hosts, timeout=timeout, connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1})
    c.start(timeout=WAIT_S)
    return c


AMBIGUOUS = (ConnectionLoss, OperationTimeoutError, SessionExpiredError, ConnectionClosedError)


def retrying(call, stop_at):
    """Retries a read until it gets through (connection loss while the ensemble fails over)."""
    while True:
        try:
            return call()
        except AMBIGUOUS:
            assert time.monotonic() < stop_at, "the ensemble stayed unavailable"
            time.sleep(0.1)


def test_cas_increments_survive_killing_the_leader(ensemble):
    nodes = ensemble
    everyone = ",".join(n.address for n in nodes)
    setup = client(everyone)
    setup.create("/counter", b"0")
    setup.create("/incs")
    acked = []  # tags of increments whose success the client knows of
    lock = threading.Lock()
    stop = threading.Event()
    stop_at = time.monotonic() + 4 * WAIT_S
    errors = []

    def worker(wid):
        # Each worker starts on a different node and fails over to the others.
        hosts = ",".join(nodes[(wid + k) % 3].address for k in range(3))
        c = KazooClient(hosts=hosts, timeout=10.0, randomize_hosts=False,
                        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1})
        try:
            c.start(timeout=WAIT_S)
            seq = 0
            while not stop.is_set() and seq < 100_000:
                seq += 1
                tag = f"w{wid}-{seq}"
                data, stat = retrying(lambda: c.get("/counter"), stop_at)
                t = c.transaction()
                t.set_data("/counter", str(int(data) + 1).encode(), version=stat.version)
                t.create(f"/incs/{tag}")
                try:
                    results = t.commit()
                except AMBIGUOUS:
                    # Did it land? Its marker node says so once the ensemble answers again;
                    # sync first, so the read is not served from before a new leader settled
                    # what the old one left in flight.
                    def landed():
                        c.sync("/incs")
                        return c.exists(f"/incs/{tag}") is not None
                    if retrying(landed, stop_at):
                        with lock:
                            acked.append(tag)
                    continue
                if not any(isinstance(r, Exception) for r in results):
                    with lock:
                        acked.append(tag)
                else:
                    assert any(isinstance(r, BadVersionError) for r in results), results
        except Exception as e:  # surfaced below: a worker must not die silently
            errors.append(repr(e))
        finally:
            c.stop()
            c.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()

    def acked_count():
        with lock:
            return len(acked)

    wait_for(lambda: acked_count() >= 50 or errors, "increments before the failover")
    assert not errors, errors
    leader = leader_of(nodes)
    leader.kill()
    killed_at = acked_count()
    # The two survivors elect a leader and increments go on.
    wait_for(lambda: acked_count() >= killed_at + 50, "increments after killing the leader")
    leader.start()
    restarted_at = acked_count()
    wait_for(lambda: acked_count() >= restarted_at + 50, "increments after the restart")
    stop.set()
    for t in threads:
        t.join(timeout=WAIT_S)
        assert not t.is_alive(), "a worker did not stop"
    assert not errors, errors

    total = len(acked)
    assert len(set(acked)) == total
    setup.sync("/counter")
    value, _ = setup.get("/counter")
    assert int(value) == total, f"counter {int(value)} != {total} acknowledged increments"
    assert sorted(setup.get_children("/incs")) == sorted(acked)
    # Every node, the restarted one included, converges on the same value.
    for n in nodes:
        c = client(n.address)
        try:
            def same():
                c.sync("/counter")
                return c.get("/counter")[0] == value
            wait_for(same, f"keeper {n.id} to catch up")
        finally:
            c.stop()
            c.close()
    setup.stop()
    setup.close()


VICTIM = """
import sys, time
from kazoo.client import KazooClient
c = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[2]))
c.start(timeout=60)
c.create("/victims/v", b"", ephemeral=True, makepath=True)
print("ready", flush=True)
time.sleep(300)
"""


def test_a_killed_clients_ephemeral_node_goes_within_its_session_timeout(ensemble):
    nodes = ensemble
    leader = leader_of(nodes)
    follower = next(n for n in nodes if n is not leader)
    session_timeout_s = 4.0
    # The victim talks to a follower only: its pings reach the leader as forwarded touches.
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, follower.address, str(session_timeout_s)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout.readline().strip() == "ready"
        watcher = client(",".join(n.address for n in nodes))
        assert watcher.exists("/victims/v") is not None
        # Alive and pinging, it keeps its node past several timeouts.
        stop = threading.Event()
        stop.wait(2 * session_timeout_s)
        assert watcher.exists("/victims/v") is not None, "a live session's ephemeral node was deleted"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=WAIT_S)
        killed = time.monotonic()
        wait_for(lambda: watcher.exists("/victims/v") is None, "the killed client's ephemeral node to go")
        elapsed = time.monotonic() - killed
        # Expiry is checked every half tick, as ZooKeeper rounds deadlines up to its tick.
        assert elapsed <= session_timeout_s + 2 * TICK_MS / 1000, f"took {elapsed:.1f}s"
        watcher.stop()
        watcher.close()
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_a_node_without_a_quorum_says_it_is_not_serving(ensemble):
    """As ZooKeeper: `srvr` answers only while the node is part of a serving quorum, so a
    healthcheck (`sluice health --keeper`) fails on a node left alone."""
    leader = leader_of(ensemble)
    survivor = next(n for n in ensemble if n is not leader)
    health = [SLUICE_CLI, "health", "--keeper", survivor.address]
    out = subprocess.run(health, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"ok: {survivor.address} serves as follower", out
    for n in ensemble:
        if n is not survivor:
            n.kill()
    wait_for(lambda: "not currently serving requests" in four_letter_word(survivor.address, "srvr"),
             "the lone node to stop serving")
    out = subprocess.run(health, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "is not serving: This ZooKeeper instance is not currently serving" in out.stderr, out
    assert four_letter_word(survivor.address, "ruok") == "imok", "ruok only says the process is up"

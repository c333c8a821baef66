"""A node's life on its data directory: one process at a time (a second one exits non-zero having
changed nothing), a restart after SIGKILL that serves again at once (the crashed run's keeper
session is closed, not waited out), and a ready file given by a relative name."""

import hashlib
import os
import signal
import socket
import subprocess
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import SLUICED, Broker, free_ports, wait_until
from raw_kafka import MIB, connect, fetch_v4

# The bound on serving again after a SIGKILL restart; the crashed run's session timeout
# (zookeeper.session.timeout.ms, 18 s by default) is what it replaces.
RESTART_SERVING_BOUND_S = 5.0
SECOND_NODE_EXIT_BOUND_S = 30
# The broker's cap on draining connections at shutdown; a node held by one parked request to its
# end would take this long.
SHUTDOWN_DRAIN_CAP_S = 30


def digests(root):
    """Path -> sha256 of every file under `root`."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_second_node_on_a_running_nodes_data_dir_exits_and_changes_nothing(tmp_path):
    (tmp_path / "first").mkdir()
    first = Broker(tmp_path / "first")
    first.start()
    try:
        # Frozen, the running node changes nothing by itself while the second one tries.
        first.proc.send_signal(signal.SIGSTOP)
        before = digests(first.data)
        assert any(name.startswith("keeper") for name in before), "the keeper's Raft log lives here too"
        port, keeper_port = free_ports(2)
        second = subprocess.run(
            [SLUICED, "-o", f"listeners=PLAINTEXT://127.0.0.1:{port}", "-o", f"log.dirs={first.data}", "-o", "metrics.listener=127.0.0.1:0",
             "-o", "keeper.client.address=127.0.0.1", "-o", f"keeper.client.port={keeper_port}"],
            capture_output=True, text=True, timeout=SECOND_NODE_EXIT_BOUND_S)
        after = digests(first.data)
        first.proc.send_signal(signal.SIGCONT)
        assert second.returncode != 0
        assert str(first.data) in second.stderr, second.stderr
        assert f"pid {first.proc.pid}" in second.stderr, second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, f"one error line:\n{second.stderr}"
        assert after == before, "the second node touched the running node's files"
        # The first node never noticed.
        AdminClient({"bootstrap.servers": first.bootstrap}).list_topics(timeout=30)
    finally:
        first.proc.send_signal(signal.SIGCONT)
        first.stop()


def test_single_node_killed_serves_again_within_seconds(tmp_path, report_figure):
    node = Broker(tmp_path)
    node.start()
    try:
        p = Producer({"bootstrap.servers": node.bootstrap, "acks": "all"})
        p.produce("restarts", value=b"before")
        assert p.flush(30) == 0
        node.stop(signal.SIGKILL)

        started = time.monotonic()
        node.start()
        admin = AdminClient({"bootstrap.servers": node.bootstrap})

        def self_listed():
            md = admin.list_topics(timeout=5)
            return 0 in md.brokers and md.topics.get("restarts") is not None

        wait_until(self_listed, timeout_s=30, what="the restarted node listing itself as a live broker")
        delivered = []
        p = Producer({"bootstrap.servers": node.bootstrap, "acks": "all", "message.timeout.ms": 30000})
        p.produce("restarts", value=b"after", on_delivery=lambda err, msg: delivered.append(err))
        assert p.flush(35) == 0
        elapsed = time.monotonic() - started
        assert delivered == [None], delivered
        report_figure(f"RESTART single node after SIGKILL: itself in Metadata and an acks=all write {elapsed:.2f} s "
                      f"after the restart began (bound {RESTART_SERVING_BOUND_S} s)")
        assert elapsed < RESTART_SERVING_BOUND_S, (
            f"{elapsed:.1f} s from restart to an acks=all write; the crashed session was waited out?\n{node.log()}")
        assert "closed this broker's previous keeper session" in node.log()
    finally:
        node.stop()


def test_ready_file_by_a_relative_name(tmp_path):
    port, keeper_port = free_ports(2)
    proc = subprocess.Popen(
        [SLUICED, "-o", f"listeners=PLAINTEXT://127.0.0.1:{port}", "-o", "keeper.client.address=127.0.0.1", "-o", "metrics.listener=127.0.0.1:0",
         "-o", f"keeper.client.port={keeper_port}", "--ready-file", "ready"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (tmp_path / "ready").exists() or proc.poll() is not None, timeout_s=60,
                   what="the ready file")
        assert proc.poll() is None, proc.stderr.read()
        assert (tmp_path / "ready").read_text().splitlines()[0] == f"127.0.0.1:{port}"
        assert (tmp_path / "data").is_dir(), "data in ./data of the working directory"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def listening_addresses(port):
    """The local IPv4 addresses (dotted) with a TCP socket listening on `port`, from /proc."""
    found = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_a_single_nodes_keeper_listens_on_loopback_unless_told_otherwise(tmp_path):
    for extra, wanted in [([], "127.0.0.1"), (["-o", "keeper.client.address=0.0.0.0"], "0.0.0.0")]:
        workdir = tmp_path / wanted
        workdir.mkdir()
        port, keeper_port = free_ports(2)
        proc = subprocess.Popen(
            [SLUICED, "-o", f"listeners=PLAINTEXT://127.0.0.1:{port}", "-o", f"keeper.client.port={keeper_port}", "-o", "metrics.listener=127.0.0.1:0",
             *extra, "--ready-file", "ready"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            ready = workdir / "ready"
            wait_until(lambda: (ready.exists() and len(ready.read_text().splitlines()) >= 2) or proc.poll() is not None,
                       timeout_s=60, what="the ready file")
            assert proc.poll() is None, proc.stderr.read()
            assert listening_addresses(keeper_port) == [wanted]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0


def test_shutdown_drains_a_request_in_flight_from_a_gone_client_without_waiting_it_out(tmp_path):
    # A consumer parks a long poll (60 s, more bytes than will ever come) and half-closes its
    # socket, as a killed client's kernel does: the broker's side sits in CLOSE-WAIT with the
    # request in flight. A graceful shutdown drains it within its short in-flight bound and
    # exits cleanly, instead of waiting the whole drain cap (or the poll) out.
    b = Broker(tmp_path)
    b.start()
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("quiet", 1, 1)])["quiet"].result(30)
        s = connect(b.port)
        fetch_v4(s, "quiet", 0, 0, MIB, MIB, max_wait_ms=60_000, min_bytes=MIB)
        s.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        code = b.proc.wait(timeout=SHUTDOWN_DRAIN_CAP_S + 30)
        took = time.monotonic() - started
        assert code == 0, f"exit code {code} after SIGTERM:\n{b.log()}"
        assert took < SHUTDOWN_DRAIN_CAP_S - 10, f"shutdown took {took:.1f} s: the parked request held the drain"
        s.close()
    finally:
        b.stop(signal.SIGKILL)

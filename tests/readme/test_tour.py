"""The README's single-node path, followed as written, from the repository root: the Run
command (started in the background exactly as the README has it, `cargo run --release --bin
sluiced`), the install line that puts `sluice` on PATH, then every block of the five-minute tour
in the order written, against that node. Then the node is stopped with SIGTERM (it must exit 0,
as the README says) and the ./data it made is removed.

The commands are read from README.md (tests/support/readme.py), never copied here: a command
changed in the README is run as changed. What is checked afterwards (the effects the tour
claims: records, configs, offsets, the exactly-once copy) is written here and changes with the
tour's story.

Rules for `## Run` (see single_node_blocks): only the blocks before its first `###` subsection
are run; the first of them is the server. Blocks under `### On several hosts` are examples for
other machines (10.0.0.x) and are never run: this test talks to loopback only.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

import readme
from readme import run_python, run_sh
from waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
RUN, TOUR = "Run", "Five-minute tour"
KAFKA_PORT, KEEPER_PORT = 9092, 2181
BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
# The first `cargo run --release` compiles the broker and every dependency before it serves:
# about ten minutes on a 2-core CI machine. Readiness is a Kafka request answered; this bound
# only stops a build or a start that never finishes.
READY_TIMEOUT_S = 40 * 60
# The README's install lines build `sluice` and `sluiced` in release mode (mostly reusing the
# Run command's build).
INSTALL_TIMEOUT_S = 30 * 60
BLOCK_TIMEOUT_S = 10 * 60
STOP_TIMEOUT_S = 60
# Block languages in the tour: sh and python are run; text shows output and is not.
RUN_LANGS, SHOWN_LANGS = {"sh", "python"}, {"text"}


def single_node_blocks():
    """`## Run`'s single-node path: the blocks before its first `###` subsection. The first is
    the server, one command line started in the background as written; the others (the install
    putting `sluice` and `sluiced` on PATH) run to completion before the tour. Blocks under a
    subsection are documented examples for other hosts and are not run."""
    blocks = readme.blocks(RUN, subsection=None)
    assert blocks and all(b.lang == "sh" for b in blocks), \
        f"## Run must open with sh blocks: {[b.where() for b in blocks]}"
    server, *setup = blocks
    lines = [line for line in server.code.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) == 1, f"{server.where()}: the Run command must be one line (the test starts it in the background)"
    return lines[0], setup


def test_run_section_runs_only_loopback_commands():
    # The single-node blocks name no other host; the multi-host examples sit under a subsection,
    # which is what keeps them from being run.
    command, setup = single_node_blocks()
    assert "10.0.0." not in command + "".join(b.code for b in setup)
    examples = [b for b in readme.blocks(RUN) if b.subsection is not None]
    assert examples and all("10.0.0." in b.code for b in examples), [b.where() for b in examples]


def port_free(port):
    """No listener on 127.0.0.1:port (connections of an earlier run in TIME_WAIT do not count,
    as they do not for sluiced, which binds with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def kafka_answers(port):
    """True when an ApiVersions v0 request to 127.0.0.1:port gets an answer without error."""
    client_id = b"readme-test"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            head = s.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                return False
            answer = s.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
            return len(answer) >= 6 and struct.unpack(">ih", answer[:6]) == (7, 0)
    except OSError:
        return False


def keeper_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"srvr")
            return b"Mode: " in s.recv(4096)
    except OSError:
        return False


def log_tail(path, n=20000):
    try:
        return path.read_text(errors="replace")[-n:]
    except FileNotFoundError:
        return ""


def wait_for_node(node, log_path):
    def up():
        if node.poll() is not None:
            raise AssertionError(f"the Run command exited with {node.returncode} before serving:\n{log_tail(log_path)}")
        return kafka_answers(KAFKA_PORT) and keeper_answers(KEEPER_PORT)
    wait_until(up, timeout_s=READY_TIMEOUT_S, interval_s=1, what=f"the Run command to serve on {BOOTSTRAP}")
    # Serving requests is not yet being the controller of a registered broker: wait for that
    # too, as a reader would be a few seconds behind.
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    wait_until(lambda: admin.list_topics(timeout=5).controller_id >= 0, timeout_s=60, interval_s=0.2,
               what="a controller")


def records(topic, isolation="read_committed", timeout_s=60):
    """Partition -> [(offset, key, value, headers)] of everything in `topic` a consumer with
    this isolation level sees, read from offset 0 until every partition reports its end."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "readme-test-check", "enable.auto.commit": False,
                  "enable.partition.eof": True, "isolation.level": isolation})
    try:
        partitions = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        assert partitions, f"{topic} has no partitions"
        c.assign([TopicPartition(topic, p, 0) for p in partitions])
        seen, at_end = {p: [] for p in partitions}, set()
        deadline = time.monotonic() + timeout_s
        while at_end != set(partitions):
            assert time.monotonic() < deadline, f"reading {topic}: no end of partitions {set(partitions) - at_end}"
            for m in c.consume(500, timeout=0.5):
                if m.error() is None:
                    seen[m.partition()].append((m.offset(), m.key(), m.value(), m.headers() or []))
                    at_end.discard(m.partition())
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                else:
                    raise AssertionError(f"reading {topic}: {m.error()}")
        return seen
    finally:
        c.close()


def committed(group, topic, partitions):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False})
    try:
        return {tp.partition: tp.offset for tp in
                c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)}
    finally:
        c.close()


def topic_config(topic, key):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([resource])[resource].result(30)[key].value


def broker_config(key):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    resource = ConfigResource(ConfigResource.Type.BROKER, "0")
    entry = admin.describe_configs([resource])[resource].result(30)[key]
    return entry.value, entry.source


def check_tour_effects(printed):
    """What the tour says its commands do, checked on the node afterwards."""
    # kcat: two keyed records with their header.
    greetings = records("greetings")
    assert [(k, v, h) for _, k, v, h in greetings[0]] == \
        [(b"k1", b"hello", [("source", b"tour")]), (b"k2", b"world", [("source", b"tour")])]

    # The CLI: orders with three partitions, its retention altered, the two keyed records.
    orders = records("orders")
    assert sorted(orders) == [0, 1, 2]
    assert topic_config("orders", "retention.ms") == "3600000"
    # sluice config: a cluster-wide default, one broker's setting, a topic's codec.
    assert broker_config("log.retention.ms") == ("86400000", 3)  # DYNAMIC_DEFAULT_BROKER_CONFIG
    assert broker_config("message.max.bytes") == ("2097152", 2)  # DYNAMIC_BROKER_CONFIG
    assert topic_config("orders", "compression.type") == "zstd"
    everything = [r for p in orders for r in orders[p]]
    assert sorted((k, v) for _, k, v, h in everything if ("source", b"cli") in h) == \
        [(b"alice", b"order 1"), (b"bob", b"order 2")]
    # billing consumed as a group, then was reset to the earliest offsets.
    billing = committed("billing", "orders", 3)
    assert billing == {0: 0, 1: 0, 2: 0}, f"billing's offsets {billing} were not reset to the earliest by the tour"
    # perf produce wrote all its records.
    assert sum(len(rs) for rs in records("bench", "read_uncommitted", timeout_s=120).values()) == 100_000

    # confluent-kafka: ten records with their header, once each, on the existing topic.
    tour = sorted((k, v) for _, k, v, h in everything if ("source", b"tour") in h)
    assert tour == sorted((f"customer-{i % 3}".encode(), f"order {i}".encode()) for i in range(10))

    # The exactly-once copy: orders-copy (read_committed) holds exactly the records of orders
    # below the offsets the copier committed with its transaction: none lost, none twice.
    # (A partition it took nothing from has no committed offset: nothing of it was copied.)
    offsets = {p: max(o, 0) for p, o in committed("copier", "orders", 3).items()}
    assert sum(offsets.values()) > 0, f"the copier committed no offsets: {offsets}"
    source = Counter((k, v) for p in orders for o, k, v, _ in orders[p] if o < offsets[p])
    copy = Counter((k, v) for rs in records("orders-copy").values() for _, k, v, _ in rs)
    assert copy == source, f"orders-copy {copy} != the copied part of orders {source} (committed {offsets})"
    assert f"copied {sum(copy.values())} records" in printed


def test_single_node_tour_runs_as_written(tmp_path):
    data = ROOT / "data"
    assert not data.exists(), (f"{data} exists: the README's Run command keeps its data there, and this test "
                               "will not run it over (or delete) data it did not make; move it away")
    for port in (KAFKA_PORT, KEEPER_PORT):
        assert port_free(port), f"127.0.0.1:{port} is in use; the README's single node needs it"
    assert shutil.which("kcat"), "kcat is not installed (scripts/test installs Debian's kcat)"
    command, setup = single_node_blocks()
    tour = readme.blocks(TOUR)
    odd = [b.where() for b in tour if b.lang not in RUN_LANGS | SHOWN_LANGS]
    assert not odd, f"tour blocks the test cannot run (tag them sh or python, or text for output): {odd}"

    # The reader's environment: no SLUICE_* variables of the test runner's (sluiced and sluice
    # read them), and `cargo install` aimed at a directory of this test put first on PATH.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    env["CARGO_INSTALL_ROOT"] = str(tmp_path / "cargo-install")
    bin_dir = tmp_path / "cargo-install" / "bin"
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    # Servers listen on loopback only: sluiced's config from its environment narrows the
    # listeners' address, the command stays as written.
    node_env = {**env, "SLUICE_LISTENERS": f"PLAINTEXT://127.0.0.1:{KAFKA_PORT}",
                "SLUICE_KEEPER_CLIENT_ADDRESS": "127.0.0.1"}
    log_path = tmp_path / "run-command.log"
    node = None
    try:
        started = time.monotonic()
        with open(log_path, "wb") as log:
            # `exec`: cargo run in turn execs sluiced, so the process started here is the node.
            node = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=node_env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        wait_for_node(node, log_path)
        print(f"README: `{command}` served after {time.monotonic() - started:.0f}s")

        for block in setup:
            print(run_sh(block, env, ROOT, INSTALL_TIMEOUT_S))
        assert shutil.which("sluice", path=env["PATH"]) == str(bin_dir / "sluice"), \
            "the README's install lines did not put sluice in $CARGO_INSTALL_ROOT/bin"
        print(f"README: installed after {time.monotonic() - started:.0f}s")

        printed = []
        for step in readme.steps([b for b in tour if b.lang in RUN_LANGS]):
            if step[0].lang == "sh":
                printed.append(run_sh(step[0], env, ROOT, BLOCK_TIMEOUT_S))
            else:
                printed.append(run_python(step, sys.executable, env, ROOT, BLOCK_TIMEOUT_S))
            print(printed[-1])
        check_tour_effects("".join(printed))

        # "Stop it with Ctrl-C (or SIGTERM)": a clean exit.
        node.send_signal(signal.SIGTERM)
        code = node.wait(timeout=STOP_TIMEOUT_S)
        assert code == 0, f"the node exited with {code} after SIGTERM:\n{log_tail(log_path)}"
        assert (data / ".kafka_cleanshutdown").exists(), "no clean-shutdown marker in ./data after SIGTERM"
        print(f"README: Run and tour took {time.monotonic() - started:.0f}s")
    except BaseException:
        print(f"--- the Run command's output ---\n{log_tail(log_path)}")
        raise
    finally:
        if node is not None and node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)  # its own session: cargo and any rustc it started
            node.wait(timeout=STOP_TIMEOUT_S)
        shutil.rmtree(data, ignore_errors=True)  # made by this run: it was absent at the start

"""Driver for scripts/bench-fetch: see that script for what is measured."""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "support"))
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from raw_kafka import MIB, connect, fetch_v4, read_fetch_v4, rss_bytes  # noqa: E402

SLUICED, SIZE_MIB, ROUNDS, CLIENTS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
FETCH_MAX_BYTES = 50 * MIB  # the Java consumer's default fetch.max.bytes
TOPIC = "bench-fetch"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def start(workdir, sendfile):
    ready = os.path.join(workdir, "ready")
    if os.path.exists(ready):
        os.unlink(ready)
    log = open(os.path.join(workdir, "sluiced.log"), "ab")
    proc = subprocess.Popen([SLUICED, "-o", "metrics.listener=127.0.0.1:0", "-o", "listeners=PLAINTEXT://127.0.0.1:0", "-o", "keeper.client.address=127.0.0.1",
                             "-o", "keeper.client.port=0", "-o", f"log.dirs={workdir}/data",
                             "-o", f"fetch.sendfile.enable={str(sendfile).lower()}",
                             "-o", "fetch.response.memory.max.bytes=1073741824", "--ready-file", ready], stderr=log)
    deadline = time.time() + 60
    while not (os.path.exists(ready) and len(open(ready).read().splitlines()) >= 2):
        assert time.time() < deadline and proc.poll() is None, "sluiced did not start"
        time.sleep(0.05)
    bootstrap = open(ready).read().splitlines()[0].strip()
    return proc, bootstrap, int(bootstrap.rsplit(":", 1)[1])


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def read_all(port, end):
    """Fetches from offset 0 to `end` with raw Fetch v4; returns the record bytes received."""
    s = connect(port)
    s.settimeout(60)
    offset, total = 0, 0
    while offset < end:
        fetch_v4(s, TOPIC, 0, offset, FETCH_MAX_BYTES, FETCH_MAX_BYTES)
        error, records = read_fetch_v4(s)
        assert error == 0 and records, f"fetch at {offset}: error {error}"
        total += len(records)
        offset = last_offset(records) + 1
    s.close()
    return total


def last_offset(records):
    import struct
    pos, last = 0, -1
    while pos + 61 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break
        (delta,) = struct.unpack_from(">i", records, pos + 23)
        last = base + delta
        pos += 12 + length
    return last


def fill(workdir):
    proc, bootstrap, _ = start(workdir, True)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(30)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                             "compression.type": "none", "queue.buffering.max.kbytes": 1_048_576})
        value = os.urandom(16384)
        for _ in range(SIZE_MIB * 64):
            while True:
                try:
                    producer.produce(TOPIC, value, partition=0)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        assert producer.flush(300) == 0
        return SIZE_MIB * 64
    finally:
        stop(proc)


def measure(workdir, sendfile, end):
    proc, _, port = start(workdir, sendfile)
    try:
        read_all(port, min(end, 64))  # warm up: connections, page cache of the first segment
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        total = read_all(port, end)
        wall, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
        baseline = rss_bytes(proc.pid)
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_bytes(proc.pid) - baseline)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        readers = [threading.Thread(target=read_all, args=(port, end)) for _ in range(CLIENTS)]
        for r in readers:
            r.start()
        for r in readers:
            r.join()
        done.set()
        sampler.join()
        return total / MIB / wall, cpu / (total / 1e9), peak[0] / MIB
    finally:
        stop(proc)


def main():
    with tempfile.TemporaryDirectory() as workdir:
        end = fill(workdir)
        runs = {True: [], False: []}
        for _ in range(ROUNDS):
            for sendfile in (True, False):
                runs[sendfile].append(measure(workdir, sendfile, end))
        med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in runs.items()}
        print(f"\nfetch of a {SIZE_MIB} MiB partition (16 KiB records, {FETCH_MAX_BYTES // MIB} MiB per fetch), "
              f"median of {ROUNDS} runs each, alternating:")
        print(f"{'':32} {'sendfile':>12} {'copying':>12} {'ratio':>8}")
        names = ("MB/s, one client", "broker CPU-s per GB", f"peak RSS growth, {CLIENTS} clients (MiB)")
        for i, name in enumerate(names):
            a, b = med[True][i], med[False][i]
            print(f"{name:32} {a:12.2f} {b:12.2f} {a / b if b else float('nan'):8.2f}")


if __name__ == "__main__":
    main()

"""Driver for scripts/bench-e2e: end-to-end throughput of one release `sluiced` on loopback, each
client figure beside a raw pipe of the same bytes measured in the same run (issue 19's goal:
producing >= 0.8 of the raw socket-to-file pipe, consuming >= 0.9 of the raw file-to-socket pipe).

Usage: bench_e2e.py SLUICED COUNT SLUICE [--repeat N]

COUNT messages of 1 KiB (1023 printable bytes; kcat adds back the newline it splits on, so 1 KiB
per line of the message file). Every phase runs --repeat times (default 3), interleaved: each
repeat runs every phase once, and the baseline and the client figure it is compared with run
next to each other, in alternating order, so the same noise of this shared 2-core machine falls
on both sides of a ratio. Each phase's figure is its fastest run; the ratios are best / best, and
the ratio of every interleaved pair is printed beside it to show the spread.

Phases, in the order of one repeat:
- produce baseline: the message file sent with os.sendfile (the cheapest source there is, so the
  figure is the pipe's, not the sender's) into a loopback TCP socket; a separate Python process
  accepts it, reads with recv_into into one reusable 1 MiB buffer and appends every chunk to a
  file with os.write, as a broker appends to its segment (no fsync on either side). Timed from
  connect to the sink's report that it read end-of-stream: the sink process's start is outside.
- kcat produce: `kcat -P` reading the same message file from stdin into a fresh topic, acks=all,
  timed as a whole process (its start, metadata and connection included); the topic must then
  hold exactly COUNT records.
- consume baseline: the segment files kcat just filled, the very bytes sluiced sends from them
  (it fetches with sendfile), sent with os.sendfile into a loopback TCP socket whose other end, a
  separate Python process, reads with recv_into into one reusable 1 MiB buffer and drops them.
- kcat consume: `kcat -C -o beginning -c COUNT -e` of that topic, one short line per message
  (its offset) to a file, which must then hold COUNT lines; timed as a whole process. kcat's
  fixed cost (a whole `kcat -L` run: start, connect, metadata) is printed as well, since at small
  COUNT it is a visible share of the consume time.
- `sluice perf produce` of the same count and size into a fresh topic, timed like kcat.
- confluent-kafka (librdkafka through Python) producing and then consuming a fresh topic: the
  per-call overhead of the Python binding shows in these.

FOOTPRINT: each topic is deleted (and its files gone) as soon as its phases are done, and the
sink's file after each run, so at most about two message files' worth of data exist at a time.
On this virtual machine a write into page-cache memory the guest has not used before costs
several times the CPU of a write into recycled memory (most likely the host backing each page
on its first touch): with every topic kept, the third repeat's writes ran at a fifth of the
first's speed at five times the CPU per GB, baseline and broker alike. Recycling the same
memory, after one unmeasured warm-up write, keeps that out of the figures.

Rates are COUNT x 1 KiB over the elapsed time for every phase (the consume baseline sends the
segment bytes, a little more because of batch and record headers; its byte count is printed).
CPU-s per GB beside each rate is the serving side's: the sink or drain process's utime + stime
(getrusage, read by itself around the transfer) for a baseline, sluiced's from /proc/<pid>/stat
before and after the phase for a client phase, per GB of messages; the median over the repeats
(CPU time is steadier than wall time but /proc counts in 10 ms ticks).
"""

import argparse
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import bench_procs

SIZE = 1024
# One message = 1023 printable bytes + the newline kcat splits on: 1 KiB per line on the wire in.
PAYLOAD = os.urandom(SIZE).hex()[: SIZE - 1].encode()
LINE = PAYLOAD + b"\n"
# The receiving buffer of the baselines' sink and drain: large, so a recv rarely stops short of
# what the socket holds (loopback autotunes its buffers up to several MiB).
RECV_BUFFER_BYTES = 1 << 20
# Bounds on waiting, never the thing measured: a phase of 100k-1M messages takes seconds.
PHASE_TIMEOUT_S = 300
# A socket that moves no byte for this long means the other side is gone or stuck.
IO_IDLE_TIMEOUT_S = 60
# Topic creation, watermark and metadata requests.
REQUEST_TIMEOUT_S = 30
# Both consumers fetch with the same limits (librdkafka's fetch.max.bytes default, 10 MiB per
# partition), so kcat and the Python client differ only in the client.
FETCH_MAX_BYTES = 52_428_800
MAX_PARTITION_FETCH_BYTES = 10_485_760
# The producers batch alike: kcat, confluent-kafka.
PRODUCER_CONFIG = {"linger.ms": 5, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                   "acks": "all"}

# The baselines' receiving side, run as its own process so the driver's interpreter (and its
# garbage) is not in its way, as a broker is its own process. argv: the file to append to, or
# "-" to drop the bytes. It prints its port, accepts one connection, reads it to end-of-stream,
# then prints "<bytes> <cpu seconds of the transfer>". Blocking sockets with kernel timeouts
# (SO_RCVTIMEO): a Python socket timeout would add a poll() before every recv.
SINK = r"""
import os, resource, socket, struct, sys
path, buffer_bytes, idle_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
server.settimeout(idle_s)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if path != "-" else -1
print(server.getsockname()[1], flush=True)
conn, _ = server.accept()
conn.setblocking(True)
conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", idle_s, 0))
buf = bytearray(buffer_bytes)
view = memoryview(buf)
before = resource.getrusage(resource.RUSAGE_SELF)
total = 0
while n := conn.recv_into(buf):
    total += n
    if fd >= 0:
        done = 0
        while done < n:
            done += os.write(fd, view[done:n])
after = resource.getrusage(resource.RUSAGE_SELF)
print(total, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, flush=True)
if fd >= 0:
    os.close(fd)
"""


def parse_args():
    p = argparse.ArgumentParser(description="end-to-end produce/consume through one sluiced vs raw pipes")
    p.add_argument("sluiced", help="the sluiced binary")
    p.add_argument("count", type=int, help="messages per phase")
    p.add_argument("sluice", help="the sluice binary")
    p.add_argument("--repeat", type=int, default=3, help="runs of every phase, interleaved (default 3)")
    args = p.parse_args()
    assert args.count > 0 and args.repeat > 0, "count and repeat must be positive"
    return args


def read_line(proc, what):
    """One line of `proc`'s stdout (a pipe), waiting at most PHASE_TIMEOUT_S."""
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise SystemExit(f"{what}: no answer within {PHASE_TIMEOUT_S} s")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise SystemExit(f"{what}: exited early (status {proc.wait(PHASE_TIMEOUT_S)})")
        data += chunk
    return data.decode().split()


def raw_pipe(paths, sink_path, what):
    """Sends the files `paths` with os.sendfile through a loopback TCP connection to a SINK
    process writing to `sink_path` ("-": nowhere). Returns (seconds, bytes, sink CPU seconds)."""
    sink = subprocess.Popen([sys.executable, "-c", SINK, sink_path, str(RECV_BUFFER_BYTES), str(IO_IDLE_TIMEOUT_S)],
                            stdout=subprocess.PIPE, bufsize=0)
    try:
        port = int(read_line(sink, what)[0])
        start = time.perf_counter()
        client = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S)
        client.setblocking(True)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", IO_IDLE_TIMEOUT_S, 0))
        sent = 0
        for path in paths:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                position = 0
                while position < size:
                    n = os.sendfile(client.fileno(), f.fileno(), position, size - position)
                    assert n > 0, f"{what}: sendfile of {path} stopped at {position} of {size}"
                    position += n
                sent += size
        client.shutdown(socket.SHUT_WR)
        received, cpu_s = read_line(sink, what)
        elapsed = time.perf_counter() - start
        client.close()
        assert int(received) == sent, f"{what}: sink read {received} of {sent} bytes"
        assert sink.wait(PHASE_TIMEOUT_S) == 0, f"{what}: sink failed"
        return elapsed, sent, float(cpu_s)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait(PHASE_TIMEOUT_S)


class Phases:
    """Per phase, every run's (seconds, serving-side CPU seconds), in the order they ran."""

    def __init__(self):
        self.runs = {}

    def add(self, name, seconds, cpu_s):
        self.runs.setdefault(name, []).append((seconds, cpu_s))

    def best(self, name):
        return min(s for s, _ in self.runs[name])

    def pair_ratios(self, client, baseline):
        """Baseline time / client time of each repeat: the client's rate as a share of the baseline's."""
        return [b[0] / c[0] for b, c in zip(self.runs[baseline], self.runs[client])]


def create_topic(admin, topic):
    for f in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        f.result(REQUEST_TIMEOUT_S)


def delete_topic(admin, broker, topic):
    """Deletes `topic` and waits until its partition directory is gone, so its page cache is
    freed before the next phase writes (see FOOTPRINT in the module docstring) and the broker's
    deletion work falls between measured phases. A deletion that does not finish is reported,
    not fatal: the figures stay valid, only noisier."""
    for f in admin.delete_topics([topic]).values():
        f.result(REQUEST_TIMEOUT_S)
    data = os.path.join(broker.dir, "data")
    name = f"{topic}-0"
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    while any(n == name or n.startswith(name + ".") for n in os.listdir(data)):
        if time.monotonic() > deadline:
            print(f"warning: {topic} still on disk {REQUEST_TIMEOUT_S} s after its deletion", file=sys.stderr)
            return
        time.sleep(0.05)


def records_in(watermarks, topic):
    low, high = watermarks.get_watermark_offsets(TopicPartition(topic, 0), timeout=REQUEST_TIMEOUT_S)
    return high - low


def on_broker(broker, phases, name, run):
    """Runs `run()` and records its elapsed time with sluiced's CPU seconds over it."""
    cpu_before = broker.cpu_seconds()
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    phases.add(name, elapsed, broker.cpu_seconds() - cpu_before)


def python_produce(bootstrap, topic, count):
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONFIG})
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, PAYLOAD)
                break
            except BufferError:
                assert time.monotonic() < deadline, "confluent-kafka produce timed out"
                producer.poll(0.01)
    assert producer.flush(PHASE_TIMEOUT_S) == 0, "confluent-kafka produce: messages left unsent"


def python_consumer(bootstrap):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                     "fetch.max.bytes": FETCH_MAX_BYTES, "max.partition.fetch.bytes": MAX_PARTITION_FETCH_BYTES})


def python_consume(consumer, topic, count):
    """Reads `count` messages; closing the consumer is left out of the time: librdkafka's
    close waits for the fetch it left parked at the end of the partition (fetch.wait.max.ms)
    and then for its own one-second termination tick, which is no part of reading."""
    consumer.assign([TopicPartition(topic, 0, 0)])
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    n = 0
    while n < count:
        assert time.monotonic() < deadline, f"confluent-kafka consume: {n} of {count} in {PHASE_TIMEOUT_S} s"
        n += sum(1 for m in consumer.consume(10_000, 1.0) if m.error() is None)
    assert n == count, f"confluent-kafka consumed {n} of {count}"


def main():
    args = parse_args()
    count = args.count
    with tempfile.TemporaryDirectory() as workdir:
        messages = os.path.join(workdir, "messages.txt")
        with open(messages, "wb") as f:
            f.write(LINE * count)
        sink_file = os.path.join(workdir, "baseline.bin")
        offsets_file = os.path.join(workdir, "kcat-offsets.txt")
        broker = bench_procs.Proc(args.sluiced, workdir, "sluiced", [
            "listeners=PLAINTEXT://127.0.0.1:0", "keeper.client.address=127.0.0.1", "keeper.client.port=0"])
        phases = Phases()
        segment_bytes = 0
        try:
            bootstrap = broker.lines[0]
            admin = AdminClient({"bootstrap.servers": bootstrap})
            watermarks = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
            kcat_fetch = ["-X", f"fetch.max.bytes={FETCH_MAX_BYTES}",
                          "-X", f"max.partition.fetch.bytes={MAX_PARTITION_FETCH_BYTES}"]
            kcat_produce_config = [a for k, v in PRODUCER_CONFIG.items() for a in ("-X", f"{k}={v}")]
            # Warm-up, not measured: a first write of the message file's size through the sink
            # touches page-cache memory that the measured writes then reuse.
            raw_pipe([messages], sink_file, "warm-up")
            os.unlink(sink_file)
            for r in range(args.repeat):
                topics = {t: f"bench-{t}-{r}" for t in ("kcat", "sluice", "python")}
                for t in topics.values():
                    create_topic(admin, t)
                # Alternate which side of a pair goes first, so neither always runs on the other's
                # leftovers (dirty pages being written back, a warmer cache).
                baseline_first = r % 2 == 0

                def produce_baseline():
                    elapsed, _, cpu_s = raw_pipe([messages], sink_file, "produce baseline")
                    os.unlink(sink_file)
                    phases.add("produce baseline", elapsed, cpu_s)

                def kcat_produce():
                    with open(messages, "rb") as f:
                        subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topics["kcat"], *kcat_produce_config],
                                       stdin=f, check=True, timeout=PHASE_TIMEOUT_S)

                for step in ([produce_baseline, None] if baseline_first else [None, produce_baseline]):
                    if step is None:
                        on_broker(broker, phases, "kcat produce", kcat_produce)
                    else:
                        step()
                held = records_in(watermarks, topics["kcat"])
                assert held == count, f"kcat delivered {held} of {count}"

                segment_dir = os.path.join(broker.dir, "data", f"{topics['kcat']}-0")
                segments = sorted(os.path.join(segment_dir, n) for n in os.listdir(segment_dir) if n.endswith(".log"))

                def consume_baseline():
                    nonlocal segment_bytes
                    elapsed, segment_bytes, cpu_s = raw_pipe(segments, "-", "consume baseline")
                    phases.add("consume baseline", elapsed, cpu_s)

                def kcat_consume():
                    with open(offsets_file, "wb") as out:
                        subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topics["kcat"], "-p", "0",
                                        "-o", "beginning", "-c", str(count), "-e", "-q", "-f", "%o\\n", *kcat_fetch],
                                       stdout=out, check=True, timeout=PHASE_TIMEOUT_S)

                for step in ([consume_baseline, None] if baseline_first else [None, consume_baseline]):
                    if step is None:
                        on_broker(broker, phases, "kcat consume", kcat_consume)
                    else:
                        step()
                with open(offsets_file, "rb") as f:
                    lines = f.read().splitlines()
                assert len(lines) == count and int(lines[-1]) == count - 1, \
                    f"kcat consumed {len(lines)} of {count} (last offset {lines[-1] if lines else None})"

                # kcat's fixed cost: start, connect, metadata, exit.
                on_broker(broker, phases, "kcat -L", lambda: subprocess.run(
                    ["kcat", "-b", bootstrap, "-L", "-t", topics["kcat"]], stdout=subprocess.DEVNULL,
                    check=True, timeout=REQUEST_TIMEOUT_S))
                delete_topic(admin, broker, topics["kcat"])

                on_broker(broker, phases, "sluice perf produce", lambda: subprocess.run(
                    [args.sluice, "-b", bootstrap, "perf", "produce", "-t", topics["sluice"], "-n", str(count),
                     "-s", str(SIZE - 1), "--acks", "all", "--json"],
                    check=True, stdout=subprocess.DEVNULL, timeout=PHASE_TIMEOUT_S))
                held = records_in(watermarks, topics["sluice"])
                assert held == count, f"sluice perf delivered {held} of {count}"
                delete_topic(admin, broker, topics["sluice"])

                on_broker(broker, phases, "python produce", lambda: python_produce(bootstrap, topics["python"], count))
                held = records_in(watermarks, topics["python"])
                assert held == count, f"confluent-kafka delivered {held} of {count}"
                consumer = python_consumer(bootstrap)
                try:
                    on_broker(broker, phases, "python consume", lambda: python_consume(consumer, topics["python"], count))
                finally:
                    consumer.close()
                delete_topic(admin, broker, topics["python"])
            # Closed before the broker stops, so librdkafka does not log the refused reconnects.
            watermarks.close()
            del admin
        finally:
            broker.stop()

    report(phases, count, args.repeat, segment_bytes)


def report(phases, count, repeat, segment_bytes):
    mb = count * SIZE / 1e6
    gb = count * SIZE / 1e9
    print(f"messages: {count} x {SIZE} B per phase; best of {repeat} interleaved runs; "
          f"MB/s = {mb:.1f} MB / s for every phase")
    print(f"consume baseline sends the stored segment: {segment_bytes} B")
    print(f"{'phase':<46}{'msg/s':>10}{'MB/s':>9}  {'CPU-s/GB of':<15}each run: MB/s (CPU-s/GB)")
    rows = [
        ("produce baseline", "produce baseline (sendfile -> TCP -> file)", "sink"),
        ("kcat produce", "produce kcat -> sluiced (acks=all)", "broker"),
        ("consume baseline", "consume baseline (segment sendfile -> TCP)", "drain"),
        ("kcat consume", "consume sluiced -> kcat", "broker"),
        ("sluice perf produce", "produce sluice perf -> sluiced (acks=all)", "broker"),
        ("python produce", "produce confluent-kafka -> sluiced (acks=all)", "broker"),
        ("python consume", "consume sluiced -> confluent-kafka", "broker"),
    ]
    for name, label, who in rows:
        best = phases.best(name)
        cpu_per_gb = statistics.median(c for _, c in phases.runs[name]) / gb
        each = " ".join(f"{mb / s:.0f} ({c / gb:.2f})" for s, c in phases.runs[name])
        print(f"{label:<46}{count / best:>10.0f}{mb / best:>9.1f}  {cpu_per_gb:>6.2f} {who:<8}{each}")
    fixed = [s * 1e3 for s, _ in phases.runs["kcat -L"]]
    print(f"kcat fixed cost (whole `kcat -L` run): best {min(fixed):.0f} ms, each run "
          + " ".join(f"{ms:.0f}" for ms in fixed))
    print("ratios, best / best [each interleaved pair]:")
    for client, baseline, label, goal in [
        ("kcat produce", "produce baseline", "kcat produce / produce baseline", "  (goal >= 0.8)"),
        ("kcat consume", "consume baseline", "kcat consume / consume baseline", "  (goal >= 0.9)"),
        ("sluice perf produce", "kcat produce", "sluice perf produce / kcat produce", ""),
    ]:
        pairs = " ".join(f"{x:.2f}" for x in phases.pair_ratios(client, baseline))
        print(f"  {label:<36}{phases.best(baseline) / phases.best(client):5.2f} [{pairs}]{goal}")


main()

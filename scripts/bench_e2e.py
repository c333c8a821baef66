"""Driver for scripts/bench-e2e: see that script for what is measured."""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SLUICED, COUNT, SLUICE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SIZE = 1024
# One message = 1023 printable bytes + the newline kcat splits on: 1 KiB per line on the wire in.
PAYLOAD = os.urandom(SIZE).hex()[: SIZE - 1].encode()
LINE = PAYLOAD + b"\n"


def baseline(workdir, data):
    """The same bytes kcat reads (COUNT lines of 1 KiB) through a loopback TCP socket into a file."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    path = os.path.join(workdir, "baseline.bin")
    done = threading.Event()

    def sink():
        conn, _ = server.accept()
        buf = bytearray(1 << 20)
        with open(path, "wb") as f:
            while True:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                f.write(memoryview(buf)[:n])
        conn.close()
        done.set()

    threading.Thread(target=sink, daemon=True).start()
    client = socket.create_connection(server.getsockname())
    start = time.perf_counter()
    with open(data, "rb") as f:
        while chunk := f.read(1 << 20):
            client.sendall(chunk)
    client.shutdown(socket.SHUT_WR)
    done.wait(300)
    return time.perf_counter() - start


def main():
    with tempfile.TemporaryDirectory() as workdir:
        data = os.path.join(workdir, "messages.txt")
        with open(data, "wb") as f:
            f.write(LINE * COUNT)
        base_s = baseline(workdir, data)
        ready = os.path.join(workdir, "ready")
        log = open(os.path.join(workdir, "sluiced.log"), "wb")
        proc = subprocess.Popen([SLUICED, "-o", "listeners=PLAINTEXT://127.0.0.1:0", "-o", "keeper.client.address=127.0.0.1", "-o", "keeper.client.port=0", "-o", f"log.dirs={workdir}/data",
                                 "--ready-file", ready], stderr=log)
        try:
            deadline = time.time() + 60
            while not (os.path.exists(ready) and open(ready).read().strip()):
                assert time.time() < deadline and proc.poll() is None, "sluiced did not start"
                time.sleep(0.05)
            bootstrap = open(ready).read().splitlines()[0].strip()
            admin = AdminClient({"bootstrap.servers": bootstrap})
            for f in admin.create_topics([NewTopic("bench", num_partitions=1, replication_factor=1)]).values():
                f.result(30)

            # kcat (librdkafka from C) reading the same file: the primary produce figure.
            for f in admin.create_topics([NewTopic("bench-kcat", num_partitions=1, replication_factor=1)]).values():
                f.result(30)
            start = time.perf_counter()
            with open(data, "rb") as f:
                subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", "bench-kcat", "-X", "linger.ms=5",
                                "-X", "batch.size=1000000", "-X", "queue.buffering.max.messages=1000000",
                                "-X", "acks=all"], stdin=f, check=True)
            kcat_s = time.perf_counter() - start
            low, high = Consumer({"bootstrap.servers": bootstrap, "group.id": "x"}).get_watermark_offsets(
                TopicPartition("bench-kcat", 0), timeout=30)
            assert high - low == COUNT, f"kcat delivered {high - low} of {COUNT}"

            # `sluice perf produce`: the same count and size, timed as a whole process like kcat.
            for f in admin.create_topics([NewTopic("bench-sluice", num_partitions=1, replication_factor=1)]).values():
                f.result(30)
            start = time.perf_counter()
            subprocess.run([SLUICE, "-b", bootstrap, "perf", "produce", "-t", "bench-sluice", "-n", str(COUNT),
                            "-s", str(SIZE - 1), "--acks", "all", "--json"], check=True, stdout=subprocess.DEVNULL)
            sluice_s = time.perf_counter() - start

            # The same through the Python binding of librdkafka (its per-call overhead shows).
            producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1_000_000,
                                 "acks": "all", "queue.buffering.max.messages": 1_000_000})
            start = time.perf_counter()
            for _ in range(COUNT):
                while True:
                    try:
                        producer.produce("bench", PAYLOAD)
                        break
                    except BufferError:
                        producer.poll(0.01)
            assert producer.flush(300) == 0
            produce_s = time.perf_counter() - start
            del producer

            consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                                 "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760})
            consumer.assign([TopicPartition("bench", 0, 0)])
            start = time.perf_counter()
            n = 0
            while n < COUNT:
                msgs = consumer.consume(10_000, 1.0)
                n += sum(1 for m in msgs if m.error() is None)
            consume_s = time.perf_counter() - start
            consumer.close()
        finally:
            proc.terminate()
            proc.wait(60)

    mb = COUNT * SIZE / 1e6
    print(f"messages: {COUNT} x {SIZE} B")
    print(f"baseline (loopback TCP -> file):        {COUNT / base_s:12.0f} msg/s  {mb / base_s:8.1f} MB/s")
    print(f"produce  (kcat -> sluiced, acks=all):   {COUNT / kcat_s:12.0f} msg/s  {mb / kcat_s:8.1f} MB/s")
    print(f"produce  (confluent-kafka -> sluiced):  {COUNT / produce_s:12.0f} msg/s  {mb / produce_s:8.1f} MB/s")
    print(f"consume  (sluiced -> confluent-kafka):  {COUNT / consume_s:12.0f} msg/s  {mb / consume_s:8.1f} MB/s")
    print(f"produce  (sluice perf -> sluiced):      {COUNT / sluice_s:12.0f} msg/s  {mb / sluice_s:8.1f} MB/s")
    print(f"kcat produce / baseline ratio: {base_s / kcat_s:.2f}")
    print(f"sluice perf produce / kcat ratio: {kcat_s / sluice_s:.2f}")


main()

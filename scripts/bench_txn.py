"""Driver for scripts/bench-txn: see that script for what is measured."""

import os
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SLUICED, COUNT, BATCH = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SIZE = 1024
PAYLOAD = os.urandom(SIZE // 2).hex().encode()
ROUND_TRIPS = 200
COMMON = {"linger.ms": 5, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000}


def produce_all(producer, topic, count, per_txn=None):
    """Sends `count` messages; with `per_txn`, in transactions of that many."""
    start = time.perf_counter()
    sent = 0
    while sent < count:
        n = min(per_txn or count, count - sent)
        if per_txn:
            producer.begin_transaction()
        for _ in range(n):
            while True:
                try:
                    producer.produce(topic, PAYLOAD)
                    break
                except BufferError:
                    producer.poll(0.01)
        if per_txn:
            producer.commit_transaction(60)
        sent += n
    assert producer.flush(300) == 0
    return time.perf_counter() - start


def consume_all(bootstrap, topic, isolation, count):
    """Reads `count` messages from the start; returns the time taken."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{isolation}",
                         "isolation.level": isolation, "enable.auto.commit": False,
                         "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760})
    consumer.assign([TopicPartition(topic, 0, 0)])
    start = time.perf_counter()
    n = 0
    deadline = time.monotonic() + 300
    while n < count:
        assert time.monotonic() < deadline, f"{isolation} read {n} of {count}"
        n += sum(1 for m in consumer.consume(10_000, 1.0) if m.error() is None)
    took = time.perf_counter() - start
    consumer.close()
    return took


def main():
    with tempfile.TemporaryDirectory() as workdir:
        ready = os.path.join(workdir, "ready")
        log = open(os.path.join(workdir, "sluiced.log"), "wb")
        proc = subprocess.Popen([SLUICED, "-o", "metrics.listener=127.0.0.1:0", "-o", "listeners=PLAINTEXT://127.0.0.1:0",
                                 "-o", "keeper.client.address=127.0.0.1", "-o", "keeper.client.port=0",
                                 "-o", f"log.dirs={workdir}/data", "--ready-file", ready], stderr=log)
        try:
            deadline = time.time() + 60
            while not (os.path.exists(ready) and open(ready).read().strip()):
                assert time.time() < deadline and proc.poll() is None, "sluiced did not start"
                time.sleep(0.05)
            bootstrap = open(ready).read().splitlines()[0].strip()
            admin = AdminClient({"bootstrap.servers": bootstrap})
            for f in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)
                                          for t in ("idem", "txn", "rtt-plain", "rtt-txn")]).values():
                f.result(30)

            idem = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, **COMMON})
            idem_s = produce_all(idem, "idem", COUNT)
            txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": "bench", **COMMON})
            txn.init_transactions(60)
            txn_s = produce_all(txn, "txn", COUNT, BATCH)

            # Each read twice, interleaved, the better kept: the first read of the run is cold.
            uncommitted_s, committed_s = float("inf"), float("inf")
            for _ in range(2):
                uncommitted_s = min(uncommitted_s, consume_all(bootstrap, "txn", "read_uncommitted", COUNT))
                committed_s = min(committed_s, consume_all(bootstrap, "txn", "read_committed", COUNT))

            # Round trips, interleaved one by one; the medians are compared.
            plain = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
            single = Producer({"bootstrap.servers": bootstrap, "transactional.id": "bench-rtt", "linger.ms": 0})
            single.init_transactions(60)
            plain_times, txn_times = [], []
            for _ in range(ROUND_TRIPS):
                start = time.perf_counter()
                plain.produce("rtt-plain", PAYLOAD)
                assert plain.flush(30) == 0
                plain_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                single.begin_transaction()
                single.produce("rtt-txn", PAYLOAD)
                single.commit_transaction(30)
                txn_times.append(time.perf_counter() - start)
            plain_rtt = sorted(plain_times)[ROUND_TRIPS // 2]
            txn_rtt = sorted(txn_times)[ROUND_TRIPS // 2]
        finally:
            proc.terminate()
            proc.wait(60)

    mb = COUNT * SIZE / 1e6
    print(f"messages: {COUNT} x {SIZE} B, {BATCH} per transaction")
    print(f"produce  idempotent (baseline):      {COUNT / idem_s:10.0f} msg/s  {mb / idem_s:8.1f} MB/s")
    print(f"produce  transactional:              {COUNT / txn_s:10.0f} msg/s  {mb / txn_s:8.1f} MB/s")
    print(f"consume  read_uncommitted (baseline): {COUNT / uncommitted_s:9.0f} msg/s  {mb / uncommitted_s:8.1f} MB/s")
    print(f"consume  read_committed:             {COUNT / committed_s:10.0f} msg/s  {mb / committed_s:8.1f} MB/s")
    print(f"acks=all produce of one message, median (baseline): {plain_rtt * 1000:7.2f} ms")
    print(f"begin + one message + commit, median:               {txn_rtt * 1000:7.2f} ms")
    print(f"transactional / idempotent produce ratio: {idem_s / txn_s:.2f}")
    print(f"read_committed / read_uncommitted consume ratio: {uncommitted_s / committed_s:.2f}")
    print(f"commit round trip / acks=all round trip: {txn_rtt / plain_rtt:.2f}")


main()

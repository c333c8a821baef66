"""Kafka helpers shared by the suites that drive Sluice with real clients (tests/compat and
tests/docker): a numbered acks=all producer that remembers what was acknowledged, and one
Produce request sent to exactly one broker (kafka-python's protocol layer)."""

import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaClient
from kafka.errors import KafkaError
from kafka.protocol.produce import ProduceRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

from waiting import wait_until


class NumberedProducer:
    """An `acks=all` producer thread sending records numbered 0, 1, 2, ... at a steady rate,
    round-robin over the partitions (explicitly, so a partition without a leader holds its own
    records back, not others'). It remembers which were acknowledged, on what partition, when
    each was produced and when its acknowledgement arrived."""

    def __init__(self, bootstrap, topic, partitions, rate=400, max_s=150, **conf):
        self.topic, self.partitions, self.interval, self.max_s = topic, partitions, 1 / rate, max_s
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 60000,
                                  "linger.ms": 5, **conf})
        self.lock = threading.Lock()
        self.acked = {}  # number -> (partition, produced at, acknowledged at)
        self.errors = []  # (number, KafkaError)
        self.unflushed = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, exc_type, *_):
        self.stop(check=exc_type is None)

    def _run(self):
        n, deadline, next_at = 0, time.monotonic() + self.max_s, time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline and n < self.max_s * 10_000:
            produced = time.monotonic()
            try:
                self.producer.produce(self.topic, value=str(n).encode(), partition=n % self.partitions,
                                      on_delivery=lambda err, msg, n=n, t=produced: self._delivered(n, t, err, msg))
                n += 1
            except BufferError:
                pass  # the local queue is full (no leader for a while): serve callbacks and go on
            next_at += self.interval
            while (wait := next_at - time.monotonic()) > 0:
                self.producer.poll(wait)
        self.unflushed = self.producer.flush(90)

    def _delivered(self, n, produced, err, msg):
        with self.lock:
            if err is None:
                self.acked[n] = (msg.partition(), produced, time.monotonic())
            else:
                self.errors.append((n, err))

    def stop(self, check=True):
        self._stop.set()
        self._thread.join(120)
        if check:
            assert not self._thread.is_alive(), "the producer thread did not stop"
            assert self.unflushed == 0, f"{self.unflushed} records never delivered nor failed"

    def count(self):
        with self.lock:
            return len(self.acked)

    def wait_for_acks(self, more, what, timeout_s=60):
        target = self.count() + more
        wait_until(lambda: self.count() >= target, timeout_s=timeout_s, what=f"{more} more acks {what}")

    def first_ack_after(self, partition, t):
        """When the first record produced after `t` on `partition` was acknowledged (or None)."""
        with self.lock:
            times = [acked for p, produced, acked in self.acked.values() if p == partition and produced > t]
        return min(times, default=None)

    def wait_for_failover(self, partitions, since, what, bound_s):
        """Waits (up to `bound_s`) until every partition in `partitions` acknowledged a record
        produced after `since`; returns the seconds from `since` to the last of those first acks."""
        wait_until(lambda: all(self.first_ack_after(p, since) is not None for p in partitions),
                   timeout_s=bound_s, interval_s=0.02, what=f"writes accepted after {what}")
        return max(self.first_ack_after(p, since) for p in partitions) - since

    def assert_all_read_back(self, bootstrap, timeout_s=60):
        """Every acknowledged record is in the topic."""
        acked = set(self.acked)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check", "enable.auto.commit": False})
        consumer.assign([TopicPartition(self.topic, p, 0) for p in range(self.partitions)])
        seen, deadline = set(), time.monotonic() + timeout_s
        try:
            while not acked <= seen and time.monotonic() < deadline:
                for m in consumer.consume(1000, timeout=0.5):
                    if m.error() is None:
                        seen.add(int(m.value()))
        finally:
            consumer.close()
        lost = sorted(acked - seen)
        assert not lost, (f"{len(lost)} of {len(acked)} acknowledged records lost, e.g. {lost[:10]} "
                          f"(delivery errors: {[str(e) for _, e in self.errors[:3]]})")


def raw_produce(address, broker_id, topic, partition, values, acks, timeout_ms, producer=(-1, -1, -1),
                full=False):
    """Sends one Produce request holding one batch of `values` (bytes, or a list of them) to
    exactly the broker at `address` (no retries, no rerouting). `producer` is the batch's
    (producer id, epoch, base sequence). Returns the partition's error code, or with `full`
    (error code, base offset); None when no answer came."""
    values = [values] if isinstance(values, bytes) else values
    producer_id, epoch, sequence = producer
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                                        batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(offset=i, timestamp=None, key=None, value=value, headers=[])
    request = ProduceRequest[3](transactional_id=None, required_acks=acks, timeout=timeout_ms,
                                topics=[(topic, [(partition, bytes(builder.build()))])])
    try:
        response = request_to(address, broker_id, request, (timeout_ms + 10_000) / 1000)
    except KafkaError:
        return None
    (_, partitions), = response.topics
    (_, error, offset, *_), = partitions
    return (error, offset) if full else error


def request_to(address, broker_id, request, timeout_s=30):
    """Sends `request` to exactly the broker at `address` (no retries, no rerouting) and returns
    its answer; raises kafka-python's error when the request failed."""
    timeout_ms = int(timeout_s * 1000)
    client = KafkaClient(bootstrap_servers=address, api_version=(2, 0, 0), request_timeout_ms=timeout_ms)
    try:
        deadline = time.monotonic() + 20
        while not client.ready(broker_id) and time.monotonic() < deadline:
            client.poll(timeout_ms=100)
        assert client.ready(broker_id), f"broker {broker_id} at {address} not reachable"
        future = client.send(broker_id, request)
        client.poll(future=future, timeout_ms=timeout_ms)
        assert future.is_done, f"no answer to {type(request).__name__} from broker {broker_id}"
        if future.failed():
            raise future.exception
        return future.value
    finally:
        client.close()

"""An exactly-once copier for test_transactions.py, run as its own process so that the test can
SIGKILL it mid-transaction and start another in its place.

It is the consume-transform-produce loop of Kafka's exactly-once recipe, with confluent-kafka: a
transactional producer (fixed `transactional.id`, so each new copier fences and aborts the last
one's open transaction in `init_transactions`) and a `read_committed` group consumer that never
commits by itself. Each round polls up to `--batch` records, copies them in one transaction
(same key and value, output partition = input partition, so each partition's order carries
over) and commits the consumer's positions inside that same transaction.

`init_transactions` runs before the consumer joins its group: it returns only once the previous
copier's transaction is finished, so the offsets the consumer then fetches are settled.

An abortable error aborts the transaction and rewinds the consumer to the group's committed
offsets; anything else ends the process with a non-zero code and the test starts a new one.

With `--hold-at N` the copier, once its positions add up to N or more, produces and flushes one
batch, adds its offsets to the transaction, prints `holding` and waits to be killed: a
transaction left open with data in the output log and offsets pending in the group.

Lines on stdout: `ready`, `committed <sum of positions>`, `holding <sum of positions>`,
`aborted <error>`, `done`. Exit codes: 0 everything copied, 3 an error, 4 held past the budget,
5 budget spent."""

import argparse
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

EXIT_DONE, EXIT_ERROR, EXIT_HELD, EXIT_BUDGET = 0, 3, 4, 5
API_TIMEOUT_S = 60
# How long the copier waits for records before printing what its consumer holds.
IDLE_REPORT_S = 10


def say(*words):
    print(*words, flush=True)


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--transactional-id", required=True)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--hold-at", type=int, default=None)
    p.add_argument("--budget-s", type=float, default=300)
    return p.parse_args()


def source_ends(consumer, topic, partitions, deadline):
    """The input's end offsets (the input is static while the copier runs)."""
    while True:
        try:
            return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in range(partitions)}
        except KafkaException as e:
            if time.monotonic() > deadline:
                raise
            say("watermarks", e.args[0])
            time.sleep(0.5)


def copied_everything(consumer, ends):
    """Whether the group's committed offsets reach the end of every input partition."""
    assigned = consumer.assignment()
    if len(assigned) != len(ends):
        return False
    committed = consumer.committed(assigned, timeout=API_TIMEOUT_S)
    return all(tp.offset >= ends[tp.partition] for tp in committed)


def rewind(consumer):
    """Puts every assigned partition back at the group's committed offset."""
    for tp in consumer.committed(consumer.assignment(), timeout=API_TIMEOUT_S):
        if tp.offset < 0:
            tp.offset = OFFSET_BEGINNING
        consumer.seek(tp)


def copy(producer, consumer, args, messages, deadline):
    """One transaction: copies `messages`, adds the consumer's positions, commits (or holds).
    Returns the sum of the positions committed."""
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(err)

    producer.begin_transaction()
    for m in messages:
        while True:
            try:
                producer.produce(args.sink, key=m.key(), value=m.value(), partition=m.partition(),
                                 on_delivery=delivered)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the producer's queue stayed full until the budget was spent")
                producer.poll(0.1)
    left = producer.flush(API_TIMEOUT_S)
    if left or failed:
        raise RuntimeError(f"{left} records undelivered, delivery errors {failed[:3]}")
    touched = {TopicPartition(m.topic(), m.partition()) for m in messages}
    positions = [tp for tp in consumer.position(list(touched)) if tp.offset >= 0]
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), API_TIMEOUT_S)
    reached = sum(tp.offset for tp in consumer.position(consumer.assignment()) if tp.offset >= 0)
    if args.hold_at is not None and reached >= args.hold_at:
        say("holding", reached)
        deadline = time.monotonic() + args.budget_s
        while time.monotonic() < deadline:
            time.sleep(0.5)
        sys.exit(EXIT_HELD)
    for attempt in range(3):
        try:
            producer.commit_transaction(API_TIMEOUT_S)
            return reached
        except KafkaException as e:
            # A timed-out commit may be called again (confluent-kafka's documentation).
            if not e.args[0].retriable() or attempt == 2:
                raise
            say("commit retry", e.args[0])


def main():
    args = parse()
    deadline = time.monotonic() + args.budget_s
    producer = Producer({"bootstrap.servers": args.bootstrap, "transactional.id": args.transactional_id,
                         "linger.ms": 5})
    producer.init_transactions(API_TIMEOUT_S)
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
    ends = source_ends(consumer, args.source, args.partitions, deadline)
    consumer.subscribe([args.source])
    say("ready", sum(ends.values()))
    # While nothing arrives, what the consumer holds is printed now and then (for a stalled
    # run's log): its assignment, positions, and the last error the poll returned.
    idle_since, last_error = time.monotonic(), None
    while time.monotonic() < deadline:
        messages = []
        for m in consumer.consume(args.batch, timeout=1.0):
            if m.error() is None:
                messages.append(m)
            elif m.error().fatal():
                raise KafkaException(m.error())
            else:
                last_error = m.error()
        if messages:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_REPORT_S:
            idle_since = time.monotonic()
            assigned = consumer.assignment()
            positions = consumer.position(assigned) if assigned else []
            say("waiting", "assignment", [(tp.partition, tp.offset) for tp in positions],
                "last error", last_error)
        if not messages:
            if copied_everything(consumer, ends):
                say("done")
                consumer.close()
                return EXIT_DONE
            continue
        try:
            say("committed", copy(producer, consumer, args, messages, deadline))
        except KafkaException as e:
            error = e.args[0]
            if error.fatal() or not error.txn_requires_abort():
                raise
            say("aborted", error)
            producer.abort_transaction(API_TIMEOUT_S)
            rewind(consumer)
    say("budget spent")
    return EXIT_BUDGET


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KafkaException, RuntimeError) as e:
        say("error", e)
        sys.exit(EXIT_ERROR)

"""A consumer-group member for the group tests, run as its own process so a test can kill it.
Consumes, writes `partition offset value` per message to its output file, then commits (after
processing: at-least-once). Runs until killed or until its time budget ends."""

import sys
import time

from confluent_kafka import Consumer

bootstrap, group, topic, out_path, budget_s = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
consumer.subscribe([topic])
deadline = time.monotonic() + budget_s
with open(out_path, "a", buffering=1) as out:
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        out.write(f"{msg.partition()} {msg.offset()} {msg.value().decode()}\n")
        consumer.commit(message=msg, asynchronous=False)
consumer.close()

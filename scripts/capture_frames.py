"""Captures the request frames real clients send, for golden-bytes tests.

Starts sluiced advertised behind a recording TCP proxy, runs librdkafka (confluent-kafka),
kafka-python and kcat through a short produce/consume/admin session, then the newest releases
(confluent-kafka 2.16 with a KIP-848 consumer, kafka-python 3, aiokafka, from
target/compat-venv-latest) through theirs, and writes the first frame of each (client, API,
version) as hex to crates/protocol/tests/golden/<client>/<api>-v<version>.hex.

    target/compat-venv/bin/python scripts/capture_frames.py target/debug/sluiced
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SLUICED = sys.argv[1]
LATEST_PYTHON = Path(__file__).resolve().parents[1] / "target" / "compat-venv-latest" / "bin" / "python"

# The newest releases' sessions, run by the latest venv's Python with the bootstrap address as
# argv[1]; each produces one record whose value is its client's name (the golden tests check it).
LATEST_SESSIONS = {
    "librdkafka-2.16": r'''
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic("golden-new", num_partitions=2, replication_factor=1)]).values():
    f.result(30)
p = Producer({"bootstrap.servers": bootstrap, "compression.type": "none"})
p.produce("golden-new", key=b"k", value=b"librdkafka-2.16", partition=0, timestamp=1_700_000_000_000)
p.flush(30)
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "golden-848", "group.protocol": "consumer",
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe(["golden-new"])
deadline = time.time() + 60
m = None
while time.time() < deadline and m is None:
    m = c.poll(0.5)
    if m is not None and m.error():
        m = None
assert m is not None, "the KIP-848 consumer read nothing"
c.commit(message=m, asynchronous=False)
c.committed([TopicPartition("golden-new", 0)], timeout=30)
admin.describe_consumer_groups(["golden-848"])["golden-848"].result(30)
admin.list_consumer_groups().result(30)
admin.describe_cluster().result(30)
c.close()
''',
    "kafka-python-3": r'''
import sys
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
bootstrap = sys.argv[1]
kp = KafkaProducer(bootstrap_servers=bootstrap)
kp.send("golden-new", key=b"k", value=b"kafka-python-3", partition=1, timestamp_ms=1_700_000_000_000)
kp.flush(30)
kc = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=3000, auto_offset_reset="earliest")
kc.assign([TopicPartition("golden-new", 1)])
for _ in kc:
    break
kc.close()
''',
    "aiokafka": r'''
import asyncio, sys
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
bootstrap = sys.argv[1]
async def main():
    p = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await p.start()
    await p.send_and_wait("golden-new", key=b"k", value=b"aiokafka", partition=1, timestamp_ms=1_700_000_000_000)
    await p.stop()
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="golden-aio", auto_offset_reset="earliest",
                         enable_auto_commit=False)
    await c.start()
    c.assign([TopicPartition("golden-new", 1)])
    await asyncio.wait_for(c.getone(), 30)
    await c.commit({TopicPartition("golden-new", 1): 1})
    await c.stop()
asyncio.run(main())
''',
}
OUT = Path(__file__).resolve().parents[1] / "crates" / "protocol" / "tests" / "golden"
current_client = {"name": "unknown"}
seen = set()


def record(frame: bytes):
    api_key = int.from_bytes(frame[0:2], "big", signed=True)
    version = int.from_bytes(frame[2:4], "big", signed=True)
    key = (current_client["name"], api_key, version)
    if key in seen:
        return
    seen.add(key)
    d = OUT / current_client["name"]
    d.mkdir(parents=True, exist_ok=True)
    (d / f"api{api_key}-v{version}.hex").write_text(frame.hex() + "\n")


def pipe_requests(src, dst):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            buf += data
            while len(buf) >= 4:
                size = int.from_bytes(buf[:4], "big")
                if len(buf) < 4 + size:
                    break
                record(buf[4:4 + size])
                buf = buf[4 + size:]
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass


def proxy(listener, upstream):
    while True:
        client, _ = listener.accept()
        server = socket.create_connection(upstream)
        threading.Thread(target=pipe_requests, args=(client, server), daemon=True).start()
        threading.Thread(target=pipe, args=(server, client), daemon=True).start()


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    proxy_port = listener.getsockname()[1]
    # The broker's own port: free now, given to it (the ready file names the advertised proxy).
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    upstream_port = probe.getsockname()[1]
    probe.close()
    with tempfile.TemporaryDirectory() as work:
        ready = os.path.join(work, "ready")
        broker = subprocess.Popen([SLUICED, "-o", "metrics.listener=127.0.0.1:0",
                                   "-o", f"listeners=PLAINTEXT://127.0.0.1:{upstream_port}",
                                   "-o", "keeper.client.address=127.0.0.1", "-o", "keeper.client.port=0",
                                   "-o", f"log.dirs={work}/data",
                                   "-o", f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy_port}", "--ready-file", ready],
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while not (os.path.exists(ready) and open(ready).read().strip()):
                if broker.poll() is not None or time.time() > deadline:
                    sys.exit(f"sluiced did not start (exit status {broker.returncode})")
                time.sleep(0.05)
            threading.Thread(target=proxy, args=(listener, ("127.0.0.1", upstream_port)), daemon=True).start()
            bootstrap = f"127.0.0.1:{proxy_port}"

            current_client["name"] = "librdkafka"
            from confluent_kafka import Consumer, Producer, TopicPartition
            from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
            admin = AdminClient({"bootstrap.servers": bootstrap})
            for f in admin.create_topics([NewTopic("golden", num_partitions=1, replication_factor=1)]).values():
                f.result(30)
            r = ConfigResource(ConfigResource.Type.TOPIC, "golden")
            admin.describe_configs([r])[r].result(30)
            p = Producer({"bootstrap.servers": bootstrap, "compression.type": "none"})
            p.produce("golden", key=b"k", value=b"librdkafka", headers=[("h", b"v")], timestamp=1_700_000_000_000)
            p.flush(30)
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g", "enable.auto.commit": False})
            c.assign([TopicPartition("golden", 0, 0)])
            deadline = time.time() + 30
            while time.time() < deadline and c.poll(0.5) is None:
                pass
            c.offsets_for_times([TopicPartition("golden", 0, 1_700_000_000_000)], timeout=30)
            c.close()
            del p

            current_client["name"] = "kafka-python"
            from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
            from kafka import TopicPartition as KTP
            from kafka.admin import NewTopic as KNewTopic
            KafkaAdminClient(bootstrap_servers=bootstrap).create_topics([KNewTopic("golden-kp", 1, 1)])
            kp = KafkaProducer(bootstrap_servers=bootstrap)
            kp.send("golden-kp", key=b"k", value=b"kafka-python", headers=[("h", b"v")], timestamp_ms=1_700_000_000_000)
            kp.flush(30)
            kc = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=3000, auto_offset_reset="earliest")
            kc.assign([KTP("golden-kp", 0)])
            for _ in kc:
                break
            kc.close()

            current_client["name"] = "kcat"
            subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", "golden-kc", "-k", "k"], input=b"kcat\n", check=True)
            subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", "golden-kc", "-e", "-c", "1"], capture_output=True, check=True)

            for name, session in LATEST_SESSIONS.items():
                current_client["name"] = name
                subprocess.run([str(LATEST_PYTHON), "-c", session, bootstrap], check=True, timeout=120)
        finally:
            broker.terminate()
            broker.wait(30)
    print(f"captured {len(seen)} frames into {OUT}")


main()

"""Captures the request frames real clients send, for golden-bytes tests.

Starts sluiced advertised behind a recording TCP proxy, runs librdkafka (confluent-kafka),
kafka-python and kcat through a short produce/consume/admin session, and writes the first frame
of each (client, API, version) as hex to crates/protocol/tests/golden/<client>/<api>-v<version>.hex.

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
    with tempfile.TemporaryDirectory() as work:
        ready = os.path.join(work, "ready")
        broker = subprocess.Popen([SLUICED, "-o", "metrics.listener=127.0.0.1:0", "-o", "listeners=PLAINTEXT://127.0.0.1:0", "-o", "process.roles=broker", "-o", f"log.dirs={work}/data",
                                   "-o", f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy_port}", "--ready-file", ready],
                                  stderr=subprocess.DEVNULL)
        try:
            while not (os.path.exists(ready) and open(ready).read().strip()):
                time.sleep(0.05)
            # The ready file names the advertised (proxy) address; find the port sluiced really
            # bound with `ss` (iproute2).
            upstream_port = None
            for _ in range(100):
                out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
                for line in out.splitlines():
                    if f"pid={broker.pid}," in line:
                        upstream_port = int(line.split()[3].rsplit(":", 1)[1])
                if upstream_port:
                    break
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
        finally:
            broker.terminate()
            broker.wait(30)
    print(f"captured {len(seen)} frames into {OUT}")


main()

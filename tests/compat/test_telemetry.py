"""GetTelemetrySubscriptions and PushTelemetry (KIP-714): librdkafka (the pinned and the newest
confluent-kafka, whose metrics push is on by default) is given a client instance id and an empty
subscription, so it schedules its next look after the push interval and pushes nothing; a push
sent anyway is checked as Kafka checks it. Raw frames (version 0, flexible) check the layout."""

import socket
import struct
import subprocess
import uuid

from confluent_kafka import Producer

from conftest import TARGET

LATEST_PYTHON = TARGET / "compat-venv-latest" / "bin" / "python"

# librdkafka's telemetry log for one producer, printed line by line.
TELEMETRY_LOG = """
import logging, sys, time
from confluent_kafka import Producer
lines = []
class Keep(logging.Handler):
    def emit(self, record):
        lines.append(record.getMessage())
log = logging.getLogger("telemetry")
log.addHandler(Keep())
log.setLevel(logging.DEBUG)
p = Producer({"bootstrap.servers": sys.argv[1], "debug": "telemetry", "logger": log})
p.produce("telemetry-topic", b"v")
assert p.flush(30) == 0
deadline = time.time() + 30
while time.time() < deadline and not any("Handled GetTelemetrySubscriptions" in l for l in lines):
    p.poll(0.1)
print("\\n".join(lines))
"""


def telemetry_log(python, bootstrap):
    out = subprocess.run([str(python), "-c", TELEMETRY_LOG, bootstrap], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    return out.stdout


def check_subscribed_to_nothing(log):
    handled = [line for line in log.splitlines() if "Handled GetTelemetrySubscriptions" in line]
    assert handled, f"librdkafka never handled a GetTelemetrySubscriptions answer:\n{log}"
    assert "err = Success" in handled[0] and "metrics = 0" in handled[0], handled[0]
    assert "after 300000000 microseconds" in handled[0], "the next look after the 5-minute interval"
    assert "client instance id changed from AAAAAAAAAAAAAAAAAAAAAA" in log, "an instance id was assigned"


def test_librdkafka_gets_an_instance_id_and_an_empty_subscription(broker):
    import sys
    check_subscribed_to_nothing(telemetry_log(sys.executable, broker.bootstrap))
    assert LATEST_PYTHON.exists(), f"{LATEST_PYTHON} is missing: the newest clients are part of this test"
    check_subscribed_to_nothing(telemetry_log(LATEST_PYTHON, broker.bootstrap))


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def call(sock, api_key, correlation_id, body):
    """A flexible (header v2) request of version 0; the response body after its header v1."""
    client = b"telemetry-test"
    header = struct.pack(">hhih", api_key, 0, correlation_id, len(client)) + client + b"\x00"
    frame = header + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    size = struct.unpack(">i", recv_exactly(sock, 4))[0]
    payload = recv_exactly(sock, size)
    assert struct.unpack(">i", payload[:4])[0] == correlation_id
    assert payload[4] == 0, "no tagged fields in the response header"
    return payload[5:]


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the broker closed the connection"
        data += chunk
    return data


def get_subscriptions(sock, instance_id):
    body = call(sock, 71, 1, instance_id + b"\x00")
    throttle, error = struct.unpack(">ih", body[:6])
    assigned = body[6:22]
    subscription_id = struct.unpack(">i", body[22:26])[0]
    at = 26
    count = body[at] - 1  # compact array of int8, small
    at += 1
    codecs = list(struct.unpack(f">{count}b", body[at:at + count]))
    at += count
    push_interval, max_bytes = struct.unpack(">ii", body[at:at + 8])
    at += 8
    delta = body[at]
    requested = body[at + 1] - 1
    assert body[at + 2:] == b"\x00", "nothing after the requested metrics but the tag buffer"
    return error, assigned, subscription_id, codecs, push_interval, max_bytes, delta, requested, throttle


def push(sock, instance_id, subscription_id, metrics):
    body = instance_id + struct.pack(">ib", subscription_id, 0) + b"\x00" + uvarint(len(metrics) + 1) + metrics + b"\x00"
    answer = call(sock, 72, 2, body)
    throttle, error = struct.unpack(">ih", answer[:6])
    assert answer[6:] == b"\x00"
    return error


def test_raw_subscriptions_and_pushes(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        error, assigned, sub, codecs, interval, max_bytes, delta, requested, throttle = get_subscriptions(sock, bytes(16))
        assert (error, throttle, requested, delta) == (0, 0, 0, 1)
        assert assigned != bytes(16), "a zero instance id is given one"
        assert sorted(codecs) == [1, 2, 3, 4] and interval == 300_000 and max_bytes == 1024 * 1024
        # With an id of its own the client is given none back.
        mine = uuid.uuid4().bytes
        error, again, sub2, *_ = get_subscriptions(sock, mine)
        assert (error, again, sub2) == (0, bytes(16), sub)
        assert push(sock, mine, sub, b"metrics") == 0
        assert push(sock, mine, sub + 1, b"metrics") == 117, "UNKNOWN_SUBSCRIPTION_ID"
        assert push(sock, bytes(16), sub, b"metrics") == 42, "INVALID_REQUEST: no instance id"
        assert push(sock, mine, sub, b"x" * (1024 * 1024 + 1)) == 118, "TELEMETRY_TOO_LARGE"


def test_a_producer_with_metrics_push_off_still_works(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.metrics.push": False})
    p.produce("telemetry-off", b"v")
    assert p.flush(30) == 0

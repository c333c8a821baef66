"""Raw Kafka wire helpers over plain sockets, for the tests and benchmarks that send what no
client library sends (half frames, unread answers) or need the bytes without decoding them:
framing, ApiVersions v0, a one-partition Fetch v4 and its answer, and the resident memory of a
process."""

import socket
import struct

MIB = 1024 * 1024


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def connect(port, source="127.0.0.1", rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def frame(api_key, version, correlation_id, body, client_id=b"bounds"):
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(s):
    size = struct.unpack(">i", recv_exactly(s, 4))[0]
    return recv_exactly(s, size)


def recv_exactly(s, n):
    chunks = []
    while n:
        chunk = s.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("closed by the broker")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def api_versions(s, correlation_id=7):
    """Sends ApiVersions v0 and checks the answer: the connection is served."""
    s.sendall(frame(18, 0, correlation_id, b""))
    answer = read_frame(s)
    assert struct.unpack(">ih", answer[:6]) == (correlation_id, 0)


def fetch_v4(s, topic, partition, offset, max_bytes, partition_max_bytes, correlation_id=11, max_wait_ms=0,
             min_bytes=0):
    """Sends Fetch v4 (replica -1; by default no wait) and returns nothing; see `read_fetch_v4`."""
    name = topic.encode()
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, max_bytes, 0)
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iiqi", 1, partition, offset, partition_max_bytes)
    s.sendall(frame(1, 4, correlation_id, body))


def read_fetch_v4(s):
    """The (error code, record bytes) of a one-partition Fetch v4 answer."""
    answer = read_frame(s)
    pos = 4 + 4  # correlation id, throttle time
    (topics,) = struct.unpack_from(">i", answer, pos)
    assert topics == 1
    pos += 4
    (name_len,) = struct.unpack_from(">h", answer, pos)
    pos += 2 + name_len + 4  # name, partition count
    _partition, error, _hw, _lso, aborted = struct.unpack_from(">ihqqi", answer, pos)
    pos += 4 + 2 + 8 + 8 + 4 + max(aborted, 0) * 16
    (length,) = struct.unpack_from(">i", answer, pos)
    pos += 4
    return error, answer[pos:pos + max(length, 0)]


def batch_count(records):
    count, pos = 0, 0
    while pos + 12 <= len(records):
        (length,) = struct.unpack_from(">i", records, pos + 8)
        if pos + 12 + length > len(records):
            break  # a partial batch at the end (allowed by the protocol)
        pos += 12 + length
        count += 1
    return count




"""kcat against sluiced: produce keyed messages with headers in every codec, consume them back
with a format string, list metadata, and query offsets by timestamp."""

import subprocess

import pytest

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
MESSAGES = 10_000


def kcat(*args, stdin=None, timeout=120):
    result = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=timeout)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.mark.parametrize("codec", CODECS)
def test_produce_and_consume_every_codec(broker, codec):
    topic = f"kc-{codec}"
    lines = "".join(f"key{i % 13}:value-{i}\n" for i in range(MESSAGES)).encode()
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-z", codec, "-K", ":", "-H", f"codec={codec}", stdin=lines)
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-c", str(MESSAGES),
               "-f", "%k|%s|%h|%p|%o\n").decode()
    rows = [line.split("|") for line in out.splitlines()]
    assert len(rows) == MESSAGES
    values = [int(v.split("-")[1]) for _, v, _, _, _ in rows]
    assert values == list(range(MESSAGES)), "one partition (auto-created), in order"
    for k, v, h, p, o in rows:
        i = int(v.split("-")[1])
        assert k == f"key{i % 13}" and h == f"codec={codec}" and p == "0" and int(o) == i


def test_metadata_listing_and_offsets_by_timestamp(broker):
    kcat("-b", broker.bootstrap, "-P", "-t", "kct", stdin=b"a\nb\nc\n")
    listing = kcat("-b", broker.bootstrap, "-L", "-t", "kct").decode()
    assert "topic \"kct\" with 1 partitions" in listing
    assert "broker 0" in listing
    # -1 asks for the end offset.
    out = kcat("-b", broker.bootstrap, "-Q", "-t", "kct:0:-1").decode()
    assert "offset 3" in out, out


def stored_codecs(broker, topic):
    """The compression codec (attributes & 7) of every batch stored in partition 0 of `topic`."""
    codecs = []
    for segment in sorted((broker.data / f"{topic}-0").glob("*.log")):
        data, pos = segment.read_bytes(), 0
        # v2 batch: base offset i64, length i32 (of what follows), leader epoch i32, magic i8,
        # crc u32, attributes i16 at byte 21.
        while pos + 23 <= len(data):
            length = int.from_bytes(data[pos + 8:pos + 12], "big")
            codecs.append(int.from_bytes(data[pos + 21:pos + 23], "big") & 7)
            pos += 12 + length
    return codecs


@pytest.mark.parametrize("codec,code", [("gzip", 1), ("snappy", 2), ("lz4", 3)])
def test_librdkafka_before_2_8_compresses_because_produce_v0_is_advertised(broker, codec, code):
    # librdkafka before 2.8 (Debian's kcat, the pinned confluent-kafka) compresses with these
    # codecs only when ApiVersions lists Produce v0; otherwise it silently sends them raw.
    topic = f"kc-stored-{codec}"
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-z", codec, stdin=b"".join(b"x" * 100 + b"\n" for _ in range(50)))
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 50})
    for _ in range(50):
        p.produce(topic, value=b"y" * 100)
    assert p.flush(30) == 0
    codecs = stored_codecs(broker, topic)
    assert len(codecs) >= 2 and set(codecs) == {code}, codecs

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

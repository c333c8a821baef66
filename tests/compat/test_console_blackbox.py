"""Black-box checks of the read-only web console on the broker's HTTP endpoint
(`metrics.listener`), written from its contract as an operator or client sees it, never from its
code: the JSON API under /api/v1/ compared with what Kafka's protocol says about the same cluster
(metadata, watermarks, committed offsets, the records a consumer reads), hostile input (odd but
legal names, bad query parameters, encodings, methods), record contents of every shape (null,
empty, binary, oversized, compressed, transactional), concurrency, and the page itself in a
headless Chromium, where record bytes and names must stay text."""

import base64
import concurrent.futures
import http.client
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from conftest import SLUICED, Broker, free_ports, wait_until
from test_cluster import make_cluster  # noqa: F401  (the fixture)

HTTP_TIMEOUT_S = 15
TRUNCATE_AT = 16 * 1024
JSON_TYPE = "application/json"


# --- HTTP helpers -------------------------------------------------------------------------------

def call(url, path, method="GET", timeout=HTTP_TIMEOUT_S):
    """(status, lower-cased headers, body bytes) of one request on a fresh connection; the path
    goes on the wire exactly as given."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def api(url, path, expect=200):
    """The JSON body of GET `path`, checking its status and content type."""
    status, headers, body = call(url, path)
    assert status == expect, f"GET {path}: {status} {body[:500]!r}"
    assert headers.get("content-type", "").split(";")[0].strip() == JSON_TYPE, (path, headers)
    return json.loads(body)


def api_error(url, path, statuses):
    """GET `path` must fail with one of `statuses` and a JSON `{"error": "..."}` body."""
    status, headers, body = call(url, path)
    assert status in statuses, f"GET {path}: {status} {body[:300]!r}, expected one of {statuses}"
    assert headers.get("content-type", "").split(";")[0].strip() == JSON_TYPE, (path, headers)
    doc = json.loads(body)
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], (path, doc)
    return status, doc


def messages(url, topic, **params):
    q = "&".join([f"topic={quote(topic, safe='')}"] + [f"{k}={v}" for k, v in params.items()])
    return api(url, f"/api/v1/messages?{q}")


def field(b):
    """What the console should show for a key/value/header value of `b` bytes (or None)."""
    if b is None:
        return None
    return {"size": len(b), "base64": base64.b64encode(b[:TRUNCATE_AT]).decode(), "truncated": len(b) > TRUNCATE_AT}


# --- Kafka helpers ------------------------------------------------------------------------------

def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create(bootstrap, name, partitions=1, rf=1, config=None):
    a = admin(bootstrap)  # held until the future resolves (a destroyed client fails it)
    a.create_topics([NewTopic(name, partitions, rf, config=config or {})])[name].result(30)

    def led():
        topic = a.list_topics(name, timeout=10).topics.get(name)
        return topic is not None and topic.error is None and all(p.leader >= 0 for p in topic.partitions.values())
    wait_until(led, timeout_s=30, what=f"topic {name} to have leaders")


def watermarks(bootstrap, topic, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "console-bb-watermarks"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


def consume_all(bootstrap, topic, partition, isolation="read_uncommitted"):
    """Every record a consumer reads from the partition's log start to its high watermark."""
    low, high = watermarks(bootstrap, topic, partition)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "console-bb-reader", "enable.auto.commit": False,
                  "isolation.level": isolation, "fetch.message.max.bytes": 4 << 20})
    out = []
    try:
        c.assign([TopicPartition(topic, partition, low)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out or out[-1].offset() < high - 1):
            m = c.poll(0.5)
            if m is None:
                if c.position([TopicPartition(topic, partition)])[0].offset >= high:
                    break
                continue
            assert m.error() is None, m.error()
            out.append(m)
    finally:
        c.close()
    return out


def as_console(m):
    """A consumed record as the console's records[] entry should show it."""
    return {"offset": m.offset(), "timestamp": m.timestamp()[1], "key": field(m.key()), "value": field(m.value()),
            "headers": [{"key": k, "value": field(v)} for k, v in (m.headers() or [])]}


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One broker for the module (each test uses its own topic and group names)."""
    b = Broker(tmp_path_factory.mktemp("console-bb"), ["group.initial.rebalance.delay.ms=300",
                                                       "transaction.abort.timed.out.transaction.cleanup.interval.ms=500"])
    b.start()
    assert b.metrics, "no http:// line in the ready file"
    yield b
    b.stop()


# --- page and HTTP ------------------------------------------------------------------------------

def test_page_loads_only_its_own_assets_under_a_strict_policy(node):
    """`/` and `/index.html` are the HTML page; it references /console/app.js and
    /console/style.css and nothing from another origin; the security headers are there on the
    page, the assets and the API (CSP limited to 'self', no inline script, nosniff, DENY)."""
    status, h, page = call(node.metrics, "/")
    assert status == 200 and h["content-type"].startswith("text/html"), (status, h)
    assert call(node.metrics, "/index.html")[::2] == (200, page)
    html = page.decode()
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', html)
    assert "/console/app.js" in refs and "/console/style.css" in refs, refs
    for r in refs:
        assert not re.match(r"^(?:[a-z]+:)?//", r, re.I), f"the page references another origin: {r}"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline <script> in the page"
    for path, kind in [("/", "text/html"), ("/console/app.js", "javascript"), ("/console/style.css", "text/css"),
                       ("/api/v1/cluster", JSON_TYPE)]:
        status, h, body = call(node.metrics, path)
        assert status == 200 and kind in h.get("content-type", ""), (path, status, h)
        assert body, path
        csp = h.get("content-security-policy", "")
        assert "'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, (path, csp)
        assert "*" not in csp and "http:" not in csp and "https:" not in csp, (path, csp)
        assert h.get("x-content-type-options", "").lower() == "nosniff", (path, h)
        assert h.get("x-frame-options", "").upper() == "DENY", (path, h)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_every_method_but_get_and_head_is_refused(node, method):
    """Read-only: any other method on the page, the assets and the API (known or unknown paths)
    is 405 with `Allow: GET, HEAD`, and changes nothing."""
    before = api(node.metrics, "/api/v1/topics")
    for path in ["/", "/index.html", "/console/app.js", "/api/v1/cluster", "/api/v1/topics", "/api/v1/topics/x",
                 "/api/v1/groups/g", "/api/v1/messages?topic=x", "/api/v1/no-such-thing"]:
        status, h, _ = call(node.metrics, path, method)
        assert status == 405, (method, path, status)
        assert [a.strip() for a in h.get("allow", "").split(",")] == ["GET", "HEAD"], (method, path, h)
    assert api(node.metrics, "/api/v1/topics") == before


def test_api_method_errors_are_json_too(node):
    """Errors under /api/v1/ are JSON `{"error": ...}`: a refused method there is an error of
    the API like any other (a script reading the API parses every answer as JSON)."""
    status, h, body = call(node.metrics, "/api/v1/topics", "POST")
    assert status == 405
    assert h.get("content-type", "").split(";")[0] == JSON_TYPE, (h, body)
    assert isinstance(json.loads(body).get("error"), str)


def test_head_matches_get_without_a_body(node):
    """HEAD on the page and on API paths answers GET's status and headers (type, length), with
    no body; on an unknown thing it is 404 as GET is."""
    create(node.bootstrap, "bb-head")
    for path in ["/", "/console/app.js", "/api/v1/topics/bb-head", "/api/v1/groups", "/api/v1/messages?topic=bb-head"]:
        gs, gh, gb = call(node.metrics, path)
        hs, hh, hb = call(node.metrics, path, "HEAD")
        assert (hs, hb) == (gs, b"") and gs == 200, (path, hs, hb[:100])
        assert hh.get("content-type") == gh.get("content-type"), path
        assert hh.get("content-length") == gh.get("content-length") == str(len(gb)), (path, hh, gh)
    for path in ["/api/v1/topics/bb-nope", "/api/v1/groups/bb-nope"]:
        hs, _, hb = call(node.metrics, path, "HEAD")
        assert (hs, hb) == (404, b""), path


def test_unknown_and_malformed_paths(node):
    """Unknown API paths are a JSON 404; bad percent-encodings in a name are a JSON 400 (or a
    404: no such thing), never a 5xx or a non-JSON answer; asset paths do not escape their
    directory; a query string on a parameterless endpoint is harmless."""
    api_error(node.metrics, "/api/v1/nope", {404})
    api_error(node.metrics, "/api/v1/topics/bb-missing", {404})
    api_error(node.metrics, "/api/v1/topics/a%2Fb", {404})  # a topic name cannot hold '/'
    api_error(node.metrics, "/api/v1/topics/%ZZ", {400, 404})
    api_error(node.metrics, "/api/v1/groups/%FF%FE", {400, 404})  # not UTF-8
    api_error(node.metrics, "/api/v1/topics/" + "x" * 5000, {400, 404})
    assert call(node.metrics, "/api/v1/cluster?x=1&y")[0] == 200
    for path in ["/console/../../etc/passwd", "/console/..%2F..%2F..%2Fetc%2Fpasswd", "/console/nope.js",
                 "/console/%2e%2e/%2e%2e/etc/passwd"]:
        status, _, body = call(node.metrics, path)
        assert status in (400, 404) and b"root:" not in body, (path, status)


# --- cluster, topics --------------------------------------------------------------------------

def test_cluster_matches_kafka_metadata(node):
    """`cluster` names the cluster, controller and broker as Kafka's Metadata does, counts the
    topics and partitions the metadata lists, and shows the embedded keeper at the address
    clients reach it on (the ready file's second line), not a placeholder."""
    create(node.bootstrap, "bb-cluster", 3)
    md = admin(node.bootstrap).list_topics(timeout=10)
    doc = api(node.metrics, "/api/v1/cluster")
    assert doc["cluster_id"] == md.cluster_id
    assert doc["controller"] == md.controller_id
    (bid, b), = md.brokers.items()
    assert doc["this_broker"] == bid
    assert [(x["id"], x["host"], x["port"], x["status"]) for x in doc["brokers"]] == [(bid, b.host, b.port, "up")]
    parts = sum(len(t.partitions) for t in md.topics.values())
    assert doc["brokers"][0]["leaders"] == doc["brokers"][0]["replicas"] == parts
    assert (doc["topics"], doc["partitions"]) == (len(md.topics), parts)
    assert (doc["under_replicated_partitions"], doc["offline_partitions"]) == (0, 0)
    (k,) = doc["keepers"]
    assert k["embedded"] is True and k["state"] == "standalone" and k["znodes"] > 0 and k["connections"] >= 1, k
    assert k["address"] == node.keeper, f"keeper shown at {k['address']}, it listens on {node.keeper}"


def test_topic_totals_follow_watermarks_and_delete_records(node):
    """`topics` sums the partitions' high watermarks (log_end) and log_end - log_start (records),
    as a consumer's get_watermark_offsets sees them, also after DeleteRecords moves the log
    start; `topics/<name>` shows each partition's log_start/log_end the same way."""
    t = "bb.totals_x-1"
    create(node.bootstrap, t, 3)
    p = Producer({"bootstrap.servers": node.bootstrap})
    for part, n in [(0, 7), (1, 3), (2, 0)]:
        for i in range(n):
            p.produce(t, value=b"v%d" % i, partition=part)
    assert p.flush(30) == 0
    a = admin(node.bootstrap)
    (f,) = a.delete_records([TopicPartition(t, 0, 4)], operation_timeout=30).values()
    f.result(30)

    wm = {part: watermarks(node.bootstrap, t, part) for part in range(3)}
    assert wm[0] == (4, 7), wm
    (row,) = [x for x in api(node.metrics, "/api/v1/topics") if x["name"] == t]
    assert row["partitions"] == 3 and row["replication_factor"] == 1 and row["internal"] is False
    assert row["log_end"] == sum(h for _, h in wm.values()), (row, wm)
    assert row["records"] == sum(h - lo for lo, h in wm.values()), (row, wm)
    detail = api(node.metrics, f"/api/v1/topics/{quote(t)}")
    assert [(x["partition"], x["log_start"], x["log_end"]) for x in detail["partitions"]] == \
        [(part, *wm[part]) for part in range(3)]
    # The browser starts at the new log start; an older offset is clamped to it.
    for offset in ["earliest", "0", "-3"]:
        m = messages(node.metrics, t, partition=0, offset=offset)
        assert (m["log_start"], m["log_end"], m["from"]) == (4, 7, 4), (offset, m)
        assert [r["offset"] for r in m["records"]] == [4, 5, 6]


def test_topic_detail_matches_metadata_and_configs(node):
    """`topics/<name>` (also percent-encoded) lists partitions with leader, replicas and ISR as
    Metadata does, and configs as DescribeConfigs does: an override set at creation is
    `override: true` with its value, defaults are not overrides."""
    t = "bb-detail.cfg_1"
    create(node.bootstrap, t, 2, config={"retention.ms": "3600000", "cleanup.policy": "compact"})
    md = admin(node.bootstrap).list_topics(t, timeout=10).topics[t]
    for path in [quote(t), "bb%2Ddetail%2Ecfg%5F1"]:
        doc = api(node.metrics, f"/api/v1/topics/{path}")
        assert doc["name"] == t and doc["internal"] is False
        got = [(x["partition"], x["leader"], x["replicas"], x["isr"], x["offline_replicas"], x["status"])
               for x in doc["partitions"]]
        assert got == [(i, p.leader, p.replicas, p.isrs, [], "ok") for i, p in sorted(md.partitions.items())]
        assert all(isinstance(x["leader_epoch"], int) and x["leader_epoch"] >= 0 for x in doc["partitions"])
    configs = {c["name"]: c for c in doc["configs"]}
    a = admin(node.bootstrap)
    (described,) = a.describe_configs([ConfigResource("topic", t)]).values()
    described = described.result(30)
    assert set(configs) == set(described), set(configs) ^ set(described)
    for name, entry in described.items():
        c = configs[name]
        if not entry.is_sensitive:
            assert c["value"] == entry.value, (name, c, entry.value)
        assert c["read_only"] == entry.is_read_only, (name, c)
        assert c["override"] == (not entry.is_default), (name, c, entry.source)
    assert configs["retention.ms"]["override"] and configs["retention.ms"]["value"] == "3600000"
    assert configs["cleanup.policy"]["value"] == "compact" and configs["cleanup.policy"]["override"]
    assert configs["segment.bytes"]["override"] is False


def test_many_topics_are_all_listed(node):
    """Fifty topics (with dots, underscores and dashes) are all listed with their partition counts,
    and `cluster` counts them."""
    names = [f"bb.many_{i:02d}-{'x' * (i % 5)}" for i in range(50)]
    a = admin(node.bootstrap)
    for f in a.create_topics([NewTopic(n, 1 + i % 4, 1) for i, n in enumerate(names)]).values():
        f.result(60)
    rows = {x["name"]: x for x in api(node.metrics, "/api/v1/topics")}
    for i, n in enumerate(names):
        assert n in rows, n
        assert rows[n]["partitions"] == 1 + i % 4, rows[n]
    md = a.list_topics(timeout=10)
    doc = api(node.metrics, "/api/v1/cluster")
    assert set(rows) == set(md.topics)
    assert doc["topics"] == len(md.topics)
    assert doc["partitions"] == sum(len(t.partitions) for t in md.topics.values())


def test_parallel_requests_all_answer_correctly(node):
    """Twenty requests at once over every endpoint all answer 200 with the same content as one at
    a time would."""
    t = "bb-parallel"
    create(node.bootstrap, t, 2)
    p = Producer({"bootstrap.servers": node.bootstrap})
    for i in range(30):
        p.produce(t, value=b"r%d" % i, partition=i % 2)
    assert p.flush(30) == 0
    paths = ["/api/v1/cluster", "/api/v1/topics", f"/api/v1/topics/{t}", "/api/v1/groups",
             f"/api/v1/messages?topic={t}&partition=1&limit=15", "/"]
    expected = {path: call(node.metrics, path)[::2] for path in paths}
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(lambda i: (paths[i % len(paths)], call(node.metrics, paths[i % len(paths)])),
                              range(20)))
    for path, (status, _, body) in results:
        assert status == 200, (path, status, body[:200])
        if path.startswith("/api/v1/messages") or path.startswith("/api/v1/topics/"):
            assert (status, body) == expected[path], path
    m = json.loads(expected[f"/api/v1/messages?topic={t}&partition=1&limit=15"][1])
    assert [r["offset"] for r in m["records"]] == list(range(15))


# --- messages -----------------------------------------------------------------------------------

def test_records_of_every_shape_match_what_a_consumer_reads(node):
    """Null and empty keys and values, every byte value, headers (many, null-valued, with
    HTML/unicode keys), explicit timestamps, and fields around the 16 KiB cut: the console's
    records equal what a consumer reads, with size the full size and base64 the first 16 KiB."""
    t = "bb-shapes"
    create(node.bootstrap, t)
    binary = bytes(range(256)) * 3
    cases = [
        dict(key=None, value=None),
        dict(key=b"", value=b""),
        dict(key=binary, value=binary[::-1]),
        dict(key=b"k", value=b"x" * TRUNCATE_AT),
        dict(key=b"k", value=os.urandom(TRUNCATE_AT + 1)),
        dict(key=os.urandom(70000), value=os.urandom(300000)),
        dict(value=b"h", headers=[("n", None), ("e", b""), ("<b id=\"pwn\">\u00e9</b>", b"\xff\x00"),
                                  ("big", os.urandom(TRUNCATE_AT + 10))]),
        dict(value=b"many", headers=[(f"h{i}", str(i).encode()) for i in range(100)]),
        dict(value=b"dup", headers=[("same", b"1"), ("same", b"2")]),
        dict(value=b"ts", timestamp=1_000_000_000_123),
    ]
    p = Producer({"bootstrap.servers": node.bootstrap, "linger.ms": 0, "message.max.bytes": 2 << 20})
    for c in cases:
        p.produce(t, partition=0, **c)
        p.flush(30)
    consumed = consume_all(node.bootstrap, t, 0)
    assert len(consumed) == len(cases)
    want = [as_console(m) for m in consumed]
    m = messages(node.metrics, t, limit=100)
    assert (m["topic"], m["partition"], m["log_start"], m["log_end"], m["from"]) == (t, 0, 0, len(cases), 0)
    assert len(m["records"]) == len(cases)
    for got, exp in zip(m["records"], want):
        assert got == exp, f"offset {exp['offset']}: {json.dumps(got)[:400]} != {json.dumps(exp)[:400]}"
    assert m["records"][4]["value"]["truncated"] and m["records"][4]["value"]["size"] == TRUNCATE_AT + 1
    assert not m["records"][3]["value"]["truncated"]
    assert m["records"][9]["timestamp"] == 1_000_000_000_123


def test_log_append_time_is_what_consumers_see(node):
    """On a `message.timestamp.type=LogAppendTime` topic a consumer sees the broker's append time,
    not the producer's timestamp; the console must show the same."""
    t = "bb-append-time"
    create(node.bootstrap, t, config={"message.timestamp.type": "LogAppendTime"})
    p = Producer({"bootstrap.servers": node.bootstrap})
    for i in range(3):
        p.produce(t, value=b"a%d" % i, timestamp=1_000_000_000_000 + i)
    assert p.flush(30) == 0
    consumed = consume_all(node.bootstrap, t, 0)
    assert all(m.timestamp()[1] > 1_500_000_000_000 for m in consumed)
    assert [r["timestamp"] for r in messages(node.metrics, t)["records"]] == [m.timestamp()[1] for m in consumed]


def test_offset_and_limit_semantics(node):
    """earliest (default), latest (the last `limit` records), numbers clamped into [start, end],
    limit 1..100 (default 20), partition default 0; an empty partition is an empty page."""
    t = "bb-offsets"
    create(node.bootstrap, t, 2)
    p = Producer({"bootstrap.servers": node.bootstrap, "linger.ms": 0})
    for i in range(150):
        p.produce(t, value=b"%d" % i, partition=0)
    assert p.flush(30) == 0

    def page(**params):
        m = messages(node.metrics, t, **params)
        assert (m["log_start"], m["log_end"]) == (0, 150), m
        offsets = [r["offset"] for r in m["records"]]
        for r in m["records"]:
            assert base64.b64decode(r["value"]["base64"]) == b"%d" % r["offset"]
        return m["from"], offsets

    assert page() == (0, list(range(20)))
    assert page(offset="earliest", limit=1) == (0, [0])
    assert page(offset="latest") == (130, list(range(130, 150)))
    assert page(offset="latest", limit=1) == (149, [149])
    assert page(offset="latest", limit=100) == (50, list(range(50, 150)))
    assert page(offset=77, limit=3) == (77, [77, 78, 79])
    assert page(offset=145, limit=100) == (145, list(range(145, 150)))
    assert page(offset=149, limit=5) == (149, [149])
    assert page(offset=150) == (150, [])
    assert page(offset=10**12) == (150, [])
    assert page(offset=2**63 - 1) == (150, [])
    assert page(offset=-1) == (0, list(range(20)))
    assert page(offset=-(2**63)) == (0, list(range(20)))
    assert page(partition=0, offset=0, limit=100)[1] == list(range(100))
    empty = messages(node.metrics, t, partition=1, offset="latest")
    assert (empty["partition"], empty["log_start"], empty["log_end"], empty["from"], empty["records"]) == (1, 0, 0, 0, [])
    short = messages(node.metrics, t, partition=1, offset="latest", limit=100)
    assert short["records"] == []


def test_bad_message_parameters_are_400_and_unknown_things_404(node):
    """Missing topic, non-numeric or out-of-range limit/partition/offset are 400 with a JSON
    error; an unknown topic or partition is 404; nothing is a 5xx."""
    t = "bb-badparams"
    create(node.bootstrap, t)
    base = f"/api/v1/messages?topic={t}"
    for q in ["/api/v1/messages", "/api/v1/messages?topic=", "/api/v1/messages?partition=0",
              f"{base}&limit=0", f"{base}&limit=101", f"{base}&limit=-1", f"{base}&limit=abc", f"{base}&limit=",
              f"{base}&limit=1.5", f"{base}&limit=99999999999999999999999", f"{base}&offset=abc", f"{base}&offset=",
              f"{base}&offset=1e3", f"{base}&offset=0x10", f"{base}&partition=abc", f"{base}&partition=",
              f"{base}&partition=1.0"]:
        api_error(node.metrics, q, {400})
    api_error(node.metrics, f"{base}&offset=99999999999999999999999", {400})
    for q in ["/api/v1/messages?topic=bb-no-such-topic", f"{base}&partition=1", f"{base}&partition=2147483647"]:
        api_error(node.metrics, q, {404})
    api_error(node.metrics, "/api/v1/messages?topic=%C3%A9t%C3%A9", {400, 404})
    api_error(node.metrics, "/api/v1/messages?topic=%FF", {400, 404})
    api_error(node.metrics, "/api/v1/messages?topic=" + "x" * 5000, {400, 404})
    api_error(node.metrics, f"{base}&partition=-1", {400, 404})
    api_error(node.metrics, f"{base}&partition=99999999999", {400, 404})


def test_repeated_and_encoded_query_parameters(node):
    """A percent-encoded topic in the query is decoded once; a repeated parameter is either
    refused (400) or one of its values is used, never a mixture or an error page; unknown
    parameters are ignored."""
    t = "bb-query.params"
    create(node.bootstrap, t)
    p = Producer({"bootstrap.servers": node.bootstrap})
    for i in range(10):
        p.produce(t, value=b"%d" % i)
    assert p.flush(30) == 0
    m = api(node.metrics, "/api/v1/messages?topic=bb%2Dquery%2Eparams&limit=2")
    assert m["topic"] == t and [r["offset"] for r in m["records"]] == [0, 1]
    assert len(api(node.metrics, f"/api/v1/messages?topic={t}&limit=2&bogus=1&format=hex")["records"]) == 2
    status, _, body = call(node.metrics, f"/api/v1/messages?topic={t}&limit=3&limit=5")
    assert status in (200, 400), status
    if status == 200:
        assert len(json.loads(body)["records"]) in (3, 5)
    else:
        assert isinstance(json.loads(body)["error"], str)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_read_from_the_middle(node, codec):
    """A compressed batch of 50 records (one Produce) is readable at an offset inside it: the
    page starts exactly at the asked offset with the right values, and log_end is the high
    watermark."""
    t = f"bb-codec-{codec}"
    create(node.bootstrap, t)
    p = Producer({"bootstrap.servers": node.bootstrap, "compression.type": codec, "linger.ms": 1000,
                  "batch.num.messages": 1000})
    for i in range(50):
        p.produce(t, key=b"k%d" % i, value=(b"value-%d-" % i) * 20)
    assert p.flush(30) == 0
    assert watermarks(node.bootstrap, t, 0) == (0, 50)
    m = messages(node.metrics, t, offset=23, limit=4)
    assert (m["from"], m["log_end"]) == (23, 50)
    assert [(r["offset"], base64.b64decode(r["key"]["base64"]), base64.b64decode(r["value"]["base64"]))
            for r in m["records"]] == [(i, b"k%d" % i, (b"value-%d-" % i) * 20) for i in range(23, 27)]
    assert [r["offset"] for r in messages(node.metrics, t, offset="latest", limit=3)["records"]] == [47, 48, 49]


def test_transactional_control_records_are_not_records(node):
    """A transactional log holds data records and commit/abort markers. Like a read_uncommitted
    consumer, the console shows data records (aborted ones included) with their true offsets and
    never a control marker as a record; `latest` still shows the last data record although the
    log ends with a marker."""
    t = "bb-txn"
    create(node.bootstrap, t)
    p = Producer({"bootstrap.servers": node.bootstrap, "transactional.id": "bb-txn-producer"})
    p.init_transactions(30)
    for values, commit in [([b"c0", b"c1", b"c2"], True), ([b"a0", b"a1"], False), ([b"c3"], True)]:
        p.begin_transaction()
        for v in values:
            p.produce(t, value=v)
        p.flush(30)
        (p.commit_transaction if commit else p.abort_transaction)(30)
    low, high = watermarks(node.bootstrap, t, 0)
    consumed = consume_all(node.bootstrap, t, 0)
    data = {m.offset(): m.value() for m in consumed}
    assert [v for v in data.values()] == [b"c0", b"c1", b"c2", b"a0", b"a1", b"c3"]
    assert high == 9, high  # 6 records + 3 markers
    m = messages(node.metrics, t, limit=100)
    assert m["log_end"] == high
    got = {r["offset"]: base64.b64decode(r["value"]["base64"]) if r["value"] else None for r in m["records"]}
    assert set(got) <= set(data), f"offsets shown that hold no data record (markers?): {sorted(set(got) - set(data))}"
    assert got == data, got
    committed_reader = {m.offset() for m in consume_all(node.bootstrap, t, 0, "read_committed")}
    assert committed_reader <= set(got)
    last = messages(node.metrics, t, offset="latest", limit=1)
    assert [r["offset"] for r in last["records"]] == [max(data)], last


def test_deleted_topic_and_internal_topic(node):
    """A deleted topic is gone from `topics` and is 404 in `topics/<name>` and `messages`, while a
    group that committed on it is still described; the offsets topic is listed as internal; a
    249-character name (Kafka's maximum) is served like any other."""
    t, g, long_name = "bb-deleted", "bb-group-of-deleted", "bb-" + "l" * 246
    create(node.bootstrap, t)
    create(node.bootstrap, long_name)
    commit_offsets(node.bootstrap, g, [TopicPartition(t, 0, 0)])
    a = admin(node.bootstrap)
    a.delete_topics([t])[t].result(30)
    wait_until(lambda: t not in a.list_topics(timeout=10).topics, timeout_s=30, what="the topic deleted")
    rows = {x["name"]: x for x in api(node.metrics, "/api/v1/topics")}
    assert t not in rows
    assert rows["__consumer_offsets"]["internal"] is True and rows[long_name]["internal"] is False
    api_error(node.metrics, f"/api/v1/topics/{t}", {404})
    api_error(node.metrics, f"/api/v1/messages?topic={t}", {404})
    assert api(node.metrics, f"/api/v1/topics/{long_name}")["name"] == long_name
    assert messages(node.metrics, long_name)["records"] == []
    assert api(node.metrics, "/api/v1/topics/__consumer_offsets")["internal"] is True
    doc = api(node.metrics, "/api/v1/groups/" + quote(g, safe=""))
    assert doc["group"] == g and all(o["log_end"] is None for o in doc["offsets"] if o["topic"] == t), doc


def test_pages_of_large_records_are_contiguous(node):
    """Records of 600 KB each (many Kafka fetches' worth for a page of 100): a page holds
    consecutive offsets from `from`, each value cut to 16 KiB with its full size, and `latest`
    ends at the last record."""
    t = "bb-large-records"
    create(node.bootstrap, t, config={"max.message.bytes": str(2 << 20)})
    p = Producer({"bootstrap.servers": node.bootstrap, "message.max.bytes": 2 << 20, "linger.ms": 0})
    for i in range(30):
        p.produce(t, value=bytes([i]) * 600_000)
    assert p.flush(60) == 0
    for params, first in [({"limit": 100}, 0), ({"offset": 7, "limit": 100}, 7)]:
        m = messages(node.metrics, t, **params)
        offsets = [r["offset"] for r in m["records"]]
        assert m["from"] == first and offsets and offsets == list(range(first, first + len(offsets))), (params, offsets)
        for r in m["records"]:
            assert r["value"]["size"] == 600_000 and r["value"]["truncated"] is True
            assert base64.b64decode(r["value"]["base64"]) == bytes([r["offset"]]) * TRUNCATE_AT
    m = messages(node.metrics, t, offset="latest", limit=25)
    assert m["from"] == 5 and [r["offset"] for r in m["records"]][-1:] == [29], m["from"]


# --- groups -------------------------------------------------------------------------------------

GROUP_NAMES = ["bb grp with spaces", "bb/grp/slashes", "bb-grüppe-✓-日本", "bb-100%", "bb-%2F-literal",
               "bb-<b id=\"pwngroup\">x</b>", "bb.grp_under-dash", "bb?q=1#frag", "bb+plus"]


def commit_offsets(bootstrap, group, offsets):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=offsets, asynchronous=False)
        return c.committed([TopicPartition(tp.topic, tp.partition) for tp in offsets], timeout=10)
    finally:
        c.close()


def test_groups_with_unusual_ids_are_found_verbatim(node):
    """Groups with spaces, slashes, unicode, '%', HTML, '?', '#' and '+' in their ids are listed
    verbatim and found at `groups/<percent-encoded id>` (decoded exactly once), as Empty groups
    without members, with the committed offsets committed() reads; a group that does not exist
    (even one differing by a trailing space) is 404."""
    t = "bb-groups"
    create(node.bootstrap, t, 2)
    for i, g in enumerate(GROUP_NAMES):
        commit_offsets(node.bootstrap, g, [TopicPartition(t, 0, 1 + i % 5), TopicPartition(t, 1, 2)])
    listed = {x["group"]: x for x in api(node.metrics, "/api/v1/groups")["groups"]}
    for i, g in enumerate(GROUP_NAMES):
        assert g in listed, (g, sorted(listed))
        row = listed[g]
        assert (row["members"], row["state"], row["coordinator"], row["partitions"]) == (0, "Empty", 0, 2), row
        doc = api(node.metrics, "/api/v1/groups/" + quote(g, safe=""))
        assert doc["group"] == g and doc["members"] == [] and doc["state"] == "Empty", doc
        committed = commit_offsets(node.bootstrap, g, [TopicPartition(t, 0, 1 + i % 5), TopicPartition(t, 1, 2)])
        assert [(o["topic"], o["partition"], o["committed"], o["owner"]) for o in doc["offsets"]] == \
            [(t, tp.partition, tp.offset, None) for tp in committed], doc["offsets"]
    # Decoded once: "%252F" names the group "bb-%2F-literal", "%2F" would be "/".
    assert api(node.metrics, "/api/v1/groups/bb-%252F-literal")["group"] == "bb-%2F-literal"
    api_error(node.metrics, "/api/v1/groups/bb-%2F-literal", {404})
    api_error(node.metrics, "/api/v1/groups/bb-never-existed", {404})
    api_error(node.metrics, "/api/v1/groups/" + quote("bb grp with spaces ", safe=""), {404})


def test_group_lag_is_known_for_a_new_topic(node):
    """Right after a group commits on a topic created a moment ago, `groups/<id>` and `groups`
    show log_end (the high watermark) and lag (log_end - committed), as kafka-consumer-groups
    --describe does with a ListOffsets of its own; the answer must not depend on someone having
    loaded another console page first."""
    t, g = "bb-lag-new-topic", "bb lag group"
    create(node.bootstrap, t, 2)
    p = Producer({"bootstrap.servers": node.bootstrap})
    for i in range(12):
        p.produce(t, value=b"%d" % i, partition=i % 2)
    assert p.flush(30) == 0
    commit_offsets(node.bootstrap, g, [TopicPartition(t, 0, 1), TopicPartition(t, 1, 2)])
    want = [(0, 1, 6, 5), (1, 2, 6, 4)]

    def shown():
        doc = api(node.metrics, "/api/v1/groups/" + quote(g, safe=""))
        return [(o["partition"], o["committed"], o["log_end"], o["lag"]) for o in doc["offsets"]], doc["lag"]
    try:
        wait_until(lambda: shown() == (want, 9), timeout_s=10, interval_s=0.2, what="the group's lag")
    except AssertionError:
        before = shown()
        api(node.metrics, "/api/v1/cluster")
        raise AssertionError(f"groups/<id> shows {before}, want {(want, 9)}; "
                             f"after one GET /api/v1/cluster it shows {shown()}") from None
    (row,) = [x for x in api(node.metrics, "/api/v1/groups")["groups"] if x["group"] == g]
    assert row["lag"] == 9, row


def test_active_group_shows_members_assignment_and_owners(node):
    """A group with two running consumers is Stable with both members; each member's assignment
    is what the consumer itself was assigned; each offset row names the member owning it; the
    list row counts members and partitions."""
    t, g = "bb-active", "bb active/group ✓"
    create(node.bootstrap, t, 4)
    p = Producer({"bootstrap.servers": node.bootstrap})
    for i in range(40):
        p.produce(t, value=b"%d" % i, partition=i % 4)
    assert p.flush(30) == 0
    consumers = [Consumer({"bootstrap.servers": node.bootstrap, "group.id": g, "client.id": f"bb-client-{i}",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False,
                           "partition.assignment.strategy": "range"}) for i in range(2)]
    try:
        for c in consumers:
            c.subscribe([t])

        def balanced():
            for c in consumers:
                c.poll(0.1)
            return sum(len(c.assignment()) for c in consumers) == 4 and all(c.assignment() for c in consumers)
        wait_until(balanced, timeout_s=60, interval_s=0, what="both consumers assigned")
        for c in consumers:
            c.commit(offsets=[TopicPartition(t, tp.partition, 3) for tp in c.assignment()], asynchronous=False)

        def doc_settled():
            for c in consumers:
                c.poll(0.05)
            d = api(node.metrics, "/api/v1/groups/" + quote(g, safe=""))
            return d if d["state"] == "Stable" and len(d["members"]) == 2 else None
        wait_until(lambda: doc_settled() is not None, timeout_s=30, interval_s=0.2, what="a Stable group of 2")
        doc = doc_settled()
        assert doc["group"] == g and doc["protocol_type"] == "consumer" and doc["protocol"] == "range"
        by_client = {m["client_id"]: m for m in doc["members"]}
        owner_of = {}
        for i, c in enumerate(consumers):
            m = by_client[f"bb-client-{i}"]
            assert m["member_id"] == c.memberid(), (m, c.memberid())
            assert sorted((a["topic"], a["partition"]) for a in m["assignment"]) == \
                sorted((tp.topic, tp.partition) for tp in c.assignment()), m
            owner_of.update({tp.partition: m["member_id"] for tp in c.assignment()})
        rows = {o["partition"]: o for o in doc["offsets"]}
        committed_parts = set(range(4))
        assert set(rows) == committed_parts, rows
        for part, o in rows.items():
            assert o["owner"] == owner_of[part], o
            assert o["committed"] == 3, o
        (row,) = [x for x in api(node.metrics, "/api/v1/groups")["groups"] if x["group"] == g]
        assert row["members"] == 2 and row["state"] == "Stable" and row["protocol_type"] == "consumer", row
        assert row["partitions"] == 4 and row["lag"] == doc["lag"], (row, doc["lag"])
        api(node.metrics, "/api/v1/cluster")  # lest a stale view (see test_group_lag_is_known_for_a_new_topic) hide this
        doc = api(node.metrics, "/api/v1/groups/" + quote(g, safe=""))
        assert [(o["log_end"], o["lag"]) for o in doc["offsets"]] == [(10, 7)] * len(committed_parts), doc["offsets"]
        assert doc["lag"] == 7 * len(committed_parts)
    finally:
        for c in consumers:
            c.close()


# --- keeper-only node ---------------------------------------------------------------------------

def test_keeper_only_node_answers_503_json(tmp_path):
    """A keeper-only node serves no cluster view: the API answers 503 with a JSON error (the
    read-only rule still holds there)."""
    client, peer = free_ports(2)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([SLUICED, "-o", "metrics.listener=127.0.0.1:0", "-o", "process.roles=keeper",
                             "-o", "keeper.id=1", "-o", f"keeper.servers=1@127.0.0.1:{peer}",
                             "-o", "keeper.client.address=127.0.0.1", "-o", f"keeper.client.port={client}",
                             "-o", f"log.dirs={tmp_path / 'data'}", "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: ready.exists() and any(x.startswith("http://") for x in ready.read_text().splitlines()),
                   timeout_s=60, what="the keeper's ready file")
        url = next(x.strip() for x in ready.read_text().splitlines() if x.startswith("http://"))
        for path in ["/api/v1/cluster", "/api/v1/topics", "/api/v1/groups", "/api/v1/messages?topic=x"]:
            api_error(url, path, {503})
        assert call(url, "/api/v1/cluster", "POST")[0] == 405
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


# --- three brokers ------------------------------------------------------------------------------

def test_cluster_view_from_every_broker_and_a_dead_one(make_cluster):  # noqa: F811  (the fixture)
    """Three brokers: every broker's console answers the same records for partitions it does not
    lead (it reads from the leader) and the same group offsets whatever the coordinator; after
    one broker is killed, the others show it `down` (its id still named by replica sets), the
    partitions it held as under-replicated with it among offline_replicas, and ISRs, leaders and
    counts as Kafka's metadata reports them."""
    c = make_cluster()
    t = "bb-replicated"
    c.create_topic(t, 3)
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all"})
    for i in range(30):
        p.produce(t, value=b"%d" % i, partition=i % 3)
    assert p.flush(30) == 0
    g = "bb cluster/group"
    commit_offsets(c.bootstrap, g, [TopicPartition(t, part, 2 + part) for part in range(3)])
    urls = {i: n.metrics_url() for i, n in c.brokers.items()}
    for i, url in urls.items():
        for part in range(3):
            m = messages(url, t, partition=part, limit=100)
            assert (m["log_start"], m["log_end"]) == (0, 10), (i, part, m)
            assert [base64.b64decode(r["value"]["base64"]) for r in m["records"]] == \
                [b"%d" % n for n in range(part, 30, 3)], (i, part)
        doc = api(url, "/api/v1/groups/" + quote(g, safe=""))
        assert [(o["partition"], o["committed"], o["lag"]) for o in doc["offsets"]] == \
            [(part, 2 + part, 8 - part) for part in range(3)], (i, doc)
        cl = api(url, "/api/v1/cluster")
        assert cl["this_broker"] == i and [b["status"] for b in cl["brokers"]] == ["up"] * 3, (i, cl)
        assert len(cl["keepers"]) == 3 and not any(k["embedded"] for k in cl["keepers"]), cl["keepers"]
        assert sorted(k["address"] for k in cl["keepers"]) == sorted(k.address for k in c.keepers)

    c.brokers[3].kill()
    c.wait_for_isrs(t, lambda p: 3 not in p.isrs and p.leader in (1, 2), "broker 3 out of every ISR", timeout_s=60)
    # The metadata read next may come from a broker whose cache has not taken up every shrink
    # yet (each learns them from keeper in its own time): read until it has.
    wait_until(lambda: all(3 not in x.isrs for x in c.partitions(t).values()), timeout_s=40, interval_s=0.5,
               what="the metadata read here showing broker 3 out of every ISR")
    parts = c.partitions(t)
    assert all(3 not in x.isrs for x in parts.values()), parts

    def want():
        """What Kafka's metadata (from a live broker) says now."""
        all_parts = [p for tm in c.metadata().topics.values() for p in tm.partitions.values()]
        return {"brokers": {1: "up", 2: "up", 3: "down"},
                "leaders": {b: sum(p.leader == b for p in all_parts) for b in (1, 2, 3)},
                "replicas": {b: sum(b in p.replicas for p in all_parts) for b in (1, 2, 3)},
                "under_replicated": sum(len(p.isrs) < len(p.replicas) for p in all_parts), "offline": 0}

    def seen():
        cl = api(urls[1], "/api/v1/cluster")
        return {"brokers": {b["id"]: b["status"] for b in cl["brokers"]},
                "leaders": {b["id"]: b["leaders"] for b in cl["brokers"]},
                "replicas": {b["id"]: b["replicas"] for b in cl["brokers"]},
                "under_replicated": cl["under_replicated_partitions"], "offline": cl["offline_partitions"]}
    try:
        wait_until(lambda: seen() == want(), timeout_s=40, interval_s=0.5, what="the console's view of the cluster")
    except AssertionError:
        raise AssertionError(f"cluster shows {seen()}, Kafka metadata says {want()}") from None
    # Broker 2's metadata learns each ISR shrink from keeper in its own time (as a Kafka broker
    # does from the controller's UpdateMetadata): wait for its view to agree.
    def topic_view():
        return [(x["partition"], x["leader"], x["replicas"], sorted(x["isr"]))
                for x in api(urls[2], f"/api/v1/topics/{t}")["partitions"]]
    expected = [(n, parts[n].leader, parts[n].replicas, sorted(parts[n].isrs)) for n in sorted(parts)]
    wait_until(lambda: topic_view() == expected, timeout_s=40, interval_s=0.5,
               what=f"broker 2's view of {t} as metadata says: {expected}")
    doc = api(urls[2], f"/api/v1/topics/{t}")
    for x in doc["partitions"]:
        assert x["offline_replicas"] == [3] and x["status"] == "under-replicated", x
    (row,) = [x for x in api(urls[2], "/api/v1/topics") if x["name"] == t]
    assert row["under_replicated"] == 3 and row["offline"] == 0 and row["log_end"] == 30, row
    for part in range(3):
        assert len(messages(urls[1], t, partition=part, offset="latest", limit=5)["records"]) == 5


# --- the page in a browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        pytest.skip("Debian's chromium and chromedriver are not installed")
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--proxy-server=http://127.0.0.1:9"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def open_route(d, url, route, table):
    """Opens the page at `route` and waits until table#`table` has a data row; returns its text."""
    d.get(f"{url}/{route}")
    d.refresh()  # a hash change alone may not reload; make every route a fresh page

    def rows():
        return d.execute_script(
            "const t = document.getElementById(arguments[0]); if (!t) return null;"
            "const r = t.querySelectorAll('tbody tr'); return r.length ? t.innerText : null;", table)
    wait_until(lambda: rows() is not None, timeout_s=20, interval_s=0.2, what=f"table #{table} on {route}")
    return rows()


def injected(d):
    """Elements that only markup from data could have made, and any script side effect."""
    return d.execute_script(
        "return [document.querySelectorAll('#pwn, #pwngroup, #pwnvalue, #pwnhash, img[src=\"x\"]').length,"
        " window.__pwned || null];")


def test_page_routes_draw_their_tables(node, browser):
    """Every hash route draws its tables with data from the API: overview (brokers, keepers),
    topics, a topic (partitions, configs), groups, a group (members, offsets), live (rates),
    browse (records, in text and hex)."""
    t, g = "bb-page", "bb-page-group"
    create(node.bootstrap, t, 2)
    p = Producer({"bootstrap.servers": node.bootstrap})
    p.produce(t, value=b"hello-page", partition=0)
    assert p.flush(30) == 0
    commit_offsets(node.bootstrap, g, [TopicPartition(t, 0, 1)])
    u = node.metrics
    assert "127.0.0.1" in open_route(browser, u, "#/", "brokers")
    assert open_route(browser, u, "#/", "keepers")
    assert t in open_route(browser, u, "#/topics", "topics")
    assert "retention.ms" in open_route(browser, u, f"#/topic/{t}", "configs")
    open_route(browser, u, f"#/topic/{t}", "partitions")
    assert g in open_route(browser, u, "#/groups", "groups")
    assert t in open_route(browser, u, f"#/group/{quote(g, safe='')}", "offsets")
    browser.get(f"{u}/#/group/{quote(g, safe='')}")
    wait_until(lambda: browser.execute_script("return !!document.getElementById('members')"), timeout_s=20,
               what="table #members")
    browser.get(f"{u}/#/live")
    browser.refresh()
    wait_until(lambda: browser.execute_script("return !!document.getElementById('rates')"), timeout_s=20,
               what="table #rates")
    assert "hello-page" in open_route(browser, u, f"#/browse?topic={t}&partition=0&offset=earliest&format=text", "records")
    hexed = open_route(browser, u, f"#/browse?topic={t}&partition=0&offset=earliest&format=hex", "records")
    assert "68656c6c6f2d70616765" in re.sub(r"\s", "", hexed).lower(), hexed
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, f"errors in the page (CSP violations, failed loads, exceptions): {severe}"


LINK_GROUPS = ["bb link?q=1#frag", "bb/link/slash", "bb 100% link", "bb-%2F-link"]


def test_page_links_reach_groups_with_url_syntax_in_their_ids(node, browser):
    """Following a group's link in the groups table opens that group (its offsets table names
    its topic), even when its id holds '?', '#', '/', '%' or a literal '%2F': the page encodes
    the ids it puts in routes and decodes them exactly once."""
    t = "bb-link-topic"
    create(node.bootstrap, t)
    for i, g in enumerate(LINK_GROUPS):
        commit_offsets(node.bootstrap, g, [TopicPartition(t, 0, i)])
    u = node.metrics
    for i, g in enumerate(LINK_GROUPS):
        open_route(browser, u, "#/groups", "groups")
        links = [a for a in browser.find_elements("css selector", "#groups a") if a.text == g]
        assert len(links) == 1, (g, [a.text for a in browser.find_elements("css selector", "#groups a")])
        links[0].click()

        def opened():
            return browser.execute_script(
                "const t = document.getElementById('offsets');"
                "return t && t.querySelectorAll('tbody tr').length ? document.getElementById('view').innerText : null;")
        wait_until(lambda: opened() is not None, timeout_s=20, interval_s=0.2, what=f"group {g!r} opened by its link")
        text = opened()
        assert g in text and t in text, (g, browser.current_url, text[:500])
        row = browser.execute_script("return document.querySelector('#offsets tbody tr').innerText")
        assert re.search(rf"\b{i}\b", row), (g, row)


def test_page_shows_hostile_bytes_and_names_as_text(node, browser):
    """Record values, header keys, header values and group ids made of HTML, and a crafted route
    naming an HTML "topic", are shown as text: no element from the data appears in the DOM and
    no script runs."""
    t, g = "bb-xss", "bb-<b id=\"pwngroup\">x</b>"
    create(node.bootstrap, t)
    value = b'<b id="pwnvalue">v</b><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    p = Producer({"bootstrap.servers": node.bootstrap})
    p.produce(t, key=b'<b id="pwn">k</b>', value=value,
              headers=[('<b id="pwn">h</b>', b'<img src=x onerror="window.__pwned=3">')])
    p.produce(t, value=b'{"html": "<b id=\\"pwnvalue\\">j</b>"}')
    assert p.flush(30) == 0
    commit_offsets(node.bootstrap, g, [TopicPartition(t, 0, 1)])
    u = node.metrics
    for fmt in ["text", "hex", "json"]:
        text = open_route(browser, u, f"#/browse?topic={t}&partition=0&offset=earliest&format={fmt}", "records")
        assert injected(browser) == [0, None], (fmt, injected(browser))
        if fmt == "text":
            assert '<b id="pwnvalue">v</b>' in text and '<b id="pwn">h</b>' in text, text
        # Whatever the format shows of headers, it must still be text.
        body = browser.execute_script("return document.body.innerText")
        assert "pwn" in body, fmt
    text = open_route(browser, u, "#/groups", "groups")
    assert g in text and injected(browser) == [0, None], text
    text = open_route(browser, u, f"#/group/{quote(g, safe='')}", "offsets")
    assert injected(browser) == [0, None]
    assert g in browser.execute_script("return document.body.innerText")
    # A crafted link: the name is not a topic, so the page shows an error naming it - as text.
    for route in ['#/topic/%3Cb%20id%3D%22pwnhash%22%3Ex%3C%2Fb%3E',
                  '#/topic/<b id="pwnhash">x</b>',
                  '#/browse?topic=%3Cb%20id%3D%22pwnhash%22%3Ex%3C%2Fb%3E',
                  '#/group/%3Cimg%20src%3Dx%20onerror%3D%22window.__pwned%3D4%22%3E']:
        browser.get(f"{u}/{route}")
        browser.refresh()
        wait_until(lambda: browser.execute_script(
            "const e = document.getElementById('error'); const v = document.getElementById('view');"
            "return (e && !e.hidden && e.innerText.length > 0) || (v && !/Loading/.test(v.innerText));"),
            timeout_s=20, interval_s=0.2, what=f"the page's answer to {route}")
        assert injected(browser) == [0, None], (route, injected(browser))

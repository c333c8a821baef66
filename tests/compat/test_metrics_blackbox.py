"""Black-box checks of the HTTP endpoint on `metrics.listener` (/metrics, /health, /ready), as an
operator would probe it: HTTP details (HEAD, query strings, methods, keep-alive, silent and idle
clients), the exposition under concurrent scrapes and traffic, and series that follow the
cluster (transactions, deleted topics, odd topic names, connections, error codes, purgatory)."""

import contextlib
import http.client
import socket
import struct
import subprocess
import threading
import time
from urllib.parse import urlsplit

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from conftest import SLUICED, Broker, serve_broker, wait_until
from raw_kafka import api_versions, fetch_v4, read_frame
from test_produce_rewrites import Rec, Wire, record_batch

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP_TIMEOUT_S = 10
SETTLE_S = 60
UNKNOWN_TOPIC_OR_PARTITION = 3


def call(url, path, method="GET", headers=None, timeout=HTTP_TIMEOUT_S):
    """(status, lower-cased headers, body bytes) of one request on a fresh connection."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def raw(url, data, timeout=HTTP_TIMEOUT_S):
    """Every byte the endpoint sends back for `data`, read until it closes."""
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        s.sendall(data)
        return b"".join(iter(lambda: s.recv(65536), b""))


def health_ok(url, timeout=2):
    try:
        return call(url, "/health", timeout=timeout)[::2] == (200, b"ok\n")
    except OSError:
        return False


def scrape_text(url, path="/metrics"):
    status, headers, body = call(url, path)
    assert status == 200, body
    assert headers.get("content-type") == CONTENT_TYPE, headers
    return body.decode()


def samples(text):
    """{(sample name, frozenset of labels): value} by the Prometheus project's parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(found, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and want <= ls)


def scrape(url):
    return samples(scrape_text(url))


def promtool(text):
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr


def create_topics(bootstrap, names, partitions=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    for f in futures.values():
        f.result(30)


def produce(bootstrap, topic, count, size=50):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for n in range(count):
        p.produce(topic, value=b"v" * size, key=str(n).encode())
    assert p.flush(60) == 0


def consume(bootstrap, topic, group, count):
    """Reads `count` records of `topic` in `group`, commits and leaves."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = 0, time.monotonic() + SETTLE_S
    while got < count and time.monotonic() < deadline:
        got += sum(1 for m in c.consume(50, timeout=1) if m.error() is None)
    c.commit(asynchronous=False)
    c.close()
    assert got == count, got


def no_duplicate_series(text):
    keys = [line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert len(keys) == len(set(keys)), sorted(k for k in set(keys) if keys.count(k) > 1)


@contextlib.contextmanager
def traffic(bootstrap, topic):
    """A producer writing to `topic` in the background while the block runs; yields its count."""
    producer, stopping, sent = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2}), threading.Event(), [0]

    def run():
        while not stopping.is_set() and sent[0] < 200_000:
            producer.produce(topic, value=b"t" * 100)
            sent[0] += 1
            producer.poll(0)
            time.sleep(0.001)
        producer.flush(30)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: sent[0] > 100, timeout_s=30, what="traffic started")
        yield sent
    finally:
        stopping.set()
        thread.join(60)


@pytest.fixture
def strict_broker(tmp_path, request):
    yield from serve_broker(tmp_path, request, ["auto.create.topics.enable=false"])


# --- HTTP behaviour ---------------------------------------------------------------------------------

def test_metrics_content_type_is_exactly_prometheus_text_0_0_4_even_for_an_openmetrics_accept(broker):
    prometheus_accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                         "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    status, got, body = call(broker.metrics, "/metrics", headers={"Accept": prometheus_accept})
    assert status == 200 and got.get("content-type") == CONTENT_TYPE, got
    assert int(got["content-length"]) == len(body), "content-length matches the body"
    promtool(body.decode())


def test_head_answers_like_get_with_headers_and_no_body(broker):
    for path, content_type in (("/metrics", CONTENT_TYPE), ("/health", None), ("/ready", None)):
        status, headers, body = call(broker.metrics, path, method="HEAD")
        assert status == 200 and body == b"", (path, status, body)
        if content_type:
            assert headers.get("content-type") == content_type, headers
    # On the wire: nothing after the head, even for a body GET would have.
    answer = raw(broker.metrics, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and rest == b"", answer
    assert call(broker.metrics, "/no-such-path", method="HEAD")[0] == 404


def test_query_strings_are_ignored_and_paths_with_trailing_junk_are_404(broker):
    found = samples(scrape_text(broker.metrics, "/metrics?x=1&name[]=sluice_partitions"))
    assert total(found, "sluice_active_controller") == 1
    assert call(broker.metrics, "/health?probe=liveness")[::2] == (200, b"ok\n")
    assert call(broker.metrics, "/ready?")[::2] == (200, b"ready\n")
    for junk in ("/metricsx", "/metrics.json", "/healthz", "/health/extra", "/ready%00", "//metrics", "/console/",
                 "/console/app.jsx", "/api/v1"):
        assert call(broker.metrics, junk)[0] == 404, junk
    # `/` is the console's page (tests/compat/test_console.py).
    assert call(broker.metrics, "/")[0] == 200


def test_methods_other_than_get_and_head_are_refused_with_405(broker):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        for path in ("/metrics", "/health", "/ready"):
            status, _, body = call(broker.metrics, path, method=method)
            assert status == 405, (method, path, status, body)


def test_a_405_names_get_and_head_in_an_allow_header_as_rfc_9110_requires(broker):
    status, headers, _ = call(broker.metrics, "/metrics", method="POST")
    assert status == 405 and {"GET", "HEAD"} <= {m.strip() for m in headers.get("allow", "").split(",")}, headers


def test_http_1_1_keep_alive_serves_several_requests_on_one_connection(broker):
    u = urlsplit(broker.metrics)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.connect()
        first = conn.sock
        for method, path, want in [("GET", "/metrics", 200), ("GET", "/health", 200), ("HEAD", "/metrics", 200),
                                   ("GET", "/nothing", 404), ("GET", "/ready", 200), ("GET", "/metrics?a=b", 200)]:
            conn.request(method, path)
            r = conn.getresponse()
            body = r.read()
            assert r.status == want, (method, path, r.status, body)
            assert conn.sock is first, f"the endpoint closed the connection after {method} {path}"
    finally:
        conn.close()
    # HTTP/1.0 without Host (curl -0, old probes): answered, then closed.
    answer = raw(broker.metrics, b"GET /health HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n")[0] and answer.endswith(b"ok\n")


def test_a_silent_client_does_not_block_scrapes_and_is_dropped_after_the_head_timeout(broker):
    u = urlsplit(broker.metrics)
    silent = socket.create_connection((u.hostname, u.port), timeout=30)
    partial = socket.create_connection((u.hostname, u.port), timeout=30)
    try:
        partial.sendall(b"GET /metr")
        opened = time.monotonic()
        assert health_ok(broker.metrics, timeout=5), "/health while two clients stall"
        assert total(scrape(broker.metrics), "sluice_active_controller") == 1
        # A slow but complete head (in pieces, well within 10 s) is served.
        with socket.create_connection((u.hostname, u.port), timeout=HTTP_TIMEOUT_S) as slow:
            for piece in (b"GET /hea", b"lth HTTP/1.1\r\nHo", b"st: x\r\nConnection: close\r\n\r\n"):
                slow.sendall(piece)
                time.sleep(0.5)
            answer = b"".join(iter(lambda: slow.recv(4096), b""))
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok\n"), answer
        for s in (silent, partial):  # no head within 10 s: closed (maybe after a 408)
            while s.recv(4096):
                pass
        waited = time.monotonic() - opened
        assert waited < 25, f"stalled clients held for {waited:.1f}s"
    finally:
        silent.close()
        partial.close()


def open_idle(url, count, keep_alive=False):
    """`count` connections that send nothing (or, `keep_alive`, one request and then nothing)."""
    u = urlsplit(url)
    socks = []
    for _ in range(count):
        try:
            s = socket.create_connection((u.hostname, u.port), timeout=5)
            socks.append(s)
            if keep_alive:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert s.recv(4096).startswith(b"HTTP/1.1 200")
        except OSError:
            break  # over the limit: refused, which the spec allows
    return socks


def test_seventy_idle_connections_do_not_stop_health_once_they_close(broker):
    idle = open_idle(broker.metrics, 70)
    try:
        assert len(idle) >= 65, f"only {len(idle)} connections opened"
        health_ok(broker.metrics, timeout=2)  # over the 64 limit: may be refused or wait; either is fine
    finally:
        for s in idle:
            s.close()
    wait_until(lambda: health_ok(broker.metrics), timeout_s=15, interval_s=0.2,
               what="/health for a new client after 70 idle connections closed")
    assert scrape(broker.metrics), "a full scrape too"


def test_up_to_64_connections_are_served_and_idle_ones_lock_health_out_at_most_the_head_timeout(broker):
    idle = open_idle(broker.metrics, 31, keep_alive=True) + open_idle(broker.metrics, 32)
    try:
        assert len(idle) == 63 and health_ok(broker.metrics, timeout=5), "the 64th connection is served"
        idle += open_idle(broker.metrics, 7)
        started = time.monotonic()
        wait_until(lambda: health_ok(broker.metrics), timeout_s=30, interval_s=0.2,
                   what="/health while 70 idle connections stay open (each is dropped after 10 s)")
        assert time.monotonic() - started < 25
    finally:
        for s in idle:
            s.close()


def test_a_head_trickled_a_byte_at_a_time_is_cut_off_10_s_after_it_began(broker):
    u = urlsplit(broker.metrics)
    with socket.create_connection((u.hostname, u.port), timeout=1) as s:
        began, closed = time.monotonic(), False
        while not closed and time.monotonic() - began < 30:
            try:
                s.sendall(b"X")
                closed = s.recv(4096) is not None  # an answer (a 408) or EOF: the server gave up
            except socket.timeout:
                time.sleep(0.5)
            except OSError:
                closed = True
        assert closed and time.monotonic() - began < 20, f"still open after {time.monotonic() - began:.1f}s"


# --- The exposition under traffic ----------------------------------------------------------------

def counter_samples(text):
    """Samples that must never decrease: counters', and histograms' _count, _sum and buckets."""
    return {(s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text)
            if f.type in ("counter", "histogram") for s in f.samples}


def test_counters_never_decrease_across_scrapes_while_traffic_flows(broker):
    create_topics(broker.bootstrap, ["flowing"], partitions=2)
    with traffic(broker.bootstrap, "flowing"):
        previous = counter_samples(scrape_text(broker.metrics))
        for _ in range(15):
            time.sleep(0.2)
            current = counter_samples(scrape_text(broker.metrics))
            decreased = {k: (previous[k], v) for k, v in current.items() if k in previous and v < previous[k]}
            vanished = set(previous) - set(current)
            assert not decreased and not vanished, (decreased, vanished)
            previous = current
    assert total(previous, "sluice_topic_messages_in_total", topic="flowing") > 0
    assert total(previous, "sluice_requests_total", api="Produce") > 0


def test_concurrent_scrapes_while_producing_all_parse_and_pass_promtool(broker):
    create_topics(broker.bootstrap, ["busy"])
    texts, failures = [], []

    def scraper():
        for _ in range(8):
            try:
                texts.append(scrape_text(broker.metrics))
            except Exception as e:  # noqa: BLE001  (reported below)
                failures.append(repr(e))

    with traffic(broker.bootstrap, "busy"):
        threads = [threading.Thread(target=scraper) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not failures and len(texts) == 64, failures[:3]
    for text in texts:
        assert total(samples(text), "sluice_active_controller") == 1
        no_duplicate_series(text)
    for text in texts[::16]:
        promtool(text)


def test_families_of_the_spec_are_exposed_with_their_types_after_traffic(broker):
    create_topics(broker.bootstrap, ["families"])
    produce(broker.bootstrap, "families", 20)
    consume(broker.bootstrap, "families", "fam", 20)
    text = scrape_text(broker.metrics)
    promtool(text)
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    counters = ("requests request_errors topic_bytes_in topic_messages_in topic_bytes_out topic_replication_bytes_in "
                "topic_replication_bytes_out isr_shrinks isr_expands connections_accepted group_rebalances").split()
    gauges = ("partitions leader_partitions under_replicated_partitions under_min_isr_partitions at_min_isr_partitions "
              "offline_partitions global_topics global_partitions active_controller log_size_bytes log_start_offset "
              "log_end_offset purgatory_size connections consumer_groups transactions consumer_group_lag "
              "consumer_group_committed_offset broker_info keeper_server_state keeper_raft_term keeper_znodes "
              "keeper_sessions keeper_watches keeper_connections").split()
    expected = {**{"sluice_" + n: "counter" for n in counters}, **{"sluice_" + n: "gauge" for n in gauges},
                "sluice_request_duration_seconds": "histogram"}
    wrong = {n: types.get(n) for n, t in expected.items() if types.get(n, t) != t}
    # Families of events that have not happened (no error, a single broker replicates nothing)
    # may have no series and so no lines.
    absent = [n for n in expected if n not in types and not ("replication" in n or "errors" in n)]
    assert not wrong and not absent, f"wrong types {wrong}, absent {absent}"
    found = samples(text)
    assert total(found, "sluice_consumer_group_lag", group="fam", topic="families", partition="0") == 0
    info = [dict(ls) for (n, ls), v in found.items() if n == "sluice_broker_info" and v == 1]
    assert len(info) == 1 and all(info[0].get(k) for k in ("broker_id", "cluster_id", "version")), info
    phases = {dict(ls).get("phase") for (n, ls) in found if n == "sluice_request_duration_seconds_count"}
    assert {"total", "local", "remote", "send"} <= phases, phases
    assert {dict(ls).get("purgatory") for (n, ls) in found if n == "sluice_purgatory_size"} >= {"produce", "fetch"}
    for (n, ls), v in found.items():
        if n == "sluice_request_duration_seconds_count":
            assert found[("sluice_request_duration_seconds_bucket", ls | {("le", "+Inf")})] == v, dict(ls)


def test_odd_but_legal_topic_names_survive_promtool_and_the_parser(broker):
    names = ["dots.in.name", "dash-es--here", "under_score_", "-.lead", "Mixed.Case-9_x", "x" * 200]
    create_topics(broker.bootstrap, names)
    for name in names:
        produce(broker.bootstrap, name, 3)
    text = scrape_text(broker.metrics)
    promtool(text)
    no_duplicate_series(text)
    found = samples(text)
    for name in names:
        assert total(found, "sluice_topic_messages_in_total", topic=name) == 3, name
        assert total(found, "sluice_log_end_offset", topic=name, partition="0") == 3, name
    topics = {dict(ls).get("topic") for (n, ls) in found if n == "sluice_topic_bytes_in_total"}
    assert topics == set(names), topics


# --- Series that follow the cluster --------------------------------------------------------------

def test_a_committed_transaction_shows_in_sluice_transactions(broker):
    create_topics(broker.bootstrap, ["txn"])
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "metrics-txn"})
    p.init_transactions(60)
    p.begin_transaction()
    p.produce("txn", value=b"in a transaction")
    assert p.flush(30) == 0
    wait_until(lambda: total(scrape(broker.metrics), "sluice_transactions", state="Ongoing") == 1,
               timeout_s=SETTLE_S, interval_s=0.2, what="one Ongoing transaction")
    p.commit_transaction(60)
    wait_until(lambda: total(scrape(broker.metrics), "sluice_transactions", state="CompleteCommit") == 1,
               timeout_s=SETTLE_S, interval_s=0.2, what="one CompleteCommit transaction")
    found = scrape(broker.metrics)
    assert total(found, "sluice_transactions", state="Ongoing") == 0
    assert total(found, "sluice_transactions") == 1, "one transactional id, in one state"


def test_a_deleted_topics_per_topic_series_disappear_and_others_stay(broker):
    create_topics(broker.bootstrap, ["doomed", "kept"], partitions=2)
    for topic in ("doomed", "kept"):
        produce(broker.bootstrap, topic, 10)
    consume(broker.bootstrap, "doomed", "doomed-readers", 10)

    def series(topic):
        return sorted({n for (n, ls) in scrape(broker.metrics) if ("topic", topic) in ls})
    before = series("doomed")
    for name in ("sluice_topic_bytes_in_total", "sluice_topic_bytes_out_total", "sluice_log_end_offset",
                 "sluice_log_size_bytes"):
        assert name in before, (name, before)
    counts = scrape(broker.metrics)  # __consumer_offsets counts too
    topics, partitions = total(counts, "sluice_global_topics"), total(counts, "sluice_partitions")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.delete_topics(["doomed"])["doomed"].result(30)
    wait_until(lambda: not series("doomed"), timeout_s=SETTLE_S, interval_s=0.5,
               what=f"no series labelled topic=doomed (last: {series('doomed')})")
    found = scrape(broker.metrics)
    assert total(found, "sluice_topic_messages_in_total", topic="kept") == 10
    assert total(found, "sluice_global_topics") == topics - 1
    assert total(found, "sluice_partitions") == partitions - 2


def stable(read):
    """A figure that reads the same twice a second apart (bounded: 30 tries)."""
    now = read()
    for _ in range(30):
        time.sleep(1)
        last, now = now, read()
        if last == now:
            return now
    raise AssertionError("the figure never settled")


def test_connections_gauge_returns_to_its_previous_value_after_clients_close(broker):
    def open_now():
        return total(scrape(broker.metrics), "sluice_connections", listener="PLAINTEXT")
    baseline = stable(open_now)
    accepted = total(scrape(broker.metrics), "sluice_connections_accepted_total", listener="PLAINTEXT")
    clients = []
    try:
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
            clients.append(s)
            api_versions(s)
        wait_until(lambda: open_now() == baseline + 5, timeout_s=15, interval_s=0.1,
                   what=f"five more open connections than {baseline} (last {open_now()})")
        # Ended every way: a reset, a frame the broker refuses (and closes), a half-close, closes.
        clients[0].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        clients[1].sendall(b"\xff\xff\xff\xffjunk")
        clients[2].shutdown(socket.SHUT_WR)
    finally:
        for s in clients:
            s.close()
    wait_until(lambda: open_now() == baseline, timeout_s=15, interval_s=0.1,
               what=f"the gauge back to {baseline} (last {open_now()})")
    assert total(scrape(broker.metrics), "sluice_connections_accepted_total", listener="PLAINTEXT") >= accepted + 5


def test_an_unknown_topic_produce_and_fetch_count_unknown_topic_or_partition(strict_broker):
    b = strict_broker
    before = scrape(b.metrics)
    wire = Wire(b)
    try:
        batch = record_batch([Rec(b"k", b"v", [], int(time.time() * 1000))])
        answer = wire.produce("no-such-topic", 0, batch)
        assert answer.error == UNKNOWN_TOPIC_OR_PARTITION, answer
        # Produce v7, one topic, two partitions: two per-partition errors.
        body = struct.pack(">hhi", -1, -1, 30_000) + struct.pack(">ih", 1, 4) + b"nope" + struct.pack(">i", 2)
        body += b"".join(struct.pack(">ii", p, len(batch)) + batch for p in (0, 1))
        assert wire.call(0, 7, body).count(struct.pack(">h", UNKNOWN_TOPIC_OR_PARTITION)) >= 2
        error, _, _ = wire.fetch("no-such-topic", 0, 0)
        assert error == UNKNOWN_TOPIC_OR_PARTITION, error
    finally:
        wire.close()
    after = scrape(b.metrics)
    for api, count in (("Produce", 3), ("Fetch", 1)):
        key = dict(api=api, error="UNKNOWN_TOPIC_OR_PARTITION")
        counted = total(after, "sluice_request_errors_total", **key) - total(before, "sluice_request_errors_total",
                                                                             **key)
        assert counted == count, f"{api}: {counted} counted, {count} partitions refused"
    assert not [n for (n, ls) in after if dict(ls).get("topic") in ("no-such-topic", "nope")], "no topic created"
    assert total(after, "sluice_global_topics") == 0


def test_a_waiting_long_poll_fetch_is_counted_in_the_fetch_purgatory(broker):
    create_topics(broker.bootstrap, ["polled"])

    def waiting():
        return total(scrape(broker.metrics), "sluice_purgatory_size", purgatory="fetch")
    assert waiting() == 0
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=30)
    try:
        fetch_v4(s, "polled", 0, 0, 1 << 20, 1 << 20, max_wait_ms=20_000, min_bytes=1)
        wait_until(lambda: waiting() == 1, timeout_s=15, interval_s=0.1, what="the long poll in the purgatory")
        produce(broker.bootstrap, "polled", 1)
        assert read_frame(s), "the long poll answered once data arrived"
        wait_until(lambda: waiting() == 0, timeout_s=15, interval_s=0.1, what="the fetch purgatory empty again")
    finally:
        s.close()


@pytest.mark.parametrize("value", ["9644", "localhost:http", "127.0.0.1:70000", "127.0.0.1:"])
def test_an_invalid_metrics_listener_makes_sluiced_exit_non_zero_naming_the_key(tmp_path, value):
    args = [SLUICED, "-o", "listeners=PLAINTEXT://127.0.0.1:0", "-o", f"log.dirs={tmp_path / 'data'}",
            "-o", "keeper.client.address=127.0.0.1", "-o", "keeper.client.port=0",
            "-o", f"metrics.listener={value}", "--ready-file", str(tmp_path / "ready")]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)  # kills it on timeout
    except subprocess.TimeoutExpired:
        pytest.fail(f"sluiced kept running with metrics.listener={value!r}")
    assert done.returncode != 0, f"exit 0 with metrics.listener={value!r}"
    assert "metrics.listener" in done.stdout + done.stderr, (value, done.stderr[-2000:])


def test_an_empty_metrics_listener_turns_the_endpoint_off(tmp_path):
    b = Broker(tmp_path, ["metrics.listener="])
    b.start()
    try:
        lines = (tmp_path / "ready").read_text().splitlines()
        assert b.metrics is None and not [line for line in lines if "http" in line], lines
    finally:
        b.stop()

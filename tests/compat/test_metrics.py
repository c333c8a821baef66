"""The HTTP endpoint on `metrics.listener` (issue 21): `/metrics` in Prometheus's text format,
accepted by `promtool check metrics` and read here with the Prometheus project's own parser;
`/health`; `/ready`. Each test drives a real cluster with real clients and checks that the
figures follow: bytes and records in and out, under-replicated partitions around a dead
follower, a stopped group's lag, readiness around keeper and log loading."""

import http.client
import json
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from certs import Certs  # tests/support, on the path through conftest
from conftest import ROOT, SLUICE_CLI, SLUICED, Broker, four_letter_word, free_ports, wait_until
from test_cluster import make_cluster  # noqa: F401  (fixture)

# A generous bound on the cluster reflecting a change (a dead follower leaving the ISR takes
# replica.lag.time.max.ms or the keeper session; a scrape of a remote high watermark, 2 s).
SETTLE_S = 60
HTTP_TIMEOUT_S = 10


def get(url, path, method="GET"):
    """(status, body, content type) of an HTTP request to the endpoint at `url`."""
    request = urllib.request.Request(url + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Content-Type", "")


def scrape_text(url):
    status, body, content_type = get(url, "/metrics")
    assert status == 200, body
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    return body


def samples(text):
    """Every sample, as {(name, frozenset of labels): value}, by Prometheus's parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def total(found, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and want <= ls)


def scrape(url):
    return samples(scrape_text(url))


def cluster_total(cluster, name, **labels):
    """`name` summed over every running broker's endpoint."""
    return sum(total(scrape(b.metrics_url()), name, **labels) for b in cluster.brokers.values() if b.alive)


def cli(bootstrap, *args):
    """`sluice -b BOOTSTRAP ARGS...`: (exit code, stdout, stderr)."""
    done = subprocess.run([SLUICE_CLI, "-b", bootstrap, *args], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def health_exit(cluster):
    return cli(cluster.bootstrap, "cluster", "health")[0]


def reporting(cluster, name):
    """How many running brokers' scrapes have a sample of `name` (a sum of none is 0 too)."""
    return sum(any(n == name for n, _ in scrape(b.metrics_url())) for b in cluster.brokers.values() if b.alive)


def produce(bootstrap, topic, count, size, partition=None):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for n in range(count):
        args = {} if partition is None else {"partition": partition}
        producer.produce(topic, value=b"v" * size, key=str(n).encode(), **args)
    assert producer.flush(60) == 0, "every record acknowledged"


def consume_all(bootstrap, topic, group, expected):
    """Reads `expected` records of `topic` in `group`, commits them and leaves."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = 0
    deadline = time.monotonic() + SETTLE_S
    while got < expected and time.monotonic() < deadline:
        got += sum(1 for m in consumer.consume(500, timeout=1) if m.error() is None)
    assert got == expected, f"read {got} of {expected}"
    consumer.commit(asynchronous=False)
    consumer.close()


def test_promtool_accepts_the_metrics_and_they_count_what_clients_produce_and_consume(broker):
    assert shutil.which("promtool"), "promtool (Debian's prometheus package; scripts/test installs it)"
    records, size = 500, 100
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: a dropped client cancels its futures
    admin.create_topics([NewTopic("counted", num_partitions=2, replication_factor=1)])["counted"].result(30)
    produce(broker.bootstrap, "counted", records, size)
    consume_all(broker.bootstrap, "counted", "counted-readers", records)

    # A fetch far past the end: answered OFFSET_OUT_OF_RANGE, counted by code.
    lost = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lost", "auto.offset.reset": "error"})
    lost.assign([TopicPartition("counted", 0, 10**9)])
    errors = []
    wait_until(lambda: errors.extend(m.error() for m in lost.consume(10, timeout=0.5) if m.error()) or errors,
               timeout_s=SETTLE_S, what="the out-of-range fetch refused")
    lost.close()

    text = scrape_text(broker.metrics)
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", \
        f"promtool: {check.stdout}{check.stderr}"

    found = samples(text)
    assert total(found, "sluice_topic_messages_in_total", topic="counted") == records
    bytes_in = total(found, "sluice_topic_bytes_in_total", topic="counted")
    payload = records * size
    # Record batches carry each record's key and framing, and a 61-byte header per batch.
    assert payload < bytes_in < payload + records * (40 + 61), bytes_in
    assert total(found, "sluice_topic_bytes_out_total", topic="counted") >= bytes_in, \
        "the consumer was sent every byte produced"
    assert total(found, "sluice_request_errors_total", api="Fetch", error="OFFSET_OUT_OF_RANGE") >= 1
    produces = total(found, "sluice_requests_total", api="Produce")
    assert produces >= 1
    assert total(found, "sluice_request_duration_seconds_count", api="Produce", phase="total") == produces, \
        "every produce request is timed"
    assert total(found, "sluice_requests_total", api="Fetch") >= 1
    assert total(found, "sluice_partitions") >= 2 and total(found, "sluice_leader_partitions") >= 2
    assert found[("sluice_under_replicated_partitions", frozenset())] == 0
    assert found[("sluice_under_min_isr_partitions", frozenset())] == 0
    assert ("sluice_connections", frozenset({("listener", "PLAINTEXT")})) in found
    assert total(found, "sluice_connections_accepted_total", listener="PLAINTEXT") >= 3
    assert total(found, "sluice_log_size_bytes", topic="counted") >= bytes_in
    assert total(found, "sluice_active_controller") == 1, "a single node is its cluster's controller"
    assert total(found, "sluice_keeper_server_state", state="standalone") == 1, "its embedded keeper"
    assert total(found, "sluice_keeper_znodes") > 0

    # The Grafana dashboard shipped in docker/ asks only for series this scrape has.
    dashboard = json.loads((ROOT / "docker" / "grafana" / "sluice-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    wanted = {name for e in exprs for name in re.findall(r"\bsluice_[a-z0-9_]+", e)}
    names = {name for name, _ in found}
    assert len(wanted) >= 20 and wanted <= names, f"the dashboard's series missing here: {sorted(wanted - names)}"

    # docs/operations.md's metrics table names every family served (and its type), so it
    # cannot fall behind the code.
    documented = dict(re.findall(r"^\| `(sluice_[a-z0-9_]+)` \| (\w+) \|", (ROOT / "docs" / "operations.md").read_text(), re.M))
    served = dict(re.findall(r"^# TYPE (\S+) (\w+)$", text, re.M))
    undocumented = {n: t for n, t in served.items() if documented.get(n) != t}
    assert not undocumented, f"families served but not in docs/operations.md (or with another type): {undocumented}"


def test_the_endpoint_answers_health_and_refuses_what_it_does_not_serve(broker):
    assert get(broker.metrics, "/health")[:2] == (200, "ok\n")
    assert get(broker.metrics, "/ready")[:2] == (200, "ready\n")
    status, body, _ = get(broker.metrics, "/nothing-here")
    assert status == 404 and "/metrics" in body
    assert get(broker.metrics, "/metrics", method="POST")[0] == 405


def test_under_replicated_partitions_rise_when_a_follower_dies_and_clear_when_it_returns(make_cluster):  # noqa: F811
    cluster = make_cluster()
    # Also `sluice cluster health`'s exit codes: 0 healthy, 1 under-replicated, 2 under
    # min.insync.replicas or offline, 3 unreachable.
    cluster.create_topic("urp", 3)  # min.insync.replicas 2
    victim, second = 3, 2
    assert cluster_total(cluster, "sluice_under_replicated_partitions") == 0
    assert cluster_total(cluster, "sluice_active_controller") == 1
    code, out, err = cli(cluster.bootstrap, "cluster", "health")
    assert code == 0 and out.startswith("healthy"), (code, out, err)

    cluster.brokers[victim].kill()
    # Every partition has the victim as a replica (RF 3 on three brokers): once it is out of the
    # ISRs, each is under-replicated on its (live) leader.
    wait_until(lambda: cluster_total(cluster, "sluice_under_replicated_partitions") == 3, timeout_s=SETTLE_S,
               interval_s=0.5, what="three under-replicated partitions")
    # Reported by the active controller alone (a new one, if the victim was it, once it knows).
    wait_until(lambda: reporting(cluster, "sluice_offline_partitions") == 1, timeout_s=SETTLE_S, interval_s=0.5,
               what="one broker (the controller) reporting offline partitions")
    assert cluster_total(cluster, "sluice_offline_partitions") == 0, "each still has a leader"
    # The CLI reads ISRs from Metadata, which each broker learns from the controller after the
    # leaders have shrunk them: the three shrinks may reach the answering broker one by one.
    def health_json():
        code, out, _ = cli(cluster.bootstrap, "cluster", "health", "--json")
        return code, sorted(p["status"] for p in json.loads(out)["problems"]) if out.strip() else out
    wait_until(lambda: health_json() == (1, ["under-replicated"] * 3), timeout_s=SETTLE_S, interval_s=0.5,
               what="cluster health exiting 1 with three under-replicated partitions")

    # A second broker down: each ISR is down to one, under min.insync.replicas 2.
    cluster.brokers[second].kill()
    wait_until(lambda: cluster_total(cluster, "sluice_under_min_isr_partitions") == 3, timeout_s=SETTLE_S,
               interval_s=0.5, what="three partitions under min ISR")
    wait_until(lambda: health_exit(cluster) == 2, timeout_s=SETTLE_S, interval_s=0.5,
               what="cluster health exiting 2 (under min ISR)")

    cluster.brokers[second].start()
    cluster.brokers[victim].start()
    wait_until(lambda: cluster_total(cluster, "sluice_under_replicated_partitions") == 0, timeout_s=SETTLE_S,
               interval_s=0.5, what="no under-replicated partition once the followers are back")
    assert cluster_total(cluster, "sluice_isr_expands_total") >= 1, "their return expanded ISRs"
    wait_until(lambda: health_exit(cluster) == 0, timeout_s=SETTLE_S, interval_s=0.5, what="cluster health 0")
    wait_until(lambda: cluster_total(cluster, "sluice_replica_fetcher_max_lag") == 0, timeout_s=SETTLE_S,
               interval_s=0.5, what="the followers caught up (fetcher lag 0)")
    assert reporting(cluster, "sluice_replica_fetcher_max_lag") == 3
    (unused,) = free_ports(1)
    assert cli(f"127.0.0.1:{unused}", "cluster", "health")[0] == 3, "nothing to ask: exit 3"


def test_a_stopped_groups_lag_equals_the_records_produced_since(make_cluster):  # noqa: F811
    cluster = make_cluster()
    cluster.create_topic("lagged", 3)
    for p in range(3):
        produce(cluster.bootstrap, "lagged", 100, 10, partition=p)
    consume_all(cluster.bootstrap, "lagged", "lagging", 300)
    wait_until(lambda: cluster_total(cluster, "sluice_consumer_group_lag", group="lagging") == 0
               and cluster_total(cluster, "sluice_consumer_group_committed_offset", group="lagging") == 300,
               timeout_s=SETTLE_S, interval_s=0.5, what="the group's commits seen, no lag")

    # The group is gone; 40 more records per partition. One broker coordinates the group and
    # reports all three partitions, two of them led by other brokers (asked for their ends).
    for p in range(3):
        produce(cluster.bootstrap, "lagged", 40, 10, partition=p)

    def lag_by_partition():
        found = [scrape(b.metrics_url()) for b in cluster.brokers.values()]
        return {p: sum(total(f, "sluice_consumer_group_lag", group="lagging", topic="lagged", partition=str(p))
                       for f in found) for p in range(3)}
    wait_until(lambda: lag_by_partition() == {0: 40, 1: 40, 2: 40}, timeout_s=SETTLE_S, interval_s=0.5,
               what=f"a lag of 40 on each partition (last: {lag_by_partition()})")
    reporters = [i for i, b in cluster.brokers.items()
                 if total(scrape(b.metrics_url()), "sluice_consumer_group_lag", group="lagging") > 0]
    assert len(reporters) == 1, f"only the group's coordinator reports it: {reporters}"

    # The CLI agrees (from outside: committed offsets against ListOffsets).
    code, out, err = cli(cluster.bootstrap, "group", "lag", "--json")
    assert code == 0, err
    rows = {r["group"]: r for r in json.loads(out)}
    assert rows["lagging"]["lag"] == 120 and rows["lagging"]["max_partition_lag"] == 40, rows
    assert rows["lagging"]["partitions"] == 3 and rows["lagging"]["partitions_unknown"] == 0, rows


def test_ready_only_once_keeper_is_reachable_while_health_answers_before(tmp_path):
    broker_port, metrics_port, keeper_port = free_ports(3)
    metrics = f"http://127.0.0.1:{metrics_port}"
    (tmp_path / "broker").mkdir()
    (tmp_path / "keeper").mkdir()
    broker = subprocess.Popen(
        [SLUICED, "-o", "process.roles=broker", "-o", f"keeper.connect=127.0.0.1:{keeper_port}",
         "-o", f"listeners=PLAINTEXT://127.0.0.1:{broker_port}", "-o", f"metrics.listener=127.0.0.1:{metrics_port}",
         "-o", f"log.dirs={tmp_path / 'broker' / 'data'}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "broker" / "sluiced.log", "wb"))
    keeper = None
    try:
        def healthy():
            assert broker.poll() is None, (tmp_path / "broker" / "sluiced.log").read_text()
            try:
                return get(metrics, "/health")[0] == 200
            except OSError:
                return False
        wait_until(healthy, timeout_s=SETTLE_S, what="/health while keeper is down")
        status, body, _ = get(metrics, "/ready")
        assert status == 503 and body.startswith("not ready"), (status, body)

        keeper = subprocess.Popen(
            [SLUICED, "-o", "process.roles=keeper", "-o", "keeper.client.address=127.0.0.1",
             "-o", f"keeper.client.port={keeper_port}", "-o", "metrics.listener=127.0.0.1:0",
             "-o", "keeper.snap.count=10",  # a snapshot every 10 entries: the broker writes more
             "-o", f"log.dirs={tmp_path / 'keeper' / 'data'}", "--ready-file", str(tmp_path / "keeper" / "ready")],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "keeper" / "sluiced.log", "wb"))
        wait_until(lambda: get(metrics, "/ready")[0] == 200, timeout_s=SETTLE_S, interval_s=0.2,
                   what="the broker ready once keeper is up")
        assert AdminClient({"bootstrap.servers": f"127.0.0.1:{broker_port}"}).list_topics(timeout=30).brokers

        lines = (tmp_path / "keeper" / "ready").read_text().splitlines()
        keeper_metrics = next(line for line in lines if line.startswith("http://"))
        assert get(keeper_metrics, "/ready")[0] == 200
        found = scrape(keeper_metrics)
        assert total(found, "sluice_keeper_server_state", state="standalone") == 1
        assert total(found, "sluice_keeper_sessions") >= 1, "the broker's session"
        assert total(found, "sluice_keeper_watches") >= 1, "the broker watches the cluster's znodes"
        assert total(found, "sluice_keeper_requests_total", kind="write") >= 1, "the broker's registration"
        assert total(found, "sluice_keeper_request_seconds_total", kind="write") > 0
        assert total(found, "sluice_requests_total") == 0, "a keeper-only node has no broker figures"
        wait_until(lambda: total(scrape(keeper_metrics), "sluice_keeper_snapshots_total") >= 1, timeout_s=SETTLE_S,
                   interval_s=0.5, what="a snapshot written (keeper.snap.count=10)")
        found = scrape(keeper_metrics)
        assert total(found, "sluice_keeper_snapshot_seconds_total") > 0
        assert 0 < total(found, "sluice_keeper_raft_snapshot_index") <= total(found, "sluice_keeper_raft_last_applied_index")
    finally:
        for proc in (broker, keeper):
            if proc is not None:
                proc.kill()
                proc.wait(60)


def test_ready_is_false_until_a_restarted_broker_has_loaded_its_partitions(tmp_path):
    partitions = 200
    (metrics_port,) = free_ports(1)
    b = Broker(tmp_path, [f"metrics.listener=127.0.0.1:{metrics_port}"])
    b.start()
    try:
        assert b.metrics == f"http://127.0.0.1:{metrics_port}", "the override takes the default's place"
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("loaded", num_partitions=partitions, replication_factor=1)])["loaded"].result(60)
        producer = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
        for p in range(partitions):
            producer.produce("loaded", value=b"x" * 100, partition=p)
        assert producer.flush(60) == 0
        b.stop(signal.SIGKILL)

        # Restarted (in the background: start() returns once it serves), /ready polled all along.
        seen = []
        starting = threading.Thread(target=b.start)
        starting.start()
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            try:
                status, _, _ = get(f"http://127.0.0.1:{metrics_port}", "/ready")
            except OSError:
                time.sleep(0.01)  # not bound yet
                continue
            if status == 200:
                # Ready: every partition is loaded and led here.
                found = scrape(f"http://127.0.0.1:{metrics_port}")
                assert total(found, "sluice_leader_partitions") >= partitions, "ready before its partitions"
                seen.append(status)
                break
            seen.append(status)
            time.sleep(0.01)
        starting.join(SETTLE_S)
        assert not starting.is_alive(), "the restart finished"
        assert seen and seen[-1] == 200, f"/ready answers seen: {seen}"
        assert 503 in seen, "not ready while it was starting"
        producer = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
        delivered = []
        for p in range(partitions):
            producer.produce("loaded", value=b"y", partition=p, on_delivery=lambda e, _m: delivered.append(e))
        assert producer.flush(60) == 0 and delivered == [None] * partitions, "every partition takes a record"
    finally:
        b.stop(signal.SIGKILL)


def test_the_keepers_mntr_reports_zookeepers_keys(broker):
    mntr = four_letter_word(broker.keeper, "mntr")
    keys = dict(line.split("\t", 1) for line in mntr.splitlines() if "\t" in line)
    for key in ["zk_server_state", "zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
                "zk_approximate_data_size", "zk_num_alive_connections", "zk_outstanding_requests",
                "zk_global_sessions", "zk_avg_latency", "zk_min_latency", "zk_max_latency"]:
        assert key in keys, f"{key} missing from mntr:\n{mntr}"
    assert int(keys["zk_watch_count"]) >= 1, "the broker's watches"
    assert float(keys["zk_avg_latency"]) > 0, "the broker's writes took some time"


def test_sluice_top_shows_each_topics_rate_and_each_groups_lag(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("busy", num_partitions=2, replication_factor=1)])["busy"].result(30)
    produce(broker.bootstrap, "busy", 50, 10)
    consume_all(broker.bootstrap, "busy", "behind", 50)
    produce(broker.bootstrap, "busy", 30, 10)  # the group is 30 behind

    # Records keep arriving while `sluice top` samples twice, a second apart.
    stop = threading.Event()

    def keep_producing():
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
        while not stop.is_set():
            producer.produce("busy", value=b"x")
            producer.poll(0)
            time.sleep(0.005)
        producer.flush(30)
    writer = threading.Thread(target=keep_producing)
    writer.start()
    try:
        code, out, err = cli(broker.bootstrap, "top", "-t", "busy", "--interval-ms", "1000", "--iterations", "2",
                             "--json")
    finally:
        stop.set()
        writer.join(60)
    assert code == 0, err
    refreshes = [json.loads(line) for line in out.splitlines()]
    assert len(refreshes) == 2, out
    for r in refreshes:
        assert [t["topic"] for t in r["topics"]] == ["busy"], r
        assert r["topics"][0]["records_per_sec"] > 0, "records were produced all along"
        behind = next(g for g in r["groups"] if g["group"] == "behind")
        assert behind["lag"] >= 30, behind
    assert next(g for g in refreshes[1]["groups"] if g["group"] == "behind")["lag_change"] is not None

    code, _, err = cli(broker.bootstrap, "top", "--interval-ms", "10", "--iterations", "1")
    assert code != 0 and "--interval-ms" in err, "an interval too short is refused, naming the option"


def test_the_endpoint_over_tls_with_client_certificates_required(tmp_path):
    """`metrics.ssl.enabled`: HTTPS only, with the listeners' ssl.* keys under `metrics.`;
    `metrics.ssl.client.auth=required` admits only clients whose certificate the CA signed
    (Prometheus's tls_config, `sluice health --ready` with the TLS client properties)."""
    import ssl
    (tmp_path / "certs").mkdir()
    (tmp_path / "node").mkdir()
    certs = Certs(tmp_path / "certs", "scraper")
    broker = Broker(tmp_path / "node", overrides=[
        "metrics.ssl.enabled=true", f"metrics.ssl.keystore.location={certs.broker}",
        f"metrics.ssl.truststore.location={certs.ca}", "metrics.ssl.client.auth=required"])
    broker.start()
    try:
        assert broker.metrics.startswith("https://127.0.0.1:"), broker.metrics
        host_port = broker.metrics[len("https://"):]
        cert, key = certs.client("scraper")

        def fetch(path, with_cert=True):
            context = ssl.create_default_context(cafile=str(certs.ca))
            if with_cert:
                context.load_cert_chain(str(cert), str(key))
            with urllib.request.urlopen(broker.metrics + path, timeout=HTTP_TIMEOUT_S, context=context) as r:
                return r.status, r.read().decode()
        status, text = fetch("/metrics")
        assert status == 200 and "sluice_broker_info" in text
        assert fetch("/ready") == (200, "ready\n")
        status, page = fetch("/")
        assert status == 200 and "/console/app.js" in page
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
            fetch("/metrics", with_cert=False)  # no client certificate: the handshake fails
        with pytest.raises((urllib.error.URLError, ConnectionResetError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://{host_port}/metrics", timeout=HTTP_TIMEOUT_S)  # plain HTTP: a TLS alert, no answer

        def health(*props):
            done = subprocess.run([SLUICE_CLI, *props, "health", "--ready", broker.metrics + "/ready"],
                                  capture_output=True, text=True, timeout=60)
            return done.returncode, done.stdout + done.stderr
        tls = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={certs.ca}"]
        code, out = health(*tls, "-X", f"ssl.certificate.location={cert}", "-X", f"ssl.key.location={key}")
        assert code == 0 and "answered 200" in out, out
        code, out = health(*tls)
        assert code != 0, out
        code, out = health()
        assert code != 0 and "ssl.ca.location" in out, out
    finally:
        broker.stop()

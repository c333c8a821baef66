"""Operating the compose cluster (issue 21): every broker is healthy only once its `/ready`
answers 200 (the compose healthcheck), serves the web console's API on its published HTTP
port, and the `monitoring` profile's Prometheus — built FROM scratch from Debian's package by
`scripts/docker-build --prometheus` — scrapes all six nodes and answers queries on what the
cluster reports: partitions in trouble after a broker is killed."""

import json
import urllib.parse
import urllib.request

from waiting import wait_until

HTTP_TIMEOUT_S = 10


def get_json(url):
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as r:
        return json.loads(r.read())


def prometheus_query(cluster, query):
    """The instant vector of `query` as {labels: value}."""
    answer = get_json(f"http://127.0.0.1:{cluster.prometheus_port}/api/v1/query?"
                      + urllib.parse.urlencode({"query": query}))
    assert answer["status"] == "success", answer
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in answer["data"]["result"]}


def test_prometheus_scrapes_every_node_and_sees_a_killed_broker(cluster):
    # Healthy (cluster.up waited for it) means ready: the healthcheck asks each broker's /ready.
    for i in (1, 2, 3):
        with urllib.request.urlopen(f"http://127.0.0.1:{cluster.http_ports[i]}/ready", timeout=HTTP_TIMEOUT_S) as r:
            assert r.status == 200 and r.read() == b"ready\n"
        overview = get_json(f"http://127.0.0.1:{cluster.http_ports[i]}/api/v1/cluster")
        assert [(b["id"], b["status"]) for b in overview["brokers"]] == [(1, "up"), (2, "up"), (3, "up")]
        assert sorted(k["state"] for k in overview["keepers"]) == ["follower", "follower", "leader"], overview
    cluster.create_topic("watched", 3)

    cluster.compose("--profile", "monitoring", "up", "-d", "prometheus")

    def targets_up():
        try:
            targets = get_json(f"http://127.0.0.1:{cluster.prometheus_port}/api/v1/targets")["data"]["activeTargets"]
        except OSError:
            return set()
        return {t["labels"]["instance"] for t in targets if t["health"] == "up"}
    every = {f"{kind}{i}:9644" for kind in ("broker", "keeper") for i in (1, 2, 3)}
    wait_until(lambda: targets_up() == every, timeout_s=120, interval_s=1, what="all six nodes scraped")
    # Each replica's log end offset: 3 partitions on each of 3 brokers.
    wait_until(lambda: len(prometheus_query(cluster, 'sluice_log_end_offset{topic="watched"}')) == 9,
               timeout_s=60, interval_s=1, what="3 partitions x 3 replicas of watched reported")
    assert sum(prometheus_query(cluster, "sluice_active_controller").values()) == 1

    cluster.kill("broker3")
    wait_until(lambda: sum(prometheus_query(cluster, "sluice_under_replicated_partitions").values()) >= 3,
               timeout_s=90, interval_s=1, what="watched's partitions under-replicated in Prometheus")
    wait_until(lambda: "broker3:9644" not in targets_up(), timeout_s=60, interval_s=1, what="broker3's target down")

"""The web console on `metrics.listener` (issue 21), loaded in a real browser: Debian's headless
Chromium, driven by Selenium through Debian's chromedriver, against a three-broker cluster on a
three-node keeper ensemble. Each page is checked against what the cluster says through the
Kafka protocol (confluent-kafka's Metadata, its own consumer's positions), not against the
console's own API, and a screenshot of each is kept (in $SLUICE_SCREENSHOTS_DIR, by default
target/console-screenshots) for CI to publish.

Chromium is pointed at a proxy on a closed loopback port, so anything it might try to fetch
from beyond this machine fails at once; the console itself must need nothing from outside
(everything it loads is served by the broker).

The tests run in order on one cluster, as an operator would meet it: topics and groups made by
one are read by the next, and the last kills a broker."""

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import ROOT, wait_until
from test_cluster import Cluster

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("SLUICE_SCREENSHOTS_DIR", ROOT / "target" / "console-screenshots"))
# What a page may take to show a change: the console re-reads every 5 s, a dead follower leaves
# the ISR after replica.lag.time.max.ms (5 s here) or its keeper session (6 s).
SETTLE_S = 60
PAGE_S = 30


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("console"))
    c.start()
    failed = True
    try:
        yield c
        failed = False
    finally:
        c.stop(failed)


@pytest.fixture(scope="module")
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(path), f"{path} is missing: apt-get install chromium chromium-driver (scripts/test does)"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-pings",
                 "--disable-domain-reliability", "--dns-prefetch-disable",
                 # Nothing beyond loopback: every other address goes to a proxy that is not there.
                 "--proxy-server=http://127.0.0.1:9"]:
        options.add_argument(flag)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for drivers online.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_S)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def console(cluster, i=1):
    return cluster.brokers[i].metrics_url()


def open_page(browser, url):
    browser.get(url)
    # A hash change alone does not reload the document; a second get to the same page would.
    browser.refresh()


def shot(browser, name):
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def rows(browser, table_id):
    """The rows of a table as lists of cell texts, with each row's data attributes."""
    out = []
    for tr in browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr"):
        attrs = browser.execute_script(
            "var o = {}; for (var a of arguments[0].attributes) if (a.name.startsWith('data-')) "
            "o[a.name.slice(5)] = a.value; o['class'] = arguments[0].className; return o;", tr)
        out.append((attrs, [td.text for td in tr.find_elements(By.TAG_NAME, "td")]))
    return out


def eventually(browser, read, check, what, timeout_s=PAGE_S):
    """Waits until check(read()) holds, reading again after each refresh; returns the last read."""
    last = [None]

    def holds():
        try:
            last[0] = read()
            return check(last[0])
        except (StaleElementReferenceException, WebDriverException):
            return False  # redrawn while read
    try:
        wait_until(holds, timeout_s=timeout_s, interval_s=0.5, what=what)
    except AssertionError:
        errors = browser.find_elements(By.ID, "error")
        raise AssertionError(f"{what}: last read {last[0]!r}; page error: "
                             f"{errors[0].text if errors else None!r}") from None
    return last[0]


def api(cluster, path, i=1):
    """(status, JSON body) of the console API of broker i."""
    request = urllib.request.Request(console(cluster, i) + "/api/v1/" + path)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def produce(cluster, topic, records):
    """records: (partition, key, value, headers); returns once all are acknowledged."""
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    errors = []
    for partition, key, value, headers in records:
        producer.produce(topic, value=value, key=key, partition=partition, headers=headers,
                         on_delivery=lambda err, _msg: err and errors.append(err))
    assert producer.flush(30) == 0 and not errors, errors


def test_overview_shows_the_brokers_the_controller_and_the_keeper_nodes_roles(cluster, browser):
    open_page(browser, console(cluster) + "/#/")
    brokers = eventually(browser, lambda: rows(browser, "brokers"), lambda r: len(r) == 3, "three brokers listed")
    assert [(a["broker-id"], a["status"]) for a, _ in brokers] == [("1", "up"), ("2", "up"), ("3", "up")]
    controller = cluster.controller()
    roles = {a["broker-id"]: cells[4] for a, cells in brokers}
    assert roles[str(controller)] == "controller" and list(roles.values()).count("controller") == 1, roles
    addresses = {a["broker-id"]: cells[1] for a, cells in brokers}
    assert addresses == {str(i): cluster.addresses[i] for i in (1, 2, 3)}
    keepers = eventually(browser, lambda: rows(browser, "keepers"), lambda r: len(r) == 3, "three keeper nodes")
    assert sorted(a["state"] for a, _ in keepers) == ["follower", "follower", "leader"], keepers
    assert {a["keeper"] for a, _ in keepers} == {k.address for k in cluster.keepers}
    # Every broker's console shows the same cluster.
    for i in (2, 3):
        status, body = api(cluster, "cluster", i)
        assert status == 200 and [b["id"] for b in body["brokers"]] == [1, 2, 3]
    shot(browser, "01-overview")


def test_topic_page_shows_each_partitions_leader_replicas_and_isr_as_metadata_does(cluster, browser):
    cluster.create_topic("orders", 3)
    produce(cluster, "orders", [(p, None, b"x", None) for p in range(3) for _ in range(5)])
    open_page(browser, console(cluster) + "/#/topics")
    listed = eventually(browser, lambda: rows(browser, "topics"),
                        lambda r: any(a["topic"] == "orders" for a, _ in r), "orders listed")
    (orders,) = [cells for a, cells in listed if a["topic"] == "orders"]
    assert orders[2:6] == ["3", "3", "0", "0"], orders  # partitions, replication, URP, offline
    assert orders[6] == "15", orders  # records
    browser.find_element(By.LINK_TEXT, "orders").click()
    metadata = cluster.partitions("orders")
    shown = eventually(browser, lambda: rows(browser, "partitions"), lambda r: len(r) == 3, "three partitions")
    for attrs, cells in shown:
        p = metadata[int(attrs["partition"])]
        assert attrs["status"] == "ok" and attrs["class"] == "", (attrs, cells)
        assert int(cells[1]) == p.leader, (cells, p.leader)
        assert [int(x) for x in cells[3].split(", ")] == p.replicas
        assert sorted(int(x) for x in cells[4].split(", ")) == sorted(p.isrs)
        assert cells[7:9] == ["0", "5"], cells  # log start, log end
    configs = {a["config"]: (cells, a["class"]) for a, cells in rows(browser, "configs")}
    assert configs["min.insync.replicas"][0][1:] == ["2", "topic"], configs["min.insync.replicas"]
    assert configs["min.insync.replicas"][1] == "override"
    assert configs["cleanup.policy"][0][1:] == ["delete", "default"]
    shot(browser, "02-topic")


def test_group_page_shows_members_while_consuming_and_the_lag_once_stopped(cluster, browser):
    cluster.create_topic("payments", 2)
    produce(cluster, "payments", [(p, None, b"p", None) for p in range(2) for _ in range(20)])
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "billing", "client.id": "billing-1",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(["payments"])
    seen = 0
    deadline = time.monotonic() + SETTLE_S
    while seen < 40 and time.monotonic() < deadline:
        m = consumer.poll(1)
        if m is not None and m.error() is None:
            seen += 1
    assert seen == 40
    consumer.commit(asynchronous=False)
    open_page(browser, console(cluster) + "/#/group/billing")
    members = eventually(browser, lambda: rows(browser, "members"), lambda r: len(r) == 1, "one member")
    assert members[0][1][1] == "billing-1" and members[0][1][3] == "payments-0, payments-1", members
    shot(browser, "03-group-consuming")
    consumer.close()

    # Stopped; 7 more on partition 0 and 3 on partition 1: the lag is those.
    produce(cluster, "payments", [(0, None, b"q", None)] * 7 + [(1, None, b"q", None)] * 3)
    offsets = eventually(browser, lambda: rows(browser, "offsets"),
                         lambda r: [c[4] for _, c in r] == ["7", "3"], "a lag of 7 and 3")
    assert [(a["topic"], a["partition"], c[2], c[3]) for a, c in offsets] == \
        [("payments", "0", "20", "27"), ("payments", "1", "20", "23")]
    summary = browser.find_element(By.CSS_SELECTOR, "#summary [data-field=lag] dd").text
    assert summary == "10"
    assert browser.find_element(By.CSS_SELECTOR, "#summary [data-field=state] dd").text == "Empty"
    open_page(browser, console(cluster) + "/#/groups")
    groups = eventually(browser, lambda: rows(browser, "groups"),
                        lambda r: any(a["group"] == "billing" for a, _ in r), "billing listed")
    (billing,) = [c for a, c in groups if a["group"] == "billing"]
    assert billing[6] == "10", billing
    shot(browser, "04-groups")


def test_message_browser_finds_a_record_and_shows_it_as_text_json_and_hex(cluster, browser):
    value = json.dumps({"id": 42, "item": "widget", "note": "<b>not html</b>"}).encode()
    produce(cluster, "orders", [(1, b"order-41", b"plain text", [("source", b"test")]),
                                (1, b"order-42", value, [("source", b"test"), ("trace", b"\x00\xff")])])
    open_page(browser, console(cluster) + "/#/browse")
    eventually(browser, lambda: browser.find_elements(By.ID, "browse-topic"), bool, "the browse form")
    Select(browser.find_element(By.ID, "browse-topic")).select_by_visible_text("orders")
    partition = browser.find_element(By.ID, "browse-partition")
    partition.clear()
    partition.send_keys("1")
    Select(browser.find_element(By.ID, "browse-format")).select_by_visible_text("json")
    browser.find_element(By.ID, "browse-go").click()
    found = eventually(browser, lambda: rows(browser, "records"),
                       lambda r: any(c[2] == "order-42" for _, c in r), "order-42 in partition 1")
    assert [int(a["offset"]) for a, _ in found] == list(range(7)), "5 earlier records and these two"
    (row,) = [c for _, c in found if c[2] == "order-42"]
    assert json.loads(row[3]) == {"id": 42, "item": "widget", "note": "<b>not html</b>"}
    assert '\n  "id": 42' in row[3], "pretty-printed"
    assert "source: test" in row[4] and "trace: 00 ff  (not UTF-8: hex)" in row[4], row[4]
    assert not browser.find_elements(By.CSS_SELECTOR, "#records b"), "record bytes are never HTML"
    (plain,) = [c for _, c in found if c[2] == "order-41"]
    assert plain[3] == "plain text", "text that is not JSON is shown as it is"
    shot(browser, "05-messages-json")

    # As hex, from the record's own offset.
    open_page(browser, console(cluster) + "/#/browse?topic=orders&partition=1&offset=6&limit=1&format=hex")
    found = eventually(browser, lambda: rows(browser, "records"), lambda r: len(r) == 1, "one record at offset 6")
    assert found[0][0]["offset"] == "6"
    assert found[0][1][2] == " ".join(f"{b:02x}" for b in b"order-42")
    assert found[0][1][3] == " ".join(f"{b:02x}" for b in value)
    shot(browser, "06-messages-hex")


def test_live_view_charts_the_throughput_of_a_topic_being_produced_to(cluster, browser):
    stop = threading.Event()

    def keep_producing():
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "linger.ms": 5})
        deadline = time.monotonic() + 90
        while not stop.is_set() and time.monotonic() < deadline:
            for _ in range(20):
                producer.produce("orders", b"live")
            producer.poll(0)
            time.sleep(0.1)
        producer.flush(30)
    writer = threading.Thread(target=keep_producing, daemon=True)
    writer.start()
    try:
        open_page(browser, console(cluster) + "/#/live")

        def drawn():
            legend = browser.find_elements(By.CSS_SELECTOR, "#chart-throughput-legend li[data-series=orders]")
            line = browser.find_elements(By.CSS_SELECTOR, "#chart-throughput polyline[data-series=orders]")
            if not legend or not line:
                return None, 0
            return float(legend[0].text.split(": ")[1]), len(line[0].get_attribute("points").split())
        # A line of at least three samples' rates, the last over 10 records/s (about 200 are sent).
        eventually(browser, drawn, lambda d: d[0] is not None and d[0] > 10 and d[1] >= 3,
                   "a line for orders, over 10 records/s", timeout_s=SETTLE_S)
        shot(browser, "07-live")
    finally:
        stop.set()
        writer.join(120)


def test_api_refuses_bad_requests_with_clear_errors(cluster):
    assert api(cluster, "topics/no-such-topic") == (404, {"error": 'no topic "no-such-topic"'})
    assert api(cluster, "groups/no-such-group")[0] == 404
    assert api(cluster, "nothing-here")[0] == 404
    status, body = api(cluster, "messages?topic=orders&limit=101")
    assert status == 400 and "limit=101" in body["error"], body
    status, body = api(cluster, "messages?topic=orders&partition=x")
    assert status == 400 and "partition" in body["error"], body
    status, body = api(cluster, "messages?topic=orders&partition=9")
    assert status == 404, body
    assert api(cluster, "messages")[0] == 400
    assert api(cluster, "groups/%zz")[0] == 400
    # An offset beyond either end reads from the nearest end.
    status, body = api(cluster, "messages?topic=orders&partition=1&offset=-5&limit=2")
    assert status == 200 and [r["offset"] for r in body["records"]] == [0, 1], body


def test_a_killed_broker_shows_as_down_and_its_partitions_as_under_replicated(cluster, browser):
    victim = 3
    cluster.brokers[victim].kill()
    open_page(browser, console(cluster) + "/#/")
    eventually(browser, lambda: rows(browser, "brokers"),
               lambda r: [(a["broker-id"], a["status"]) for a, _ in r] == [("1", "up"), ("2", "up"), ("3", "down")],
               "broker 3 down", timeout_s=SETTLE_S)
    eventually(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#summary [data-field=brokers-down] dd").text,
               lambda t: t == "1", "one broker down in the summary")
    shot(browser, "08-broker-down")
    open_page(browser, console(cluster) + "/#/topic/orders")
    shown = eventually(browser, lambda: rows(browser, "partitions"),
                       lambda r: len(r) == 3 and all(a["status"] == "under-replicated" for a, _ in r),
                       "every partition of orders under-replicated", timeout_s=SETTLE_S)
    for attrs, cells in shown:
        assert attrs["class"] == "under-replicated", attrs
        assert str(victim) not in cells[4].split(", ") and cells[5] == str(victim), cells
    shot(browser, "09-under-replicated")

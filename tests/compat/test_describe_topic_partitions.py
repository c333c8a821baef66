"""DescribeTopicPartitions (KIP-966) through the newest kafka-python's admin client (its own venv,
run in a subprocess): topics in name order with their partitions' leaders, replicas and ISR,
pages of at most `response_partition_limit` partitions joined by the cursor into exactly the
partitions Metadata has, an unknown topic answered UNKNOWN_TOPIC_OR_PARTITION, internal topics
marked, and the topic ids Metadata gives."""

import json
import subprocess

from confluent_kafka.admin import AdminClient, NewTopic

from conftest import TARGET

LATEST_PYTHON = TARGET / "compat-venv-latest" / "bin" / "python"

PAGES = """
import json, sys
from kafka.admin import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
topics, limit = json.loads(sys.argv[2]), int(sys.argv[3])
pages, cursor = [], None
for _ in range(50):
    page = admin.describe_topic_partitions(topics, response_partition_limit=limit, cursor=cursor)
    pages.append([(t["name"], t["error_code"], str(t["topic_id"]), t["is_internal"],
                   [(p["partition_index"], p["leader_id"], p["replica_nodes"], p["isr_nodes"], p["error_code"])
                    for p in t["partitions"]]) for t in page["topics"]])
    cursor = page["next_cursor"]
    if cursor is None:
        break
admin.close()
print(json.dumps(pages))
"""


def pages(broker, topics, limit):
    assert LATEST_PYTHON.exists(), f"{LATEST_PYTHON} is missing: the newest clients are part of this test"
    out = subprocess.run([str(LATEST_PYTHON), "-c", PAGES, broker.bootstrap, json.dumps(topics), str(limit)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pages_cover_every_partition_once_in_order(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic("dtp-b", 5, 1), NewTopic("dtp-a", 3, 1), NewTopic("dtp-c", 2, 1)])
    for f in futures.values():
        f.result(30)
    got = pages(broker, ["dtp-c", "dtp-a", "dtp-b", "dtp-missing"], 4)
    # Partitions per page: at most the limit; names in order; every partition once.
    flat = [(name, p[0]) for page in got for (name, err, _, _, parts) in page if err == 0 for p in parts]
    assert flat == [("dtp-a", 0), ("dtp-a", 1), ("dtp-a", 2), ("dtp-b", 0), ("dtp-b", 1), ("dtp-b", 2),
                    ("dtp-b", 3), ("dtp-b", 4), ("dtp-c", 0), ("dtp-c", 1)], got
    assert all(sum(len(t[4]) for t in page) <= 4 for page in got)
    assert len(got) == 3, f"three pages of 4, 4 and 2 partitions: {got}"
    errors = {name: err for page in got for (name, err, *_rest) in page}
    assert errors["dtp-missing"] == 3, "UNKNOWN_TOPIC_OR_PARTITION"
    for page in got:
        for name, err, _, internal, parts in page:
            if err == 0:
                assert internal is False
                assert all(p[1] == 0 and p[2] == [0] and p[3] == [0] and p[4] == 0 for p in parts), parts

    # Every topic (no names), in one page, with the ids Metadata reports.
    everything = pages(broker, [], 2000)
    assert len(everything) == 1
    names = [t[0] for t in everything[0]]
    assert names == sorted(names) and {"dtp-a", "dtp-b", "dtp-c"} <= set(names)
    meta = admin.list_topics(timeout=30).topics
    for name, err, topic_id, internal, parts in everything[0]:
        assert err == 0 and len(parts) == len(meta[name].partitions), name
        assert internal == name.startswith("__"), name
        assert topic_id.replace("-", "") != "0" * 32, f"{name} has its id"

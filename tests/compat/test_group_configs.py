"""Group configs (KIP-848's resource type GROUP) and ListGroups v5's group types, with the newest
confluent-kafka (its own venv, run in a subprocess) and `sluice config --group`: a group's
consumer.session.timeout.ms set, described with its source and the broker default as synonym,
refused outside Kafka's bounds, deleted back to the default, for a group that does not exist
too, and kept in keeper at /config/groups/<group>; classic groups listed as `classic`, and
filtered out when only `consumer` groups are asked for."""

import json
import subprocess

from kazoo.client import KazooClient

from conftest import SLUICE_CLI, TARGET

LATEST_PYTHON = TARGET / "compat-venv-latest" / "bin" / "python"

CONFLUENT_SCRIPT = """
import json, sys, time
from confluent_kafka import Consumer, ConsumerGroupType, ConsumerGroupState
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ResourceType)
bootstrap = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bootstrap})
out = {}
group = ConfigResource(ResourceType.GROUP, "billing")
entry = ConfigEntry("consumer.session.timeout.ms", "50000",
                    incremental_operation=AlterConfigOpType.SET)
group.add_incremental_config(entry)
admin.incremental_alter_configs([group])[group].result(30)
described = admin.describe_configs([ConfigResource(ResourceType.GROUP, "billing")])
configs = list(described.values())[0].result(30)
out["described"] = {k: [v.value, int(v.source)] for k, v in configs.items()}
bad = ConfigResource(ResourceType.GROUP, "billing")
bad.add_incremental_config(ConfigEntry("consumer.session.timeout.ms", "1000",
                                       incremental_operation=AlterConfigOpType.SET))
try:
    admin.incremental_alter_configs([bad])[bad].result(30)
    out["bad"] = "accepted"
except Exception as e:
    out["bad"] = str(e)
# A classic group with a member, then the listings by type.
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "classic-one", "auto.offset.reset": "earliest"})
c.subscribe(["group-configs-topic"])
deadline = time.time() + 30
while time.time() < deadline and not c.assignment():
    c.poll(0.2)
listed = admin.list_consumer_groups().result(30)
out["types"] = {g.group_id: str(g.type) for g in listed.valid}
only_consumer = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(30)
out["consumer_only"] = [g.group_id for g in only_consumer.valid]
only_classic = admin.list_consumer_groups(types={ConsumerGroupType.CLASSIC}).result(30)
out["classic_only"] = [g.group_id for g in only_classic.valid]
c.close()
print(json.dumps(out))
"""


def cli(broker, *args):
    return subprocess.run([SLUICE_CLI, "-b", broker.bootstrap, *args], capture_output=True, text=True, timeout=60)


def test_group_configs_and_group_types_with_the_newest_confluent_kafka(broker):
    assert LATEST_PYTHON.exists(), f"{LATEST_PYTHON} is missing: the newest clients are part of this test"
    assert cli(broker, "topic", "create", "group-configs-topic", "-p", "1").returncode == 0
    run = subprocess.run([str(LATEST_PYTHON), "-c", CONFLUENT_SCRIPT, broker.bootstrap],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["described"]["consumer.session.timeout.ms"][0] == "50000"
    # Kafka's ConfigSource codes: GROUP_CONFIG 8, DEFAULT_CONFIG 5.
    assert out["described"]["consumer.session.timeout.ms"][1] == 8
    assert out["described"]["consumer.heartbeat.interval.ms"] == ["5000", 5]
    assert "INVALID_CONFIG" in out["bad"] and "between 45000 and 60000" in out["bad"], out["bad"]
    assert out["types"].get("classic-one") == "ConsumerGroupType.CLASSIC", out["types"]
    assert "classic-one" not in out["consumer_only"] and "classic-one" in out["classic_only"]

    # Kept in keeper where the brokers follow it.
    zk = KazooClient(hosts=broker.keeper, timeout=10)
    zk.start(timeout=15)
    try:
        data, _ = zk.get("/config/groups/billing")
    finally:
        zk.stop()
        zk.close()
    assert json.loads(data) == {"version": 1, "config": {"consumer.session.timeout.ms": "50000"}}


def test_sluice_config_group(broker):
    # A group that does not exist is described with the defaults, as in Kafka.
    described = cli(broker, "config", "describe", "--group", "nobody", "--all", "--json")
    assert described.returncode == 0, described.stderr
    rows = {r["name"]: r for r in json.loads(described.stdout)}
    assert rows["consumer.session.timeout.ms"]["value"] == "45000"
    assert rows["consumer.session.timeout.ms"]["source"] == "default"
    assert rows["share.record.lock.duration.ms"]["value"] == "30000"

    set_ = cli(broker, "config", "alter", "--group", "nobody", "--set", "consumer.heartbeat.interval.ms=6000")
    assert set_.returncode == 0, set_.stderr
    rows = {r["name"]: r for r in json.loads(cli(broker, "config", "describe", "--group", "nobody", "--json").stdout)}
    assert rows == {"consumer.heartbeat.interval.ms": {"name": "consumer.heartbeat.interval.ms", "value": "6000",
                                                       "source": "group", "read_only": False}}

    for bad in ["consumer.heartbeat.interval.ms=100", "session.timeout.ms=50000", "share.auto.offset.reset=middle"]:
        refused = cli(broker, "config", "alter", "--group", "nobody", "--set", bad)
        assert refused.returncode != 0 and "INVALID_CONFIG" in refused.stderr, (bad, refused.stderr)

    deleted = cli(broker, "config", "alter", "--group", "nobody", "--delete", "consumer.heartbeat.interval.ms")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(cli(broker, "config", "describe", "--group", "nobody", "--json").stdout) == []

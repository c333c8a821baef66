"""Topic configs and dynamic broker configs against Kafka's specification, written from Kafka's
sources without reading Sluice's: DescribeConfigs at v0 (is_default), v1/v2 (config_source,
synonyms only when asked) and v3 (config_type, documentation only when asked), for chosen keys
and unknown ones; the order of synonyms for broker keys with several names
(ConfigHelper.configSynonyms); AlterConfigs replacing a resource's whole set versus
IncrementalAlterConfigs' SET/DELETE/APPEND/SUBTRACT (ConfigAdminManager.prepareIncrementalConfigs);
validate_only; one error per resource; a topic's defaults following per-broker and cluster-wide
dynamic configs; the values LogConfig refuses; read-only broker configs; and what real clients
see: max.message.bytes, retention.ms lowered at run time, min.insync.replicas with acks=all.

Requests whose exact versions matter are sent raw (kafka-python's codec, schemas declared here
from Kafka's DescribeConfigs/IncrementalAlterConfigs JSON message definitions)."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.admin import AlterConfigsRequest
from kafka.protocol.api import Request, Response
from kafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Schema, String

from conftest import serve_broker, wait_until
from kafka_support import raw_produce, request_to

TOPIC, BROKER = 2, 4  # ConfigResource.Type ids
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3  # AlterConfigOp.OpType ids
# DescribeConfigsResponse.ConfigSource ids
TOPIC_CONFIG, DYNAMIC_BROKER, DYNAMIC_DEFAULT, STATIC_BROKER, DEFAULT_CONFIG = 1, 2, 3, 4, 5
# DescribeConfigsResponse.ConfigType ids
BOOLEAN, STRING, INT, LONG, DOUBLE, LIST = 1, 2, 3, 5, 6, 7
# Errors
NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION = 0, 3, 17
NOT_ENOUGH_REPLICAS, INVALID_CONFIG, INVALID_REQUEST = 19, 40, 42


# --- DescribeConfigs v0..v3 and IncrementalAlterConfigs v0, from Kafka's message JSON ----------

_SYNONYMS = ("synonyms", Array(("name", String("utf-8")), ("value", String("utf-8")), ("source", Int8)))


def _describe_response(version, entry_fields):
    return type(f"DescribeConfigsResponse_v{version}", (Response,), {
        "API_KEY": 32, "API_VERSION": version,
        "SCHEMA": Schema(("throttle_time_ms", Int32), ("results", Array(
            ("error_code", Int16), ("error_message", String("utf-8")), ("resource_type", Int8),
            ("resource_name", String("utf-8")), ("configs", Array(*entry_fields)))))})


_V0_ENTRY = (("name", String("utf-8")), ("value", String("utf-8")), ("read_only", Boolean),
             ("is_default", Boolean), ("is_sensitive", Boolean))
_V1_ENTRY = (("name", String("utf-8")), ("value", String("utf-8")), ("read_only", Boolean),
             ("config_source", Int8), ("is_sensitive", Boolean), _SYNONYMS)
_V3_ENTRY = _V1_ENTRY + (("config_type", Int8), ("documentation", String("utf-8")))
_RESOURCES = ("resources", Array(("resource_type", Int8), ("resource_name", String("utf-8")),
                                 ("configuration_keys", Array(String("utf-8")))))


def _describe_request(version):
    fields = [_RESOURCES]
    if version >= 1:
        fields.append(("include_synonyms", Boolean))
    if version >= 3:
        fields.append(("include_documentation", Boolean))
    entry = _V0_ENTRY if version == 0 else _V1_ENTRY if version < 3 else _V3_ENTRY
    return type(f"DescribeConfigsRequest_v{version}", (Request,), {
        "API_KEY": 32, "API_VERSION": version, "RESPONSE_TYPE": _describe_response(version, entry),
        "SCHEMA": Schema(*fields)})


DESCRIBE = [_describe_request(v) for v in range(4)]


class IncrementalAlterConfigsResponse_v0(Response):
    API_KEY = 44
    API_VERSION = 0
    SCHEMA = Schema(("throttle_time_ms", Int32), ("responses", Array(
        ("error_code", Int16), ("error_message", String("utf-8")), ("resource_type", Int8),
        ("resource_name", String("utf-8")))))


class IncrementalAlterConfigsRequest_v0(Request):
    API_KEY = 44
    API_VERSION = 0
    RESPONSE_TYPE = IncrementalAlterConfigsResponse_v0
    SCHEMA = Schema(("resources", Array(
        ("resource_type", Int8), ("resource_name", String("utf-8")),
        ("configs", Array(("name", String("utf-8")), ("config_operation", Int8), ("value", String("utf-8")))))),
        ("validate_only", Boolean))


def describe(broker, resources, version=2, synonyms=False, documentation=False):
    """`resources`: [(type, name, keys or None)]. Returns the results as dicts, with each
    config as a dict keyed by name (and `order`, the names as answered)."""
    args = {"resources": [list(r) for r in resources]}
    if version >= 1:
        args["include_synonyms"] = synonyms
    if version >= 3:
        args["include_documentation"] = documentation
    response = request_to(broker.bootstrap, 0, DESCRIBE[version](**args))
    out = []
    for error, message, rtype, rname, configs in response.results:
        entries = {}
        for c in configs:
            names = [f[0] for f in (_V0_ENTRY if version == 0 else _V1_ENTRY if version < 3 else _V3_ENTRY)]
            entry = dict(zip(names, c))
            if "synonyms" in entry:
                entry["synonyms"] = [tuple(s) for s in entry["synonyms"]]
            entries[entry["name"]] = entry
        out.append({"error": error, "message": message, "type": rtype, "name": rname, "configs": entries,
                    "order": [c[0] for c in configs]})
    return out


def topic_configs(broker, topic, keys=None, synonyms=True):
    (result,) = describe(broker, [(TOPIC, topic, keys)], synonyms=synonyms)
    assert result["error"] == NONE, result
    return result["configs"]


def broker_configs(broker, name="0", keys=None, synonyms=True):
    (result,) = describe(broker, [(BROKER, name, keys)], synonyms=synonyms)
    assert result["error"] == NONE, result
    return result["configs"]


def incremental(broker, resources, validate_only=False):
    """`resources`: [(type, name, [(key, op, value)])]; returns [(error code, message)]."""
    request = IncrementalAlterConfigsRequest_v0(resources=[[t, n, [list(c) for c in cs]] for t, n, cs in resources],
                                                validate_only=validate_only)
    response = request_to(broker.bootstrap, 0, request)
    return [(code, message) for code, message, _, _ in response.responses]


def alter_legacy(broker, resources, validate_only=False):
    """AlterConfigs v0 (the whole set): `resources` [(type, name, {key: value})]."""
    request = AlterConfigsRequest[0](resources=[[t, n, list(cs.items())] for t, n, cs in resources],
                                     validate_only=validate_only)
    response = request_to(broker.bootstrap, 0, request)
    return [(code, message) for code, message, _, _ in response.resources]


def create(broker, name, config=None, partitions=1):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(timeout=60)


def value_and_source(entry):
    return entry["value"], entry["config_source"]


def names_and_sources(entry):
    return [(name, source) for name, _, source in entry["synonyms"]]


# --- DescribeConfigs ----------------------------------------------------------------------------

def test_describe_v0_flags_only_unset_configs_as_default(broker):
    # DescribeConfigsResponse.json: IsDefault (v0 only) is "True if the configuration is not
    # set"; Kafka 2.0-2.6 filled it as source == DEFAULT_CONFIG (DescribeConfigsResponse.toStruct).
    create(broker, "v0", {"retention.ms": "100000"})
    (result,) = describe(broker, [(TOPIC, "v0", None)], version=0)
    assert result["error"] == NONE
    configs = result["configs"]
    assert (configs["retention.ms"]["value"], configs["retention.ms"]["is_default"]) == ("100000", False)
    assert (configs["segment.bytes"]["value"], configs["segment.bytes"]["is_default"]) == ("1073741824", True)
    assert not any(c["read_only"] or c["is_sensitive"] for c in configs.values())


def test_describe_v1_sends_synonyms_only_when_asked(broker):
    create(broker, "syn", {"retention.ms": "100000"})
    for version in (1, 2):
        (plain,) = describe(broker, [(TOPIC, "syn", None)], version=version, synonyms=False)
        assert all(c["synonyms"] == [] for c in plain["configs"].values()), version
        assert value_and_source(plain["configs"]["retention.ms"]) == ("100000", TOPIC_CONFIG)
        assert value_and_source(plain["configs"]["cleanup.policy"]) == ("delete", DEFAULT_CONFIG)
        (full,) = describe(broker, [(TOPIC, "syn", None)], version=version, synonyms=True)
        # ConfigHelper.createTopicConfigEntry: the topic's own value heads the synonyms.
        assert full["configs"]["retention.ms"]["synonyms"][0] == ("retention.ms", "100000", TOPIC_CONFIG)
        assert full["configs"]["cleanup.policy"]["synonyms"] == [("log.cleanup.policy", "delete", DEFAULT_CONFIG)]


def test_describe_v3_gives_each_configs_type(broker):
    # ConfigHelper.configResponseType: the ConfigDef type of LogConfig's / KafkaConfig's key.
    create(broker, "typed")
    expected_types = {"retention.ms": LONG, "segment.bytes": INT, "cleanup.policy": LIST,
                      "min.cleanable.dirty.ratio": DOUBLE, "preallocate": BOOLEAN, "compression.type": STRING}
    (topic,) = describe(broker, [(TOPIC, "typed", list(expected_types))], version=3)
    assert {k: c["config_type"] for k, c in topic["configs"].items()} == expected_types
    assert all(c["documentation"] is None for c in topic["configs"].values()), "not asked for"
    broker_types = {"broker.id": INT, "log.retention.ms": LONG, "log.cleanup.policy": LIST,
                    "auto.create.topics.enable": BOOLEAN, "log.cleaner.min.cleanable.ratio": DOUBLE}
    (brokers,) = describe(broker, [(BROKER, "0", list(broker_types))], version=3)
    assert {k: c["config_type"] for k, c in brokers["configs"].items()} == broker_types


def test_describe_chosen_keys_skips_unknown_names(broker):
    # ConfigHelper.describeConfigs filters the resource's configs by the names asked for: a name
    # that is no config is left out, without an error.
    create(broker, "chosen")
    (result,) = describe(broker, [(TOPIC, "chosen", ["retention.ms", "no.such.key", "cleanup.policy"])])
    assert result["error"] == NONE
    assert sorted(result["configs"]) == ["cleanup.policy", "retention.ms"]
    (result,) = describe(broker, [(BROKER, "0", ["message.max.bytes", "no.such.key"])])
    assert sorted(result["configs"]) == ["message.max.bytes"]
    # An empty list means every config, like null.
    (result,) = describe(broker, [(TOPIC, "chosen", [])])
    assert "segment.bytes" in result["configs"] and len(result["configs"]) > 20


def test_describe_answers_each_resource_on_its_own(broker):
    # ConfigHelper.describeConfigs: an unknown topic is UNKNOWN_TOPIC_OR_PARTITION, an invalid
    # name fails Topic.validate (INVALID_TOPIC_EXCEPTION), a broker id other than this broker's
    # or not a number is INVALID_REQUEST; the others are answered in full, in request order.
    create(broker, "here")
    results = describe(broker, [(TOPIC, "here", None), (TOPIC, "absent", None), (TOPIC, "bad/name", None),
                                (BROKER, "0", ["message.max.bytes"]), (BROKER, "7", None), (BROKER, "x", None)])
    assert [(r["type"], r["name"], r["error"]) for r in results] == [
        (TOPIC, "here", NONE), (TOPIC, "absent", UNKNOWN_TOPIC_OR_PARTITION), (TOPIC, "bad/name", INVALID_TOPIC_EXCEPTION),
        (BROKER, "0", NONE), (BROKER, "7", INVALID_REQUEST), (BROKER, "x", INVALID_REQUEST)]
    assert results[0]["configs"] and not results[1]["configs"] and not results[4]["configs"]


@pytest.fixture
def kafka_reconfiguration_broker(tmp_path, request):
    """The static overrides of Kafka's DynamicBrokerReconfigurationTest.testConfigDescribeUsingAdminClient."""
    yield from serve_broker(tmp_path, request, ["log.retention.ms=1680000000", "log.retention.hours=168"])


def test_broker_synonyms_follow_kafkas_order(kafka_reconfiguration_broker):
    # Kafka's DynamicBrokerReconfigurationTest.testConfigDescribeUsingAdminClient, and
    # ConfigHelper.configSynonyms: per name in DynamicBrokerConfig.brokerConfigSynonyms
    # (ms, minutes, hours), dynamic per-broker, then dynamic default, static, default, dropping
    # those before the first entry of the key described.
    broker = kafka_reconfiguration_broker
    configs = broker_configs(broker, keys=["log.retention.ms", "log.retention.hours", "log.roll.hours"])
    assert value_and_source(configs["log.retention.ms"]) == ("1680000000", STATIC_BROKER)
    assert not configs["log.retention.ms"]["read_only"]
    assert names_and_sources(configs["log.retention.ms"]) == [
        ("log.retention.ms", STATIC_BROKER), ("log.retention.hours", STATIC_BROKER),
        ("log.retention.hours", DEFAULT_CONFIG)]
    assert names_and_sources(configs["log.retention.hours"]) == [
        ("log.retention.hours", STATIC_BROKER), ("log.retention.hours", DEFAULT_CONFIG)]
    assert configs["log.retention.hours"]["value"] == "168"
    assert names_and_sources(configs["log.roll.hours"]) == [("log.roll.hours", DEFAULT_CONFIG)]
    assert configs["log.roll.hours"]["value"] == "168"

    # Both dynamic levels come before the static file.
    assert incremental(broker, [(BROKER, "", [("log.retention.ms", SET, "7200000")])]) == [(NONE, None)]
    assert incremental(broker, [(BROKER, "0", [("log.retention.ms", SET, "3600000")])]) == [(NONE, None)]
    entry = broker_configs(broker, keys=["log.retention.ms"])["log.retention.ms"]
    assert value_and_source(entry) == ("3600000", DYNAMIC_BROKER)
    assert entry["synonyms"] == [
        ("log.retention.ms", "3600000", DYNAMIC_BROKER), ("log.retention.ms", "7200000", DYNAMIC_DEFAULT),
        ("log.retention.ms", "1680000000", STATIC_BROKER), ("log.retention.hours", "168", STATIC_BROKER),
        ("log.retention.hours", "168", DEFAULT_CONFIG)]
    # At the cluster-default level only the dynamic default synonyms are listed.
    entry = broker_configs(broker, name="", keys=["log.retention.ms"])["log.retention.ms"]
    assert (entry["value"], entry["config_source"], entry["synonyms"]) == (
        "7200000", DYNAMIC_DEFAULT, [("log.retention.ms", "7200000", DYNAMIC_DEFAULT)])


def test_topic_synonyms_list_every_level_of_the_broker_key(broker):
    # ConfigHelper.createTopicConfigEntry: the topic override, then the synonyms of the broker key
    # in ServerTopicConfigSynonyms (retention.ms -> log.retention.ms, segment.ms -> log.roll.ms).
    create(broker, "levels", {"retention.ms": "60000"})
    assert incremental(broker, [(BROKER, "", [("log.retention.ms", SET, "7200000")]),
                                ]) == [(NONE, None)]
    assert incremental(broker, [(BROKER, "0", [("log.retention.ms", SET, "3600000"),
                                               ("log.roll.ms", SET, "1800000")])]) == [(NONE, None)]
    configs = topic_configs(broker, "levels", ["retention.ms", "segment.ms"])
    assert value_and_source(configs["retention.ms"]) == ("60000", TOPIC_CONFIG)
    assert configs["retention.ms"]["synonyms"] == [
        ("retention.ms", "60000", TOPIC_CONFIG), ("log.retention.ms", "3600000", DYNAMIC_BROKER),
        ("log.retention.ms", "7200000", DYNAMIC_DEFAULT), ("log.retention.hours", "168", DEFAULT_CONFIG)]
    assert value_and_source(configs["segment.ms"]) == ("1800000", DYNAMIC_BROKER)
    assert configs["segment.ms"]["synonyms"] == [
        ("log.roll.ms", "1800000", DYNAMIC_BROKER), ("log.roll.hours", "168", DEFAULT_CONFIG)]


# --- AlterConfigs and IncrementalAlterConfigs ---------------------------------------------------

def test_append_and_subtract_edit_list_configs(broker):
    # ConfigAdminManager.prepareIncrementalConfigs: APPEND starts from the default when the key
    # is not set and adds only values not present; SUBTRACT removes the values given.
    create(broker, "lists")
    assert incremental(broker, [(TOPIC, "lists", [("cleanup.policy", APPEND, "compact")])]) == [(NONE, None)]
    assert value_and_source(topic_configs(broker, "lists")["cleanup.policy"]) == ("delete,compact", TOPIC_CONFIG)
    assert incremental(broker, [(TOPIC, "lists", [("cleanup.policy", APPEND, "compact")])]) == [(NONE, None)]
    assert topic_configs(broker, "lists")["cleanup.policy"]["value"] == "delete,compact"
    assert incremental(broker, [(TOPIC, "lists", [("cleanup.policy", SUBTRACT, "delete")])]) == [(NONE, None)]
    assert value_and_source(topic_configs(broker, "lists")["cleanup.policy"]) == ("compact", TOPIC_CONFIG)
    assert incremental(broker, [(TOPIC, "lists", [("leader.replication.throttled.replicas", APPEND, "0:0"),
                                                  ("leader.replication.throttled.replicas", APPEND, "1:0")])])[0][0] \
        == INVALID_REQUEST, "the same key twice in one resource"
    assert incremental(broker, [(TOPIC, "lists", [("leader.replication.throttled.replicas", APPEND, "0:0,1:0")])]) \
        == [(NONE, None)]
    assert topic_configs(broker, "lists")["leader.replication.throttled.replicas"]["value"] == "0:0,1:0"


def test_append_or_subtract_on_a_non_list_config_is_invalid_config(broker):
    # ConfigAdminManager.prepareIncrementalConfigs: "Config value append is not allowed for config
    # key" (InvalidConfigurationException), for topics and brokers alike.
    create(broker, "scalar", {"retention.ms": "100000"})
    for op in (APPEND, SUBTRACT):
        (error, message), = incremental(broker, [(TOPIC, "scalar", [("retention.ms", op, "5")])])
        assert error == INVALID_CONFIG, (op, error, message)
        assert "retention.ms" in message
        (error, _), = incremental(broker, [(BROKER, "0", [("log.retention.ms", op, "5")])])
        assert error == INVALID_CONFIG, op
    assert topic_configs(broker, "scalar")["retention.ms"]["value"] == "100000"
    assert broker_configs(broker, keys=["log.retention.ms"])["log.retention.ms"]["config_source"] != DYNAMIC_BROKER


def test_legacy_alter_configs_replaces_the_whole_set(broker):
    # ZkAdminManager.alterTopicConfigs writes exactly the entries sent: keys left out go back to
    # their defaults; IncrementalAlterConfigs touches only the keys it names.
    create(broker, "whole", {"retention.ms": "100000", "cleanup.policy": "compact"})
    assert incremental(broker, [(TOPIC, "whole", [("segment.ms", SET, "200000")])]) == [(NONE, None)]
    configs = topic_configs(broker, "whole")
    assert [configs[k]["config_source"] for k in ("retention.ms", "cleanup.policy", "segment.ms")] == [TOPIC_CONFIG] * 3
    assert alter_legacy(broker, [(TOPIC, "whole", {"segment.bytes": "1000000"})]) == [(NONE, None)]
    configs = topic_configs(broker, "whole")
    assert value_and_source(configs["segment.bytes"]) == ("1000000", TOPIC_CONFIG)
    assert value_and_source(configs["retention.ms"]) == ("604800000", DEFAULT_CONFIG)
    assert value_and_source(configs["cleanup.policy"]) == ("delete", DEFAULT_CONFIG)
    assert value_and_source(configs["segment.ms"]) == ("604800000", DEFAULT_CONFIG)
    # An empty set clears every override.
    assert alter_legacy(broker, [(TOPIC, "whole", {})]) == [(NONE, None)]
    assert all(c["config_source"] != TOPIC_CONFIG for c in topic_configs(broker, "whole").values())


def test_legacy_alter_configs_replaces_the_cluster_default_set(broker):
    assert alter_legacy(broker, [(BROKER, "", {"log.retention.ms": "7200000", "log.cleaner.min.cleanable.ratio": "0.2"})]) \
        == [(NONE, None)]
    assert alter_legacy(broker, [(BROKER, "", {"log.cleaner.min.cleanable.ratio": "0.3"})]) == [(NONE, None)]
    defaults = broker_configs(broker, name="")
    assert {k: c["value"] for k, c in defaults.items()} == {"log.cleaner.min.cleanable.ratio": "0.3"}
    entry = broker_configs(broker, keys=["log.retention.ms"])["log.retention.ms"]
    assert entry["config_source"] != DYNAMIC_DEFAULT


def test_validate_only_changes_nothing_but_reports_errors(broker):
    create(broker, "dry", {"retention.ms": "100000"})
    assert incremental(broker, [(TOPIC, "dry", [("retention.ms", SET, "200000")])], validate_only=True) == [(NONE, None)]
    assert alter_legacy(broker, [(TOPIC, "dry", {"segment.ms": "300000"})], validate_only=True) == [(NONE, None)]
    assert incremental(broker, [(BROKER, "0", [("log.cleaner.min.cleanable.ratio", SET, "0.2")])], validate_only=True) \
        == [(NONE, None)]
    assert incremental(broker, [(BROKER, "", [("log.cleaner.min.cleanable.ratio", SET, "0.2")])], validate_only=True) \
        == [(NONE, None)]
    configs = topic_configs(broker, "dry")
    assert value_and_source(configs["retention.ms"]) == ("100000", TOPIC_CONFIG)
    assert configs["segment.ms"]["config_source"] == DEFAULT_CONFIG
    assert broker_configs(broker, keys=["log.cleaner.min.cleanable.ratio"])["log.cleaner.min.cleanable.ratio"]["config_source"] \
        == DEFAULT_CONFIG
    assert broker_configs(broker, name="") == {}
    # A bad value is still refused.
    (error, _), = incremental(broker, [(TOPIC, "dry", [("retention.ms", SET, "-7")])], validate_only=True)
    assert error == INVALID_CONFIG
    (error, _), = alter_legacy(broker, [(TOPIC, "dry", {"retention.ms": "-7"})], validate_only=True)
    assert error == INVALID_CONFIG


def test_each_resource_gets_its_own_error_and_the_good_one_is_applied(broker):
    create(broker, "good")
    create(broker, "bad")
    results = incremental(broker, [(TOPIC, "good", [("retention.ms", SET, "123456")]),
                                   (TOPIC, "missing", [("retention.ms", SET, "123456")]),
                                   (TOPIC, "bad", [("retention.ms", SET, "-2")]),
                                   (BROKER, "0", [("log.cleaner.min.cleanable.ratio", SET, "0.2")])])
    assert [code for code, _ in results] == [NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG, NONE]
    assert value_and_source(topic_configs(broker, "good")["retention.ms"]) == ("123456", TOPIC_CONFIG)
    assert topic_configs(broker, "bad")["retention.ms"]["config_source"] == DEFAULT_CONFIG
    assert broker_configs(broker, keys=["log.cleaner.min.cleanable.ratio"])["log.cleaner.min.cleanable.ratio"]["value"] \
        == "0.2"
    results = alter_legacy(broker, [(TOPIC, "missing", {"retention.ms": "1"}), (TOPIC, "good", {"retention.ms": "654321"})])
    assert [code for code, _ in results] == [UNKNOWN_TOPIC_OR_PARTITION, NONE]
    assert topic_configs(broker, "good")["retention.ms"]["value"] == "654321"


def test_malformed_alter_requests_are_invalid_request(broker):
    # ConfigAdminManager.preprocess (both request kinds): a resource named twice fails both
    # ("Each resource must appear at most once."), a key named twice in one resource and a null
    # value to SET are INVALID_REQUEST; ZkAdminManager: "Default topic resources are not
    # allowed."; validateResourceNameIsCurrentNodeId: another broker's id.
    create(broker, "twice")
    cases = {
        "resource twice": incremental(broker, [(TOPIC, "twice", [("retention.ms", SET, "1000")]),
                                               (TOPIC, "twice", [("segment.ms", SET, "1000")])]),
        "key twice": incremental(broker, [(TOPIC, "twice", [("retention.ms", SET, "1000"),
                                                            ("retention.ms", SET, "2000")])]),
        "null SET": incremental(broker, [(TOPIC, "twice", [("retention.ms", SET, None)])]),
        "empty topic name": incremental(broker, [(TOPIC, "", [("retention.ms", SET, "1000")])]),
        "another broker": incremental(broker, [(BROKER, "7", [("message.max.bytes", SET, "2000")])]),
        "legacy resource twice": alter_legacy(broker, [(TOPIC, "twice", {"retention.ms": "1000"}),
                                                       (TOPIC, "twice", {"segment.ms": "1"})]),
        "legacy null": alter_legacy(broker, [(TOPIC, "twice", {"retention.ms": None})]),
    }
    got = {case: [code for code, _ in results] for case, results in cases.items()}
    expected = {case: [INVALID_REQUEST] * len(results) for case, results in cases.items()}
    assert got == expected
    assert all(c["config_source"] == DEFAULT_CONFIG for c in
               topic_configs(broker, "twice", ["retention.ms", "segment.ms"]).values())


# Values LogConfig's ConfigDef (and LogConfig.validateValues) refuses, Kafka 3.x.
REFUSED_TOPIC_VALUES = [
    {"retention.ms": "-2"},  # atLeast(-1)
    {"retention.ms": "ten"},  # LONG
    {"segment.bytes": "13"},  # atLeast(LegacyRecord.RECORD_OVERHEAD_V0 = 14)
    {"segment.ms": "0"},  # atLeast(1)
    {"segment.index.bytes": "3"},  # atLeast(4)
    {"min.cleanable.dirty.ratio": "-0.1"},  # between(0, 1)
    {"min.cleanable.dirty.ratio": "1.01"},
    {"compression.type": "none"},  # BrokerCompressionType names: uncompressed, not none
    {"compression.gzip.level": "10"},  # 1..9 or -1
    {"compression.lz4.level": "18"},  # 1..17
    {"compression.zstd.level": "23"},  # ..22
    {"message.timestamp.type": "logappendtime"},  # ValidString.in is case-sensitive
    {"cleanup.policy": "compact,shrink"},  # ValidList.in(compact, delete)
    {"min.insync.replicas": "0"},  # atLeast(1)
    {"max.message.bytes": "-1"},  # atLeast(0)
    {"max.compaction.lag.ms": "0"},  # atLeast(1)
    {"min.compaction.lag.ms": "2000", "max.compaction.lag.ms": "1000"},  # validateValues: min > max
    {"message.timestamp.before.max.ms": "-1"},  # atLeast(0)
    {"local.retention.ms": "-3"},  # atLeast(-2)
    {"preallocate": "yes"},  # BOOLEAN
    {"unclean.leader.election.enable": "1"},  # BOOLEAN
]

# Edge values it takes, and how DescribeConfigs shows them (ConfigDef.convertToString of the
# parsed value).
ACCEPTED_TOPIC_VALUES = [
    ({"retention.ms": "-1"}, {"retention.ms": "-1"}),
    ({"retention.bytes": "-5"}, {"retention.bytes": "-5"}),  # no validator: any negative is "no limit"
    ({"segment.bytes": "14"}, {"segment.bytes": "14"}),
    ({"min.cleanable.dirty.ratio": "0"}, {"min.cleanable.dirty.ratio": "0.0"}),
    ({"min.cleanable.dirty.ratio": "1"}, {"min.cleanable.dirty.ratio": "1.0"}),
    ({"max.message.bytes": "0"}, {"max.message.bytes": "0"}),
    ({"preallocate": "TRUE"}, {"preallocate": "true"}),  # BOOLEAN parses ignoring case
    ({"compression.gzip.level": "-1"}, {"compression.gzip.level": "-1"}),
    ({"compression.zstd.level": "-5"}, {"compression.zstd.level": "-5"}),
    ({"cleanup.policy": "compact, delete"}, {"cleanup.policy": "compact,delete"}),  # LIST trims
    ({"min.compaction.lag.ms": "1000", "max.compaction.lag.ms": "1000"},
     {"min.compaction.lag.ms": "1000", "max.compaction.lag.ms": "1000"}),
]


def test_values_kafka_refuses_are_invalid_config(broker):
    create(broker, "strict")
    refused = []
    for configs in REFUSED_TOPIC_VALUES:
        (error, message), = incremental(broker, [(TOPIC, "strict", [(k, SET, v) for k, v in configs.items()])])
        (legacy, _), = alter_legacy(broker, [(TOPIC, "strict", configs)])
        if (error, legacy) != (INVALID_CONFIG, INVALID_CONFIG):
            refused.append((configs, error, legacy, message))
    assert refused == [], "expected INVALID_CONFIG from both requests"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for configs in REFUSED_TOPIC_VALUES[:6]:
        name = f"born-bad-{uuid.uuid4().hex[:6]}"
        with pytest.raises(Exception) as raised:
            admin.create_topics([NewTopic(name, 1, 1, config=configs)])[name].result(timeout=60)
        assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG, configs
    assert all(c["config_source"] == DEFAULT_CONFIG for c in topic_configs(broker, "strict").values())


def test_edge_values_kafka_takes_are_stored_as_it_prints_them(broker):
    create(broker, "edges")
    wrong = []
    for configs, shown in ACCEPTED_TOPIC_VALUES:
        result = incremental(broker, [(TOPIC, "edges", [(k, SET, v) for k, v in configs.items()])])
        described = topic_configs(broker, "edges", list(shown))
        got = {k: (described[k]["value"], described[k]["config_source"]) for k in shown}
        if result != [(NONE, None)] or got != {k: (v, TOPIC_CONFIG) for k, v in shown.items()}:
            wrong.append((configs, result, got))
        incremental(broker, [(TOPIC, "edges", [(k, DELETE, None) for k in configs])])
    assert wrong == []


def test_unknown_topic_config_names_are_invalid_config(broker):
    # LogConfig.validateNames: "Unknown topic config name"; broker key names are no topic keys.
    create(broker, "names")
    for key in ("log.retention.ms", "retention.hours", "no.such.config"):
        (error, message), = incremental(broker, [(TOPIC, "names", [(key, SET, "1")])])
        assert error == INVALID_CONFIG and key in message, (key, error, message)


# --- dynamic broker configs -----------------------------------------------------------------------

def test_a_topic_follows_per_broker_then_default_unless_it_overrides(broker):
    create(broker, "follower")

    def retention():
        return value_and_source(topic_configs(broker, "follower", ["retention.ms"])["retention.ms"])

    assert retention() == ("604800000", DEFAULT_CONFIG)
    assert incremental(broker, [(BROKER, "", [("log.retention.ms", SET, "7200000")])]) == [(NONE, None)]
    assert retention() == ("7200000", DYNAMIC_DEFAULT)
    assert incremental(broker, [(BROKER, "0", [("log.retention.ms", SET, "3600000")])]) == [(NONE, None)]
    assert retention() == ("3600000", DYNAMIC_BROKER)
    assert incremental(broker, [(TOPIC, "follower", [("retention.ms", SET, "60000")])]) == [(NONE, None)]
    assert retention() == ("60000", TOPIC_CONFIG)
    assert incremental(broker, [(BROKER, "0", [("log.retention.ms", DELETE, None)]),
                                (BROKER, "", [("log.retention.ms", SET, "9000000")])]) == [(NONE, None), (NONE, None)]
    assert retention() == ("60000", TOPIC_CONFIG), "the override beats both broker levels"
    assert incremental(broker, [(TOPIC, "follower", [("retention.ms", DELETE, None)])]) == [(NONE, None)]
    assert retention() == ("9000000", DYNAMIC_DEFAULT)
    # A broker key given in hours reaches the topic in milliseconds... only through the static
    # file: log.retention.hours is not dynamic in Kafka 3.x (DynamicLogConfig.ReconfigurableConfigs
    # holds the primary names of ServerTopicConfigSynonyms).


def test_read_only_broker_configs_are_refused_with_invalid_request(broker):
    # DynamicBrokerConfig.validateConfigs: "Cannot update these configs dynamically" (a
    # ConfigException, which ConfigAdminManager.validateBrokerConfigChange answers as
    # INVALID_REQUEST, KAFKA-13609). Read-only = not in DynamicBrokerConfig.AllDynamicConfigs.
    read_only = ["log.dirs", "auto.create.topics.enable", "num.partitions", "default.replication.factor",
                 "offsets.topic.replication.factor", "delete.topic.enable"]
    dynamic = ["log.retention.ms", "log.segment.bytes", "log.cleaner.min.cleanable.ratio", "message.max.bytes",
               "min.insync.replicas", "compression.type", "unclean.leader.election.enable",
               "log.message.timestamp.type", "max.connections"]
    configs = broker_configs(broker, keys=read_only + dynamic, synonyms=False)
    assert {k: configs[k]["read_only"] for k in read_only + dynamic if k in configs} == \
        {**{k: True for k in read_only}, **{k: False for k in dynamic}}
    for key in read_only:
        for name in ("0", ""):
            (error, message), = incremental(broker, [(BROKER, name, [(key, SET, "1")])])
            assert error == INVALID_REQUEST and key in message, (key, name, error, message)


def test_bad_broker_config_values_are_invalid_request(broker):
    # ConfigAdminManager.validateBrokerConfigChange turns the ConfigException of
    # DynamicConfig.Broker.validate into InvalidRequestException (KAFKA-13609, since Kafka 3.2).
    for key, value in [("log.segment.bytes", "3"), ("log.retention.ms", "soon"),
                       ("log.message.timestamp.type", "Sometime")]:
        (error, message), = incremental(broker, [(BROKER, "0", [(key, SET, value)])])
        assert error == INVALID_REQUEST and key in message, (key, error, message)
    assert broker_configs(broker, keys=["log.segment.bytes"])["log.segment.bytes"]["config_source"] == DEFAULT_CONFIG


def test_custom_broker_configs_are_kept(broker):
    # DynamicConfig.Broker.validate is called with customPropsAllowed = true: a name Kafka does
    # not know (a plugin's, a metrics reporter's) is accepted and stored.
    (error, message), = incremental(broker, [(BROKER, "", [("custom.reporter.endpoint", SET, "http://x")])])
    assert error == NONE, message
    assert broker_configs(broker, name="")["custom.reporter.endpoint"]["value"] == "http://x"


# --- what clients see ----------------------------------------------------------------------------

def test_max_message_bytes_changes_are_seen_by_producers(broker):
    create(broker, "sized", {"max.message.bytes": "2000"})

    def produce(size):
        producer = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0, "compression.type": "none",
                             "linger.ms": 0, "message.timeout.ms": 30000})
        errors = []
        producer.produce("sized", value=b"x" * size, on_delivery=lambda err, msg: errors.append(err))
        assert producer.flush(60) == 0
        return errors[0].code() if errors[0] else None

    assert produce(1000) is None
    assert produce(5000) == KafkaError.MSG_SIZE_TOO_LARGE
    assert incremental(broker, [(TOPIC, "sized", [("max.message.bytes", SET, "10000")])]) == [(NONE, None)]
    assert produce(5000) is None
    # Back to the broker's message.max.bytes (1048588), lowered cluster-wide.
    assert incremental(broker, [(TOPIC, "sized", [("max.message.bytes", DELETE, None)]),
                                (BROKER, "", [("message.max.bytes", SET, "3000")])]) == [(NONE, None), (NONE, None)]
    assert topic_configs(broker, "sized", ["max.message.bytes"])["max.message.bytes"]["value"] == "3000"
    assert produce(5000) == KafkaError.MSG_SIZE_TOO_LARGE


@pytest.fixture
def retention_broker(tmp_path, request):
    yield from serve_broker(tmp_path, request, ["log.retention.check.interval.ms=200"])


def test_lowering_retention_ms_deletes_old_segments(retention_broker):
    # UnifiedLog.deleteRetentionMsBreachedSegments: a segment goes once its largest timestamp is
    # older than retention.ms; when every segment goes, the active one too (a new one is rolled),
    # so the log start offset reaches the log end offset (UnifiedLog.deletableSegments).
    broker = retention_broker
    create(broker, "aging", {"segment.bytes": "1024", "file.delete.delay.ms": "0"})
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "compression.type": "none"})
    hour_ago = int(time.time() * 1000) - 3600 * 1000
    for i in range(10):
        producer.produce("aging", value=b"%d" % i + b"." * 700, timestamp=hour_ago + i)
        assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "watermarks"})
    tp = TopicPartition("aging", 0)
    try:
        assert consumer.get_watermark_offsets(tp, timeout=30) == (0, 10)
        segments = sorted(p.name for p in (broker.data / "aging-0").glob("*.log"))
        assert len(segments) >= 5, segments
        assert incremental(broker, [(TOPIC, "aging", [("retention.ms", SET, "60000")])]) == [(NONE, None)]
        wait_until(lambda: consumer.get_watermark_offsets(tp, timeout=30)[0] >= 9, timeout_s=60,
                   what="the closed hour-old segments deleted")
        # Kafka: UnifiedLog.deleteSegments rolls a new segment when every segment, the active one
        # included, is past retention, and deletes them all.
        wait_until(lambda: consumer.get_watermark_offsets(tp, timeout=30)[0] == 10, timeout_s=30,
                   what="the expired active segment deleted too")
        assert not (broker.data / "aging-0" / "00000000000000000000.log").exists()
        producer.produce("aging", value=b"fresh")
        assert producer.flush(30) == 0
        assert consumer.get_watermark_offsets(tp, timeout=30) == (10, 11)
    finally:
        consumer.close()


def test_min_insync_replicas_above_the_isr_refuses_acks_all(broker):
    # Partition.appendRecordsToLeader: with acks=-1 and fewer in-sync replicas than
    # min.insync.replicas, NotEnoughReplicasException; acks=1 is not checked.
    create(broker, "guarded", {"min.insync.replicas": "2"})
    assert raw_produce(broker.bootstrap, 0, "guarded", 0, b"all", -1, 10_000) == NOT_ENOUGH_REPLICAS
    assert raw_produce(broker.bootstrap, 0, "guarded", 0, b"one", 1, 10_000) == NONE
    assert incremental(broker, [(TOPIC, "guarded", [("min.insync.replicas", SET, "1")])]) == [(NONE, None)]
    assert raw_produce(broker.bootstrap, 0, "guarded", 0, b"all", -1, 10_000) == NONE
    # The cluster-wide default applies to topics without an override, not to the others.
    create(broker, "plain")
    assert incremental(broker, [(BROKER, "", [("min.insync.replicas", SET, "2")])]) == [(NONE, None)]
    assert raw_produce(broker.bootstrap, 0, "plain", 0, b"all", -1, 10_000) == NOT_ENOUGH_REPLICAS
    assert raw_produce(broker.bootstrap, 0, "guarded", 0, b"all", -1, 10_000) == NONE



"""`sluice acl add|list|remove` against a broker with Kafka's ACL authorizer: what the CLI adds
is what DescribeAcls (and confluent-kafka's admin client) then lists, it is enforced on a real
client logged in over SASL, `remove` takes exactly what it names, and bad input exits non-zero
naming the problem. Without an authorizer the broker's SECURITY_DISABLED is reported."""

import json
import subprocess

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AclBindingFilter, AclOperation, AclPermissionType, AdminClient
from confluent_kafka.admin import ResourcePatternType, ResourceType

from conftest import SLUICE_CLI, Broker

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        'password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
SETTINGS = [
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN",
    f"listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}",
    "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
    "super.users=User:admin;User:ANONYMOUS",
]
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("cli-acl"), SETTINGS, sasl_listener=True)
    b.start()
    yield b
    b.stop()


def sluice(broker, *args):
    return subprocess.run([SLUICE_CLI, "-b", broker.bootstrap, *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def listed(broker, *args):
    done = sluice(broker, "acl", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def produce_as_alice(broker, topic):
    """The delivery error of one record alice produces (None: delivered)."""
    p = Producer({"bootstrap.servers": broker.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                  "sasl.username": "alice", "sasl.password": "alice-secret", "message.timeout.ms": 10000})
    errors = []
    try:
        p.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
    except Exception as e:  # librdkafka refuses at once a topic it already knows is unauthorized
        return e.args[0]
    p.flush(30)
    assert len(errors) == 1
    return errors[0]


def test_added_acls_are_listed_enforced_and_removed(secured):
    done = sluice(secured, "topic", "create", "cli-acl-orders", "-p", "1")
    assert done.returncode == 0, done.stderr
    err = produce_as_alice(secured, "cli-acl-orders")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    done = sluice(secured, "acl", "add", "--allow-principal", "User:alice", "--operation", "Write",
                  "--operation", "describe", "--topic", "cli-acl-orders")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("added:") == 2, done.stdout
    rows = listed(secured, "--topic", "cli-acl-orders")
    assert sorted((r["principal"], r["operation"], r["permission"], r["pattern_type"], r["host"]) for r in rows) == [
        ("User:alice", "Describe", "Allow", "literal", "*"), ("User:alice", "Write", "Allow", "literal", "*")]
    # The same bindings through another client's eyes.
    admin = AdminClient({"bootstrap.servers": secured.bootstrap})
    found = admin.describe_acls(AclBindingFilter(ResourceType.TOPIC, "cli-acl-orders", ResourcePatternType.ANY,
                                                 None, None, AclOperation.ANY, AclPermissionType.ANY)).result(30)
    assert {b.operation for b in found} == {AclOperation.WRITE, AclOperation.DESCRIBE}

    assert produce_as_alice(secured, "cli-acl-orders") is None

    done = sluice(secured, "acl", "remove", "--allow-principal", "User:alice", "--operation", "Write",
                  "--topic", "cli-acl-orders")
    assert done.returncode == 0 and done.stdout.count("removed:") == 1, (done.stdout, done.stderr)
    assert [r["operation"] for r in listed(secured, "--topic", "cli-acl-orders")] == ["Describe"]
    done = sluice(secured, "acl", "remove", "--topic", "cli-acl-orders")
    assert done.returncode == 0 and "removed:" in done.stdout, done.stdout
    assert listed(secured, "--topic", "cli-acl-orders") == []
    done = sluice(secured, "acl", "remove", "--topic", "cli-acl-orders")
    assert done.returncode == 0 and "no ACL matched" in done.stdout, done.stdout


def test_producer_and_consumer_shortcuts_and_prefixed_patterns(secured):
    done = sluice(secured, "acl", "add", "--allow-principal", "User:alice", "--producer", "--topic", "cli-app-",
                  "--resource-pattern-type", "prefixed")
    assert done.returncode == 0, done.stderr
    rows = listed(secured, "--principal", "User:alice")
    assert {(r["resource_type"], r["resource_name"], r["pattern_type"], r["operation"]) for r in rows} >= {
        ("Topic", "cli-app-", "prefixed", "Write"), ("Topic", "cli-app-", "prefixed", "Create"),
        ("Topic", "cli-app-", "prefixed", "Describe"), ("Cluster", "kafka-cluster", "literal", "IdempotentWrite")}
    # --resource-pattern-type match shows the prefixed ACL that applies to a name under it.
    matching = listed(secured, "--topic", "cli-app-orders", "--resource-pattern-type", "match")
    assert {r["resource_name"] for r in matching} == {"cli-app-"}
    assert sluice(secured, "topic", "create", "cli-app-orders", "-p", "1").returncode == 0
    assert produce_as_alice(secured, "cli-app-orders") is None
    done = sluice(secured, "acl", "remove", "--topic", "cli-app-", "--resource-pattern-type", "prefixed")
    assert done.returncode == 0 and done.stdout.count("removed:") == 3, done.stdout
    assert sluice(secured, "acl", "remove", "--cluster").returncode == 0


@pytest.mark.parametrize("args, named", [
    (["--allow-principal", "alice", "--operation", "Read", "--topic", "t"], "Type:name"),
    (["--allow-principal", "User:a", "--operation", "Fly", "--topic", "t"], "--operation"),
    (["--allow-principal", "User:a", "--operation", "IdempotentWrite", "--topic", "t"], "does not apply"),
    (["--allow-principal", "User:a", "--operation", "Read"], "--topic"),
    (["--operation", "Read", "--topic", "t"], "--allow-principal"),
    (["--allow-principal", "User:a", "--operation", "Read", "--topic", "t", "--resource-pattern-type", "any"],
     "--resource-pattern-type"),
])
def test_bad_input_exits_non_zero_naming_the_problem(secured, args, named):
    done = sluice(secured, "acl", "add", *args)
    assert done.returncode != 0 and named in done.stderr, done.stderr
    assert listed(secured, "--topic", "t") == []


def test_a_principal_without_cluster_alter_is_refused(secured):
    done = subprocess.run([SLUICE_CLI, "-b", secured.sasl, "-X", "security.protocol=SASL_PLAINTEXT",
                           "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret",
                           "acl", "add", "--allow-principal", "User:alice", "--operation", "All", "--topic", "*"],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode != 0 and "CLUSTER_AUTHORIZATION_FAILED" in done.stderr, done.stderr
    assert listed(secured, "--topic", "*") == []


def test_without_an_authorizer_the_cli_says_so(broker):
    done = sluice(broker, "acl", "list")
    assert done.returncode != 0 and "SECURITY_DISABLED" in done.stderr, done.stderr

"""SASL on the keeper port, as ZooKeeper does it with its `DigestLoginModule` (DIGEST-MD5): a
broker that logs in to its keeper as `kafka` (`keeper.connect.auth=sasl:...`) and protects its
znodes with `zookeeper.set.acl`, so that they belong to `sasl:kafka`. kazoo (through pure-sasl)
and Apache ZooKeeper's zkCli.sh (through Java's own SASL client and a JAAS `Client` section) log
in as `kafka` and may change them, as another user may only read them, and with a wrong password
do not get a session at all."""

import os
import shutil
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, NoAuthError

from conftest import Broker

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
USERS = 'org.apache.zookeeper.server.auth.DigestLoginModule required user_kafka="kafka-secret" user_ops="ops-secret";'


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sasl-keeper"), [
        f"keeper.sasl.jaas.config={USERS}",
        "keeper.connect.auth=sasl:kafka:kafka-secret",
        "zookeeper.set.acl=true",
    ])
    b.start()
    yield b
    b.stop()


def kazoo(broker, user=None, password=None):
    options = {"sasl_options": {"mechanism": "DIGEST-MD5", "username": user, "password": password}} if user else {}
    zk = KazooClient(hosts=broker.keeper, timeout=10, **options)
    zk.start(timeout=30)
    return zk


def topic(broker, name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    return name


def test_the_brokers_znodes_belong_to_its_sasl_user(broker):
    t = topic(broker, "sasl-orders")
    anonymous = kazoo(broker)
    try:
        acl, _ = anonymous.get_acls(f"/brokers/topics/{t}")
        assert {(a.id.scheme, a.id.id, a.perms) for a in acl} == {("sasl", "kafka", 31), ("world", "anyone", 1)}
        with pytest.raises(NoAuthError):
            anonymous.set(f"/config/topics/{t}", b"{}")
    finally:
        anonymous.stop()
        anonymous.close()


def test_kazoo_logged_in_as_the_broker_may_change_them_and_another_user_may_not(broker):
    t = topic(broker, "sasl-guarded")
    kafka = kazoo(broker, "kafka", "kafka-secret")
    ops = kazoo(broker, "ops", "ops-secret")
    try:
        data, stat = kafka.get(f"/config/topics/{t}")
        kafka.set(f"/config/topics/{t}", data, version=stat.version)
        assert ops.get(f"/config/topics/{t}")[0] == data
        with pytest.raises(NoAuthError):
            ops.set(f"/config/topics/{t}", b"{}")
    finally:
        for z in (kafka, ops):
            z.stop()
            z.close()
    # A wrong password: the server refuses and drops the connection.
    wrong = KazooClient(hosts=broker.keeper, timeout=10,
                        sasl_options={"mechanism": "DIGEST-MD5", "username": "kafka", "password": "wrong"})
    # kazoo opens the session first, then logs in; the refusal fails what comes after.
    with pytest.raises(AuthFailedError):
        wrong.start(timeout=15)
        wrong.get("/")
    wrong.stop()
    wrong.close()
    assert "keeper SASL authentication failed" in broker.log()


def test_zkcli_logs_in_with_javas_sasl_client(broker, tmp_path):
    if not (shutil.which("java") and os.path.exists(ZKCLI)):
        pytest.skip("Apache ZooKeeper's zkCli.sh (Debian package zookeeper) is not installed")
    t = topic(broker, "sasl-zkcli")
    jaas = tmp_path / "client-jaas.conf"
    jaas.write_text('Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                    '  username="kafka"\n  password="kafka-secret";\n};\n')
    env = dict(os.environ, CLIENT_JVMFLAGS=f"-Djava.security.auth.login.config={jaas}")
    script = f"whoami\nset /config/topics/{t} {{\"version\":1,\"config\":{{}}}}\nget /config/topics/{t}\nquit\n"
    done = subprocess.run([ZKCLI, "-waitforconnection", "-timeout", "30000", "-server", broker.keeper], input=script,
                          capture_output=True, text=True, timeout=120, env=env)
    out = done.stdout + done.stderr
    assert "sasl: kafka" in out, out
    assert "Insufficient permission" not in out, out


def test_describe_configs_never_shows_the_keeper_secrets(broker):
    """The keeper login and the SASL users are secrets: DescribeConfigs marks them sensitive and
    leaves their values out, as Kafka does for its PASSWORD configs (synonyms too)."""
    from confluent_kafka.admin import ConfigResource
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = admin.describe_configs([resource])[resource].result(30)
    for key in ("keeper.connect.auth", "keeper.sasl.jaas.config"):
        entry = configs[key]
        assert entry.is_sensitive and entry.value is None, (key, entry.value)
        assert all(s.value is None for s in entry.synonyms.values()), key
    text = repr({k: v.value for k, v in configs.items()})
    assert "kafka-secret" not in text and "ops-secret" not in text
    assert configs["zookeeper.set.acl"].value == "true" and not configs["zookeeper.set.acl"].is_sensitive

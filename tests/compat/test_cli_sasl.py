"""The `sluice` CLI on a SASL_PLAINTEXT listener: credentials as kcat takes them (`-X`) and as
Kafka's tools take them (`--command-config` with a Java client's `sasl.jaas.config`), SCRAM users
managed with `sluice user scram add|list|remove`, and refusals that exit non-zero naming the
problem."""

import json
import subprocess

from conftest import SLUICE_CLI
from test_sasl import broker, start_broker  # noqa: F401  (the fixtures)

# A generous bound on one CLI command.
CLI_TIMEOUT_S = 60


def sluice(bootstrap, *args, properties=(), config=None):
    cmd = [SLUICE_CLI, "-b", bootstrap]
    for p in properties:
        cmd += ["-X", p]
    if config:
        cmd += ["--command-config", str(config)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def sasl(mechanism, user, password):
    return ["security.protocol=SASL_PLAINTEXT", f"sasl.mechanism={mechanism}", f"sasl.username={user}",
            f"sasl.password={password}"]


ADMIN = sasl("PLAIN", "admin", "admin-secret")


def test_the_cli_manages_scram_users_and_works_as_one(broker, tmp_path):
    done = sluice(broker.sasl, "user", "scram", "add", "zoe", "--password", "zoe-pw", "--mechanism", "SCRAM-SHA-512",
                  "--iterations", "8192", properties=ADMIN)
    assert done.returncode == 0, done.stderr
    listed = sluice(broker.sasl, "user", "scram", "list", "--json", properties=ADMIN)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"zoe": [{"mechanism": "SCRAM-SHA-512", "iterations": 8192}]}

    # Kafka's tools' way: a properties file with a JAAS entry.
    props = tmp_path / "zoe.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
                     'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
                     'username="zoe" password="zoe-pw";\n')
    created = sluice(broker.sasl, "topic", "create", "cli-sasl", "-p", "1", "-r", "1", config=props)
    assert created.returncode == 0, created.stderr
    produced = subprocess.run([SLUICE_CLI, "-b", broker.sasl, "--command-config", str(props), "produce", "-t", "cli-sasl"],
                              input="one\ntwo\n", capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert produced.returncode == 0, produced.stderr
    consumed = sluice(broker.sasl, "consume", "-t", "cli-sasl", "-o", "beginning", "-e", config=props)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.split() == ["one", "two"]

    wrong = sluice(broker.sasl, "topic", "list", properties=sasl("SCRAM-SHA-512", "zoe", "not-zoe-pw"))
    assert wrong.returncode != 0 and "authentication" in wrong.stderr and "invalid credentials" in wrong.stderr, wrong.stderr
    disabled = sluice(broker.sasl, "topic", "list", properties=sasl("SCRAM-SHA-256", "zoe", "zoe-pw"))
    assert disabled.returncode != 0, disabled.stdout
    assert "authentication" in disabled.stderr and "invalid credentials" in disabled.stderr, disabled.stderr

    removed = sluice(broker.sasl, "user", "scram", "remove", "zoe", "--mechanism", "SCRAM-SHA-512", properties=ADMIN)
    assert removed.returncode == 0, removed.stderr
    gone = sluice(broker.sasl, "topic", "list", config=props)
    assert gone.returncode != 0 and "authentication" in gone.stderr, gone.stderr
    listed = sluice(broker.sasl, "user", "scram", "list", "zoe", properties=ADMIN)
    assert listed.returncode != 0 and "RESOURCE_NOT_FOUND" in listed.stderr, listed.stderr


def test_unusable_client_properties_exit_non_zero_naming_the_key(broker, tmp_path):
    for properties, key in [
        (["security.protocol=CARRIER_PIGEON"], "security.protocol"),
        (["security.protocol=SSL", "ssl.ca.location=/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
        (["security.protocol=SSL", "ssl.truststore.type=JKS"], "ssl.truststore.type"),
        (["security.protocol=SSL", "ssl.endpoint.identification.algorithm=sometimes"],
         "ssl.endpoint.identification.algorithm"),
        (["security.protocol=SASL_PLAINTEXT"], "sasl.mechanism"),
        (["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=GSSAPI", "sasl.username=a", "sasl.password=b"],
         "sasl.mechanism"),
        (["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN", "sasl.password=b"], "sasl.username"),
        (["no-equals-sign"], "-X property"),
    ]:
        done = sluice(broker.sasl, "topic", "list", properties=properties)
        assert done.returncode != 0 and key in done.stderr, (properties, done.stderr)
    missing = sluice(broker.sasl, "topic", "list", config=tmp_path / "absent.properties")
    assert missing.returncode != 0 and "--command-config" in missing.stderr, missing.stderr
    # The PLAINTEXT listener still serves the CLI without credentials; an unknown property is
    # named on stderr and ignored.
    plain = sluice(broker.bootstrap, "topic", "list", properties=["linger.ms=5"])
    assert plain.returncode == 0, plain.stderr
    assert "ignoring unknown client property linger.ms" in plain.stderr

"""kcat (Debian's, librdkafka inside) over a SASL_PLAINTEXT listener: lines produced with -P and
consumed back with -C byte for byte, with PLAIN (a JAAS user) and SCRAM-SHA-256/512 (users made
with the AdminClient's AlterUserScramCredentials over the PLAINTEXT listener); and a wrong
password, with which kcat fails in bounded time, reports the authentication error, writes
nothing and reads nothing.

Debian's kcat links librdkafka 2.0.2, which (like every librdkafka before 2.6.1, see
confluentinc/librdkafka#4895) sends SCRAM's client-final with `r=` set to its own nonce followed by
the whole nonce of server-first, i.e. its nonce twice. Kafka 3.8.1 and 3.9 check that nonce with
`endsWith(server-first nonce)` (the CVE-2024-56128 fix, loose on purpose for these clients), so
kcat logs in with SCRAM there; only Kafka 4 compares it exactly and refuses those clients.

The brokers are test_sasl's: PLAINTEXT (`broker.bootstrap`, used to create topics, users and to
check what was written) and SASL_PLAINTEXT (`broker.sasl`)."""

import shutil
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

from test_sasl import USERS, broker, create_topic, end_offsets, start_broker  # noqa: F401  (fixtures)

LINES = 1000
KCAT_TIMEOUT_S = 90
# What a wrong password may take at most: librdkafka gives up on the message after 3 s
# (message.timeout.ms) or on its metadata after 3 s (-m 3); this is the bound around that.
FAILURE_TIMEOUT_S = 30
# What Kafka answers in SaslAuthenticate's error_message: PlainSaslServer's own message; for SCRAM,
# SaslServerAuthenticator's generic one, whatever the SaslException said (a wrong proof, a nonce).
FAILURE_MESSAGE = {
    "PLAIN": "Authentication failed: Invalid username or password",
    "SCRAM-SHA-256": "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                     "SCRAM-SHA-256",
    "SCRAM-SHA-512": "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                     "SCRAM-SHA-512",
}
SCRAM = {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256, "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")


def add_scram_user(broker, mechanism, user, password):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(SCRAM[mechanism], 4096), password.encode())
    assert admin.alter_user_scram_credentials([upsert])[user].result(timeout=30) is None


def credentials(broker, mechanism):
    """A user that logs in with `mechanism`, made first if it is a SCRAM one: (user, password)."""
    if mechanism == "PLAIN":
        return "alice", USERS["alice"]
    add_scram_user(broker, mechanism, "carol", "carol-secret")
    return "carol", "carol-secret"


def sasl_args(broker, mechanism, user, password):
    return ["-b", broker.sasl, "-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanism={mechanism}",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]


def kcat(args, stdin=None, timeout=KCAT_TIMEOUT_S):
    return subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=timeout)


def lines(count):
    # Keys and values of varying length, some values with spaces and punctuation.
    return "".join(f"key-{i % 17}:value {i} {'x' * (i % 29)} ,;=\n" for i in range(count)).encode()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kcat_produces_and_consumes_over_sasl(broker, mechanism):
    topic = f"kcat-{mechanism.lower()}"
    create_topic(broker, topic)
    auth = sasl_args(broker, mechanism, *credentials(broker, mechanism))
    sent = lines(LINES)

    produced = kcat([*auth, "-P", "-t", topic, "-K", ":", "-X", "acks=all"], stdin=sent)
    assert produced.returncode == 0, produced.stderr.decode(errors="replace")
    assert end_offsets(broker, topic, 1) == [LINES], "every line is a message, read over PLAINTEXT"

    consumed = kcat([*auth, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k:%s\n"])
    assert consumed.returncode == 0, consumed.stderr.decode(errors="replace")
    assert consumed.stdout == sent, "the same lines, in order"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kcat_with_a_wrong_password_fails_writes_nothing_and_reads_nothing(broker, mechanism):
    topic = f"kcat-denied-{mechanism.lower()}"
    create_topic(broker, topic)
    user, password = credentials(broker, mechanism)
    wrong = sasl_args(broker, mechanism, user, "not-" + password)

    produced = kcat([*wrong, "-P", "-t", topic, "-X", "message.timeout.ms=3000"], stdin=b"must-not-arrive\n",
                    timeout=FAILURE_TIMEOUT_S)
    err = produced.stderr.decode(errors="replace")
    assert produced.returncode != 0, err
    assert f"SASL authentication error: {FAILURE_MESSAGE[mechanism]}" in err, err
    assert end_offsets(broker, topic, 1) == [0], "nothing was written"

    # A message the right user wrote is not read with the wrong password.
    right = sasl_args(broker, mechanism, user, password)
    assert kcat([*right, "-P", "-t", topic], stdin=b"secret\n").returncode == 0
    assert end_offsets(broker, topic, 1) == [1]
    consumed = kcat([*wrong, "-C", "-t", topic, "-o", "beginning", "-e", "-m", "3"], timeout=FAILURE_TIMEOUT_S)
    err = consumed.stderr.decode(errors="replace")
    assert consumed.returncode != 0, err
    assert "SASL authentication error" in err, err
    assert consumed.stdout == b""

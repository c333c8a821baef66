"""The newest client releases over a SASL_PLAINTEXT listener: aiokafka with PLAIN, SCRAM-SHA-256
and SCRAM-SHA-512, kafka-python 3 with PLAIN and SCRAM-SHA-512, and confluent-kafka 2.16 with
SCRAM-SHA-256, each producing and consuming in a group through it; and aiokafka with a wrong
password, refused with SaslAuthenticationFailed in bounded time and writing nothing.

The broker has two listeners, as in tests/compat/test_sasl.py (which this venv cannot import):
PLAINTEXT first (topics, SCRAM users made with AlterUserScramCredentials, end offsets) and
SASL_PLAINTEXT second, configured as Kafka is: the enabled mechanisms and a JAAS entry per
mechanism, PLAIN's with its users."""

import asyncio
import logging
import signal
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, NewTopic, OffsetSpec, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from conftest import Broker

CLIENT_WAIT_S = 60
RECORDS = 200

USERS = {"admin": "admin-secret", "alice": "alice-secret"}
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" ' + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
SASL_SETTINGS = [
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    f"listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}",
    f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={SCRAM_JAAS}",
    f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={SCRAM_JAAS}",
]
SCRAM = {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256, "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}


# --- the broker ---------------------------------------------------------------------------------

def sasl_broker(workdir):
    """The suite's broker (tests/compat/conftest.py) with its SASL_PLAINTEXT listener."""
    return Broker(workdir, SASL_SETTINGS, sasl_listener=True)


@pytest.fixture
def broker(tmp_path, request):
    # A broker per test: it starts in well under a second, and no test sees another's users.
    b = sasl_broker(tmp_path)
    try:
        b.start()
        yield b
    finally:
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        b.stop(signal.SIGKILL if failed else signal.SIGTERM)
        if failed:
            print(f"\n--- sluiced log ---\n{b.log()}")


# --- over the PLAINTEXT listener ------------------------------------------------------------------

def create_topic(broker, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def end_offsets(broker, topic, partitions):
    """The partitions' end offsets, by ListOffsets (no group, so no coordinator is looked up)."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    answers = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)})
    return [answers[TopicPartition(topic, p)].result(timeout=30).offset for p in range(partitions)]


def login(broker, mechanism):
    """(user, password) that logs in with `mechanism`; a SCRAM user is made first through the
    AdminClient's AlterUserScramCredentials."""
    if mechanism == "PLAIN":
        return "alice", USERS["alice"]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    upsert = UserScramCredentialUpsertion("carol", ScramCredentialInfo(SCRAM[mechanism], 4096), b"carol-secret")
    assert admin.alter_user_scram_credentials([upsert])["carol"].result(timeout=30) is None
    return "carol", "carol-secret"


def record(i):
    return f"k{i % 7}".encode(), f"v{i}".encode()


def check_read_back(broker, topic, partitions, acked, got):
    assert len(acked) == RECORDS
    assert sorted(got) == sorted(acked), "every acknowledged record read back, at its offset"
    assert end_offsets(broker, topic, partitions) == [sum(1 for p, *_ in acked if p == i) for i in range(partitions)]


# --- aiokafka -------------------------------------------------------------------------------------

def aiokafka_auth(broker, mechanism, user, password):
    return {"bootstrap_servers": broker.sasl, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
            "sasl_plain_username": user, "sasl_plain_password": password}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_aiokafka_produces_and_consumes_in_a_group_over_sasl(broker, mechanism):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    topic = f"aio-{mechanism.lower()}"
    create_topic(broker, topic, 2)
    auth = aiokafka_auth(broker, mechanism, *login(broker, mechanism))

    async def run():
        acked, got = [], []
        producer = AIOKafkaProducer(acks="all", **auth)
        async with asyncio.timeout(CLIENT_WAIT_S):
            await producer.start()
            try:
                for i in range(RECORDS):
                    key, value = record(i)
                    meta = await producer.send_and_wait(topic, key=key, value=value)
                    acked.append((meta.partition, meta.offset, key, value))
            finally:
                await producer.stop()
        consumer = AIOKafkaConsumer(topic, group_id=f"aio-{mechanism}", auto_offset_reset="earliest",
                                    enable_auto_commit=False, **auth)
        async with asyncio.timeout(CLIENT_WAIT_S * 2):
            await consumer.start()
            try:
                while len(got) < RECORDS:
                    batch = await consumer.getmany(timeout_ms=1000)
                    got += [(m.partition, m.offset, m.key, m.value) for msgs in batch.values() for m in msgs]
                await consumer.commit()
            finally:
                await consumer.stop()
        return acked, got

    acked, got = asyncio.run(run())
    check_read_back(broker, topic, 2, acked, got)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_aiokafka_with_a_wrong_password_fails_authentication_and_writes_nothing(broker, mechanism, caplog):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
    topic = f"aio-denied-{mechanism.lower()}"
    create_topic(broker, topic, 1)
    user, password = login(broker, mechanism)

    async def run():
        wrong = aiokafka_auth(broker, mechanism, user, "not-" + password)
        producer = AIOKafkaProducer(request_timeout_ms=5000, **wrong)
        try:
            async with asyncio.timeout(30):
                await producer.start()
                await producer.send_and_wait(topic, b"must-not-arrive")
        finally:
            await producer.stop()

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        # aiokafka reports the SaslAuthenticate error (58) per host in its log and then gives up
        # bootstrapping with a connection error.
        with pytest.raises(KafkaConnectionError):
            asyncio.run(run())
    assert time.monotonic() - started < 30
    refusals = [r for r in caplog.records
                if any(isinstance(a, SaslAuthenticationFailed) for a in (r.args or ()))]
    assert refusals, [r.getMessage() for r in caplog.records]
    # Kafka's answers: PlainSaslServer's own message, SaslServerAuthenticator's generic one for SCRAM.
    expected = ("Authentication failed: Invalid username or password" if mechanism == "PLAIN" else
                "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                + mechanism)
    assert expected in refusals[0].getMessage(), refusals[0].getMessage()
    assert end_offsets(broker, topic, 1) == [0], "nothing was written"


# --- kafka-python 3 -------------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_kafka_python_produces_and_consumes_in_a_group_over_sasl(broker, mechanism):
    from kafka import KafkaConsumer, KafkaProducer
    topic = f"kp-{mechanism.lower()}"
    create_topic(broker, topic, 2)
    user, password = login(broker, mechanism)
    auth = {"bootstrap_servers": broker.sasl, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
            "sasl_plain_username": user, "sasl_plain_password": password, "request_timeout_ms": 30000}

    producer = KafkaProducer(acks="all", linger_ms=5, **auth)
    try:
        futures = [(producer.send(topic, key=record(i)[0], value=record(i)[1]), *record(i)) for i in range(RECORDS)]
        producer.flush(timeout=CLIENT_WAIT_S)
        acked = []
        for future, key, value in futures:
            meta = future.get(timeout=CLIENT_WAIT_S)
            acked.append((meta.partition, meta.offset, key, value))
    finally:
        producer.close(timeout=30)

    consumer = KafkaConsumer(topic, group_id=f"kp-{mechanism}", auto_offset_reset="earliest",
                             enable_auto_commit=False, **auth)
    got = []
    try:
        deadline = time.monotonic() + CLIENT_WAIT_S * 2
        while len(got) < RECORDS and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got += [(r.partition, r.offset, r.key, r.value) for r in records]
        consumer.commit()
    finally:
        consumer.close()
    check_read_back(broker, topic, 2, acked, got)


# --- confluent-kafka (librdkafka) ---------------------------------------------------------------

def test_confluent_kafka_produces_and_consumes_in_a_group_over_scram_sha_256(broker):
    topic = "ck-scram-sha-256"
    create_topic(broker, topic, 2)
    user, password = login(broker, "SCRAM-SHA-256")
    conf = {"bootstrap.servers": broker.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": user, "sasl.password": password}
    acked, errors = [], []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            acked.append((msg.partition(), msg.offset(), msg.key(), msg.value()))

    producer = Producer({**conf, "acks": "all", "linger.ms": 5})
    for i in range(RECORDS):
        key, value = record(i)
        producer.produce(topic, key=key, value=value, on_delivery=report)
        producer.poll(0)
    assert producer.flush(CLIENT_WAIT_S) == 0, "every message delivered within the bound"
    assert not errors, errors[:3]

    consumer = Consumer({**conf, "group.id": "ck-scram", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    got = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + CLIENT_WAIT_S * 2
        while len(got) < RECORDS and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    check_read_back(broker, topic, 2, acked, got)

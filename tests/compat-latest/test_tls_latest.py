"""The newest client releases over TLS listeners: aiokafka (an `ssl_context` from
aiokafka.helpers.create_ssl_context), kafka-python 3 and confluent-kafka 2.16 (librdkafka, which
checks the broker's host name by default, as does Python's ssl) each produce and consume in a
group over SSL, presenting a client certificate where the listener requires one
(`ssl.client.auth=required`), and over SASL_SSL with SCRAM-SHA-512; and aiokafka trusting
another CA, which fails to connect in bounded time and writes nothing.

The broker is configured as Kafka is (see tests/compat/test_tls.py, which this venv cannot
import): PEM keystore and truststore files made by scripts/make-certs, the SASL_SSL listener's
mechanism and JAAS entry under `listener.name.sasl_ssl.`, and a PLAINTEXT listener where
topics and the SCRAM user (AlterUserScramCredentials) are made and end offsets are read. One
broker serves the module: the tests use topics and groups of their own."""

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, NewTopic, OffsetSpec, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from conftest import Broker

ROOT = Path(__file__).resolve().parents[2]
CLIENT_WAIT_S = 60
RECORDS = 200
USER, PASSWORD = "carol", "carol-secret"
SASL_SSL_SETTINGS = [
    "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
]


# --- certificates and the broker ------------------------------------------------------------------

def make_certs(directory, *clients):
    args = [str(ROOT / "scripts" / "make-certs"), str(directory)]
    for c in clients:
        args += ["--client", c]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """The suite's CA (ca.pem), the broker's certificate and client alice's."""
    return make_certs(tmp_path_factory.mktemp("certs"), "alice")


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("other-certs"))


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory, certs):
    b = Broker(tmp_path_factory.mktemp("tls-latest"),
               [f"ssl.keystore.location={certs / 'broker.pem'}", f"ssl.truststore.location={certs / 'ca.pem'}",
                "listener.name.ssl.ssl.client.auth=required"] + SASL_SSL_SETTINGS,
               tls_listeners=("SSL", "SASL_SSL"))
    b.start()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    upsert = UserScramCredentialUpsertion(USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                          PASSWORD.encode())
    assert admin.alter_user_scram_credentials([upsert])[USER].result(timeout=30) is None
    yield b
    b.stop()


@pytest.fixture
def broker(module_broker, request):
    """The module's broker; its log printed when the test failed."""
    yield module_broker
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print(f"\n--- sluiced log ---\n{module_broker.log()}")


# --- over the PLAINTEXT listener ------------------------------------------------------------------

def create_topic(broker, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def end_offsets(broker, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    answers = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)})
    return [answers[TopicPartition(topic, p)].result(timeout=30).offset for p in range(partitions)]


def record(i):
    return f"k{i % 7}".encode(), f"v{i}".encode()


def check_read_back(broker, topic, partitions, acked, got):
    assert len(acked) == RECORDS
    assert sorted(got) == sorted(acked), "every acknowledged record read back, at its offset"
    assert end_offsets(broker, topic, partitions) == [sum(1 for p, *_ in acked if p == i) for i in range(partitions)]


PROTOCOLS = ["SSL", "SASL_SSL"]


# --- aiokafka -------------------------------------------------------------------------------------

def aiokafka_settings(broker, certs, protocol, cafile=None):
    from aiokafka.helpers import create_ssl_context
    cafile = cafile or certs / "ca.pem"
    if protocol == "SSL":
        ctx = create_ssl_context(cafile=str(cafile), certfile=str(certs / "client-alice-cert.pem"),
                                 keyfile=str(certs / "client-alice-key.pem"))
        return {"bootstrap_servers": broker.tls["SSL"], "security_protocol": "SSL", "ssl_context": ctx}
    return {"bootstrap_servers": broker.tls["SASL_SSL"], "security_protocol": "SASL_SSL",
            "ssl_context": create_ssl_context(cafile=str(cafile)), "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": USER, "sasl_plain_password": PASSWORD}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_aiokafka_produces_and_consumes_in_a_group(broker, certs, protocol):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    topic = f"aio-{protocol.lower()}"
    create_topic(broker, topic, 2)
    settings = aiokafka_settings(broker, certs, protocol)

    async def run():
        acked, got = [], []
        producer = AIOKafkaProducer(acks="all", **settings)
        async with asyncio.timeout(CLIENT_WAIT_S):
            await producer.start()
            try:
                for i in range(RECORDS):
                    key, value = record(i)
                    meta = await producer.send_and_wait(topic, key=key, value=value)
                    acked.append((meta.partition, meta.offset, key, value))
            finally:
                await producer.stop()
        consumer = AIOKafkaConsumer(topic, group_id=f"{topic}-group", auto_offset_reset="earliest",
                                    enable_auto_commit=False, **settings)
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


def test_aiokafka_trusting_another_ca_fails_to_connect_and_writes_nothing(broker, certs, other_certs):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError
    topic = "aio-untrusted"
    create_topic(broker, topic, 1)

    async def run():
        producer = AIOKafkaProducer(request_timeout_ms=5000,
                                    **aiokafka_settings(broker, certs, "SSL", cafile=other_certs / "ca.pem"))
        try:
            async with asyncio.timeout(30):
                await producer.start()
                await producer.send_and_wait(topic, b"must-not-arrive")
        finally:
            await producer.stop()

    started = time.monotonic()
    with pytest.raises(KafkaConnectionError):
        asyncio.run(run())
    assert time.monotonic() - started < 30
    assert end_offsets(broker, topic, 1) == [0], "nothing was written"


# --- kafka-python 3 -------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_kafka_python_produces_and_consumes_in_a_group(broker, certs, protocol):
    from kafka import KafkaConsumer, KafkaProducer
    topic = f"kp-{protocol.lower()}"
    create_topic(broker, topic, 2)
    # ssl_check_hostname stays on (its default): the broker's certificate names 127.0.0.1.
    settings = {"bootstrap_servers": broker.tls[protocol], "security_protocol": protocol,
                "ssl_cafile": str(certs / "ca.pem"), "request_timeout_ms": 30000}
    if protocol == "SSL":
        settings.update(ssl_certfile=str(certs / "client-alice-cert.pem"),
                        ssl_keyfile=str(certs / "client-alice-key.pem"))
    else:
        settings.update(sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=USER, sasl_plain_password=PASSWORD)

    producer = KafkaProducer(acks="all", linger_ms=5, **settings)
    try:
        futures = [(producer.send(topic, key=record(i)[0], value=record(i)[1]), *record(i)) for i in range(RECORDS)]
        producer.flush(timeout=CLIENT_WAIT_S)
        acked = []
        for future, key, value in futures:
            meta = future.get(timeout=CLIENT_WAIT_S)
            acked.append((meta.partition, meta.offset, key, value))
    finally:
        producer.close(timeout=30)

    consumer = KafkaConsumer(topic, group_id=f"{topic}-group", auto_offset_reset="earliest",
                             enable_auto_commit=False, **settings)
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

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_confluent_kafka_produces_and_consumes_in_a_group(broker, certs, protocol):
    topic = f"ck-{protocol.lower()}"
    create_topic(broker, topic, 2)
    conf = {"bootstrap.servers": broker.tls[protocol], "security.protocol": protocol,
            "ssl.ca.location": str(certs / "ca.pem")}
    if protocol == "SSL":
        conf.update({"ssl.certificate.location": str(certs / "client-alice-cert.pem"),
                     "ssl.key.location": str(certs / "client-alice-key.pem")})
    else:
        conf.update({"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": USER, "sasl.password": PASSWORD})
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
    assert producer.flush(CLIENT_WAIT_S) == 0, "every record delivered within the bound"
    assert not errors, errors[:3]

    consumer = Consumer({**conf, "group.id": f"{topic}-group", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
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

"""DescribeProducers (KIP-664, `kafka-transactions.sh describe-producers`), through `sluice
transaction producers`: the producers with state in a partition, as its leader holds them,
after real confluent-kafka idempotent and transactional producers wrote to it. An open
transaction shows where it started (what holds the partition's last stable offset back), and
no longer once committed."""

import json
import subprocess

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import SLUICE_CLI


def producers(broker, *args):
    done = subprocess.run([SLUICE_CLI, "-b", broker.bootstrap, "transaction", "producers", *args],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_idempotent_and_transactional_producers_and_an_open_transaction(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: a dropped client aborts its calls
    admin.create_topics([NewTopic("described", num_partitions=2, replication_factor=1)])["described"].result(30)

    idempotent = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 0})
    for n in range(7):
        idempotent.produce("described", value=b"i%d" % n, partition=0)
        idempotent.flush(30)  # one batch each: the last sequence is 6
    code, out, err = producers(broker, "-t", "described", "-p", "0", "--json")
    assert code == 0, err
    (only,) = json.loads(out)
    assert only["partition"] == 0 and only["producer_id"] >= 0 and only["producer_epoch"] == 0, only
    assert only["last_sequence"] == 6 and only["last_timestamp"] > 0, only
    assert only["current_transaction_start_offset"] == -1 and only["coordinator_epoch"] == -1, only

    txn = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "describer"})
    txn.init_transactions(30)
    txn.begin_transaction()
    txn.produce("described", value=b"t0", partition=0)
    txn.produce("described", value=b"t1", partition=0)
    assert txn.flush(30) == 0
    code, out, err = producers(broker, "-t", "described", "--json")
    assert code == 0, err
    rows = json.loads(out)
    (open_txn,) = [r for r in rows if r["producer_id"] != only["producer_id"]]
    assert open_txn["partition"] == 0
    assert open_txn["current_transaction_start_offset"] == 7, "it began right after the 7 idempotent records"
    assert open_txn["last_sequence"] == 1, open_txn
    assert [r["partition"] for r in rows] == [0, 0], "nothing was written to partition 1"

    txn.commit_transaction(30)
    code, out, err = producers(broker, "-t", "described", "-p", "0", "--json")
    assert code == 0, err
    (done,) = [r for r in json.loads(out) if r["producer_id"] == open_txn["producer_id"]]
    assert done["current_transaction_start_offset"] == -1, "committed: no transaction open"
    assert done["coordinator_epoch"] >= 0, "its commit marker's coordinator epoch"

    # The table too, and a partition the topic does not have.
    code, out, err = producers(broker, "-t", "described")
    assert code == 0 and "TXN-START-OFFSET" in out and str(only["producer_id"]) in out, (out, err)
    code, out, err = producers(broker, "-t", "described", "-p", "9")
    assert code != 0 and "no partition 9" in err, (out, err)

"""Scaling out the compose cluster the documented way: docker/compose.broker4.yml starts a
fourth broker, and `sluice topic reassign` (run with the image's own CLI, inside the network)
moves a topic's replicas onto it while the data stays readable."""

from confluent_kafka import Producer

from waiting import wait_until
from test_failover import read_values


def test_a_fourth_broker_joins_and_takes_replicas_by_reassignment(cluster):
    cluster.create_topic("moving", 2)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for n in range(200):
        producer.produce("moving", value=str(n).encode(), partition=n % 2)
    assert producer.flush(30) == 0

    cluster.compose("up", "-d", "broker4")
    cluster.wait_healthy(["broker4"])
    wait_until(lambda: cluster.brokers_seen_from(cluster.bootstrap) == [1, 2, 3, 4], timeout_s=60,
               interval_s=0.5, what="broker 4 registered")

    cluster.exec("broker4", "topic", "reassign", "moving", "--all", "4,2,3", "--wait", "--timeout", "120")
    wait_until(lambda: [(p.replicas, sorted(p.isrs)) for p in cluster.partitions("moving").values()]
               == [([4, 2, 3], [2, 3, 4])] * 2,
               timeout_s=120, interval_s=0.5, what="every replica of 'moving' on brokers 4, 2, 3")
    # The moved data is all there, read by a client that knows only the new broker.
    assert sorted(int(v) for v in read_values(cluster.address(4), "moving", 2)) == list(range(200))

//! A zombie leader, with real `sluiced` processes from sluice-testkit and the Sluice client:
//! the leader of a partition is frozen with SIGSTOP until its keeper session expires; the
//! cluster elects another leader and acks=all writes carry on through it; resumed with SIGCONT,
//! the old leader finds itself deposed, becomes a follower, and its replica ends byte-identical
//! to the new leader's, holding every acknowledged record.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_client::{
    Client, ClientConfig, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, StartOffset,
};
use sluice_testkit::{Cluster, ClusterBuilder};

const BOUND: Duration = Duration::from_secs(60);
const TOPIC: &str = "zombie";

async fn produce(client: &Client, range: std::ops::Range<u32>) -> anyhow::Result<()> {
    let producer = Producer::new(client.clone(), ProducerConfig { acks: -1, ..ProducerConfig::default() });
    let mut deliveries = Vec::new();
    for i in range {
        let record = ProducerRecord {
            topic: TOPIC.into(),
            partition: Some(0),
            key: None,
            value: Some(Bytes::from(i.to_string())),
            headers: Vec::new(),
            timestamp: None,
        };
        deliveries.push(producer.send(record).await?);
    }
    producer.flush().await?;
    for d in deliveries {
        d.await??;
    }
    Ok(())
}

/// (leader, leader epoch, ISR) of partition 0 as `address` sees it.
async fn partition_state(address: &str) -> anyhow::Result<(i32, i32, Vec<i32>)> {
    let client = Client::connect(ClientConfig::new(address)).await?;
    let t = client.topic(TOPIC).await?;
    let p = t.partitions.iter().find(|p| p.partition == 0).ok_or_else(|| anyhow::anyhow!("no partition 0"))?;
    Ok((p.leader, p.leader_epoch, p.isr.clone()))
}

async fn wait_for(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out after {BOUND:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn replica_bytes(cluster: &Cluster, broker: i32) -> Vec<u8> {
    let dir = cluster.brokers[&broker].dir.join("data").join(format!("{TOPIC}-0"));
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .expect("the replica's directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.iter().flat_map(|p| std::fs::read(p).expect("a segment")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_deposed_and_rejoins_as_a_follower_with_an_identical_log() {
    let mut cluster = ClusterBuilder::new(env!("CARGO_BIN_EXE_sluiced"))
        .brokers(3)
        .broker_config("zookeeper.session.timeout.ms", 4000)
        .broker_config("replica.lag.time.max.ms", 3000)
        .start()
        .await
        .expect("cluster");
    let client = cluster.client().await.expect("client");
    client.create_topic(TOPIC, 1, 3, &[("min.insync.replicas".into(), "2".into())]).await.expect("create");
    let bootstrap = cluster.bootstrap();
    wait_for("a leader and a full ISR", async || {
        partition_state(&bootstrap).await.is_ok_and(|(l, _, isr)| l >= 0 && isr.len() == 3)
    })
    .await;
    produce(&client, 0..200).await.expect("acks=all before the pause");

    let (zombie, epoch, _) = partition_state(&bootstrap).await.expect("state");
    cluster.broker(zombie).pause().expect("SIGSTOP");
    let paused_at = Instant::now();
    let other = cluster.brokers[&cluster.brokers.keys().copied().find(|&b| b != zombie).expect("another broker")]
        .address
        .clone()
        .expect("address");
    wait_for("another leader", async || {
        partition_state(&other).await.is_ok_and(|(l, e, _)| l != zombie && l >= 0 && e > epoch)
    })
    .await;
    eprintln!("leader {zombie} paused; another leader after {:?}", paused_at.elapsed());
    // Writes carry on through the new leader while the old one is frozen.
    let survivors = Client::connect(ClientConfig::new(&other)).await.expect("client");
    produce(&survivors, 200..400).await.expect("acks=all with the leader frozen");

    cluster.broker(zombie).resume().expect("SIGCONT");
    let zombie_address = cluster.brokers[&zombie].address.clone().expect("address");
    wait_for("the old leader to follow and rejoin the ISR", async || {
        partition_state(&zombie_address).await.is_ok_and(|(l, _, isr)| l != zombie && isr.contains(&zombie))
    })
    .await;
    // Writes through the old leader's address reach the new leader.
    let via_zombie = Client::connect(ClientConfig::new(&zombie_address)).await.expect("client");
    produce(&via_zombie, 400..600).await.expect("acks=all after the resume");

    let mut consumer = Consumer::new(cluster.client().await.expect("client"), ConsumerConfig::default());
    consumer.assign(TOPIC, &[0], StartOffset::Beginning).await.expect("assign");
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + BOUND;
    while seen.len() < 600 && Instant::now() < deadline {
        for r in consumer.poll(1000).await.expect("poll") {
            let v = r.value.expect("a value");
            seen.insert(std::str::from_utf8(&v).expect("utf-8").parse::<u32>().expect("a number"));
        }
    }
    let missing: Vec<u32> = (0..600).filter(|i| !seen.contains(i)).collect();
    assert!(missing.is_empty(), "acknowledged records lost: {missing:?}");

    let (leader, _, _) = partition_state(&bootstrap).await.expect("state");
    wait_for("the old leader's replica identical to the new leader's", async || {
        replica_bytes(&cluster, zombie) == replica_bytes(&cluster, leader)
    })
    .await;
}

/// DeleteRecords moves a log start offset only on the partition's leader: a follower answers
/// NOT_LEADER_OR_FOLLOWER and keeps its log whole; the leader moves it (up to the high watermark).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_is_for_the_leader_only() {
    use sluice_protocol::api::{Request, Response};
    use sluice_protocol::messages::{DeleteRecordsRequest, DeleteRecordsRequestPartition, DeleteRecordsRequestTopic};

    let cluster = ClusterBuilder::new(env!("CARGO_BIN_EXE_sluiced")).brokers(3).start().await.expect("cluster");
    let client = cluster.client().await.expect("client");
    client.create_topic(TOPIC, 1, 3, &[]).await.expect("create");
    let bootstrap = cluster.bootstrap();
    wait_for("a leader and a full ISR", async || {
        partition_state(&bootstrap).await.is_ok_and(|(l, _, isr)| l >= 0 && isr.len() == 3)
    })
    .await;
    produce(&client, 0..10).await.expect("acks=all");
    let (leader, _, _) = partition_state(&bootstrap).await.expect("state");
    let follower = *cluster.brokers.keys().find(|&&b| b != leader).expect("a follower");
    let delete = async |broker: i32, offset: i64| {
        let request = DeleteRecordsRequest {
            topics: vec![DeleteRecordsRequestTopic {
                name: TOPIC.into(),
                partitions: vec![DeleteRecordsRequestPartition { partition_index: 0, offset }],
            }],
            timeout_ms: 10_000,
        };
        let address = cluster.brokers[&broker].address.clone().expect("address");
        let conn = client.connection(&address).await.expect("connect");
        let Response::DeleteRecords(r) = client.send_to(&conn, Request::DeleteRecords(request)).await.expect("answer")
        else {
            panic!("DeleteRecords answered with another response")
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    let before = replica_bytes(&cluster, follower);
    assert_eq!(delete(follower, 5).await, (6, -1), "NOT_LEADER_OR_FOLLOWER from a follower");
    assert_eq!(replica_bytes(&cluster, follower), before, "the follower's log is untouched");
    assert_eq!(delete(leader, 5).await, (0, 5), "the leader moves its log start offset");
    assert_eq!(delete(leader, 11).await.0, 1, "past the high watermark: OFFSET_OUT_OF_RANGE");
}

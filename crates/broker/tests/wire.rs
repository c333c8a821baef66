//! The broker on the wire: a real `sluiced` process driven with hand-made requests. Malformed
//! frames (truncated, oversized, unknown API, absurd counts, bad CRC) get the right error or a
//! closed connection while other clients keep being served; acks=0 gets no answer; fetch long
//! polling wakes on an append; a restart (SIGTERM or kill -9) keeps every acknowledged record.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice_protocol::RecordBatchBuilder;
use sluice_protocol::api::{ApiKey, Request, RequestHeader, Response, encode_request};
use sluice_protocol::messages::*;

/// A `sluiced` process on a loopback port with its own data directory.
struct Sluiced {
    child: Option<Child>,
    dir: tempfile::TempDir,
    address: String,
    extra: Vec<String>,
}

impl Sluiced {
    fn start(extra: &[&str]) -> Sluiced {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s =
            Sluiced { child: None, dir, address: String::new(), extra: extra.iter().map(|s| s.to_string()).collect() };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let ready = self.dir.path().join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::File::create(self.dir.path().join("sluiced.log")).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluiced"));
        cmd.arg("-o").arg("listeners=PLAINTEXT://127.0.0.1:0").arg("-o").arg("metrics.listener=127.0.0.1:0");
        cmd.arg("-o").arg("keeper.client.address=127.0.0.1").arg("-o").arg("keeper.client.port=0");
        cmd.arg("-o").arg(format!("log.dirs={}", self.dir.path().join("data").display()));
        for e in &self.extra {
            cmd.arg("-o").arg(e);
        }
        cmd.arg("--ready-file").arg(&ready).stdout(Stdio::null()).stderr(log);
        self.child = Some(cmd.spawn().expect("spawn sluiced"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && !text.trim().is_empty()
            {
                self.address = text.lines().next().unwrap_or_default().trim().to_string();
                break;
            }
            assert!(Instant::now() < deadline, "sluiced did not become ready; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        // Ready means answering a request, not just a file.
        let mut c = self.connect();
        assert!(matches!(
            c.call(ApiKey::ApiVersions, 3, Request::ApiVersions(Default::default())),
            Some(Response::ApiVersions(_))
        ));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sluiced.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn connect(&self) -> Client {
        let stream = TcpStream::connect(&self.address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        Client { stream, correlation: 0 }
    }

    fn signal(&mut self, sig: &str) {
        let child = self.child.as_mut().expect("running");
        let status = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                if sig == "TERM" {
                    assert!(status.success(), "clean exit after SIGTERM; log:\n{}", self.log());
                }
                break;
            }
            assert!(Instant::now() < deadline, "sluiced did not exit after SIG{sig}");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = None;
    }
}

impl Drop for Sluiced {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn send(&mut self, key: ApiKey, version: i16, request: &Request) -> i32 {
        self.send_as("wire-test", key, version, request)
    }

    fn send_as(&mut self, client_id: &str, key: ApiKey, version: i16, request: &Request) -> i32 {
        self.correlation += 1;
        let header = RequestHeader {
            api_key: key as i16,
            api_version: version,
            correlation_id: self.correlation,
            client_id: Some(client_id.into()),
        };
        self.send_raw(&encode_request(&header, request).expect("a test request fits"));
        self.correlation
    }

    /// Reads one response frame; `None` when the broker closed the connection.
    fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        if self.stream.read_exact(&mut size).is_err() {
            return None;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut frame).ok()?;
        Some(Bytes::from(frame))
    }

    fn receive(&mut self, key: ApiKey, version: i16, correlation: i32) -> Option<Response> {
        let mut frame = self.read_frame()?;
        let got = i32::from_be_bytes(frame[..4].try_into().expect("4"));
        assert_eq!(got, correlation, "responses come back in request order");
        let mut body = frame.split_off(4);
        if key.is_flexible(version) && key != ApiKey::ApiVersions {
            let _ = sluice_protocol::codec::skip_tagged_fields(&mut body);
        }
        Some(Response::decode(key, version, &mut body).expect("response decodes"))
    }

    fn call(&mut self, key: ApiKey, version: i16, request: Request) -> Option<Response> {
        let c = self.send(key, version, &request);
        self.receive(key, version, c)
    }

    fn closed_by_peer(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

fn create_topic(c: &mut Client, name: &str, partitions: i32) {
    let req = CreateTopicsRequest {
        topics: vec![CreateTopicsRequestTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let Some(Response::CreateTopics(r)) = c.call(ApiKey::CreateTopics, 7, Request::CreateTopics(req)) else {
        panic!("no answer")
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

fn batch(values: &[&str]) -> Bytes {
    let mut b = RecordBatchBuilder::new(1_700_000_000_000);
    for v in values {
        b.append(1_700_000_000_000, Some(b"k"), Some(v.as_bytes()), &[]);
    }
    Bytes::from(b.build())
}

fn produce_request(topic: &str, records: Bytes, acks: i16) -> Request {
    Request::Produce(ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 10_000,
        topic_data: vec![ProduceRequestTopic {
            name: topic.into(),
            partition_data: vec![ProduceRequestPartition { index: 0, records: Some(records) }],
            ..Default::default()
        }],
    })
}

fn produce(c: &mut Client, topic: &str, records: Bytes) -> ProduceResponsePartition {
    let Some(Response::Produce(r)) = c.call(ApiKey::Produce, 9, produce_request(topic, records, -1)) else {
        panic!("no answer")
    };
    r.responses[0].partition_responses[0].clone()
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> Request {
    Request::Fetch(FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        max_bytes: 1 << 20,
        session_epoch: -1,
        topics: vec![FetchRequestTopic {
            topic: topic.into(),
            topic_id: Default::default(),
            partitions: vec![FetchRequestPartition {
                partition: 0,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
        }],
        ..Default::default()
    })
}

fn fetch(c: &mut Client, topic: &str, offset: i64) -> FetchResponsePartition {
    let Some(Response::Fetch(r)) = c.call(ApiKey::Fetch, 12, fetch_request(topic, offset, 0, 0)) else {
        panic!("no answer")
    };
    r.responses[0].partitions[0].clone()
}

fn values_in(records: &sluice_protocol::record_set::RecordSet) -> Vec<String> {
    sluice_protocol::RecordBatches::new(records.to_bytes().expect("decoded records are in memory"))
        .flat_map(|b| {
            b.expect("batch").records().expect("uncompressed").map(|r| r.expect("record")).collect::<Vec<_>>()
        })
        .map(|r| String::from_utf8(r.value.expect("value").to_vec()).expect("utf8"))
        .collect()
}

#[test]
fn api_versions_answers_the_registry_and_refuses_unknown_versions_in_v0_format() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    let Some(Response::ApiVersions(r)) = c.call(ApiKey::ApiVersions, 3, Request::ApiVersions(Default::default()))
    else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(r.api_keys, sluice_protocol::api::supported_api_versions());
    // ApiVersions v9 (unknown): error 35 with the v0 body so the client can pick a version.
    let header = RequestHeader { api_key: 18, api_version: 9, correlation_id: 77, client_id: None };
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0; 4]);
    header.encode(&mut frame);
    let n = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&n.to_be_bytes());
    c.send_raw(&frame);
    let Some(Response::ApiVersions(r)) = c.receive(ApiKey::ApiVersions, 0, 77) else { panic!() };
    assert_eq!(r.error_code, 35);
    assert!(!r.api_keys.is_empty());
}

#[test]
fn malformed_frames_close_only_their_connection() {
    let s = Sluiced::start(&[]);
    let mut healthy = s.connect();
    create_topic(&mut healthy, "t", 1);

    // Oversized: a size beyond socket.request.max.bytes is refused before reading.
    let mut c = s.connect();
    c.send_raw(&(200 * 1024 * 1024i32).to_be_bytes());
    assert!(c.closed_by_peer(), "oversized frame closes the connection");
    // Negative size.
    let mut c = s.connect();
    c.send_raw(&(-5i32).to_be_bytes());
    assert!(c.closed_by_peer());
    // Unknown API key.
    let mut c = s.connect();
    let mut frame = Vec::new();
    frame.extend_from_slice(&10i32.to_be_bytes());
    frame.extend_from_slice(&999i16.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    c.send_raw(&frame);
    assert!(c.closed_by_peer(), "unknown API key closes the connection");
    // Absurd array count: Metadata v1 claiming 2^31-1 topics.
    let mut c = s.connect();
    let mut frame = Vec::new();
    let body = [
        &3i16.to_be_bytes()[..],
        &1i16.to_be_bytes(),
        &5i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &i32::MAX.to_be_bytes(),
    ]
    .concat();
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(&body);
    c.send_raw(&frame);
    assert!(c.closed_by_peer(), "absurd count closes the connection");
    // Truncated: a frame that promises more than it sends, then the client leaves.
    let mut c = s.connect();
    c.send_raw(&100i32.to_be_bytes());
    c.send_raw(&[0, 3, 0, 1]);
    drop(c);

    // The first client is still served.
    let p = produce(&mut healthy, "t", batch(&["still", "alive"]));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
}

#[test]
fn produce_errors_come_back_per_partition() {
    let s = Sluiced::start(&["auto.create.topics.enable=false", "message.max.bytes=2000"]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 1);
    let mut bad = batch(&["x"]).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(produce(&mut c, "t", Bytes::from(bad)).error_code, 2, "CORRUPT_MESSAGE");
    let big = "y".repeat(3000);
    assert_eq!(produce(&mut c, "t", batch(&[&big])).error_code, 10, "MESSAGE_TOO_LARGE");
    assert_eq!(produce(&mut c, "nope", batch(&["x"])).error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let Some(Response::Produce(r)) = c.call(ApiKey::Produce, 9, produce_request("t", batch(&["x"]), 5)) else {
        panic!()
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 21, "INVALID_REQUIRED_ACKS");
    assert_eq!(fetch(&mut c, "t", 5).error_code, 1, "OFFSET_OUT_OF_RANGE");
}

#[test]
fn acks_zero_gets_no_response_and_order_is_kept() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 1);
    c.send(ApiKey::Produce, 9, &produce_request("t", batch(&["fire", "forget"]), 0));
    // The next frame on the wire must answer the next request, not the acks=0 produce.
    let id = c.send(ApiKey::Metadata, 12, &Request::Metadata(MetadataRequest { topics: None, ..Default::default() }));
    assert!(matches!(c.receive(ApiKey::Metadata, 12, id), Some(Response::Metadata(_))));
    // Pipelined requests: three sent before reading, answered in order.
    let ids: Vec<i32> =
        (0..3).map(|_| c.send(ApiKey::ApiVersions, 3, &Request::ApiVersions(Default::default()))).collect();
    for id in ids {
        assert!(matches!(c.receive(ApiKey::ApiVersions, 3, id), Some(Response::ApiVersions(_))));
    }
    assert_eq!(values_in(&fetch(&mut c, "t", 0).records.expect("records")), vec!["fire", "forget"]);
}

#[test]
fn fetch_long_polls_until_data_arrives() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 1);
    let address = s.address.clone();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let stream = TcpStream::connect(address).expect("connect");
        let mut p = Client { stream, correlation: 100 };
        produce(&mut p, "t", batch(&["late"]))
    });
    let started = Instant::now();
    let Some(Response::Fetch(r)) = c.call(ApiKey::Fetch, 12, fetch_request("t", 0, 20_000, 1)) else { panic!() };
    let waited = started.elapsed();
    assert_eq!(values_in(r.responses[0].partitions[0].records.as_ref().expect("records")), vec!["late"]);
    assert!(waited < Duration::from_secs(15), "answered on the append, not at max_wait_ms ({waited:?})");
    assert_eq!(producer.join().expect("producer").error_code, 0);
    // With nothing to wait for, max_wait_ms bounds the wait and the answer is empty.
    let Some(Response::Fetch(r)) = c.call(ApiKey::Fetch, 12, fetch_request("t", 1, 200, 1)) else { panic!() };
    assert_eq!(r.responses[0].partitions[0].records.as_ref().map(|b| b.len()), Some(0));
}

#[test]
fn restart_keeps_every_acknowledged_record() {
    for signal in ["TERM", "KILL"] {
        let mut s = Sluiced::start(&[]);
        let mut c = s.connect();
        create_topic(&mut c, "t", 1);
        let mut expected = Vec::new();
        for i in 0..50 {
            let v = format!("{signal}-{i}");
            assert_eq!(produce(&mut c, "t", batch(&[&v])).error_code, 0);
            expected.push(v);
        }
        drop(c);
        s.signal(signal);
        let marker = s.data_dir().join(".kafka_cleanshutdown").exists();
        assert_eq!(marker, signal == "TERM", "clean-shutdown marker only after SIGTERM");
        s.spawn();
        let mut c = s.connect();
        // Ready means listening: the partition is served once its log is loaded and its role
        // applied (NOT_LEADER_OR_FOLLOWER until then, which clients retry).
        let deadline = Instant::now() + Duration::from_secs(30);
        let p = loop {
            let p = fetch(&mut c, "t", 0);
            if p.error_code == 0 || Instant::now() > deadline {
                break p;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(p.error_code, 0, "SIG{signal}: the partition is served after the restart");
        assert_eq!(p.high_watermark, 50, "SIG{signal}");
        assert_eq!(values_in(&p.records.expect("records")), expected, "SIG{signal}");
    }
}

#[test]
fn bad_config_stops_startup_naming_key_value_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_sluiced"))
        .arg("-o")
        .arg(format!("log.dirs={}", dir.path().display()))
        .arg("-o")
        .arg("num.partitions=lots")
        .output()
        .expect("run sluiced");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid value \"lots\" for num.partitions: not a whole number"), "{stderr}");
    let out =
        Command::new(env!("CARGO_BIN_EXE_sluiced")).arg("/no/such/server.properties").output().expect("run sluiced");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file /no/such/server.properties"));
}

#[test]
fn idle_connections_are_closed_after_connections_max_idle_ms() {
    let s = Sluiced::start(&["connections.max.idle.ms=300"]);
    let mut idle = s.connect();
    let started = Instant::now();
    assert!(idle.closed_by_peer(), "closed by the broker");
    assert!(started.elapsed() < Duration::from_secs(20));
    let mut active = s.connect();
    assert!(active.call(ApiKey::ApiVersions, 3, Request::ApiVersions(Default::default())).is_some());
}

#[test]
fn delete_records_offset_for_leader_epoch_describe_cluster_and_sasl() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 1);
    for i in 0..10 {
        assert_eq!(produce(&mut c, "t", batch(&[&format!("r{i}")])).error_code, 0);
    }
    // DeleteRecords: up to offset 4, then -1 (the high watermark); beyond it is out of range.
    let delete = |c: &mut Client, offset: i64| {
        let req = DeleteRecordsRequest {
            topics: vec![DeleteRecordsRequestTopic {
                name: "t".into(),
                partitions: vec![DeleteRecordsRequestPartition { partition_index: 0, offset }],
            }],
            timeout_ms: 10_000,
        };
        let Some(Response::DeleteRecords(r)) = c.call(ApiKey::DeleteRecords, 2, Request::DeleteRecords(req)) else {
            panic!()
        };
        r.topics[0].partitions[0].clone()
    };
    assert_eq!((delete(&mut c, 4).error_code, delete(&mut c, 4).low_watermark), (0, 4));
    assert_eq!(delete(&mut c, 11).error_code, 1, "beyond the high watermark: OFFSET_OUT_OF_RANGE");
    assert_eq!(fetch(&mut c, "t", 3).error_code, 1, "deleted records are out of range");
    assert_eq!(values_in(&fetch(&mut c, "t", 4).records.expect("records"))[0], "r4");
    assert_eq!(delete(&mut c, -1).low_watermark, 10);

    // OffsetForLeaderEpoch: epoch 0 is the current one and ends at the log end.
    let req = OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics: vec![OffsetForLeaderEpochRequestTopic {
            topic: "t".into(),
            partitions: vec![OffsetForLeaderEpochRequestPartition {
                partition: 0,
                current_leader_epoch: 0,
                leader_epoch: 0,
            }],
        }],
    };
    let Some(Response::OffsetForLeaderEpoch(r)) =
        c.call(ApiKey::OffsetForLeaderEpoch, 4, Request::OffsetForLeaderEpoch(req))
    else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.leader_epoch, p.end_offset), (0, 0, 10));

    // A fetch claiming a newer leader epoch than the partition's gets UNKNOWN_LEADER_EPOCH.
    let Request::Fetch(mut fetch_req) = fetch_request("t", 4, 0, 0) else { unreachable!() };
    fetch_req.topics[0].partitions[0].current_leader_epoch = 3;
    let Some(Response::Fetch(r)) = c.call(ApiKey::Fetch, 12, Request::Fetch(fetch_req)) else { panic!() };
    assert_eq!(r.responses[0].partitions[0].error_code, 75);
    assert_eq!(
        r.responses[0].partitions[0].records,
        Some(sluice_protocol::record_set::RecordSet::default()),
        "an error comes with an empty record set"
    );
    // So does an unknown partition (librdkafka rejects a whole response with a null one).
    let Request::Fetch(mut fetch_req) = fetch_request("t", 0, 0, 0) else { unreachable!() };
    fetch_req.topics[0].partitions[0].partition = 7;
    let Some(Response::Fetch(r)) = c.call(ApiKey::Fetch, 12, Request::Fetch(fetch_req)) else { panic!() };
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.records.as_ref().map(|r| r.len())), (3, Some(0)), "UNKNOWN_TOPIC_OR_PARTITION, empty");

    let Some(Response::DescribeCluster(r)) =
        c.call(ApiKey::DescribeCluster, 1, Request::DescribeCluster(Default::default()))
    else {
        panic!()
    };
    assert_eq!((r.error_code, r.controller_id, r.brokers.len()), (0, 0, 1));
    assert!(!r.cluster_id.is_empty());
    assert_eq!(format!("{}:{}", r.brokers[0].host, r.brokers[0].port), s.address);

    let sasl = SaslHandshakeRequest { mechanism: "PLAIN".into() };
    let Some(Response::SaslHandshake(r)) = c.call(ApiKey::SaslHandshake, 1, Request::SaslHandshake(sasl)) else {
        panic!()
    };
    // A PLAINTEXT listener takes no SASL: Kafka answers a handshake there ILLEGAL_SASL_STATE.
    assert_eq!(r.error_code, 34, "ILLEGAL_SASL_STATE");
    assert!(r.mechanisms.is_empty());
}

/// Transaction requests that cannot be honoured get Kafka's codes: a timeout above
/// `transaction.max.timeout.ms`, an unknown transactional id, a wrong producer id or epoch, an
/// unknown partition, a transactional batch outside the transaction, a client's control
/// batch, an unknown FindCoordinator key type.
#[test]
fn transaction_requests_with_bad_input_get_kafka_error_codes() {
    let s = Sluiced::start(&["transaction.max.timeout.ms=60000"]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 1);
    let find = FindCoordinatorRequest { key: "tx".into(), key_type: 1, coordinator_keys: vec![] };
    let Some(Response::FindCoordinator(r)) = c.call(ApiKey::FindCoordinator, 3, Request::FindCoordinator(find)) else {
        panic!("FindCoordinator")
    };
    assert_eq!(r.error_code, 0, "the transaction coordinator is this broker: {r:?}");
    let bad_type = FindCoordinatorRequest { key: "tx".into(), key_type: 7, coordinator_keys: vec![] };
    let Some(Response::FindCoordinator(r)) = c.call(ApiKey::FindCoordinator, 3, Request::FindCoordinator(bad_type))
    else {
        panic!("FindCoordinator")
    };
    assert_eq!(r.error_code, 42, "INVALID_REQUEST");

    let init = |timeout_ms| InitProducerIdRequest {
        transactional_id: Some("tx".into()),
        transaction_timeout_ms: timeout_ms,
        producer_id: -1,
        producer_epoch: -1,
    };
    let Some(Response::InitProducerId(r)) = c.call(ApiKey::InitProducerId, 4, Request::InitProducerId(init(120_000)))
    else {
        panic!("InitProducerId")
    };
    assert_eq!(r.error_code, 50, "INVALID_TRANSACTION_TIMEOUT");
    let Some(Response::InitProducerId(r)) = c.call(ApiKey::InitProducerId, 4, Request::InitProducerId(init(10_000)))
    else {
        panic!("InitProducerId")
    };
    assert_eq!((r.error_code, r.producer_epoch), (0, 0));
    let (pid, epoch) = (r.producer_id, r.producer_epoch);

    let end = |id: &str, pid, epoch| EndTxnRequest {
        transactional_id: id.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: true,
    };
    let Some(Response::EndTxn(r)) = c.call(ApiKey::EndTxn, 3, Request::EndTxn(end("nobody", pid, epoch))) else {
        panic!("EndTxn")
    };
    assert_eq!(r.error_code, 49, "INVALID_PRODUCER_ID_MAPPING");
    let Some(Response::EndTxn(r)) = c.call(ApiKey::EndTxn, 3, Request::EndTxn(end("tx", pid, epoch + 1))) else {
        panic!("EndTxn")
    };
    assert_eq!(r.error_code, 90, "PRODUCER_FENCED");
    let Some(Response::EndTxn(r)) = c.call(ApiKey::EndTxn, 1, Request::EndTxn(end("tx", pid, epoch + 1))) else {
        panic!("EndTxn")
    };
    assert_eq!(r.error_code, 47, "INVALID_PRODUCER_EPOCH before v2");
    let Some(Response::EndTxn(r)) = c.call(ApiKey::EndTxn, 3, Request::EndTxn(end("tx", pid, epoch))) else {
        panic!("EndTxn")
    };
    assert_eq!(r.error_code, 48, "INVALID_TXN_STATE: no transaction is open");

    let add = |topic: &str| AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: "tx".into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic { name: topic.into(), partitions: vec![0] }],
        ..Default::default()
    };
    let Some(Response::AddPartitionsToTxn(r)) =
        c.call(ApiKey::AddPartitionsToTxn, 3, Request::AddPartitionsToTxn(add("nope")))
    else {
        panic!("AddPartitionsToTxn")
    };
    assert_eq!(r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code, 3);

    // A transactional batch to a partition the producer never added: refused (KIP-890).
    let mut b =
        RecordBatchBuilder::new(0).producer(pid, epoch, 0).attributes(sluice_protocol::Attributes::TRANSACTIONAL);
    b.append(0, None, Some(b"outside"), &[]);
    let mut request = produce_request("t", Bytes::from(b.build()), -1);
    if let Request::Produce(p) = &mut request {
        p.transactional_id = Some("tx".into());
    }
    let Some(Response::Produce(r)) = c.call(ApiKey::Produce, 9, request) else { panic!("Produce") };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 48, "INVALID_TXN_STATE");
    // A client may not write an end-transaction marker.
    let marker = sluice_protocol::control::marker_batch(
        pid,
        epoch,
        sluice_protocol::control::EndTxnMarker {
            control_type: sluice_protocol::control::ControlType::Commit,
            coordinator_epoch: 0,
        },
        0,
    );
    assert_eq!(produce(&mut c, "t", Bytes::from(marker)).error_code, 87, "INVALID_RECORD");
    assert_eq!(fetch(&mut c, "t", 0).high_watermark, 0, "nothing was written");

    let Some(Response::DescribeTransactions(r)) = c.call(
        ApiKey::DescribeTransactions,
        0,
        Request::DescribeTransactions(DescribeTransactionsRequest { transactional_ids: vec!["nobody".into()] }),
    ) else {
        panic!("DescribeTransactions")
    };
    assert_eq!(r.transaction_states[0].error_code, 105, "TRANSACTIONAL_ID_NOT_FOUND");
    let Some(Response::ListTransactions(r)) = c.call(
        ApiKey::ListTransactions,
        1,
        Request::ListTransactions(ListTransactionsRequest {
            state_filters: vec!["Bogus".into()],
            ..Default::default()
        }),
    ) else {
        panic!("ListTransactions")
    };
    assert_eq!(r.unknown_state_filters, vec!["Bogus".to_string()]);
}

#[test]
fn internal_topics_refuse_clients_appends_and_deletion() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    for topic in ["__consumer_offsets", "__transaction_state"] {
        assert_eq!(produce(&mut c, topic, batch(&["poison"])).error_code, 17, "INVALID_TOPIC_EXCEPTION for {topic}");
        let req = DeleteTopicsRequest { topic_names: vec![topic.into()], timeout_ms: 10_000, ..Default::default() };
        let Some(Response::DeleteTopics(r)) = c.call(ApiKey::DeleteTopics, 4, Request::DeleteTopics(req)) else {
            panic!("no answer")
        };
        assert_eq!(r.responses[0].error_code, 17, "{topic} is not deleted: {:?}", r.responses[0].error_message);
    }
    // An ordinary topic whose name merely starts with "__" is the client's.
    create_topic(&mut c, "__mine", 1);
    assert_eq!(produce(&mut c, "__mine", batch(&["fine"])).error_code, 0);
}

#[test]
fn refused_requests_are_logged_once_per_interval_with_a_count() {
    let s = Sluiced::start(&[]);
    // A client retrying an undecodable request (an unknown API key) over and over.
    let mut frame = Vec::new();
    frame.extend_from_slice(&10i32.to_be_bytes());
    frame.extend_from_slice(&999i16.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    for _ in 0..50 {
        let mut c = s.connect();
        c.send_raw(&frame);
        assert!(c.closed_by_peer(), "an unknown API key closes the connection");
    }
    let warnings = s.log().lines().filter(|l| l.contains("closing connection after an undecodable request")).count();
    assert_eq!(warnings, 1, "one line for the first refusal, the rest held back:\n{}", s.log());
}

#[test]
fn a_join_with_a_32_kib_client_id_is_answered_not_a_panic() {
    let s = Sluiced::start(&["group.initial.rebalance.delay.ms=0"]);
    let mut c = s.connect();
    let join = JoinGroupRequest {
        group_id: "huge".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: String::new(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol { name: "range".into(), metadata: Bytes::from_static(b"md") }],
        ..Default::default()
    };
    // v2: no MEMBER_ID_REQUIRED round; the answer carries the new member id in an i16 string.
    // (Asked again while the group's coordinator is still being set up: __consumer_offsets
    // is created on first use.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let r = loop {
        let find = FindCoordinatorRequest { key: "huge".into(), key_type: 0, coordinator_keys: vec![] };
        c.call(ApiKey::FindCoordinator, 2, Request::FindCoordinator(find));
        let request = Request::JoinGroup(join.clone());
        let correlation = c.send_as(&"c".repeat(i16::MAX as usize), ApiKey::JoinGroup, 2, &request);
        let Some(Response::JoinGroup(r)) = c.receive(ApiKey::JoinGroup, 2, correlation) else {
            panic!("no answer; log:\n{}", s.log())
        };
        if !matches!(r.error_code, 14..=16) || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(r.error_code, 0);
    assert!(r.member_id.starts_with("ccc") && r.member_id.len() < 300, "{} bytes", r.member_id.len());
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// The partition count of `topic` as Metadata v4 reports it (without creating it, as v1-v3
/// would); `None` while it does not exist.
fn partition_count(c: &mut Client, topic: &str) -> Option<usize> {
    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(topic.into()), ..Default::default() }]),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let Some(Response::Metadata(r)) = c.call(ApiKey::Metadata, 4, Request::Metadata(req)) else { panic!("Metadata") };
    let t = &r.topics[0];
    (t.error_code == 0).then_some(t.partitions.len())
}

/// An OffsetCommit of one offset per partition of topic `t` at `version`, retried while the
/// group's coordinator is being set up (`__consumer_offsets` is created on first use).
fn commit_offsets(
    c: &mut Client,
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    offsets: &[(i32, i64, i64)],
) -> Vec<i16> {
    let request = OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: generation,
        member_id: member.into(),
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: offsets
                .iter()
                .map(|&(partition_index, committed_offset, commit_timestamp)| OffsetCommitRequestPartition {
                    partition_index,
                    committed_offset,
                    commit_timestamp,
                    committed_metadata: Some(format!("v{version}")),
                    ..Default::default()
                })
                .collect(),
        }],
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let find = FindCoordinatorRequest { key: group.into(), key_type: 0, coordinator_keys: vec![] };
        c.call(ApiKey::FindCoordinator, 0, Request::FindCoordinator(find));
        let Some(Response::OffsetCommit(r)) =
            c.call(ApiKey::OffsetCommit, version, Request::OffsetCommit(request.clone()))
        else {
            panic!("OffsetCommit v{version}")
        };
        let codes: Vec<i16> = r.topics[0].partitions.iter().map(|p| p.error_code).collect();
        // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: not yet.
        if !codes.iter().all(|c| matches!(c, 14..=16)) || Instant::now() > deadline {
            return codes;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The committed (offset, metadata) of `group` for partitions 0 and 1 of `t`, by OffsetFetch at
/// `version`.
fn committed_offsets(c: &mut Client, version: i16, group: &str) -> Vec<(i64, Option<String>)> {
    let request = OffsetFetchRequest {
        group_id: group.into(),
        topics: Some(vec![OffsetFetchRequestTopic { name: "t".into(), partition_indexes: vec![0, 1] }]),
        ..Default::default()
    };
    let Some(Response::OffsetFetch(r)) = c.call(ApiKey::OffsetFetch, version, Request::OffsetFetch(request)) else {
        panic!("OffsetFetch v{version}")
    };
    r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0, "OffsetFetch v{version} partition {}", p.partition_index);
            (p.committed_offset, p.metadata.clone())
        })
        .collect()
}

/// OffsetCommit v0 (a standalone commit: no generation, no member) and v1 (a member of the
/// current generation, and a commit time of the client's) store the group's offsets, which
/// OffsetFetch v0 and v1 read back; v1's commit time is what retention counts from.
#[test]
fn offset_commit_v0_and_v1_are_read_back_by_offset_fetch_v0_and_v1() {
    let s = Sluiced::start(&[
        "group.initial.rebalance.delay.ms=0",
        "offsets.retention.minutes=1",
        "offsets.retention.check.interval.ms=100",
    ]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 2);

    // v0: a standalone commit, read back by both old versions.
    assert_eq!(commit_offsets(&mut c, 0, "old", -1, "", &[(0, 5, -1)]), vec![0], "log:\n{}", s.log());
    let unset = (-1, Some(String::new()));
    for version in [0, 1] {
        assert_eq!(committed_offsets(&mut c, version, "old"), vec![(5, Some("v0".into())), unset.clone()]);
    }

    // v1 from a member of the group's current generation.
    let join = join_request("old");
    let Some(Response::JoinGroup(joined)) = c.call(ApiKey::JoinGroup, 1, Request::JoinGroup(join)) else {
        panic!("JoinGroup")
    };
    assert_eq!(joined.error_code, 0);
    let synced = sync_alone(&mut c, "old", &joined);
    assert_eq!(synced.error_code, 0);
    let (generation, member) = (joined.generation_id, joined.member_id.as_str());
    assert_eq!(commit_offsets(&mut c, 1, "old", generation, member, &[(0, 6, -1), (1, 7, -1)]), vec![0, 0]);
    assert_eq!(committed_offsets(&mut c, 0, "old"), vec![(6, Some("v1".into())), (7, Some("v1".into()))]);
    // The generation and member are checked at v1; v0 names neither, refused while the group
    // has a member; nothing changes.
    assert_eq!(commit_offsets(&mut c, 1, "old", generation + 1, member, &[(0, 8, -1)]), vec![22], "ILLEGAL_GENERATION");
    assert_eq!(commit_offsets(&mut c, 1, "old", generation, "stranger", &[(0, 8, -1)]), vec![25], "UNKNOWN_MEMBER_ID");
    assert_eq!(commit_offsets(&mut c, 0, "old", -1, "", &[(0, 8, -1)]), vec![25], "UNKNOWN_MEMBER_ID");
    assert_eq!(committed_offsets(&mut c, 1, "old")[0].0, 6);

    // v1's commit time: a commit made (by the client's clock) ten minutes ago is past the
    // one-minute retention and expires, one made now stays.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    assert_eq!(commit_offsets(&mut c, 1, "aged", -1, "", &[(0, 3, now_ms - 600_000)]), vec![0]);
    assert_eq!(commit_offsets(&mut c, 1, "fresh", -1, "", &[(0, 4, -1)]), vec![0]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed_offsets(&mut c, 1, "aged")[0].0 != -1 {
        assert!(Instant::now() < deadline, "the aged commit did not expire; log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(committed_offsets(&mut c, 1, "fresh")[0].0, 4, "a commit of now is kept");
}

/// CreateTopics v0 (no validate_only) and v1 (with it), DescribeConfigs v0 (is_default instead
/// of a config source), DeleteTopics v0, ListOffsets v0 (segment offsets) and
/// OffsetForLeaderEpoch v0/v1 do what their current versions do.
#[test]
fn old_admin_versions_create_describe_list_and_delete() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    let create = |name: &str, validate_only: bool| CreateTopicsRequest {
        topics: vec![CreateTopicsRequestTopic {
            name: name.into(),
            num_partitions: 3,
            replication_factor: 1,
            configs: vec![CreateTopicsRequestConfig { name: "retention.ms".into(), value: Some("1234".into()) }],
            ..Default::default()
        }],
        timeout_ms: 10_000,
        validate_only,
    };
    let Some(Response::CreateTopics(r)) = c.call(ApiKey::CreateTopics, 0, Request::CreateTopics(create("a", false)))
    else {
        panic!("CreateTopics v0")
    };
    assert_eq!((r.topics[0].name.as_str(), r.topics[0].error_code), ("a", 0));
    assert_eq!(partition_count(&mut c, "a"), Some(3));
    let Some(Response::CreateTopics(r)) = c.call(ApiKey::CreateTopics, 0, Request::CreateTopics(create("a", false)))
    else {
        panic!("CreateTopics v0")
    };
    assert_eq!(r.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");
    let Some(Response::CreateTopics(r)) = c.call(ApiKey::CreateTopics, 1, Request::CreateTopics(create("b", true)))
    else {
        panic!("CreateTopics v1")
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    assert_eq!(partition_count(&mut c, "b"), None, "validate_only creates nothing");
    let Some(Response::CreateTopics(r)) = c.call(ApiKey::CreateTopics, 1, Request::CreateTopics(create("b", false)))
    else {
        panic!("CreateTopics v1")
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    assert_eq!(partition_count(&mut c, "b"), Some(3));

    // DescribeConfigs v0: the override and a default, told apart by is_default.
    let describe = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: "a".into(),
            configuration_keys: Some(vec!["retention.ms".into(), "segment.bytes".into()]),
        }],
        ..Default::default()
    };
    let Some(Response::DescribeConfigs(r)) = c.call(ApiKey::DescribeConfigs, 0, Request::DescribeConfigs(describe))
    else {
        panic!("DescribeConfigs v0")
    };
    assert_eq!(r.results[0].error_code, 0);
    let configs: Vec<(&str, Option<&str>, bool)> =
        r.results[0].configs.iter().map(|e| (e.name.as_str(), e.value.as_deref(), e.is_default)).collect();
    assert!(configs.contains(&("retention.ms", Some("1234"), false)), "{configs:?}");
    assert!(configs.iter().any(|&(name, _, is_default)| name == "segment.bytes" && is_default), "{configs:?}");

    // ListOffsets v0: segment offsets, newest first, up to max_num_offsets.
    for i in 0..4 {
        assert_eq!(produce(&mut c, "a", batch(&[&format!("r{i}")])).error_code, 0);
    }
    let list = |c: &mut Client, timestamp: i64, max_num_offsets: i32| {
        let req = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsRequestTopic {
                name: "a".into(),
                partitions: vec![ListOffsetsRequestPartition {
                    partition_index: 0,
                    timestamp,
                    max_num_offsets,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let Some(Response::ListOffsets(r)) = c.call(ApiKey::ListOffsets, 0, Request::ListOffsets(req)) else {
            panic!("ListOffsets v0")
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.old_style_offsets.clone())
    };
    assert_eq!(list(&mut c, -1, 10), (0, vec![4, 0]), "latest: the log end, then the segment's base");
    assert_eq!(list(&mut c, -1, 1), (0, vec![4]));
    assert_eq!(list(&mut c, -2, 1), (0, vec![0]), "earliest");
    assert_eq!(list(&mut c, 0, 10), (0, vec![]), "no segment was last modified before 1970");
    assert_eq!(list(&mut c, -3, 1).0, 35, "max timestamp (-3) is UNSUPPORTED_VERSION at v0");

    // OffsetForLeaderEpoch v0 (no epoch in the answer) and v1 (with it).
    for version in [0, 1] {
        let req = OffsetForLeaderEpochRequest {
            topics: vec![OffsetForLeaderEpochRequestTopic {
                topic: "a".into(),
                partitions: vec![OffsetForLeaderEpochRequestPartition {
                    partition: 0,
                    leader_epoch: 0,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let Some(Response::OffsetForLeaderEpoch(r)) =
            c.call(ApiKey::OffsetForLeaderEpoch, version, Request::OffsetForLeaderEpoch(req))
        else {
            panic!("OffsetForLeaderEpoch v{version}")
        };
        let p = &r.topics[0].partitions[0];
        let epoch = if version == 0 { -1 } else { 0 };
        assert_eq!((p.error_code, p.leader_epoch, p.end_offset), (0, epoch, 4), "v{version}");
    }

    // DeleteTopics v0.
    let delete = DeleteTopicsRequest { topic_names: vec!["a".into()], timeout_ms: 10_000, ..Default::default() };
    let Some(Response::DeleteTopics(r)) = c.call(ApiKey::DeleteTopics, 0, Request::DeleteTopics(delete)) else {
        panic!("DeleteTopics v0")
    };
    assert_eq!((r.responses[0].name.as_deref(), r.responses[0].error_code), (Some("a"), 0));
    let deadline = Instant::now() + Duration::from_secs(30);
    while partition_count(&mut c, "a").is_some() {
        assert!(Instant::now() < deadline, "topic a still listed after DeleteTopics v0");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(partition_count(&mut c, "b"), Some(3), "only the topic named is deleted");
}

/// A batch whose records section is `payload` as given (compressed or not, per `codec_id`),
/// declaring `count` records (last offset delta `count - 1`), with a right length and CRC: only
/// what is inside lies. This is what a broken or hostile producer can send.
fn raw_batch(codec_id: u8, count: i32, payload: &[u8]) -> Bytes {
    let mut bytes = RecordBatchBuilder::new(1_700_000_000_000).build();
    bytes.extend_from_slice(payload);
    let len = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    bytes[21..23].copy_from_slice(&i16::from(codec_id).to_be_bytes());
    bytes[23..27].copy_from_slice(&(count - 1).max(0).to_be_bytes());
    bytes[57..61].copy_from_slice(&count.to_be_bytes());
    sluice_protocol::record_batch::write_crc(&mut bytes);
    Bytes::from(bytes)
}

/// One encoded record: attributes 0, timestamp delta 0, the given offset delta, key, value, no
/// headers.
fn raw_record(offset_delta: i32, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    use sluice_protocol::varint::{write_varint, write_varlong};
    let mut body = vec![0u8];
    write_varlong(&mut body, 0);
    write_varint(&mut body, offset_delta);
    match key {
        Some(k) => {
            write_varint(&mut body, k.len() as i32);
            body.extend_from_slice(k);
        }
        None => write_varint(&mut body, -1),
    }
    write_varint(&mut body, value.len() as i32);
    body.extend_from_slice(value);
    write_varint(&mut body, 0);
    let mut out = Vec::new();
    write_varint(&mut out, body.len() as i32);
    out.extend_from_slice(&body);
    out
}

fn zstd_batch(values: &[&str]) -> Bytes {
    let mut b = RecordBatchBuilder::new(1_700_000_000_000).compression(sluice_protocol::Compression::Zstd);
    for v in values {
        b.append(1_700_000_000_000, Some(b"k"), Some(v.as_bytes()), &[]);
    }
    Bytes::from(b.build())
}

fn fetch_at(c: &mut Client, version: i16, topic: &str, offset: i64) -> FetchResponsePartition {
    let Some(Response::Fetch(r)) = c.call(ApiKey::Fetch, version, fetch_request(topic, offset, 0, 0)) else {
        panic!("no answer")
    };
    r.responses[0].partitions[0].clone()
}

/// The leader checks every produced batch record by record (Kafka's LogValidator): a batch
/// whose compressed records are garbage, whose codec is unassigned, whose record count or
/// record lengths lie, which claims a million records over none, whose records are numbered
/// wrongly, or which has a keyless record for a compacted topic, is refused with Kafka's code
/// (per-record errors from Produce v8, KIP-467) and stores nothing; the partition stays
/// readable and the next good batch takes offset 0. zstd needs Produce v7.
#[test]
fn produced_batches_are_checked_record_by_record_and_refused_ones_store_nothing() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 1);
    let two = [raw_record(0, Some(b"a"), b"1"), raw_record(1, Some(b"b"), b"2")].concat();
    let zstd = |section: &[u8]| {
        sluice_protocol::compression::compress(sluice_protocol::Compression::Zstd, section).expect("zstd")
    };
    let mut second_too_long = raw_record(1, Some(b"b"), b"2");
    second_too_long[0] += 2; // zig-zag: one more byte than the record holds
    let length_lie = [raw_record(0, Some(b"a"), b"1"), second_too_long].concat();
    let misnumbered = [raw_record(0, Some(b"a"), b"1"), raw_record(0, Some(b"b"), b"2")].concat();
    // (name, batch, error code, index of the record at fault)
    let cases: Vec<(&str, Bytes, i16, Option<i32>)> = vec![
        ("garbage zstd payload", raw_batch(4, 2, &b"\xde\xad\xbe\xef".repeat(8)), 2, None),
        ("garbage gzip payload", raw_batch(1, 2, &b"\xde\xad\xbe\xef".repeat(8)), 2, None),
        ("codec 5", raw_batch(5, 2, &two), 76, None),
        ("codec 7", raw_batch(7, 2, &two), 76, None),
        ("count claims more", raw_batch(0, 3, &two), 87, None),
        ("count claims fewer", raw_batch(0, 1, &two), 87, None),
        ("count claims more, zstd", raw_batch(4, 3, &zstd(&two)), 87, None),
        ("record length lies", raw_batch(0, 2, &length_lie), 87, Some(1)),
        ("record length lies, zstd", raw_batch(4, 2, &zstd(&length_lie)), 87, Some(1)),
        ("a million empty records", raw_batch(0, 1_000_000, &[]), 87, None),
        ("a million empty records, zstd", raw_batch(4, 1_000_000, &zstd(&raw_record(0, None, b""))), 87, None),
        ("wrong offset deltas", raw_batch(0, 2, &misnumbered), 87, Some(1)),
        ("two batches", [batch(&["a"]), batch(&["b"])].concat().into(), 87, None),
        ("no batch", Bytes::new(), 87, None),
    ];
    for (name, batch, code, index) in cases {
        let p = produce(&mut c, "t", batch);
        assert_eq!(p.error_code, code, "{name}: {:?}", p.error_message);
        assert_eq!(p.base_offset, -1, "{name}");
        assert!(p.error_message.is_some() || name == "no batch", "{name}: a message says why");
        assert_eq!(p.record_errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(), Vec::from_iter(index), "{name}");
    }
    // zstd below Produce v7 (a valid batch otherwise).
    let Some(Response::Produce(r)) = c.call(ApiKey::Produce, 6, produce_request("t", zstd_batch(&["z"]), -1)) else {
        panic!("no answer")
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 76, "UNSUPPORTED_COMPRESSION_TYPE below v7");
    assert_eq!(fetch(&mut c, "t", 0).high_watermark, 0, "nothing was stored");

    // The partition is unharmed: a good batch takes offset 0 and is all a consumer reads.
    let p = produce(&mut c, "t", batch(&["good", "records"]));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let p = produce(&mut c, "t", zstd_batch(&["zstd", "too"]));
    assert_eq!((p.error_code, p.base_offset), (0, 2));
    let p = produce(&mut c, "t", batch(&["after"]));
    assert_eq!((p.error_code, p.base_offset), (0, 4));
    let f = fetch(&mut c, "t", 0);
    assert_eq!((f.error_code, f.high_watermark), (0, 5));
    assert_eq!(values_in(&f.records.expect("records")), ["good", "records", "zstd", "too", "after"]);

    // zstd is served below Fetch v10 too, as Kafka serves a topic whose compression.type is
    // `producer` (it refuses old fetches only on a topic configured compression.type=zstd).
    assert_eq!(values_in(&fetch_at(&mut c, 9, "t", 2).records.expect("records")), ["zstd", "too", "after"]);

    // A compacted topic refuses a keyless record, naming it.
    let req = CreateTopicsRequest {
        topics: vec![CreateTopicsRequestTopic {
            name: "compacted".into(),
            num_partitions: 1,
            replication_factor: 1,
            configs: vec![CreateTopicsRequestConfig { name: "cleanup.policy".into(), value: Some("compact".into()) }],
            ..Default::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let Some(Response::CreateTopics(r)) = c.call(ApiKey::CreateTopics, 7, Request::CreateTopics(req)) else {
        panic!("no answer")
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    let keyless = [
        raw_record(0, Some(b"a"), b"1"),
        raw_record(1, None, b"2"),
        raw_record(2, Some(b"c"), b"3"),
        raw_record(3, None, b"4"),
    ]
    .concat();
    let p = produce(&mut c, "compacted", raw_batch(0, 4, &keyless));
    assert_eq!(p.error_code, 87, "INVALID_RECORD");
    // Every keyless record is named, as Kafka's validator collects them (librdkafka 0011).
    assert_eq!(p.record_errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(), [1, 3]);
    assert!(p.record_errors[0].batch_index_error_message.as_deref().is_some_and(|m| m.contains("key")));
    let p = produce(&mut c, "compacted", batch(&["keyed"]));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    assert_eq!(values_in(&fetch(&mut c, "compacted", 0).records.expect("records")), ["keyed"]);
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

fn create_topic_with(c: &mut Client, name: &str, configs: &[(&str, &str)]) -> CreateTopicsResponseTopic {
    let req = CreateTopicsRequest {
        topics: vec![CreateTopicsRequestTopic {
            name: name.into(),
            num_partitions: 1,
            replication_factor: 1,
            configs: configs
                .iter()
                .map(|(k, v)| CreateTopicsRequestConfig { name: (*k).into(), value: Some((*v).into()) })
                .collect(),
            ..Default::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let Some(Response::CreateTopics(r)) = c.call(ApiKey::CreateTopics, 7, Request::CreateTopics(req)) else {
        panic!("no answer")
    };
    r.topics[0].clone()
}

fn batch_at(timestamps: &[i64]) -> Bytes {
    let mut b = RecordBatchBuilder::new(timestamps[0]);
    for (i, ts) in timestamps.iter().enumerate() {
        b.append(*ts, Some(b"k"), Some(format!("v{i}").as_bytes()), &[]);
    }
    Bytes::from(b.build())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

/// Every topic config of Kafka 3.x is accepted and described with its source and synonyms, and
/// the produce-path ones are applied by the leader: `compression.type` recompresses,
/// `message.timestamp.type=LogAppendTime` stamps the batch (and Produce returns the time), and
/// `message.timestamp.{before,after}.max.ms` refuse records out of range with INVALID_TIMESTAMP,
/// naming each one.
#[test]
fn topic_configs_are_accepted_described_and_applied_on_produce() {
    let s = Sluiced::start(&["log.retention.hours=48"]);
    let mut c = s.connect();

    // Every key with a value other than its default.
    let every: Vec<(&str, &str)> = vec![
        ("cleanup.policy", "compact,delete"),
        ("compression.gzip.level", "5"),
        ("compression.lz4.level", "3"),
        ("compression.type", "gzip"),
        ("compression.zstd.level", "7"),
        ("delete.retention.ms", "1000"),
        ("file.delete.delay.ms", "1000"),
        ("flush.messages", "1000"),
        ("flush.ms", "1000"),
        ("follower.replication.throttled.replicas", "0:0"),
        ("index.interval.bytes", "1000"),
        ("leader.replication.throttled.replicas", "*"),
        ("local.retention.bytes", "1000"),
        ("local.retention.ms", "1000"),
        ("max.compaction.lag.ms", "100000"),
        ("max.message.bytes", "100000"),
        ("message.downconversion.enable", "false"),
        ("message.format.version", "2.8-IV1"),
        ("message.timestamp.after.max.ms", "1000"),
        ("message.timestamp.before.max.ms", "1000"),
        ("message.timestamp.difference.max.ms", "1000"),
        ("message.timestamp.type", "LogAppendTime"),
        ("min.cleanable.dirty.ratio", "0.25"),
        ("min.compaction.lag.ms", "1000"),
        ("min.insync.replicas", "1"),
        ("preallocate", "true"),
        ("remote.log.copy.disable", "true"),
        ("remote.log.delete.on.disable", "true"),
        ("remote.storage.enable", "false"),
        ("retention.bytes", "1000000"),
        ("retention.ms", "100000"),
        ("segment.bytes", "1000000"),
        ("segment.index.bytes", "100000"),
        ("segment.jitter.ms", "1000"),
        ("segment.ms", "100000"),
        ("unclean.leader.election.enable", "true"),
    ];
    let t = create_topic_with(&mut c, "every", &every);
    assert_eq!(t.error_code, 0, "{:?}", t.error_message);
    let described = t.configs.expect("CreateTopics v5+ describes the configs");
    for (k, v) in &every {
        let entry = described.iter().find(|e| e.name == *k).unwrap_or_else(|| panic!("{k} described"));
        assert_eq!((entry.value.as_deref(), entry.config_source), (Some(*v), 1), "{k}");
    }

    // Refusals, with INVALID_CONFIG (40) and the key named.
    for (k, v) in [
        ("no.such.config", "1"),
        ("compression.type", "brotli"),
        ("message.timestamp.type", "Sometime"),
        ("min.cleanable.dirty.ratio", "2"),
        ("remote.storage.enable", "true"),
        ("segment.jitter.ms", "-1"),
    ] {
        let t = create_topic_with(&mut c, "refused", &[(k, v)]);
        assert_eq!(t.error_code, 40, "{k}={v}");
        assert!(t.error_message.as_deref().is_some_and(|m| m.contains(k)), "{k}: {:?}", t.error_message);
    }

    // DescribeConfigs v4 with synonyms: a default set statically in hours is a synonym of
    // retention.ms, and the value is in the topic's unit.
    create_topic(&mut c, "plain", 1);
    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: "plain".into(),
            configuration_keys: Some(vec!["retention.ms".into(), "compression.type".into()]),
        }],
        include_synonyms: true,
        include_documentation: false,
    };
    let Some(Response::DescribeConfigs(r)) = c.call(ApiKey::DescribeConfigs, 4, Request::DescribeConfigs(req)) else {
        panic!("no answer")
    };
    let configs = &r.results[0].configs;
    let retention = configs.iter().find(|e| e.name == "retention.ms").expect("asked for");
    assert_eq!((retention.value.as_deref(), retention.config_source), (Some("172800000"), 4), "static broker config");
    let synonyms: Vec<(&str, i8)> = retention.synonyms.iter().map(|s| (s.name.as_str(), s.source)).collect();
    assert_eq!(synonyms, [("log.retention.hours", 4), ("log.retention.hours", 5)], "the hours' default: ms has none");
    let compression = configs.iter().find(|e| e.name == "compression.type").expect("asked for");
    assert_eq!(
        (compression.value.as_deref(), compression.config_source, compression.config_type),
        (Some("producer"), 5, 2)
    );
    assert_eq!(configs.len(), 2, "only the keys asked for");

    // compression.type=gzip: an uncompressed batch is stored gzip-compressed, records unchanged.
    let t = create_topic_with(&mut c, "gzipped", &[("compression.type", "gzip")]);
    assert_eq!(t.error_code, 0);
    let p = produce(&mut c, "gzipped", batch(&["one", "two", "three"]));
    assert_eq!((p.error_code, p.log_append_time_ms), (0, -1));
    let f = fetch(&mut c, "gzipped", 0);
    let records = f.records.expect("records").to_bytes().expect("in memory");
    let header = sluice_protocol::record_batch::BatchHeader::parse(&records).expect("a batch");
    assert_eq!(header.attributes.compression(), sluice_protocol::Compression::Gzip);
    sluice_protocol::record_batch::validate(&records[..header.size()]).expect("a valid CRC");
    let stored = sluice_protocol::RecordBatch::new(records.slice(..header.size())).expect("batch");
    let values: Vec<_> = stored.records().expect("records").map(|r| r.expect("record").value.expect("value")).collect();
    assert_eq!(values, ["one", "two", "three"].map(|v| Bytes::from_static(v.as_bytes())));
    // A topic configured zstd is refused to fetches below v10 (KIP-110), as in Kafka.
    let t = create_topic_with(&mut c, "zstd-only", &[("compression.type", "zstd")]);
    assert_eq!(t.error_code, 0);
    assert_eq!(produce(&mut c, "zstd-only", batch(&["a"])).error_code, 0);
    assert_eq!(fetch_at(&mut c, 9, "zstd-only", 0).error_code, 76, "UNSUPPORTED_COMPRESSION_TYPE");
    assert_eq!(values_in(&fetch_at(&mut c, 10, "zstd-only", 0).records.expect("records")), ["a"]);
    // compression.type=uncompressed decompresses a zstd batch.
    let t = create_topic_with(&mut c, "plain-only", &[("compression.type", "uncompressed")]);
    assert_eq!(t.error_code, 0);
    assert_eq!(produce(&mut c, "plain-only", zstd_batch(&["z1", "z2"])).error_code, 0);
    assert_eq!(values_in(&fetch(&mut c, "plain-only", 0).records.expect("records")), ["z1", "z2"]);

    // LogAppendTime: the leader stamps the batch and says when.
    let t = create_topic_with(&mut c, "stamped", &[("message.timestamp.type", "LogAppendTime")]);
    assert_eq!(t.error_code, 0);
    let before = now_ms();
    let p = produce(&mut c, "stamped", batch_at(&[1_000, 2_000]));
    assert_eq!(p.error_code, 0);
    assert!((before..=now_ms()).contains(&p.log_append_time_ms), "{} not now", p.log_append_time_ms);
    let records = fetch(&mut c, "stamped", 0).records.expect("records").to_bytes().expect("in memory");
    let header = sluice_protocol::record_batch::BatchHeader::parse(&records).expect("a batch");
    assert_eq!(header.attributes.timestamp_type(), sluice_protocol::record_batch::TimestampType::LogAppendTime);
    assert_eq!(header.max_timestamp, p.log_append_time_ms);
    sluice_protocol::record_batch::validate(&records[..header.size()]).expect("a valid CRC");

    // message.timestamp.before/after.max.ms: every record out of range is named.
    let t = create_topic_with(
        &mut c,
        "recent",
        &[("message.timestamp.before.max.ms", "3600000"), ("message.timestamp.after.max.ms", "60000")],
    );
    assert_eq!(t.error_code, 0);
    let now = now_ms();
    let p = produce(&mut c, "recent", batch_at(&[now, now - 7_200_000, now, now + 3_600_000]));
    assert_eq!(p.error_code, 32, "INVALID_TIMESTAMP");
    assert_eq!(p.record_errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(fetch(&mut c, "recent", 0).high_watermark, 0, "nothing stored");
    let p = produce(&mut c, "recent", batch_at(&[now - 60_000, now + 30_000]));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    // The older difference key bounds both sides while before/after are unset.
    let t = create_topic_with(&mut c, "near", &[("message.timestamp.difference.max.ms", "1000")]);
    assert_eq!(t.error_code, 0);
    assert_eq!(produce(&mut c, "near", batch_at(&[now_ms() - 60_000])).error_code, 32);
    assert_eq!(produce(&mut c, "near", batch_at(&[now_ms()])).error_code, 0);
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// SyncGroup is answered only once the group's new assignment is written to
/// `__consumer_offsets`, as Kafka answers after storing the group: when the write cannot succeed
/// (here `min.insync.replicas=2` on one broker refuses every acks=all append), the members get
/// COORDINATOR_NOT_AVAILABLE instead of an assignment a coordinator failover would forget.
#[test]
fn sync_group_waits_for_the_assignment_to_be_written() {
    let s = Sluiced::start(&["group.initial.rebalance.delay.ms=0", "min.insync.replicas=2"]);
    let mut c = s.connect();
    let join = join_request("unwritable");
    // Asked again while __consumer_offsets is being created on first use.
    let deadline = Instant::now() + Duration::from_secs(30);
    let joined = loop {
        let find = FindCoordinatorRequest { key: "unwritable".into(), key_type: 0, coordinator_keys: vec![] };
        c.call(ApiKey::FindCoordinator, 2, Request::FindCoordinator(find));
        let Some(Response::JoinGroup(r)) = c.call(ApiKey::JoinGroup, 1, Request::JoinGroup(join.clone())) else {
            panic!("JoinGroup")
        };
        if !matches!(r.error_code, 14..=16) || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(joined.error_code, 0, "log:\n{}", s.log());
    let synced = sync_alone(&mut c, "unwritable", &joined);
    assert_eq!(synced.error_code, 15, "COORDINATOR_NOT_AVAILABLE, not an unwritten assignment");
    assert!(synced.assignment.is_empty());
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// A JoinGroup of a new member of `group` (range, 30 s timeouts).
fn join_request(group: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol { name: "range".into(), metadata: Bytes::from_static(b"md") }],
        ..Default::default()
    }
}

/// The SyncGroup (v0) of a group's only member, its leader, assigning itself `a`.
fn sync_alone(c: &mut Client, group: &str, joined: &JoinGroupResponse) -> SyncGroupResponse {
    let sync = SyncGroupRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        assignments: vec![SyncGroupRequestAssignment {
            member_id: joined.member_id.clone(),
            assignment: Bytes::from_static(b"a"),
        }],
        ..Default::default()
    };
    let Some(Response::SyncGroup(synced)) = c.call(ApiKey::SyncGroup, 0, Request::SyncGroup(sync)) else {
        panic!("SyncGroup")
    };
    synced
}

/// OffsetCommit keeps only what Kafka keeps: a partition of a topic that does not exist is
/// answered UNKNOWN_TOPIC_OR_PARTITION and not stored (a group's offsets are bounded by the
/// cluster's partitions, not by the names a client makes up), and metadata over
/// `offset.metadata.max.bytes` (4096) is OFFSET_METADATA_TOO_LARGE for its own partition while
/// the request's others commit.
#[test]
fn offset_commits_of_unknown_topics_and_oversized_metadata_are_refused_and_not_stored() {
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    create_topic(&mut c, "t", 2);
    let partition = |partition_index: i32, metadata: String| OffsetCommitRequestPartition {
        partition_index,
        committed_offset: 7,
        committed_metadata: Some(metadata),
        ..Default::default()
    };
    let request = OffsetCommitRequest {
        group_id: "bounded".into(),
        generation_id_or_member_epoch: -1,
        topics: vec![
            OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![partition(0, "m".repeat(4096)), partition(1, "m".repeat(4097))],
            },
            OffsetCommitRequestTopic { name: "made-up".into(), partitions: vec![partition(0, String::new())] },
        ],
        ..Default::default()
    };
    // Asked again while `__consumer_offsets` is being created on first use.
    let deadline = Instant::now() + Duration::from_secs(30);
    let codes = loop {
        let find = FindCoordinatorRequest { key: "bounded".into(), key_type: 0, coordinator_keys: vec![] };
        c.call(ApiKey::FindCoordinator, 0, Request::FindCoordinator(find));
        let Some(Response::OffsetCommit(r)) = c.call(ApiKey::OffsetCommit, 2, Request::OffsetCommit(request.clone()))
        else {
            panic!("OffsetCommit")
        };
        let codes: Vec<(String, Vec<i16>)> =
            r.topics.iter().map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.error_code).collect())).collect();
        if !matches!(codes[0].1[0], 14..=16) || Instant::now() > deadline {
            break codes;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        codes,
        vec![("t".to_string(), vec![0, 12]), ("made-up".to_string(), vec![3])],
        "NONE, OFFSET_METADATA_TOO_LARGE, UNKNOWN_TOPIC_OR_PARTITION; log:\n{}",
        s.log()
    );
    // Every offset the group holds (OffsetFetch v2 with no topics): t-0 alone.
    let fetch = OffsetFetchRequest { group_id: "bounded".into(), topics: None, ..Default::default() };
    let Some(Response::OffsetFetch(r)) = c.call(ApiKey::OffsetFetch, 2, Request::OffsetFetch(fetch)) else {
        panic!("OffsetFetch")
    };
    let held: Vec<(String, i32, i64)> = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition_index, p.committed_offset)))
        .collect();
    assert_eq!(held, vec![("t".to_string(), 0, 7)]);
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// Fetch v12 of `offsets` (partition -> fetch offset) of `topic`, in session `(id, epoch)`.
fn session_fetch(topic: &str, id: i32, epoch: i32, offsets: &[(i32, i64)], forget: &[i32]) -> Request {
    Request::Fetch(FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        session_id: id,
        session_epoch: epoch,
        topics: if offsets.is_empty() {
            Vec::new()
        } else {
            vec![FetchRequestTopic {
                topic: topic.into(),
                topic_id: Default::default(),
                partitions: offsets
                    .iter()
                    .map(|&(partition, fetch_offset)| FetchRequestPartition {
                        partition,
                        current_leader_epoch: -1,
                        fetch_offset,
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    })
                    .collect(),
            }]
        },
        forgotten_topics_data: if forget.is_empty() {
            Vec::new()
        } else {
            vec![sluice_protocol::messages::FetchRequestForgottenTopic {
                topic: topic.into(),
                partitions: forget.to_vec(),
                ..Default::default()
            }]
        },
        ..Default::default()
    })
}

#[test]
fn an_incremental_fetch_session_answers_only_the_partitions_with_news() {
    // KIP-227 as a Java consumer (or a follower) uses it: a full fetch opens the session, later
    // fetches list only what moved and are answered with only the partitions that have records
    // or moved offsets; a stale epoch or unknown session is refused, and the fetcher starts over.
    let s = Sluiced::start(&[]);
    let mut c = s.connect();
    create_topic(&mut c, "s", 3);
    let call = |c: &mut Client, r| match c.call(ApiKey::Fetch, 12, r) {
        Some(Response::Fetch(r)) => r,
        other => panic!("no fetch answer: {other:?}"),
    };
    let parts = |r: &FetchResponse| -> Vec<i32> {
        r.responses.iter().flat_map(|t| t.partitions.iter().map(|p| p.partition_index)).collect()
    };
    // The partitions are served once their roles are applied: wait for a clean full answer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let full = loop {
        let r = call(&mut c, session_fetch("s", 0, 0, &[(0, 0), (1, 0), (2, 0)], &[]));
        let clean = r.responses.iter().flat_map(|t| &t.partitions).all(|p| p.error_code == 0);
        if clean || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(full.error_code, 0);
    assert_ne!(full.session_id, 0, "a session was opened");
    assert_eq!(parts(&full), vec![0, 1, 2], "a full fetch answers every partition");
    let id = full.session_id;

    let quiet = call(&mut c, session_fetch("s", id, 1, &[], &[]));
    assert_eq!((quiet.error_code, quiet.session_id), (0, id));
    assert!(parts(&quiet).is_empty(), "nothing changed, nothing answered: {quiet:?}");

    let mut batch_for = |partition: i32| {
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![ProduceRequestTopic {
                name: "s".into(),
                partition_data: vec![ProduceRequestPartition { index: partition, records: Some(batch(&["news"])) }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let Some(Response::Produce(r)) = c.call(ApiKey::Produce, 9, Request::Produce(req)) else { panic!() };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    };
    batch_for(1);
    let news = call(&mut c, session_fetch("s", id, 2, &[], &[]));
    assert_eq!(parts(&news), vec![1], "only the partition with a new record: {news:?}");
    assert_eq!(values_in(news.responses[0].partitions[0].records.as_ref().expect("records")), vec!["news"]);

    // The fetcher moves on past it and drops partition 2.
    let moved = call(&mut c, session_fetch("s", id, 3, &[(1, 1)], &[2]));
    assert!(parts(&moved).is_empty(), "{moved:?}");
    let stale = call(&mut c, session_fetch("s", id, 3, &[], &[]));
    assert_eq!(stale.error_code, 71, "INVALID_FETCH_SESSION_EPOCH for a repeated epoch");
    let unknown = call(&mut c, session_fetch("s", id + 1000, 1, &[], &[]));
    assert_eq!(unknown.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");
    // Closing it: a full fetch outside any session.
    let closed = call(&mut c, session_fetch("s", id, -1, &[(0, 0)], &[]));
    assert_eq!((closed.error_code, closed.session_id, parts(&closed)), (0, 0, vec![0]));
    let gone = call(&mut c, session_fetch("s", id, 4, &[], &[]));
    assert_eq!(gone.error_code, 70, "the closed session is gone");
}

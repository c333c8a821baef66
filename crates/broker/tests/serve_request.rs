//! Input is never an assertion, on stable Rust: the in-process broker of
//! `sluice_broker::fuzzing` (the harness the `serve_request` fuzz target drives on nightly)
//! serves a bounded, deterministic set of frames: every golden frame captured from real clients,
//! a default request of every API at every version, requests with the longest strings their
//! length fields allow (a 32,767-byte client id on JoinGroup v2 once panicked the encoder), and
//! seeded mutants of these (bit flips, truncations, length fields set to extremes, trailing
//! bytes). None may panic, hang past the harness's bound, or answer with a frame that is not a
//! well-formed response to the request's correlation id at the request's version.

use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use sluice_broker::fuzzing::{Served, serve_one};
use sluice_broker::server::Refusal;
use sluice_protocol::api::{ApiKey, Request, RequestHeader, Response, decode_request, encode_request};
use sluice_protocol::error_code::ErrorCode;
use sluice_protocol::messages::*;

/// Seeds the mutations: a failure names its input's index, which this makes replayable.
const SEED: u64 = 0x5eed_0017_0013;

/// The longest string an i16 length field carries.
const MAX_STRING_BYTES: usize = i16::MAX as usize;

/// Mutants made of each golden frame and each default request.
const MUTANTS_PER_FRAME: usize = 16;

/// The most inputs the test serves (it must stay fast in a debug build).
const MAX_INPUTS: usize = 6_000;

#[test]
fn no_input_panics_the_broker_and_every_answer_is_a_well_formed_response() {
    let started = Instant::now();
    let golden = golden_frames();
    assert!(golden.len() >= 15, "golden frames present: {}", golden.len());
    let defaults = default_requests();
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    inputs.extend(golden.iter().cloned());
    inputs.extend(defaults.iter().cloned());
    inputs.extend(longest_strings());
    let mut rng = SplitMix64(SEED);
    for (name, frame) in golden.iter().chain(&defaults) {
        for (i, mutant) in mutants(frame, &mut rng).into_iter().enumerate() {
            inputs.push((format!("{name} mutant {i}"), mutant));
        }
    }
    assert!(inputs.len() <= MAX_INPUTS, "{} inputs exceed the bound of {MAX_INPUTS}", inputs.len());

    let mut tally = Tally::default();
    for (index, (name, input)) in inputs.iter().enumerate() {
        let served = std::panic::catch_unwind(|| serve_one(input)).unwrap_or_else(|panic| {
            let hex: String = input.iter().take(256).map(|b| format!("{b:02x}")).collect();
            eprintln!("input {index} ({name}, {} bytes) panicked; first bytes: {hex}", input.len());
            std::panic::resume_unwind(panic)
        });
        tally.count(name, input, &served);
    }
    eprintln!("{} inputs in {:?}: {tally:?}", inputs.len(), started.elapsed());
    assert!(tally.timed_out.is_empty(), "calls abandoned after the harness's bound: {:?}", tally.timed_out);
    // The set is not all noise: most seeds are answered, many mutants refused.
    assert!(tally.responses >= golden.len() + defaults.len() / 2, "{tally:?}");
    assert!(tally.undecodable >= inputs.len() / 10, "{tally:?}");
}

/// The fuzz target's first finding: a CreateTopics of 2^31 - 1 partitions (or a CreatePartitions
/// to that count) built the whole assignment in memory. Counts over 10,000 are refused with
/// POLICY_VIOLATION, as Kafka's controller refuses them, at every version.
#[test]
fn partition_counts_over_the_limit_are_refused_with_policy_violation() {
    let serve = |name: &str, input: Vec<u8>| match serve_one(&input) {
        Served::Response { correlation_id, frame } => check_response(name, &input, correlation_id, &frame),
        other => panic!("{name}: {other:?}"),
    };
    let create = |name: &str, num_partitions: i32| {
        Request::CreateTopics(CreateTopicsRequest {
            topics: vec![CreateTopicsRequestTopic {
                name: name.into(),
                num_partitions,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 1_000,
            validate_only: false,
        })
    };
    let (lo, hi) = ApiKey::CreateTopics.versions();
    for version in lo..=hi {
        let name = format!("CreateTopics v{version} of i32::MAX partitions");
        let Response::CreateTopics(r) = serve(&name, frame("c", version, 7, &create("fuzz-huge", i32::MAX))) else {
            panic!("{name}: not a CreateTopics response")
        };
        assert_eq!(r.topics[0].error_code, ErrorCode::PolicyViolation.code(), "{name}: {r:?}");
    }
    let Response::CreateTopics(r) = serve("CreateTopics fuzz-grow", frame("c", hi, 8, &create("fuzz-grow", 1))) else {
        panic!("not a CreateTopics response")
    };
    assert_eq!(r.topics[0].error_code, 0, "{r:?}");
    let grow = Request::CreatePartitions(CreatePartitionsRequest {
        topics: vec![CreatePartitionsRequestTopic { name: "fuzz-grow".into(), count: i32::MAX, assignments: None }],
        timeout_ms: 1_000,
        validate_only: false,
    });
    let (lo, hi) = ApiKey::CreatePartitions.versions();
    for version in lo..=hi {
        let name = format!("CreatePartitions v{version} to i32::MAX");
        let Response::CreatePartitions(r) = serve(&name, frame("c", version, 9, &grow)) else {
            panic!("{name}: not a CreatePartitions response")
        };
        assert_eq!(r.results[0].error_code, ErrorCode::PolicyViolation.code(), "{name}: {r:?}");
    }
}

/// What the inputs got.
#[derive(Debug, Default)]
struct Tally {
    responses: usize,
    silent: usize,
    undecodable: usize,
    unencodable: Vec<String>,
    timed_out: Vec<String>,
}

impl Tally {
    /// Counts one outcome; a response must decode as the answer to `input`.
    fn count(&mut self, name: &str, input: &[u8], served: &Served) {
        match served {
            Served::Response { correlation_id, frame } => {
                self.responses += 1;
                check_response(name, input, *correlation_id, frame);
            }
            Served::Silent => self.silent += 1,
            Served::Closed(Refusal::Undecodable(_)) => self.undecodable += 1,
            Served::Closed(Refusal::Unencodable { api, version, error }) => {
                self.unencodable.push(format!("{name}: {api} v{version}: {error}"));
            }
            Served::TimedOut => self.timed_out.push(name.to_string()),
        }
    }
}

/// A response frame is the size prefix (checked by the harness), the correlation id, the
/// header's tagged fields in flexible versions but ApiVersions', and a body that decodes at
/// the request's version with nothing left over. An undecodable request is answered only by
/// the ApiVersions v0 fallback.
fn check_response(name: &str, input: &[u8], correlation_id: i32, frame: &[u8]) -> Response {
    let (key, version) = match decode_request(Bytes::copy_from_slice(input)) {
        Ok((header, _)) => {
            assert_eq!(correlation_id, header.correlation_id, "{name}: correlation id");
            (ApiKey::from_i16(header.api_key).expect("a decoded request has a known key"), header.api_version)
        }
        Err(failure) => {
            let header = failure.header.unwrap_or_else(|| panic!("{name}: a headerless frame was answered"));
            assert_eq!(
                header.api_key,
                ApiKey::ApiVersions as i16,
                "{name}: only ApiVersions answers an undecodable request"
            );
            (ApiKey::ApiVersions, 0)
        }
    };
    let mut body = Bytes::copy_from_slice(&frame[8..]);
    if key.is_flexible(version) && key != ApiKey::ApiVersions {
        sluice_protocol::codec::skip_tagged_fields(&mut body)
            .unwrap_or_else(|e| panic!("{name}: response header's tagged fields: {e}"));
    }
    let decoded = Response::decode(key, version, &mut body)
        .unwrap_or_else(|e| panic!("{name}: the {} v{version} response does not decode: {e}", key.name()));
    assert!(body.is_empty(), "{name}: {} bytes left after the {} v{version} response", body.len(), key.name());
    decoded
}

/// The golden frames (`crates/protocol/tests/golden/<client>/api<key>-v<version>.hex`),
/// CreateTopics first so that the produces and fetches after them find their topics.
fn golden_frames() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/golden");
    let mut out = Vec::new();
    for client in std::fs::read_dir(&root).expect("golden dir") {
        let client = client.expect("entry").path();
        for file in std::fs::read_dir(&client).expect("client dir") {
            let path = file.expect("entry").path();
            let hex = std::fs::read_to_string(&path).expect("read");
            let hex = hex.trim();
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
            let name = format!(
                "golden {}/{}",
                client.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            );
            out.push((name, bytes));
        }
    }
    out.sort_by_key(|(name, _)| (!name.ends_with("api19-v3.hex") && !name.ends_with("api19-v4.hex"), name.clone()));
    out
}

/// A frame (without its size prefix) of `request` at `version`.
fn frame(client_id: &str, version: i16, correlation_id: i32, request: &Request) -> Vec<u8> {
    let header = RequestHeader {
        api_key: request.api_key() as i16,
        api_version: version,
        correlation_id,
        client_id: Some(client_id.to_string()),
    };
    encode_request(&header, request).expect("a test request fits its length fields")[4..].to_vec()
}

/// The default request of every API at every version this broker decodes.
fn default_requests() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for &key in ApiKey::ALL {
        let (lo, hi) = key.versions();
        for version in lo..=hi {
            let correlation_id = out.len() as i32;
            out.push((
                format!("default {} v{version}", key.name()),
                frame("fuzz-test", version, correlation_id, &default_request(key)),
            ));
        }
    }
    out
}

/// Requests carrying the longest strings their length fields allow, where the broker echoes
/// them or builds a longer one from them (member ids from the client id, error messages from
/// the topic name): the client id of every API's newest and oldest version, JoinGroup's ids
/// at every version, CreateTopics', Metadata's and DescribeConfigs' names.
fn longest_strings() -> Vec<(String, Vec<u8>)> {
    let long = "x".repeat(MAX_STRING_BYTES);
    let mut out = Vec::new();
    for &key in ApiKey::ALL {
        let (lo, hi) = key.versions();
        for version in [lo, hi] {
            out.push((
                format!("longest client id {} v{version}", key.name()),
                frame(&long, version, 1, &default_request(key)),
            ));
        }
    }
    let (lo, hi) = ApiKey::JoinGroup.versions();
    for version in lo..=hi {
        let join = |member_id: &str, instance: Option<&str>| {
            Request::JoinGroup(JoinGroupRequest {
                group_id: "fuzz-group".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 10_000,
                member_id: member_id.into(),
                group_instance_id: instance.map(str::to_string),
                protocol_type: "consumer".into(),
                protocols: vec![JoinGroupRequestProtocol { name: "range".into(), metadata: Bytes::new() }],
                reason: None,
            })
        };
        out.push((format!("JoinGroup v{version} longest client id"), frame(&long, version, 2, &join("", None))));
        out.push((format!("JoinGroup v{version} longest member id"), frame("c", version, 3, &join(&long, None))));
        out.push((format!("JoinGroup v{version} longest instance id"), frame("c", version, 4, &join("", Some(&long)))));
    }
    let create = Request::CreateTopics(CreateTopicsRequest {
        topics: vec![CreateTopicsRequestTopic {
            name: long.clone(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 1_000,
        validate_only: false,
    });
    let metadata = Request::Metadata(MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(long.clone()), ..Default::default() }]),
        allow_auto_topic_creation: true,
        ..Default::default()
    });
    let describe = Request::DescribeConfigs(DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: long.clone(),
            configuration_keys: Some(vec![long.clone()]),
        }],
        ..Default::default()
    });
    for request in [create, metadata, describe] {
        let (lo, hi) = request.api_key().versions();
        for version in lo..=hi {
            out.push((
                format!("{} v{version} longest name", request.api_key().name()),
                frame("c", version, 5, &request),
            ));
        }
    }
    out
}

/// Seeded mutants of `frame`: single bit flips, truncations, a length-sized field set to an
/// extreme value, trailing bytes.
fn mutants(frame: &[u8], rng: &mut SplitMix64) -> Vec<Vec<u8>> {
    /// Extreme values of an i16, an i32 and an unsigned varint (compact lengths).
    const EXTREMES: &[&[u8]] = &[
        &[0x7f, 0xff],
        &[0xff, 0xff],
        &[0x80, 0x00],
        &[0x7f, 0xff, 0xff, 0xff],
        &[0xff, 0xff, 0xff, 0xff],
        &[0x80, 0x00, 0x00, 0x00],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    let mut out = Vec::with_capacity(MUTANTS_PER_FRAME);
    let len = frame.len();
    for _ in 0..5 {
        let mut m = frame.to_vec();
        let bit = rng.below(len * 8);
        m[bit / 8] ^= 1 << (bit % 8);
        out.push(m);
    }
    for cut in [len - 1, len / 2, rng.below(len)] {
        out.push(frame[..cut].to_vec());
    }
    for _ in 0..6 {
        // From byte 8: the api key and version stay, so the mutant reaches its decoder.
        let mut m = frame.to_vec();
        let value = EXTREMES[rng.below(EXTREMES.len())];
        let at = 8 + rng.below(len.saturating_sub(8).max(1));
        for (i, b) in value.iter().enumerate() {
            if let Some(slot) = m.get_mut(at + i) {
                *slot = *b;
            }
        }
        out.push(m);
    }
    let mut m = frame.to_vec();
    m.extend((0..16).map(|_| rng.below(256) as u8));
    out.push(m);
    let mut m = frame.to_vec();
    m.extend(std::iter::repeat_n(0xff, 8));
    out.push(m);
    assert_eq!(out.len(), MUTANTS_PER_FRAME);
    out
}

/// SplitMix64: a seeded generator, so a failing input can be replayed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The default body of `key`'s request. No wildcard: a new API must be added here.
fn default_request(key: ApiKey) -> Request {
    match key {
        ApiKey::Produce => Request::Produce(Default::default()),
        ApiKey::Fetch => Request::Fetch(Default::default()),
        ApiKey::ListOffsets => Request::ListOffsets(Default::default()),
        ApiKey::Metadata => Request::Metadata(Default::default()),
        ApiKey::OffsetCommit => Request::OffsetCommit(Default::default()),
        ApiKey::OffsetFetch => Request::OffsetFetch(Default::default()),
        ApiKey::FindCoordinator => Request::FindCoordinator(Default::default()),
        ApiKey::JoinGroup => Request::JoinGroup(Default::default()),
        ApiKey::Heartbeat => Request::Heartbeat(Default::default()),
        ApiKey::LeaveGroup => Request::LeaveGroup(Default::default()),
        ApiKey::SyncGroup => Request::SyncGroup(Default::default()),
        ApiKey::DescribeGroups => Request::DescribeGroups(Default::default()),
        ApiKey::ListGroups => Request::ListGroups(Default::default()),
        ApiKey::SaslHandshake => Request::SaslHandshake(Default::default()),
        ApiKey::SaslAuthenticate => Request::SaslAuthenticate(Default::default()),
        ApiKey::DescribeUserScramCredentials => Request::DescribeUserScramCredentials(Default::default()),
        ApiKey::AlterUserScramCredentials => Request::AlterUserScramCredentials(Default::default()),
        ApiKey::ApiVersions => Request::ApiVersions(Default::default()),
        ApiKey::CreateTopics => Request::CreateTopics(Default::default()),
        ApiKey::DeleteTopics => Request::DeleteTopics(Default::default()),
        ApiKey::DeleteRecords => Request::DeleteRecords(Default::default()),
        ApiKey::InitProducerId => Request::InitProducerId(Default::default()),
        ApiKey::DeleteGroups => Request::DeleteGroups(Default::default()),
        ApiKey::OffsetDelete => Request::OffsetDelete(Default::default()),
        ApiKey::OffsetForLeaderEpoch => Request::OffsetForLeaderEpoch(Default::default()),
        ApiKey::DescribeConfigs => Request::DescribeConfigs(Default::default()),
        ApiKey::AlterConfigs => Request::AlterConfigs(Default::default()),
        ApiKey::CreatePartitions => Request::CreatePartitions(Default::default()),
        ApiKey::IncrementalAlterConfigs => Request::IncrementalAlterConfigs(Default::default()),
        ApiKey::AlterPartitionReassignments => Request::AlterPartitionReassignments(Default::default()),
        ApiKey::ListPartitionReassignments => Request::ListPartitionReassignments(Default::default()),
        ApiKey::DescribeAcls => Request::DescribeAcls(Default::default()),
        ApiKey::CreateAcls => Request::CreateAcls(Default::default()),
        ApiKey::DeleteAcls => Request::DeleteAcls(Default::default()),
        ApiKey::DescribeCluster => Request::DescribeCluster(Default::default()),
        ApiKey::AddPartitionsToTxn => Request::AddPartitionsToTxn(Default::default()),
        ApiKey::AddOffsetsToTxn => Request::AddOffsetsToTxn(Default::default()),
        ApiKey::EndTxn => Request::EndTxn(Default::default()),
        ApiKey::WriteTxnMarkers => Request::WriteTxnMarkers(Default::default()),
        ApiKey::TxnOffsetCommit => Request::TxnOffsetCommit(Default::default()),
        ApiKey::DescribeProducers => Request::DescribeProducers(Default::default()),
        ApiKey::ElectLeaders => Request::ElectLeaders(Default::default()),
        ApiKey::DescribeTopicPartitions => Request::DescribeTopicPartitions(Default::default()),
        ApiKey::ConsumerGroupHeartbeat => Request::ConsumerGroupHeartbeat(Default::default()),
        ApiKey::ConsumerGroupDescribe => Request::ConsumerGroupDescribe(Default::default()),
        ApiKey::GetTelemetrySubscriptions => Request::GetTelemetrySubscriptions(Default::default()),
        ApiKey::PushTelemetry => Request::PushTelemetry(Default::default()),
        ApiKey::DescribeClientQuotas => Request::DescribeClientQuotas(Default::default()),
        ApiKey::AlterClientQuotas => Request::AlterClientQuotas(Default::default()),
        ApiKey::DescribeLogDirs => Request::DescribeLogDirs(Default::default()),
        ApiKey::AlterReplicaLogDirs => Request::AlterReplicaLogDirs(Default::default()),
        ApiKey::DescribeTransactions => Request::DescribeTransactions(Default::default()),
        ApiKey::ListTransactions => Request::ListTransactions(Default::default()),
    }
}

//! The API registry: every API this crate implements, its version range and first flexible
//! version, and the typed request and response enums. `ApiVersions` answers exactly this table.

use bytes::{Bytes, BytesMut};

use crate::codec::{Decode, DecodeError, DecodeResult, Encode, EncodeError, Version};
use crate::messages::*;

macro_rules! apis {
    ($( $variant:ident = $key:literal => $req:ident, $resp:ident, $min:literal ..= $max:literal, flexible $flex:literal; )*) => {
        /// An API key this crate implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i16)]
        pub enum ApiKey { $( $variant = $key, )* }

        impl ApiKey {
            pub const ALL: &'static [ApiKey] = &[ $( ApiKey::$variant, )* ];

            pub fn from_i16(key: i16) -> Option<ApiKey> {
                match key { $( $key => Some(ApiKey::$variant), )* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $( ApiKey::$variant => stringify!($variant), )* }
            }
            /// The inclusive version range implemented.
            pub fn versions(self) -> (i16, i16) {
                match self { $( ApiKey::$variant => ($min, $max), )* }
            }
            /// Whether `version` uses the flexible encoding (KIP-482).
            pub fn is_flexible(self, version: i16) -> bool {
                match self { $( ApiKey::$variant => version >= $flex, )* }
            }
            pub fn supports(self, version: i16) -> bool {
                let (lo, hi) = self.versions();
                lo <= version && version <= hi
            }
        }

        /// A decoded request body.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request { $( $variant($req), )* }

        impl Request {
            pub fn api_key(&self) -> ApiKey {
                match self { $( Request::$variant(_) => ApiKey::$variant, )* }
            }
            /// Decodes the body of `key` at `version` (already checked as supported).
            pub fn decode(key: ApiKey, version: i16, buf: &mut Bytes) -> DecodeResult<Request> {
                let v = Version::new(version, key.is_flexible(version));
                Ok(match key { $( ApiKey::$variant => Request::$variant(<$req>::decode(buf, v)?), )* })
            }
            pub fn encode(&self, version: i16, buf: &mut BytesMut) {
                let v = Version::new(version, self.api_key().is_flexible(version));
                match self { $( Request::$variant(r) => r.encode(buf, v), )* }
            }
        }

        /// A response body.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response { $( $variant($resp), )* }

        impl Response {
            pub fn api_key(&self) -> ApiKey {
                match self { $( Response::$variant(_) => ApiKey::$variant, )* }
            }
            pub fn encode(&self, version: i16, buf: &mut BytesMut) {
                let v = Version::new(version, self.api_key().is_flexible(version));
                match self { $( Response::$variant(r) => r.encode(buf, v), )* }
            }
            pub fn decode(key: ApiKey, version: i16, buf: &mut Bytes) -> DecodeResult<Response> {
                let v = Version::new(version, key.is_flexible(version));
                Ok(match key { $( ApiKey::$variant => Response::$variant(<$resp>::decode(buf, v)?), )* })
            }
        }
    };
}

// Version ranges: from the lowest Apache Kafka 3.9 accepts (version 0 for every API here, the
// versions Kafka 4.0 dropped with KIP-896 included: old clients such as Sarama before 1.41 still
// send OffsetCommit v1, and Produce v0-2 and Fetch v0-3, which carry the message formats 0 and 1,
// converted by `crate::legacy`); up to what current librdkafka, kafka-python and the Java client
// 3.x/4.x negotiate, capped where a newer version needs something not built yet (the
// transaction APIs of KIP-890's second part and KIP-939, OffsetCommit/OffsetFetch v10's topic
// ids).
apis! {
    Produce = 0 => ProduceRequest, ProduceResponse, 0..=13, flexible 9;
    Fetch = 1 => FetchRequest, FetchResponse, 0..=18, flexible 12;
    ListOffsets = 2 => ListOffsetsRequest, ListOffsetsResponse, 0..=10, flexible 6;
    Metadata = 3 => MetadataRequest, MetadataResponse, 0..=13, flexible 9;
    OffsetCommit = 8 => OffsetCommitRequest, OffsetCommitResponse, 0..=9, flexible 8;
    OffsetFetch = 9 => OffsetFetchRequest, OffsetFetchResponse, 0..=9, flexible 6;
    FindCoordinator = 10 => FindCoordinatorRequest, FindCoordinatorResponse, 0..=6, flexible 3;
    JoinGroup = 11 => JoinGroupRequest, JoinGroupResponse, 0..=9, flexible 6;
    Heartbeat = 12 => HeartbeatRequest, HeartbeatResponse, 0..=4, flexible 4;
    LeaveGroup = 13 => LeaveGroupRequest, LeaveGroupResponse, 0..=5, flexible 4;
    SyncGroup = 14 => SyncGroupRequest, SyncGroupResponse, 0..=5, flexible 4;
    DescribeGroups = 15 => DescribeGroupsRequest, DescribeGroupsResponse, 0..=6, flexible 5;
    ListGroups = 16 => ListGroupsRequest, ListGroupsResponse, 0..=5, flexible 3;
    SaslHandshake = 17 => SaslHandshakeRequest, SaslHandshakeResponse, 0..=1, flexible 99;
    AlterReplicaLogDirs = 34 => AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, 0..=2, flexible 2;
    DescribeLogDirs = 35 => DescribeLogDirsRequest, DescribeLogDirsResponse, 0..=4, flexible 2;
    SaslAuthenticate = 36 => SaslAuthenticateRequest, SaslAuthenticateResponse, 0..=2, flexible 2;
    ApiVersions = 18 => ApiVersionsRequest, ApiVersionsResponse, 0..=4, flexible 3;
    CreateTopics = 19 => CreateTopicsRequest, CreateTopicsResponse, 0..=7, flexible 5;
    DeleteTopics = 20 => DeleteTopicsRequest, DeleteTopicsResponse, 0..=6, flexible 4;
    DeleteRecords = 21 => DeleteRecordsRequest, DeleteRecordsResponse, 0..=2, flexible 2;
    InitProducerId = 22 => InitProducerIdRequest, InitProducerIdResponse, 0..=5, flexible 2;
    DeleteGroups = 42 => DeleteGroupsRequest, DeleteGroupsResponse, 0..=2, flexible 2;
    ElectLeaders = 43 => ElectLeadersRequest, ElectLeadersResponse, 0..=2, flexible 2;
    OffsetDelete = 47 => OffsetDeleteRequest, OffsetDeleteResponse, 0..=0, flexible 99;
    OffsetForLeaderEpoch = 23 => OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, 0..=4, flexible 4;
    DescribeConfigs = 32 => DescribeConfigsRequest, DescribeConfigsResponse, 0..=4, flexible 4;
    AlterConfigs = 33 => AlterConfigsRequest, AlterConfigsResponse, 0..=2, flexible 2;
    CreatePartitions = 37 => CreatePartitionsRequest, CreatePartitionsResponse, 0..=3, flexible 2;
    IncrementalAlterConfigs = 44 => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, 0..=1, flexible 1;
    AlterPartitionReassignments = 45 => AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, 0..=1, flexible 0;
    ListPartitionReassignments = 46 => ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, 0..=0, flexible 0;
    DescribeClientQuotas = 48 => DescribeClientQuotasRequest, DescribeClientQuotasResponse, 0..=1, flexible 1;
    AlterClientQuotas = 49 => AlterClientQuotasRequest, AlterClientQuotasResponse, 0..=1, flexible 1;
    DescribeUserScramCredentials = 50 => DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, 0..=0, flexible 0;
    AlterUserScramCredentials = 51 => AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, 0..=0, flexible 0;
    DescribeAcls = 29 => DescribeAclsRequest, DescribeAclsResponse, 0..=3, flexible 2;
    CreateAcls = 30 => CreateAclsRequest, CreateAclsResponse, 0..=3, flexible 2;
    DeleteAcls = 31 => DeleteAclsRequest, DeleteAclsResponse, 0..=3, flexible 2;
    DescribeCluster = 60 => DescribeClusterRequest, DescribeClusterResponse, 0..=2, flexible 0;
    // Transactions (KIP-98), with the versions that tell the broker the client handles
    // TRANSACTION_ABORTABLE (KIP-890/KIP-1050: InitProducerId 5, AddPartitionsToTxn 5,
    // AddOffsetsToTxn 4, EndTxn 4, TxnOffsetCommit 4); capped below those of its second part's
    // epoch bump per transaction (EndTxn 5, TxnOffsetCommit 5: `transaction.version` 2, which
    // this broker does not advertise) and of KIP-939 (InitProducerId 6).
    AddPartitionsToTxn = 24 => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, 0..=5, flexible 3;
    AddOffsetsToTxn = 25 => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, 0..=4, flexible 3;
    EndTxn = 26 => EndTxnRequest, EndTxnResponse, 0..=4, flexible 3;
    WriteTxnMarkers = 27 => WriteTxnMarkersRequest, WriteTxnMarkersResponse, 0..=1, flexible 1;
    TxnOffsetCommit = 28 => TxnOffsetCommitRequest, TxnOffsetCommitResponse, 0..=4, flexible 3;
    DescribeProducers = 61 => DescribeProducersRequest, DescribeProducersResponse, 0..=0, flexible 0;
    DescribeTopicPartitions = 75 => DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, 0..=0, flexible 0;
    GetTelemetrySubscriptions = 71 => GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, 0..=0, flexible 0;
    PushTelemetry = 72 => PushTelemetryRequest, PushTelemetryResponse, 0..=0, flexible 0;
    // The consumer group protocol of KIP-848.
    ConsumerGroupHeartbeat = 68 => ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, 0..=1, flexible 0;
    ConsumerGroupDescribe = 69 => ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, 0..=1, flexible 0;
    DescribeTransactions = 65 => DescribeTransactionsRequest, DescribeTransactionsResponse, 0..=0, flexible 0;
    ListTransactions = 66 => ListTransactionsRequest, ListTransactionsResponse, 0..=2, flexible 0;
}

impl Response {
    /// Raises the response's `throttle_time_ms` to `ms` (client quotas, KIP-219); the responses
    /// without the field (SaslHandshake, SaslAuthenticate, WriteTxnMarkers) are left as they are.
    pub fn throttle(&mut self, ms: i32) {
        match self {
            Response::Produce(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::Fetch(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ListOffsets(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::Metadata(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::OffsetCommit(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::OffsetFetch(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::FindCoordinator(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::JoinGroup(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::Heartbeat(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::LeaveGroup(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::SyncGroup(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeGroups(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ListGroups(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeLogDirs(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ApiVersions(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::CreateTopics(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DeleteTopics(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DeleteRecords(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::InitProducerId(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DeleteGroups(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ElectLeaders(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::OffsetDelete(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::OffsetForLeaderEpoch(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeConfigs(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::AlterConfigs(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::CreatePartitions(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::IncrementalAlterConfigs(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::AlterPartitionReassignments(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ListPartitionReassignments(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeClientQuotas(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::AlterClientQuotas(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeUserScramCredentials(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::AlterUserScramCredentials(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeAcls(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::CreateAcls(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DeleteAcls(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeCluster(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::AddPartitionsToTxn(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::AddOffsetsToTxn(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::EndTxn(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::TxnOffsetCommit(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeProducers(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeTransactions(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ListTransactions(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::GetTelemetrySubscriptions(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::PushTelemetry(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::DescribeTopicPartitions(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::AlterReplicaLogDirs(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ConsumerGroupHeartbeat(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::ConsumerGroupDescribe(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),
            Response::SaslHandshake(_) | Response::SaslAuthenticate(_) | Response::WriteTxnMarkers(_) => {}
        }
    }
}

/// The `api_keys` list of an ApiVersions response: every API of the registry with its versions.
pub fn supported_api_versions() -> Vec<ApiVersion> {
    ApiKey::ALL
        .iter()
        .map(|&k| {
            let (min_version, max_version) = k.versions();
            ApiVersion { api_key: k as i16, min_version, max_version }
        })
        .collect()
}

/// Request header, v0–v2 (Kafka's `RequestHeader.json`).
///
/// ```text
/// v0: api_key i16 | api_version i16 | correlation_id i32
/// v1: + client_id nullable string (always the classic i16-length encoding)
/// v2: + tagged fields (for flexible request versions)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
}

/// Why a request frame could not be turned into a [`Request`]. Where the header was readable,
/// `correlation_id` lets the broker answer (Kafka answers an unsupported ApiVersions version
/// with an error response; anything else undecodable closes the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDecodeFailure {
    pub header: Option<RequestHeader>,
    pub error: DecodeError,
}

impl RequestHeader {
    /// Decodes the header at the front of `frame` (the bytes after the size prefix).
    pub fn decode(frame: &mut Bytes) -> DecodeResult<RequestHeader> {
        let classic = Version::new(1, false);
        let api_key = i16::decode(frame, classic)?;
        let api_version = i16::decode(frame, classic)?;
        let correlation_id = i32::decode(frame, classic)?;
        let client_id = Option::<String>::decode(frame, classic)?;
        let header = RequestHeader { api_key, api_version, correlation_id, client_id };
        if let Some(key) = ApiKey::from_i16(api_key)
            && key.supports(api_version)
            && key.is_flexible(api_version)
        {
            crate::codec::skip_tagged_fields(frame)?;
        }
        Ok(header)
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        let classic = Version::new(1, false);
        self.api_key.encode(buf, classic);
        self.api_version.encode(buf, classic);
        self.correlation_id.encode(buf, classic);
        self.client_id.encode(buf, classic);
        if let Some(key) = ApiKey::from_i16(self.api_key)
            && key.is_flexible(self.api_version)
        {
            crate::codec::write_uvarint(buf, 0);
        }
    }
}

/// The most array elements one request may hold, over all its arrays. An element is as little
/// as a byte or two on the wire but a few dozen to a few hundred bytes decoded, so without this a
/// frame of `socket.request.max.bytes` could decode to dozens of times its size; with it, a
/// decoded request's size has a fixed ceiling whatever the frame. Real requests stay far below
/// it: a Fetch or OffsetCommit of 10,000 partitions holds about 10,000 elements, a CreateTopics
/// of 10,000 partitions with three replicas each about 40,000.
pub const MAX_REQUEST_ELEMENTS: usize = 1_000_000;

/// Decodes a whole request frame (without its size prefix): header, then body. Bytes after the
/// body are ignored, as Apache Kafka's broker ignores them: librdkafka 2.6's Metadata v12
/// request, for one, carries three.
pub fn decode_request(mut frame: Bytes) -> Result<(RequestHeader, Request), RequestDecodeFailure> {
    let header = RequestHeader::decode(&mut frame).map_err(|error| RequestDecodeFailure { header: None, error })?;
    let fail = |error| RequestDecodeFailure { header: Some(header.clone()), error };
    let key = ApiKey::from_i16(header.api_key).ok_or_else(|| fail(DecodeError::UnknownApiKey(header.api_key)))?;
    if !key.supports(header.api_version) {
        return Err(fail(DecodeError::UnsupportedVersion { api: key.name(), version: header.api_version }));
    }
    let request = crate::codec::with_element_budget(MAX_REQUEST_ELEMENTS, || {
        Request::decode(key, header.api_version, &mut frame)
    })
    .map_err(fail)?;
    Ok((header, request))
}

/// Encodes a response frame, size prefix included. The response header is v1 (with tagged
/// fields) for flexible versions, except for ApiVersions, whose header is always v0.
pub fn encode_response(correlation_id: i32, version: i16, response: &Response) -> Result<BytesMut, EncodeError> {
    let mut buf = crate::codec::checked(|| encode_response_body(correlation_id, version, response))?;
    set_frame_size(&mut buf, "response")?;
    Ok(buf)
}

/// Encodes a response frame with its file-backed record sets left out: the frame's own bytes
/// (size prefix included, counting the file bytes) and where the file bytes go
/// ([`crate::record_set`]). The broker sends such a frame with `sendfile`.
pub fn encode_response_spliced(
    correlation_id: i32,
    version: i16,
    response: &Response,
) -> Result<(BytesMut, Vec<crate::record_set::Splice>), EncodeError> {
    let (buf, splices) = crate::record_set::encode_spliced(|| {
        crate::codec::checked(|| encode_response_body(correlation_id, version, response))
    });
    let mut buf = buf?;
    let len = buf.len() - 4 + crate::record_set::spliced_len(&splices);
    let size = i32::try_from(len).map_err(|_| crate::record_set::frame_too_large(len))?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok((buf, splices))
}

fn encode_response_body(correlation_id: i32, version: i16, response: &Response) -> BytesMut {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&correlation_id.to_be_bytes());
    let key = response.api_key();
    if key.is_flexible(version) && key != ApiKey::ApiVersions {
        crate::codec::write_uvarint(&mut buf, 0);
    }
    response.encode(version, &mut buf);
    buf
}

/// Encodes a request frame, size prefix included (for clients and tests).
pub fn encode_request(header: &RequestHeader, request: &Request) -> Result<BytesMut, EncodeError> {
    let mut buf = crate::codec::checked(|| {
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(&[0; 4]);
        header.encode(&mut buf);
        request.encode(header.api_version, &mut buf);
        buf
    })?;
    set_frame_size(&mut buf, "request")?;
    Ok(buf)
}

/// Fills in a frame's i32 size prefix (the frame's first four bytes).
fn set_frame_size(buf: &mut BytesMut, what: &'static str) -> Result<(), EncodeError> {
    let len = buf.len() - 4;
    let size = i32::try_from(len).map_err(|_| EncodeError { what, len })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metadata v1 naming `n` empty topics (two bytes each on the wire).
    fn metadata_request_with_topics(n: usize) -> Bytes {
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&3i16.to_be_bytes()); // Metadata
        frame.extend_from_slice(&1i16.to_be_bytes()); // v1
        frame.extend_from_slice(&7i32.to_be_bytes()); // correlation id
        frame.extend_from_slice(&(-1i16).to_be_bytes()); // no client id
        frame.extend_from_slice(&(n as i32).to_be_bytes());
        frame.resize(frame.len() + 2 * n, 0);
        frame.freeze()
    }

    #[test]
    fn a_request_of_more_array_elements_than_the_bound_is_refused() {
        let (_, request) = decode_request(metadata_request_with_topics(1_000)).expect("a thousand topics decode");
        assert!(matches!(request, Request::Metadata(m) if m.topics.as_ref().map(Vec::len) == Some(1_000)));
        let failure = decode_request(metadata_request_with_topics(MAX_REQUEST_ELEMENTS + 1)).expect_err("refused");
        assert_eq!(failure.error, DecodeError::TooManyElements { limit: MAX_REQUEST_ELEMENTS });
        assert!(failure.header.is_some(), "the header is known, for the log");
        // Responses are not counted: a client reads a large cluster's metadata whole.
        decode_request(metadata_request_with_topics(10)).expect("the budget is per request");
    }

    /// ApiVersions v3 request bytes as librdkafka sends them (client software name and version,
    /// compact strings), decoded field by field.
    #[test]
    fn decodes_a_flexible_api_versions_request() {
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&18i16.to_be_bytes());
        frame.extend_from_slice(&3i16.to_be_bytes());
        frame.extend_from_slice(&7i32.to_be_bytes());
        frame.extend_from_slice(&[0, 7]);
        frame.extend_from_slice(b"rdkafka");
        frame.extend_from_slice(&[0]); // header tagged fields
        frame.extend_from_slice(&[11]);
        frame.extend_from_slice(b"librdkafka");
        frame.extend_from_slice(&[6]);
        frame.extend_from_slice(b"2.6.1");
        frame.extend_from_slice(&[0]); // body tagged fields
        let (header, request) = decode_request(frame.freeze()).expect("decodes");
        assert_eq!(header.correlation_id, 7);
        assert_eq!(header.client_id.as_deref(), Some("rdkafka"));
        let Request::ApiVersions(r) = request else { panic!("expected ApiVersions, got {request:?}") };
        assert_eq!(r.client_software_name, "librdkafka");
        assert_eq!(r.client_software_version, "2.6.1");
    }

    /// librdkafka 2.6.1's Metadata v12 request for all topics, captured from the wire: three
    /// bytes follow the body, and the request must still decode.
    #[test]
    fn librdkafka_metadata_v12_with_trailing_bytes_decodes() {
        let hex = "0003000c00000003000772646b61666b610000000000010000";
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
        let (header, request) = decode_request(Bytes::from(bytes)).expect("decodes");
        assert_eq!((header.api_key, header.api_version, header.client_id.as_deref()), (3, 12, Some("rdkafka")));
        let Request::Metadata(m) = request else { panic!("expected Metadata, got {request:?}") };
        assert_eq!(m.topics, None, "all topics");
        assert!(!m.allow_auto_topic_creation);
    }

    /// An OffsetCommit v0 request written byte by byte (Kafka 0.8.1's layout: group, then per
    /// topic and partition an offset and metadata): the fields v0 lacks come out as Kafka's
    /// defaults, so the commit is a standalone one (generation -1, no member) and the offset's
    /// leader epoch is unknown (-1), not epoch 0.
    #[test]
    fn offset_commit_v0_decodes_to_kafkas_defaults() {
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&8i16.to_be_bytes());
        frame.extend_from_slice(&0i16.to_be_bytes());
        frame.extend_from_slice(&1i32.to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
        frame.extend_from_slice(&[0, 1, b'g']); // group "g"
        frame.extend_from_slice(&1i32.to_be_bytes()); // one topic
        frame.extend_from_slice(&[0, 1, b't']);
        frame.extend_from_slice(&1i32.to_be_bytes()); // one partition
        frame.extend_from_slice(&2i32.to_be_bytes());
        frame.extend_from_slice(&42i64.to_be_bytes());
        frame.extend_from_slice(&[0, 1, b'm']);
        let (_, request) = decode_request(frame.freeze()).expect("decodes");
        let Request::OffsetCommit(r) = request else { panic!("expected OffsetCommit, got {request:?}") };
        assert_eq!((r.group_id.as_str(), r.generation_id_or_member_epoch, r.member_id.as_str()), ("g", -1, ""));
        assert_eq!(r.retention_time_ms, -1);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.partition_index, p.committed_offset, p.committed_metadata.as_deref()), (2, 42, Some("m")));
        assert_eq!((p.committed_leader_epoch, p.commit_timestamp), (-1, -1));
    }

    #[test]
    fn unsupported_version_keeps_the_header_for_an_error_answer() {
        let header = RequestHeader { api_key: 18, api_version: 99, correlation_id: 5, client_id: None };
        let mut buf = BytesMut::new();
        header.encode(&mut buf);
        let failure = decode_request(buf.freeze()).expect_err("unsupported");
        assert_eq!(failure.header.map(|h| h.correlation_id), Some(5));
        assert!(matches!(failure.error, DecodeError::UnsupportedVersion { version: 99, .. }));
    }

    #[test]
    fn api_versions_response_header_is_v0_even_when_flexible() {
        let response =
            Response::ApiVersions(ApiVersionsResponse { api_keys: supported_api_versions(), ..Default::default() });
        let frame = encode_response(9, 3, &response).expect("fits");
        // size(4) correlation(4) then directly error_code(2): no header tagged-field byte.
        assert_eq!(&frame[4..8], &9i32.to_be_bytes());
        assert_eq!(&frame[8..10], &0i16.to_be_bytes());
        let mut body = frame.freeze().slice(8..);
        let back = Response::decode(ApiKey::ApiVersions, 3, &mut body).expect("decodes");
        assert_eq!(back, response);
    }
}

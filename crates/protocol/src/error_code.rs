//! Kafka's error codes (`org.apache.kafka.common.protocol.Errors`): the numbers on the wire,
//! their constant names, and a short hint for people, shared by the broker (which answers with
//! them) and the client and CLI (which explain them).

/// A Kafka protocol error code (`org.apache.kafka.common.protocol.Errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum ErrorCode {
    UnknownServerError = -1,
    None = 0,
    OffsetOutOfRange = 1,
    CorruptMessage = 2,
    UnknownTopicOrPartition = 3,
    InvalidFetchSize = 4,
    LeaderNotAvailable = 5,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    MessageTooLarge = 10,
    OffsetMetadataTooLarge = 12,
    NetworkException = 13,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    InvalidTopicException = 17,
    RecordListTooLarge = 18,
    NotEnoughReplicas = 19,
    NotEnoughReplicasAfterAppend = 20,
    InvalidRequiredAcks = 21,
    InvalidTimestamp = 32,
    UnsupportedSaslMechanism = 33,
    IllegalSaslState = 34,
    UnsupportedVersion = 35,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    NotController = 41,
    InvalidRequest = 42,
    PolicyViolation = 44,
    OutOfOrderSequenceNumber = 45,
    DuplicateSequenceNumber = 46,
    InvalidProducerEpoch = 47,
    UnknownProducerId = 59,
    ProducerFenced = 90,
    KafkaStorageError = 56,
    ResourceNotFound = 91,
    DuplicateResource = 92,
    UnacceptableCredential = 93,
    SaslAuthenticationFailed = 58,
    TopicDeletionDisabled = 73,
    FencedLeaderEpoch = 74,
    UnknownLeaderEpoch = 75,
    UnsupportedCompressionType = 76,
    OffsetNotAvailable = 78,
    CoordinatorLoadInProgress = 14,
    IllegalGeneration = 22,
    InconsistentGroupProtocol = 23,
    InvalidGroupId = 24,
    UnknownMemberId = 25,
    InvalidSessionTimeout = 26,
    RebalanceInProgress = 27,
    InvalidCommitOffsetSize = 28,
    TopicAuthorizationFailed = 29,
    GroupAuthorizationFailed = 30,
    ClusterAuthorizationFailed = 31,
    SecurityDisabled = 54,
    NonEmptyGroup = 68,
    GroupIdNotFound = 69,
    FetchSessionIdNotFound = 70,
    InvalidFetchSessionEpoch = 71,
    MemberIdRequired = 79,
    GroupMaxSizeReached = 81,
    FencedInstanceId = 82,
    NoReassignmentInProgress = 85,
    GroupSubscribedToTopic = 86,
    InvalidRecord = 87,
    UnknownTopicId = 100,
    InvalidTxnState = 48,
    InvalidProducerIdMapping = 49,
    InvalidTransactionTimeout = 50,
    ConcurrentTransactions = 51,
    TransactionCoordinatorFenced = 52,
    TransactionalIdAuthorizationFailed = 53,
    OperationNotAttempted = 55,
    UnstableOffsetCommit = 88,
    TransactionalIdNotFound = 105,
    PreferredLeaderNotAvailable = 80,
    EligibleLeadersNotAvailable = 83,
    ElectionNotNeeded = 84,
    LogDirNotFound = 57,
    UnknownSubscriptionId = 117,
    TelemetryTooLarge = 118,
    ThrottlingQuotaExceeded = 89,
    InvalidRegularExpression = 128,
    TransactionAbortable = 120,
    FencedMemberEpoch = 110,
    UnreleasedInstanceId = 111,
    UnsupportedAssignor = 112,
    StaleMemberEpoch = 113,
    ReplicaNotAvailable = 9,
}

impl ErrorCode {
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The code for a number read off the wire, if this crate knows it.
    pub fn from_code(code: i16) -> Option<ErrorCode> {
        ALL_CODES.iter().copied().find(|c| c.code() == code)
    }

    /// Kafka's constant name, for logs and messages.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UnknownServerError => "UNKNOWN_SERVER_ERROR",
            None => "NONE",
            OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            CorruptMessage => "CORRUPT_MESSAGE",
            UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            InvalidFetchSize => "INVALID_FETCH_SIZE",
            LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            RequestTimedOut => "REQUEST_TIMED_OUT",
            MessageTooLarge => "MESSAGE_TOO_LARGE",
            OffsetMetadataTooLarge => "OFFSET_METADATA_TOO_LARGE",
            NetworkException => "NETWORK_EXCEPTION",
            CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            NotCoordinator => "NOT_COORDINATOR",
            InvalidTopicException => "INVALID_TOPIC_EXCEPTION",
            RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            InvalidTimestamp => "INVALID_TIMESTAMP",
            UnsupportedSaslMechanism => "UNSUPPORTED_SASL_MECHANISM",
            IllegalSaslState => "ILLEGAL_SASL_STATE",
            UnsupportedVersion => "UNSUPPORTED_VERSION",
            TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            InvalidPartitions => "INVALID_PARTITIONS",
            InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            InvalidReplicaAssignment => "INVALID_REPLICA_ASSIGNMENT",
            InvalidConfig => "INVALID_CONFIG",
            NotController => "NOT_CONTROLLER",
            InvalidRequest => "INVALID_REQUEST",
            PolicyViolation => "POLICY_VIOLATION",
            KafkaStorageError => "KAFKA_STORAGE_ERROR",
            ResourceNotFound => "RESOURCE_NOT_FOUND",
            DuplicateResource => "DUPLICATE_RESOURCE",
            UnacceptableCredential => "UNACCEPTABLE_CREDENTIAL",
            SaslAuthenticationFailed => "SASL_AUTHENTICATION_FAILED",
            TopicDeletionDisabled => "TOPIC_DELETION_DISABLED",
            FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            UnsupportedCompressionType => "UNSUPPORTED_COMPRESSION_TYPE",
            OffsetNotAvailable => "OFFSET_NOT_AVAILABLE",
            CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            IllegalGeneration => "ILLEGAL_GENERATION",
            InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            InvalidGroupId => "INVALID_GROUP_ID",
            UnknownMemberId => "UNKNOWN_MEMBER_ID",
            InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            InvalidCommitOffsetSize => "INVALID_COMMIT_OFFSET_SIZE",
            TopicAuthorizationFailed => "TOPIC_AUTHORIZATION_FAILED",
            GroupAuthorizationFailed => "GROUP_AUTHORIZATION_FAILED",
            ClusterAuthorizationFailed => "CLUSTER_AUTHORIZATION_FAILED",
            SecurityDisabled => "SECURITY_DISABLED",
            NonEmptyGroup => "NON_EMPTY_GROUP",
            GroupIdNotFound => "GROUP_ID_NOT_FOUND",
            FetchSessionIdNotFound => "FETCH_SESSION_ID_NOT_FOUND",
            InvalidFetchSessionEpoch => "INVALID_FETCH_SESSION_EPOCH",
            MemberIdRequired => "MEMBER_ID_REQUIRED",
            GroupMaxSizeReached => "GROUP_MAX_SIZE_REACHED",
            FencedInstanceId => "FENCED_INSTANCE_ID",
            NoReassignmentInProgress => "NO_REASSIGNMENT_IN_PROGRESS",
            GroupSubscribedToTopic => "GROUP_SUBSCRIBED_TO_TOPIC",
            InvalidRecord => "INVALID_RECORD",
            OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            DuplicateSequenceNumber => "DUPLICATE_SEQUENCE_NUMBER",
            InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            ProducerFenced => "PRODUCER_FENCED",
            UnknownTopicId => "UNKNOWN_TOPIC_ID",
            InvalidTxnState => "INVALID_TXN_STATE",
            InvalidProducerIdMapping => "INVALID_PRODUCER_ID_MAPPING",
            InvalidTransactionTimeout => "INVALID_TRANSACTION_TIMEOUT",
            ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
            TransactionCoordinatorFenced => "TRANSACTION_COORDINATOR_FENCED",
            TransactionalIdAuthorizationFailed => "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
            OperationNotAttempted => "OPERATION_NOT_ATTEMPTED",
            UnstableOffsetCommit => "UNSTABLE_OFFSET_COMMIT",
            TransactionalIdNotFound => "TRANSACTIONAL_ID_NOT_FOUND",
            PreferredLeaderNotAvailable => "PREFERRED_LEADER_NOT_AVAILABLE",
            EligibleLeadersNotAvailable => "ELIGIBLE_LEADERS_NOT_AVAILABLE",
            ElectionNotNeeded => "ELECTION_NOT_NEEDED",
            LogDirNotFound => "LOG_DIR_NOT_FOUND",
            UnknownSubscriptionId => "UNKNOWN_SUBSCRIPTION_ID",
            TelemetryTooLarge => "TELEMETRY_TOO_LARGE",
            ThrottlingQuotaExceeded => "THROTTLING_QUOTA_EXCEEDED",
            InvalidRegularExpression => "INVALID_REGULAR_EXPRESSION",
            TransactionAbortable => "TRANSACTION_ABORTABLE",
            FencedMemberEpoch => "FENCED_MEMBER_EPOCH",
            UnreleasedInstanceId => "UNRELEASED_INSTANCE_ID",
            UnsupportedAssignor => "UNSUPPORTED_ASSIGNOR",
            StaleMemberEpoch => "STALE_MEMBER_EPOCH",
            ReplicaNotAvailable => "REPLICA_NOT_AVAILABLE",
        }
    }
}

/// Every code above, for lookups.
const ALL_CODES: &[ErrorCode] = &[
    ErrorCode::ReplicaNotAvailable,
    ErrorCode::FencedMemberEpoch,
    ErrorCode::UnreleasedInstanceId,
    ErrorCode::UnsupportedAssignor,
    ErrorCode::StaleMemberEpoch,
    ErrorCode::InvalidRegularExpression,
    ErrorCode::ThrottlingQuotaExceeded,
    ErrorCode::TelemetryTooLarge,
    ErrorCode::UnknownSubscriptionId,
    ErrorCode::LogDirNotFound,
    ErrorCode::ElectionNotNeeded,
    ErrorCode::EligibleLeadersNotAvailable,
    ErrorCode::PreferredLeaderNotAvailable,
    ErrorCode::UnknownServerError,
    ErrorCode::None,
    ErrorCode::OffsetOutOfRange,
    ErrorCode::CorruptMessage,
    ErrorCode::UnknownTopicOrPartition,
    ErrorCode::InvalidFetchSize,
    ErrorCode::LeaderNotAvailable,
    ErrorCode::NotLeaderOrFollower,
    ErrorCode::RequestTimedOut,
    ErrorCode::MessageTooLarge,
    ErrorCode::OffsetMetadataTooLarge,
    ErrorCode::NetworkException,
    ErrorCode::CoordinatorNotAvailable,
    ErrorCode::NotCoordinator,
    ErrorCode::InvalidTopicException,
    ErrorCode::RecordListTooLarge,
    ErrorCode::NotEnoughReplicas,
    ErrorCode::NotEnoughReplicasAfterAppend,
    ErrorCode::InvalidRequiredAcks,
    ErrorCode::InvalidTimestamp,
    ErrorCode::UnsupportedSaslMechanism,
    ErrorCode::IllegalSaslState,
    ErrorCode::UnsupportedVersion,
    ErrorCode::TopicAlreadyExists,
    ErrorCode::InvalidPartitions,
    ErrorCode::InvalidReplicationFactor,
    ErrorCode::InvalidReplicaAssignment,
    ErrorCode::InvalidConfig,
    ErrorCode::NotController,
    ErrorCode::InvalidRequest,
    ErrorCode::PolicyViolation,
    ErrorCode::OutOfOrderSequenceNumber,
    ErrorCode::DuplicateSequenceNumber,
    ErrorCode::InvalidProducerEpoch,
    ErrorCode::UnknownProducerId,
    ErrorCode::ProducerFenced,
    ErrorCode::KafkaStorageError,
    ErrorCode::ResourceNotFound,
    ErrorCode::DuplicateResource,
    ErrorCode::UnacceptableCredential,
    ErrorCode::SaslAuthenticationFailed,
    ErrorCode::TopicDeletionDisabled,
    ErrorCode::FencedLeaderEpoch,
    ErrorCode::UnknownLeaderEpoch,
    ErrorCode::UnsupportedCompressionType,
    ErrorCode::OffsetNotAvailable,
    ErrorCode::CoordinatorLoadInProgress,
    ErrorCode::IllegalGeneration,
    ErrorCode::InconsistentGroupProtocol,
    ErrorCode::InvalidGroupId,
    ErrorCode::UnknownMemberId,
    ErrorCode::InvalidSessionTimeout,
    ErrorCode::RebalanceInProgress,
    ErrorCode::InvalidCommitOffsetSize,
    ErrorCode::TopicAuthorizationFailed,
    ErrorCode::GroupAuthorizationFailed,
    ErrorCode::ClusterAuthorizationFailed,
    ErrorCode::SecurityDisabled,
    ErrorCode::NonEmptyGroup,
    ErrorCode::GroupIdNotFound,
    ErrorCode::FetchSessionIdNotFound,
    ErrorCode::InvalidFetchSessionEpoch,
    ErrorCode::MemberIdRequired,
    ErrorCode::GroupMaxSizeReached,
    ErrorCode::FencedInstanceId,
    ErrorCode::NoReassignmentInProgress,
    ErrorCode::GroupSubscribedToTopic,
    ErrorCode::InvalidRecord,
    ErrorCode::UnknownTopicId,
    ErrorCode::InvalidTxnState,
    ErrorCode::InvalidProducerIdMapping,
    ErrorCode::InvalidTransactionTimeout,
    ErrorCode::ConcurrentTransactions,
    ErrorCode::TransactionCoordinatorFenced,
    ErrorCode::TransactionalIdAuthorizationFailed,
    ErrorCode::OperationNotAttempted,
    ErrorCode::UnstableOffsetCommit,
    ErrorCode::TransactionalIdNotFound,
    ErrorCode::TransactionAbortable,
];

impl ErrorCode {
    /// Whether a client should refresh metadata and retry (Kafka's retriable errors).
    pub fn is_retriable(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            CorruptMessage
                | UnknownTopicOrPartition
                | LeaderNotAvailable
                | NotLeaderOrFollower
                | RequestTimedOut
                | NetworkException
                | CoordinatorNotAvailable
                | NotCoordinator
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
                | KafkaStorageError
                | FencedLeaderEpoch
                | UnknownLeaderEpoch
                | OffsetNotAvailable
                | CoordinatorLoadInProgress
                | RebalanceInProgress
                | FetchSessionIdNotFound
                | InvalidFetchSessionEpoch
                | ConcurrentTransactions
                | UnstableOffsetCommit
        )
    }

    /// What a person can do about it.
    pub fn hint(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UnknownTopicOrPartition => {
                "check the topic name with `sluice topic list`, or create it with `sluice topic create`"
            }
            TopicAlreadyExists => "the topic exists; `sluice topic describe` shows it",
            InvalidPartitions => "a topic needs at least one partition, and partitions can only be added",
            InvalidReplicationFactor => "the replication factor cannot exceed the number of brokers",
            InvalidConfig => "see `sluice topic describe` for the config names and their current values",
            MessageTooLarge => "raise the topic's max.message.bytes or send smaller messages",
            OffsetMetadataTooLarge => "offset commit metadata is limited to offset.metadata.max.bytes (4096 bytes)",
            OffsetOutOfRange => "the offset is before the log start or after the end; try --offset beginning or end",
            InvalidTopicException => "topic names are 1-249 characters of letters, digits, '.', '_' and '-'",
            TopicDeletionDisabled => "the broker has delete.topic.enable=false",
            NotLeaderOrFollower | LeaderNotAvailable => "leadership is moving; retry in a moment",
            RequestTimedOut => "the broker did not finish in time; retry, or raise the timeout",
            UnsupportedVersion => "the broker does not speak this request version",
            NonEmptyGroup => "the group still has members; stop its consumers first",
            GroupIdNotFound => "no group by that name; `sluice group list` shows the groups",
            RebalanceInProgress => "the group is rebalancing; retry in a moment",
            KafkaStorageError => "the broker has a disk problem; check its log",
            SaslAuthenticationFailed => "check the user name, password and SASL mechanism",
            ConcurrentTransactions => "the previous transaction of this transactional id is still completing; retry",
            InvalidTxnState => {
                "the request does not fit the transaction's state (e.g. ending a transaction never begun)"
            }
            InvalidTransactionTimeout => "transaction.timeout.ms exceeds the broker's transaction.max.timeout.ms",
            TransactionalIdAuthorizationFailed => "the principal may not use this transactional id",
            TopicAuthorizationFailed => "the principal may not do this on the topic (see `sluice acl list`)",
            GroupAuthorizationFailed => "the principal may not do this in the consumer group (see `sluice acl list`)",
            ClusterAuthorizationFailed => "the principal may not do this on the cluster (see `sluice acl list`)",
            SecurityDisabled => "the broker has no authorizer (set authorizer.class.name)",
            TransactionalIdNotFound => "the transaction coordinator knows no transactional id by that name",
            InvalidProducerIdMapping => {
                "the producer id does not belong to this transactional id; re-initialize the producer"
            }
            TransactionAbortable => "abort the transaction and start a new one",
            UnstableOffsetCommit => "a transaction on these offsets is pending; retry in a moment",
            _ => "see the broker log for details",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_numbers() {
        for &c in ALL_CODES {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::from_code(3).map(ErrorCode::name), Some("UNKNOWN_TOPIC_OR_PARTITION"));
        assert_eq!(ErrorCode::from_code(9999), None);
    }
}

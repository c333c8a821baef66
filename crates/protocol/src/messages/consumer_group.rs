//! The next-generation consumer group protocol (KIP-848): ConsumerGroupHeartbeat (key 68) and
//! ConsumerGroupDescribe (key 69). Kafka's `ConsumerGroupHeartbeat{Request,Response}.json` and
//! `ConsumerGroupDescribe{Request,Response}.json`; versions 0-1, flexible from 0. Nested structs
//! are prefixed with the message's name.

use crate::codec::{Nullable, Uuid};

kafka_struct! {
    /// A member's heartbeat: it joins (epoch 0), stays (its epoch), leaves (-1) or, as a static
    /// member, steps out to come back (-2). Fields that did not change since the last heartbeat
    /// are null (-1 for the rebalance timeout).
    pub struct ConsumerGroupHeartbeatRequest {
        group_id: String [0, MAX],
        /// Empty to be given one (v0); from v1 the client makes its own (KIP-1082).
        member_id: String [0, MAX],
        member_epoch: i32 [0, MAX],
        instance_id: Option<String> [0, MAX],
        rack_id: Option<String> [0, MAX],
        rebalance_timeout_ms: i32 [0, MAX] = -1,
        subscribed_topic_names: Option<Vec<String>> [0, MAX],
        subscribed_topic_regex: Option<String> [1, MAX],
        server_assignor: Option<String> [0, MAX],
        /// The partitions the member owns.
        topic_partitions: Option<Vec<ConsumerGroupTopicPartitions>> [0, MAX],
    }
}

kafka_struct! {
    /// Partitions of one topic, by id.
    pub struct ConsumerGroupTopicPartitions {
        topic_id: Uuid [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

kafka_struct! {
    pub struct ConsumerGroupHeartbeatResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        member_id: Option<String> [0, MAX],
        member_epoch: i32 [0, MAX],
        heartbeat_interval_ms: i32 [0, MAX],
        /// The partitions the member may use now; null when unchanged.
        assignment: Nullable<ConsumerGroupHeartbeatAssignment> [0, MAX],
    }
}

kafka_struct! {
    pub struct ConsumerGroupHeartbeatAssignment {
        topic_partitions: Vec<ConsumerGroupTopicPartitions> [0, MAX],
    }
}

kafka_struct! {
    pub struct ConsumerGroupDescribeRequest {
        group_ids: Vec<String> [0, MAX],
        include_authorized_operations: bool [0, MAX],
    }
}

kafka_struct! {
    pub struct ConsumerGroupDescribeResponse {
        throttle_time_ms: i32 [0, MAX],
        groups: Vec<ConsumerGroupDescribeGroup> [0, MAX],
    }
}

kafka_struct! {
    pub struct ConsumerGroupDescribeGroup {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        group_id: String [0, MAX],
        /// Empty, Assigning, Reconciling, Stable or Dead.
        group_state: String [0, MAX],
        group_epoch: i32 [0, MAX],
        assignment_epoch: i32 [0, MAX],
        assignor_name: String [0, MAX],
        members: Vec<ConsumerGroupDescribeMember> [0, MAX],
        authorized_operations: i32 [0, MAX] = i32::MIN,
    }
}

kafka_struct! {
    pub struct ConsumerGroupDescribeMember {
        member_id: String [0, MAX],
        instance_id: Option<String> [0, MAX],
        rack_id: Option<String> [0, MAX],
        member_epoch: i32 [0, MAX],
        client_id: String [0, MAX],
        client_host: String [0, MAX],
        subscribed_topic_names: Vec<String> [0, MAX],
        subscribed_topic_regex: Option<String> [0, MAX],
        assignment: ConsumerGroupDescribeAssignment [0, MAX],
        target_assignment: ConsumerGroupDescribeAssignment [0, MAX],
        /// v1 (KIP-1099): -1 unknown, 0 classic, 1 consumer.
        member_type: i8 [1, MAX] = -1,
    }
}

kafka_struct! {
    pub struct ConsumerGroupDescribeAssignment {
        topic_partitions: Vec<ConsumerGroupDescribeTopicPartitions> [0, MAX],
    }
}

kafka_struct! {
    pub struct ConsumerGroupDescribeTopicPartitions {
        topic_id: Uuid [0, MAX],
        topic_name: String [0, MAX],
        partitions: Vec<i32> [0, MAX],
    }
}

//! DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), KIP-546: the byte-rate and
//! request-rate quotas of users and client ids (`kafka-configs.sh --entity-type users|clients`).
//! Kafka's `DescribeClientQuotas*.json` / `AlterClientQuotas*.json`; versions 0 to 1, flexible
//! from 1.

kafka_struct! {
    /// Which entities to describe: one filter per entity type.
    pub struct DescribeClientQuotasRequest {
        components: Vec<DescribeClientQuotasComponent> [0, MAX],
        /// Only entities with exactly the filtered types (else: also ones with more types).
        strict: bool [0, MAX],
    }
}

kafka_struct! {
    /// A filter on one entity type: 0 exact name, 1 the default, 2 any name.
    pub struct DescribeClientQuotasComponent {
        entity_type: String [0, MAX],
        match_type: i8 [0, MAX],
        r#match: Option<String> [0, MAX],
    }
}

kafka_struct! {
    /// The matching entities and their quotas.
    pub struct DescribeClientQuotasResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        entries: Option<Vec<DescribeClientQuotasEntry>> [0, MAX],
    }
}

kafka_struct! {
    /// One entity and its quotas.
    pub struct DescribeClientQuotasEntry {
        entity: Vec<ClientQuotaEntityData> [0, MAX],
        values: Vec<DescribeClientQuotasValue> [0, MAX],
    }
}

kafka_struct! {
    /// One part of a quota entity: its type (`user`, `client-id`, `ip`) and name (null: the
    /// default entity of that type).
    pub struct ClientQuotaEntityData {
        entity_type: String [0, MAX],
        entity_name: Option<String> [0, MAX],
    }
}

kafka_struct! {
    /// One quota of an entity.
    pub struct DescribeClientQuotasValue {
        key: String [0, MAX],
        value: f64 [0, MAX],
    }
}

kafka_struct! {
    /// Quotas to set or remove, per entity.
    pub struct AlterClientQuotasRequest {
        entries: Vec<AlterClientQuotasEntry> [0, MAX],
        validate_only: bool [0, MAX],
    }
}

kafka_struct! {
    /// One entity's changes.
    pub struct AlterClientQuotasEntry {
        entity: Vec<ClientQuotaEntityData> [0, MAX],
        ops: Vec<AlterClientQuotasOp> [0, MAX],
    }
}

kafka_struct! {
    /// Set `key` to `value`, or remove it.
    pub struct AlterClientQuotasOp {
        key: String [0, MAX],
        value: f64 [0, MAX],
        remove: bool [0, MAX],
    }
}

kafka_struct! {
    /// The outcome per entity.
    pub struct AlterClientQuotasResponse {
        throttle_time_ms: i32 [0, MAX],
        entries: Vec<AlterClientQuotasResponseEntry> [0, MAX],
    }
}

kafka_struct! {
    /// One entity's outcome.
    pub struct AlterClientQuotasResponseEntry {
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        entity: Vec<ClientQuotaEntityData> [0, MAX],
    }
}

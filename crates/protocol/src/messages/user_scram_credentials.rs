//! DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51), KIP-554: list
//! which SCRAM mechanisms (and iteration counts) users have credentials for, and add or remove
//! credentials. The client salts the password itself; only the salted password travels.
//! Kafka's `DescribeUserScramCredentials*.json` / `AlterUserScramCredentials*.json`; version 0,
//! flexible.

use bytes::Bytes;

kafka_struct! {
    /// The users to describe; null for every user.
    pub struct DescribeUserScramCredentialsRequest {
        users: Option<Vec<UserName>> [0, MAX],
    }
}

kafka_struct! {
    pub struct UserName {
        name: String [0, MAX],
    }
}

kafka_struct! {
    /// A top-level error (the whole request), or one result per user.
    pub struct DescribeUserScramCredentialsResponse {
        throttle_time_ms: i32 [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        results: Vec<DescribeUserScramCredentialsResult> [0, MAX],
    }
}

kafka_struct! {
    pub struct DescribeUserScramCredentialsResult {
        user: String [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
        credential_infos: Vec<CredentialInfo> [0, MAX],
    }
}

kafka_struct! {
    /// A mechanism (1 SCRAM-SHA-256, 2 SCRAM-SHA-512) and its iteration count.
    pub struct CredentialInfo {
        mechanism: i8 [0, MAX],
        iterations: i32 [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterUserScramCredentialsRequest {
        deletions: Vec<ScramCredentialDeletion> [0, MAX],
        upsertions: Vec<ScramCredentialUpsertion> [0, MAX],
    }
}

kafka_struct! {
    pub struct ScramCredentialDeletion {
        name: String [0, MAX],
        mechanism: i8 [0, MAX],
    }
}

kafka_struct! {
    pub struct ScramCredentialUpsertion {
        name: String [0, MAX],
        mechanism: i8 [0, MAX],
        iterations: i32 [0, MAX],
        salt: Bytes [0, MAX],
        salted_password: Bytes [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterUserScramCredentialsResponse {
        throttle_time_ms: i32 [0, MAX],
        results: Vec<AlterUserScramCredentialsResult> [0, MAX],
    }
}

kafka_struct! {
    pub struct AlterUserScramCredentialsResult {
        user: String [0, MAX],
        error_code: i16 [0, MAX],
        error_message: Option<String> [0, MAX],
    }
}

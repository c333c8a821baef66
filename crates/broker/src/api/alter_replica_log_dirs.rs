//! AlterReplicaLogDirs (KIP-113): moves replicas this broker hosts into other directories of its
//! `log.dirs`. Each move runs in the background (`LogManager::move_log`: the log is copied while
//! it serves, then swapped under its lock) and the answer does not wait for it, as in Kafka;
//! DescribeLogDirs shows the replica in its destination as a future one until the move is done,
//! then only there. ALTER on the cluster is required (CLUSTER_AUTHORIZATION_FAILED for every
//! partition otherwise). A directory that is not one of `log.dirs` is LOG_DIR_NOT_FOUND; a
//! partition with no log here REPLICA_NOT_AVAILABLE (Kafka remembers the directory for a
//! replica created later; this broker does not); a partition already being moved elsewhere
//! KAFKA_STORAGE_ERROR; moving a replica to the directory it is in is a success that does
//! nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sluice_protocol::messages::{
    AlterReplicaLogDirsPartitionResult, AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse,
    AlterReplicaLogDirsTopicResult,
};
use sluice_storage::TopicPartition;

use super::RequestContext;
use crate::acl::Operation;
use crate::error::ErrorCode;
use crate::replica_manager::ReplicaManager;

/// `path` as DescribeLogDirs names the directories: absolute.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

pub fn handle(
    ctx: RequestContext<'_>,
    replicas: &ReplicaManager,
    request: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let authorized = ctx.authorize_cluster(Operation::Alter);
    let manager = replicas.log_manager();
    let dirs: Vec<PathBuf> = manager.log_dirs().into_iter().map(absolute).collect();
    let moving: BTreeMap<TopicPartition, usize> = manager.moves().into_iter().collect();
    let mut results: BTreeMap<String, Vec<AlterReplicaLogDirsPartitionResult>> = BTreeMap::new();
    for dir in request.dirs {
        let dest = dirs.iter().position(|d| *d == absolute(std::path::Path::new(&dir.path)));
        for topic in dir.topics {
            for partition in topic.partitions {
                let tp = TopicPartition::new(topic.name.clone(), partition);
                let code = match dest {
                    _ if !authorized => ErrorCode::ClusterAuthorizationFailed,
                    None => ErrorCode::LogDirNotFound,
                    Some(_) if manager.get_log(&tp).is_none() => ErrorCode::ReplicaNotAvailable,
                    Some(dest) if moving.get(&tp).is_some_and(|&d| d != dest) => ErrorCode::KafkaStorageError,
                    Some(dest) => {
                        if !moving.contains_key(&tp) && manager.log_dir_index(&tp) != Some(dest) {
                            let manager = manager.clone();
                            tokio::task::spawn_blocking(move || {
                                if let Err(e) = manager.move_log(&tp, dest) {
                                    tracing::warn!(%tp, error = %e, "moving a log to another directory failed");
                                }
                            });
                        }
                        ErrorCode::None
                    }
                };
                results
                    .entry(topic.name.clone())
                    .or_default()
                    .push(AlterReplicaLogDirsPartitionResult { partition_index: partition, error_code: code.code() });
            }
        }
    }
    AlterReplicaLogDirsResponse {
        throttle_time_ms: 0,
        results: results
            .into_iter()
            .map(|(topic_name, partitions)| AlterReplicaLogDirsTopicResult { topic_name, partitions })
            .collect(),
    }
}

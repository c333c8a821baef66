//! DescribeLogDirs (KIP-113): each of this broker's `log.dirs` (its absolute path), the
//! partitions it holds with their size on disk and offset lag, and (v4, KIP-827) the size and
//! usable space of its file system, as `kafka-log-dirs.sh --describe` and the admin clients show
//! them. A null topic list describes every partition; a partition not hosted here is left out,
//! as Kafka leaves it out. The offset lag of a current replica is how far its log end is below
//! its high watermark (never below 0), Kafka's figure. A replica being moved to another
//! directory (AlterReplicaLogDirs) is listed there too, as a future one (`is_future_key`), with
//! the size copied so far and, as its lag, the bytes still to copy. DESCRIBE on the cluster is
//! required: without
//! it the answer is CLUSTER_AUTHORIZATION_FAILED (v3+) with no directories, as in Kafka.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use sluice_protocol::messages::{
    DescribeLogDirsPartition, DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeLogDirsResult,
    DescribeLogDirsTopic,
};

use super::RequestContext;
use crate::acl::Operation;
use crate::error::ErrorCode;
use crate::replica_manager::ReplicaManager;

pub fn handle(
    ctx: RequestContext<'_>,
    replicas: &ReplicaManager,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !ctx.authorize_cluster(Operation::Describe) {
        return DescribeLogDirsResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            results: Vec::new(),
        };
    }
    let wanted: Option<BTreeSet<(String, i32)>> = request.topics.map(|topics| {
        topics.into_iter().flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic.clone(), p))).collect()
    });
    let manager = replicas.log_manager();
    let dirs: Vec<PathBuf> =
        manager.log_dirs().into_iter().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf())).collect();
    // Per directory, per topic: the partitions it holds.
    let mut held: Vec<BTreeMap<String, Vec<DescribeLogDirsPartition>>> = vec![BTreeMap::new(); dirs.len()];
    for (tp, log) in manager.all_logs() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&(tp.topic.clone(), tp.partition))) {
            continue;
        }
        let log = log.read();
        let parent = log.dir().parent().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
        let Some(i) = dirs.iter().position(|d| Some(d) == parent.as_ref()) else { continue };
        let partition = DescribeLogDirsPartition {
            partition_index: tp.partition,
            partition_size: i64::try_from(log.size_in_bytes()).unwrap_or(i64::MAX),
            offset_lag: (log.high_watermark() - log.log_end_offset()).max(0),
            is_future_key: false,
        };
        held[i].entry(tp.topic.clone()).or_default().push(partition);
    }
    for (tp, dest) in manager.moves() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&(tp.topic.clone(), tp.partition))) {
            continue;
        }
        let Some(log) = manager.get_log(&tp) else { continue };
        let total = i64::try_from(log.read().size_in_bytes()).unwrap_or(i64::MAX);
        let copied = future_size(&dirs[dest], &tp.dir_name());
        held[dest].entry(tp.topic.clone()).or_default().push(DescribeLogDirsPartition {
            partition_index: tp.partition,
            partition_size: copied,
            offset_lag: (total - copied).max(0),
            is_future_key: true,
        });
    }
    let results = dirs
        .iter()
        .zip(held)
        .map(|(dir, topics)| {
            let (total_bytes, usable_bytes) = match sluice_storage::manager::file_system_space(dir) {
                Ok((total, usable)) => {
                    (i64::try_from(total).unwrap_or(i64::MAX), i64::try_from(usable).unwrap_or(i64::MAX))
                }
                Err(_) => (-1, -1),
            };
            DescribeLogDirsResult {
                error_code: 0,
                log_dir: dir.display().to_string(),
                topics: topics
                    .into_iter()
                    .map(|(name, mut partitions)| {
                        partitions.sort_by_key(|p| p.partition_index);
                        DescribeLogDirsTopic { name, partitions }
                    })
                    .collect(),
                total_bytes,
                usable_bytes,
            }
        })
        .collect();
    DescribeLogDirsResponse { throttle_time_ms: 0, error_code: 0, results }
}

/// Bytes copied so far into the future directory of the partition directory `name` in `dir`.
fn future_size(dir: &std::path::Path, name: &str) -> i64 {
    let prefix = format!("{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(sluice_storage::manager::FUTURE_DIR_SUFFIX))
        })
        .filter_map(|e| std::fs::read_dir(e.path()).ok())
        .flat_map(|files| files.flatten().filter_map(|f| f.metadata().ok()).map(|m| m.len()))
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
        .sum()
}

//! `sluice top`: the cluster's traffic and consumer lag in the terminal, refreshed every
//! interval — records per second produced to each topic (its log end offsets' growth), and each
//! group's total lag and its change. Read through the Kafka protocol only (Metadata,
//! ListOffsets, ListGroups, OffsetFetch), so it works against any Kafka cluster, not just
//! Sluice. On a terminal the screen is redrawn; otherwise each refresh is appended (or, with
//! `--json`, one JSON object per line), so scripts can read it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_client::Client;

use crate::table::Table;

/// ListOffsets' timestamp for the log end.
const LATEST: i64 = -1;
/// Internal topics, left out unless asked for by name.
const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];
/// The shortest refresh interval: each refresh asks every partition's leader.
pub const MIN_INTERVAL_MS: u64 = 200;

/// What one refresh reads.
struct Sample {
    at: Instant,
    /// Per topic, the sum of its partitions' log end offsets.
    ends: BTreeMap<String, i64>,
    /// Per group, its state and total lag (None: a log end could not be read).
    lags: BTreeMap<String, (String, Option<i64>)>,
}

async fn sample(client: &Client, topics: &[String]) -> anyhow::Result<Sample> {
    let md = client.refresh_metadata(None).await?;
    let wanted: Vec<(String, i32)> = md
        .topics
        .values()
        .filter(|t| {
            if topics.is_empty() {
                !(t.internal || INTERNAL_TOPICS.contains(&t.name.as_str()))
            } else {
                topics.contains(&t.name)
            }
        })
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition)))
        .collect();
    let mut partition_ends = client.list_offsets(&wanted, LATEST).await;
    let mut ends: BTreeMap<String, i64> = BTreeMap::new();
    for (topic, _) in &wanted {
        ends.entry(topic.clone()).or_default();
    }
    for ((topic, _), end) in &partition_ends {
        *ends.entry(topic.clone()).or_default() += end;
    }
    let (groups, _) = client.list_groups().await?;
    let mut committed = BTreeMap::new();
    for g in &groups {
        committed.insert(g.group_id.clone(), client.committed_offsets(&g.group_id).await.unwrap_or_default());
    }
    // The ends of partitions only groups name (topics left out of the view), in one batch.
    let missing: Vec<(String, i32)> = committed
        .values()
        .flat_map(|c| c.keys())
        .filter(|tp| !partition_ends.contains_key(*tp))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        partition_ends.extend(client.list_offsets(&missing, LATEST).await);
    }
    let mut lags = BTreeMap::new();
    for g in groups {
        let mut total = Some(0i64);
        for (tp, offset) in &committed[&g.group_id] {
            total = match (total, partition_ends.get(tp)) {
                (Some(t), Some(end)) => Some(t + (end - offset).max(0)),
                _ => None,
            };
        }
        lags.insert(g.group_id, (g.state, total));
    }
    Ok(Sample { at: Instant::now(), ends, lags })
}

pub async fn run(
    client: Client,
    topics: Vec<String>,
    interval_ms: u64,
    iterations: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        interval_ms >= MIN_INTERVAL_MS,
        "--interval-ms {interval_ms}: at least {MIN_INTERVAL_MS} (each refresh asks every partition's leader)"
    );
    let interval = Duration::from_millis(interval_ms);
    let redraw = !json && std::io::stdout().is_terminal();
    let mut previous = sample(&client, &topics).await?;
    let mut done = 0u64;
    while iterations.is_none_or(|n| done < n) {
        tokio::time::sleep(interval).await;
        let now = sample(&client, &topics).await?;
        let seconds = now.at.duration_since(previous.at).as_secs_f64().max(1e-3);
        let rates: BTreeMap<&String, f64> = now
            .ends
            .iter()
            .map(|(t, end)| (t, previous.ends.get(t).map_or(0.0, |before| (end - before).max(0) as f64 / seconds)))
            .collect();
        if json {
            let topics: Vec<serde_json::Value> =
                rates.iter().map(|(t, r)| json!({"topic": t, "records_per_sec": r, "log_end": now.ends[*t]})).collect();
            let groups: Vec<serde_json::Value> = now
                .lags
                .iter()
                .map(|(g, (state, lag))| {
                    let before = previous.lags.get(g).and_then(|(_, l)| *l);
                    let change = lag.zip(before).map(|(l, b)| l - b);
                    json!({"group": g, "state": state, "lag": lag, "lag_change": change})
                })
                .collect();
            println!("{}", json!({"interval_s": seconds, "topics": topics, "groups": groups}));
        } else {
            if redraw {
                // Clear the screen and home the cursor (ANSI), as top(1) redraws.
                print!("\x1b[2J\x1b[H");
            }
            println!(
                "sluice top: every {interval_ms} ms ({} of {})",
                done + 1,
                iterations.map_or("∞".to_string(), |n| n.to_string())
            );
            let mut table = Table::new(&["TOPIC", "RECORDS/S", "LOG-END"]);
            let mut by_rate: Vec<_> = rates.iter().collect();
            by_rate.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
            for (t, r) in by_rate {
                table.row(vec![t.to_string(), format!("{r:.1}"), now.ends[*t].to_string()]);
            }
            table.print()?;
            let mut groups = Table::new(&["GROUP", "STATE", "LAG", "CHANGE"]);
            let mut by_lag: Vec<_> = now.lags.iter().collect();
            by_lag.sort_by(|a, b| b.1.1.cmp(&a.1.1).then_with(|| a.0.cmp(b.0)));
            for (g, (state, lag)) in by_lag {
                let before = previous.lags.get(g).and_then(|(_, l)| *l);
                let change = lag.zip(before).map_or("-".to_string(), |(l, b)| format!("{:+}", l - b));
                groups.row(vec![g.clone(), state.clone(), lag.map_or("?".to_string(), |l| l.to_string()), change]);
            }
            groups.print()?;
        }
        previous = now;
        done += 1;
    }
    Ok(())
}

//! `sluice config`: describe and change the configs of a topic, of one broker, of the
//! cluster-wide broker defaults, or of a group (Kafka's `kafka-configs.sh`). Broker configs that Kafka marks
//! dynamic change at run time, on every broker (`--broker-defaults`) or on one (`--broker ID`).

use clap::{Args, Subcommand};
use serde_json::json;
use sluice_client::{Client, ConfigTarget};

use crate::table::{Table, print_json};

/// Whose configs: exactly one of the four.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Entity {
    /// A topic's configs.
    #[arg(long, value_name = "NAME")]
    topic: Option<String>,
    /// One broker's configs (the request goes to that broker).
    #[arg(long, value_name = "ID")]
    broker: Option<i32>,
    /// The dynamic defaults of every broker in the cluster.
    #[arg(long)]
    broker_defaults: bool,
    /// A consumer group's own configs (consumer.session.timeout.ms, ...; KIP-848).
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
}

impl Entity {
    fn target(&self) -> ConfigTarget {
        match (&self.topic, self.broker, &self.group) {
            (Some(name), _, _) => ConfigTarget::Topic(name.clone()),
            (None, Some(id), _) => ConfigTarget::Broker(id),
            (None, None, Some(group)) => ConfigTarget::Group(group.clone()),
            (None, None, None) => ConfigTarget::BrokerDefaults,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show configs with their source: set on the topic, dynamic for the broker, dynamic default
    /// for every broker, static (the broker's file or flags), or Kafka's default.
    #[command(
        after_help = "Examples:\n  sluice config describe --topic orders\n  sluice config describe --broker 1 --all\n  sluice config describe --broker-defaults --json\n  sluice config describe --group billing --all"
    )]
    Describe {
        #[command(flatten)]
        entity: Entity,
        /// Also list the configs left at Kafka's default.
        #[arg(long)]
        all: bool,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Set and delete configs: a topic's overrides, or brokers' dynamic configs (applied at once,
    /// without a restart). Read-only broker configs are refused.
    #[command(
        after_help = "Examples:\n  sluice config alter --broker-defaults --set log.retention.ms=86400000\n  sluice config alter --broker 1 --set message.max.bytes=2097152\n  sluice config alter --topic orders --delete retention.ms\n  sluice config alter --group billing --set consumer.session.timeout.ms=50000"
    )]
    Alter {
        #[command(flatten)]
        entity: Entity,
        /// Set a config: --set key=value (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove a setting, back to the next source (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
}

/// Kafka's `ConfigSource` names.
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "topic",
        2 => "dynamic-broker",
        3 => "dynamic-default",
        4 => "static",
        5 => "default",
        8 => "group",
        _ => "unknown",
    }
}

pub async fn run(client: Client, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Describe { entity, all, json } => {
            let target = entity.target();
            let configs = client.describe_configs(&target).await?;
            let shown: Vec<_> = configs.into_iter().filter(|c| all || c.source != 5).collect();
            if json {
                let rows: Vec<serde_json::Value> = shown
                    .iter()
                    .map(|c| {
                        json!({"name": c.name, "value": c.value, "source": source_name(c.source),
                               "read_only": c.read_only})
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows))?;
                return Ok(());
            }
            let mut table = Table::new(&["NAME", "VALUE", "SOURCE", "READ-ONLY"]);
            for c in &shown {
                table.row(vec![
                    c.name.clone(),
                    c.value.clone().unwrap_or_else(|| "-".into()),
                    source_name(c.source).into(),
                    if c.read_only { "yes" } else { "no" }.into(),
                ]);
            }
            table.print()?;
            Ok(())
        }
        ConfigCommand::Alter { entity, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                anyhow::bail!("nothing to change: give --set key=value and/or --delete key");
            }
            let set: Vec<(String, String)> =
                set.iter().map(|c| crate::key_value(c, "--set")).collect::<anyhow::Result<_>>()?;
            let target = entity.target();
            client.alter_configs(&target, &set, &delete).await?;
            match target {
                ConfigTarget::Topic(name) => println!("altered the configs of topic {name}"),
                ConfigTarget::Broker(id) => println!("altered the dynamic configs of broker {id}"),
                ConfigTarget::BrokerDefaults => println!("altered the dynamic configs of every broker"),
                ConfigTarget::Group(group) => println!("altered the configs of group {group}"),
            }
            Ok(())
        }
    }
}

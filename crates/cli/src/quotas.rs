//! `sluice quota`: the client quotas of users and client ids (DescribeClientQuotas and
//! AlterClientQuotas, as `kafka-configs.sh --entity-type users|clients` sets them).

use clap::{Args, Subcommand};
use serde_json::json;
use sluice_client::{Client, ClientError};
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::{
    AlterClientQuotasEntry, AlterClientQuotasOp, AlterClientQuotasRequest, ClientQuotaEntityData,
    DescribeClientQuotasComponent, DescribeClientQuotasRequest,
};

use crate::table::{Table, print_json};

/// The quota keys of users and client ids.
const KEYS: [&str; 4] = ["producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate"];

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set quotas (KEY=VALUE: producer_byte_rate and consumer_byte_rate in bytes per second,
    /// request_percentage in percent of one request handler's time, controller_mutation_rate)
    /// of a user, a client id, or a user's client id; the defaults with --default-user or
    /// --default-client-id.
    #[command(
        after_help = "Examples:\n  sluice quota set --client-id loader producer_byte_rate=1048576\n  sluice quota set --user alice --client-id app consumer_byte_rate=2097152 request_percentage=50\n  sluice quota set --default-user producer_byte_rate=10485760"
    )]
    Set {
        #[command(flatten)]
        entity: Entity,
        /// KEY=VALUE (at least one).
        #[arg(required = true)]
        quotas: Vec<String>,
    },
    /// Remove quotas (by key) of an entity.
    #[command(after_help = "Example:\n  sluice quota remove --client-id loader producer_byte_rate")]
    Remove {
        #[command(flatten)]
        entity: Entity,
        /// Quota keys to remove (at least one).
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// List quotas: every entity's, or those of a user or client id.
    #[command(after_help = "Examples:\n  sluice quota list\n  sluice quota list --user alice --json")]
    List {
        #[command(flatten)]
        entity: Entity,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// A quota entity on the command line.
#[derive(Debug, Args)]
pub struct Entity {
    /// The user (a SASL user name, or ANONYMOUS on listeners without authentication).
    #[arg(long, conflicts_with = "default_user")]
    user: Option<String>,
    /// The default user (every user without a quota of its own).
    #[arg(long)]
    default_user: bool,
    /// The client id (client.id of the client).
    #[arg(long, conflicts_with = "default_client_id")]
    client_id: Option<String>,
    /// The default client id.
    #[arg(long)]
    default_client_id: bool,
}

impl Entity {
    /// The entity's parts: (type, name or None for the default), user first.
    fn parts(&self) -> Vec<(&'static str, Option<String>)> {
        let mut out = Vec::new();
        if self.user.is_some() || self.default_user {
            out.push(("user", self.user.clone()));
        }
        if self.client_id.is_some() || self.default_client_id {
            out.push(("client-id", self.client_id.clone()));
        }
        out
    }
}

fn show(entity: &[ClientQuotaEntityData]) -> String {
    entity
        .iter()
        .map(|e| format!("{}={}", e.entity_type, e.entity_name.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn run(client: Client, command: QuotaCommand) -> anyhow::Result<()> {
    match command {
        QuotaCommand::Set { entity, quotas } => {
            let mut ops = Vec::new();
            for q in &quotas {
                let (key, value) = q
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("{q:?}: expected KEY=VALUE (one of {})", KEYS.join(", ")))?;
                let key = key.trim();
                if !KEYS.contains(&key) {
                    anyhow::bail!("{key:?} is not a quota; the quotas are {}", KEYS.join(", "));
                }
                let value: f64 =
                    value.trim().parse().map_err(|_| anyhow::anyhow!("{q:?}: {value:?} is not a number"))?;
                ops.push(AlterClientQuotasOp { key: key.to_string(), value, remove: false });
            }
            alter(&client, &entity, ops).await
        }
        QuotaCommand::Remove { entity, keys } => {
            let ops = keys.iter().map(|k| AlterClientQuotasOp { key: k.clone(), value: 0.0, remove: true }).collect();
            alter(&client, &entity, ops).await
        }
        QuotaCommand::List { entity, json } => list(&client, &entity, json).await,
    }
}

async fn alter(client: &Client, entity: &Entity, ops: Vec<AlterClientQuotasOp>) -> anyhow::Result<()> {
    let parts = entity.parts();
    if parts.is_empty() {
        anyhow::bail!("name an entity: --user, --default-user, --client-id and/or --default-client-id");
    }
    let entity: Vec<ClientQuotaEntityData> =
        parts.into_iter().map(|(t, n)| ClientQuotaEntityData { entity_type: t.to_string(), entity_name: n }).collect();
    let request = AlterClientQuotasRequest {
        entries: vec![AlterClientQuotasEntry { entity: entity.clone(), ops }],
        validate_only: false,
    };
    let Response::AlterClientQuotas(r) = client.send_any(Request::AlterClientQuotas(request)).await? else {
        anyhow::bail!("unexpected answer to AlterClientQuotas");
    };
    for e in r.entries {
        ClientError::check(e.error_code, e.error_message)
            .map_err(|err| anyhow::anyhow!("{}: {err}", show(&e.entity)))?;
    }
    println!("quotas of {} updated", show(&entity));
    Ok(())
}

async fn list(client: &Client, entity: &Entity, json: bool) -> anyhow::Result<()> {
    let components: Vec<DescribeClientQuotasComponent> = entity
        .parts()
        .into_iter()
        .map(|(t, n)| DescribeClientQuotasComponent {
            entity_type: t.to_string(),
            match_type: if n.is_some() { 0 } else { 1 },
            r#match: n,
        })
        .collect();
    let request = DescribeClientQuotasRequest { components, strict: false };
    let Response::DescribeClientQuotas(r) = client.send_any(Request::DescribeClientQuotas(request)).await? else {
        anyhow::bail!("unexpected answer to DescribeClientQuotas");
    };
    ClientError::check(r.error_code, r.error_message)?;
    let entries = r.entries.unwrap_or_default();
    if json {
        let out: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let entity: serde_json::Map<String, serde_json::Value> =
                    e.entity.iter().map(|p| (p.entity_type.clone(), json!(p.entity_name))).collect();
                let quotas: serde_json::Map<String, serde_json::Value> =
                    e.values.iter().map(|v| (v.key.clone(), json!(v.value))).collect();
                json!({"entity": entity, "quotas": quotas})
            })
            .collect();
        print_json(&serde_json::Value::Array(out))?;
        return Ok(());
    }
    let mut table = Table::new(&["ENTITY", "QUOTA", "VALUE"]);
    for e in &entries {
        for v in &e.values {
            table.row(vec![show(&e.entity), v.key.clone(), v.value.to_string()]);
        }
    }
    table.print()?;
    Ok(())
}

//! `sluice acl add|list|remove`: access control lists, with the options of Kafka's
//! `kafka-acls.sh` (`--allow-principal`, `--deny-principal`, `--allow-host`, `--deny-host`,
//! `--operation`, `--topic`, `--group`, `--cluster`, `--transactional-id`,
//! `--resource-pattern-type`, and the `--producer` / `--consumer` conveniences). Every
//! combination of the principals, hosts, operations and resources given is one binding.
//! Operations a resource type never checks are refused here, before anything is sent.

use clap::{Args, Subcommand};
use serde_json::json;
use sluice_client::Client;
use sluice_client::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, CLUSTER_NAME, Operation, PatternType, Permission,
    ResourcePattern, ResourceType, WILDCARD, parse_principal,
};

use crate::table::{Table, print_json};

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Adds ACLs: each principal may (or, with --deny-principal, may not) perform each
    /// operation on each resource, from each host (default: any).
    #[command(
        after_help = "Examples:\n  sluice acl add --allow-principal User:alice --operation Read --operation Write --topic orders\n  sluice acl add --allow-principal User:app --producer --topic app- --resource-pattern-type prefixed\n  sluice acl add --allow-principal User:bob --consumer --topic orders --group billing\n  sluice acl add --deny-principal User:mallory --operation All --topic '*'\n  sluice acl add --allow-principal User:ops --operation Alter --cluster"
    )]
    Add(AddArgs),
    /// Lists ACLs: all, or those of the resources given (with --resource-pattern-type match,
    /// also the wildcard and prefixed ACLs that apply to them).
    #[command(
        after_help = "Examples:\n  sluice acl list\n  sluice acl list --topic orders\n  sluice acl list --principal User:alice --json"
    )]
    List(ListArgs),
    /// Removes ACLs of the resources given: those of the principals, hosts and operations given,
    /// or all of them when none are given.
    #[command(
        after_help = "Examples:\n  sluice acl remove --allow-principal User:alice --operation Write --topic orders\n  sluice acl remove --topic orders"
    )]
    Remove(RemoveArgs),
}

/// The resources a command applies to.
#[derive(Debug, Args)]
pub struct Resources {
    /// A topic (repeatable; '*' is every topic).
    #[arg(long = "topic", value_name = "NAME")]
    topics: Vec<String>,
    /// A consumer group (repeatable; '*' is every group).
    #[arg(long = "group", value_name = "NAME")]
    groups: Vec<String>,
    /// A transactional id (repeatable; '*' is every one).
    #[arg(long = "transactional-id", value_name = "ID")]
    transactional_ids: Vec<String>,
    /// The cluster.
    #[arg(long)]
    cluster: bool,
}

impl Resources {
    fn list(&self) -> Vec<(ResourceType, String)> {
        let mut out = Vec::new();
        out.extend(self.topics.iter().map(|n| (ResourceType::Topic, n.clone())));
        out.extend(self.groups.iter().map(|n| (ResourceType::Group, n.clone())));
        out.extend(self.transactional_ids.iter().map(|n| (ResourceType::TransactionalId, n.clone())));
        if self.cluster {
            out.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
        }
        out
    }
}

/// Who, from where, doing what.
#[derive(Debug, Args)]
pub struct Entries {
    /// A principal the ACLs allow, as Type:name (e.g. User:alice; User:* is everyone).
    #[arg(long = "allow-principal", value_name = "PRINCIPAL")]
    allow_principals: Vec<String>,
    /// A principal the ACLs deny (a deny wins over any allow).
    #[arg(long = "deny-principal", value_name = "PRINCIPAL")]
    deny_principals: Vec<String>,
    /// A host (IP address) the allow ACLs apply from (default: any, '*').
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// A host (IP address) the deny ACLs apply from (default: any, '*').
    #[arg(long = "deny-host", value_name = "HOST")]
    deny_hosts: Vec<String>,
    /// An operation: Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, All (repeatable).
    #[arg(long = "operation", value_name = "OPERATION")]
    operations: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    resources: Resources,
    #[command(flatten)]
    entries: Entries,
    /// literal (the default: the names as given) or prefixed (every name starting so).
    #[arg(long = "resource-pattern-type", default_value = "literal", value_name = "TYPE")]
    pattern_type: String,
    /// A producer's ACLs: Write, Describe and Create on the topics; with --transactional-id,
    /// Write and Describe on it; IdempotentWrite on the cluster.
    #[arg(long, conflicts_with = "consumer")]
    producer: bool,
    /// A consumer's ACLs: Read and Describe on the topics, Read on the groups.
    #[arg(long)]
    consumer: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    resources: Resources,
    /// Only the ACLs of this principal.
    #[arg(long, value_name = "PRINCIPAL")]
    principal: Option<String>,
    /// any (the default: literal and prefixed ACLs named as given), match (also the wildcard and
    /// the prefixes that apply to the names), literal or prefixed.
    #[arg(long = "resource-pattern-type", default_value = "any", value_name = "TYPE")]
    pattern_type: String,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    resources: Resources,
    #[command(flatten)]
    entries: Entries,
    /// literal (the default), prefixed, or any (both).
    #[arg(long = "resource-pattern-type", default_value = "literal", value_name = "TYPE")]
    pattern_type: String,
}

fn pattern_type(text: &str, allowed: &[PatternType]) -> anyhow::Result<PatternType> {
    PatternType::from_name(text).filter(|p| allowed.contains(p)).ok_or_else(|| {
        let names: Vec<String> = allowed.iter().map(|p| p.name().to_lowercase()).collect();
        anyhow::anyhow!("--resource-pattern-type {text:?}: expected one of {}", names.join(", "))
    })
}

fn operation(text: &str) -> anyhow::Result<Operation> {
    Operation::from_name(text).filter(|o| !matches!(o, Operation::Unknown | Operation::Any)).ok_or_else(|| {
        anyhow::anyhow!(
            "--operation {text:?}: expected Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All"
        )
    })
}

fn principal(text: &str) -> anyhow::Result<String> {
    parse_principal(text)
        .map(|_| text.to_string())
        .ok_or_else(|| anyhow::anyhow!("principal {text:?}: expected Type:name, e.g. User:alice"))
}

/// The (permission, principal, host) triples of the entries given.
fn who(entries: &Entries) -> anyhow::Result<Vec<(Permission, String, String)>> {
    let mut out = Vec::new();
    let hosts = |given: &[String]| if given.is_empty() { vec![WILDCARD.to_string()] } else { given.to_vec() };
    for (permission, principals, given_hosts) in [
        (Permission::Allow, &entries.allow_principals, &entries.allow_hosts),
        (Permission::Deny, &entries.deny_principals, &entries.deny_hosts),
    ] {
        for p in principals {
            let p = principal(p)?;
            for h in hosts(given_hosts) {
                out.push((permission, p.clone(), h));
            }
        }
    }
    Ok(out)
}

/// The bindings `sluice acl add` creates.
fn bindings(args: &AddArgs) -> anyhow::Result<Vec<AclBinding>> {
    let pattern_type = pattern_type(&args.pattern_type, &[PatternType::Literal, PatternType::Prefixed])?;
    let who = who(&args.entries)?;
    anyhow::ensure!(!who.is_empty(), "give at least one --allow-principal or --deny-principal");
    let resources = args.resources.list();
    anyhow::ensure!(!resources.is_empty(), "give at least one of --topic, --group, --transactional-id, --cluster");
    let mut ops: Vec<(ResourceType, String, Operation)> = Vec::new();
    let given: Vec<Operation> = args.entries.operations.iter().map(|o| operation(o)).collect::<anyhow::Result<_>>()?;
    for (rt, name) in &resources {
        let mut here: Vec<Operation> = given.clone();
        if args.producer {
            match rt {
                ResourceType::Topic => here.extend([Operation::Write, Operation::Describe, Operation::Create]),
                ResourceType::TransactionalId => here.extend([Operation::Write, Operation::Describe]),
                _ => {}
            }
        }
        if args.consumer {
            match rt {
                ResourceType::Topic => here.extend([Operation::Read, Operation::Describe]),
                ResourceType::Group => here.push(Operation::Read),
                _ => {}
            }
        }
        for op in here {
            if op != Operation::All && !rt.operations().contains(&op) {
                anyhow::bail!(
                    "operation {} does not apply to a {} (it takes {})",
                    op.name(),
                    rt.name(),
                    rt.operations().iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
                );
            }
            ops.push((*rt, name.clone(), op));
        }
    }
    if args.producer {
        ops.push((ResourceType::Cluster, CLUSTER_NAME.to_string(), Operation::IdempotentWrite));
    }
    anyhow::ensure!(!ops.is_empty(), "give at least one --operation (or --producer / --consumer)");
    let mut out = Vec::new();
    for (rt, name, op) in ops {
        // The cluster is always named literally.
        let pt = if rt == ResourceType::Cluster { PatternType::Literal } else { pattern_type };
        for (permission, principal, host) in &who {
            let b = AclBinding {
                pattern: ResourcePattern { resource_type: rt, pattern_type: pt, name: name.clone() },
                entry: AccessControlEntry {
                    principal: principal.clone(),
                    host: host.clone(),
                    operation: op,
                    permission: *permission,
                },
            };
            if !out.contains(&b) {
                out.push(b);
            }
        }
    }
    Ok(out)
}

fn describe(b: &AclBinding) -> String {
    format!(
        "{} {} {:?} ({}): {} {} {} from {}",
        b.entry.permission.name(),
        b.entry.principal,
        b.pattern.name,
        b.pattern.pattern_type.name().to_lowercase(),
        b.pattern.resource_type.name(),
        b.entry.operation.name(),
        if b.entry.permission == Permission::Allow { "allowed" } else { "denied" },
        b.entry.host
    )
}

pub async fn run(client: Client, cmd: AclCommand) -> anyhow::Result<()> {
    match cmd {
        AclCommand::Add(args) => {
            let wanted = bindings(&args)?;
            let results = client.create_acls(&wanted).await?;
            let mut failed = None;
            for (b, r) in wanted.iter().zip(results) {
                match r {
                    Ok(()) => println!("added: {}", describe(b)),
                    Err(e) => {
                        eprintln!("not added: {}: {e}", describe(b));
                        failed.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
        AclCommand::List(args) => {
            let pt = pattern_type(
                &args.pattern_type,
                &[PatternType::Any, PatternType::Match, PatternType::Literal, PatternType::Prefixed],
            )?;
            let principal = args.principal.as_deref().map(principal).transpose()?;
            let resources = args.resources.list();
            let filters: Vec<AclBindingFilter> = if resources.is_empty() {
                vec![AclBindingFilter { principal: principal.clone(), pattern_type: pt, ..AclBindingFilter::any() }]
            } else {
                resources
                    .into_iter()
                    .map(|(rt, name)| AclBindingFilter {
                        resource_type: rt,
                        name: Some(name),
                        pattern_type: pt,
                        principal: principal.clone(),
                        ..AclBindingFilter::any()
                    })
                    .collect()
            };
            let mut found = Vec::new();
            for f in &filters {
                for b in client.describe_acls(f).await? {
                    if !found.contains(&b) {
                        found.push(b);
                    }
                }
            }
            found.sort();
            if args.json {
                let rows: Vec<_> = found
                    .iter()
                    .map(|b| {
                        json!({
                            "resource_type": b.pattern.resource_type.name(),
                            "resource_name": b.pattern.name,
                            "pattern_type": b.pattern.pattern_type.name().to_lowercase(),
                            "principal": b.entry.principal,
                            "host": b.entry.host,
                            "operation": b.entry.operation.name(),
                            "permission": b.entry.permission.name(),
                        })
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows))?;
            } else {
                let mut table =
                    Table::new(&["RESOURCE_TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"]);
                for b in &found {
                    table.row(vec![
                        b.pattern.resource_type.name().to_string(),
                        b.pattern.name.clone(),
                        b.pattern.pattern_type.name().to_lowercase(),
                        b.entry.principal.clone(),
                        b.entry.host.clone(),
                        b.entry.operation.name().to_string(),
                        b.entry.permission.name().to_string(),
                    ]);
                }
                table.print()?;
            }
        }
        AclCommand::Remove(args) => {
            let pt =
                pattern_type(&args.pattern_type, &[PatternType::Any, PatternType::Literal, PatternType::Prefixed])?;
            let resources = args.resources.list();
            anyhow::ensure!(
                !resources.is_empty(),
                "give at least one of --topic, --group, --transactional-id, --cluster"
            );
            let ops: Vec<Operation> =
                args.entries.operations.iter().map(|o| operation(o)).collect::<anyhow::Result<_>>()?;
            // (permission, principal, host): a host given narrows the filter, none matches any.
            let mut who: Vec<(Permission, String, Option<String>)> = Vec::new();
            for (permission, principals, hosts) in [
                (Permission::Allow, &args.entries.allow_principals, &args.entries.allow_hosts),
                (Permission::Deny, &args.entries.deny_principals, &args.entries.deny_hosts),
            ] {
                for p in principals {
                    let p = principal(p)?;
                    if hosts.is_empty() {
                        who.push((permission, p.clone(), None));
                    }
                    who.extend(hosts.iter().map(|h| (permission, p.clone(), Some(h.clone()))));
                }
            }
            let mut filters = Vec::new();
            for (rt, name) in resources {
                let base = AclBindingFilter {
                    resource_type: rt,
                    name: Some(name),
                    pattern_type: if rt == ResourceType::Cluster { PatternType::Literal } else { pt },
                    ..AclBindingFilter::any()
                };
                let ops: Vec<Operation> = if ops.is_empty() { vec![Operation::Any] } else { ops.clone() };
                for op in ops {
                    if who.is_empty() {
                        filters.push(AclBindingFilter { operation: op, ..base.clone() });
                    }
                    for (permission, principal, host) in &who {
                        filters.push(AclBindingFilter {
                            operation: op,
                            permission: *permission,
                            principal: Some(principal.clone()),
                            host: host.clone(),
                            ..base.clone()
                        });
                    }
                }
            }
            let results = client.delete_acls(&filters).await?;
            let mut removed = 0;
            let mut failed = None;
            for r in results {
                match r {
                    Ok(gone) => {
                        for b in gone {
                            removed += 1;
                            println!("removed: {}", describe(&b));
                        }
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e.into());
            }
            if removed == 0 {
                println!("no ACL matched");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: AclCommand,
    }

    fn add(args: &[&str]) -> anyhow::Result<Vec<AclBinding>> {
        let cli =
            Cli::try_parse_from(std::iter::once("acl").chain(std::iter::once("add")).chain(args.iter().copied()))?;
        let AclCommand::Add(a) = cli.cmd else { unreachable!() };
        bindings(&a)
    }

    #[test]
    fn every_combination_is_one_binding() {
        let b = add(&[
            "--allow-principal",
            "User:alice",
            "--allow-principal",
            "User:bob",
            "--operation",
            "read",
            "--operation",
            "Write",
            "--topic",
            "orders",
        ])
        .expect("valid");
        assert_eq!(b.len(), 4);
        assert!(b.iter().all(|b| b.entry.host == "*" && b.pattern.pattern_type == PatternType::Literal));
    }

    #[test]
    fn producer_and_consumer_expand_as_kafka_acls_does() {
        let b = add(&[
            "--allow-principal",
            "User:app",
            "--producer",
            "--topic",
            "app-",
            "--resource-pattern-type",
            "prefixed",
        ])
        .expect("valid");
        let ops: Vec<(ResourceType, Operation)> =
            b.iter().map(|b| (b.pattern.resource_type, b.entry.operation)).collect();
        assert!(ops.contains(&(ResourceType::Topic, Operation::Write)));
        assert!(ops.contains(&(ResourceType::Topic, Operation::Create)));
        assert!(ops.contains(&(ResourceType::Cluster, Operation::IdempotentWrite)));
        assert!(
            b.iter()
                .filter(|b| b.pattern.resource_type == ResourceType::Topic)
                .all(|b| b.pattern.pattern_type == PatternType::Prefixed)
        );
        let c = add(&["--allow-principal", "User:c", "--consumer", "--topic", "t", "--group", "g"]).expect("valid");
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn bad_input_is_named() {
        let e = add(&["--allow-principal", "alice", "--operation", "Read", "--topic", "t"]).expect_err("refused");
        assert!(e.to_string().contains("Type:name"), "{e}");
        let e = add(&["--allow-principal", "User:a", "--operation", "Fly", "--topic", "t"]).expect_err("refused");
        assert!(e.to_string().contains("--operation"), "{e}");
        let e = add(&["--allow-principal", "User:a", "--operation", "IdempotentWrite", "--topic", "t"])
            .expect_err("refused");
        assert!(e.to_string().contains("does not apply"), "{e}");
        let e = add(&["--allow-principal", "User:a", "--operation", "Read"]).expect_err("refused");
        assert!(e.to_string().contains("--topic"), "{e}");
        let e = add(&[
            "--allow-principal",
            "User:a",
            "--operation",
            "Read",
            "--topic",
            "t",
            "--resource-pattern-type",
            "match",
        ])
        .expect_err("refused");
        assert!(e.to_string().contains("--resource-pattern-type"), "{e}");
    }
}

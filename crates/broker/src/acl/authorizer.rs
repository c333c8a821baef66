//! The authorization decision, Kafka's `AclAuthorizer`: a super user may do everything; else
//! the entries bound to the resource (its literal name, the literal wildcard `*`, and every
//! prefixed pattern its name starts with) decide. A matching DENY refuses; a resource with no
//! entry at all is allowed only with `allow.everyone.if.no.acl.found`; otherwise a matching
//! ALLOW for the operation or one that grants it (READ, WRITE, DELETE and ALTER grant DESCRIBE;
//! ALTER_CONFIGS grants DESCRIBE_CONFIGS; ALL grants everything) allows. An entry matches a
//! principal by name or `User:*`, a host by address or `*`.
//!
//! The entries are an immutable [`AclSnapshot`] swapped whole when keeper changes (reads never
//! wait on a write); a decision costs a few map lookups.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::RwLock;

use super::{AccessControlEntry, AclBinding, AclBindingFilter, Operation, PatternType, Permission};
use super::{ResourcePattern, ResourceType, WILDCARD};

/// Every entry, by pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclSnapshot {
    pub by_pattern: BTreeMap<ResourcePattern, BTreeSet<AccessControlEntry>>,
}

impl AclSnapshot {
    /// The bindings `filter` matches, in pattern order.
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let mut out = Vec::new();
        for (pattern, entries) in &self.by_pattern {
            if !filter.matches_pattern(pattern) {
                continue;
            }
            for entry in entries.iter().filter(|e| filter.matches_entry(e)) {
                out.push(AclBinding { pattern: pattern.clone(), entry: entry.clone() });
            }
        }
        out
    }

    /// The entries that apply to resource `name` of type `rt`: its literal pattern, the
    /// literal wildcard, and the prefixed patterns it starts with.
    fn applicable<'a>(&'a self, rt: ResourceType, name: &str, mut each: impl FnMut(&'a AccessControlEntry)) {
        let mut visit = |pattern_type, n: &str| {
            let key = ResourcePattern { resource_type: rt, pattern_type, name: n.to_string() };
            if let Some(entries) = self.by_pattern.get(&key) {
                entries.iter().for_each(&mut each);
            }
        };
        visit(PatternType::Literal, name);
        if name != WILDCARD {
            visit(PatternType::Literal, WILDCARD);
        }
        // Prefixed patterns: one lookup per prefix of the name, skipped when there are none
        // of this type (the common case).
        let first = ResourcePattern { resource_type: rt, pattern_type: PatternType::Prefixed, name: String::new() };
        let any_prefixed = self
            .by_pattern
            .range(first..)
            .next()
            .is_some_and(|(p, _)| p.resource_type == rt && p.pattern_type == PatternType::Prefixed);
        if any_prefixed {
            for (i, _) in name.char_indices().skip(1).chain(std::iter::once((name.len(), ' '))) {
                visit(PatternType::Prefixed, &name[..i]);
            }
        }
    }
}

/// Who is asking: a principal (`User:alice`) from an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: String,
    pub host: IpAddr,
}

/// The broker's authorizer: its settings and the current entries.
#[derive(Debug)]
pub struct Authorizer {
    super_users: BTreeSet<String>,
    allow_if_no_acl: bool,
    snapshot: RwLock<Arc<AclSnapshot>>,
}

impl Authorizer {
    pub fn new(super_users: BTreeSet<String>, allow_if_no_acl: bool) -> Authorizer {
        Authorizer { super_users, allow_if_no_acl, snapshot: RwLock::new(Arc::default()) }
    }

    pub fn snapshot(&self) -> Arc<AclSnapshot> {
        self.snapshot.read().clone()
    }

    /// Replaces the entries (the keeper sync's last step).
    pub fn replace(&self, snapshot: AclSnapshot) {
        *self.snapshot.write() = Arc::new(snapshot);
    }

    /// Changes the entries of some patterns (`None`: the pattern has none any more).
    pub fn update(&self, changes: Vec<(ResourcePattern, Option<BTreeSet<AccessControlEntry>>)>) {
        let mut slot = self.snapshot.write();
        let mut next = AclSnapshot::clone(&slot);
        for (pattern, entries) in changes {
            match entries {
                Some(e) if !e.is_empty() => {
                    next.by_pattern.insert(pattern, e);
                }
                _ => {
                    next.by_pattern.remove(&pattern);
                }
            }
        }
        *slot = Arc::new(next);
    }

    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    /// Whether `session` may perform `op` on resource `name` of type `rt`.
    pub fn authorize(&self, session: &Session, op: Operation, rt: ResourceType, name: &str) -> bool {
        if self.is_super_user(&session.principal) {
            return true;
        }
        let snapshot = self.snapshot();
        decide(&snapshot, self.allow_if_no_acl, session, op, rt, name)
    }

    /// The operations of `rt`'s supported set that `session` may perform on `name` (KIP-430),
    /// as Kafka's bit field (bit n for operation code n).
    pub fn authorized_operations(&self, session: &Session, rt: ResourceType, name: &str) -> i32 {
        let snapshot = self.snapshot();
        let mut bits = 0i32;
        for op in rt.operations() {
            if self.is_super_user(&session.principal) || decide(&snapshot, self.allow_if_no_acl, session, *op, rt, name)
            {
                bits |= 1 << op.code();
            }
        }
        bits
    }

    /// Whether `session` may perform `op` on at least one resource of type `rt`: some ALLOW
    /// entry (literal or prefixed) grants it and no DENY on the wildcard or every name of
    /// the type refuses it. Kafka's `authorizeByResourceType` (KIP-679): an idempotent producer
    /// with WRITE on any topic may ask for a producer id.
    pub fn authorize_any(&self, session: &Session, op: Operation, rt: ResourceType) -> bool {
        if self.is_super_user(&session.principal) {
            return true;
        }
        let snapshot = self.snapshot();
        let matches = |e: &AccessControlEntry, granted: &[Operation]| {
            principal_matches(&e.principal, &session.principal)
                && host_matches(&e.host, session.host)
                && granted.contains(&e.operation)
        };
        let deny_all = [Operation::All, op];
        let wildcard = ResourcePattern { resource_type: rt, pattern_type: PatternType::Literal, name: WILDCARD.into() };
        if snapshot
            .by_pattern
            .get(&wildcard)
            .is_some_and(|es| es.iter().any(|e| e.permission == Permission::Deny && matches(e, &deny_all)))
        {
            return false;
        }
        // An ALLOW on a pattern not entirely covered by a DENY of the same principal.
        let denied: Vec<&ResourcePattern> = snapshot
            .by_pattern
            .iter()
            .filter(|(p, es)| {
                p.resource_type == rt && es.iter().any(|e| e.permission == Permission::Deny && matches(e, &deny_all))
            })
            .map(|(p, _)| p)
            .collect();
        let covered = |p: &ResourcePattern| {
            denied.iter().any(|d| match (d.pattern_type, p.pattern_type) {
                (PatternType::Literal, PatternType::Literal) => d.name == p.name,
                (PatternType::Prefixed, _) => p.name.starts_with(&d.name),
                _ => false,
            })
        };
        let any_allowed = snapshot.by_pattern.iter().any(|(p, es)| {
            p.resource_type == rt
                && !covered(p)
                && es.iter().any(|e| e.permission == Permission::Allow && matches(e, op.granted_by()))
        });
        any_allowed || (self.allow_if_no_acl && !snapshot.by_pattern.keys().any(|p| p.resource_type == rt))
    }
}

fn principal_matches(entry: &str, principal: &str) -> bool {
    entry == principal || entry == "User:*"
}

fn host_matches(entry: &str, host: IpAddr) -> bool {
    entry == WILDCARD || entry.parse::<IpAddr>().is_ok_and(|h| h == host)
}

fn decide(
    snapshot: &AclSnapshot,
    allow_if_no_acl: bool,
    session: &Session,
    op: Operation,
    rt: ResourceType,
    name: &str,
) -> bool {
    let mut any = false;
    let mut denied = false;
    let mut allowed = false;
    let granted_by = op.granted_by();
    snapshot.applicable(rt, name, |e| {
        any = true;
        if !principal_matches(&e.principal, &session.principal) || !host_matches(&e.host, session.host) {
            return;
        }
        match e.permission {
            Permission::Deny if e.operation == op || e.operation == Operation::All => denied = true,
            Permission::Allow if granted_by.contains(&e.operation) => allowed = true,
            _ => {}
        }
    });
    if denied {
        return false;
    }
    if !any {
        return allow_if_no_acl;
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(principal: &str) -> Session {
        Session { principal: principal.into(), host: std::net::IpAddr::from([127, 0, 0, 1]) }
    }

    fn entry(principal: &str, host: &str, op: Operation, permission: Permission) -> AccessControlEntry {
        AccessControlEntry { principal: principal.into(), host: host.into(), operation: op, permission }
    }

    fn with(entries: &[(ResourceType, PatternType, &str, AccessControlEntry)], allow_if_none: bool) -> Authorizer {
        let a = Authorizer::new(["User:admin".to_string()].into(), allow_if_none);
        let mut snap = AclSnapshot::default();
        for (rt, pt, name, e) in entries {
            snap.by_pattern
                .entry(ResourcePattern { resource_type: *rt, pattern_type: *pt, name: (*name).into() })
                .or_default()
                .insert(e.clone());
        }
        a.replace(snap);
        a
    }

    use Operation::*;
    use PatternType::{Literal, Prefixed};
    use Permission::{Allow, Deny};
    use ResourceType::{Cluster, Group, Topic};

    #[test]
    fn no_entries_follow_allow_everyone_if_no_acl_found() {
        let closed = with(&[], false);
        let open = with(&[], true);
        assert!(!closed.authorize(&session("User:alice"), Read, Topic, "t"));
        assert!(open.authorize(&session("User:alice"), Read, Topic, "t"));
        assert!(closed.authorize(&session("User:admin"), Read, Topic, "t"), "super user");
        // An entry for someone else on the resource: no longer "no ACL found".
        let other = with(&[(Topic, Literal, "t", entry("User:bob", "*", Read, Allow))], true);
        assert!(!other.authorize(&session("User:alice"), Read, Topic, "t"));
        assert!(other.authorize(&session("User:alice"), Read, Topic, "u"));
    }

    #[test]
    fn implied_operations_and_deny_over_allow() {
        let a = with(
            &[
                (Topic, Literal, "t", entry("User:alice", "*", Write, Allow)),
                (Topic, Literal, "t", entry("User:alice", "*", AlterConfigs, Allow)),
                (Topic, Prefixed, "secret-", entry("User:alice", "*", All, Allow)),
                (Topic, Literal, "secret-x", entry("User:alice", "*", Read, Deny)),
                (Group, Literal, "*", entry("User:*", "*", Read, Allow)),
            ],
            false,
        );
        let alice = session("User:alice");
        assert!(a.authorize(&alice, Write, Topic, "t"));
        assert!(a.authorize(&alice, Describe, Topic, "t"), "WRITE grants DESCRIBE");
        assert!(a.authorize(&alice, DescribeConfigs, Topic, "t"), "ALTER_CONFIGS grants DESCRIBE_CONFIGS");
        assert!(!a.authorize(&alice, Read, Topic, "t"));
        assert!(a.authorize(&alice, Delete, Topic, "secret-y"), "ALL on a prefix");
        assert!(!a.authorize(&alice, Read, Topic, "secret-x"), "DENY beats ALLOW");
        assert!(a.authorize(&alice, Write, Topic, "secret-x"));
        assert!(!a.authorize(&alice, Read, Topic, "secret"), "shorter than the prefix");
        assert!(a.authorize(&session("User:bob"), Read, Group, "anything"), "wildcard principal and name");
        assert!(!a.authorize(&session("User:bob"), Delete, Group, "anything"));
        assert!(a.authorize(&session("User:bob"), Describe, Group, "g"), "READ grants DESCRIBE");
    }

    #[test]
    fn hosts_match_by_address_or_wildcard() {
        let a = with(&[(Topic, Literal, "t", entry("User:alice", "10.0.0.1", Read, Allow))], false);
        assert!(!a.authorize(&session("User:alice"), Read, Topic, "t"));
        let remote = Session { principal: "User:alice".into(), host: std::net::IpAddr::from([10, 0, 0, 1]) };
        assert!(a.authorize(&remote, Read, Topic, "t"));
        let denied_here = with(
            &[
                (Topic, Literal, "t", entry("User:alice", "*", Read, Allow)),
                (Topic, Literal, "t", entry("User:alice", "127.0.0.1", Read, Deny)),
            ],
            false,
        );
        assert!(!denied_here.authorize(&session("User:alice"), Read, Topic, "t"));
        assert!(denied_here.authorize(&remote, Read, Topic, "t"));
    }

    #[test]
    fn authorized_operations_are_bits_of_the_supported_set() {
        let a = with(&[(Topic, Literal, "t", entry("User:alice", "*", Read, Allow))], false);
        let bits = a.authorized_operations(&session("User:alice"), Topic, "t");
        assert_eq!(bits, (1 << Read.code()) | (1 << Describe.code()));
        let all = a.authorized_operations(&session("User:admin"), Cluster, super::super::CLUSTER_NAME);
        assert_eq!(all, 8096, "Kafka's cluster bits");
    }

    #[test]
    fn authorize_any_finds_a_grant_on_any_resource_of_the_type() {
        let a = with(&[(Topic, Prefixed, "app-", entry("User:alice", "*", Write, Allow))], false);
        assert!(a.authorize_any(&session("User:alice"), Write, Topic));
        assert!(!a.authorize_any(&session("User:bob"), Write, Topic));
        let denied = with(
            &[
                (Topic, Literal, "t", entry("User:alice", "*", Write, Allow)),
                (Topic, Literal, "*", entry("User:alice", "*", Write, Deny)),
            ],
            false,
        );
        assert!(!denied.authorize_any(&session("User:alice"), Write, Topic));
        let covered = with(
            &[
                (Topic, Literal, "app-1", entry("User:alice", "*", Write, Allow)),
                (Topic, Prefixed, "app-", entry("User:alice", "*", Write, Deny)),
            ],
            false,
        );
        assert!(!covered.authorize_any(&session("User:alice"), Write, Topic));
    }

    #[test]
    fn filters_select_bindings() {
        let a = with(
            &[
                (Topic, Literal, "t", entry("User:alice", "*", Read, Allow)),
                (Topic, Prefixed, "t", entry("User:bob", "*", Write, Allow)),
                (Group, Literal, "g", entry("User:alice", "*", Read, Allow)),
            ],
            false,
        );
        let snap = a.snapshot();
        let mut f = AclBindingFilter::any();
        assert_eq!(snap.matching(&f).len(), 3);
        f.principal = Some("User:alice".into());
        assert_eq!(snap.matching(&f).len(), 2);
        f.resource_type = Topic;
        assert_eq!(snap.matching(&f).len(), 1);
    }
}

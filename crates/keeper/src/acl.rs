//! Znode access control, as ZooKeeper does it: every znode carries a list of ACL entries, each
//! granting a set of permissions to an identity named `scheme:id`; a request passes when one
//! entry grants the permission it needs to an identity its connection has proven.
//!
//! Schemes:
//! - `world:anyone`, everyone;
//! - `digest:user:base64(sha1("user:password"))`, proven by an `addauth digest user:password`;
//! - `ip:addr[/bits]`, the client's address (every connection holds its own `ip` identity);
//! - `x509:<subject DN>`, the certificate a TLS client presented;
//! - `auth`, only in a create or setACL: it stands for every identity the requester has proven
//!   (but its address), and is refused (INVALIDACL) when there is none.
//!
//! A connection that proved the configured super digest is `super`: it passes every check. The
//! checks themselves (which permission each operation needs) are applied where the operation is:
//! in [`crate::data_tree::DataTree`] for writes (at apply time, with the identity the proposal
//! carries, so every replica decides alike) and in the server for reads.

use std::net::IpAddr;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};

use crate::error::ZkError;
use crate::jute::{Acl, Id};

/// Identities one connection may prove, at most: every write it makes carries them into the
/// log, so more is refused (AUTHFAILED, and the connection closes).
pub const MAX_IDENTITIES_PER_CONNECTION: usize = 32;
/// The longest identity (`addauth` credentials, a SASL user) accepted, in bytes.
pub const MAX_IDENTITY_BYTES: usize = 1024;
/// ACL entries of one node, at most, after `auth` is expanded: more is INVALIDACL.
pub const MAX_ACL_ENTRIES: usize = 1024;

/// A setting that holds a password: compared and cloned like the text, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The text itself, for where it is used (never for a log or a message).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// ZooKeeper's `ZooDefs.Perms`.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// One ACL entry of a znode: `perms` granted to `scheme:id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclEntry {
    pub perms: i32,
    pub scheme: String,
    pub id: String,
}

impl AclEntry {
    pub fn new(perms: i32, scheme: &str, id: &str) -> AclEntry {
        AclEntry { perms, scheme: scheme.to_string(), id: id.to_string() }
    }

    /// Everything to everyone (ZooKeeper's `OPEN_ACL_UNSAFE`).
    pub fn open() -> Vec<AclEntry> {
        vec![AclEntry::new(perms::ALL, "world", "anyone")]
    }

    /// Everything to whoever creates the node (`CREATOR_ALL_ACL`).
    pub fn creator_all() -> Vec<AclEntry> {
        vec![AclEntry::new(perms::ALL, "auth", "")]
    }

    /// Reading to everyone (`READ_ACL_UNSAFE`).
    pub fn read_world() -> Vec<AclEntry> {
        vec![AclEntry::new(perms::READ, "world", "anyone")]
    }

    fn is_world(&self) -> bool {
        self.scheme == "world" && self.id == "anyone"
    }
}

impl From<Acl> for AclEntry {
    fn from(a: Acl) -> AclEntry {
        AclEntry { perms: a.perms, scheme: a.id.scheme, id: a.id.id }
    }
}

impl From<&AclEntry> for Acl {
    fn from(a: &AclEntry) -> Acl {
        Acl { perms: a.perms, id: Id { scheme: a.scheme.clone(), id: a.id.clone() } }
    }
}

/// What a request's connection has proven: its identities (`scheme`, `id`) and whether one of
/// them is the super user. Carried by every write proposal, so that the check made when the
/// write is applied is the same on every keeper node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub ids: Vec<(String, String)>,
    pub superuser: bool,
}

impl Identity {
    /// The identity of a write logged before ACLs existed (or made by the keeper itself): every
    /// check passes, so replaying an old log rebuilds the tree it built then.
    pub fn superuser() -> Identity {
        Identity { ids: Vec::new(), superuser: true }
    }

    /// A connection from `ip`, before it proves anything else.
    pub fn from_ip(ip: IpAddr) -> Identity {
        Identity { ids: vec![("ip".to_string(), ip.to_string())], superuser: false }
    }

    /// Adds an identity (once).
    pub fn add(&mut self, scheme: &str, id: &str) {
        if !self.ids.iter().any(|(s, i)| s == scheme && i == id) {
            self.ids.push((scheme.to_string(), id.to_string()));
        }
    }
}

/// The schemes whose identities are proven by authentication, which `auth` expands to
/// (ZooKeeper's `isAuthenticated`: `ip` is only an address).
fn is_authenticated(scheme: &str) -> bool {
    matches!(scheme, "digest" | "x509" | "sasl")
}

/// Whether `id` is well formed for `scheme` (ZooKeeper's `isValid`), `None` for a scheme the
/// keeper has no provider for.
fn is_valid(scheme: &str, id: &str) -> Option<bool> {
    match scheme {
        // Two non-empty parts, as Java's split (which drops a trailing empty part) sees it.
        "digest" => Some(id.split(':').count() == 2 && !id.ends_with(':')),
        "ip" => Some(parse_ip_pattern(id).is_some()),
        "x509" | "sasl" => Some(true),
        _ => None,
    }
}

/// Passes when `acl` grants `perm` (any of its bits) to one of `who`'s identities; NOAUTH
/// otherwise. An empty ACL grants everything (as in ZooKeeper, for nodes made without one).
pub fn check(acl: &[AclEntry], perm: i32, who: &Identity) -> Result<(), ZkError> {
    if who.superuser || acl.is_empty() {
        return Ok(());
    }
    for a in acl.iter().filter(|a| a.perms & perm != 0) {
        if a.is_world() {
            return Ok(());
        }
        if who.ids.iter().any(|(scheme, id)| *scheme == a.scheme && matches(scheme, id, &a.id)) {
            return Ok(());
        }
    }
    Err(ZkError::NoAuth)
}

fn matches(scheme: &str, id: &str, pattern: &str) -> bool {
    match scheme {
        "ip" => ip_matches(id, pattern),
        "digest" | "x509" | "sasl" => id == pattern,
        _ => false,
    }
}

/// `addr` or `addr/bits`.
fn parse_ip_pattern(pattern: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (pattern, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn ip_matches(client: &str, pattern: &str) -> bool {
    let (Ok(client), Some((net, bits))) = (client.parse::<IpAddr>(), parse_ip_pattern(pattern)) else {
        return false;
    };
    match (client, net) {
        (IpAddr::V4(c), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(c) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(c), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(c) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The ACL a create or setACL stores (ZooKeeper's `fixupACL`): duplicates removed, `auth`
/// expanded to the requester's authenticated identities, every other entry checked to be
/// well formed. INVALIDACL for an empty list, an `auth` entry from a requester who proved
/// nothing, an unknown scheme or a malformed id.
/// At most [`MAX_ACL_ENTRIES`] entries may result.
pub fn fixup(acl: &[AclEntry], who: &Identity) -> Result<Vec<AclEntry>, ZkError> {
    if acl.is_empty() || acl.len() > MAX_ACL_ENTRIES {
        return Err(ZkError::InvalidAcl);
    }
    let mut seen: std::collections::HashSet<&AclEntry> = std::collections::HashSet::with_capacity(acl.len());
    let mut out: Vec<AclEntry> = Vec::with_capacity(acl.len());
    let mut kept = std::collections::HashSet::with_capacity(acl.len());
    let mut keep = |e: AclEntry, out: &mut Vec<AclEntry>| {
        if kept.insert(e.clone()) {
            out.push(e);
        }
    };
    for a in acl {
        if !seen.insert(a) {
            continue;
        }
        if a.is_world() {
            keep(a.clone(), &mut out);
        } else if a.scheme == "auth" {
            let mut any = false;
            for (scheme, id) in who.ids.iter().filter(|(s, _)| is_authenticated(s)) {
                any = true;
                keep(AclEntry::new(a.perms, scheme, id), &mut out);
            }
            if !any {
                return Err(ZkError::InvalidAcl);
            }
        } else if is_valid(&a.scheme, &a.id) == Some(true) {
            keep(a.clone(), &mut out);
        } else {
            return Err(ZkError::InvalidAcl);
        }
        if out.len() > MAX_ACL_ENTRIES {
            return Err(ZkError::InvalidAcl);
        }
    }
    Ok(out)
}

/// Paths Kafka keeps from every reader but the brokers when `zookeeper.set.acl` is on (SCRAM
/// credentials, broker configs, delegation tokens): Kafka's `ZkData.sensitiveRootPaths`, matched
/// as prefixes as Kafka matches them.
pub const KAFKA_SENSITIVE_PATHS: [&str; 3] = ["/config/users", "/config/brokers", "/delegation_token/tokens"];

/// The ACL Kafka gives a znode it creates with `zookeeper.set.acl=true` (`ZkData.defaultAcls`):
/// everything to its creator, and reading to everyone unless the path is sensitive. `path` is
/// relative to the chroot.
pub fn kafka_znode_acl(path: &str) -> Vec<AclEntry> {
    let mut acl = AclEntry::creator_all();
    if !KAFKA_SENSITIVE_PATHS.iter().any(|p| path.starts_with(p)) {
        acl.extend(AclEntry::read_world());
    }
    acl
}

/// The scheme and credentials of a keeper client setting (`keeper.connect.auth`, the CLI's
/// `--keeper-auth`): `digest:<user>:<password>` (zkCli's `addauth digest`) or
/// `sasl:<user>:<password>` (SASL DIGEST-MD5, as ZooKeeper's `DigestLoginModule` client).
pub fn parse_client_auth(setting: &str) -> Result<(String, String), String> {
    match setting.split_once(':') {
        Some((scheme @ ("digest" | "sasl"), credentials))
            if credentials.split_once(':').is_some_and(|(u, _)| !u.is_empty()) =>
        {
            Ok((scheme.to_string(), credentials.to_string()))
        }
        Some((scheme @ ("digest" | "sasl"), _)) => Err(format!("expected {scheme}:<user>:<password>")),
        _ => Err("expected digest:<user>:<password> or sasl:<user>:<password>".to_string()),
    }
}

/// The `digest` identity of `user:password`: `user:` and the base64 of the SHA-1 of the whole
/// string (ZooKeeper's `DigestAuthenticationProvider.generateDigest`).
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

/// An ACL as a reader without ADMIN sees it: each digest's hash replaced by `x` (ZooKeeper
/// hides them since CVE-2019-0201's fix).
pub fn masked(acl: &[AclEntry]) -> Vec<AclEntry> {
    acl.iter()
        .map(|a| {
            if a.scheme == "digest" {
                let user = a.id.split(':').next().unwrap_or("");
                AclEntry { perms: a.perms, scheme: a.scheme.clone(), id: format!("{user}:x") }
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(ids: &[(&str, &str)]) -> Identity {
        Identity { ids: ids.iter().map(|(s, i)| (s.to_string(), i.to_string())).collect(), superuser: false }
    }

    #[test]
    fn the_digest_of_a_user_is_zookeepers() {
        // As ZooKeeper's DigestAuthenticationProvider prints it for super:test
        // (`java ... DigestAuthenticationProvider super:test`).
        assert_eq!(digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(digest("kafka:kafka-secret").split(':').next(), Some("kafka"));
    }

    #[test]
    fn a_permission_is_granted_by_an_entry_holding_it_for_a_proven_identity() {
        let bob = digest("bob:pw");
        let acl = vec![AclEntry::new(perms::READ, "world", "anyone"), AclEntry::new(perms::ALL, "digest", &bob)];
        let anonymous = who(&[("ip", "127.0.0.1")]);
        assert_eq!(check(&acl, perms::READ, &anonymous), Ok(()));
        assert_eq!(check(&acl, perms::WRITE, &anonymous), Err(ZkError::NoAuth));
        assert_eq!(check(&acl, perms::WRITE, &who(&[("digest", &bob)])), Ok(()));
        assert_eq!(check(&acl, perms::WRITE, &who(&[("digest", &digest("bob:wrong"))])), Err(ZkError::NoAuth));
        assert_eq!(check(&acl, perms::ADMIN, &Identity::superuser()), Ok(()));
        assert_eq!(check(&[], perms::ADMIN, &anonymous), Ok(()));
        // READ|ADMIN (getACL's need) passes with either.
        assert_eq!(check(&acl, perms::READ | perms::ADMIN, &anonymous), Ok(()));
    }

    #[test]
    fn ip_entries_match_by_network() {
        let acl = vec![AclEntry::new(perms::ALL, "ip", "10.1.0.0/16"), AclEntry::new(perms::ALL, "ip", "::1")];
        assert_eq!(check(&acl, perms::READ, &Identity::from_ip("10.1.200.3".parse().expect("an address"))), Ok(()));
        assert_eq!(
            check(&acl, perms::READ, &Identity::from_ip("10.2.0.1".parse().expect("an address"))),
            Err(ZkError::NoAuth)
        );
        assert_eq!(check(&acl, perms::READ, &Identity::from_ip("::1".parse().expect("an address"))), Ok(()));
        assert_eq!(
            check(&acl, perms::READ, &Identity::from_ip("127.0.0.1".parse().expect("an address"))),
            Err(ZkError::NoAuth)
        );
    }

    #[test]
    fn fixup_expands_auth_checks_ids_and_refuses_what_zookeeper_refuses() {
        let alice = digest("alice:pw");
        let proven = who(&[("ip", "127.0.0.1"), ("digest", &alice)]);
        let fixed =
            fixup(&[AclEntry::new(perms::ALL, "auth", ""), AclEntry::new(perms::READ, "world", "anyone")], &proven)
                .expect("valid");
        assert_eq!(
            fixed,
            vec![AclEntry::new(perms::ALL, "digest", &alice), AclEntry::new(perms::READ, "world", "anyone")]
        );
        // `auth` from a requester who proved nothing but an address.
        let anonymous = who(&[("ip", "127.0.0.1")]);
        assert_eq!(fixup(&AclEntry::creator_all(), &anonymous), Err(ZkError::InvalidAcl));
        assert_eq!(fixup(&[], &anonymous), Err(ZkError::InvalidAcl));
        assert_eq!(fixup(&[AclEntry::new(perms::ALL, "world", "everyone")], &anonymous), Err(ZkError::InvalidAcl));
        assert_eq!(fixup(&[AclEntry::new(perms::ALL, "digest", "nocolon")], &anonymous), Err(ZkError::InvalidAcl));
        assert_eq!(fixup(&[AclEntry::new(perms::ALL, "ip", "10.0.0.0/33")], &anonymous), Err(ZkError::InvalidAcl));
        assert_eq!(fixup(&[AclEntry::new(perms::ALL, "kerberos", "x")], &anonymous), Err(ZkError::InvalidAcl));
        // Duplicates collapse.
        let open = AclEntry::open();
        assert_eq!(fixup(&[open[0].clone(), open[0].clone()], &anonymous), Ok(open));
    }

    #[test]
    fn kafka_protects_credentials_from_every_reader_and_the_rest_from_writers() {
        assert_eq!(kafka_znode_acl("/config/users/alice"), AclEntry::creator_all());
        assert_eq!(kafka_znode_acl("/config/brokers"), AclEntry::creator_all());
        let mut public = AclEntry::creator_all();
        public.extend(AclEntry::read_world());
        assert_eq!(kafka_znode_acl("/brokers/topics/t"), public);
        assert_eq!(kafka_znode_acl("/config/topics/t"), public);
        assert_eq!(
            parse_client_auth("digest:kafka:pw:with:colons"),
            Ok(("digest".into(), "kafka:pw:with:colons".into()))
        );
        assert!(parse_client_auth("digest:nopassword").is_err());
        assert!(parse_client_auth("sasl:kafka").is_err());
        assert_eq!(parse_client_auth("sasl:kafka:pw"), Ok(("sasl".into(), "kafka:pw".into())));
        assert!(parse_client_auth("kerberos:kafka:pw").is_err());
    }

    #[test]
    fn a_reader_without_admin_sees_no_password_hash() {
        let acl =
            vec![AclEntry::new(perms::ALL, "digest", &digest("bob:pw")), AclEntry::new(perms::READ, "ip", "10.0.0.1")];
        let m = masked(&acl);
        assert_eq!(m[0].id, "bob:x");
        assert_eq!(m[1], acl[1]);
    }
}

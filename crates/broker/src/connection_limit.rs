//! How many client connections this broker holds: `max.connections` over all its listeners
//! (Kafka's broker-wide limit), and per client address `max.connections.per.ip`, with
//! `max.connections.per.ip.overrides` (`host:count,...`; a host name counts for every address
//! it resolves to) for named hosts.
//!
//! A connection beyond a limit is accepted and closed at once, as Kafka closes one beyond its
//! per-IP limit. Kafka's acceptor instead stops accepting at the broker-wide limit, which leaves
//! new clients hanging in the kernel's backlog with no answer; here they learn at once, and one
//! address cannot take every slot when its own limit is lower than the broker's.
//!
//! All three keys are dynamic broker configs: a new limit applies to the next connection;
//! connections already open are not closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// The limits in force and the connections counted against them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `max.connections`
    pub max_connections: usize,
    /// `max.connections.per.ip`
    pub max_per_ip: usize,
    /// `max.connections.per.ip.overrides`, resolved to addresses.
    pub per_ip_overrides: HashMap<IpAddr, usize>,
}

impl ConnectionLimits {
    /// The limit for one address.
    pub fn for_ip(&self, ip: &IpAddr) -> usize {
        self.per_ip_overrides.get(ip).copied().unwrap_or(self.max_per_ip)
    }
}

#[derive(Debug)]
struct State {
    limits: ConnectionLimits,
    open: usize,
    /// Open connections per client address; an address leaves the map with its last
    /// connection, so the map holds at most `open` entries.
    per_ip: HashMap<IpAddr, usize>,
}

/// The broker's connection count, shared by its listeners.
#[derive(Debug, Clone)]
pub struct ConnectionSlots {
    state: Arc<Mutex<State>>,
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max.connections` are open.
    Broker { limit: usize },
    /// The address has its `max.connections.per.ip` (or override) open.
    PerIp { limit: usize },
}

impl Refused {
    /// The config key whose limit was reached.
    pub fn key(&self) -> &'static str {
        match self {
            Refused::Broker { .. } => "max.connections",
            Refused::PerIp { .. } => "max.connections.per.ip",
        }
    }

    pub fn limit(&self) -> usize {
        match self {
            Refused::Broker { limit } | Refused::PerIp { limit } => *limit,
        }
    }
}

/// One connection's place in the count, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    state: Arc<Mutex<State>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        assert!(state.open > 0, "a slot given back was counted");
        state.open -= 1;
        let count = state.per_ip.get_mut(&self.ip).expect("a slot's address is counted");
        *count -= 1;
        if *count == 0 {
            state.per_ip.remove(&self.ip);
        }
    }
}

impl ConnectionSlots {
    pub fn new(limits: ConnectionLimits) -> ConnectionSlots {
        ConnectionSlots { state: Arc::new(Mutex::new(State { limits, open: 0, per_ip: HashMap::new() })) }
    }

    /// A slot for a connection from `ip`, or why it is refused.
    pub fn try_acquire(&self, ip: IpAddr) -> Result<Slot, Refused> {
        let mut state = self.state.lock();
        if state.open >= state.limits.max_connections {
            return Err(Refused::Broker { limit: state.limits.max_connections });
        }
        let limit = state.limits.for_ip(&ip);
        let count = state.per_ip.get(&ip).copied().unwrap_or(0);
        if count >= limit {
            return Err(Refused::PerIp { limit });
        }
        state.open += 1;
        *state.per_ip.entry(ip).or_insert(0) += 1;
        Ok(Slot { state: self.state.clone(), ip })
    }

    /// The limits in force.
    pub fn limits(&self) -> ConnectionLimits {
        self.state.lock().limits.clone()
    }

    /// Changes the limits; they apply to the next connection.
    pub fn set_limits(&self, limits: ConnectionLimits) {
        self.state.lock().limits = limits;
    }

    /// Connections open now, in all and from `ip`.
    pub fn open(&self, ip: &IpAddr) -> (usize, usize) {
        let state = self.state.lock();
        (state.open, state.per_ip.get(ip).copied().unwrap_or(0))
    }
}

/// Parses `max.connections.per.ip.overrides`: `host:count` pairs separated by commas, where
/// host is an address or a name (every address it resolves to gets the count). An IPv6
/// address is written in brackets or bare (the count follows the last colon).
pub fn parse_per_ip_overrides(value: &str) -> Result<HashMap<IpAddr, usize>, String> {
    let mut out = HashMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((host, count)) = entry.rsplit_once(':') else {
            return Err(format!("{entry:?} is not host:count"));
        };
        let count = count
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n <= i32::MAX as u32)
            .ok_or_else(|| format!("{entry:?}: the count must be a whole number from 0"))?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                use std::net::ToSocketAddrs;
                (host, 0)
                    .to_socket_addrs()
                    .map_err(|e| format!("{entry:?}: host {host:?} does not resolve: {e}"))?
                    .map(|a| a.ip())
                    .collect()
            }
        };
        for ip in ips {
            out.insert(ip, count as usize);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize) -> ConnectionLimits {
        ConnectionLimits { max_connections: max, max_per_ip: per_ip, per_ip_overrides: HashMap::new() }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn one_address_cannot_take_every_slot() {
        let slots = ConnectionSlots::new(limits(3, 2));
        let a1 = slots.try_acquire(A).expect("first");
        let _a2 = slots.try_acquire(A).expect("second");
        assert_eq!(slots.try_acquire(A).expect_err("refused"), Refused::PerIp { limit: 2 });
        let _b1 = slots.try_acquire(B).expect("another address");
        assert_eq!(slots.try_acquire(B).expect_err("refused"), Refused::Broker { limit: 3 });
        drop(a1);
        assert_eq!(slots.open(&A), (2, 1));
        let _b2 = slots.try_acquire(B).expect("a slot given back");
    }

    #[test]
    fn overrides_and_new_limits_apply_to_the_next_connection() {
        let slots = ConnectionSlots::new(limits(10, 1));
        let _a = slots.try_acquire(A).expect("first");
        assert!(slots.try_acquire(A).is_err());
        let mut l = limits(10, 1);
        l.per_ip_overrides = parse_per_ip_overrides("127.0.0.1:3, [::1]:0").expect("valid");
        assert_eq!(l.for_ip(&"::1".parse().expect("an address")), 0);
        slots.set_limits(l);
        let _a2 = slots.try_acquire(A).expect("override");
        slots.set_limits(limits(1, 10));
        assert_eq!(
            slots.try_acquire(B).expect_err("refused"),
            Refused::Broker { limit: 1 },
            "lowered below what is open"
        );
        assert_eq!(slots.open(&A), (2, 2), "open connections are kept");
    }

    #[test]
    fn bad_overrides_name_the_entry() {
        assert!(parse_per_ip_overrides("127.0.0.1").expect_err("refused").contains("host:count"));
        assert!(parse_per_ip_overrides("127.0.0.1:-1").expect_err("refused").contains("whole number"));
        assert_eq!(parse_per_ip_overrides("").expect("empty is valid"), HashMap::new());
        assert_eq!(parse_per_ip_overrides("localhost:5").expect("resolves").get(&A), Some(&5));
    }
}

//! TLS for keeper (ZooKeeper's `secureClientPort` and `sslQuorum`): what the embedding process
//! hands the server (an acceptor, reloaded as its files change) and the client (a rustls client
//! configuration), and the identity a client certificate proves: `x509:<subject DN>`, as
//! ZooKeeper's `X509AuthenticationProvider` names it.

use std::sync::Arc;

/// The current TLS acceptor of a listener (a new call may carry reloaded certificates).
pub type Acceptor = Arc<dyn Fn() -> tokio_rustls::TlsAcceptor + Send + Sync>;

/// How long a client or peer has to complete its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// TLS between keeper nodes: each peer connection is mutual TLS, the accepting side's
/// acceptor requiring a client certificate from the truststore, the connecting side presenting
/// its own and checking the other's. With `peer_hosts`, each side also pins the other to the
/// ensemble: the accepting side takes only a certificate valid for one of these hosts (the
/// ensemble's, from `keeper.servers`), as ZooKeeper's `ssl.quorum.hostnameVerification` does,
/// so a client certificate from the same CA cannot pose as a keeper node; the connecting side's
/// configuration checks the name of the node it dials.
#[derive(Clone)]
pub struct PeerTls {
    pub acceptor: Acceptor,
    pub connector: Arc<rustls::ClientConfig>,
    pub peer_hosts: Option<Vec<String>>,
}

/// Whether a DER certificate names `host` among its subject alternative names (a DNS name,
/// compared without case, or an IP address).
pub fn certificate_names(der: &[u8], host: &str) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return false };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return false };
    let ip: Option<std::net::IpAddr> = host.parse().ok();
    san.value.general_names.iter().any(|name| match name {
        x509_parser::extensions::GeneralName::DNSName(d) => d.eq_ignore_ascii_case(host),
        x509_parser::extensions::GeneralName::IPAddress(bytes) => match (ip, bytes.len()) {
            (Some(std::net::IpAddr::V4(v4)), 4) => v4.octets()[..] == bytes[..],
            (Some(std::net::IpAddr::V6(v6)), 16) => v6.octets()[..] == bytes[..],
            _ => false,
        },
        _ => false,
    })
}

/// Equal when they are the same configuration (not merely alike).
impl PartialEq for PeerTls {
    fn eq(&self, other: &PeerTls) -> bool {
        Arc::ptr_eq(&self.acceptor, &other.acceptor)
            && Arc::ptr_eq(&self.connector, &other.connector)
            && self.peer_hosts == other.peer_hosts
    }
}

impl Eq for PeerTls {}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls").finish_non_exhaustive()
    }
}

/// The name a server's certificate is checked against: the host of `host:port`.
pub fn server_name(address: &str) -> std::io::Result<rustls::pki_types::ServerName<'static>> {
    let host = match address.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => address,
    };
    rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::other(format!("{host:?} is not a name TLS can check: {e}")))
}

/// The subject of a DER certificate as RFC 2253 writes it (most specific first:
/// `CN=alice,OU=eng,O=Example,C=US`), as Java's `X500Principal.getName()` gives Kafka.
pub fn subject_dn(der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("unreadable certificate: {e}"))?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let mut parts = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let key = match oid.as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.9" => "STREET".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                other => other.to_string(),
            };
            let value = attr.as_str().map_err(|e| format!("unreadable subject attribute {key}: {e}"))?;
            parts.push(format!("{key}={}", escape_rfc2253(value)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2253_escapes_what_it_must() {
        assert_eq!(escape_rfc2253("a,b"), "a\\,b");
        assert_eq!(escape_rfc2253(" lead"), "\\ lead");
        assert_eq!(escape_rfc2253("plain"), "plain");
    }
}

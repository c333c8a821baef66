//! TLS on `SSL` and `SASL_SSL` listeners, with rustls (no OpenSSL), configured by Kafka's keys
//! (each may be prefixed `listener.name.<listener>.` for one listener):
//!
//! - `ssl.keystore.type=PEM` with `ssl.keystore.location` (a PEM file holding the private key
//!   and the certificate chain) or `ssl.keystore.key` and `ssl.keystore.certificate.chain`
//!   (the PEM text itself); an encrypted key is refused (`ssl.key.password`);
//! - `ssl.truststore.type=PEM` with `ssl.truststore.location` or `ssl.truststore.certificates`:
//!   the CAs client certificates must lead to, and this broker's trust when it connects to the
//!   others over the listener;
//! - `ssl.client.auth` `none` (the default), `requested` or `required`;
//! - `ssl.enabled.protocols` (TLSv1.2 and TLSv1.3 by default);
//! - `ssl.principal.mapping.rules`: how a client certificate's subject becomes its principal
//!   (`User:<mapped>`), Kafka's `RULE:pattern/replacement/[LU]` list ending in `DEFAULT`
//!   (the whole distinguished name, in RFC 2253 form: `CN=alice,OU=eng,O=Example`);
//! - `ssl.endpoint.identification.algorithm` (`https`, the default, or empty): whether this
//!   broker checks the other brokers' names when it connects to them.
//!
//! Certificates are reloaded without a restart: each new connection checks (at most once per
//! [`TLS_RELOAD_CHECK_INTERVAL_MS`]) whether the files changed and, if they did and still make
//! a valid configuration, uses the new one; connections already open keep theirs. A broken
//! replacement is logged and the previous configuration stays.
//!
//! Fetch answers over TLS are copied through the TLS layer (no `sendfile`), as Kafka does
//! without kernel TLS.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sluice_client::tls::{
    certificates_from_pem, load_certificates, load_private_key, private_key_from_pem, root_store,
};

/// How often, at most, a listener looks at its certificate files for a change.
pub const TLS_RELOAD_CHECK_INTERVAL_MS: u64 = 1_000;

/// How long a client has to complete its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Where PEM material comes from: a file (reloaded when it changes) or the config's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// One listener's TLS settings, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The private key and the certificate chain: one PEM file, or the key and chain apart.
    pub key: Pem,
    pub chain: Pem,
    pub truststore: Option<Pem>,
    pub client_auth: ClientAuth,
    /// TLS 1.2 and/or 1.3.
    pub tls12: bool,
    pub tls13: bool,
    pub principal_rules: PrincipalRules,
    /// `ssl.endpoint.identification.algorithm=https`: check peer brokers' names.
    pub verify_hostname: bool,
}

impl TlsSettings {
    fn files(&self) -> Vec<PathBuf> {
        [&self.key, &self.chain]
            .into_iter()
            .chain(self.truststore.as_ref())
            .filter_map(|p| match p {
                Pem::File(f) => Some(f.clone()),
                Pem::Inline(_) => None,
            })
            .fold(Vec::new(), |mut v, f| {
                if !v.contains(&f) {
                    v.push(f);
                }
                v
            })
    }

    fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, String> {
        match pem {
            Pem::File(path) => load_certificates(path),
            Pem::Inline(text) => certificates_from_pem(text.as_bytes()),
        }
    }

    fn private_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, String> {
        match pem {
            Pem::File(path) => load_private_key(path),
            Pem::Inline(text) => private_key_from_pem(text.as_bytes()),
        }
    }

    fn versions(&self) -> Vec<&'static rustls::SupportedProtocolVersion> {
        let mut v = Vec::new();
        if self.tls13 {
            v.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            v.push(&rustls::version::TLS12);
        }
        v
    }

    /// The server configuration these settings make now.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = sluice_client::tls::provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions())
            .map_err(|e| e.to_string())?;
        let builder = match (self.client_auth, &self.truststore) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (auth, Some(trust)) => {
                let roots = Arc::new(root_store(Self::certificates(trust)?)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = if auth == ClientAuth::Requested { verifier.allow_unauthenticated() } else { verifier };
                builder.with_client_cert_verifier(
                    verifier.build().map_err(|e| format!("cannot verify client certificates: {e}"))?,
                )
            }
            (_, None) => return Err("ssl.client.auth needs a truststore (ssl.truststore.location)".into()),
        };
        let config = builder
            .with_single_cert(Self::certificates(&self.chain)?, Self::private_key(&self.key)?)
            .map_err(|e| format!("the keystore's key and certificate do not fit together: {e}"))?;
        Ok(Arc::new(config))
    }

    /// This broker's client side towards other brokers' listeners of the same name: their
    /// certificates checked against the truststore (default: the system's CAs), and this
    /// broker's own certificate offered.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let provider = sluice_client::tls::provider();
        let roots = match &self.truststore {
            Some(t) => root_store(Self::certificates(t)?)?,
            None => root_store(load_certificates(std::path::Path::new(sluice_client::tls::SYSTEM_CA_BUNDLE))?)?,
        };
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions())
            .map_err(|e| e.to_string())?;
        let builder = if self.verify_hostname {
            builder.with_webpki_verifier(verifier)
        } else {
            builder.dangerous().with_custom_certificate_verifier(sluice_client::tls::chain_only(verifier))
        };
        let config = builder
            .with_client_auth_cert(Self::certificates(&self.chain)?, Self::private_key(&self.key)?)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }
}

/// A listener's TLS acceptor, reloaded when its files change.
#[derive(Debug)]
pub struct TlsListener {
    pub name: String,
    pub settings: TlsSettings,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    config: Arc<rustls::ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
    checked: Instant,
}

fn stamps(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
}

impl TlsListener {
    /// Loads the listener's configuration; an error names what is wrong.
    pub fn new(name: &str, settings: TlsSettings) -> Result<TlsListener, String> {
        let config = settings.server_config()?;
        let stamps = stamps(&settings.files());
        Ok(TlsListener {
            name: name.to_string(),
            settings,
            state: Mutex::new(Loaded { config, stamps, checked: Instant::now() }),
        })
    }

    /// The acceptor for a new connection: the current configuration, reloaded first if the
    /// files changed since it was loaded.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let mut state = self.state.lock();
        if state.checked.elapsed() >= Duration::from_millis(TLS_RELOAD_CHECK_INTERVAL_MS) {
            state.checked = Instant::now();
            let now = stamps(&self.settings.files());
            if now != state.stamps {
                state.stamps = now;
                match self.settings.server_config() {
                    Ok(config) => {
                        tracing::info!(listener = %self.name, "TLS certificates reloaded");
                        state.config = config;
                    }
                    Err(e) => {
                        tracing::warn!(listener = %self.name, error = %e, "changed TLS files are not usable; keeping the previous ones");
                    }
                }
            }
        }
        tokio_rustls::TlsAcceptor::from(state.config.clone())
    }
}

/// `ssl.principal.mapping.rules`: Kafka's list of `RULE:pattern/replacement/[LU]` and `DEFAULT`,
/// tried in order on a certificate's distinguished name; the first rule whose pattern matches
/// the whole name gives the principal's name.
#[derive(Debug, Clone)]
pub struct PrincipalRules {
    text: String,
    rules: Vec<Rule>,
}

impl PartialEq for PrincipalRules {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for PrincipalRules {}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Map { pattern: regex::Regex, replacement: String, case: Option<char> },
}

impl PrincipalRules {
    pub fn parse(text: &str) -> Result<PrincipalRules, String> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after.trim_start().trim_start_matches(',').trim_start();
                continue;
            }
            let Some(body) = rest.strip_prefix("RULE:") else {
                return Err(format!("expected RULE:pattern/replacement/[LU] or DEFAULT at {rest:?}"));
            };
            // pattern/replacement/ then an optional L or U; a '/' inside needs no escaping in
            // Kafka's syntax only in the replacement's absence, so split on the first two.
            let mut parts = body.splitn(3, '/');
            let (Some(pattern), Some(replacement), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("a rule needs pattern/replacement/: {body:?}"));
            };
            let (case, after) = match tail.chars().next() {
                Some(c @ ('L' | 'U')) => (Some(c), &tail[1..]),
                _ => (None, tail),
            };
            let pattern = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("rule pattern {pattern:?} is not a regular expression: {e}"))?;
            rules.push(Rule::Map { pattern, replacement: replacement.to_string(), case });
            rest = after.trim_start().trim_start_matches(',').trim_start();
        }
        if rules.is_empty() {
            rules.push(Rule::Default);
        }
        Ok(PrincipalRules { text: text.to_string(), rules })
    }

    /// The principal name of distinguished name `dn`; `None` when no rule matches (Kafka then
    /// refuses the connection).
    pub fn apply(&self, dn: &str) -> Option<String> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Some(dn.to_string()),
                Rule::Map { pattern, replacement, case } => {
                    if let Some(caps) = pattern.captures(dn) {
                        let mut out = String::new();
                        caps.expand(replacement, &mut out);
                        return Some(match case {
                            Some('L') => out.to_lowercase(),
                            Some('U') => out.to_uppercase(),
                            _ => out,
                        });
                    }
                }
            }
        }
        None
    }
}

pub use sluice_keeper::tls::subject_dn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_rules_follow_kafkas_syntax() {
        let rules = PrincipalRules::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,DEFAULT",
        )
        .expect("valid rules");
        assert_eq!(rules.apply("CN=kafka-broker,OU=ServiceUsers,O=Example").as_deref(), Some("kafka-broker"));
        assert_eq!(rules.apply("CN=Alice,OU=Eng,O=Ex,L=Town,ST=State,C=US").as_deref(), Some("alice@eng"));
        assert_eq!(rules.apply("CN=other").as_deref(), Some("CN=other"));
        let only = PrincipalRules::parse("RULE:^CN=([a-z]+)$/$1/U").expect("valid");
        assert_eq!(only.apply("CN=bob").as_deref(), Some("BOB"));
        assert_eq!(only.apply("CN=Bob,O=x"), None);
        assert_eq!(PrincipalRules::parse("DEFAULT").expect("valid").apply("CN=x").as_deref(), Some("CN=x"));
        assert!(PrincipalRules::parse("RULE:(/x").is_err());
        assert!(PrincipalRules::parse("NONSENSE").is_err());
    }
}

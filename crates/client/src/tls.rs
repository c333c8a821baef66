//! TLS with rustls (ring's primitives, no OpenSSL): PEM files read into certificates and keys,
//! and the client's side of a connection to an `SSL` or `SASL_SSL` listener. The broker builds
//! its server side from the same loaders.
//!
//! Settings follow librdkafka's names, which kcat and the CLI's `-X` take: `ssl.ca.location`
//! (the CA certificates a broker's chain must lead to; default the system's bundle),
//! `ssl.certificate.location` and `ssl.key.location` (the client's own certificate chain and
//! key, for brokers with `ssl.client.auth`), and `ssl.endpoint.identification.algorithm`
//! (`https`, the default, checks the broker's name against its certificate; `none` does not,
//! the chain is still verified). The Java client's PEM truststore and keystore keys map onto
//! the same (`ClientConfig::with_properties`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where the system keeps its CA bundle (Debian's `ca-certificates`): the client's trust when
/// `ssl.ca.location` is not given.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The TLS side of a client's security settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `ssl.ca.location`: PEM CA certificates (default: [`SYSTEM_CA_BUNDLE`]).
    pub ca_location: Option<PathBuf>,
    /// `ssl.certificate.location`: the client's PEM certificate chain, for mutual TLS.
    pub certificate_location: Option<PathBuf>,
    /// `ssl.key.location`: the client's PEM private key (unencrypted).
    pub key_location: Option<PathBuf>,
    /// `ssl.endpoint.identification.algorithm` is `https` (true, the default) or `none`.
    pub verify_hostname: bool,
}

/// The certificates of a PEM file, in order.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1; an encrypted key is refused, naming
/// the way out).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    private_key_from_pem(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The private key in PEM text.
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    if pem.windows(b"ENCRYPTED PRIVATE KEY".len()).any(|w| w == b"ENCRYPTED PRIVATE KEY") {
        return Err("the private key is encrypted, which is not supported: decrypt it first \
                    (openssl pkey -in key.pem -out plain-key.pem)"
            .into());
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("no usable PEM private key: {e}"))
}

/// The certificates in PEM text.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate".into());
    }
    Ok(certs)
}

/// A root store of `certs`.
pub fn root_store(certs: Vec<CertificateDer<'static>>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("none of the {ignored} CA certificates could be used"));
    }
    Ok(roots)
}

/// The crypto provider: ring's. rustls 0.23.48 deprecates it for aws-lc-rs, whose post-quantum
/// key exchange (X25519MLKEM768) ring lacks; aws-lc-rs brings a large C build (cmake) into
/// the static binaries and the image, and Kafka's own clients and brokers negotiate classical
/// groups today. Revisit when post-quantum exchange matters to Kafka clients.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration of `settings`.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<rustls::ClientConfig>, String> {
    let ca = settings.ca_location.clone().unwrap_or_else(|| PathBuf::from(SYSTEM_CA_BUNDLE));
    let roots = Arc::new(root_store(load_certificates(&ca)?)?);
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
    let builder = if settings.verify_hostname {
        builder.with_webpki_verifier(verifier)
    } else {
        builder.dangerous().with_custom_certificate_verifier(chain_only(verifier))
    };
    let config = match (&settings.certificate_location, &settings.key_location) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load_certificates(cert)?, load_private_key(key)?)
            .map_err(|e| format!("the client certificate and key do not fit together: {e}"))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("ssl.certificate.location and ssl.key.location go together".into()),
    };
    Ok(Arc::new(config))
}

/// The name a broker's certificate is checked against: its host (a name or an address).
pub fn server_name(address: &str) -> Result<ServerName<'static>, String> {
    let host = match address.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => address,
    };
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?} is not a name TLS can check: {e}"))
}

/// A verifier for `ssl.endpoint.identification.algorithm=none`: `verifier`'s checks of the
/// chain, without its check of the name.
pub fn chain_only(verifier: Arc<rustls::client::WebPkiServerVerifier>) -> Arc<dyn ServerCertVerifier> {
    Arc::new(ChainOnly(verifier))
}

/// `ssl.endpoint.identification.algorithm=none`: the chain is verified, the name is not.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_address() {
        assert!(matches!(server_name("broker-1.example:9093"), Ok(ServerName::DnsName(_))));
        assert!(matches!(server_name("127.0.0.1:9093"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("[::1]:9093"), Ok(ServerName::IpAddress(_))));
    }

    #[test]
    fn encrypted_and_missing_keys_are_named() {
        let e =
            private_key_from_pem(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
                .expect_err("encrypted");
        assert!(e.contains("encrypted"), "{e}");
        let e = private_key_from_pem(b"nothing here").expect_err("no key");
        assert!(e.contains("no usable PEM private key"), "{e}");
        assert!(certificates_from_pem(b"nothing").is_err());
    }
}

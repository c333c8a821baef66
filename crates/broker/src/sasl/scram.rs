//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server's side, as Kafka runs them
//! (`ScramSaslServer`): no channel binding, no authorization identity other than the user's own,
//! credentials stored salted (`salt`, `stored_key`, `server_key`, `iterations`) the way Kafka
//! stores them under `/config/users/<user>`. The primitives and the credential are
//! `sluice_protocol::scram`'s (RustCrypto's `hmac`, `sha2`, `pbkdf2`); comparisons of secrets
//! are constant-time (`subtle`).
//!
//! Sans I/O: [`ScramServer`] takes the client's messages as bytes and returns the server's; the
//! caller looks the credential up between the first two steps.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
pub use sluice_protocol::scram::{
    MAX_ITERATIONS, MIN_ITERATIONS, NONCE_BYTES, SALT_BYTES, ScramCredential, ScramMechanism,
};
use subtle::ConstantTimeEq;

/// Why a SCRAM exchange failed: the message for the client and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramFailure(pub String);

/// Where the server is in an exchange.
#[derive(Debug)]
enum Stage {
    /// Waiting for client-first.
    First,
    /// client-first read; waiting for the caller to give the credential.
    Lookup {
        bare: String,
        client_nonce: String,
    },
    /// server-first sent; waiting for client-final.
    Final {
        credential: ScramCredential,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

/// The server's side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    stage: Stage,
    user: Option<String>,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer { mechanism, stage: Stage::First, user: None }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The user named in client-first, once it is read.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Reads client-first (`n,,n=<user>,r=<nonce>[,extensions]`); returns the user whose
    /// credential the caller must look up and pass to [`ScramServer::server_first`].
    pub fn client_first(&mut self, message: &[u8]) -> Result<String, ScramFailure> {
        if !matches!(self.stage, Stage::First) {
            return Err(ScramFailure("unexpected client-first message".into()));
        }
        let text = std::str::from_utf8(message).map_err(|_| ScramFailure("client-first is not UTF-8".into()))?;
        // gs2-header: no channel binding ("n" or "y"), no authzid other than the user itself.
        let (cbind, rest) = text.split_once(',').ok_or_else(|| malformed("client-first"))?;
        if cbind != "n" && cbind != "y" {
            return Err(ScramFailure("channel binding is not supported".into()));
        }
        let (authzid, bare) = rest.split_once(',').ok_or_else(|| malformed("client-first"))?;
        let mut fields = bare.split(',');
        let user = fields
            .next()
            .and_then(|f| f.strip_prefix("n="))
            .and_then(decode_saslname)
            .ok_or_else(|| malformed("client-first"))?;
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
            .ok_or_else(|| malformed("client-first"))?;
        // Extensions (Kafka's tokenauth for delegation tokens) are not served here.
        if fields.any(|f| f.starts_with("tokenauth=")) {
            return Err(ScramFailure("delegation tokens are not supported".into()));
        }
        if !authzid.is_empty() {
            let named = authzid.strip_prefix("a=").and_then(decode_saslname);
            if named.as_deref() != Some(user.as_str()) {
                return Err(ScramFailure("the authorization id must be the user's own".into()));
            }
        }
        self.user = Some(user.clone());
        self.stage = Stage::Lookup { bare: bare.to_string(), client_nonce: client_nonce.to_string() };
        Ok(user)
    }

    /// Answers client-first with server-first (`r=<nonce>,s=<salt>,i=<iterations>`), given the
    /// user's credential (`None`: no such user, which fails the exchange).
    pub fn server_first(&mut self, credential: Option<ScramCredential>) -> Result<Vec<u8>, ScramFailure> {
        let Stage::Lookup { bare, client_nonce } = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Err(ScramFailure("unexpected server-first".into()));
        };
        let credential = credential.ok_or_else(|| invalid_credentials(self.mechanism))?;
        let mut random = [0u8; NONCE_BYTES];
        getrandom::fill(&mut random).map_err(|e| ScramFailure(format!("no randomness for a nonce: {e}")))?;
        let nonce = format!("{client_nonce}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random));
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&credential.salt), credential.iterations);
        let out = server_first.clone().into_bytes();
        self.stage = Stage::Final { credential, client_first_bare: bare, server_first, nonce };
        Ok(out)
    }

    /// Reads client-final (`c=<binding>,r=<nonce>,p=<proof>`), checks the proof, and returns
    /// server-final (`v=<signature>`).
    pub fn client_final(&mut self, message: &[u8]) -> Result<Vec<u8>, ScramFailure> {
        let Stage::Final { credential, client_first_bare, server_first, nonce } =
            std::mem::replace(&mut self.stage, Stage::Done)
        else {
            return Err(ScramFailure("unexpected client-final message".into()));
        };
        let text = std::str::from_utf8(message).map_err(|_| ScramFailure("client-final is not UTF-8".into()))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| malformed("client-final"))?;
        let mut fields = without_proof.split(',');
        let binding = fields.next().and_then(|f| f.strip_prefix("c=")).ok_or_else(|| malformed("client-final"))?;
        let their_nonce = fields.next().and_then(|f| f.strip_prefix("r=")).ok_or_else(|| malformed("client-final"))?;
        // No channel binding: the binding is the base64 of a gs2-header ("n,," or "n,a=<user>,").
        let binding = B64.decode(binding).map_err(|_| malformed("client-final"))?;
        if !(binding.starts_with(b"n,") || binding.starts_with(b"y,")) {
            return Err(ScramFailure("channel binding is not supported".into()));
        }
        // Kafka 3.8.1+/3.9 accept a nonce that merely ends with the exchange's: librdkafka before
        // 2.6.1 sends its own nonce in front of it (librdkafka#4895). The proof is computed over
        // the message as sent, so the exchange stays bound to this nonce.
        if !their_nonce.ends_with(&nonce) {
            return Err(ScramFailure("the nonce does not match".into()));
        }
        let proof = B64.decode(proof).map_err(|_| malformed("client-final"))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let m = self.mechanism;
        let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(invalid_credentials(m));
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        if !bool::from(m.hash(&client_key).ct_eq(&credential.stored_key)) {
            return Err(invalid_credentials(m));
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

fn malformed(what: &str) -> ScramFailure {
    ScramFailure(format!("malformed SCRAM {what} message"))
}

/// Kafka's message for a wrong password or an unknown user (the same for both, so that a client
/// cannot tell which).
fn invalid_credentials(mechanism: ScramMechanism) -> ScramFailure {
    ScramFailure(format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        mechanism.name()
    ))
}

/// RFC 5802's saslname: `=2C` stands for ',' and `=3D` for '='; any other '=' is malformed.
fn decode_saslname(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3) {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side of the exchange, written here from RFC 5802 to drive the server.
    fn client_proof(
        m: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, Vec<u8>) {
        let fields: std::collections::BTreeMap<&str, &str> =
            server_first.split(',').map(|f| f.split_at(1)).map(|(k, v)| (k, &v[1..])).collect();
        let salt = B64.decode(fields["s"]).expect("salt");
        let iterations: u32 = fields["i"].parse().expect("iterations");
        let salted = m.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={}", fields["r"]);
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let server_signature = m.hmac(&m.hmac(&salted, b"Server Key"), auth_message.as_bytes());
        (format!("{without_proof},p={}", B64.encode(proof)), server_signature)
    }

    #[test]
    fn a_full_exchange_succeeds_with_the_right_password_for_both_mechanisms() {
        for m in ScramMechanism::ALL {
            let credential = ScramCredential::derive(m, b"alice-secret", b"some salt", 4096);
            let mut server = ScramServer::new(m);
            let first = "n,,n=alice,r=clientnonce123";
            assert_eq!(server.client_first(first.as_bytes()), Ok("alice".to_string()));
            let server_first =
                String::from_utf8(server.server_first(Some(credential)).expect("server-first")).expect("utf8");
            assert!(server_first.starts_with("r=clientnonce123"), "{server_first}");
            let (client_final, expected) = client_proof(m, "alice-secret", "n=alice,r=clientnonce123", &server_first);
            let server_final = server.client_final(client_final.as_bytes()).expect("accepted");
            assert_eq!(server_final, format!("v={}", B64.encode(expected)).into_bytes(), "{}", m.name());
        }
    }

    #[test]
    fn a_wrong_password_an_unknown_user_and_a_changed_nonce_fail() {
        let m = ScramMechanism::Sha512;
        let credential = ScramCredential::derive(m, b"right", b"salt", 4096);
        let mut server = ScramServer::new(m);
        server.client_first(b"n,,n=bob,r=abc").expect("first");
        let server_first = String::from_utf8(server.server_first(Some(credential.clone())).expect("sf")).expect("utf8");
        let (client_final, _) = client_proof(m, "wrong", "n=bob,r=abc", &server_first);
        assert!(server.client_final(client_final.as_bytes()).is_err());

        let mut server = ScramServer::new(m);
        server.client_first(b"n,,n=nobody,r=abc").expect("first");
        assert!(server.server_first(None).is_err());

        let mut server = ScramServer::new(m);
        server.client_first(b"n,,n=bob,r=abc").expect("first");
        let server_first = String::from_utf8(server.server_first(Some(credential)).expect("sf")).expect("utf8");
        let (client_final, _) = client_proof(m, "right", "n=bob,r=abc", &server_first);
        let tampered = client_final.replacen("r=abc", "r=abd", 1);
        assert!(server.client_final(tampered.as_bytes()).is_err());
    }

    #[test]
    fn librdkafka_before_2_6_1_sending_its_nonce_twice_logs_in_as_with_kafka_3_9() {
        // librdkafka#4895: client-final carries "<client nonce><whole nonce>"; the proof covers
        // the message as sent.
        let m = ScramMechanism::Sha256;
        let credential = ScramCredential::derive(m, b"pw", b"salt", 4096);
        let mut server = ScramServer::new(m);
        server.client_first(b"n,,n=kim,r=abc").expect("first");
        let server_first = String::from_utf8(server.server_first(Some(credential)).expect("sf")).expect("utf8");
        let nonce = server_first.split(',').next().and_then(|f| f.strip_prefix("r=")).expect("nonce");
        let without_proof = format!("c=biws,r=abc{nonce}");
        let auth_message = format!("n=kim,r=abc,{server_first},{without_proof}");
        let salted = m.salted_password(b"pw", b"salt", 4096);
        let client_key = m.hmac(&salted, b"Client Key");
        let signature = m.hmac(&m.hash(&client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let message = format!("{without_proof},p={}", B64.encode(proof));
        assert!(server.client_final(message.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_messages_are_refused_not_panicked_on() {
        for bad in [
            &b""[..],
            b"n",
            b"n,,",
            b"n,,n=,r=x",
            b"p=tls,,n=a,r=x",
            b"n,,n=a=,r=x",
            b"n,,n=a",
            b"\xff\xfe",
            b"n,a=bob,n=alice,r=x",
        ] {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            assert!(server.client_first(bad).is_err(), "{bad:?}");
        }
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(server.client_final(b"c=biws,r=x,p=AAAA").is_err(), "client-final before client-first");
        assert_eq!(decode_saslname("a=2Cb=3Dc"), Some("a,b=c".into()));
    }

    #[test]
    fn credentials_round_trip_through_kafkas_text_form() {
        let c = ScramCredential::derive(ScramMechanism::Sha256, b"pw", b"salty", 8192);
        let text = c.to_kafka_string();
        assert!(text.starts_with("salt=") && text.ends_with(",iterations=8192"), "{text}");
        assert_eq!(ScramCredential::from_kafka_string(&text), Some(c));
        assert_eq!(ScramCredential::from_kafka_string("salt=AAAA,iterations=4096"), None);
        assert_eq!(ScramCredential::from_kafka_string("garbage"), None);
    }
}

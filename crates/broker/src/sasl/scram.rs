//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server's side, as Kafka runs them
//! (`ScramSaslServer`): no channel binding, no authorization identity other than the user's own,
//! credentials stored salted (`salt`, `stored_key`, `server_key`, `iterations`) the way Kafka
//! stores them under `/config/users/<user>`. The cryptography is RustCrypto's (`hmac`, `sha2`,
//! `pbkdf2`); comparisons of secrets are constant-time (`subtle`).
//!
//! Sans I/O: [`ScramServer`] takes the client's messages as bytes and returns the server's; the
//! caller looks the credential up between the first two steps.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Kafka's bounds on a SCRAM credential's iteration count (`ScramMechanism.minIterations` and
/// the 16384 that AlterUserScramCredentials accepts at most).
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;
/// Bytes of the server's half of the nonce (before base64).
const SERVER_NONCE_BYTES: usize = 24;
/// Bytes of a generated salt.
pub const SALT_BYTES: usize = 32;

/// The two SCRAM mechanisms, by their SASL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Kafka's `ScramMechanism` type byte in AlterUserScramCredentials (1 and 2).
    pub fn kafka_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_kafka_type(t: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.kafka_type() == t)
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes a key of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// RFC 5802's SaltedPassword: PBKDF2 with this hash's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec(),
            ScramMechanism::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec(),
        }
    }
}

/// A stored SCRAM credential: what the server keeps instead of the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl ScramCredential {
    /// The credential of `password` with this salt and iteration count.
    pub fn derive(mechanism: ScramMechanism, password: &[u8], salt: &[u8], iterations: u32) -> ScramCredential {
        let salted = mechanism.salted_password(password, salt, iterations);
        ScramCredential::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// The credential from an already salted password (AlterUserScramCredentials sends that).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted, b"Server Key"),
            iterations,
        }
    }

    /// Kafka's text form: `salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>`.
    pub fn to_kafka_string(&self) -> String {
        format!(
            "salt={},stored_key={},server_key={},iterations={}",
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key),
            self.iterations
        )
    }

    /// Parses Kafka's text form; `None` when a field is missing or malformed.
    pub fn from_kafka_string(text: &str) -> Option<ScramCredential> {
        let mut salt = None;
        let mut stored_key = None;
        let mut server_key = None;
        let mut iterations = None;
        for field in text.split(',') {
            let (k, v) = field.split_once('=')?;
            match k.trim() {
                "salt" => salt = Some(B64.decode(v.trim()).ok()?),
                "stored_key" => stored_key = Some(B64.decode(v.trim()).ok()?),
                "server_key" => server_key = Some(B64.decode(v.trim()).ok()?),
                "iterations" => iterations = Some(v.trim().parse().ok()?),
                _ => {}
            }
        }
        Some(ScramCredential { salt: salt?, stored_key: stored_key?, server_key: server_key?, iterations: iterations? })
    }
}

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
        let mut random = [0u8; SERVER_NONCE_BYTES];
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
        if their_nonce != nonce {
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

/// A new random salt.
pub fn random_salt() -> Result<Vec<u8>, getrandom::Error> {
    let mut salt = vec![0u8; SALT_BYTES];
    getrandom::fill(&mut salt)?;
    Ok(salt)
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
    fn rfc_7677_test_vector_derives_the_published_keys() {
        // RFC 7677 section 3: user "user", password "pencil", this salt, 4096 iterations; the
        // server signature of that exchange is published, which checks ServerKey and HMAC.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let credential = ScramCredential::derive(ScramMechanism::Sha256, b"pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = ScramMechanism::Sha256.hmac(&credential.server_key, auth_message.as_bytes());
        assert_eq!(B64.encode(signature), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        let salted = ScramMechanism::Sha256.salted_password(b"pencil", &salt, 4096);
        let client_key = ScramMechanism::Sha256.hmac(&salted, b"Client Key");
        let signature = ScramMechanism::Sha256.hmac(&credential.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        assert_eq!(B64.encode(proof), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
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

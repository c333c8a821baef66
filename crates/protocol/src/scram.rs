//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka uses them: the mechanisms'
//! primitives (RustCrypto's `sha2`, `hmac`, `pbkdf2`), the salted credential a server stores
//! (Kafka's `salt=...,stored_key=...,server_key=...,iterations=...` text), and the client's side
//! of an exchange. The broker's side is `sluice_broker::sasl::scram`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's bounds on a SCRAM credential's iteration count (`ScramMechanism.minIterations` and
/// the 16384 that AlterUserScramCredentials accepts at most).
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;
/// Bytes of random nonce (before base64), the client's and the server's half alike.
pub const NONCE_BYTES: usize = 24;
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

    /// The mechanism's hash of `data`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// The mechanism's HMAC of `data` under `key`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
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

/// A new random salt.
pub fn random_salt() -> Result<Vec<u8>, getrandom::Error> {
    let mut salt = vec![0u8; SALT_BYTES];
    getrandom::fill(&mut salt)?;
    Ok(salt)
}

/// Why the client's side of an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCRAM: {0}")]
pub struct ScramClientError(pub String);

/// The client's side of one SCRAM exchange: [`ScramClient::first`], then
/// [`ScramClient::final_message`] with the server's first message, then
/// [`ScramClient::verify`] with the server's last (which proves the server knew the credential).
#[derive(Debug)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_first_bare: String,
    nonce: String,
    auth_message: Option<String>,
    salted: Option<Vec<u8>>,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str) -> Result<ScramClient, ScramClientError> {
        let mut random = [0u8; NONCE_BYTES];
        getrandom::fill(&mut random).map_err(|e| ScramClientError(format!("no randomness for a nonce: {e}")))?;
        let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Ok(ScramClient {
            mechanism,
            password: password.to_string(),
            client_first_bare: format!("n={user},r={nonce}"),
            nonce,
            auth_message: None,
            salted: None,
        })
    }

    /// client-first: `n,,n=<user>,r=<nonce>`.
    pub fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// client-final for the server's first message (`r=<nonce>,s=<salt>,i=<iterations>`).
    pub fn final_message(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramClientError> {
        let bad = || ScramClientError("malformed server-first message".into());
        let text = std::str::from_utf8(server_first).map_err(|_| bad())?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for field in text.split(',') {
            match field.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = Some(B64.decode(v).map_err(|_| bad())?),
                Some(("i=", v)) => iterations = Some(v.parse::<u32>().map_err(|_| bad())?),
                Some(("e=", v)) => return Err(ScramClientError(format!("the server refused: {v}"))),
                _ => {}
            }
        }
        let (nonce, salt, iterations) = (nonce.ok_or_else(bad)?, salt.ok_or_else(bad)?, iterations.ok_or_else(bad)?);
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramClientError("the server's nonce does not extend ours".into()));
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramClientError(format!("the server asks for {iterations} iterations")));
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
        self.auth_message = Some(auth_message);
        self.salted = Some(salted);
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks server-final (`v=<signature>`).
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramClientError> {
        let (Some(auth_message), Some(salted)) = (&self.auth_message, &self.salted) else {
            return Err(ScramClientError("server-final before server-first".into()));
        };
        let text = std::str::from_utf8(server_final).map_err(|_| ScramClientError("malformed server-final".into()))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramClientError(format!("the server refused: {e}")));
        }
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| B64.decode(v).ok())
            .ok_or_else(|| ScramClientError("malformed server-final".into()))?;
        let m = self.mechanism;
        let expected = m.hmac(&m.hmac(salted, b"Server Key"), auth_message.as_bytes());
        if expected == signature {
            Ok(())
        } else {
            Err(ScramClientError("the server's signature is wrong: it does not know this credential".into()))
        }
    }
}

/// The `/config/users` znode name of a user: Kafka's `Sanitizer` (URL-encoding; letters, digits,
/// '.', '-' and '_' stay as they are), so any user name is one path segment.
pub fn sanitize_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The user a `/config/users` znode name stands for (the inverse of [`sanitize_user`]); `None`
/// for a name no user sanitizes to.
pub fn unsanitize_user(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7677_test_vector_derives_the_published_proof_and_signature() {
        // RFC 7677 section 3: user "user", password "pencil", 4096 iterations; the client's
        // nonce is fixed here to the RFC's so the published proof and signature come out.
        let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil").expect("client");
        client.nonce = "rOprNGfwEbeRWgbNEkqO".into();
        client.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".into();
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let last = client.final_message(server_first).expect("client-final");
        assert_eq!(
            String::from_utf8(last).expect("utf8"),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        client.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").expect("the RFC's server signature");
        assert!(client.verify(b"v=AAAA").is_err());
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let credential = ScramCredential::derive(ScramMechanism::Sha256, b"pencil", &salt, 4096);
        assert_eq!(ScramCredential::from_kafka_string(&credential.to_kafka_string()), Some(credential));
    }

    #[test]
    fn a_server_first_that_does_not_extend_the_nonce_or_asks_too_few_iterations_is_refused() {
        let mut client = ScramClient::new(ScramMechanism::Sha512, "a,b=c", "pw").expect("client");
        assert!(String::from_utf8(client.first()).expect("utf8").starts_with("n,,n=a=2Cb=3Dc,r="));
        assert!(client.final_message(b"r=someone-else,s=AAAA,i=4096").is_err());
        let nonce = client.nonce.clone();
        assert!(client.final_message(format!("r={nonce}x,s=AAAA,i=1").as_bytes()).is_err());
        assert!(client.final_message(format!("r={nonce}x,s=AAAA,i=4096").as_bytes()).is_ok());
        assert!(client.final_message(b"e=unknown-user").is_err());
    }
}

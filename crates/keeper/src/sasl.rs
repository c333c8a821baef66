//! SASL on the keeper client port, as ZooKeeper does it with its `DigestLoginModule`: the
//! DIGEST-MD5 mechanism (RFC 2831, `auth` quality of protection), server name `zk-sasl-md5`,
//! users and passwords from the server's configuration (`user_<name>="<password>"`, ZooKeeper's
//! JAAS `Server` section). Each round travels in a `sasl` request (op 102, a buffer) and its reply
//! (a buffer). A session that completes it proves the identity `sasl:<user>`.
//!
//! The exchange: the client sends an empty token; the server answers a challenge (realm, a fresh
//! nonce); the client answers with its digest of the password over both nonces; the server
//! checks it and answers `rspauth`, its own digest, which shows the client that the server knows
//! the password too. MD5 comes from RustCrypto's `md-5`; nonces from the OS.

use std::collections::BTreeMap;

use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;

/// The realm and server name ZooKeeper uses for DIGEST-MD5.
pub const DIGEST_REALM: &str = "zk-sasl-md5";
/// The digest URI a client names: `zookeeper/zk-sasl-md5`.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// The longest SASL token the keeper reads (a DIGEST-MD5 response is a few hundred bytes).
pub const MAX_SASL_TOKEN_BYTES: usize = 4096;

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A string as RFC 2831 hashes it with `charset=utf-8`: in ISO 8859-1 when every character
/// fits there, else in UTF-8.
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 256) { s.chars().map(|c| c as u8).collect() } else { s.as_bytes().to_vec() }
}

/// `response-value` (RFC 2831 2.1.2.1), for the client's response (`AUTHENTICATE:`) or the
/// server's `rspauth` (empty method).
fn response_value(
    user: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
    nc: &str,
    authzid: Option<&str>,
    method: &str,
) -> String {
    let secret = md5(&[&latin1_or_utf8(user), b":", DIGEST_REALM.as_bytes(), b":", &latin1_or_utf8(password)]);
    let mut a1: Vec<&[u8]> = vec![&secret, b":", nonce.as_bytes(), b":", cnonce.as_bytes()];
    if let Some(z) = authzid {
        a1.push(b":");
        a1.push(z.as_bytes());
    }
    let ha1 = hex(&md5(&a1));
    let ha2 = hex(&md5(&[method.as_bytes(), b":", DIGEST_URI.as_bytes()]));
    hex(&md5(&[
        ha1.as_bytes(),
        b":",
        nonce.as_bytes(),
        b":",
        nc.as_bytes(),
        b":",
        cnonce.as_bytes(),
        b":auth:",
        ha2.as_bytes(),
    ]))
}

/// The `key=value` pairs of a digest message; quoted values unescaped.
fn directives(text: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    Some(out)
}

fn random_token() -> Result<String, String> {
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness for a nonce: {e}"))?;
    Ok(hex(&raw))
}

/// The server's side of one DIGEST-MD5 exchange.
#[derive(Debug)]
pub struct DigestMd5Server {
    nonce: Option<String>,
    /// The user once the exchange completed.
    pub user: Option<String>,
}

impl Default for DigestMd5Server {
    fn default() -> Self {
        Self::new()
    }
}

impl DigestMd5Server {
    pub fn new() -> DigestMd5Server {
        DigestMd5Server { nonce: None, user: None }
    }

    /// The answer to the client's next token, or why authentication failed. After the second
    /// step `user` names who authenticated.
    pub fn step(&mut self, token: &[u8], users: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
        match &self.nonce {
            None => {
                let nonce = random_token()?;
                let challenge =
                    format!("realm=\"{DIGEST_REALM}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess");
                self.nonce = Some(nonce);
                Ok(challenge.into_bytes())
            }
            Some(nonce) if self.user.is_none() => {
                let text = std::str::from_utf8(token).map_err(|_| "the response is not UTF-8".to_string())?;
                let d = directives(text).ok_or("the response is malformed")?;
                let get = |k: &str| d.get(k).map(String::as_str).ok_or(format!("the response has no {k}"));
                let user = get("username")?;
                if get("nonce")? != nonce {
                    return Err("the response answers another nonce".into());
                }
                if d.get("qop").is_some_and(|q| q != "auth") {
                    return Err("only qop=auth is served".into());
                }
                if get("digest-uri")? != DIGEST_URI {
                    return Err(format!("the digest-uri is not {DIGEST_URI}"));
                }
                if d.get("realm").is_some_and(|r| r != DIGEST_REALM) {
                    return Err(format!("the realm is not {DIGEST_REALM}"));
                }
                let (cnonce, nc) = (get("cnonce")?, get("nc")?);
                let authzid = d.get("authzid").map(String::as_str).filter(|z| !z.is_empty());
                if authzid.is_some_and(|z| z != user) {
                    return Err("a user may not act as another".into());
                }
                // An unknown user gets the same answer as a wrong password, after the same work.
                let password = users.get(user);
                let expected = response_value(
                    user,
                    password.map_or("", String::as_str),
                    nonce,
                    cnonce,
                    nc,
                    authzid,
                    "AUTHENTICATE",
                );
                let given = get("response")?;
                if password.is_none() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
                    return Err(format!("wrong credentials for {user:?}"));
                }
                let rspauth = response_value(user, password.map_or("", String::as_str), nonce, cnonce, nc, authzid, "");
                self.user = Some(user.to_string());
                Ok(format!("rspauth={rspauth}").into_bytes())
            }
            Some(_) => Err("the exchange is already complete".into()),
        }
    }
}

/// The client's side: its response to the server's challenge, and then its check of `rspauth`.
#[derive(Debug)]
pub struct DigestMd5Client {
    user: String,
    password: String,
    expected_rspauth: Option<String>,
}

impl DigestMd5Client {
    pub fn new(user: &str, password: &str) -> DigestMd5Client {
        DigestMd5Client { user: user.to_string(), password: password.to_string(), expected_rspauth: None }
    }

    /// The response to `challenge`.
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(challenge).map_err(|_| "the challenge is not UTF-8".to_string())?;
        let d = directives(text).ok_or("the challenge is malformed")?;
        let nonce = d.get("nonce").ok_or("the challenge has no nonce")?;
        if d.get("qop").is_some_and(|q| !q.split(',').any(|q| q.trim() == "auth")) {
            return Err("the server offers no qop=auth".into());
        }
        let cnonce = random_token()?;
        let nc = "00000001";
        let response = response_value(&self.user, &self.password, nonce, &cnonce, nc, None, "AUTHENTICATE");
        self.expected_rspauth = Some(response_value(&self.user, &self.password, nonce, &cnonce, nc, None, ""));
        let user = self.user.replace('\\', "\\\\").replace('"', "\\\"");
        Ok(format!(
            "charset=utf-8,username=\"{user}\",realm=\"{DIGEST_REALM}\",nonce=\"{nonce}\",nc={nc},cnonce=\"{cnonce}\",digest-uri=\"{DIGEST_URI}\",maxbuf=65536,response={response},qop=auth"
        )
        .into_bytes())
    }

    /// Whether the server's final message proves it knows the password.
    pub fn verify(&self, final_message: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(final_message).map_err(|_| "the server's answer is not UTF-8".to_string())?;
        let d = directives(text).ok_or("the server's answer is malformed")?;
        match (d.get("rspauth"), &self.expected_rspauth) {
            (Some(got), Some(want)) if bool::from(got.as_bytes().ct_eq(want.as_bytes())) => Ok(()),
            _ => Err("the server did not prove it knows the password (rspauth)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_value_is_rfc_2831s() {
        // RFC 2831 section 4's example (its realm and digest-uri, not ZooKeeper's) through the
        // same steps as `response_value`: the RFC prints both results.
        fn rfc_value(method: &str) -> String {
            let secret = md5(&[b"chris:elwood.innosoft.com:secret"]);
            let ha1 = hex(&md5(&[&secret, b":OA6MG9tEQGm2hh:OA6MHXh6VqTrRk"]));
            let ha2 = hex(&md5(&[method.as_bytes(), b":imap/elwood.innosoft.com"]));
            hex(&md5(&[ha1.as_bytes(), b":OA6MG9tEQGm2hh:00000001:OA6MHXh6VqTrRk:auth:", ha2.as_bytes()]))
        }
        assert_eq!(rfc_value("AUTHENTICATE"), "d388dad90d4bbd760a152321f2143af7");
        assert_eq!(rfc_value(""), "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn a_client_with_the_password_authenticates_and_sees_the_server_knows_it_too() {
        let users = BTreeMap::from([("kafka".to_string(), "kafka-secret".to_string())]);
        let mut server = DigestMd5Server::new();
        let challenge = server.step(b"", &users).expect("challenge");
        let mut client = DigestMd5Client::new("kafka", "kafka-secret");
        let response = client.respond(&challenge).expect("response");
        let last = server.step(&response, &users).expect("accepted");
        assert_eq!(server.user.as_deref(), Some("kafka"));
        client.verify(&last).expect("rspauth checks");
        assert!(server.step(b"", &users).is_err(), "nothing after completion");

        for (user, password) in [("kafka", "wrong"), ("nobody", "kafka-secret")] {
            let mut server = DigestMd5Server::new();
            let challenge = server.step(b"", &users).expect("challenge");
            let response = DigestMd5Client::new(user, password).respond(&challenge).expect("response");
            assert!(server.step(&response, &users).is_err(), "{user}:{password}");
            assert_eq!(server.user, None);
        }
        // A response to another server's nonce is refused.
        let mut other = DigestMd5Server::new();
        let stale = DigestMd5Client::new("kafka", "kafka-secret")
            .respond(&other.step(b"", &users).expect("challenge"))
            .expect("response");
        let mut server = DigestMd5Server::new();
        server.step(b"", &users).expect("challenge");
        assert!(server.step(&stale, &users).is_err());
    }

    #[test]
    fn directives_read_quoted_and_bare_values() {
        let d = directives(r#"username="a\"b",nc=00000001, qop=auth ,realm="x,y""#).expect("parses");
        assert_eq!(d["username"], "a\"b");
        assert_eq!(d["nc"], "00000001");
        assert_eq!(d["qop"], "auth");
        assert_eq!(d["realm"], "x,y");
        assert!(directives("novalue").is_none());
        assert!(directives("a=\"unterminated").is_none());
    }
}

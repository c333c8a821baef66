//! SASL authentication of a connection on a `SASL_PLAINTEXT` listener, the way Kafka's
//! `SaslServerAuthenticator` runs it:
//!
//! 1. the client may ask ApiVersions, then sends SaslHandshake naming a mechanism the listener
//!    enables (`sasl.enabled.mechanisms`); any other request closes the connection;
//! 2. with SaslHandshake v1 the SASL tokens travel in SaslAuthenticate requests (KIP-152); with
//!    v0 they follow as bare size-prefixed frames, without a Kafka header;
//! 3. once the mechanism succeeds the connection serves every request as the user's principal
//!    (`User:<name>`); a failure answers SASL_AUTHENTICATION_FAILED (or, with v0 tokens, says
//!    nothing) and closes the connection after `connection.failed.authentication.delay.ms`.
//!
//! Mechanisms: PLAIN (users from the listener's JAAS configuration) and SCRAM-SHA-256/512
//! (salted credentials in keeper at `/config/users/<user>`, where Kafka keeps them).
//! [`Authenticator`] is sans I/O: the connection feeds it requests and tokens, looks SCRAM
//! credentials up when asked, and writes what it returns.

pub use sluice_client::jaas;
pub mod plain;
pub mod scram;

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_protocol::messages::SaslHandshakeResponse;

use crate::error::ErrorCode;
use scram::{ScramCredential, ScramMechanism, ScramServer};

/// A mechanism this broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        if name == "PLAIN" { Some(Mechanism::Plain) } else { ScramMechanism::from_name(name).map(Mechanism::Scram) }
    }
}

/// The SASL settings of one listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslListener {
    /// `sasl.enabled.mechanisms` (listener-prefixed or not), in the order given.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users: the `user_<name>="<password>"` options of the listener's PLAIN JAAS entry.
    pub plain_users: BTreeMap<String, String>,
}

/// What the connection does next with an exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token and wait for the client's next one.
    Continue(Vec<u8>),
    /// Look up `user`'s SCRAM credential and pass it to [`Authenticator::credential`].
    NeedCredential { user: String, mechanism: ScramMechanism },
    /// Authenticated as `user`; send this last token (possibly empty).
    Done { user: String, token: Vec<u8> },
    /// Refused: answer SASL_AUTHENTICATION_FAILED with `message`, then close; `detail` is for
    /// the log only (Kafka tells a SCRAM client nothing beyond "invalid credentials").
    Failed { user: Option<String>, message: String, detail: String },
}

#[derive(Debug)]
enum Exchange {
    Plain,
    Scram(ScramServer),
}

#[derive(Debug)]
enum State {
    /// Before SaslHandshake.
    Handshake,
    /// A mechanism is chosen; tokens come in SaslAuthenticate requests, or (`raw`, after
    /// SaslHandshake v0) as bare frames.
    Exchanging { exchange: Exchange, raw: bool },
    /// Authenticated.
    Done { user: String },
    /// Failed: nothing more is served.
    Failed,
}

/// One connection's authentication.
#[derive(Debug)]
pub struct Authenticator {
    listener: Arc<SaslListener>,
    state: State,
    /// During a re-authentication (KIP-368): the user and mechanism of the session it renews,
    /// which it must keep.
    renewing: Option<(String, Mechanism)>,
    /// The mechanism of the exchange in progress or done.
    mechanism: Option<Mechanism>,
}

impl Authenticator {
    pub fn new(listener: Arc<SaslListener>) -> Authenticator {
        Authenticator { listener, state: State::Handshake, renewing: None, mechanism: None }
    }

    /// Starts a re-authentication of an authenticated connection (KIP-368: the client sends
    /// SaslHandshake again before its session expires). The exchange must end as the same user
    /// with the same mechanism, or it fails. `false` when the connection is not authenticated.
    pub fn renew(&mut self) -> bool {
        let (State::Done { user }, Some(mechanism)) = (&self.state, self.mechanism) else { return false };
        self.renewing = Some((user.clone(), mechanism));
        self.state = State::Handshake;
        true
    }

    /// Whether a re-authentication is in progress.
    pub fn renewing(&self) -> bool {
        self.renewing.is_some()
    }

    /// The authenticated user, once there is one.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::Done { user } => Some(user),
            _ => None,
        }
    }

    /// Whether the next frame is a bare SASL token (after SaslHandshake v0).
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.state, State::Exchanging { raw: true, .. })
    }

    /// Whether SaslAuthenticate requests are what the connection expects now.
    pub fn expects_authenticate(&self) -> bool {
        matches!(self.state, State::Exchanging { raw: false, .. })
    }

    /// Answers SaslHandshake. A mechanism the listener does not enable is
    /// UNSUPPORTED_SASL_MECHANISM (the connection then closes, as in Kafka); a handshake out of
    /// turn is ILLEGAL_SASL_STATE.
    pub fn handshake(&mut self, version: i16, mechanism: &str) -> SaslHandshakeResponse {
        let mechanisms = self.listener.mechanisms.iter().map(|m| m.name().to_string()).collect();
        if !matches!(self.state, State::Handshake) {
            return SaslHandshakeResponse { error_code: ErrorCode::IllegalSaslState.code(), mechanisms };
        }
        match Mechanism::from_name(mechanism).filter(|m| self.listener.mechanisms.contains(m)) {
            Some(m) if self.renewing.as_ref().is_some_and(|(_, was)| *was != m) => {
                self.state = State::Failed;
                SaslHandshakeResponse { error_code: ErrorCode::IllegalSaslState.code(), mechanisms }
            }
            Some(m) => {
                self.mechanism = Some(m);
                let exchange = match m {
                    Mechanism::Plain => Exchange::Plain,
                    Mechanism::Scram(s) => Exchange::Scram(ScramServer::new(s)),
                };
                self.state = State::Exchanging { exchange, raw: version == 0 };
                SaslHandshakeResponse { error_code: ErrorCode::None.code(), mechanisms }
            }
            None => {
                self.state = State::Failed;
                SaslHandshakeResponse { error_code: ErrorCode::UnsupportedSaslMechanism.code(), mechanisms }
            }
        }
    }

    /// Takes the client's next token.
    pub fn token(&mut self, token: &[u8]) -> Step {
        let State::Exchanging { exchange, .. } = &mut self.state else {
            self.state = State::Failed;
            let message = "no SASL exchange is in progress".to_string();
            return Step::Failed { user: None, detail: message.clone(), message };
        };
        let step = match exchange {
            Exchange::Plain => match plain::authenticate(token, &self.listener.plain_users) {
                Ok(user) => Step::Done { user, token: Vec::new() },
                Err(message) => {
                    let user = std::str::from_utf8(token).ok().and_then(|t| t.split('\0').nth(1)).map(str::to_string);
                    Step::Failed { user, detail: message.clone(), message }
                }
            },
            Exchange::Scram(server) => match server.user() {
                None => match server.client_first(token) {
                    Ok(user) => Step::NeedCredential { user, mechanism: server.mechanism() },
                    Err(e) => scram_failed(server.mechanism(), None, e.0),
                },
                Some(user) => {
                    let user = user.to_string();
                    match server.client_final(token) {
                        Ok(token) => Step::Done { user, token },
                        Err(e) => scram_failed(server.mechanism(), Some(user), e.0),
                    }
                }
            },
        };
        self.settle(step)
    }

    /// Continues a SCRAM exchange with the credential its user has (`None`: no such user).
    pub fn credential(&mut self, credential: Option<ScramCredential>) -> Step {
        let step = match &mut self.state {
            State::Exchanging { exchange: Exchange::Scram(server), .. } => {
                let user = server.user().map(str::to_string);
                match server.server_first(credential) {
                    Ok(token) => Step::Continue(token),
                    Err(e) => scram_failed(server.mechanism(), user, e.0),
                }
            }
            _ => {
                let message = "no SCRAM exchange is waiting for a credential".to_string();
                Step::Failed { user: None, detail: message.clone(), message }
            }
        };
        self.settle(step)
    }

    fn settle(&mut self, step: Step) -> Step {
        // A re-authentication may not change who the connection is.
        let step = match (step, self.renewing.take()) {
            (Step::Done { user, .. }, Some((was, _))) if user != was => {
                let message = "re-authentication must keep the connection's principal".to_string();
                Step::Failed { user: Some(user), detail: format!("{message} (was {was})"), message }
            }
            (step @ (Step::Continue(_) | Step::NeedCredential { .. }), renewing) => {
                self.renewing = renewing;
                step
            }
            (step, _) => step,
        };
        match &step {
            Step::Done { user, .. } => self.state = State::Done { user: user.clone() },
            Step::Failed { .. } => self.state = State::Failed,
            Step::Continue(_) | Step::NeedCredential { .. } => {}
        }
        step
    }
}

/// A failed SCRAM step: the client is told only Kafka's generic message (whatever went wrong: a
/// wrong password, an unknown user, a malformed message), the log the reason.
fn scram_failed(mechanism: ScramMechanism, user: Option<String>, detail: String) -> Step {
    let message = format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        mechanism.name()
    );
    Step::Failed { user, message, detail }
}

pub use sluice_protocol::scram::{sanitize_user, unsanitize_user};

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> Arc<SaslListener> {
        Arc::new(SaslListener {
            mechanisms: vec![Mechanism::Plain, Mechanism::Scram(ScramMechanism::Sha256)],
            plain_users: [("alice".to_string(), "pw".to_string())].into(),
        })
    }

    #[test]
    fn plain_over_v1_authenticates_and_a_second_handshake_is_out_of_turn() {
        let mut a = Authenticator::new(listener());
        let r = a.handshake(1, "PLAIN");
        assert_eq!(r.error_code, 0);
        assert_eq!(r.mechanisms, vec!["PLAIN".to_string(), "SCRAM-SHA-256".to_string()]);
        assert!(a.expects_authenticate() && !a.expects_raw_token());
        assert_eq!(a.token(b"\0alice\0pw"), Step::Done { user: "alice".into(), token: Vec::new() });
        assert_eq!(a.user(), Some("alice"));
        assert_eq!(a.handshake(1, "PLAIN").error_code, ErrorCode::IllegalSaslState.code());
    }

    #[test]
    fn a_renewal_must_keep_the_user_and_the_mechanism() {
        let two_users = Arc::new(SaslListener {
            mechanisms: vec![Mechanism::Plain, Mechanism::Scram(ScramMechanism::Sha256)],
            plain_users: [("alice".to_string(), "pw".to_string()), ("bob".to_string(), "pw2".to_string())].into(),
        });
        let mut a = Authenticator::new(two_users.clone());
        assert!(!a.renew(), "nothing to renew before authenticating");
        a.handshake(1, "PLAIN");
        a.token(b"\0alice\0pw");
        assert!(a.renew() && a.renewing() && a.user().is_none());
        assert_eq!(a.handshake(1, "PLAIN").error_code, 0);
        assert_eq!(a.token(b"\0alice\0pw"), Step::Done { user: "alice".into(), token: Vec::new() });
        assert!(!a.renewing() && a.user() == Some("alice"));
        // As another user: refused, and the connection is done.
        assert!(a.renew());
        a.handshake(1, "PLAIN");
        assert!(matches!(a.token(b"\0bob\0pw2"), Step::Failed { .. }));
        assert_eq!(a.user(), None);
        // With another mechanism: refused at the handshake.
        let mut a = Authenticator::new(two_users);
        a.handshake(1, "PLAIN");
        a.token(b"\0alice\0pw");
        assert!(a.renew());
        assert_eq!(a.handshake(1, "SCRAM-SHA-256").error_code, ErrorCode::IllegalSaslState.code());
    }

    #[test]
    fn a_disabled_mechanism_and_a_wrong_password_fail() {
        let mut a = Authenticator::new(listener());
        assert_eq!(a.handshake(1, "SCRAM-SHA-512").error_code, ErrorCode::UnsupportedSaslMechanism.code());
        assert!(matches!(a.token(b"\0alice\0pw"), Step::Failed { .. }), "no exchange after a refused handshake");
        let mut a = Authenticator::new(listener());
        assert_eq!(a.handshake(0, "PLAIN").error_code, 0);
        assert!(a.expects_raw_token());
        assert!(matches!(a.token(b"\0alice\0nope"), Step::Failed { user: Some(u), .. } if u == "alice"));
        assert_eq!(a.user(), None);
        assert!(!a.expects_raw_token(), "a failed exchange takes no more tokens");
    }

    #[test]
    fn scram_asks_for_the_credential_between_its_messages() {
        let mut a = Authenticator::new(listener());
        a.handshake(1, "SCRAM-SHA-256");
        let step = a.token(b"n,,n=carol,r=nonce");
        assert_eq!(step, Step::NeedCredential { user: "carol".into(), mechanism: ScramMechanism::Sha256 });
        assert!(matches!(a.credential(None), Step::Failed { user: Some(u), .. } if u == "carol"));
        let mut a = Authenticator::new(listener());
        a.handshake(1, "SCRAM-SHA-256");
        a.token(b"n,,n=carol,r=nonce");
        let c = ScramCredential::derive(ScramMechanism::Sha256, b"pw", b"salt", 4096);
        assert!(matches!(a.credential(Some(c)), Step::Continue(t) if t.starts_with(b"r=nonce")));
    }

    #[test]
    fn user_names_become_one_path_segment_as_kafka_sanitizes_them() {
        assert_eq!(sanitize_user("alice"), "alice");
        assert_eq!(sanitize_user("a/b c*"), "a%2Fb%20c%2A");
        assert_eq!(sanitize_user("CN=x,O=y"), "CN%3Dx%2CO%3Dy");
        for user in ["alice", "a/b c*", "CN=x,O=y", "ünï"] {
            assert_eq!(unsanitize_user(&sanitize_user(user)).as_deref(), Some(user));
        }
        assert_eq!(unsanitize_user("%G1"), None);
    }
}

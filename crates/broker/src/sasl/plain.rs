//! SASL PLAIN (RFC 4616) as Kafka's `PlainSaslServer` serves it: one message,
//! `[authzid] NUL authcid NUL passwd`, checked against the users of the listener's JAAS
//! configuration (`user_<name>="<password>"`). An authorization id other than the user's own is
//! refused. The password comparison is constant-time.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

/// The most bytes of a PLAIN message looked at (Kafka reads what the frame holds; the frame is
/// already bounded by the connection's limit for requests before authentication).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// Checks one PLAIN message; the authenticated user, or why not.
pub fn authenticate(message: &[u8], users: &BTreeMap<String, String>) -> Result<String, String> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err("Authentication failed: PLAIN message too large".into());
    }
    let text =
        std::str::from_utf8(message).map_err(|_| "Authentication failed: PLAIN message is not UTF-8".to_string())?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid SASL/PLAIN response: expected 3 tokens".into());
    };
    if user.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username".into()
        );
    }
    let known = users.get(user).is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(password.as_bytes())));
    if known { Ok(user.to_string()) } else { Err("Authentication failed: Invalid username or password".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> BTreeMap<String, String> {
        [("alice".to_string(), "alice-secret".to_string())].into()
    }

    #[test]
    fn the_right_password_authenticates_and_anything_else_does_not() {
        assert_eq!(authenticate(b"\0alice\0alice-secret", &users()), Ok("alice".into()));
        assert_eq!(authenticate(b"alice\0alice\0alice-secret", &users()), Ok("alice".into()));
        for bad in [
            &b"\0alice\0wrong"[..],
            b"\0bob\0alice-secret",
            b"\0alice\0",
            b"\0\0alice-secret",
            b"bob\0alice\0alice-secret",
            b"alice-secret",
            b"\0alice\0alice-secret\0extra",
            b"\0alice\0alice-secre",
            b"\xff\0alice\0alice-secret",
        ] {
            assert!(authenticate(bad, &users()).is_err(), "{bad:?}");
        }
        assert!(authenticate(&vec![b'a'; MAX_MESSAGE_BYTES + 1], &users()).is_err());
    }
}

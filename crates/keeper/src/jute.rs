//! ZooKeeper's wire format ("jute"): big-endian fixed-width integers, `buffer` and `ustring` as
//! an i32 length (-1 for null) and the bytes, vectors as an i32 count (-1 for null) and the
//! elements. Records are declared once with [`jute_record!`] in field order. Decoding is bounded:
//! a length or count beyond what remains is an error, never an allocation.
//!
//! A client frame is an i32 length then, after the connect handshake, a `RequestHeader` (xid,
//! op code) and the op's record; the server answers with a `ReplyHeader` (xid, zxid, err) and
//! the response record. Notifications travel with xid -1, pings with xid -2.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JuteError {
    #[error("truncated {what}: needs {needed} bytes, {remaining} remain")]
    Truncated { what: &'static str, needed: usize, remaining: usize },
    #[error("invalid length {0}")]
    InvalidLength(i32),
    #[error("string is not UTF-8")]
    InvalidUtf8,
}

pub type JuteResult<T> = Result<T, JuteError>;

/// A value in jute encoding.
pub trait Jute: Sized {
    fn write(&self, out: &mut BytesMut);
    fn read(buf: &mut Bytes) -> JuteResult<Self>;
}

fn need(buf: &Bytes, n: usize, what: &'static str) -> JuteResult<()> {
    if buf.remaining() < n { Err(JuteError::Truncated { what, needed: n, remaining: buf.remaining() }) } else { Ok(()) }
}

impl Jute for i32 {
    fn write(&self, out: &mut BytesMut) {
        out.put_i32(*self);
    }
    fn read(buf: &mut Bytes) -> JuteResult<Self> {
        need(buf, 4, "int")?;
        Ok(buf.get_i32())
    }
}

impl Jute for i64 {
    fn write(&self, out: &mut BytesMut) {
        out.put_i64(*self);
    }
    fn read(buf: &mut Bytes) -> JuteResult<Self> {
        need(buf, 8, "long")?;
        Ok(buf.get_i64())
    }
}

impl Jute for bool {
    fn write(&self, out: &mut BytesMut) {
        out.put_u8(u8::from(*self));
    }
    fn read(buf: &mut Bytes) -> JuteResult<Self> {
        need(buf, 1, "boolean")?;
        Ok(buf.get_u8() != 0)
    }
}

fn read_len(buf: &mut Bytes, what: &'static str) -> JuteResult<Option<usize>> {
    let n = i32::read(buf)?;
    match n {
        -1 => Ok(None),
        n if n < -1 => Err(JuteError::InvalidLength(n)),
        n => {
            need(buf, n as usize, what)?;
            Ok(Some(n as usize))
        }
    }
}

/// `buffer`: null and empty are distinct on the wire.
impl Jute for Option<Bytes> {
    fn write(&self, out: &mut BytesMut) {
        match self {
            Some(b) => {
                out.put_i32(b.len() as i32);
                out.put_slice(b);
            }
            None => out.put_i32(-1),
        }
    }
    fn read(buf: &mut Bytes) -> JuteResult<Self> {
        Ok(read_len(buf, "buffer")?.map(|n| buf.split_to(n)))
    }
}

/// `ustring` (a null reads as empty).
impl Jute for String {
    fn write(&self, out: &mut BytesMut) {
        out.put_i32(self.len() as i32);
        out.put_slice(self.as_bytes());
    }
    fn read(buf: &mut Bytes) -> JuteResult<Self> {
        match read_len(buf, "ustring")? {
            None => Ok(String::new()),
            Some(n) => String::from_utf8(buf.split_to(n).to_vec()).map_err(|_| JuteError::InvalidUtf8),
        }
    }
}

/// `vector` (a null reads as empty; every element takes at least a byte).
impl<T: Jute> Jute for Vec<T> {
    fn write(&self, out: &mut BytesMut) {
        out.put_i32(self.len() as i32);
        for item in self {
            item.write(out);
        }
    }
    fn read(buf: &mut Bytes) -> JuteResult<Self> {
        let n = read_len(buf, "vector")?.unwrap_or(0);
        (0..n).map(|_| T::read(buf)).collect()
    }
}

/// Declares a jute record: a struct with its fields in wire order.
#[macro_export]
macro_rules! jute_record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty,)* }
        impl $crate::jute::Jute for $name {
            fn write(&self, out: &mut ::bytes::BytesMut) {
                $( $crate::jute::Jute::write(&self.$field, out); )*
            }
            fn read(buf: &mut ::bytes::Bytes) -> $crate::jute::JuteResult<Self> {
                Ok($name { $( $field: <$ty as $crate::jute::Jute>::read(buf)?, )* })
            }
        }
    };
}

/// Op codes (ZooKeeper's `ZooDefs.OpCode`).
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Reserved xids.
pub const NOTIFICATION_XID: i32 = -1;
pub const PING_XID: i32 = -2;
pub const AUTH_XID: i32 = -4;
pub const SET_WATCHES_XID: i32 = -8;

jute_record! {
    /// The client's first frame (newer clients append a read-only flag, a boolean, after it).
    pub struct ConnectRequest {
        protocol_version: i32,
        last_zxid_seen: i64,
        timeout_ms: i32,
        session_id: i64,
        passwd: Option<Bytes>,
    }
}

jute_record! {
    /// The server's answer to the connect (a trailing read-only flag follows on the wire when
    /// the client sent one; see [`ConnectRequest`]).
    pub struct ConnectResponse {
        protocol_version: i32,
        timeout_ms: i32,
        session_id: i64,
        passwd: Option<Bytes>,
    }
}

jute_record! { pub struct RequestHeader { xid: i32, op: i32 } }
jute_record! { pub struct ReplyHeader { xid: i32, zxid: i64, err: i32 } }

jute_record! {
    /// ZooKeeper's `Stat`, 68 bytes.
    pub struct StatRecord {
        czxid: i64, mzxid: i64, ctime: i64, mtime: i64, version: i32, cversion: i32, aversion: i32,
        ephemeral_owner: i64, data_length: i32, num_children: i32, pzxid: i64,
    }
}

jute_record! { pub struct Id { scheme: String, id: String } }
jute_record! { pub struct Acl { perms: i32, id: Id } }
jute_record! { pub struct CreateRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32 } }
jute_record! { pub struct CreateResponse { path: String } }
jute_record! { pub struct Create2Response { path: String, stat: StatRecord } }
jute_record! { pub struct DeleteRequest { path: String, version: i32 } }
jute_record! { pub struct PathWatchRequest { path: String, watch: bool } }
jute_record! { pub struct StatResponse { stat: StatRecord } }
jute_record! { pub struct GetDataResponse { data: Option<Bytes>, stat: StatRecord } }
jute_record! { pub struct SetDataRequest { path: String, data: Option<Bytes>, version: i32 } }
jute_record! { pub struct GetChildrenResponse { children: Vec<String> } }
jute_record! { pub struct GetChildren2Response { children: Vec<String>, stat: StatRecord } }
jute_record! { pub struct PathRequest { path: String } }
jute_record! { pub struct CheckVersionRequest { path: String, version: i32 } }
jute_record! { pub struct MultiHeader { op: i32, done: bool, err: i32 } }
jute_record! { pub struct ErrorResponse { err: i32 } }
jute_record! { pub struct WatcherEvent { event_type: i32, state: i32, path: String } }
jute_record! { pub struct AddWatchRequest { path: String, mode: i32 } }
jute_record! { pub struct GetAclResponse { acl: Vec<Acl>, stat: StatRecord } }
jute_record! { pub struct SetAclRequest { path: String, acl: Vec<Acl>, version: i32 } }
jute_record! {
    /// `addauth`: credentials of a scheme (`digest`: `user:password`).
    pub struct AuthPacket { auth_type: i32, scheme: String, auth: Option<Bytes> }
}
jute_record! { pub struct SaslToken { token: Option<Bytes> } }
jute_record! { pub struct ClientInfo { auth_scheme: String, user: String } }
jute_record! { pub struct WhoAmIResponse { client_info: Vec<ClientInfo> } }
jute_record! {
    pub struct SetWatches {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
    }
}
jute_record! {
    pub struct SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }
}

impl From<crate::data_tree::Stat> for StatRecord {
    fn from(s: crate::data_tree::Stat) -> StatRecord {
        StatRecord {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
            pzxid: s.pzxid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Jute + PartialEq + std::fmt::Debug>(v: &T) {
        let mut out = BytesMut::new();
        v.write(&mut out);
        let mut bytes = out.freeze();
        assert_eq!(&T::read(&mut bytes).expect("decodes"), v);
        assert!(bytes.is_empty());
    }

    #[test]
    fn records_round_trip() {
        round_trip(&ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 7,
            timeout_ms: 30_000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
        });
        round_trip(&CreateRequest {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: vec![Acl { perms: 31, id: Id { scheme: "world".into(), id: "anyone".into() } }],
            flags: 3,
        });
        round_trip(&GetChildren2Response {
            children: vec!["a".into(), "b".into()],
            stat: StatRecord { czxid: 1, ..Default::default() },
        });
        round_trip(&SetWatches2 {
            relative_zxid: 9,
            persistent_recursive_watches: vec!["/x".into()],
            ..Default::default()
        });
    }

    #[test]
    fn stat_is_68_bytes_in_field_order() {
        let mut out = BytesMut::new();
        StatRecord { czxid: 1, pzxid: 2, ..Default::default() }.write(&mut out);
        assert_eq!(out.len(), 68);
        assert_eq!(&out[..8], &1i64.to_be_bytes());
        assert_eq!(&out[60..], &2i64.to_be_bytes());
    }

    #[test]
    fn null_buffer_and_empty_buffer_differ_and_lies_are_errors() {
        let mut out = BytesMut::new();
        None::<Bytes>.write(&mut out);
        Some(Bytes::new()).write(&mut out);
        assert_eq!(&out[..], &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let mut lie = Bytes::from_static(&[0x7f, 0, 0, 0, 1]);
        assert!(matches!(Vec::<String>::read(&mut lie), Err(JuteError::Truncated { .. })));
        let mut bad = Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(String::read(&mut bad), Err(JuteError::InvalidLength(-2)));
    }
}

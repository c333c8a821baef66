//! ZooKeeper's error codes (`KeeperException.Code`), as the wire carries them.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[repr(i32)]
pub enum ZkError {
    #[error("SYSTEMERROR")]
    SystemError = -1,
    #[error("RUNTIMEINCONSISTENCY")]
    RuntimeInconsistency = -2,
    #[error("CONNECTIONLOSS")]
    ConnectionLoss = -4,
    #[error("MARSHALLINGERROR")]
    MarshallingError = -5,
    #[error("UNIMPLEMENTED")]
    Unimplemented = -6,
    #[error("OPERATIONTIMEOUT")]
    OperationTimeout = -7,
    #[error("BADARGUMENTS")]
    BadArguments = -8,
    #[error("NONODE")]
    NoNode = -101,
    #[error("NOAUTH")]
    NoAuth = -102,
    #[error("BADVERSION")]
    BadVersion = -103,
    #[error("NOCHILDRENFOREPHEMERALS")]
    NoChildrenForEphemerals = -108,
    #[error("NODEEXISTS")]
    NodeExists = -110,
    #[error("NOTEMPTY")]
    NotEmpty = -111,
    #[error("SESSIONEXPIRED")]
    SessionExpired = -112,
    #[error("SESSIONMOVED")]
    SessionMoved = -118,
    #[error("INVALIDACL")]
    InvalidAcl = -114,
    #[error("AUTHFAILED")]
    AuthFailed = -115,
    #[error("NOTREADONLY")]
    NotReadOnly = -119,
    #[error("NOWATCHER")]
    NoWatcher = -121,
}

impl ZkError {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The error a wire code names; codes this crate does not know read as `SystemError`.
    pub fn from_code(code: i32) -> ZkError {
        use ZkError::*;
        [
            SystemError,
            RuntimeInconsistency,
            ConnectionLoss,
            MarshallingError,
            Unimplemented,
            OperationTimeout,
            BadArguments,
            NoNode,
            NoAuth,
            BadVersion,
            NoChildrenForEphemerals,
            NodeExists,
            NotEmpty,
            SessionExpired,
            SessionMoved,
            InvalidAcl,
            AuthFailed,
            NotReadOnly,
            NoWatcher,
        ]
        .into_iter()
        .find(|e| e.code() == code)
        .unwrap_or(SystemError)
    }
}

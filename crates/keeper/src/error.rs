//! ZooKeeper's error codes (`KeeperException.Code`), as the wire carries them.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[repr(i32)]
pub enum ZkError {
    #[error("SYSTEMERROR")]
    SystemError = -1,
    #[error("RUNTIMEINCONSISTENCY")]
    RuntimeInconsistency = -2,
    #[error("MARSHALLINGERROR")]
    MarshallingError = -5,
    #[error("UNIMPLEMENTED")]
    Unimplemented = -6,
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
    #[error("INVALIDACL")]
    InvalidAcl = -114,
    #[error("NOWATCHER")]
    NoWatcher = -121,
}

impl ZkError {
    pub fn code(self) -> i32 {
        self as i32
    }
}

//! Numeric constants of the protocol: opcodes, error codes, watch event
//! types and states, create modes, permission bits, special xids and sizes.
//!
//! Every `i32`-valued enum converts with `TryFrom<i32>`; an unknown value is
//! returned as data in [`UnknownValue`] rather than being lost, since new
//! client versions keep adding codes.

use std::fmt;

use crate::codec::DecodeError;

/// An `i32` that is not a known value of the enum named by `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownValue {
    /// The enum's name, e.g. `"OpCode"`.
    pub kind: &'static str,
    /// The raw value received.
    pub value: i32,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValue {}

impl From<UnknownValue> for DecodeError {
    fn from(u: UnknownValue) -> Self {
        if u.kind == "OpCode" {
            DecodeError::UnknownOpcode(u.value)
        } else {
            DecodeError::Invalid {
                what: u.kind,
                detail: format!("unknown value {}", u.value),
            }
        }
    }
}

/// Declares a `#[repr(i32)]` enum with `TryFrom<i32>`, `From<Self> for i32`,
/// `as_i32`, `name` (the upstream constant's spelling) and `ALL`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i32)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "` = ", stringify!($value), ".")]
                $(#[$vmeta])*
                $variant = $value,
            )*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire value.
            pub const fn as_i32(self) -> i32 {
                self as i32
            }

            /// The name ZooKeeper uses for this value.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl TryFrom<i32> for $name {
            type Error = UnknownValue;

            fn try_from(v: i32) -> Result<Self, UnknownValue> {
                match v {
                    $($value => Ok($name::$variant),)*
                    _ => Err(UnknownValue { kind: stringify!($name), value: v }),
                }
            }
        }

        impl From<$name> for i32 {
            fn from(v: $name) -> i32 {
                v as i32
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

code_enum! {
    /// `RequestHeader.op_type`, and the result type inside a multi reply.
    pub enum OpCode {
        /// Server-to-client only (xid -1); invalid as a request.
        Notification = 0 => "notification",
        Create = 1 => "create",
        Delete = 2 => "delete",
        Exists = 3 => "exists",
        GetData = 4 => "getData",
        SetData = 5 => "setData",
        GetAcl = 6 => "getACL",
        SetAcl = 7 => "setACL",
        GetChildren = 8 => "getChildren",
        Sync = 9 => "sync",
        Ping = 11 => "ping",
        GetChildren2 = 12 => "getChildren2",
        /// Version check; valid only inside a multi since 3.5.
        Check = 13 => "check",
        Multi = 14 => "multi",
        Create2 = 15 => "create2",
        Reconfig = 16 => "reconfig",
        CheckWatches = 17 => "checkWatches",
        RemoveWatches = 18 => "removeWatches",
        CreateContainer = 19 => "createContainer",
        DeleteContainer = 20 => "deleteContainer",
        CreateTtl = 21 => "createTTL",
        MultiRead = 22 => "multiRead",
        Auth = 100 => "auth",
        SetWatches = 101 => "setWatches",
        Sasl = 102 => "sasl",
        GetEphemerals = 103 => "getEphemerals",
        GetAllChildrenNumber = 104 => "getAllChildrenNumber",
        SetWatches2 = 105 => "setWatches2",
        AddWatch = 106 => "addWatch",
        WhoAmI = 107 => "whoAmI",
        /// Internal transaction type in ZooKeeper; here it names the
        /// handshake (ConnectRequest/ConnectResponse).
        CreateSession = -10 => "createSession",
        CloseSession = -11 => "closeSession",
        /// Never a request: the result type of a failed op in a multi reply.
        Error = -1 => "error",
    }
}

code_enum! {
    /// `ReplyHeader.err`. Codes newer than 3.4 crash 3.4 Java clients, so
    /// only send them in reply to opcodes only newer clients use.
    pub enum ErrorCode {
        Ok = 0 => "OK",
        /// Range marker; never sent.
        SystemError = -1 => "SYSTEMERROR",
        /// Ops after the failing one in a failed multi.
        RuntimeInconsistency = -2 => "RUNTIMEINCONSISTENCY",
        DataInconsistency = -3 => "DATAINCONSISTENCY",
        /// Client-side only.
        ConnectionLoss = -4 => "CONNECTIONLOSS",
        /// Undecodable body, bad watch type or mode, mixed multi.
        MarshallingError = -5 => "MARSHALLINGERROR",
        /// Unknown opcode (the connection is then closed).
        Unimplemented = -6 => "UNIMPLEMENTED",
        /// Client-side only.
        OperationTimeout = -7 => "OPERATIONTIMEOUT",
        BadArguments = -8 => "BADARGUMENTS",
        /// 3.5+; unknown to 3.4 Java clients, prefer SessionExpired.
        UnknownSession = -12 => "UNKNOWNSESSION",
        NewConfigNoQuorum = -13 => "NEWCONFIGNOQUORUM",
        ReconfigInProgress = -14 => "RECONFIGINPROGRESS",
        /// Range marker; never sent.
        ApiError = -100 => "APIERROR",
        NoNode = -101 => "NONODE",
        NoAuth = -102 => "NOAUTH",
        BadVersion = -103 => "BADVERSION",
        NoChildrenForEphemerals = -108 => "NOCHILDRENFOREPHEMERALS",
        NodeExists = -110 => "NODEEXISTS",
        NotEmpty = -111 => "NOTEMPTY",
        SessionExpired = -112 => "SESSIONEXPIRED",
        /// Client-side only.
        InvalidCallback = -113 => "INVALIDCALLBACK",
        InvalidAcl = -114 => "INVALIDACL",
        AuthFailed = -115 => "AUTHFAILED",
        SessionMoved = -118 => "SESSIONMOVED",
        NotReadOnly = -119 => "NOTREADONLY",
        EphemeralOnLocalSession = -120 => "EPHEMERALONLOCALSESSION",
        NoWatcher = -121 => "NOWATCHER",
        RequestTimeout = -122 => "REQUESTTIMEOUT",
        ReconfigDisabled = -123 => "RECONFIGDISABLED",
        SessionClosedRequireSaslAuth = -124 => "SESSIONCLOSEDREQUIRESASLAUTH",
        QuotaExceeded = -125 => "QUOTAEXCEEDED",
        ThrottledOp = -127 => "THROTTLEDOP",
    }
}

code_enum! {
    /// `WatcherEvent.event_type`. Servers only send 1–4; the rest are made
    /// up by clients, and Java clients break on unknown values.
    pub enum EventType {
        None = -1 => "None",
        NodeCreated = 1 => "NodeCreated",
        NodeDeleted = 2 => "NodeDeleted",
        NodeDataChanged = 3 => "NodeDataChanged",
        NodeChildrenChanged = 4 => "NodeChildrenChanged",
        DataWatchRemoved = 5 => "DataWatchRemoved",
        ChildWatchRemoved = 6 => "ChildWatchRemoved",
        PersistentWatchRemoved = 7 => "PersistentWatchRemoved",
    }
}

code_enum! {
    /// `WatcherEvent.state`. Servers only ever send `SyncConnected`.
    pub enum KeeperState {
        Unknown = -1 => "Unknown",
        Disconnected = 0 => "Disconnected",
        NoSyncConnected = 1 => "NoSyncConnected",
        SyncConnected = 3 => "SyncConnected",
        AuthFailed = 4 => "AuthFailed",
        ConnectedReadOnly = 5 => "ConnectedReadOnly",
        SaslAuthenticated = 6 => "SaslAuthenticated",
        Expired = -112 => "Expired",
        Closed = 7 => "Closed",
    }
}

code_enum! {
    /// `CreateRequest.flags`.
    pub enum CreateMode {
        Persistent = 0 => "PERSISTENT",
        Ephemeral = 1 => "EPHEMERAL",
        PersistentSequential = 2 => "PERSISTENT_SEQUENTIAL",
        EphemeralSequential = 3 => "EPHEMERAL_SEQUENTIAL",
        /// Only via createContainer (19).
        Container = 4 => "CONTAINER",
        /// Only via createTTL (21).
        PersistentWithTtl = 5 => "PERSISTENT_WITH_TTL",
        /// Only via createTTL (21).
        PersistentSequentialWithTtl = 6 => "PERSISTENT_SEQUENTIAL_WITH_TTL",
    }
}

impl CreateMode {
    /// The mode for a flags value, `None` if invalid (BADARGUMENTS).
    pub fn from_flags(flags: i32) -> Option<Self> {
        Self::try_from(flags).ok()
    }

    /// Deleted when the owning session ends.
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// The server appends a 10-digit counter to the name.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Removed by the server once it has had children and has none left.
    pub const fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }

    /// Removed by the server after the TTL elapses without changes.
    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

code_enum! {
    /// `CheckWatchesRequest.watch_type` / `RemoveWatchesRequest.watch_type`.
    /// Other values get MARSHALLINGERROR.
    pub enum WatcherType {
        Children = 1 => "Children",
        Data = 2 => "Data",
        Any = 3 => "Any",
        Persistent = 4 => "Persistent",
        PersistentRecursive = 5 => "PersistentRecursive",
    }
}

code_enum! {
    /// `AddWatchRequest.mode`. Other values get MARSHALLINGERROR.
    pub enum AddWatchMode {
        Persistent = 0 => "PERSISTENT",
        PersistentRecursive = 1 => "PERSISTENT_RECURSIVE",
    }
}

/// Permission bits of [`crate::Acl::perms`].
pub mod perms {
    /// getData, getChildren, exists-with-stat.
    pub const READ: i32 = 1;
    /// setData.
    pub const WRITE: i32 = 2;
    /// Create children.
    pub const CREATE: i32 = 4;
    /// Delete children.
    pub const DELETE: i32 = 8;
    /// setACL.
    pub const ADMIN: i32 = 16;
    /// All of the above.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Special values of `RequestHeader.xid` / `ReplyHeader.xid`.
///
/// The server dispatches on the opcode and echoes the request's xid; these
/// only matter for the frames the server originates or must recognise.
pub mod xid {
    /// Watch notifications (server to client).
    pub const NOTIFICATION: i32 = -1;
    /// Pings and their replies.
    pub const PING: i32 = -2;
    /// Auth packets and their replies (Java, C, kazoo).
    pub const AUTH: i32 = -4;
    /// SetWatches/SetWatches2 sent on reconnect (Java, C).
    pub const SET_WATCHES: i32 = -8;
}

/// Encoded sizes in bytes, for pre-sizing buffers and checking vectors.
pub mod size {
    /// Length prefix of every frame.
    pub const LENGTH_PREFIX: usize = 4;
    /// `RequestHeader`.
    pub const REQUEST_HEADER: usize = 8;
    /// `ReplyHeader`.
    pub const REPLY_HEADER: usize = 16;
    /// `MultiHeader`.
    pub const MULTI_HEADER: usize = 9;
    /// `Stat`.
    pub const STAT: usize = 68;
    /// Session password length every client expects (C reads it at fixed
    /// offsets).
    pub const SESSION_PASSWORD: usize = 16;
    /// ConnectRequest with a 16-byte password and the readOnly byte.
    pub const CONNECT_REQUEST: usize = 45;
    /// ConnectRequest from a client that omits readOnly (go-zookeeper).
    pub const CONNECT_REQUEST_WITHOUT_READ_ONLY: usize = 44;
    /// ConnectResponse with a 16-byte password and the readOnly byte.
    pub const CONNECT_RESPONSE: usize = 37;
    /// ConnectResponse without the readOnly byte.
    pub const CONNECT_RESPONSE_WITHOUT_READ_ONLY: usize = 36;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_roundtrips_through_i32() {
        for &op in OpCode::ALL {
            assert_eq!(OpCode::try_from(op.as_i32()), Ok(op));
        }
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::try_from(i32::from(c)), Ok(c));
        }
        assert_eq!(OpCode::ALL.len(), 33);
        assert_eq!(ErrorCode::ALL.len(), 32);
    }

    #[test]
    fn unknown_values_are_kept() {
        let e = OpCode::try_from(10).unwrap_err();
        assert_eq!(e.value, 10);
        assert_eq!(DecodeError::from(e), DecodeError::UnknownOpcode(10));
        assert_eq!(ErrorCode::try_from(-9).unwrap_err().value, -9);
    }

    #[test]
    fn create_mode_predicates() {
        use CreateMode::*;
        assert_eq!(CreateMode::from_flags(7), None);
        assert!(EphemeralSequential.is_ephemeral() && EphemeralSequential.is_sequential());
        assert!(
            PersistentSequentialWithTtl.is_ttl() && PersistentSequentialWithTtl.is_sequential()
        );
        assert!(Container.is_container() && !Container.is_ephemeral());
        assert_eq!(perms::ALL, 31);
        assert_eq!(ErrorCode::NoNode.name(), "NONODE");
    }
}

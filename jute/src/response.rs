//! Typed reply bodies. The wire does not say which record a reply carries:
//! the client knows from the opcode of the request with the same xid, so
//! decoding needs that opcode.

use bytes::{Bytes, BytesMut};

use crate::codec::{DecodeError, Reader, Record};
use crate::compat::{ConnectResponse, MultiResponse};
use crate::consts::OpCode;
use crate::records::{
    Create2Response, CreateResponse, ErrorResponse, ExistsResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, ReplyHeader, SetAclResponse, SetDataResponse, SetSaslResponse,
    SyncResponse, WatcherEvent, WhoAmIResponse,
};

/// One reply body, as sent after a ReplyHeader with `err == 0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Response {
    /// No body: delete, ping, check, checkWatches, removeWatches, auth,
    /// setWatches(2), deleteContainer, closeSession; also every error reply.
    Empty,
    /// The handshake reply (opcode createSession; no ReplyHeader).
    Connect(ConnectResponse),
    /// create (1).
    Create(CreateResponse),
    /// create2 (15), createContainer (19), createTTL (21).
    Create2(Create2Response),
    /// exists (3).
    Exists(ExistsResponse),
    /// getData (4) and reconfig (16).
    GetData(GetDataResponse),
    /// setData (5).
    SetData(SetDataResponse),
    /// getACL (6).
    GetAcl(GetAclResponse),
    /// setACL (7).
    SetAcl(SetAclResponse),
    /// getChildren (8).
    GetChildren(GetChildrenResponse),
    /// getChildren2 (12).
    GetChildren2(GetChildren2Response),
    /// sync (9).
    Sync(SyncResponse),
    /// multi (14) and multiRead (22).
    Multi(MultiResponse),
    /// sasl (102).
    Sasl(SetSaslResponse),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsResponse),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// addWatch (106): `ErrorResponse{err: 0}`. The Java client reads this
    /// 4-byte body and hits EOF (connection loss) without it.
    AddWatch(ErrorResponse),
    /// whoAmI (107).
    WhoAmI(WhoAmIResponse),
    /// A watch notification (xid -1, opcode notification).
    Notification(WatcherEvent),
}

impl Response {
    /// Decodes a successful reply body to a request with `opcode`. Only call
    /// this when `ReplyHeader.err == 0`: error replies have no body.
    ///
    /// [`OpCode::Error`] is not a request and gives
    /// [`DecodeError::UnknownOpcode`].
    pub fn decode(opcode: OpCode, body: Bytes) -> Result<Response, DecodeError> {
        let r = &mut Reader::new(body);
        Ok(match opcode {
            OpCode::CreateSession => Response::Connect(Record::read(r)?),
            OpCode::Create => Response::Create(Record::read(r)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::Create2(Record::read(r)?)
            }
            OpCode::Exists => Response::Exists(Record::read(r)?),
            OpCode::GetData | OpCode::Reconfig => Response::GetData(Record::read(r)?),
            OpCode::SetData => Response::SetData(Record::read(r)?),
            OpCode::GetAcl => Response::GetAcl(Record::read(r)?),
            OpCode::SetAcl => Response::SetAcl(Record::read(r)?),
            OpCode::GetChildren => Response::GetChildren(Record::read(r)?),
            OpCode::GetChildren2 => Response::GetChildren2(Record::read(r)?),
            OpCode::Sync => Response::Sync(Record::read(r)?),
            OpCode::Multi | OpCode::MultiRead => Response::Multi(Record::read(r)?),
            OpCode::Sasl => Response::Sasl(Record::read(r)?),
            OpCode::GetEphemerals => Response::GetEphemerals(Record::read(r)?),
            OpCode::GetAllChildrenNumber => Response::GetAllChildrenNumber(Record::read(r)?),
            OpCode::AddWatch => Response::AddWatch(Record::read(r)?),
            OpCode::WhoAmI => Response::WhoAmI(Record::read(r)?),
            OpCode::Notification => Response::Notification(Record::read(r)?),
            OpCode::Delete
            | OpCode::Ping
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::DeleteContainer
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CloseSession => Response::Empty,
            OpCode::Error => return Err(DecodeError::UnknownOpcode(opcode.as_i32())),
        })
    }

    /// Appends the body only (nothing for [`Response::Empty`]); see
    /// [`crate::frame::reply`] for a whole frame.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Response::Empty => {}
            Response::Connect(r) => r.write(out),
            Response::Create(r) => r.write(out),
            Response::Create2(r) => r.write(out),
            Response::Exists(r) => r.write(out),
            Response::GetData(r) => r.write(out),
            Response::SetData(r) => r.write(out),
            Response::GetAcl(r) => r.write(out),
            Response::SetAcl(r) => r.write(out),
            Response::GetChildren(r) => r.write(out),
            Response::GetChildren2(r) => r.write(out),
            Response::Sync(r) => r.write(out),
            Response::Multi(r) => r.write(out),
            Response::Sasl(r) => r.write(out),
            Response::GetEphemerals(r) => r.write(out),
            Response::GetAllChildrenNumber(r) => r.write(out),
            Response::AddWatch(r) => r.write(out),
            Response::WhoAmI(r) => r.write(out),
            Response::Notification(r) => r.write(out),
        }
    }
}

macro_rules! response_from {
    ($($record:ident => $variant:ident),* $(,)?) => {
        $(impl From<$record> for Response {
            fn from(r: $record) -> Self {
                Response::$variant(r)
            }
        })*
    };
}

response_from! {
    ConnectResponse => Connect,
    CreateResponse => Create,
    Create2Response => Create2,
    ExistsResponse => Exists,
    GetDataResponse => GetData,
    SetDataResponse => SetData,
    GetAclResponse => GetAcl,
    SetAclResponse => SetAcl,
    GetChildrenResponse => GetChildren,
    GetChildren2Response => GetChildren2,
    SyncResponse => Sync,
    MultiResponse => Multi,
    SetSaslResponse => Sasl,
    GetEphemeralsResponse => GetEphemerals,
    GetAllChildrenNumberResponse => GetAllChildrenNumber,
    ErrorResponse => AddWatch,
    WhoAmIResponse => WhoAmI,
    WatcherEvent => Notification,
}

/// Splits a reply frame (length prefix already removed) into its header and
/// the undecoded body, which [`Response::decode`] reads once the caller has
/// matched the xid to its pending request's opcode.
pub fn decode_reply(frame: Bytes) -> Result<(ReplyHeader, Bytes), DecodeError> {
    let mut r = Reader::new(frame);
    let hdr = ReplyHeader::read(&mut r)?;
    Ok((hdr, r.into_rest()))
}

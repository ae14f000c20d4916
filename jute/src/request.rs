//! Typed client requests: decode once from `(opcode, body)`, then dispatch on
//! the enum, so handlers never touch bytes.

use bytes::{Bytes, BytesMut};

use crate::codec::{DecodeError, Reader, Record};
use crate::compat::MultiRequest;
use crate::consts::OpCode;
use crate::records::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteContainerRequest, DeleteRequest, ExistsRequest, GetAclRequest,
    GetAllChildrenNumberRequest, GetChildren2Request, GetChildrenRequest, GetDataRequest,
    GetEphemeralsRequest, GetSaslRequest, ReconfigRequest, RemoveWatchesRequest, RequestHeader,
    SetAclRequest, SetDataRequest, SetWatches, SetWatches2, SyncRequest,
};

/// One decoded request body; the variant is the opcode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// deleteContainer (20).
    DeleteContainer(DeleteContainerRequest),
    /// exists (3).
    Exists(ExistsRequest),
    /// getData (4).
    GetData(GetDataRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(GetAclRequest),
    /// setACL (7).
    SetAcl(SetAclRequest),
    /// getChildren (8).
    GetChildren(GetChildrenRequest),
    /// getChildren2 (12).
    GetChildren2(GetChildren2Request),
    /// sync (9).
    Sync(SyncRequest),
    /// ping (11); no body.
    Ping,
    /// check (13) outside a multi: UNIMPLEMENTED in ZooKeeper 3.5+.
    Check(CheckVersionRequest),
    /// multi (14).
    Multi(MultiRequest),
    /// multiRead (22).
    MultiRead(MultiRequest),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(CheckWatchesRequest),
    /// removeWatches (18).
    RemoveWatches(RemoveWatchesRequest),
    /// auth (100).
    Auth(AuthPacket),
    /// setWatches (101).
    SetWatches(SetWatches),
    /// setWatches2 (105).
    SetWatches2(SetWatches2),
    /// sasl (102).
    Sasl(GetSaslRequest),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107); no body.
    WhoAmI,
    /// closeSession (-11); no body.
    CloseSession,
}

impl Request {
    /// Decodes the body that followed a RequestHeader with `op_type = opcode`.
    ///
    /// Opcodes that cannot start a request (notification 0, unused 10,
    /// createSession -10, error -1, anything unknown) give
    /// [`DecodeError::UnknownOpcode`], which ZooKeeper answers with
    /// UNIMPLEMENTED and a close. Trailing bytes are ignored; bodies of
    /// body-less requests are not looked at.
    pub fn decode(opcode: i32, body: Bytes) -> Result<Request, DecodeError> {
        let op = OpCode::try_from(opcode).map_err(|_| DecodeError::UnknownOpcode(opcode))?;
        let r = &mut Reader::new(body);
        Ok(match op {
            OpCode::Create => Request::Create(Record::read(r)?),
            OpCode::Create2 => Request::Create2(Record::read(r)?),
            OpCode::CreateContainer => Request::CreateContainer(Record::read(r)?),
            OpCode::CreateTtl => Request::CreateTtl(Record::read(r)?),
            OpCode::Delete => Request::Delete(Record::read(r)?),
            OpCode::DeleteContainer => Request::DeleteContainer(Record::read(r)?),
            OpCode::Exists => Request::Exists(Record::read(r)?),
            OpCode::GetData => Request::GetData(Record::read(r)?),
            OpCode::SetData => Request::SetData(Record::read(r)?),
            OpCode::GetAcl => Request::GetAcl(Record::read(r)?),
            OpCode::SetAcl => Request::SetAcl(Record::read(r)?),
            OpCode::GetChildren => Request::GetChildren(Record::read(r)?),
            OpCode::GetChildren2 => Request::GetChildren2(Record::read(r)?),
            OpCode::Sync => Request::Sync(Record::read(r)?),
            OpCode::Ping => Request::Ping,
            OpCode::Check => Request::Check(Record::read(r)?),
            OpCode::Multi => Request::Multi(Record::read(r)?),
            OpCode::MultiRead => Request::MultiRead(Record::read(r)?),
            OpCode::Reconfig => Request::Reconfig(Record::read(r)?),
            OpCode::CheckWatches => Request::CheckWatches(Record::read(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(Record::read(r)?),
            OpCode::Auth => Request::Auth(Record::read(r)?),
            OpCode::SetWatches => Request::SetWatches(Record::read(r)?),
            OpCode::SetWatches2 => Request::SetWatches2(Record::read(r)?),
            OpCode::Sasl => Request::Sasl(Record::read(r)?),
            OpCode::GetEphemerals => Request::GetEphemerals(Record::read(r)?),
            OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(Record::read(r)?),
            OpCode::AddWatch => Request::AddWatch(Record::read(r)?),
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpcode(opcode))
            }
        })
    }

    /// The opcode to put in the RequestHeader.
    pub fn opcode(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// Appends the body only (no length prefix, no RequestHeader); see
    /// [`crate::frame::request`] for a whole frame.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => r.write(out),
            Request::CreateTtl(r) => r.write(out),
            Request::Delete(r) => r.write(out),
            Request::DeleteContainer(r) => r.write(out),
            Request::Exists(r) => r.write(out),
            Request::GetData(r) => r.write(out),
            Request::SetData(r) => r.write(out),
            Request::GetAcl(r) => r.write(out),
            Request::SetAcl(r) => r.write(out),
            Request::GetChildren(r) => r.write(out),
            Request::GetChildren2(r) => r.write(out),
            Request::Sync(r) => r.write(out),
            Request::Check(r) => r.write(out),
            Request::Multi(r) | Request::MultiRead(r) => r.write(out),
            Request::Reconfig(r) => r.write(out),
            Request::CheckWatches(r) => r.write(out),
            Request::RemoveWatches(r) => r.write(out),
            Request::Auth(r) => r.write(out),
            Request::SetWatches(r) => r.write(out),
            Request::SetWatches2(r) => r.write(out),
            Request::Sasl(r) => r.write(out),
            Request::GetEphemerals(r) => r.write(out),
            Request::GetAllChildrenNumber(r) => r.write(out),
            Request::AddWatch(r) => r.write(out),
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
        }
    }
}

/// Splits a request frame (length prefix already removed) into its header
/// and its decoded body.
///
/// The outer error means even the 8-byte header is missing: nothing can be
/// replied, close. The inner result keeps a body error next to the header so
/// the server can still answer with the request's xid (MARSHALLINGERROR, or
/// UNIMPLEMENTED for [`DecodeError::UnknownOpcode`]).
pub fn decode_request(
    frame: Bytes,
) -> Result<(RequestHeader, Result<Request, DecodeError>), DecodeError> {
    let mut r = Reader::new(frame);
    let hdr = RequestHeader::read(&mut r)?;
    let body = Request::decode(hdr.op_type, r.into_rest());
    Ok((hdr, body))
}

//! Records that the IDL cannot describe: the handshake, whose trailing
//! `readOnly` byte is optional, and the multi request/response framing, where
//! the record following each header depends on the header's type.

use bytes::{Bytes, BytesMut};

use crate::codec::{write_bool, write_buffer, write_i32, write_i64, DecodeError, Reader, Record};
use crate::consts::{size, OpCode};
use crate::records::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, SetDataRequest, SetDataResponse, Stat,
};

/// Reads the optional trailing `readOnly` byte: present only if at least one
/// byte remains. Java ≤3.8 wrote/read it by hand (`isOldClient`) and 3.9's
/// `ProtocolManager` tolerates EOF; go-zookeeper never sends it.
fn read_optional_bool(r: &mut Reader) -> Result<Option<bool>, DecodeError> {
    if r.remaining() == 0 {
        Ok(None)
    } else {
        r.read_bool().map(Some)
    }
}

/// The first client frame; it has no RequestHeader.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConnectRequest {
    /// Always 0; ignored by servers.
    pub protocol_version: i32,
    /// Highest reply zxid the client has seen; a server behind it must not
    /// accept the client.
    pub last_zxid_seen: i64,
    /// Requested session timeout in ms.
    pub time_out: i32,
    /// 0 for a new session, otherwise the session to re-attach.
    pub session_id: i64,
    /// Session password (16 bytes in practice; zeros for a new session).
    pub passwd: Option<Bytes>,
    /// `None` when the client did not send the byte; the reply must then
    /// omit it too.
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    const MIN_WIRE_SIZE: usize = 4 + 8 + 4 + 8 + 4;

    fn write(&self, out: &mut BytesMut) {
        write_i32(out, self.protocol_version);
        write_i64(out, self.last_zxid_seen);
        write_i32(out, self.time_out);
        write_i64(out, self.session_id);
        write_buffer(out, self.passwd.as_deref());
        if let Some(ro) = self.read_only {
            write_bool(out, ro);
        }
    }

    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let f = |what| move |e: DecodeError| e.in_field(what);
        Ok(ConnectRequest {
            protocol_version: r.read_i32().map_err(f("ConnectRequest.protocol_version"))?,
            last_zxid_seen: r.read_i64().map_err(f("ConnectRequest.last_zxid_seen"))?,
            time_out: r.read_i32().map_err(f("ConnectRequest.time_out"))?,
            session_id: r.read_i64().map_err(f("ConnectRequest.session_id"))?,
            passwd: r.read_buffer().map_err(f("ConnectRequest.passwd"))?,
            read_only: read_optional_bool(r)?,
        })
    }
}

/// The first server frame; it has no ReplyHeader.
///
/// An expired session or a wrong password is answered with `time_out = 0`,
/// `session_id = 0` and a 16-byte zero password (clients detect expiry from
/// either field).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated session timeout in ms; 0 means the session is invalid.
    pub time_out: i32,
    /// The session id; 0 means the session is invalid.
    pub session_id: i64,
    /// Session password. The C client requires exactly 16 bytes.
    pub passwd: Option<Bytes>,
    /// Written only when `Some`: echo it iff the request carried it.
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    const MIN_WIRE_SIZE: usize = 4 + 4 + 8 + 4;

    fn write(&self, out: &mut BytesMut) {
        write_i32(out, self.protocol_version);
        write_i32(out, self.time_out);
        write_i64(out, self.session_id);
        write_buffer(out, self.passwd.as_deref());
        if let Some(ro) = self.read_only {
            write_bool(out, ro);
        }
    }

    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let f = |what| move |e: DecodeError| e.in_field(what);
        Ok(ConnectResponse {
            protocol_version: r
                .read_i32()
                .map_err(f("ConnectResponse.protocol_version"))?,
            time_out: r.read_i32().map_err(f("ConnectResponse.time_out"))?,
            session_id: r.read_i64().map_err(f("ConnectResponse.session_id"))?,
            passwd: r.read_buffer().map_err(f("ConnectResponse.passwd"))?,
            read_only: read_optional_bool(r)?,
        })
    }
}

/// The terminating header of both multi encodings.
const MULTI_END: MultiHeader = MultiHeader {
    op_type: -1,
    done: true,
    err: -1,
};

/// One operation of a multi (14) or multiRead (22) request.
///
/// Which ops may be mixed (writes only in multi, reads only in multiRead) is
/// a server decision answered with MARSHALLINGERROR, not a decoding error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultiOp {
    /// create (1): the result is a path only.
    Create(CreateRequest),
    /// create2 (15): the result carries a Stat.
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13): version precondition.
    Check(CheckVersionRequest),
    /// getData (4), multiRead only; the watch flag is ignored.
    GetData(GetDataRequest),
    /// getChildren (8), multiRead only; the watch flag is ignored.
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    /// The opcode written in this op's MultiHeader.
    pub fn opcode(&self) -> i32 {
        self.op_code().as_i32()
    }

    /// [`MultiOp::opcode`] as an [`OpCode`].
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    /// The path the op acts on.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
        }
    }

    /// True for getData/getChildren, the only ops multiRead allows.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    fn write_body(&self, out: &mut BytesMut) {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r.write(out),
            MultiOp::CreateTtl(r) => r.write(out),
            MultiOp::Delete(r) => r.write(out),
            MultiOp::SetData(r) => r.write(out),
            MultiOp::Check(r) => r.write(out),
            MultiOp::GetData(r) => r.write(out),
            MultiOp::GetChildren(r) => r.write(out),
        }
    }

    fn read_body(op_type: i32, r: &mut Reader) -> Result<Self, DecodeError> {
        let op = OpCode::try_from(op_type).ok();
        Ok(match op {
            Some(OpCode::Create) => MultiOp::Create(CreateRequest::read(r)?),
            Some(OpCode::Create2) => MultiOp::Create2(CreateRequest::read(r)?),
            Some(OpCode::CreateContainer) => MultiOp::CreateContainer(CreateRequest::read(r)?),
            Some(OpCode::CreateTtl) => MultiOp::CreateTtl(CreateTtlRequest::read(r)?),
            Some(OpCode::Delete) => MultiOp::Delete(DeleteRequest::read(r)?),
            Some(OpCode::SetData) => MultiOp::SetData(SetDataRequest::read(r)?),
            Some(OpCode::Check) => MultiOp::Check(CheckVersionRequest::read(r)?),
            Some(OpCode::GetData) => MultiOp::GetData(GetDataRequest::read(r)?),
            Some(OpCode::GetChildren) => MultiOp::GetChildren(GetChildrenRequest::read(r)?),
            _ => {
                return Err(DecodeError::Invalid {
                    what: "MultiHeader.op_type",
                    detail: format!("op type {op_type} is not allowed in a multi"),
                })
            }
        })
    }
}

/// Body of multi (14) and multiRead (22): `MultiOperationRecord` upstream.
///
/// Encoding: per op `MultiHeader{opcode, done=false, err=-1}` + its record,
/// then `MultiHeader{-1, true, -1}`. Readers look only at `done` and the type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MultiRequest {
    /// The ops, applied in order.
    pub ops: Vec<MultiOp>,
}

impl MultiRequest {
    /// True if every op is a read (an empty request counts as read-only).
    pub fn is_read_only(&self) -> bool {
        self.ops.iter().all(MultiOp::is_read)
    }
}

impl Record for MultiRequest {
    const MIN_WIRE_SIZE: usize = size::MULTI_HEADER;

    fn write(&self, out: &mut BytesMut) {
        for op in &self.ops {
            MultiHeader {
                op_type: op.opcode(),
                done: false,
                err: -1,
            }
            .write(out);
            op.write_body(out);
        }
        MULTI_END.write(out);
    }

    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        // Terminates: every iteration consumes at least a 9-byte header.
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                return Ok(MultiRequest { ops });
            }
            ops.push(MultiOp::read_body(h.op_type, r)?);
        }
    }
}

/// One result of a multi reply. The result type must match the op's opcode
/// because kazoo and Go decode by result type and only know 1, 2, 5, 13, -1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultiResult {
    /// Type 1: only for a create (1) op.
    Create {
        /// The created path.
        path: String,
    },
    /// Type 15: for create2 (15), createContainer (19) and createTTL (21).
    Create2 {
        /// The created path.
        path: String,
        /// The new node's Stat.
        stat: Stat,
    },
    /// Type 2: no body.
    Delete,
    /// Type 5.
    SetData {
        /// Post-update Stat.
        stat: Stat,
    },
    /// Type 13: no body.
    Check,
    /// Type 4 (multiRead).
    GetData {
        /// Node data; `None` for null data.
        data: Option<Bytes>,
        /// Node Stat.
        stat: Stat,
    },
    /// Type 8 (multiRead).
    GetChildren {
        /// Child names.
        children: Vec<String>,
    },
    /// Type -1: the op failed with this code (0 = rolled back, -2 = not
    /// attempted after an earlier failure).
    Error(i32),
}

impl MultiResult {
    /// The result type written in this result's MultiHeader.
    pub fn result_type(&self) -> i32 {
        match self {
            MultiResult::Create { .. } => OpCode::Create,
            MultiResult::Create2 { .. } => OpCode::Create2,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::SetData { .. } => OpCode::SetData,
            MultiResult::Check => OpCode::Check,
            MultiResult::GetData { .. } => OpCode::GetData,
            MultiResult::GetChildren { .. } => OpCode::GetChildren,
            MultiResult::Error(_) => OpCode::Error,
        }
        .as_i32()
    }

    fn write_body(&self, out: &mut BytesMut) {
        // Same layouts as CreateResponse, Create2Response, SetDataResponse,
        // GetDataResponse, GetChildrenResponse and ErrorResponse, written
        // field by field to avoid cloning into those structs.
        match self {
            MultiResult::Create { path } => crate::codec::write_ustring(out, path),
            MultiResult::Create2 { path, stat } => {
                crate::codec::write_ustring(out, path);
                stat.write(out);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData { stat } => stat.write(out),
            MultiResult::GetData { data, stat } => {
                write_buffer(out, data.as_deref());
                stat.write(out);
            }
            MultiResult::GetChildren { children } => {
                crate::codec::write_ustring_vec(out, children);
            }
            MultiResult::Error(code) => write_i32(out, *code),
        }
    }

    fn read_body(result_type: i32, r: &mut Reader) -> Result<Self, DecodeError> {
        let t = OpCode::try_from(result_type).ok();
        Ok(match t {
            Some(OpCode::Create) => MultiResult::Create {
                path: CreateResponse::read(r)?.path,
            },
            Some(OpCode::Create2) => {
                let Create2Response { path, stat } = Create2Response::read(r)?;
                MultiResult::Create2 { path, stat }
            }
            Some(OpCode::Delete) => MultiResult::Delete,
            Some(OpCode::SetData) => MultiResult::SetData {
                stat: SetDataResponse::read(r)?.stat,
            },
            Some(OpCode::Check) => MultiResult::Check,
            Some(OpCode::GetData) => {
                let GetDataResponse { data, stat } = GetDataResponse::read(r)?;
                MultiResult::GetData { data, stat }
            }
            Some(OpCode::GetChildren) => MultiResult::GetChildren {
                children: GetChildrenResponse::read(r)?.children,
            },
            // The Java reader takes the code from the body, not the header.
            Some(OpCode::Error) => MultiResult::Error(ErrorResponse::read(r)?.err),
            _ => {
                return Err(DecodeError::Invalid {
                    what: "MultiHeader.op_type",
                    detail: format!("result type {result_type} is not valid in a multi reply"),
                })
            }
        })
    }
}

/// Body of a multi/multiRead reply.
///
/// Encoding: per result `MultiHeader{type, done=false, err}` + body, then
/// `MultiHeader{-1, true, -1}`. `err` is 0 except for [`MultiResult::Error`],
/// where it repeats the body's code. A failed multi is still sent with
/// `ReplyHeader.err = 0`: clients throw before reading results otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MultiResponse {
    /// One result per op, in op order.
    pub results: Vec<MultiResult>,
}

impl Record for MultiResponse {
    const MIN_WIRE_SIZE: usize = size::MULTI_HEADER;

    fn write(&self, out: &mut BytesMut) {
        for res in &self.results {
            let err = match res {
                MultiResult::Error(code) => *code,
                _ => 0,
            };
            MultiHeader {
                op_type: res.result_type(),
                done: false,
                err,
            }
            .write(out);
            res.write_body(out);
        }
        MULTI_END.write(out);
    }

    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        // Terminates: every iteration consumes at least a 9-byte header.
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                return Ok(MultiResponse { results });
            }
            results.push(MultiResult::read_body(h.op_type, r)?);
        }
    }
}

/// Lets callers build a multi reply from ordinary response records.
impl From<CreateResponse> for MultiResult {
    fn from(r: CreateResponse) -> Self {
        MultiResult::Create { path: r.path }
    }
}

impl From<Create2Response> for MultiResult {
    fn from(r: Create2Response) -> Self {
        MultiResult::Create2 {
            path: r.path,
            stat: r.stat,
        }
    }
}

impl From<SetDataResponse> for MultiResult {
    fn from(r: SetDataResponse) -> Self {
        MultiResult::SetData { stat: r.stat }
    }
}

impl From<GetDataResponse> for MultiResult {
    fn from(r: GetDataResponse) -> Self {
        MultiResult::GetData {
            data: r.data,
            stat: r.stat,
        }
    }
}

impl From<GetChildrenResponse> for MultiResult {
    fn from(r: GetChildrenResponse) -> Self {
        MultiResult::GetChildren {
            children: r.children,
        }
    }
}

//! A borrowing view of a logged txn, for replaying the txn log at start-up
//! (`FileTxnSnapLog#processTransaction` over `SerializeUtils.deserializeTxn`) without an
//! allocation per field: paths and data point into the record's bytes, ACL lists stay
//! encoded until the tree interns them.
//!
//! Invariants: [`TxnEntryRef::decode`] accepts exactly the inputs [`TxnEntry::from_bytes`]
//! accepts, and [`TxnEntryRef::to_owned`] of its result equals what that returns (the tests
//! compare both on every record shape and on truncations of each).

use std::borrow::Cow;

use super::codes::OpCode;
use super::data::Acl;
use super::prim::{fail, finish, DecodeError, JResult, Jute};
use super::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, CreateTxnV0, DeleteTxn, ErrorTxn, SetAclTxn, SetDataTxn, TxnBody, TxnDigest,
    TxnEntry, TxnHeader,
};

/// An encoded `vector<ACL>` (count included), already checked to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclsRef<'a>(pub &'a [u8]);

impl AclsRef<'_> {
    /// The decoded list (null reads as empty, as the owned decoder has it).
    pub fn to_vec(&self) -> Vec<Acl> {
        Vec::<Acl>::from_bytes(self.0).unwrap_or_default()
    }
}

/// Which create record a [`CreateRef`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    Create,
    V0,
    Ttl,
    Container,
}

/// Any create flavour; fields a flavour lacks hold its implied value (V0: no parent
/// cversion, -1; only TTL has a ttl; only Create / V0 have `ephemeral`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRef<'a> {
    pub kind: CreateKind,
    pub path: Cow<'a, str>,
    pub data: Option<&'a [u8]>,
    pub acl: AclsRef<'a>,
    pub ephemeral: bool,
    pub parent_cversion: i32,
    pub ttl: i64,
}

/// [`TxnBody`], borrowing from the record's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnRef<'a> {
    CreateSession(i32),
    CloseSession(Option<Vec<Cow<'a, str>>>),
    Create(CreateRef<'a>),
    Delete(Cow<'a, str>),
    SetData {
        path: Cow<'a, str>,
        data: Option<&'a [u8]>,
        version: i32,
    },
    SetAcl {
        path: Cow<'a, str>,
        acl: AclsRef<'a>,
        version: i32,
    },
    Check {
        path: Cow<'a, str>,
        version: i32,
    },
    Error(i32),
    Multi(Vec<(OpCode, TxnRef<'a>)>),
}

/// [`TxnEntry`], borrowing from the record's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEntryRef<'a> {
    pub header: TxnHeader,
    pub body: TxnRef<'a>,
    pub digest: Option<TxnDigest>,
}

fn raw(input: &[u8]) -> JResult<'_, Option<&[u8]>> {
    let (rest, len) = i32::decode(input)?;
    match len {
        -1 => Ok((rest, None)),
        n if n < 0 => fail(DecodeError::NegativeLength(n)),
        n => {
            let len = usize::try_from(n).unwrap_or(usize::MAX);
            if len > rest.len() {
                return fail(DecodeError::LengthOverrun {
                    len,
                    remaining: rest.len(),
                });
            }
            Ok((&rest[len..], Some(&rest[..len])))
        }
    }
}

/// `ustring`, borrowed when it is valid UTF-8 (the owned decoder's rules otherwise).
fn string(input: &[u8]) -> JResult<'_, Cow<'_, str>> {
    let (rest, b) = raw(input)?;
    match b.map(std::str::from_utf8) {
        None => Ok((rest, Cow::Borrowed(""))),
        Some(Ok(s)) => Ok((rest, Cow::Borrowed(s))),
        Some(Err(_)) => String::decode(input).map(|(r, s)| (r, Cow::Owned(s))),
    }
}

/// A `vector<ACL>` walked without decoding it, kept as its bytes.
fn acls(input: &[u8]) -> JResult<'_, AclsRef<'_>> {
    let (mut rest, count) = i32::decode(input)?;
    if count < -1 {
        return fail(DecodeError::NegativeLength(count));
    }
    for _ in 0..count.max(0) {
        let (r, _perms) = i32::decode(rest)?;
        let (r, _scheme) = raw(r)?;
        let (r, _id) = raw(r)?;
        rest = r;
    }
    Ok((rest, AclsRef(&input[..input.len() - rest.len()])))
}

fn create(kind: CreateKind, input: &[u8]) -> JResult<'_, CreateRef<'_>> {
    let (input, path) = string(input)?;
    let (input, data) = raw(input)?;
    let (input, acl) = acls(input)?;
    let mut c = CreateRef {
        kind,
        path,
        data,
        acl,
        ephemeral: false,
        parent_cversion: -1,
        ttl: 0,
    };
    let input = match kind {
        CreateKind::Create | CreateKind::V0 => {
            let (input, e) = bool::decode(input)?;
            c.ephemeral = e;
            input
        }
        CreateKind::Ttl | CreateKind::Container => input,
    };
    let input = match kind {
        CreateKind::V0 => input,
        _ => {
            let (input, v) = i32::decode(input)?;
            c.parent_cversion = v;
            input
        }
    };
    let input = match kind {
        CreateKind::Ttl => {
            let (input, ttl) = i64::decode(input)?;
            c.ttl = ttl;
            input
        }
        _ => input,
    };
    Ok((input, c))
}

fn path_version(input: &[u8]) -> JResult<'_, (Cow<'_, str>, i32)> {
    let (input, path) = string(input)?;
    let (input, version) = i32::decode(input)?;
    Ok((input, (path, version)))
}

fn close_session(input: &[u8]) -> JResult<'_, TxnRef<'_>> {
    if input.is_empty() {
        return Ok((input, TxnRef::CloseSession(None)));
    }
    let (mut rest, count) = i32::decode(input)?;
    if count < -1 {
        return fail(DecodeError::NegativeLength(count));
    }
    let n = usize::try_from(count.max(0)).unwrap_or(0);
    let mut paths = Vec::with_capacity(n.min(rest.len()));
    for _ in 0..n {
        let (r, p) = string(rest)?;
        rest = r;
        paths.push(p);
    }
    Ok((rest, TxnRef::CloseSession(Some(paths))))
}

fn multi(input: &[u8]) -> JResult<'_, TxnRef<'_>> {
    // The whole MultiTxn first, then each sub-txn, in the order the owned decoder fails.
    let (mut rest, count) = i32::decode(input)?;
    if count < -1 {
        return fail(DecodeError::NegativeLength(count));
    }
    let n = usize::try_from(count.max(0)).unwrap_or(0);
    let mut raws = Vec::with_capacity(n.min(rest.len()));
    for _ in 0..n {
        let (r, op) = i32::decode(rest)?;
        let (r, data) = raw(r)?;
        rest = r;
        raws.push((OpCode(op), data.unwrap_or_default()));
    }
    let mut subs = Vec::with_capacity(raws.len());
    for (op, data) in raws {
        if op == OpCode::MULTI {
            return fail(DecodeError::Malformed("nested multi txn"));
        }
        let (_, body) = TxnRef::decode_for(op, data)
            .map_err(|e| e.map(|_| DecodeError::Malformed("bad sub-txn of multi")))?;
        subs.push((op, body));
    }
    Ok((rest, TxnRef::Multi(subs)))
}

impl<'a> TxnRef<'a> {
    /// [`TxnBody::decode_for`], borrowing.
    pub fn decode_for(op: OpCode, input: &'a [u8]) -> JResult<'a, TxnRef<'a>> {
        match op {
            OpCode::CREATE_SESSION => {
                i32::decode(input).map(|(r, t)| (r, TxnRef::CreateSession(t)))
            }
            OpCode::CLOSE_SESSION => close_session(input),
            OpCode::CREATE | OpCode::CREATE2 => match create(CreateKind::Create, input) {
                Ok((r, c)) => Ok((r, TxnRef::Create(c))),
                // `SerializeUtils.deserializeTxn` falls back to CreateTxnV0 on EOF.
                Err(_) => create(CreateKind::V0, input).map(|(r, c)| (r, TxnRef::Create(c))),
            },
            OpCode::CREATE_TTL => {
                create(CreateKind::Ttl, input).map(|(r, c)| (r, TxnRef::Create(c)))
            }
            OpCode::CREATE_CONTAINER => {
                create(CreateKind::Container, input).map(|(r, c)| (r, TxnRef::Create(c)))
            }
            OpCode::DELETE | OpCode::DELETE_CONTAINER => {
                string(input).map(|(r, p)| (r, TxnRef::Delete(p)))
            }
            OpCode::SET_DATA | OpCode::RECONFIG => {
                let (input, path) = string(input)?;
                let (input, data) = raw(input)?;
                let (input, version) = i32::decode(input)?;
                Ok((
                    input,
                    TxnRef::SetData {
                        path,
                        data,
                        version,
                    },
                ))
            }
            OpCode::SET_ACL => {
                let (input, path) = string(input)?;
                let (input, acl) = acls(input)?;
                let (input, version) = i32::decode(input)?;
                Ok((input, TxnRef::SetAcl { path, acl, version }))
            }
            OpCode::CHECK => {
                path_version(input).map(|(r, (path, version))| (r, TxnRef::Check { path, version }))
            }
            OpCode::ERROR => i32::decode(input).map(|(r, e)| (r, TxnRef::Error(e))),
            OpCode::MULTI => multi(input),
            other => fail(DecodeError::UnknownValue {
                what: "txn type",
                value: other.0,
            }),
        }
    }

    /// The owned [`TxnBody`] this views.
    pub fn to_owned(&self) -> TxnBody {
        let data = |d: Option<&[u8]>| d.map(bytes::Bytes::copy_from_slice);
        match self {
            TxnRef::CreateSession(t) => TxnBody::CreateSession(CreateSessionTxn { time_out: *t }),
            TxnRef::CloseSession(p) => TxnBody::CloseSession(p.as_ref().map(|p| CloseSessionTxn {
                paths2_delete: p.iter().map(|s| s.to_string()).collect(),
            })),
            TxnRef::Create(c) => create_to_owned(c),
            TxnRef::Delete(path) => TxnBody::Delete(DeleteTxn {
                path: path.to_string(),
            }),
            TxnRef::SetData {
                path,
                data: d,
                version,
            } => TxnBody::SetData(SetDataTxn {
                path: path.to_string(),
                data: data(*d),
                version: *version,
            }),
            TxnRef::SetAcl { path, acl, version } => TxnBody::SetAcl(SetAclTxn {
                path: path.to_string(),
                acl: acl.to_vec(),
                version: *version,
            }),
            TxnRef::Check { path, version } => TxnBody::Check(CheckVersionTxn {
                path: path.to_string(),
                version: *version,
            }),
            TxnRef::Error(e) => TxnBody::Error(ErrorTxn { err: *e }),
            TxnRef::Multi(subs) => {
                TxnBody::Multi(subs.iter().map(|(op, b)| (*op, b.to_owned())).collect())
            }
        }
    }
}

fn create_to_owned(c: &CreateRef<'_>) -> TxnBody {
    let (path, data, acl) = (
        c.path.to_string(),
        c.data.map(bytes::Bytes::copy_from_slice),
        c.acl.to_vec(),
    );
    match c.kind {
        CreateKind::Create => TxnBody::Create(CreateTxn {
            path,
            data,
            acl,
            ephemeral: c.ephemeral,
            parent_cversion: c.parent_cversion,
        }),
        CreateKind::V0 => TxnBody::CreateV0(CreateTxnV0 {
            path,
            data,
            acl,
            ephemeral: c.ephemeral,
        }),
        CreateKind::Ttl => TxnBody::CreateTtl(CreateTtlTxn {
            path,
            data,
            acl,
            parent_cversion: c.parent_cversion,
            ttl: c.ttl,
        }),
        CreateKind::Container => TxnBody::CreateContainer(CreateContainerTxn {
            path,
            data,
            acl,
            parent_cversion: c.parent_cversion,
        }),
    }
}

impl<'a> TxnEntryRef<'a> {
    /// [`TxnEntry::from_bytes`], borrowing: header, record, then a digest when bytes remain.
    pub fn decode(input: &'a [u8]) -> Result<TxnEntryRef<'a>, DecodeError> {
        let r = (|| {
            let (input, header) = TxnHeader::decode(input)?;
            let (input, body) = TxnRef::decode_for(header.op, input)?;
            let (input, digest) = if input.is_empty() {
                (input, None)
            } else {
                let (i, d) = TxnDigest::decode(input)?;
                (i, Some(d))
            };
            Ok((
                input,
                TxnEntryRef {
                    header,
                    body,
                    digest,
                },
            ))
        })();
        finish(r).map(|(_, e)| e)
    }

    pub fn to_owned(&self) -> TxnEntry {
        TxnEntry {
            header: self.header.clone(),
            body: self.body.to_owned(),
            digest: self.digest.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "txn_ref_tests.rs"]
mod tests;

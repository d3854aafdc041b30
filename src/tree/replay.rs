//! The one shape [`DataTree`] applies txns in, built from an owned [`TxnBody`] (the live
//! path, `DataTree#processTxn` from `FinalRequestProcessor`) or from a borrowed [`TxnRef`]
//! (start-up replay, `FileTxnSnapLog#processTransaction`), and where their effects go.
//!
//! Invariants: both sources give the same [`Op`] for the same txn, so replay and the live
//! path change the tree — every Stat, the digest, the ACL cache — identically; replay only
//! skips building what nobody reads during recovery (watch triggers, per-op results).

use std::borrow::Cow;
use std::sync::Arc;

use super::ephemeral::{EphemeralType, CONTAINER_EPHEMERAL_OWNER};
use super::{DataTree, WatchTrigger};
use crate::jute::codes::{EventType, OpCode};
use crate::jute::data::Acl;
use crate::jute::txn::{TxnBody, TxnDigest};
use crate::jute::txn_ref::{AclsRef, CreateKind, CreateRef, TxnEntryRef, TxnRef};

/// Where a txn's side effects go.
pub(super) trait Effects {
    /// Whether per-op results (`AppliedResult`) are wanted.
    const LIVE: bool;
    /// A watch event on `path`, for watchers with READ on `acl` (see [`WatchTrigger::acl`]).
    fn fire(&mut self, path: &str, event: EventType, acl: &Arc<Vec<Acl>>);
}

/// The live path: every watch trigger, for the pipeline to deliver.
impl Effects for Vec<WatchTrigger> {
    const LIVE: bool = true;
    fn fire(&mut self, path: &str, event: EventType, acl: &Arc<Vec<Acl>>) {
        self.push(WatchTrigger {
            path: path.to_string(),
            event,
            acl: Arc::clone(acl),
        });
    }
}

/// Recovery: no watches exist yet and nobody waits for a result.
struct Replay;

impl Effects for Replay {
    const LIVE: bool = false;
    fn fire(&mut self, _path: &str, _event: EventType, _acl: &Arc<Vec<Acl>>) {}
}

/// An ACL list as a txn carries it.
#[derive(Debug, Clone, Copy)]
pub(super) enum AclArg<'a> {
    List(&'a [Acl]),
    Encoded(AclsRef<'a>),
}

/// A create as `createNode` takes it.
pub(super) struct NewNode<'a> {
    pub(super) path: &'a str,
    pub(super) data: Option<&'a [u8]>,
    pub(super) acl: AclArg<'a>,
    pub(super) owner: i64,
    pub(super) parent_cversion: i32,
}

/// One (sub-)txn as the tree applies it.
pub(super) enum Op<'a> {
    /// `None`: a TTL out of range.
    Create(Option<NewNode<'a>>),
    Delete(&'a str),
    SetData {
        path: &'a str,
        data: Option<&'a [u8]>,
        version: i32,
    },
    SetAcl {
        path: &'a str,
        acl: AclArg<'a>,
        version: i32,
    },
    CloseSession(Option<Vec<&'a str>>),
    Error(i32),
    Check,
    Multi(Vec<(OpCode, Op<'a>)>),
    /// createSession: nothing in the tree.
    Nothing,
}

impl<'a> Op<'a> {
    /// The op an owned txn body describes; `session` is the header's client id.
    pub(super) fn of_body(session: i64, body: &'a TxnBody) -> Op<'a> {
        let owner = |ephemeral: bool| if ephemeral { session } else { 0 };
        let create = |path: &'a String,
                      data: &'a Option<bytes::Bytes>,
                      acl: &'a [Acl],
                      owner: Option<i64>| {
            Op::Create(owner.map(|owner| NewNode {
                path,
                data: data.as_deref(),
                acl: AclArg::List(acl),
                owner,
                parent_cversion: -1,
            }))
        };
        let with_cversion = |op: Op<'a>, v: i32| match op {
            Op::Create(Some(n)) => Op::Create(Some(NewNode {
                parent_cversion: v,
                ..n
            })),
            other => other,
        };
        match body {
            TxnBody::Create(t) => with_cversion(
                create(&t.path, &t.data, &t.acl, Some(owner(t.ephemeral))),
                t.parent_cversion,
            ),
            TxnBody::CreateV0(t) => create(&t.path, &t.data, &t.acl, Some(owner(t.ephemeral))),
            TxnBody::CreateTtl(t) => with_cversion(
                create(&t.path, &t.data, &t.acl, EphemeralType::ttl_to_owner(t.ttl)),
                t.parent_cversion,
            ),
            TxnBody::CreateContainer(t) => with_cversion(
                create(&t.path, &t.data, &t.acl, Some(CONTAINER_EPHEMERAL_OWNER)),
                t.parent_cversion,
            ),
            TxnBody::Delete(t) => Op::Delete(&t.path),
            TxnBody::SetData(t) => Op::SetData {
                path: &t.path,
                data: t.data.as_deref(),
                version: t.version,
            },
            TxnBody::SetAcl(t) => Op::SetAcl {
                path: &t.path,
                acl: AclArg::List(&t.acl),
                version: t.version,
            },
            TxnBody::CloseSession(t) => Op::CloseSession(
                t.as_ref()
                    .map(|t| t.paths2_delete.iter().map(String::as_str).collect()),
            ),
            TxnBody::Error(e) => Op::Error(e.err),
            TxnBody::Check(_) => Op::Check,
            TxnBody::Multi(subs) => Op::Multi(
                subs.iter()
                    .map(|(code, b)| (*code, Op::of_body(session, b)))
                    .collect(),
            ),
            TxnBody::CreateSession(_) => Op::Nothing,
        }
    }

    /// The op a borrowed txn describes; `session` is the header's client id.
    pub(super) fn of_ref(session: i64, txn: &'a TxnRef<'a>) -> Op<'a> {
        match txn {
            TxnRef::Create(c) => Op::Create(new_node(session, c)),
            TxnRef::Delete(path) => Op::Delete(path),
            TxnRef::SetData {
                path,
                data,
                version,
            } => Op::SetData {
                path,
                data: *data,
                version: *version,
            },
            TxnRef::SetAcl { path, acl, version } => Op::SetAcl {
                path,
                acl: AclArg::Encoded(*acl),
                version: *version,
            },
            TxnRef::CloseSession(paths) => {
                Op::CloseSession(paths.as_ref().map(|p| p.iter().map(Cow::as_ref).collect()))
            }
            TxnRef::Error(e) => Op::Error(*e),
            TxnRef::Check { .. } => Op::Check,
            TxnRef::Multi(subs) => Op::Multi(
                subs.iter()
                    .map(|(code, t)| (*code, Op::of_ref(session, t)))
                    .collect(),
            ),
            TxnRef::CreateSession(_) => Op::Nothing,
        }
    }
}

fn new_node<'a>(session: i64, c: &'a CreateRef<'a>) -> Option<NewNode<'a>> {
    let owner = match c.kind {
        CreateKind::Create | CreateKind::V0 if c.ephemeral => session,
        CreateKind::Create | CreateKind::V0 => 0,
        CreateKind::Ttl => EphemeralType::ttl_to_owner(c.ttl)?,
        CreateKind::Container => CONTAINER_EPHEMERAL_OWNER,
    };
    Some(NewNode {
        path: &c.path,
        data: c.data,
        acl: AclArg::Encoded(c.acl),
        owner,
        parent_cversion: c.parent_cversion,
    })
}

impl DataTree {
    /// Replays one logged txn during recovery: the same changes as [`DataTree::apply`]
    /// (Stats, digest, ACL cache, indexes), without building watch triggers or results.
    pub fn apply_replay(&mut self, txn: &TxnEntryRef<'_>) {
        let op = Op::of_ref(txn.header.client_id, &txn.body);
        self.process(txn.header.op, &txn.header, &op, &mut Replay);
        self.advance_zxid(txn.header.zxid);
    }

    /// [`DataTree::digest_matches`] for a txn given by its zxid and logged digest.
    pub fn digest_matches_at(&self, zxid: i64, logged: Option<&TxnDigest>) -> bool {
        match logged {
            Some(d)
                if self.options.digest_enabled && d.version == super::digest::DIGEST_VERSION =>
            {
                let ok = d.tree_digest == self.digest;
                if !ok {
                    tracing::warn!(
                        zxid = format_args!("{zxid:#x}"),
                        expected = d.tree_digest,
                        actual = self.digest,
                        "digest mismatch"
                    );
                }
                ok
            }
            _ => true,
        }
    }

    /// Makes room for about `nodes` more nodes, so a long replay does not grow the node
    /// table and its index step by step.
    pub fn reserve_nodes(&mut self, nodes: usize) {
        self.arena.reserve(nodes);
    }

    pub(super) fn intern_acl(&mut self, acl: AclArg<'_>) -> (i64, Arc<Vec<Acl>>) {
        match acl {
            AclArg::List(l) => self.acl_cache.intern(l),
            AclArg::Encoded(e) => self.acl_cache.intern_encoded(e),
        }
    }
}

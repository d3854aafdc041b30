//! Applying txns (`DataTree#processTxn`, `createNode`, `deleteNode`, `setData`, `setACL`,
//! `killSession`, `setCversionPzxid`).

use std::sync::Arc;

use super::ephemeral::EphemeralType;
use super::quota::{trim_quota_path, LIMIT_NODE, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, STAT_NODE};
use super::replay::{AclArg, Effects, NewNode, Op};
use super::{digest, key, node_size, split_parent, Applied, AppliedResult, DataNode, DataTree};
use crate::jute::codes::{ErrorCode, EventType, OpCode};
use crate::jute::data::{Acl, Stat, StatPersisted};
use crate::jute::txn::{TxnEntry, TxnHeader};

type Outcome = (ErrorCode, AppliedResult);

/// The sub-txn types `DataTree#processTxn` accepts inside a multi; any other makes it stop.
const MULTI_OPS: [OpCode; 8] = [
    OpCode::CREATE,
    OpCode::CREATE_TTL,
    OpCode::CREATE_CONTAINER,
    OpCode::DELETE,
    OpCode::DELETE_CONTAINER,
    OpCode::SET_DATA,
    OpCode::ERROR,
    OpCode::CHECK,
];

impl DataTree {
    /// Applies one logged txn; `last_processed_zxid` becomes the max with its zxid.
    pub fn apply(&mut self, txn: &TxnEntry) -> Applied {
        let mut triggers = Vec::new();
        let op = Op::of_body(txn.header.client_id, &txn.body);
        let (err, result) = self.process(txn.header.op, &txn.header, &op, &mut triggers);
        self.advance_zxid(txn.header.zxid);
        Applied {
            err,
            result,
            triggers,
        }
    }

    pub(super) fn advance_zxid(&mut self, zxid: i64) {
        if zxid > self.last_processed_zxid {
            self.last_processed_zxid = zxid;
        }
    }

    /// `DataTree#processTxn` for one (sub-)txn of type `code`: results and watch triggers
    /// are built only where `E` wants them.
    pub(super) fn process<E: Effects>(
        &mut self,
        code: OpCode,
        hdr: &TxnHeader,
        op: &Op<'_>,
        fx: &mut E,
    ) -> Outcome {
        match op {
            Op::Create(None) => {
                // The prep stage validated the TTL; the reference would throw past processTxn.
                (ErrorCode::BAD_ARGUMENTS, AppliedResult::None)
            }
            Op::Create(Some(n)) => {
                let outcome = self.create(hdr, n, fx);
                // A replayed plain create that finds its node (a fuzzy snapshot already holds
                // it) still moves the parent's cversion/pzxid forward (`DataTree#processTxn`).
                if code == OpCode::CREATE && outcome.0 == ErrorCode::NODE_EXISTS {
                    let parent = split_parent(n.path).map_or("", |(p, _)| p);
                    if self
                        .set_cversion_pzxid(parent, n.parent_cversion, hdr.zxid)
                        .is_err()
                    {
                        return (ErrorCode::NO_NODE, AppliedResult::None);
                    }
                }
                outcome
            }
            Op::Delete(path) => to_outcome(self.delete_node(path, hdr.zxid, fx)),
            Op::SetData {
                path,
                data,
                version,
            } => {
                let r = self.set_data(path, *data, *version, hdr, fx);
                to_outcome(r.map(AppliedResult::DataSet))
            }
            Op::SetAcl { path, acl, version } => {
                let r = self.set_acl(path, *acl, *version);
                to_outcome(r.map(AppliedResult::AclSet))
            }
            Op::CloseSession(paths) => {
                self.kill_session(hdr.client_id, hdr.zxid, paths.as_deref(), fx);
                (ErrorCode::OK, AppliedResult::None)
            }
            Op::Error(e) => (ErrorCode(*e), AppliedResult::None),
            Op::Check => (ErrorCode::OK, AppliedResult::Checked),
            Op::Multi(subs) => self.multi(hdr, subs, fx),
            Op::Nothing => (ErrorCode::OK, AppliedResult::None),
        }
    }

    fn create<E: Effects>(&mut self, hdr: &TxnHeader, n: &NewNode<'_>, fx: &mut E) -> Outcome {
        match self.create_node(n, hdr.zxid, hdr.time, fx) {
            Ok(stat) if E::LIVE => (
                ErrorCode::OK,
                AppliedResult::Created {
                    path: n.path.to_string(),
                    stat,
                },
            ),
            Ok(_) => (ErrorCode::OK, AppliedResult::None),
            Err(e) => (e, AppliedResult::None),
        }
    }

    fn multi<E: Effects>(
        &mut self,
        hdr: &TxnHeader,
        subs: &[(OpCode, Op<'_>)],
        fx: &mut E,
    ) -> Outcome {
        // A multi that failed in prep is logged with every sub-txn an ErrorTxn; should any
        // sub-txn be an error, the others are turned into errors too.
        let failed = subs.iter().any(|(op, _)| *op == OpCode::ERROR);
        let mut post_failed = false;
        let mut err = ErrorCode::OK;
        let mut results = Vec::with_capacity(if E::LIVE { subs.len() } else { 0 });
        for (code, op) in subs {
            if !MULTI_OPS.contains(code) {
                tracing::warn!(
                    op = code.0,
                    zxid = hdr.zxid,
                    "invalid type of op in multi txn"
                );
                break;
            }
            post_failed |= *code == OpCode::ERROR;
            let sub = if failed && *code != OpCode::ERROR {
                let ec = if post_failed {
                    ErrorCode::RUNTIME_INCONSISTENCY
                } else {
                    ErrorCode::OK
                };
                (ec, AppliedResult::None)
            } else {
                self.process(*code, hdr, op, fx)
            };
            if sub.0 != ErrorCode::OK && err == ErrorCode::OK {
                err = sub.0;
            }
            if E::LIVE {
                results.push(sub);
            }
        }
        (err, AppliedResult::Multi(results))
    }

    /// Runs `f` on the node at `path`, keeping the tree digest in step.
    pub(super) fn with_node_mut<R>(
        &mut self,
        path: &str,
        f: impl FnOnce(&mut DataNode) -> R,
    ) -> Option<R> {
        let k = key(path);
        let tracked = self.options.digest_enabled && digest::is_tracked(k);
        let idx = self.arena.lookup(k)?;
        self.with_slot_mut(idx, k, tracked, f)
    }

    /// [`DataTree::with_node_mut`] for a node already looked up.
    fn with_slot_mut<R>(
        &mut self,
        idx: u32,
        k: &str,
        tracked: bool,
        f: impl FnOnce(&mut DataNode) -> R,
    ) -> Option<R> {
        let node = self.arena.get_mut(idx)?;
        if tracked {
            self.digest = self.digest.wrapping_sub(node.digest(k));
        }
        let r = f(node);
        if tracked {
            self.digest = self.digest.wrapping_add(node.digest(k));
        }
        Some(r)
    }

    /// `DataTree#createNode`.
    fn create_node<E: Effects>(
        &mut self,
        n: &NewNode<'_>,
        zxid: i64,
        time: i64,
        fx: &mut E,
    ) -> Result<Stat, ErrorCode> {
        let Some((parent, child)) = split_parent(n.path) else {
            return Err(ErrorCode::NO_NODE);
        };
        if child.is_empty() {
            return Err(ErrorCode::BAD_ARGUMENTS);
        }
        let Some(parent_idx) = self.arena.lookup(parent) else {
            return Err(ErrorCode::NO_NODE);
        };
        let exists = self.arena.child(parent_idx, child).is_some();
        // The reference counts the ACL before the existence check, so a replayed create
        // keeps one extra reference (it matters for which ACLs a snapshot lists).
        let acl = self.intern_acl(n.acl);
        if exists {
            return Err(ErrorCode::NODE_EXISTS);
        }
        let tracked = self.options.digest_enabled && digest::is_tracked(key(parent));
        let parent_acl = self.with_slot_mut(parent_idx, key(parent), tracked, |p| {
            let cversion = match n.parent_cversion {
                -1 => p.stat.cversion.wrapping_add(1),
                v => v,
            };
            // Replays in the fuzzy range must not move cversion/pzxid backwards.
            if cversion > p.stat.cversion {
                p.stat.cversion = cversion;
                p.stat.pzxid = zxid;
            }
            Arc::clone(&p.acl)
        });
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: n.owner,
            pzxid: zxid,
        };
        let data = n.data.map(Box::<[u8]>::from);
        let node_acl = Arc::clone(&acl.1);
        let mut node = DataNode::new(data, acl, stat);
        node.kind = EphemeralType::of(n.owner, self.options.ephemeral);
        self.data_size += node_size(n.path, n.data);
        if self.options.digest_enabled {
            self.digest = self.digest.wrapping_add(node.digest(n.path));
        }
        let client_stat = node.client_stat();
        let kind = node.kind;
        self.arena.insert(parent_idx, child, node);
        match kind {
            EphemeralType::Container => {
                self.containers.insert(n.path.into());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(n.path.into());
            }
            EphemeralType::Normal => {
                let paths = self.ephemerals.entry(n.owner).or_default();
                paths.insert(n.path);
            }
            EphemeralType::Void => {}
        }
        self.quota_on_create(parent, child, n.path, n.data.map_or(0, |d| d.len()));
        fx.fire(n.path, EventType::NODE_CREATED, &node_acl);
        let parent_acl = parent_acl.unwrap_or_default();
        fx.fire(key(parent), EventType::NODE_CHILDREN_CHANGED, &parent_acl);
        Ok(client_stat)
    }

    fn quota_on_create(&mut self, parent: &str, child: &str, path: &str, len: usize) {
        if parent.starts_with(QUOTA_ZOOKEEPER) {
            let real = trim_quota_path(parent).unwrap_or_default();
            if child == LIMIT_NODE && !real.is_empty() {
                self.quotas.add(real);
            }
            if child == STAT_NODE {
                self.update_quota_for_path(real);
            }
        }
        if let Some(prefix) = self.quotas.max_prefix(path) {
            self.update_quota_stat(&prefix, i64::try_from(len).unwrap_or(i64::MAX), 1);
        }
    }

    /// `DataTree#deleteNode`. The parent's pzxid moves forward even when the child is
    /// already gone (fuzzy-snapshot replay); its stored cversion never changes on delete.
    fn delete_node<E: Effects>(
        &mut self,
        path: &str,
        zxid: i64,
        fx: &mut E,
    ) -> Result<AppliedResult, ErrorCode> {
        let Some((parent, child)) = split_parent(path).filter(|(_, c)| !c.is_empty()) else {
            return Err(ErrorCode::NO_NODE);
        };
        let parent_idx = self.arena.lookup(parent).ok_or(ErrorCode::NO_NODE)?;
        let tracked = self.options.digest_enabled && digest::is_tracked(key(parent));
        let parent_acl = self
            .with_slot_mut(parent_idx, key(parent), tracked, |p| {
                if zxid > p.stat.pzxid {
                    p.stat.pzxid = zxid;
                }
                Arc::clone(&p.acl)
            })
            .ok_or(ErrorCode::NO_NODE)?;
        let node = self
            .arena
            .remove(parent_idx, child)
            .ok_or(ErrorCode::NO_NODE)?;
        if self.options.digest_enabled {
            self.digest = self.digest.wrapping_sub(node.digest(path));
        }
        self.acl_cache.release(node.acl_id);
        self.data_size -= node_size(path, node.data.as_deref());
        match node.kind {
            EphemeralType::Container => {
                self.containers.remove(path);
            }
            EphemeralType::Ttl => {
                self.ttls.remove(path);
            }
            EphemeralType::Normal => {
                if let Some(paths) = self.ephemerals.get_mut(&node.stat.ephemeral_owner) {
                    paths.remove(path);
                }
            }
            EphemeralType::Void => {}
        }
        if parent.starts_with(PROC_ZOOKEEPER) && child == LIMIT_NODE {
            if let Some(real) = trim_quota_path(parent).filter(|r| !r.is_empty()) {
                self.quotas.remove(real);
            }
        }
        if let Some(prefix) = self.quotas.max_prefix(path) {
            let len = i64::try_from(node.data_len()).unwrap_or(i64::MAX);
            self.update_quota_stat(&prefix, -len, -1);
        }
        fx.fire(path, EventType::NODE_DELETED, &node.acl);
        fx.fire(key(parent), EventType::NODE_CHILDREN_CHANGED, &parent_acl);
        Ok(AppliedResult::Deleted)
    }

    /// `DataTree#setData`: version is the txn's (already incremented by prep).
    fn set_data<E: Effects>(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        hdr: &TxnHeader,
        fx: &mut E,
    ) -> Result<Stat, ErrorCode> {
        let new_len = data.map_or(0, <[u8]>::len);
        let data = data.map(Box::<[u8]>::from);
        let (old_len, stat, acl) = self
            .with_node_mut(path, |n| {
                let old = n.data_len();
                n.data = data;
                n.stat.mtime = hdr.time;
                n.stat.mzxid = hdr.zxid;
                n.stat.version = version;
                (old, n.client_stat(), Arc::clone(&n.acl))
            })
            .ok_or(ErrorCode::NO_NODE)?;
        let diff =
            i64::try_from(new_len).unwrap_or(i64::MAX) - i64::try_from(old_len).unwrap_or(i64::MAX);
        if let Some(prefix) = self.quotas.max_prefix(path) {
            self.update_quota_stat(&prefix, diff, 0);
        }
        self.data_size += diff;
        fx.fire(path, EventType::NODE_DATA_CHANGED, &acl);
        Ok(stat)
    }

    /// `DataTree#setACL`: the old list is released before the new one is counted, so
    /// re-setting a node's only-used list gives it a fresh id, as in the reference.
    fn set_acl(&mut self, path: &str, acl: AclArg<'_>, version: i32) -> Result<Stat, ErrorCode> {
        let old = self.node(path).ok_or(ErrorCode::NO_NODE)?.acl_id;
        self.acl_cache.release(old);
        let (id, list): (i64, Arc<Vec<Acl>>) = self.intern_acl(acl);
        self.with_node_mut(path, |n| {
            n.stat.aversion = version;
            n.acl = list;
            n.acl_id = id;
            n.client_stat()
        })
        .ok_or(ErrorCode::NO_NODE)
    }

    /// `DataTree#killSession`: first the txn's paths in order, then any ephemeral of the
    /// session the txn did not list, in the set's order; missing nodes are skipped.
    fn kill_session<E: Effects>(
        &mut self,
        session: i64,
        zxid: i64,
        txn_paths: Option<&[&str]>,
        fx: &mut E,
    ) {
        let local = self.ephemerals.remove(&session);
        for p in txn_paths.unwrap_or_default() {
            self.delete_ephemeral(session, p, zxid, fx);
        }
        let Some(mut local) = local else {
            return;
        };
        if let Some(paths) = txn_paths {
            for p in paths {
                local.remove(p);
            }
            if !local.is_empty() {
                tracing::warn!(
                    session = format_args!("{session:#x}"),
                    zxid = format_args!("{zxid:#x}"),
                    paths = ?local.java_order(),
                    "ephemerals not listed in the closeSession txn"
                );
            }
        }
        for p in local.java_order() {
            self.delete_ephemeral(session, p, zxid, fx);
        }
    }

    fn delete_ephemeral<E: Effects>(&mut self, session: i64, path: &str, zxid: i64, fx: &mut E) {
        if self.delete_node(path, zxid, fx).is_err() {
            tracing::warn!(
                path,
                session = format_args!("{session:#x}"),
                "ignoring NoNode while removing ephemeral of dead session"
            );
        }
    }

    /// `DataTree#setCversionPzxid`.
    fn set_cversion_pzxid(
        &mut self,
        path: &str,
        cversion: i32,
        zxid: i64,
    ) -> Result<(), ErrorCode> {
        let path = path.strip_suffix('/').unwrap_or(path);
        self.with_node_mut(path, |n| {
            let cversion = match cversion {
                -1 => n.stat.cversion.wrapping_add(1),
                v => v,
            };
            if cversion > n.stat.cversion {
                n.stat.cversion = cversion;
                n.stat.pzxid = zxid;
            }
        })
        .ok_or(ErrorCode::NO_NODE)
    }
}

fn to_outcome<T: Into<AppliedResult>>(r: Result<T, ErrorCode>) -> Outcome {
    match r {
        Ok(v) => (ErrorCode::OK, v.into()),
        Err(e) => (e, AppliedResult::None),
    }
}

//! Prep: turn a write request into the txn ZooKeeper would log (`PrepRequestProcessor`).
//! Validation, ACL and version checks, sequential names, ephemeral owners. A failed check
//! still yields a txn — an ErrorTxn under the same zxid — as the reference logs it.

use std::sync::Arc;

use bytes::Bytes;

use super::auth::{check_acl, fixup_acl, AclPolicy, Providers};
use super::pending::{ChangeRecord, PendingChanges};
use super::reconfig::{next_config, LeaderConfigs};
use crate::jute::codes::{perms, CreateMode, ErrorCode, OpCode};
use crate::jute::data::{Acl, Id, StatPersisted};
use crate::jute::proto::{MultiOp, MultiRequest, ReconfigRequest};
use crate::jute::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, DeleteTxn, ErrorTxn, SetAclTxn, SetDataTxn, TxnBody, TxnDigest, TxnEntry, TxnHeader,
};
use crate::request::{validate_path, Request};
use crate::tree::{digest, DataTree, EphemeralType, CONTAINER_EPHEMERAL_OWNER, MAX_TTL};

/// Server settings prep consults.
#[derive(Debug, Clone, Default)]
pub struct PrepConfig {
    /// `skipACL` and `letAnySaslUserDoX`.
    pub acl: AclPolicy,
    pub extended_types_enabled: bool,
    pub enforce_quota: bool,
    pub reconfig_enabled: bool,
    /// `standaloneEnabled`: a reconfig must leave at least 2 voters.
    pub standalone_enabled: bool,
    pub digest_enabled: bool,
    /// The pluggable auth providers registered (`x509`, `sasl`): their ACL ids are
    /// validated, not refused.
    pub providers: Providers,
}

/// Who is asking and under which zxid/time the txn is stamped.
pub struct PrepContext<'a> {
    pub tree: &'a DataTree,
    pub pending: &'a mut PendingChanges,
    pub config: &'a PrepConfig,
    pub auth: &'a [Id],
    pub session_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    pub time: i64,
}

type Prepped = Result<(OpCode, TxnBody), ErrorCode>;

/// `ZooDefs.CONFIG_NODE`.
const CONFIG_NODE: &str = "/zookeeper/config";

impl PrepContext<'_> {
    /// The txn for a write request; a failed check becomes an ErrorTxn.
    pub fn prep(&mut self, req: &Request) -> TxnEntry {
        let result = match req {
            Request::Create(op, r) => {
                self.create(*op, &r.path, &r.data, r.acl.as_deref(), r.flags, -1)
            }
            Request::CreateTtl(r) => self.create(
                OpCode::CREATE_TTL,
                &r.path,
                &r.data,
                r.acl.as_deref(),
                r.flags,
                r.ttl,
            ),
            Request::Delete(r) => self.delete(&r.path, r.version),
            Request::SetData(r) => self.set_data(&r.path, &r.data, r.version),
            Request::SetAcl(r) => self.set_acl(&r.path, r.acl.as_deref(), r.version),
            Request::Check(r) => self.check(&r.path, r.version),
            Request::Multi(m) => Ok(self.multi(m)),
            // a leader preps it with `reconfig`
            Request::Reconfig(_) => Err(if self.config.reconfig_enabled {
                // a standalone server cannot reconfigure (`LeaderZooKeeperServer` cast fails)
                ErrorCode::UNIMPLEMENTED
            } else {
                ErrorCode::RECONFIG_DISABLED
            }),
            Request::CloseSession => Ok(self.close_session()),
            // see `Request::CreateSession` and `Request::DeleteContainer` for why
            Request::CreateSession => Err(ErrorCode::MARSHALLING_ERROR),
            Request::DeleteContainer => Err(ErrorCode::BAD_ARGUMENTS),
            _ => Err(ErrorCode::MARSHALLING_ERROR),
        };
        let (op, body) = result.unwrap_or_else(|e| (OpCode::ERROR, error_txn(e)));
        self.entry(op, body)
    }

    /// A leader's `reconfig`: `reconfigEnabled`, the checks of
    /// [`next_config`](super::reconfig::next_config), then WRITE on `/zookeeper/config`
    /// (super or `skipACL` only, its ACL being world:anyone READ); the txn sets the node to
    /// the new config's text with version -1. The node is not in the digest.
    pub fn reconfig(&mut self, req: &ReconfigRequest, leader: &LeaderConfigs) -> TxnEntry {
        let result = self.reconfig_txn(req, leader);
        let (op, body) = result.unwrap_or_else(|e| (OpCode::ERROR, error_txn(e)));
        self.entry(op, body)
    }

    fn reconfig_txn(&mut self, req: &ReconfigRequest, leader: &LeaderConfigs) -> Prepped {
        if !self.config.reconfig_enabled {
            tracing::error!("Reconfig operation requested but reconfig feature is disabled.");
            return Err(ErrorCode::RECONFIG_DISABLED);
        }
        if self.config.acl.skip_acl {
            tracing::warn!("skipACL is set, reconfig operation will skip ACL checks!");
        }
        let qv = next_config(req, self.zxid, leader)?;
        let mut node = self.record(CONFIG_NODE)?;
        self.check_acl(&node.acl, perms::WRITE)?;
        let data = Some(Bytes::from(qv.to_string().into_bytes()));
        let mut stat = node.stat.clone().unwrap_or_default();
        stat.version = -1;
        stat.mtime = self.time;
        stat.mzxid = self.zxid;
        node.stat = Some(stat);
        node.data = data.clone();
        node.zxid = self.zxid;
        self.change(CONFIG_NODE, node);
        Ok((
            OpCode::RECONFIG,
            TxnBody::SetData(SetDataTxn {
                path: CONFIG_NODE.to_owned(),
                data,
                version: -1,
            }),
        ))
    }

    /// An ErrorTxn for a request refused before prep (`KeeperException` in `pRequest`).
    pub fn error(&mut self, err: ErrorCode) -> TxnEntry {
        self.entry(OpCode::ERROR, error_txn(err))
    }

    /// The txn that creates a session (`OpCode.createSession`).
    pub fn create_session(&mut self, timeout_ms: i32) -> TxnEntry {
        let body = TxnBody::CreateSession(CreateSessionTxn {
            time_out: timeout_ms,
        });
        self.entry(OpCode::CREATE_SESSION, body)
    }

    fn entry(&self, op: OpCode, body: TxnBody) -> TxnEntry {
        // every txn but a failed single op carries the tree digest after it (`setTxnDigest`)
        let digest = (self.config.digest_enabled && op != OpCode::ERROR).then(|| TxnDigest {
            version: digest::DIGEST_VERSION,
            tree_digest: self.pending.current_digest(self.tree),
        });
        TxnEntry {
            header: TxnHeader {
                client_id: self.session_id,
                cxid: self.cxid,
                zxid: self.zxid,
                time: self.time,
                op,
            },
            body,
            digest,
        }
    }

    /// Record a pending change and, with digests on, the tree digest after it
    /// (`precalculateDigest`: current − the node's old term + its new term). A delete comes
    /// in carrying its old term in `node_digest`.
    fn change(&mut self, path: &str, mut rec: ChangeRecord) {
        if self.config.digest_enabled {
            let prev = match rec.stat {
                // an update or add: the old term is whatever prep sees there now
                Some(_) => self
                    .pending
                    .get(self.tree, path)
                    .map_or(0, |r| r.node_digest),
                None => rec.node_digest,
            };
            rec.node_digest = match &rec.stat {
                Some(stat) => digest::node_digest(path, rec.data.as_deref(), stat),
                None => 0,
            };
            let tree_digest = self
                .pending
                .current_digest(self.tree)
                .wrapping_sub(prev)
                .wrapping_add(rec.node_digest);
            self.pending.push_digest(self.zxid, tree_digest);
        }
        self.pending.add(path, rec);
    }

    fn record(&self, path: &str) -> Result<ChangeRecord, ErrorCode> {
        self.pending.get(self.tree, path).ok_or(ErrorCode::NO_NODE)
    }

    fn check_acl(&self, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
        check_acl(acl, perm, self.auth, &self.config.acl)
    }

    /// `EphemeralType.get(owner) == NORMAL`: only a session's own ephemerals refuse children.
    fn is_session_ephemeral(&self, owner: i64) -> bool {
        EphemeralType::of(owner, self.tree.options().ephemeral) == EphemeralType::Normal
    }

    fn create(
        &mut self,
        op: OpCode,
        path: &str,
        data: &Option<Bytes>,
        acl: Option<&[Acl]>,
        flags: i32,
        ttl: i64,
    ) -> Prepped {
        let mode = CreateMode(flags);
        if !mode.is_known() {
            return Err(ErrorCode::BAD_ARGUMENTS);
        }
        if mode.is_ttl() && !self.config.extended_types_enabled {
            return Err(ErrorCode::UNIMPLEMENTED);
        }
        let ttl_ok = if mode.is_ttl() {
            ttl > 0 && ttl <= MAX_TTL
        } else {
            ttl < 0
        };
        let last_slash = path.rfind('/');
        if !ttl_ok || last_slash.is_none() || path.contains('\0') {
            return Err(ErrorCode::BAD_ARGUMENTS);
        }
        let parent_path = match last_slash {
            Some(0) | None => "/",
            Some(i) => &path[..i],
        };
        let acl = fixup_acl(acl, self.auth, self.config.providers)?;
        let mut parent = self.record(parent_path)?;
        self.check_acl(&parent.acl, perms::CREATE)?;
        let mut parent_stat = parent.stat.clone().unwrap_or_default();
        let path = if mode.is_sequential() {
            format!("{path}{:010}", parent_stat.cversion)
        } else {
            path.to_string()
        };
        validate_path(&path).map_err(|_| ErrorCode::BAD_ARGUMENTS)?;
        if self.pending.get(self.tree, &path).is_some() {
            return Err(ErrorCode::NODE_EXISTS);
        }
        if self.is_session_ephemeral(parent_stat.ephemeral_owner) {
            return Err(ErrorCode::NO_CHILDREN_FOR_EPHEMERALS);
        }
        let new_cversion = parent_stat.cversion.wrapping_add(1);
        let data_len = data.as_ref().map_or(0, |d| d.len());
        if self.config.enforce_quota && self.tree.quota_exceeded(&path, 1, data_len as i64) {
            return Err(ErrorCode::QUOTA_EXCEEDED);
        }
        let owner = if op == OpCode::CREATE_CONTAINER || mode.is_container() {
            CONTAINER_EPHEMERAL_OWNER
        } else if mode.is_ttl() {
            EphemeralType::ttl_to_owner(ttl).ok_or(ErrorCode::BAD_ARGUMENTS)?
        } else if mode.is_ephemeral() {
            self.session_id
        } else {
            0
        };
        let body = if op == OpCode::CREATE_CONTAINER {
            TxnBody::CreateContainer(CreateContainerTxn {
                path: path.clone(),
                data: data.clone(),
                acl: acl.clone(),
                parent_cversion: new_cversion,
            })
        } else if op == OpCode::CREATE_TTL {
            TxnBody::CreateTtl(CreateTtlTxn {
                path: path.clone(),
                data: data.clone(),
                acl: acl.clone(),
                parent_cversion: new_cversion,
                ttl,
            })
        } else {
            TxnBody::Create(CreateTxn {
                path: path.clone(),
                data: data.clone(),
                acl: acl.clone(),
                ephemeral: mode.is_ephemeral(),
                parent_cversion: new_cversion,
            })
        };
        parent_stat.cversion = new_cversion;
        parent_stat.pzxid = self.zxid;
        parent.stat = Some(parent_stat);
        parent.child_count += 1;
        parent.zxid = self.zxid;
        self.change(parent_path, parent);
        let stat = StatPersisted {
            czxid: self.zxid,
            mzxid: self.zxid,
            ctime: self.time,
            mtime: self.time,
            ephemeral_owner: owner,
            pzxid: self.zxid,
            ..Default::default()
        };
        self.change(
            &path,
            ChangeRecord {
                zxid: self.zxid,
                stat: Some(stat),
                data: data.clone(),
                child_count: 0,
                acl: Arc::new(acl),
                node_digest: 0,
            },
        );
        Ok((op, body))
    }

    /// `getParentPathAndValidate`: the special nodes can never be deleted.
    fn parent_for_delete(path: &str) -> Result<&str, ErrorCode> {
        const SPECIAL: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];
        match path.rfind('/') {
            Some(_) if path.contains('\0') || SPECIAL.contains(&path) => {
                Err(ErrorCode::BAD_ARGUMENTS)
            }
            Some(0) => Ok("/"),
            Some(i) => Ok(&path[..i]),
            None => Err(ErrorCode::BAD_ARGUMENTS),
        }
    }

    fn delete(&mut self, path: &str, version: i32) -> Prepped {
        let parent_path = Self::parent_for_delete(path)?;
        let parent = self.record(parent_path)?;
        self.check_acl(&parent.acl, perms::DELETE)?;
        let node = self.record(path)?;
        let node_stat = node.stat.clone().unwrap_or_default();
        check_version(node_stat.version, version)?;
        if node.child_count > 0 {
            return Err(ErrorCode::NOT_EMPTY);
        }
        Ok(self.remove_node(OpCode::DELETE, parent_path, parent, path, &node))
    }

    /// The pending changes and txn of a delete: the parent loses a child (its pzxid moves;
    /// its stored cversion does not, as `DataTree#deleteNode`), the node goes.
    fn remove_node(
        &mut self,
        op: OpCode,
        parent_path: &str,
        mut parent: ChangeRecord,
        path: &str,
        node: &ChangeRecord,
    ) -> (OpCode, TxnBody) {
        if let Some(stat) = parent.stat.as_mut() {
            stat.pzxid = self.zxid;
        }
        parent.child_count -= 1;
        parent.zxid = self.zxid;
        self.change(parent_path, parent);
        self.change(path, deleted(self.zxid, node.node_digest));
        let body = TxnBody::Delete(DeleteTxn {
            path: path.to_string(),
        });
        (op, body)
    }

    /// `OpCode.deleteContainer`, submitted by the container manager for an empty container
    /// or an expired TTL node.
    pub fn delete_container(&mut self, path: &str) -> TxnEntry {
        let result = self.delete_container_txn(path);
        let (op, body) = result.unwrap_or_else(|e| (OpCode::ERROR, error_txn(e)));
        self.entry(op, body)
    }

    fn delete_container_txn(&mut self, path: &str) -> Prepped {
        let parent_path = Self::parent_for_delete(path)?;
        let node = self.record(path)?;
        if node.child_count > 0 {
            return Err(ErrorCode::NOT_EMPTY);
        }
        let owner = node.stat.as_ref().map_or(0, |s| s.ephemeral_owner);
        if self.is_session_ephemeral(owner) {
            return Err(ErrorCode::BAD_VERSION);
        }
        let parent = self.record(parent_path)?;
        Ok(self.remove_node(OpCode::DELETE_CONTAINER, parent_path, parent, path, &node))
    }

    fn set_data(&mut self, path: &str, data: &Option<Bytes>, version: i32) -> Prepped {
        validate_path(path).map_err(|_| ErrorCode::BAD_ARGUMENTS)?;
        let mut node = self.record(path)?;
        self.check_acl(&node.acl, perms::WRITE)?;
        let old_len = node.data.as_ref().map_or(0, |d| d.len()) as i64;
        let new_len = data.as_ref().map_or(0, |d| d.len()) as i64;
        if self.config.enforce_quota && self.tree.quota_exceeded(path, 0, new_len - old_len) {
            return Err(ErrorCode::QUOTA_EXCEEDED);
        }
        let mut stat = node.stat.clone().unwrap_or_default();
        let new_version = check_version(stat.version, version)?;
        stat.version = new_version;
        stat.mtime = self.time;
        stat.mzxid = self.zxid;
        node.stat = Some(stat);
        node.data = data.clone();
        node.zxid = self.zxid;
        self.change(path, node);
        Ok((
            OpCode::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: path.to_string(),
                data: data.clone(),
                version: new_version,
            }),
        ))
    }

    fn set_acl(&mut self, path: &str, acl: Option<&[Acl]>, version: i32) -> Prepped {
        validate_path(path).map_err(|_| ErrorCode::BAD_ARGUMENTS)?;
        let acl = fixup_acl(acl, self.auth, self.config.providers)?;
        let mut node = self.record(path)?;
        self.check_acl(&node.acl, perms::ADMIN)?;
        let mut stat = node.stat.clone().unwrap_or_default();
        let new_version = check_version(stat.aversion, version)?;
        stat.aversion = new_version;
        node.stat = Some(stat);
        // The record keeps the old ACL, as 3.8's (and 3.9's) does: requests prepped before
        // this txn is applied — the rest of a multi, a pipelined burst — are checked against
        // the ACL the node had.
        node.zxid = self.zxid;
        self.change(path, node);
        Ok((
            OpCode::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: path.to_string(),
                acl,
                version: new_version,
            }),
        ))
    }

    fn check(&mut self, path: &str, version: i32) -> Prepped {
        validate_path(path).map_err(|_| ErrorCode::BAD_ARGUMENTS)?;
        let node = self.record(path)?;
        self.check_acl(&node.acl, perms::READ)?;
        let stat = node.stat.unwrap_or_default();
        let new_version = check_version(stat.version, version)?;
        Ok((
            OpCode::CHECK,
            TxnBody::Check(CheckVersionTxn {
                path: path.to_string(),
                version: new_version,
            }),
        ))
    }

    /// Every op under one zxid; after the first failure the rest are RuntimeInconsistency and
    /// the failed multi's pending changes are rolled back.
    fn multi(&mut self, multi: &MultiRequest) -> (OpCode, TxnBody) {
        if multi.ops.iter().any(MultiOp::is_read) {
            // "Mixing different kind of ops" is a marshalling error of the whole request
            return (OpCode::ERROR, error_txn(ErrorCode::MARSHALLING_ERROR));
        }
        let mut subs = Vec::with_capacity(multi.ops.len());
        let mut failed = false;
        for op in &multi.ops {
            if failed {
                subs.push((OpCode::ERROR, error_txn(ErrorCode::RUNTIME_INCONSISTENCY)));
                continue;
            }
            if is_ttl_create_without_ttl(op) {
                // The reference keeps the earlier ops' pending changes (and their digest in
                // this ErrorTxn) until the txn is applied; a failed multi leaves none here.
                self.pending.rollback(self.zxid);
                return (OpCode::ERROR, error_txn(ErrorCode::MARSHALLING_ERROR));
            }
            match self.multi_op(op) {
                Ok(sub) => subs.push(sub),
                Err(e) => {
                    failed = true;
                    self.pending.rollback(self.zxid);
                    subs.push((OpCode::ERROR, error_txn(e)));
                }
            }
        }
        (OpCode::MULTI, TxnBody::Multi(subs))
    }

    /// `MultiOperationRecord` rebuilds each op with `Op.create(...)`, whose opcode follows the
    /// create mode: so a create2 inside a multi is a plain create.
    fn multi_op(&mut self, op: &MultiOp) -> Prepped {
        let create_op = |flags: i32| {
            let mode = CreateMode(flags);
            if mode.is_container() {
                OpCode::CREATE_CONTAINER
            } else if mode.is_ttl() {
                OpCode::CREATE_TTL
            } else {
                OpCode::CREATE
            }
        };
        match op {
            MultiOp::Create(_, r) => {
                let ttl = -1;
                self.create(
                    create_op(r.flags),
                    &r.path,
                    &r.data,
                    r.acl.as_deref(),
                    r.flags,
                    ttl,
                )
            }
            MultiOp::CreateTtl(r) => {
                let ttl = if CreateMode(r.flags).is_ttl() {
                    r.ttl
                } else {
                    -1
                };
                self.create(
                    create_op(r.flags),
                    &r.path,
                    &r.data,
                    r.acl.as_deref(),
                    r.flags,
                    ttl,
                )
            }
            MultiOp::Delete(r) => self.delete(&r.path, r.version),
            MultiOp::SetData(r) => self.set_data(&r.path, &r.data, r.version),
            MultiOp::Check(r) => self.check(&r.path, r.version),
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => Err(ErrorCode::MARSHALLING_ERROR),
        }
    }

    /// The session's ephemerals, including ones still pending (`pRequest2Txn` closeSession),
    /// in the order the reference lists them.
    fn close_session(&mut self) -> (OpCode, TxnBody) {
        let changes = self.pending.ephemeral_changes(self.session_id);
        let paths = self.tree.close_session_paths(
            self.session_id,
            changes.iter().map(|(p, owned)| (&**p, *owned)),
        );
        for path in &paths {
            // with digests on, the reference also records each parent's new pzxid
            if let Some(parent_path) =
                crate::request::parent_of(path).filter(|_| self.config.digest_enabled)
            {
                if let Some(mut parent) = self.pending.get(self.tree, parent_path) {
                    if let Some(stat) = parent.stat.as_mut() {
                        stat.pzxid = self.zxid;
                    }
                    parent.zxid = self.zxid;
                    self.change(parent_path, parent);
                }
            }
            let prev = self
                .pending
                .get(self.tree, path)
                .map_or(0, |r| r.node_digest);
            self.change(path, deleted(self.zxid, prev));
        }
        let body = TxnBody::CloseSession(Some(CloseSessionTxn {
            paths2_delete: paths.into_iter().collect(),
        }));
        (OpCode::CLOSE_SESSION, body)
    }
}

/// A create / create2 / createContainer op with a TTL mode (5 or 6), which only createTTL may
/// carry. 3.8's `MultiOperationRecord#deserialize` rebuilds it with `Op.create(path, data, acl,
/// flags)`, whose opcode follows the mode (createTTL) while its record stays a CreateRequest,
/// so `PrepRequestProcessor#pRequest2TxnCreate` fails casting it to CreateTTLRequest. That
/// ClassCastException is no KeeperException: `pRequest`'s catch-all makes the whole multi one
/// ErrorTxn(MarshallingError), answered with that code and no body, whatever the other ops
/// are and whether TTLs are enabled. Only reached while no earlier op failed (later ops are
/// not prepped). Unknown flags pass the same path as PERSISTENT (`CreateMode#fromFlag(int,
/// CreateMode)`) and fail per op with BadArguments.
fn is_ttl_create_without_ttl(op: &MultiOp) -> bool {
    matches!(op, MultiOp::Create(_, r) if CreateMode(r.flags).is_ttl())
}

/// A pending delete; `prev_digest` is the node's term the delete takes out of the digest.
fn deleted(zxid: i64, prev_digest: i64) -> ChangeRecord {
    ChangeRecord {
        zxid,
        stat: None,
        data: None,
        child_count: 0,
        acl: Arc::new(Vec::new()),
        node_digest: prev_digest,
    }
}

fn error_txn(err: ErrorCode) -> TxnBody {
    TxnBody::Error(ErrorTxn { err: err.0 })
}

/// `checkAndIncVersion`: -1 matches any version.
fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BAD_VERSION);
    }
    Ok(current.wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::proto::{CreateRequest, SetAclRequest};

    fn world(perms: i32) -> Option<Vec<Acl>> {
        Some(vec![Acl {
            perms,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }])
    }

    fn create(path: &str) -> Request {
        Request::Create(
            OpCode::CREATE,
            CreateRequest {
                path: path.into(),
                data: None,
                acl: world(perms::ALL),
                flags: 0,
            },
        )
    }

    fn prep(tree: &DataTree, pending: &mut PendingChanges, zxid: i64, req: &Request) -> TxnEntry {
        PrepContext {
            tree,
            pending,
            config: &PrepConfig::default(),
            auth: &[],
            session_id: 1,
            cxid: 1,
            zxid,
            time: 0,
        }
        .prep(req)
    }

    /// As in 3.8 and 3.9, a setACL's change record keeps the node's old ACL, so a create
    /// prepped while the setACL is still on its way to the log is checked against the old one.
    #[test]
    fn a_pending_set_acl_guards_only_requests_prepped_after_it_applies() {
        let mut tree = DataTree::new(false);
        let mut pending = PendingChanges::default();
        let txn = prep(&tree, &mut pending, 1, &create("/a"));
        tree.apply(&txn);
        pending.applied_through(1);
        let read_only = Request::SetAcl(SetAclRequest {
            path: "/a".into(),
            acl: world(perms::READ),
            version: -1,
        });
        let set_acl = prep(&tree, &mut pending, 2, &read_only);
        assert_eq!(set_acl.header.op, OpCode::SET_ACL);
        let early = prep(&tree, &mut pending, 3, &create("/a/b"));
        assert_eq!(early.header.op, OpCode::CREATE);
        tree.apply(&set_acl);
        tree.apply(&early);
        pending.applied_through(3);
        let late = prep(&tree, &mut pending, 4, &create("/a/c"));
        assert!(
            matches!(&late.body, TxnBody::Error(e) if e.err == ErrorCode::NO_AUTH.0),
            "{late:?}"
        );
    }
}

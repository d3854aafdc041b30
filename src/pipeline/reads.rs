//! Reads and watch-registration requests, answered from the tree as it stands
//! (`FinalRequestProcessor` for exists, getData, getChildren(2), getACL,
//! getAllChildrenNumber, getEphemerals, multiRead, whoAmI, sync, add/check/removeWatches).

use super::auth::{check_acl, client_infos, mask_digests, AclPolicy, READ_OR_ADMIN};
use crate::jute::codes::{perms, AddWatchMode, ErrorCode, WatcherType};
use crate::jute::data::Id;
use crate::jute::proto::{
    ErrorResponse, ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, MultiOp,
    MultiResponse, OpResult, SyncResponse, WhoAmIResponse,
};
use crate::pipeline::reply::{Answer, Response};
use crate::request::Request;
use crate::tree::DataTree;
use crate::watch::{WatchManager, WatcherId};

/// A read's response record (`None` for success without one), or its error code; the
/// connection encodes it.
pub type ReadResult = Result<Option<Response>, ErrorCode>;

pub struct ReadContext<'a> {
    pub tree: &'a DataTree,
    pub watches: &'a mut WatchManager,
    pub watcher: WatcherId,
    pub auth: &'a [Id],
    pub acl: &'a AclPolicy,
    pub session_id: i64,
}

impl ReadContext<'_> {
    fn readable(&self, path: &str) -> Result<&crate::tree::DataNode, ErrorCode> {
        let node = self.tree.node(path).ok_or(ErrorCode::NO_NODE)?;
        check_acl(&node.acl, perms::READ, self.auth, self.acl)?;
        Ok(node)
    }

    /// Answer a read; `None` if `req` is not one.
    pub fn read(&mut self, req: &Request) -> Option<Answer> {
        let result = match req {
            Request::Exists(r) => self.exists(&r.path, r.watch),
            Request::GetData(r) => self.get_data(&r.path, r.watch).map(|r| Some(r.into())),
            Request::GetChildren(r) => self
                .get_children(&r.path, r.watch)
                .map(|(children, _)| Some(GetChildrenResponse { children }.into())),
            Request::GetChildren2(r) => self
                .get_children(&r.path, r.watch)
                .map(|(children, stat)| Some(GetChildren2Response { children, stat }.into())),
            Request::GetAcl(r) => self.get_acl(&r.path),
            Request::GetAllChildrenNumber(r) => self.readable(&r.path).map(|_| {
                let total_number = self.tree.all_children_number(&r.path).unwrap_or(0);
                Some(GetAllChildrenNumberResponse { total_number }.into())
            }),
            Request::GetEphemerals(r) => Ok(Some(
                GetEphemeralsResponse {
                    ephemerals: self
                        .tree
                        .ephemerals_by_prefix(self.session_id, &r.prefix_path),
                }
                .into(),
            )),
            Request::WhoAmI => Ok(Some(
                WhoAmIResponse {
                    client_info: client_infos(self.auth),
                }
                .into(),
            )),
            Request::Sync(r) => Ok(Some(
                SyncResponse {
                    path: r.path.clone(),
                }
                .into(),
            )),
            Request::MultiRead(m) => return Some(self.multi_read(&m.ops)),
            Request::CheckWatches(r) => self.watch_op(&r.path, r.watcher_type, false),
            Request::RemoveWatches(r) => self.watch_op(&r.path, r.watcher_type, true),
            Request::AddWatch(r) => self.add_watch(&r.path, r.mode),
            Request::Malformed(_) => Err(ErrorCode::MARSHALLING_ERROR),
            // writes (`Request::is_write` names every kind) go through prep; ping, auth,
            // sasl and setWatches are answered by the core itself
            _ => return None,
        };
        Some(result.into())
    }

    /// `ZKDatabase#statNode`: the watch is set whether or not the node exists.
    fn exists(&mut self, path: &str, watch: bool) -> ReadResult {
        if path.contains('\0') {
            return Err(ErrorCode::BAD_ARGUMENTS);
        }
        if watch {
            self.watches.add_data_watch(path, self.watcher);
        }
        let stat = self.tree.stat(path).ok_or(ErrorCode::NO_NODE)?;
        Ok(Some(ExistsResponse { stat }.into()))
    }

    fn get_data(&mut self, path: &str, watch: bool) -> Result<GetDataResponse, ErrorCode> {
        let node = self.readable(path)?;
        let rsp = GetDataResponse {
            data: node.data_bytes(),
            stat: node.client_stat(),
        };
        if watch {
            self.watches.add_data_watch(path, self.watcher);
        }
        Ok(rsp)
    }

    fn get_children(
        &mut self,
        path: &str,
        watch: bool,
    ) -> Result<(Vec<String>, crate::jute::data::Stat), ErrorCode> {
        let node = self.readable(path)?;
        let children = self.tree.children_of(node);
        let stat = node.client_stat();
        if watch {
            self.watches.add_child_watch(path, self.watcher);
        }
        Ok((children, stat))
    }

    /// Callers without ADMIN see digest ids with the hash masked.
    fn get_acl(&self, path: &str) -> ReadResult {
        let node = self.tree.node(path).ok_or(ErrorCode::NO_NODE)?;
        check_acl(&node.acl, READ_OR_ADMIN, self.auth, self.acl)?;
        let admin = check_acl(&node.acl, perms::ADMIN, self.auth, self.acl).is_ok();
        let acl = if admin {
            node.acl.as_ref().clone()
        } else {
            mask_digests(&node.acl)
        };
        Ok(Some(
            GetAclResponse {
                acl,
                stat: node.client_stat(),
            }
            .into(),
        ))
    }

    /// Each op answered on its own; failures become error results. No watches are set
    /// (`Op.getData(path)` drops the flag). A write op (decoding keeps a multiRead to writes
    /// only or reads only) throws "Invalid type of readOp" out of
    /// `FinalRequestProcessor#processRequest`: MarshallingError, and the `MultiResponse` built
    /// so far is still sent as the body.
    fn multi_read(&mut self, ops: &[MultiOp]) -> Answer {
        let mut results = Vec::with_capacity(ops.len());
        let mut err = ErrorCode::OK;
        for op in ops {
            let result = match op {
                MultiOp::GetChildren(r) => self
                    .get_children(&r.path, false)
                    .map(|(children, _)| OpResult::GetChildren(children)),
                MultiOp::GetData(r) => self
                    .get_data(&r.path, false)
                    .map(|d| OpResult::GetData(d.data, d.stat)),
                _ => {
                    err = ErrorCode::MARSHALLING_ERROR;
                    break;
                }
            };
            results.push(result.unwrap_or_else(OpResult::Error));
        }
        Answer {
            err,
            body: Some(MultiResponse { results }.into()),
        }
    }

    /// `WatcherType.fromInt` rejects unknown types with a runtime exception, which the
    /// reference answers as a marshalling error; so is checkWatches' walk up a relative path.
    fn watch_op(&mut self, path: &str, ty: i32, remove: bool) -> ReadResult {
        let ty = WatcherType(ty);
        if ty.name().is_none() {
            return Err(ErrorCode::MARSHALLING_ERROR);
        }
        let found = if remove {
            self.watches.remove(path, ty, self.watcher)
        } else {
            self.watches
                .contains(path, ty, self.watcher)
                .map_err(|_| ErrorCode::MARSHALLING_ERROR)?
        };
        if found {
            Ok(None)
        } else {
            Err(ErrorCode::NO_WATCHER)
        }
    }

    /// addWatch answers with an ErrorResponse{0} body, not an empty one.
    fn add_watch(&mut self, path: &str, mode: i32) -> ReadResult {
        let recursive = match AddWatchMode(mode) {
            AddWatchMode::PERSISTENT => false,
            AddWatchMode::PERSISTENT_RECURSIVE => true,
            _ => return Err(ErrorCode::MARSHALLING_ERROR),
        };
        self.watches
            .add_persistent_watch(path, self.watcher, recursive);
        Ok(Some(ErrorResponse { err: 0 }.into()))
    }
}

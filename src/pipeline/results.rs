//! Replies to writes, from the txn and what applying it did (the write half of
//! `FinalRequestProcessor#processRequest`).

use crate::jute::codes::{ErrorCode, OpCode};
use crate::jute::proto::{
    Create2Response, CreateResponse, GetDataResponse, MultiResponse, OpResult, SetAclResponse,
    SetDataResponse,
};
use crate::jute::txn::{TxnBody, TxnEntry};
use crate::pipeline::reply::Response;
use crate::request::Request;
use crate::tree::{Applied, AppliedResult};

/// The response record of a write (`None` when its success has none), or its error code
/// (the header then has no body).
pub fn write_reply(
    req: &Request,
    txn: &TxnEntry,
    applied: &Applied,
) -> Result<Option<Response>, ErrorCode> {
    if let TxnBody::Error(e) = &txn.body {
        return Err(ErrorCode(e.err));
    }
    if let (Request::Multi(_), TxnBody::Multi(subs)) = (req, &txn.body) {
        return Ok(Some(multi_reply(subs, applied).into()));
    }
    if applied.err != ErrorCode::OK {
        return Err(applied.err);
    }
    Ok(match (req, &applied.result) {
        (Request::Create(OpCode::CREATE, _), AppliedResult::Created { path, .. }) => {
            Some(CreateResponse { path: path.clone() }.into())
        }
        (Request::Create(..) | Request::CreateTtl(_), AppliedResult::Created { path, stat }) => {
            Some(
                Create2Response {
                    path: path.clone(),
                    stat: stat.clone(),
                }
                .into(),
            )
        }
        (Request::SetData(_), AppliedResult::DataSet(stat)) => {
            Some(SetDataResponse { stat: stat.clone() }.into())
        }
        // `FinalRequestProcessor`: the new config's text with the Stat of /zookeeper/config
        (Request::Reconfig(_), AppliedResult::DataSet(stat)) => {
            let data = match &txn.body {
                TxnBody::SetData(t) => t.data.clone(),
                _ => None,
            };
            Some(Response::GetData(GetDataResponse {
                data,
                stat: stat.clone(),
            }))
        }
        (Request::SetAcl(_), AppliedResult::AclSet(stat)) => {
            Some(SetAclResponse { stat: stat.clone() }.into())
        }
        _ => None,
    })
}

/// `DataTree#processTxn` turns every op of a failed multi into an error result: ops before the
/// failure report Ok, the failing op its code, later ones RuntimeInconsistency (as prepped).
fn multi_reply(subs: &[(OpCode, TxnBody)], applied: &Applied) -> MultiResponse {
    let failed = subs.iter().any(|(op, _)| *op == OpCode::ERROR);
    let applied_subs: &[(ErrorCode, AppliedResult)] = match &applied.result {
        AppliedResult::Multi(r) => r,
        _ => &[],
    };
    let results = subs
        .iter()
        .enumerate()
        .map(|(i, (op, body))| {
            if failed {
                return match body {
                    TxnBody::Error(e) => OpResult::Error(ErrorCode(e.err)),
                    _ => OpResult::Error(ErrorCode::OK),
                };
            }
            let (err, result) = applied_subs
                .get(i)
                .map_or((ErrorCode::SYSTEM_ERROR, &AppliedResult::None), |(e, r)| {
                    (*e, r)
                });
            if err != ErrorCode::OK {
                return OpResult::Error(err);
            }
            match (*op, result) {
                (OpCode::CREATE, AppliedResult::Created { path, .. }) => {
                    OpResult::Create(path.clone())
                }
                (_, AppliedResult::Created { path, stat }) => {
                    OpResult::Create2(path.clone(), stat.clone())
                }
                (_, AppliedResult::DataSet(stat)) => OpResult::SetData(stat.clone()),
                (OpCode::CHECK, _) => OpResult::Check,
                _ => OpResult::Delete,
            }
        })
        .collect();
    MultiResponse { results }
}

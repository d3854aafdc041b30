//! The operations a workload mixes, how each is encoded (`ZooKeeper#create`, `#setData`, ...
//! on the wire), and a pipelined executor for set-up work (prepare, populate).

use std::time::Duration;

use bytes::Bytes;
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::data::{Acl, Id};
use ferrokeeper::jute::proto::{
    CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest, GetDataRequest, MultiOp,
    MultiRequest, SetDataRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::proto::{next_frame, parse_reply, put_request, BenchError, Result, Session};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Create,
    SetData,
    GetData,
    Exists,
    GetChildren,
    Delete,
    Multi,
}

impl OpKind {
    pub(crate) const ALL: [OpKind; 7] = [
        OpKind::Create,
        OpKind::SetData,
        OpKind::GetData,
        OpKind::Exists,
        OpKind::GetChildren,
        OpKind::Delete,
        OpKind::Multi,
    ];
    pub(crate) fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::SetData => "setData",
            OpKind::GetData => "getData",
            OpKind::Exists => "exists",
            OpKind::GetChildren => "getChildren",
            OpKind::Delete => "delete",
            OpKind::Multi => "multi",
        }
    }
}

/// Weighted op mix, e.g. `getData=90,setData=10`.
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    /// Cumulative weights, same order as `OpKind::ALL`.
    cumulative: [u64; 7],
    spec: String,
}

impl Mix {
    pub(crate) fn parse(spec: &str) -> std::result::Result<Mix, String> {
        let mut weights = [0u64; 7];
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, w) = part.split_once('=').unwrap_or((part, "1"));
            let idx = OpKind::ALL
                .iter()
                .position(|k| k.name().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| format!("unknown op {name:?} in mix"))?;
            weights[idx] = w
                .trim()
                .parse()
                .map_err(|_| format!("bad weight {w:?} in mix"))?;
        }
        let mut cumulative = [0u64; 7];
        let mut sum = 0;
        for (c, w) in cumulative.iter_mut().zip(weights) {
            sum += w;
            *c = sum;
        }
        if sum == 0 {
            return Err("the mix has no op with a positive weight".into());
        }
        Ok(Mix {
            cumulative,
            spec: spec.to_string(),
        })
    }
    pub(crate) fn pick(&self, roll: u64) -> OpKind {
        let total = self.cumulative[6];
        let r = roll % total;
        let i = self.cumulative.iter().position(|c| r < *c).unwrap_or(0);
        OpKind::ALL[i]
    }
    pub(crate) fn has(&self, kind: OpKind) -> bool {
        let i = OpKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        let prev = if i == 0 { 0 } else { self.cumulative[i - 1] };
        self.cumulative[i] > prev
    }
    pub(crate) fn spec(&self) -> &str {
        &self.spec
    }
}

/// `ZooDefs.Ids.OPEN_ACL_UNSAFE`.
pub(crate) fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub(crate) fn key_path(prefix: &str, i: u64) -> String {
    format!("{prefix}/k{i:07}")
}

pub(crate) fn create_req(path: String, data: Bytes, acl: &[Acl]) -> CreateRequest {
    CreateRequest {
        path,
        data: Some(data),
        acl: Some(acl.to_vec()),
        flags: 0,
    }
}

/// Encode one op of `kind` on `path` (multi: `multi_paths` set in one transaction).
pub(crate) fn encode(
    out: &mut Vec<u8>,
    xid: i32,
    kind: OpKind,
    path: String,
    value: &Bytes,
    acl: &[Acl],
    multi_paths: Vec<String>,
) {
    match kind {
        OpKind::Create => put_request(
            out,
            xid,
            OpCode::CREATE,
            &create_req(path, value.clone(), acl),
        ),
        OpKind::SetData => put_request(
            out,
            xid,
            OpCode::SET_DATA,
            &SetDataRequest {
                path,
                data: Some(value.clone()),
                version: -1,
            },
        ),
        OpKind::GetData => put_request(
            out,
            xid,
            OpCode::GET_DATA,
            &GetDataRequest { path, watch: false },
        ),
        OpKind::Exists => put_request(
            out,
            xid,
            OpCode::EXISTS,
            &ExistsRequest { path, watch: false },
        ),
        OpKind::GetChildren => put_request(
            out,
            xid,
            OpCode::GET_CHILDREN,
            &GetChildrenRequest { path, watch: false },
        ),
        OpKind::Delete => put_request(
            out,
            xid,
            OpCode::DELETE,
            &DeleteRequest { path, version: -1 },
        ),
        OpKind::Multi => {
            let ops = multi_paths
                .into_iter()
                .map(|path| {
                    MultiOp::SetData(SetDataRequest {
                        path,
                        data: Some(value.clone()),
                        version: -1,
                    })
                })
                .collect();
            put_request(out, xid, OpCode::MULTI, &MultiRequest { ops });
        }
    }
}

/// Send `n` requests (the i-th encoded by `encode(i, xid, out)`) with at most `window` in
/// flight; return the error code of each reply, in order. Bounded by `deadline` overall.
pub(crate) async fn pipeline(
    sess: &mut Session,
    n: u64,
    window: usize,
    deadline: Duration,
    mut encode: impl FnMut(u64, i32, &mut Vec<u8>),
) -> Result<Vec<ErrorCode>> {
    let fut = async {
        let mut codes = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1 << 20));
        let mut out = Vec::with_capacity(64 << 10);
        let (mut sent, mut done) = (0u64, 0u64);
        while done < n {
            while sent < n && sent - done < window as u64 {
                encode(
                    sent,
                    i32::try_from(sent % (1 << 30)).unwrap_or(0) + 1,
                    &mut out,
                );
                sent += 1;
            }
            if !out.is_empty() {
                sess.stream.write_all(&out).await?;
                sess.stream.flush().await?;
                out.clear();
            }
            if sess.stream.read_buf(&mut sess.inbuf).await? == 0 {
                return Err(BenchError::Protocol("server closed the connection".into()));
            }
            while let Some(frame) = next_frame(&mut sess.inbuf)? {
                let reply = parse_reply(frame)?;
                if reply.xid < 0 {
                    continue; // ping or notification
                }
                codes.push(reply.err);
                done += 1;
            }
        }
        Ok(codes)
    };
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| BenchError::Timeout("pipelined requests"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_weights() {
        let m = Mix::parse("getData=90,setData=10").unwrap();
        assert!(m.has(OpKind::GetData) && m.has(OpKind::SetData) && !m.has(OpKind::Create));
        let reads = (0..100).filter(|r| m.pick(*r) == OpKind::GetData).count();
        assert_eq!(reads, 90);
        assert!(Mix::parse("nope=1").is_err());
        assert!(Mix::parse("create=0").is_err());
    }
}

//! Runs the [`FastLeaderElection`] engine over a [`QuorumCnxManager`]: the part of
//! `FastLeaderElection.Messenger` (WorkerSender / WorkerReceiver threads) and of
//! `lookForLeader`'s polling that touches the network and the clock.

use tokio::sync::{oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::engine::{Action, FastLeaderElection};
use super::vote::Vote;
use crate::quorum::cnxmgr::QuorumCnxManager;
use crate::quorum::reconfig::QuorumConfigs;
use crate::quorum::verifier::QuorumVerifier;

/// Why an election ended without a leader.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// A notification brought a config with other members; start a new election with it.
    #[error("membership changed to config version {:x}", .0.version())]
    Reconfigured(Box<QuorumVerifier>),
    #[error("election cancelled")]
    Cancelled,
}

/// Carries out the engine's actions; returns the decision if one was made.
fn perform(
    cnx: &QuorumCnxManager,
    actions: Vec<Action>,
    deadline: &mut Option<Instant>,
) -> Result<Option<Vote>, ElectionError> {
    for action in actions {
        match action {
            Action::Send { to, msg } => cnx.to_send(to, msg.encode()),
            Action::SetTimer(d) => *deadline = Some(Instant::now() + d),
            Action::ConnectAll => cnx.connect_all(),
            Action::Decided { vote, .. } => return Ok(Some(vote)),
            Action::Reconfigured { verifier, restart } => {
                if restart {
                    return Err(ElectionError::Reconfigured(Box::new(verifier)));
                }
            }
        }
    }
    Ok(None)
}

/// `FastLeaderElection#lookForLeader`: runs one election to its end. The engine keeps the
/// outcome (`state()`, `current_vote()`); keep calling [`answer_notifications`] afterwards so
/// peers still looking learn the leader.
pub async fn look_for_leader(
    engine: &mut FastLeaderElection,
    cnx: &QuorumCnxManager,
    last_logged_zxid: i64,
    current_epoch: i64,
    cancel: &CancellationToken,
) -> Result<Vote, ElectionError> {
    let mut deadline = None;
    let start = engine.look_for_leader(last_logged_zxid, current_epoch);
    if let Some(v) = perform(cnx, start, &mut deadline)? {
        return Ok(v);
    }
    loop {
        let timer = async {
            match deadline {
                Some(d) => sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let actions = tokio::select! {
            _ = cancel.cancelled() => return Err(ElectionError::Cancelled),
            (sid, bytes) = cnx.recv() => engine.on_message(sid, &bytes),
            _ = timer => {
                deadline = None;
                engine.on_timeout(cnx.have_delivered())
            }
        };
        if let Some(v) = perform(cnx, actions, &mut deadline)? {
            return Ok(v);
        }
    }
}

/// The `WorkerReceiver` outside an election: answers LOOKING peers with our current vote
/// until cancelled or the engine is put back to LOOKING. `established` brings the epoch the
/// role establishes later (a leader's, once a quorum acked NEWLEADER), which from then on
/// is the vote's peer epoch (`QuorumPeer#updateElectionVote`).
pub async fn answer_notifications(
    engine: &mut FastLeaderElection,
    cnx: &QuorumCnxManager,
    cancel: &CancellationToken,
    mut established: Option<oneshot::Receiver<i64>>,
    mut configs: Option<watch::Receiver<QuorumConfigs>>,
) {
    let mut deadline = None;
    while !engine.is_electing() {
        let changed = async {
            match configs.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    let c = rx.borrow_and_update().clone();
                    c
                }
                None => std::future::pending().await,
            }
        };
        let epoch = async {
            match established.as_mut() {
                Some(rx) => rx.await.ok(),
                None => std::future::pending().await,
            }
        };
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            e = epoch => Err(e),
            m = cnx.recv() => Ok(m),
            c = changed => {
                adopt_configs(engine, cnx, c);
                continue;
            }
        };
        match received {
            Ok((sid, bytes)) => {
                let actions = engine.on_message(sid, &bytes);
                let _ = perform(cnx, actions, &mut deadline);
            }
            Err(epoch) => {
                established = None;
                if let Some(e) = epoch {
                    engine.update_election_vote(e);
                }
            }
        }
    }
}

/// A config change reaches the election (`restartLeaderElection`) and the connection manager:
/// the members of both configs are its view, and a member new in the proposed config is
/// dialled (`QuorumPeer#connectNewPeers`).
pub fn adopt_configs(engine: &mut FastLeaderElection, cnx: &QuorumCnxManager, c: QuorumConfigs) {
    let mut view = std::collections::HashMap::new();
    for qv in [&c.committed, &c.last_seen] {
        for (sid, spec) in qv.all_members() {
            let addrs = spec
                .addresses
                .iter()
                .map(|a| format!("{}:{}", a.host, a.election_port))
                .collect();
            view.insert(*sid, addrs);
        }
    }
    let joining: Vec<i64> = c
        .last_seen
        .all_members()
        .keys()
        .filter(|sid| **sid != engine.my_id() && !c.committed.all_members().contains_key(sid))
        .copied()
        .collect();
    cnx.set_view(view);
    for sid in joining {
        cnx.connect_one(sid);
    }
    engine.set_configs(c.committed, c.last_seen);
}

//! Process exit codes (`org.apache.zookeeper.server.ExitCode`) and which start-up failure ends
//! with which, as `QuorumPeerMain#main` and `ZooKeeperServerMain#main` choose them: a
//! supervisor (systemd, a container runtime, a test harness) sees the same number from
//! ferrokeeper as from ZooKeeper 3.8.

use super::ServerError;

/// `ExitCode`, value for value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// `EXECUTION_FINISHED`: a clean shutdown.
    ExecutionFinished,
    /// `UNEXPECTED_ERROR`: everything without a code of its own (a taken client port, a
    /// metrics provider that cannot start, a broken txn log).
    UnexpectedError,
    /// `INVALID_INVOCATION`: bad arguments or an invalid zoo.cfg.
    InvalidInvocation,
    /// `UNABLE_TO_ACCESS_DATADIR`.
    UnableToAccessDatadir,
    /// `ERROR_STARTING_ADMIN_SERVER`: a standalone server whose AdminServer cannot start.
    ErrorStartingAdminServer,
    /// `TXNLOG_ERROR_TAKING_SNAPSHOT`.
    TxnlogErrorTakingSnapshot,
    /// `UNMATCHED_TXN_COMMIT`.
    UnmatchedTxnCommit,
    /// `QUORUM_PACKET_ERROR`.
    QuorumPacketError,
    /// `UNABLE_TO_BIND_QUORUM_PORT`: the election port stayed taken through every
    /// `electionPortBindRetry` attempt.
    UnableToBindQuorumPort,
}

impl ExitCode {
    /// The process exit status, as `ExitCode#getValue`.
    pub fn value(self) -> u8 {
        match self {
            ExitCode::ExecutionFinished => 0,
            ExitCode::UnexpectedError => 1,
            ExitCode::InvalidInvocation => 2,
            ExitCode::UnableToAccessDatadir => 3,
            ExitCode::ErrorStartingAdminServer => 4,
            ExitCode::TxnlogErrorTakingSnapshot => 10,
            ExitCode::UnmatchedTxnCommit => 12,
            ExitCode::QuorumPacketError => 13,
            ExitCode::UnableToBindQuorumPort => 14,
        }
    }
}

impl ServerError {
    /// The exit code 3.8 ends with for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            // `QuorumPeerMain#main`: an `AdminServerException` has its own code
            ServerError::AdminServer { .. } => ExitCode::ErrorStartingAdminServer,
            // `QuorumCnxManager.Listener#run` → its socketBindErrorHandler
            ServerError::ElectionPort { .. } => ExitCode::UnableToBindQuorumPort,
            // 3.8 starts and fails each TLS handshake instead; we stop as for an invalid
            // zoo.cfg (`ConfigException` in `main`), which is what these settings are
            ServerError::Tls(_) => ExitCode::InvalidInvocation,
            // a BindException or the metrics provider's IOException lands in `main`'s
            // catch-all "Unexpected exception"
            _ => ExitCode::UnexpectedError,
        }
    }

    /// The line 3.8's `main` logs before it exits over a start-up failure (for the
    /// AdminServer it also prints it on stderr); None when the failure is not one `main`
    /// catches (the election listener exits on its own; a running server that stops).
    pub fn exit_message(&self) -> Option<&'static str> {
        match self {
            ServerError::AdminServer { .. } => {
                Some("Unable to start AdminServer, exiting abnormally")
            }
            ServerError::ElectionPort { .. } | ServerError::Fatal(_) => None,
            ServerError::Tls(_) => Some("Invalid config, exiting abnormally"),
            _ => Some("Unexpected exception, exiting abnormally"),
        }
    }
}

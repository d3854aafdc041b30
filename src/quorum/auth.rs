//! Quorum SASL (`quorum.auth.*`): the `QuorumAuthPacket` exchange 3.8 runs right after a
//! server dials a peer — on the election port after its initial message, on the quorum port
//! before FOLLOWERINFO — as `SaslQuorumAuthLearner` (the dialling side) and
//! `SaslQuorumAuthServer` (the accepting side) run it. The mechanism is whatever
//! [`SaslClient`] / [`SaslServer`] the caller built from the `QuorumLearner` / `QuorumServer`
//! JAAS sections.
//!
//! A server that does not require SASL peeks at the first 8 bytes for the packet's magic and
//! lets a peer that does not authenticate through; those bytes are handed back to the
//! caller, who reads them again as the start of the peer's first message.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::jute::quorum::QuorumAuthPacket;
use crate::jute::Jute;
use crate::sasl::{SaslClient, SaslError, SaslServer};

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER`, Java's `-0xa0dbcafecafe1234L` (the hex literal is
/// itself a negative long, then negated): what a server peeks for.
pub const MAGIC: i64 = (0xa0db_cafe_cafe_1234_u64 as i64).wrapping_neg();
/// `QuorumAuth.QUORUM_SERVER_PROTOCOL_NAME`: the DIGEST-MD5 protocol of quorum exchanges.
pub const PROTOCOL: &str = "zookeeper-quorum";
/// `QuorumAuth.QUORUM_SERVER_SASL_DIGEST`: the DIGEST-MD5 server name (and realm).
pub const SERVER_NAME: &str = "zk-quorum-sasl-md5";
/// `SaslQuorumAuthServer.MAX_RETRIES`: challenges sent before the server gives up.
const MAX_RETRIES: u32 = 5;
/// The largest token accepted (jute.maxbuffer's default).
const MAX_TOKEN: usize = 0xfffff;

/// `QuorumAuth.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Success,
    Error,
}

impl Status {
    fn code(self) -> i32 {
        match self {
            Status::InProgress => 0,
            Status::Success => 1,
            Status::Error => -1,
        }
    }

    /// An unknown code counts as ERROR, as `Status#getStatus` maps it.
    fn of(code: i32) -> Status {
        match code {
            0 => Status::InProgress,
            1 => Status::Success,
            _ => Status::Error,
        }
    }
}

/// Why a quorum connection was not authenticated; the connection is then closed.
#[derive(Debug, thiserror::Error)]
pub enum QuorumAuthError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("Failed to authenticate using SASL: {0}")]
    Sasl(#[from] SaslError),
    #[error("Learner not trying to authenticate and authentication is required")]
    NotAuthenticating,
    #[error("Authentication failed against server addr: {0}")]
    Refused(String),
    #[error("Protocol error: {0}")]
    Protocol(String),
    #[error("QuorumAuthPacket token of {0} bytes is larger than jute.maxbuffer")]
    TooLarge(usize),
    /// The peer stalled: 3.8's socket timeout on these connections.
    #[error("SASL timed out")]
    TimedOut,
}

/// An exchange bounded by `limit` (the connection's socket timeout in 3.8).
pub async fn bounded<T>(
    limit: std::time::Duration,
    exchange: impl std::future::Future<Output = Result<T, QuorumAuthError>>,
) -> Result<T, QuorumAuthError> {
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or(Err(QuorumAuthError::TimedOut))
}

/// One packet as `BinaryOutputArchive#writeRecord` writes it (no length prefix).
fn packet(status: Status, token: Option<&[u8]>) -> Vec<u8> {
    let record = QuorumAuthPacket {
        magic: MAGIC,
        status: status.code(),
        token: token.map(Bytes::copy_from_slice),
    };
    let mut out = Vec::with_capacity(16 + token.map_or(0, <[u8]>::len));
    record.encode(&mut out);
    out
}

async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: Status,
    token: Option<&[u8]>,
) -> std::io::Result<()> {
    stream.write_all(&packet(status, token)).await?;
    stream.flush().await
}

/// The rest of a packet whose magic has been read: (status, token).
async fn read_after_magic<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Status, Option<Vec<u8>>), QuorumAuthError> {
    let status = stream.read_i32().await?;
    let len = stream.read_i32().await?;
    let token = match usize::try_from(len) {
        Err(_) => None,
        Ok(n) if n > MAX_TOKEN => return Err(QuorumAuthError::TooLarge(n)),
        Ok(n) => {
            let mut buf = vec![0; n];
            stream.read_exact(&mut buf).await?;
            Some(buf)
        }
    };
    Ok((Status::of(status), token))
}

/// A whole packet; its magic is not checked (3.8's learner does not check it either).
async fn receive<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Status, Option<Vec<u8>>), QuorumAuthError> {
    let _magic = stream.read_i64().await?;
    read_after_magic(stream).await
}

/// `SaslQuorumAuthLearner#authenticate` on a freshly dialled connection to `peer`:
/// `Ok` once the server answered SUCCESS. `client` makes our side: None with
/// `quorum.auth.learnerRequireSasl=false`, and then nothing is sent. Making it and each of
/// its steps run on a blocking thread: a GSSAPI learner reads its keytab and asks the KDC
/// for tickets.
pub async fn authenticate_learner<S, F>(
    stream: &mut S,
    client: F,
    peer: &str,
) -> Result<(), QuorumAuthError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce() -> Result<Option<Box<dyn SaslClient>>, SaslError> + Send + 'static,
{
    let Some(client) = blocking(client).await? else {
        info!("Skipping SASL authentication as quorum.auth.learnerRequireSasl=false");
        return Ok(());
    };
    let (mut client, first) = step(client, |c| c.initial_response()).await?;
    send(stream, Status::InProgress, Some(&first.unwrap_or_default())).await?;
    let (mut status, mut token) = receive(stream).await?;
    while !client.is_complete() {
        match status {
            Status::Success => {
                let token = token.take().ok_or_else(|| null_token(peer))?;
                let (c, response) = step(client, move |c| c.evaluate_challenge(&token)).await?;
                client = c;
                if !response.is_empty() {
                    return Err(QuorumAuthError::Protocol(
                        "attempting to send response after completion".to_owned(),
                    ));
                }
                if !client.is_complete() {
                    return Err(QuorumAuthError::Refused(peer.to_owned()));
                }
            }
            Status::InProgress => {
                let challenge = token.take().ok_or_else(|| null_token(peer))?;
                let (c, response) = step(client, move |c| c.evaluate_challenge(&challenge)).await?;
                client = c;
                send(stream, Status::InProgress, Some(&response)).await?;
                (status, token) = receive(stream).await?;
            }
            Status::Error => return Err(QuorumAuthError::Refused(peer.to_owned())),
        }
    }
    if status != Status::Success {
        return Err(QuorumAuthError::Refused(format!(
            "{peer}, qpStatus: {status:?}"
        )));
    }
    info!("Successfully completed the authentication using SASL. server addr: {peer}");
    Ok(())
}

/// `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SaslError> + Send + 'static,
) -> Result<T, QuorumAuthError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(QuorumAuthError::Protocol(format!(
            "SASL step did not finish: {e}"
        ))),
    }
}

/// One step of `client` on a blocking thread; the client comes back with its result.
async fn step<T: Send + 'static>(
    mut client: Box<dyn SaslClient>,
    f: impl FnOnce(&mut dyn SaslClient) -> Result<T, SaslError> + Send + 'static,
) -> Result<(Box<dyn SaslClient>, T), QuorumAuthError> {
    blocking(move || {
        let out = f(client.as_mut())?;
        Ok((client, out))
    })
    .await
}

fn null_token(peer: &str) -> QuorumAuthError {
    QuorumAuthError::Protocol(format!(
        "Error in authenticating with a Zookeeper Quorum member {peer}: the quorum member's saslToken is null."
    ))
}

/// What the accepting side read before the peer's own first message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unread(pub Vec<u8>);

/// `SaslQuorumAuthServer#authenticate` on an accepted connection from `peer`. `Ok` lets
/// the connection go on, with the bytes read while looking for an auth packet that turned
/// out to be the peer's first message; `Err` means close it.
///
/// With `require` false a peer that does not authenticate, or whose exchange fails, is let
/// through (the failure is logged), as 3.8 does during a rolling switch to quorum SASL.
pub async fn authenticate_server<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    mut server: Box<dyn SaslServer>,
    require: bool,
    peer: &str,
) -> Result<Unread, QuorumAuthError> {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).await?;
    if i64::from_be_bytes(head) != MAGIC {
        if require {
            return Err(QuorumAuthError::NotAuthenticating);
        }
        return Ok(Unread(head.to_vec()));
    }
    match exchange(stream, server.as_mut(), peer).await {
        Ok(()) => Ok(Unread::default()),
        Err(e) => {
            // the learner hears why it failed, whatever this side does next
            if let Err(io) = send(stream, Status::Error, Some(&[])).await {
                warn!(%peer, error = %io, "Exception while sending failed status");
            }
            let principal = server.claimed_id().unwrap_or("unknown");
            warn!(%peer, principal, error = %e, "Failed to authenticate using SASL");
            if require {
                return Err(e);
            }
            warn!(
                "Maintaining learner connection despite SASL authentication failure. server addr: {peer}, quorum.auth.serverRequireSasl: false"
            );
            Ok(Unread::default())
        }
    }
}

/// The server's loop once the first packet's magic has been read.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    server: &mut dyn SaslServer,
    peer: &str,
) -> Result<(), QuorumAuthError> {
    let (_, token) = read_after_magic(stream).await?;
    let mut token = token.unwrap_or_default();
    let mut tries = 0;
    let mut challenge = Vec::new();
    while !server.is_complete() {
        challenge = server.evaluate_response(&token)?;
        if server.is_complete() {
            break;
        }
        tries += 1;
        if tries > MAX_RETRIES {
            // 3.8 tells the learner and keeps the connection: the learner gives up on it
            send(stream, Status::Error, Some(&challenge)).await?;
            warn!(
                "Failed to authenticate using SASL, server addr: {peer}, retries={tries} exceeded."
            );
            return Ok(());
        }
        send(stream, Status::InProgress, Some(&challenge)).await?;
        let (_, next) = receive(stream).await?;
        token = next.unwrap_or_default();
    }
    // a mechanism's last empty challenge is Java's null
    let last = (!challenge.is_empty()).then_some(challenge.as_slice());
    send(stream, Status::Success, last).await?;
    info!("Successfully completed the authentication using SASL. learner addr: {peer}");
    Ok(())
}

#[cfg(test)]
mod tests;

//! The notification message of `FastLeaderElection` (`buildMsg`, `WorkerReceiver#run`), in
//! the three generations 3.8 accepts: 28 bytes (no peer epoch, ≤3.3), 40 bytes (3.4: peer
//! epoch + an unread version int) and the current `0x2` with the quorum config text.
//!
//! Invariant: decoding never panics and reads nothing past the message; a 29…39-byte message
//! or a config length outside `0..=len` is malformed, as the reference's buffer underflows.

/// `Notification.CURRENTVERSION`.
pub const CURRENT_VERSION: i32 = 0x2;

/// One notification as it travels (state kept raw so unknown values can be ignored later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationMsg {
    /// `ServerState` ordinal: LOOKING 0, FOLLOWING 1, LEADING 2, OBSERVING 3.
    pub state: i32,
    pub leader: i64,
    pub zxid: i64,
    pub election_epoch: i64,
    pub peer_epoch: i64,
    /// 0 for 28- and 40-byte messages (the 3.4 version int is not read), else as sent.
    pub version: i32,
    /// `QuorumVerifier#toString` bytes when `version > 1`.
    pub config: Option<Vec<u8>>,
}

/// Why a message is not a notification (the reference logs and skips it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("short notification: {0} bytes")]
    Short(usize),
    #[error("partial / malformed notification of {0} bytes")]
    Malformed(usize),
    #[error("invalid configLength {config_len} in a notification of {len} bytes")]
    BadConfigLength { len: usize, config_len: i32 },
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        bytes.try_into().ok()
    }
    fn int(&mut self) -> Option<i32> {
        self.take::<4>().map(i32::from_be_bytes)
    }
    fn long(&mut self) -> Option<i64> {
        self.take::<8>().map(i64::from_be_bytes)
    }
}

impl NotificationMsg {
    /// The current (`0x2`) layout: 44 bytes + config, as every 3.5+ server sends.
    pub fn encode(&self) -> Vec<u8> {
        let config = self.config.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(44 + config.len());
        self.put_fixed(&mut out);
        out.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
        let len = i32::try_from(config.len()).unwrap_or(i32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(config);
        out
    }

    /// The 40-byte 3.4 layout (`buildMsg` without config: version int 0x1).
    pub fn encode_v1(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        self.put_fixed(&mut out);
        out.extend_from_slice(&1i32.to_be_bytes());
        out
    }

    /// The 28-byte pre-3.4 layout (no peer epoch).
    pub fn encode_v0(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        out.extend_from_slice(&self.state.to_be_bytes());
        out.extend_from_slice(&self.leader.to_be_bytes());
        out.extend_from_slice(&self.zxid.to_be_bytes());
        out.extend_from_slice(&self.election_epoch.to_be_bytes());
        out
    }

    fn put_fixed(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.state.to_be_bytes());
        out.extend_from_slice(&self.leader.to_be_bytes());
        out.extend_from_slice(&self.zxid.to_be_bytes());
        out.extend_from_slice(&self.election_epoch.to_be_bytes());
        out.extend_from_slice(&self.peer_epoch.to_be_bytes());
    }

    /// `WorkerReceiver#run`'s parsing of one received message.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let len = buf.len();
        if len < 28 {
            return Err(WireError::Short(len));
        }
        let malformed = WireError::Malformed(len);
        let mut r = Reader { buf, pos: 0 };
        let mut fixed = || -> Option<(i32, i64, i64, i64)> {
            Some((r.int()?, r.long()?, r.long()?, r.long()?))
        };
        let (state, leader, zxid, election_epoch) = fixed().ok_or(malformed.clone())?;
        let mut msg = NotificationMsg {
            state,
            leader,
            zxid,
            election_epoch,
            // pre-3.4 peers: the epoch is the zxid's high word (`ZxidUtils#getEpochFromZxid`)
            peer_epoch: zxid >> 32,
            version: 0,
            config: None,
        };
        if len == 28 {
            return Ok(msg);
        }
        msg.peer_epoch = r.long().ok_or(malformed.clone())?;
        if len == 40 {
            return Ok(msg);
        }
        msg.version = r.int().ok_or(malformed.clone())?;
        if msg.version > 0x1 {
            let config_len = r.int().ok_or(malformed.clone())?;
            let n = usize::try_from(config_len)
                .ok()
                .filter(|n| *n <= len)
                .ok_or(WireError::BadConfigLength { len, config_len })?;
            let bytes = buf.get(r.pos..r.pos + n).ok_or(malformed)?;
            msg.config = Some(bytes.to_vec());
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn msg() -> NotificationMsg {
        NotificationMsg {
            state: 0,
            leader: 3,
            zxid: 0x1_0000_0005,
            election_epoch: 2,
            peer_epoch: 1,
            version: CURRENT_VERSION,
            config: Some(b"server.1=a:1:2:participant\nversion=0".to_vec()),
        }
    }

    #[test]
    fn current_round_trip() {
        let bytes = msg().encode();
        assert_eq!(bytes.len(), 44 + 36);
        assert_eq!(&bytes[36..44], &[0, 0, 0, 2, 0, 0, 0, 36]);
        assert_eq!(NotificationMsg::decode(&bytes).unwrap(), msg());
    }

    #[test]
    fn older_generations() {
        let v1 = msg().encode_v1();
        assert_eq!(v1.len(), 40);
        let d = NotificationMsg::decode(&v1).unwrap();
        assert_eq!((d.peer_epoch, d.version, d.config), (1, 0, None));
        let v0 = msg().encode_v0();
        let d = NotificationMsg::decode(&v0).unwrap();
        assert_eq!((d.peer_epoch, d.version), (1, 0), "epoch from the zxid");
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let full = msg().encode();
        assert_eq!(
            NotificationMsg::decode(&full[..27]),
            Err(WireError::Short(27))
        );
        for n in 29..40 {
            assert_eq!(
                NotificationMsg::decode(&full[..n]),
                Err(WireError::Malformed(n))
            );
        }
        assert_eq!(
            NotificationMsg::decode(&full[..42]),
            Err(WireError::Malformed(42))
        );
        assert_eq!(
            NotificationMsg::decode(&full[..60]),
            Err(WireError::Malformed(60))
        );
        let mut neg = full.clone();
        neg[40..44].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            NotificationMsg::decode(&neg),
            Err(WireError::BadConfigLength { config_len: -1, .. })
        ));
        // version 1 with extra bytes: config ignored
        let mut v = full.clone();
        v[36..40].copy_from_slice(&1i32.to_be_bytes());
        assert_eq!(NotificationMsg::decode(&v).unwrap().config, None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200usize {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect();
            let _ = NotificationMsg::decode(&buf);
        }
    }
}

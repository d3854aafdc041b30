//! SASL as ZooKeeper runs it through `javax.security.sasl`: the server side of a client's
//! exchange on the client port (opcode `sasl`), and both sides of the quorum's
//! (`QuorumAuthPacket` on the election and quorum ports). A mechanism is a pure state machine
//! over tokens; the connection task that owns the socket drives it, off the core.

pub mod digest;
pub mod gssapi;
pub mod kerberos;
pub mod quorum;
pub mod server;

/// One server-side exchange (`SaslServer`): tokens in, challenges out, until complete.
pub trait SaslServer: Send {
    /// The mechanism's IANA name (`DIGEST-MD5`, `GSSAPI`).
    fn mechanism(&self) -> &'static str;
    /// The client's next token; the challenge to send back (possibly empty).
    fn evaluate_response(&mut self, response: &[u8]) -> Result<Vec<u8>, SaslError>;
    /// The exchange has succeeded.
    fn is_complete(&self) -> bool;
    /// Who the client is authorized as, once complete (`sasl:<id>` in ACLs).
    fn authorization_id(&self) -> Option<&str>;
    /// Who the client claims or was shown to be so far (the DIGEST-MD5 user name, the
    /// Kerberos principal), for the log line of a failed exchange.
    fn claimed_id(&self) -> Option<&str>;
}

/// One client-side exchange (`SaslClient`), as a quorum learner authenticates to a server.
pub trait SaslClient: Send {
    /// The mechanism's IANA name.
    fn mechanism(&self) -> &'static str;
    /// The first token, for mechanisms that speak first (GSSAPI); None otherwise.
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError>;
    /// The server's next challenge; the response to send back.
    fn evaluate_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError>;
    /// The exchange has succeeded.
    fn is_complete(&self) -> bool;
}

/// Why an exchange failed; the text is what the log line and the peer's error say.
#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    /// The peer's credentials are wrong (bad password, unknown user, rejected ticket).
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The peer's token does not follow the mechanism.
    #[error("malformed {mechanism} token: {reason}")]
    Malformed {
        mechanism: &'static str,
        reason: String,
    },
    /// Our own side cannot run the mechanism (no credentials, no keytab, library error).
    #[error("{0}")]
    Setup(String),
}

//! Port unification: tell a TLS client from a plaintext one by the first bytes it sends,
//! without consuming them (3.8's `UnifiedServerSocket` and Netty's `SslHandler.isEncrypted`
//! on the client port with `client.portUnification`, the quorum and election ports with
//! `portUnification`, and the AdminServer with `admin.portUnification`).

use std::time::Duration;

use tokio::net::TcpStream;

/// What the first bytes of a connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Tls,
    Plaintext,
}

/// How many bytes 3.8 looks at: a TLS record header.
const LITMUS: usize = 5;

/// Whether `prefix` starts a TLS record: a content type of 20..=23 (change_cipher_spec,
/// alert, handshake, application_data) and major version 3, as Netty's `isEncrypted` reads
/// it (callers wait for the whole five-byte header before deciding).
pub fn is_tls_prefix(prefix: &[u8]) -> bool {
    matches!(prefix, [20..=23, 3, ..])
}

/// Waits up to `timeout` (`handshakeDetectionTimeoutMillis`) for the first bytes and says
/// which kind of client sent them; the bytes stay in the socket for whoever reads next. A
/// client that sends fewer than the header's five bytes within the timeout (or nothing) is
/// plaintext, as in 3.8; a connection closed before sending anything is an error.
pub async fn detect(stream: &TcpStream, timeout: Duration) -> std::io::Result<Detected> {
    let mut buf = [0u8; LITMUS];
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = 0;
    let mut pause = Duration::from_millis(1);
    loop {
        match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(Ok(n)) => {
                seen = n;
                if n >= LITMUS || !could_be_tls(&buf[..n]) {
                    break;
                }
                // a partial header: peek returns at once while bytes are buffered (and the
                // socket stays readable), so look again a little later, until the deadline
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => break,
        }
    }
    Ok(if seen >= LITMUS && is_tls_prefix(&buf[..seen]) {
        Detected::Tls
    } else {
        Detected::Plaintext
    })
}

/// Whether a prefix shorter than the header may still turn out to be TLS.
fn could_be_tls(prefix: &[u8]) -> bool {
    match prefix {
        [] => true,
        [t] => (20..=23).contains(t),
        [t, v, ..] => (20..=23).contains(t) && *v == 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[test]
    fn tls_records_are_recognised_and_zookeeper_frames_are_not() {
        // a TLS 1.2/1.3 ClientHello record header
        assert!(is_tls_prefix(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        // a ConnectRequest frame: a length prefix (45 bytes), then protocolVersion 0
        assert!(!is_tls_prefix(&[0, 0, 0, 45, 0]));
        // four-letter words
        assert!(!is_tls_prefix(b"ruok"));
        assert!(!is_tls_prefix(b"stat"));
        // an election initial message starts with the protocol version (-65536 as i64)
        assert!(!is_tls_prefix(&(-65536i64).to_be_bytes()));
        // an HTTP request
        assert!(!is_tls_prefix(b"GET /"));
        assert!(!is_tls_prefix(&[0x16]));
    }

    async fn detected_after(send: &'static [u8], close: bool) -> std::io::Result<Detected> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(send).await.unwrap();
            if close {
                drop(s);
            } else {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let (server, _) = listener.accept().await.unwrap();
        let got = detect(&server, Duration::from_millis(200)).await;
        if got.is_ok() {
            // the bytes are still there for the next reader
            let mut buf = vec![0u8; send.len()];
            if !send.is_empty() {
                server.peek(&mut buf).await.unwrap();
                assert_eq!(buf, send);
            }
        }
        client.abort();
        got
    }

    #[tokio::test]
    async fn detection_peeks_without_consuming() {
        let hello = &[0x16, 0x03, 0x01, 0x00, 0x40, 0x01];
        assert_eq!(detected_after(hello, false).await.unwrap(), Detected::Tls);
        assert_eq!(
            detected_after(&[0, 0, 0, 45, 0, 0], false).await.unwrap(),
            Detected::Plaintext
        );
        assert_eq!(
            detected_after(b"ruok", false).await.unwrap(),
            Detected::Plaintext
        );
        // silence until the timeout is plaintext (a client that waits for the server)
        assert_eq!(
            detected_after(b"", false).await.unwrap(),
            Detected::Plaintext
        );
        // a partial TLS header that never completes within the timeout
        assert_eq!(
            detected_after(&[0x16, 0x03], false).await.unwrap(),
            Detected::Plaintext
        );
        assert!(detected_after(b"", true).await.is_err());
    }
}

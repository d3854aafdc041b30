//! The byte stream under a client connection: plaintext TCP, or TLS over it. The framing and
//! the session logic (`connection`) are written once against [`Transport`].
//!
//! Plaintext keeps the readiness-based reads and immediate writes that let an idle session's
//! task stay small (no buffer, no pending future); TLS reads through rustls' records and
//! buffers, so its idle sessions cost what rustls keeps per connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How much a connection reads at a time. The buffer exists only while bytes are being
/// read or parsed: an idle connection holds none (`NIOServerCnxn` likewise keeps only its
/// 4-byte length buffer between requests), so 10,000 idle sessions cost little.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// The rest of a write that has to wait for room in the socket.
pub(super) type WriteWait<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// A connection's byte stream, as the frame reader and the session use it.
pub(super) trait Transport: AsyncWrite + Send + Unpin + 'static {
    /// One read towards `want` buffered bytes: `Ready(Ok(()))` once something was read (or
    /// after a spurious wake-up), `Pending` while the transport has nothing; end of stream
    /// is `UnexpectedEof`. The buffer is reserved only now that data may be there, and
    /// given back when nothing came.
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        want: usize,
    ) -> Poll<io::Result<()>>;

    /// Write `bytes` now as far as the transport takes them; only waiting for room is a
    /// future, kept on the heap while it waits, so that an idle connection's task stays
    /// small.
    fn write_now(&mut self, bytes: Bytes) -> io::Result<Option<WriteWait<'_>>>;
}

fn reserve(buf: &mut BytesMut, want: usize) {
    buf.reserve(READ_CHUNK.max(want.saturating_sub(buf.len())));
}

/// Nothing read and nothing to read yet: the reserved buffer goes back, so that an idle
/// session holds none.
fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() {
        *buf = BytesMut::new();
    }
}

fn eof() -> io::Error {
    io::ErrorKind::UnexpectedEof.into()
}

/// A waker that does nothing (`Waker::noop` is newer than the crate's MSRV): for a write
/// attempt whose wait, if any, is then awaited with the task's own waker.
fn noop_waker() -> &'static Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    static NOOP: OnceLock<Waker> = OnceLock::new();
    NOOP.get_or_init(|| Waker::from(Arc::new(Noop)))
}

impl Transport for TcpStream {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        want: usize,
    ) -> Poll<io::Result<()>> {
        // readiness first (tokio's `readable()` future would be some 200 bytes in every
        // idle session's task), then a non-blocking read
        std::task::ready!(self.poll_read_ready(cx))?;
        reserve(buf, want);
        Poll::Ready(match self.try_read_buf(buf) {
            Ok(0) => Err(eof()),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                release_if_empty(buf);
                // readiness was cleared: the next poll waits for the socket
                Ok(())
            }
            Err(e) => Err(e),
        })
    }

    fn write_now(&mut self, bytes: Bytes) -> io::Result<Option<WriteWait<'_>>> {
        let written = match self.try_write(&bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        if written >= bytes.len() {
            return Ok(None);
        }
        let rest = bytes.slice(written..);
        Ok(Some(Box::pin(async move { self.write_all(&rest).await })))
    }
}

impl Transport for TlsStream<TcpStream> {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        want: usize,
    ) -> Poll<io::Result<()>> {
        reserve(buf, want);
        match tokio_util::io::poll_read_buf(Pin::new(self), cx, buf) {
            Poll::Pending => {
                release_if_empty(buf);
                Poll::Pending
            }
            Poll::Ready(Ok(0)) => Poll::Ready(Err(eof())),
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    fn write_now(&mut self, bytes: Bytes) -> io::Result<Option<WriteWait<'_>>> {
        // rustls encrypts into its own buffer and writes to the socket as far as it can;
        // one try without a waker, and a future only when the socket is full
        let mut cx = Context::from_waker(noop_waker());
        let mut written = 0;
        while written < bytes.len() {
            match Pin::new(&mut *self).poll_write(&mut cx, &bytes[written..]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        if written == bytes.len() {
            match Pin::new(&mut *self).poll_flush(&mut cx) {
                Poll::Ready(Ok(())) => return Ok(None),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        let rest = bytes.slice(written..);
        Ok(Some(Box::pin(async move {
            self.write_all(&rest).await?;
            self.flush().await
        })))
    }
}

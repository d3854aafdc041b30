//! Jute primitives over a byte stream with a running Adler-32, as `BinaryOutputArchive` /
//! `BinaryInputArchive` on top of `CheckedOutputStream` / `CheckedInputStream` (the
//! checksum `SnapStream#sealStream` writes covers every uncompressed byte before it).
//!
//! Invariants: the reader never allocates more than one length-checked item at a time and
//! reports every failure with the uncompressed byte offset where the item started.

use std::io::{self, Read, Write};

use simd_adler32::Adler32;

/// `jute.maxbuffer` default (`BinaryInputArchive.maxBuffer`).
pub const JUTE_MAX_BUFFER: usize = 0xfffff;

/// The longest string or buffer `BinaryInputArchive#checkLength` accepts by default:
/// maxBuffer plus `zookeeper.jute.maxbuffer.extrasize`, which defaults to maxBuffer.
pub(super) const DEFAULT_MAX_ITEM: usize = JUTE_MAX_BUFFER * 2;

/// Items up to this length are read into one exact allocation.
const SMALL_ITEM: usize = 64 * 1024;

/// What went wrong while reading, and where.
#[derive(Debug)]
pub(super) struct Fault {
    pub(super) offset: u64,
    pub(super) kind: FaultKind,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultKind {
    #[error("truncated while reading {0}")]
    Truncated(&'static str),
    #[error("unreasonable length {len} for {what}")]
    BadLength { what: &'static str, len: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("read error: {0}")]
    Io(io::Error),
}

pub(super) type ReadResult<T> = Result<T, Fault>;

/// Bytes gathered before the checksum takes them: Adler-32 pays a modulo reduction per
/// call, so feeding it each 4-byte field costs far more than the sum itself.
const SUM_BLOCK: usize = 64 * 1024;

/// A running Adler-32 fed in large blocks.
#[derive(Clone)]
struct BlockAdler {
    adler: Adler32,
    pending: Vec<u8>,
}

impl BlockAdler {
    fn new() -> Self {
        BlockAdler {
            adler: Adler32::new(),
            pending: Vec::with_capacity(SUM_BLOCK),
        }
    }

    fn update(&mut self, b: &[u8]) {
        if self.pending.len() + b.len() > SUM_BLOCK {
            self.adler.write(&self.pending);
            self.pending.clear();
            if b.len() >= SUM_BLOCK {
                self.adler.write(b);
                return;
            }
        }
        self.pending.extend_from_slice(b);
    }

    /// `Adler32#getValue` of everything so far.
    fn value(&self) -> i64 {
        let mut a = self.adler.clone();
        a.write(&self.pending);
        i64::from(a.finish())
    }
}

/// Reads Jute primitives, counting bytes and checksumming them.
pub(super) struct CheckedReader<R> {
    inner: R,
    adler: BlockAdler,
    offset: u64,
    max_item: usize,
}

impl<R: Read> CheckedReader<R> {
    pub(super) fn new(inner: R, max_item: usize) -> Self {
        CheckedReader {
            inner,
            adler: BlockAdler::new(),
            offset: 0,
            max_item,
        }
    }

    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// `Adler32#getValue` of everything read so far.
    pub(super) fn checksum(&self) -> i64 {
        self.adler.value()
    }

    pub(super) fn fault(&self, offset: u64, kind: FaultKind) -> Fault {
        Fault { offset, kind }
    }

    /// Fills `buf` completely, or returns how many bytes there were before EOF.
    fn fill_upto(&mut self, buf: &mut [u8], what: &'static str) -> ReadResult<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(self.io_fault(e, what)),
            }
        }
        self.adler.update(&buf[..got]);
        self.offset += got as u64;
        Ok(got)
    }

    fn io_fault(&self, e: io::Error, what: &'static str) -> Fault {
        let kind = if e.kind() == io::ErrorKind::InvalidData {
            FaultKind::Invalid(format!("damaged compressed data while reading {what}: {e}"))
        } else {
            FaultKind::Io(e)
        };
        self.fault(self.offset, kind)
    }

    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> ReadResult<()> {
        let start = self.offset;
        if self.fill_upto(buf, what)? == buf.len() {
            Ok(())
        } else {
            Err(self.fault(start, FaultKind::Truncated(what)))
        }
    }

    pub(super) fn i32(&mut self, what: &'static str) -> ReadResult<i32> {
        let mut b = [0u8; 4];
        self.fill(&mut b, what)?;
        Ok(i32::from_be_bytes(b))
    }

    pub(super) fn i64(&mut self, what: &'static str) -> ReadResult<i64> {
        let mut b = [0u8; 8];
        self.fill(&mut b, what)?;
        Ok(i64::from_be_bytes(b))
    }

    /// `N` bytes as one item.
    pub(super) fn array<const N: usize>(&mut self, what: &'static str) -> ReadResult<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    /// A long, or `None` at a clean end of stream (nothing at all left).
    pub(super) fn i64_or_eof(&mut self, what: &'static str) -> ReadResult<Option<i64>> {
        let start = self.offset;
        let mut b = [0u8; 8];
        match self.fill_upto(&mut b, what)? {
            0 => Ok(None),
            8 => Ok(Some(i64::from_be_bytes(b))),
            _ => Err(self.fault(start, FaultKind::Truncated(what))),
        }
    }

    /// `readBuffer`: -1 is null; other lengths must pass `checkLength`.
    pub(super) fn buffer(&mut self, what: &'static str) -> ReadResult<Option<Vec<u8>>> {
        let start = self.offset;
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        let n = usize::try_from(len)
            .ok()
            .filter(|n| *n <= self.max_item)
            .ok_or_else(|| {
                self.fault(
                    start,
                    FaultKind::BadLength {
                        what,
                        len: i64::from(len),
                    },
                )
            })?;
        if n <= SMALL_ITEM {
            // The common case: one exact allocation (a lying length wastes at most this).
            let mut v = vec![0u8; n];
            let got = self.fill_upto(&mut v, what)?;
            if got != n {
                return Err(self.fault(start, FaultKind::Truncated(what)));
            }
            return Ok(Some(v));
        }
        // Read through `take` so a lying length costs no more memory than the bytes present.
        let mut v = Vec::new();
        let got = (&mut self.inner)
            .take(n as u64)
            .read_to_end(&mut v)
            .map_err(|e| Fault {
                offset: start,
                kind: FaultKind::Io(e),
            })?;
        self.adler.update(&v);
        self.offset += got as u64;
        if got != n {
            return Err(self.fault(start, FaultKind::Truncated(what)));
        }
        Ok(Some(v))
    }

    /// `readString` where null is not acceptable (paths, ACL ids).
    pub(super) fn string(&mut self, what: &'static str) -> ReadResult<String> {
        let start = self.offset;
        match self.buffer(what)? {
            Some(b) => Ok(String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
            None => Err(self.fault(start, FaultKind::Invalid(format!("null {what}")))),
        }
    }
}

/// Writes Jute primitives, checksumming them. Bytes gather in one block that is summed and
/// handed on whole: a block at least as large as the caller's `BufWriter` passes through it
/// without another copy.
pub(super) struct CheckedWriter<W: Write> {
    inner: W,
    adler: Adler32,
    block: Vec<u8>,
}

/// Bytes a [`CheckedWriter`] gathers before summing and writing them.
const WRITE_BLOCK: usize = 1 << 20;

impl<W: Write> CheckedWriter<W> {
    pub(super) fn new(inner: W) -> Self {
        CheckedWriter {
            inner,
            adler: Adler32::new(),
            block: Vec::with_capacity(WRITE_BLOCK + 4096),
        }
    }

    /// Everything written so far handed on, and the inner writer back.
    pub(super) fn into_inner(mut self) -> io::Result<W> {
        self.flush_block()?;
        Ok(self.inner)
    }

    fn flush_block(&mut self) -> io::Result<()> {
        self.adler.write(&self.block);
        let r = self.inner.write_all(&self.block);
        self.block.clear();
        r
    }

    pub(super) fn checksum(&self) -> i64 {
        let mut a = self.adler.clone();
        a.write(&self.block);
        i64::from(a.finish())
    }

    pub(super) fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.append(|block| {
            block.extend_from_slice(b);
            Ok(())
        })
    }

    /// Lets `f` encode straight into the pending block.
    pub(super) fn append(
        &mut self,
        f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        f(&mut self.block)?;
        if self.block.len() >= WRITE_BLOCK {
            self.flush_block()?;
        }
        Ok(())
    }

    pub(super) fn i32(&mut self, v: i32) -> io::Result<()> {
        self.raw(&v.to_be_bytes())
    }

    pub(super) fn i64(&mut self, v: i64) -> io::Result<()> {
        self.raw(&v.to_be_bytes())
    }

    /// `writeBuffer` / `writeString`: null as length -1.
    pub(super) fn buffer(&mut self, b: Option<&[u8]>) -> io::Result<()> {
        match b {
            None => self.i32(-1),
            Some(b) => {
                let len = i32::try_from(b.len()).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "item longer than 2 GiB")
                })?;
                self.i32(len)?;
                self.raw(b)
            }
        }
    }

    pub(super) fn string(&mut self, s: &str) -> io::Result<()> {
        self.buffer(Some(s.as_bytes()))
    }

    /// `SnapStream#sealStream`: the checksum so far, then the path "/".
    pub(super) fn seal(&mut self) -> io::Result<()> {
        let sum = self.checksum();
        self.i64(sum)?;
        self.string("/")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_matches_java_adler32() {
        // java.util.zip.Adler32 over "ZKSN" = 0x03410147.
        let mut w = CheckedWriter::new(Vec::new());
        w.raw(b"ZKSN").unwrap();
        assert_eq!(w.checksum(), 0x0341_0147);
        w.seal().unwrap();
        let v = w.into_inner().unwrap();
        assert_eq!(&v[4..12], &0x0341_0147_i64.to_be_bytes());
        assert_eq!(&v[12..], &[0, 0, 0, 1, b'/']);
    }

    #[test]
    fn block_checksum_equals_one_pass_over_the_stream() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i ^ (i >> 5)) as u8).collect();
        let mut w = CheckedWriter::new(Vec::new());
        let mut at = 0;
        for (i, step) in [4usize, 8, 1, 70_000, 3, 130_000]
            .iter()
            .cycle()
            .enumerate()
        {
            let end = (at + step).min(bytes.len());
            w.raw(&bytes[at..end]).unwrap();
            at = end;
            if i % 5 == 0 {
                let sum = i64::from(adler2::adler32_slice(&bytes[..at]));
                assert_eq!(w.checksum(), sum);
            }
            if at == bytes.len() {
                break;
            }
        }
        assert_eq!(w.checksum(), i64::from(adler2::adler32_slice(&bytes)));
        let mut r = CheckedReader::new(&bytes[..], DEFAULT_MAX_ITEM);
        while r.i64_or_eof("x").unwrap().is_some() {}
        assert_eq!(r.checksum(), i64::from(adler2::adler32_slice(&bytes)));
    }

    #[test]
    fn reader_reports_offsets_and_caps_lengths() {
        let bytes = [0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 1];
        let mut r = CheckedReader::new(&bytes[..], DEFAULT_MAX_ITEM);
        assert_eq!(r.i32("count").unwrap(), 1);
        let f = r.buffer("data").unwrap_err();
        assert_eq!(f.offset, 4);
        assert!(matches!(f.kind, FaultKind::BadLength { .. }));

        let bytes = [0, 0, 0, 9, 1, 2];
        let mut r = CheckedReader::new(&bytes[..], DEFAULT_MAX_ITEM);
        let f = r.buffer("data").unwrap_err();
        assert_eq!(f.offset, 0);
        assert!(matches!(f.kind, FaultKind::Truncated("data")));

        let mut r = CheckedReader::new(&[1u8, 2, 3][..], 10);
        assert!(r.i64_or_eof("zxid").is_err());
        let mut r = CheckedReader::new(&[][..], 10);
        assert_eq!(r.i64_or_eof("zxid").unwrap(), None);
    }
}

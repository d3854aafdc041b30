//! The snappy-java (xerial) stream format that `SnapStream` uses through
//! `org.xerial.snappy.SnappyOutputStream` / `SnappyInputStream` — not the standard snappy
//! framing format.
//!
//! Layout: an 16-byte header (magic `\x82SNAPPY\0`, int version 1, int compatible version 1,
//! big-endian), then chunks of (int compressed length, raw snappy block). The writer cuts
//! the input into 32 KiB blocks like `SnappyOutputStream`'s default. The reader accepts
//! concatenated streams (a chunk length equal to the magic's first four bytes starts a new
//! header) and, like `SnappyInputStream#hasNextChunk`, ends quietly when fewer than four
//! bytes are left.

use std::io::{self, Read, Write};

/// `SnappyCodec.MAGIC_HEADER`.
pub(super) const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const HEADER_LEN: usize = 16;
const VERSION: i32 = 1;
/// `SnappyOutputStream.DEFAULT_BLOCK_SIZE`.
const BLOCK_SIZE: usize = 32 * 1024;
/// Largest block we agree to inflate; snappy-java writers use 32 KiB unless told otherwise.
const MAX_BLOCK: usize = 64 * 1024 * 1024;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

pub(super) struct XerialWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    encoder: snap::raw::Encoder,
    header_written: bool,
}

impl<W: Write> XerialWriter<W> {
    pub(super) fn new(inner: W) -> Self {
        XerialWriter {
            inner,
            pending: Vec::with_capacity(BLOCK_SIZE),
            encoder: snap::raw::Encoder::new(),
            header_written: false,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            let mut h = [0u8; HEADER_LEN];
            h[..8].copy_from_slice(&MAGIC);
            h[8..12].copy_from_slice(&VERSION.to_be_bytes());
            h[12..16].copy_from_slice(&VERSION.to_be_bytes());
            self.inner.write_all(&h)?;
            self.header_written = true;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        self.write_header()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let block = self
            .encoder
            .compress_vec(&self.pending)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let len = i32::try_from(block.len()).map_err(|_| invalid("block too large".into()))?;
        self.inner.write_all(&len.to_be_bytes())?;
        self.inner.write_all(&block)?;
        self.pending.clear();
        Ok(())
    }

    /// Writes what is buffered (and the header, even for an empty stream).
    pub(super) fn finish(mut self) -> io::Result<W> {
        self.flush_block()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for XerialWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK_SIZE - self.pending.len();
        let n = buf.len().min(room);
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == BLOCK_SIZE {
            self.flush_block()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_block()?;
        self.inner.flush()
    }
}

pub(super) struct XerialReader<R: Read> {
    inner: R,
    block: Vec<u8>,
    pos: usize,
    started: bool,
    done: bool,
    decoder: snap::raw::Decoder,
}

impl<R: Read> XerialReader<R> {
    pub(super) fn new(inner: R) -> Self {
        XerialReader {
            inner,
            block: Vec::new(),
            pos: 0,
            started: false,
            done: false,
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// Reads up to `buf.len()` bytes; fewer only at end of input.
    fn read_upto(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// The rest of a header whose first four bytes were `head`.
    fn header_rest(&mut self, head: [u8; 4]) -> io::Result<()> {
        let mut rest = [0u8; HEADER_LEN - 4];
        if self.read_upto(&mut rest)? != rest.len() || head != MAGIC[..4] || rest[..4] != MAGIC[4..]
        {
            return Err(invalid(
                "not a snappy-java stream (bad magic header)".into(),
            ));
        }
        let compatible = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if compatible > VERSION {
            return Err(invalid(format!(
                "snappy-java stream needs format version {compatible}"
            )));
        }
        Ok(())
    }

    /// Loads the next block; false at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        loop {
            if self.done {
                return Ok(false);
            }
            let mut head = [0u8; 4];
            if self.read_upto(&mut head)? < 4 {
                if !self.started {
                    return Err(invalid("empty snappy-java stream".into()));
                }
                self.done = true;
                return Ok(false);
            }
            if !self.started || head == MAGIC[..4] {
                self.header_rest(head)?;
                self.started = true;
                continue;
            }
            let len = i32::from_be_bytes(head);
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l <= MAX_BLOCK)
                .ok_or_else(|| invalid(format!("bad snappy-java chunk length {len}")))?;
            let mut compressed = Vec::new();
            (&mut self.inner)
                .take(len as u64)
                .read_to_end(&mut compressed)?;
            if compressed.len() != len {
                return Err(invalid("snappy-java chunk cut short".into()));
            }
            let out_len = snap::raw::decompress_len(&compressed)
                .map_err(|e| invalid(format!("damaged snappy block: {e}")))?;
            if out_len > MAX_BLOCK {
                return Err(invalid(format!("snappy block of {out_len} bytes")));
            }
            self.block.resize(out_len, 0);
            self.decoder
                .decompress(&compressed, &mut self.block)
                .map_err(|e| invalid(format!("damaged snappy block: {e}")))?;
            self.pos = 0;
            if out_len > 0 {
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for XerialReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.block.len() && !self.next_block()? {
            return Ok(0);
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_across_blocks_and_concatenation() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = XerialWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let mut bytes = w.finish().unwrap();
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let mut w = XerialWriter::new(Vec::new());
        w.write_all(b"tail").unwrap();
        bytes.extend(w.finish().unwrap());
        let mut out = Vec::new();
        XerialReader::new(&bytes[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), data.len() + 4);
        assert_eq!(&out[..data.len()], &data[..]);
        assert_eq!(&out[data.len()..], b"tail");
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let mut w = XerialWriter::new(Vec::new());
        w.write_all(&[7u8; 5000]).unwrap();
        let bytes = w.finish().unwrap();
        for cut in 0..bytes.len() {
            let mut out = Vec::new();
            let _ = XerialReader::new(&bytes[..cut]).read_to_end(&mut out);
        }
        let mut bad = bytes.clone();
        bad[0] = 0;
        assert!(XerialReader::new(&bad[..])
            .read_to_end(&mut Vec::new())
            .is_err());
        let mut bad = bytes;
        bad[16..20].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(XerialReader::new(&bad[..])
            .read_to_end(&mut Vec::new())
            .is_err());
    }
}
